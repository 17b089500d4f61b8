//! The terminal UI (ratatui): services and events, definitions (with a form),
//! runs with a live detail, actions, and the error queue.
//!
//! - [`app`]: the state ([`App`]) and how keys change it; pure, no I/O.
//! - [`draw`](mod@draw): paints an [`App`]; pure, tested with ratatui's
//!   `TestBackend`.
//! - [`form`]: the definition form; [`text_input`]: a text input.
//! - [`step_editor`]: the form's event picker and step editor.
//! - [`graph`]: a run's steps laid out as its graph (levels, branch lines).
//! - `event_loop`: [`run`] owns the terminal and the event loop: keys are read
//!   on a separate thread, data is reloaded every second (and right after an
//!   action or a view change) in background tasks, and actions run in
//!   background tasks too, so a slow broker or store never blocks the
//!   keyboard. The terminal is restored on exit, on error and on panic.
//! - `work`: what those tasks do with the operator ([`load`], [`perform`]).
//!
//! The terminal UI may use the [`Operator`](crate::ops::Operator) and the text
//! formats ([`crate::text`]); it does not use the CLI or the HTTP API.

pub mod app;
pub mod draw;
mod event_loop;
pub mod form;
pub mod graph;
pub mod step_editor;
pub mod text_input;
mod work;

pub use app::{Action, App, Loaded, Need, Outcome, Tab};
pub use draw::draw;
pub use event_loop::{run, REFRESH_EVERY};
pub use work::{load, perform, RUNS_PAGE};
