//! Model layer: the pure state transitions of a run (claim, complete, fail,
//! cancel, resume) and what each decided. Every store applies these, so the rules
//! of the graph live in one place and are tested without a store.
//!
//! A step is *due* when every step it runs after is settled (succeeded, or an
//! optional one failed). The transition that settles a step's last
//! dependency is the one that names it to publish: it is one conditional
//! write, so two branches finishing at once in two processes publish a join
//! once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

use super::*;

/// A step to publish, with what its message is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct NextStep {
    /// Step index.
    pub index: usize,
    /// Event name.
    pub event: String,
    /// Run variables (the payload).
    pub variables: Variables,
}

/// What [`Run::claim`] decided for a delivered step message.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// Run the consumer. `attempts` is how often this endpoint already ran it.
    Claimed {
        /// The run variables to build the context from.
        variables: Variables,
        /// Earlier invocations by this endpoint.
        attempts: u32,
        /// Number of steps of the run.
        step_count: usize,
        /// The longest one attempt may run (the step's `timeout`), in ms.
        timeout_ms: Option<u64>,
    },
    /// This endpoint already finished the step: do not run it again. When the
    /// endpoint advanced the run but the next step was never picked up (a crash
    /// between recording and publishing), `republish` names the step to publish again.
    AlreadyDone {
        /// Steps to publish again.
        republish: Vec<NextStep>,
    },
    /// Another copy of this message is being handled right now.
    InFlight,
    /// The run was cancelled; the step is now marked cancelled.
    Cancelled,
    /// The run is not running (finished or failed); nothing to do.
    NotRunning(RunStatus),
    /// The step is not due: a step it runs after has not succeeded (a message
    /// the run did not publish, or one that overtook the record of its
    /// predecessor). It must not run; nothing was recorded.
    NotDue {
        /// The first step it waits for (index).
        waits_for: usize,
        /// That step's status in the store.
        status: StepStatus,
    },
}

/// What [`Run::complete`] decided after a consumer succeeded.
#[derive(Debug, Clone, PartialEq)]
pub enum CompleteOutcome {
    /// This success advanced the run: publish `next`, the steps it made due
    /// (none when they wait for other branches too).
    Advanced {
        /// The steps now due.
        next: Vec<NextStep>,
    },
    /// This success was the last one the run needed: it succeeded.
    Finished,
    /// Recorded for the endpoint; the step was already advanced by another endpoint
    /// or the run is no longer running.
    Recorded,
    /// The run was cancelled while the step ran; the step is marked cancelled.
    Cancelled,
}

/// What [`Run::fail`] decided after a consumer ran out of retries.
#[derive(Debug, Clone, PartialEq)]
pub enum FailOutcome {
    /// The step and the run are now failed.
    RunFailed,
    /// An optional step failed: the run goes on with `next`, the steps its
    /// failure made due.
    Tolerated {
        /// The steps now due.
        next: Vec<NextStep>,
    },
    /// An optional step failed, and it was the last one the run waited for:
    /// the run succeeded.
    Finished,
    /// Recorded for the endpoint only (the step had already succeeded, or the run ended).
    Recorded,
    /// The run was cancelled while the step ran; the step is marked cancelled.
    Cancelled,
}

/// Identifies one endpoint's handling of one step, for the store transitions.
///
/// ```
/// let key = isoqube::StepKey::new(uuid::Uuid::nil(), 0, "build", "host-1");
/// assert_eq!(key.endpoint, "build");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepKey {
    /// The run.
    pub run_id: Uuid,
    /// The step index.
    pub step: usize,
    /// The endpoint handling it.
    pub endpoint: String,
    /// The host handling it.
    pub host: String,
    /// When this handling started, if known. A step whose start was not
    /// recorded by [`Run::claim`] gets it from here when its outcome is
    /// recorded, so its duration stays right.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// Names this handling of one delivery. A store call is retried when its
    /// answer is lost, and its first try may have landed: the transitions
    /// recognise their own earlier write by this id (kept in the handler's
    /// record) and answer as that write did, instead of applying it twice
    /// (which would say "already advanced" and never publish the next step,
    /// or count the attempts twice).
    #[serde(default)]
    pub handling: Option<Uuid>,
}

impl StepKey {
    /// Builds a key.
    pub fn new(
        run_id: Uuid,
        step: usize,
        endpoint: impl Into<String>,
        host: impl Into<String>,
    ) -> Self {
        StepKey {
            run_id,
            step,
            endpoint: endpoint.into(),
            host: host.into(),
            started_at: None,
            handling: None,
        }
    }

    /// The same key, with the moment this handling started.
    ///
    /// ```
    /// let now = chrono::Utc::now();
    /// let key = isoqube::StepKey::new(uuid::Uuid::nil(), 0, "build", "host-1").started(now);
    /// assert_eq!(key.started_at, Some(now));
    /// ```
    pub fn started(mut self, at: DateTime<Utc>) -> Self {
        self.started_at = Some(at);
        self
    }

    /// The same key, naming the handling it belongs to (see [`Self::handling`]).
    ///
    /// ```
    /// let id = uuid::Uuid::new_v4();
    /// let key = isoqube::StepKey::new(uuid::Uuid::nil(), 0, "build", "host-1").handled(id);
    /// assert_eq!(key.handling, Some(id));
    /// ```
    pub fn handled(mut self, handling: Uuid) -> Self {
        self.handling = Some(handling);
        self
    }
}

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
            priority: def.priority,
            version: 0,
        }
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
        }
    }

    /// The steps a run starts with: those that run after no other.
    pub fn start_steps(&self) -> Vec<NextStep> {
        self.steps
            .iter()
            .filter(|s| s.after_steps().next().is_none())
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
    fn all_settled(&self) -> bool {
        self.steps.iter().all(Step::settled)
    }

    /// How many steps succeeded.
    pub fn steps_succeeded(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.status == StepStatus::Succeeded)
            .count()
    }

    fn touch(&mut self, now: DateTime<Utc>) {
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

    fn step_mut(&mut self, index: usize) -> Result<&mut Step> {
        if index >= self.steps.len() {
            return Err(self.no_step(index));
        }
        Ok(&mut self.steps[index])
    }

    fn finish(&mut self, status: RunStatus, now: DateTime<Utc>) {
        self.status = status;
        self.finished_at = Some(now);
        for step in &mut self.steps {
            if step.status == StepStatus::Pending {
                step.status = StepStatus::Skipped;
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
            RunStatus::Succeeded | RunStatus::Failed => {
                return Ok(ClaimOutcome::NotRunning(status))
            }
            RunStatus::Pending | RunStatus::Running => {}
        }
        if let Some(not_due) = self.not_due(key.step) {
            return Ok(not_due);
        }
        if self.own_record(key, StepStatus::Invoked).is_some() {
            // A retried claim whose first try landed: answer as it did.
            return Ok(self
                .peek_claim(key, redelivered)?
                .unwrap_or(ClaimOutcome::InFlight));
        }
        let now = key.started_at.unwrap_or(now);
        let Some(claimed) = self.peek_claim(key, redelivered)? else {
            return Ok(self.not_claimed(key));
        };
        let step = self.step_mut(key.step)?;
        match step
            .handlers
            .iter_mut()
            .find(|h| h.endpoint == key.endpoint)
        {
            Some(h) => {
                if h.status == StepStatus::Invoked {
                    h.attempts += 1;
                    step.attempts += 1;
                }
                h.status = StepStatus::Invoked;
                h.host = key.host.clone();
                h.started_at = Some(now);
                h.finished_at = None;
                h.handling = key.handling;
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
    /// handling it). Lets a store decide a claim without recording it; the
    /// start is then recorded with the outcome ([`Run::complete`], [`Run::fail`]).
    ///
    /// ```
    /// use isoqube::model::ClaimOutcome;
    /// use isoqube::{Definition, Run, StepKey, Variables};
    /// let def = Definition::new("d", ["A", "B"]);
    /// let mut run = Run::new(&def, Variables::new(), "doc");
    /// let key = StepKey::new(run.id, 0, "a", "host-1");
    /// assert!(matches!(run.peek_claim(&key, false), Ok(Some(ClaimOutcome::Claimed { .. }))));
    /// run.claim(&key, false, chrono::Utc::now()).unwrap();
    /// // the endpoint is handling it now: a second copy would not run
    /// assert_eq!(run.peek_claim(&key, false).unwrap(), None);
    /// ```
    pub fn peek_claim(&self, key: &StepKey, redelivered: bool) -> Result<Option<ClaimOutcome>> {
        let step = self
            .steps
            .get(key.step)
            .ok_or_else(|| self.no_step(key.step))?;
        if !matches!(self.status, RunStatus::Pending | RunStatus::Running)
            || self.not_due(key.step).is_some()
        {
            return Ok(None);
        }
        let attempts = match step.handlers.iter().find(|h| h.endpoint == key.endpoint) {
            // This very handling's claim is recorded (a retried call): the
            // attempt it counted is this one.
            Some(h) if h.status == StepStatus::Invoked && Self::owns(h, key) => h.attempts,
            Some(h) if h.status == StepStatus::Succeeded => return Ok(None),
            Some(h) if h.status == StepStatus::Invoked && !redelivered => return Ok(None),
            // Its start is recorded but no outcome: the delivery that started it
            // was lost (the process was killed, or its shutdown grace ran out).
            // That attempt counts, so the retry policy and `ctx.attempt()` see it.
            Some(h) if h.status == StepStatus::Invoked => h.attempts + 1,
            Some(h) => h.attempts,
            None => 0,
        };
        Ok(Some(ClaimOutcome::Claimed {
            variables: self.variables.clone(),
            attempts,
            step_count: self.steps.len(),
            timeout_ms: step.timeout_ms,
        }))
    }

    /// `Some(NotDue)` when step `index` may not run yet: a step is due once
    /// every step it runs after is settled in the store (in a chain, the step
    /// before it succeeded).
    pub fn not_due(&self, index: usize) -> Option<ClaimOutcome> {
        let step = self.steps.get(index)?;
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

    /// The endpoint's handler of `step`, added when the start was never recorded;
    /// its start is the key's when the key knows it.
    fn handler_mut<'a>(step: &'a mut Step, key: &StepKey) -> &'a mut StepHandler {
        let pos = match step
            .handlers
            .iter()
            .position(|h| h.endpoint == key.endpoint)
        {
            Some(pos) => pos,
            None => {
                step.handlers.push(StepHandler {
                    endpoint: key.endpoint.clone(),
                    host: key.host.clone(),
                    status: StepStatus::Invoked,
                    attempts: 0,
                    started_at: None,
                    finished_at: None,
                    error: None,
                    handling: None,
                });
                step.handlers.len() - 1
            }
        };
        let handler = &mut step.handlers[pos];
        if key.started_at.is_some() {
            handler.started_at = key.started_at;
        }
        handler.handling = key.handling;
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
        let status = self.status;
        self.step_mut(key.step)?;
        if self.own_record(key, StepStatus::Succeeded).is_some() {
            return Ok(self.replayed_complete(key));
        }
        let step = self.step_mut(key.step)?;
        let handler = Self::handler_mut(step, key);
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
                // Succeeded only when every step is settled: the claim refuses
                // a step that is not due, and this holds it for the run too.
                if self.all_settled() {
                    self.finish(RunStatus::Succeeded, now);
                    CompleteOutcome::Finished
                } else {
                    CompleteOutcome::Advanced {
                        next: self.due_after(key.step),
                    }
                }
            }
            RunStatus::Failed
                if matches!(step.status, StepStatus::Invoked | StepStatus::Skipped) =>
            {
                // A branch in flight when another failed the run: its work
                // is done and recorded as such (what it did stays known).
                step.status = StepStatus::Succeeded;
                step.completed_at = Some(now);
                step.handled_by = Some(format!("{}@{}", key.endpoint, key.host));
                self.variables.extend(patch);
                CompleteOutcome::Recorded
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
        let status = self.status;
        self.step_mut(key.step)?;
        if self.own_record(key, StepStatus::Failed).is_some() {
            return Ok(self.replayed_fail(key));
        }
        let step = self.step_mut(key.step)?;
        let handler = Self::handler_mut(step, key);
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
                step.status = StepStatus::Failed;
                step.failed_at = Some(now);
                step.invoked_at.get_or_insert(key.started_at.unwrap_or(now));
                step.handled_by = Some(format!("{}@{}", key.endpoint, key.host));
                if step.optional {
                    // Recorded, and it holds nothing up: the run goes on.
                    self.status = RunStatus::Running;
                    if self.all_settled() {
                        self.finish(RunStatus::Succeeded, now);
                        FailOutcome::Finished
                    } else {
                        FailOutcome::Tolerated {
                            next: self.due_after(key.step),
                        }
                    }
                } else {
                    // Numbered from 1, as every list of steps shown to people is.
                    self.error = Some(format!(
                        "step {} ({}) failed: {error}",
                        key.step + 1,
                        step.event
                    ));
                    self.finish(RunStatus::Failed, now);
                    FailOutcome::RunFailed
                }
            }
            RunStatus::Failed
                if matches!(step.status, StepStatus::Invoked | StepStatus::Skipped) =>
            {
                // A branch in flight when another failed the run.
                step.status = StepStatus::Failed;
                step.failed_at = Some(now);
                step.handled_by = Some(format!("{}@{}", key.endpoint, key.host));
                FailOutcome::Recorded
            }
            _ => FailOutcome::Recorded,
        };
        self.touch(now);
        Ok(outcome)
    }

    /// Stops a pending or running run: no further step is published; the step in
    /// flight is marked cancelled when its consumer returns.
    pub fn cancel(&mut self, now: DateTime<Utc>) -> Result<()> {
        if self.status.is_finished() {
            return Err(Error::InvalidState(format!(
                "run {} is {}; only pending or running runs can be cancelled",
                self.id,
                self.status.as_str()
            )));
        }
        self.finish(RunStatus::Cancelled, now);
        self.touch(now);
        Ok(())
    }

    /// Continues a failed or cancelled run: every step not settled is pending
    /// again; returns the steps now due (every failed step whose dependencies
    /// are met, on every branch), to publish.
    pub fn resume(&mut self, now: DateTime<Utc>) -> Result<Vec<NextStep>> {
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
            }
        }
        self.status = RunStatus::Running;
        self.finished_at = None;
        self.error = None;
        self.touch(now);
        Ok(self
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Pending && self.not_due(s.index).is_none())
            .map(|s| self.next_step(s.index))
            .collect())
    }

    /// Marks a run failed for a reason outside any step (its first message could not
    /// be published, say).
    pub fn abort(&mut self, reason: &str, now: DateTime<Utc>) -> Result<()> {
        if self.status.is_finished() {
            return Err(Error::InvalidState(format!(
                "run {} is {} already",
                self.id,
                self.status.as_str()
            )));
        }
        self.error = Some(reason.to_string());
        self.finish(RunStatus::Failed, now);
        self.touch(now);
        Ok(())
    }
}
