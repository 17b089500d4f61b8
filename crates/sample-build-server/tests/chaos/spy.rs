//! The spy: a durable queue bound to every step exchange of the deployment,
//! which sees every step message the services and the control publish, so
//! the checks can tell a step published twice from one published once. A
//! compensation message carries its forward step's index (`Isoqube-Step`)
//! plus `Isoqube-Compensate`: the spy keys it apart, so an undo is never taken
//! for a second copy of the step it undoes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use isoqube::transport::{AmqpConfig, AmqpTransport, Binding};
use isoqube::wire::headers::{HEADER_COMPENSATE, HEADER_RUN_ID, HEADER_STEP};
use isoqube::{transport::Topology, RunStore, Transport};
use uuid::Uuid;

const QUEUE: &str = "chaos-spy";

/// One step message as the spy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The publishing process (the envelope's `host.processId`).
    pub pid: Option<u32>,
    /// The envelope's `sentTime`.
    pub sent: Option<chrono::DateTime<chrono::Utc>>,
}

/// Which message: the run, the step's index, and whether it is the step's
/// compensation (`Isoqube-Compensate` present) rather than the step itself.
pub type Key = (Uuid, usize, bool);

/// What the spy saw, per run, step and direction.
pub type Sightings = Arc<Mutex<BTreeMap<Key, Vec<Seen>>>>;

pub struct Spy {
    pub seen: Sightings,
    transport: AmqpTransport,
    task: tokio::task::JoinHandle<()>,
}

impl Spy {
    /// Binds the spy queue to the exchange of every topic the services
    /// registered but those of `unwatched` (events whose messages must reach
    /// no queue), and starts consuming it.
    pub async fn start(
        url: &str,
        prefix: &str,
        store: &Arc<dyn RunStore>,
        unwatched: &[&str],
    ) -> Spy {
        let transport = AmqpTransport::connect(AmqpConfig {
            url: url.to_string(),
            prefix: prefix.to_string(),
            publish_timeout: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .expect("the spy connects to the test's broker");
        let topics = store.list_topics().await.expect("topics");
        assert!(!topics.is_empty(), "no topics registered yet");
        let mut topology = Topology {
            queues: vec![QUEUE.to_string()],
            ..Default::default()
        };
        for t in topics
            .into_iter()
            .filter(|t| !unwatched.contains(&t.name.as_str()))
        {
            topology.exchanges.push(t.exchange.clone());
            topology.bindings.push(Binding::Queue {
                source: t.exchange,
                queue: QUEUE.to_string(),
            });
        }
        transport.declare(&topology).await.expect("declare the spy");
        let seen: Sightings = Arc::default();
        let task = tokio::spawn(consume(transport.clone(), seen.clone()));
        Spy {
            seen,
            transport,
            task,
        }
    }

    /// Stops consuming and deletes what the spy declared.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.transport.delete_declared().await;
        let _ = self.transport.close().await;
    }
}

/// Consumes the spy queue for ever, through broker restarts.
async fn consume(transport: AmqpTransport, seen: Sightings) {
    loop {
        let Ok(mut stream) = transport.consume(QUEUE, 256).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        while let Some(delivery) = stream.next().await {
            let Ok(delivery) = delivery else { break };
            // The run and step are in the envelope's headers (MassTransit's
            // `headers` object), like everything else the spy reads.
            let body: serde_json::Value =
                serde_json::from_slice(&delivery.message.body).unwrap_or_default();
            let headers = &body["headers"];
            let run = headers[HEADER_RUN_ID]
                .as_str()
                .and_then(|s| s.parse::<Uuid>().ok());
            let step = headers[HEADER_STEP]
                .as_u64()
                .or_else(|| headers[HEADER_STEP].as_str().and_then(|s| s.parse().ok()));
            let compensation = headers.get(HEADER_COMPENSATE).is_some();
            if let (Some(run), Some(step)) = (run, step) {
                let pid = body["host"]["processId"]
                    .as_u64()
                    .and_then(|p| u32::try_from(p).ok());
                let sent = body["sentTime"]
                    .as_str()
                    .and_then(|s| s.parse::<chrono::DateTime<chrono::Utc>>().ok());
                seen.lock()
                    .expect("spy lock")
                    .entry((run, step as usize, compensation))
                    .or_default()
                    .push(Seen { pid, sent });
            }
            let _ = delivery.acker.ack().await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
