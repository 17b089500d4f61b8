//! `serve`: the HTTP API ([`crate::api`]), the scheduler and the run
//! retention, until SIGINT or SIGTERM.
//!
//! It may use the connection flags, the API and the exit mapping.

use super::args::ServeArgs;
use super::exit::{ExitStatus, Failure};
use crate::connect::ConnectArgs;

/// `serve`: the HTTP API and the scheduler until SIGINT/SIGTERM.
pub(super) async fn serve(connect: &ConnectArgs, args: &ServeArgs) -> ExitStatus {
    isoqube::telemetry::init();
    let mut retention_days = 0;
    let settings = connect.config().and_then(|config| {
        retention_days = config.store.run_retention_days;
        let mut api = crate::config::ApiSection::from_config(&config)?;
        if let Some(listen) = &args.listen {
            api.listen = listen.clone();
        }
        if let Some(token) = args.token.as_ref().filter(|t| !t.is_empty()) {
            api.token = Some(token.clone());
        }
        crate::api::ApiSettings::from_config(&api)
    });
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitStatus::BadInput;
        }
    };
    // Bound before connecting: a port another process holds is the first
    // thing to say, and it is no outage of the broker or the store (exit 4).
    let listener = match tokio::net::TcpListener::bind(&settings.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {}", listen_error(&settings.listen, &e));
            return ExitStatus::CannotListen;
        }
    };
    let op = match connect
        .connect_waiting(Some(crate::api::API_STORE_WAIT))
        .await
    {
        Ok(op) => op,
        Err(e) => {
            let failure = Failure::from(e);
            eprintln!("error: {}", failure.message);
            return failure.status;
        }
    };
    let instance = format!("{}-{}", isoqube::host::host_name(), std::process::id());
    let scheduler = isoqube::schedule::Scheduler::start(op.control().clone(), instance);
    let retention =
        (retention_days > 0).then(|| tokio::spawn(sweep_runs(op.clone(), retention_days)));
    let store = op.store().clone();
    let served =
        crate::api::serve_on(listener, op, settings, isoqube::service::shutdown_signal()).await;
    scheduler.stop().await;
    if let Some(task) = retention {
        task.abort();
    }
    let _ = store.close().await;
    match served {
        Ok(()) => ExitStatus::Ok,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitStatus::Unavailable
        }
    }
}

/// Why the API cannot listen on `listen`, and what to change.
fn listen_error(listen: &str, e: &std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "the address is already in use (another process listens on it)".to_string()
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "the address is not one of this machine's".to_string()
        }
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need privileges)".to_string()
        }
        _ => e.to_string(),
    };
    format!("cannot listen on {listen} for the API: {why}; choose another with --listen or [api] listen")
}

/// How often `serve` deletes the runs past `[store] run_retention_days`.
const RETENTION_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The run retention: at start and every [`RETENTION_SWEEP_EVERY`], deletes
/// the runs that finished more than `days` ago, with their log lines. Here,
/// not in the services: one sweep per control center, none on the services'
/// message path; two control centers sweeping at once delete each run once.
async fn sweep_runs(op: crate::ops::Operator, days: u64) {
    // Bounded (about 2,700 years) so that the subtraction below cannot overflow.
    let keep = chrono::Duration::days(i64::try_from(days.min(1_000_000)).unwrap_or(1_000_000));
    let mut every = tokio::time::interval(RETENTION_SWEEP_EVERY);
    loop {
        every.tick().await;
        let cutoff = chrono::Utc::now() - keep;
        match op.delete_runs_finished_before(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                deleted = n,
                "run retention: deleted {n} run(s) finished more than {days} day(s) ago"
            ),
            Err(e) => tracing::warn!("run retention: deleting old runs failed: {e}"),
        }
    }
}
