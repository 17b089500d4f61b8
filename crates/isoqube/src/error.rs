//! Ground layer: the one error type of the runtime, so callers can match on
//! what went wrong without parsing strings. Three kinds matter most to a caller
//! and each has a question: [`Error::is_unavailable`] (the broker or the store
//! is down: retry later), [`Error::is_invalid_input`] (refuse, nothing was
//! written) and [`Error::is_corrupt`] (a stored record does not parse: report
//! it, never retry it). Uses nothing else of the crate.
//!
//! Infrastructure errors carry the client library's message as text, scrubbed
//! of credentials, not the library's error value as a `source()`: the MongoDB
//! driver's and lapin's errors can hold the connection URL with its password,
//! and an error chain printed with `{:#}` (as the CLIs do) would show it.

/// Everything that can go wrong inside Isoqube.
///
/// ```
/// let e = isoqube::Error::not_found("definition", "nightly");
/// assert_eq!(e.to_string(), "definition 'nightly' not found");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A run definition broke a rule; nothing was written.
    #[error("invalid definition: {0}")]
    InvalidDefinition(String),
    /// The thing asked for does not exist.
    #[error("{kind} '{name}' not found")]
    NotFound {
        /// What kind of thing (definition, run, queue, ...).
        kind: &'static str,
        /// Its name or id.
        name: String,
    },
    /// The thing to create exists already.
    #[error("{kind} '{name}' already exists")]
    Conflict {
        /// What kind of thing.
        kind: &'static str,
        /// Its name or id.
        name: String,
    },
    /// The operation does not fit the current state (e.g. resuming a succeeded run).
    #[error("{0}")]
    InvalidState(String),
    /// Two registered items clash, or a registration is unusable.
    #[error("registry: {0}")]
    Registry(String),
    /// A message could not be understood.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The store failed (I/O, connection, timeout): it may answer later.
    #[error("store: {0}")]
    Store(String),
    /// A stored record does not parse: retrying cannot help, so the message
    /// that needed it is dead-lettered and a list skips it (naming it).
    #[error("{collection} record '{id}' is corrupt: {reason}")]
    Corrupt {
        /// The collection (table) it is in: `runs`, `definitions`, ...
        collection: String,
        /// Its id or name.
        id: String,
        /// What does not parse.
        reason: String,
    },
    /// The transport failed (connection, unconfirmed publish, missing queue).
    #[error("transport: {0}")]
    Transport(String),
    /// A published message reached no queue: no consumer endpoint is bound to it.
    #[error(
        "no consumer is bound to exchange '{0}' (is the service hosting its consumer started?)"
    )]
    Unroutable(String),
    /// Configuration is missing or wrong.
    #[error("config: {0}")]
    Config(String),
    /// A request got no response in time (`Publisher::request`).
    #[error("timeout: {0}")]
    Timeout(String),
    /// The consumer of a request failed for good: its `Fault<T>` came back
    /// instead of the response (`Publisher::request`).
    #[error("request faulted: {0}")]
    Faulted(String),
}

impl Error {
    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(kind: &'static str, name: impl Into<String>) -> Self {
        Error::NotFound {
            kind,
            name: name.into(),
        }
    }

    /// Shorthand for [`Error::Conflict`].
    pub fn conflict(kind: &'static str, name: impl Into<String>) -> Self {
        Error::Conflict {
            kind,
            name: name.into(),
        }
    }

    /// Shorthand for [`Error::Corrupt`].
    ///
    /// ```
    /// let e = isoqube::Error::corrupt("runs", "42", "missing field `steps`");
    /// assert!(e.is_corrupt() && !e.is_transient());
    /// assert_eq!(e.to_string(), "runs record '42' is corrupt: missing field `steps`");
    /// ```
    pub fn corrupt(
        collection: impl Into<String>,
        id: impl Into<String>,
        reason: impl std::fmt::Display,
    ) -> Self {
        Error::Corrupt {
            collection: collection.into(),
            id: id.into(),
            reason: reason.to_string(),
        }
    }

    /// Whether the failure is in the infrastructure (store, transport) and may
    /// go away by itself, so the caller should retry rather than give up.
    pub fn is_transient(&self) -> bool {
        self.is_unavailable()
    }

    /// The broker or the store is down or did not answer: retry later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Store(_) | Error::Transport(_))
    }

    /// A stored record does not parse (see [`Error::Corrupt`]).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, Error::Corrupt { .. })
    }

    /// The caller's input was refused (nothing was written): a bad definition,
    /// message, configuration or a request that does not fit the state.
    ///
    /// ```
    /// assert!(isoqube::Error::InvalidDefinition("no steps".into()).is_invalid_input());
    /// assert!(!isoqube::Error::Store("down".into()).is_invalid_input());
    /// ```
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Error::InvalidDefinition(_)
                | Error::InvalidState(_)
                | Error::Malformed(_)
                | Error::Config(_)
                | Error::Registry(_)
        )
    }
}

/// Whether an I/O error means the server cannot be reached at all (nothing
/// listens, no route, the connection dropped), as opposed to one that answered
/// wrongly (a TLS or protocol failure), whose detail the operator needs.
#[cfg(any(feature = "amqp", feature = "mongo"))]
pub(crate) fn is_unreachable_io(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        kind,
        K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::NotConnected
            | K::TimedOut
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::AddrNotAvailable
            | K::BrokenPipe
            | K::UnexpectedEof
    )
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
