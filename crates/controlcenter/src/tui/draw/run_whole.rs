//! A run shown whole (`v` in its detail): where it stands, every parameter
//! and variable with its full value, and every step in graph order with its
//! place, options, attempts, handlers and whole last error, wrapped and
//! scrolled, so nothing the detail cuts is out of reach.
//!
//! It may use the state ([`crate::tui::app`], [`crate::tui::graph`]), the text
//! formats and the shared widgets.

use isoqube::Run;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Block;
use ratatui::Frame;

use super::widgets::{inner, paragraph_lines, short_duration, step_status_color, time, HEADER};
use crate::tui::graph::{GraphLayout, GraphRow, RowKind};

/// The run `run` whole, scrolled `scroll` lines.
pub(super) fn draw_run_whole(frame: &mut Frame, run: &Run, scroll: u16, area: Rect) {
    let mut lines = head_lines(run);
    lines.extend(variables_lines(run));
    lines.push(Line::from(Span::styled(
        format!("Steps ({}, in graph order)", run.steps.len()),
        HEADER,
    )));
    for row in GraphLayout::of(&run.steps).rows {
        let s = &run.steps[row.step];
        match (row.kind, s.compensation.as_ref()) {
            (RowKind::Compensation, Some(c)) => lines.push(compensation_line(c)),
            _ => lines.extend(step_lines(s, &row)),
        }
    }
    let block = Block::bordered().title(format!(
        " Run {} whole (Esc back; ↑↓ PgUp PgDn scroll) ",
        crate::text::short_id(&run.id)
    ));
    let inside = inner(area);
    frame.render_widget(block, area);
    frame.render_widget(paragraph_lines(lines).scroll((scroll, 0)), inside);
}

/// `Key: value`, the key in the header style.
fn label(k: &str, v: String) -> Line<'static> {
    Line::from(vec![Span::styled(format!("{k}: "), HEADER), Span::raw(v)])
}

/// Where the run stands: id and status, definition, when and by whom,
/// what it re-runs, and its error.
fn head_lines(run: &Run) -> Vec<Line<'static>> {
    let mut lines = vec![
        label("Run", format!("{}  ({})", run.id, run.status.as_str())),
        label("Definition", run.definition.clone()),
        label(
            "Created",
            format!(
                "{}  finished {}  by {}",
                run.created_at.to_rfc3339(),
                run.finished_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "-".into()),
                run.started_by
            ),
        ),
    ];
    if let Some(of) = run.rerun_of {
        lines.push(label("Re-run of", of.to_string()));
    }
    if let Some(e) = &run.error {
        lines.push(Line::from(vec![
            Span::styled("Error: ", HEADER),
            Span::styled(e.clone(), Color::Red),
        ]));
    }
    lines
}

/// Every parameter and variable with its whole value (JSON pretty-printed,
/// one line per line).
fn variables_lines(run: &Run) -> Vec<Line<'static>> {
    let pretty = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_else(|_| other.to_string()),
    };
    let mut lines = Vec::new();
    for (title, vars) in [("Parameters", &run.params), ("Variables", &run.variables)] {
        lines.push(Line::from(Span::styled(
            format!("{title} ({})", vars.len()),
            HEADER,
        )));
        if vars.is_empty() {
            lines.push(Line::from("  none"));
        }
        for (k, v) in vars.iter() {
            for (n, piece) in pretty(v).lines().enumerate() {
                lines.push(Line::from(if n == 0 {
                    format!("  {k} = {piece}")
                } else {
                    format!("    {piece}")
                }));
            }
        }
    }
    lines
}

/// A step's undo beneath it: event, status, attempts, time taken, error.
fn compensation_line(c: &isoqube::Compensation) -> Line<'static> {
    Line::from(Span::styled(
        format!(
            "   ↩ undo: {}  {}  attempts {}  took {}{}",
            c.event,
            c.status.as_str(),
            c.attempts,
            c.duration()
                .map(short_duration)
                .unwrap_or_else(|| "-".into()),
            c.last_error
                .as_deref()
                .map(|e| format!("  error: {e}"))
                .unwrap_or_default()
        ),
        Style::new().fg(step_status_color(c.status)),
    ))
}

/// A step: its place and options, how it went, every handler, and its
/// whole last error.
fn step_lines(s: &isoqube::Step, row: &GraphRow) -> Vec<Line<'static>> {
    let mut head = format!(
        "{} {:>2} {} [{}] level {}",
        row.branch,
        s.index + 1,
        s.name(),
        s.event,
        row.level + 1
    );
    if let Some(place) = s.place() {
        head.push_str(&format!(", {place}"));
    }
    if s.optional {
        head.push_str(", optional");
    }
    if let Some(ms) = s.timeout_ms {
        head.push_str(&format!(", timeout {}", short_duration(ms_duration(ms))));
    }
    let mut lines = vec![
        Line::from(Span::styled(
            head,
            Style::new().fg(step_status_color(s.status)),
        )),
        Line::from(format!(
            "     {}  attempts {}  invoked {}  took {}",
            s.status.as_str(),
            s.attempts,
            time(s.invoked_at),
            s.duration()
                .map(short_duration)
                .unwrap_or_else(|| "-".into()),
        )),
    ];
    for h in &s.handlers {
        lines.push(Line::from(format!(
            "     {}@{}: {} x{}{}",
            h.endpoint,
            h.host,
            h.status.as_str(),
            h.attempts,
            h.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        )));
    }
    if let Some(e) = &s.last_error {
        lines.push(Line::from(Span::styled(
            format!("     error: {e}"),
            Color::Red,
        )));
    }
    lines
}

fn ms_duration(ms: u64) -> chrono::Duration {
    chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
}
