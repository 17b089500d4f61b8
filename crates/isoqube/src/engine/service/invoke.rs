//! Engine layer: running a consumer with its retry policy (panics caught as
//! failures, an attempt past the step's timeout dropped and failed, each
//! attempt with its own step context), and store operations
//! retried for the service's patience while the store is unavailable.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tracing::{info, warn};
use uuid::Uuid;

use crate::consumer::HandlerError;
use crate::context::{ContextParts, StepContext};
use crate::engine::telemetry::LIFECYCLE;
use crate::error::Result;
use crate::model::Variables;
use crate::wire::envelope::Incoming;
use crate::wire::lineage::{Parent, Request};

use super::Endpoint;

/// What a consumer invocation for a run's step knows of the step.
pub(super) struct RunStep {
    pub run_id: Uuid,
    pub step: usize,
    pub step_count: usize,
    /// The longest one attempt may run.
    pub timeout: Option<Duration>,
    /// Turns true when the run is cancelled meanwhile.
    pub cancel: tokio::sync::watch::Receiver<bool>,
    /// For a compensation: the name of the step it undoes.
    pub compensates: Option<String>,
    /// The broker redelivered the message (an earlier handling of it did not
    /// finish).
    pub redelivered: bool,
    /// Attempts of the current retry budget used before this delivery
    /// (lost with their process, or retried later).
    pub used: u32,
    /// A retry further off than this is not waited for in memory: the
    /// invocation ends and says when ([`Endpoint::invoke`]). `None`: every
    /// retry waits in memory (a compensation's).
    pub durable_after: Option<Duration>,
}

/// The step log's line for an attempt after the step's first (numbered
/// `attempt` over all its handlings; `in_this_delivery` counts this
/// handling's own): why the step runs again, so an operator reading the run's
/// log needs no broker log to tell a retry from a redelivery or a resume.
fn started_again(attempt: u32, in_this_delivery: u32, redelivered: bool) -> String {
    let why = if in_this_delivery > 1 {
        "a retry: the attempt before failed"
    } else if redelivered {
        "redelivered by the broker (the previous handler's process stopped, its channel \
         closed or its service shut down before it acknowledged)"
    } else {
        "the step runs again (the run was resumed, or its message requeued)"
    };
    format!("step started, attempt {attempt}: {why}")
}

impl Endpoint {
    /// Runs the consumer with its retry policy; returns the outcome, the number of
    /// invocations, the variables the successful attempt set, and, when it
    /// failed with a retry due further off than the step's `durable_after`,
    /// how far off (the caller has the store's timer run it). An attempt
    /// that runs past `timeout` is dropped (its future is not polled again)
    /// and counts as a failed, retryable attempt.
    pub(super) async fn invoke(
        &self,
        env: &Incoming<'_>,
        run_step: Option<RunStep>,
        variables: Variables,
        prior: u32,
    ) -> (Result<(), HandlerError>, u32, Variables, Option<Duration>) {
        let timeout = run_step.as_ref().and_then(|r| r.timeout);
        let policy = self.retry;
        let used = run_step.as_ref().map_or(0, |r| r.used);
        let durable_after = run_step.as_ref().and_then(|r| r.durable_after);
        let max = policy.max_attempts().saturating_sub(used).max(1);
        let started = Instant::now();
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let ctx = StepContext::new(ContextParts {
                run_id: run_step.as_ref().map(|r| r.run_id),
                step: run_step.as_ref().map(|r| r.step),
                step_count: run_step.as_ref().map(|r| r.step_count),
                attempt: prior + attempt,
                redelivery_count: env.redelivery_count,
                endpoint: self.name.clone(),
                instance: self.shared.instance.clone(),
                variables: variables.clone(),
                parent: Parent::consumed(env, &self.name),
                publisher: Some(self.events.clone()),
                cancel: run_step.as_ref().map(|r| r.cancel.clone()),
                request: Request::of(env),
                compensates: run_step.as_ref().and_then(|r| r.compensates.clone()),
                compensates_event: run_step
                    .as_ref()
                    .and(env.compensates_event())
                    .map(str::to_string),
            });
            if prior + attempt > 1 {
                let redelivered = run_step.as_ref().is_some_and(|r| r.redelivered);
                info!("{}", started_again(prior + attempt, attempt, redelivered));
            } else {
                info!(target: LIFECYCLE, attempt = 1, "step started");
            }
            let fut =
                AssertUnwindSafe((self.reg.handler)(&env.message, ctx.clone())).catch_unwind();
            let caught = match timeout {
                None => fut.await,
                Some(limit) => match tokio::time::timeout(limit, fut).await {
                    Ok(caught) => caught,
                    Err(_) => Ok(Err(HandlerError::new(
                        "isoqube::StepTimeout",
                        format!("the attempt ran past the step's timeout of {limit:?}"),
                        true,
                    ))),
                },
            };
            let result = match caught {
                Ok(r) => r,
                Err(panic) => {
                    let text = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "consumer panicked".into());
                    Err(HandlerError::new("panic", text, true))
                }
            };
            if result.is_err() {
                self.metrics.record_failed_attempt();
            }
            match result {
                Ok(()) => break (Ok(()), attempt, ctx.take_patch(), None),
                // A cancelled run's step is not tried again.
                Err(e) if !e.retryable || attempt >= max || ctx.is_cancelled() => {
                    break (Err(e), attempt, Variables::new(), None)
                }
                Err(e) => {
                    self.metrics.record_retry();
                    let delay = policy.delay(used + attempt);
                    if durable_after.is_some_and(|after| delay > after) {
                        break (Err(e), attempt, Variables::new(), Some(delay));
                    }
                    warn!(
                        attempt = prior + attempt,
                        "attempt failed, retrying in {delay:?}: {e}"
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        };
        self.metrics.observe_step(started.elapsed());
        outcome
    }

    /// Retries a store operation on transient errors for the configured patience.
    pub(super) async fn store_op<T, F, Fut>(&self, what: &str, op: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let deadline = Instant::now() + self.shared.store_patience;
        let mut delay = Duration::from_millis(100);
        loop {
            match op().await {
                Err(e) if e.is_transient() && Instant::now() + delay < deadline => {
                    warn!("could not {what}, retrying in {delay:?}: {e}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }
}
