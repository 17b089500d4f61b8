//! Runs over the API: started, read, listed, followed, cancelled, resumed
//! and re-run (with changed variables), and bad queries refused by name.

use super::*;

pub(crate) async fn runs(env: &Env) {
    let mut started = Vec::new();

    // A run that takes a while: 202 while it runs, the event stream follows it
    // to the end, then 200.
    let first = env.start_run("flow", json!({ "sleep_ms": 400 })).await;
    started.push(first.clone());
    let r = env.get(&format!("/api/v1/runs/{first}/status")).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(matches!(
        r.json()["status"].as_str(),
        Some("Pending" | "Running")
    ));
    let r = env.get(&format!("/api/v1/runs/{first}/events")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/event-stream")));
    let events = sse_events(&r.text());
    assert!(events.len() >= 3, "several changes streamed: {events:?}");
    let mut last_version = 0;
    for (name, data, id) in &events {
        assert_eq!(name, "run");
        let run: Value = serde_json::from_str(data).expect("run JSON");
        let version = run["version"].as_u64().expect("version");
        assert!(version > last_version || last_version == 0, "{events:?}");
        assert_eq!(id.as_deref(), Some(version.to_string().as_str()));
        last_version = version;
    }
    let last: Value = serde_json::from_str(&events[events.len() - 1].1).expect("json");
    assert_eq!(last["status"], "Succeeded");
    assert_eq!(last["steps"][1]["status"], "Succeeded");
    let (code, run) = env.wait(&first).await;
    assert_eq!(code, 200);
    assert_eq!(run["status"], "Succeeded");
    // A finished run's stream is one event; none for a client that saw its
    // last version (or claims a later one), and the stream ends at once.
    let r = env.get(&format!("/api/v1/runs/{first}/events")).await;
    assert_eq!(sse_events(&r.text()).len(), 1);
    let auth = format!("Bearer {TOKEN}");
    let events_path = format!("/api/v1/runs/{first}/events");
    for seen in [last_version.to_string(), i64::MAX.to_string()] {
        let r = http(
            env.addr,
            "GET",
            &events_path,
            &[("Authorization", &auth), ("Last-Event-ID", &seen)],
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(sse_events(&r.text()), vec![], "Last-Event-ID {seen}");
    }
    for bad in ["abc", "-1", "9223372036854775808"] {
        http(
            env.addr,
            "GET",
            &events_path,
            &[("Authorization", &auth), ("Last-Event-ID", bad)],
            None,
        )
        .await
        .expect_error(400, "Last-Event-ID");
    }

    let r = env.get(&format!("/api/v1/runs/{first}")).await;
    assert_eq!(r.status, 200);
    let run = r.json();
    assert_eq!(run["started_by"], "http");
    assert_eq!(
        run["variables"]["who"], "default",
        "definition defaults apply"
    );

    // Bad starts.
    env.post("/api/v1/runs", &json!({ "definition": "missing" }))
        .await
        .expect_error(404, "definition 'missing' not found");
    env.post(
        "/api/v1/runs",
        &json!({ "definition": "flow", "colour": 1 }),
    )
    .await
    .expect_error(400, "colour");
    env.post(
        "/api/v1/runs",
        &json!({ "definition": "flow", "variables": [1, 2] }),
    )
    .await
    .expect_error(400, "variables");
    env.post("/api/v1/runs", &json!({ "variables": {} }))
        .await
        .expect_error(400, "definition");
    env.post("/api/v1/runs", &json!("flow"))
        .await
        .expect_error(400, "invalid type");
    env.post(
        "/api/v1/runs",
        &json!({ "definition": "flow", "variables": { "list": [{ "a\u{0}": 1 }] } }),
    )
    .await
    .expect_error(400, "list[0].a\\0");

    // Status codes: failed (409), unknown (404), malformed (400).
    let failed = env.start_run("flow", json!({ "fail": true })).await;
    started.push(failed.clone());
    let (code, run) = env.wait(&failed).await;
    assert_eq!(code, 409);
    assert_eq!(run["status"], "Failed");
    let unknown = uuid::Uuid::new_v4();
    for suffix in ["", "/status", "/events"] {
        env.get(&format!("/api/v1/runs/{unknown}{suffix}"))
            .await
            .expect_error(404, "not found");
        env.get(&format!("/api/v1/runs/not-a-uuid{suffix}"))
            .await
            .expect_error(400, "not a run id");
    }

    // Resume a failed run; resuming a succeeded one is a conflict.
    let flaky = env.start_run("flow", json!({ "fail_first": true })).await;
    started.push(flaky.clone());
    assert_eq!(env.wait(&flaky).await.0, 409);
    let r = env
        .call("POST", &format!("/api/v1/runs/{flaky}/resume"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(env.wait(&flaky).await.0, 200);
    let r = env
        .call("POST", &format!("/api/v1/runs/{first}/resume"), None)
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    r.error();

    // Cancel a running run: status then says 409 Cancelled; again is a conflict.
    let slow = env.start_run("flow", json!({ "sleep_ms": 1500 })).await;
    started.push(slow.clone());
    let r = env
        .call("POST", &format!("/api/v1/runs/{slow}/cancel"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "Cancelled");
    let (code, run) = env.wait(&slow).await;
    assert_eq!(code, 409);
    assert_eq!(run["status"], "Cancelled");
    let r = env
        .call("POST", &format!("/api/v1/runs/{slow}/cancel"), None)
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    r.error();

    // Re-run.
    let r = env
        .call("POST", &format!("/api/v1/runs/{first}/rerun"), None)
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let again = r.json()["id"].as_str().expect("id").to_string();
    assert_eq!(r.header("location"), Some(format!("/api/v1/runs/{again}")));
    started.push(again.clone());
    let (code, run) = env.wait(&again).await;
    assert_eq!(code, 200);
    assert_eq!(run["rerun_of"], json!(first));
    for action in ["rerun", "resume", "cancel"] {
        env.call("POST", &format!("/api/v1/runs/{unknown}/{action}"), None)
            .await
            .expect_error(404, "not found");
        env.call("POST", &format!("/api/v1/runs/nope/{action}"), None)
            .await
            .expect_error(400, "not a run id");
    }

    // Listing: newest first, pages of 2 following `next_before`, every run once.
    let mut seen = Vec::new();
    let mut path = "/api/v1/runs?limit=2".to_string();
    let mut last_created: Option<String> = None;
    loop {
        let r = env.get(&path).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        let runs = page["runs"].as_array().cloned().expect("runs");
        assert!(runs.len() <= 2);
        for run in &runs {
            let created = run["created_at"].as_str().expect("created").to_string();
            if let Some(prev) = &last_created {
                let (a, b) = (parse_time(prev), parse_time(&created));
                assert!(b < a, "newest first: {prev} then {created}");
            }
            last_created = Some(created);
            seen.push(run["id"].as_str().expect("id").to_string());
        }
        match (
            page["next_before"].as_str(),
            page["next_before_id"].as_str(),
        ) {
            (Some(cursor), Some(id)) => {
                assert_eq!(runs.len(), 2);
                assert_eq!(Some(id), runs[1]["id"].as_str(), "cursor id = last run");
                path = format!(
                    "/api/v1/runs?limit=2&before={}&before_id={id}",
                    cursor.replace('+', "%2B")
                );
                // `before_id` alone is the same cursor: "after this run".
                let alone = env
                    .get(&format!("/api/v1/runs?limit=2&before_id={id}"))
                    .await;
                assert_eq!(alone.status, 200, "{}", alone.text());
                assert_eq!(alone.json(), env.get(&path).await.json(), "before_id alone");
            }
            (None, None) => break,
            other => panic!("half a cursor: {other:?}"),
        }
    }
    let mut expected = started.clone();
    expected.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, expected, "every run exactly once across pages");

    let r = env.get("/api/v1/runs?status=failed").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let runs = r.json()["runs"].as_array().cloned().expect("runs");
    assert!(!runs.is_empty());
    assert!(runs.iter().all(|r| r["status"] == "Failed"));
    let r = env.get("/api/v1/runs?definition=flow&limit=1000").await;
    assert_eq!(
        r.json()["runs"].as_array().map(Vec::len),
        Some(started.len())
    );
    assert_eq!(r.json()["next_before"], Value::Null);
    // A cursor run that does not exist: 404 naming the parameter.
    env.get(&format!("/api/v1/runs?before_id={}", uuid::Uuid::new_v4()))
        .await
        .expect_error(404, "before_id");
    // Bad query parameters: 400 with a message naming the parameter.
    for (path, names) in [
        ("/api/v1/runs?status=Bogus", "status"),
        ("/api/v1/runs?limit=0", "limit"),
        ("/api/v1/runs?limit=abc", "limit"),
        ("/api/v1/runs?limit=1001", "limit"),
        ("/api/v1/runs?before_id=x", "before_id"),
        (
            "/api/v1/runs?before=2030-01-01T00:00:00Z&before_id=x",
            "before_id",
        ),
        ("/api/v1/runs?before=yesterday", "before"),
        ("/api/v1/runs?colour=red", "colour"),
    ] {
        env.get(path).await.expect_error(400, names);
    }
}

pub(crate) fn parse_time(s: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Resume and re-run take an optional `{"variables": {...}}` merged over the
/// run's variables (resume) or the old parameters (rerun); no body changes
/// nothing, and a body that is not one is refused.
async fn changed_variables(env: &Env) {
    let failed = env
        .start_run("flow", json!({ "fail": true, "who": "first" }))
        .await;
    assert_eq!(env.wait(&failed).await.0, 409);

    // Re-run with the fix: the new run's parameters are the old ones merged.
    let r = env
        .post(
            &format!("/api/v1/runs/{failed}/rerun"),
            &json!({ "variables": { "fail": false } }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let again = r.json()["id"].as_str().expect("id").to_string();
    let (code, run) = env.wait(&again).await;
    assert_eq!(code, 200, "{run}");
    assert_eq!(run["params"]["fail"], false, "{run}");
    assert_eq!(run["params"]["who"], "first", "{run}");
    assert_eq!(run["rerun_of"], json!(failed));

    // Bodies that are not `{"variables": {...}}`: refused, nothing resumed.
    for (body, needle) in [
        (json!({ "vars": {} }), "vars"),
        (json!({ "variables": [1] }), "variables"),
        (json!({ "variables": { "a\u{0}": 1 } }), "NUL"),
    ] {
        env.post(&format!("/api/v1/runs/{failed}/resume"), &body)
            .await
            .expect_error(400, needle);
    }
    assert_eq!(env.wait(&failed).await.1["status"], "Failed");
    // `null`, as the document's nullable body allows, is no change.
    let r = env
        .post(&format!("/api/v1/runs/{failed}/rerun"), &Value::Null)
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_string();
    assert_eq!(env.wait(&id).await.1["params"]["fail"], true);

    // Resume with the fix: the failed step sees the merged variables.
    let r = env
        .post(
            &format!("/api/v1/runs/{failed}/resume"),
            &json!({ "variables": { "fail": false } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (code, run) = env.wait(&failed).await;
    assert_eq!(code, 200, "{run}");
    assert_eq!(run["variables"]["fail"], false, "{run}");
    assert_eq!(run["variables"]["who"], "first", "{run}");
    assert_eq!(
        run["params"]["fail"], true,
        "the parameters stay as started"
    );
    answers_are_documented(env.addr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_variables_on_the_embedded_pair() {
    let env = Env::embedded(BODY_LIMIT).await.with_flow().await;
    changed_variables(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_variables_on_rabbitmq_and_mongodb() {
    let env = Env::real(BODY_LIMIT).await.with_flow().await;
    changed_variables(&env).await;
    env.stop().await;
}
