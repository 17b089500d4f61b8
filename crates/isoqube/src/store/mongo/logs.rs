//! Step log lines: appended in batches, each line numbered in its run (`seq`,
//! reserved per batch from a per-run counter in `counters`, so paging with
//! `skip` is stable however the lines of a run arrive), kept for the log
//! retention (a TTL index on `ts`, see the connect module).
//!
//! May use: the codec and errors of this store, the model's log records, the
//! driver.

use futures_util::stream::TryStreamExt;
use mongodb::bson::{self, doc, Bson};
use mongodb::options::ReturnDocument;
use uuid::Uuid;

use super::codec::{from_doc, to_doc, LOGS};
use super::MongoStore;
use crate::error::{Error, Result};
use crate::model::LogRecord;

pub(super) async fn append_logs(store: &MongoStore, logs: &[LogRecord]) -> Result<()> {
    if logs.is_empty() {
        return Ok(());
    }
    // Reserve a block of sequence numbers per run, then insert the lines.
    let mut runs: Vec<(Uuid, i64)> = Vec::new();
    for l in logs {
        match runs.iter_mut().find(|(id, _)| *id == l.run_id) {
            Some((_, n)) => *n += 1,
            None => runs.push((l.run_id, 1)),
        }
    }
    let mut next: Vec<(Uuid, i64)> = Vec::with_capacity(runs.len());
    for (run, n) in runs {
        let counter = store
            .counters
            .find_one_and_update(
                doc! {"_id": format!("logs:{run}")},
                doc! {"$inc": {"seq": n}},
            )
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| store.err("reserve log sequence", e))?;
        let end = counter
            .as_ref()
            .and_then(|c| match c.get("seq") {
                Some(Bson::Int64(v)) => Some(*v),
                Some(Bson::Int32(v)) => Some(i64::from(*v)),
                Some(Bson::Double(v)) => Some(*v as i64),
                _ => None,
            })
            .ok_or_else(|| {
                Error::Store(format!("counters document 'logs:{run}' has no sequence"))
            })?;
        next.push((run, end - n + 1));
    }
    let mut docs = Vec::with_capacity(logs.len());
    for l in logs {
        let mut d = to_doc("log line of run", &l.run_id.to_string(), l)?;
        if let Some((_, seq)) = next.iter_mut().find(|(id, _)| *id == l.run_id) {
            d.insert("seq", *seq);
            *seq += 1;
        }
        d.insert(
            "ts",
            bson::DateTime::from_millis(l.timestamp.timestamp_millis()),
        );
        docs.push(d);
    }
    store
        .logs
        .insert_many(docs)
        .await
        .map_err(|e| store.err("append logs", e))?;
    Ok(())
}

pub(super) async fn run_logs(
    store: &MongoStore,
    run_id: Uuid,
    skip: usize,
) -> Result<Vec<LogRecord>> {
    let mut cursor = store
        .logs
        .find(doc! {"run_id": run_id.to_string()})
        .sort(doc! {"seq": 1})
        .skip(u64::try_from(skip).unwrap_or(u64::MAX))
        .await
        .map_err(|e| store.err("read logs", e))?;
    let mut out = Vec::new();
    while let Some(d) = cursor
        .try_next()
        .await
        .map_err(|e| store.err("read logs", e))?
    {
        out.push(from_doc(LOGS, d, &["seq", "ts"])?);
    }
    Ok(out)
}

/// The ids of the runs with a log line whose message contains `text` (any
/// case). One pass over the matching lines (no index helps a substring).
pub(super) async fn runs_with_log_text(store: &MongoStore, text: &str) -> Result<Vec<String>> {
    let mut cursor = store
        .logs
        .find(doc! {"message": {"$regex": regex_literal(text), "$options": "i"}})
        .projection(doc! {"run_id": 1, "_id": 0})
        .await
        .map_err(|e| store.err("search logs", e))?;
    let mut ids = std::collections::BTreeSet::new();
    while let Some(d) = cursor
        .try_next()
        .await
        .map_err(|e| store.err("search logs", e))?
    {
        if let Ok(id) = d.get_str("run_id") {
            ids.insert(id.to_string());
        }
    }
    Ok(ids.into_iter().collect())
}

/// `text` as a regular expression that matches exactly it.
fn regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
