//! The registry of events and consumers linked into this binary.
//!
//! Registration uses `inventory` rather than `linkme`: it works on every target
//! the standard library does (linkme needs per-platform linker sections) and it
//! takes structs with function pointers, which is all the macros submit. Both
//! share one pitfall: a library crate nothing references can be dropped by the
//! linker with its registrations; service binaries call a function of every
//! consumer crate (see the sample's `link()`), and their tests check every
//! expected endpoint is present.
//!
//! A consumer without `service = "..."` gets its service here, from the
//! `service!` declarations: the nearest one up its module path, else the crate
//! name the macro recorded. The registry hands out resolved registrations, so
//! the rest of the runtime reads `ConsumerRegistration::service` as final.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};

use crate::consumer::{ConsumerRegistration, ServiceDeclaration, DEFAULT_CONCURRENCY};
use crate::error::{Error, Result};
use crate::event::{EventInfo, EventRegistration};
use crate::model::TopicRecord;
use crate::transport::Topology;

/// Which consumers a service hosts.
///
/// ```
/// let only_linux = isoqube::registry::Selection::Services(vec!["linux-pool".into()]);
/// # let _ = only_linux;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Selection {
    /// Every registered consumer.
    #[default]
    All,
    /// Consumers whose service (named by `#[consumer(service = ...)]` or
    /// declared for their module by `service!`) is one of these.
    Services(Vec<String>),
    /// Consumers whose endpoint is one of these.
    Endpoints(Vec<String>),
}

/// Every event and consumer registered at link time, checked for clashes.
#[derive(Debug, Clone)]
pub struct Registry {
    events: BTreeMap<String, &'static EventInfo>,
    consumers: BTreeMap<String, &'static ConsumerRegistration>,
}

impl Registry {
    /// The registry of this binary: everything `#[event]`, `#[consumer]` and
    /// `service!` submitted.
    ///
    /// ```
    /// let registry = isoqube::Registry::linked().unwrap();
    /// assert!(registry.event("NoSuchEvent").is_none());
    /// ```
    pub fn linked() -> Result<Self> {
        let events = inventory::iter::<EventRegistration>
            .into_iter()
            .map(|r| r.info);
        let consumers = inventory::iter::<ConsumerRegistration>.into_iter();
        Self::from_parts(events, consumers)
    }

    /// A registry from explicit events and consumers, with the service
    /// declarations linked into this binary; see [`Registry::from_parts_with`].
    pub fn from_parts(
        events: impl IntoIterator<Item = &'static EventInfo>,
        consumers: impl IntoIterator<Item = &'static ConsumerRegistration>,
    ) -> Result<Self> {
        Self::from_parts_with(events, consumers, inventory::iter::<ServiceDeclaration>)
    }

    /// A registry from explicit parts, refusing two events or two endpoints with
    /// the same name, or one module declaring two services (naming both
    /// definitions). Consumers that name no service get theirs from `services`.
    pub fn from_parts_with(
        events: impl IntoIterator<Item = &'static EventInfo>,
        consumers: impl IntoIterator<Item = &'static ConsumerRegistration>,
        services: impl IntoIterator<Item = &'static ServiceDeclaration>,
    ) -> Result<Self> {
        let mut by_name: BTreeMap<String, &'static EventInfo> = BTreeMap::new();
        for e in events {
            check_name("event", e.name, e.location)?;
            if let Some(prev) = by_name.insert(e.name.to_string(), e) {
                if !std::ptr::eq(prev, e) {
                    return Err(Error::Registry(format!(
                        "two events are named '{}': {}::{} ({}) and {}::{} ({}); give one a different name with #[event(name = \"...\")]",
                        e.name, prev.module_path, prev.name, prev.location, e.module_path, e.name, e.location
                    )));
                }
            }
        }
        let mut exchanges: BTreeMap<String, &'static EventInfo> = BTreeMap::new();
        for e in by_name.values() {
            if let Some(prev) = exchanges.insert(e.exchange_name(), e) {
                return Err(Error::Registry(format!(
                    "events '{}' ({}) and '{}' ({}) use the same exchange '{}'",
                    prev.name,
                    prev.location,
                    e.name,
                    e.location,
                    e.exchange_name()
                )));
            }
        }
        let declared = declarations(services)?;
        let mut by_endpoint: BTreeMap<String, &'static ConsumerRegistration> = BTreeMap::new();
        for c in consumers {
            let c = resolve_service(c, &declared);
            let endpoint = c.endpoint_name();
            check_name("endpoint", &endpoint, c.location)?;
            if c.concurrency == 0 {
                return Err(Error::Registry(format!(
                    "consumer {}::{} ({}) has concurrency 0; it would never run",
                    c.module_path, c.name, c.location
                )));
            }
            let info = c.event_info();
            by_name.entry(info.name.to_string()).or_insert(info);
            if let Some(prev) = by_endpoint.insert(endpoint.clone(), c) {
                return Err(Error::Registry(format!(
                    "two consumers use endpoint '{endpoint}': {}::{} ({}) and {}::{} ({}); set #[consumer(endpoint = \"...\")] on one",
                    prev.module_path, prev.name, prev.location, c.module_path, c.name, c.location
                )));
            }
        }
        Ok(Registry {
            events: by_name,
            consumers: by_endpoint,
        })
    }

    /// An event by name.
    pub fn event(&self, name: &str) -> Option<&'static EventInfo> {
        self.events.get(name).copied()
    }

    /// All events, by name.
    pub fn events(&self) -> impl Iterator<Item = &'static EventInfo> + '_ {
        self.events.values().copied()
    }

    /// All event names.
    pub fn event_names(&self) -> BTreeSet<String> {
        self.events.keys().cloned().collect()
    }

    /// All consumers, by endpoint.
    pub fn consumers(&self) -> impl Iterator<Item = &'static ConsumerRegistration> + '_ {
        self.consumers.values().copied()
    }

    /// The consumers a selection picks; an unknown service or endpoint name is an error.
    pub fn select(&self, selection: &Selection) -> Result<Vec<&'static ConsumerRegistration>> {
        match selection {
            Selection::All => Ok(self.consumers().collect()),
            Selection::Services(names) => {
                let known: BTreeSet<&str> = self.consumers().map(|c| c.service).collect();
                for n in names {
                    if !known.contains(n.as_str()) {
                        return Err(Error::Registry(format!(
                            "no consumer belongs to service '{n}' (known: {})",
                            known.into_iter().collect::<Vec<_>>().join(", ")
                        )));
                    }
                }
                Ok(self
                    .consumers()
                    .filter(|c| names.iter().any(|n| n == c.service))
                    .collect())
            }
            Selection::Endpoints(names) => names
                .iter()
                .map(|n| {
                    self.consumers
                        .get(n)
                        .copied()
                        .ok_or_else(|| Error::Registry(format!("no consumer has endpoint '{n}'")))
                })
                .collect(),
        }
    }

    /// The topic records of all events, with the endpoints among `hosted` that consume each.
    pub fn topic_records(&self, hosted: &[&'static ConsumerRegistration]) -> Vec<TopicRecord> {
        let now = chrono::Utc::now();
        self.events()
            .map(|e| TopicRecord {
                name: e.name.to_string(),
                description: e.description.to_string(),
                exchange: e.exchange_name(),
                message_type: e.message_type(),
                schema: e.fields.iter().map(|f| f.to_string()).collect(),
                consumers: hosted
                    .iter()
                    .filter(|c| c.event_info().name == e.name)
                    .map(|c| c.endpoint_name())
                    .collect(),
                updated_at: now,
            })
            .collect()
    }

    /// What a service hosting `consumers` declares: every linked event's
    /// exchange and each consumer's endpoint (see [`Topology::for_names`]).
    pub fn topology(&self, consumers: &[&'static ConsumerRegistration]) -> Topology {
        // A type an event accepts arrives on that type's own exchange (a
        // MassTransit publisher of `Other.Ns:T` publishes to `Other.Ns:T`).
        let endpoints = consumers.iter().flat_map(|c| {
            let info = c.event_info();
            let extra = info
                .accepts
                .iter()
                .filter_map(|u| crate::wire::urn::MessageUrn::parse(u))
                .map(|u| u.exchange());
            std::iter::once(info.exchange_name())
                .chain(extra)
                .map(|ex| (c.endpoint_name(), ex))
                .collect::<Vec<_>>()
        });
        Topology::for_names(self.events().map(|e| e.exchange_name()), endpoints)
    }
}

/// The service each module declares; one module declaring two is refused.
fn declarations(
    services: impl IntoIterator<Item = &'static ServiceDeclaration>,
) -> Result<BTreeMap<&'static str, &'static ServiceDeclaration>> {
    let mut by_module: BTreeMap<&'static str, &'static ServiceDeclaration> = BTreeMap::new();
    for d in services {
        check_name("service", d.name, d.location)?;
        if let Some(prev) = by_module.insert(d.module, d) {
            // The same name twice (say, from a macro) says nothing new.
            if prev.name != d.name {
                return Err(Error::Registry(format!(
                    "module {} declares two services: '{}' ({}) and '{}' ({}); keep one isoqube::service! per module",
                    d.module, prev.name, prev.location, d.name, d.location
                )));
            }
        }
    }
    Ok(by_module)
}

/// `c` with the service it belongs to: its own `service =`, else the
/// declaration of its module or the nearest module above it (walking up on
/// `::` boundaries, so `a::b` never covers `a::bc`), else the macro's fallback.
fn resolve_service(
    c: &'static ConsumerRegistration,
    declared: &BTreeMap<&'static str, &'static ServiceDeclaration>,
) -> &'static ConsumerRegistration {
    if !c.inherits_service {
        return c;
    }
    let mut module = c.module_path;
    loop {
        if let Some(d) = declared.get(module) {
            return with_service(c, d.name);
        }
        match module.rfind("::") {
            Some(i) => module = &module[..i],
            None => return c,
        }
    }
}

/// A copy of `c` in `service`. The runtime keeps consumers as `&'static` (the
/// endpoint tasks hold them), so the copy is leaked, once per registration and
/// name for the whole process however often a registry is built.
fn with_service(
    c: &'static ConsumerRegistration,
    service: &'static str,
) -> &'static ConsumerRegistration {
    type Key = (usize, &'static str);
    static RESOLVED: Mutex<BTreeMap<Key, &'static ConsumerRegistration>> =
        Mutex::new(BTreeMap::new());
    if c.service == service {
        return c;
    }
    let key = (c as *const ConsumerRegistration as usize, service);
    // The map is only ever inserted into whole, so a poisoned lock still holds
    // a consistent map.
    let mut resolved = RESOLVED.lock().unwrap_or_else(PoisonError::into_inner);
    resolved
        .entry(key)
        .or_insert_with(|| Box::leak(Box::new(ConsumerRegistration { service, ..*c })))
}

fn check_name(what: &str, name: &str, location: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(Error::Registry(format!(
            "{what} name '{name}' ({location}) must be 1-200 characters of letters, digits, '-', '_', '.', ':'"
        )))
    }
}

/// The default concurrency, re-exported for the macros.
pub const fn default_concurrency() -> u16 {
    DEFAULT_CONCURRENCY
}
