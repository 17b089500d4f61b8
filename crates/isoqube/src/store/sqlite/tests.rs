//! Unit tests of the embedded store: stale cached runs across two handles on
//! one file, the upgrade of a file made before the `rev` column, and many
//! openers of one new file at once.

use std::path::PathBuf;

use rusqlite::{params, Connection};
use uuid::Uuid;

use super::db::ts;
use super::SqliteStore;
use crate::model::{ClaimOutcome, CompleteOutcome, Definition, Run, StepKey, Variables};
use crate::store::RunStore;

fn temp_path() -> PathBuf {
    std::env::temp_dir()
        .join("isoqube-tests")
        .join(format!("sqlite-unit-{}.db", Uuid::new_v4()))
}

fn run_of(steps: usize) -> Run {
    let def = Definition::new(
        "cache",
        (0..steps).map(|i| format!("Ev{i}")).collect::<Vec<_>>(),
    );
    Run::new(&def, Variables::new(), "test")
}

/// Two handles on one file each cache what they wrote; a transition on a
/// handle whose cached copy is stale must see the other handle's writes.
#[tokio::test]
async fn a_stale_cached_run_is_never_the_answer() {
    let path = temp_path();
    let a = SqliteStore::open(&path).await.expect("open a");
    let b = SqliteStore::open(&path).await.expect("open b");
    let run = run_of(3);
    let id = run.id;
    a.insert_run(&run).await.expect("insert");
    let k0 = StepKey::new(id, 0, "ep0", "h");
    // b claims and completes step 0 behind a's back.
    assert!(matches!(
        b.claim_step(&k0, false).await.expect("claim"),
        ClaimOutcome::Claimed { .. }
    ));
    let mut patch = Variables::new();
    patch.insert("from_b".into(), serde_json::json!(1));
    assert!(matches!(
        b.complete_step(&k0, patch, 1).await.expect("complete"),
        CompleteOutcome::Advanced { ref next } if next.len() == 1
    ));
    // a's cache still holds the run as inserted: claiming step 0 again must
    // say it is done, not run it a second time.
    assert!(matches!(
        a.claim_step(&k0, true).await.expect("claim on a"),
        ClaimOutcome::AlreadyDone { ref republish } if republish.len() == 1
    ));
    // a claims step 1 (its cache is refreshed by the read), b's variable is there.
    let k1 = StepKey::new(id, 1, "ep1", "h");
    match a.claim_step(&k1, false).await.expect("claim step 1") {
        ClaimOutcome::Claimed { variables, .. } => {
            assert_eq!(variables.get("from_b"), Some(&serde_json::json!(1)))
        }
        other => panic!("expected Claimed, got {other:?}"),
    }
    // b's cached copy is stale now (a claimed step 1): b completing step 1
    // must build on a's claim, and a redelivered claim on b is in flight/done.
    assert!(matches!(
        b.complete_step(&k1, Variables::new(), 1)
            .await
            .expect("complete 1"),
        CompleteOutcome::Advanced { ref next } if next.len() == 1
    ));
    // a, whose copy is stale again, completes step 1 too: recorded, not advanced twice.
    assert_eq!(
        a.complete_step(&k1, Variables::new(), 1)
            .await
            .expect("complete 1 on a"),
        CompleteOutcome::Recorded
    );
    let stored = a.get_run(id).await.expect("get").expect("run");
    assert_eq!(stored.steps[1].attempts, 2);
    assert_eq!(stored.steps[2].status, crate::model::StepStatus::Pending);
    let _ = std::fs::remove_file(&path);
}

/// A file made before the `rev` column gets it, its runs with -1, and
/// works as before.
#[tokio::test]
async fn a_file_without_the_rev_column_is_upgraded() {
    let path = temp_path();
    std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
    let run = run_of(2);
    {
        let old = Connection::open(&path).expect("old file");
        old.execute_batch(
            "CREATE TABLE runs (
                id TEXT PRIMARY KEY, created_at TEXT NOT NULL, status TEXT NOT NULL,
                definition TEXT NOT NULL, doc TEXT NOT NULL);",
        )
        .expect("old schema");
        old.execute(
            "INSERT INTO runs (id, created_at, status, definition, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                run.id.to_string(),
                ts(run.created_at),
                run.status.as_str(),
                run.definition,
                serde_json::to_string(&run).expect("doc")
            ],
        )
        .expect("old row");
    }
    let store = SqliteStore::open(&path).await.expect("open upgrades");
    let k0 = StepKey::new(run.id, 0, "ep0", "h");
    assert!(matches!(
        store.claim_step(&k0, false).await.expect("claim"),
        ClaimOutcome::Claimed { .. }
    ));
    assert!(matches!(
        store
            .complete_step(&k0, Variables::new(), 1)
            .await
            .expect("complete"),
        CompleteOutcome::Advanced { ref next } if next.len() == 1
    ));
    let stored = store.get_run(run.id).await.expect("get").expect("run");
    assert_eq!(stored.steps[0].status, crate::model::StepStatus::Succeeded);
    drop(store);
    let again = SqliteStore::open(&path).await.expect("open twice");
    again.ping().await.expect("ping");
    let _ = std::fs::remove_file(&path);
}

/// A claim decided without reading the row trusts the cached run only while
/// no other connection has written since that copy was checked: a write by
/// another handle seen by one group must not be forgotten by the next.
#[tokio::test]
async fn a_claim_after_another_handles_cancel_sees_the_cancel() {
    let path = temp_path();
    let a = SqliteStore::open(&path).await.expect("open a");
    let b = SqliteStore::open(&path).await.expect("open b");
    let run = run_of(3);
    let id = run.id;
    a.insert_run(&run).await.expect("insert");
    let k0 = StepKey::new(id, 0, "ep0", "h");
    assert!(matches!(
        a.claim_step_unrecorded(&k0).await.expect("claim 0"),
        (ClaimOutcome::Claimed { .. }, false)
    ));
    a.complete_step(&k0, Variables::new(), 1)
        .await
        .expect("complete 0");
    // Another process cancels the run while step 1's message waits.
    b.cancel_run(id).await.expect("cancel on b");
    // a does something else first: that group sees b's write...
    a.ping().await.expect("ping");
    a.insert_run(&run_of(1)).await.expect("another run");
    // ... and the next one must not trust a's copy of the run from before it.
    let k1 = StepKey::new(id, 1, "ep1", "h");
    let (claim, _) = a.claim_step_unrecorded(&k1).await.expect("claim 1");
    assert_eq!(claim, ClaimOutcome::Cancelled);
    let _ = std::fs::remove_file(&path);
}

/// Services started together open one new file at once; each must get the
/// store (a busy refusal while another sets the file up is waited out).
#[test]
fn many_processes_open_one_new_file_at_once() {
    for _ in 0..20 {
        let path = temp_path();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let openers: Vec<_> = (0..8)
            .map(|_| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    super::schema::open_connection(&path).map(|_| ())
                })
            })
            .collect();
        for opener in openers {
            let opened = opener.join().expect("opener thread");
            assert!(opened.is_ok(), "open failed: {opened:?}");
        }
    }
}
