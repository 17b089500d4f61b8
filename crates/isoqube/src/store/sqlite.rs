//! The embedded store: one SQLite file (default `./isoqube.db`) holding JSON
//! documents, with the run transitions done in `BEGIN IMMEDIATE` transactions
//! so several processes can share the file safely.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{merge_topic, RunStore};
use crate::error::{Error, Result};
use crate::model::{
    ClaimOutcome, CompleteOutcome, Definition, FailOutcome, LogRecord, NextStep, Run, RunFilter,
    ServiceRecord, StepKey, TopicRecord, Variables,
};

/// The default file of the embedded store.
pub const DEFAULT_PATH: &str = "isoqube.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS definitions (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL, status TEXT NOT NULL,
    definition TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs(created_at DESC);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status, created_at DESC);
CREATE INDEX IF NOT EXISTS runs_by_definition ON runs(definition, created_at DESC);
CREATE TABLE IF NOT EXISTS services (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS topics (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS logs_by_run ON logs(run_id, seq);
";

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
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
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
        .map_err(|e| Error::Store(format!("{collection} document '{id}' does not parse: {e}")))
}

impl SqliteStore {
    /// Opens (creating if needed) the store file at `path`.
    pub async fn open(path: &Path) -> Result<Self> {
        let path = path.to_path_buf();
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
            conn.execute_batch(SCHEMA)
                .map_err(|e| Error::Store(format!("cannot prepare {}: {e}", p.display())))?;
            Ok(conn)
        })
        .await
        .map_err(|e| Error::Store(format!("store task failed: {e}")))??;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
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
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| Error::Store(format!("store task failed: {e}")))?
    }

    /// Applies a transition to one run inside a write transaction.
    async fn mutate_run<T, F>(&self, id: Uuid, f: F) -> Result<(Run, T)>
    where
        T: Send + 'static,
        F: FnOnce(&mut Run) -> Result<T> + Send + 'static,
    {
        self.with(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let key = id.to_string();
            let doc: Option<String> = tx
                .query_row("SELECT doc FROM runs WHERE id = ?1", [&key], |r| r.get(0))
                .optional()
                .map_err(db_err)?;
            let doc = doc.ok_or_else(|| Error::not_found("run", key.clone()))?;
            let mut run: Run = from_doc("runs", &key, &doc)?;
            let out = f(&mut run)?;
            tx.execute(
                "UPDATE runs SET status = ?2, doc = ?3 WHERE id = ?1",
                params![key, run.status.as_str(), to_doc(&run)?],
            )
            .map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            Ok((run, out))
        })
        .await
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
                .query_row(
                    "SELECT doc FROM definitions WHERE name = ?1",
                    [&name],
                    |r| r.get(0),
                )
                .optional()
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
        let row = (
            run.id.to_string(),
            ts(run.created_at),
            run.status.as_str(),
            run.definition.clone(),
            to_doc(run)?,
        );
        self.with(move |conn| {
            let n = conn
                .execute(
                    "INSERT OR IGNORE INTO runs (id, created_at, status, definition, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![row.0, row.1, row.2, row.3, row.4],
                )
                .map_err(db_err)?;
            if n == 0 {
                return Err(Error::conflict("run", row.0));
            }
            Ok(())
        })
        .await
    }

    async fn get_run(&self, id: Uuid) -> Result<Option<Run>> {
        self.with(move |conn| {
            let key = id.to_string();
            let doc: Option<String> = conn
                .query_row("SELECT doc FROM runs WHERE id = ?1", [&key], |r| r.get(0))
                .optional()
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
            if let Some(before) = filter.before {
                args.push(ts(before));
                sql.push_str(&format!(" AND created_at < ?{}", args.len()));
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
            .await?
            .1)
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
                run.complete(&key, patch, attempts, Utc::now())
            })
            .await?
            .1)
    }

    async fn fail_step(&self, key: &StepKey, error: &str, attempts: u32) -> Result<FailOutcome> {
        let key = key.clone();
        let error = error.to_string();
        let id = key.run_id;
        Ok(self
            .mutate_run(id, move |run| run.fail(&key, &error, attempts, Utc::now()))
            .await?
            .1)
    }

    async fn cancel_run(&self, id: Uuid) -> Result<Run> {
        Ok(self.mutate_run(id, |run| run.cancel(Utc::now())).await?.0)
    }

    async fn resume_run(&self, id: Uuid) -> Result<(Run, NextStep)> {
        self.mutate_run(id, |run| run.resume(Utc::now())).await
    }

    async fn abort_run(&self, id: Uuid, reason: &str) -> Result<Run> {
        let reason = reason.to_string();
        Ok(self
            .mutate_run(id, move |run| run.abort(&reason, Utc::now()))
            .await?
            .0)
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
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
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

    async fn upsert_topics(&self, topics: &[TopicRecord]) -> Result<()> {
        let topics = topics.to_vec();
        self.with(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
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
            let tx = conn.transaction().map_err(db_err)?;
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
