//! The `controlcenter` binary: what operators reach for first (issue 19).
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

/// An unreachable broker or MongoDB is one line naming it by its address
/// (no credentials, no driver dump); the driver's detail is at debug level.
async fn unreachable_is_one_line(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        let broker = cli_env::out(
            e.cmd(false)
                .args(["--amqp-url", "amqp://guest:secret@127.0.0.1:1/%2f"])
                .args(["--connect-timeout", "1", "runs", "list"])
                .output()
                .expect("run"),
        );
        let store = cli_env::out(
            e.cmd(true)
                .env_remove("ISOQUBE_STORE_PATH")
                .args([
                    "--mongo-url",
                    "mongodb://user:secret@127.0.0.1:1/?appName=x",
                ])
                .args(["--connect-timeout", "1", "runs", "list"])
                .output()
                .expect("run"),
        );
        for ((code, stdout, stderr), needle) in [
            (broker, "RabbitMQ at 127.0.0.1:1 is unreachable"),
            (store, "MongoDB at 127.0.0.1:1 is unreachable"),
        ] {
            assert_eq!(code, 4, "{stderr}");
            assert_eq!(stdout, "", "{stdout}");
            assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
            assert!(stderr.contains(needle), "{needle:?} in {stderr}");
            for leak in ["secret", "guest", "user", "Topology", "os error"] {
                assert!(!stderr.contains(leak), "{leak:?} in {stderr}");
            }
        }
        // The detail is at debug level.
        let (_, _, stderr) = cli_env::out(
            e.cmd(true)
                .env("ISOQUBE_LOG", "debug")
                .args(["--mongo-url", "mongodb://user:secret@127.0.0.1:1"])
                .args(["--connect-timeout", "1", "runs", "list"])
                .output()
                .expect("run"),
        );
        assert!(stderr.contains("Server selection timeout"), "{stderr}");
        assert!(!stderr.contains("secret"), "{stderr}");
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

on_both_stores!(changed_variables, unreachable_is_one_line);
