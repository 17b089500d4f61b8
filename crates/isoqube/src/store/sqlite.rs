//! The embedded store: one SQLite file (default `./isoqube.db`) holding JSON
//! documents, with the run transitions done in `BEGIN IMMEDIATE` transactions
//! (one per group of operations waiting, see `spawn_connection_thread`)
//! so several processes can share the file safely. The write-ahead log is
//! copied back into the file by a thread of its own (`checkpoint`), not in the
//! middle of a group's commit.
//!
//! # Step transitions and the run cache
//!
//! The rules of a run live in [`crate::model::Run`]. A transition reads the
//! run's document, applies the rule in memory and writes the document back,
//! inside the write transaction, so nothing else (no other process sharing the
//! file) can change the run in between.
//!
//! The store keeps, for each run in flight, the run as it last wrote it (and
//! the JSON of its steps; at most [`RUN_CACHE_CAPACITY`] runs, oldest dropped
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
//! no other connection has committed to the file since this one last looked
//! (`PRAGMA data_version`, checked once per transaction): then every cached
//! run is the stored one and the claim is decided without touching the table. Every process sharing a file must write `rev`
//! (this version of Isoqube or a later one): a build from before the column
//! writes the document alone, which a cache here would not notice. (A trigger
//! that reset `rev` on such writes made every run write open a statement
//! journal: ~10 % more CPU on the store thread in the chain bench.)

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use uuid::Uuid;

use self::checkpoint::Checkpoints;
use super::run_cache::RunCache;
use super::{merge_topic, RunStore};
use crate::error::{Error, Result};
use crate::model::{
    ClaimOutcome, CompleteOutcome, Definition, FailOutcome, KeptSteps, LogRecord, NextStep, Run,
    RunFilter, RunStatus, ServiceRecord, StepKey, TopicRecord, Variables,
};

mod checkpoint;

/// The default file of the embedded store.
pub const DEFAULT_PATH: &str = "isoqube.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS definitions (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL, status TEXT NOT NULL,
    definition TEXT NOT NULL, doc TEXT NOT NULL, rev INTEGER NOT NULL DEFAULT -1);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs(created_at DESC);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status, created_at DESC);
CREATE INDEX IF NOT EXISTS runs_by_definition ON runs(definition, created_at DESC);
CREATE TABLE IF NOT EXISTS services (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS topics (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS logs_by_run ON logs(run_id, seq);
CREATE TABLE IF NOT EXISTS schedule_ticks (key TEXT PRIMARY KEY, due_ms INTEGER NOT NULL);
";

/// Added to a `runs` table made before the `rev` column (an older file): its
/// rows get -1, which no cached run matches.
const ADD_REV: &str = "ALTER TABLE runs ADD COLUMN rev INTEGER NOT NULL DEFAULT -1";

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
    path: PathBuf,
}

/// Work for the connection's thread. It is given the connection (and the run
/// cache) inside the thread's write transaction (or the error that prevented
/// opening one) and returns how to answer its caller once that transaction is
/// committed (or with the error that prevented the commit).
type Job = Box<dyn FnOnce(std::result::Result<&mut Db, &str>) -> Reply + Send>;
type Reply = Box<dyn FnOnce(Option<&str>) + Send>;

/// What the connection's thread owns.
struct Db {
    conn: Connection,
    runs: RunCache<CachedRun>,
    /// `PRAGMA data_version` when the current transaction began, and at the
    /// one before: equal, no other connection committed in between.
    data_version: Option<i64>,
    /// No other connection wrote to the file since this one last looked, so
    /// every cached run is the stored one (see [`Db::begin`]).
    alone: bool,
    checkpoints: Checkpoints,
}

/// Runs whose last document the store keeps (see the module docs), at most.
pub const RUN_CACHE_CAPACITY: usize = 2048;

/// A run as this store last wrote it (its `version` is the row's `rev`) and
/// the JSON of each of its steps (empty when the run was read, not written): a
/// transition serialises again only the steps it changed.
struct CachedRun {
    run: Run,
    steps: KeptSteps,
}

/// A run's version as stored in `rev` (SQLite has no unsigned integers).
fn rev(run: &Run) -> Result<i64> {
    i64::try_from(run.version)
        .map_err(|_| Error::Store(format!("run {}: version out of range", run.id)))
}

impl Db {
    /// Runs a transaction statement, prepared once (`execute_batch` parses
    /// the text again every time, several times per group).
    fn transaction(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.execute([]).map(|_| ())
    }

    /// Begins the group's write transaction and finds out whether another
    /// connection (another process, or another store handle on the file)
    /// committed since this one last looked: `PRAGMA data_version` changes
    /// only then. If none did, the cached runs are the stored ones and a claim
    /// is decided on them without reading the row.
    fn begin(&mut self) -> rusqlite::Result<()> {
        self.alone = false;
        self.transaction("BEGIN IMMEDIATE")?;
        let now: Option<i64> = self
            .conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut st| st.query_row([], |r| r.get(0)))
            .ok();
        self.alone = now.is_some() && now == self.data_version;
        self.data_version = now;
        Ok(())
    }

    /// Applies a transition to one run (inside the thread's write
    /// transaction): first to the cached run, written only if the stored
    /// run is still the cached one; otherwise (or when the cached try
    /// fails) to a fresh read. See the module docs.
    fn mutate_run<T>(&mut self, id: Uuid, mut f: impl FnMut(&mut Run) -> Result<T>) -> Result<T> {
        let key = id.to_string();
        if let Some(CachedRun { mut run, mut steps }) = self.runs.take(id) {
            let seen = rev(&run)?;
            let status = run.status;
            if let Ok(out) = f(&mut run) {
                let doc = run.to_json_keeping(&mut steps);
                if self.write_run(&key, &run, &doc, status, Some(seen))? {
                    let finished = run.status.is_finished();
                    self.runs.put(id, CachedRun { run, steps }, finished);
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
        let status = run.status;
        let out = f(&mut run)?;
        let mut steps = KeptSteps::default();
        let doc = run.to_json_keeping(&mut steps);
        self.write_run(&key, &run, &doc, status, None)?;
        let finished = run.status.is_finished();
        self.runs.put(id, CachedRun { run, steps }, finished);
        Ok(out)
    }

    /// Writes `run` as `doc`, only over revision `seen` when given; says whether
    /// a row was written. The status column (and its index) is written only
    /// when the status changed from `was`.
    fn write_run(
        &self,
        key: &str,
        run: &Run,
        doc: &str,
        was: RunStatus,
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
    fn peek_claim(&mut self, key: &StepKey) -> Result<Option<ClaimOutcome>> {
        let id = key.run_id;
        if self.alone {
            if let Some(cached) = self.runs.get(id) {
                return cached.run.peek_claim(key, false);
            }
        }
        let k = id.to_string();
        if let Some(cached) = self.runs.get(id) {
            let stored: Option<i64> = self
                .conn
                .prepare_cached("SELECT rev FROM runs WHERE id = ?1")
                .and_then(|mut st| st.query_row([&k], |r| r.get(0)).optional())
                .map_err(db_err)?;
            if stored == Some(rev(&cached.run)?) {
                return cached.run.peek_claim(key, false);
            }
        }
        let doc = self
            .stored_doc(&k)?
            .ok_or_else(|| Error::not_found("run", k.clone()))?;
        let run: Run = from_doc("runs", &k, &doc)?;
        let out = run.peek_claim(key, false);
        let finished = run.status.is_finished();
        let steps = KeptSteps::default();
        self.runs.put(id, CachedRun { run, steps }, finished);
        out
    }
}

/// Jobs committed together, at most.
const GROUP_COMMIT: usize = 64;

/// The thread that owns the connection. It takes the jobs waiting (up to
/// [`GROUP_COMMIT`]), runs them in one `BEGIN IMMEDIATE` transaction (a job that
/// writes several statements does so in its own savepoint, so a failed job undoes
/// only itself), commits, and only then answers the callers: one commit for many
/// step transitions instead of one each, and no caller is told "done" before its
/// change is committed. Callers never contend for the connection. The thread
/// ends, closing the connection, once every handle is dropped.
fn spawn_connection_thread(conn: Connection, path: &Path) -> Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    let checkpoints = Checkpoints::start(&conn, path).map_err(|e| {
        Error::Store(format!(
            "cannot set up checkpoints of {}: {e}",
            path.display()
        ))
    })?;
    let mut db = Db {
        conn,
        runs: RunCache::new(RUN_CACHE_CAPACITY),
        data_version: None,
        alone: false,
        checkpoints,
    };
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
            db.runs.clear();
            settled.extend(pending.drain(..).map(|r| (r, Some(lost.clone()))));
            if let Err(e) = db.begin() {
                let msg = format!("sqlite: cannot begin a transaction: {e}");
                settled.extend(jobs.by_ref().map(|job| (job(Err(&msg)), None)));
                break;
            }
        }
    }
    if !db.conn.is_autocommit() {
        let failed = match db.transaction("COMMIT") {
            Ok(()) => None,
            Err(e) => {
                let _ = db.conn.execute_batch("ROLLBACK");
                db.runs.clear();
                Some(format!("sqlite: cannot commit: {e}"))
            }
        };
        settled.extend(pending.drain(..).map(|r| (r, failed.clone())));
    }
    for (reply, failed) in settled {
        reply(failed.as_deref());
    }
}

fn db_err(e: rusqlite::Error) -> Error {
    Error::Store(format!("sqlite: {e}"))
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn to_doc<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Store(format!("cannot serialise document: {e}")))
}

fn from_doc<T: DeserializeOwned>(collection: &str, id: &str, doc: &str) -> Result<T> {
    serde_json::from_str(doc)
        .map_err(|e| Error::corrupt(collection, id, format!("does not parse: {e}")))
}

impl SqliteStore {
    /// Opens (creating if needed) the store file at `path`.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let p = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection> {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Error::Store(format!("cannot create directory {}: {e}", dir.display()))
                })?;
            }
            let conn = Connection::open(&p)
                .map_err(|e| Error::Store(format!("cannot open {}: {e}", p.display())))?;
            conn.busy_timeout(std::time::Duration::from_secs(10))
                .map_err(db_err)?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(db_err)?;
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(db_err)?;
            // Statement journals (the undo of a savepoint inside the group's
            // transaction) in memory rather than in a temporary file created
            // and deleted per savepoint; they are never needed after a crash.
            conn.pragma_update(None, "temp_store", "MEMORY")
                .map_err(db_err)?;
            // Checkpoints are `checkpoint`'s. The WAL file is truncated back
            // to 64 MB when it ever grew past that.
            conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
                .map_err(db_err)?;
            let prepare =
                |e: rusqlite::Error| Error::Store(format!("cannot prepare {}: {e}", p.display()));
            conn.execute_batch(SCHEMA).map_err(prepare)?;
            let has_rev = conn
                .prepare("SELECT 1 FROM pragma_table_info('runs') WHERE name = 'rev'")
                .and_then(|mut st| st.exists([]))
                .map_err(prepare)?;
            if !has_rev {
                conn.execute_batch(ADD_REV).map_err(prepare)?;
            }
            Ok(conn)
        })
        .await
        .map_err(|e| Error::Store(format!("store task failed: {e}")))??;
        let jobs = spawn_connection_thread(conn, &path)?;
        Ok(SqliteStore { jobs, path })
    }

    /// The file it uses.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn with<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        self.with_db(move |db| f(&mut db.conn)).await
    }

    async fn with_db<T, F>(&self, f: F) -> Result<T>
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

    /// Applies a transition to one run inside a write transaction: first to
    /// the cached run, written only if the stored document is still the cached
    /// one; otherwise (or when the cached try fails) to a fresh read. See the
    /// module docs.
    async fn mutate_run<T, F>(&self, id: Uuid, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut Run) -> Result<T> + Send + 'static,
    {
        self.with_db(move |db| db.mutate_run(id, f)).await
    }

    async fn list_docs<T: DeserializeOwned + Send + 'static>(
        &self,
        table: &'static str,
    ) -> Result<Vec<T>> {
        self.with(move |conn| {
            let sql = format!(
                "SELECT {key}, doc FROM {table} ORDER BY {key}",
                key = key_column(table)
            );
            let mut stmt = conn.prepare(&sql).map_err(db_err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(db_err)?;
            let mut out = Vec::new();
            for row in rows {
                let (id, doc) = row.map_err(db_err)?;
                out.push(from_doc(table, &id, &doc)?);
            }
            Ok(out)
        })
        .await
    }
}

fn key_column(table: &str) -> &'static str {
    match table {
        "definitions" | "topics" => "name",
        _ => "id",
    }
}

#[async_trait]
impl RunStore for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<()> {
        self.with(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(db_err))
            .await
    }

    async fn create_definition(&self, def: &Definition) -> Result<()> {
        let (name, doc) = (def.name.clone(), to_doc(def)?);
        self.with(move |conn| {
            let n = conn
                .execute(
                    "INSERT OR IGNORE INTO definitions (name, doc) VALUES (?1, ?2)",
                    params![name, doc],
                )
                .map_err(db_err)?;
            if n == 0 {
                return Err(Error::conflict("definition", name));
            }
            Ok(())
        })
        .await
    }

    async fn update_definition(&self, def: &Definition) -> Result<()> {
        let (name, doc) = (def.name.clone(), to_doc(def)?);
        self.with(move |conn| {
            let n = conn
                .execute(
                    "UPDATE definitions SET doc = ?2 WHERE name = ?1",
                    params![name, doc],
                )
                .map_err(db_err)?;
            if n == 0 {
                return Err(Error::not_found("definition", name));
            }
            Ok(())
        })
        .await
    }

    async fn get_definition(&self, name: &str) -> Result<Option<Definition>> {
        let name = name.to_string();
        self.with(move |conn| {
            let doc: Option<String> = conn
                .prepare_cached("SELECT doc FROM definitions WHERE name = ?1")
                .and_then(|mut st| st.query_row([&name], |r| r.get(0)).optional())
                .map_err(db_err)?;
            doc.map(|d| from_doc("definitions", &name, &d)).transpose()
        })
        .await
    }

    async fn list_definitions(&self) -> Result<Vec<Definition>> {
        self.list_docs("definitions").await
    }

    async fn delete_definition(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.with(move |conn| {
            let n = conn
                .execute("DELETE FROM definitions WHERE name = ?1", [&name])
                .map_err(db_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn insert_run(&self, run: &Run) -> Result<()> {
        let mut steps = KeptSteps::default();
        let doc = run.to_json_keeping(&mut steps);
        let row = (
            ts(run.created_at),
            run.status.as_str(),
            run.definition.clone(),
            doc,
            rev(run)?,
        );
        let run = run.clone();
        self.with_db(move |db| {
            let n = db
                .conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO runs (id, created_at, status, definition, doc, rev) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut st| st.execute(params![run.id.to_string(), row.0, row.1, row.2, row.3, row.4]))
                .map_err(db_err)?;
            if n == 0 {
                return Err(Error::conflict("run", run.id.to_string()));
            }
            let (id, finished) = (run.id, run.status.is_finished());
            db.runs.put(id, CachedRun { run, steps }, finished);
            Ok(())
        })
        .await
    }

    async fn get_run(&self, id: Uuid) -> Result<Option<Run>> {
        self.with(move |conn| {
            let key = id.to_string();
            let doc: Option<String> = conn
                .prepare_cached("SELECT doc FROM runs WHERE id = ?1")
                .and_then(|mut st| st.query_row([&key], |r| r.get(0)).optional())
                .map_err(db_err)?;
            doc.map(|d| from_doc("runs", &key, &d)).transpose()
        })
        .await
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>> {
        let filter = filter.clone();
        self.with(move |conn| {
            let mut sql = String::from("SELECT id, doc FROM runs WHERE 1=1");
            let mut args: Vec<String> = Vec::new();
            if let Some(st) = filter.status {
                args.push(st.as_str().to_string());
                sql.push_str(&format!(" AND status = ?{}", args.len()));
            }
            if let Some(def) = &filter.definition {
                args.push(def.clone());
                sql.push_str(&format!(" AND definition = ?{}", args.len()));
            }
            match (filter.before, filter.before_id) {
                (Some(before), Some(id)) => {
                    args.push(ts(before));
                    args.push(id.to_string());
                    let (t, i) = (args.len() - 1, args.len());
                    sql.push_str(&format!(
                        " AND (created_at < ?{t} OR (created_at = ?{t} AND id < ?{i}))"
                    ));
                }
                (Some(before), None) => {
                    args.push(ts(before));
                    sql.push_str(&format!(" AND created_at < ?{}", args.len()));
                }
                (None, _) => {}
            }
            sql.push_str(&format!(
                " ORDER BY created_at DESC, id DESC LIMIT {}",
                filter.page_size()
            ));
            let mut stmt = conn.prepare(&sql).map_err(db_err)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(db_err)?;
            let mut out = Vec::new();
            for row in rows {
                let (id, doc) = row.map_err(db_err)?;
                out.push(from_doc("runs", &id, &doc)?);
            }
            Ok(out)
        })
        .await
    }

    async fn claim_step(&self, key: &StepKey, redelivered: bool) -> Result<ClaimOutcome> {
        let key = key.clone();
        let id = key.run_id;
        Ok(self
            .mutate_run(id, move |run| run.claim(&key, redelivered, Utc::now()))
            .await?)
    }

    async fn claim_step_unrecorded(&self, key: &StepKey) -> Result<(ClaimOutcome, bool)> {
        let key = key.clone();
        self.with_db(move |db| match db.peek_claim(&key)? {
            Some(claimed) => Ok((claimed, false)),
            None => {
                let out = db.mutate_run(key.run_id, |run| run.claim(&key, false, Utc::now()))?;
                Ok((out, true))
            }
        })
        .await
    }

    async fn complete_step(
        &self,
        key: &StepKey,
        patch: Variables,
        attempts: u32,
    ) -> Result<CompleteOutcome> {
        let key = key.clone();
        let id = key.run_id;
        Ok(self
            .mutate_run(id, move |run| {
                run.complete(&key, patch.clone(), attempts, Utc::now())
            })
            .await?)
    }

    async fn fail_step(&self, key: &StepKey, error: &str, attempts: u32) -> Result<FailOutcome> {
        let key = key.clone();
        let error = error.to_string();
        let id = key.run_id;
        Ok(self
            .mutate_run(id, move |run| run.fail(&key, &error, attempts, Utc::now()))
            .await?)
    }

    async fn cancel_run(&self, id: Uuid) -> Result<Run> {
        self.mutate_run(id, |run| {
            run.cancel(Utc::now())?;
            Ok(run.clone())
        })
        .await
    }

    async fn resume_run(&self, id: Uuid) -> Result<(Run, NextStep)> {
        self.mutate_run(id, |run| {
            let next = run.resume(Utc::now())?;
            Ok((run.clone(), next))
        })
        .await
    }

    async fn abort_run(&self, id: Uuid, reason: &str) -> Result<Run> {
        let reason = reason.to_string();
        self.mutate_run(id, move |run| {
            run.abort(&reason, Utc::now())?;
            Ok(run.clone())
        })
        .await
    }

    async fn register_service(&self, service: &ServiceRecord) -> Result<()> {
        let (id, doc) = (service.id.clone(), to_doc(service)?);
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO services (id, doc) VALUES (?1, ?2) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                params![id, doc],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn heartbeat(&self, service_id: &str, at: DateTime<Utc>) -> Result<()> {
        let id = service_id.to_string();
        self.with(move |conn| {
            let tx = conn.savepoint().map_err(db_err)?;
            let doc: Option<String> = tx
                .query_row("SELECT doc FROM services WHERE id = ?1", [&id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(db_err)?;
            let doc = doc.ok_or_else(|| Error::not_found("service", id.clone()))?;
            let mut rec: ServiceRecord = from_doc("services", &id, &doc)?;
            rec.last_seen = at;
            tx.execute(
                "UPDATE services SET doc = ?2 WHERE id = ?1",
                params![id, to_doc(&rec)?],
            )
            .map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn remove_service(&self, service_id: &str) -> Result<()> {
        let id = service_id.to_string();
        self.with(move |conn| {
            conn.execute("DELETE FROM services WHERE id = ?1", [&id])
                .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn list_services(&self) -> Result<Vec<ServiceRecord>> {
        self.list_docs("services").await
    }

    async fn claim_tick(&self, key: &str, due: DateTime<Utc>) -> Result<bool> {
        let key = key.to_string();
        let due_ms = due.timestamp_millis();
        self.with(move |conn| {
            let changed = conn
                .execute(
                    "INSERT INTO schedule_ticks (key, due_ms) VALUES (?1, ?2) \
                     ON CONFLICT(key) DO UPDATE SET due_ms = excluded.due_ms \
                     WHERE schedule_ticks.due_ms < excluded.due_ms",
                    params![key, due_ms],
                )
                .map_err(db_err)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn last_tick(&self, key: &str) -> Result<Option<DateTime<Utc>>> {
        let key = key.to_string();
        self.with(move |conn| {
            let ms: Option<i64> = conn
                .query_row(
                    "SELECT due_ms FROM schedule_ticks WHERE key = ?1",
                    [&key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            Ok(ms.and_then(DateTime::from_timestamp_millis))
        })
        .await
    }

    async fn upsert_topics(&self, topics: &[TopicRecord]) -> Result<()> {
        let topics = topics.to_vec();
        self.with(move |conn| {
            let tx = conn
                .savepoint()
                .map_err(db_err)?;
            for t in &topics {
                let old: Option<String> = tx
                    .query_row("SELECT doc FROM topics WHERE name = ?1", [&t.name], |r| r.get(0))
                    .optional()
                    .map_err(db_err)?;
                let old: Option<TopicRecord> = old.map(|d| from_doc("topics", &t.name, &d)).transpose()?;
                let merged = merge_topic(old, t);
                tx.execute(
                    "INSERT INTO topics (name, doc) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET doc = excluded.doc",
                    params![t.name, to_doc(&merged)?],
                )
                .map_err(db_err)?;
            }
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn list_topics(&self) -> Result<Vec<TopicRecord>> {
        self.list_docs("topics").await
    }

    async fn append_logs(&self, logs: &[LogRecord]) -> Result<()> {
        let rows = logs
            .iter()
            .map(|l| Ok((l.run_id.to_string(), to_doc(l)?)))
            .collect::<Result<Vec<_>>>()?;
        self.with(move |conn| {
            let tx = conn.savepoint().map_err(db_err)?;
            {
                let mut stmt = tx
                    .prepare_cached("INSERT INTO logs (run_id, doc) VALUES (?1, ?2)")
                    .map_err(db_err)?;
                for (run, doc) in &rows {
                    stmt.execute(params![run, doc]).map_err(db_err)?;
                }
            }
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn run_logs(&self, run_id: Uuid, skip: usize) -> Result<Vec<LogRecord>> {
        self.with(move |conn| {
            let key = run_id.to_string();
            let mut stmt = conn
                .prepare(
                    "SELECT seq, doc FROM logs WHERE run_id = ?1 ORDER BY seq LIMIT -1 OFFSET ?2",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![key, skip as i64], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(db_err)?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, doc) = row.map_err(db_err)?;
                out.push(from_doc("logs", &seq.to_string(), &doc)?);
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path() -> PathBuf {
        std::env::temp_dir()
            .join("isoqube-tests")
            .join(format!("sqlite-unit-{}.db", Uuid::new_v4()))
    }

    fn run_of(steps: usize) -> Run {
        let def = Definition::new(
            "cache",
            (0..steps).map(|i| format!("Ev{i}")).collect::<Vec<_>>(),
        );
        Run::new(&def, Variables::new(), "test")
    }

    /// Two handles on one file each cache what they wrote; a transition on a
    /// handle whose cached copy is stale must see the other handle's writes.
    #[tokio::test]
    async fn a_stale_cached_run_is_never_the_answer() {
        let path = temp_path();
        let a = SqliteStore::open(&path).await.expect("open a");
        let b = SqliteStore::open(&path).await.expect("open b");
        let run = run_of(3);
        let id = run.id;
        a.insert_run(&run).await.expect("insert");
        let k0 = StepKey::new(id, 0, "ep0", "h");
        // b claims and completes step 0 behind a's back.
        assert!(matches!(
            b.claim_step(&k0, false).await.expect("claim"),
            ClaimOutcome::Claimed { .. }
        ));
        let mut patch = Variables::new();
        patch.insert("from_b".into(), serde_json::json!(1));
        assert!(matches!(
            b.complete_step(&k0, patch, 1).await.expect("complete"),
            CompleteOutcome::Advanced { next: Some(_) }
        ));
        // a's cache still holds the run as inserted: claiming step 0 again must
        // say it is done, not run it a second time.
        assert!(matches!(
            a.claim_step(&k0, true).await.expect("claim on a"),
            ClaimOutcome::AlreadyDone { republish: Some(_) }
        ));
        // a claims step 1 (its cache is refreshed by the read), b's variable is there.
        let k1 = StepKey::new(id, 1, "ep1", "h");
        match a.claim_step(&k1, false).await.expect("claim step 1") {
            ClaimOutcome::Claimed { variables, .. } => {
                assert_eq!(variables.get("from_b"), Some(&serde_json::json!(1)))
            }
            other => panic!("expected Claimed, got {other:?}"),
        }
        // b's cached copy is stale now (a claimed step 1): b completing step 1
        // must build on a's claim, and a redelivered claim on b is in flight/done.
        assert!(matches!(
            b.complete_step(&k1, Variables::new(), 1)
                .await
                .expect("complete 1"),
            CompleteOutcome::Advanced { next: Some(_) }
        ));
        // a, whose copy is stale again, completes step 1 too: recorded, not advanced twice.
        assert_eq!(
            a.complete_step(&k1, Variables::new(), 1)
                .await
                .expect("complete 1 on a"),
            CompleteOutcome::Recorded
        );
        let stored = a.get_run(id).await.expect("get").expect("run");
        assert_eq!(stored.steps[1].attempts, 2);
        assert_eq!(stored.steps[2].status, crate::model::StepStatus::Pending);
        let _ = std::fs::remove_file(&path);
    }

    /// A file made before the `rev` column gets it, its runs with -1, and
    /// works as before.
    #[tokio::test]
    async fn a_file_without_the_rev_column_is_upgraded() {
        let path = temp_path();
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        let run = run_of(2);
        {
            let old = Connection::open(&path).expect("old file");
            old.execute_batch(
                "CREATE TABLE runs (
                    id TEXT PRIMARY KEY, created_at TEXT NOT NULL, status TEXT NOT NULL,
                    definition TEXT NOT NULL, doc TEXT NOT NULL);",
            )
            .expect("old schema");
            old.execute(
                "INSERT INTO runs (id, created_at, status, definition, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    run.id.to_string(),
                    ts(run.created_at),
                    run.status.as_str(),
                    run.definition,
                    serde_json::to_string(&run).expect("doc")
                ],
            )
            .expect("old row");
        }
        let store = SqliteStore::open(&path).await.expect("open upgrades");
        let k0 = StepKey::new(run.id, 0, "ep0", "h");
        assert!(matches!(
            store.claim_step(&k0, false).await.expect("claim"),
            ClaimOutcome::Claimed { .. }
        ));
        assert!(matches!(
            store
                .complete_step(&k0, Variables::new(), 1)
                .await
                .expect("complete"),
            CompleteOutcome::Advanced { next: Some(_) }
        ));
        let stored = store.get_run(run.id).await.expect("get").expect("run");
        assert_eq!(stored.steps[0].status, crate::model::StepStatus::Succeeded);
        drop(store);
        let again = SqliteStore::open(&path).await.expect("open twice");
        again.ping().await.expect("ping");
        let _ = std::fs::remove_file(&path);
    }
}
