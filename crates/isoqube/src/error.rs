//! The one error type of the runtime, so callers can match on what went wrong
//! (bad input, missing things, conflicts, infrastructure) without parsing strings.

/// Everything that can go wrong inside Isoqube.
///
/// ```
/// let e = isoqube::Error::not_found("definition", "nightly");
/// assert_eq!(e.to_string(), "definition 'nightly' not found");
/// ```
#[derive(Debug, thiserror::Error)]
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
    /// The store failed (I/O, connection, a document that does not parse).
    #[error("store: {0}")]
    Store(String),
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

    /// Whether the failure is in the infrastructure (store, transport) and may
    /// go away by itself, so the caller should retry rather than give up.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Store(_) | Error::Transport(_))
    }
}

/// `Result` with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
