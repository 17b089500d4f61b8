//! The server-sent event stream of one run: a `run` event (data: the run, id:
//! its version) per change, ending when the run is finished.
//!
//! It may use the [`Operator`](crate::ops::Operator) through the API state and
//! the API's shared parts.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::IntoResponse;
use isoqube::Run;
use serde_json::json;
use tracing::warn;
use uuid::Uuid;

use super::common::{ApiResult, ErrorBody, Seg};
use super::openapi::{NeedsToken, ServerTrouble};
use super::runs::run_id;
use super::AppState;

/// How long one wait for a run change lasts before looking again (the stream
/// sends keep-alive comments meanwhile).
const WATCH_SLICE: Duration = Duration::from_secs(10);

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

/// Server-sent events of a run.
///
/// One `run` event (data: the run as JSON, id: its version) per change; the
/// stream ends when the run is finished. If the store fails meanwhile, an
/// `error` event (data: `{"error": "..."}`) ends it.
#[utoipa::path(
    get,
    path = "/runs/{id}/events",
    tag = "runs",
    params(
        ("id" = Uuid, Path, description = "Run id"),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this version")
    ),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "Malformed run id", body = ErrorBody),
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
