//! Model layer: a run, its steps and their handlers, and the run's JSON as the
//! stores write it. Uses the ground layer (JSON and timestamp writers).
// The hand-written JSON is the embedded store's (and the publisher's) fast path.
#![cfg_attr(not(feature = "sqlite"), allow(dead_code))]

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::wire::json;
use crate::wire::time as timestamp;

use super::*;

/// One endpoint's handling of a step (several with fan-out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The handling (one delivery's processing, [`StepKey::handling`]) that
    /// wrote this record last: a store call retried after its answer was lost
    /// recognises its own earlier write by it, and does not apply it twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handling: Option<Uuid>,
    /// While it runs: when this handling has used all its time (every
    /// attempt's timeout and the retries' delays), as its service reckoned it
    /// when it picked the step up; none when its attempts have no timeout.
    /// Past it (and a margin) the step is stuck even on a live instance.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "timestamp::option"
    )]
    pub deadline: Option<DateTime<Utc>>,
    /// Attempts in a row whose process stopped before it recorded an outcome
    /// (killed mid-step, its channel closed): each counts against the
    /// retry budget, so a message that kills its process every time is
    /// not redelivered for ever. Zero again once an attempt ends.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lost: u32,
    /// Attempts of its current budget that failed and were retried later
    /// ([`Run::retry_later`]): they count against its retry policy when the
    /// retry runs. Zero again once an attempt ends the step.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retried: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One event of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Step {
    /// Position in the run, from 0.
    pub index: usize,
    /// The event name.
    pub event: String,
    /// The step's name in its definition, when it is not the event's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The positions of the steps it runs after. `None` (every run stored
    /// before graphs): the step before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Vec<usize>>,
    /// Its failure does not fail the run; its dependants still run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// The longest one attempt may run, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
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
    /// The step that undoes it, when its definition names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation: Option<Compensation>,
    /// A wait step's terms and deadline ([`StepWait`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<StepWait>,
    /// A held step's delay and release time ([`StepHold`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<StepHold>,
    /// While a failed attempt waits to be retried ([`Run::retry_later`]):
    /// when its message is published again.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "timestamp::option"
    )]
    pub retry_at: Option<DateTime<Utc>>,
}

impl Step {
    /// Step `index` of a new run, from its definition and the positions it
    /// runs after (see [`super::resolve_graph`]).
    pub(super) fn new(index: usize, def: &StepDef, after: Vec<usize>) -> Self {
        // The chain's own shape is written as before: no `after` at all.
        let chained =
            def.after.is_none() && after == index.checked_sub(1).into_iter().collect::<Vec<_>>();
        Step {
            index,
            event: def.event.clone(),
            name: def.name.clone().filter(|n| *n != def.event),
            after: (!chained).then_some(after),
            optional: def.optional,
            timeout_ms: def
                .timeout
                .map(|t| t.as_millis().min(u128::from(u64::MAX)) as u64),
            status: StepStatus::Pending,
            invoked_at: None,
            completed_at: None,
            failed_at: None,
            cancelled_at: None,
            attempts: 0,
            last_error: None,
            handled_by: None,
            handlers: Vec::new(),
            compensation: def.compensate.clone().map(Compensation::new),
            wait: def.wait.as_ref().map(|w| StepWait {
                correlate: w.correlate.clone(),
                timeout_ms: w
                    .timeout
                    .map(|t| t.as_millis().min(u128::from(u64::MAX)) as u64),
                until: None,
                signal: None,
            }),
            hold: def.hold.as_ref().map(StepHold::of),
            retry_at: None,
        }
    }

    /// The positions of the steps it runs after.
    pub fn deps(&self) -> Vec<usize> {
        self.after_steps().collect()
    }

    /// [`Self::deps`] without a copy (the claim and the completion ask it
    /// of every step they look at).
    pub(crate) fn after_steps(&self) -> impl Iterator<Item = usize> + '_ {
        let previous = match self.after {
            Some(_) => None,
            None => self.index.checked_sub(1),
        };
        self.after.iter().flatten().copied().chain(previous)
    }

    /// Whether it no longer holds up the steps after it: it succeeded, or
    /// it is optional and failed.
    pub fn settled(&self) -> bool {
        self.status == StepStatus::Succeeded || (self.optional && self.status == StepStatus::Failed)
    }

    /// Where the step sits in its run's graph, as people read it (steps
    /// numbered from 1): `after 4, 5, 6`, `at the start`, or `None` for a
    /// step simply after the one before it (every step of a chain).
    ///
    /// ```
    /// use isoqube::{Definition, Run, StepDef, Variables};
    /// let def = Definition::new("d", [StepDef::new("A"), StepDef::new("B").after(Vec::<String>::new()),
    ///     StepDef::new("C").after(["A", "B"])]);
    /// let run = Run::new(&def, Variables::new(), "doc");
    /// let places: Vec<_> = run.steps.iter().map(|s| s.place()).collect();
    /// assert_eq!(places, [None, Some("at the start".into()), Some("after 1, 2".into())]);
    /// ```
    pub fn place(&self) -> Option<String> {
        let after = self.after.as_ref()?;
        if after.is_empty() {
            return Some("at the start".into());
        }
        let nums: Vec<String> = after.iter().map(|d| (d + 1).to_string()).collect();
        Some(format!("after {}", nums.join(", ")))
    }

    /// The name other steps' `after` use: its name, else its event.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.event)
    }

    /// Time from first pick-up to success, failure or cancellation.
    pub fn duration(&self) -> Option<chrono::Duration> {
        let end = self.completed_at.or(self.failed_at).or(self.cancelled_at)?;
        Some(end - self.invoked_at?)
    }
}

/// One execution of a definition. Its id is the correlation id of every message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub params: Variables,
    /// Current variables: params plus whatever consumers added.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
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
    /// When an operator cancelled it (also when it is compensated after).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "timestamp::option"
    )]
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Its priority, 0-9 (the definition's, or the start's override); its
    /// step messages carry it as their AMQP priority. 0 for runs stored
    /// before priorities existed.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 9))]
    pub priority: u8,
    /// Bumped on every change, so watchers can tell a new state from an old one.
    #[serde(default)]
    pub version: u64,
    /// Signals that came before the wait step they are for was due: each
    /// completes its wait the moment it is ([`Run::signal`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<Signal>,
    /// The earliest deadline of a waiting step: when a timer looks at the run
    /// again ([`Run::fire_timers`]). The stores index it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "timestamp::option"
    )]
    pub wake_at: Option<DateTime<Utc>>,
    /// A delayed start ([`Run::delay_start`]): when its first steps are
    /// published. Cleared once they are.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "timestamp::option"
    )]
    pub start_at: Option<DateTime<Utc>>,
}

impl StepHandler {
    /// What serde_json writes for it (see [`crate::wire::json`]).
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
        if let Some(handling) = &self.handling {
            out.push_str(",\"handling\":");
            json::uuid(out, handling);
        }
        if let Some(deadline) = &self.deadline {
            out.push_str(",\"deadline\":");
            timestamp::write_opt(out, Some(deadline));
        }
        if self.lost > 0 {
            out.push_str(",\"lost\":");
            json::u64(out, u64::from(self.lost));
        }
        if self.retried > 0 {
            out.push_str(",\"retried\":");
            json::u64(out, u64::from(self.retried));
        }
        out.push('}');
    }
}

impl Step {
    /// What serde_json writes for it (see [`crate::wire::json`]).
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"index\":");
        json::u64(out, self.index as u64);
        out.push_str(",\"event\":");
        json::str(out, &self.event);
        if let Some(name) = &self.name {
            out.push_str(",\"name\":");
            json::str(out, name);
        }
        if let Some(after) = &self.after {
            out.push_str(",\"after\":[");
            for (i, a) in after.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json::u64(out, *a as u64);
            }
            out.push(']');
        }
        if self.optional {
            out.push_str(",\"optional\":true");
        }
        if let Some(ms) = self.timeout_ms {
            out.push_str(",\"timeout_ms\":");
            json::u64(out, ms);
        }
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
        out.push(']');
        if let Some(c) = &self.compensation {
            // Rare (only steps that name one) and small: serde writes it.
            out.push_str(",\"compensation\":");
            out.push_str(&serde_json::to_string(c).unwrap_or_else(|_| "null".into()));
        }
        if let Some(w) = &self.wait {
            out.push_str(",\"wait\":");
            out.push_str(&serde_json::to_string(w).unwrap_or_else(|_| "null".into()));
        }
        if let Some(h) = &self.hold {
            out.push_str(",\"hold\":");
            out.push_str(&serde_json::to_string(h).unwrap_or_else(|_| "null".into()));
        }
        if let Some(at) = &self.retry_at {
            out.push_str(",\"retry_at\":");
            timestamp::write(out, at);
        }
        out.push('}');
    }
}

/// The JSON of a run's steps as a store last wrote them, and the steps it was
/// written from: [`Run::to_json_keeping`] serialises (and copies) again only
/// the steps that changed since, not the whole run at every transition.
#[derive(Debug, Default)]
pub(crate) struct KeptSteps {
    pub(super) steps: Vec<Step>,
    pub(super) json: Vec<Box<str>>,
}

impl Run {
    /// The run as JSON, exactly what `serde_json::to_string(&run)` writes (a
    /// test holds the two together), reusing the JSON in `kept` of every step
    /// equal to the one it was written from, and updating `kept` for the others.
    /// `kept` may be of an earlier state of this run, or empty.
    ///
    /// Written by hand (see [`crate::wire::json`]): a store that writes the whole
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
        if let Some(at) = &self.cancelled_at {
            out.push_str(",\"cancelled_at\":");
            timestamp::write(&mut out, at);
        }
        out.push_str(",\"priority\":");
        json::u64(&mut out, u64::from(self.priority));
        out.push_str(",\"version\":");
        json::u64(&mut out, self.version);
        if !self.signals.is_empty() {
            out.push_str(",\"signals\":");
            out.push_str(&serde_json::to_string(&self.signals).unwrap_or_else(|_| "[]".into()));
        }
        if let Some(at) = &self.wake_at {
            out.push_str(",\"wake_at\":");
            timestamp::write(&mut out, at);
        }
        if let Some(at) = &self.start_at {
            out.push_str(",\"start_at\":");
            timestamp::write(&mut out, at);
        }
        out.push('}');
        out
    }
}
