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
/// let e = isoqube::consumer::HandlerError::new("MyError", "disk full", true);
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
                payload_error(E::info(), payload, &e),
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

/// Why `payload` does not decode as the event of `info`: serde's reason,
/// and first the fields that are `null` in the message but not `Option`s in
/// Rust (.NET sends `null` for an unset reference; serde's own error names
/// no field). A field is looked for under its Rust name and its camelCase
/// form (`#[serde(rename_all = "camelCase")]`, System.Text.Json's default).
///
/// ```
/// # use isoqube::consumer::payload_error;
/// #[isoqube::event]
/// #[derive(serde::Serialize, serde::Deserialize, Debug)]
/// #[serde(rename_all = "camelCase")]
/// struct Built { commit_id: String, note: Option<String> }
/// use isoqube::Event;
/// let payload = serde_json::json!({"commitId": null, "note": null});
/// let e = serde_json::from_value::<Built>(payload.clone()).unwrap_err();
/// let why = payload_error(Built::info(), &payload, &e);
/// assert!(why.contains("field `commit_id` (`commitId` in the message) is null"), "{why}");
/// assert!(!why.contains("`note`"));
/// ```
pub fn payload_error(info: &EventInfo, payload: &Value, e: &serde_json::Error) -> String {
    let mut nulls = Vec::new();
    for field in info.fields {
        let Some((name, ty)) = field.split_once(": ") else {
            continue;
        };
        let name = name.trim_start_matches("r#");
        let optional = ty.starts_with("Option<")
            || ty.contains("::Option<")
            || ty == "Value"
            || ty.ends_with("::Value");
        if optional {
            continue;
        }
        let camel = camel_case(name);
        for key in [name, camel.as_str()] {
            if payload.get(key).is_some_and(Value::is_null) {
                let shown = if key == name {
                    format!("field `{name}` is null")
                } else {
                    format!("field `{name}` (`{key}` in the message) is null")
                };
                nulls.push(format!(
                    "{shown} but `{ty}` is not optional (declare it `Option<{ty}>` to accept null)"
                ));
                break;
            }
        }
    }
    let mut out = format!("payload does not decode as {}: ", info.name);
    if !nulls.is_empty() {
        out.push_str(&nulls.join("; "));
        out.push_str("; ");
    }
    out.push_str(&e.to_string());
    out
}

fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_fields_are_named() {
        let info = EventInfo {
            name: "Ev",
            description: "",
            namespace: None,
            exchange: None,
            module_path: "m",
            location: "",
            fields: &[
                "repo_url: String",
                "count: u32",
                "maybe: std::option::Option<String>",
                "any: serde_json::Value",
            ],
            accepts: &[],
        };
        let payload =
            serde_json::json!({"repo_url": null, "count": null, "maybe": null, "any": null});
        let e = serde_json::from_str::<String>("null").unwrap_err();
        let why = payload_error(&info, &payload, &e);
        assert!(
            why.contains("field `repo_url` is null but `String` is not optional"),
            "{why}"
        );
        assert!(why.contains("field `count` is null"), "{why}");
        assert!(!why.contains("`maybe`") && !why.contains("`any`"), "{why}");
        assert_eq!(camel_case("repo_url_v2"), "repoUrlV2");
        let clean = payload_error(&info, &serde_json::json!({}), &e);
        assert!(!clean.contains("is null but"), "{clean}");
    }
}
