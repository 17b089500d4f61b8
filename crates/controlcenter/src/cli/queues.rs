//! `queues`: every endpoint's queue and error queue with messages ready,
//! consumers and the net rate (see [`crate::ops::QueuesReport`]).
//!
//! It may use the [`Operator`] and the CLI's arguments, exit mapping and output.

use std::io::Write;
use std::time::Duration;

use super::args::QueuesArgs;
use super::exit::{ExitStatus, Failure, Outcome};
use super::print::{print_json, say};
use crate::ops::{Operator, QueueView};

/// The longest sample window accepted.
const MAX_SAMPLE_SECS: f64 = 60.0;

/// Runs `queues`.
pub(super) async fn execute(op: &Operator, args: &QueuesArgs, out: &mut dyn Write) -> Outcome {
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
    say!(
        out,
        "{:<28} {:<34} {:>7} {:>9} {:>8}",
        "ENDPOINT",
        "QUEUE",
        "READY",
        "CONSUMERS",
        "NET/S"
    );
    for e in &report.endpoints {
        say!(out, "{:<28} {}", e.endpoint, queue_cells(&e.queue));
        say!(out, "{:<28} {}", "", queue_cells(&e.error_queue));
    }
    if report.sampled_secs > 0.0 {
        say!(
            out,
            "NET/S: change of ready messages per second over {}s (arrivals minus departures; not the publish rate)",
            report.sampled_secs
        );
    }
    Ok(ExitStatus::Ok)
}

/// A queue's cells: name, ready, consumers, net rate.
pub fn queue_cells(q: &QueueView) -> String {
    if !q.exists {
        return format!(
            "{:<34} {:>7} {:>9} {:>8}",
            q.queue, "-", "-", "(not declared)"
        );
    }
    let consumers = q
        .consumers
        .map_or_else(|| "?".to_string(), |c| c.to_string());
    let rate = q
        .net_rate
        .map_or_else(|| "-".to_string(), |r| format!("{r:+.2}"));
    format!(
        "{:<34} {:>7} {:>9} {:>8}",
        q.queue, q.messages, consumers, rate
    )
}
