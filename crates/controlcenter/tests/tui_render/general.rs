//! What every view shares: the help view, tiny terminals, the status line,
//! and quitting (but not from inside a form).

use super::*;

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
    for _ in 0..15 {
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
