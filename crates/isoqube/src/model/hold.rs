//! Model layer: waiting for time. A step may be held once due (`delay =
//! "10m"`, `not_before = "02:00"`): it is `Waiting` until then, and its
//! message is published when the store's timer fires. A run may start later
//! ([`Run::delay_start`]): its first steps are published when its time comes.
//! A failed attempt whose retry is far off waits the same way
//! ([`Run::retry_later`]), its message acknowledged meanwhile.
//! Both are the run's [`Run::wake_at`], so the same index and the same
//! firing ([`Run::fire_timers`]) serve them and the waits' deadlines.
//!
//! Pure, like the step transitions; uses the model's records and chrono.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::wire::time as timestamp;

use super::*;

/// A definition step's hold: how long after it is due its message is published.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HoldDef {
    /// Published this long after the step is due.
    pub delay: Option<Duration>,
    /// Published at the next time of day (after any `delay`): `"02:00"`,
    /// `"02:00:30"`, in UTC or in the named zone (`"02:00 Europe/Berlin"`).
    pub not_before: Option<String>,
}

/// A run step's hold: its terms, and while it waits, until when.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepHold {
    /// See [`HoldDef::delay`], in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// See [`HoldDef::not_before`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    /// While it is held (and once released): when its message is published.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "timestamp::option"
    )]
    pub until: Option<DateTime<Utc>>,
}

impl StepHold {
    /// The hold of a definition step.
    pub(super) fn of(def: &HoldDef) -> Self {
        StepHold {
            delay_ms: def
                .delay
                .map(|d| d.as_millis().min(u128::from(u64::MAX)) as u64),
            not_before: def.not_before.clone(),
            until: None,
        }
    }

    /// When a step due at `now` is published.
    fn release_time(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let after = self
            .delay_ms
            .and_then(|ms| chrono::Duration::try_milliseconds(ms.min(i64::MAX as u64) as i64))
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(now);
        match self.not_before.as_deref().map(parse_time_of_day) {
            Some(Ok(at)) => at.next_after(after),
            _ => after,
        }
    }
}

/// A time of day in a zone, the next occurrence of which a step waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOfDay {
    time: NaiveTime,
    zone: chrono_tz::Tz,
}

impl TimeOfDay {
    /// The first moment at or after `after` that shows this time in its zone.
    pub fn next_after(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        let local = after.with_timezone(&self.zone);
        let mut day = local.date_naive();
        for _ in 0..3 {
            // A time a clock change skips that day is not there: the next day's.
            if let Some(t) = self
                .zone
                .from_local_datetime(&day.and_time(self.time))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .filter(|t| *t >= after)
            {
                return t;
            }
            day = day.succ_opt().unwrap_or(day);
        }
        after
    }
}

/// `"02:00"`, `"02:00:30"`, optionally followed by an IANA zone
/// (`"02:00 Europe/Berlin"`; UTC without one).
///
/// ```
/// use isoqube::model::parse_time_of_day;
/// let at = parse_time_of_day("02:00").unwrap();
/// let t = "2026-12-08T03:00:00Z".parse().unwrap();
/// assert_eq!(at.next_after(t).to_rfc3339(), "2026-12-09T02:00:00+00:00");
/// assert!(parse_time_of_day("25:00").is_err());
/// ```
pub fn parse_time_of_day(text: &str) -> Result<TimeOfDay> {
    let bad = |why: &str| {
        Error::InvalidDefinition(format!(
            "not_before '{text}' {why} (a time of day such as \"02:00\", \"02:00:30\" or \"02:00 Europe/Berlin\")"
        ))
    };
    let mut parts = text.split_whitespace();
    let time_text = parts.next().ok_or_else(|| bad("is empty"))?;
    let time = NaiveTime::parse_from_str(time_text, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(time_text, "%H:%M"))
        .map_err(|_| bad("is not a time of day"))?;
    let zone = match parts.next() {
        None => chrono_tz::UTC,
        Some(zone) => chrono_tz::Tz::from_str(zone).map_err(|_| bad("names no known time zone"))?,
    };
    if parts.next().is_some() {
        return Err(bad("has more than a time and a zone"));
    }
    Ok(TimeOfDay { time, zone })
}

impl Step {
    /// Whether it waits once due instead of being published at once: a wait
    /// for an event, or a hold for a time.
    pub(super) fn holds_back(&self) -> bool {
        self.wait.is_some() || self.hold.is_some()
    }

    /// Its deadline while `Waiting`: a retry's, a wait's, or when a hold ends.
    pub(super) fn waiting_until(&self) -> Option<DateTime<Utc>> {
        if self.status != StepStatus::Waiting {
            return None;
        }
        if self.retry_at.is_some() {
            return self.retry_at;
        }
        match (&self.wait, &self.hold) {
            (Some(w), _) => w.until,
            (None, Some(h)) => h.until,
            (None, None) => None,
        }
    }
}

impl Run {
    /// Step `index` is due and held: `Waiting` until its time.
    pub(super) fn begin_hold(&mut self, index: usize, now: DateTime<Utc>) {
        let step = &mut self.steps[index];
        step.status = StepStatus::Waiting;
        if let Some(hold) = step.hold.as_mut() {
            hold.until = Some(hold.release_time(now));
        }
        if self.status == RunStatus::Pending && self.start_at.is_none() {
            self.status = RunStatus::Running;
        }
    }

    /// Held step `index` whose time has come (or whose retry is due):
    /// pending again, to publish.
    pub(super) fn release_hold(&mut self, index: usize) -> NextStep {
        self.steps[index].status = StepStatus::Pending;
        self.steps[index].retry_at = None;
        self.next_step(index)
    }

    /// The consumer failed `attempts` times, the last with `error`, and its
    /// next attempt is due at `at`, too far off to hold the message: the
    /// step waits (`Waiting`, [`Step::retry_at`]) and the store's timer
    /// publishes it again then; the attempts count against its retry policy
    /// when it runs ([`StepHandler::retried`]). `None` when the retry is
    /// scheduled; otherwise the run is no longer running (cancelled, or
    /// failed by another branch) and this is recorded as [`Run::fail`]
    /// records a failure, with its outcome.
    pub fn retry_later(
        &mut self,
        key: &StepKey,
        error: &str,
        attempts: u32,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<FailOutcome>> {
        let running = matches!(self.status, RunStatus::Pending | RunStatus::Running);
        let step = self.step_mut(key.step)?;
        let replayed = step.status == StepStatus::Waiting
            && step.retry_at == Some(at)
            && step
                .handlers
                .iter()
                .any(|h| h.endpoint == key.endpoint && Self::owns(h, key));
        if replayed {
            return Ok(None);
        }
        if key.compensation || !running || step.status == StepStatus::Succeeded {
            return self.fail(key, error, attempts, now).map(Some);
        }
        let retried = step
            .handlers
            .iter()
            .find(|h| h.endpoint == key.endpoint)
            .map_or(0, |h| h.retried);
        let handler = Self::handler_mut(&mut step.handlers, key);
        handler.status = StepStatus::Pending;
        handler.attempts += attempts;
        handler.retried = retried + attempts;
        handler.finished_at = Some(now);
        handler.error = Some(error.to_string());
        handler.host = key.host.clone();
        handler.deadline = None;
        step.attempts += attempts;
        step.last_error = Some(error.to_string());
        step.invoked_at.get_or_insert(key.started_at.unwrap_or(now));
        step.status = StepStatus::Waiting;
        step.retry_at = Some(at);
        if self.status == RunStatus::Pending {
            self.status = RunStatus::Running;
        }
        self.refresh_wake();
        self.touch(now);
        Ok(None)
    }

    /// Starts the run at `at` instead of now: nothing is published until
    /// then (a wait among its first steps begins then too).
    ///
    /// ```
    /// use isoqube::{Definition, Run, RunStatus, Variables};
    /// let mut run = Run::new(&Definition::new("d", ["A"]), Variables::new(), "doc");
    /// let at = chrono::Utc::now() + chrono::Duration::minutes(10);
    /// run.delay_start(at);
    /// assert_eq!(run.wake_at, Some(at));
    /// assert!(run.fire_timers(chrono::Utc::now()).is_empty());
    /// assert_eq!(run.fire_timers(at).len(), 1, "A is published at its time");
    /// ```
    pub fn delay_start(&mut self, at: DateTime<Utc>) {
        for step in &mut self.steps {
            if step.status == StepStatus::Waiting {
                step.status = StepStatus::Pending;
                step.invoked_at = None;
            }
        }
        self.status = RunStatus::Pending;
        self.start_at = Some(at);
        self.refresh_wake();
    }

    /// A delayed start whose time has come: the first steps, to publish.
    pub(super) fn start_now(&mut self, now: DateTime<Utc>) -> Vec<NextStep> {
        self.start_at = None;
        let first = self.start_steps();
        self.arrive(first, now)
    }
}

#[cfg(test)]
mod tests;
