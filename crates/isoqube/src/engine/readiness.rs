//! Engine layer: a service's readiness checks (transport connected, consumers
//! running, store answering) over its parts. Uses the seams and the metrics;
//! the `health` surface serves the outcome over HTTP.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::metrics::Metrics;
use crate::store::RunStore;
use crate::transport::Transport;

/// How long `/health/ready` waits for the store's ping.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// One readiness check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// `transport`, `consumers`, `store` or `registered`.
    pub name: &'static str,
    /// `None` when it passed, else what is wrong.
    pub problem: Option<String>,
}

/// The outcome of the readiness checks.
///
/// ```
/// use isoqube::health::{Check, Readiness};
/// let r = Readiness { checks: vec![Check { name: "store", problem: Some("down".into()) }] };
/// assert!(!r.is_ready());
/// assert_eq!(r.to_json()["checks"]["store"], "down");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Every check, passed or not.
    pub checks: Vec<Check>,
}

impl Readiness {
    /// Whether every check passed.
    pub fn is_ready(&self) -> bool {
        self.checks.iter().all(|c| c.problem.is_none())
    }

    /// `{"status":"ready"|"unavailable","checks":{"<name>":"ok"|"<problem>"}}`.
    pub fn to_json(&self) -> Value {
        let checks: Map<String, Value> = self
            .checks
            .iter()
            .map(|c| {
                (
                    c.name.to_string(),
                    Value::String(c.problem.clone().unwrap_or_else(|| "ok".into())),
                )
            })
            .collect();
        json!({
            "status": if self.is_ready() { "ready" } else { "unavailable" },
            "checks": checks,
        })
    }
}

/// What the health endpoints look at: a service's transport, store and metrics.
/// [`Health::router`] gives the endpoints as an axum router, to serve on a
/// listener of your own.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::sync::Arc;
/// use isoqube::health::{Health, Metrics};
/// let store = isoqube::SqliteStore::open(&std::env::temp_dir().join("isoqube-health-doc.db")).await.unwrap();
/// let health = Health::new(
///     Arc::new(isoqube::InProcessTransport::new()),
///     Arc::new(store),
///     Arc::new(Metrics::new("svc", "svc@h:1", Vec::<String>::new())),
/// );
/// assert!(health.readiness().await.is_ready());
/// let _router: axum::Router = health.router();
/// # });
/// ```
#[derive(Clone)]
pub struct Health {
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) store: Arc<dyn RunStore>,
    pub(crate) metrics: Arc<Metrics>,
    /// The instance whose service record must be in the store.
    pub(crate) service_id: Option<String>,
}

impl Health {
    /// Health over these parts.
    pub fn new(
        transport: Arc<dyn Transport>,
        store: Arc<dyn RunStore>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Health {
            transport,
            store,
            metrics,
            service_id: None,
        }
    }

    /// Also checks that the store holds this instance's service record: while
    /// it is missing (a new or restored database, until the next heartbeat
    /// registers it again) the control center shows neither the service nor
    /// its events, so the instance is not ready.
    pub fn with_service(mut self, instance_id: impl Into<String>) -> Self {
        self.service_id = Some(instance_id.into());
        self
    }

    /// The metrics it reports.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Runs the readiness checks: transport connected, consumers running (not
    /// shutting down, each endpoint consuming), store answering within
    /// [`PING_TIMEOUT`], and (with [`with_service`](Self::with_service), once
    /// the store answers) the instance's record in the store (`registered`).
    pub async fn readiness(&self) -> Readiness {
        let transport = if self.transport.is_ready().await {
            None
        } else {
            Some(format!("{} transport not connected", self.transport.kind()))
        };
        let consumers = if self.metrics.is_stopping() {
            Some("shutting down".to_string())
        } else {
            let idle: Vec<&str> = self
                .metrics
                .endpoints()
                .iter()
                .filter(|e| !e.is_consuming())
                .map(|e| e.name())
                .collect();
            (!idle.is_empty()).then(|| format!("not consuming: {}", idle.join(", ")))
        };
        let store = match tokio::time::timeout(PING_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(format!("{} store ping failed: {e}", self.store.kind())),
            Err(_) => Some(format!(
                "{} store did not answer within {PING_TIMEOUT:?}",
                self.store.kind()
            )),
        };
        let mut checks = vec![
            Check {
                name: "transport",
                problem: transport,
            },
            Check {
                name: "consumers",
                problem: consumers,
            },
        ];
        let store_ok = store.is_none();
        checks.push(Check {
            name: "store",
            problem: store,
        });
        if let Some(id) = self.service_id.as_deref().filter(|_| store_ok) {
            checks.push(Check {
                name: "registered",
                problem: self.registration_problem(id).await,
            });
        }
        Readiness { checks }
    }

    /// What is wrong with this instance's record in the store, if anything.
    async fn registration_problem(&self, id: &str) -> Option<String> {
        match tokio::time::timeout(PING_TIMEOUT, self.store.list_services()).await {
            Ok(Ok(services)) if services.iter().any(|s| s.id == id) => None,
            Ok(Ok(_)) => Some(format!(
                "the store has no record of service instance {id} (it registers again at its next heartbeat)"
            )),
            Ok(Err(e)) => Some(format!("cannot read the service records: {e}")),
            Err(_) => Some(format!(
                "the service records did not come within {PING_TIMEOUT:?}"
            )),
        }
    }
}
