//! The sample build server: a simulated CI/CD pipeline split across four
//! services (`default`, `linux-pool`, `windows-pool`, `deployment`), built on
//! Isoqube. The binary only parses arguments; everything else is here.

pub mod approval;
pub mod definitions;
pub mod events;
pub mod services;
pub mod sim;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use controlcenter::text::VarError;
use isoqube::config::StoreKind;
use isoqube::{
    Config, Control, InProcessTransport, Run, RunStore, Service, SqliteStore, StepStatus,
    Transport, Variables,
};
use serde_json::Value;

/// Called by the binary so the linker keeps this crate's consumers (their
/// registrations live in statics nothing else references).
pub fn link() {}

/// Parses `key=value` (the control center's [`controlcenter::text::parse_var`]);
/// the value is JSON when it parses as JSON, a string otherwise.
///
/// ```
/// let (k, v) = sample_build_server::parse_var("work_ms=20").unwrap();
/// assert_eq!((k.as_str(), v), ("work_ms", serde_json::json!(20)));
/// assert!(sample_build_server::parse_var("novalue").is_err());
/// ```
pub fn parse_var(s: &str) -> anyhow::Result<(String, Value)> {
    controlcenter::text::parse_var(s).map_err(|e| match e {
        VarError::NotKeyValue => anyhow!("--var '{s}' is not key=value"),
        VarError::EmptyKey => anyhow!("--var '{s}' has an empty key"),
    })
}

/// The transport and store a process uses.
pub struct Backends {
    /// Message transport.
    pub transport: Arc<dyn Transport>,
    /// Run store.
    pub store: Arc<dyn RunStore>,
}

impl Backends {
    /// The embedded pair: in-process transport and the SQLite file at `store_path`.
    pub async fn embedded(store_path: &Path) -> anyhow::Result<Self> {
        let store = SqliteStore::open(store_path)
            .await
            .with_context(|| format!("opening the store {}", store_path.display()))?;
        Ok(Backends {
            transport: Arc::new(InProcessTransport::new()),
            store: Arc::new(store),
        })
    }

    /// What the configuration names: RabbitMQ or the in-process transport,
    /// MongoDB or a SQLite file. Separate processes only reach each other
    /// through RabbitMQ.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        let transport = config.connect_transport().await?;
        let store = config
            .connect_store()
            .await
            .with_context(|| match config.store.kind {
                StoreKind::Sqlite => format!("opening the store {}", config.store.path.display()),
                StoreKind::Mongodb => "connecting to MongoDB".to_string(),
            })?;
        Ok(Backends { transport, store })
    }
}

/// Starts the given services (all when empty) in this process, with the
/// `[service]` settings of `config`; with `[service] health_port`, serves
/// `/health/live`, `/health/ready` and `/metrics` on `<health_listen>:<port>`
/// (`0.0.0.0` unless set; port 0 picks a free port).
pub async fn start_services(
    config: &Config,
    backends: &Backends,
    services: &[String],
) -> anyhow::Result<Service> {
    let name = if services.is_empty() {
        "sample-build-server".to_string()
    } else {
        services.join("+")
    };
    let mut builder = config
        .service_builder(name)
        .transport(backends.transport.clone())
        .store(backends.store.clone());
    if !services.is_empty() {
        builder = builder.services(services.iter().cloned());
    }
    if let Some(addr) = config.service.health_addr() {
        builder = builder.health_addr(addr);
    }
    Ok(builder.start().await?)
}

/// Saves the built-in definitions that are not in the store yet.
pub async fn seed(control: &Control) -> anyhow::Result<()> {
    for def in definitions::builtin() {
        let name = def.name.clone();
        if control.seed_definition(def).await? {
            tracing::info!("seeded definition {name}");
        }
    }
    Ok(())
}

/// Seeds the built-in definitions again each time `service` registers itself
/// again (a heartbeat found its record gone: the store came back empty), so
/// a new or restored database has the sample's definitions as on first
/// start. Ends with the service (its heartbeat's end closes the channel).
pub fn keep_seeded(service: &Service) -> tokio::task::JoinHandle<()> {
    let mut again = service.registered_again();
    let control = service.control().clone();
    tokio::spawn(async move {
        while again.changed().await.is_ok() {
            match seed(&control).await {
                Ok(()) => {
                    tracing::info!("the store came back empty: built-in definitions seeded again")
                }
                Err(e) => tracing::warn!("seeding the built-in definitions again failed: {e:#}"),
            }
        }
    })
}

/// What `run` does.
pub struct RunOptions {
    /// Settings (transport, store, service); the embedded pair by default.
    pub config: Config,
    /// Definition to run.
    pub definition: String,
    /// Run parameters.
    pub vars: Variables,
    /// Give up waiting after this long (plus, once the run waits for its
    /// approval, as long as the approval may take).
    pub timeout: Duration,
    /// What to do about a release approval.
    pub approval: approval::Approval,
}

/// Hosts every service in this process (on the embedded defaults unless the
/// configuration says otherwise), seeds the
/// built-in definitions, runs one definition to the end and returns the run.
pub async fn run_once(opts: RunOptions) -> anyhow::Result<Run> {
    let backends = Backends::connect(&opts.config).await?;
    let outcome = run_with(opts, &backends).await;
    // Closed on every path, not left to `Drop`: the MongoDB driver ends its
    // sessions from a task spawned on drop, which panics when the runtime is
    // already shutting down.
    let _ = backends.store.close().await;
    outcome
}

async fn run_with(opts: RunOptions, backends: &Backends) -> anyhow::Result<Run> {
    let service = start_services(&opts.config, backends, &[]).await?;
    // The sample reaches its runs through the operators' door, as the
    // control center does.
    let op = controlcenter::Operator::new(backends.store.clone(), backends.transport.clone())?;
    let outcome = run_to_end(&op, opts).await;
    service.shutdown().await?;
    let run = outcome?;
    Ok(op.run(run.id).await?)
}

/// Seeds the definitions, starts the run and waits for it (cancelling it when
/// it does not finish in time); returns the run as the wait left it.
async fn run_to_end(op: &controlcenter::Operator, opts: RunOptions) -> anyhow::Result<Run> {
    seed(op.control()).await?;
    let start = isoqube::StartRun::new(opts.definition.as_str())
        .vars(opts.vars)
        .started_by("sample");
    let started = approval::start(op, start, opts.approval.timeout).await?;
    tracing::info!(run_id = %started.id, definition = %opts.definition, "run started");
    let embedded = opts.config.transport.kind == isoqube::config::TransportKind::InProcess;
    let approver = approval::Approver::new(opts.approval, embedded);
    let run = follow(op, started, opts.timeout, approver).await?;
    if !run.status.is_finished() {
        tracing::warn!(run_id = %run.id, "run still {} after {:?}; cancelling it", run.status.as_str(), opts.timeout);
        let _ = op.cancel(run.id).await;
    }
    Ok(run)
}

/// Follows `run` through [`controlcenter::Operator::watch`] until it
/// finishes or `timeout` passes (counted again from its approval wait's
/// deadline once it waits for one); returns it as last seen.
async fn follow(
    op: &controlcenter::Operator,
    mut run: Run,
    timeout: Duration,
    mut approver: approval::Approver,
) -> anyhow::Result<Run> {
    use futures_util::StreamExt;
    let changes = op.watch(run.id, controlcenter::ops::WatchFrom::default());
    futures_util::pin_mut!(changes);
    let mut deadline = tokio::time::Instant::now() + timeout;
    while !run.status.is_finished() {
        if let Some(until) = approver.seen(op, &run).await? {
            let wait = (until - chrono::Utc::now()).to_std().unwrap_or_default();
            deadline = deadline.max(tokio::time::Instant::now() + wait + timeout);
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, changes.next()).await {
            Ok(Some(change)) => {
                if let Some(now) = change?.run() {
                    run = now.clone();
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    Ok(run)
}

/// How a step's (or a compensation's) status reads in the summary.
fn mark(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Succeeded => "ok",
        StepStatus::Failed => "FAILED",
        StepStatus::Cancelled => "cancelled",
        StepStatus::Skipped => "skipped",
        StepStatus::Waiting => "waiting",
        StepStatus::Pending => "pending",
        StepStatus::Invoked => "running",
    }
}

/// A human summary of a run: id, status, each step's status and duration
/// (and its compensation's, beneath it), the wall time and what was undone.
pub fn summary(run: &Run) -> String {
    let mut out = format!(
        "\nrun {}  definition {}  status {}\n",
        run.id,
        run.definition,
        run.status.as_str()
    );
    let ms = |millis: Option<i64>| {
        millis
            .map(|m| format!("{m:>6} ms"))
            .unwrap_or_else(|| "      -   ".into())
    };
    for step in &run.steps {
        // Where it sits in the graph, when not simply after the step before.
        let place = step.place().map(|p| format!("  {p}")).unwrap_or_default();
        out.push_str(&format!(
            "  {:>2}. {:<32} {:<10} {}  attempts {}{place}\n",
            step.index + 1,
            step.name(),
            mark(step.status),
            ms(step.duration().map(|d| d.num_milliseconds())),
            step.attempts
        ));
        if let Some(err) = &step.last_error {
            if step.status != StepStatus::Succeeded {
                out.push_str(&format!("      error: {err}\n"));
            }
        }
        // Its compensation, beneath it, once it was needed.
        if let Some(c) = step
            .compensation
            .as_ref()
            .filter(|c| !matches!(c.status, StepStatus::Pending | StepStatus::Skipped))
        {
            out.push_str(&format!(
                "      undo {:<27} {:<10} {}  attempts {}\n",
                c.event,
                mark(c.status),
                ms(c.duration().map(|d| d.num_milliseconds())),
                c.attempts
            ));
            if let (Some(err), StepStatus::Failed) = (&c.last_error, c.status) {
                out.push_str(&format!("      error: {err}\n"));
            }
        }
    }
    if let Some(end) = run.finished_at {
        let undo = run
            .steps
            .iter()
            .filter_map(|s| s.compensation.as_ref()?.duration());
        let busy: i64 = run
            .steps
            .iter()
            .filter_map(|s| s.duration())
            .chain(undo)
            .map(|d| d.num_milliseconds())
            .sum();
        out.push_str(&format!(
            "  wall time {} ms (the steps' own times add up to {busy} ms: parallel steps overlap)\n",
            (end - run.created_at).num_milliseconds()
        ));
    }
    let undone: Vec<String> = run
        .steps
        .iter()
        .filter_map(|s| {
            let c = s.compensation.as_ref()?;
            (c.status == StepStatus::Succeeded).then(|| format!("{} (by {})", s.name(), c.event))
        })
        .collect();
    if !undone.is_empty() {
        out.push_str(&format!("  undone: {}\n", undone.join(", ")));
    }
    if let Some(err) = &run.error {
        out.push_str(&format!("  {err}\n"));
    }
    out
}
