//! The handle users hold: [`AmqpTransport`], connecting (one attempt, then
//! the supervisor takes over) and the [`Transport`] seam's methods, each
//! handed to the module doing that job.
//!
//! May use: every module of the AMQP transport, the seam (`super::super`) and
//! the ground layer (`crate::error`, `crate::redact`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::watch;
use tracing::info;

use super::super::{
    DeliveryStream, OutgoingMessage, QueuePass, QueueStats, RawMessage, Topology, Transport,
};
use super::config::AmqpConfig;
use super::connection::Inner;
use super::supervisor::supervise;
use super::tls::tls_config;
use crate::error::Result;
use crate::redact::{redact_url, Secrets};

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
        self.inner.delete_declared().await
    }
}

#[async_trait]
impl Transport for AmqpTransport {
    fn kind(&self) -> &'static str {
        "amqp"
    }

    fn address_base(&self) -> String {
        format!(
            "{}{}",
            crate::wire::address::rabbitmq_base(&self.inner.config.url),
            self.inner.config.prefix
        )
    }

    async fn declare(&self, topology: &Topology) -> Result<()> {
        self.inner.declare(topology).await
    }

    async fn declare_temporary(&self, name: &str) -> Result<()> {
        self.inner.declare_temporary(name).await
    }

    async fn publish(&self, exchange: &str, message: OutgoingMessage) -> Result<()> {
        self.inner.publish_with(exchange, message, true).await
    }

    async fn publish_event(&self, exchange: &str, message: OutgoingMessage) -> Result<()> {
        self.inner.publish_with(exchange, message, false).await
    }

    async fn consume(&self, queue: &str, prefetch: u16) -> Result<Box<dyn DeliveryStream>> {
        self.inner.consume(queue, prefetch).await
    }

    async fn get(&self, queue: &str) -> Result<Option<RawMessage>> {
        self.inner.get(queue).await
    }

    async fn message_count(&self, queue: &str) -> Result<u32> {
        self.inner.message_count(queue).await
    }

    async fn queue_stats(&self, queue: &str) -> Result<QueueStats> {
        self.inner.queue_stats(queue).await
    }

    async fn browse(&self, queue: &str, max: usize) -> Result<Vec<RawMessage>> {
        let (seen, _) = self.inner.scan(queue, max, None).await?;
        Ok(seen)
    }

    async fn delete_queue(&self, queue: &str, if_empty: bool) -> Result<u32> {
        self.inner.delete_queue(queue, if_empty).await
    }

    fn broker_name(&self, name: &str) -> String {
        AmqpTransport::broker_name(self, name)
    }

    async fn pass(&self, queue: &str) -> Result<Box<dyn QueuePass>> {
        self.inner.pass(queue).await
    }

    async fn take(&self, queue: &str, message_id: &str) -> Result<Option<RawMessage>> {
        let (_, taken) = self.inner.scan(queue, usize::MAX, Some(message_id)).await?;
        Ok(taken)
    }

    async fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }

    async fn close(&self) -> Result<()> {
        self.inner.close().await
    }
}
