//! Signals an operator sends to runs that wait: to one run (by its id) or to
//! whichever runs wait for the event by a correlate key, and what each did
//! ([`Signalled`]), in the one shape the CLI prints, the API answers and
//! the TUI says.
//!
//! It may use only `isoqube`'s control actions and model (through
//! [`Operator`]).

use isoqube::model::{Signal, SignalOutcome};
use isoqube::{RunStatus, Variables};
use serde::Serialize;
use uuid::Uuid;

use super::Operator;

/// What a signal did to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignalEffect {
    /// It completed the wait step; the run goes on.
    Completed,
    /// It completed the wait step, the last one the run needed: the run succeeded.
    Finished,
    /// The wait step is not due yet: the signal is kept with the run and
    /// completes the step once it is.
    Kept,
    /// The same signal completed the wait already: nothing more was done.
    AlreadyDone,
}

/// One run a signal reached and what it did there.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Signalled {
    /// The run.
    pub run_id: Uuid,
    /// The run's definition.
    pub definition: String,
    /// What the signal did.
    pub effect: SignalEffect,
    /// The wait step it completed or is kept for (numbered from 0, as in
    /// the run's `steps`); none when it was done already.
    pub step: Option<usize>,
    /// That step's name.
    pub step_name: Option<String>,
    /// The run's status after the signal.
    pub status: RunStatus,
}

impl Signalled {
    /// What it did, in one line (steps numbered from 1, as the screens show
    /// them): `run 1f0c… of release: completed step 2 (Approval); the run
    /// goes on`.
    pub fn line(&self) -> String {
        let step = match (self.step, &self.step_name) {
            (Some(i), Some(name)) => format!("step {} ({name})", i + 1),
            (Some(i), None) => format!("step {}", i + 1),
            _ => "its wait".to_string(),
        };
        let what = match self.effect {
            SignalEffect::Completed => format!("completed {step}; the run goes on"),
            SignalEffect::Finished => format!("completed {step}; the run succeeded"),
            SignalEffect::Kept => {
                format!("kept for {step}, which is not due yet: it completes it once it is")
            }
            SignalEffect::AlreadyDone => {
                "already done: this signal completed its wait before".to_string()
            }
        };
        format!("run {} of {}: {what}", self.run_id, self.definition)
    }
}

impl Operator {
    /// Delivers `event` with `data` to run `id`; refused
    /// ([`isoqube::Error::InvalidState`], with the reason) when nothing of
    /// the run waits for it, now or later.
    pub async fn signal(
        &self,
        id: Uuid,
        event: &str,
        data: Variables,
        from: &str,
    ) -> isoqube::Result<Signalled> {
        let (run, outcome) = self
            .control()
            .signal(id, Signal::new(event, data, from))
            .await?;
        Ok(signalled(&run, &outcome))
    }

    /// Delivers `event` with `data` to every pending or running run that
    /// waits for it by a correlate key the data matches; refused with what
    /// was looked for when it reaches none.
    pub async fn signal_matching(
        &self,
        event: &str,
        data: Variables,
        from: &str,
    ) -> isoqube::Result<Vec<Signalled>> {
        let reached = self
            .control()
            .signal_matching(Signal::new(event, data, from))
            .await?;
        let mut out = Vec::with_capacity(reached.len());
        for (id, outcome) in reached {
            out.push(signalled(&self.run(id).await?, &outcome));
        }
        Ok(out)
    }
}

/// `outcome` on `run` (the run after it) as a [`Signalled`].
fn signalled(run: &isoqube::Run, outcome: &SignalOutcome) -> Signalled {
    let (effect, step) = match outcome {
        SignalOutcome::Completed { step, .. } => (SignalEffect::Completed, Some(*step)),
        SignalOutcome::Finished { step } => (SignalEffect::Finished, Some(*step)),
        SignalOutcome::Kept { step } => (SignalEffect::Kept, Some(*step)),
        // `Control::signal` refuses a signal nothing waits for.
        SignalOutcome::AlreadyDone { .. } | SignalOutcome::NoMatch(_) => {
            (SignalEffect::AlreadyDone, None)
        }
    };
    Signalled {
        run_id: run.id,
        definition: run.definition.clone(),
        effect,
        step,
        step_name: step
            .and_then(|i| run.steps.get(i))
            .map(|s| s.name().to_string()),
        status: run.status,
    }
}
