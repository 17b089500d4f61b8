//! What the `controlcenter` binary shows an operator: `runs show` of a
//! running step names its handler and how long it has run, and marks a
//! stuck one; `services` says when each instance was last seen and which are
//! late; a refused broker login, and an unreachable broker or store, is one
//! line. Like
//! `cli.rs`, the test process hosts the consumers on RabbitMQ and the binary
//! is a separate process; every scenario runs on a SQLite file and on MongoDB.

#[path = "support/records.rs"]
mod records;

#[path = "support/cli_env.rs"]
#[macro_use]
mod cli_env;

use std::sync::Arc;

use chrono::{Duration, Utc};
use cli_env::{in_background, out, Env};
use isoqube::testing::amqp_url;
use isoqube::ServiceRecord;

/// The line of `stdout` for step `n` (numbered from 1).
#[track_caller]
fn step_line(stdout: &str, n: usize) -> String {
    let start = format!("{n:>4}. ");
    stdout
        .lines()
        .find(|l| l.starts_with(&start))
        .unwrap_or_else(|| panic!("no line for step {n}: {stdout}"))
        .to_string()
}

/// A running step shows how long it has run, on which endpoint and
/// instance; a stuck one is marked on the run and beneath the step, in the
/// text and in `--json`.
async fn show_names_the_running_handler_and_marks_stuck(env: Env) {
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
        // Gone: stuck, with its handler, and for how long it has run.
        let (code, stdout, stderr) = e.cc(&["runs", "show", &runs.gone.id.to_string()]);
        assert_eq!(code, 0, "{stderr}");
        let head = stdout.lines().next().unwrap_or_default();
        assert!(head.ends_with("Running  STUCK"), "{stdout}");
        let step = step_line(&stdout, 1);
        assert!(step.contains("Invoked"), "{step}");
        // Claimed 20 minutes before the records were written.
        assert!(step.contains("running 20m0"), "{step}");
        assert!(
            step.contains(&format!(
                "s on cc-prepare (instance {})",
                runs.gone_instance
            )),
            "{step}"
        );
        assert!(
            stdout.contains(&format!(
                "      STUCK: step 1 (CcPrepare) stuck: cc-prepare on {}",
                runs.gone_instance
            )),
            "{stdout}"
        );
        assert!(stdout.contains("priority 0"), "{stdout}");
        let json = e.json(&["runs", "show", &runs.gone.id.to_string(), "--json"]);
        assert_eq!(json["stuck"][0]["step"], 0, "{json}");
        assert_eq!(json["stuck"][0]["reason"], "handler_gone", "{json}");

        // Live: running on the live service, not stuck.
        let (code, stdout, stderr) = e.cc(&["runs", "show", &runs.live.id.to_string()]);
        assert_eq!(code, 0, "{stderr}");
        assert!(!stdout.contains("STUCK"), "{stdout}");
        let step = step_line(&stdout, 1);
        assert!(
            step.contains(&format!("on cc-prepare (instance {live_instance})")),
            "{step}"
        );
        assert!(step.contains("running 20m"), "{step}");
        let json = e.json(&["runs", "show", &runs.live.id.to_string(), "--json"]);
        assert_eq!(json["stuck"].as_array().map(Vec::len), Some(0), "{json}");
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// `services` says when each instance was last seen; one whose
/// heartbeat is late (a killed process, until the 20 s rule calls it gone)
/// is `LATE`, not `alive`.
async fn services_say_when_last_seen(env: Env) {
    let late = ServiceRecord {
        id: format!("killed@host-9:9:{}", uuid::Uuid::new_v4().simple()),
        name: "killed".into(),
        host: "host-9".into(),
        pid: 9,
        events: Vec::new(),
        consumers: vec!["cc-prepare".into()],
        transport: "amqp".into(),
        started_at: Utc::now() - Duration::minutes(5),
        last_seen: Utc::now() - Duration::seconds(14),
    };
    env.store.register_service(&late).await.expect("record");
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        let (code, stdout, stderr) = e.cc(&["services"]);
        assert_eq!(code, 0, "{stderr}");
        let line = |name: &str| {
            stdout
                .lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("no line for {name}: {stdout}"))
                .to_string()
        };
        let killed = line("killed ");
        assert!(killed.contains(" LATE "), "{killed}");
        assert!(
            killed.contains("last seen 14s ago") || killed.contains("last seen 15s ago"),
            "{killed}"
        );
        let live = line("cc-test ");
        assert!(live.contains(" alive "), "{live}");
        assert!(live.contains("last seen "), "{live}");
    })
    .await;
    Arc::into_inner(env).expect("one owner").stop().await;
}

/// `url` with its password replaced by a wrong one.
fn with_wrong_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let rest = match rest.split_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or("guest");
            format!("{user}:not-the-password@{host}")
        }
        None => format!("guest:not-the-password@{rest}"),
    };
    format!("{scheme}://{rest}")
}

/// A refused broker login is the documented one line naming the
/// broker (no password), with none of the client library's lines before it;
/// `ISOQUBE_LOG=debug` shows those.
async fn wrong_password_is_one_line(env: Env) {
    let env = Arc::new(env);
    let e = env.clone();
    in_background(move || {
        let url = with_wrong_password(&amqp_url());
        let (code, _, stderr) = out(e
            .cmd(false)
            .env("ISOQUBE_AMQP_URL", &url)
            .args(["queues"])
            .output()
            .expect("run controlcenter"));
        assert_eq!(code, 4, "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with("error: transport:"), "{stderr}");
        assert!(stderr.contains("ACCESS_REFUSED"), "{stderr}");
        let host = url.rsplit('@').next().unwrap_or_default();
        let host = host.split('/').next().unwrap_or_default();
        assert!(stderr.contains(host), "names {host}: {stderr}");
        assert!(!stderr.contains("not-the-password"), "{stderr}");

        let (_, _, stderr) = out(e
            .cmd(false)
            .env("ISOQUBE_AMQP_URL", &url)
            .env("ISOQUBE_LOG", "debug")
            .args(["queues"])
            .output()
            .expect("run controlcenter"));
        assert!(
            stderr.trim().lines().count() > 1,
            "debug shows more: {stderr}"
        );
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

on_both_stores!(
    show_names_the_running_handler_and_marks_stuck,
    services_say_when_last_seen,
    wrong_password_is_one_line,
    unreachable_is_one_line
);
