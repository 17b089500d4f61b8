//! A text input: the text typed so far, changed by key events. Plain state;
//! nothing touches the terminal. Used by the definition form, the step
//! editor and the prompts.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A one-line (or, with [`TextInput::multiline`], several-line) text input; the
/// cursor is always at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextInput {
    /// The text typed so far.
    pub text: String,
    /// Enter inserts a line break instead of being left to the caller.
    pub multiline: bool,
}

impl TextInput {
    /// A one-line input holding `text`.
    pub fn new(text: impl Into<String>) -> Self {
        TextInput {
            text: text.into(),
            multiline: false,
        }
    }

    /// A several-line input holding `text`.
    pub fn multiline(text: impl Into<String>) -> Self {
        TextInput {
            text: text.into(),
            multiline: true,
        }
    }

    /// Applies an editing key; `false` when the key is not an editing key.
    pub fn handle(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('u') if ctrl => self.text.clear(),
            KeyCode::Char('w') if ctrl => {
                let trimmed = self.text.trim_end_matches(' ').len();
                self.text.truncate(trimmed);
                let cut = self
                    .text
                    .rfind([' ', '\n'])
                    .map(|i| i + 1)
                    .unwrap_or_default();
                self.text.truncate(cut);
            }
            KeyCode::Char(c) if !ctrl && !c.is_control() => self.text.push(c),
            KeyCode::Backspace => {
                self.text.pop();
            }
            KeyCode::Enter if self.multiline => self.text.push('\n'),
            _ => return false,
        }
        true
    }
}
