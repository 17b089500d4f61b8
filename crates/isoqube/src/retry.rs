//! Retry policies for consumers. A consumer that fails is invoked again in
//! process, per its policy, before the step is failed and the message goes to
//! the error queue (as MassTransit's `UseMessageRetry` does).
//!
//! The free functions are what `#[consumer(retry = ...)]` expressions call.

use std::time::Duration;

/// How often and how fast a failing consumer is invoked again.
///
/// ```
/// use isoqube::RetryPolicy;
/// use std::time::Duration;
/// let p = isoqube::retry::exponential(4, 100, 1_000);
/// assert_eq!(p.max_attempts(), 5);
/// assert_eq!(p.delay(1), Duration::from_millis(100));
/// assert_eq!(p.delay(3), Duration::from_millis(400));
/// assert_eq!(p.delay(4), Duration::from_millis(800));
/// assert_eq!(isoqube::retry::exponential(9, 100, 1_000).delay(9), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryPolicy {
    /// No retry: one attempt.
    None,
    /// Retry `count` times at once.
    Immediate {
        /// Retries after the first attempt.
        count: u32,
    },
    /// Retry `count` times, `interval_ms` apart.
    Interval {
        /// Retries after the first attempt.
        count: u32,
        /// Wait between attempts.
        interval_ms: u64,
    },
    /// Retry `count` times, doubling the wait from `min_ms` up to `max_ms`.
    Exponential {
        /// Retries after the first attempt.
        count: u32,
        /// First wait.
        min_ms: u64,
        /// Longest wait.
        max_ms: u64,
    },
}

impl RetryPolicy {
    /// Total invocations allowed: the first one plus the retries.
    pub fn max_attempts(&self) -> u32 {
        1 + match *self {
            RetryPolicy::None => 0,
            RetryPolicy::Immediate { count }
            | RetryPolicy::Interval { count, .. }
            | RetryPolicy::Exponential { count, .. } => count,
        }
    }

    /// How long to wait after failed attempt number `attempt` (from 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        match *self {
            RetryPolicy::None | RetryPolicy::Immediate { .. } => Duration::ZERO,
            RetryPolicy::Interval { interval_ms, .. } => Duration::from_millis(interval_ms),
            RetryPolicy::Exponential { min_ms, max_ms, .. } => {
                let factor = 1u64 << attempt.saturating_sub(1).min(30);
                Duration::from_millis(min_ms.saturating_mul(factor).min(max_ms))
            }
        }
    }
}

/// No retry.
pub const fn none() -> RetryPolicy {
    RetryPolicy::None
}

/// Retry `count` times at once.
pub const fn immediate(count: u32) -> RetryPolicy {
    RetryPolicy::Immediate { count }
}

/// Retry `count` times, `interval_ms` milliseconds apart.
pub const fn interval(count: u32, interval_ms: u64) -> RetryPolicy {
    RetryPolicy::Interval { count, interval_ms }
}

/// Retry `count` times, doubling the wait from `min_ms` to at most `max_ms`.
pub const fn exponential(count: u32, min_ms: u64, max_ms: u64) -> RetryPolicy {
    RetryPolicy::Exponential {
        count,
        min_ms,
        max_ms,
    }
}
