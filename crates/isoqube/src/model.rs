//! The records Isoqube keeps (definitions, runs, steps, services, topics, logs)
//! and the pure state transitions of a run.
//!
//! Every store applies the transitions defined here, so the rules of the chain
//! (who advances a step, what a redelivery does, what cancel and resume change)
//! live in one place and are tested without any store.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::json;

/// The run variables: a JSON object.
pub type Variables = Map<String, Value>;

/// Overall status of a run.
///
/// ```
/// use isoqube::RunStatus;
/// assert!(RunStatus::Failed.is_finished());
/// assert_eq!(RunStatus::Running.as_str(), "Running");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RunStatus {
    /// Created, first step not yet picked up.
    Pending,
    /// At least one step was picked up.
    Running,
    /// Every step succeeded.
    Succeeded,
    /// A step failed after its retries.
    Failed,
    /// An operator cancelled it.
    Cancelled,
}

impl RunStatus {
    /// No further step will run (unless resumed).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }

    /// The name as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "Pending",
            RunStatus::Running => "Running",
            RunStatus::Succeeded => "Succeeded",
            RunStatus::Failed => "Failed",
            RunStatus::Cancelled => "Cancelled",
        }
    }

    /// Parses a status name, case-insensitively.
    pub fn parse(s: &str) -> Result<Self> {
        [
            RunStatus::Pending,
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::Cancelled,
        ]
        .into_iter()
        .find(|st| st.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| {
            Error::InvalidState(format!(
                "unknown run status '{s}' (expected Pending, Running, Succeeded, Failed or Cancelled)"
            ))
        })
    }
}

/// Status of one step of a run (and of one endpoint's handling of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StepStatus {
    /// Not yet picked up.
    Pending,
    /// A consumer is working on it.
    Invoked,
    /// A consumer finished it.
    Succeeded,
    /// A consumer gave up on it after its retries.
    Failed,
    /// The run was cancelled while the step was in flight.
    Cancelled,
    /// The run ended before the step was reached.
    Skipped,
}

impl StepStatus {
    /// The name as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "Pending",
            StepStatus::Invoked => "Invoked",
            StepStatus::Succeeded => "Succeeded",
            StepStatus::Failed => "Failed",
            StepStatus::Cancelled => "Cancelled",
            StepStatus::Skipped => "Skipped",
        }
    }
}

/// A saved, named, ordered list of events (the original called it a configuration).
///
/// ```
/// use isoqube::Definition;
/// let def = Definition::new("release", ["Build", "Deploy"]).with_description("ship it");
/// assert_eq!(def.steps.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    /// Unique name.
    pub name: String,
    /// What the flow is for.
    #[serde(default)]
    pub description: String,
    /// Event names, in order.
    pub steps: Vec<String>,
    /// Variables every run starts with (run parameters override them).
    #[serde(default)]
    pub variables: Variables,
    /// Lets `POST /hooks/{id}` start runs (the HTTP API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<crate::schedule::Webhook>,
    /// When runs start by themselves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<crate::schedule::Schedule>,
    /// When it was first saved.
    #[serde(default = "Utc::now")]
    pub created_at: DateTime<Utc>,
    /// When it was last saved.
    #[serde(default = "Utc::now")]
    pub modified_at: DateTime<Utc>,
}

impl Definition {
    /// A definition with the given name and steps, no description or variables.
    pub fn new<S: Into<String>>(
        name: impl Into<String>,
        steps: impl IntoIterator<Item = S>,
    ) -> Self {
        let now = Utc::now();
        Definition {
            name: name.into(),
            description: String::new(),
            steps: steps.into_iter().map(Into::into).collect(),
            variables: Variables::new(),
            webhook: None,
            schedules: Vec::new(),
            created_at: now,
            modified_at: now,
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the default variables.
    pub fn with_variables(mut self, variables: Variables) -> Self {
        self.variables = variables;
        self
    }

    /// Checks the rules every definition must meet. `known_events` is the set of
    /// registered event names; an event outside it is refused.
    ///
    /// ```
    /// use isoqube::Definition;
    /// let known = ["Build".to_string()].into_iter().collect();
    /// let err = Definition::new("x", ["Build", "Nope"]).validate(&known).unwrap_err();
    /// assert!(err.to_string().contains("unknown event 'Nope'"));
    /// ```
    pub fn validate(&self, known_events: &BTreeSet<String>) -> Result<()> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(Error::InvalidDefinition("the name is empty".into()));
        }
        if name != self.name {
            return Err(Error::InvalidDefinition(format!(
                "the name '{}' has leading or trailing spaces",
                self.name
            )));
        }
        if name.len() > 200 || name.chars().any(char::is_control) {
            return Err(Error::InvalidDefinition(
                "the name must be at most 200 printable characters".into(),
            ));
        }
        if self.steps.is_empty() {
            return Err(Error::InvalidDefinition(format!(
                "definition '{name}' has no steps"
            )));
        }
        for (i, step) in self.steps.iter().enumerate() {
            if step.trim().is_empty() {
                return Err(Error::InvalidDefinition(format!(
                    "step {} of '{name}' names no event",
                    i + 1
                )));
            }
            if !known_events.contains(step) {
                let hint = closest(step, known_events)
                    .map(|c| format!(" (did you mean '{c}'?)"))
                    .unwrap_or_default();
                return Err(Error::InvalidDefinition(format!(
                    "step {} of '{name}' names unknown event '{step}'{hint}",
                    i + 1
                )));
            }
        }
        crate::schedule::validate(self)
    }
}

fn closest<'a>(needle: &str, known: &'a BTreeSet<String>) -> Option<&'a String> {
    let lower = needle.to_ascii_lowercase();
    known
        .iter()
        .find(|k| k.to_ascii_lowercase() == lower)
        .or_else(|| {
            known
                .iter()
                .find(|k| k.to_ascii_lowercase().contains(&lower) && !lower.is_empty())
        })
}

/// One endpoint's handling of a step (several with fan-out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepHandler {
    /// The consumer endpoint (queue) name.
    pub endpoint: String,
    /// The host (and pid) that handled it last.
    pub host: String,
    /// Where this endpoint is with the step.
    pub status: StepStatus,
    /// How many times the consumer was invoked.
    pub attempts: u32,
    /// When it was last picked up.
    #[serde(serialize_with = "timestamp::option")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished (succeeded or failed).
    #[serde(serialize_with = "timestamp::option")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The last error, if any.
    pub error: Option<String>,
}

/// One event of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Position in the run, from 0.
    pub index: usize,
    /// The event name.
    pub event: String,
    /// Where the step is.
    pub status: StepStatus,
    /// First picked up.
    #[serde(serialize_with = "timestamp::option")]
    pub invoked_at: Option<DateTime<Utc>>,
    /// Succeeded.
    #[serde(serialize_with = "timestamp::option")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Failed.
    #[serde(serialize_with = "timestamp::option")]
    pub failed_at: Option<DateTime<Utc>>,
    /// Cancelled.
    #[serde(serialize_with = "timestamp::option")]
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Consumer invocations over all endpoints and resumes.
    pub attempts: u32,
    /// The last error any endpoint reported.
    pub last_error: Option<String>,
    /// `endpoint@host` of the consumer whose success advanced the run.
    pub handled_by: Option<String>,
    /// Every endpoint that picked the step up.
    #[serde(default)]
    pub handlers: Vec<StepHandler>,
}

impl Step {
    fn new(index: usize, event: String) -> Self {
        Step {
            index,
            event,
            status: StepStatus::Pending,
            invoked_at: None,
            completed_at: None,
            failed_at: None,
            cancelled_at: None,
            attempts: 0,
            last_error: None,
            handled_by: None,
            handlers: Vec::new(),
        }
    }

    /// Time from first pick-up to success, failure or cancellation.
    pub fn duration(&self) -> Option<chrono::Duration> {
        let end = self.completed_at.or(self.failed_at).or(self.cancelled_at)?;
        Some(end - self.invoked_at?)
    }
}

/// One execution of a definition. Its id is the correlation id of every message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Run id (and correlation id on the wire).
    pub id: Uuid,
    /// The definition it was started from.
    pub definition: String,
    /// The definition's description at start.
    #[serde(default)]
    pub description: String,
    /// Overall status.
    pub status: RunStatus,
    /// The variables the run was started with (kept for re-runs).
    #[serde(default)]
    pub params: Variables,
    /// Current variables: params plus whatever consumers added.
    #[serde(default)]
    pub variables: Variables,
    /// The steps, copied from the definition.
    pub steps: Vec<Step>,
    /// Created.
    #[serde(serialize_with = "timestamp::one")]
    pub created_at: DateTime<Utc>,
    /// Last changed.
    #[serde(serialize_with = "timestamp::one")]
    pub modified_at: DateTime<Utc>,
    /// Reached Succeeded, Failed or Cancelled.
    #[serde(serialize_with = "timestamp::option")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Who started it and how, e.g. `cli`, `tui`, `http`, `sample`.
    #[serde(default)]
    pub started_by: String,
    /// The run this one re-runs, if any.
    #[serde(default)]
    pub rerun_of: Option<Uuid>,
    /// Why the run failed, when it failed outside a step (e.g. first publish refused).
    #[serde(default)]
    pub error: Option<String>,
    /// Bumped on every change, so watchers can tell a new state from an old one.
    #[serde(default)]
    pub version: u64,
}

impl StepHandler {
    /// What serde_json writes for it (see [`crate::json`]).
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"endpoint\":");
        json::str(out, &self.endpoint);
        out.push_str(",\"host\":");
        json::str(out, &self.host);
        out.push_str(",\"status\":\"");
        out.push_str(self.status.as_str());
        out.push_str("\",\"attempts\":");
        json::u64(out, u64::from(self.attempts));
        out.push_str(",\"started_at\":");
        timestamp::write_opt(out, self.started_at.as_ref());
        out.push_str(",\"finished_at\":");
        timestamp::write_opt(out, self.finished_at.as_ref());
        out.push_str(",\"error\":");
        json::opt_str(out, self.error.as_deref());
        out.push('}');
    }
}

impl Step {
    /// What serde_json writes for it (see [`crate::json`]).
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"index\":");
        json::u64(out, self.index as u64);
        out.push_str(",\"event\":");
        json::str(out, &self.event);
        out.push_str(",\"status\":\"");
        out.push_str(self.status.as_str());
        out.push_str("\",\"invoked_at\":");
        timestamp::write_opt(out, self.invoked_at.as_ref());
        out.push_str(",\"completed_at\":");
        timestamp::write_opt(out, self.completed_at.as_ref());
        out.push_str(",\"failed_at\":");
        timestamp::write_opt(out, self.failed_at.as_ref());
        out.push_str(",\"cancelled_at\":");
        timestamp::write_opt(out, self.cancelled_at.as_ref());
        out.push_str(",\"attempts\":");
        json::u64(out, u64::from(self.attempts));
        out.push_str(",\"last_error\":");
        json::opt_str(out, self.last_error.as_deref());
        out.push_str(",\"handled_by\":");
        json::opt_str(out, self.handled_by.as_deref());
        out.push_str(",\"handlers\":[");
        for (i, h) in self.handlers.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            h.write_json(out);
        }
        out.push_str("]}");
    }
}

/// The JSON of a run's steps as a store last wrote them, and the steps it was
/// written from: [`Run::to_json_keeping`] serialises (and copies) again only
/// the steps that changed since, not the whole run at every transition.
#[derive(Debug, Default)]
pub(crate) struct KeptSteps {
    steps: Vec<Step>,
    json: Vec<Box<str>>,
}

impl Run {
    /// The run as JSON, exactly what `serde_json::to_string(&run)` writes (a
    /// test holds the two together), reusing the JSON in `kept` of every step
    /// equal to the one it was written from, and updating `kept` for the others.
    /// `kept` may be of an earlier state of this run, or empty.
    ///
    /// Written by hand (see [`crate::json`]): a store that writes the whole
    /// document at every transition spent a fifth of its time in serde_json,
    /// and a tenth copying the steps to tell which ones changed.
    pub(crate) fn to_json_keeping(&self, kept: &mut KeptSteps) -> String {
        let n = self.steps.len().min(kept.steps.len()).min(kept.json.len());
        kept.steps.truncate(n);
        kept.json.truncate(n);
        let mut buf = String::with_capacity(1024);
        for (i, step) in self.steps.iter().enumerate() {
            if kept.steps.get(i) == Some(step) {
                continue;
            }
            buf.clear();
            step.write_json(&mut buf);
            match (kept.steps.get_mut(i), kept.json.get_mut(i)) {
                (Some(old), Some(json)) => {
                    old.clone_from(step);
                    *json = buf.as_str().into();
                }
                _ => {
                    kept.steps.push(step.clone());
                    kept.json.push(buf.as_str().into());
                }
            }
        }
        let steps = &kept.json;
        // Sized up front: the document is mostly the steps.
        let size = steps.iter().map(|s| s.len() + 1).sum::<usize>() + 768;
        let mut out = String::with_capacity(size);
        out.push_str("{\"id\":");
        json::uuid(&mut out, &self.id);
        out.push_str(",\"definition\":");
        json::str(&mut out, &self.definition);
        out.push_str(",\"description\":");
        json::str(&mut out, &self.description);
        out.push_str(",\"status\":\"");
        out.push_str(self.status.as_str());
        out.push_str("\",\"params\":");
        json::value(&mut out, &self.params);
        out.push_str(",\"variables\":");
        json::value(&mut out, &self.variables);
        out.push_str(",\"steps\":[");
        for (i, step) in steps.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(step);
        }
        out.push_str("],\"created_at\":");
        timestamp::write(&mut out, &self.created_at);
        out.push_str(",\"modified_at\":");
        timestamp::write(&mut out, &self.modified_at);
        out.push_str(",\"finished_at\":");
        timestamp::write_opt(&mut out, self.finished_at.as_ref());
        out.push_str(",\"started_by\":");
        json::str(&mut out, &self.started_by);
        out.push_str(",\"rerun_of\":");
        json::opt_uuid(&mut out, self.rerun_of.as_ref());
        out.push_str(",\"error\":");
        json::opt_str(&mut out, self.error.as_deref());
        out.push_str(",\"version\":");
        json::u64(&mut out, self.version);
        out.push('}');
        out
    }
}

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
    },
    /// This endpoint already finished the step: do not run it again. When the
    /// endpoint advanced the run but the next step was never picked up (a crash
    /// between recording and publishing), `republish` names the step to publish again.
    AlreadyDone {
        /// Step to publish again.
        republish: Option<NextStep>,
    },
    /// Another copy of this message is being handled right now.
    InFlight,
    /// The run was cancelled; the step is now marked cancelled.
    Cancelled,
    /// The run is not running (finished or failed); nothing to do.
    NotRunning(RunStatus),
}

/// What [`Run::complete`] decided after a consumer succeeded.
#[derive(Debug, Clone, PartialEq)]
pub enum CompleteOutcome {
    /// This success advanced the run: publish `next` (or nothing when the run finished).
    Advanced {
        /// The next step.
        next: Option<NextStep>,
    },
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
}

impl Run {
    /// A new pending run of `def`: definition variables overlaid with `params`.
    pub fn new(def: &Definition, params: Variables, started_by: impl Into<String>) -> Self {
        let now = Utc::now();
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
                .enumerate()
                .map(|(i, e)| Step::new(i, e.clone()))
                .collect(),
            created_at: now,
            modified_at: now,
            finished_at: None,
            started_by: started_by.into(),
            rerun_of: None,
            error: None,
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
                h.status = StepStatus::Invoked;
                h.host = key.host.clone();
                h.started_at = Some(now);
                h.finished_at = None;
            }
            None => step.handlers.push(StepHandler {
                endpoint: key.endpoint.clone(),
                host: key.host.clone(),
                status: StepStatus::Invoked,
                attempts: 0,
                started_at: Some(now),
                finished_at: None,
                error: None,
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
        if !matches!(self.status, RunStatus::Pending | RunStatus::Running) {
            return Ok(None);
        }
        let attempts = match step.handlers.iter().find(|h| h.endpoint == key.endpoint) {
            Some(h) if h.status == StepStatus::Succeeded => return Ok(None),
            Some(h) if h.status == StepStatus::Invoked && !redelivered => return Ok(None),
            Some(h) => h.attempts,
            None => 0,
        };
        Ok(Some(ClaimOutcome::Claimed {
            variables: self.variables.clone(),
            attempts,
            step_count: self.steps.len(),
        }))
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
        let next = key.step + 1;
        let republish = (advanced_here
            && next < self.steps.len()
            && self.steps[next].status == StepStatus::Pending)
            .then(|| self.next_step(next));
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
                });
                step.handlers.len() - 1
            }
        };
        let handler = &mut step.handlers[pos];
        if key.started_at.is_some() {
            handler.started_at = key.started_at;
        }
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
        let last = key.step + 1 == self.steps.len();
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
                self.variables.extend(patch);
                self.status = RunStatus::Running;
                if last {
                    self.finish(RunStatus::Succeeded, now);
                    CompleteOutcome::Advanced { next: None }
                } else {
                    CompleteOutcome::Advanced {
                        next: Some(self.next_step(key.step + 1)),
                    }
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
        let status = self.status;
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
                // Numbered from 1, as every list of steps shown to people is.
                self.error = Some(format!(
                    "step {} ({}) failed: {error}",
                    key.step + 1,
                    step.event
                ));
                self.finish(RunStatus::Failed, now);
                FailOutcome::RunFailed
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

    /// Continues a failed or cancelled run from its first unfinished step; returns
    /// that step's index and the variables to publish it with.
    pub fn resume(&mut self, now: DateTime<Utc>) -> Result<NextStep> {
        if !matches!(self.status, RunStatus::Failed | RunStatus::Cancelled) {
            return Err(Error::InvalidState(format!(
                "run {} is {}; only failed or cancelled runs can be resumed",
                self.id,
                self.status.as_str()
            )));
        }
        let from = self
            .steps
            .iter()
            .position(|s| s.status != StepStatus::Succeeded)
            .ok_or_else(|| {
                Error::InvalidState(format!("run {} has no unfinished step", self.id))
            })?;
        for step in &mut self.steps[from..] {
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
        Ok(self.next_step(from))
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

/// A running service instance, as the control center sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// Unique instance id: `name@host:pid`.
    pub id: String,
    /// Service name.
    pub name: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// Event names it can publish or consume.
    pub events: Vec<String>,
    /// Consumer endpoints it hosts.
    pub consumers: Vec<String>,
    /// Transport kind (`in-process`, `amqp`).
    #[serde(default)]
    pub transport: String,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// Last heartbeat.
    pub last_seen: DateTime<Utc>,
}

/// A registered event, as the control center sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicRecord {
    /// Event name.
    pub name: String,
    /// What it means.
    pub description: String,
    /// Exchange it is published to.
    pub exchange: String,
    /// MassTransit message type URN.
    pub message_type: String,
    /// Payload fields as `name: type`, for people writing variables.
    #[serde(default)]
    pub schema: Vec<String>,
    /// Endpoints consuming it.
    #[serde(default)]
    pub consumers: Vec<String>,
    /// Last registered.
    pub updated_at: DateTime<Utc>,
}

/// One log line of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// The run.
    pub run_id: Uuid,
    /// The step index.
    pub step: Option<usize>,
    /// The event of the step.
    pub event: Option<String>,
    /// TRACE, DEBUG, INFO, WARN or ERROR.
    pub level: String,
    /// The message with its fields.
    pub message: String,
    /// Service name.
    pub service: String,
    /// Host name.
    pub host: String,
    /// When.
    #[serde(serialize_with = "timestamp::one")]
    pub timestamp: DateTime<Utc>,
}

/// Which runs to list, newest first.
///
/// ```
/// let f = isoqube::RunFilter { limit: 20, ..Default::default() };
/// assert!(f.status.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    /// Only runs with this status.
    pub status: Option<RunStatus>,
    /// Only runs of this definition.
    pub definition: Option<String>,
    /// Only runs created strictly before this time (for paging).
    pub before: Option<DateTime<Utc>>,
    /// With `before`, the id of the last run of the previous page: then also
    /// the runs created at exactly `before` whose id sorts below it. Runs are
    /// listed by (creation time, id), newest first, so paging with both never
    /// skips nor repeats runs created in the same instant. Ignored without
    /// `before`.
    pub before_id: Option<Uuid>,
    /// At most this many (0 means 50).
    pub limit: usize,
}

impl RunFilter {
    /// The effective page size.
    pub fn page_size(&self) -> usize {
        if self.limit == 0 {
            50
        } else {
            self.limit.min(1000)
        }
    }

    /// The filter for the page after `last` (the last run of this page).
    ///
    /// ```
    /// let run = isoqube::Run::new(&isoqube::Definition::new("d", ["A"]), Default::default(), "doc");
    /// let next = isoqube::RunFilter { limit: 2, ..Default::default() }.after(&run);
    /// assert_eq!((next.before, next.before_id, next.limit), (Some(run.created_at), Some(run.id), 2));
    /// ```
    pub fn after(&self, last: &Run) -> RunFilter {
        RunFilter {
            before: Some(last.created_at),
            before_id: Some(last.id),
            ..self.clone()
        }
    }
}

/// Timestamps written as chrono writes them (RFC 3339, UTC, `Z`, as many
/// fraction digits as needed), several times faster: a run document carries up
/// to four per step and is written at every step.
pub(crate) mod timestamp {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::Serializer;

    pub fn one<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 30];
        match fast(t, None, &mut buf) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        }
    }

    /// `t` as chrono's `to_rfc3339_opts(SecondsFormat::Micros, true)` writes it
    /// (an envelope's `sentTime`), without its formatter.
    pub(crate) fn micros(t: &DateTime<Utc>) -> String {
        let mut buf = [0u8; 30];
        match fast(t, Some(6), &mut buf) {
            Some(text) => text.to_string(),
            None => t.to_rfc3339_opts(SecondsFormat::Micros, true),
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z` into `buf` for years
    /// 0-9999 without a leap second (else `None`: chrono writes it); the
    /// fraction has `digits` (0, 3, 6 or 9, truncated) digits, or by default as
    /// few of those as show it exactly.
    fn fast<'a>(t: &DateTime<Utc>, digits: Option<u32>, buf: &'a mut [u8; 30]) -> Option<&'a str> {
        use chrono::{Datelike, Timelike};
        // Once: every field accessor of a DateTime converts it to local time.
        let t = t.naive_utc();
        let nanos = t.nanosecond();
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        if nanos >= 1_000_000_000 {
            return None;
        }
        let mut put = |at: usize, v: u32, digits: usize| {
            let mut v = v;
            for i in (0..digits).rev() {
                buf[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, year, 4);
        put(5, t.month(), 2);
        put(8, t.day(), 2);
        put(11, t.hour(), 2);
        put(14, t.minute(), 2);
        put(17, t.second(), 2);
        let digits = digits.unwrap_or(match nanos {
            0 => 0,
            n if n % 1_000_000 == 0 => 3,
            n if n % 1_000 == 0 => 6,
            _ => 9,
        });
        let end = match digits {
            0 => 19,
            3 => {
                put(20, nanos / 1_000_000, 3);
                23
            }
            6 => {
                put(20, nanos / 1_000, 6);
                26
            }
            9 => {
                put(20, nanos, 9);
                29
            }
            _ => return None,
        };
        buf[4] = b'-';
        buf[7] = b'-';
        buf[10] = b'T';
        buf[13] = b':';
        buf[16] = b':';
        buf[19] = b'.';
        buf[end] = b'Z';
        std::str::from_utf8(&buf[..=end]).ok()
    }

    /// `t` quoted, as [`one`] serialises it.
    pub(crate) fn write(out: &mut String, t: &DateTime<Utc>) {
        let mut buf = [0u8; 30];
        out.push('"');
        match fast(t, None, &mut buf) {
            Some(text) => out.push_str(text),
            // Digits, signs, separators: nothing to escape.
            None => out.push_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        }
        out.push('"');
    }

    /// `t` as [`option`] serialises it.
    pub(crate) fn write_opt(out: &mut String, t: Option<&DateTime<Utc>>) {
        match t {
            Some(t) => write(out, t),
            None => out.push_str("null"),
        }
    }

    pub fn option<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => one(t, s),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run3() -> Run {
        Run::new(
            &Definition::new("d", ["A", "B", "C"]),
            Variables::new(),
            "test",
        )
    }

    fn key(run: &Run, step: usize, ep: &str) -> StepKey {
        StepKey::new(run.id, step, ep, "h")
    }

    /// `peek_claim` answers `Some` exactly when `claim` would let the consumer
    /// run, with the same answer, in every state a step and its run can be in.
    #[test]
    fn peek_claim_agrees_with_claim() {
        let now = Utc::now();
        let k = |run: &Run| key(run, 1, "ep");
        let mut states: Vec<(&str, Run)> = Vec::new();
        let fresh = run3();
        states.push(("fresh", fresh.clone()));
        let mut claimed = fresh.clone();
        claimed.claim(&k(&claimed), false, now).unwrap();
        states.push(("claimed", claimed.clone()));
        let mut other_ep = fresh.clone();
        other_ep
            .claim(&key(&other_ep, 1, "other"), false, now)
            .unwrap();
        states.push(("claimed by another endpoint", other_ep));
        let mut done = claimed.clone();
        done.complete(&k(&done), Variables::new(), 1, now).unwrap();
        states.push(("done", done));
        let mut failed = claimed.clone();
        failed.fail(&k(&failed), "boom", 2, now).unwrap();
        states.push(("failed", failed.clone()));
        let mut resumed = failed;
        resumed.resume(now).unwrap();
        states.push(("resumed", resumed));
        let mut cancelled = claimed.clone();
        cancelled.cancel(now).unwrap();
        states.push(("cancelled", cancelled));
        let mut aborted = fresh.clone();
        aborted.abort("x", now).unwrap();
        states.push(("aborted", aborted));
        for (what, run) in states {
            for redelivered in [false, true] {
                let peeked = run.peek_claim(&k(&run), redelivered).unwrap();
                let mut copy = run.clone();
                let claimed = copy.claim(&k(&copy), redelivered, now).unwrap();
                match peeked {
                    Some(p) => assert_eq!(p, claimed, "{what}, redelivered {redelivered}"),
                    None => assert!(
                        !matches!(claimed, ClaimOutcome::Claimed { .. }),
                        "{what}, redelivered {redelivered}: claim runs it, peek says no"
                    ),
                }
            }
        }
        assert!(matches!(
            fresh.peek_claim(&key(&fresh, 3, "ep"), false),
            Err(Error::InvalidState(_))
        ));
    }

    /// The hand-written document is serde_json's, whatever the fields hold:
    /// strings to escape, every optional field set or not, handlers, numbers
    /// at their limits, timestamps chrono writes itself (years past 9999).
    #[test]
    fn hand_written_json_is_serde_jsons() {
        use chrono::TimeZone;
        let odd = ["", "plain", "q\"b\\s\n\t\u{1}\u{7f}", "é ☃ 😀 </x>"];
        let times = [
            Utc::now(),
            Utc.with_ymd_and_hms(2026, 12, 1, 4, 5, 6).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-5, 3, 1, 0, 0, 0).unwrap(),
            Utc.timestamp_opt(1_700_000_000, 123_000).unwrap(),
        ];
        let mut runs = vec![run3()];
        for (i, text) in odd.iter().enumerate() {
            let t = times[i % times.len()];
            let mut run = run3();
            run.definition = text.to_string();
            run.description = text.to_string();
            run.started_by = text.to_string();
            run.error = Some(text.to_string());
            run.rerun_of = Some(Uuid::new_v4());
            run.status = RunStatus::Failed;
            run.version = if i == 0 { u64::MAX } else { i as u64 };
            run.created_at = t;
            run.modified_at = times[(i + 1) % times.len()];
            run.finished_at = Some(times[(i + 2) % times.len()]);
            run.params
                .insert(text.to_string(), serde_json::json!([1.5, null, text]));
            run.variables
                .insert("v".into(), serde_json::json!({ *text: -3 }));
            for (j, step) in run.steps.iter_mut().enumerate() {
                step.event = text.to_string();
                step.status = StepStatus::Skipped;
                step.invoked_at = Some(t);
                step.completed_at = Some(times[j % times.len()]);
                step.failed_at = (j > 0).then_some(t);
                step.cancelled_at = Some(t);
                step.attempts = u32::MAX;
                step.last_error = Some(text.to_string());
                step.handled_by = (j != 1).then(|| text.to_string());
                step.handlers = (0..j)
                    .map(|h| StepHandler {
                        endpoint: format!("{text}{h}"),
                        host: text.to_string(),
                        status: StepStatus::Cancelled,
                        attempts: h as u32,
                        started_at: Some(times[h % times.len()]),
                        finished_at: (h > 0).then_some(t),
                        error: (h != 1).then(|| text.to_string()),
                    })
                    .collect();
            }
            runs.push(run);
        }
        for run in &runs {
            let mut kept = KeptSteps::default();
            let json = run.to_json_keeping(&mut kept);
            assert_eq!(json, serde_json::to_string(run).unwrap());
            assert_eq!(kept.steps, run.steps);
            for (step, kept) in run.steps.iter().zip(&kept.json) {
                assert_eq!(&**kept, serde_json::to_string(step).unwrap());
            }
            let back: Run = serde_json::from_str(&json).unwrap();
            assert_eq!(&back, run);
        }
    }

    /// The JSON built from kept step JSON is the run's own serialisation,
    /// whichever steps changed since the kept state; only those are written
    /// again.
    #[test]
    fn json_keeping_steps_is_the_runs_json() {
        let now = Utc::now();
        let mut run = run3();
        run.params
            .insert("p".into(), serde_json::json!({"steps": [], "x": "\"q\""}));
        run.error = Some("a \"quoted\" error".into());
        let mut kept = KeptSteps::default();
        let json = run.to_json_keeping(&mut kept);
        assert_eq!(json, serde_json::to_string(&run).unwrap());
        // Returns the steps written again: exactly those that changed.
        let check = |run: &Run, kept: &mut KeptSteps| {
            let before = (
                kept.steps.clone(),
                kept.json.iter().map(|j| j.as_ptr()).collect::<Vec<_>>(),
            );
            let json = run.to_json_keeping(kept);
            assert_eq!(json, serde_json::to_string(run).unwrap());
            let back: Run = serde_json::from_str(&json).unwrap();
            assert_eq!(&back, run);
            assert_eq!(kept.steps, run.steps);
            let mut written = Vec::new();
            for (i, (old, new)) in before.1.iter().zip(&kept.json).enumerate() {
                // The same allocation when kept, a new one when written again
                // (made while the old one is still alive).
                let again = !std::ptr::eq(*old, new.as_ptr());
                assert_eq!(again, before.0[i] != run.steps[i], "step {i}");
                if again {
                    written.push(i);
                }
            }
            written
        };
        let k0 = key(&run, 0, "ep").started(now);
        run.claim(&k0, false, now).unwrap();
        assert_eq!(check(&run, &mut kept), [0]);
        run.complete(&k0, Variables::new(), 1, now).unwrap();
        assert!(check(&run, &mut kept).contains(&0));
        run.cancel(now).unwrap(); // touches every pending step
        assert_eq!(check(&run, &mut kept), [1, 2]);
        run.resume(now).unwrap();
        assert_eq!(check(&run, &mut kept), [1, 2]);
        run.version += 1; // a run-level change only
        assert_eq!(check(&run, &mut kept), Vec::<usize>::new());
        // kept JSON of another shape (fewer steps, or of other steps) is not
        // trusted blindly
        let mut short = KeptSteps {
            steps: kept.steps[..1].to_vec(),
            json: kept.json[..1].to_vec(),
        };
        assert_eq!(
            run.to_json_keeping(&mut short),
            serde_json::to_string(&run).unwrap()
        );
        let mut other = KeptSteps {
            steps: run3().steps,
            json: kept.json.clone(),
        };
        assert_eq!(
            run.to_json_keeping(&mut other),
            serde_json::to_string(&run).unwrap()
        );
        let mut lopsided = KeptSteps {
            steps: run.steps.clone(),
            json: Vec::new(),
        };
        assert_eq!(
            run.to_json_keeping(&mut lopsided),
            serde_json::to_string(&run).unwrap()
        );
    }

    /// The fast timestamp form is exactly chrono's own.
    #[test]
    fn timestamps_serialise_as_chrono_does() {
        use chrono::TimeZone;
        let base = Utc.with_ymd_and_hms(2026, 11, 30, 23, 46, 1).unwrap();
        let odd = [
            Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap(),
            // a leap second: chrono keeps it in the nanoseconds
            chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
                .unwrap()
                .and_utc(),
        ];
        let regular = [
            0,
            1,
            1_000,
            10,
            686_000_000,
            686_346_000,
            686_346_973,
            999_999_999,
        ]
        .map(|n| base + chrono::Duration::nanoseconds(n));
        // A sweep over the whole range the fast form covers, days and times of
        // day alike (a prime stride reaches every month, leap days included).
        let first = Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap();
        let sweep = (0..40_000i64).map(|i| {
            first
                + chrono::Duration::seconds(i * 7_919_017)
                + chrono::Duration::microseconds(i * 37)
        });
        for t in regular.into_iter().chain(odd).chain(sweep) {
            let ours = serde_json::to_string(&LogRecord {
                run_id: Uuid::nil(),
                step: None,
                event: None,
                level: "INFO".into(),
                message: String::new(),
                service: String::new(),
                host: String::new(),
                timestamp: t,
            })
            .unwrap();
            let chrono_form = serde_json::to_string(&t).unwrap();
            assert!(ours.contains(&chrono_form), "{ours} vs {chrono_form}");
            assert_eq!(
                timestamp::micros(&t),
                t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            );
            let back: LogRecord = serde_json::from_str(&ours).unwrap();
            assert_eq!(back.timestamp, t);
        }
    }

    #[test]
    fn chain_advances_once_and_finishes() {
        let mut run = run3();
        let now = Utc::now();
        for i in 0..3 {
            let k = key(&run, i, "ep");
            assert!(matches!(
                run.claim(&k, false, now).unwrap(),
                ClaimOutcome::Claimed { .. }
            ));
            let out = run.complete(&k, Variables::new(), 1, now).unwrap();
            let expected_next = (i < 2).then_some(i + 1);
            match out {
                CompleteOutcome::Advanced { next } => {
                    assert_eq!(next.map(|n| n.index), expected_next)
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(run.status, RunStatus::Succeeded);
        assert!(run.finished_at.is_some());
    }

    #[test]
    fn redelivery_after_success_does_not_rerun_and_republishes_only_pending_next() {
        let mut run = run3();
        let now = Utc::now();
        let k = key(&run, 0, "ep");
        run.claim(&k, false, now).unwrap();
        run.complete(&k, Variables::new(), 1, now).unwrap();
        match run.claim(&k, true, now).unwrap() {
            ClaimOutcome::AlreadyDone { republish } => {
                assert_eq!(republish.map(|r| r.event), Some("B".to_string()))
            }
            other => panic!("unexpected {other:?}"),
        }
        run.claim(&key(&run, 1, "ep"), false, now).unwrap();
        assert_eq!(
            run.claim(&k, true, now).unwrap(),
            ClaimOutcome::AlreadyDone { republish: None }
        );
    }

    #[test]
    fn duplicate_copy_in_flight_is_refused_but_redelivery_takes_over() {
        let mut run = run3();
        let now = Utc::now();
        let k = key(&run, 0, "ep");
        run.claim(&k, false, now).unwrap();
        assert_eq!(run.claim(&k, false, now).unwrap(), ClaimOutcome::InFlight);
        assert!(matches!(
            run.claim(&k, true, now).unwrap(),
            ClaimOutcome::Claimed { attempts: 0, .. }
        ));
    }

    #[test]
    fn fan_out_advances_on_first_success_only() {
        let mut run = run3();
        let now = Utc::now();
        let (a, b) = (key(&run, 0, "a"), key(&run, 0, "b"));
        run.claim(&a, false, now).unwrap();
        run.claim(&b, false, now).unwrap();
        assert!(matches!(
            run.complete(&b, Variables::new(), 1, now).unwrap(),
            CompleteOutcome::Advanced { .. }
        ));
        assert_eq!(
            run.complete(&a, Variables::new(), 1, now).unwrap(),
            CompleteOutcome::Recorded
        );
        assert_eq!(run.steps[0].handlers.len(), 2);
        assert_eq!(run.steps[0].handled_by.as_deref(), Some("b@h"));
    }

    #[test]
    fn failure_fails_run_and_resume_restarts_from_failed_step() {
        let mut run = run3();
        let now = Utc::now();
        let k0 = key(&run, 0, "ep");
        run.claim(&k0, false, now).unwrap();
        run.complete(&k0, Variables::new(), 1, now).unwrap();
        let k1 = key(&run, 1, "ep");
        run.claim(&k1, false, now).unwrap();
        assert_eq!(
            run.fail(&k1, "boom", 3, now).unwrap(),
            FailOutcome::RunFailed
        );
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.steps[2].status, StepStatus::Skipped);
        assert_eq!(run.steps[1].attempts, 3);
        assert_eq!(run.resume(now).unwrap().index, 1);
        assert_eq!(run.status, RunStatus::Running);
        assert_eq!(run.steps[0].status, StepStatus::Succeeded);
        assert_eq!(run.steps[2].status, StepStatus::Pending);
        assert!(run.resume(now).is_err());
    }

    #[test]
    fn cancel_marks_in_flight_step_cancelled_when_it_returns() {
        let mut run = run3();
        let now = Utc::now();
        let k = key(&run, 0, "ep");
        run.claim(&k, false, now).unwrap();
        run.cancel(now).unwrap();
        assert_eq!(run.steps[1].status, StepStatus::Skipped);
        assert_eq!(
            run.complete(&k, Variables::new(), 1, now).unwrap(),
            CompleteOutcome::Cancelled
        );
        assert_eq!(run.steps[0].status, StepStatus::Cancelled);
        assert!(run.cancel(now).is_err());
    }

    #[test]
    fn validation_refuses_bad_definitions() {
        let known: BTreeSet<String> = ["A".to_string()].into_iter().collect();
        assert!(Definition::new("", ["A"]).validate(&known).is_err());
        assert!(Definition::new(" x", ["A"]).validate(&known).is_err());
        assert!(Definition::new("x", Vec::<String>::new())
            .validate(&known)
            .is_err());
        let e = Definition::new("x", ["a"])
            .validate(&known)
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean 'A'"), "{e}");
        assert!(Definition::new("x", ["A", "A"]).validate(&known).is_ok());
    }
}
