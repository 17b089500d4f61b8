//! Interop with a non-Rust AMQP client: a Python script (pika, see
//! `tests/interop/mt_client.py`) publishes a hand-built MassTransit envelope that
//! a Rust consumer handles, and reads a message Isoqube published, checking every
//! envelope field and AMQP property. The test creates the virtualenv
//! (`target/pyenv`, `pika==1.3.2`) when it is missing; it needs `python3` with
//! `venv` and network access to PyPI the first time. The broker must be reachable.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use isoqube::publish::Parent;
use isoqube::transport::{AmqpConfig, AmqpTransport, Binding};
use isoqube::{consumer, event, Event, Service, Topology, Transport};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Published by Python, consumed here.
#[event]
#[derive(Serialize, Deserialize)]
pub struct InteropPing {
    pub text: String,
    pub n: i64,
}

/// Published here, read by Python.
#[event]
#[derive(Serialize, Deserialize)]
pub struct InteropPong {
    pub text: String,
}

static PINGS: Mutex<Vec<(String, i64)>> = Mutex::new(Vec::new());

#[consumer(service = "interop", endpoint = "interop-ping")]
async fn interop_ping(ev: InteropPing) -> Result<(), std::io::Error> {
    PINGS.lock().unwrap().push((ev.text, ev.n));
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// The venv's python, created with pika on first use.
fn python() -> PathBuf {
    let venv = target_dir().join("pyenv");
    let py = venv.join("bin/python");
    let has_pika = |py: &Path| {
        Command::new(py)
            .args(["-c", "import pika"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has_pika(&py) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 must be installed for the interop test");
        assert!(made.success(), "python3 -m venv {} failed", venv.display());
        let pip = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "pika==1.3.2"])
            .status()
            .expect("pip runs");
        assert!(pip.success(), "pip install pika==1.3.2 failed");
        assert!(has_pika(&py), "pika still not importable");
    }
    py
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/mt_client.py")
}

fn run_py(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(script())
        .args(args)
        .env("ISOQUBE_AMQP_URL", AmqpConfig::default().url)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "mt_client.py {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_interop() {
    isoqube::telemetry::init_for_tests();
    let prefix = format!("t-{}.", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let transport = AmqpTransport::connect(AmqpConfig {
        prefix: prefix.clone(),
        ..Default::default()
    })
    .await
    .expect("RabbitMQ must be reachable for the interop test");
    let store = isoqube::SqliteStore::open(
        &std::env::temp_dir()
            .join("isoqube-tests")
            .join(format!("{}.db", uuid::Uuid::new_v4())),
    )
    .await
    .expect("store");
    let store: Arc<dyn isoqube::RunStore> = Arc::new(store);
    let svc = Service::builder("interop")
        .transport(transport.clone())
        .store_arc(store.clone())
        .endpoints(["interop-ping"])
        .start()
        .await
        .expect("service starts");

    // (a) Python publishes, Rust consumes
    let ping = InteropPing::info();
    let text = format!("hello from python {prefix}");
    run_py(&[
        "publish",
        "--exchange",
        &format!("{prefix}{}", ping.exchange_name()),
        "--message-type",
        &ping.message_type(),
        "--text",
        &text,
        "--correlation-id",
        &uuid::Uuid::new_v4().to_string(),
    ]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if PINGS.lock().unwrap().contains(&(text.clone(), 42)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Rust consumer never handled the Python message"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        transport.message_count("interop-ping_error").await.unwrap(),
        0
    );
    assert_eq!(
        transport
            .message_count("interop-ping_skipped")
            .await
            .unwrap(),
        0
    );

    // (b) Isoqube publishes, Python reads and checks
    let pong = InteropPong::info();
    transport
        .declare(&Topology {
            exchanges: vec![pong.exchange_name()],
            queues: vec!["py-reader".into()],
            bindings: vec![Binding::Queue {
                source: pong.exchange_name(),
                queue: "py-reader".into(),
            }],
        })
        .await
        .unwrap();
    let publisher = isoqube::Publisher::new(
        Arc::new(transport.clone()),
        Arc::new(isoqube::Registry::linked().unwrap()),
        Some(store.clone()),
        "interop",
    );
    let parent = Parent {
        message_id: Some(uuid::Uuid::new_v4().to_string()),
        conversation_id: Some(uuid::Uuid::new_v4().to_string()),
        correlation_id: Some(uuid::Uuid::new_v4().to_string()),
        endpoint: Some("interop-src".into()),
    };
    let env = publisher
        .publish_event(
            &InteropPong {
                text: "hello from rust".into(),
            },
            &parent,
        )
        .await
        .unwrap();
    let expect = json!({
        "correlationId": parent.correlation_id,
        "conversationId": parent.conversation_id,
        "initiatorId": parent.message_id,
        "messageType": [pong.message_type()],
        "message": {"text": "hello from rust"},
        "sourceAddress": transport.address("interop-src"),
        "destinationAddress": transport.address(&pong.exchange_name()),
    });
    let out = run_py(&[
        "read",
        "--queue",
        &format!("{prefix}py-reader"),
        "--expect",
        &expect.to_string(),
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(report["ok"], true);
    assert_eq!(report["messageId"], env.message_id.as_str());

    svc.shutdown().await.unwrap();
    transport.delete_declared().await.unwrap();
    transport.close().await.unwrap();
}
