//! What the store thread owns, and the statements of a run transition: the
//! connection, the run cache, and the rule of a transition applied to the
//! cached run or a fresh read; plus the row and document helpers every
//! operation uses.
//!
//! May use: the model's run rules, the crate's errors, the shared run cache,
//! this store's checkpoints, `rusqlite`.
//!
//! # Step transitions and the run cache
//!
//! The rules of a run live in [`crate::model::Run`]. A transition reads the
//! run's document, applies the rule in memory and writes the document back,
//! inside the write transaction, so nothing else (no other process sharing the
//! file) can change the run in between.
//!
//! The store keeps, for each run in flight, the run as it last wrote it (and
//! the JSON of its steps; at most [`RUN_CACHE_CAPACITY`](super::RUN_CACHE_CAPACITY) runs, oldest dropped
//! first, a finished run dropped). Each row carries the `version` of the run
//! it holds in a `rev` column. A transition first applies the rule to the
//! cached run and writes the result with
//! `UPDATE runs ... WHERE id = ? AND rev = <the cached run's version>`: if that
//! matches, the stored run is exactly the cached one, so the outcome is the one
//! a fresh read would have given, without the read and the JSON parse. If it
//! matches nothing (another process, or another store handle on the same
//! file, changed the run), the transition is decided again on a fresh read, as
//! without a cache. A stale cache entry can therefore only cost time, never a
//! wrong outcome. A rolled-back transaction empties the cache, since the runs
//! it holds were never stored. A claim decided without writing (see
//! `RunStore::claim_step_unrecorded`) reads the row's `rev` to compare, unless
//! the cached run is known to be the stored one (no other connection has
//! committed since it was last checked: the `cache` module says how that is
//! known); then the claim is decided without touching the table, and even
//! without the store thread. Every process sharing a file must write `rev`
//! (this version of Isoqube or a later one): a build from before the column
//! writes the document alone, which a cache here would not notice. (A trigger
//! that reset `rev` on such writes made every run write open a statement
//! journal: ~10 % more CPU on the store thread in the chain bench.)

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::checkpoint::Checkpoints;
use crate::error::{Error, Result};
use std::sync::{Arc, MutexGuard};

use super::cache::{CachedRun, Runs, SharedRuns};
use crate::model::{ClaimOutcome, KeptSteps, Run, RunStatus, StepKey};

/// What the connection's thread owns.
pub(super) struct Db {
    pub(super) conn: Connection,
    /// The run cache, shared with the store's handles.
    pub(super) runs: Arc<SharedRuns>,
    /// `PRAGMA data_version` when the current transaction began, and at the
    /// one before: equal, no other connection committed in between.
    data_version: Option<i64>,
    pub(super) checkpoints: Checkpoints,
}

/// A run's version as stored in `rev` (SQLite has no unsigned integers).
pub(super) fn rev(run: &Run) -> Result<i64> {
    i64::try_from(run.version)
        .map_err(|_| Error::Store(format!("run {}: version out of range", run.id)))
}

impl Db {
    /// The store thread's state for `conn`, with an empty run cache.
    pub(super) fn new(conn: Connection, checkpoints: Checkpoints, runs: Arc<SharedRuns>) -> Self {
        Db {
            conn,
            runs,
            data_version: None,
            checkpoints,
        }
    }

    /// The run cache (held only briefly: the store's handles read it too).
    pub(super) fn runs(&self) -> MutexGuard<'_, Runs> {
        self.runs.lock()
    }

    /// Runs a transaction statement, prepared once (`execute_batch` parses
    /// the text again every time, several times per group).
    pub(super) fn transaction(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.execute([]).map(|_| ())
    }

    /// Begins the group's write transaction and finds out whether another
    /// connection (another process, or another store handle on the file)
    /// committed since this one last looked: `PRAGMA data_version` changes
    /// only then. If one did, cached runs may be stale until checked (see
    /// the `cache` module).
    pub(super) fn begin(&mut self) -> rusqlite::Result<()> {
        self.transaction("BEGIN IMMEDIATE")?;
        let now: Option<i64> = self
            .conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut st| st.query_row([], |r| r.get(0)))
            .ok();
        let alone = now.is_some() && now == self.data_version;
        self.data_version = now;
        self.runs().opened(alone);
        Ok(())
    }

    /// Ends the group's transaction with `sql` (`COMMIT` or `ROLLBACK`); the
    /// cache stops vouching for runs first, since other connections may
    /// commit once it has ended.
    pub(super) fn end(&self, sql: &str) -> rusqlite::Result<()> {
        self.runs().closing();
        self.transaction(sql)
    }

    /// Applies a transition to one run (inside the thread's write
    /// transaction): first to the cached run, written only if the stored
    /// run is still the cached one; otherwise (or when the cached try
    /// fails) to a fresh read. See the module docs.
    pub(super) fn mutate_run<T>(
        &mut self,
        id: Uuid,
        mut f: impl FnMut(&mut Run) -> Result<T>,
    ) -> Result<T> {
        let key = id.to_string();
        let cached = self.runs().take(id);
        if let Some(CachedRun {
            mut run, mut steps, ..
        }) = cached
        {
            let seen = rev(&run)?;
            let was = (run.status, run.wake_at);
            if let Ok(out) = f(&mut run) {
                let doc = run.to_json_keeping(&mut steps);
                if self.write_run(&key, &run, &doc, was, Some(seen))? {
                    self.runs().wrote(run, steps);
                    return Ok(out);
                }
            }
            // Stale (or the rule refused the cached copy): decide on a fresh read.
        }
        // One read and one write: no savepoint needed, a failed write
        // changes nothing.
        let doc = self
            .stored_doc(&key)?
            .ok_or_else(|| Error::not_found("run", key.clone()))?;
        let mut run: Run = from_doc("runs", &key, &doc)?;
        let was = (run.status, run.wake_at);
        let out = f(&mut run)?;
        let mut steps = KeptSteps::default();
        let doc = run.to_json_keeping(&mut steps);
        self.write_run(&key, &run, &doc, was, None)?;
        self.runs().wrote(run, steps);
        Ok(out)
    }

    /// Writes `run` as `doc`, only over revision `seen` when given; says whether
    /// a row was written. The status and wake columns (and their indexes) are
    /// written only when they changed from `was`.
    fn write_run(
        &self,
        key: &str,
        run: &Run,
        doc: &str,
        (was, was_wake): (RunStatus, Option<DateTime<Utc>>),
        seen: Option<i64>,
    ) -> Result<bool> {
        let rev = rev(run)?;
        let status = (run.status != was).then(|| run.status.as_str());
        let n = match (status, seen) {
            (None, Some(seen)) => self
                .conn
                .prepare_cached("UPDATE runs SET doc = ?2, rev = ?3 WHERE id = ?1 AND rev = ?4")
                .and_then(|mut st| st.execute(params![key, doc, rev, seen])),
            (Some(status), Some(seen)) => self
                .conn
                .prepare_cached(
                    "UPDATE runs SET doc = ?2, rev = ?3, status = ?5 WHERE id = ?1 AND rev = ?4",
                )
                .and_then(|mut st| st.execute(params![key, doc, rev, seen, status])),
            (None, None) => self
                .conn
                .prepare_cached("UPDATE runs SET doc = ?2, rev = ?3 WHERE id = ?1")
                .and_then(|mut st| st.execute(params![key, doc, rev])),
            (Some(status), None) => self
                .conn
                .prepare_cached("UPDATE runs SET doc = ?2, rev = ?3, status = ?4 WHERE id = ?1")
                .and_then(|mut st| st.execute(params![key, doc, rev, status])),
        }
        .map_err(db_err)?;
        if n == 1 && run.wake_at != was_wake {
            self.conn
                .prepare_cached("UPDATE runs SET wake_ms = ?2 WHERE id = ?1")
                .and_then(|mut st| st.execute(params![key, wake_ms(run)]))
                .map_err(db_err)?;
        }
        Ok(n == 1)
    }

    fn stored_doc(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .prepare_cached("SELECT doc FROM runs WHERE id = ?1")
            .and_then(|mut st| st.query_row([key], |r| r.get(0)).optional())
            .map_err(db_err)
    }

    /// [`Run::peek_claim`] on the stored run: the cached copy when the stored
    /// run is still the one it was written as (its `rev` read by primary key,
    /// no document), else the stored document, parsed and cached.
    pub(super) fn peek_claim(&mut self, key: &StepKey) -> Result<Option<ClaimOutcome>> {
        let id = key.run_id;
        if let Some(cached) = self.runs().current(id) {
            return cached.run.peek_claim(key, false);
        }
        let k = id.to_string();
        let cached_rev = self.runs().get(id).map(|c| rev(&c.run)).transpose()?;
        if let Some(cached_rev) = cached_rev {
            let stored: Option<i64> = self
                .conn
                .prepare_cached("SELECT rev FROM runs WHERE id = ?1")
                .and_then(|mut st| st.query_row([&k], |r| r.get(0)).optional())
                .map_err(db_err)?;
            if stored == Some(cached_rev) {
                let mut runs = self.runs();
                runs.confirm(id);
                if let Some(cached) = runs.get(id) {
                    return cached.run.peek_claim(key, false);
                }
            }
        }
        let doc = self
            .stored_doc(&k)?
            .ok_or_else(|| Error::not_found("run", k.clone()))?;
        let run: Run = from_doc("runs", &k, &doc)?;
        let out = run.peek_claim(key, false);
        self.runs().read(run, KeptSteps::default());
        out
    }
}

/// A driver error as a store error.
pub(super) fn db_err(e: rusqlite::Error) -> Error {
    Error::Store(format!("sqlite: {e}"))
}

/// [`Run::wake_at`] as stored in the indexed `wake_ms` column.
pub(super) fn wake_ms(run: &Run) -> Option<i64> {
    run.wake_at.map(|t| t.timestamp_millis())
}

/// `created_at` as stored for ordering: RFC 3339, fixed microseconds, `Z`.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A record as its stored document (its serde JSON).
pub(super) fn to_doc<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Store(format!("cannot serialise document: {e}")))
}

/// A stored document back as a record; a document that does not parse is
/// corrupt data, naming `collection` and `id`.
pub(super) fn from_doc<T: DeserializeOwned>(collection: &str, id: &str, doc: &str) -> Result<T> {
    serde_json::from_str(doc)
        .map_err(|e| Error::corrupt(collection, id, format!("does not parse: {e}")))
}
