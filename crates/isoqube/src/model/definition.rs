//! Model layer: run definitions (named graphs of steps, see [`super::graph`])
//! and their validation. Uses the ground layer and schedule data.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use super::*;

/// A saved, named graph of steps (the original called it a configuration).
///
/// ```
/// use isoqube::Definition;
/// let def = Definition::new("release", ["Build", "Deploy"]).with_description("ship it");
/// assert_eq!(def.steps.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "A saved, named graph of steps.")
)]
pub struct Definition {
    /// Unique name.
    pub name: String,
    /// What the flow is for.
    #[serde(default)]
    pub description: String,
    /// The steps: event names (each after the one before it) or step objects
    /// (see [`StepDef`]) with `after`, `name`, `compensate`, `timeout`, `optional`.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<super::graph::StepDefSchema>))]
    pub steps: Vec<StepDef>,
    /// Variables every run starts with (run parameters override them).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub variables: Variables,
    /// Lets `POST /hooks/{id}` start runs (the HTTP API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<super::schedule::Webhook>,
    /// When runs start by themselves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<super::schedule::Schedule>,
    /// The priority of its runs, 0 (the default) to 9; a start may override
    /// it. Over priority queues (`ServiceBuilder::priorities`) a run of a
    /// higher priority overtakes a backlog of lower ones.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 9))]
    pub priority: u8,
    /// When it was first saved.
    #[serde(default = "Utc::now")]
    pub created_at: DateTime<Utc>,
    /// When it was last saved.
    #[serde(default = "Utc::now")]
    pub modified_at: DateTime<Utc>,
}

impl Definition {
    /// A definition with the given name and steps, no description or variables.
    pub fn new<S: Into<StepDef>>(
        name: impl Into<String>,
        steps: impl IntoIterator<Item = S>,
    ) -> Self {
        let now = Utc::now();
        Definition {
            name: name.into(),
            description: String::new(),
            steps: steps.into_iter().map(Into::into).collect(),
            variables: Variables::new(),
            webhook: None,
            schedules: Vec::new(),
            priority: 0,
            created_at: now,
            modified_at: now,
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the priority of its runs (0-9; [`Definition::validate`] refuses more).
    ///
    /// ```
    /// assert_eq!(isoqube::Definition::new("x", ["Build"]).with_priority(7).priority, 7);
    /// ```
    pub fn with_priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the default variables.
    pub fn with_variables(mut self, variables: Variables) -> Self {
        self.variables = variables;
        self
    }

    /// Checks the rules every definition must meet. `known_events` is the set of
    /// registered event names; an event outside it is refused.
    ///
    /// ```
    /// use isoqube::Definition;
    /// let known = ["Build".to_string()].into_iter().collect();
    /// let err = Definition::new("x", ["Build", "Nope"]).validate(&known).unwrap_err();
    /// assert!(err.to_string().contains("unknown event 'Nope'"));
    /// ```
    pub fn validate(&self, known_events: &BTreeSet<String>) -> Result<()> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(Error::InvalidDefinition("the name is empty".into()));
        }
        if name != self.name {
            return Err(Error::InvalidDefinition(format!(
                "the name '{}' has leading or trailing spaces",
                self.name
            )));
        }
        check_definition_name(name)?;
        if self.steps.is_empty() {
            return Err(Error::InvalidDefinition(format!(
                "definition '{name}' has no steps"
            )));
        }
        super::graph::validate_steps(name, &self.steps, known_events)?;
        check_priority(self.priority)
            .map_err(|why| Error::InvalidDefinition(format!("definition '{name}': {why}")))?;
        if let Some(var) = super::nul_in_variable_names(&self.variables) {
            return Err(Error::InvalidDefinition(format!(
                "variable name '{var}' of '{name}' holds a NUL character (no store can keep one)"
            )));
        }
        super::schedule::validate(self)
    }
}

/// The longest definition name.
pub const DEFINITION_NAME_MAX: usize = 100;

/// What a definition name may hold, as messages and docs say it.
pub const DEFINITION_NAME_RULE: &str =
    "1-100 ASCII letters, digits, '-', '_' or '.', starting with a letter or digit";

/// Checks a definition name against [`DEFINITION_NAME_RULE`]: it is a path
/// segment in the API, a file name on export and a word in the CLI, so it
/// needs no quoting anywhere.
///
/// ```
/// use isoqube::model::check_definition_name;
/// assert!(check_definition_name("nightly-release_2.1").is_ok());
/// for bad in ["", "a b", "-x", "x/y", "é", "a?b"] {
///     assert!(check_definition_name(bad).is_err(), "{bad}");
/// }
/// ```
pub fn check_definition_name(name: &str) -> Result<()> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.len() > DEFINITION_NAME_MAX || !first_ok || !rest_ok {
        let shown: String = name.chars().take(60).collect();
        return Err(Error::InvalidDefinition(format!(
            "the name '{}' is not a definition name: use {DEFINITION_NAME_RULE}",
            shown.escape_debug()
        )));
    }
    Ok(())
}

/// The highest priority a run may have (runs go from 0, the default, to 9).
pub const MAX_RUN_PRIORITY: u8 = 9;

/// Why `priority` is no run priority, if it is not one.
///
/// ```
/// assert!(isoqube::model::check_priority(9).is_ok());
/// assert_eq!(isoqube::model::check_priority(10).unwrap_err(), "priority 10 is out of range (0-9)");
/// ```
pub fn check_priority(priority: u8) -> std::result::Result<(), String> {
    if priority > MAX_RUN_PRIORITY {
        Err(format!(
            "priority {priority} is out of range (0-{MAX_RUN_PRIORITY})"
        ))
    } else {
        Ok(())
    }
}
