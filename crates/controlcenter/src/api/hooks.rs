//! Webhooks: `POST /hooks/{id}` starts a run of the definition whose webhook
//! has this id, authenticated by the hook's secret (not the API token): the
//! secret itself, or an HMAC-SHA256 of the raw body keyed with it (GitHub's
//! `X-Hub-Signature-256`, or `X-Signature`; `sha256=<hex>`), checked in
//! constant time. The caller gets the run's id, never the run's data. A
//! delivery id (`X-GitHub-Delivery`, `Idempotency-Key`) makes a redelivery
//! start nothing: the run's id is derived from it (see
//! [`Operator::start_once`](crate::ops::Operator::start_once)).
//!
//! It may use the [`Operator`](crate::ops::Operator) through the API state and
//! the API's shared parts.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use hmac::{Hmac, Mac};
use isoqube::{RunStatus, StartRun, Variables};
use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};
use utoipa::ToSchema;
use uuid::Uuid;

use super::common::{storable, ApiResult, ErrorBody, Seg};
use super::openapi::ServerTrouble;
use super::runs::run_location;
use super::{bytes_rejection, constant_time_eq, ApiError, AppState};

/// The header a webhook caller sends its secret in.
pub(crate) const SECRET_HEADER: &str = "x-isoqube-secret";
/// The headers a caller sends the body's HMAC-SHA256 in (`sha256=<hex>`):
/// GitHub's, then a generic one.
pub(crate) const SIGNATURE_HEADERS: [&str; 2] = ["x-hub-signature-256", "x-signature"];

/// Why a webhook call is refused, in the 401's words.
fn refusal(
    headers: &HeaderMap,
    body: Result<&Bytes, &BytesRejection>,
    secret: &str,
) -> Option<&'static str> {
    let signature = SIGNATURE_HEADERS
        .iter()
        .find_map(|h| headers.get(*h))
        .map(|v| v.to_str().unwrap_or_default().trim());
    if let Some(signature) = signature {
        // The body is needed to check it; one too large is refused as such.
        let Ok(body) = body else { return None };
        return match signature.strip_prefix("sha256=").and_then(hex) {
            None => Some("malformed signature (expected sha256=<hex>)"),
            Some(sig) if signed(secret, body, &sig) => None,
            Some(_) => Some("wrong signature"),
        };
    }
    let presented = headers
        .get(SECRET_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .or_else(|| {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(super::bearer)
        });
    match presented {
        None => Some("no secret"),
        Some(s) if !constant_time_eq(s.as_bytes(), secret.as_bytes()) => Some("wrong secret"),
        Some(_) => None,
    }
}

/// Whether `sig` is the HMAC-SHA256 of `body` keyed with `secret` (compared
/// in constant time by the `hmac` crate).
fn signed(secret: &str, body: &[u8], sig: &[u8]) -> bool {
    match Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            mac.verify_slice(sig).is_ok()
        }
        Err(_) => false,
    }
}

/// Lower- or upper-case hex to bytes; `None` when it is not hex.
fn hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

/// What a webhook caller gets back.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HookAccepted {
    /// The run started.
    run_id: Uuid,
    /// Its definition.
    definition: String,
    /// Its status when started.
    status: RunStatus,
}

/// A definition's webhook: starts a run with the body's fields over the
/// definition's variables.
#[utoipa::path(
    post,
    path = "/hooks/{id}",
    tag = "webhooks",
    security(()),
    params(
        ("id" = String, Path, description = "Webhook id"),
        ("X-Isoqube-Secret" = Option<String>, Header, nullable = false,
            description = "The webhook's secret (or send it as `Authorization: Bearer <secret>`)"),
        ("X-Hub-Signature-256" = Option<String>, Header, nullable = false,
            description = "Instead of the secret: `sha256=<hex>`, the HMAC-SHA256 of the raw body \
                keyed with the webhook's secret (as GitHub signs its webhooks)"),
        ("X-Signature" = Option<String>, Header, nullable = false,
            description = "The same as `X-Hub-Signature-256`, for other senders"),
        ("X-GitHub-Delivery" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,200}$",
            description = "The delivery's id: the same id again starts nothing and answers 200 \
                with the run it started (as long as that run is kept)"),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, pattern = "^[!-~]{1,200}$",
            description = "The same as `X-GitHub-Delivery`, for other senders")
    ),
    request_body(
        content = Option<isoqube::model::VariablesSchema>,
        content_type = "application/json",
        description = "The run's variables (an empty body or `null` is none)"
    ),
    responses(
        (status = 200, description = "A delivery id seen before: the run it started, nothing started", body = HookAccepted,
            headers(("Location" = String, description = "The run's path"))),
        (status = 202, description = "Run started", body = HookAccepted,
            headers(("Location" = String, description = "The run's path"))),
        (status = 400, description = "The body is not a JSON object (or `null`), a variable name holds a NUL character, the id cannot be decoded, or a delivery id is malformed", body = ErrorBody),
        (status = 401, description = "Missing or wrong secret, wrong or malformed signature", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
        (status = 413, description = "The body is larger than the limit", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn webhook(
    State(st): State<AppState>,
    Seg(hook_id): Seg,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let def = st
        .op
        .definitions()
        .await?
        .into_iter()
        .find(|d| d.webhook.as_ref().is_some_and(|w| w.id == hook_id))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("webhook '{hook_id}' not found"),
            )
        })?;
    let Some(expected) = def.webhook.as_ref().map(|w| w.secret.clone()) else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "webhook not found"));
    };
    if let Some(problem) = refusal(&headers, body.as_ref(), &expected) {
        warn!(webhook = %hook_id, "webhook call refused: {problem}");
        // The hook's own remedy only: the API token's would contradict it.
        return Ok(super::unauthorized_because(
            problem,
            "send the webhook's secret in the X-Isoqube-Secret header, or the body's \
             HMAC-SHA256 with it as X-Hub-Signature-256: sha256=<hex>",
        ));
    }
    let body = body.map_err(bytes_rejection)?;
    let vars: Variables = if body.iter().all(u8::is_ascii_whitespace) {
        Variables::new()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => storable(map, "the webhook body")?,
            Ok(Value::Null) => Variables::new(),
            Ok(other) => {
                return Err(ApiError::bad_request(format!(
                "the webhook body must be a JSON object (its fields become run variables), not {}",
                kind(&other)
            )))
            }
            Err(e) => {
                return Err(ApiError::bad_request(format!(
                    "the webhook body is not valid JSON: {e}"
                )))
            }
        }
    };
    let (run, started) = match delivery_id(&headers)? {
        Some(delivery) => {
            let request = format!("webhook\n{hook_id}\n{delivery}");
            let by = format!("webhook:{hook_id} delivery {delivery}");
            let start = StartRun::new(def.name.as_str()).vars(vars).started_by(by);
            st.op.start_once(&request, start).await?
        }
        None => {
            let by = format!("webhook:{hook_id}");
            let start = StartRun::new(def.name.as_str()).vars(vars).started_by(by);
            (st.op.start(start).await?, true)
        }
    };
    let code = if started {
        info!(run_id = %run.id, definition = %def.name, webhook = %hook_id, "run started by webhook");
        StatusCode::ACCEPTED
    } else {
        info!(run_id = %run.id, webhook = %hook_id, "webhook delivery seen before: its run, nothing started");
        StatusCode::OK
    };
    // The caller holds a hook secret, not the API token: it gets the id, not the run.
    Ok((
        code,
        [(header::LOCATION, run_location(&run)?)],
        Json(HookAccepted {
            run_id: run.id,
            definition: run.definition,
            status: run.status,
        }),
    )
        .into_response())
}

/// The headers naming a delivery, by which a redelivery is known: GitHub's,
/// then the generic one.
pub(crate) const DELIVERY_HEADERS: [&str; 2] = ["x-github-delivery", "idempotency-key"];

/// The delivery's id, when the caller sent one: 1-200 visible ASCII characters.
fn delivery_id(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some((name, value)) = DELIVERY_HEADERS
        .iter()
        .find_map(|h| headers.get(*h).map(|v| (*h, v)))
    else {
        return Ok(None);
    };
    let id = value.to_str().map(str::trim).unwrap_or_default();
    if id.is_empty() || id.len() > 200 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(format!(
            "header {name} must be 1-200 visible ASCII characters (a delivery id)"
        )));
    }
    Ok(Some(id.to_string()))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
