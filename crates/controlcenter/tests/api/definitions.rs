//! Definitions over the API: created, read, listed, updated, deleted, and
//! refused with a JSON error that names what is wrong.

use super::*;

pub(crate) fn flow_def() -> Value {
    json!({
        "name": "flow",
        "description": "prepare and ship",
        "steps": ["ApiPrepare", "ApiShip"],
        "variables": { "who": "default", "sleep_ms": 0 },
        "webhook": { "id": "hook-flow-1", "secret": HOOK_SECRET },
    })
}

pub(crate) async fn definitions(env: &Env) {
    let r = env.post("/api/v1/definitions", &flow_def()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.header("location").as_deref(),
        Some("/api/v1/definitions/flow")
    );
    let created = r.json();
    assert_eq!(created["steps"], json!(["ApiPrepare", "ApiShip"]));
    assert_eq!(
        created["webhook"],
        json!({ "id": "hook-flow-1", "secret": "***" })
    );
    assert!(!r.text().contains(HOOK_SECRET));

    // Conflicts, rule violations, unreadable bodies: nothing written.
    env.post("/api/v1/definitions", &flow_def())
        .await
        .expect_error(409, "already exists");
    env.post(
        "/api/v1/definitions",
        &json!({ "name": "bad", "steps": ["ApiPrepare", "Nope"] }),
    )
    .await
    .expect_error(422, "unknown event 'Nope'");
    env.post(
        "/api/v1/definitions",
        &json!({ "name": "  ", "steps": ["ApiPrepare"] }),
    )
    .await
    .expect_error(422, "name");
    env.post(
        "/api/v1/definitions",
        &json!({ "name": "bad", "steps": ["ApiPrepare"], "colour": "red" }),
    )
    .await
    .expect_error(400, "colour");
    env.post(
        "/api/v1/definitions",
        &json!({ "name": "bad", "steps": "ApiPrepare" }),
    )
    .await
    .expect_error(400, "steps");
    env.post(
        "/api/v1/definitions",
        &json!({ "name": "bad", "steps": ["ApiPrepare"], "webhook": { "id": "hook-bad-1", "secret": "short" } }),
    )
    .await
    .expect_error(422, "secret");
    env.post("/api/v1/definitions", &json!({ "steps": ["ApiPrepare"] }))
        .await
        .expect_error(400, "name");
    env.post(
        "/api/v1/definitions",
        &json!({ "name": "bad", "steps": ["ApiPrepare"], "variables": { "a\u{0}b": 1 } }),
    )
    .await
    .expect_error(422, "NUL");
    // A whole number of seconds written as a float is a whole number (JSON
    // Schema's `integer`); a fraction, or more than u32::MAX, is refused.
    let every = |secs: Value| {
        json!({ "name": "timed", "steps": ["ApiPrepare"], "schedules": [
            { "id": "s", "when": { "kind": "interval", "every_secs": secs }, "enabled": false }
        ] })
    };
    env.post("/api/v1/definitions", &every(json!(1.5)))
        .await
        .expect_error(400, "number of seconds");
    env.post("/api/v1/definitions", &every(json!(4_294_967_296_u64)))
        .await
        .expect_error(422, "every_secs");
    let r = env.post("/api/v1/definitions", &every(json!(60.0))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["schedules"][0]["when"]["every_secs"], json!(60));
    let r = env.call("DELETE", "/api/v1/definitions/timed", None).await;
    assert_eq!(r.status, 204, "{}", r.text());
    env.post_raw("/api/v1/definitions", b"{\"name\": \"bad\",")
        .await
        .expect_error(400, "json");
    let r = http(
        env.addr,
        "POST",
        "/api/v1/definitions",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        Some(flow_def().to_string().as_bytes()),
    )
    .await;
    r.expect_error(415, "application/json");
    let big = json!({ "name": "big", "steps": ["ApiPrepare"], "description": "x".repeat(BODY_LIMIT + 100) });
    env.post("/api/v1/definitions", &big)
        .await
        .expect_error(413, "larger than the limit");
    env.get("/api/v1/definitions/bad")
        .await
        .expect_error(404, "not found");
    env.get("/api/v1/definitions/big")
        .await
        .expect_error(404, "not found");

    // Reads: secrets redacted everywhere.
    let r = env.get("/api/v1/definitions").await;
    assert_eq!(r.status, 200);
    assert!(!r.text().contains(HOOK_SECRET));
    let defs = r.json()["definitions"].as_array().cloned().expect("list");
    assert_eq!(defs.len(), 1);
    let r = env.get("/api/v1/definitions/flow").await;
    assert_eq!(r.status, 200);
    assert!(!r.text().contains(HOOK_SECRET));
    let mut fetched = r.json();
    env.get("/api/v1/definitions/missing")
        .await
        .expect_error(404, "definition 'missing' not found");
    // A name that is not UTF-8 once decoded.
    env.get("/api/v1/definitions/%FF")
        .await
        .expect_error(400, "path parameter");
    env.call("DELETE", "/api/v1/definitions/%FF", None)
        .await
        .expect_error(400, "path parameter");

    // Update: a GET answer sent back with a change; "***" keeps the secret
    // (the webhook scenario later calls the hook with the original secret).
    fetched["description"] = json!("changed");
    let r = env
        .call("PUT", "/api/v1/definitions/flow", Some(&fetched))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["description"], "changed");
    assert!(!r.text().contains(HOOK_SECRET));
    env.call(
        "PUT",
        "/api/v1/definitions/missing",
        Some(&json!({ "steps": ["ApiPrepare"] })),
    )
    .await
    .expect_error(404, "not found");
    env.call(
        "PUT",
        "/api/v1/definitions/flow",
        Some(&json!({ "name": "other", "steps": ["ApiPrepare"] })),
    )
    .await
    .expect_error(422, "cannot be renamed");
    env.call(
        "PUT",
        "/api/v1/definitions/flow",
        Some(&json!({ "steps": [] })),
    )
    .await
    .expect_error(422, "no steps");
    env.call(
        "PUT",
        "/api/v1/definitions/flow",
        Some(&json!({ "steps": ["ApiPrepare"], "x": 1 })),
    )
    .await
    .expect_error(400, "`x`");
    assert_eq!(
        env.get("/api/v1/definitions/flow").await.json()["steps"],
        json!(["ApiPrepare", "ApiShip"]),
        "refused updates wrote nothing"
    );

    // Names outside the documented character set are refused (422, naming
    // the rule), nothing written; delete.
    for bad in ["two words", "-dash", "a/b", "caf\u{e9}"] {
        env.post(
            "/api/v1/definitions",
            &json!({ "name": bad, "steps": ["ApiShip"] }),
        )
        .await
        .expect_error(422, "ASCII letters, digits");
    }
    let r = env
        .post(
            "/api/v1/definitions",
            &json!({ "name": "two.words_ok-1", "steps": ["ApiShip"] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.header("location").as_deref(),
        Some("/api/v1/definitions/two.words_ok-1")
    );
    let r = env
        .call("DELETE", "/api/v1/definitions/two.words_ok-1", None)
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    env.call("DELETE", "/api/v1/definitions/two.words_ok-1", None)
        .await
        .expect_error(404, "not found");
}
