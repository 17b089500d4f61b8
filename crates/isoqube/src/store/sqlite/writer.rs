//! The store thread and group commit: one thread owns the connection, takes
//! the jobs waiting (up to [`GROUP_COMMIT`]), runs them in one write
//! transaction and answers their callers only after the commit; and the
//! handle's side of it, sending a job and awaiting its answer.
//!
//! May use: this store's thread state (`db`) and checkpoints, the crate's
//! errors, `rusqlite`, `tokio`'s oneshot channel.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{mpsc, Arc};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::cache::SharedRuns;
use super::checkpoint::Checkpoints;
use super::db::Db;
use super::SqliteStore;
use crate::error::{Error, Result};

/// Work for the connection's thread. It is given the connection (and the run
/// cache) inside the thread's write transaction (or the error that prevented
/// opening one) and returns how to answer its caller once that transaction is
/// committed (or with the error that prevented the commit).
pub(super) type Job = Box<dyn FnOnce(std::result::Result<&mut Db, &str>) -> Reply + Send>;
type Reply = Box<dyn FnOnce(Option<&str>) + Send>;

/// Jobs committed together, at most.
const GROUP_COMMIT: usize = 64;

/// The thread that owns the connection. It takes the jobs waiting (up to
/// [`GROUP_COMMIT`]), runs them in one `BEGIN IMMEDIATE` transaction (a job that
/// writes several statements does so in its own savepoint, so a failed job undoes
/// only itself), commits, and only then answers the callers: one commit for many
/// step transitions instead of one each, and no caller is told "done" before its
/// change is committed. Callers never contend for the connection. The thread
/// ends, closing the connection, once every handle is dropped.
pub(super) fn spawn_connection_thread(
    conn: Connection,
    path: &Path,
    runs: Arc<SharedRuns>,
) -> Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    let checkpoints = Checkpoints::start(&conn, path).map_err(|e| {
        Error::Store(format!(
            "cannot set up checkpoints of {}: {e}",
            path.display()
        ))
    })?;
    let mut db = Db::new(conn, checkpoints, runs);
    std::thread::Builder::new()
        .name("isoqube-sqlite".into())
        .spawn(move || {
            let mut batch: Vec<Job> = Vec::with_capacity(GROUP_COMMIT);
            while let Ok(first) = rx.recv() {
                batch.push(first);
                while batch.len() < GROUP_COMMIT {
                    match rx.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                run_group(&mut db, &mut batch);
                db.checkpoints.after_group(&db.conn);
            }
        })
        .map_err(|e| {
            Error::Store(format!(
                "cannot start the store thread for {}: {e}",
                path.display()
            ))
        })?;
    Ok(tx)
}

/// Runs `batch` in one write transaction and answers every job after the commit.
fn run_group(db: &mut Db, batch: &mut Vec<Job>) {
    if let Err(e) = db.begin() {
        let msg = format!("sqlite: cannot begin a transaction: {e}");
        for job in batch.drain(..) {
            job(Err(&msg))(None);
        }
        return;
    }
    // Replies of jobs whose writes are committed or lost, with what to tell them.
    let mut settled: Vec<(Reply, Option<String>)> = Vec::with_capacity(batch.len());
    let mut pending: Vec<Reply> = Vec::with_capacity(batch.len());
    let mut jobs = batch.drain(..);
    while let Some(job) = jobs.next() {
        pending.push(job(Ok(&mut *db)));
        if db.conn.is_autocommit() {
            // An error (I/O, disk full...) rolled the whole transaction back: the
            // jobs so far lost their writes. Go on in a fresh transaction.
            let lost = "sqlite: the transaction was rolled back by an error".to_string();
            {
                let mut runs = db.runs();
                runs.closing();
                runs.clear();
            }
            settled.extend(pending.drain(..).map(|r| (r, Some(lost.clone()))));
            if let Err(e) = db.begin() {
                let msg = format!("sqlite: cannot begin a transaction: {e}");
                settled.extend(jobs.by_ref().map(|job| (job(Err(&msg)), None)));
                break;
            }
        }
    }
    if !db.conn.is_autocommit() {
        let failed = match db.end("COMMIT") {
            Ok(()) => None,
            Err(e) => {
                let _ = db.conn.execute_batch("ROLLBACK");
                db.runs().clear();
                Some(format!("sqlite: cannot commit: {e}"))
            }
        };
        settled.extend(pending.drain(..).map(|r| (r, failed.clone())));
    }
    for (reply, failed) in settled {
        reply(failed.as_deref());
    }
}

impl SqliteStore {
    /// [`SqliteStore::with_db`] for a job that needs only the connection.
    pub(super) async fn with<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        self.with_db(move |db| f(&mut db.conn)).await
    }

    /// Runs `f` on the store thread inside the group's write transaction and
    /// answers once that transaction is committed: a result whose commit
    /// failed is that failure, and a job that panics fails alone.
    pub(super) async fn with_db<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |db| {
            let out = match db {
                Err(msg) => Err(Error::Store(msg.to_string())),
                Ok(db) => std::panic::catch_unwind(AssertUnwindSafe(|| f(db)))
                    .unwrap_or_else(|_| Err(Error::Store("store task failed: it panicked".into()))),
            };
            Box::new(move |commit_failed: Option<&str>| {
                let out = match (out, commit_failed) {
                    (Ok(_), Some(msg)) => Err(Error::Store(msg.to_string())),
                    (out, _) => out,
                };
                let _ = tx.send(out);
            })
        });
        if self.jobs.send(job).is_err() {
            return Err(Error::Store(
                "store task failed: the store thread is gone".into(),
            ));
        }
        rx.await.map_err(|_| {
            Error::Store("store task failed: no answer from the store thread".into())
        })?
    }
}
