//! What every case is given: a fresh store and its peers ([`Fixture`]),
//! ways to break or age a stored document, and [`Mirror`], which applies each
//! transition to the store and to the pure model and checks they agree.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::Utc;
use isoqube::model::{ClaimOutcome, CompleteOutcome, FailOutcome};
use isoqube::{Definition, Run, RunStore, StepKey, Variables};
use serde_json::json;
use uuid::Uuid;

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
    pub(crate) fn handle(&self, i: usize) -> Arc<dyn RunStore> {
        let n = self.peers.len() + 1;
        match i % n {
            0 => self.store.clone(),
            k => self.peers[k - 1].clone(),
        }
    }
}

pub(crate) fn vars(v: serde_json::Value) -> Variables {
    match v {
        serde_json::Value::Object(m) => m,
        _ => Variables::new(),
    }
}

pub(crate) fn def3(name: &str) -> Definition {
    Definition::new(name, ["A", "B", "C"])
        .with_description("three steps")
        .with_variables(vars(json!({"who": "suite", "n": 1})))
}

pub(crate) fn new_run(name: &str) -> Run {
    Run::new(&def3(name), vars(json!({"n": 2})), "test")
}

/// Applies each transition to the store and to an in-memory model copy and
/// checks both give the same outcome.
pub(crate) struct Mirror {
    pub(crate) store: Arc<dyn RunStore>,
    pub(crate) model: Run,
    /// The handling every key names (see `StepKey::handling`), if any.
    pub(crate) handling: Option<Uuid>,
}

impl Mirror {
    pub(crate) async fn new(store: &Arc<dyn RunStore>, def: &str) -> Self {
        let run = new_run(def);
        store.insert_run(&run).await.unwrap();
        Mirror {
            store: store.clone(),
            model: run,
            handling: None,
        }
    }

    pub(crate) fn key(&self, step: usize, ep: &str) -> StepKey {
        let key = StepKey::new(self.model.id, step, ep, "host-1");
        match self.handling {
            Some(id) => key.handled(id),
            None => key,
        }
    }

    pub(crate) async fn claim(&mut self, step: usize, ep: &str, redelivered: bool) -> ClaimOutcome {
        let k = self.key(step, ep);
        let got = self.store.claim_step(&k, redelivered).await.unwrap();
        let want = self.model.claim(&k, redelivered, Utc::now()).unwrap();
        assert_eq!(got, want, "claim step {step} by {ep}");
        got
    }

    /// `claim_step_unrecorded`: a claim that would run is answered from the
    /// stored state and changes nothing; any other is recorded as a claim.
    pub(crate) async fn claim_unrecorded(&mut self, step: usize, ep: &str) -> (ClaimOutcome, bool) {
        let k = self.key(step, ep);
        let got = self.store.claim_step_unrecorded(&k).await.unwrap();
        let want = match self.model.peek_claim(&k, false).unwrap() {
            Some(claimed) => (claimed, false),
            None => (self.model.claim(&k, false, Utc::now()).unwrap(), true),
        };
        assert_eq!(got, want, "unrecorded claim of step {step} by {ep}");
        got
    }

    pub(crate) async fn complete(
        &mut self,
        step: usize,
        ep: &str,
        patch: Variables,
    ) -> CompleteOutcome {
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

    pub(crate) async fn fail(&mut self, step: usize, ep: &str, error: &str) -> FailOutcome {
        let k = self.key(step, ep);
        let got = self.store.fail_step(&k, error, 3).await.unwrap();
        let want = self.model.fail(&k, error, 3, Utc::now()).unwrap();
        assert_eq!(got, want, "fail step {step} by {ep}");
        got
    }

    /// The stored run matches the model in everything but timestamps.
    pub(crate) async fn check(&self) -> Run {
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

/// A fork and a join: start -> (b, c) -> d.
pub(crate) fn diamond_def(name: &str) -> Definition {
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
