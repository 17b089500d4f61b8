//! Model layer: definitions as files (TOML or JSON), the format
//! `controlcenter definitions apply -f` reads and `definitions export`
//! writes, and that the HTTP API accepts as JSON: what changed between a
//! stored definition and a file's. Uses the ground layer (errors) and serde.
//!
//! ```toml
//! name = "linux-release"
//! description = "build and ship"
//! steps = [
//!   "FetchSource",
//!   { name = "focal", event = "LinuxBuild", after = ["FetchSource"] },
//!   { name = "jammy", event = "LinuxBuild", after = ["FetchSource"], timeout = 900 },
//!   { event = "Publish", after = ["focal", "jammy"] },
//! ]
//! [variables]
//! channel = "stable"
//! ```
//!
//! A webhook's secret is written as `"***"`; applying a file whose secret is
//! `"***"` keeps the stored one.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use super::schedule::{Schedule, Webhook};
use super::*;

/// What a written secret is replaced with.
pub const HIDDEN_SECRET: &str = "***";

/// A definition file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// TOML.
    Toml,
    /// JSON.
    Json,
}

impl FileFormat {
    /// The format a file name's extension says (`.toml`, `.json`).
    ///
    /// ```
    /// use isoqube::model::FileFormat;
    /// assert_eq!(FileFormat::of_path("a/release.TOML".as_ref()), Some(FileFormat::Toml));
    /// assert_eq!(FileFormat::of_path("release.yaml".as_ref()), None);
    /// ```
    pub fn of_path(path: &Path) -> Option<FileFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "toml" => Some(FileFormat::Toml),
            "json" => Some(FileFormat::Json),
            _ => None,
        }
    }
}

/// The fields a file holds (no timestamps: the store keeps those).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefinitionFile {
    name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    description: String,
    /// Its runs' priority (0-9); 0 when left out.
    #[serde(default, skip_serializing_if = "is_zero")]
    priority: u8,
    steps: Vec<StepDef>,
    #[serde(default, skip_serializing_if = "Variables::is_empty")]
    variables: Variables,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    schedules: Vec<Schedule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    webhook: Option<Webhook>,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// Reads a definition file. The definition is not validated here (see
/// [`Definition::validate`]); a file that does not parse is
/// [`Error::InvalidDefinition`] saying where.
///
/// ```
/// use isoqube::model::{parse_definition_file, FileFormat};
/// let def = parse_definition_file(r#"name = "x"
/// steps = ["A", { event = "B", after = [] }]"#, FileFormat::Toml).unwrap();
/// assert_eq!(def.steps[1].after, Some(vec![]));
/// ```
pub fn parse_definition_file(text: &str, format: FileFormat) -> Result<Definition> {
    let file: DefinitionFile = match format {
        FileFormat::Toml => toml::from_str(text).map_err(|e| {
            Error::InvalidDefinition(format!("the TOML file does not hold a definition: {e}"))
        })?,
        FileFormat::Json => serde_json::from_str(text).map_err(|e| {
            Error::InvalidDefinition(format!("the JSON file does not hold a definition: {e}"))
        })?,
    };
    let mut def = Definition::new(file.name, file.steps)
        .with_description(file.description)
        .with_variables(file.variables)
        .with_priority(file.priority);
    def.schedules = file.schedules;
    def.webhook = file.webhook;
    Ok(def)
}

/// Writes a definition in a file's format, its webhook secret hidden.
///
/// ```
/// use isoqube::model::{export_definition, parse_definition_file, FileFormat};
/// use isoqube::{Definition, StepDef};
/// let def = Definition::new("x", [StepDef::new("A"), StepDef::new("B").after(Vec::<String>::new())]);
/// for format in [FileFormat::Toml, FileFormat::Json] {
///     let text = export_definition(&def, format).unwrap();
///     assert_eq!(parse_definition_file(&text, format).unwrap().steps, def.steps);
/// }
/// ```
pub fn export_definition(def: &Definition, format: FileFormat) -> Result<String> {
    let file = DefinitionFile {
        name: def.name.clone(),
        description: def.description.clone(),
        priority: def.priority,
        steps: def.steps.clone(),
        variables: def.variables.clone(),
        schedules: def.schedules.clone(),
        webhook: def.webhook.as_ref().map(|w| Webhook {
            id: w.id.clone(),
            secret: HIDDEN_SECRET.into(),
        }),
    };
    match format {
        FileFormat::Toml => toml::to_string_pretty(&file).map_err(|e| {
            Error::InvalidState(format!(
                "definition '{}' cannot be written as TOML ({e}); TOML has no null: export it as JSON",
                def.name
            ))
        }),
        FileFormat::Json => serde_json::to_string_pretty(&file)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| Error::InvalidState(format!("definition '{}': {e}", def.name))),
    }
}

/// A file's definition over the stored one: a hidden webhook secret keeps
/// the stored secret (refused when there is none to keep).
pub fn keep_hidden_secret(new: &mut Definition, stored: Option<&Definition>) -> Result<()> {
    let Some(hook) = new.webhook.as_mut().filter(|h| h.secret == HIDDEN_SECRET) else {
        return Ok(());
    };
    match stored.and_then(|d| d.webhook.as_ref()) {
        Some(old) => {
            hook.secret = old.secret.clone();
            Ok(())
        }
        None => Err(Error::InvalidDefinition(format!(
            "definition '{}': the webhook secret is \"{HIDDEN_SECRET}\" (as export writes it) but no secret is stored to keep: give the secret",
            new.name
        ))),
    }
}

/// What differs between two definitions of one name, by field.
///
/// ```
/// use isoqube::{model::definition_changes, Definition};
/// let old = Definition::new("x", ["A"]);
/// let new = Definition::new("x", ["A", "B"]).with_description("more");
/// assert_eq!(definition_changes(&old, &new), ["description", "steps"]);
/// ```
pub fn definition_changes(old: &Definition, new: &Definition) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if old.description != new.description {
        changed.push("description");
    }
    if old.steps != new.steps {
        changed.push("steps");
    }
    if old.variables != new.variables {
        changed.push("variables");
    }
    if old.schedules != new.schedules {
        changed.push("schedules");
    }
    if old.webhook != new.webhook {
        changed.push("webhook");
    }
    if old.priority != new.priority {
        changed.push("priority");
    }
    changed
}
