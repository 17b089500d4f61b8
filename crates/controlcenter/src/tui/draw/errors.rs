//! The error-queue view: every message of every endpoint's error queue (run,
//! step, age, reason) the filter (typed after `/`) lets through, the selected
//! one's fault, and one message opened whole (headers and body).
//!
//! It may use the state ([`crate::tui::app`]) and the shared widgets.

use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, TableState};
use ratatui::Frame;

use super::widgets::{ellipsize, inner, notice, paragraph_lines, search_line, table, DIM, HEADER};
use crate::ops::FaultView;
use crate::text::age;
use crate::tui::app::App;

/// The error-queue view: the messages over the selected one's fault, or the
/// selected message whole.
pub(super) fn draw_errors(frame: &mut Frame, app: &App, area: Rect) {
    let faults = app.faults();
    if let (Some(scroll), Some(f)) = (app.fault_open, faults.get(app.fault_selected)) {
        draw_message(frame, app, f, scroll, area);
        return;
    }
    let [list, detail] = Layout::vertical([Constraint::Fill(1), Constraint::Length(7)]).areas(area);
    draw_fault_list(frame, app, &faults, list);
    draw_selected(frame, app, faults.get(app.fault_selected).copied(), detail);
}

/// The messages' pane: its title, the filter line when one is typed, a
/// notice when there is nothing to show, and the table.
fn draw_fault_list(frame: &mut Frame, app: &App, faults: &[&FaultView], area: Rect) {
    let total: u32 = app.errors.items.iter().map(|q| q.count).sum();
    let shown = if app.fault_search.is_active() {
        format!("; {} shown", faults.len())
    } else {
        String::new()
    };
    let block = Block::bordered().title(format!(
        " Error queues ({} endpoints, {total} messages{shown}) ",
        app.errors.items.len()
    ));
    let mut inside = inner(area);
    frame.render_widget(block, area);
    if app.fault_search.editing || app.fault_search.is_active() {
        let [line, rest] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inside);
        frame.render_widget(
            search_line(
                &app.fault_search,
                "endpoint, run, #step, event, reason",
                line.width,
            ),
            line,
        );
        inside = rest;
    }
    let mut table_area = inside;
    if let Some(lines) = notice(
        app.errors.loaded,
        &app.errors.error,
        faults.is_empty(),
        empty_text(app),
    ) {
        let h = (lines.len() as u16 + 1).min(inside.height);
        let [msg, rest] =
            Layout::vertical([Constraint::Length(h), Constraint::Fill(1)]).areas(inside);
        frame.render_widget(paragraph_lines(lines), msg);
        table_area = rest;
    }
    if !faults.is_empty() {
        draw_fault_table(frame, app, faults, table_area);
    }
}

/// Why the list is empty: no endpoint known, nothing through the filter,
/// or nothing there.
fn empty_text(app: &App) -> &'static str {
    if app.errors.items.is_empty() {
        "No error queues: no consumer endpoint is known yet."
    } else if app.fault_search.is_active() {
        "No message matches the filter (Esc clears it)."
    } else {
        "Every error queue is empty."
    }
}

/// What tells messages apart: their run, step and event, age and reason
/// (message ids of one process share their first characters).
fn draw_fault_table(frame: &mut Frame, app: &App, faults: &[&FaultView], area: Rect) {
    let constraints = [
        Constraint::Length(8),
        Constraint::Fill(2),
        Constraint::Length(4),
        Constraint::Fill(2),
        Constraint::Fill(4),
    ];
    let rows = faults.iter().map(|f| fault_row(app, f)).collect();
    let t = table(
        area,
        &constraints,
        &["Run", "Step", "Age", "Endpoint", "Fault reason"],
        rows,
    );
    let mut state = TableState::default().with_selected(Some(app.fault_selected));
    frame.render_stateful_widget(t, area, &mut state);
}

/// One message's row; one whose step has succeeded since is dimmed.
fn fault_row(app: &App, f: &FaultView) -> (Vec<String>, Style) {
    let run = f
        .run_id
        .as_deref()
        .map(|r| r.get(..8).unwrap_or(r).to_string())
        .unwrap_or_else(|| "-".into());
    let mut reason = if f.reason.is_empty() {
        "(no reason)".to_string()
    } else {
        f.reason.clone()
    };
    if f.settled {
        reason = format!("✓ succeeded since · {reason}");
    }
    let style = if f.settled { DIM } else { Style::new() };
    (
        vec![
            run,
            step_of(f),
            fault_age(app, f),
            f.endpoint.clone(),
            reason,
        ],
        style,
    )
}

/// The selected message's fault, the counts per endpoint, and which queues
/// show only part of their messages; each line cut to the pane.
fn draw_selected(frame: &mut Frame, app: &App, selected: Option<&FaultView>, area: Rect) {
    let block = Block::bordered().title(" Selected message ");
    let inside = inner(area);
    frame.render_widget(block, area);
    let mut lines = selected.map(fault_lines).unwrap_or_default();
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
    let truncated: Vec<String> = app
        .errors
        .items
        .iter()
        .filter(|q| q.count as usize > q.messages.len())
        .map(|q| format!("{} shows {} of {}", q.endpoint, q.messages.len(), q.count))
        .collect();
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

/// A message's reason, ids, exception type, time, size and message type.
fn fault_lines(f: &FaultView) -> Vec<Line<'static>> {
    let or_dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    vec![
        Line::from(vec![
            Span::styled("Reason: ", HEADER),
            Span::raw(f.reason.clone()),
        ]),
        Line::from(vec![
            Span::styled("Id: ", HEADER),
            Span::raw(format!(
                "{}  run {}  (Enter opens it whole)",
                f.message_id,
                f.run_id.as_deref().unwrap_or("-")
            )),
        ]),
        Line::from(vec![
            Span::styled("Type: ", HEADER),
            Span::raw(format!(
                "{}  at {}  {} bytes",
                or_dash(&f.exception_type),
                or_dash(&f.timestamp),
                f.size
            )),
        ]),
        Line::from(vec![
            Span::styled("Message: ", HEADER),
            Span::raw(f.message_type.clone().unwrap_or_else(|| "-".into())),
        ]),
    ]
}

/// `#N Event`: the step numbered from 1 and the event (the message type's
/// last part), `-` for a message that is no run step.
fn step_of(f: &FaultView) -> String {
    let event = f
        .message_type
        .as_deref()
        .and_then(|t| t.rsplit(':').next())
        .unwrap_or("");
    match f.index {
        Some(i) => format!("#{} {event}", i + 1),
        None if !event.is_empty() => event.to_string(),
        None => "-".into(),
    }
}

/// How long ago the message failed, from its fault time.
fn fault_age(app: &App, f: &FaultView) -> String {
    DateTime::parse_from_rfc3339(&f.timestamp)
        .map(|t| age(app.now - t.with_timezone(&Utc)))
        .unwrap_or_else(|_| "-".into())
}

/// One message whole: where it is, its fault, every header and the body
/// (pretty-printed when it is JSON), scrolled `scroll` lines.
fn draw_message(frame: &mut Frame, app: &App, f: &FaultView, scroll: u16, area: Rect) {
    let label =
        |k: &str, v: String| Line::from(vec![Span::styled(format!("{k}: "), HEADER), Span::raw(v)]);
    let mut lines = vec![
        label(
            "Queue",
            format!("{}_error (endpoint {})", f.endpoint, f.endpoint),
        ),
        label("Message id", f.message_id.clone()),
        label(
            "Run",
            match (&f.run_id, f.index) {
                (Some(r), Some(_)) => format!(
                    "{r}  step {}{}",
                    step_of(f),
                    if f.settled { "  (succeeded since)" } else { "" }
                ),
                (Some(r), None) => r.clone(),
                _ => "-".into(),
            },
        ),
        label(
            "Failed",
            format!("{} ({} ago)", f.timestamp, fault_age(app, f)),
        ),
        label("Reason", f.reason.clone()),
        Line::from(Span::styled("Headers", HEADER)),
    ];
    for (k, v) in &f.headers {
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        lines.push(Line::from(format!("  {k}: {v}")));
    }
    lines.push(Line::from(Span::styled(
        format!("Body ({} bytes)", f.size),
        HEADER,
    )));
    let body = serde_json::from_str::<serde_json::Value>(&f.body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| f.body.clone());
    lines.extend(body.lines().map(|l| Line::from(format!("  {l}"))));
    let title = format!(" Message {} (Esc back; ↑↓ PgUp PgDn scroll) ", f.message_id);
    let block = Block::bordered().title(title);
    let inside = inner(area);
    frame.render_widget(block, area);
    frame.render_widget(paragraph_lines(lines).scroll((scroll, 0)), inside);
}
