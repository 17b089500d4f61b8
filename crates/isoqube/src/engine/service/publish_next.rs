//! Engine layer: what a step's handling publishes before it acks: the steps
//! (or undos) the store named next, again after a crash between recording
//! and publishing, and the failure of a step whose message reaches no queue
//! (recorded as any failure, so the run compensates). Uses the endpoint's
//! publisher and store.

use std::time::Duration;

use futures_util::future::BoxFuture;
use tracing::error;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::model::{ClaimOutcome, FailOutcome, NextStep, StepKey};
use crate::wire::lineage::Parent;

use super::{Endpoint, Settle};

impl Endpoint {
    /// After `wait`, the step to publish again if the step after `key`'s is
    /// still not picked up (see `ClaimOutcome::AlreadyDone`), else `None`.
    /// [`Self::check_unpublished`], boxed: rarely needed, and its state would
    /// otherwise make every delivery's task larger (copied and allocated
    /// per delivery).
    pub(super) fn still_unpublished<'a>(
        &'a self,
        key: &'a StepKey,
        wait: Duration,
    ) -> BoxFuture<'a, Result<Vec<NextStep>>> {
        Box::pin(self.check_unpublished(key, wait))
    }

    pub(super) async fn check_unpublished(
        &self,
        key: &StepKey,
        wait: Duration,
    ) -> Result<Vec<NextStep>> {
        tokio::time::sleep(wait).await;
        let again = self
            .store_op("check the next step", || {
                self.shared.store.claim_step(key, true)
            })
            .await?;
        Ok(match again {
            ClaimOutcome::AlreadyDone { republish } => republish,
            _ => Vec::new(),
        })
    }

    /// Publishes each step of `next`; requeues the consumed message when one
    /// cannot be published (its redelivery publishes what is still unpicked).
    pub(super) async fn publish_all(
        &self,
        run_id: Uuid,
        definition: &str,
        next: &[NextStep],
        parent: &Parent,
    ) -> Settle {
        for step in next {
            if let Settle::Requeue = self.publish_next(run_id, definition, step, parent).await {
                return Settle::Requeue;
            }
        }
        Settle::Ack
    }

    pub(super) async fn publish_next(
        &self,
        run_id: Uuid,
        definition: &str,
        next: &NextStep,
        parent: &Parent,
    ) -> Settle {
        match self
            .publisher
            .send_step(run_id, definition, next, parent)
            .await
        {
            Ok(()) => Settle::Ack,
            Err(Error::Unroutable(ex)) => {
                let reason = crate::engine::publish::unroutable_reason(&ex);
                Box::pin(self.fail_unpublished(run_id, definition, next, &reason, parent)).await
            }
            Err(e) => {
                error!("could not publish step {}, requeueing: {e}", next.index + 1);
                Settle::Requeue
            }
        }
    }

    /// `next` reached no queue: a step failure like any other (recorded, then
    /// the run compensates, or goes on past an optional step), so what the
    /// store decides is published in turn.
    async fn fail_unpublished(
        &self,
        run_id: Uuid,
        definition: &str,
        next: &NextStep,
        reason: &str,
        parent: &Parent,
    ) -> Settle {
        let what = match &next.compensates {
            Some(step) => format!("the undo of {step} ({})", next.event),
            None => format!("step {} ({})", next.index + 1, next.event),
        };
        error!("{what} cannot be published: {reason}; recorded as failed");
        let outcome = self
            .store_op("record the unpublished step", || {
                self.shared.store.fail_unpublished(run_id, next, reason)
            })
            .await;
        match outcome {
            Ok(FailOutcome::Compensate { next } | FailOutcome::Tolerated { next }) => {
                self.publish_all(run_id, definition, &next, parent).await
            }
            Ok(_) => Settle::Ack,
            Err(e) if e.is_transient() => {
                // The redelivery publishes it again, and records it then.
                error!("store unavailable, requeueing: {e}");
                Settle::Requeue
            }
            Err(e) => {
                error!("could not record the unpublished step: {e}");
                Settle::Ack
            }
        }
    }
}
