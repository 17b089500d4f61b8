//! What operators reach for first (issue 19), over the API on both pairs:
//! resume and re-run with changed variables; runs by definition and outcome
//! on `/metrics`; a 503 that names the unreachable store in one line;
//! webhooks signed with an HMAC of the body.

use super::*;

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
    let env = Env::embedded(BODY_LIMIT).await;
    assert_eq!(
        env.post("/api/v1/definitions", &flow_def()).await.status,
        201
    );
    run_metrics(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_metrics_on_rabbitmq_and_mongodb() {
    let env = Env::real(BODY_LIMIT).await;
    assert_eq!(
        env.post("/api/v1/definitions", &flow_def()).await.status,
        201
    );
    run_metrics(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_variables_on_the_embedded_pair() {
    let env = Env::embedded(BODY_LIMIT).await;
    assert_eq!(
        env.post("/api/v1/definitions", &flow_def()).await.status,
        201
    );
    changed_variables(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_variables_on_rabbitmq_and_mongodb() {
    let env = Env::real(BODY_LIMIT).await;
    assert_eq!(
        env.post("/api/v1/definitions", &flow_def()).await.status,
        201
    );
    changed_variables(&env).await;
    env.stop().await;
}

/// The HMAC-SHA256 of `body` keyed with `secret`, as `sha256=<hex>`.
pub(super) fn signature(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

async fn signed_hook(env: &Env, header: &str, signature: &str, body: &[u8]) -> Resp {
    http(
        env.addr,
        "POST",
        "/hooks/hook-flow-1",
        &[("Content-Type", "application/json"), (header, signature)],
        Some(body),
    )
    .await
}

/// A webhook call signed with the body's HMAC-SHA256 (GitHub's
/// `X-Hub-Signature-256`, or `X-Signature`) starts a run without the secret
/// itself; a wrong or malformed signature is a 401 that says so.
async fn webhook_signatures(env: &Env) {
    let body = br#"{"who": "signed"}"#;
    let good = signature(HOOK_SECRET, body);
    for (header, sig) in [
        ("X-Hub-Signature-256", good.clone()),
        (
            "X-Signature",
            good.to_uppercase().replacen("SHA256=", "sha256=", 1),
        ),
    ] {
        let r = signed_hook(env, header, &sig, body).await;
        assert_eq!(r.status, 202, "{header}: {}", r.text());
        let id = r.json()["run_id"].as_str().expect("run id").to_string();
        let (code, run) = env.wait(&id).await;
        assert_eq!(code, 200, "{run}");
        assert_eq!(run["variables"]["who"], "signed", "{run}");
    }
    let other_body = signature(HOOK_SECRET, br#"{"who": "someone else"}"#);
    let other_key = signature("another-secret-of-enough-length", body);
    for (header, sig, needle) in [
        (
            "X-Hub-Signature-256",
            other_body.as_str(),
            "wrong signature",
        ),
        ("X-Signature", other_key.as_str(), "wrong signature"),
        ("X-Hub-Signature-256", "sha1=abcdef", "malformed signature"),
        ("X-Signature", "sha256=zz", "malformed signature"),
        ("X-Signature", HOOK_SECRET, "malformed signature"),
    ] {
        signed_hook(env, header, sig, body)
            .await
            .expect_error(401, needle);
    }
    // The 401 without anything names both ways, in one instruction.
    let r = http(env.addr, "POST", "/hooks/hook-flow-1", &[], None).await;
    let message = r.error();
    assert_eq!(r.status, 401, "{message}");
    assert!(message.contains("X-Hub-Signature-256"), "{message}");
    assert_eq!(message.matches("send").count(), 1, "{message}");
    answers_are_documented(env.addr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_signatures_on_the_embedded_pair() {
    let env = Env::embedded(BODY_LIMIT).await;
    assert_eq!(
        env.post("/api/v1/definitions", &flow_def()).await.status,
        201
    );
    webhook_signatures(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_signatures_on_rabbitmq_and_mongodb() {
    let env = Env::real(BODY_LIMIT).await;
    assert_eq!(
        env.post("/api/v1/definitions", &flow_def()).await.status,
        201
    );
    webhook_signatures(&env).await;
    env.stop().await;
}

/// A TCP forwarder to the MongoDB-wire test server that can be cut: then new
/// connections are refused and open ones closed, as when the server goes away.
pub(super) struct CutProxy {
    pub(super) port: u16,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl CutProxy {
    pub(super) async fn to(upstream: String) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let spawned = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                spawned.lock().expect("tasks").push(conn);
            }
        });
        tasks.lock().expect("tasks").push(accept);
        CutProxy { port, tasks }
    }

    pub(super) fn cut(&self) {
        for t in self.tasks.lock().expect("tasks").drain(..) {
            t.abort();
        }
    }
}

/// The store goes away under a running API: its 503 says in one line which
/// store (by address, no driver dump) does not answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_store_is_one_line_on_mongodb() {
    let upstream = isoqube::redact::url_hosts(&mongo_url());
    let proxy = CutProxy::to(upstream).await;
    let url = format!("mongodb://127.0.0.1:{}/?directConnection=true", proxy.port);
    let db = format!(
        "isoqube_api_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let opts = isoqube::store::mongo::MongoOptions {
        server_selection_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let store: Arc<dyn RunStore> = Arc::new(
        MongoStore::connect_with(&url, &db, opts)
            .await
            .unwrap_or_else(|e| panic!("MongoDB test server unreachable: {e}")),
    );
    let transport: Arc<dyn Transport> = Arc::new(InProcessTransport::new());
    let env = Env::start(
        store,
        StoreAt::Mongo { url, db },
        transport.clone(),
        transport,
        BODY_LIMIT,
    )
    .await;
    assert_eq!(env.get("/api/v1/runs").await.status, 200);
    proxy.cut();
    for path in ["/api/v1/runs", "/api/v1/definitions"] {
        let r = env.get(path).await;
        let message = r.error();
        assert_eq!(r.status, 503, "{message}");
        let want = format!("MongoDB at 127.0.0.1:{} is unreachable", proxy.port);
        assert!(message.contains(&want), "{want:?} in {message}");
        assert!(!message.contains("Topology"), "{message}");
        assert_eq!(message.lines().count(), 1, "{message}");
    }
    env.stop().await;
}
