//! The MassTransit message envelope, the one wire format every transport uses.
//!
//! A .NET MassTransit service reads what we publish and we read what it publishes:
//! camelCase JSON, GUID ids, `urn:message:` types, the payload under `message`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::host::host_name;

pub use super::headers::{
    CONTENT_TYPE, HEADER_COMPENSATE, HEADER_COMPENSATE_EVENT, HEADER_DEFINITION, HEADER_RUN_ID,
    HEADER_STEP,
};

/// A fresh message id: unique, version-4 shaped, without a system call.
///
/// `Uuid::new_v4` asks the kernel for randomness on every call (a system call
/// per published message). Like MassTransit's `NewId`, ids here are
/// sequential within a process: one random 122-bit base per process (60
/// random bits identify the process), and a counter in the low 62 bits.
///
/// ```
/// let (a, b) = (isoqube::envelope::new_message_id(), isoqube::envelope::new_message_id());
/// assert_ne!(a, b);
/// assert_eq!(a.get_version_num(), 4);
/// ```
pub fn new_message_id() -> Uuid {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static BASE: OnceLock<(u64, u64)> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (high, low) = *BASE.get_or_init(|| Uuid::new_v4().as_u64_pair());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) & LOW_62;
    // Version 4 in the high half; the RFC 4122 variant (0b10) in the top two
    // bits of the low half, which the counter (< 2^62) never reaches, so
    // distinct counts give distinct ids.
    let high = (high & !0xF000) | 0x4000;
    let low = ((low ^ n) & LOW_62) | (0b10 << 62);
    Uuid::from_u64_pair(high, low)
}

const LOW_62: u64 = (1 << 62) - 1;

/// The process that sent a message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostInfo {
    /// Host name.
    pub machine_name: Option<String>,
    /// Process name.
    pub process_name: Option<String>,
    /// Process id.
    pub process_id: Option<u32>,
    /// Sending assembly (crate).
    pub assembly: Option<String>,
    /// Its version.
    pub assembly_version: Option<String>,
    /// Runtime version.
    pub framework_version: Option<String>,
    /// Messaging library version.
    pub mass_transit_version: Option<String>,
    /// Operating system.
    pub operating_system_version: Option<String>,
}

impl HostInfo {
    /// Facts about this process.
    pub fn current(service: &str) -> Self {
        HostInfo {
            machine_name: Some(host_name()),
            process_name: std::env::current_exe()
                .ok()
                .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
                .or_else(|| Some(service.to_string())),
            process_id: Some(std::process::id()),
            assembly: Some(service.to_string()),
            assembly_version: Some(env!("CARGO_PKG_VERSION").to_string()),
            framework_version: Some("rust".to_string()),
            mass_transit_version: Some(format!("isoqube/{}", env!("CARGO_PKG_VERSION"))),
            operating_system_version: Some(std::env::consts::OS.to_string()),
        }
    }
}

/// The `host` of an envelope, kept as the JSON it arrived (or was built) as.
///
/// The runtime never looks inside a consumed message's host, and parsing its
/// eight strings cost about a third of parsing a step envelope; a publisher
/// sends the same host JSON every time. [`Host::info`] parses it on demand.
///
/// ```
/// use isoqube::envelope::{Host, HostInfo};
/// let host = Host::new(&HostInfo { process_id: Some(7), ..Default::default() });
/// assert_eq!(host.info().unwrap().process_id, Some(7));
/// assert!(host.json().contains("\"processId\":7"));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Host(Arc<RawValue>);

impl Host {
    /// The JSON of `info`.
    pub fn new(info: &HostInfo) -> Self {
        // Strings and a number, nothing a caller controls can make this fail.
        let raw = serde_json::value::to_raw_value(info).expect("HostInfo serialises");
        Host(Arc::from(raw))
    }

    /// The host facts, parsed.
    pub fn info(&self) -> Result<HostInfo> {
        serde_json::from_str(self.0.get())
            .map_err(|e| Error::Malformed(format!("host is not a MassTransit host: {e}")))
    }

    /// Its JSON text.
    pub fn json(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for Host {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

/// A MassTransit envelope.
///
/// ```
/// use isoqube::envelope::Envelope;
/// let json = br#"{"messageId":"8d7a0000-0000-0000-0000-000000000001",
///   "messageType":["urn:message:Builds:Pushed"],"message":{"commit":"abc"}}"#;
/// let env = Envelope::from_slice(json).unwrap();
/// assert_eq!(env.message["commit"], "abc");
/// assert!(Envelope::from_slice(b"not json").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Unique message id (GUID).
    pub message_id: String,
    /// Request id, for request/response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Correlation id: the run id for run messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Conversation id, copied downstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// The message id of the message being consumed when this one was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator_id: Option<String>,
    /// Sender endpoint address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<String>,
    /// Destination address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_address: Option<String>,
    /// Where responses go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_address: Option<String>,
    /// Where faults go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_address: Option<String>,
    /// Message type URNs, most specific first.
    #[serde(default)]
    pub message_type: Vec<String>,
    /// The payload.
    pub message: Value,
    /// When the message expires (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<String>,
    /// When it was sent (ISO-8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_time: Option<String>,
    /// Application headers.
    #[serde(default)]
    pub headers: BTreeMap<String, Value>,
    /// The sending host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<Host>,
}

impl Envelope {
    /// A new envelope with a fresh message id, the given type and payload, sent now.
    pub fn new(message_type: impl Into<String>, message: Value) -> Self {
        Envelope {
            message_id: new_message_id().to_string(),
            request_id: None,
            correlation_id: None,
            conversation_id: None,
            initiator_id: None,
            source_address: None,
            destination_address: None,
            response_address: None,
            fault_address: None,
            message_type: vec![message_type.into()],
            message,
            expiration_time: None,
            sent_time: Some(super::time::micros(&Utc::now())),
            headers: BTreeMap::new(),
            host: None,
        }
    }

    /// Parses an envelope, refusing anything that is not a JSON object with a
    /// `messageId` and an object `message`.
    pub fn from_slice(body: &[u8]) -> Result<Self> {
        object(body)?;
        // One pass straight into the struct; the error's category tells "not
        // JSON" from "JSON, but not an envelope".
        let env: Envelope = serde_json::from_slice(body).map_err(|e| malformed(body, e))?;
        check(&env.message_id, &env.message)?;
        Ok(env)
    }

    /// Serialises to JSON bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        // Sized for a typical envelope: growing from serde_json's 128 bytes
        // copies the buffer several times.
        let mut out = Vec::with_capacity(1024);
        // An Envelope is plain data (strings, maps, JSON values): serialising cannot fail.
        match serde_json::to_writer(&mut out, self) {
            Ok(()) => out,
            Err(_) => Vec::new(),
        }
    }

    /// The run and step a step message belongs to, if it is one.
    pub fn run_step(&self) -> Option<(Uuid, usize)> {
        let run = self.headers.get(HEADER_RUN_ID)?.as_str()?;
        let step = self.headers.get(HEADER_STEP)?.as_u64()?;
        Some((Uuid::parse_str(run).ok()?, usize::try_from(step).ok()?))
    }
}

/// An envelope is a JSON object (serde would also take a struct's fields from
/// an array, in order).
fn object(body: &[u8]) -> Result<()> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() => {
            Err(Error::Malformed("body is not JSON".into()))
        }
        _ => Err(Error::Malformed("body is not a JSON object".into())),
    }
}

/// Why `body` is not an envelope, from serde_json's error category.
fn malformed(body: &[u8], e: serde_json::Error) -> Error {
    use serde_json::error::Category;
    let object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    match e.classify() {
        Category::Data if !object => Error::Malformed("body is not a JSON object".into()),
        Category::Data => Error::Malformed(format!("body is not a MassTransit envelope: {e}")),
        Category::Syntax | Category::Eof | Category::Io => {
            Error::Malformed(format!("body is not JSON: {e}"))
        }
    }
}

/// What every envelope must have besides being JSON of the right shape.
fn check(message_id: &str, message: &Value) -> Result<()> {
    if message_id.trim().is_empty() {
        return Err(Error::Malformed("messageId is empty".into()));
    }
    if !message.is_object() {
        return Err(Error::Malformed("message is not a JSON object".into()));
    }
    Ok(())
}

/// The parts of a consumed envelope the runtime uses, borrowing its strings
/// from the body where they need no unescaping. The service parses every
/// delivery with this (fields it does not use are skipped, not built):
/// parsing a step message this way costs about half of [`Envelope::from_slice`].
/// It accepts and refuses exactly what [`Envelope::from_slice`] does.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Incoming<'a> {
    #[serde(borrow)]
    pub message_id: Text<'a>,
    #[serde(borrow, default)]
    pub request_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub response_address: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub correlation_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub conversation_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub message_type: Vec<Text<'a>>,
    pub message: Value,
    #[serde(borrow, default)]
    pub headers: IncomingHeaders<'a>,
    /// `MT-Redelivery-Count` of the transport headers (not in the body: the
    /// service sets it from the delivery).
    #[serde(skip)]
    pub redelivery_count: u32,
}

/// The headers of a consumed envelope the run engine reads (others are
/// skipped). Like [`Envelope::headers`], it must be a JSON object whose values
/// can be anything; a header of the wrong type counts as absent.
#[derive(Debug, Default)]
pub(crate) struct IncomingHeaders<'a> {
    run_id: Option<Cow<'a, str>>,
    /// The run id header was there (of any type).
    has_run_id: bool,
    /// The step header as sent (a step index is checked when it is read).
    step: Option<Value>,
    definition: Option<Cow<'a, str>>,
    /// The step a compensation message undoes.
    compensates: Option<Cow<'a, str>>,
    /// The event type of the step a compensation message undoes.
    compensates_event: Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for IncomingHeaders<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = IncomingHeaders<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of headers")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> std::result::Result<Self::Value, M::Error> {
                let mut out = IncomingHeaders::default();
                // The last of repeated keys wins, as in a map.
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    match &*key {
                        HEADER_RUN_ID => {
                            out.has_run_id = true;
                            out.run_id = map.next_value::<Loose<'de>>()?.text()
                        }
                        HEADER_DEFINITION => {
                            out.definition = map.next_value::<Loose<'de>>()?.text()
                        }
                        HEADER_STEP => out.step = Some(map.next_value::<Value>()?),
                        HEADER_COMPENSATE => {
                            out.compensates = map.next_value::<Loose<'de>>()?.text()
                        }
                        HEADER_COMPENSATE_EVENT => {
                            out.compensates_event = map.next_value::<Loose<'de>>()?.text()
                        }
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Any JSON value, keeping only a string (borrowed where possible).
struct Loose<'a>(Option<Cow<'a, str>>);

impl<'a> Loose<'a> {
    fn text(self) -> Option<Cow<'a, str>> {
        self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Loose<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
                Ok(Loose(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(Loose(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_string<E>(self, v: String) -> std::result::Result<Self::Value, E> {
                Ok(Loose(Some(Cow::Owned(v))))
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_none<E>(self) -> std::result::Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Loose(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Loose(None))
            }
        }
        d.deserialize_any(Visit)
    }
}

impl<'a> Incoming<'a> {
    /// Parses `body` as [`Envelope::from_slice`] does.
    pub(crate) fn from_slice(body: &'a [u8]) -> Result<Self> {
        object(body)?;
        let env: Incoming<'a> = serde_json::from_slice(body).map_err(|e| malformed(body, e))?;
        check(&env.message_id, &env.message)?;
        Ok(env)
    }

    /// The run and step a step message belongs to; `Ok(None)` for a message
    /// outside any run (neither header), an error naming the header when one
    /// is there but unusable (a run id that is not a UUID, a step that is not
    /// an index from 0, one header without the other): such a message must not
    /// run as a plain one.
    pub(crate) fn run_step(&self) -> std::result::Result<Option<(Uuid, usize)>, String> {
        let h = &self.headers;
        if !h.has_run_id && h.step.is_none() {
            return Ok(None);
        }
        let Some(run) = h.run_id.as_deref() else {
            return Err(if h.has_run_id {
                format!("header {HEADER_RUN_ID} is not a string (a run id, a UUID)")
            } else {
                format!("header {HEADER_STEP} without {HEADER_RUN_ID}")
            });
        };
        let run_id = Uuid::parse_str(run)
            .map_err(|_| format!("header {HEADER_RUN_ID} '{run}' is not a run id (a UUID)"))?;
        let step = match &h.step {
            None => return Err(format!("header {HEADER_RUN_ID} without {HEADER_STEP}")),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    format!("header {HEADER_STEP} {v} is not a step index (an integer from 0)")
                })?,
        };
        Ok(Some((run_id, step)))
    }

    /// The run id header, if any (and a string): a signal names its run by it
    /// or by its correlation id.
    pub(crate) fn run_id_header(&self) -> Option<&str> {
        self.headers.run_id.as_deref()
    }

    /// The run definition header, if any.
    pub(crate) fn definition(&self) -> Option<&str> {
        self.headers.definition.as_deref()
    }

    /// For a compensation message: the name of the step it undoes.
    pub(crate) fn compensates(&self) -> Option<&str> {
        self.headers.compensates.as_deref()
    }

    /// For a compensation message: the event type of the step it undoes.
    pub(crate) fn compensates_event(&self) -> Option<&str> {
        self.headers.compensates_event.as_deref()
    }
}

/// A JSON string, borrowed from the input when it has no escapes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match Loose::deserialize(d)? {
            Loose(Some(text)) => Ok(Text(text)),
            Loose(None) => Err(serde::de::Error::custom("expected a string")),
        }
    }
}

#[cfg(test)]
mod tests;
