//! A run's live detail: its head, steps, last errors and the log tail.
//!
//! It may use the state ([`crate::tui::app`]), the text formats and the shared
//! widgets.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, TableState};
use ratatui::Frame;

use super::widgets::{
    ellipsize, inner, paragraph_lines, progress, run_status_color, short_duration,
    step_status_color, table, time, width, DIM,
};
use crate::text::age;
use crate::tui::app::{App, RunDetail};

/// A run's detail; the log pane shows the tail unless scrolled back.
pub(super) fn draw_detail(frame: &mut Frame, app: &App, d: &RunDetail, area: Rect) {
    let Some(run) = &d.run else {
        let block = Block::bordered().title(format!(" Run {} ", d.id));
        let inside = inner(area);
        frame.render_widget(block, area);
        let mut lines = Vec::new();
        if let Some(e) = &d.error {
            lines.push(Line::from(Span::styled(format!("✗ {e}"), Color::Red)));
        } else {
            lines.push(Line::from("Loading…"));
        }
        frame.render_widget(paragraph_lines(lines), inside);
        return;
    };
    let errors: Vec<String> = run
        .steps
        .iter()
        .filter_map(|s| {
            s.last_error
                .as_ref()
                .map(|e| format!("step {} {}: {e}", s.index + 1, s.event))
        })
        .collect();
    let mut head_lines = vec![
        Line::from(vec![
            Span::styled(
                run.status.as_str(),
                Style::new()
                    .fg(run_status_color(run.status))
                    .add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                "  {} steps done  definition {}",
                progress(run),
                run.definition
            )),
        ]),
        Line::from(Span::styled(
            format!(
                "created {} ({} ago)  finished {}  by {}",
                time(Some(run.created_at)),
                age(app.now - run.created_at),
                time(run.finished_at),
                if run.started_by.is_empty() {
                    "?"
                } else {
                    &run.started_by
                }
            ),
            DIM,
        )),
    ];
    if let Some(e) = &run.error {
        head_lines.push(Line::from(Span::styled(format!("✗ {e}"), Color::Red)));
    }
    if let Some(e) = &d.error {
        head_lines.push(Line::from(Span::styled(
            format!("✗ could not refresh: {e}"),
            Color::Red,
        )));
    }
    let head_h = head_lines.len() as u16 + 2;
    let (steps_h, errors_h) = pane_heights(
        area.height.saturating_sub(head_h),
        run.steps.len(),
        errors.len(),
    );
    let [head, steps, errs, logs] = Layout::vertical([
        Constraint::Length(head_h),
        Constraint::Length(steps_h),
        Constraint::Length(errors_h),
        Constraint::Fill(1),
    ])
    .areas(area);

    let block = Block::bordered().title(format!(" Run {} ", run.id));
    let inside = inner(head);
    frame.render_widget(block, head);
    let w = usize::from(inside.width);
    let head_lines: Vec<Line> = head_lines
        .into_iter()
        .map(|l| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            if width(&text) > w {
                Line::from(Span::styled(
                    ellipsize(&text, w),
                    l.spans.first().map(|s| s.style).unwrap_or_default(),
                ))
            } else {
                l
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(head_lines), inside);

    let inside = inner(steps);
    // Rows under the table's header; the selected step is kept in view.
    let visible = usize::from(inside.height.saturating_sub(1)).max(1);
    let selected = d.current_step();
    let offset = (selected + 1).saturating_sub(visible);
    let title = if run.steps.len() > visible {
        format!(
            " Steps {}-{} of {} (↑↓) ",
            offset + 1,
            (offset + visible).min(run.steps.len()),
            run.steps.len()
        )
    } else {
        " Steps ".to_string()
    };
    frame.render_widget(Block::bordered().title(title), steps);
    let constraints = [
        Constraint::Length(2),
        Constraint::Fill(2),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(3),
        Constraint::Fill(2),
    ];
    let rows = run
        .steps
        .iter()
        .map(|s| {
            let done = s.completed_at.or(s.failed_at).or(s.cancelled_at);
            let handler = s
                .handled_by
                .clone()
                .or_else(|| {
                    s.handlers
                        .last()
                        .map(|h| format!("{}@{}", h.endpoint, h.host))
                })
                .unwrap_or_else(|| "-".into());
            (
                vec![
                    (s.index + 1).to_string(),
                    // Parallel steps show what they wait for: `Ship (after 4, 5)`.
                    match s.place() {
                        Some(place) => format!("{} ({place})", s.name()),
                        None => s.name().to_string(),
                    },
                    s.status.as_str().to_string(),
                    time(s.invoked_at),
                    time(done),
                    s.duration()
                        .map(short_duration)
                        .unwrap_or_else(|| "-".into()),
                    s.attempts.to_string(),
                    handler,
                ],
                Style::new().fg(step_status_color(s.status)),
            )
        })
        .collect();
    let t = table(
        inside,
        &constraints,
        &[
            "#", "Event", "Status", "Invoked", "Done", "Took", "Att", "Handler",
        ],
        rows,
    );
    let mut state = TableState::default()
        .with_offset(offset)
        .with_selected(Some(selected));
    frame.render_stateful_widget(t, inside, &mut state);

    if errors_h > 0 {
        let block = Block::bordered().title(" Last errors ");
        let inside = inner(errs);
        frame.render_widget(block, errs);
        let w = usize::from(inside.width);
        let lines: Vec<Line> = errors
            .iter()
            .rev()
            .take(usize::from(errors_h.saturating_sub(2)))
            .rev()
            .map(|e| Line::from(Span::styled(ellipsize(e, w), Color::Red)))
            .collect();
        frame.render_widget(Paragraph::new(lines), inside);
    }

    let follow = if d.log_scroll == 0 {
        "following".to_string()
    } else {
        format!("{} lines back, End follows", d.log_scroll)
    };
    let block = Block::bordered().title(format!(" Logs ({}; {follow}) ", d.logs.len()));
    let inside = inner(logs);
    frame.render_widget(block, logs);
    if d.logs.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled("No log lines yet.", DIM)),
            inside,
        );
        return;
    }
    let h = usize::from(inside.height);
    let end = d.logs.len().saturating_sub(d.log_scroll);
    let start = end.saturating_sub(h);
    let w = usize::from(inside.width);
    let lines: Vec<Line> = d.logs[start..end]
        .iter()
        .map(|l| {
            let color = match l.level.as_str() {
                "ERROR" => Color::Red,
                "WARN" => Color::Yellow,
                "DEBUG" | "TRACE" => Color::DarkGray,
                _ => Color::Reset,
            };
            Line::from(Span::styled(ellipsize(&crate::text::log_line(l), w), color))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inside);
}

/// The log pane's rows at least (and its borders): a run's detail always shows
/// some of its log, at 80x24 too.
const LOG_ROWS_MIN: u16 = 3;

/// The heights of the steps and errors panes in `avail` rows (the log gets
/// the rest): the last errors when they fit beside a few steps and the log's
/// minimum, then every step when they fit, else as many as fit (the table
/// scrolls).
fn pane_heights(avail: u16, steps: usize, errors: usize) -> (u16, u16) {
    let log_min = LOG_ROWS_MIN + 2;
    let steps_want = u16::try_from(steps).unwrap_or(u16::MAX).saturating_add(3);
    // Borders and header plus at least two steps, whatever the terminal.
    let steps_min = steps_want.min(5);
    let errors_want = if errors == 0 {
        0
    } else {
        u16::try_from(errors.min(3)).unwrap_or(3) + 2
    };
    let errors_h = if avail >= steps_min + log_min + errors_want {
        errors_want
    } else {
        0
    };
    let steps_h = steps_want
        .min(avail.saturating_sub(log_min + errors_h))
        .max(steps_min);
    (steps_h, errors_h)
}
