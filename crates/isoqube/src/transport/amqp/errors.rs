//! lapin's errors told apart (a broker reply code or a client failure) and
//! turned into the crate's errors with secrets scrubbed out; the AMQP reply
//! codes the transport looks at.
//!
//! May use: the ground layer (`crate::error`, `crate::redact`) and lapin.

use crate::error::Error;
use crate::redact::Secrets;

/// Reply code of a clean close.
pub(super) const REPLY_SUCCESS: u16 = 200;
/// Reply code of a missing exchange or queue.
pub(super) const NOT_FOUND: u16 = 404;

/// A lapin error, classified.
pub(super) struct LapinFailure(pub(super) lapin::Error);

impl LapinFailure {
    pub(super) fn code(&self) -> Option<u16> {
        match self.0.kind() {
            lapin::ErrorKind::ProtocolError(e) => Some(e.get_id()),
            _ => None,
        }
    }

    /// The error for doing `what`, its text scrubbed of `secrets`.
    pub(super) fn into_error(self, secrets: &Secrets, what: &str) -> Error {
        let code = self.code();
        let text = secrets.scrub(self.into_error_text());
        match code {
            Some(NOT_FOUND) => Error::Transport(format!("{what}: it does not exist ({text})")),
            _ => Error::Transport(format!("{what}: {text}")),
        }
    }

    /// The broker's reply text for protocol errors, lapin's message otherwise.
    pub(super) fn into_error_text(self) -> String {
        match self.0.kind() {
            lapin::ErrorKind::ProtocolError(e) => e.get_message().to_string(),
            _ => self.0.to_string(),
        }
    }
}
