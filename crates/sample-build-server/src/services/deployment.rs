//! The `deployment` service: deploys the built artifacts to a VM and a container.

use isoqube::{consumer, StepContext};

use crate::events::{
    DeployToContainer, DeployToVm, DeploymentCompleted, RemoveContainerImage, UndeployFromVm,
};
use crate::sim;

isoqube::service!("deployment");

#[consumer(endpoint = "deploy-to-vm", retry = exponential(attempts = 4, first = "100ms", max = "1s"))]
async fn deploy_to_vm(ev: DeployToVm, ctx: StepContext) -> anyhow::Result<()> {
    let built = crate::services::artifacts(&ctx, "artifact_");
    anyhow::ensure!(
        !built.is_empty(),
        "nothing to deploy: no artifact was built"
    );
    sim::work(&ctx, DeployToVm::NAME).await?;
    let vm = format!("vm-{}", &ev.source.commit.get(..6).unwrap_or("000000"));
    tracing::info!("deployed {} artifacts to {vm}", built.len());
    ctx.set("deployed_vm", vm)?;
    Ok(())
}

#[consumer(endpoint = "deploy-to-container", retry = exponential(attempts = 4, first = "100ms", max = "1s"))]
async fn deploy_to_container(ev: DeployToContainer, ctx: StepContext) -> anyhow::Result<()> {
    sim::work(&ctx, DeployToContainer::NAME).await?;
    let image = format!("registry.local/sample-app:{}", ev.source.commit);
    tracing::info!("pushed {image}");
    ctx.set("deployed_image", image)?;
    Ok(())
}

#[consumer(endpoint = "deployment-completed")]
async fn deployment_completed(_ev: DeploymentCompleted, ctx: StepContext) -> anyhow::Result<()> {
    let deployed = crate::services::artifacts(&ctx, "deployed_");
    anyhow::ensure!(!deployed.is_empty(), "nothing was deployed");
    sim::work(&ctx, DeploymentCompleted::NAME).await?;
    tracing::info!("deployments: {}", deployed.join(", "));
    Ok(())
}

#[consumer(endpoint = "undeploy-from-vm", retry = exponential(attempts = 4, first = "100ms", max = "1s"))]
async fn undeploy_from_vm(_ev: UndeployFromVm, ctx: StepContext) -> anyhow::Result<()> {
    // The variables as `DeployToVm` left them: the VM it deployed to.
    let vm = ctx.var::<String>("deployed_vm")?;
    sim::work(&ctx, UndeployFromVm::NAME).await?;
    tracing::info!("undeployed the release from {vm}");
    Ok(())
}

#[consumer(endpoint = "remove-container-image", retry = exponential(attempts = 4, first = "100ms", max = "1s"))]
async fn remove_container_image(_ev: RemoveContainerImage, ctx: StepContext) -> anyhow::Result<()> {
    let image = ctx.var::<String>("deployed_image")?;
    sim::work(&ctx, RemoveContainerImage::NAME).await?;
    tracing::info!("deleted {image}");
    Ok(())
}
