//! The definitions view: the list and the selected definition's detail
//! (steps, variables, priority, schedules with their next due time, the webhook's id).
//!
//! It may use the state ([`crate::tui::app`]), the text formats and the shared
//! widgets.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, TableState};
use ratatui::Frame;

use super::widgets::{inner, notice, paragraph_lines, table, DIM, HEADER};
use crate::text::{age, schedule_lines, show_value};
use crate::tui::app::App;

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
            Span::raw(crate::text::steps_line(&d.steps)),
        ]),
        Line::from(vec![Span::styled("Variables: ", HEADER), Span::raw(vars)]),
        Line::from(vec![
            Span::styled("Priority: ", HEADER),
            Span::raw(format!("{} (0-9; a start may choose another)", d.priority)),
        ]),
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

/// The definitions view: the list over the selected definition's detail.
pub(super) fn draw_definitions(frame: &mut Frame, app: &App, area: Rect) {
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
            Constraint::Length(3),
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
                        d.priority.to_string(),
                        d.description.clone(),
                    ],
                    Style::new(),
                )
            })
            .collect();
        let t = table(
            table_area,
            &constraints,
            &["Name", "Steps", "Pri", "Description"],
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
