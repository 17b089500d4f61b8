//! `sample-build-server`: argument parsing only; the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use isoqube::config::StoreKind;
use isoqube::{Config, RunStatus, Variables};
use sample_build_server::approval::Approval;
use sample_build_server::{parse_var, Backends, RunOptions};

#[derive(Parser)]
#[command(
    name = "sample-build-server",
    version,
    about = "A simulated CI/CD pipeline on Isoqube"
)]
struct Cli {
    /// Configuration file (TOML; default ./isoqube.toml when it exists, or ISOQUBE_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one definition to the end with every service in this process (embedded defaults).
    // Fixed: clap words an error's usage from the arguments given, which
    // showed an optional definition as required (`<DEFINITION>`).
    #[command(override_usage = "sample-build-server run [OPTIONS] [DEFINITION]")]
    Run {
        /// Definition to run.
        #[arg(default_value = "linux-release")]
        definition: String,
        /// Run variable as key=value (value parsed as JSON when it is JSON); repeatable.
        #[arg(long = "var", value_name = "KEY=VALUE")]
        vars: Vec<String>,
        /// Simulated work per step, in milliseconds.
        #[arg(long, default_value_t = sample_build_server::sim::DEFAULT_WORK_MS)]
        work_ms: u64,
        /// Make this event's consumer fail (failure injection).
        #[arg(long, value_name = "EVENT")]
        fail_step: Option<String>,
        /// Chance (0.0-1.0) that any attempt fails.
        #[arg(long, value_name = "RATE")]
        fail_rate: Option<f64>,
        /// Embedded store file (overrides the configuration).
        #[arg(long, value_name = "FILE")]
        store: Option<PathBuf>,
        /// Give up after this many seconds (counted again from the approval's
        /// deadline once the run waits for an approval).
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// Approve the release from this process once the run waits for it
        /// (production-release's ApproveRelease step).
        #[arg(long)]
        auto_approve: bool,
        /// For this run, the approval wait's timeout instead of the definition's
        /// (e.g. 2s, 10m, 48h): past it the builds are undone.
        #[arg(long, value_name = "SPAN", value_parser = parse_span)]
        approval_timeout: Option<Duration>,
    },
    /// Host services until SIGINT/SIGTERM (RabbitMQ / MongoDB as configured, e.g. by
    /// ISOQUBE_AMQP_URL / ISOQUBE_MONGO_URL; the embedded pair otherwise).
    Serve {
        /// Service to host (default, linux-pool, windows-pool, deployment); repeatable; all when omitted.
        #[arg(long = "service")]
        services: Vec<String>,
        /// Embedded store file (overrides the configuration).
        #[arg(long, value_name = "FILE")]
        store: Option<PathBuf>,
        /// Serve /health/live, /health/ready and /metrics on PORT (overrides
        /// [service] health_port and ISOQUBE_HEALTH_PORT), at --health-listen.
        #[arg(long, value_name = "PORT")]
        health_port: Option<u16>,
        /// The health server's IP address (overrides [service] health_listen and
        /// ISOQUBE_HEALTH_LISTEN; default 0.0.0.0, every interface; 127.0.0.1: this host only).
        #[arg(long, value_name = "IP")]
        health_listen: Option<std::net::IpAddr>,
    },
    /// The control center's terminal UI with every service in this process (the
    /// embedded mode: the in-process transport reaches only this process).
    Tui {
        /// Embedded store file (overrides the configuration).
        #[arg(long, value_name = "FILE")]
        store: Option<PathBuf>,
    },
    /// The control center CLI (same as the `controlcenter` binary), e.g.
    /// `ctl runs start linux-release --wait`.
    #[command(disable_help_flag = true)]
    Ctl {
        /// Arguments of `controlcenter`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print the effective configuration (secrets hidden).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List the services and their consumer endpoints linked into this binary.
    Services {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration as TOML.
    Show,
}

fn run_vars(
    vars: &[String],
    work_ms: u64,
    fail_step: Option<String>,
    fail_rate: Option<f64>,
) -> anyhow::Result<Variables> {
    let mut out = Variables::new();
    out.insert("work_ms".into(), work_ms.into());
    if let Some(step) = fail_step {
        if !sample_build_server::events::ALL.contains(&step.as_str()) {
            anyhow::bail!(
                "--fail-step '{step}' is not a pipeline event (one of: {})",
                sample_build_server::events::ALL.join(", ")
            );
        }
        out.insert("fail_step".into(), step.into());
    }
    if let Some(rate) = fail_rate {
        if !(0.0..=1.0).contains(&rate) {
            anyhow::bail!("--fail-rate must be between 0 and 1, got {rate}");
        }
        out.insert("fail_rate".into(), rate.into());
    }
    for v in vars {
        let (k, val) = parse_var(v)?;
        out.insert(k, val);
    }
    Ok(out)
}

/// A duration's text (`--approval-timeout`), as a definition's `timeout` reads it.
fn parse_span(text: &str) -> Result<Duration, String> {
    isoqube::model::parse_span(text).map_err(|e| e.to_string())
}

/// The configuration with a `--store` flag applied.
fn with_store(mut config: Config, store: Option<PathBuf>) -> Config {
    if let Some(path) = store {
        config.store.path = path;
        config.store.kind = StoreKind::Sqlite;
    }
    config
}

async fn main_inner(cli: Cli, config: Config) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run {
            definition,
            vars,
            work_ms,
            fail_step,
            fail_rate,
            store,
            timeout,
            auto_approve,
            approval_timeout,
        } => {
            let vars = run_vars(&vars, work_ms, fail_step, fail_rate)?;
            let run = sample_build_server::run_once(RunOptions {
                config: with_store(config, store),
                definition,
                vars,
                timeout: Duration::from_secs(timeout),
                approval: Approval {
                    auto: auto_approve,
                    timeout: approval_timeout,
                },
            })
            .await?;
            println!("{}", sample_build_server::summary(&run));
            Ok(if run.status == RunStatus::Succeeded {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Serve {
            services,
            store,
            health_port,
            health_listen,
        } => {
            let mut config = with_store(config, store);
            if health_port.is_some() {
                config.service.health_port = health_port;
            }
            if let Some(ip) = health_listen {
                config.service.health_listen = ip;
            }
            // Listening before start-up: SIGTERM while connecting is a clean exit.
            let mut stop = std::pin::pin!(isoqube::service::shutdown_signal());
            let backends = tokio::select! {
                backends = Backends::connect(&config) => backends?,
                () = &mut stop => return Ok(ExitCode::SUCCESS),
            };
            let served = async {
                let service = tokio::select! {
                    service = sample_build_server::start_services(&config, &backends, &services) => service?,
                    () = &mut stop => return anyhow::Ok(()),
                };
                if let Err(e) = sample_build_server::seed(service.control()).await {
                    service.shutdown().await?;
                    return Err(e);
                }
                let seeding = sample_build_server::keep_seeded(&service);
                service.run_until(stop).await?;
                seeding.abort();
                anyhow::Ok(())
            }
            .await;
            // Closed on every path (see `run_once`).
            let closed = backends.store.close().await;
            served?;
            closed?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tui { store } => {
            let config = with_store(config, store);
            let backends = Backends::connect(&config).await?;
            let shown = async {
                let service = sample_build_server::start_services(&config, &backends, &[]).await?;
                let result = async {
                    sample_build_server::seed(service.control()).await?;
                    let op = controlcenter::Operator::new(
                        backends.store.clone(),
                        backends.transport.clone(),
                    )?;
                    controlcenter::tui::run(op).await
                }
                .await;
                service.shutdown().await?;
                result
            }
            .await;
            // Closed on every path (see `run_once`).
            let closed = backends.store.close().await;
            shown?;
            closed?;
            Ok(ExitCode::SUCCESS)
        }
        // Both are answered in main() before the configuration is used.
        Command::Ctl { .. } | Command::Config(_) => Ok(ExitCode::SUCCESS),
        Command::Services { json } => {
            let registry = isoqube::Registry::linked()?;
            let mut rows: Vec<(String, String, String)> = registry
                .consumers()
                .map(|c| {
                    (
                        c.service.to_string(),
                        c.endpoint_name(),
                        c.event_info().name.to_string(),
                    )
                })
                .collect();
            rows.sort();
            if json {
                let items: Vec<_> = rows
                    .iter()
                    .map(|(s, e, ev)| serde_json::json!({"service": s, "endpoint": e, "event": ev}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&items)?);
            } else {
                for (s, e, ev) in rows {
                    println!("{s:<14} {e:<34} {ev}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `ctl ARGS`: the control center CLI, with this binary's `--config` passed on.
async fn ctl(config: Option<PathBuf>, args: Vec<String>) -> ExitCode {
    use clap::Parser as _;
    let mut argv = vec!["sample-build-server ctl".to_string()];
    if let Some(c) = config {
        argv.push("--config".into());
        argv.push(c.display().to_string());
    }
    argv.extend(args);
    let cli = match controlcenter::cli::Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    ExitCode::from(controlcenter::cli::dispatch(cli).await as u8)
}

#[tokio::main]
async fn main() -> ExitCode {
    sample_build_server::link();
    let cli = Cli::parse();
    if let Command::Ctl { args } = cli.command {
        return ctl(cli.config, args).await;
    }
    let config = match controlcenter::config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::Config(ConfigCommand::Show) = cli.command {
        print!("{}", config.to_toml_redacted());
        return ExitCode::SUCCESS;
    }
    if matches!(cli.command, Command::Tui { .. }) {
        isoqube::telemetry::init_without_console();
    } else {
        config.init_logging();
    }
    match main_inner(cli, config).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
