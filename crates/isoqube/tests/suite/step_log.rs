//! What a run's step log says about a step that runs again: a redelivered
//! message's attempt names the redelivery and why the broker made it, so an
//! operator reading the run needs no broker log.

use std::time::Duration;

use isoqube::{RunStatus, StepStatus};
use serde_json::json;

use super::{Harness, WAIT};

/// An instance dies mid-step; its message is redelivered to another, whose
/// attempt's log line says it was redelivered and why.
pub async fn redelivered_attempt_says_why(h: Harness) {
    let doomed = h.service(&["alpha"]).await;
    h.define("pair", &["Alpha", "Beta"]).await;
    let id = h.start("pair", json!({"sleep_ms": {"alpha": 500}})).await;
    h.wait_step(id, 0, StepStatus::Invoked).await;
    doomed.abort();
    let survivor = h.service(&["alpha", "beta"]).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let logs = h.store().run_logs(id, 0).await.expect("logs");
        if let Some(line) = logs
            .iter()
            .find(|l| l.step == Some(0) && l.message.contains("attempt 2"))
        {
            assert!(
                line.message.contains(
                    "attempt 2: redelivered by the broker (the previous handler's process \
                     stopped, its channel closed or its service shut down before it acknowledged)"
                ),
                "{line:#?}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no log line for the second attempt: {logs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    survivor.shutdown().await.expect("shutdown");
}
