//! The in-process broker's state: exchanges with their destinations, queues
//! (ready messages, unsettled deliveries, consumers' turns) and each
//! consumer's prefetch, behind one lock.
//!
//! May use: the seam's [`RawMessage`], the ground layer (`crate::error`),
//! `std` and tokio's `Notify`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::super::RawMessage;
use crate::error::Error;

/// Where an exchange sends what it gets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Dest {
    Exchange(String),
    Queue(String),
}

/// One queue.
#[derive(Default)]
pub(super) struct Queue {
    pub(super) ready: VecDeque<RawMessage>,
    pub(super) unacked: HashMap<u64, (u64, RawMessage)>,
    pub(super) notify: Arc<Notify>,
    /// Its consumers, in the order they get the next message: like RabbitMQ,
    /// a queue hands its messages to its consumers round-robin, so one that
    /// takes a message goes to the back.
    pub(super) turns: VecDeque<u64>,
    /// Declared as a priority queue of up to this priority (RabbitMQ's
    /// `x-max-priority`): higher priorities are taken first, FIFO within one.
    pub(super) max_priority: Option<u8>,
}

impl Queue {
    /// The priority `msg` is queued at: its own, capped at the queue's
    /// highest (as RabbitMQ does); 0 in a plain queue.
    fn priority_of(&self, msg: &RawMessage) -> u8 {
        match self.max_priority {
            Some(max) => msg.properties.priority.unwrap_or(0).min(max),
            None => 0,
        }
    }

    /// Queues a published message: behind every message of its priority or
    /// higher.
    pub(super) fn enqueue(&mut self, msg: RawMessage) {
        if self.max_priority.is_none() {
            self.ready.push_back(msg);
            return;
        }
        let p = self.priority_of(&msg);
        let at = self.ready.partition_point(|m| self.priority_of(m) >= p);
        self.ready.insert(at, msg);
    }

    /// Puts a message back (a nack with requeue): at the head of its
    /// priority, before the ones of its priority that came later.
    pub(super) fn requeue(&mut self, msg: RawMessage) {
        if self.max_priority.is_none() {
            self.ready.push_front(msg);
            return;
        }
        let p = self.priority_of(&msg);
        let at = self.ready.partition_point(|m| self.priority_of(m) > p);
        self.ready.insert(at, msg);
    }

    /// Puts back every delivery `consumer` has not settled, in the order
    /// they were handed out, marked redelivered (as a closed AMQP channel
    /// does).
    pub(super) fn give_back(&mut self, consumer: u64) {
        let mut mine: Vec<u64> = self
            .unacked
            .iter()
            .filter(|(_, (c, _))| *c == consumer)
            .map(|(tag, _)| *tag)
            .collect();
        mine.sort_unstable();
        for tag in mine.into_iter().rev() {
            if let Some((_, mut msg)) = self.unacked.remove(&tag) {
                msg.redelivered = true;
                self.requeue(msg);
            }
        }
        self.notify.notify_waiters();
    }
}

/// Everything the broker holds; consumers are numbered.
#[derive(Default)]
pub(super) struct State {
    pub(super) exchanges: HashMap<String, Vec<Dest>>,
    pub(super) queues: HashMap<String, Queue>,
    pub(super) in_flight: HashMap<u64, usize>,
    pub(super) prefetch: HashMap<u64, usize>,
    /// Consumers waiting in `next` for a message.
    pub(super) waiting: HashSet<u64>,
    pub(super) next_tag: u64,
    pub(super) next_consumer: u64,
}

impl State {
    /// Whether `consumer` has room under its prefetch for another message.
    pub(super) fn has_room(&self, consumer: u64) -> bool {
        self.in_flight.get(&consumer).copied().unwrap_or(0)
            < self.prefetch.get(&consumer).copied().unwrap_or(0)
    }

    /// Whether `consumer` could take a message now: it has room and is
    /// waiting for one.
    pub(super) fn ready_to_take(&self, consumer: u64) -> bool {
        self.waiting.contains(&consumer) && self.has_room(consumer)
    }
}

/// The state behind its lock, shared by the transport's clones, streams and ackers.
#[derive(Default)]
pub(super) struct Broker {
    state: Mutex<State>,
}

impl Broker {
    /// The state, locked.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The error for a queue nobody declared.
pub(super) fn missing_queue(queue: &str) -> Error {
    Error::Transport(format!("queue '{queue}' does not exist"))
}
