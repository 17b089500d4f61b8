//! The behaviour suite on the embedded pair: in-process transport + SQLite file.

mod suite;

use std::sync::Arc;

async fn embedded_pair() -> suite::Pair {
    let dir = std::env::temp_dir().join("isoqube-tests");
    let path = dir.join(format!("{}.db", uuid::Uuid::new_v4()));
    let store = isoqube::SqliteStore::open(&path)
        .await
        .expect("sqlite store");
    suite::Pair {
        transport: Arc::new(isoqube::InProcessTransport::new()),
        store: Arc::new(store),
    }
}

behaviour_tests!(embedded_pair);
masstransit_tests!(embedded_pair);
