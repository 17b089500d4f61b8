//! Model layer: when a run is stuck, as a pure rule over the run and the
//! service instances' heartbeats, so the control center (and anything else)
//! can tell a run nobody works on any more from one that is merely slow.
//! Uses only the model's records.
//!
//! The rule itself is documented on [`StuckRule`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::*;

/// The bounds of the stuck rule.
///
/// # The rule
///
/// A step (or a compensation) is *stuck* when its run is `Running` (or
/// `Compensating`), the step is `Invoked`, and nobody can still finish it:
///
/// - each of its `Invoked` handlers runs on a service instance (the handler's
///   `host` is the instance id, `name@host:pid:suffix`) that is not alive:
///   there is no service record for it (it stopped, or its record is gone), or
///   its last heartbeat is older than [`StuckRule::alive_within`]; or it runs
///   on a live instance past its deadline (see below);
/// - and the latest sign of life of those handlers (the later of the handler's
///   start and its instance's last heartbeat; for a live one, its deadline)
///   is older than [`StuckRule::after`].
///
/// A handler's *deadline* is when its handling has used all its time: every
/// attempt's timeout (the step's `timeout`, else its service's default step
/// timeout) and the retries' delays, as the service reckoned it when it
/// picked the step up. A handler on a live instance still running
/// [`StuckRule::after`] past it is hung (a consumer blocking its thread, say,
/// which no timeout can interrupt).
///
/// A step `Invoked` with no `Invoked` handler (the handler is unknown, e.g. a
/// record written by an older version) is stuck once it was invoked longer
/// than [`StuckRule::after`] ago.
///
/// A step still `Pending` though it is due (every step it runs after is
/// settled) is stuck once the last of them settled longer than
/// [`StuckRule::after`] ago (a start step: once the run is that old)
/// and no step of the run is `Invoked`: its message was lost, or no consumer
/// takes it; either way nobody works on the run. Likewise a compensation
/// that is due, once the run last settled anything that long ago.
///
/// A handler on a live instance within its deadline (or with none: no
/// timeout applies) is never stuck, however long the step takes: a long
/// build is not a fault.
///
/// A step `Waiting` for a signal is never stuck before its deadline (nor
/// at all without one): a run waiting days for an approval is not a fault.
/// Once its deadline passed longer than [`StuckRule::after`] ago and it
/// still waits, no service fired its timer (none is up): it is stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StuckRule {
    /// How long a step may go without a sign of life before it is stuck.
    pub after: Duration,
    /// A service instance whose last heartbeat is older than this is not
    /// alive (services beat every 5 s by default).
    pub alive_within: Duration,
}

impl StuckRule {
    /// The default of [`StuckRule::after`]: 5 minutes, long enough for a
    /// broker or store outage that services ride out, short enough that an
    /// operator sees lost work the same hour.
    pub const DEFAULT_AFTER: Duration = Duration::from_secs(300);
    /// The default of [`StuckRule::alive_within`]: four missed heartbeats.
    pub const DEFAULT_ALIVE_WITHIN: Duration = Duration::from_secs(20);

    /// The default rule with another [`StuckRule::after`].
    pub fn after(after: Duration) -> Self {
        StuckRule {
            after,
            ..Self::default()
        }
    }
}

impl Default for StuckRule {
    fn default() -> Self {
        StuckRule {
            after: Self::DEFAULT_AFTER,
            alive_within: Self::DEFAULT_ALIVE_WITHIN,
        }
    }
}

/// Why a step is stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StuckReason {
    /// The handler's service instance has no record (it stopped or was removed).
    HandlerGone,
    /// The handler's service instance stopped sending heartbeats.
    HandlerSilent,
    /// The step names no handler working on it.
    HandlerUnknown,
    /// The step is due but no consumer picked its message up.
    NotPickedUp,
    /// Its handler's instance is alive but the handling runs past its
    /// deadline (every attempt's timeout and the retries' delays).
    PastDeadline,
    /// A wait step still waits long past its deadline: no service fired
    /// its timer.
    TimerNotFired,
}

impl StuckReason {
    /// How it is printed.
    pub fn as_str(self) -> &'static str {
        match self {
            StuckReason::HandlerGone => "handler's service instance is gone",
            StuckReason::HandlerSilent => "handler's service instance sends no heartbeat",
            StuckReason::HandlerUnknown => "no handler recorded",
            StuckReason::NotPickedUp => "due, but its message was never picked up",
            StuckReason::PastDeadline => {
                "runs past its timeout on a live instance (the consumer may block its thread)"
            }
            StuckReason::TimerNotFired => {
                "waits past its deadline: no service fired its timer (is one running?)"
            }
        }
    }
}

/// A stuck step of a run (see [`StuckRule`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StuckStep {
    /// The run.
    pub run_id: Uuid,
    /// The step index (from 0).
    pub step: usize,
    /// The step's event.
    pub event: String,
    /// The endpoint of the handler last seen alive, if any.
    pub endpoint: Option<String>,
    /// Its service instance id, if any.
    pub instance: Option<String>,
    /// The last sign of life: the handler's start or its instance's last
    /// heartbeat, whichever is later (the step's invocation when no handler
    /// is known; the handler's deadline when its instance is alive).
    #[serde(serialize_with = "crate::wire::time::one")]
    pub since: DateTime<Utc>,
    /// Why.
    pub reason: StuckReason,
}

/// A stuck run with its stuck steps (what `Control::stuck_runs` finds).
#[derive(Debug, Clone, PartialEq)]
pub struct StuckRun {
    /// The run.
    pub run: Run,
    /// Its stuck steps (at least one).
    pub steps: Vec<StuckStep>,
}

impl Run {
    /// The stuck steps of this run at `now` (see [`StuckRule`]), given
    /// each service instance's last heartbeat by instance id (`None`: no
    /// record). Empty unless the run is `Running` or `Compensating`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use chrono::Utc;
    /// use isoqube::{Definition, Run, model::StepKey, model::StuckRule, Variables};
    /// let mut run = Run::new(&Definition::new("d", ["A"]), Variables::new(), "doc");
    /// let start = Utc::now() - chrono::Duration::minutes(10);
    /// run.claim(&StepKey::new(run.id, 0, "a", "svc@h:1:ab"), false, start).unwrap();
    /// let rule = StuckRule::after(Duration::from_secs(300));
    /// // its instance beats: a slow step, not a stuck one
    /// assert!(run.stuck_steps(Utc::now(), |_| Some(Utc::now()), &rule).is_empty());
    /// // its instance is gone
    /// let stuck = run.stuck_steps(Utc::now(), |_| None, &rule);
    /// assert_eq!(stuck[0].instance.as_deref(), Some("svc@h:1:ab"));
    /// ```
    pub fn stuck_steps<F>(
        &self,
        now: DateTime<Utc>,
        last_seen: F,
        rule: &StuckRule,
    ) -> Vec<StuckStep>
    where
        F: Fn(&str) -> Option<DateTime<Utc>>,
    {
        if !matches!(self.status, RunStatus::Running | RunStatus::Compensating) {
            return Vec::new();
        }
        let mut out: Vec<StuckStep> = self
            .invoked()
            .filter_map(|(index, event, invoked_at, handlers)| {
                let step_since = invoked_at.unwrap_or(self.modified_at);
                self.stuck_invoked(index, event, step_since, handlers, &last_seen, rule, now)
            })
            .filter(|stuck| older_than(now, stuck.since, rule.after))
            .collect();
        if self.status == RunStatus::Running {
            out.extend(self.overdue_waits(|t| older_than(now, t, rule.after)));
        }
        let any_running = self.steps.iter().any(|s| {
            s.status == StepStatus::Invoked
                || s.compensation
                    .as_ref()
                    .is_some_and(|c| c.status == StepStatus::Invoked)
        });
        if !any_running {
            let too_old = |t| older_than(now, t, rule.after);
            match self.status {
                RunStatus::Compensating => out.extend(self.unpicked_compensations(too_old)),
                _ => out.extend(self.unpicked_steps(too_old)),
            }
        }
        out
    }

    /// Every step and compensation invoked now: its step's index, its event,
    /// when it was invoked and its handlers.
    fn invoked(
        &self,
    ) -> impl Iterator<Item = (usize, &str, Option<DateTime<Utc>>, &[StepHandler])> {
        let compensations = self.steps.iter().filter_map(|s| {
            let c = s.compensation.as_ref()?;
            Some((
                s.index,
                c.event.as_str(),
                c.status,
                c.invoked_at,
                c.handlers.as_slice(),
            ))
        });
        self.steps
            .iter()
            .map(|s| {
                (
                    s.index,
                    s.event.as_str(),
                    s.status,
                    s.invoked_at,
                    s.handlers.as_slice(),
                )
            })
            .chain(compensations)
            .filter(|(_, _, status, _, _)| *status == StepStatus::Invoked)
            .map(|(index, event, _, invoked_at, handlers)| (index, event, invoked_at, handlers))
    }

    /// An invoked step or compensation as stuck since when and why: `None`
    /// while one of its handlers is alive and has no deadline; else the
    /// handler with the latest sign of life names it (or none does:
    /// `HandlerUnknown`, since the step was invoked). Whether it is stuck
    /// long enough is the caller's to decide.
    #[allow(clippy::too_many_arguments)]
    fn stuck_invoked(
        &self,
        index: usize,
        event: &str,
        step_since: DateTime<Utc>,
        handlers: &[StepHandler],
        last_seen: &impl Fn(&str) -> Option<DateTime<Utc>>,
        rule: &StuckRule,
        now: DateTime<Utc>,
    ) -> Option<StuckStep> {
        let mut latest: Option<(DateTime<Utc>, &StepHandler, StuckReason)> = None;
        for h in handlers.iter().filter(|h| h.status == StepStatus::Invoked) {
            let seen = last_seen(&h.host);
            let started = h.started_at.unwrap_or(step_since);
            let (since, reason) = match (seen, h.deadline) {
                (Some(t), deadline) if !older_than(now, t, rule.alive_within) => match deadline {
                    Some(d) => (d, StuckReason::PastDeadline),
                    None => return None,
                },
                (Some(t), _) => (t.max(started), StuckReason::HandlerSilent),
                (None, _) => (started, StuckReason::HandlerGone),
            };
            if latest.as_ref().is_none_or(|(t, _, _)| since > *t) {
                latest = Some((since, h, reason));
            }
        }
        Some(match latest {
            Some((since, h, reason)) => StuckStep {
                run_id: self.id,
                step: index,
                event: event.to_string(),
                endpoint: Some(h.endpoint.clone()),
                instance: Some(h.host.clone()),
                since,
                reason,
            },
            None => StuckStep {
                run_id: self.id,
                step: index,
                event: event.to_string(),
                endpoint: None,
                instance: None,
                since: step_since,
                reason: StuckReason::HandlerUnknown,
            },
        })
    }

    /// The compensations due since a moment `too_old` accepts: due since the
    /// run last settled anything (a step's outcome, another compensation).
    fn unpicked_compensations(&self, too_old: impl Fn(DateTime<Utc>) -> bool) -> Vec<StuckStep> {
        let since = self
            .steps
            .iter()
            .flat_map(|s| {
                let undone = s.compensation.as_ref().and_then(|c| c.completed_at);
                [
                    s.completed_at,
                    s.failed_at,
                    s.cancelled_at,
                    undone,
                    self.cancelled_at,
                ]
            })
            .flatten()
            .max()
            .unwrap_or(self.modified_at);
        if !too_old(since) {
            return Vec::new();
        }
        self.compensations_due()
            .into_iter()
            .map(|n| StuckStep {
                run_id: self.id,
                step: n.index,
                event: n.event,
                endpoint: None,
                instance: None,
                since,
                reason: StuckReason::NotPickedUp,
            })
            .collect()
    }

    /// The `Waiting` steps whose deadline lies at a moment `too_old`
    /// accepts: their timer should have fired long ago. A wait without a
    /// deadline, or before it, is never stuck.
    fn overdue_waits(&self, too_old: impl Fn(DateTime<Utc>) -> bool) -> Vec<StuckStep> {
        self.steps
            .iter()
            .filter(|s| s.status == StepStatus::Waiting)
            .filter_map(|s| {
                let until = s.wait.as_ref()?.until?;
                too_old(until).then(|| StuckStep {
                    run_id: self.id,
                    step: s.index,
                    event: s.event.clone(),
                    endpoint: None,
                    instance: None,
                    since: until,
                    reason: StuckReason::TimerNotFired,
                })
            })
            .collect()
    }

    /// The `Pending` steps that are due since a moment `too_old` accepts.
    fn unpicked_steps(&self, too_old: impl Fn(DateTime<Utc>) -> bool) -> Vec<StuckStep> {
        self.steps
            .iter()
            .filter(|s| s.status == StepStatus::Pending)
            .filter(|s| self.not_due(s.index).is_none())
            .filter_map(|s| {
                // Due since its last dependency settled (a start step: since
                // the run was created).
                let since = s
                    .after_steps()
                    .filter_map(|d| self.steps.get(d))
                    .map(|d| d.completed_at.or(d.failed_at).unwrap_or(self.modified_at))
                    .max()
                    .unwrap_or(self.created_at);
                too_old(since).then(|| StuckStep {
                    run_id: self.id,
                    step: s.index,
                    event: s.event.clone(),
                    endpoint: None,
                    instance: None,
                    since,
                    reason: StuckReason::NotPickedUp,
                })
            })
            .collect()
    }
}

/// Whether `t` lies more than `bound` before `now`.
fn older_than(now: DateTime<Utc>, t: DateTime<Utc>, bound: Duration) -> bool {
    (now - t).to_std().is_ok_and(|age| age > bound)
}

#[cfg(test)]
mod tests;
