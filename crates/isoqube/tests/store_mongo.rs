//! The store conformance suite on MongoDB (SecantusDB in tests): each test on
//! its own database. See `mongo_support` for how the server is found.

mod mongo_support;
mod store_conformance;

use std::sync::Arc;

use isoqube::RunStore;
use mongodb::bson::{doc, Document};
use store_conformance::Fixture;

async fn mongo_fixture() -> Fixture {
    let store = mongo_support::store("isoqube_conf").await;
    let url = mongo_support::url();
    let db = store.database_name().to_string();
    let mut peers: Vec<Arc<dyn RunStore>> = Vec::new();
    for _ in 0..3 {
        // Own clients and pools, as other service processes would have.
        peers.push(Arc::new(
            isoqube::MongoStore::connect(&url, &db)
                .await
                .expect("mongo peer"),
        ));
    }
    Fixture {
        store: Arc::new(store),
        peers,
        corrupt_run: Box::new(move |id| {
            let (url, db) = (url.clone(), db.clone());
            Box::pin(async move {
                let client = mongodb::Client::with_uri_str(&url).await.expect("client");
                client
                    .database(&db)
                    .collection::<Document>("runs")
                    .insert_one(doc! {
                        "_id": id.to_string(),
                        "id": id.to_string(),
                        "status": 42,
                        "created_key": "2001-01-01T00:00:00.000000Z",
                    })
                    .await
                    .expect("write a broken run");
            })
        }),
    }
}

conformance_tests!(mongo_fixture);

/// Start-up is idempotent: connecting again to a prepared database (indexes
/// exist) works, and with another log retention too.
#[tokio::test]
async fn connect_twice_is_idempotent() {
    let first = mongo_support::store("isoqube_idem").await;
    let db = first.database_name().to_string();
    let url = mongo_support::url();
    let again = isoqube::MongoStore::connect(&url, &db).await.unwrap();
    again.ping().await.unwrap();
    let opts = isoqube::store::mongo::MongoOptions {
        log_retention: std::time::Duration::from_secs(3600),
        ..Default::default()
    };
    isoqube::MongoStore::connect_with(&url, &db, opts)
        .await
        .unwrap();
    first.drop_database().await.unwrap();
}

/// An unreachable server fails in bounded time with a transient store error.
#[tokio::test]
async fn unreachable_server_is_a_transient_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let opts = isoqube::store::mongo::MongoOptions {
        server_selection_timeout: std::time::Duration::from_millis(500),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let e = isoqube::MongoStore::connect_with(
        &format!("mongodb://app:hunter22@127.0.0.1:{port}/?directConnection=true"),
        "isoqube",
        opts,
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(e.is_transient(), "{e}");
    assert!(!e.to_string().contains("hunter22"), "{e}");
}
