//! The help view: the keys of every view.
//!
//! It may use the shared widgets and the run keys' table
//! ([`crate::tui::app::RUN_KEYS`]).

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::widgets::{inner, HEADER};
use crate::tui::app::RUN_KEYS;

/// The help text: sections of (keys, what they do).
const HELP: &[(&str, &[(&str, &str)])] = &[
    (
        "Everywhere",
        &[
            (
                "1 2 3 4 / Tab",
                "Services & events, Definitions, Runs, Error queue",
            ),
            ("? / F1", "this help (Esc goes back)"),
            ("↑↓ j k PgUp PgDn", "move the selection"),
            ("F5", "reload now (views also refresh every second)"),
            ("q / Ctrl-C", "quit"),
        ],
    ),
    (
        "Definitions",
        &[
            (
                "n / e",
                "new / edit (Tab: next field, Ctrl-S saves, Esc asks first if edited)",
            ),
            (
                "steps: a x K J",
                "add (picker: type to filter, Enter adds, stays open), remove, move",
            ),
            (
                "steps: Enter o",
                "edit the step (name, after, compensate, timeout, optional) / optional",
            ),
            ("variables", "one KEY=VALUE per line (JSON values or text)"),
            (
                "schedules",
                "ID=every:SECS / cron:EXPR@TZ / at:TIME (+;missed=run-once)",
            ),
            ("d", "delete (asks y/n)"),
            (
                "s",
                "start a run (variables KEY=VALUE,...; Tab: its priority)",
            ),
        ],
    ),
    (
        "Runs",
        &[
            (
                "Enter / Esc",
                "open a run (↑↓ its steps, PgUp PgDn End its log) / back",
            ),
            (
                "/",
                "search the loaded runs: id start, definition, status:, def:, KEY=VALUE, text",
            ),
            ("f", "filter by status (all, Pending, Running, ...)"),
            (
                "in a run: w v",
                "wrap the log lines / the run whole (variables, errors)",
            ),
            // Then each of RUN_KEYS (see `sections`).
        ],
    ),
    (
        "Error queue",
        &[
            (
                "Enter r d",
                "open the message whole / requeue it / discard it",
            ),
            (
                "/ R D",
                "filter / requeue every shown / discard every shown (y/n)",
            ),
        ],
    ),
];

/// The help's sections: [`HELP`], the runs' with every key of
/// [`RUN_KEYS`] (the table their handling and the footer read too).
fn sections() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    HELP.iter()
        .map(|(section, keys)| {
            let mut keys = keys.to_vec();
            if *section == "Runs" {
                keys.extend(RUN_KEYS.iter().map(|k| (k.key, k.help)));
            }
            (*section, keys)
        })
        .collect()
}

/// The help view, scrolled `scroll` lines (↑↓).
pub(super) fn draw_help(frame: &mut Frame, scroll: u16, area: Rect) {
    let block = Block::bordered().title(" Help (↑↓ scroll) ");
    let inside = inner(area);
    frame.render_widget(block, area);
    let mut lines = Vec::new();
    for (section, keys) in sections() {
        lines.push(Line::from(Span::styled(section, HEADER)));
        for (k, what) in keys {
            lines.push(Line::from(vec![
                Span::styled(format!("  {k:<17}"), Style::new().bold()),
                Span::raw(what),
            ]));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        inside,
    );
}
