//! Whether requeueing an error-queue message of a run would do anything, and
//! what: the control center's side of the model's claim rules
//! (`isoqube::model::transition` for a step, `model::compensation` for an
//! undo). A message published again is only claimed while its run is in the
//! state that runs it (a step: `Pending`/`Running`; an undo:
//! `Compensating`); anywhere else the service would drop it ("run is X; step
//! not run"), so the requeue resumes the run when a resume runs that message's
//! step or undo again, and is refused, saying why, when nothing would.
//!
//! Pure: it reads a run record and decides; [`super::Operator`] acts.

use isoqube::{Run, RunStatus, StepStatus};

/// What requeueing a message of a run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Plan {
    /// Publish it to its endpoint again: the run is where its claim runs it.
    Publish,
    /// Resume the run (which publishes the step, or the undo, anew) and
    /// remove the message.
    Resume,
    /// Nothing would run it: refused, with why and what to do instead.
    Refuse(String),
}

/// The message of step `index` of `run` (its undo when `undo`): what a
/// requeue of it does.
pub(super) fn plan(run: &Run, index: usize, undo: bool) -> Plan {
    let n = index + 1;
    let Some(step) = run.steps.get(index) else {
        return Plan::Refuse(format!(
            "run {} has {} steps, and this message names step {n}; discard it",
            run.id,
            run.steps.len()
        ));
    };
    if undo {
        return plan_undo(run, step, n);
    }
    if step.status == StepStatus::Succeeded {
        return Plan::Refuse(format!(
            "step {n} ({}) of run {} has succeeded since; nothing to requeue \
             (`errors discard --settled --yes` removes such messages)",
            step.event, run.id
        ));
    }
    let id = run.id;
    match run.status {
        RunStatus::Pending | RunStatus::Running => Plan::Publish,
        RunStatus::Failed | RunStatus::Cancelled => {
            // A resume makes every unsettled step pending and publishes those
            // whose predecessors are settled: this one, when it is among them.
            if !step.settled() && run.not_due(index).is_none() {
                return Plan::Resume;
            }
            let at = run
                .steps
                .iter()
                .find(|s| !s.settled() && run.not_due(s.index).is_none())
                .map_or_else(String::new, |s| format!(" at step {}", s.index + 1));
            Plan::Refuse(format!(
                "run {id} is {}{at}, and a resume would not run this message's step {n} \
                 ({}) now; resume the run (`runs resume {id}`) instead",
                run.status.as_str(),
                step.event
            ))
        }
        RunStatus::Succeeded => Plan::Refuse(format!(
            "run {id} has succeeded; its step {n} ({}) would not run again \
             (discard the message)",
            step.event
        )),
        RunStatus::Compensating => Plan::Refuse(format!(
            "run {id} is Compensating (undoing what it did), so its step {n} ({}) \
             would not run; wait for it to end, then re-run it (`runs rerun {id}`)",
            step.event
        )),
        RunStatus::Compensated => Plan::Refuse(format!(
            "run {id} was compensated (what it did is undone), so its step {n} ({}) \
             would not run; re-run it (`runs rerun {id}`) and discard the message",
            step.event
        )),
        RunStatus::CompensationFailed => Plan::Refuse(format!(
            "run {id} is CompensationFailed: its steps no longer run, so its step {n} \
             ({}) would not; resume the run (`runs resume {id}`) to retry its undos",
            step.event
        )),
    }
}

/// [`plan`] for the undo of `step` (numbered `n`).
fn plan_undo(run: &Run, step: &isoqube::model::Step, n: usize) -> Plan {
    let id = run.id;
    let Some(undo) = step.compensation.as_ref() else {
        return Plan::Refuse(format!(
            "this message undoes step {n} ({}) of run {id}, which has no compensation; \
             discard it",
            step.event
        ));
    };
    let what = format!("the undo of step {n} ({}, by {})", step.event, undo.event);
    if undo.status == StepStatus::Succeeded {
        return Plan::Refuse(format!(
            "{what} of run {id} has succeeded since; nothing to requeue \
             (`errors discard --settled --yes` removes such messages)"
        ));
    }
    match run.status {
        RunStatus::Compensating => Plan::Publish,
        RunStatus::CompensationFailed if undo.status == StepStatus::Failed => Plan::Resume,
        RunStatus::CompensationFailed => Plan::Refuse(format!(
            "run {id} is CompensationFailed, and {what} is {}, not the failed one; \
             resume the run (`runs resume {id}`) instead",
            undo.status.as_str()
        )),
        other => Plan::Refuse(format!(
            "run {id} is {}, not undoing what it did, so {what} would not run \
             (discard the message)",
            other.as_str()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoqube::StepDef;
    use isoqube::{Definition, Variables};

    /// `A` (undone by `UndoA`), then `B`.
    fn run(status: RunStatus, a: StepStatus, undo_a: StepStatus, b: StepStatus) -> Run {
        let mut def = Definition::new("d", ["A", "B"]);
        def.steps[0] = StepDef {
            compensate: Some("UndoA".into()),
            ..def.steps[0].clone()
        };
        let mut run = Run::new(&def, Variables::new(), "test");
        run.status = status;
        run.steps[0].status = a;
        run.steps[1].status = b;
        if let Some(c) = run.steps[0].compensation.as_mut() {
            c.status = undo_a;
        }
        run
    }

    fn refused(p: Plan, needle: &str) {
        match p {
            Plan::Refuse(why) => assert!(why.contains(needle), "{why}"),
            other => panic!("not refused: {other:?}"),
        }
    }

    use RunStatus as R;
    use StepStatus as S;

    #[test]
    fn a_step_runs_only_where_its_claim_would_run_it() {
        let p = |st, b| plan(&run(st, S::Succeeded, S::Pending, b), 1, false);
        assert_eq!(p(R::Running, S::Failed), Plan::Publish);
        assert_eq!(p(R::Failed, S::Failed), Plan::Resume);
        assert_eq!(p(R::Cancelled, S::Cancelled), Plan::Resume);
        refused(p(R::Compensated, S::Failed), "was compensated");
        refused(p(R::Compensating, S::Failed), "is Compensating");
        refused(p(R::CompensationFailed, S::Failed), "CompensationFailed");
        refused(p(R::Succeeded, S::Failed), "has succeeded");
        refused(p(R::Running, S::Succeeded), "succeeded since");
        // Step 2 waits for step 1, which did not succeed: a resume runs 1.
        let early = run(R::Failed, S::Failed, S::Pending, S::Skipped);
        refused(plan(&early, 1, false), "at step 1");
        assert_eq!(plan(&early, 0, false), Plan::Resume);
    }

    #[test]
    fn an_undo_is_decided_on_its_own_record() {
        let p = |st, undo| plan(&run(st, S::Succeeded, undo, S::Failed), 0, true);
        assert_eq!(p(R::CompensationFailed, S::Failed), Plan::Resume);
        assert_eq!(p(R::Compensating, S::Failed), Plan::Publish);
        refused(p(R::Compensated, S::Succeeded), "succeeded since");
        refused(p(R::CompensationFailed, S::Skipped), "not the failed one");
        refused(p(R::Failed, S::Skipped), "not undoing");
        // The forward step succeeded; that does not settle its undo.
        assert_ne!(
            plan(
                &run(R::CompensationFailed, S::Succeeded, S::Failed, S::Failed),
                0,
                true
            ),
            plan(
                &run(R::CompensationFailed, S::Succeeded, S::Failed, S::Failed),
                0,
                false
            )
        );
        refused(
            plan(
                &run(R::Compensating, S::Succeeded, S::Pending, S::Failed),
                1,
                true,
            ),
            "no compensation",
        );
    }
}
