//! Surface layer: health and metrics over HTTP: `/health/live`, `/health/ready`
//! and `/metrics`. Uses axum and the engine (readiness, metrics, the service
//! builder it plugs its server into).
//!
//! A service started with [`crate::engine::service::ServiceBuilder::health_addr`] serves three
//! endpoints (no authentication: they reveal counters and check results only, and
//! are meant for an orchestrator's probes and a Prometheus scraper):
//!
//! - `GET /health/live`: `200 ok` while the process runs.
//! - `GET /health/ready`: `200` with a JSON body when the transport is connected,
//!   every consumer endpoint holds a consume stream, the service is not shutting
//!   down and the store answers a ping within [`PING_TIMEOUT`]; `503` otherwise,
//!   with the same JSON body naming the failed check(s):
//!   `{"status":"unavailable","checks":{"transport":"ok","consumers":"shutting down","store":"ok"}}`.
//! - `GET /metrics`: the Prometheus text exposition format (version 0.0.4).
//!
//! The metrics, labelled by `endpoint` (the consumer's queue):
//!
//! | name | type | counts |
//! | --- | --- | --- |
//! | `isoqube_messages_consumed_total` | counter | deliveries taken from the queue |
//! | `isoqube_messages_failed_total` | counter | consumer attempts that failed |
//! | `isoqube_messages_retried_total` | counter | attempts retried after a failure |
//! | `isoqube_messages_dead_lettered_total` | counter | messages moved to `<q>_error` or `<q>_skipped` |
//! | `isoqube_messages_published_total` | counter | messages the endpoint published (next steps and extra events) |
//! | `isoqube_messages_in_flight` | gauge | deliveries being handled now |
//! | `isoqube_endpoint_consuming` | gauge | 1 while the endpoint holds a consume stream |
//! | `isoqube_step_duration_seconds` | histogram | time in the consumer per message, retries included |
//!
//! plus `isoqube_up` (always 1), `isoqube_ready` (the readiness check, 0 or 1)
//! and `isoqube_service_info{service,instance}` (always 1).
//!
//! (see [`crate::engine::metrics`]).
//!
//! ```
//! use std::time::Duration;
//! let metrics = isoqube::health::Metrics::new("builder", "builder@host:1", ["linux-build"]);
//! let ep = metrics.endpoint("linux-build").unwrap();
//! ep.record_consumed();
//! ep.observe_step(Duration::from_millis(30));
//! let text = metrics.render(true);
//! assert!(text.contains("isoqube_messages_consumed_total{endpoint=\"linux-build\"} 1\n"));
//! assert!(text.contains("isoqube_step_duration_seconds_count{endpoint=\"linux-build\"} 1\n"));
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use crate::engine::metrics::*;
pub use crate::engine::readiness::*;
use crate::engine::service::{RunningSidecar, ServiceBuilder, Sidecar};
use crate::error::{Error, Result};

/// The content type of `/metrics`.
pub const EXPOSITION_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Health {
    /// `/health/live`, `/health/ready` and `/metrics` as an axum router.
    pub fn router(self) -> Router {
        Router::new()
            .route("/health/live", get(live))
            .route("/health/ready", get(ready))
            .route("/metrics", get(metrics))
            .with_state(self)
    }
}

async fn live() -> &'static str {
    "ok"
}

async fn ready(State(health): State<Health>) -> Response {
    let readiness = health.readiness().await;
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        readiness.to_json().to_string(),
    )
        .into_response()
}

async fn metrics(State(health): State<Health>) -> Response {
    let ready = health.readiness().await.is_ready();
    (
        [(header::CONTENT_TYPE, EXPOSITION_CONTENT_TYPE)],
        health.metrics.render(ready),
    )
        .into_response()
}

impl ServiceBuilder {
    /// Serves `/health/live`, `/health/ready` and `/metrics` on this address
    /// (see [`crate::health`]); port 0 picks a free port, which
    /// [`crate::engine::service::Service::health_addr`] then tells. Unset (the default): no HTTP
    /// server. The server stops when the service has shut down.
    ///
    /// ```no_run
    /// # async fn run() -> isoqube::Result<()> {
    /// let service = isoqube::Service::builder("linux-pool")
    ///     .health_addr(([0, 0, 0, 0], 8080).into())
    ///     .start()
    ///     .await?;
    /// println!("metrics at http://{}/metrics", service.health_addr().unwrap());
    /// # Ok(()) }
    /// ```
    pub fn health_addr(self, addr: SocketAddr) -> Self {
        self.sidecar(Box::new(HealthSidecar {
            addr,
            listener: None,
        }))
    }
}

/// The health server, plugged into a service (bound at start-up first).
struct HealthSidecar {
    addr: SocketAddr,
    listener: Option<TcpListener>,
}

#[async_trait]
impl Sidecar for HealthSidecar {
    async fn prepare(&mut self) -> Result<()> {
        self.listener = Some(HealthServer::bind(self.addr).await?);
        Ok(())
    }

    fn start(self: Box<Self>, health: Health) -> Result<Box<dyn RunningSidecar>> {
        let listener = match self.listener {
            Some(l) => l,
            None => {
                return Err(Error::Config(format!(
                    "health listener on {} was not bound",
                    self.addr
                )))
            }
        };
        Ok(Box::new(HealthServer::start(listener, health)?))
    }
}

#[async_trait]
impl RunningSidecar for HealthServer {
    fn addr(&self) -> Option<SocketAddr> {
        Some(self.addr)
    }

    async fn stop(self: Box<Self>) {
        (*self).stop().await
    }
}

/// The running HTTP server of a service. Dropping it stops the server.
pub(crate) struct HealthServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl HealthServer {
    /// Binds `addr` (fails naming the address when it cannot).
    pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener> {
        TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Config(format!("cannot listen for health checks on {addr}: {e}")))
    }

    /// Serves the health endpoints on `listener` until stopped or dropped.
    pub(crate) fn start(listener: TcpListener, health: Health) -> Result<Self> {
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Config(format!("health listener has no address: {e}")))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = health.router();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // Resolves on stop() and when the sender is dropped.
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                warn!("health server failed: {e}");
            }
        });
        info!(%addr, "serving /health/live, /health/ready and /metrics");
        Ok(HealthServer {
            addr,
            stop: Some(stop),
            task,
        })
    }

    /// Stops taking connections and waits (briefly) for open ones to finish.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

impl Drop for HealthServer {
    fn drop(&mut self) {
        if self.stop.is_some() {
            // Not stopped gracefully (the service was dropped or aborted).
            self.task.abort();
        }
    }
}
