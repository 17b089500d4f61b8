//! The error queue never loses a message, through
//! [`Operator`] on the embedded pair (in-process transport + SQLite) and the
//! real one (RabbitMQ + MongoDB): requeueing a message whose step would not
//! run is refused, saying why, and the message stays (item 6); an undo's
//! message is settled by its undo, not by the step it undoes (item 4); bulk
//! requeue and discard act on exactly the messages listed, a thousand of
//! them, with counts that match the broker (item 5). The real pair runs with
//! classic queues and with quorum queues (which take back what a look held
//! a moment after it ends, and not in order).

use std::collections::BTreeMap;
use std::sync::Arc;

use controlcenter::{ops::Requeued, Operator};
use isoqube::testing::{amqp_url, mongo_url};
use isoqube::transport::{AmqpConfig, AmqpTransport, Binding, OutgoingMessage};
use isoqube::{
    Definition, Error, InProcessTransport, Run, RunStatus, RunStore, ServiceRecord, StepStatus,
    Topology, Transport, Variables,
};
use serde_json::json;
use uuid::Uuid;

/// The endpoint whose error queue the tests fill.
const EP: &str = "eq-step";
const EP_ERROR: &str = "eq-step_error";

struct Pair {
    transport: Arc<dyn Transport>,
    store: Arc<dyn RunStore>,
    amqp: Option<AmqpTransport>,
}

async fn embedded() -> Pair {
    let path = std::env::temp_dir()
        .join("isoqube-cc-tests")
        .join(format!("errq-{}.db", Uuid::new_v4()));
    Pair {
        transport: Arc::new(InProcessTransport::new()),
        store: Arc::new(isoqube::SqliteStore::open(&path).await.expect("store")),
        amqp: None,
    }
}

async fn real() -> Pair {
    real_with(false).await
}

/// The real pair with the queues as RabbitMQ quorum queues (`[transport]
/// quorum`), which give held messages back asynchronously.
async fn real_quorum() -> Pair {
    real_with(true).await
}

async fn real_with(quorum: bool) -> Pair {
    let id = Uuid::new_v4().simple().to_string();
    let transport = AmqpTransport::connect(AmqpConfig {
        url: amqp_url(),
        prefix: format!("eq-{}.", &id[..8]),
        quorum,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("RabbitMQ must be reachable for these tests: {e}"));
    let store = isoqube::MongoStore::connect(&mongo_url(), &format!("isoqube_eq_{}", &id[..12]))
        .await
        .unwrap_or_else(|e| panic!("MongoDB test server unreachable: {e}"));
    Pair {
        transport: Arc::new(transport.clone()),
        store: Arc::new(store),
        amqp: Some(transport),
    }
}

impl Pair {
    /// Declares `eq-step` and its error queue, names the endpoint in a
    /// service record (the control center acts only on endpoints it knows),
    /// and returns the operator.
    async fn operator(&self) -> Operator {
        let mut topology = Topology::default();
        for name in [EP, EP_ERROR] {
            topology.exchanges.push(name.into());
            topology.queues.push(name.into());
            topology.bindings.push(Binding::Queue {
                source: name.into(),
                queue: name.into(),
            });
        }
        self.transport.declare(&topology).await.expect("declare");
        let now = chrono::Utc::now();
        self.store
            .register_service(&ServiceRecord {
                id: "eq@test:1:a".into(),
                name: "eq".into(),
                host: "test".into(),
                pid: 1,
                events: Vec::new(),
                consumers: vec![EP.into()],
                transport: self.transport.kind().into(),
                started_at: now,
                last_seen: now,
            })
            .await
            .expect("service record");
        Operator::new(self.store.clone(), self.transport.clone()).expect("operator")
    }

    async fn count(&self, queue: &str) -> u32 {
        self.transport.message_count(queue).await.expect("count")
    }

    async fn done(self) {
        if let Some(t) = self.amqp {
            t.delete_declared().await.expect("clean up");
        }
    }
}

/// A message as a failed step's lands in `eq-step_error`: the envelope
/// naming the run and step (and, for an undo, the step it undoes), the
/// fault headers on the transport.
fn fault(id: &str, step: Option<(Uuid, usize, Option<&str>)>) -> OutgoingMessage {
    let mut env_headers = serde_json::Map::new();
    if let Some((run, index, undoes)) = step {
        env_headers.insert("Isoqube-RunId".into(), json!(run.to_string()));
        env_headers.insert("Isoqube-Step".into(), json!(index));
        if let Some(name) = undoes {
            env_headers.insert("Isoqube-Compensate".into(), json!(name));
        }
    }
    let body = json!({
        "messageId": id,
        "messageType": ["urn:message:Eq"],
        "message": {},
        "headers": env_headers,
    });
    let mut headers = BTreeMap::new();
    headers.insert("MT-Reason".to_string(), json!("fault"));
    headers.insert("MT-Fault-Message".to_string(), json!("boom"));
    OutgoingMessage {
        body: body.to_string().into_bytes(),
        message_id: id.into(),
        correlation_id: None,
        headers,
        properties: Default::default(),
    }
}

/// A run of `EqA` (undone by `EqUndo`), then `EqB`, stored as `status` with
/// its steps and `EqA`'s undo as given.
async fn stored_run(
    store: &dyn RunStore,
    status: RunStatus,
    a: StepStatus,
    undo: StepStatus,
    b: StepStatus,
) -> Run {
    let mut def = Definition::new("eq", ["EqA", "EqB"]);
    def.steps[0].compensate = Some("EqUndo".into());
    let mut run = Run::new(&def, Variables::new(), "test");
    run.status = status;
    run.steps[0].status = a;
    run.steps[1].status = b;
    if let Some(c) = run.steps[0].compensation.as_mut() {
        c.status = undo;
    }
    store.insert_run(&run).await.expect("insert run");
    run
}

/// A step message of a run in which the step would not run is
/// refused with the reason, and stays in the error queue; nothing is
/// published. A running run's message is published.
async fn requeue_refuses_what_would_not_run(pair: Pair) {
    use RunStatus as R;
    use StepStatus as S;
    let op = pair.operator().await;
    let cases = [
        (R::Compensated, S::Failed, "was compensated"),
        (R::CompensationFailed, S::Failed, "CompensationFailed"),
        (R::Compensating, S::Failed, "is Compensating"),
        (R::Succeeded, S::Failed, "has succeeded"),
    ];
    for (i, (status, b, why)) in cases.into_iter().enumerate() {
        let run = stored_run(&*pair.store, status, S::Succeeded, S::Succeeded, b).await;
        let id = format!("refused-{i}");
        pair.transport
            .publish(EP_ERROR, fault(&id, Some((run.id, 1, None))))
            .await
            .expect("publish");
        match op.requeue(EP, &id).await {
            Err(Error::InvalidState(text)) => {
                assert!(text.contains(why), "{status:?}: {text}");
                assert!(text.contains(&run.id.to_string()), "{text}");
            }
            other => panic!("{status:?}: requeue must be refused, got {other:?}"),
        }
        assert_eq!(pair.count(EP).await, 0, "{status:?}: nothing published");
        assert_eq!(pair.count(EP_ERROR).await, i as u32 + 1, "{status:?}: kept");
    }
    // The bulk requeue refuses them each, and keeps them.
    let all = op.faults_where(Some(EP), |_| true).await.expect("list");
    let bulk = op.requeue_each(all).await;
    assert_eq!((bulk.done.len(), bulk.failed.len()), (0, 4), "{bulk:?}");
    assert_eq!(pair.count(EP_ERROR).await, 4);

    let running = stored_run(
        &*pair.store,
        R::Running,
        S::Succeeded,
        S::Pending,
        S::Failed,
    )
    .await;
    pair.transport
        .publish(EP_ERROR, fault("running", Some((running.id, 1, None))))
        .await
        .expect("publish");
    let done = op.requeue(EP, "running").await.expect("requeued");
    assert_eq!(
        done,
        Requeued::Published {
            endpoint: EP.into()
        }
    );
    assert_eq!((pair.count(EP).await, pair.count(EP_ERROR).await), (1, 4));
    pair.done().await;
}

/// An undo's message is settled only when its undo succeeded: a
/// failed undo of a succeeded step is not, and `discard --settled` keeps it;
/// a succeeded undo's is, and goes. Requeueing an undo's message is decided
/// on the undo's record.
async fn undo_messages_are_settled_by_their_undo(pair: Pair) {
    use RunStatus as R;
    use StepStatus as S;
    let op = pair.operator().await;
    let failed = stored_run(
        &*pair.store,
        R::CompensationFailed,
        S::Succeeded,
        S::Failed,
        S::Failed,
    )
    .await;
    let undone = stored_run(
        &*pair.store,
        R::Compensated,
        S::Succeeded,
        S::Succeeded,
        S::Failed,
    )
    .await;
    for (id, run) in [("undo-failed", &failed), ("undo-succeeded", &undone)] {
        pair.transport
            .publish(EP_ERROR, fault(id, Some((run.id, 0, Some("EqA")))))
            .await
            .expect("publish");
    }
    // The failed run's forward step: failed, not settled either.
    pair.transport
        .publish(EP_ERROR, fault("step-failed", Some((undone.id, 1, None))))
        .await
        .expect("publish");

    // (Sorted: a quorum queue does not keep the order of what a look held.)
    let mut listed = op.faults_where(Some(EP), |_| true).await.expect("list");
    listed.sort_by(|a, b| a.message_id.cmp(&b.message_id));
    let settled: Vec<(&str, bool)> = listed
        .iter()
        .map(|f| (f.message_id.as_str(), f.settled))
        .collect();
    assert_eq!(
        settled,
        [
            ("step-failed", false),
            ("undo-failed", false),
            ("undo-succeeded", true),
        ]
    );
    assert_eq!(listed[1].compensates.as_deref(), Some("EqA"));

    // Requeued: decided on the undo (the one that succeeded is refused as
    // settled; before, the forward step's success was taken for it).
    match op.requeue(EP, "undo-succeeded").await {
        Err(Error::InvalidState(text)) => assert!(text.contains("undo of step 1"), "{text}"),
        other => panic!("refused as settled, got {other:?}"),
    }

    let gone = op.discard_settled(Some(EP)).await.expect("discard settled");
    let gone: Vec<&str> = gone.iter().map(|f| f.message_id.as_str()).collect();
    assert_eq!(gone, ["undo-succeeded"]);
    let mut left: Vec<String> = op
        .faults_where(Some(EP), |_| true)
        .await
        .expect("list")
        .into_iter()
        .map(|f| f.message_id)
        .collect();
    left.sort();
    assert_eq!(left, ["step-failed", "undo-failed"]);
    pair.done().await;
}

/// A thousand messages listed, then more arriving: the bulk requeue
/// and discard act on exactly the listed ones, report them all, and the
/// broker's counts agree; the late ones stay, and acting again on a stale
/// list reports each as not found and removes nothing.
async fn bulk_acts_on_exactly_the_listed(pair: Pair) {
    const N: usize = 1000;
    let op = pair.operator().await;
    for i in 0..N {
        pair.transport
            .publish(EP_ERROR, fault(&format!("m-{i}"), None))
            .await
            .expect("publish");
    }
    let listed = op.faults_where(Some(EP), |_| true).await.expect("list");
    assert_eq!(listed.len(), N);
    for i in 0..5 {
        pair.transport
            .publish(EP_ERROR, fault(&format!("late-{i}"), None))
            .await
            .expect("publish");
    }
    let (to_requeue, to_discard) = listed.split_at(400);

    let bulk = op.requeue_each(to_requeue.to_vec()).await;
    assert_eq!(
        (bulk.done.len(), bulk.failed.len()),
        (400, 0),
        "{:?}",
        bulk.failed.first()
    );
    assert_eq!(pair.count(EP).await, 400);
    assert_eq!(pair.count(EP_ERROR).await, (N - 400 + 5) as u32);

    let bulk = op.discard_each(to_discard.to_vec()).await;
    assert_eq!(
        (bulk.done.len(), bulk.failed.len()),
        (600, 0),
        "{:?}",
        bulk.failed.first()
    );
    let mut left: Vec<String> = op
        .faults_where(Some(EP), |_| true)
        .await
        .expect("list")
        .into_iter()
        .map(|f| f.message_id)
        .collect();
    left.sort();
    assert_eq!(
        left,
        (0..5).map(|i| format!("late-{i}")).collect::<Vec<_>>()
    );

    // A stale list: every one already gone, said so; nothing else touched.
    let bulk = op.discard_each(to_discard[..50].to_vec()).await;
    assert_eq!((bulk.done.len(), bulk.failed.len()), (0, 50));
    assert!(
        bulk.failed
            .iter()
            .all(|(_, e)| matches!(e, Error::NotFound { .. })),
        "{:?}",
        bulk.failed.first()
    );
    assert_eq!(pair.count(EP_ERROR).await, 5);
    // What was requeued is in the endpoint's queue, each once.
    let mut requeued = Vec::new();
    while let Some(m) = pair.transport.get(EP).await.expect("get") {
        requeued.push(m.message_id.unwrap_or_default());
    }
    requeued.sort();
    let mut want: Vec<String> = to_requeue.iter().map(|f| f.message_id.clone()).collect();
    want.sort();
    assert_eq!(requeued, want);
    pair.done().await;
}

macro_rules! on_both_pairs {
    ($($name:ident),*) => {
        mod embedded_pair {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::embedded().await).await;
                }
            )*
        }
        mod rabbitmq_mongodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::real().await).await;
                }
            )*
        }
        mod rabbitmq_quorum_mongodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::real_quorum().await).await;
                }
            )*
        }
    };
}

on_both_pairs!(
    requeue_refuses_what_would_not_run,
    undo_messages_are_settled_by_their_undo,
    bulk_acts_on_exactly_the_listed
);
