//! Screen tests for the terminal UI: every view drawn with ratatui's
//! `TestBackend` from an [`App`] built directly from model values (no store),
//! with data, empty, with long names, in narrow terminals and with errors; plus
//! key sequences through [`App::handle_key`] (the definition form, the start
//! prompt and the confirmation dialogs).

#[path = "support/tui_app.rs"]
mod tui_app;

use chrono::{Duration, TimeZone, Utc};
use controlcenter::ops::{ErrorQueueView, FaultView};
use controlcenter::tui::app::RunsLoaded;
use controlcenter::tui::app::{Modal, Outcome, StatusKind};
use controlcenter::tui::{Action, App, Loaded, Tab};
use isoqube::schedule::{Missed, Schedule, Webhook, When};
use isoqube::{
    model::CorruptRun, model::StuckReason, model::StuckStep, Definition, RunStatus, Variables,
};
use ratatui::crossterm::event::KeyCode;
use serde_json::json;
use tui_app::*;

// ------------------------------------------------------------------ services

#[test]
fn services_view_lists_events_consumers_and_instances() {
    let app = loaded_app();
    for (w, h) in [(80, 24), (120, 30)] {
        let s = screen(&app, w, h);
        has(&s, "Services & events");
        has(&s, "Build");
        has(&s, "Deploy");
        has(&s, "Sample:Build");
        has(&s, "linux-build [linux-pool]");
        has(&s, "(no consumer)");
        has(&s, "compile the sources");
        has(&s, "win-build (windows-pool)");
        has(&s, "linux-pool");
        has(&s, "4242");
        has(&s, "alive");
        has(&s, "gone");
        has(&s, "10m");
        has(&s, "1 alive, 1 gone");
        has(&s, "q quit");
    }
}

#[test]
fn services_view_empty_and_error() {
    let mut app = app();
    let s = screen(&app, 80, 24);
    has(&s, "Loading…");
    app.apply(Loaded::Events(Ok(vec![])));
    app.apply(Loaded::Services(Err(
        "store unreachable: connection refused".into(),
    )));
    let s = screen(&app, 80, 24);
    has(&s, "No events recorded yet");
    has(&s, "could not load: store unreachable");
}

#[test]
fn services_view_selection_moves_description() {
    let mut app = loaded_app();
    app.handle_key(key(KeyCode::Down));
    let s = screen(&app, 80, 24);
    has(&s, "Deploy: ship to production");
}

// ------------------------------------------------------------------ definitions

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

// ------------------------------------------------------------------ runs

#[test]
fn runs_view_newest_first_with_progress_and_age() {
    let mut app = loaded_app();
    app.handle_key(key(KeyCode::Char('3')));
    let s = screen(&app, 80, 24);
    has(&s, "Runs (3, newest first; filter: all)");
    has(&s, "Running");
    has(&s, "Failed");
    has(&s, "Succeeded");
    has(&s, "1/2");
    has(&s, "2/2");
    has(&s, "5m");
    has(&s, &app.runs.items[0].id.simple().to_string()[..8]);
}

#[test]
fn runs_view_marks_stuck_runs_and_counts_skipped_records() {
    let mut app = loaded_app();
    app.tab = Tab::Runs;
    let runs = app.runs.items.clone();
    let stuck = StuckStep {
        run_id: runs[0].id,
        step: 1,
        event: "Deploy".into(),
        endpoint: Some("deploy".into()),
        instance: Some("deployment@gone:9:ab".into()),
        since: t0() - Duration::minutes(12),
        reason: StuckReason::HandlerGone,
    };
    app.apply(Loaded::Runs {
        filter: None,
        result: Ok(RunsLoaded {
            runs: runs.clone(),
            stuck: vec![stuck],
            corrupt: vec![CorruptRun {
                id: "0bad".into(),
                reason: "does not parse".into(),
            }],
        }),
    });
    for (w, h) in [(80, 24), (120, 30)] {
        let s = screen(&app, w, h);
        has(&s, "1 STUCK; 1 corrupt skipped");
        let row = s
            .lines()
            .find(|l| l.contains(&runs[0].id.simple().to_string()[..8]))
            .expect("the stuck run's row");
        assert!(row.contains("STUCK") && !row.contains("Running"), "{row}");
        has(&s, "Failed");
    }
    // A load without them clears the marks.
    app.apply(Loaded::Runs {
        filter: None,
        result: Ok(runs.into()),
    });
    let s = screen(&app, 80, 24);
    lacks(&s, "STUCK");
    lacks(&s, "corrupt");
    has(&s, "Running");
}

#[test]
fn runs_filter_cycles_and_shows_empty_state() {
    let mut app = loaded_app();
    app.tab = Tab::Runs;
    assert_eq!(app.handle_key(key(KeyCode::Char('f'))), Action::Refresh);
    assert_eq!(app.run_filter, Some(RunStatus::Pending));
    // A load for another filter is ignored.
    app.apply(Loaded::Runs {
        filter: None,
        result: Ok(loaded_app().runs.items.into()),
    });
    has(&screen(&app, 80, 24), "Loading…");
    app.apply(Loaded::Runs {
        filter: Some(RunStatus::Pending),
        result: Ok(Vec::new().into()),
    });
    let s = screen(&app, 80, 24);
    has(&s, "filter: Pending");
    has(&s, "No Pending runs");
    // Every status, the compensation ones too, then all again.
    for expected in [
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::Compensating,
        RunStatus::Compensated,
        RunStatus::CompensationFailed,
    ] {
        app.handle_key(key(KeyCode::Char('f')));
        assert_eq!(app.run_filter, Some(expected));
    }
    app.handle_key(key(KeyCode::Char('f')));
    assert_eq!(app.run_filter, None);
}

#[test]
fn runs_view_error_and_long_definition_in_narrow_terminal() {
    let mut app = app();
    app.tab = Tab::Runs;
    let def = definition(LONG, &["Build"]);
    app.apply(Loaded::Runs {
        filter: None,
        result: Ok(vec![run_of(&def, RunStatus::Pending, 0)].into()),
    });
    app.apply(Loaded::Runs {
        filter: None,
        result: Err("database went away".into()),
    });
    let s = screen(&app, 60, 20);
    has(&s, "could not load: database went away");
    has(&s, "Pending");
    has(&s, "an-extremely");
    lacks(&s, LONG);
}

#[test]
fn run_detail_shows_steps_errors_and_logs() {
    let mut app = loaded_app();
    app.tab = Tab::Runs;
    app.handle_key(key(KeyCode::Down));
    assert_eq!(app.handle_key(key(KeyCode::Enter)), Action::Refresh);
    let run = app.runs.items[1].clone();
    assert_eq!(app.detail.as_ref().map(|d| d.id), Some(run.id));
    has(&screen(&app, 80, 24), "Loading…");
    app.apply(Loaded::Detail {
        id: run.id,
        run: Ok(Box::new(run.clone())),
        logs: Ok(vec![
            log(&run, 0, "compiling 42 crates"),
            log(&run, 1, "boom"),
        ]),
        skip: 0,
    });
    for (w, h) in [(80, 24), (60, 20), (120, 40)] {
        let s = screen(&app, w, h);
        has(&s, "Failed");
        has(&s, "Build");
        has(&s, "Deploy");
        has(&s, "Succeeded");
        has(&s, "11:55:03");
        has(&s, "3.0s");
        has(&s, "compiler exploded");
        has(&s, "compiling 42 crates");
        has(&s, "Logs (2; following)");
    }
    let s = screen(&app, 120, 40);
    has(&s, "ep-0@build-host-1");
    has(&s, "Att");

    // New log lines are appended; a stale load is ignored.
    app.apply(Loaded::Detail {
        id: run.id,
        run: Ok(Box::new(run.clone())),
        logs: Ok(vec![log(&run, 1, "retrying")]),
        skip: 2,
    });
    app.apply(Loaded::Detail {
        id: run.id,
        run: Ok(Box::new(run.clone())),
        logs: Ok(vec![log(&run, 1, "stale")]),
        skip: 0,
    });
    let s = screen(&app, 80, 24);
    has(&s, "retrying");
    lacks(&s, "stale");

    // A refresh error is shown; the last state stays.
    app.apply(Loaded::Detail {
        id: run.id,
        run: Err("store timed out".into()),
        logs: Ok(vec![]),
        skip: 3,
    });
    let s = screen(&app, 80, 24);
    has(&s, "could not refresh: store timed out");
    has(&s, "compiling 42 crates");

    assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::Refresh);
    assert!(app.detail.is_none());
}

// ------------------------------------------------------------------ errors

#[test]
fn error_queue_view_lists_faults_and_empty_states() {
    let mut app = loaded_app();
    app.handle_key(key(KeyCode::Char('4')));
    let s = screen(&app, 80, 24);
    has(&s, "Error queues (2 endpoints, 2 messages)");
    has(&s, "linux-build");
    has(&s, "msg-0001");
    has(&s, "compiler exploded");
    has(&s, "01234567");
    has(&s, "#2 Build");
    has(&s, "ConsumerError");
    has(&s, "r requeue");
    has(&s, "Per endpoint: linux-build 2, deploy 0");

    app.apply(Loaded::Errors(Ok(vec![ErrorQueueView {
        endpoint: "deploy".into(),
        count: 0,
        messages: vec![],
    }])));
    has(&screen(&app, 80, 24), "Every error queue is empty.");
    app.apply(Loaded::Errors(Ok(vec![])));
    has(&screen(&app, 80, 24), "No error queues");
    app.apply(Loaded::Errors(Err(
        "no broker configured: pass --amqp-url".into()
    )));
    has(
        &screen(&app, 80, 24),
        "could not load: no broker configured",
    );
}

#[test]
fn requeue_and_discard_ask_first() {
    let mut app = loaded_app();
    app.tab = Tab::Errors;
    app.handle_key(key(KeyCode::Down));
    assert_eq!(app.handle_key(key(KeyCode::Char('d'))), Action::None);
    let s = screen(&app, 80, 24);
    has(&s, "Discard message msg-0002");
    has(&s, "y yes");
    assert_eq!(app.handle_key(key(KeyCode::Char('n'))), Action::None);
    assert!(app.modal.is_none());
    app.handle_key(key(KeyCode::Char('r')));
    assert_eq!(
        app.handle_key(key(KeyCode::Char('y'))),
        Action::Requeue {
            endpoint: "linux-build".into(),
            message_id: "msg-0002".into()
        }
    );
    has(&screen(&app, 80, 24), "requeuing msg-0002");
}

// ------------------------------------------------------------------ general

#[test]
fn help_view_and_tiny_terminals() {
    let mut app = loaded_app();
    app.tab = Tab::Runs;
    app.handle_key(key(KeyCode::Char('?')));
    assert_eq!(app.tab, Tab::Help);
    let s = screen(&app, 80, 24);
    has(&s, "Help");
    has(&s, "q / Ctrl-C");
    // The help scrolls to its last lines at 80x24.
    for _ in 0..14 {
        app.handle_key(key(KeyCode::Down));
    }
    let s = screen(&app, 80, 24);
    has(&s, "re-run: a new run with the same variables");
    has(
        &s,
        "C                cancel and compensate: undo the steps it did",
    );
    has(&s, "discard every shown");
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(app.tab, Tab::Runs);

    for (w, h) in [(39, 24), (80, 9), (10, 3), (1, 1), (0, 0)] {
        let s = screen(&app, w, h);
        if w >= 20 && h >= 2 {
            has(&s, "terminal too small");
        }
    }
    // Just above the limit everything still draws.
    for tab in ['1', '2', '3', '4', '?'] {
        app.handle_key(key(KeyCode::Char(tab)));
        let s = screen(&app, 40, 10);
        lacks(&s, "terminal too small");
    }
}

#[test]
fn status_line_shows_errors_and_results() {
    let mut app = loaded_app();
    app.apply_outcome(Outcome::Done {
        result: Err("cannot start 'release': no broker configured: pass --amqp-url".into()),
        open_run: None,
    });
    assert_eq!(app.status.as_ref().map(|s| s.kind), Some(StatusKind::Error));
    let s = screen(&app, 80, 24);
    has(&s, "error: cannot start 'release': no broker configured");
    let s = screen(&app, 60, 20);
    has(&s, "error: cannot start");
    has(&s, "…");

    let id = uuid::Uuid::new_v4();
    app.apply_outcome(Outcome::Done {
        result: Ok("started run 12345678 of 'release'".into()),
        open_run: Some(id),
    });
    assert_eq!(app.tab, Tab::Runs);
    assert_eq!(app.detail.as_ref().map(|d| d.id), Some(id));
    has(&screen(&app, 80, 24), "started run 12345678");
}

#[test]
fn q_and_ctrl_c_quit_but_not_inside_a_form() {
    let mut app = loaded_app();
    app.tab = Tab::Definitions;
    app.handle_key(key(KeyCode::Char('n')));
    assert_eq!(app.handle_key(key(KeyCode::Char('q'))), Action::None);
    assert!(!app.quit);
    assert_eq!(app.handle_key(ctrl('c')), Action::Quit);
    assert!(app.quit);
    let mut app = loaded_app();
    assert_eq!(app.handle_key(key(KeyCode::Char('q'))), Action::Quit);
}

// ------------------------------------------------------------------ flows

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

#[test]
fn start_prompt_parses_variables_and_shows_mistakes() {
    let mut app = loaded_app();
    app.tab = Tab::Definitions;
    app.handle_key(key(KeyCode::Down));
    app.handle_key(key(KeyCode::Char('s')));
    let s = screen(&app, 80, 24);
    has(&s, "Start a run of 'release'");
    has(&s, "defaults: env=prod");
    type_text(&mut app, "oops");
    assert_eq!(app.handle_key(key(KeyCode::Enter)), Action::None);
    has(&screen(&app, 80, 24), "'oops' is not KEY=VALUE");
    for _ in 0..4 {
        app.handle_key(key(KeyCode::Backspace));
    }
    type_text(&mut app, "env=staging,n=2,tags=[1,2]");
    let action = app.handle_key(key(KeyCode::Enter));
    let mut expected = Variables::new();
    expected.insert("env".into(), json!("staging"));
    expected.insert("n".into(), json!(2));
    expected.insert("tags".into(), json!([1, 2]));
    assert_eq!(
        action,
        Action::Start {
            definition: "release".into(),
            variables: expected,
            priority: Some(0),
        }
    );
    has(&screen(&app, 80, 24), "starting a run of 'release'");
}

#[test]
fn run_actions_confirm_and_check_the_status_first() {
    let mut app = loaded_app();
    app.tab = Tab::Runs;
    let (running, failed, succeeded) = (
        app.runs.items[0].id,
        app.runs.items[1].id,
        app.runs.items[2].id,
    );
    // Cancel the running run.
    app.handle_key(key(KeyCode::Char('c')));
    has(&screen(&app, 80, 24), "Cancel run");
    assert_eq!(
        app.handle_key(key(KeyCode::Char('y'))),
        Action::Cancel(running)
    );
    has(&screen(&app, 80, 24), "cancelling");
    app.apply_outcome(Outcome::Done {
        result: Ok("cancelled run".into()),
        open_run: None,
    });
    assert!(app.busy.is_none());
    // Resume refuses a running run without asking.
    assert_eq!(app.handle_key(key(KeyCode::Char('u'))), Action::None);
    assert!(app.modal.is_none());
    has(
        &screen(&app, 120, 24),
        "only failed or cancelled runs can be resumed",
    );
    // Resume the failed one.
    app.handle_key(key(KeyCode::Down));
    app.handle_key(key(KeyCode::Char('u')));
    has(&screen(&app, 80, 24), "from its failed step");
    assert_eq!(app.handle_key(key(KeyCode::Enter)), Action::Resume(failed));
    // Cancel refuses a finished run; re-run asks.
    app.handle_key(key(KeyCode::Down));
    assert_eq!(app.handle_key(key(KeyCode::Char('c'))), Action::None);
    has(
        &screen(&app, 120, 24),
        "only pending or running runs can be cancelled",
    );
    app.handle_key(key(KeyCode::Char('r')));
    has(&screen(&app, 80, 24), "Re-run");
    assert_eq!(
        app.handle_key(key(KeyCode::Char('y'))),
        Action::Rerun(succeeded)
    );
}

// ------------------------------------------------------------------ scrolling

/// A 15-step run failed at step 12, with 30 log lines, opened in the detail.
fn long_run_detail() -> App {
    let names: Vec<String> = (1..=15).map(|i| format!("Step{i:02}")).collect();
    let def = definition(
        "full-release",
        &names.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let run = run_of(&def, RunStatus::Failed, 11);
    let mut app = loaded_app();
    app.apply(Loaded::Runs {
        filter: None,
        result: Ok(vec![run.clone()].into()),
    });
    app.tab = Tab::Runs;
    assert_eq!(app.handle_key(key(KeyCode::Enter)), Action::Refresh);
    app.apply(Loaded::Detail {
        id: run.id,
        run: Ok(Box::new(run.clone())),
        logs: Ok((1..=30)
            .map(|i| log(&run, (i % 12) as usize, &format!("log line {i:02}")))
            .collect()),
        skip: 0,
    });
    app
}

/// Issue 19, item 9: at 120x35 every step of a 15-step run shows; at 80x24 the
/// detail shows steps and log rows, and the step table scrolls to every step.
#[test]
fn run_detail_scrolls_and_shows_steps_and_logs_at_80x24_and_120x35() {
    let mut app = long_run_detail();
    let s = screen(&app, 120, 35);
    for i in 1..=15 {
        has(&s, &format!("Step{i:02}"));
    }
    has(&s, "log line 30");
    has(&s, "log line 29");

    let s = screen(&app, 80, 24);
    has(&s, "Step12");
    has(&s, "compiler exploded");
    has(&s, "log line 30");
    has(&s, "log line 29");
    has(&s, "of 15 (↑↓)");
    lacks(&s, "Step01");
    for _ in 0..15 {
        app.handle_key(key(KeyCode::Up));
    }
    let s = screen(&app, 80, 24);
    has(&s, "Step01");
    has(&s, "Steps 1-");
    lacks(&s, "Step15");
    for _ in 0..20 {
        app.handle_key(key(KeyCode::Down));
    }
    let s = screen(&app, 80, 24);
    has(&s, "Step15");
    lacks(&s, "Step01");

    // The page keys scroll the log; End follows its tail again.
    app.handle_key(key(KeyCode::PageUp));
    let s = screen(&app, 80, 24);
    has(&s, "log line 20");
    lacks(&s, "log line 30");
    has(&s, "10 lines back");
    app.handle_key(key(KeyCode::End));
    has(&screen(&app, 80, 24), "log line 30");
}

// ------------------------------------------------------------------ error queue

/// Issue 19, item 3: the list tells messages of one process apart (their
/// ids share a prefix) by run, step and event, age and reason, marks those
/// whose step has succeeded since, and Enter opens one whole.
#[test]
fn error_queue_tells_messages_apart_and_opens_one_whole() {
    let one = |run: &str, index: u64, event: &str, mins: i64, reason: &str| FaultView {
        endpoint: "linux-build".into(),
        message_id: format!("0192f0c4-5d3e-7a10-9b2c-{run}"),
        reason: reason.into(),
        exception_type: "anyhow::Error".into(),
        timestamp: (t0() - Duration::minutes(mins)).to_rfc3339(),
        run_id: Some(format!("{run}-0000-4000-8000-000000000000")),
        index: Some(index),
        message_type: Some(format!("urn:message:Sample:{event}")),
        size: 42,
        headers: [
            ("MT-Fault-Message".to_string(), json!(reason)),
            ("Isoqube-Trace".to_string(), json!("trace-77")),
        ]
        .into_iter()
        .collect(),
        body: format!(
            r#"{{"messageType":["urn:message:Sample:{event}"],"message":{{"who":"ops"}}}}"#
        ),
        ..FaultView::default()
    };
    let mut settled = one("bbbb2222", 4, "Deploy", 90, "broker hiccup");
    settled.settled = true;
    let mut app = loaded_app();
    app.apply(Loaded::Errors(Ok(vec![ErrorQueueView {
        endpoint: "linux-build".into(),
        count: 2,
        messages: vec![one("aaaa1111", 1, "Build", 5, "compiler exploded"), settled],
    }])));
    app.tab = Tab::Errors;
    for (w, h) in [(80, 24), (120, 35)] {
        let s = screen(&app, w, h);
        has(&s, "aaaa1111");
        has(&s, "bbbb2222");
        has(&s, "#2 Build");
        has(&s, "#5 Deploy");
        has(&s, "5m");
        has(&s, "1h");
        has(&s, "compiler exploded");
        has(&s, "succeeded since");
        has(&s, "Enter open");
    }

    app.handle_key(key(KeyCode::Down));
    assert_eq!(app.handle_key(key(KeyCode::Enter)), Action::None);
    let s = screen(&app, 80, 24);
    has(&s, "Message 0192f0c4-5d3e-7a10-9b2c-bbbb2222");
    has(&s, "linux-build_error");
    has(&s, "Isoqube-Trace: trace-77");
    has(&s, "(succeeded since)");
    has(&s, "\"who\": \"ops\"");
    app.handle_key(key(KeyCode::PageDown));
    lacks(&screen(&app, 80, 24), "Message id:");
    assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::None);
    let s = screen(&app, 80, 24);
    has(&s, "Fault reason");
    lacks(&s, "Isoqube-Trace");
}

/// Issue 19, item 9: a fleet longer than the instances pane scrolls.
#[test]
fn service_instances_scroll() {
    let mut app = loaded_app();
    app.apply(Loaded::Services(Ok((1..=12)
        .map(|i| service(&format!("pool-{i:02}"), 1000 + i, true))
        .collect())));
    let s = screen(&app, 80, 24);
    has(&s, "pool-01");
    lacks(&s, "pool-12");
    has(&s, "of 12, [ ] scroll");
    has(&s, "[ ] scroll instances");
    for _ in 0..12 {
        app.handle_key(key(KeyCode::Char(']')));
    }
    let s = screen(&app, 80, 24);
    has(&s, "pool-12");
    lacks(&s, "pool-01");
    has(&s, "Build");
}
