//! The `controlcenter` binary against a store and a broker, as a script would
//! use it: output, `--json`, exit codes, bad input. The test process hosts the
//! consumers (an isoqube service on RabbitMQ); the binary is a separate process,
//! so it reaches them through the broker. Every scenario runs on both stores a
//! deployment can use: a SQLite file and MongoDB (SecantusDB in tests).
//! RabbitMQ and the MongoDB-wire server must be reachable: the tests fail, not
//! skip, when they are not.

#[path = "support/records.rs"]
mod records;

#[path = "support/cli_env.rs"]
#[macro_use]
mod cli_env;

use std::process::Command;
use std::sync::Arc;

use cli_env::{in_background, out, Env};
use isoqube::testing::mongo_url;
use serde_json::Value;

/// Definitions: create, duplicate, unknown event, malformed variable, show,
/// update, delete with and without confirmation.
async fn definitions(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        let (code, stdout, stderr) = e.cc(&[
            "definitions",
            "create",
            "ship-it",
            "--steps",
            "CcPrepare,CcShip",
            "--description",
            "prepare then ship",
            "--var",
            "region=\"eu\"",
        ]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("created definition ship-it"), "{stdout}");

        let (code, _, stderr) = e.cc(&["definitions", "create", "ship-it", "--steps", "CcShip"]);
        assert_eq!(code, 2, "duplicate name: {stderr}");
        assert!(stderr.contains("already exists"), "{stderr}");

        let (code, _, stderr) = e.cc(&[
            "definitions",
            "create",
            "bad",
            "--steps",
            "CcPrepare,NoSuchEvent",
        ]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("unknown event 'NoSuchEvent'"), "{stderr}");

        let (code, _, stderr) = e.cc(&[
            "definitions",
            "create",
            "bad",
            "--steps",
            "CcShip",
            "--var",
            "novalue",
        ]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("KEY=VALUE"), "{stderr}");

        let (code, _, stderr) = e.cc(&["definitions", "show", "bad"]);
        assert_eq!(code, 3, "refused definitions are not written: {stderr}");

        let shown = e.json(&["definitions", "show", "ship-it", "--json"]);
        assert_eq!(shown["steps"], serde_json::json!(["CcPrepare", "CcShip"]));
        assert_eq!(shown["variables"]["region"], "eu");

        let (code, _, stderr) = e.cc(&[
            "definitions",
            "update",
            "ship-it",
            "--steps",
            "CcShip",
            "--unset",
            "region",
        ]);
        assert_eq!(code, 0, "{stderr}");
        let list = e.json(&["definitions", "list", "--json"]);
        let list = list.as_array().expect("array");
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["steps"], serde_json::json!(["CcShip"]));
        assert!(list[0]["variables"].get("region").is_none());

        // Schedules and a webhook: shown with the next due time, secret hidden.
        let (code, _, stderr) = e.cc(&[
            "definitions",
            "update",
            "ship-it",
            "--schedule",
            "nightly=cron:0 2 * * *@Europe/Paris;missed=run-once",
            "--schedule",
            "often=every:300",
            "--webhook-id",
            "ship-it-hook",
            "--webhook-secret",
            "0123456789abcdef-secret",
        ]);
        assert_eq!(code, 0, "{stderr}");
        let (code, stdout, _) = e.cc(&["definitions", "show", "ship-it"]);
        assert_eq!(code, 0);
        assert!(
            stdout.contains(
                "schedule nightly: cron '0 2 * * *' (Europe/Paris), missed: run once; next 20"
            ),
            "{stdout}"
        );
        assert!(
            stdout.contains("schedule often: every 300s; next"),
            "{stdout}"
        );
        assert!(
            stdout.contains("webhook POST /hooks/ship-it-hook"),
            "{stdout}"
        );
        let shown = e.json(&["definitions", "show", "ship-it", "--json"]);
        assert_eq!(shown["webhook"]["secret"], "***", "{shown}");
        assert_eq!(
            shown["next_due"].as_array().map(Vec::len),
            Some(2),
            "{shown}"
        );
        for (spec, expected) in [
            ("x=every:soon", "whole seconds"),
            ("x=cron:61 * * * *", "minute"),
            ("x=cron:0 * * * *@Mars/Olympus", "Mars/Olympus"),
            ("x", "ID=KIND:VALUE"),
        ] {
            let (code, _, stderr) = e.cc(&["definitions", "update", "ship-it", "--schedule", spec]);
            assert_eq!(code, 2, "{spec}: {stderr}");
            assert!(stderr.contains(expected), "{spec}: {stderr}");
        }
        let (code, _, _) = e.cc(&[
            "definitions",
            "update",
            "ship-it",
            "--remove-schedule",
            "nope",
        ]);
        assert_eq!(code, 3);
        let (code, _, stderr) = e.cc(&[
            "definitions",
            "update",
            "ship-it",
            "--remove-schedule",
            "often",
            "--remove-webhook",
        ]);
        assert_eq!(code, 0, "{stderr}");
        let shown = e.json(&["definitions", "show", "ship-it", "--json"]);
        assert_eq!(
            shown["schedules"].as_array().map(Vec::len),
            Some(1),
            "{shown}"
        );
        assert!(shown.get("webhook").is_none(), "{shown}");

        let (code, _, stderr) = e.cc(&["definitions", "delete", "ship-it"]);
        assert_eq!(code, 2, "delete needs --yes: {stderr}");
        let (code, _, stderr) = e.cc(&["definitions", "delete", "ship-it", "--yes"]);
        assert_eq!(code, 0, "{stderr}");
        let (code, _, _) = e.cc(&["definitions", "delete", "ship-it", "--yes"]);
        assert_eq!(code, 3);
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// Runs: start --wait (exit 0 / 1), list, show with logs, watch, re-run,
/// resume a failed run, cancel a running one, and the error queue.
async fn runs(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        e.create_pair();

        let run = e.json(&[
            "runs",
            "start",
            "pair",
            "--wait",
            "--timeout",
            "60",
            "--json",
        ]);
        assert_eq!(run["status"], "Succeeded", "{run}");
        let id = run["id"].as_str().expect("id").to_string();

        let (code, stdout, _) = e.cc(&["runs", "show", &id, "--logs"]);
        assert_eq!(code, 0);
        assert!(stdout.contains("Succeeded"), "{stdout}");
        assert!(stdout.contains("cc-ship done"), "logs are shown: {stdout}");

        let (code, stdout, _) = e.cc(&["runs", "watch", &id]);
        assert_eq!(code, 0, "{stdout}");
        assert!(stdout.contains(&format!("run {id} Succeeded")), "{stdout}");

        let rerun = e.json(&["runs", "rerun", &id, "--wait", "--json"]);
        assert_eq!(rerun["status"], "Succeeded");
        assert_eq!(rerun["rerun_of"], Value::String(id.clone()), "{rerun}");

        // A failing run: --wait exits 1; resume continues it to success.
        let (code, stdout, _) = e.cc(&[
            "runs",
            "start",
            "pair",
            "--var",
            "fail_first=true",
            "--wait",
            "--timeout",
            "60",
        ]);
        assert_eq!(code, 1, "{stdout}");
        assert!(stdout.contains("Failed"), "{stdout}");
        let failed = e.json(&["runs", "list", "--status", "failed", "--json"]);
        let failed_id = failed["runs"][0]["id"]
            .as_str()
            .expect("a failed run")
            .to_string();
        let resumed = e.json(&["runs", "resume", &failed_id, "--wait", "--json"]);
        assert_eq!(resumed["status"], "Succeeded", "{resumed}");

        // The failed attempt's message is in the error queue; discard it.
        let queues = e.json(&["errors", "list", "--json"]);
        let faults: Vec<Value> = queues
            .as_array()
            .expect("array")
            .iter()
            .flat_map(|q| q["messages"].as_array().cloned().unwrap_or_default())
            .collect();
        let fault = faults
            .iter()
            .find(|m| m["run_id"] == Value::String(failed_id.clone()))
            .unwrap_or_else(|| panic!("no fault for {failed_id}: {queues}"));
        assert!(
            fault["reason"]
                .as_str()
                .unwrap_or("")
                .contains("on purpose"),
            "{fault}"
        );
        let endpoint = fault["endpoint"].as_str().expect("endpoint").to_string();
        let message_id = fault["message_id"].as_str().expect("id").to_string();
        let (code, _, stderr) = e.cc(&["errors", "discard", &endpoint, &message_id]);
        assert_eq!(code, 0, "{stderr}");
        let (code, _, _) = e.cc(&["errors", "discard", &endpoint, &message_id]);
        assert_eq!(code, 3, "already gone");

        // Cancel a running run; cancelling it again is refused.
        let slow = e.json(&["runs", "start", "pair", "--var", "sleep_ms=3000", "--json"]);
        let slow_id = slow["id"].as_str().expect("id").to_string();
        let (code, _, stderr) = e.cc(&["runs", "cancel", &slow_id]);
        assert_eq!(code, 0, "{stderr}");
        let (code, _, stderr) = e.cc(&["runs", "cancel", &slow_id]);
        assert_eq!(code, 2, "{stderr}");
        let (code, _, _) = e.cc(&["runs", "watch", &slow_id]);
        assert_eq!(code, 1, "a cancelled run watches as not succeeded");

        let all = e.json(&["runs", "list", "--json"]);
        assert_eq!(all["runs"].as_array().map(Vec::len), Some(4), "{all}");
        assert_eq!(all["corrupt"], serde_json::json!([]), "{all}");
        assert_eq!(all["stuck"], serde_json::json!([]), "{all}");

        // Bad input.
        let (code, _, stderr) = e.cc(&["runs", "start", "no-such-def"]);
        assert_eq!(code, 3, "{stderr}");
        assert!(stderr.contains("no-such-def"), "{stderr}");
        let (code, _, stderr) = e.cc(&["runs", "start", "pair", "--var", "=1"]);
        assert_eq!(code, 2, "{stderr}");
        let (code, _, stderr) = e.cc(&["runs", "show", "not-a-uuid"]);
        assert_eq!(code, 2, "{stderr}");
        let (code, _, _) = e.cc(&["runs", "show", &uuid::Uuid::new_v4().to_string()]);
        assert_eq!(code, 3);
        let (code, _, stderr) = e.cc(&["runs", "list", "--status", "Sleeping"]);
        assert_eq!(code, 2, "{stderr}");

        // Events and services the test process registered.
        let events = e.json(&["events", "--json"]);
        assert!(
            events
                .as_array()
                .expect("array")
                .iter()
                .any(|ev| ev["name"] == "CcShip" && ev["consumers"][0]["services"][0] == "cc-test"),
            "{events}"
        );
        let services = e.json(&["services", "--json"]);
        assert!(
            services
                .as_array()
                .expect("array")
                .iter()
                .any(|s| s["name"] == "cc-test" && s["alive"] == true),
            "{services}"
        );
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// Without a broker, reading works and starting work is refused with nothing written.
async fn without_a_broker(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        e.create_pair();
        let (code, _, stderr) = out(e
            .cmd(false)
            .args(["runs", "start", "pair"])
            .output()
            .expect("run"));
        assert_eq!(code, 4, "{stderr}");
        assert!(stderr.contains("no broker configured"), "{stderr}");
        let (code, stdout, _) = out(e
            .cmd(false)
            .args(["runs", "list", "--json"])
            .output()
            .expect("run"));
        assert_eq!(code, 0);
        assert_eq!(
            serde_json::from_str::<Value>(&stdout).ok(),
            Some(serde_json::json!({"runs": [], "stuck": [], "corrupt": [], "more": false})),
            "nothing written"
        );
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// A run document that does not parse is skipped by `runs list` and named
/// (stderr, `--json`), and `runs show` of it exits 6 naming it; stuck runs
/// are marked in the list and `--stuck` lists only them, with their handler
/// and since when, under the bound of `--stuck-after` or the configuration.
async fn corrupt_and_stuck(env: Env) {
    let corrupt = uuid::Uuid::new_v4();
    env.store_args.write_corrupt_run(corrupt).await;
    let live_instance = env
        .service
        .as_ref()
        .map(|s| s.instance_id().to_string())
        .expect("service");
    let runs = records::stuck_runs(
        env.store.as_ref(),
        "pair",
        ["CcPrepare", "CcShip"],
        "cc-prepare",
        &live_instance,
    )
    .await;
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        let (gone, silent, live) = (
            runs.gone.id.to_string(),
            runs.silent.id.to_string(),
            runs.live.id.to_string(),
        );
        let corrupt = corrupt.to_string();
        let line_of = |stdout: &str, id: &str| {
            stdout
                .lines()
                .find(|l| l.starts_with(id))
                .unwrap_or_else(|| panic!("no line for {id}: {stdout}"))
                .to_string()
        };

        // The list shows the good runs, the stuck ones marked, and names the
        // corrupt record on stderr.
        let (code, stdout, stderr) = e.cc(&["runs", "list"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(line_of(&stdout, &gone).ends_with("STUCK"), "{stdout}");
        assert!(line_of(&stdout, &silent).ends_with("STUCK"), "{stdout}");
        assert!(!line_of(&stdout, &live).contains("STUCK"), "{stdout}");
        assert!(!stdout.contains(&corrupt), "{stdout}");
        assert!(
            stderr.contains(&format!("skipped 1 corrupt run record(s): {corrupt}")),
            "{stderr}"
        );
        let all = e.json(&["runs", "list", "--json"]);
        assert_eq!(all["runs"].as_array().map(Vec::len), Some(3), "{all}");
        assert_eq!(all["corrupt"][0]["id"], corrupt.as_str(), "{all}");
        assert!(
            all["corrupt"][0]["reason"]
                .as_str()
                .is_some_and(|r| r.contains("does not parse")),
            "{all}"
        );
        let mut stuck_ids: Vec<&str> = all["stuck"]
            .as_array()
            .expect("stuck")
            .iter()
            .filter_map(|s| s["run_id"].as_str())
            .collect();
        stuck_ids.sort_unstable();
        let mut expected = vec![gone.as_str(), silent.as_str()];
        expected.sort_unstable();
        assert_eq!(stuck_ids, expected, "{all}");

        // `--stuck`: only the stuck runs, each with its step, handler and since when.
        let (code, stdout, stderr) = e.cc(&["runs", "list", "--stuck"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(!stdout.contains(&live), "{stdout}");
        assert!(
            stdout.contains(&format!(
                "step 1 (CcPrepare) stuck: cc-prepare on {}, no sign of life for 20m",
                runs.gone_instance
            )),
            "{stdout}"
        );
        assert!(
            stdout.contains("handler's service instance is gone"),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!(
                "cc-prepare on {}, no sign of life for 15m (since {})",
                runs.silent_instance,
                runs.silent_since.format("%Y-%m-%d %H:%M:%S UTC")
            )),
            "{stdout}"
        );
        assert!(stdout.contains("sends no heartbeat"), "{stdout}");
        // The running corrupt record cannot be judged: it is named.
        assert!(stderr.contains(&corrupt), "{stderr}");
        let stuck = e.json(&["runs", "list", "--stuck", "--json"]);
        assert_eq!(stuck["runs"].as_array().map(Vec::len), Some(2), "{stuck}");
        let of = |id: &str| {
            stuck["stuck"]
                .as_array()
                .and_then(|a| a.iter().find(|s| s["run_id"] == id))
                .cloned()
                .unwrap_or_else(|| panic!("{id} is stuck: {stuck}"))
        };
        assert_eq!(of(&gone)["reason"], "handler_gone");
        assert_eq!(of(&gone)["instance"], runs.gone_instance.as_str());
        assert_eq!(of(&gone)["endpoint"], "cc-prepare");
        assert_eq!(of(&gone)["step"], 0);
        assert_eq!(of(&silent)["reason"], "handler_silent");
        assert_eq!(stuck["corrupt"][0]["id"], corrupt.as_str(), "{stuck}");
        // Only a definition's runs.
        let none = e.json(&["runs", "list", "--stuck", "--definition", "other", "--json"]);
        assert_eq!(none["runs"], serde_json::json!([]), "{none}");

        // A longer bound: nothing is stuck yet, by flag or by configuration.
        let (code, stdout, _) = e.cc(&["--stuck-after", "7200", "runs", "list", "--stuck"]);
        assert_eq!(code, 0);
        assert!(stdout.contains("no stuck runs"), "{stdout}");
        assert!(stdout.contains("7200s"), "{stdout}");
        let (code, stdout, _) = out(e
            .cmd(true)
            .env("ISOQUBE_STUCK_AFTER_SECS", "7200")
            .args(["runs", "list"])
            .output()
            .expect("run"));
        assert_eq!(code, 0);
        assert!(!stdout.contains("STUCK"), "{stdout}");
        // The flag wins over the variable; 0 is refused either way.
        let (code, stdout, _) = out(e
            .cmd(true)
            .env("ISOQUBE_STUCK_AFTER_SECS", "7200")
            .args(["--stuck-after", "60", "runs", "list", "--stuck"])
            .output()
            .expect("run"));
        assert_eq!(code, 0);
        assert!(stdout.contains(&gone), "{stdout}");
        let (code, _, stderr) = e.cc(&["--stuck-after", "0", "runs", "list"]);
        assert_eq!(code, 2, "{stderr}");
        let (code, _, stderr) = out(e
            .cmd(true)
            .env("ISOQUBE_STUCK_AFTER_SECS", "0")
            .args(["runs", "list"])
            .output()
            .expect("run"));
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("ISOQUBE_STUCK_AFTER_SECS"), "{stderr}");
        let (code, _, stderr) = e.cc(&["runs", "list", "--stuck", "--status", "running"]);
        assert_eq!(code, 2, "{stderr}");
        let (code, stdout, _) = e.cc(&["--stuck-after", "90", "config", "show"]);
        assert_eq!(code, 0);
        assert!(
            stdout.contains("[controlcenter]\nstuck_after_secs = 90"),
            "{stdout}"
        );

        // `show` of the corrupt record: exit 6 (not 4), naming it.
        for args in [
            vec!["runs", "show", &corrupt],
            vec!["runs", "show", &corrupt, "--json"],
        ] {
            let (code, stdout, stderr) = e.cc(&args);
            assert_eq!(code, 6, "{args:?}: {stdout}{stderr}");
            assert!(stderr.contains(&corrupt), "{stderr}");
            assert!(stderr.contains("corrupt"), "{stderr}");
        }
        let (code, _, stderr) = e.cc(&["runs", "cancel", &corrupt]);
        assert_eq!(code, 6, "{stderr}");
        let (code, stdout, _) = e.cc(&["runs", "show", &gone]);
        assert_eq!(code, 0, "{stdout}");
        let (_, stdout, _) = e.cc(&["--help"]);
        assert!(stdout.contains("6 a stored record is corrupt"), "{stdout}");
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// Definitions as files: `apply -f` (TOML and JSON; dry run, create, no
/// change, update; a bad graph refused with nothing written) and `export`
/// (which `apply` reads back); a graph definition applied so runs.
async fn definition_files(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        let dir = std::env::temp_dir().join(format!("isoqube-cc-files-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let toml_file = dir.join("graph.toml");
        std::fs::write(
            &toml_file,
            r#"name = "graph"
description = "two starts and a join"
steps = [
  { event = "CcPrepare", after = [] },
  { name = "ship", event = "CcShip", after = [] },
  { name = "again", event = "CcPrepare", after = ["CcPrepare", "ship"], timeout = 30 },
]
"#,
        )
        .expect("write");
        let path = toml_file.to_str().expect("utf-8 path");
        let (code, stdout, stderr) = e.cc(&["definitions", "apply", "-f", path, "--dry-run"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("definition graph would be created"), "{stdout}");
        let (code, _, _) = e.cc(&["definitions", "show", "graph"]);
        assert_eq!(code, 3, "a dry run writes nothing");
        let (code, stdout, stderr) = e.cc(&["definitions", "apply", "-f", path]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("definition graph created"), "{stdout}");
        let (code, stdout, _) = e.cc(&["definitions", "apply", "-f", path]);
        assert_eq!(code, 0);
        assert!(stdout.contains("definition graph unchanged"), "{stdout}");
        let (code, shown, _) = e.cc(&["definitions", "show", "graph"]);
        assert_eq!(code, 0);
        assert!(shown.contains("again=CcPrepare, after CcPrepare, ship, timeout 30s"), "{shown}");
        // export writes what apply reads: change one field and apply it as JSON
        let (code, exported, stderr) = e.cc(&["definitions", "export", "graph", "--format", "json"]);
        assert_eq!(code, 0, "{stderr}");
        let mut doc: Value = serde_json::from_str(&exported).expect("JSON export");
        doc["description"] = Value::String("changed".into());
        let json_file = dir.join("graph.json");
        std::fs::write(&json_file, doc.to_string()).expect("write");
        let applied = e.json(&["definitions", "apply", "-f", json_file.to_str().expect("path"), "--json"]);
        assert_eq!(applied["action"], "update");
        assert_eq!(applied["changed"], serde_json::json!(["description"]));
        let (code, exported_toml, _) = e.cc(&["definitions", "export", "graph"]);
        assert_eq!(code, 0);
        assert!(exported_toml.contains("description = \"changed\""), "{exported_toml}");
        // a cycle is refused, naming it; the stored definition is untouched
        let bad = dir.join("bad.toml");
        std::fs::write(
            &bad,
            "name = \"graph\"\nsteps = [{ event = \"CcPrepare\", after = [] }, { name = \"x\", event = \"CcShip\", after = [\"y\"] }, { name = \"y\", event = \"CcShip\", after = [\"x\"] }]\n",
        )
        .expect("write");
        let (code, _, stderr) = e.cc(&["definitions", "apply", "-f", bad.to_str().expect("path")]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("cycle: x -> y -> x"), "{stderr}");
        let stored = e.json(&["definitions", "show", "graph", "--json"]);
        assert_eq!(stored["description"], "changed");
        let (code, _, stderr) = e.cc(&["definitions", "apply", "-f", dir.join("x.yaml").to_str().expect("path")]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("--format"), "{stderr}");
        // the graph runs: both starts, then the join
        let run = e.json(&["runs", "start", "graph", "--wait", "--timeout", "60", "--json"]);
        assert_eq!(run["status"], "Succeeded", "{run}");
        let id = run["id"].as_str().expect("id");
        let (code, shown, _) = e.cc(&["runs", "show", id]);
        assert_eq!(code, 0);
        assert!(shown.contains("(at the start)"), "{shown}");
        let join = shown.lines().find(|l| l.contains("again")).unwrap_or_default();
        assert!(join.contains("(after 1, 2)"), "the join's line says what it waited for: {shown}");
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

on_both_stores!(
    definitions,
    runs,
    without_a_broker,
    corrupt_and_stuck,
    definition_files
);

#[test]
fn unreachable_broker_or_store_is_a_clear_error() {
    let store =
        std::env::temp_dir().join(format!("isoqube-cc-unreach-{}.db", uuid::Uuid::new_v4()));
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--amqp-url".into(),
                "amqp://guest:secret@127.0.0.1:1/%2f".into(),
                "--mongo-url".into(),
                mongo_url(),
                "runs".into(),
                "list".into(),
            ],
            "RabbitMQ at 127.0.0.1:1 is unreachable",
        ),
        (
            vec![
                "--mongo-url".into(),
                "mongodb://user:secret@127.0.0.1:1".into(),
                "--connect-timeout".into(),
                "1".into(),
                "runs".into(),
                "list".into(),
            ],
            "127.0.0.1:1",
        ),
        (
            vec![
                "--store".into(),
                store.display().to_string(),
                "runs".into(),
                "list".into(),
            ],
            "does not exist",
        ),
    ];
    for (args, expected) in cases {
        let o = Command::new(env!("CARGO_BIN_EXE_controlcenter"))
            .env_remove("ISOQUBE_AMQP_URL")
            .env_remove("ISOQUBE_MONGO_URL")
            .args(&args)
            .output()
            .expect("run");
        let (code, _, stderr) = out(o);
        assert_eq!(code, 4, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("secret"), "credentials leaked: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    }
}
