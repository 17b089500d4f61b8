//! What operators reach for first (issue 19), over the API on both pairs:
//! resume and re-run with changed variables.

use super::*;

/// Resume and re-run take an optional `{"variables": {...}}` merged over the
/// run's variables (resume) or the old parameters (rerun); no body changes
/// nothing, and a body that is not one is refused.
async fn changed_variables(env: &Env) {
    let failed = env
        .start_run("flow", json!({ "fail": true, "who": "first" }))
        .await;
    assert_eq!(env.wait(&failed).await.0, 409);

    // Re-run with the fix: the new run's parameters are the old ones merged.
    let r = env
        .post(
            &format!("/api/v1/runs/{failed}/rerun"),
            &json!({ "variables": { "fail": false } }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let again = r.json()["id"].as_str().expect("id").to_string();
    let (code, run) = env.wait(&again).await;
    assert_eq!(code, 200, "{run}");
    assert_eq!(run["params"]["fail"], false, "{run}");
    assert_eq!(run["params"]["who"], "first", "{run}");
    assert_eq!(run["rerun_of"], json!(failed));

    // Bodies that are not `{"variables": {...}}`: refused, nothing resumed.
    for (body, needle) in [
        (json!({ "vars": {} }), "vars"),
        (json!({ "variables": [1] }), "variables"),
        (json!({ "variables": { "a\u{0}": 1 } }), "NUL"),
    ] {
        env.post(&format!("/api/v1/runs/{failed}/resume"), &body)
            .await
            .expect_error(400, needle);
    }
    assert_eq!(env.wait(&failed).await.1["status"], "Failed");

    // Resume with the fix: the failed step sees the merged variables.
    let r = env
        .post(
            &format!("/api/v1/runs/{failed}/resume"),
            &json!({ "variables": { "fail": false } }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (code, run) = env.wait(&failed).await;
    assert_eq!(code, 200, "{run}");
    assert_eq!(run["variables"]["fail"], false, "{run}");
    assert_eq!(run["variables"]["who"], "first", "{run}");
    assert_eq!(
        run["params"]["fail"], true,
        "the parameters stay as started"
    );
    answers_are_documented(env.addr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_variables_on_the_embedded_pair() {
    let env = Env::embedded(BODY_LIMIT).await;
    assert_eq!(
        env.post("/api/v1/definitions", &flow_def()).await.status,
        201
    );
    changed_variables(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_variables_on_rabbitmq_and_mongodb() {
    let env = Env::real(BODY_LIMIT).await;
    assert_eq!(
        env.post("/api/v1/definitions", &flow_def()).await.status,
        201
    );
    changed_variables(&env).await;
    env.stop().await;
}
