//! One configuration for every Isoqube binary: a TOML file plus `ISOQUBE_*`
//! environment overrides, turned into a transport, a store, a service builder
//! and logging.
//!
//! Where the file comes from: `--config PATH` (the binaries' flag), else
//! `ISOQUBE_CONFIG`, else `./isoqube.toml` when it exists; without any, the
//! embedded defaults (in-process transport, `./isoqube.db`). A file that was
//! named but is missing, a key that does not exist, a value of the wrong type or
//! a malformed environment override is an error naming the key and the file
//! (or the variable). [`Config::to_toml_redacted`] prints the effective
//! configuration with passwords hidden (`config show`).
//!
//! ```toml
//! [transport]
//! kind = "amqp"                 # "amqp" or "in-process"
//! url = "amqp://guest:guest@127.0.0.1:5672/%2f"
//! vhost = "/"                   # optional: overrides the URL's vhost
//! prefix = ""                   # prepended to every exchange and queue
//! quorum = false                # quorum queues
//! publish_timeout_secs = 10
//! tls_ca_file = "/etc/isoqube/ca.pem" # optional: a private CA for amqps://
//! tls_cert_file = "/etc/isoqube/client.pem" # optional: client certificate
//! tls_key_file = "/etc/isoqube/client.key"  # and its key (both or neither)
//!
//! [store]
//! kind = "mongodb"              # "mongodb" or "sqlite"
//! url = "mongodb://127.0.0.1:27017"
//! database = "isoqube"
//! path = "isoqube.db"           # the sqlite file
//! log_retention_days = 14
//!
//! [service]
//! concurrency = 0               # cap per consumer (0: each consumer's own)
//! retry = "interval(3, 500)"    # for consumers that name none
//! heartbeat_secs = 5
//! shutdown_grace_secs = 30
//! record_start_after_ms = 250   # a quicker step: start and outcome in one write
//! health_port = 8080            # HTTP /health/* and /metrics (unset: off)
//!
//! [log]
//! level = "info"                # a tracing filter
//! format = "text"               # "text" or "json"
//! ```
//!
//! A binary may read sections of its own from the same file (the control
//! center's `[api]`): it names them to [`Config::load_with_sections`], which
//! keeps them, unread, in [`Config::sections`]; any other unknown section is
//! still an error.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::service::ServiceBuilder;
use crate::store::RunStore;
use crate::transport::amqp::AmqpConfig;
use crate::transport::{InProcessTransport, Transport};

/// The file looked for in the working directory when none is named.
pub const DEFAULT_FILE: &str = "isoqube.toml";
/// The variable naming the configuration file.
pub const FILE_ENV: &str = "ISOQUBE_CONFIG";

/// Which transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKind {
    /// In this process only (the embedded default).
    #[default]
    InProcess,
    /// RabbitMQ.
    Amqp,
}

/// Which store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    /// One SQLite file (the embedded default).
    #[default]
    Sqlite,
    /// MongoDB.
    Mongodb,
}

/// Console log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[transport]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransportSection {
    /// `amqp` or `in-process`.
    pub kind: TransportKind,
    /// Broker URL.
    pub url: String,
    /// Virtual host; replaces the URL's when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vhost: Option<String>,
    /// Name prefix.
    pub prefix: String,
    /// Quorum queues.
    pub quorum: bool,
    /// Bound on a publish (and other broker calls).
    pub publish_timeout_secs: u64,
    /// PEM file of CA certificates trusted for `amqps://` besides the system's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for brokers that verify clients; with `tls_key_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key_file: Option<PathBuf>,
}

impl Default for TransportSection {
    fn default() -> Self {
        TransportSection {
            kind: TransportKind::InProcess,
            url: crate::transport::amqp::DEFAULT_URL.to_string(),
            vhost: None,
            prefix: String::new(),
            quorum: false,
            publish_timeout_secs: 10,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSection {
    /// `mongodb` or `sqlite`.
    pub kind: StoreKind,
    /// MongoDB URL.
    pub url: String,
    /// MongoDB database.
    pub database: String,
    /// SQLite file.
    pub path: PathBuf,
    /// How long step logs are kept (MongoDB TTL).
    pub log_retention_days: u64,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            kind: StoreKind::Sqlite,
            url: "mongodb://127.0.0.1:27017".into(),
            database: "isoqube".into(),
            path: PathBuf::from(crate::store::DEFAULT_STORE_PATH),
            log_retention_days: 14,
        }
    }
}

/// `[service]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceSection {
    /// Cap on every consumer's concurrency and prefetch; 0 = no cap.
    pub concurrency: u16,
    /// Retry policy for consumers that name none, e.g. `interval(3, 500)`.
    pub retry: String,
    /// Heartbeat period.
    pub heartbeat_secs: u64,
    /// How long shutdown waits for in-flight steps.
    pub shutdown_grace_secs: u64,
    /// How long a step runs before its start is recorded (0: before it runs);
    /// see [`ServiceBuilder::record_start_after`].
    pub record_start_after_ms: u64,
    /// Port of the health and metrics HTTP server; unset = none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_port: Option<u16>,
}

impl Default for ServiceSection {
    fn default() -> Self {
        ServiceSection {
            concurrency: 0,
            retry: "none".into(),
            heartbeat_secs: 5,
            shutdown_grace_secs: 30,
            record_start_after_ms: crate::service::DEFAULT_RECORD_START_AFTER.as_millis() as u64,
            health_port: None,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// A tracing filter (`info`, `debug,lapin=warn`, ...).
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// The whole configuration.
///
/// ```
/// let cfg = isoqube::Config::from_toml_str("[service]\nconcurrency = 4\n", "inline").unwrap();
/// assert_eq!(cfg.service.concurrency, 4);
/// let err = isoqube::Config::from_toml_str("[service]\nconcurency = 4\n", "inline").unwrap_err();
/// assert!(err.to_string().contains("concurency"));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[transport]`.
    pub transport: TransportSection,
    /// `[store]`.
    pub store: StoreSection,
    /// `[service]`.
    pub service: ServiceSection,
    /// `[log]`.
    pub log: LogSection,
    /// The sections a binary named to [`Config::load_with_sections`], as
    /// written (the runtime does not read them).
    #[serde(skip)]
    pub sections: toml::Table,
    /// The file it was read from, if any.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl Config {
    /// Reads the file (`explicit`, else [`FILE_ENV`], else [`DEFAULT_FILE`] when it
    /// exists) and applies the `ISOQUBE_*` variables of this process.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        Self::load_with(explicit, |k| std::env::var(k).ok())
    }

    /// [`Config::load`] for a binary with sections of its own (`names`), kept
    /// in [`Config::sections`] for it to read.
    pub fn load_with_sections(explicit: Option<&Path>, names: &[&str]) -> Result<Config> {
        Self::load_from(explicit, |k| std::env::var(k).ok(), names)
    }

    /// [`Config::load`] with the environment given as a function (for tests).
    pub fn load_with(
        explicit: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config> {
        Self::load_from(explicit, env, &[])
    }

    fn load_from(
        explicit: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        names: &[&str],
    ) -> Result<Config> {
        let named = explicit.map(Path::to_path_buf).or_else(|| {
            env(FILE_ENV)
                .filter(|p| !p.trim().is_empty())
                .map(PathBuf::from)
        });
        let path = match named {
            Some(p) => {
                if !p.is_file() {
                    return Err(Error::Config(format!(
                        "configuration file {} does not exist",
                        p.display()
                    )));
                }
                Some(p)
            }
            None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.is_file()),
        };
        let mut config = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| Error::Config(format!("cannot read {}: {e}", p.display())))?;
                let mut c = Self::from_toml_str_with(&text, &p.display().to_string(), names)?;
                c.source = Some(p.clone());
                c
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML; `origin` names it in errors (a file name).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config> {
        Self::from_toml_str_with(text, origin, &[])
    }

    /// [`Config::from_toml_str`], keeping the sections `names` aside.
    ///
    /// ```
    /// let text = "[service]\nconcurrency = 4\n[api]\nlisten = \"0.0.0.0:80\"\n";
    /// let cfg = isoqube::Config::from_toml_str_with(text, "inline", &["api"]).unwrap();
    /// assert_eq!(cfg.sections["api"]["listen"].as_str(), Some("0.0.0.0:80"));
    /// assert!(isoqube::Config::from_toml_str(text, "inline").is_err());
    /// ```
    pub fn from_toml_str_with(text: &str, origin: &str, names: &[&str]) -> Result<Config> {
        let bad = |e: &dyn std::fmt::Display| {
            Error::Config(format!("{origin}: {}", e.to_string().trim_end()))
        };
        let mut config: Config = if names.is_empty() {
            toml::from_str(text).map_err(|e| bad(&e))?
        } else {
            // Parsed once as a table (which checks the syntax, with line
            // numbers), the binary's sections taken out, the rest read strictly.
            let mut table: toml::Table = toml::from_str(text).map_err(|e| bad(&e))?;
            let mut sections = toml::Table::new();
            for name in names {
                if let Some(v) = table.remove(*name) {
                    sections.insert((*name).to_string(), v);
                }
            }
            let mut config: Config = toml::Value::Table(table).try_into().map_err(|e| bad(&e))?;
            config.sections = sections;
            config
        };
        config.source = None;
        config.validate().map_err(|e| match e {
            Error::Config(m) => Error::Config(format!("{origin}: {m}")),
            other => other,
        })?;
        Ok(config)
    }

    /// Applies the `ISOQUBE_*` overrides. Setting a URL also selects that kind
    /// (`ISOQUBE_AMQP_URL` means RabbitMQ, `ISOQUBE_MONGO_URL` MongoDB).
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<()> {
        let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("ISOQUBE_TRANSPORT") {
            self.transport.kind = parse_kind(
                &v,
                "ISOQUBE_TRANSPORT",
                &[
                    ("amqp", TransportKind::Amqp),
                    ("in-process", TransportKind::InProcess),
                ],
            )?;
        }
        if let Some(v) = get("ISOQUBE_AMQP_URL") {
            self.transport.url = v;
            self.transport.kind = TransportKind::Amqp;
        }
        if let Some(v) = get("ISOQUBE_AMQP_VHOST") {
            self.transport.vhost = Some(v);
        }
        if let Some(v) = env("ISOQUBE_AMQP_PREFIX") {
            self.transport.prefix = v;
        }
        if let Some(v) = get("ISOQUBE_AMQP_QUORUM") {
            self.transport.quorum = parse_bool(&v, "ISOQUBE_AMQP_QUORUM")?;
        }
        if let Some(v) = get(crate::transport::amqp::TLS_CA_ENV) {
            self.transport.tls_ca_file = Some(PathBuf::from(v));
        }
        if let Some(v) = get(crate::transport::amqp::TLS_CERT_ENV) {
            self.transport.tls_cert_file = Some(PathBuf::from(v));
        }
        if let Some(v) = get(crate::transport::amqp::TLS_KEY_ENV) {
            self.transport.tls_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = get("ISOQUBE_STORE") {
            self.store.kind = parse_kind(
                &v,
                "ISOQUBE_STORE",
                &[
                    ("mongodb", StoreKind::Mongodb),
                    ("sqlite", StoreKind::Sqlite),
                ],
            )?;
        }
        if let Some(v) = get("ISOQUBE_MONGO_URL") {
            self.store.url = v;
            self.store.kind = StoreKind::Mongodb;
        }
        if let Some(v) = get("ISOQUBE_MONGO_DB") {
            self.store.database = v;
        }
        if let Some(v) = get("ISOQUBE_STORE_PATH") {
            self.store.path = PathBuf::from(v);
        }
        if let Some(v) = get("ISOQUBE_LOG_RETENTION_DAYS") {
            self.store.log_retention_days = parse_num(&v, "ISOQUBE_LOG_RETENTION_DAYS")?;
        }
        if let Some(v) = get("ISOQUBE_CONCURRENCY") {
            self.service.concurrency = parse_num(&v, "ISOQUBE_CONCURRENCY")?;
        }
        if let Some(v) = get("ISOQUBE_RETRY") {
            parse_retry(&v).map_err(|m| Error::Config(format!("ISOQUBE_RETRY: {m}")))?;
            self.service.retry = v;
        }
        if let Some(v) = get("ISOQUBE_HEARTBEAT_SECS") {
            self.service.heartbeat_secs = parse_num(&v, "ISOQUBE_HEARTBEAT_SECS")?;
        }
        if let Some(v) = get("ISOQUBE_SHUTDOWN_GRACE_SECS") {
            self.service.shutdown_grace_secs = parse_num(&v, "ISOQUBE_SHUTDOWN_GRACE_SECS")?;
        }
        if let Some(v) = get("ISOQUBE_RECORD_START_AFTER_MS") {
            self.service.record_start_after_ms = parse_num(&v, "ISOQUBE_RECORD_START_AFTER_MS")?;
        }
        if let Some(v) = get("ISOQUBE_HEALTH_PORT") {
            self.service.health_port = Some(parse_num(&v, "ISOQUBE_HEALTH_PORT")?);
        }
        if let Some(v) = get("ISOQUBE_LOG").or_else(|| get("RUST_LOG")) {
            self.log.level = v;
        }
        if let Some(v) = get("ISOQUBE_LOG_FORMAT") {
            self.log.format = parse_kind(
                &v,
                "ISOQUBE_LOG_FORMAT",
                &[("text", LogFormat::Text), ("json", LogFormat::Json)],
            )?;
        }
        Ok(())
    }

    /// Checks values the types alone do not.
    pub fn validate(&self) -> Result<()> {
        parse_retry(&self.service.retry)
            .map_err(|m| Error::Config(format!("service.retry: {m}")))?;
        if self.service.heartbeat_secs == 0 {
            return Err(Error::Config(
                "service.heartbeat_secs must be at least 1".into(),
            ));
        }
        if self.transport.kind == TransportKind::Amqp
            && !(self.transport.url.starts_with("amqp://")
                || self.transport.url.starts_with("amqps://"))
        {
            return Err(Error::Config(format!(
                "transport.url must start with amqp:// or amqps:// (got {})",
                crate::redact::redact_url(&self.transport.url)
            )));
        }
        use crate::transport::amqp::{TLS_CA_ENV, TLS_CERT_ENV, TLS_KEY_ENV};
        let t = &self.transport;
        for (key, var, path) in [
            ("tls_ca_file", TLS_CA_ENV, &t.tls_ca_file),
            ("tls_cert_file", TLS_CERT_ENV, &t.tls_cert_file),
            ("tls_key_file", TLS_KEY_ENV, &t.tls_key_file),
        ] {
            if let Some(path) = path.as_ref().filter(|p| !p.is_file()) {
                return Err(Error::Config(format!(
                    "transport.{key} ({var}): {} is not a readable file",
                    path.display()
                )));
            }
        }
        if t.tls_cert_file.is_some() != t.tls_key_file.is_some() {
            return Err(Error::Config(format!(
                "transport.tls_cert_file ({TLS_CERT_ENV}) and transport.tls_key_file \
                 ({TLS_KEY_ENV}) go together: set both or neither"
            )));
        }
        if self.store.kind == StoreKind::Mongodb
            && !(self.store.url.starts_with("mongodb://")
                || self.store.url.starts_with("mongodb+srv://"))
        {
            return Err(Error::Config(format!(
                "store.url must start with mongodb:// or mongodb+srv:// (got {})",
                crate::redact::redact_url(&self.store.url)
            )));
        }
        if self.store.log_retention_days == 0 {
            return Err(Error::Config(
                "store.log_retention_days must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The effective configuration as TOML, URLs with their passwords hidden.
    ///
    /// ```
    /// let mut cfg = isoqube::Config::default();
    /// cfg.transport.url = "amqp://app:s3cret@rabbit:5672/%2f".into();
    /// let shown = cfg.to_toml_redacted();
    /// assert!(shown.contains("app:***@rabbit") && !shown.contains("s3cret"));
    /// ```
    pub fn to_toml_redacted(&self) -> String {
        let mut shown = self.clone();
        shown.transport.url = crate::redact::redact_url(&shown.transport.url);
        shown.store.url = crate::redact::redact_url(&shown.store.url);
        let body = toml::to_string_pretty(&shown)
            .unwrap_or_else(|e| format!("# cannot print the configuration: {e}\n"));
        let source = match &self.source {
            Some(p) => format!("# from {} and ISOQUBE_* variables\n", p.display()),
            None => "# defaults and ISOQUBE_* variables (no file)\n".to_string(),
        };
        source + &body
    }

    /// The broker URL with `vhost` applied.
    pub fn amqp_url(&self) -> String {
        match &self.transport.vhost {
            None => self.transport.url.clone(),
            Some(vhost) => with_vhost(&self.transport.url, vhost),
        }
    }

    /// The retry policy of `[service] retry`.
    pub fn default_retry(&self) -> RetryPolicy {
        parse_retry(&self.service.retry).unwrap_or(RetryPolicy::None)
    }

    /// The RabbitMQ settings of `[transport]` (whatever its `kind`).
    ///
    /// ```
    /// let mut cfg = isoqube::Config::default();
    /// cfg.transport.prefix = "staging.".into();
    /// cfg.transport.vhost = Some("builds".into());
    /// let amqp = cfg.amqp_config();
    /// assert_eq!(amqp.prefix, "staging.");
    /// assert!(amqp.url.ends_with("/builds"));
    /// ```
    pub fn amqp_config(&self) -> AmqpConfig {
        AmqpConfig {
            url: self.amqp_url(),
            prefix: self.transport.prefix.clone(),
            quorum: self.transport.quorum,
            publish_timeout: Duration::from_secs(self.transport.publish_timeout_secs.max(1)),
            tls_ca_file: self.transport.tls_ca_file.clone(),
            tls_cert_file: self.transport.tls_cert_file.clone(),
            tls_key_file: self.transport.tls_key_file.clone(),
            ..AmqpConfig::default()
        }
    }

    /// Connects the configured transport.
    pub async fn connect_transport(&self) -> Result<Arc<dyn Transport>> {
        match self.transport.kind {
            TransportKind::InProcess => Ok(Arc::new(InProcessTransport::new())),
            #[cfg(feature = "amqp")]
            TransportKind::Amqp => Ok(Arc::new(
                crate::transport::AmqpTransport::connect(self.amqp_config()).await?,
            )),
            #[cfg(not(feature = "amqp"))]
            TransportKind::Amqp => Err(not_built("transport.kind = \"amqp\"", "amqp")),
        }
    }

    /// Opens the configured store.
    pub async fn connect_store(&self) -> Result<Arc<dyn RunStore>> {
        match self.store.kind {
            #[cfg(feature = "sqlite")]
            StoreKind::Sqlite => Ok(Arc::new(
                crate::store::SqliteStore::open(&self.store.path).await?,
            )),
            #[cfg(not(feature = "sqlite"))]
            StoreKind::Sqlite => Err(not_built("store.kind = \"sqlite\"", "sqlite")),
            #[cfg(feature = "mongo")]
            StoreKind::Mongodb => Ok(Arc::new(
                crate::store::MongoStore::connect_with(
                    &self.store.url,
                    &self.store.database,
                    crate::store::mongo::MongoOptions {
                        log_retention: Duration::from_secs(self.store.log_retention_days * 86_400),
                        ..Default::default()
                    },
                )
                .await?,
            )),
            #[cfg(not(feature = "mongo"))]
            StoreKind::Mongodb => Err(not_built("store.kind = \"mongodb\"", "mongo")),
        }
    }

    /// A service builder with the `[service]` settings applied (transport and
    /// store still to be given).
    pub fn service_builder(&self, name: impl Into<String>) -> ServiceBuilder {
        crate::Service::builder(name)
            .default_retry(self.default_retry())
            .concurrency_limit(self.service.concurrency)
            .heartbeat_interval(Duration::from_secs(self.service.heartbeat_secs))
            .shutdown_grace(Duration::from_secs(self.service.shutdown_grace_secs))
            .record_start_after(Duration::from_millis(self.service.record_start_after_ms))
    }

    /// Installs console logging per `[log]` (plus step logs to the store).
    pub fn init_logging(&self) {
        crate::telemetry::init_with(&self.log.level, self.log.format == LogFormat::Json);
    }
}

/// The error for a configured part this build left out.
#[allow(dead_code)] // used only when a feature is off
fn not_built(setting: &str, feature: &str) -> Error {
    Error::Config(format!(
        "{setting}: this build has no such backend (the isoqube crate's `{feature}` cargo feature is off)"
    ))
}

fn with_vhost(url: &str, vhost: &str) -> String {
    let encoded = vhost.replace('%', "%25").replace('/', "%2f");
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{encoded}?{q}"),
        None => format!("{base}/{encoded}"),
    }
}

fn parse_bool(v: &str, key: &str) -> Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::Config(format!("{key}='{v}' is not true or false"))),
    }
}

fn parse_num<T: std::str::FromStr>(v: &str, key: &str) -> Result<T> {
    v.trim().parse().map_err(|_| {
        Error::Config(format!(
            "{key}='{v}' is not a valid number ({})",
            std::any::type_name::<T>()
        ))
    })
}

fn parse_kind<T: Copy>(v: &str, key: &str, options: &[(&str, T)]) -> Result<T> {
    let wanted = v.trim().to_ascii_lowercase();
    options
        .iter()
        .find(|(name, _)| *name == wanted)
        .map(|(_, kind)| *kind)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            Error::Config(format!("{key}='{v}' is not one of {}", names.join(", ")))
        })
}

/// Parses `none`, `immediate(n)`, `interval(n, ms)` or `exponential(n, min_ms, max_ms)`.
///
/// ```
/// use isoqube::config::parse_retry;
/// assert_eq!(parse_retry("interval(3, 500)"), Ok(isoqube::retry::interval(3, 500)));
/// assert!(parse_retry("sometimes").is_err());
/// ```
pub fn parse_retry(s: &str) -> std::result::Result<RetryPolicy, String> {
    let s = s.trim();
    let expected = "expected none, immediate(n), interval(n, ms) or exponential(n, min_ms, max_ms)";
    if s.eq_ignore_ascii_case("none") {
        return Ok(RetryPolicy::None);
    }
    let (name, rest) = s
        .split_once('(')
        .ok_or_else(|| format!("'{s}': {expected}"))?;
    let args = rest
        .strip_suffix(')')
        .ok_or_else(|| format!("'{s}': missing ')'"))?;
    let nums: Vec<u64> = args
        .split(',')
        .map(|a| a.trim().parse::<u64>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| format!("'{s}': arguments must be whole numbers"))?;
    let count = |n: u64| u32::try_from(n).map_err(|_| format!("'{s}': count too large"));
    match (name.trim(), nums.as_slice()) {
        ("immediate", [n]) => Ok(crate::retry::immediate(count(*n)?)),
        ("interval", [n, ms]) => Ok(crate::retry::interval(count(*n)?, *ms)),
        ("exponential", [n, min, max]) if min <= max => {
            Ok(crate::retry::exponential(count(*n)?, *min, *max))
        }
        ("exponential", [_, _, _]) => Err(format!("'{s}': min_ms must not exceed max_ms")),
        _ => Err(format!("'{s}': {expected}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn file(text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("isoqube-cfg-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&p, text).expect("write");
        p
    }

    #[test]
    fn defaults_are_the_embedded_pair() {
        let c = Config::load_with(None, env(&[])).expect("defaults");
        assert_eq!(c.transport.kind, TransportKind::InProcess);
        assert_eq!(c.store.kind, StoreKind::Sqlite);
        assert_eq!(c.default_retry(), RetryPolicy::None);
    }

    #[test]
    fn file_then_environment() {
        let p = file(
            "[transport]\nkind = \"amqp\"\nurl = \"amqp://a:pw@rabbit:5672/%2f\"\nprefix = \"x.\"\n\
             [store]\nkind = \"mongodb\"\nurl = \"mongodb://m:27017\"\n\
             [service]\nconcurrency = 8\nretry = \"interval(2, 100)\"\nhealth_port = 9000\n",
        );
        let c = Config::load_with(
            Some(&p),
            env(&[("ISOQUBE_MONGO_DB", "prod"), ("ISOQUBE_CONCURRENCY", "4")]),
        )
        .expect("load");
        assert_eq!(c.transport.kind, TransportKind::Amqp);
        assert_eq!(c.transport.prefix, "x.");
        assert_eq!(c.store.database, "prod");
        assert_eq!(c.service.concurrency, 4);
        assert_eq!(c.service.health_port, Some(9000));
        assert_eq!(c.default_retry(), crate::retry::interval(2, 100));
        let shown = c.to_toml_redacted();
        assert!(!shown.contains("pw@"), "{shown}");
        assert!(shown.contains(&p.display().to_string()), "{shown}");
        // what is printed reads back as the same configuration
        let again = Config::from_toml_str(&shown, "shown").expect("round trip");
        assert_eq!(again.service, c.service);
    }

    #[test]
    fn errors_name_the_key_and_the_file() {
        let p = file("[transport]\nkind = \"kafka\"\n");
        let e = Config::load_with(Some(&p), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&p.display().to_string()) && e.contains("kafka"),
            "{e}"
        );

        let p = file("[store]\npaht = \"x.db\"\n");
        let e = Config::load_with(Some(&p), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("paht"), "{e}");

        let p = file("[service]\nretry = \"often\"\n");
        let e = Config::load_with(Some(&p), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("service.retry") && e.contains(&p.display().to_string()),
            "{e}"
        );

        let e = Config::load_with(Some(Path::new("/no/such/isoqube.toml")), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/no/such/isoqube.toml") && e.contains("does not exist"),
            "{e}"
        );

        let e = Config::load_with(None, env(&[("ISOQUBE_CONCURRENCY", "many")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ISOQUBE_CONCURRENCY"), "{e}");

        let e = Config::load_with(None, env(&[("ISOQUBE_AMQP_URL", "http://x")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("transport.url"), "{e}");

        let p = file("[transport]\ntls_ca_file = \"/no/such/ca.pem\"\n");
        let e = Config::load_with(Some(&p), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("transport.tls_ca_file")
                && e.contains("/no/such/ca.pem")
                && e.contains(&p.display().to_string()),
            "{e}"
        );
        let e = Config::load_with(None, env(&[("ISOQUBE_AMQP_TLS_CA_FILE", "/no/ca.pem")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ISOQUBE_AMQP_TLS_CA_FILE") && e.contains("/no/ca.pem"),
            "{e}"
        );
        // A client certificate without its key.
        let cert = file("not checked for PEM here");
        let cert = cert.display().to_string();
        let e = Config::load_with(None, env(&[("ISOQUBE_AMQP_TLS_CERT_FILE", &cert)]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tls_key_file") && e.contains("both or neither"),
            "{e}"
        );

        let e = Config::load_with(None, env(&[("ISOQUBE_CONFIG", "/missing.toml")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/missing.toml"), "{e}");
    }

    #[test]
    fn vhost_replaces_the_url_path() {
        assert_eq!(
            with_vhost("amqp://u:p@h:5672/%2f", "builds"),
            "amqp://u:p@h:5672/builds"
        );
        assert_eq!(with_vhost("amqp://h", "/"), "amqp://h/%2f");
        assert_eq!(
            with_vhost("amqps://h:5671/old?heartbeat=10", "new"),
            "amqps://h:5671/new?heartbeat=10"
        );
    }

    #[test]
    fn retry_strings() {
        assert_eq!(parse_retry("none"), Ok(RetryPolicy::None));
        assert_eq!(parse_retry("immediate(2)"), Ok(crate::retry::immediate(2)));
        assert_eq!(
            parse_retry(" exponential(5, 100, 10000) "),
            Ok(crate::retry::exponential(5, 100, 10_000))
        );
        assert!(parse_retry("exponential(5, 100)").is_err());
        assert!(parse_retry("exponential(5, 900, 100)").is_err());
        assert!(parse_retry("interval(x, 1)").is_err());
    }
}
