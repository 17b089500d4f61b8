//! Ground layer: message lineage, the ids a consumed message hands on to the
//! messages published while it is handled (MassTransit's `initiatorId`,
//! `conversationId`, `correlationId`, `sourceAddress`), and the request a
//! consumed message makes (`requestId` + `responseAddress`). Uses the envelope.

use super::envelope::{Envelope, Incoming};

/// The message being consumed when a new one is sent: its ids flow downstream.
#[derive(Debug, Clone, Default)]
pub struct Parent {
    /// Its message id (becomes the new `initiatorId`).
    pub message_id: Option<String>,
    /// Its conversation id (copied).
    pub conversation_id: Option<String>,
    /// Its correlation id (copied for extra events).
    pub correlation_id: Option<String>,
    /// The endpoint that consumed it (becomes `sourceAddress`).
    pub endpoint: Option<String>,
    /// The run's priority: the AMQP priority of the step messages sent on its
    /// behalf (the consumed step message's own, or the run's when an
    /// operator starts or resumes it). `None` (or 0) sends none.
    pub priority: Option<u8>,
}

impl Parent {
    /// The parent facts of a consumed envelope, as the service parsed it.
    pub(crate) fn consumed(env: &Incoming<'_>, endpoint: &str) -> Self {
        Parent {
            message_id: Some(env.message_id.to_string()),
            conversation_id: env.conversation_id.as_deref().map(str::to_string),
            correlation_id: env.correlation_id.as_deref().map(str::to_string),
            endpoint: Some(endpoint.to_string()),
            priority: None,
        }
    }

    /// The same parent, handing on `priority` to the step messages it sends.
    pub fn with_priority(mut self, priority: Option<u8>) -> Self {
        self.priority = priority;
        self
    }

    /// The parent facts of a consumed envelope.
    pub fn of(env: &Envelope, endpoint: &str) -> Self {
        Parent {
            message_id: Some(env.message_id.clone()),
            conversation_id: env.conversation_id.clone(),
            correlation_id: env.correlation_id.clone(),
            endpoint: Some(endpoint.to_string()),
            priority: None,
        }
    }
}

/// A request: a consumed message with a `requestId` and a `responseAddress`
/// (a MassTransit request client's); the response goes to that address with
/// the request id copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `requestId`, copied into the response.
    pub request_id: String,
    /// `responseAddress`, where the response goes.
    pub response_address: String,
}

impl Request {
    /// The request a consumed envelope makes, if it makes one.
    pub(crate) fn of(env: &Incoming<'_>) -> Option<Self> {
        Some(Request {
            request_id: env.request_id.as_deref()?.to_string(),
            response_address: env.response_address.as_deref()?.to_string(),
        })
    }
}
