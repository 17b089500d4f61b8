//! The definition form drawn over the definitions view, with its event
//! picker and step editor (`step_editor`) over it when open.
//!
//! It may use the state ([`crate::tui::app`], [`crate::tui::form`]) and the
//! shared widgets.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;

use super::step_editor::{draw_picker, draw_step_editor};
use super::widgets::{draw_dialog, ellipsize, inner, width, DIM, HEADER, SELECTED};
use crate::tui::app::App;
use crate::tui::form::{DefinitionForm, Field, TextInput};

/// The definition form over `area`, with the event picker when it is open.
pub(super) fn draw_form(frame: &mut Frame, app: &App, form: &DefinitionForm, area: Rect) {
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
            Constraint::Length(status_height(form, inside.width)),
        ])
        .areas(inside);
    let w = usize::from(inside.width);
    let name_line = input_line(
        form,
        w,
        Field::Name,
        "Name:",
        &form.name.text,
        !form.is_new(),
    );
    frame.render_widget(Paragraph::new(name_line), name);
    let desc_line = input_line(
        form,
        w,
        Field::Description,
        "Description:",
        &form.description.text,
        false,
    );
    frame.render_widget(Paragraph::new(desc_line), desc);
    draw_steps(frame, form, w, steps_label, steps);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            label(form, Field::Variables, "Default variables:"),
            Span::styled(" one KEY=VALUE per line", DIM),
        ])),
        vars_label,
    );
    let variables = multiline(form, w, Field::Variables, &form.variables, vars);
    frame.render_widget(variables, vars);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            label(form, Field::Schedules, "Schedules:"),
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
    let schedules = multiline(form, w, Field::Schedules, &form.schedules, sched);
    frame.render_widget(schedules, sched);
    draw_status(frame, form, err);
    draw_over_form(frame, app, form, area);
}

/// The status line's height: room for the whole error (a bad schedule line
/// quotes the line), one row while saving, else none.
fn status_height(form: &DefinitionForm, inside_w: u16) -> u16 {
    match &form.error {
        Some(e) => {
            let w = usize::from(inside_w).max(1);
            u16::try_from((width(e) + 2).div_ceil(w).clamp(1, 3)).unwrap_or(3)
        }
        None if form.saving => 1,
        None => 0,
    }
}

/// A field's label, marked when the field has the focus.
fn label(form: &DefinitionForm, field: Field, text: &str) -> Span<'static> {
    if form.focus == field {
        Span::styled(format!("▸ {text}"), HEADER.add_modifier(Modifier::REVERSED))
    } else {
        Span::styled(format!("  {text}"), HEADER)
    }
}

/// A one-line input after its label, cut at the start so its end (where
/// the cursor is) stays visible; a fixed one says so.
fn input_line(
    form: &DefinitionForm,
    w: usize,
    field: Field,
    text: &str,
    input: &str,
    fixed: bool,
) -> Line<'static> {
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
        label(form, field, text),
        Span::raw(" "),
        Span::raw(shown),
        Span::styled(suffix, DIM),
    ])
}

/// A several-line input: its last lines (where the cursor is) stay visible.
fn multiline(
    form: &DefinitionForm,
    w: usize,
    field: Field,
    input: &TextInput,
    area: Rect,
) -> Paragraph<'static> {
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
}

/// The steps' label with its keys, and the steps with their undo.
fn draw_steps(frame: &mut Frame, form: &DefinitionForm, w: usize, label_area: Rect, area: Rect) {
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            label(form, Field::Steps, "Steps:"),
            Span::styled(
                ellipsize(
                    &format!(
                        " {} (a add, Enter edit, o optional, x remove, K/J move)",
                        form.steps.len()
                    ),
                    w.saturating_sub(9),
                ),
                DIM,
            ),
        ])),
        label_area,
    );
    if form.steps.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled("    none yet: press a to pick an event", DIM)),
            area,
        );
        return;
    }
    let items: Vec<ListItem> = form
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let undo = s
                .compensate
                .as_deref()
                .map(|c| format!(", undone by {c}"))
                .unwrap_or_default();
            ListItem::new(ellipsize(
                &format!("    {}. {}{undo}", i + 1, crate::text::step_text(s)),
                w,
            ))
        })
        .collect();
    let list = List::new(items).highlight_style(if form.focus == Field::Steps {
        SELECTED
    } else {
        Style::new()
    });
    let mut state = ListState::default().with_selected(Some(form.step_selected));
    frame.render_stateful_widget(list, area, &mut state);
}

/// The form's error, or that it is being saved.
fn draw_status(frame: &mut Frame, form: &DefinitionForm, area: Rect) {
    if let Some(e) = &form.error {
        frame.render_widget(
            Paragraph::new(Span::styled(format!("✗ {e}"), Color::Red)).wrap(Wrap { trim: false }),
            area,
        );
    } else if form.saving {
        frame.render_widget(
            Paragraph::new(Span::styled("… saving", Color::Yellow)),
            area,
        );
    }
}

/// What opens over the form: the event picker, the step editor, and the
/// question before edits are discarded.
fn draw_over_form(frame: &mut Frame, app: &App, form: &DefinitionForm, area: Rect) {
    if let Some(picker) = &form.picker {
        draw_picker(frame, &app.events.items, picker, area);
    }
    if let Some(editor) = &form.step_edit {
        draw_step_editor(frame, form, editor, area);
    }
    if form.discard_asked {
        let lines = vec![
            Line::from("Discard changes? Your edits to this definition are lost."),
            Line::from(""),
            Line::from(vec![
                Span::styled("y", HEADER),
                Span::raw(" discard   "),
                Span::styled("n", HEADER),
                Span::raw(" keep editing"),
            ]),
        ];
        draw_dialog(frame, area, " Discard changes? y/n ", lines, 60);
    }
}
