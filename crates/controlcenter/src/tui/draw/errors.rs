//! The error-queue view: every message of every endpoint's error queue, and
//! the selected one's fault.
//!
//! It may use the state ([`crate::tui::app`]) and the shared widgets.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, TableState};
use ratatui::Frame;

use super::widgets::{ellipsize, inner, notice, paragraph_lines, table, DIM, HEADER};
use crate::tui::app::App;

/// The error-queue view: the messages over the selected one's fault.
pub(super) fn draw_errors(frame: &mut Frame, app: &App, area: Rect) {
    let faults = app.faults();
    let total: u32 = app.errors.items.iter().map(|q| q.count).sum();
    let [list, detail] = Layout::vertical([Constraint::Fill(1), Constraint::Length(6)]).areas(area);
    let block = Block::bordered().title(format!(
        " Error queues ({} endpoints, {total} messages) ",
        app.errors.items.len()
    ));
    let inside = inner(list);
    frame.render_widget(block, list);
    let mut table_area = inside;
    let empty_text = if app.errors.items.is_empty() {
        "No error queues: no consumer endpoint is known yet."
    } else {
        "Every error queue is empty."
    };
    if let Some(lines) = notice(
        app.errors.loaded,
        &app.errors.error,
        faults.is_empty(),
        empty_text,
    ) {
        let h = (lines.len() as u16 + 1).min(inside.height);
        let [msg, rest] =
            Layout::vertical([Constraint::Length(h), Constraint::Fill(1)]).areas(inside);
        frame.render_widget(paragraph_lines(lines), msg);
        table_area = rest;
    }
    if !faults.is_empty() {
        let constraints = [
            Constraint::Fill(2),
            Constraint::Length(12),
            Constraint::Length(13),
            Constraint::Fill(3),
        ];
        let rows = faults
            .iter()
            .map(|f| {
                let run = match (&f.run_id, f.index) {
                    (Some(r), Some(s)) => format!("{} #{}", r.get(..8).unwrap_or(r), s + 1),
                    (Some(r), None) => r.get(..8).unwrap_or(r).to_string(),
                    _ => "-".into(),
                };
                let reason = if f.reason.is_empty() {
                    "(no reason)".to_string()
                } else {
                    f.reason.clone()
                };
                (
                    vec![f.endpoint.clone(), f.message_id.clone(), run, reason],
                    Style::new(),
                )
            })
            .collect();
        let t = table(
            table_area,
            &constraints,
            &["Endpoint", "Message", "Run / step", "Fault reason"],
            rows,
        );
        let mut state = TableState::default().with_selected(Some(app.fault_selected));
        frame.render_stateful_widget(t, table_area, &mut state);
    }
    let truncated: Vec<String> = app
        .errors
        .items
        .iter()
        .filter(|q| q.count as usize > q.messages.len())
        .map(|q| format!("{} shows {} of {}", q.endpoint, q.messages.len(), q.count))
        .collect();

    let block = Block::bordered().title(" Selected message ");
    let inside = inner(detail);
    frame.render_widget(block, detail);
    let mut lines = Vec::new();
    if let Some(f) = faults.get(app.fault_selected) {
        lines.push(Line::from(vec![
            Span::styled("Reason: ", HEADER),
            Span::raw(f.reason.clone()),
        ]));
        lines.push(Line::from(vec![
            Span::styled("Type: ", HEADER),
            Span::raw(format!(
                "{}  at {}  {} bytes",
                if f.exception_type.is_empty() {
                    "-"
                } else {
                    &f.exception_type
                },
                if f.timestamp.is_empty() {
                    "-"
                } else {
                    &f.timestamp
                },
                f.size
            )),
        ]));
        lines.push(Line::from(vec![
            Span::styled("Message: ", HEADER),
            Span::raw(f.message_type.clone().unwrap_or_else(|| "-".into())),
        ]));
    }
    if !app.errors.items.is_empty() {
        let per: Vec<String> = app
            .errors
            .items
            .iter()
            .map(|q| format!("{} {}", q.endpoint, q.count))
            .collect();
        lines.push(Line::from(vec![
            Span::styled("Per endpoint: ", HEADER),
            Span::raw(per.join(", ")),
        ]));
    }
    if !truncated.is_empty() {
        lines.push(Line::from(Span::styled(truncated.join("; "), DIM)));
    }
    let w = usize::from(inside.width);
    let lines: Vec<Line> = lines
        .into_iter()
        .map(|l| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            Line::from(ellipsize(&text, w))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inside);
}
