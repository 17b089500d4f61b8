//! Retry policies for consumers. A consumer that fails is invoked again in
//! process, per its policy, before the step is failed and the message goes to
//! the error queue (as MassTransit's `UseMessageRetry` does).
//!
//! A policy is written the same way everywhere, with its arguments named and
//! its durations carrying their unit:
//!
//! - `none()` (or `none`): one attempt;
//! - `immediate(attempts = 3)`: up to three attempts, one right after another;
//! - `interval(attempts = 3, every = "500ms")`: a fixed wait between attempts;
//! - `exponential(attempts = 5, first = "100ms", max = "5s")`: the wait doubles
//!   from `first` up to `max`.
//!
//! `attempts` counts every invocation, the first one included. Durations are a
//! whole number and a unit: `ms`, `s`, `m` or `h`; the quotes are optional.
//!
//! There is one parser, [`RetryPolicy::parse`], a `const fn`: `#[consumer(retry
//! = ...)]` hands it the attribute's text in a constant, so a typo fails the
//! build with the parser's message; the configuration (`[service] retry`,
//! `ISOQUBE_RETRY`) calls it when it is loaded. (The proc-macro crate cannot
//! depend on the runtime, and a copy of the grammar there would drift; constant
//! evaluation runs the runtime's own parser at compile time instead.)
//!
//! Uses only the standard library (the author API layer).

pub(crate) mod syntax;

use std::time::Duration;

pub use syntax::RetrySyntaxError;

/// How often and how fast a failing consumer is invoked again.
///
/// ```
/// use isoqube::RetryPolicy;
/// use std::time::Duration;
/// let p = RetryPolicy::parse(r#"exponential(attempts = 5, first = "100ms", max = "1s")"#)?;
/// assert_eq!(p.max_attempts(), 5);
/// assert_eq!(p.delay(1), Duration::from_millis(100));
/// assert_eq!(p.delay(3), Duration::from_millis(400));
/// assert_eq!(p.delay(4), Duration::from_millis(800));
/// assert_eq!(p.delay(9), Duration::from_secs(1));
/// # Ok::<(), isoqube::retry::RetrySyntaxError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryPolicy {
    /// No retry: one attempt.
    None,
    /// Up to `attempts` invocations, one right after another.
    Immediate {
        /// Invocations in all, the first included (at least 1).
        attempts: u32,
    },
    /// Up to `attempts` invocations, `every` apart.
    Interval {
        /// Invocations in all, the first included (at least 1).
        attempts: u32,
        /// Wait between attempts.
        every: Duration,
    },
    /// Up to `attempts` invocations, the wait doubling from `first` up to `max`.
    Exponential {
        /// Invocations in all, the first included (at least 1).
        attempts: u32,
        /// First wait.
        first: Duration,
        /// Longest wait.
        max: Duration,
    },
}

impl RetryPolicy {
    /// Parses a policy as the attribute and the configuration write it (see the
    /// [module](self) docs). Usable in constants.
    ///
    /// ```
    /// use isoqube::RetryPolicy;
    /// use std::time::Duration;
    /// const P: RetryPolicy = match RetryPolicy::parse("interval(attempts = 3, every = 500ms)") {
    ///     Ok(p) => p,
    ///     Err(_) => panic!(),
    /// };
    /// assert_eq!(P, RetryPolicy::Interval { attempts: 3, every: Duration::from_millis(500) });
    /// let typo = RetryPolicy::parse("interval(attempts = 3, evry = 500ms)").unwrap_err();
    /// assert!(typo.to_string().contains("every"), "{typo}");
    /// ```
    pub const fn parse(text: &str) -> Result<RetryPolicy, RetrySyntaxError> {
        syntax::parse(text.as_bytes())
    }

    /// Total invocations allowed: the first one plus the retries.
    pub fn max_attempts(&self) -> u32 {
        match *self {
            RetryPolicy::None => 1,
            RetryPolicy::Immediate { attempts }
            | RetryPolicy::Interval { attempts, .. }
            | RetryPolicy::Exponential { attempts, .. } => attempts.max(1),
        }
    }

    /// How long to wait after failed attempt number `attempt` (from 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        match *self {
            RetryPolicy::None | RetryPolicy::Immediate { .. } => Duration::ZERO,
            RetryPolicy::Interval { every, .. } => every,
            RetryPolicy::Exponential { first, max, .. } => {
                let factor = 1u32 << attempt.saturating_sub(1).min(30);
                first.saturating_mul(factor).min(max)
            }
        }
    }
}

impl std::str::FromStr for RetryPolicy {
    type Err = RetrySyntaxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RetryPolicy::parse(s)
    }
}
