//! The definitions view and its form: lists and details, schedules and
//! webhooks, the form's inline refusals, editing, and deleting with y/n.

use super::*;

#[test]
fn definitions_view_lists_and_details() {
    let mut app = loaded_app();
    app.handle_key(key(KeyCode::Char('2')));
    assert_eq!(app.tab, Tab::Definitions);
    app.handle_key(key(KeyCode::Down));
    let s = screen(&app, 80, 24);
    has(&s, "Definitions (2)");
    has(&s, "nightly");
    has(&s, "release");
    has(&s, "Build → Deploy");
    has(&s, "env=prod");
    has(&s, "1h ago");
    has(&s, "n new");
}

#[test]
fn definitions_view_empty_long_names_and_narrow() {
    let mut app = app();
    app.tab = Tab::Definitions;
    app.apply(Loaded::Definitions(Ok(vec![])));
    has(
        &screen(&app, 80, 24),
        "No definitions yet: press n to create one.",
    );

    app.apply(Loaded::Definitions(Ok(vec![definition(LONG, &["Build"])])));
    for (w, h) in [(60, 20), (80, 24)] {
        let s = screen(&app, w, h);
        has(&s, "an-extremely-long");
        has(&s, "…");
        lacks(&s, LONG);
    }
}

/// `release` with a cron schedule in Paris, an interval, a past one-off, a
/// disabled interval and a webhook.
fn scheduled_definition() -> Definition {
    let mut d = definition("release", &["Build", "Deploy"]);
    let mut nightly = Schedule::new(
        "nightly",
        When::Cron {
            expr: "0 2 * * *".into(),
            tz: "Europe/Paris".into(),
        },
    );
    nightly.missed = Missed::RunOnce;
    let mut paused = Schedule::new("paused", When::Interval { every_secs: 60 });
    paused.enabled = false;
    d.schedules = vec![
        nightly,
        Schedule::new("often", When::Interval { every_secs: 300 }),
        Schedule::new(
            "launch",
            When::Once {
                at: t0() - Duration::days(1),
            },
        ),
        paused,
    ];
    d.webhook = Some(Webhook {
        id: "release-hook-1".into(),
        secret: "super-secret-do-not-show-1234".into(),
    });
    d
}

#[test]
fn definitions_view_shows_schedules_with_next_due_time_and_webhook_id() {
    let mut app = app();
    app.tab = Tab::Definitions;
    app.apply(Loaded::Definitions(Ok(vec![scheduled_definition()])));
    for (w, h) in [(80, 24), (60, 20)] {
        let s = screen(&app, w, h);
        has(&s, "Schedule nightly: cron '0 2 * * *' (Europe/Paris)");
        has(&s, "release-hook-1");
        lacks(&s, "super-secret");
        has(&s, "Build → Deploy");
    }
    let s = screen(&app, 80, 24);
    // t0 is 2025-03-01 12:00 UTC; 02:00 in Paris (UTC+1 in March) is 01:00 UTC.
    has(&s, "missed: run once; next");
    has(&s, "2025-03-02 01:00:00 UTC");
    has(
        &s,
        "Schedule often: every 300s; next 2025-03-01 12:05:00 UTC",
    );
    has(
        &s,
        "Schedule launch: once at 2025-02-28T12:00:00+00:00; no more due",
    );
    has(&s, "Schedule paused: every 60s; disabled");
    has(&s, "Webhook: POST /hooks/release-hook-1");
    has(&s, "1h ago");
    has(&s, "release");

    // Without schedules the detail says so.
    app.apply(Loaded::Definitions(Ok(vec![definition(
        "plain",
        &["Build"],
    )])));
    let s = screen(&app, 80, 24);
    has(&s, "Schedules: none");
    lacks(&s, "Webhook");
}

#[test]
fn form_refuses_a_bad_schedule_inline_and_saves_a_good_one() {
    let mut app = loaded_app();
    app.tab = Tab::Definitions;
    app.handle_key(key(KeyCode::Char('n')));
    type_text(&mut app, "timed");
    app.handle_key(key(KeyCode::Tab));
    app.handle_key(key(KeyCode::Tab));
    app.handle_key(key(KeyCode::Char('a')));
    app.handle_key(key(KeyCode::Enter));
    app.handle_key(key(KeyCode::Esc));
    // Steps -> variables -> schedules.
    app.handle_key(key(KeyCode::Tab));
    app.handle_key(key(KeyCode::Tab));
    let s = screen(&app, 80, 24);
    has(&s, "▸ Schedules:");
    has(&s, "ID=every:SECS");
    type_text(&mut app, "often=every:300");
    app.handle_key(key(KeyCode::Enter));
    type_text(&mut app, "nightly=every:soon");
    assert_eq!(app.handle_key(ctrl('s')), Action::None);
    let s = screen(&app, 80, 24);
    has(
        &s,
        "schedules line 2: 'nightly=every:soon': every takes whole seconds",
    );
    has(&s, "New definition");
    assert!(matches!(app.modal, Some(Modal::Form(_))));

    // A cron expression that cannot be due is refused the same way.
    for _ in 0.."every:soon".len() {
        app.handle_key(key(KeyCode::Backspace));
    }
    type_text(&mut app, "cron:0 25 * * *@Europe/Paris");
    assert_eq!(app.handle_key(ctrl('s')), Action::None);
    let s = screen(&app, 80, 24);
    has(&s, "schedules line 2");
    has(&s, "New definition");
    // So is an unknown time zone.
    for _ in 0.."0 25 * * *@Europe/Paris".len() {
        app.handle_key(key(KeyCode::Backspace));
    }
    type_text(&mut app, "0 2 * * *@Mars/Olympus");
    assert_eq!(app.handle_key(ctrl('s')), Action::None);
    has(
        &screen(&app, 80, 24),
        "schedules line 2: schedule 'nightly': unknown time zone 'Mars/Olympus'",
    );

    for _ in 0.."Mars/Olympus".len() {
        app.handle_key(key(KeyCode::Backspace));
    }
    type_text(&mut app, "Europe/Paris;missed=run-once");
    let Action::SaveDefinition { definition, create } = app.handle_key(ctrl('s')) else {
        panic!("expected a save");
    };
    assert!(create);
    assert_eq!(definition.name, "timed");
    assert_eq!(definition.webhook, None);
    let mut nightly = Schedule::new(
        "nightly",
        When::Cron {
            expr: "0 2 * * *".into(),
            tz: "Europe/Paris".into(),
        },
    );
    nightly.missed = Missed::RunOnce;
    assert_eq!(
        definition.schedules,
        vec![
            Schedule::new("often", When::Interval { every_secs: 300 }),
            nightly
        ]
    );
}

#[test]
fn editing_prefills_schedules_and_keeps_the_webhook() {
    let original = scheduled_definition();
    let mut app = loaded_app();
    app.tab = Tab::Definitions;
    app.apply(Loaded::Definitions(Ok(vec![original.clone()])));
    app.handle_key(key(KeyCode::Char('e')));
    let s = screen(&app, 80, 24);
    has(&s, "Edit definition 'release'");
    has(&s, "nightly=cron:0 2 * * *@Europe/Paris;missed=run-once");
    lacks(&s, "super-secret");
    // Saved untouched: the same schedules and webhook.
    let Action::SaveDefinition { definition, create } = app.handle_key(ctrl('s')) else {
        panic!("expected a save");
    };
    assert!(!create);
    assert_eq!(definition.schedules, original.schedules);
    assert_eq!(definition.webhook, original.webhook);
    app.apply_outcome(Outcome::Saved {
        name: "release".into(),
        create: false,
        result: Ok(()),
    });

    // Drop every schedule but one and add another: the webhook stays.
    app.handle_key(key(KeyCode::Char('e')));
    app.handle_key(key(KeyCode::BackTab));
    app.handle_key(key(KeyCode::BackTab));
    app.handle_key(ctrl('u'));
    type_text(&mut app, "hourly=cron:0 * * * *");
    app.handle_key(key(KeyCode::Enter));
    type_text(&mut app, "once=at:2026-12-01T10:00:00Z");
    let Action::SaveDefinition { definition, .. } = app.handle_key(ctrl('s')) else {
        panic!("expected a save");
    };
    assert_eq!(definition.webhook, original.webhook);
    assert_eq!(definition.steps, original.steps);
    assert_eq!(definition.variables, original.variables);
    assert_eq!(
        definition.schedules,
        vec![
            Schedule::new(
                "hourly",
                When::Cron {
                    expr: "0 * * * *".into(),
                    tz: "UTC".into()
                }
            ),
            Schedule::new(
                "once",
                When::Once {
                    at: Utc
                        .with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
                        .single()
                        .expect("valid time")
                }
            ),
        ]
    );
}

#[test]
fn create_definition_form_flow_builds_the_definition() {
    let mut app = loaded_app();
    app.tab = Tab::Definitions;
    app.handle_key(key(KeyCode::Char('n')));
    type_text(&mut app, "deploy-all");
    app.handle_key(key(KeyCode::Tab));
    type_text(&mut app, "everything, everywhere");
    app.handle_key(key(KeyCode::Tab));
    // Pick Deploy (second event), then Build (first), then an extra Orphan
    // (the picker stays open), close it, remove Orphan, then move Build up.
    app.handle_key(key(KeyCode::Char('a')));
    let s = screen(&app, 80, 24);
    has(&s, "Pick events");
    has(&s, "Build - compile the sources");
    app.handle_key(key(KeyCode::Down));
    app.handle_key(key(KeyCode::Enter));
    app.handle_key(key(KeyCode::Up));
    app.handle_key(key(KeyCode::Enter));
    app.handle_key(key(KeyCode::End));
    app.handle_key(key(KeyCode::Enter));
    has(&screen(&app, 80, 24), "added: Deploy, Build, Orphan");
    app.handle_key(key(KeyCode::Esc));
    app.handle_key(key(KeyCode::Char('x')));
    app.handle_key(key(KeyCode::Char('K')));
    app.handle_key(key(KeyCode::Tab));
    type_text(&mut app, "env=prod");
    app.handle_key(key(KeyCode::Enter));
    type_text(&mut app, "replicas=3");
    let s = screen(&app, 80, 24);
    has(&s, "New definition");
    has(&s, "deploy-all");
    has(&s, "1. Build");
    has(&s, "2. Deploy");
    has(&s, "replicas=3");
    has(&s, "Ctrl-S save");

    let action = app.handle_key(ctrl('s'));
    let Action::SaveDefinition { definition, create } = action else {
        panic!("expected a save, got {action:?}");
    };
    assert!(create);
    assert_eq!(definition.name, "deploy-all");
    assert_eq!(definition.description, "everything, everywhere");
    assert_eq!(definition.steps, vec!["Build", "Deploy"]);
    assert_eq!(definition.variables["env"], json!("prod"));
    assert_eq!(definition.variables["replicas"], json!(3));
    has(&screen(&app, 80, 24), "saving");

    // The Operator refuses it: the message shows in the form, which stays open.
    app.apply_outcome(Outcome::Saved {
        name: "deploy-all".into(),
        create: true,
        result: Err("invalid definition: definition 'deploy-all' already exists".into()),
    });
    let s = screen(&app, 80, 24);
    has(&s, "already exists");
    has(&s, "New definition");
    // Fixed and saved: the form closes with a status.
    app.handle_key(key(KeyCode::BackTab));
    app.handle_key(key(KeyCode::BackTab));
    app.handle_key(key(KeyCode::BackTab));
    type_text(&mut app, "-2");
    let Action::SaveDefinition { definition, .. } = app.handle_key(ctrl('s')) else {
        panic!("expected a save");
    };
    assert_eq!(definition.name, "deploy-all-2");
    app.apply_outcome(Outcome::Saved {
        name: "deploy-all-2".into(),
        create: true,
        result: Ok(()),
    });
    assert!(app.modal.is_none());
    has(&screen(&app, 80, 24), "created definition 'deploy-all-2'");
}

#[test]
fn form_refuses_bad_variables_inline_and_edit_keeps_the_name() {
    let mut app = loaded_app();
    app.tab = Tab::Definitions;
    app.handle_key(key(KeyCode::Down));
    app.handle_key(key(KeyCode::Char('e')));
    let s = screen(&app, 80, 24);
    has(&s, "Edit definition 'release'");
    has(&s, "(fixed)");
    has(&s, "env=prod");
    // Description has the focus; the name cannot be typed into.
    app.handle_key(key(KeyCode::BackTab));
    type_text(&mut app, "zzz");
    app.handle_key(key(KeyCode::BackTab));
    app.handle_key(key(KeyCode::BackTab));
    app.handle_key(key(KeyCode::Enter));
    type_text(&mut app, "not a pair");
    assert_eq!(app.handle_key(ctrl('s')), Action::None);
    let s = screen(&app, 80, 24);
    has(&s, "variables line 2: 'not a pair' is not KEY=VALUE");
    for _ in 0.."not a pair".len() + 1 {
        app.handle_key(key(KeyCode::Backspace));
    }
    let Action::SaveDefinition { definition, create } = app.handle_key(ctrl('s')) else {
        panic!("expected a save");
    };
    assert!(!create);
    assert_eq!(definition.name, "release");
    assert_eq!(definition.steps, vec!["Build", "Deploy"]);
    assert_eq!(definition.variables.len(), 1);

    // Esc closes the form without an action.
    let mut app = loaded_app();
    app.tab = Tab::Definitions;
    app.handle_key(key(KeyCode::Char('n')));
    assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::Refresh);
    assert!(app.modal.is_none());
}

#[test]
fn form_in_narrow_terminal_with_long_names() {
    let mut app = loaded_app();
    app.tab = Tab::Definitions;
    app.handle_key(key(KeyCode::Char('n')));
    type_text(&mut app, LONG);
    for (w, h) in [(60, 20), (80, 24), (40, 10)] {
        let s = screen(&app, w, h);
        has(&s, "…");
        lacks(&s, LONG);
        has(&s, "column-terminal█");
    }
}

#[test]
fn delete_definition_asks_y_n() {
    let mut app = loaded_app();
    app.tab = Tab::Definitions;
    assert_eq!(app.handle_key(key(KeyCode::Char('d'))), Action::None);
    let s = screen(&app, 80, 24);
    has(&s, "Delete definition 'nightly'? Its runs are kept.");
    // Other keys keep the dialog open.
    assert_eq!(app.handle_key(key(KeyCode::Char('x'))), Action::None);
    assert!(matches!(app.modal, Some(Modal::Confirm(_))));
    assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::None);
    assert!(app.modal.is_none());
    app.handle_key(key(KeyCode::Char('d')));
    assert_eq!(
        app.handle_key(key(KeyCode::Char('y'))),
        Action::DeleteDefinition("nightly".into())
    );
}
