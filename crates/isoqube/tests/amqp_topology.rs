//! The AMQP transport against a real RabbitMQ: the topology a service declares
//! (checked with passive declares on a separate lapin connection), idempotent
//! declarations, conflicting queue arguments, message properties, unroutable and
//! missing exchanges, consumer cancel / requeue, and credential redaction.
//! The broker must be reachable: these tests fail, not skip, when it is not.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use isoqube::transport::amqp::{redact_url, CONTENT_TYPE};
use isoqube::transport::{AmqpConfig, AmqpTransport, Binding, OutgoingMessage};
use isoqube::{consumer, event, transport::Topology, Error, Event, Service, Transport};
use lapin::options::{ExchangeDeclareOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The event of the topology test.
#[event]
#[derive(Serialize, Deserialize)]
pub struct TopoEvent {
    pub n: u32,
}

#[consumer(service = "topo", endpoint = "topo-endpoint")]
async fn topo(_ev: TopoEvent) -> Result<(), std::io::Error> {
    Ok(())
}

fn config(prefix: &str) -> AmqpConfig {
    AmqpConfig {
        prefix: prefix.to_string(),
        ..Default::default()
    }
}

fn fresh_prefix() -> String {
    format!("t-{}.", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

async fn connect(config: AmqpConfig) -> AmqpTransport {
    let url = redact_url(&config.url);
    AmqpTransport::connect(config)
        .await
        .unwrap_or_else(|e| panic!("RabbitMQ must be reachable at {url} for these tests: {e}"))
}

async fn raw_connection() -> Connection {
    Connection::connect(&AmqpConfig::default().url, ConnectionProperties::default())
        .await
        .expect("raw lapin connection")
}

async fn exchange_exists(conn: &Connection, name: &str) -> bool {
    let ch = conn.create_channel().await.expect("channel");
    let ok = ch
        .exchange_declare(
            name.into(),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .is_ok();
    let _ = ch.close(200, "done".into()).await;
    ok
}

async fn queue_count(conn: &Connection, name: &str) -> Option<u32> {
    let ch = conn.create_channel().await.expect("channel");
    let q = ch
        .queue_declare(
            name.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .ok()
        .map(|q| q.message_count());
    let _ = ch.close(200, "done".into()).await;
    q
}

fn msg(id: &str) -> OutgoingMessage {
    let mut headers = BTreeMap::new();
    headers.insert("MT-Reason".to_string(), json!("fault"));
    headers.insert("MT-Fault-RetryCount".to_string(), json!(3));
    headers.insert("flag".to_string(), json!(true));
    OutgoingMessage {
        body: format!(r#"{{"messageId":"{id}"}}"#).into_bytes(),
        message_id: id.to_string(),
        correlation_id: Some(format!("corr-{id}")),
        headers,
        properties: Default::default(),
    }
}

async fn wait_count(t: &AmqpTransport, queue: &str, n: u32) {
    for _ in 0..250 {
        if t.message_count(queue).await.expect("count") == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("queue {queue} never held {n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_topology_is_declared_and_idempotent() {
    isoqube::telemetry::init_for_tests();
    let prefix = fresh_prefix();
    let transport = connect(config(&prefix)).await;
    let store = isoqube::SqliteStore::open(
        &std::env::temp_dir()
            .join("isoqube-tests")
            .join(format!("{}.db", uuid::Uuid::new_v4())),
    )
    .await
    .expect("store");
    let svc = Service::builder("topo")
        .transport(transport.clone())
        .store(store)
        .endpoints(["topo-endpoint"])
        .start()
        .await
        .expect("service starts");
    assert!(transport.is_ready().await);

    let event_exchange = TopoEvent::info().exchange_name();
    assert_eq!(event_exchange, "AmqpTopology:TopoEvent");
    let conn = raw_connection().await;
    for ex in [
        event_exchange.clone(),
        "topo-endpoint".into(),
        "topo-endpoint_error".into(),
        "topo-endpoint_skipped".into(),
    ] {
        assert!(
            exchange_exists(&conn, &format!("{prefix}{ex}")).await,
            "exchange {prefix}{ex} missing"
        );
    }
    for q in [
        "topo-endpoint",
        "topo-endpoint_error",
        "topo-endpoint_skipped",
    ] {
        assert!(
            queue_count(&conn, &format!("{prefix}{q}")).await.is_some(),
            "queue {prefix}{q} missing"
        );
    }
    assert!(!exchange_exists(&conn, &format!("{prefix}nope")).await);
    assert!(queue_count(&conn, &format!("{prefix}nope")).await.is_none());
    svc.shutdown().await.expect("shutdown");

    // declaring again changes nothing: one binding still routes one copy, and
    // nothing that was queued is lost.
    let topology = Topology {
        exchanges: vec![
            event_exchange.clone(),
            "topo-endpoint".into(),
            "topo-endpoint_error".into(),
        ],
        queues: vec!["topo-endpoint".into(), "topo-endpoint_error".into()],
        bindings: vec![
            Binding::Exchange {
                source: event_exchange.clone(),
                destination: "topo-endpoint".into(),
            },
            Binding::Queue {
                source: "topo-endpoint".into(),
                queue: "topo-endpoint".into(),
            },
        ],
        ..Default::default()
    };
    transport
        .publish(&event_exchange, msg("before"))
        .await
        .unwrap();
    transport.declare(&topology).await.expect("declare again");
    transport.declare(&topology).await.expect("and again");
    transport
        .publish(&event_exchange, msg("after"))
        .await
        .unwrap();
    wait_count(&transport, "topo-endpoint", 2).await;

    // a queue that exists with other arguments: a clear error naming it
    let quorum = connect(AmqpConfig {
        quorum: true,
        ..config(&prefix)
    })
    .await;
    let err = quorum
        .declare(&Topology {
            queues: vec!["topo-endpoint".into()],
            ..Default::default()
        })
        .await
        .expect_err("conflicting arguments are refused");
    let text = err.to_string();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert!(
        text.contains(&format!("queue '{prefix}topo-endpoint'"))
            && text.contains("different arguments")
            && text.contains("x-queue-type"),
        "{text}"
    );
    // the 406 closed a channel; the transport carries on
    assert_eq!(quorum.message_count("topo-endpoint").await.unwrap(), 2);
    quorum.close().await.unwrap();

    // a quorum queue of its own works end to end
    let q2 = connect(AmqpConfig {
        quorum: true,
        ..config(&fresh_prefix())
    })
    .await;
    let topo_q = Topology {
        exchanges: vec!["qq".into()],
        queues: vec!["qq".into()],
        bindings: vec![Binding::Queue {
            source: "qq".into(),
            queue: "qq".into(),
        }],
        ..Default::default()
    };
    q2.declare(&topo_q).await.expect("quorum queue declared");
    q2.declare(&topo_q).await.expect("idempotent");
    q2.publish("qq", msg("q1")).await.unwrap();
    wait_count(&q2, "qq", 1).await;
    let got = q2.get("qq").await.unwrap().expect("message");
    assert_eq!(got.message_id.as_deref(), Some("q1"));
    q2.delete_declared().await.unwrap();
    q2.close().await.unwrap();

    // the service declared through a clone: its topology is remembered too
    transport.delete_declared().await.unwrap();
    transport.close().await.unwrap();
    assert!(!transport.is_ready().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_properties_unroutable_and_missing_exchange() {
    let prefix = fresh_prefix();
    let t = connect(config(&prefix)).await;
    t.declare(&Topology {
        exchanges: vec!["ex".into(), "lonely".into()],
        queues: vec!["q".into()],
        bindings: vec![Binding::Queue {
            source: "ex".into(),
            queue: "q".into(),
        }],
        ..Default::default()
    })
    .await
    .unwrap();

    t.publish("ex", msg("m1")).await.unwrap();
    wait_count(&t, "q", 1).await;
    // the AMQP properties, read with plain lapin
    let conn = raw_connection().await;
    let ch = conn.create_channel().await.unwrap();
    let got = ch
        .basic_get(format!("{prefix}q").as_str().into(), Default::default())
        .await
        .unwrap()
        .expect("a message");
    let p = &got.delivery.properties;
    assert_eq!(
        p.content_type().as_ref().map(|s| s.as_str()),
        Some(CONTENT_TYPE)
    );
    assert_eq!(*p.delivery_mode(), Some(2));
    assert_eq!(p.message_id().as_ref().map(|s| s.as_str()), Some("m1"));
    assert_eq!(
        p.correlation_id().as_ref().map(|s| s.as_str()),
        Some("corr-m1")
    );
    let headers = p.headers().clone().expect("headers");
    assert!(matches!(
        headers.inner().get("MT-Reason"),
        Some(AMQPValue::LongString(_))
    ));
    assert_eq!(
        headers.inner().get("MT-Fault-RetryCount"),
        Some(&AMQPValue::LongLongInt(3))
    );
    assert_eq!(headers.inner().get("flag"), Some(&AMQPValue::Boolean(true)));
    got.delivery.acker.ack(Default::default()).await.unwrap();
    let _ = ch.close(200, "done".into()).await;

    // headers come back as JSON through get()
    t.publish("ex", msg("m2")).await.unwrap();
    wait_count(&t, "q", 1).await;
    let raw = t.get("q").await.unwrap().expect("m2");
    assert_eq!(raw.headers["MT-Fault-RetryCount"].as_u64(), Some(3));
    assert_eq!(raw.headers["MT-Reason"], "fault");
    assert_eq!(raw.correlation_id.as_deref(), Some("corr-m2"));
    assert!(!raw.redelivered);
    assert!(t.get("q").await.unwrap().is_none());

    // every property given comes back as it was sent
    let props = isoqube::transport::Properties {
        content_type: Some("application/json".into()),
        content_encoding: Some("utf-8".into()),
        delivery_mode: Some(1),
        priority: Some(3),
        reply_to: Some("replies".into()),
        expiration: Some("600000".into()),
        timestamp: Some(1_700_000_000),
        kind: Some("Ns:Type".into()),
        app_id: Some("dotnet-app".into()),
    };
    let mut with = msg("m4");
    with.properties = props.clone();
    t.publish("ex", with).await.unwrap();
    wait_count(&t, "q", 1).await;
    let raw = t.get("q").await.unwrap().expect("m4");
    assert_eq!(raw.properties, props);

    // unroutable
    match t.publish("lonely", msg("x")).await {
        Err(Error::Unroutable(ex)) => assert_eq!(ex, "lonely"),
        other => panic!("expected Unroutable, got {other:?}"),
    }
    // missing exchange: no queue can be bound to it, so a run step's message
    // is unroutable (not an outage to retry for ever), and publishing still
    // works afterwards
    match t.publish("missing", msg("y")).await {
        Err(Error::Unroutable(ex)) => assert_eq!(ex, "missing"),
        other => panic!("expected Unroutable, got {other:?}"),
    }
    // an event (not mandatory) to a missing exchange: a clear error
    match t.publish_event("missing", msg("z")).await {
        Err(Error::Transport(e)) => {
            assert!(
                e.contains(&format!("'{prefix}missing'")) && e.contains("does not exist"),
                "{e}"
            )
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
    t.publish("ex", msg("m3")).await.unwrap();
    wait_count(&t, "q", 1).await;
    // a missing queue is an error for count, get and consume
    assert!(t.message_count("missing").await.is_err());
    assert!(t.get("missing").await.is_err());
    let err = t.consume("missing", 1).await.err().expect("no such queue");
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert_eq!(t.message_count("q").await.unwrap(), 1);
    t.delete_declared().await.unwrap();
    t.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_cancel_and_requeue_on_drop() {
    let t = connect(config(&fresh_prefix())).await;
    t.declare(&Topology {
        exchanges: vec!["ex".into()],
        queues: vec!["q".into()],
        bindings: vec![Binding::Queue {
            source: "ex".into(),
            queue: "q".into(),
        }],
        ..Default::default()
    })
    .await
    .unwrap();
    for i in 0..3 {
        t.publish("ex", msg(&format!("m{i}"))).await.unwrap();
    }
    let mut s = t.consume("q", 1).await.unwrap();
    let d0 = s.next().await.unwrap().unwrap();
    assert_eq!(d0.message.message_id.as_deref(), Some("m0"));
    // prefetch 1: nothing more until settled
    assert!(tokio::time::timeout(Duration::from_millis(300), s.next())
        .await
        .is_err());
    d0.acker.ack().await.unwrap();
    assert!(d0.acker.ack().await.is_err(), "double ack is refused");
    let d1 = s.next().await.unwrap().unwrap();
    assert_eq!(d1.message.message_id.as_deref(), Some("m1"));
    // cancel keeps the channel: the delivery in hand can still be settled
    s.cancel().await;
    assert!(s.next().await.is_none());
    d1.acker.nack(true).await.unwrap();
    // drop with an unacked delivery: it goes back, marked redelivered
    let mut s2 = t.consume("q", 5).await.unwrap();
    let d = s2.next().await.unwrap().unwrap();
    assert_eq!(d.message.message_id.as_deref(), Some("m1"));
    assert!(d.message.redelivered);
    drop(s);
    drop(s2);
    wait_count(&t, "q", 2).await;
    let again = t.get("q").await.unwrap().unwrap();
    assert_eq!(again.message_id.as_deref(), Some("m1"));
    assert!(again.redelivered);
    assert!(
        d.acker.ack().await.is_err(),
        "ack after the stream closed fails"
    );
    t.delete_declared().await.unwrap();
    t.close().await.unwrap();
}

#[tokio::test]
async fn unreachable_broker_error_hides_the_password() {
    let err = AmqpTransport::connect(AmqpConfig {
        url: "amqp://app:sekrit-pw@127.0.0.1:1/%2f".into(),
        connect_timeout: Duration::from_secs(3),
        ..Default::default()
    })
    .await
    .expect_err("nothing listens on port 1");
    let text = err.to_string();
    assert!(!text.contains("sekrit"), "{text}");
    // One line naming the broker by its address only.
    assert!(
        text.contains("RabbitMQ at 127.0.0.1:1 is unreachable"),
        "{text}"
    );
    assert!(!text.contains("app"), "{text}");
    let bad_login = AmqpTransport::connect(AmqpConfig {
        url: "amqp://guest:wrong-sekrit@127.0.0.1:5672/%2f".into(),
        ..Default::default()
    })
    .await
    .expect_err("wrong password");
    assert!(!bad_login.to_string().contains("sekrit"), "{bad_login}");
}

#[allow(dead_code)]
fn _assert_send(t: AmqpTransport) -> Arc<dyn Transport> {
    Arc::new(t)
}

/// Many publishes at once, some to an exchange nothing is bound to: each
/// mandatory publish learns its own fate (lapin pairs a broker "return" with
/// whichever confirmation comes next on a channel, so a shared channel could
/// blame the wrong publisher), and events to nowhere are dropped quietly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_unroutable_publishes_are_told_apart() {
    let prefix = fresh_prefix();
    let t = Arc::new(connect(config(&prefix)).await);
    t.declare(&Topology {
        exchanges: vec!["bound".into(), "nowhere".into()],
        queues: vec!["sink".into()],
        bindings: vec![Binding::Queue {
            source: "bound".into(),
            queue: "sink".into(),
        }],
        ..Default::default()
    })
    .await
    .unwrap();
    // Several bursts: a return landing on the wrong confirmation needs
    // several unroutable publishes in flight at once, which a burst gives
    // most of the time, not every time.
    const BURSTS: usize = 12;
    for burst in 0..BURSTS {
        let mut tasks = Vec::new();
        for i in 0..300 {
            let t = t.clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("m{burst}-{i}");
                match i % 3 {
                    0 => (i, t.publish("bound", msg(&id)).await),
                    1 => (i, t.publish("nowhere", msg(&id)).await),
                    _ => (i, t.publish_event("nowhere", msg(&id)).await),
                }
            }));
        }
        for task in tasks {
            let (i, outcome) = task.await.unwrap();
            match (i % 3, outcome) {
                (0, Ok(())) | (2, Ok(())) => {}
                (1, Err(Error::Unroutable(ex))) => assert_eq!(ex, "nowhere"),
                (kind, other) => panic!("burst {burst}: publish {i} (kind {kind}) got {other:?}"),
            }
        }
    }
    wait_count(&t, "sink", 100 * BURSTS as u32).await;
}

/// Step messages share one channel, and the broker closes a channel that
/// publishes to an exchange deleted since it was checked. Every publish in
/// flight on it is answered (none hangs): the one to the deleted exchange with
/// a clear error, the others published after all (on a new channel), none
/// missing from its queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_closed_under_publishes_answers_them_all() {
    let prefix = fresh_prefix();
    let t = Arc::new(connect(config(&prefix)).await);
    t.declare(&Topology {
        exchanges: vec!["bound".into(), "doomed".into()],
        queues: vec!["sink".into(), "grave".into()],
        bindings: vec![
            Binding::Queue {
                source: "bound".into(),
                queue: "sink".into(),
            },
            Binding::Queue {
                source: "doomed".into(),
                queue: "grave".into(),
            },
        ],
        ..Default::default()
    })
    .await
    .unwrap();
    // Checked (and remembered) by the transport, then deleted behind its back.
    t.publish("doomed", msg("first")).await.unwrap();
    let conn = raw_connection().await;
    let ch = conn.create_channel().await.unwrap();
    ch.exchange_delete(
        format!("{prefix}doomed").as_str().into(),
        Default::default(),
    )
    .await
    .unwrap();

    let mut tasks = Vec::new();
    for i in 0..200 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let exchange = if i == 100 { "doomed" } else { "bound" };
            (i, t.publish(exchange, msg(&format!("m{i}"))).await)
        }));
    }
    for task in tasks {
        let answered = tokio::time::timeout(Duration::from_secs(60), task).await;
        let (i, outcome) = answered.expect("every publish is answered").unwrap();
        match (i, outcome) {
            // Found gone when checked again: no queue can take it.
            (100, Err(Error::Unroutable(ex))) => assert_eq!(ex, "doomed"),
            (100, other) => panic!("publish to the deleted exchange got {other:?}"),
            (_, Ok(())) => {}
            (i, other) => panic!("publish {i} got {other:?}"),
        }
    }
    // All 199 arrived; a publish that reached the queue and lost its
    // confirmation with the channel arrived twice.
    let mut count = 0;
    for _ in 0..100 {
        count = t.message_count("sink").await.expect("count");
        if count >= 199 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!((199..=398).contains(&count), "{count} in the queue");
    t.publish("bound", msg("after"))
        .await
        .expect("publishing goes on");
    let _ = ch.close(200, "done".into()).await;
}

/// `ServiceBuilder::priorities`: the endpoint queue is a priority queue (the
/// highest priority is taken first); a plain queue of that name, or a
/// priority queue declared plain, is a clear error naming it; quorum queues
/// and priorities together are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_queues_are_declared_and_conflicts_named() {
    isoqube::telemetry::init_for_tests();
    let store = || async {
        isoqube::SqliteStore::open(
            &std::env::temp_dir()
                .join("isoqube-tests")
                .join(format!("{}.db", uuid::Uuid::new_v4())),
        )
        .await
        .expect("store")
    };
    let start = |transport: AmqpTransport, priorities: bool| async move {
        Service::builder("topo")
            .transport(transport)
            .store(store().await)
            .endpoints(["topo-endpoint"])
            .priorities(priorities)
            .start()
            .await
    };

    let prefix = fresh_prefix();
    let transport = connect(config(&prefix)).await;
    let svc = start(transport.clone(), true).await.expect("starts");
    svc.shutdown().await.expect("shutdown");
    for (id, p) in [("low", 1), ("high", 9), ("mid", 5)] {
        let mut m = msg(id);
        m.properties.priority = Some(p);
        transport.publish("topo-endpoint", m).await.unwrap();
    }
    wait_count(&transport, "topo-endpoint", 3).await;
    let mut got = Vec::new();
    while let Some(m) = transport.get("topo-endpoint").await.unwrap() {
        got.push(m.message_id.unwrap_or_default());
    }
    assert_eq!(got, ["high", "mid", "low"]);
    // the same service with the option off: the broker refuses, the error says why
    let err = start(transport.clone(), false)
        .await
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(
        text.contains(&format!("queue '{prefix}topo-endpoint'"))
            && text.contains("different arguments")
            && text.contains("no extra arguments")
            && text.contains("x-max-priority"),
        "{text}"
    );
    transport.delete_declared().await.unwrap();
    transport.close().await.unwrap();

    // a plain queue of today, then a service asking for priorities
    let prefix = fresh_prefix();
    let transport = connect(config(&prefix)).await;
    let svc = start(transport.clone(), false).await.expect("starts");
    svc.shutdown().await.expect("shutdown");
    let svc = start(transport.clone(), false)
        .await
        .expect("plain again works");
    svc.shutdown().await.expect("shutdown");
    let err = start(transport.clone(), true).await.err().expect("refused");
    let text = err.to_string();
    assert!(
        text.contains(&format!("queue '{prefix}topo-endpoint'"))
            && text.contains("different arguments")
            && text.contains("x-max-priority=9"),
        "{text}"
    );
    transport.delete_declared().await.unwrap();
    transport.close().await.unwrap();

    let quorum = connect(AmqpConfig {
        quorum: true,
        ..config(&fresh_prefix())
    })
    .await;
    let err = start(quorum.clone(), true).await.err().expect("refused");
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("quorum queues take no x-max-priority"),
        "{err}"
    );
    quorum.close().await.unwrap();
}
