//! Runs that wait in the TUI: the runs list shows a running run with a
//! waiting step as `Waiting`, its detail says what the step waits for and
//! until when, and `a` signals it: a prompt for the data (JSON or
//! `KEY=VALUE,...`) that refuses what does not parse, then the action;
//! `a` on a run with no waiting step says so.

use super::*;
use isoqube::model::WaitDef;
use isoqube::{StepDef, StepStatus};

/// A running `release` run waiting at step 2 (Approval, due in 47h59m).
fn waiting_app() -> (App, isoqube::Run) {
    let wait = StepDef::new("Approval").waiting(WaitDef {
        correlate: None,
        timeout: Some(std::time::Duration::from_secs(48 * 3600)),
    });
    let def = Definition::new(
        "release",
        [StepDef::new("Build"), wait, StepDef::new("Deploy")],
    );
    let mut run = run_of(&def, RunStatus::Running, 1);
    // The newest: first in the list.
    run.created_at = t0() - Duration::minutes(1);
    run.steps[1].status = StepStatus::Waiting;
    if let Some(w) = run.steps[1].wait.as_mut() {
        w.until = Some(t0() + Duration::hours(48) - Duration::minutes(1));
    }
    let mut app = loaded_app();
    app.tab = Tab::Runs;
    let mut runs = app.runs.items.clone();
    runs.insert(0, run.clone());
    app.apply(Loaded::Runs {
        filter: None,
        result: Ok(runs.into()),
    });
    app.run_selected = 0;
    (app, run)
}

#[test]
fn a_waiting_run_shows_what_it_waits_for() {
    let (mut app, run) = waiting_app();
    let short = &run.id.simple().to_string()[..8];
    let s = screen(&app, 100, 24);
    let row = s.lines().find(|l| l.contains(short)).expect("its row");
    assert!(row.contains("Waiting") && !row.contains("Running"), "{row}");

    app.handle_key(key(KeyCode::Enter));
    app.apply(Loaded::Detail {
        id: run.id,
        run: Ok(Box::new(run.clone())),
        logs: Ok(vec![]),
        skip: 0,
    });
    let s = screen(&app, 120, 30);
    has(
        &s,
        "⏸ 2 Approval waits for Approval until 2025-03-03 11:59:00 UTC (in 47h59m)",
    );
    has(&s, "a signal");
}

#[test]
fn a_signals_the_waiting_step_with_data() {
    let (mut app, run) = waiting_app();
    assert_eq!(app.handle_key(key(KeyCode::Char('a'))), Action::None);
    assert!(
        matches!(app.modal, Some(Modal::Signal(_))),
        "{:?}",
        app.modal
    );
    let s = screen(&app, 100, 24);
    has(&s, "Signal Approval to step 2 of run");
    has(&s, "waits for Approval until");
    type_text(&mut app, "{oops");
    assert_eq!(app.handle_key(key(KeyCode::Enter)), Action::None);
    has(&screen(&app, 100, 24), "not JSON");
    for _ in 0..5 {
        app.handle_key(key(KeyCode::Backspace));
    }
    type_text(&mut app, r#"{"approved_by": "ann", "n": 2}"#);
    let mut data = Variables::new();
    data.insert("approved_by".into(), json!("ann"));
    data.insert("n".into(), json!(2));
    assert_eq!(
        app.handle_key(key(KeyCode::Enter)),
        Action::Signal {
            run_id: run.id,
            event: "Approval".into(),
            data,
        }
    );
    has(&screen(&app, 100, 24), "signalling Approval to");

    // KEY=VALUE works too; Esc closes without sending.
    app.handle_key(key(KeyCode::Char('a')));
    type_text(&mut app, "approved_by=bob");
    let Action::Signal { data, .. } = app.handle_key(key(KeyCode::Enter)) else {
        panic!("no signal");
    };
    assert_eq!(data.get("approved_by"), Some(&json!("bob")));
    app.handle_key(key(KeyCode::Char('a')));
    assert_eq!(app.handle_key(key(KeyCode::Esc)), Action::None);
    assert!(app.modal.is_none());

    // A run with no waiting step: said, no prompt.
    app.handle_key(key(KeyCode::Down));
    assert_eq!(app.handle_key(key(KeyCode::Char('a'))), Action::None);
    assert!(app.modal.is_none());
    has(&screen(&app, 120, 24), "waits for a signal");
}
