//! What several handlers share: the result type, the path-segment extractor,
//! the check of run variables, `Location` headers, and the error answer's body.
//!
//! It may use axum and the API's errors in [`super`].

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::response::Response;
use isoqube::Variables;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiError;

/// What a handler answers: its value, or an [`ApiError`].
pub(crate) type ApiResult<T = Response> = Result<T, ApiError>;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong (names the field or parameter when there is one).
    pub(crate) error: String,
}

/// The one path parameter of a route (a name or an id), with a JSON 400 when
/// it cannot be decoded.
pub(crate) struct Seg(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for Seg {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(s)) => Ok(Seg(s)),
            Err(rej) => Err(ApiError::bad_request(format!(
                "bad path parameter: {}",
                rej.body_text()
            ))),
        }
    }
}

/// Run variables as sent, when a store can keep them: a 400 naming the first
/// name (at any depth) that holds a NUL character.
pub(crate) fn storable(vars: Variables, field: &str) -> ApiResult<Variables> {
    match isoqube::model::nul_in_variable_names(&vars) {
        None => Ok(vars),
        Some(name) => Err(ApiError::bad_request(format!(
            "{field}: the name '{name}' holds a NUL character (no store can keep one)"
        ))),
    }
}

/// A `Location` header value; a 400 when the path cannot be a header.
pub(crate) fn location(path: &str) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(path)
        .map_err(|_| ApiError::bad_request("the name cannot be used in a URL"))
}
