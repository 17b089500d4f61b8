//! Screen tests for what operators reach for first: a run's
//! detail drawn as its graph (levels, branch lines, running steps live,
//! variables, whole log lines), the runs search and its columns, the error
//! queue's filter and bulk actions, and the definition form's step editor and
//! filtering picker. Drawn with ratatui's `TestBackend` from model values, as
//! `tui_render/`, with which it shares its support.

#[path = "support/tui_app.rs"]
mod tui_app;

use chrono::Duration;
use controlcenter::ops::ErrorQueueView;
use controlcenter::tui::app::{Modal, Outcome};
use controlcenter::tui::{Action, App, Loaded, Tab};
use isoqube::{model::LogRecord, Definition, Run, RunStatus, StepDef, StepStatus, Variables};
use ratatui::crossterm::event::KeyCode;
use serde_json::json;
use tui_app::*;

/// The sample's `full-release` shape: three source steps, six builds in
/// parallel, two joins, two deployments in parallel, a join, an announcement.
fn full_release() -> Definition {
    let src = "DefaultSourceDownloadComplete";
    let linux = [
        "LinuxUbuntu2004Build",
        "LinuxUbuntu2204Build",
        "LinuxUbuntu2404Build",
    ];
    let windows = ["Windows2019Build", "Windows2022Build", "Windows2025Build"];
    let mut steps = vec![
        StepDef::new("DefaultSourceIngestion"),
        StepDef::new("DefaultSourceDownload"),
        StepDef::new(src),
    ];
    steps.extend(linux.iter().map(|b| StepDef::new(*b).after([src])));
    steps.push(StepDef::new("LinuxBuildCompleted").after(linux));
    steps.extend(windows.iter().map(|b| StepDef::new(*b).after([src])));
    steps.push(StepDef::new("WindowsBuildCompleted").after(windows));
    let joins = ["LinuxBuildCompleted", "WindowsBuildCompleted"];
    steps.push(StepDef::new("DeployToVm").after(joins));
    steps.push(StepDef::new("DeployToContainer").after(joins).optional());
    steps.push(StepDef::new("DeploymentCompleted").after(["DeployToVm", "DeployToContainer"]));
    steps.push(StepDef::new("BroadcastRelease"));
    let mut vars = Variables::new();
    vars.insert("branch".into(), json!("main"));
    Definition::new("full-release", steps).with_variables(vars)
}

/// A full-release run: the sources and five builds done, one build on its
/// second attempt for 40 s, with variables added by the steps.
fn running_release() -> Run {
    let mut params = Variables::new();
    params.insert("branch".into(), json!("release/1.2"));
    let mut run = Run::new(&full_release(), params, "ops");
    run.created_at = t0() - Duration::minutes(3);
    run.status = RunStatus::Running;
    for i in [0, 1, 2, 3, 4, 5, 7, 8] {
        let s = &mut run.steps[i];
        s.status = StepStatus::Succeeded;
        s.invoked_at = Some(run.created_at + Duration::seconds(i as i64 * 5));
        s.completed_at = Some(run.created_at + Duration::seconds(i as i64 * 5 + 2));
        s.attempts = 1;
    }
    let s = &mut run.steps[9];
    s.status = StepStatus::Invoked;
    s.invoked_at = Some(t0() - Duration::seconds(100));
    s.attempts = 2;
    s.last_error = Some("agent lost: the Windows pool restarted".into());
    run.variables
        .insert("artifact".into(), json!("s3://builds/1.2/linux.tar"));
    run
}

fn open_detail(run: &Run, logs: Vec<LogRecord>) -> App {
    let mut app = app();
    app.tab = Tab::Runs;
    app.apply(Loaded::Runs {
        filter: None,
        result: Ok(vec![run.clone()].into()),
    });
    assert_eq!(app.handle_key(key(KeyCode::Enter)), Action::Refresh);
    app.apply(Loaded::Detail {
        id: run.id,
        run: Ok(Box::new(run.clone())),
        logs: Ok(logs),
        skip: 0,
    });
    app
}

// ------------------------------------------------------------------ graph

/// The detail draws the graph, levels left to right with parallel
/// steps side by side, and the step table in level order with branch lines;
/// at 120x35 every one of the 15 steps shows.
#[test]
fn run_detail_draws_the_graph_by_levels_with_branch_lines() {
    let run = running_release();
    let app = open_detail(&run, vec![log(&run, 9, "building on windows-2025")]);
    let s = screen(&app, 120, 35);
    has(
        &s,
        "Graph: 1 → 2 → 3 → [4|5|6|8|9|10] → [7|11] → [12|13] → 14 → 15",
    );
    for step in &run.steps {
        has(&s, step.name());
    }
    // The six builds bracketed as one level, in step order, then the joins.
    let rows: Vec<&str> = s
        .lines()
        .filter(|l| l.contains("Build") && l.contains(['┬', '├', '└', '●']))
        .collect();
    let order: Vec<&str> = rows
        .iter()
        .filter_map(|l| l.split_whitespace().find(|w| w.contains("Build")))
        .collect();
    assert_eq!(
        order,
        [
            "LinuxUbuntu2004Build",
            "LinuxUbuntu2204Build",
            "LinuxUbuntu2404Build",
            "Windows2019Build",
            "Windows2022Build",
            "Windows2025Build",
            "LinuxBuildCompleted",
            "WindowsBuildCompleted",
        ],
        "{s}"
    );
    has(&s, "┬  4 LinuxUbuntu2004Build (after 3)");
    has(&s, "├  8 Windows2019Build");
    has(&s, "└ 10 Windows2025Build");
    has(&s, "┬  7 LinuxBuildCompleted (after 4, 5, 6)");
    has(&s, "└ 13 DeployToContainer (after 7, 11, optional)");
    has(&s, "● 14 DeploymentCompleted");
    has(&s, "building on windows-2025");
}

/// A compensating run shows each needed compensation beneath its
/// step (status, duration, attempts), and ↓ moves from step to step over
/// them.
#[test]
fn run_detail_shows_compensations_beneath_their_steps() {
    let def = Definition::new(
        "undo",
        [
            StepDef::new("DeployToVm").compensate("UndeployFromVm"),
            StepDef::new("DeployToContainer").compensate("RemoveContainerImage"),
            StepDef::new("BroadcastRelease"),
        ],
    );
    let mut run = Run::new(&def, Variables::new(), "ops");
    run.created_at = t0() - Duration::minutes(1);
    run.status = RunStatus::Compensating;
    for i in 0..2 {
        let s = &mut run.steps[i];
        s.status = StepStatus::Succeeded;
        s.invoked_at = Some(run.created_at);
        s.completed_at = Some(run.created_at + Duration::seconds(2));
        s.attempts = 1;
    }
    run.steps[2].status = StepStatus::Failed;
    let undo = run.steps[1].compensation.as_mut().unwrap();
    undo.status = StepStatus::Succeeded;
    undo.invoked_at = Some(t0() - Duration::seconds(9));
    undo.completed_at = Some(t0() - Duration::seconds(6));
    undo.attempts = 2;
    let undo = run.steps[0].compensation.as_mut().unwrap();
    undo.status = StepStatus::Invoked;
    undo.invoked_at = Some(t0() - Duration::seconds(4));
    undo.attempts = 1;
    let mut app = open_detail(&run, vec![]);
    let s = screen(&app, 120, 35);
    has(&s, "Compensating");
    has(&s, "↩ undo: UndeployFromVm");
    has(&s, "↩ undo: RemoveContainerImage");
    let row = |s: &str, needle: &str| {
        s.lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not shown:\n{s}"))
    };
    assert_eq!(
        row(&s, "UndeployFromVm"),
        row(&s, "1 DeployToVm") + 1,
        "{s}"
    );
    assert_eq!(
        row(&s, "RemoveContainerImage"),
        row(&s, "2 DeployToContainer") + 1,
        "{s}"
    );
    let vm = s.lines().find(|l| l.contains("UndeployFromVm")).unwrap();
    assert!(vm.contains("Invoked") && vm.contains('…'), "live: {vm}");
    let image = s
        .lines()
        .find(|l| l.contains("RemoveContainerImage"))
        .unwrap();
    assert!(
        image.contains("Succeeded") && image.contains("3.0s"),
        "{image}"
    );
    // The failed step had nothing to undo: no row.
    lacks(&s, "undo: Broadcast");
    app.handle_key(key(KeyCode::Down));
    app.handle_key(key(KeyCode::Down));
    let selected = app.detail.as_ref().map(|d| d.current_step());
    assert_eq!(
        selected,
        Some(2),
        "↓ goes over the compensation rows to step 3"
    );
}

/// A running step shows its attempt and how long it has run, and
/// the time moves on at every redraw; the run's parameters and the variables
/// its steps added are in the head.
#[test]
fn running_step_shows_attempt_and_live_elapsed_and_the_variables_show() {
    let run = running_release();
    let mut app = open_detail(&run, vec![]);
    let s = screen(&app, 120, 35);
    has(&s, "▶ running: 10 Windows2025Build (attempt 2, 1m40s)");
    has(&s, "1m40s…");
    has(&s, "params branch=release/1.2");
    has(&s, "vars artifact=s3://builds/1.2/linux.tar");
    app.now += Duration::seconds(25);
    let s = screen(&app, 120, 35);
    has(&s, "(attempt 2, 2m05s)");
    has(&s, "2m05s…");
    lacks(&s, "1m40s");
}

/// At 80x24 the 15-step graph scrolls through every step
/// and still shows log rows.
#[test]
fn graph_scrolls_at_80x24_to_every_step() {
    let run = running_release();
    let logs = (1..=8)
        .map(|i| log(&run, 9, &format!("windows line {i}")))
        .collect();
    let mut app = open_detail(&run, logs);
    let s = screen(&app, 80, 24);
    has(&s, "Windows2025Build");
    has(&s, "windows line 8");
    has(&s, "of 15 (↑↓)");
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..16 {
        app.handle_key(key(KeyCode::Up));
    }
    for _ in 0..16 {
        let s = screen(&app, 80, 24);
        for st in &run.steps {
            // Its number and the start of its name (long names are cut).
            let start: String = st.name().chars().take(12).collect();
            if s.contains(&format!("{:>2} {start}", st.index + 1)) {
                seen.insert(st.index);
            }
        }
        app.handle_key(key(KeyCode::Down));
    }
    assert_eq!(seen.len(), 15, "steps reached: {seen:?}");
}

/// A log line is never cut without a way to read it whole: `w`
/// wraps it, and `v` shows the whole run (every variable, each step's full
/// error).
#[test]
fn long_log_lines_wrap_and_the_whole_run_shows_every_value() {
    let mut run = running_release();
    let tail = "THE-END-OF-A-VERY-LONG-LINE";
    let long = format!("{} {tail}", "compiler output ".repeat(12));
    let huge_error = format!("{} {tail}", "stack frame ".repeat(20));
    run.steps[9].last_error = Some(huge_error);
    let mut app = open_detail(&run, vec![log(&run, 9, &long)]);
    lacks(&screen(&app, 80, 24), tail);
    assert_eq!(app.handle_key(key(KeyCode::Char('w'))), Action::None);
    let s = screen(&app, 80, 24);
    has(&s, tail);
    has(&s, "compiler output compiler");

    app.handle_key(key(KeyCode::Char('v')));
    let s = screen(&app, 80, 24);
    has(&s, "whole");
    has(&s, "Parameters (1)");
    has(&s, "branch = release/1.2");
    has(&s, "artifact = s3://builds/1.2/linux.tar");
    for _ in 0..60 {
        app.handle_key(key(KeyCode::Down));
        if screen(&app, 80, 24).contains(tail) {
            break;
        }
    }
    has(&screen(&app, 80, 24), tail);
    app.handle_key(key(KeyCode::Esc));
    has(&screen(&app, 80, 24), "Graph:");
    assert!(app.detail.is_some());
}

// ------------------------------------------------------------------ runs search

fn runs_app() -> App {
    let mut app = loaded_app();
    app.tab = Tab::Runs;
    let nightly = Definition::new("nightly", ["Build", "Deploy"]);
    let mut vars = Variables::new();
    vars.insert("branch".into(), json!("hotfix-42"));
    let mut hot = Run::new(&nightly, vars, "ops");
    hot.created_at = t0() - Duration::minutes(1);
    hot.status = RunStatus::Failed;
    hot.steps[0].status = StepStatus::Succeeded;
    hot.steps[1].status = StepStatus::Failed;
    hot.steps[1].last_error = Some("registry refused the push".into());
    hot.finished_at = Some(hot.created_at + Duration::seconds(42));
    let mut runs = app.runs.items.clone();
    runs.insert(0, hot);
    app.apply(Loaded::Runs {
        filter: None,
        result: Ok(runs.into()),
    });
    app
}

/// The runs list narrows as the search is typed (id start,
/// definition, status, variable value, text), and shows each run's duration
/// and failed step numbered from 1.
#[test]
fn runs_search_narrows_as_you_type_and_shows_duration_and_failed_step() {
    let mut app = runs_app();
    let s = screen(&app, 120, 35);
    has(&s, "Took");
    has(&s, "Failed step");
    has(&s, "#2 Deploy");
    has(&s, "42.0s");
    has(&s, "Runs (4,");

    app.handle_key(key(KeyCode::Char('/')));
    type_text(&mut app, "hotfix");
    let s = screen(&app, 80, 24);
    has(&s, "/ hotfix█");
    has(&s, "Runs (1 of 4,");
    has(&s, "nightly");
    lacks(&s, "release");
    // Letters the list uses (r re-runs, q quits) are typed while searching.
    app.handle_key(key(KeyCode::Char('q')));
    assert!(!app.quit);
    app.handle_key(key(KeyCode::Backspace));
    app.handle_key(key(KeyCode::Enter));
    has(&screen(&app, 80, 24), "/ hotfix  (/ edits, Esc clears)");
    assert_eq!(app.handle_key(key(KeyCode::Enter)), Action::Refresh);
    assert_eq!(
        app.detail.as_ref().map(|d| d.id),
        Some(app.runs.items[0].id)
    );
    app.handle_key(key(KeyCode::Esc));

    let cases: [(&str, usize); 8] = [
        ("status:failed", 2),
        ("def:release", 3),
        ("branch=hotfix-42", 1),
        ("branch=hotfix", 0),
        ("registry refused", 1),
        ("status:succeeded release", 1),
        ("no-such-thing", 0),
        ("", 4),
    ];
    for (query, n) in cases {
        app.run_search = Default::default();
        app.handle_key(key(KeyCode::Char('/')));
        type_text(&mut app, query);
        assert_eq!(app.visible_runs().len(), n, "{query:?}");
    }
    let id = app.runs.items[2].id.to_string();
    app.run_search = Default::default();
    app.handle_key(key(KeyCode::Char('/')));
    type_text(&mut app, &id[..6]);
    assert_eq!(app.visible_runs().len(), 1);
    assert_eq!(app.visible_runs()[0].id, app.runs.items[2].id);
    app.run_search = Default::default();
    app.handle_key(key(KeyCode::Char('/')));
    type_text(&mut app, "no-such-thing");
    has(&screen(&app, 80, 24), "No loaded run matches the search");
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(app.visible_runs().len(), 4);
}

// ------------------------------------------------------------------ error queue

fn errors_app() -> App {
    let mut app = loaded_app();
    app.tab = Tab::Errors;
    let mut other = fault("deploy", "msg-0003", "connection reset by registry");
    other.run_id = Some("fedcba9876543210fedcba9876543210".into());
    other.index = Some(0);
    app.apply(Loaded::Errors(Ok(vec![
        ErrorQueueView {
            endpoint: "linux-build".into(),
            count: 2,
            messages: vec![
                fault("linux-build", "msg-0001", "compiler exploded"),
                fault("linux-build", "msg-0002", "disk full"),
            ],
        },
        ErrorQueueView {
            endpoint: "deploy".into(),
            count: 1,
            messages: vec![other],
        },
    ])));
    app
}

/// The error queue filters as you type, and R / D act on every
/// message shown, after a y/n naming how many.
#[test]
fn error_queue_filters_and_acts_in_bulk_after_confirmation() {
    let mut app = errors_app();
    app.handle_key(key(KeyCode::Char('/')));
    type_text(&mut app, "linux");
    let s = screen(&app, 80, 24);
    has(&s, "/ linux█");
    has(&s, "2 shown");
    has(&s, "compiler exploded");
    lacks(&s, "connection reset");
    app.handle_key(key(KeyCode::Enter));

    assert_eq!(app.handle_key(key(KeyCode::Char('R'))), Action::None);
    has(
        &screen(&app, 80, 24),
        "Requeue all 2 message(s) matching 'linux'?",
    );
    let Action::RequeueAll(faults) = app.handle_key(key(KeyCode::Char('y'))) else {
        panic!("expected a bulk requeue");
    };
    let ids: Vec<&str> = faults.iter().map(|f| f.message_id.as_str()).collect();
    assert_eq!(ids, ["msg-0001", "msg-0002"]);

    app.handle_key(key(KeyCode::Char('D')));
    has(
        &screen(&app, 80, 24),
        "Discard all 2 message(s) matching 'linux'",
    );
    assert_eq!(app.handle_key(key(KeyCode::Char('n'))), Action::None);
    assert!(app.modal.is_none());

    // The filter matches the step as people number it, and the reason.
    app.fault_search = Default::default();
    app.handle_key(key(KeyCode::Char('/')));
    type_text(&mut app, "#1 reset");
    assert_eq!(app.faults().len(), 1);
    app.handle_key(key(KeyCode::Esc));
    assert_eq!(app.faults().len(), 3);
    app.handle_key(key(KeyCode::Char('D')));
    let Action::DiscardAll(all) = app.handle_key(key(KeyCode::Enter)) else {
        panic!("expected a bulk discard");
    };
    assert_eq!(all.len(), 3);
    app.apply_outcome(Outcome::Done {
        result: Err("discarded 2 message(s); 1 not: msg-0003: message not found".into()),
        open_run: None,
    });
    has(&screen(&app, 80, 24), "1 not: msg-0003");

    // Nothing shown: nothing to confirm.
    app.handle_key(key(KeyCode::Char('/')));
    type_text(&mut app, "nothing-matches");
    app.handle_key(key(KeyCode::Enter));
    assert_eq!(app.handle_key(key(KeyCode::Char('R'))), Action::None);
    assert!(app.modal.is_none());
    has(&screen(&app, 80, 24), "No message matches the filter");
}

// ------------------------------------------------------------------ definition form

fn form_app() -> App {
    let mut app = loaded_app();
    app.tab = Tab::Definitions;
    app.handle_key(key(KeyCode::Char('n')));
    type_text(&mut app, "graph");
    app.handle_key(key(KeyCode::Tab));
    app.handle_key(key(KeyCode::Tab));
    app
}

/// The event picker filters as you type and stays open to add
/// several steps.
#[test]
fn picker_filters_as_you_type_and_stays_open() {
    let mut app = form_app();
    app.handle_key(key(KeyCode::Char('a')));
    type_text(&mut app, "dep");
    let s = screen(&app, 80, 24);
    has(&s, "Filter: dep█");
    has(&s, "1 of 3");
    has(&s, "Deploy - ship to production");
    lacks(&s, "Build - compile");
    app.handle_key(key(KeyCode::Enter));
    app.handle_key(key(KeyCode::Enter));
    // Ctrl-U clears the filter; j and k are typed, not moves.
    app.handle_key(ctrl('u'));
    type_text(&mut app, "jk");
    has(&screen(&app, 80, 24), "no event matches");
    app.handle_key(ctrl('u'));
    app.handle_key(key(KeyCode::Enter));
    let s = screen(&app, 80, 24);
    has(&s, "Added 3");
    has(&s, "added: Deploy, Deploy, Build");
    app.handle_key(key(KeyCode::Esc));
    let Some(Modal::Form(form)) = &app.modal else {
        panic!("the form closed");
    };
    assert!(form.picker.is_none());
    let events: Vec<&str> = form.steps.iter().map(|s| s.event.as_str()).collect();
    assert_eq!(events, ["Deploy", "Deploy", "Build"]);
}

/// The step editor sets a step's name, `after`, `compensate`,
/// `timeout` and `optional`; a bad timeout is refused in place, and the
/// model's refusal on save shows in the form.
#[test]
fn step_editor_edits_after_compensate_timeout_optional() {
    let mut app = form_app();
    app.handle_key(key(KeyCode::Char('a')));
    app.handle_key(key(KeyCode::Enter)); // Build
    app.handle_key(key(KeyCode::Down));
    app.handle_key(key(KeyCode::Enter)); // Deploy
    app.handle_key(key(KeyCode::Esc));
    // Deploy is selected: edit it.
    app.handle_key(key(KeyCode::Enter));
    let s = screen(&app, 80, 24);
    has(&s, "Step 2 (Deploy)");
    has(&s, "▸ After");
    has(&s, "Steps: Build");
    type_text(&mut app, "start");
    app.handle_key(key(KeyCode::Tab));
    type_text(&mut app, "Orphan");
    app.handle_key(key(KeyCode::Tab));
    type_text(&mut app, "soon");
    app.handle_key(key(KeyCode::Enter));
    has(
        &screen(&app, 80, 24),
        "timeout 'soon' is not a positive duration",
    );
    for _ in 0..4 {
        app.handle_key(key(KeyCode::Backspace));
    }
    type_text(&mut app, "5m");
    app.handle_key(key(KeyCode::Tab));
    app.handle_key(key(KeyCode::Char(' ')));
    has(&screen(&app, 80, 24), "[x] yes");
    app.handle_key(key(KeyCode::Up));
    app.handle_key(key(KeyCode::Up));
    app.handle_key(key(KeyCode::Up));
    app.handle_key(key(KeyCode::Up));
    type_text(&mut app, "ship");
    app.handle_key(key(KeyCode::Enter));
    let s = screen(&app, 80, 24);
    has(
        &s,
        "2. ship=Deploy (optional), at the start, timeout 300s, undone by Orphan",
    );

    let Action::SaveDefinition { definition, .. } = app.handle_key(ctrl('s')) else {
        panic!("expected a save");
    };
    let step = &definition.steps[1];
    assert_eq!(step.name.as_deref(), Some("ship"));
    assert_eq!(step.after, Some(vec![]));
    assert_eq!(step.compensate.as_deref(), Some("Orphan"));
    assert_eq!(step.timeout, Some(std::time::Duration::from_secs(300)));
    assert!(step.optional);

    let refusal =
        "invalid definition: step 2 (ship) of 'graph' names unknown compensation event 'Orphan'";
    app.apply_outcome(Outcome::Saved {
        name: "graph".into(),
        create: true,
        result: Err(refusal.into()),
    });
    let s = screen(&app, 80, 24);
    has(&s, "names unknown compensation");
    has(&s, "New definition");

    // Editing again shows the values; blank after is "the step before".
    app.handle_key(key(KeyCode::Enter));
    has(&screen(&app, 80, 24), "start");
    app.handle_key(ctrl('u'));
    app.handle_key(key(KeyCode::Enter));
    let Some(Modal::Form(form)) = &app.modal else {
        panic!("the form closed");
    };
    assert_eq!(form.steps[1].after, None);
    // o toggles optional from the list.
    app.handle_key(key(KeyCode::Char('o')));
    let Some(Modal::Form(form)) = &app.modal else {
        panic!("the form closed");
    };
    assert!(!form.steps[1].optional);
}
