//! The stuck rule: which `Invoked` steps nobody can finish any more.
use std::collections::HashMap;

use chrono::TimeZone;

use super::*;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0)
        .single()
        .expect("time")
}

const MIN: i64 = 60;

/// A two-step run whose first step `ep` claimed on `instance` at `at`.
fn invoked(ep: &str, instance: &str, at: DateTime<Utc>) -> Run {
    let mut run = Run::new(&Definition::new("d", ["A", "B"]), Variables::new(), "test");
    run.claim(&StepKey::new(run.id, 0, ep, instance), false, at)
        .expect("claim");
    run
}

fn rule() -> StuckRule {
    StuckRule::default()
}

fn beats(pairs: &[(&str, DateTime<Utc>)]) -> HashMap<String, DateTime<Utc>> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn stuck(run: &Run, now: DateTime<Utc>, beats: &HashMap<String, DateTime<Utc>>) -> Vec<StuckStep> {
    run.stuck_steps(now, |id| beats.get(id).copied(), &rule())
}

#[test]
fn defaults_are_five_minutes_and_twenty_seconds() {
    assert_eq!(rule().after, Duration::from_secs(300));
    assert_eq!(rule().alive_within, Duration::from_secs(20));
    assert_eq!(
        StuckRule::after(Duration::from_secs(9)).alive_within,
        rule().alive_within
    );
}

#[test]
fn a_live_handler_is_never_stuck_however_long_the_step_takes() {
    let run = invoked("a", "svc@h:1:x", t(0));
    let now = t(600 * MIN);
    assert!(stuck(
        &run,
        now,
        &beats(&[("svc@h:1:x", now - chrono::Duration::seconds(5))])
    )
    .is_empty());
    // exactly at the liveness bound still counts as alive
    assert!(stuck(
        &run,
        now,
        &beats(&[("svc@h:1:x", now - chrono::Duration::seconds(20))])
    )
    .is_empty());
}

#[test]
fn a_gone_handler_is_stuck_after_the_bound_counted_from_its_start() {
    let run = invoked("a", "svc@h:1:x", t(0));
    let none = beats(&[]);
    assert!(
        stuck(&run, t(5 * MIN), &none).is_empty(),
        "exactly the bound: not yet"
    );
    let found = stuck(&run, t(5 * MIN + 1), &none);
    assert_eq!(
        found,
        vec![StuckStep {
            run_id: run.id,
            step: 0,
            event: "A".into(),
            endpoint: Some("a".into()),
            instance: Some("svc@h:1:x".into()),
            since: t(0),
            reason: StuckReason::HandlerGone,
        }]
    );
}

#[test]
fn a_silent_handler_is_stuck_after_the_bound_counted_from_its_last_heartbeat() {
    let run = invoked("a", "svc@h:1:x", t(0));
    let last = beats(&[("svc@h:1:x", t(10 * MIN))]);
    // silent (older than 20 s) but not for 5 minutes yet
    assert!(stuck(&run, t(10 * MIN + 30), &last).is_empty());
    assert!(stuck(&run, t(15 * MIN), &last).is_empty());
    let found = stuck(&run, t(15 * MIN + 1), &last);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].since, found[0].reason),
        (t(10 * MIN), StuckReason::HandlerSilent)
    );
    // a heartbeat older than the handler's start: the start is the last sign of life
    let run = invoked("a", "svc@h:1:x", t(20 * MIN));
    let found = stuck(&run, t(26 * MIN), &last);
    assert_eq!(
        (found[0].since, found[0].reason),
        (t(20 * MIN), StuckReason::HandlerSilent)
    );
}

#[test]
fn one_live_handler_of_a_fanned_out_step_keeps_it_going() {
    let mut run = invoked("a", "gone@h:1:x", t(0));
    run.claim(&StepKey::new(run.id, 0, "b", "live@h:2:y"), false, t(1))
        .expect("claim");
    let now = t(60 * MIN);
    assert!(stuck(&run, now, &beats(&[("live@h:2:y", now)])).is_empty());
    // both gone: the one started last names the step
    let found = stuck(&run, now, &beats(&[]));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].instance.as_deref(), Some("live@h:2:y"));
    assert_eq!(found[0].since, t(1));
}

#[test]
fn a_step_without_an_invoked_handler_is_stuck_from_its_invocation() {
    let mut run = invoked("a", "svc@h:1:x", t(0));
    run.steps[0].handlers.clear();
    assert!(stuck(&run, t(5 * MIN), &beats(&[])).is_empty());
    let found = stuck(&run, t(5 * MIN + 1), &beats(&[("svc@h:1:x", t(5 * MIN))]));
    assert_eq!(found.len(), 1);
    assert_eq!(
        (
            found[0].endpoint.as_deref(),
            found[0].instance.as_deref(),
            found[0].reason
        ),
        (None, None, StuckReason::HandlerUnknown)
    );
    assert_eq!(found[0].since, t(0));
}

#[test]
fn only_invoked_steps_of_running_runs_are_stuck() {
    let none = beats(&[]);
    let late = t(100 * MIN);
    // pending: no step picked up
    let pending = Run::new(&Definition::new("d", ["A"]), Variables::new(), "test");
    assert!(stuck(&pending, late, &none).is_empty());
    // a succeeded step waits for nobody
    let mut run = invoked("a", "svc@h:1:x", t(0));
    let key = StepKey::new(run.id, 0, "a", "svc@h:1:x");
    run.complete(&key, Variables::new(), 1, t(1))
        .expect("complete");
    assert!(stuck(&run, t(2), &none).is_empty());
    // failed and cancelled runs are finished, not stuck
    let mut failed = invoked("a", "svc@h:1:x", t(0));
    failed.abort("broken", t(1)).expect("abort");
    assert!(stuck(&failed, late, &none).is_empty());
    let mut cancelled = invoked("a", "svc@h:1:x", t(0));
    cancelled.cancel(t(1)).expect("cancel");
    assert!(stuck(&cancelled, late, &none).is_empty());
}

#[test]
fn a_due_step_nobody_picks_up_is_stuck_after_the_bound_counted_from_its_predecessor() {
    let none = beats(&[]);
    let mut run = invoked("a", "svc@h:1:x", t(0));
    let key = StepKey::new(run.id, 0, "a", "svc@h:1:x");
    run.complete(&key, Variables::new(), 1, t(MIN))
        .expect("complete");
    assert!(
        stuck(&run, t(5 * MIN), &none).is_empty(),
        "within the bound"
    );
    let found = stuck(&run, t(7 * MIN), &none);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].step, found[0].reason, found[0].since),
        (1, StuckReason::NotPickedUp, t(MIN))
    );
    assert_eq!(found[0].endpoint, None);
    // Picked up: then the handler rule applies (here, a live instance).
    run.claim(
        &StepKey::new(run.id, 1, "b", "svc@h:2:y"),
        false,
        t(8 * MIN),
    )
    .expect("claim");
    let live = beats(&[("svc@h:2:y", t(9 * MIN))]);
    assert!(stuck(&run, t(9 * MIN), &live).is_empty());
}

#[test]
fn a_clock_behind_the_records_is_not_stuck() {
    let run = invoked("a", "svc@h:1:x", t(10 * MIN));
    assert!(stuck(&run, t(0), &beats(&[])).is_empty());
}

/// A compensating run: a compensation on a gone instance is stuck, and so
/// is one that is due but was never picked up; one on a live instance is not.
#[test]
fn compensations_are_judged_like_steps() {
    let def = Definition::new(
        "d",
        [StepDef::new("A").compensate("Undo"), StepDef::new("B")],
    );
    let mut run = Run::new(&def, Variables::new(), "test");
    let a = StepKey::new(run.id, 0, "a", "svc@h:1:a");
    run.claim(&a, false, t(0)).unwrap();
    run.complete(&a, Variables::new(), 1, t(1)).unwrap();
    let b = StepKey::new(run.id, 1, "b", "svc@h:1:a");
    run.claim(&b, false, t(2)).unwrap();
    run.fail(&b, "boom", 1, t(3)).unwrap();
    assert_eq!(run.status, RunStatus::Compensating);
    // Due, never picked up: stuck once the failure is old enough.
    assert!(stuck(&run, t(3 + 4 * MIN), &beats(&[])).is_empty());
    let lost = stuck(&run, t(3 + 6 * MIN), &beats(&[]));
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0].event, "Undo");
    assert_eq!(lost[0].reason, StuckReason::NotPickedUp);
    assert_eq!(lost[0].since, t(3));
    // Picked up on an instance that then went away.
    let undo = StepKey::new(run.id, 0, "undo", "svc@h:2:b").compensating();
    run.claim(&undo, false, t(10)).unwrap();
    let now = t(10 + 6 * MIN);
    assert!(stuck(&run, now, &beats(&[("svc@h:2:b", now)])).is_empty());
    let gone = stuck(&run, now, &beats(&[]));
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert_eq!(gone[0].reason, StuckReason::HandlerGone);
    assert_eq!(gone[0].instance.as_deref(), Some("svc@h:2:b"));
}

#[test]
fn a_live_handler_past_its_deadline_and_the_margin_is_stuck() {
    let mut run = Run::new(&Definition::new("d", ["A", "B"]), Variables::new(), "test");
    // Two attempts of four minutes, two minutes between them.
    let budget = Budget {
        default_timeout_ms: Some(4 * 60_000),
        attempts: 2,
        delays_ms: 2 * 60_000,
    };
    let key = StepKey::new(run.id, 0, "a", "svc@h:1:x").within(budget);
    run.claim(&key, false, t(0)).expect("claim");
    assert_eq!(run.steps[0].handlers[0].deadline, Some(t(10 * MIN)));
    let live = |now: DateTime<Utc>| beats(&[("svc@h:1:x", now - chrono::Duration::seconds(5))]);
    // Within its deadline, and within the margin past it: running.
    let now = t(10 * MIN);
    assert!(stuck(&run, now, &live(now)).is_empty());
    let now = t(15 * MIN);
    assert!(stuck(&run, now, &live(now)).is_empty());
    // More than the margin past it: hung, though its instance beats.
    let now = t(15 * MIN + 1);
    let found = stuck(&run, now, &live(now));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].reason, StuckReason::PastDeadline);
    assert_eq!(found[0].since, t(10 * MIN));
    assert_eq!(found[0].instance.as_deref(), Some("svc@h:1:x"));
    // A redelivery picked up elsewhere sets a new deadline: running again.
    let again = StepKey::new(run.id, 0, "a", "svc@h:2:y").within(budget);
    run.claim(&again, true, now).expect("claim again");
    let both = beats(&[("svc@h:1:x", now), ("svc@h:2:y", now)]);
    assert!(stuck(&run, now, &both).is_empty());
}

/// A run waiting for a signal: never stuck before its deadline (nor ever
/// without one), however long it waits; stuck once its deadline passed
/// longer than the bound ago and it still waits (no timer fired it).
#[test]
fn a_waiting_step_is_stuck_only_past_its_deadline_and_the_bound() {
    let none = beats(&[]);
    let def = |timeout| {
        Definition::new(
            "d",
            [
                StepDef::new("Approval").waiting(WaitDef {
                    correlate: None,
                    timeout,
                }),
                StepDef::new("B"),
            ],
        )
    };
    let mut forever = Run::new(&def(None), Variables::new(), "test");
    forever.status = RunStatus::Running;
    forever.created_at = t(0);
    assert_eq!(forever.steps[0].status, StepStatus::Waiting);
    assert!(stuck(&forever, t(100_000 * MIN), &none).is_empty());

    let mut two_days = Run::new(
        &def(Some(Duration::from_secs(48 * 3600))),
        Variables::new(),
        "test",
    );
    two_days.status = RunStatus::Running;
    two_days.created_at = t(0);
    let until = t(48 * 60 * MIN);
    if let Some(w) = two_days.steps[0].wait.as_mut() {
        w.until = Some(until);
    }
    for now in [
        t(10 * MIN),
        t(47 * 60 * MIN),
        until,
        until + chrono::Duration::minutes(5),
    ] {
        assert!(stuck(&two_days, now, &none).is_empty(), "at {now}");
    }
    let found = stuck(&two_days, until + chrono::Duration::minutes(6), &none);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].step, found[0].reason, found[0].since),
        (0, StuckReason::TimerNotFired, until)
    );
}
