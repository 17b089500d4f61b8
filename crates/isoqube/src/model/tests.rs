//! The model's transitions, tested without any store.

use std::collections::BTreeSet;

use chrono::Utc;
use uuid::Uuid;

use super::*;
use crate::error::Error;
use crate::wire::time as timestamp;

fn run3() -> Run {
    Run::new(
        &Definition::new("d", ["A", "B", "C"]),
        Variables::new(),
        "test",
    )
}

fn key(run: &Run, step: usize, ep: &str) -> StepKey {
    StepKey::new(run.id, step, ep, "h")
}

/// `peek_claim` answers `Some` exactly when `claim` would let the consumer
/// run, with the same answer, in every state a step and its run can be in.
#[test]
fn peek_claim_agrees_with_claim() {
    let now = Utc::now();
    let k = |run: &Run| key(run, 1, "ep");
    let mut states: Vec<(&str, Run)> = Vec::new();
    let fresh = run3();
    states.push(("fresh", fresh.clone()));
    let mut claimed = fresh.clone();
    claimed.claim(&k(&claimed), false, now).unwrap();
    states.push(("claimed", claimed.clone()));
    let mut other_ep = fresh.clone();
    other_ep
        .claim(&key(&other_ep, 1, "other"), false, now)
        .unwrap();
    states.push(("claimed by another endpoint", other_ep));
    let mut done = claimed.clone();
    done.complete(&k(&done), Variables::new(), 1, now).unwrap();
    states.push(("done", done));
    let mut failed = claimed.clone();
    failed.fail(&k(&failed), "boom", 2, now).unwrap();
    states.push(("failed", failed.clone()));
    let mut resumed = failed;
    resumed.resume(now).unwrap();
    states.push(("resumed", resumed));
    let mut cancelled = claimed.clone();
    cancelled.cancel(now).unwrap();
    states.push(("cancelled", cancelled));
    let mut aborted = fresh.clone();
    aborted.abort("x", now).unwrap();
    states.push(("aborted", aborted));
    for (what, run) in states {
        for redelivered in [false, true] {
            let peeked = run.peek_claim(&k(&run), redelivered).unwrap();
            let mut copy = run.clone();
            let claimed = copy.claim(&k(&copy), redelivered, now).unwrap();
            match peeked {
                Some(p) => assert_eq!(p, claimed, "{what}, redelivered {redelivered}"),
                None => assert!(
                    !matches!(claimed, ClaimOutcome::Claimed { .. }),
                    "{what}, redelivered {redelivered}: claim runs it, peek says no"
                ),
            }
        }
    }
    assert!(matches!(
        fresh.peek_claim(&key(&fresh, 3, "ep"), false),
        Err(Error::InvalidState(_))
    ));
}

/// The hand-written document is serde_json's, whatever the fields hold:
/// strings to escape, every optional field set or not, handlers, numbers
/// at their limits, timestamps chrono writes itself (years past 9999).
#[test]
fn hand_written_json_is_serde_jsons() {
    use chrono::TimeZone;
    let odd = ["", "plain", "q\"b\\s\n\t\u{1}\u{7f}", "é ☃ 😀 </x>"];
    let times = [
        Utc::now(),
        Utc.with_ymd_and_hms(2026, 12, 1, 4, 5, 6).unwrap(),
        Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(-5, 3, 1, 0, 0, 0).unwrap(),
        Utc.timestamp_opt(1_700_000_000, 123_000).unwrap(),
    ];
    let mut runs = vec![run3()];
    for (i, text) in odd.iter().enumerate() {
        let t = times[i % times.len()];
        let mut run = run3();
        run.definition = text.to_string();
        run.description = text.to_string();
        run.started_by = text.to_string();
        run.error = Some(text.to_string());
        run.rerun_of = Some(Uuid::new_v4());
        run.status = RunStatus::Failed;
        run.version = if i == 0 { u64::MAX } else { i as u64 };
        run.created_at = t;
        run.modified_at = times[(i + 1) % times.len()];
        run.finished_at = Some(times[(i + 2) % times.len()]);
        run.cancelled_at = (i % 2 == 0).then_some(t);
        run.params
            .insert(text.to_string(), serde_json::json!([1.5, null, text]));
        run.variables
            .insert("v".into(), serde_json::json!({ *text: -3 }));
        for (j, step) in run.steps.iter_mut().enumerate() {
            step.event = text.to_string();
            step.name = (j == 1).then(|| format!("{text}-named"));
            step.after = (j > 0).then(|| (0..j).collect());
            step.optional = j == 1;
            step.timeout_ms = (j != 1).then_some(u64::MAX - j as u64);
            step.status = StepStatus::Skipped;
            step.invoked_at = Some(t);
            step.completed_at = Some(times[j % times.len()]);
            step.failed_at = (j > 0).then_some(t);
            step.cancelled_at = Some(t);
            step.attempts = u32::MAX;
            step.last_error = Some(text.to_string());
            step.handled_by = (j != 1).then(|| text.to_string());
            step.handlers = (0..j)
                .map(|h| StepHandler {
                    endpoint: format!("{text}{h}"),
                    host: text.to_string(),
                    status: StepStatus::Cancelled,
                    attempts: h as u32,
                    started_at: Some(times[h % times.len()]),
                    finished_at: (h > 0).then_some(t),
                    error: (h != 1).then(|| text.to_string()),
                    handling: (h != 2).then(|| Uuid::from_u128(h as u128 + 7)),
                    deadline: (h == 1).then_some(t),
                    lost: (h % 2) as u32,
                    retried: (h % 3) as u32,
                })
                .collect();
            step.compensation = (j != 0).then(|| {
                let mut c = Compensation::new(format!("{text}-undo"));
                c.status = StepStatus::Failed;
                c.variables = (j == 2).then(|| run.variables.clone());
                c.invoked_at = Some(t);
                c.failed_at = Some(times[j % times.len()]);
                c.attempts = j as u32;
                c.last_error = Some(text.to_string());
                c.handlers = step.handlers.clone();
                c
            });
        }
        runs.push(run);
    }
    for run in &runs {
        let mut kept = KeptSteps::default();
        let json = run.to_json_keeping(&mut kept);
        assert_eq!(json, serde_json::to_string(run).unwrap());
        assert_eq!(kept.steps, run.steps);
        for (step, kept) in run.steps.iter().zip(&kept.json) {
            assert_eq!(&**kept, serde_json::to_string(step).unwrap());
        }
        let back: Run = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, run);
    }
}

/// The JSON built from kept step JSON is the run's own serialisation,
/// whichever steps changed since the kept state; only those are written
/// again.
#[test]
fn json_keeping_steps_is_the_runs_json() {
    let now = Utc::now();
    let mut run = run3();
    run.params
        .insert("p".into(), serde_json::json!({"steps": [], "x": "\"q\""}));
    run.error = Some("a \"quoted\" error".into());
    let mut kept = KeptSteps::default();
    let json = run.to_json_keeping(&mut kept);
    assert_eq!(json, serde_json::to_string(&run).unwrap());
    // Returns the steps written again: exactly those that changed.
    let check = |run: &Run, kept: &mut KeptSteps| {
        let before = (
            kept.steps.clone(),
            kept.json.iter().map(|j| j.as_ptr()).collect::<Vec<_>>(),
        );
        let json = run.to_json_keeping(kept);
        assert_eq!(json, serde_json::to_string(run).unwrap());
        let back: Run = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, run);
        assert_eq!(kept.steps, run.steps);
        let mut written = Vec::new();
        for (i, (old, new)) in before.1.iter().zip(&kept.json).enumerate() {
            // The same allocation when kept, a new one when written again
            // (made while the old one is still alive).
            let again = !std::ptr::eq(*old, new.as_ptr());
            assert_eq!(again, before.0[i] != run.steps[i], "step {i}");
            if again {
                written.push(i);
            }
        }
        written
    };
    let k0 = key(&run, 0, "ep").started(now);
    run.claim(&k0, false, now).unwrap();
    assert_eq!(check(&run, &mut kept), [0]);
    run.complete(&k0, Variables::new(), 1, now).unwrap();
    assert!(check(&run, &mut kept).contains(&0));
    run.cancel(now).unwrap(); // touches every pending step
    assert_eq!(check(&run, &mut kept), [1, 2]);
    run.resume(now).unwrap();
    assert_eq!(check(&run, &mut kept), [1, 2]);
    run.version += 1; // a run-level change only
    assert_eq!(check(&run, &mut kept), Vec::<usize>::new());
    // kept JSON of another shape (fewer steps, or of other steps) is not
    // trusted blindly
    let mut short = KeptSteps {
        steps: kept.steps[..1].to_vec(),
        json: kept.json[..1].to_vec(),
    };
    assert_eq!(
        run.to_json_keeping(&mut short),
        serde_json::to_string(&run).unwrap()
    );
    let mut other = KeptSteps {
        steps: run3().steps,
        json: kept.json.clone(),
    };
    assert_eq!(
        run.to_json_keeping(&mut other),
        serde_json::to_string(&run).unwrap()
    );
    let mut lopsided = KeptSteps {
        steps: run.steps.clone(),
        json: Vec::new(),
    };
    assert_eq!(
        run.to_json_keeping(&mut lopsided),
        serde_json::to_string(&run).unwrap()
    );
}

/// The fast timestamp form is exactly chrono's own.
#[test]
fn timestamps_serialise_as_chrono_does() {
    use chrono::TimeZone;
    let base = Utc.with_ymd_and_hms(2026, 11, 30, 23, 46, 1).unwrap();
    let odd = [
        Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
        Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap(),
        // a leap second: chrono keeps it in the nanoseconds
        chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .unwrap()
            .and_utc(),
    ];
    let regular = [
        0,
        1,
        1_000,
        10,
        686_000_000,
        686_346_000,
        686_346_973,
        999_999_999,
    ]
    .map(|n| base + chrono::Duration::nanoseconds(n));
    // A sweep over the whole range the fast form covers, days and times of
    // day alike (a prime stride reaches every month, leap days included).
    let first = Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap();
    let sweep = (0..40_000i64).map(|i| {
        first + chrono::Duration::seconds(i * 7_919_017) + chrono::Duration::microseconds(i * 37)
    });
    for t in regular.into_iter().chain(odd).chain(sweep) {
        let ours = serde_json::to_string(&LogRecord {
            run_id: Uuid::nil(),
            step: None,
            event: None,
            level: "INFO".into(),
            message: String::new(),
            service: String::new(),
            host: String::new(),
            timestamp: t,
        })
        .unwrap();
        let chrono_form = serde_json::to_string(&t).unwrap();
        assert!(ours.contains(&chrono_form), "{ours} vs {chrono_form}");
        assert_eq!(
            timestamp::micros(&t),
            t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        );
        let back: LogRecord = serde_json::from_str(&ours).unwrap();
        assert_eq!(back.timestamp, t);
    }
}

#[test]
fn chain_advances_once_and_finishes() {
    let mut run = run3();
    let now = Utc::now();
    for i in 0..3 {
        let k = key(&run, i, "ep");
        assert!(matches!(
            run.claim(&k, false, now).unwrap(),
            ClaimOutcome::Claimed { .. }
        ));
        let out = run.complete(&k, Variables::new(), 1, now).unwrap();
        match out {
            CompleteOutcome::Advanced { next } if i < 2 => {
                assert_eq!(next.iter().map(|n| n.index).collect::<Vec<_>>(), [i + 1])
            }
            CompleteOutcome::Finished if i == 2 => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(run.status, RunStatus::Succeeded);
    assert!(run.finished_at.is_some());
}

#[test]
fn redelivery_after_success_does_not_rerun_and_republishes_only_pending_next() {
    let mut run = run3();
    let now = Utc::now();
    let k = key(&run, 0, "ep");
    run.claim(&k, false, now).unwrap();
    run.complete(&k, Variables::new(), 1, now).unwrap();
    match run.claim(&k, true, now).unwrap() {
        ClaimOutcome::AlreadyDone { republish } => {
            assert_eq!(
                republish
                    .iter()
                    .map(|r| r.event.as_str())
                    .collect::<Vec<_>>(),
                ["B"]
            )
        }
        other => panic!("unexpected {other:?}"),
    }
    run.claim(&key(&run, 1, "ep"), false, now).unwrap();
    assert_eq!(
        run.claim(&k, true, now).unwrap(),
        ClaimOutcome::AlreadyDone { republish: vec![] }
    );
}

#[test]
fn duplicate_copy_in_flight_is_refused_but_redelivery_takes_over() {
    let mut run = run3();
    let now = Utc::now();
    let k = key(&run, 0, "ep");
    run.claim(&k, false, now).unwrap();
    assert_eq!(run.claim(&k, false, now).unwrap(), ClaimOutcome::InFlight);
    // The redelivery counts the attempt its lost first delivery made.
    assert!(matches!(
        run.claim(&k, true, now).unwrap(),
        ClaimOutcome::Claimed { attempts: 1, .. }
    ));
    assert_eq!(run.steps[0].attempts, 1);
    run.complete(&k, Variables::new(), 1, now).unwrap();
    assert_eq!(run.steps[0].attempts, 2);
    assert_eq!(run.steps[0].handlers[0].attempts, 2);
}

#[test]
fn redelivery_of_an_unstarted_or_failed_step_counts_no_lost_attempt() {
    let now = Utc::now();
    let mut run = run3();
    let k = key(&run, 0, "ep");
    assert!(matches!(
        run.claim(&k, true, now).unwrap(),
        ClaimOutcome::Claimed { attempts: 0, .. }
    ));
    run.fail(&k, "boom", 3, now).unwrap();
    run.resume(now).unwrap();
    assert!(matches!(
        run.claim(&k, true, now).unwrap(),
        ClaimOutcome::Claimed { attempts: 3, .. }
    ));
}

#[test]
fn fan_out_advances_on_first_success_only() {
    let mut run = run3();
    let now = Utc::now();
    let (a, b) = (key(&run, 0, "a"), key(&run, 0, "b"));
    run.claim(&a, false, now).unwrap();
    run.claim(&b, false, now).unwrap();
    assert!(matches!(
        run.complete(&b, Variables::new(), 1, now).unwrap(),
        CompleteOutcome::Advanced { .. }
    ));
    assert_eq!(
        run.complete(&a, Variables::new(), 1, now).unwrap(),
        CompleteOutcome::Recorded
    );
    assert_eq!(run.steps[0].handlers.len(), 2);
    assert_eq!(run.steps[0].handled_by.as_deref(), Some("b@h"));
}

#[test]
fn failure_fails_run_and_resume_restarts_from_failed_step() {
    let mut run = run3();
    let now = Utc::now();
    let k0 = key(&run, 0, "ep");
    run.claim(&k0, false, now).unwrap();
    run.complete(&k0, Variables::new(), 1, now).unwrap();
    let k1 = key(&run, 1, "ep");
    run.claim(&k1, false, now).unwrap();
    assert_eq!(
        run.fail(&k1, "boom", 3, now).unwrap(),
        FailOutcome::RunFailed
    );
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.steps[2].status, StepStatus::Skipped);
    assert_eq!(run.steps[1].attempts, 3);
    assert_eq!(
        run.resume(now)
            .unwrap()
            .iter()
            .map(|n| n.index)
            .collect::<Vec<_>>(),
        [1]
    );
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.steps[0].status, StepStatus::Succeeded);
    assert_eq!(run.steps[2].status, StepStatus::Pending);
    assert!(run.resume(now).is_err());
}

#[test]
fn cancel_marks_in_flight_step_cancelled_when_it_returns() {
    let mut run = run3();
    let now = Utc::now();
    let k = key(&run, 0, "ep");
    run.claim(&k, false, now).unwrap();
    run.cancel(now).unwrap();
    assert_eq!(run.steps[1].status, StepStatus::Skipped);
    assert_eq!(
        run.complete(&k, Variables::new(), 1, now).unwrap(),
        CompleteOutcome::Cancelled
    );
    assert_eq!(run.steps[0].status, StepStatus::Cancelled);
    assert!(run.cancel(now).is_err());
}

#[test]
fn validation_refuses_bad_definitions() {
    let known: BTreeSet<String> = ["A".to_string()].into_iter().collect();
    assert!(Definition::new("", ["A"]).validate(&known).is_err());
    assert!(Definition::new(" x", ["A"]).validate(&known).is_err());
    for bad in ["a b", "x/y", "_x", "caf\u{e9}", &"n".repeat(101)] {
        let e = Definition::new(bad, ["A"]).validate(&known).unwrap_err();
        assert!(
            e.to_string().contains("ASCII letters, digits"),
            "{bad}: {e}"
        );
    }
    assert!(Definition::new("Release_2.1-rc", ["A"])
        .validate(&known)
        .is_ok());
    assert!(Definition::new("x", Vec::<String>::new())
        .validate(&known)
        .is_err());
    let e = Definition::new("x", ["a"])
        .validate(&known)
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean 'A'"), "{e}");
    assert!(Definition::new("x", ["A", "A"]).validate(&known).is_ok());
    // A NUL in a variable name, at any depth: no store can keep it.
    let nul = |v: serde_json::Value| v.as_object().cloned().expect("object");
    let e = Definition::new("x", ["A"])
        .with_variables(nul(serde_json::json!({ "ok": { "in\u{0}ner": 1 } })))
        .validate(&known)
        .unwrap_err()
        .to_string();
    assert!(e.contains("'ok.in\\0ner'") && e.contains("NUL"), "{e}");
    let mut def = Definition::new("x", ["A"]);
    let mut s =
        crate::schedule::Schedule::new("s", crate::schedule::When::Interval { every_secs: 5 });
    s.variables = nul(serde_json::json!({ "a\u{0}": true }));
    def.schedules = vec![s];
    assert!(def
        .validate(&known)
        .unwrap_err()
        .to_string()
        .contains("NUL"));
}

#[test]
fn a_step_runs_only_when_the_step_before_it_succeeded() {
    let mut run = run3();
    let now = Utc::now();
    let key = |i: usize, ep: &str| StepKey::new(run3().id, i, ep, "h");
    let early = StepKey {
        run_id: run.id,
        ..key(2, "c")
    };
    let before = run.clone();
    assert_eq!(
        run.claim(&early, false, now).unwrap(),
        ClaimOutcome::NotDue {
            waits_for: 1,
            status: StepStatus::Pending
        }
    );
    assert_eq!(run, before, "a refused claim records nothing");
    assert_eq!(run.peek_claim(&early, false).unwrap(), None);
    let first = StepKey {
        run_id: run.id,
        ..key(0, "a")
    };
    run.claim(&first, false, now).unwrap();
    let second = StepKey {
        run_id: run.id,
        ..key(1, "b")
    };
    assert!(matches!(
        run.claim(&second, false, now).unwrap(),
        ClaimOutcome::NotDue {
            waits_for: 0,
            status: StepStatus::Invoked
        }
    ));
    run.complete(&first, Variables::new(), 1, now).unwrap();
    assert!(matches!(
        run.claim(&second, false, now).unwrap(),
        ClaimOutcome::Claimed { .. }
    ));
}

#[test]
fn the_last_step_does_not_make_a_run_succeeded_while_another_is_unfinished() {
    let mut run = run3();
    let now = Utc::now();
    // As if the store had lost step 0's success (the lost write).
    run.steps[1].status = StepStatus::Succeeded;
    let last = StepKey::new(run.id, 2, "c", "h");
    assert_eq!(
        run.complete(&last, Variables::new(), 1, now).unwrap(),
        CompleteOutcome::Advanced { next: vec![] }
    );
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.steps[0].status, StepStatus::Pending, "not skipped");
}
