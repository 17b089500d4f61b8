//! The bench's events, its one no-op consumer, its two definitions and the
//! service it measures (the in-process transport and a fresh SQLite file, or
//! a fresh database on `ISOQUBE_MONGO_URL`). Uses only Isoqube's author API,
//! its stores and its service builder.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use isoqube::model::WaitDef;
use isoqube::store::mongo::MongoOptions;
use isoqube::{
    Control, Definition, InProcessTransport, MongoStore, RunStore, Service, SqliteStore, StepDef,
};
use serde::{Deserialize, Serialize};

/// What every bench run waits for; nothing sends it.
#[isoqube::event(namespace = "WaitBench")]
#[derive(Serialize, Deserialize)]
pub struct WaitBenchSignal {}

/// The step after the timers' optional wait: what a fired timer makes due.
#[isoqube::event(namespace = "WaitBench")]
#[derive(Serialize, Deserialize)]
pub struct WaitBenchAfter {}

#[isoqube::consumer(service = "wait-bench", concurrency = 64)]
async fn after_wait(_ev: WaitBenchAfter) -> anyhow::Result<()> {
    Ok(())
}

/// Runs of this wait an hour at their first step: the idle runs.
pub const IDLE: &str = "wait-bench-idle";
/// Runs of this wait (optionally) `--timer-secs` and then run one step.
pub const TIMERS: &str = "wait-bench-timers";

/// Which store the service records its runs in.
#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
pub enum StoreKind {
    /// A fresh SQLite file in a temp dir.
    Sqlite,
    /// A fresh database on `ISOQUBE_MONGO_URL`, dropped at the end.
    Mongo,
}

/// The service under measurement and what to clean up after it.
pub struct Bench {
    pub service: Service,
    pub control: Control,
    pub store: Arc<dyn RunStore>,
    mongo: Option<MongoStore>,
    dir: Option<PathBuf>,
}

impl Bench {
    /// Opens a fresh store, starts the service and saves the two definitions.
    pub async fn start(kind: StoreKind, id: &str) -> Bench {
        let (store, mongo, dir): (Arc<dyn RunStore>, _, _) = match kind {
            StoreKind::Sqlite => {
                let dir = std::env::temp_dir().join(format!("isoqube-wait-bench-{id}"));
                let store = SqliteStore::open(&dir.join("bench.db"))
                    .await
                    .expect("the SQLite store opens");
                (Arc::new(store), None, Some(dir))
            }
            StoreKind::Mongo => {
                let url = std::env::var("ISOQUBE_MONGO_URL").expect("ISOQUBE_MONGO_URL set");
                let db = format!("isoqube_wait_bench_{id}");
                let store = MongoStore::connect_with(&url, &db, MongoOptions::default())
                    .await
                    .expect("MongoDB reachable");
                (Arc::new(store.clone()), Some(store), None)
            }
        };
        let transport = Arc::new(InProcessTransport::new());
        let service = Service::builder("wait-bench")
            .transport(transport.clone())
            .store(store.clone())
            .start()
            .await
            .expect("the service starts");
        let control = service.control().clone();
        Bench {
            service,
            control,
            store,
            mongo,
            dir,
        }
    }

    /// Saves the idle definition and the timers' one (`timer`: its wait's timeout).
    pub async fn define(&self, timer: Duration) {
        let wait = |timeout| {
            StepDef::new(WaitBenchSignal::NAME).waiting(WaitDef {
                correlate: None,
                timeout: Some(timeout),
            })
        };
        let idle = Definition::new(IDLE, [wait(Duration::from_secs(3600))]);
        let timers = Definition::new(
            TIMERS,
            [wait(timer).optional(), StepDef::new(WaitBenchAfter::NAME)],
        );
        for def in [idle, timers] {
            self.control
                .create_definition(def)
                .await
                .expect("definition saved");
        }
    }

    /// Stops the service and drops or removes the store.
    pub async fn cleanup(self) {
        let _ = self.service.shutdown().await;
        if let Some(m) = &self.mongo {
            if let Err(e) = m.drop_database().await {
                eprintln!("could not drop the bench database: {e}");
            }
        }
        let _ = self.store.close().await;
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
