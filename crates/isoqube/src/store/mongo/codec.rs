//! Documents and records: how every record is stored (its serde shape as
//! BSON, plus an `_id` and the store's own fields) and read back.
//!
//! Every record is stored with its serde shape (the same JSON the SQLite store
//! keeps, converted to BSON), plus an `_id`: the run id string, the definition
//! name, the service id or the topic name. A few extra fields serve the queries
//! and are ignored when a document is read back:
//!
//! * `runs.created_key`: `created_at` as an RFC 3339 string with fixed
//!   microsecond precision, so string order is time order (the control center
//!   lists runs newest first and pages with `before`);
//! * `logs.seq`: the line's position in its run (reserved per batch from a
//!   per-run counter in `counters`), so `run_logs(skip)` pages stably even when
//!   several services flush lines of one run out of time order;
//! * `logs.ts`: the timestamp as a BSON date, for the TTL index that expires
//!   log lines after [`MongoOptions::log_retention`](super::MongoOptions::log_retention)
//!   (default 14 days).
//!
//! * `runs._ops`: tokens of the last transitions written (one per write), so
//!   a write whose answer was lost (server killed mid-write) is recognised,
//!   not re-applied, and a cached document is matched as that very document.
//!
//! A document that does not parse gives [`Error::Corrupt`] naming the
//! collection and the id; it never panics.
//!
//! May use: the model's records, the crate's errors, BSON and serde. No
//! database access: these are pure conversions.

use chrono::{DateTime, SecondsFormat, Utc};
use mongodb::bson::{self, Bson, Document};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::Run;

pub(super) const RUNS: &str = "runs";
pub(super) const DEFINITIONS: &str = "definitions";
pub(super) const SERVICES: &str = "services";
/// Last claimed due time per schedule (`definition/schedule`).
pub(super) const TICKS: &str = "schedule_ticks";
pub(super) const TOPICS: &str = "topics";
pub(super) const LOGS: &str = "logs";
pub(super) const COUNTERS: &str = "counters";

/// The run field holding the tokens of the last transitions written.
pub(super) const OPS_FIELD: &str = "_ops";

/// `created_at` as stored for ordering: RFC 3339, fixed microseconds, `Z`.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A record as a BSON document of its serde (JSON) shape.
pub(super) fn to_doc<T: Serialize>(what: &str, id: &str, v: &T) -> Result<Document> {
    let json = serde_json::to_value(v)
        .map_err(|e| Error::Store(format!("cannot serialise {what} '{id}': {e}")))?;
    match bson::to_bson(&json) {
        Ok(Bson::Document(d)) => Ok(d),
        Ok(_) => Err(Error::Store(format!(
            "cannot serialise {what} '{id}': not a document"
        ))),
        Err(e) => Err(Error::Store(format!("cannot serialise {what} '{id}': {e}"))),
    }
}

/// A stored document back as a record; `extra` names the store's own fields.
pub(super) fn from_doc<T: DeserializeOwned>(
    collection: &str,
    mut doc: Document,
    extra: &[&str],
) -> Result<T> {
    let id = match doc.remove("_id") {
        Some(Bson::String(s)) => s,
        Some(other) => other.to_string(),
        None => "<no _id>".to_string(),
    };
    for field in extra {
        doc.remove(field);
    }
    let json = Bson::Document(doc).into_relaxed_extjson();
    serde_json::from_value(json)
        .map_err(|e| Error::corrupt(collection, id, format!("does not parse: {e}")))
}

/// A run as its document: its serde shape, `_id`, `created_key`, and
/// `wake_ms` while a timer is to look at it again.
pub(super) fn run_doc(run: &Run) -> Result<Document> {
    let id = run.id.to_string();
    let mut d = to_doc("run", &id, run)?;
    d.insert("_id", id);
    d.insert("created_key", ts(run.created_at));
    if let Some(at) = run.wake_at {
        d.insert(WAKE_FIELD, at.timestamp_millis());
    }
    Ok(d)
}

/// [`Run::wake_at`] in ms since the epoch, indexed (sparse): the runs whose
/// timers are due are one index range.
pub(super) const WAKE_FIELD: &str = "wake_ms";

/// A run document as the run and the tokens of the last transitions written
/// to it.
pub(super) fn split_run_doc(mut doc: Document) -> Result<(Run, Vec<Bson>)> {
    let ops = match doc.remove(OPS_FIELD) {
        Some(Bson::Array(ops)) => ops,
        _ => Vec::new(),
    };
    Ok((from_doc(RUNS, doc, &["created_key", WAKE_FIELD])?, ops))
}

/// A run version as stored (BSON has no unsigned integers).
pub(super) fn version_i64(key: &str, version: u64) -> Result<i64> {
    i64::try_from(version).map_err(|_| Error::Store(format!("run {key}: version out of range")))
}
