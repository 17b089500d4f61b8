//! The queues and the error queues over HTTP, as the CLI's `errors` and
//! `queues` commands have them: list the error queues, an endpoint's faults
//! (filtered), one fault; requeue and discard one, or every one a filter
//! picks; the queues report, the stale queues, deleting one.
//!
//! It may use the [`Operator`](crate::ops::Operator) through the API state
//! and the API's shared parts.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use isoqube::Run;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::common::{ApiResult, ErrorBody, Seg};
use super::openapi::{NeedsToken, ServerTrouble};
use super::{ApiError, AppState};
use crate::ops::{Bulk, Done, EndpointQueues, ErrorQueueView, FaultView, QueuesReport, Requeued};

/// `GET /error-queues`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorQueueList {
    /// Every known endpoint's error queue the broker has, with its first
    /// 100 messages.
    error_queues: Vec<ErrorQueueView>,
}

/// `GET /error-queues/{endpoint}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FaultList {
    /// Every message of the queue the filter keeps.
    faults: Vec<FaultView>,
}

/// The filter of an endpoint's faults (`errors list ENDPOINT --match`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MatchQuery {
    /// Words that must all be in a message's endpoint, id, run id, step
    /// (`#N`), message type, reason or exception type (any case); none:
    /// every message.
    #[serde(default, rename = "match")]
    #[param(rename = "match")]
    words: Option<String>,
}

/// What requeueing one message did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RequeueDone {
    /// The endpoint whose error queue held it.
    endpoint: String,
    /// The message.
    message_id: String,
    /// `published` (sent to the endpoint again) or `resumed` (its run was
    /// resumed from its step, and the message removed).
    outcome: String,
    /// What the operator is told (`requeued to ...`, `resumed run ... from step N`).
    text: String,
    /// The resumed run, for `resumed`.
    run: Option<Run>,
}

impl RequeueDone {
    fn of(message_id: &str, r: Requeued) -> Self {
        let text = r.to_string();
        match r {
            Requeued::Published { endpoint } => RequeueDone {
                endpoint,
                message_id: message_id.to_string(),
                outcome: "published".into(),
                text,
                run: None,
            },
            Requeued::Resumed { endpoint, run, .. } => RequeueDone {
                endpoint,
                message_id: message_id.to_string(),
                outcome: "resumed".into(),
                text,
                run: Some(*run),
            },
        }
    }
}

/// One message of a bulk requeue or discard.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BulkItem {
    /// The message.
    message_id: String,
    /// What came of it (done), or why not (failed).
    text: String,
}

/// What a bulk requeue or discard did, message by message.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BulkDone {
    /// The messages acted on.
    done: Vec<BulkItem>,
    /// The messages refused or failed (left in their queue).
    failed: Vec<BulkItem>,
    /// What went wrong beyond one message (look at the queue again).
    errors: Vec<String>,
}

impl From<Bulk> for BulkDone {
    fn from(b: Bulk) -> Self {
        let item = |f: FaultView, text: String| BulkItem {
            message_id: f.message_id,
            text,
        };
        BulkDone {
            done: b
                .done
                .into_iter()
                .map(|(f, d): (FaultView, Done)| item(f, d.to_string()))
                .collect(),
            failed: b
                .failed
                .into_iter()
                .map(|(f, e)| item(f, e.to_string()))
                .collect(),
            errors: b.errors.iter().map(ToString::to_string).collect(),
        }
    }
}

/// `GET /queues/stale`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StaleQueues {
    /// The queues of every endpoint no live service hosts that the broker still has.
    endpoints: Vec<EndpointQueues>,
}

/// Deleting a queue (`queues delete NAME [--force]`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ForceQuery {
    /// Delete it with the messages it holds.
    #[serde(default)]
    #[param(value_type = Option<bool>, default = false)]
    force: Option<String>,
}

/// A queue deleted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QueueDeleted {
    /// Its name (without the broker prefix).
    queue: String,
    /// Its name on the broker.
    broker_queue: String,
    /// Messages that went with it.
    messages: u32,
}

/// Every known endpoint's error queue, with its first 100 messages.
#[utoipa::path(
    get,
    path = "/error-queues",
    tag = "error-queues",
    responses((status = 200, description = "The error queues", body = ErrorQueueList), NeedsToken, ServerTrouble)
)]
pub(crate) async fn list_error_queues(
    State(st): State<AppState>,
) -> ApiResult<Json<ErrorQueueList>> {
    Ok(Json(ErrorQueueList {
        error_queues: st.op.error_queues().await?,
    }))
}

/// Every message of an endpoint's error queue that the filter keeps.
#[utoipa::path(
    get,
    path = "/error-queues/{endpoint}",
    tag = "error-queues",
    params(("endpoint" = String, Path, description = "The endpoint (or its error queue, `<endpoint>_error`)"), MatchQuery),
    responses(
        (status = 200, description = "The messages", body = FaultList),
        (status = 400, description = "A malformed path or query", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such endpoint, or its error queue is not there", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn list_faults(
    State(st): State<AppState>,
    Seg(endpoint): Seg,
    q: Result<Query<MatchQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<FaultList>> {
    let words = match_words(q)?;
    let faults = st
        .op
        .faults_where(Some(&endpoint), |f| f.matches(&words))
        .await?;
    Ok(Json(FaultList { faults }))
}

/// One message of an endpoint's error queue, whole (headers and body).
#[utoipa::path(
    get,
    path = "/error-queues/{endpoint}/{message_id}",
    tag = "error-queues",
    params(
        ("endpoint" = String, Path, description = "The endpoint (or its error queue)"),
        ("message_id" = String, Path, description = "The message's id")
    ),
    responses(
        (status = 200, description = "The message", body = FaultView),
        (status = 400, description = "A malformed path", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such endpoint or message", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn get_fault(
    State(st): State<AppState>,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> ApiResult<Json<FaultView>> {
    let (endpoint, id) = two(path)?;
    st.op
        .faults_where(Some(&endpoint), |f| f.message_id == id)
        .await?
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| isoqube::Error::not_found("message", id).into())
}

/// Sends one message back to its endpoint, or resumes its run from its step
/// (refused, saying why, where its step would not run).
#[utoipa::path(
    post,
    path = "/error-queues/{endpoint}/{message_id}/requeue",
    tag = "error-queues",
    params(
        ("endpoint" = String, Path, description = "The endpoint (or its error queue)"),
        ("message_id" = String, Path, description = "The message's id")
    ),
    responses(
        (status = 200, description = "What requeueing it did", body = RequeueDone),
        (status = 400, description = "A malformed path", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such endpoint or message", body = ErrorBody),
        (status = 409, description = "Refused: its step would not run (the message names why)", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn requeue_fault(
    State(st): State<AppState>,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> ApiResult<Json<RequeueDone>> {
    let (endpoint, id) = two(path)?;
    let done = st.op.requeue(&endpoint, &id).await?;
    Ok(Json(RequeueDone::of(&id, done)))
}

/// Deletes one message of an endpoint's error queue for good.
#[utoipa::path(
    delete,
    path = "/error-queues/{endpoint}/{message_id}",
    tag = "error-queues",
    params(
        ("endpoint" = String, Path, description = "The endpoint (or its error queue)"),
        ("message_id" = String, Path, description = "The message's id")
    ),
    responses(
        (status = 204, description = "Discarded"),
        (status = 400, description = "A malformed path", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such endpoint or message", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn discard_fault(
    State(st): State<AppState>,
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> ApiResult<StatusCode> {
    let (endpoint, id) = two(path)?;
    st.op.discard(&endpoint, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Requeues every message of an endpoint's error queue the filter keeps
/// (one pass; each outcome said, a refusal leaves its message).
#[utoipa::path(
    post,
    path = "/error-queues/{endpoint}/requeue",
    tag = "error-queues",
    params(("endpoint" = String, Path, description = "The endpoint (or its error queue)"), MatchQuery),
    responses(
        (status = 200, description = "Each message's outcome", body = BulkDone),
        (status = 400, description = "A malformed path or query", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such endpoint, or its error queue is not there", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn requeue_faults(
    State(st): State<AppState>,
    Seg(endpoint): Seg,
    q: Result<Query<MatchQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<BulkDone>> {
    let words = match_words(q)?;
    let faults = st
        .op
        .faults_where(Some(&endpoint), |f| f.matches(&words))
        .await?;
    Ok(Json(st.op.requeue_each(faults).await.into()))
}

/// Discards every message of an endpoint's error queue the filter keeps.
#[utoipa::path(
    post,
    path = "/error-queues/{endpoint}/discard",
    tag = "error-queues",
    params(("endpoint" = String, Path, description = "The endpoint (or its error queue)"), MatchQuery),
    responses(
        (status = 200, description = "Each message's outcome", body = BulkDone),
        (status = 400, description = "A malformed path or query", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such endpoint, or its error queue is not there", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn discard_faults(
    State(st): State<AppState>,
    Seg(endpoint): Seg,
    q: Result<Query<MatchQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<BulkDone>> {
    let words = match_words(q)?;
    let faults = st
        .op
        .faults_where(Some(&endpoint), |f| f.matches(&words))
        .await?;
    Ok(Json(st.op.discard_each(faults).await.into()))
}

/// Every endpoint's queue and error queue: depth, in flight, consumers.
#[utoipa::path(
    get,
    path = "/queues",
    tag = "queues",
    responses((status = 200, description = "The queues", body = QueuesReport), NeedsToken, ServerTrouble)
)]
pub(crate) async fn queues_report(State(st): State<AppState>) -> ApiResult<Json<QueuesReport>> {
    Ok(Json(st.op.queues(std::time::Duration::ZERO).await?))
}

/// The queues of every endpoint no live service hosts that the broker still has.
#[utoipa::path(
    get,
    path = "/queues/stale",
    tag = "queues",
    responses((status = 200, description = "The stale queues", body = StaleQueues), NeedsToken, ServerTrouble)
)]
pub(crate) async fn stale_queues(State(st): State<AppState>) -> ApiResult<Json<StaleQueues>> {
    Ok(Json(StaleQueues {
        endpoints: st.op.stale_queues().await?,
    }))
}

/// Deletes a queue of an endpoint no live service hosts (refused, saying
/// why, when one does, when it has consumers, or when it holds messages
/// without `force=true`).
#[utoipa::path(
    delete,
    path = "/queues/{name}",
    tag = "queues",
    params(("name" = String, Path, description = "The queue (as the control center or the broker names it)"), ForceQuery),
    responses(
        (status = 200, description = "The queue deleted", body = QueueDeleted),
        (status = 400, description = "A malformed path or query", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "Not a queue of a known endpoint", body = ErrorBody),
        (status = 409, description = "Refused: hosted, consumed, or holding messages (the message says)", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn delete_queue(
    State(st): State<AppState>,
    Seg(name): Seg,
    q: Result<Query<ForceQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<QueueDeleted>> {
    let Query(q) = q.map_err(super::query_rejection)?;
    let force = match q.force.as_deref().map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "query parameter `force`: '{other}' is not true or false"
            )))
        }
    };
    let d = st.op.delete_queue(&name, force).await?;
    Ok(Json(QueueDeleted {
        queue: d.queue,
        broker_queue: d.broker_queue,
        messages: d.messages,
    }))
}

/// The filter's words (empty: every message).
fn match_words(
    q: Result<Query<MatchQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<String> {
    let Query(q) = q.map_err(super::query_rejection)?;
    Ok(q.words.unwrap_or_default())
}

/// The two path parameters, with a JSON 400 when they cannot be decoded.
fn two(
    path: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> ApiResult<(String, String)> {
    path.map(|Path(p)| p)
        .map_err(|rej| ApiError::bad_request(format!("bad path parameter: {}", rej.body_text())))
}
