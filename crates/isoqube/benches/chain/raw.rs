//! The raw lapin sides: a run is one persistent JSON message (padded to the size
//! of Isoqube's step envelope) hopping queue 1 -> 2 -> ... -> K; each hop
//! consumes (prefetch C, manual acks), parses, publishes the next message with
//! `mandatory` and publisher confirms, waits for the confirm, then acks. The
//! plain shape is the baseline; the floor shape adds MassTransit's
//! topology here and [`crate::floor`]'s headers and step rows. Uses lapin, and
//! of Isoqube only `AmqpConfig`'s default URL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use isoqube::transport::AmqpConfig;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeBindOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties, ExchangeKind};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::args::Args;
use crate::drive::{drive, Measured, Waiters};
use crate::floor::{run_headers, StepRecorder};

/// What a raw lapin side does besides hopping a message from queue to queue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawShape {
    /// The baseline: exchange -> queue, no headers, nothing recorded.
    Plain,
    /// The floor under any framework that follows the brief: MassTransit's
    /// topology (event exchange -> endpoint exchange -> queue), the three
    /// headers Isoqube puts on a step message, and one SQLite row written per
    /// step (a thread of its own, group commits, WAL) before the next message is
    /// published. Nothing else: no claim, no run document, no consumer call.
    Floor,
}

impl RawShape {
    /// The side's name in the bench's output.
    pub fn label(self) -> &'static str {
        match self {
            RawShape::Plain => "raw-lapin",
            RawShape::Floor => "floor",
        }
    }
}

/// A raw side, declared and consuming; [`RawSide::cleanup`] deletes what it declared.
pub struct RawSide {
    conn: Connection,
    /// Where a run's hop `i` is published (the event exchanges for the floor).
    entries: Vec<String>,
    /// Everything declared, deleted at the end.
    exchanges: Vec<String>,
    queues: Vec<String>,
    publish: lapin::Channel,
    /// The consumer tasks (they hold the side; aborted at clean-up).
    consumers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Deliveries being handled (published on, not yet acked).
    busy: AtomicU64,
    size: usize,
    pub shape: RawShape,
    /// The floor's run headers name this definition (Isoqube's side's name).
    headers_definition: Option<String>,
    recorder: Option<StepRecorder>,
    /// Branches finished per run, for the graph shape's join (in memory: the
    /// raw side keeps no store).
    joins: Mutex<std::collections::HashMap<String, usize>>,
    /// The graph's width (0: a chain).
    width: usize,
}

fn raw_body(run: &str, hop: usize, size: usize) -> Vec<u8> {
    let mut v = json!({
        "messageId": Uuid::new_v4().to_string(),
        "correlationId": run,
        "hop": hop,
        "pad": "",
    });
    let base = serde_json::to_vec(&v).expect("json").len();
    v["pad"] = Value::String("x".repeat(size.saturating_sub(base)));
    serde_json::to_vec(&v).expect("json")
}

/// A hop's properties; with `definition`, also the run headers Isoqube puts on
/// a step message.
fn raw_props(run: &str, hop: usize, definition: Option<&str>) -> BasicProperties {
    let props = BasicProperties::default()
        .with_content_type(ShortString::from("application/json"))
        .with_delivery_mode(2)
        .with_message_id(ShortString::from(Uuid::new_v4().to_string()))
        .with_correlation_id(ShortString::from(run.to_string()));
    match definition {
        None => props,
        Some(definition) => props.with_headers(run_headers(run, hop, definition)),
    }
}

async fn raw_publish(
    channel: &lapin::Channel,
    exchange: &str,
    run: &str,
    hop: usize,
    definition: Option<&str>,
    body: &[u8],
) {
    let confirm = channel
        .basic_publish(
            ShortString::from(exchange.to_string()),
            ShortString::default(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            body,
            raw_props(run, hop, definition),
        )
        .await
        .expect("raw publish");
    match confirm.await.expect("raw publish confirm") {
        Confirmation::Ack(None) => {}
        other => panic!("raw publish to {exchange} not confirmed cleanly: {other:?}"),
    }
}

async fn declare_fanout(admin: &lapin::Channel, name: &str) {
    admin
        .exchange_declare(
            ShortString::from(name.to_string()),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("declare exchange");
}

/// Declares a raw side of shape `shape` with K queues and starts its consumers.
pub async fn raw_side(
    args: &Args,
    id: &str,
    waiters: Arc<Waiters>,
    size: usize,
    shape: RawShape,
) -> Arc<RawSide> {
    let url = AmqpConfig::default().url;
    let conn = Connection::connect(&url, ConnectionProperties::default())
        .await
        .expect("RabbitMQ reachable for the raw side");
    let admin = conn.create_channel().await.expect("admin channel");
    let prefix = match shape {
        RawShape::Plain => format!("bench-raw-{id}"),
        RawShape::Floor => format!("bench-floor-{id}"),
    };
    let mut entries = Vec::new();
    let mut exchanges = Vec::new();
    let mut queues = Vec::new();
    for i in 1..=args.steps {
        let q = format!("{prefix}.q{i}");
        let ex = match shape {
            RawShape::Plain => format!("{prefix}.ex{i}"),
            RawShape::Floor => q.clone(),
        };
        declare_fanout(&admin, &ex).await;
        admin
            .queue_declare(
                ShortString::from(q.clone()),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("declare queue");
        admin
            .queue_bind(
                ShortString::from(q.clone()),
                ShortString::from(ex.clone()),
                ShortString::default(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind queue");
        if shape == RawShape::Floor {
            let event = format!("{prefix}.ev{i}");
            declare_fanout(&admin, &event).await;
            admin
                .exchange_bind(
                    ShortString::from(ex.clone()),
                    ShortString::from(event.clone()),
                    ShortString::default(),
                    ExchangeBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("bind exchange to exchange");
            exchanges.push(event.clone());
            entries.push(event);
        } else {
            entries.push(ex.clone());
        }
        exchanges.push(ex);
        queues.push(q);
    }
    let recorder = (shape == RawShape::Floor)
        .then(|| StepRecorder::start(std::env::temp_dir().join(format!("isoqube-{prefix}"))));
    let publish = conn.create_channel().await.expect("publish channel");
    publish
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm select");
    let side = Arc::new(RawSide {
        conn,
        entries,
        exchanges,
        queues,
        publish,
        consumers: Mutex::new(Vec::new()),
        busy: AtomicU64::new(0),
        size,
        shape,
        headers_definition: (shape == RawShape::Floor).then(|| args.definition_name()),
        recorder,
        joins: Mutex::new(std::collections::HashMap::new()),
        width: args.width,
    });
    let mut consumers = Vec::new();
    for (i, q) in side.queues.iter().enumerate() {
        let channel = side.conn.create_channel().await.expect("consumer channel");
        channel
            .basic_qos(args.concurrency as u16, BasicQosOptions::default())
            .await
            .expect("qos");
        let mut consumer = channel
            .basic_consume(
                ShortString::from(q.clone()),
                ShortString::from(format!("{}-{i}", side.shape.label())),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        let (after, joins) = args.after_step(i);
        let next: Vec<(usize, String)> = after
            .into_iter()
            .map(|j| (j + 1, side.entries[j].clone()))
            .collect();
        let side_for_hops = side.clone();
        let waiters = waiters.clone();
        consumers.push(tokio::spawn(async move {
            let _channel = channel;
            while let Some(Ok(delivery)) = consumer.next().await {
                let next = next.clone();
                let side = side_for_hops.clone();
                let waiters = waiters.clone();
                side.busy.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let msg: Value = serde_json::from_slice(&delivery.data).expect("raw json");
                    let run = msg["correlationId"].as_str().expect("run id").to_string();
                    let hop = msg["hop"].as_u64().expect("hop") as usize;
                    if let Some(recorder) = &side.recorder {
                        recorder.record(&run, hop).await;
                    }
                    // A branch publishes the join only when it is the last one.
                    let publish = !joins || {
                        let mut done = side.joins.lock().expect("joins lock");
                        let n = done.entry(run.clone()).or_insert(0);
                        *n += 1;
                        let last = *n == side.width;
                        if last {
                            done.remove(&run);
                        }
                        last
                    };
                    for (to, ex) in next.iter().filter(|_| publish) {
                        let body = raw_body(&run, *to, side.size);
                        let definition = side.headers_definition.as_deref();
                        raw_publish(&side.publish, ex, &run, *to, definition, &body).await;
                    }
                    // Ack before a run counts as finished: once the last run is
                    // finished the bench tears the channels down.
                    if let Err(e) = delivery.acker.ack(BasicAckOptions::default()).await {
                        eprintln!("raw ack failed: {e}");
                    }
                    if next.is_empty() {
                        waiters.finish(Uuid::parse_str(&run).expect("uuid"), true);
                    }
                    side.busy.fetch_sub(1, Ordering::SeqCst);
                });
            }
        }));
    }
    side.consumers
        .lock()
        .expect("raw consumers lock")
        .extend(consumers);
    side
}

impl RawSide {
    /// Measures `runs` runs.
    pub async fn run(&self, args: &Args, runs: usize, waiters: &Arc<Waiters>) -> Measured {
        let publish = self.publish.clone();
        let first = self.entries[0].clone();
        let size = self.size;
        let definition = self.headers_definition.clone();
        drive(runs, args.steps, args.concurrency, waiters, move || {
            let publish = publish.clone();
            let first = first.clone();
            let definition = definition.clone();
            async move {
                let id = Uuid::new_v4();
                let run = id.to_string();
                let body = raw_body(&run, 1, size);
                raw_publish(&publish, &first, &run, 1, definition.as_deref(), &body).await;
                id
            }
        })
        .await
    }

    /// Waits for the hops still acking, then deletes the side's queues and exchanges.
    pub async fn cleanup(&self) {
        // A run is finished at its last hop, while earlier hops may still be
        // acking: closing their channels now would fail those acks.
        let patience = Instant::now() + Duration::from_secs(10);
        while self.busy.load(Ordering::SeqCst) > 0 && Instant::now() < patience {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for c in self.consumers.lock().expect("raw consumers lock").drain(..) {
            c.abort();
        }
        if let Some(recorder) = &self.recorder {
            let _ = std::fs::remove_dir_all(&recorder.dir);
        }
        let admin = match self.conn.create_channel().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("raw cleanup: no channel: {e}");
                return;
            }
        };
        for q in &self.queues {
            if let Err(e) = admin
                .queue_delete(ShortString::from(q.clone()), Default::default())
                .await
            {
                eprintln!("raw cleanup: deleting queue {q}: {e}");
            }
        }
        for ex in &self.exchanges {
            if let Err(e) = admin
                .exchange_delete(ShortString::from(ex.clone()), Default::default())
                .await
            {
                eprintln!("raw cleanup: deleting exchange {ex}: {e}");
            }
        }
        let _ = self.conn.close(200, ShortString::from("bench done")).await;
    }
}
