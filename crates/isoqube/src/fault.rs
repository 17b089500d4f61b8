//! Author API: [`Fault<E>`], MassTransit's `Fault<T>` as a typed event, so an
//! Isoqube consumer can take the faults of any event (`async fn f(fault:
//! Fault<LinuxBuild>)`): its endpoint is bound to `MassTransit:Fault--Ns:T--`
//! and it gets what a MassTransit consumer or Isoqube publishes there when a
//! consumer of `E` fails for good. Uses the event facts and the URN names of
//! `crate::wire`.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{Event, EventInfo};
use crate::wire::envelope::HostInfo;
use crate::wire::urn::{fault_exchange, fault_urn, MessageUrn};

/// MassTransit's `Fault<T>`: a consumer of `E` failed for good on this message.
///
/// Its type is `urn:message:MassTransit:Fault[[Ns:T]]` and it travels on the
/// exchange `MassTransit:Fault--Ns:T--` (`Ns:T` the message type of `E`, not
/// its exchange); faults of the types `E` accepts are taken too.
///
/// ```
/// use isoqube::{Event, fault::Fault};
/// #[isoqube::event(namespace = "Builds")]
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Pushed { commit: String }
///
/// let info = Fault::<Pushed>::info();
/// assert_eq!(info.message_type(), "urn:message:MassTransit:Fault[[Builds:Pushed]]");
/// assert_eq!(info.exchange_name(), "MassTransit:Fault--Builds:Pushed--");
/// assert!(std::ptr::eq(info, Fault::<Pushed>::info()));
///
/// let fault: Fault<Pushed> = serde_json::from_value(serde_json::json!({
///     "faultId": "5a0a0000-0000-0000-0000-000000000001",
///     "faultedMessageId": "5a0a0000-0000-0000-0000-000000000002",
///     "timestamp": "2024-05-01T10:00:00.1234567Z",
///     "exceptions": [{"exceptionType": "System.IO.IOException", "message": "disk full",
///                     "stackTrace": "   at Build()", "innerException": null}],
///     "host": {"machineName": "build-01"},
///     "faultMessageTypes": ["urn:message:Builds:Pushed"],
///     "message": {"commit": "abc"}
/// })).unwrap();
/// assert_eq!(fault.message.commit, "abc");
/// assert_eq!(fault.exceptions[0].message.as_deref(), Some("disk full"));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    bound(
        serialize = "E: Serialize",
        deserialize = "E: serde::de::DeserializeOwned"
    )
)]
pub struct Fault<E> {
    /// `faultId`: this fault's own id.
    #[serde(default)]
    pub fault_id: Option<String>,
    /// `faultedMessageId`: the `messageId` of the message that faulted.
    #[serde(default)]
    pub faulted_message_id: Option<String>,
    /// `timestamp`: when it faulted.
    #[serde(default)]
    pub timestamp: Option<DateTime<Utc>>,
    /// `exceptions`: what went wrong (one per failure, MassTransit's `ExceptionInfo`).
    #[serde(default)]
    pub exceptions: Vec<ExceptionInfo>,
    /// `host`: the process where it faulted.
    #[serde(default)]
    pub host: Option<HostInfo>,
    /// `faultMessageTypes`: the faulted message's types.
    #[serde(default)]
    pub fault_message_types: Vec<String>,
    /// `message`: the faulted message.
    pub message: E,
}

/// MassTransit's `ExceptionInfo` (one failure of a [`Fault`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionInfo {
    /// `exceptionType` (a .NET type name, or the Rust error's kind).
    #[serde(default)]
    pub exception_type: Option<String>,
    /// `innerException`.
    #[serde(default)]
    pub inner_exception: Option<Box<ExceptionInfo>>,
    /// `stackTrace` (empty from Isoqube: Rust errors carry none).
    #[serde(default)]
    pub stack_trace: Option<String>,
    /// `message`.
    #[serde(default)]
    pub message: Option<String>,
    /// `source`.
    #[serde(default)]
    pub source: Option<String>,
    /// `data` (.NET's `Exception.Data`), as it came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

// Not offered as a fix when a type is no event: `Fault<Plain>` would not be either.
#[diagnostic::do_not_recommend]
impl<E: Event> Event for Fault<E> {
    /// The generic's base name: a constant cannot hold `E`'s name. The
    /// registered name ([`EventInfo::name`]) is `Fault[[Ns:T]]`.
    const NAME: &'static str = "Fault";

    fn info() -> &'static EventInfo {
        // One `EventInfo` per `E`, made on first use (a generic has no
        // static of its own) and kept for the process's life.
        static INFOS: OnceLock<Mutex<HashMap<TypeId, &'static EventInfo>>> = OnceLock::new();
        let infos = INFOS.get_or_init(Default::default);
        let mut infos = infos.lock().unwrap_or_else(|p| p.into_inner());
        infos
            .entry(TypeId::of::<E>())
            .or_insert_with(|| Box::leak(Box::new(fault_info(E::info()))))
    }
}

/// The facts of `Fault<T>` for the event `inner`.
fn fault_info(inner: &'static EventInfo) -> EventInfo {
    let own = inner.message_type();
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    // `fault_urn`/`fault_exchange` only fail on a string that is no URN;
    // an event's own type always is one.
    let urn = fault_urn(&own).unwrap_or_else(|| format!("urn:message:MassTransit:Fault[[{own}]]"));
    let name = MessageUrn::parse(&urn)
        .map(|u| u.name.to_string())
        .unwrap_or_else(|| format!("Fault[[{}]]", inner.name));
    let exchange =
        fault_exchange(&own).unwrap_or_else(|| format!("MassTransit:Fault--{}--", inner.name));
    let accepts: Vec<&'static str> = inner
        .accepts
        .iter()
        .filter_map(|u| fault_urn(u))
        .map(leak)
        .collect();
    EventInfo {
        name: leak(name),
        description: leak(format!(
            "MassTransit's Fault<T>: a consumer of {} failed for good",
            inner.name
        )),
        namespace: Some("MassTransit"),
        exchange: Some(leak(exchange)),
        module_path: inner.module_path,
        location: inner.location,
        fields: &[
            "faultId: Guid",
            "faultedMessageId: Guid",
            "timestamp: DateTime",
            "exceptions: ExceptionInfo[]",
            "host: HostInfo",
            "faultMessageTypes: string[]",
            "message: T",
        ],
        accepts: Box::leak(accepts.into_boxed_slice()),
    }
}
