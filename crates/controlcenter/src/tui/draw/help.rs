//! The help view: the keys of every view.
//!
//! It may use the shared widgets and the key tables
//! ([`crate::tui::app::help_sections`], the tables the keys' handling and
//! the footer read too).

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::widgets::{inner, HEADER};
use crate::tui::app::help_sections;

/// The help view, scrolled `scroll` lines (↑↓).
pub(super) fn draw_help(frame: &mut Frame, scroll: u16, area: Rect) {
    let block = Block::bordered().title(" Help (↑↓ scroll) ");
    let inside = inner(area);
    frame.render_widget(block, area);
    let mut lines = Vec::new();
    for (section, keys) in help_sections() {
        lines.push(Line::from(Span::styled(section, HEADER)));
        for (k, what) in keys {
            lines.push(Line::from(vec![
                Span::styled(format!("  {k:<17}"), Style::new().bold()),
                Span::raw(what),
            ]));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        inside,
    );
}
