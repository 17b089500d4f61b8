//! The AMQP transport: RabbitMQ through [`lapin`], wire-compatible with MassTransit.
//!
//! What it does, in the terms of the [`Transport`] seam:
//!
//! * **declare** — durable fanout exchanges, durable queues (quorum queues when
//!   [`AmqpConfig::quorum`] is set), exchange-to-exchange and exchange-to-queue
//!   bindings. Every name gets [`AmqpConfig::prefix`] in front, so several test
//!   runs or tenants can share one vhost. Declarations are remembered and replayed
//!   after a reconnect.
//! * **publish** — persistent messages with content type
//!   `application/vnd.masstransit+json`, `message_id` / `correlation_id` properties
//!   and the transport headers; `mandatory` is set and publisher confirms are on,
//!   so a message that reaches no queue is [`Error::Unroutable`] and a nack or a
//!   missing confirmation is an error.
//! * **consume** — one channel per consumer with `basic.qos(prefetch)` and manual
//!   acks; closing the channel (dropping the stream) hands unacknowledged messages
//!   back to the broker, which redelivers them.
//! * **recovery** — a supervisor task watches the connection; when it drops it
//!   reconnects with exponential backoff (lapin's own recovery is not used),
//!   re-declares the topology, and the streams of the dead connection end so that
//!   the runtime consumes again on the new one.
//!
//! Credentials never appear in logs or errors: everything goes through
//! [`redact_url`].

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, ExchangeBindOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

mod routed;

use super::{
    Acker, Binding, Delivery, DeliveryStream, OutgoingMessage, RawMessage, Topology, Transport,
};
use crate::error::{Error, Result};
use routed::{Fate, RoutedChannel};

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

const REPLY_SUCCESS: u16 = 200;
const NOT_FOUND: u16 = 404;

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
    /// at [`AmqpTransport::connect`]. Default: [`TLS_CA_ENV`], else none.
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

pub use crate::redact::redact_url;
use crate::redact::Secrets;

/// The TLS settings of `config`, its files read and checked now: a wrong file
/// is an error naming it, not a baffling handshake failure later.
fn tls_config(config: &AmqpConfig) -> Result<OwnedTLSConfig> {
    let cert_chain = match &config.tls_ca_file {
        Some(path) => Some(read_pem(path, "tls_ca_file", TLS_CA_ENV, "CERTIFICATE")?),
        None => None,
    };
    let identity = match (&config.tls_cert_file, &config.tls_key_file) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(OwnedIdentity::PKCS8 {
            pem: read_pem(cert, "tls_cert_file", TLS_CERT_ENV, "CERTIFICATE")?.into_bytes(),
            key: read_pem(key, "tls_key_file", TLS_KEY_ENV, "PRIVATE KEY")?.into_bytes(),
        }),
        _ => {
            return Err(Error::Config(format!(
                "a TLS client certificate needs both tls_cert_file ({TLS_CERT_ENV}) and \
                 tls_key_file ({TLS_KEY_ENV}); only one is set"
            )))
        }
    };
    Ok(OwnedTLSConfig {
        identity,
        cert_chain,
    })
}

/// A PEM file's text, checked to hold a `-----BEGIN ...<label>-----` block.
fn read_pem(path: &Path, key: &str, var: &str, label: &str) -> Result<String> {
    let pem = std::fs::read_to_string(path).map_err(|e| {
        Error::Config(format!(
            "cannot read the TLS file {} ({key} / {var}): {e}",
            path.display()
        ))
    })?;
    let end = format!("{label}-----");
    let holds_label = pem
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with(&end));
    if !holds_label {
        return Err(Error::Config(format!(
            "the TLS file {} ({key} / {var}) holds no PEM {label}",
            path.display()
        )));
    }
    Ok(pem)
}

// ---------------------------------------------------------------- connection state

/// One live connection and the channels shared over it.
struct Live {
    conn: Connection,
    generation: u64,
    /// Declarations, passive checks, `get`: a 404/406 closes it, so it is reopened
    /// on demand and never shared with publishing or consuming.
    admin: tokio::sync::Mutex<Option<Channel>>,
    /// Publishing where an unroutable message is fine (events), with confirms on.
    publish: tokio::sync::Mutex<Option<Channel>>,
    /// Publishing `mandatory` messages (run steps), all on one channel whose
    /// pump pairs every `basic.return` with its publish (see [`routed`]).
    routed: Mutex<Option<Arc<RoutedChannel>>>,
    /// Held while the `routed` channel is being opened.
    routed_opening: tokio::sync::Mutex<()>,
    /// Exchanges known to exist on this connection's broker (prefixed names).
    exchanges: Mutex<HashSet<String>>,
}

impl Live {
    fn alive(&self) -> bool {
        self.conn.status().connected()
    }

    fn known_exchanges(&self) -> MutexGuard<'_, HashSet<String>> {
        self.exchanges.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The channel for mandatory publishes, if it is open.
    fn routed_channel(&self) -> Option<Arc<RoutedChannel>> {
        let slot = self.routed.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().filter(|r| r.usable()).cloned()
    }
}

struct Inner {
    config: AmqpConfig,
    /// For `amqps://`: the CA file's certificates and the client certificate,
    /// read once at connect (never printed: it holds a private key).
    tls: OwnedTLSConfig,
    redacted: String,
    secrets: Secrets,
    state: watch::Sender<Option<Arc<Live>>>,
    topology: Mutex<Topology>,
    closed: AtomicBool,
    generation: AtomicU64,
    supervisor: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Inner {
    /// A broker or library message with the password scrubbed out.
    fn scrub(&self, msg: impl std::fmt::Display) -> String {
        self.secrets.scrub(msg)
    }

    fn err(&self, what: impl std::fmt::Display, e: impl std::fmt::Display) -> Error {
        Error::Transport(format!("{what}: {}", self.scrub(e)))
    }

    fn name(&self, name: &str) -> Result<ShortString> {
        short(&format!("{}{name}", self.config.prefix))
    }

    fn topology(&self) -> MutexGuard<'_, Topology> {
        self.topology.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn open(&self) -> Result<Arc<Live>> {
        let props = ConnectionProperties::default().with_connection_name(LongString::from(
            format!("isoqube {}", crate::host::host_name()),
        ));
        let runtime = lapin::runtime::default_runtime()
            .map_err(|e| self.err("cannot start the AMQP client runtime", e))?;
        let conn = match tokio::time::timeout(
            self.config.connect_timeout,
            Connection::connect_with_config(&self.config.url, props, self.tls.clone(), runtime),
        )
        .await
        {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(self.err(format!("cannot connect to {}", self.redacted), e));
            }
            Err(_) => {
                return Err(Error::Transport(format!(
                    "cannot connect to {}: no answer within {:?}",
                    self.redacted, self.config.connect_timeout
                )))
            }
        };
        Ok(Arc::new(Live {
            conn,
            generation: self.generation.fetch_add(1, Ordering::SeqCst) + 1,
            admin: tokio::sync::Mutex::new(None),
            publish: tokio::sync::Mutex::new(None),
            routed: Mutex::new(None),
            routed_opening: tokio::sync::Mutex::new(()),
            exchanges: Mutex::new(HashSet::new()),
        }))
    }

    /// The live connection, waiting up to `wait` for one.
    async fn live(&self, wait: Duration) -> Result<Arc<Live>> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::Transport("the AMQP transport is closed".into()));
        }
        let mut rx = self.state.subscribe();
        let found = tokio::time::timeout(wait, async {
            loop {
                let current = rx.borrow_and_update().clone();
                if let Some(live) = current {
                    if live.alive() {
                        return Some(live);
                    }
                }
                if self.closed.load(Ordering::SeqCst) || rx.changed().await.is_err() {
                    return None;
                }
            }
        })
        .await;
        match found {
            Ok(Some(live)) => Ok(live),
            Ok(None) => Err(Error::Transport("the AMQP transport is closed".into())),
            Err(_) => Err(Error::Transport(format!(
                "not connected to RabbitMQ at {} (waited {wait:?}; reconnecting in the background)",
                self.redacted
            ))),
        }
    }

    fn timeout(&self) -> Duration {
        self.config.publish_timeout
    }

    /// Reads up to `max` messages of `queue` without acknowledging them, on a
    /// channel of its own; acknowledges (removes) only the one whose message id is
    /// `take`. Closing the channel gives every other message back to the queue in
    /// its place, so nothing is lost when this fails half-way.
    async fn scan(
        &self,
        queue: &str,
        max: usize,
        take: Option<&str>,
    ) -> Result<(Vec<RawMessage>, Option<RawMessage>)> {
        let q = self.name(queue)?;
        let live = self.live(self.timeout()).await?;
        let what = format!("reading queue '{q}'");
        let channel = tokio::time::timeout(self.timeout(), live.conn.create_channel())
            .await
            .map_err(|_| Error::Transport(format!("{what}: opening a channel timed out")))?
            .map_err(|e| self.err(format!("{what}: cannot open a channel"), e))?;
        let work = async {
            let mut seen = Vec::new();
            let mut taken = None;
            while seen.len() < max {
                let Some(m) = channel
                    .basic_get(q.clone(), BasicGetOptions { no_ack: false })
                    .await?
                else {
                    break;
                };
                let raw = raw_message(
                    &m.delivery.properties,
                    m.delivery.data.clone(),
                    m.delivery.redelivered,
                );
                if take.is_some() && raw.message_id.as_deref() == take {
                    m.delivery.acker.ack(BasicAckOptions::default()).await?;
                    taken = Some(raw);
                    break;
                }
                seen.push(raw);
            }
            lapin::Result::Ok((seen, taken))
        };
        let out = tokio::time::timeout(self.timeout(), work).await;
        // Unacknowledged messages return to the queue when the channel closes.
        let _ =
            tokio::time::timeout(self.timeout(), channel.close(REPLY_SUCCESS, "done".into())).await;
        match out {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(LapinFailure(e).into_error(self, &what)),
            Err(_) => Err(Error::Transport(format!(
                "{what}: no answer from the broker within {:?}",
                self.timeout()
            ))),
        }
    }

    /// Runs `f` on the admin channel of `live` (opened if needed), bounded by the
    /// timeout. The channel is dropped when the broker closed it (404/406).
    async fn admin<T, F, Fut>(&self, live: &Live, what: &str, f: F) -> Result<T>
    where
        F: FnOnce(Channel) -> Fut,
        Fut: std::future::Future<Output = lapin::Result<T>>,
    {
        let mut slot = live.admin.lock().await;
        let channel = match slot.as_ref() {
            Some(c) if c.status().connected() => c.clone(),
            _ => {
                let c = tokio::time::timeout(self.timeout(), live.conn.create_channel())
                    .await
                    .map_err(|_| Error::Transport(format!("{what}: opening a channel timed out")))?
                    .map_err(|e| self.err(format!("{what}: cannot open a channel"), e))?;
                *slot = Some(c.clone());
                c
            }
        };
        match tokio::time::timeout(self.timeout(), f(channel.clone())).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if !channel.status().connected() {
                    *slot = None;
                }
                Err(LapinFailure(e).into_error(self, what))
            }
            Err(_) => {
                *slot = None;
                Err(Error::Transport(format!(
                    "{what}: no answer from the broker within {:?}",
                    self.timeout()
                )))
            }
        }
    }

    async fn declare_on(&self, live: &Live, topology: &Topology) -> Result<()> {
        for ex in &topology.exchanges {
            let name = self.name(ex)?;
            let full = name.to_string();
            self.admin(
                live,
                &format!("declaring exchange '{full}'"),
                |c| async move {
                    c.exchange_declare(
                        name,
                        ExchangeKind::Fanout,
                        ExchangeDeclareOptions {
                            durable: true,
                            ..Default::default()
                        },
                        FieldTable::default(),
                    )
                    .await
                },
            )
            .await
            .map_err(|e| self.conflict(e, "exchange", &full, "is not a durable fanout exchange"))?;
            live.known_exchanges().insert(full);
        }
        for q in &topology.queues {
            let name = self.name(q)?;
            let full = name.to_string();
            let args = self.queue_args();
            self.admin(live, &format!("declaring queue '{full}'"), |c| async move {
                c.queue_declare(
                    name,
                    QueueDeclareOptions {
                        durable: true,
                        ..Default::default()
                    },
                    args,
                )
                .await
            })
            .await
            .map_err(|e| {
                let wanted = if self.config.quorum {
                    "a durable quorum queue (x-queue-type=quorum)"
                } else {
                    "a durable classic queue with no extra arguments"
                };
                self.conflict(
                    e,
                    "queue",
                    &full,
                    &format!("its arguments conflict with the ones declared here ({wanted})"),
                )
            })?;
        }
        for b in &topology.bindings {
            match b {
                Binding::Exchange {
                    source,
                    destination,
                } => {
                    let (s, d) = (self.name(source)?, self.name(destination)?);
                    let what = format!("binding exchange '{s}' to exchange '{d}'");
                    self.admin(live, &what, |c| async move {
                        c.exchange_bind(
                            d,
                            s,
                            ShortString::default(),
                            ExchangeBindOptions::default(),
                            FieldTable::default(),
                        )
                        .await
                    })
                    .await?;
                }
                Binding::Queue { source, queue } => {
                    let (s, q) = (self.name(source)?, self.name(queue)?);
                    let what = format!("binding exchange '{s}' to queue '{q}'");
                    self.admin(live, &what, |c| async move {
                        c.queue_bind(
                            q,
                            s,
                            ShortString::default(),
                            QueueBindOptions::default(),
                            FieldTable::default(),
                        )
                        .await
                    })
                    .await?;
                }
            }
        }
        Ok(())
    }

    fn queue_args(&self) -> FieldTable {
        let mut args = FieldTable::default();
        if self.config.quorum {
            args.insert(
                ShortString::from("x-queue-type"),
                AMQPValue::LongString(LongString::from("quorum")),
            );
        }
        args
    }

    /// Rewrites a 406 on a declaration into a message naming the thing.
    fn conflict(&self, e: Error, kind: &str, name: &str, detail: &str) -> Error {
        match e {
            Error::Transport(msg) if msg.contains("PRECONDITION_FAILED") => {
                Error::Transport(format!(
                    "{kind} '{name}' already exists with different arguments: {detail} ({msg})"
                ))
            }
            other => other,
        }
    }

    /// Whether `exchange` (prefixed) exists, checked passively once per connection.
    async fn ensure_exchange(&self, live: &Live, exchange: &ShortString) -> Result<()> {
        if live.known_exchanges().contains(exchange.as_str()) {
            return Ok(());
        }
        let name = exchange.clone();
        self.admin(
            live,
            &format!("publishing to exchange '{exchange}'"),
            |c| async move {
                c.exchange_declare(
                    name,
                    ExchangeKind::Fanout,
                    ExchangeDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
            },
        )
        .await?;
        live.known_exchanges().insert(exchange.to_string());
        Ok(())
    }

    /// The channel in `slot`, opened (with confirms on) when there is none or it closed.
    async fn confirm_channel(&self, live: &Live, slot: &mut Option<Channel>) -> Result<Channel> {
        if let Some(c) = slot.as_ref() {
            if c.status().connected() {
                return Ok(c.clone());
            }
        }
        let c = live
            .conn
            .create_channel()
            .await
            .map_err(|e| self.err("cannot open a publishing channel", e))?;
        c.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| self.err("cannot turn publisher confirms on", e))?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// The channel for mandatory publishes, opened when there is none or it closed.
    async fn routed(&self, live: &Live) -> Result<Arc<RoutedChannel>> {
        if let Some(r) = live.routed_channel() {
            return Ok(r);
        }
        let _opening = live.routed_opening.lock().await;
        if let Some(r) = live.routed_channel() {
            return Ok(r);
        }
        let mut slot = None;
        let c = self.confirm_channel(live, &mut slot).await?;
        let r = Arc::new(RoutedChannel::new(c));
        *live.routed.lock().unwrap_or_else(|p| p.into_inner()) = Some(r.clone());
        Ok(r)
    }

    async fn publish_once(
        &self,
        live: &Live,
        exchange: &ShortString,
        message: &OutgoingMessage,
        properties: BasicProperties,
        deadline: Instant,
        mandatory: bool,
    ) -> std::result::Result<(), PublishError> {
        self.ensure_exchange(live, exchange).await?;
        let mut shared = None;
        let fate = if mandatory {
            let routed = self.routed(live).await?;
            let fate = routed.publish(exchange.clone(), message.body.clone(), properties);
            shared = Some(routed);
            match tokio::time::timeout_at(deadline, fate).await {
                Err(_) => return Err(self.unconfirmed(exchange).into()),
                Ok(Ok(fate)) => fate,
                Ok(Err(_)) => {
                    return Err(PublishError {
                        error: Error::Transport(format!(
                            "publishing to '{exchange}': the publishing channel closed"
                        )),
                        channel_closed: true,
                    })
                }
            }
        } else {
            let channel = {
                let mut slot = live.publish.lock().await;
                self.confirm_channel(live, &mut slot).await?
            };
            let published = channel
                .basic_publish(
                    exchange.clone(),
                    ShortString::default(),
                    BasicPublishOptions::default(),
                    &message.body,
                    properties,
                )
                .await;
            match published {
                Ok(confirm) => match tokio::time::timeout_at(deadline, confirm).await {
                    Err(_) => return Err(self.unconfirmed(exchange).into()),
                    Ok(Ok(confirmation)) => Fate::of(confirmation),
                    Ok(Err(e)) => Fate::Failed(e),
                },
                Err(e) => Fate::Failed(e),
            }
        };
        match fate {
            Fate::Routed => Ok(()),
            Fate::Unroutable => {
                // `Unroutable` carries the name the caller used, without the prefix.
                let plain = exchange
                    .as_str()
                    .strip_prefix(self.config.prefix.as_str())
                    .unwrap_or(exchange.as_str());
                Err(Error::Unroutable(plain.to_string()).into())
            }
            Fate::Nacked => Err(Error::Transport(format!(
                "publishing to '{exchange}': the broker refused the message (nack)"
            ))
            .into()),
            Fate::Failed(e) => {
                let failure = LapinFailure(e);
                if failure.code() == Some(NOT_FOUND) {
                    // deleted since it was checked: check again next time
                    live.known_exchanges().remove(exchange.as_str());
                }
                Err(PublishError {
                    error: failure.into_error(self, &format!("publishing to '{exchange}'")),
                    // The shared channel closed under this publish, maybe for
                    // another publish's error: worth trying on a new one.
                    channel_closed: shared.is_some_and(|r| !r.usable()),
                })
            }
        }
    }

    fn unconfirmed(&self, exchange: &ShortString) -> Error {
        Error::Transport(format!(
            "publishing to '{exchange}': the broker did not confirm within {:?}",
            self.timeout()
        ))
    }
}

/// A failed publish attempt.
struct PublishError {
    error: Error,
    /// It failed because the shared step-publishing channel closed (any
    /// publish's error closes it for all in flight on it).
    channel_closed: bool,
}

impl From<Error> for PublishError {
    fn from(error: Error) -> Self {
        PublishError {
            error,
            channel_closed: false,
        }
    }
}

/// A lapin error, classified.
struct LapinFailure(lapin::Error);

impl LapinFailure {
    fn code(&self) -> Option<u16> {
        match self.0.kind() {
            lapin::ErrorKind::ProtocolError(e) => Some(e.get_id()),
            _ => None,
        }
    }

    fn into_error(self, inner: &Inner, what: &str) -> Error {
        let code = self.code();
        let text = inner.scrub(self.into_error_text());
        match code {
            Some(NOT_FOUND) => Error::Transport(format!("{what}: it does not exist ({text})")),
            _ => Error::Transport(format!("{what}: {text}")),
        }
    }

    /// The broker's reply text for protocol errors, lapin's message otherwise.
    fn into_error_text(self) -> String {
        match self.0.kind() {
            lapin::ErrorKind::ProtocolError(e) => e.get_message().to_string(),
            _ => self.0.to_string(),
        }
    }
}

fn short(s: &str) -> Result<ShortString> {
    ShortString::try_new(s).map_err(|e| Error::Transport(format!("name '{s}' is too long: {e}")))
}

// ---------------------------------------------------------------- header conversion

/// Transport headers as an AMQP field table: strings as long strings, integers
/// as 64-bit integers, booleans, floats as doubles, `null` as void, anything else
/// as its JSON text.
pub fn headers_to_amqp(headers: &BTreeMap<String, Value>) -> Result<FieldTable> {
    let mut table = FieldTable::default();
    for (k, v) in headers {
        table.insert(short(k)?, json_to_amqp(v));
    }
    Ok(table)
}

fn json_to_amqp(v: &Value) -> AMQPValue {
    match v {
        Value::String(s) => AMQPValue::LongString(LongString::from(s.as_str())),
        Value::Bool(b) => AMQPValue::Boolean(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                AMQPValue::LongLongInt(i)
            } else if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                AMQPValue::Double(f)
            } else {
                AMQPValue::LongString(LongString::from(n.to_string()))
            }
        }
        Value::Null => AMQPValue::Void,
        other => AMQPValue::LongString(LongString::from(other.to_string())),
    }
}

/// An AMQP field table as transport headers (the inverse of [`headers_to_amqp`]
/// for what it produces; other AMQP types map to their natural JSON form).
pub fn headers_from_amqp(table: &FieldTable) -> BTreeMap<String, Value> {
    table
        .inner()
        .iter()
        .map(|(k, v)| (k.to_string(), amqp_to_json(v)))
        .collect()
}

fn amqp_to_json(v: &AMQPValue) -> Value {
    match v {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(i) => Value::from(*i),
        AMQPValue::ShortShortUInt(i) => Value::from(*i),
        AMQPValue::ShortInt(i) => Value::from(*i),
        AMQPValue::ShortUInt(i) => Value::from(*i),
        AMQPValue::LongInt(i) => Value::from(*i),
        AMQPValue::LongUInt(i) => Value::from(*i),
        AMQPValue::LongLongInt(i) => Value::from(*i),
        AMQPValue::Timestamp(t) => Value::from(*t),
        AMQPValue::Float(f) => Value::from(f64::from(*f)),
        AMQPValue::Double(f) => Value::from(*f),
        AMQPValue::DecimalValue(d) => {
            Value::from(f64::from(d.value) / 10f64.powi(i32::from(d.scale)))
        }
        AMQPValue::ShortString(s) => Value::String(s.to_string()),
        AMQPValue::LongString(s) => Value::String(String::from_utf8_lossy(s.as_bytes()).into()),
        AMQPValue::ByteArray(b) => Value::String(String::from_utf8_lossy(b.as_slice()).into()),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(amqp_to_json).collect()),
        AMQPValue::FieldTable(t) => Value::Object(
            t.inner()
                .iter()
                .map(|(k, v)| (k.to_string(), amqp_to_json(v)))
                .collect(),
        ),
        AMQPValue::Void => Value::Null,
    }
}

fn raw_message(props: &BasicProperties, body: Vec<u8>, redelivered: bool) -> RawMessage {
    RawMessage {
        body,
        message_id: props.message_id().as_ref().map(|s| s.to_string()),
        correlation_id: props.correlation_id().as_ref().map(|s| s.to_string()),
        headers: props
            .headers()
            .as_ref()
            .map(headers_from_amqp)
            .unwrap_or_default(),
        redelivered,
    }
}

// ---------------------------------------------------------------- the transport

/// The RabbitMQ transport. Cheap to clone; clones share the connection.
///
/// ```no_run
/// # async fn demo() -> isoqube::Result<()> {
/// use isoqube::transport::{AmqpConfig, AmqpTransport};
/// let transport = AmqpTransport::connect(AmqpConfig {
///     url: "amqps://app:secret@rabbit.example.com:5671/prod".into(),
///     quorum: true,
///     ..Default::default()
/// })
/// .await?;
/// let service = isoqube::Service::builder("builder")
///     .transport(transport)
///     .start()
///     .await?;
/// # let _ = service; Ok(()) }
/// ```
#[derive(Clone)]
pub struct AmqpTransport {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AmqpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpTransport")
            .field("url", &self.inner.redacted)
            .field("prefix", &self.inner.config.prefix)
            .finish()
    }
}

impl AmqpTransport {
    /// Connects (one attempt, bounded by [`AmqpConfig::connect_timeout`]) and
    /// starts the supervisor that reconnects when the connection drops.
    pub async fn connect(config: AmqpConfig) -> Result<Self> {
        let (state, _) = watch::channel(None);
        let tls = tls_config(&config)?;
        let inner = Arc::new(Inner {
            tls,
            redacted: redact_url(&config.url),
            secrets: Secrets::of(&config.url),
            config,
            state,
            topology: Mutex::new(Topology::default()),
            closed: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            supervisor: Mutex::new(None),
        });
        let live = inner.open().await?;
        info!(url = %inner.redacted, "connected to RabbitMQ");
        inner.state.send_replace(Some(live.clone()));
        let handle = tokio::spawn(supervise(Arc::downgrade(&inner), live));
        *inner.supervisor.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        Ok(AmqpTransport { inner })
    }

    /// The configuration (its `Debug` form hides the password).
    pub fn config(&self) -> &AmqpConfig {
        &self.inner.config
    }

    /// The broker URL with the password hidden.
    pub fn redacted_url(&self) -> &str {
        &self.inner.redacted
    }

    /// Publishes with confirms; `mandatory` makes an unroutable message an
    /// [`Error::Unroutable`] (run steps), otherwise it is dropped quietly (events).
    async fn publish_with(
        &self,
        exchange: &str,
        message: OutgoingMessage,
        mandatory: bool,
    ) -> Result<()> {
        let inner = &self.inner;

        let deadline = Instant::now() + inner.timeout();
        let ex = inner.name(exchange)?;
        let mut properties = BasicProperties::default()
            .with_content_type(ShortString::from(CONTENT_TYPE))
            .with_delivery_mode(2)
            .with_message_id(short(&message.message_id)?)
            .with_headers(headers_to_amqp(&message.headers)?);
        if let Some(c) = &message.correlation_id {
            properties = properties.with_correlation_id(short(c)?);
        }
        let mut channel_retries = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let live = inner
                .live(remaining)
                .await
                .map_err(|e| Error::Transport(format!("publishing to '{ex}' failed: {e}")))?;
            let attempt = tokio::time::timeout_at(
                deadline,
                inner.publish_once(
                    &live,
                    &ex,
                    &message,
                    properties.clone(),
                    deadline,
                    mandatory,
                ),
            )
            .await
            .unwrap_or_else(|_| {
                Err(Error::Transport(format!(
                    "publishing to '{ex}': no confirmation within {:?}",
                    inner.timeout()
                ))
                .into())
            });
            let time_left = Instant::now() < deadline;
            match attempt {
                Ok(()) => return Ok(()),
                // The connection died under the publish: try again on the next one.
                Err(PublishError {
                    error: Error::Transport(e),
                    ..
                }) if !live.alive() && time_left => {
                    debug!("publish interrupted by a connection loss, retrying: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                // The shared channel closed under it (another publish's error
                // closes it for all): once more on a new channel. The message may
                // have arrived already; a step message twice is recorded once.
                Err(PublishError {
                    error,
                    channel_closed: true,
                }) if time_left && channel_retries < 2 => {
                    channel_retries += 1;
                    debug!("the publishing channel closed under a publish, retrying: {error}");
                }
                Err(PublishError { error, .. }) => return Err(error),
            }
        }
    }

    /// `name` as it is called on the broker (with the prefix).
    pub fn broker_name(&self, name: &str) -> String {
        format!("{}{name}", self.inner.config.prefix)
    }

    /// How many connections have been made so far (1 after [`connect`](Self::connect),
    /// one more per reconnect).
    pub fn connection_count(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
    }

    /// Deletes the declared queues and exchanges (prefixed names) — to clean up
    /// after tests. Errors on individual items are ignored.
    pub async fn delete_declared(&self) -> Result<()> {
        let topology = self.inner.topology().clone();
        let live = self.inner.live(self.inner.timeout()).await?;
        for q in &topology.queues {
            let name = self.inner.name(q)?;
            let _ = self
                .inner
                .admin(&live, "deleting a queue", |c| async move {
                    c.queue_delete(name, Default::default()).await
                })
                .await;
        }
        for ex in &topology.exchanges {
            let name = self.inner.name(ex)?;
            let _ = self
                .inner
                .admin(&live, "deleting an exchange", |c| async move {
                    c.exchange_delete(name, Default::default()).await
                })
                .await;
        }
        Ok(())
    }
}

/// Watches the connection; when it drops, reconnects with exponential backoff,
/// re-declares the topology and publishes the new connection.
async fn supervise(inner: Weak<Inner>, mut live: Arc<Live>) {
    loop {
        // wait for the current connection to die
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let Some(i) = inner.upgrade() else { return };
            if i.closed.load(Ordering::SeqCst) {
                return;
            }
            if !live.alive() {
                warn!(url = %i.redacted, "lost the connection to RabbitMQ; reconnecting");
                i.state.send_replace(None);
                break;
            }
        }
        // reconnect
        let mut backoff = Duration::from_millis(200);
        live = loop {
            let Some(i) = inner.upgrade() else { return };
            if i.closed.load(Ordering::SeqCst) {
                return;
            }
            match i.open().await {
                Ok(new) => {
                    let topology = i.topology().clone();
                    match i.declare_on(&new, &topology).await {
                        Ok(()) => {
                            info!(url = %i.redacted, generation = new.generation, "reconnected to RabbitMQ; topology declared again");
                            i.state.send_replace(Some(new.clone()));
                            break new;
                        }
                        Err(e) if new.alive() => {
                            // The broker is there but refuses part of the topology;
                            // carry on with what works and say so.
                            warn!("reconnected, but declaring the topology again failed: {e}");
                            i.state.send_replace(Some(new.clone()));
                            break new;
                        }
                        Err(e) => debug!("connection lost while declaring the topology: {e}"),
                    }
                }
                Err(e) => warn!("reconnect failed, next attempt in {backoff:?}: {e}"),
            }
            drop(i);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        };
    }
}

#[async_trait]
impl Transport for AmqpTransport {
    fn kind(&self) -> &'static str {
        "amqp"
    }

    async fn declare(&self, topology: &Topology) -> Result<()> {
        let live = self.inner.live(self.inner.timeout()).await?;
        self.inner.declare_on(&live, topology).await?;
        let mut known = self.inner.topology();
        for ex in &topology.exchanges {
            if !known.exchanges.contains(ex) {
                known.exchanges.push(ex.clone());
            }
        }
        for q in &topology.queues {
            if !known.queues.contains(q) {
                known.queues.push(q.clone());
            }
        }
        for b in &topology.bindings {
            if !known.bindings.contains(b) {
                known.bindings.push(b.clone());
            }
        }
        Ok(())
    }

    async fn publish(&self, exchange: &str, message: OutgoingMessage) -> Result<()> {
        self.publish_with(exchange, message, true).await
    }

    async fn publish_event(&self, exchange: &str, message: OutgoingMessage) -> Result<()> {
        self.publish_with(exchange, message, false).await
    }

    async fn consume(&self, queue: &str, prefetch: u16) -> Result<Box<dyn DeliveryStream>> {
        let inner = &self.inner;
        let q = inner.name(queue)?;
        let live = inner.live(inner.timeout()).await?;
        let what = format!("consuming queue '{q}'");
        let channel = tokio::time::timeout(inner.timeout(), live.conn.create_channel())
            .await
            .map_err(|_| Error::Transport(format!("{what}: opening a channel timed out")))?
            .map_err(|e| inner.err(&what, e))?;
        let setup = async {
            channel
                .basic_qos(prefetch.max(1), BasicQosOptions::default())
                .await?;
            channel
                .basic_consume(
                    q.clone(),
                    ShortString::from(format!(
                        "isoqube-{}",
                        &uuid::Uuid::new_v4().simple().to_string()[..12]
                    )),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
        };
        let consumer = match tokio::time::timeout(inner.timeout(), setup).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(LapinFailure(e).into_error(inner, &what)),
            Err(_) => {
                return Err(Error::Transport(format!(
                    "{what}: no answer from the broker within {:?}",
                    inner.timeout()
                )))
            }
        };
        debug!(queue = %q, prefetch, "consuming");
        Ok(Box::new(AmqpStream {
            channel,
            consumer,
            queue: q.to_string(),
            live,
            state: inner.state.subscribe(),
            cancelled: false,
        }))
    }

    async fn get(&self, queue: &str) -> Result<Option<RawMessage>> {
        let inner = &self.inner;
        let q = inner.name(queue)?;
        let live = inner.live(inner.timeout()).await?;
        let what = format!("getting from queue '{q}'");
        let got = inner
            .admin(&live, &what, |c| async move {
                let Some(m) = c.basic_get(q, BasicGetOptions { no_ack: false }).await? else {
                    return Ok(None);
                };
                let raw = raw_message(
                    &m.delivery.properties,
                    m.delivery.data,
                    m.delivery.redelivered,
                );
                m.delivery.acker.ack(BasicAckOptions::default()).await?;
                Ok(Some(raw))
            })
            .await?;
        Ok(got)
    }

    async fn message_count(&self, queue: &str) -> Result<u32> {
        let inner = &self.inner;
        let q = inner.name(queue)?;
        let live = inner.live(inner.timeout()).await?;
        let what = format!("counting messages in queue '{q}'");
        let declared = inner
            .admin(&live, &what, |c| async move {
                c.queue_declare(
                    q,
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
            })
            .await?;
        Ok(declared.message_count())
    }

    async fn browse(&self, queue: &str, max: usize) -> Result<Vec<RawMessage>> {
        let (seen, _) = self.inner.scan(queue, max, None).await?;
        Ok(seen)
    }

    async fn take(&self, queue: &str, message_id: &str) -> Result<Option<RawMessage>> {
        let (_, taken) = self.inner.scan(queue, usize::MAX, Some(message_id)).await?;
        Ok(taken)
    }

    async fn is_ready(&self) -> bool {
        !self.inner.closed.load(Ordering::SeqCst)
            && self
                .inner
                .state
                .borrow()
                .as_ref()
                .is_some_and(|l| l.alive())
    }

    async fn close(&self) -> Result<()> {
        let inner = &self.inner;
        if inner.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(h) = inner
            .supervisor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            h.abort();
        }
        let live = inner.state.send_replace(None);
        if let Some(live) = live {
            if live.alive() {
                match tokio::time::timeout(
                    inner.timeout(),
                    live.conn
                        .close(REPLY_SUCCESS, ShortString::from("isoqube closing")),
                )
                .await
                {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(inner.err("closing the connection", e)),
                    Err(_) => {
                        return Err(Error::Transport(
                            "closing the connection: no answer from the broker".into(),
                        ))
                    }
                }
            }
        }
        info!(url = %inner.redacted, "AMQP transport closed");
        Ok(())
    }
}

// ---------------------------------------------------------------- consuming

struct AmqpStream {
    channel: Channel,
    consumer: lapin::Consumer,
    queue: String,
    live: Arc<Live>,
    state: watch::Receiver<Option<Arc<Live>>>,
    cancelled: bool,
}

impl AmqpStream {
    /// Resolves once this stream's connection is no longer the live one.
    async fn connection_gone(state: &mut watch::Receiver<Option<Arc<Live>>>, generation: u64) {
        loop {
            let current = state
                .borrow_and_update()
                .as_ref()
                .map(|l| (l.generation, l.alive()));
            match current {
                Some((g, true)) if g == generation => {}
                _ => return,
            }
            if state.changed().await.is_err() {
                return;
            }
        }
    }
}

#[async_trait]
impl DeliveryStream for AmqpStream {
    async fn next(&mut self) -> Option<Result<Delivery>> {
        if self.cancelled {
            return None;
        }
        let generation = self.live.generation;
        let next = tokio::select! {
            next = self.consumer.next() => next,
            _ = Self::connection_gone(&mut self.state, generation) => {
                debug!(queue = %self.queue, "connection replaced; ending the stream");
                return None;
            }
        };
        match next {
            Some(Ok(d)) => {
                let message = raw_message(&d.properties, d.data, d.redelivered);
                Some(Ok(Delivery {
                    message,
                    acker: Box::new(AmqpAcker {
                        acker: d.acker,
                        queue: self.queue.clone(),
                    }),
                }))
            }
            Some(Err(e)) => Some(Err(Error::Transport(format!(
                "consumer of '{}' stopped: {}",
                self.queue,
                LapinFailure(e).into_error_text()
            )))),
            None => None,
        }
    }

    async fn cancel(&mut self) {
        if self.cancelled {
            return;
        }
        self.cancelled = true;
        if self.channel.status().connected() {
            let tag = self.consumer.tag();
            let cancelled = tokio::time::timeout(
                Duration::from_secs(5),
                self.channel
                    .basic_cancel(tag, BasicCancelOptions::default()),
            )
            .await;
            if !matches!(cancelled, Ok(Ok(()))) {
                debug!(queue = %self.queue, "basic.cancel did not complete; the channel closes with the stream");
            }
        }
    }
}

impl Drop for AmqpStream {
    /// Closing the channel hands unacknowledged deliveries back to the broker.
    fn drop(&mut self) {
        if self.channel.status().connected() {
            let channel = self.channel.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = channel
                        .close(REPLY_SUCCESS, ShortString::from("consumer closed"))
                        .await;
                });
            }
        }
    }
}

struct AmqpAcker {
    acker: lapin::Acker,
    queue: String,
}

impl AmqpAcker {
    fn settled(&self, done: lapin::Result<bool>, what: &str) -> Result<()> {
        match done {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::Transport(format!(
                "cannot {what} a delivery from '{}': already settled or its channel is closed (the broker redelivers it)",
                self.queue
            ))),
            Err(e) => Err(Error::Transport(format!(
                "cannot {what} a delivery from '{}': {}",
                self.queue,
                LapinFailure(e).into_error_text()
            ))),
        }
    }
}

#[async_trait]
impl Acker for AmqpAcker {
    async fn ack(&self) -> Result<()> {
        let done = self.acker.ack(BasicAckOptions::default()).await;
        self.settled(done, "ack")
    }

    async fn nack(&self, requeue: bool) -> Result<()> {
        let done = self
            .acker
            .nack(BasicNackOptions {
                requeue,
                ..Default::default()
            })
            .await;
        self.settled(done, "nack")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_scrubbed() {
        let config = AmqpConfig::with_url("amqp://app:hunter2@rabbit/");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("app:***@rabbit"));
    }

    #[test]
    fn headers_round_trip() {
        let mut h = BTreeMap::new();
        h.insert("MT-Reason".to_string(), Value::from("fault"));
        h.insert("MT-Fault-RetryCount".to_string(), Value::from(3));
        h.insert("flag".to_string(), Value::from(true));
        h.insert("ratio".to_string(), Value::from(0.5));
        h.insert("nothing".to_string(), Value::Null);
        h.insert("obj".to_string(), serde_json::json!({"a": 1}));
        let table = headers_to_amqp(&h).unwrap();
        assert_eq!(
            table.inner().get("MT-Fault-RetryCount"),
            Some(&AMQPValue::LongLongInt(3))
        );
        let back = headers_from_amqp(&table);
        assert_eq!(back["MT-Reason"], "fault");
        assert_eq!(back["MT-Fault-RetryCount"].as_u64(), Some(3));
        assert_eq!(back["flag"], true);
        assert_eq!(back["ratio"], 0.5);
        assert_eq!(back["nothing"], Value::Null);
        assert_eq!(back["obj"], r#"{"a":1}"#);
    }

    #[test]
    fn long_names_are_errors_not_panics() {
        assert!(short(&"x".repeat(300)).is_err());
    }
}
