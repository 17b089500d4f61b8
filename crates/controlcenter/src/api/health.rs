//! Health over HTTP, answered without a token: liveness, readiness, and the
//! runs' metrics for Prometheus (`GET /metrics`, computed when scraped):
//!
//! | name | type | what |
//! | --- | --- | --- |
//! | `isoqube_runs_stuck` | gauge | running runs with a stuck step (see [`isoqube::model::StuckRule`]); absent when the store did not answer |
//! | `isoqube_runs_stuck_steps` | gauge | their stuck steps; absent when the store did not answer |
//! | `isoqube_runs_corrupt` | gauge | running run records that do not parse (whether they are stuck cannot be told); absent when the store did not answer |
//! | `isoqube_runs_stuck_after_seconds` | gauge | the bound: `--stuck-after`, `[controlcenter] stuck_after_secs` |
//! | `isoqube_controlcenter_store_up` | gauge | 1 when the store answered this scrape, else 0 |
//! | `isoqube_runs_total{definition,status}` | gauge | runs per definition and status (see [`super::run_metrics`]); absent when the store did not answer |
//! | `isoqube_run_duration_seconds{definition}` | histogram | durations of the finished runs per definition; absent when the store did not answer |
//! | `isoqube_runs_waiting` | gauge | pending and running runs with a step waiting for a signal; absent when the store did not answer |
//!
//! The metrics are counts only (no names, no ids), so they answer without a
//! token, like the services' own `/metrics`.
//!
//! It may use the [`Operator`](crate::ops::Operator) through the API state.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tracing::warn;
use utoipa::ToSchema;

use super::run_metrics::RunStats;
use super::AppState;

/// How long `/health/ready` waits for the store before answering 503.
pub const READY_STORE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

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
    // Bounded: a probe wants an answer, and a store that takes longer than
    // this to list the definitions is not one to send work to.
    let store = match tokio::time::timeout(READY_STORE_WAIT, st.op.store().list_definitions()).await
    {
        Ok(listed) => listed.err().map(|e| e.to_string()),
        Err(_) => Some(format!(
            "the store did not answer within {} s",
            READY_STORE_WAIT.as_secs_f64()
        )),
    };
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

/// Metrics of the runs for Prometheus, computed when scraped.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "The Prometheus text format (0.0.4): \
            `isoqube_runs_stuck`, `isoqube_runs_stuck_steps`, `isoqube_runs_corrupt`, \
            `isoqube_runs_stuck_after_seconds`, `isoqube_controlcenter_store_up`, \
            `isoqube_runs_total{definition,status}` (runs per definition and status), \
            `isoqube_run_duration_seconds{definition}` (histogram of the finished runs' \
            durations), `isoqube_runs_waiting` (runs with a step waiting for a signal); \
            the store's metrics are absent when the store did not answer",
            body = String, content_type = "text/plain; version=0.0.4; charset=utf-8")
    )
)]
pub(crate) async fn metrics(State(st): State<AppState>) -> Response {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, value: u64| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        ));
    };
    let found = st.op.stuck_runs(None).await;
    if let Ok(report) = &found {
        let steps = report.runs.iter().map(|r| r.steps.len()).sum::<usize>();
        gauge(
            "isoqube_runs_stuck",
            "Running runs with a step Invoked whose handler has been gone or silent longer than the stuck bound.",
            report.runs.len() as u64,
        );
        gauge(
            "isoqube_runs_stuck_steps",
            "The stuck steps of those runs.",
            steps as u64,
        );
        gauge(
            "isoqube_runs_corrupt",
            "Running run records that do not parse.",
            report.corrupt.len() as u64,
        );
    }
    let stats = match &found {
        Ok(_) => RunStats::read(&st.op).await,
        Err(e) => {
            warn!("metrics: the store does not answer: {e}");
            Err(isoqube::Error::Store(e.to_string()))
        }
    };
    if let (Ok(_), Err(e)) = (&found, &stats) {
        warn!("metrics: the store does not answer: {e}");
    }
    gauge(
        "isoqube_runs_stuck_after_seconds",
        "How long a step may go without a live handler before it is stuck.",
        st.op.stuck_rule().after.as_secs(),
    );
    gauge(
        "isoqube_controlcenter_store_up",
        "1 when the store answered this scrape.",
        u64::from(stats.is_ok()),
    );
    if let Ok(stats) = &stats {
        stats.write(&mut out);
    }
    (
        [(
            header::CONTENT_TYPE,
            isoqube::health::EXPOSITION_CONTENT_TYPE,
        )],
        out,
    )
        .into_response()
}
