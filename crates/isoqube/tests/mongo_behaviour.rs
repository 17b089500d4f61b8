//! The behaviour suite on in-process transport + MongoDB (SecantusDB in tests),
//! each test on its own database.

mod mongo_support;
mod suite;

use std::sync::Arc;

async fn mongo_pair() -> suite::Pair {
    let store = mongo_support::store("isoqube_beh").await;
    suite::Pair {
        transport: Arc::new(isoqube::InProcessTransport::new()),
        store: Arc::new(store),
    }
}

behaviour_tests!(mongo_pair);
