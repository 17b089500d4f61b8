//! What the bench prints: the banner, one row per measured side and rep, and
//! at the end the medians, the ratios (isoqube/raw against the target;
//! floor/raw and isoqube/floor with `--sides all`), the store-wait and CPU
//! lines, and the Mongo command counts. Uses [`crate::drive`]'s figures only.

use std::collections::BTreeMap;

use crate::args::Args;
use crate::drive::Measured;

/// The first line: what this invocation measures.
pub fn banner(args: &Args, warmup: usize, size: usize, id: &str) {
    println!(
        "chain bench: {}K={} steps, C={} runs in flight (consumer concurrency {}), N={} runs \
         (+{warmup} warm-up), store={:?}{}, transport={:?}, step message ~{size} B, id {id}, \
         {} CPUs",
        match args.width {
            0 => String::new(),
            w => format!("graph shape (fork, {w} parallel steps, join), "),
        },
        args.steps,
        args.concurrency,
        args.concurrency,
        args.runs,
        args.store,
        match args.store {
            crate::args::StoreKind::Mongo => format!(" (write concern {:?})", args.write_concern),
            crate::args::StoreKind::Sqlite => String::new(),
        },
        args.transport,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
}

/// The header of the table [`row`] fills.
pub fn table_header() {
    println!(
        "{:<10} {:>3} {:>6} {:>7} {:>8} {:>9} {:>8} {:>8} {:>8} {:>6}",
        "side", "rep", "runs", "steps", "wall_s", "steps/s", "runs/s", "p50_ms", "p99_ms", "failed"
    );
}

/// One measured side of one rep.
pub fn row(side: &str, rep: usize, m: &Measured) {
    println!(
        "{side:<10} {rep:>3} {:>6} {:>7} {:>8.2} {:>9.0} {:>8.1} {:>8.1} {:>8.1} {:>6}",
        m.runs,
        m.steps,
        m.wall.as_secs_f64(),
        m.steps_per_s(),
        m.runs_per_s(),
        m.pct(0.50),
        m.pct(0.99),
        m.failed
    );
}

/// The middle value (the upper one of an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// The store wait per step of Isoqube's side in one rep, from two
/// [`crate::watched::StoreTiming`] snapshots.
pub fn store_wait_line(rep: usize, t0: [u64; 4], t1: [u64; 4]) -> String {
    let avg_ms = |ns: u64, n: u64| ns as f64 / n.max(1) as f64 / 1e6;
    format!(
        "isoqube rep {rep}: store wait per step (as the runtime sees it): claim_step {:.2} ms, complete_step {:.2} ms (mean over {} + {} calls)",
        avg_ms(t1[0] - t0[0], t1[1] - t0[1]),
        avg_ms(t1[2] - t0[2], t1[3] - t0[3]),
        t1[1] - t0[1],
        t1[3] - t0[3],
    )
}

/// What the reps gave, kept for the summary after the table.
#[derive(Default)]
pub struct Tally {
    /// Isoqube's steps/s per rep.
    pub iso_rates: Vec<f64>,
    /// Raw lapin's steps/s per rep.
    pub raw_rates: Vec<f64>,
    /// (floor steps/s, isoqube steps/s of the same rep)
    pub floor_rates: Vec<(f64, f64)>,
    /// isoqube/raw per rep.
    pub ratios: Vec<f64>,
    /// Mongo commands sent during a rep's measured runs, with its runs and steps.
    pub mongo_per_step: Vec<(BTreeMap<String, u64>, usize, usize)>,
    /// Store-wait and CPU lines, printed after the ratios.
    pub store_lines: Vec<String>,
}

impl Tally {
    /// Prints the summary after the table (`repeat`: the number of reps).
    pub fn print(&self, repeat: usize) {
        if repeat > 1 {
            println!(
                "median steps/s: isoqube {:.0}{}",
                median(self.iso_rates.clone()),
                if self.raw_rates.is_empty() {
                    String::new()
                } else {
                    format!(", raw-lapin {:.0}", median(self.raw_rates.clone()))
                }
            );
        }
        if !self.ratios.is_empty() {
            let r = median(self.ratios.clone());
            println!(
                "isoqube/raw steps/s ratio: {:.2} (per rep: {}) — target >= 0.70: {}",
                r,
                self.ratios
                    .iter()
                    .map(|r| format!("{r:.2}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if r >= 0.70 { "met" } else { "MISSED" }
            );
        }
        if !self.floor_rates.is_empty() && self.floor_rates.len() == self.raw_rates.len() {
            let floor_of_raw: Vec<f64> = self
                .floor_rates
                .iter()
                .zip(&self.raw_rates)
                .map(|((f, _), r)| f / r)
                .collect();
            let iso_of_floor: Vec<f64> = self.floor_rates.iter().map(|(f, i)| i / f).collect();
            let list = |v: &[f64]| {
                v.iter()
                    .map(|r| format!("{r:.2}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!(
                "floor/raw steps/s ratio: {:.2} (per rep: {}); isoqube/floor: {:.2} (per rep: {})",
                median(floor_of_raw.clone()),
                list(&floor_of_raw),
                median(iso_of_floor.clone()),
                list(&iso_of_floor)
            );
        }
        for line in &self.store_lines {
            println!("{line}");
        }
        for (cmds, runs, steps) in &self.mongo_per_step {
            let total: u64 = cmds.values().sum();
            println!(
                "mongo commands during the measured runs ({runs} runs, {steps} steps): {total} \
                 ({:.2} per step, {:.2} per run)",
                total as f64 / *steps as f64,
                total as f64 / *runs as f64
            );
            for (name, n) in cmds {
                println!(
                    "  {name:<16} {n:>8}  {:>6.2}/step  {:>6.2}/run",
                    *n as f64 / *steps as f64,
                    *n as f64 / *runs as f64
                );
            }
        }
    }
}
