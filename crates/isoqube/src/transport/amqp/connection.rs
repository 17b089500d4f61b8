//! The connection and its state: the live connection ([`Live`]) with the
//! channels shared over it, the transport's shared state ([`Inner`]: config,
//! the remembered topology, the current connection), opening a connection,
//! waiting for a live one, and the admin channel that declarations, passive
//! checks and `get` run on. The other modules add their jobs to [`Inner`] in
//! `impl` blocks of their own.
//!
//! May use: [`super::config`], [`super::errors`], [`super::headers`],
//! [`super::routed`], the seam's [`Topology`], the ground layer
//! (`crate::error`, `crate::redact`, `crate::host`) and lapin.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use lapin::tcp::OwnedTLSConfig;
use lapin::types::{LongString, ShortString};
use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::watch;
use tracing::info;

use super::super::Topology;
use super::config::AmqpConfig;
use super::errors::{LapinFailure, REPLY_SUCCESS};
use super::headers::short;
use super::routed::RoutedChannel;
use crate::error::{Error, Result};
use crate::redact::Secrets;

/// One live connection and the channels shared over it.
pub(super) struct Live {
    pub(super) conn: Connection,
    pub(super) generation: u64,
    /// Declarations, passive checks, `get`: a 404/406 closes it, so it is reopened
    /// on demand and never shared with publishing or consuming.
    pub(super) admin: tokio::sync::Mutex<Option<Channel>>,
    /// Publishing where an unroutable message is fine (events), with confirms on.
    pub(super) publish: tokio::sync::Mutex<Option<Channel>>,
    /// Publishing `mandatory` messages (run steps), all on one channel whose
    /// pump pairs every `basic.return` with its publish (see [`super::routed`]).
    pub(super) routed: Mutex<Option<Arc<RoutedChannel>>>,
    /// Held while the `routed` channel is being opened.
    pub(super) routed_opening: tokio::sync::Mutex<()>,
    /// Exchanges known to exist on this connection's broker (prefixed names).
    pub(super) exchanges: Mutex<HashSet<String>>,
}

impl Live {
    pub(super) fn alive(&self) -> bool {
        self.conn.status().connected()
    }

    pub(super) fn known_exchanges(&self) -> MutexGuard<'_, HashSet<String>> {
        self.exchanges.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The channel for mandatory publishes, if it is open.
    pub(super) fn routed_channel(&self) -> Option<Arc<RoutedChannel>> {
        let slot = self.routed.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().filter(|r| r.usable()).cloned()
    }
}

/// What the clones of an [`super::AmqpTransport`] share.
pub(super) struct Inner {
    pub(super) config: AmqpConfig,
    /// For `amqps://`: the CA file's certificates and the client certificate,
    /// read once at connect (never printed: it holds a private key).
    pub(super) tls: OwnedTLSConfig,
    pub(super) redacted: String,
    pub(super) secrets: Secrets,
    pub(super) state: watch::Sender<Option<Arc<Live>>>,
    pub(super) topology: Mutex<Topology>,
    pub(super) closed: AtomicBool,
    pub(super) generation: AtomicU64,
    pub(super) supervisor: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Inner {
    /// A broker or library message with the password scrubbed out.
    pub(super) fn scrub(&self, msg: impl std::fmt::Display) -> String {
        self.secrets.scrub(msg)
    }

    pub(super) fn err(&self, what: impl std::fmt::Display, e: impl std::fmt::Display) -> Error {
        Error::Transport(format!("{what}: {}", self.scrub(e)))
    }

    pub(super) fn name(&self, name: &str) -> Result<ShortString> {
        short(&format!("{}{name}", self.config.prefix))
    }

    pub(super) fn topology(&self) -> MutexGuard<'_, Topology> {
        self.topology.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) async fn open(&self) -> Result<Arc<Live>> {
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
            // Unreachable: one line naming the broker's host, the client's
            // detail at debug level.
            Ok(Err(e))
                if matches!(e.kind(), lapin::ErrorKind::IOError(io)
                if crate::error::is_unreachable_io(io.kind())) =>
            {
                let why = match e.kind() {
                    lapin::ErrorKind::IOError(io) => io.kind().to_string(),
                    _ => String::new(),
                };
                tracing::debug!(url = %self.redacted, "cannot connect to the broker: {}", self.scrub(&e));
                return Err(Error::Transport(format!(
                    "RabbitMQ at {} is unreachable ({why})",
                    crate::redact::url_hosts(&self.config.url)
                )));
            }
            Ok(Err(e)) => {
                return Err(self.err(format!("cannot connect to {}", self.redacted), e));
            }
            Err(_) => {
                return Err(Error::Transport(format!(
                    "RabbitMQ at {} is unreachable (no answer within {:?})",
                    crate::redact::url_hosts(&self.config.url),
                    self.config.connect_timeout
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
    pub(super) async fn live(&self, wait: Duration) -> Result<Arc<Live>> {
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

    pub(super) fn timeout(&self) -> Duration {
        self.config.publish_timeout
    }

    /// Runs `f` on the admin channel of `live` (opened if needed), bounded by the
    /// timeout. The channel is dropped when the broker closed it (404/406).
    pub(super) async fn admin<T, F, Fut>(&self, live: &Live, what: &str, f: F) -> Result<T>
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
                Err(LapinFailure(e).into_error(&self.secrets, what))
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

    /// Whether a live connection is there and the transport is not closed.
    pub(super) fn is_ready(&self) -> bool {
        !self.closed.load(Ordering::SeqCst)
            && self.state.borrow().as_ref().is_some_and(|l| l.alive())
    }

    /// Stops the supervisor and closes the connection cleanly; a second call
    /// does nothing.
    pub(super) async fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(h) = self
            .supervisor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            h.abort();
        }
        let live = self.state.send_replace(None);
        if let Some(live) = live {
            if live.alive() {
                match tokio::time::timeout(
                    self.timeout(),
                    live.conn
                        .close(REPLY_SUCCESS, ShortString::from("isoqube closing")),
                )
                .await
                {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(self.err("closing the connection", e)),
                    Err(_) => {
                        return Err(Error::Transport(
                            "closing the connection: no answer from the broker".into(),
                        ))
                    }
                }
            }
        }
        info!(url = %self.redacted, "AMQP transport closed");
        Ok(())
    }
}
