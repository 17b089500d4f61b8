//! The operator's actions and views, shared by the CLI, the terminal UI and the
//! HTTP API ([`crate::api`]): everything goes through [`Operator`], which wraps
//! [`isoqube::Control`] and adds the read models the screens need (events with
//! their consumers, services with liveness, error queues).
//!
//! It may use only `isoqube` (control, store and transport seams): it is the
//! ground every surface stands on, and imports none of them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use isoqube::store::RunStore;
use isoqube::transport::{OutgoingMessage, RawMessage, Transport, ERROR_SUFFIX};
use isoqube::wire::headers;
use isoqube::{
    Control, CorruptRun, Definition, Error, LogRecord, Run, RunFilter, RunPage, ServiceRecord,
    StuckRule, StuckRun, StuckStep, Variables,
};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// A service whose heartbeat is older than this is shown as not alive
/// (services beat every 5 s by default); the stuck rule uses the same bound.
pub const ALIVE_WITHIN: Duration = StuckRule::DEFAULT_ALIVE_WITHIN;

/// Why work cannot start without a broker: [`Operator`] refuses with it before
/// writing anything, and so does every call of the stand-in transport a
/// control center started without a broker uses.
pub const NO_BROKER: &str = "no broker configured: pass --amqp-url or set ISOQUBE_AMQP_URL \
     (for the embedded mode, run the control center inside the services' process: \
     `sample-build-server tui`)";

/// How many messages of one error queue a view reads at most.
pub const ERROR_PAGE: usize = 100;

/// An event with the consumer endpoints that handle it and who hosts them.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EventView {
    /// Event name.
    pub name: String,
    /// What it means.
    pub description: String,
    /// Its exchange.
    pub exchange: String,
    /// `urn:message:...`
    pub message_type: String,
    /// Endpoints consuming it, each with the services hosting it.
    pub consumers: Vec<ConsumerView>,
}

/// One consumer endpoint and the services (names) hosting it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ConsumerView {
    /// Endpoint (queue) name.
    pub endpoint: String,
    /// Names of the services hosting it.
    pub services: Vec<String>,
}

/// A service instance as recorded in the store, with its liveness.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ServiceView {
    /// The record.
    #[serde(flatten)]
    pub record: ServiceRecord,
    /// Seconds since its last heartbeat.
    pub heartbeat_age_secs: i64,
    /// Heartbeat within [`ALIVE_WITHIN`].
    pub alive: bool,
}

/// A message in an endpoint's error queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultView {
    /// The endpoint whose `<endpoint>_error` queue holds it.
    pub endpoint: String,
    /// AMQP message id (what requeue and discard take).
    pub message_id: String,
    /// `MT-Fault-Message`, or `MT-Reason` when there is no fault message.
    pub reason: String,
    /// `MT-Fault-ExceptionType`.
    pub exception_type: String,
    /// `MT-Fault-Timestamp`.
    pub timestamp: String,
    /// The run it belongs to, when it is a run step.
    pub run_id: Option<String>,
    /// The step index, when it is a run step.
    pub step: Option<u64>,
    /// The envelope's message type, when the body is an envelope.
    pub message_type: Option<String>,
    /// Body size in bytes.
    pub size: usize,
}

/// An endpoint's error queue: how many messages, and the first [`ERROR_PAGE`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorQueueView {
    /// Endpoint name.
    pub endpoint: String,
    /// Messages in `<endpoint>_error`.
    pub count: u32,
    /// The first messages.
    pub messages: Vec<FaultView>,
}

/// What the operator can see and do.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// let path = std::env::temp_dir().join(format!("cc-doc-{}.db", uuid::Uuid::new_v4()));
/// let store = Arc::new(isoqube::SqliteStore::open(&path).await.unwrap());
/// let op = controlcenter::Operator::new(store, Arc::new(isoqube::InProcessTransport::new())).unwrap();
/// assert!(op.definitions().await.unwrap().is_empty());
/// # });
/// ```
#[derive(Clone)]
pub struct Operator {
    control: Control,
    store: Arc<dyn RunStore>,
    transport: Arc<dyn Transport>,
    stuck_rule: StuckRule,
}

/// Every stuck run, and the running records that could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StuckReport {
    /// The stuck runs, newest first, each with its stuck steps.
    pub runs: Vec<StuckRun>,
    /// Running records that do not parse (whether they are stuck cannot be told).
    pub corrupt: Vec<CorruptRun>,
}

impl Operator {
    /// An operator over a store and a transport.
    pub fn new(store: Arc<dyn RunStore>, transport: Arc<dyn Transport>) -> isoqube::Result<Self> {
        Ok(Operator {
            control: Control::new(store.clone(), transport.clone())?,
            store,
            transport,
            stuck_rule: StuckRule::default(),
        })
    }

    /// The same operator, calling runs stuck by `rule` (the default is
    /// [`StuckRule::default`]).
    pub fn with_stuck_rule(mut self, rule: StuckRule) -> Self {
        self.stuck_rule = rule;
        self
    }

    /// When a run is stuck.
    pub fn stuck_rule(&self) -> &StuckRule {
        &self.stuck_rule
    }

    /// The underlying run control.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn RunStore> {
        &self.store
    }

    /// The transport.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// Every event the services recorded, with consumers and hosting services.
    pub async fn events(&self) -> isoqube::Result<Vec<EventView>> {
        let topics = self.store.list_topics().await?;
        let services = self.store.list_services().await?;
        let mut hosts: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for s in &services {
            for c in &s.consumers {
                hosts.entry(c.as_str()).or_default().insert(s.name.as_str());
            }
        }
        let mut out: Vec<EventView> = topics
            .iter()
            .map(|t| EventView {
                name: t.name.clone(),
                description: t.description.clone(),
                exchange: t.exchange.clone(),
                message_type: t.message_type.clone(),
                consumers: t
                    .consumers
                    .iter()
                    .map(|ep| ConsumerView {
                        endpoint: ep.clone(),
                        services: hosts
                            .get(ep.as_str())
                            .map(|s| s.iter().map(|n| n.to_string()).collect())
                            .unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Every recorded service instance, alive ones first, then by name.
    pub async fn services(&self) -> isoqube::Result<Vec<ServiceView>> {
        let now = Utc::now();
        let mut out: Vec<ServiceView> = self
            .store
            .list_services()
            .await?
            .into_iter()
            .map(|record| service_view(record, now))
            .collect();
        out.sort_by(|a, b| {
            b.alive
                .cmp(&a.alive)
                .then_with(|| a.record.name.cmp(&b.record.name))
                .then_with(|| a.record.id.cmp(&b.record.id))
        });
        Ok(out)
    }

    /// All definitions, by name.
    pub async fn definitions(&self) -> isoqube::Result<Vec<Definition>> {
        let mut defs = self.store.list_definitions().await?;
        defs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(defs)
    }

    /// One definition, or [`Error::NotFound`].
    pub async fn definition(&self, name: &str) -> isoqube::Result<Definition> {
        self.store
            .get_definition(name)
            .await?
            .ok_or_else(|| Error::not_found("definition", name))
    }

    /// Validates and saves a new definition (nothing written when refused).
    pub async fn create_definition(&self, def: Definition) -> isoqube::Result<Definition> {
        self.control.create_definition(def).await
    }

    /// Validates and replaces a definition.
    pub async fn update_definition(&self, def: Definition) -> isoqube::Result<Definition> {
        self.control.update_definition(def).await
    }

    /// Deletes a definition; [`Error::NotFound`] when there is none.
    pub async fn delete_definition(&self, name: &str) -> isoqube::Result<()> {
        if self.store.delete_definition(name).await? {
            Ok(())
        } else {
            Err(Error::not_found("definition", name))
        }
    }

    /// Runs, newest first, and the records of the page that do not parse
    /// (named, and logged as a warning).
    pub async fn runs(&self, filter: &RunFilter) -> isoqube::Result<RunPage> {
        self.control.list_runs(filter).await
    }

    /// The stuck steps of `runs` now, by [`Operator::stuck_rule`].
    pub async fn stuck_steps(&self, runs: &[Run]) -> isoqube::Result<Vec<StuckStep>> {
        self.control.stuck_steps(runs, &self.stuck_rule).await
    }

    /// Every stuck run (of `definition`, when given), by [`Operator::stuck_rule`].
    pub async fn stuck_runs(&self, definition: Option<&str>) -> isoqube::Result<StuckReport> {
        let (runs, corrupt) = self
            .control
            .stuck_runs(definition, &self.stuck_rule)
            .await?;
        Ok(StuckReport { runs, corrupt })
    }

    /// One run, or [`Error::NotFound`].
    pub async fn run(&self, id: Uuid) -> isoqube::Result<Run> {
        self.control.get_run(id).await
    }

    /// A run's log lines from the `skip`-th on.
    pub async fn run_logs(&self, id: Uuid, skip: usize) -> isoqube::Result<Vec<LogRecord>> {
        self.store.run_logs(id, skip).await
    }

    /// Starts a run of `definition` with `vars` over its defaults.
    pub async fn start(&self, definition: &str, vars: Variables) -> isoqube::Result<Run> {
        self.start_as(definition, vars, &started_by()).await
    }

    /// [`Operator::start`], recording `started_by` (e.g. `http`) as who started it.
    pub async fn start_as(
        &self,
        definition: &str,
        vars: Variables,
        started_by: &str,
    ) -> isoqube::Result<Run> {
        self.definition(definition).await?;
        self.ensure_transport().await?;
        self.control.start_run(definition, vars, started_by).await
    }

    /// Starts a new run with the same definition and parameters.
    pub async fn rerun(&self, id: Uuid) -> isoqube::Result<Run> {
        self.rerun_as(id, &started_by()).await
    }

    /// [`Operator::rerun`], recording `started_by` as who started the new run.
    pub async fn rerun_as(&self, id: Uuid, started_by: &str) -> isoqube::Result<Run> {
        self.run(id).await?;
        self.ensure_transport().await?;
        self.control.rerun(id, started_by).await
    }

    /// Continues a failed or cancelled run from its failed step.
    pub async fn resume(&self, id: Uuid) -> isoqube::Result<Run> {
        self.run(id).await?;
        self.ensure_transport().await?;
        self.control.resume(id).await
    }

    /// Refuses to start work the transport cannot deliver, before anything is
    /// written.
    async fn ensure_transport(&self) -> isoqube::Result<()> {
        if self.transport.kind() == "none" {
            return Err(Error::Transport(NO_BROKER.into()));
        }
        if !self.transport.is_ready().await {
            return Err(Error::Transport(format!(
                "the {} transport is not connected; try again when it is",
                self.transport.kind()
            )));
        }
        Ok(())
    }

    /// Cancels a pending or running run.
    pub async fn cancel(&self, id: Uuid) -> isoqube::Result<Run> {
        self.control.cancel(id).await
    }

    /// Waits for the run to change after `version` (up to `timeout`).
    pub async fn wait_for_change(
        &self,
        id: Uuid,
        version: u64,
        timeout: Duration,
    ) -> isoqube::Result<Option<Run>> {
        self.store.wait_for_change(id, version, timeout).await
    }

    /// Endpoints known from the recorded events and services.
    pub async fn endpoints(&self) -> isoqube::Result<BTreeSet<String>> {
        let mut eps: BTreeSet<String> = self
            .store
            .list_topics()
            .await?
            .into_iter()
            .flat_map(|t| t.consumers)
            .collect();
        for s in self.store.list_services().await? {
            eps.extend(s.consumers);
        }
        Ok(eps)
    }

    /// The error queue of every known endpoint (those the transport does not
    /// have, e.g. never declared, are left out).
    pub async fn error_queues(&self) -> isoqube::Result<Vec<ErrorQueueView>> {
        let mut out = Vec::new();
        for endpoint in self.endpoints().await? {
            let queue = format!("{endpoint}{ERROR_SUFFIX}");
            let count = match self.transport.message_count(&queue).await {
                Ok(n) => n,
                Err(Error::NotFound { .. }) => continue,
                Err(e) if is_missing_queue(&e) => continue,
                Err(e) => return Err(e),
            };
            let messages = if count == 0 {
                Vec::new()
            } else {
                self.transport
                    .browse(&queue, ERROR_PAGE)
                    .await?
                    .iter()
                    .map(|m| fault_view(&endpoint, m))
                    .collect()
            };
            out.push(ErrorQueueView {
                endpoint,
                count,
                messages,
            });
        }
        Ok(out)
    }

    /// Sends a message of `<endpoint>_error` back to the endpoint's queue (fault
    /// headers removed, `MT-Redelivery-Count` one more, AMQP properties kept). It is published before it is removed from the error
    /// queue, so a failure half-way can duplicate it (the run engine ignores
    /// duplicates) but never lose it.
    pub async fn requeue(&self, endpoint: &str, message_id: &str) -> isoqube::Result<()> {
        let queue = format!("{endpoint}{ERROR_SUFFIX}");
        let found = self
            .transport
            .browse(&queue, usize::MAX)
            .await?
            .into_iter()
            .find(|m| m.message_id.as_deref() == Some(message_id))
            .ok_or_else(|| Error::not_found("message", format!("{message_id} in {queue}")))?;
        // Sent again is redelivered, as MassTransit counts it: the count goes
        // up by one; the fault headers go.
        let redelivered = headers::redelivery_count(&found.headers).saturating_add(1);
        let mut kept: BTreeMap<String, Value> = found
            .headers
            .into_iter()
            .filter(|(k, _)| !k.starts_with(headers::MT_PREFIX))
            .collect();
        kept.insert(
            headers::MT_REDELIVERY_COUNT.to_string(),
            Value::from(redelivered),
        );
        self.transport
            .publish(
                endpoint,
                OutgoingMessage {
                    body: found.body,
                    message_id: message_id.to_string(),
                    correlation_id: found.correlation_id,
                    headers: kept,
                    properties: found.properties,
                },
            )
            .await?;
        self.transport.take(&queue, message_id).await?;
        Ok(())
    }

    /// Deletes a message from `<endpoint>_error`.
    pub async fn discard(&self, endpoint: &str, message_id: &str) -> isoqube::Result<()> {
        let queue = format!("{endpoint}{ERROR_SUFFIX}");
        match self.transport.take(&queue, message_id).await? {
            Some(_) => Ok(()),
            None => Err(Error::not_found(
                "message",
                format!("{message_id} in {queue}"),
            )),
        }
    }
}

/// Both transports word a missing queue as "does not exist".
fn is_missing_queue(e: &Error) -> bool {
    matches!(e, Error::Transport(text) if text.contains("does not exist"))
}

fn started_by() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    format!("controlcenter:{user}@{}", isoqube::host_name())
}

/// A service record with its liveness at `now`.
pub fn service_view(record: ServiceRecord, now: DateTime<Utc>) -> ServiceView {
    let age = (now - record.last_seen).num_seconds().max(0);
    ServiceView {
        alive: u64::try_from(age).unwrap_or(u64::MAX) <= ALIVE_WITHIN.as_secs(),
        heartbeat_age_secs: age,
        record,
    }
}

/// What the error-queue view shows of a raw message.
pub fn fault_view(endpoint: &str, m: &RawMessage) -> FaultView {
    let header = |k: &str| {
        m.headers
            .get(k)
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default()
    };
    let envelope: Option<Value> = serde_json::from_slice(&m.body).ok();
    let env_header = |k: &str| {
        envelope
            .as_ref()
            .and_then(|e| e.get("headers"))
            .and_then(|h| h.get(k))
            .cloned()
    };
    let mut reason = header(headers::MT_FAULT_MESSAGE);
    if reason.is_empty() {
        reason = header(headers::MT_REASON);
    }
    FaultView {
        endpoint: endpoint.to_string(),
        message_id: m.message_id.clone().unwrap_or_default(),
        reason,
        exception_type: header(headers::MT_FAULT_EXCEPTION_TYPE),
        timestamp: header(headers::MT_FAULT_TIMESTAMP),
        run_id: env_header(isoqube::envelope::HEADER_RUN_ID)
            .and_then(|v| v.as_str().map(str::to_string)),
        step: env_header(isoqube::envelope::HEADER_STEP).and_then(|v| v.as_u64()),
        message_type: envelope
            .as_ref()
            .and_then(|e| e.get("messageType"))
            .and_then(|t| t.get(0))
            .and_then(Value::as_str)
            .map(str::to_string),
        size: m.body.len(),
    }
}
