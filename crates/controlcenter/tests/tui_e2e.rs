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

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use isoqube::transport::{AmqpConfig, AmqpTransport};
use isoqube::{consumer, event, RunStatus, RunStore, Service, SqliteStore, StepContext};
use serde::{Deserialize, Serialize};

const WIDTH: usize = 80;
const HEIGHT: usize = 24;

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

/// An 80x24 screen rebuilt from what the program wrote: cursor moves, clears
/// and text; colours and modes are ignored.
fn render(bytes: &[u8]) -> Vec<String> {
    let mut grid = vec![vec![' '; WIDTH]; HEIGHT];
    let (mut x, mut y) = (0usize, 0usize);
    let text = String::from_utf8_lossy(bytes);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                Some('[') => {
                    let mut params = String::new();
                    let mut fin = ' ';
                    for c in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&c) {
                            fin = c;
                            break;
                        }
                        params.push(c);
                    }
                    let nums: Vec<usize> = params
                        .split(';')
                        .map(|p| p.trim_start_matches('?').parse().unwrap_or(0))
                        .collect();
                    let n = |i: usize| nums.get(i).copied().unwrap_or(0).max(1);
                    match fin {
                        'H' | 'f' => {
                            y = n(0) - 1;
                            x = n(1) - 1;
                        }
                        'J' if nums.first() == Some(&2) => {
                            grid = vec![vec![' '; WIDTH]; HEIGHT];
                        }
                        'h' | 'l' if params == "?1049" => {
                            grid = vec![vec![' '; WIDTH]; HEIGHT];
                        }
                        'A' => y = y.saturating_sub(n(0)),
                        'B' => y += n(0),
                        'C' => x += n(0),
                        'D' => x = x.saturating_sub(n(0)),
                        'G' => x = n(0) - 1,
                        _ => {}
                    }
                }
                Some(']') => {
                    // OSC: up to BEL or ST.
                    while let Some(c) = chars.next() {
                        if c == '\x07' || (c == '\x1b' && chars.peek() == Some(&'\\')) {
                            chars.next();
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\r' => x = 0,
            '\n' => y += 1,
            '\x08' => x = x.saturating_sub(1),
            c if c.is_control() => {}
            c => {
                if y < HEIGHT && x < WIDTH {
                    grid[y][x] = c;
                }
                x += 1;
            }
        }
    }
    grid.into_iter().map(|r| r.into_iter().collect()).collect()
}

struct Tui {
    child: Child,
    stdin: ChildStdin,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
}

fn collect(mut from: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            if let Ok(mut b) = sink.lock() {
                b.extend_from_slice(&chunk[..n]);
            }
        }
    });
    buf
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Tui {
    fn start(db: &std::path::Path, url: &str, prefix: &str) -> Tui {
        let which = Command::new("script").arg("--version").output();
        assert!(
            which.map(|o| o.status.success()).unwrap_or(false),
            "util-linux `script` is needed to run the TUI in a pseudo-terminal"
        );
        let bin = env!("CARGO_BIN_EXE_controlcenter");
        let inner = format!(
            "stty rows {HEIGHT} cols {WIDTH}; {} --store {} --amqp-url {} --amqp-prefix {} tui; \
             code=$?; echo; echo \"TUI-EXIT=$code\"; stty -a",
            quote(bin),
            quote(&db.to_string_lossy()),
            quote(url),
            quote(prefix)
        );
        let mut cmd = Command::new("script");
        cmd.args(["-qfec", &inner, "/dev/null"])
            .env("TERM", "xterm-256color")
            .env("SHELL", "/bin/sh")
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars() {
            if k.starts_with("ISOQUBE_") {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd.spawn().expect("start `script`");
        let stdin = child.stdin.take().expect("stdin");
        let out = collect(child.stdout.take().expect("stdout"));
        let err = collect(child.stderr.take().expect("stderr"));
        Tui {
            child,
            stdin,
            out,
            err,
        }
    }

    fn output(&self) -> Vec<u8> {
        self.out.lock().map(|b| b.clone()).unwrap_or_default()
    }

    fn screen(&self) -> String {
        render(&self.output()).join("\n")
    }

    fn send(&mut self, keys: &str) {
        self.stdin.write_all(keys.as_bytes()).expect("type");
        self.stdin.flush().expect("flush");
        // Let the UI read each burst separately (an escape sequence stays whole).
        std::thread::sleep(Duration::from_millis(150));
    }

    #[track_caller]
    fn wait_for(&self, what: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let screen = self.screen();
            if what.iter().all(|w| screen.contains(w)) {
                return screen;
            }
            if Instant::now() > deadline {
                let err = self.err.lock().map(|b| b.clone()).unwrap_or_default();
                panic!(
                    "timed out waiting for {what:?} on screen:\n{screen}\n--- stderr:\n{}",
                    String::from_utf8_lossy(&err)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
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

    let mut tui = Tui::start(&db, &url, &prefix);
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
        tui.wait_for(&["Pick an event", "TuiCompile - compile for the TUI test"]);
        tui.send("\r");
        tui.send("a");
        tui.send("\x1b[B");
        tui.send("\r");
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
        std::thread::sleep(Duration::from_millis(200));
        let out = String::from_utf8_lossy(&tui.output()).to_string();
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
