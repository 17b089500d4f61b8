//! The operator's text formats, shared by the CLI and the terminal UI (and the
//! sample build server's `--var`): `KEY=VALUE` variables, schedule specs
//! (`nightly=cron:0 2 * * *@Europe/Paris`, `often=every:300`, `once=at:TIME`)
//! parsed and printed back, and the short forms screens show (ages, log lines,
//! stuck steps).
//!
//! It may use only `isoqube`'s model types, `serde_json` and `chrono`: no store,
//! no transport, no terminal, so each surface can phrase its own errors around
//! these parsers.

use std::fmt;

use chrono::{DateTime, Utc};
use isoqube::schedule::{Missed, Schedule, When};
use isoqube::{model::LogRecord, model::StuckStep, Definition, Variables};
use serde_json::Value;

/// Why a `KEY=VALUE` was refused; each surface words it around what it was
/// given (see [`VarError::describe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarError {
    /// There is no `=`.
    NotKeyValue,
    /// Nothing (or only blanks) before the `=`.
    EmptyKey,
}

impl VarError {
    /// `'{what}' is not KEY=VALUE` or `'{what}' has an empty key`, with `what`
    /// as the caller quotes it.
    pub fn describe(self, what: &str) -> String {
        match self {
            VarError::NotKeyValue => format!("{what} is not KEY=VALUE"),
            VarError::EmptyKey => format!("{what} has an empty key"),
        }
    }
}

impl fmt::Display for VarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VarError::NotKeyValue => "not KEY=VALUE",
            VarError::EmptyKey => "empty key",
        })
    }
}

impl std::error::Error for VarError {}

/// Splits `KEY=VALUE` at the first `=`: the key trimmed (and not empty), the
/// value exactly as given (a value may hold `=`).
///
/// ```
/// use controlcenter::text::{split_var, VarError};
/// assert_eq!(split_var(" env =a=b"), Ok(("env", "a=b")));
/// assert_eq!(split_var("novalue"), Err(VarError::NotKeyValue));
/// assert_eq!(split_var(" =3"), Err(VarError::EmptyKey));
/// ```
pub fn split_var(s: &str) -> Result<(&str, &str), VarError> {
    let (key, value) = s.split_once('=').ok_or(VarError::NotKeyValue)?;
    let key = key.trim();
    if key.is_empty() {
        return Err(VarError::EmptyKey);
    }
    Ok((key, value))
}

/// A variable's value as typed: JSON when it parses as JSON, the text itself
/// otherwise (so `3` is a number, `[1,2]` a list and `prod` a string).
///
/// ```
/// use controlcenter::text::var_value;
/// assert_eq!(var_value("3"), serde_json::json!(3));
/// assert_eq!(var_value("prod"), serde_json::json!("prod"));
/// ```
pub fn var_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// Parses `KEY=VALUE` ([`split_var`], then [`var_value`] on the value as given).
///
/// ```
/// let (k, v) = controlcenter::text::parse_var("retries=3").unwrap();
/// assert_eq!((k.as_str(), v), ("retries", serde_json::json!(3)));
/// assert!(controlcenter::text::parse_var("=3").is_err());
/// ```
pub fn parse_var(s: &str) -> Result<(String, Value), VarError> {
    let (key, value) = split_var(s)?;
    Ok((key.to_string(), var_value(value)))
}

/// `--var`'s parser: [`parse_var`] with the message the CLI prints.
///
/// ```
/// let e = controlcenter::text::parse_flag_var("oops").unwrap_err();
/// assert_eq!(e, "--var 'oops' is not KEY=VALUE");
/// ```
pub fn parse_flag_var(s: &str) -> Result<(String, Value), String> {
    parse_var(s).map_err(|e| e.describe(&format!("--var '{s}'")))
}

/// Parses one typed `KEY=VALUE` (the TUI's form and prompt): like
/// [`parse_var`], but the value is trimmed first.
///
/// ```
/// use controlcenter::text::parse_assignment;
/// assert_eq!(parse_assignment("n=3").unwrap().1, serde_json::json!(3));
/// assert_eq!(parse_assignment("env = prod").unwrap().1, serde_json::json!("prod"));
/// assert!(parse_assignment("=x").is_err());
/// ```
pub fn parse_assignment(s: &str) -> Result<(String, Value), String> {
    let (key, value) = split_var(s).map_err(|e| e.describe(&format!("'{}'", s.trim())))?;
    Ok((key.to_string(), var_value(value.trim())))
}

/// A variable value as the operator types it back: strings bare unless they
/// would read as another JSON value (the inverse of [`var_value`]).
///
/// ```
/// use controlcenter::text::show_value;
/// assert_eq!(show_value(&serde_json::json!("prod")), "prod");
/// assert_eq!(show_value(&serde_json::json!("3")), "\"3\"");
/// assert_eq!(show_value(&serde_json::json!(3)), "3");
/// ```
pub fn show_value(v: &Value) -> String {
    match v {
        Value::String(s) if serde_json::from_str::<Value>(s).is_err() => s.clone(),
        other => other.to_string(),
    }
}

/// Parses `KEY=VALUE` lines (blank lines ignored) into variables.
///
/// ```
/// use controlcenter::text::parse_lines;
/// let vars = parse_lines("a=1\n\nb=two").unwrap();
/// assert_eq!(vars.len(), 2);
/// assert!(parse_lines("a=1\nnope").unwrap_err().contains("line 2"));
/// ```
pub fn parse_lines(text: &str) -> Result<Variables, String> {
    let mut out = Variables::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (k, v) =
            parse_assignment(line).map_err(|e| format!("variables line {}: {e}", i + 1))?;
        out.insert(k, v);
    }
    Ok(out)
}

/// Parses `KEY=VALUE,KEY=VALUE` (a piece without `=` continues the previous
/// value, so `tags=[1,2]` works).
///
/// ```
/// use controlcenter::text::parse_list;
/// let vars = parse_list("a=1, tags=[1,2] ,b=x").unwrap();
/// assert_eq!(vars["tags"], serde_json::json!([1, 2]));
/// assert!(parse_list("").unwrap().is_empty());
/// assert!(parse_list("oops").is_err());
/// ```
pub fn parse_list(text: &str) -> Result<Variables, String> {
    let mut pieces: Vec<String> = Vec::new();
    for piece in text.split(',') {
        match pieces.last_mut() {
            Some(last) if !piece.contains('=') => {
                last.push(',');
                last.push_str(piece);
            }
            _ => pieces.push(piece.to_string()),
        }
    }
    let mut out = Variables::new();
    for piece in pieces {
        if piece.trim().is_empty() {
            continue;
        }
        let (k, v) = parse_assignment(&piece)?;
        out.insert(k, v);
    }
    Ok(out)
}

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

/// A run's or step's duration, precise where it is short: `850ms`,
/// `4.2s`, `3m05s`, `2h10m`.
///
/// ```
/// use chrono::Duration;
/// use controlcenter::text::duration_text;
/// assert_eq!(duration_text(Duration::milliseconds(850)), "850ms");
/// assert_eq!(duration_text(Duration::milliseconds(4230)), "4.2s");
/// assert_eq!(duration_text(Duration::seconds(185)), "3m05s");
/// assert_eq!(duration_text(Duration::seconds(7800)), "2h10m");
/// ```
pub fn duration_text(d: chrono::Duration) -> String {
    let ms = d.num_milliseconds().max(0);
    let s = ms / 1000;
    match ms {
        0..=999 => format!("{ms}ms"),
        1000..=59_999 => format!("{}.{}s", s, (ms % 1000) / 100),
        60_000..=3_599_999 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A finished step in one line (as `runs start --wait` prints them): its
/// number from 1, its place in the graph when it has one, its name, status,
/// duration and, when it did not succeed, its last error.
///
/// ```
/// use isoqube::{Definition, Run, StepStatus, Variables};
/// let mut run = Run::new(&Definition::new("d", ["Build"]), Variables::new(), "doc");
/// let t = chrono::Utc::now();
/// let s = &mut run.steps[0];
/// (s.status, s.invoked_at, s.completed_at) = (StepStatus::Succeeded, Some(t), Some(t + chrono::Duration::milliseconds(1500)));
/// assert_eq!(controlcenter::text::finished_step_line(s), "step  1 Build                            Succeeded    1.5s");
/// ```
pub fn finished_step_line(s: &isoqube::model::Step) -> String {
    let took = s.duration().map_or_else(|| "-".to_string(), duration_text);
    let place = s.place().map(|p| format!("  ({p})")).unwrap_or_default();
    let error = match (&s.last_error, s.status) {
        (Some(e), st) if st != isoqube::StepStatus::Succeeded => format!("  {e}"),
        _ => String::new(),
    };
    format!(
        "step {:>2} {:<32} {:<9} {:>7}{place}{error}",
        s.index + 1,
        s.name(),
        s.status.as_str(),
        took
    )
}

/// A point in time as an operator types it: RFC 3339
/// (`2026-01-31T12:00:00Z`) or a day (`2026-01-31`, its start in UTC).
///
/// ```
/// let t = controlcenter::text::parse_time("2026-01-31").unwrap();
/// assert_eq!(t.to_rfc3339(), "2026-01-31T00:00:00+00:00");
/// assert!(controlcenter::text::parse_time("2026-01-31T12:00:00+02:00").is_ok());
/// assert!(controlcenter::text::parse_time("last week").is_err());
/// ```
pub fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            format!("'{s}' is not a date (2026-01-31) nor a time (2026-01-31T12:00:00Z)")
        })
}

/// A finished undo (a step's compensation) as `runs start --wait` and
/// `runs watch` print it: the step's number, the undo's event, status,
/// duration, the step it undoes and its error when it did not succeed.
///
/// ```
/// use isoqube::{Definition, Run, StepDef, StepStatus, Variables};
/// let def = Definition::new("d", [StepDef::new("Build").compensate("Clean")]);
/// let mut run = Run::new(&def, Variables::new(), "doc");
/// let t = chrono::Utc::now();
/// let c = run.steps[0].compensation.as_mut().unwrap();
/// (c.status, c.invoked_at, c.completed_at) = (StepStatus::Succeeded, Some(t), Some(t + chrono::Duration::milliseconds(200)));
/// let (s, c) = (&run.steps[0], run.steps[0].compensation.as_ref().unwrap());
/// assert_eq!(controlcenter::text::finished_undo_line(s, c), "undo  1 Clean                            Succeeded   200ms  (undoes Build)");
/// ```
pub fn finished_undo_line(s: &isoqube::model::Step, c: &isoqube::model::Compensation) -> String {
    let took = c.duration().map_or_else(|| "-".to_string(), duration_text);
    let error = match (&c.last_error, c.status) {
        (Some(e), st) if st != isoqube::StepStatus::Succeeded => format!("  {e}"),
        _ => String::new(),
    };
    format!(
        "undo {:>2} {:<32} {:<9} {:>7}  (undoes {}){error}",
        s.index + 1,
        c.event,
        c.status.as_str(),
        took,
        s.name()
    )
}

/// A duration as a short age: `42s`, `5m`, `3h`, `2d`.
///
/// ```
/// assert_eq!(controlcenter::age(chrono::Duration::seconds(90)), "1m");
/// assert_eq!(controlcenter::age(chrono::Duration::seconds(-5)), "0s");
/// ```
pub fn age(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// What a stuck step is, in one line: the step (numbered from 1), its
/// handler, how long there was no sign of life, and why.
///
/// ```
/// use chrono::{Duration, Utc};
/// use isoqube::{model::StuckReason, model::StuckStep};
/// let now = Utc::now();
/// let step = StuckStep {
///     run_id: uuid::Uuid::nil(), step: 1, event: "Build".into(),
///     endpoint: Some("build".into()), instance: Some("pool@h:7:ab".into()),
///     since: now - Duration::minutes(12), reason: StuckReason::HandlerGone,
/// };
/// assert_eq!(
///     controlcenter::text::stuck_line(&step, now),
///     format!("step 2 (Build) stuck: build on pool@h:7:ab, no sign of life for 12m \
///              (since {}): handler's service instance is gone",
///             step.since.format("%Y-%m-%d %H:%M:%S UTC")),
/// );
/// ```
pub fn stuck_line(s: &StuckStep, now: DateTime<Utc>) -> String {
    let handler = match (&s.endpoint, &s.instance) {
        (Some(ep), Some(inst)) => format!("{ep} on {inst}"),
        (Some(ep), None) => ep.clone(),
        (None, Some(inst)) => inst.clone(),
        (None, None) => "no handler".into(),
    };
    format!(
        "step {} ({}) stuck: {handler}, no sign of life for {} (since {}): {}",
        s.step + 1,
        s.event,
        age(now - s.since),
        s.since.format("%Y-%m-%d %H:%M:%S UTC"),
        s.reason.as_str()
    )
}

/// A stored log line as the console shows it.
///
/// ```
/// let line = isoqube::model::LogRecord {
///     run_id: uuid::Uuid::nil(), step: Some(2), event: Some("Build".into()),
///     level: "INFO".into(), message: "built".into(), service: "pool".into(),
///     host: "h".into(), timestamp: chrono::DateTime::UNIX_EPOCH,
/// };
/// assert!(controlcenter::log_line(&line).ends_with("INFO  [3 Build] built"));
/// ```
pub fn log_line(l: &LogRecord) -> String {
    let place = match (l.step, &l.event) {
        (Some(i), Some(e)) => format!("[{} {e}] ", i + 1),
        (Some(i), None) => format!("[{}] ", i + 1),
        _ => String::new(),
    };
    format!(
        "{} {:<5} {place}{}",
        l.timestamp.format("%H:%M:%S%.3f"),
        l.level,
        l.message
    )
}

/// The first 8 characters of a run id, as lists and messages show it.
///
/// ```
/// let id = uuid::Uuid::parse_str("0192f0c4-5d3e-7a10-9b2c-3d4e5f607182").unwrap();
/// assert_eq!(controlcenter::text::short_id(&id), "0192f0c4");
/// ```
pub fn short_id(id: &uuid::Uuid) -> String {
    let mut s = id.simple().to_string();
    s.truncate(8);
    s
}

/// One definition step as people read it: `Build`, `jammy=Build`, with where
/// it sits in the graph when it is not simply after the step before it.
///
/// ```
/// use isoqube::StepDef;
/// let s = StepDef::new("Build").named("jammy").after(["fetch"]).optional();
/// assert_eq!(controlcenter::text::step_text(&s), "jammy=Build (optional), after fetch");
/// assert_eq!(controlcenter::text::step_text(&StepDef::new("A").after(Vec::<String>::new())), "A, at the start");
/// ```
pub fn step_text(s: &isoqube::StepDef) -> String {
    let mut text = s.to_string();
    match &s.after {
        Some(after) if after.is_empty() => text.push_str(", at the start"),
        Some(after) => {
            text.push_str(", after ");
            text.push_str(&after.join(", "));
        }
        None => {}
    }
    if let Some(t) = s.timeout {
        text.push_str(&format!(", timeout {}s", t.as_secs_f64()));
    }
    text
}

/// A definition's steps on one line: `A → B → C` for a chain, the steps
/// with their `after` (separated by `; `) for a graph.
///
/// ```
/// use isoqube::StepDef;
/// assert_eq!(controlcenter::text::steps_line(&["A".into(), "B".into()]), "A → B");
/// let graph = [StepDef::new("A"), StepDef::new("B").after(Vec::<String>::new())];
/// assert_eq!(controlcenter::text::steps_line(&graph), "A; B, at the start");
/// ```
pub fn steps_line(steps: &[isoqube::StepDef]) -> String {
    let chain = steps.iter().all(|s| s.after.is_none());
    let texts: Vec<String> = steps.iter().map(step_text).collect();
    texts.join(if chain { " → " } else { "; " })
}

/// A run id as typed, whole or its start (`e65a9fbc`, as lists show it, or
/// longer, with or without hyphens), as the start of a hyphenated lower-case
/// id; `None` when no run id could start so.
///
/// ```
/// use controlcenter::text::run_id_prefix;
/// assert_eq!(run_id_prefix(" E65A9FBC ").as_deref(), Some("e65a9fbc"));
/// assert_eq!(run_id_prefix("e65a9fbc5d3e7a").as_deref(), Some("e65a9fbc-5d3e-7a"));
/// assert_eq!(run_id_prefix("e65a9fbc-5d3e-7a").as_deref(), Some("e65a9fbc-5d3e-7a"));
/// assert_eq!(run_id_prefix("not-hex"), None);
/// assert_eq!(run_id_prefix(""), None);
/// ```
pub fn run_id_prefix(text: &str) -> Option<String> {
    let hex: String = text.trim().chars().filter(|c| *c != '-').collect();
    if hex.is_empty() || hex.len() > 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = String::with_capacity(36);
    for (i, c) in hex.chars().enumerate() {
        if matches!(i, 8 | 12 | 16 | 20) {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    Some(out)
}
