//! The store conformance suite on the embedded SQLite store.

mod store_conformance;

use std::sync::Arc;

use store_conformance::Fixture;

async fn sqlite_fixture() -> Fixture {
    let dir = std::env::temp_dir().join("isoqube-tests");
    let path = dir.join(format!("conformance-{}.db", uuid::Uuid::new_v4()));
    let store = isoqube::SqliteStore::open(&path)
        .await
        .expect("sqlite store");
    let mut peers: Vec<Arc<dyn isoqube::RunStore>> = Vec::new();
    for _ in 0..3 {
        peers.push(Arc::new(
            isoqube::SqliteStore::open(&path)
                .await
                .expect("sqlite peer"),
        ));
    }
    Fixture {
        store: Arc::new(store),
        peers,
        corrupt_run: Box::new(move |id| {
            let path = path.clone();
            Box::pin(async move {
                let conn = rusqlite::Connection::open(&path).expect("open sqlite file");
                conn.execute(
                    "INSERT INTO runs (id, created_at, status, definition, doc) VALUES (?1, ?2, 'Running', 'broken', ?3)",
                    rusqlite::params![id.to_string(), "2001-01-01T00:00:00.000000Z", r#"{"status": 42}"#],
                )
                .expect("write a broken run");
            })
        }),
    }
}

conformance_tests!(sqlite_fixture);
