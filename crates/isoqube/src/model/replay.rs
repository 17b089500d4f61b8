//! Model layer: what a transition answers when it was already applied, the
//! rules behind the at-least-once recovery. A store call retried after its
//! answer was lost recognises its own earlier write (by the handling id the
//! key and the handler record carry) and answers as that write did; a
//! redelivery after a crash between recording and publishing finds the steps
//! never picked up. Uses only the model's records.

use super::*;

impl Run {
    /// The steps settling `index` made due that nobody picked up yet (a crash
    /// between recording and publishing), of those whose last settled
    /// dependency is `index`: each is published again by one redelivery only.
    pub(super) fn unpublished_after(&self, index: usize) -> Vec<NextStep> {
        let settled_at = |s: &Step| s.completed_at.or(s.failed_at);
        self.due_after(index)
            .into_iter()
            .filter(|n| self.steps[n.index].handlers.is_empty())
            .filter(|n| {
                let last = self.steps[n.index]
                    .after_steps()
                    .filter_map(|d| self.steps.get(d))
                    .max_by_key(|d| (settled_at(d), d.index))
                    .map(|d| d.index);
                last == Some(index)
            })
            .collect()
    }

    /// Whether `handler` was last written by the handling `key` names.
    pub(super) fn owns(handler: &StepHandler, key: &StepKey) -> bool {
        key.handling.is_some() && handler.handling == key.handling
    }

    /// The endpoint's handler of `key.step`, when the handling `key` names
    /// already left it in `status`: a retried store call whose first try
    /// landed (its answer was lost).
    pub(super) fn own_record(&self, key: &StepKey, status: StepStatus) -> Option<&StepHandler> {
        self.steps
            .get(key.step)?
            .handlers
            .iter()
            .find(|h| h.endpoint == key.endpoint && h.status == status && Self::owns(h, key))
    }

    /// The endpoint advanced step `index` (its success or failure is the step's).
    fn decided_by(&self, index: usize, key: &StepKey) -> bool {
        self.steps[index].handled_by.as_deref() == Some(&format!("{}@{}", key.endpoint, key.host))
    }

    /// What [`Self::complete`] answered when the same handling's earlier call
    /// landed: the run advanced by it (publish the next step, unless it was
    /// picked up since), or only the endpoint's record.
    pub(super) fn replayed_complete(&self, key: &StepKey) -> CompleteOutcome {
        let finished_here = self.steps.iter().all(|s| {
            s.index == key.step
                || s.completed_at.or(s.failed_at) <= self.steps[key.step].completed_at
        });
        match self.status {
            RunStatus::Cancelled => CompleteOutcome::Cancelled,
            RunStatus::Succeeded if self.decided_by(key.step, key) && finished_here => {
                CompleteOutcome::Finished
            }
            RunStatus::Running if self.decided_by(key.step, key) => CompleteOutcome::Advanced {
                next: self.unpublished_after(key.step),
            },
            RunStatus::Compensating if self.decided_by(key.step, key) => {
                CompleteOutcome::Compensate {
                    next: self.unpublished_compensations(),
                }
            }
            _ => CompleteOutcome::Recorded,
        }
    }

    /// What [`Self::fail`] answered when the same handling's earlier call landed.
    pub(super) fn replayed_fail(&self, key: &StepKey) -> FailOutcome {
        let optional = self.steps[key.step].optional;
        match self.status {
            RunStatus::Cancelled => FailOutcome::Cancelled,
            RunStatus::Failed if self.decided_by(key.step, key) => FailOutcome::RunFailed,
            RunStatus::Compensating if self.decided_by(key.step, key) => FailOutcome::Compensate {
                next: self.unpublished_compensations(),
            },
            RunStatus::Succeeded if optional && self.decided_by(key.step, key) => {
                FailOutcome::Finished
            }
            RunStatus::Running if optional && self.decided_by(key.step, key) => {
                FailOutcome::Tolerated {
                    next: self.unpublished_after(key.step),
                }
            }
            _ => FailOutcome::Recorded,
        }
    }
}
