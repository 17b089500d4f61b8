//! Running a parsed command line: [`dispatch`] (what the binaries call) and
//! [`run`] (a CLI command on a connected [`Operator`]), with the small listings
//! of events and services.
//!
//! It may use everything below the CLI: the connection, the [`Operator`], the
//! terminal UI ([`crate::tui`]) for `tui`, and the CLI's other modules.

use std::io::Write;

use super::args::{Cli, Command, ConfigCommand};
use super::exit::{ExitStatus, Failure, Outcome};
use super::print::{print_json, say};
use super::{definitions, errors, queues, runs, serve};
use crate::ops::Operator;

/// Runs a parsed command (except `tui` and `serve`, which the binary starts) and returns the
/// exit status; errors are printed to stderr as one clear line.
pub async fn run(op: &Operator, command: Command, out: &mut dyn Write) -> ExitStatus {
    match execute(op, command, out).await {
        Ok(status) => status,
        Err(f) if f.is_quiet() => f.status,
        Err(f) => {
            eprintln!("error: {}", f.message);
            f.status
        }
    }
}

async fn execute(op: &Operator, command: Command, out: &mut dyn Write) -> Outcome {
    match command {
        Command::Events(f) => {
            let events = op.events().await?;
            if f.json {
                return print_json(out, &events);
            }
            if events.is_empty() {
                say!(out, "no events recorded yet (start a service)");
            }
            for e in events {
                say!(out, "{}  ->  exchange {}", e.name, e.exchange);
                if !e.description.is_empty() {
                    say!(out, "    {}", e.description);
                }
                for c in e.consumers {
                    say!(
                        out,
                        "    consumer {} ({})",
                        c.endpoint,
                        c.services.join(", ")
                    );
                }
            }
            Ok(ExitStatus::Ok)
        }
        Command::Services(f) => {
            let services = op.services().await?;
            if f.json {
                return print_json(out, &services);
            }
            if services.is_empty() {
                say!(out, "no services recorded");
            }
            for s in services {
                // What needs a look stands out.
                let state = match s.state() {
                    "alive" => "alive".to_string(),
                    other => other.to_uppercase(),
                };
                say!(
                    out,
                    "{:<16} {:<5} {}  host {} pid {}  {}  consumers {}",
                    s.record.name,
                    state,
                    s.record.id,
                    s.record.host,
                    s.record.pid,
                    s.last_seen(),
                    s.record.consumers.join(",")
                );
            }
            Ok(ExitStatus::Ok)
        }
        Command::Definitions(cmd) => definitions::execute(op, cmd, out).await,
        Command::Runs(cmd) => runs::execute(op, cmd, out).await,
        Command::Errors(cmd) => errors::execute(op, cmd, out).await,
        Command::Queues(args) => queues::execute(op, &args, out).await,
        Command::Tui | Command::Config(_) | Command::Serve(_) => Err(Failure::bad_input(
            "this command is handled by the binary, not by cli::run",
        )),
    }
}

/// Runs a parsed command line to the end, as the `controlcenter` binary does
/// (also `sample-build-server ctl`): `config show`, `serve`, `tui`, or a CLI
/// command on the connected store and transport. Errors are printed to stderr.
pub async fn dispatch(cli: Cli) -> ExitStatus {
    if let Command::Config(ConfigCommand::Show) = cli.command {
        let shown = cli.connect.config().and_then(|config| {
            let api = crate::config::ApiSection::from_config(&config)?;
            let cc = cli.connect.control_center(&config)?;
            Ok(format!(
                "{}\n{}\n{}",
                config.to_toml_redacted(),
                api.to_toml_redacted(),
                cc.to_toml()
            ))
        });
        return match shown {
            Ok(text) => {
                use std::io::Write as _;
                // Not print!: it panics when the reader has closed the pipe.
                match std::io::stdout().write_all(text.as_bytes()) {
                    Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                        eprintln!("error: cannot write the output: {e}");
                        ExitStatus::Unavailable
                    }
                    _ => ExitStatus::Ok,
                }
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitStatus::BadInput
            }
        };
    }
    if let Command::Serve(args) = &cli.command {
        return serve::serve(&cli.connect, args).await;
    }
    let tui = matches!(cli.command, Command::Tui);
    if !tui {
        isoqube::telemetry::init_for_cli();
    }
    let op = match cli.connect.connect().await {
        Ok(op) => op,
        Err(e) => {
            // A configuration mistake is bad input (2); anything else means the
            // broker or the store could not be reached (4).
            let failure = Failure::from(e);
            eprintln!("error: {}", failure.message);
            return failure.status;
        }
    };
    if tui {
        let store = op.store().clone();
        let outcome = crate::tui::run(op).await;
        let _ = store.close().await;
        return match outcome {
            Ok(()) => ExitStatus::Ok,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitStatus::Unavailable
            }
        };
    }
    let mut stdout = std::io::stdout();
    let status = run(&op, cli.command, &mut stdout).await;
    let _ = op.store().close().await;
    status
}
