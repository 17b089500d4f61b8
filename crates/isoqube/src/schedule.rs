//! Runs that start by themselves: a definition's schedules (cron expression in a
//! time zone, fixed interval, or one time) and its webhook, and the
//! [`Scheduler`] that starts runs when they are due.
//!
//! Several schedulers may run at once (one per control center instance): each
//! due time is claimed in the store with one conditional write
//! ([`RunStore::claim_tick`]), so it starts exactly one run whoever gets there
//! first. Due times are computed the same way everywhere (intervals are aligned
//! to the Unix epoch, cron to the wall clock of its zone), which is what lets
//! the instances agree on them.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::control::Control;
use crate::error::{Error, Result};
use crate::model::{Definition, Variables};
use crate::store::RunStore;

/// What `POST /hooks/{id}` needs: the hook's id and the secret a caller must send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Webhook {
    /// The id in the URL.
    pub id: String,
    /// The shared secret (sent as `X-Isoqube-Secret` or a bearer token).
    pub secret: String,
}

/// When a schedule is due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum When {
    /// A cron expression: `min hour day-of-month month day-of-week`, or with a
    /// leading seconds field (6 fields); `*`, lists, ranges and `/steps`.
    Cron {
        /// The expression.
        expr: String,
        /// IANA time zone (`Europe/Paris`); default UTC.
        #[serde(default = "utc_name")]
        tz: String,
    },
    /// Every `every_secs` seconds, aligned to the Unix epoch.
    Interval {
        /// The period.
        every_secs: u64,
    },
    /// Once, at this time.
    Once {
        /// The time.
        at: DateTime<Utc>,
    },
}

fn utc_name() -> String {
    "UTC".into()
}

/// What to do with due times that passed while no scheduler was running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Missed {
    /// Forget them.
    #[default]
    Skip,
    /// Start one run for all of them together.
    RunOnce,
}

/// A schedule of a definition.
///
/// ```
/// use isoqube::schedule::{Schedule, When};
/// let s = Schedule::new("nightly", When::Cron { expr: "0 2 * * *".into(), tz: "Europe/Paris".into() });
/// let after = "2026-06-01T00:30:00Z".parse().unwrap();
/// // 02:00 in Paris (summer time, UTC+2) is 00:00 UTC: the next one is the day after.
/// assert_eq!(s.next_after(after).unwrap().unwrap().to_rfc3339(), "2026-06-02T00:00:00+00:00");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "A schedule of a definition.")
)]
pub struct Schedule {
    /// Unique within the definition.
    pub id: String,
    /// When it is due.
    pub when: When,
    /// Missed due times.
    #[serde(default)]
    pub missed: Missed,
    /// Off schedules are kept but not run.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Variables of the runs it starts (over the definition's).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub variables: Variables,
}

fn yes() -> bool {
    true
}

impl Schedule {
    /// An enabled schedule that skips missed times, without variables.
    pub fn new(id: impl Into<String>, when: When) -> Self {
        Schedule {
            id: id.into(),
            when,
            missed: Missed::Skip,
            enabled: true,
            variables: Variables::new(),
        }
    }

    /// The first due time strictly after `after`, if there is one; an error
    /// when the schedule is invalid.
    pub fn next_after(&self, after: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        match &self.when {
            When::Once { at } => Ok((*at > after).then_some(*at)),
            When::Interval { every_secs } => {
                if *every_secs == 0 {
                    return Err(Error::InvalidDefinition(format!(
                        "schedule '{}': every_secs must be at least 1",
                        self.id
                    )));
                }
                let every = i64::try_from(*every_secs).unwrap_or(i64::MAX);
                let next = (after.timestamp().div_euclid(every) + 1).saturating_mul(every);
                Ok(DateTime::from_timestamp(next, 0))
            }
            When::Cron { expr, tz } => {
                let cron = Cron::parse(expr).map_err(|m| {
                    Error::InvalidDefinition(format!("schedule '{}': {m}", self.id))
                })?;
                let zone = parse_tz(tz).map_err(|m| {
                    Error::InvalidDefinition(format!("schedule '{}': {m}", self.id))
                })?;
                Ok(cron.next_after(after, zone))
            }
        }
    }

    /// The last due time in `(after, until]`, if any.
    pub fn last_due_in(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let mut last = None;
        let mut t = after;
        // Bounded: a year of per-second ticks is far more than any gap we handle.
        for _ in 0..100_000 {
            match self.next_after(t)? {
                Some(n) if n <= until => {
                    last = Some(n);
                    t = n;
                }
                _ => break,
            }
        }
        Ok(last)
    }
}

/// Checks a definition's schedules and webhook.
pub fn validate(def: &Definition) -> Result<()> {
    let mut ids = std::collections::BTreeSet::new();
    for s in &def.schedules {
        if s.id.trim().is_empty()
            || s.id.len() > 100
            || !s
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(Error::InvalidDefinition(format!(
                "schedule id '{}' of '{}' must be 1-100 of letters, digits, '-', '_', '.'",
                s.id, def.name
            )));
        }
        if !ids.insert(s.id.as_str()) {
            return Err(Error::InvalidDefinition(format!(
                "definition '{}' has two schedules with id '{}'",
                def.name, s.id
            )));
        }
        s.next_after(DateTime::UNIX_EPOCH)?;
    }
    if let Some(hook) = &def.webhook {
        if hook.id.len() < 8
            || hook.id.len() > 100
            || !hook
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        {
            return Err(Error::InvalidDefinition(format!(
                "webhook id of '{}' must be 8-100 letters, digits, '-' or '_'",
                def.name
            )));
        }
        if hook.secret.len() < 16 {
            return Err(Error::InvalidDefinition(format!(
                "webhook secret of '{}' must be at least 16 characters",
                def.name
            )));
        }
    }
    Ok(())
}

fn parse_tz(tz: &str) -> std::result::Result<chrono_tz::Tz, String> {
    chrono_tz::Tz::from_str(tz.trim())
        .map_err(|_| format!("unknown time zone '{tz}' (use an IANA name such as Europe/Paris)"))
}

/// A parsed cron expression.
///
/// ```
/// let c = isoqube::schedule::Cron::parse("*/15 9-17 * * mon-fri").unwrap();
/// let t = "2026-11-23T10:07:00Z".parse().unwrap(); // a Monday
/// assert_eq!(c.next_after(t, chrono_tz::UTC).unwrap().to_rfc3339(), "2026-11-23T10:15:00+00:00");
/// assert!(isoqube::schedule::Cron::parse("61 * * * *").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    seconds: Vec<bool>,
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    any_day: bool,
    any_weekday: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    /// Parses 5 fields (minute precision) or 6 (with seconds first).
    pub fn parse(expr: &str) -> std::result::Result<Cron, String> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let (sec, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            n => {
                return Err(format!(
                    "cron expression '{expr}' has {n} fields; expected 5 (min hour day month weekday) or 6 (with seconds first)"
                ))
            }
        };
        let seconds = field(sec, 0, 59, &[], "seconds")?;
        let minutes = field(rest[0], 0, 59, &[], "minute")?;
        let hours = field(rest[1], 0, 23, &[], "hour")?;
        let days = field(rest[2], 1, 31, &[], "day of month")?;
        let months = field(rest[3], 1, 12, &MONTHS, "month")?;
        let mut weekdays = field(rest[4], 0, 7, &WEEKDAYS, "day of week")?;
        if weekdays[7] {
            weekdays[0] = true; // 7 is Sunday too
        }
        Ok(Cron {
            seconds,
            minutes,
            hours,
            days,
            months,
            weekdays,
            any_day: rest[2] == "*" || rest[2] == "?",
            any_weekday: rest[4] == "*" || rest[4] == "?",
        })
    }

    fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let d = self.days[day as usize];
        let w = self.weekdays[weekday as usize];
        // Classic cron: when both are restricted, either may match.
        match (self.any_day, self.any_weekday) {
            (true, true) => true,
            (false, true) => d,
            (true, false) => w,
            (false, false) => d || w,
        }
    }

    /// The first matching time strictly after `after`, within about 4 years.
    ///
    /// Daylight saving, as classic cron does it: wall-clock times that do not
    /// exist (the hour skipped in spring) are skipped; in the hour repeated in
    /// autumn, an expression with a fixed hour fires on the first pass only
    /// (a daily 02:30 job runs once that day), while one that runs every hour
    /// fires on both passes (each is a real hour).
    pub fn next_after<Z: TimeZone>(&self, after: DateTime<Utc>, zone: Z) -> Option<DateTime<Utc>> {
        // Walk UTC minutes: every instant maps to one wall-clock time.
        let every_hour = self.hours.iter().all(|h| *h);
        let start = after.timestamp().div_euclid(60) * 60;
        let limit = 4 * 366 * 24 * 60;
        let mut minute = start;
        for _ in 0..limit {
            let utc = DateTime::from_timestamp(minute, 0)?;
            let local = utc.with_timezone(&zone);
            if self.months[local.month() as usize]
                && self.day_matches(local.day(), local.weekday().num_days_from_sunday())
                && self.hours[local.hour() as usize]
                && self.minutes[local.minute() as usize]
                && (every_hour || !is_second_pass(&zone, &local))
            {
                for s in 0..60u32 {
                    if self.seconds[s as usize] {
                        let t = DateTime::from_timestamp(minute + i64::from(s), 0)?;
                        if t > after {
                            return Some(t);
                        }
                    }
                }
            }
            minute += 60;
        }
        None
    }
}

/// Whether `local` is the second occurrence of its wall-clock time (the hour
/// repeated when the clocks go back).
fn is_second_pass<Z: TimeZone>(zone: &Z, local: &DateTime<Z>) -> bool {
    match zone.from_local_datetime(&local.naive_local()) {
        chrono::LocalResult::Ambiguous(first, _) => first.timestamp() != local.timestamp(),
        _ => false,
    }
}

fn value(s: &str, names: &[&str], lo: u32) -> Option<u32> {
    s.parse().ok().or_else(|| {
        names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s))
            .map(|i| i as u32 + lo)
    })
}

fn field(
    spec: &str,
    lo: u32,
    hi: u32,
    names: &[&str],
    what: &str,
) -> std::result::Result<Vec<bool>, String> {
    let lo_name = if names.len() == 12 { 1 } else { 0 };
    let mut set = vec![false; hi as usize + 1];
    for part in spec.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("{what}: bad step in '{part}'"))?,
            ),
            None => (part, 1),
        };
        let (from, to) = if range == "*" || range == "?" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                value(a, names, lo_name).ok_or_else(|| format!("{what}: bad value '{a}'"))?,
                value(b, names, lo_name).ok_or_else(|| format!("{what}: bad value '{b}'"))?,
            )
        } else {
            let v = value(range, names, lo_name)
                .ok_or_else(|| format!("{what}: bad value '{range}'"))?;
            (v, if part.contains('/') { hi } else { v })
        };
        if from < lo || to > hi || from > to {
            return Err(format!("{what}: '{part}' is outside {lo}-{hi}"));
        }
        let mut v = from;
        while v <= to {
            set[v as usize] = true;
            v += step;
        }
    }
    Ok(set)
}

/// The store key of a schedule's ticks.
pub fn tick_key(definition: &str, schedule: &str) -> String {
    format!("{definition}/{schedule}")
}

/// Starts runs of scheduled definitions when they are due.
///
/// ```no_run
/// # async fn f(control: isoqube::Control) -> isoqube::Result<()> {
/// let scheduler = isoqube::schedule::Scheduler::start(control, "cc-1");
/// // ... later
/// scheduler.stop().await;
/// # Ok(()) }
/// ```
pub struct Scheduler {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// How often the scheduler looks at the clock and the definitions.
pub const TICK: Duration = Duration::from_millis(200);

impl Scheduler {
    /// Starts the loop; `instance` names this scheduler in logs and `started_by`.
    pub fn start(control: Control, instance: impl Into<String>) -> Scheduler {
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(scheduler_loop(control, instance.into(), rx));
        Scheduler { stop, task }
    }

    /// Stops the loop and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn scheduler_loop(control: Control, instance: String, mut stop: watch::Receiver<bool>) {
    let store = control.store().clone();
    // Where each schedule was last looked at by this instance.
    let mut seen: std::collections::HashMap<String, DateTime<Utc>> = Default::default();
    loop {
        if *stop.borrow() {
            return;
        }
        if let Err(e) = tick(&control, &store, &instance, &mut seen).await {
            tracing::warn!(scheduler = %instance, "scheduler pass failed: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn tick(
    control: &Control,
    store: &Arc<dyn RunStore>,
    instance: &str,
    seen: &mut std::collections::HashMap<String, DateTime<Utc>>,
) -> Result<()> {
    let now = Utc::now();
    for def in store.list_definitions().await? {
        for s in def.schedules.iter().filter(|s| s.enabled) {
            let key = tick_key(&def.name, &s.id);
            let since = match seen.get(&key) {
                Some(t) => *t,
                None => {
                    // First look: missed times since the last claimed tick (or
                    // since the definition was saved) are skipped or run once.
                    let last = store.last_tick(&key).await?.unwrap_or(def.modified_at);
                    match s.missed {
                        Missed::Skip => now,
                        Missed::RunOnce => last,
                    }
                }
            };
            let due = match s.last_due_in(since, now) {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(definition = %def.name, schedule = %s.id, "{e}");
                    None
                }
            };
            seen.insert(key.clone(), now);
            let Some(due) = due else { continue };
            if store.claim_tick(&key, due).await? {
                let mut vars = s.variables.clone();
                vars.insert("scheduled_at".into(), due.to_rfc3339().into());
                match control
                    .start_run(&def.name, vars, &format!("schedule:{}@{instance}", s.id))
                    .await
                {
                    Ok(run) => {
                        tracing::info!(definition = %def.name, schedule = %s.id, run_id = %run.id, due = %due, "scheduled run started")
                    }
                    Err(e) => {
                        tracing::warn!(definition = %def.name, schedule = %s.id, "scheduled run did not start: {e}")
                    }
                }
            }
        }
    }
    seen.retain(|_, t| *t == now);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn intervals_are_epoch_aligned() {
        let s = Schedule::new("i", When::Interval { every_secs: 60 });
        assert_eq!(
            s.next_after(t("2026-01-01T00:00:30Z")).unwrap(),
            Some(t("2026-01-01T00:01:00Z"))
        );
        assert_eq!(
            s.next_after(t("2026-01-01T00:01:00Z")).unwrap(),
            Some(t("2026-01-01T00:02:00Z"))
        );
        assert_eq!(
            s.last_due_in(t("2026-01-01T00:00:30Z"), t("2026-01-01T00:05:10Z"))
                .unwrap(),
            Some(t("2026-01-01T00:05:00Z"))
        );
    }

    #[test]
    fn once_is_due_once() {
        let s = Schedule::new(
            "o",
            When::Once {
                at: t("2026-03-01T12:00:00Z"),
            },
        );
        assert_eq!(
            s.next_after(t("2026-03-01T11:00:00Z")).unwrap(),
            Some(t("2026-03-01T12:00:00Z"))
        );
        assert_eq!(s.next_after(t("2026-03-01T12:00:00Z")).unwrap(), None);
    }

    #[test]
    fn cron_fields_and_zones() {
        let every_second = Cron::parse("* * * * * *").unwrap();
        assert_eq!(
            every_second.next_after(t("2026-01-01T00:00:00Z"), chrono_tz::UTC),
            Some(t("2026-01-01T00:00:01Z"))
        );
        let weekly = Cron::parse("30 8 * * sun").unwrap();
        assert_eq!(
            weekly.next_after(t("2026-11-23T00:00:00Z"), chrono_tz::UTC),
            Some(t("2026-11-29T08:30:00Z"))
        );
        // 08:30 in New York in winter is 13:30 UTC.
        assert_eq!(
            weekly.next_after(t("2026-11-23T00:00:00Z"), chrono_tz::America::New_York),
            Some(t("2026-11-29T13:30:00Z"))
        );
        let monthly = Cron::parse("0 0 1 jan,jul *").unwrap();
        assert_eq!(
            monthly.next_after(t("2026-02-10T00:00:00Z"), chrono_tz::UTC),
            Some(t("2026-07-01T00:00:00Z"))
        );
        for bad in [
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "*/0 * * * *",
            "x * * * *",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn daylight_saving_gap_is_skipped() {
        // 02:30 does not exist in Paris on 2026-03-29 (clocks jump 02:00 -> 03:00).
        let c = Cron::parse("30 2 * * *").unwrap();
        assert_eq!(
            c.next_after(t("2026-03-28T12:00:00Z"), chrono_tz::Europe::Paris),
            Some(t("2026-03-30T00:30:00Z"))
        );
    }

    #[test]
    fn repeated_hour_fires_once_for_a_fixed_hour_twice_for_every_hour() {
        // Paris, 2026-10-25: 03:00 CEST -> 02:00 CET, so 02:30 happens at 00:30Z
        // and again at 01:30Z.
        let paris = chrono_tz::Europe::Paris;
        let daily = Cron::parse("30 2 * * *").unwrap();
        let first = daily.next_after(t("2026-10-24T12:00:00Z"), paris);
        assert_eq!(first, Some(t("2026-10-25T00:30:00Z")));
        assert_eq!(
            daily.next_after(t("2026-10-25T00:30:00Z"), paris),
            Some(t("2026-10-26T01:30:00Z")),
            "the second 02:30 of the day is not a new due time"
        );
        let hourly = Cron::parse("30 * * * *").unwrap();
        assert_eq!(
            hourly.next_after(t("2026-10-25T00:30:00Z"), paris),
            Some(t("2026-10-25T01:30:00Z"))
        );
    }

    #[test]
    fn definitions_with_bad_schedules_are_refused() {
        let mut def = Definition::new("d", ["A"]);
        def.schedules = vec![Schedule::new(
            "s",
            When::Cron {
                expr: "* * *".into(),
                tz: "UTC".into(),
            },
        )];
        assert!(validate(&def)
            .unwrap_err()
            .to_string()
            .contains("5 (min hour"));
        def.schedules = vec![Schedule::new(
            "s",
            When::Cron {
                expr: "0 * * * *".into(),
                tz: "Mars/Olympus".into(),
            },
        )];
        assert!(validate(&def)
            .unwrap_err()
            .to_string()
            .contains("Mars/Olympus"));
        def.schedules = vec![
            Schedule::new("s", When::Interval { every_secs: 5 }),
            Schedule::new("s", When::Interval { every_secs: 6 }),
        ];
        assert!(validate(&def)
            .unwrap_err()
            .to_string()
            .contains("two schedules"));
        def.schedules = vec![Schedule::new("s", When::Interval { every_secs: 0 })];
        assert!(validate(&def).is_err());
        def.schedules.clear();
        def.webhook = Some(Webhook {
            id: "hook-1234".into(),
            secret: "short".into(),
        });
        assert!(validate(&def).unwrap_err().to_string().contains("secret"));
    }
}
