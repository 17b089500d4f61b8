//! The server-sent event stream of one run: a `run` event (data: the run, id:
//! its version) per change, each preceded by a `compensation` event per
//! compensation that changed with it, ending when the run is finished.
//!
//! It may use the [`Operator`](crate::ops::Operator) through the API state and
//! the API's shared parts.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures_util::StreamExt;
use isoqube::{Run, StepStatus};
use serde::Serialize;
use serde_json::json;
use tracing::warn;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use uuid::Uuid;

use super::common::{ApiResult, ErrorBody, Seg};
use super::openapi::{NeedsToken, ServerTrouble};
use super::runs::run_id;
use super::{ApiError, AppState};
use crate::ops::{RunChange, StepChange, WatchFrom};

/// How long one wait for a run change lasts before looking again (the stream
/// sends keep-alive comments meanwhile).
const WATCH_SLICE: Duration = Duration::from_secs(10);

/// The data of a `compensation` event: a step's compensation changed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CompensationChange {
    /// The run.
    run_id: Uuid,
    /// The step it undoes (its index, from 0).
    index: usize,
    /// The step's name.
    step: String,
    /// The compensation's event.
    event: String,
    /// Where the compensation is now.
    status: StepStatus,
    /// Its consumer invocations so far.
    attempts: u32,
    /// Its last error, if any.
    error: Option<String>,
}

impl From<StepChange> for CompensationChange {
    fn from(c: StepChange) -> Self {
        CompensationChange {
            run_id: c.run_id,
            index: c.index,
            step: c.step,
            event: c.event,
            status: c.status,
            attempts: c.attempts,
            error: c.error,
        }
    }
}

/// The event of one change, if the stream sends it (a step's own change is
/// in the `run` event that follows it).
fn sse_event(change: RunChange) -> Option<SseEvent> {
    match change {
        RunChange::Snapshot(run) | RunChange::Updated(run) => Some(run_event(&run)),
        RunChange::Compensation(c) => {
            let data = serde_json::to_string(&CompensationChange::from(c)).unwrap_or_default();
            Some(SseEvent::default().event("compensation").data(data))
        }
        RunChange::Step(_) | RunChange::Logs(_) => None,
    }
}

fn run_event(run: &Run) -> SseEvent {
    let data = serde_json::to_string(run)
        .unwrap_or_else(|e| json!({ "error": format!("cannot encode the run: {e}") }).to_string());
    SseEvent::default()
        .event("run")
        .id(run.version.to_string())
        .data(data)
}

/// One event of the stream, as OpenAPI 3.2 (and tools reading 3.1 the same
/// way) describe `text/event-stream`: the event's fields, its `data` JSON
/// of the schema named by `contentSchema`. Only described: the stream is
/// built from [`SseEvent`]s.
pub(crate) struct RunEvent;

impl utoipa::PartialSchema for RunEvent {
    fn schema() -> RefOr<Schema> {
        let event = |name: &str, data: &str, description: &str| {
            ObjectBuilder::new()
                .description(Some(description))
                .property(
                    "event",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([name])),
                )
                .required("event")
                .property(
                    "data",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .content_media_type("application/json")
                        .content_schema(Some(Ref::from_schema_name(data))),
                )
                .required("data")
        };
        let run = event("run", "Run", "The run changed: data is the run.").property(
            "id",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("The run's version (send it back as Last-Event-ID)")),
        );
        let error = event(
            "error",
            "ErrorBody",
            "The store failed: the stream ends with this.",
        );
        let compensation = event(
            "compensation",
            "CompensationChange",
            "A step's compensation changed (sent before the `run` event of that change).",
        );
        OneOfBuilder::new()
            .item(run.required("id"))
            .item(compensation)
            .item(error)
            .into()
    }
}

impl utoipa::ToSchema for RunEvent {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            <Run as utoipa::ToSchema>::name().into_owned(),
            <Run as utoipa::PartialSchema>::schema(),
        ));
        <Run as utoipa::ToSchema>::schemas(schemas);
        schemas.push((
            <ErrorBody as utoipa::ToSchema>::name().into_owned(),
            <ErrorBody as utoipa::PartialSchema>::schema(),
        ));
        schemas.push((
            <CompensationChange as utoipa::ToSchema>::name().into_owned(),
            <CompensationChange as utoipa::PartialSchema>::schema(),
        ));
    }
}

/// The `Last-Event-ID` header: a version this stream sent (`0` to `2^63-1`,
/// as declared); a 400 naming the header for anything else.
fn last_event_id(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .and_then(|v| u64::try_from(v).ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "header Last-Event-ID: '{}' is not a version this stream sent (a whole number)",
                String::from_utf8_lossy(value.as_bytes())
            ))
        })
}

/// Server-sent events of a run.
///
/// One `run` event (data: the run as JSON, id: its version) per change; the
/// stream ends when the run is finished. Before a change's `run` event, one
/// `compensation` event per compensation it changed (data: the step, the
/// compensation's event, status, attempts and error). If the store fails meanwhile, an
/// `error` event (data: `{"error": "..."}`) ends it. A `Last-Event-ID` of the
/// run's version (or later) skips the first event: the stream then has later
/// changes only, and ends at once when the run is finished.
#[utoipa::path(
    get,
    path = "/runs/{id}/events",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id, or any unique start of it (hex digits and `-`)", pattern = "^[0-9A-Fa-f-]{1,36}$"),
        ("Last-Event-ID" = Option<i64>, Header, nullable = false, minimum = 0,
            description = "Resume after this version (the `id` of the last event seen)")
    ),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = RunEvent),
        (status = 400, description = "Malformed run id (or a start several runs share: named) or Last-Event-ID", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such run", body = ErrorBody),
        ServerTrouble
    )
)]
pub(crate) async fn run_events(
    State(st): State<AppState>,
    Seg(id): Seg,
    headers: HeaderMap,
) -> ApiResult {
    let id = run_id(&st, &id).await?;
    // A reconnecting client sends the last version it saw: it gets later
    // changes only (nothing at all once the run is finished).
    let seen = last_event_id(&headers)?;
    // Answered here, not in the stream: an unknown run is a 404.
    st.op.run(id).await?;
    let from = WatchFrom {
        seen,
        logs: false,
        slice: WATCH_SLICE,
    };
    let stream = st.op.watch(id, from).filter_map(move |change| {
        std::future::ready(match change {
            Ok(change) => sse_event(change).map(Ok::<_, Infallible>),
            Err(e) => {
                warn!(run_id = %id, "run event stream ends: {e}");
                let data = json!({ "error": e.to_string() }).to_string();
                Some(Ok(SseEvent::default().event("error").data(data)))
            }
        })
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
