//! The queues view: per known endpoint, its queue, its error queue and its
//! skipped queue (`_skipped`, messages no consumer there understood) with
//! depth (messages ready), unacked (in flight, when the transport can tell:
//! RabbitMQ tells it only through its management plugin, which the control
//! center does not use, so it is unknown on AMQP), consumers and a rate, by
//! the names the broker shows (with the transport's prefix). And the stale
//! ones: the queues of endpoints no live service hosts any more, which an
//! operator may delete ([`Operator::delete_queue`], refused for a queue in
//! use, of a live endpoint, or holding messages unless forced).
//!
//! The rate is measured, not reported: neither transport tells message rates
//! through the seam (RabbitMQ's passive declaration gives depth and consumers
//! only; its management HTTP API, which has rates, is a plugin that may be
//! off and would need an HTTP client), so the view samples every queue twice,
//! `sample` apart, and the rate is the **net change of the depth per second**
//! over that window: positive while a backlog grows, negative while it
//! drains, 0 when messages leave as fast as they come (or none come). It is
//! not the publish rate.
//!
//! It may use the transport seam through the [`Operator`].

use std::time::{Duration, Instant};

use isoqube::transport::{QueueStats, ERROR_SUFFIX, SKIPPED_SUFFIX};
use isoqube::Error;
use serde::Serialize;

use super::faults::is_missing_queue;
use super::Operator;

/// One queue at the end of the sample window.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct QueueView {
    /// The queue's name (without the broker prefix).
    pub queue: String,
    /// The queue's name on the broker (with the transport's prefix).
    pub broker_queue: String,
    /// Whether the broker has it (an error queue is declared with its endpoint).
    pub exists: bool,
    /// Messages ready.
    pub messages: u32,
    /// Messages delivered and not acknowledged yet (in flight); `null` when
    /// the transport cannot tell (AMQP: see the module docs).
    pub unacked: Option<u32>,
    /// Consumers attached; `null` when the transport cannot tell.
    pub consumers: Option<u32>,
    /// Net change of `messages` per second over the sample window (see the
    /// module docs); `null` without a window.
    pub net_rate: Option<f64>,
}

/// An endpoint's queue and its error queue.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EndpointQueues {
    /// The consumer endpoint.
    pub endpoint: String,
    /// Its queue.
    pub queue: QueueView,
    /// Its error queue (`<endpoint>_error`).
    pub error_queue: QueueView,
    /// Its skipped queue (`<endpoint>_skipped`).
    pub skipped_queue: QueueView,
}

/// Every endpoint's queues, and how long the sample window was.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct QueuesReport {
    /// By endpoint name.
    pub endpoints: Vec<EndpointQueues>,
    /// Seconds between the two looks the rates come from (0: no rates).
    pub sampled_secs: f64,
}

impl Operator {
    /// Depth and consumers of every known endpoint's queue and error queue,
    /// looked at twice `sample` apart for the rates (no second look when
    /// `sample` is zero).
    pub async fn queues(&self, sample: Duration) -> isoqube::Result<QueuesReport> {
        let endpoints: Vec<String> = self.endpoints().await?.into_iter().collect();
        let names: Vec<String> = endpoints
            .iter()
            .flat_map(|e| {
                [
                    e.clone(),
                    format!("{e}{ERROR_SUFFIX}"),
                    format!("{e}{SKIPPED_SUFFIX}"),
                ]
            })
            .collect();
        let first = self.look(&names).await?;
        let started = Instant::now();
        let (last, secs) = if sample.is_zero() {
            (first.clone(), 0.0)
        } else {
            tokio::time::sleep(sample).await;
            let last = self.look(&names).await?;
            (last, started.elapsed().as_secs_f64())
        };
        let view = |i: usize| {
            let (before, after) = (first[i], last[i]);
            QueueView {
                queue: names[i].clone(),
                broker_queue: self.transport.broker_name(&names[i]),
                exists: after.is_some(),
                messages: after.map_or(0, |s| s.messages),
                unacked: after.and_then(|s| s.unacked),
                consumers: after.and_then(|s| s.consumers),
                net_rate: match (before, after) {
                    (Some(b), Some(a)) if secs > 0.0 => {
                        let per_sec = (f64::from(a.messages) - f64::from(b.messages)) / secs;
                        // Two decimals: more would claim a precision two looks do not have.
                        Some((per_sec * 100.0).round() / 100.0)
                    }
                    _ => None,
                },
            }
        };
        let endpoints = endpoints
            .into_iter()
            .enumerate()
            .map(|(i, endpoint)| EndpointQueues {
                endpoint,
                queue: view(3 * i),
                error_queue: view(3 * i + 1),
                skipped_queue: view(3 * i + 2),
            })
            .collect();
        Ok(QueuesReport {
            endpoints,
            sampled_secs: (secs * 100.0).round() / 100.0,
        })
    }

    /// Each queue's stats now, `None` for a queue the broker does not have.
    async fn look(&self, names: &[String]) -> isoqube::Result<Vec<Option<QueueStats>>> {
        let mut out = Vec::with_capacity(names.len());
        for q in names {
            out.push(match self.transport.queue_stats(q).await {
                Ok(s) => Some(s),
                Err(Error::NotFound { .. }) => None,
                Err(e) if is_missing_queue(&e) => None,
                Err(e) => return Err(e),
            });
        }
        Ok(out)
    }
}

/// The net rate between two looks at a queue `secs` apart (two decimals).
fn net_rate(before: &QueueView, after: &QueueView, secs: f64) -> Option<f64> {
    (before.exists && after.exists && secs > 0.0).then(|| {
        let per_sec = (f64::from(after.messages) - f64::from(before.messages)) / secs;
        (per_sec * 100.0).round() / 100.0
    })
}

/// Sets the net rates of `now` (a look without a window) from an `earlier`
/// look `secs` before it: how a view that looks again every few seconds
/// (the terminal UI) gets rates without waiting inside a load.
///
/// ```
/// use controlcenter::ops::{rates_between, EndpointQueues, QueueView};
/// let q = |messages| QueueView { queue: "q".into(), broker_queue: "q".into(), exists: true, messages, unacked: None, consumers: Some(1), net_rate: None };
/// let ep = |m| EndpointQueues { endpoint: "q".into(), queue: q(m), error_queue: q(0), skipped_queue: q(0) };
/// let mut now = vec![ep(10)];
/// rates_between(&[ep(4)], &mut now, 2.0);
/// assert_eq!((now[0].queue.net_rate, now[0].error_queue.net_rate), (Some(3.0), Some(0.0)));
/// ```
pub fn rates_between(earlier: &[EndpointQueues], now: &mut [EndpointQueues], secs: f64) {
    for e in now.iter_mut() {
        if let Some(old) = earlier.iter().find(|o| o.endpoint == e.endpoint) {
            e.queue.net_rate = net_rate(&old.queue, &e.queue, secs);
            e.error_queue.net_rate = net_rate(&old.error_queue, &e.error_queue, secs);
            e.skipped_queue.net_rate = net_rate(&old.skipped_queue, &e.skipped_queue, secs);
        }
    }
}
