//! Events (topics): serde payloads with a stable name, mapped to one exchange each.
//!
//! `#[event]` implements [`Event`] and registers the event at link time; this
//! module holds what the macro calls into.

use serde::{de::DeserializeOwned, Serialize};

/// Static facts about an event type, produced by `#[event]`.
///
/// ```
/// use isoqube::event::EventInfo;
/// let info = EventInfo {
///     name: "LinuxBuild",
///     description: "build on linux",
///     namespace: Some("Builds"),
///     exchange: None,
///     module_path: "my_service::events",
///     location: "src/events.rs:3",
///     fields: &["commit: String"],
///     accepts: &["urn:message:Legacy.Builds:LinuxBuild"],
/// };
/// assert_eq!(info.exchange_name(), "Builds:LinuxBuild");
/// assert_eq!(info.message_type(), "urn:message:Builds:LinuxBuild");
/// assert!(info.matches_urn("urn:message:builds:linuxbuild"));
/// assert!(info.matches_urn("urn:message:Legacy.Builds:LinuxBuild"));
/// assert!(!info.matches_urn("urn:message:Other:LinuxBuild"));
/// ```
#[derive(Debug)]
pub struct EventInfo {
    /// Stable name (default: the struct name).
    pub name: &'static str,
    /// What the event means.
    pub description: &'static str,
    /// MassTransit message namespace; default derived from the module path.
    pub namespace: Option<&'static str>,
    /// Exchange name override (the original used kebab-case names).
    pub exchange: Option<&'static str>,
    /// Rust module that defines it (for messages about clashes).
    pub module_path: &'static str,
    /// `file:line` of the definition.
    pub location: &'static str,
    /// Payload fields as `name: type`.
    pub fields: &'static [&'static str],
    /// Message type URNs accepted besides [`EventInfo::message_type`] (a .NET
    /// type of another namespace, a nested or generic name): `#[event(accepts
    /// = [...])]`.
    pub accepts: &'static [&'static str],
}

impl EventInfo {
    /// The message namespace: the override, or the module path in dotted PascalCase
    /// (`sample_build_server::events` becomes `SampleBuildServer.Events`).
    pub fn namespace(&self) -> String {
        match self.namespace {
            Some(ns) => ns.to_string(),
            None => self
                .module_path
                .split("::")
                .map(pascal_case)
                .collect::<Vec<_>>()
                .join("."),
        }
    }

    /// The exchange this event is published to.
    pub fn exchange_name(&self) -> String {
        match self.exchange {
            Some(ex) => ex.to_string(),
            None => format!("{}:{}", self.namespace(), self.name),
        }
    }

    /// The MassTransit message type URN.
    pub fn message_type(&self) -> String {
        format!("urn:message:{}:{}", self.namespace(), self.name)
    }

    /// The URNs a message may carry to be consumed as this event: its own
    /// first, then the ones it accepts.
    pub fn accepted_types(&self) -> Vec<String> {
        let mut out = vec![self.message_type()];
        out.extend(self.accepts.iter().map(|u| u.to_string()));
        out
    }

    /// Whether a `messageType` entry names this event, as MassTransit decides
    /// it: the whole URN, ignoring ASCII case, against its own type and the
    /// ones it accepts. A type of the same name in another namespace is
    /// another type (an event declares it with `accepts` to take it).
    pub fn matches_urn(&self, urn: &str) -> bool {
        self.accepted_types()
            .iter()
            .any(|t| crate::wire::urn::same_type(t, urn))
    }
}

fn pascal_case(segment: &str) -> String {
    segment
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}

/// A type that travels as an event. Implemented by `#[event]`; the serde bounds
/// are why an event without `Serialize`/`Deserialize` does not compile.
///
/// ```
/// use isoqube::Event;
/// #[isoqube::event(description = "code pushed")]
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Pushed { commit: String }
/// assert_eq!(Pushed::info().name, "Pushed");
///
/// #[isoqube::event(name = "Released")]
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Release {}
/// // Definitions name steps by the type, so a rename cannot leave them behind.
/// const STEPS: [&str; 2] = [Pushed::NAME, Release::NAME];
/// assert_eq!(STEPS, ["Pushed", "Released"]);
/// fn name_of<E: Event>() -> &'static str { E::NAME }
/// assert_eq!(name_of::<Release>(), Release::info().name);
/// ```
pub trait Event: Payload + Send + Sync + 'static {
    /// The event's stable name, as in [`EventInfo::name`]. `#[event]` also
    /// gives the struct an inherent `NAME`, so `MyEvent::NAME` needs no import.
    const NAME: &'static str;

    /// The event's static facts.
    fn info() -> &'static EventInfo;
}

/// What an event's payload must be: JSON both ways (serde). Its own trait so a
/// struct marked `#[event]` without the serde derives gets an error that says so.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an event: its payload must derive serde's Serialize and Deserialize",
    label = "add #[derive(serde::Serialize, serde::Deserialize)] to this struct",
    note = "event payloads travel as JSON in the message envelope"
)]
pub trait Payload: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> Payload for T {}

/// Link-time registration of an event (submitted by `#[event]`).
#[derive(Debug)]
pub struct EventRegistration {
    /// The event's facts.
    pub info: &'static EventInfo,
}

inventory::collect!(EventRegistration);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_from_module_path() {
        let info = EventInfo {
            name: "X",
            description: "",
            namespace: None,
            exchange: Some("default-x"),
            module_path: "sample_build_server::events",
            location: "",
            fields: &[],
            accepts: &["urn:message:Legacy:X+Nested"],
        };
        assert_eq!(info.namespace(), "SampleBuildServer.Events");
        assert_eq!(info.exchange_name(), "default-x");
        assert!(info.matches_urn("urn:message:SampleBuildServer.Events:X"));
        assert!(info.matches_urn("URN:MESSAGE:samplebuildserver.events:x"));
        assert!(info.matches_urn("urn:message:legacy:x+nested"));
        // Same type name, another namespace: another type.
        assert!(!info.matches_urn("urn:message:Other.Ns:X"));
        assert!(!info.matches_urn("urn:message:SampleBuildServer.Events:Y"));
        assert!(!info.matches_urn("X"));
    }
}
