//! The `linux-pool` service: builds on three Ubuntu versions and collects them.

use isoqube::{consumer, StepContext};

use crate::events::{
    LinuxBuildCompleted, LinuxUbuntu2004Build, LinuxUbuntu2204Build, LinuxUbuntu2404Build,
    RemoveLinuxArtifacts,
};
use crate::services::{build, remove_artifact};
use crate::sim;

isoqube::service!("linux-pool");

#[consumer(endpoint = "linux-ubuntu-2004-build", concurrency = 4, retry = interval(attempts = 3, every = "200ms"))]
async fn ubuntu_2004(ev: LinuxUbuntu2004Build, ctx: StepContext) -> anyhow::Result<()> {
    build(
        &ev.source,
        "ubuntu-20.04",
        "tar.gz",
        LinuxUbuntu2004Build::NAME,
        &ctx,
    )
    .await
}

#[consumer(endpoint = "linux-ubuntu-2204-build", concurrency = 4, retry = interval(attempts = 3, every = "200ms"))]
async fn ubuntu_2204(ev: LinuxUbuntu2204Build, ctx: StepContext) -> anyhow::Result<()> {
    build(
        &ev.source,
        "ubuntu-22.04",
        "tar.gz",
        LinuxUbuntu2204Build::NAME,
        &ctx,
    )
    .await
}

#[consumer(endpoint = "linux-ubuntu-2404-build", concurrency = 4, retry = interval(attempts = 3, every = "200ms"))]
async fn ubuntu_2404(ev: LinuxUbuntu2404Build, ctx: StepContext) -> anyhow::Result<()> {
    build(
        &ev.source,
        "ubuntu-24.04",
        "tar.gz",
        LinuxUbuntu2404Build::NAME,
        &ctx,
    )
    .await
}

#[consumer(endpoint = "linux-build-completed")]
async fn linux_completed(_ev: LinuxBuildCompleted, ctx: StepContext) -> anyhow::Result<()> {
    let built = crate::services::artifacts(&ctx, "artifact_ubuntu");
    anyhow::ensure!(!built.is_empty(), "no Linux artifact was built");
    sim::work(&ctx, LinuxBuildCompleted::NAME).await?;
    tracing::info!("{} Linux artifacts: {}", built.len(), built.join(", "));
    ctx.set("linux_artifacts", built)?;
    Ok(())
}

#[consumer(endpoint = "remove-linux-artifacts", concurrency = 4, retry = interval(attempts = 3, every = "200ms"))]
async fn remove_linux_artifacts(_ev: RemoveLinuxArtifacts, ctx: StepContext) -> anyhow::Result<()> {
    // The undone step's event type says which build's artifact goes.
    let platform = if ctx.compensating_for::<LinuxUbuntu2004Build>() {
        "ubuntu-20.04"
    } else if ctx.compensating_for::<LinuxUbuntu2204Build>() {
        "ubuntu-22.04"
    } else if ctx.compensating_for::<LinuxUbuntu2404Build>() {
        "ubuntu-24.04"
    } else {
        anyhow::bail!("not the undo of a Linux build: {:?}", ctx.compensating())
    };
    remove_artifact(platform, RemoveLinuxArtifacts::NAME, &ctx).await
}
