//! `definitions ...`: list, show, create, update and delete definitions, with
//! their schedules and webhook.
//!
//! It may use the [`Operator`], the text formats ([`crate::text`]) and the
//! CLI's arguments, exit mapping and output.

use std::io::Write;

use isoqube::schedule::Webhook;
use isoqube::{Definition, Error};

use super::args::{parse_vars, DefinitionsCommand, TriggerArgs};
use super::exit::{ExitStatus, Failure, Outcome};
use super::print::{print_definition, print_json, priority_note, redacted, say};
use crate::ops::Operator;
use crate::text::parse_schedule;

impl TriggerArgs {
    fn apply(&self, def: &mut Definition) -> std::result::Result<(), Failure> {
        for spec in &self.schedules {
            let s = parse_schedule(spec).map_err(Failure::bad_input)?;
            def.schedules.retain(|old| old.id != s.id);
            def.schedules.push(s);
        }
        if let (Some(id), Some(secret)) = (&self.webhook_id, &self.webhook_secret) {
            def.webhook = Some(Webhook {
                id: id.clone(),
                secret: secret.clone(),
            });
        }
        Ok(())
    }
}

/// Runs a `definitions` subcommand.
pub(super) async fn execute(
    op: &Operator,
    cmd: DefinitionsCommand,
    out: &mut dyn Write,
) -> Outcome {
    match cmd {
        DefinitionsCommand::List(f) => list(op, f.json, out).await,
        DefinitionsCommand::Show { name, out: f } => {
            let d = op.definition(&name).await?;
            if f.json {
                return print_json(out, &redacted(&d));
            }
            print_definition(out, &d)
        }
        DefinitionsCommand::Create {
            name,
            steps,
            description,
            vars,
            priority,
            triggers,
            out: f,
        } => {
            let mut def = Definition::new(name, steps.iter().map(|s| s.trim().to_string()))
                .with_description(description)
                .with_variables(parse_vars(&vars)?)
                .with_priority(priority.unwrap_or(0));
            triggers.apply(&mut def)?;
            let saved = op.create_definition(def).await?;
            print_saved(out, &saved, "created", f.json)
        }
        DefinitionsCommand::Update {
            name,
            steps,
            description,
            vars,
            unset,
            priority,
            triggers,
            remove_schedules,
            remove_webhook,
            out: f,
        } => {
            let mut def = op.definition(&name).await?;
            let changes = Changes {
                steps,
                description,
                vars,
                unset,
                priority,
                remove_schedules,
                remove_webhook,
            };
            changes.apply(&mut def)?;
            triggers.apply(&mut def)?;
            let saved = op.update_definition(def).await?;
            print_saved(out, &saved, "updated", f.json)
        }
        DefinitionsCommand::Apply {
            file,
            format,
            dry_run,
            out: f,
        } => super::definition_files::apply(op, &file, format, dry_run, f.json, out).await,
        DefinitionsCommand::Export {
            name,
            format,
            output,
        } => super::definition_files::export(op, &name, format, output.as_deref(), out).await,
        DefinitionsCommand::Delete { name, yes } => {
            if !yes {
                return Err(Failure::bad_input(format!(
                    "deleting definition '{name}' needs --yes"
                )));
            }
            op.delete_definition(&name).await?;
            say!(out, "deleted definition {name}");
            Ok(ExitStatus::Ok)
        }
    }
}

/// `definitions list`: one line a definition (name, steps, description,
/// priority), or JSON with the secrets redacted.
async fn list(op: &Operator, json: bool, out: &mut dyn Write) -> Outcome {
    let defs = op.definitions().await?;
    if json {
        return print_json(out, &defs.iter().map(redacted).collect::<Vec<_>>());
    }
    if defs.is_empty() {
        say!(out, "no definitions");
    }
    for d in defs {
        say!(
            out,
            "{:<24} {:>2} steps  {}{}",
            d.name,
            d.steps.len(),
            d.description,
            priority_note(d.priority)
        );
    }
    Ok(ExitStatus::Ok)
}

/// A saved definition: `created definition NAME` (or `updated`), or its JSON
/// with the secrets redacted.
fn print_saved(out: &mut dyn Write, saved: &Definition, verb: &str, json: bool) -> Outcome {
    if json {
        return print_json(out, &redacted(saved));
    }
    say!(out, "{verb} definition {}", saved.name);
    Ok(ExitStatus::Ok)
}

/// What `definitions update` changes besides the triggers.
struct Changes {
    steps: Option<Vec<String>>,
    description: Option<String>,
    vars: Vec<String>,
    unset: Vec<String>,
    priority: Option<u8>,
    remove_schedules: Vec<String>,
    remove_webhook: bool,
}

impl Changes {
    /// Applies the changes to `def`; a schedule to remove that is not there
    /// is not found.
    fn apply(self, def: &mut Definition) -> std::result::Result<(), Failure> {
        if let Some(steps) = self.steps {
            def.steps = steps.iter().map(|s| s.trim().into()).collect();
        }
        if let Some(d) = self.description {
            def.description = d;
        }
        if let Some(p) = self.priority {
            def.priority = p;
        }
        def.variables.extend(parse_vars(&self.vars)?);
        for k in self.unset {
            def.variables.remove(&k);
        }
        for id in &self.remove_schedules {
            let before = def.schedules.len();
            def.schedules.retain(|s| &s.id != id);
            if def.schedules.len() == before {
                return Err(Error::not_found("schedule", id.clone()).into());
            }
        }
        if self.remove_webhook {
            def.webhook = None;
        }
        Ok(())
    }
}
