//! The services view: events, consumers and instances, empty and failing
//! states, and a fleet longer than its pane.

use super::*;

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

/// A fleet longer than the instances pane scrolls.
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
