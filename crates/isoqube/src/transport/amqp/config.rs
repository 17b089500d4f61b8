//! How to reach RabbitMQ and how to name things there: [`AmqpConfig`], the
//! environment variables that give its defaults, and the default URL.
//!
//! May use: the ground layer (`crate::redact`) and `std`; nothing else of the
//! transport.

use std::path::PathBuf;
use std::time::Duration;

use crate::redact::redact_url;

/// The MassTransit content type.
pub const CONTENT_TYPE: &str = "application/vnd.masstransit+json";

/// Environment variable holding the default broker URL.
pub const URL_ENV: &str = "ISOQUBE_AMQP_URL";
/// Environment variable holding the default name prefix.
pub const PREFIX_ENV: &str = "ISOQUBE_AMQP_PREFIX";
/// Environment variable that turns on quorum queues (`true`/`1`/`yes`).
pub const QUORUM_ENV: &str = "ISOQUBE_AMQP_QUORUM";
/// Environment variable naming a PEM file of CA certificates to trust for
/// `amqps://` (see [`AmqpConfig::tls_ca_file`]).
pub const TLS_CA_ENV: &str = "ISOQUBE_AMQP_TLS_CA_FILE";
/// Environment variable naming the client certificate (PEM) for `amqps://`
/// brokers that require one (see [`AmqpConfig::tls_cert_file`]).
pub const TLS_CERT_ENV: &str = "ISOQUBE_AMQP_TLS_CERT_FILE";
/// Environment variable naming the client certificate's private key (PEM).
pub const TLS_KEY_ENV: &str = "ISOQUBE_AMQP_TLS_KEY_FILE";

/// The broker URL used when neither the config nor [`URL_ENV`] names one.
pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// How to reach RabbitMQ and how to name things there.
///
/// ```
/// use std::time::Duration;
/// let config = isoqube::transport::AmqpConfig {
///     prefix: "staging.".into(),
///     quorum: true,
///     publish_timeout: Duration::from_secs(5),
///     ..Default::default()
/// };
/// assert!(config.url.starts_with("amqp"));
/// ```
#[derive(Clone)]
pub struct AmqpConfig {
    /// `amqp://user:password@host:port/vhost` or `amqps://...` (TLS). The vhost is
    /// the URL's path (`%2f` is `/`). Default: [`URL_ENV`], else [`DEFAULT_URL`].
    pub url: String,
    /// Prepended to every exchange and queue name (for isolation); default
    /// [`PREFIX_ENV`], else empty.
    pub prefix: String,
    /// Declare queues as quorum queues (`x-queue-type=quorum`), for HA clusters;
    /// default: [`QUORUM_ENV`] is `true`.
    pub quorum: bool,
    /// How long a publish may take, waiting for the connection and the broker's
    /// confirmation included (default 10 s). Also bounds other broker calls.
    pub publish_timeout: Duration,
    /// How long one connection attempt may take (default 10 s).
    pub connect_timeout: Duration,
    /// For `amqps://`: a PEM file of CA certificates trusted in addition to the
    /// system's, for a broker whose certificate a private CA signed. Read once
    /// at [`AmqpTransport::connect`](super::AmqpTransport::connect). Default:
    /// [`TLS_CA_ENV`], else none.
    pub tls_ca_file: Option<PathBuf>,
    /// For `amqps://` brokers that verify clients: the client certificate
    /// (PEM, chain allowed); needs [`AmqpConfig::tls_key_file`]. Default:
    /// [`TLS_CERT_ENV`], else none.
    pub tls_cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM, unencrypted). Default:
    /// [`TLS_KEY_ENV`], else none.
    pub tls_key_file: Option<PathBuf>,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        AmqpConfig {
            url: std::env::var(URL_ENV)
                .ok()
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_URL.to_string()),
            prefix: std::env::var(PREFIX_ENV).unwrap_or_default(),
            quorum: std::env::var(QUORUM_ENV)
                .is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes")),
            publish_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            tls_ca_file: path_from_env(TLS_CA_ENV),
            tls_cert_file: path_from_env(TLS_CERT_ENV),
            tls_key_file: path_from_env(TLS_KEY_ENV),
        }
    }
}

fn path_from_env(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

impl AmqpConfig {
    /// A config for `url` with the other settings at their defaults.
    pub fn with_url(url: impl Into<String>) -> Self {
        AmqpConfig {
            url: url.into(),
            ..Default::default()
        }
    }
}

impl std::fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("url", &redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("quorum", &self.quorum)
            .field("publish_timeout", &self.publish_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("tls_key_file", &self.tls_key_file)
            .finish()
    }
}
