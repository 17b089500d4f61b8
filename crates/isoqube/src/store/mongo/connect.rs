//! Connecting: the client (URL with TLS and credentials, timeouts, app name,
//! command monitoring for tests), the store's collections and the indexes every
//! query needs, made idempotently.
//!
//! A URL that does not parse is [`Error::Config`]; a server that cannot be
//! reached within the server selection timeout is [`Error::Store`]. Neither
//! shows the URL's password.
//!
//! May use: the options, codec (collection names), errors and watch (the
//! initial change-stream state) of this store, the run cache, the redaction of
//! secrets, the driver.

use std::sync::atomic::AtomicU8;
use std::sync::Arc;
use std::time::Duration;

use mongodb::bson::{doc, Document};
use mongodb::error::ErrorKind;
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use mongodb::options::{Acknowledgment, ClientOptions, IndexOptions, WriteConcern};
use mongodb::{Client, IndexModel};

use super::codec::{COUNTERS, DEFINITIONS, LOGS, RUNS, SERVICES, TOPICS, WAKE_FIELD};
use super::errors::command_code;
use super::options::{
    validate_database_name, MongoOptions, WriteDurability, DATABASE_ENV, DEFAULT_DATABASE,
    DEFAULT_URL, URL_ENV,
};
use super::watch::CHANGE_STREAMS_UNKNOWN;
use super::MongoStore;
use crate::error::{Error, Result};
use crate::redact::{redact_url, Secrets};
use crate::store::run_cache::RunCache;
use crate::store::RunStore;

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
        options.write_concern = Some(match opts.durability {
            WriteDurability::Majority => WriteConcern::builder()
                .w(Acknowledgment::Majority)
                .journal(true)
                .build(),
            WriteDurability::Acknowledged => WriteConcern::builder()
                .w(Acknowledgment::Nodes(1))
                .journal(false)
                .build(),
        });
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
        let wake = IndexModel::builder()
            .keys(doc! {WAKE_FIELD: 1})
            .options(
                IndexOptions::builder()
                    .name("runs_by_wake".to_string())
                    .sparse(true)
                    .build(),
            )
            .build();
        self.runs
            .create_index(wake)
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
}
