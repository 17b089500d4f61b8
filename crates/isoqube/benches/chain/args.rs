//! The bench's command line (clap): the flags, their defaults and the checks
//! that keep them inside what the bench was compiled for. Uses nothing of the
//! bench but [`crate::events`]'s limits.

use clap::{Parser, ValueEnum};

use crate::events::{CONCURRENCIES, MAX_STEPS};

/// The store Isoqube's side records its runs in.
#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
pub enum StoreKind {
    /// A fresh SQLite file in a temp dir.
    Sqlite,
    /// A fresh database on `ISOQUBE_MONGO_URL`, dropped at the end.
    #[value(alias = "mongodb")]
    Mongo,
}

/// The transport Isoqube's side runs on.
#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
pub enum TransportKind {
    /// RabbitMQ (`ISOQUBE_AMQP_URL` or amqp://guest:guest@127.0.0.1:5672/%2f).
    Amqp,
    /// In process (Isoqube's side only: there is no raw equivalent).
    Memory,
}

/// The MongoDB write concern of Isoqube's side (`--write-concern`).
#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
pub enum WriteConcern {
    /// `w: "majority", j: true`, the default: each write waits for the journal.
    Majority,
    /// `w: 1`: acknowledged once applied in memory.
    Acknowledged,
}

impl WriteConcern {
    pub fn durability(self) -> isoqube::store::WriteDurability {
        match self {
            WriteConcern::Majority => isoqube::store::WriteDurability::Majority,
            WriteConcern::Acknowledged => isoqube::store::WriteDurability::Acknowledged,
        }
    }
}

/// Which sides an invocation measures (`--sides`).
#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
pub enum Sides {
    /// Isoqube and raw lapin (the default; the ratio of the target).
    Both,
    /// Isoqube alone (for profiling it).
    Isoqube,
    /// Isoqube, raw lapin and the floor (raw lapin on MassTransit's topology
    /// with a SQLite row written per step).
    All,
}

/// How many steps per second an Isoqube chain moves, next to a hand-written
/// lapin chain of the same shape on the same broker.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "chain",
    override_usage = "cargo bench -p isoqube --bench chain -- [OPTIONS]"
)]
pub struct Args {
    /// Measured runs per side and rep (N), at least 1.
    #[arg(long, default_value_t = 5000, value_name = "N", value_parser = at_least_one)]
    pub runs: usize,
    /// Steps per run (K), 1..=8.
    #[arg(long, default_value_t = 5, value_name = "K",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_STEPS as u64))]
    pub steps: usize,
    /// The graph shape: W parallel steps between a fork (the first step) and a
    /// join (the last), so K = W + 2; 0 (the default) is the linear chain.
    #[arg(long, default_value_t = 0, value_name = "W")]
    pub width: usize,
    /// Runs in flight and consumer concurrency (C): one of 1, 8, 16, 32, 64, 128,
    /// 256 (consumer concurrency is a compile-time option of `#[consumer]`).
    #[arg(long, default_value_t = 64, value_name = "C", value_parser = concurrency)]
    pub concurrency: usize,
    /// Warm-up runs per side before it is measured [default: max(N/10, C)].
    #[arg(long, value_name = "W")]
    pub warmup: Option<usize>,
    /// Measured reps (R); 0 counts as 1.
    #[arg(long, default_value_t = 1, value_name = "R")]
    pub repeat: usize,
    /// Isoqube's store.
    #[arg(long, value_enum, default_value_t = StoreKind::Sqlite)]
    pub store: StoreKind,
    /// The write concern of Isoqube's MongoDB store (`--store mongo` only).
    #[arg(long, value_enum, default_value_t = WriteConcern::Majority)]
    pub write_concern: WriteConcern,
    /// Isoqube's transport (`memory` measures Isoqube's side alone).
    #[arg(long, value_enum, default_value_t = TransportKind::Amqp)]
    pub transport: TransportKind,
    /// Which sides to measure.
    #[arg(long, value_enum, default_value_t = Sides::Both)]
    pub sides: Sides,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
    /// A bench name filter `cargo bench` may pass on; ignored.
    #[arg(hide = true)]
    filter: Vec<String>,
}

impl Args {
    /// The command line, or a usage message and exit code 2 (0 for `--help`).
    pub fn parse_checked() -> Args {
        let mut args = Args::parse();
        args.repeat = args.repeat.max(1);
        if args.width > 0 {
            if args.width + 2 > MAX_STEPS {
                eprintln!(
                    "--width {}: at most {} (K = W + 2 <= {MAX_STEPS})",
                    args.width,
                    MAX_STEPS - 2
                );
                std::process::exit(2);
            }
            // The graph has the fork, the W branches and the join.
            args.steps = args.width + 2;
        }
        args
    }

    /// The name of the definition both sides use.
    pub fn definition_name(&self) -> String {
        match self.width {
            0 => format!("bench-chain-{}", self.steps),
            w => format!("bench-graph-{w}"),
        }
    }

    /// What step `i` (from 0) leads to: the steps published after it, and
    /// whether it is a branch of a join (the join is published once, by the
    /// last branch to finish).
    pub fn after_step(&self, i: usize) -> (Vec<usize>, bool) {
        match self.width {
            0 => (
                (i + 1 < self.steps).then_some(i + 1).into_iter().collect(),
                false,
            ),
            w if i == 0 => ((1..=w).collect(), false),
            w if i <= w => (vec![w + 1], true),
            _ => (Vec::new(), false),
        }
    }

    /// Warm-up runs per side: `--warmup`, or max(N/10, C).
    pub fn warmup_runs(&self) -> usize {
        self.warmup
            .unwrap_or((self.runs / 10).max(self.concurrency))
    }
}

fn concurrency(v: &str) -> Result<usize, String> {
    let c: usize = v.parse().map_err(|_| format!("'{v}' is not a number"))?;
    if CONCURRENCIES.contains(&c) {
        Ok(c)
    } else {
        Err(format!(
            "must be one of {CONCURRENCIES:?} (consumer concurrency is a compile-time option)"
        ))
    }
}

fn at_least_one(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{v}' is not a number")),
    }
}
