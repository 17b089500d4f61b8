//! What the TUI's screen tests share: an [`App`] drawn in a test terminal
//! and read back as text, checks on it, keys, and model values (events,
//! services, definitions, runs, log lines, error-queue messages) with a
//! loaded app over them.
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use controlcenter::ops::{ConsumerView, ErrorQueueView, EventView, FaultView, ServiceView};
use controlcenter::tui::{draw, Action, App, Loaded};
use isoqube::{
    model::LogRecord, model::ServiceRecord, Definition, Run, RunStatus, StepStatus, Variables,
};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use serde_json::json;
pub const LONG: &str =
    "an-extremely-long-definition-name-that-never-fits-in-any-column-of-an-80-column-terminal";

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0)
        .single()
        .expect("valid time")
}

/// Renders `app` in a `w`x`h` test terminal and returns the screen as lines.
pub fn screen(app: &App, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    terminal.draw(|f| draw(f, app)).expect("draw");
    let buffer = terminal.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buffer[(x, y)].symbol());
        }
        out.push('\n');
    }
    if std::env::var_os("TUI_SHOW").is_some() {
        eprintln!("{out}");
    }
    out
}

#[track_caller]
pub fn has(screen: &str, needle: &str) {
    assert!(
        screen.contains(needle),
        "expected {needle:?} on screen:\n{screen}"
    );
}

#[track_caller]
pub fn lacks(screen: &str, needle: &str) {
    assert!(
        !screen.contains(needle),
        "did not expect {needle:?} on screen:\n{screen}"
    );
}

pub fn event(name: &str, description: &str, endpoints: &[(&str, &[&str])]) -> EventView {
    EventView {
        name: name.into(),
        description: description.into(),
        exchange: format!("Sample:{name}"),
        message_type: format!("urn:message:Sample:{name}"),
        consumers: endpoints
            .iter()
            .map(|(ep, services)| ConsumerView {
                endpoint: ep.to_string(),
                services: services.iter().map(|s| s.to_string()).collect(),
            })
            .collect(),
    }
}

pub fn service(name: &str, pid: u32, alive: bool) -> ServiceView {
    ServiceView {
        record: ServiceRecord {
            id: format!("{name}@host-1:{pid}"),
            name: name.into(),
            host: "build-host-1".into(),
            pid,
            events: vec!["Build".into()],
            consumers: vec![format!("{name}-build")],
            transport: "amqp".into(),
            started_at: t0() - Duration::minutes(10),
            last_seen: t0() - Duration::seconds(if alive { 3 } else { 600 }),
        },
        heartbeat_age_secs: if alive { 3 } else { 600 },
        alive,
    }
}

pub fn definition(name: &str, steps: &[&str]) -> Definition {
    let mut vars = Variables::new();
    vars.insert("env".into(), json!("prod"));
    let mut d = Definition::new(name, steps.iter().copied())
        .with_description("ship it")
        .with_variables(vars);
    d.created_at = t0() - Duration::hours(2);
    d.modified_at = t0() - Duration::hours(1);
    d
}

pub fn run_of(def: &Definition, status: RunStatus, done: usize) -> Run {
    let mut run = Run::new(def, Variables::new(), "controlcenter:ops@laptop");
    run.created_at = t0() - Duration::minutes(5);
    run.status = status;
    for (i, step) in run.steps.iter_mut().enumerate() {
        if i < done {
            step.status = StepStatus::Succeeded;
            step.invoked_at = Some(run.created_at + Duration::seconds(i as i64 * 10));
            step.completed_at = Some(run.created_at + Duration::seconds(i as i64 * 10 + 3));
            step.attempts = 1;
            step.handled_by = Some(format!("ep-{i}@build-host-1"));
        }
    }
    if status == RunStatus::Failed {
        let step = &mut run.steps[done];
        step.status = StepStatus::Failed;
        step.invoked_at = Some(run.created_at + Duration::seconds(60));
        step.failed_at = Some(run.created_at + Duration::seconds(62));
        step.attempts = 3;
        step.last_error = Some("compiler exploded: out of memory".into());
        run.error = Some(format!("step {done} failed: compiler exploded"));
    }
    run
}

pub fn log(run: &Run, step: usize, message: &str) -> LogRecord {
    LogRecord {
        run_id: run.id,
        step: Some(step),
        event: Some(run.steps[step].event.clone()),
        level: "INFO".into(),
        message: message.into(),
        service: "pool".into(),
        host: "h".into(),
        timestamp: t0(),
    }
}

pub fn fault(endpoint: &str, id: &str, reason: &str) -> FaultView {
    FaultView {
        endpoint: endpoint.into(),
        message_id: id.into(),
        reason: reason.into(),
        exception_type: "ConsumerError".into(),
        timestamp: "2025-03-01T12:00:00Z".into(),
        run_id: Some("0123456789abcdef0123456789abcdef".into()),
        index: Some(1),
        message_type: Some("urn:message:Sample:Build".into()),
        size: 321,
        ..FaultView::default()
    }
}

pub fn app() -> App {
    let mut app = App::new();
    app.now = t0();
    app
}

pub fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

pub fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        assert_eq!(app.handle_key(key(KeyCode::Char(c))), Action::None);
    }
}

pub fn loaded_app() -> App {
    let mut app = app();
    app.apply(Loaded::Events(Ok(vec![
        event(
            "Build",
            "compile the sources",
            &[
                ("linux-build", &["linux-pool"]),
                ("win-build", &["windows-pool"]),
            ],
        ),
        event(
            "Deploy",
            "ship to production",
            &[("deploy", &["deployment"])],
        ),
        event("Orphan", "", &[]),
    ])));
    app.apply(Loaded::Services(Ok(vec![
        service("linux-pool", 4242, true),
        service("windows-pool", 777, false),
    ])));
    let release = definition("release", &["Build", "Deploy"]);
    app.apply(Loaded::Definitions(Ok(vec![
        definition("nightly", &["Build"]),
        release.clone(),
    ])));
    app.apply(Loaded::Runs {
        filter: None,
        result: Ok(vec![
            run_of(&release, RunStatus::Running, 1),
            run_of(&release, RunStatus::Failed, 1),
            run_of(&release, RunStatus::Succeeded, 2),
        ]
        .into()),
    });
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
            count: 0,
            messages: vec![],
        },
    ])));
    app
}
