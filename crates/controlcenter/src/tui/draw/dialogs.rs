//! The small dialogs over a view: the y/n confirmation, the start-a-run
//! prompt and the signal prompt.
//!
//! It may use the state ([`crate::tui::app`]), the text formats and the shared
//! widgets.

use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::widgets::{draw_dialog, DIM, HEADER};
use crate::text::show_value;
use crate::tui::app::{Confirm, SignalPrompt, StartPrompt};

/// The y/n question guarding an action.
pub(super) fn draw_confirm(frame: &mut Frame, c: &Confirm, body: Rect) {
    let lines = vec![
        Line::from(c.message.clone()),
        Line::from(""),
        Line::from(vec![
            Span::styled("y", HEADER),
            Span::raw(" yes   "),
            Span::styled("n", HEADER),
            Span::raw(" no"),
        ]),
    ];
    draw_dialog(frame, body, " Confirm ", lines, 60);
}

/// The start-a-run prompt with the definition's defaults as a hint.
pub(super) fn draw_start(frame: &mut Frame, p: &StartPrompt, body: Rect) {
    let defaults = if p.defaults.is_empty() {
        "none".to_string()
    } else {
        p.defaults
            .iter()
            .map(|(k, v)| format!("{k}={}", show_value(v)))
            .collect::<Vec<_>>()
            .join(",")
    };
    // The focused input has the cursor and the marker.
    let field = |focused: bool, text: &str| {
        let (mark, cursor) = if focused { ("▸ ", "█") } else { ("  ", "") };
        Line::from(vec![
            Span::styled(mark, HEADER),
            Span::raw(format!("{text}{cursor}")),
        ])
    };
    let mut lines = vec![
        Line::from(format!("Start a run of '{}'.", p.definition)),
        Line::from(Span::styled(format!("defaults: {defaults}"), DIM)),
        Line::from("Variables (KEY=VALUE,KEY=VALUE; empty for none):"),
        field(!p.on_priority, &p.input.text),
        Line::from(format!(
            "Priority (0-9; the definition's is {}):",
            p.default_priority
        )),
        field(p.on_priority, &p.priority.text),
    ];
    if let Some(e) = &p.error {
        lines.push(Line::from(Span::styled(format!("✗ {e}"), Color::Red)));
    }
    lines.push(Line::from(Span::styled(
        "Enter start   Tab variables/priority   Esc cancel",
        DIM,
    )));
    draw_dialog(frame, body, " Start run ", lines, 70);
}

/// The signal prompt: the run, its waiting step and what it waits for, the
/// data typed.
pub(super) fn draw_signal(frame: &mut Frame, p: &SignalPrompt, body: Rect) {
    let mut lines = vec![
        Line::from(format!(
            "Signal {} to step {} of run {}.",
            p.event,
            p.step + 1,
            p.label
        )),
        Line::from(Span::styled(p.wait.clone(), DIM)),
        Line::from("Data (a JSON object, or KEY=VALUE,KEY=VALUE; empty for none):"),
        Line::from(vec![
            Span::styled("▸ ", HEADER),
            Span::raw(format!("{}█", p.input.text)),
        ]),
    ];
    if let Some(e) = &p.error {
        lines.push(Line::from(Span::styled(format!("✗ {e}"), Color::Red)));
    }
    lines.push(Line::from(Span::styled("Enter send   Esc cancel", DIM)));
    draw_dialog(frame, body, " Signal ", lines, 70);
}
