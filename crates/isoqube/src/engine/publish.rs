//! Building and sending envelopes: step messages of runs and extra events.
//!
//! Everything that goes on the wire passes through [`Publisher`], so ids,
//! correlation, conversation and headers are set in one place.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::Value;
use uuid::Uuid;

use crate::context::EventPublisher;
use crate::engine::metrics::Counter;
use crate::error::{Error, Result};
use crate::event::{Event, EventInfo};
use crate::model::NextStep;
use crate::registry::Registry;
use crate::store::RunStore;
use crate::transport::{IntoTransport, OutgoingMessage, Properties, Transport};
use crate::wire::address::Address;
use crate::wire::envelope::{
    new_message_id, Envelope, Host, HostInfo, HEADER_COMPENSATE, HEADER_COMPENSATE_EVENT,
    HEADER_DEFINITION, HEADER_RUN_ID, HEADER_STEP,
};
use crate::wire::json;
pub use crate::wire::lineage::{Parent, Request};

/// Where an event goes and how it is typed on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Exchange name.
    pub exchange: String,
    /// Message type URN.
    pub message_type: String,
}

/// Publishes envelopes over a transport.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// use isoqube::{InProcessTransport, Publisher, Registry};
/// let registry = Arc::new(Registry::linked().unwrap());
/// let publisher = Publisher::new(Arc::new(InProcessTransport::new()), registry, None, "doc");
/// assert!(publisher.route("NoSuchEvent").await.is_err());
/// # });
/// ```
#[derive(Clone)]
pub struct Publisher {
    transport: Arc<dyn Transport>,
    registry: Arc<Registry>,
    store: Option<Arc<dyn RunStore>>,
    host: Host,
    /// The routes of the registry's events, worked out once (building the
    /// names costs a few allocations, and every step message needs one).
    routes: Arc<HashMap<&'static str, Route>>,
    published: Option<Counter>,
    /// What the transport's addresses start with (`rabbitmq://host/vhost/`),
    /// for `sourceAddress` and `destinationAddress`.
    address_base: Arc<str>,
    /// The service name (for the response endpoint's name).
    service: Arc<str>,
    /// The temporary endpoint responses to [`Publisher::request`] come to,
    /// declared on first use and shared by the clones.
    responses: Arc<tokio::sync::OnceCell<super::responses::ResponseEndpoint>>,
}

impl Publisher {
    /// A publisher for `transport`; events unknown to `registry` are looked up in
    /// `store`'s topics (the control center does not link the services' events).
    /// The transport is owned or already shared.
    pub fn new(
        transport: impl IntoTransport,
        registry: Arc<Registry>,
        store: Option<Arc<dyn RunStore>>,
        service: &str,
    ) -> Self {
        let transport = transport.into_transport();
        let routes = registry
            .events()
            .map(|info| {
                let route = Route {
                    exchange: info.exchange_name(),
                    message_type: info.message_type(),
                };
                (info.name, route)
            })
            .collect();
        Publisher {
            address_base: transport.address_base().into(),
            transport,
            registry,
            store,
            host: Host::new(&HostInfo::current(service)),
            routes: Arc::new(routes),
            published: None,
            service: service.into(),
            responses: Arc::default(),
        }
    }

    /// The response endpoint, declared and read from the first request on.
    pub(crate) async fn response_endpoint(&self) -> Result<&super::responses::ResponseEndpoint> {
        self.responses
            .get_or_try_init(|| {
                super::responses::ResponseEndpoint::open(&self.transport, &self.service)
            })
            .await
    }

    /// The name of the response endpoint, once a request has declared it.
    pub fn response_endpoint_name(&self) -> Option<&str> {
        self.responses.get().map(|e| e.name())
    }

    /// An envelope of `message_type` with the lineage of `parent`.
    pub(crate) fn envelope_for(
        &self,
        message_type: String,
        message: Value,
        parent: &Parent,
    ) -> Envelope {
        self.envelope(message_type, message, parent)
    }

    /// Sends a request envelope; reaching no consumer is an error.
    pub(crate) async fn send_request(&self, exchange: &str, env: &mut Envelope) -> Result<()> {
        self.send(exchange, env, true).await
    }

    /// A copy that counts every message it gets onto the wire in `published`
    /// (the service gives each endpoint one for `isoqube_messages_published_total`).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use isoqube::{health::Counter, InProcessTransport, Publisher, Registry};
    /// let registry = Arc::new(Registry::linked().unwrap());
    /// let counter = Counter::default();
    /// let publisher = Publisher::new(Arc::new(InProcessTransport::new()), registry, None, "doc")
    ///     .counting(counter.clone());
    /// assert_eq!(counter.get(), 0);
    /// # });
    /// ```
    pub fn counting(mut self, published: Counter) -> Self {
        self.published = Some(published);
        self
    }

    /// The address of the endpoint or exchange `name` on its transport.
    fn address(&self, name: &str) -> String {
        format!("{}{name}", self.address_base)
    }

    /// The transport it publishes on.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// The route of an event by name.
    pub async fn route(&self, event: &str) -> Result<Route> {
        if let Some(route) = self.routes.get(event) {
            return Ok(route.clone());
        }
        if let Some(info) = self.registry.event(event) {
            return Ok(Route {
                exchange: info.exchange_name(),
                message_type: info.message_type(),
            });
        }
        if let Some(store) = &self.store {
            if let Some(t) = store
                .list_topics()
                .await?
                .into_iter()
                .find(|t| t.name == event)
            {
                return Ok(Route {
                    exchange: t.exchange,
                    message_type: t.message_type,
                });
            }
        }
        Err(Error::not_found("event", event))
    }

    fn envelope(&self, message_type: String, message: Value, parent: &Parent) -> Envelope {
        let mut env = Envelope::new(message_type, message);
        env.initiator_id = parent.message_id.clone();
        env.conversation_id = parent
            .conversation_id
            .clone()
            .or_else(|| Some(new_message_id().to_string()));
        env.source_address = parent.endpoint.as_ref().map(|ep| self.address(ep));
        env.host = Some(self.host.clone());
        env
    }

    /// Publishes `env`; `must_route`: a message that reaches no queue is an
    /// error (run steps) rather than dropped (events nobody subscribes to).
    async fn send(&self, exchange: &str, env: &mut Envelope, must_route: bool) -> Result<()> {
        self.send_with(exchange, env, must_route, Properties::default())
            .await
    }

    async fn send_with(
        &self,
        exchange: &str,
        env: &mut Envelope,
        must_route: bool,
        properties: Properties,
    ) -> Result<()> {
        env.destination_address = Some(self.address(exchange));
        let msg = OutgoingMessage {
            body: env.to_vec(),
            message_id: env.message_id.clone(),
            correlation_id: env.correlation_id.clone(),
            headers: BTreeMap::new(),
            properties,
        };
        if must_route {
            self.transport.publish(exchange, msg).await?;
        } else {
            self.transport.publish_event(exchange, msg).await?;
        }
        if let Some(c) = &self.published {
            c.inc();
        }
        Ok(())
    }

    /// Publishes the message of a run's step: the payload is the run variables,
    /// the correlation id the run id.
    pub async fn publish_step(
        &self,
        run_id: Uuid,
        definition: &str,
        step: &NextStep,
        parent: &Parent,
    ) -> Result<Envelope> {
        let route = self.step_route(step).await?;
        let mut env = self.step_envelope(&route, run_id, definition, step, parent);
        self.send_with(&route.exchange, &mut env, true, step_properties(parent))
            .await?;
        Ok(env)
    }

    /// [`Publisher::publish_step`] without building an [`Envelope`] (the
    /// service's path, once per step): the same JSON, written straight from
    /// the run's variables and the parent's ids (a test holds the two
    /// together).
    pub(crate) async fn send_step(
        &self,
        run_id: Uuid,
        definition: &str,
        step: &NextStep,
        parent: &Parent,
    ) -> Result<()> {
        let route = self.step_route(step).await?;
        let message_id = new_message_id().to_string();
        let run = run_id.to_string();
        let sent_time = crate::wire::time::micros(&Utc::now());
        let body = self.step_json(
            &route,
            &message_id,
            &sent_time,
            &run,
            definition,
            step,
            parent,
        );
        let msg = OutgoingMessage {
            body,
            message_id,
            correlation_id: Some(run),
            headers: BTreeMap::new(),
            properties: step_properties(parent),
        };
        self.transport.publish(&route.exchange, msg).await?;
        if let Some(c) = &self.published {
            c.inc();
        }
        Ok(())
    }

    async fn step_route<'a>(&'a self, step: &NextStep) -> Result<Cow<'a, Route>> {
        match self.routes.get(step.event.as_str()) {
            Some(route) => Ok(Cow::Borrowed(route)),
            None => Ok(Cow::Owned(self.route(&step.event).await?)),
        }
    }

    fn step_envelope(
        &self,
        route: &Route,
        run_id: Uuid,
        definition: &str,
        step: &NextStep,
        parent: &Parent,
    ) -> Envelope {
        let mut env = self.envelope(
            route.message_type.clone(),
            Value::Object(step.variables.clone()),
            parent,
        );
        env.correlation_id = Some(run_id.to_string());
        if parent.conversation_id.is_none() {
            env.conversation_id = Some(run_id.to_string());
        }
        env.headers
            .insert(HEADER_RUN_ID.into(), Value::String(run_id.to_string()));
        env.headers
            .insert(HEADER_STEP.into(), Value::from(step.index as u64));
        if let Some(undoes) = &step.compensates {
            env.headers
                .insert(HEADER_COMPENSATE.into(), Value::String(undoes.clone()));
        }
        if let Some(event) = &step.undoes_event {
            env.headers
                .insert(HEADER_COMPENSATE_EVENT.into(), Value::String(event.clone()));
        }
        env.headers.insert(
            HEADER_DEFINITION.into(),
            Value::String(definition.to_string()),
        );
        env.destination_address = Some(self.address(&route.exchange));
        env
    }

    /// The JSON of [`Publisher::step_envelope`] with the given id and time.
    #[allow(clippy::too_many_arguments)]
    fn step_json(
        &self,
        route: &Route,
        message_id: &str,
        sent_time: &str,
        run_id: &str,
        definition: &str,
        step: &NextStep,
        parent: &Parent,
    ) -> Vec<u8> {
        // The fields and their order are `Envelope`'s (its headers map sorts
        // the three keys); written by hand like the run documents (`json`).
        let mut out = String::with_capacity(1024);
        out.push_str("{\"messageId\":");
        json::str(&mut out, message_id);
        out.push_str(",\"correlationId\":");
        json::str(&mut out, run_id);
        out.push_str(",\"conversationId\":");
        json::str(
            &mut out,
            parent.conversation_id.as_deref().unwrap_or(run_id),
        );
        if let Some(initiator) = &parent.message_id {
            out.push_str(",\"initiatorId\":");
            json::str(&mut out, initiator);
        }
        if let Some(ep) = &parent.endpoint {
            out.push_str(",\"sourceAddress\":");
            json::str_parts(&mut out, &[&self.address_base, ep]);
        }
        out.push_str(",\"destinationAddress\":");
        json::str_parts(&mut out, &[&self.address_base, &route.exchange]);
        out.push_str(",\"messageType\":[");
        json::str(&mut out, &route.message_type);
        out.push_str("],\"message\":");
        json::value(&mut out, &step.variables);
        out.push_str(",\"sentTime\":");
        json::str(&mut out, sent_time);
        // The header names are constants; quoted like any other string.
        let key = |out: &mut String, name: &str| {
            json::str(out, name);
            out.push(':');
        };
        out.push_str(",\"headers\":{");
        if let Some(undoes) = &step.compensates {
            key(&mut out, HEADER_COMPENSATE);
            json::str(&mut out, undoes);
            out.push(',');
        }
        if let Some(event) = &step.undoes_event {
            key(&mut out, HEADER_COMPENSATE_EVENT);
            json::str(&mut out, event);
            out.push(',');
        }
        key(&mut out, HEADER_DEFINITION);
        json::str(&mut out, definition);
        out.push(',');
        key(&mut out, HEADER_RUN_ID);
        json::str(&mut out, run_id);
        out.push(',');
        key(&mut out, HEADER_STEP);
        json::u64(&mut out, step.index as u64);
        out.push_str("},\"host\":");
        out.push_str(self.host.json());
        out.push('}');
        out.into_bytes()
    }

    /// Publishes any event (outside the run's chain), correlated with the parent.
    pub async fn publish_event<E: Event>(&self, event: &E, parent: &Parent) -> Result<Envelope> {
        let info = E::info();
        let payload = serde_json::to_value(event).map_err(|e| {
            Error::Malformed(format!("event {} does not serialise: {e}", info.name))
        })?;
        self.publish_info(info, payload, parent).await
    }

    /// Publishes `event` as a signal to run `run` (its `correlationId`): it
    /// completes the run's wait for it ([`crate::engine::waits`]). A signal no
    /// service takes (no stored definition waits for the event) is
    /// [`Error::Unroutable`], not dropped.
    pub async fn signal<E: Event>(&self, run: Uuid, event: &E) -> Result<Envelope> {
        let info = E::info();
        let payload = serde_json::to_value(event).map_err(|e| {
            Error::Malformed(format!("event {} does not serialise: {e}", info.name))
        })?;
        self.signal_info(info, payload, run).await
    }

    async fn signal_info(&self, info: &EventInfo, payload: Value, run: Uuid) -> Result<Envelope> {
        let parent = Parent {
            correlation_id: Some(run.to_string()),
            ..Parent::default()
        };
        let mut env = self.envelope(info.message_type(), payload, &parent);
        env.correlation_id = parent.correlation_id.clone();
        self.send(&info.exchange_name(), &mut env, true).await?;
        Ok(env)
    }

    /// Sends the response to `request`: the event `info` with the request's
    /// id, to its response address (a name on this transport: the address
    /// without this transport's prefix, else as `wire::address` parses it).
    pub async fn respond(
        &self,
        info: &EventInfo,
        payload: Value,
        parent: &Parent,
        request: &Request,
    ) -> Result<Envelope> {
        let address = request.response_address.as_str();
        let target = match address.strip_prefix(&*self.address_base) {
            Some(name) => name.split('?').next().unwrap_or(name).to_string(),
            None => Address::parse(address).map(|a| a.name).ok_or_else(|| {
                Error::Malformed(format!("responseAddress '{address}' is not an address"))
            })?,
        };
        let mut env = self.envelope(info.message_type(), payload, parent);
        env.request_id = Some(request.request_id.clone());
        env.correlation_id = parent.correlation_id.clone();
        self.send(&target, &mut env, true).await?;
        Ok(env)
    }

    async fn publish_info(
        &self,
        info: &EventInfo,
        payload: Value,
        parent: &Parent,
    ) -> Result<Envelope> {
        let mut env = self.envelope(info.message_type(), payload, parent);
        env.correlation_id = parent.correlation_id.clone();
        // Publish/subscribe: an event nobody subscribes to is not an error
        // (unlike a run step, which must reach its consumer).
        self.send(&info.exchange_name(), &mut env, false).await?;
        Ok(env)
    }
}

/// The AMQP properties of a step message: the run's priority, when it has one.
fn step_properties(parent: &Parent) -> Properties {
    Properties {
        priority: parent.priority.filter(|p| *p > 0),
        ..Properties::default()
    }
}

#[async_trait]
impl EventPublisher for Publisher {
    async fn publish_value(
        &self,
        info: &'static EventInfo,
        payload: Value,
        parent: &Parent,
    ) -> Result<()> {
        self.publish_info(info, payload, parent).await.map(|_| ())
    }

    async fn signal_value(
        &self,
        info: &'static EventInfo,
        payload: Value,
        run: Uuid,
    ) -> Result<()> {
        self.signal_info(info, payload, run).await.map(|_| ())
    }

    async fn respond_value(
        &self,
        info: &'static EventInfo,
        payload: Value,
        parent: &Parent,
        request: &Request,
    ) -> Result<()> {
        self.respond(info, payload, parent, request)
            .await
            .map(|_| ())
    }
}

/// Why a run step's message reached no queue, as the step's error says it.
pub(crate) fn unroutable_reason(exchange: &str) -> String {
    format!(
        "no consumer is bound to its exchange '{exchange}' (is a service hosting its consumer running?)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Variables;
    use crate::transport::InProcessTransport;

    /// The service's step JSON is byte for byte the JSON of the envelope
    /// `publish_step` builds, with and without a parent.
    #[test]
    fn step_json_is_the_step_envelopes_json() {
        let registry = Arc::new(Registry::from_parts(Vec::new(), Vec::new()).expect("registry"));
        let p = Publisher::new(Arc::new(InProcessTransport::new()), registry, None, "svc");
        let route = Route {
            exchange: "Ns:Ev".into(),
            message_type: "urn:message:Ns:Ev".into(),
        };
        let mut variables = Variables::new();
        variables.insert("commit".into(), Value::from("a\"b\\c\u{1}é"));
        variables.insert("n".into(), serde_json::json!([1, 2.5, null, {"z": true}]));
        let step = NextStep {
            index: 3,
            event: "Ev".into(),
            variables,
            compensates: None,
            undoes_event: None,
        };
        let parents = [
            Parent::default(),
            Parent {
                message_id: Some("m-1".into()),
                conversation_id: Some("c-1".into()),
                correlation_id: Some("r-1".into()),
                endpoint: Some("ep \"x\"".into()),
                priority: Some(3),
            },
        ];
        let run_id = Uuid::new_v4();
        let undo = NextStep {
            compensates: Some("deploy \"vm\"".into()),
            undoes_event: Some("Deploy\"To\"Vm".into()),
            ..step.clone()
        };
        for (parent, step) in parents.iter().flat_map(|p| [(p, &step), (p, &undo)]) {
            let env = p.step_envelope(&route, run_id, "def \"q\"", step, parent);
            // Addresses in MassTransit's form for the transport (in process:
            // its in-memory transport's `loopback://localhost/`).
            assert_eq!(
                env.destination_address.as_deref(),
                Some("loopback://localhost/Ns:Ev")
            );
            let source = parent
                .endpoint
                .as_ref()
                .map(|ep| format!("loopback://localhost/{ep}"));
            assert_eq!(env.source_address, source);
            let sent = env.sent_time.as_deref().expect("sent time");
            let json = p.step_json(
                &route,
                &env.message_id,
                sent,
                &run_id.to_string(),
                "def \"q\"",
                step,
                parent,
            );
            assert_eq!(
                String::from_utf8_lossy(&json),
                String::from_utf8_lossy(&env.to_vec())
            );
        }
    }
}
