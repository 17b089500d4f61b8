//! How a [`MongoStore`](super::MongoStore) is configured: the environment
//! variables and defaults of the URL and the database, the database name's
//! rules, and the tuning ([`MongoOptions`]).
//!
//! May use: the crate's errors. Nothing of the driver: these are plain values.

use std::time::Duration;

use crate::error::{Error, Result};
pub use crate::store::WriteDurability;

/// The environment variable holding the connection URL.
pub const URL_ENV: &str = "ISOQUBE_MONGO_URL";
/// The environment variable holding the database name.
pub const DATABASE_ENV: &str = "ISOQUBE_MONGO_DB";
/// The URL used when [`URL_ENV`] is not set.
pub const DEFAULT_URL: &str = "mongodb://127.0.0.1:27017";
/// The database used when none is given.
pub const DEFAULT_DATABASE: &str = "isoqube";

/// The default of [`MongoOptions::run_cache_capacity`].
pub const DEFAULT_RUN_CACHE_CAPACITY: usize = 10_000;

/// Tuning of a [`MongoStore`](super::MongoStore).
///
/// ```
/// let opts = isoqube::store::mongo::MongoOptions::default();
/// assert_eq!(opts.server_selection_timeout, std::time::Duration::from_secs(5));
/// assert_eq!(opts.log_retention, std::time::Duration::from_secs(14 * 24 * 3600));
/// assert_eq!(opts.run_cache_capacity, 10_000);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MongoOptions {
    /// How long a call waits for a usable server before failing with
    /// [`Error::Store`] (also the connect timeout).
    pub server_selection_timeout: Duration,
    /// How long step log lines are kept (TTL index on `logs.ts`).
    pub log_retention: Duration,
    /// Shown in the server's logs and `currentOp`.
    pub app_name: String,
    /// How many runs in flight keep their last known document in memory, so a
    /// step transition is one conditional write instead of a read and a write
    /// (see "Round trips" in the [module docs](super)). The oldest entry is dropped
    /// when full; `0` turns the cache off.
    pub run_cache_capacity: usize,
    /// How far every write (step transitions first) must have gone before the
    /// server acknowledges it. [`WriteDurability::Majority`] by default: a
    /// step whose success was acknowledged survives a server crash, so no
    /// later step runs on a run that never recorded it.
    pub durability: WriteDurability,
}

impl Default for MongoOptions {
    fn default() -> Self {
        MongoOptions {
            server_selection_timeout: Duration::from_secs(5),
            log_retention: Duration::from_secs(14 * 24 * 3600),
            app_name: "isoqube".to_string(),
            run_cache_capacity: DEFAULT_RUN_CACHE_CAPACITY,
            durability: WriteDurability::default(),
        }
    }
}

pub(super) fn validate_database_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 63
        || name
            .chars()
            .any(|c| matches!(c, '/' | '\\' | '.' | ' ' | '"' | '$' | '\0'))
    {
        return Err(Error::Config(format!(
            "'{name}' is not a valid MongoDB database name (1-63 characters, none of /\\. \"$)"
        )));
    }
    Ok(())
}
