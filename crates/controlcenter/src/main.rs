//! `controlcenter`: argument parsing only; the work is in the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = controlcenter::cli::Cli::parse();
    ExitCode::from(controlcenter::cli::dispatch(cli).await as u8)
}
