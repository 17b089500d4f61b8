//! The actions on error-queue messages: requeue (which publishes the message
//! again, resumes its run, or refuses saying why, see
//! [`super::requeueable`]) and discard, one message, every message whose
//! step or undo has succeeded since, or every message listed.
//!
//! Every action is one pass over the queue ([`isoqube::transport::QueuePass`]):
//! each message is taken once and held; the chosen ones are removed (a
//! requeued one only after its copy is published and confirmed, so a failure
//! half-way duplicates a message and never loses one), the rest go back in
//! their places when the pass closes. So a bulk action acts on exactly the
//! messages listed, however many, and what it reports is what the broker
//! did.
//!
//! It may use what [`super`] may: `isoqube`'s store and transport seams.

use std::collections::{BTreeMap, HashMap};

use isoqube::transport::{Delivery, OutgoingMessage, QueuePass, RawMessage, ERROR_SUFFIX};
use isoqube::wire::headers;
use isoqube::{Error, Run};

use super::faults::{fault_view, is_missing_queue, run_step_of, FaultView};
use super::requeueable::{plan, Plan};
use super::Operator;

/// What a bulk requeue or discard did, message by message.
#[derive(Debug, Default)]
pub struct Bulk {
    /// The messages acted on, each with what came of it.
    pub done: Vec<(FaultView, Done)>,
    /// The messages refused or failed (left in their queue), each with why.
    pub failed: Vec<(FaultView, Error)>,
    /// What went wrong beyond one message: a pass over a queue that broke
    /// off (the messages it had not reached are in `failed`), or one whose
    /// end the broker did not confirm (the removals it made may not have
    /// been recorded: look at the queue again).
    pub errors: Vec<Error>,
}

/// What was done with one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    /// Requeued (published again, or its run resumed).
    Requeued(Requeued),
    /// Removed from `<endpoint>_error`.
    Discarded {
        /// The endpoint.
        endpoint: String,
    },
}

/// What requeueing a message did.
#[derive(Debug, Clone, PartialEq)]
pub enum Requeued {
    /// Published to the endpoint again: its run (if any) runs it there.
    Published {
        /// The endpoint it went to.
        endpoint: String,
    },
    /// The message's step (or undo) was where its run stopped: the run was
    /// resumed (which publishes it anew) and the message removed.
    Resumed {
        /// The endpoint whose error queue held it.
        endpoint: String,
        /// The resumed run.
        run: Box<Run>,
        /// The step's index (from 0).
        index: usize,
        /// It was the step's undo: the run's compensation was resumed.
        undo: bool,
    },
}

impl std::fmt::Display for Requeued {
    /// What the operator is told: `requeued to ENDPOINT`, `resumed run ID
    /// from step N` (numbered from 1), or `resumed the compensation of run ID
    /// (undo of step N)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Requeued::Published { endpoint } => write!(f, "requeued to {endpoint}"),
            Requeued::Resumed {
                run, index, undo, ..
            } if *undo => write!(
                f,
                "resumed the compensation of run {} (undo of step {})",
                run.id,
                index + 1
            ),
            Requeued::Resumed { run, index, .. } => {
                write!(f, "resumed run {} from step {}", run.id, index + 1)
            }
        }
    }
}

impl std::fmt::Display for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Done::Requeued(r) => r.fmt(f),
            Done::Discarded { endpoint } => write!(f, "discarded from {endpoint}{ERROR_SUFFIX}"),
        }
    }
}

/// What a pass does with the messages it picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Requeue,
    Discard,
}

/// Which messages a pass picks.
enum Pick {
    /// These message ids, each as many times as it was listed.
    Listed(HashMap<String, usize>),
    /// Those whose step or undo has succeeded since.
    Settled,
}

impl Pick {
    fn listed(faults: &[FaultView]) -> Self {
        let mut ids = HashMap::new();
        for f in faults {
            *ids.entry(f.message_id.clone()).or_insert(0) += 1;
        }
        Pick::Listed(ids)
    }

    /// Nothing left to pick (a listed pass can stop early).
    fn exhausted(&self) -> bool {
        matches!(self, Pick::Listed(ids) if ids.values().all(|&n| n == 0))
    }
}

impl Operator {
    /// Sends a message of `<endpoint>_error` back to where it does what it
    /// says (`endpoint` as [`Self::endpoint_named`] takes it); see
    /// [`super::requeueable`] for when it publishes, resumes the run or is
    /// refused. A message published again is removed from the error queue
    /// only after the broker confirmed the copy, so a failure half-way can
    /// duplicate it (the run engine ignores duplicates) but never lose it.
    pub async fn requeue(&self, endpoint: &str, message_id: &str) -> isoqube::Result<Requeued> {
        let endpoint = self.endpoint_named(endpoint).await?;
        match self.one(&endpoint, message_id, Act::Requeue).await? {
            Done::Requeued(r) => Ok(r),
            // A requeue pass never discards.
            Done::Discarded { .. } => Err(Error::InvalidState(format!(
                "message {message_id} was discarded instead of requeued"
            ))),
        }
    }

    /// Deletes a message from `<endpoint>_error` (`endpoint` as
    /// [`Self::endpoint_named`] takes it); returns the endpoint's name.
    pub async fn discard(&self, endpoint: &str, message_id: &str) -> isoqube::Result<String> {
        let endpoint = self.endpoint_named(endpoint).await?;
        self.one(&endpoint, message_id, Act::Discard).await?;
        Ok(endpoint)
    }

    /// Acts on the one message `message_id` of `endpoint`'s error queue.
    async fn one(&self, endpoint: &str, message_id: &str, act: Act) -> isoqube::Result<Done> {
        let queue = format!("{endpoint}{ERROR_SUFFIX}");
        let listed = FaultView {
            endpoint: endpoint.to_string(),
            message_id: message_id.to_string(),
            ..Default::default()
        };
        let mut b = Bulk::default();
        self.pass_over(endpoint, vec![listed], act, &mut b).await?;
        if let Some((_, e)) = b.failed.into_iter().next() {
            return Err(e);
        }
        if let Some(e) = b.errors.into_iter().next() {
            return Err(e);
        }
        match b.done.into_iter().next() {
            Some((_, done)) => Ok(done),
            None => Err(Error::not_found(
                "message",
                format!("{message_id} in {queue}"),
            )),
        }
    }

    /// Requeues each of `faults` as [`Self::requeue`] does (one pass per
    /// queue), going on past a refusal and saying each outcome; a listed
    /// message no longer in its queue is said to be not found.
    pub async fn requeue_each(&self, faults: Vec<FaultView>) -> Bulk {
        self.each(faults, Act::Requeue).await
    }

    /// Discards each of `faults` (one pass per queue), saying each outcome.
    pub async fn discard_each(&self, faults: Vec<FaultView>) -> Bulk {
        self.each(faults, Act::Discard).await
    }

    async fn each(&self, faults: Vec<FaultView>, act: Act) -> Bulk {
        let mut by_endpoint: BTreeMap<String, Vec<FaultView>> = BTreeMap::new();
        for f in faults {
            by_endpoint.entry(f.endpoint.clone()).or_default().push(f);
        }
        let mut b = Bulk::default();
        for (endpoint, listed) in by_endpoint {
            if let Err(e) = self.pass_over(&endpoint, listed, act, &mut b).await {
                b.errors.push(e);
            }
        }
        b
    }

    /// Deletes every message whose step or undo has succeeded since (see
    /// [`FaultView::settled`]) from the error queue of `endpoint` (as
    /// [`Self::endpoint_named`] takes it), or of every endpoint; returns them.
    pub async fn discard_settled(&self, endpoint: Option<&str>) -> isoqube::Result<Vec<FaultView>> {
        let endpoints = match endpoint {
            Some(name) => vec![self.endpoint_named(name).await?],
            None => self.endpoints().await?.into_iter().collect(),
        };
        let mut gone = Vec::new();
        for endpoint in endpoints {
            let mut b = Bulk::default();
            let queue = format!("{endpoint}{ERROR_SUFFIX}");
            match self.open_pass(&queue).await {
                Ok(pass) => {
                    // A break-off is in `b.errors` too.
                    let _ = self
                        .sweep(&endpoint, pass, &mut Pick::Settled, Act::Discard, &mut b)
                        .await;
                }
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            }
            if let Some(e) = b.failed.into_iter().map(|(_, e)| e).chain(b.errors).next() {
                return Err(e);
            }
            gone.extend(b.done.into_iter().map(|(f, _)| f));
        }
        Ok(gone)
    }

    /// One pass over `endpoint`'s error queue acting on the `listed`
    /// messages; those the pass did not meet are in `b.failed` as not found.
    async fn pass_over(
        &self,
        endpoint: &str,
        listed: Vec<FaultView>,
        act: Act,
        b: &mut Bulk,
    ) -> isoqube::Result<()> {
        let queue = format!("{endpoint}{ERROR_SUFFIX}");
        let mut pick = Pick::listed(&listed);
        let mut broke = None;
        // A listed message the pass did not meet may be held for a moment by
        // another look at the queue (a TUI refreshing its error view): look
        // again, twice, before calling it gone.
        for pause_ms in [0, 200, 800] {
            if pause_ms > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
            }
            let pass = self.open_pass(&queue).await?;
            broke = self.sweep(endpoint, pass, &mut pick, act, b).await;
            if broke.is_some() || pick.exhausted() {
                break;
            }
        }
        let Pick::Listed(mut unseen) = pick else {
            return Ok(());
        };
        for f in listed {
            let Some(n) = unseen.get_mut(&f.message_id).filter(|n| **n > 0) else {
                continue;
            };
            *n -= 1;
            let why = match &broke {
                Some(e) => Error::Transport(format!("not reached: {e}")),
                None => Error::not_found(
                    "message",
                    format!(
                        "{} in {queue} (not there, or gone since it was listed)",
                        f.message_id
                    ),
                ),
            };
            b.failed.push((f, why));
        }
        Ok(())
    }

    /// A pass over `queue`, a missing queue being "not found".
    async fn open_pass(&self, queue: &str) -> isoqube::Result<Box<dyn QueuePass>> {
        match self.transport.pass(queue).await {
            Err(e) if is_missing_queue(&e) => Err(Error::not_found("queue", queue.to_string())),
            other => other,
        }
    }

    /// Takes each message of `pass` once; acts on those `pick` picks (each
    /// outcome into `b`), leaves the others, closes the pass. Returns the
    /// error that broke the pass off, if one did (also in `b.errors`).
    async fn sweep(
        &self,
        endpoint: &str,
        mut pass: Box<dyn QueuePass>,
        pick: &mut Pick,
        act: Act,
        b: &mut Bulk,
    ) -> Option<Error> {
        let mut runs = HashMap::new();
        let mut broke = None;
        while !pick.exhausted() {
            let d = match pass.next().await {
                None => break,
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    broke = Some(e);
                    break;
                }
            };
            let f = fault_view(endpoint, &d.message);
            let chosen = match &mut *pick {
                Pick::Listed(ids) => match ids.get_mut(&f.message_id) {
                    Some(n) if *n > 0 => {
                        *n -= 1;
                        true
                    }
                    _ => false,
                },
                Pick::Settled => match self.settled(&f, &mut runs).await {
                    Ok(s) => s,
                    Err(e) => {
                        broke = Some(e);
                        break;
                    }
                },
            };
            if chosen {
                match self.act(endpoint, &f, d, act).await {
                    Ok(done) => b.done.push((f, done)),
                    Err(e) => b.failed.push((f, e)),
                }
            }
        }
        if let Err(e) = pass.close().await {
            b.errors.push(Error::Transport(format!(
                "{endpoint}{ERROR_SUFFIX}: the broker did not confirm the end of the pass, \
                 so the messages removed may still be there ({e}); list the queue again"
            )));
        }
        if let Some(e) = &broke {
            b.errors.push(Error::Transport(format!(
                "{endpoint}{ERROR_SUFFIX}: the pass over the queue broke off: {e}"
            )));
        }
        broke
    }

    /// Requeues or discards one held message; on an error it is left held
    /// (so it goes back to its queue).
    async fn act(
        &self,
        endpoint: &str,
        f: &FaultView,
        d: Delivery,
        act: Act,
    ) -> isoqube::Result<Done> {
        let done = match act {
            Act::Discard => Done::Discarded {
                endpoint: endpoint.to_string(),
            },
            Act::Requeue => Done::Requeued(self.requeue_held(endpoint, f, d.message).await?),
        };
        d.acker.ack().await.map_err(|e| match &done {
            Done::Requeued(r) => Error::Transport(format!(
                "{r}, but it could not be removed from {endpoint}{ERROR_SUFFIX} ({e}): \
                 it is there still, and requeueing it again would send it twice"
            )),
            Done::Discarded { .. } => e,
        })?;
        Ok(done)
    }

    /// Requeues a message held by a pass (the caller removes it after).
    async fn requeue_held(
        &self,
        endpoint: &str,
        f: &FaultView,
        found: RawMessage,
    ) -> isoqube::Result<Requeued> {
        let message_id = &f.message_id;
        if let Some(at) = run_step_of(f) {
            let run = self.store.get_run(at.run).await?.ok_or_else(|| {
                Error::InvalidState(format!(
                    "message {message_id} is step {} of run {}, which no longer exists; \
                     discard it",
                    at.index + 1,
                    at.run
                ))
            })?;
            match plan(&run, at.index, at.undo) {
                Plan::Refuse(why) => {
                    return Err(Error::InvalidState(format!("message {message_id}: {why}")))
                }
                Plan::Resume => {
                    return Ok(Requeued::Resumed {
                        endpoint: endpoint.to_string(),
                        run: Box::new(self.resume(at.run, isoqube::Resume::new()).await?),
                        index: at.index,
                        undo: at.undo,
                    })
                }
                Plan::Publish => {}
            }
        }
        self.transport
            .publish(endpoint, redelivery(found, message_id))
            .await?;
        Ok(Requeued::Published {
            endpoint: endpoint.to_string(),
        })
    }
}

/// The message sent again, as MassTransit counts a redelivery: the count
/// goes up by one; the fault headers go; the AMQP properties stay.
fn redelivery(found: RawMessage, message_id: &str) -> OutgoingMessage {
    let redelivered = headers::redelivery_count(&found.headers).saturating_add(1);
    let mut kept: BTreeMap<String, serde_json::Value> = found
        .headers
        .into_iter()
        .filter(|(k, _)| !k.starts_with(headers::MT_PREFIX))
        .collect();
    kept.insert(
        headers::MT_REDELIVERY_COUNT.to_string(),
        serde_json::Value::from(redelivered),
    );
    OutgoingMessage {
        body: found.body,
        message_id: message_id.to_string(),
        correlation_id: found.correlation_id,
        headers: kept,
        properties: found.properties,
    }
}
