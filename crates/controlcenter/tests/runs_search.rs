//! The one run search grammar: the same query finds the same runs through
//! the parser and the Operator (what the TUI's `/` loads), the CLI's `runs
//! list QUERY` and the HTTP API's `GET /runs?q=`, over all runs (more than
//! one page of each), on a SQLite file and on MongoDB.

#[path = "support/records.rs"]
mod records;

#[path = "support/cli_env.rs"]
#[macro_use]
mod cli_env;

use std::collections::BTreeSet;
use std::sync::Arc;

use cli_env::{in_background, Env};
use controlcenter::api::ApiSettings;
use controlcenter::Operator;
use isoqube::{Definition, InProcessTransport, Run, RunFilter, RunStatus};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

const TOKEN: &str = "runs-search-token-0123456789abcdef";

/// How many runs each test stores: more than a page of the API (50) and
/// of the CLI's default (20).
const RUNS: usize = 120;

/// Stores [`RUNS`] runs of `alpha` and `beta` in every status mix, with a
/// variable `n` (0-2), every seventh failing with "disk full".
async fn seed(env: &Env) {
    let alpha = Definition::new("alpha", ["CcPrepare"]);
    let beta = Definition::new("beta", ["CcPrepare", "CcShip"]);
    for i in 0..RUNS {
        let def = if i % 2 == 0 { &alpha } else { &beta };
        let vars = json!({"n": i % 3, "who": format!("team-{}", i % 4)});
        let mut run = Run::new(def, vars.as_object().cloned().unwrap_or_default(), "seed");
        run.created_at -= chrono::Duration::seconds(i as i64);
        run.status = match i % 5 {
            0 => RunStatus::Failed,
            1 => RunStatus::Cancelled,
            2 => RunStatus::Succeeded,
            _ => RunStatus::Pending,
        };
        if i % 7 == 0 {
            run.error = Some(format!("step {}: Disk Full on builder", i % 2 + 1));
        }
        env.store.insert_run(&run).await.expect("run stored");
    }
}

/// The runs `query` finds through the parser and the Operator, page by page
/// (pages of 7, so a query spans many).
async fn by_operator(op: &Operator, query: &str) -> BTreeSet<Uuid> {
    let mut filter = RunFilter {
        limit: 7,
        ..RunFilter::default()
    }
    .with_query(query)
    .expect("the query parses");
    let mut ids = BTreeSet::new();
    loop {
        let page = op.runs(&filter).await.expect("runs listed");
        assert!(page.runs.len() <= 7, "a page holds at most its limit");
        ids.extend(page.runs.iter().map(|r| r.id));
        match page.next {
            Some(next) => filter = filter.at(&next),
            None => return ids,
        }
    }
}

/// The runs `query` finds through `controlcenter runs list --all --json QUERY`.
async fn by_cli(env: &Arc<Env>, query: &str) -> BTreeSet<Uuid> {
    let (env, query) = (env.clone(), query.to_string());
    let out = in_background(move || {
        let mut args = vec!["runs", "list", "--all", "--json"];
        args.extend(query.split(' '));
        env.json(&args)
    })
    .await;
    ids_of(&out["runs"])
}

/// The runs `query` finds through `GET /api/v1/runs?q=` (following
/// `next_before`/`next_before_id`, 10 a page).
async fn by_api(addr: std::net::SocketAddr, query: &str) -> BTreeSet<Uuid> {
    let q = encode(query);
    let mut path = format!("/api/v1/runs?limit=10&q={q}");
    let mut ids = BTreeSet::new();
    loop {
        let (code, body) = get(addr, &path).await;
        assert_eq!(code, 200, "{path}: {body}");
        ids.extend(ids_of(&body["runs"]));
        match (
            body["next_before"].as_str(),
            body["next_before_id"].as_str(),
        ) {
            (Some(before), Some(id)) => {
                path = format!(
                    "/api/v1/runs?limit=10&q={q}&before={}&before_id={id}",
                    encode(before)
                )
            }
            _ => return ids,
        }
    }
}

fn ids_of(runs: &Value) -> BTreeSet<Uuid> {
    runs.as_array()
        .expect("a list of runs")
        .iter()
        .map(|r| {
            r["id"]
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
                .expect("a run id")
        })
        .collect()
}

/// Percent-encodes a query parameter's value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One GET with the token: (status, JSON body).
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the API");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read the answer");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    let body =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"));
    (code, body)
}

/// The brute-force answer: every stored run the model's test keeps (the
/// `log:` words aside, which the model cannot see).
async fn expected(env: &Env, query: &str) -> BTreeSet<Uuid> {
    let filter = RunFilter::default().with_query(query).expect("parses");
    let mut all = RunFilter {
        limit: 1000,
        ..RunFilter::default()
    };
    let mut ids = BTreeSet::new();
    loop {
        let page = env.store.list_runs(&all).await.expect("all runs");
        ids.extend(page.runs.iter().filter(|r| filter.matches(r)).map(|r| r.id));
        match page.next {
            Some(next) => all = all.at(&next),
            None => return ids,
        }
    }
}

async fn the_same_query_finds_the_same_runs_everywhere(env: Env) {
    seed(&env).await;
    let env = Arc::new(env);
    let op =
        Operator::new(env.store.clone(), Arc::new(InProcessTransport::new())).expect("an operator");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("its address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let settings = ApiSettings::new(TOKEN).expect("settings");
    let server = tokio::spawn(controlcenter::api::serve_on(
        listener,
        op.clone(),
        settings,
        async move {
            let _ = stopped.await;
        },
    ));

    for (query, at_least) in [
        ("status:failed,cancelled", 40),
        ("def:beta n=1", 15),
        ("disk", 15),
        ("\"disk full\" status:failed", 3),
        ("team-3 status:pending,succeeded def:beta", 10),
        ("S:Succeeded alpha", 10),
        ("no-such-word", 0),
    ] {
        let want = expected(&env, query).await;
        assert!(want.len() >= at_least, "{query}: {} runs", want.len());
        assert_eq!(by_operator(&op, query).await, want, "operator: {query}");
        assert_eq!(by_api(addr, query).await, want, "api: {query}");
        if !query.contains('"') {
            assert_eq!(by_cli(&env, query).await, want, "cli: {query}");
        }
    }
    // A bad word is refused by each, naming it.
    let (code, body) = get(addr, "/api/v1/runs?q=status%3Abogus").await;
    assert_eq!(code, 400, "{body}");
    assert!(body.to_string().contains("bogus"), "{body}");
    let (env2, cli) = (env.clone(), ["runs", "list", "status:bogus"]);
    let (code, _, stderr) = in_background(move || env2.cc(&cli)).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("bogus"), "{stderr}");

    let _ = stop.send(());
    server
        .await
        .expect("server task")
        .expect("the server stops cleanly");
    if let Ok(env) = Arc::try_unwrap(env) {
        env.stop().await;
    }
}

on_both_stores!(the_same_query_finds_the_same_runs_everywhere);
