//! The terminal UI end to end where an operator reaches first, the
//! real `controlcenter tui` in a pseudo-terminal at 80x24 and
//! 120x35: a 16-step graph run's detail scrolls to every step at 80x24 and
//! shows all of them at 120x35; the event picker filters as you type and
//! stays open to add several steps; the error queue filters and discards and
//! requeues in bulk after a y/n. The test process hosts the consumers on
//! RabbitMQ (as in `cli.rs`); every scenario runs on a SQLite file and on
//! MongoDB.

#[path = "support/records.rs"]
mod records;

#[path = "support/cli_env.rs"]
#[macro_use]
mod cli_env;

#[path = "support/pty.rs"]
mod pty;

#[path = "support/tui_env.rs"]
mod tui_env;

use cli_env::{in_background, Env};

use tui_env::tui;

/// A 16-step graph of the test events: a start, six steps in parallel, a
/// join, two in parallel, a join, then a chain of five.
const WIDE: &str = r#"
name = "wide"
description = "a graph taller than 80x24"
steps = [
  { name = "s01", event = "CcPrepare" },
  { name = "s02", event = "CcShip", after = ["s01"] },
  { name = "s03", event = "CcShip", after = ["s01"] },
  { name = "s04", event = "CcShip", after = ["s01"] },
  { name = "s05", event = "CcShip", after = ["s01"] },
  { name = "s06", event = "CcShip", after = ["s01"] },
  { name = "s07", event = "CcShip", after = ["s01"] },
  { name = "s08", event = "CcPrepare", after = ["s02", "s03", "s04", "s05", "s06", "s07"] },
  { name = "s09", event = "CcShip", after = ["s08"] },
  { name = "s10", event = "CcShip", after = ["s08"] },
  { name = "s11", event = "CcPrepare", after = ["s09", "s10"] },
  { name = "s12", event = "CcShip" },
  { name = "s13", event = "CcShip" },
  { name = "s14", event = "CcShip" },
  { name = "s15", event = "CcShip" },
  { name = "s16", event = "CcShip" },
]
"#;

/// `Steps a-b of 16` in the title, and every step row `sNN` in the table.
fn rows_shown(screen: &str) -> Vec<u32> {
    (1..=16)
        .filter(|i| screen.contains(&format!("s{i:02} ")) || screen.contains(&format!("s{i:02}│")))
        .collect()
}

/// The graph run's detail at 120x35 shows all
/// 16 steps and its graph line; at 80x24 it shows steps and log rows and the
/// arrows reach every step.
async fn graph_detail_scrolls_at_80x24_and_fits_at_120x35(e: Env) {
    let file = std::env::temp_dir().join(format!("wide-{}.toml", e.prefix.trim_end_matches('.')));
    std::fs::write(&file, WIDE).expect("write the definition file");
    let (code, _, stderr) = e.cc(&["definitions", "apply", "-f", &file.to_string_lossy()]);
    assert_eq!(code, 0, "{stderr}");
    let run = e.json(&[
        "runs",
        "start",
        "wide",
        "--wait",
        "--timeout",
        "60",
        "--json",
    ]);
    assert_eq!(run["status"], "Succeeded", "{run}");
    let id = run["id"].as_str().expect("id").to_string();

    let big = tui(&e, 120, 35);
    let short = id[..8].to_string();
    let big = in_background(move || {
        let mut t = big;
        t.send("3");
        t.wait_for(&["Runs (1", &short]);
        t.send("\r");
        let s = t.wait_for(&[
            "Graph: 1 → [2|3|4|5|6|7] → 8 → [9|10] → 11 → 12 → 13 → 14 → 15 → 16",
            "16/16 steps done",
        ]);
        assert_eq!(rows_shown(&s), (1..=16).collect::<Vec<_>>(), "{s}");
        assert!(s.contains("┬  2 s02 (after 1)"), "{s}");
        assert!(s.contains("└  7 s07 (after 1)"), "{s}");
        assert!(s.contains("Logs ("), "{s}");
        t.send("q");
        t
    })
    .await;
    drop(big);

    let small = tui(&e, 80, 24);
    let short = id[..8].to_string();
    let seen = in_background(move || {
        let mut t = small;
        t.send("3");
        t.wait_for(&["Runs (1", &short]);
        t.send("\r");
        let s = t.wait_for(&["of 16 (↑↓)", "Logs (", "done"]);
        assert!(!rows_shown(&s).is_empty(), "{s}");
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..17 {
            t.send("\x1b[A");
        }
        t.wait_for(&["Steps 1-"]);
        for _ in 0..17 {
            seen.extend(rows_shown(&t.screen()));
            t.send("\x1b[B");
        }
        seen.extend(rows_shown(&t.wait_for(&["of 16 (↑↓)"])));
        t.send("q");
        seen
    })
    .await;
    assert_eq!(seen.len(), 16, "steps reached at 80x24: {seen:?}");
    let _ = std::fs::remove_file(&file);
    e.stop().await;
}

/// The event picker filters as you type and stays open to add
/// several steps; the definition saved has them in the order chosen.
async fn picker_filters_as_you_type_and_adds_several(e: Env) {
    let t = tui(&e, 80, 24);
    let t = in_background(move || {
        let mut t = t;
        t.wait_for(&["CcPrepare", "CcShip", "cc-test"]);
        t.send("2");
        t.send("n");
        t.wait_for(&["New definition"]);
        t.send("picked");
        t.send("\t");
        t.send("\t");
        t.send("a");
        t.wait_for(&["Pick events"]);
        t.send("ship");
        let s = t.wait_for(&["Filter: ship", "1 of 3"]);
        assert!(!s.contains("CcPrepare"), "{s}");
        t.send("\r");
        t.wait_for(&["added: CcShip"]);
        t.send("\x15"); // Ctrl-U clears the filter
        t.send("prep");
        t.wait_for(&["Filter: prep", "1 of 3"]);
        t.send("\r");
        t.wait_for(&["Added 2", "added: CcShip, CcPrepare"]);
        t.send("\x1b");
        t.wait_for(&["1. CcShip", "2. CcPrepare"]);
        t.send("K");
        t.wait_for(&["1. CcPrepare", "2. CcShip"]);
        t.send("\x13"); // Ctrl-S
        t.wait_for(&["created definition 'picked'"]);
        t.send("q");
        t
    })
    .await;
    drop(t);
    let def = e
        .store
        .get_definition("picked")
        .await
        .expect("store")
        .expect("saved");
    let events: Vec<&str> = def.steps.iter().map(|s| s.event.as_str()).collect();
    assert_eq!(events, ["CcPrepare", "CcShip"]);
    e.stop().await;
}

/// The error-queue entries now: (endpoint, message id, run id).
fn entries(e: &Env) -> Vec<(String, String, String)> {
    let queues = e.json(&["errors", "list", "--json"]);
    let mut out = Vec::new();
    for q in queues.as_array().expect("queues") {
        for m in q["messages"].as_array().expect("messages") {
            out.push((
                q["endpoint"].as_str().unwrap_or_default().to_string(),
                m["message_id"].as_str().unwrap_or_default().to_string(),
                m["run_id"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    out
}

/// Starts a run of `pair` that fails every attempt, waited for; its id.
fn failing_run(e: &Env) -> String {
    let run = e.json_code(
        1,
        &[
            "runs",
            "start",
            "pair",
            "--var",
            "fail_always=true",
            "--wait",
            "--timeout",
            "60",
            "--json",
        ],
    );
    assert_eq!(run["status"], "Failed", "{run}");
    run["id"].as_str().expect("id").to_string()
}

/// The error queue filters as you type; D discards every message
/// shown and R requeues every one, each after a y/n naming how many, at
/// 120x35.
async fn error_queue_filters_and_acts_in_bulk(e: Env) {
    e.create_pair();
    let first = failing_run(&e);
    let second = failing_run(&e);
    let before = entries(&e);
    assert_eq!(before.len(), 2, "{before:?}");
    let attempts = |e: &Env| {
        e.json(&["runs", "show", &second, "--json"])["run"]["steps"][0]["attempts"]
            .as_u64()
            .unwrap_or(0)
    };
    let attempts_before = attempts(&e);

    let t = tui(&e, 120, 35);
    let (a, b) = (first.clone(), second.clone());
    let t = in_background(move || {
        let mut t = t;
        t.send("4");
        t.wait_for(&["Error queues", &a[..8], &b[..8]]);
        t.send("/");
        t.send(&a[..8]);
        let s = t.wait_for(&["1 shown"]);
        assert!(!s.contains(&b[..8]), "{s}");
        t.send("\r");
        t.send("D");
        t.wait_for(&["Discard all 1 message(s) matching"]);
        t.send("y");
        t.wait_for(&["discarded 1 message(s)"]);
        t.send("\x1b"); // clears the filter
        t.wait_for(&[&b[..8]]);
        t.send("R");
        t.wait_for(&["Requeue all 1 message(s)?"]);
        t.send("y");
        t.wait_for(&["requeued 1 message(s)"]);
        t.send("q");
        t
    })
    .await;
    drop(t);
    // The first run's message is gone; the second's was requeued, which
    // resumed its run (failing again on purpose, it is back in the queue as
    // a new fault of the same run).
    let after = entries(&e);
    assert!(after.iter().all(|(_, _, r)| *r != first), "{after:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while attempts(&e) <= attempts_before {
        assert!(
            std::time::Instant::now() < deadline,
            "the requeue did not resume the run: its first step still has {attempts_before} attempts"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    e.stop().await;
}

on_both_stores!(
    graph_detail_scrolls_at_80x24_and_fits_at_120x35,
    picker_filters_as_you_type_and_adds_several,
    error_queue_filters_and_acts_in_bulk
);
