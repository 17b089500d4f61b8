//! Author API: the step context a consumer receives: which run and step it
//! works on, the run variables (read and write), `publish` and `respond` (to a
//! request). Logging is `tracing`'s macros: the engine runs each consumer in a
//! `step` span, so a line carries the run and the step on the console and is
//! copied into the run's stored step log (see `telemetry`). It publishes through the small [`EventPublisher`] trait, which
//! the engine's publisher implements, so the author API does not depend on the
//! engine. Uses the ground layer, the model's variables and events.

use std::sync::{Arc, Mutex};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use uuid::Uuid;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::event::{Event, EventInfo};
use crate::model::Variables;
use crate::wire::lineage::{Parent, Request};

/// Where a step context's extra events go (the engine's `Publisher`).
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes `payload` as the event `info`, correlated with `parent`;
    /// an event nobody subscribes to is not an error.
    async fn publish_value(
        &self,
        info: &'static EventInfo,
        payload: Value,
        parent: &Parent,
    ) -> Result<()>;

    /// Publishes `payload` as the event `info`, a signal to run `run`; one
    /// no service takes is an error.
    async fn signal_value(
        &self,
        info: &'static EventInfo,
        payload: Value,
        run: Uuid,
    ) -> Result<()> {
        let _ = (info, payload, run);
        Err(Error::InvalidState(
            "this publisher cannot send signals".into(),
        ))
    }

    /// Sends `payload` as the event `info` to `request`'s response address,
    /// with its request id; a response that reaches nobody is an error.
    async fn respond_value(
        &self,
        info: &'static EventInfo,
        payload: Value,
        parent: &Parent,
        request: &Request,
    ) -> Result<()> {
        let _ = (info, payload, parent, request);
        Err(Error::InvalidState(
            "this publisher cannot send responses".into(),
        ))
    }
}

/// What a consumer knows about the step it handles. Cheap to clone.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let ctx = isoqube::StepContext::detached("build");
/// ctx.set("artifact", "app-1.0.tar.gz").unwrap();
/// assert_eq!(ctx.var::<String>("artifact").unwrap(), "app-1.0.tar.gz");
/// assert!(ctx.var::<String>("missing").is_err());
/// tracing::info!("building");
/// # });
/// ```
#[derive(Clone)]
pub struct StepContext {
    inner: Arc<Inner>,
}

struct Inner {
    run_id: Option<Uuid>,
    step: Option<usize>,
    step_count: Option<usize>,
    attempt: u32,
    redelivery_count: u32,
    endpoint: String,
    instance: String,
    variables: Variables,
    patch: Mutex<Variables>,
    parent: Parent,
    publisher: Option<Arc<dyn EventPublisher>>,
    cancel: Option<tokio::sync::watch::Receiver<bool>>,
    request: Option<Request>,
    compensates: Option<String>,
    compensates_event: Option<String>,
}

/// Facts for building a context (used by the runtime).
pub(crate) struct ContextParts {
    pub run_id: Option<Uuid>,
    pub step: Option<usize>,
    pub step_count: Option<usize>,
    pub attempt: u32,
    pub redelivery_count: u32,
    pub endpoint: String,
    pub instance: String,
    pub variables: Variables,
    pub parent: Parent,
    pub publisher: Option<Arc<dyn EventPublisher>>,
    /// Turns true when the run is cancelled while the step runs.
    pub cancel: Option<tokio::sync::watch::Receiver<bool>>,
    pub request: Option<Request>,
    /// For a compensation: the name of the step it undoes.
    pub compensates: Option<String>,
    /// For a compensation: the event type of the step it undoes.
    pub compensates_event: Option<String>,
}

impl StepContext {
    pub(crate) fn new(parts: ContextParts) -> Self {
        StepContext {
            inner: Arc::new(Inner {
                run_id: parts.run_id,
                step: parts.step,
                step_count: parts.step_count,
                attempt: parts.attempt,
                redelivery_count: parts.redelivery_count,
                endpoint: parts.endpoint,
                instance: parts.instance,
                variables: parts.variables,
                patch: Mutex::new(Variables::new()),
                parent: parts.parent,
                publisher: parts.publisher,
                cancel: parts.cancel,
                request: parts.request,
                compensates: parts.compensates,
                compensates_event: parts.compensates_event,
            }),
        }
    }

    /// A context outside any run or transport, for unit-testing consumers.
    pub fn detached(endpoint: &str) -> Self {
        Self::detached_with(endpoint, Variables::new())
    }

    /// A detached context with the given run variables.
    pub fn detached_with(endpoint: &str, variables: Variables) -> Self {
        Self::new(ContextParts {
            run_id: None,
            step: None,
            step_count: None,
            attempt: 1,
            redelivery_count: 0,
            endpoint: endpoint.to_string(),
            instance: "detached".to_string(),
            variables,
            parent: Parent::default(),
            publisher: None,
            cancel: None,
            request: None,
            compensates: None,
            compensates_event: None,
        })
    }

    /// The run this message belongs to (`None` for an event outside any run).
    pub fn run_id(&self) -> Option<Uuid> {
        self.inner.run_id
    }

    /// Resolves when the run is cancelled while this step runs (never, outside
    /// a run): a long consumer awaits it beside its work and stops early. The
    /// runtime waits for the consumer's return for the service's cancel grace
    /// ([`crate::ServiceBuilder::cancel_grace`]), then drops it; either way the
    /// step is recorded cancelled.
    ///
    /// ```
    /// # async fn build(ctx: isoqube::StepContext) -> anyhow::Result<()> {
    /// tokio::select! {
    ///     _ = ctx.cancelled() => tracing::info!("cancelled: stopping the build"),
    ///     _ = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn cancelled(&self) {
        match &self.inner.cancel {
            Some(rx) => {
                let mut rx = rx.clone();
                // An error means the step ended: nothing will cancel it now.
                if rx.wait_for(|c| *c).await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending().await,
        }
    }

    /// Whether the run was cancelled while this step runs (see [`Self::cancelled`]).
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.as_ref().is_some_and(|rx| *rx.borrow())
    }

    /// For a compensation (a step's undo, published when its run failed
    /// after the step): the event type of the step it undoes, comparable with
    /// an event's `NAME` (`Some(LinuxBuild::NAME)`); `None` for a forward step.
    /// One compensation event can undo several steps (e.g. every build's
    /// artifacts); this tells them apart, and the variables are the run's as
    /// they were when that step succeeded. [`Self::compensating_for`] is the
    /// typed check; [`Self::compensating_step`] tells apart two steps of one
    /// event type by their definition names.
    pub fn compensating(&self) -> Option<&str> {
        // A message from a publisher before the event header names only the
        // step, whose name is its event unless the definition named it.
        self.inner
            .compensates_event
            .as_deref()
            .or(self.inner.compensates.as_deref())
    }

    /// Whether this is the undo of a step of event type `E`.
    ///
    /// ```
    /// # use isoqube::{event, StepContext};
    /// #[event]
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct LinuxBuild {}
    ///
    /// let ctx = StepContext::detached("remove-artifacts");
    /// assert!(!ctx.compensating_for::<LinuxBuild>()); // a forward step
    /// ```
    pub fn compensating_for<E: crate::Event>(&self) -> bool {
        self.compensating() == Some(E::NAME)
    }

    /// For a compensation: the name of the step it undoes (its definition
    /// name, else its event type). `None` for a forward step.
    pub fn compensating_step(&self) -> Option<&str> {
        self.inner.compensates.as_deref()
    }

    /// The step index within the run, from 0.
    pub fn step(&self) -> Option<usize> {
        self.inner.step
    }

    /// How many steps the run has.
    pub fn step_count(&self) -> Option<usize> {
        self.inner.step_count
    }

    /// Which invocation this is for this step and endpoint, from 1 (retries and
    /// redeliveries count).
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// The message's `MT-Redelivery-Count`: how many times it was redelivered
    /// by a MassTransit redelivery (delayed retry) or requeued from
    /// `<q>_error`; 0 when never. Retries within one delivery count in
    /// [`StepContext::attempt`], not here.
    pub fn redelivery_count(&self) -> u32 {
        self.inner.redelivery_count
    }

    /// The endpoint (queue) handling the message.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// The service instance handling the message (`name@host:pid:tag`).
    pub fn service_instance(&self) -> &str {
        &self.inner.instance
    }

    /// The id of the message being handled.
    pub fn message_id(&self) -> Option<&str> {
        self.inner.parent.message_id.as_deref()
    }

    fn lock_patch(&self) -> std::sync::MutexGuard<'_, Variables> {
        self.inner.patch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A run variable, decoded as `T`; an error names the variable when it is
    /// missing or of another type.
    pub fn var<T: DeserializeOwned>(&self, name: &str) -> Result<T> {
        let value = self
            .lock_patch()
            .get(name)
            .cloned()
            .or_else(|| self.inner.variables.get(name).cloned())
            .ok_or_else(|| Error::InvalidState(format!("run variable '{name}' is missing")))?;
        serde_json::from_value(value).map_err(|e| {
            Error::InvalidState(format!("run variable '{name}' has the wrong type: {e}"))
        })
    }

    /// A run variable, or `None` when missing or of another type.
    pub fn var_opt<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        self.var(name).ok()
    }

    /// All run variables, with what this step set so far.
    pub fn vars(&self) -> Variables {
        let mut all = self.inner.variables.clone();
        all.extend(self.lock_patch().clone());
        all
    }

    /// Sets a run variable; later steps see it once this step succeeds.
    pub fn set(&self, name: &str, value: impl Serialize) -> Result<()> {
        let value = serde_json::to_value(value).map_err(|e| {
            Error::InvalidState(format!("run variable '{name}' does not serialise: {e}"))
        })?;
        self.lock_patch().insert(name.to_string(), value);
        Ok(())
    }

    /// The variables set by this attempt.
    pub(crate) fn take_patch(&self) -> Variables {
        std::mem::take(&mut *self.lock_patch())
    }

    /// Signals run `run` with `event`: it completes the run's step that waits
    /// for that event (or is kept for it, if the step is not due yet). Taken
    /// by any service's signal endpoint; an error when none takes it (no
    /// stored definition waits for the event).
    pub async fn signal<E: Event>(&self, run: Uuid, event: &E) -> Result<()> {
        let publisher = self
            .inner
            .publisher
            .as_ref()
            .ok_or_else(|| Error::InvalidState("a detached context cannot signal".into()))?;
        let info = E::info();
        let payload = serde_json::to_value(event).map_err(|e| {
            Error::Malformed(format!("event {} does not serialise: {e}", info.name))
        })?;
        publisher.signal_value(info, payload, run).await
    }

    /// Publishes an extra event, correlated with this message (it does not
    /// advance the run).
    pub async fn publish<E: Event>(&self, event: &E) -> Result<()> {
        let publisher = self
            .inner
            .publisher
            .as_ref()
            .ok_or_else(|| Error::InvalidState("a detached context cannot publish".into()))?;
        let info = E::info();
        let payload = serde_json::to_value(event).map_err(|e| {
            Error::Malformed(format!("event {} does not serialise: {e}", info.name))
        })?;
        publisher
            .publish_value(info, payload, &self.inner.parent)
            .await
    }
}

impl StepContext {
    /// The request the message makes (a MassTransit request client's
    /// `requestId` + `responseAddress`), if it is one.
    pub fn request(&self) -> Option<&Request> {
        self.inner.request.as_ref()
    }

    /// Responds to the request the message makes: `event` goes to its
    /// `responseAddress` with its `requestId`, as a MassTransit consumer's
    /// `RespondAsync` sends it. An error when the message is no request.
    pub async fn respond<E: Event>(&self, event: &E) -> Result<()> {
        let request = self.inner.request.as_ref().ok_or_else(|| {
            Error::InvalidState(
                "the message is not a request (it has no requestId and responseAddress)".into(),
            )
        })?;
        let publisher = self
            .inner
            .publisher
            .as_ref()
            .ok_or_else(|| Error::InvalidState("a detached context cannot respond".into()))?;
        let info = E::info();
        let payload = serde_json::to_value(event).map_err(|e| {
            Error::Malformed(format!("event {} does not serialise: {e}", info.name))
        })?;
        publisher
            .respond_value(info, payload, &self.inner.parent, request)
            .await
    }
}

/// A JSON value as it appears in a variables map (for examples and tests).
pub fn vars_from(value: Value) -> Variables {
    match value {
        Value::Object(map) => map,
        _ => Variables::new(),
    }
}
