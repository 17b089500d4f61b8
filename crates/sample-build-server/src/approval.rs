//! The release approval `production-release` waits for: `run` approves it
//! from this process once the run waits (`--auto-approve`, through
//! [`isoqube::Control::signal`]) or says how to approve it; and a run may be
//! given a shorter approval timeout than its definition's
//! (`--approval-timeout`), so a test sees the wait time out and the builds
//! undone. Uses the control center's operator and the runtime's control
//! actions.

use std::time::Duration;

use anyhow::{anyhow, bail};
use chrono::{DateTime, Utc};
use isoqube::model::Signal;
use isoqube::{Run, StartRun, StepStatus, Variables};

use crate::events::ApproveRelease;

/// Who a `--auto-approve` signal says approved the release.
pub const AUTO_APPROVER: &str = "sample-build-server --auto-approve";

/// What `run` does about a release approval.
#[derive(Debug, Clone, Copy, Default)]
pub struct Approval {
    /// Approve from this process as soon as the run waits for it.
    pub auto: bool,
    /// For this run, the approval wait's timeout instead of the definition's.
    pub timeout: Option<Duration>,
}

/// Starts `start`; with `timeout`, its `ApproveRelease` wait times out
/// after it in this run instead of the definition's time
/// ([`StartRun::wait_timeout`]). Refused, nothing started, when the
/// definition waits for no approval (the option would do nothing).
pub async fn start(
    op: &controlcenter::Operator,
    start: StartRun,
    timeout: Option<Duration>,
) -> anyhow::Result<Run> {
    let Some(timeout) = timeout else {
        return Ok(op.start(start).await?);
    };
    let def = op
        .control()
        .store()
        .get_definition(&start.definition)
        .await?
        .ok_or_else(|| anyhow!("no definition named '{}'", start.definition))?;
    let approves = |s: &isoqube::StepDef| s.event == ApproveRelease::NAME && s.wait.is_some();
    if !def.steps.iter().any(approves) {
        bail!(
            "--approval-timeout: definition '{}' waits for no {} (production-release does)",
            def.name,
            ApproveRelease::NAME
        );
    }
    Ok(op
        .start(start.wait_timeout(ApproveRelease::NAME, timeout))
        .await?)
}

/// Watches a run's states for its approval wait: approves it once (with
/// [`Approval::auto`]) or says once how to approve it.
pub struct Approver {
    auto: bool,
    embedded: bool,
    seen: bool,
}

impl Approver {
    /// For `approval`; `embedded`: the transport is in-process, so only
    /// this process can deliver the approval.
    pub fn new(approval: Approval, embedded: bool) -> Self {
        Approver {
            auto: approval.auto,
            embedded,
            seen: false,
        }
    }

    /// Called with each state of the run. The first time it waits for its
    /// approval: approves it or prints how to; returns the wait's deadline
    /// then (`run` waits for the approval as long as it may take).
    pub async fn seen(
        &mut self,
        op: &controlcenter::Operator,
        run: &Run,
    ) -> anyhow::Result<Option<DateTime<Utc>>> {
        let Some(step) = run
            .steps
            .iter()
            .find(|s| s.status == StepStatus::Waiting && s.event == ApproveRelease::NAME)
        else {
            return Ok(None);
        };
        if std::mem::replace(&mut self.seen, true) {
            return Ok(None);
        }
        let until = step.wait.as_ref().and_then(|w| w.until);
        if self.auto {
            let mut data = Variables::new();
            data.insert("approved_by".into(), AUTO_APPROVER.into());
            let signal = Signal::new(ApproveRelease::NAME, data, AUTO_APPROVER);
            // Refused only when the wait ended meanwhile (its deadline
            // passed): the run goes on without it, as followed.
            match op.control().signal(run.id, signal).await {
                Ok(_) => tracing::info!(run_id = %run.id, "release approved (--auto-approve)"),
                Err(e) => tracing::warn!(run_id = %run.id, "approving the release failed: {e}"),
            }
        } else {
            println!("{}", self.how_to_approve(run.id, until));
        }
        Ok(until)
    }

    /// The message for a person: what the run waits for, until when, and the command.
    fn how_to_approve(&self, id: uuid::Uuid, until: Option<DateTime<Utc>>) -> String {
        let until = until.map_or_else(
            || "with no deadline".to_string(),
            |t| {
                format!(
                    "until {}",
                    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )
            },
        );
        let mut out = format!(
            "run {id} waits for approval ({}, {until}); approve it with\n  controlcenter runs signal {id} {}\n",
            ApproveRelease::NAME,
            ApproveRelease::NAME
        );
        if self.embedded {
            out.push_str(
                "  (over RabbitMQ: in the embedded mode the in-process transport reaches only this\n   \
                 process, so approve it here: run again with --auto-approve)\n",
            );
        }
        out
    }
}
