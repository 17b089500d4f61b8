//! Holds and delayed starts, tested without any store.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::*;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("a time")
}

fn key(run: &Run, step: usize) -> StepKey {
    StepKey::new(run.id, step, "ep", "h")
}

fn succeed(run: &mut Run, step: usize, now: DateTime<Utc>) -> CompleteOutcome {
    let k = key(run, step);
    run.claim(&k, false, now).expect("claim");
    run.complete(&k, Variables::new(), 1, now)
        .expect("complete")
}

/// Build -> Deploy (held `delay`) -> Notify.
fn delayed_run(delay: Duration) -> Run {
    let def = Definition::new(
        "delayed",
        [
            StepDef::new("Build"),
            StepDef::new("Deploy").delayed(delay),
            StepDef::new("Notify"),
        ],
    );
    Run::new(&def, Variables::new(), "test")
}

#[test]
fn a_held_step_is_published_when_its_delay_is_over() {
    let mut run = delayed_run(Duration::from_secs(600));
    let now = at("2026-12-08T10:00:00Z");
    let out = succeed(&mut run, 0, now);
    assert_eq!(
        out,
        CompleteOutcome::Advanced { next: vec![] },
        "held, not published"
    );
    assert_eq!(run.steps[1].status, StepStatus::Waiting);
    assert_eq!(run.wake_at, Some(at("2026-12-08T10:10:00Z")));
    // a copy of its message before its time is refused, nothing recorded
    let early = run.claim(&key(&run, 1), false, now).unwrap();
    assert!(
        matches!(early, ClaimOutcome::NotDue { waits_for: 1, .. }),
        "{early:?}"
    );
    assert!(run.fire_timers(at("2026-12-08T10:09:59Z")).is_empty());
    let next = run.fire_timers(at("2026-12-08T10:10:00Z"));
    assert_eq!(next.iter().map(|n| n.index).collect::<Vec<_>>(), [1]);
    assert_eq!(run.steps[1].status, StepStatus::Pending);
    assert_eq!(run.wake_at, None);
    assert!(
        run.fire_timers(at("2026-12-08T11:00:00Z")).is_empty(),
        "fired once"
    );
    succeed(&mut run, 1, at("2026-12-08T10:10:01Z"));
    succeed(&mut run, 2, at("2026-12-08T10:10:02Z"));
    assert_eq!(run.status, RunStatus::Succeeded);
}

#[test]
fn a_step_not_before_a_time_of_day_waits_for_its_next_occurrence() {
    let def = Definition::new(
        "nightly",
        [
            StepDef::new("Build"),
            StepDef::new("Deploy").not_before("02:00"),
        ],
    );
    let mut run = Run::new(&def, Variables::new(), "test");
    succeed(&mut run, 0, at("2026-12-08T03:00:00Z"));
    assert_eq!(run.wake_at, Some(at("2026-12-09T02:00:00Z")));
    let def = Definition::new(
        "berlin",
        [
            StepDef::new("Build"),
            StepDef::new("Deploy").not_before("02:00 Europe/Berlin"),
        ],
    );
    let mut run = Run::new(&def, Variables::new(), "test");
    succeed(&mut run, 0, at("2026-12-08T00:30:00Z"));
    assert_eq!(
        run.wake_at,
        Some(at("2026-12-08T01:00:00Z")),
        "02:00 in Berlin is 01:00 UTC"
    );
}

#[test]
fn a_delayed_start_publishes_the_first_steps_at_its_time() {
    let approve = StepDef::new("Approve")
        .after(Vec::<String>::new())
        .waiting(WaitDef {
            correlate: None,
            timeout: Some(Duration::from_secs(60)),
        });
    let def = Definition::new("later", [StepDef::new("Build"), approve]);
    let mut run = Run::new(&def, Variables::new(), "test");
    let start = at("2026-12-08T12:00:00Z");
    run.delay_start(start);
    assert_eq!(run.status, RunStatus::Pending);
    assert_eq!(
        run.steps[1].status,
        StepStatus::Pending,
        "the wait begins at the start"
    );
    assert_eq!(run.wake_at, Some(start));
    assert!(run.fire_timers(at("2026-12-08T11:59:59Z")).is_empty());
    let first = run.fire_timers(start);
    assert_eq!(first.iter().map(|n| n.index).collect::<Vec<_>>(), [0]);
    assert_eq!(run.start_at, None);
    assert_eq!(run.steps[1].status, StepStatus::Waiting);
    assert_eq!(
        run.wake_at,
        Some(at("2026-12-08T12:01:00Z")),
        "now the wait's deadline"
    );
    assert!(run.fire_timers(start).is_empty(), "started once");
}

#[test]
fn a_cancelled_delayed_run_never_starts() {
    let mut run = delayed_run(Duration::from_secs(1));
    run.delay_start(at("2026-12-08T12:00:00Z"));
    run.cancel(at("2026-12-08T11:00:00Z")).unwrap();
    assert_eq!(run.wake_at, None);
    assert!(run.fire_timers(at("2026-12-08T13:00:00Z")).is_empty());
}

#[test]
fn holds_are_written_and_read_as_a_definition_says_them() {
    let step: StepDef =
        serde_json::from_str(r#"{"event": "Deploy", "delay": "10m", "not_before": "02:00"}"#)
            .unwrap();
    let hold = step.hold.clone().expect("a hold");
    assert_eq!(hold.delay, Some(Duration::from_secs(600)));
    assert_eq!(hold.not_before.as_deref(), Some("02:00"));
    assert_eq!(
        serde_json::to_value(&step).unwrap(),
        serde_json::json!({"event": "Deploy", "delay": "10m", "not_before": "02:00"})
    );
    for (text, says) in [
        (
            r#"{"event": "D", "not_before": "25:00"}"#,
            "not a time of day",
        ),
        (
            r#"{"event": "D", "not_before": "02:00 Mars/Base"}"#,
            "time zone",
        ),
        (r#"{"event": "D", "delay": "soon"}"#, "not a duration"),
        (
            r#"{"wait_for": "A", "timeout": "1h", "delay": "1m"}"#,
            "cannot have delay",
        ),
    ] {
        let err = serde_json::from_str::<StepDef>(text)
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{text}: {err}");
    }
    let mut run = delayed_run(Duration::from_secs(5));
    run.delay_start(Utc::now());
    succeed(&mut run, 0, Utc::now());
    let hand = run.to_json_keeping(&mut KeptSteps::default());
    assert_eq!(hand, serde_json::to_string(&run).unwrap());
    assert_eq!(serde_json::from_str::<Run>(&hand).unwrap(), run);
}
