//! A deployment of the sample's services as separate processes, for the tests
//! that run them so (`processes`, `chaos`): the binary with a deployment's
//! broker, queue prefix and store, its processes' logs, and the small process
//! and HTTP helpers those tests share.

#![allow(dead_code)] // each test binary uses its part

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use isoqube::transport::{AmqpConfig, AmqpTransport};
use isoqube::{Control, MongoStore, RunStore, SqliteStore};

pub enum StoreKind {
    Mongo { url: String, db: String },
    Sqlite(PathBuf),
}

impl StoreKind {
    /// A fresh database `<prefix>_<random>` on the MongoDB test server.
    pub fn fresh_mongo(prefix: &str) -> StoreKind {
        let id = uuid::Uuid::new_v4().simple().to_string();
        StoreKind::Mongo {
            url: isoqube::testing::mongo_url(),
            db: format!("{prefix}_{}", &id[..12]),
        }
    }

    /// A fresh SQLite file the deployment's processes share.
    pub fn fresh_sqlite_file() -> StoreKind {
        StoreKind::Sqlite(
            std::env::temp_dir()
                .join("isoqube-sample-tests")
                .join(format!("{}.db", uuid::Uuid::new_v4())),
        )
    }
}

pub struct Deployment {
    pub prefix: String,
    pub store: StoreKind,
    pub logs: PathBuf,
    pub amqp_url: String,
}

impl Deployment {
    /// A deployment on the machine's broker (`ISOQUBE_AMQP_URL`, default the
    /// local one).
    pub fn new(store: StoreKind) -> Self {
        Self::on_broker(store, isoqube::testing::amqp_url())
    }

    /// A deployment on the broker at `amqp_url` (a node of the test's own).
    pub fn on_broker(store: StoreKind, amqp_url: String) -> Self {
        let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let logs = std::env::temp_dir().join(format!("isoqube-processes-{id}"));
        std::fs::create_dir_all(&logs).expect("log dir");
        Deployment {
            prefix: format!("p-{id}."),
            store,
            logs,
            amqp_url,
        }
    }

    /// The binary with this deployment's broker and store settings.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sample-build-server"));
        cmd.env("ISOQUBE_AMQP_URL", &self.amqp_url)
            .env("ISOQUBE_AMQP_PREFIX", &self.prefix)
            .env("NO_COLOR", "1");
        match &self.store {
            StoreKind::Mongo { url, db } => {
                cmd.env("ISOQUBE_MONGO_URL", url)
                    .env("ISOQUBE_MONGO_DB", db);
            }
            StoreKind::Sqlite(path) => {
                cmd.env_remove("ISOQUBE_MONGO_URL")
                    .env("ISOQUBE_STORE_PATH", path);
            }
        }
        cmd
    }

    pub fn spawn(&self, service: &str, n: usize, health_port: u16) -> Child {
        let log = |kind: &str| {
            std::fs::File::create(self.logs.join(format!("{service}-{n}.{kind}"))).expect("log")
        };
        self.command()
            .args(["serve", "--service", service])
            .env("ISOQUBE_HEALTH_PORT", health_port.to_string())
            .stdin(Stdio::null())
            .stdout(log("out"))
            .stderr(log("err"))
            .spawn()
            .expect("start a service process")
    }

    pub async fn store(&self) -> Arc<dyn RunStore> {
        match &self.store {
            StoreKind::Mongo { url, db } => Arc::new(
                MongoStore::connect(url, db)
                    .await
                    .unwrap_or_else(|e| panic!("MongoDB test server unreachable: {e}")),
            ),
            StoreKind::Sqlite(path) => Arc::new(SqliteStore::open(path).await.expect("store")),
        }
    }

    pub async fn control(&self) -> Control {
        let url = self.amqp_url.clone();
        let transport = AmqpTransport::connect(AmqpConfig {
            url: url.clone(),
            prefix: self.prefix.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "RabbitMQ must be reachable at {}: {e}",
                isoqube::transport::amqp::redact_url(&url)
            )
        });
        Control::new(self.store().await, Arc::new(transport)).expect("control")
    }

    /// Every process's console log (stderr) in full, by file stem
    /// (`<service>-<n>`).
    pub fn console_logs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Ok(dir) = std::fs::read_dir(&self.logs) {
            for entry in dir.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "err") {
                    let stem = path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    out.push((stem, std::fs::read_to_string(&path).unwrap_or_default()));
                }
            }
        }
        out
    }

    pub fn logs_of(&self) -> String {
        let mut out = String::new();
        if let Ok(dir) = std::fs::read_dir(&self.logs) {
            for entry in dir.flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                out.push_str(&format!("--- {}\n", entry.path().display()));
                for line in tail.into_iter().rev() {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// The status code and text of `GET path` on 127.0.0.1:port (0 when nothing answers).
pub fn http_status(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

pub fn pid_of(instance: &str) -> Option<u32> {
    // instance ids are `service@host:pid:nonce`
    let mut parts = instance.rsplit(':');
    parts.next()?;
    parts.next()?.parse().ok()
}

pub fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {} failed", child.id());
}

pub fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Waits until `processes` service instances registered and the built-in definitions are seeded.
pub async fn wait_registered(control: &Control, deployment: &Deployment, processes: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let services = control.store().list_services().await.unwrap_or_default();
        let defined = control
            .store()
            .get_definition("linux-release")
            .await
            .ok()
            .flatten()
            .is_some();
        if services.len() >= processes && defined {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "services did not all start: {:?}\n{}",
            services.iter().map(|s| &s.id).collect::<Vec<_>>(),
            deployment.logs_of()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
