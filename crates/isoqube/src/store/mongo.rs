//! The MongoDB store: definitions, runs, services, topics and logs in one
//! database (default `isoqube`) on the official `mongodb` driver.
//!
//! # Documents
//!
//! Every record is stored with its serde shape (the same JSON the SQLite store
//! keeps, converted to BSON), plus an `_id`: the run id string, the definition
//! name, the service id or the topic name. A few extra fields serve the queries
//! and are ignored when a document is read back:
//!
//! * `runs.created_key`: `created_at` as an RFC 3339 string with fixed
//!   microsecond precision, so string order is time order (the control center
//!   lists runs newest first and pages with `before`);
//! * `logs.seq`: the line's position in its run (reserved per batch from a
//!   per-run counter in `counters`), so `run_logs(skip)` pages stably even when
//!   several services flush lines of one run out of time order;
//! * `logs.ts`: the timestamp as a BSON date, for the TTL index that expires
//!   log lines after [`MongoOptions::log_retention`] (default 14 days).
//!
//! * `runs._ops`: tokens of the last transitions written (one per write), so
//!   a write whose answer was lost (server killed mid-write) is recognised,
//!   not re-applied, and a cached document is matched as that very document.
//!
//! A document that does not parse gives [`Error::Corrupt`] naming the collection
//! and the id; it never panics.
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
//! read (shared by clones; at most [`MongoOptions::run_cache_capacity`] runs,
//! oldest dropped first; a finished run is dropped). A transition first tries
//! that document: apply the transition in memory, then one
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
//!
//! # Outages
//!
//! Every driver failure maps to [`Error::Store`], which
//! [`Error::is_transient`] reports as transient, so the runtime retries or
//! requeues. The client's server selection timeout is short (default 5 s, see
//! [`MongoOptions`]) so every call fails in bounded time while the server is
//! away.
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
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::stream::{StreamExt, TryStreamExt};
use mongodb::bson::{self, doc, Bson, Document};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use super::run_cache::RunCache;
use super::RunStore;
use crate::error::{Error, Result};
use crate::model::{
    ClaimOutcome, CompleteOutcome, Definition, FailOutcome, LogRecord, NextStep, Run, RunFilter,
    ServiceRecord, StepKey, TopicRecord, Variables,
};

/// The environment variable holding the connection URL.
pub const URL_ENV: &str = "ISOQUBE_MONGO_URL";
/// The environment variable holding the database name.
pub const DATABASE_ENV: &str = "ISOQUBE_MONGO_DB";
/// The URL used when [`URL_ENV`] is not set.
pub const DEFAULT_URL: &str = "mongodb://127.0.0.1:27017";
/// The database used when none is given.
pub const DEFAULT_DATABASE: &str = "isoqube";

const RUNS: &str = "runs";
const DEFINITIONS: &str = "definitions";
const SERVICES: &str = "services";
/// Last claimed due time per schedule (`definition/schedule`).
const TICKS: &str = "schedule_ticks";
const TOPICS: &str = "topics";
const LOGS: &str = "logs";
const COUNTERS: &str = "counters";

/// The run field holding the tokens of the last transitions written.
const OPS_FIELD: &str = "_ops";
/// How many transition tokens a run keeps.
const OPS_KEPT: usize = 16;
/// How long a transition whose write got no answer waits for the server to tell
/// whether it landed.
const CONFIRM_PATIENCE: Duration = Duration::from_secs(60);

/// Conditional writes tried per transition before giving up (transiently).
const MAX_CAS_ATTEMPTS: u32 = 64;

const CHANGE_STREAMS_UNKNOWN: u8 = 0;
const CHANGE_STREAMS_YES: u8 = 1;
const CHANGE_STREAMS_NO: u8 = 2;

/// The default of [`MongoOptions::run_cache_capacity`].
pub const DEFAULT_RUN_CACHE_CAPACITY: usize = 10_000;

/// Tuning of a [`MongoStore`].
///
/// ```
/// let opts = isoqube::store::mongo::MongoOptions::default();
/// assert_eq!(opts.server_selection_timeout, std::time::Duration::from_secs(5));
/// assert_eq!(opts.log_retention, std::time::Duration::from_secs(14 * 24 * 3600));
/// assert_eq!(opts.run_cache_capacity, 10_000);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MongoOptions {
    /// How long a call waits for a usable server before failing with
    /// [`Error::Store`] (also the connect timeout).
    pub server_selection_timeout: Duration,
    /// How long step log lines are kept (TTL index on `logs.ts`).
    pub log_retention: Duration,
    /// Shown in the server's logs and `currentOp`.
    pub app_name: String,
    /// How many runs in flight keep their last known document in memory, so a
    /// step transition is one conditional write instead of a read and a write
    /// (see "Round trips" in the module docs). The oldest entry is dropped
    /// when full; `0` turns the cache off.
    pub run_cache_capacity: usize,
}

impl Default for MongoOptions {
    fn default() -> Self {
        MongoOptions {
            server_selection_timeout: Duration::from_secs(5),
            log_retention: Duration::from_secs(14 * 24 * 3600),
            app_name: "isoqube".to_string(),
            run_cache_capacity: DEFAULT_RUN_CACHE_CAPACITY,
        }
    }
}

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
    change_streams: Arc<AtomicU8>,
    run_locks: Arc<std::sync::Mutex<HashMap<Uuid, Weak<tokio::sync::Mutex<()>>>>>,
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

pub use crate::redact::redact_url;
use crate::redact::Secrets;

/// `created_at` as stored for ordering: RFC 3339, fixed microseconds, `Z`.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A record as a BSON document of its serde (JSON) shape.
fn to_doc<T: Serialize>(what: &str, id: &str, v: &T) -> Result<Document> {
    let json = serde_json::to_value(v)
        .map_err(|e| Error::Store(format!("cannot serialise {what} '{id}': {e}")))?;
    match bson::to_bson(&json) {
        Ok(Bson::Document(d)) => Ok(d),
        Ok(_) => Err(Error::Store(format!(
            "cannot serialise {what} '{id}': not a document"
        ))),
        Err(e) => Err(Error::Store(format!("cannot serialise {what} '{id}': {e}"))),
    }
}

/// A stored document back as a record; `extra` names the store's own fields.
fn from_doc<T: DeserializeOwned>(collection: &str, mut doc: Document, extra: &[&str]) -> Result<T> {
    let id = match doc.remove("_id") {
        Some(Bson::String(s)) => s,
        Some(other) => other.to_string(),
        None => "<no _id>".to_string(),
    };
    for field in extra {
        doc.remove(field);
    }
    let json = Bson::Document(doc).into_relaxed_extjson();
    serde_json::from_value(json)
        .map_err(|e| Error::corrupt(collection, id, format!("does not parse: {e}")))
}

fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .is_some_and(|ws| ws.iter().any(|w| w.code == 11000)),
        _ => false,
    }
}

fn command_code(e: &mongodb::error::Error) -> Option<i32> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        _ => None,
    }
}

impl MongoStore {
    /// Connects to `url` (TLS and authentication through the URL) and prepares
    /// `database`: collections and indexes, idempotently. Fails with
    /// [`Error::Store`] when the server cannot be reached within the server
    /// selection timeout, [`Error::Config`] when the URL or the name is wrong.
    pub async fn connect(url: &str, database: &str) -> Result<Self> {
        Self::connect_with(url, database, MongoOptions::default()).await
    }

    /// Connects with the URL from `ISOQUBE_MONGO_URL` (default
    /// `mongodb://127.0.0.1:27017`) and the database from `ISOQUBE_MONGO_DB`
    /// (default `isoqube`).
    pub async fn from_env() -> Result<Self> {
        let url = std::env::var(URL_ENV)
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_URL.to_string());
        let db = std::env::var(DATABASE_ENV)
            .ok()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        Self::connect(&url, &db).await
    }

    /// [`MongoStore::connect`] with explicit [`MongoOptions`].
    pub async fn connect_with(url: &str, database: &str, opts: MongoOptions) -> Result<Self> {
        Self::connect_inner(url, database, opts, None).await
    }

    /// [`MongoStore::connect_with`], with the driver's command monitoring sent to
    /// `handler` (every command the client sends to the server). For tests that
    /// count round trips; not part of the supported API.
    #[doc(hidden)]
    pub async fn connect_with_command_events(
        url: &str,
        database: &str,
        opts: MongoOptions,
        handler: EventHandler<CommandEvent>,
    ) -> Result<Self> {
        Self::connect_inner(url, database, opts, Some(handler)).await
    }

    async fn connect_inner(
        url: &str,
        database: &str,
        opts: MongoOptions,
        command_events: Option<EventHandler<CommandEvent>>,
    ) -> Result<Self> {
        let redacted: Arc<str> = redact_url(url).into();
        let secrets = Arc::new(Secrets::of(url));
        validate_database_name(database)?;
        let mut options = ClientOptions::parse(url).await.map_err(|e| {
            let msg = secrets.scrub(&e);
            match e.kind.as_ref() {
                ErrorKind::InvalidArgument { .. } => {
                    Error::Config(format!("MongoDB URL {redacted}: {msg}"))
                }
                _ => Error::Store(format!("mongodb {redacted}: {msg}")),
            }
        })?;
        options.server_selection_timeout = Some(opts.server_selection_timeout);
        options.connect_timeout = Some(opts.server_selection_timeout);
        if options.app_name.is_none() {
            options.app_name = Some(opts.app_name.clone());
        }
        if command_events.is_some() {
            options.command_event_handler = command_events;
        }
        let client = Client::with_options(options)
            .map_err(|e| Error::Config(format!("MongoDB URL {redacted}: {}", secrets.scrub(&e))))?;
        let db = client.database(database);
        let store = MongoStore {
            runs: db.collection(RUNS),
            definitions: db.collection(DEFINITIONS),
            services: db.collection(SERVICES),
            topics: db.collection(TOPICS),
            logs: db.collection(LOGS),
            counters: db.collection(COUNTERS),
            db,
            redacted_url: redacted,
            secrets,
            change_streams: Arc::new(AtomicU8::new(CHANGE_STREAMS_UNKNOWN)),
            run_locks: Arc::default(),
            run_cache: Arc::new(std::sync::Mutex::new(RunCache::new(
                opts.run_cache_capacity,
            ))),
        };
        if let Err(e) = store.prepare(&opts).await {
            // As in `close`: ending the sessions is not left to `Drop`.
            let _ = store.close().await;
            return Err(e);
        }
        tracing::debug!(url = %store.redacted_url, database, "mongodb store ready");
        Ok(store)
    }

    /// The URL it connected to, password redacted.
    pub fn redacted_url(&self) -> &str {
        &self.redacted_url
    }

    /// The database name.
    pub fn database_name(&self) -> &str {
        self.db.name()
    }

    /// Drops the whole database (tests, resets). Irreversible.
    pub async fn drop_database(&self) -> Result<()> {
        self.db
            .drop()
            .await
            .map_err(|e| self.err("drop database", e))
    }

    fn err(&self, what: &str, e: mongodb::error::Error) -> Error {
        Error::Store(format!("mongodb {what}: {}", self.secrets.scrub(&e)))
    }

    /// Creates the indexes every query needs; idempotent.
    async fn prepare(&self, opts: &MongoOptions) -> Result<()> {
        let named = |keys: Document, name: &str, unique: bool| {
            IndexModel::builder()
                .keys(keys)
                .options(
                    IndexOptions::builder()
                        .name(name.to_string())
                        .unique(unique.then_some(true))
                        .build(),
                )
                .build()
        };
        self.definitions
            .create_indexes([named(doc! {"name": 1}, "definitions_by_name", true)])
            .await
            .map_err(|e| self.err("create definitions indexes", e))?;
        self.runs
            .create_indexes([
                named(
                    doc! {"created_key": -1, "_id": -1},
                    "runs_by_created",
                    false,
                ),
                named(
                    doc! {"status": 1, "created_key": -1},
                    "runs_by_status",
                    false,
                ),
                named(
                    doc! {"definition": 1, "created_key": -1},
                    "runs_by_definition",
                    false,
                ),
            ])
            .await
            .map_err(|e| self.err("create runs indexes", e))?;
        self.logs
            .create_indexes([named(doc! {"run_id": 1, "seq": 1}, "logs_by_run", false)])
            .await
            .map_err(|e| self.err("create logs indexes", e))?;
        let secs = opts.log_retention.as_secs().max(1);
        let ttl = IndexModel::builder()
            .keys(doc! {"ts": 1})
            .options(
                IndexOptions::builder()
                    .name("logs_ttl".to_string())
                    .expire_after(Duration::from_secs(secs))
                    .build(),
            )
            .build();
        if let Err(e) = self.logs.create_index(ttl).await {
            // 85 IndexOptionsConflict / 86 IndexKeySpecsConflict: the retention
            // changed since the index was made; adjust it in place.
            if matches!(command_code(&e), Some(85) | Some(86)) {
                let secs = i64::try_from(secs).unwrap_or(i64::MAX);
                self.db
                    .run_command(doc! {
                        "collMod": LOGS,
                        "index": {"name": "logs_ttl", "expireAfterSeconds": secs},
                    })
                    .await
                    .map_err(|e| self.err("change logs retention", e))?;
            } else {
                return Err(self.err("create logs TTL index", e));
            }
        }
        Ok(())
    }

    async fn find_run(&self, key: &str) -> Result<Option<Run>> {
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

    fn run_doc(run: &Run) -> Result<Document> {
        let id = run.id.to_string();
        let mut d = to_doc("run", &id, run)?;
        d.insert("_id", id);
        d.insert("created_key", ts(run.created_at));
        Ok(d)
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
    async fn mutate_run<T, F>(&self, id: Uuid, mut f: F) -> Result<(Run, T)>
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
        let mut doc = Self::run_doc(&run)?;
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

    async fn list_all<T: DeserializeOwned>(
        &self,
        coll: &Collection<Document>,
        name: &str,
    ) -> Result<Vec<T>> {
        let mut cursor = coll
            .find(doc! {})
            .sort(doc! {"_id": 1})
            .await
            .map_err(|e| self.err(&format!("list {name}"), e))?;
        let mut out = Vec::new();
        while let Some(d) = cursor
            .try_next()
            .await
            .map_err(|e| self.err(&format!("list {name}"), e))?
        {
            out.push(from_doc(name, d, &[])?);
        }
        Ok(out)
    }

    /// Polls like the trait's default (used where change streams are not supported).
    async fn poll_for_change(
        &self,
        id: Uuid,
        seen_version: u64,
        deadline: tokio::time::Instant,
    ) -> Result<Option<Run>> {
        loop {
            match self.get_run(id).await? {
                Some(run) if run.version > seen_version => return Ok(Some(run)),
                Some(_) => {}
                None => return Err(Error::not_found("run", id.to_string())),
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A run document as the run and the tokens of the last transitions written
/// to it.
fn split_run_doc(mut doc: Document) -> Result<(Run, Vec<Bson>)> {
    let ops = match doc.remove(OPS_FIELD) {
        Some(Bson::Array(ops)) => ops,
        _ => Vec::new(),
    };
    Ok((from_doc(RUNS, doc, &["created_key"])?, ops))
}

/// A run version as stored (BSON has no unsigned integers).
fn version_i64(key: &str, version: u64) -> Result<i64> {
    i64::try_from(version).map_err(|_| Error::Store(format!("run {key}: version out of range")))
}

fn validate_database_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 63
        || name
            .chars()
            .any(|c| matches!(c, '/' | '\\' | '.' | ' ' | '"' | '$' | '\0'))
    {
        return Err(Error::Config(format!(
            "'{name}' is not a valid MongoDB database name (1-63 characters, none of /\\. \"$)"
        )));
    }
    Ok(())
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
        let mut d = to_doc("definition", &def.name, def)?;
        d.insert("_id", def.name.clone());
        match self.definitions.insert_one(d).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Err(Error::conflict("definition", def.name.clone())),
            Err(e) => Err(self.err("insert definition", e)),
        }
    }

    async fn update_definition(&self, def: &Definition) -> Result<()> {
        let mut d = to_doc("definition", &def.name, def)?;
        d.insert("_id", def.name.clone());
        let res = self
            .definitions
            .replace_one(doc! {"_id": &def.name}, d)
            .await
            .map_err(|e| self.err("update definition", e))?;
        if res.matched_count == 0 {
            return Err(Error::not_found("definition", def.name.clone()));
        }
        Ok(())
    }

    async fn get_definition(&self, name: &str) -> Result<Option<Definition>> {
        self.definitions
            .find_one(doc! {"_id": name})
            .await
            .map_err(|e| self.err("read definition", e))?
            .map(|d| from_doc(DEFINITIONS, d, &[]))
            .transpose()
    }

    async fn list_definitions(&self) -> Result<Vec<Definition>> {
        self.list_all(&self.definitions, DEFINITIONS).await
    }

    async fn delete_definition(&self, name: &str) -> Result<bool> {
        let res = self
            .definitions
            .delete_one(doc! {"_id": name})
            .await
            .map_err(|e| self.err("delete definition", e))?;
        Ok(res.deleted_count > 0)
    }

    async fn insert_run(&self, run: &Run) -> Result<()> {
        let doc = Self::run_doc(run)?;
        match self.runs.insert_one(&doc).await {
            Ok(_) => {
                // Whoever started the run often handles its first step too.
                self.cache_put(run.id, doc, run.status.is_finished());
                Ok(())
            }
            Err(e) if is_duplicate_key(&e) => Err(Error::conflict("run", run.id.to_string())),
            Err(e) => Err(self.err("insert run", e)),
        }
    }

    async fn get_run(&self, id: Uuid) -> Result<Option<Run>> {
        self.find_run(&id.to_string()).await
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>> {
        let mut query = Document::new();
        if let Some(st) = filter.status {
            query.insert("status", st.as_str());
        }
        if let Some(def) = &filter.definition {
            query.insert("definition", def.as_str());
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
        let mut cursor = self
            .runs
            .find(query)
            .sort(doc! {"created_key": -1, "_id": -1})
            .limit(limit)
            .await
            .map_err(|e| self.err("list runs", e))?;
        let mut out = Vec::new();
        while let Some(d) = cursor
            .try_next()
            .await
            .map_err(|e| self.err("list runs", e))?
        {
            out.push(from_doc(RUNS, d, &["created_key", OPS_FIELD])?);
        }
        Ok(out)
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
        let id = key.run_id;
        let k = id.to_string();
        let stored = self
            .read_run_doc(&k)
            .await?
            .ok_or_else(|| Error::not_found("run", k.clone()))?;
        let (run, _) = split_run_doc(stored.clone())?;
        self.cache_put(id, stored, run.status.is_finished());
        if let Some(claimed) = run.peek_claim(key, false)? {
            return Ok((claimed, false));
        }
        Ok((self.claim_step(key, false).await?, true))
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

    async fn resume_run(&self, id: Uuid) -> Result<(Run, NextStep)> {
        self.mutate_run(id, |run| run.resume(Utc::now())).await
    }

    async fn abort_run(&self, id: Uuid, reason: &str) -> Result<Run> {
        Ok(self
            .mutate_run(id, |run| run.abort(reason, Utc::now()))
            .await?
            .0)
    }

    async fn register_service(&self, service: &ServiceRecord) -> Result<()> {
        let mut d = to_doc("service", &service.id, service)?;
        d.insert("_id", service.id.clone());
        self.services
            .replace_one(doc! {"_id": &service.id}, d)
            .upsert(true)
            .await
            .map_err(|e| self.err("register service", e))?;
        Ok(())
    }

    async fn heartbeat(&self, service_id: &str, at: DateTime<Utc>) -> Result<()> {
        let at = serde_json::to_value(at)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| ts(at));
        let res = self
            .services
            .update_one(doc! {"_id": service_id}, doc! {"$set": {"last_seen": at}})
            .await
            .map_err(|e| self.err("heartbeat", e))?;
        if res.matched_count == 0 {
            return Err(Error::not_found("service", service_id));
        }
        Ok(())
    }

    async fn remove_service(&self, service_id: &str) -> Result<()> {
        self.services
            .delete_one(doc! {"_id": service_id})
            .await
            .map_err(|e| self.err("remove service", e))?;
        Ok(())
    }

    async fn close(&self) -> Result<()> {
        // Ends the server sessions now: left to `Drop`, the driver spawns that
        // work on a runtime that may be shutting down (and panics there).
        self.db.client().clone().shutdown().immediate(true).await;
        Ok(())
    }

    async fn claim_tick(&self, key: &str, due: DateTime<Utc>) -> Result<bool> {
        let ticks = self.db.collection::<Document>(TICKS);
        let due_ms = due.timestamp_millis();
        // Move an older tick forward; else create the first one. Two claimants
        // of a new key meet at the unique _id: one insert wins.
        let moved = ticks
            .update_one(
                doc! {"_id": key, "due_ms": {"$lt": due_ms}},
                doc! {"$set": {"due_ms": due_ms}},
            )
            .await
            .map_err(|e| self.err("claim schedule tick", e))?;
        if moved.matched_count == 1 {
            return Ok(true);
        }
        match ticks.insert_one(doc! {"_id": key, "due_ms": due_ms}).await {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(self.err("claim schedule tick", e)),
        }
    }

    async fn last_tick(&self, key: &str) -> Result<Option<DateTime<Utc>>> {
        let ticks = self.db.collection::<Document>(TICKS);
        let found = ticks
            .find_one(doc! {"_id": key})
            .await
            .map_err(|e| self.err("read schedule tick", e))?;
        Ok(found
            .and_then(|d| d.get_i64("due_ms").ok())
            .and_then(DateTime::from_timestamp_millis))
    }

    async fn list_services(&self) -> Result<Vec<ServiceRecord>> {
        self.list_all(&self.services, SERVICES).await
    }

    async fn upsert_topics(&self, topics: &[TopicRecord]) -> Result<()> {
        for t in topics {
            // One atomic upsert per topic: the consumer list is a set union
            // ($addToSet), so services registering concurrently lose nothing.
            let mut fields = to_doc("topic", &t.name, t)?;
            let consumers = fields
                .remove("consumers")
                .unwrap_or_else(|| Bson::Array(Vec::new()));
            self.topics
                .update_one(
                    doc! {"_id": &t.name},
                    doc! {
                        "$set": fields,
                        "$addToSet": {"consumers": {"$each": consumers}},
                    },
                )
                .upsert(true)
                .await
                .map_err(|e| self.err("upsert topic", e))?;
        }
        Ok(())
    }

    async fn list_topics(&self) -> Result<Vec<TopicRecord>> {
        let mut topics: Vec<TopicRecord> = self.list_all(&self.topics, TOPICS).await?;
        for t in &mut topics {
            t.consumers.sort();
        }
        Ok(topics)
    }

    async fn append_logs(&self, logs: &[LogRecord]) -> Result<()> {
        if logs.is_empty() {
            return Ok(());
        }
        // Reserve a block of sequence numbers per run, then insert the lines.
        let mut runs: Vec<(Uuid, i64)> = Vec::new();
        for l in logs {
            match runs.iter_mut().find(|(id, _)| *id == l.run_id) {
                Some((_, n)) => *n += 1,
                None => runs.push((l.run_id, 1)),
            }
        }
        let mut next: Vec<(Uuid, i64)> = Vec::with_capacity(runs.len());
        for (run, n) in runs {
            let counter = self
                .counters
                .find_one_and_update(
                    doc! {"_id": format!("logs:{run}")},
                    doc! {"$inc": {"seq": n}},
                )
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await
                .map_err(|e| self.err("reserve log sequence", e))?;
            let end = counter
                .as_ref()
                .and_then(|c| match c.get("seq") {
                    Some(Bson::Int64(v)) => Some(*v),
                    Some(Bson::Int32(v)) => Some(i64::from(*v)),
                    Some(Bson::Double(v)) => Some(*v as i64),
                    _ => None,
                })
                .ok_or_else(|| {
                    Error::Store(format!("counters document 'logs:{run}' has no sequence"))
                })?;
            next.push((run, end - n + 1));
        }
        let mut docs = Vec::with_capacity(logs.len());
        for l in logs {
            let mut d = to_doc("log line of run", &l.run_id.to_string(), l)?;
            if let Some((_, seq)) = next.iter_mut().find(|(id, _)| *id == l.run_id) {
                d.insert("seq", *seq);
                *seq += 1;
            }
            d.insert(
                "ts",
                bson::DateTime::from_millis(l.timestamp.timestamp_millis()),
            );
            docs.push(d);
        }
        self.logs
            .insert_many(docs)
            .await
            .map_err(|e| self.err("append logs", e))?;
        Ok(())
    }

    async fn run_logs(&self, run_id: Uuid, skip: usize) -> Result<Vec<LogRecord>> {
        let mut cursor = self
            .logs
            .find(doc! {"run_id": run_id.to_string()})
            .sort(doc! {"seq": 1})
            .skip(u64::try_from(skip).unwrap_or(u64::MAX))
            .await
            .map_err(|e| self.err("read logs", e))?;
        let mut out = Vec::new();
        while let Some(d) = cursor
            .try_next()
            .await
            .map_err(|e| self.err("read logs", e))?
        {
            out.push(from_doc(LOGS, d, &["seq", "ts"])?);
        }
        Ok(out)
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
        let deadline = tokio::time::Instant::now() + timeout;
        if self.change_streams.load(Ordering::Relaxed) == CHANGE_STREAMS_NO {
            return self.poll_for_change(id, seen_version, deadline).await;
        }
        let key = id.to_string();
        let opened = self
            .runs
            .watch()
            .pipeline([doc! {"$match": {"documentKey._id": &key}}])
            .await;
        let mut stream = match opened {
            Ok(s) => {
                self.change_streams
                    .store(CHANGE_STREAMS_YES, Ordering::Relaxed);
                s
            }
            Err(e) if command_code(&e).is_some() => {
                tracing::debug!(
                    error = %self.secrets.scrub(&e),
                    "mongodb change streams unavailable; polling for run changes"
                );
                self.change_streams
                    .store(CHANGE_STREAMS_NO, Ordering::Relaxed);
                return self.poll_for_change(id, seen_version, deadline).await;
            }
            Err(e) => return Err(self.err("watch run", e)),
        };
        // Read after the stream is open, so a change in between is not missed.
        loop {
            match self.get_run(id).await? {
                Some(run) if run.version > seen_version => return Ok(Some(run)),
                Some(_) => {}
                None => return Err(Error::not_found("run", key)),
            }
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => return Ok(None),
                Ok(Some(Ok(_event))) => {}
                Ok(Some(Err(e))) => return Err(self.err("watch run", e)),
                Ok(None) => return self.poll_for_change(id, seen_version, deadline).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_urls_and_names_are_config_errors_without_secrets() {
        let e = MongoStore::connect("mongodb://u:topsecret@db:notaport/", "isoqube")
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e}");
        assert!(!e.to_string().contains("topsecret"), "{e}");
        let e = MongoStore::connect("mongodb://db/", "a/b")
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e}");
    }

    #[test]
    fn documents_round_trip_with_their_serde_shape() {
        let def = Definition::new("release", ["Build", "Deploy"]);
        let run = Run::new(&def, Variables::new(), "test");
        let d = MongoStore::run_doc(&run).unwrap();
        assert_eq!(d.get_str("_id").unwrap(), run.id.to_string());
        assert_eq!(d.get_str("id").unwrap(), run.id.to_string());
        let back: Run = from_doc(RUNS, d, &["created_key"]).unwrap();
        assert_eq!(back, run);
        let bad = doc! {"_id": "x1", "status": 42};
        let e = from_doc::<Run>(RUNS, bad, &[]).unwrap_err().to_string();
        assert!(
            e.contains("runs record 'x1' is corrupt: does not parse"),
            "{e}"
        );
    }
}
