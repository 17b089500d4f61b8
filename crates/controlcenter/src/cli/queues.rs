//! `queues`: every endpoint's queue, error queue and skipped queue by their
//! names on the broker, with messages ready, unacked, consumers and the net
//! rate (see [`crate::ops::QueuesReport`]); `--stale` only those of
//! endpoints no live service hosts, and `queues delete NAME --yes` to remove
//! one.
//!
//! It may use the [`Operator`] and the CLI's arguments, exit mapping and output.

use std::io::Write;
use std::time::Duration;

use super::args::{QueuesAction, QueuesArgs};
use super::exit::{ExitStatus, Failure, Outcome};
use super::print::{print_json, say};
use crate::ops::{EndpointQueues, Operator, QueueView};

/// The longest sample window accepted.
const MAX_SAMPLE_SECS: f64 = 60.0;

/// Runs `queues`.
pub(super) async fn execute(op: &Operator, args: &QueuesArgs, out: &mut dyn Write) -> Outcome {
    if let Some(QueuesAction::Delete { name, yes, force }) = &args.action {
        if !yes {
            return Err(Failure::bad_input("deleting a queue needs --yes"));
        }
        let gone = op.delete_queue(name, *force).await?;
        say!(
            out,
            "deleted queue {} ({} message(s) with it)",
            gone.broker_queue,
            gone.messages
        );
        return Ok(ExitStatus::Ok);
    }
    if args.stale {
        let stale = op.stale_queues().await?;
        if args.out.json {
            return print_json(out, &stale);
        }
        if stale.is_empty() {
            say!(
                out,
                "no stale queues: every known endpoint is hosted by a live service"
            );
            return Ok(ExitStatus::Ok);
        }
        table(out, &stale)?;
        say!(
            out,
            "stale: no live service hosts these endpoints; `queues delete NAME --yes` deletes one"
        );
        return Ok(ExitStatus::Ok);
    }
    if !(0.0..=MAX_SAMPLE_SECS).contains(&args.sample) {
        return Err(Failure::bad_input(format!(
            "--sample {}: give 0 to {MAX_SAMPLE_SECS} seconds",
            args.sample
        )));
    }
    let report = op.queues(Duration::from_secs_f64(args.sample)).await?;
    if args.out.json {
        return print_json(out, &report);
    }
    if report.endpoints.is_empty() {
        say!(out, "no endpoints recorded yet (start a service)");
        return Ok(ExitStatus::Ok);
    }
    table(out, &report.endpoints)?;
    if report.sampled_secs > 0.0 {
        say!(
            out,
            "NET/S: change of ready messages per second over {}s (arrivals minus departures; not the publish rate)",
            report.sampled_secs
        );
    }
    if report
        .endpoints
        .iter()
        .any(|e| e.queue.exists && e.queue.unacked.is_none())
    {
        say!(
            out,
            "UNACKED ?: RabbitMQ tells messages in flight only through its management plugin, \
             which the control center does not use"
        );
    }
    Ok(ExitStatus::Ok)
}

/// The queues table: a row per queue, the endpoint named on its first.
fn table(out: &mut dyn Write, endpoints: &[EndpointQueues]) -> Result<(), Failure> {
    say!(
        out,
        "{:<28} {:<44} {:>7} {:>7} {:>9} {:>8}",
        "ENDPOINT",
        "QUEUE",
        "READY",
        "UNACKED",
        "CONSUMERS",
        "NET/S"
    );
    for e in endpoints {
        say!(out, "{:<28} {}", e.endpoint, queue_cells(&e.queue));
        say!(out, "{:<28} {}", "", queue_cells(&e.error_queue));
        say!(out, "{:<28} {}", "", queue_cells(&e.skipped_queue));
    }
    Ok(())
}

/// A queue's cells: name on the broker, ready, unacked, consumers, net rate.
pub fn queue_cells(q: &QueueView) -> String {
    if !q.exists {
        return format!(
            "{:<44} {:>7} {:>7} {:>9} {:>8}",
            q.broker_queue, "-", "-", "-", "(not declared)"
        );
    }
    let known = |n: Option<u32>| n.map_or_else(|| "?".to_string(), |c| c.to_string());
    let rate = q
        .net_rate
        .map_or_else(|| "-".to_string(), |r| format!("{r:+.2}"));
    format!(
        "{:<44} {:>7} {:>7} {:>9} {:>8}",
        q.broker_queue,
        q.messages,
        known(q.unacked),
        known(q.consumers),
        rate
    )
}
