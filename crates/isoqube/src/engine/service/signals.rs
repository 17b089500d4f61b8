//! Engine layer: the signal endpoint every service consumes. Any program
//! (a MassTransit peer, a webhook relay, a consumer in code) completes a wait
//! by publishing the awaited event on the broker: its exchange is bound to
//! the queue [`SIGNAL_ENDPOINT`], whose deliveries become signals
//! ([`crate::engine::waits`]) to the run named by the envelope's
//! `correlationId` (or the `Isoqube-RunId` header), or, naming no run, to the
//! runs a wait's `correlate` key matches. A signal nothing waits for goes to
//! `isoqube-signals_skipped` with the reason (what it looked for), never
//! dropped; one that cannot be read goes to `isoqube-signals_error`.
//!
//! Which exchanges are bound: those of the events stored definitions wait
//! for, declared when a definition is saved and again by every service at
//! start-up and every [`REBIND_EVERY`] (so a definition saved while the
//! broker was away is bound once it is back).
//!
//! Uses the control actions, the registry, the transport and the wire format.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::Value;
use tracing::{debug, warn};
use uuid::Uuid;

use super::dead_letter::{moved_headers, moved_message};
use super::endpoint::{Consuming, Settle, Shared};
use crate::engine::control::Control;
use crate::engine::metrics::EndpointMetrics;
use crate::error::{Error, Result};
use crate::model::{Signal, Variables};
use crate::registry::Registry;
use crate::transport::{Delivery, RawMessage, Topology, Transport, ERROR_SUFFIX, SKIPPED_SUFFIX};
use crate::wire::content::{reader, Reader};
use crate::wire::envelope::Incoming;

/// The queue (and exchange) of signals: events runs wait for.
pub const SIGNAL_ENDPOINT: &str = "isoqube-signals";

/// The header a signal moved aside carries: why it was.
pub const HEADER_REASON: &str = "Isoqube-Reason";

/// How often a service declares the bindings of definitions saved since.
pub const REBIND_EVERY: Duration = Duration::from_secs(20);

/// Signals handled at once by one service.
const PREFETCH: u16 = 16;

pub(super) struct SignalEndpoint {
    pub(super) shared: Arc<Shared>,
    pub(super) control: Control,
    pub(super) registry: Arc<Registry>,
    pub(super) metrics: Arc<EndpointMetrics>,
}

impl Consuming for SignalEndpoint {
    fn queue(&self) -> &str {
        SIGNAL_ENDPOINT
    }
    fn prefetch(&self) -> u16 {
        PREFETCH
    }
    fn transport(&self) -> &Arc<dyn Transport> {
        &self.shared.transport
    }
    fn metrics(&self) -> &Arc<EndpointMetrics> {
        &self.metrics
    }
    fn handle(&self, delivery: Delivery) -> impl std::future::Future<Output = ()> + Send {
        self.settle(delivery)
    }
}

/// A delivery read as a signal: the run it names (if any) and the signal.
type Read = (Option<Uuid>, Signal);

impl SignalEndpoint {
    async fn settle(&self, delivery: Delivery) {
        self.metrics.record_consumed();
        let _in_flight = self.metrics.in_flight_guard();
        let settled = match self.process(&delivery.message).await {
            Settle::Ack => delivery.acker.ack().await,
            Settle::Requeue => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                delivery.acker.nack(true).await
            }
        };
        if let Err(e) = settled {
            warn!(
                endpoint = SIGNAL_ENDPOINT,
                "could not settle a signal (it will be redelivered): {e}"
            );
        }
    }

    async fn process(&self, msg: &RawMessage) -> Settle {
        let (run, signal) = match self.read(msg) {
            Ok(read) => read,
            Err(why) => return self.move_aside(ERROR_SUFFIX, msg, &why).await,
        };
        let delivered = match run {
            Some(id) => self.control.signal(id, signal).await.map(|_| ()),
            None => self.control.signal_matching(signal).await.map(|_| ()),
        };
        match delivered {
            Ok(()) => Settle::Ack,
            Err(Error::InvalidState(why)) => self.move_aside(SKIPPED_SUFFIX, msg, &why).await,
            Err(Error::NotFound { name, .. }) => {
                let why = format!("no run {name} (the signal's correlationId)");
                self.move_aside(SKIPPED_SUFFIX, msg, &why).await
            }
            Err(e @ Error::Corrupt { .. }) => {
                self.move_aside(ERROR_SUFFIX, msg, &e.to_string()).await
            }
            Err(e) => {
                warn!(
                    endpoint = SIGNAL_ENDPOINT,
                    "could not deliver a signal, requeueing: {e}"
                );
                Settle::Requeue
            }
        }
    }

    /// The run and the signal a delivery names, or why it names none.
    fn read(&self, msg: &RawMessage) -> std::result::Result<Read, String> {
        let reader = reader(msg.properties.content_type.as_deref())?;
        if reader != Reader::Envelope {
            return Err("a signal is a MassTransit envelope naming its message type".into());
        }
        let env = Incoming::from_slice(&msg.body).map_err(|e| e.to_string())?;
        let info = self
            .registry
            .events()
            .find(|info| env.message_type.iter().any(|urn| info.matches_urn(urn)))
            .ok_or_else(|| {
                let types: Vec<&str> = env.message_type.iter().map(|t| &**t).collect();
                format!("no event of this service is of type {types:?}")
            })?;
        let named = env
            .run_id_header()
            .or(env.correlation_id.as_deref())
            .or(msg.correlation_id.as_deref());
        let run = match named {
            None => None,
            Some(text) => Some(
                Uuid::parse_str(text)
                    .map_err(|_| format!("correlationId '{text}' is not a run id (a UUID)"))?,
            ),
        };
        let data: Variables = match &env.message {
            Value::Object(map) => map.clone(),
            Value::Null => Variables::new(),
            _ => return Err("a signal's message is a JSON object".into()),
        };
        let id = Uuid::parse_str(&env.message_id)
            .unwrap_or_else(|_| Uuid::new_v5(&Uuid::NAMESPACE_OID, env.message_id.as_bytes()));
        let mut signal = Signal::new(info.name, data, "broker");
        signal.id = id;
        Ok((run, signal))
    }

    /// Moves `msg` to `isoqube-signals<suffix>` with the reason.
    async fn move_aside(&self, suffix: &str, msg: &RawMessage, why: &str) -> Settle {
        let timestamp = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
        let mut headers = moved_headers(&msg.headers, &self.shared.host_headers, None, &timestamp);
        headers.insert(HEADER_REASON.into(), Value::String(why.to_string()));
        let out = moved_message(msg, headers);
        let queue = format!("{SIGNAL_ENDPOINT}{suffix}");
        match self.shared.transport.publish(&queue, out).await {
            Ok(()) => {
                warn!(endpoint = SIGNAL_ENDPOINT, "signal moved to {queue}: {why}");
                self.metrics.record_dead_lettered();
                Settle::Ack
            }
            Err(e) => {
                warn!(
                    endpoint = SIGNAL_ENDPOINT,
                    "could not move a signal to {queue}, requeueing: {e}"
                );
                Settle::Requeue
            }
        }
    }
}

impl Control {
    /// Declares the signal endpoint bound to the exchange of every event a
    /// stored definition waits for (that this binary knows); returns those
    /// exchanges.
    pub async fn declare_signal_endpoint(&self) -> Result<BTreeSet<String>> {
        let mut exchanges = BTreeSet::new();
        for def in self.store().list_definitions().await? {
            exchanges.extend(self.wait_exchanges(&def.steps));
        }
        self.transport()
            .declare(&Topology::endpoint(
                SIGNAL_ENDPOINT,
                exchanges.iter().cloned(),
            ))
            .await?;
        Ok(exchanges)
    }

    /// The exchanges of the events `steps` wait for, that this binary knows.
    pub(crate) fn wait_exchanges(&self, steps: &[crate::model::StepDef]) -> Vec<String> {
        steps
            .iter()
            .filter(|s| s.wait.is_some())
            .filter_map(|s| self.registry().event(&s.event))
            .map(|info| info.exchange_name())
            .collect()
    }

    /// After a definition is saved: binds the events it waits for, so a
    /// signal published from now on is taken. Best effort: a service binds
    /// them too ([`REBIND_EVERY`]).
    pub(crate) async fn bind_waits(&self, steps: &[crate::model::StepDef]) {
        let exchanges = self.wait_exchanges(steps);
        if exchanges.is_empty() {
            return;
        }
        let topology = Topology::endpoint(SIGNAL_ENDPOINT, exchanges);
        if let Err(e) = self.transport().declare(&topology).await {
            debug!("could not bind the definition's waits now (services will): {e}");
        }
    }
}
