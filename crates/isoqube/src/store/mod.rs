//! The store seam: where definitions, runs, services, topics and logs live.
//!
//! Step transitions are whole operations on the seam (`claim_step`,
//! `complete_step`, ...), each atomic and conditional in the implementation, so
//! a redelivery or two instances racing on one step cannot record it twice.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::Result;
use crate::model::{
    ClaimOutcome, CompleteOutcome, Definition, FailOutcome, LogRecord, NextStep, Run, RunFilter,
    RunPage, ServiceRecord, Signal, SignalOutcome, StepKey, TopicRecord, Variables,
};

#[cfg(feature = "mongo")]
pub mod mongo;
#[cfg(any(feature = "mongo", feature = "sqlite"))]
mod run_cache;
#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(feature = "mongo")]
pub use mongo::MongoStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// How durable a store's acknowledged writes are (`[store] write_concern`;
/// MongoDB's write concern).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteDurability {
    /// `w: "majority", j: true`: acknowledged once a majority of the replica
    /// set has it in its journal (on a single server: once it is journaled).
    /// A round trip waits for the journal commit.
    #[default]
    Majority,
    /// `w: 1`: acknowledged once the primary applied it in memory. Faster; a
    /// crash of the server right after the answer can lose the write.
    Acknowledged,
}

/// The embedded store's default file (`./isoqube.db`).
pub const DEFAULT_STORE_PATH: &str = "isoqube.db";

/// The store seam. Implementations: [`SqliteStore`] (embedded default, one file)
/// and [`MongoStore`] (MongoDB).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use isoqube::{Definition, RunStore, SqliteStore};
/// let dir = std::env::temp_dir().join(format!("isoqube-doc-{}", std::process::id()));
/// let store = SqliteStore::open(&dir.join("doc.db")).await.unwrap();
/// store.create_definition(&Definition::new("release", ["Build"])).await.unwrap();
/// assert_eq!(store.list_definitions().await.unwrap().len(), 1);
/// # });
/// ```
#[async_trait]
pub trait RunStore: Send + Sync + 'static {
    /// A short name for logs (`sqlite`, `mongodb`).
    fn kind(&self) -> &'static str;
    /// Answers when the store is reachable.
    async fn ping(&self) -> Result<()>;

    /// Saves a new definition; [`crate::error::Error::Conflict`] when the name is taken.
    async fn create_definition(&self, def: &Definition) -> Result<()>;
    /// Replaces an existing definition; [`crate::error::Error::NotFound`] when there is none.
    async fn update_definition(&self, def: &Definition) -> Result<()>;
    /// One definition by name.
    async fn get_definition(&self, name: &str) -> Result<Option<Definition>>;
    /// All definitions, by name.
    async fn list_definitions(&self) -> Result<Vec<Definition>>;
    /// Deletes a definition; false when there was none.
    async fn delete_definition(&self, name: &str) -> Result<bool>;

    /// Saves a new run.
    async fn insert_run(&self, run: &Run) -> Result<()>;
    /// One run by id.
    async fn get_run(&self, id: Uuid) -> Result<Option<Run>>;
    /// Runs, newest first. A stored run that does not parse does not fail the
    /// list: it is left out of [`RunPage::runs`] and named in
    /// [`RunPage::corrupt`] (it still counts towards the page size, and the
    /// page's cursor moves past it). Only the store failing is an error.
    async fn list_runs(&self, filter: &RunFilter) -> Result<RunPage>;
    /// The ids of at most `limit` runs whose id (hyphenated, lower case)
    /// starts with `prefix`, for an operator typing a short id. The default
    /// pages through every run; the backends ask their index instead.
    async fn run_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<Uuid>> {
        let mut found = Vec::new();
        let mut filter = RunFilter {
            limit: 1000,
            ..RunFilter::default()
        };
        loop {
            let page = self.list_runs(&filter).await?;
            let ids = page.runs.iter().map(|r| r.id.to_string());
            let ids = ids.chain(page.corrupt.iter().map(|c| c.id.clone()));
            for id in ids.filter(|id| id.starts_with(prefix)) {
                // A page after a corrupt record may repeat records.
                match Uuid::parse_str(&id) {
                    Ok(id) if !found.contains(&id) => found.push(id),
                    _ => {}
                }
                if found.len() >= limit {
                    return Ok(found);
                }
            }
            match page.next {
                Some(next) => filter = filter.at(&next),
                None => return Ok(found),
            }
        }
    }
    /// See [`Run::claim`].
    async fn claim_step(&self, key: &StepKey, redelivered: bool) -> Result<ClaimOutcome>;
    /// Decides a first delivery's claim like [`claim_step`](Self::claim_step),
    /// but when the consumer may run, without recording its start: the start is
    /// recorded with the outcome by [`complete_step`](Self::complete_step) or
    /// [`fail_step`](Self::fail_step) (from [`StepKey::started_at`]), so a quick
    /// step costs one write instead of two. The decision must rest on the stored
    /// state, never on a copy another process may have changed. Returns the
    /// outcome and whether the claim was recorded; every other outcome is
    /// recorded as `claim_step` records it. The default records every claim.
    async fn claim_step_unrecorded(&self, key: &StepKey) -> Result<(ClaimOutcome, bool)> {
        Ok((self.claim_step(key, false).await?, true))
    }
    /// See [`Run::complete`].
    async fn complete_step(
        &self,
        key: &StepKey,
        patch: Variables,
        attempts: u32,
    ) -> Result<CompleteOutcome>;
    /// See [`Run::fail`].
    async fn fail_step(&self, key: &StepKey, error: &str, attempts: u32) -> Result<FailOutcome>;
    /// See [`Run::cancel`]; returns the cancelled run.
    async fn cancel_run(&self, id: Uuid) -> Result<Run>;
    /// See [`Run::cancel_and_compensate`]; returns the run and the
    /// compensations to publish.
    async fn cancel_and_compensate(&self, id: Uuid) -> Result<(Run, Vec<NextStep>)>;
    /// See [`Run::resume_with`] (`vars` merged over the run's variables,
    /// none to keep them); returns the run and the steps to publish.
    async fn resume_run(&self, id: Uuid, vars: Variables) -> Result<(Run, Vec<NextStep>)>;
    /// See [`Run::retry_later`]: the step's next attempt is due at `at`.
    async fn retry_step_later(
        &self,
        key: &StepKey,
        error: &str,
        attempts: u32,
        at: DateTime<Utc>,
    ) -> Result<Option<FailOutcome>>;
    /// See [`Run::signal`]: `signal` reaches run `id`; returns the run as
    /// written and what the signal did.
    async fn signal_run(&self, id: Uuid, signal: &Signal) -> Result<(Run, SignalOutcome)>;
    /// The ids of at most `limit` runs whose [`Run::wake_at`] is not after
    /// `now`, earliest first: one index query, whatever the number of
    /// runs waiting.
    async fn runs_to_wake(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Uuid>>;
    /// See [`Run::fire_timers`], at the store's now: one conditional write,
    /// so of two processes firing one run's timer, one changes it and the
    /// other finds nothing due. Returns the run and the steps to publish.
    async fn fire_timers(&self, id: Uuid) -> Result<(Run, Vec<NextStep>)>;
    /// See [`Run::fail_unpublished`]: the message of `next` could not be
    /// published; the step (or undo) is a failure like any other.
    async fn fail_unpublished(
        &self,
        id: Uuid,
        next: &NextStep,
        reason: &str,
    ) -> Result<FailOutcome>;

    /// Records a service instance (replacing an older record with the same id).
    async fn register_service(&self, service: &ServiceRecord) -> Result<()>;
    /// Updates a service instance's `last_seen`.
    async fn heartbeat(&self, service_id: &str, at: DateTime<Utc>) -> Result<()>;
    /// Removes a service instance (on graceful shutdown).
    async fn remove_service(&self, service_id: &str) -> Result<()>;
    /// All service instances.
    async fn list_services(&self) -> Result<Vec<ServiceRecord>>;
    /// Records events, merging their consumer lists with what is stored.
    async fn upsert_topics(&self, topics: &[TopicRecord]) -> Result<()>;
    /// All registered events, by name.
    async fn list_topics(&self) -> Result<Vec<TopicRecord>>;

    /// Claims due time `due` of schedule `key` (for the engine's scheduler):
    /// true for exactly one caller per key and due time, and only when `due` is later
    /// than the last claimed one. One conditional write.
    async fn claim_tick(&self, key: &str, due: DateTime<Utc>) -> Result<bool>;
    /// The last due time claimed for schedule `key`.
    async fn last_tick(&self, key: &str) -> Result<Option<DateTime<Utc>>>;

    /// Deletes run `id` with its log lines, only when it is finished (one
    /// conditional write: a run that is pending, running or compensating is
    /// kept, as is one that starts again meanwhile). True when it was
    /// deleted; false when there is no such run or it is not finished.
    async fn delete_run(&self, id: Uuid) -> Result<bool>;

    /// Appends step log lines.
    async fn append_logs(&self, logs: &[LogRecord]) -> Result<()>;
    /// A run's log lines in order, skipping the first `skip`.
    async fn run_logs(&self, run_id: Uuid, skip: usize) -> Result<Vec<LogRecord>>;

    /// Ends the store's connections cleanly (a process calls it before it exits;
    /// the store is not used afterwards). The default does nothing.
    async fn close(&self) -> Result<()> {
        Ok(())
    }

    /// Waits until run `id` has a version above `seen_version` and returns it, or
    /// `None` after `timeout`. The default polls; stores with change notification
    /// override it.
    async fn wait_for_change(
        &self,
        id: Uuid,
        seen_version: u64,
        timeout: Duration,
    ) -> Result<Option<Run>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(run) = self.get_run(id).await? {
                if run.version > seen_version {
                    return Ok(Some(run));
                }
            } else {
                return Err(crate::error::Error::not_found("run", id.to_string()));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The cursor of a stored run from its id and creation time as stored
/// (RFC 3339), or `None` when either does not parse (a corrupt record's may not).
#[cfg(any(feature = "mongo", feature = "sqlite"))]
/// Whether `prefix` could begin a hyphenated lower-case run id.
pub(crate) fn is_id_prefix(prefix: &str) -> bool {
    prefix
        .chars()
        .all(|c| matches!(c, '0'..='9' | 'a'..='f' | '-'))
}

pub(crate) fn run_cursor(id: &str, created_at: &str) -> Option<crate::model::RunCursor> {
    Some(crate::model::RunCursor {
        created_at: DateTime::parse_from_rfc3339(created_at)
            .ok()?
            .with_timezone(&Utc),
        id: Uuid::parse_str(id).ok()?,
    })
}

/// Merges consumer lists of topics being registered into what is stored.
#[cfg(feature = "sqlite")]
pub(crate) fn merge_topic(stored: Option<TopicRecord>, new: &TopicRecord) -> TopicRecord {
    let mut merged = new.clone();
    if let Some(old) = stored {
        for c in old.consumers {
            if !merged.consumers.contains(&c) {
                merged.consumers.push(c);
            }
        }
        merged.consumers.sort();
    }
    merged
}

/// What the builders and constructors that take a store accept: a store, or
/// one already shared (`Arc<T>`, `Arc<dyn RunStore>`), so each takes it with one method.
/// (`Into<Arc<dyn RunStore>>` cannot say this: the standard library has no
/// conversion that turns `T` into `Arc<dyn Trait>`.)
pub trait IntoStore {
    /// The store, shared.
    fn into_store(self) -> Arc<dyn RunStore>;
}

impl<T: RunStore> IntoStore for T {
    fn into_store(self) -> Arc<dyn RunStore> {
        Arc::new(self)
    }
}

impl IntoStore for Arc<dyn RunStore> {
    fn into_store(self) -> Arc<dyn RunStore> {
        self
    }
}

impl<T: RunStore> IntoStore for Arc<T> {
    fn into_store(self) -> Arc<dyn RunStore> {
        self
    }
}
