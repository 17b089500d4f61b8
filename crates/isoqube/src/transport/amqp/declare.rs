//! The topology on the broker: declaring exchanges, queues and bindings
//! (prefixed names, quorum queues when configured), remembering them so the
//! supervisor declares them again after a reconnect, counting a queue's
//! messages, and deleting what was declared.
//!
//! May use: [`super::connection`] (the admin channel), the seam's
//! [`Topology`] and [`Binding`], the ground layer (`crate::error`) and lapin.

use lapin::options::{
    ExchangeBindOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::ExchangeKind;

use super::super::{Binding, QueueStats, Topology};
use super::connection::{Inner, Live};
use crate::error::{Error, Result};

impl Inner {
    /// Declares `topology` on the live connection and remembers it.
    pub(super) async fn declare(&self, topology: &Topology) -> Result<()> {
        let live = self.live(self.timeout()).await?;
        self.declare_on(&live, topology).await?;
        let mut known = self.topology();
        for ex in &topology.exchanges {
            if !known.exchanges.contains(ex) {
                known.exchanges.push(ex.clone());
            }
        }
        for q in &topology.queues {
            if !known.queues.contains(q) {
                known.queues.push(q.clone());
            }
        }
        for b in &topology.bindings {
            if !known.bindings.contains(b) {
                known.bindings.push(b.clone());
            }
        }
        for (q, max) in &topology.priority_queues {
            known.priority_queues.insert(q.clone(), *max);
        }
        Ok(())
    }

    /// Declares `topology` on `live` (also after a reconnect).
    pub(super) async fn declare_on(&self, live: &Live, topology: &Topology) -> Result<()> {
        for ex in &topology.exchanges {
            self.declare_exchange(live, ex).await?;
        }
        for q in &topology.queues {
            let max_priority = topology.priority_queues.get(q).copied();
            self.declare_queue(live, q, max_priority).await?;
        }
        for b in &topology.bindings {
            self.declare_binding(live, b).await?;
        }
        Ok(())
    }

    /// A durable fanout exchange; one declared otherwise is a conflict that
    /// says so.
    async fn declare_exchange(&self, live: &Live, ex: &str) -> Result<()> {
        let name = self.name(ex)?;
        let full = name.to_string();
        self.admin(
            live,
            &format!("declaring exchange '{full}'"),
            |c| async move {
                c.exchange_declare(
                    name,
                    ExchangeKind::Fanout,
                    ExchangeDeclareOptions {
                        durable: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
            },
        )
        .await
        .map_err(|e| self.conflict(e, "exchange", &full, "is not a durable fanout exchange"))?;
        live.known_exchanges().insert(full);
        Ok(())
    }

    /// A durable queue (quorum, or classic with its priorities); one declared
    /// with other arguments is a conflict naming the ones wanted.
    async fn declare_queue(&self, live: &Live, q: &str, max_priority: Option<u8>) -> Result<()> {
        let name = self.name(q)?;
        let full = name.to_string();
        if max_priority.is_some() && self.config.quorum {
            return Err(Error::Config(format!(
                "queue '{full}': quorum queues take no x-max-priority; turn off priorities or quorum queues"
            )));
        }
        let args = self.queue_args(max_priority);
        self.admin(live, &format!("declaring queue '{full}'"), |c| async move {
            c.queue_declare(
                name,
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                args,
            )
            .await
        })
        .await
        .map_err(|e| {
            let wanted = match (self.config.quorum, max_priority) {
                (true, _) => "a durable quorum queue (x-queue-type=quorum)".to_string(),
                (false, Some(max)) => {
                    format!("a durable classic priority queue (x-max-priority={max})")
                }
                (false, None) => "a durable classic queue with no extra arguments".to_string(),
            };
            self.conflict(
                e,
                "queue",
                &full,
                &format!("its arguments conflict with the ones declared here ({wanted})"),
            )
        })?;
        Ok(())
    }

    /// An exchange bound to an exchange or to a queue.
    async fn declare_binding(&self, live: &Live, b: &Binding) -> Result<()> {
        match b {
            Binding::Exchange {
                source,
                destination,
            } => {
                let (s, d) = (self.name(source)?, self.name(destination)?);
                let what = format!("binding exchange '{s}' to exchange '{d}'");
                self.admin(live, &what, |c| async move {
                    c.exchange_bind(
                        d,
                        s,
                        ShortString::default(),
                        ExchangeBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await
                })
                .await?;
            }
            Binding::Queue { source, queue } => {
                let (s, q) = (self.name(source)?, self.name(queue)?);
                let what = format!("binding exchange '{s}' to queue '{q}'");
                self.admin(live, &what, |c| async move {
                    c.queue_bind(
                        q,
                        s,
                        ShortString::default(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await
                })
                .await?;
            }
        }
        Ok(())
    }

    /// Declares the temporary endpoint `name` (exchange + queue, bound), not
    /// durable and auto-delete, as MassTransit declares a `?temporary=true`
    /// endpoint. Not remembered: it is gone after a reconnect, like
    /// MassTransit's (a request in flight then times out).
    pub(super) async fn declare_temporary(&self, name: &str) -> Result<()> {
        let live = self.live(self.timeout()).await?;
        let n = self.name(name)?;
        let full = n.to_string();
        let temporary = |c: lapin::Channel, n: ShortString| async move {
            c.exchange_declare(
                n.clone(),
                ExchangeKind::Fanout,
                ExchangeDeclareOptions {
                    durable: false,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
            c.queue_declare(
                n.clone(),
                QueueDeclareOptions {
                    durable: false,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
            c.queue_bind(
                n.clone(),
                n,
                ShortString::default(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
        };
        self.admin(
            &live,
            &format!("declaring temporary endpoint '{full}'"),
            move |c| temporary(c, n),
        )
        .await?;
        live.known_exchanges().insert(full);
        Ok(())
    }

    fn queue_args(&self, max_priority: Option<u8>) -> FieldTable {
        let mut args = FieldTable::default();
        if let Some(max) = max_priority {
            // A 32-bit int, the type MassTransit's `EnablePriority` writes.
            args.insert(
                ShortString::from("x-max-priority"),
                AMQPValue::LongInt(i32::from(max)),
            );
        }
        if self.config.quorum {
            args.insert(
                ShortString::from("x-queue-type"),
                AMQPValue::LongString(LongString::from("quorum")),
            );
        }
        args
    }

    /// Rewrites a 406 on a declaration into a message naming the thing.
    fn conflict(&self, e: Error, kind: &str, name: &str, detail: &str) -> Error {
        match e {
            Error::Transport(msg) if msg.contains("PRECONDITION_FAILED") => {
                Error::Transport(format!(
                    "{kind} '{name}' already exists with different arguments: {detail} ({msg})"
                ))
            }
            other => other,
        }
    }

    /// Messages ready in `queue` (a passive declaration).
    pub(super) async fn message_count(&self, queue: &str) -> Result<u32> {
        Ok(self.queue_stats(queue).await?.messages)
    }

    /// Messages ready in `queue` and its consumers (a passive declaration).
    pub(super) async fn queue_stats(&self, queue: &str) -> Result<QueueStats> {
        let q = self.name(queue)?;
        let live = self.live(self.timeout()).await?;
        let what = format!("counting messages in queue '{q}'");
        let declared = self
            .admin(&live, &what, |c| async move {
                c.queue_declare(
                    q,
                    QueueDeclareOptions {
                        passive: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
            })
            .await?;
        Ok(QueueStats {
            messages: declared.message_count(),
            unacked: None,
            consumers: Some(declared.consumer_count()),
        })
    }

    /// Deletes `queue` if unused (and, with `if_empty`, if empty): the
    /// broker checks both atomically.
    pub(super) async fn delete_queue(&self, queue: &str, if_empty: bool) -> Result<u32> {
        let q = self.name(queue)?;
        let live = self.live(self.timeout()).await?;
        let what = format!("deleting queue '{q}'");
        self.admin(&live, &what, |c| async move {
            c.queue_delete(
                q,
                lapin::options::QueueDeleteOptions {
                    if_unused: true,
                    if_empty,
                    nowait: false,
                },
            )
            .await
        })
        .await
    }

    /// Deletes the declared queues and exchanges (prefixed names); errors on
    /// individual items are ignored.
    pub(super) async fn delete_declared(&self) -> Result<()> {
        let topology = self.topology().clone();
        let live = self.live(self.timeout()).await?;
        for q in &topology.queues {
            let name = self.name(q)?;
            let _ = self
                .admin(&live, "deleting a queue", |c| async move {
                    c.queue_delete(name, Default::default()).await
                })
                .await;
        }
        for ex in &topology.exchanges {
            let name = self.name(ex)?;
            let _ = self
                .admin(&live, "deleting an exchange", |c| async move {
                    c.exchange_delete(name, Default::default()).await
                })
                .await;
        }
        Ok(())
    }
}
