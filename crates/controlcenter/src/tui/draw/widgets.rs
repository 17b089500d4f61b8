//! The drawing helpers every view shares: styles, cutting text to a column
//! (`…`), short times and durations, status colours, tables whose cells fit
//! their columns, the loading/error/empty notice and centred dialogs.
//!
//! It may use only ratatui and `isoqube`'s run types: no view, no state.

use chrono::{DateTime, Utc};
use isoqube::{Run, RunStatus, StepStatus};
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, HighlightSpacing, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

/// The selected row.
pub(super) const SELECTED: Style = Style::new().add_modifier(Modifier::REVERSED);
/// Headers, labels and keys.
pub(super) const HEADER: Style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
/// Hints and secondary text.
pub(super) const DIM: Style = Style::new().fg(Color::DarkGray);

/// The display width of a string.
pub(super) fn width(s: &str) -> usize {
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

/// A time of day, `-` when there is none.
pub(super) fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

/// The colour a run status is shown in.
pub(super) fn run_status_color(s: RunStatus) -> Color {
    match s {
        RunStatus::Pending => Color::Gray,
        RunStatus::Running => Color::Cyan,
        RunStatus::Succeeded => Color::Green,
        RunStatus::Failed => Color::Red,
        RunStatus::Cancelled => Color::Magenta,
        RunStatus::Compensating => Color::Yellow,
        RunStatus::Compensated => Color::LightMagenta,
        RunStatus::CompensationFailed => Color::LightRed,
    }
}

/// The colour a step status is shown in.
pub(super) fn step_status_color(s: StepStatus) -> Color {
    match s {
        StepStatus::Pending | StepStatus::Skipped => Color::Gray,
        StepStatus::Invoked => Color::Cyan,
        StepStatus::Succeeded => Color::Green,
        StepStatus::Failed => Color::Red,
        StepStatus::Cancelled => Color::Magenta,
        StepStatus::Waiting => Color::Yellow,
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
pub(super) fn table<'a>(
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

/// The area inside a bordered block.
pub(super) fn inner(area: Rect) -> Rect {
    Block::bordered().inner(area)
}

/// Lines wrapped at the area's width, blanks kept.
pub(super) fn paragraph_lines(lines: Vec<Line<'static>>) -> Paragraph<'static> {
    Paragraph::new(lines).wrap(Wrap { trim: false })
}

/// A message inside a view's block: loading, an error, or the empty state.
pub(super) fn notice(
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

/// A rectangle of at most `max_width` x `height` centred in `area`.
pub(super) fn centered(area: Rect, max_width: u16, height: u16) -> Rect {
    let w = max_width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// A bordered dialog centred over `area`, as high as its wrapped lines.
pub(super) fn draw_dialog(
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

/// The line of a search: what was typed (with a cursor while typing) and,
/// when nothing is, a hint of what it matches.
pub(super) fn search_line(
    search: &crate::tui::app::Search,
    hint: &str,
    w: u16,
) -> Paragraph<'static> {
    let text = &search.input.text;
    let cursor = if search.editing { "█" } else { "" };
    let mut spans = vec![
        Span::styled("/ ", HEADER),
        Span::raw(format!("{text}{cursor}")),
    ];
    if text.is_empty() {
        spans.push(Span::styled(format!("  matches {hint}"), DIM));
    } else if search.editing {
        spans.push(Span::styled("  Enter keeps, Esc clears", DIM));
    } else {
        spans.push(Span::styled("  (/ edits, Esc clears)", DIM));
    }
    let line = Line::from(spans);
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    if width(&text) > usize::from(w) {
        return Paragraph::new(ellipsize(&text, usize::from(w)));
    }
    Paragraph::new(line)
}
