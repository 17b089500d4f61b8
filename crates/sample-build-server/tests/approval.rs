//! The production release's approval as a user runs it: `run
//! production-release --auto-approve` approves it from the same process and
//! succeeds; without it, `run` says how to approve, and an approval that does
//! not come within `--approval-timeout` fails the wait and undoes the builds.
//! Each on the embedded pair (in-process + a SQLite file) and on the real
//! pair (RabbitMQ + MongoDB: `ISOQUBE_AMQP_URL`, `ISOQUBE_MONGO_URL`).

mod deployment;

use std::process::{Command, Output};

use deployment::{Deployment, StoreKind};

/// The binary on the embedded pair, with a fresh store file.
fn embedded() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sample-build-server"));
    let StoreKind::Sqlite(path) = StoreKind::fresh_sqlite_file() else {
        unreachable!("a file")
    };
    cmd.env_remove("ISOQUBE_AMQP_URL")
        .env_remove("ISOQUBE_MONGO_URL")
        .env("ISOQUBE_STORE_PATH", path)
        .env("NO_COLOR", "1");
    cmd
}

/// The binary on the real pair: the machine's broker under a queue prefix
/// of its own, and a fresh MongoDB database.
fn real() -> Command {
    Deployment::new(StoreKind::fresh_mongo("approval")).command()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn release(cmd: &mut Command, extra: &[&str]) -> (Output, String) {
    let out = cmd
        .args(["run", "production-release", "--work-ms", "1"])
        .args(extra)
        .output()
        .expect("run the binary");
    let both = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    (out, both)
}

fn auto_approved_release_succeeds(mut cmd: Command) {
    let (out, both) = release(&mut cmd, &["--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{both}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("status Succeeded"), "{stdout}");
    assert!(
        stdout.contains("ApproveRelease                   ok"),
        "{stdout}"
    );
    // The deployments ran after the approval.
    assert!(
        stdout.contains("DeployToVm                       ok"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("controlcenter runs signal"),
        "no approval asked of a person: {stdout}"
    );
}

fn timed_out_approval_undoes_the_builds(mut cmd: Command) {
    let (out, both) = release(&mut cmd, &["--approval-timeout", "2s"]);
    assert_eq!(out.status.code(), Some(1), "{both}");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("waits for approval (ApproveRelease, until "),
        "{stdout}"
    );
    let id = stdout
        .split_whitespace()
        .nth(1)
        .expect("the run id after `run`");
    assert!(
        stdout.contains(&format!("controlcenter runs signal {id} ApproveRelease")),
        "{stdout}"
    );
    assert!(stdout.contains("status Compensated"), "{stdout}");
    assert!(
        stdout.contains("waited 2s for ApproveRelease; it did not come"),
        "{stdout}"
    );
    assert!(
        stdout.contains("undone: LinuxUbuntu2004Build (by RemoveLinuxArtifacts), LinuxUbuntu2204Build (by RemoveLinuxArtifacts), LinuxUbuntu2404Build (by RemoveLinuxArtifacts)\n"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("DeployToVm                       ok"),
        "{stdout}"
    );
    // The 2 s was this run's: the definition keeps its day.
    let mut export = same_settings(&cmd);
    export.args(["ctl", "definitions", "export", "production-release"]);
    let out = export.output().expect("export the definition");
    let def = text(&out.stdout);
    assert!(
        def.contains(r#"{ wait_for = "ApproveRelease", timeout = "1d" }"#),
        "the definition's own timeout is back:\n{def}{}",
        text(&out.stderr)
    );
}

/// The binary with the settings (environment) `cmd` ran with: its store.
fn same_settings(cmd: &Command) -> Command {
    let mut again = Command::new(cmd.get_program());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => again.env(key, value),
            None => again.env_remove(key),
        };
    }
    again
}

#[test]
fn embedded_auto_approved_release_succeeds() {
    auto_approved_release_succeeds(embedded());
}

#[test]
fn embedded_timed_out_approval_undoes_the_builds() {
    timed_out_approval_undoes_the_builds(embedded());
}

#[test]
fn real_pair_auto_approved_release_succeeds() {
    auto_approved_release_succeeds(real());
}

#[test]
fn real_pair_timed_out_approval_undoes_the_builds() {
    timed_out_approval_undoes_the_builds(real());
}

#[test]
fn an_approval_timeout_for_a_definition_without_approval_is_refused() {
    let out = embedded()
        .args(["run", "linux-release", "--approval-timeout", "2s"])
        .output()
        .expect("run the binary");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("definition 'linux-release' waits for no ApproveRelease"),
        "{stderr}"
    );
    let out = embedded()
        .args(["run", "production-release", "--approval-timeout", "soon"])
        .output()
        .expect("run the binary");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("'soon' is not a duration"), "{stderr}");
}
