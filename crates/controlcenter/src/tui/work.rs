//! What the UI's background tasks do with the [`Operator`]: load the data a
//! view needs ([`load`]) and carry out an action ([`perform`]), turning every
//! error into the text the UI shows.
//!
//! It may use the [`Operator`], the messages of [`super::app`] and the text
//! formats.

use super::app::{Action, Loaded, Need, Outcome, RunsLoaded};
use isoqube::{Rerun, Resume, StartRun};

use crate::ops::Operator;
use crate::text::short_id;

/// How many runs the runs view lists.
pub const RUNS_PAGE: usize = 200;

/// An operator result with its error as the text the UI shows.
fn text<T>(r: isoqube::Result<T>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

/// Loads one item of data for a view.
pub async fn load(op: &Operator, need: Need) -> Loaded {
    match need {
        Need::Events => Loaded::Events(text(op.events().await)),
        Need::Services => Loaded::Services(text(op.services().await)),
        // One look per load: the state computes the rates between loads.
        Need::Queues => Loaded::Queues(text(
            op.queues(std::time::Duration::ZERO)
                .await
                .map(|r| r.endpoints),
        )),
        Need::Definitions => Loaded::Definitions(text(op.definitions().await)),
        Need::Runs(filter, query) => Loaded::Runs {
            filter,
            result: text(load_runs(op, filter, &query).await),
        },
        Need::Detail { id, skip } => Loaded::Detail {
            id,
            run: text(op.run(id).await).map(Box::new),
            logs: text(op.run_logs(id, skip).await),
            skip,
        },
        Need::Errors => Loaded::Errors(text(op.error_queues().await)),
        Need::DetailStuck(id) => Loaded::DetailStuck {
            id,
            result: text(stuck_of(op, id).await),
        },
    }
}

/// The runs view's page under the status filter and the search (searched
/// by the store over all runs), with its stuck steps and skipped records. A
/// search still being typed that does not parse yet loads as if empty (the
/// list shows why).
async fn load_runs(
    op: &Operator,
    filter: Option<isoqube::RunStatus>,
    query: &str,
) -> isoqube::Result<RunsLoaded> {
    let base = isoqube::RunFilter {
        status: filter,
        limit: RUNS_PAGE,
        ..Default::default()
    };
    let filter = base.clone().with_query(query).unwrap_or(base);
    let page = op.runs(&filter).await?;
    let stuck = op.stuck_steps(&page.runs).await?;
    Ok(RunsLoaded {
        runs: page.runs,
        stuck,
        corrupt: page.corrupt,
    })
}

/// The stuck steps of run `id` now.
async fn stuck_of(
    op: &Operator,
    id: uuid::Uuid,
) -> isoqube::Result<Vec<isoqube::model::StuckStep>> {
    let run = op.run(id).await?;
    op.stuck_steps(std::slice::from_ref(&run)).await
}

/// A bulk action's outcome in one line: how many were done, and the first
/// reason of those that were not (an error when any was not).
fn bulk(verb: &str, b: crate::ops::Bulk) -> Result<String, String> {
    let done = format!("{verb} {} message(s)", b.done.len());
    match (b.failed.first(), b.errors.first()) {
        (None, None) => Ok(done),
        (Some((f, e)), _) => Err(format!(
            "{done}; {} not: {}: {e}",
            b.failed.len(),
            f.message_id
        )),
        (None, Some(e)) => Err(format!("{done}; {e}")),
    }
}

/// Carries out an action and says what came of it.
pub async fn perform(op: &Operator, action: Action) -> Outcome {
    let done = |result: Result<String, String>| Outcome::Done {
        result,
        open_run: None,
    };
    match action {
        Action::SaveDefinition { definition, create } => {
            let name = definition.name.clone();
            let result = if create {
                op.create_definition(definition).await
            } else {
                op.update_definition(definition).await
            };
            Outcome::Saved {
                name,
                create,
                result: text(result).map(|_| ()),
            }
        }
        Action::DeleteDefinition(name) => done(
            text(op.delete_definition(&name).await)
                .map(|()| format!("deleted definition '{name}'")),
        ),
        Action::Start {
            definition,
            variables,
            priority,
        } => match text(
            op.start(
                StartRun::new(definition.as_str())
                    .vars(variables)
                    .priority_opt(priority),
            )
            .await,
        ) {
            Ok(run) => Outcome::Done {
                result: Ok(format!(
                    "started run {} of '{definition}'",
                    short_id(&run.id)
                )),
                open_run: Some(run.id),
            },
            Err(e) => done(Err(format!("cannot start '{definition}': {e}"))),
        },
        Action::Rerun(id) => match text(op.rerun(id, Rerun::new()).await) {
            Ok(run) => Outcome::Done {
                result: Ok(format!("re-ran {} as {}", short_id(&id), short_id(&run.id))),
                open_run: Some(run.id),
            },
            Err(e) => done(Err(format!("cannot re-run {}: {e}", short_id(&id)))),
        },
        Action::Resume(id) => done(
            text(op.resume(id, Resume::new()).await)
                .map(|_| format!("resumed run {}", short_id(&id)))
                .map_err(|e| format!("cannot resume {}: {e}", short_id(&id))),
        ),
        Action::Cancel(id) => done(
            text(op.cancel(id).await)
                .map(|_| format!("cancelled run {}", short_id(&id)))
                .map_err(|e| format!("cannot cancel {}: {e}", short_id(&id))),
        ),
        Action::Signal {
            run_id,
            event,
            data,
        } => done(
            text(op.signal(run_id, &event, data, "tui").await)
                .map(|done| done.line())
                .map_err(|e| format!("cannot signal {}: {e}", short_id(&run_id))),
        ),
        Action::CancelCompensate(id) => done(
            text(op.cancel_and_compensate(id).await)
                .map(|run| match run.status {
                    isoqube::RunStatus::Compensating => {
                        format!("cancelled run {}; compensating what it did", short_id(&id))
                    }
                    _ => format!("cancelled run {} (nothing to compensate)", short_id(&id)),
                })
                .map_err(|e| format!("cannot cancel and compensate {}: {e}", short_id(&id))),
        ),
        Action::Requeue {
            endpoint,
            message_id,
        } => done(
            text(op.requeue(&endpoint, &message_id).await)
                .map(|done| format!("{message_id}: {done}"))
                .map_err(|e| format!("cannot requeue {message_id}: {e}")),
        ),
        Action::Discard {
            endpoint,
            message_id,
        } => done(
            text(op.discard(&endpoint, &message_id).await)
                .map(|_| format!("discarded {message_id} from '{endpoint}_error'"))
                .map_err(|e| format!("cannot discard {message_id}: {e}")),
        ),
        Action::RequeueAll(faults) => done(bulk("requeued", op.requeue_each(faults).await)),
        Action::DiscardAll(faults) => done(bulk("discarded", op.discard_each(faults).await)),
        Action::None | Action::Quit | Action::Refresh => done(Ok(String::new())),
    }
}
