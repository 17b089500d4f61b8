//! Requeueing from `<q>_error` is a redelivery as MassTransit counts it:
//! `MT-Redelivery-Count` goes up by one, the fault headers go, the body, ids
//! and AMQP properties stay (on the in-process transport; the AMQP one keeps
//! properties the same way, see isoqube's `amqp_topology`).

use std::sync::Arc;

use controlcenter::Operator;
use isoqube::transport::{Binding, OutgoingMessage, Properties};
use isoqube::{transport::Topology, InProcessTransport, RunStore, Transport};
use serde_json::json;

#[tokio::test]
async fn requeue_counts_a_redelivery_and_keeps_properties() {
    let transport = Arc::new(InProcessTransport::new());
    let mut topology = Topology::default();
    for name in ["q", "q_error"] {
        topology.exchanges.push(name.into());
        topology.queues.push(name.into());
        topology.bindings.push(Binding::Queue {
            source: name.into(),
            queue: name.into(),
        });
    }
    transport.declare(&topology).await.unwrap();
    let path = std::env::temp_dir()
        .join("isoqube-tests")
        .join(format!("{}.db", uuid::Uuid::new_v4()));
    let store = Arc::new(isoqube::SqliteStore::open(&path).await.unwrap());
    // The control center requeues only to an endpoint a service names.
    let now = chrono::Utc::now();
    store
        .register_service(&isoqube::model::ServiceRecord {
            id: "svc@test:1:a".into(),
            name: "svc".into(),
            host: "test".into(),
            pid: 1,
            events: Vec::new(),
            consumers: vec!["q".into()],
            transport: "in-process".into(),
            started_at: now,
            last_seen: now,
        })
        .await
        .unwrap();
    let properties = Properties {
        app_id: Some("dotnet".into()),
        content_type: Some("application/json".into()),
        ..Default::default()
    };
    let mut headers = std::collections::BTreeMap::new();
    headers.insert("MT-Reason".to_string(), json!("fault"));
    headers.insert("MT-Fault-Message".to_string(), json!("boom"));
    headers.insert("MT-Redelivery-Count".to_string(), json!(1));
    headers.insert("X-Mine".to_string(), json!("kept"));
    transport
        .publish(
            "q_error",
            OutgoingMessage {
                body: b"{}".to_vec(),
                message_id: "m-1".into(),
                correlation_id: Some("c-1".into()),
                headers,
                properties: properties.clone(),
            },
        )
        .await
        .unwrap();
    let op = Operator::new(store, transport.clone()).unwrap();
    op.requeue("q", "m-1").await.unwrap();
    let back = transport.get("q").await.unwrap().expect("requeued");
    assert_eq!(back.headers["MT-Redelivery-Count"], 2);
    assert_eq!(back.headers["X-Mine"], "kept");
    assert!(!back.headers.contains_key("MT-Reason"));
    assert!(!back.headers.contains_key("MT-Fault-Message"));
    assert_eq!(back.properties, properties.published());
    assert_eq!(back.correlation_id.as_deref(), Some("c-1"));
    assert!(transport.get("q_error").await.unwrap().is_none());
}
