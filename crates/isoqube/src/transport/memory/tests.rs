//! Unit tests of the in-process transport: fanout, prefetch, requeue when a
//! consumer goes away, unroutable messages, consumers taking turns.
//!
//! May use: anything of the in-process transport and the seam.

use std::sync::{Arc, Mutex};

use super::super::{Binding, OutgoingMessage, Topology, Transport};
use super::InProcessTransport;
use crate::error::Error;

fn topo() -> Topology {
    Topology {
        exchanges: vec!["event".into(), "a".into(), "b".into()],
        queues: vec!["a".into(), "b".into()],
        bindings: vec![
            Binding::Queue {
                source: "a".into(),
                queue: "a".into(),
            },
            Binding::Queue {
                source: "b".into(),
                queue: "b".into(),
            },
            Binding::Exchange {
                source: "event".into(),
                destination: "a".into(),
            },
            Binding::Exchange {
                source: "event".into(),
                destination: "b".into(),
            },
        ],
        ..Default::default()
    }
}

fn msg(id: &str) -> OutgoingMessage {
    OutgoingMessage {
        body: id.as_bytes().to_vec(),
        message_id: id.into(),
        correlation_id: None,
        headers: Default::default(),
        properties: Default::default(),
    }
}

#[tokio::test]
async fn fanout_prefetch_and_requeue_on_drop() {
    let t = InProcessTransport::new();
    t.declare(&topo()).await.unwrap();
    t.declare(&topo()).await.unwrap();
    t.publish("event", msg("1")).await.unwrap();
    t.publish("event", msg("2")).await.unwrap();
    assert_eq!(t.message_count("a").await.unwrap(), 2);
    assert_eq!(t.message_count("b").await.unwrap(), 2);

    let mut s = t.consume("a", 1).await.unwrap();
    let d1 = s.next().await.unwrap().unwrap();
    assert_eq!(d1.message.message_id.as_deref(), Some("1"));
    // prefetch 1: the second waits until the first is settled
    let blocked = tokio::time::timeout(std::time::Duration::from_millis(50), s.next()).await;
    assert!(blocked.is_err());
    d1.acker.ack().await.unwrap();
    assert!(d1.acker.ack().await.is_err(), "double ack is refused");
    let d2 = s.next().await.unwrap().unwrap();
    assert!(!d2.message.redelivered);
    drop(s);
    assert_eq!(t.unacked_count("a"), 0);
    let again = t.get("a").await.unwrap().unwrap();
    assert!(again.redelivered);
    assert!(
        d2.acker.ack().await.is_err(),
        "ack after the consumer closed fails"
    );
    assert!(matches!(
        t.publish("nope", msg("x")).await,
        Err(Error::Transport(_))
    ));
}

#[tokio::test]
async fn unroutable_is_an_error() {
    let t = InProcessTransport::new();
    t.declare(&Topology {
        exchanges: vec!["lonely".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(matches!(
        t.publish("lonely", msg("1")).await,
        Err(Error::Unroutable(_))
    ));
}

/// Like RabbitMQ, a queue hands its messages to its waiting consumers in
/// turn, not all to whichever asks first.
#[tokio::test]
async fn competing_consumers_take_turns() {
    let t = InProcessTransport::new();
    t.declare(&topo()).await.unwrap();
    let taken = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for who in ["one", "two"] {
        let mut s = t.consume("a", 8).await.unwrap();
        let taken = taken.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(d)) = s.next().await {
                taken.lock().unwrap().push(who);
                d.acker.ack().await.unwrap();
            }
        }));
    }
    // both consumers are waiting before anything is published
    tokio::task::yield_now().await;
    for i in 0..20 {
        t.publish("a", msg(&i.to_string())).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while taken.lock().unwrap().len() < 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            taken.lock().unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let taken = taken.lock().unwrap().clone();
    let ones = taken.iter().filter(|w| **w == "one").count();
    assert_eq!(ones, 10, "{taken:?}");
    for t in tasks {
        t.abort();
    }
}

/// A consumer whose turn it is but that stops waiting (its `next` was
/// dropped) holds no message back from the others.
#[tokio::test]
async fn a_consumer_that_stops_waiting_holds_nothing_back() {
    let t = InProcessTransport::new();
    t.declare(&topo()).await.unwrap();
    let mut first = t.consume("a", 8).await.unwrap();
    let mut second = t.consume("a", 8).await.unwrap();
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(20), first.next()).await;
    assert!(gave_up.is_err(), "nothing to take yet");
    t.publish("a", msg("1")).await.unwrap();
    let d = tokio::time::timeout(std::time::Duration::from_secs(2), second.next())
        .await
        .expect("the message was held back for a consumer that left")
        .unwrap()
        .unwrap();
    assert_eq!(d.message.message_id.as_deref(), Some("1"));
    drop(first);
}

fn with_priority(id: &str, priority: Option<u8>) -> OutgoingMessage {
    OutgoingMessage {
        properties: crate::transport::Properties {
            priority,
            ..Default::default()
        },
        ..msg(id)
    }
}

/// A priority queue hands out the highest priority first (capped at its
/// highest, FIFO within one), puts a requeued message back at the head of
/// its priority, and a plain queue stays FIFO; redeclaring a queue with
/// other arguments is refused, as RabbitMQ refuses it.
#[tokio::test]
async fn priority_queues_order_by_priority() {
    let t = InProcessTransport::new();
    let plain = topo();
    let prio = topo().with_priorities(["a".to_string()], 5);
    t.declare(&prio).await.unwrap();
    t.declare(&prio).await.unwrap();
    for (id, p) in [
        ("p1", Some(1)),
        ("none", None),
        ("p9", Some(9)),
        ("p5", Some(5)),
        ("p1b", Some(1)),
    ] {
        t.publish("event", with_priority(id, p)).await.unwrap();
    }
    let order = |q: &'static str| {
        let t = t.clone();
        async move {
            let mut out = Vec::new();
            while let Some(m) = t.get(q).await.unwrap() {
                out.push(m.message_id.unwrap_or_default());
            }
            out
        }
    };
    // 9 is capped at 5; p9 came before p5, so it stays ahead within 5.
    assert_eq!(order("a").await, ["p9", "p5", "p1", "p1b", "none"]);
    assert_eq!(order("b").await, ["p1", "none", "p9", "p5", "p1b"]);

    for (id, p) in [("x5", Some(5)), ("y1", Some(1)), ("z5", Some(5))] {
        t.publish("event", with_priority(id, p)).await.unwrap();
    }
    let mut s = t.consume("a", 1).await.unwrap();
    let d = s.next().await.unwrap().unwrap();
    assert_eq!(d.message.message_id.as_deref(), Some("x5"));
    d.acker.nack(true).await.unwrap();
    drop(s);
    assert_eq!(order("a").await, ["x5", "z5", "y1"]);

    let err = t.declare(&plain).await.unwrap_err().to_string();
    assert!(
        err.contains("queue 'a' already exists with different arguments")
            && err.contains("x-max-priority=5"),
        "{err}"
    );
}
