//! Engine layer: the scheduler loop that starts runs of scheduled definitions
//! when they are due (the schedule data and its arithmetic are the model's,
//! [`crate::model::schedule`]). Uses the control actions and the `RunStore`.
//!
//! Several schedulers may run at once (one per control center instance): each
//! due time is claimed in the store with one conditional write
//! ([`RunStore::claim_tick`]), so it starts exactly one run whoever gets there
//! first.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::engine::control::Control;
use crate::error::Result;
use crate::model::schedule::{tick_key, Missed, Schedule, Timing};
use crate::store::RunStore;

/// Starts runs of scheduled definitions when they are due.
///
/// It keeps each enabled schedule's next due time in memory, so a tick with
/// nothing due makes no store call, whatever the number of definitions. It
/// lists the definitions again every few seconds to see new and changed
/// schedules, and reads a definition again before claiming its due time, so a
/// schedule turned off or deleted since the last listing does not fire.
///
/// ```no_run
/// # async fn f(control: isoqube::Control) -> isoqube::Result<()> {
/// let scheduler = isoqube::schedule::Scheduler::start(control, "cc-1");
/// // ... later
/// scheduler.stop().await;
/// # Ok(()) }
/// ```
pub struct Scheduler {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// How often the scheduler looks at the clock for due times.
pub const TICK: Duration = Duration::from_millis(200);

/// How often the scheduler lists the definitions again (one store call, the
/// only one a tick with nothing due makes).
const RELIST: Duration = Duration::from_secs(5);

impl Scheduler {
    /// Starts the loop; `instance` names this scheduler in logs and `started_by`.
    pub fn start(control: Control, instance: impl Into<String>) -> Scheduler {
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(scheduler_loop(control, instance.into(), rx));
        Scheduler { stop, task }
    }

    /// Stops the loop and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn scheduler_loop(control: Control, instance: String, mut stop: watch::Receiver<bool>) {
    let store = control.store().clone();
    let mut plan = Plan::default();
    loop {
        if *stop.borrow() {
            return;
        }
        if let Err(e) = plan.tick(&control, &store, &instance, Utc::now()).await {
            tracing::warn!(scheduler = %instance, "scheduler pass failed: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => return,
        }
    }
}

/// (definition, schedule id).
type Key = (String, String);

/// One enabled schedule as this instance sees it.
struct Entry {
    /// As last read from the store, to notice changes.
    schedule: Schedule,
    /// `None` when invalid (warned once, when read).
    timing: Option<Timing>,
    /// Due times up to here are handled (or were skipped by the first look).
    since: DateTime<Utc>,
    /// The first due time after `since`; the entry is queued under it.
    next: Option<DateTime<Utc>>,
}

/// The scheduler's memory: every enabled schedule and a queue by next due time.
#[derive(Default)]
struct Plan {
    entries: HashMap<Key, Entry>,
    queue: BTreeSet<(DateTime<Utc>, Key)>,
    /// When the definitions were last listed.
    listed: Option<Instant>,
    /// The time of the last tick that went through: due times up to it were
    /// looked at for every schedule, which is where a changed schedule starts.
    looked: Option<DateTime<Utc>>,
}

impl Plan {
    /// One pass: list the definitions when it is time, then start what is due.
    /// A store error ends the pass; what was not handled is handled next pass.
    async fn tick(
        &mut self,
        control: &Control,
        store: &Arc<dyn RunStore>,
        instance: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if self.listed.is_none_or(|at| at.elapsed() >= RELIST) {
            self.relist(store, now).await?;
            self.listed = Some(Instant::now());
        }
        while let Some((at, key)) = self.queue.first().cloned() {
            if at > now {
                break;
            }
            self.fire(control, store, instance, key, now).await?;
        }
        self.looked = Some(now);
        Ok(())
    }

    /// Brings the entries in line with the stored definitions.
    async fn relist(&mut self, store: &Arc<dyn RunStore>, now: DateTime<Utc>) -> Result<()> {
        let mut listed = HashSet::new();
        for def in store.list_definitions().await? {
            for s in def.schedules.iter().filter(|s| s.enabled) {
                let key = (def.name.clone(), s.id.clone());
                if !listed.insert(key.clone()) {
                    continue; // a duplicate id: the first one counts
                }
                let since = match self.entries.get(&key) {
                    Some(e) if e.schedule == *s => continue,
                    Some(e) => self.changed_since(e),
                    None => match s.missed {
                        // First look: missed times since the last claimed tick
                        // (or since the definition was saved) are skipped or
                        // run once.
                        Missed::Skip => now,
                        Missed::RunOnce => store
                            .last_tick(&tick_key(&def.name, &s.id))
                            .await?
                            .unwrap_or(def.modified_at),
                    },
                };
                self.set(key, s.clone(), since);
            }
        }
        let gone: Vec<Key> = self
            .entries
            .keys()
            .filter(|k| !listed.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            self.forget(&key);
        }
        Ok(())
    }

    /// Where a schedule that changed starts: due times of its new form are
    /// looked for only after what this instance had looked at already.
    fn changed_since(&self, old: &Entry) -> DateTime<Utc> {
        self.looked.map_or(old.since, |t| t.max(old.since))
    }

    /// Records (or replaces) a schedule's entry and queues its next due time.
    fn set(&mut self, key: Key, schedule: Schedule, since: DateTime<Utc>) {
        self.forget(&key);
        let timing = match schedule.timing() {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(definition = %key.0, schedule = %key.1, "{e}");
                None
            }
        };
        let next = timing.as_ref().and_then(|t| t.next_after(since));
        if let Some(at) = next {
            self.queue.insert((at, key.clone()));
        }
        self.entries.insert(
            key,
            Entry {
                schedule,
                timing,
                since,
                next,
            },
        );
    }

    fn forget(&mut self, key: &Key) {
        if let Some(old) = self.entries.remove(key) {
            if let Some(at) = old.next {
                self.queue.remove(&(at, key.clone()));
            }
        }
    }

    /// Handles a schedule whose next due time has come: claims the last due
    /// time up to `now` and starts its run. Every way out but a store error
    /// moves the schedule's place in the queue past `now`.
    async fn fire(
        &mut self,
        control: &Control,
        store: &Arc<dyn RunStore>,
        instance: &str,
        key: Key,
        now: DateTime<Utc>,
    ) -> Result<()> {
        // The listing may be seconds old: the schedule must still be on, and
        // fire as it is now.
        let def = store.get_definition(&key.0).await?;
        let current = def
            .as_ref()
            .and_then(|d| d.schedules.iter().find(|s| s.enabled && s.id == key.1));
        let Some(current) = current else {
            self.forget(&key);
            return Ok(());
        };
        let Some(entry) = self.entries.get(&key) else {
            self.queue.retain(|(_, k)| *k != key);
            return Ok(());
        };
        if entry.schedule != *current {
            let since = self.changed_since(entry);
            self.set(key.clone(), current.clone(), since);
        }
        let Some(entry) = self.entries.get_mut(&key) else {
            return Ok(());
        };
        let Some(timing) = &entry.timing else {
            return Ok(()); // invalid: `set` did not queue it
        };
        let due = timing.last_due_in(entry.since, now);
        let next = timing.next_after(now);
        if let Some(at) = entry.next {
            self.queue.remove(&(at, key.clone()));
        }
        if let Some(at) = next {
            self.queue.insert((at, key.clone()));
        }
        entry.since = now;
        entry.next = next;
        let Some(due) = due else { return Ok(()) };
        let (name, id) = (&key.0, &key.1);
        if store.claim_tick(&tick_key(name, id), due).await? {
            let mut vars = current.variables.clone();
            vars.insert("scheduled_at".into(), due.to_rfc3339().into());
            match control
                .start(
                    crate::StartRun::new(name)
                        .vars(vars)
                        .started_by(format!("schedule:{id}@{instance}")),
                )
                .await
            {
                Ok(run) => {
                    tracing::info!(definition = %name, schedule = %id, run_id = %run.id, due = %due, "scheduled run started")
                }
                Err(e) => {
                    tracing::warn!(definition = %name, schedule = %id, "scheduled run did not start: {e}")
                }
            }
        }
        Ok(())
    }
}
