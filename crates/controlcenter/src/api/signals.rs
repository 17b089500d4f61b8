//! The signal endpoints: an event delivered to a run that waits for it
//! (`POST /runs/{id}/signal`), or to every run waiting for it by a
//! correlate key (`POST /signals`), answering what it did to each.
//!
//! It may use the [`Operator`](crate::ops::Operator) through the API state and
//! the API's shared parts.

use axum::extract::State;
use axum::Json;
use isoqube::Variables;
use serde::Deserialize;
use tracing::info;
use utoipa::ToSchema;

use super::common::{storable, ApiResult, ErrorBody, Seg};
use super::openapi::{BodyRefused, NeedsToken, ServerTrouble};
use super::runs::run_id;
use super::{AppState, Body};
use crate::ops::Signalled;

/// Where the signals the API delivers say they came from.
const FROM: &str = "api";

/// `POST /runs/{id}/signal`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RunSignal)]
pub(crate) struct RunSignalBody {
    /// The event the run's wait step waits for.
    #[schema(min_length = 1)]
    event: String,
    /// Merged into the run's variables (its values win a clash).
    #[serde(default)]
    #[schema(value_type = Option<isoqube::model::VariablesSchema>)]
    data: Option<Variables>,
}

/// `POST /signals`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MatchedSignal)]
pub(crate) struct MatchedSignalBody {
    /// The event runs wait for.
    #[schema(min_length = 1)]
    event: String,
    /// Holds the value of the waits' correlate key (`order_id` or
    /// `orderId`); merged into each run's variables.
    #[schema(value_type = isoqube::model::VariablesSchema)]
    data: Variables,
}

/// An event's name as sent: a 400 when it is blank.
fn event_name(event: &str) -> ApiResult<&str> {
    let event = event.trim();
    if event.is_empty() {
        return Err(super::ApiError::bad_request("field `event` is empty"));
    }
    Ok(event)
}

/// Deliver an event to a run that waits for it: its wait step completes
/// (the data merged into the run's variables) and the run goes on, or, when
/// the step is not due yet, the signal is kept and completes it once it is.
#[utoipa::path(
    post,
    path = "/runs/{id}/signal",
    tag = "runs",
    params(("id" = String, Path, description = "Run id, or any unique start of it (hex digits and `-`)", pattern = "^[0-9A-Fa-f-]{1,36}$")),
    request_body(content = RunSignalBody, description = "The event and its data"),
    responses(
        (status = 200, description = "What the signal did", body = Signalled),
        (status = 400, description = "Malformed run id (or a start several runs share: named) or body, an empty event, a data name with a NUL character", body = ErrorBody),
        NeedsToken,
        (status = 404, description = "No such run", body = ErrorBody),
        (status = 409, description = "Nothing of the run waits for this event, now or later (the message says what was looked for)", body = ErrorBody),
        BodyRefused,
        ServerTrouble
    )
)]
pub(crate) async fn signal_run(
    State(st): State<AppState>,
    Seg(id): Seg,
    Body(body): Body<RunSignalBody>,
) -> ApiResult<Json<Signalled>> {
    let event = event_name(&body.event)?;
    let data = storable(body.data.unwrap_or_default(), "field `data`")?;
    let id = run_id(&st, &id).await?;
    let done = st.op.signal(id, event, data, FROM).await?;
    info!(run_id = %id, event, effect = ?done.effect, "run signalled over the API");
    Ok(Json(done))
}

/// Deliver an event that names no run: to every pending or running run
/// waiting for it by a correlate key whose value the data holds.
#[utoipa::path(
    post,
    path = "/signals",
    tag = "runs",
    request_body(content = MatchedSignalBody, description = "The event and its data, which holds the correlate key's value"),
    responses(
        (status = 200, description = "Each run it reached, with what it did there", body = Vec<Signalled>),
        (status = 400, description = "Malformed body, an empty event, a data name with a NUL character", body = ErrorBody),
        NeedsToken,
        (status = 409, description = "No run waits for this event with the data's key (the message says what was looked for)", body = ErrorBody),
        BodyRefused,
        ServerTrouble
    )
)]
pub(crate) async fn signal_matching(
    State(st): State<AppState>,
    Body(body): Body<MatchedSignalBody>,
) -> ApiResult<Json<Vec<Signalled>>> {
    let event = event_name(&body.event)?;
    let data = storable(body.data, "field `data`")?;
    let reached = st.op.signal_matching(event, data, FROM).await?;
    info!(event, runs = reached.len(), "signal matched over the API");
    Ok(Json(reached))
}
