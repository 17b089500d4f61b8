//! Taking messages off queues: consume streams (one channel per consumer,
//! `basic.qos(prefetch)`, manual acks; a stream ends when its connection is
//! replaced, and dropping it hands unacknowledged messages back), `get`, and
//! reading a queue without taking from it (browse, take one chosen message).
//!
//! May use: [`super::connection`], [`super::headers`], [`super::errors`], the
//! seam's delivery types, the ground layer (`crate::error`) and lapin.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions,
    BasicQosOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::Channel;
use tokio::sync::watch;
use tracing::debug;

use super::super::{Acker, Delivery, DeliveryStream, RawMessage};
use super::connection::{Inner, Live};
use super::errors::{LapinFailure, REPLY_SUCCESS};
use super::headers::raw_message;
use super::queue_counts::{given_back, ready_now, unconsumed};
use crate::error::{Error, Result};

impl Inner {
    /// Starts consuming `queue` on a channel of its own.
    pub(super) async fn consume(
        &self,
        queue: &str,
        prefetch: u16,
    ) -> Result<Box<dyn DeliveryStream>> {
        let q = self.name(queue)?;
        let live = self.live(self.timeout()).await?;
        let what = format!("consuming queue '{q}'");
        let channel = tokio::time::timeout(self.timeout(), live.conn.create_channel())
            .await
            .map_err(|_| Error::Transport(format!("{what}: opening a channel timed out")))?
            .map_err(|e| self.err(&what, e))?;
        let setup = async {
            channel
                .basic_qos(prefetch.max(1), BasicQosOptions::default())
                .await?;
            channel
                .basic_consume(
                    q.clone(),
                    ShortString::from(format!(
                        "isoqube-{}",
                        &uuid::Uuid::new_v4().simple().to_string()[..12]
                    )),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
        };
        let consumer = match tokio::time::timeout(self.timeout(), setup).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(LapinFailure(e).into_error(&self.secrets, &what)),
            Err(_) => {
                return Err(Error::Transport(format!(
                    "{what}: no answer from the broker within {:?}",
                    self.timeout()
                )))
            }
        };
        debug!(queue = %q, prefetch, "consuming");
        Ok(Box::new(AmqpStream {
            channel,
            consumer,
            queue: q.to_string(),
            live,
            state: self.state.subscribe(),
            cancelled: false,
        }))
    }

    /// Takes one message off `queue` (acknowledged), if there is one.
    pub(super) async fn get(&self, queue: &str) -> Result<Option<RawMessage>> {
        let q = self.name(queue)?;
        let live = self.live(self.timeout()).await?;
        let what = format!("getting from queue '{q}'");
        let got = self
            .admin(&live, &what, |c| async move {
                let Some(m) = c.basic_get(q, BasicGetOptions { no_ack: false }).await? else {
                    return Ok(None);
                };
                let raw = raw_message(
                    &m.delivery.properties,
                    m.delivery.data,
                    m.delivery.redelivered,
                );
                m.delivery.acker.ack(BasicAckOptions::default()).await?;
                Ok(Some(raw))
            })
            .await?;
        Ok(got)
    }

    /// Reads up to `max` messages of `queue` without acknowledging them, on a
    /// channel of its own; acknowledges (removes) only the one whose message id is
    /// `take`. Closing the channel gives every other message back to the queue in
    /// its place, so nothing is lost when this fails half-way.
    pub(super) async fn scan(
        &self,
        queue: &str,
        max: usize,
        take: Option<&str>,
    ) -> Result<(Vec<RawMessage>, Option<RawMessage>)> {
        let q = self.name(queue)?;
        let live = self.live(self.timeout()).await?;
        let what = format!("reading queue '{q}'");
        let channel = tokio::time::timeout(self.timeout(), live.conn.create_channel())
            .await
            .map_err(|_| Error::Transport(format!("{what}: opening a channel timed out")))?
            .map_err(|e| self.err(format!("{what}: cannot open a channel"), e))?;
        // Only a queue nothing consumes tells, by its count, when what this
        // look held is back.
        let unconsumed = unconsumed(self, &channel, &q, &what).await?;
        let work = async {
            let mut seen = Vec::new();
            let mut taken = None;
            while seen.len() < max {
                let Some(m) = channel
                    .basic_get(q.clone(), BasicGetOptions { no_ack: false })
                    .await?
                else {
                    break;
                };
                let raw = raw_message(
                    &m.delivery.properties,
                    m.delivery.data.clone(),
                    m.delivery.redelivered,
                );
                if take.is_some() && raw.message_id.as_deref() == take {
                    m.delivery.acker.ack(BasicAckOptions::default()).await?;
                    taken = Some(raw);
                    break;
                }
                seen.push(raw);
            }
            lapin::Result::Ok((seen, taken))
        };
        let out = tokio::time::timeout(self.timeout(), work).await;
        let held = match &out {
            Ok(Ok((seen, _))) => u32::try_from(seen.len()).unwrap_or(u32::MAX),
            _ => 0,
        };
        let ready = if held > 0 && unconsumed {
            ready_now(&channel, &q, self.timeout())
                .await
                .map(|(n, _)| n)
        } else {
            None
        };
        // Unacknowledged messages return to the queue when the channel closes
        // (a quorum queue's a moment later: wait until it counts them).
        let _ =
            tokio::time::timeout(self.timeout(), channel.close(REPLY_SUCCESS, "done".into())).await;
        if let Some(ready) = ready {
            given_back(&live, &q, ready.saturating_add(held), self.timeout()).await;
        }
        match out {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(LapinFailure(e).into_error(&self.secrets, &what)),
            Err(_) => Err(Error::Transport(format!(
                "{what}: no answer from the broker within {:?}",
                self.timeout()
            ))),
        }
    }
}

/// A consumer on a channel of its own, tied to the connection it started on.
struct AmqpStream {
    channel: Channel,
    consumer: lapin::Consumer,
    queue: String,
    live: Arc<Live>,
    state: watch::Receiver<Option<Arc<Live>>>,
    cancelled: bool,
}

impl AmqpStream {
    /// Resolves once this stream's connection is no longer the live one.
    async fn connection_gone(state: &mut watch::Receiver<Option<Arc<Live>>>, generation: u64) {
        loop {
            let current = state
                .borrow_and_update()
                .as_ref()
                .map(|l| (l.generation, l.alive()));
            match current {
                Some((g, true)) if g == generation => {}
                _ => return,
            }
            if state.changed().await.is_err() {
                return;
            }
        }
    }
}

#[async_trait]
impl DeliveryStream for AmqpStream {
    async fn next(&mut self) -> Option<Result<Delivery>> {
        if self.cancelled {
            return None;
        }
        let generation = self.live.generation;
        let next = tokio::select! {
            next = self.consumer.next() => next,
            _ = Self::connection_gone(&mut self.state, generation) => {
                debug!(queue = %self.queue, "connection replaced; ending the stream");
                return None;
            }
        };
        match next {
            Some(Ok(d)) => {
                let message = raw_message(&d.properties, d.data, d.redelivered);
                Some(Ok(Delivery {
                    message,
                    acker: Box::new(AmqpAcker {
                        acker: d.acker,
                        queue: self.queue.clone(),
                        acked: None,
                    }),
                }))
            }
            Some(Err(e)) => Some(Err(Error::Transport(format!(
                "consumer of '{}' stopped: {}",
                self.queue,
                LapinFailure(e).into_error_text()
            )))),
            None => None,
        }
    }

    async fn cancel(&mut self) {
        if self.cancelled {
            return;
        }
        self.cancelled = true;
        if self.channel.status().connected() {
            let tag = self.consumer.tag();
            let cancelled = tokio::time::timeout(
                Duration::from_secs(5),
                self.channel
                    .basic_cancel(tag, BasicCancelOptions::default()),
            )
            .await;
            if !matches!(cancelled, Ok(Ok(()))) {
                debug!(queue = %self.queue, "basic.cancel did not complete; the channel closes with the stream");
            }
        }
    }
}

impl Drop for AmqpStream {
    /// Closing the channel hands unacknowledged deliveries back to the broker.
    fn drop(&mut self) {
        if self.channel.status().connected() {
            let channel = self.channel.clone();
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    let _ = channel
                        .close(REPLY_SUCCESS, ShortString::from("consumer closed"))
                        .await;
                });
            }
        }
    }
}

/// Settles one delivery of an [`AmqpStream`].
pub(super) struct AmqpAcker {
    pub(super) acker: lapin::Acker,
    pub(super) queue: String,
    /// Counts the successful acks, for a pass that must know what it holds.
    pub(super) acked: Option<Arc<std::sync::atomic::AtomicU32>>,
}

impl AmqpAcker {
    fn settled(&self, done: lapin::Result<bool>, what: &str) -> Result<()> {
        match done {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::Transport(format!(
                "cannot {what} a delivery from '{}': already settled or its channel is closed (the broker redelivers it)",
                self.queue
            ))),
            Err(e) => Err(Error::Transport(format!(
                "cannot {what} a delivery from '{}': {}",
                self.queue,
                LapinFailure(e).into_error_text()
            ))),
        }
    }
}

#[async_trait]
impl Acker for AmqpAcker {
    async fn ack(&self) -> Result<()> {
        let done = self.acker.ack(BasicAckOptions::default()).await;
        self.settled(done, "ack")?;
        if let Some(n) = &self.acked {
            n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }

    async fn nack(&self, requeue: bool) -> Result<()> {
        let done = self
            .acker
            .nack(BasicNackOptions {
                requeue,
                ..Default::default()
            })
            .await;
        self.settled(done, "nack")
    }
}
