//! Driver errors as the crate's errors: every driver failure becomes
//! [`Error::Store`] (transient, so the runtime retries or requeues), its
//! message scrubbed of the URL's password; and the few server error codes the
//! store acts on (duplicate key, command codes).
//!
//! May use: the crate's errors and the driver's error types.

use mongodb::error::{ErrorKind, WriteFailure};

use super::MongoStore;
use crate::error::Error;

impl MongoStore {
    /// A driver failure of `what`, as a store error without the password.
    pub(super) fn err(&self, what: &str, e: mongodb::error::Error) -> Error {
        Error::Store(format!("mongodb {what}: {}", self.secrets.scrub(&e)))
    }
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
