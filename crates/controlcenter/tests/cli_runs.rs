//! The `controlcenter` binary's runs: started with a priority or `--wait`
//! (each step streamed as it finishes), searched, and resumed or re-run
//! with changed variables.
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

/// `runs resume ID --var K=V` and `runs rerun ID --var K=V`: the variables
/// are merged over the run's variables (resume) or the old parameters
/// (rerun), so a run that failed on a wrong value goes on with the right one.
async fn changed_variables(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        e.create_pair();
        let failed = e.json_code(
            1,
            &[
                "runs",
                "start",
                "pair",
                "--var",
                "fail_always=true",
                "--var",
                "who=first",
                "--wait",
                "--json",
            ],
        );
        let id = failed["id"].as_str().expect("id").to_string();

        let again = e.json(&[
            "runs",
            "rerun",
            &id,
            "--var",
            "fail_always=false",
            "--wait",
            "--json",
        ]);
        assert_eq!(again["status"], "Succeeded", "{again}");
        assert_eq!(again["params"]["fail_always"], false, "{again}");
        assert_eq!(again["params"]["who"], "first", "{again}");
        assert_eq!(again["rerun_of"], failed["id"], "{again}");

        let (code, _, stderr) = e.cc(&["runs", "resume", &id, "--var", "novalue"]);
        assert_eq!(code, 2, "{stderr}");
        let resumed = e.json(&[
            "runs",
            "resume",
            &id,
            "--var",
            "fail_always=false",
            "--wait",
            "--json",
        ]);
        assert_eq!(resumed["status"], "Succeeded", "{resumed}");
        assert_eq!(resumed["variables"]["fail_always"], false, "{resumed}");
        assert_eq!(resumed["variables"]["who"], "first", "{resumed}");
        assert_eq!(resumed["params"]["fail_always"], true, "{resumed}");
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// `runs list` searched by id prefix, variable value, status and log text;
/// the lines show the duration and the failed step (numbered from 1).
async fn runs_search(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        e.create_pair();
        let ok = e.json(&[
            "runs", "start", "pair", "--var", "who=ann", "--var", "ver=1.10", "--wait", "--json",
        ]);
        let bad = e.json_code(
            1,
            &[
                "runs",
                "start",
                "pair",
                "--var",
                "who=bob",
                "--var",
                "fail_always=true",
                "--wait",
                "--json",
            ],
        );
        let (ok, bad) = (
            ok["id"].as_str().expect("id").to_string(),
            bad["id"].as_str().expect("id").to_string(),
        );
        let found = |args: &[&str]| -> Vec<String> {
            let mut all = vec!["runs", "list", "--json"];
            all.extend_from_slice(args);
            let page = e.json(&all);
            let mut ids: Vec<String> = page["runs"]
                .as_array()
                .expect("runs")
                .iter()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(found(&["--var", "who=ann"]), vec![ok.clone()]);
        assert_eq!(
            found(&["--var", "who=ann", "--var", "ver=1.10"]),
            vec![ok.clone()]
        );
        assert_eq!(found(&["--var", "fail_always=true"]), vec![bad.clone()]);
        assert_eq!(
            found(&["--var", "who=ann", "--status", "Failed"]),
            Vec::<String>::new()
        );
        assert_eq!(found(&["--id", &ok[..8]]), vec![ok.clone()]);
        assert_eq!(
            found(&["--id", &bad[..4].to_uppercase(), "--definition", "pair"]),
            vec![bad.clone()]
        );
        // The consumers log "<endpoint> done" when they succeed; log lines
        // are written in batches, so give them a moment.
        let mut by_log = Vec::new();
        for _ in 0..50 {
            by_log = found(&["--log-text", "CC-SHIP DONE"]);
            if !by_log.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert_eq!(by_log, vec![ok.clone()]);
        // The human list: duration and the failed step, numbered from 1.
        let (code, stdout, stderr) = e.cc(&["runs", "list", "--var", "who=bob"]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        assert!(stdout.contains("failed at step 1 CcPrepare"), "{stdout}");
        assert!(stdout.contains(" took "), "{stdout}");
        let (_, stdout, _) = e.cc(&["runs", "list", "--var", "who=ann"]);
        assert!(!stdout.contains("failed at"), "{stdout}");
        for bad_args in [
            &["--var", "novalue"][..],
            &["--id", "xyz"][..],
            &["--var", "=1"][..],
        ] {
            let mut all = vec!["runs", "list"];
            all.extend_from_slice(bad_args);
            let (code, stdout, stderr) = e.cc(&all);
            assert_eq!(code, 2, "{bad_args:?}: {stderr}");
            assert_eq!(stdout, "", "{stdout}");
        }
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// `runs start --wait` prints the run id at once, then each step as it
/// finishes (number, event, status, duration), and exits with the run's
/// outcome (0 succeeded, 1 failed).
async fn start_wait_streams(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        use std::io::BufRead;
        e.create_pair();
        let mut child = e
            .cmd(true)
            .args(["runs", "start", "pair", "--var", "sleep_ms=1500", "--wait"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start");
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().expect("a first line").expect("read");
        assert!(first.starts_with("started run "), "{first}");
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "the id comes before the run ends"
        );
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let code = child.wait().expect("wait").code();
        assert_eq!(code, Some(0), "{rest:?}");
        assert!(
            rest[0].starts_with("step  1 CcPrepare") && rest[0].contains("Succeeded"),
            "{rest:?}"
        );
        assert!(rest[0].trim_end().ends_with('s'), "a duration: {rest:?}");
        assert!(
            rest[1].starts_with("step  2 CcShip") && rest[1].contains("Succeeded"),
            "{rest:?}"
        );
        assert!(
            rest[2].starts_with("run ") && rest[2].contains("Succeeded in "),
            "{rest:?}"
        );

        let (code, stdout, _) = e.cc(&[
            "runs",
            "start",
            "pair",
            "--var",
            "fail_always=true",
            "--wait",
        ]);
        assert_eq!(code, 1, "{stdout}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert!(
            lines[1].starts_with("step  1 CcPrepare") && lines[1].contains("Failed"),
            "{stdout}"
        );
        assert!(lines[1].contains("fails on purpose"), "the error: {stdout}");
        assert!(stdout.contains(" Failed in "), "{stdout}");
        assert!(
            lines[2].starts_with("step  2 CcShip") && lines[2].contains("Skipped"),
            "{stdout}"
        );
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// `runs start --priority` sets the run's priority over the
/// definition's; out of 0-9 is a usage error and starts nothing.
async fn start_priority(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        e.create_pair();
        let run = e.json(&["runs", "start", "pair", "--priority", "7", "--json"]);
        assert_eq!(run["priority"], 7, "{run}");
        let plain = e.json(&["runs", "start", "pair", "--json"]);
        assert_eq!(plain["priority"], 0, "the definition's: {plain}");
        let (code, _, stderr) = e.cc(&["runs", "start", "pair", "--priority", "10"]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("--priority"), "{stderr}");
        let listed = e.json(&["runs", "list", "--json"]);
        let n = listed["runs"].as_array().map_or(0, Vec::len);
        assert_eq!(n, 2, "the refused start wrote nothing: {listed}");
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

on_both_stores!(
    start_priority,
    changed_variables,
    runs_search,
    start_wait_streams
);
