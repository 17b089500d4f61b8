//! What the process exit code says ([`ExitStatus`]) and how every error maps
//! to one ([`Failure`]): not found, bad input, unavailable, a failed run, a
//! corrupt record.
//!
//! It may use only `isoqube`'s error and run types (and `anyhow` for the
//! connection's errors).

use isoqube::{Error, Run, RunStatus};

/// What the process exit code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// Done.
    Ok = 0,
    /// The run (waited for or watched) ended failed or cancelled.
    RunFailed = 1,
    /// Bad input: invalid definition, malformed variable, duplicate name, wrong state.
    BadInput = 2,
    /// The definition, run or message does not exist.
    NotFound = 3,
    /// The broker or the store cannot be reached or refused the operation.
    Unavailable = 4,
    /// Gave up waiting for the run to finish.
    Timeout = 5,
    /// A stored record the command needs does not parse (retrying will not
    /// help; the message names the record).
    Corrupt = 6,
    /// `serve` cannot listen on its address (in use by another process, or
    /// not this machine's): a setting to change, not an outage to wait out.
    CannotListen = 7,
}

/// The exit codes, as `--help` lists them.
pub(super) const EXIT_CODES: &str =
    "Exit codes: 0 ok; 1 the run failed or was cancelled (--wait, watch); \
2 bad input; 3 not found; 4 broker or store unavailable; 5 timed out waiting; \
6 a stored record is corrupt; 7 serve cannot listen on its address (in use).";

/// A failure with the exit status it maps to.
#[derive(Debug)]
pub struct Failure {
    /// Exit status.
    pub status: ExitStatus,
    /// What to tell the user.
    pub message: String,
}

impl Failure {
    /// Nothing to tell: the output's reader went away (see [`io_failure`]).
    pub fn is_quiet(&self) -> bool {
        self.status == ExitStatus::Ok
    }

    /// Bad input (exit 2) saying `message`.
    pub(super) fn bad_input(message: impl Into<String>) -> Self {
        Failure {
            status: ExitStatus::BadInput,
            message: message.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::NotFound { .. } => ExitStatus::NotFound,
            Error::InvalidDefinition(_)
            | Error::Conflict { .. }
            | Error::InvalidState(_)
            | Error::Malformed(_)
            | Error::Config(_)
            | Error::Registry(_) => ExitStatus::BadInput,
            Error::Corrupt { .. } => ExitStatus::Corrupt,
            _ => ExitStatus::Unavailable,
        };
        Failure {
            status,
            message: e.to_string(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<Error>() {
            Ok(e) => e.into(),
            Err(e) => Failure {
                status: ExitStatus::Unavailable,
                message: format!("{e:#}"),
            },
        }
    }
}

/// What a command came to: an exit status, or a failure to report.
pub(super) type Outcome = Result<ExitStatus, Failure>;

/// Writing the output failed (a full disk), or its reader has gone (a closed
/// pipe: `runs show ID | head -1`), which is no outage: that ends the command
/// quietly, with exit 0 (see [`Failure::is_quiet`]).
pub(super) fn io_failure(e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return Failure {
            status: ExitStatus::Ok,
            message: String::new(),
        };
    }
    Failure {
        status: ExitStatus::Unavailable,
        message: format!("cannot write the output: {e}"),
    }
}

/// What a finished (or waited-for) run means for the exit code.
pub(super) fn finished_status(r: &Run) -> ExitStatus {
    match r.status {
        RunStatus::Succeeded => ExitStatus::Ok,
        RunStatus::Failed
        | RunStatus::Cancelled
        | RunStatus::Compensated
        | RunStatus::CompensationFailed => ExitStatus::RunFailed,
        RunStatus::Pending | RunStatus::Running | RunStatus::Compensating => ExitStatus::Timeout,
    }
}
