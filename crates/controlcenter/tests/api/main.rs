//! The HTTP API (`controlcenter::api`) served on 127.0.0.1 and driven by a
//! small HTTP/1.1 client over a TCP stream, with runs that really execute:
//! the test process hosts an isoqube service with two consumers.
//!
//! The same scenario runs on both pairs: embedded (in-process transport +
//! SQLite, the operator on the service's own transport) and real (RabbitMQ +
//! MongoDB, the MongoDB-wire test server in tests). RabbitMQ and the
//! MongoDB-wire server must be reachable: the real-pair test fails, not skips,
//! when they are not. A property test feeds a few hundred random JSON bodies
//! to the write endpoints: never a 5xx, always a JSON error for a 4xx; and
//! schemathesis checks the served document against the server with every
//! check, on both pairs (`schemathesis.rs`).
//!
//! The OpenAPI document is the contract: every documented route is served
//! (and no other method on its path), every answer any test got has a status
//! the document declares for that operation, and the routes the 401 sweep
//! calls are the document's own.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use controlcenter::api::{self, ApiSettings};
use controlcenter::Operator;
use isoqube::testing::{amqp_url, mongo_url};
use isoqube::transport::{AmqpConfig, AmqpTransport, Transport};
use isoqube::{
    consumer, event, InProcessTransport, MongoStore, RunStore, Service, SqliteStore, StepContext,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod cc_api;
mod compensation;
mod contract;
mod corrupt_stuck;
mod edges;
mod operator_adds;
#[path = "../support/records.rs"]
mod records;
mod schemathesis;

use contract::{answers, answers_are_documented, concrete, documented, Answer};
use records::StoreAt;

/// First test step.
#[event]
#[derive(Serialize, Deserialize)]
pub struct ApiPrepare {}

/// Second test step.
#[event]
#[derive(Serialize, Deserialize)]
pub struct ApiShip {}

fn seen() -> &'static Mutex<HashSet<String>> {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    SEEN.get_or_init(Default::default)
}

/// Knobs from the run variables: `sleep_ms`; `fail` (every attempt fails);
/// `fail_first` (the first attempt of each run fails, a resume succeeds);
/// `fail_on` (an endpoint whose every attempt fails).
async fn behave(ctx: &StepContext) -> anyhow::Result<()> {
    if ctx.var_opt::<String>("fail_on").as_deref() == Some(ctx.endpoint()) {
        anyhow::bail!("{} fails on purpose", ctx.endpoint());
    }
    if let Some(ms) = ctx.var_opt::<u64>("sleep_ms") {
        tokio::time::sleep(Duration::from_millis(ms.min(10_000))).await;
    }
    if ctx.var_opt::<bool>("fail") == Some(true) {
        anyhow::bail!("failing on purpose");
    }
    if ctx.var_opt::<bool>("fail_first") == Some(true) {
        let key = format!("{:?}", ctx.run_id());
        let first = seen().lock().map(|mut s| s.insert(key)).unwrap_or(false);
        if first {
            anyhow::bail!("first attempt fails on purpose");
        }
    }
    Ok(())
}

#[consumer(service = "api-test")]
async fn api_prepare(_ev: ApiPrepare, ctx: StepContext) -> anyhow::Result<()> {
    behave(&ctx).await
}

#[consumer(service = "api-test")]
async fn api_ship(_ev: ApiShip, ctx: StepContext) -> anyhow::Result<()> {
    behave(&ctx).await
}

const TOKEN: &str = "test-token-0123456789";
const HOOK_SECRET: &str = "hook-secret-abcdefghij";
/// Small, so a too-large body is still read whole by the server (no reset).
const BODY_LIMIT: usize = 4096;

// ------------------------------------------------------------------ the pairs

/// The API served on a free port over a store and a transport, with the test
/// consumers running on the same pair.
struct Env {
    addr: SocketAddr,
    /// The store, for records written by hand.
    store: Arc<dyn RunStore>,
    /// Where it is, to write past it.
    at: StoreAt,
    service: Option<Service>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Env {
    async fn embedded(body_limit: usize) -> Env {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let path = std::env::temp_dir()
            .join("isoqube-api-tests")
            .join(format!("{id}.db"));
        let store: Arc<dyn RunStore> = Arc::new(SqliteStore::open(&path).await.expect("store"));
        let transport: Arc<dyn Transport> = Arc::new(InProcessTransport::new());
        Env::start(
            store,
            StoreAt::Sqlite(path),
            transport.clone(),
            transport,
            body_limit,
        )
        .await
    }

    async fn real(body_limit: usize) -> Env {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("api-{}.", &id[..8]);
        let db = format!("isoqube_api_{}", &id[..12]);
        let at = StoreAt::Mongo {
            url: mongo_url(),
            db: db.clone(),
        };
        let store: Arc<dyn RunStore> = Arc::new(
            MongoStore::connect(&mongo_url(), &db)
                .await
                .unwrap_or_else(|e| panic!("MongoDB test server unreachable: {e}")),
        );
        let connect = || async {
            AmqpTransport::connect(AmqpConfig {
                url: amqp_url(),
                prefix: prefix.clone(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("RabbitMQ must be reachable for these tests: {e}"))
        };
        // The control center has its own connection, as a separate process would.
        let service_transport: Arc<dyn Transport> = Arc::new(connect().await);
        let op_transport: Arc<dyn Transport> = Arc::new(connect().await);
        Env::start(store, at, service_transport, op_transport, body_limit).await
    }

    async fn start(
        store: Arc<dyn RunStore>,
        at: StoreAt,
        service_transport: Arc<dyn Transport>,
        op_transport: Arc<dyn Transport>,
        body_limit: usize,
    ) -> Env {
        let service = Service::builder("api-test")
            .transport(service_transport)
            .store(store.clone())
            .services(["api-test"])
            .start()
            .await
            .expect("service");
        let op = Operator::new(store.clone(), op_transport).expect("operator");
        let settings = ApiSettings::new(TOKEN)
            .expect("settings")
            .with_max_body_bytes(body_limit);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(api::serve_on(listener, op, settings, async move {
            let _ = stopped.await;
        }));
        Env {
            addr,
            store,
            at,
            service: Some(service),
            stop: Some(stop),
            server: Some(server),
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let served = tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("the server stops")
                .expect("server task");
            served.expect("server ends cleanly");
        }
        if let Some(s) = self.service.take() {
            s.shutdown().await.expect("shutdown");
        }
    }

    /// A request with the bearer token (and a JSON body when given).
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let auth = format!("Bearer {TOKEN}");
        let body = body.map(|b| b.to_string());
        let mut headers = vec![("Authorization", auth.as_str())];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        http(
            self.addr,
            method,
            path,
            &headers,
            body.as_deref().map(str::as_bytes),
        )
        .await
    }

    async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Resp {
        self.call("POST", path, Some(body)).await
    }

    /// A raw body with the token and a JSON content type.
    async fn post_raw(&self, path: &str, body: &[u8]) -> Resp {
        let auth = format!("Bearer {TOKEN}");
        http(
            self.addr,
            "POST",
            path,
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/json"),
            ],
            Some(body),
        )
        .await
    }

    /// Polls the status endpoint until the run is finished; returns (code, run).
    async fn wait(&self, id: &str) -> (u16, Value) {
        for _ in 0..600 {
            let r = self.get(&format!("/api/v1/runs/{id}/status")).await;
            if r.status != 202 {
                return (r.status, r.json());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("run {id} did not finish within 30 s");
    }

    async fn start_run(&self, definition: &str, vars: Value) -> String {
        let r = self
            .post(
                "/api/v1/runs",
                &json!({ "definition": definition, "variables": vars }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let id = r.json()["id"].as_str().expect("run id").to_string();
        assert_eq!(r.header("location"), Some(format!("/api/v1/runs/{id}")));
        id
    }
}

// --------------------------------------------------------- a tiny HTTP client

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("status {}: not JSON ({e}): {}", self.status, self.text()))
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).cloned()
    }

    /// A 4xx/5xx answer must be `{"error": "..."}`; returns the message.
    fn error(&self) -> String {
        let v = self.json();
        v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message in {v}"))
            .to_string()
    }

    /// Asserts the status and that the error message names `needle`.
    fn expect_error(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        let msg = self.error();
        assert!(
            msg.to_lowercase().contains(&needle.to_lowercase()),
            "error '{msg}' should mention '{needle}'"
        );
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), read to
/// the end (chunked bodies decoded).
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or_default();
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).await.expect("write request");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut raw))
        .await
        .expect("response within 60 s")
        .expect("read response");
    let resp = parse_response(&raw);
    let path = path.split('?').next().unwrap_or(path).to_string();
    if let Ok(mut seen) = answers().lock() {
        seen.push(Answer {
            addr,
            method: method.to_string(),
            path,
            status: resp.status,
            json: serde_json::from_slice(&resp.body).ok(),
        });
    }
    resp
}

fn parse_response(raw: &[u8]) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line}"));
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..eol]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size '{size_text}'"));
        data = &data[eol + 2..];
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[(size + 2).min(data.len())..];
    }
    out
}

/// Server-sent events: (event name, data) of every event block.
fn sse_events(text: &str) -> Vec<(String, String, Option<String>)> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|block| {
            let mut name = String::from("message");
            let mut data = Vec::new();
            let mut id = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().to_string());
                }
            }
            (!data.is_empty()).then(|| (name, data.join("\n"), id))
        })
        .collect()
}

// ------------------------------------------------------------------ scenarios

async fn scenario(env: &Env) {
    health_and_auth(env).await;
    definitions(env).await;
    runs(env).await;
    webhooks(env).await;
    openapi(env).await;
}

async fn health_and_auth(env: &Env) {
    for path in ["/health", "/health/live", "/health/ready"] {
        let r = http(env.addr, "GET", path, &[], None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.json()["status"], "ok");
    }
    for (method, path, needs_token) in documented(&api::openapi_document()) {
        if !needs_token {
            // Only health, metrics, webhooks and the API's description
            // answer without the API token.
            assert!(
                path.starts_with("/health")
                    || path.starts_with("/hooks/")
                    || path == "/metrics"
                    || path == "/api/v1/openapi.json"
                    || path == "/api/v1/docs",
                "{method} {path} is documented as open"
            );
            continue;
        }
        let path = concrete(&path);
        let method = method.as_str();
        let r = http(env.addr, method, &path, &[], None).await;
        r.expect_error(401, "bearer");
        assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
        let wrong = format!("Bearer {TOKEN}x");
        let r = http(env.addr, method, &path, &[("Authorization", &wrong)], None).await;
        r.expect_error(401, "wrong bearer token");
        assert!(!r.text().contains(TOKEN));
    }
    let r = http(
        env.addr,
        "GET",
        "/api/v1/events",
        &[("Authorization", &format!("Basic {TOKEN}"))],
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    // Unknown paths need the token too, then are 404; wrong methods are 405.
    env.get("/api/v1/nope")
        .await
        .expect_error(404, "no such endpoint");
    http(env.addr, "GET", "/nope", &[], None)
        .await
        .expect_error(404, "no such endpoint");
    env.call("DELETE", "/api/v1/runs", None)
        .await
        .expect_error(405, "not allowed");

    let r = env.get("/api/v1/events").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let events = r.json()["events"].as_array().cloned().expect("events");
    let prepare = events
        .iter()
        .find(|e| e["name"] == "ApiPrepare")
        .unwrap_or_else(|| panic!("ApiPrepare in {events:?}"));
    assert_eq!(prepare["consumers"][0]["services"][0], "api-test");
    let r = env.get("/api/v1/services").await;
    assert_eq!(r.status, 200);
    let services = r.json()["services"].as_array().cloned().expect("services");
    assert!(services
        .iter()
        .any(|s| s["name"] == "api-test" && s["alive"] == true));
}

fn flow_def() -> Value {
    json!({
        "name": "flow",
        "description": "prepare and ship",
        "steps": ["ApiPrepare", "ApiShip"],
        "variables": { "who": "default", "sleep_ms": 0 },
        "webhook": { "id": "hook-flow-1", "secret": HOOK_SECRET },
    })
}

async fn definitions(env: &Env) {
    let r = env.post("/api/v1/definitions", &flow_def()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.header("location").as_deref(),
        Some("/api/v1/definitions/flow")
    );
    let created = r.json();
    assert_eq!(created["steps"], json!(["ApiPrepare", "ApiShip"]));
    assert_eq!(
        created["webhook"],
        json!({ "id": "hook-flow-1", "secret": "***" })
    );
    assert!(!r.text().contains(HOOK_SECRET));

    // Conflicts, rule violations, unreadable bodies: nothing written.
    env.post("/api/v1/definitions", &flow_def())
        .await
        .expect_error(409, "already exists");
    env.post(
        "/api/v1/definitions",
        &json!({ "name": "bad", "steps": ["ApiPrepare", "Nope"] }),
    )
    .await
    .expect_error(422, "unknown event 'Nope'");
    env.post(
        "/api/v1/definitions",
        &json!({ "name": "  ", "steps": ["ApiPrepare"] }),
    )
    .await
    .expect_error(422, "name");
    env.post(
        "/api/v1/definitions",
        &json!({ "name": "bad", "steps": ["ApiPrepare"], "colour": "red" }),
    )
    .await
    .expect_error(400, "colour");
    env.post(
        "/api/v1/definitions",
        &json!({ "name": "bad", "steps": "ApiPrepare" }),
    )
    .await
    .expect_error(400, "steps");
    env.post(
        "/api/v1/definitions",
        &json!({ "name": "bad", "steps": ["ApiPrepare"], "webhook": { "id": "hook-bad-1", "secret": "short" } }),
    )
    .await
    .expect_error(422, "secret");
    env.post("/api/v1/definitions", &json!({ "steps": ["ApiPrepare"] }))
        .await
        .expect_error(400, "name");
    env.post(
        "/api/v1/definitions",
        &json!({ "name": "bad", "steps": ["ApiPrepare"], "variables": { "a\u{0}b": 1 } }),
    )
    .await
    .expect_error(422, "NUL");
    // A whole number of seconds written as a float is a whole number (JSON
    // Schema's `integer`); a fraction, or more than u32::MAX, is refused.
    let every = |secs: Value| {
        json!({ "name": "timed", "steps": ["ApiPrepare"], "schedules": [
            { "id": "s", "when": { "kind": "interval", "every_secs": secs }, "enabled": false }
        ] })
    };
    env.post("/api/v1/definitions", &every(json!(1.5)))
        .await
        .expect_error(400, "number of seconds");
    env.post("/api/v1/definitions", &every(json!(4_294_967_296_u64)))
        .await
        .expect_error(422, "every_secs");
    let r = env.post("/api/v1/definitions", &every(json!(60.0))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["schedules"][0]["when"]["every_secs"], json!(60));
    let r = env.call("DELETE", "/api/v1/definitions/timed", None).await;
    assert_eq!(r.status, 204, "{}", r.text());
    env.post_raw("/api/v1/definitions", b"{\"name\": \"bad\",")
        .await
        .expect_error(400, "json");
    let r = http(
        env.addr,
        "POST",
        "/api/v1/definitions",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        Some(flow_def().to_string().as_bytes()),
    )
    .await;
    r.expect_error(415, "application/json");
    let big = json!({ "name": "big", "steps": ["ApiPrepare"], "description": "x".repeat(BODY_LIMIT + 100) });
    env.post("/api/v1/definitions", &big)
        .await
        .expect_error(413, "larger than the limit");
    env.get("/api/v1/definitions/bad")
        .await
        .expect_error(404, "not found");
    env.get("/api/v1/definitions/big")
        .await
        .expect_error(404, "not found");

    // Reads: secrets redacted everywhere.
    let r = env.get("/api/v1/definitions").await;
    assert_eq!(r.status, 200);
    assert!(!r.text().contains(HOOK_SECRET));
    let defs = r.json()["definitions"].as_array().cloned().expect("list");
    assert_eq!(defs.len(), 1);
    let r = env.get("/api/v1/definitions/flow").await;
    assert_eq!(r.status, 200);
    assert!(!r.text().contains(HOOK_SECRET));
    let mut fetched = r.json();
    env.get("/api/v1/definitions/missing")
        .await
        .expect_error(404, "definition 'missing' not found");
    // A name that is not UTF-8 once decoded.
    env.get("/api/v1/definitions/%FF")
        .await
        .expect_error(400, "path parameter");
    env.call("DELETE", "/api/v1/definitions/%FF", None)
        .await
        .expect_error(400, "path parameter");

    // Update: a GET answer sent back with a change; "***" keeps the secret
    // (the webhook scenario later calls the hook with the original secret).
    fetched["description"] = json!("changed");
    let r = env
        .call("PUT", "/api/v1/definitions/flow", Some(&fetched))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["description"], "changed");
    assert!(!r.text().contains(HOOK_SECRET));
    env.call(
        "PUT",
        "/api/v1/definitions/missing",
        Some(&json!({ "steps": ["ApiPrepare"] })),
    )
    .await
    .expect_error(404, "not found");
    env.call(
        "PUT",
        "/api/v1/definitions/flow",
        Some(&json!({ "name": "other", "steps": ["ApiPrepare"] })),
    )
    .await
    .expect_error(422, "cannot be renamed");
    env.call(
        "PUT",
        "/api/v1/definitions/flow",
        Some(&json!({ "steps": [] })),
    )
    .await
    .expect_error(422, "no steps");
    env.call(
        "PUT",
        "/api/v1/definitions/flow",
        Some(&json!({ "steps": ["ApiPrepare"], "x": 1 })),
    )
    .await
    .expect_error(400, "`x`");
    assert_eq!(
        env.get("/api/v1/definitions/flow").await.json()["steps"],
        json!(["ApiPrepare", "ApiShip"]),
        "refused updates wrote nothing"
    );

    // Names outside the documented character set are refused (422, naming
    // the rule), nothing written; delete.
    for bad in ["two words", "-dash", "a/b", "caf\u{e9}"] {
        env.post(
            "/api/v1/definitions",
            &json!({ "name": bad, "steps": ["ApiShip"] }),
        )
        .await
        .expect_error(422, "ASCII letters, digits");
    }
    let r = env
        .post(
            "/api/v1/definitions",
            &json!({ "name": "two.words_ok-1", "steps": ["ApiShip"] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.header("location").as_deref(),
        Some("/api/v1/definitions/two.words_ok-1")
    );
    let r = env
        .call("DELETE", "/api/v1/definitions/two.words_ok-1", None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    env.call("DELETE", "/api/v1/definitions/two.words_ok-1", None)
        .await
        .expect_error(404, "not found");
}

async fn runs(env: &Env) {
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

fn parse_time(s: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

async fn hook(env: &Env, id: &str, secret: Option<&str>, body: &[u8]) -> Resp {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(s) = secret {
        headers.push(("X-Isoqube-Secret", s));
    }
    http(
        env.addr,
        "POST",
        &format!("/hooks/{id}"),
        &headers,
        Some(body),
    )
    .await
}

async fn webhooks(env: &Env) {
    let r = hook(env, "hook-flow-1", Some(HOOK_SECRET), br#"{"who": "hook"}"#).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["run_id"].as_str().expect("run id").to_string();
    assert_eq!(r.header("location"), Some(format!("/api/v1/runs/{id}")));
    assert!(
        !r.text().contains("variables"),
        "the hook caller gets no run data"
    );
    let (code, run) = env.wait(&id).await;
    assert_eq!(code, 200);
    assert_eq!(
        run["variables"]["who"], "hook",
        "the body overrides defaults"
    );
    assert_eq!(run["params"]["who"], "hook");
    assert_eq!(run["started_by"], "webhook:hook-flow-1");

    // An empty body is no variables; a bearer header works as the secret.
    let auth = format!("Bearer {HOOK_SECRET}");
    let r = http(
        env.addr,
        "POST",
        "/hooks/hook-flow-1",
        &[("Authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["run_id"].as_str().expect("run id").to_string();
    assert_eq!(env.wait(&id).await.1["variables"]["who"], "default");

    hook(env, "hook-flow-1", Some("wrong-secret-wrong-secret"), b"{}")
        .await
        .expect_error(401, "wrong secret");
    hook(
        env,
        "hook-flow-1",
        Some(&HOOK_SECRET[..HOOK_SECRET.len() - 1]),
        b"{}",
    )
    .await
    .expect_error(401, "wrong secret");
    let refused = hook(env, "hook-flow-1", None, b"{}").await;
    let message = refused.error();
    refused.expect_error(401, "no secret");
    // One instruction: the hook's secret, not the API token as well.
    assert_eq!(message.matches("send").count(), 1, "{message}");
    assert!(message.contains("X-Isoqube-Secret"), "{message}");
    assert!(!message.contains("<token>"), "{message}");
    // The API token is not a hook secret.
    hook(env, "hook-flow-1", Some(TOKEN), b"{}")
        .await
        .expect_error(401, "wrong secret");
    hook(env, "hook-nope-1", Some(HOOK_SECRET), b"{}")
        .await
        .expect_error(404, "not found");
    // `null` is no variables too, as the document's nullable body says.
    let r = hook(env, "hook-flow-1", Some(HOOK_SECRET), b"null").await;
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["run_id"].as_str().expect("run id").to_string();
    assert_eq!(env.wait(&id).await.1["variables"]["who"], "default");
    for body in [&b"[1, 2]"[..], b"\"text\"", b"42"] {
        hook(env, "hook-flow-1", Some(HOOK_SECRET), body)
            .await
            .expect_error(400, "JSON object");
    }
    // A variable name no store can keep (BSON names end at a NUL).
    hook(
        env,
        "hook-flow-1",
        Some(HOOK_SECRET),
        br#"{"a": {"b\u0000": 1}}"#,
    )
    .await
    .expect_error(400, "NUL");
    hook(env, "hook-flow-1", Some(HOOK_SECRET), b"{\"who\":")
        .await
        .expect_error(400, "not valid JSON");
    let big = format!("{{\"x\": \"{}\"}}", "y".repeat(BODY_LIMIT + 10));
    hook(env, "hook-flow-1", Some(HOOK_SECRET), big.as_bytes())
        .await
        .expect_error(413, "larger");
    // The secret never shows in any definition answer.
    assert!(!env
        .get("/api/v1/definitions")
        .await
        .text()
        .contains(HOOK_SECRET));
}

async fn openapi(env: &Env) {
    let r = env.get("/api/v1/openapi.json").await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc, api::openapi_document(), "the served document");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    // Every documented operation is served: the router answers it itself, not
    // with its fallbacks (404 "no such endpoint", 405).
    let ops = documented(&doc);
    assert!(ops.len() >= 20, "{ops:?}");
    for (method, template, _) in &ops {
        let path = concrete(template);
        let r = env.call(method, &path, None).await;
        assert_ne!(r.status, 405, "{method} {path}: {}", r.text());
        assert!(
            !(r.status == 404 && r.text().contains("no such endpoint")),
            "{method} {path} is routed: {}",
            r.text()
        );
    }
    // And nothing more: on a documented path, every other method is 405.
    let paths: HashSet<&str> = ops.iter().map(|(_, p, _)| p.as_str()).collect();
    for template in paths {
        let path = concrete(template);
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if ops.iter().any(|(m, p, _)| m == method && p == template) {
                continue;
            }
            env.call(method, &path, None)
                .await
                .expect_error(405, "not allowed");
        }
    }
    answers_are_documented(env.addr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_the_embedded_pair() {
    let env = Env::embedded(BODY_LIMIT).await;
    scenario(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_rabbitmq_and_mongodb() {
    let env = Env::real(BODY_LIMIT).await;
    scenario(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_on_the_embedded_pair() {
    let env = Env::embedded(schemathesis::body_limit()).await;
    schemathesis::check(&env).await;
    answers_are_documented(env.addr);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_on_rabbitmq_and_mongodb() {
    let env = Env::real(schemathesis::body_limit()).await;
    schemathesis::check(&env).await;
    answers_are_documented(env.addr);
    env.stop().await;
}

#[test]
fn the_api_refuses_to_start_without_a_token() {
    assert!(ApiSettings::new("").is_err());
    let mut section = controlcenter::config::ApiSection::default();
    let err = ApiSettings::from_config(&section).unwrap_err();
    assert!(err.to_string().contains("ISOQUBE_API_TOKEN"));
    // Shorter than 16 characters: refused like a short webhook secret.
    section.token = Some("t0ken-15-chars!".into());
    let err = ApiSettings::from_config(&section).unwrap_err();
    assert!(err.to_string().contains("at least 16 characters"), "{err}");
    section.token = Some("t0ken-16-chars!!".into());
    section.listen = "127.0.0.1:0".into();
    let s = ApiSettings::from_config(&section).expect("settings");
    assert_eq!(s.listen, "127.0.0.1:0");
}

// ------------------------------------------------------------ property test

/// xorshift64*: a small seeded generator, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const KEYS: &[&str] = &[
    "definition",
    "variables",
    "name",
    "steps",
    "description",
    "webhook",
    "schedules",
    "id",
    "secret",
    "when",
    "kind",
    "every_secs",
    "expr",
    "tz",
    "missed",
    "enabled",
    "created_at",
    "",
    "ünï",
    "a\"b",
];

const WORDS: &[&str] = &[
    "fz",
    "flow",
    "ApiPrepare",
    "ApiShip",
    "",
    " ",
    "Nope",
    "interval",
    "cron",
    "once",
    "* * * * *",
    "Europe/Paris",
    "Mars/Olympus",
    "run-once",
    "hook-fz-0001",
    "0123456789abcdef0123",
    "2026-01-01T00:00:00Z",
    "\u{0}\u{1f}",
    "💥",
    "\\",
];

fn random_string(rng: &mut Rng) -> String {
    if rng.below(3) > 0 {
        return rng.pick(WORDS).to_string();
    }
    let len = rng.below(12);
    (0..len)
        .map(|_| match rng.below(4) {
            0 => char::from(b'a' + rng.below(26) as u8),
            1 => char::from(rng.below(128) as u8),
            2 => char::from_u32(0x80 + rng.below(0x2000) as u32).unwrap_or('?'),
            _ => *rng.pick(&['"', '\\', '/', '{', '}', '\n', ' ']),
        })
        .collect()
}

fn random_value(rng: &mut Rng, depth: u32) -> Value {
    let choice = if depth >= 3 {
        rng.below(5)
    } else {
        rng.below(8)
    };
    match choice {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => match rng.below(4) {
            0 => json!(rng.next() as i64),
            1 => json!(rng.below(100)),
            2 => json!((rng.next() as f64) / 1e9 - 1e9),
            _ => json!(u64::MAX),
        },
        3 | 4 => Value::String(random_string(rng)),
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut map = serde_json::Map::new();
            for _ in 0..rng.below(5) {
                let key = if rng.below(4) == 0 {
                    random_string(rng)
                } else {
                    rng.pick(KEYS).to_string()
                };
                map.insert(key, random_value(rng, depth + 1));
            }
            Value::Object(map)
        }
    }
}

/// Mostly near-valid bodies (the right fields with random values), some
/// random values, some broken JSON text.
fn random_body(rng: &mut Rng, runs: bool) -> Vec<u8> {
    let value = match rng.below(10) {
        0..=4 => {
            let mut v = if runs {
                json!({ "definition": rng.pick(&["fz", "flow", "missing"]).to_string() })
            } else {
                json!({ "name": random_string(rng), "steps": [rng.pick(&["ApiPrepare", "ApiShip", "Nope"]).to_string()] })
            };
            for _ in 0..rng.below(3) {
                let key = rng.pick(KEYS).to_string();
                v[key] = random_value(rng, 1);
            }
            v
        }
        5..=8 => random_value(rng, 0),
        _ => {
            let text = random_value(rng, 0).to_string();
            let cut = rng.below(text.len() as u64 + 1) as usize;
            let cut = (0..=cut)
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            return text.as_bytes()[..cut].to_vec();
        }
    };
    value.to_string().into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_json_never_gets_a_server_error() {
    let env = Env::embedded(BODY_LIMIT).await;
    let r = env
        .post(
            "/api/v1/definitions",
            &json!({ "name": "fz", "steps": ["ApiPrepare"] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let seed = std::env::var("API_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_1234_ABCD_0001u64);
    let mut rng = Rng(seed | 1);
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for i in 0..400 {
        let runs = i % 2 == 0;
        let path = if runs {
            "/api/v1/runs"
        } else {
            "/api/v1/definitions"
        };
        let body = random_body(&mut rng, runs);
        let r = env.post_raw(path, &body).await;
        let shown = String::from_utf8_lossy(&body).into_owned();
        assert!(
            r.status < 500,
            "seed {seed} case {i}: {path} {shown} -> {} {}",
            r.status,
            r.text()
        );
        if r.status >= 400 {
            let v: Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| {
                panic!(
                    "seed {seed} case {i}: {shown} -> {} not JSON ({e}): {}",
                    r.status,
                    r.text()
                )
            });
            assert!(v["error"].is_string(), "case {i}: {shown} -> {v}");
        } else {
            assert!(matches!(r.status, 200 | 201), "case {i}: {}", r.status);
        }
        *statuses.entry(r.status).or_default() += 1;
    }
    // The generator reaches past the parser: some bodies are accepted, some
    // refused by the rules, most refused as unreadable.
    assert!(statuses.contains_key(&201), "{statuses:?}");
    assert!(statuses.contains_key(&400), "{statuses:?}");
    assert!(
        statuses.contains_key(&404) || statuses.contains_key(&422),
        "{statuses:?}"
    );
    answers_are_documented(env.addr);
    env.stop().await;
}

// ------------------------------------------------------- the serve subcommand

/// `controlcenter serve` (embedded store, no broker): health without a token,
/// a refused call logged without the token, the scheduler running, and exit 0
/// on SIGTERM; without a token it refuses to start (exit 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_subcommand_serves_until_sigterm() {
    let dir = std::env::temp_dir().join("isoqube-api-tests");
    let path = dir.join(format!("serve-{}.db", uuid::Uuid::new_v4().simple()));
    let store = SqliteStore::open(&path).await.expect("store");
    store
        .create_definition(&isoqube::Definition::new("d", ["ApiPrepare"]))
        .await
        .expect("definition");
    drop(store);
    let cmd = |token: Option<&str>, listen: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_controlcenter"));
        for var in [
            "ISOQUBE_AMQP_URL",
            "ISOQUBE_MONGO_URL",
            "ISOQUBE_API_TOKEN",
            "ISOQUBE_CONFIG",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("ISOQUBE_LOG", "info")
            .arg("--store")
            .arg(&path)
            .args(["serve", "--listen", listen]);
        if let Some(t) = token {
            cmd.env("ISOQUBE_API_TOKEN", t);
        }
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    };

    let out = cmd(None, "127.0.0.1:0").output().expect("run serve");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a bearer token"));

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let child = cmd(Some(TOKEN), &addr.to_string())
        .spawn()
        .expect("start serve");
    let pid = child.id();
    let mut up = false;
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "serve listens on {addr}");
    let r = http(addr, "GET", "/health", &[], None).await;
    assert_eq!(r.status, 200);
    // No broker: not ready.
    let r = http(addr, "GET", "/health/ready", &[], None).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["transport"], "not connected");
    let wrong = "Bearer not-the-token-but-close";
    let r = http(
        addr,
        "GET",
        "/api/v1/runs",
        &[("Authorization", wrong)],
        None,
    )
    .await;
    r.expect_error(401, "wrong bearer token");
    let auth = format!("Bearer {TOKEN}");
    let r = http(
        addr,
        "GET",
        "/api/v1/runs",
        &[("Authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Without a broker runs cannot start: 503, nothing written.
    let r = http(
        addr,
        "POST",
        "/api/v1/runs",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some(br#"{"definition": "d"}"#),
    )
    .await;
    r.expect_error(503, "no broker");
    let r = http(
        addr,
        "GET",
        "/api/v1/runs",
        &[("Authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(r.json()["runs"], json!([]));
    answers_are_documented(addr);

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{logs}");
    assert!(
        logs.contains("API request refused: wrong bearer token"),
        "{logs}"
    );
    assert!(
        !logs.contains("not-the-token"),
        "the token is not logged: {logs}"
    );
    assert!(!logs.contains(TOKEN), "the token is not logged: {logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}
