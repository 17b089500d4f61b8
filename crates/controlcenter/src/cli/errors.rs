//! `errors ...`: the messages in the endpoints' error queues: list, requeue,
//! discard.
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
        ErrorsCommand::List { endpoint, out: f } => {
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
            endpoint,
            message_id,
        } => {
            let done = op.requeue(&endpoint, &message_id).await?;
            say!(out, "{message_id}: {done}");
            Ok(ExitStatus::Ok)
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
            "errors discard takes ENDPOINT MESSAGE_ID, or --settled [ENDPOINT] --yes",
        )),
    }
}
