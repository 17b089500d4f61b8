//! `Transport::pass`, the same scenario on the in-process
//! transport and on RabbitMQ: each message the queue held when the pass began
//! is handed out once, what arrives during it is not; the acked ones are
//! gone, the others back in their places once it closes, and a pass dropped
//! without closing gives back what it held too. The broker must be
//! reachable: the RabbitMQ cases (a classic queue and a quorum queue) fail,
//! not skip, when it is not.

use std::sync::Arc;
use std::time::{Duration, Instant};

use isoqube::testing::amqp_url;
use isoqube::transport::{AmqpConfig, AmqpTransport, Binding, OutgoingMessage};
use isoqube::{InProcessTransport, Topology, Transport};

fn message(id: &str) -> OutgoingMessage {
    OutgoingMessage {
        body: b"{}".to_vec(),
        message_id: id.into(),
        correlation_id: None,
        headers: Default::default(),
        properties: Default::default(),
    }
}

/// Takes every message off `q`, returning their ids in order.
async fn drain(t: &dyn Transport, q: &str) -> Vec<String> {
    let mut ids = Vec::new();
    while let Some(m) = t.get(q).await.expect("get") {
        ids.push(m.message_id.unwrap_or_default());
    }
    ids
}

/// `ordered`: the held messages come back in their places (a classic queue,
/// the in-process one); a quorum queue takes them back before the others but
/// in no set order.
async fn scenario(t: Arc<dyn Transport>, ordered: bool) {
    let q = "pass-q";
    t.declare(&Topology {
        exchanges: vec![q.into()],
        queues: vec![q.into()],
        bindings: vec![Binding::Queue {
            source: q.into(),
            queue: q.into(),
        }],
        ..Default::default()
    })
    .await
    .expect("declare");
    for i in 0..10 {
        t.publish(q, message(&format!("m-{i}")))
            .await
            .expect("publish");
    }

    let mut pass = t.pass(q).await.expect("pass");
    let mut seen = Vec::new();
    let mut held = Vec::new();
    while let Some(d) = pass.next().await {
        let d = d.expect("next");
        let id = d.message.message_id.clone().unwrap_or_default();
        if seen.is_empty() {
            // Arrives during the pass: not handed out by it.
            t.publish(q, message("late")).await.expect("publish");
        }
        let n: usize = id.trim_start_matches("m-").parse().expect("an m-N");
        if n % 2 == 0 {
            d.acker.ack().await.expect("ack");
        } else {
            held.push(d);
        }
        seen.push(id);
    }
    let want: Vec<String> = (0..10).map(|i| format!("m-{i}")).collect();
    assert_eq!(seen, want, "each message once, none that came later");
    pass.close().await.expect("close");
    drop(held);
    let mut back = drain(&*t, q).await;
    if !ordered {
        back[..5].sort();
    }
    assert_eq!(
        back,
        ["m-1", "m-3", "m-5", "m-7", "m-9", "late"],
        "the held ones back (counted as soon as the pass closed), before what came later"
    );

    // Dropped without closing: what it held comes back all the same.
    for i in 0..3 {
        t.publish(q, message(&format!("d-{i}")))
            .await
            .expect("publish");
    }
    let mut pass = t.pass(q).await.expect("pass");
    let first = pass.next().await.expect("one").expect("next");
    drop(first);
    drop(pass);
    let deadline = Instant::now() + Duration::from_secs(10);
    while t.message_count(q).await.expect("count") < 3 {
        assert!(
            Instant::now() < deadline,
            "the dropped pass gave nothing back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut back = drain(&*t, q).await;
    back.sort();
    assert_eq!(back, ["d-0", "d-1", "d-2"]);

    // An empty queue: a pass that hands out nothing.
    let mut pass = t.pass(q).await.expect("pass");
    assert!(pass.next().await.is_none());
    pass.close().await.expect("close");
    // A missing queue: said so (at the start, or at the first get).
    let missing = match t.pass("no-such-queue").await {
        Err(e) => e,
        Ok(mut p) => match p.next().await {
            Some(Err(e)) => e,
            _ => panic!("a pass over a missing queue must fail"),
        },
    };
    assert!(missing.to_string().contains("does not exist"), "{missing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_over_an_in_process_queue() {
    scenario(Arc::new(InProcessTransport::new()), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_over_a_rabbitmq_queue() {
    let t = AmqpTransport::connect(AmqpConfig {
        url: amqp_url(),
        prefix: format!("pass-{}.", &uuid::Uuid::new_v4().simple().to_string()[..8]),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("RabbitMQ must be reachable for these tests: {e}"));
    scenario(Arc::new(t.clone()), true).await;
    t.delete_declared().await.expect("clean up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_over_a_rabbitmq_quorum_queue() {
    let t = AmqpTransport::connect(AmqpConfig {
        url: amqp_url(),
        prefix: format!("passq-{}.", &uuid::Uuid::new_v4().simple().to_string()[..8]),
        quorum: true,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("RabbitMQ must be reachable for these tests: {e}"));
    scenario(Arc::new(t.clone()), false).await;
    t.delete_declared().await.expect("clean up");
}
