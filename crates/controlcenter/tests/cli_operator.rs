//! The `controlcenter` binary where an operator was misled: error
//! queues named as `errors list` prints them, run ids as short as the TUI
//! shows them, a closed pipe, a failed run's message requeued. Like `cli.rs`,
//! the test process hosts the consumers on RabbitMQ and the binary is a
//! separate process; every scenario runs on a SQLite file and on MongoDB.

#[path = "support/records.rs"]
mod records;

#[path = "support/cli_env.rs"]
#[macro_use]
mod cli_env;

use std::process::Stdio;
use std::sync::Arc;

use cli_env::{in_background, Env};
use serde_json::Value;

/// Starts a run of `pair` whose first attempt fails, waited for; its id.
fn failed_run(e: &Env) -> String {
    let run = e.json_code(
        1,
        &[
            "runs",
            "start",
            "pair",
            "--var",
            "fail_first=true",
            "--wait",
            "--timeout",
            "60",
            "--json",
        ],
    );
    assert_eq!(run["status"], "Failed", "{run}");
    run["id"].as_str().expect("id").to_string()
}

/// The error-queue entry of `run`: (endpoint, message id).
fn fault_of(e: &Env, run: &str) -> (String, String) {
    let queues = e.json(&["errors", "list", "--json"]);
    let fault = queues
        .as_array()
        .expect("array")
        .iter()
        .flat_map(|q| q["messages"].as_array().cloned().unwrap_or_default())
        .find(|m| m["run_id"] == Value::String(run.to_string()))
        .unwrap_or_else(|| panic!("no fault for {run}: {queues}"));
    (
        fault["endpoint"].as_str().expect("endpoint").to_string(),
        fault["message_id"].as_str().expect("id").to_string(),
    )
}

/// `errors list` prints `<endpoint>_error`, and requeue and discard
/// take that name as well as the endpoint's; an unknown endpoint is not found
/// (exit 3) in one line, with no client library lines before it.
async fn error_queues_by_either_name(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        e.create_pair();
        let run = failed_run(&e);
        let (endpoint, message_id) = fault_of(&e, &run);
        let (code, stdout, stderr) = e.cc(&["errors", "list"]);
        assert_eq!(code, 0, "{stderr}");
        let printed = format!("{endpoint}_error");
        assert!(stdout.contains(&format!("{printed}: 1")), "{stdout}");
        let (code, _, stderr) = e.cc(&["errors", "list", "--endpoint", &printed]);
        assert_eq!(code, 0, "{stderr}");
        let (code, stdout, stderr) = e.cc(&["errors", "discard", &printed, &message_id]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains(&printed), "{stdout}");
        let (code, _, stderr) = e.cc(&["errors", "discard", &printed, &message_id]);
        assert_eq!(code, 3, "already gone: {stderr}");

        for args in [
            &["errors", "requeue", "no-such-endpoint", &message_id][..],
            &["errors", "requeue", "no-such-endpoint_error", &message_id],
            &["errors", "discard", "no-such-endpoint", &message_id],
            &["errors", "list", "--endpoint", "no-such-endpoint"],
        ] {
            let (code, _, stderr) = e.cc(args);
            assert_eq!(code, 3, "{args:?}: {stderr}");
            assert!(stderr.contains("no-such-endpoint"), "{args:?}: {stderr}");
            assert_eq!(
                stderr.trim().lines().count(),
                1,
                "{args:?}: one line: {stderr}"
            );
        }
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// Runs the binary with its stdout a pipe whose reader has already gone, as
/// `controlcenter ... | head -1` leaves it once `head` has its line.
fn into_closed_pipe(e: &Env, args: &[&str]) -> (i32, String) {
    let mut child = e
        .cmd(true)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run controlcenter");
    drop(child.stdout.take());
    let o = child.wait_with_output().expect("wait");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A closed pipe is not an outage: the command ends quietly, exit 0.
async fn closed_pipe_is_quiet(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        e.create_pair();
        let run = e.json(&["runs", "start", "pair", "--wait", "--json"]);
        let id = run["id"].as_str().expect("id").to_string();
        for args in [
            &["runs", "show", &id, "--logs"][..],
            &["runs", "show", &id, "--json"],
            &["runs", "list"],
            &["runs", "watch", &id],
            &["definitions", "list"],
            &["config", "show"],
        ] {
            let (code, stderr) = into_closed_pipe(&e, args);
            assert_eq!(code, 0, "{args:?}: {stderr}");
            assert_eq!(stderr, "", "{args:?}: nothing on stderr");
        }
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// Any unique start of a run id names the run (the TUI shows 8
/// characters); one that starts several lists them and exits 2.
async fn short_run_ids(env: Env) {
    let twins: Vec<uuid::Uuid> = [
        "dd000000-0000-4000-8000-000000000001",
        "dd000000-0000-4000-8000-000000000002",
    ]
    .iter()
    .map(|t| uuid::Uuid::parse_str(t).expect("uuid"))
    .collect();
    let def = isoqube::Definition::new("twins", ["CcPrepare"]);
    for id in &twins {
        let mut run = isoqube::Run::new(&def, Default::default(), "test");
        run.id = *id;
        env.store.insert_run(&run).await.expect("insert run");
    }
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        e.create_pair();
        let run = e.json(&["runs", "start", "pair", "--wait", "--json"]);
        let id = run["id"].as_str().expect("id").to_string();
        for short in [
            id[..8].to_string(),
            id[..8].to_uppercase(),
            id[..13].to_string(),
            id.replace('-', "")[..16].to_string(),
        ] {
            let (code, stdout, stderr) = e.cc(&["runs", "show", &short]);
            assert_eq!(code, 0, "{short}: {stderr}");
            assert!(stdout.contains(&id), "{short}: {stdout}");
        }
        let (code, stdout, stderr) = e.cc(&["runs", "watch", &id[..8]]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains(&format!("run {id} Succeeded")), "{stdout}");
        let rerun = e.json(&["runs", "rerun", &id[..8], "--wait", "--json"]);
        assert_eq!(rerun["rerun_of"], Value::String(id.clone()), "{rerun}");

        let (code, _, stderr) = e.cc(&["runs", "show", "dd000000"]);
        assert_eq!(code, 2, "ambiguous: {stderr}");
        assert!(stderr.contains("ambiguous"), "{stderr}");
        for twin in &twins {
            assert!(stderr.contains(&twin.to_string()), "{stderr}");
        }
        let (code, stdout, stderr) = e.cc(&["runs", "show", "dd000000-0000-4000-8000-0000000000"]);
        assert_eq!(code, 2, "still ambiguous: {stdout}{stderr}");
        let (code, stdout, stderr) = e.cc(&["runs", "show", "dd0000000000400080000000000000002"]);
        assert_eq!(code, 2, "33 digits is no id: {stdout}{stderr}");
        let (code, stdout, stderr) = e.cc(&["runs", "show", "dd00000000004000800000000000000"]);
        assert_eq!(code, 2, "{stdout}{stderr}");
        let (code, stdout, stderr) = e.cc(&["runs", "show", "dd000000000040008000000000000002"]);
        assert_eq!(code, 0, "32 digits without hyphens: {stderr}");
        assert!(stdout.contains(&twins[1].to_string()), "{stdout}");
        let (code, _, stderr) = e.cc(&["runs", "show", "dd0000001"]);
        assert_eq!(code, 3, "no run starts so: {stderr}");
        let (code, _, stderr) = e.cc(&["runs", "cancel", "xyz"]);
        assert_eq!(code, 2, "not hex: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// The console's "step failed ... attempts=N" counts the attempts
/// as the run record does, resumes included.
async fn attempts_agree(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        e.create_pair();
        let run = e.json_code(
            1,
            &[
                "runs",
                "start",
                "pair",
                "--var",
                "fail_always=true",
                "--wait",
                "--json",
            ],
        );
        let id = run["id"].as_str().expect("id").to_string();
        for _ in 0..2 {
            let resumed = e.json_code(1, &["runs", "resume", &id, "--wait", "--json"]);
            assert_eq!(resumed["status"], "Failed", "{resumed}");
        }
        // Log lines are written in batches.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let shown = e.json(&["runs", "show", &id, "--logs", "--json"]);
            let stored = shown["run"]["steps"][0]["attempts"]
                .as_u64()
                .expect("attempts");
            assert_eq!(stored, 3, "{shown}");
            let failed: Vec<String> = shown["logs"]
                .as_array()
                .expect("logs")
                .iter()
                .filter_map(|l| l["message"].as_str())
                .filter(|m| m.contains("step failed"))
                .map(str::to_string)
                .collect();
            if failed.len() == 3 {
                for (i, line) in failed.iter().enumerate() {
                    assert!(line.contains(&format!("attempts={}", i + 1)), "{failed:?}");
                }
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{shown}");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let (_, stdout, _) = e.cc(&["runs", "show", &id]);
        assert!(stdout.contains("attempts 3"), "{stdout}");
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// The status of run `id` once it is finished (waits up to 60 s).
fn finished(e: &Env, id: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let shown = e.json(&["runs", "show", id, "--json"]);
        let status = shown["run"]["status"].clone();
        if status != "Running" && status != "Pending" {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "{shown}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Requeueing a failed run's message resumes the run from that step;
/// a message whose step has succeeded since is marked so, refused, and
/// discarded with the others like it (confirmed with --yes).
async fn requeue_does_what_it_says(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        e.create_pair();
        // Requeued: the failed run goes on from the message's step.
        let run = failed_run(&e);
        let (endpoint, message_id) = fault_of(&e, &run);
        let (code, stdout, stderr) = e.cc(&["errors", "requeue", &endpoint, &message_id]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stdout.contains(&format!("resumed run {run} from step 1")),
            "{stdout}"
        );
        assert_eq!(finished(&e, &run), "Succeeded");
        let queues = e.json(&["errors", "list", "--json"]);
        assert!(
            !queues.to_string().contains(&message_id),
            "the requeued message left the error queue: {queues}"
        );

        // Settled: resumed by hand, its message stays behind, marked.
        let settled = failed_run(&e);
        let resumed = e.json(&["runs", "resume", &settled, "--wait", "--json"]);
        assert_eq!(resumed["status"], "Succeeded", "{resumed}");
        let (endpoint, settled_id) = fault_of(&e, &settled);
        let queues = e.json(&["errors", "list", "--json"]);
        let marked = queues
            .as_array()
            .expect("array")
            .iter()
            .flat_map(|q| q["messages"].as_array().cloned().unwrap_or_default())
            .find(|m| m["message_id"] == Value::String(settled_id.clone()))
            .expect("the settled message");
        assert_eq!(marked["settled"], true, "{marked}");
        let (_, stdout, _) = e.cc(&["errors", "list"]);
        assert!(stdout.contains("succeeded since"), "{stdout}");
        let (code, _, stderr) = e.cc(&["errors", "requeue", &endpoint, &settled_id]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("succeeded since"), "{stderr}");

        // One still failed: not settled, kept by the bulk discard.
        let still = failed_run(&e);
        let (_, still_id) = fault_of(&e, &still);
        let (code, _, stderr) = e.cc(&["errors", "discard", "--settled"]);
        assert_eq!(code, 2, "needs --yes: {stderr}");
        let (code, stdout, stderr) = e.cc(&["errors", "discard", "--settled", "--yes"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains(&settled_id), "{stdout}");
        let queues = e.json(&["errors", "list", "--json"]).to_string();
        assert!(!queues.contains(&settled_id), "{queues}");
        assert!(queues.contains(&still_id), "{queues}");
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// Error queues in bulk: `errors list --match` filters, `errors requeue --all`
/// and `errors discard --all` refuse without --yes (nothing touched), then act
/// on every message matched, saying each.
async fn bulk_requeue_and_discard(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        e.create_pair();
        let runs: Vec<String> = (0..3).map(|_| failed_run(&e)).collect();
        let count = |e: &Env, args: &[&str]| {
            e.json(args)
                .as_array()
                .expect("queues")
                .iter()
                .map(|q| q["messages"].as_array().map_or(0, Vec::len))
                .sum::<usize>()
        };
        assert_eq!(count(&e, &["errors", "list", "--json"]), 3);
        // A list cut short says so and how to see the rest.
        let (code, stdout, stderr) = e.cc(&["errors", "list", "--limit", "2"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stdout.contains("showing 2 of 3: --limit N shows more, --all shows every one"),
            "{stdout}"
        );
        assert_eq!(count(&e, &["errors", "list", "--limit", "2", "--json"]), 2);
        let (_, stdout, _) = e.cc(&["errors", "list", "--all"]);
        assert!(!stdout.contains("showing"), "{stdout}");
        assert!(runs.iter().all(|r| stdout.contains(r.as_str())), "{stdout}");
        let first = &runs[0][..8];
        assert_eq!(
            count(&e, &["errors", "list", "--match", first, "--json"]),
            1
        );
        for verb in ["requeue", "discard"] {
            let (code, _, stderr) = e.cc(&["errors", verb, "--all"]);
            assert_eq!(code, 2, "{verb} --all needs --yes: {stderr}");
            assert!(stderr.contains("--yes"), "{stderr}");
        }
        assert_eq!(count(&e, &["errors", "list", "--json"]), 3);

        let (code, stdout, stderr) =
            e.cc(&["errors", "requeue", "--all", "--match", first, "--yes"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("requeued 1 message(s)"), "{stdout}");
        assert!(
            stdout.contains(&format!("resumed run {} from step 1", runs[0])),
            "{stdout}"
        );
        assert_eq!(finished(&e, &runs[0]), "Succeeded");

        let (code, stdout, stderr) = e.cc(&["errors", "discard", "--all", "--yes"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("discarded 2 message(s)"), "{stdout}");
        assert_eq!(count(&e, &["errors", "list", "--json"]), 0);
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

on_both_stores!(
    error_queues_by_either_name,
    closed_pipe_is_quiet,
    short_run_ids,
    attempts_agree,
    requeue_does_what_it_says,
    bulk_requeue_and_discard
);
