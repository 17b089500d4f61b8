//! Schedule specs (`nightly=cron:0 2 * * *@Europe/Paris`, `often=every:300`,
//! `once=at:TIME`) parsed, checked and printed back, and a definition's
//! schedules with their next due time.

use chrono::{DateTime, Utc};
use isoqube::schedule::{Missed, Schedule, When};
use isoqube::Definition;

use super::vars::{parse_flag_var, show_value};

/// Parses a schedule spec: `ID=every:SECONDS`, `ID=cron:EXPR[@TZ]` or
/// `ID=at:RFC3339`, optionally followed by `;missed=run-once|skip`,
/// `;enabled=false` and `;var=KEY=VALUE`. Errors name the spec as the CLI's
/// `--schedule` does.
///
/// ```
/// use isoqube::schedule::When;
/// let s = controlcenter::text::parse_schedule("nightly=cron:0 2 * * *@Europe/Paris;missed=run-once").unwrap();
/// assert_eq!(s.id, "nightly");
/// assert_eq!(s.when, When::Cron { expr: "0 2 * * *".into(), tz: "Europe/Paris".into() });
/// assert!(controlcenter::text::parse_schedule("x=every:soon").is_err());
/// ```
pub fn parse_schedule(spec: &str) -> Result<Schedule, String> {
    let mut parts = spec.split(';');
    let head = parts.next().unwrap_or_default();
    let (id, when) = head
        .split_once('=')
        .ok_or_else(|| format!("--schedule '{spec}' is not ID=KIND:VALUE"))?;
    let (kind, value) = when.split_once(':').ok_or_else(|| {
        format!("--schedule '{spec}': expected every:SECONDS, cron:EXPR[@TZ] or at:TIME")
    })?;
    let when = match kind.trim() {
        "every" => When::Interval {
            every_secs: value
                .trim()
                .trim_end_matches('s')
                .parse()
                .map_err(|_| format!("--schedule '{spec}': every takes whole seconds"))?,
        },
        "cron" => {
            let (expr, tz) = match value.rsplit_once('@') {
                Some((e, tz)) => (e.trim(), tz.trim()),
                None => (value.trim(), "UTC"),
            };
            When::Cron {
                expr: expr.to_string(),
                tz: tz.to_string(),
            }
        }
        "at" => When::Once {
            at: value
                .trim()
                .parse()
                .map_err(|e| format!("--schedule '{spec}': at takes an RFC 3339 time ({e})"))?,
        },
        other => {
            return Err(format!(
                "--schedule '{spec}': unknown kind '{other}' (every, cron or at)"
            ))
        }
    };
    let mut schedule = Schedule::new(id.trim(), when);
    for option in parts {
        match option.trim().split_once('=') {
            Some(("missed", "run-once")) => schedule.missed = Missed::RunOnce,
            Some(("missed", "skip")) => schedule.missed = Missed::Skip,
            Some(("enabled", v)) => schedule.enabled = v != "false",
            Some(("var", kv)) => {
                let (k, v) = parse_flag_var(kv)?;
                schedule.variables.insert(k, v);
            }
            _ => {
                return Err(format!(
                    "--schedule '{spec}': unknown option '{option}' (missed=skip|run-once, enabled=false, var=K=V)"
                ))
            }
        }
    }
    Ok(schedule)
}

/// The spec of a schedule: the inverse of [`parse_schedule`] (a variable whose
/// value holds `;` cannot be written back).
///
/// ```
/// use controlcenter::text::{parse_schedule, schedule_spec};
/// for spec in [
///     "nightly=cron:0 2 * * *@Europe/Paris;missed=run-once",
///     "often=every:300;enabled=false;var=env=prod;var=n=3",
///     "once=at:2026-12-01T10:00:00+00:00",
/// ] {
///     let s = parse_schedule(spec).unwrap();
///     assert_eq!(schedule_spec(&s), spec);
///     assert_eq!(parse_schedule(&schedule_spec(&s)).unwrap(), s);
/// }
/// ```
pub fn schedule_spec(s: &Schedule) -> String {
    let mut spec = match &s.when {
        When::Cron { expr, tz } => format!("{}=cron:{expr}@{tz}", s.id),
        When::Interval { every_secs } => format!("{}=every:{every_secs}", s.id),
        When::Once { at } => format!("{}=at:{}", s.id, at.to_rfc3339()),
    };
    if s.missed == Missed::RunOnce {
        spec.push_str(";missed=run-once");
    }
    if !s.enabled {
        spec.push_str(";enabled=false");
    }
    for (k, v) in &s.variables {
        spec.push_str(&format!(";var={k}={}", show_value(v)));
    }
    spec
}

/// Parses schedule specs, one per line (blank lines ignored), the syntax of
/// [`parse_schedule`]; each is checked the way the Operator will (cron
/// expression, time zone, period, unique ids). Errors name the line, not a flag.
///
/// ```
/// use controlcenter::text::parse_schedule_lines;
/// let s = parse_schedule_lines("often=every:300\n\nnightly=cron:0 2 * * *@Europe/Paris").unwrap();
/// assert_eq!(s.len(), 2);
/// assert!(parse_schedule_lines("a=every:60\nb=every:soon").unwrap_err().starts_with("schedules line 2:"));
/// assert!(parse_schedule_lines("a=cron:61 * * * *").unwrap_err().contains("line 1"));
/// assert!(parse_schedule_lines("a=every:60\na=every:30").unwrap_err().contains("twice"));
/// ```
pub fn parse_schedule_lines(text: &str) -> Result<Vec<Schedule>, String> {
    let mut out: Vec<Schedule> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |e: String| {
            let e = e
                .strip_prefix("--schedule ")
                .or_else(|| e.strip_prefix("--var "))
                .map(str::to_string)
                .unwrap_or(e);
            format!("schedules line {}: {e}", i + 1)
        };
        let s = parse_schedule(line.trim()).map_err(at)?;
        s.next_after(DateTime::UNIX_EPOCH).map_err(|e| {
            let e = e.to_string();
            at(e.strip_prefix("invalid definition: ")
                .unwrap_or(&e)
                .to_string())
        })?;
        if out.iter().any(|o| o.id == s.id) {
            return Err(at(format!("id '{}' is used twice", s.id)));
        }
        out.push(s);
    }
    Ok(out)
}

/// A definition's schedules with their next due time, one per line.
pub fn schedule_lines(def: &Definition, now: DateTime<Utc>) -> Vec<String> {
    def.schedules
        .iter()
        .map(|s| {
            let when = match &s.when {
                When::Cron { expr, tz } => format!("cron '{expr}' ({tz})"),
                When::Interval { every_secs } => format!("every {every_secs}s"),
                When::Once { at } => format!("once at {}", at.to_rfc3339()),
            };
            let next = match s.next_after(now) {
                Ok(Some(t)) if s.enabled => format!("next {}", t.format("%Y-%m-%d %H:%M:%S UTC")),
                Ok(Some(_)) => "disabled".to_string(),
                Ok(None) => "no more due times".to_string(),
                Err(e) => format!("invalid: {e}"),
            };
            let missed = match s.missed {
                Missed::Skip => "",
                Missed::RunOnce => ", missed: run once",
            };
            format!("schedule {}: {when}{missed}; {next}", s.id)
        })
        .collect()
}
