//! The runs view and a run's detail: progress, age, stuck runs, the filter,
//! narrow terminals, the start prompt, the run actions' confirmations, and a
//! long run's detail scrolling.

use super::*;

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

/// At 120x35 every step of a 15-step run shows; at 80x24 the
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
