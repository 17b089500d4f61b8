//! CPU accounting from `/proc`: user + system time of the broker (a local
//! `beam.smp`) and of this process's threads grouped by name, and this
//! process's context switches, turned into microseconds per step. Uses std
//! only (Linux's `/proc`; elsewhere the samples are empty).

use std::collections::BTreeMap;

/// CPU time (user + system) read from `/proc`: of the broker (a local
/// `beam.smp`, when there is one) and of this process's threads grouped by name
/// (`tokio-runtime-w`, `isoqube-sqlite`, lapin's threads...). The machine is
/// CPU-bound, so where the CPU goes per step says more than wall time alone.
#[derive(Clone, Default)]
pub struct CpuSample {
    broker: Option<u64>,
    threads: BTreeMap<String, u64>,
    /// Context switches (voluntary + involuntary) of this process's threads.
    switches: u64,
}

/// `voluntary_ctxt_switches` + `nonvoluntary_ctxt_switches` of a `/proc/.../status`.
fn context_switches(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

/// utime + stime (fields 14 and 15) of a `/proc/.../stat` file, in clock ticks.
fn stat_ticks(path: &std::path::Path) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_string();
    let fields: Vec<&str> = text[close + 2..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// The pid of a local RabbitMQ (`beam.smp`), if there is one.
pub fn broker_pid() -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        (comm.trim() == "beam.smp").then_some(pid)
    })
}

impl CpuSample {
    /// A sample now, of `broker` (a pid) and of this process.
    pub fn take(broker: Option<u32>) -> Self {
        let broker = broker
            .and_then(|pid| stat_ticks(std::path::Path::new(&format!("/proc/{pid}/stat"))))
            .map(|(_, t)| t);
        let mut threads = BTreeMap::new();
        let mut switches = 0;
        if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
            for e in dir.flatten() {
                if let Some((name, t)) = stat_ticks(&e.path().join("stat")) {
                    // tokio numbers nothing, lapin numbers its threads: group by stem
                    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
                    *threads.entry(stem.to_string()).or_insert(0) += t;
                }
                switches += context_switches(&e.path().join("status"));
            }
        }
        CpuSample {
            broker,
            threads,
            switches,
        }
    }

    /// CPU microseconds per step between `self` and `later`, as one line.
    pub fn per_step(&self, later: &CpuSample, steps: usize) -> String {
        // USER_HZ is 100 on Linux (sysconf is not reachable without libc).
        let us = |ticks: u64| ticks as f64 * 10_000.0 / steps.max(1) as f64;
        let total = |s: &CpuSample| s.threads.values().sum::<u64>();
        let own = total(later).saturating_sub(total(self));
        let mut parts = vec![format!("bench process {:.0}", us(own))];
        if let (Some(a), Some(b)) = (self.broker, later.broker) {
            parts.insert(0, format!("broker {:.0}", us(b.saturating_sub(a))));
        }
        let mut groups: Vec<(String, u64)> = later
            .threads
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.saturating_sub(self.threads.get(k).copied().unwrap_or(0)),
                )
            })
            .filter(|(_, v)| *v > 0)
            .collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.1));
        let groups = groups
            .iter()
            .map(|(k, v)| format!("{k} {:.0}", us(*v)))
            .collect::<Vec<_>>()
            .join(", ");
        // Threads that ended in between take their switches with them: a
        // lower bound, good enough for a bench whose threads live throughout.
        let switches = later.switches.saturating_sub(self.switches) as f64 / steps.max(1) as f64;
        format!(
            "{} us of CPU per step ({groups}); {switches:.1} context switches per step",
            parts.join(", ")
        )
    }
}
