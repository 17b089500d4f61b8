//! A store outage mid-run: the MongoDB-wire server (a dedicated SecantusDB with
//! file storage, so data survives the restart) is stopped while a step runs and
//! started again on the same port; the run completes with every step recorded
//! once and every consumer run once.
//!
//! Needs `python3` (the script provisions the pinned SecantusDB in
//! `target/secantus-venv`). Not affected by `ISOQUBE_MONGO_URL`: it always runs
//! its own server, because it has to kill it.

mod mongo_support;
mod suite;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use isoqube::{RunStatus, RunStore, StepStatus};
use serde_json::json;

struct Server {
    state: std::path::PathBuf,
    port: u16,
}

impl Server {
    fn script(&self, args: &[&str]) -> String {
        let out = Command::new("bash")
            .arg(mongo_support::script())
            .args(args)
            .env("SECANTUS_STATE_DIR", &self.state)
            .env("SECANTUS_PORT", self.port.to_string())
            .output()
            .expect("run scripts/mongo-test-server.sh");
        assert!(
            out.status.success(),
            "mongo-test-server.sh {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn start(&self) -> String {
        let data = self.state.join("data");
        self.script(&["start", &data.to_string_lossy()])
    }

    fn stop(&self) {
        self.script(&["stop"]);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(mongo_support::script())
            .arg("stop")
            .env("SECANTUS_STATE_DIR", &self.state)
            .status();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

async fn wait_until<F: Fn(&isoqube::Run) -> bool>(
    store: &dyn RunStore,
    id: uuid::Uuid,
    within: Duration,
    what: &str,
    cond: F,
) -> isoqube::Run {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        // Errors are expected while the server is away.
        if let Ok(Some(run)) = store.get_run(id).await {
            if cond(&run) {
                return run;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what} not reached: {run:#?}"
            );
        } else {
            assert!(tokio::time::Instant::now() < deadline, "{what} not reached");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_survives_store_outage() {
    let state = std::env::temp_dir().join(format!("isoqube-outage-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&state).expect("state dir");
    let server = Server {
        state: state.clone(),
        port: free_port(),
    };
    let url = server.start();
    let opts = isoqube::store::mongo::MongoOptions {
        server_selection_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let store = isoqube::MongoStore::connect_with(&url, "isoqube_outage", opts)
        .await
        .unwrap_or_else(|e| panic!("dedicated test server unreachable: {e}"));
    let store: Arc<dyn RunStore> = Arc::new(store);
    let h = suite::Harness::new(suite::Pair {
        transport: Arc::new(isoqube::InProcessTransport::new()),
        store: store.clone(),
    });
    let svc = h.service(&["alpha", "beta", "gamma-endpoint"]).await;
    h.define("outage", &["Alpha", "Beta", "Gamma"]).await;
    let id = h
        .start(
            "outage",
            json!({"sleep_ms": {"alpha": 2000, "beta": 500, "gamma-endpoint": 500}}),
        )
        .await;
    wait_until(
        &*store,
        id,
        Duration::from_secs(20),
        "step 0 invoked",
        |r| r.steps[0].status == StepStatus::Invoked,
    )
    .await;

    // The server goes away while step 0 runs; its success cannot be recorded
    // until the server is back.
    server.stop();
    assert!(store.ping().await.is_err(), "the server is down");
    let e = store.get_run(id).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    // The outage lasts a while: riding it out is the behaviour under test.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let again = server.start();
    assert_eq!(again, url, "same port");

    let run = wait_until(&*store, id, Duration::from_secs(60), "run finished", |r| {
        r.status.is_finished()
    })
    .await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    for step in &run.steps {
        assert_eq!(step.status, StepStatus::Succeeded, "{run:#?}");
        assert_eq!(step.handlers.len(), 1, "{run:#?}");
        assert_eq!(step.attempts, 1, "recorded once: {run:#?}");
    }
    assert_eq!(run.variables.get("from_beta"), Some(&json!("a1+b")));
    for ep in ["alpha", "beta", "gamma-endpoint"] {
        assert_eq!(suite::call_count(id, ep), 1, "{ep} ran once");
    }
    svc.shutdown().await.expect("shutdown");
    drop(server);
    let _ = std::fs::remove_dir_all(Path::new(&state));
}
