//! Consumers: plain async functions adapted into handlers the runtime can call.
//!
//! `#[consumer]` submits a [`ConsumerRegistration`] whose handler calls
//! [`invoke`]; all the adapting (payload decoding, error capture) happens here,
//! where it is tested without macro expansion. `service!` submits a
//! [`ServiceDeclaration`] that the registry applies to the module's consumers.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use crate::context::StepContext;
use crate::event::{Event, EventInfo};
use crate::retry::RetryPolicy;

/// Default number of messages one endpoint handles at once.
pub const DEFAULT_CONCURRENCY: u16 = 16;

/// Why a consumer invocation failed.
///
/// ```
/// let e = isoqube::HandlerError::new("MyError", "disk full", true);
/// assert_eq!(e.to_string(), "MyError: disk full");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    /// The error's type name (becomes `MT-Fault-ExceptionType`).
    pub kind: String,
    /// The error and its sources, joined with `: `.
    pub message: String,
    /// False when another attempt cannot help (the payload does not decode).
    pub retryable: bool,
}

impl HandlerError {
    /// Builds an error.
    pub fn new(kind: impl Into<String>, message: impl Into<String>, retryable: bool) -> Self {
        HandlerError {
            kind: kind.into(),
            message: message.into(),
            retryable,
        }
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// The future a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>>;

/// A type-erased consumer: payload and context in, outcome out.
pub type HandlerFn = fn(&Value, StepContext) -> HandlerFuture;

/// Link-time registration of a consumer (submitted by `#[consumer]`).
#[derive(Debug)]
pub struct ConsumerRegistration {
    /// The function name.
    pub name: &'static str,
    /// Endpoint (queue) name override.
    pub endpoint: Option<&'static str>,
    /// The service (group) it belongs to, for hosting a subset. Consumers from
    /// a [`crate::registry::Registry`] carry the resolved name; as submitted by a
    /// `#[consumer]` without `service =` it is the crate name, the fallback.
    pub service: &'static str,
    /// True when `#[consumer]` named no service: the registry gives it the
    /// nearest [`ServiceDeclaration`] of its module path, else keeps `service`.
    pub inherits_service: bool,
    /// The event it consumes.
    pub event: fn() -> &'static EventInfo,
    /// How many messages it handles at once (also the prefetch).
    pub concurrency: u16,
    /// Its retry policy; `None` takes the service's default
    /// (`ServiceBuilder::default_retry`).
    pub retry: Option<RetryPolicy>,
    /// The adapted function.
    pub handler: HandlerFn,
    /// Rust module that defines it.
    pub module_path: &'static str,
    /// `file:line` of the definition.
    pub location: &'static str,
}

inventory::collect!(ConsumerRegistration);

/// Link-time declaration of the service of a module's consumers (submitted by
/// `isoqube::service!`): those in `module` and its submodules that name no
/// service of their own belong to `name`.
#[derive(Debug)]
pub struct ServiceDeclaration {
    /// The declaring module's path (`module_path!()`).
    pub module: &'static str,
    /// The service name.
    pub name: &'static str,
    /// `file:line` of the declaration.
    pub location: &'static str,
}

inventory::collect!(ServiceDeclaration);

impl ConsumerRegistration {
    /// The endpoint (queue) name: the override, or the kebab-case function name
    /// with a `Consumer` suffix dropped.
    pub fn endpoint_name(&self) -> String {
        match self.endpoint {
            Some(ep) => ep.to_string(),
            None => endpoint_name_for(self.name),
        }
    }

    /// The consumed event's facts.
    pub fn event_info(&self) -> &'static EventInfo {
        (self.event)()
    }
}

/// Kebab-case of a function or type name, with a trailing `Consumer` dropped.
///
/// ```
/// assert_eq!(isoqube::consumer::endpoint_name_for("linux_build_consumer"), "linux-build");
/// assert_eq!(isoqube::consumer::endpoint_name_for("DeployToVmConsumer"), "deploy-to-vm");
/// ```
pub fn endpoint_name_for(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for c in name.trim_start_matches("r#").chars() {
        if c == '_' || c == '-' {
            if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
            prev_lower = false;
        } else if c.is_uppercase() {
            if prev_lower && !out.ends_with('-') {
                out.push('-');
            }
            out.extend(c.to_lowercase());
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    let trimmed = out.trim_end_matches('-');
    trimmed
        .strip_suffix("-consumer")
        .unwrap_or(trimmed)
        .to_string()
}

/// Decodes the payload into `E`, calls the consumer and captures its error.
/// This is what every `#[consumer]` expands to.
///
/// ```
/// # use isoqube::{consumer::invoke, StepContext};
/// #[isoqube::event]
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Ping { n: u32 }
/// async fn on_ping(p: Ping, _ctx: StepContext) -> Result<(), std::io::Error> {
///     assert_eq!(p.n, 1);
///     Ok(())
/// }
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let out = invoke(on_ping, &serde_json::json!({"n": 1}), StepContext::detached("test")).await;
/// assert!(out.is_ok());
/// let bad = invoke(on_ping, &serde_json::json!({"n": "x"}), StepContext::detached("test")).await;
/// assert!(!bad.unwrap_err().retryable);
/// # });
/// ```
pub fn invoke<E, F, Fut, Err>(f: F, payload: &Value, ctx: StepContext) -> HandlerFuture
where
    E: Event,
    F: FnOnce(E, StepContext) -> Fut,
    Fut: Future<Output = Result<(), Err>> + Send + 'static,
    Err: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let event = match E::deserialize(payload) {
        Ok(event) => event,
        Err(e) => {
            let err = HandlerError::new(
                "isoqube::PayloadError",
                format!("payload does not decode as {}: {e}", E::info().name),
                false,
            );
            return Box::pin(std::future::ready(Err(err)));
        }
    };
    let fut = f(event, ctx);
    Box::pin(async move {
        fut.await.map_err(|e| {
            let kind = short_type_name::<Err>();
            let boxed: Box<dyn std::error::Error + Send + Sync> = e.into();
            HandlerError::new(kind, error_chain(boxed.as_ref()), true)
        })
    })
}

fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.to_string()
}

/// An error and its sources, joined with `: ` (each only once).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}
