//! Runs that start by themselves: a definition's schedules (cron expression in a
//! time zone, fixed interval, or one time) and its webhook, and the
//! [`Scheduler`] that starts runs when they are due.
//!
//! Two halves. The *data* half (webhook, [`When`], [`Schedule`], validation,
//! [`Timing`] and [`Cron`]) is pure: it uses chrono, chrono-tz, `croner` (cron
//! parsing and next-time search) and the definition type of the model, nothing
//! that runs. The *loop* half ([`Scheduler`]) uses the [`Control`] and the
//! [`RunStore`] to claim due times and start runs.
//!
//! Several schedulers may run at once (one per control center instance): each
//! due time is claimed in the store with one conditional write
//! ([`RunStore::claim_tick`]), so it starts exactly one run whoever gets there
//! first. Due times are computed the same way everywhere (intervals are aligned
//! to the Unix epoch, cron to the wall clock of its zone), which is what lets
//! the instances agree on them.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::control::Control;
use crate::error::{Error, Result};
use crate::model::{Definition, Variables};
use crate::store::RunStore;

// ============================================================== the data

/// What `POST /hooks/{id}` needs: the hook's id and the secret a caller must send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// The id in the URL.
    pub id: String,
    /// The shared secret (sent as `X-Isoqube-Secret` or a bearer token).
    pub secret: String,
}

/// When a schedule is due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
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

    /// The schedule's [`When`], parsed: keep it to ask for many due times
    /// without parsing again. An error when the schedule is invalid.
    pub fn timing(&self) -> Result<Timing> {
        Timing::of(&self.when)
            .map_err(|m| Error::InvalidDefinition(format!("schedule '{}': {m}", self.id)))
    }

    /// The first due time strictly after `after`, if there is one; an error
    /// when the schedule is invalid.
    pub fn next_after(&self, after: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
        Ok(self.timing()?.next_after(after))
    }

    /// The last due time in `(after, until]`, if any.
    pub fn last_due_in(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        Ok(self.timing()?.last_due_in(after, until))
    }
}

/// Checks a definition's schedules and webhook.
pub fn validate(def: &Definition) -> Result<()> {
    let mut ids = BTreeSet::new();
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
        s.timing()?;
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

/// The store key of a schedule's ticks.
pub fn tick_key(definition: &str, schedule: &str) -> String {
    format!("{definition}/{schedule}")
}

/// A schedule's [`When`], parsed once ([`Schedule::timing`]): answers due times.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing(Kind);

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Once(DateTime<Utc>),
    /// Seconds, at least 1.
    Interval(i64),
    Cron(Box<Cron>, chrono_tz::Tz),
}

impl Timing {
    fn of(when: &When) -> std::result::Result<Timing, String> {
        Ok(Timing(match when {
            When::Once { at } => Kind::Once(*at),
            When::Interval { every_secs: 0 } => {
                return Err("every_secs must be at least 1".into());
            }
            When::Interval { every_secs } => {
                Kind::Interval(i64::try_from(*every_secs).unwrap_or(i64::MAX))
            }
            When::Cron { expr, tz } => Kind::Cron(Box::new(Cron::parse(expr)?), parse_tz(tz)?),
        }))
    }

    /// The first due time strictly after `after`, if there is one.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.0 {
            Kind::Once(at) => (*at > after).then_some(*at),
            Kind::Interval(every) => {
                let next = (after.timestamp().div_euclid(*every) + 1).saturating_mul(*every);
                DateTime::from_timestamp(next, 0)
            }
            Kind::Cron(cron, zone) => cron.next_after(after, *zone),
        }
    }

    /// The last due time in `(after, until]`, if any.
    pub fn last_due_in(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut last = None;
        let mut t = after;
        // Bounded: a year of per-second ticks is far more than any gap we handle.
        for _ in 0..100_000 {
            match self.next_after(t) {
                Some(n) if n <= until => {
                    last = Some(n);
                    t = n;
                }
                _ => break,
            }
        }
        last
    }
}

fn parse_tz(tz: &str) -> std::result::Result<chrono_tz::Tz, String> {
    chrono_tz::Tz::from_str(tz.trim())
        .map_err(|_| format!("unknown time zone '{tz}' (use an IANA name such as Europe/Paris)"))
}

/// A parsed cron expression (parsing and search by `croner`, with classic
/// cron's daylight-saving rules on top).
///
/// ```
/// let c = isoqube::schedule::Cron::parse("*/15 9-17 * * mon-fri").unwrap();
/// let t = "2026-11-23T10:07:00Z".parse().unwrap(); // a Monday
/// assert_eq!(c.next_after(t, chrono_tz::UTC).unwrap().to_rfc3339(), "2026-11-23T10:15:00+00:00");
/// assert!(isoqube::schedule::Cron::parse("61 * * * *").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    pattern: croner::Cron,
    /// Whether the hour field takes every hour: such an expression also fires
    /// in the hour repeated when the clocks go back.
    every_hour: bool,
}

/// The fields of a 6-field expression (5-field ones start at the minute): name,
/// range, and the words the field takes.
const FIELDS: [(&str, &str, &[&str]); 6] = [
    ("seconds", "0-59", &[]),
    ("minute", "0-59", &[]),
    ("hour", "0-23", &[]),
    ("day of month", "1-31", &["l", "w", "lw"]),
    (
        "month",
        "1-12",
        &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    ),
    (
        "day of week",
        "0-7",
        &["sun", "mon", "tue", "wed", "thu", "fri", "sat", "l"],
    ),
];

impl Cron {
    /// Parses 5 fields (minute precision) or 6 (with seconds first).
    pub fn parse(expr: &str) -> std::result::Result<Cron, String> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        // Checked here, not by croner, which would also take a year field and
        // `@daily`-style nicknames that the rest of the system does not expect.
        if !matches!(fields.len(), 5 | 6) {
            return Err(format!(
                "cron expression '{expr}' has {} fields; expected 5 (min hour day month weekday) or 6 (with seconds first)",
                fields.len()
            ));
        }
        let named = &FIELDS[FIELDS.len() - fields.len()..];
        for (field, (name, _, words)) in fields.iter().zip(named) {
            // croner reads month and weekday names in any field ("mon" as a
            // minute is 1): only the fields they belong to take them here.
            let word = field
                .split(|c: char| !c.is_ascii_alphabetic())
                .find(|w| !w.is_empty() && !words.iter().any(|k| k.eq_ignore_ascii_case(w)));
            if let Some(word) = word {
                return Err(format!(
                    "cron expression '{expr}': {name} '{field}': '{word}' is not a {name}"
                ));
            }
        }
        let pattern = cron_parser()
            .parse(expr)
            .map_err(|e| explain(expr, &fields, &e))?;
        let every_hour = (0..24).all(|h| pattern.pattern.hour_match(h).unwrap_or(false));
        Ok(Cron {
            pattern,
            every_hour,
        })
    }

    /// The first matching time strictly after `after`, if there is one.
    ///
    /// Daylight saving, as classic cron does it: wall-clock times that do not
    /// exist (the hour skipped in spring) are skipped; in the hour repeated in
    /// autumn, an expression with a fixed hour fires on the first pass only
    /// (a daily 02:30 job runs once that day), while one that runs every hour
    /// fires on both passes (each is a real hour).
    pub fn next_after<Z: TimeZone>(&self, after: DateTime<Utc>, zone: Z) -> Option<DateTime<Utc>> {
        let mut from = after.with_timezone(&zone);
        // Each turn skips one answer that classic cron would not give: bounded
        // by the seconds of a repeated hour, the most an expression can skip.
        for _ in 0..4_000 {
            let next = self.pattern.find_next_occurrence(&from, false).ok()?;
            // croner moves a fixed time that falls in the spring gap to just
            // after the gap, where the pattern does not match: classic cron
            // skips it. croner also fires a job of several fixed hours on
            // both passes of a repeated hour: classic cron only on the first.
            let matches = self.pattern.is_time_matching(&next).unwrap_or(false);
            if matches && (self.every_hour || !is_second_pass(&zone, &next)) {
                return Some(next.with_timezone(&Utc));
            }
            from = next;
        }
        None
    }
}

fn cron_parser() -> croner::parser::CronParser {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        // `5/15` (from 5, every 15) has always been accepted here.
        .sloppy_ranges(true)
        .build()
}

/// croner's message, with the field it is about when one field alone is at
/// fault (croner says "Number out of bounds." without saying where).
fn explain(expr: &str, fields: &[&str], e: &croner::errors::CronError) -> String {
    use croner::errors::CronError as E;
    let said = match e {
        E::InvalidPattern(m) | E::IllegalCharacters(m) | E::ComponentError(m) => m.clone(),
        other => other.to_string(),
    };
    let said = said.trim_end_matches('.');
    let named = &FIELDS[FIELDS.len() - fields.len()..];
    let culprit = (0..fields.len()).find(|&i| {
        let mut probe = vec!["*"; fields.len()];
        probe[i] = fields[i];
        cron_parser().parse(&probe.join(" ")).is_err()
    });
    match culprit {
        Some(i) => {
            let (name, range, _) = named[i];
            format!(
                "cron expression '{expr}': {name} '{}': {said} ({name}: {range})",
                fields[i]
            )
        }
        None => format!("cron expression '{expr}': {said}"),
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

// ============================================================== the loop

/// Starts runs of scheduled definitions when they are due.
///
/// It keeps each enabled schedule's next due time in memory, so a tick with
/// nothing due makes no store call, whatever the number of definitions. It
/// lists the definitions again every few seconds to see new and changed
/// schedules, and reads a definition again before claiming its due time, so a
/// schedule turned off or deleted since the last listing does not fire.
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

/// How often the scheduler looks at the clock for due times.
pub const TICK: Duration = Duration::from_millis(200);

/// How often the scheduler lists the definitions again (one store call, the
/// only one a tick with nothing due makes).
const RELIST: Duration = Duration::from_secs(5);

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
    let mut plan = Plan::default();
    loop {
        if *stop.borrow() {
            return;
        }
        if let Err(e) = plan.tick(&control, &store, &instance, Utc::now()).await {
            tracing::warn!(scheduler = %instance, "scheduler pass failed: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => return,
        }
    }
}

/// (definition, schedule id).
type Key = (String, String);

/// One enabled schedule as this instance sees it.
struct Entry {
    /// As last read from the store, to notice changes.
    schedule: Schedule,
    /// `None` when invalid (warned once, when read).
    timing: Option<Timing>,
    /// Due times up to here are handled (or were skipped by the first look).
    since: DateTime<Utc>,
    /// The first due time after `since`; the entry is queued under it.
    next: Option<DateTime<Utc>>,
}

/// The scheduler's memory: every enabled schedule and a queue by next due time.
#[derive(Default)]
struct Plan {
    entries: HashMap<Key, Entry>,
    queue: BTreeSet<(DateTime<Utc>, Key)>,
    /// When the definitions were last listed.
    listed: Option<Instant>,
    /// The time of the last tick that went through: due times up to it were
    /// looked at for every schedule, which is where a changed schedule starts.
    looked: Option<DateTime<Utc>>,
}

impl Plan {
    /// One pass: list the definitions when it is time, then start what is due.
    /// A store error ends the pass; what was not handled is handled next pass.
    async fn tick(
        &mut self,
        control: &Control,
        store: &Arc<dyn RunStore>,
        instance: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if self.listed.is_none_or(|at| at.elapsed() >= RELIST) {
            self.relist(store, now).await?;
            self.listed = Some(Instant::now());
        }
        while let Some((at, key)) = self.queue.first().cloned() {
            if at > now {
                break;
            }
            self.fire(control, store, instance, key, now).await?;
        }
        self.looked = Some(now);
        Ok(())
    }

    /// Brings the entries in line with the stored definitions.
    async fn relist(&mut self, store: &Arc<dyn RunStore>, now: DateTime<Utc>) -> Result<()> {
        let mut listed = HashSet::new();
        for def in store.list_definitions().await? {
            for s in def.schedules.iter().filter(|s| s.enabled) {
                let key = (def.name.clone(), s.id.clone());
                if !listed.insert(key.clone()) {
                    continue; // a duplicate id: the first one counts
                }
                let since = match self.entries.get(&key) {
                    Some(e) if e.schedule == *s => continue,
                    Some(e) => self.changed_since(e),
                    None => match s.missed {
                        // First look: missed times since the last claimed tick
                        // (or since the definition was saved) are skipped or
                        // run once.
                        Missed::Skip => now,
                        Missed::RunOnce => store
                            .last_tick(&tick_key(&def.name, &s.id))
                            .await?
                            .unwrap_or(def.modified_at),
                    },
                };
                self.set(key, s.clone(), since);
            }
        }
        let gone: Vec<Key> = self
            .entries
            .keys()
            .filter(|k| !listed.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            self.forget(&key);
        }
        Ok(())
    }

    /// Where a schedule that changed starts: due times of its new form are
    /// looked for only after what this instance had looked at already.
    fn changed_since(&self, old: &Entry) -> DateTime<Utc> {
        self.looked.map_or(old.since, |t| t.max(old.since))
    }

    /// Records (or replaces) a schedule's entry and queues its next due time.
    fn set(&mut self, key: Key, schedule: Schedule, since: DateTime<Utc>) {
        self.forget(&key);
        let timing = match schedule.timing() {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(definition = %key.0, schedule = %key.1, "{e}");
                None
            }
        };
        let next = timing.as_ref().and_then(|t| t.next_after(since));
        if let Some(at) = next {
            self.queue.insert((at, key.clone()));
        }
        self.entries.insert(
            key,
            Entry {
                schedule,
                timing,
                since,
                next,
            },
        );
    }

    fn forget(&mut self, key: &Key) {
        if let Some(old) = self.entries.remove(key) {
            if let Some(at) = old.next {
                self.queue.remove(&(at, key.clone()));
            }
        }
    }

    /// Handles a schedule whose next due time has come: claims the last due
    /// time up to `now` and starts its run. Every way out but a store error
    /// moves the schedule's place in the queue past `now`.
    async fn fire(
        &mut self,
        control: &Control,
        store: &Arc<dyn RunStore>,
        instance: &str,
        key: Key,
        now: DateTime<Utc>,
    ) -> Result<()> {
        // The listing may be seconds old: the schedule must still be on, and
        // fire as it is now.
        let def = store.get_definition(&key.0).await?;
        let current = def
            .as_ref()
            .and_then(|d| d.schedules.iter().find(|s| s.enabled && s.id == key.1));
        let Some(current) = current else {
            self.forget(&key);
            return Ok(());
        };
        let Some(entry) = self.entries.get(&key) else {
            self.queue.retain(|(_, k)| *k != key);
            return Ok(());
        };
        if entry.schedule != *current {
            let since = self.changed_since(entry);
            self.set(key.clone(), current.clone(), since);
        }
        let Some(entry) = self.entries.get_mut(&key) else {
            return Ok(());
        };
        let Some(timing) = &entry.timing else {
            return Ok(()); // invalid: `set` did not queue it
        };
        let due = timing.last_due_in(entry.since, now);
        let next = timing.next_after(now);
        if let Some(at) = entry.next {
            self.queue.remove(&(at, key.clone()));
        }
        if let Some(at) = next {
            self.queue.insert((at, key.clone()));
        }
        entry.since = now;
        entry.next = next;
        let Some(due) = due else { return Ok(()) };
        let (name, id) = (&key.0, &key.1);
        if store.claim_tick(&tick_key(name, id), due).await? {
            let mut vars = current.variables.clone();
            vars.insert("scheduled_at".into(), due.to_rfc3339().into());
            match control
                .start_run(name, vars, &format!("schedule:{id}@{instance}"))
                .await
            {
                Ok(run) => {
                    tracing::info!(definition = %name, schedule = %id, run_id = %run.id, due = %due, "scheduled run started")
                }
                Err(e) => {
                    tracing::warn!(definition = %name, schedule = %id, "scheduled run did not start: {e}")
                }
            }
        }
        Ok(())
    }
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
    fn cron_keeps_the_classic_rules_around_croner() {
        // `from/step` means from..=max, as it always did here.
        let c = Cron::parse("5/20 * * * *").unwrap();
        assert_eq!(
            c.next_after(t("2026-01-01T00:06:00Z"), chrono_tz::UTC),
            Some(t("2026-01-01T00:25:00Z"))
        );
        // Several fixed hours: the repeated 02:30 fires on the first pass only.
        let paris = chrono_tz::Europe::Paris;
        let two_hours = Cron::parse("30 2,3 * * *").unwrap();
        assert_eq!(
            two_hours.next_after(t("2026-10-25T00:30:00Z"), paris),
            Some(t("2026-10-25T02:30:00Z")),
            "03:30 CET follows the first 02:30, not the second"
        );
        // A time given with a fraction of a second: the next whole second.
        let every_second = Cron::parse("* * * * * *").unwrap();
        assert_eq!(
            every_second.next_after(t("2026-01-01T00:00:00.5Z"), chrono_tz::UTC),
            Some(t("2026-01-01T00:00:01Z"))
        );
    }

    #[test]
    fn cron_errors_name_the_expression_and_the_field() {
        for (bad, says) in [
            ("61 * * * *", "cron expression '61 * * * *': minute '61'"),
            ("0 0 * 13 *", "month '13'"),
            ("0 0 * * 9", "day of week '9'"),
            ("mon * * * *", "'mon' is not a minute"),
            ("0 0 * * jan", "'jan' is not a day of week"),
            ("0 0 * mon *", "'mon' is not a month"),
            ("@daily", "has 1 fields"),
            ("* * * * * * *", "has 7 fields"),
        ] {
            let e = Cron::parse(bad).map(|_| ()).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let s = Schedule::new(
            "s",
            When::Cron {
                expr: "0 25 * * *".into(),
                tz: "UTC".into(),
            },
        );
        let e = s.timing().unwrap_err().to_string();
        assert!(e.contains("schedule 's'") && e.contains("hour '25'"), "{e}");
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
