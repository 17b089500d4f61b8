//! The `controlcenter` binary and runs that wait: `runs signal ID EVENT`
//! completes a waiting step (its data merged into the run's variables),
//! `runs signal --match EVENT` finds the run by its correlate key (`runs
//! list --status waiting` and `status:waiting` find the one still waiting), and a
//! signal nothing waits for is refused with the reason (exit 2); `runs
//! show`, `runs watch` and `definitions show` say what a step waits for.
//! Like `cli.rs`, the test process hosts the consumers on RabbitMQ and the
//! binary is a separate process; every scenario runs on a SQLite file and on
//! MongoDB.

#[path = "support/records.rs"]
mod records;

#[path = "support/cli_env.rs"]
#[macro_use]
mod cli_env;

use std::sync::Arc;

use cli_env::{in_background, Env};
use serde_json::Value;

/// What an approver sends: no consumer; the `approval` definition's wait
/// step waits for it.
#[isoqube::event]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct CcApproval {}

fn step_status(run: &Value, index: usize) -> &str {
    run["steps"][index]["status"].as_str().unwrap_or("")
}

/// `runs signal ID EVENT --var K=V` on a waiting run: it says which step
/// it completed and the run goes on with the data among its variables;
/// an event the run does not wait for, bad data and an unknown run are
/// refused, each with its reason and exit code.
async fn signal_by_id(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        e.create_approval();
        let run = e.json(&[
            "runs",
            "start",
            "approval",
            "--var",
            "order_id=o-1",
            "--json",
        ]);
        let id = run["id"].as_str().expect("id").to_string();
        e.run_until(&id, "waited", |r| step_status(r, 1) == "Waiting");
        // What it waits for and until when, wherever the run shows.
        let (code, stdout, stderr) = e.cc(&["runs", "show", &id]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stdout.contains("      waits for CcApproval until ")
                && stdout.contains(" UTC (in 47h5"),
            "{stdout}"
        );
        let (code, stdout, stderr) = e.cc(&["runs", "watch", &id, "--timeout", "1"]);
        assert_eq!(code, 5, "still running after 1 s: {stderr}");
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("step  2 CcApproval")
                    && l.contains("waits for CcApproval until")),
            "{stdout}"
        );
        let (_, stdout, _) = e.cc(&["definitions", "show", "approval"]);
        assert!(
            stdout.contains("2. wait for CcApproval (2d, by order_id)"),
            "{stdout}"
        );

        let (code, stdout, stderr) = e.cc(&["runs", "signal", &id[..8], "CcShip"]);
        assert_eq!((code, stdout.as_str()), (2, ""), "{stderr}");
        assert!(stderr.contains("CcShip"), "the reason names it: {stderr}");
        let (code, _, stderr) = e.cc(&["runs", "signal", &id, "CcApproval", "--data", "[1]"]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("JSON object"), "{stderr}");
        let unknown = uuid::Uuid::new_v4().to_string();
        let (code, _, stderr) = e.cc(&["runs", "signal", &unknown, "CcApproval"]);
        assert_eq!(code, 3, "{stderr}");

        let (code, stdout, stderr) = e.cc(&[
            "runs",
            "signal",
            &id[..8],
            "CcApproval",
            "--data",
            r#"{"approved_by": "bob", "ticket": 7}"#,
            "--var",
            "approved_by=ann",
        ]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stdout.contains(&format!(
                "run {id} of approval: completed step 2 (CcApproval)"
            )),
            "{stdout}"
        );
        let done = e.run_until(&id, "succeeded", |r| r["status"] == "Succeeded");
        assert_eq!(done["variables"]["approved_by"], "ann", "{done:#}");
        assert_eq!(done["variables"]["ticket"], 7, "{done:#}");
        // The wait is done: a new signal finds nothing waiting.
        let (code, _, stderr) = e.cc(&["runs", "signal", &id, "CcApproval"]);
        assert_eq!(code, 2, "{stderr}");
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// `runs signal --match EVENT --data JSON`: the run whose `order_id` the
/// data names is reached (`--json` says what it did), the other one is
/// not; data no run matches is refused naming what was looked for.
async fn signal_by_key(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        e.create_approval();
        let mut ids = Vec::new();
        for order in ["o-2", "o-3"] {
            let var = format!("order_id={order}");
            let run = e.json(&["runs", "start", "approval", "--var", &var, "--json"]);
            ids.push(run["id"].as_str().expect("id").to_string());
        }
        for id in &ids {
            e.run_until(id, "waited", |r| step_status(r, 1) == "Waiting");
        }
        let reached = e.json(&[
            "runs",
            "signal",
            "--match",
            "CcApproval",
            "--data",
            r#"{"orderId": "o-3"}"#,
            "--json",
        ]);
        let reached = reached.as_array().expect("a list");
        assert_eq!(reached.len(), 1, "{reached:?}");
        assert_eq!(reached[0]["run_id"], ids[1].as_str(), "{reached:?}");
        assert_eq!(reached[0]["effect"], "completed", "{reached:?}");
        assert_eq!(reached[0]["step"], 1, "{reached:?}");
        e.run_until(&ids[1], "succeeded", |r| r["status"] == "Succeeded");
        let other = e.json(&["runs", "show", &ids[0], "--json"])["run"].clone();
        assert_eq!(step_status(&other, 1), "Waiting", "{other:#}");
        // Found as waiting (its own status is Running), the other one not.
        for how in [&["--status", "waiting"][..], &["status:waiting"][..]] {
            let mut args = vec!["runs", "list", "--definition", "approval", "--json"];
            args.extend_from_slice(how);
            let page = e.json(&args);
            let found: Vec<&str> = page["runs"]
                .as_array()
                .expect("runs")
                .iter()
                .filter_map(|r| r["id"].as_str())
                .collect();
            assert_eq!(found, [ids[0].as_str()], "{how:?}: {page:#}");
            assert_eq!(page["runs"][0]["status"], "Running", "{page:#}");
        }

        let (code, stdout, stderr) = e.cc(&[
            "runs",
            "signal",
            "--match",
            "CcApproval",
            "--var",
            "order_id=o-404",
        ]);
        assert_eq!((code, stdout.as_str()), (2, ""), "{stderr}");
        assert!(stderr.contains("order_id = o-404"), "{stderr}");
        let (code, _, stderr) = e.cc(&["runs", "signal", &ids[0]]);
        assert_eq!(code, 2, "an id without an event: {stderr}");
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// `runs start NAME --in 2s`: stored at once, `Pending` with its start
/// time, nothing run before it; the services' timer starts it then.
/// `--at` takes an RFC 3339 time; anything else is refused.
async fn delayed_start(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        e.create_approval();
        let run = e.json(&["runs", "start", "approval", "--in", "2s", "--json"]);
        assert_eq!(run["status"], "Pending", "{run:#}");
        let at: chrono::DateTime<chrono::Utc> = run["start_at"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("a start time");
        let id = run["id"].as_str().expect("id").to_string();
        let started = e.run_until(&id, "started", |r| step_status(r, 1) == "Waiting");
        let first: chrono::DateTime<chrono::Utc> = started["steps"][0]["invoked_at"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("step 1 ran");
        assert!(first >= at, "not before its time: {first} < {at}");
        let (code, _, stderr) = e.cc(&["runs", "start", "approval", "--at", "tomorrow"]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("RFC 3339"), "{stderr}");
        let (code, _, stderr) = e.cc(&["runs", "cancel", &id]);
        assert_eq!(code, 0, "{stderr}");
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

on_both_stores!(signal_by_id, signal_by_key, delayed_start);
