//! The terminal UI's state and how it changes: only through
//! [`App::handle_key`] (which returns the [`Action`] the event loop must carry
//! out), [`App::apply`] (fresh data) and [`App::apply_outcome`] (the result of
//! an action), so every screen can be built and tested without a terminal or
//! store.
//!
//! - `state`: [`App`] and the parts of it (views, data, dialogs, status).
//! - `messages`: what the state and the event loop tell each other.
//! - `load`: recording loads and outcomes.
//! - `key_table`: every key, one table per view ([`KeyDef`]), read by the
//!   key handling, the help and the footer.
//! - `keys`: key handling; `run_keys`: what the keys acting on a run
//!   ([`RUN_KEYS`]) do.
//! - `search`: which runs the runs search lets through.
//! - `signal_prompt`: the prompt that signals a run's waiting step.
//!
//! Pure: no I/O. It may use the operator's read models ([`crate::ops`]), the
//! form ([`super::form`]) and the text formats ([`crate::text`]).

mod help;
mod key_table;
mod keys;
mod load;
mod messages;
mod run_keys;
mod search;
mod signal_keys;
mod signal_prompt;
mod state;

/// A run id as the UI shows it, also at its historical path here.
pub use crate::text::short_id;
pub use help::{help_sections, HelpSection};
pub use key_table::*;
pub use messages::{Action, Loaded, Need, Outcome, RunsLoaded};
pub use run_keys::{RunKey, RUN_KEYS};
pub use search::run_matches;
pub use signal_prompt::{SignalKey, SignalPrompt, SIGNAL_KEYS};
pub use state::{
    App, Confirm, Data, Modal, RunDetail, Search, StartPrompt, Status, StatusKind, Tab,
};
