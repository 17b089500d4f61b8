//! The API at the edges an operator found, on both pairs: `PATCH`
//! takes the priority `GET` shows; `DELETE /api/v1/runs/{id}` deletes a
//! finished run and refuses one not finished; a webhook delivery sent twice
//! (`X-GitHub-Delivery`, `Idempotency-Key`) starts one run; a MongoDB gone
//! under the API answers 503 (and `/health/ready` 503) within their bounds,
//! naming the store.

use super::*;

/// `PATCH {"priority": N}` changes it (0-9), as `GET` shows it.
async fn patch_priority(env: &Env) {
    let r = env
        .call(
            "PATCH",
            "/api/v1/definitions/flow",
            Some(&json!({ "priority": 5 })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["priority"], 5);
    assert_eq!(
        env.get("/api/v1/definitions/flow").await.json()["priority"],
        5
    );
    env.call(
        "PATCH",
        "/api/v1/definitions/flow",
        Some(&json!({ "priority": 10 })),
    )
    .await
    .expect_error(422, "priority");
    env.call(
        "PATCH",
        "/api/v1/definitions/flow",
        Some(&json!({ "priority": "high" })),
    )
    .await
    .expect_error(400, "priority");
    let id = env.start_run("flow", json!({})).await;
    assert_eq!(env.wait(&id).await.1["priority"], 5, "its runs take it");
    let r = env
        .call(
            "PATCH",
            "/api/v1/definitions/flow",
            Some(&json!({ "priority": 0 })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// A finished run is deleted (204, then 404); one not finished is a
/// 409 naming its status, and stays.
async fn delete_runs(env: &Env) {
    let done = env.start_run("flow", json!({})).await;
    assert_eq!(env.wait(&done).await.0, 200);
    let r = env
        .call("DELETE", &format!("/api/v1/runs/{}", &done[..13]), None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    env.get(&format!("/api/v1/runs/{done}"))
        .await
        .expect_error(404, "not found");
    env.call("DELETE", &format!("/api/v1/runs/{done}"), None)
        .await
        .expect_error(404, "not found");
    let slow = env.start_run("flow", json!({ "sleep_ms": 3000 })).await;
    env.call("DELETE", &format!("/api/v1/runs/{slow}"), None)
        .await
        .expect_error(409, "only a finished run");
    assert_eq!(env.get(&format!("/api/v1/runs/{slow}")).await.status, 200);
    assert_eq!(env.wait(&slow).await.0, 200);
    answers_are_documented(env.addr);
}

/// The same delivery id again (from any API process: the run id is
/// derived from it) answers 200 with the first run and starts nothing; a
/// malformed one is a 400; without one, each call starts a run.
async fn webhook_deliveries(env: &Env) {
    let before = count(env).await;
    let body = br#"{"who": "delivered"}"#;
    let sig = super::webhooks::signature(HOOK_SECRET, body);
    let delivery = uuid::Uuid::new_v4().to_string();
    let send = |header: &'static str, value: String| {
        let sig = sig.clone();
        async move {
            http(
                env.addr,
                "POST",
                "/hooks/hook-flow-1",
                &[
                    ("Content-Type", "application/json"),
                    ("X-Hub-Signature-256", &sig),
                    (header, &value),
                ],
                Some(body),
            )
            .await
        }
    };
    let first = send("X-GitHub-Delivery", delivery.clone()).await;
    assert_eq!(first.status, 202, "{}", first.text());
    let id = first.json()["run_id"].as_str().expect("run id").to_string();
    let again = send("X-GitHub-Delivery", delivery.clone()).await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.json()["run_id"], json!(id), "the first run");
    let (code, run) = env.wait(&id).await;
    assert_eq!(code, 200, "{run}");
    assert!(
        run["started_by"]
            .as_str()
            .is_some_and(|s| s.contains(&delivery)),
        "the delivery on the run: {run}"
    );
    let key = uuid::Uuid::new_v4().to_string();
    let a = send("Idempotency-Key", key.clone()).await;
    let b = send("Idempotency-Key", key).await;
    assert_eq!((a.status, b.status), (202, 200), "{}", b.text());
    assert_eq!(a.json()["run_id"], b.json()["run_id"]);
    send("X-GitHub-Delivery", "x".repeat(201))
        .await
        .expect_error(400, "X-GitHub-Delivery");
    assert_eq!(count(env).await, before + 2, "one run per delivery");
    // No delivery id: the caller did not ask for it, each call is a run.
    for _ in 0..2 {
        let r = signed(env, body, &sig).await;
        assert_eq!(r.status, 202, "{}", r.text());
    }
    assert_eq!(count(env).await, before + 4);
    answers_are_documented(env.addr);
}

/// How many runs of `flow` the API lists.
async fn count(env: &Env) -> usize {
    let r = env.get("/api/v1/runs?definition=flow&limit=100").await;
    r.json()["runs"].as_array().map_or(0, Vec::len)
}

async fn signed(env: &Env, body: &[u8], sig: &str) -> Resp {
    http(
        env.addr,
        "POST",
        "/hooks/hook-flow-1",
        &[
            ("Content-Type", "application/json"),
            ("X-Hub-Signature-256", sig),
        ],
        Some(body),
    )
    .await
}

async fn scenario(env: &Env) {
    assert_eq!(
        env.post("/api/v1/definitions", &flow_def()).await.status,
        201
    );
    patch_priority(env).await;
    delete_runs(env).await;
    webhook_deliveries(env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edges_on_the_embedded_pair() {
    let env = Env::embedded(BODY_LIMIT).await;
    scenario(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edges_on_rabbitmq_and_mongodb() {
    let env = Env::real(BODY_LIMIT).await;
    scenario(&env).await;
    env.stop().await;
}

/// The store goes away under a running API connected as `serve`
/// connects (calls wait [`api::API_STORE_WAIT`] for a server): a request's
/// 503 comes within that bound (and a margin), `/health/ready`'s within
/// [`api::READY_STORE_WAIT`], naming the store by its address and not what
/// the store was doing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_answers_in_bounded_time_on_mongodb() {
    let (env, proxy) = super::store_outage::behind_proxy(api::API_STORE_WAIT).await;
    assert_eq!(env.get("/api/v1/runs").await.status, 200);
    assert_eq!(
        env.post("/api/v1/definitions", &flow_def()).await.status,
        201
    );
    proxy.cut();
    let margin = Duration::from_millis(1500);
    for path in [
        "/api/v1/runs",
        "/api/v1/definitions/flow",
        "/api/v1/runs?status=Running",
    ] {
        let at = tokio::time::Instant::now();
        let r = env.get(path).await;
        let took = at.elapsed();
        let message = r.error();
        assert_eq!(r.status, 503, "{message}");
        assert!(
            took <= api::API_STORE_WAIT + margin,
            "{path}: 503 after {took:?}, more than {:?} and a margin",
            api::API_STORE_WAIT
        );
        let want = format!("MongoDB at 127.0.0.1:{} is unreachable", proxy.port);
        assert!(message.contains(&want), "{want:?} in {message}");
        for internal in ["list", "find", "index", "read", "Topology"] {
            assert!(!message.contains(internal), "{internal:?} in {message}");
        }
    }
    let at = tokio::time::Instant::now();
    let r = http(env.addr, "GET", "/health/ready", &[], None).await;
    let took = at.elapsed();
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["store"], "unavailable");
    assert!(
        took <= api::READY_STORE_WAIT + Duration::from_millis(500),
        "/health/ready after {took:?}"
    );
    env.stop().await;
}
