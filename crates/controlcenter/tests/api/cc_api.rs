//! The API on both pairs: runs searched by id prefix,
//! variable value and log text (query parameters); a unique start of a run id
//! in the run routes; PATCH of a definition; 404/405 naming the full path;
//! the OpenAPI document and the reference page readable without the token.

use super::*;

fn enc(s: &str) -> String {
    api_encode(s)
}

/// Percent-encodes a query value.
fn api_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn ids(page: &Value) -> Vec<String> {
    let mut ids: Vec<String> = page["runs"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

async fn search(env: &Env, query: &str) -> Vec<String> {
    let r = env.get(&format!("/api/v1/runs?{query}")).await;
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    ids(&r.json())
}

async fn runs_search(env: &Env) {
    let ann = env
        .start_run("flow", json!({ "who": "ann", "ver": "1.10" }))
        .await;
    let bob = env
        .start_run("flow", json!({ "who": "bob", "fail": true }))
        .await;
    env.wait(&ann).await;
    env.wait(&bob).await;
    let line = |run: &str, message: &str| LogLine::new(run, message);
    env.store
        .append_logs(&[
            line(&ann, "Uploaded to bucket=Blue [50%]").0,
            line(&bob, "nothing here").0,
        ])
        .await
        .expect("logs");
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(search(env, "var=who%3Dann").await, vec![ann.clone()]);
    assert_eq!(
        search(env, "var=who%3Dann&var=ver%3D1.10").await,
        vec![ann.clone()]
    );
    assert_eq!(
        search(env, "var=who%3Dann&var=ver%3D2").await,
        Vec::<String>::new()
    );
    assert_eq!(
        search(env, "status=failed&var=who%3Dbob").await,
        vec![bob.clone()]
    );
    assert_eq!(
        search(env, &format!("id_prefix={}", &ann[..8])).await,
        vec![ann.clone()]
    );
    assert_eq!(
        search(env, &format!("log_text={}", enc("BUCKET=blue [50%]"))).await,
        vec![ann.clone()]
    );
    assert_eq!(
        search(
            env,
            &format!("log_text={}&definition=flow", enc("NOTHING here"))
        )
        .await,
        vec![bob.clone()]
    );
    assert_eq!(
        search(
            env,
            &format!("log_text={}&definition=other", enc("nothing here"))
        )
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        search(env, "definition=flow&var=fail%3Dtrue").await,
        sorted(vec![bob.clone()])
    );
    // Paged one by one through a filter: each match once.
    let r = env.get("/api/v1/runs?var=fail%3Dtrue&limit=1").await;
    let first = r.json();
    assert_eq!(ids(&first), vec![bob.clone()], "{first}");
    if let (Some(b), Some(i)) = (
        first["next_before"].as_str(),
        first["next_before_id"].as_str(),
    ) {
        let next = env
            .get(&format!(
                "/api/v1/runs?var=fail%3Dtrue&limit=1&before={}&before_id={i}",
                enc(b)
            ))
            .await
            .json();
        assert!(!ids(&next).contains(&bob), "{next}");
    }
    for (query, needle) in [
        ("var=novalue", "`var`"),
        ("id_prefix=xyz", "`id_prefix`"),
        ("bogus=1", "bogus"),
        ("status=done", "`status`"),
        ("limit=1&limit=2", "duplicate"),
    ] {
        env.get(&format!("/api/v1/runs?{query}"))
            .await
            .expect_error(400, needle);
    }

    // A unique start of a run id names the run in every run route.
    let r = env.get(&format!("/api/v1/runs/{}", &ann[..8])).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["id"], json!(ann));
    let r = env
        .get(&format!("/api/v1/runs/{}/status", &bob[..6].to_uppercase()))
        .await;
    assert_eq!(r.status, 409, "failed run: {}", r.text());
    assert_eq!(r.json()["id"], json!(bob));
    env.get("/api/v1/runs/zz")
        .await
        .expect_error(400, "not a run id");
    // No run's id starts so (a run id has only 32 hex digits).
    env.get(&format!("/api/v1/runs/{}", "f".repeat(33)))
        .await
        .expect_error(404, "not found");
    // Ambiguous: runs until two share a first hex digit, then 400 naming both.
    let mut made = vec![ann.clone(), bob.clone()];
    let shared = loop {
        let firsts: Vec<char> = made.iter().filter_map(|i| i.chars().next()).collect();
        if let Some(c) = firsts
            .iter()
            .find(|c| firsts.iter().filter(|d| d == c).count() > 1)
        {
            break *c;
        }
        made.push(env.start_run("flow", json!({})).await);
    };
    let r = env.get(&format!("/api/v1/runs/{shared}")).await;
    let message = r.error();
    assert_eq!(r.status, 400, "{message}");
    assert!(message.contains("ambiguous"), "{message}");
    let named = made.iter().filter(|i| message.contains(i.as_str())).count();
    assert!(named >= 2, "names the matches: {message}");
    for id in &made {
        env.wait(id).await;
    }
}

/// A log line of a run (the API's test consumers write none).
struct LogLine(isoqube::LogRecord);

impl LogLine {
    fn new(run: &str, message: &str) -> LogLine {
        LogLine(isoqube::LogRecord {
            run_id: uuid::Uuid::parse_str(run).expect("run id"),
            step: Some(0),
            event: Some("ApiPrepare".into()),
            level: "INFO".into(),
            message: message.into(),
            service: "api-test".into(),
            host: "h".into(),
            timestamp: chrono::Utc::now(),
        })
    }
}

async fn patch_definition(env: &Env) {
    let r = env
        .call(
            "PATCH",
            "/api/v1/definitions/flow",
            Some(&json!({ "description": "patched" })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let def = r.json();
    assert_eq!(def["description"], "patched");
    assert_eq!(
        def["steps"],
        json!(["ApiPrepare", "ApiShip"]),
        "kept: {def}"
    );
    assert_eq!(def["variables"]["who"], "default", "kept: {def}");
    let r = env
        .call(
            "PATCH",
            "/api/v1/definitions/flow",
            Some(&json!({
                "steps": ["ApiPrepare", {"event": "ApiShip", "after": []}],
                "schedules": [{ "id": "often", "when": { "kind": "interval", "every_secs": 60 } }],
            })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let def = r.json();
    assert_eq!(def["description"], "patched");
    // The CLI's shape: `next_due` per schedule (the CLI tests check its side).
    assert_eq!(def["next_due"][0]["id"], "often", "{def}");
    assert!(def["next_due"][0]["next_due"].is_string(), "{def}");
    // What GET shows (graph steps as objects), sent back whole by PUT, is
    // accepted and changes nothing.
    let shown = env.get("/api/v1/definitions/flow").await.json();
    let r = env
        .call("PUT", "/api/v1/definitions/flow", Some(&shown))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["steps"], shown["steps"]);
    for (body, status, needle) in [
        (json!({ "steps": ["Nope"] }), 422, "Nope"),
        (json!({ "name": "other" }), 422, "renamed"),
        (json!({ "bogus": 1 }), 400, "bogus"),
        (json!({ "description": 5 }), 400, "description"),
    ] {
        env.call("PATCH", "/api/v1/definitions/flow", Some(&body))
            .await
            .expect_error(status, needle);
    }
    env.call("PATCH", "/api/v1/definitions/none-such", Some(&json!({})))
        .await
        .expect_error(404, "not found");
    let def = env.get("/api/v1/definitions/flow").await.json();
    assert_eq!(
        def["description"], "patched",
        "refused patches wrote nothing"
    );
    // Back to the plain chain the other scenarios expect.
    let r = env
        .call(
            "PATCH",
            "/api/v1/definitions/flow",
            Some(&json!({ "steps": ["ApiPrepare", "ApiShip"], "schedules": [] })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn paths_and_open_docs(env: &Env) {
    env.get("/api/v1/nope/deeper")
        .await
        .expect_error(404, "no such endpoint: /api/v1/nope/deeper");
    env.call("DELETE", "/api/v1/runs", None)
        .await
        .expect_error(405, "DELETE is not allowed on /api/v1/runs");
    // The document and the reference page need no token and hold no secret.
    let r = http(env.addr, "GET", "/api/v1/openapi.json", &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), api::openapi_document());
    let page = http(env.addr, "GET", "/api/v1/docs", &[], None).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html")));
    let html = page.text();
    for needle in [
        "GET /api/v1/runs",
        "PATCH /api/v1/definitions/{name}",
        "log_text",
        "id_prefix",
    ] {
        assert!(html.contains(needle), "{needle} in the reference page");
    }
    for secret in [TOKEN, HOOK_SECRET] {
        assert!(!r.text().contains(secret) && !html.contains(secret));
    }
}

async fn scenario(env: &Env) {
    assert_eq!(
        env.post("/api/v1/definitions", &flow_def()).await.status,
        201
    );
    runs_search(env).await;
    patch_definition(env).await;
    paths_and_open_docs(env).await;
    answers_are_documented(env.addr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cc_api_on_the_embedded_pair() {
    let env = Env::embedded(BODY_LIMIT).await;
    scenario(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cc_api_on_rabbitmq_and_mongodb() {
    let env = Env::real(BODY_LIMIT).await;
    scenario(&env).await;
    env.stop().await;
}
