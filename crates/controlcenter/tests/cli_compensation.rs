//! The `controlcenter` binary and compensation: a failed run that
//! undoes what it did shows each undo beneath its step in `runs show` and
//! exits as a run that did not succeed; `runs cancel --compensate` undoes
//! what a running run did, plain `cancel` does not; a failed undo's message
//! is kept and decided on its undo. Like `cli.rs`, the test
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

/// The error-queue messages of `run`, as `errors list --json` shows them.
fn faults_of(e: &Env, run: &str) -> Vec<Value> {
    e.json(&["errors", "list", "--json"])
        .as_array()
        .expect("array")
        .iter()
        .flat_map(|q| q["messages"].as_array().cloned().unwrap_or_default())
        .filter(|m| m["run_id"] == Value::String(run.to_string()))
        .collect()
}

/// A run whose undo fails ends CompensationFailed;
/// the undo's message is not "succeeded since" (its step succeeded, its undo
/// did not) and `discard --settled` keeps it; requeueing the failed forward
/// step's message is refused (the run no longer runs steps), requeueing the
/// undo's resumes the compensation.
async fn a_failed_undo_keeps_its_message(env: Env) {
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
                "--var",
                "fail_undo=true",
                "--wait",
                "--timeout",
                "60",
                "--json",
            ],
        );
        assert_eq!(run["status"], "CompensationFailed", "{run}");
        let id = run["id"].as_str().expect("id").to_string();
        let faults = faults_of(&e, &id);
        let undo = faults
            .iter()
            .find(|m| m["compensates"] == "CcPrepare")
            .unwrap_or_else(|| panic!("the undo's message: {faults:?}"))
            .clone();
        let step = faults
            .iter()
            .find(|m| m["compensates"].is_null())
            .unwrap_or_else(|| panic!("the step's message: {faults:?}"))
            .clone();
        assert_eq!(undo["settled"], false, "{undo}");
        let (_, stdout, _) = e.cc(&["errors", "list"]);
        let line = stdout
            .lines()
            .find(|l| l.contains(&id) && l.contains("undo of step 1"))
            .unwrap_or_else(|| panic!("{stdout}"));
        assert!(!line.contains("succeeded since"), "{line}");

        let (code, _, stderr) = e.cc(&["errors", "discard", "--settled", "--yes"]);
        assert_eq!(code, 0, "{stderr}");
        let kept = faults_of(&e, &id);
        assert_eq!(kept.len(), 2, "nothing of the run discarded: {kept:?}");

        let field = |m: &Value, k: &str| m[k].as_str().expect(k).to_string();
        let (code, _, stderr) = e.cc(&[
            "errors",
            "requeue",
            &field(&step, "endpoint"),
            &field(&step, "message_id"),
        ]);
        assert_eq!(code, 2, "refused: {stderr}");
        assert!(stderr.contains("CompensationFailed"), "{stderr}");
        let (code, stdout, stderr) = e.cc(&[
            "errors",
            "requeue",
            &field(&undo, "endpoint"),
            &field(&undo, "message_id"),
        ]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stdout.contains(&format!("resumed the compensation of run {id}")),
            "{stdout}"
        );
        // The undo runs again (and fails again: its variables still say so):
        // its new message replaces the requeued one.
        let old = field(&undo, "message_id");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let now = faults_of(&e, &id);
            let undos: Vec<&Value> = now.iter().filter(|m| !m["compensates"].is_null()).collect();
            if undos.len() == 1 && undos[0]["message_id"] != Value::String(old.clone()) {
                break;
            }
            assert!(Instant::now() < deadline, "no new undo message: {now:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let again = wait_run(&e, &id, "failed again", |r| {
            r["status"] == "CompensationFailed"
        });
        assert_eq!(again["steps"][0]["status"], "Succeeded", "{again}");
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
        let args = ["--var", "fail_on=cc-ship", "--var", "fail_undo=true"];
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
            "fail_undo=false",
            "--wait",
            "--timeout",
            "60",
            "--json",
        ];
        let run = e.json_code(1, &resume);
        assert_eq!(run["status"], "Compensated", "{run}");
        let undo = &run["steps"][0]["compensation"];
        assert_eq!(undo["status"], "Succeeded", "{run}");
        assert_eq!(undo["variables"]["fail_undo"], false, "{run}");
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
    a_failed_undo_keeps_its_message,
    resume_with_variables_corrects_a_failed_undo
);
