//! Isoqube's side: the runtime on the chosen transport and store (wrapped in
//! [`Watched`]), hosting the consumer group of the asked concurrency, with a
//! definition of the K events; runs are started through `Control::start`.
//! Also the size of the step envelope it sends, which the raw sides pad to.
//! Uses only Isoqube's public API.

use std::sync::Arc;

use isoqube::store::mongo::MongoOptions;
use isoqube::transport::{AmqpConfig, AmqpTransport};
use isoqube::{
    Control, Definition, Event, InProcessTransport, MongoStore, RunStore, SqliteStore, StepDef,
    Transport,
};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::args::{Args, StoreKind, TransportKind};
use crate::drive::{drive, Measured, Waiters};
use crate::events::{BenchStep2, EVENT_NAMES};
use crate::watched::{StoreTiming, Watched};

/// Isoqube's side, set up; [`IsoqubeSide::cleanup`] deletes what it declared.
pub struct IsoqubeSide {
    control: Control,
    service: Option<isoqube::Service>,
    amqp: Option<AmqpTransport>,
    transport: Arc<dyn Transport>,
    mongo: Option<MongoStore>,
    tmp: Option<std::path::PathBuf>,
    definition: String,
}

/// Connects, opens the store, starts the service and saves the definition.
pub async fn isoqube_side(
    args: &Args,
    id: &str,
    waiters: Arc<Waiters>,
    timing: Arc<StoreTiming>,
    mongo_url: Option<&str>,
) -> IsoqubeSide {
    let (transport, amqp): (Arc<dyn Transport>, Option<AmqpTransport>) = match args.transport {
        TransportKind::Amqp => {
            let t = AmqpTransport::connect(AmqpConfig {
                prefix: format!("bench-{id}."),
                ..Default::default()
            })
            .await
            .expect(
                "RabbitMQ reachable (ISOQUBE_AMQP_URL or amqp://guest:guest@127.0.0.1:5672/%2f)",
            );
            (Arc::new(t.clone()), Some(t))
        }
        TransportKind::Memory => (Arc::new(InProcessTransport::new()), None),
    };
    let (inner, mongo, tmp): (Arc<dyn RunStore>, _, _) = match args.store {
        StoreKind::Sqlite => {
            let dir = std::env::temp_dir().join(format!("isoqube-bench-{id}"));
            let store = SqliteStore::open(&dir.join("bench.db"))
                .await
                .expect("sqlite store opens");
            (Arc::new(store), None, Some(dir))
        }
        StoreKind::Mongo => {
            let url = mongo_url.expect("mongo url");
            let opts = MongoOptions {
                durability: args.write_concern.durability(),
                ..Default::default()
            };
            let store = MongoStore::connect_with(url, &format!("isoqube_bench_{id}"), opts)
                .await
                .expect("MongoDB reachable");
            (Arc::new(store.clone()), Some(store), None)
        }
    };
    let store: Arc<dyn RunStore> = Arc::new(Watched {
        inner,
        waiters,
        timing,
    });
    let service = isoqube::Service::builder("bench")
        .transport(transport.clone())
        .store(store.clone())
        .services([format!("bench-c{}", args.concurrency)])
        .start()
        .await
        .expect("service starts");
    let control = Control::new(store, transport.clone()).expect("registry");
    let definition = args.definition_name();
    let steps: Vec<StepDef> = match args.width {
        0 => EVENT_NAMES[..args.steps]
            .iter()
            .map(|e| StepDef::new(*e))
            .collect(),
        w => {
            let mut steps = vec![StepDef::new(EVENT_NAMES[0])];
            steps.extend((1..=w).map(|i| StepDef::new(EVENT_NAMES[i]).after([EVENT_NAMES[0]])));
            steps.push(StepDef::new(EVENT_NAMES[w + 1]).after(EVENT_NAMES[1..=w].iter().copied()));
            steps
        }
    };
    control
        .create_definition(Definition::new(definition.clone(), steps))
        .await
        .expect("definition saved");
    IsoqubeSide {
        control,
        service: Some(service),
        amqp,
        transport,
        mongo,
        tmp,
        definition,
    }
}

impl IsoqubeSide {
    /// Measures `runs` runs.
    pub async fn run(&self, args: &Args, runs: usize, waiters: &Arc<Waiters>) -> Measured {
        let control = self.control.clone();
        let def = self.definition.clone();
        drive(runs, args.steps, args.concurrency, waiters, move || {
            let control = control.clone();
            let def = def.clone();
            async move {
                control
                    .start(isoqube::StartRun::new(def).started_by("bench"))
                    .await
                    .expect("run starts")
                    .id
            }
        })
        .await
    }

    /// Stops the service, deletes its queues and exchanges, drops or removes the store.
    pub async fn cleanup(mut self) {
        if let Some(svc) = self.service.take() {
            let _ = svc.shutdown().await;
        }
        if let Some(t) = &self.amqp {
            if let Err(e) = t.delete_declared().await {
                eprintln!("could not delete the isoqube queues/exchanges: {e}");
            }
        }
        let _ = self.transport.close().await;
        if let Some(m) = &self.mongo {
            if let Err(e) = m.drop_database().await {
                eprintln!("could not drop the bench database: {e}");
            }
        }
        if let Some(dir) = &self.tmp {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The size of the envelope Isoqube sends for a step of this benchmark (the raw
/// side pads its messages to it).
pub fn isoqube_envelope_size() -> usize {
    let info = BenchStep2::info();
    let run = Uuid::new_v4().to_string();
    let mut env = isoqube::envelope::Envelope::new(info.message_type(), json!({}));
    env.initiator_id = Some(Uuid::new_v4().to_string());
    env.conversation_id = Some(run.clone());
    env.correlation_id = Some(run.clone());
    // The addresses as a service on the default broker writes them.
    let base = isoqube::wire::address::rabbitmq_base(isoqube::transport::amqp::DEFAULT_URL);
    env.source_address = Some(format!("{base}c64-s1"));
    env.destination_address = Some(format!("{base}{}", info.exchange_name()));
    env.host = Some(isoqube::envelope::Host::new(
        &isoqube::envelope::HostInfo::current("bench"),
    ));
    env.headers
        .insert("Isoqube-Run-Id".into(), Value::String(run));
    env.headers.insert("Isoqube-Step".into(), Value::from(1u64));
    env.headers.insert(
        "Isoqube-Definition".into(),
        Value::String("bench-chain-5".into()),
    );
    env.to_vec().len()
}
