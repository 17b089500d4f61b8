//! One configuration for every Isoqube binary: a TOML file plus `ISOQUBE_*`
//! environment overrides, turned into a transport, a store, a service builder
//! and logging.
//!
//! Where the file comes from: `--config PATH` (the binaries' flag), else
//! `ISOQUBE_CONFIG`, else `./isoqube.toml` when it exists; without any, the
//! embedded defaults (in-process transport, `./isoqube.db`). A file that was
//! named but is missing, a key that does not exist, a value of the wrong type or
//! a malformed environment override is an error naming the key and the file
//! (or the variable). [`Config::to_toml_redacted`] prints the effective
//! configuration with passwords hidden (`config show`).
//!
//! ```toml
//! [transport]
//! kind = "amqp"                 # "amqp" or "in-process"
//! url = "amqp://guest:guest@127.0.0.1:5672/%2f"
//! vhost = "/"                   # optional: overrides the URL's vhost
//! prefix = ""                   # prepended to every exchange and queue
//! quorum = false                # quorum queues
//! publish_timeout_secs = 10
//! tls_ca_file = "/etc/isoqube/ca.pem" # optional: a private CA for amqps://
//! tls_cert_file = "/etc/isoqube/client.pem" # optional: client certificate
//! tls_key_file = "/etc/isoqube/client.key"  # and its key (both or neither)
//!
//! [store]
//! kind = "mongodb"              # "mongodb" or "sqlite"
//! url = "mongodb://127.0.0.1:27017"
//! database = "isoqube"
//! path = "isoqube.db"           # the sqlite file
//! log_retention_days = 14
//! run_retention_days = 0       # finished runs older than this are deleted by `controlcenter serve` (0: kept)
//! write_concern = "majority"    # MongoDB: "majority" (journaled) or "acknowledged" (w: 1)
//!
//! [service]
//! concurrency = 0               # cap per consumer (0: each consumer's own)
//! retry = 'interval(attempts = 3, every = "500ms")' # for consumers that name none (see `isoqube::retry`)
//! heartbeat_secs = 5
//! shutdown_grace_secs = 30
//! record_start_after_ms = 250   # a quicker step: start and outcome in one write
//! default_step_timeout_secs = 3600 # an attempt's limit when its step names no timeout (0: none)
//! health_port = 8080            # HTTP /health/* and /metrics (unset: off)
//! health_listen = "0.0.0.0"     # its address: every interface (probes come from elsewhere)
//! priorities = false            # endpoint queues with x-max-priority 9 (run priorities)
//!
//! [log]
//! level = "info"                # a tracing filter
//! format = "text"               # "text" or "json"
//! ```
//!
//! A binary may read sections of its own from the same file (the control
//! center's `[api]`): it names them to [`Config::load_with_sections`], which
//! keeps them, unread, in [`Config::sections`]; any other unknown section is
//! still an error.

mod build;
mod env;
mod load;
mod sections;
#[cfg(test)]
mod tests;

pub use load::{Config, DEFAULT_FILE, FILE_ENV};
pub use sections::*;
