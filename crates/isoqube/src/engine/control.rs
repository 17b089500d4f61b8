//! Operator actions: validate and save definitions; start ([`StartRun`]),
//! re-run ([`Rerun`]), resume ([`Resume`]), cancel and wait for runs; list
//! runs (naming the records that do not parse) and find the stuck ones
//! (applying the model's [`StuckRule`]). The control center, the CLI and the
//! sample all go through [`Control`], which needs only the store and the
//! transport, and which refuses work a transport cannot deliver
//! ([`Reach`]), whoever asks.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::warn;
use uuid::Uuid;

pub use super::run_requests::{request_run_id, Rerun, Resume, StartRun, DEFAULT_STARTED_BY};
use crate::engine::publish::{unroutable_reason, Publisher};
use crate::error::{Error, Result};
use crate::model::{
    CorruptRun, Definition, FailOutcome, NextStep, Run, RunCursor, RunFilter, RunPage, RunStatus,
    StepStatus, StuckRule, StuckRun, StuckStep,
};
use crate::registry::Registry;
use crate::store::{IntoStore, RunStore};
use crate::transport::{IntoTransport, Reach};
use crate::wire::lineage::Parent;

/// Operator actions over a store and a transport.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// use isoqube::{Control, Definition, InProcessTransport, SqliteStore};
/// let path = std::env::temp_dir().join(format!("isoqube-control-doc-{}.db", std::process::id()));
/// let store = Arc::new(SqliteStore::open(&path).await.unwrap());
/// let control = Control::new(store, Arc::new(InProcessTransport::new())).unwrap();
/// let err = control.create_definition(Definition::new("x", ["NoSuchEvent"])).await.unwrap_err();
/// assert!(err.to_string().contains("unknown event 'NoSuchEvent'"));
/// # });
/// ```
#[derive(Clone)]
pub struct Control {
    store: Arc<dyn RunStore>,
    publisher: Publisher,
    registry: Arc<Registry>,
}

impl Control {
    /// Operator actions with this binary's registry (the store and the
    /// transport owned or already shared).
    pub fn new(store: impl IntoStore, transport: impl IntoTransport) -> Result<Self> {
        let (store, transport) = (store.into_store(), transport.into_transport());
        let registry = Arc::new(Registry::linked()?);
        let publisher = Publisher::new(
            transport,
            registry.clone(),
            Some(store.clone()),
            "isoqube-control",
        );
        Ok(Control {
            store,
            publisher,
            registry,
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn RunStore> {
        &self.store
    }

    /// The transport.
    pub(crate) fn transport(&self) -> &Arc<dyn crate::transport::Transport> {
        self.publisher.transport()
    }

    /// This binary's registry.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Events linked into this binary plus those services recorded in the store.
    pub async fn known_events(&self) -> Result<BTreeSet<String>> {
        let mut known = self.registry.event_names();
        known.extend(self.store.list_topics().await?.into_iter().map(|t| t.name));
        Ok(known)
    }

    /// Validates and saves a new definition; nothing is written when it is refused.
    pub async fn create_definition(&self, mut def: Definition) -> Result<Definition> {
        def.validate(&self.known_events().await?)?;
        self.check_correlation(&def).await?;
        let now = Utc::now();
        def.created_at = now;
        def.modified_at = now;
        self.store.create_definition(&def).await?;
        self.bind_waits(&def.steps).await;
        Ok(def)
    }

    /// Validates and replaces an existing definition.
    pub async fn update_definition(&self, mut def: Definition) -> Result<Definition> {
        let existing = self
            .store
            .get_definition(&def.name)
            .await?
            .ok_or_else(|| Error::not_found("definition", def.name.clone()))?;
        def.validate(&self.known_events().await?)?;
        self.check_correlation(&def).await?;
        def.created_at = existing.created_at;
        def.modified_at = Utc::now();
        self.store.update_definition(&def).await?;
        self.bind_waits(&def.steps).await;
        Ok(def)
    }

    /// Saves `def` unless a definition with its name exists (for seeding
    /// built-in definitions without overwriting an operator's edits). True when saved.
    pub async fn seed_definition(&self, def: Definition) -> Result<bool> {
        match self.create_definition(def).await {
            Ok(_) => Ok(true),
            Err(Error::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Starts a run (see [`StartRun`]): refused, nothing written, when the
    /// definition is not there, the priority is above 9, or the transport
    /// cannot deliver ([`Reach::Nowhere`], or not connected now).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// use isoqube::control::StartRun;
    /// # let path = std::env::temp_dir().join(format!("isoqube-start-doc-{}.db", std::process::id()));
    /// # let store = Arc::new(isoqube::SqliteStore::open(&path).await.unwrap());
    /// # let control = isoqube::Control::new(store, Arc::new(isoqube::InProcessTransport::new())).unwrap();
    /// let err = control.start(StartRun::new("no-such").priority(3)).await.unwrap_err();
    /// assert!(err.to_string().contains("no-such"));
    /// # });
    /// ```
    pub async fn start(&self, start: StartRun) -> Result<Run> {
        let run = self.new_run(&start).await?;
        self.ensure_deliverable().await?;
        self.store.insert_run(&run).await?;
        let first = run.start_steps();
        self.launch(run, first).await
    }

    /// [`Control::start`] under the run id `id`, at most once: when a run
    /// with this id exists (the same request again, e.g. a webhook delivery
    /// sent twice, by any process), that run is returned and nothing starts.
    /// The flag tells whether this call started it. A caller derives `id` from
    /// the request's own id ([`request_run_id`]).
    pub async fn start_once(&self, id: Uuid, start: StartRun) -> Result<(Run, bool)> {
        let mut run = self.new_run(&start).await?;
        self.ensure_deliverable().await?;
        if let Some(run) = self.store.get_run(id).await? {
            return Ok((run, false));
        }
        run.id = id;
        match self.store.insert_run(&run).await {
            Ok(()) => {}
            // Inserted by another process meanwhile: the one conditional
            // write decided, and that run is the one.
            Err(Error::Conflict { .. }) => {
                let run = self
                    .store
                    .get_run(id)
                    .await?
                    .ok_or_else(|| Error::not_found("run", id.to_string()))?;
                return Ok((run, false));
            }
            Err(e) => return Err(e),
        }
        let first = run.start_steps();
        Ok((self.launch(run, first).await?, true))
    }

    /// A new run as `start` asks, not stored yet.
    async fn new_run(&self, start: &StartRun) -> Result<Run> {
        // The definition first: an unknown one is named whatever else is wrong.
        let def = self
            .store
            .get_definition(&start.definition)
            .await?
            .ok_or_else(|| Error::not_found("definition", start.definition.clone()))?;
        if let Some(p) = start.priority {
            crate::model::check_priority(p).map_err(Error::InvalidState)?;
        }
        // Saving refuses a graph that does not resolve; one stored otherwise
        // (by hand, by an older version) is refused here, nothing written.
        crate::model::resolve_graph(&def.steps)?;
        let mut run = Run::new(
            &def,
            start.vars.clone(),
            start.started_by_or(DEFAULT_STARTED_BY),
        );
        if let Some(p) = start.priority {
            run.priority = p;
        }
        for (step, timeout) in &start.wait_timeouts {
            run.set_wait_timeout(step, *timeout)?;
        }
        if let Some(at) = start.at.filter(|at| *at > Utc::now()) {
            run.delay_start(at);
        }
        Ok(run)
    }

    /// Refuses to start work the transport cannot deliver, before anything
    /// is written: one that never delivers ([`Reach::Nowhere`], with its
    /// reason) or one not connected now.
    pub(crate) async fn ensure_deliverable(&self) -> Result<()> {
        let transport = self.publisher.transport();
        if let Reach::Nowhere { why } = transport.reach() {
            return Err(Error::Transport(why.into()));
        }
        if !transport.is_ready().await {
            return Err(Error::Transport(format!(
                "the {} transport is not connected; try again when it is",
                transport.kind()
            )));
        }
        Ok(())
    }

    /// Starts a new run of the same definition with the old run's
    /// parameters, `again.vars` merged over them (see [`Rerun`]).
    pub async fn rerun(&self, id: Uuid, again: Rerun) -> Result<Run> {
        let old = self.get_run(id).await?;
        self.ensure_deliverable().await?;
        let def = match self.store.get_definition(&old.definition).await? {
            Some(def) => def,
            None => Definition::new(old.definition.clone(), old.step_defs())
                .with_description(old.description.clone()),
        };
        let mut params = old.params.clone();
        params.extend(again.vars);
        let started_by = again.started_by.as_deref().unwrap_or(DEFAULT_STARTED_BY);
        let mut run = Run::new(&def, params, started_by);
        run.rerun_of = Some(old.id);
        // The same run again: at the priority it ran at.
        run.priority = old.priority;
        self.store.insert_run(&run).await?;
        let first = run.start_steps();
        self.launch(run, first).await
    }

    /// Continues a failed or cancelled run (see [`Resume`]): publishes
    /// every step that is due again, on every branch.
    ///
    /// Refused while a step of the run is still running on a live service
    /// instance (a cancelled run's step winding down): resuming then would
    /// run it twice. A step whose handler's instance is gone does not hold
    /// resume up.
    pub async fn resume(&self, id: Uuid, resume: Resume) -> Result<Run> {
        let current = self.get_run(id).await?;
        self.ensure_deliverable().await?;
        // What runs: the steps, and the compensations (a compensation in
        // flight when another failed the run's compensation).
        let running: Vec<(&crate::model::Step, &crate::model::StepHandler, &str)> = current
            .steps
            .iter()
            .flat_map(|s| {
                let forward = s.handlers.iter().map(move |h| (s, h, s.event.as_str()));
                let undo = s
                    .compensation
                    .iter()
                    .flat_map(move |c| c.handlers.iter().map(move |h| (s, h, c.event.as_str())));
                forward.chain(undo)
            })
            .filter(|(_, h, _)| h.status == StepStatus::Invoked)
            .collect();
        if !running.is_empty() {
            let beats = self.heartbeats().await?;
            let now = Utc::now();
            let alive = |host: &str| {
                beats.get(host).is_some_and(|t| {
                    (now - *t)
                        .to_std()
                        .map_or(true, |age| age <= StuckRule::DEFAULT_ALIVE_WITHIN)
                })
            };
            if let Some((step, h, event)) = running.iter().find(|(_, h, _)| alive(&h.host)) {
                return Err(Error::InvalidState(format!(
                    "run {id}: step {} ({event}) is still running on {}; resume once it has stopped (a cancelled step stops within its service's cancel grace)",
                    step.index + 1,
                    h.host
                )));
            }
        }
        let (run, next) = self.store.resume_run(id, resume.vars).await?;
        self.launch(run, next).await
    }

    /// Cancels a pending, running or compensating run.
    pub async fn cancel(&self, id: Uuid) -> Result<Run> {
        self.store.cancel_run(id).await
    }

    /// Cancels a pending or running run and compensates what it did: the
    /// steps in flight are told to stop (`ctx.cancelled()`), and once none
    /// is, every succeeded step's compensation runs in reverse order (see
    /// [`Run::cancel_and_compensate`]).
    pub async fn cancel_and_compensate(&self, id: Uuid) -> Result<Run> {
        let (run, next) = self.store.cancel_and_compensate(id).await?;
        self.launch(run, next).await
    }

    /// A run by id, or [`Error::NotFound`].
    pub async fn get_run(&self, id: Uuid) -> Result<Run> {
        self.store
            .get_run(id)
            .await?
            .ok_or_else(|| Error::not_found("run", id.to_string()))
    }

    /// Runs, newest first ([`RunStore::list_runs`]); the records that do not
    /// parse are named in the page and in a warning in the log.
    ///
    /// A page is filled: where the store's query narrows less than the
    /// filter (its words, [`RunFilter::text`], are tested on each record
    /// read), the next pages are read until the page holds `limit` runs or
    /// no run is left, so a search goes over all runs, not the first page
    /// read.
    pub async fn list_runs(&self, filter: &RunFilter) -> Result<RunPage> {
        let mut page = self.store.list_runs(filter).await?;
        let want = filter.page_size();
        while page.runs.len() < want && !filter.text.is_empty() {
            let Some(next) = page.next.take() else { break };
            let more = self.store.list_runs(&filter.at(&next)).await?;
            page.runs.extend(more.runs);
            page.corrupt.extend(more.corrupt);
            page.next = more.next;
        }
        if page.runs.len() > want {
            page.runs.truncate(want);
            page.next = page.runs.last().map(RunCursor::of);
        }
        warn_corrupt(&page.corrupt);
        Ok(page)
    }

    /// The stuck steps of `runs` now (see [`StuckRule`]), after one read of
    /// the service instances.
    pub async fn stuck_steps(&self, runs: &[Run], rule: &StuckRule) -> Result<Vec<StuckStep>> {
        let active = |r: &Run| matches!(r.status, RunStatus::Running | RunStatus::Compensating);
        if !runs.iter().any(active) {
            return Ok(Vec::new());
        }
        let beats = self.heartbeats().await?;
        let now = Utc::now();
        Ok(runs
            .iter()
            .flat_map(|r| r.stuck_steps(now, |id| beats.get(id).copied(), rule))
            .collect())
    }

    /// Every stuck run (of `definition`, when given), newest first, with its
    /// stuck steps: all running and compensating runs are read, page by
    /// page. The records of those statuses that do not parse are returned too (whether they are stuck
    /// cannot be told), not logged.
    pub async fn stuck_runs(
        &self,
        definition: Option<&str>,
        rule: &StuckRule,
    ) -> Result<(Vec<StuckRun>, Vec<CorruptRun>)> {
        let beats = self.heartbeats().await?;
        let (mut stuck, mut corrupt) = (Vec::new(), Vec::new());
        // The runs something works on: running, or compensating.
        for status in [RunStatus::Running, RunStatus::Compensating] {
            let mut filter = RunFilter {
                status: Some(status),
                definition: definition.map(str::to_string),
                limit: 1000,
                ..RunFilter::default()
            };
            loop {
                let page = self.store.list_runs(&filter).await?;
                let now = Utc::now();
                for run in page.runs {
                    let steps = run.stuck_steps(now, |id| beats.get(id).copied(), rule);
                    if !steps.is_empty() {
                        stuck.push(StuckRun { run, steps });
                    }
                }
                corrupt.extend(page.corrupt);
                // The cursor moves past every page it names, so this ends.
                match page.next {
                    Some(next) => filter = filter.at(&next),
                    None => break,
                }
            }
        }
        stuck.sort_by_key(|s| std::cmp::Reverse((s.run.created_at, s.run.id)));
        // Not logged here: a metrics scrape runs this every few seconds; the
        // caller reports them (the metric counts them, the CLI names them).
        Ok((stuck, corrupt))
    }

    /// Each service instance's last heartbeat, by instance id.
    async fn heartbeats(&self) -> Result<HashMap<String, DateTime<Utc>>> {
        Ok(self
            .store
            .list_services()
            .await?
            .into_iter()
            .map(|s| (s.id, s.last_seen))
            .collect())
    }

    /// Waits until the run is finished and returns it; after `timeout`, returns
    /// it as it is.
    pub async fn wait_for_run(&self, id: Uuid, timeout: Duration) -> Result<Run> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut run = self.get_run(id).await?;
        while !run.status.is_finished() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            if let Some(newer) = self.store.wait_for_change(id, run.version, left).await? {
                run = newer;
            }
        }
        Ok(run)
    }

    /// Publishes `next`, the steps a run starts (or resumes) with. A step that
    /// cannot be published is recorded as failed (the run then compensates
    /// what it did, or fails) and its error returned.
    pub(crate) async fn launch(&self, run: Run, next: Vec<NextStep>) -> Result<Run> {
        // In the order given (a stack, so reversed), then what a refusal made due.
        let mut queue: Vec<NextStep> = next.into_iter().rev().collect();
        let mut refused = None;
        while let Some(next) = queue.pop() {
            match self.launch_one(&run, &next).await {
                Ok(()) => {}
                Err((e, outcome)) => {
                    // An undo, or the steps after an optional one, are then due.
                    if let Some(
                        FailOutcome::Compensate { next } | FailOutcome::Tolerated { next },
                    ) = outcome
                    {
                        queue.extend(next.into_iter().rev());
                    }
                    refused.get_or_insert(e);
                }
            }
        }
        match refused {
            Some(e) => Err(e),
            None => Ok(run),
        }
    }

    async fn launch_one(
        &self,
        run: &Run,
        next: &NextStep,
    ) -> std::result::Result<(), (Error, Option<FailOutcome>)> {
        let Err(e) = self
            .publisher
            .publish_step(
                run.id,
                &run.definition,
                next,
                &Parent::default().with_priority(Some(run.priority)),
            )
            .await
        else {
            return Ok(());
        };
        let reason = match &e {
            Error::Unroutable(exchange) => unroutable_reason(exchange),
            other => format!("could not publish it: {other}"),
        };
        match self.store.fail_unpublished(run.id, next, &reason).await {
            Ok(outcome) => Err((e, Some(outcome))),
            Err(record) => {
                tracing::error!(run_id = %run.id, step = next.index + 1, "{reason}; recording the step failed also failed: {record}");
                Err((e, None))
            }
        }
    }
}

/// Names the skipped records in the log, so they are seen where an operator
/// looks for trouble, not only by whoever reads the list.
fn warn_corrupt(corrupt: &[CorruptRun]) {
    if corrupt.is_empty() {
        return;
    }
    let ids: Vec<&str> = corrupt.iter().map(|c| c.id.as_str()).collect();
    warn!(count = corrupt.len(), ids = %ids.join(", "), "skipped corrupt run records in a list");
}
