//! `runs list` (a page, every run, or the stuck ones; a cut list says so and
//! how to see the rest) and `runs delete` (one run, or every run created
//! before a time; only finished runs, the others named).
//!
//! It may use the [`Operator`], the text formats ([`crate::text`]) and the
//! CLI's arguments, exit mapping and output.

use std::io::Write;

use isoqube::{model::CorruptRun, model::StuckStep, Run, RunFilter, RunStatus};

use super::args::parse_search_vars;
use super::exit::{ExitStatus, Failure, Outcome};
use super::print::{print_json, run_line, say};
use crate::ops::Operator;
use crate::text::stuck_line;

/// How many runs one page read by `runs list --all` holds.
const ALL_PAGE: usize = 500;

/// What `runs list` was asked for.
pub(super) struct ListQuery {
    pub status: Option<String>,
    pub definition: Option<String>,
    pub id_prefix: Option<String>,
    pub vars: Vec<String>,
    pub log_text: Option<String>,
    /// At most this many; `None`: every one (`--all`).
    pub limit: Option<usize>,
    /// `--before`: a run id (the runs after it) or a time.
    pub before: Option<String>,
    /// The search words (the run search grammar).
    pub words: Vec<String>,
}

/// The runs listed and whether more match past them.
struct Listed {
    runs: Vec<Run>,
    corrupt: Vec<CorruptRun>,
    more: bool,
}

/// Parses `--status` (any case).
fn parse_status(status: Option<String>) -> Result<Option<RunStatus>, Failure> {
    status
        .map(|s| RunStatus::parse(&s))
        .transpose()
        .map_err(|e| Failure::bad_input(e.to_string()))
}

impl ListQuery {
    /// The store's filter for the first page.
    async fn filter(self, op: &Operator) -> Result<(RunFilter, Option<usize>), Failure> {
        let id_prefix = self
            .id_prefix
            .map(|p| {
                crate::text::run_id_prefix(&p).ok_or_else(|| {
                    Failure::bad_input(format!(
                        "--id '{p}' cannot start a run id (hex digits and '-')"
                    ))
                })
            })
            .transpose()?;
        // `waiting`: a step waits for a signal (the run's own status is Running).
        let (status, waiting) = match self.status {
            Some(s) if s.trim().eq_ignore_ascii_case(isoqube::model::WAITING) => (None, true),
            other => (parse_status(other)?, false),
        };
        let mut filter = RunFilter {
            status,
            waiting,
            definition: self.definition,
            id_prefix,
            variables: parse_search_vars(&self.vars)?,
            log_text: self.log_text,
            ..RunFilter::default()
        }
        .with_query(&self.words.join(" "))
        .map_err(|e| Failure::bad_input(e.to_string()))?;
        if let Some(before) = self.before {
            match crate::text::parse_time(&before) {
                Ok(t) => filter.before = Some(t),
                // Not a time: a run, whose successors in the list are the next page.
                Err(_) => {
                    let run = op.run(op.run_id(&before).await?).await?;
                    filter.before = Some(run.created_at);
                    filter.before_id = Some(run.id);
                }
            }
        }
        Ok((filter, self.limit))
    }
}

/// Reads pages until `limit` runs (and one more, to know whether there are
/// more) or the end.
async fn read(
    op: &Operator,
    mut filter: RunFilter,
    limit: Option<usize>,
) -> Result<Listed, Failure> {
    let want = limit.unwrap_or(usize::MAX);
    filter.limit = limit.map_or(ALL_PAGE, |l| l.saturating_add(1).min(ALL_PAGE));
    let mut listed = Listed {
        runs: Vec::new(),
        corrupt: Vec::new(),
        more: false,
    };
    loop {
        let page = op.runs(&filter).await?;
        listed.runs.extend(page.runs);
        listed.corrupt.extend(page.corrupt);
        if listed.runs.len() > want {
            listed.runs.truncate(want);
            listed.more = true;
            return Ok(listed);
        }
        let Some(next) = page.next else {
            return Ok(listed);
        };
        filter.before = Some(next.created_at);
        filter.before_id = Some(next.id);
    }
}

/// `runs list` (not `--stuck`).
pub(super) async fn list(
    op: &Operator,
    query: ListQuery,
    json: bool,
    out: &mut dyn Write,
) -> Outcome {
    let (filter, limit) = query.filter(op).await?;
    let listed = read(op, filter, limit).await?;
    let stuck = op.stuck_steps(&listed.runs).await?;
    if json {
        return print_json(
            out,
            &serde_json::json!({
                "runs": listed.runs, "stuck": stuck, "corrupt": listed.corrupt, "more": listed.more
            }),
        );
    }
    if listed.runs.is_empty() {
        say!(out, "no runs");
    }
    let now = chrono::Utc::now();
    for r in &listed.runs {
        let marker = if stuck.iter().any(|s| s.run_id == r.id) {
            "  STUCK"
        } else {
            ""
        };
        say!(out, "{}{marker}", run_line(r, now));
    }
    report_corrupt(&listed.corrupt);
    if let (true, Some(last)) = (listed.more, listed.runs.last()) {
        // On stderr, as the corrupt records: stdout stays the list.
        eprintln!(
            "showing the newest {} matching runs; more: `runs list --before {}` (the next page), \
             `--limit N` or `--all`",
            listed.runs.len(),
            last.id
        );
    }
    Ok(ExitStatus::Ok)
}

/// `runs list --stuck`: every stuck run with its stuck steps.
pub(super) async fn list_stuck(
    op: &Operator,
    definition: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> Outcome {
    let report = op.stuck_runs(definition).await?;
    if json {
        let runs: Vec<&Run> = report.runs.iter().map(|s| &s.run).collect();
        let stuck: Vec<&StuckStep> = report.runs.iter().flat_map(|s| &s.steps).collect();
        return print_json(
            out,
            &serde_json::json!({"runs": runs, "stuck": stuck, "corrupt": report.corrupt}),
        );
    }
    if report.runs.is_empty() {
        say!(
            out,
            "no stuck runs (none has a step with no live handler for more than {}s)",
            op.stuck_rule().after.as_secs()
        );
    }
    let now = chrono::Utc::now();
    for s in &report.runs {
        say!(out, "{}  STUCK", run_line(&s.run, now));
        for step in &s.steps {
            say!(out, "    {}", stuck_line(step, now));
        }
    }
    report_corrupt(&report.corrupt);
    Ok(ExitStatus::Ok)
}

/// Names the records a list skipped, on stderr (stdout stays the list).
fn report_corrupt(corrupt: &[CorruptRun]) {
    if corrupt.is_empty() {
        return;
    }
    let ids: Vec<&str> = corrupt.iter().map(|c| c.id.as_str()).collect();
    eprintln!(
        "skipped {} corrupt run record(s): {} (`runs show ID` says what does not parse)",
        corrupt.len(),
        ids.join(", ")
    );
}

/// `runs delete ID | --before TIME [--status S] [--yes]`.
pub(super) async fn delete(
    op: &Operator,
    id: Option<String>,
    before: Option<String>,
    status: Option<String>,
    yes: bool,
    json: bool,
    out: &mut dyn Write,
) -> Outcome {
    if let Some(id) = id {
        let id = op.run_id(&id).await?;
        if !yes {
            let run = op.run(id).await?;
            return Err(Failure::bad_input(format!(
                "deleting run {} ({}, {}) needs --yes",
                run.id,
                run.definition,
                run.status.as_str()
            )));
        }
        let run = op.delete_run(id).await?;
        if json {
            return print_json(out, &serde_json::json!({"deleted": [run.id], "kept": []}));
        }
        say!(
            out,
            "deleted run {} ({}, {})",
            run.id,
            run.definition,
            run.status.as_str()
        );
        return Ok(ExitStatus::Ok);
    }
    let Some(before) = before else {
        return Err(Failure::bad_input("give a run id or --before TIME"));
    };
    let before = crate::text::parse_time(&before)
        .map_err(|e| Failure::bad_input(format!("--before: {e}")))?;
    let status = parse_status(status)?;
    if let Some(s) = status.filter(|s| !s.is_finished()) {
        return Err(Failure::bad_input(format!(
            "--status {}: only finished runs can be deleted (Succeeded, Failed, Cancelled, \
             Compensated, CompensationFailed)",
            s.as_str()
        )));
    }
    let selected = op.runs_created_before(before, status).await?;
    if !yes {
        return Err(Failure::bad_input(format!(
            "deleting the {} finished run(s) created before {} needs --yes (nothing deleted)",
            selected.finished.len(),
            before.format("%Y-%m-%d %H:%M:%S UTC")
        )));
    }
    let mut deleted = Vec::new();
    let mut kept: Vec<(String, String)> = selected
        .unfinished
        .iter()
        .map(|r| (r.id.to_string(), r.status.as_str().to_string()))
        .collect();
    for run in &selected.finished {
        match op.delete_run(run.id).await {
            Ok(_) => deleted.push(run.id),
            // Resumed meanwhile: kept, and said.
            Err(isoqube::Error::InvalidState(_)) => {
                kept.push((run.id.to_string(), "started again".to_string()))
            }
            // Deleted meanwhile (another control center): nothing to do.
            Err(isoqube::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if json {
        let kept: Vec<_> = kept
            .iter()
            .map(|(id, status)| serde_json::json!({"id": id, "status": status}))
            .collect();
        print_json(out, &serde_json::json!({"deleted": deleted, "kept": kept}))?;
    } else {
        say!(
            out,
            "deleted {} run(s) created before {}",
            deleted.len(),
            before.format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
    if kept.is_empty() {
        return Ok(ExitStatus::Ok);
    }
    let named: Vec<String> = kept.iter().map(|(id, s)| format!("{id} ({s})")).collect();
    eprintln!(
        "kept {} run(s) not finished (a run is deleted only once it finished): {}",
        kept.len(),
        named.join(", ")
    );
    Ok(ExitStatus::BadInput)
}
