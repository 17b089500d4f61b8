//! The events of the simulated pipeline, named and routed as in the original
//! .NET build server (kebab-case exchanges such as `default-source-ingestion`).
//!
//! Payload fields are filled from the run variables, so every field has a default.

use isoqube::event;
use serde::{Deserialize, Serialize};

/// Fields every pipeline event carries (all optional: they come from the run variables).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Source {
    /// Repository to build.
    pub repository: String,
    /// Branch to build.
    pub branch: String,
    /// Commit id, once the source is downloaded.
    pub commit: String,
}

macro_rules! pipeline_events {
    ($($(#[$doc:meta])* $name:ident => $exchange:literal;)*) => {
        $(
            $(#[$doc])*
            #[event(exchange = $exchange, namespace = "Isoqube.Sample")]
            #[derive(Debug, Clone, Default, Serialize, Deserialize)]
            #[serde(default)]
            pub struct $name {
                /// What is being built.
                #[serde(flatten)]
                pub source: Source,
            }
        )*
        /// Every event name of the pipeline, in pipeline order.
        pub const ALL: &[&str] = &[$($name::NAME),*];
    };
}

pipeline_events! {
    /// A change was pushed: register the repository and branch to build.
    DefaultSourceIngestion => "default-source-ingestion";
    /// Fetch the source at the requested branch.
    DefaultSourceDownload => "default-source-download";
    /// The source is on disk and pinned to a commit.
    DefaultSourceDownloadComplete => "default-source-download-complete";
    /// Build on Ubuntu 20.04.
    LinuxUbuntu2004Build => "linux-ubuntu-2004-build";
    /// Build on Ubuntu 22.04.
    LinuxUbuntu2204Build => "linux-ubuntu-2204-build";
    /// Build on Ubuntu 24.04.
    LinuxUbuntu2404Build => "linux-ubuntu-2404-build";
    /// Every Linux build is done: collect the artifacts.
    LinuxBuildCompleted => "linux-build-completed";
    /// Build on Windows Server 2019.
    Windows2019Build => "windows-2019-build";
    /// Build on Windows Server 2022.
    Windows2022Build => "windows-2022-build";
    /// Build on Windows Server 2025.
    Windows2025Build => "windows-2025-build";
    /// Every Windows build is done: collect the artifacts.
    WindowsBuildCompleted => "windows-build-completed";
    /// Deploy the artifacts to a virtual machine.
    DeployToVm => "deploy-to-vm";
    /// Build and push a container image.
    DeployToContainer => "deploy-to-container";
    /// Every deployment is done.
    DeploymentCompleted => "deployment-completed";
    /// Announce the release.
    BroadcastRelease => "broadcast-release";
    /// Undo a Linux build: remove its artifact (a compensation).
    RemoveLinuxArtifacts => "remove-linux-artifacts";
    /// Undo a Windows build: remove its artifact (a compensation).
    RemoveWindowsArtifacts => "remove-windows-artifacts";
    /// Undo `DeployToVm`: take the release off the VM (a compensation).
    UndeployFromVm => "undeploy-from-vm";
    /// Undo `DeployToContainer`: delete the pushed image (a compensation).
    RemoveContainerImage => "remove-container-image";
}

/// A person approved a release: what `production-release` waits for. A
/// signal, not a step: no consumer runs it, it completes the wait step
/// (`controlcenter runs signal ID ApproveRelease`, or `run --auto-approve`).
#[event(exchange = "approve-release", namespace = "Isoqube.Sample")]
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ApproveRelease {
    /// Who approved it (merged into the run's variables).
    pub approved_by: String,
}

/// The events the built-in definitions wait for (signals: no consumer).
pub const AWAITED: &[&str] = &[ApproveRelease::NAME];
