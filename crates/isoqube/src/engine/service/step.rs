//! Engine layer: one run step's handling, the chain rule: claim the step in the
//! store, run the consumer (see [`super::invoke`]), record the outcome, publish
//! the next step, and only then ack; redeliveries and crashes between recording
//! and publishing are recognised from the stored run.

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::consumer::HandlerError;
use crate::engine::telemetry::LIFECYCLE;
use crate::error::{Error, Result};
use crate::model::{ClaimOutcome, CompleteOutcome, FailOutcome, NextStep, StepKey};
use crate::transport::{RawMessage, ERROR_SUFFIX};
use crate::wire::envelope::Incoming;
use crate::wire::lineage::Parent;

use super::{step_error, Endpoint, Settle};

impl Endpoint {
    pub(super) async fn process_step(
        &self,
        msg: &RawMessage,
        env: &Incoming<'_>,
        run_id: Uuid,
        step: usize,
    ) -> Settle {
        let compensates = env.compensates().map(str::to_string);
        let key = StepKey::new(
            run_id,
            step,
            self.name.clone(),
            self.shared.instance.clone(),
        );
        let key = match compensates {
            Some(_) => key.compensating(),
            None => key,
        };
        let parent = Parent::consumed(env, &self.name).with_priority(msg.properties.priority);
        let definition = env.definition().unwrap_or_default().to_string();
        // Named, so a store call retried after a lost answer knows its own write.
        let key = key.started(chrono::Utc::now()).handled(Uuid::new_v4());
        // A first delivery's start is recorded with its outcome when the step is
        // quick (see `ServiceBuilder::record_start_after`); a redelivery's before
        // the consumer runs, so an interrupted handling is visible at once.
        let record_later = self.shared.record_start_after.filter(|_| !msg.redelivered);
        let claim = Box::pin(self.store_op("claim the step", || async {
            match record_later {
                Some(_) => self.shared.store.claim_step_unrecorded(&key).await,
                None => Ok((
                    self.shared.store.claim_step(&key, msg.redelivered).await?,
                    true,
                )),
            }
        }))
        .await;
        let (variables, prior, step_count, timeout, recorded) = match claim {
            Ok((
                ClaimOutcome::Claimed {
                    variables,
                    attempts,
                    step_count,
                    timeout_ms,
                },
                recorded,
            )) => (
                variables,
                attempts,
                step_count,
                timeout_ms.map(Duration::from_millis),
                recorded,
            ),
            Ok((ClaimOutcome::AlreadyDone { republish }, _)) => {
                info!("step already done here; not running it again");
                if republish.is_empty() {
                    return Settle::Ack;
                }
                let next = match self.shared.record_start_after {
                    None => republish,
                    // A quick next step records its start with its outcome:
                    // give it time to show up before concluding it was never
                    // published, or it would be published (and run) twice.
                    Some(after) => match self.still_unpublished(&key, after * 2).await {
                        Ok(next) if next.is_empty() => return Settle::Ack,
                        Ok(next) => next,
                        Err(e) if e.is_transient() => {
                            error!("store unavailable, requeueing: {e}");
                            return Settle::Requeue;
                        }
                        Err(e) => {
                            // Better a duplicate (recorded once) than a run stuck.
                            warn!("cannot check the next steps again, publishing them anyway: {e}");
                            republish
                        }
                    },
                };
                info!(
                    next = ?next.iter().map(|n| n.index + 1).collect::<Vec<_>>(),
                    "the next steps were never picked up; publishing them again"
                );
                return Box::pin(self.publish_all(run_id, &definition, &next, &parent)).await;
            }
            Ok((ClaimOutcome::InFlight, _)) => {
                info!("another copy of this step is being handled; dropping this one");
                return Settle::Ack;
            }
            Ok((ClaimOutcome::Cancelled, _)) => {
                info!("run cancelled; step not run");
                return Settle::Ack;
            }
            Ok((ClaimOutcome::NotRunning(status), _)) => {
                info!("run is {}; step not run", status.as_str());
                return Settle::Ack;
            }
            Ok((ClaimOutcome::NotDue { waits_for, status }, _)) => {
                // Numbered from 1, as every list of steps shown to people is.
                let reason = format!(
                    "run {run_id}: step {} ({}) is not due: it waits for step {}, which is {:?}",
                    step + 1,
                    self.info.name,
                    waits_for + 1,
                    status
                );
                error!(
                    "{reason}; step not run, message moved to {}{ERROR_SUFFIX}",
                    self.name
                );
                let err = HandlerError::new("isoqube::StepNotDue", reason, false);
                return self.dead_letter(ERROR_SUFFIX, msg, Some(&err), 0).await;
            }
            Err(e) if e.is_transient() => {
                error!("store unavailable, requeueing: {e}");
                return Settle::Requeue;
            }
            Err(e) => {
                // Not transient: a corrupt run record, say, never parses on a
                // later try, so the message goes aside and the endpoint goes on.
                error!("cannot handle this step message: {e}");
                return self
                    .dead_letter(ERROR_SUFFIX, msg, Some(&step_error(&e)), 0)
                    .await;
            }
        };
        let started = Instant::now();
        let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
        let run_step = super::invoke::RunStep {
            run_id,
            step,
            step_count,
            timeout,
            cancel: cancel_rx,
            compensates,
            redelivered: msg.redelivered,
        };
        let invoke = Box::pin(self.invoke(env, Some(run_step), variables, prior));
        let handled = async {
            match record_later.filter(|_| !recorded) {
                None => invoke.await,
                Some(after) => {
                    let mut invoke = invoke;
                    tokio::select! {
                        done = &mut invoke => done,
                        _ = tokio::time::sleep(after) => {
                            // Still running: let watchers see it. The outcome is
                            // recorded after this, whatever it says.
                            let record = async {
                                if let Err(e) = self.shared.store.claim_step(&key, false).await {
                                    warn!("could not record the step's start (its outcome will be): {e}");
                                }
                            };
                            tokio::join!(invoke, record).0
                        }
                    }
                }
            }
        };
        let (result, attempts, patch) = tokio::select! {
            done = handled => done,
            () = self.watch_cancel(run_id, key.compensation, &cancel_tx) => {
                // The run was cancelled and the consumer did not stop within
                // the grace: it is dropped; the step is recorded cancelled.
                let reason = "the run was cancelled; the step did not stop within the cancel grace";
                warn!("{reason}; consumer dropped");
                let recorded = self.store_op("record the cancelled step", || {
                    self.shared.store.fail_step(&key, reason, 1)
                }).await;
                return match recorded {
                    // Cancelled to be compensated: this step was the last
                    // in flight, so the compensation starts here.
                    Ok(FailOutcome::Compensate { next }) => {
                        Box::pin(self.publish_all(run_id, &definition, &next, &parent)).await
                    }
                    Ok(_) => Settle::Ack,
                    Err(e) => {
                        error!("could not record the cancelled step: {e}");
                        Settle::Ack
                    }
                };
            }
        };
        if *cancel_tx.borrow() {
            // Stopped after its run was cancelled (it saw `ctx.cancelled()`):
            // recorded as such, whatever it returned, and not dead-lettered.
            info!("step stopped after its run was cancelled");
            let next = match &result {
                Ok(()) => self
                    .store_op("record the step", || {
                        self.shared
                            .store
                            .complete_step(&key, patch.clone(), attempts)
                    })
                    .await
                    .map(|outcome| match outcome {
                        CompleteOutcome::Compensate { next } => next,
                        _ => Vec::new(),
                    }),
                Err(err) => {
                    let reason = err.to_string();
                    self.store_op("record the step", || {
                        self.shared.store.fail_step(&key, &reason, attempts)
                    })
                    .await
                    .map(|outcome| match outcome {
                        FailOutcome::Compensate { next } => next,
                        _ => Vec::new(),
                    })
                }
            };
            return match next {
                // Cancelled to be compensated: the compensation starts with
                // the last step in flight.
                Ok(next) if !next.is_empty() => {
                    Box::pin(self.publish_all(run_id, &definition, &next, &parent)).await
                }
                Ok(_) => Settle::Ack,
                Err(e) => {
                    error!("could not record the cancelled step: {e}");
                    Settle::Ack
                }
            };
        }
        match result {
            Ok(()) => {
                let outcome = Box::pin(self.store_op("record the step", || {
                    self.shared
                        .store
                        .complete_step(&key, patch.clone(), attempts)
                }))
                .await;
                match outcome {
                    Ok(CompleteOutcome::Advanced { next }) => {
                        info!(
                            target: LIFECYCLE,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "step succeeded"
                        );
                        Box::pin(self.publish_all(run_id, &definition, &next, &parent)).await
                    }
                    Ok(CompleteOutcome::Finished) => {
                        info!(
                            target: LIFECYCLE,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "step succeeded; run succeeded"
                        );
                        Settle::Ack
                    }
                    Ok(CompleteOutcome::Recorded) => {
                        info!("step succeeded here; the run was already advanced");
                        Settle::Ack
                    }
                    Ok(CompleteOutcome::Cancelled) => {
                        info!("step finished but the run was cancelled; step marked cancelled");
                        Settle::Ack
                    }
                    Ok(CompleteOutcome::Compensate { next }) => {
                        info!(
                            target: LIFECYCLE,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            compensations = ?next.iter().map(|n| n.index + 1).collect::<Vec<_>>(),
                            "{} succeeded; the run is compensating",
                            if key.compensation { "compensation" } else { "step" }
                        );
                        Box::pin(self.publish_all(run_id, &definition, &next, &parent)).await
                    }
                    Ok(CompleteOutcome::Compensated) => {
                        info!(
                            target: LIFECYCLE,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "compensation succeeded; run compensated"
                        );
                        Settle::Ack
                    }
                    Err(e) if e.is_corrupt() => {
                        error!("could not record the step: {e}");
                        self.dead_letter(ERROR_SUFFIX, msg, Some(&step_error(&e)), attempts)
                            .await
                    }
                    Err(e) => {
                        error!("could not record the step, requeueing: {e}");
                        Settle::Requeue
                    }
                }
            }
            Err(err) => {
                // The step's count, as the run record keeps it (`prior` from
                // earlier deliveries and resumes), not this delivery's alone.
                error!(attempts = prior + attempts, "step failed: {err}");
                if let Settle::Requeue = self
                    .dead_letter(ERROR_SUFFIX, msg, Some(&err), attempts)
                    .await
                {
                    return Settle::Requeue;
                }
                let reason = err.to_string();
                match self
                    .store_op("record the failure", || {
                        self.shared.store.fail_step(&key, &reason, attempts)
                    })
                    .await
                {
                    Ok(FailOutcome::RunFailed) => {
                        error!("run failed at step {}", step + 1);
                        Settle::Ack
                    }
                    Ok(FailOutcome::Tolerated { next }) => {
                        warn!("optional step failed; the run goes on");
                        Box::pin(self.publish_all(run_id, &definition, &next, &parent)).await
                    }
                    Ok(FailOutcome::Finished) => {
                        warn!("optional step failed; run succeeded");
                        Settle::Ack
                    }
                    Ok(FailOutcome::Compensate { next }) => {
                        error!(
                            compensations = ?next.iter().map(|n| n.index + 1).collect::<Vec<_>>(),
                            "run failed at step {}; compensating what it did",
                            step + 1
                        );
                        Box::pin(self.publish_all(run_id, &definition, &next, &parent)).await
                    }
                    Ok(FailOutcome::CompensationFailed) => {
                        error!(
                            "compensation of step {} failed; the run is CompensationFailed (resume it to try again)",
                            step + 1
                        );
                        Settle::Ack
                    }
                    Ok(_) => Settle::Ack,
                    Err(e) => {
                        error!("could not record the failure: {e}");
                        Settle::Ack
                    }
                }
            }
        }
    }

    /// Resolves when run `run_id` was found cancelled (checked every
    /// `cancel_poll` while the step runs; `cancel` then fires) and the cancel
    /// grace has passed since. Pending for ever otherwise: the step's own end
    /// wins the race.
    async fn watch_cancel(
        &self,
        run_id: Uuid,
        compensation: bool,
        cancel: &tokio::sync::watch::Sender<bool>,
    ) {
        loop {
            tokio::time::sleep(self.shared.cancel_poll).await;
            match self.shared.store.get_run(run_id).await {
                // Cancelled, or a forward step of a run cancelled to be
                // compensated (told to stop either way; the compensation
                // itself is what the operator asked for).
                Ok(Some(run))
                    if run.status == crate::model::RunStatus::Cancelled
                        || (!compensation
                            && run.status == crate::model::RunStatus::Compensating
                            && run.cancelled_at.is_some()) =>
                {
                    break
                }
                // A store outage is ridden out: the step goes on meanwhile.
                _ => {}
            }
        }
        info!("run cancelled while the step runs; telling the consumer (ctx.cancelled())");
        let _ = cancel.send(true);
        tokio::time::sleep(self.shared.cancel_grace).await;
    }

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
                let reason = format!(
                    "step {} ({}) has no consumer bound to exchange '{ex}'",
                    next.index + 1,
                    next.event
                );
                error!("{reason}; failing the run");
                if let Err(e) = self.shared.store.abort_run(run_id, &reason).await {
                    error!("could not mark the run failed: {e}");
                }
                Settle::Ack
            }
            Err(e) => {
                error!("could not publish step {}, requeueing: {e}", next.index + 1);
                Settle::Requeue
            }
        }
    }
}
