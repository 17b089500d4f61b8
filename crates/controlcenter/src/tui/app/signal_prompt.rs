//! The signal prompt: `a` on a run with a waiting step (the selected step in
//! a run's detail when it waits, else the run's first waiting step) asks for
//! the signal's data, as a JSON object or `KEY=VALUE,...`, and sends the
//! event the step waits for. Its keys are one table, [`SIGNAL_KEYS`].
//!
//! It may use the state, the messages, the key tables and the text formats.

use isoqube::{StepStatus, Variables};
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use uuid::Uuid;

use super::key_table::{def, find, KeyDef};
use super::messages::Action;
use super::state::{App, Modal};
use crate::text::{parse_list, short_id};
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

impl App {
    /// The prompt for the selected run's waiting step, or why there is none.
    pub(super) fn signal_prompt(&mut self) -> Action {
        let Some(run) = self.selected_run() else {
            return Action::None;
        };
        let selected = self.detail.as_ref().map(|d| d.current_step());
        let waiting = |i: &usize| {
            run.steps
                .get(*i)
                .is_some_and(|s| s.status == StepStatus::Waiting)
        };
        let step = selected
            .filter(waiting)
            .or_else(|| (0..run.steps.len()).find(waiting));
        let label = format!("{} ({})", short_id(&run.id), run.definition);
        let Some(step) = step else {
            let why = format!("no step of run {label} waits for a signal");
            self.error(why);
            return Action::None;
        };
        let s = &run.steps[step];
        let prompt = SignalPrompt {
            run_id: run.id,
            label,
            step,
            event: s.event.clone(),
            wait: crate::text::wait_line(s, self.now).unwrap_or_default(),
            input: TextInput::new(""),
            error: None,
        };
        self.modal = Some(Modal::Signal(prompt));
        Action::None
    }

    /// A key in the signal prompt.
    pub(super) fn signal_key(&mut self, mut p: SignalPrompt, key: KeyEvent) -> Action {
        match find(SIGNAL_KEYS, key.code) {
            Some(SignalKey::Cancel) => Action::None,
            Some(SignalKey::Send) => match p.data() {
                Ok(data) => {
                    let action = Action::Signal {
                        run_id: p.run_id,
                        event: p.event,
                        data,
                    };
                    self.busy = Some(action.busy_label());
                    self.status = None;
                    action
                }
                Err(e) => {
                    p.error = Some(e);
                    self.modal = Some(Modal::Signal(p));
                    Action::None
                }
            },
            None => {
                if p.input.handle(key) {
                    p.error = None;
                }
                self.modal = Some(Modal::Signal(p));
                Action::None
            }
        }
    }
}
