//! Health without a token, everything else behind it; and an API that
//! refuses to start without a good token.

use super::*;

pub(crate) async fn health_and_auth(env: &Env) {
    for path in ["/health", "/health/live", "/health/ready"] {
        let r = http(env.addr, "GET", path, &[], None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.json()["status"], "ok");
    }
    for (method, path, needs_token) in documented(&api::openapi_document()) {
        if !needs_token {
            // Only health, metrics, webhooks and the API's description
            // answer without the API token.
            assert!(
                path.starts_with("/health")
                    || path.starts_with("/hooks/")
                    || path == "/metrics"
                    || path == "/api/v1/openapi.json"
                    || path == "/api/v1/docs",
                "{method} {path} is documented as open"
            );
            continue;
        }
        let path = concrete(&path);
        let method = method.as_str();
        let r = http(env.addr, method, &path, &[], None).await;
        r.expect_error(401, "bearer");
        assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
        let wrong = format!("Bearer {TOKEN}x");
        let r = http(env.addr, method, &path, &[("Authorization", &wrong)], None).await;
        r.expect_error(401, "wrong bearer token");
        assert!(!r.text().contains(TOKEN));
    }
    let r = http(
        env.addr,
        "GET",
        "/api/v1/events",
        &[("Authorization", &format!("Basic {TOKEN}"))],
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    // Unknown paths need the token too, then are 404; wrong methods are 405.
    env.get("/api/v1/nope")
        .await
        .expect_error(404, "no such endpoint");
    http(env.addr, "GET", "/nope", &[], None)
        .await
        .expect_error(404, "no such endpoint");
    env.call("DELETE", "/api/v1/runs", None)
        .await
        .expect_error(405, "not allowed");

    let r = env.get("/api/v1/events").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let events = r.json()["events"].as_array().cloned().expect("events");
    let prepare = events
        .iter()
        .find(|e| e["name"] == "ApiPrepare")
        .unwrap_or_else(|| panic!("ApiPrepare in {events:?}"));
    assert_eq!(prepare["consumers"][0]["services"][0], "api-test");
    let r = env.get("/api/v1/services").await;
    assert_eq!(r.status, 200);
    let services = r.json()["services"].as_array().cloned().expect("services");
    assert!(services
        .iter()
        .any(|s| s["name"] == "api-test" && s["alive"] == true));
}

#[test]
fn the_api_refuses_to_start_without_a_token() {
    assert!(ApiSettings::new("").is_err());
    let mut section = controlcenter::config::ApiSection::default();
    let err = ApiSettings::from_config(&section).unwrap_err();
    assert!(err.to_string().contains("ISOQUBE_API_TOKEN"));
    // Shorter than 16 characters: refused like a short webhook secret.
    section.token = Some("t0ken-15-chars!".into());
    let err = ApiSettings::from_config(&section).unwrap_err();
    assert!(err.to_string().contains("at least 16 characters"), "{err}");
    section.token = Some("t0ken-16-chars!!".into());
    section.listen = "127.0.0.1:0".into();
    let s = ApiSettings::from_config(&section).expect("settings");
    assert_eq!(s.listen, "127.0.0.1:0");
}
