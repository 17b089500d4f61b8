//! Runs whose step has no consumer: the fleet hosts no `windows-pool`, and
//! `unbound-release` builds on Linux, then asks for a Windows build. That
//! step reaches no queue, so it fails (recorded with the reason) and the run
//! compensates the Linux builds, while the same kills and the broker restart
//! hit everything else. Every such run must end `Compensated`, nothing left
//! undone.

use isoqube::{Control, Definition, Run, RunStatus, StepDef, StepStatus};

/// The definition's name.
pub const NAME: &str = "unbound-release";
/// The step no process consumes (and no queue takes: the spy leaves it).
pub const UNBOUND: &str = "Windows2019Build";

/// Saves `unbound-release`.
pub async fn define(control: &Control) {
    let undo = "RemoveLinuxArtifacts";
    let source = "DefaultSourceDownloadComplete";
    let def = Definition::new(
        NAME,
        [
            StepDef::new("DefaultSourceIngestion"),
            StepDef::new("DefaultSourceDownload"),
            StepDef::new(source),
            StepDef::new("LinuxUbuntu2004Build")
                .after([source])
                .compensate(undo),
            StepDef::new("LinuxUbuntu2204Build")
                .after([source])
                .compensate(undo),
            StepDef::new("LinuxBuildCompleted")
                .after(["LinuxUbuntu2004Build", "LinuxUbuntu2204Build"]),
            StepDef::new(UNBOUND).compensate("RemoveWindowsArtifacts"),
            StepDef::new("BroadcastRelease"),
        ],
    );
    control
        .create_definition(def)
        .await
        .unwrap_or_else(|e| panic!("save {NAME}: {e}"));
}

/// Every such run ended `Compensated`: the unbound step `Failed` with the
/// reason, the steps after it skipped, every step that succeeded undone, and
/// no handler left in flight.
pub fn check(runs: &[Run], logs: &str) {
    for run in runs {
        let steps = || format!("{:#?}\n{logs}", run.steps);
        assert_eq!(
            run.status,
            RunStatus::Compensated,
            "run {}: {}",
            run.id,
            steps()
        );
        for step in &run.steps {
            assert!(
                step.handlers
                    .iter()
                    .all(|h| h.status != StepStatus::Invoked),
                "run {} step {} keeps a handler in flight: {}",
                run.id,
                step.index,
                steps()
            );
            let undone = step
                .compensation
                .as_ref()
                .map(|c| c.status == StepStatus::Succeeded);
            match (step.event.as_str(), step.status) {
                (UNBOUND, StepStatus::Failed) => {
                    let why = step.last_error.as_deref().unwrap_or("");
                    assert!(
                        why.contains("no consumer is bound"),
                        "run {}: {why}",
                        run.id
                    );
                }
                (UNBOUND, other) => panic!("run {}: {UNBOUND} is {other:?}: {}", run.id, steps()),
                ("BroadcastRelease", s) => assert_eq!(s, StepStatus::Skipped, "run {}", run.id),
                (_, StepStatus::Succeeded) => assert_ne!(
                    undone,
                    Some(false),
                    "run {} step {} succeeded and was not undone: {}",
                    run.id,
                    step.index,
                    steps()
                ),
                (event, s) => panic!("run {}: {event} is {s:?}: {}", run.id, steps()),
            }
        }
    }
}
