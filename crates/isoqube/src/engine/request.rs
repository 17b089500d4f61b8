//! The request client of a [`Publisher`]: sending a request (`requestId` +
//! `responseAddress`, as MassTransit's request client writes them) and
//! awaiting its typed response, its `Fault<T>` or a timeout.
//!
//! The responses come back on the publisher's response endpoint
//! ([`super::responses`]).

use std::time::Duration;

use tokio::sync::oneshot;

use super::publish::Publisher;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::wire::envelope::{new_message_id, Envelope};
use crate::wire::lineage::Parent;
use crate::wire::urn::same_type;

impl Publisher {
    /// Sends `request` to the consumers of `Req` and waits up to `timeout`
    /// for the response, as a MassTransit request client does: the message
    /// carries a new `requestId` and this publisher's temporary response
    /// endpoint as `responseAddress`. A MassTransit consumer's
    /// `RespondAsync` and an Isoqube consumer's `StepContext::respond` both
    /// answer there.
    ///
    /// Errors: [`Error::Timeout`] when no response comes in time,
    /// [`Error::Faulted`] when the consumer failed for good (its `Fault<Req>`
    /// came back), [`Error::Unroutable`] when no consumer of `Req` is bound,
    /// [`Error::Malformed`] when the response is of another type or does not
    /// decode as `Resp`.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::{sync::Arc, time::Duration};
    /// use isoqube::{Error, InProcessTransport, Publisher, Registry};
    /// #[isoqube::event]
    /// #[derive(Debug, serde::Serialize, serde::Deserialize)]
    /// struct Ask { text: String }
    /// let registry = Arc::new(Registry::linked().unwrap());
    /// let publisher = Publisher::new(Arc::new(InProcessTransport::new()), registry, None, "doc");
    /// // Nobody consumes `Ask` here (not even its exchange is declared):
    /// // refused at once, no timeout to wait for.
    /// let asked = std::time::Instant::now();
    /// let e = publisher.request::<Ask, Ask>(&Ask { text: "?".into() }, Duration::from_secs(5)).await;
    /// assert!(matches!(e, Err(Error::Unroutable(_) | Error::Transport(_))), "{e:?}");
    /// assert!(asked.elapsed() < Duration::from_secs(5));
    /// # });
    /// ```
    pub async fn request<Req: Event, Resp: Event>(
        &self,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp> {
        let req = Req::info();
        let payload = serde_json::to_value(request)
            .map_err(|e| Error::Malformed(format!("event {} does not serialise: {e}", req.name)))?;
        let endpoint = self.response_endpoint().await?;
        let request_id = new_message_id().to_string();
        let (tx, rx) = oneshot::channel();
        endpoint
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(request_id.clone(), tx);
        let forget = || {
            endpoint
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&request_id);
        };
        let mut env = self.envelope_for(req.message_type(), payload, &Parent::default());
        env.request_id = Some(request_id.clone());
        env.response_address = Some(endpoint.address.clone());
        if let Err(e) = self.send_request(&req.exchange_name(), &mut env).await {
            forget();
            return Err(e);
        }
        let response = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(env)) => env,
            Ok(Err(_)) => {
                return Err(Error::Transport(format!(
                "the response endpoint '{}' stopped before the response to {} ({request_id}) came",
                endpoint.name(), req.name
            )))
            }
            Err(_) => {
                forget();
                return Err(Error::Timeout(format!(
                    "request {} ({request_id}) got no response within {timeout:?}",
                    req.name
                )));
            }
        };
        decode_response::<Resp>(req.name, &response)
    }
}

/// The response as `Resp`, or the fault it reports.
fn decode_response<Resp: Event>(request: &str, env: &Envelope) -> Result<Resp> {
    let want = Resp::info();
    if env.message_type.iter().any(|t| want.matches_urn(t)) {
        return serde_json::from_value(env.message.clone()).map_err(|e| {
            Error::Malformed(format!(
                "the response to {request} does not decode as {}: {e}",
                want.name
            ))
        });
    }
    let fault = env
        .message_type
        .iter()
        .any(|t| same_type(t, "urn:message:MassTransit:Fault"));
    if fault {
        let exceptions = env.message["exceptions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let why: Vec<String> = exceptions
            .iter()
            .map(|x| {
                format!(
                    "{}: {}",
                    x["exceptionType"].as_str().unwrap_or("?"),
                    x["message"].as_str().unwrap_or("")
                )
            })
            .collect();
        return Err(Error::Faulted(format!(
            "the consumer of {request} failed: {}",
            if why.is_empty() {
                "no reason given".to_string()
            } else {
                why.join("; ")
            }
        )));
    }
    Err(Error::Malformed(format!(
        "the response to {request} is {:?}, not {}",
        env.message_type,
        want.message_type()
    )))
}
