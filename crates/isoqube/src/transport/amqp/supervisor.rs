//! The supervisor: one task per transport that watches the connection and,
//! when it drops, reconnects with exponential backoff (lapin's own recovery
//! is not used), declares the remembered topology again and publishes the new
//! connection, which ends the streams of the dead one.
//!
//! May use: [`super::connection`], [`super::declare`] (declaring again) and
//! tokio; it holds the transport's state weakly, so it ends with the last
//! handle.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tracing::{debug, info, warn};

use super::connection::{Inner, Live};

/// Watches the connection; when it drops, reconnects with exponential backoff,
/// re-declares the topology and publishes the new connection.
pub(super) async fn supervise(inner: Weak<Inner>, mut live: Arc<Live>) {
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
