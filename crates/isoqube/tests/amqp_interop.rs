//! Interop with a non-Rust AMQP client playing a MassTransit 8 service: a
//! Python script (pika, see `tests/interop/mt_client.py` and its
//! `fixtures/`) publishes MassTransit envelopes (default topology, raw JSON, a
//! type of another namespace, a redelivered message that faults) that Rust
//! consumers handle or refuse as MassTransit would, checks what lands in
//! `_error` and `_skipped` and the `Fault<T>` Isoqube publishes, and reads a
//! message Isoqube published, checking every envelope field and AMQP
//! property, and approves a waiting run (a signal with the run as its
//! correlation id). The test creates the virtualenv
//! (`target/pyenv`, `pika==1.3.2`) when it is missing; it needs `python3` with
//! `venv` and network access to PyPI the first time. The broker must be reachable.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use isoqube::publish::Parent;
use isoqube::transport::{AmqpConfig, AmqpTransport, Binding};
use isoqube::{consumer, event, fault::Fault, transport::Topology, Event, Service, Transport};
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

/// Published by Python, always fails here (after one retry).
#[event]
#[derive(Serialize, Deserialize)]
pub struct InteropFail {
    pub text: String,
}

#[consumer(service = "interop", endpoint = "interop-fail", retry = immediate(attempts = 2))]
async fn interop_fail(_ev: InteropFail) -> Result<(), std::io::Error> {
    Err(std::io::Error::other("always fails"))
}

/// A request from Python, answered with [`InteropAnswer`].
#[event]
#[derive(Serialize, Deserialize)]
pub struct InteropAsk {
    pub text: String,
}

/// The response to [`InteropAsk`].
#[event]
#[derive(Serialize, Deserialize)]
pub struct InteropAnswer {
    pub text: String,
}

#[consumer(service = "interop", endpoint = "interop-ask")]
async fn interop_ask(ev: InteropAsk, ctx: isoqube::StepContext) -> isoqube::Result<()> {
    ctx.respond(&InteropAnswer {
        text: format!("re: {}", ev.text),
    })
    .await
}

/// Asked by Rust (`Publisher::request`), answered by Python playing a
/// MassTransit consumer; no Rust consumer of it exists.
#[event]
#[derive(Serialize, Deserialize)]
pub struct InteropQuestion {
    pub text: String,
}

/// Python's answer to [`InteropQuestion`].
#[event]
#[derive(Debug, Serialize, Deserialize)]
pub struct InteropReply {
    pub text: String,
}

/// `(faultedMessageId, message.text, exceptions[0].message)` of each typed
/// `Fault<InteropFail>` consumed.
static FAULTS: Mutex<Vec<(String, String, String)>> = Mutex::new(Vec::new());

#[consumer(service = "interop", endpoint = "interop-fail-faults")]
async fn interop_fail_faults(fault: Fault<InteropFail>) -> Result<(), std::io::Error> {
    let why = fault
        .exceptions
        .first()
        .and_then(|x| x.message.clone())
        .unwrap_or_default();
    FAULTS.lock().unwrap().push((
        fault.faulted_message_id.unwrap_or_default(),
        fault.message.text,
        why,
    ));
    Ok(())
}

async fn wait_fault(faulted: &str, text: &str, why: &str) {
    let want = (faulted.to_string(), text.to_string(), why.to_string());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !FAULTS.lock().unwrap().contains(&want) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Fault<InteropFail> {want:?} never consumed: {:?}",
            FAULTS.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

static PINGS: Mutex<Vec<(String, i64)>> = Mutex::new(Vec::new());

fn pinged(text: &str) -> bool {
    PINGS
        .lock()
        .unwrap()
        .iter()
        .any(|(t, n)| t == text && *n == 42)
}

async fn wait_pinged(text: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !pinged(text) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Rust consumer never handled '{text}'"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_count(transport: &AmqpTransport, queue: &str, n: u32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let count = transport.message_count(queue).await.unwrap();
        if count == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{queue} holds {count}, expected {n}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

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

/// What the Python peer sends to approve a run: no consumer; a run waits for it.
#[event]
#[derive(Serialize, Deserialize)]
pub struct InteropApproval {
    pub text: String,
    pub n: i64,
}

/// A run waiting for [`InteropApproval`] from its start is approved by the
/// Python client's envelope and succeeds with the message's fields.
async fn approved_by_python(
    prefix: &str,
    store: Arc<dyn isoqube::RunStore>,
    transport: AmqpTransport,
) {
    use isoqube::model::WaitDef;
    let control = isoqube::Control::new(store, transport).expect("control");
    let wait = isoqube::StepDef::new("InteropApproval").waiting(WaitDef {
        correlate: None,
        timeout: Some(Duration::from_secs(3600)),
    });
    control
        .create_definition(isoqube::Definition::new("interop-approval", [wait]))
        .await
        .expect("saved");
    let run = control
        .start(isoqube::StartRun::new("interop-approval"))
        .await
        .expect("started");
    assert_eq!(run.steps[0].status, isoqube::StepStatus::Waiting);
    let info = InteropApproval::info();
    let text = format!("approved by python {prefix}");
    run_py(&[
        "publish",
        "--exchange",
        &format!("{prefix}{}", info.exchange_name()),
        "--message-type",
        &info.message_type(),
        "--text",
        &text,
        "--correlation-id",
        &run.id.to_string(),
    ]);
    let done = control
        .wait_for_run(run.id, Duration::from_secs(30))
        .await
        .expect("the run");
    assert_eq!(done.status, isoqube::RunStatus::Succeeded, "{done:#?}");
    assert_eq!(done.variables.get("text"), Some(&json!(text)));
    assert_eq!(done.variables.get("n"), Some(&json!(42)));
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
        .store(store.clone())
        .endpoints([
            "interop-ping",
            "interop-fail",
            "interop-ask",
            "interop-fail-faults",
        ])
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
    wait_pinged(&text).await;
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

    // (c) raw JSON (MassTransit's raw serializer): the body is the message
    let raw = format!("raw from python {prefix}");
    run_py(&[
        "publish",
        "--raw",
        "--exchange",
        &format!("{prefix}{}", ping.exchange_name()),
        "--text",
        &raw,
    ]);
    wait_pinged(&raw).await;

    // (d) the same type name in another namespace is another type: skipped
    let foreign = format!("foreign from python {prefix}");
    let foreign_id = run_py(&[
        "publish",
        "--exchange",
        &format!("{prefix}interop-ping"),
        "--message-type",
        "urn:message:Other.Namespace:InteropPing",
        "--text",
        &foreign,
    ]);
    run_py(&[
        "check-skipped",
        "--queue",
        &format!("{prefix}interop-ping_skipped"),
        "--message-id",
        &foreign_id,
    ]);
    assert!(
        !pinged(&foreign),
        "a type of another namespace was consumed"
    );

    // (e) a consumer that faults, for a message redelivered twice already:
    // `_error` with MassTransit's headers, and `Fault<T>` on its exchange
    let fail = InteropFail::info();
    let fault_exchange = "MassTransit:Fault--AmqpInterop:InteropFail--";
    transport
        .declare(&Topology {
            exchanges: vec![fault_exchange.into()],
            queues: vec!["py-faults".into()],
            bindings: vec![Binding::Queue {
                source: fault_exchange.into(),
                queue: "py-faults".into(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let failed_id = run_py(&[
        "publish",
        "--exchange",
        &format!("{prefix}{}", fail.exchange_name()),
        "--message-type",
        &fail.message_type(),
        "--text",
        "boom",
        "--redelivery-count",
        "2",
    ]);
    wait_count(&transport, "interop-fail_error", 1).await;
    let expect = json!({
        "messageId": failed_id,
        "retryCount": 1,
        "redeliveryCount": 2,
        "MT-Fault-Message": "always fails",
        "MT-Fault-InputAddress": transport.address("interop-fail"),
        "MT-Fault-MessageType": "AmqpInterop.InteropFail",
    });
    run_py(&[
        "check-error",
        "--queue",
        &format!("{prefix}interop-fail_error"),
        "--expect",
        &expect.to_string(),
    ]);
    let expect = json!({
        "faultType": "urn:message:MassTransit:Fault[[AmqpInterop:InteropFail]]",
        "faultedMessageId": failed_id,
        "exceptionMessage": "always fails",
        "faultMessageTypes": [fail.message_type()],
        "message": {"text": "boom", "n": 42},
    });
    run_py(&[
        "read-fault",
        "--queue",
        &format!("{prefix}py-faults"),
        "--expect",
        &expect.to_string(),
    ]);
    // ... and the typed `Fault<InteropFail>` consumer here got it too
    wait_fault(&failed_id, "boom", "always fails").await;

    // (e2) a Fault<T> as a MassTransit service publishes it reaches the
    // typed consumer through the fault exchange
    let python_faulted = uuid::Uuid::new_v4().to_string();
    run_py(&[
        "publish-fault",
        "--exchange",
        &format!("{prefix}{fault_exchange}"),
        "--fault-type",
        &Fault::<InteropFail>::info().message_type(),
        "--message-type",
        &fail.message_type(),
        "--text",
        "python fault",
        "--faulted-message-id",
        &python_faulted,
    ]);
    wait_fault(&python_faulted, "python fault", "python consumer failed").await;

    // (f) a request: the response goes to the request client's endpoint
    transport
        .declare(&Topology {
            exchanges: vec!["py-responses".into()],
            queues: vec!["py-responses".into()],
            bindings: vec![Binding::Queue {
                source: "py-responses".into(),
                queue: "py-responses".into(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let ask = InteropAsk::info();
    let request_id = uuid::Uuid::new_v4().to_string();
    run_py(&[
        "publish",
        "--exchange",
        &format!("{prefix}{}", ask.exchange_name()),
        "--message-type",
        &ask.message_type(),
        "--text",
        "ping",
        "--request-id",
        &request_id,
        "--response-address",
        &format!("{}?temporary=true", transport.address("py-responses")),
    ]);
    let expect = json!({
        "requestId": request_id,
        "messageType": [InteropAnswer::info().message_type()],
        "message": {"text": "re: ping"},
    });
    run_py(&[
        "read-response",
        "--queue",
        &format!("{prefix}py-responses"),
        "--expect",
        &expect.to_string(),
    ]);

    // (g) Isoqube sends a request to a MassTransit consumer (Python) and
    // awaits the typed response on its temporary response endpoint
    let question = InteropQuestion::info();
    transport
        .declare(&Topology {
            exchanges: vec![question.exchange_name()],
            queues: vec!["py-questions".into()],
            bindings: vec![Binding::Queue {
                source: question.exchange_name(),
                queue: "py-questions".into(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let queue = format!("{prefix}py-questions");
    let reply_type = InteropReply::info().message_type();
    let responder = tokio::task::spawn_blocking(move || {
        run_py(&["respond", "--queue", &queue, "--response-type", &reply_type])
    });
    let asker = isoqube::Publisher::new(
        Arc::new(transport.clone()),
        Arc::new(isoqube::Registry::linked().unwrap()),
        None,
        "interop-asker",
    );
    let reply = asker
        .request::<InteropQuestion, InteropReply>(
            &InteropQuestion {
                text: "who are you".into(),
            },
            Duration::from_secs(30),
        )
        .await
        .expect("the Python consumer responds");
    assert_eq!(reply.text, "re: who are you");
    let out = responder.await.expect("python ran");
    let seen: serde_json::Value = serde_json::from_str(&out).expect("JSON report");
    let request = &seen["request"];
    assert_eq!(request["messageType"], json!([question.message_type()]));
    let response_address = request["responseAddress"].as_str().unwrap_or_default();
    let endpoint = asker.response_endpoint_name().expect("declared");
    assert_eq!(
        response_address,
        format!("{}?temporary=true", transport.address(endpoint))
    );
    // Nobody answers within the timeout: a clear timeout error.
    let silent = asker
        .request::<InteropQuestion, InteropReply>(
            &InteropQuestion {
                text: "anyone?".into(),
            },
            Duration::from_millis(500),
        )
        .await;
    assert!(
        matches!(&silent, Err(isoqube::Error::Timeout(_))),
        "{silent:?}"
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
            ..Default::default()
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
        priority: None,
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

    // (h) a MassTransit peer's event completes a run's wait: correlationId =
    // the run id, the message's fields merged into the run's variables
    approved_by_python(&prefix, store.clone(), transport.clone()).await;

    svc.shutdown().await.unwrap();
    transport.delete_declared().await.unwrap();
    transport.close().await.unwrap();
}
