//! The served OpenAPI document: the one the code builds, every documented
//! route served (and no other method on its path).

use super::*;

pub(crate) async fn openapi(env: &Env) {
    let r = env.get("/api/v1/openapi.json").await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert_eq!(doc, api::openapi_document(), "the served document");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    // `GET /runs?status=` takes every run status and `Waiting`.
    let schemas = &doc["components"]["schemas"];
    let mut statuses = schemas["RunStatus"]["enum"].clone();
    if let Some(all) = statuses.as_array_mut() {
        all.push(json!("Waiting"));
    }
    let param = doc["paths"]["/api/v1/runs"]["get"]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "status"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(param["schema"]["enum"], statuses, "{param}");
    // Every documented operation is served: the router answers it itself, not
    // with its fallbacks (404 "no such endpoint", 405).
    let ops = documented(&doc);
    assert!(ops.len() >= 20, "{ops:?}");
    for (method, template, _) in &ops {
        let path = concrete(template);
        let r = env.call(method, &path, None).await;
        assert_ne!(r.status, 405, "{method} {path}: {}", r.text());
        assert!(
            !(r.status == 404 && r.text().contains("no such endpoint")),
            "{method} {path} is routed: {}",
            r.text()
        );
    }
    // And nothing more: on a documented path, every other method is 405.
    let paths: HashSet<&str> = ops.iter().map(|(_, p, _)| p.as_str()).collect();
    for template in paths {
        let path = concrete(template);
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if ops.iter().any(|(m, p, _)| m == method && p == template) {
                continue;
            }
            env.call(method, &path, None)
                .await
                .expect_error(405, "not allowed");
        }
    }
    answers_are_documented(env.addr);
}
