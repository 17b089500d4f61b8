//! The error queues as the operator sees them: each endpoint's
//! `<endpoint>_error` with its messages ([`FaultView`]), found by the
//! endpoint's name or the queue's, and the actions on them: requeue (which
//! resumes a failed run from the message's step, or refuses saying why) and
//! discard, one message, every one whose step has succeeded since, or in bulk
//! (every message a filter lets through, each outcome said).
//!
//! It may use what [`super`] may: `isoqube`'s store and transport seams.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use isoqube::transport::{OutgoingMessage, RawMessage, ERROR_SUFFIX};
use isoqube::wire::headers;
use isoqube::{Error, Run, RunStatus, StepStatus};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::{Operator, ERROR_PAGE};

/// A message in an endpoint's error queue.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FaultView {
    /// The endpoint whose `<endpoint>_error` queue holds it.
    pub endpoint: String,
    /// AMQP message id (what requeue and discard take).
    pub message_id: String,
    /// `MT-Fault-Message`, or `MT-Reason` when there is no fault message.
    pub reason: String,
    /// `MT-Fault-ExceptionType`.
    pub exception_type: String,
    /// `MT-Fault-Timestamp`.
    pub timestamp: String,
    /// The run it belongs to, when it is a run step.
    pub run_id: Option<String>,
    /// The step's index (from 0; people read it from 1), when it is a run step.
    pub index: Option<u64>,
    /// The envelope's message type, when the body is an envelope.
    pub message_type: Option<String>,
    /// Body size in bytes.
    pub size: usize,
    /// Its step has succeeded since (the run was resumed or re-delivered and
    /// went on): requeueing it would do nothing, discarding it loses nothing.
    pub settled: bool,
    /// Every transport header, the fault's included (for reading it whole).
    pub headers: BTreeMap<String, Value>,
    /// The body as text (invalid UTF-8 replaced).
    pub body: String,
}

impl FaultView {
    /// Whether every word of `query` is in the message's endpoint, id, run
    /// id, step (`#N`, numbered from 1), message type, reason or exception
    /// type (case does not matter; an empty query matches all). The TUI's
    /// error-queue filter and `errors ... --match` use it.
    ///
    /// ```
    /// let f = controlcenter::ops::FaultView {
    ///     endpoint: "linux-build".into(),
    ///     reason: "disk full".into(),
    ///     index: Some(1),
    ///     ..Default::default()
    /// };
    /// assert!(f.matches("linux DISK #2"));
    /// assert!(!f.matches("windows"));
    /// ```
    pub fn matches(&self, query: &str) -> bool {
        let step = self
            .index
            .map(|i| format!("#{}", i + 1))
            .unwrap_or_default();
        let fields = [
            self.endpoint.as_str(),
            &self.message_id,
            self.run_id.as_deref().unwrap_or(""),
            &step,
            self.message_type.as_deref().unwrap_or(""),
            &self.reason,
            &self.exception_type,
        ];
        query.split_whitespace().all(|word| {
            let word = word.to_lowercase();
            fields.iter().any(|f| f.to_lowercase().contains(&word))
        })
    }
}

/// What a bulk requeue or discard did, message by message.
#[derive(Debug, Default)]
pub struct Bulk {
    /// The messages acted on, each with what came of it.
    pub done: Vec<(FaultView, String)>,
    /// The messages refused or failed, each with why.
    pub failed: Vec<(FaultView, Error)>,
}

/// What requeueing a message did.
#[derive(Debug, Clone, PartialEq)]
pub enum Requeued {
    /// Published to the endpoint again (not a failed or cancelled run's step).
    Published {
        /// The endpoint it went to.
        endpoint: String,
    },
    /// The message's step was where its failed or cancelled run stopped: the
    /// run was resumed from it (which publishes the step anew) and the
    /// message removed.
    Resumed {
        /// The endpoint whose error queue held it.
        endpoint: String,
        /// The resumed run.
        run: Box<Run>,
        /// The step's index (from 0).
        index: usize,
    },
}

/// An endpoint's error queue: how many messages, and the first [`ERROR_PAGE`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorQueueView {
    /// Endpoint name.
    pub endpoint: String,
    /// Messages in `<endpoint>_error`.
    pub count: u32,
    /// The first messages.
    pub messages: Vec<FaultView>,
}

impl Operator {
    /// The error queue of every known endpoint (those the transport does not
    /// have, e.g. never declared, are left out).
    pub async fn error_queues(&self) -> isoqube::Result<Vec<ErrorQueueView>> {
        let mut out = Vec::new();
        for endpoint in self.endpoints().await? {
            let queue = format!("{endpoint}{ERROR_SUFFIX}");
            let count = match self.transport.message_count(&queue).await {
                Ok(n) => n,
                Err(Error::NotFound { .. }) => continue,
                Err(e) if is_missing_queue(&e) => continue,
                Err(e) => return Err(e),
            };
            let mut messages: Vec<FaultView> = if count == 0 {
                Vec::new()
            } else {
                self.transport
                    .browse(&queue, ERROR_PAGE)
                    .await?
                    .iter()
                    .map(|m| fault_view(&endpoint, m))
                    .collect()
            };
            self.mark_settled(&mut messages).await?;
            out.push(ErrorQueueView {
                endpoint,
                count,
                messages,
            });
        }
        Ok(out)
    }

    /// The endpoint an operator named, as the endpoint (`build`) or as its
    /// error queue (`build_error`, what `errors list` prints): one known from
    /// the recorded events and services, else not found. Checked before the
    /// broker is asked, so a typo is "not found", not a broker error.
    pub async fn endpoint_named(&self, name: &str) -> isoqube::Result<String> {
        let name = name.trim();
        let known = self.endpoints().await?;
        if known.contains(name) {
            return Ok(name.to_string());
        }
        match name.strip_suffix(ERROR_SUFFIX) {
            Some(base) if known.contains(base) => Ok(base.to_string()),
            _ => Err(Error::not_found("endpoint", name.to_string())),
        }
    }

    /// The messages of `queue`, a missing queue being "not found".
    async fn browse_all(&self, queue: &str) -> isoqube::Result<Vec<RawMessage>> {
        match self.transport.browse(queue, usize::MAX).await {
            Err(e) if is_missing_queue(&e) => Err(Error::not_found("queue", queue.to_string())),
            other => other,
        }
    }

    /// Marks the faults whose step has succeeded since (one store read per run).
    async fn mark_settled(&self, faults: &mut [FaultView]) -> isoqube::Result<()> {
        let mut runs: HashMap<Uuid, Option<Run>> = HashMap::new();
        for f in faults.iter_mut() {
            let Some((id, index)) = run_step_of(f) else {
                continue;
            };
            let run = match runs.entry(id) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(slot) => slot.insert(match self.store.get_run(id).await {
                    Ok(run) => run,
                    // A corrupt run record is named by `runs show`; here it
                    // only means the fault cannot be called settled.
                    Err(e) if e.is_corrupt() => None,
                    Err(e) => return Err(e),
                }),
            };
            f.settled = run
                .as_ref()
                .and_then(|r| r.steps.get(index))
                .is_some_and(|s| s.status == StepStatus::Succeeded);
        }
        Ok(())
    }

    /// Sends a message of `<endpoint>_error` back to where it does what it
    /// says (`endpoint` as [`Self::endpoint_named`] takes it):
    /// - a step of a failed or cancelled run where that run stopped: the run
    ///   is resumed from it and the message removed (published as it is, the
    ///   service would only drop it: the run is not running);
    /// - a step that has succeeded since, a step after the one its run
    ///   stopped at, a step of a run that is gone: refused, saying why;
    /// - anything else: published to the endpoint's queue again (fault headers
    ///   removed). It is published before it is removed from the error queue,
    ///   so a failure half-way can duplicate it (the run engine ignores
    ///   duplicates) but never lose it.
    pub async fn requeue(&self, endpoint: &str, message_id: &str) -> isoqube::Result<Requeued> {
        let endpoint = self.endpoint_named(endpoint).await?;
        let queue = format!("{endpoint}{ERROR_SUFFIX}");
        let found = self
            .browse_all(&queue)
            .await?
            .into_iter()
            .find(|m| m.message_id.as_deref() == Some(message_id))
            .ok_or_else(|| Error::not_found("message", format!("{message_id} in {queue}")))?;
        if let Some((id, index)) = run_step_of(&fault_view(&endpoint, &found)) {
            let run = self.store.get_run(id).await?.ok_or_else(|| {
                Error::InvalidState(format!(
                    "message {message_id} is step {} of run {id}, which no longer exists; \
                     discard it",
                    index + 1
                ))
            })?;
            if let Some(why) = not_requeueable(&run, index) {
                return Err(Error::InvalidState(format!("message {message_id}: {why}")));
            }
            if matches!(run.status, RunStatus::Failed | RunStatus::Cancelled) {
                let run = self.resume(id).await?;
                self.transport.take(&queue, message_id).await?;
                return Ok(Requeued::Resumed {
                    endpoint,
                    run: Box::new(run),
                    index,
                });
            }
        }
        // Sent again is redelivered, as MassTransit counts it: the count goes
        // up by one; the fault headers go; the AMQP properties stay.
        let redelivered = headers::redelivery_count(&found.headers).saturating_add(1);
        let mut kept: std::collections::BTreeMap<String, serde_json::Value> = found
            .headers
            .into_iter()
            .filter(|(k, _)| !k.starts_with(headers::MT_PREFIX))
            .collect();
        kept.insert(
            headers::MT_REDELIVERY_COUNT.to_string(),
            serde_json::Value::from(redelivered),
        );
        self.transport
            .publish(
                &endpoint,
                OutgoingMessage {
                    body: found.body,
                    message_id: message_id.to_string(),
                    correlation_id: found.correlation_id,
                    headers: kept,
                    properties: found.properties,
                },
            )
            .await?;
        self.transport.take(&queue, message_id).await?;
        Ok(Requeued::Published { endpoint })
    }

    /// Deletes every message whose step has succeeded since (see
    /// [`FaultView::settled`]) from the error queue of `endpoint` (as
    /// [`Self::endpoint_named`] takes it), or of every endpoint; returns them.
    pub async fn discard_settled(&self, endpoint: Option<&str>) -> isoqube::Result<Vec<FaultView>> {
        let endpoints = match endpoint {
            Some(name) => vec![self.endpoint_named(name).await?],
            None => self.endpoints().await?.into_iter().collect(),
        };
        let mut gone = Vec::new();
        for endpoint in endpoints {
            let queue = format!("{endpoint}{ERROR_SUFFIX}");
            let messages = match self.browse_all(&queue).await {
                Ok(m) => m,
                Err(Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            let mut faults: Vec<FaultView> =
                messages.iter().map(|m| fault_view(&endpoint, m)).collect();
            self.mark_settled(&mut faults).await?;
            for f in faults.into_iter().filter(|f| f.settled) {
                if self.transport.take(&queue, &f.message_id).await?.is_some() {
                    gone.push(f);
                }
            }
        }
        Ok(gone)
    }

    /// Every message (not only the first [`ERROR_PAGE`]) of the error queue
    /// of `endpoint` (as [`Self::endpoint_named`] takes it), or of every
    /// endpoint, whose view passes `keep`, settled ones marked.
    pub async fn faults_where(
        &self,
        endpoint: Option<&str>,
        keep: impl Fn(&FaultView) -> bool,
    ) -> isoqube::Result<Vec<FaultView>> {
        // One endpoint named: its queue must be there; all of them: those
        // never declared are left out, as in the list.
        let all = endpoint.is_none();
        let endpoints = match endpoint {
            Some(name) => vec![self.endpoint_named(name).await?],
            None => self.endpoints().await?.into_iter().collect(),
        };
        let mut out = Vec::new();
        for endpoint in endpoints {
            let queue = format!("{endpoint}{ERROR_SUFFIX}");
            let messages = match self.browse_all(&queue).await {
                Ok(m) => m,
                Err(Error::NotFound { .. }) if all => continue,
                Err(e) => return Err(e),
            };
            let mut faults: Vec<FaultView> = messages
                .iter()
                .map(|m| fault_view(&endpoint, m))
                .filter(|f| keep(f))
                .collect();
            self.mark_settled(&mut faults).await?;
            out.extend(faults);
        }
        Ok(out)
    }

    /// Requeues each of `faults` as [`Self::requeue`] does, going on past a
    /// refusal (a step succeeded since, a run gone) and saying each outcome.
    pub async fn requeue_each(&self, faults: Vec<FaultView>) -> Bulk {
        let mut bulk = Bulk::default();
        for f in faults {
            match self.requeue(&f.endpoint, &f.message_id).await {
                Ok(done) => bulk.done.push((f, done.to_string())),
                Err(e) => bulk.failed.push((f, e)),
            }
        }
        bulk
    }

    /// Discards each of `faults` as [`Self::discard`] does, going on past one
    /// already gone and saying each outcome.
    pub async fn discard_each(&self, faults: Vec<FaultView>) -> Bulk {
        let mut bulk = Bulk::default();
        for f in faults {
            match self.discard(&f.endpoint, &f.message_id).await {
                Ok(endpoint) => bulk
                    .done
                    .push((f, format!("discarded from {endpoint}_error"))),
                Err(e) => bulk.failed.push((f, e)),
            }
        }
        bulk
    }

    /// Deletes a message from `<endpoint>_error` (`endpoint` as
    /// [`Self::endpoint_named`] takes it); returns the endpoint's name.
    pub async fn discard(&self, endpoint: &str, message_id: &str) -> isoqube::Result<String> {
        let endpoint = self.endpoint_named(endpoint).await?;
        let queue = format!("{endpoint}{ERROR_SUFFIX}");
        let taken = match self.transport.take(&queue, message_id).await {
            Err(e) if is_missing_queue(&e) => return Err(Error::not_found("queue", queue)),
            other => other?,
        };
        match taken {
            Some(_) => Ok(endpoint),
            None => Err(Error::not_found(
                "message",
                format!("{message_id} in {queue}"),
            )),
        }
    }
}

impl std::fmt::Display for Requeued {
    /// What the operator is told: `requeued to ENDPOINT`, or `resumed run ID
    /// from step N` (numbered from 1).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Requeued::Published { endpoint } => write!(f, "requeued to {endpoint}"),
            Requeued::Resumed { run, index, .. } => {
                write!(f, "resumed run {} from step {}", run.id, index + 1)
            }
        }
    }
}

/// The run and step index a fault belongs to, when it is a run step.
fn run_step_of(f: &FaultView) -> Option<(Uuid, usize)> {
    let id = Uuid::parse_str(f.run_id.as_deref()?).ok()?;
    Some((id, usize::try_from(f.index?).ok()?))
}

/// Why step `index` of `run` is not to be requeued, if it is not.
fn not_requeueable(run: &Run, index: usize) -> Option<String> {
    let n = index + 1;
    let step = run.steps.get(index)?;
    if step.status == StepStatus::Succeeded {
        return Some(format!(
            "step {n} ({}) of run {} has succeeded since; nothing to requeue \
             (`errors discard --settled --yes` removes such messages)",
            step.event, run.id
        ));
    }
    if !matches!(run.status, RunStatus::Failed | RunStatus::Cancelled) {
        return None;
    }
    let from = run
        .steps
        .iter()
        .position(|s| s.status != StepStatus::Succeeded)?;
    (from != index).then(|| {
        format!(
            "run {} is {} at step {}, before this message's step {n}; resume the run \
             (`runs resume {}`) instead",
            run.id,
            run.status.as_str(),
            from + 1,
            run.id
        )
    })
}

/// Both transports word a missing queue as "does not exist".
pub(super) fn is_missing_queue(e: &Error) -> bool {
    matches!(e, Error::Transport(text) if text.contains("does not exist"))
}

/// What the error-queue view shows of a raw message.
pub fn fault_view(endpoint: &str, m: &RawMessage) -> FaultView {
    let header = |k: &str| {
        m.headers
            .get(k)
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default()
    };
    let envelope: Option<Value> = serde_json::from_slice(&m.body).ok();
    let env_header = |k: &str| {
        envelope
            .as_ref()
            .and_then(|e| e.get("headers"))
            .and_then(|h| h.get(k))
            .cloned()
    };
    let mut reason = header(headers::MT_FAULT_MESSAGE);
    if reason.is_empty() {
        reason = header(headers::MT_REASON);
    }
    FaultView {
        endpoint: endpoint.to_string(),
        message_id: m.message_id.clone().unwrap_or_default(),
        reason,
        exception_type: header(headers::MT_FAULT_EXCEPTION_TYPE),
        timestamp: header(headers::MT_FAULT_TIMESTAMP),
        run_id: env_header(isoqube::envelope::HEADER_RUN_ID)
            .and_then(|v| v.as_str().map(str::to_string)),
        index: env_header(isoqube::envelope::HEADER_STEP).and_then(|v| v.as_u64()),
        settled: false,
        headers: m.headers.clone(),
        body: String::from_utf8_lossy(&m.body).into_owned(),
        message_type: envelope
            .as_ref()
            .and_then(|e| e.get("messageType"))
            .and_then(|t| t.get(0))
            .and_then(Value::as_str)
            .map(str::to_string),
        size: m.body.len(),
    }
}
