//! Model layer: a definition's steps as a graph. A step names its event and
//! the steps it runs after; this resolves those names to positions, checks
//! the graph (unknown names, duplicates, cycles, no start) and answers which
//! steps of a run are due. Uses the ground layer (errors) only.
//!
//! A step without `after` runs after the step before it, so a plain list of
//! event names (every definition saved before graphs) keeps its meaning:
//! a chain. `after: []` starts the step with the run.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

use super::hold::{parse_time_of_day, HoldDef};
use super::wait::{parse_span, span_text, WaitDef};

/// One step of a definition: its event, and where it sits in the graph.
///
/// In JSON (and TOML) a step is either an event name (`"Build"`: after the
/// step before it) or an object:
///
/// ```
/// use isoqube::StepDef;
/// let step: StepDef = serde_json::from_str(
///     r#"{"name": "jammy", "event": "Build", "after": ["fetch"], "timeout": 600, "optional": true}"#,
/// ).unwrap();
/// assert_eq!(step.name(), "jammy");
/// assert_eq!(step.after.as_deref(), Some(&["fetch".to_string()][..]));
/// let plain: StepDef = serde_json::from_str(r#""Build""#).unwrap();
/// assert_eq!(serde_json::to_string(&plain).unwrap(), r#""Build""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StepDef {
    /// The step's name, when the event alone does not name it (an event that
    /// appears twice); [`StepDef::name`] falls back to the event.
    pub name: Option<String>,
    /// The event published for it.
    pub event: String,
    /// The names of the steps it waits for. `None`: the step before it.
    pub after: Option<Vec<String>>,
    /// The event that undoes it: published, with the run's variables as they
    /// were when this step succeeded, when the run fails after it.
    pub compensate: Option<String>,
    /// The longest one attempt may run; past it the attempt fails.
    pub timeout: Option<Duration>,
    /// Its failure is recorded but does not fail the run; its dependants run.
    pub optional: bool,
    /// A wait step: it publishes nothing and waits for `event` (a signal);
    /// `timeout` is then unused, the wait's own is.
    pub wait: Option<WaitDef>,
    /// Its message is published a while after it is due (`delay`,
    /// `not_before`), not at once.
    pub hold: Option<HoldDef>,
}

/// The object form of a step, as read and written (public only for the
/// OpenAPI schema, [`StepDefSchema`]).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = StepObject))]
#[doc(hidden)]
pub struct StepObject {
    /// The step's name, when the event alone does not name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// The event published for it (absent for a wait step, which names its event in `wait_for`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event: Option<String>,
    /// A wait step: the event it waits for (a signal) instead of publishing one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wait_for: Option<String>,
    /// For a wait step: the run variable a signal without the run's id is
    /// matched by (the event's field of that name, or its camelCase form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlate: Option<String>,
    /// The names of the steps it waits for (absent: the step before it; `[]`: at the start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<Vec<String>>,
    /// The event that undoes it when the run fails after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    compensate: Option<String>,
    /// The longest one attempt may run: seconds (more than 0, at most 10^9)
    /// or a duration (`"10m"`, `"48h"`); for a wait step, how long it waits
    /// once due (required; `"never"` for no deadline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout: Option<TimeoutForm>,
    /// Its failure does not fail the run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    optional: bool,
    /// Its message is published this long after it is due: seconds, or a
    /// duration (`"10m"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delay: Option<TimeoutForm>,
    /// Its message is published at the next time of day (`"02:00"`, or
    /// `"02:00 Europe/Berlin"`; UTC without a zone), after any delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    not_before: Option<String>,
}

/// The OpenAPI schema of a [`StepDef`]: an event name, or a step object.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema, Serialize)]
#[schema(as = StepDef)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum StepDefSchema {
    /// An event name: the step runs after the one before it. (Not named
    /// `Event`: a second item of that name makes rustc spell the `Event`
    /// trait in full in every error, which the compile-fail tests pin.)
    EventName(String),
    /// A step object.
    Object(StepObject),
}

/// A timeout as written: seconds, or a duration's text.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[doc(hidden)]
pub enum TimeoutForm {
    /// Seconds.
    Seconds(f64),
    /// `"10m"`, `"48h"`, `"1h30m"`, or `"never"` (a wait step only).
    Text(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StepForm {
    Event(String),
    Object(StepObject),
}

impl StepDef {
    /// A step for `event`, after the step before it.
    pub fn new(event: impl Into<String>) -> Self {
        StepDef {
            event: event.into(),
            ..Default::default()
        }
    }

    /// The same step, named.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The same step, after the named steps (`[]`: at the start).
    pub fn after<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.after = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// The same step, undone by `event` when the run fails after it.
    pub fn compensate(mut self, event: impl Into<String>) -> Self {
        self.compensate = Some(event.into());
        self
    }

    /// The same step, optional.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// The same step with a timeout per attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The same step as a wait: it waits for its event instead of publishing it.
    pub fn waiting(mut self, wait: WaitDef) -> Self {
        self.wait = Some(wait);
        self
    }

    /// The same step, published `delay` after it is due.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.hold.get_or_insert_with(HoldDef::default).delay = Some(delay);
        self
    }

    /// The same step, published at the next `time` of day once due
    /// (`"02:00"`, `"02:00 Europe/Berlin"`).
    pub fn not_before(mut self, time: impl Into<String>) -> Self {
        self.hold.get_or_insert_with(HoldDef::default).not_before = Some(time.into());
        self
    }

    /// The name other steps' `after` use: its name, else its event.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.event)
    }

    /// Only an event: written as a plain name.
    fn is_plain(&self) -> bool {
        self.name.is_none()
            && self.after.is_none()
            && self.compensate.is_none()
            && self.timeout.is_none()
            && !self.optional
            && self.wait.is_none()
            && self.hold.is_none()
    }
}

impl From<&str> for StepDef {
    fn from(event: &str) -> Self {
        StepDef::new(event)
    }
}

impl From<String> for StepDef {
    fn from(event: String) -> Self {
        StepDef::new(event)
    }
}

/// A plain step (only an event, after the step before it) equals its event's name.
impl PartialEq<&str> for StepDef {
    fn eq(&self, event: &&str) -> bool {
        self.is_plain() && self.event == *event
    }
}

impl fmt::Display for StepDef {
    /// `Build`, or `jammy=Build` when named; `(optional)` when it is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wait.is_some() {
            f.write_str("wait for ")?;
        }
        match &self.name {
            Some(name) if *name != self.event => write!(f, "{name}={}", self.event)?,
            _ => f.write_str(&self.event)?,
        }
        if self.optional {
            f.write_str(" (optional)")?;
        }
        Ok(())
    }
}

impl Serialize for StepDef {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if self.is_plain() {
            return s.serialize_str(&self.event);
        }
        let (event, wait_for, timeout) = match &self.wait {
            None => (
                Some(self.event.clone()),
                None,
                self.timeout.map(|t| TimeoutForm::Seconds(t.as_secs_f64())),
            ),
            Some(wait) => (
                None,
                Some(self.event.clone()),
                Some(TimeoutForm::Text(
                    wait.timeout.map_or_else(|| "never".to_string(), span_text),
                )),
            ),
        };
        StepObject {
            name: self.name.clone(),
            event,
            wait_for,
            correlate: self.wait.as_ref().and_then(|w| w.correlate.clone()),
            after: self.after.clone(),
            compensate: self.compensate.clone(),
            timeout,
            optional: self.optional,
            delay: self
                .hold
                .as_ref()
                .and_then(|h| h.delay)
                .map(|d| TimeoutForm::Text(span_text(d))),
            not_before: self.hold.as_ref().and_then(|h| h.not_before.clone()),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for StepDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let form = StepForm::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "a step is an event name or an object {name?, event | wait_for, after?, compensate?, timeout?, optional?, correlate?}",
            )
        })?;
        match form {
            StepForm::Event(event) => Ok(StepDef::new(event)),
            StepForm::Object(o) => o.into_step().map_err(serde::de::Error::custom),
        }
    }
}

impl StepObject {
    /// The step it describes, or why it describes none.
    fn into_step(self) -> std::result::Result<StepDef, String> {
        let label = self
            .name
            .clone()
            .or_else(|| self.event.clone())
            .or_else(|| self.wait_for.clone())
            .unwrap_or_default();
        let hold = self.hold(&label)?;
        let timeout = match self.timeout {
            None => None,
            Some(TimeoutForm::Seconds(secs)) if secs.is_finite() && secs > 0.0 && secs <= 1e9 => {
                Some(Some(Duration::from_secs_f64(secs)))
            }
            Some(TimeoutForm::Seconds(secs)) => {
                return Err(format!(
                    "step '{label}': timeout {secs} is not a positive number of seconds"
                ))
            }
            Some(TimeoutForm::Text(t)) if t.trim() == "never" => Some(None),
            Some(TimeoutForm::Text(t)) => match parse_span(&t) {
                Ok(d) if !d.is_zero() => Some(Some(d)),
                _ => {
                    return Err(format!(
                        "step '{label}': timeout '{t}' is not a duration (\"90s\", \"10m\", \"48h\") or \"never\""
                    ))
                }
            },
        };
        let (event, wait) = match (self.event, self.wait_for) {
            (Some(event), None) => {
                if self.correlate.is_some() {
                    return Err(format!("step '{label}': correlate is for a wait step (wait_for)"));
                }
                let Some(timeout) = timeout.map_or(Some(None), |t| t.map(Some)) else {
                    return Err(format!("step '{label}': timeout \"never\" is for a wait step (wait_for)"));
                };
                return Ok(StepDef {
                    name: self.name,
                    event,
                    after: self.after,
                    compensate: self.compensate,
                    timeout,
                    optional: self.optional,
                    wait: None,
                    hold,
                });
            }
            (None, Some(event)) => {
                if hold.is_some() {
                    return Err(format!(
                        "wait step '{label}' cannot have delay or not_before: it waits for its event"
                    ));
                }
                let Some(timeout) = timeout else {
                    return Err(format!(
                        "wait step '{label}' needs a timeout (such as \"48h\", or \"never\")"
                    ));
                };
                let correlate = self.correlate.filter(|c| !c.trim().is_empty());
                (event, WaitDef { correlate, timeout })
            }
            (Some(_), Some(_)) => {
                return Err(format!(
                    "step '{label}' has both event and wait_for: a step publishes an event or waits for one"
                ))
            }
            (None, None) => return Err(format!("step '{label}' names no event (event or wait_for)")),
        };
        Ok(StepDef {
            name: self.name,
            event,
            after: self.after,
            compensate: self.compensate,
            timeout: None,
            optional: self.optional,
            wait: Some(wait),
            hold: None,
        })
    }

    /// The hold `delay` and `not_before` describe, if any.
    fn hold(&self, label: &str) -> std::result::Result<Option<HoldDef>, String> {
        let delay = match &self.delay {
            None => None,
            Some(TimeoutForm::Seconds(secs)) if secs.is_finite() && *secs > 0.0 && *secs <= 1e9 => {
                Some(Duration::from_secs_f64(*secs))
            }
            Some(TimeoutForm::Text(t)) => match parse_span(t) {
                Ok(d) if !d.is_zero() => Some(d),
                _ => {
                    return Err(format!(
                        "step '{label}': delay '{t}' is not a duration (\"90s\", \"10m\")"
                    ))
                }
            },
            Some(TimeoutForm::Seconds(secs)) => {
                return Err(format!(
                    "step '{label}': delay {secs} is not a positive number of seconds"
                ))
            }
        };
        if let Some(at) = &self.not_before {
            parse_time_of_day(at).map_err(|e| format!("step '{label}': {e}"))?;
        }
        Ok(
            (delay.is_some() || self.not_before.is_some()).then(|| HoldDef {
                delay,
                not_before: self.not_before.clone(),
            }),
        )
    }
}

/// The steps each step waits for, by position: `after` resolved.
///
/// ```
/// use isoqube::{model::resolve_graph, StepDef};
/// let steps = [
///     StepDef::new("Fetch"),
///     StepDef::new("Build").named("a").after(["Fetch"]),
///     StepDef::new("Build").named("b").after(["Fetch"]),
///     StepDef::new("Ship").after(["a", "b"]),
/// ];
/// assert_eq!(resolve_graph(&steps).unwrap(), vec![vec![], vec![0], vec![0], vec![1, 2]]);
/// ```
pub fn resolve_graph(steps: &[StepDef]) -> Result<Vec<Vec<usize>>> {
    // A plain list may repeat an event (a chain needs no names); a name
    // given twice, or a repeated one that an `after` uses, is refused.
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        let same = by_name.entry(step.name()).or_default();
        if let (Some(&first), Some(_)) = (same.first(), &step.name) {
            return Err(Error::InvalidDefinition(format!(
                "steps {} and {} are both named '{}': names must be unique",
                first + 1,
                i + 1,
                step.name()
            )));
        }
        same.push(i);
    }
    let mut deps = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let mut these = Vec::new();
        match &step.after {
            None => these.extend(i.checked_sub(1)),
            Some(names) => {
                for name in names {
                    let j = match by_name.get(name.as_str()).map(Vec::as_slice) {
                        Some(&[j]) => j,
                        Some(several) => {
                            let at: Vec<String> =
                                several.iter().map(|k| (k + 1).to_string()).collect();
                            return Err(Error::InvalidDefinition(format!(
                                "step {} ({}) runs after '{name}', which names steps {}: give them names",
                                i + 1,
                                step.name(),
                                at.join(" and ")
                            )));
                        }
                        None => {
                            return Err(Error::InvalidDefinition(format!(
                            "step {} ({}) runs after '{name}', which is no step of the definition",
                            i + 1,
                            step.name()
                        )))
                        }
                    };
                    if j == i {
                        return Err(Error::InvalidDefinition(format!(
                            "step {} ({}) runs after itself",
                            i + 1,
                            step.name()
                        )));
                    }
                    if !these.contains(&j) {
                        these.push(j);
                    }
                }
            }
        }
        deps.push(these);
    }
    // The cycle first: steps that all wait for one another also leave no
    // step to start, and the cycle is what the author must break.
    if let Some(cycle) = find_cycle(&deps) {
        let names: Vec<&str> = cycle.iter().map(|&i| steps[i].name()).collect();
        return Err(Error::InvalidDefinition(format!(
            "the steps form a cycle: {}",
            names.join(" -> ")
        )));
    }
    if !deps.iter().any(Vec::is_empty) {
        return Err(Error::InvalidDefinition(
            "no step can start: every step runs after another (give one \"after\": [])".into(),
        ));
    }
    Ok(deps)
}

/// A cycle of the graph, as the positions along it (first repeated at the end).
fn find_cycle(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    // 0 unvisited, 1 on the current path, 2 done.
    let mut state = vec![0u8; deps.len()];
    let mut path = Vec::new();
    fn visit(i: usize, deps: &[Vec<usize>], state: &mut [u8], path: &mut Vec<usize>) -> bool {
        state[i] = 1;
        path.push(i);
        for &j in &deps[i] {
            if state[j] == 1 {
                let from = path.iter().position(|&p| p == j).unwrap_or(0);
                path.drain(..from);
                // In the order the steps run (each waits for the one before
                // it), from the cycle's first step in the definition.
                path.reverse();
                if let Some(low) = path
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, &p)| p)
                    .map(|(k, _)| k)
                {
                    path.rotate_left(low);
                }
                path.push(path[0]);
                return true;
            }
            if state[j] == 0 && visit(j, deps, state, path) {
                return true;
            }
        }
        state[i] = 2;
        path.pop();
        false
    }
    (0..deps.len()).find_map(|i| {
        (state[i] == 0 && visit(i, deps, &mut state, &mut path)).then(|| path.clone())
    })
}

impl super::Run {
    /// The run's steps as definition steps (for a re-run whose definition
    /// was deleted): the same events, names, order and graph.
    pub fn step_defs(&self) -> Vec<StepDef> {
        self.steps
            .iter()
            .map(|s| StepDef {
                name: s.name.clone(),
                event: s.event.clone(),
                after: s.after.as_ref().map(|after| {
                    after
                        .iter()
                        .filter_map(|&i| self.steps.get(i))
                        .map(|d| d.name().to_string())
                        .collect()
                }),
                compensate: s.compensation.as_ref().map(|c| c.event.clone()),
                timeout: s.timeout_ms.map(Duration::from_millis),
                optional: s.optional,
                wait: s.wait.as_ref().map(|w| WaitDef {
                    correlate: w.correlate.clone(),
                    timeout: w.timeout_ms.map(Duration::from_millis),
                }),
                hold: s.hold.as_ref().map(|h| HoldDef {
                    delay: h.delay_ms.map(Duration::from_millis),
                    not_before: h.not_before.clone(),
                }),
            })
            .collect()
    }
}

/// Checks each step's events against the registered ones, then the graph.
pub(super) fn validate_steps(
    def_name: &str,
    steps: &[StepDef],
    known_events: &BTreeSet<String>,
) -> Result<()> {
    for (i, step) in steps.iter().enumerate() {
        let label = match &step.name {
            Some(name) => format!("step {} ({name})", i + 1),
            None => format!("step {}", i + 1),
        };
        if step.event.trim().is_empty() {
            return Err(Error::InvalidDefinition(format!(
                "{label} of '{def_name}' names no event"
            )));
        }
        if step.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(Error::InvalidDefinition(format!(
                "{label} of '{def_name}' has an empty name"
            )));
        }
        let unknown = |event: &str, what: &str| {
            let hint = closest(event, known_events)
                .map(|c| format!(" (did you mean '{c}'?)"))
                .unwrap_or_default();
            Error::InvalidDefinition(format!(
                "{label} of '{def_name}' names unknown {what}'{event}'{hint}"
            ))
        };
        if !known_events.contains(&step.event) {
            return Err(unknown(&step.event, "event "));
        }
        if let Some(undo) = &step.compensate {
            if !known_events.contains(undo) {
                return Err(unknown(undo, "compensation event "));
            }
        }
        if let Some(at) = step.hold.as_ref().and_then(|h| h.not_before.as_deref()) {
            parse_time_of_day(at)
                .map_err(|e| Error::InvalidDefinition(format!("{label} of '{def_name}': {e}")))?;
        }
        if step.wait.is_some() && step.hold.is_some() {
            return Err(Error::InvalidDefinition(format!(
                "{label} of '{def_name}' waits for its event: it cannot have delay or not_before"
            )));
        }
    }
    resolve_graph(steps).map_err(|e| match e {
        Error::InvalidDefinition(msg) => {
            Error::InvalidDefinition(format!("definition '{def_name}': {msg}"))
        }
        other => other,
    })?;
    Ok(())
}

/// The registered name `needle` most likely meant (same letters in another
/// case, or a name containing it), for "did you mean".
fn closest<'a>(needle: &str, known: &'a BTreeSet<String>) -> Option<&'a String> {
    let lower = needle.to_ascii_lowercase();
    known
        .iter()
        .find(|k| k.to_ascii_lowercase() == lower)
        .or_else(|| {
            known
                .iter()
                .find(|k| k.to_ascii_lowercase().contains(&lower) && !lower.is_empty())
        })
}

#[cfg(test)]
mod tests;
