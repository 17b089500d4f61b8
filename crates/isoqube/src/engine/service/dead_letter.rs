//! Engine layer: moving a message aside, to `<q>_error` (a fault, with
//! MassTransit's `MT-Fault-*` headers) or `<q>_skipped` (a message no consumer
//! here understands), keeping its body and ids.

use chrono::{SecondsFormat, Utc};
use futures_util::future::BoxFuture;
use serde_json::Value;
use tracing::error;
use uuid::Uuid;

use crate::consumer::HandlerError;
use crate::error::Error;
use crate::transport::{OutgoingMessage, RawMessage};
use crate::wire::headers::{
    MT_FAULT_EXCEPTION_TYPE, MT_FAULT_INPUT_ADDRESS, MT_FAULT_MESSAGE, MT_FAULT_RETRY_COUNT,
    MT_FAULT_STACK_TRACE, MT_FAULT_TIMESTAMP, MT_HOST_MACHINE_NAME, MT_REASON,
};

use super::{Endpoint, Settle};

/// The fault a step message is dead-lettered with when the runtime (not the
/// consumer) cannot handle it.
pub(super) fn step_error(e: &Error) -> HandlerError {
    let kind = if e.is_corrupt() {
        "isoqube::CorruptRecord"
    } else {
        "isoqube::StepError"
    };
    HandlerError::new(kind, e.to_string(), false)
}

pub(super) fn header_str(v: &str) -> Value {
    Value::String(v.to_string())
}

impl Endpoint {
    /// Moves a message to `<q>_error` or `<q>_skipped` with MassTransit's headers.
    /// [`Self::move_to`], boxed: the exception path, whose state would
    /// otherwise make every delivery's task larger.
    pub(super) fn dead_letter<'a>(
        &'a self,
        suffix: &'a str,
        msg: &'a RawMessage,
        err: Option<&'a HandlerError>,
        attempts: u32,
    ) -> BoxFuture<'a, Settle> {
        Box::pin(self.move_to(suffix, msg, err, attempts))
    }

    pub(super) async fn move_to(
        &self,
        suffix: &str,
        msg: &RawMessage,
        err: Option<&HandlerError>,
        attempts: u32,
    ) -> Settle {
        let mut headers = msg.headers.clone();
        let input = format!("isoqube://{}/{}", crate::host::host_name(), self.name);
        headers.insert(
            MT_HOST_MACHINE_NAME.into(),
            header_str(&crate::host::host_name()),
        );
        match err {
            Some(err) => {
                headers.insert(MT_REASON.into(), header_str("fault"));
                headers.insert(MT_FAULT_EXCEPTION_TYPE.into(), header_str(&err.kind));
                headers.insert(MT_FAULT_MESSAGE.into(), header_str(&err.message));
                headers.insert(
                    MT_FAULT_TIMESTAMP.into(),
                    header_str(&Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)),
                );
                headers.insert(MT_FAULT_STACK_TRACE.into(), header_str(""));
                headers.insert(
                    MT_FAULT_RETRY_COUNT.into(),
                    Value::from(attempts.saturating_sub(1)),
                );
                headers.insert(MT_FAULT_INPUT_ADDRESS.into(), header_str(&input));
            }
            None => {
                headers.insert(MT_REASON.into(), header_str("skip"));
            }
        }
        let out = OutgoingMessage {
            body: msg.body.clone(),
            message_id: msg
                .message_id
                .clone()
                .unwrap_or_else(|| Uuid::new_v4().to_string()),
            correlation_id: msg.correlation_id.clone(),
            headers,
            // Moved as MassTransit moves it: with the properties it came with.
            properties: msg.properties.clone(),
        };
        let queue = format!("{}{suffix}", self.name);
        match self.shared.transport.publish(&queue, out).await {
            Ok(()) => {
                self.metrics.record_dead_lettered();
                Settle::Ack
            }
            Err(e) => {
                error!(endpoint = %self.name, "could not move a message to {queue}, requeueing: {e}");
                Settle::Requeue
            }
        }
    }
}
