//! Simulated work: a delay, optional failure injection, all driven by run
//! variables so an operator can shape a run from the control center.
//!
//! - `work_ms` (default 150): how long each step works, ±50 %.
//! - `fail_step`: an event name (or a list) whose consumer always fails.
//! - `fail_rate`: 0.0–1.0, the chance that any attempt fails.
//!
//! Randomness is a hash of run, step and attempt, so a run replays the same way.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use isoqube::StepContext;
use serde_json::Value;

/// Default simulated work per step.
pub const DEFAULT_WORK_MS: u64 = 150;

fn roll(ctx: &StepContext, salt: &str) -> f64 {
    let mut h = DefaultHasher::new();
    ctx.run_id().hash(&mut h);
    ctx.step().hash(&mut h);
    ctx.attempt().hash(&mut h);
    salt.hash(&mut h);
    (h.finish() % 10_000) as f64 / 10_000.0
}

/// Whether `event` is named by the `fail_step` variable.
pub fn is_failure_target(ctx: &StepContext, event: &str) -> bool {
    match ctx.vars().get("fail_step") {
        Some(Value::String(s)) => s == event,
        Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(event)),
        _ => false,
    }
}

/// Does the simulated work of `event`, failing when asked to.
pub async fn work(ctx: &StepContext, event: &str) -> anyhow::Result<()> {
    let base = ctx.var_opt::<u64>("work_ms").unwrap_or(DEFAULT_WORK_MS);
    let jitter = 0.5 + roll(ctx, "delay");
    let ms = (base as f64 * jitter) as u64;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    if is_failure_target(ctx, event) {
        anyhow::bail!("{event} failed: injected failure (fail_step)");
    }
    let rate = ctx.var_opt::<f64>("fail_rate").unwrap_or(0.0);
    if rate > 0.0 && roll(ctx, "fail") < rate {
        anyhow::bail!("{event} failed: injected failure (fail_rate {rate})");
    }
    Ok(())
}

/// A short, stable pseudo commit id for a repository, branch and run.
pub fn commit_id(repository: &str, branch: &str, run: &str) -> String {
    let mut h = DefaultHasher::new();
    (repository, branch, run).hash(&mut h);
    format!("{:016x}", h.finish())[..12].to_string()
}
