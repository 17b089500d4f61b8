//! The behaviour suite on the real pair: RabbitMQ ([`AmqpTransport`], a fresh
//! random name prefix per test) + MongoDB ([`MongoStore`], SecantusDB in tests, a
//! fresh database per test). Both servers must be reachable: the tests fail, not
//! skip, when they are not (see `mongo_support` and `ISOQUBE_AMQP_URL`).

mod mongo_support;
mod suite;

use std::sync::Arc;

use isoqube::transport::{AmqpConfig, AmqpTransport};

async fn real_pair() -> suite::Pair {
    let prefix = format!("r-{}.", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let config = AmqpConfig {
        prefix,
        ..Default::default()
    };
    let url = isoqube::transport::amqp::redact_url(&config.url);
    let transport = AmqpTransport::connect(config)
        .await
        .unwrap_or_else(|e| panic!("RabbitMQ must be reachable at {url} for these tests: {e}"));
    suite::Pair {
        transport: Arc::new(transport),
        store: Arc::new(mongo_support::store("isoqube_real").await),
    }
}

behaviour_tests!(real_pair);
masstransit_tests!(real_pair);
