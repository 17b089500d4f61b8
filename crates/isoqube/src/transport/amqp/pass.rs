//! One pass over a queue ([`QueuePass`]) on a channel of its own:
//! `basic.get` without auto-ack until it has handed out as many messages as
//! the queue held at its first get, each held unacknowledged until the caller
//! acks it; closing the channel gives the others back to the broker (so does
//! a dropped connection: nothing not acked is lost). A classic queue has them
//! back, in their places, when the close is answered; a quorum queue takes
//! them back a moment later (and not in order), so the close waits, for a
//! bounded time, until the queue counts them again: the next look at the
//! queue (a count, another pass) sees them.
//!
//! May use: [`super::connection`], [`super::consume`]'s acker,
//! [`super::queue_counts`],
//! [`super::headers`], [`super::errors`], the seam's delivery types, the
//! ground layer (`crate::error`, `crate::redact`) and lapin.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lapin::options::BasicGetOptions;
use lapin::types::ShortString;
use lapin::Channel;

use super::super::{Delivery, QueuePass};
use super::connection::{Inner, Live};
use super::consume::AmqpAcker;
use super::errors::{LapinFailure, REPLY_SUCCESS};
use super::headers::raw_message;
use super::queue_counts::{given_back, ready_now, unconsumed};
use crate::error::{Error, Result};
use crate::redact::Secrets;

/// A pass over one queue.
pub(super) struct AmqpPass {
    channel: Channel,
    /// The connection, to look at the queue again after the close.
    live: Arc<Live>,
    /// Whether nothing consumed the queue when the pass began: only then
    /// does its count tell when the held messages are back.
    unconsumed: bool,
    /// Messages handed out by this pass.
    handed_out: u32,
    /// Of them, those acked (its ackers count them).
    acked: Arc<AtomicU32>,
    /// The queue's name on the broker.
    queue: ShortString,
    /// Messages still to hand out; `None` before the first get tells it.
    left: Option<u32>,
    secrets: Secrets,
    timeout: Duration,
    closed: bool,
}

impl Inner {
    /// Opens a pass over `queue` on a channel of its own.
    pub(super) async fn pass(&self, queue: &str) -> Result<Box<dyn QueuePass>> {
        let q = self.name(queue)?;
        let live = self.live(self.timeout()).await?;
        let what = format!("reading queue '{q}'");
        let channel = tokio::time::timeout(self.timeout(), live.conn.create_channel())
            .await
            .map_err(|_| Error::Transport(format!("{what}: opening a channel timed out")))?
            .map_err(|e| self.err(format!("{what}: cannot open a channel"), e))?;
        let unconsumed = unconsumed(self, &channel, &q, &what).await?;
        Ok(Box::new(AmqpPass {
            channel,
            live,
            unconsumed,
            handed_out: 0,
            acked: Arc::new(AtomicU32::new(0)),
            queue: q,
            left: None,
            secrets: self.secrets.clone(),
            timeout: self.timeout(),
            closed: false,
        }))
    }
}

impl AmqpPass {
    fn what(&self) -> String {
        format!("reading queue '{}'", self.queue)
    }
}

#[async_trait]
impl QueuePass for AmqpPass {
    async fn next(&mut self) -> Option<Result<Delivery>> {
        if self.closed || self.left == Some(0) {
            return None;
        }
        let get = self
            .channel
            .basic_get(self.queue.clone(), BasicGetOptions { no_ack: false });
        let got = match tokio::time::timeout(self.timeout, get).await {
            Ok(Ok(got)) => got?,
            Ok(Err(e)) => {
                return Some(Err(LapinFailure(e).into_error(&self.secrets, &self.what())))
            }
            Err(_) => {
                return Some(Err(Error::Transport(format!(
                    "{}: no answer from the broker within {:?}",
                    self.what(),
                    self.timeout
                ))))
            }
        };
        // The first get tells how many were behind it: those, and no more
        // (what arrives during the pass is left for the next one).
        let left = self.left.unwrap_or(got.message_count.saturating_add(1));
        self.left = Some(left.saturating_sub(1));
        self.handed_out = self.handed_out.saturating_add(1);
        let d = got.delivery;
        Some(Ok(Delivery {
            message: raw_message(&d.properties, d.data, d.redelivered),
            acker: Box::new(AmqpAcker {
                acker: d.acker,
                queue: self.queue.to_string(),
                acked: Some(self.acked.clone()),
            }),
        }))
    }

    async fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        // What the queue must count again once the held ones are back: what
        // it has ready now plus what this pass holds.
        let held = self
            .handed_out
            .saturating_sub(self.acked.load(Ordering::SeqCst));
        let ready = if held > 0 && self.unconsumed {
            ready_now(&self.channel, &self.queue, self.timeout)
                .await
                .map(|(n, _)| n)
        } else {
            None
        };
        // The broker answers the close after the acks sent before it.
        let closing = self
            .channel
            .close(REPLY_SUCCESS, ShortString::from("pass done"));
        match tokio::time::timeout(self.timeout, closing).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(LapinFailure(e).into_error(&self.secrets, &self.what())),
            Err(_) => {
                return Err(Error::Transport(format!(
                    "{}: closing the channel got no answer within {:?}",
                    self.what(),
                    self.timeout
                )))
            }
        }
        if let Some(ready) = ready {
            given_back(
                &self.live,
                &self.queue,
                ready.saturating_add(held),
                self.timeout,
            )
            .await;
        }
        Ok(())
    }
}

impl Drop for AmqpPass {
    /// Closing the channel hands what the pass held back to the broker.
    fn drop(&mut self) {
        if self.closed || !self.channel.status().connected() {
            return;
        }
        let channel = self.channel.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = channel
                    .close(REPLY_SUCCESS, ShortString::from("pass dropped"))
                    .await;
            });
        }
    }
}
