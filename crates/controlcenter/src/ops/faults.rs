//! The error queues as the operator sees them: each endpoint's
//! `<endpoint>_error` with its messages ([`FaultView`]), found by the
//! endpoint's name or the queue's, each marked when its step (or, for an
//! undo's message, its undo) has succeeded since. The actions on them are
//! [`super::fault_actions`]'s.
//!
//! It may use what [`super`] may: `isoqube`'s store and transport seams.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use isoqube::transport::{RawMessage, ERROR_SUFFIX};
use isoqube::wire::headers;
use isoqube::{Error, Run, StepStatus};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::Operator;

/// A message in an endpoint's error queue.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
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
    /// For the message of an undo (a compensation): the name of the step it
    /// undoes (`index` is that step's).
    pub compensates: Option<String>,
    /// The envelope's message type, when the body is an envelope.
    pub message_type: Option<String>,
    /// Body size in bytes.
    pub size: usize,
    /// Its step (for an undo's message: the undo) has succeeded since (the
    /// run was resumed or re-delivered and went on): requeueing it would do
    /// nothing, discarding it loses nothing.
    pub settled: bool,
    /// Every transport header, the fault's included (for reading it whole).
    #[schema(value_type = Object)]
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

/// An endpoint's error queue: how many messages, and the first of them.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ErrorQueueView {
    /// Endpoint name.
    pub endpoint: String,
    /// Messages in `<endpoint>_error`.
    pub count: u32,
    /// The first messages (up to the limit asked for: fewer than `count`
    /// when the queue holds more).
    pub messages: Vec<FaultView>,
}

impl ErrorQueueView {
    /// Messages in the queue not in [`Self::messages`].
    pub fn not_shown(&self) -> usize {
        usize::try_from(self.count)
            .unwrap_or(usize::MAX)
            .saturating_sub(self.messages.len())
    }
}

impl Operator {
    /// The error queue of every known endpoint (those the transport does not
    /// have, e.g. never declared, are left out), with the first
    /// [`super::ERROR_PAGE`] messages of each.
    pub async fn error_queues(&self) -> isoqube::Result<Vec<ErrorQueueView>> {
        self.error_queues_up_to(super::ERROR_PAGE).await
    }

    /// [`Self::error_queues`] with up to `limit` messages of each queue.
    pub async fn error_queues_up_to(&self, limit: usize) -> isoqube::Result<Vec<ErrorQueueView>> {
        let mut out = Vec::new();
        for endpoint in self.endpoints().await? {
            let queue = format!("{endpoint}{ERROR_SUFFIX}");
            let count = match self.transport.message_count(&queue).await {
                Ok(n) => n,
                Err(Error::NotFound { .. }) => continue,
                Err(e) if is_missing_queue(&e) => continue,
                Err(e) => return Err(e),
            };
            let mut messages: Vec<FaultView> = if count == 0 || limit == 0 {
                Vec::new()
            } else {
                self.transport
                    .browse(&queue, limit)
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

    /// Marks the faults whose step or undo has succeeded since (one store
    /// read per run).
    async fn mark_settled(&self, faults: &mut [FaultView]) -> isoqube::Result<()> {
        let mut runs = HashMap::new();
        for f in faults.iter_mut() {
            f.settled = self.settled(f, &mut runs).await?;
        }
        Ok(())
    }

    /// Whether the step of `f` (its undo, for an undo's message) has
    /// succeeded since; `runs` keeps the runs read so far.
    pub(super) async fn settled(
        &self,
        f: &FaultView,
        runs: &mut HashMap<Uuid, Option<Run>>,
    ) -> isoqube::Result<bool> {
        let Some(at) = run_step_of(f) else {
            return Ok(false);
        };
        let run = match runs.entry(at.run) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(slot) => slot.insert(match self.store.get_run(at.run).await {
                Ok(run) => run,
                // A corrupt run record is named by `runs show`; here it
                // only means the fault cannot be called settled.
                Err(e) if e.is_corrupt() => None,
                Err(e) => return Err(e),
            }),
        };
        let Some(step) = run.as_ref().and_then(|r| r.steps.get(at.index)) else {
            return Ok(false);
        };
        Ok(if at.undo {
            step.compensation
                .as_ref()
                .is_some_and(|c| c.status == StepStatus::Succeeded)
        } else {
            step.status == StepStatus::Succeeded
        })
    }

    /// Every message (not only the first [`super::ERROR_PAGE`]) of the error queue
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
}

/// Where in a run a message belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RunStep {
    /// The run.
    pub(super) run: Uuid,
    /// The step's index (from 0).
    pub(super) index: usize,
    /// The message is the step's undo, not the step.
    pub(super) undo: bool,
}

/// Where a fault belongs, when it is a run step's (or undo's) message.
pub(super) fn run_step_of(f: &FaultView) -> Option<RunStep> {
    Some(RunStep {
        run: Uuid::parse_str(f.run_id.as_deref()?).ok()?,
        index: usize::try_from(f.index?).ok()?,
        undo: f.compensates.is_some(),
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
        compensates: env_header(isoqube::envelope::HEADER_COMPENSATE)
            .and_then(|v| v.as_str().map(str::to_string)),
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
