//! The runs view: runs newest first under the status filter and the search
//! (typed after `/`), with their priority, duration and failed step, stuck
//! ones marked,
//! and the count of records the list skipped (they do not parse).
//!
//! It may use the state ([`crate::tui::app`]), the text formats and the shared
//! widgets.

use isoqube::RunStatus;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Table, TableState};
use ratatui::Frame;

use super::widgets::{
    inner, notice, paragraph_lines, progress, run_status_color, search_line, short_duration, table,
};
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
    let shown = app.visible_runs();
    let count = if app.run_search.is_active() {
        format!("{} of {}", shown.len(), app.runs.items.len())
    } else {
        app.runs.items.len().to_string()
    };
    let block = Block::bordered().title(format!(
        " Runs ({count}, newest first; filter: {}{marks}) ",
        filter_name(app.run_filter)
    ));
    let mut inside = inner(area);
    frame.render_widget(block, area);
    if app.run_search.editing || app.run_search.is_active() {
        let [line, rest] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inside);
        frame.render_widget(
            search_line(
                &app.run_search,
                "id, definition, status:, def:, KEY=VALUE, text",
                line.width,
            ),
            line,
        );
        inside = rest;
    }
    let empty_text = match app.run_filter {
        _ if app.run_search.is_active() && !app.runs.items.is_empty() => {
            "No loaded run matches the search (Esc clears it).".to_string()
        }
        None => "No runs yet: start one from Definitions (2, then s).".to_string(),
        Some(s) => format!("No {} runs (f changes the filter).", s.as_str()),
    };
    let mut table_area = inside;
    if let Some(lines) = notice(
        app.runs.loaded,
        &app.runs.error,
        shown.is_empty(),
        &empty_text,
    ) {
        let h = (lines.len() as u16 + 1).min(inside.height);
        let [msg, rest] =
            Layout::vertical([Constraint::Length(h), Constraint::Fill(1)]).areas(inside);
        frame.render_widget(paragraph_lines(lines), msg);
        table_area = rest;
    }
    if shown.is_empty() {
        return;
    }
    let t = runs_table(app, &shown, table_area);
    let mut state = TableState::default().with_selected(Some(app.run_selected));
    frame.render_stateful_widget(t, table_area, &mut state);
}

/// The runs' table in `area`: one row per run, coloured by status.
fn runs_table<'a>(app: &App, shown: &[&isoqube::Run], area: Rect) -> Table<'a> {
    // The priority and who started a run give way first in a narrow terminal.
    let narrow = area.width < 76;
    // Every status shown whole: the column is as wide as the longest shown
    // (`CompensationFailed` too), never cut.
    let status_w = shown
        .iter()
        .map(|r| status_text(app, r).0.len())
        .chain(["Status".len()])
        .max()
        .unwrap_or(6);
    // (header, width, shown in a narrow terminal)
    let columns = [
        ("Run", Constraint::Length(8), true),
        (
            "Status",
            Constraint::Length(u16::try_from(status_w).unwrap_or(18)),
            true,
        ),
        (
            "Definition",
            Constraint::Fill(if narrow { 2 } else { 3 }),
            true,
        ),
        ("Pri", Constraint::Length(3), false),
        ("Steps", Constraint::Length(5), true),
        ("Took", Constraint::Length(6), true),
        (
            "Failed step",
            Constraint::Fill(if narrow { 1 } else { 2 }),
            true,
        ),
        ("Age", Constraint::Length(4), true),
        ("Started by", Constraint::Fill(2), false),
    ];
    let shows = |i: usize| !narrow || columns[i].2;
    let constraints: Vec<Constraint> = (0..columns.len())
        .filter(|&i| shows(i))
        .map(|i| columns[i].1)
        .collect();
    let header: Vec<&str> = (0..columns.len())
        .filter(|&i| shows(i))
        .map(|i| columns[i].0)
        .collect();
    let rows = shown
        .iter()
        .map(|r| {
            let (status, style) = status_text(app, r);
            let cells = [
                short_id(&r.id),
                status.to_string(),
                r.definition.clone(),
                r.priority.to_string(),
                progress(r),
                run_took(r, app.now),
                failed_step(r),
                age(app.now - r.created_at),
                r.started_by.clone(),
            ];
            let cells = cells
                .into_iter()
                .enumerate()
                .filter(|(i, _)| shows(*i))
                .map(|(_, c)| c)
                .collect();
            (cells, style)
        })
        .collect();
    table(area, &constraints, &header, rows)
}

/// A run's status as its row shows it, with the row's style. A stuck run
/// is running by definition: the marker takes the status's place, in the
/// colour of a fault; a running run with a waiting step shows `Waiting`.
fn status_text(app: &App, r: &isoqube::Run) -> (&'static str, Style) {
    if app.is_stuck(r.id) {
        (
            "STUCK",
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        )
    } else if r.status == RunStatus::Running
        && r.steps
            .iter()
            .any(|s| s.status == isoqube::StepStatus::Waiting)
    {
        // Running, but only waiting for the outside world (its own status
        // stays Running): said, in the waiting step's colour.
        (
            "Waiting",
            Style::new().fg(super::widgets::step_status_color(
                isoqube::StepStatus::Waiting,
            )),
        )
    } else {
        (
            r.status.as_str(),
            Style::new().fg(run_status_color(r.status)),
        )
    }
}

/// How long the run took, or has been going (a run not finished yet).
fn run_took(r: &isoqube::Run, now: chrono::DateTime<chrono::Utc>) -> String {
    if r.status == RunStatus::Pending {
        return "-".into();
    }
    short_duration(r.finished_at.unwrap_or(now) - r.created_at)
}

/// The first failed step, numbered from 1: `#4 Build`; `-` when none failed.
fn failed_step(r: &isoqube::Run) -> String {
    r.steps
        .iter()
        .find(|s| s.status == isoqube::StepStatus::Failed)
        .map(|s| format!("#{} {}", s.index + 1, s.name()))
        .unwrap_or_else(|| "-".into())
}
