//! The store conformance suite: every operation of the `RunStore` seam, written
//! once and instantiated per store (`store_sqlite.rs`, `store_mongo.rs`) through
//! `conformance_tests!`. Transition outcomes are checked against the pure model
//! (`Run::claim` & co. applied to an in-memory copy), so every store gives
//! exactly the outcomes the model defines.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use isoqube::model::{ClaimOutcome, CompleteOutcome, FailOutcome};
use isoqube::{
    model::CorruptRun, model::LogRecord, model::RunPage, model::ServiceRecord, model::StepKey,
    model::TopicRecord, Definition, Error, Run, RunFilter, RunStatus, RunStore, StepStatus,
    Variables,
};
use serde_json::json;
use uuid::Uuid;

mod compensation;
mod deletion;
pub use compensation::*;
pub use deletion::*;

/// Writes a run document that does not parse, under the given id.
pub type Corrupt = Box<dyn Fn(Uuid) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Removes a field from a stored document, as a document written by an
/// earlier version lacks it: `(collection, key, field)` with collection
/// `"runs"` (key: the run id) or `"definitions"` (key: the name).
pub type Unset = Box<
    dyn Fn(&'static str, String, &'static str) -> Pin<Box<dyn Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// A fresh, empty store for one test, and a way to break a document in it.
pub struct Fixture {
    pub store: Arc<dyn RunStore>,
    /// More handles on the same data (own connections, as other processes
    /// would have): the concurrency cases race across all of them.
    pub peers: Vec<Arc<dyn RunStore>>,
    pub corrupt_run: Corrupt,
    pub unset_field: Unset,
}

impl Fixture {
    /// The store handle task `i` of a race uses.
    fn handle(&self, i: usize) -> Arc<dyn RunStore> {
        let n = self.peers.len() + 1;
        match i % n {
            0 => self.store.clone(),
            k => self.peers[k - 1].clone(),
        }
    }
}

fn vars(v: serde_json::Value) -> Variables {
    match v {
        serde_json::Value::Object(m) => m,
        _ => Variables::new(),
    }
}

fn def3(name: &str) -> Definition {
    Definition::new(name, ["A", "B", "C"])
        .with_description("three steps")
        .with_variables(vars(json!({"who": "suite", "n": 1})))
}

pub(crate) fn new_run(name: &str) -> Run {
    Run::new(&def3(name), vars(json!({"n": 2})), "test")
}

/// Applies each transition to the store and to an in-memory model copy and
/// checks both give the same outcome.
struct Mirror {
    store: Arc<dyn RunStore>,
    model: Run,
    /// The handling every key names (see `StepKey::handling`), if any.
    handling: Option<Uuid>,
}

impl Mirror {
    async fn new(store: &Arc<dyn RunStore>, def: &str) -> Self {
        let run = new_run(def);
        store.insert_run(&run).await.unwrap();
        Mirror {
            store: store.clone(),
            model: run,
            handling: None,
        }
    }

    fn key(&self, step: usize, ep: &str) -> StepKey {
        let key = StepKey::new(self.model.id, step, ep, "host-1");
        match self.handling {
            Some(id) => key.handled(id),
            None => key,
        }
    }

    async fn claim(&mut self, step: usize, ep: &str, redelivered: bool) -> ClaimOutcome {
        let k = self.key(step, ep);
        let got = self.store.claim_step(&k, redelivered).await.unwrap();
        let want = self.model.claim(&k, redelivered, Utc::now()).unwrap();
        assert_eq!(got, want, "claim step {step} by {ep}");
        got
    }

    /// `claim_step_unrecorded`: a claim that would run is answered from the
    /// stored state and changes nothing; any other is recorded as a claim.
    async fn claim_unrecorded(&mut self, step: usize, ep: &str) -> (ClaimOutcome, bool) {
        let k = self.key(step, ep);
        let got = self.store.claim_step_unrecorded(&k).await.unwrap();
        let want = match self.model.peek_claim(&k, false).unwrap() {
            Some(claimed) => (claimed, false),
            None => (self.model.claim(&k, false, Utc::now()).unwrap(), true),
        };
        assert_eq!(got, want, "unrecorded claim of step {step} by {ep}");
        got
    }

    async fn complete(&mut self, step: usize, ep: &str, patch: Variables) -> CompleteOutcome {
        let k = self.key(step, ep);
        let got = self
            .store
            .complete_step(&k, patch.clone(), 1)
            .await
            .unwrap();
        let want = self.model.complete(&k, patch, 1, Utc::now()).unwrap();
        assert_eq!(got, want, "complete step {step} by {ep}");
        got
    }

    async fn fail(&mut self, step: usize, ep: &str, error: &str) -> FailOutcome {
        let k = self.key(step, ep);
        let got = self.store.fail_step(&k, error, 3).await.unwrap();
        let want = self.model.fail(&k, error, 3, Utc::now()).unwrap();
        assert_eq!(got, want, "fail step {step} by {ep}");
        got
    }

    /// The stored run matches the model in everything but timestamps.
    async fn check(&self) -> Run {
        let stored = self.store.get_run(self.model.id).await.unwrap().unwrap();
        let m = &self.model;
        assert_eq!(stored.status, m.status);
        assert_eq!(stored.version, m.version);
        assert_eq!(stored.variables, m.variables);
        assert_eq!(stored.error, m.error);
        assert_eq!(stored.finished_at.is_some(), m.finished_at.is_some());
        for (s, w) in stored.steps.iter().zip(&m.steps) {
            assert_eq!(
                (s.status, s.attempts, &s.handled_by, &s.last_error),
                (w.status, w.attempts, &w.handled_by, &w.last_error),
                "step {}",
                s.index
            );
            let hs: Vec<_> = s
                .handlers
                .iter()
                .map(|h| (&h.endpoint, h.status, h.attempts))
                .collect();
            let hw: Vec<_> = w
                .handlers
                .iter()
                .map(|h| (&h.endpoint, h.status, h.attempts))
                .collect();
            assert_eq!(hs, hw, "handlers of step {}", s.index);
        }
        stored
    }
}

// ---------------------------------------------------------------- definitions

pub async fn definitions_crud(f: Fixture) {
    let s = f.store;
    assert!(s.list_definitions().await.unwrap().is_empty());
    assert!(s.get_definition("nightly").await.unwrap().is_none());
    let nightly = def3("nightly");
    s.create_definition(&nightly).await.unwrap();
    s.create_definition(&Definition::new("alpha", ["A"]))
        .await
        .unwrap();
    match s.create_definition(&def3("nightly")).await {
        Err(Error::Conflict { kind, name }) => {
            assert_eq!((kind, name.as_str()), ("definition", "nightly"))
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        s.get_definition("nightly").await.unwrap(),
        Some(nightly.clone())
    );
    let mut changed = nightly.clone().with_description("changed");
    changed.steps.push("D".into());
    s.update_definition(&changed).await.unwrap();
    assert_eq!(s.get_definition("nightly").await.unwrap(), Some(changed));
    match s.update_definition(&Definition::new("ghost", ["A"])).await {
        Err(Error::NotFound { kind, name }) => {
            assert_eq!((kind, name.as_str()), ("definition", "ghost"))
        }
        other => panic!("expected not found, got {other:?}"),
    }
    let names: Vec<_> = s
        .list_definitions()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["alpha", "nightly"]);
    assert!(s.delete_definition("alpha").await.unwrap());
    assert!(!s.delete_definition("alpha").await.unwrap());
    assert!(s.get_definition("alpha").await.unwrap().is_none());
    assert_eq!(s.list_definitions().await.unwrap().len(), 1);
}

// ---------------------------------------------------------------- runs

pub async fn runs_insert_get_list(f: Fixture) {
    let s = f.store;
    let base = Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap();
    let mut runs = Vec::new();
    for i in 0..6u32 {
        let mut run = new_run(if i % 2 == 0 { "even" } else { "odd" });
        // Sub-millisecond spacing: ordering must not depend on millisecond clocks.
        run.created_at = base
            + chrono::Duration::microseconds(i64::from(i) * 7 + 1)
            + chrono::Duration::nanoseconds(123);
        run.modified_at = run.created_at;
        s.insert_run(&run).await.unwrap();
        runs.push(run);
    }
    // Round trip keeps every field.
    for r in &runs {
        assert_eq!(s.get_run(r.id).await.unwrap().as_ref(), Some(r));
    }
    assert!(s.get_run(Uuid::new_v4()).await.unwrap().is_none());
    match s.insert_run(&runs[0]).await {
        Err(Error::Conflict { kind: "run", .. }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    let ids = |p: RunPage| {
        assert!(
            p.corrupt.is_empty(),
            "no corrupt record here: {:?}",
            p.corrupt
        );
        p.runs.into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    let newest_first: Vec<Uuid> = runs.iter().rev().map(|r| r.id).collect();
    assert_eq!(
        ids(s.list_runs(&RunFilter::default()).await.unwrap()),
        newest_first
    );
    // Paging with `before`.
    let page1 = s
        .list_runs(&RunFilter {
            limit: 4,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page1.runs.len(), 4);
    assert!(page1.next.is_some(), "a full page has a cursor");
    let before = page1.runs.last().map(|r| r.created_at);
    let page2 = s
        .list_runs(&RunFilter {
            limit: 4,
            before,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut all = ids(page1);
    all.extend(ids(page2));
    assert_eq!(all, newest_first);
    // Runs created in the same instant: paging by (time, id) neither skips nor
    // repeats them, whatever the page size.
    let same = base - chrono::Duration::seconds(1);
    let mut twins = Vec::new();
    for _ in 0..5 {
        let mut run = new_run("twins");
        run.created_at = same;
        run.modified_at = same;
        s.insert_run(&run).await.unwrap();
        twins.push(run.id);
    }
    twins.sort_by_key(|id| std::cmp::Reverse(id.to_string()));
    for limit in [1, 2, 3] {
        let mut filter = RunFilter {
            definition: Some("twins".into()),
            limit,
            ..Default::default()
        };
        let (mut seen, mut by_cursor) = (Vec::new(), Vec::new());
        let mut cursor_filter = filter.clone();
        loop {
            let page = s.list_runs(&filter).await.unwrap();
            assert!(page.runs.len() <= limit);
            let Some(last) = page.runs.last() else { break };
            filter = filter.after(last);
            seen.extend(ids(page));
        }
        assert_eq!(seen, twins, "page size {limit}");
        // The same through the page's own cursor, which is `None` on the last page.
        loop {
            let page = s.list_runs(&cursor_filter).await.unwrap();
            let next = page.next;
            assert_eq!(
                next.is_some(),
                page.runs.len() == limit,
                "page size {limit}"
            );
            by_cursor.extend(ids(page));
            match next {
                Some(c) => cursor_filter = cursor_filter.at(&c),
                None => break,
            }
        }
        assert_eq!(by_cursor, twins, "page size {limit}, by cursor");
    }
    // `before` alone keeps its meaning: strictly earlier than that time.
    let earlier = s
        .list_runs(&RunFilter {
            before: Some(same + chrono::Duration::microseconds(1)),
            definition: Some("twins".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(earlier), twins);
    let none = s
        .list_runs(&RunFilter {
            before: Some(same),
            definition: Some("twins".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.runs.is_empty() && none.next.is_none());
    // Status and definition filters.
    for run in [&runs[1], &runs[4]] {
        let first = run.start_steps().remove(0);
        s.fail_unpublished(run.id, &first, "stopped").await.unwrap();
    }
    let failed = s
        .list_runs(&RunFilter {
            status: Some(RunStatus::Failed),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(failed), [runs[4].id, runs[1].id]);
    let pending = s
        .list_runs(&RunFilter {
            status: Some(RunStatus::Pending),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(pending), [runs[5].id, runs[3].id]);
    let odd = s
        .list_runs(&RunFilter {
            definition: Some("odd".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(odd), [runs[5].id, runs[3].id, runs[1].id]);
    let odd_failed = s
        .list_runs(&RunFilter {
            definition: Some("odd".into()),
            status: Some(RunStatus::Failed),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(odd_failed), [runs[1].id]);
}

// ---------------------------------------------------------------- transitions

/// A step that is not due (the step before it has not succeeded in the store)
/// is refused by the store's transition and nothing is written, recorded
/// claim or not; once its predecessor succeeded it is claimed.
pub async fn not_due_steps_are_refused(f: Fixture) {
    let mut m = Mirror::new(&f.store, "chain").await;
    let waits = |i: usize, status: StepStatus| ClaimOutcome::NotDue {
        waits_for: i,
        status,
    };
    assert_eq!(m.claim(2, "c", false).await, waits(1, StepStatus::Pending));
    assert_eq!(m.claim(1, "b", true).await, waits(0, StepStatus::Pending));
    assert_eq!(
        m.claim_unrecorded(2, "c").await.0,
        waits(1, StepStatus::Pending)
    );
    let run = m.check().await;
    assert!(run
        .steps
        .iter()
        .all(|s| s.status == StepStatus::Pending && s.handlers.is_empty()));
    m.claim(0, "a", false).await;
    assert_eq!(m.claim(1, "b", false).await, waits(0, StepStatus::Invoked));
    m.complete(0, "a", Variables::new()).await;
    assert!(matches!(
        m.claim(1, "b", false).await,
        ClaimOutcome::Claimed { .. }
    ));
    m.check().await;
}

pub async fn chain_outcomes(f: Fixture) {
    let mut m = Mirror::new(&f.store, "chain").await;
    assert!(matches!(
        m.claim(0, "a", false).await,
        ClaimOutcome::Claimed {
            attempts: 0,
            step_count: 3,
            ..
        }
    ));
    assert_eq!(m.claim(0, "a", false).await, ClaimOutcome::InFlight);
    // A redelivery takes an in-flight step over.
    assert!(matches!(
        m.claim(0, "a", true).await,
        ClaimOutcome::Claimed { .. }
    ));
    assert!(matches!(
        m.complete(0, "a", vars(json!({"artifact": "x.tgz"}))).await,
        CompleteOutcome::Advanced { ref next } if next.len() == 1 && next[0].index == 1
            && next[0].event == "B"
            && next[0].variables.get("artifact") == Some(&json!("x.tgz"))
    ));
    m.check().await;
    // Redelivery after success (crash between record and publish): republish B.
    match m.claim(0, "a", true).await {
        ClaimOutcome::AlreadyDone { republish } => {
            assert_eq!(republish.iter().map(|n| n.index).collect::<Vec<_>>(), [1])
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        m.claim(1, "b", false).await,
        ClaimOutcome::Claimed { .. }
    ));
    assert_eq!(
        m.claim(0, "a", true).await,
        ClaimOutcome::AlreadyDone { republish: vec![] }
    );
    m.complete(1, "b", Variables::new()).await;
    m.claim(2, "c", false).await;
    assert_eq!(
        m.complete(2, "c", Variables::new()).await,
        CompleteOutcome::Finished
    );
    let run = m.check().await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert!(run.finished_at.is_some());
    assert_eq!(
        m.claim(1, "b", true).await,
        ClaimOutcome::NotRunning(RunStatus::Succeeded)
    );
    assert_eq!(
        m.claim(1, "other", false).await,
        ClaimOutcome::NotRunning(RunStatus::Succeeded)
    );
    // A step outside the run is an error, not a panic.
    let k = m.key(7, "a");
    assert!(matches!(
        f.store.claim_step(&k, false).await,
        Err(Error::InvalidState(_))
    ));
    m.check().await;
}

/// A store call retried after its answer was lost (its first try landed):
/// the transitions recognise their own write by the handling the key names
/// and answer as it did, without applying it twice; another handling of the
/// same step is told what any other copy would be.
pub async fn retried_calls_are_recognised(f: Fixture) {
    let mut m = Mirror::new(&f.store, "retried").await;
    m.handling = Some(Uuid::new_v4());
    let first = m.claim(0, "a", false).await;
    assert!(matches!(first, ClaimOutcome::Claimed { attempts: 0, .. }));
    assert_eq!(
        m.claim(0, "a", false).await,
        first,
        "the retried claim runs"
    );
    let advanced = m.complete(0, "a", vars(json!({"vm": "vm-1"}))).await;
    assert!(matches!(
        &advanced,
        CompleteOutcome::Advanced { next } if next.len() == 1 && next[0].index == 1
    ));
    assert_eq!(
        m.complete(0, "a", vars(json!({"vm": "vm-1"}))).await,
        advanced,
        "the retried completion still publishes the next step"
    );
    let run = m.check().await;
    assert_eq!(run.steps[0].attempts, 1, "counted once: {run:#?}");
    // Another handling of the same message (a redelivered copy) is not it.
    m.handling = Some(Uuid::new_v4());
    assert!(matches!(
        m.claim(0, "a", true).await,
        ClaimOutcome::AlreadyDone { ref republish } if republish.len() == 1
    ));
    assert_eq!(
        m.complete(0, "a", Variables::new()).await,
        CompleteOutcome::Recorded
    );
    // Once the next step is picked up, a retried completion publishes nothing.
    m.claim(1, "b", false).await;
    m.handling = None;
    assert!(matches!(
        m.claim(1, "b", false).await,
        ClaimOutcome::InFlight
    ));
    m.handling = Some(Uuid::new_v4());
    m.claim(1, "b", true).await;
    assert_eq!(m.fail(1, "b", "boom").await, FailOutcome::RunFailed);
    assert_eq!(
        m.fail(1, "b", "boom").await,
        FailOutcome::RunFailed,
        "the retried failure says what the first did"
    );
    let run = m.check().await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.steps[1].attempts, 4, "1 + 3, counted once: {run:#?}");
}

/// A step whose start is recorded with its outcome: the claim reads, the
/// completion writes once, with the start the key carries; decisions rest on
/// what is stored, not on what this handle wrote last.
pub async fn unrecorded_claims(f: Fixture) {
    let mut m = Mirror::new(&f.store, "unrecorded").await;
    let inserted = m.check().await;
    assert!(matches!(
        m.claim_unrecorded(0, "a").await,
        (
            ClaimOutcome::Claimed {
                attempts: 0,
                step_count: 3,
                ..
            },
            false
        )
    ));
    let untouched = m.check().await;
    assert_eq!(untouched.version, inserted.version, "nothing written");
    assert_eq!(untouched.steps[0].status, StepStatus::Pending);

    let started = Utc::now() - chrono::Duration::milliseconds(1500);
    let k = m.key(0, "a").started(started);
    let got = f
        .store
        .complete_step(&k, Variables::new(), 1)
        .await
        .unwrap();
    assert_eq!(
        got,
        m.model
            .complete(&k, Variables::new(), 1, Utc::now())
            .unwrap()
    );
    assert!(
        matches!(got, CompleteOutcome::Advanced { ref next } if next.len() == 1 && next[0].index == 1)
    );
    let run = m.check().await;
    assert_eq!(run.version, inserted.version + 1, "one write for the step");
    let step = &run.steps[0];
    let close = |t: Option<chrono::DateTime<Utc>>| {
        t.is_some_and(|t| (t - started).num_milliseconds().abs() <= 1)
    };
    assert!(close(step.invoked_at), "invoked_at {:?}", step.invoked_at);
    assert!(close(step.handlers[0].started_at));
    assert!(step
        .duration()
        .is_some_and(|d| d.num_milliseconds() >= 1400));

    // A copy of a finished step: answered as a claim would (republish the next).
    assert!(matches!(
        m.claim_unrecorded(0, "a").await,
        (ClaimOutcome::AlreadyDone { ref republish }, true) if republish.len() == 1
    ));
    // Being handled (start recorded): a second copy does not run.
    m.claim(1, "b", false).await;
    assert_eq!(
        m.claim_unrecorded(1, "b").await,
        (ClaimOutcome::InFlight, true)
    );

    // Another handle (another process) cancels: this handle's last write is
    // stale now, and the stored state decides.
    let other = f.peers.first().cloned().unwrap_or_else(|| f.store.clone());
    other.cancel_run(m.model.id).await.unwrap();
    m.model.cancel(Utc::now()).unwrap();
    assert_eq!(
        m.claim_unrecorded(2, "c").await,
        (ClaimOutcome::Cancelled, true)
    );
    assert_eq!(m.check().await.steps[2].status, StepStatus::Cancelled);

    let ghost = StepKey::new(Uuid::new_v4(), 0, "a", "h");
    assert!(matches!(
        f.store.claim_step_unrecorded(&ghost).await,
        Err(Error::NotFound { kind: "run", .. })
    ));
    let outside = m.key(9, "a");
    assert!(matches!(
        f.store.claim_step_unrecorded(&outside).await,
        Err(Error::InvalidState(_))
    ));
}

pub async fn fail_and_resume(f: Fixture) {
    let s = f.store.clone();
    let mut m = Mirror::new(&f.store, "failing").await;
    m.claim(0, "a", false).await;
    m.complete(0, "a", Variables::new()).await;
    m.claim(1, "b", false).await;
    m.claim(1, "b2", false).await;
    assert_eq!(m.fail(1, "b", "boom").await, FailOutcome::RunFailed);
    assert_eq!(m.fail(1, "b2", "again").await, FailOutcome::Recorded);
    let run = m.check().await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.steps[2].status, StepStatus::Skipped);
    assert!(run.error.as_deref().unwrap_or_default().contains("boom"));
    assert_eq!(
        m.claim(2, "c", false).await,
        ClaimOutcome::NotRunning(RunStatus::Failed)
    );
    // Resumed with a changed variable: the steps due again carry it.
    let mut fix = Variables::new();
    fix.insert("fixed".into(), serde_json::json!(true));
    let (resumed, next) = s.resume_run(m.model.id, fix.clone()).await.unwrap();
    let want = m.model.resume_with(&fix, Utc::now()).unwrap();
    assert_eq!(next, want);
    assert_eq!(next.iter().map(|n| n.index).collect::<Vec<_>>(), [1]);
    assert_eq!(
        next[0].variables.get("fixed"),
        Some(&serde_json::json!(true))
    );
    assert_eq!(resumed.status, RunStatus::Running);
    assert_eq!(
        resumed.variables.get("fixed"),
        Some(&serde_json::json!(true))
    );
    m.check().await;
    // Refused: nothing changes, the variables neither.
    let mut other = Variables::new();
    other.insert("fixed".into(), serde_json::json!("no"));
    assert!(matches!(
        s.resume_run(m.model.id, other).await,
        Err(Error::InvalidState(_))
    ));
    m.check().await;
    // The resumed attempt knows this endpoint ran before.
    assert!(matches!(
        m.claim(1, "b", false).await,
        ClaimOutcome::Claimed { attempts: 3, .. }
    ));
    m.complete(1, "b", Variables::new()).await;
    m.claim(2, "c", false).await;
    m.complete(2, "c", Variables::new()).await;
    assert_eq!(m.check().await.status, RunStatus::Succeeded);
}

pub async fn cancel_and_abort(f: Fixture) {
    let s = f.store.clone();
    let mut m = Mirror::new(&f.store, "cancelled").await;
    m.claim(0, "a", false).await;
    let cancelled = s.cancel_run(m.model.id).await.unwrap();
    m.model.cancel(Utc::now()).unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert_eq!(cancelled.steps[1].status, StepStatus::Skipped);
    assert_eq!(
        m.complete(0, "a", Variables::new()).await,
        CompleteOutcome::Cancelled
    );
    assert_eq!(m.claim(1, "b", false).await, ClaimOutcome::Cancelled);
    assert_eq!(m.fail(2, "c", "late").await, FailOutcome::Cancelled);
    let run = m.check().await;
    assert_eq!(run.steps[0].status, StepStatus::Cancelled);
    assert!(matches!(
        s.cancel_run(run.id).await,
        Err(Error::InvalidState(_))
    ));
    // A cancelled run records no step it could not publish.
    assert_eq!(
        s.fail_unpublished(run.id, &run.next_step(1), "x")
            .await
            .unwrap(),
        FailOutcome::Recorded
    );
    // A cancelled run resumes from its first unfinished step.
    let (_, next) = s.resume_run(run.id, Default::default()).await.unwrap();
    assert_eq!(next.iter().map(|n| n.index).collect::<Vec<_>>(), [0]);

    let other = new_run("unpublished");
    s.insert_run(&other).await.unwrap();
    let first = other.start_steps().remove(0);
    assert_eq!(
        s.fail_unpublished(other.id, &first, "no consumer is bound")
            .await
            .unwrap(),
        FailOutcome::RunFailed
    );
    // Reported twice (a redelivery published it again): recorded once.
    assert_eq!(
        s.fail_unpublished(other.id, &first, "no consumer is bound")
            .await
            .unwrap(),
        FailOutcome::Recorded
    );
    let failed = s.get_run(other.id).await.unwrap().unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.steps[0].status, StepStatus::Failed);
    assert_eq!(
        failed.steps[0].last_error.as_deref(),
        Some("no consumer is bound")
    );
    assert!(failed
        .error
        .as_deref()
        .is_some_and(|e| e.contains("no consumer is bound")));
    assert!(failed.steps[1..]
        .iter()
        .all(|st| st.status == StepStatus::Skipped));

    let ghost = Uuid::new_v4();
    assert!(matches!(
        s.cancel_run(ghost).await,
        Err(Error::NotFound { kind: "run", .. })
    ));
    assert!(matches!(
        s.resume_run(ghost, Default::default()).await,
        Err(Error::NotFound { kind: "run", .. })
    ));
    assert!(matches!(
        s.fail_unpublished(ghost, &first, "x").await,
        Err(Error::NotFound { kind: "run", .. })
    ));
    assert!(matches!(
        s.claim_step(&StepKey::new(ghost, 0, "a", "h"), false).await,
        Err(Error::NotFound { kind: "run", .. })
    ));
    assert!(matches!(
        s.complete_step(&StepKey::new(ghost, 0, "a", "h"), Variables::new(), 1)
            .await,
        Err(Error::NotFound { kind: "run", .. })
    ));
    assert!(matches!(
        s.fail_step(&StepKey::new(ghost, 0, "a", "h"), "e", 1).await,
        Err(Error::NotFound { kind: "run", .. })
    ));
}

pub async fn concurrent_claims(f: Fixture) {
    let s = f.store.clone();
    let run = new_run("race");
    s.insert_run(&run).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = f.handle(i);
        let key = StepKey::new(run.id, 0, "ep", format!("host-{i}"));
        tasks.push(tokio::spawn(async move { s.claim_step(&key, false).await }));
    }
    let (mut claimed, mut in_flight) = (0, 0);
    for t in tasks {
        match t.await.unwrap().unwrap() {
            ClaimOutcome::Claimed { .. } => claimed += 1,
            ClaimOutcome::InFlight => in_flight += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((claimed, in_flight), (1, 15));
    let stored = s.get_run(run.id).await.unwrap().unwrap();
    assert_eq!(stored.steps[0].handlers.len(), 1);
    assert_eq!(stored.version, 1);
}

/// A fork and a join: start -> (b, c) -> d.
fn diamond_def(name: &str) -> Definition {
    use isoqube::StepDef;
    Definition::new(
        name,
        [
            StepDef::new("A"),
            StepDef::new("B").after(["A"]),
            StepDef::new("C").after(["A"]),
            StepDef::new("D").after(["B", "C"]),
        ],
    )
}

/// The two branches of a join finish at the same instant on two handles (as
/// two processes would): exactly one of the two completions names the join
/// to publish, every round.
pub async fn join_race(f: Fixture) {
    let s = f.store.clone();
    for round in 0..8 {
        let run = Run::new(&diamond_def("join"), Variables::new(), "test");
        s.insert_run(&run).await.unwrap();
        let a = StepKey::new(run.id, 0, "a", "h");
        s.claim_step(&a, false).await.unwrap();
        match s.complete_step(&a, Variables::new(), 1).await.unwrap() {
            CompleteOutcome::Advanced { next } => assert_eq!(
                next.iter().map(|n| n.index).collect::<Vec<_>>(),
                [1, 2],
                "the fork names both branches"
            ),
            other => panic!("unexpected {other:?}"),
        }
        let branches = [
            StepKey::new(run.id, 1, "b", "h1"),
            StepKey::new(run.id, 2, "c", "h2"),
        ];
        for k in &branches {
            s.claim_step(k, false).await.unwrap();
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = Vec::new();
        for (i, k) in branches.into_iter().enumerate() {
            let (h, barrier) = (f.handle(i), barrier.clone());
            let patch = vars(json!({ format!("from_{i}"): i }));
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                h.complete_step(&k, patch, 1).await
            }));
        }
        let mut joins = 0;
        for t in tasks {
            match t.await.unwrap().unwrap() {
                CompleteOutcome::Advanced { next } => {
                    joins += next.iter().filter(|n| n.index == 3).count();
                    assert!(next.iter().all(|n| n.index == 3), "{next:?}");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(joins, 1, "round {round}: the join is named once");
        let stored = s.get_run(run.id).await.unwrap().unwrap();
        assert_eq!(stored.steps[3].status, StepStatus::Pending);
        assert_eq!(
            stored.variables.get("from_0"),
            Some(&json!(0)),
            "both branches' variables"
        );
        assert_eq!(stored.variables.get("from_1"), Some(&json!(1)));
    }
}

/// Graph definitions and runs are kept whole; a plain definition is stored in
/// the shape of every earlier version (a list of event names), and a run
/// stored without `after` (every run before graphs) is a chain.
pub async fn graph_records_round_trip(f: Fixture) {
    let s = f.store.clone();
    let mut def = diamond_def(&format!("diamond-{}", Uuid::new_v4().simple()));
    def.steps[1].optional = true;
    def.steps[2].timeout = Some(Duration::from_millis(1500));
    def.steps[3].name = Some("ship".into());
    s.create_definition(&def).await.unwrap();
    let got = s.get_definition(&def.name).await.unwrap().unwrap();
    assert_eq!(got.steps, def.steps);
    let run = Run::new(&got, Variables::new(), "test");
    assert_eq!(run.steps[3].after, Some(vec![1, 2]));
    s.insert_run(&run).await.unwrap();
    assert_eq!(s.get_run(run.id).await.unwrap().unwrap().steps, run.steps);
    let plain = Definition::new(format!("plain-{}", Uuid::new_v4().simple()), ["A", "B"]);
    assert_eq!(
        serde_json::to_value(&plain.steps).unwrap(),
        json!(["A", "B"]),
        "the shape of earlier versions"
    );
    s.create_definition(&plain).await.unwrap();
    let chain = Run::new(&plain, Variables::new(), "test");
    assert!(chain.steps.iter().all(|st| st.after.is_none()));
    s.insert_run(&chain).await.unwrap();
    let stored = s.get_run(chain.id).await.unwrap().unwrap();
    assert_eq!(stored.steps[1].deps(), vec![0]);
}

/// Definitions and runs stored before priorities (no `priority` field)
/// load at priority 0 and run on; a priority is kept through the store.
pub async fn priority_is_additive(f: Fixture) {
    let s = f.store.clone();
    let def =
        Definition::new(format!("prio-{}", Uuid::new_v4().simple()), ["A", "B"]).with_priority(6);
    s.create_definition(&def).await.unwrap();
    let run = Run::new(&def, Variables::new(), "test");
    assert_eq!(run.priority, 6);
    s.insert_run(&run).await.unwrap();
    let reader = f.handle(1);
    assert_eq!(
        reader
            .get_definition(&def.name)
            .await
            .unwrap()
            .unwrap()
            .priority,
        6
    );
    assert_eq!(reader.get_run(run.id).await.unwrap().unwrap().priority, 6);

    // Today's documents, as every earlier version wrote them.
    let old_def = Definition::new(format!("old-{}", Uuid::new_v4().simple()), ["A", "B"]);
    s.create_definition(&old_def).await.unwrap();
    let old_run = Run::new(&old_def, Variables::new(), "test");
    s.insert_run(&old_run).await.unwrap();
    (f.unset_field)("definitions", old_def.name.clone(), "priority").await;
    (f.unset_field)("runs", old_run.id.to_string(), "priority").await;
    let reader = f.handle(2);
    let got = reader.get_definition(&old_def.name).await.unwrap().unwrap();
    assert_eq!((got.priority, got.steps.len()), (0, 2));
    let got = reader.get_run(old_run.id).await.unwrap().unwrap();
    assert_eq!((got.priority, got.steps.len()), (0, 2));
    // ... and it runs on: step 1 completes and step 2 is next.
    let key = StepKey::new(old_run.id, 0, "a", "h");
    assert!(matches!(
        reader.claim_step(&key, false).await.unwrap(),
        ClaimOutcome::Claimed { .. }
    ));
    match reader
        .complete_step(&key, Variables::new(), 1)
        .await
        .unwrap()
    {
        CompleteOutcome::Advanced { next } => assert_eq!(next[0].index, 1),
        other => panic!("expected Advanced, got {other:?}"),
    }
    let listed = reader
        .list_runs(&isoqube::RunFilter {
            definition: Some(old_def.name.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.runs.len(), 1);
    assert!(listed.corrupt.is_empty());
    assert_eq!(listed.runs[0].priority, 0);
}

/// Schedule ticks: many claimants of one due time, exactly one wins; only a
/// later due time can be claimed next; the last claimed one is remembered.
pub async fn schedule_ticks(f: Fixture) {
    let s = f.store.clone();
    let key = format!("nightly-{}/every-second", uuid::Uuid::new_v4());
    assert_eq!(s.last_tick(&key).await.unwrap(), None);
    let due: chrono::DateTime<chrono::Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
    for round in 0..3i64 {
        let at = due + chrono::Duration::seconds(round);
        let mut tasks = Vec::new();
        for i in 0..12 {
            let h = f.handle(i);
            let key = key.clone();
            tasks.push(tokio::spawn(async move { h.claim_tick(&key, at).await }));
        }
        let mut won = 0;
        for t in tasks {
            if t.await.unwrap().unwrap() {
                won += 1;
            }
        }
        assert_eq!(won, 1, "round {round}: exactly one claimant wins");
        assert_eq!(s.last_tick(&key).await.unwrap(), Some(at));
    }
    // Going back or claiming the same time again wins nothing.
    assert!(!s.claim_tick(&key, due).await.unwrap());
    assert!(!s
        .claim_tick(&key, due + chrono::Duration::seconds(2))
        .await
        .unwrap());
    // Keys are independent.
    assert!(s.claim_tick(&format!("{key}-other"), due).await.unwrap());
}

/// Racing writers on one run lose nothing: 16 endpoints claiming one step at
/// once are all recorded (a lost update would drop a handler).
pub async fn concurrent_claims_distinct_endpoints(f: Fixture) {
    let s = f.store.clone();
    for round in 0..5 {
        let run = new_run("fan-claims");
        s.insert_run(&run).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let s = f.handle(i);
            let key = StepKey::new(run.id, 0, format!("ep-{i:02}"), "h");
            tasks.push(tokio::spawn(async move { s.claim_step(&key, false).await }));
        }
        for t in tasks {
            assert!(matches!(
                t.await.unwrap().unwrap(),
                ClaimOutcome::Claimed { attempts: 0, .. }
            ));
        }
        let stored = s.get_run(run.id).await.unwrap().unwrap();
        assert_eq!(stored.steps[0].handlers.len(), 16, "round {round}");
        assert_eq!(stored.version, 16, "round {round}");
    }
}

pub async fn concurrent_completes(f: Fixture) {
    let s = f.store.clone();
    let run = new_run("fan");
    s.insert_run(&run).await.unwrap();
    for i in 0..16 {
        let key = StepKey::new(run.id, 0, format!("ep-{i:02}"), "h");
        assert!(matches!(
            s.claim_step(&key, false).await.unwrap(),
            ClaimOutcome::Claimed { .. }
        ));
    }
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = f.handle(i);
        let key = StepKey::new(run.id, 0, format!("ep-{i:02}"), "h");
        let patch = vars(json!({ format!("by_{i}"): i }));
        tasks.push(tokio::spawn(async move {
            s.complete_step(&key, patch, 1).await
        }));
    }
    let (mut advanced, mut recorded) = (0, 0);
    for t in tasks {
        match t.await.unwrap().unwrap() {
            CompleteOutcome::Advanced { next } => {
                assert_eq!(next.iter().map(|n| n.index).collect::<Vec<_>>(), [1]);
                advanced += 1
            }
            CompleteOutcome::Recorded => recorded += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((advanced, recorded), (1, 15));
    let stored = s.get_run(run.id).await.unwrap().unwrap();
    let step = &stored.steps[0];
    assert_eq!(step.status, StepStatus::Succeeded);
    assert_eq!(step.handlers.len(), 16);
    assert_eq!(step.attempts, 16);
    assert!(step
        .handlers
        .iter()
        .all(|h| h.status == StepStatus::Succeeded));
    // Every success was recorded: 16 claims + 16 completes.
    assert_eq!(stored.version, 32);
    // Every patch was kept (the run was running for all of them).
    assert_eq!(
        (0..16)
            .filter(|i| stored.variables.contains_key(&format!("by_{i}")))
            .count(),
        16
    );
}

// ---------------------------------------------------------------- watching

pub async fn wait_for_change(f: Fixture) {
    let s = f.store;
    let run = new_run("watched");
    s.insert_run(&run).await.unwrap();
    // Nothing changes: None after the timeout.
    let started = std::time::Instant::now();
    assert!(s
        .wait_for_change(run.id, 0, Duration::from_millis(300))
        .await
        .unwrap()
        .is_none());
    assert!(started.elapsed() >= Duration::from_millis(250));
    // A change while waiting is seen.
    let writer = {
        let s = s.clone();
        let key = StepKey::new(run.id, 0, "ep", "h");
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            s.claim_step(&key, false).await
        })
    };
    let seen = s
        .wait_for_change(run.id, 0, Duration::from_secs(10))
        .await
        .unwrap()
        .expect("the claim is seen");
    assert!(seen.version >= 1);
    assert_eq!(seen.status, RunStatus::Running);
    writer.await.unwrap().unwrap();
    // An older version returns at once.
    let quick = std::time::Instant::now();
    assert!(s
        .wait_for_change(run.id, 0, Duration::from_secs(10))
        .await
        .unwrap()
        .is_some());
    assert!(quick.elapsed() < Duration::from_secs(5));
    assert!(matches!(
        s.wait_for_change(Uuid::new_v4(), 0, Duration::from_millis(100))
            .await,
        Err(Error::NotFound { kind: "run", .. })
    ));
}

// ---------------------------------------------------------------- services, topics, logs

fn service(id: &str, consumers: &[&str]) -> ServiceRecord {
    let t = Utc.with_ymd_and_hms(2030, 5, 6, 7, 8, 9).unwrap();
    ServiceRecord {
        id: id.into(),
        name: id.split('@').next().unwrap_or(id).into(),
        host: "h".into(),
        pid: 42,
        events: vec!["A".into()],
        consumers: consumers.iter().map(|c| c.to_string()).collect(),
        transport: "in-process".into(),
        started_at: t,
        last_seen: t,
    }
}

pub async fn services(f: Fixture) {
    let s = f.store;
    assert!(s.list_services().await.unwrap().is_empty());
    let b = service("builder@h:2", &["build"]);
    let a = service("agent@h:1", &["fetch"]);
    s.register_service(&b).await.unwrap();
    s.register_service(&a).await.unwrap();
    assert_eq!(s.list_services().await.unwrap(), vec![a.clone(), b.clone()]);
    let later = Utc::now();
    s.heartbeat(&b.id, later).await.unwrap();
    let listed = s.list_services().await.unwrap();
    assert_eq!(listed[1].last_seen, later);
    assert_eq!(listed[1].consumers, b.consumers);
    assert!(matches!(
        s.heartbeat("ghost@h:9", later).await,
        Err(Error::NotFound {
            kind: "service",
            ..
        })
    ));
    let b2 = service("builder@h:2", &["build", "test"]);
    s.register_service(&b2).await.unwrap();
    assert_eq!(s.list_services().await.unwrap()[1], b2);
    s.remove_service(&a.id).await.unwrap();
    s.remove_service("ghost@h:9").await.unwrap();
    assert_eq!(s.list_services().await.unwrap(), vec![b2]);
}

fn topic(name: &str, consumers: &[&str]) -> TopicRecord {
    TopicRecord {
        name: name.into(),
        description: format!("{name} event"),
        exchange: format!("Suite:{name}"),
        message_type: format!("urn:message:Suite:{name}"),
        schema: vec!["commit: String".into()],
        consumers: consumers.iter().map(|c| c.to_string()).collect(),
        updated_at: Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(),
    }
}

pub async fn topics(f: Fixture) {
    let s = f.store;
    assert!(s.list_topics().await.unwrap().is_empty());
    s.upsert_topics(&[topic("Build", &["linux"])])
        .await
        .unwrap();
    let mut newer = topic("Build", &["windows", "linux"]);
    newer.description = "builds".into();
    s.upsert_topics(&[newer, topic("Alpha", &["a"])])
        .await
        .unwrap();
    let listed = s.list_topics().await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["Alpha", "Build"]
    );
    assert_eq!(listed[1].consumers, ["linux", "windows"]);
    assert_eq!(listed[1].description, "builds");
    assert_eq!(listed[0], topic("Alpha", &["a"]));
}

pub(crate) fn line(run: Uuid, i: usize) -> LogRecord {
    LogRecord {
        run_id: run,
        step: Some(i % 3),
        event: Some("A".into()),
        level: "INFO".into(),
        message: format!("line {i}"),
        service: "svc".into(),
        host: "h".into(),
        // Deliberately out of time order: the order is the order of appending.
        timestamp: Utc::now() - chrono::Duration::seconds((i % 2) as i64),
    }
}

pub async fn logs(f: Fixture) {
    let s = f.store;
    let (r1, r2) = (Uuid::new_v4(), Uuid::new_v4());
    assert!(s.run_logs(r1, 0).await.unwrap().is_empty());
    s.append_logs(&[]).await.unwrap();
    let batch: Vec<_> = (0..5)
        .map(|i| line(r1, i))
        .chain((0..2).map(|i| line(r2, 100 + i)))
        .collect();
    s.append_logs(&batch).await.unwrap();
    s.append_logs(&[line(r1, 5), line(r1, 6)]).await.unwrap();
    let all = s.run_logs(r1, 0).await.unwrap();
    assert_eq!(
        all.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
        (0..7).map(|i| format!("line {i}")).collect::<Vec<_>>()
    );
    assert_eq!(all[0], batch[0]);
    let tail = s.run_logs(r1, 5).await.unwrap();
    assert_eq!(
        tail.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
        ["line 5", "line 6"]
    );
    assert!(s.run_logs(r1, 7).await.unwrap().is_empty());
    assert!(s.run_logs(r1, 100).await.unwrap().is_empty());
    assert_eq!(s.run_logs(r2, 0).await.unwrap().len(), 2);
}

// ---------------------------------------------------------------- bad data

/// Counts the deliveries [`corrupt_probe`] ran (a step of a corrupt run must not run).
static PROBED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The event of the corrupt-run probe.
#[isoqube::event]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct CorruptProbe {}

#[isoqube::consumer(service = "conformance")]
async fn corrupt_probe(_ev: CorruptProbe, _ctx: isoqube::StepContext) -> anyhow::Result<()> {
    PROBED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Ok(())
}

/// A step message of a run whose record is corrupt is dead-lettered to
/// `<q>_error` naming the collection and the id, without running the consumer
/// (never requeued for ever), and the endpoint goes on consuming.
pub async fn corrupt_run_message_is_dead_lettered(f: Fixture) {
    use isoqube::envelope::{Envelope, HEADER_RUN_ID, HEADER_STEP};
    use isoqube::transport::OutgoingMessage;
    use isoqube::{Event, InProcessTransport, Transport};
    use std::sync::atomic::Ordering;

    let transport = Arc::new(InProcessTransport::new());
    let svc = isoqube::Service::builder("conformance")
        .transport(transport.clone())
        .store(f.store.clone())
        .endpoints(["corrupt-probe"])
        .start()
        .await
        .expect("service starts");
    let id = Uuid::new_v4();
    (f.corrupt_run)(id).await;
    let publish = |env: Envelope| {
        let transport = transport.clone();
        async move {
            let msg = OutgoingMessage {
                body: env.to_vec(),
                message_id: env.message_id.clone(),
                correlation_id: env.correlation_id.clone(),
                headers: Default::default(),
                properties: Default::default(),
            };
            transport
                .publish(&CorruptProbe::info().exchange_name(), msg)
                .await
                .expect("publish");
        }
    };
    let mut step = Envelope::new(CorruptProbe::info().message_type(), json!({}));
    step.headers
        .insert(HEADER_RUN_ID.into(), json!(id.to_string()));
    step.headers.insert(HEADER_STEP.into(), json!(0));
    let before = PROBED.load(Ordering::SeqCst);
    publish(step).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let faulted = loop {
        if let Some(m) = transport
            .get("corrupt-probe_error")
            .await
            .expect("error queue")
        {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the step message of a corrupt run never reached corrupt-probe_error"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let header = |k: &str| {
        faulted
            .headers
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("MT-Fault-ExceptionType"), "isoqube::CorruptRecord");
    let reason = header("MT-Fault-Message");
    assert!(
        reason.contains("runs") && reason.contains(&id.to_string()),
        "{reason}"
    );
    assert_eq!(
        PROBED.load(Ordering::SeqCst),
        before,
        "the consumer ran for a corrupt run"
    );
    // The endpoint goes on: a plain event is consumed.
    publish(Envelope::new(
        CorruptProbe::info().message_type(),
        json!({}),
    ))
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while PROBED.load(Ordering::SeqCst) == before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the endpoint stopped consuming"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    svc.shutdown().await.expect("shutdown");
}

pub async fn corrupt_document(f: Fixture) {
    let s = f.store;
    let good = new_run("good");
    s.insert_run(&good).await.unwrap();
    let id = Uuid::new_v4();
    (f.corrupt_run)(id).await;
    let check = |e: Error| {
        let msg = e.to_string();
        assert!(e.is_corrupt() && !e.is_transient(), "{msg}");
        assert!(msg.contains("runs"), "names the collection: {msg}");
        assert!(msg.contains(&id.to_string()), "names the id: {msg}");
    };
    check(s.get_run(id).await.unwrap_err());
    // A list skips it and names it, and shows the good run.
    let page = s.list_runs(&RunFilter::default()).await.unwrap();
    assert_eq!(page.runs, vec![good.clone()]);
    let [CorruptRun { id: bad, reason }] = page.corrupt.as_slice() else {
        panic!("one corrupt record named: {:?}", page.corrupt);
    };
    assert_eq!(bad, &id.to_string());
    assert!(reason.contains("does not parse"), "{reason}");
    assert!(page.next.is_none(), "not a full page");
    // It counts towards the page size, and the cursor moves past it: paging
    // one by one sees the good run, then the corrupt one, then the end.
    let one = RunFilter {
        limit: 1,
        ..RunFilter::default()
    };
    let first = s.list_runs(&one).await.unwrap();
    assert_eq!((first.runs.len(), first.corrupt.len()), (1, 0));
    let second = s
        .list_runs(&one.at(&first.next.expect("cursor")))
        .await
        .unwrap();
    assert!(second.runs.is_empty());
    assert_eq!(second.corrupt.len(), 1, "{second:?}");
    let cursor = second
        .next
        .expect("a page of one corrupt record is full: it has a cursor");
    let third = s.list_runs(&one.at(&cursor)).await.unwrap();
    assert!(third.runs.is_empty() && third.corrupt.is_empty() && third.next.is_none());
    // A filter it does not match leaves it out.
    let of_good = s
        .list_runs(&RunFilter {
            definition: Some("good".into()),
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert!(of_good.corrupt.is_empty() && of_good.runs.len() == 1);
    check(
        s.claim_step(&StepKey::new(id, 0, "a", "h"), false)
            .await
            .unwrap_err(),
    );
    check(s.cancel_run(id).await.unwrap_err());
    // The good run is unaffected.
    assert_eq!(s.get_run(good.id).await.unwrap(), Some(good));
}

/// Runs found by the start of their id: sorted, at most the limit, none for
/// what no id can start with (nor for pattern characters).
pub async fn run_ids_by_prefix(f: Fixture) {
    let s = &f.store;
    let ids: Vec<Uuid> = [
        "abc10000-0000-4000-8000-000000000001",
        "abc10000-0000-4000-8000-000000000002",
        "abc20000-0000-4000-8000-000000000003",
    ]
    .iter()
    .map(|t| Uuid::parse_str(t).unwrap())
    .collect();
    for id in ids.iter().rev() {
        let mut run = new_run("prefixed");
        run.id = *id;
        s.insert_run(&run).await.unwrap();
    }
    assert_eq!(s.run_ids_with_prefix("abc1", 10).await.unwrap(), ids[..2]);
    assert_eq!(
        s.run_ids_with_prefix("abc10000-0000-4000-8000-000000000002", 10)
            .await
            .unwrap(),
        ids[1..2]
    );
    assert_eq!(s.run_ids_with_prefix("abc", 2).await.unwrap(), ids[..2]);
    assert_eq!(s.run_ids_with_prefix("abc", 10).await.unwrap(), ids);
    for nothing in ["abd", "ABC", "%", "_bc", ".*", "^a"] {
        assert_eq!(
            s.run_ids_with_prefix(nothing, 10).await.unwrap(),
            Vec::<Uuid>::new(),
            "{nothing}"
        );
    }
}

/// Runs searched by id prefix, variable value and log text, alone, together
/// and with status and definition, and paged one by one through a filter: the
/// same runs on every store, none skipped or repeated.
pub async fn runs_search(f: Fixture) {
    let s = &f.store;
    let mk = |id: &str, def: &str, v: serde_json::Value| {
        let mut run = Run::new(&def3(def), vars(v), "test");
        run.id = Uuid::parse_str(id).unwrap();
        run.variables = run.params.clone();
        run
    };
    let runs = [
        mk(
            "5ea10000-0000-4000-8000-000000000001",
            "alpha",
            json!({"who": "ann", "v": "1.10", "n": 2}),
        ),
        mk(
            "5ea10000-0000-4000-8000-000000000002",
            "alpha",
            json!({"who": "bob", "v": 1.5, "tags": ["x"]}),
        ),
        mk(
            "5ea20000-0000-4000-8000-000000000003",
            "beta",
            json!({"who": "ann", "ok": true, "o": {"a": 1}}),
        ),
        mk(
            "5ea30000-0000-4000-8000-000000000004",
            "beta",
            json!({"who.dot": "z", "n": "2"}),
        ),
    ];
    for r in &runs {
        s.insert_run(r).await.unwrap();
    }
    s.cancel_run(runs[2].id).await.unwrap();
    let log = |run: Uuid, message: &str| LogRecord {
        run_id: run,
        step: Some(0),
        event: Some("A".into()),
        level: "INFO".into(),
        message: message.into(),
        service: "svc".into(),
        host: "h".into(),
        timestamp: Utc::now(),
    };
    s.append_logs(&[
        log(runs[0].id, "Uploaded artefact to S3 (bucket=Blue)"),
        log(runs[1].id, "nothing to see"),
        log(runs[3].id, "retrying: connection reset [50%]"),
    ])
    .await
    .unwrap();
    let find = |f: RunFilter| {
        let s = s.clone();
        async move {
            let mut ids: Vec<Uuid> = s
                .list_runs(&f)
                .await
                .unwrap()
                .runs
                .iter()
                .map(|r| r.id)
                .collect();
            ids.sort();
            ids
        }
    };
    let ids = |ix: &[usize]| ix.iter().map(|&i| runs[i].id).collect::<Vec<_>>();
    let var = |k: &str, v: &str| RunFilter {
        variables: vec![(k.into(), v.into())],
        ..RunFilter::default()
    };
    let prefix = |p: &str| RunFilter {
        id_prefix: Some(p.into()),
        ..RunFilter::default()
    };
    let text = |t: &str| RunFilter {
        log_text: Some(t.into()),
        ..RunFilter::default()
    };
    assert_eq!(find(prefix("5ea1")).await, ids(&[0, 1]));
    assert_eq!(find(prefix("5EA2")).await, ids(&[2]), "any case");
    assert_eq!(
        find(prefix("5ea10000-0000-4000-8000-000000000002")).await,
        ids(&[1])
    );
    for nothing in ["5eb", "%", "_ea", ".*", "^5"] {
        assert_eq!(find(prefix(nothing)).await, ids(&[]), "{nothing}");
    }
    assert_eq!(find(var("who", "ann")).await, ids(&[0, 2]));
    assert_eq!(find(var("who", "an")).await, ids(&[]), "whole values only");
    assert_eq!(
        find(var("v", "1.10")).await,
        ids(&[0]),
        "1.10 finds \"1.10\""
    );
    assert_eq!(find(var("v", "1.5")).await, ids(&[1]));
    assert_eq!(
        find(var("n", "2")).await,
        ids(&[0, 3]),
        "2 finds 2 and \"2\""
    );
    assert_eq!(
        find(var("n", "\"2\"")).await,
        ids(&[3]),
        "\"2\" (JSON) finds the string only"
    );
    assert_eq!(find(var("ok", "true")).await, ids(&[2]));
    assert_eq!(find(var("o", r#"{"a": 1}"#)).await, ids(&[2]));
    assert_eq!(
        find(var("tags", "x")).await,
        ids(&[]),
        "no array element match"
    );
    assert_eq!(
        find(var("who.dot", "z")).await,
        ids(&[3]),
        "a name with a dot"
    );
    assert_eq!(find(var("nobody", "ann")).await, ids(&[]));
    assert_eq!(
        find(text("s3 (BUCKET=blue)")).await,
        ids(&[0]),
        "any case, literal"
    );
    assert_eq!(find(text("[50%]")).await, ids(&[3]));
    assert_eq!(find(text(".*")).await, ids(&[]), "not a pattern");
    assert_eq!(find(text("o")).await, ids(&[0, 1, 3]));
    let both = RunFilter {
        definition: Some("alpha".into()),
        log_text: Some("o".into()),
        variables: vec![("who".into(), "bob".into())],
        ..RunFilter::default()
    };
    assert_eq!(find(both).await, ids(&[1]));
    let cancelled = RunFilter {
        status: Some(RunStatus::Cancelled),
        variables: vec![("who".into(), "ann".into())],
        ..RunFilter::default()
    };
    assert_eq!(find(cancelled).await, ids(&[2]));
    // Paged one by one through a filter: every match once, in list order.
    let one = RunFilter {
        limit: 1,
        ..var("who", "ann")
    };
    let (mut seen, mut filter) = (Vec::new(), one.clone());
    for _ in 0..10 {
        let page = s.list_runs(&filter).await.unwrap();
        seen.extend(page.runs.iter().map(|r| r.id));
        match page.next {
            Some(next) => filter = one.at(&next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        vec![runs[2].id, runs[0].id],
        "newest first, none twice"
    );
}

/// Instantiates every case as a test; `$fixture` is an async fn returning a
/// [`Fixture`] with a fresh store.
#[macro_export]
macro_rules! conformance_tests {
    ($fixture:path) => {
        $crate::conformance_tests!(@each $fixture;
            definitions_crud, runs_insert_get_list, chain_outcomes, retried_calls_are_recognised, unrecorded_claims,
            join_race, graph_records_round_trip, compensation_race, cancel_and_compensate,
            fail_and_resume,
            cancel_and_abort, concurrent_claims, concurrent_claims_distinct_endpoints,
            concurrent_completes, wait_for_change,
            services, topics, logs, not_due_steps_are_refused, run_ids_by_prefix, runs_search, corrupt_document, corrupt_run_message_is_dead_lettered, schedule_ticks,
            priority_is_additive, delete_finished_runs_only);
    };
    (@each $fixture:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                store_conformance::$name($fixture().await).await;
            }
        )*
    };
}
