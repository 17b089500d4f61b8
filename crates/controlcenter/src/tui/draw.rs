//! Rendering: [`draw`] paints an [`App`] onto a frame and reads nothing else,
//! so every screen can be checked with ratatui's `TestBackend`. Long texts are
//! cut with `…` to their column; below 40x10 only a "terminal too small" notice
//! is drawn.

use chrono::{DateTime, Utc};
use isoqube::{Run, RunStatus, StepStatus};
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Clear, HighlightSpacing, List, ListItem, ListState, Paragraph, Row, Table, TableState,
    Tabs, Wrap,
};
use ratatui::Frame;

use super::app::{short_id, App, Modal, RunDetail, StatusKind, Tab};
use super::form::{DefinitionForm, Field, TextInput};
use crate::text::{age, schedule_lines, show_value};

/// The smallest terminal the UI draws in.
pub const MIN_WIDTH: u16 = 40;
/// The smallest terminal the UI draws in.
pub const MIN_HEIGHT: u16 = 10;

const SELECTED: Style = Style::new().add_modifier(Modifier::REVERSED);
const HEADER: Style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
const DIM: Style = Style::new().fg(Color::DarkGray);

/// The display width of a string.
fn width(s: &str) -> usize {
    Span::raw(s).width()
}

/// Cuts `s` to `max` columns, ending with `…` when it was longer.
///
/// ```
/// use controlcenter::tui::draw::ellipsize;
/// assert_eq!(ellipsize("release-pipeline", 8), "release…");
/// assert_eq!(ellipsize("short", 8), "short");
/// assert_eq!(ellipsize("abc", 0), "");
/// ```
pub fn ellipsize(s: &str, max: usize) -> String {
    let s = s.replace(['\n', '\r', '\t'], " ");
    if width(&s) <= max {
        return s;
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    let mut buf = [0u8; 4];
    for c in s.chars() {
        let w = width(c.encode_utf8(&mut buf));
        if used + w + 1 > max {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// A short duration: `850ms`, `3.2s`, `2m05s`, `1h02m`.
///
/// ```
/// use controlcenter::tui::draw::short_duration;
/// assert_eq!(short_duration(chrono::Duration::milliseconds(3200)), "3.2s");
/// assert_eq!(short_duration(chrono::Duration::seconds(125)), "2m05s");
/// ```
pub fn short_duration(d: chrono::Duration) -> String {
    let ms = d.num_milliseconds().max(0);
    match ms {
        0..=999 => format!("{ms}ms"),
        1000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

fn run_status_color(s: RunStatus) -> Color {
    match s {
        RunStatus::Pending => Color::Gray,
        RunStatus::Running => Color::Cyan,
        RunStatus::Succeeded => Color::Green,
        RunStatus::Failed => Color::Red,
        RunStatus::Cancelled => Color::Magenta,
    }
}

fn step_status_color(s: StepStatus) -> Color {
    match s {
        StepStatus::Pending | StepStatus::Skipped => Color::Gray,
        StepStatus::Invoked => Color::Cyan,
        StepStatus::Succeeded => Color::Green,
        StepStatus::Failed => Color::Red,
        StepStatus::Cancelled => Color::Magenta,
    }
}

/// `k/n`: succeeded steps of all steps.
pub fn progress(run: &Run) -> String {
    let done = run
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Succeeded)
        .count();
    format!("{done}/{}", run.steps.len())
}

/// The widths a [`Table`] gives its columns in `total` columns (spacing 1, no
/// selection column).
fn column_widths(total: u16, constraints: &[Constraint]) -> Vec<usize> {
    Layout::horizontal(constraints.iter().copied())
        .flex(Flex::Start)
        .spacing(1)
        .split(Rect::new(0, 0, total, 1))
        .iter()
        .map(|r| usize::from(r.width))
        .collect()
}

/// A table whose cells are cut to their column widths.
fn table<'a>(
    area: Rect,
    constraints: &[Constraint],
    header: &[&str],
    rows: Vec<(Vec<String>, Style)>,
) -> Table<'a> {
    let widths = column_widths(area.width, constraints);
    let cut = |cells: Vec<String>| -> Vec<String> {
        cells
            .iter()
            .zip(widths.iter())
            .map(|(c, w)| ellipsize(c, *w))
            .collect()
    };
    let header = Row::new(cut(header.iter().map(|h| h.to_string()).collect())).style(HEADER);
    let rows: Vec<Row> = rows
        .into_iter()
        .map(|(cells, style)| Row::new(cut(cells)).style(style))
        .collect();
    Table::new(rows, constraints.to_vec())
        .header(header)
        .column_spacing(1)
        .flex(Flex::Start)
        .highlight_spacing(HighlightSpacing::Never)
        .row_highlight_style(SELECTED)
}

fn inner(area: Rect) -> Rect {
    Block::bordered().inner(area)
}

fn paragraph_lines(lines: Vec<Line<'static>>) -> Paragraph<'static> {
    Paragraph::new(lines).wrap(Wrap { trim: false })
}

/// Paints the whole UI for `app`.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "terminal too small ({}x{}); need at least {MIN_WIDTH}x{MIN_HEIGHT}. q quits",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let [header, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_tabs(frame, app, header);
    match app.tab {
        Tab::Services => draw_services(frame, app, body),
        Tab::Definitions => draw_definitions(frame, app, body),
        Tab::Runs => match &app.detail {
            Some(d) => draw_detail(frame, app, d, body),
            None => draw_runs(frame, app, body),
        },
        Tab::Errors => draw_errors(frame, app, body),
        Tab::Help => draw_help(frame, body),
    }
    match &app.modal {
        Some(Modal::Form(form)) => draw_form(frame, app, form, body),
        Some(Modal::Confirm(c)) => {
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
        Some(Modal::Start(p)) => {
            let defaults = if p.defaults.is_empty() {
                "none".to_string()
            } else {
                p.defaults
                    .iter()
                    .map(|(k, v)| format!("{k}={}", show_value(v)))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let mut lines = vec![
                Line::from(format!("Start a run of '{}'.", p.definition)),
                Line::from(Span::styled(format!("defaults: {defaults}"), DIM)),
                Line::from("Variables (KEY=VALUE,KEY=VALUE; empty for none):"),
                Line::from(format!("> {}█", p.input.text)),
            ];
            if let Some(e) = &p.error {
                lines.push(Line::from(Span::styled(format!("✗ {e}"), Color::Red)));
            }
            lines.push(Line::from(Span::styled("Enter start   Esc cancel", DIM)));
            draw_dialog(frame, body, " Start run ", lines, 70);
        }
        None => {}
    }
    draw_status(frame, app, status);
    draw_footer(frame, app, footer);
}

fn draw_tabs(frame: &mut Frame, app: &App, area: Rect) {
    let titles: Vec<&str> = Tab::ALL.iter().map(|t| t.title()).collect();
    let selected = Tab::ALL.iter().position(|t| *t == app.tab);
    let tabs = Tabs::new(titles)
        .select(selected)
        .style(DIM)
        .highlight_style(
            Style::new()
                .fg(Color::White)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        )
        .divider("|")
        .padding(" ", " ");
    frame.render_widget(tabs, area);
}

fn draw_status(frame: &mut Frame, app: &App, area: Rect) {
    let mut text = String::new();
    let mut style = Style::new();
    if let Some(busy) = &app.busy {
        text = format!("… {busy}");
        style = style.fg(Color::Yellow);
    }
    if let Some(s) = &app.status {
        if !text.is_empty() {
            text.push_str("  ");
        }
        match s.kind {
            StatusKind::Info => {
                text.push_str(&format!("✓ {}", s.text));
                style = style.fg(Color::Green);
            }
            StatusKind::Error => {
                text.push_str(&format!("✗ error: {}", s.text));
                style = style.fg(Color::Red).add_modifier(Modifier::BOLD);
            }
        }
    }
    let line = Span::styled(ellipsize(&text, usize::from(area.width)), style);
    frame.render_widget(Paragraph::new(line), area);
}

/// The keys of the current context, as `(key, what)` pairs.
pub fn footer_keys(app: &App) -> Vec<(&'static str, &'static str)> {
    let mut keys: Vec<(&str, &str)> = match &app.modal {
        Some(Modal::Confirm(_)) => return vec![("y", "yes"), ("n/Esc", "no")],
        Some(Modal::Start(_)) => return vec![("Enter", "start"), ("Esc", "cancel")],
        Some(Modal::Form(f)) => {
            if f.picker.is_some() {
                return vec![("↑↓", "choose"), ("Enter", "add step"), ("Esc", "close")];
            }
            let mut k = vec![("Ctrl-S", "save"), ("Tab", "next field"), ("Esc", "cancel")];
            if f.focus == Field::Steps {
                k.extend([("a", "add"), ("x", "remove"), ("K/J", "move")]);
            }
            return k;
        }
        None => Vec::new(),
    };
    match app.tab {
        Tab::Services => keys.push(("↑↓", "select")),
        Tab::Definitions => keys.extend([
            ("n", "new"),
            ("e", "edit"),
            ("d", "delete"),
            ("s", "start run"),
        ]),
        Tab::Runs if app.detail.is_some() => keys.extend([
            ("Esc", "back"),
            ("↑↓", "scroll logs"),
            ("r", "re-run"),
            ("u", "resume"),
            ("c", "cancel"),
        ]),
        Tab::Runs => keys.extend([
            ("Enter", "open"),
            ("f", "filter"),
            ("r", "re-run"),
            ("u", "resume"),
            ("c", "cancel"),
        ]),
        Tab::Errors => keys.extend([("↑↓", "select"), ("r", "requeue"), ("d", "discard")]),
        Tab::Help => keys.push(("Esc", "back")),
    }
    keys.extend([("1-4", "views"), ("?", "help"), ("q", "quit")]);
    keys
}

fn draw_footer(frame: &mut Frame, app: &App, area: Rect) {
    let mut spans = Vec::new();
    let mut used = 0usize;
    let w = usize::from(area.width);
    for (k, what) in footer_keys(app) {
        let piece = width(k) + 1 + width(what) + 2;
        if used + piece > w {
            spans.push(Span::styled("…", DIM));
            break;
        }
        spans.push(Span::styled(k, HEADER));
        spans.push(Span::styled(format!(" {what}  "), DIM));
        used += piece;
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A message inside a view's block: loading, an error, or the empty state.
fn notice(
    app_loaded: bool,
    error: &Option<String>,
    empty: bool,
    empty_text: &str,
) -> Option<Vec<Line<'static>>> {
    let mut lines = Vec::new();
    if let Some(e) = error {
        lines.push(Line::from(Span::styled(
            format!("✗ could not load: {e}"),
            Color::Red,
        )));
    }
    if !app_loaded {
        lines.push(Line::from("Loading…"));
    } else if empty && error.is_none() {
        lines.push(Line::from(empty_text.to_string()));
    }
    (!lines.is_empty()).then_some(lines)
}

fn draw_services(frame: &mut Frame, app: &App, area: Rect) {
    let n_services = app.services.items.len();
    let half = area.height / 2;
    let services_h = (n_services as u16 + 3).min(half).max(4.min(half));
    let [top, detail, bottom] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(4),
        Constraint::Length(services_h),
    ])
    .areas(area);

    // Events
    let block = Block::bordered().title(format!(" Events ({}) ", app.events.items.len()));
    let inside = inner(top);
    frame.render_widget(block, top);
    let mut table_area = inside;
    if let Some(lines) = notice(
        app.events.loaded,
        &app.events.error,
        app.events.items.is_empty(),
        "No events recorded yet: start a service; it records its events and consumers.",
    ) {
        let h = (lines.len() as u16 + 1).min(inside.height);
        let [msg, rest] =
            Layout::vertical([Constraint::Length(h), Constraint::Fill(1)]).areas(inside);
        frame.render_widget(paragraph_lines(lines), msg);
        table_area = rest;
    }
    if !app.events.items.is_empty() {
        let constraints = [
            Constraint::Fill(2),
            Constraint::Fill(2),
            Constraint::Fill(3),
        ];
        let rows = app
            .events
            .items
            .iter()
            .map(|e| {
                let consumers = if e.consumers.is_empty() {
                    "(no consumer)".to_string()
                } else {
                    e.consumers
                        .iter()
                        .map(|c| {
                            if c.services.is_empty() {
                                c.endpoint.clone()
                            } else {
                                format!("{} [{}]", c.endpoint, c.services.join(","))
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                (
                    vec![e.name.clone(), e.exchange.clone(), consumers],
                    Style::new(),
                )
            })
            .collect();
        let t = table(
            table_area,
            &constraints,
            &["Event", "Exchange", "Consumers [services]"],
            rows,
        );
        let mut state = TableState::default().with_selected(Some(app.event_selected));
        frame.render_stateful_widget(t, table_area, &mut state);
    }

    // Selected event: description and every consumer.
    let block = Block::bordered().title(" Selected event ");
    let inside = inner(detail);
    frame.render_widget(block, detail);
    if let Some(e) = app.events.items.get(app.event_selected) {
        let w = usize::from(inside.width);
        let desc = if e.description.is_empty() {
            "(no description)"
        } else {
            &e.description
        };
        let consumers = if e.consumers.is_empty() {
            "none".to_string()
        } else {
            e.consumers
                .iter()
                .map(|c| {
                    let hosts = if c.services.is_empty() {
                        "not hosted by a recorded service".to_string()
                    } else {
                        c.services.join(", ")
                    };
                    format!("{} ({hosts})", c.endpoint)
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let lines = vec![
            Line::from(ellipsize(&format!("{}: {desc}", e.name), w)),
            Line::from(vec![
                Span::styled("Consumers: ", HEADER),
                Span::raw(ellipsize(&consumers, w.saturating_sub(11))),
            ]),
        ];
        frame.render_widget(Paragraph::new(lines), inside);
    }

    // Services
    let alive = app.services.items.iter().filter(|s| s.alive).count();
    let block = Block::bordered().title(format!(
        " Service instances ({alive} alive, {} gone) ",
        n_services - alive
    ));
    let inside = inner(bottom);
    frame.render_widget(block, bottom);
    if let Some(lines) = notice(
        app.services.loaded,
        &app.services.error,
        app.services.items.is_empty(),
        "No service has registered yet.",
    ) {
        frame.render_widget(paragraph_lines(lines), inside);
        if app.services.items.is_empty() {
            return;
        }
    }
    let constraints = [
        Constraint::Fill(2),
        Constraint::Fill(2),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Length(9),
        Constraint::Fill(2),
    ];
    let rows = app
        .services
        .items
        .iter()
        .map(|s| {
            let (state, style) = if s.alive {
                ("alive", Style::new().fg(Color::Green))
            } else {
                ("gone", Style::new().fg(Color::DarkGray))
            };
            (
                vec![
                    s.record.name.clone(),
                    s.record.host.clone(),
                    s.record.pid.to_string(),
                    state.to_string(),
                    age(chrono::Duration::seconds(s.heartbeat_age_secs)),
                    s.record.consumers.join(", "),
                ],
                style,
            )
        })
        .collect();
    let t = table(
        inside,
        &constraints,
        &["Service", "Host", "PID", "State", "Heartbeat", "Endpoints"],
        rows,
    );
    frame.render_widget(t, inside);
}

/// The lines of the selected definition's detail: steps, variables, each
/// schedule with its next due time, the webhook's id (never its secret).
fn definition_lines(app: &App) -> Vec<Line<'static>> {
    let Some(d) = app.selected_definition() else {
        return Vec::new();
    };
    let vars = if d.variables.is_empty() {
        "none".to_string()
    } else {
        d.variables
            .iter()
            .map(|(k, v)| format!("{k}={}", show_value(v)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled("Name: ", HEADER),
            Span::raw(d.name.clone()),
        ]),
        Line::from(vec![
            Span::styled("Steps: ", HEADER),
            Span::raw(d.steps.join(" → ")),
        ]),
        Line::from(vec![Span::styled("Variables: ", HEADER), Span::raw(vars)]),
    ];
    if let Some(hook) = &d.webhook {
        lines.push(Line::from(vec![
            Span::styled("Webhook: ", HEADER),
            Span::raw(format!("POST /hooks/{}", hook.id)),
        ]));
    }
    let schedules = schedule_lines(d, app.now);
    if schedules.is_empty() {
        lines.push(Line::from(vec![
            Span::styled("Schedules: ", HEADER),
            Span::raw("none"),
        ]));
    }
    for (s, text) in d.schedules.iter().zip(schedules) {
        let text = text.strip_prefix("schedule ").unwrap_or(&text).to_string();
        let style = if s.enabled { Style::new() } else { DIM };
        lines.push(Line::from(vec![
            Span::styled("Schedule ", HEADER),
            Span::styled(text, style),
        ]));
    }
    lines.push(Line::from(vec![
        Span::styled("Modified: ", HEADER),
        Span::raw(format!("{} ago", age(app.now - d.modified_at))),
    ]));
    lines
}

fn draw_definitions(frame: &mut Frame, app: &App, area: Rect) {
    let detail_lines = definition_lines(app);
    let inner_w = usize::from(area.width.saturating_sub(2)).max(1);
    let wrapped: usize = detail_lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_w))
        .sum();
    // The detail grows with the schedules but leaves the list room for its
    // rows (up to five of them).
    let list_h = u16::try_from(app.definitions.items.len() + 3)
        .unwrap_or(u16::MAX)
        .clamp(5, 8);
    let cap = area.height.saturating_sub(list_h).max(7);
    let detail_h = u16::try_from(wrapped + 2).unwrap_or(u16::MAX).clamp(7, cap);
    let [list, detail] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(detail_h)]).areas(area);
    let block = Block::bordered().title(format!(" Definitions ({}) ", app.definitions.items.len()));
    let inside = inner(list);
    frame.render_widget(block, list);
    let mut table_area = inside;
    if let Some(lines) = notice(
        app.definitions.loaded,
        &app.definitions.error,
        app.definitions.items.is_empty(),
        "No definitions yet: press n to create one.",
    ) {
        let h = (lines.len() as u16 + 1).min(inside.height);
        let [msg, rest] =
            Layout::vertical([Constraint::Length(h), Constraint::Fill(1)]).areas(inside);
        frame.render_widget(paragraph_lines(lines), msg);
        table_area = rest;
    }
    if !app.definitions.items.is_empty() {
        let constraints = [
            Constraint::Fill(2),
            Constraint::Length(5),
            Constraint::Fill(3),
        ];
        let rows = app
            .definitions
            .items
            .iter()
            .map(|d| {
                (
                    vec![
                        d.name.clone(),
                        d.steps.len().to_string(),
                        d.description.clone(),
                    ],
                    Style::new(),
                )
            })
            .collect();
        let t = table(
            table_area,
            &constraints,
            &["Name", "Steps", "Description"],
            rows,
        );
        let mut state = TableState::default().with_selected(Some(app.definition_selected));
        frame.render_stateful_widget(t, table_area, &mut state);
    }

    let block = Block::bordered().title(" Selected definition ");
    let inside = inner(detail);
    frame.render_widget(block, detail);
    if !detail_lines.is_empty() {
        frame.render_widget(paragraph_lines(detail_lines), inside);
    }
}

fn filter_name(f: Option<RunStatus>) -> &'static str {
    f.map(RunStatus::as_str).unwrap_or("all")
}

fn draw_runs(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::bordered().title(format!(
        " Runs ({}, newest first; filter: {}) ",
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
            (
                vec![
                    short_id(&r.id),
                    r.status.as_str().to_string(),
                    r.definition.clone(),
                    progress(r),
                    age(app.now - r.created_at),
                    r.started_by.clone(),
                ],
                Style::new().fg(run_status_color(r.status)),
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

fn draw_detail(frame: &mut Frame, app: &App, d: &RunDetail, area: Rect) {
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
    let steps_h = (run.steps.len() as u16 + 3).min(area.height.saturating_sub(head_h + 3) / 2 + 3);
    let errors_h = if errors.is_empty() {
        0
    } else {
        (errors.len() as u16).min(3) + 2
    };
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

    let block = Block::bordered().title(" Steps ");
    let inside = inner(steps);
    frame.render_widget(block, steps);
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
                    s.event.clone(),
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
    frame.render_widget(t, inside);

    if !errors.is_empty() {
        let block = Block::bordered().title(" Last errors ");
        let inside = inner(errs);
        frame.render_widget(block, errs);
        let w = usize::from(inside.width);
        let lines: Vec<Line> = errors
            .iter()
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

fn draw_errors(frame: &mut Frame, app: &App, area: Rect) {
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
                let run = match (&f.run_id, f.step) {
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
                "new / edit (Tab moves between fields, Ctrl-S saves)",
            ),
            (
                "steps: a x K J",
                "add from recorded events, remove, move up/down",
            ),
            ("variables", "one KEY=VALUE per line (JSON values or text)"),
            (
                "schedules",
                "one per line: ID=every:SECS, ID=cron:EXPR@TZ or ID=at:TIME (+;missed=run-once)",
            ),
            ("d", "delete (asks y/n)"),
            ("s", "start a run (variables as KEY=VALUE,...)"),
        ],
    ),
    (
        "Runs",
        &[
            ("Enter / Esc", "open a run's live detail / back to the list"),
            ("f", "filter by status (all, Pending, Running, ...)"),
            ("r u c", "re-run, resume a failed run, cancel a running one"),
        ],
    ),
    (
        "Error queue",
        &[("r / d", "requeue the message to its endpoint / discard it")],
    ),
];

fn draw_help(frame: &mut Frame, area: Rect) {
    let block = Block::bordered().title(" Help ");
    let inside = inner(area);
    frame.render_widget(block, area);
    let mut lines = Vec::new();
    for (section, keys) in HELP {
        lines.push(Line::from(Span::styled(*section, HEADER)));
        for (k, what) in *keys {
            lines.push(Line::from(vec![
                Span::styled(format!("  {k:<17}"), Style::new().bold()),
                Span::raw(*what),
            ]));
        }
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inside);
}

fn centered(area: Rect, max_width: u16, height: u16) -> Rect {
    let w = max_width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn draw_dialog(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    lines: Vec<Line<'static>>,
    max_width: u16,
) {
    let w = max_width.min(area.width);
    let inner_w = usize::from(w.saturating_sub(2)).max(1);
    let height: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_w))
        .sum();
    let rect = centered(area, max_width, height as u16 + 2);
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .title(title.to_string())
        .border_style(Style::new().fg(Color::Yellow));
    let inside = inner(rect);
    frame.render_widget(block, rect);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inside);
}

fn draw_form(frame: &mut Frame, app: &App, form: &DefinitionForm, area: Rect) {
    frame.render_widget(Clear, area);
    let title = match &form.original {
        Some(d) => format!(" Edit definition '{}' ", ellipsize(&d.name, 40)),
        None => " New definition ".to_string(),
    };
    let block = Block::bordered()
        .title(title)
        .border_style(Style::new().fg(Color::Yellow));
    let inside = inner(area);
    frame.render_widget(block, area);
    let error_h = match &form.error {
        // Room for the whole message (a bad schedule line quotes the line).
        Some(e) => {
            let w = usize::from(inside.width).max(1);
            u16::try_from((width(e) + 2).div_ceil(w).clamp(1, 3)).unwrap_or(3)
        }
        None if form.saving => 1,
        None => 0,
    };
    let [name, desc, steps_label, steps, vars_label, vars, sched_label, sched, err] =
        Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Fill(3),
            Constraint::Length(1),
            Constraint::Fill(2),
            Constraint::Length(1),
            Constraint::Fill(2),
            Constraint::Length(error_h),
        ])
        .areas(inside);
    let label = |field: Field, text: &str| -> Span<'static> {
        if form.focus == field {
            Span::styled(format!("▸ {text}"), HEADER.add_modifier(Modifier::REVERSED))
        } else {
            Span::styled(format!("  {text}"), HEADER)
        }
    };
    let w = usize::from(inside.width);
    let input_line = |field: Field, text: &str, input: &str, fixed: bool| -> Line<'static> {
        let cursor = if form.focus == field && !fixed {
            "█"
        } else {
            ""
        };
        let suffix = if fixed { " (fixed)" } else { "" };
        let room = w.saturating_sub(width(text) + 3 + width(suffix));
        // Keep the end (where the cursor is) visible.
        let shown = format!("{input}{cursor}");
        let shown = if width(&shown) > room && room > 1 {
            let chars: Vec<char> = shown.chars().collect();
            let keep: String = chars[chars.len().saturating_sub(room - 1)..]
                .iter()
                .collect();
            format!("…{keep}")
        } else {
            shown
        };
        Line::from(vec![
            label(field, text),
            Span::raw(" "),
            Span::raw(shown),
            Span::styled(suffix, DIM),
        ])
    };
    frame.render_widget(
        Paragraph::new(input_line(
            Field::Name,
            "Name:",
            &form.name.text,
            !form.is_new(),
        )),
        name,
    );
    frame.render_widget(
        Paragraph::new(input_line(
            Field::Description,
            "Description:",
            &form.description.text,
            false,
        )),
        desc,
    );
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            label(Field::Steps, "Steps:"),
            Span::styled(
                ellipsize(
                    &format!(" {} (a add, x remove, K/J move)", form.steps.len()),
                    w.saturating_sub(9),
                ),
                DIM,
            ),
        ])),
        steps_label,
    );
    if form.steps.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled("    none yet: press a to pick an event", DIM)),
            steps,
        );
    } else {
        let items: Vec<ListItem> = form
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| ListItem::new(ellipsize(&format!("    {}. {s}", i + 1), w)))
            .collect();
        let list = List::new(items).highlight_style(if form.focus == Field::Steps {
            SELECTED
        } else {
            Style::new()
        });
        let mut state = ListState::default().with_selected(Some(form.step_selected));
        frame.render_stateful_widget(list, steps, &mut state);
    }
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            label(Field::Variables, "Default variables:"),
            Span::styled(" one KEY=VALUE per line", DIM),
        ])),
        vars_label,
    );
    // A several-line input: its last lines (where the cursor is) stay visible.
    let multiline = |field: Field, input: &TextInput, area: Rect| -> Paragraph<'static> {
        let mut lines: Vec<String> = input.text.split('\n').map(|l| format!("    {l}")).collect();
        if form.focus == field {
            if let Some(last) = lines.last_mut() {
                last.push('█');
            }
        }
        let start = lines.len().saturating_sub(usize::from(area.height));
        let lines: Vec<Line> = lines[start..]
            .iter()
            .map(|l| Line::from(ellipsize(l, w)))
            .collect();
        Paragraph::new(lines)
    };
    frame.render_widget(multiline(Field::Variables, &form.variables, vars), vars);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            label(Field::Schedules, "Schedules:"),
            Span::styled(
                ellipsize(
                    " one per line: ID=every:SECS | ID=cron:EXPR@TZ | ID=at:TIME",
                    w.saturating_sub(13),
                ),
                DIM,
            ),
        ])),
        sched_label,
    );
    frame.render_widget(multiline(Field::Schedules, &form.schedules, sched), sched);
    if let Some(e) = &form.error {
        frame.render_widget(
            Paragraph::new(Span::styled(format!("✗ {e}"), Color::Red)).wrap(Wrap { trim: false }),
            err,
        );
    } else if form.saving {
        frame.render_widget(Paragraph::new(Span::styled("… saving", Color::Yellow)), err);
    }

    if let Some(sel) = form.picker {
        let events = &app.events.items;
        let rect = centered(area, 64, (events.len() as u16 + 2).max(5));
        frame.render_widget(Clear, rect);
        let block = Block::bordered()
            .title(" Pick an event (Enter adds) ")
            .border_style(Style::new().fg(Color::Cyan));
        let inside = inner(rect);
        frame.render_widget(block, rect);
        let iw = usize::from(inside.width);
        let items: Vec<ListItem> = events
            .iter()
            .map(|e| {
                let text = if e.description.is_empty() {
                    e.name.clone()
                } else {
                    format!("{} - {}", e.name, e.description)
                };
                ListItem::new(ellipsize(&text, iw))
            })
            .collect();
        let list = List::new(items).highlight_style(SELECTED);
        let mut state = ListState::default().with_selected(Some(sel));
        frame.render_stateful_widget(list, inside, &mut state);
    }
}
