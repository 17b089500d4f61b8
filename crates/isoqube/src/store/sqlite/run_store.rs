//! The store's operations (its [`RunStore`] implementation): each one a job
//! for the store thread, run inside the thread's write transaction. A job
//! that writes several statements does so in a savepoint of its own, so a
//! failed job undoes only itself. Run transitions go through
//! `Db::mutate_run` (the run cache, see `db`).
//!
//! May use: the seam, the model, the crate's errors, this store's thread
//! state (`db`) and the handle's job queue (`writer`), `rusqlite`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::db::{db_err, from_doc, rev, to_doc, ts, wake_ms};
use super::SqliteStore;
use crate::error::{Error, Result};
use crate::model::{
    ClaimOutcome, CompleteOutcome, CorruptRun, Definition, FailOutcome, KeptSteps, LogRecord,
    NextStep, Run, RunFilter, RunPage, ServiceRecord, Signal, SignalOutcome, StepKey, TopicRecord,
    Variables,
};
use crate::store::{merge_topic, run_cursor, RunStore};

impl SqliteStore {
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
            wake_ms(run),
        );
        let run = run.clone();
        self.with_db(move |db| {
            let n = db
                .conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO runs (id, created_at, status, definition, doc, rev, wake_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .and_then(|mut st| st.execute(params![run.id.to_string(), row.0, row.1, row.2, row.3, row.4, row.5]))
                .map_err(db_err)?;
            if n == 0 {
                return Err(Error::conflict("run", run.id.to_string()));
            }
            db.runs().wrote(run, steps);
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

    async fn delete_run(&self, id: Uuid) -> Result<bool> {
        let finished: Vec<&'static str> = crate::model::RunStatus::all()
            .iter()
            .filter(|s| s.is_finished())
            .map(|s| s.as_str())
            .collect();
        self.with_db(move |db| {
            let key = id.to_string();
            let tx = db.conn.savepoint().map_err(db_err)?;
            // The status column is the run's (every transition writes it),
            // so the condition is the run as stored, not a copy.
            let marks = vec!["?"; finished.len()].join(", ");
            let sql = format!("DELETE FROM runs WHERE id = ? AND status IN ({marks})");
            let args = std::iter::once(key.as_str()).chain(finished.iter().copied());
            let n = tx
                .execute(&sql, rusqlite::params_from_iter(args))
                .map_err(db_err)?;
            if n > 0 {
                tx.execute("DELETE FROM logs WHERE run_id = ?1", [&key])
                    .map_err(db_err)?;
            }
            tx.commit().map_err(db_err)?;
            if n > 0 {
                db.runs().take(id);
            }
            Ok(n > 0)
        })
        .await
    }

    async fn run_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<Uuid>> {
        // No id holds other characters; and so neither LIKE's own (`%`, `_`)
        // nor regex syntax reach the query.
        if !crate::store::is_id_prefix(prefix) {
            return Ok(Vec::new());
        }
        let prefix = prefix.to_string();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(move |conn| {
            let mut st = conn
                .prepare_cached("SELECT id FROM runs WHERE id LIKE ?1 || '%' ORDER BY id LIMIT ?2")
                .map_err(db_err)?;
            let ids = st
                .query_map(rusqlite::params![prefix, limit], |r| r.get::<_, String>(0))
                .map_err(db_err)?;
            let mut out = Vec::new();
            for id in ids {
                if let Ok(id) = Uuid::parse_str(&id.map_err(db_err)?) {
                    out.push(id);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<RunPage> {
        let filter = filter.clone();
        self.with(move |conn| match runs_query(&filter) {
            Some((sql, args)) => read_page(conn, &sql, &args, &filter),
            // An id prefix no id has: no run, and no query.
            None => Ok(RunPage::default()),
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
        // Decided here when the cached run is the committed one: a quick
        // step then costs the store thread one job, its outcome.
        if let Some(claimed) = self.runs.vouched_claim(key) {
            return Ok((claimed, false));
        }
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

    async fn cancel_and_compensate(&self, id: Uuid) -> Result<(Run, Vec<NextStep>)> {
        self.mutate_run(id, |run| {
            let next = run.cancel_and_compensate(Utc::now())?;
            Ok((run.clone(), next))
        })
        .await
    }

    async fn resume_run(&self, id: Uuid, vars: Variables) -> Result<(Run, Vec<NextStep>)> {
        self.mutate_run(id, move |run| {
            let next = run.resume_with(&vars, Utc::now())?;
            Ok((run.clone(), next))
        })
        .await
    }

    async fn retry_step_later(
        &self,
        key: &StepKey,
        error: &str,
        attempts: u32,
        at: DateTime<Utc>,
    ) -> Result<Option<FailOutcome>> {
        let (key, error) = (key.clone(), error.to_string());
        self.mutate_run(key.run_id, move |run| {
            run.retry_later(&key, &error, attempts, at, Utc::now())
        })
        .await
    }

    async fn signal_run(&self, id: Uuid, signal: &Signal) -> Result<(Run, SignalOutcome)> {
        let signal = signal.clone();
        self.mutate_run(id, move |run| {
            let out = run.signal(&signal, Utc::now())?;
            Ok((run.clone(), out))
        })
        .await
    }

    async fn runs_to_wake(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Uuid>> {
        let (now, limit) = (
            now.timestamp_millis(),
            i64::try_from(limit).unwrap_or(i64::MAX),
        );
        self.with(move |conn| {
            let mut st = conn
                .prepare_cached(
                    "SELECT id FROM runs WHERE wake_ms IS NOT NULL AND wake_ms <= ?1 ORDER BY wake_ms LIMIT ?2",
                )
                .map_err(db_err)?;
            let ids = st
                .query_map(params![now, limit], |r| r.get::<_, String>(0))
                .map_err(db_err)?
                .collect::<rusqlite::Result<Vec<String>>>()
                .map_err(db_err)?;
            Ok(ids.iter().filter_map(|id| Uuid::parse_str(id).ok()).collect())
        })
        .await
    }

    async fn fire_timers(&self, id: Uuid) -> Result<(Run, Vec<NextStep>)> {
        self.mutate_run(id, |run| {
            let next = run.fire_timers(Utc::now());
            Ok((run.clone(), next))
        })
        .await
    }

    async fn fail_unpublished(
        &self,
        id: Uuid,
        next: &NextStep,
        reason: &str,
    ) -> Result<FailOutcome> {
        let (next, reason) = (next.clone(), reason.to_string());
        self.mutate_run(id, move |run| {
            run.fail_unpublished(&next, &reason, Utc::now())
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

/// The query of one page of runs as `filter` asks, and its arguments (`None`
/// when no run can match: an id prefix no id has). The stores' own test of
/// each run ([`RunFilter::matches`]) decides; this narrows what is read.
fn runs_query(filter: &RunFilter) -> Option<(String, Vec<String>)> {
    let mut sql = String::from("SELECT id, created_at, doc FROM runs WHERE 1=1");
    let mut args: Vec<String> = Vec::new();
    if let Some(st) = filter.status {
        args.push(st.as_str().to_string());
        sql.push_str(&format!(" AND status = ?{}", args.len()));
    }
    if !filter.statuses.is_empty() || filter.waiting {
        let mut marks = Vec::new();
        for st in &filter.statuses {
            args.push(st.as_str().to_string());
            marks.push(format!("?{}", args.len()));
        }
        let mut any = Vec::new();
        if !marks.is_empty() {
            any.push(format!("status IN ({})", marks.join(", ")));
        }
        if filter.waiting {
            // `Run::is_waiting`: only pending and running runs' steps are read.
            any.push(
                "(status IN ('Pending', 'Running') AND EXISTS (SELECT 1 FROM \
                 json_each(CASE WHEN json_valid(runs.doc) THEN runs.doc ELSE '{}' END, '$.steps') s \
                 WHERE json_extract(s.value, '$.status') = 'Waiting'))"
                    .to_string(),
            );
        }
        sql.push_str(&format!(" AND ({})", any.join(" OR ")));
    }
    for word in &filter.text {
        // A narrowing only (the model's test after decides): the
        // word is in the record's JSON text when it is in any of
        // its fields, unless JSON escapes it.
        if !word.is_ascii()
            || word
                .chars()
                .any(|c| c == '"' || c == '\\' || c.is_control())
        {
            continue;
        }
        args.push(word.to_lowercase());
        sql.push_str(&format!(" AND instr(lower(doc), ?{}) > 0", args.len()));
    }
    if let Some(def) = &filter.definition {
        args.push(def.clone());
        sql.push_str(&format!(" AND definition = ?{}", args.len()));
    }
    if let Some(prefix) = &filter.id_prefix {
        let prefix = prefix.to_ascii_lowercase();
        if !crate::store::is_id_prefix(&prefix) {
            return None;
        }
        args.push(prefix);
        let n = args.len();
        sql.push_str(&format!(" AND substr(id, 1, length(?{n})) = ?{n}"));
    }
    for (key, value) in &filter.variables {
        args.push(key.clone());
        // No JSON matches an empty JSON text: then only the string test.
        args.push(crate::model::var_json(value).map_or_else(String::new, |v| v.to_string()));
        args.push(value.clone());
        let (k, j, t) = (args.len() - 2, args.len() - 1, args.len());
        // `json_each` names the key as it is (no path quoting); a
        // value is compared as JSON text, a string also as text.
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(runs.doc) THEN runs.doc ELSE '{{}}' END, '$.variables') v \
             WHERE v.key = ?{k} AND ((v.type = 'text' AND v.value = ?{t}) OR \
             (CASE v.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
             WHEN 'null' THEN 'null' WHEN 'text' THEN json_quote(v.value) \
             ELSE json(v.value) END) = ?{j}))"
        ));
    }
    if let Some(text) = &filter.log_text {
        args.push(text.to_ascii_lowercase());
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM logs WHERE logs.run_id = runs.id \
             AND instr(lower(CASE WHEN json_valid(logs.doc) \
             THEN json_extract(logs.doc, '$.message') END), ?{}) > 0)",
            args.len()
        ));
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
    Some((sql, args))
}

/// Reads the page `sql` selects: the runs `filter` matches, the corrupt
/// records reported as such, and where the next page starts.
fn read_page(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[String],
    filter: &RunFilter,
) -> Result<RunPage> {
    let mut stmt = conn.prepare(sql).map_err(db_err)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args.iter()), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(db_err)?;
    let mut page = RunPage::default();
    let (mut read, mut last) = (0, None);
    for row in rows {
        let (id, created_at, doc) = row.map_err(db_err)?;
        read += 1;
        last = run_cursor(&id, &created_at).or(last);
        match from_doc::<Run>("runs", &id, &doc) {
            Ok(run) if filter.matches(&run) => page.runs.push(run),
            Ok(_) => {}
            Err(Error::Corrupt { id, reason, .. }) => page.corrupt.push(CorruptRun { id, reason }),
            Err(e) => return Err(e),
        }
    }
    Ok(page.finish(read, last, filter))
}
