//! The embedded store: one SQLite file (default `./isoqube.db`) holding JSON
//! documents, with the run transitions done in `BEGIN IMMEDIATE` transactions
//! (one per group of operations waiting, see `writer`) so several processes
//! can share the file safely. The write-ahead log is copied back into the file
//! by a thread of its own (`checkpoint`), not in the middle of a group's
//! commit.
//!
//! This module is the face: the [`SqliteStore`] handle and how it is opened.
//! The jobs are done by:
//!
//! * `schema`: the tables, the upgrade of an older file, the connection's
//!   settings;
//! * `writer`: the store thread that owns the connection and commits the jobs
//!   waiting as one group, and the handle's side (send a job, await the answer);
//! * `db`: what the thread owns (connection, run cache) and a run transition
//!   on the cached run or a fresh read;
//! * `cache`: the run cache, shared with the handles, and when a cached run
//!   is the stored one (a first delivery's claim is then decided by the
//!   handle, without a job for the thread);
//! * `run_store`: the [`RunStore`](super::RunStore) operations, each a job for
//!   the thread;
//! * `checkpoint`: copying the write-ahead log back into the file, mostly off
//!   the store thread.
//!
//! May use (all of it): the seam, the model, the crate's errors, the shared
//! run cache, `rusqlite`.
//!
//! # Step transitions and the run cache
//!
//! A transition reads the run, applies the rule of [`crate::model::Run`] and
//! writes it back inside the write transaction, so no other process sharing
//! the file can change the run in between. The store keeps the run as it last
//! wrote it (at most [`RUN_CACHE_CAPACITY`] runs) and writes over it only when
//! the row's `rev` is still that run's version, which saves the read and the
//! JSON parse; a stale entry costs a fresh read, never a wrong outcome. Every
//! process sharing a file must write `rev` (this version of Isoqube or a later
//! one). The `db` module has the details.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

use crate::error::{Error, Result};

mod cache;
mod checkpoint;
mod db;
mod run_store;
mod schema;
#[cfg(test)]
mod tests;
mod writer;

use self::cache::SharedRuns;
pub use self::cache::RUN_CACHE_CAPACITY;
use self::writer::{spawn_connection_thread, Job};

/// The default file of the embedded store.
pub const DEFAULT_PATH: &str = super::DEFAULT_STORE_PATH;

/// The embedded store. Cloning shares the connection.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use isoqube::{RunStore, SqliteStore};
/// let path = std::env::temp_dir().join(format!("isoqube-sqlite-doc-{}.db", std::process::id()));
/// let store = SqliteStore::open(&path).await.unwrap();
/// assert_eq!(store.kind(), "sqlite");
/// store.ping().await.unwrap();
/// # });
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    /// The store thread's run cache, read by a claim that needs no job.
    runs: Arc<SharedRuns>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the store file at `path`.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let p = path.clone();
        let conn = tokio::task::spawn_blocking(move || schema::open_connection(&p))
            .await
            .map_err(|e| Error::Store(format!("store task failed: {e}")))??;
        let runs = Arc::new(SharedRuns::new());
        let jobs = spawn_connection_thread(conn, &path, runs.clone())?;
        Ok(SqliteStore { jobs, runs, path })
    }

    /// The file it uses.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
