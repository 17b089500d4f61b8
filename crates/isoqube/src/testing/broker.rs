//! A RabbitMQ node of a test's own, for tests that stop, restart or kill the
//! broker: own node name, AMQP and distribution ports, data and log
//! directory, started with `rabbitmq-server -detached`. The machine's shared
//! broker on 5672, which other tests and programs use, is never touched. The
//! node stops and its directory goes when the guard is dropped.
//!
//! May use: `std` and `uuid` (it drives the RabbitMQ command-line tools).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound once, then released for its user).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// A RabbitMQ node of this test's own; stopped and removed when dropped.
///
/// ```no_run
/// let broker = isoqube::testing::OwnBroker::start();
/// let url = broker.url(); // amqp://guest:guest@127.0.0.1:<its port>/%2f
/// broker.stop_app(); // the broker is down; clients see their connections drop
/// broker.start_app();
/// # drop(url);
/// ```
pub struct OwnBroker {
    node: String,
    port: u16,
    dir: PathBuf,
}

impl OwnBroker {
    /// Starts the node and waits until it accepts connections.
    ///
    /// # Panics
    /// When RabbitMQ is not installed or the node does not come up within
    /// 90 s: the calling test fails with where the node's logs are.
    pub fn start() -> Self {
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let node = format!("isoqube-test-{tag}@localhost");
        let (port, dist) = (free_port(), free_port());
        let dir = std::env::temp_dir().join(format!("isoqube-rabbit-{tag}"));
        std::fs::create_dir_all(dir.join("mnesia")).expect("node directory");
        std::fs::create_dir_all(dir.join("log")).expect("node log directory");
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("plugins file");
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.default = 127.0.0.1:{port}\n"),
        )
        .expect("node config");
        // rabbitmq-server runs as the `rabbitmq` user when started by root: it
        // must be able to write there (best effort: elsewhere we own it).
        let _ = Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(&dir)
            .status();
        let broker = OwnBroker { node, port, dir };
        let started = Command::new("timeout")
            .args(["120", "rabbitmq-server", "-detached"])
            .env("RABBITMQ_NODENAME", &broker.node)
            .env("RABBITMQ_DIST_PORT", dist.to_string())
            .env("RABBITMQ_CONFIG_FILE", broker.dir.join("rabbitmq.conf"))
            .env("RABBITMQ_MNESIA_BASE", broker.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", broker.dir.join("log"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                broker.dir.join("enabled_plugins"),
            )
            .env("RABBITMQ_PID_FILE", broker.dir.join("pid"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            started,
            "rabbitmq-server -detached failed for {}",
            broker.node
        );
        assert!(
            broker.wait(true, Duration::from_secs(90)),
            "the test's own RabbitMQ node {} did not listen on {} (logs in {})",
            broker.node,
            port,
            broker.dir.display()
        );
        broker
    }

    /// The node's AMQP URL (guest/guest, default vhost).
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// `rabbitmqctl -n <node> ...` under `timeout(1)`, so a node that cannot
    /// answer fails the test instead of hanging CI.
    fn ctl(&self, args: &[&str]) -> bool {
        Command::new("timeout")
            .args(["120", "rabbitmqctl", "-n", &self.node])
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    }

    fn wait(&self, open: bool, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if port_open(self.port) == open {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    /// Stops the broker application (the node stays up): every connection drops.
    ///
    /// # Panics
    /// When `rabbitmqctl stop_app` fails.
    pub fn stop_app(&self) {
        assert!(self.ctl(&["stop_app"]), "rabbitmqctl stop_app failed");
    }

    /// Starts the broker application again and waits until it listens.
    ///
    /// # Panics
    /// When `rabbitmqctl start_app` fails or the port does not open within 60 s.
    pub fn start_app(&self) {
        assert!(self.ctl(&["start_app"]), "rabbitmqctl start_app failed");
        assert!(
            self.wait(true, Duration::from_secs(60)),
            "RabbitMQ did not come back"
        );
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.ctl(&["stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
