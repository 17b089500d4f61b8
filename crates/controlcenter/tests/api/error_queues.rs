//! The error queues and the queues over the API, as the CLI has them:
//! failed steps' messages listed (all queues, one endpoint's with a filter,
//! one whole), one requeued (its run resumed) and one discarded, a filtered
//! bulk discard, an unknown endpoint a 404; the queues report, the stale
//! queues, and a hosted endpoint's queue refused deletion. Every answer has
//! a status the document declares.

use super::*;

/// The fault messages of `endpoint` that the filter `words` keeps.
async fn faults(env: &Env, endpoint: &str, words: &str) -> Vec<Value> {
    let r = env
        .get(&format!("/api/v1/error-queues/{endpoint}?match={words}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["faults"].as_array().cloned().unwrap_or_default()
}

/// Waits until each run of `runs` has a message in `api-ship`'s error queue.
async fn wait_for_faults(env: &Env, runs: &[String]) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let all = faults(env, "api-ship", "").await;
        let has = |id: &String| all.iter().any(|f| f["run_id"] == id.as_str());
        if runs.iter().all(has) {
            return all;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "faults of {runs:?}: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn error_queues(env: &Env) {
    let def = json!({"name": "eq-flow", "steps": ["ApiPrepare", "ApiShip"]});
    let r = env.post("/api/v1/definitions", &def).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let mut runs = Vec::new();
    for _ in 0..3 {
        let id = env
            .start_run("eq-flow", json!({"fail_on": "api-ship"}))
            .await;
        let (_, run) = env.wait(&id).await;
        assert_eq!(run["status"], "Failed", "{run}");
        runs.push(id);
    }
    wait_for_faults(env, &runs).await;

    // Every error queue, then one endpoint's filtered to one run.
    let r = env.get("/api/v1/error-queues").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let queues = r.json()["error_queues"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ship = queues
        .iter()
        .find(|q| q["endpoint"] == "api-ship")
        .unwrap_or_else(|| panic!("api-ship in {queues:?}"));
    assert!(ship["count"].as_u64() >= Some(3), "{ship}");
    let first = faults(env, "api-ship", &runs[0]).await;
    assert_eq!(first.len(), 1, "{first:?}");
    let mid = first[0]["message_id"].as_str().expect("a message id");
    assert_eq!(first[0]["index"], 1);

    // One whole; an unknown one and an unknown endpoint are 404s.
    let r = env
        .get(&format!("/api/v1/error-queues/api-ship/{mid}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["run_id"], runs[0].as_str());
    assert!(r.json()["headers"].is_object());
    env.get("/api/v1/error-queues/api-ship/no-such-message")
        .await
        .expect_error(404, "no-such-message");
    let r = env
        .post("/api/v1/error-queues/no-such-endpoint/requeue", &json!({}))
        .await;
    r.expect_error(404, "no-such-endpoint");

    // Requeueing the failed step's message resumes its run.
    let r = env
        .post(
            &format!("/api/v1/error-queues/api-ship/{mid}/requeue"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let done = r.json();
    assert_eq!(done["outcome"], "resumed", "{done}");
    assert_eq!(done["run"]["id"], runs[0].as_str());

    // Discarding one, then the one a filter picks.
    let second = faults(env, "api-ship", &runs[1]).await;
    let mid = second[0]["message_id"].as_str().expect("a message id");
    let r = env
        .call(
            "DELETE",
            &format!("/api/v1/error-queues/api-ship/{mid}"),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(faults(env, "api-ship", &runs[1]).await.is_empty());
    let path = format!("/api/v1/error-queues/api-ship/discard?match={}", runs[2]);
    let r = env.post(&path, &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let bulk = r.json();
    assert_eq!(bulk["done"].as_array().map(Vec::len), Some(1), "{bulk}");
    assert_eq!(bulk["failed"].as_array().map(Vec::len), Some(0), "{bulk}");
    assert!(faults(env, "api-ship", &runs[2]).await.is_empty());

    // The queues: the report names the endpoints; a hosted one's queue is
    // not deleted.
    let r = env.get("/api/v1/queues").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json();
    let eps = report["endpoints"].as_array().cloned().unwrap_or_default();
    assert!(eps.iter().any(|e| e["endpoint"] == "api-ship"), "{report}");
    let r = env.get("/api/v1/queues/stale").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["endpoints"].is_array());
    let r = env.call("DELETE", "/api/v1/queues/api-prepare", None).await;
    assert_eq!(r.status, 409, "{}", r.text());
    answers_are_documented(env.addr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_queues_on_the_embedded_pair() {
    let env = Env::embedded(BODY_LIMIT).await;
    error_queues(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_queues_on_rabbitmq_and_mongodb() {
    let env = Env::real(BODY_LIMIT).await;
    error_queues(&env).await;
    env.stop().await;
}
