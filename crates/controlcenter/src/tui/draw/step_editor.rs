//! What opens over the definition form for one step: the event picker (the
//! filter typed, the events it lets through, the steps added so far) and the
//! step editor (name, `after`, `compensate`, `timeout`, `optional`, wait, `correlate`).
//!
//! It may use the form's state ([`crate::tui::form`],
//! [`crate::tui::step_editor`]) and the shared widgets.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;

use super::widgets::{centered, ellipsize, inner, width, DIM, HEADER, SELECTED};
use crate::ops::EventView;
use crate::tui::form::DefinitionForm;
use crate::tui::step_editor::{EventPicker, StepEditor, StepField};

/// The picker over `area`: a filter line, the matching events, and what was
/// added since it opened.
pub(super) fn draw_picker(frame: &mut Frame, events: &[EventView], p: &EventPicker, area: Rect) {
    let shown = p.shown(events);
    let rows = u16::try_from(shown.len()).unwrap_or(u16::MAX).max(1);
    let rect = centered(area, 64, rows.saturating_add(4).max(6));
    frame.render_widget(Clear, rect);
    let title = if p.added.is_empty() {
        " Pick events (type to filter; Enter adds; Esc closes) ".to_string()
    } else {
        format!(" Added {}; Enter adds more, Esc closes ", p.added.len())
    };
    let block = Block::bordered()
        .title(title)
        .border_style(Style::new().fg(Color::Cyan));
    let inside = inner(rect);
    frame.render_widget(block, rect);
    let [filter, list, added] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(inside);
    let iw = usize::from(inside.width);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("Filter: ", HEADER),
            Span::raw(format!("{}█", p.filter.text)),
            Span::styled(format!("  {} of {}", shown.len(), events.len()), DIM),
        ])),
        filter,
    );
    if shown.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "no event matches (Backspace or Ctrl-U edits the filter)",
                DIM,
            )),
            list,
        );
    } else {
        let items: Vec<ListItem> = shown
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
        let mut state = ListState::default().with_selected(Some(p.selected.min(shown.len() - 1)));
        frame.render_stateful_widget(List::new(items).highlight_style(SELECTED), list, &mut state);
    }
    if !p.added.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled(
                ellipsize(&format!("added: {}", p.added.join(", ")), iw),
                Color::Green,
            )),
            added,
        );
    }
}

/// The step editor over `area`: one line per field, a hint for the focused
/// one, and why Enter was refused.
pub(super) fn draw_step_editor(
    frame: &mut Frame,
    form: &DefinitionForm,
    e: &StepEditor,
    area: Rect,
) {
    let rect = centered(area, 72, 15);
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .title(format!(
            " Step {} ({}): Enter applies, Esc cancels ",
            e.index + 1,
            e.event
        ))
        .border_style(Style::new().fg(Color::Cyan));
    let inside = inner(rect);
    frame.render_widget(block, rect);
    let w = usize::from(inside.width);
    let mut lines = Vec::new();
    for field in StepField::ALL {
        let (label, value) = match field {
            StepField::Name => ("Name", e.name.text.clone()),
            StepField::After => ("After", e.after.text.clone()),
            StepField::Compensate => ("Compensate", e.compensate.text.clone()),
            StepField::Timeout => ("Timeout", e.timeout.text.clone()),
            StepField::Optional => (
                "Optional",
                if e.optional { "[x] yes" } else { "[ ] no" }.into(),
            ),
            StepField::Wait => (
                "Wait",
                if e.wait {
                    "[x] waits for its event (a signal)"
                } else {
                    "[ ] no: publishes its event"
                }
                .into(),
            ),
            StepField::Correlate => ("Correlate", e.correlate.text.clone()),
        };
        let focused = e.focus == field;
        let label = if focused {
            Span::styled(
                format!("▸ {label:<11}"),
                HEADER.add_modifier(Modifier::REVERSED),
            )
        } else {
            Span::styled(format!("  {label:<11}"), HEADER)
        };
        let cursor = if focused && !field.is_toggle() {
            "█"
        } else {
            ""
        };
        let room = w.saturating_sub(14);
        let value = format!("{value}{cursor}");
        let value = if width(&value) > room && room > 1 {
            // Keep the end (where the cursor is) visible.
            let chars: Vec<char> = value.chars().collect();
            let keep: String = chars[chars.len().saturating_sub(room - 1)..]
                .iter()
                .collect();
            format!("…{keep}")
        } else {
            value
        };
        lines.push(Line::from(vec![label, Span::raw(" "), Span::raw(value)]));
    }
    let hint = field_hint(form, e);
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(hint, DIM)));
    if let Some(err) = &e.error {
        lines.push(Line::from(Span::styled(format!("✗ {err}"), Color::Red)));
    }
    lines.push(Line::from(Span::styled(
        "Tab/↑↓ field; the model checks names and events on save (Ctrl-S)",
        DIM,
    )));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inside);
}

/// What the focused field takes, under the fields.
fn field_hint(form: &DefinitionForm, e: &StepEditor) -> String {
    let names: Vec<&str> = form
        .steps
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != e.index)
        .map(|(_, s)| s.name())
        .collect();
    match e.focus {
        StepField::Name => {
            "blank: the event's name; needed when an event is in two steps".to_string()
        }
        StepField::After => format!(
            "names, comma-separated; blank: the step before; start: at the start. Steps: {}",
            names.join(", ")
        ),
        StepField::Compensate => "the event that undoes this step, or blank".to_string(),
        StepField::Timeout if e.wait => {
            "how long it waits once due: 10m, 48h, 2d; never: no deadline".to_string()
        }
        StepField::Timeout => "per attempt: 30 (seconds), 30s, 5m, 1h; blank: none".to_string(),
        StepField::Optional => "space toggles: its failure does not fail the run".to_string(),
        StepField::Wait => {
            "space toggles: it waits for its event (runs signal, the API, a publish)".to_string()
        }
        StepField::Correlate => {
            "a wait's: the run variable a signal without the run id is matched by".to_string()
        }
    }
}
