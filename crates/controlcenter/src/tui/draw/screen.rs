//! The whole screen: [`draw`] lays out the tabs, the shown view, the open
//! dialog, the status line and the footer of keys.
//!
//! It may use the state ([`App`]), the shared widgets and the views.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs, Wrap};
use ratatui::Frame;

use super::definitions::draw_definitions;
use super::detail::draw_detail;
use super::dialogs::{draw_confirm, draw_signal, draw_start};
use super::errors::draw_errors;
use super::form::draw_form;
use super::help::draw_help;
use super::runs::draw_runs;
use super::services::draw_services;
use super::widgets::{ellipsize, width, DIM, HEADER};
use crate::tui::app::{
    footer_of, App, Modal, StatusKind, Tab, CONFIRM_KEYS, DEFINITIONS_KEYS, ERRORS_KEYS,
    FAULT_OPEN_KEYS, FAULT_SEARCH_KEYS, GLOBAL_KEYS, HELP_KEYS, RUNS_KEYS, RUN_DETAIL_KEYS,
    RUN_KEYS, RUN_SEARCH_KEYS, RUN_WHOLE_KEYS, SERVICES_KEYS, SIGNAL_KEYS, START_KEYS,
};
use crate::tui::form::Field;

/// The smallest terminal the UI draws in.
pub const MIN_WIDTH: u16 = 40;
/// The smallest terminal the UI draws in.
pub const MIN_HEIGHT: u16 = 10;

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
        Tab::Help => draw_help(frame, app.help_scroll, body),
    }
    match &app.modal {
        Some(Modal::Form(form)) => draw_form(frame, app, form, body),
        Some(Modal::Confirm(c)) => draw_confirm(frame, c, body),
        Some(Modal::Start(p)) => draw_start(frame, p, body),
        Some(Modal::Signal(p)) => draw_signal(frame, p, body),
        None => {}
    }
    draw_status(frame, app, status);
    draw_footer(frame, app, footer);
}

/// The tab bar.
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

/// The status line: the action in flight, then the last message.
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
        Some(Modal::Confirm(_)) => return footer_of(CONFIRM_KEYS).collect(),
        Some(Modal::Start(_)) => return footer_of(START_KEYS).collect(),
        Some(Modal::Signal(_)) => return footer_of(SIGNAL_KEYS).collect(),
        Some(Modal::Form(f)) => {
            if f.discard_asked {
                return vec![("y", "discard changes"), ("n", "keep editing")];
            }
            if f.picker.is_some() {
                return vec![
                    ("type", "filter"),
                    ("↑↓", "choose"),
                    ("Enter", "add step"),
                    ("Esc", "close"),
                ];
            }
            if f.step_edit.is_some() {
                return vec![
                    ("Tab/↑↓", "field"),
                    ("space", "optional"),
                    ("Enter", "apply"),
                    ("Esc", "cancel"),
                ];
            }
            let mut k = vec![("Ctrl-S", "save"), ("Tab", "next field"), ("Esc", "cancel")];
            if f.focus == Field::Steps {
                k.extend([
                    ("a", "add"),
                    ("Enter", "edit step"),
                    ("o", "optional"),
                    ("x", "remove"),
                    ("K/J", "move"),
                ]);
            }
            return k;
        }
        None => Vec::new(),
    };
    match app.tab {
        Tab::Services => keys.extend(footer_of(SERVICES_KEYS)),
        Tab::Definitions => keys.extend(footer_of(DEFINITIONS_KEYS)),
        Tab::Runs if app.detail.as_ref().is_some_and(|d| d.whole.is_some()) => {
            keys.extend(footer_of(RUN_WHOLE_KEYS))
        }
        Tab::Runs if app.detail.is_some() => {
            keys.extend(footer_of(RUN_DETAIL_KEYS));
            keys.extend(footer_of(RUN_KEYS));
        }
        Tab::Runs if app.run_search.editing => return footer_of(RUN_SEARCH_KEYS).collect(),
        Tab::Runs => {
            keys.extend(footer_of(RUNS_KEYS));
            keys.extend(footer_of(RUN_KEYS));
        }
        Tab::Errors if app.fault_open.is_some() => keys.extend(footer_of(FAULT_OPEN_KEYS)),
        Tab::Errors if app.fault_search.editing => return footer_of(FAULT_SEARCH_KEYS).collect(),
        Tab::Errors => keys.extend(footer_of(ERRORS_KEYS)),
        Tab::Help => keys.extend(footer_of(HELP_KEYS)),
    }
    keys.extend(footer_of(GLOBAL_KEYS));
    keys
}

/// The footer: as many of [`footer_keys`] as fit.
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
