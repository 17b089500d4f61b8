//! The control center's HTTP API (`controlcenter serve`): JSON over HTTP/1.1,
//! versioned under `/api/v1`, for programs that start and watch runs.
//!
//! Everything goes through [`Operator`], like the CLI and the terminal UI.
//!
//! # Endpoints
//!
//! Health (`/health`, `/health/live`, `/health/ready`), the runs' metrics
//! for Prometheus (`/metrics`: stuck runs) and webhooks (`POST /hooks/{id}`)
//! at the root; everything else under `/api/v1`:
//! definitions, runs (with a server-sent event stream per run; a finished
//! run deleted with `DELETE /runs/{id}`), events, services. Each handler's `#[utoipa::path]` attribute says its method,
//! path, parameters, body and every answer, and [`router`] is built from those
//! same attributes (`utoipa_axum::routes!`), so the OpenAPI document served at
//! `GET /api/v1/openapi.json` ([`openapi_document`]) lists exactly the routes
//! served.
//!
//! Searching runs (`GET /runs`): `id_prefix`, `definition`, `status`, `var`
//! (`NAME=VALUE`, repeatable) and `log_text`, answered by the store's query.
//! Run routes take a run id or any unique start of it.
//!
//! Paging: `limit` is 1-1000 (default 50); the answer carries `next_before` and
//! `next_before_id`, the `created_at` and id of the last record of the page, to
//! pass as `before` and `before_id` for the next page (`null` on the last page).
//! A stored run that does not parse is left out of `runs` and named in
//! `corrupt` (id and reason); it counts towards `limit`, so a page is not cut
//! short by it, and reading it alone (`GET /runs/{id}`) answers 500 naming it. Runs
//! are ordered by (creation time, id), so runs created in the same instant are
//! neither skipped nor repeated across pages. `before` alone means "created
//! strictly before"; `before_id` alone means "after this run" (its creation
//! time stands for `before`; 404 when there is no such run).
//!
//! Every status an operation can answer is declared in the document with
//! the error body, and schemathesis checks the server against it in the test
//! suite (`tests/api/schemathesis.rs`).
//!
//! # Security
//!
//! Every endpoint but health, metrics, webhooks and the API's own description
//! (`/api/v1/openapi.json`, `/api/v1/docs`: they hold no secret) needs
//! `Authorization: Bearer <token>` ([`ApiSettings`]; the API refuses to start
//! without a token, or with one shorter than [`MIN_TOKEN_CHARS`]). A missing or
//! wrong token gets 401 and a warning in the log, which never contains the
//! token. Tokens and webhook secrets are compared in constant time
//! ([`constant_time_eq`]). Webhook secrets never leave the server: definitions
//! are shown with `"secret": "***"`, and a `PUT` that sends `"***"` back keeps
//! the stored secret.
//!
//! # Errors
//!
//! Every error is JSON: `{"error": "<what went wrong>"}`.
//!
//! | Status | When |
//! |---|---|
//! | 400 | the request cannot be read: invalid JSON, unknown, missing or mistyped field (the message names it), bad query parameter or `Last-Event-ID`, malformed run id or one whose start several runs share (the message names them), a webhook body that is not an object or `null`, a run variable name holding a NUL character |
//! | 401 | missing or wrong bearer token or webhook secret |
//! | 404 | no such definition, run, webhook or path (the message names the full path; or no run `before_id` names) |
//! | 405 | wrong method for the path |
//! | 409 | the name exists already, or the run is in the wrong state (resume a succeeded run, cancel a finished one, delete one not finished, signal a run nothing of which waits for the event) |
//! | 413 | the body is larger than [`ApiSettings::max_body_bytes`] |
//! | 415 | a body that is not `application/json` |
//! | 422 | a well-formed definition that breaks a rule (unknown event, a step object whose fields do not go together (a wait step without a timeout), a name outside `[A-Za-z0-9][A-Za-z0-9._-]{0,99}`, bad schedule or webhook, a variable name holding a NUL character, a replace whose `name` differs from the path); nothing is written |
//! | 500 | a stored record does not parse, or the server is misconfigured |
//! | 503 | the broker or the store is unavailable (within [`API_STORE_WAIT`] for MongoDB under `serve`); nothing is written |
//!
//! # Layering
//!
//! The API is a surface like the terminal UI: it may use the [`Operator`] and
//! `isoqube`'s configuration, never the CLI or the terminal UI. Its handlers
//! are by resource: `health`, `catalog` (the document, events, services),
//! `definitions`, `runs`, `signals` (events to runs that wait), `stream` (a
//! run's events), `hooks`; what they share
//! is in `common` and here (state, errors, extractors, the token check).

mod catalog;
mod common;
mod definitions;
mod health;
mod hooks;
mod openapi;
mod queues;
mod run_metrics;
mod runs;
mod signals;
mod stream;

use std::fmt;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tracing::{info, warn};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ops::Operator;

pub use health::READY_STORE_WAIT;
pub use openapi::{document as openapi_document, reference_page};

/// What `started_by` says for runs started over the API.
pub const STARTED_BY_HTTP: &str = "http";

/// The shortest API token accepted (as for webhook secrets).
pub const MIN_TOKEN_CHARS: usize = 16;

/// How the API is served: address, bearer token (at least
/// [`MIN_TOKEN_CHARS`] characters), body limit.
///
/// ```
/// let s = controlcenter::api::ApiSettings::new("s3cret-token-0123").unwrap();
/// assert_eq!(s.max_body_bytes, 64 * 1024);
/// assert!(!format!("{s:?}").contains("s3cret"));
/// assert!(controlcenter::api::ApiSettings::new("  ").is_err());
/// assert!(controlcenter::api::ApiSettings::new("short-token").is_err());
/// ```
#[derive(Clone)]
pub struct ApiSettings {
    /// Address to listen on (`host:port`).
    pub listen: String,
    /// Largest accepted request body; larger ones get 413.
    pub max_body_bytes: usize,
    token: String,
}

impl fmt::Debug for ApiSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiSettings")
            .field("listen", &self.listen)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("token", &"***")
            .finish()
    }
}

impl ApiSettings {
    /// Settings with this bearer token and the defaults of the `[api]` section;
    /// an error when the token is empty.
    pub fn new(token: impl Into<String>) -> anyhow::Result<Self> {
        let token = token.into();
        if token.trim().is_empty() {
            anyhow::bail!(
                "the HTTP API needs a bearer token: set [api] token in the configuration, \
                 ISOQUBE_API_TOKEN, or --token"
            );
        }
        if token.chars().count() < MIN_TOKEN_CHARS {
            // Like webhook secrets: a short token is guessed.
            anyhow::bail!(
                "the HTTP API token must be at least {MIN_TOKEN_CHARS} characters \
                 ([api] token, ISOQUBE_API_TOKEN or --token)"
            );
        }
        let defaults = crate::config::ApiSection::default();
        Ok(ApiSettings {
            listen: defaults.listen,
            max_body_bytes: defaults.max_body_bytes,
            token,
        })
    }

    /// Settings from the `[api]` section; an error when it has no token.
    pub fn from_config(api: &crate::config::ApiSection) -> anyhow::Result<Self> {
        let mut s = ApiSettings::new(api.token.clone().unwrap_or_default())?;
        s.listen = api.listen.clone();
        s.max_body_bytes = api.max_body_bytes;
        Ok(s)
    }

    /// Sets the listen address.
    pub fn with_listen(mut self, listen: impl Into<String>) -> Self {
        self.listen = listen.into();
        self
    }

    /// Sets the body limit.
    pub fn with_max_body_bytes(mut self, max: usize) -> Self {
        self.max_body_bytes = max;
        self
    }
}

/// Compares two byte strings in time that depends only on their lengths, not
/// on where they differ (for tokens and webhook secrets), with `subtle`.
///
/// ```
/// use controlcenter::api::constant_time_eq;
/// assert!(constant_time_eq(b"abc", b"abc"));
/// assert!(!constant_time_eq(b"abc", b"abd"));
/// assert!(!constant_time_eq(b"ab", b"abc"));
/// assert!(!constant_time_eq(b"", b"abc"));
/// ```
pub fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    given.ct_eq(expected).into()
}

/// What every handler gets.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) op: Operator,
    pub(crate) token: Arc<str>,
}

/// Where the token-guarded part of the API lives.
const API_PREFIX: &str = "/api/v1";

/// The API as an axum router (serve it with [`serve`], or with `axum::serve`
/// for tests).
pub fn router(op: Operator, settings: ApiSettings) -> Router {
    let state = AppState {
        op,
        token: Arc::from(settings.token.as_str()),
    };
    let guard = axum::middleware::from_fn_with_state(state.clone(), require_token);
    let (routes, _) = parts(|api| api.layer(guard));
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .with_state(state)
}

/// Every route with its OpenAPI document, from one list: `routes!` registers
/// each handler on the path and methods its `#[utoipa::path]` names, and
/// adds that operation to the document. `guard` wraps the `/api/v1` part (the
/// token check; nothing for the document alone), after its own fallbacks, so
/// unknown paths and wrong methods there need the token too.
pub(crate) fn parts(
    guard: impl FnOnce(Router<AppState>) -> Router<AppState>,
) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (api, api_doc) = OpenApiRouter::new()
        .routes(routes!(catalog::events))
        .routes(routes!(catalog::services))
        .routes(routes!(
            definitions::list_definitions,
            definitions::create_definition
        ))
        .routes(routes!(
            definitions::get_definition,
            definitions::update_definition,
            definitions::patch_definition,
            definitions::delete_definition
        ))
        .routes(routes!(runs::list_runs, runs::start_run))
        .routes(routes!(runs::get_run, runs::delete_run))
        .routes(routes!(runs::run_status))
        .routes(routes!(stream::run_events))
        .routes(routes!(runs::rerun))
        .routes(routes!(runs::resume))
        .routes(routes!(signals::signal_run))
        .routes(routes!(signals::signal_matching))
        .routes(routes!(runs::cancel))
        .routes(routes!(queues::list_error_queues))
        .routes(routes!(queues::list_faults))
        .routes(routes!(queues::get_fault, queues::discard_fault))
        .routes(routes!(queues::requeue_fault))
        .routes(routes!(queues::requeue_faults))
        .routes(routes!(queues::discard_faults))
        .routes(routes!(queues::queues_report))
        .routes(routes!(queues::stale_queues))
        .routes(routes!(queues::delete_queue))
        .split_for_parts();
    let api = guard(
        api.fallback(api_not_found)
            .method_not_allowed_fallback(api_method_not_allowed),
    );
    let (root, doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::live))
        .routes(routes!(health::live_too))
        .routes(routes!(health::ready))
        .routes(routes!(health::metrics))
        .routes(routes!(hooks::webhook))
        .routes(routes!(catalog::openapi))
        .routes(routes!(catalog::reference))
        .split_for_parts();
    (root.nest(API_PREFIX, api), doc.nest(API_PREFIX, api_doc))
}

/// Binds `settings.listen` and serves the API until `shutdown` resolves.
pub async fn serve(
    op: Operator,
    settings: ApiSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} ([api] listen)", settings.listen))?;
    serve_on(listener, op, settings, shutdown).await
}

/// How long an API request waits for an unreachable store before its 503:
/// `serve` connects to MongoDB with this server selection timeout (or the
/// shorter `--connect-timeout`), so a request fails in about this long, not
/// in the 5 s a command line waits.
pub const API_STORE_WAIT: Duration = Duration::from_secs(2);

/// How long open connections (e.g. event streams) get to finish after shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves the API on a bound listener until `shutdown` resolves; open
/// connections then get [`SHUTDOWN_GRACE`] to finish.
pub async fn serve_on(
    listener: TcpListener,
    op: Operator,
    settings: ApiSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr().context("listener has no address")?;
    let app = router(op, settings).into_make_service_with_connect_info::<SocketAddr>();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future(),
    );
    info!(%addr, "serving the HTTP API under /api/v1");
    tokio::select! {
        joined = &mut server => {
            return match joined {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(anyhow::anyhow!("the HTTP API server failed: {e}")),
                Err(e) => Err(anyhow::anyhow!("the HTTP API server task failed: {e}")),
            };
        }
        () = shutdown => {}
    }
    info!("HTTP API shutting down");
    let _ = stop.send(());
    match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(anyhow::anyhow!("the HTTP API server failed: {e}")),
        Ok(Err(e)) => Err(anyhow::anyhow!("the HTTP API server task failed: {e}")),
        Err(_) => {
            warn!("open HTTP connections did not finish in time; closing them");
            server.abort();
            Ok(())
        }
    }
}

/// An error answer: a status and `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong.
    pub message: String,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<isoqube::Error> for ApiError {
    fn from(e: isoqube::Error) -> Self {
        use isoqube::Error as E;
        let status = match &e {
            E::InvalidDefinition(_) => StatusCode::UNPROCESSABLE_ENTITY,
            E::NotFound { .. } => StatusCode::NOT_FOUND,
            E::Conflict { .. } | E::InvalidState(_) => StatusCode::CONFLICT,
            E::Malformed(_) => StatusCode::BAD_REQUEST,
            E::Store(_) | E::Transport(_) | E::Unroutable(_) => StatusCode::SERVICE_UNAVAILABLE,
            // A corrupt record is not an outage (retrying will not help), nor
            // is a registry or configuration fault, nor a kind added later.
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            warn!(status = status.as_u16(), "API request failed: {e}");
        }
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(common::ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

pub(crate) fn json_rejection(rej: JsonRejection) -> ApiError {
    match rej {
        JsonRejection::JsonDataError(e) => ApiError::bad_request(e.body_text()),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(e.body_text()),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON with Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(e) => bytes_rejection(e),
        other => ApiError::new(other.status(), other.body_text()),
    }
}

pub(crate) fn bytes_rejection(rej: BytesRejection) -> ApiError {
    let status = rej.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            "the request body is larger than the limit ([api] max_body_bytes)",
        )
    } else {
        ApiError::new(
            status,
            format!("cannot read the request body: {}", rej.body_text()),
        )
    }
}

pub(crate) fn query_rejection(rej: QueryRejection) -> ApiError {
    ApiError::bad_request(rej.body_text())
}

/// A JSON body whose rejections are [`ApiError`]s (400 naming the field, 413,
/// 415) instead of axum's plain-text answers.
pub(crate) struct Body<T>(pub(crate) T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(rej) => Err(json_rejection(rej)),
        }
    }
}

/// A JSON body that may be left out: `None` for a request with no body (no
/// `Content-Type`, no length, not chunked), [`Body`]'s answers otherwise.
pub(crate) struct OptionalBody<T>(pub(crate) Option<T>);

impl<S, T> FromRequest<S> for OptionalBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let h = req.headers();
        let length = h
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let has_body = length > 0
            || h.contains_key(header::CONTENT_TYPE)
            || h.contains_key(header::TRANSFER_ENCODING);
        if !has_body {
            return Ok(OptionalBody(None));
        }
        let Body(v) = Body::<T>::from_request(req, state).await?;
        Ok(OptionalBody(Some(v)))
    }
}

/// The bearer-token check in front of `/api/v1`.
async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    let problem = match presented {
        None => "no bearer token",
        Some(t) if !constant_time_eq(t.as_bytes(), state.token.as_bytes()) => "wrong bearer token",
        Some(_) => return next.run(req).await,
    };
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    // The path only (no query string) and never the header's value.
    warn!(method = %req.method(), path = %full_path(&req, true), %peer, "API request refused: {problem}");
    unauthorized_because(problem, "send Authorization: Bearer <token>")
}

/// `Bearer <token>` (scheme case-insensitive) to the token.
pub(crate) fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// 401 saying what was wrong and the one way to do it right (`remedy`).
pub(crate) fn unauthorized_because(problem: &str, remedy: &str) -> Response {
    let mut resp = ApiError::new(
        StatusCode::UNAUTHORIZED,
        format!("unauthorized: {problem} ({remedy})"),
    )
    .into_response();
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

/// The path as the client sent it. Inside the nested `/api/v1` router the
/// request's own URI has the prefix taken off: the nested fallbacks put it
/// back (`nested`).
fn full_path(req: &Request, nested: bool) -> String {
    let path = req.uri().path();
    if nested {
        format!("{API_PREFIX}{path}")
    } else {
        path.to_string()
    }
}

fn no_such_endpoint(req: &Request, nested: bool) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {}", full_path(req, nested)),
    )
}

fn wrong_method(req: &Request, nested: bool) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on {}",
            req.method(),
            full_path(req, nested)
        ),
    )
}

async fn not_found(req: Request) -> ApiError {
    no_such_endpoint(&req, false)
}

async fn method_not_allowed(req: Request) -> ApiError {
    wrong_method(&req, false)
}

async fn api_not_found(req: Request) -> ApiError {
    no_such_endpoint(&req, true)
}

async fn api_method_not_allowed(req: Request) -> ApiError {
    wrong_method(&req, true)
}

/// Percent-encodes one path segment (for `Location` headers).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }

    #[test]
    fn constant_time_eq_cases() {
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abcd", b"abc"));
        assert!(!constant_time_eq(b"abc\0", b"abc"));
    }
}
