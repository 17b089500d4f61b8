//! The behaviour suite on RabbitMQ: [`AmqpTransport`] (a fresh random name prefix
//! per test) + a fresh SQLite file. The broker must be reachable (`ISOQUBE_AMQP_URL`,
//! default `amqp://guest:guest@127.0.0.1:5672/%2f`): the tests fail, not skip, when
//! it is not.

mod suite;

use std::sync::Arc;

use isoqube::transport::{AmqpConfig, AmqpTransport};

/// A transport on a prefix of its own, so tests do not see each other's queues.
pub async fn amqp_transport() -> AmqpTransport {
    let prefix = format!("t-{}.", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let config = AmqpConfig {
        prefix,
        ..Default::default()
    };
    let url = isoqube::transport::amqp::redact_url(&config.url);
    AmqpTransport::connect(config)
        .await
        .unwrap_or_else(|e| panic!("RabbitMQ must be reachable at {url} for these tests: {e}"))
}

async fn amqp_pair() -> suite::Pair {
    let dir = std::env::temp_dir().join("isoqube-tests");
    let path = dir.join(format!("{}.db", uuid::Uuid::new_v4()));
    let store = isoqube::SqliteStore::open(&path)
        .await
        .expect("sqlite store");
    suite::Pair {
        transport: Arc::new(amqp_transport().await),
        store: Arc::new(store),
    }
}

behaviour_tests!(amqp_pair);
