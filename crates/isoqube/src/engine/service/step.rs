//! Engine layer: one run step's handling, the chain rule, as its phases:
//! [`claim`](Endpoint::claim) the step in the store, [`run`](Endpoint::run_claimed)
//! the consumer (see [`super::invoke`]), [`record`](Endpoint::record) the
//! outcome, and [`settle`](Endpoint::settle) the message: publish what the
//! store named next, and only then ack. Each phase answers with what settles
//! the delivery ([`Next`]), so "publish next, then ack" is decided in one
//! place for every path (a success, a failure, a cancellation, a redelivery
//! of a step already done). Redeliveries and crashes between recording and
//! publishing are recognised from the stored run.

use std::time::{Duration, Instant};

use tracing::{error, info, warn};
use uuid::Uuid;

use crate::consumer::HandlerError;
use crate::engine::telemetry::LIFECYCLE;
use crate::model::{
    ClaimOutcome, CompleteOutcome, FailOutcome, NextStep, RunStatus, StepKey, StepStatus, Variables,
};
use crate::transport::{RawMessage, ERROR_SUFFIX};
use crate::wire::envelope::Incoming;
use crate::wire::lineage::Parent;

use super::{step_error, Endpoint, Settle};

/// One delivery's handling of a run step: what every phase needs.
struct Handling<'m> {
    msg: &'m RawMessage,
    run_id: Uuid,
    step: usize,
    /// Names this handling in the store (its endpoint, instance, start, id
    /// and time budget).
    key: StepKey,
    /// The lineage the messages it publishes carry.
    parent: Parent,
    definition: String,
    /// For a compensation: the name of the step it undoes.
    compensates: Option<String>,
    /// When the start is recorded only if the step runs this long (a first
    /// delivery's; see [`super::ServiceBuilder::record_start_after`]).
    record_later: Option<Duration>,
}

/// What settles a delivery, as a phase decided it; [`Endpoint::settle`]
/// carries it out.
enum Next {
    /// Publish these steps (or undos), then ack.
    Publish(Vec<NextStep>),
    Ack,
    /// Nothing was decided (the store is down): the broker delivers it again.
    Requeue,
    /// Move the message aside to `<q>_error` with this fault and its attempts.
    DeadLetter(HandlerError, u32),
}

/// The claim's answer: run the consumer, or settle at once.
enum Claim {
    Run(Claimed),
    Done(Next),
}

/// A claimed step: what the consumer runs with.
struct Claimed {
    variables: Variables,
    /// Earlier invocations by this endpoint (deliveries before, resumes).
    prior: u32,
    /// Of those, the ones in a row lost with their process.
    lost: u32,
    /// Of those, the ones the current retry budget has used (lost ones,
    /// and those retried later): they count against the retry policy.
    used: u32,
    step_count: usize,
    /// Each attempt's limit: the step's `timeout`, else the service's default.
    timeout: Option<Duration>,
    /// The claim is in the store already.
    recorded: bool,
}

/// How the consumer ended.
enum Ran {
    /// It returned its last result after `attempts` invocations (this
    /// delivery's), with what it set when it succeeded.
    Returned {
        result: Result<(), HandlerError>,
        attempts: u32,
        patch: Variables,
        /// Its run was cancelled while it ran (it was told through the context).
        cancelled: bool,
        started: Instant,
        /// Invocations before this delivery's.
        prior: u32,
        /// It failed and its next attempt is this far off: the store's timer
        /// runs it ([`ServiceBuilder::durable_retries_after`](super::ServiceBuilder::durable_retries_after)).
        retry_in: Option<Duration>,
    },
    /// Its run was cancelled and it did not stop within the grace: dropped.
    Dropped,
}

impl Endpoint {
    pub(super) async fn process_step(
        &self,
        msg: &RawMessage,
        env: &Incoming<'_>,
        run_id: Uuid,
        step: usize,
    ) -> Settle {
        let h = self.handling(msg, env, run_id, step);
        let (_held, waited) = self.in_hand.hold(run_id, step, h.key.compensation).await;
        if waited {
            info!("another copy of this step was being handled here; this one came after it");
        }
        let next = match Box::pin(self.claim(&h)).await {
            Claim::Run(claimed) if claimed.lost >= self.shared.lost_limit => {
                Box::pin(self.record(&h, self.budget_lost(&claimed))).await
            }
            Claim::Run(claimed) => {
                let ran = self.run_claimed(&h, env, claimed).await;
                Box::pin(self.record(&h, ran)).await
            }
            Claim::Done(next) => next,
        };
        self.settle(&h, next).await
    }

    fn handling<'m>(
        &self,
        msg: &'m RawMessage,
        env: &Incoming<'_>,
        run_id: Uuid,
        step: usize,
    ) -> Handling<'m> {
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
        Handling {
            msg,
            run_id,
            step,
            // Named, so a store call retried after a lost answer knows its own write.
            key: key
                .started(chrono::Utc::now())
                .handled(Uuid::new_v4())
                .within(self.budget),
            parent: Parent::consumed(env, &self.name).with_priority(msg.properties.priority),
            definition: env.definition().unwrap_or_default().to_string(),
            compensates,
            // A first delivery's start is recorded with its outcome when the
            // step is quick; a redelivery's before the consumer runs, so an
            // interrupted handling is visible at once.
            record_later: self.shared.record_start_after.filter(|_| !msg.redelivered),
        }
    }

    /// Decides on the stored run whether the consumer runs.
    async fn claim(&self, h: &Handling<'_>) -> Claim {
        let store = &self.shared.store;
        let claim = self
            .store_op("claim the step", || async {
                match h.record_later {
                    Some(_) => store.claim_step_unrecorded(&h.key).await,
                    None => Ok((store.claim_step(&h.key, h.msg.redelivered).await?, true)),
                }
            })
            .await;
        let next = match claim {
            Ok((
                ClaimOutcome::Claimed {
                    variables,
                    attempts,
                    step_count,
                    timeout_ms,
                    lost,
                    used,
                },
                recorded,
            )) => {
                return Claim::Run(Claimed {
                    variables,
                    prior: attempts,
                    lost,
                    used,
                    step_count,
                    timeout: timeout_ms
                        .map(Duration::from_millis)
                        .or(self.shared.default_step_timeout),
                    recorded,
                })
            }
            Ok((ClaimOutcome::AlreadyDone { republish }, _)) => self.republish(h, republish).await,
            Ok((ClaimOutcome::InFlight, _)) => {
                info!("another copy of this step is being handled; dropping this one");
                Next::Ack
            }
            Ok((ClaimOutcome::Cancelled, _)) => {
                info!("run cancelled; step not run");
                Next::Ack
            }
            Ok((ClaimOutcome::NotRunning(status), _)) => {
                info!("run is {}; step not run", status.as_str());
                Next::Ack
            }
            Ok((ClaimOutcome::NotDue { waits_for, status }, _)) => {
                self.not_due(h, waits_for, status)
            }
            Err(e) if e.is_transient() => {
                error!("store unavailable, requeueing: {e}");
                Next::Requeue
            }
            Err(e) => {
                // Not transient: a corrupt run record, say, never parses on a
                // later try, so the message goes aside and the endpoint goes on.
                error!("cannot handle this step message: {e}");
                Next::DeadLetter(step_error(&e), 0)
            }
        };
        Claim::Done(next)
    }

    /// The step is done here already: publish again what it made due and
    /// nobody picked up (its process died between recording and publishing).
    async fn republish(&self, h: &Handling<'_>, republish: Vec<NextStep>) -> Next {
        info!("step already done here; not running it again");
        if republish.is_empty() {
            return Next::Ack;
        }
        let next = match self.shared.record_start_after {
            None => republish,
            // A quick next step records its start with its outcome: give it
            // time to show up before concluding it was never published, or it
            // would be published (and run) twice.
            Some(after) => match self.still_unpublished(&h.key, after * 2).await {
                Ok(next) if next.is_empty() => return Next::Ack,
                Ok(next) => next,
                Err(e) if e.is_transient() => {
                    error!("store unavailable, requeueing: {e}");
                    return Next::Requeue;
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
        Next::Publish(next)
    }

    /// A message for a step that may not run yet never runs: it goes aside.
    fn not_due(&self, h: &Handling<'_>, waits_for: usize, status: StepStatus) -> Next {
        // Numbered from 1, as every list of steps shown to people is.
        let reason = format!(
            "run {}: step {} ({}) is not due: it waits for step {}, which is {status:?}",
            h.run_id,
            h.step + 1,
            self.info.name,
            waits_for + 1,
        );
        error!(
            "{reason}; step not run, message moved to {}{ERROR_SUFFIX}",
            self.name
        );
        Next::DeadLetter(HandlerError::new("isoqube::StepNotDue", reason, false), 0)
    }

    /// The step's retry budget went to attempts lost with their process
    /// (each delivery killed it, say): it is not run again, and fails as a
    /// consumer that ran out of retries does.
    fn budget_lost(&self, c: &Claimed) -> Ran {
        let reason = format!(
            "not run again: its last {} attempts stopped with their process (killed mid-step, or its channel closed) before recording an outcome; {} such attempts in a row end a step",
            c.lost, self.shared.lost_limit
        );
        Ran::Returned {
            result: Err(HandlerError::new("isoqube::AttemptsLost", reason, false)),
            attempts: 0,
            patch: Variables::new(),
            cancelled: false,
            started: Instant::now(),
            prior: c.prior,
            retry_in: None,
        }
    }

    /// Runs the consumer with its retries, recording its start when it runs
    /// longer than `record_later`, and watching its run for a cancellation.
    async fn run_claimed(&self, h: &Handling<'_>, env: &Incoming<'_>, c: Claimed) -> Ran {
        let started = Instant::now();
        let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
        let run_step = super::invoke::RunStep {
            run_id: h.run_id,
            step: h.step,
            step_count: c.step_count,
            timeout: c.timeout,
            cancel: cancel_rx,
            compensates: h.compensates.clone(),
            redelivered: h.msg.redelivered,
            used: c.used,
            durable_after: (!h.key.compensation).then_some(self.shared.durable_retry_after),
        };
        let invoke = Box::pin(self.invoke(env, Some(run_step), c.variables, c.prior));
        let handled = async {
            match h.record_later.filter(|_| !c.recorded) {
                None => invoke.await,
                Some(after) => {
                    let mut invoke = invoke;
                    tokio::select! {
                        done = &mut invoke => done,
                        _ = tokio::time::sleep(after) => {
                            // Still running: let watchers see it. The outcome is
                            // recorded after this, whatever it says.
                            let record = async {
                                if let Err(e) = self.shared.store.claim_step(&h.key, false).await {
                                    warn!("could not record the step's start (its outcome will be): {e}");
                                }
                            };
                            tokio::join!(invoke, record).0
                        }
                    }
                }
            }
        };
        tokio::select! {
            (result, attempts, patch, retry_in) = handled => Ran::Returned {
                result,
                attempts,
                patch,
                cancelled: *cancel_tx.borrow(),
                started,
                prior: c.prior,
                retry_in,
            },
            () = self.watch_cancel(h.run_id, h.key.compensation, &cancel_tx) => Ran::Dropped,
        }
    }

    /// Records how the consumer ended; the store answers with what is due next.
    async fn record(&self, h: &Handling<'_>, ran: Ran) -> Next {
        match ran {
            Ran::Dropped => self.record_dropped(h).await,
            Ran::Returned {
                cancelled: true,
                result,
                attempts,
                patch,
                ..
            } => self.record_cancelled(h, result, attempts, patch).await,
            Ran::Returned {
                result: Ok(()),
                attempts,
                patch,
                started,
                ..
            } => self.record_success(h, attempts, patch, started).await,
            Ran::Returned {
                result: Err(err),
                attempts,
                retry_in: Some(delay),
                ..
            } => self.record_retry_later(h, err, attempts, delay).await,
            Ran::Returned {
                result: Err(err),
                attempts,
                prior,
                ..
            } => self.record_failure(h, err, attempts, prior).await,
        }
    }

    /// The attempt failed and its retry is too far off to hold the message:
    /// the store records the step waiting for it (its timer publishes the
    /// message again then), and the message is acked.
    async fn record_retry_later(
        &self,
        h: &Handling<'_>,
        err: HandlerError,
        attempts: u32,
        delay: Duration,
    ) -> Next {
        let at = chrono::Duration::from_std(delay)
            .ok()
            .and_then(|d| chrono::Utc::now().checked_add_signed(d))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        let reason = err.to_string();
        let recorded = self
            .store_op("record the retry", || {
                self.shared
                    .store
                    .retry_step_later(&h.key, &reason, attempts, at)
            })
            .await;
        match recorded {
            Ok(None) => {
                warn!(retry_at = %at, "attempt failed, retried in {delay:?} by the store's timer (the message is acknowledged meanwhile): {err}");
                Next::Ack
            }
            Ok(Some(FailOutcome::Compensate { next } | FailOutcome::Tolerated { next })) => {
                Next::Publish(next)
            }
            Ok(Some(_)) => Next::Ack,
            Err(e) if e.is_transient() => {
                error!("could not record the retry, requeueing: {e}");
                Next::Requeue
            }
            Err(e) => {
                error!("could not record the retry: {e}");
                Next::DeadLetter(err, attempts)
            }
        }
    }

    /// The run was cancelled and the consumer did not stop within the grace:
    /// it was dropped, and the step is recorded cancelled.
    async fn record_dropped(&self, h: &Handling<'_>) -> Next {
        let reason = "the run was cancelled; the step did not stop within the cancel grace";
        warn!("{reason}; consumer dropped");
        let recorded = self
            .store_op("record the cancelled step", || {
                self.shared.store.fail_step(&h.key, reason, 1)
            })
            .await;
        match recorded {
            // Cancelled to be compensated: this step was the last in flight,
            // so the compensation starts here.
            Ok(FailOutcome::Compensate { next }) => Next::Publish(next),
            Ok(_) => Next::Ack,
            Err(e) => {
                error!("could not record the cancelled step: {e}");
                Next::Ack
            }
        }
    }

    /// The consumer stopped after its run was cancelled (it saw
    /// `ctx.cancelled()`): recorded as such, whatever it returned, and not
    /// dead-lettered.
    async fn record_cancelled(
        &self,
        h: &Handling<'_>,
        result: Result<(), HandlerError>,
        attempts: u32,
        patch: Variables,
    ) -> Next {
        info!("step stopped after its run was cancelled");
        let store = &self.shared.store;
        let next = match &result {
            Ok(()) => self
                .store_op("record the step", || {
                    store.complete_step(&h.key, patch.clone(), attempts)
                })
                .await
                .map(|outcome| match outcome {
                    CompleteOutcome::Compensate { next } => next,
                    _ => Vec::new(),
                }),
            Err(err) => {
                let reason = err.to_string();
                self.store_op("record the step", || {
                    store.fail_step(&h.key, &reason, attempts)
                })
                .await
                .map(|outcome| match outcome {
                    FailOutcome::Compensate { next } => next,
                    _ => Vec::new(),
                })
            }
        };
        match next {
            // Cancelled to be compensated: the compensation starts with the
            // last step in flight.
            Ok(next) => Next::Publish(next),
            Err(e) => {
                error!("could not record the cancelled step: {e}");
                Next::Ack
            }
        }
    }

    async fn record_success(
        &self,
        h: &Handling<'_>,
        attempts: u32,
        patch: Variables,
        started: Instant,
    ) -> Next {
        let outcome = self
            .store_op("record the step", || {
                self.shared
                    .store
                    .complete_step(&h.key, patch.clone(), attempts)
            })
            .await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match outcome {
            Ok(CompleteOutcome::Advanced { next }) => {
                info!(target: LIFECYCLE, elapsed_ms, "step succeeded");
                Next::Publish(next)
            }
            Ok(CompleteOutcome::Finished) => {
                info!(target: LIFECYCLE, elapsed_ms, "step succeeded; run succeeded");
                Next::Ack
            }
            Ok(CompleteOutcome::Recorded) => {
                info!("step succeeded here; the run was already advanced");
                Next::Ack
            }
            Ok(CompleteOutcome::Cancelled) => {
                info!("step finished but the run was cancelled; step marked cancelled");
                Next::Ack
            }
            Ok(CompleteOutcome::Compensate { next }) => {
                info!(
                    target: LIFECYCLE,
                    elapsed_ms,
                    compensations = ?next.iter().map(|n| n.index + 1).collect::<Vec<_>>(),
                    "{} succeeded; the run is compensating",
                    if h.key.compensation { "compensation" } else { "step" }
                );
                Next::Publish(next)
            }
            Ok(CompleteOutcome::Compensated) => {
                info!(target: LIFECYCLE, elapsed_ms, "compensation succeeded; run compensated");
                Next::Ack
            }
            Err(e) if e.is_corrupt() => {
                error!("could not record the step: {e}");
                Next::DeadLetter(step_error(&e), attempts)
            }
            Err(e) => {
                error!("could not record the step, requeueing: {e}");
                Next::Requeue
            }
        }
    }

    /// The consumer ran out of retries: the message goes to `<q>_error`
    /// first (so a failure is never recorded for a message that is lost),
    /// then the failure is recorded and the run goes on, fails or compensates.
    async fn record_failure(
        &self,
        h: &Handling<'_>,
        err: HandlerError,
        attempts: u32,
        prior: u32,
    ) -> Next {
        // The step's count, as the run record keeps it (earlier deliveries
        // and resumes too), not this delivery's alone.
        error!(attempts = prior + attempts, "step failed: {err}");
        if let Settle::Requeue = self
            .dead_letter(ERROR_SUFFIX, h.msg, Some(&err), attempts)
            .await
        {
            return Next::Requeue;
        }
        let reason = err.to_string();
        let recorded = self
            .store_op("record the failure", || {
                self.shared.store.fail_step(&h.key, &reason, attempts)
            })
            .await;
        let step = h.step + 1;
        match recorded {
            Ok(FailOutcome::RunFailed) => {
                error!("run failed at step {step}");
                Next::Ack
            }
            Ok(FailOutcome::Tolerated { next }) => {
                warn!("optional step failed; the run goes on");
                Next::Publish(next)
            }
            Ok(FailOutcome::Finished) => {
                warn!("optional step failed; run succeeded");
                Next::Ack
            }
            Ok(FailOutcome::Compensate { next }) => {
                error!(
                    compensations = ?next.iter().map(|n| n.index + 1).collect::<Vec<_>>(),
                    "run failed at step {step}; compensating what it did"
                );
                Next::Publish(next)
            }
            Ok(FailOutcome::CompensationFailed) => {
                error!("compensation of step {step} failed; the run is CompensationFailed (resume it to try again)");
                Next::Ack
            }
            Ok(_) => Next::Ack,
            Err(e) => {
                error!("could not record the failure: {e}");
                Next::Ack
            }
        }
    }

    /// Carries out what a phase decided: the one place where a handling
    /// publishes what is due next, and only then acks.
    async fn settle(&self, h: &Handling<'_>, next: Next) -> Settle {
        match next {
            Next::Ack => Settle::Ack,
            Next::Requeue => Settle::Requeue,
            Next::Publish(next) if next.is_empty() => Settle::Ack,
            Next::Publish(next) => {
                Box::pin(self.publish_all(h.run_id, &h.definition, &next, &h.parent)).await
            }
            Next::DeadLetter(err, attempts) => {
                self.dead_letter(ERROR_SUFFIX, h.msg, Some(&err), attempts)
                    .await
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
                    if run.status == RunStatus::Cancelled
                        || (!compensation
                            && run.status == RunStatus::Compensating
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
}
