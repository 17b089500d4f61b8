//! When the store comes back empty (a new or restored
//! database), the sample's services register themselves again at a heartbeat
//! and seed the built-in definitions again, as `serve` does on first start.
//! On the embedded pair (in-process + SQLite) and the real pair (RabbitMQ +
//! MongoDB-wire); the loss is the instance's record and every definition gone,
//! through the store itself.

use std::time::Duration;

use isoqube::config::{StoreKind, TransportKind};
use isoqube::testing::{amqp_url, mongo_url};
use isoqube::Config;
use sample_build_server::{keep_seeded, seed, start_services, Backends};

async fn seeded_again_after_the_store_empties(config: Config) {
    let backends = Backends::connect(&config).await.expect("backends");
    let service = start_services(&config, &backends, &["default".to_string()])
        .await
        .expect("service");
    seed(service.control()).await.expect("seed");
    let _seeding = keep_seeded(&service);
    let store = backends.store.clone();
    let builtin = store.list_definitions().await.expect("definitions").len();
    assert!(builtin > 0, "the built-in definitions are seeded at start");

    // The store comes back empty: no service record, no definition.
    for d in store.list_definitions().await.expect("definitions") {
        store.delete_definition(&d.name).await.expect("delete");
    }
    store
        .remove_service(service.instance_id())
        .await
        .expect("remove the service record");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = store.list_definitions().await.expect("definitions").len();
        if now == builtin {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the definitions were not seeded again: {now} of {builtin}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    service.shutdown().await.expect("shutdown");
    backends.store.close().await.expect("close");
}

fn config() -> Config {
    let mut config = Config::default();
    config.service.heartbeat_secs = 1;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_again_on_the_embedded_pair() {
    let mut config = config();
    config.store.kind = StoreKind::Sqlite;
    config.store.path = std::env::temp_dir()
        .join("isoqube-sample-tests")
        .join(format!("reseed-{}.db", uuid::Uuid::new_v4()));
    seeded_again_after_the_store_empties(config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_again_on_rabbitmq_and_mongodb() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut config = config();
    config.transport.kind = TransportKind::Amqp;
    config.transport.url = amqp_url();
    config.transport.prefix = format!("reseed-{}.", &id[..8]);
    config.store.kind = StoreKind::Mongodb;
    config.store.url = mongo_url();
    config.store.database = format!("isoqube_reseed_{}", &id[..12]);
    seeded_again_after_the_store_empties(config).await;
}
