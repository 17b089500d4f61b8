//! Engine layer: runs that wait. Delivers signals to runs (by the run's id,
//! or by a wait step's `correlate` key) and publishes what a signal made due;
//! fires the store's timers (a wait's deadline) from every service, so no
//! process beyond the services is needed. The transitions are the model's
//! ([`crate::model::Run::signal`], [`crate::model::Run::fire_timers`]).
//! Uses the control actions, the `RunStore` and the transport's reach.
//!
//! A timer lives in the store, not in memory: each waiting run's earliest
//! deadline is an indexed field ([`Run::wake_at`]), so 10,000 waiting runs
//! cost a service nothing but one index query per tick. Firing is one
//! conditional write: of several processes that see one run due, one changes
//! it, the others find nothing left to do.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use futures_util::stream::{self, StreamExt};
use tokio::sync::watch;
use tracing::{debug, error, warn};
use uuid::Uuid;

use crate::engine::control::Control;
use crate::engine::service::REBIND_EVERY;
use crate::error::{Error, Result};
use crate::model::{
    camel_case, field_of, Run, RunFilter, RunStatus, Signal, SignalOutcome, Variables,
};

/// How often a service looks for timers whose time has come: a timer fires
/// within this (and the store's round trip) of its time.
pub const TIMER_TICK: Duration = Duration::from_millis(250);

/// Runs read per index query; a full batch is followed by another at once.
const WAKE_BATCH: usize = 500;

/// Runs fired at once (each is a store write, then its publishes).
const FIRE_AT_ONCE: usize = 32;

impl Control {
    /// Delivers `signal` to run `id` (see [`Run::signal`]) and publishes what
    /// it made due. A signal nothing of the run waits for, now or later, is
    /// refused with the reason ([`Error::InvalidState`]): nothing is kept.
    pub async fn signal(&self, id: Uuid, signal: Signal) -> Result<(Run, SignalOutcome)> {
        self.get_run(id).await?;
        self.ensure_deliverable().await?;
        let (run, outcome) = self.store().signal_run(id, &signal).await?;
        let next = match &outcome {
            SignalOutcome::NoMatch(why) => return Err(Error::InvalidState(why.clone())),
            SignalOutcome::Completed { next, .. } => next.clone(),
            SignalOutcome::AlreadyDone { republish } => republish.clone(),
            SignalOutcome::Finished { .. } | SignalOutcome::Kept { .. } => Vec::new(),
        };
        let run = self.launch(run, next).await?;
        Ok((run, outcome))
    }

    /// Delivers a signal that names no run: to every pending or running run
    /// of a definition that has a wait for `signal.event` with a `correlate`
    /// key whose value in the event (`key`, or its camelCase form) equals
    /// the run's variable of that name. Returns the runs it reached with
    /// what it did to each; none reached is an error naming what was looked
    /// for.
    pub async fn signal_matching(&self, signal: Signal) -> Result<Vec<(Uuid, SignalOutcome)>> {
        let keys = self.correlation_keys(&signal.event).await?;
        let mut looked_for = Vec::new();
        let mut reached = Vec::new();
        for (definition, key) in keys {
            let Some(value) = field_of(&signal.data, &key) else {
                looked_for.push(format!("{definition}: field {key} (absent from the event)"));
                continue;
            };
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            looked_for.push(format!("{definition}: {key} = {text}"));
            let filter = RunFilter {
                definition: Some(definition),
                statuses: vec![RunStatus::Pending, RunStatus::Running],
                variables: vec![(key, text)],
                limit: 1000,
                ..Default::default()
            };
            for run in self.list_runs(&filter).await?.runs {
                // Each run takes the signal as its own (its id is the run's
                // and the message's), so a redelivery acts once per run.
                let mut own = signal.clone();
                own.id = Uuid::new_v5(&signal.id, run.id.as_bytes());
                match self.signal(run.id, own).await {
                    Ok((_, outcome)) => reached.push((run.id, outcome)),
                    Err(Error::InvalidState(why)) => debug!(run_id = %run.id, "{why}"),
                    Err(e) => return Err(e),
                }
            }
        }
        if reached.is_empty() {
            return Err(Error::InvalidState(if looked_for.is_empty() {
                format!(
                    "no definition waits for {} with a correlate key",
                    signal.event
                )
            } else {
                format!(
                    "no pending or running run waits for {}: looked for {}",
                    signal.event,
                    looked_for.join("; ")
                )
            }));
        }
        Ok(reached)
    }

    /// Refuses a wait whose `correlate` key no field of its event can match
    /// (by the event's schema hint: its fields as this binary or a service
    /// registered them; an event without one is not checked).
    pub(crate) async fn check_correlation(&self, def: &crate::model::Definition) -> Result<()> {
        let keyed = def
            .steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s, s.wait.as_ref()?.correlate.as_deref()?)));
        let mut topics = None;
        for (i, step, key) in keyed {
            let fields: Vec<String> = match self.registry().event(&step.event) {
                Some(info) => info.fields.iter().map(|f| field_name(f)).collect(),
                None => {
                    if topics.is_none() {
                        topics = Some(self.store().list_topics().await?);
                    }
                    topics
                        .iter()
                        .flatten()
                        .filter(|t| t.name == step.event)
                        .flat_map(|t| t.schema.iter().map(|f| field_name(f)))
                        .collect()
                }
            };
            let matches = |f: &String| f == key || camel_case(f) == camel_case(key);
            if !fields.is_empty() && !fields.iter().any(matches) {
                return Err(Error::InvalidDefinition(format!(
                    "step {} ({}) of '{}' is matched by correlate = \"{key}\", but event {} has no field {key} (or {}); its fields: {}",
                    i + 1,
                    step.name(),
                    def.name,
                    step.event,
                    camel_case(key),
                    fields.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// (definition, key) of every wait for `event` that names a correlate key.
    async fn correlation_keys(&self, event: &str) -> Result<Vec<(String, String)>> {
        let mut keys = Vec::new();
        for def in self.store().list_definitions().await? {
            for step in def.steps.iter().filter(|s| s.event == event) {
                if let Some(key) = step.wait.as_ref().and_then(|w| w.correlate.clone()) {
                    if !keys.contains(&(def.name.clone(), key.clone())) {
                        keys.push((def.name.clone(), key));
                    }
                }
            }
        }
        Ok(keys)
    }

    /// Fires run `id`'s timers whose time has come (see [`Run::fire_timers`])
    /// and publishes what that made due (the steps after an optional wait,
    /// or the compensations of a failed one).
    pub async fn fire_timers(&self, id: Uuid) -> Result<Run> {
        let (run, next) = self.store().fire_timers(id).await?;
        self.launch(run, next).await
    }

    /// Fires every run whose timer is due now; returns how many it fired.
    /// Does nothing while the transport cannot deliver (what a timer makes
    /// due would fail as unpublishable): the timers wait in the store.
    pub async fn fire_due_timers(&self) -> Result<usize> {
        self.fire_due(&mut HashSet::new()).await
    }

    /// [`Self::fire_due_timers`], leaving out the runs of `corrupt` and
    /// adding to it the runs whose record does not parse (reported once:
    /// retrying cannot help).
    async fn fire_due(&self, corrupt: &mut HashSet<Uuid>) -> Result<usize> {
        if self.ensure_deliverable().await.is_err() {
            return Ok(0);
        }
        let mut fired = 0;
        loop {
            let due = self.store().runs_to_wake(Utc::now(), WAKE_BATCH).await?;
            let full = due.len() == WAKE_BATCH;
            let results: Vec<(Uuid, Result<Run>)> = stream::iter(due)
                .filter(|id| std::future::ready(!corrupt.contains(id)))
                .map(|id| async move { (id, self.fire_timers(id).await) })
                .buffer_unordered(FIRE_AT_ONCE)
                .collect()
                .await;
            let before = fired;
            for (id, result) in results {
                match result {
                    Ok(_) => fired += 1,
                    Err(e @ Error::Corrupt { .. }) => {
                        error!(run_id = %id, "its timer cannot fire: {e}");
                        corrupt.insert(id);
                    }
                    Err(e) => warn!(run_id = %id, "could not fire the run's timer: {e}"),
                }
            }
            // A full batch: more are due now (10,000 in one second, say).
            if !full || fired == before {
                return Ok(fired);
            }
        }
    }
}

/// Fires due timers every [`TIMER_TICK`] until `stop` says so; binds the
/// waits of definitions saved since, every [`REBIND_EVERY`].
pub(crate) async fn timer_loop(control: Control, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(TIMER_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut bound = tokio::time::Instant::now();
    let mut corrupt = HashSet::new();
    loop {
        if bound.elapsed() >= REBIND_EVERY {
            bound = tokio::time::Instant::now();
            if let Err(e) = control.declare_signal_endpoint().await {
                debug!("could not bind the waits of the definitions now: {e}");
            }
        }
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        if let Err(e) = control.fire_due(&mut corrupt).await {
            warn!("could not look for due timers: {e}");
        }
    }
}

/// A field's name in a schema hint (`order_id: String`).
fn field_name(field: &str) -> String {
    field
        .split(':')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The data of a signal from `--var K=V` pairs and a JSON object.
pub fn signal_data(json: Option<&str>, vars: Variables) -> Result<Variables> {
    let mut data = match json {
        None => Variables::new(),
        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(_) => return Err(Error::Malformed("a signal's data is a JSON object".into())),
            Err(e) => {
                return Err(Error::Malformed(format!(
                    "a signal's data is not JSON: {e}"
                )))
            }
        },
    };
    data.extend(vars);
    Ok(data)
}
