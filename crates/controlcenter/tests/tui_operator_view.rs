//! Screen tests for what an operator found missing in the terminal UI:
//! the events table at 80x24 with a full fleet,
//! run statuses shown whole, Esc asking before it drops a form's edits,
//! cancel-and-compensate, a start's priority, status messages that go, the
//! priority of runs and definitions, and instances whose heartbeat is late.
//! Drawn with ratatui's `TestBackend` from an [`App`] built from model values.

#[path = "support/tui_app.rs"]
mod tui_app;

use chrono::Duration;
use controlcenter::ops::{EndpointQueues, QueueView};
use controlcenter::tui::app::{Modal, Outcome, StatusKind, RUN_KEYS};
use controlcenter::tui::draw::footer_keys;
use controlcenter::tui::{Action, App, Loaded, Need, Tab};
use isoqube::{RunStatus, StuckReason, StuckStep};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tui_app::*;

/// `n` endpoints' queues, each with a few ready messages.
fn queues(n: usize) -> Vec<EndpointQueues> {
    let q = |name: String| QueueView {
        broker_queue: name.clone(),
        queue: name,
        exists: true,
        messages: 3,
        unacked: Some(0),
        consumers: Some(1),
        net_rate: None,
    };
    (0..n)
        .map(|i| EndpointQueues {
            endpoint: format!("endpoint-{i}"),
            queue: q(format!("endpoint-{i}")),
            error_queue: q(format!("endpoint-{i}_error")),
            skipped_queue: q(format!("endpoint-{i}_skipped")),
        })
        .collect()
}

/// The line of `screen` that holds `needle`.
#[track_caller]
fn line_with<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} on screen:\n{screen}"))
}

// ------------------------------------------------------------------ services

#[test]
fn events_table_shows_rows_at_80x24_with_a_full_fleet_and_queues() {
    let mut app = loaded_app();
    app.apply(Loaded::Services(Ok((1..=12)
        .map(|i| service(&format!("pool-{i:02}"), 1000 + i, true))
        .collect())));
    app.apply(Loaded::Queues(Ok(queues(6))));
    for (w, h) in [(80, 24), (120, 30)] {
        let s = screen(&app, w, h);
        // All three events, under their header.
        has(&s, "Event");
        has(&s, "Sample:Build");
        has(&s, "Sample:Deploy");
        has(&s, "(no consumer)");
        // The other panes still show some of their rows (and scroll).
        has(&s, "pool-01");
        has(&s, "endpoint-0");
    }
}

#[test]
fn instances_show_when_last_seen_and_a_late_heartbeat() {
    let mut app = loaded_app();
    let mut late = service("killed-pool", 99, true);
    late.heartbeat_age_secs = 14;
    app.apply(Loaded::Services(Ok(vec![
        service("linux-pool", 4242, true),
        late,
        service("windows-pool", 777, false),
    ])));
    for (w, h) in [(80, 24), (120, 30)] {
        let s = screen(&app, w, h);
        has(&s, "Last seen");
        has(&s, "1 alive, 1 late, 1 gone");
        let row = line_with(&s, "killed-pool");
        assert!(row.contains("late") && row.contains("14s ago"), "{row}");
        let row = line_with(&s, "4242");
        assert!(row.contains("alive") && row.contains("3s ago"), "{row}");
        assert!(line_with(&s, " 777 ").contains("10m ago"), "{s}");
    }
}

// ------------------------------------------------------------------ runs

/// The loaded app with runs in every compensation status, on the runs view.
fn compensated_runs() -> App {
    let mut app = loaded_app();
    let def = definition("release", &["Build", "Deploy"]);
    let mut runs = Vec::new();
    for status in [
        RunStatus::Compensated,
        RunStatus::CompensationFailed,
        RunStatus::Compensating,
    ] {
        runs.push(run_of(&def, status, 1));
    }
    app.apply(Loaded::Runs {
        filter: None,
        result: Ok(runs.into()),
    });
    app.tab = Tab::Runs;
    app
}

#[test]
fn run_statuses_are_never_cut() {
    let app = compensated_runs();
    for (w, h) in [(80, 24), (120, 30), (60, 20)] {
        let s = screen(&app, w, h);
        for status in ["Compensated ", "CompensationFailed", "Compensating"] {
            has(&s, status);
        }
        lacks(&s, "Compensa…");
    }
}

#[test]
fn priority_shows_in_the_runs_list_the_detail_and_the_definitions() {
    let mut app = loaded_app();
    let def = definition("urgent", &["Build"]).with_priority(7);
    let mut run = run_of(&def, RunStatus::Running, 0);
    run.priority = 9;
    app.apply(Loaded::Definitions(Ok(vec![def])));
    app.apply(Loaded::Runs {
        filter: None,
        result: Ok(vec![run.clone()].into()),
    });
    app.tab = Tab::Runs;
    for (w, h) in [(80, 24), (120, 30)] {
        let s = screen(&app, w, h);
        has(&s, "Pri");
        let row = line_with(&s, "urgent");
        assert!(row.contains(" 9 "), "the run's priority: {row}");
    }
    app.handle_key(key(KeyCode::Enter));
    app.apply(Loaded::Detail {
        id: run.id,
        run: Ok(Box::new(run)),
        logs: Ok(vec![]),
        skip: 0,
    });
    has(&screen(&app, 80, 24), "priority 9");

    app.handle_key(key(KeyCode::Char('2')));
    for (w, h) in [(80, 24), (120, 30)] {
        let s = screen(&app, w, h);
        has(&s, "Priority: 7");
        assert!(line_with(&s, "urgent").contains(" 7 "), "{s}");
    }
}

#[test]
fn capital_c_cancels_and_compensates_after_asking_from_list_and_detail() {
    let mut app = loaded_app();
    app.tab = Tab::Runs;
    let running = app.runs.items[0].id;
    let shift_c = KeyEvent::new(KeyCode::Char('C'), KeyModifiers::SHIFT);
    assert_eq!(app.handle_key(shift_c), Action::None);
    let s = screen(&app, 80, 24);
    has(&s, "and compensate what it did");
    assert_eq!(
        app.handle_key(key(KeyCode::Char('y'))),
        Action::CancelCompensate(running)
    );
    has(&screen(&app, 80, 24), "compensating it");

    // From the detail, and `n` keeps the run.
    app.apply_outcome(Outcome::Done {
        result: Ok("done".into()),
        open_run: Some(running),
    });
    app.apply(Loaded::Detail {
        id: running,
        run: Ok(Box::new(app.runs.items[0].clone())),
        logs: Ok(vec![]),
        skip: 0,
    });
    app.handle_key(shift_c);
    assert!(matches!(app.modal, Some(Modal::Confirm(_))));
    assert_eq!(app.handle_key(key(KeyCode::Char('n'))), Action::None);
    assert!(app.modal.is_none());
    app.handle_key(shift_c);
    assert_eq!(
        app.handle_key(key(KeyCode::Char('y'))),
        Action::CancelCompensate(running)
    );

    // A finished run is refused without asking, saying why.
    let mut app = loaded_app();
    app.tab = Tab::Runs;
    app.handle_key(key(KeyCode::End));
    assert_eq!(app.handle_key(shift_c), Action::None);
    assert!(app.modal.is_none());
    has(
        &screen(&app, 120, 24),
        "only pending or running runs can be cancelled and compensated",
    );
}

#[test]
fn run_keys_drive_their_handling_help_and_footer_from_one_table() {
    let mut app = loaded_app();
    app.tab = Tab::Runs;
    let footer = footer_keys(&app);
    app.handle_key(key(KeyCode::Char('?')));
    let mut help = String::new();
    for _ in 0..4 {
        help.push_str(&screen(&app, 120, 40));
        for _ in 0..10 {
            app.handle_key(key(KeyCode::Down));
        }
    }
    for k in RUN_KEYS {
        assert!(
            footer.contains(&(k.key, k.footer)),
            "{} in the footer: {footer:?}",
            k.key
        );
        has(&help, &format!("{:<17}{}", k.key, k.help));
        // Each opens its confirmation (or says why not) on the running run.
        let mut app = loaded_app();
        app.tab = Tab::Runs;
        let c = k.key.chars().next().expect("one character");
        app.handle_key(key(KeyCode::Char(c)));
        assert!(
            app.modal.is_some() || app.status.is_some(),
            "{} does something",
            k.key
        );
    }
}

// ------------------------------------------------------------------ start

#[test]
fn start_prompt_takes_a_priority_defaulting_to_the_definitions() {
    let mut app = loaded_app();
    let def = definition("urgent", &["Build"]).with_priority(4);
    app.apply(Loaded::Definitions(Ok(vec![def])));
    app.tab = Tab::Definitions;
    app.handle_key(key(KeyCode::Char('s')));
    let s = screen(&app, 80, 24);
    has(&s, "Priority (0-9; the definition's is 4)");
    has(&s, "Tab priority");
    // Untouched: the definition's.
    let mut same = app.clone();
    assert!(matches!(
        same.handle_key(key(KeyCode::Enter)),
        Action::Start {
            priority: Some(4),
            ..
        }
    ));
    // Tab moves to the priority; a wrong one is refused inline.
    app.handle_key(key(KeyCode::Tab));
    app.handle_key(key(KeyCode::Backspace));
    type_text(&mut app, "12");
    assert_eq!(app.handle_key(key(KeyCode::Enter)), Action::None);
    has(&screen(&app, 80, 24), "priority 12 is out of range (0-9)");
    app.handle_key(key(KeyCode::Backspace));
    app.handle_key(key(KeyCode::Backspace));
    type_text(&mut app, "x");
    assert_eq!(app.handle_key(key(KeyCode::Enter)), Action::None);
    has(&screen(&app, 80, 24), "not a whole number from 0 to 9");
    app.handle_key(key(KeyCode::Backspace));
    type_text(&mut app, "9");
    // Back to the variables: typing goes there.
    app.handle_key(key(KeyCode::Tab));
    type_text(&mut app, "env=qa");
    match app.handle_key(key(KeyCode::Enter)) {
        Action::Start {
            definition,
            variables,
            priority,
        } => {
            assert_eq!(definition, "urgent");
            assert_eq!(priority, Some(9));
            assert_eq!(variables.get("env"), Some(&serde_json::json!("qa")));
        }
        other => panic!("expected a start, got {other:?}"),
    }
}

// ------------------------------------------------------------------ form

#[test]
fn esc_asks_before_dropping_form_edits() {
    let mut app = loaded_app();
    app.tab = Tab::Definitions;
    // Untouched: Esc closes at once.
    app.handle_key(key(KeyCode::Char('e')));
    assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::Refresh);
    assert!(app.modal.is_none());

    app.handle_key(key(KeyCode::Char('e')));
    type_text(&mut app, " (edited)");
    assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::None);
    for (w, h) in [(80, 24), (120, 30)] {
        let s = screen(&app, w, h);
        has(&s, "Discard changes?");
        has(&s, "y discard changes");
    }
    // `n` keeps editing, the edit kept.
    assert_eq!(app.handle_key(key(KeyCode::Char('n'))), Action::None);
    let Some(Modal::Form(form)) = &app.modal else {
        panic!("the form stays open");
    };
    assert!(form.description.text.ends_with(" (edited)"));
    lacks(&screen(&app, 80, 24), "Discard changes?");
    // Esc then y drops them.
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(app.handle_key(key(KeyCode::Char('y'))), Action::Refresh);
    assert!(app.modal.is_none());

    // A new form with a name typed asks too.
    app.handle_key(key(KeyCode::Char('n')));
    type_text(&mut app, "x");
    app.handle_key(key(KeyCode::Esc));
    assert!(matches!(&app.modal, Some(Modal::Form(f)) if f.discard_asked));
}

// ------------------------------------------------------------------ status

#[test]
fn status_messages_go_on_the_next_key_or_after_a_while() {
    let mut app = loaded_app();
    app.apply_outcome(Outcome::Done {
        result: Ok("requeued msg-0001".into()),
        open_run: None,
    });
    has(&screen(&app, 80, 24), "requeued msg-0001");
    // Still there a moment later; gone after a few seconds.
    let t = app.now;
    app.tick(t + Duration::seconds(2));
    has(&screen(&app, 80, 24), "requeued msg-0001");
    app.tick(t + Duration::seconds(6));
    lacks(&screen(&app, 80, 24), "requeued msg-0001");

    // An error stays longer, and any key clears it.
    app.apply_outcome(Outcome::Done {
        result: Err("cannot requeue msg-0002: the run is Compensated".into()),
        open_run: None,
    });
    let t = app.now;
    app.tick(t + Duration::seconds(6));
    assert_eq!(app.status.as_ref().map(|s| s.kind), Some(StatusKind::Error));
    app.handle_key(key(KeyCode::Down));
    assert!(app.status.is_none());
    lacks(&screen(&app, 80, 24), "msg-0002");
    // A key that says something new shows it.
    app.tab = Tab::Runs;
    app.handle_key(key(KeyCode::End));
    app.handle_key(key(KeyCode::Char('c')));
    has(&screen(&app, 120, 24), "only pending or running runs");
}

// ------------------------------------------------------------------ detail

#[test]
fn a_stuck_runs_detail_names_the_stuck_step() {
    let mut app = loaded_app();
    app.tab = Tab::Runs;
    let run = app.runs.items[0].clone();
    app.handle_key(key(KeyCode::Enter));
    assert!(app.needs().contains(&Need::DetailStuck(run.id)));
    app.apply(Loaded::Detail {
        id: run.id,
        run: Ok(Box::new(run.clone())),
        logs: Ok(vec![]),
        skip: 0,
    });
    lacks(&screen(&app, 80, 24), "STUCK");
    let stuck = StuckStep {
        run_id: run.id,
        step: 1,
        event: "Deploy".into(),
        endpoint: Some("deploy".into()),
        instance: Some("deployment@gone:9:ab".into()),
        since: t0() - Duration::minutes(12),
        reason: StuckReason::HandlerGone,
    };
    // A look at another run is ignored.
    app.apply(Loaded::DetailStuck {
        id: uuid::Uuid::new_v4(),
        result: Ok(vec![stuck.clone()]),
    });
    lacks(&screen(&app, 80, 24), "STUCK");
    app.apply(Loaded::DetailStuck {
        id: run.id,
        result: Ok(vec![stuck]),
    });
    for (w, h) in [(80, 24), (120, 35)] {
        let s = screen(&app, w, h);
        has(
            &s,
            "STUCK (handler's service instance is gone): step 2 (Deploy) stuck:",
        );
    }
    has(
        &screen(&app, 120, 35),
        "stuck: deploy on deployment@gone:9:ab, no sign of life",
    );
    // Fresh and not stuck any more: the line goes.
    app.apply(Loaded::DetailStuck {
        id: run.id,
        result: Ok(vec![]),
    });
    lacks(&screen(&app, 120, 35), "STUCK");
}
