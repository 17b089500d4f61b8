//! The runs view: runs newest first under the status filter, stuck ones
//! marked, and the count of records the list skipped (they do not parse).
//!
//! It may use the state ([`crate::tui::app`]), the text formats and the shared
//! widgets.

use isoqube::RunStatus;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, TableState};
use ratatui::Frame;

use super::widgets::{inner, notice, paragraph_lines, progress, run_status_color, table};
use crate::text::age;
use crate::tui::app::{short_id, App};

/// The filter as the title names it.
fn filter_name(f: Option<RunStatus>) -> &'static str {
    f.map(RunStatus::as_str).unwrap_or("all")
}

/// The runs view: one row per run, coloured by status.
pub(super) fn draw_runs(frame: &mut Frame, app: &App, area: Rect) {
    let mut marks = String::new();
    let stuck = app.runs.items.iter().filter(|r| app.is_stuck(r.id)).count();
    if stuck > 0 {
        marks.push_str(&format!("; {stuck} STUCK"));
    }
    if !app.runs_corrupt.is_empty() {
        marks.push_str(&format!("; {} corrupt skipped", app.runs_corrupt.len()));
    }
    let block = Block::bordered().title(format!(
        " Runs ({}, newest first; filter: {}{marks}) ",
        app.runs.items.len(),
        filter_name(app.run_filter)
    ));
    let inside = inner(area);
    frame.render_widget(block, area);
    let empty_text = match app.run_filter {
        None => "No runs yet: start one from Definitions (2, then s).".to_string(),
        Some(s) => format!("No {} runs (f changes the filter).", s.as_str()),
    };
    let mut table_area = inside;
    if let Some(lines) = notice(
        app.runs.loaded,
        &app.runs.error,
        app.runs.items.is_empty(),
        &empty_text,
    ) {
        let h = (lines.len() as u16 + 1).min(inside.height);
        let [msg, rest] =
            Layout::vertical([Constraint::Length(h), Constraint::Fill(1)]).areas(inside);
        frame.render_widget(paragraph_lines(lines), msg);
        table_area = rest;
    }
    if app.runs.items.is_empty() {
        return;
    }
    let constraints = [
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Fill(2),
        Constraint::Length(8),
        Constraint::Length(4),
        Constraint::Fill(1),
    ];
    let rows = app
        .runs
        .items
        .iter()
        .map(|r| {
            // A stuck run is running by definition: the marker takes the
            // status's place, in the colour of a fault.
            let (status, style) = if app.is_stuck(r.id) {
                (
                    "STUCK",
                    Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
                )
            } else {
                (
                    r.status.as_str(),
                    Style::new().fg(run_status_color(r.status)),
                )
            };
            (
                vec![
                    short_id(&r.id),
                    status.to_string(),
                    r.definition.clone(),
                    progress(r),
                    age(app.now - r.created_at),
                    r.started_by.clone(),
                ],
                style,
            )
        })
        .collect();
    let t = table(
        table_area,
        &constraints,
        &[
            "Run",
            "Status",
            "Definition",
            "Progress",
            "Age",
            "Started by",
        ],
        rows,
    );
    let mut state = TableState::default().with_selected(Some(app.run_selected));
    frame.render_stateful_widget(t, table_area, &mut state);
}
