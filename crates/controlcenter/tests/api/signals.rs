//! Runs that wait, over the API: `POST /runs/{id}/signal` completes a
//! waiting step (its data merged into the run's variables) and answers
//! what it did, `POST /signals` finds the run by its correlate key, and a
//! signal nothing waits for is a 409 saying what was looked for (an
//! unknown run 404, a bad body 400); `status=waiting` lists the runs still
//! waiting, and `/metrics` counts them (`isoqube_runs_waiting`); a run
//! started with `at` starts then. Every answer
//! is one the document
//! declares.

use super::*;

/// What an approver sends: no consumer; the `approval` definition waits for it.
#[event]
#[derive(Serialize, Deserialize)]
pub struct ApiApproval {}

fn approval() -> Value {
    json!({
        "name": "approval",
        "steps": [
            "ApiPrepare",
            { "wait_for": "ApiApproval", "timeout": "48h", "correlate": "order_id" },
            "ApiShip",
        ],
    })
}

/// Polls the run until its step `index` is `Waiting`.
async fn waiting(env: &Env, id: &str, index: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let run = env.get(&format!("/api/v1/runs/{id}")).await.json();
        if run["steps"][index]["status"] == "Waiting" {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "never waited: {run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn signals(env: &Env) {
    let r = env.post("/api/v1/definitions", &approval()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let one = env.start_run("approval", json!({"order_id": "o-1"})).await;
    let two = env.start_run("approval", json!({"order_id": "o-2"})).await;
    waiting(env, &one, 1).await;
    waiting(env, &two, 1).await;

    let path = format!("/api/v1/runs/{}/signal", &one[..8]);
    env.post(&path, &json!({"event": "ApiShip"}))
        .await
        .expect_error(409, "ApiShip");
    env.post(&path, &json!({"event": "ApiApproval", "data": [1]}))
        .await
        .expect_error(400, "data");
    env.post(&path, &json!({"event": " "}))
        .await
        .expect_error(400, "event");
    env.post(&path, &json!({"data": {}}))
        .await
        .expect_error(400, "event");
    let unknown = uuid::Uuid::new_v4();
    let r = env
        .post(
            &format!("/api/v1/runs/{unknown}/signal"),
            &json!({"event": "ApiApproval"}),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text());

    let r = env
        .post(
            &path,
            &json!({"event": "ApiApproval", "data": {"approved_by": "ann"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let done = r.json();
    assert_eq!(done["run_id"], one.as_str(), "{done}");
    assert_eq!(done["effect"], "completed", "{done}");
    assert_eq!(done["step"], 1, "{done}");
    assert_eq!(done["step_name"], "ApiApproval", "{done}");
    let (code, run) = env.wait(&one).await;
    assert_eq!(code, 200, "{run}");
    assert_eq!(run["variables"]["approved_by"], "ann", "{run}");

    let r = env
        .post(
            "/api/v1/signals",
            &json!({"event": "ApiApproval", "data": {"orderId": "o-2"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let reached = r.json();
    assert_eq!(reached.as_array().map(Vec::len), Some(1), "{reached}");
    assert_eq!(reached[0]["run_id"], two.as_str(), "{reached}");
    assert_eq!(reached[0]["effect"], "completed", "{reached}");
    let (code, run) = env.wait(&two).await;
    assert_eq!(code, 200, "{run}");
    // Neither waits now; a third one does, and is the one found waiting.
    let three = env.start_run("approval", json!({"order_id": "o-3"})).await;
    waiting(env, &three, 1).await;
    for query in ["status=waiting", "status=Waiting", "q=status%3Awaiting"] {
        let r = env.get(&format!("/api/v1/runs?{query}")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        let found: Vec<&str> = page["runs"]
            .as_array()
            .map(|rs| rs.iter().filter_map(|r| r["id"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(found, [three.as_str()], "{query}: {page}");
    }
    // Counted as waiting when scraped, and no longer once signalled.
    let waiting_now = || async {
        let text = http(env.addr, "GET", "/metrics", &[], None).await.text();
        assert!(
            text.contains("# TYPE isoqube_runs_waiting gauge\n"),
            "{text}"
        );
        text.lines()
            .find_map(|l| l.strip_prefix("isoqube_runs_waiting "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no isoqube_runs_waiting in:\n{text}"))
    };
    assert_eq!(waiting_now().await, 1);
    let r = env
        .post(
            &format!("/api/v1/runs/{three}/signal"),
            &json!({"event": "ApiApproval"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(env.wait(&three).await.0, 200);
    assert_eq!(waiting_now().await, 0);
    env.post(
        "/api/v1/signals",
        &json!({"event": "ApiApproval", "data": {"order_id": "o-404"}}),
    )
    .await
    .expect_error(409, "order_id = o-404");
    env.post("/api/v1/signals", &json!({"event": "ApiApproval"}))
        .await
        .expect_error(400, "data");
    delayed_start(env).await;
    answers_are_documented(env.addr);
}

/// `POST /runs` with `at`: the run is stored `Pending` with its start time,
/// and starts then (the first step waits, being the approval's turn).
async fn delayed_start(env: &Env) {
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let r = env
        .post(
            "/api/v1/runs",
            &json!({"definition": "approval", "variables": {"order_id": "o-9"}, "at": at.to_rfc3339()}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let run = r.json();
    assert_eq!(run["status"], "Pending", "{run}");
    let id = run["id"].as_str().expect("id").to_string();
    waiting(env, &id, 1).await;
    let run = env.get(&format!("/api/v1/runs/{id}")).await.json();
    let first: chrono::DateTime<chrono::Utc> = run["steps"][0]["invoked_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("the first step ran");
    assert!(first >= at, "not before its time: {first} < {at}");
    env.post(
        "/api/v1/runs",
        &json!({"definition": "approval", "at": "tomorrow"}),
    )
    .await
    .expect_error(400, "at");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_on_the_embedded_pair() {
    let env = Env::embedded(BODY_LIMIT).await;
    signals(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_on_rabbitmq_and_mongodb() {
    let env = Env::real(BODY_LIMIT).await;
    signals(&env).await;
    env.stop().await;
}
