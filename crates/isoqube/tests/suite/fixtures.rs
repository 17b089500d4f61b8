//! The suite's events and consumers, and the knobs a run's variables turn
//! (`sleep_ms.<endpoint>`, `fail_times.<endpoint>`): who ran, how often, at
//! which attempt.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use isoqube::{consumer, event, StepContext};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// First step of the test chain.
#[event]
#[derive(Serialize, Deserialize)]
pub struct Alpha {
    #[serde(default)]
    pub sleep_ms: Value,
}

/// Second step of the test chain.
#[event(description = "second")]
#[derive(Serialize, Deserialize)]
pub struct Beta {}

/// Third step of the test chain.
#[event(exchange = "suite-gamma")]
#[derive(Serialize, Deserialize)]
pub struct Gamma {}

/// An event two endpoints consume.
#[event]
#[derive(Serialize, Deserialize)]
pub struct Fan {}

/// An extra event a consumer publishes outside the chain.
#[event]
#[derive(Serialize, Deserialize)]
pub struct Notice {
    pub text: String,
}

// ---------------------------------------------------------------- behaviour knobs

pub(super) type Calls = Mutex<HashMap<(Uuid, String), Vec<String>>>;

pub(super) fn calls() -> &'static Calls {
    static CALLS: OnceLock<Calls> = OnceLock::new();
    CALLS.get_or_init(Default::default)
}

pub(super) type Attempts = Mutex<HashMap<(Uuid, String), Vec<u32>>>;

/// `ctx.attempt()` of each invocation, per run and endpoint.
pub(super) fn attempts_seen() -> &'static Attempts {
    static ATTEMPTS: OnceLock<Attempts> = OnceLock::new();
    ATTEMPTS.get_or_init(Default::default)
}

/// Records an invocation: by which service instance, at which attempt.
pub fn record_call(ctx: &StepContext) {
    let run = ctx.run_id().unwrap_or_default();
    let ep = ctx.endpoint().to_string();
    calls()
        .lock()
        .unwrap()
        .entry((run, ep.clone()))
        .or_default()
        .push(ctx.service_instance().to_string());
    attempts_seen()
        .lock()
        .unwrap()
        .entry((run, ep.clone()))
        .or_default()
        .push(ctx.attempt());
}

/// Records an invocation (by service instance) and applies the knobs in the run
/// variables: `sleep_ms.<endpoint>`, `fail_times.<endpoint>`.
pub(super) async fn behave(ctx: &StepContext) -> anyhow::Result<()> {
    record_call(ctx);
    let ep = ctx.endpoint().to_string();
    let vars = ctx.vars();
    if let Some(ms) = vars
        .get("sleep_ms")
        .and_then(|m| m.get(&ep))
        .and_then(Value::as_u64)
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(n) = vars
        .get("fail_times")
        .and_then(|m| m.get(&ep))
        .and_then(Value::as_u64)
    {
        if u64::from(ctx.attempt()) <= n {
            anyhow::bail!("{ep} fails on purpose (attempt {})", ctx.attempt());
        }
    }
    tracing::info!("{ep} did its work");
    Ok(())
}

/// How many times `endpoint` ran for `run`.
pub fn call_count(run: Uuid, endpoint: &str) -> usize {
    calls()
        .lock()
        .unwrap()
        .get(&(run, endpoint.to_string()))
        .map_or(0, Vec::len)
}

pub(super) fn callers(run: Uuid, endpoint: &str) -> Vec<String> {
    calls()
        .lock()
        .unwrap()
        .get(&(run, endpoint.to_string()))
        .cloned()
        .unwrap_or_default()
}

/// A step retried a second later (a durable retry, when its service says so).
#[event]
#[derive(Serialize, Deserialize)]
pub struct Tardy {}

#[consumer(service = "suite", retry = interval(attempts = 3, every = "1s"))]
async fn tardy(_ev: Tardy, ctx: StepContext) -> anyhow::Result<()> {
    behave(&ctx).await
}

/// A step that never ends by itself (a test takes its process down).
#[event]
#[derive(Serialize, Deserialize)]
pub struct Crasher {}

#[consumer(service = "suite")]
async fn crasher(_ev: Crasher, ctx: StepContext) -> anyhow::Result<()> {
    record_call(&ctx);
    tokio::time::sleep(Duration::from_secs(600)).await;
    Ok(())
}

#[consumer(service = "suite")]
async fn alpha(_ev: Alpha, ctx: StepContext) -> anyhow::Result<()> {
    behave(&ctx).await?;
    ctx.set("from_alpha", "a1")?;
    Ok(())
}

#[consumer(service = "suite", retry = immediate(attempts = 4))]
async fn beta(_ev: Beta, ctx: StepContext) -> anyhow::Result<()> {
    let from_alpha: String = ctx.var("from_alpha")?;
    behave(&ctx).await?;
    ctx.set("from_beta", format!("{from_alpha}+b"))?;
    Ok(())
}

#[consumer(service = "suite", endpoint = "gamma-endpoint", retry = interval(attempts = 2, every = "10ms"))]
async fn gamma(_ev: Gamma, ctx: StepContext) -> anyhow::Result<()> {
    behave(&ctx).await?;
    let chain: String = ctx.var("from_beta").unwrap_or_else(|_| "none".into());
    ctx.set("chain", chain)?;
    ctx.publish(&Notice {
        text: "gamma done".into(),
    })
    .await?;
    Ok(())
}

#[consumer(service = "fan")]
async fn fan_a(_ev: Fan, ctx: StepContext) -> anyhow::Result<()> {
    behave(&ctx).await?;
    ctx.set("fan_a", true)?;
    Ok(())
}

#[consumer(service = "fan")]
async fn fan_b_consumer(_ev: Fan, ctx: StepContext) -> anyhow::Result<()> {
    behave(&ctx).await
}

#[consumer(service = "notices")]
async fn notice(ev: Notice) -> Result<(), std::io::Error> {
    if ev.text.is_empty() {
        return Err(std::io::Error::other("empty notice"));
    }
    Ok(())
}
