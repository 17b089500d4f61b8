//! The OpenAPI document served at `/api/v1/openapi.json`, generated with
//! `utoipa`: the paths come from the handlers' `#[utoipa::path]` attributes
//! (the same list [`super::router`] is built from, so a route cannot be
//! served undocumented), the schemas from the model and answer types. This
//! module adds what belongs to the whole API: its title, the bearer scheme,
//! and the error answers many operations share.
//!
//! It may use `utoipa` and the API's shared parts in [`super`].

use std::sync::OnceLock;

use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

use super::common::ErrorBody;

/// What the derive contributes besides the paths (those come from the routes).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Isoqube control center API",
        version = "1",
        description = "Define, start and watch runs. Every endpoint but health, metrics and webhooks \
            needs `Authorization: Bearer <token>`. Errors are `{\"error\": \"...\"}`; \
            a wrong method for a path is 405 and an unknown path 404."
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerScheme),
    security(("bearer" = []))
)]
pub(crate) struct ApiDoc;

/// Adds the `bearer` security scheme the operations refer to.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

// The answer groups below are only described, never built: handlers answer
// with `ApiError`, whose body is `ErrorBody`.

/// The answer of every call under `/api/v1` without the right token.
#[allow(dead_code)]
#[derive(IntoResponses)]
pub(crate) enum NeedsToken {
    /// Missing or wrong bearer token (the answer has `WWW-Authenticate: Bearer`).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
}

/// What any call that reaches the store or the broker may answer.
#[allow(dead_code)]
#[derive(IntoResponses)]
pub(crate) enum ServerTrouble {
    /// A stored record does not parse, or the server is misconfigured.
    #[response(status = 500)]
    Internal(ErrorBody),
    /// The broker or the store is unavailable; nothing was written.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// What a call with a JSON body may answer before the body is read.
#[allow(dead_code)]
#[derive(IntoResponses)]
pub(crate) enum BodyRefused {
    /// The body is larger than the limit (`[api] max_body_bytes`).
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The body is not `application/json`.
    #[response(status = 415)]
    NotJson(ErrorBody),
}

/// The OpenAPI document of the whole API, as JSON (built once).
///
/// ```
/// let doc = controlcenter::api::openapi_document();
/// assert_eq!(doc["openapi"], "3.1.0");
/// assert!(doc["paths"]["/api/v1/runs/{id}/status"]["get"].is_object());
/// assert!(doc["components"]["schemas"]["Run"].is_object());
/// ```
pub fn document() -> Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, doc) = super::parts(|api| api);
        // A document of plain structs and strings always encodes.
        serde_json::to_value(doc).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
    })
    .clone()
}

/// The API reference page (`GET /api/v1/docs`): every operation of the
/// [`document`] with its parameters, body and answers, as plain HTML (no
/// script, nothing fetched), built once.
///
/// ```
/// let page = controlcenter::api::reference_page();
/// assert!(page.contains("<h2 id=\"get-api-v1-runs\">GET /api/v1/runs</h2>"));
/// assert!(page.contains("log_text"));
/// ```
pub fn reference_page() -> String {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| render(&document())).clone()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A schema's name (`#/components/schemas/Run` is `Run`) or type.
fn schema_name(schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        return r.rsplit('/').next().unwrap_or(r).to_string();
    }
    if let Some(items) = schema.get("items") {
        return format!("array of {}", schema_name(items));
    }
    match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "object".into(),
    }
}

fn render(doc: &Value) -> String {
    let info = &doc["info"];
    let title = esc(info["title"].as_str().unwrap_or("API"));
    let mut out = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:sans-serif;max-width:60em;margin:auto}}\
         code,h2{{font-family:monospace}}td{{vertical-align:top;padding:0 .6em}}</style></head><body>\n\
         <h1>{title}</h1>\n<p>{}</p>\n<p>The machine-readable form: \
         <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>\n",
        esc(info["description"].as_str().unwrap_or_default())
    );
    let Some(paths) = doc["paths"].as_object() else {
        return out + "</body></html>\n";
    };
    for (path, item) in paths {
        let Some(ops) = item.as_object() else {
            continue;
        };
        for (method, op) in ops {
            let m = method.to_ascii_uppercase();
            let anchor: String = format!("{method}{path}")
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            out.push_str(&format!(
                "<h2 id=\"{}\">{m} {}</h2>\n",
                esc(anchor.trim_end_matches('-')),
                esc(path)
            ));
            for key in ["summary", "description"] {
                if let Some(t) = op[key].as_str() {
                    out.push_str(&format!("<p>{}</p>\n", esc(t).replace("\n\n", "</p><p>")));
                }
            }
            let open = op["security"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
            });
            if open {
                out.push_str("<p><em>No token needed.</em></p>\n");
            }
            if let Some(params) = op["parameters"].as_array() {
                out.push_str(
                    "<table><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>\n",
                );
                for p in params {
                    out.push_str(&format!(
                        "<tr><td><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                        esc(p["name"].as_str().unwrap_or_default()),
                        if p["required"] == true {
                            " (required)"
                        } else {
                            ""
                        },
                        esc(p["in"].as_str().unwrap_or_default()),
                        esc(&schema_name(&p["schema"])),
                        esc(p["description"].as_str().unwrap_or_default())
                    ));
                }
                out.push_str("</table>\n");
            }
            if let Some(content) = op["requestBody"]["content"].as_object() {
                for (kind, c) in content {
                    out.push_str(&format!(
                        "<p>Body: <code>{}</code> ({})</p>\n",
                        esc(&schema_name(&c["schema"])),
                        esc(kind)
                    ));
                }
            }
            if let Some(resps) = op["responses"].as_object() {
                out.push_str("<table><tr><th>status</th><th>body</th><th></th></tr>\n");
                for (status, r) in resps {
                    let body = r["content"]
                        .as_object()
                        .and_then(|c| c.values().next())
                        .map(|c| schema_name(&c["schema"]))
                        .unwrap_or_default();
                    out.push_str(&format!(
                        "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>\n",
                        esc(status),
                        esc(&body),
                        esc(r["description"].as_str().unwrap_or_default())
                    ));
                }
                out.push_str("</table>\n");
            }
        }
    }
    out + "</body></html>\n"
}
