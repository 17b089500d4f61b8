//! `/metrics`: runs counted by definition and status, and their durations
//! by definition, when scraped.

use super::*;

/// `/metrics` counts the runs by definition and status, and their durations
/// by definition, when scraped.
async fn run_metrics(env: &Env) {
    let text = http(env.addr, "GET", "/metrics", &[], None).await.text();
    assert!(text.contains("# TYPE isoqube_runs_total gauge\n"), "{text}");
    assert!(!text.contains("isoqube_runs_total{"), "no runs yet: {text}");
    let slow = env.start_run("flow", json!({ "sleep_ms": 1200 })).await;
    let failed = env.start_run("flow", json!({ "fail": true })).await;
    assert_eq!(env.wait(&slow).await.0, 200);
    assert_eq!(env.wait(&failed).await.0, 409);
    let r = http(env.addr, "GET", "/metrics", &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    for line in [
        "isoqube_runs_total{definition=\"flow\",status=\"Succeeded\"} 1\n",
        "isoqube_runs_total{definition=\"flow\",status=\"Failed\"} 1\n",
        "# TYPE isoqube_run_duration_seconds histogram\n",
        "isoqube_run_duration_seconds_bucket{definition=\"flow\",le=\"+Inf\"} 2\n",
        "isoqube_run_duration_seconds_count{definition=\"flow\"} 2\n",
        "isoqube_controlcenter_store_up 1\n",
        "isoqube_runs_waiting 0\n",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    let sum: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("isoqube_run_duration_seconds_sum{definition=\"flow\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sum in:\n{text}"));
    assert!(sum >= 1.2, "the slow run took 1.2 s at least: {sum}");
    // Computed when scraped: a resumed run moves from Failed to Succeeded.
    let r = env
        .post(
            &format!("/api/v1/runs/{failed}/resume"),
            &json!({ "variables": { "fail": false } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(env.wait(&failed).await.0, 200);
    let text = http(env.addr, "GET", "/metrics", &[], None).await.text();
    assert!(
        text.contains("isoqube_runs_total{definition=\"flow\",status=\"Succeeded\"} 2\n"),
        "{text}"
    );
    assert!(!text.contains("status=\"Failed\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_metrics_on_the_embedded_pair() {
    let env = Env::embedded(BODY_LIMIT).await.with_flow().await;
    run_metrics(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_metrics_on_rabbitmq_and_mongodb() {
    let env = Env::real(BODY_LIMIT).await.with_flow().await;
    run_metrics(&env).await;
    env.stop().await;
}
