//! The services view: events with their consumers, the selected event, every
//! endpoint's queues (depth, consumers, net rate between two looks) and the
//! service instances with their heartbeat.
//!
//! It may use the state ([`crate::tui::app`]), the text formats and the shared
//! widgets.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, TableState};
use ratatui::Frame;

use super::widgets::{ellipsize, inner, notice, paragraph_lines, table, HEADER};
use crate::text::age;
use crate::tui::app::App;

/// The selected event's pane: its borders and two lines.
const DETAIL_H: u16 = 4;

/// The events the events pane shows at least (when there are that many),
/// whatever the terminal: the queues and the instances scroll first.
const EVENT_ROWS_MIN: usize = 3;

/// The heights of the queues and the service instances panes in `h` rows
/// (the events get the rest): each as high as its rows, the queues up to a
/// quarter and the instances up to half of the view, then both shrunk
/// (instances first, down to a row each) until the events pane has room for
/// its header and [`EVENT_ROWS_MIN`] rows.
fn pane_heights(h: u16, events: usize, queues: usize, services: usize) -> (u16, u16) {
    let rows = |n: usize| u16::try_from(n).unwrap_or(u16::MAX).saturating_add(3);
    let mut services_h = rows(services).min(h / 2).max(4.min(h / 2));
    let mut queues_h = rows(queues).min(h / 4).max(3.min(h / 4));
    let events_min = rows(events.clamp(1, EVENT_ROWS_MIN));
    let spare = h.saturating_sub(DETAIL_H + events_min);
    // Borders, header and one row: the least a pane still shows of itself.
    let least = 4;
    while queues_h + services_h > spare {
        if services_h > least {
            services_h -= 1;
        } else if queues_h > least {
            queues_h -= 1;
        } else {
            break;
        }
    }
    (queues_h, services_h)
}

/// The services view: events, the selected event, queues, service instances.
pub(super) fn draw_services(frame: &mut Frame, app: &App, area: Rect) {
    let n_services = app.services.items.len();
    let (queues_h, services_h) = pane_heights(
        area.height,
        app.events.items.len(),
        app.queues.items.len(),
        n_services,
    );
    let [top, detail, queues, bottom] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(DETAIL_H),
        Constraint::Length(queues_h),
        Constraint::Length(services_h),
    ])
    .areas(area);
    draw_queues(frame, app, queues);

    draw_events(frame, app, top);
    draw_selected_event(frame, app, detail);
    draw_instances(frame, app, bottom);
}

/// The events with their consumers (and the services hosting them).
fn draw_events(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::bordered().title(format!(" Events ({}) ", app.events.items.len()));
    let inside = inner(area);
    frame.render_widget(block, area);
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
}

/// The selected event: its description and every consumer.
fn draw_selected_event(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::bordered().title(" Selected event ");
    let inside = inner(area);
    frame.render_widget(block, area);
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
}

/// The service instances and their heartbeats; a fleet longer than the
/// pane scrolls with [ and ].
fn draw_instances(frame: &mut Frame, app: &App, area: Rect) {
    let n_services = app.services.items.len();
    let count = |state: &str| {
        app.services
            .items
            .iter()
            .filter(|s| s.state() == state)
            .count()
    };
    let inside = inner(area);
    let visible = usize::from(inside.height.saturating_sub(1)).max(1);
    let offset = app.service_offset.min(n_services.saturating_sub(visible));
    let shown = if n_services > visible {
        format!(
            "; {}-{} of {n_services}, [ ] scroll",
            offset + 1,
            (offset + visible).min(n_services)
        )
    } else {
        String::new()
    };
    let late = match count("late") {
        0 => String::new(),
        n => format!(", {n} late"),
    };
    let block = Block::bordered().title(format!(
        " Service instances ({} alive{late}, {} gone{shown}) ",
        count("alive"),
        count("gone")
    ));
    frame.render_widget(block, area);
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
            let state = s.state();
            let style = match state {
                "alive" => Style::new().fg(Color::Green),
                "late" => Style::new().fg(Color::Yellow),
                _ => Style::new().fg(Color::DarkGray),
            };
            (
                vec![
                    s.record.name.clone(),
                    s.record.host.clone(),
                    s.record.pid.to_string(),
                    state.to_string(),
                    format!(
                        "{} ago",
                        age(chrono::Duration::seconds(s.heartbeat_age_secs))
                    ),
                    s.record.consumers.join(", "),
                ],
                style,
            )
        })
        .collect();
    let t = table(
        inside,
        &constraints,
        &["Service", "Host", "PID", "State", "Last seen", "Endpoints"],
        rows,
    );
    let mut state = TableState::default().with_offset(offset);
    frame.render_stateful_widget(t, inside, &mut state);
}

/// Every endpoint's queue and error queue: messages ready, consumers, and the
/// net rate (the change of ready messages per second since the look before);
/// and its skipped queue's messages.
fn draw_queues(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::bordered().title(format!(
        " Queues ({}; net/s: change of ready messages per second) ",
        app.queues.items.len()
    ));
    let inside = inner(area);
    frame.render_widget(block, area);
    if let Some(lines) = notice(
        app.queues.loaded,
        &app.queues.error,
        app.queues.items.is_empty(),
        "No endpoint recorded yet.",
    ) {
        frame.render_widget(paragraph_lines(lines), inside);
        if app.queues.items.is_empty() {
            return;
        }
    }
    let cells = |q: &crate::ops::QueueView| {
        if !q.exists {
            return ["-".to_string(), "-".to_string(), "none".to_string()];
        }
        [
            q.messages.to_string(),
            q.consumers.map_or_else(|| "?".into(), |c| c.to_string()),
            q.net_rate
                .map_or_else(|| "-".into(), |r| format!("{r:+.1}")),
        ]
    };
    let constraints = [
        Constraint::Fill(3),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Length(7),
        Constraint::Length(7),
    ];
    let rows = app
        .queues
        .items
        .iter()
        .map(|e| {
            let [m, c, r] = cells(&e.queue);
            let [em, ec, er] = cells(&e.error_queue);
            let style = if e.error_queue.messages > 0 {
                Style::new().fg(Color::Red)
            } else {
                Style::new()
            };
            let skipped = match &e.skipped_queue {
                q if q.exists => q.messages.to_string(),
                _ => "-".to_string(),
            };
            (
                vec![e.endpoint.clone(), m, c, r, em, ec, er, skipped],
                style,
            )
        })
        .collect();
    let t = table(
        inside,
        &constraints,
        &[
            "Endpoint", "Ready", "Cons", "Net/s", "Errors", "Cons", "Net/s", "Skipped",
        ],
        rows,
    );
    frame.render_widget(t, inside);
}
