//! Following one run: [`Operator::watch`] turns the store's "wait for a
//! change" into one stream of what changed (a step, an undo, the run, new
//! log lines), which every follower formats its own way: the CLI's `runs
//! watch` and `--wait`, the API's event stream and the sample's summary.
//!
//! It may use the operator and `isoqube`'s run types.

use std::time::Duration;

use futures_util::Stream;
use isoqube::{model::LogRecord, model::Step, Run, StepStatus};
use serde::Serialize;
use uuid::Uuid;

use super::Operator;

/// What to follow of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchFrom {
    /// The version the follower has seen (`None`: nothing): when the run is
    /// at it or later, no first snapshot, only later changes (and nothing
    /// at all once the run is finished).
    pub seen: Option<u64>,
    /// Also its new log lines ([`RunChange::Logs`]).
    pub logs: bool,
    /// How long one wait for a change lasts before looking again (and,
    /// with `logs`, reading the new log lines); zero: 10 s.
    pub slice: Duration,
}

/// A step's (or an undo's) place and state after a change.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StepChange {
    /// The run.
    pub run_id: Uuid,
    /// The step (its index, from 0).
    pub index: usize,
    /// The step's name.
    pub step: String,
    /// The step's event, or the undo's.
    pub event: String,
    /// Where it is now.
    pub status: StepStatus,
    /// Its consumer invocations so far.
    pub attempts: u32,
    /// Its last error, if any.
    pub error: Option<String>,
}

/// One item of [`Operator::watch`]: within one change, the steps' and
/// undos' changes come first, then the run as it is after it.
#[derive(Debug, Clone, PartialEq)]
pub enum RunChange {
    /// A step's status or attempts changed (on the first read: every step
    /// not pending).
    Step(StepChange),
    /// A step's compensation changed (on the first read: every one under
    /// way or done).
    Compensation(StepChange),
    /// The run as it was when the watch began (after its first changes).
    Snapshot(Box<Run>),
    /// The run after a change (after that change's step and undo changes).
    Updated(Box<Run>),
    /// New log lines of the run (with [`WatchFrom::logs`]).
    Logs(Vec<LogRecord>),
}

impl RunChange {
    /// The run, for the snapshot and the updates.
    pub fn run(&self) -> Option<&Run> {
        match self {
            RunChange::Snapshot(r) | RunChange::Updated(r) => Some(r),
            _ => None,
        }
    }
}

/// Where a watch stands.
struct Watching {
    op: Operator,
    id: Uuid,
    from: WatchFrom,
    /// The run as last seen (`None` before the first read).
    last: Option<Run>,
    logs: usize,
    queued: std::collections::VecDeque<isoqube::Result<RunChange>>,
    done: bool,
}

/// The step and undo changes from `before` (a fresh run when `None`) to `run`.
pub fn step_changes(before: Option<&Run>, run: &Run) -> Vec<RunChange> {
    let mut out = Vec::new();
    for s in &run.steps {
        let old = before.and_then(|b| b.steps.get(s.index));
        let was = old.map(|o| (o.status, o.attempts));
        let moved = match was {
            Some(w) => w != (s.status, s.attempts),
            None => s.status != StepStatus::Pending,
        };
        if moved {
            out.push(RunChange::Step(change(run.id, s, &s.event, s.status)));
        }
        let Some(c) = &s.compensation else { continue };
        let was = old
            .and_then(|o| o.compensation.as_ref())
            .map(|o| (o.status, o.attempts));
        let moved = match was {
            Some(w) => w != (c.status, c.attempts),
            None => !matches!(c.status, StepStatus::Pending | StepStatus::Skipped),
        };
        if moved {
            let mut ch = change(run.id, s, &c.event, c.status);
            ch.attempts = c.attempts;
            ch.error = c.last_error.clone();
            out.push(RunChange::Compensation(ch));
        }
    }
    out
}

fn change(run_id: Uuid, s: &Step, event: &str, status: StepStatus) -> StepChange {
    StepChange {
        run_id,
        index: s.index,
        step: s.name().to_string(),
        event: event.to_string(),
        status,
        attempts: s.attempts,
        error: s.last_error.clone(),
    }
}

impl Watching {
    /// Queues what changed from the last run seen to `run`.
    fn saw(&mut self, run: Run, first: bool) {
        self.queued
            .extend(step_changes(self.last.as_ref(), &run).into_iter().map(Ok));
        self.done = run.status.is_finished();
        let boxed = Box::new(run.clone());
        self.queued.push_back(Ok(if first {
            RunChange::Snapshot(boxed)
        } else {
            RunChange::Updated(boxed)
        }));
        self.last = Some(run);
    }

    /// Queues the new log lines, if it follows them.
    async fn read_logs(&mut self) {
        if !self.from.logs {
            return;
        }
        match self.op.run_logs(self.id, self.logs).await {
            Ok(lines) if lines.is_empty() => {}
            Ok(lines) => {
                self.logs += lines.len();
                self.queued.push_back(Ok(RunChange::Logs(lines)));
            }
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: isoqube::Error) {
        self.queued.push_back(Err(e));
        self.done = true;
    }

    /// Reads until something is queued, or the watch is over.
    async fn advance(&mut self) {
        while self.queued.is_empty() && !self.done {
            let Some(last) = &self.last else {
                self.first_read().await;
                continue;
            };
            let (version, slice) = (last.version, self.from.slice);
            match self.op.wait_for_change(self.id, version, slice).await {
                Ok(Some(run)) if run.version > version => self.saw(run, false),
                Ok(_) => {}
                Err(e) => return self.fail(e),
            }
            self.read_logs().await;
        }
    }

    async fn first_read(&mut self) {
        match self.op.run(self.id).await {
            Ok(run) if self.from.seen.is_some_and(|v| v >= run.version) => {
                // Seen it all: later changes only, none once it is finished.
                self.done = run.status.is_finished();
                self.last = Some(run);
            }
            Ok(run) => {
                self.saw(run, true);
                self.read_logs().await;
            }
            Err(e) => self.fail(e),
        }
    }
}

impl Operator {
    /// The changes of run `id` as they happen, until it is finished (the
    /// stream then ends), a store error (the last item) or the caller drops
    /// it. First the run as it is ([`RunChange::Snapshot`], after a change
    /// for each step and undo already moving), unless `from.seen` says the
    /// follower has seen this version.
    pub fn watch(
        &self,
        id: Uuid,
        mut from: WatchFrom,
    ) -> impl Stream<Item = isoqube::Result<RunChange>> {
        if from.slice.is_zero() {
            from.slice = Duration::from_secs(10);
        }
        let w = Watching {
            op: self.clone(),
            id,
            from,
            last: None,
            logs: 0,
            queued: Default::default(),
            done: false,
        };
        futures_util::stream::unfold(w, |mut w| async move {
            w.advance().await;
            let item = w.queued.pop_front()?;
            Some((item, w))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoqube::{Definition, Run};

    fn run() -> Run {
        let def = Definition::new("d", ["Build", "Ship"]);
        Run::new(&def, Default::default(), "test")
    }

    #[test]
    fn a_fresh_run_has_no_change_and_a_moved_step_one() {
        let before = run();
        assert!(step_changes(None, &before).is_empty());
        assert!(step_changes(Some(&before), &before).is_empty());
        let mut after = before.clone();
        after.steps[1].status = StepStatus::Invoked;
        let changes = step_changes(Some(&before), &after);
        let [RunChange::Step(c)] = changes.as_slice() else {
            panic!("one step change: {changes:?}");
        };
        assert_eq!(
            (c.index, c.status, c.step.as_str()),
            (1, StepStatus::Invoked, "Ship")
        );
        // From nothing seen, every step that moved is a change.
        assert_eq!(step_changes(None, &after), changes);
        // A retry (attempts alone) is a change too; followers decide what to print.
        let mut retried = after.clone();
        retried.steps[1].attempts += 1;
        assert_eq!(step_changes(Some(&after), &retried).len(), 1);
    }

    #[tokio::test]
    async fn the_watch_of_a_finished_run_is_its_snapshot_then_ends() {
        use futures_util::StreamExt;
        let path = std::env::temp_dir().join(format!("cc-watch-{}.db", Uuid::new_v4()));
        let store = std::sync::Arc::new(isoqube::SqliteStore::open(&path).await.expect("store"));
        let op = Operator::new(
            store.clone(),
            std::sync::Arc::new(isoqube::InProcessTransport::new()),
        )
        .expect("operator");
        let mut r = run();
        r.status = isoqube::RunStatus::Failed;
        r.steps[0].status = StepStatus::Failed;
        isoqube::RunStore::insert_run(store.as_ref(), &r)
            .await
            .expect("stored");
        let all: Vec<RunChange> = op
            .watch(r.id, WatchFrom::default())
            .map(|c| c.expect("no error"))
            .collect()
            .await;
        assert!(
            matches!(&all[0], RunChange::Step(c) if c.index == 0 && c.status == StepStatus::Failed),
            "{all:?}"
        );
        assert!(
            matches!(&all[1], RunChange::Snapshot(s) if s.id == r.id),
            "{all:?}"
        );
        assert_eq!(all.len(), 2, "{all:?}");
        // A follower that saw this version gets nothing more.
        let seen = WatchFrom {
            seen: Some(r.version),
            ..WatchFrom::default()
        };
        assert_eq!(op.watch(r.id, seen).count().await, 0);
        // An unknown run is the stream's one error.
        let missing: Vec<_> = op
            .watch(Uuid::new_v4(), WatchFrom::default())
            .collect()
            .await;
        assert!(
            matches!(missing.as_slice(), [Err(isoqube::Error::NotFound { .. })]),
            "{missing:?}"
        );
    }
}
