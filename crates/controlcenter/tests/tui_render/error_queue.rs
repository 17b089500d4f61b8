//! The error-queue view: faults listed and told apart, one opened whole, and
//! requeue and discard that ask first.

use super::*;

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

/// The list tells messages of one process apart (their
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
