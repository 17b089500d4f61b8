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
