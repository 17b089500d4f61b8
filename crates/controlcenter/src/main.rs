//! `controlcenter`: argument parsing only; the work is in the library.
//!
//! It may use only the library's [`cli`](controlcenter::cli).

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = controlcenter::cli::Cli::parse();
    ExitCode::from(controlcenter::cli::dispatch(cli).await as u8)
}
