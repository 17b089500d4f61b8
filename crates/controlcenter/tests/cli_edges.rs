//! The `controlcenter` binary at the edges an operator found:
//! priority shown and changed; `definitions show` names each step's undo and
//! a cycle is named; definition names outside the documented set are
//! refused; `--wait` and `watch` print every undo and the end once;
//! a cut `runs list` says so and pages on; `runs delete` and the run
//! retention of `serve`; a taken API port has an exit code of its own. Like
//! `cli.rs`, the test process hosts the consumers on RabbitMQ and the binary
//! is a separate process; every scenario runs on a SQLite file and on MongoDB.

#[path = "support/records.rs"]
mod records;

#[path = "support/cli_env.rs"]
#[macro_use]
mod cli_env;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cli_env::{in_background, Env};

/// Writes `text` to a definition file and applies it; returns (code, stdout, stderr).
fn apply(e: &Env, text: &str) -> (i32, String, String) {
    let file = std::env::temp_dir().join(format!("edges-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&file, text).expect("write the file");
    e.cc(&["definitions", "apply", "-f", &file.to_string_lossy()])
}

/// `undo`: CcPrepare (undone by CcUndo), then CcShip.
fn create_undoable(e: &Env) {
    let (code, stdout, stderr) = apply(
        e,
        "name = \"undo\"\nsteps = [{ event = \"CcPrepare\", compensate = \"CcUndo\" }, \"CcShip\"]\n",
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
}

/// The priority in every human form, and `--priority` on
/// `definitions create` and `update`.
async fn priority_is_shown_and_changed(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        let (code, _, stderr) = e.cc(&[
            "definitions",
            "create",
            "pair",
            "--steps",
            "CcPrepare,CcShip",
            "--priority",
            "3",
        ]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(
            e.json(&["definitions", "show", "pair", "--json"])["priority"],
            3
        );
        let (code, _, stderr) = e.cc(&["definitions", "update", "pair", "--priority", "5"]);
        assert_eq!(code, 0, "{stderr}");
        let (code, _, stderr) = e.cc(&["definitions", "update", "pair", "--priority", "10"]);
        assert_eq!(code, 2, "out of 0-9: {stderr}");
        let (_, shown, _) = e.cc(&["definitions", "show", "pair"]);
        assert!(shown.contains("priority 5"), "{shown}");
        let (_, listed, _) = e.cc(&["definitions", "list"]);
        assert!(listed.contains("priority 5"), "{listed}");

        let run = e.json(&["runs", "start", "pair", "--json"]);
        let id = run["id"].as_str().expect("id").to_string();
        assert_eq!(run["priority"], 5, "{run}");
        let (_, listed, _) = e.cc(&["runs", "list"]);
        assert!(
            listed
                .lines()
                .any(|l| l.starts_with(&id) && l.contains("priority 5")),
            "{listed}"
        );
        let (_, shown, _) = e.cc(&["runs", "show", &id]);
        // In the run's head (its first two lines).
        assert!(
            shown.lines().take(2).any(|l| l.contains("priority 5")),
            "{shown}"
        );
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// `definitions show` names each step's undo; a two-step cycle is
/// refused naming the cycle.
async fn undo_shown_and_cycle_named(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        create_undoable(&e);
        let (code, shown, stderr) = e.cc(&["definitions", "show", "undo"]);
        assert_eq!(code, 0, "{stderr}");
        let first = shown
            .lines()
            .find(|l| l.contains("1. CcPrepare"))
            .unwrap_or_else(|| panic!("{shown}"));
        assert!(first.contains("undone by CcUndo"), "{shown}");
        let (code, _, stderr) = apply(
            &e,
            "name = \"loop\"\nsteps = [{ event = \"CcPrepare\", after = [\"CcShip\"] }, \
             { event = \"CcShip\", after = [\"CcPrepare\"] }]\n",
        );
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains("cycle: CcPrepare -> CcShip -> CcPrepare"),
            "{stderr}"
        );
        assert!(!stderr.contains("no step can start"), "{stderr}");
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// `runs start --wait` and `runs watch` print each step and each
/// undo as it finishes, the undo before the end, and the end exactly once.
async fn undos_followed_and_the_end_once(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        create_undoable(&e);
        let (code, waited, stderr) = e.cc(&[
            "runs",
            "start",
            "undo",
            "--var",
            "fail_on=cc-ship",
            "--wait",
            "--timeout",
            "60",
        ]);
        assert_eq!(
            code, 1,
            "a compensated run did not succeed: {waited}{stderr}"
        );
        let id = waited
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("started run "))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("{waited}"))
            .to_string();
        let (watch_code, watched, _) = e.cc(&["runs", "watch", &id]);
        assert_eq!(watch_code, 1, "{watched}");
        for out in [&waited, &watched] {
            let lines: Vec<&str> = out.lines().collect();
            let undo = lines
                .iter()
                .position(|l| {
                    l.starts_with("undo  1 CcUndo")
                        && l.contains("Succeeded")
                        && l.contains("CcPrepare")
                })
                .unwrap_or_else(|| panic!("the undo as it finished:\n{out}"));
            let ends: Vec<usize> = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.starts_with("run ") && l.contains("Compensated"))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(ends.len(), 1, "the end once:\n{out}");
            assert!(undo < ends[0], "the undo before the end:\n{out}");
            assert!(
                lines[ends[0]].starts_with(&format!("run {id} Compensated in ")),
                "{out}"
            );
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with("step  2 CcShip") && l.contains("Failed")),
                "{out}"
            );
        }
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// A `runs list` cut at its limit says so on stderr and how to see
/// the rest; `--before RUN` is the next page, `--all` every run.
async fn a_cut_list_says_so(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        e.create_pair();
        for _ in 0..3 {
            e.json(&["runs", "start", "pair", "--json"]);
        }
        let (code, page, stderr) = e.cc(&["runs", "list", "--limit", "2"]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(page.lines().count(), 2, "{page}");
        assert!(
            stderr.contains("showing the newest 2 matching runs"),
            "{stderr}"
        );
        assert!(stderr.contains("--all"), "{stderr}");
        let last = page
            .lines()
            .last()
            .and_then(|l| l.split_whitespace().next())
            .expect("an id")
            .to_string();
        assert!(stderr.contains(&last), "the next page's start: {stderr}");
        let (code, next, stderr) = e.cc(&["runs", "list", "--limit", "2", "--before", &last]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(next.lines().count(), 1, "{next}");
        assert!(!stderr.contains("showing"), "the last page: {stderr}");
        let (code, all, stderr) = e.cc(&["runs", "list", "--all"]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(all.lines().count(), 3, "{all}");
        assert!(!stderr.contains("showing"), "{stderr}");
        let json = e.json(&["runs", "list", "--limit", "2", "--json"]);
        assert_eq!(json["more"], true, "{json}");
        assert_eq!(json["runs"].as_array().map(Vec::len), Some(2));
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// `runs delete` deletes finished runs with their logs, refuses a
/// running one naming it, and needs `--yes`.
async fn runs_are_deleted(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        e.create_pair();
        let done = e.json(&[
            "runs",
            "start",
            "pair",
            "--wait",
            "--timeout",
            "60",
            "--json",
        ]);
        let done = done["id"].as_str().expect("id").to_string();
        let slow = e.json(&["runs", "start", "pair", "--var", "sleep_ms=10000", "--json"]);
        let slow = slow["id"].as_str().expect("id").to_string();
        // Picked up (Running), so what the deletes below keep is named so.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while e.json(&["runs", "show", &slow, "--json"])["run"]["status"] != "Running" {
            assert!(std::time::Instant::now() < deadline, "{slow} never ran");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }

        let (code, _, stderr) = e.cc(&["runs", "delete", &done]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("needs --yes"), "{stderr}");
        let (code, stdout, stderr) = e.cc(&["runs", "delete", &done, "--yes"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains(&format!("deleted run {done}")), "{stdout}");
        let (code, _, _) = e.cc(&["runs", "show", &done]);
        assert_eq!(code, 3, "gone");
        let (code, _, stderr) = e.cc(&["runs", "delete", &slow, "--yes"]);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains(&slow) && stderr.contains("only a finished run"),
            "{stderr}"
        );

        let other = e.json(&[
            "runs",
            "start",
            "pair",
            "--wait",
            "--timeout",
            "60",
            "--json",
        ]);
        let other = other["id"].as_str().expect("id").to_string();
        let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string();
        let (code, _, stderr) = e.cc(&["runs", "delete", "--before", &tomorrow]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("needs --yes"), "{stderr}");
        let (code, _, stderr) = e.cc(&[
            "runs", "delete", "--before", &tomorrow, "--status", "running",
        ]);
        assert_eq!(code, 2, "{stderr}");
        let (code, stdout, stderr) = e.cc(&["runs", "delete", "--before", &tomorrow, "--yes"]);
        assert_eq!(code, 2, "a running run kept: {stderr}");
        assert!(stdout.contains("deleted 1 run(s)"), "{stdout}");
        assert!(
            stderr.contains(&slow) && stderr.contains("Running"),
            "{stderr}"
        );
        let (code, _, _) = e.cc(&["runs", "show", &other]);
        assert_eq!(code, 3, "the finished one went");
        let (code, _, _) = e.cc(&["runs", "show", &slow]);
        assert_eq!(code, 0, "the running one stays");
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// A child process killed when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A finished run written by hand, `age` old.
fn old_run(age: chrono::Duration, status: isoqube::RunStatus) -> isoqube::Run {
    let def = isoqube::Definition::new("pair", ["CcPrepare", "CcShip"]);
    let mut run = isoqube::Run::new(&def, isoqube::Variables::new(), "test");
    let at = chrono::Utc::now() - age;
    run.created_at = at;
    run.status = status;
    run.finished_at = status.is_finished().then_some(at);
    run
}

/// `serve` with `[store] run_retention_days` deletes the runs that
/// finished longer ago, and keeps newer ones and runs not finished.
async fn serve_deletes_runs_past_retention(env: Env) {
    use isoqube::RunStatus::{Failed, Running, Succeeded};
    let old = old_run(chrono::Duration::days(3), Succeeded);
    let old_failed = old_run(chrono::Duration::days(2), Failed);
    let old_running = old_run(chrono::Duration::days(3), Running);
    let recent = old_run(chrono::Duration::hours(1), Succeeded);
    for r in [&old, &old_failed, &old_running, &recent] {
        env.store.insert_run(r).await.expect("insert");
    }
    let child = env
        .cmd(true)
        .env("ISOQUBE_RUN_RETENTION_DAYS", "1")
        .env("ISOQUBE_API_TOKEN", "edges-token-0123456789")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve");
    // Stopped however the test ends: a failing assertion must not leave it running.
    let _serve = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let gone = |r: &isoqube::Run| {
        let store = env.store.clone();
        let id = r.id;
        async move { store.get_run(id).await.expect("get").is_none() }
    };
    while !(gone(&old).await && gone(&old_failed).await) {
        assert!(Instant::now() < deadline, "the old runs were not deleted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!gone(&recent).await, "a newer run is kept");
    assert!(!gone(&old_running).await, "a run not finished is kept");
    env.stop().await;
}

/// An API port another process holds is its own error and exit
/// code (7), not "broker or store unavailable" (4).
async fn a_taken_port_is_its_own_error(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = taken.local_addr().expect("addr").to_string();
        let (code, _, stderr) = cli_env::out(
            e.cmd(true)
                .env("ISOQUBE_API_TOKEN", "edges-token-0123456789")
                .args(["serve", "--listen", &addr])
                .output()
                .expect("serve"),
        );
        assert_eq!(code, 7, "{stderr}");
        assert!(
            stderr.contains(&addr) && stderr.contains("already in use"),
            "{stderr}"
        );
        let (_, help, _) = e.cc(&["--help"]);
        assert!(help.contains("7 serve cannot listen"), "{help}");
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// A MongoDB URL naming a closed port or a host that does not
/// resolve is one line naming the store and the cause (not what the store
/// was doing), within `--connect-timeout` and a margin, exit 4.
#[test]
fn an_unreachable_store_says_why_in_time() {
    for (url, hosts, cause) in [
        (
            "mongodb://127.0.0.1:1",
            "127.0.0.1:1",
            "(connection refused)",
        ),
        (
            "mongodb://nonexistent.invalid:27017",
            "nonexistent.invalid:27017",
            "cannot resolve host nonexistent.invalid",
        ),
    ] {
        let at = Instant::now();
        let (code, stdout, stderr) = cli_env::out(
            std::process::Command::new(env!("CARGO_BIN_EXE_controlcenter"))
                .env_remove("ISOQUBE_AMQP_URL")
                .env_remove("ISOQUBE_STORE_PATH")
                .env("ISOQUBE_MONGO_URL", url)
                .args(["--connect-timeout", "1", "runs", "list"])
                .output()
                .expect("run controlcenter"),
        );
        let took = at.elapsed();
        assert_eq!(code, 4, "{url}: {stderr}");
        assert_eq!(stdout, "");
        assert!(
            took < Duration::from_secs(3),
            "{url}: answered after {took:?} with --connect-timeout 1"
        );
        let want = format!("MongoDB at {hosts} is unreachable");
        assert!(stderr.contains(&want), "{want:?} in {stderr}");
        assert!(stderr.contains(cause), "{cause:?} in {stderr}");
        for internal in ["index", "list runs", "Topology", "no answer"] {
            assert!(!stderr.contains(internal), "{internal:?} in {stderr}");
        }
    }
}

/// Definition names outside the documented set are refused (exit 2, saying
/// the rule) by `create` and by `apply -f`; nothing is written.
async fn definition_names(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        for bad in ["two words", "_x", "caf\u{e9}"] {
            let (code, _, stderr) = e.cc(&["definitions", "create", bad, "--steps", "CcPrepare"]);
            assert_eq!(code, 2, "{stderr}");
            assert!(stderr.contains("ASCII letters, digits"), "{stderr}");
        }
        let dir = std::env::temp_dir().join(format!("isoqube-cc-names-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("bad.toml");
        std::fs::write(&file, "name = \"no/slash\"\nsteps = [\"CcPrepare\"]\n").expect("write");
        let (code, _, stderr) = e.cc(&["definitions", "apply", "-f", file.to_str().expect("path")]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("ASCII letters, digits"), "{stderr}");
        let listed = e.json(&["definitions", "list", "--json"]);
        assert_eq!(listed.as_array().map(Vec::len), Some(0), "{listed}");
        let (code, _, stderr) = e.cc(&[
            "definitions",
            "create",
            "ok.name_1-x",
            "--steps",
            "CcPrepare",
        ]);
        assert_eq!(code, 0, "{stderr}");
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

on_both_stores!(
    priority_is_shown_and_changed,
    undo_shown_and_cycle_named,
    undos_followed_and_the_end_once,
    a_cut_list_says_so,
    runs_are_deleted,
    serve_deletes_runs_past_retention,
    a_taken_port_is_its_own_error,
    definition_names
);
