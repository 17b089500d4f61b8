//! A store for tests that loses answers: every call goes to the store it wraps,
//! and a call armed with [`FaultyStore::lose_answers`] is applied there but
//! answers a store error, as when the server dies (or the connection drops)
//! after a write and before its reply. Counts the calls of each operation.
//! Uses the store seam only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::model::{
    ClaimOutcome, CompleteOutcome, Definition, FailOutcome, LogRecord, NextStep, Run, RunFilter,
    RunPage, ServiceRecord, Signal, SignalOutcome, StepKey, TopicRecord, Variables,
};
use crate::store::RunStore;

/// Wraps a store; see the module doc.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// use isoqube::{Definition, RunStore, SqliteStore};
/// let path = std::env::temp_dir().join(format!("isoqube-faulty-doc-{}.db", std::process::id()));
/// let inner: Arc<dyn RunStore> = Arc::new(SqliteStore::open(&path).await.unwrap());
/// let store = isoqube::testing::FaultyStore::new(inner.clone());
/// store.lose_answers("create_definition", 1);
/// let def = Definition::new(format!("d{}", uuid::Uuid::new_v4().simple()), ["A"]);
/// assert!(store.create_definition(&def).await.is_err(), "the answer is lost");
/// assert!(inner.get_definition(&def.name).await.unwrap().is_some(), "the write landed");
/// assert_eq!(store.calls("create_definition"), 1);
/// # });
/// ```
pub struct FaultyStore {
    inner: Arc<dyn RunStore>,
    calls: Mutex<HashMap<&'static str, usize>>,
    to_lose: Mutex<HashMap<&'static str, usize>>,
}

impl FaultyStore {
    /// A store answering as `inner` does until told otherwise.
    pub fn new(inner: Arc<dyn RunStore>) -> Arc<Self> {
        Arc::new(FaultyStore {
            inner,
            calls: Mutex::default(),
            to_lose: Mutex::default(),
        })
    }

    /// The next `n` calls of `op` (a [`RunStore`] method's name, such as
    /// `"complete_step"`) are applied but answer [`Error::Store`].
    pub fn lose_answers(&self, op: &'static str, n: usize) {
        *lock(&self.to_lose).entry(op).or_default() += n;
    }

    /// How many times `op` was called.
    pub fn calls(&self, op: &'static str) -> usize {
        lock(&self.calls).get(op).copied().unwrap_or(0)
    }

    fn counted(&self, op: &'static str) -> &dyn RunStore {
        *lock(&self.calls).entry(op).or_default() += 1;
        self.inner.as_ref()
    }

    /// `result`, or the lost answer when `op` is armed.
    fn answer<T>(&self, op: &'static str, result: Result<T>) -> Result<T> {
        let mut to_lose = lock(&self.to_lose);
        match to_lose.get_mut(op) {
            Some(n) if *n > 0 => {
                *n -= 1;
                Err(Error::Store(format!(
                    "{op}: the answer was lost (FaultyStore; the call was applied)"
                )))
            }
            _ => result,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A test that panicked while holding it leaves counts that are still right.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The seam's implementation: each method goes to the wrapped store, counted,
/// its answer maybe lost. (The whole impl is generated so that `async_trait`
/// sees the methods expanded.)
macro_rules! delegate {
    ($( fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $out:ty; )*) => {
        #[async_trait]
        impl RunStore for FaultyStore {
            fn kind(&self) -> &'static str {
                self.inner.kind()
            }
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $out {
                    let result = self.counted(stringify!($name)).$name($($arg),*).await;
                    self.answer(stringify!($name), result)
                }
            )*
        }
    };
}

delegate! {
        fn ping(&self) -> Result<()>;
        fn create_definition(&self, def: &Definition) -> Result<()>;
        fn update_definition(&self, def: &Definition) -> Result<()>;
        fn get_definition(&self, name: &str) -> Result<Option<Definition>>;
        fn list_definitions(&self) -> Result<Vec<Definition>>;
        fn delete_definition(&self, name: &str) -> Result<bool>;
        fn insert_run(&self, run: &Run) -> Result<()>;
        fn get_run(&self, id: Uuid) -> Result<Option<Run>>;
        fn list_runs(&self, filter: &RunFilter) -> Result<RunPage>;
        fn run_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<Uuid>>;
        fn delete_run(&self, id: Uuid) -> Result<bool>;
        fn claim_step(&self, key: &StepKey, redelivered: bool) -> Result<ClaimOutcome>;
        fn claim_step_unrecorded(&self, key: &StepKey) -> Result<(ClaimOutcome, bool)>;
        fn complete_step(&self, key: &StepKey, patch: Variables, attempts: u32) -> Result<CompleteOutcome>;
        fn fail_step(&self, key: &StepKey, error: &str, attempts: u32) -> Result<FailOutcome>;
        fn cancel_run(&self, id: Uuid) -> Result<Run>;
        fn cancel_and_compensate(&self, id: Uuid) -> Result<(Run, Vec<NextStep>)>;
        fn resume_run(&self, id: Uuid, vars: Variables) -> Result<(Run, Vec<NextStep>)>;
        fn fail_unpublished(&self, id: Uuid, next: &NextStep, reason: &str) -> Result<FailOutcome>;
        fn signal_run(&self, id: Uuid, signal: &Signal) -> Result<(Run, SignalOutcome)>;
        fn retry_step_later(&self, key: &StepKey, error: &str, attempts: u32, at: DateTime<Utc>) -> Result<Option<FailOutcome>>;
        fn runs_to_wake(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Uuid>>;
        fn fire_timers(&self, id: Uuid) -> Result<(Run, Vec<NextStep>)>;
        fn register_service(&self, service: &ServiceRecord) -> Result<()>;
        fn heartbeat(&self, service_id: &str, at: DateTime<Utc>) -> Result<()>;
        fn remove_service(&self, service_id: &str) -> Result<()>;
        fn list_services(&self) -> Result<Vec<ServiceRecord>>;
        fn upsert_topics(&self, topics: &[TopicRecord]) -> Result<()>;
        fn list_topics(&self) -> Result<Vec<TopicRecord>>;
        fn claim_tick(&self, key: &str, due: DateTime<Utc>) -> Result<bool>;
        fn last_tick(&self, key: &str) -> Result<Option<DateTime<Utc>>>;
        fn append_logs(&self, logs: &[LogRecord]) -> Result<()>;
        fn run_logs(&self, run_id: Uuid, skip: usize) -> Result<Vec<LogRecord>>;
        fn close(&self) -> Result<()>;
        fn wait_for_change(&self, id: Uuid, seen_version: u64, timeout: Duration) -> Result<Option<Run>>;
}
