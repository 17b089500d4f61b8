//! Deleting runs (`runs delete`, run retention): only a finished run goes,
//! with its log lines and nothing else; a run not finished is kept; a handle
//! that had the run in hand (another process) does not bring it back.

use isoqube::{Error, RunFilter, RunStatus, StepKey};

use super::fixture::{new_run, Fixture};
use super::services_topics_logs::line;

pub async fn delete_finished_runs_only(f: Fixture) {
    let s = f.store.clone();
    let running = new_run("d");
    s.insert_run(&running).await.unwrap();
    s.claim_step(&StepKey::new(running.id, 0, "a", "h"), false)
        .await
        .unwrap();
    let mut failed = Vec::new();
    for _ in 0..2 {
        let run = new_run("d");
        s.insert_run(&run).await.unwrap();
        let k = StepKey::new(run.id, 0, "a", "h");
        s.claim_step(&k, false).await.unwrap();
        s.fail_step(&k, "boom", 1).await.unwrap();
        assert_eq!(
            s.get_run(run.id).await.unwrap().unwrap().status,
            RunStatus::Failed
        );
        failed.push(run.id);
    }
    s.append_logs(&[line(running.id, 0), line(failed[0], 1), line(failed[0], 2)])
        .await
        .unwrap();

    assert!(
        !s.delete_run(running.id).await.unwrap(),
        "a running run is kept"
    );
    assert_eq!(
        s.get_run(running.id).await.unwrap().unwrap().status,
        RunStatus::Running
    );
    assert!(s.delete_run(failed[0]).await.unwrap(), "a failed run goes");
    assert!(s.get_run(failed[0]).await.unwrap().is_none());
    assert!(
        s.run_logs(failed[0], 0).await.unwrap().is_empty(),
        "with its logs"
    );
    assert_eq!(
        s.run_logs(running.id, 0).await.unwrap().len(),
        1,
        "only its"
    );
    assert!(!s.delete_run(failed[0]).await.unwrap(), "once");
    assert!(!s.delete_run(uuid::Uuid::new_v4()).await.unwrap());
    let listed = s.list_runs(&RunFilter::default()).await.unwrap();
    let ids: Vec<_> = listed.runs.iter().map(|r| r.id).collect();
    assert!(
        ids.contains(&running.id) && ids.contains(&failed[1]) && !ids.contains(&failed[0]),
        "{ids:?}"
    );

    // Deleted through another handle (another process), the run is gone for
    // this one too, though it read it last: a transition finds nothing.
    let peer = f.peers.first().cloned().unwrap_or_else(|| s.clone());
    s.get_run(failed[1]).await.unwrap();
    assert!(peer.delete_run(failed[1]).await.unwrap());
    assert!(s.get_run(failed[1]).await.unwrap().is_none());
    match s.resume_run(failed[1], Default::default()).await {
        Err(Error::NotFound { .. }) => {}
        other => panic!("a deleted run is not resumed: {other:?}"),
    }
    assert!(
        s.get_run(failed[1]).await.unwrap().is_none(),
        "not written back"
    );
}
