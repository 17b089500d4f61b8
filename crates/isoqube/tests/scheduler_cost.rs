//! What the scheduler costs the store: with 10,000 scheduled definitions, ticks
//! with nothing due make (almost) no store calls and read no definitions again,
//! and a schedule turned off stops firing at once, though the scheduler lists
//! the definitions only every few seconds.
//!
//! The store is the embedded SQLite one behind a wrapper that counts calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Timelike, Utc};
use isoqube::model::{ClaimOutcome, CompleteOutcome, FailOutcome};
use isoqube::schedule::{Schedule, Scheduler, When};
use isoqube::{
    model::LogRecord, model::NextStep, model::ServiceRecord, model::StepKey, model::TopicRecord,
    Control, Definition, InProcessTransport, Run, RunFilter, RunStore, SqliteStore, Variables,
};
use uuid::Uuid;

/// Counts the calls that reach the store, and the definitions listed.
struct Counting {
    inner: Arc<dyn RunStore>,
    calls: AtomicUsize,
    lists: AtomicUsize,
    listed: AtomicUsize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    calls: usize,
    lists: usize,
    listed: usize,
}

impl Counting {
    fn new(inner: Arc<dyn RunStore>) -> Arc<Counting> {
        Arc::new(Counting {
            inner,
            calls: AtomicUsize::new(0),
            lists: AtomicUsize::new(0),
            listed: AtomicUsize::new(0),
        })
    }

    fn counts(&self) -> Counts {
        Counts {
            calls: self.calls.load(Ordering::SeqCst),
            lists: self.lists.load(Ordering::SeqCst),
            listed: self.listed.load(Ordering::SeqCst),
        }
    }

    fn call(&self) -> &dyn RunStore {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.as_ref()
    }
}

#[async_trait]
impl RunStore for Counting {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn ping(&self) -> isoqube::Result<()> {
        self.call().ping().await
    }
    async fn create_definition(&self, def: &Definition) -> isoqube::Result<()> {
        self.call().create_definition(def).await
    }
    async fn update_definition(&self, def: &Definition) -> isoqube::Result<()> {
        self.call().update_definition(def).await
    }
    async fn get_definition(&self, name: &str) -> isoqube::Result<Option<Definition>> {
        self.call().get_definition(name).await
    }
    async fn list_definitions(&self) -> isoqube::Result<Vec<Definition>> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        let all = self.call().list_definitions().await?;
        self.listed.fetch_add(all.len(), Ordering::SeqCst);
        Ok(all)
    }
    async fn delete_definition(&self, name: &str) -> isoqube::Result<bool> {
        self.call().delete_definition(name).await
    }
    async fn insert_run(&self, run: &Run) -> isoqube::Result<()> {
        self.call().insert_run(run).await
    }
    async fn get_run(&self, id: Uuid) -> isoqube::Result<Option<Run>> {
        self.call().get_run(id).await
    }
    async fn list_runs(&self, filter: &RunFilter) -> isoqube::Result<isoqube::model::RunPage> {
        self.call().list_runs(filter).await
    }
    async fn delete_run(&self, id: Uuid) -> isoqube::Result<bool> {
        self.call().delete_run(id).await
    }
    async fn claim_step(&self, key: &StepKey, redelivered: bool) -> isoqube::Result<ClaimOutcome> {
        self.call().claim_step(key, redelivered).await
    }
    async fn claim_step_unrecorded(&self, key: &StepKey) -> isoqube::Result<(ClaimOutcome, bool)> {
        self.call().claim_step_unrecorded(key).await
    }
    async fn complete_step(
        &self,
        key: &StepKey,
        patch: Variables,
        attempts: u32,
    ) -> isoqube::Result<CompleteOutcome> {
        self.call().complete_step(key, patch, attempts).await
    }
    async fn fail_step(
        &self,
        key: &StepKey,
        error: &str,
        attempts: u32,
    ) -> isoqube::Result<FailOutcome> {
        self.call().fail_step(key, error, attempts).await
    }
    async fn cancel_run(&self, id: Uuid) -> isoqube::Result<Run> {
        self.call().cancel_run(id).await
    }
    async fn cancel_and_compensate(&self, id: Uuid) -> isoqube::Result<(Run, Vec<NextStep>)> {
        self.call().cancel_and_compensate(id).await
    }
    async fn resume_run(
        &self,
        id: Uuid,
        vars: isoqube::Variables,
    ) -> isoqube::Result<(Run, Vec<NextStep>)> {
        self.call().resume_run(id, vars).await
    }
    async fn retry_step_later(
        &self,
        key: &isoqube::model::StepKey,
        error: &str,
        attempts: u32,
        at: chrono::DateTime<chrono::Utc>,
    ) -> isoqube::Result<Option<isoqube::model::FailOutcome>> {
        self.call().retry_step_later(key, error, attempts, at).await
    }
    async fn signal_run(
        &self,
        id: Uuid,
        signal: &isoqube::model::Signal,
    ) -> isoqube::Result<(Run, isoqube::model::SignalOutcome)> {
        self.call().signal_run(id, signal).await
    }
    async fn runs_to_wake(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> isoqube::Result<Vec<Uuid>> {
        self.call().runs_to_wake(now, limit).await
    }
    async fn fire_timers(&self, id: Uuid) -> isoqube::Result<(Run, Vec<NextStep>)> {
        self.call().fire_timers(id).await
    }
    async fn fail_unpublished(
        &self,
        id: Uuid,
        next: &NextStep,
        reason: &str,
    ) -> isoqube::Result<FailOutcome> {
        self.call().fail_unpublished(id, next, reason).await
    }
    async fn register_service(&self, service: &ServiceRecord) -> isoqube::Result<()> {
        self.call().register_service(service).await
    }
    async fn heartbeat(&self, service_id: &str, at: DateTime<Utc>) -> isoqube::Result<()> {
        self.call().heartbeat(service_id, at).await
    }
    async fn remove_service(&self, service_id: &str) -> isoqube::Result<()> {
        self.call().remove_service(service_id).await
    }
    async fn list_services(&self) -> isoqube::Result<Vec<ServiceRecord>> {
        self.call().list_services().await
    }
    async fn upsert_topics(&self, topics: &[TopicRecord]) -> isoqube::Result<()> {
        self.call().upsert_topics(topics).await
    }
    async fn list_topics(&self) -> isoqube::Result<Vec<TopicRecord>> {
        self.call().list_topics().await
    }
    async fn claim_tick(&self, key: &str, due: DateTime<Utc>) -> isoqube::Result<bool> {
        self.call().claim_tick(key, due).await
    }
    async fn last_tick(&self, key: &str) -> isoqube::Result<Option<DateTime<Utc>>> {
        self.call().last_tick(key).await
    }
    async fn append_logs(&self, logs: &[LogRecord]) -> isoqube::Result<()> {
        self.call().append_logs(logs).await
    }
    async fn run_logs(&self, run_id: Uuid, skip: usize) -> isoqube::Result<Vec<LogRecord>> {
        self.call().run_logs(run_id, skip).await
    }
    async fn wait_for_change(
        &self,
        id: Uuid,
        seen_version: u64,
        timeout: Duration,
    ) -> isoqube::Result<Option<Run>> {
        self.call().wait_for_change(id, seen_version, timeout).await
    }
}

async fn sqlite(name: &str) -> Arc<dyn RunStore> {
    let dir = std::env::temp_dir().join("isoqube-tests");
    let path = dir.join(format!("{name}-{}.db", Uuid::new_v4()));
    Arc::new(SqliteStore::open(&path).await.expect("sqlite store"))
}

fn control(store: Arc<Counting>) -> Control {
    Control::new(store, Arc::new(InProcessTransport::new())).expect("control")
}

/// 10,000 definitions, each with a schedule that is not due while the test
/// runs (intervals of ten years, one-offs next year, and daily cron times half
/// a day away). After the first listing, a 3 s window (15 ticks) costs the
/// store nothing: not a listing per tick (the next is 5 s after the first),
/// and no call per definition.
///
/// On paused time: the window's ticks come as fast as the scheduler takes
/// them. A store call lets tokio move the clock on while it waits for the
/// store's thread, so a call in the window ends the window; hence the count
/// must be zero, not small.
#[tokio::test(start_paused = true)]
async fn idle_ticks_cost_the_store_nothing_per_definition() {
    const DEFINITIONS: usize = 10_000;
    let inner = sqlite("scheduler-cost").await;
    let far_hour = (Utc::now().hour() + 12) % 24;
    let next_year = Utc::now() + chrono::TimeDelta::days(365);
    for n in 0..DEFINITIONS {
        let when = match n % 100 {
            0 => When::Cron {
                expr: format!("{} {far_hour} * * *", n % 60),
                tz: "UTC".into(),
            },
            1..=9 => When::Once { at: next_year },
            _ => When::Interval {
                every_secs: 10 * 365 * 24 * 3_600,
            },
        };
        let mut def = Definition::new(format!("def-{n:05}"), ["Step"]);
        def.schedules = vec![Schedule::new("s", when)];
        inner.create_definition(&def).await.expect("definition");
    }
    let store = Counting::new(inner);
    let scheduler = Scheduler::start(control(store.clone()), "cost");
    // The first pass lists everything once; the window starts when that
    // listing has come back. The listing takes the store's real time, so the
    // deadline is on the wall clock.
    let started = std::time::Instant::now();
    while store.counts().listed < DEFINITIONS {
        assert!(started.elapsed() < Duration::from_secs(30), "never listed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = store.counts();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = store.counts();
    scheduler.stop().await;
    let (calls, lists, listed) = (
        after.calls - before.calls,
        after.lists - before.lists,
        after.listed - before.listed,
    );
    println!(
        "in 3 s of idle ticks: {calls} store calls, {lists} listings, {listed} definitions read"
    );
    assert!(
        calls == 0 && lists == 0 && listed == 0,
        "idle ticks called the store {calls} times ({lists} listings, \
         {listed} definitions read)"
    );
}

/// A schedule turned off between two listings does not fire again: its
/// definition is read again before a due time is claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_turned_off_stops_at_once() {
    let store = Counting::new(sqlite("scheduler-off").await);
    let control = control(store.clone());
    let mut def = Definition::new("ticking", ["Step"]);
    def.schedules = vec![Schedule::new(
        "each-second",
        When::Interval { every_secs: 1 },
    )];
    store.create_definition(&def).await.expect("definition");
    let runs = || async {
        store
            .list_runs(&RunFilter {
                definition: Some("ticking".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .expect("runs")
            .runs
            .len()
    };
    let scheduler = Scheduler::start(control, "off");
    let started = tokio::time::Instant::now();
    while runs().await == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "never fired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    def.schedules[0].enabled = false;
    store.update_definition(&def).await.expect("update");
    let off = runs().await;
    // Three due times go by: not firing is the behaviour under test, so this
    // waits for them (on the wall clock, as the scheduler does). A tick that
    // read the definition just before the update may still start one run.
    tokio::time::sleep(Duration::from_secs(3)).await;
    scheduler.stop().await;
    let after = runs().await;
    assert!(
        after <= off + 1,
        "a schedule turned off fired: {off} then {after}"
    );
}
