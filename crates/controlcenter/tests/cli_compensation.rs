//! The `controlcenter` binary and compensation (issue 18): a failed run that
//! undoes what it did shows each undo beneath its step in `runs show` and
//! exits as a run that did not succeed; `runs cancel --compensate` undoes
//! what a running run did, plain `cancel` does not. Like `cli.rs`, the test
//! process hosts the consumers on RabbitMQ and the binary is a separate
//! process; every scenario runs on a SQLite file and on MongoDB.

#[path = "support/records.rs"]
mod records;

#[path = "support/cli_env.rs"]
#[macro_use]
mod cli_env;

use std::time::{Duration, Instant};

use cli_env::{in_background, Env};
use serde_json::Value;

/// `undo`: CcPrepare (undone by CcUndo), then CcShip.
fn create_undoable(e: &Env) {
    let file = std::env::temp_dir().join(format!("undo-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(
        &file,
        "name = \"undo\"\nsteps = [{ event = \"CcPrepare\", compensate = \"CcUndo\" }, \"CcShip\"]\n",
    )
    .expect("write the file");
    let path = file.to_string_lossy().to_string();
    let (code, stdout, stderr) = e.cc(&["definitions", "apply", "-f", &path]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

/// Polls `runs show --json` until `done` holds (or fails the test).
fn wait_run(e: &Env, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let shown = e.json(&["runs", "show", id, "--json"]);
        let run = shown["run"].clone();
        if done(&run) {
            return run;
        }
        assert!(Instant::now() < deadline, "not {what} in time: {run}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn a_failed_run_is_compensated_and_shown(env: Env) {
    let env = std::sync::Arc::new(env);
    let e = env.clone();
    in_background(move || {
        create_undoable(&e);
        let run = e.json_code(
            1,
            &[
                "runs",
                "start",
                "undo",
                "--var",
                "fail_on=cc-ship",
                "--wait",
                "--timeout",
                "60",
                "--json",
            ],
        );
        assert_eq!(run["status"], "Compensated", "{run}");
        let undo = &run["steps"][0]["compensation"];
        assert_eq!(undo["event"], "CcUndo", "{run}");
        assert_eq!(undo["status"], "Succeeded", "{run}");
        let id = run["id"].as_str().expect("id");
        let (code, stdout, stderr) = e.cc(&["runs", "show", id]);
        assert_eq!(code, 0, "{stderr}");
        let lines: Vec<&str> = stdout.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.contains("1. CcPrepare"))
            .unwrap_or_else(|| panic!("{stdout}"));
        assert!(
            lines[at + 1].contains("undo CcUndo") && lines[at + 1].contains("Succeeded"),
            "the undo beneath its step:\n{stdout}"
        );
        assert!(stdout.contains("Compensated"), "{stdout}");
        // `runs watch` shows the undo as it shows the steps, then the end.
        let (code, stdout, _) = e.cc(&["runs", "watch", id]);
        assert_eq!(code, 1, "a compensated run did not succeed: {stdout}");
        assert!(
            stdout.contains("undo  1 CcUndo")
                && stdout.contains("(undoes CcPrepare)")
                && stdout.contains("step  2 CcShip                           Failed"),
            "{stdout}"
        );
        assert!(stdout.contains("Compensated"), "{stdout}");
        let listed = e.json(&["runs", "list", "--status", "compensated", "--json"]);
        assert!(
            listed.to_string().contains(id),
            "listed by its status: {listed}"
        );
    })
    .await;
    std::sync::Arc::into_inner(env)
        .expect("one owner")
        .stop()
        .await;
}

async fn cancel_compensates_only_when_asked(env: Env) {
    let env = std::sync::Arc::new(env);
    let e = env.clone();
    in_background(move || {
        create_undoable(&e);
        let mut ids = Vec::new();
        for _ in 0..2 {
            let run = e.json(&["runs", "start", "undo", "--var", "sleep_ms=3000", "--json"]);
            ids.push(run["id"].as_str().expect("id").to_string());
        }
        for id in &ids {
            wait_run(&e, id, "shipping", |r| r["steps"][1]["status"] == "Invoked");
        }
        let (code, stdout, stderr) = e.cc(&["runs", "cancel", &ids[0]]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("cancelled run"), "{stdout}");
        let (code, stdout, stderr) = e.cc(&["runs", "cancel", &ids[1], "--compensate"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("compensating what it did"), "{stdout}");
        let undone = wait_run(&e, &ids[1], "compensated", |r| r["status"] == "Compensated");
        assert_eq!(undone["steps"][0]["compensation"]["status"], "Succeeded");
        let plain = wait_run(&e, &ids[0], "settled", |r| {
            r["steps"][1]["status"] != "Invoked"
        });
        assert_eq!(plain["status"], "Cancelled");
        assert!(
            plain["steps"][0]["compensation"]["status"] != "Succeeded",
            "plain cancel undoes nothing: {plain}"
        );
        // A finished run cannot be cancelled to compensate.
        let (code, _, stderr) = e.cc(&["runs", "cancel", &ids[0], "--compensate"]);
        assert_ne!(code, 0, "{stderr}");
        assert!(stderr.contains("only pending or running"), "{stderr}");
    })
    .await;
    std::sync::Arc::into_inner(env)
        .expect("one owner")
        .stop()
        .await;
}

/// An undo that failed for its input: `runs resume ID --var` corrects what
/// the undo reads (its variables are those of its step's success, so the
/// change reaches it) and the run ends `Compensated`.
async fn resume_with_variables_corrects_a_failed_undo(env: Env) {
    let env = std::sync::Arc::new(env);
    let e = env.clone();
    in_background(move || {
        create_undoable(&e);
        let args = ["--var", "fail_on=cc-ship", "--var", "undo_fails=true"];
        let mut start = vec!["runs", "start", "undo"];
        start.extend(args);
        start.extend(["--wait", "--timeout", "60", "--json"]);
        let run = e.json_code(1, &start);
        assert_eq!(run["status"], "CompensationFailed", "{run}");
        let id = run["id"].as_str().expect("id").to_string();
        let resume = [
            "runs",
            "resume",
            &id,
            "--var",
            "undo_fails=false",
            "--wait",
            "--timeout",
            "60",
            "--json",
        ];
        let run = e.json_code(1, &resume);
        assert_eq!(run["status"], "Compensated", "{run}");
        let undo = &run["steps"][0]["compensation"];
        assert_eq!(undo["status"], "Succeeded", "{run}");
        assert_eq!(undo["variables"]["undo_fails"], false, "{run}");
    })
    .await;
    std::sync::Arc::into_inner(env)
        .expect("one owner")
        .stop()
        .await;
}

on_both_stores!(
    a_failed_run_is_compensated_and_shown,
    cancel_compensates_only_when_asked,
    resume_with_variables_corrects_a_failed_undo
);
