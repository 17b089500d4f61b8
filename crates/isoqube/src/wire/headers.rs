//! Ground layer: the names of the headers Isoqube and MassTransit put on
//! messages, in one place for every crate (the service writes them, the
//! control center reads them), and reading the redelivery count. Uses
//! nothing but `serde_json` values.

/// MassTransit's content type.
pub const CONTENT_TYPE: &str = "application/vnd.masstransit+json";
/// Envelope header naming the run a step message belongs to.
pub const HEADER_RUN_ID: &str = "Isoqube-RunId";
/// Envelope header naming the step index of a step message.
pub const HEADER_STEP: &str = "Isoqube-Step";
/// Envelope header of a compensation message: the name of the step it
/// undoes (the step header then names that step's index).
pub const HEADER_COMPENSATE: &str = "Isoqube-Compensate";
/// Envelope header of a compensation message: the event type of the step it
/// undoes (what `StepContext::compensating` answers).
pub const HEADER_COMPENSATE_EVENT: &str = "Isoqube-Compensate-Event";
/// Envelope header naming the run definition.
pub const HEADER_DEFINITION: &str = "Isoqube-Definition";

/// Prefix of every MassTransit transport header.
pub const MT_PREFIX: &str = "MT-";
/// Why a message was moved (`fault` to `_error`, `dead-letter` to `_skipped`).
pub const MT_REASON: &str = "MT-Reason";
/// [`MT_REASON`] of a message moved to `_error`.
pub const REASON_FAULT: &str = "fault";
/// [`MT_REASON`] of a message moved to `_skipped` (no consumer for its type).
pub const REASON_DEAD_LETTER: &str = "dead-letter";
/// Prefix of the fault headers (stale ones are dropped when a message faults again).
pub const MT_FAULT_PREFIX: &str = "MT-Fault-";
/// The failing consumer's error type.
pub const MT_FAULT_EXCEPTION_TYPE: &str = "MT-Fault-ExceptionType";
/// The failing consumer's error message.
pub const MT_FAULT_MESSAGE: &str = "MT-Fault-Message";
/// When the fault happened (RFC 3339).
pub const MT_FAULT_TIMESTAMP: &str = "MT-Fault-Timestamp";
/// The failing consumer's stack trace (empty: Rust gives none).
pub const MT_FAULT_STACK_TRACE: &str = "MT-Fault-StackTrace";
/// How many times the consumer was retried (written only when it was).
pub const MT_FAULT_RETRY_COUNT: &str = "MT-Fault-RetryCount";
/// How many times the message had been redelivered (written only when it had).
pub const MT_FAULT_REDELIVERY_COUNT: &str = "MT-Fault-RedeliveryCount";
/// The consumer that failed (`module::function` here; the .NET type there).
pub const MT_FAULT_CONSUMER_TYPE: &str = "MT-Fault-ConsumerType";
/// The message type that failed (`Namespace.Type`, as .NET names it).
pub const MT_FAULT_MESSAGE_TYPE: &str = "MT-Fault-MessageType";
/// How many times a message has been redelivered (zero or absent if never).
pub const MT_REDELIVERY_COUNT: &str = "MT-Redelivery-Count";
/// The endpoint the message was consumed from.
pub const MT_FAULT_INPUT_ADDRESS: &str = "MT-Fault-InputAddress";
/// The host that moved the message.
pub const MT_HOST_MACHINE_NAME: &str = "MT-Host-MachineName";
/// Its process name.
pub const MT_HOST_PROCESS_NAME: &str = "MT-Host-ProcessName";
/// Its process id.
pub const MT_HOST_PROCESS_ID: &str = "MT-Host-ProcessId";
/// Its assembly (the service).
pub const MT_HOST_ASSEMBLY: &str = "MT-Host-Assembly";
/// The assembly's version.
pub const MT_HOST_ASSEMBLY_VERSION: &str = "MT-Host-AssemblyVersion";
/// Its runtime.
pub const MT_HOST_FRAMEWORK_VERSION: &str = "MT-Host-FrameworkVersion";
/// Its messaging library.
pub const MT_HOST_MASS_TRANSIT_VERSION: &str = "MT-Host-MassTransitVersion";
/// Its operating system.
pub const MT_HOST_OPERATING_SYSTEM_VERSION: &str = "MT-Host-OperatingSystemVersion";

/// [`MT_REDELIVERY_COUNT`] of a message's transport headers: 0 when absent
/// or not a count (.NET writes an integer; a string of digits is read too).
///
/// ```
/// use std::collections::BTreeMap;
/// use isoqube::wire::headers::{redelivery_count, MT_REDELIVERY_COUNT};
/// let mut h = BTreeMap::new();
/// assert_eq!(redelivery_count(&h), 0);
/// h.insert(MT_REDELIVERY_COUNT.to_string(), serde_json::json!(2));
/// assert_eq!(redelivery_count(&h), 2);
/// ```
pub fn redelivery_count(headers: &std::collections::BTreeMap<String, serde_json::Value>) -> u32 {
    match headers.get(MT_REDELIVERY_COUNT) {
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        Some(serde_json::Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}
