//! Ground layer: the names of the headers Isoqube and MassTransit put on
//! messages, in one place for every crate (the service writes them, the
//! control center reads them). Uses nothing.

/// MassTransit's content type.
pub const CONTENT_TYPE: &str = "application/vnd.masstransit+json";
/// Envelope header naming the run a step message belongs to.
pub const HEADER_RUN_ID: &str = "Isoqube-RunId";
/// Envelope header naming the step index of a step message.
pub const HEADER_STEP: &str = "Isoqube-Step";
/// Envelope header naming the run definition.
pub const HEADER_DEFINITION: &str = "Isoqube-Definition";

/// Prefix of every MassTransit transport header.
pub const MT_PREFIX: &str = "MT-";
/// Why a message was moved (`fault` to `_error`, `skip` to `_skipped`).
pub const MT_REASON: &str = "MT-Reason";
/// The failing consumer's error type.
pub const MT_FAULT_EXCEPTION_TYPE: &str = "MT-Fault-ExceptionType";
/// The failing consumer's error message.
pub const MT_FAULT_MESSAGE: &str = "MT-Fault-Message";
/// When the fault happened (RFC 3339).
pub const MT_FAULT_TIMESTAMP: &str = "MT-Fault-Timestamp";
/// The failing consumer's stack trace (empty: Rust gives none).
pub const MT_FAULT_STACK_TRACE: &str = "MT-Fault-StackTrace";
/// How many times the consumer was retried.
pub const MT_FAULT_RETRY_COUNT: &str = "MT-Fault-RetryCount";
/// The endpoint the message was consumed from.
pub const MT_FAULT_INPUT_ADDRESS: &str = "MT-Fault-InputAddress";
/// The host that moved the message.
pub const MT_HOST_MACHINE_NAME: &str = "MT-Host-MachineName";
