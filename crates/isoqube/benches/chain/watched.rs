//! The store wrapper of Isoqube's side: delegates every call to the real store,
//! tells [`Waiters`] the moment a run is recorded finished (so nothing polls the
//! store), and times the hot-path calls (claim, complete) as the runtime waits
//! for them. Uses Isoqube's public `RunStore` seam and [`crate::drive`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use isoqube::model::{ClaimOutcome, CompleteOutcome, FailOutcome};
use isoqube::{
    model::LogRecord, model::NextStep, model::ServiceRecord, model::StepKey, model::TopicRecord,
    Definition, Run, RunFilter, RunStore, Variables,
};
use uuid::Uuid;

use crate::drive::Waiters;

/// Delegates to the real store and tells [`Waiters`] when a run finished.
pub struct Watched {
    pub inner: Arc<dyn RunStore>,
    pub waiters: Arc<Waiters>,
    pub timing: Arc<StoreTiming>,
}

/// Time spent in the hot-path store calls, as the runtime waits for them.
#[derive(Default)]
pub struct StoreTiming {
    claim_ns: AtomicU64,
    claims: AtomicU64,
    complete_ns: AtomicU64,
    completes: AtomicU64,
}

impl StoreTiming {
    /// `[claim ns, claims, complete ns, completes]` so far.
    pub fn snapshot(&self) -> [u64; 4] {
        [
            self.claim_ns.load(Ordering::Relaxed),
            self.claims.load(Ordering::Relaxed),
            self.complete_ns.load(Ordering::Relaxed),
            self.completes.load(Ordering::Relaxed),
        ]
    }
}

#[async_trait]
impl RunStore for Watched {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn ping(&self) -> isoqube::Result<()> {
        self.inner.ping().await
    }
    async fn create_definition(&self, def: &Definition) -> isoqube::Result<()> {
        self.inner.create_definition(def).await
    }
    async fn update_definition(&self, def: &Definition) -> isoqube::Result<()> {
        self.inner.update_definition(def).await
    }
    async fn get_definition(&self, name: &str) -> isoqube::Result<Option<Definition>> {
        self.inner.get_definition(name).await
    }
    async fn list_definitions(&self) -> isoqube::Result<Vec<Definition>> {
        self.inner.list_definitions().await
    }
    async fn delete_definition(&self, name: &str) -> isoqube::Result<bool> {
        self.inner.delete_definition(name).await
    }
    async fn insert_run(&self, run: &Run) -> isoqube::Result<()> {
        self.inner.insert_run(run).await
    }
    async fn get_run(&self, id: Uuid) -> isoqube::Result<Option<Run>> {
        self.inner.get_run(id).await
    }
    async fn list_runs(&self, filter: &RunFilter) -> isoqube::Result<isoqube::model::RunPage> {
        self.inner.list_runs(filter).await
    }
    async fn delete_run(&self, id: Uuid) -> isoqube::Result<bool> {
        self.inner.delete_run(id).await
    }
    async fn claim_step(&self, key: &StepKey, redelivered: bool) -> isoqube::Result<ClaimOutcome> {
        let t = Instant::now();
        let out = self.inner.claim_step(key, redelivered).await;
        self.timing
            .claim_ns
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.timing.claims.fetch_add(1, Ordering::Relaxed);
        out
    }
    async fn claim_step_unrecorded(&self, key: &StepKey) -> isoqube::Result<(ClaimOutcome, bool)> {
        let t = Instant::now();
        let out = self.inner.claim_step_unrecorded(key).await;
        self.timing
            .claim_ns
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.timing.claims.fetch_add(1, Ordering::Relaxed);
        out
    }
    async fn complete_step(
        &self,
        key: &StepKey,
        patch: Variables,
        attempts: u32,
    ) -> isoqube::Result<CompleteOutcome> {
        let t = Instant::now();
        let out = self.inner.complete_step(key, patch, attempts).await;
        self.timing
            .complete_ns
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.timing.completes.fetch_add(1, Ordering::Relaxed);
        if let Ok(CompleteOutcome::Finished) = &out {
            self.waiters.finish(key.run_id, true);
        }
        out
    }
    async fn fail_step(
        &self,
        key: &StepKey,
        error: &str,
        attempts: u32,
    ) -> isoqube::Result<FailOutcome> {
        let out = self.inner.fail_step(key, error, attempts).await;
        if let Ok(FailOutcome::RunFailed) = &out {
            self.waiters.finish(key.run_id, false);
        }
        out
    }
    async fn cancel_run(&self, id: Uuid) -> isoqube::Result<Run> {
        self.inner.cancel_run(id).await
    }
    async fn cancel_and_compensate(&self, id: Uuid) -> isoqube::Result<(Run, Vec<NextStep>)> {
        self.inner.cancel_and_compensate(id).await
    }
    async fn resume_run(
        &self,
        id: Uuid,
        vars: isoqube::Variables,
    ) -> isoqube::Result<(Run, Vec<NextStep>)> {
        self.inner.resume_run(id, vars).await
    }
    async fn retry_step_later(
        &self,
        key: &isoqube::model::StepKey,
        error: &str,
        attempts: u32,
        at: chrono::DateTime<chrono::Utc>,
    ) -> isoqube::Result<Option<isoqube::model::FailOutcome>> {
        self.inner.retry_step_later(key, error, attempts, at).await
    }
    async fn signal_run(
        &self,
        id: Uuid,
        signal: &isoqube::model::Signal,
    ) -> isoqube::Result<(Run, isoqube::model::SignalOutcome)> {
        self.inner.signal_run(id, signal).await
    }
    async fn runs_to_wake(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> isoqube::Result<Vec<Uuid>> {
        self.inner.runs_to_wake(now, limit).await
    }
    async fn fire_timers(&self, id: Uuid) -> isoqube::Result<(Run, Vec<NextStep>)> {
        self.inner.fire_timers(id).await
    }
    async fn fail_unpublished(
        &self,
        id: Uuid,
        next: &NextStep,
        reason: &str,
    ) -> isoqube::Result<FailOutcome> {
        let out = self.inner.fail_unpublished(id, next, reason).await;
        if let Ok(FailOutcome::RunFailed) = &out {
            self.waiters.finish(id, false);
        }
        out
    }
    async fn register_service(&self, service: &ServiceRecord) -> isoqube::Result<()> {
        self.inner.register_service(service).await
    }
    async fn heartbeat(&self, service_id: &str, at: DateTime<Utc>) -> isoqube::Result<()> {
        self.inner.heartbeat(service_id, at).await
    }
    async fn remove_service(&self, service_id: &str) -> isoqube::Result<()> {
        self.inner.remove_service(service_id).await
    }
    async fn list_services(&self) -> isoqube::Result<Vec<ServiceRecord>> {
        self.inner.list_services().await
    }
    async fn upsert_topics(&self, topics: &[TopicRecord]) -> isoqube::Result<()> {
        self.inner.upsert_topics(topics).await
    }
    async fn list_topics(&self) -> isoqube::Result<Vec<TopicRecord>> {
        self.inner.list_topics().await
    }
    async fn claim_tick(&self, key: &str, due: DateTime<Utc>) -> isoqube::Result<bool> {
        self.inner.claim_tick(key, due).await
    }
    async fn last_tick(&self, key: &str) -> isoqube::Result<Option<DateTime<Utc>>> {
        self.inner.last_tick(key).await
    }
    async fn append_logs(&self, logs: &[LogRecord]) -> isoqube::Result<()> {
        self.inner.append_logs(logs).await
    }
    async fn run_logs(&self, run_id: Uuid, skip: usize) -> isoqube::Result<Vec<LogRecord>> {
        self.inner.run_logs(run_id, skip).await
    }
    async fn wait_for_change(
        &self,
        id: Uuid,
        seen_version: u64,
        timeout: Duration,
    ) -> isoqube::Result<Option<Run>> {
        self.inner.wait_for_change(id, seen_version, timeout).await
    }
}
