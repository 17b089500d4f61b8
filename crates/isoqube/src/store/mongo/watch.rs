//! Waiting for a run to change: a change stream on the run's document where
//! the server has them (a replica set), polling where it has not (a standalone
//! `mongod`); which one is learnt on first use and remembered.
//!
//! May use: the errors of this store, the seam (`get_run`), the driver.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::stream::StreamExt;
use mongodb::bson::doc;
use uuid::Uuid;

use super::errors::command_code;
use super::MongoStore;
use crate::error::{Error, Result};
use crate::model::Run;
use crate::store::RunStore;

/// Whether the server has change streams (`MongoStore::change_streams`): not
/// known yet, yes, no.
pub(super) const CHANGE_STREAMS_UNKNOWN: u8 = 0;
pub(super) const CHANGE_STREAMS_YES: u8 = 1;
pub(super) const CHANGE_STREAMS_NO: u8 = 2;

/// Watches the run's document with a change stream (one per call, filtered by
/// `_id`); falls back to polling when the server has no change streams (a
/// standalone `mongod`).
pub(super) async fn wait_for_change(
    store: &MongoStore,
    id: Uuid,
    seen_version: u64,
    timeout: Duration,
) -> Result<Option<Run>> {
    let deadline = tokio::time::Instant::now() + timeout;
    if store.change_streams.load(Ordering::Relaxed) == CHANGE_STREAMS_NO {
        return store.poll_for_change(id, seen_version, deadline).await;
    }
    let key = id.to_string();
    let opened = store
        .runs
        .watch()
        .pipeline([doc! {"$match": {"documentKey._id": &key}}])
        .await;
    let mut stream = match opened {
        Ok(s) => {
            store
                .change_streams
                .store(CHANGE_STREAMS_YES, Ordering::Relaxed);
            s
        }
        Err(e) if command_code(&e).is_some() => {
            tracing::debug!(
                error = %store.secrets.scrub(&e),
                "mongodb change streams unavailable; polling for run changes"
            );
            store
                .change_streams
                .store(CHANGE_STREAMS_NO, Ordering::Relaxed);
            return store.poll_for_change(id, seen_version, deadline).await;
        }
        Err(e) => return Err(store.err("watch run", e)),
    };
    // Read after the stream is open, so a change in between is not missed.
    loop {
        match store.get_run(id).await? {
            Some(run) if run.version > seen_version => return Ok(Some(run)),
            Some(_) => {}
            None => return Err(Error::not_found("run", key)),
        }
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return Ok(None),
            Ok(Some(Ok(_event))) => {}
            Ok(Some(Err(e))) => return Err(store.err("watch run", e)),
            Ok(None) => return store.poll_for_change(id, seen_version, deadline).await,
        }
    }
}

impl MongoStore {
    /// Polls like the trait's default (used where change streams are not supported).
    async fn poll_for_change(
        &self,
        id: Uuid,
        seen_version: u64,
        deadline: tokio::time::Instant,
    ) -> Result<Option<Run>> {
        loop {
            match self.get_run(id).await? {
                Some(run) if run.version > seen_version => return Ok(Some(run)),
                Some(_) => {}
                None => return Err(Error::not_found("run", id.to_string())),
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
