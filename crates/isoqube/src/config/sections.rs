//! Surface layer: the sections of the configuration file and their
//! defaults (`[transport]`, `[store]`, `[service]`, `[log]`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
    /// How long a finished run is kept, in days, before `controlcenter
    /// serve` deletes it with its log lines; 0 (the default): for ever.
    pub run_retention_days: u64,
    /// MongoDB's write concern: `majority` (journaled, the default: an
    /// acknowledged step survives a server crash) or `acknowledged` (w: 1).
    pub write_concern: crate::store::WriteDurability,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            kind: StoreKind::Sqlite,
            url: "mongodb://127.0.0.1:27017".into(),
            database: "isoqube".into(),
            path: PathBuf::from(crate::store::DEFAULT_STORE_PATH),
            log_retention_days: 14,
            run_retention_days: 0,
            write_concern: crate::store::WriteDurability::Majority,
        }
    }
}

/// `[service]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceSection {
    /// Cap on every consumer's concurrency and prefetch; 0 = no cap.
    pub concurrency: u16,
    /// Retry policy for consumers that name none, e.g. `interval(attempts = 4, every = "500ms")`.
    pub retry: String,
    /// Heartbeat period.
    pub heartbeat_secs: u64,
    /// How long shutdown waits for in-flight steps.
    pub shutdown_grace_secs: u64,
    /// How long a step runs before its start is recorded (0: before it runs);
    /// see [`ServiceBuilder::record_start_after`](crate::ServiceBuilder::record_start_after).
    pub record_start_after_ms: u64,
    /// The longest one attempt of a step may run when its definition names
    /// no `timeout` (0: no limit); see
    /// [`ServiceBuilder::default_step_timeout`](crate::ServiceBuilder::default_step_timeout).
    pub default_step_timeout_secs: u64,
    /// Port of the health and metrics HTTP server; unset = none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_port: Option<u16>,
    /// The address the health server listens on (with `health_port`):
    /// `0.0.0.0` (every IPv4 interface) by default, because its callers are
    /// usually elsewhere (an orchestrator's probe, a Prometheus in another
    /// container) and it serves no secret; `127.0.0.1` keeps it on the host.
    pub health_listen: std::net::IpAddr,
    /// Declare the endpoint queues as priority queues (`x-max-priority` 9),
    /// so a run of a higher priority overtakes a backlog; see
    /// [`ServiceBuilder::priorities`](crate::ServiceBuilder::priorities).
    pub priorities: bool,
}

impl ServiceSection {
    /// Where the health server listens: `health_listen` and `health_port`;
    /// `None` without a port (no health server).
    pub fn health_addr(&self) -> Option<std::net::SocketAddr> {
        self.health_port
            .map(|port| std::net::SocketAddr::new(self.health_listen, port))
    }
}

impl Default for ServiceSection {
    fn default() -> Self {
        ServiceSection {
            concurrency: 0,
            retry: "none".into(),
            heartbeat_secs: 5,
            shutdown_grace_secs: 30,
            record_start_after_ms: crate::engine::service::DEFAULT_RECORD_START_AFTER.as_millis()
                as u64,
            default_step_timeout_secs: crate::engine::service::DEFAULT_STEP_TIMEOUT.as_secs(),
            health_port: None,
            health_listen: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            priorities: false,
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
