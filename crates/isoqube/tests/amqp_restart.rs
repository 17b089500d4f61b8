//! A broker restart in the middle of a run: the AMQP transport reconnects,
//! declares its topology again, the runtime consumes again, and the run
//! completes with every step run exactly once.
//!
//! The broker that restarts is a RabbitMQ node of the test's own (own node
//! name, ports and data directory, started with `rabbitmq-server -detached`),
//! never the machine's shared one on 5672, which other tests and programs use.
//! A drop guard stops the node and removes its directory, whatever happened.

mod suite;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use isoqube::transport::{AmqpConfig, AmqpTransport};
use isoqube::{RunStatus, StepStatus, Transport};
use serde_json::json;

/// A free TCP port on 127.0.0.1 (bound once, then released for the node).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// A RabbitMQ node of this test's own; stopped and removed when dropped.
struct OwnBroker {
    node: String,
    port: u16,
    dir: PathBuf,
}

impl OwnBroker {
    fn start() -> Self {
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let node = format!("isoqube-restart-{tag}@localhost");
        let (port, dist) = (free_port(), free_port());
        let dir = std::env::temp_dir().join(format!("isoqube-rabbit-{tag}"));
        std::fs::create_dir_all(dir.join("mnesia")).expect("node directory");
        std::fs::create_dir_all(dir.join("log")).expect("node log directory");
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("plugins file");
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.default = 127.0.0.1:{port}\n"),
        )
        .expect("node config");
        // rabbitmq-server runs as the `rabbitmq` user when started by root: it
        // must be able to write there (best effort: elsewhere we own it).
        let _ = Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(&dir)
            .status();
        let broker = OwnBroker { node, port, dir };
        let started = Command::new("timeout")
            .args(["120", "rabbitmq-server", "-detached"])
            .env("RABBITMQ_NODENAME", &broker.node)
            .env("RABBITMQ_DIST_PORT", dist.to_string())
            .env("RABBITMQ_CONFIG_FILE", broker.dir.join("rabbitmq.conf"))
            .env("RABBITMQ_MNESIA_BASE", broker.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", broker.dir.join("log"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                broker.dir.join("enabled_plugins"),
            )
            .env("RABBITMQ_PID_FILE", broker.dir.join("pid"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            started,
            "rabbitmq-server -detached failed for {}",
            broker.node
        );
        assert!(
            broker.wait(true, Duration::from_secs(90)),
            "the test's own RabbitMQ node {} did not listen on {} (logs in {})",
            broker.node,
            port,
            broker.dir.display()
        );
        broker
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// `rabbitmqctl -n <node> ...` under `timeout(1)`, so a node that cannot
    /// answer fails the test instead of hanging CI.
    fn ctl(&self, args: &[&str]) -> bool {
        Command::new("timeout")
            .args(["120", "rabbitmqctl", "-n", &self.node])
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    }

    fn wait(&self, open: bool, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if port_open(self.port) == open {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    fn stop_app(&self) {
        assert!(self.ctl(&["stop_app"]), "rabbitmqctl stop_app failed");
    }

    fn start_app(&self) {
        assert!(self.ctl(&["start_app"]), "rabbitmqctl start_app failed");
        assert!(
            self.wait(true, Duration::from_secs(60)),
            "RabbitMQ did not come back"
        );
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.ctl(&["stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_run() {
    let guard = OwnBroker::start();
    let prefix = format!("t-{}.", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let transport = AmqpTransport::connect(AmqpConfig {
        prefix,
        url: guard.url(),
        publish_timeout: Duration::from_secs(30),
        ..Default::default()
    })
    .await
    .expect("the test's own RabbitMQ node must be reachable");
    let store = isoqube::SqliteStore::open(
        &std::env::temp_dir()
            .join("isoqube-tests")
            .join(format!("{}.db", uuid::Uuid::new_v4())),
    )
    .await
    .expect("store");
    let h = suite::Harness::new(suite::Pair {
        transport: Arc::new(transport.clone()),
        store: Arc::new(store),
    });
    let svc = h
        .service(&["alpha", "beta", "gamma-endpoint", "notice"])
        .await;
    h.define("chain", &["Alpha", "Beta", "Gamma"]).await;
    let id = h.start("chain", json!({"sleep_ms": {"alpha": 2500}})).await;
    h.wait_step(id, 0, StepStatus::Invoked).await;

    // the broker goes away while step 0 runs
    let connections = transport.connection_count();
    tokio::task::block_in_place(|| guard.stop_app());
    let deadline = Instant::now() + Duration::from_secs(10);
    while transport.is_ready().await {
        assert!(Instant::now() < deadline, "is_ready stayed true");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    tokio::task::block_in_place(|| guard.start_app());

    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert!(
        transport.connection_count() > connections,
        "the transport reconnected"
    );
    for ep in ["alpha", "beta", "gamma-endpoint"] {
        assert_eq!(suite::call_count(id, ep), 1, "{ep} ran exactly once");
    }
    for step in &run.steps {
        assert_eq!(step.attempts, 1, "{step:#?}");
    }
    // and everything works as before
    let again = h.start("chain", json!({})).await;
    assert_eq!(h.finish(again).await.status, RunStatus::Succeeded);
    svc.shutdown().await.expect("shutdown");
    transport.delete_declared().await.expect("cleanup");
    transport.close().await.expect("close");
    drop(guard);
}
