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

/// The list stays complete by construction: every case the conformance suite
/// defines (`pub async fn NAME(f: Fixture)` in `tests/store_conformance/`) is
/// listed in `conformance_tests!`, every name listed is defined, and both
/// stores' binaries instantiate the list.
#[test]
fn every_case_is_listed() {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut sources = String::new();
    for entry in std::fs::read_dir(tests.join("store_conformance")).expect("the suite's folder") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            sources += &std::fs::read_to_string(&path).expect("a suite file");
        }
    }
    let defined: std::collections::BTreeSet<&str> = sources
        .split("pub async fn ")
        .skip(1)
        .filter_map(|rest| {
            let (name, args) = rest.split_once('(')?;
            args.starts_with("f: Fixture)").then_some(name.trim())
        })
        .collect();
    let listed: std::collections::BTreeSet<&str> = sources
        .split("!(@each $fixture;")
        .skip(1)
        .flat_map(|rest| {
            let list = rest.split(')').next().unwrap_or_default();
            list.split(',').map(str::trim).filter(|n| !n.is_empty())
        })
        .collect();
    assert!(defined.len() > 20, "cases found: {defined:?}");
    let unlisted: Vec<_> = defined.difference(&listed).collect();
    let undefined: Vec<_> = listed.difference(&defined).collect();
    assert!(
        unlisted.is_empty() && undefined.is_empty(),
        "defined but not listed: {unlisted:?}; listed but not defined: {undefined:?}"
    );
    for binary in ["store_sqlite.rs", "store_mongo.rs"] {
        let text = std::fs::read_to_string(tests.join(binary)).expect("a test binary");
        assert!(
            text.lines().any(|l| l.starts_with("conformance_tests!(")),
            "{binary} does not instantiate conformance_tests!"
        );
    }
}
