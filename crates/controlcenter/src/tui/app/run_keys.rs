//! The keys that act on a run (the one selected in the runs list, or the one
//! open in its detail): one table, [`RUN_KEYS`] (of [`super::key_table`]'s
//! kind), drives their handling, the help and the footer.
//!
//! It may use the state, the messages and the text formats.

use isoqube::RunStatus;
use ratatui::crossterm::event::KeyCode;

use super::key_table::{def, KeyDef};
use super::messages::Action;
use super::state::App;
use crate::text::short_id;

/// What a run key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKey {
    /// Start a new run with the same variables.
    Rerun,
    /// Resume a failed or cancelled run from its failed step.
    Resume,
    /// Cancel a pending or running run.
    Cancel,
    /// Cancel a pending or running run and compensate what it did.
    CancelCompensate,
    /// Signal a waiting step: the event it waits for, with data.
    Signal,
}

/// The keys acting on a run, in the runs list and in a run's detail; each
/// asks y/n first (a signal asks for its data), or says why the run's status
/// does not allow it.
pub const RUN_KEYS: &[KeyDef<RunKey>] = &[
    def(
        &[KeyCode::Char('r')],
        "r",
        "re-run",
        "re-run: a new run with the same variables",
        RunKey::Rerun,
    ),
    def(
        &[KeyCode::Char('u')],
        "u",
        "resume",
        "resume a failed or cancelled run from its failed step",
        RunKey::Resume,
    ),
    def(
        &[KeyCode::Char('c')],
        "c",
        "cancel",
        "cancel a pending or running run (what it did stays done)",
        RunKey::Cancel,
    ),
    def(
        &[KeyCode::Char('C')],
        "C",
        "cancel+undo",
        "cancel and compensate: undo the steps it did, newest first",
        RunKey::CancelCompensate,
    ),
    def(
        &[KeyCode::Char('a')],
        "a",
        "signal",
        "signal a waiting step (data: JSON or KEY=VALUE,...)",
        RunKey::Signal,
    ),
];

impl App {
    /// A run key on the selected (or open) run: the confirmation it asks
    /// for, or why the run's status refuses it; `None` when `code` is no run
    /// key.
    pub(super) fn run_key(&mut self, code: KeyCode) -> Option<Action> {
        let does = super::key_table::find(RUN_KEYS, code)?;
        if does == RunKey::Signal {
            return Some(self.signal_prompt());
        }
        let Some(run) = self.selected_run() else {
            return Some(Action::None);
        };
        let (id, status) = (run.id, run.status);
        let label = format!("{} ({})", short_id(&run.id), run.definition);
        let active = matches!(status, RunStatus::Pending | RunStatus::Running);
        Some(match does {
            RunKey::Rerun => self.confirm(
                format!("Re-run {label} as a new run with the same variables?"),
                Action::Rerun(id),
            ),
            RunKey::Resume if matches!(status, RunStatus::Failed | RunStatus::Cancelled) => self
                .confirm(
                    format!("Resume {label} from its failed step?"),
                    Action::Resume(id),
                ),
            RunKey::Resume => self.refuse(
                &label,
                status,
                "only failed or cancelled runs can be resumed",
            ),
            RunKey::Cancel if !status.is_finished() => {
                self.confirm(format!("Cancel run {label}?"), Action::Cancel(id))
            }
            RunKey::Cancel => self.refuse(
                &label,
                status,
                "only pending or running runs can be cancelled",
            ),
            RunKey::CancelCompensate if active => self.confirm(
                format!(
                    "Cancel run {label} and compensate what it did (undo its succeeded \
                     steps, newest first)?"
                ),
                Action::CancelCompensate(id),
            ),
            RunKey::CancelCompensate => self.refuse(
                &label,
                status,
                "only pending or running runs can be cancelled and compensated",
            ),
            RunKey::Signal => Action::None,
        })
    }

    /// Says why the run's status refuses a key.
    fn refuse(&mut self, label: &str, status: RunStatus, why: &str) -> Action {
        self.error(format!("run {label} is {}; {why}", status.as_str()));
        Action::None
    }
}
