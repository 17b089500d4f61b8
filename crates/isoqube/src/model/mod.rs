//! The records Isoqube keeps (definitions, runs, steps, services, topics, logs),
//! the pure state transitions of a run, and the rule of when a run is stuck.
//!
//! Every store applies the transitions defined here, so the rules of the chain
//! (who advances a step, what a redelivery does, what cancel and resume change)
//! live in one place and are tested without any store. The model uses only the
//! ground layer (errors, the JSON and timestamp writers) and the schedule data.

mod compensation;
mod definition;
mod definition_file;
mod graph;
mod hold;
mod lifecycle;
mod outcome;
mod records;
mod replay;
mod run;
mod run_query;
pub mod schedule;
mod status;
mod step_key;
mod stuck;
#[cfg(test)]
mod tests;
mod transition;
mod unpublished;
mod variables;
mod wait;

pub use compensation::Compensation;
pub use definition::*;
pub use definition_file::{
    definition_changes, export_definition, keep_hidden_secret, parse_definition_file, FileFormat,
    HIDDEN_SECRET,
};
pub use graph::{resolve_graph, StepDef};
#[cfg(feature = "openapi")]
pub use graph::{StepDefSchema, StepObject};
pub use hold::{parse_time_of_day, HoldDef, StepHold, TimeOfDay};
pub use outcome::*;
pub use records::*;
pub use run::*;
pub use run_query::WAITING;
pub use status::*;
pub use step_key::{Budget, StepKey};
pub use stuck::*;
pub use variables::*;
pub use wait::{
    camel_case, field_of, parse_span, span_text, Signal, SignalOutcome, StepWait, WaitDef,
};

/// The run variables: a JSON object.
pub type Variables = serde_json::Map<String, serde_json::Value>;
