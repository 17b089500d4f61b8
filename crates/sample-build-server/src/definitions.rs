//! The built-in run definitions, seeded on first start and editable afterwards.

use isoqube::{Definition, Variables};
use serde_json::json;

use crate::events::{
    BroadcastRelease, DefaultSourceDownload, DefaultSourceDownloadComplete, DefaultSourceIngestion,
    DeployToContainer, DeployToVm, DeploymentCompleted, LinuxBuildCompleted, LinuxUbuntu2004Build,
    LinuxUbuntu2204Build, LinuxUbuntu2404Build, Windows2019Build, Windows2022Build,
    Windows2025Build, WindowsBuildCompleted,
};

fn vars(v: serde_json::Value) -> Variables {
    isoqube::context::vars_from(v)
}

const SOURCE: [&str; 3] = [
    DefaultSourceIngestion::NAME,
    DefaultSourceDownload::NAME,
    DefaultSourceDownloadComplete::NAME,
];
const LINUX: [&str; 4] = [
    LinuxUbuntu2004Build::NAME,
    LinuxUbuntu2204Build::NAME,
    LinuxUbuntu2404Build::NAME,
    LinuxBuildCompleted::NAME,
];
const WINDOWS: [&str; 4] = [
    Windows2019Build::NAME,
    Windows2022Build::NAME,
    Windows2025Build::NAME,
    WindowsBuildCompleted::NAME,
];
const DEPLOY: [&str; 3] = [
    DeployToVm::NAME,
    DeployToContainer::NAME,
    DeploymentCompleted::NAME,
];

fn steps(parts: &[&[&str]]) -> Vec<String> {
    parts
        .iter()
        .flat_map(|p| p.iter().map(|s| s.to_string()))
        .collect()
}

/// The definitions every fresh store gets.
///
/// ```
/// let defs = sample_build_server::definitions::builtin();
/// assert!(defs.iter().any(|d| d.name == "linux-release"));
/// ```
pub fn builtin() -> Vec<Definition> {
    let defaults = vars(json!({"repository": "github.com/isoqube/sample-app", "branch": "main"}));
    vec![
        Definition::new(
            "linux-release",
            steps(&[&SOURCE, &LINUX, &DEPLOY, &[BroadcastRelease::NAME]]),
        )
        .with_description("Build on every Ubuntu version, deploy, announce")
        .with_variables(defaults.clone()),
        Definition::new(
            "windows-release",
            steps(&[&SOURCE, &WINDOWS, &DEPLOY, &[BroadcastRelease::NAME]]),
        )
        .with_description("Build on every Windows Server version, deploy, announce")
        .with_variables(defaults.clone()),
        Definition::new(
            "full-release",
            steps(&[
                &SOURCE,
                &LINUX,
                &WINDOWS,
                &DEPLOY,
                &[BroadcastRelease::NAME],
            ]),
        )
        .with_description("Build on Linux and Windows, deploy, announce")
        .with_variables(defaults.clone()),
        Definition::new(
            "quick-check",
            steps(&[
                &SOURCE,
                &[LinuxUbuntu2404Build::NAME, LinuxBuildCompleted::NAME],
            ]),
        )
        .with_description("Download and build on the newest Ubuntu only")
        .with_variables(defaults),
    ]
}
