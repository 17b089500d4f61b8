//! What the state and the event loop tell each other: the [`Action`] a key
//! asks for, what to load for a view ([`Need`]), the data that came back
//! ([`Loaded`]) and what an action came to ([`Outcome`]).
//!
//! It may use only the operator's read models ([`crate::ops`]) and the text
//! formats.

use isoqube::{
    model::CorruptRun, model::LogRecord, model::StuckStep, Definition, Run, RunStatus, Variables,
};
use uuid::Uuid;

use crate::ops::{EndpointQueues, ErrorQueueView, EventView, FaultView, ServiceView};
use crate::text::short_id;

/// What the event loop must do after a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Nothing.
    None,
    /// Leave the UI.
    Quit,
    /// Reload the current view now.
    Refresh,
    /// Save a definition (create or replace).
    SaveDefinition {
        /// What to save.
        definition: Definition,
        /// A new one (else an update).
        create: bool,
    },
    /// Delete a definition.
    DeleteDefinition(String),
    /// Start a run.
    Start {
        /// Definition name.
        definition: String,
        /// Run parameters.
        variables: Variables,
        /// The run's priority (0-9); `None`: the definition's.
        priority: Option<u8>,
    },
    /// Re-run a run.
    Rerun(Uuid),
    /// Resume a failed or cancelled run.
    Resume(Uuid),
    /// Cancel a pending or running run.
    Cancel(Uuid),
    /// Deliver the event a run's step waits for.
    Signal {
        /// The run.
        run_id: Uuid,
        /// The event.
        event: String,
        /// Its data, merged into the run's variables.
        data: Variables,
    },
    /// Cancel a pending or running run and compensate what it did.
    CancelCompensate(Uuid),
    /// Send an error-queue message back to its endpoint.
    Requeue {
        /// The endpoint.
        endpoint: String,
        /// The message id.
        message_id: String,
    },
    /// Delete an error-queue message.
    Discard {
        /// The endpoint.
        endpoint: String,
        /// The message id.
        message_id: String,
    },
    /// Requeue every one of these error-queue messages (those the filter shows).
    RequeueAll(Vec<FaultView>),
    /// Delete every one of these error-queue messages (those the filter shows).
    DiscardAll(Vec<FaultView>),
}

impl Action {
    /// What the status line says while the action runs.
    pub fn busy_label(&self) -> String {
        match self {
            Action::SaveDefinition { definition, .. } => format!("saving '{}'", definition.name),
            Action::DeleteDefinition(name) => format!("deleting '{name}'"),
            Action::Start { definition, .. } => format!("starting a run of '{definition}'"),
            Action::Rerun(id) => format!("re-running {}", short_id(id)),
            Action::Resume(id) => format!("resuming {}", short_id(id)),
            Action::Cancel(id) => format!("cancelling {}", short_id(id)),
            Action::Signal { run_id, event, .. } => {
                format!("signalling {event} to {}", short_id(run_id))
            }
            Action::CancelCompensate(id) => {
                format!("cancelling {} and compensating it", short_id(id))
            }
            Action::Requeue { message_id, .. } => format!("requeuing {message_id}"),
            Action::Discard { message_id, .. } => format!("discarding {message_id}"),
            Action::RequeueAll(m) => format!("requeuing {} message(s)", m.len()),
            Action::DiscardAll(m) => format!("discarding {} message(s)", m.len()),
            Action::None | Action::Quit | Action::Refresh => String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    /// Events with consumers.
    Events(Result<Vec<EventView>, String>),
    /// Service instances.
    Services(Result<Vec<ServiceView>, String>),
    /// Every endpoint's queue and error queue, looked at once.
    Queues(Result<Vec<EndpointQueues>, String>),
    /// Definitions.
    Definitions(Result<Vec<Definition>, String>),
    /// Runs under a filter.
    Runs {
        /// The filter the load used (stale loads are ignored).
        filter: Option<RunStatus>,
        /// The runs.
        result: Result<RunsLoaded, String>,
    },
    /// A run and its new log lines.
    Detail {
        /// The run.
        id: Uuid,
        /// The run itself.
        run: Result<Box<Run>, String>,
        /// Log lines from `skip` on.
        logs: Result<Vec<LogRecord>, String>,
        /// How many lines were skipped (stale loads are ignored).
        skip: usize,
    },
    /// Error queues.
    Errors(Result<Vec<ErrorQueueView>, String>),
    /// The open run's stuck steps (none when it is not stuck).
    DetailStuck {
        /// The run.
        id: Uuid,
        /// Its stuck steps.
        result: Result<Vec<StuckStep>, String>,
    },
}

/// A load of the runs view: the runs, their stuck steps, and the records
/// the list skipped because they do not parse.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunsLoaded {
    /// The runs, newest first.
    pub runs: Vec<Run>,
    /// The stuck steps among them.
    pub stuck: Vec<StuckStep>,
    /// The skipped records.
    pub corrupt: Vec<CorruptRun>,
}

impl From<Vec<Run>> for RunsLoaded {
    fn from(runs: Vec<Run>) -> Self {
        RunsLoaded {
            runs,
            ..Default::default()
        }
    }
}

/// What an action came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A definition save finished.
    Saved {
        /// The definition name.
        name: String,
        /// It was new.
        create: bool,
        /// Done, or why not.
        result: Result<(), String>,
    },
    /// Any other action finished.
    Done {
        /// What happened, or why it failed.
        result: Result<String, String>,
        /// A run to open (after a start or re-run).
        open_run: Option<Uuid>,
    },
}

/// What to load for the current view.
#[derive(Debug, Clone, PartialEq)]
pub enum Need {
    /// Events with consumers.
    Events,
    /// Service instances.
    Services,
    /// Every endpoint's queues.
    Queues,
    /// Definitions.
    Definitions,
    /// Runs under a status filter and a search (the run search grammar).
    Runs(Option<RunStatus>, String),
    /// A run with its log lines from `skip` on.
    Detail {
        /// The run.
        id: Uuid,
        /// Lines already loaded.
        skip: usize,
    },
    /// Error queues.
    Errors,
    /// The open run's stuck steps.
    DetailStuck(Uuid),
}
