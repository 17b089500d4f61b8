//! The signal prompt: `a` on a run with a waiting step (the selected step in
//! a run's detail when it waits, else the run's first waiting step) asks for
//! the signal's data, as a JSON object or `KEY=VALUE,...`, and sends the
//! event the step waits for. Its keys are one table, [`SIGNAL_KEYS`].
//!
//! The prompt's state and its keys; what `a` and the prompt's keys do to the
//! app is in `signal_keys`. It may use the key tables and the text formats.

use isoqube::Variables;
use ratatui::crossterm::event::KeyCode;
use uuid::Uuid;

use super::key_table::{def, KeyDef};
use crate::text::parse_list;
use crate::tui::text_input::TextInput;

/// The keys of the signal prompt (every other key types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKey {
    /// Send the signal.
    Send,
    /// Close it.
    Cancel,
}

/// The signal prompt.
pub const SIGNAL_KEYS: &[KeyDef<SignalKey>] = &[
    def(&[KeyCode::Enter], "Enter", "send", "", SignalKey::Send),
    def(&[KeyCode::Esc], "Esc", "cancel", "", SignalKey::Cancel),
];

/// A signal being written for a run's waiting step.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalPrompt {
    /// The run.
    pub run_id: Uuid,
    /// `1f0c2a3b (release)`.
    pub label: String,
    /// The waiting step (its position in the run).
    pub step: usize,
    /// The event it waits for.
    pub event: String,
    /// What it waits for and until when ([`crate::text::wait_line`]).
    pub wait: String,
    /// The data typed: a JSON object, or `KEY=VALUE,...`; empty for none.
    pub input: TextInput,
    /// Why the data was refused.
    pub error: Option<String>,
}

impl SignalPrompt {
    /// The data typed: `{...}` read as a JSON object, else `KEY=VALUE,...`.
    pub fn data(&self) -> Result<Variables, String> {
        let text = self.input.text.trim();
        if text.starts_with('{') {
            return isoqube::engine::waits::signal_data(Some(text), Variables::new())
                .map_err(|e| e.to_string());
        }
        parse_list(text)
    }
}
