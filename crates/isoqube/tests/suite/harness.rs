//! One test's world: a fresh transport and store ([`Pair`]) and the
//! [`Harness`] that starts services, defines, starts and waits on runs.

use std::sync::Arc;
use std::time::Duration;

use isoqube::{Control, Definition, RunStore, Service, StepStatus, Transport, Variables};
use serde_json::Value;
use uuid::Uuid;

/// A transport and a store, fresh for one test.
pub struct Pair {
    pub transport: Arc<dyn Transport>,
    pub store: Arc<dyn RunStore>,
}

pub(super) const WAIT: Duration = Duration::from_secs(30);

pub struct Harness {
    pub pair: Pair,
    pub(super) control: Control,
}

impl Harness {
    pub fn new(pair: Pair) -> Self {
        isoqube::telemetry::init_for_tests();
        let control = Control::new(pair.store.clone(), pair.transport.clone()).expect("registry");
        Harness { pair, control }
    }

    pub fn store(&self) -> &Arc<dyn RunStore> {
        &self.pair.store
    }

    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.pair.transport
    }

    pub fn control(&self) -> &Control {
        &self.control
    }

    /// [`Harness::service`] with its endpoint queues declared as priority queues.
    pub async fn priority_service(&self, endpoints: &[&str]) -> Service {
        Service::builder("suite")
            .transport(self.pair.transport.clone())
            .store(self.pair.store.clone())
            .endpoints(endpoints.iter().copied())
            .heartbeat_interval(Duration::from_millis(200))
            .priorities(true)
            .start()
            .await
            .expect("service starts")
    }

    pub async fn service(&self, endpoints: &[&str]) -> Service {
        Service::builder("suite")
            .transport(self.pair.transport.clone())
            .store(self.pair.store.clone())
            .endpoints(endpoints.iter().copied())
            .heartbeat_interval(Duration::from_millis(200))
            .start()
            .await
            .expect("service starts")
    }

    pub async fn define(&self, name: &str, steps: &[&str]) {
        self.control
            .create_definition(Definition::new(name, steps.iter().copied()))
            .await
            .expect("definition saved");
    }

    pub async fn start(&self, def: &str, vars: Value) -> Uuid {
        let vars = match vars {
            Value::Object(m) => m,
            _ => Variables::new(),
        };
        self.control
            .start(isoqube::StartRun::new(def).vars(vars).started_by("test"))
            .await
            .expect("run starts")
            .id
    }

    pub async fn finish(&self, id: Uuid) -> isoqube::Run {
        let run = self
            .control
            .wait_for_run(id, WAIT)
            .await
            .expect("run readable");
        assert!(
            run.status.is_finished(),
            "run {id} did not finish within {WAIT:?}: {run:#?}"
        );
        run
    }

    pub async fn wait_step(&self, id: Uuid, step: usize, status: StepStatus) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let run = self.control.get_run(id).await.expect("run readable");
            if run.steps[step].status == status {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "step {step} never became {status:?}: {run:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `queue` holds `n` messages.
    pub async fn wait_queue(&self, queue: &str, n: u32) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let count = self
                .pair
                .transport
                .message_count(queue)
                .await
                .expect("queue exists");
            if count == n {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "queue {queue} holds {count}, expected {n}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `endpoint` of `svc` has taken `n` deliveries and handles
    /// none of them any more: each is settled, and what its handling
    /// publishes is published (a step publishes before it acks). Seen twice
    /// in a row, as the two counts are not read at one instant.
    pub async fn wait_settled(&self, svc: &Service, endpoint: &str, n: u64) {
        let ep = svc
            .metrics()
            .endpoint(endpoint)
            .expect("an endpoint of the service");
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut seen = 0;
        while seen < 2 {
            let settled = ep.consumed() >= n && ep.in_flight() == 0;
            seen = if settled { seen + 1 } else { 0 };
            assert!(
                tokio::time::Instant::now() < deadline,
                "{endpoint} took {} of {n} deliveries, {} in flight",
                ep.consumed(),
                ep.in_flight()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn publish_raw(&self, exchange: &str, body: &[u8]) {
        let msg = isoqube::transport::OutgoingMessage {
            body: body.to_vec(),
            message_id: Uuid::new_v4().to_string(),
            correlation_id: None,
            headers: Default::default(),
            properties: Default::default(),
        };
        self.pair
            .transport
            .publish(exchange, msg)
            .await
            .expect("publish");
    }

    pub(super) fn publisher(&self) -> isoqube::Publisher {
        isoqube::Publisher::new(
            self.pair.transport.clone(),
            Arc::new(isoqube::Registry::linked().expect("registry")),
            Some(self.pair.store.clone()),
            "suite-test",
        )
    }
}
