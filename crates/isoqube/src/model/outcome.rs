//! Model layer: what the transitions decide (the steps to publish, and each
//! transition's outcome), as the stores return them to the engine. Plain
//! data; uses only the model's records.

use super::*;

/// A step to publish, with what its message is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct NextStep {
    /// Step index.
    pub index: usize,
    /// Event name.
    pub event: String,
    /// Run variables (the payload).
    pub variables: Variables,
    /// For a compensation: the name of the step it undoes (`event` is then
    /// the compensation's event).
    pub compensates: Option<String>,
    /// For a compensation: the event type of the step it undoes.
    pub undoes_event: Option<String>,
}

/// What [`Run::claim`] decided for a delivered step message.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// Run the consumer. `attempts` is how often this endpoint already ran it.
    Claimed {
        /// The run variables to build the context from.
        variables: Variables,
        /// Earlier invocations by this endpoint.
        attempts: u32,
        /// Number of steps of the run.
        step_count: usize,
        /// The longest one attempt may run (the step's `timeout`), in ms.
        timeout_ms: Option<u64>,
        /// Of `attempts`, how many in a row were lost with their process
        /// (this one's predecessor included) ([`StepHandler::lost`]).
        lost: u32,
        /// Of `attempts`, how many the current retry budget has used: lost
        /// ones and those retried later ([`StepHandler::retried`]).
        used: u32,
    },
    /// This endpoint already finished the step: do not run it again. When the
    /// endpoint advanced the run but the next step was never picked up (a crash
    /// between recording and publishing), `republish` names the step to publish again.
    AlreadyDone {
        /// Steps to publish again.
        republish: Vec<NextStep>,
    },
    /// Another copy of this message is being handled right now.
    InFlight,
    /// The run was cancelled; the step is now marked cancelled.
    Cancelled,
    /// The run is not running (finished or failed); nothing to do.
    NotRunning(RunStatus),
    /// The step is not due: a step it runs after has not succeeded (a message
    /// the run did not publish, or one that overtook the record of its
    /// predecessor). It must not run; nothing was recorded.
    NotDue {
        /// The first step it waits for (index).
        waits_for: usize,
        /// That step's status in the store.
        status: StepStatus,
    },
}

/// What [`Run::complete`] decided after a consumer succeeded.
#[derive(Debug, Clone, PartialEq)]
pub enum CompleteOutcome {
    /// This success advanced the run: publish `next`, the steps it made due
    /// (none when they wait for other branches too).
    Advanced {
        /// The steps now due.
        next: Vec<NextStep>,
    },
    /// This success was the last one the run needed: it succeeded.
    Finished,
    /// Recorded for the endpoint; the step was already advanced by another endpoint
    /// or the run is no longer running.
    Recorded,
    /// The run was cancelled while the step ran; the step is marked cancelled.
    Cancelled,
    /// The run is compensating: publish `next`, the compensations now due
    /// (none while other steps are in flight or later ones are undone).
    Compensate {
        /// The compensations now due.
        next: Vec<NextStep>,
    },
    /// This compensation was the last one: the run is `Compensated`.
    Compensated,
}

/// What [`Run::fail`] decided after a consumer ran out of retries.
#[derive(Debug, Clone, PartialEq)]
pub enum FailOutcome {
    /// The step and the run are now failed.
    RunFailed,
    /// An optional step failed: the run goes on with `next`, the steps its
    /// failure made due.
    Tolerated {
        /// The steps now due.
        next: Vec<NextStep>,
    },
    /// An optional step failed, and it was the last one the run waited for:
    /// the run succeeded.
    Finished,
    /// Recorded for the endpoint only (the step had already succeeded, or the run ended).
    Recorded,
    /// The run was cancelled while the step ran; the step is marked cancelled.
    Cancelled,
    /// The step failed the run, which now compensates what it did: publish
    /// `next`, the compensations due (none while other steps are in flight).
    Compensate {
        /// The compensations now due.
        next: Vec<NextStep>,
    },
    /// A compensation ran out of retries: the run is `CompensationFailed`.
    CompensationFailed,
}
