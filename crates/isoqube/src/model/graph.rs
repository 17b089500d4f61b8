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
    /// The event published for it.
    event: String,
    /// The names of the steps it waits for (absent: the step before it; `[]`: at the start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<Vec<String>>,
    /// The event that undoes it when the run fails after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    compensate: Option<String>,
    /// The longest one attempt may run, in seconds (more than 0, at most 10^9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0.0, maximum = 1e9))]
    timeout: Option<f64>,
    /// Its failure does not fail the run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    optional: bool,
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
        StepObject {
            name: self.name.clone(),
            event: self.event.clone(),
            after: self.after.clone(),
            compensate: self.compensate.clone(),
            timeout: self.timeout.map(|t| t.as_secs_f64()),
            optional: self.optional,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for StepDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let form = StepForm::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "a step is an event name or an object {name?, event, after?, compensate?, timeout?, optional?}",
            )
        })?;
        Ok(match form {
            StepForm::Event(event) => StepDef::new(event),
            StepForm::Object(o) => {
                let timeout = match o.timeout {
                    None => None,
                    Some(secs) if secs.is_finite() && secs > 0.0 && secs <= 1e9 => {
                        Some(Duration::from_secs_f64(secs))
                    }
                    Some(secs) => {
                        return Err(serde::de::Error::custom(format!(
                            "step '{}': timeout {secs} is not a positive number of seconds",
                            o.name.as_deref().unwrap_or(&o.event)
                        )))
                    }
                };
                StepDef {
                    name: o.name,
                    event: o.event,
                    after: o.after,
                    compensate: o.compensate,
                    timeout,
                    optional: o.optional,
                }
            }
        })
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
