//! Model layer: the pure state transitions of a run's steps (claim, complete,
//! fail) and of a new run. Every store applies these, so the rules of the
//! graph live in one place and are tested without a store. A compensation's
//! message goes to [`super::compensation`]; an operator's transitions of the
//! whole run are in [`super::lifecycle`].
//!
//! A step is *due* when every step it runs after is settled (succeeded, or an
//! optional one failed). The transition that settles a step's last
//! dependency is the one that names it to publish: it is one conditional
//! write, so two branches finishing at once in two processes publish a join
//! once.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{Error, Result};

use super::*;

impl Run {
    /// A new pending run of `def`: definition variables overlaid with `params`.
    ///
    /// Its steps run after what their definition says; a definition whose
    /// graph does not resolve (saving refuses one, see
    /// [`Definition::validate`]) runs as a chain.
    pub fn new(def: &Definition, params: Variables, started_by: impl Into<String>) -> Self {
        let now = Utc::now();
        let deps = resolve_graph(&def.steps).unwrap_or_else(|_| {
            (0..def.steps.len())
                .map(|i| i.checked_sub(1).into_iter().collect())
                .collect()
        });
        let mut variables = def.variables.clone();
        variables.extend(params.clone());
        Run {
            id: Uuid::new_v4(),
            definition: def.name.clone(),
            description: def.description.clone(),
            status: RunStatus::Pending,
            params,
            variables,
            steps: def
                .steps
                .iter()
                .zip(deps)
                .enumerate()
                .map(|(i, (step, after))| Step::new(i, step, after))
                .collect(),
            created_at: now,
            modified_at: now,
            finished_at: None,
            started_by: started_by.into(),
            rerun_of: None,
            error: None,
            cancelled_at: None,
            priority: def.priority,
            version: 0,
            signals: Vec::new(),
            wake_at: None,
            start_at: None,
        }
        .with_waits_begun(now)
    }

    /// A new run whose first steps include waits: they wait from the start.
    fn with_waits_begun(mut self, now: DateTime<Utc>) -> Self {
        if self.steps.iter().any(Step::holds_back) {
            let first = self.start_steps();
            self.arrive(first, now);
        }
        self
    }

    /// The message to publish for step `index`.
    pub fn next_step(&self, index: usize) -> NextStep {
        NextStep {
            index,
            event: self
                .steps
                .get(index)
                .map(|s| s.event.clone())
                .unwrap_or_default(),
            variables: self.variables.clone(),
            compensates: None,
            undoes_event: None,
        }
    }

    /// The steps a run starts with: those that run after no other (none
    /// while its start is delayed).
    pub fn start_steps(&self) -> Vec<NextStep> {
        if self.start_at.is_some() {
            // A delayed start: its timer publishes them ([`Run::fire_timers`]).
            return Vec::new();
        }
        self.steps
            .iter()
            .filter(|s| s.status == StepStatus::Pending && s.after_steps().next().is_none())
            .map(|s| self.next_step(s.index))
            .collect()
    }

    /// The `Pending` steps that run after step `index` and are now due: what
    /// settling `index` made due.
    pub(super) fn due_after(&self, index: usize) -> Vec<NextStep> {
        self.steps
            .iter()
            .filter(|s| s.status == StepStatus::Pending && s.after_steps().any(|d| d == index))
            .filter(|s| self.not_due(s.index).is_none())
            .map(|s| self.next_step(s.index))
            .collect()
    }

    /// Whether every step is settled (so the run succeeded).
    pub(super) fn all_settled(&self) -> bool {
        self.steps.iter().all(Step::settled)
    }

    /// How many steps succeeded.
    pub fn steps_succeeded(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.status == StepStatus::Succeeded)
            .count()
    }

    pub(super) fn touch(&mut self, now: DateTime<Utc>) {
        self.modified_at = now;
        self.version += 1;
    }

    fn no_step(&self, index: usize) -> Error {
        Error::InvalidState(format!(
            "run {} has {} steps; a message names step {index}",
            self.id,
            self.steps.len()
        ))
    }

    pub(super) fn step_mut(&mut self, index: usize) -> Result<&mut Step> {
        if index >= self.steps.len() {
            return Err(self.no_step(index));
        }
        Ok(&mut self.steps[index])
    }

    pub(super) fn finish(&mut self, status: RunStatus, now: DateTime<Utc>) {
        self.status = status;
        self.finished_at = Some(now);
        self.wake_at = None;
        for step in &mut self.steps {
            if matches!(step.status, StepStatus::Pending | StepStatus::Waiting) {
                step.status = StepStatus::Skipped;
            }
            // Not needed, or not reached: shown as such, not as waiting.
            if let Some(c) = step.compensation.as_mut() {
                if c.status == StepStatus::Pending {
                    c.status = StepStatus::Skipped;
                }
            }
        }
    }

    /// A consumer endpoint received the message of step `key.step`; decide whether it runs.
    pub fn claim(
        &mut self,
        key: &StepKey,
        redelivered: bool,
        now: DateTime<Utc>,
    ) -> Result<ClaimOutcome> {
        if key.compensation {
            return self.claim_compensation(key, redelivered, now);
        }
        let status = self.status;
        let step = self.step_mut(key.step)?;
        match status {
            RunStatus::Cancelled => {
                if matches!(
                    step.status,
                    StepStatus::Pending | StepStatus::Invoked | StepStatus::Skipped
                ) {
                    step.status = StepStatus::Cancelled;
                    step.cancelled_at = Some(now);
                    self.touch(now);
                }
                return Ok(ClaimOutcome::Cancelled);
            }
            RunStatus::Compensating => {
                // This endpoint's outcome may have started the compensation
                // and its process died before publishing it: a redelivery
                // publishes what nobody picked up (a copy runs once).
                let finished_here = step.handlers.iter().any(|h| {
                    h.endpoint == key.endpoint
                        && matches!(h.status, StepStatus::Succeeded | StepStatus::Failed)
                });
                if finished_here {
                    return Ok(ClaimOutcome::AlreadyDone {
                        republish: self.unpublished_compensations(),
                    });
                }
                return Ok(ClaimOutcome::NotRunning(status));
            }
            RunStatus::Pending | RunStatus::Running => {}
            _ => return Ok(ClaimOutcome::NotRunning(status)),
        }
        if let Some(not_due) = self.not_due(key.step) {
            return Ok(not_due);
        }
        if self.own_record(key, StepStatus::Invoked).is_some() {
            // A retried claim whose first try landed: answer as it did.
            return Ok(self
                .claimable(key, redelivered)?
                .unwrap_or(ClaimOutcome::InFlight));
        }
        let now = key.started_at.unwrap_or(now);
        let Some(claimed) = self.claimable(key, redelivered)? else {
            return Ok(self.not_claimed(key));
        };
        let step = self.step_mut(key.step)?;
        let deadline = key.budget.and_then(|b| b.deadline(now, step.timeout_ms));
        match step
            .handlers
            .iter_mut()
            .find(|h| h.endpoint == key.endpoint)
        {
            Some(h) => {
                if h.status == StepStatus::Invoked {
                    // Started, no outcome: that attempt was lost.
                    h.attempts += 1;
                    h.lost += 1;
                    step.attempts += 1;
                }
                h.status = StepStatus::Invoked;
                h.host = key.host.clone();
                h.started_at = Some(now);
                h.finished_at = None;
                h.handling = key.handling;
                h.deadline = deadline;
            }
            None => step.handlers.push(StepHandler {
                endpoint: key.endpoint.clone(),
                host: key.host.clone(),
                status: StepStatus::Invoked,
                attempts: 0,
                started_at: Some(now),
                finished_at: None,
                error: None,
                handling: key.handling,
                deadline,
                lost: 0,
                retried: 0,
            }),
        }
        if step.status == StepStatus::Pending {
            step.status = StepStatus::Invoked;
            step.invoked_at = Some(now);
        }
        if self.status == RunStatus::Pending {
            self.status = RunStatus::Running;
        }
        self.touch(now);
        Ok(claimed)
    }

    /// What [`Run::claim`] would answer when it would let the consumer run
    /// (`Some(Claimed {..})`), without changing the run; `None` when it would
    /// not (the run is not running, or this endpoint finished the step or is
    /// handling it), and also for a compensation or any step of a run that
    /// names compensations: a failure must know every step in flight.
    /// Lets a store decide a claim without recording it; the
    /// start is then recorded with the outcome ([`Run::complete`], [`Run::fail`]).
    ///
    /// ```
    /// use isoqube::model::ClaimOutcome;
    /// use isoqube::{Definition, Run, model::StepKey, Variables};
    /// let def = Definition::new("d", ["A", "B"]);
    /// let mut run = Run::new(&def, Variables::new(), "doc");
    /// let key = StepKey::new(run.id, 0, "a", "host-1");
    /// assert!(matches!(run.peek_claim(&key, false), Ok(Some(ClaimOutcome::Claimed { .. }))));
    /// run.claim(&key, false, chrono::Utc::now()).unwrap();
    /// // the endpoint is handling it now: a second copy would not run
    /// assert_eq!(run.peek_claim(&key, false).unwrap(), None);
    /// ```
    pub fn peek_claim(&self, key: &StepKey, redelivered: bool) -> Result<Option<ClaimOutcome>> {
        if key.compensation || self.compensable() {
            return Ok(None);
        }
        self.claimable(key, redelivered)
    }

    /// [`Self::peek_claim`] for any run: what the claim would answer when it
    /// lets the consumer run.
    fn claimable(&self, key: &StepKey, redelivered: bool) -> Result<Option<ClaimOutcome>> {
        let step = self
            .steps
            .get(key.step)
            .ok_or_else(|| self.no_step(key.step))?;
        if !matches!(self.status, RunStatus::Pending | RunStatus::Running)
            || self.not_due(key.step).is_some()
        {
            return Ok(None);
        }
        let (attempts, lost, retried) =
            match step.handlers.iter().find(|h| h.endpoint == key.endpoint) {
                // This very handling's claim is recorded (a retried call): the
                // attempt it counted is this one.
                Some(h) if h.status == StepStatus::Invoked && Self::owns(h, key) => {
                    (h.attempts, h.lost, h.retried)
                }
                Some(h) if h.status == StepStatus::Succeeded => return Ok(None),
                Some(h) if h.status == StepStatus::Invoked && !redelivered => return Ok(None),
                // Its start is recorded but no outcome: the delivery that started it
                // was lost (the process was killed, or its shutdown grace ran out).
                // That attempt counts, so the retry policy and `ctx.attempt()` see it.
                Some(h) if h.status == StepStatus::Invoked => {
                    (h.attempts + 1, h.lost + 1, h.retried)
                }
                Some(h) => (h.attempts, h.lost, h.retried),
                None => (0, 0, 0),
            };
        Ok(Some(ClaimOutcome::Claimed {
            variables: self.variables.clone(),
            attempts,
            step_count: self.steps.len(),
            timeout_ms: step.timeout_ms,
            lost,
            used: lost + retried,
        }))
    }

    /// `Some(NotDue)` when step `index` may not run yet: a step is due once
    /// every step it runs after is settled in the store (in a chain, the step
    /// before it succeeded).
    pub fn not_due(&self, index: usize) -> Option<ClaimOutcome> {
        let step = self.steps.get(index)?;
        // Due, but waiting (for its event, or its time): not to run yet.
        if step.status == StepStatus::Waiting {
            return Some(ClaimOutcome::NotDue {
                waits_for: index,
                status: StepStatus::Waiting,
            });
        }
        let waits = step
            .after_steps()
            .filter_map(|d| self.steps.get(d))
            .find(|d| !d.settled())?;
        Some(ClaimOutcome::NotDue {
            waits_for: waits.index,
            status: waits.status,
        })
    }

    /// The answer of a claim on a running run that does not run the consumer:
    /// the endpoint finished the step already, or is handling it.
    fn not_claimed(&self, key: &StepKey) -> ClaimOutcome {
        let step = &self.steps[key.step];
        let done = step
            .handlers
            .iter()
            .any(|h| h.endpoint == key.endpoint && h.status == StepStatus::Succeeded);
        if !done {
            return ClaimOutcome::InFlight;
        }
        let advanced_here = step
            .handled_by
            .as_deref()
            .is_some_and(|by| by.split('@').next() == Some(key.endpoint.as_str()));
        let republish = if advanced_here {
            self.unpublished_after(key.step)
        } else {
            Vec::new()
        };
        ClaimOutcome::AlreadyDone { republish }
    }

    /// The endpoint's handler among `handlers` (a step's or its compensation's),
    /// added when the start was never recorded;
    /// its start is the key's when the key knows it.
    pub(super) fn handler_mut<'a>(
        handlers: &'a mut Vec<StepHandler>,
        key: &StepKey,
    ) -> &'a mut StepHandler {
        let pos = match handlers.iter().position(|h| h.endpoint == key.endpoint) {
            Some(pos) => pos,
            None => {
                handlers.push(StepHandler {
                    endpoint: key.endpoint.clone(),
                    host: key.host.clone(),
                    status: StepStatus::Invoked,
                    attempts: 0,
                    started_at: None,
                    finished_at: None,
                    error: None,
                    handling: None,
                    deadline: None,
                    lost: 0,
                    retried: 0,
                });
                handlers.len() - 1
            }
        };
        let handler = &mut handlers[pos];
        if key.started_at.is_some() {
            handler.started_at = key.started_at;
        }
        handler.handling = key.handling;
        // An outcome is recorded: the attempts lost or retried before it
        // are behind it.
        handler.lost = 0;
        handler.retried = 0;
        handler
    }

    /// The consumer succeeded after `attempts` invocations and added `patch` to the
    /// variables; record it and decide whether the run advances.
    pub fn complete(
        &mut self,
        key: &StepKey,
        patch: Variables,
        attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<CompleteOutcome> {
        if key.compensation {
            return self.complete_compensation(key, attempts, now);
        }
        let status = self.status;
        self.step_mut(key.step)?;
        if self.own_record(key, StepStatus::Succeeded).is_some() {
            return Ok(self.replayed_complete(key));
        }
        let step = self.step_mut(key.step)?;
        let handler = Self::handler_mut(&mut step.handlers, key);
        handler.status = StepStatus::Succeeded;
        handler.attempts += attempts;
        handler.finished_at = Some(now);
        handler.host = key.host.clone();
        step.attempts += attempts;
        let outcome = match status {
            RunStatus::Cancelled => {
                if step.status != StepStatus::Succeeded {
                    step.status = StepStatus::Cancelled;
                    step.cancelled_at = Some(now);
                }
                CompleteOutcome::Cancelled
            }
            RunStatus::Pending | RunStatus::Running if step.status != StepStatus::Succeeded => {
                step.status = StepStatus::Succeeded;
                step.completed_at = Some(now);
                step.invoked_at.get_or_insert(key.started_at.unwrap_or(now));
                step.handled_by = Some(format!("{}@{}", key.endpoint, key.host));
                // Parallel branches writing one variable: the later
                // completion wins (the store serialises the writes).
                self.variables.extend(patch);
                self.status = RunStatus::Running;
                let variables = &self.variables;
                if let Some(c) = self.steps[key.step].compensation.as_mut() {
                    c.variables = Some(variables.clone());
                }
                // Succeeded only when every step is settled: the claim refuses
                // a step that is not due, and this holds it for the run too.
                if self.all_settled() {
                    self.finish(RunStatus::Succeeded, now);
                    CompleteOutcome::Finished
                } else {
                    let due = self.due_after(key.step);
                    let next = self.arrive(due, now);
                    if self.status == RunStatus::Succeeded {
                        CompleteOutcome::Finished
                    } else {
                        CompleteOutcome::Advanced { next }
                    }
                }
            }
            RunStatus::Failed | RunStatus::Compensating
                if matches!(step.status, StepStatus::Invoked | StepStatus::Skipped) =>
            {
                // A branch in flight when another failed the run: its work
                // is done and recorded as such (what it did stays known),
                // and undone with the rest when the run compensates.
                step.status = StepStatus::Succeeded;
                step.completed_at = Some(now);
                step.handled_by = Some(format!("{}@{}", key.endpoint, key.host));
                self.variables.extend(patch);
                let variables = &self.variables;
                if let Some(c) = self.steps[key.step].compensation.as_mut() {
                    c.variables = Some(variables.clone());
                }
                if status == RunStatus::Compensating {
                    CompleteOutcome::Compensate {
                        next: self.advance_compensation(now),
                    }
                } else {
                    CompleteOutcome::Recorded
                }
            }
            _ => {
                if status == RunStatus::Running {
                    self.variables.extend(patch);
                }
                CompleteOutcome::Recorded
            }
        };
        self.touch(now);
        Ok(outcome)
    }

    /// The consumer failed `attempts` times, the last time with `error`; record it.
    pub fn fail(
        &mut self,
        key: &StepKey,
        error: &str,
        attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<FailOutcome> {
        if key.compensation {
            return self.fail_compensation(key, error, attempts, now);
        }
        let status = self.status;
        self.step_mut(key.step)?;
        if self.own_record(key, StepStatus::Failed).is_some() {
            return Ok(self.replayed_fail(key));
        }
        let step = self.step_mut(key.step)?;
        let handler = Self::handler_mut(&mut step.handlers, key);
        handler.status = StepStatus::Failed;
        handler.attempts += attempts;
        handler.finished_at = Some(now);
        handler.error = Some(error.to_string());
        handler.host = key.host.clone();
        step.attempts += attempts;
        step.last_error = Some(error.to_string());
        let outcome = match status {
            RunStatus::Cancelled => {
                if step.status != StepStatus::Succeeded {
                    step.status = StepStatus::Cancelled;
                    step.cancelled_at = Some(now);
                }
                FailOutcome::Cancelled
            }
            RunStatus::Pending | RunStatus::Running if step.status != StepStatus::Succeeded => {
                step.invoked_at.get_or_insert(key.started_at.unwrap_or(now));
                step.handled_by = Some(format!("{}@{}", key.endpoint, key.host));
                self.step_failed(key.step, error, now)
            }
            RunStatus::Failed | RunStatus::Compensating
                if matches!(step.status, StepStatus::Invoked | StepStatus::Skipped) =>
            {
                // A branch in flight when another failed the run.
                step.status = StepStatus::Failed;
                step.failed_at = Some(now);
                step.handled_by = Some(format!("{}@{}", key.endpoint, key.host));
                if status == RunStatus::Compensating {
                    FailOutcome::Compensate {
                        next: self.advance_compensation(now),
                    }
                } else {
                    FailOutcome::Recorded
                }
            }
            _ => FailOutcome::Recorded,
        };
        self.touch(now);
        Ok(outcome)
    }

    /// Step `index` of a pending or running run failed for good (its consumer
    /// ran out of retries, or no consumer is bound to its event): records it
    /// and decides what the run does. An optional step holds nothing up; any
    /// other fails the run, which compensates what succeeded when its
    /// definition names compensations.
    pub(super) fn step_failed(
        &mut self,
        index: usize,
        error: &str,
        now: DateTime<Utc>,
    ) -> FailOutcome {
        let step = &mut self.steps[index];
        step.status = StepStatus::Failed;
        step.failed_at = Some(now);
        if step.optional {
            self.status = RunStatus::Running;
            if self.all_settled() {
                self.finish(RunStatus::Succeeded, now);
                return FailOutcome::Finished;
            }
            let due = self.due_after(index);
            let next = self.arrive(due, now);
            if self.status == RunStatus::Succeeded {
                return FailOutcome::Finished;
            }
            return FailOutcome::Tolerated { next };
        }
        // Numbered from 1, as every list of steps shown to people is.
        self.error = Some(format!(
            "step {} ({}) failed: {error}",
            index + 1,
            step.event
        ));
        if self.compensable() {
            let next = self.begin_compensation(now);
            if self.status == RunStatus::Compensating {
                return FailOutcome::Compensate { next };
            }
            return FailOutcome::RunFailed;
        }
        self.finish(RunStatus::Failed, now);
        FailOutcome::RunFailed
    }
}
