//! Where the control center finds the store and the transport: RabbitMQ and
//! MongoDB from URLs (flags or `ISOQUBE_*` variables), or an embedded store file.
//!
//! Without a broker the control center can still show and edit everything in the
//! store, but it cannot start work: the in-process transport only reaches
//! consumers in the same process, so for the embedded mode the sample build
//! server hosts the terminal UI next to its services (`sample-build-server tui`).
//!
//! It may use the [`Operator`] (what a connection yields), the control
//! center's configuration and `isoqube`'s configuration, stores and
//! transports; no surface.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use isoqube::config::{StoreKind, TransportKind};
use isoqube::store::mongo::MongoOptions;
use isoqube::transport::{
    AmqpConfig, AmqpTransport, DeliveryStream, OutgoingMessage, RawMessage, Reach, Topology,
    Transport,
};
use isoqube::{Config, Error, MongoStore, RunStore, SqliteStore};

use crate::config::ControlCenterSection;
use crate::ops::{Operator, NO_BROKER};

/// Connection flags, shared by every command. Each overrides the configuration
/// file (`--config`, `ISOQUBE_CONFIG` or `./isoqube.toml`) and the `ISOQUBE_*`
/// variables (see [`isoqube::config`]).
///
/// ```
/// use clap::Parser;
/// #[derive(Parser)]
/// struct Cli { #[command(flatten)] connect: controlcenter::ConnectArgs }
/// let cli = Cli::parse_from(["cc", "--store", "/tmp/x.db"]);
/// assert_eq!(cli.connect.store.as_deref().and_then(|p| p.to_str()), Some("/tmp/x.db"));
/// ```
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectArgs {
    /// Configuration file (TOML).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// RabbitMQ URL (amqp:// or amqps://); without a broker runs cannot be started.
    #[arg(long, global = true)]
    pub amqp_url: Option<String>,
    /// Prefix of every exchange and queue name.
    #[arg(long, global = true)]
    pub amqp_prefix: Option<String>,
    /// MongoDB URL; without one the embedded store file is used.
    #[arg(long, global = true)]
    pub mongo_url: Option<String>,
    /// MongoDB database.
    #[arg(long, global = true)]
    pub mongo_db: Option<String>,
    /// Embedded store file (when no MongoDB URL is configured).
    #[arg(long, global = true, value_name = "FILE")]
    pub store: Option<PathBuf>,
    /// Seconds to wait for the broker or the database before giving up.
    #[arg(long, default_value_t = 5, global = true)]
    pub connect_timeout: u64,
    /// Seconds a step may stay `Invoked` with no live handler before it is
    /// shown as stuck (default: [controlcenter] stuck_after_secs, 300).
    #[arg(long, global = true, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub stuck_after: Option<u64>,
}

impl ConnectArgs {
    /// The configuration: file, then `ISOQUBE_*` variables, then these flags.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut config = crate::config::load(self.config.as_deref())?;
        if let Some(url) = self.amqp_url.as_ref().filter(|u| !u.is_empty()) {
            config.transport.url = url.clone();
            config.transport.kind = TransportKind::Amqp;
        }
        if let Some(prefix) = &self.amqp_prefix {
            config.transport.prefix = prefix.clone();
        }
        if let Some(url) = self.mongo_url.as_ref().filter(|u| !u.is_empty()) {
            config.store.url = url.clone();
            config.store.kind = StoreKind::Mongodb;
        }
        if let Some(db) = &self.mongo_db {
            config.store.database = db.clone();
        }
        if let Some(path) = &self.store {
            config.store.path = path.clone();
            if self.mongo_url.is_none() {
                config.store.kind = StoreKind::Sqlite;
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// The `[controlcenter]` section of `config`, with `--stuck-after` over it.
    pub fn control_center(&self, config: &Config) -> anyhow::Result<ControlCenterSection> {
        let mut section = ControlCenterSection::from_config(config)?;
        if let Some(secs) = self.stuck_after {
            section.stuck_after_secs = secs;
        }
        Ok(section)
    }

    /// Connects to what the configuration and the flags name.
    pub async fn connect(&self) -> anyhow::Result<Operator> {
        self.connect_waiting(None).await
    }

    /// [`ConnectArgs::connect`], with calls to an unreachable MongoDB given
    /// up after `store_wait` (when shorter than `--connect-timeout`): a
    /// server answering requests (the API) fails them sooner than a command.
    pub async fn connect_waiting(&self, store_wait: Option<Duration>) -> anyhow::Result<Operator> {
        let config = self.config()?;
        let rule = self.control_center(&config)?.stuck_rule();
        let timeout = Duration::from_secs(self.connect_timeout.max(1));
        let store: Arc<dyn RunStore> = match config.store.kind {
            StoreKind::Mongodb => {
                let opts = MongoOptions {
                    server_selection_timeout: store_wait.map_or(timeout, |w| w.min(timeout)),
                    app_name: "isoqube-controlcenter".into(),
                    durability: config.store.write_concern,
                    ..Default::default()
                };
                Arc::new(
                    MongoStore::connect_with(&config.store.url, &config.store.database, opts)
                        .await?,
                )
            }
            StoreKind::Sqlite => {
                let path = &config.store.path;
                if !path.exists() {
                    anyhow::bail!(
                        "the store file {} does not exist (start a service first, or pass \
                         --store / ISOQUBE_STORE_PATH, or --mongo-url / ISOQUBE_MONGO_URL)",
                        path.display()
                    );
                }
                Arc::new(SqliteStore::open(path).await?)
            }
        };
        let transport: Arc<dyn Transport> = match config.transport.kind {
            TransportKind::Amqp => {
                let connected = AmqpTransport::connect(AmqpConfig {
                    connect_timeout: timeout,
                    ..config.amqp_config()
                })
                .await;
                match connected {
                    Ok(transport) => Arc::new(transport),
                    Err(e) => {
                        // Closed here, not left to `Drop`: the MongoDB driver
                        // ends its sessions from a task spawned on drop, which
                        // panics when the runtime is already shutting down
                        // (seen in `unreachable_broker_or_store_is_a_clear_error`).
                        let _ = store.close().await;
                        return Err(e.into());
                    }
                }
            }
            TransportKind::InProcess => Arc::new(NoBroker),
        };
        match Operator::new(store.clone(), transport) {
            Ok(op) => Ok(op.with_stuck_rule(rule)),
            Err(e) => {
                let _ = store.close().await;
                Err(e.into())
            }
        }
    }
}

/// The transport of a control center started without a broker: it shows the
/// store but refuses to move messages, with a message that says what to do.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBroker;

fn refuse<T>() -> isoqube::Result<T> {
    Err(Error::Transport(NO_BROKER.into()))
}

#[async_trait]
impl Transport for NoBroker {
    fn kind(&self) -> &'static str {
        "none"
    }
    fn reach(&self) -> Reach {
        Reach::Nowhere { why: NO_BROKER }
    }
    async fn declare(&self, _topology: &Topology) -> isoqube::Result<()> {
        refuse()
    }
    async fn publish(&self, _exchange: &str, _message: OutgoingMessage) -> isoqube::Result<()> {
        refuse()
    }
    async fn consume(
        &self,
        _queue: &str,
        _prefetch: u16,
    ) -> isoqube::Result<Box<dyn DeliveryStream>> {
        refuse()
    }
    async fn get(&self, _queue: &str) -> isoqube::Result<Option<RawMessage>> {
        refuse()
    }
    async fn message_count(&self, _queue: &str) -> isoqube::Result<u32> {
        refuse()
    }
    async fn is_ready(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use isoqube::{Control, RunFilter, RunStore, SqliteStore, StartRun};

    use super::NoBroker;
    use crate::ops::NO_BROKER;

    /// A library caller of `Control` is refused as the control center is,
    /// before anything is written (the transport's `reach`, not its name).
    #[tokio::test]
    async fn control_refuses_work_a_transport_cannot_deliver() {
        let path = std::env::temp_dir().join(format!("cc-nobroker-{}.db", uuid::Uuid::new_v4()));
        let store = Arc::new(SqliteStore::open(&path).await.expect("store"));
        let control = Control::new(store.clone(), Arc::new(NoBroker)).expect("control");
        let def = isoqube::Definition::new("d", ["Build"]);
        store.create_definition(&def).await.expect("definition");
        let err = control
            .start(StartRun::new("d"))
            .await
            .expect_err("refused");
        assert!(err.to_string().contains(NO_BROKER), "{err}");
        let listed = store.list_runs(&RunFilter::default()).await.expect("list");
        assert!(listed.runs.is_empty(), "nothing written: {:?}", listed.runs);
    }
}
