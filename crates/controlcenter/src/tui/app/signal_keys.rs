//! What `a` and the signal prompt's keys do to the app: open the prompt on
//! the selected run's waiting step, type, send the signal. The prompt itself
//! is [`super::signal_prompt`].
//!
//! It may use the state, the messages, the signal prompt and the text formats.

use isoqube::StepStatus;
use ratatui::crossterm::event::KeyEvent;

use super::key_table::find;
use super::messages::Action;
use super::signal_prompt::*;
use super::state::{App, Modal};
use crate::text::short_id;
use crate::tui::text_input::TextInput;

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
