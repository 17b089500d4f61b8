//! Compensation over the API: the event stream of a run that
//! fails after a step with a compensation carries `compensation` events
//! before the run's own, the run ends `Compensated`; `cancel?compensate=true`
//! undoes what a running run did, and a bad `compensate` value is a 400.

use super::*;

/// Undoes `ApiPrepare` (a compensation).
#[event]
#[derive(Serialize, Deserialize)]
pub struct ApiUndo {}

#[consumer(service = "api-test")]
async fn api_undo(_ev: ApiUndo, ctx: StepContext) -> anyhow::Result<()> {
    if let Some(ms) = ctx.var_opt::<u64>("undo_ms") {
        tokio::time::sleep(Duration::from_millis(ms.min(10_000))).await;
    }
    Ok(())
}

fn undoable() -> Value {
    json!({
        "name": "undoable",
        "steps": [{"event": "ApiPrepare", "compensate": "ApiUndo"}, "ApiShip"],
    })
}

async fn compensation(env: &Env) {
    let r = env.post("/api/v1/definitions", &undoable()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let failing = env
        .start_run("undoable", json!({"fail_on": "api-ship", "undo_ms": 300}))
        .await;
    let r = env.get(&format!("/api/v1/runs/{failing}/events")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let events = sse_events(&r.text());
    let undo: Vec<Value> = events
        .iter()
        .filter(|(name, _, _)| name == "compensation")
        .map(|(_, data, _)| serde_json::from_str(data).expect("compensation JSON"))
        .collect();
    let statuses: Vec<&str> = undo.iter().filter_map(|c| c["status"].as_str()).collect();
    assert_eq!(statuses.last(), Some(&"Succeeded"), "{events:?}");
    assert!(undo
        .iter()
        .all(|c| c["event"] == "ApiUndo" && c["index"] == 0));
    assert_eq!(undo[0]["run_id"], failing.as_str());
    assert_eq!(undo[0]["step"], "ApiPrepare");
    let last = events.last().expect("events");
    assert_eq!(last.0, "run");
    let run: Value = serde_json::from_str(&last.1).expect("run");
    assert_eq!(run["status"], "Compensated", "{run}");
    assert_eq!(run["steps"][0]["compensation"]["status"], "Succeeded");
    // Its status answers as a run that did not succeed.
    let (code, _) = env.wait(&failing).await;
    assert_eq!(code, 409);

    let running = env.start_run("undoable", json!({"sleep_ms": 1500})).await;
    let path = format!("/api/v1/runs/{running}/cancel");
    let r = env
        .post(&format!("{path}?compensate=maybe"), &json!({}))
        .await;
    r.expect_error(400, "compensate must be true or false");
    // Once its first step is done, cancel it to be undone.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let run = env.get(&format!("/api/v1/runs/{running}")).await.json();
        if run["run"]["steps"][0]["status"] == "Succeeded"
            || run["steps"][0]["status"] == "Succeeded"
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{run}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = env
        .post(&format!("{path}?compensate=true"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "Compensating");
    let (code, run) = env.wait(&running).await;
    assert_eq!(code, 409, "{run}");
    assert_eq!(run["status"], "Compensated", "{run}");
    answers_are_documented(env.addr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compensation_on_the_embedded_pair() {
    let env = Env::embedded(BODY_LIMIT).await;
    compensation(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compensation_on_rabbitmq_and_mongodb() {
    let env = Env::real(BODY_LIMIT).await;
    compensation(&env).await;
    env.stop().await;
}
