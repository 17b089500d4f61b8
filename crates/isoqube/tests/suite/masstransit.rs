//! MassTransit behaviour on both pairs: what a stock MassTransit 8 service
//! sends is consumed (or refused) the way MassTransit itself would, and what
//! Isoqube moves aside carries MassTransit's headers. Instantiated by
//! `masstransit_tests!` in `embedded.rs` and `real.rs`.

use std::sync::Mutex;
use std::time::Duration;

use isoqube::envelope::Envelope;
use isoqube::transport::{OutgoingMessage, Properties};
use isoqube::{consumer, event, fault::Fault, Event, StepContext};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::Harness;

/// Consumed as itself and as a .NET type of another namespace.
#[event(accepts = ["urn:message:Legacy.Contracts:OldPing"])]
#[derive(Serialize, Deserialize)]
pub struct MtPing {
    pub text: String,
}

static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// `(text, redelivery count)` of each `MtCount` consumed.
static COUNTS: Mutex<Vec<(String, u32)>> = Mutex::new(Vec::new());

/// Records the redelivery count its consumer is given.
#[event]
#[derive(Serialize, Deserialize)]
pub struct MtCount {
    pub text: String,
}

#[consumer(service = "suite-mt", endpoint = "mt-count")]
async fn mt_count(ev: MtCount, ctx: StepContext) -> Result<(), std::io::Error> {
    COUNTS
        .lock()
        .unwrap()
        .push((ev.text, ctx.redelivery_count()));
    Ok(())
}

fn seen(text: &str) -> bool {
    SEEN.lock().unwrap().iter().any(|t| t == text)
}

#[consumer(service = "suite-mt", endpoint = "mt-ping")]
async fn mt_ping(ev: MtPing) -> Result<(), std::io::Error> {
    SEEN.lock().unwrap().push(ev.text);
    Ok(())
}

/// Always fails, after two retries.
#[event(namespace = "Suite.Mt")]
#[derive(Serialize, Deserialize)]
pub struct MtFail {
    pub text: String,
}

#[consumer(service = "suite-mt", endpoint = "mt-fail", retry = immediate(attempts = 3))]
async fn mt_fail(_ev: MtFail) -> Result<(), std::io::Error> {
    Err(std::io::Error::other("always fails"))
}

/// `(faultedMessageId, message.text, exceptions[0].message)` of each
/// typed `Fault<MtFail>` consumed.
static FAULTS: Mutex<Vec<(String, String, String)>> = Mutex::new(Vec::new());

/// A typed consumer of `Fault<MtFail>`: bound to `MassTransit:Fault--Suite.Mt:MtFail--`.
#[consumer(service = "suite-mt", endpoint = "mt-fail-faults")]
async fn mt_fail_fault(fault: Fault<MtFail>) -> Result<(), std::io::Error> {
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

/// Whether a typed `Fault<MtFail>` of `message_id` with `text` was consumed.
pub async fn wait_fault(message_id: &str, text: &str, why: &str) {
    let want = (message_id.to_string(), text.to_string(), why.to_string());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !FAULTS.lock().unwrap().contains(&want) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Fault<MtFail> {want:?} not consumed: {:?}",
            FAULTS.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A request a MassTransit request client sends.
#[event]
#[derive(Serialize, Deserialize)]
pub struct MtAsk {
    pub text: String,
}

/// The response to [`MtAsk`].
#[event]
#[derive(Debug, Serialize, Deserialize)]
pub struct MtAnswer {
    pub text: String,
}

#[consumer(service = "suite-mt", endpoint = "mt-ask")]
async fn mt_ask(ev: MtAsk, ctx: StepContext) -> anyhow::Result<()> {
    ctx.respond(&MtAnswer {
        text: format!("re: {}", ev.text),
    })
    .await?;
    Ok(())
}

/// The original .NET build server's `Windows2019Build` topic: its namespace,
/// its `[EntityName("windows-2019-build")]` exchange, System.Text.Json's
/// camelCase (`TopicBase`: `Timestamp`, `CorrelationId`, `IngestionId`).
#[event(
    namespace = "Isoqube.Orchestration.Core.ServiceBus.Topics",
    exchange = "windows-2019-build"
)]
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Windows2019Build {
    pub timestamp: String,
    pub correlation_id: String,
    pub ingestion_id: String,
}

/// The topic after it (`[EntityName("windows-2022-build")]`).
#[event(
    namespace = "Isoqube.Orchestration.Core.ServiceBus.Topics",
    exchange = "windows-2022-build"
)]
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Windows2022Build {
    pub timestamp: String,
    pub correlation_id: String,
    pub ingestion_id: String,
}

/// Takes the original's `Windows2019BuildConsumer` place: its endpoint is
/// what MassTransit's kebab-case formatter makes of that class name
/// (`windows2019-build`), and it hands on to the next topic as the
/// original's consumers do.
#[consumer(service = "suite-mt", endpoint = "windows2019-build")]
async fn windows2019_build(ev: Windows2019Build, ctx: StepContext) -> anyhow::Result<()> {
    ctx.publish(&Windows2022Build {
        timestamp: chrono::Utc::now().to_rfc3339(),
        correlation_id: ev.correlation_id,
        ingestion_id: ev.ingestion_id,
    })
    .await?;
    Ok(())
}

fn envelope(message_type: &str, text: &str) -> Vec<u8> {
    Envelope::new(message_type, json!({ "text": text })).to_vec()
}

async fn wait_seen(text: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !seen(text) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "'{text}' was never consumed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A message type matches on the whole URN, ignoring case; an event takes
/// the URNs it declares it accepts (published to that type's own exchange);
/// the same type name in another namespace is another type: skipped, the
/// consumer never sees it.
pub async fn message_types_match_whole_urn(h: Harness) {
    let svc = h.service(&["mt-ping"]).await;
    let tag = Uuid::new_v4().simple().to_string();
    let own = MtPing::info().message_type();
    let (upper, legacy, foreign) = (
        format!("upper-{tag}"),
        format!("legacy-{tag}"),
        format!("foreign-{tag}"),
    );
    h.publish_raw("mt-ping", &envelope(&own.to_uppercase(), &upper))
        .await;
    h.publish_raw(
        "Legacy.Contracts:OldPing",
        &envelope("urn:message:Legacy.Contracts:OldPing", &legacy),
    )
    .await;
    h.publish_raw(
        "mt-ping",
        &envelope("urn:message:Other.Ns:MtPing", &foreign),
    )
    .await;
    wait_seen(&upper).await;
    wait_seen(&legacy).await;
    h.wait_queue("mt-ping_skipped", 1).await;
    let skipped = h.transport().get("mt-ping_skipped").await.unwrap().unwrap();
    let env: Value = serde_json::from_slice(&skipped.body).unwrap();
    assert_eq!(env["message"]["text"], foreign.as_str());
    assert!(!seen(&foreign), "a type of another namespace was consumed");
    assert_eq!(
        h.transport().message_count("mt-ping_error").await.unwrap(),
        0
    );
    svc.shutdown().await.unwrap();
}

async fn publish_with(h: &Harness, exchange: &str, body: &[u8], properties: Properties) -> String {
    let id = Uuid::new_v4().to_string();
    let msg = OutgoingMessage {
        body: body.to_vec(),
        message_id: id.clone(),
        correlation_id: Some(format!("corr-{id}")),
        headers: Default::default(),
        properties,
    };
    h.transport().publish(exchange, msg).await.expect("publish");
    id
}

fn content_type(ct: &str) -> Properties {
    Properties {
        content_type: Some(ct.into()),
        ..Default::default()
    }
}

/// The content type picks the reader: raw `application/json` is the message
/// itself (consumed); an unsupported one goes to `<q>_error` naming it, with
/// the AMQP properties it came with.
pub async fn content_type_picks_the_reader(h: Harness) {
    let svc = h.service(&["mt-ping"]).await;
    let tag = Uuid::new_v4().simple().to_string();
    let raw = format!("raw-{tag}");
    publish_with(
        &h,
        "mt-ping",
        json!({ "text": raw }).to_string().as_bytes(),
        content_type("application/json; charset=utf-8"),
    )
    .await;
    wait_seen(&raw).await;
    let xml = format!("xml-{tag}");
    let sent = Properties {
        app_id: Some("dotnet".into()),
        priority: Some(2),
        ..content_type("application/vnd.masstransit+xml")
    };
    let id = publish_with(
        &h,
        "mt-ping",
        &envelope(&MtPing::info().message_type(), &xml),
        sent.clone(),
    )
    .await;
    h.wait_queue("mt-ping_error", 1).await;
    let moved = h.transport().get("mt-ping_error").await.unwrap().unwrap();
    assert!(!seen(&xml));
    assert_eq!(moved.message_id.as_deref(), Some(id.as_str()));
    assert_eq!(moved.correlation_id, Some(format!("corr-{id}")));
    assert_eq!(moved.properties, sent.published());
    let header = |k: &str| {
        moved
            .headers
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    assert_eq!(
        header("MT-Fault-ExceptionType").as_deref(),
        Some("isoqube::UnsupportedContentType")
    );
    let why = header("MT-Fault-Message").unwrap_or_default();
    assert!(why.contains("application/vnd.masstransit+xml"), "{why}");
    svc.shutdown().await.unwrap();
}

/// A consumer that fails every retry moves its message to `<q>_error` with
/// MassTransit's whole header set (retry and redelivery counts only when not
/// zero), its own headers, ids and AMQP properties kept.
pub async fn fault_moves_with_masstransit_headers(h: Harness) {
    let svc = h.service(&["mt-fail", "mt-fail-faults"]).await;
    // A MassTransit `IConsumer<Fault<MtFail>>`'s queue, bound to the fault exchange.
    let fault_exchange = "MassTransit:Fault--Suite.Mt:MtFail--";
    h.transport()
        .declare(&isoqube::transport::Topology {
            exchanges: vec![fault_exchange.into()],
            queues: vec!["dotnet-faults".into()],
            bindings: vec![isoqube::transport::Binding::Queue {
                source: fault_exchange.into(),
                queue: "dotnet-faults".into(),
            }],
            ..Default::default()
        })
        .await
        .expect("declare");
    let sent = Properties {
        app_id: Some("dotnet".into()),
        ..content_type("application/vnd.masstransit+json")
    };
    let body = envelope(&MtFail::info().message_type(), "boom");
    let id = Uuid::new_v4().to_string();
    let mut headers = std::collections::BTreeMap::new();
    headers.insert("MT-Redelivery-Count".to_string(), json!(2));
    headers.insert("X-Mine".to_string(), json!("kept"));
    let msg = OutgoingMessage {
        body: body.clone(),
        message_id: id.clone(),
        correlation_id: None,
        headers,
        properties: sent.clone(),
    };
    h.transport()
        .publish("mt-fail", msg)
        .await
        .expect("publish");
    h.wait_queue("mt-fail_error", 1).await;
    let moved = h.transport().get("mt-fail_error").await.unwrap().unwrap();
    assert_eq!(moved.body, body);
    assert_eq!(moved.message_id.as_deref(), Some(id.as_str()));
    assert_eq!(moved.properties, sent.published());
    let header = |k: &str| {
        moved
            .headers
            .get(k)
            .unwrap_or_else(|| panic!("{k} missing: {:?}", moved.headers))
            .clone()
    };
    assert_eq!(header("MT-Reason"), "fault");
    let kind = header("MT-Fault-ExceptionType");
    assert!(
        kind.as_str().is_some_and(|k| k.ends_with("Error")),
        "{kind}"
    );
    assert_eq!(header("MT-Fault-Message"), "always fails");
    assert_eq!(header("MT-Fault-StackTrace"), "");
    assert!(header("MT-Fault-Timestamp")
        .as_str()
        .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()));
    let consumer = header("MT-Fault-ConsumerType");
    assert!(
        consumer.as_str().is_some_and(|c| c.ends_with("::mt_fail")),
        "{consumer}"
    );
    assert_eq!(header("MT-Fault-MessageType"), "Suite.Mt.MtFail");
    assert_eq!(
        header("MT-Fault-InputAddress"),
        h.transport().address("mt-fail").as_str()
    );
    assert_eq!(header("MT-Fault-RetryCount"), 2);
    assert_eq!(header("MT-Fault-RedeliveryCount"), 2);
    assert_eq!(header("MT-Redelivery-Count"), 2);
    assert_eq!(header("X-Mine"), "kept");
    for host in [
        "MachineName",
        "ProcessName",
        "ProcessId",
        "Assembly",
        "AssemblyVersion",
        "FrameworkVersion",
        "MassTransitVersion",
        "OperatingSystemVersion",
    ] {
        header(&format!("MT-Host-{host}"));
    }

    // ... and `Fault<MtFail>` is published, as MassTransit publishes it.
    h.wait_queue("dotnet-faults", 1).await;
    let published = h.transport().get("dotnet-faults").await.unwrap().unwrap();
    let faulted = Envelope::from_slice(&body).unwrap();
    let env = Envelope::from_slice(&published.body).expect("a fault envelope");
    assert_eq!(
        env.message_type,
        [
            "urn:message:MassTransit:Fault[[Suite.Mt:MtFail]]",
            "urn:message:MassTransit:Fault"
        ]
    );
    assert_eq!(
        env.initiator_id.as_deref(),
        Some(faulted.message_id.as_str())
    );
    assert_eq!(env.source_address, Some(h.transport().address("mt-fail")));
    let m = &env.message;
    assert_eq!(m["faultedMessageId"], faulted.message_id.as_str());
    assert!(Uuid::parse_str(m["faultId"].as_str().unwrap_or_default()).is_ok());
    assert!(m["timestamp"].is_string());
    assert_eq!(m["exceptions"][0]["message"], "always fails");
    assert_eq!(m["exceptions"][0]["exceptionType"], kind);
    assert_eq!(m["host"]["assembly"], "suite");
    assert_eq!(
        m["faultMessageTypes"],
        json!([MtFail::info().message_type()])
    );
    assert_eq!(m["message"], json!({"text": "boom"}));
    // An Isoqube consumer of the typed `Fault<MtFail>` gets it too.
    wait_fault(&faulted.message_id, "boom", "always fails").await;
    svc.shutdown().await.unwrap();
}

/// A `Fault<MtFail>` as a MassTransit service publishes it (its own
/// exception type, stack trace, a .NET timestamp with seven decimals) reaches
/// the typed consumer through the fault exchange.
pub async fn typed_fault_from_masstransit(h: Harness) {
    assert_eq!(
        Fault::<MtFail>::info().exchange_name(),
        "MassTransit:Fault--Suite.Mt:MtFail--"
    );
    let svc = h.service(&["mt-fail-faults"]).await;
    let faulted_id = Uuid::new_v4().to_string();
    let mut env = Envelope::new(
        "urn:message:MassTransit:Fault[[Suite.Mt:MtFail]]",
        json!({
            "faultId": Uuid::new_v4().to_string(),
            "faultedMessageId": faulted_id,
            "timestamp": "2024-05-01T10:00:00.1234567Z",
            "exceptions": [{
                "exceptionType": "System.InvalidOperationException",
                "innerException": null,
                "stackTrace": "   at Consumer.Consume(ConsumeContext`1 context)",
                "message": "dotnet says no",
                "source": "Dotnet.Service",
                "data": null
            }],
            "host": {"machineName": "win-01", "processName": "Dotnet.Service", "processId": 42,
                     "assembly": "Dotnet.Service", "assemblyVersion": "1.0.0.0",
                     "frameworkVersion": "8.0.0", "massTransitVersion": "8.2.0.0",
                     "operatingSystemVersion": "Microsoft Windows NT 10.0"},
            "faultMessageTypes": ["urn:message:Suite.Mt:MtFail"],
            "message": {"text": "from dotnet"}
        }),
    );
    env.message_type
        .push("urn:message:MassTransit:Fault".to_string());
    h.publish_raw("MassTransit:Fault--Suite.Mt:MtFail--", &env.to_vec())
        .await;
    wait_fault(&faulted_id, "from dotnet", "dotnet says no").await;
    assert_eq!(
        h.transport()
            .message_count("mt-fail-faults_error")
            .await
            .unwrap(),
        0
    );
    svc.shutdown().await.unwrap();
}

/// `Publisher::request` gets the typed response of a consumer that responds;
/// a consumer that fails for good comes back as `Error::Faulted`, one that
/// never responds as `Error::Timeout`, and nobody bound is `Unroutable`.
pub async fn request_awaits_typed_response(h: Harness) {
    let svc = h.service(&["mt-ask", "mt-fail", "mt-ping"]).await;
    let publisher = isoqube::Publisher::new(
        h.transport().clone(),
        std::sync::Arc::new(isoqube::Registry::linked().unwrap()),
        None,
        "suite-asker",
    );
    let answer: MtAnswer = publisher
        .request::<MtAsk, MtAnswer>(
            &MtAsk {
                text: "ping".into(),
            },
            Duration::from_secs(20),
        )
        .await
        .expect("a response");
    assert_eq!(answer.text, "re: ping");
    // Two at once on the one response endpoint: each gets its own.
    let (ask_a, ask_b) = (MtAsk { text: "a".into() }, MtAsk { text: "b".into() });
    let (a, b) = tokio::join!(
        publisher.request::<MtAsk, MtAnswer>(&ask_a, Duration::from_secs(20)),
        publisher.request::<MtAsk, MtAnswer>(&ask_b, Duration::from_secs(20)),
    );
    assert_eq!(
        (a.unwrap().text, b.unwrap().text),
        ("re: a".into(), "re: b".into())
    );
    let faulted = publisher
        .request::<MtFail, MtAnswer>(
            &MtFail {
                text: "boom".into(),
            },
            Duration::from_secs(20),
        )
        .await;
    match faulted {
        Err(isoqube::Error::Faulted(why)) => assert!(why.contains("always fails"), "{why}"),
        other => panic!("expected Faulted, got {other:?}"),
    }
    let started = tokio::time::Instant::now();
    let silent = publisher
        .request::<MtPing, MtAnswer>(
            &MtPing {
                text: format!("silent-{}", Uuid::new_v4().simple()),
            },
            Duration::from_millis(700),
        )
        .await;
    assert!(
        matches!(&silent, Err(isoqube::Error::Timeout(why)) if why.contains("MtPing")),
        "{silent:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(700));
    let name = publisher
        .response_endpoint_name()
        .expect("declared")
        .to_string();
    assert!(name.contains("_suite-asker_bus_"), "{name}");
    assert_eq!(h.transport().message_count(&name).await.unwrap(), 0);
    svc.shutdown().await.unwrap();
}

/// A consumer is told the message's `MT-Redelivery-Count` (0 without one).
pub async fn redelivery_count_is_honoured(h: Harness) {
    let svc = h.service(&["mt-count"]).await;
    let tag = Uuid::new_v4().simple().to_string();
    let urn = MtCount::info().message_type();
    for (text, count) in [
        (format!("three-{tag}"), Some(3)),
        (format!("none-{tag}"), None),
    ] {
        let mut headers = std::collections::BTreeMap::new();
        if let Some(n) = count {
            headers.insert("MT-Redelivery-Count".to_string(), json!(n));
        }
        let msg = OutgoingMessage {
            body: envelope(&urn, &text),
            message_id: Uuid::new_v4().to_string(),
            correlation_id: None,
            headers,
            properties: Properties::default(),
        };
        h.transport()
            .publish("mt-count", msg)
            .await
            .expect("publish");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got: Vec<(String, u32)> = COUNTS
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t.ends_with(&tag))
            .cloned()
            .collect();
        if got.len() == 2 {
            assert!(got.contains(&(format!("three-{tag}"), 3)), "{got:?}");
            assert!(got.contains(&(format!("none-{tag}"), 0)), "{got:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{got:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    svc.shutdown().await.unwrap();
}

/// `null` for a field that is not an `Option` (what .NET sends for an unset
/// reference) is a fault naming the field.
pub async fn null_field_is_named(h: Harness) {
    let svc = h.service(&["mt-ping"]).await;
    let body = Envelope::new(MtPing::info().message_type(), json!({ "text": null })).to_vec();
    h.publish_raw("mt-ping", &body).await;
    h.wait_queue("mt-ping_error", 1).await;
    let moved = h.transport().get("mt-ping_error").await.unwrap().unwrap();
    let why = moved.headers["MT-Fault-Message"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("field `text` is null"), "{why}");
    svc.shutdown().await.unwrap();
}

/// A request (`requestId` + `responseAddress`) is answered: the response
/// goes to the response address with the request id copied.
pub async fn request_is_answered(h: Harness) {
    let svc = h.service(&["mt-ask"]).await;
    // The request client's endpoint (MassTransit's temporary bus endpoint).
    h.transport()
        .declare(&isoqube::transport::Topology {
            exchanges: vec!["mt-asker".into()],
            queues: vec!["mt-asker".into()],
            bindings: vec![isoqube::transport::Binding::Queue {
                source: "mt-asker".into(),
                queue: "mt-asker".into(),
            }],
            ..Default::default()
        })
        .await
        .expect("declare");
    let mut ask = Envelope::new(MtAsk::info().message_type(), json!({"text": "ping"}));
    let request_id = Uuid::new_v4().to_string();
    ask.request_id = Some(request_id.clone());
    ask.correlation_id = Some(request_id.clone());
    ask.response_address = Some(format!(
        "{}?temporary=true",
        h.transport().address("mt-asker")
    ));
    h.publish_raw("mt-ask", &ask.to_vec()).await;
    h.wait_queue("mt-asker", 1).await;
    let got = h.transport().get("mt-asker").await.unwrap().unwrap();
    let answer = Envelope::from_slice(&got.body).expect("an envelope");
    assert_eq!(answer.request_id.as_deref(), Some(request_id.as_str()));
    assert_eq!(answer.message_type, [MtAnswer::info().message_type()]);
    assert_eq!(answer.message["text"], "re: ping");
    assert_eq!(
        answer.initiator_id.as_deref(),
        Some(ask.message_id.as_str())
    );
    assert_eq!(answer.correlation_id.as_deref(), Some(request_id.as_str()));
    assert_eq!(
        h.transport().message_count("mt-ask_error").await.unwrap(),
        0
    );
    svc.shutdown().await.unwrap();
}

/// MassTransit's topology of one receive endpoint `queue` consuming the
/// message exchange `exchange`: exchange `queue` and queue `queue`, bound,
/// and `exchange` bound to exchange `queue`.
fn dotnet_endpoint(queue: &str, exchange: &str) -> isoqube::transport::Topology {
    use isoqube::transport::Binding;
    isoqube::transport::Topology {
        exchanges: vec![exchange.into(), queue.into()],
        queues: vec![queue.into()],
        bindings: vec![
            Binding::Exchange {
                source: exchange.into(),
                destination: queue.into(),
            },
            Binding::Queue {
                source: queue.into(),
                queue: queue.into(),
            },
        ],
        ..Default::default()
    }
}

/// Joining a broker where the original .NET build server runs: its
/// topology (kebab-case `[EntityName]` exchanges, endpoints from
/// MassTransit's kebab-case endpoint formatter, types in
/// `Isoqube.Orchestration.Core.ServiceBus.Topics`) is declared first, as
/// its services declare it; an Isoqube service takes one endpoint's place
/// without a conflicting declaration, consumes what the .NET side publishes
/// and publishes the next topic, which the .NET endpoint receives.
pub async fn original_dotnet_topology(h: Harness) {
    use isoqube::consumer::endpoint_name_for;
    // MassTransit's KebabCaseEndpointNameFormatter: `(?<=[a-z0-9])[A-Z]`
    // gets a `-`, the `Consumer` suffix goes.
    assert_eq!(
        endpoint_name_for("Windows2019BuildConsumer"),
        "windows2019-build"
    );
    assert_eq!(
        endpoint_name_for("LinuxUbundu2004BuildConsumer"),
        "linux-ubundu2004-build"
    );
    let ns = "Isoqube.Orchestration.Core.ServiceBus.Topics";
    assert_eq!(
        Windows2019Build::info().message_type(),
        format!("urn:message:{ns}:Windows2019Build")
    );
    // The .NET services' endpoints, declared before Isoqube starts.
    for (queue, exchange) in [
        ("windows2019-build", "windows-2019-build"),
        ("windows2022-build", "windows-2022-build"),
    ] {
        h.transport()
            .declare(&dotnet_endpoint(queue, exchange))
            .await
            .expect("the .NET topology");
    }
    let svc = h.service(&["windows2019-build"]).await;
    let correlation = Uuid::new_v4().to_string();
    let mut env = Envelope::new(
        format!("urn:message:{ns}:Windows2019Build"),
        json!({
            "timestamp": "2024-04-28T07:26:15.2890275Z",
            "correlationId": correlation,
            "ingestionId": "ing-7",
        }),
    );
    env.correlation_id = Some(correlation.clone());
    h.publish_raw("windows-2019-build", &env.to_vec()).await;
    h.wait_queue("windows2022-build", 1).await;
    let got = h
        .transport()
        .get("windows2022-build")
        .await
        .unwrap()
        .unwrap();
    let next = Envelope::from_slice(&got.body).expect("an envelope");
    assert_eq!(
        next.message_type,
        [format!("urn:message:{ns}:Windows2022Build")]
    );
    assert_eq!(next.message["correlationId"], correlation.as_str());
    assert_eq!(next.message["ingestionId"], "ing-7");
    assert!(next.message["timestamp"].is_string());
    assert_eq!(next.initiator_id.as_deref(), Some(env.message_id.as_str()));
    assert_eq!(next.correlation_id.as_deref(), Some(correlation.as_str()));
    assert_eq!(
        next.source_address,
        Some(h.transport().address("windows2019-build"))
    );
    for q in ["windows2019-build_error", "windows2019-build_skipped"] {
        assert_eq!(h.transport().message_count(q).await.unwrap(), 0, "{q}");
    }
    svc.shutdown().await.unwrap();
}

/// Instantiates the MassTransit scenarios with `$pair`.
#[macro_export]
macro_rules! masstransit_tests {
    ($pair:path) => {
        mod masstransit {
            use super::*;
            $crate::masstransit_tests!(@each $pair; message_types_match_whole_urn, content_type_picks_the_reader,
                fault_moves_with_masstransit_headers, redelivery_count_is_honoured,
                null_field_is_named, request_is_answered, typed_fault_from_masstransit,
                request_awaits_typed_response, original_dotnet_topology);
        }
    };
    (@each $pair:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                suite::masstransit::$name(suite::Harness::new($pair().await)).await;
            }
        )*
    };
}
