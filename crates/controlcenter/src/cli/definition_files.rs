//! `definitions apply -f FILE` and `definitions export NAME`: definitions as
//! files (the format is `isoqube::model`'s, see
//! [`isoqube::model::parse_definition_file`]).
//!
//! It may use the [`Operator`] and the CLI's arguments, exit mapping and output.

use std::io::{Read, Write};
use std::path::Path;

use isoqube::model::{
    definition_changes, export_definition, keep_hidden_secret, parse_definition_file, FileFormat,
};
use isoqube::Error;

use super::args::FileFormatArg;
use super::exit::{ExitStatus, Failure, Outcome};
use super::print::{print_json, say};
use crate::ops::Operator;

/// Reads the file, checks it, and creates or updates its definition (or,
/// with `dry_run`, only says what would change).
pub(super) async fn apply(
    op: &Operator,
    file: &Path,
    format: Option<FileFormatArg>,
    dry_run: bool,
    json: bool,
    out: &mut dyn Write,
) -> Outcome {
    let format = match (format, FileFormat::of_path(file)) {
        (Some(f), _) => f.into(),
        (None, Some(f)) => f,
        (None, None) => {
            return Err(Failure::bad_input(format!(
                "{}: say --format toml or --format json (the extension does not)",
                file.display()
            )))
        }
    };
    let text = read(file)?;
    let mut def = parse_definition_file(&text, format)?;
    let stored = match op.definition(&def.name).await {
        Ok(d) => Some(d),
        Err(Error::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    keep_hidden_secret(&mut def, stored.as_ref())?;
    let changes = match &stored {
        Some(old) => definition_changes(old, &def),
        None => Vec::new(),
    };
    let action = match (&stored, changes.is_empty()) {
        (None, _) => "create",
        (Some(_), true) => "unchanged",
        (Some(_), false) => "update",
    };
    op.check_definition(&def).await?;
    if !dry_run {
        match action {
            "create" => {
                op.create_definition(def.clone()).await?;
            }
            "update" => {
                op.update_definition(def.clone()).await?;
            }
            _ => {}
        }
    }
    if json {
        return print_json(
            out,
            &serde_json::json!({
                "name": def.name,
                "action": action,
                "changed": changes,
                "dry_run": dry_run,
            }),
        );
    }
    let would = if dry_run { "would be " } else { "" };
    match action {
        "create" => say!(out, "definition {} {would}created", def.name),
        "unchanged" => say!(out, "definition {} unchanged", def.name),
        _ => say!(
            out,
            "definition {} {would}updated: {} changed",
            def.name,
            changes.join(", ")
        ),
    }
    Ok(ExitStatus::Ok)
}

/// Writes the definition in `format` to `output` (standard output when none).
pub(super) async fn export(
    op: &Operator,
    name: &str,
    format: FileFormatArg,
    output: Option<&Path>,
    out: &mut dyn Write,
) -> Outcome {
    let def = op.definition(name).await?;
    let text = export_definition(&def, format.into())?;
    match output {
        None => out
            .write_all(text.as_bytes())
            .map_err(super::exit::io_failure)?,
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| Failure::bad_input(format!("cannot write {}: {e}", path.display())))?;
            say!(out, "wrote definition {name} to {}", path.display());
        }
    }
    Ok(ExitStatus::Ok)
}

fn read(file: &Path) -> Result<String, Failure> {
    if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::bad_input(format!("cannot read standard input: {e}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(file)
        .map_err(|e| Failure::bad_input(format!("cannot read {}: {e}", file.display())))
}
