//! Driver errors as the crate's errors: every driver failure becomes
//! [`Error::Store`] (transient, so the runtime retries or requeues), its
//! message scrubbed of the URL's password; a server that cannot be reached is
//! one line naming its hosts (the driver's dump of the topology goes to the
//! debug log); and the few server error codes the store acts on (duplicate
//! key, command codes).
//!
//! May use: the crate's errors and the driver's error types.

use mongodb::error::{ErrorKind, WriteFailure};

use super::MongoStore;
use crate::error::Error;

impl MongoStore {
    /// A driver failure of `what`, as a store error without the password.
    pub(super) fn err(&self, what: &str, e: mongodb::error::Error) -> Error {
        let detail = self.secrets.scrub(&e);
        if is_unreachable(&e) {
            tracing::debug!(url = %self.redacted_url, "mongodb {what}: {detail}");
            return unreachable(&self.redacted_url, what, e.kind.as_ref());
        }
        Error::Store(format!("mongodb {what}: {detail}"))
    }
}

/// Whether the server could not be reached at all (no server selected, the
/// connection refused or lost), rather than answering with an error.
pub(super) fn is_unreachable(e: &mongodb::error::Error) -> bool {
    matches!(
        e.kind.as_ref(),
        ErrorKind::ServerSelection { .. } | ErrorKind::ConnectionPoolCleared { .. }
    ) || matches!(e.kind.as_ref(), ErrorKind::Io(io) if crate::error::is_unreachable_io(io.kind()))
}

/// One line: which server does not answer (hosts only, no credentials) and
/// what was being done.
pub(super) fn unreachable(url: &str, what: &str, kind: &ErrorKind) -> Error {
    let why = match kind {
        ErrorKind::Io(io) => format!("{}", io.kind()),
        _ => "no answer".to_string(),
    };
    Error::Store(format!(
        "MongoDB at {} is unreachable ({why}; {what})",
        crate::redact::url_hosts(url)
    ))
}

/// Whether the server refused a write for a key that is taken (code 11000).
pub(super) fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .is_some_and(|ws| ws.iter().any(|w| w.code == 11000)),
        _ => false,
    }
}

/// The server's code when a command failed.
pub(super) fn command_code(e: &mongodb::error::Error) -> Option<i32> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        _ => None,
    }
}
