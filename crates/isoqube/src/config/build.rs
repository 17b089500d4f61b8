//! Surface layer: what a configuration builds: the transport, the store, a
//! service builder with `[service]` applied, and logging.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::service::ServiceBuilder;
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::store::RunStore;
use crate::transport::amqp::AmqpConfig;
use crate::transport::{InProcessTransport, Transport};

use super::*;

impl Config {
    /// The broker URL with `vhost` applied.
    pub fn amqp_url(&self) -> String {
        match &self.transport.vhost {
            None => self.transport.url.clone(),
            Some(vhost) => with_vhost(&self.transport.url, vhost),
        }
    }

    /// The retry policy of `[service] retry` (checked when the file was loaded;
    /// see [`RetryPolicy::parse`] for the words).
    pub fn default_retry(&self) -> RetryPolicy {
        RetryPolicy::parse(&self.service.retry).unwrap_or(RetryPolicy::None)
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
                        durability: self.store.write_concern,
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
        crate::engine::service::Service::builder(name)
            .default_retry(self.default_retry())
            .concurrency_limit(self.service.concurrency)
            .heartbeat_interval(Duration::from_secs(self.service.heartbeat_secs))
            .shutdown_grace(Duration::from_secs(self.service.shutdown_grace_secs))
            .record_start_after(Duration::from_millis(self.service.record_start_after_ms))
            .default_step_timeout(Some(Duration::from_secs(
                self.service.default_step_timeout_secs,
            )))
            .priorities(self.service.priorities)
    }

    /// Installs console logging per `[log]` (plus step logs to the store).
    pub fn init_logging(&self) {
        crate::engine::telemetry::init_with(&self.log.level, self.log.format == LogFormat::Json);
    }
}

/// The error for a configured part this build left out.
#[allow(dead_code)] // used only when a feature is off
fn not_built(setting: &str, feature: &str) -> Error {
    Error::Config(format!(
        "{setting}: this build has no such backend (the isoqube crate's `{feature}` cargo feature is off)"
    ))
}

pub(super) fn with_vhost(url: &str, vhost: &str) -> String {
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
