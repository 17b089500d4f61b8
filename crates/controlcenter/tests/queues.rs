//! `controlcenter queues` and `Operator::queues`: every endpoint's
//! queue, error queue and skipped queue by their broker names,
//! with messages ready, unacked (where the transport tells it), consumers
//! and the net rate; the stale queues of an endpoint no live service hosts,
//! and deleting them (refused while live, with messages unless forced); on
//! the embedded pair (in-process transport + SQLite) and the real one
//! (RabbitMQ + MongoDB); the binary against RabbitMQ with either store.

use std::sync::Arc;
use std::time::Duration;

use controlcenter::Operator;
use isoqube::testing::{amqp_url, mongo_url};
use isoqube::transport::{AmqpConfig, AmqpTransport, OutgoingMessage};
use isoqube::{consumer, event, InProcessTransport, RunStore, Service, StepContext, Transport};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The one event of these tests.
#[event]
#[derive(Serialize, Deserialize)]
pub struct QuPing {}

#[consumer(service = "qu-test")]
async fn qu_ping(_ev: QuPing, _ctx: StepContext) -> anyhow::Result<()> {
    Ok(())
}

struct Pair {
    transport: Arc<dyn Transport>,
    store: Arc<dyn RunStore>,
    /// How the binary reaches the same store and broker (the real pair only).
    args: Option<Vec<String>>,
    prefix: String,
}

async fn embedded() -> Pair {
    let path = std::env::temp_dir()
        .join("isoqube-cc-tests")
        .join(format!("queues-{}.db", uuid::Uuid::new_v4()));
    Pair {
        transport: Arc::new(InProcessTransport::new()),
        store: Arc::new(isoqube::SqliteStore::open(&path).await.expect("store")),
        args: None,
        prefix: String::new(),
    }
}

async fn real() -> Pair {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("qu-{}.", &id[..8]);
    let transport = AmqpTransport::connect(AmqpConfig {
        url: amqp_url(),
        prefix: prefix.clone(),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("RabbitMQ must be reachable for these tests: {e}"));
    let db = format!("isoqube_qu_{}", &id[..12]);
    let store = isoqube::MongoStore::connect(&mongo_url(), &db)
        .await
        .unwrap_or_else(|e| panic!("MongoDB test server unreachable: {e}"));
    Pair {
        transport: Arc::new(transport),
        store: Arc::new(store),
        args: Some(vec![
            "--mongo-url".into(),
            mongo_url(),
            "--mongo-db".into(),
            db,
        ]),
        prefix,
    }
}

fn message(i: usize) -> OutgoingMessage {
    OutgoingMessage {
        body: b"{}".to_vec(),
        message_id: format!("m-{i}"),
        correlation_id: None,
        headers: Default::default(),
        properties: Default::default(),
    }
}

async fn scenario(pair: Pair) {
    let service = Service::builder("qu-test")
        .transport_arc(pair.transport.clone())
        .store_arc(pair.store.clone())
        .services(["qu-test"])
        .start()
        .await
        .expect("service");
    let op = Operator::new(pair.store.clone(), pair.transport.clone()).expect("operator");
    // The endpoint's consumer attaches just after `start` returns.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pair
        .transport
        .queue_stats("qu-ping")
        .await
        .ok()
        .and_then(|s| s.consumers)
        != Some(1)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the service never consumed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // No window: depth and consumers, no rate.
    let report = op.queues(Duration::ZERO).await.expect("queues");
    let ep = report
        .endpoints
        .iter()
        .find(|e| e.endpoint == "qu-ping")
        .unwrap_or_else(|| panic!("qu-ping in {report:?}"));
    assert!(ep.queue.exists && ep.error_queue.exists, "{ep:?}");
    assert_eq!(ep.queue.queue, "qu-ping");
    assert_eq!(ep.error_queue.queue, "qu-ping_error");
    assert_eq!(ep.skipped_queue.queue, "qu-ping_skipped");
    assert!(ep.skipped_queue.exists, "{ep:?}");
    assert_eq!(
        ep.error_queue.broker_queue,
        format!("{}qu-ping_error", pair.prefix)
    );
    // In flight: the in-process broker tells; RabbitMQ over AMQP does not.
    let unacked = if pair.args.is_some() { None } else { Some(0) };
    assert_eq!(
        (ep.queue.unacked, ep.error_queue.unacked),
        (unacked, unacked)
    );
    assert_eq!(ep.queue.consumers, Some(1), "the service consumes: {ep:?}");
    assert_eq!(ep.error_queue.consumers, Some(0), "{ep:?}");
    assert_eq!((ep.queue.messages, ep.error_queue.messages), (0, 0));
    assert_eq!((ep.queue.net_rate, report.sampled_secs), (None, 0.0));

    // Messages arriving in the error queue during the window: a positive
    // net rate, the depth they left.
    let publisher = pair.transport.clone();
    let publishing = tokio::spawn(async move {
        for i in 0..8 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            publisher
                .publish("qu-ping_error", message(i))
                .await
                .expect("publish");
        }
    });
    let report = op
        .queues(Duration::from_millis(1500))
        .await
        .expect("queues");
    publishing.await.expect("publisher");
    let ep = report
        .endpoints
        .iter()
        .find(|e| e.endpoint == "qu-ping")
        .expect("qu-ping");
    assert_eq!(ep.error_queue.messages, 8, "{ep:?}");
    let rate = ep.error_queue.net_rate.expect("a rate");
    assert!(rate > 3.0 && rate < 8.0, "8 in ~1.5 s: {rate}");
    assert_eq!(ep.queue.net_rate, Some(0.0), "{ep:?}");
    assert!(report.sampled_secs >= 1.5, "{report:?}");

    if let Some(args) = &pair.args {
        let cc = |extra: &[&str]| {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_controlcenter"))
                .env_remove("ISOQUBE_MONGO_URL")
                .env_remove("ISOQUBE_STORE_PATH")
                .env("ISOQUBE_AMQP_URL", amqp_url())
                .env("ISOQUBE_AMQP_PREFIX", &pair.prefix)
                .args(args)
                .args(extra)
                .output()
                .expect("run controlcenter");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (code, stdout, stderr) = cc(&["queues", "--json", "--sample", "0"]);
        assert_eq!(code, Some(0), "{stderr}");
        let doc: Value = serde_json::from_str(&stdout).expect("JSON");
        let ep = doc["endpoints"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["endpoint"] == "qu-ping"))
            .cloned()
            .unwrap_or_else(|| panic!("qu-ping in {doc}"));
        assert_eq!(ep["error_queue"]["messages"], 8, "{ep}");
        assert_eq!(ep["queue"]["consumers"], 1, "{ep}");
        assert_eq!(ep["queue"]["net_rate"], Value::Null, "{ep}");
        let (code, stdout, stderr) = cc(&["queues", "--sample", "0.2"]);
        assert_eq!(code, Some(0), "{stderr}");
        let error_line = stdout
            .lines()
            .find(|l| l.contains("qu-ping_error"))
            .unwrap_or_else(|| panic!("{stdout}"));
        let cells: Vec<&str> = error_line.split_whitespace().collect();
        let name = format!("{}qu-ping_error", pair.prefix);
        assert_eq!(cells, [name.as_str(), "8", "?", "0", "+0.00"], "{stdout}");
        assert!(
            stdout.contains(&format!("{}qu-ping_skipped", pair.prefix)),
            "{stdout}"
        );
        assert!(stdout.contains("UNACKED ?"), "{stdout}");
        assert!(stdout.contains("not the publish rate"), "{stdout}");
        let (code, _, stderr) = cc(&["queues", "--sample", "-1"]);
        assert_eq!(code, Some(2), "{stderr}");
    }
    stale_queues(&pair, &op, service).await;
}

/// A live endpoint's queues are not stale and cannot be
/// deleted; once its service is gone they are listed as stale and can be,
/// refused while they hold messages unless forced.
async fn stale_queues(pair: &Pair, op: &Operator, service: Service) {
    let stale = op.stale_queues().await.expect("stale");
    assert!(stale.iter().all(|e| e.endpoint != "qu-ping"), "{stale:?}");
    match op.delete_queue("qu-ping_skipped", false).await {
        Err(isoqube::Error::InvalidState(why)) => assert!(why.contains("live"), "{why}"),
        other => panic!("refused while live: {other:?}"),
    }
    service.shutdown().await.expect("shutdown");
    let stale = op.stale_queues().await.expect("stale");
    assert!(stale.iter().any(|e| e.endpoint == "qu-ping"), "{stale:?}");
    match op.delete_queue("qu-ping_error", false).await {
        Err(isoqube::Error::InvalidState(why)) => assert!(why.contains("holds 8"), "{why}"),
        other => panic!("refused with messages: {other:?}"),
    }
    assert_eq!(
        pair.transport.message_count("qu-ping_error").await.ok(),
        Some(8)
    );
    let gone = op
        .delete_queue(&format!("{}qu-ping_skipped", pair.prefix), false)
        .await
        .expect("delete by its broker name");
    assert_eq!((gone.queue.as_str(), gone.messages), ("qu-ping_skipped", 0));
    let gone = op
        .delete_queue("qu-ping_error", true)
        .await
        .expect("forced");
    assert_eq!(gone.messages, 8);
    assert!(matches!(
        op.delete_queue("no-such-endpoint", false).await,
        Err(isoqube::Error::NotFound { .. })
    ));
    let ep = op
        .stale_queues()
        .await
        .expect("stale")
        .into_iter()
        .find(|e| e.endpoint == "qu-ping")
        .expect("qu-ping still stale (its queue is there)");
    assert!(
        ep.queue.exists && !ep.error_queue.exists && !ep.skipped_queue.exists,
        "{ep:?}"
    );
    if let Some(args) = &pair.args {
        let cc = |extra: &[&str]| {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_controlcenter"))
                .env_remove("ISOQUBE_MONGO_URL")
                .env_remove("ISOQUBE_STORE_PATH")
                .env("ISOQUBE_AMQP_URL", amqp_url())
                .env("ISOQUBE_AMQP_PREFIX", &pair.prefix)
                .args(args)
                .args(extra)
                .output()
                .expect("run controlcenter");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (code, stdout, stderr) = cc(&["queues", "--stale"]);
        assert_eq!(code, Some(0), "{stderr}");
        assert!(
            stdout.contains(&format!("{}qu-ping ", pair.prefix)),
            "{stdout}"
        );
        let (code, _, stderr) = cc(&["queues", "delete", "qu-ping"]);
        assert_eq!(code, Some(2), "needs --yes: {stderr}");
        let (code, stdout, stderr) = cc(&["queues", "delete", "qu-ping", "--yes"]);
        assert_eq!(code, Some(0), "{stderr}");
        assert!(stdout.contains("deleted queue"), "{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_on_the_embedded_pair() {
    scenario(embedded().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_on_rabbitmq_and_mongodb() {
    scenario(real().await).await;
}
