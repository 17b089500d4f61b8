//! The runs' outcome metrics of `GET /metrics`, computed when scraped from
//! the run records (paging over all of them, as the stuck count pages over
//! the running ones):
//!
//! | name | type | what |
//! | --- | --- | --- |
//! | `isoqube_runs_total{definition,status}` | gauge | runs of each definition in each status (a gauge: a run moves from `Running` to its outcome) |
//! | `isoqube_run_duration_seconds{definition}` | histogram | creation to finish of the finished runs (succeeded, failed, cancelled) |
//! | `isoqube_runs_waiting` | gauge | pending and running runs with a step waiting for a signal (an approval, an outside event) |
//!
//! It may use the store through the [`Operator`] only.

use std::collections::BTreeMap;
use std::fmt::Write;

use isoqube::{Run, RunFilter};

use crate::ops::Operator;

/// Upper bounds (seconds) of the run duration buckets; `+Inf` follows. Runs
/// take seconds to hours, unlike a step's message.
pub(crate) const RUN_DURATION_BUCKETS: [f64; 12] = [
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0,
];

/// One definition's finished-run durations.
#[derive(Debug, Default)]
struct Durations {
    /// Per bucket of [`RUN_DURATION_BUCKETS`], not cumulative.
    buckets: [u64; RUN_DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Durations {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = RUN_DURATION_BUCKETS.iter().position(|le| seconds <= *le) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Counts by (definition, status), durations by definition, and the runs
/// waiting for a signal.
#[derive(Debug, Default)]
pub(crate) struct RunStats {
    by_status: BTreeMap<(String, &'static str), u64>,
    durations: BTreeMap<String, Durations>,
    /// Runs with a step waiting for a signal ([`Run::is_waiting`]).
    waiting: u64,
}

impl RunStats {
    /// Reads every run record (the ones that do not parse are counted by
    /// `isoqube_runs_corrupt` already, among the running ones).
    pub(crate) async fn read(op: &Operator) -> isoqube::Result<RunStats> {
        let mut stats = RunStats::default();
        let filter = RunFilter {
            limit: 1000,
            ..RunFilter::default()
        };
        op.each_run(&filter, |run| stats.count(run)).await?;
        Ok(stats)
    }

    fn count(&mut self, run: &Run) {
        self.waiting += u64::from(run.is_waiting());
        *self
            .by_status
            .entry((run.definition.clone(), run.status.as_str()))
            .or_default() += 1;
        if let (true, Some(end)) = (run.status.is_finished(), run.finished_at) {
            let seconds = (end - run.created_at).num_milliseconds().max(0) as f64 / 1000.0;
            self.durations
                .entry(run.definition.clone())
                .or_default()
                .observe(seconds);
        }
    }

    /// The families in the Prometheus text format.
    pub(crate) fn write(&self, out: &mut String) {
        let name = "isoqube_runs_waiting";
        let _ = writeln!(
            out,
            "# HELP {name} Pending and running runs with a step waiting for a signal.\n\
             # TYPE {name} gauge\n{name} {}",
            self.waiting
        );
        let name = "isoqube_runs_total";
        let _ = writeln!(
            out,
            "# HELP {name} Runs of each definition in each status.\n# TYPE {name} gauge"
        );
        for ((definition, status), n) in &self.by_status {
            let _ = writeln!(
                out,
                "{name}{{definition=\"{}\",status=\"{status}\"}} {n}",
                escape(definition)
            );
        }
        let name = "isoqube_run_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Creation to finish of the finished runs of each definition.\n\
             # TYPE {name} histogram"
        );
        for (definition, d) in &self.durations {
            let label = escape(definition);
            let mut cumulative = 0;
            for (le, n) in RUN_DURATION_BUCKETS.iter().zip(d.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{definition=\"{label}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{definition=\"{label}\",le=\"+Inf\"}} {}",
                d.count
            );
            let _ = writeln!(out, "{name}_sum{{definition=\"{label}\"}} {}", d.sum);
            let _ = writeln!(out, "{name}_count{{definition=\"{label}\"}} {}", d.count);
        }
    }
}

/// Escapes a label value (`\`, `"` and newlines).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_labels_escaped() {
        let mut stats = RunStats::default();
        let d = stats.durations.entry("a\"b".to_string()).or_default();
        d.observe(0.5);
        d.observe(7.0);
        d.observe(100_000.0);
        stats.by_status.insert(("a\"b".to_string(), "Failed"), 2);
        stats.waiting = 3;
        let mut out = String::new();
        stats.write(&mut out);
        for line in [
            "isoqube_runs_total{definition=\"a\\\"b\",status=\"Failed\"} 2\n",
            "isoqube_run_duration_seconds_bucket{definition=\"a\\\"b\",le=\"1\"} 1\n",
            "isoqube_run_duration_seconds_bucket{definition=\"a\\\"b\",le=\"10\"} 2\n",
            "isoqube_run_duration_seconds_bucket{definition=\"a\\\"b\",le=\"21600\"} 2\n",
            "isoqube_run_duration_seconds_bucket{definition=\"a\\\"b\",le=\"+Inf\"} 3\n",
            "isoqube_run_duration_seconds_count{definition=\"a\\\"b\"} 3\n",
            "# TYPE isoqube_runs_waiting gauge\nisoqube_runs_waiting 3\n",
        ] {
            assert!(out.contains(line), "{line:?} in:\n{out}");
        }
    }
}
