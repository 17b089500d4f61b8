//! The `windows-pool` service: builds on three Windows Server versions and collects them.

use isoqube::{consumer, StepContext};

use crate::events::{
    RemoveWindowsArtifacts, Windows2019Build, Windows2022Build, Windows2025Build,
    WindowsBuildCompleted,
};
use crate::services::{build, remove_artifact};
use crate::sim;

isoqube::service!("windows-pool");

#[consumer(endpoint = "windows-2019-build", concurrency = 4, retry = interval(attempts = 3, every = "200ms"))]
async fn windows_2019(ev: Windows2019Build, ctx: StepContext) -> anyhow::Result<()> {
    build(
        &ev.source,
        "windows-2019",
        "zip",
        Windows2019Build::NAME,
        &ctx,
    )
    .await
}

#[consumer(endpoint = "windows-2022-build", concurrency = 4, retry = interval(attempts = 3, every = "200ms"))]
async fn windows_2022(ev: Windows2022Build, ctx: StepContext) -> anyhow::Result<()> {
    build(
        &ev.source,
        "windows-2022",
        "zip",
        Windows2022Build::NAME,
        &ctx,
    )
    .await
}

#[consumer(endpoint = "windows-2025-build", concurrency = 4, retry = interval(attempts = 3, every = "200ms"))]
async fn windows_2025(ev: Windows2025Build, ctx: StepContext) -> anyhow::Result<()> {
    build(
        &ev.source,
        "windows-2025",
        "zip",
        Windows2025Build::NAME,
        &ctx,
    )
    .await
}

#[consumer(endpoint = "windows-build-completed")]
async fn windows_completed(_ev: WindowsBuildCompleted, ctx: StepContext) -> anyhow::Result<()> {
    let built = crate::services::artifacts(&ctx, "artifact_windows");
    anyhow::ensure!(!built.is_empty(), "no Windows artifact was built");
    sim::work(&ctx, WindowsBuildCompleted::NAME).await?;
    tracing::info!("{} Windows artifacts: {}", built.len(), built.join(", "));
    ctx.set("windows_artifacts", built)?;
    Ok(())
}

#[consumer(endpoint = "remove-windows-artifacts", concurrency = 4, retry = interval(attempts = 3, every = "200ms"))]
async fn remove_windows_artifacts(
    _ev: RemoveWindowsArtifacts,
    ctx: StepContext,
) -> anyhow::Result<()> {
    // The undone step's event type says which build's artifact goes.
    let platform = if ctx.compensating_for::<Windows2019Build>() {
        "windows-2019"
    } else if ctx.compensating_for::<Windows2022Build>() {
        "windows-2022"
    } else if ctx.compensating_for::<Windows2025Build>() {
        "windows-2025"
    } else {
        anyhow::bail!("not the undo of a Windows build: {:?}", ctx.compensating())
    };
    remove_artifact(platform, RemoveWindowsArtifacts::NAME, &ctx).await
}
