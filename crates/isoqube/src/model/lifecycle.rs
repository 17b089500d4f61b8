//! Model layer: an operator's transitions of a whole run: cancel, resume
//! (with changed variables), abort. Pure, like the step transitions
//! ([`super::transition`]); uses only the model's records.

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

use super::*;

impl Run {
    /// Stops a pending, running or compensating run: no further step (or
    /// compensation) is published; the step in flight is marked cancelled
    /// when its consumer returns. What the run did stays done: see
    /// [`Run::cancel_and_compensate`] to undo it.
    pub fn cancel(&mut self, now: DateTime<Utc>) -> Result<()> {
        if self.status.is_finished() {
            return Err(Error::InvalidState(format!(
                "run {} is {}; only pending, running or compensating runs can be cancelled",
                self.id,
                self.status.as_str()
            )));
        }
        self.cancelled_at = Some(now);
        for step in self.steps.iter_mut() {
            if step.status == StepStatus::Waiting {
                step.status = StepStatus::Cancelled;
                step.cancelled_at = Some(now);
            }
        }
        self.finish(RunStatus::Cancelled, now);
        self.touch(now);
        Ok(())
    }

    /// Continues a failed or cancelled run: every step not settled is pending
    /// again; returns the steps now due (every failed step whose dependencies
    /// are met, on every branch), to publish.
    ///
    /// A `CompensationFailed` run resumes its compensation instead: every
    /// compensation not done is pending again. A `Compensated` run cannot be
    /// resumed (what it did is undone; re-run it).
    pub fn resume(&mut self, now: DateTime<Utc>) -> Result<Vec<NextStep>> {
        match self.status {
            RunStatus::CompensationFailed => return self.resume_compensation(now),
            RunStatus::Compensated => {
                return Err(Error::InvalidState(format!(
                    "run {} was compensated (what it did is undone); re-run it instead",
                    self.id
                )))
            }
            _ => {}
        }
        if !matches!(self.status, RunStatus::Failed | RunStatus::Cancelled) {
            return Err(Error::InvalidState(format!(
                "run {} is {}; only failed or cancelled runs can be resumed",
                self.id,
                self.status.as_str()
            )));
        }
        if self.all_settled() {
            return Err(Error::InvalidState(format!(
                "run {} has no unfinished step",
                self.id
            )));
        }
        for step in self.steps.iter_mut().filter(|s| !s.settled()) {
            step.status = StepStatus::Pending;
            step.retry_at = None;
            step.invoked_at = None;
            step.completed_at = None;
            step.failed_at = None;
            step.cancelled_at = None;
            step.handled_by = None;
            // Keep each endpoint's attempt count so a consumer can tell a resumed
            // attempt from a first one.
            for h in &mut step.handlers {
                h.status = StepStatus::Pending;
                h.started_at = None;
                h.finished_at = None;
                // A resumed step's attempts start a fresh budget.
                h.lost = 0;
                h.retried = 0;
            }
        }
        for c in self
            .steps
            .iter_mut()
            .filter_map(|s| s.compensation.as_mut())
        {
            if c.status == StepStatus::Skipped {
                c.status = StepStatus::Pending;
            }
        }
        self.status = RunStatus::Running;
        self.finished_at = None;
        self.cancelled_at = None;
        self.error = None;
        self.touch(now);
        let due: Vec<NextStep> = self
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Pending && self.not_due(s.index).is_none())
            .map(|s| self.next_step(s.index))
            .collect();
        Ok(self.arrive(due, now))
    }

    /// Marks a run failed for a reason outside any step (its first message could not
    /// be published, say); a compensating run is then `CompensationFailed`.
    pub fn abort(&mut self, reason: &str, now: DateTime<Utc>) -> Result<()> {
        if self.status.is_finished() {
            return Err(Error::InvalidState(format!(
                "run {} is {} already",
                self.id,
                self.status.as_str()
            )));
        }
        self.error = Some(reason.to_string());
        let end = match self.status {
            RunStatus::Compensating => RunStatus::CompensationFailed,
            _ => RunStatus::Failed,
        };
        self.finish(end, now);
        self.touch(now);
        Ok(())
    }

    /// [`Run::resume`] with `vars` merged over the run's variables first, so
    /// the steps due again (and their messages) see them. A
    /// `CompensationFailed` run's undos carry the variables of their step's
    /// success, not the run's: `vars` are merged over the snapshot of every
    /// undo not done yet too, so an operator can correct an undo's input.
    /// Nothing changes when the run cannot be resumed.
    pub fn resume_with(&mut self, vars: &Variables, now: DateTime<Utc>) -> Result<Vec<NextStep>> {
        if vars.is_empty() {
            return self.resume(now);
        }
        let before = self.clone();
        let merge =
            |into: &mut Variables| into.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        merge(&mut self.variables);
        if self.status == RunStatus::CompensationFailed {
            for step in self.steps.iter_mut().filter(|s| s.needs_compensation()) {
                // Without a snapshot (an older record) it reads the run's.
                if let Some(undo) = step.compensation.as_mut() {
                    if let (false, Some(snapshot)) = (
                        undo.status == StepStatus::Succeeded,
                        undo.variables.as_mut(),
                    ) {
                        merge(snapshot);
                    }
                }
            }
        }
        let next = self.resume(now);
        if next.is_err() {
            *self = before;
        }
        next
    }
}
