//! Health over HTTP, answered without a token: liveness and readiness.
//!
//! It may use the [`Operator`](crate::ops::Operator) through the API state.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tracing::warn;
use utoipa::ToSchema;

use super::AppState;

/// A liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// A readiness answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Readiness {
    /// `ok` when both parts are, else `unavailable`.
    status: &'static str,
    /// `ok` or `unavailable` (details go to the server's log only).
    store: &'static str,
    /// `ok` or `not connected`.
    transport: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    security(()),
    responses((status = 200, description = "Alive", body = Health))
)]
pub(crate) async fn live() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Liveness: the process answers (the same as `/health`).
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "health",
    security(()),
    responses((status = 200, description = "Alive", body = Health))
)]
pub(crate) async fn live_too() -> Json<Health> {
    live().await
}

/// Readiness: the store answers and the broker is connected.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready", body = Readiness)
    )
)]
pub(crate) async fn ready(State(st): State<AppState>) -> Response {
    let store = st.op.store().list_definitions().await.err();
    if let Some(e) = &store {
        // Details go to the log only: this endpoint answers without a token.
        warn!("readiness: the store does not answer: {e}");
    }
    let transport = st.op.transport().is_ready().await;
    let ok = store.is_none() && transport;
    let body = Readiness {
        status: if ok { "ok" } else { "unavailable" },
        store: if store.is_none() { "ok" } else { "unavailable" },
        transport: if transport { "ok" } else { "not connected" },
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
