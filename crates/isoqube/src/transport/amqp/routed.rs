//! Mandatory publishes (run steps) sharing one channel, each told its own fate.
//!
//! RabbitMQ answers an unroutable `mandatory` message with a `basic.return`
//! (which carries the message's properties, so its message id) before it
//! confirms that publish. lapin hands each return to whichever confirmation it
//! resolves next on the channel, and the broker may confirm several publishes
//! with one `basic.ack`, so with many publishes in flight a return can land on
//! another publish's confirmation. Here the pairing is done by message id:
//!
//! * One task per channel (the pump) starts every publish on it, so every
//!   confirmation the channel can resolve is one the pump is watching.
//! * When confirmations resolve, the pump takes all that have resolved by then
//!   and answers each publish: routed, unroutable (its return was seen, on
//!   whichever confirmation), nacked or failed.
//! * A confirmation that found no return waiting, or its own, is answered at
//!   once: lapin takes returns in arrival order and a publish's return arrives
//!   before its confirmation, so if any return of that publish exists it was
//!   handed to a confirmation resolved no later than its own, which the pump
//!   has seen. A confirmation holding another publish's return means returns
//!   queued up (several unroutable publishes at once): the pump then starts no
//!   new publish until every confirmation in flight has resolved (by then every
//!   return has been handed out) and answers them all.
//!
//! A channel error (a publish to an exchange deleted since it was checked)
//! closes the channel for every publish in flight on it; those are answered
//! `Failed`, and the transport tries them once more on a new channel (see
//! `Inner::publish_with` in `publish`).
//!
//! Before this, each mandatory publish had a channel to itself until its
//! confirmation came back (64 channels for 64 runs in flight): the broker
//! confirmed each alone, and lapin's I/O loop visited every channel per turn.
//! One shared channel cost the chain benchmark's broker ~25 % less CPU per step
//! (docs/BENCHMARKS.md).
//!
//! May use: lapin, tokio and `futures_util` only (no other module of the
//! transport).

use std::collections::HashSet;

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use lapin::options::BasicPublishOptions;
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Confirmation};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

/// What became of one publish.
#[derive(Debug)]
pub(super) enum Fate {
    /// Confirmed and routed to at least one queue.
    Routed,
    /// Confirmed, but it reached no queue (the broker returned it).
    Unroutable,
    /// The broker refused it.
    Nacked,
    /// The channel failed before a confirmation came.
    Failed(lapin::Error),
}

impl Fate {
    /// The fate a confirmation of a publish that did not ask for `mandatory`
    /// (or that is alone on its channel) tells.
    pub(super) fn of(confirmation: Confirmation) -> Self {
        match confirmation {
            Confirmation::Ack(None) => Fate::Routed,
            Confirmation::Ack(Some(_)) | Confirmation::Nack(Some(_)) => Fate::Unroutable,
            Confirmation::Nack(None) | Confirmation::NotRequested => Fate::Nacked,
        }
    }
}

/// One publish for the pump.
struct Publish {
    exchange: ShortString,
    body: Vec<u8>,
    properties: BasicProperties,
    reply: oneshot::Sender<Fate>,
}

/// A confirmed (or failed) publish, not yet answered.
struct Resolved {
    message_id: Option<ShortString>,
    reply: oneshot::Sender<Fate>,
    outcome: lapin::Result<Confirmation>,
}

/// A channel (publisher confirms on) for mandatory publishes, and its pump.
pub(super) struct RoutedChannel {
    channel: Channel,
    publishes: mpsc::UnboundedSender<Publish>,
}

impl RoutedChannel {
    /// Takes over `channel` (confirms already selected); spawns its pump, which
    /// ends once this is dropped and the publishes in flight are answered.
    pub(super) fn new(channel: Channel) -> Self {
        let (publishes, requests) = mpsc::unbounded_channel();
        tokio::spawn(pump(channel.clone(), requests));
        RoutedChannel { channel, publishes }
    }

    /// Whether publishes can still go through it.
    pub(super) fn usable(&self) -> bool {
        self.channel.status().connected() && !self.publishes.is_closed()
    }

    /// Publishes `body` to `exchange` with `mandatory` set; the fate arrives on
    /// the receiver (which ends without one if the pump is gone).
    pub(super) fn publish(
        &self,
        exchange: ShortString,
        body: Vec<u8>,
        properties: BasicProperties,
    ) -> oneshot::Receiver<Fate> {
        let (reply, fate) = oneshot::channel();
        // A send fails only when the pump ended; the receiver then ends too.
        let _ = self.publishes.send(Publish {
            exchange,
            body,
            properties,
            reply,
        });
        fate
    }
}

/// Starts each publish (which registers its confirmation with lapin on the
/// first poll, inside this task) and answers them as they resolve.
async fn pump(channel: Channel, mut requests: mpsc::UnboundedReceiver<Publish>) {
    let mut in_flight = FuturesUnordered::new();
    let mut pairing = Pairing::default();
    let mut open = true;
    loop {
        tokio::select! {
            request = requests.recv(), if open && !pairing.draining => match request {
                Some(p) => in_flight.push(start(channel.clone(), p)),
                None => open = false,
            },
            Some(first) = in_flight.next(), if !in_flight.is_empty() => {
                // Everything resolved by now: any return of `first` is among them.
                let mut resolved = vec![first];
                while let Some(Some(more)) = in_flight.next().now_or_never() {
                    resolved.push(more);
                }
                pairing.settle(resolved, in_flight.is_empty());
            },
            else => break,
        }
    }
}

/// One publish, from `basic.publish` to its confirmation.
async fn start(channel: Channel, p: Publish) -> Resolved {
    let message_id = p.properties.message_id().clone();
    let options = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    let outcome = match channel
        .basic_publish(
            p.exchange,
            ShortString::default(),
            options,
            &p.body,
            p.properties,
        )
        .await
    {
        Ok(confirm) => confirm.await,
        Err(e) => Err(e),
    };
    Resolved {
        message_id,
        reply: p.reply,
        outcome,
    }
}

/// Returns seen and publishes resolved but not yet answered.
#[derive(Default)]
struct Pairing {
    /// Message ids of returned messages not yet matched with their publish.
    returned: HashSet<ShortString>,
    held: Vec<Resolved>,
    /// A return landed on another publish's confirmation: answer nothing until
    /// every confirmation in flight has resolved.
    draining: bool,
}

impl Pairing {
    fn settle(&mut self, resolved: Vec<Resolved>, nothing_in_flight: bool) {
        for r in &resolved {
            if let Ok(Confirmation::Ack(Some(m)) | Confirmation::Nack(Some(m))) = &r.outcome {
                let owner = m.delivery.properties.message_id();
                if owner != &r.message_id {
                    self.draining = true;
                }
                if let Some(id) = owner {
                    self.returned.insert(id.clone());
                }
            }
        }
        self.held.extend(resolved);
        if self.draining && !nothing_in_flight {
            return;
        }
        for r in self.held.drain(..) {
            let returned = r
                .message_id
                .as_ref()
                .is_some_and(|id| self.returned.remove(id));
            let fate = match r.outcome {
                Err(e) => Fate::Failed(e),
                Ok(_) if returned => Fate::Unroutable,
                Ok(Confirmation::Ack(_)) => Fate::Routed,
                Ok(_) => Fate::Nacked,
            };
            // The publisher may have stopped waiting (its deadline passed).
            let _ = r.reply.send(fate);
        }
        if self.draining && !self.returned.is_empty() {
            warn!(
                count = self.returned.len(),
                "returned messages matched no publish on their channel"
            );
            self.returned.clear();
        }
        self.draining = false;
    }
}
