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
            return unreachable(&self.redacted_url, &e);
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
/// why, as the operator can act on it: a host name that does not resolve, a
/// refused connection, or no answer in time. What the store was doing is the
/// caller's business (it is in the debug log), not the operator's.
pub(super) fn unreachable(url: &str, e: &mongodb::error::Error) -> Error {
    let hosts = crate::redact::url_hosts(url);
    // The driver tells the cause only in its text (the topology's last error
    // per server), so that is what is read.
    let text = e.to_string();
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if has(&[
        "failed to lookup address",
        "Name or service not known",
        "nodename nor servname",
        "No address associated",
        "Temporary failure in name resolution",
        "No such host",
    ]) {
        let host = hosts.split(',').next().unwrap_or(&hosts);
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        return Error::Store(format!(
            "MongoDB at {hosts} is unreachable: cannot resolve host {host} (a DNS error)"
        ));
    }
    let why = match e.kind.as_ref() {
        ErrorKind::Io(io) => io.kind().to_string(),
        _ if has(&["Connection refused", "connection refused"]) => "connection refused".into(),
        _ => "no answer in time".into(),
    };
    Error::Store(format!("MongoDB at {hosts} is unreachable ({why})"))
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
