//! The one-line forms the screens and the console print: a finished step or
//! undo, a stuck step, a waiting step, a log line, a definition's steps.

use chrono::{DateTime, Utc};
use isoqube::{model::LogRecord, model::StuckStep};

use super::times::{age, duration_text};

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

/// One definition step as people read it: `Build`, `jammy=Build`, `wait for
/// Approval (10m)` (the timeout as a definition file writes it), with where it sits in the graph when it is not simply
/// after the step before it.
///
/// ```
/// use isoqube::StepDef;
/// let s = StepDef::new("Build").named("jammy").after(["fetch"]).optional();
/// assert_eq!(controlcenter::text::step_text(&s), "jammy=Build (optional), after fetch");
/// assert_eq!(controlcenter::text::step_text(&StepDef::new("A").after(Vec::<String>::new())), "A, at the start");
/// let wait = |timeout, correlate: Option<&str>| StepDef::new("Approval").waiting(isoqube::model::WaitDef {
///     correlate: correlate.map(str::to_string), timeout,
/// });
/// let ten_minutes = Some(std::time::Duration::from_secs(600));
/// assert_eq!(controlcenter::text::step_text(&wait(ten_minutes, None)), "wait for Approval (10m)");
/// assert_eq!(controlcenter::text::step_text(&wait(None, Some("order_id"))), "wait for Approval (no deadline, by order_id)");
/// ```
pub fn step_text(s: &isoqube::StepDef) -> String {
    let mut text = s.to_string();
    if let Some(w) = &s.wait {
        let mut terms = vec![w
            .timeout
            .map_or_else(|| "no deadline".to_string(), isoqube::model::span_text)];
        if let Some(key) = &w.correlate {
            terms.push(format!("by {key}"));
        }
        text.push_str(&format!(" ({})", terms.join(", ")));
    }
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

/// What a waiting step waits for, and until when, at `now`:
/// `waits for Approval until 2026-12-08 14:00:00 UTC (in 47h59m)`, `...
/// (overdue 3.0s)` once its deadline has passed and its timer not fired
/// yet, or `waits for Approval, no deadline`; `None` for a step that does
/// not wait now.
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use isoqube::{model::WaitDef, Definition, Run, StepDef, StepStatus, Variables};
/// let wait = StepDef::new("Approval").waiting(WaitDef { correlate: None, timeout: None });
/// let mut run = Run::new(&Definition::new("d", [wait]), Variables::new(), "doc");
/// let now = Utc.with_ymd_and_hms(2026, 12, 6, 14, 0, 30).unwrap();
/// run.steps[0].status = StepStatus::Pending;
/// assert_eq!(controlcenter::text::wait_line(&run.steps[0], now), None);
/// run.steps[0].status = StepStatus::Waiting;
/// assert_eq!(controlcenter::text::wait_line(&run.steps[0], now).unwrap(), "waits for Approval, no deadline");
/// run.steps[0].wait.as_mut().unwrap().until = Some(now + Duration::hours(48) - Duration::seconds(30));
/// assert_eq!(
///     controlcenter::text::wait_line(&run.steps[0], now).unwrap(),
///     "waits for Approval until 2026-12-08 14:00:00 UTC (in 47h59m)",
/// );
/// ```
pub fn wait_line(s: &isoqube::model::Step, now: DateTime<Utc>) -> Option<String> {
    if s.status != isoqube::StepStatus::Waiting {
        return None;
    }
    let until = s.wait.as_ref().and_then(|w| w.until);
    Some(match until {
        None => format!("waits for {}, no deadline", s.event),
        Some(t) => {
            let left = if t >= now {
                format!("in {}", duration_text(t - now))
            } else {
                format!("overdue {}", duration_text(now - t))
            };
            format!(
                "waits for {} until {} ({left})",
                s.event,
                t.format("%Y-%m-%d %H:%M:%S UTC")
            )
        }
    })
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
