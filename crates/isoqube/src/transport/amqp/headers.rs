//! Conversion between AMQP wire types and the seam's: transport headers as
//! AMQP field tables and back, a delivery's properties as a [`RawMessage`],
//! and names as AMQP short strings.
//!
//! May use: the seam's message types (`super::super`), the ground layer
//! (`crate::error`), lapin's types and `serde_json`.

use std::collections::BTreeMap;

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use serde_json::Value;

use super::super::{Properties, RawMessage};
use crate::error::{Error, Result};

/// `s` as an AMQP short string (names, ids, header keys: at most 255 bytes).
pub(super) fn short(s: &str) -> Result<ShortString> {
    ShortString::try_new(s).map_err(|e| Error::Transport(format!("name '{s}' is too long: {e}")))
}

/// Transport headers as an AMQP field table: strings as long strings, integers
/// as 64-bit integers, booleans, floats as doubles, `null` as void, anything else
/// as its JSON text.
pub fn headers_to_amqp(headers: &BTreeMap<String, Value>) -> Result<FieldTable> {
    let mut table = FieldTable::default();
    for (k, v) in headers {
        table.insert(short(k)?, json_to_amqp(v));
    }
    Ok(table)
}

fn json_to_amqp(v: &Value) -> AMQPValue {
    match v {
        Value::String(s) => AMQPValue::LongString(LongString::from(s.as_str())),
        Value::Bool(b) => AMQPValue::Boolean(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                AMQPValue::LongLongInt(i)
            } else if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                AMQPValue::Double(f)
            } else {
                AMQPValue::LongString(LongString::from(n.to_string()))
            }
        }
        Value::Null => AMQPValue::Void,
        other => AMQPValue::LongString(LongString::from(other.to_string())),
    }
}

/// An AMQP field table as transport headers (the inverse of [`headers_to_amqp`]
/// for what it produces; other AMQP types map to their natural JSON form).
pub fn headers_from_amqp(table: &FieldTable) -> BTreeMap<String, Value> {
    table
        .inner()
        .iter()
        .map(|(k, v)| (k.to_string(), amqp_to_json(v)))
        .collect()
}

fn amqp_to_json(v: &AMQPValue) -> Value {
    match v {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(i) => Value::from(*i),
        AMQPValue::ShortShortUInt(i) => Value::from(*i),
        AMQPValue::ShortInt(i) => Value::from(*i),
        AMQPValue::ShortUInt(i) => Value::from(*i),
        AMQPValue::LongInt(i) => Value::from(*i),
        AMQPValue::LongUInt(i) => Value::from(*i),
        AMQPValue::LongLongInt(i) => Value::from(*i),
        AMQPValue::Timestamp(t) => Value::from(*t),
        AMQPValue::Float(f) => Value::from(f64::from(*f)),
        AMQPValue::Double(f) => Value::from(*f),
        AMQPValue::DecimalValue(d) => {
            Value::from(f64::from(d.value) / 10f64.powi(i32::from(d.scale)))
        }
        AMQPValue::ShortString(s) => Value::String(s.to_string()),
        AMQPValue::LongString(s) => Value::String(String::from_utf8_lossy(s.as_bytes()).into()),
        AMQPValue::ByteArray(b) => Value::String(String::from_utf8_lossy(b.as_slice()).into()),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(amqp_to_json).collect()),
        AMQPValue::FieldTable(t) => Value::Object(
            t.inner()
                .iter()
                .map(|(k, v)| (k.to_string(), amqp_to_json(v)))
                .collect(),
        ),
        AMQPValue::Void => Value::Null,
    }
}

pub(super) fn raw_message(props: &BasicProperties, body: Vec<u8>, redelivered: bool) -> RawMessage {
    let text = |s: &Option<ShortString>| s.as_ref().map(|s| s.to_string());
    RawMessage {
        body,
        message_id: text(props.message_id()),
        correlation_id: text(props.correlation_id()),
        headers: props
            .headers()
            .as_ref()
            .map(headers_from_amqp)
            .unwrap_or_default(),
        properties: Properties {
            content_type: text(props.content_type()),
            content_encoding: text(props.content_encoding()),
            delivery_mode: *props.delivery_mode(),
            priority: *props.priority(),
            reply_to: text(props.reply_to()),
            expiration: text(props.expiration()),
            timestamp: *props.timestamp(),
            kind: text(props.kind()),
            app_id: text(props.app_id()),
        },
        redelivered,
    }
}

/// The AMQP properties of an outgoing message: its ids, headers and
/// [`Properties::published`].
pub(super) fn amqp_properties(
    message_id: &str,
    correlation_id: Option<&str>,
    headers: &BTreeMap<String, Value>,
    props: &Properties,
) -> Result<BasicProperties> {
    let p = props.published();
    let mut out = BasicProperties::default()
        .with_message_id(short(message_id)?)
        .with_headers(headers_to_amqp(headers)?);
    if let Some(c) = correlation_id {
        out = out.with_correlation_id(short(c)?);
    }
    if let Some(v) = &p.content_type {
        out = out.with_content_type(short(v)?);
    }
    if let Some(v) = &p.content_encoding {
        out = out.with_content_encoding(short(v)?);
    }
    if let Some(v) = p.delivery_mode {
        out = out.with_delivery_mode(v);
    }
    if let Some(v) = p.priority {
        out = out.with_priority(v);
    }
    if let Some(v) = &p.reply_to {
        out = out.with_reply_to(short(v)?);
    }
    if let Some(v) = &p.expiration {
        out = out.with_expiration(short(v)?);
    }
    if let Some(v) = p.timestamp {
        out = out.with_timestamp(v);
    }
    if let Some(v) = &p.kind {
        out = out.with_type(short(v)?);
    }
    if let Some(v) = &p.app_id {
        out = out.with_app_id(short(v)?);
    }
    Ok(out)
}
