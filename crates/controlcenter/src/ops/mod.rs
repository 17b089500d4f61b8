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
use isoqube::control::{request_run_id, Rerun, Resume, StartRun};
use isoqube::store::RunStore;
use isoqube::transport::Transport;
use isoqube::{
    model::CorruptRun, model::LogRecord, model::RunPage, model::ServiceRecord, model::StuckRule,
    model::StuckRun, model::StuckStep, Control, Definition, Error, Run, RunFilter,
};
use serde::Serialize;
use uuid::Uuid;

use crate::text::run_id_prefix;

mod fault_actions;
mod faults;
mod queues;
mod requeueable;
mod retention;
mod signals;
mod stale_queues;
mod watch;

pub use fault_actions::{Bulk, Done, Requeued};
pub use faults::{fault_view, ErrorQueueView, FaultView};
pub use queues::{rates_between, EndpointQueues, QueueView, QueuesReport};
pub use retention::RunSelection;
pub use signals::{SignalEffect, Signalled};
pub use stale_queues::DeletedQueue;
pub use watch::{step_changes, RunChange, StepChange, WatchFrom};

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

/// The runs an ambiguous short id is shown to start, at most.
const AMBIGUOUS_SHOWN: usize = 10;

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

/// An instance alive by [`ALIVE_WITHIN`] whose last heartbeat is older than
/// this (two beats at the default 5 s) is shown `late`: it may have stopped
/// (a killed process looks alive until [`ALIVE_WITHIN`] passes).
pub const LATE_AFTER: Duration = Duration::from_secs(10);

impl ServiceView {
    /// Its state as the CLI and the TUI show it: `alive`, `late` (alive,
    /// but no heartbeat for over [`LATE_AFTER`]) or `gone`.
    ///
    /// ```
    /// # use chrono::{Duration, Utc};
    /// # let record = |ago| isoqube::model::ServiceRecord { id: "s@h:1:ab".into(), name: "s".into(),
    /// #     host: "h".into(), pid: 1, events: vec![], consumers: vec![], transport: "amqp".into(),
    /// #     started_at: Utc::now(), last_seen: Utc::now() - Duration::seconds(ago) };
    /// use controlcenter::ops::service_view;
    /// assert_eq!(service_view(record(3), Utc::now()).state(), "alive");
    /// assert_eq!(service_view(record(14), Utc::now()).state(), "late");
    /// assert_eq!(service_view(record(60), Utc::now()).state(), "gone");
    /// ```
    pub fn state(&self) -> &'static str {
        let late = u64::try_from(self.heartbeat_age_secs).unwrap_or(0) > LATE_AFTER.as_secs();
        match (self.alive, late) {
            (false, _) => "gone",
            (true, true) => "late",
            (true, false) => "alive",
        }
    }

    /// When it was last heard of: `last seen 14s ago`.
    pub fn last_seen(&self) -> String {
        format!(
            "last seen {} ago",
            crate::text::age(chrono::Duration::seconds(self.heartbeat_age_secs))
        )
    }
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

    /// Checks a definition as saving it would, writing nothing.
    pub async fn check_definition(&self, def: &Definition) -> isoqube::Result<()> {
        def.validate(&self.control.known_events().await?)
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

    /// Visits every run `filter` selects, newest first, page by page (all
    /// of them, not one page; `filter.limit` is the page size). The records
    /// that do not parse are skipped and not logged: a metrics scrape reads
    /// this every few seconds, and counts them its own way.
    pub async fn each_run(
        &self,
        filter: &RunFilter,
        mut visit: impl FnMut(&Run),
    ) -> isoqube::Result<()> {
        let mut filter = filter.clone();
        loop {
            let page = self.store.list_runs(&filter).await?;
            page.runs.iter().for_each(&mut visit);
            // The cursor moves past every page it names, so this ends.
            match page.next {
                Some(next) => filter = filter.at(&next),
                None => return Ok(()),
            }
        }
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

    /// The run an operator named by its id or any unique start of it (the
    /// short ids lists show): not found when no run's id starts so; when
    /// several do, refused (bad input) naming them.
    pub async fn run_id(&self, text: &str) -> isoqube::Result<Uuid> {
        if let Ok(id) = Uuid::parse_str(text.trim()) {
            return Ok(id);
        }
        let prefix = run_id_prefix(text).ok_or_else(|| {
            Error::InvalidState(format!(
                "'{text}' is not a run id (a UUID, or the start of one)"
            ))
        })?;
        let mut ids = self
            .store
            .run_ids_with_prefix(&prefix, AMBIGUOUS_SHOWN + 1)
            .await?;
        match ids.len() {
            0 => Err(Error::not_found("run", text.trim().to_string())),
            1 => Ok(ids.remove(0)),
            n => {
                let more = if n > AMBIGUOUS_SHOWN { ", ..." } else { "" };
                ids.truncate(AMBIGUOUS_SHOWN);
                let shown: Vec<String> = ids.iter().map(Uuid::to_string).collect();
                Err(Error::InvalidState(format!(
                    "run id '{}' is ambiguous: it starts {}{more}",
                    text.trim(),
                    shown.join(", ")
                )))
            }
        }
    }

    /// One run, or [`Error::NotFound`].
    pub async fn run(&self, id: Uuid) -> isoqube::Result<Run> {
        self.control.get_run(id).await
    }

    /// A run's log lines from the `skip`-th on.
    pub async fn run_logs(&self, id: Uuid, skip: usize) -> isoqube::Result<Vec<LogRecord>> {
        self.store.run_logs(id, skip).await
    }

    /// Starts a run (see [`StartRun`]); who started it is this operator
    /// (`controlcenter:USER@HOST`) unless the request says. Refused, nothing
    /// written, without a broker ([`NO_BROKER`]) or an unknown definition.
    pub async fn start(&self, start: StartRun) -> isoqube::Result<Run> {
        self.control.start(self.signed(start)).await
    }

    /// [`Operator::start`] at most once for `request`, a request's own
    /// id (a webhook delivery id): the run's id is derived from it, so the
    /// same request again, to any control center, finds that run and starts
    /// nothing. The flag tells whether this call started the run.
    pub async fn start_once(&self, request: &str, start: StartRun) -> isoqube::Result<(Run, bool)> {
        let id = request_run_id(request);
        self.control.start_once(id, self.signed(start)).await
    }

    /// Starts a new run with the same definition and parameters, `again.vars`
    /// merged over them (see [`Rerun`]).
    pub async fn rerun(&self, id: Uuid, mut again: Rerun) -> isoqube::Result<Run> {
        again.started_by.get_or_insert_with(started_by);
        self.control.rerun(id, again).await
    }

    /// Continues a failed or cancelled run from its failed steps (see [`Resume`]).
    pub async fn resume(&self, id: Uuid, resume: Resume) -> isoqube::Result<Run> {
        self.control.resume(id, resume).await
    }

    /// `start`, naming this operator as who started it unless it says.
    fn signed(&self, mut start: StartRun) -> StartRun {
        start.started_by.get_or_insert_with(started_by);
        start
    }

    /// Cancels a pending, running or compensating run.
    pub async fn cancel(&self, id: Uuid) -> isoqube::Result<Run> {
        self.control.cancel(id).await
    }

    /// Cancels a pending or running run and compensates what it did.
    pub async fn cancel_and_compensate(&self, id: Uuid) -> isoqube::Result<Run> {
        self.control.cancel_and_compensate(id).await
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
}

pub(crate) fn started_by() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "operator".into());
    format!("controlcenter:{user}@{}", isoqube::host::host_name())
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

/// What a webhook secret looks like wherever a definition is shown.
pub const REDACTED_SECRET: &str = "***";

/// When a schedule of a definition is next due.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NextDue {
    /// The schedule's id.
    pub id: String,
    /// Its next due time; `null` when it is disabled or never due again.
    pub next_due: Option<DateTime<Utc>>,
}

/// A definition as the CLI (`--json`) and the API show it, one shape for
/// both: the stored definition with its webhook secret as `"***"`, and
/// `next_due` (left out without schedules).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DefinitionView {
    /// The definition.
    #[serde(flatten)]
    pub definition: Definition,
    /// When each schedule is next due.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub next_due: Vec<NextDue>,
}

/// `def` as it is shown at `now` (see [`DefinitionView`]).
///
/// ```
/// let def = isoqube::Definition::new("d", ["A"]);
/// let v = serde_json::to_value(controlcenter::ops::definition_view(def, chrono::Utc::now())).unwrap();
/// assert_eq!(v["name"], "d");
/// assert!(v.get("next_due").is_none());
/// ```
pub fn definition_view(mut def: Definition, now: DateTime<Utc>) -> DefinitionView {
    if let Some(hook) = def.webhook.as_mut() {
        hook.secret = REDACTED_SECRET.into();
    }
    let next_due = def
        .schedules
        .iter()
        .map(|s| NextDue {
            id: s.id.clone(),
            next_due: s.next_after(now).ok().flatten().filter(|_| s.enabled),
        })
        .collect();
    DefinitionView {
        definition: def,
        next_due,
    }
}
