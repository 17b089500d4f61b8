//! A service whose store lost its records (a new database, a
//! restored backup) registers itself and its events again, so the control
//! center shows the service and its events and accepts definitions naming
//! them. On the embedded pair the records are deleted from the SQLite file;
//! on the real pair a MongoDB-wire server of the test's own is restarted empty
//! under the running service (RabbitMQ is the shared broker, not restarted).

use std::future::Future;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use controlcenter::Operator;
use isoqube::testing::{amqp_url, free_port, mongo_script};
use isoqube::transport::{AmqpConfig, AmqpTransport, Transport};
use isoqube::{consumer, event, Definition, InProcessTransport, RunStore, Service, StepContext};
use serde::{Deserialize, Serialize};

/// The one event of the test service.
#[event]
#[derive(Serialize, Deserialize)]
pub struct RrPing {}

#[consumer(service = "rereg")]
async fn rr_ping(_ev: RrPing, _ctx: StepContext) -> anyhow::Result<()> {
    Ok(())
}

/// Whether the operator sees the service alive and its event consumed by it.
async fn registered(op: &Operator) -> bool {
    let services = op.services().await.unwrap_or_default();
    let events = op.events().await.unwrap_or_default();
    services.iter().any(|s| s.record.name == "rereg" && s.alive)
        && events.iter().any(|e| {
            e.name == "RrPing"
                && e.consumers
                    .iter()
                    .any(|c| c.services.contains(&"rereg".to_string()))
        })
}

async fn survives_losing_records<F: Future<Output = ()>>(
    store: Arc<dyn RunStore>,
    transport: Arc<dyn Transport>,
    lose_records: F,
) {
    let service = Service::builder("rereg")
        .transport_arc(transport.clone())
        .store_arc(store.clone())
        .services(["rereg"])
        .heartbeat_interval(Duration::from_millis(200))
        .start()
        .await
        .expect("service");
    let op = Operator::new(store, transport).expect("operator");
    assert!(registered(&op).await, "registered at start");

    lose_records.await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !registered(&op).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the service did not register again: services {:?}, events {:?}",
            op.services().await,
            op.events().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    op.create_definition(Definition::new("after-the-loss", ["RrPing"]))
        .await
        .expect("a definition naming the event is accepted again");
    service.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reregisters_on_the_embedded_pair() {
    let path = std::env::temp_dir()
        .join("isoqube-cc-tests")
        .join(format!("rereg-{}.db", uuid::Uuid::new_v4()));
    let store = isoqube::SqliteStore::open(&path).await.expect("store");
    let lose = async move {
        let conn = rusqlite::Connection::open(&path).expect("open sqlite file");
        conn.execute_batch("DELETE FROM services; DELETE FROM topics;")
            .expect("delete the records");
    };
    survives_losing_records(Arc::new(store), Arc::new(InProcessTransport::new()), lose).await;
}

/// A SecantusDB of this test's own, in memory, on a fixed port.
struct OwnMongo {
    state: std::path::PathBuf,
    port: u16,
}

impl OwnMongo {
    fn script(&self, arg: &str) -> String {
        let out = Command::new("bash")
            .arg(mongo_script())
            .arg(arg)
            .env("SECANTUS_STATE_DIR", &self.state)
            .env("SECANTUS_PORT", self.port.to_string())
            .output()
            .expect("run scripts/mongo-test-server.sh");
        assert!(
            out.status.success(),
            "mongo-test-server.sh {arg}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for OwnMongo {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(mongo_script())
            .arg("stop")
            .env("SECANTUS_STATE_DIR", &self.state)
            .status();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reregisters_on_rabbitmq_and_mongodb() {
    let state = std::env::temp_dir().join(format!("isoqube-rereg-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&state).expect("state dir");
    let server = Arc::new(OwnMongo {
        state,
        port: free_port(),
    });
    let url = server.script("start");
    let opts = isoqube::store::mongo::MongoOptions {
        server_selection_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    let store = isoqube::MongoStore::connect_with(&url, "isoqube_rereg", opts)
        .await
        .unwrap_or_else(|e| panic!("own MongoDB-wire server unreachable: {e}"));
    let id = uuid::Uuid::new_v4().simple().to_string();
    let transport = AmqpTransport::connect(AmqpConfig {
        url: amqp_url(),
        prefix: format!("rereg-{}.", &id[..8]),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("RabbitMQ must be reachable for these tests: {e}"));
    let restart = server.clone();
    let lose = async move {
        // In memory: it comes back on the same port with nothing in it.
        restart.script("stop");
        let again = restart.script("start");
        assert_eq!(again, url, "same port");
    };
    survives_losing_records(Arc::new(store), Arc::new(transport), lose).await;
}
