//! A queue's counts over AMQP, for the looks that hold messages (a browse,
//! a pass): whether anything consumes it, what it holds ready now, and a
//! bounded wait until what a closed channel held is counted again (a quorum
//! queue takes it back a moment after the close).
//!
//! May use: [`super::connection`], [`super::errors`], the ground layer and lapin.

use std::time::{Duration, Instant};

use lapin::options::QueueDeclareOptions;
use lapin::types::{FieldTable, ShortString};
use lapin::Channel;
use tracing::debug;

use super::connection::{Inner, Live};
use super::errors::{LapinFailure, REPLY_SUCCESS};
use crate::error::{Error, Result};

/// `queue`'s (messages ready, consumers) now, `None` when it cannot be told.
/// (A quorum queue counts each message held by a `basic.get` as a consumer.)
pub(super) async fn ready_now(
    channel: &Channel,
    queue: &ShortString,
    wait: Duration,
) -> Option<(u32, u32)> {
    match tokio::time::timeout(wait, stats_on(channel, queue)).await {
        Ok(Ok(stats)) => Some(stats),
        _ => None,
    }
}

/// A passive declaration of `queue` on `channel`: (messages ready, consumers).
/// A missing queue closes the channel (404).
pub(super) async fn stats_on(channel: &Channel, queue: &ShortString) -> lapin::Result<(u32, u32)> {
    let q = channel
        .queue_declare(
            queue.clone(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok((q.message_count(), q.consumer_count()))
}

/// Whether nothing consumes `queue` (what tells, by its count, when what a
/// look held is back); a missing queue is the error naming it.
pub(super) async fn unconsumed(
    inner: &Inner,
    channel: &Channel,
    queue: &ShortString,
    what: &str,
) -> Result<bool> {
    match tokio::time::timeout(inner.timeout(), stats_on(channel, queue)).await {
        Ok(Ok((_, consumers))) => Ok(consumers == 0),
        Ok(Err(e)) => Err(LapinFailure(e).into_error(&inner.secrets, what)),
        Err(_) => Err(Error::Transport(format!(
            "{what}: no answer from the broker within {:?}",
            inner.timeout()
        ))),
    }
}

/// Waits, up to `wait`, until `queue` counts at least `want` messages
/// ready again: a quorum queue takes back what a closed channel held after
/// the close is answered. Gives up quietly (nothing is lost meanwhile: the
/// messages are on their way back).
pub(super) async fn given_back(live: &Live, queue: &ShortString, want: u32, wait: Duration) {
    let deadline = Instant::now() + wait;
    let Ok(Ok(channel)) = tokio::time::timeout(wait, live.conn.create_channel()).await else {
        return;
    };
    let mut last = None;
    while Instant::now() < deadline {
        last = ready_now(&channel, queue, wait).await;
        match last {
            Some((n, _)) if n >= want => break,
            None => break,
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    if last.is_some_and(|(n, _)| n < want) {
        debug!(queue = %queue, "the held messages are not all back yet");
    }
    let _ = tokio::time::timeout(
        wait,
        channel.close(REPLY_SUCCESS, ShortString::from("done")),
    )
    .await;
}
