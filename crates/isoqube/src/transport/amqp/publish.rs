//! Publishing: persistent MassTransit messages with publisher confirms, on a
//! shared channel for events (unroutable is fine) and on the routed channel
//! for `mandatory` run steps (unroutable is [`Error::Unroutable`]); a publish
//! that a connection loss or a closed channel interrupts is tried again
//! within its deadline.
//!
//! May use: [`super::connection`], [`super::routed`], [`super::headers`],
//! [`super::errors`], the seam's
//! [`OutgoingMessage`], the ground layer (`crate::error`) and lapin.

use std::sync::Arc;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, ExchangeKind};
use tokio::time::Instant;
use tracing::debug;

use super::super::OutgoingMessage;
use super::connection::{Inner, Live};
use super::errors::{LapinFailure, NOT_FOUND};
use super::headers::amqp_properties;
use super::routed::{Fate, RoutedChannel};
use crate::error::{Error, Result};

impl Inner {
    /// Publishes with confirms; `mandatory` makes an unroutable message an
    /// [`Error::Unroutable`] (run steps), otherwise it is dropped quietly (events).
    pub(super) async fn publish_with(
        &self,
        exchange: &str,
        message: OutgoingMessage,
        mandatory: bool,
    ) -> Result<()> {
        let deadline = Instant::now() + self.timeout();
        let ex = self.name(exchange)?;
        let properties = amqp_properties(
            &message.message_id,
            message.correlation_id.as_deref(),
            &message.headers,
            &message.properties,
        )?;
        let mut channel_retries = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let live = self
                .live(remaining)
                .await
                .map_err(|e| Error::Transport(format!("publishing to '{ex}' failed: {e}")))?;
            let attempt = tokio::time::timeout_at(
                deadline,
                self.publish_once(
                    &live,
                    &ex,
                    &message,
                    properties.clone(),
                    deadline,
                    mandatory,
                ),
            )
            .await
            .unwrap_or_else(|_| {
                Err(Error::Transport(format!(
                    "publishing to '{ex}': no confirmation within {:?}",
                    self.timeout()
                ))
                .into())
            });
            let time_left = Instant::now() < deadline;
            match attempt {
                Ok(()) => return Ok(()),
                // The connection died under the publish: try again on the next one.
                Err(PublishError {
                    error: Error::Transport(e),
                    ..
                }) if !live.alive() && time_left => {
                    debug!("publish interrupted by a connection loss, retrying: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                // The shared channel closed under it (another publish's error
                // closes it for all): once more on a new channel. The message may
                // have arrived already; a step message twice is recorded once.
                Err(PublishError {
                    error,
                    channel_closed: true,
                }) if time_left && channel_retries < 2 => {
                    channel_retries += 1;
                    debug!("the publishing channel closed under a publish, retrying: {error}");
                }
                Err(PublishError { error, .. }) => return Err(error),
            }
        }
    }

    /// Whether `exchange` (prefixed) exists, checked passively once per
    /// connection while it does.
    async fn ensure_exchange(&self, live: &Live, exchange: &ShortString) -> Result<bool> {
        if live.known_exchanges().contains(exchange.as_str()) {
            return Ok(true);
        }
        let name = exchange.clone();
        let exists = self
            .admin(
                live,
                &format!("publishing to exchange '{exchange}'"),
                |c| async move {
                    let declared = c
                        .exchange_declare(
                            name,
                            ExchangeKind::Fanout,
                            ExchangeDeclareOptions {
                                passive: true,
                                ..Default::default()
                            },
                            FieldTable::default(),
                        )
                        .await;
                    // The broker closes the channel; the next use opens another.
                    match declared {
                        Err(e) if matches!(e.kind(), lapin::ErrorKind::ProtocolError(p) if p.get_id() == NOT_FOUND) => {
                            Ok(false)
                        }
                        other => other.map(|()| true),
                    }
                },
            )
            .await?;
        if exists {
            live.known_exchanges().insert(exchange.to_string());
        }
        Ok(exists)
    }

    /// A mandatory message reached no queue; the error carries the name the
    /// caller used, without the prefix.
    fn unroutable(&self, exchange: &ShortString) -> Error {
        let plain = exchange
            .as_str()
            .strip_prefix(self.config.prefix.as_str())
            .unwrap_or(exchange.as_str());
        Error::Unroutable(plain.to_string())
    }

    /// The channel in `slot`, opened (with confirms on) when there is none or it closed.
    async fn confirm_channel(&self, live: &Live, slot: &mut Option<Channel>) -> Result<Channel> {
        if let Some(c) = slot.as_ref() {
            if c.status().connected() {
                return Ok(c.clone());
            }
        }
        let c = live
            .conn
            .create_channel()
            .await
            .map_err(|e| self.err("cannot open a publishing channel", e))?;
        c.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| self.err("cannot turn publisher confirms on", e))?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// The channel for mandatory publishes, opened when there is none or it closed.
    async fn routed(&self, live: &Live) -> Result<Arc<RoutedChannel>> {
        if let Some(r) = live.routed_channel() {
            return Ok(r);
        }
        let _opening = live.routed_opening.lock().await;
        if let Some(r) = live.routed_channel() {
            return Ok(r);
        }
        let mut slot = None;
        let c = self.confirm_channel(live, &mut slot).await?;
        let r = Arc::new(RoutedChannel::new(c));
        *live.routed.lock().unwrap_or_else(|p| p.into_inner()) = Some(r.clone());
        Ok(r)
    }

    async fn publish_once(
        &self,
        live: &Live,
        exchange: &ShortString,
        message: &OutgoingMessage,
        properties: BasicProperties,
        deadline: Instant,
        mandatory: bool,
    ) -> std::result::Result<(), PublishError> {
        if !self.ensure_exchange(live, exchange).await? {
            // No exchange, so no queue bound to it: a run step reached no consumer.
            return Err(match mandatory {
                true => self.unroutable(exchange),
                false => Error::Transport(format!(
                    "publishing to exchange '{exchange}': it does not exist"
                )),
            }
            .into());
        }
        let mut shared = None;
        let fate = if mandatory {
            let routed = self.routed(live).await?;
            let fate = routed.publish(exchange.clone(), message.body.clone(), properties);
            shared = Some(routed);
            match tokio::time::timeout_at(deadline, fate).await {
                Err(_) => return Err(self.unconfirmed(exchange).into()),
                Ok(Ok(fate)) => fate,
                Ok(Err(_)) => {
                    return Err(PublishError {
                        error: Error::Transport(format!(
                            "publishing to '{exchange}': the publishing channel closed"
                        )),
                        channel_closed: true,
                    })
                }
            }
        } else {
            let channel = {
                let mut slot = live.publish.lock().await;
                self.confirm_channel(live, &mut slot).await?
            };
            let published = channel
                .basic_publish(
                    exchange.clone(),
                    ShortString::default(),
                    BasicPublishOptions::default(),
                    &message.body,
                    properties,
                )
                .await;
            match published {
                Ok(confirm) => match tokio::time::timeout_at(deadline, confirm).await {
                    Err(_) => return Err(self.unconfirmed(exchange).into()),
                    Ok(Ok(confirmation)) => Fate::of(confirmation),
                    Ok(Err(e)) => Fate::Failed(e),
                },
                Err(e) => Fate::Failed(e),
            }
        };
        match fate {
            Fate::Routed => Ok(()),
            Fate::Unroutable => Err(self.unroutable(exchange).into()),
            Fate::Nacked => Err(Error::Transport(format!(
                "publishing to '{exchange}': the broker refused the message (nack)"
            ))
            .into()),
            Fate::Failed(e) => {
                let failure = LapinFailure(e);
                if failure.code() == Some(NOT_FOUND) {
                    // deleted since it was checked: check again next time
                    live.known_exchanges().remove(exchange.as_str());
                }
                Err(PublishError {
                    error: failure
                        .into_error(&self.secrets, &format!("publishing to '{exchange}'")),
                    // The shared channel closed under this publish, maybe for
                    // another publish's error: worth trying on a new one.
                    channel_closed: shared.is_some_and(|r| !r.usable()),
                })
            }
        }
    }

    fn unconfirmed(&self, exchange: &ShortString) -> Error {
        Error::Transport(format!(
            "publishing to '{exchange}': the broker did not confirm within {:?}",
            self.timeout()
        ))
    }
}

/// A failed publish attempt.
struct PublishError {
    error: Error,
    /// It failed because the shared step-publishing channel closed (any
    /// publish's error closes it for all in flight on it).
    channel_closed: bool,
}

impl From<Error> for PublishError {
    fn from(error: Error) -> Self {
        PublishError {
            error,
            channel_closed: false,
        }
    }
}
