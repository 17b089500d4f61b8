//! The terminal UI end to end, through a pseudo-terminal: this test process
//! hosts a service with two consumers on RabbitMQ (a fresh name prefix) and a
//! SQLite store file; the real `controlcenter tui` binary runs in a PTY (made by
//! util-linux `script`) against the same broker and file. Keystrokes create a
//! definition from the recorded events, start a run, and the screen (rebuilt
//! from the PTY output by a tiny VT parser) shows it succeed; `q` exits 0 and
//! leaves the terminal out of raw mode.
//!
//! RabbitMQ must be reachable (`ISOQUBE_AMQP_URL`, default the local broker):
//! the test fails, not skips, when it is not.

#[path = "support/pty.rs"]
mod pty;

use std::time::{Duration, Instant};

use isoqube::transport::{AmqpConfig, AmqpTransport};
use isoqube::{consumer, event, RunStatus, RunStore, Service, SqliteStore, StepContext};
use serde::{Deserialize, Serialize};

use pty::Tui;

/// First step of the flow the test builds in the UI.
#[event(description = "compile for the TUI test")]
#[derive(Serialize, Deserialize)]
pub struct TuiCompile {}

/// Second step of the flow the test builds in the UI.
#[event(description = "ship for the TUI test")]
#[derive(Serialize, Deserialize)]
pub struct TuiShip {}

#[consumer(service = "tui-e2e")]
async fn tui_compile(_ev: TuiCompile, ctx: StepContext) -> anyhow::Result<()> {
    let greeting: String = ctx.var("greeting").unwrap_or_default();
    ctx.set("compiled", format!("{greeting}!"))?;
    Ok(())
}

#[consumer(service = "tui-e2e")]
async fn tui_ship(_ev: TuiShip, ctx: StepContext) -> anyhow::Result<()> {
    let compiled: String = ctx.var("compiled")?;
    ctx.set("shipped", compiled)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tui_creates_a_definition_starts_a_run_and_shows_it_succeed() {
    let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let dir = std::env::temp_dir().join(format!("isoqube-tui-e2e-{id}"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = dir.join("store.db");
    let prefix = format!("tui-{id}.");
    let url = isoqube::testing::amqp_url();

    let transport = AmqpTransport::connect(AmqpConfig {
        url: url.clone(),
        prefix: prefix.clone(),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| {
        panic!(
            "RabbitMQ must be reachable at {} for this test: {e}",
            isoqube::transport::amqp::redact_url(&url)
        )
    });
    let store = SqliteStore::open(&db).await.expect("store file");
    let service = Service::builder("tui-e2e")
        .transport(transport)
        .store(store)
        .heartbeat_interval(Duration::from_secs(1))
        .start()
        .await
        .expect("start the test service");

    let mut tui = Tui::start_with(
        &[
            "--store".into(),
            db.to_string_lossy().into_owned(),
            "--amqp-url".into(),
            url.clone(),
            "--amqp-prefix".into(),
            prefix.clone(),
        ],
        &[],
        80,
        24,
    );
    let steps = tokio::task::spawn_blocking(move || {
        // The services view lists the recorded events and this process.
        tui.wait_for(&[
            "Services & events",
            "TuiCompile",
            "TuiShip",
            "tui-e2e",
            "alive",
        ]);

        // Create a definition in the form, steps picked from the events.
        tui.send("2");
        tui.wait_for(&["No definitions yet"]);
        tui.send("n");
        tui.wait_for(&["New definition"]);
        tui.send("tui-flow");
        tui.send("\t");
        tui.send("made by the e2e test");
        tui.send("\t");
        tui.send("a");
        tui.wait_for(&["Pick events", "TuiCompile - compile for the TUI test"]);
        // The picker stays open: add both, then close it.
        tui.send("\r");
        tui.send("\x1b[B");
        tui.send("\r");
        tui.wait_for(&["added: TuiCompile, TuiShip"]);
        tui.send("\x1b");
        tui.wait_for(&["1. TuiCompile", "2. TuiShip"]);
        tui.send("\x13"); // Ctrl-S
        let screen = tui.wait_for(&["created definition 'tui-flow'", "TuiCompile → TuiShip"]);
        assert!(!screen.contains("New definition"), "{screen}");

        // Start a run with a variable; the detail opens and shows it succeed.
        tui.send("s");
        tui.wait_for(&["Start a run of 'tui-flow'"]);
        tui.send("greeting=hello");
        tui.send("\r");
        let screen = tui.wait_for(&["started run", "Succeeded", "2/2 steps done"]);
        assert!(screen.contains("TuiShip"), "{screen}");

        // The runs list shows it too.
        tui.send("\x1b");
        let screen = tui.wait_for(&["Runs (1", "tui-flow", "2/2"]);
        assert!(screen.contains("Succeeded"), "{screen}");

        // Quit: exit 0, terminal back in cooked mode with echo.
        tui.send("q");
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Ok(Some(status)) = tui.child.try_wait() {
                break status;
            }
            assert!(Instant::now() < deadline, "the TUI did not exit after q");
            std::thread::sleep(Duration::from_millis(50));
        };
        // The script prints the exit code and the terminal's settings after
        // the TUI exits; the reader thread may not have them yet.
        let out = loop {
            let out = String::from_utf8_lossy(&tui.output()).to_string();
            let printed = out.split("TUI-EXIT=").nth(1).unwrap_or_default();
            if printed.contains("icanon") {
                break out;
            }
            assert!(
                Instant::now() < deadline,
                "no terminal settings printed: {out}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "script exited {status:?}: {out}");
        let tail = out
            .split("TUI-EXIT=")
            .nth(1)
            .unwrap_or_else(|| panic!("no exit code printed: {out}"));
        assert!(tail.starts_with('0'), "controlcenter tui exit code: {tail}");
        assert!(out.contains("\x1b[?1049l"), "alternate screen not left");
        assert!(
            tail.contains(" icanon") && tail.contains(" echo ") && !tail.contains("-icanon"),
            "terminal left in raw mode: {tail}"
        );
    })
    .await;

    // Ground truth in the store: one run of the definition, succeeded.
    let store = SqliteStore::open(&db).await.expect("store file");
    let runs = store
        .list_runs(&isoqube::RunFilter::default())
        .await
        .expect("runs")
        .runs;
    service.shutdown().await.expect("service shutdown");
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = steps {
        std::panic::resume_unwind(e.into_panic());
    }
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].definition, "tui-flow");
    assert_eq!(runs[0].status, RunStatus::Succeeded);
    assert_eq!(runs[0].variables["shipped"], "hello!");
}
