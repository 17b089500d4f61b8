//! Documents a store cannot read: a corrupt run's step message is
//! dead-lettered without running the consumer, and a corrupt document is an
//! error naming it, never a panic.

use std::sync::Arc;
use std::time::Duration;

use isoqube::{CorruptRun, Error, RunFilter, StepKey};
use serde_json::json;
use uuid::Uuid;

use super::fixture::*;

/// Counts the deliveries [`corrupt_probe`] ran (a step of a corrupt run must not run).
static PROBED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The event of the corrupt-run probe.
#[isoqube::event]
#[derive(serde::Serialize, serde::Deserialize)]
pub struct CorruptProbe {}

#[isoqube::consumer(service = "conformance")]
async fn corrupt_probe(_ev: CorruptProbe, _ctx: isoqube::StepContext) -> anyhow::Result<()> {
    PROBED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Ok(())
}

/// A step message of a run whose record is corrupt is dead-lettered to
/// `<q>_error` naming the collection and the id, without running the consumer
/// (never requeued for ever), and the endpoint goes on consuming.
pub async fn corrupt_run_message_is_dead_lettered(f: Fixture) {
    use isoqube::envelope::{Envelope, HEADER_RUN_ID, HEADER_STEP};
    use isoqube::transport::OutgoingMessage;
    use isoqube::{Event, InProcessTransport, Transport};
    use std::sync::atomic::Ordering;

    let transport = Arc::new(InProcessTransport::new());
    let svc = isoqube::Service::builder("conformance")
        .transport_arc(transport.clone())
        .store_arc(f.store.clone())
        .endpoints(["corrupt-probe"])
        .start()
        .await
        .expect("service starts");
    let id = Uuid::new_v4();
    (f.corrupt_run)(id).await;
    let publish = |env: Envelope| {
        let transport = transport.clone();
        async move {
            let msg = OutgoingMessage {
                body: env.to_vec(),
                message_id: env.message_id.clone(),
                correlation_id: env.correlation_id.clone(),
                headers: Default::default(),
                properties: Default::default(),
            };
            transport
                .publish(&CorruptProbe::info().exchange_name(), msg)
                .await
                .expect("publish");
        }
    };
    let mut step = Envelope::new(CorruptProbe::info().message_type(), json!({}));
    step.headers
        .insert(HEADER_RUN_ID.into(), json!(id.to_string()));
    step.headers.insert(HEADER_STEP.into(), json!(0));
    let before = PROBED.load(Ordering::SeqCst);
    publish(step).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let faulted = loop {
        if let Some(m) = transport
            .get("corrupt-probe_error")
            .await
            .expect("error queue")
        {
            break m;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the step message of a corrupt run never reached corrupt-probe_error"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let header = |k: &str| {
        faulted
            .headers
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("MT-Fault-ExceptionType"), "isoqube::CorruptRecord");
    let reason = header("MT-Fault-Message");
    assert!(
        reason.contains("runs") && reason.contains(&id.to_string()),
        "{reason}"
    );
    assert_eq!(
        PROBED.load(Ordering::SeqCst),
        before,
        "the consumer ran for a corrupt run"
    );
    // The endpoint goes on: a plain event is consumed.
    publish(Envelope::new(
        CorruptProbe::info().message_type(),
        json!({}),
    ))
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while PROBED.load(Ordering::SeqCst) == before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the endpoint stopped consuming"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    svc.shutdown().await.expect("shutdown");
}

pub async fn corrupt_document(f: Fixture) {
    let s = f.store;
    let good = new_run("good");
    s.insert_run(&good).await.unwrap();
    let id = Uuid::new_v4();
    (f.corrupt_run)(id).await;
    let check = |e: Error| {
        let msg = e.to_string();
        assert!(e.is_corrupt() && !e.is_transient(), "{msg}");
        assert!(msg.contains("runs"), "names the collection: {msg}");
        assert!(msg.contains(&id.to_string()), "names the id: {msg}");
    };
    check(s.get_run(id).await.unwrap_err());
    // A list skips it and names it, and shows the good run.
    let page = s.list_runs(&RunFilter::default()).await.unwrap();
    assert_eq!(page.runs, vec![good.clone()]);
    let [CorruptRun { id: bad, reason }] = page.corrupt.as_slice() else {
        panic!("one corrupt record named: {:?}", page.corrupt);
    };
    assert_eq!(bad, &id.to_string());
    assert!(reason.contains("does not parse"), "{reason}");
    assert!(page.next.is_none(), "not a full page");
    // It counts towards the page size, and the cursor moves past it: paging
    // one by one sees the good run, then the corrupt one, then the end.
    let one = RunFilter {
        limit: 1,
        ..RunFilter::default()
    };
    let first = s.list_runs(&one).await.unwrap();
    assert_eq!((first.runs.len(), first.corrupt.len()), (1, 0));
    let second = s
        .list_runs(&one.at(&first.next.expect("cursor")))
        .await
        .unwrap();
    assert!(second.runs.is_empty());
    assert_eq!(second.corrupt.len(), 1, "{second:?}");
    let cursor = second
        .next
        .expect("a page of one corrupt record is full: it has a cursor");
    let third = s.list_runs(&one.at(&cursor)).await.unwrap();
    assert!(third.runs.is_empty() && third.corrupt.is_empty() && third.next.is_none());
    // A filter it does not match leaves it out.
    let of_good = s
        .list_runs(&RunFilter {
            definition: Some("good".into()),
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert!(of_good.corrupt.is_empty() && of_good.runs.len() == 1);
    check(
        s.claim_step(&StepKey::new(id, 0, "a", "h"), false)
            .await
            .unwrap_err(),
    );
    check(s.cancel_run(id).await.unwrap_err());
    // The good run is unaffected.
    assert_eq!(s.get_run(good.id).await.unwrap(), Some(good));
}
