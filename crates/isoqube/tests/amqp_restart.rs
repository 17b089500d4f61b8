//! A broker restart in the middle of a run: the AMQP transport reconnects,
//! declares its topology again, the runtime consumes again, and the run
//! completes with every step run exactly once.
//!
//! The broker that restarts is a RabbitMQ node of the test's own (own node
//! name, ports and data directory, started with `rabbitmq-server -detached`),
//! never the machine's shared one on 5672, which other tests and programs use.
//! A drop guard stops the node and removes its directory, whatever happened.

mod suite;

use std::sync::Arc;
use std::time::{Duration, Instant};

use isoqube::testing::OwnBroker;
use isoqube::transport::{AmqpConfig, AmqpTransport};
use isoqube::{RunStatus, StepStatus, Transport};
use serde_json::json;

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
    // The broker stays away a while: riding that out is the behaviour under
    // test.
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
