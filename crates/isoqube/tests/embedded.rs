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

/// The lists stay complete by construction: every scenario the suite defines
/// (`pub async fn NAME(h: Harness)` in `tests/suite/`) is listed in
/// `behaviour_tests!` or `masstransit_tests!`, and every name listed is
/// defined. [`every_pair_runs_the_lists`] checks each pair instantiates them.
#[test]
fn every_scenario_is_listed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite");
    let mut sources = String::new();
    for entry in std::fs::read_dir(&dir).expect("tests/suite") {
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
            args.starts_with("h: Harness)").then_some(name.trim())
        })
        .collect();
    let listed: std::collections::BTreeSet<&str> = sources
        .split("!(@each $pair;")
        .skip(1)
        .flat_map(|rest| {
            let list = rest.split(')').next().unwrap_or_default();
            list.split(',').map(str::trim).filter(|n| !n.is_empty())
        })
        .collect();
    assert!(defined.len() > 40, "scenarios found: {defined:?}");
    let unlisted: Vec<_> = defined.difference(&listed).collect();
    let undefined: Vec<_> = listed.difference(&defined).collect();
    assert!(
        unlisted.is_empty() && undefined.is_empty(),
        "defined but not listed: {unlisted:?}; listed but not defined: {undefined:?}"
    );
}

/// Each pair's binary instantiates the lists, so the real pair (and the
/// in-process + MongoDB one) runs every scenario the embedded pair runs. The
/// MassTransit scenarios are about the transport, so the in-process + MongoDB
/// pair, whose transport the embedded pair already covers, skips them.
#[test]
fn every_pair_runs_the_lists() {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let expected: [(&str, &[&str]); 3] = [
        ("embedded.rs", &["behaviour_tests!(", "masstransit_tests!("]),
        ("real.rs", &["behaviour_tests!(", "masstransit_tests!("]),
        ("mongo_behaviour.rs", &["behaviour_tests!("]),
    ];
    for (binary, lists) in expected {
        let text = std::fs::read_to_string(tests.join(binary)).expect("a test binary");
        for list in lists {
            assert!(
                text.lines().any(|l| l.starts_with(list)),
                "{binary} does not instantiate {list}"
            );
        }
    }
}
