//! Engine layer: what runs the runs. The publisher (every message goes out
//! through it), the operator's control actions, the step log writer and tracing
//! set-up, the metrics and readiness checks, and the service that hosts
//! consumers (builder, endpoint loop, one step's handling, retries,
//! dead-lettering), and the waits (signals to runs, the store's timers fired).
//!
//! The engine uses everything below it (ground, model, author API, the
//! `Transport` and `RunStore` seams and their backends); nothing below it
//! imports the engine. The surfaces above it (the `health` surface,
//! `config`) use it.

pub mod control;
mod log_filter;
pub mod metrics;
pub mod publish;
pub mod readiness;
mod request;
mod responses;
mod run_requests;
pub mod scheduler;
pub mod service;
pub mod telemetry;
pub mod waits;
