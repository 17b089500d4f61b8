//! The response endpoint of a [`Publisher`](super::publish::Publisher)'s
//! requests: like MassTransit's bus endpoint, one temporary endpoint
//! (`<host>_<service>_bus_<id>`, declared on first use, not durable,
//! auto-delete on RabbitMQ) per publisher; one task reads it and hands each
//! response to the request waiting for its `requestId`. Uses the transport
//! seam and the envelope only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::error::Result;
use crate::transport::Transport;
use crate::wire::envelope::{new_message_id, Envelope};

pub(super) type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Envelope>>>>;

/// A publisher's response endpoint and the requests waiting on it.
pub(crate) struct ResponseEndpoint {
    /// The endpoint (exchange and queue) name.
    name: String,
    /// Its address with `?temporary=true`, the requests' `responseAddress`.
    pub(super) address: String,
    pub(super) pending: Pending,
    reader: JoinHandle<()>,
}

impl Drop for ResponseEndpoint {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl ResponseEndpoint {
    /// Declares the endpoint and starts reading it.
    pub(crate) async fn open(transport: &Arc<dyn Transport>, service: &str) -> Result<Self> {
        let name = endpoint_name(&crate::host::host_name(), service);
        transport.declare_temporary(&name).await?;
        let mut stream = transport.consume(&name, 64).await?;
        let pending: Pending = Arc::default();
        let waiting = pending.clone();
        let reader = tokio::spawn(async move {
            while let Some(delivery) = stream.next().await {
                let Ok(delivery) = delivery else { continue };
                match Envelope::from_slice(&delivery.message.body) {
                    Ok(env) => {
                        let waiter = env.request_id.as_ref().and_then(|id| {
                            waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(id)
                        });
                        match waiter {
                            Some(tx) => {
                                let _ = tx.send(env);
                            }
                            None => debug!(
                                request_id = env.request_id.as_deref().unwrap_or(""),
                                "a response nobody waits for (any more) is dropped"
                            ),
                        }
                    }
                    Err(e) => {
                        debug!(error = %e, "a response endpoint message is no envelope; dropped")
                    }
                }
                let _ = delivery.acker.ack().await;
            }
        });
        Ok(ResponseEndpoint {
            address: format!("{}?temporary=true", transport.address(&name)),
            name,
            pending,
            reader,
        })
    }

    /// The endpoint's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// MassTransit's bus endpoint name shape: host and process, `_bus_`, an id;
/// only the characters a queue name takes everywhere.
fn endpoint_name(host: &str, service: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
            .collect()
    };
    format!(
        "{}_{}_bus_{}",
        clean(host),
        clean(service),
        new_message_id().simple()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names_are_masstransits_shape() {
        let n = endpoint_name("build-01.local", "my svc/1");
        assert!(n.starts_with("build-01.local_mysvc1_bus_"), "{n}");
        assert_ne!(n, endpoint_name("build-01.local", "my svc/1"));
    }
}
