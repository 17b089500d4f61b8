//! Ground layer: MassTransit's `Fault<T>`, the message published when a
//! consumer of `T` fails for good: its type (`urn:message:MassTransit:Fault[[Ns:T]]`
//! and `urn:message:MassTransit:Fault`), its exchange
//! (`MassTransit:Fault--Ns:T--`) and its payload (`faultId`,
//! `faultedMessageId`, `timestamp`, `exceptions`, `host`,
//! `faultMessageTypes`, `message`). Uses the envelope and the URN names.

use serde_json::{json, Value};

use super::envelope::{new_message_id, Envelope, Host};
use super::urn::{fault_exchange, fault_urn, URN_PREFIX};

/// The failure a fault reports (MassTransit's `ExceptionInfo`).
#[derive(Debug, Clone)]
pub struct FaultInfo<'a> {
    /// `exceptionType`.
    pub exception_type: &'a str,
    /// `message`.
    pub message: &'a str,
    /// `source` (the failing service).
    pub source: &'a str,
}

/// The `Fault<T>` of a faulted message consumed as the type `consumed_type`
/// (a URN), and the exchange it is published to; `None` when
/// `consumed_type` is not a URN.
///
/// The envelope's ids follow MassTransit: `initiatorId` is the faulted
/// message's id, `correlationId` and `conversationId` are copied;
/// `faultMessageTypes` are the faulted message's types (its `messageType`,
/// else `consumed_type`).
///
/// ```
/// use isoqube::envelope::{Envelope, Host, HostInfo};
/// use isoqube::wire::fault::{fault, FaultInfo};
/// let faulted = Envelope::new("urn:message:Builds:Pushed", serde_json::json!({"commit": "abc"}));
/// let info = FaultInfo { exception_type: "io::Error", message: "disk full", source: "svc" };
/// let host = Host::new(&HostInfo::default());
/// let (env, exchange) = fault(&faulted, "urn:message:Builds:Pushed", &info, &host, "2024-01-01T00:00:00Z").unwrap();
/// assert_eq!(exchange, "MassTransit:Fault--Builds:Pushed--");
/// assert_eq!(env.message_type[0], "urn:message:MassTransit:Fault[[Builds:Pushed]]");
/// assert_eq!(env.message["message"]["commit"], "abc");
/// assert_eq!(env.message["faultedMessageId"], faulted.message_id.as_str());
/// ```
pub fn fault(
    faulted: &Envelope,
    consumed_type: &str,
    info: &FaultInfo<'_>,
    host: &Host,
    timestamp: &str,
) -> Option<(Envelope, String)> {
    let urn = fault_urn(consumed_type)?;
    let exchange = fault_exchange(consumed_type)?;
    let types: Vec<&str> = if faulted.message_type.is_empty() {
        vec![consumed_type]
    } else {
        faulted.message_type.iter().map(String::as_str).collect()
    };
    let payload = json!({
        "faultId": new_message_id().to_string(),
        "faultedMessageId": faulted.message_id,
        "timestamp": timestamp,
        "exceptions": [{
            "exceptionType": info.exception_type,
            "innerException": null,
            // Rust errors carry no stack trace.
            "stackTrace": "",
            "message": info.message,
            "source": info.source,
        }],
        "host": serde_json::from_str::<Value>(host.json()).unwrap_or(Value::Null),
        "faultMessageTypes": types,
        "message": faulted.message,
    });
    let mut env = Envelope::new(urn, payload);
    env.message_type
        .push(format!("{URN_PREFIX}MassTransit:Fault"));
    env.correlation_id = faulted.correlation_id.clone();
    env.conversation_id = faulted.conversation_id.clone();
    env.initiator_id = Some(faulted.message_id.clone());
    env.host = Some(host.clone());
    Some((env, exchange))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::envelope::HostInfo;

    #[test]
    fn fault_is_masstransits() {
        let mut faulted = Envelope::new("urn:message:Ns:Build", json!({"n": 1}));
        faulted.correlation_id = Some("corr".into());
        faulted.conversation_id = Some("conv".into());
        let host = Host::new(&HostInfo::current("svc"));
        let info = FaultInfo {
            exception_type: "Error",
            message: "boom",
            source: "svc",
        };
        let (env, exchange) = fault(&faulted, "urn:message:Ns:Build", &info, &host, "T").unwrap();
        assert_eq!(exchange, "MassTransit:Fault--Ns:Build--");
        assert_eq!(
            env.message_type,
            [
                "urn:message:MassTransit:Fault[[Ns:Build]]",
                "urn:message:MassTransit:Fault"
            ]
        );
        assert_eq!(env.correlation_id.as_deref(), Some("corr"));
        assert_eq!(env.conversation_id.as_deref(), Some("conv"));
        assert_eq!(
            env.initiator_id.as_deref(),
            Some(faulted.message_id.as_str())
        );
        let m = &env.message;
        assert!(uuid::Uuid::parse_str(m["faultId"].as_str().unwrap()).is_ok());
        assert_eq!(m["faultedMessageId"], faulted.message_id.as_str());
        assert_eq!(m["timestamp"], "T");
        assert_eq!(m["exceptions"][0]["exceptionType"], "Error");
        assert_eq!(m["exceptions"][0]["message"], "boom");
        assert_eq!(m["host"]["assembly"], "svc");
        assert_eq!(m["faultMessageTypes"], json!(["urn:message:Ns:Build"]));
        assert_eq!(m["message"], json!({"n": 1}));
        assert!(fault(&faulted, "Build", &info, &host, "T").is_none());
    }
}
