//! `serve`: the HTTP API ([`crate::api`]) and the scheduler, until SIGINT or
//! SIGTERM.
//!
//! It may use the connection flags, the API and the exit mapping.

use super::args::ServeArgs;
use super::exit::{ExitStatus, Failure};
use crate::connect::ConnectArgs;

/// `serve`: the HTTP API and the scheduler until SIGINT/SIGTERM.
pub(super) async fn serve(connect: &ConnectArgs, args: &ServeArgs) -> ExitStatus {
    isoqube::telemetry::init();
    let settings = connect.config().and_then(|config| {
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
    let op = match connect.connect().await {
        Ok(op) => op,
        Err(e) => {
            let failure = Failure::from(e);
            eprintln!("error: {}", failure.message);
            return failure.status;
        }
    };
    let instance = format!("{}-{}", isoqube::host_name(), std::process::id());
    let scheduler = isoqube::schedule::Scheduler::start(op.control().clone(), instance);
    let store = op.store().clone();
    let served = crate::api::serve(op, settings, isoqube::service::shutdown_signal()).await;
    scheduler.stop().await;
    let _ = store.close().await;
    match served {
        Ok(()) => ExitStatus::Ok,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitStatus::Unavailable
        }
    }
}
