//! The `sample-build-server` binary as a user runs it on the embedded defaults:
//! output and exit codes, good and bad input.

use std::path::PathBuf;
use std::process::{Command, Output};

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sample-build-server"));
    cmd.env_remove("ISOQUBE_AMQP_URL")
        .env_remove("ISOQUBE_MONGO_URL")
        .env_remove("ISOQUBE_STORE_PATH")
        .env("NO_COLOR", "1");
    cmd
}

fn store_file() -> PathBuf {
    let dir = std::env::temp_dir().join("isoqube-sample-tests");
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(format!("{}.db", uuid::Uuid::new_v4()))
}

fn run(args: &[&str]) -> Output {
    let store = store_file();
    bin()
        .args(args)
        .arg("--store")
        .arg(&store)
        .output()
        .expect("run the binary")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn every_service_and_event_is_linked() {
    let out = bin().args(["services", "--json"]).output().expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let rows = rows.as_array().expect("array");
    let services: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r["service"].as_str()).collect();
    assert_eq!(
        services.into_iter().collect::<Vec<_>>(),
        ["default", "deployment", "linux-pool", "windows-pool"]
    );
    let events: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r["event"].as_str()).collect();
    for event in sample_build_server::events::ALL {
        assert!(events.contains(event), "{event} has no consumer");
    }
    assert_eq!(events.len(), 19, "15 pipeline events and 4 compensations");
}

#[test]
fn a_release_runs_to_the_end_and_exits_zero() {
    let out = run(&["run", "linux-release", "--work-ms", "1"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("status Succeeded"), "{stdout}");
    // each step of the definition in the summary, and the console log per step
    for event in [
        "DefaultSourceIngestion",
        "LinuxUbuntu2404Build",
        "BroadcastRelease",
    ] {
        assert!(
            stdout.contains(event),
            "{event} missing from the summary:\n{stdout}"
        );
    }
    let log = text(&out.stderr) + &stdout;
    assert!(
        log.contains("run_id="),
        "step logs carry the run id:\n{log}"
    );
}

#[test]
fn an_injected_failure_fails_the_run_undoes_the_other_builds_and_exits_one() {
    let out = run(&[
        "run",
        "linux-release",
        "--work-ms",
        "1",
        "--fail-step",
        "LinuxUbuntu2204Build",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("status Compensated"), "{stdout}");
    assert!(stdout.contains("injected failure"), "{stdout}");
    // The two builds that succeeded beside it are undone; nothing after them ran.
    assert!(
        stdout.contains("undone: LinuxUbuntu2004Build (by RemoveLinuxArtifacts), LinuxUbuntu2404Build (by RemoveLinuxArtifacts)\n"),
        "{stdout}"
    );
}

/// The README's example: the last step fails, and the deployments and then
/// the builds are undone, each compensation logging what it undid.
#[test]
fn a_failed_broadcast_compensates_deployments_then_builds() {
    let out = run(&[
        "run",
        "linux-release",
        "--work-ms",
        "1",
        "--fail-step",
        "BroadcastRelease",
    ]);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("status Compensated"), "{stdout}");
    for undo in [
        "UndeployFromVm",
        "RemoveContainerImage",
        "RemoveLinuxArtifacts",
    ] {
        assert!(stdout.contains(&format!("undo {undo}")), "{undo}: {stdout}");
    }
    assert!(
        stdout.contains(
            "DeployToVm (by UndeployFromVm), DeployToContainer (by RemoveContainerImage)"
        ),
        "{stdout}"
    );
    let at = |needle: &str| {
        stderr
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} not logged:\n{stderr}"))
    };
    assert!(
        at("undeployed the release from vm-") < at("removed app-"),
        "{stderr}"
    );
    assert!(
        at("deleted registry.local/sample-app:") < at("removed app-"),
        "{stderr}"
    );
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let cases: &[(&[&str], &str)] = &[
        (&["run", "no-such-definition"], "no-such-definition"),
        (&["run", "linux-release", "--var", "novalue"], "key=value"),
        (
            &["run", "linux-release", "--fail-step", "Nope"],
            "not a pipeline event",
        ),
        (
            &["run", "linux-release", "--fail-rate", "2"],
            "between 0 and 1",
        ),
    ];
    for (args, expected) in cases {
        let out = run(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// Where `run` keeps its runs: the embedded pair (a store file, the in-process
/// transport) or the real one (RabbitMQ and the MongoDB-wire server, a prefix
/// and a database of this test's own).
#[derive(Clone, Copy)]
enum Pair {
    Embedded,
    Real,
}

/// `run ARGS` on `pair`, with `NO_COLOR` unset: only the absence of a terminal
/// may keep colour out of a captured run.
fn run_on(pair: Pair, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut cmd = bin();
    cmd.env_remove("NO_COLOR").args(args);
    match pair_env(pair) {
        Ok(vars) => {
            cmd.envs(vars);
        }
        Err(store) => {
            cmd.arg("--store").arg(store);
        }
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the binary")
}

const FAILING: &[&str] = &[
    "run",
    "linux-release",
    "--work-ms",
    "1",
    "--fail-step",
    "LinuxUbuntu2204Build",
];

/// The number the summary gives the failed step (`  N. Event  FAILED ...`).
fn failed_step_in_summary(stdout: &str) -> String {
    stdout
        .lines()
        .find(|l| l.contains("FAILED"))
        .and_then(|l| l.trim().split('.').next())
        .unwrap_or_else(|| panic!("no FAILED step in the summary:\n{stdout}"))
        .to_string()
}

/// The console and the summary number a failed step
/// alike (from 1), the console goes to stderr and the summary alone to stdout,
/// and neither carries colour escapes when it is not a terminal.
fn console_and_summary_agree(pair: Pair) {
    let out = run_on(pair, FAILING, &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let n = failed_step_in_summary(&stdout);
    assert!(
        stderr.contains(&format!("run failed at step {n}")),
        "the console names step {n}, as the summary does:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("step={n}")),
        "the console's step field counts from 1:\n{stderr}"
    );
    assert!(
        stdout.contains(&format!("step {n} (LinuxUbuntu2204Build) failed")),
        "{stdout}"
    );
    assert!(
        !stdout.contains("run_id="),
        "logs stay off stdout:\n{stdout}"
    );
    for (name, s) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(!s.contains('\u{1b}'), "colour escapes in {name}:\n{s}");
    }

    // JSON console lines: every stderr line parses, stdout is the summary.
    let out = run_on(pair, FAILING, &[("ISOQUBE_LOG_FORMAT", "json")]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("status Compensated"), "{stdout}");
    assert!(
        !stdout.contains("\"level\""),
        "logs stay off stdout:\n{stdout}"
    );
    let json_lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        json_lines
            .iter()
            .any(|l| l["span"]["step"].as_u64().map(|s| s.to_string()).as_ref() == Some(&n)),
        "a JSON line with step {n}:\n{stderr}"
    );
}

/// On a terminal: `run` in a pseudo-terminal (util-linux
/// `script`) colours its console lines, and not with `NO_COLOR` set.
fn colour_only_on_a_terminal_without_no_color(pair: Pair) {
    let which = Command::new("script").arg("--version").output();
    assert!(
        which.map(|o| o.status.success()).unwrap_or(false),
        "util-linux `script` is needed to run in a pseudo-terminal"
    );
    for no_color in [None, Some("1")] {
        let inner = format!(
            "'{}' run linux-release --work-ms 1",
            env!("CARGO_BIN_EXE_sample-build-server")
        );
        let mut cmd = Command::new("script");
        cmd.args(["-qfec", &inner, "/dev/null"])
            .env("TERM", "xterm-256color")
            .env("SHELL", "/bin/sh")
            .stdin(std::process::Stdio::null());
        match pair_env(pair) {
            Ok(vars) => {
                cmd.env_remove("ISOQUBE_STORE_PATH").envs(vars);
            }
            Err(store) => {
                cmd.env_remove("ISOQUBE_AMQP_URL")
                    .env_remove("ISOQUBE_MONGO_URL")
                    .env("ISOQUBE_STORE_PATH", store);
            }
        }
        match no_color {
            Some(v) => cmd.env("NO_COLOR", v),
            None => cmd.env_remove("NO_COLOR"),
        };
        let out = cmd.output().expect("run `script`");
        let all = text(&out.stdout);
        assert!(all.contains("status Succeeded"), "{all}");
        assert_eq!(
            all.contains("\u{1b}["),
            no_color.is_none(),
            "NO_COLOR={no_color:?}:\n{all}"
        );
    }
}

/// What `run` needs to reach `pair`: the real pair's variables, or the
/// embedded store's file.
fn pair_env(pair: Pair) -> Result<Vec<(String, String)>, PathBuf> {
    match pair {
        Pair::Embedded => Err(store_file()),
        Pair::Real => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            Ok(vec![
                ("ISOQUBE_AMQP_URL".into(), isoqube::testing::amqp_url()),
                ("ISOQUBE_AMQP_PREFIX".into(), format!("sbs-{}.", &id[..8])),
                ("ISOQUBE_MONGO_URL".into(), isoqube::testing::mongo_url()),
                (
                    "ISOQUBE_MONGO_DB".into(),
                    format!("isoqube_sbs_{}", &id[..12]),
                ),
            ])
        }
    }
}

#[test]
fn colour_on_a_terminal_on_the_embedded_pair() {
    colour_only_on_a_terminal_without_no_color(Pair::Embedded);
}

#[test]
fn colour_on_a_terminal_on_the_real_pair() {
    colour_only_on_a_terminal_without_no_color(Pair::Real);
}

#[test]
fn console_and_summary_agree_on_the_embedded_pair() {
    console_and_summary_agree(Pair::Embedded);
}

#[test]
fn console_and_summary_agree_on_the_real_pair() {
    console_and_summary_agree(Pair::Real);
}

/// A mistyped flag shows the usage `--help` shows (the
/// definition optional), whatever came before it.
#[test]
fn a_usage_error_shows_the_usage_of_help() {
    let help = text(&bin().args(["run", "--help"]).output().expect("run").stdout);
    let usage = help
        .lines()
        .find(|l| l.starts_with("Usage:"))
        .unwrap_or_else(|| panic!("no usage in --help:\n{help}"))
        .to_string();
    assert!(usage.contains("[DEFINITION]"), "{usage}");
    for args in [
        &["run", "--bogus"][..],
        &["run", "linux-release", "--bogus"],
    ] {
        let out = bin().args(args).output().expect("run");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&usage),
            "{args:?}: {stderr}\nwanted {usage}"
        );
    }
}
