//! The service processes of one scenario: started, SIGKILLed, restarted and,
//! at the end, stopped with SIGTERM.

use std::collections::BTreeSet;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::deployment::{http_status, sigterm, wait_exit, Deployment};

/// The sample's services, with two instances of the Linux build pool.
pub const SERVICES: [&str; 4] = ["default", "deployment", "linux-pool", "linux-pool"];

struct Proc {
    service: &'static str,
    /// Its number in the deployment: its log is `<service>-<n>.err`.
    n: usize,
    child: Child,
    port: u16,
}

pub struct Fleet<'d> {
    deployment: &'d Deployment,
    procs: Vec<Proc>,
    spawned: usize,
    /// Pids of the processes SIGKILLed so far.
    pub killed: BTreeSet<u32>,
    /// Their log files' stems (`<service>-<n>`), to tell their lines apart.
    pub killed_logs: BTreeSet<String>,
}

impl<'d> Fleet<'d> {
    pub fn start(deployment: &'d Deployment) -> Self {
        let mut fleet = Fleet {
            deployment,
            procs: Vec::new(),
            spawned: 0,
            killed: BTreeSet::new(),
            killed_logs: BTreeSet::new(),
        };
        for service in SERVICES {
            fleet.spawn(service);
        }
        fleet
    }

    fn spawn(&mut self, service: &'static str) {
        let port = isoqube::testing::free_port();
        let n = self.spawned;
        let child = self.deployment.spawn(service, n, port);
        self.spawned += 1;
        self.procs.push(Proc {
            service,
            n,
            child,
            port,
        });
    }

    /// Waits until every process answers `/health/ready` with 200.
    pub async fn wait_ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        for p in &self.procs {
            loop {
                let (code, body) = http_status(p.port, "/health/ready");
                if code == 200 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{} (port {}) not ready: {code} {body}\n{}",
                    p.service,
                    p.port,
                    self.deployment.logs_of()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// Each process's endpoints as its `/metrics` shows them (consuming or
    /// not, deliveries in flight): what a stuck run needs to be explained.
    pub fn endpoints(&self) -> String {
        let mut out = String::new();
        for p in &self.procs {
            let (code, text) = http_status(p.port, "/metrics");
            out.push_str(&format!(
                "--- {}-{} (pid {}): /metrics {code}\n",
                p.service,
                p.n,
                p.child.id()
            ));
            for line in text.lines().filter(|l| {
                l.starts_with("isoqube_endpoint_consuming{")
                    || l.starts_with("isoqube_messages_in_flight{")
            }) {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// SIGKILLs process `index` (modulo the fleet) and starts its service again.
    /// Returns the service and the pid killed.
    pub fn kill_and_restart(&mut self, index: usize) -> (&'static str, u32) {
        let i = index % self.procs.len();
        let mut p = self.procs.remove(i);
        let pid = p.child.id();
        p.child.kill().expect("SIGKILL");
        let _ = p.child.wait();
        self.killed.insert(pid);
        self.killed_logs.insert(format!("{}-{}", p.service, p.n));
        self.spawn(p.service);
        (p.service, pid)
    }

    /// SIGTERM to every process; each must exit 0 within 30 s.
    pub fn stop(mut self) {
        for p in &self.procs {
            sigterm(&p.child);
        }
        for p in &mut self.procs {
            let status = wait_exit(&mut p.child, Duration::from_secs(30));
            if status.is_none() {
                let _ = p.child.kill();
            }
            assert!(
                status.is_some_and(|s| s.success()),
                "{} ({}) did not exit 0 within 30 s of SIGTERM: {status:?}\n{}",
                p.service,
                p.child.id(),
                self.deployment.logs_of()
            );
        }
        self.procs.clear();
    }
}

impl Drop for Fleet<'_> {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}
