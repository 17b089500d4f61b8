//! `errors ...`: the messages in the endpoints' error queues: list (with a
//! filter), requeue and discard, one message or in bulk (`--all`, confirmed
//! with `--yes` as `definitions delete` is).
//!
//! It may use the [`Operator`] and the CLI's arguments, exit mapping and output.

use std::io::Write;

use isoqube::Error;

use super::args::ErrorsCommand;
use super::exit::{ExitStatus, Failure, Outcome};
use super::print::{print_json, say};
use crate::ops::Operator;

/// Runs an `errors` subcommand.
pub(super) async fn execute(op: &Operator, cmd: ErrorsCommand, out: &mut dyn Write) -> Outcome {
    match cmd {
        ErrorsCommand::List {
            endpoint,
            matching,
            out: f,
        } => {
            let only = match &endpoint {
                Some(ep) => Some(op.endpoint_named(ep).await?),
                None => None,
            };
            let mut queues = op.error_queues().await?;
            if let Some(ep) = &only {
                queues.retain(|q| &q.endpoint == ep);
                if queues.is_empty() {
                    return Err(Error::not_found("error queue", format!("{ep}_error")).into());
                }
            }
            if let Some(text) = &matching {
                for q in &mut queues {
                    q.messages.retain(|m| m.matches(text));
                    q.count = u32::try_from(q.messages.len()).unwrap_or(u32::MAX);
                }
            }
            if f.json {
                return print_json(out, &queues);
            }
            let total: u32 = queues.iter().map(|q| q.count).sum();
            say!(out, "{total} message(s) in error queues");
            for q in queues.iter().filter(|q| q.count > 0) {
                say!(out, "{}_error: {}", q.endpoint, q.count);
                for m in &q.messages {
                    say!(
                        out,
                        "  {}  {}  {}{}",
                        m.message_id,
                        if m.exception_type.is_empty() {
                            "-"
                        } else {
                            &m.exception_type
                        },
                        m.reason,
                        match (&m.run_id, m.index) {
                            (Some(r), Some(i)) if m.settled => {
                                format!("  (run {r} step {}: succeeded since)", i + 1)
                            }
                            (Some(r), Some(i)) => format!("  (run {r} step {})", i + 1),
                            (Some(r), None) => format!("  (run {r})"),
                            _ => String::new(),
                        }
                    );
                }
            }
            Ok(ExitStatus::Ok)
        }
        ErrorsCommand::Requeue {
            all: true,
            endpoint,
            matching,
            yes,
            ..
        } => {
            if !yes {
                return Err(Failure::bad_input("requeueing every message needs --yes"));
            }
            let faults = matching_faults(op, endpoint.as_deref(), matching.as_deref()).await?;
            bulk(out, "requeued", op.requeue_each(faults).await)
        }
        ErrorsCommand::Requeue {
            endpoint: Some(endpoint),
            message_id: Some(message_id),
            ..
        } => {
            let done = op.requeue(&endpoint, &message_id).await?;
            say!(out, "{message_id}: {done}");
            Ok(ExitStatus::Ok)
        }
        ErrorsCommand::Requeue { .. } => Err(Failure::bad_input(
            "errors requeue takes ENDPOINT MESSAGE_ID, or --all [ENDPOINT] [--match TEXT] --yes",
        )),
        ErrorsCommand::Discard {
            all: true,
            endpoint,
            matching,
            yes,
            ..
        } => {
            if !yes {
                return Err(Failure::bad_input("discarding every message needs --yes"));
            }
            let faults = matching_faults(op, endpoint.as_deref(), matching.as_deref()).await?;
            bulk(out, "discarded", op.discard_each(faults).await)
        }
        ErrorsCommand::Discard {
            settled: true,
            endpoint,
            yes,
            ..
        } => {
            if !yes {
                return Err(Failure::bad_input(
                    "discarding every settled message needs --yes",
                ));
            }
            let gone = op.discard_settled(endpoint.as_deref()).await?;
            say!(
                out,
                "discarded {} message(s) whose step has succeeded since",
                gone.len()
            );
            for f in gone {
                say!(out, "  {}_error  {}", f.endpoint, f.message_id);
            }
            Ok(ExitStatus::Ok)
        }
        ErrorsCommand::Discard {
            endpoint: Some(endpoint),
            message_id: Some(message_id),
            ..
        } => {
            let endpoint = op.discard(&endpoint, &message_id).await?;
            say!(out, "discarded {message_id} from {endpoint}_error");
            Ok(ExitStatus::Ok)
        }
        ErrorsCommand::Discard { .. } => Err(Failure::bad_input(
            "errors discard takes ENDPOINT MESSAGE_ID, --settled [ENDPOINT] --yes, \
             or --all [ENDPOINT] [--match TEXT] --yes",
        )),
    }
}

/// Every message of `endpoint`'s error queue (of all when `None`) matching
/// `text` (all when `None`).
async fn matching_faults(
    op: &Operator,
    endpoint: Option<&str>,
    text: Option<&str>,
) -> Result<Vec<crate::ops::FaultView>, Failure> {
    Ok(op
        .faults_where(endpoint, |f| text.is_none_or(|t| f.matches(t)))
        .await?)
}

/// Prints a bulk action message by message: done ones on stdout, the others
/// (with why) on stderr; the exit status is that of the first failure.
fn bulk(out: &mut dyn Write, verb: &str, b: crate::ops::Bulk) -> Outcome {
    say!(
        out,
        "{verb} {} message(s){}",
        b.done.len(),
        if b.failed.is_empty() {
            String::new()
        } else {
            format!("; {} not", b.failed.len())
        }
    );
    for (f, what) in &b.done {
        say!(out, "  {}_error  {}: {what}", f.endpoint, f.message_id);
    }
    for (f, e) in &b.failed {
        eprintln!("  {}_error  {}: not {verb}: {e}", f.endpoint, f.message_id);
    }
    match b.failed.into_iter().next() {
        None => Ok(ExitStatus::Ok),
        Some((_, e)) => {
            let mut failure = Failure::from(e);
            failure.message = format!("some messages were not {verb} (listed above)");
            Err(failure)
        }
    }
}
