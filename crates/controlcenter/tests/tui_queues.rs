//! The services view's queues pane, drawn on ratatui's
//! `TestBackend` at 80x24 and 120x35 from an [`App`] fed two looks at the
//! queues: depth, consumers and the net rate between the looks, the error
//! queue's beside it; a view that needs the queues asks for them.

use controlcenter::ops::{EndpointQueues, QueueView};
use controlcenter::tui::app::Need;
use controlcenter::tui::{draw, App, Loaded, Tab};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn screen(app: &App, w: u16, h: u16) -> String {
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

fn q(name: &str, messages: u32, consumers: Option<u32>) -> QueueView {
    QueueView {
        queue: name.into(),
        broker_queue: name.into(),
        exists: true,
        messages,
        unacked: None,
        consumers,
        net_rate: None,
    }
}

fn endpoint(name: &str, ready: u32, errors: u32) -> EndpointQueues {
    EndpointQueues {
        endpoint: name.into(),
        queue: q(name, ready, Some(2)),
        error_queue: q(&format!("{name}_error"), errors, Some(0)),
        skipped_queue: q(&format!("{name}_skipped"), 3, Some(0)),
    }
}

#[test]
fn services_view_shows_each_endpoints_queues_with_rates() {
    let mut app = App::new();
    app.tab = Tab::Services;
    assert!(app.needs().contains(&Need::Queues), "{:?}", app.needs());
    app.apply(Loaded::Queues(Ok(vec![
        endpoint("linux-build", 4, 0),
        endpoint("deploy", 0, 1),
    ])));
    // The second look, a moment later: the backlog grew, the errors did not.
    // The rate divides by the wall-clock time between the looks, so that
    // time has to pass.
    std::thread::sleep(std::time::Duration::from_millis(200));
    app.apply(Loaded::Queues(Ok(vec![
        endpoint("linux-build", 40, 0),
        endpoint("deploy", 0, 1),
    ])));
    let build = &app.queues.items[0];
    let rate = build.queue.net_rate.expect("a rate after two looks");
    assert!(rate > 10.0, "{rate}");
    assert_eq!(build.error_queue.net_rate, Some(0.0));
    for (w, h) in [(80, 24), (120, 35)] {
        let s = screen(&app, w, h);
        assert!(s.contains("Queues (2"), "{s}");
        let line = s
            .lines()
            .find(|l| l.contains("linux-build") && l.contains("40"))
            .unwrap_or_else(|| panic!("linux-build's row at {w}x{h}:\n{s}"));
        assert!(line.contains(" 2 "), "consumers: {line}");
        assert!(
            line.trim_end()
                .trim_end_matches('│')
                .trim_end()
                .ends_with('3'),
            "skipped: {line}"
        );
        assert!(line.contains('+'), "a net rate: {line}");
        let deploy = s
            .lines()
            .find(|l| l.contains("deploy") && l.contains(" 1 "))
            .unwrap_or_else(|| panic!("deploy's row at {w}x{h}:\n{s}"));
        assert!(deploy.contains("+0.0"), "{deploy}");
    }
    // A failed look keeps the last queues and says why.
    app.apply(Loaded::Queues(Err(
        "RabbitMQ at h:5672 is unreachable".into()
    )));
    let s = screen(&app, 120, 35);
    assert!(s.contains("linux-build"), "{s}");
    assert!(s.contains("unreachable"), "{s}");
}
