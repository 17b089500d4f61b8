//! Runs: inserting, reading and listing them, and their transitions as
//! conditional writes (optimistic concurrency on the run's `version`), with the
//! cache of run documents that saves the read before a write.
//!
//! May use: the codec and errors of this store, the model's run rules, the run
//! cache, the driver.
//!
//! # Step transitions
//!
//! The rules of a run live in one place, the pure functions of
//! [`crate::model::Run`]. A transition here is *optimistic concurrency* on the
//! run's `version`: read the run, apply the transition in memory, then write it
//! back with `replace_one({_id, version: <version read>})`. That write is a
//! single conditional update: when another caller changed the run in between,
//! nothing matches, and the transition is re-applied to a fresh read (bounded,
//! with a short jittered pause). So two callers racing on one step can never
//! both win: of 16 instances claiming one step, exactly one gets `Claimed`.
//! Callers in one process take turns on a run (a FIFO lock per run id), so
//! their transitions cost no retries and none is starved by the others.
//! When the transition changes nothing (`InFlight`, `AlreadyDone`, `NotRunning`,
//! or an error), no write is made: the single-document read is a consistent
//! snapshot, so the outcome is as valid as if it had been written.
//!
//! # Round trips
//!
//! A store keeps, for each run in flight, the last run document it wrote or
//! read (shared by clones; at most
//! [`MongoOptions::run_cache_capacity`](super::MongoOptions::run_cache_capacity)
//! runs, oldest dropped first; a finished run is dropped). A transition first
//! tries that document: apply the transition in memory, then one
//! `replace_one({_id, version, _ops: <token of the write that made it>})`. If
//! it matches, the document was current, so the outcome is exactly what a
//! fresh read would have given. If it matches nothing (another process changed
//! the run), or the transition would write nothing (`InFlight`,
//! `AlreadyDone`, ...: a possibly stale copy cannot vouch for those), the
//! transition is decided on a fresh read as above.
//!
//! So on the hot path, when one process handles consecutive steps of a run
//! (or started it): `claim_step` = 1 conditional write, `complete_step` = 1
//! conditional write: **2 round trips per step** (was 4: a read before each
//! write). A run last changed by another process costs one extra round trip
//! (the write that misses, then the read and write as before). Step log lines
//! are batched writes off the message path. `docs/MONGO_ROUND_TRIPS.md` has
//! the measurements.
//!
//! # A process dying between "record" and "publish"
//!
//! A consumer's success is recorded (`complete_step` returns `Advanced`)
//! before the next step is published, and the incoming message is acked only
//! after both. If the process dies in between, the message is not acked, so the
//! broker redelivers it. On redelivery [`crate::model::Run::claim`] finds this
//! endpoint's handler `Succeeded` and returns `AlreadyDone { republish }` with
//! the next step while that step is still `Pending` (nobody picked it up), so
//! the runtime publishes it then, and the consumer does not run again. If the
//! next step was picked up already, `republish` is `None`: no duplicate.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::stream::TryStreamExt;
use mongodb::bson::{self, doc, Bson, Document};
use uuid::Uuid;

use super::codec::{
    from_doc, run_doc, split_run_doc, ts, version_i64, OPS_FIELD, RUNS, WAKE_FIELD,
};
use super::errors::is_duplicate_key;
use super::MongoStore;
use crate::error::{Error, Result};
use crate::model::{ClaimOutcome, CorruptRun, Run, RunFilter, RunPage, StepKey};
use crate::store::{run_cursor, RunStore};

/// How many transition tokens a run keeps.
const OPS_KEPT: usize = 16;
/// How long a transition whose write got no answer waits for the server to tell
/// whether it landed.
const CONFIRM_PATIENCE: Duration = Duration::from_secs(60);

/// Conditional writes tried per transition before giving up (transiently).
const MAX_CAS_ATTEMPTS: u32 = 64;

pub(super) async fn insert_run(store: &MongoStore, run: &Run) -> Result<()> {
    let doc = run_doc(run)?;
    match store.runs.insert_one(&doc).await {
        Ok(_) => {
            // Whoever started the run often handles its first step too.
            store.cache_put(run.id, doc, run.status.is_finished());
            Ok(())
        }
        Err(e) if is_duplicate_key(&e) => Err(Error::conflict("run", run.id.to_string())),
        Err(e) => Err(store.err("insert run", e)),
    }
}

/// Deletes a finished run (one conditional delete on its status), then its
/// log lines and their sequence counter: lines left by a failure in between
/// expire with the log retention.
pub(super) async fn delete_run(store: &MongoStore, id: Uuid) -> Result<bool> {
    let finished: Vec<&str> = crate::model::RunStatus::all()
        .iter()
        .filter(|s| s.is_finished())
        .map(|s| s.as_str())
        .collect();
    let key = id.to_string();
    let gone = store
        .runs
        .delete_one(doc! {"_id": &key, "status": {"$in": finished}})
        .await
        .map_err(|e| store.err("delete run", e))?
        .deleted_count
        > 0;
    if gone {
        store.cache_remove(id);
        store
            .logs
            .delete_many(doc! {"run_id": &key})
            .await
            .map_err(|e| store.err("delete run logs", e))?;
        store
            .counters
            .delete_one(doc! {"_id": format!("logs:{key}")})
            .await
            .map_err(|e| store.err("delete run logs", e))?;
    }
    Ok(gone)
}

/// See [`RunStore::runs_to_wake`]: a range of the sparse `wake_ms` index.
pub(super) async fn runs_to_wake(
    store: &MongoStore,
    now: chrono::DateTime<chrono::Utc>,
    limit: usize,
) -> Result<Vec<Uuid>> {
    let mut cursor = store
        .runs
        .find(doc! {WAKE_FIELD: {"$lte": now.timestamp_millis()}})
        .projection(doc! {"_id": 1})
        .sort(doc! {WAKE_FIELD: 1})
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .await
        .map_err(|e| store.err("find runs to wake", e))?;
    let mut ids = Vec::new();
    while let Some(d) = cursor
        .try_next()
        .await
        .map_err(|e| store.err("find runs to wake", e))?
    {
        if let Some(id) = d.get_str("_id").ok().and_then(|s| Uuid::parse_str(s).ok()) {
            ids.push(id);
        }
    }
    Ok(ids)
}

pub(super) async fn run_ids_with_prefix(
    store: &MongoStore,
    prefix: &str,
    limit: usize,
) -> Result<Vec<Uuid>> {
    // No id holds other characters; and so neither LIKE's own (`%`, `_`)
    // nor regex syntax reach the query (an anchored prefix is answered
    // from the `_id` index).
    if !crate::store::is_id_prefix(prefix) {
        return Ok(Vec::new());
    }
    let prefix = prefix.to_string();
    let mut cursor = store
        .runs
        .find(doc! {"_id": {"$regex": format!("^{prefix}")}})
        .projection(doc! {"_id": 1})
        .sort(doc! {"_id": 1})
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .await
        .map_err(|e| store.err("find runs by id prefix", e))?;
    let mut out = Vec::new();
    while let Some(d) = cursor
        .try_next()
        .await
        .map_err(|e| store.err("find runs by id prefix", e))?
    {
        if let Some(id) = d.get_str("_id").ok().and_then(|s| Uuid::parse_str(s).ok()) {
            out.push(id);
        }
    }
    Ok(out)
}

pub(super) async fn list_runs(store: &MongoStore, filter: &RunFilter) -> Result<RunPage> {
    let mut query = Document::new();
    if let Some(st) = filter.status {
        query.insert("status", st.as_str());
    }
    if let Some(def) = &filter.definition {
        query.insert("definition", def.as_str());
    }
    let mut and: Vec<Document> = Vec::new();
    if !filter.statuses.is_empty() || filter.waiting {
        let listed: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        let mut any = vec![doc! {"status": {"$in": listed}}];
        if filter.waiting {
            // `Run::is_waiting`: a pending or running run with a step waiting.
            any.push(doc! {
                "status": {"$in": ["Pending", "Running"]},
                "steps.status": "Waiting",
            });
        }
        and.push(doc! {"$or": any});
    }
    if let Some(prefix) = &filter.id_prefix {
        let prefix = prefix.to_ascii_lowercase();
        if !crate::store::is_id_prefix(&prefix) {
            return Ok(RunPage::default());
        }
        and.push(doc! {"_id": {"$regex": format!("^{prefix}")}});
    }
    for (key, value) in &filter.variables {
        // A name with a dot or a leading `$` is no field path: such a test
        // is left to the check after the query.
        if key.contains('.') || key.starts_with('$') || key.is_empty() {
            continue;
        }
        let mut any: Vec<Bson> = vec![Bson::String(value.clone())];
        if let Some(v) = crate::model::var_json(value) {
            any.push(
                bson::to_bson(&v)
                    .map_err(|e| Error::Malformed(format!("variable '{key}': {e}")))?,
            );
        }
        and.push(doc! {format!("variables.{key}"): {"$in": any}});
    }
    if let Some(text) = &filter.log_text {
        let ids = super::logs::runs_with_log_text(store, text).await?;
        and.push(doc! {"_id": {"$in": ids}});
    }
    if !and.is_empty() {
        query.insert("$and", and);
    }
    match (filter.before, filter.before_id) {
        (Some(before), Some(id)) => {
            let at = ts(before);
            query.insert(
                "$or",
                vec![
                    doc! {"created_key": {"$lt": &at}},
                    doc! {"created_key": &at, "_id": {"$lt": id.to_string()}},
                ],
            );
        }
        (Some(before), None) => {
            query.insert("created_key", doc! {"$lt": ts(before)});
        }
        (None, _) => {}
    }
    let limit = i64::try_from(filter.page_size()).unwrap_or(1000);
    let mut cursor = store
        .runs
        .find(query)
        .sort(doc! {"created_key": -1, "_id": -1})
        .limit(limit)
        .await
        .map_err(|e| store.err("list runs", e))?;
    let mut page = RunPage::default();
    let (mut read, mut last) = (0, None);
    while let Some(d) = cursor
        .try_next()
        .await
        .map_err(|e| store.err("list runs", e))?
    {
        read += 1;
        if let (Ok(id), Ok(created)) = (d.get_str("_id"), d.get_str("created_key")) {
            last = run_cursor(id, created).or(last);
        }
        match from_doc::<Run>(RUNS, d, &["created_key", WAKE_FIELD, OPS_FIELD]) {
            Ok(run) if filter.matches(&run) => page.runs.push(run),
            Ok(_) => {}
            Err(Error::Corrupt { id, reason, .. }) => page.corrupt.push(CorruptRun { id, reason }),
            Err(e) => return Err(e),
        }
    }
    Ok(page.finish(read, last, filter))
}

/// One read instead of a write when the step may run: the run as stored
/// decides, and is cached so that recording the outcome is one
/// conditional write on exactly that document.
pub(super) async fn claim_step_unrecorded(
    store: &MongoStore,
    key: &StepKey,
) -> Result<(ClaimOutcome, bool)> {
    let id = key.run_id;
    let k = id.to_string();
    let stored = store
        .read_run_doc(&k)
        .await?
        .ok_or_else(|| Error::not_found("run", k.clone()))?;
    let (run, _) = split_run_doc(stored.clone())?;
    store.cache_put(id, stored, run.status.is_finished());
    if let Some(claimed) = run.peek_claim(key, false)? {
        return Ok((claimed, false));
    }
    Ok((store.claim_step(key, false).await?, true))
}

impl MongoStore {
    pub(super) async fn find_run(&self, key: &str) -> Result<Option<Run>> {
        match self.read_run_doc(key).await? {
            Some(doc) => Ok(Some(split_run_doc(doc)?.0)),
            None => Ok(None),
        }
    }

    /// The run's document as stored (one round trip).
    async fn read_run_doc(&self, key: &str) -> Result<Option<Document>> {
        self.runs
            .find_one(doc! {"_id": key})
            .await
            .map_err(|e| self.err("read run", e))
    }

    /// Applies a transition to one run as a conditional write on its version;
    /// retries on a lost race, with a fresh read.
    ///
    /// The first try starts from the run's cached document (the last one this
    /// process wrote or read), when there is one: a single conditional write,
    /// filtered on the version *and* the token of the write that made that
    /// document. Only a transition that writes is tried that way, and only an
    /// acknowledged match (or a token found after a lost answer) counts as
    /// done; anything else (no match, a transition that writes nothing, an
    /// error) is decided again on a fresh read, exactly as without a cache.
    ///
    /// Each write carries a token of its own into the run (`_ops`, the last
    /// [`OPS_KEPT`] of them). When a write fails without an answer (the server
    /// died or the connection dropped mid-write), its token tells whether it
    /// landed, so the outcome is never computed twice (a second `complete`
    /// would say `Recorded` instead of `Advanced`, and the next step would
    /// never be published). A write that was not found landed but shows up on
    /// a later read of this call (it was still in flight when checked) is
    /// recognised by its token too, and its outcome returned.
    pub(super) async fn mutate_run<T, F>(&self, id: Uuid, mut f: F) -> Result<(Run, T)>
    where
        F: FnMut(&mut Run) -> Result<T> + Send,
        T: Send,
    {
        let key = id.to_string();
        // Callers in this process take turns (FIFO) on one run, so they do not
        // waste round trips racing each other and a slow one cannot be starved;
        // the conditional write still settles races with other processes.
        let lock = self.run_lock(id);
        let _turn = lock.lock().await;
        // Writes of this call whose answer was lost and that were not found
        // landed when checked: (token, run as written, outcome).
        let mut unanswered: Vec<(Bson, Run, T)> = Vec::new();

        if let Some((mut run, ops)) = self.cached_run(id) {
            let seen = run.version;
            if let Ok(out) = f(&mut run) {
                if run.version != seen {
                    let mut filter = doc! {"_id": &key, "version": version_i64(&key, seen)?};
                    if let Some(last) = ops.last() {
                        // The token of the write that made the cached document:
                        // the match is that very document, not just its version.
                        filter.insert(OPS_FIELD, last.clone());
                    }
                    if let Some(done) = self
                        .write_run(id, &key, filter, run, out, ops, &mut unanswered)
                        .await?
                    {
                        return Ok(done);
                    }
                }
            }
            // Stale, or an outcome that writes nothing (which a stale copy
            // cannot vouch for): decide on a fresh read.
        }

        for attempt in 0..MAX_CAS_ATTEMPTS {
            let stored = self
                .read_run_doc(&key)
                .await?
                .ok_or_else(|| Error::not_found("run", key.clone()))?;
            let (mut run, ops) = split_run_doc(stored.clone())?;
            self.cache_put(id, stored, run.status.is_finished());
            if let Some(pos) = unanswered.iter().position(|(t, _, _)| ops.contains(t)) {
                // A write of this call landed after all.
                let (_, run, out) = unanswered.swap_remove(pos);
                return Ok((run, out));
            }
            let seen = run.version;
            let out = f(&mut run)?;
            if run.version == seen {
                // Nothing changed: the read was a consistent snapshot.
                return Ok((run, out));
            }
            let filter = doc! {"_id": &key, "version": version_i64(&key, seen)?};
            if let Some(done) = self
                .write_run(id, &key, filter, run, out, ops, &mut unanswered)
                .await?
            {
                return Ok(done);
            }
            // Someone else changed the run in between: back off a little, re-read.
            if attempt > 0 {
                let jitter = u64::from(Uuid::new_v4().as_bytes()[0] % 8);
                tokio::time::sleep(Duration::from_millis(
                    (u64::from(attempt.min(10)) * 2) + jitter,
                ))
                .await;
            }
        }
        Err(Error::Store(format!(
            "run {key}: still contended after {MAX_CAS_ATTEMPTS} conditional writes"
        )))
    }

    /// One conditional write of `run` (a transition of the document whose
    /// tokens are `ops`) where `filter` matches, with a new token. `Some` when
    /// it was applied (acknowledged, or its token found after a lost answer);
    /// `None` when it matched nothing, or got no answer and was not found
    /// (then it joins `unanswered`). The cache follows what is known: the
    /// written document when applied, nothing otherwise.
    #[allow(clippy::too_many_arguments)]
    async fn write_run<T>(
        &self,
        id: Uuid,
        key: &str,
        filter: Document,
        run: Run,
        out: T,
        mut ops: Vec<Bson>,
        unanswered: &mut Vec<(Bson, Run, T)>,
    ) -> Result<Option<(Run, T)>> {
        let token = Bson::String(Uuid::new_v4().simple().to_string());
        let mut doc = run_doc(&run)?;
        ops.push(token.clone());
        let drop = ops.len().saturating_sub(OPS_KEPT);
        doc.insert(OPS_FIELD, Bson::Array(ops.split_off(drop)));
        let applied = match self.runs.replace_one(filter, &doc).await {
            Ok(res) => res.matched_count == 1,
            Err(e) => {
                self.cache_remove(id);
                if !self.landed(key, &token, e).await? {
                    unanswered.push((token, run, out));
                    return Ok(None);
                }
                true
            }
        };
        if !applied {
            self.cache_remove(id);
            return Ok(None);
        }
        self.cache_put(id, doc, run.status.is_finished());
        Ok(Some((run, out)))
    }

    /// The run's cached document, parsed; `None` when there is none (or it
    /// does not parse, which a fresh read will report).
    fn cached_run(&self, id: Uuid) -> Option<(Run, Vec<Bson>)> {
        let doc = self
            .run_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)?
            .clone();
        split_run_doc(doc).ok()
    }

    fn cache_put(&self, id: Uuid, doc: Document, finished: bool) {
        self.run_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(id, doc, finished);
    }

    fn cache_remove(&self, id: Uuid) {
        self.run_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(id);
    }

    /// After a write to run `key` failed with `error`, finds out whether it
    /// landed anyway, waiting (bounded) for the server to answer again.
    async fn landed(&self, key: &str, token: &Bson, error: mongodb::error::Error) -> Result<bool> {
        let deadline = tokio::time::Instant::now() + CONFIRM_PATIENCE;
        let mut delay = Duration::from_millis(100);
        let mut last = error;
        loop {
            if tokio::time::Instant::now() >= deadline {
                return Err(self.err("update run (outcome unknown)", last));
            }
            match self
                .runs
                .find_one(doc! {"_id": key})
                .projection(doc! {OPS_FIELD: 1})
                .await
            {
                Ok(Some(d)) => {
                    return Ok(d.get_array(OPS_FIELD).is_ok_and(|ops| ops.contains(token)))
                }
                Ok(None) => return Ok(false),
                Err(e) => last = e,
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    fn run_lock(&self, id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.run_locks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = locks.get(&id).and_then(Weak::upgrade) {
            return lock;
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        if locks.len() >= 256 {
            locks.retain(|_, l| l.strong_count() > 0);
        }
        locks.insert(id, Arc::downgrade(&lock));
        lock
    }
}
