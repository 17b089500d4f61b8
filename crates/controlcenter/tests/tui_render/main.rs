//! Screen tests for the terminal UI: every view drawn with ratatui's
//! `TestBackend` from an [`App`] built directly from model values (no store),
//! with data, empty, with long names, in narrow terminals and with errors; plus
//! key sequences through [`App::handle_key`] (the definition form, the start
//! prompt and the confirmation dialogs).
//!
//! One file per view; `support/tui_app.rs` builds the apps and reads the screens.

#[path = "../support/tui_app.rs"]
mod tui_app;

use chrono::{Duration, TimeZone, Utc};
use controlcenter::ops::{ErrorQueueView, FaultView};
use controlcenter::tui::app::RunsLoaded;
use controlcenter::tui::app::{Modal, Outcome, StatusKind};
use controlcenter::tui::{Action, App, Loaded, Tab};
use isoqube::schedule::{Missed, Schedule, Webhook, When};
use isoqube::{
    model::CorruptRun, model::StuckReason, model::StuckStep, Definition, RunStatus, Variables,
};
use ratatui::crossterm::event::KeyCode;
use serde_json::json;
use tui_app::*;

mod definitions;
mod error_queue;
mod general;
mod runs;
mod services;
mod waits;
