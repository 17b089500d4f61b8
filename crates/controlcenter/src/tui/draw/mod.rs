//! Rendering: [`draw`] paints an [`App`](super::App) onto a frame and reads
//! nothing else, so every screen can be checked with ratatui's `TestBackend`.
//! Long texts are cut with `…` to their column; below 40x10 only a "terminal
//! too small" notice is drawn.
//!
//! - `screen`: the layout of the whole screen, the tabs, the status line and the
//!   footer of keys.
//! - `widgets`: the helpers the views share (styles, cutting text, tables,
//!   notices, dialogs).
//! - one file per view: `services`, `definitions`, `runs`, `detail` (a run's
//!   live detail; `run_whole`: a run shown whole), `errors`, `help`; and for what opens over them: `form` (the
//!   definition form; `step_editor`: its event picker and step editor) and `dialogs` (confirmation, start prompt).
//!
//! Drawing may use the state ([`super::app`], [`super::form`]) and the text
//! formats ([`crate::text`]); it never touches the operator, the store or the
//! transport. The views use `widgets` and nothing of each other.

mod definitions;
mod detail;
mod dialogs;
mod errors;
mod form;
mod help;
mod run_whole;
mod runs;
mod screen;
mod services;
mod step_editor;
mod widgets;

pub use screen::{draw, footer_keys, MIN_HEIGHT, MIN_WIDTH};
pub use widgets::{ellipsize, progress, short_duration};
