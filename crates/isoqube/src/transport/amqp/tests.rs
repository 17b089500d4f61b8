//! Unit tests of the AMQP transport's parts that need no broker: the config's
//! `Debug` form, header conversion and name limits. The broker tests are in
//! `tests/amqp*.rs`.
//!
//! May use: anything of the AMQP transport.

use std::collections::BTreeMap;

use lapin::types::AMQPValue;
use serde_json::Value;

use super::headers::short;
use super::{headers_from_amqp, headers_to_amqp, AmqpConfig};

#[test]
fn secrets_are_scrubbed() {
    let config = AmqpConfig::with_url("amqp://app:hunter2@rabbit/");
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("app:***@rabbit"));
}

#[test]
fn headers_round_trip() {
    let mut h = BTreeMap::new();
    h.insert("MT-Reason".to_string(), Value::from("fault"));
    h.insert("MT-Fault-RetryCount".to_string(), Value::from(3));
    h.insert("flag".to_string(), Value::from(true));
    h.insert("ratio".to_string(), Value::from(0.5));
    h.insert("nothing".to_string(), Value::Null);
    h.insert("obj".to_string(), serde_json::json!({"a": 1}));
    let table = headers_to_amqp(&h).unwrap();
    assert_eq!(
        table.inner().get("MT-Fault-RetryCount"),
        Some(&AMQPValue::LongLongInt(3))
    );
    let back = headers_from_amqp(&table);
    assert_eq!(back["MT-Reason"], "fault");
    assert_eq!(back["MT-Fault-RetryCount"].as_u64(), Some(3));
    assert_eq!(back["flag"], true);
    assert_eq!(back["ratio"], 0.5);
    assert_eq!(back["nothing"], Value::Null);
    assert_eq!(back["obj"], r#"{"a":1}"#);
}

#[test]
fn long_names_are_errors_not_panics() {
    assert!(short(&"x".repeat(300)).is_err());
}
