//! Deleting runs: one run (`runs delete ID`, `DELETE /api/v1/runs/{id}`),
//! the runs created before a time (`runs delete --before`), and the run
//! retention (`[store] run_retention_days`) that `controlcenter serve` sweeps.
//! Only a finished run is deleted, with its log lines; the store's delete is
//! conditional on that, so a run resumed meanwhile is kept.
//!
//! It may use only `isoqube` (the control and the store seam).

use chrono::{DateTime, Utc};
use isoqube::{Error, Run, RunFilter, RunStatus};
use uuid::Uuid;

use super::Operator;

/// How many runs one page of a bulk deletion reads.
const PAGE: usize = 200;

/// The runs a bulk deletion selected: the finished ones (to delete) and
/// those it must keep because they are not finished.
#[derive(Debug, Default)]
pub struct RunSelection {
    /// Finished runs: deletable.
    pub finished: Vec<Run>,
    /// Pending, running or compensating runs: kept.
    pub unfinished: Vec<Run>,
}

/// Why a run that is not finished is not deleted, naming it.
fn not_finished(run: &Run) -> Error {
    Error::InvalidState(format!(
        "run {} is {}: only a finished run can be deleted (cancel it first, or wait for it)",
        run.id,
        run.status.as_str()
    ))
}

impl Operator {
    /// Deletes one finished run with its log lines, returning it as it was;
    /// a run not finished is refused naming its status, nothing deleted.
    pub async fn delete_run(&self, id: Uuid) -> isoqube::Result<Run> {
        let run = self.run(id).await?;
        if !run.status.is_finished() {
            return Err(not_finished(&run));
        }
        if self.store().delete_run(id).await? {
            return Ok(run);
        }
        // Gone meanwhile, or started again (a resume): say which.
        match self.store().get_run(id).await? {
            Some(now) => Err(not_finished(&now)),
            None => Err(Error::not_found("run", id.to_string())),
        }
    }

    /// The runs created before `before` (with `status`, when given), newest
    /// first, split into finished and not finished.
    pub async fn runs_created_before(
        &self,
        before: DateTime<Utc>,
        status: Option<RunStatus>,
    ) -> isoqube::Result<RunSelection> {
        let mut filter = RunFilter {
            before: Some(before),
            status,
            limit: PAGE,
            ..RunFilter::default()
        };
        let mut out = RunSelection::default();
        loop {
            let page = self.runs(&filter).await?;
            for run in page.runs {
                if run.status.is_finished() {
                    out.finished.push(run);
                } else {
                    out.unfinished.push(run);
                }
            }
            let Some(next) = page.next else {
                return Ok(out);
            };
            filter.before = Some(next.created_at);
            filter.before_id = Some(next.id);
        }
    }

    /// The run retention: deletes every run that finished before `cutoff`,
    /// with its log lines; returns how many went. A run deleted or resumed
    /// meanwhile (by another control center) is passed over.
    pub async fn delete_runs_finished_before(
        &self,
        cutoff: DateTime<Utc>,
    ) -> isoqube::Result<usize> {
        let selected = self.runs_created_before(cutoff, None).await?;
        let mut deleted = 0;
        for run in selected.finished {
            let finished_at = run.finished_at.unwrap_or(run.created_at);
            if finished_at < cutoff && self.store().delete_run(run.id).await? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}
