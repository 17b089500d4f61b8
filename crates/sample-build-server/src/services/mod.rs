//! The four sample services, one module each. Each module declares its service
//! once (`isoqube::service!`) and its consumers inherit it, so one binary can
//! run as any of them (`serve --service linux-pool`) or as all of them.

pub mod default;
pub mod deployment;
pub mod linux;
pub mod windows;

/// The service names, as accepted by `--service`.
pub const SERVICES: &[&str] = &["default", "linux-pool", "windows-pool", "deployment"];

/// The artifacts recorded so far (variables named `artifact_*`), sorted.
pub fn artifacts(ctx: &isoqube::StepContext, prefix: &str) -> Vec<String> {
    let mut found: Vec<String> = ctx
        .vars()
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .filter_map(|(_, v)| v.as_str().map(str::to_string))
        .collect();
    found.sort();
    found
}

/// Undoes one build (a compensation): removes the artifact the build of
/// `platform` recorded, as the run's variables were when it succeeded.
pub(crate) async fn remove_artifact(
    platform: &str,
    event: &str,
    ctx: &isoqube::StepContext,
) -> anyhow::Result<()> {
    let artifact = ctx.var::<String>(&format!("artifact_{platform}"))?;
    crate::sim::work(ctx, event).await?;
    tracing::info!("removed {artifact}");
    Ok(())
}

/// One build on a build agent: needs the downloaded commit, works, records the
/// artifact `app-<commit>-<platform>.<extension>` as the variable
/// `artifact_<platform>` for the completion step to collect.
pub(crate) async fn build(
    source: &crate::events::Source,
    platform: &str,
    extension: &str,
    event: &str,
    ctx: &isoqube::StepContext,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !source.commit.is_empty(),
        "no commit to build: the source was not downloaded"
    );
    tracing::info!(
        "building {} on {platform} (attempt {})",
        source.commit,
        ctx.attempt()
    );
    crate::sim::work(ctx, event).await?;
    let artifact = format!("app-{}-{platform}.{extension}", source.commit);
    tracing::info!("built {artifact}");
    ctx.set(&format!("artifact_{platform}"), artifact)?;
    Ok(())
}
