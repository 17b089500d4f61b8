//! What is refused, and where it goes: invalid definitions (nothing written),
//! malformed messages and unusable run headers (to `<q>_error`, the consumer
//! keeps working), and the error queue read and taken from one message at a time.

use isoqube::envelope::Envelope;
use isoqube::{Definition, Error, Event, RunStatus};
use serde_json::{json, Value};
use uuid::Uuid;

use super::fixtures::*;
use super::harness::*;

/// Invalid definitions are refused with a clear message and nothing is written.
pub async fn invalid_definitions(h: Harness) {
    h.define("good", &["Alpha"]).await;
    let before = h.store().list_definitions().await.unwrap();
    let cases: Vec<(Definition, &str)> = vec![
        (
            Definition::new("bad", ["Alpha", "Nope"]),
            "unknown event 'Nope'",
        ),
        (Definition::new("", ["Alpha"]), "name is empty"),
        (Definition::new("empty", Vec::<String>::new()), "no steps"),
        (Definition::new("good", ["Beta"]), "already exists"),
    ];
    for (def, expected) in cases {
        let err = h
            .control
            .create_definition(def)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(expected),
            "'{err}' should mention '{expected}'"
        );
    }
    let err = h
        .control
        .update_definition(Definition::new("good", ["Alph"]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("did you mean 'Alpha'"), "{err}");
    assert_eq!(
        h.store().list_definitions().await.unwrap(),
        before,
        "nothing written"
    );
    let err = h
        .control
        .start(isoqube::StartRun::new("missing").started_by("test"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(h
        .store()
        .list_runs(&Default::default())
        .await
        .unwrap()
        .runs
        .is_empty());
}

/// Malformed messages go to the error queue, unknown types to the skipped
/// queue, and the consumer keeps working.
pub async fn malformed_message(h: Harness) {
    let svc = h.service(&["alpha", "beta"]).await;
    h.publish_raw("alpha", b"this is not json").await;
    h.publish_raw(
        "alpha",
        br#"{"messageId":"1","messageType":["urn:message:Suite:Alpha"]}"#,
    )
    .await;
    let foreign = Envelope::new("urn:message:Other:Unknown", json!({}));
    h.publish_raw("alpha", &foreign.to_vec()).await;
    let unknown_run = {
        let mut env = Envelope::new(Alpha::info().message_type(), json!({}));
        env.headers
            .insert("Isoqube-RunId".into(), json!(Uuid::new_v4().to_string()));
        env.headers.insert("Isoqube-Step".into(), json!(0));
        env
    };
    h.publish_raw("alpha", &unknown_run.to_vec()).await;
    h.wait_queue("alpha_error", 3).await;
    h.wait_queue("alpha_skipped", 1).await;
    // A broker does not promise the error queue's order across the consumer's
    // concurrent handling, so look for the non-JSON message among the three.
    let mut errors = Vec::new();
    for _ in 0..3 {
        errors.push(h.transport().get("alpha_error").await.unwrap().unwrap());
    }
    let not_json = errors
        .iter()
        .find(|m| m.body == b"this is not json")
        .expect("the non-JSON message is in the error queue");
    assert_eq!(
        not_json
            .headers
            .get("MT-Fault-ExceptionType")
            .and_then(Value::as_str),
        Some("isoqube::MalformedMessage")
    );
    let skipped = h.transport().get("alpha_skipped").await.unwrap().unwrap();
    assert_eq!(
        skipped.headers.get("MT-Reason").and_then(Value::as_str),
        Some("dead-letter")
    );
    // still consuming
    h.define("pair", &["Alpha", "Beta"]).await;
    let id = h.start("pair", json!({})).await;
    assert_eq!(h.finish(id).await.status, RunStatus::Succeeded);
    svc.shutdown().await.unwrap();
}

/// A message whose run headers are there but unusable (a run id that is not
/// a UUID, a negative step) is not run as a plain message: it goes to
/// `<q>_error` naming the header, and the consumer never runs.
pub async fn bad_run_headers_are_refused(h: Harness) {
    let svc = h.service(&["alpha", "beta"]).await;
    let before = call_count(Uuid::nil(), "alpha");
    for (run, step) in [
        (json!("4"), json!(0)),
        (json!(Uuid::new_v4().to_string()), json!(-1)),
    ] {
        let mut env = Envelope::new(Alpha::info().message_type(), json!({}));
        env.headers.insert("Isoqube-RunId".into(), run);
        env.headers.insert("Isoqube-Step".into(), step);
        h.publish_raw("alpha", &env.to_vec()).await;
    }
    h.wait_queue("alpha_error", 2).await;
    let mut reasons = Vec::new();
    for _ in 0..2 {
        let m = h.transport().get("alpha_error").await.unwrap().unwrap();
        let header = |k: &str| {
            m.headers
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(header("MT-Fault-ExceptionType"), "isoqube::BadRunHeader");
        reasons.push(header("MT-Fault-Message"));
    }
    reasons.sort();
    assert!(
        reasons[0].contains("Isoqube-RunId '4' is not a run id"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("Isoqube-Step -1 is not a step index"),
        "{reasons:?}"
    );
    // Both deliveries are settled (moved to `<q>_error`), so the consumer
    // had its chance to run and did not.
    h.wait_settled(&svc, "alpha", 2).await;
    assert_eq!(call_count(Uuid::nil(), "alpha"), before, "the consumer ran");
    svc.shutdown().await.unwrap();
}

/// The error queue can be read without emptying it, and one chosen message taken
/// out of it (the control center's error-queue view: requeue / discard).
pub async fn error_queue_browse_and_take(h: Harness) {
    let svc = h.service(&["alpha"]).await;
    for n in 0..3 {
        h.publish_raw("alpha", format!("not json {n}").as_bytes())
            .await;
    }
    h.wait_queue("alpha_error", 3).await;
    let seen = h.transport().browse("alpha_error", 10).await.unwrap();
    assert_eq!(seen.len(), 3);
    h.wait_queue("alpha_error", 3).await; // browsing left them there
    let limited = h.transport().browse("alpha_error", 2).await.unwrap();
    assert_eq!(limited.len(), 2);
    h.wait_queue("alpha_error", 3).await;
    let chosen = seen[1].message_id.clone().expect("a message id");
    let taken = h
        .transport()
        .take("alpha_error", &chosen)
        .await
        .unwrap()
        .expect("taken");
    assert_eq!(taken.body, seen[1].body);
    h.wait_queue("alpha_error", 2).await;
    assert!(h
        .transport()
        .take("alpha_error", &chosen)
        .await
        .unwrap()
        .is_none());
    let rest = h.transport().browse("alpha_error", 10).await.unwrap();
    assert_eq!(rest.len(), 2);
    assert!(rest
        .iter()
        .all(|m| m.message_id.as_deref() != Some(&chosen)));
    svc.shutdown().await.unwrap();
}
