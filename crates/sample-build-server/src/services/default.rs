//! The `default` service: source ingestion and download, and the release broadcast.

use isoqube::{consumer, StepContext};

use crate::events::{
    BroadcastRelease, DefaultSourceDownload, DefaultSourceDownloadComplete, DefaultSourceIngestion,
};
use crate::sim;

isoqube::service!("default");

#[consumer(endpoint = "default-source-ingestion")]
async fn source_ingestion(ev: DefaultSourceIngestion, ctx: StepContext) -> anyhow::Result<()> {
    let repository = if ev.source.repository.is_empty() {
        "github.com/isoqube/sample-app".to_string()
    } else {
        ev.source.repository
    };
    let branch = if ev.source.branch.is_empty() {
        "main".to_string()
    } else {
        ev.source.branch
    };
    sim::work(&ctx, DefaultSourceIngestion::NAME).await?;
    tracing::info!("ingesting {repository}@{branch}");
    ctx.set("repository", &repository)?;
    ctx.set("branch", &branch)?;
    Ok(())
}

#[consumer(endpoint = "default-source-download", retry = interval(attempts = 3, every = "200ms"))]
async fn source_download(ev: DefaultSourceDownload, ctx: StepContext) -> anyhow::Result<()> {
    sim::work(&ctx, DefaultSourceDownload::NAME).await?;
    let run = ctx.run_id().map(|r| r.to_string()).unwrap_or_default();
    let commit = sim::commit_id(&ev.source.repository, &ev.source.branch, &run);
    tracing::info!("downloaded {} at commit {commit}", ev.source.repository);
    ctx.set("commit", &commit)?;
    Ok(())
}

#[consumer(endpoint = "default-source-download-complete")]
async fn source_download_complete(
    ev: DefaultSourceDownloadComplete,
    ctx: StepContext,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !ev.source.commit.is_empty(),
        "no commit: {} must run first",
        DefaultSourceDownload::NAME
    );
    sim::work(&ctx, DefaultSourceDownloadComplete::NAME).await?;
    let path = format!("/var/isoqube/src/{}", ev.source.commit);
    tracing::info!("source ready in {path}");
    ctx.set("source_path", path)?;
    Ok(())
}

#[consumer(endpoint = "broadcast-release")]
async fn broadcast_release(ev: BroadcastRelease, ctx: StepContext) -> anyhow::Result<()> {
    sim::work(&ctx, BroadcastRelease::NAME).await?;
    let mut shipped = crate::services::artifacts(&ctx, "artifact_");
    shipped.extend(crate::services::artifacts(&ctx, "deployed_"));
    let notes = format!(
        "release of {}@{} ({}): {}",
        ev.source.repository,
        ev.source.branch,
        ev.source.commit,
        if shipped.is_empty() {
            "nothing shipped".to_string()
        } else {
            shipped.join(", ")
        }
    );
    tracing::info!("{notes}");
    ctx.set("release_notes", notes)?;
    Ok(())
}
