//! Model layer: a step or an undo whose message could not be published (no
//! queue is bound to its event's exchange, or the broker refused it). It is a
//! step failure like any other: recorded `Failed` with the reason, and the run
//! fails and compensates what succeeded, exactly as when a consumer runs out
//! of retries. Pure, like the step transitions ([`super::transition`]).

use chrono::{DateTime, Utc};

use crate::error::Result;

use super::*;

impl Run {
    /// The message of `next` could not be published, for `reason`: records
    /// the step (or, for a compensation, the undo) `Failed` with that reason
    /// and decides what the run does, as [`Run::fail`] does when a consumer
    /// runs out of retries: an optional step is tolerated, any other fails the
    /// run and starts its compensation (the branches still in flight finish
    /// first and are undone with the rest); an undo that cannot be published
    /// leaves the run `CompensationFailed`.
    ///
    /// Only a step still pending, of a pending or running run (an undo still
    /// pending, of a compensating run) changes: a second report of the same
    /// refusal (a redelivery that published again) is [`FailOutcome::Recorded`].
    ///
    /// ```
    /// use isoqube::model::FailOutcome;
    /// use isoqube::{Definition, Run, RunStatus, StepStatus, Variables};
    /// let def = Definition::new("d", ["A", "B"]);
    /// let mut run = Run::new(&def, Variables::new(), "doc");
    /// let first = run.start_steps().remove(0);
    /// let now = chrono::Utc::now();
    /// let out = run.fail_unpublished(&first, "no consumer is bound", now).unwrap();
    /// assert_eq!(out, FailOutcome::RunFailed);
    /// assert_eq!(run.status, RunStatus::Failed);
    /// assert_eq!(run.steps[0].status, StepStatus::Failed);
    /// assert_eq!(run.steps[0].last_error.as_deref(), Some("no consumer is bound"));
    /// ```
    pub fn fail_unpublished(
        &mut self,
        next: &NextStep,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<FailOutcome> {
        if next.compensates.is_some() {
            return self.fail_unpublished_undo(next.index, reason, now);
        }
        let running = matches!(self.status, RunStatus::Pending | RunStatus::Running);
        let step = self.step_mut(next.index)?;
        if !running || step.status != StepStatus::Pending {
            return Ok(FailOutcome::Recorded);
        }
        step.last_error = Some(reason.to_string());
        let outcome = self.step_failed(next.index, reason, now);
        self.touch(now);
        Ok(outcome)
    }

    fn fail_unpublished_undo(
        &mut self,
        index: usize,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<FailOutcome> {
        let compensating = self.status == RunStatus::Compensating;
        let undo = self.compensation_mut(index)?;
        if !compensating || undo.status != StepStatus::Pending {
            return Ok(FailOutcome::Recorded);
        }
        undo.status = StepStatus::Failed;
        undo.failed_at = Some(now);
        undo.last_error = Some(reason.to_string());
        let outcome = self.undo_failed(index, reason, now);
        self.touch(now);
        Ok(outcome)
    }
}
