//! Model layer: compensation, the saga's undo. When a run fails (or an
//! operator cancels it to be undone) it becomes `Compensating`: no forward
//! step is published any more, the steps in flight finish and are recorded,
//! and then every succeeded step that names a compensation gets it, in
//! reverse dependency order: a step is compensated only once every step that
//! ran after it (directly or not) is compensated or had nothing to undo;
//! steps with no order between them are compensated in parallel. The run ends
//! `Compensated`, or `CompensationFailed` naming the compensation that ran out
//! of retries (resumable). Pure transitions, like the forward ones
//! ([`super::transition`]); uses only the model's records.
//!
//! A compensation's message carries the run variables as they were when its
//! step succeeded, plus what that step wrote (a snapshot kept in the record),
//! so `UndeployFromVm` knows which VM even when later steps changed them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::wire::time as timestamp;

use super::*;

/// The compensation of one step: its event, and where it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Compensation {
    /// The event that undoes the step.
    pub event: String,
    /// `Pending` until due (or `Skipped` when the run ended without needing
    /// it), then as a step's.
    pub status: StepStatus,
    /// The payload: the run variables when the step succeeded, plus what the
    /// step wrote. Kept from the step's success on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub variables: Option<Variables>,
    /// First picked up.
    #[serde(serialize_with = "timestamp::option")]
    pub invoked_at: Option<DateTime<Utc>>,
    /// Succeeded.
    #[serde(serialize_with = "timestamp::option")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Failed (its retries ran out).
    #[serde(serialize_with = "timestamp::option")]
    pub failed_at: Option<DateTime<Utc>>,
    /// Consumer invocations over all endpoints and resumes.
    pub attempts: u32,
    /// The last error any endpoint reported.
    pub last_error: Option<String>,
    /// `endpoint@host` of the consumer whose outcome decided it.
    pub handled_by: Option<String>,
    /// Every endpoint that picked it up.
    #[serde(default)]
    pub handlers: Vec<StepHandler>,
}

impl Compensation {
    /// A compensation by `event`, not yet due.
    pub fn new(event: String) -> Self {
        Compensation {
            event,
            status: StepStatus::Pending,
            variables: None,
            invoked_at: None,
            completed_at: None,
            failed_at: None,
            attempts: 0,
            last_error: None,
            handled_by: None,
            handlers: Vec::new(),
        }
    }

    /// Time from first pick-up to success or failure.
    pub fn duration(&self) -> Option<chrono::Duration> {
        let end = self.completed_at.or(self.failed_at)?;
        Some(end - self.invoked_at?)
    }

    /// Pending again, keeping each endpoint's attempt count.
    fn reset(&mut self) {
        self.status = StepStatus::Pending;
        self.invoked_at = None;
        self.completed_at = None;
        self.failed_at = None;
        self.handled_by = None;
        for h in &mut self.handlers {
            h.status = StepStatus::Pending;
            h.started_at = None;
            h.finished_at = None;
        }
    }
}

impl Step {
    /// It succeeded and names a compensation: the run's failure undoes it.
    pub fn needs_compensation(&self) -> bool {
        self.status == StepStatus::Succeeded && self.compensation.is_some()
    }

    /// Nothing of it is left to undo: it needs no compensation, or its
    /// compensation succeeded.
    fn undone(&self) -> bool {
        !self.needs_compensation()
            || self
                .compensation
                .as_ref()
                .is_some_and(|c| c.status == StepStatus::Succeeded)
    }
}

impl Run {
    /// Whether a step of the run names a compensation (its steps' starts are
    /// then always recorded before they run, so a failure knows every step
    /// in flight and waits for it before undoing what it built on).
    pub fn compensable(&self) -> bool {
        self.steps.iter().any(|s| s.compensation.is_some())
    }

    /// The message to publish for the compensation of step `index`.
    fn compensation_step(&self, index: usize) -> NextStep {
        let step = &self.steps[index];
        let comp = step.compensation.as_ref();
        NextStep {
            index,
            event: comp.map(|c| c.event.clone()).unwrap_or_default(),
            variables: comp
                .and_then(|c| c.variables.clone())
                .unwrap_or_else(|| self.variables.clone()),
            compensates: Some(step.name().to_string()),
            undoes_event: Some(step.event.clone()),
        }
    }

    /// For each step: whether a step after it (directly or not) is not
    /// undone yet. A bounded fixpoint over the dependants, so a corrupt
    /// record with a cycle cannot loop.
    fn undo_blocked(&self) -> Vec<bool> {
        let n = self.steps.len();
        let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); n];
        for s in &self.steps {
            for d in s.after_steps().filter(|&d| d < n) {
                dependants[d].push(s.index);
            }
        }
        let mut blocked = vec![false; n];
        for _ in 0..n {
            let next: Vec<bool> = (0..n)
                .map(|i| {
                    dependants[i]
                        .iter()
                        .any(|&t| !self.steps[t].undone() || blocked[t])
                })
                .collect();
            if next == blocked {
                break;
            }
            blocked = next;
        }
        blocked
    }

    /// For each step: whether step `index` runs after it, directly or not.
    fn ancestors(&self, index: usize) -> Vec<bool> {
        let mut seen = vec![false; self.steps.len()];
        let mut stack = vec![index];
        while let Some(i) = stack.pop() {
            for d in self.steps[i].after_steps() {
                if d < seen.len() && !seen[d] {
                    seen[d] = true;
                    stack.push(d);
                }
            }
        }
        seen
    }

    /// The first step after `index` (directly or not) not undone yet.
    fn first_not_undone_after(&self, index: usize) -> Option<&Step> {
        let blocked = self.undo_blocked();
        let mut seen = vec![false; self.steps.len()];
        let mut stack = vec![index];
        while let Some(i) = stack.pop() {
            for s in self
                .steps
                .iter()
                .filter(|s| s.after_steps().any(|d| d == i))
            {
                if !seen[s.index] {
                    seen[s.index] = true;
                    if !s.undone() && !blocked[s.index] {
                        return Some(s);
                    }
                    stack.push(s.index);
                }
            }
        }
        None
    }

    /// The compensations due now: none while a forward step is in flight;
    /// else every pending compensation of a succeeded step whose later steps
    /// are all undone.
    pub(super) fn compensations_due(&self) -> Vec<NextStep> {
        if self.status != RunStatus::Compensating
            || self.steps.iter().any(|s| s.status == StepStatus::Invoked)
        {
            return Vec::new();
        }
        let blocked = self.undo_blocked();
        self.steps
            .iter()
            .filter(|s| s.needs_compensation() && !blocked[s.index])
            .filter(|s| {
                s.compensation
                    .as_ref()
                    .is_some_and(|c| c.status == StepStatus::Pending)
            })
            .map(|s| self.compensation_step(s.index))
            .collect()
    }

    /// [`Self::compensations_due`] that nobody picked up yet: what a
    /// redelivery after a crash between recording and publishing publishes
    /// again (a copy published twice runs once: the claim knows it).
    pub(super) fn unpublished_compensations(&self) -> Vec<NextStep> {
        self.compensations_due()
            .into_iter()
            .filter(|n| {
                self.steps[n.index]
                    .compensation
                    .as_ref()
                    .is_some_and(|c| c.handlers.is_empty())
            })
            .collect()
    }

    /// Makes a failed (or cancelled-to-undo) run `Compensating` and returns
    /// the compensations due. A run with nothing to undo, and nothing in
    /// flight that could leave something, ends at once as it would have
    /// without compensation (`Failed`, or `Cancelled` when an operator
    /// cancelled it).
    pub(super) fn begin_compensation(&mut self, now: DateTime<Utc>) -> Vec<NextStep> {
        self.status = RunStatus::Compensating;
        for step in &mut self.steps {
            // A wait not over yet is given up: nothing it did needs undoing.
            if matches!(step.status, StepStatus::Pending | StepStatus::Waiting) {
                step.status = StepStatus::Skipped;
            }
        }
        self.wake_at = None;
        self.advance_compensation(now)
    }

    /// After a change while compensating: the compensations to publish now,
    /// or the run's end when nothing is left to undo.
    pub(super) fn advance_compensation(&mut self, now: DateTime<Utc>) -> Vec<NextStep> {
        if self.steps.iter().any(|s| s.status == StepStatus::Invoked) {
            return Vec::new();
        }
        if self.steps.iter().all(Step::undone) {
            let undid = self.steps.iter().any(Step::needs_compensation);
            let end = match (undid, self.cancelled_at.is_some()) {
                (true, _) => RunStatus::Compensated,
                (false, true) => RunStatus::Cancelled,
                (false, false) => RunStatus::Failed,
            };
            self.finish(end, now);
            return Vec::new();
        }
        self.compensations_due()
    }

    /// Why the run failed, from its first failed non-optional step.
    pub(super) fn failure_reason(&self) -> Option<String> {
        let step = self
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Failed && !s.optional)
            .min_by_key(|s| (s.failed_at, s.index))?;
        Some(format!(
            "step {} ({}) failed: {}",
            step.index + 1,
            step.event,
            step.last_error.as_deref().unwrap_or("unknown error")
        ))
    }

    pub(super) fn compensation_mut(&mut self, index: usize) -> Result<&mut Compensation> {
        let id = self.id;
        self.step_mut(index)?.compensation.as_mut().ok_or_else(|| {
            Error::InvalidState(format!(
                "run {id}: step {} has no compensation; a message names one",
                index + 1
            ))
        })
    }

    /// The claim of a compensation message (see [`Run::claim`]).
    pub(super) fn claim_compensation(
        &mut self,
        key: &StepKey,
        redelivered: bool,
        now: DateTime<Utc>,
    ) -> Result<ClaimOutcome> {
        self.compensation_mut(key.step)?;
        match self.status {
            RunStatus::Compensating => {}
            RunStatus::Cancelled => return Ok(ClaimOutcome::Cancelled),
            other => return Ok(ClaimOutcome::NotRunning(other)),
        }
        let step = &self.steps[key.step];
        if !step.needs_compensation() {
            return Err(Error::InvalidState(format!(
                "run {}: step {} ({}) is {}, so there is nothing to compensate",
                self.id,
                key.step + 1,
                step.event,
                step.status.as_str()
            )));
        }
        if let Some(waits) = self
            .steps
            .iter()
            .find(|s| s.status == StepStatus::Invoked)
            .or_else(|| self.first_not_undone_after(key.step))
        {
            return Ok(ClaimOutcome::NotDue {
                waits_for: waits.index,
                status: waits.status,
            });
        }
        let done = self.steps[key.step].compensation.as_ref().is_some_and(|c| {
            c.handlers
                .iter()
                .any(|h| h.endpoint == key.endpoint && h.status == StepStatus::Succeeded)
        });
        if done {
            return Ok(ClaimOutcome::AlreadyDone {
                republish: self.unpublished_compensations(),
            });
        }
        let step_count = self.steps.len();
        let comp = self.compensation_mut(key.step)?;
        let variables = comp.variables.clone();
        let deadline = key
            .budget
            .and_then(|b| b.deadline(key.started_at.unwrap_or(now), None));
        let Some((attempts, lost)) =
            Self::claim_undo_handler(comp, key, redelivered, deadline, now)
        else {
            return Ok(ClaimOutcome::InFlight);
        };
        if comp.status == StepStatus::Pending {
            comp.status = StepStatus::Invoked;
            comp.invoked_at = Some(key.started_at.unwrap_or(now));
        }
        let variables = variables.unwrap_or_else(|| self.variables.clone());
        self.touch(now);
        Ok(ClaimOutcome::Claimed {
            variables,
            attempts,
            step_count,
            timeout_ms: None,
            lost,
            used: lost,
        })
    }

    /// The undo's handler of `key.endpoint` claimed (added, or taken over
    /// after a lost attempt): its (attempts, lost); `None` when another
    /// copy is handling it now.
    fn claim_undo_handler(
        comp: &mut Compensation,
        key: &StepKey,
        redelivered: bool,
        deadline: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<(u32, u32)> {
        let claimed = match comp
            .handlers
            .iter_mut()
            .find(|h| h.endpoint == key.endpoint)
        {
            Some(h) if h.status == StepStatus::Invoked && Self::owns(h, key) => {
                (h.attempts, h.lost)
            }
            Some(h) if h.status == StepStatus::Invoked && !redelivered => return None,
            Some(h) => {
                if h.status == StepStatus::Invoked {
                    // Started, no outcome: that attempt was lost.
                    h.attempts += 1;
                    h.lost += 1;
                    comp.attempts += 1;
                }
                h.status = StepStatus::Invoked;
                h.host = key.host.clone();
                h.started_at = Some(key.started_at.unwrap_or(now));
                h.finished_at = None;
                h.handling = key.handling;
                h.deadline = deadline;
                (h.attempts, h.lost)
            }
            None => {
                comp.handlers.push(StepHandler {
                    endpoint: key.endpoint.clone(),
                    host: key.host.clone(),
                    status: StepStatus::Invoked,
                    attempts: 0,
                    started_at: Some(key.started_at.unwrap_or(now)),
                    finished_at: None,
                    error: None,
                    handling: key.handling,
                    deadline,
                    lost: 0,
                    retried: 0,
                });
                (0, 0)
            }
        };
        Some(claimed)
    }

    fn owns_compensation(&self, key: &StepKey, status: StepStatus) -> bool {
        self.steps
            .get(key.step)
            .and_then(|s| s.compensation.as_ref())
            .is_some_and(|c| {
                c.handlers
                    .iter()
                    .any(|h| h.endpoint == key.endpoint && h.status == status && Self::owns(h, key))
            })
    }

    fn decided_compensation(&self, key: &StepKey) -> bool {
        let by = format!("{}@{}", key.endpoint, key.host);
        self.steps[key.step]
            .compensation
            .as_ref()
            .is_some_and(|c| c.handled_by.as_deref() == Some(by.as_str()))
    }

    /// A compensation's consumer succeeded (see [`Run::complete`]).
    pub(super) fn complete_compensation(
        &mut self,
        key: &StepKey,
        attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<CompleteOutcome> {
        self.compensation_mut(key.step)?;
        if self.owns_compensation(key, StepStatus::Succeeded) {
            return Ok(match self.status {
                RunStatus::Compensating => CompleteOutcome::Compensate {
                    next: self.unpublished_compensations(),
                },
                RunStatus::Compensated if self.decided_compensation(key) => {
                    CompleteOutcome::Compensated
                }
                _ => CompleteOutcome::Recorded,
            });
        }
        let status = self.status;
        let comp = self.compensation_mut(key.step)?;
        let handler = Self::handler_mut(&mut comp.handlers, key);
        handler.status = StepStatus::Succeeded;
        handler.attempts += attempts;
        handler.finished_at = Some(now);
        handler.host = key.host.clone();
        comp.attempts += attempts;
        let first = comp.status != StepStatus::Succeeded;
        if first {
            // Its undo is done whatever the run became meanwhile: recorded,
            // so a resumed compensation does not undo it again.
            comp.status = StepStatus::Succeeded;
            comp.completed_at = Some(now);
            comp.invoked_at.get_or_insert(key.started_at.unwrap_or(now));
            comp.handled_by = Some(format!("{}@{}", key.endpoint, key.host));
        }
        let outcome = if status == RunStatus::Compensating && first {
            let next = self.advance_compensation(now);
            if self.status == RunStatus::Compensated {
                CompleteOutcome::Compensated
            } else {
                // Only what this undo released: the steps it ran after. The
                // others' due state did not change (they were published by
                // whichever transition released them).
                let before = self.ancestors(key.step);
                let next = next.into_iter().filter(|n| before[n.index]).collect();
                CompleteOutcome::Compensate { next }
            }
        } else {
            CompleteOutcome::Recorded
        };
        self.touch(now);
        Ok(outcome)
    }

    /// A compensation's consumer ran out of retries (see [`Run::fail`]): the
    /// run is `CompensationFailed`, naming it.
    pub(super) fn fail_compensation(
        &mut self,
        key: &StepKey,
        error: &str,
        attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<FailOutcome> {
        self.compensation_mut(key.step)?;
        if self.owns_compensation(key, StepStatus::Failed) {
            return Ok(
                if self.status == RunStatus::CompensationFailed && self.decided_compensation(key) {
                    FailOutcome::CompensationFailed
                } else {
                    FailOutcome::Recorded
                },
            );
        }
        let status = self.status;
        let comp = self.compensation_mut(key.step)?;
        let handler = Self::handler_mut(&mut comp.handlers, key);
        handler.status = StepStatus::Failed;
        handler.attempts += attempts;
        handler.finished_at = Some(now);
        handler.error = Some(error.to_string());
        handler.host = key.host.clone();
        comp.attempts += attempts;
        comp.last_error = Some(error.to_string());
        let outcome = if comp.status == StepStatus::Succeeded {
            FailOutcome::Recorded
        } else {
            comp.status = StepStatus::Failed;
            comp.failed_at = Some(now);
            comp.invoked_at.get_or_insert(key.started_at.unwrap_or(now));
            comp.handled_by = Some(format!("{}@{}", key.endpoint, key.host));
            if status == RunStatus::Compensating {
                self.undo_failed(key.step, error, now)
            } else {
                FailOutcome::Recorded
            }
        };
        self.touch(now);
        Ok(outcome)
    }

    /// The compensation of step `index` failed for good (its consumer ran out
    /// of retries, or no consumer is bound to its event) while the run
    /// compensates: the run is `CompensationFailed`, its error naming the undo.
    pub(super) fn undo_failed(
        &mut self,
        index: usize,
        error: &str,
        now: DateTime<Utc>,
    ) -> FailOutcome {
        let step = &self.steps[index];
        let undo = step.compensation.as_ref().map_or("", |c| c.event.as_str());
        // Numbered from 1, as every list of steps shown to people is.
        let what = format!(
            "compensating step {} ({}) with {undo} failed: {error}",
            index + 1,
            step.event
        );
        self.error = Some(match self.failure_reason() {
            Some(reason) => format!("{reason}; then {what}"),
            None => what,
        });
        self.finish(RunStatus::CompensationFailed, now);
        FailOutcome::CompensationFailed
    }

    /// Resumes a `CompensationFailed` run's compensation: every compensation
    /// not done is pending again; returns those due.
    pub(super) fn resume_compensation(&mut self, now: DateTime<Utc>) -> Result<Vec<NextStep>> {
        for step in self.steps.iter_mut().filter(|s| s.needs_compensation()) {
            if let Some(c) = step.compensation.as_mut() {
                if c.status != StepStatus::Succeeded {
                    c.reset();
                }
            }
        }
        self.status = RunStatus::Compensating;
        self.finished_at = None;
        self.error = self.failure_reason();
        self.touch(now);
        Ok(self.advance_compensation(now))
    }

    /// Cancels a pending or running run and compensates what it did
    /// (`runs cancel --compensate`); returns the compensations due now (none
    /// while steps are in flight: the last to return publishes them). A run
    /// with nothing to undo is simply cancelled.
    pub fn cancel_and_compensate(&mut self, now: DateTime<Utc>) -> Result<Vec<NextStep>> {
        if !matches!(self.status, RunStatus::Pending | RunStatus::Running) {
            return Err(Error::InvalidState(format!(
                "run {} is {}; only pending or running runs can be cancelled and compensated",
                self.id,
                self.status.as_str()
            )));
        }
        self.cancelled_at = Some(now);
        let next = self.begin_compensation(now);
        self.touch(now);
        Ok(next)
    }
}

#[cfg(test)]
mod tests;
