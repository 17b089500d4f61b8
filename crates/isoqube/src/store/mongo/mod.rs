//! The MongoDB store: definitions, runs, services, topics and logs in one
//! database (default `isoqube`) on the official `mongodb` driver.
//!
//! This module is the face: the [`MongoStore`] handle and its [`RunStore`]
//! implementation, each operation delegated to the module that does that job:
//!
//! * `options`: [`MongoOptions`], the URL and database environment variables
//!   and defaults, the database name's rules;
//! * `connect`: the client, the collections and their indexes;
//! * `codec`: documents and records (the serde shape as BSON, `_id` and the
//!   store's own fields, a document that does not parse as
//!   [`Error::Corrupt`](crate::error::Error::Corrupt));
//! * `runs`: runs and their transitions, conditional writes on the run's
//!   `version` (optimistic concurrency) with a cache of run documents;
//! * `records`: definitions, service instances, topics, schedule ticks;
//! * `logs`: step log lines, numbered per run, expired by a TTL index;
//! * `watch`: waiting for a run to change (change streams, else polling);
//! * `errors`: driver errors as the crate's errors, password scrubbed.
//!
//! May use (all of it): the seam ([`RunStore`]), the model, the crate's errors,
//! the redaction of secrets, the shared run cache, the `mongodb` driver.
//!
//! # Round trips
//!
//! A step costs **2 round trips** when one process handles consecutive steps
//! of a run: `claim_step` and `complete_step` are one conditional write each,
//! on the run document this store last wrote or read (at most
//! [`MongoOptions::run_cache_capacity`] runs). A run last changed by another
//! process costs one more (the write that misses, then a read and a write). The
//! `runs` module has the details; `docs/MONGO_ROUND_TRIPS.md` the
//! measurements.
//!
//! # Outages
//!
//! Every driver failure maps to [`Error::Store`](crate::error::Error::Store), which
//! [`Error::is_transient`](crate::error::Error::is_transient) reports as transient,
//! so the runtime retries or requeues. The client's server selection timeout
//! is short (default 5 s, see [`MongoOptions`]) so every call fails in bounded
//! time while the server is away.
//!
//! # Credentials
//!
//! The URL may carry a user and password (and TLS options, e.g.
//! `mongodb+srv://user:pass@cluster/?tls=true`). Neither [`MongoStore`]'s
//! `Debug`, its logs nor its errors show the password: the URL is shown as
//! [`redact_url`] prints it (`user:***@host`), and driver messages are scrubbed
//! of the password before they become errors.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mongodb::bson::{doc, Document};
use mongodb::{Collection, Database};
use uuid::Uuid;

use super::run_cache::RunCache;
use super::RunStore;
use crate::error::Result;
use crate::model::{
    ClaimOutcome, CompleteOutcome, Definition, FailOutcome, LogRecord, NextStep, Run, RunFilter,
    RunPage, ServiceRecord, Signal, SignalOutcome, StepKey, TopicRecord, Variables,
};
use crate::redact::Secrets;

mod codec;
mod connect;
mod errors;
mod logs;
mod options;
mod records;
mod runs;
#[cfg(test)]
mod tests;
mod watch;

pub use self::options::{
    MongoOptions, WriteDurability, DATABASE_ENV, DEFAULT_DATABASE, DEFAULT_RUN_CACHE_CAPACITY,
    DEFAULT_URL, URL_ENV,
};
pub use crate::redact::redact_url;

/// The MongoDB store. Cloning shares the client (and its connection pool).
///
/// ```no_run
/// # async fn demo() -> isoqube::Result<()> {
/// use isoqube::{MongoStore, RunStore};
/// let store = MongoStore::connect("mongodb://127.0.0.1:27017", "isoqube").await?;
/// store.ping().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MongoStore {
    db: Database,
    runs: Collection<Document>,
    definitions: Collection<Document>,
    services: Collection<Document>,
    topics: Collection<Document>,
    logs: Collection<Document>,
    counters: Collection<Document>,
    redacted_url: Arc<str>,
    secrets: Arc<Secrets>,
    /// Whether the server has change streams (see `watch`).
    change_streams: Arc<AtomicU8>,
    /// Callers in this process take turns on a run (see `runs`).
    run_locks: Arc<std::sync::Mutex<HashMap<Uuid, Weak<tokio::sync::Mutex<()>>>>>,
    /// The last document written or read of each run in flight (see `runs`).
    run_cache: Arc<std::sync::Mutex<RunCache<Document>>>,
}

impl fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MongoStore")
            .field("url", &&*self.redacted_url)
            .field("database", &self.db.name())
            .finish()
    }
}

#[async_trait]
impl RunStore for MongoStore {
    fn kind(&self) -> &'static str {
        "mongodb"
    }

    async fn ping(&self) -> Result<()> {
        self.db
            .run_command(doc! {"ping": 1})
            .await
            .map(|_| ())
            .map_err(|e| self.err("ping", e))
    }

    async fn create_definition(&self, def: &Definition) -> Result<()> {
        records::create_definition(self, def).await
    }

    async fn update_definition(&self, def: &Definition) -> Result<()> {
        records::update_definition(self, def).await
    }

    async fn get_definition(&self, name: &str) -> Result<Option<Definition>> {
        records::get_definition(self, name).await
    }

    async fn list_definitions(&self) -> Result<Vec<Definition>> {
        records::list_definitions(self).await
    }

    async fn delete_definition(&self, name: &str) -> Result<bool> {
        records::delete_definition(self, name).await
    }

    async fn insert_run(&self, run: &Run) -> Result<()> {
        runs::insert_run(self, run).await
    }

    async fn get_run(&self, id: Uuid) -> Result<Option<Run>> {
        self.find_run(&id.to_string()).await
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<RunPage> {
        runs::list_runs(self, filter).await
    }

    async fn delete_run(&self, id: Uuid) -> Result<bool> {
        runs::delete_run(self, id).await
    }

    async fn run_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<Uuid>> {
        runs::run_ids_with_prefix(self, prefix, limit).await
    }

    async fn claim_step(&self, key: &StepKey, redelivered: bool) -> Result<ClaimOutcome> {
        Ok(self
            .mutate_run(key.run_id, |run| run.claim(key, redelivered, Utc::now()))
            .await?
            .1)
    }

    /// One read instead of a write when the step may run: the run as stored
    /// decides, and is cached so that recording the outcome is one
    /// conditional write on exactly that document.
    async fn claim_step_unrecorded(&self, key: &StepKey) -> Result<(ClaimOutcome, bool)> {
        runs::claim_step_unrecorded(self, key).await
    }

    async fn complete_step(
        &self,
        key: &StepKey,
        patch: Variables,
        attempts: u32,
    ) -> Result<CompleteOutcome> {
        Ok(self
            .mutate_run(key.run_id, |run| {
                run.complete(key, patch.clone(), attempts, Utc::now())
            })
            .await?
            .1)
    }

    async fn fail_step(&self, key: &StepKey, error: &str, attempts: u32) -> Result<FailOutcome> {
        Ok(self
            .mutate_run(key.run_id, |run| run.fail(key, error, attempts, Utc::now()))
            .await?
            .1)
    }

    async fn cancel_run(&self, id: Uuid) -> Result<Run> {
        Ok(self.mutate_run(id, |run| run.cancel(Utc::now())).await?.0)
    }

    async fn cancel_and_compensate(&self, id: Uuid) -> Result<(Run, Vec<NextStep>)> {
        self.mutate_run(id, |run| run.cancel_and_compensate(Utc::now()))
            .await
    }

    async fn resume_run(&self, id: Uuid, vars: Variables) -> Result<(Run, Vec<NextStep>)> {
        self.mutate_run(id, |run| run.resume_with(&vars, Utc::now()))
            .await
    }

    async fn retry_step_later(
        &self,
        key: &StepKey,
        error: &str,
        attempts: u32,
        at: DateTime<Utc>,
    ) -> Result<Option<FailOutcome>> {
        Ok(self
            .mutate_run(key.run_id, |run| {
                run.retry_later(key, error, attempts, at, Utc::now())
            })
            .await?
            .1)
    }

    async fn signal_run(&self, id: Uuid, signal: &Signal) -> Result<(Run, SignalOutcome)> {
        self.mutate_run(id, |run| run.signal(signal, Utc::now()))
            .await
    }

    async fn runs_to_wake(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Uuid>> {
        runs::runs_to_wake(self, now, limit).await
    }

    async fn fire_timers(&self, id: Uuid) -> Result<(Run, Vec<NextStep>)> {
        self.mutate_run(id, |run| Ok(run.fire_timers(Utc::now())))
            .await
    }

    async fn fail_unpublished(
        &self,
        id: Uuid,
        next: &NextStep,
        reason: &str,
    ) -> Result<FailOutcome> {
        Ok(self
            .mutate_run(id, |run| run.fail_unpublished(next, reason, Utc::now()))
            .await?
            .1)
    }

    async fn register_service(&self, service: &ServiceRecord) -> Result<()> {
        records::register_service(self, service).await
    }

    async fn heartbeat(&self, service_id: &str, at: DateTime<Utc>) -> Result<()> {
        records::heartbeat(self, service_id, at).await
    }

    async fn remove_service(&self, service_id: &str) -> Result<()> {
        records::remove_service(self, service_id).await
    }

    async fn close(&self) -> Result<()> {
        // Ends the server sessions now: left to `Drop`, the driver spawns that
        // work on a runtime that may be shutting down (and panics there).
        self.db.client().clone().shutdown().immediate(true).await;
        Ok(())
    }

    async fn claim_tick(&self, key: &str, due: DateTime<Utc>) -> Result<bool> {
        records::claim_tick(self, key, due).await
    }

    async fn last_tick(&self, key: &str) -> Result<Option<DateTime<Utc>>> {
        records::last_tick(self, key).await
    }

    async fn list_services(&self) -> Result<Vec<ServiceRecord>> {
        records::list_services(self).await
    }

    async fn upsert_topics(&self, topics: &[TopicRecord]) -> Result<()> {
        records::upsert_topics(self, topics).await
    }

    async fn list_topics(&self) -> Result<Vec<TopicRecord>> {
        records::list_topics(self).await
    }

    async fn append_logs(&self, logs: &[LogRecord]) -> Result<()> {
        logs::append_logs(self, logs).await
    }

    async fn run_logs(&self, run_id: Uuid, skip: usize) -> Result<Vec<LogRecord>> {
        logs::run_logs(self, run_id, skip).await
    }

    /// Watches the run's document with a change stream (one per call, filtered by
    /// `_id`); falls back to polling when the server has no change streams (a
    /// standalone `mongod`).
    async fn wait_for_change(
        &self,
        id: Uuid,
        seen_version: u64,
        timeout: Duration,
    ) -> Result<Option<Run>> {
        watch::wait_for_change(self, id, seen_version, timeout).await
    }
}
