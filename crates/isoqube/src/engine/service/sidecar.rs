//! Engine layer: servers that run beside a service's consumers, such as the
//! health HTTP server of the `health` surface. The surface that provides one plugs
//! it into the [`super::ServiceBuilder`], so the engine never imports its
//! surfaces. Uses the readiness checks.

use std::net::SocketAddr;

use async_trait::async_trait;

use crate::engine::readiness::Health;
use crate::error::Result;

/// A server to run beside the consumers, not started yet.
#[async_trait]
pub trait Sidecar: Send {
    /// Called first when the service starts (e.g. to bind a port), so a port
    /// in use fails start-up before anything is declared.
    async fn prepare(&mut self) -> Result<()>;

    /// Starts it over the service's health (transport, store, metrics).
    fn start(self: Box<Self>, health: Health) -> Result<Box<dyn RunningSidecar>>;
}

/// A started [`Sidecar`].
#[async_trait]
pub trait RunningSidecar: Send + Sync {
    /// The address it serves on, if any.
    fn addr(&self) -> Option<SocketAddr>;

    /// Stops it (the service calls this last, once its consumers stopped).
    async fn stop(self: Box<Self>);
}
