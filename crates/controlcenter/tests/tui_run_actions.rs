//! The terminal UI end to end for a run's actions: a run
//! started from the definitions view with a priority typed in the start
//! prompt, its priority in the detail, then cancelled and compensated with
//! `C` after a y/n; a stuck run's detail naming its stuck step; a waiting
//! step signalled with `a`. The real
//! `controlcenter tui` runs in a pseudo-terminal;
//! the test process hosts the consumers on RabbitMQ (as in `cli.rs`); the
//! scenario runs on a SQLite file and on MongoDB.

#[path = "support/records.rs"]
mod records;

#[path = "support/cli_env.rs"]
#[macro_use]
mod cli_env;

#[path = "support/pty.rs"]
mod pty;

#[path = "support/tui_env.rs"]
mod tui_env;

use std::time::{Duration, Instant};

use cli_env::{in_background, Env};
use tui_env::tui;

/// What an approver sends: no consumer; the `approval` definition's wait
/// step waits for it.
#[isoqube::event]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct CcApproval {}

/// Starts `pair` from the TUI with priority 7 and a first step that runs
/// long, then `C`, `y`: the run is cancelled and compensating (its step in
/// flight is told to stop), and has priority 7.
async fn start_with_priority_then_cancel_and_compensate(e: Env) {
    e.create_pair();
    let t = tui(&e, 120, 35);
    let t = in_background(move || {
        let mut t = t;
        t.send("2");
        t.wait_for(&["Definitions (1)", "pair"]);
        t.send("s");
        t.wait_for(&[
            "Start a run of 'pair'",
            "Priority (0-9; the definition's is 0)",
        ]);
        t.send("sleep_ms=60000");
        t.send("\t");
        t.send("\x7f"); // Backspace: the definition's 0 goes
        t.send("7");
        t.send("\r");
        // The started run opens: its priority in the head, its step running.
        t.wait_for(&["started run", "priority 7", "▶ running: 1 CcPrepare"]);
        t.send("C");
        t.wait_for(&["and compensate what it did"]);
        t.send("y");
        t.wait_for(&["compensating what it did"]);
        t.send("q");
        t
    })
    .await;
    drop(t);
    let runs = e.json(&["runs", "list", "--json"]);
    let run = &runs["runs"][0];
    assert_eq!(run["priority"], 7, "{run}");
    assert!(!run["cancelled_at"].is_null(), "{run}");
    let id = run["id"].as_str().expect("id").to_string();
    // It ends cancelled (nothing had succeeded to undo) once its step stops.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = e.json(&["runs", "show", &id, "--json"]);
        let status = run["run"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if status == "Cancelled" {
            break;
        }
        assert_eq!(status, "Compensating", "{run}");
        assert!(Instant::now() < deadline, "still {status}: {run}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    e.stop().await;
}

/// A stuck run's detail names its stuck step, handler and
/// why; a slow run on a live instance's does not.
async fn a_stuck_runs_detail_says_so(e: Env) {
    let live_instance = e
        .service
        .as_ref()
        .map(|s| s.instance_id().to_string())
        .expect("service");
    let runs = records::stuck_runs(
        e.store.as_ref(),
        "pair",
        ["CcPrepare", "CcShip"],
        "cc-prepare",
        &live_instance,
    )
    .await;
    let (gone, live) = (
        runs.gone.id.simple().to_string(),
        runs.live.id.simple().to_string(),
    );
    let gone_instance = runs.gone_instance.clone();
    let t = tui(&e, 120, 35);
    let t = in_background(move || {
        let mut t = t;
        t.send("3");
        t.wait_for(&["Runs (3", &gone[..8], &live[..8]]);
        for (id, stuck) in [(&gone, true), (&live, false)] {
            t.send("/");
            t.send(&id[..8]);
            t.send("\r");
            t.send("\r");
            let s = t.wait_for(&["▶ running: 1 CcPrepare", &format!("Run {}", &id[..8])]);
            if stuck {
                t.wait_for(&[
                    "STUCK (handler's service instance is gone): step 1 (CcPrepare) stuck: \
                     cc-prepare on",
                    &gone_instance[..12],
                ]);
            } else {
                assert!(!s.contains("STUCK ("), "{s}");
            }
            t.send("\x1b"); // back to the list
            t.send("\x1b"); // clears the search
            t.wait_for(&["Runs (3, newest first"]);
        }
        t.send("q");
        t
    })
    .await;
    drop(t);
    e.stop().await;
}

/// A run waiting for `CcApproval`: the list shows it `Waiting`, its detail
/// what it waits for; `a` asks for the data and sends the signal, and the
/// run goes on with the data among its variables.
async fn a_waiting_step_is_signalled(e: Env) {
    e.create_approval();
    let run = e.json(&[
        "runs",
        "start",
        "approval",
        "--var",
        "order_id=o-7",
        "--json",
    ]);
    let id = run["id"].as_str().expect("id").to_string();
    e.run_until(&id, "waited", |r| r["steps"][1]["status"] == "Waiting");
    let short = uuid::Uuid::parse_str(&id)
        .expect("a run id")
        .simple()
        .to_string();
    let t = tui(&e, 120, 35);
    let t = in_background(move || {
        let mut t = t;
        t.send("3");
        t.wait_for(&["Runs (1", &short[..8], "Waiting"]);
        t.send("\r");
        t.wait_for(&["⏸ 2 CcApproval waits for CcApproval until", "(in 47h5"]);
        t.send("a");
        t.wait_for(&["Signal CcApproval to step 2 of run", "Data (a JSON object"]);
        t.send("approved_by=tui");
        t.send("\r");
        t.wait_for(&["completed step 2 (CcApproval); the run goes on"]);
        t.send("q");
        t
    })
    .await;
    drop(t);
    let done = e.run_until(&id, "succeeded", |r| r["status"] == "Succeeded");
    assert_eq!(done["variables"]["approved_by"], "tui", "{done:#}");
    e.stop().await;
}

on_both_stores!(
    start_with_priority_then_cancel_and_compensate,
    a_stuck_runs_detail_says_so,
    a_waiting_step_is_signalled
);
