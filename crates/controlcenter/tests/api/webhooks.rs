//! Webhooks: a definition's hook starts a run with the secret or with an
//! HMAC-SHA256 signature of the body; a wrong secret or signature is a 401
//! that says so.

use super::*;

pub(crate) async fn hook(env: &Env, id: &str, secret: Option<&str>, body: &[u8]) -> Resp {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(s) = secret {
        headers.push(("X-Isoqube-Secret", s));
    }
    http(
        env.addr,
        "POST",
        &format!("/hooks/{id}"),
        &headers,
        Some(body),
    )
    .await
}

pub(crate) async fn webhooks(env: &Env) {
    let r = hook(env, "hook-flow-1", Some(HOOK_SECRET), br#"{"who": "hook"}"#).await;
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["run_id"].as_str().expect("run id").to_string();
    assert_eq!(r.header("location"), Some(format!("/api/v1/runs/{id}")));
    assert!(
        !r.text().contains("variables"),
        "the hook caller gets no run data"
    );
    let (code, run) = env.wait(&id).await;
    assert_eq!(code, 200);
    assert_eq!(
        run["variables"]["who"], "hook",
        "the body overrides defaults"
    );
    assert_eq!(run["params"]["who"], "hook");
    assert_eq!(run["started_by"], "webhook:hook-flow-1");

    // An empty body is no variables; a bearer header works as the secret.
    let auth = format!("Bearer {HOOK_SECRET}");
    let r = http(
        env.addr,
        "POST",
        "/hooks/hook-flow-1",
        &[("Authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["run_id"].as_str().expect("run id").to_string();
    assert_eq!(env.wait(&id).await.1["variables"]["who"], "default");

    hook(env, "hook-flow-1", Some("wrong-secret-wrong-secret"), b"{}")
        .await
        .expect_error(401, "wrong secret");
    hook(
        env,
        "hook-flow-1",
        Some(&HOOK_SECRET[..HOOK_SECRET.len() - 1]),
        b"{}",
    )
    .await
    .expect_error(401, "wrong secret");
    let refused = hook(env, "hook-flow-1", None, b"{}").await;
    let message = refused.error();
    refused.expect_error(401, "no secret");
    // One instruction: the hook's secret, not the API token as well.
    assert_eq!(message.matches("send").count(), 1, "{message}");
    assert!(message.contains("X-Isoqube-Secret"), "{message}");
    assert!(!message.contains("<token>"), "{message}");
    // The API token is not a hook secret.
    hook(env, "hook-flow-1", Some(TOKEN), b"{}")
        .await
        .expect_error(401, "wrong secret");
    hook(env, "hook-nope-1", Some(HOOK_SECRET), b"{}")
        .await
        .expect_error(404, "not found");
    // `null` is no variables too, as the document's nullable body says.
    let r = hook(env, "hook-flow-1", Some(HOOK_SECRET), b"null").await;
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["run_id"].as_str().expect("run id").to_string();
    assert_eq!(env.wait(&id).await.1["variables"]["who"], "default");
    for body in [&b"[1, 2]"[..], b"\"text\"", b"42"] {
        hook(env, "hook-flow-1", Some(HOOK_SECRET), body)
            .await
            .expect_error(400, "JSON object");
    }
    // A variable name no store can keep (BSON names end at a NUL).
    hook(
        env,
        "hook-flow-1",
        Some(HOOK_SECRET),
        br#"{"a": {"b\u0000": 1}}"#,
    )
    .await
    .expect_error(400, "NUL");
    hook(env, "hook-flow-1", Some(HOOK_SECRET), b"{\"who\":")
        .await
        .expect_error(400, "not valid JSON");
    let big = format!("{{\"x\": \"{}\"}}", "y".repeat(BODY_LIMIT + 10));
    hook(env, "hook-flow-1", Some(HOOK_SECRET), big.as_bytes())
        .await
        .expect_error(413, "larger");
    // The secret never shows in any definition answer.
    assert!(!env
        .get("/api/v1/definitions")
        .await
        .text()
        .contains(HOOK_SECRET));
}

/// The HMAC-SHA256 of `body` keyed with `secret`, as `sha256=<hex>`.
pub(super) fn signature(secret: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

async fn signed_hook(env: &Env, header: &str, signature: &str, body: &[u8]) -> Resp {
    http(
        env.addr,
        "POST",
        "/hooks/hook-flow-1",
        &[("Content-Type", "application/json"), (header, signature)],
        Some(body),
    )
    .await
}

/// A webhook call signed with the body's HMAC-SHA256 (GitHub's
/// `X-Hub-Signature-256`, or `X-Signature`) starts a run without the secret
/// itself; a wrong or malformed signature is a 401 that says so.
async fn webhook_signatures(env: &Env) {
    let body = br#"{"who": "signed"}"#;
    let good = signature(HOOK_SECRET, body);
    for (header, sig) in [
        ("X-Hub-Signature-256", good.clone()),
        (
            "X-Signature",
            good.to_uppercase().replacen("SHA256=", "sha256=", 1),
        ),
    ] {
        let r = signed_hook(env, header, &sig, body).await;
        assert_eq!(r.status, 202, "{header}: {}", r.text());
        let id = r.json()["run_id"].as_str().expect("run id").to_string();
        let (code, run) = env.wait(&id).await;
        assert_eq!(code, 200, "{run}");
        assert_eq!(run["variables"]["who"], "signed", "{run}");
    }
    let other_body = signature(HOOK_SECRET, br#"{"who": "someone else"}"#);
    let other_key = signature("another-secret-of-enough-length", body);
    for (header, sig, needle) in [
        (
            "X-Hub-Signature-256",
            other_body.as_str(),
            "wrong signature",
        ),
        ("X-Signature", other_key.as_str(), "wrong signature"),
        ("X-Hub-Signature-256", "sha1=abcdef", "malformed signature"),
        ("X-Signature", "sha256=zz", "malformed signature"),
        ("X-Signature", HOOK_SECRET, "malformed signature"),
    ] {
        signed_hook(env, header, sig, body)
            .await
            .expect_error(401, needle);
    }
    // The 401 without anything names both ways, in one instruction.
    let r = http(env.addr, "POST", "/hooks/hook-flow-1", &[], None).await;
    let message = r.error();
    assert_eq!(r.status, 401, "{message}");
    assert!(message.contains("X-Hub-Signature-256"), "{message}");
    assert_eq!(message.matches("send").count(), 1, "{message}");
    answers_are_documented(env.addr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_signatures_on_the_embedded_pair() {
    let env = Env::embedded(BODY_LIMIT).await.with_flow().await;
    webhook_signatures(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_signatures_on_rabbitmq_and_mongodb() {
    let env = Env::real(BODY_LIMIT).await.with_flow().await;
    webhook_signatures(&env).await;
    env.stop().await;
}
