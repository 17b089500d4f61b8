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
    let unset_path = path.clone();
    Fixture {
        store: Arc::new(store),
        peers,
        unset_field: Box::new(move |collection, key, field| {
            let path = unset_path.clone();
            Box::pin(async move {
                let conn = rusqlite::Connection::open(&path).expect("open sqlite file");
                let sql = match collection {
                    // rev -1: no cached copy of the run is taken for it.
                    "runs" => "UPDATE runs SET doc = json_remove(doc, ?1), rev = -1 WHERE id = ?2",
                    "definitions" => {
                        "UPDATE definitions SET doc = json_remove(doc, ?1) WHERE name = ?2"
                    }
                    other => panic!("no collection {other}"),
                };
                let n = conn
                    .execute(sql, rusqlite::params![format!("$.{field}"), key])
                    .expect("unset a field");
                assert_eq!(n, 1, "{collection} {key} not found");
            })
        }),
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
