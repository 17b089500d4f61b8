//! Model layer: the data of runs that start by themselves: a definition's
//! schedules (cron expression in a time zone, fixed interval, or one time) and
//! its webhook, their validation, and due-time arithmetic ([`Timing`], [`Cron`]).
//! Pure: it uses chrono, chrono-tz, `croner` (cron parsing and next-time search)
//! and the definition type, nothing that runs; the engine's `scheduler`
//! starts the runs.
//!
//! Due times are computed the same way everywhere (intervals are aligned to the
//! Unix epoch, cron to the wall clock of its zone), which is what lets several
//! schedulers agree on them.

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Definition, Variables};
// ============================================================== the data

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
        /// The period: 1 to [`MAX_INTERVAL_SECS`] (about 136 years). A whole
        /// number written with a fraction (`60.0`) is read as that number, as
        /// JSON Schema's `integer` says.
        #[serde(deserialize_with = "whole_secs")]
        #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 4_294_967_295_u64))]
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

/// The longest interval (`u32::MAX` seconds, about 136 years): longer ones are
/// refused rather than overflowing a time or a store's integer.
pub const MAX_INTERVAL_SECS: u64 = u32::MAX as u64;

/// A count of seconds: a non-negative integer, or a float with no fraction
/// (JSON Schema counts `60.0` as an integer; serde's `u64` does not).
fn whole_secs<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    struct Secs;
    impl serde::de::Visitor<'_> for Secs {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole, non-negative number of seconds")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<u64, E> {
            // Exact up to 2^53; validation then refuses what is above MAX_INTERVAL_SECS.
            if v.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&v) {
                Ok(v as u64)
            } else {
                Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
            }
        }
    }
    // `any`, not `u64`: inside the tagged `When` serde buffers the value, and
    // its buffer hands a float only to `deserialize_any`.
    d.deserialize_any(Secs)
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
    /// Unique within the definition: 1-100 letters, digits, `-`, `_`, `.`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9._-]{1,100}$"))]
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
    #[cfg_attr(feature = "openapi", schema(value_type = crate::model::VariablesSchema))]
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
        if let Some(name) = super::nul_in_variable_names(&s.variables) {
            return Err(Error::InvalidDefinition(format!(
                "schedule '{}' of '{}': variable name '{name}' holds a NUL character",
                s.id, def.name
            )));
        }
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
            When::Interval { every_secs } if !(1..=MAX_INTERVAL_SECS).contains(every_secs) => {
                return Err(format!(
                    "every_secs must be 1 to {MAX_INTERVAL_SECS} (about 136 years), not {every_secs}"
                ));
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

#[cfg(test)]
mod tests;
