//! `runs signal`: an event delivered to a run that waits for it (by the
//! run's id), or to every run waiting for it by a correlate key (`--match`),
//! and what it did to each.
//!
//! It may use the [`Operator`], the runtime's signal data rule and the CLI's
//! arguments, exit mapping and output.

use std::io::Write;

use isoqube::engine::waits::signal_data;

use super::args::parse_vars;
use super::exit::{ExitStatus, Failure, Outcome};
use super::print::{print_json, say};
use crate::ops::Operator;

/// Whom a `runs signal` is for: one run, or the runs a correlate key finds.
pub(super) enum Addressee {
    /// `runs signal ID EVENT`.
    Run { id: String, event: String },
    /// `runs signal --match EVENT`.
    Matching { event: String },
}

/// Where the signals the CLI sends say they came from.
const FROM: &str = "cli";

/// `runs signal ...`: the data from `--data` and `--var` (those over it),
/// delivered; each run reached printed with what the signal did there.
pub(super) async fn signal(
    op: &Operator,
    to: Addressee,
    data: Option<String>,
    vars: &[String],
    json: bool,
    out: &mut dyn Write,
) -> Outcome {
    let vars = parse_vars(vars)?;
    let data = signal_data(data.as_deref(), vars)
        .map_err(|e| Failure::bad_input(format!("--data: {e}")))?;
    let reached = match to {
        Addressee::Run { id, event } => {
            vec![op.signal(op.run_id(&id).await?, &event, data, FROM).await?]
        }
        Addressee::Matching { event } => op.signal_matching(&event, data, FROM).await?,
    };
    if json {
        return print_json(out, &reached);
    }
    for r in &reached {
        say!(out, "{}", r.line());
    }
    Ok(ExitStatus::Ok)
}
