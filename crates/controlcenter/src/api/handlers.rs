//! The handlers behind [`super::router`]: request shapes, answers, and the
//! server-sent event stream of a run.
//!
//! It may use the [`Operator`](crate::ops::Operator) and the API's shared parts
//! (state, errors, extractors) in [`super`].

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use isoqube::schedule::{Schedule, Webhook};
use isoqube::{Definition, Run, RunFilter, RunStatus, Variables};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::{info, warn};
use uuid::Uuid;

use super::{
    bytes_rejection, constant_time_eq, encode_segment, query_rejection, ApiError, AppState, Body,
    STARTED_BY_HTTP,
};

type ApiResult<T = Response> = Result<T, ApiError>;

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

/// What a webhook secret looks like in every answer.
pub(crate) const REDACTED: &str = "***";

/// The header a webhook caller sends its secret in.
pub(crate) const SECRET_HEADER: &str = "x-isoqube-secret";

/// How long one wait for a run change lasts before looking again (the stream
/// sends keep-alive comments meanwhile).
const WATCH_SLICE: Duration = Duration::from_secs(10);

pub(crate) async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub(crate) async fn ready(State(st): State<AppState>) -> Response {
    let store = st.op.store().list_definitions().await.err();
    if let Some(e) = &store {
        // Details go to the log only: this endpoint answers without a token.
        warn!("readiness: the store does not answer: {e}");
    }
    let transport = st.op.transport().is_ready().await;
    let ok = store.is_none() && transport;
    let body = json!({
        "status": if ok { "ok" } else { "unavailable" },
        "store": if store.is_none() { "ok" } else { "unavailable" },
        "transport": if transport { "ok" } else { "not connected" },
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

pub(crate) async fn openapi() -> Json<Value> {
    Json(super::openapi::document())
}

pub(crate) async fn events(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "events": st.op.events().await? })))
}

pub(crate) async fn services(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "services": st.op.services().await? })))
}

// ---------------------------------------------------------------- definitions

/// A definition as a client sends it. Timestamps are accepted (so a `GET`
/// answer can be sent back) but the server sets them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DefinitionBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: String,
    steps: Vec<String>,
    #[serde(default)]
    variables: Variables,
    #[serde(default)]
    webhook: Option<WebhookBody>,
    #[serde(default)]
    schedules: Vec<Schedule>,
    #[serde(default, rename = "created_at")]
    _created_at: Option<Value>,
    #[serde(default, rename = "modified_at")]
    _modified_at: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    id: String,
    secret: String,
}

impl DefinitionBody {
    fn into_definition(self, name: String, existing: Option<&Definition>) -> Definition {
        let webhook = self.webhook.map(|w| {
            // "***" is what GET shows: keep the stored secret.
            let secret = match (w.secret.as_str(), existing.and_then(|d| d.webhook.as_ref())) {
                (REDACTED, Some(old)) => old.secret.clone(),
                _ => w.secret,
            };
            Webhook { id: w.id, secret }
        });
        let mut def = Definition::new(name, self.steps)
            .with_description(self.description)
            .with_variables(self.variables);
        def.webhook = webhook;
        def.schedules = self.schedules;
        def
    }
}

/// A definition as every answer shows it: the webhook secret redacted.
pub(crate) fn definition_json(def: &Definition) -> Value {
    let mut v = serde_json::to_value(def).unwrap_or_else(|_| json!({ "name": def.name }));
    if let Some(hook) = v.get_mut("webhook").and_then(Value::as_object_mut) {
        hook.insert("secret".into(), Value::String(REDACTED.into()));
    }
    v
}

fn location(path: &str) -> ApiResult<HeaderValue> {
    HeaderValue::from_str(path)
        .map_err(|_| ApiError::bad_request("the name cannot be used in a URL"))
}

pub(crate) async fn list_definitions(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    let defs: Vec<Value> = st
        .op
        .definitions()
        .await?
        .iter()
        .map(definition_json)
        .collect();
    Ok(Json(json!({ "definitions": defs })))
}

pub(crate) async fn create_definition(
    State(st): State<AppState>,
    Body(body): Body<DefinitionBody>,
) -> ApiResult {
    let name = body
        .name
        .clone()
        .ok_or_else(|| ApiError::bad_request("missing field `name`"))?;
    let loc = location(&format!("/api/v1/definitions/{}", encode_segment(&name)))?;
    let def = st
        .op
        .create_definition(body.into_definition(name, None))
        .await?;
    info!(definition = %def.name, "definition created over the API");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, loc)],
        Json(definition_json(&def)),
    )
        .into_response())
}

pub(crate) async fn get_definition(
    State(st): State<AppState>,
    Seg(name): Seg,
) -> ApiResult<Json<Value>> {
    Ok(Json(definition_json(&st.op.definition(&name).await?)))
}

pub(crate) async fn update_definition(
    State(st): State<AppState>,
    Seg(name): Seg,
    Body(body): Body<DefinitionBody>,
) -> ApiResult<Json<Value>> {
    if let Some(given) = &body.name {
        if *given != name {
            return Err(ApiError::bad_request(format!(
                "field `name` ('{given}') differs from the name in the path ('{name}'); \
                 definitions cannot be renamed"
            )));
        }
    }
    let existing = st.op.definition(&name).await?;
    let def = st
        .op
        .update_definition(body.into_definition(name, Some(&existing)))
        .await?;
    info!(definition = %def.name, "definition updated over the API");
    Ok(Json(definition_json(&def)))
}

pub(crate) async fn delete_definition(
    State(st): State<AppState>,
    Seg(name): Seg,
) -> ApiResult<StatusCode> {
    st.op.delete_definition(&name).await?;
    info!(definition = %name, "definition deleted over the API");
    Ok(StatusCode::NO_CONTENT)
}

// ----------------------------------------------------------------------- runs

/// `POST /runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartBody {
    definition: String,
    #[serde(default)]
    variables: Option<Variables>,
}

/// `GET /runs` query parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunsQuery {
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    before_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    definition: Option<String>,
}

/// The largest page.
pub(crate) const MAX_LIMIT: usize = 1000;
/// The page when `limit` is not given.
pub(crate) const DEFAULT_LIMIT: usize = 50;

fn parse_filter(q: RunsQuery) -> ApiResult<RunFilter> {
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "query parameter `limit`: '{l}' is not a number from 1 to {MAX_LIMIT}"
                ))
            })?,
    };
    let before = match q.before.as_deref() {
        None => None,
        Some(b) => {
            // A `+` of an offset that was not percent-encoded arrives as a space.
            let fixed = b.trim().replace(' ', "+");
            Some(
                DateTime::parse_from_rfc3339(&fixed)
                    .map_err(|e| {
                        ApiError::bad_request(format!(
                            "query parameter `before`: '{b}' is not an RFC 3339 time ({e})"
                        ))
                    })?
                    .with_timezone(&Utc),
            )
        }
    };
    let before_id = match q.before_id.as_deref() {
        None => None,
        Some(_) if before.is_none() => {
            return Err(ApiError::bad_request(
                "query parameter `before_id` needs `before` (pass both from the previous page)"
                    .to_string(),
            ))
        }
        Some(id) => Some(Uuid::parse_str(id.trim()).map_err(|_| {
            ApiError::bad_request(format!(
                "query parameter `before_id`: '{id}' is not a run id (a UUID)"
            ))
        })?),
    };
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(
            RunStatus::parse(s)
                .map_err(|e| ApiError::bad_request(format!("query parameter `status`: {e}")))?,
        ),
    };
    Ok(RunFilter {
        status,
        definition: q.definition,
        before,
        before_id,
        limit,
    })
}

pub(crate) fn run_id(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id.trim())
        .map_err(|_| ApiError::bad_request(format!("'{id}' is not a run id (a UUID)")))
}

fn run_location(run: &Run) -> ApiResult<HeaderValue> {
    location(&format!("/api/v1/runs/{}", run.id))
}

fn created_run(run: &Run) -> ApiResult {
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, run_location(run)?)],
        Json(run),
    )
        .into_response())
}

pub(crate) async fn list_runs(
    State(st): State<AppState>,
    query: Result<Query<RunsQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = query.map_err(query_rejection)?;
    let filter = parse_filter(q)?;
    let runs = st.op.runs(&filter).await?;
    // The cursor of the next page: the last run's time and id (runs created in
    // the same instant are told apart by id).
    let last = (runs.len() >= filter.limit).then(|| runs.last()).flatten();
    let next_before = last.map(|r| r.created_at.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    let next_before_id = last.map(|r| r.id);
    Ok(Json(json!({
        "runs": runs,
        "next_before": next_before,
        "next_before_id": next_before_id,
    })))
}

pub(crate) async fn start_run(
    State(st): State<AppState>,
    Body(body): Body<StartBody>,
) -> ApiResult {
    let run = st
        .op
        .start_as(
            &body.definition,
            body.variables.unwrap_or_default(),
            STARTED_BY_HTTP,
        )
        .await?;
    info!(run_id = %run.id, definition = %run.definition, "run started over the API");
    created_run(&run)
}

pub(crate) async fn get_run(State(st): State<AppState>, Seg(id): Seg) -> ApiResult<Json<Run>> {
    Ok(Json(st.op.run(run_id(&id)?).await?))
}

pub(crate) async fn run_status(State(st): State<AppState>, Seg(id): Seg) -> ApiResult {
    let run = st.op.run(run_id(&id)?).await?;
    let status = match run.status {
        RunStatus::Succeeded => StatusCode::OK,
        RunStatus::Pending | RunStatus::Running => StatusCode::ACCEPTED,
        RunStatus::Failed | RunStatus::Cancelled => StatusCode::CONFLICT,
    };
    Ok((status, Json(run)).into_response())
}

pub(crate) async fn rerun(State(st): State<AppState>, Seg(id): Seg) -> ApiResult {
    let run = st.op.rerun_as(run_id(&id)?, STARTED_BY_HTTP).await?;
    info!(run_id = %run.id, rerun_of = %id, "run re-run over the API");
    created_run(&run)
}

pub(crate) async fn resume(State(st): State<AppState>, Seg(id): Seg) -> ApiResult<Json<Run>> {
    let run = st.op.resume(run_id(&id)?).await?;
    info!(run_id = %run.id, "run resumed over the API");
    Ok(Json(run))
}

pub(crate) async fn cancel(State(st): State<AppState>, Seg(id): Seg) -> ApiResult<Json<Run>> {
    let run = st.op.cancel(run_id(&id)?).await?;
    info!(run_id = %run.id, "run cancelled over the API");
    Ok(Json(run))
}

/// Where the event stream of one run is.
struct Watch {
    op: crate::ops::Operator,
    id: Uuid,
    version: u64,
    first: Option<Run>,
    done: bool,
}

fn run_event(run: &Run) -> SseEvent {
    let data = serde_json::to_string(run)
        .unwrap_or_else(|e| json!({ "error": format!("cannot encode the run: {e}") }).to_string());
    SseEvent::default()
        .event("run")
        .id(run.version.to_string())
        .data(data)
}

pub(crate) async fn run_events(
    State(st): State<AppState>,
    Seg(id): Seg,
    headers: HeaderMap,
) -> ApiResult {
    let id = run_id(&id)?;
    let run = st.op.run(id).await?;
    // A reconnecting client sends the last version it saw.
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (version, first) = match last_seen {
        Some(v) if v >= run.version => (v, None),
        _ => (run.version, Some(run)),
    };
    let watch = Watch {
        op: st.op.clone(),
        id,
        version,
        first,
        done: false,
    };
    let stream = futures_util::stream::unfold(watch, |mut w| async move {
        if w.done {
            return None;
        }
        if let Some(run) = w.first.take() {
            w.done = run.status.is_finished();
            return Some((Ok::<_, Infallible>(run_event(&run)), w));
        }
        loop {
            match w.op.wait_for_change(w.id, w.version, WATCH_SLICE).await {
                Ok(Some(run)) if run.version > w.version => {
                    w.version = run.version;
                    w.done = run.status.is_finished();
                    return Some((Ok(run_event(&run)), w));
                }
                Ok(_) => continue,
                Err(e) => {
                    warn!(run_id = %w.id, "run event stream ends: {e}");
                    w.done = true;
                    let data = json!({ "error": e.to_string() }).to_string();
                    return Some((Ok(SseEvent::default().event("error").data(data)), w));
                }
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

// ------------------------------------------------------------------- webhooks

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
    let problem = match presented {
        None => Some("no secret"),
        Some(s) if !constant_time_eq(s.as_bytes(), expected.as_bytes()) => Some("wrong secret"),
        Some(_) => None,
    };
    if let Some(problem) = problem {
        warn!(webhook = %hook_id, "webhook call refused: {problem}");
        return Ok(super::unauthorized(&format!(
            "{problem} (send the webhook's secret as X-Isoqube-Secret)"
        )));
    }
    let body = body.map_err(bytes_rejection)?;
    let vars: Variables = if body.iter().all(u8::is_ascii_whitespace) {
        Variables::new()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => map,
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
    let run = st
        .op
        .start_as(&def.name, vars, &format!("webhook:{hook_id}"))
        .await?;
    info!(run_id = %run.id, definition = %def.name, webhook = %hook_id, "run started by webhook");
    // The caller holds a hook secret, not the API token: it gets the id, not the run.
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, run_location(&run)?)],
        Json(json!({
            "run_id": run.id,
            "definition": run.definition,
            "status": run.status,
        })),
    )
        .into_response())
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
