//! The run endpoints: list (paged), start, read, status as a code, re-run,
//! resume, cancel. The event stream of a run is in [`super::stream`].
//!
//! It may use the [`Operator`](crate::ops::Operator) through the API state and
//! the API's shared parts.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use isoqube::{model::CorruptRun, Rerun, Resume, Run, RunFilter, RunStatus, StartRun, Variables};
use serde::{Deserialize, Serialize};
use tracing::info;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::common::{location, storable, ApiResult, ErrorBody, Seg};
use super::openapi::{BodyRefused, NeedsToken, ServerTrouble};
use super::{query_rejection, ApiError, AppState, Body, OptionalBody, STARTED_BY_HTTP};

/// The `status` parameter of `GET /runs`: a run status, or `Waiting` (the
/// run is `Running` with a step waiting for a signal). Only described (the
/// handler reads the text with `RunStatus::parse`); its names are
/// `RunStatus`'s, which a test checks.
#[allow(dead_code)]
#[derive(ToSchema)]
#[schema(as = RunStatusFilter)]
pub(crate) enum StatusParam {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Compensating,
    Compensated,
    CompensationFailed,
    Waiting,
}

/// `POST /runs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = StartRun)]
pub(crate) struct StartBody {
    /// The definition to run.
    definition: String,
    /// Over the definition's variables.
    #[serde(default)]
    #[schema(value_type = Option<isoqube::model::VariablesSchema>)]
    variables: Option<Variables>,
    /// The run's priority, 0-9 (default: the definition's).
    #[serde(default, deserialize_with = "optional_priority")]
    #[schema(value_type = Option<u8>, minimum = 0, maximum = 9)]
    priority: Option<u8>,
    /// Start it later, at this time (RFC 3339): stored now, `Pending`, its
    /// first steps published then. A time past starts it now.
    #[serde(default)]
    at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A priority as [`super::definitions::priority_number`] reads it, if any.
fn optional_priority<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => super::definitions::priority_number(v)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// `GET /runs` query parameters (read as text, so a bad one gets a message
/// naming it).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunsQuery {
    /// Page size.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000, default = 50)]
    limit: Option<String>,
    /// Only runs created before this time: pass `next_before` of the previous page.
    #[serde(default)]
    #[param(value_type = Option<String>, format = DateTime)]
    before: Option<String>,
    /// The runs after this run in the list's order: pass `next_before_id` of
    /// the previous page. With `before`, also the runs created at exactly
    /// `before` whose id sorts below this one; alone, `before` is this run's
    /// creation time (404 when there is no such run).
    #[serde(default)]
    #[param(value_type = Option<Uuid>)]
    before_id: Option<String>,
    /// Only runs in this status (any case), or `Waiting`: running runs with
    /// a step waiting for a signal.
    #[serde(default)]
    #[param(inline, value_type = Option<StatusParam>)]
    status: Option<String>,
    /// Only runs of this definition.
    #[serde(default)]
    definition: Option<String>,
    /// Only runs whose id starts with this (hex digits and `-`, any case).
    #[serde(default)]
    #[param(value_type = Option<String>, pattern = "^[0-9A-Fa-f-]{1,36}$")]
    id_prefix: Option<String>,
    /// Only runs whose variable is this value, as `NAME=VALUE` (repeat the
    /// parameter: all must hold). The variable is a string equal to VALUE, or
    /// equals VALUE read as JSON (`n=2` finds 2 and "2").
    #[serde(default)]
    #[param(value_type = Option<Vec<VarTerm>>, explode, style = Form)]
    var: Vec<String>,
    /// Only runs with a log line whose message contains this text (any case).
    #[serde(default)]
    log_text: Option<String>,
    /// A search in the run search grammar (as the TUI's `/` and `runs list
    /// QUERY`), over all runs, with the other parameters: words that must
    /// all hold, `status:failed,cancelled`, `def:NAME`, `id:PREFIX`,
    /// `KEY=VALUE`, `log:TEXT`, `"quoted words"`, plain words (in the id's
    /// start, definition, status, starter, error, variables, steps).
    #[serde(default)]
    q: Option<String>,
}

impl RunsQuery {
    /// The query from its pairs: `var` may repeat, nothing else may, and an
    /// unknown parameter is named.
    fn from_pairs(pairs: Vec<(String, String)>) -> ApiResult<RunsQuery> {
        let mut fields = serde_json::Map::new();
        let mut var = Vec::new();
        for (k, v) in pairs {
            if k == "var" {
                var.push(v);
            } else if fields.insert(k.clone(), v.into()).is_some() {
                return Err(ApiError::bad_request(format!(
                    "query parameter `{k}` is given more than once (a duplicate)"
                )));
            }
        }
        let mut q: RunsQuery = serde_json::from_value(fields.into())
            .map_err(|e| ApiError::bad_request(format!("query: {e}")))?;
        q.var = var;
        Ok(q)
    }
}

/// `NAME=VALUE` of the `var` query parameter (documentation only).
#[allow(dead_code)]
#[derive(ToSchema)]
#[schema(value_type = String, pattern = "^[^=]*[^=\\s][^=]*=")]
pub(crate) struct VarTerm(String);

/// A page of runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RunPage {
    /// The runs.
    runs: Vec<Run>,
    /// Stored runs of this page that do not parse: left out of `runs`, named
    /// here (id and what does not parse), and logged. They count towards
    /// `limit`, so a page may hold fewer runs and still have a next page.
    corrupt: Vec<CorruptRun>,
    /// `before` for the next page: the last record's creation time; `null` on the last page.
    #[schema(format = DateTime)]
    next_before: Option<String>,
    /// `before_id` for the next page: the last record's id; `null` on the last page.
    next_before_id: Option<Uuid>,
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
        Some(id) => Some(Uuid::parse_str(id.trim()).map_err(|_| {
            ApiError::bad_request(format!(
                "query parameter `before_id`: '{id}' is not a run id (a UUID)"
            ))
        })?),
    };
    let (status, waiting) = match q.status.as_deref() {
        None => (None, false),
        Some(s) if s.trim().eq_ignore_ascii_case(isoqube::model::WAITING) => (None, true),
        Some(s) => (
            Some(
                RunStatus::parse(s)
                    .map_err(|e| ApiError::bad_request(format!("query parameter `status`: {e}")))?,
            ),
            false,
        ),
    };
    let id_prefix = match q.id_prefix.as_deref() {
        None => None,
        Some(p) => Some(crate::text::run_id_prefix(p).ok_or_else(|| {
            ApiError::bad_request(format!(
                "query parameter `id_prefix`: '{p}' cannot start a run id (hex digits and `-`)"
            ))
        })?),
    };
    let mut variables = Vec::with_capacity(q.var.len());
    for v in &q.var {
        let (k, val) = crate::text::split_var(v).map_err(|e| {
            ApiError::bad_request(format!(
                "query parameter `var`: {}",
                e.describe(&format!("'{v}'"))
            ))
        })?;
        variables.push((k.to_string(), val.to_string()));
    }
    let filter = RunFilter {
        status,
        waiting,
        definition: q.definition,
        before,
        before_id,
        limit,
        id_prefix,
        variables,
        log_text: q.log_text.filter(|t| !t.is_empty()),
        ..RunFilter::default()
    };
    filter
        .with_query(q.q.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::bad_request(format!("query parameter `q`: {e}")))
}

/// The creation time of the run `before_id` names; a 404 naming the
/// parameter when there is no such run.
async fn cursor_time(st: &AppState, id: Uuid) -> ApiResult<DateTime<Utc>> {
    match st.op.run(id).await {
        Ok(run) => Ok(run.created_at),
        Err(isoqube::Error::NotFound { .. }) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("query parameter `before_id`: run '{id}' not found"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// A run id from the path: the id, or any unique start of it (as the CLI
/// takes it). 400 when it is not hex digits and `-`, or when several runs'
/// ids start so (the message names them: send more of the id); 404 when
/// none does.
pub(crate) async fn run_id(st: &AppState, id: &str) -> ApiResult<Uuid> {
    if let Ok(id) = Uuid::parse_str(id.trim()) {
        return Ok(id);
    }
    if !id.trim().chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(ApiError::bad_request(format!(
            "'{id}' is not a run id (a UUID, or the start of one)"
        )));
    }
    if crate::text::run_id_prefix(id).is_none() {
        // Only hyphens, or longer than an id: no run's id starts so.
        return Err(isoqube::Error::not_found("run", id.trim().to_string()).into());
    }
    match st.op.run_id(id).await {
        Ok(id) => Ok(id),
        Err(isoqube::Error::InvalidState(ambiguous)) => Err(ApiError::bad_request(ambiguous)),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn run_location(run: &Run) -> ApiResult<HeaderValue> {
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

/// Runs, newest first, paged.
///
/// Runs are ordered by (creation time, id), so runs created in the same
/// instant are neither skipped nor repeated across pages; `before` alone means
/// "created strictly before", `before_id` alone "after this run".
#[utoipa::path(
    get,
    path = "/runs",
    tag = "runs",
    params(RunsQuery),
    responses(
        (status = 200, description = "A page of runs", body = RunPage),
        (status = 400, description = "A bad or unknown query parameter (the message names it)", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "`before_id` alone names no run", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn list_runs(
    State(st): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult<Json<RunPage>> {
    let Query(pairs) = query.map_err(query_rejection)?;
    let mut filter = parse_filter(RunsQuery::from_pairs(pairs)?)?;
    if let (None, Some(id)) = (filter.before, filter.before_id) {
        // `before_id` alone: the runs after that one, so its creation time.
        filter.before = Some(cursor_time(&st, id).await?);
    }
    let page = st.op.runs(&filter).await?;
    // The cursor of the next page: the last record's time and id, corrupt or
    // not (runs created in the same instant are told apart by id).
    let next_before = page
        .next
        .map(|c| c.created_at.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    let next_before_id = page.next.map(|c| c.id);
    Ok(Json(RunPage {
        runs: page.runs,
        corrupt: page.corrupt,
        next_before,
        next_before_id,
    }))
}

/// Start a run.
#[utoipa::path(
    post,
    path = "/runs",
    tag = "runs",
    request_body = StartBody,
    responses(
        (status = 201, description = "Started", body = Run,
            headers(("Location" = String, description = "The run's path"))),
        (status = 400, description = "Unreadable body, unknown or mistyped field, a variable name with a NUL character", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such definition", body = ErrorBody),
        BodyRefused,
        ServerTrouble
    )
)]
pub(crate) async fn start_run(
    State(st): State<AppState>,
    Body(body): Body<StartBody>,
) -> ApiResult {
    let vars = storable(body.variables.unwrap_or_default(), "field `variables`")?;
    let run = st
        .op
        .start(StartRun {
            at: body.at,
            ..StartRun::new(body.definition)
                .vars(vars)
                .priority_opt(body.priority)
                .started_by(STARTED_BY_HTTP)
        })
        .await?;
    info!(run_id = %run.id, definition = %run.definition, "run started over the API");
    created_run(&run)
}

/// One run with its steps.
#[utoipa::path(
    get,
    path = "/runs/{id}",
    tag = "runs",
    params(("id" = String, Path, description = "Run id, or any unique start of it (hex digits and `-`)", pattern = "^[0-9A-Fa-f-]{1,36}$")),
    responses(
        (status = 200, description = "The run", body = Run),
        (status = 400, description = "Malformed run id, or a start of one that several runs share (the message names them)", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such run", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn get_run(State(st): State<AppState>, Seg(id): Seg) -> ApiResult<Json<Run>> {
    Ok(Json(st.op.run(run_id(&st, &id).await?).await?))
}

/// Delete a finished run with its log lines (a run not finished is refused).
#[utoipa::path(
    delete,
    path = "/runs/{id}",
    tag = "runs",
    params(("id" = String, Path, description = "Run id, or any unique start of it (hex digits and `-`)", pattern = "^[0-9A-Fa-f-]{1,36}$")),
    responses(
        (status = 204, description = "Deleted, with its log lines"),
        (status = 400, description = "Malformed run id, or a start of one that several runs share (the message names them)", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such run", body = ErrorBody),
        (status = 409, description = "The run is not finished (pending, running or compensating): cancel it first", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn delete_run(State(st): State<AppState>, Seg(id): Seg) -> ApiResult<StatusCode> {
    let run = st.op.delete_run(run_id(&st, &id).await?).await?;
    info!(run_id = %run.id, "run deleted over the API");
    Ok(StatusCode::NO_CONTENT)
}

/// Where a run is, as a status code.
#[utoipa::path(
    get,
    path = "/runs/{id}/status",
    tag = "runs",
    params(("id" = String, Path, description = "Run id, or any unique start of it (hex digits and `-`)", pattern = "^[0-9A-Fa-f-]{1,36}$")),
    responses(
        (status = 200, description = "Succeeded", body = Run),
        (status = 202, description = "Pending, running or compensating", body = Run),
        (status = 400, description = "Malformed run id, or a start of one that several runs share (the message names them)", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such run", body = ErrorBody),
        (status = 409, description = "Failed, cancelled, compensated or compensation failed", body = Run),
        ServerTrouble
    )
)]
pub(crate) async fn run_status(State(st): State<AppState>, Seg(id): Seg) -> ApiResult {
    let run = st.op.run(run_id(&st, &id).await?).await?;
    let status = match run.status {
        RunStatus::Succeeded => StatusCode::OK,
        RunStatus::Pending | RunStatus::Running | RunStatus::Compensating => StatusCode::ACCEPTED,
        RunStatus::Failed
        | RunStatus::Cancelled
        | RunStatus::Compensated
        | RunStatus::CompensationFailed => StatusCode::CONFLICT,
    };
    Ok((status, Json(run)).into_response())
}

/// `POST /runs/{id}/rerun` and `/resume`, both optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ChangedVariables)]
pub(crate) struct VarsBody {
    /// Merged over the old run's parameters (rerun) or the run's variables
    /// (resume): a name given replaces the value, the others stay.
    #[serde(default)]
    #[schema(value_type = Option<isoqube::model::VariablesSchema>)]
    variables: Option<Variables>,
}

/// The variables of an optional [`VarsBody`] (no body or `null`: none), when
/// a store can keep them.
fn changed_vars(body: Option<Option<VarsBody>>) -> ApiResult<Variables> {
    let vars = body.flatten().and_then(|b| b.variables).unwrap_or_default();
    storable(vars, "field `variables`")
}

/// Start a new run with the same definition and variables (changed by the
/// optional body's `variables`).
#[utoipa::path(
    post,
    path = "/runs/{id}/rerun",
    tag = "runs",
    params(("id" = String, Path, description = "Run id, or any unique start of it (hex digits and `-`)", pattern = "^[0-9A-Fa-f-]{1,36}$")),
    request_body(content = Option<VarsBody>,
        description = "Optional: variables merged over the old run's parameters"),
    responses(
        (status = 201, description = "The new run", body = Run,
            headers(("Location" = String, description = "The new run's path"))),
        (status = 400, description = "Malformed run id (or a start several runs share: named) or body, a variable name with a NUL character", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such run", body = ErrorBody),
        BodyRefused,
        ServerTrouble
    )
)]
pub(crate) async fn rerun(
    State(st): State<AppState>,
    Seg(id): Seg,
    OptionalBody(body): OptionalBody<Option<VarsBody>>,
) -> ApiResult {
    let vars = changed_vars(body)?;
    let run = st
        .op
        .rerun(
            run_id(&st, &id).await?,
            Rerun::new().vars(vars).started_by(STARTED_BY_HTTP),
        )
        .await?;
    info!(run_id = %run.id, rerun_of = %id, "run re-run over the API");
    created_run(&run)
}

/// Continue a failed or cancelled run from its failed step (with the
/// optional body's `variables` merged over its variables first).
#[utoipa::path(
    post,
    path = "/runs/{id}/resume",
    tag = "runs",
    params(("id" = String, Path, description = "Run id, or any unique start of it (hex digits and `-`)", pattern = "^[0-9A-Fa-f-]{1,36}$")),
    request_body(content = Option<VarsBody>,
        description = "Optional: variables merged over the run's variables before it goes on"),
    responses(
        (status = 200, description = "The resumed run", body = Run),
        (status = 400, description = "Malformed run id (or a start several runs share: named) or body, a variable name with a NUL character", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such run", body = ErrorBody),
        (status = 409, description = "The run is not failed or cancelled", body = ErrorBody),
        BodyRefused,
        ServerTrouble
    )
)]
pub(crate) async fn resume(
    State(st): State<AppState>,
    Seg(id): Seg,
    OptionalBody(body): OptionalBody<Option<VarsBody>>,
) -> ApiResult<Json<Run>> {
    let vars = changed_vars(body)?;
    let run = st
        .op
        .resume(run_id(&st, &id).await?, Resume::new().vars(vars))
        .await?;
    info!(run_id = %run.id, "run resumed over the API");
    Ok(Json(run))
}

/// `POST /runs/{id}/cancel` query parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct CancelQuery {
    /// Also undo what the run did: the steps in flight are told to stop, then
    /// every succeeded step's compensation runs (the run is `Compensating`).
    #[serde(default)]
    #[param(value_type = Option<bool>, default = false)]
    compensate: Option<String>,
}

/// Cancel a pending or running run (a compensating one too, which stops its
/// compensation); with `compensate=true`, undo what it did.
#[utoipa::path(
    post,
    path = "/runs/{id}/cancel",
    tag = "runs",
    params(("id" = String, Path, description = "Run id, or any unique start of it (hex digits and `-`)", pattern = "^[0-9A-Fa-f-]{1,36}$"), CancelQuery),
    responses(
        (status = 200, description = "The cancelled (or compensating) run", body = Run),
        (status = 400, description = "Malformed run id, a start of one that several runs share (the message names them), or a bad compensate value", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such run", body = ErrorBody),
        (status = 409, description = "The run is finished already", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn cancel(
    State(st): State<AppState>,
    Seg(id): Seg,
    query: Result<Query<CancelQuery>, QueryRejection>,
) -> ApiResult<Json<Run>> {
    let Query(q) = query.map_err(query_rejection)?;
    let compensate = match q.compensate.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("compensate must be true or false, not '{other}'"),
            ))
        }
    };
    let id = run_id(&st, &id).await?;
    let run = if compensate {
        st.op.cancel_and_compensate(id).await?
    } else {
        st.op.cancel(id).await?
    };
    info!(run_id = %run.id, compensate, "run cancelled over the API");
    Ok(Json(run))
}
