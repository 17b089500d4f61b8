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
            limit,
            all,
            out: f,
        } => {
            let limit = if all { usize::MAX } else { limit };
            list(
                op,
                endpoint.as_deref(),
                matching.as_deref(),
                limit,
                f.json,
                out,
            )
            .await
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
        } => discard_settled(op, endpoint.as_deref(), yes, out).await,
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

/// `errors list`: each error queue with up to `limit` of its messages (of
/// those holding `matching`, which then counts all that do).
async fn list(
    op: &Operator,
    endpoint: Option<&str>,
    matching: Option<&str>,
    limit: usize,
    json: bool,
    out: &mut dyn Write,
) -> Outcome {
    let only = match endpoint {
        Some(ep) => Some(op.endpoint_named(ep).await?),
        None => None,
    };
    // A filter looks at every message, so its count is of all that match.
    let read = if matching.is_some() {
        usize::MAX
    } else {
        limit
    };
    let mut queues = op.error_queues_up_to(read).await?;
    if let Some(ep) = &only {
        queues.retain(|q| &q.endpoint == ep);
        if queues.is_empty() {
            return Err(Error::not_found("error queue", format!("{ep}_error")).into());
        }
    }
    if let Some(text) = matching {
        for q in &mut queues {
            q.messages.retain(|m| m.matches(text));
            q.count = u32::try_from(q.messages.len()).unwrap_or(u32::MAX);
            q.messages.truncate(limit);
        }
    }
    if json {
        return print_json(out, &queues);
    }
    print_list(out, &queues)
}

/// `errors discard --settled`: every message whose step (or undo) has
/// succeeded since.
async fn discard_settled(
    op: &Operator,
    endpoint: Option<&str>,
    yes: bool,
    out: &mut dyn Write,
) -> Outcome {
    if !yes {
        return Err(Failure::bad_input(
            "discarding every settled message needs --yes",
        ));
    }
    let gone = op.discard_settled(endpoint).await?;
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

/// `errors list` as text: the total, then each queue with its messages and,
/// when it holds more than are shown, how many and how to see the rest.
fn print_list(out: &mut dyn Write, queues: &[crate::ops::ErrorQueueView]) -> Outcome {
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
                whose(m)
            );
        }
        if q.not_shown() > 0 {
            say!(
                out,
                "  showing {} of {}: --limit N shows more, --all shows every one",
                q.messages.len(),
                q.count
            );
        }
    }
    Ok(ExitStatus::Ok)
}

/// The run and step (or undo) a listed message belongs to, and whether it
/// has succeeded since.
fn whose(m: &crate::ops::FaultView) -> String {
    let step = match (&m.compensates, m.index) {
        (Some(_), Some(i)) => format!("undo of step {}", i + 1),
        (None, Some(i)) => format!("step {}", i + 1),
        _ => String::new(),
    };
    match (&m.run_id, step.is_empty()) {
        (Some(r), false) if m.settled => format!("  (run {r} {step}: succeeded since)"),
        (Some(r), false) => format!("  (run {r} {step})"),
        (Some(r), true) => format!("  (run {r})"),
        _ => String::new(),
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
    for e in &b.errors {
        eprintln!("  {e}");
    }
    match b.failed.into_iter().map(|(_, e)| e).chain(b.errors).next() {
        None => Ok(ExitStatus::Ok),
        Some(e) => {
            let mut failure = Failure::from(e);
            failure.message = format!("some messages were not {verb} (listed above)");
            Err(failure)
        }
    }
}
