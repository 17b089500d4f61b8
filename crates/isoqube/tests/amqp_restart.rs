//! A broker restart in the middle of a run (`rabbitmqctl stop_app` / `start_app`):
//! the AMQP transport reconnects, declares its topology again, the runtime
//! consumes again, and the run completes with every step run exactly once.
//!
//! Needs `rabbitmqctl` for the local broker (run as a user allowed to use it).
//! A drop guard starts the broker application again even when the test fails.

mod suite;

use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use isoqube::transport::{AmqpConfig, AmqpTransport};
use isoqube::{RunStatus, StepStatus, Transport};
use serde_json::json;

/// Runs `rabbitmqctl` under `timeout(1)`: a broker that cannot finish starting
/// (e.g. recovering thousands of leftover queues) fails the test instead of
/// hanging CI.
fn rabbitmqctl(args: &[&str]) -> bool {
    Command::new("timeout")
        .args(["120", "rabbitmqctl"])
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

fn wait_port(open: bool, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let up = TcpStream::connect_timeout(
            &"127.0.0.1:5672".parse().expect("address"),
            Duration::from_millis(500),
        )
        .is_ok();
        if up == open {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Starts the broker application again when dropped, whatever happened.
struct BrokerGuard;

impl BrokerGuard {
    fn stop(&self) {
        assert!(rabbitmqctl(&["stop_app"]), "rabbitmqctl stop_app failed");
    }

    fn start(&self) {
        assert!(rabbitmqctl(&["start_app"]), "rabbitmqctl start_app failed");
        assert!(
            wait_port(true, Duration::from_secs(60)),
            "RabbitMQ did not come back"
        );
    }
}

impl Drop for BrokerGuard {
    fn drop(&mut self) {
        if !wait_port(true, Duration::from_millis(500)) {
            let _ = rabbitmqctl(&["start_app"]);
            let _ = wait_port(true, Duration::from_secs(60));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_run() {
    let guard = BrokerGuard;
    let prefix = format!("t-{}.", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let transport = AmqpTransport::connect(AmqpConfig {
        prefix,
        publish_timeout: Duration::from_secs(30),
        ..Default::default()
    })
    .await
    .expect("RabbitMQ must be reachable for this test");
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
    tokio::task::block_in_place(|| guard.stop());
    let deadline = Instant::now() + Duration::from_secs(10);
    while transport.is_ready().await {
        assert!(Instant::now() < deadline, "is_ready stayed true");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    tokio::task::block_in_place(|| guard.start());

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
