//! Model layer: steps that wait for the outside world. A wait step publishes
//! nothing: once due it is `Waiting` (until its deadline, if it has one) and
//! a *signal* (an event of the awaited type, for this run) completes it, its
//! data merged into the run's variables. A signal that comes before its wait
//! step is due is kept with the run and completes the wait the moment the
//! step becomes due. A deadline that passes fails the wait (an optional one
//! is tolerated), which a store's timer fires ([`Run::fire_timers`]).
//!
//! Pure, like the step transitions ([`super::transition`]); uses the model's
//! records and the ground layer's timestamp writer.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::wire::time as timestamp;

use super::*;

/// A definition step's wait: the step waits for its event instead of
/// publishing it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WaitDef {
    /// The run variable a signal sent without the run's id is matched by:
    /// the event's field of that name (or its camelCase form) must equal it.
    pub correlate: Option<String>,
    /// How long the step waits once due; `None`: for ever (`"never"`).
    pub timeout: Option<Duration>,
}

/// A run step's wait: its terms, and while it waits, until when.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepWait {
    /// See [`WaitDef::correlate`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlate: Option<String>,
    /// How long it waits once due, in ms; none: for ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// While it waits (or once it timed out): the deadline; none without a timeout.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "timestamp::option"
    )]
    pub until: Option<DateTime<Utc>>,
    /// The signal that completed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<Uuid>,
}

/// An event delivered to a run: what completes a wait step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Signal {
    /// Its identity (a message id): the same signal delivered twice acts once.
    pub id: Uuid,
    /// The event type awaited.
    pub event: String,
    /// Merged into the run's variables (the signal's values win a clash).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: Variables,
    /// Who sent it (`cli`, `api`, a host, an endpoint), for the step's record.
    #[serde(default)]
    pub from: String,
    /// When it reached the run.
    #[serde(serialize_with = "timestamp::one")]
    pub received_at: DateTime<Utc>,
}

impl Signal {
    /// A new signal of `event` with `data`, sent by `from`.
    pub fn new(event: impl Into<String>, data: Variables, from: impl Into<String>) -> Self {
        Signal {
            id: Uuid::new_v4(),
            event: event.into(),
            data,
            from: from.into(),
            received_at: Utc::now(),
        }
    }
}

/// What [`Run::signal`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalOutcome {
    /// It completed wait step `step`: publish `next`, the steps that made due.
    Completed {
        /// The wait step completed.
        step: usize,
        /// The steps now due.
        next: Vec<NextStep>,
    },
    /// It completed wait step `step`, the last step the run needed: the run succeeded.
    Finished {
        /// The wait step completed.
        step: usize,
    },
    /// The wait step `step` is not due yet: the signal is kept with the run
    /// and completes it once it is.
    Kept {
        /// The wait step it is kept for.
        step: usize,
    },
    /// This signal completed a wait already (delivered again): `republish`
    /// names what it made due and nobody picked up.
    AlreadyDone {
        /// Steps to publish again.
        republish: Vec<NextStep>,
    },
    /// Nothing of the run waits for it; the reason says what was looked for.
    NoMatch(String),
}

/// `"48h"`, `"10m"`, `"90s"`, `"500ms"`, `"2d"`, or a sum (`"1h30m"`).
///
/// ```
/// use isoqube::model::parse_span;
/// assert_eq!(parse_span("1h30m").unwrap().as_secs(), 5400);
/// assert!(parse_span("soon").is_err());
/// ```
pub fn parse_span(text: &str) -> Result<Duration> {
    let bad = || {
        Error::InvalidDefinition(format!(
            "'{text}' is not a duration (such as \"500ms\", \"90s\", \"10m\", \"48h\", \"2d\", \"1h30m\")"
        ))
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms_per = match &rest[..unit] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        let ms = n.checked_mul(ms_per).ok_or_else(bad)?;
        total = total
            .checked_add(Duration::from_millis(ms))
            .ok_or_else(bad)?;
        rest = &rest[unit..];
    }
    Ok(total)
}

/// The camelCase form of a snake_case name (`order_id` → `orderId`), as a
/// MassTransit peer writes a field.
pub fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

/// The value of field `key` in an event's data: `key` itself, or its camelCase form.
pub fn field_of<'a>(data: &'a Variables, key: &str) -> Option<&'a serde_json::Value> {
    data.get(key).or_else(|| data.get(&camel_case(key)))
}

impl Step {
    /// Whether it is a wait step (it waits for its event; nothing is published).
    pub fn is_wait(&self) -> bool {
        self.wait.is_some()
    }
}

impl Run {
    /// The steps of `due` that are published; the wait steps among them
    /// begin to wait instead (a kept signal completes one at once, and what
    /// that makes due arrives in turn). Every transition that makes steps
    /// due passes them through here. May finish the run (`Succeeded`).
    pub(super) fn arrive(&mut self, due: Vec<NextStep>, now: DateTime<Utc>) -> Vec<NextStep> {
        if due.iter().all(|n| !self.steps[n.index].holds_back()) {
            return due;
        }
        let mut publish = Vec::with_capacity(due.len());
        let mut queue: Vec<NextStep> = due.into_iter().rev().collect();
        while let Some(next) = queue.pop() {
            if !self.steps[next.index].holds_back() {
                publish.push(next);
                continue;
            }
            if !self.steps[next.index].is_wait() {
                self.begin_hold(next.index, now);
                continue;
            }
            self.begin_wait(next.index, now);
            let kept = self
                .signals
                .iter()
                .position(|s| s.event == self.steps[next.index].event);
            if let Some(pos) = kept {
                let signal = self.signals.remove(pos);
                queue.extend(
                    self.complete_wait(next.index, &signal, now)
                        .into_iter()
                        .rev(),
                );
            }
        }
        self.refresh_wake();
        publish
    }

    /// Step `index` is due and waits: `Waiting`, with its deadline.
    fn begin_wait(&mut self, index: usize, now: DateTime<Utc>) {
        let step = &mut self.steps[index];
        step.status = StepStatus::Waiting;
        step.invoked_at = Some(now);
        if let Some(wait) = step.wait.as_mut() {
            wait.until = wait
                .timeout_ms
                .and_then(|ms| chrono::Duration::try_milliseconds(ms.min(i64::MAX as u64) as i64))
                .and_then(|d| now.checked_add_signed(d));
            wait.signal = None;
        }
        if self.status == RunStatus::Pending && self.start_at.is_none() {
            self.status = RunStatus::Running;
        }
    }

    /// `signal` completes waiting step `index`; returns the steps that made
    /// due (to arrive), or none when the run finished.
    fn complete_wait(
        &mut self,
        index: usize,
        signal: &Signal,
        now: DateTime<Utc>,
    ) -> Vec<NextStep> {
        let step = &mut self.steps[index];
        step.status = StepStatus::Succeeded;
        step.completed_at = Some(now);
        step.handled_by = Some(format!("signal@{}", signal.from));
        if let Some(wait) = step.wait.as_mut() {
            wait.signal = Some(signal.id);
        }
        self.variables
            .extend(signal.data.iter().map(|(k, v)| (k.clone(), v.clone())));
        let variables = &self.variables;
        if let Some(c) = self.steps[index].compensation.as_mut() {
            c.variables = Some(variables.clone());
        }
        if self.all_settled() {
            self.finish(RunStatus::Succeeded, now);
            return Vec::new();
        }
        self.due_after(index)
    }

    /// An event for this run arrived: it completes the step that waits for
    /// it, or is kept for a wait step not due yet, or matches nothing.
    ///
    /// ```
    /// use isoqube::model::{Signal, SignalOutcome, WaitDef};
    /// use isoqube::{Definition, Run, RunStatus, StepDef, StepStatus, Variables};
    /// let approve = StepDef::new("Approve").waiting(WaitDef::default());
    /// let def = Definition::new("d", [StepDef::new("Build"), approve, StepDef::new("Deploy")]);
    /// let mut run = Run::new(&def, Variables::new(), "doc");
    /// let now = chrono::Utc::now();
    /// // early: kept until the step is due
    /// let out = run.signal(&Signal::new("Approve", Variables::new(), "cli"), now).unwrap();
    /// assert_eq!(out, SignalOutcome::Kept { step: 1 });
    /// ```
    pub fn signal(&mut self, signal: &Signal, now: DateTime<Utc>) -> Result<SignalOutcome> {
        if let Some(done) = self.replayed_signal(signal) {
            return Ok(done);
        }
        let waits = |s: &&Step| s.is_wait() && s.event == signal.event;
        if !matches!(self.status, RunStatus::Pending | RunStatus::Running) {
            return Ok(SignalOutcome::NoMatch(format!(
                "run {} is {}: nothing of it waits for {}",
                self.id,
                self.status.as_str(),
                signal.event
            )));
        }
        if let Some(index) = self
            .steps
            .iter()
            .find(|s| waits(s) && s.status == StepStatus::Waiting)
            .map(|s| s.index)
        {
            let due = self.complete_wait(index, signal, now);
            let next = self.arrive(due, now);
            self.refresh_wake();
            self.touch(now);
            return Ok(match self.status {
                RunStatus::Succeeded => SignalOutcome::Finished { step: index },
                _ => SignalOutcome::Completed { step: index, next },
            });
        }
        if let Some(index) = self
            .steps
            .iter()
            .find(|s| waits(s) && s.status == StepStatus::Pending)
            .map(|s| s.index)
        {
            if !self.signals.iter().any(|s| s.event == signal.event) {
                self.signals.push(signal.clone());
                self.touch(now);
            }
            return Ok(SignalOutcome::Kept { step: index });
        }
        Ok(SignalOutcome::NoMatch(format!(
            "no step of run {} waits for {} (now or later)",
            self.id, signal.event
        )))
    }

    /// The answer to a signal this run took already (a retried store call,
    /// or a message delivered twice).
    fn replayed_signal(&self, signal: &Signal) -> Option<SignalOutcome> {
        if let Some(step) = self
            .signals
            .iter()
            .find(|s| s.id == signal.id)
            .and_then(|_| {
                self.steps.iter().find(|s| {
                    s.is_wait() && s.event == signal.event && s.status == StepStatus::Pending
                })
            })
        {
            return Some(SignalOutcome::Kept { step: step.index });
        }
        let step = self
            .steps
            .iter()
            .find(|s| s.wait.as_ref().is_some_and(|w| w.signal == Some(signal.id)))?;
        Some(SignalOutcome::AlreadyDone {
            republish: self.unpublished_after(step.index),
        })
    }

    /// Fails every wait whose deadline has passed (`now`): the run fails and
    /// compensates as for a failed step, or goes on past an optional one.
    /// Returns the steps (or compensations) to publish. A timer fired twice
    /// (by two processes) finds nothing left to do the second time.
    pub fn fire_timers(&mut self, now: DateTime<Utc>) -> Vec<NextStep> {
        let mut publish = Vec::new();
        if self.status == RunStatus::Pending && self.start_at.is_some_and(|t| t <= now) {
            publish.extend(self.start_now(now));
            self.touch(now);
        }
        loop {
            let expired = self
                .steps
                .iter()
                .find(|s| s.waiting_until().is_some_and(|t| t <= now));
            let Some(step) = expired else { break };
            if !step.is_wait() {
                let index = step.index;
                publish.push(self.release_hold(index));
                self.touch(now);
                continue;
            }
            let (index, event) = (step.index, step.event.clone());
            let waited = step
                .wait
                .as_ref()
                .and_then(|w| w.timeout_ms)
                .map(|ms| span_text(Duration::from_millis(ms)))
                .unwrap_or_default();
            let reason = format!("waited {waited} for {event}; it did not come");
            self.steps[index].last_error = Some(reason.clone());
            let outcome = self.step_failed(index, &reason, now);
            match outcome {
                FailOutcome::Tolerated { next } => {
                    let next = self.arrive(next, now);
                    publish.extend(next);
                }
                FailOutcome::Compensate { next } => publish.extend(next),
                _ => {}
            }
            self.touch(now);
        }
        self.refresh_wake();
        publish
    }

    /// Gives the wait steps named `step` (by name or awaited event) this
    /// run's own `timeout`; a wait already begun counts it from its start.
    /// [`Error::InvalidState`] when no wait step has that name.
    pub fn set_wait_timeout(&mut self, step: &str, timeout: Duration) -> Result<()> {
        let ms = timeout.as_millis().min(u128::from(u64::MAX)) as u64;
        let mut found = false;
        for s in self
            .steps
            .iter_mut()
            .filter(|s| s.name() == step || s.event == step)
        {
            let (Some(wait), began) = (s.wait.as_mut(), s.invoked_at) else {
                continue;
            };
            wait.timeout_ms = Some(ms);
            if s.status == StepStatus::Waiting {
                wait.until = began
                    .zip(chrono::Duration::from_std(timeout).ok())
                    .and_then(|(t, d)| t.checked_add_signed(d));
            }
            found = true;
        }
        if !found {
            return Err(Error::InvalidState(format!(
                "definition '{}' has no wait step '{step}'",
                self.definition
            )));
        }
        self.refresh_wake();
        Ok(())
    }

    /// The earliest deadline among the waiting steps: when a timer must look
    /// at the run again.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        let start = self.start_at.filter(|_| self.status == RunStatus::Pending);
        self.steps
            .iter()
            .filter_map(Step::waiting_until)
            .chain(start)
            .min()
    }

    /// Keeps [`Run::wake_at`] equal to [`Run::next_wake`].
    pub(super) fn refresh_wake(&mut self) {
        self.wake_at = self.next_wake();
    }
}

/// A duration as people write it in a definition (`48h`, `10m`, `1h30m`, `500ms`).
pub fn span_text(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

#[cfg(test)]
mod tests;
