//! The sample's services as separate processes over RabbitMQ: `default`,
//! `deployment` and two `linux-pool` instances sharing their queues. One
//! `linux-pool` instance is SIGKILLed while it holds a step: the message goes to
//! the other instance and the run succeeds with every step done once. Then every
//! service gets SIGTERM and exits 0 within a bounded time.
//!
//! Run on both stores a multi-process deployment can share: MongoDB (the real
//! pair; `ISOQUBE_MONGO_URL`, exported by `scripts/test.sh`) and one SQLite file.
//! RabbitMQ must be reachable (`ISOQUBE_AMQP_URL`, default the local broker):
//! the test fails, not skips, when it is not.

mod deployment;

use std::time::{Duration, Instant};

use deployment::{http_status, pid_of, sigterm, wait_exit, Deployment, StoreKind};
use isoqube::testing::free_port;
use isoqube::{RunStatus, StepStatus};

async fn scenario(deployment: Deployment) {
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let mut others = vec![
        deployment.spawn("default", 0, ports[0]),
        deployment.spawn("deployment", 0, ports[1]),
    ];
    let mut pool = vec![
        deployment.spawn("linux-pool", 0, ports[2]),
        deployment.spawn("linux-pool", 1, ports[3]),
    ];
    let control = deployment.control().await;
    let store = control.store().clone();

    // Every process has declared its queues and registered itself.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let services = store.list_services().await.unwrap_or_default();
        let count = |name: &str| services.iter().filter(|s| s.name == name).count();
        let defined = store
            .get_definition("linux-release")
            .await
            .ok()
            .flatten()
            .is_some();
        if count("default") == 1 && count("deployment") == 1 && count("linux-pool") == 2 && defined
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "services did not all start: {:?}\n{}",
            services.iter().map(|s| &s.id).collect::<Vec<_>>(),
            deployment.logs_of()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every service says it is ready (transport, consumers, store).
    for port in &ports {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (code, body) = http_status(*port, "/health/ready");
            if code == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "port {port}: {code} {body}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // The operator starts the run with the control center CLI.
    let mut ctl = deployment.command();
    ctl.args([
        "ctl",
        "runs",
        "start",
        "linux-release",
        "--var",
        "work_ms=1500",
        "--json",
    ]);
    let started = tokio::task::spawn_blocking(move || ctl.output().expect("run ctl"))
        .await
        .expect("join");
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let started: serde_json::Value =
        serde_json::from_slice(&started.stdout).expect("runs start --json prints the run");
    let run = control
        .get_run(
            started["id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .expect("run id"),
        )
        .await
        .expect("run");

    // Kill the linux-pool instance that holds the first Linux build, mid-step.
    let build_step = run
        .steps
        .iter()
        .position(|s| s.event == "LinuxUbuntu2004Build")
        .expect("a linux build step");
    let deadline = Instant::now() + Duration::from_secs(60);
    let holder = loop {
        let current = control.get_run(run.id).await.expect("run");
        let step = &current.steps[build_step];
        if step.status == StepStatus::Invoked {
            if let Some(h) = step
                .handlers
                .iter()
                .find(|h| h.status == StepStatus::Invoked)
            {
                break h.host.clone();
            }
        }
        assert!(
            current.steps[build_step].status == StepStatus::Pending
                || current.steps[build_step].status == StepStatus::Invoked,
            "the build step finished before it could be interrupted: {:?}",
            current.steps[build_step]
        );
        assert!(Instant::now() < deadline, "{}", deployment.logs_of());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let pid = pid_of(&holder).expect("pid in the instance id");
    let victim = pool
        .iter()
        .position(|c| c.id() == pid)
        .unwrap_or_else(|| panic!("{holder} is not one of the linux-pool processes"));
    let mut killed = pool.remove(victim);
    killed.kill().expect("SIGKILL");
    let _ = killed.wait();

    let done = control
        .wait_for_run(run.id, Duration::from_secs(120))
        .await
        .expect("wait");
    assert_eq!(
        done.status,
        RunStatus::Succeeded,
        "{done:?}\n{}",
        deployment.logs_of()
    );
    let step = &done.steps[build_step];
    assert!(
        !step
            .handlers
            .iter()
            .any(|h| h.host == holder && h.status == StepStatus::Succeeded),
        "the killed instance cannot have finished the step: {step:?}"
    );
    for s in &done.steps {
        assert_eq!(s.status, StepStatus::Succeeded, "{s:?}");
    }
    // Each Linux build produced its artifact exactly once.
    let logs = store.run_logs(run.id, 0).await.expect("logs");
    for distro in ["ubuntu-20.04", "ubuntu-22.04", "ubuntu-24.04"] {
        let built = logs
            .iter()
            .filter(|l| l.message.starts_with("built ") && l.message.contains(distro))
            .count();
        assert_eq!(built, 1, "{distro} built {built} times");
    }

    // The linux-pool survivor counted the Linux steps in its metrics.
    let survivor = ports[2 + usize::from(victim == 0)];
    let (code, metrics) = http_status(survivor, "/metrics");
    assert_eq!(code, 200, "{metrics}");
    assert!(
        metrics.contains("isoqube_messages_consumed_total{endpoint=\"linux-build-completed\"} 1"),
        "{metrics}"
    );

    // Graceful shutdown: every service exits 0 on SIGTERM, within a bounded time.
    others.extend(pool);
    for child in &others {
        sigterm(child);
    }
    for child in &mut others {
        let status = wait_exit(child, Duration::from_secs(30));
        if status.is_none() {
            let _ = child.kill();
        }
        assert!(
            status.is_some_and(|s| s.success()),
            "process {} did not exit 0 within 30 s after SIGTERM: {status:?}\n{}",
            child.id(),
            deployment.logs_of()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_instance_and_graceful_stop_on_mongodb() {
    scenario(Deployment::new(StoreKind::fresh_mongo("isoqube_proc"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_instance_and_graceful_stop_on_a_shared_sqlite_file() {
    scenario(Deployment::new(StoreKind::fresh_sqlite_file())).await;
}
