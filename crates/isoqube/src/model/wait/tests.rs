//! Wait steps' transitions, tested without any store: signals (on time,
//! early, twice, unmatched), deadlines (failing, tolerated), the definition
//! forms, and the run's document.

use std::time::Duration;

use chrono::Utc;

use super::*;

fn key(run: &Run, step: usize) -> StepKey {
    StepKey::new(run.id, step, "ep", "h")
}

fn succeed(run: &mut Run, step: usize) -> CompleteOutcome {
    let k = key(run, step);
    run.claim(&k, false, Utc::now()).expect("claim");
    run.complete(&k, Variables::new(), 1, Utc::now())
        .expect("complete")
}

fn approve(timeout: Option<Duration>) -> StepDef {
    StepDef::new("Approve").waiting(WaitDef {
        correlate: None,
        timeout,
    })
}

/// Build (undone by Unbuild) -> Approve (a wait of an hour) -> Deploy.
fn release(optional: bool) -> Run {
    let mut wait = approve(Some(Duration::from_secs(3600)));
    wait.optional = optional;
    let def = Definition::new(
        "release",
        [
            StepDef::new("Build").compensate("Unbuild"),
            wait,
            StepDef::new("Deploy"),
        ],
    );
    Run::new(&def, Variables::new(), "test")
}

fn approval(data: &[(&str, i64)]) -> Signal {
    let data = data
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    Signal::new("Approve", data, "test")
}

fn indices(next: &[NextStep]) -> Vec<usize> {
    next.iter().map(|n| n.index).collect()
}

#[test]
fn a_due_wait_publishes_nothing_and_waits_until_its_deadline() {
    let mut run = release(false);
    let out = succeed(&mut run, 0);
    assert_eq!(out, CompleteOutcome::Advanced { next: vec![] });
    assert_eq!(run.steps[1].status, StepStatus::Waiting);
    let until = run.steps[1].wait.as_ref().and_then(|w| w.until);
    let expected = run.steps[1]
        .invoked_at
        .map(|t| t + chrono::Duration::hours(1));
    assert_eq!(until, expected);
    assert_eq!(run.wake_at, until);
}

#[test]
fn a_signal_completes_the_wait_and_merges_its_data() {
    let mut run = release(false);
    succeed(&mut run, 0);
    let out = run.signal(&approval(&[("ticket", 7)]), Utc::now()).unwrap();
    match out {
        SignalOutcome::Completed { step: 1, next } => assert_eq!(indices(&next), [2]),
        other => panic!("{other:?}"),
    }
    assert_eq!(run.steps[1].status, StepStatus::Succeeded);
    assert_eq!(run.variables.get("ticket"), Some(&serde_json::json!(7)));
    assert_eq!(run.steps[1].handled_by.as_deref(), Some("signal@test"));
    assert_eq!(run.wake_at, None);
    succeed(&mut run, 2);
    assert_eq!(run.status, RunStatus::Succeeded);
}

#[test]
fn an_early_signal_is_kept_and_completes_the_wait_when_it_is_due() {
    let mut run = release(false);
    let early = approval(&[("ticket", 1)]);
    assert_eq!(
        run.signal(&early, Utc::now()).unwrap(),
        SignalOutcome::Kept { step: 1 }
    );
    assert_eq!(run.signals.len(), 1);
    // the same signal again (a retried call) is still kept, once
    assert_eq!(
        run.signal(&early, Utc::now()).unwrap(),
        SignalOutcome::Kept { step: 1 }
    );
    assert_eq!(run.signals.len(), 1);
    // Build succeeds: the wait is due and done at once; Deploy is due
    let out = succeed(&mut run, 0);
    assert_eq!(
        indices(match &out {
            CompleteOutcome::Advanced { next } => next,
            other => panic!("{other:?}"),
        }),
        [2]
    );
    assert_eq!(run.steps[1].status, StepStatus::Succeeded);
    assert!(run.signals.is_empty());
    assert_eq!(run.variables.get("ticket"), Some(&serde_json::json!(1)));
}

#[test]
fn a_signal_taken_twice_acts_once() {
    let mut run = release(false);
    succeed(&mut run, 0);
    let signal = approval(&[]);
    let first = run.signal(&signal, Utc::now()).unwrap();
    assert!(matches!(first, SignalOutcome::Completed { step: 1, .. }));
    let version = run.version;
    // Deploy was never picked up: the replay names it to publish again
    let again = run.signal(&signal, Utc::now()).unwrap();
    match again {
        SignalOutcome::AlreadyDone { republish } => assert_eq!(indices(&republish), [2]),
        other => panic!("{other:?}"),
    }
    assert_eq!(run.version, version, "a replay changes nothing");
    // once Deploy is picked up, nothing is published again
    run.claim(&key(&run, 2), false, Utc::now()).unwrap();
    assert_eq!(
        run.signal(&signal, Utc::now()).unwrap(),
        SignalOutcome::AlreadyDone { republish: vec![] }
    );
}

#[test]
fn a_signal_nothing_waits_for_matches_nothing_and_changes_nothing() {
    let def = Definition::new("plain", ["Build"]);
    let mut run = Run::new(&def, Variables::new(), "test");
    let version = run.version;
    let out = run.signal(&approval(&[]), Utc::now()).unwrap();
    assert!(
        matches!(&out, SignalOutcome::NoMatch(why) if why.contains("waits for Approve")),
        "{out:?}"
    );
    assert_eq!(run.version, version);
    // a second wait of the same event, once the first is done, is not waiting
    let mut run = release(false);
    succeed(&mut run, 0);
    run.signal(&approval(&[]), Utc::now()).unwrap();
    let out = run.signal(&approval(&[]), Utc::now()).unwrap();
    assert!(matches!(out, SignalOutcome::NoMatch(_)), "{out:?}");
}

#[test]
fn a_finished_run_takes_no_signal() {
    let mut run = release(false);
    run.cancel(Utc::now()).unwrap();
    let out = run.signal(&approval(&[]), Utc::now()).unwrap();
    assert!(
        matches!(&out, SignalOutcome::NoMatch(why) if why.contains("Cancelled")),
        "{out:?}"
    );
}

#[test]
fn a_wait_past_its_deadline_fails_the_run_which_compensates() {
    let mut run = release(false);
    succeed(&mut run, 0);
    let deadline = run.wake_at.expect("a deadline");
    // before the deadline a timer changes nothing
    assert!(run
        .fire_timers(deadline - chrono::Duration::seconds(1))
        .is_empty());
    assert_eq!(run.steps[1].status, StepStatus::Waiting);
    let next = run.fire_timers(deadline);
    assert_eq!(run.status, RunStatus::Compensating);
    assert_eq!(run.steps[1].status, StepStatus::Failed);
    let error = run.steps[1].last_error.clone().unwrap_or_default();
    assert!(error.contains("waited 1h for Approve"), "{error}");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].event, "Unbuild");
    assert_eq!(run.wake_at, None);
    // fired again (another process): nothing more
    let version = run.version;
    assert!(run.fire_timers(deadline).is_empty());
    assert_eq!(run.version, version);
    // a signal after the deadline is no longer taken
    let late = run.signal(&approval(&[]), Utc::now()).unwrap();
    assert!(matches!(late, SignalOutcome::NoMatch(_)), "{late:?}");
}

#[test]
fn an_optional_wait_past_its_deadline_lets_the_run_go_on() {
    let mut run = release(true);
    succeed(&mut run, 0);
    let deadline = run.wake_at.expect("a deadline");
    let next = run.fire_timers(deadline);
    assert_eq!(indices(&next), [2]);
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.steps[1].status, StepStatus::Failed);
    succeed(&mut run, 2);
    assert_eq!(run.status, RunStatus::Succeeded);
}

#[test]
fn a_wait_without_deadline_never_wakes_the_run() {
    let def = Definition::new("forever", [approve(None), StepDef::new("Deploy")]);
    let mut run = Run::new(&def, Variables::new(), "test");
    // the first step waits from the start
    assert_eq!(run.steps[0].status, StepStatus::Waiting);
    assert_eq!(run.status, RunStatus::Running);
    assert!(run.start_steps().is_empty());
    assert_eq!(run.wake_at, None);
    assert!(run
        .fire_timers(Utc::now() + chrono::Duration::days(3650))
        .is_empty());
}

#[test]
fn a_cancelled_wait_is_shown_cancelled_and_a_resumed_one_waits_again() {
    let mut run = release(false);
    succeed(&mut run, 0);
    run.cancel(Utc::now()).unwrap();
    assert_eq!(run.steps[1].status, StepStatus::Cancelled);
    assert_eq!(run.wake_at, None);
    let next = run.resume(Utc::now()).unwrap();
    assert!(next.is_empty(), "a wait publishes nothing: {next:?}");
    assert_eq!(run.steps[1].status, StepStatus::Waiting);
    assert!(run.wake_at.is_some());
}

#[test]
fn a_wait_given_up_by_a_failure_elsewhere_is_skipped() {
    // A and the wait start together; A fails: the run compensates, the wait is skipped
    let def = Definition::new(
        "fork",
        [
            StepDef::new("A"),
            approve(Some(Duration::from_secs(60))).after(Vec::<String>::new()),
        ],
    );
    let mut run = Run::new(&def, Variables::new(), "test");
    assert_eq!(run.steps[1].status, StepStatus::Waiting);
    let k = key(&run, 0);
    run.claim(&k, false, Utc::now()).unwrap();
    run.fail(&k, "boom", 1, Utc::now()).unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.steps[1].status, StepStatus::Skipped);
    assert_eq!(run.wake_at, None);
}

#[test]
fn the_document_of_a_waiting_run_is_serde_jsons_and_reads_back() {
    let mut run = release(false);
    run.signal(&approval(&[("n", 1)]), Utc::now()).unwrap();
    succeed(&mut run, 0);
    let mut other = release(false);
    succeed(&mut other, 0);
    other.signals.push(approval(&[("n", 2)]));
    for run in [run, other] {
        let hand = run.to_json_keeping(&mut KeptSteps::default());
        assert_eq!(hand, serde_json::to_string(&run).unwrap());
        let back: Run = serde_json::from_str(&hand).unwrap();
        assert_eq!(back, run);
    }
}

#[test]
fn a_wait_step_is_written_and_read_as_a_definition_says_it() {
    let step: StepDef = serde_json::from_str(
        r#"{"name": "approval", "wait_for": "Approve", "timeout": "48h", "correlate": "order_id"}"#,
    )
    .unwrap();
    assert_eq!(step.event, "Approve");
    let wait = step.wait.clone().expect("a wait");
    assert_eq!(wait.timeout, Some(Duration::from_secs(48 * 3600)));
    assert_eq!(wait.correlate.as_deref(), Some("order_id"));
    assert_eq!(
        serde_json::to_value(&step).unwrap(),
        serde_json::json!({"name": "approval", "wait_for": "Approve", "timeout": "2d", "correlate": "order_id"})
    );
    let never: StepDef =
        serde_json::from_str(r#"{"wait_for": "Approve", "timeout": "never"}"#).unwrap();
    assert_eq!(never.wait.and_then(|w| w.timeout), None);
    // a duration's text is a timeout for any step
    let build: StepDef = serde_json::from_str(r#"{"event": "Build", "timeout": "10m"}"#).unwrap();
    assert_eq!(build.timeout, Some(Duration::from_secs(600)));
}

#[test]
fn a_wait_step_written_wrong_is_refused_with_the_reason() {
    for (text, says) in [
        (r#"{"wait_for": "Approve"}"#, "needs a timeout"),
        (
            r#"{"event": "A", "wait_for": "Approve", "timeout": 5}"#,
            "both event and wait_for",
        ),
        (
            r#"{"event": "Build", "timeout": "never"}"#,
            "is for a wait step",
        ),
        (
            r#"{"event": "Build", "correlate": "id"}"#,
            "is for a wait step",
        ),
        (
            r#"{"wait_for": "Approve", "timeout": "soon"}"#,
            "not a duration",
        ),
        (r#"{"name": "x"}"#, "names no event"),
    ] {
        let err = serde_json::from_str::<StepDef>(text)
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{text}: {err}");
    }
}

#[test]
fn spans_are_read_and_written_as_people_write_them() {
    assert_eq!(parse_span("500ms").unwrap(), Duration::from_millis(500));
    assert_eq!(parse_span("2d").unwrap(), Duration::from_secs(172_800));
    assert_eq!(parse_span("1h30m").unwrap(), Duration::from_secs(5400));
    for bad in ["", "h", "10", "5 m", "1y", "99999999999999999999h"] {
        assert!(parse_span(bad).is_err(), "{bad}");
    }
    assert_eq!(span_text(Duration::from_secs(5400)), "1h30m");
    assert_eq!(span_text(Duration::from_millis(1500)), "1500ms");
    assert_eq!(camel_case("order_id"), "orderId");
}
