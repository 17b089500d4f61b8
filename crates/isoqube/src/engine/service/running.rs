//! Engine layer: a running service: its handles, graceful shutdown (stop
//! taking messages, let in-flight steps finish, flush logs), the signal wait and
//! the heartbeat loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::engine::control::Control;
use crate::engine::metrics::Metrics;
use crate::engine::readiness::{Health, Readiness};
use crate::error::{Error, Result};
use crate::model::{ServiceRecord, TopicRecord};
use crate::registry::Selection;
use crate::retry::RetryPolicy;
use crate::store::RunStore;

use super::{
    RunningSidecar, ServiceBuilder, Shared, DEFAULT_RECORD_START_AFTER, DEFAULT_STEP_TIMEOUT,
};

/// A running service: its consumers are taking messages.
pub struct Service {
    pub(super) shared: Option<Arc<Shared>>,
    pub(super) instance_id: String,
    pub(super) shutdown_tx: watch::Sender<bool>,
    pub(super) endpoints: Vec<JoinHandle<()>>,
    pub(super) heartbeat: JoinHandle<()>,
    /// Fires the store's due timers ([`crate::engine::waits`]).
    pub(super) timers: JoinHandle<()>,
    pub(super) log_writer: JoinHandle<()>,
    pub(super) control: Control,
    pub(super) health: Health,
    pub(super) sidecars: Vec<Box<dyn RunningSidecar>>,
    /// How many times a heartbeat found the instance's record gone and
    /// registered it again (see [`Service::registered_again`]).
    pub(super) registered_again: watch::Receiver<u64>,
}

impl Service {
    /// Starts configuring a service named `name`.
    pub fn builder(name: impl Into<String>) -> ServiceBuilder {
        ServiceBuilder {
            name: name.into(),
            transport: None,
            store: None,
            selection: Selection::All,
            heartbeat: Duration::from_secs(5),
            grace: Duration::from_secs(30),
            store_patience: Duration::from_secs(30),
            record_start_after: Some(DEFAULT_RECORD_START_AFTER),
            cancel_poll: Duration::from_secs(1),
            cancel_grace: Duration::from_secs(10),
            default_step_timeout: Some(DEFAULT_STEP_TIMEOUT),
            durable_retry_after: super::DEFAULT_DURABLE_RETRY_AFTER,
            lost_limit: super::DEFAULT_LOST_ATTEMPTS_LIMIT,
            sidecars: Vec::new(),
            default_retry: RetryPolicy::None,
            concurrency_limit: None,
            priorities: false,
        }
    }

    /// Operator actions over this service's store and transport.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// Changes each time a heartbeat finds this instance's record gone from
    /// the store (a new or restored database) and registers it again, so an
    /// application can put back what else it keeps there (the sample seeds
    /// its built-in definitions again). The value counts the registrations.
    pub fn registered_again(&self) -> watch::Receiver<u64> {
        self.registered_again.clone()
    }

    /// This instance's id in the services collection.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Where `/health/*` and `/metrics` are served (the port actually bound),
    /// when `ServiceBuilder::health_addr` was set (the first sidecar's address).
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.sidecars.iter().find_map(|s| s.addr())
    }

    /// The service's metrics (what `/metrics` renders).
    pub fn metrics(&self) -> &Arc<Metrics> {
        self.health.metrics()
    }

    /// Runs the readiness checks `/health/ready` runs.
    pub async fn readiness(&self) -> Readiness {
        self.health.readiness().await
    }

    /// Waits for SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) -> Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Runs until `stop` resolves (e.g. a [`shutdown_signal`] made before the
    /// service started), then shuts down gracefully.
    pub async fn run_until(self, stop: impl std::future::Future<Output = ()>) -> Result<()> {
        stop.await;
        info!("shutdown requested");
        self.shutdown().await
    }

    /// Stops taking messages, lets in-flight steps finish (up to the grace
    /// period), removes the service record and flushes the step log. Readiness
    /// fails from the start; the health server stops at the end.
    pub async fn shutdown(mut self) -> Result<()> {
        self.health.metrics().set_stopping();
        let _ = self.shutdown_tx.send(true);
        for ep in self.endpoints.drain(..) {
            if let Err(e) = ep.await {
                error!("endpoint task ended abnormally: {e}");
            }
        }
        let _ = (&mut self.heartbeat).await;
        let _ = (&mut self.timers).await;
        let shared = self.shared.take();
        if let Some(shared) = &shared {
            if let Err(e) = shared.store.remove_service(&self.instance_id).await {
                warn!("could not remove the service record: {e}");
            }
        }
        // The log writer ends once the last sink is gone: the service's and the control's.
        drop(shared);
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.log_writer).await;
        for sidecar in self.sidecars.drain(..) {
            sidecar.stop().await;
        }
        info!(service = %self.instance_id, "service stopped");
        Ok(())
    }

    /// Stops everything at once without settling anything, as a crash would:
    /// unacked messages go back to their queues. For fault tests.
    pub fn abort(mut self) {
        for ep in self.endpoints.drain(..) {
            ep.abort();
        }
        self.heartbeat.abort();
        self.timers.abort();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.health.metrics().set_stopping();
        let _ = self.shutdown_tx.send(true);
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when
/// this is called, not when the future is first polled: a process that calls
/// it first thing exits gracefully on a signal that arrives while it is still
/// starting (connecting, declaring), instead of dying of it.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(term) => {},
                _ = wait(int) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Beats every `every` until shutdown. When the store no longer has the
/// instance's record (a new database, a restored backup), the instance
/// registers itself and its topics again: without them the control center
/// shows no service and no events, and refuses definitions naming them.
pub(super) async fn heartbeat_loop(
    store: Arc<dyn RunStore>,
    record: ServiceRecord,
    topics: Vec<TopicRecord>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
    registered_again: watch::Sender<u64>,
) {
    let id = record.id.clone();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(every) => {
                let now = Utc::now();
                match store.heartbeat(&id, now).await {
                    Ok(()) => {}
                    Err(Error::NotFound { .. }) => {
                        let again = ServiceRecord { last_seen: now, ..record.clone() };
                        let registered = async {
                            store.upsert_topics(&topics).await?;
                            store.register_service(&again).await
                        };
                        match registered.await {
                            Ok(()) => {
                                warn!(service = %id, "the store had no record of this service (a new or restored database?); registered it and its events again");
                                registered_again.send_modify(|n| *n += 1);
                            }
                            Err(e) => warn!(service = %id, "the store has no record of this service, and registering it again failed: {e}"),
                        }
                    }
                    Err(e) => warn!(service = %id, "heartbeat failed: {e}"),
                }
            }
        }
    }
}
