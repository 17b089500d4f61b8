//! What the CLI tests share: the test consumers (`CcPrepare`, `CcShip`, knobs
//! from the run variables), an [`Env`] (a broker prefix and a store of one's
//! own on SQLite or MongoDB, with the consumers running) and the binary run
//! against it.
#![allow(dead_code)]

use std::collections::HashSet;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use isoqube::testing::{amqp_url, mongo_url};
use isoqube::transport::{AmqpConfig, AmqpTransport};
use isoqube::{consumer, event, MongoStore, RunStore, Service, SqliteStore, StepContext};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// First test step.
#[event]
#[derive(Serialize, Deserialize)]
pub struct CcPrepare {}

/// Second test step.
#[event]
#[derive(Serialize, Deserialize)]
pub struct CcShip {}

/// Undoes a test step (a compensation).
#[event]
#[derive(Serialize, Deserialize)]
pub struct CcUndo {}

fn seen() -> &'static Mutex<HashSet<String>> {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    SEEN.get_or_init(Default::default)
}

/// Knobs from the run variables: `sleep_ms`, `fail_always`, `fail_first`
/// (fail the first attempt of each run, whichever step it is; succeed after a
/// resume), `fail_on` (an endpoint that always fails); `fail_undo` makes the
/// undo (`CcUndo`) fail.
async fn behave(ctx: &StepContext) -> anyhow::Result<()> {
    if ctx.var_opt::<String>("fail_on").as_deref() == Some(ctx.endpoint()) {
        anyhow::bail!("{} fails on purpose", ctx.endpoint());
    }
    if let Some(ms) = ctx.var_opt::<u64>("sleep_ms") {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if ctx.var_opt::<bool>("fail_always") == Some(true) {
        anyhow::bail!("fails on purpose, every time");
    }
    if ctx.var_opt::<bool>("fail_first") == Some(true) {
        let key = format!("{:?}", ctx.run_id());
        let first = seen().lock().map(|mut s| s.insert(key)).unwrap_or(false);
        if first {
            anyhow::bail!("first attempt fails on purpose");
        }
    }
    tracing::info!("{} done", ctx.endpoint());
    Ok(())
}

#[consumer(service = "cc-test")]
async fn cc_prepare(_ev: CcPrepare, ctx: StepContext) -> anyhow::Result<()> {
    behave(&ctx).await
}

#[consumer(service = "cc-test")]
async fn cc_ship(_ev: CcShip, ctx: StepContext) -> anyhow::Result<()> {
    behave(&ctx).await
}

#[consumer(service = "cc-test")]
async fn cc_undo(_ev: CcUndo, ctx: StepContext) -> anyhow::Result<()> {
    if ctx.var_opt::<bool>("fail_undo") == Some(true) {
        anyhow::bail!("the undo fails on purpose");
    }
    tracing::info!("undid {}", ctx.compensating().unwrap_or("nothing"));
    Ok(())
}

use super::records::StoreAt;

/// A broker prefix and a store of one's own, with the test consumers running.
pub struct Env {
    pub prefix: String,
    pub store_args: StoreAt,
    pub store: Arc<dyn RunStore>,
    pub service: Option<Service>,
}

impl Env {
    pub async fn new(mongo: bool) -> Env {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("cc-{}.", &id[..8]);
        let (store_args, store): (StoreAt, Arc<dyn RunStore>) = if mongo {
            let url = mongo_url();
            let db = format!("isoqube_cc_{}", &id[..12]);
            let store = MongoStore::connect(&url, &db)
                .await
                .unwrap_or_else(|e| panic!("MongoDB test server unreachable: {e}"));
            (StoreAt::Mongo { url, db }, Arc::new(store))
        } else {
            let path = std::env::temp_dir()
                .join("isoqube-cc-tests")
                .join(format!("{id}.db"));
            let store = SqliteStore::open(&path).await.expect("store");
            (StoreAt::Sqlite(path), Arc::new(store))
        };
        let transport = AmqpTransport::connect(AmqpConfig {
            url: amqp_url(),
            prefix: prefix.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("RabbitMQ must be reachable for these tests: {e}"));
        let service = Service::builder("cc-test")
            .transport(transport)
            .store(store.clone())
            .services(["cc-test"])
            .start()
            .await
            .expect("service");
        Env {
            prefix,
            store_args,
            store,
            service: Some(service),
        }
    }

    pub fn cmd(&self, broker: bool) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_controlcenter"));
        cmd.env_remove("ISOQUBE_AMQP_URL")
            .env_remove("ISOQUBE_MONGO_URL")
            .env_remove("ISOQUBE_STORE_PATH")
            .env("ISOQUBE_AMQP_PREFIX", &self.prefix);
        if broker {
            cmd.env("ISOQUBE_AMQP_URL", amqp_url());
        }
        match &self.store_args {
            StoreAt::Sqlite(path) => {
                cmd.arg("--store").arg(path);
            }
            StoreAt::Mongo { url, db } => {
                cmd.env("ISOQUBE_MONGO_URL", url)
                    .env("ISOQUBE_MONGO_DB", db);
            }
        }
        cmd
    }

    /// Runs the binary (with the broker) and returns (exit code, stdout, stderr).
    pub fn cc(&self, args: &[&str]) -> (i32, String, String) {
        out(self
            .cmd(true)
            .args(args)
            .output()
            .expect("run controlcenter"))
    }

    /// Creates the definition `pair` (CcPrepare, CcShip).
    pub fn create_pair(&self) {
        let (code, _, stderr) = self.cc(&[
            "definitions",
            "create",
            "pair",
            "--steps",
            "CcPrepare,CcShip",
        ]);
        assert_eq!(code, 0, "{stderr}");
    }

    /// Creates the definition `approval`: CcPrepare, a wait for CcApproval
    /// (48 h, matched by the run variable `order_id` without a run id), CcShip.
    /// The test binary defines the event `CcApproval` (an event of this
    /// module would be in every binary's event lists).
    pub fn create_approval(&self) {
        let path = std::env::temp_dir()
            .join("isoqube-cc-tests")
            .join(format!("{}approval.json", self.prefix));
        let def = serde_json::json!({
            "name": "approval",
            "steps": [
                "CcPrepare",
                { "wait_for": "CcApproval", "timeout": "48h", "correlate": "order_id" },
                "CcShip",
            ],
        });
        std::fs::create_dir_all(path.parent().expect("a directory")).expect("dir");
        std::fs::write(&path, def.to_string()).expect("write the definition");
        let file = path.to_str().expect("a UTF-8 path");
        let (code, _, stderr) = self.cc(&["definitions", "apply", "-f", file]);
        assert_eq!(code, 0, "{stderr}");
    }

    /// `runs show ID --json`'s run, polled until `done` holds of it (30 s at most).
    pub fn run_until(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let run = self.json(&["runs", "show", id, "--json"])["run"].clone();
            if done(&run) {
                return run;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "run {id} never {what}: {run:#}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn json(&self, args: &[&str]) -> Value {
        self.json_code(0, args)
    }

    /// Runs the binary, expects exit `code` and returns its stdout as JSON.
    pub fn json_code(&self, code: i32, args: &[&str]) -> Value {
        let (got, stdout, stderr) = self.cc(args);
        assert_eq!(got, code, "{args:?}: {stderr}");
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {stdout}"))
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.service.take() {
            s.shutdown().await.expect("shutdown");
        }
    }
}

pub fn out(o: Output) -> (i32, String, String) {
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr,
    )
}

pub async fn in_background<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("join")
}

/// Instantiates each scenario (an async fn taking an [`Env`]) as a test on a
/// SQLite file and on MongoDB.
macro_rules! on_both_stores {
    ($($name:ident),*) => {
        mod sqlite_file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::cli_env::Env::new(false).await).await;
                }
            )*
        }
        mod mongodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::cli_env::Env::new(true).await).await;
                }
            )*
        }
    };
}
