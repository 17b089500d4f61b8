//! The console of a service whose step reaches no queue.
//! The sample's services run as separate processes over RabbitMQ without
//! `windows-pool`, as the README's serve example once left it out; a
//! `full-release` run publishes Windows builds nobody consumes. Each process's
//! console names the unroutable step in lines of our own, short; the AMQP
//! client library's warning with the returned message's raw bytes (~5 KB
//! each) is not there. Run on MongoDB and on one SQLite file.

mod deployment;

use std::time::{Duration, Instant};

use deployment::{sigterm, wait_exit, wait_registered, Deployment, StoreKind};
use isoqube::testing::free_port;
use isoqube::Variables;

/// Our longest console line is far below this; a returned message's dump is
/// several kilobytes.
const LONG_LINE: usize = 1500;

async fn scenario(deployment: Deployment) {
    let mut children: Vec<_> = ["default", "linux-pool", "deployment"]
        .iter()
        .map(|s| deployment.spawn(s, 0, free_port()))
        .collect();
    let control = deployment.control().await;
    wait_registered(&control, &deployment, 3).await;
    let mut vars = Variables::new();
    vars.insert("work_ms".into(), serde_json::json!(1));
    let run = control
        .start(
            isoqube::StartRun::new("full-release")
                .vars(vars)
                .started_by("log-noise-test"),
        )
        .await
        .expect("start");
    // The run ends (failed or compensated, whatever the engine makes of an
    // unroutable step): its Windows builds were published, and returned.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let now = control.get_run(run.id).await.expect("run");
        if now.status.is_finished() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not end: {now:#?}\n{}",
            deployment.logs_of()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for child in &children {
        sigterm(child);
    }
    for child in &mut children {
        assert!(
            wait_exit(child, Duration::from_secs(30)).is_some(),
            "a service did not stop"
        );
    }
    let logs = deployment.console_logs();
    let lines: Vec<(&str, &str)> = logs
        .iter()
        .flat_map(|(stem, text)| text.lines().map(move |l| (stem.as_str(), l)))
        .collect();
    let named: Vec<&str> = lines
        .iter()
        .filter(|(_, l)| l.contains("Windows") && l.contains("no consumer"))
        .map(|(_, l)| *l)
        .collect();
    assert!(
        !named.is_empty(),
        "no line names the unroutable step:\n{}",
        deployment.logs_of()
    );
    for (stem, line) in &lines {
        assert!(
            !line.contains("returned us a message") && !line.contains("lapin"),
            "{stem}: a client library line: {}",
            line.chars().take(300).collect::<String>()
        );
        assert!(
            line.len() < LONG_LINE,
            "{stem}: a {}-byte line: {}",
            line.len(),
            line.chars().take(300).collect::<String>()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_steps_log_short_lines_of_ours_on_mongodb() {
    scenario(Deployment::new(StoreKind::fresh_mongo("isoqube_noise"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unroutable_steps_log_short_lines_of_ours_on_a_shared_sqlite_file() {
    scenario(Deployment::new(StoreKind::fresh_sqlite_file())).await;
}
