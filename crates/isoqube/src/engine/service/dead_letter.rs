//! Engine layer: moving a message aside as MassTransit does, to `<q>_error`
//! (a fault: `MT-Reason: fault`, the `MT-Fault-*` headers, the eight
//! `MT-Host-*`) or `<q>_skipped` (no consumer here understands it:
//! `MT-Reason: dead-letter` and the host headers), keeping its body, ids and
//! AMQP properties. A consumer's own failure also publishes MassTransit's
//! `Fault<T>` (to the faulted message's `faultAddress` or `responseAddress`,
//! else the `MassTransit:Fault--Ns:T--` exchange).

use std::collections::BTreeMap;

use chrono::{SecondsFormat, Utc};
use futures_util::future::BoxFuture;
use serde_json::Value;
use tracing::error;
use uuid::Uuid;

use crate::consumer::HandlerError;
use crate::error::Error;
use crate::transport::{OutgoingMessage, RawMessage, Topology, ERROR_SUFFIX};
use crate::wire::address::Address;
use crate::wire::content::{reader, Reader};
use crate::wire::envelope::{Envelope, Host, HostInfo};
use crate::wire::fault::{fault, FaultInfo};
use crate::wire::headers::{
    redelivery_count, MT_FAULT_CONSUMER_TYPE, MT_FAULT_EXCEPTION_TYPE, MT_FAULT_INPUT_ADDRESS,
    MT_FAULT_MESSAGE, MT_FAULT_MESSAGE_TYPE, MT_FAULT_PREFIX, MT_FAULT_REDELIVERY_COUNT,
    MT_FAULT_RETRY_COUNT, MT_FAULT_STACK_TRACE, MT_FAULT_TIMESTAMP, MT_HOST_ASSEMBLY,
    MT_HOST_ASSEMBLY_VERSION, MT_HOST_FRAMEWORK_VERSION, MT_HOST_MACHINE_NAME,
    MT_HOST_MASS_TRANSIT_VERSION, MT_HOST_OPERATING_SYSTEM_VERSION, MT_HOST_PROCESS_ID,
    MT_HOST_PROCESS_NAME, MT_REASON, REASON_DEAD_LETTER, REASON_FAULT,
};

use super::{Endpoint, Settle};

/// The fault a step message is dead-lettered with when the runtime (not the
/// consumer) cannot handle it.
pub(super) fn step_error(e: &Error) -> HandlerError {
    let kind = if e.is_corrupt() {
        "isoqube::CorruptRecord"
    } else {
        "isoqube::StepError"
    };
    HandlerError::new(kind, e.to_string(), false)
}

fn text(v: &str) -> Value {
    Value::String(v.to_string())
}

/// The eight `MT-Host-*` headers of a host (worked out once per service).
pub(super) fn host_headers(host: &HostInfo) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut put = |k: &str, v: Option<Value>| {
        out.insert(k.to_string(), v.unwrap_or_else(|| text("")));
    };
    let s = |v: &Option<String>| v.as_deref().map(text);
    put(MT_HOST_MACHINE_NAME, s(&host.machine_name));
    put(MT_HOST_PROCESS_NAME, s(&host.process_name));
    put(MT_HOST_PROCESS_ID, host.process_id.map(Value::from));
    put(MT_HOST_ASSEMBLY, s(&host.assembly));
    put(MT_HOST_ASSEMBLY_VERSION, s(&host.assembly_version));
    put(MT_HOST_FRAMEWORK_VERSION, s(&host.framework_version));
    put(MT_HOST_MASS_TRANSIT_VERSION, s(&host.mass_transit_version));
    put(
        MT_HOST_OPERATING_SYSTEM_VERSION,
        s(&host.operating_system_version),
    );
    out
}

/// What a fault says about where it happened.
pub(super) struct FaultSite<'a> {
    pub(super) consumer_type: &'a str,
    pub(super) message_type: &'a str,
    pub(super) input_address: &'a str,
}

/// The headers of a message moved aside: its own (stale `MT-Fault-*` and
/// `MT-Reason` of an earlier move dropped), the host's, and the reason;
/// for a fault the `MT-Fault-*` set, the retry and redelivery counts only
/// when not zero (as MassTransit writes them).
pub(super) fn moved_headers(
    original: &BTreeMap<String, Value>,
    host: &BTreeMap<String, Value>,
    fault: Option<(&HandlerError, &FaultSite<'_>, u32)>,
    timestamp: &str,
) -> BTreeMap<String, Value> {
    let mut headers: BTreeMap<String, Value> = original
        .iter()
        .filter(|(k, _)| !k.starts_with(MT_FAULT_PREFIX) && k.as_str() != MT_REASON)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    headers.extend(host.iter().map(|(k, v)| (k.clone(), v.clone())));
    let Some((err, site, retries)) = fault else {
        headers.insert(MT_REASON.into(), text(REASON_DEAD_LETTER));
        return headers;
    };
    headers.insert(MT_REASON.into(), text(REASON_FAULT));
    headers.insert(MT_FAULT_EXCEPTION_TYPE.into(), text(&err.kind));
    headers.insert(MT_FAULT_MESSAGE.into(), text(&err.message));
    headers.insert(MT_FAULT_TIMESTAMP.into(), text(timestamp));
    // Rust errors carry no stack trace; the header is there, empty.
    headers.insert(MT_FAULT_STACK_TRACE.into(), text(""));
    headers.insert(MT_FAULT_CONSUMER_TYPE.into(), text(site.consumer_type));
    headers.insert(MT_FAULT_MESSAGE_TYPE.into(), text(site.message_type));
    headers.insert(MT_FAULT_INPUT_ADDRESS.into(), text(site.input_address));
    if retries > 0 {
        headers.insert(MT_FAULT_RETRY_COUNT.into(), Value::from(retries));
    }
    let redelivered = redelivery_count(original);
    if redelivered > 0 {
        headers.insert(MT_FAULT_REDELIVERY_COUNT.into(), Value::from(redelivered));
    }
    headers
}

/// `msg` as it is moved aside, with `headers`: moved as MassTransit moves
/// it, with its body, ids and the properties it came with.
pub(super) fn moved_message(msg: &RawMessage, headers: BTreeMap<String, Value>) -> OutgoingMessage {
    OutgoingMessage {
        body: msg.body.clone(),
        message_id: msg
            .message_id
            .clone()
            .unwrap_or_else(|| Uuid::new_v4().to_string()),
        correlation_id: msg.correlation_id.clone(),
        headers,
        properties: msg.properties.clone(),
    }
}

impl Endpoint {
    /// Moves a message to `<q>_error` or `<q>_skipped` with MassTransit's headers.
    /// [`Self::move_to`], boxed: the exception path, whose state would
    /// otherwise make every delivery's task larger.
    pub(super) fn dead_letter<'a>(
        &'a self,
        suffix: &'a str,
        msg: &'a RawMessage,
        err: Option<&'a HandlerError>,
        attempts: u32,
    ) -> BoxFuture<'a, Settle> {
        Box::pin(self.move_to(suffix, msg, err, attempts))
    }

    pub(super) async fn move_to(
        &self,
        suffix: &str,
        msg: &RawMessage,
        err: Option<&HandlerError>,
        attempts: u32,
    ) -> Settle {
        let consumer_type = format!("{}::{}", self.reg.module_path, self.reg.name);
        let message_type = format!("{}.{}", self.info.namespace(), self.info.name);
        let input_address = self.shared.transport.address(&self.name);
        let site = FaultSite {
            consumer_type: &consumer_type,
            message_type: &message_type,
            input_address: &input_address,
        };
        // A fault to `_error`; a message only skipped carries no fault.
        let fault = err
            .filter(|_| suffix == ERROR_SUFFIX)
            .map(|e| (e, &site, attempts.saturating_sub(1)));
        let timestamp = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
        let headers = moved_headers(&msg.headers, &self.shared.host_headers, fault, &timestamp);
        let out = moved_message(msg, headers);
        let queue = format!("{}{suffix}", self.name);
        match self.shared.transport.publish(&queue, out).await {
            Ok(()) => {
                self.metrics.record_dead_lettered();
                // The consumer ran and failed (the runtime's own refusals,
                // `isoqube::*`, are not the consumer's faults; a payload that
                // does not decode is not a `T` to report).
                if let Some((err, _, _)) =
                    fault.filter(|(e, _, _)| attempts > 0 && !e.kind.starts_with("isoqube::"))
                {
                    self.publish_fault(msg, err, &timestamp).await;
                }
                Settle::Ack
            }
            Err(e) => {
                error!(endpoint = %self.name, "could not move a message to {queue}, requeueing: {e}");
                Settle::Requeue
            }
        }
    }
}

impl Endpoint {
    /// Publishes `Fault<T>` of `msg` for `err`; a fault that cannot be
    /// published is logged (the message is in `<q>_error` already).
    async fn publish_fault(&self, msg: &RawMessage, err: &HandlerError, timestamp: &str) {
        let Some(faulted) = faulted_envelope(msg) else {
            return;
        };
        let host = Host::new(&HostInfo::current(&self.shared.name));
        let info = FaultInfo {
            exception_type: &err.kind,
            message: &err.message,
            source: &self.shared.name,
        };
        let Some((mut env, exchange)) =
            fault(&faulted, &self.info.message_type(), &info, &host, timestamp)
        else {
            return;
        };
        // The fault of a request answers it: a request client matches it
        // by the request id (MassTransit copies it too).
        env.request_id = faulted.request_id.clone();
        let transport = &self.shared.transport;
        let base = transport.address_base();
        // Where the sender asked faults to go, as a name on this transport.
        let asked = faulted
            .fault_address
            .as_deref()
            .or(faulted.response_address.as_deref())
            .and_then(|a| match a.strip_prefix(base.as_str()) {
                Some(name) => Some(name.split('?').next().unwrap_or(name).to_string()),
                None => Address::parse(a).map(|a| a.name),
            });
        let target = match asked {
            Some(name) => name,
            None => {
                // MassTransit declares the fault exchange when it publishes.
                let declare = Topology {
                    exchanges: vec![exchange.clone()],
                    ..Default::default()
                };
                if let Err(e) = transport.declare(&declare).await {
                    error!(endpoint = %self.name, "cannot declare {exchange} for a fault: {e}");
                    return;
                }
                exchange
            }
        };
        env.source_address = Some(transport.address(&self.name));
        env.destination_address = Some(transport.address(&target));
        let out = OutgoingMessage {
            body: env.to_vec(),
            message_id: env.message_id.clone(),
            correlation_id: env.correlation_id.clone(),
            headers: BTreeMap::new(),
            properties: Default::default(),
        };
        if let Err(e) = transport.publish_event(&target, out).await {
            error!(endpoint = %self.name, "could not publish the fault to {target}: {e}");
        }
    }
}

/// The faulted message as an envelope: as it came, or a raw message wrapped
/// (its ids from the AMQP properties, no types).
fn faulted_envelope(msg: &RawMessage) -> Option<Envelope> {
    match reader(msg.properties.content_type.as_deref()).ok()? {
        Reader::Envelope => Envelope::from_slice(&msg.body).ok(),
        Reader::Raw => {
            let message: Value = serde_json::from_slice(&msg.body).ok()?;
            let mut env = Envelope::new(String::new(), message);
            env.message_type.clear();
            if let Some(id) = &msg.message_id {
                env.message_id = id.clone();
            }
            env.correlation_id = msg.correlation_id.clone();
            Some(env)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::headers::MT_REDELIVERY_COUNT;

    fn host() -> BTreeMap<String, Value> {
        host_headers(&HostInfo::current("svc"))
    }

    #[test]
    fn host_headers_are_the_eight() {
        let h = host();
        let keys: Vec<&str> = h.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                MT_HOST_ASSEMBLY,
                MT_HOST_ASSEMBLY_VERSION,
                MT_HOST_FRAMEWORK_VERSION,
                MT_HOST_MACHINE_NAME,
                MT_HOST_MASS_TRANSIT_VERSION,
                MT_HOST_OPERATING_SYSTEM_VERSION,
                MT_HOST_PROCESS_ID,
                MT_HOST_PROCESS_NAME,
            ]
        );
        assert!(h[MT_HOST_PROCESS_ID].is_u64());
        assert_eq!(h[MT_HOST_ASSEMBLY], "svc");
    }

    #[test]
    fn fault_headers_are_masstransits() {
        let err = HandlerError::new("io::Error", "disk full", true);
        let site = FaultSite {
            consumer_type: "app::build",
            message_type: "Ns.Build",
            input_address: "rabbitmq://localhost/build",
        };
        let mut original = BTreeMap::new();
        original.insert("X-Keep".to_string(), text("yes"));
        original.insert(MT_FAULT_RETRY_COUNT.to_string(), Value::from(9));
        original.insert(MT_REASON.to_string(), text("old"));
        let first = moved_headers(&original, &host(), Some((&err, &site, 0)), "T");
        for (k, v) in [
            (MT_REASON, "fault"),
            (MT_FAULT_EXCEPTION_TYPE, "io::Error"),
            (MT_FAULT_MESSAGE, "disk full"),
            (MT_FAULT_TIMESTAMP, "T"),
            (MT_FAULT_STACK_TRACE, ""),
            (MT_FAULT_CONSUMER_TYPE, "app::build"),
            (MT_FAULT_MESSAGE_TYPE, "Ns.Build"),
            (MT_FAULT_INPUT_ADDRESS, "rabbitmq://localhost/build"),
            ("X-Keep", "yes"),
        ] {
            assert_eq!(first.get(k).and_then(Value::as_str), Some(v), "{k}");
        }
        assert!(
            !first.contains_key(MT_FAULT_RETRY_COUNT),
            "no retries: no count (and the stale one is gone)"
        );
        assert!(!first.contains_key(MT_FAULT_REDELIVERY_COUNT));
        assert_eq!(
            first.keys().filter(|k| k.starts_with("MT-Host-")).count(),
            8
        );

        original.insert(MT_REDELIVERY_COUNT.to_string(), Value::from(2));
        let again = moved_headers(&original, &host(), Some((&err, &site, 3)), "T");
        assert_eq!(again[MT_FAULT_RETRY_COUNT], 3);
        assert_eq!(again[MT_FAULT_REDELIVERY_COUNT], 2);
        assert_eq!(again[MT_REDELIVERY_COUNT], 2);
    }

    #[test]
    fn skipped_is_a_dead_letter() {
        let mut original = BTreeMap::new();
        original.insert(MT_FAULT_MESSAGE.to_string(), text("stale"));
        let h = moved_headers(&original, &host(), None, "T");
        assert_eq!(h[MT_REASON], REASON_DEAD_LETTER);
        assert!(!h.keys().any(|k| k.starts_with(MT_FAULT_PREFIX)));
        assert_eq!(h.keys().filter(|k| k.starts_with("MT-Host-")).count(), 8);
    }
}
