//! What the API tells about itself and the system: its OpenAPI document, the
//! registered events, the service instances.
//!
//! It may use the [`Operator`](crate::ops::Operator) through the API state.

use axum::extract::State;
use axum::response::Html;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::common::ApiResult;
use super::openapi::{NeedsToken, ServerTrouble};
use super::AppState;
use crate::ops::{EventView, ServiceView};

/// `GET /events`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventList {
    /// By name.
    events: Vec<EventView>,
}

/// `GET /services`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ServiceList {
    /// Alive ones first, then by name.
    services: Vec<ServiceView>,
}

/// This document (no token needed: it holds no secret).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "catalog",
    security(()),
    responses((status = 200, description = "The OpenAPI document", body = Object))
)]
pub(crate) async fn openapi() -> Json<Value> {
    Json(super::openapi::document())
}

/// The API reference: every operation of this document as a page to read
/// (no token needed).
#[utoipa::path(
    get,
    path = "/api/v1/docs",
    tag = "catalog",
    security(()),
    responses((status = 200, description = "The API reference", content_type = "text/html", body = String))
)]
pub(crate) async fn reference() -> Html<String> {
    Html(super::openapi::reference_page())
}

/// Registered events with their consumers and hosting services.
#[utoipa::path(
    get,
    path = "/events",
    tag = "catalog",
    responses((status = 200, description = "Events", body = EventList), NeedsToken, ServerTrouble)
)]
pub(crate) async fn events(State(st): State<AppState>) -> ApiResult<Json<EventList>> {
    Ok(Json(EventList {
        events: st.op.events().await?,
    }))
}

/// Service instances with heartbeat and liveness.
#[utoipa::path(
    get,
    path = "/services",
    tag = "catalog",
    responses((status = 200, description = "Services", body = ServiceList), NeedsToken, ServerTrouble)
)]
pub(crate) async fn services(State(st): State<AppState>) -> ApiResult<Json<ServiceList>> {
    Ok(Json(ServiceList {
        services: st.op.services().await?,
    }))
}
