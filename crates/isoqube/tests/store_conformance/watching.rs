//! Waiting for a run to change.

use std::time::Duration;

use isoqube::{Error, RunStatus, StepKey};
use uuid::Uuid;

use super::fixture::*;

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
            // The change comes while the other side waits: that is the case.
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
