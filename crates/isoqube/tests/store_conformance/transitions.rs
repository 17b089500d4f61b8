//! A step's transitions (claim, complete, fail, resume, cancel, abort), each
//! checked against the pure model: a step not due is refused, a retried call
//! is recognised as its own, a start recorded with its outcome.

use chrono::Utc;
use isoqube::model::{ClaimOutcome, CompleteOutcome, FailOutcome};
use isoqube::{Error, RunStatus, StepKey, StepStatus, Variables};
use serde_json::json;
use uuid::Uuid;

use super::fixture::*;

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
