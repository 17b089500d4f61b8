//! # Isoqube
//!
//! An event-driven saga / choreography runtime. Annotate structs as events and
//! async functions as consumers; start a [`Service`]; the runtime declares the
//! topology, consumes, and publishes each run's next event when a consumer
//! finishes.
//!
//! ```no_run
//! use isoqube::{consumer, event, StepContext};
//! use serde::{Deserialize, Serialize};
//!
//! /// Build the code on Linux.
//! #[event(description = "build on linux")]
//! #[derive(Serialize, Deserialize)]
//! struct LinuxBuild { commit: String }
//!
//! isoqube::service!("builder"); // this module's consumers belong to "builder"
//!
//! #[consumer(retry = exponential(attempts = 3, first = "100ms", max = "2s"))]
//! async fn build(ev: LinuxBuild, ctx: StepContext) -> anyhow::Result<()> {
//!     tracing::info!("building {}", ev.commit);
//!     ctx.set("artifact", format!("app-{}.tar.gz", ev.commit))?;
//!     Ok(())
//! }
//!
//! # async fn main_() -> isoqube::Result<()> {
//! isoqube::telemetry::init();
//! isoqube::Service::builder("builder").start().await?.run_until_signal().await
//! # }
//! ```
//!
//! Module map: [`model`] (records and transitions), [`store`] (where they live),
//! [`transport`] (how messages move), [`envelope`] (the wire format),
//! [`mod@service`] (hosting consumers), [`control`] (operator actions), [`health`]
//! (health checks and Prometheus metrics over HTTP).

#![warn(missing_docs)]

pub mod config;
pub mod consumer;
pub mod context;
pub mod engine;
pub mod error;
pub mod event;
pub mod fault;
#[cfg(feature = "http")]
pub mod health;
pub mod host;
pub mod model;
pub mod redact;
pub mod registry;
pub mod retry;
pub mod store;
/// Test support (brokers, a faulty store): off by default, so it is not compiled
/// into a service's binary; a test enables it with
/// `isoqube = { version = "...", features = ["test-util"] }` in `[dev-dependencies]`.
#[cfg(feature = "test-util")]
pub mod testing;
pub mod transport;
pub mod wire;

pub use engine::{control, publish, service, telemetry, waits};
pub use wire::envelope;

/// Runs that start by themselves: the schedule data (the model's) and the
/// scheduler loop (the engine's), under the one path they always had.
pub mod schedule {
    pub use crate::engine::scheduler::*;
    pub use crate::model::schedule::*;
}

// The root holds what a service author and an operator program use; the rest
// lives in the named modules (records in `model`, wire types in `envelope` and
// `fault`, seams' helpers in `transport` and `store`).
pub use config::Config;
pub use context::StepContext;
pub use control::{Control, Rerun, Resume, StartRun};
pub use error::{Error, Result};
pub use event::Event;
/// The attribute, tested here because the proc-macro crate cannot link the
/// runtime its expansion calls into:
///
/// ```
/// /// Code was pushed.
/// #[isoqube::event(exchange = "default-source-ingestion")]
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct DefaultSourceIngestion {
///     repository: String,
/// }
///
/// use isoqube::Event;
/// let info = DefaultSourceIngestion::info();
/// assert_eq!(info.name, "DefaultSourceIngestion");
/// assert_eq!(info.description, "Code was pushed.");
/// assert_eq!(info.exchange_name(), "default-source-ingestion");
/// ```
pub use isoqube_macros::event;

/// The attribute, tested here because the proc-macro crate cannot link the
/// runtime its expansion calls into:
///
/// ```
/// use isoqube::{consumer, event, StepContext};
///
/// #[event]
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct LinuxBuild {
///     commit: String,
/// }
///
/// #[consumer(service = "linux-pool", retry = interval(attempts = 3, every = "500ms"))]
/// async fn linux_build(ev: LinuxBuild, ctx: StepContext) -> anyhow::Result<()> {
///     ctx.set("built", &ev.commit)?;
///     Ok(())
/// }
///
/// let registry = isoqube::Registry::linked()?;
/// let ep = registry.consumers().find(|c| c.endpoint_name() == "linux-build");
/// assert_eq!(ep.map(|c| (c.service, c.event_info().name)), Some(("linux-pool", LinuxBuild::NAME)));
/// # Ok::<(), isoqube::Error>(())
/// ```
pub use isoqube_macros::consumer;
/// The macro, tested here because the proc-macro crate cannot link the
/// runtime its expansion calls into:
///
/// ```
/// use isoqube::{consumer, event, StepContext};
///
/// #[event]
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Build {}
///
/// mod linux {
///     isoqube::service!("linux-pool");
///
///     #[isoqube::consumer]
///     async fn linux_build(_ev: super::Build) -> anyhow::Result<()> { Ok(()) }
///
///     mod arm { // inherits linux-pool
///         #[isoqube::consumer]
///         async fn arm_build(_ev: crate::Build) -> anyhow::Result<()> { Ok(()) }
///     }
/// }
///
/// #[consumer(service = "mac-pool")] // an explicit name wins
/// async fn mac_build(_ev: Build, _ctx: StepContext) -> anyhow::Result<()> { Ok(()) }
///
/// # fn main() -> isoqube::Result<()> {
/// let registry = isoqube::Registry::linked()?;
/// let service = |ep: &str| registry.consumers().find(|c| c.endpoint_name() == ep).map(|c| c.service);
/// assert_eq!(service("linux-build"), Some("linux-pool"));
/// assert_eq!(service("arm-build"), Some("linux-pool"));
/// assert_eq!(service("mac-build"), Some("mac-pool"));
/// # Ok(())
/// # }
/// ```
pub use isoqube_macros::service;
pub use model::{Definition, Run, RunFilter, RunStatus, StepDef, StepStatus, Variables};
pub use publish::Publisher;
pub use registry::Registry;
pub use retry::RetryPolicy;
pub use service::{Service, ServiceBuilder};
#[cfg(feature = "mongo")]
pub use store::MongoStore;
pub use store::RunStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
#[cfg(feature = "amqp")]
pub use transport::AmqpTransport;
pub use transport::{InProcessTransport, Transport};

/// What the macros expand to. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::consumer::{invoke, ConsumerRegistration, HandlerFuture, ServiceDeclaration};
    pub use crate::event::{EventInfo, EventRegistration};
    pub use crate::registry::default_concurrency;
    pub use crate::retry::syntax::at_compile_time as retry;
    pub use inventory;
    pub use serde_json::Value;

    /// Compile-time check that a consumer's argument is an event.
    pub const fn assert_event<E: crate::Event>() {}

    /// The URNs of `#[event(accepts = ...)]`, checked when the event's static
    /// is built (at compile time): each must be a `urn:message:` URN.
    pub const fn accepted_urns(urns: &'static [&'static str]) -> &'static [&'static str] {
        let prefix = crate::wire::urn::URN_PREFIX.as_bytes();
        let mut i = 0;
        while i < urns.len() {
            let urn = urns[i].as_bytes();
            let mut ok = urn.len() > prefix.len();
            let mut j = 0;
            while ok && j < prefix.len() {
                ok = urn[j].eq_ignore_ascii_case(&prefix[j]);
                j += 1;
            }
            if !ok {
                panic!("#[event(accepts = ...)]: each entry must be a MassTransit message type URN, `urn:message:Namespace:Type`");
            }
            i += 1;
        }
        urns
    }
}

/// The README's code compiles (checked as a doctest).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
