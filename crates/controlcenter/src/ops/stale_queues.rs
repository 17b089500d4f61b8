//! Stale endpoint queues: the queues (`<endpoint>`, `_error`, `_skipped`) of
//! endpoints the records know but no live service instance hosts any more
//! (a service no longer deployed leaves them on the broker), and deleting
//! one. Deleting is refused for a queue of an endpoint a live service hosts,
//! a queue with consumers (the broker checks that itself, atomically), and a
//! queue holding messages unless forced (they would go with it).
//!
//! It may use the transport seam and the store through the [`Operator`].

use isoqube::transport::{ERROR_SUFFIX, SKIPPED_SUFFIX};
use isoqube::Error;

use super::{EndpointQueues, Operator};

/// A queue deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedQueue {
    /// Its name (without the broker prefix).
    pub queue: String,
    /// Its name on the broker.
    pub broker_queue: String,
    /// Messages that went with it.
    pub messages: u32,
}

impl Operator {
    /// The endpoints some live service instance hosts.
    async fn live_endpoints(&self) -> isoqube::Result<Vec<(String, String)>> {
        Ok(self
            .services()
            .await?
            .into_iter()
            .filter(|s| s.alive)
            .flat_map(|s| {
                let id = s.record.id.clone();
                s.record.consumers.into_iter().map(move |c| (c, id.clone()))
            })
            .collect())
    }

    /// The queues of every endpoint no live service hosts, that the broker
    /// still has (one look, no rates).
    pub async fn stale_queues(&self) -> isoqube::Result<Vec<EndpointQueues>> {
        let live = self.live_endpoints().await?;
        let report = self.queues(std::time::Duration::ZERO).await?;
        Ok(report
            .endpoints
            .into_iter()
            .filter(|e| !live.iter().any(|(ep, _)| *ep == e.endpoint))
            .filter(|e| e.queue.exists || e.error_queue.exists || e.skipped_queue.exists)
            .collect())
    }

    /// Deletes the queue `name` (as the control center names it, or as the
    /// broker does, with the prefix) of a known endpoint; refused, saying
    /// why, when a live service hosts its endpoint, when it has consumers,
    /// or when it holds messages and `force` is not given.
    pub async fn delete_queue(&self, name: &str, force: bool) -> isoqube::Result<DeletedQueue> {
        let name = name.trim();
        let prefix = self.transport.broker_name("");
        let queue = name.strip_prefix(prefix.as_str()).unwrap_or(name);
        let endpoint = [ERROR_SUFFIX, SKIPPED_SUFFIX]
            .iter()
            .find_map(|s| queue.strip_suffix(s))
            .unwrap_or(queue);
        if !self.endpoints().await?.contains(endpoint) {
            return Err(Error::not_found(
                "endpoint queue",
                format!("{name} (not a queue of an endpoint a service or event names)"),
            ));
        }
        if let Some((_, instance)) = self
            .live_endpoints()
            .await?
            .into_iter()
            .find(|(ep, _)| ep == endpoint)
        {
            return Err(Error::InvalidState(format!(
                "queue {name} belongs to endpoint {endpoint}, which the live service \
                 instance {instance} hosts; stop that service first"
            )));
        }
        let stats = match self.transport.queue_stats(queue).await {
            Err(e) if super::faults::is_missing_queue(&e) => {
                return Err(Error::not_found("queue", name.to_string()))
            }
            other => other?,
        };
        if stats.consumers.is_some_and(|c| c > 0) {
            return Err(Error::InvalidState(format!(
                "queue {name} has {} consumer(s); stop them first",
                stats.consumers.unwrap_or_default()
            )));
        }
        if stats.messages > 0 && !force {
            return Err(Error::InvalidState(format!(
                "queue {name} holds {} message(s) that would go with it; requeue or \
                 discard them first (`errors ...` for an error queue), or pass --force",
                stats.messages
            )));
        }
        let messages = match self.transport.delete_queue(queue, !force).await {
            // The broker's own check, when a consumer or a message came meanwhile.
            Err(Error::Transport(why)) if why.contains("in use") || why.contains("not empty") => {
                return Err(Error::InvalidState(format!(
                    "queue {name} was not deleted: {why}"
                )))
            }
            other => other?,
        };
        Ok(DeletedQueue {
            queue: queue.to_string(),
            broker_queue: self.transport.broker_name(queue),
            messages,
        })
    }
}
