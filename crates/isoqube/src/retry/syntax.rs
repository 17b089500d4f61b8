//! The one grammar of a retry policy, as a `const fn` so that
//! `#[consumer(retry = ...)]` runs it at compile time and the configuration at
//! load time. Written over bytes with loops because that is what constant
//! evaluation allows (no iterators, no `?`).

use std::fmt;
use std::time::Duration;

use super::RetryPolicy;

/// Why a retry policy's text does not parse (a fixed sentence saying what to
/// write instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySyntaxError {
    message: &'static str,
}

impl RetrySyntaxError {
    /// The explanation, as `Display` shows it.
    pub const fn message(&self) -> &'static str {
        self.message
    }
}

impl fmt::Display for RetrySyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for RetrySyntaxError {}

const UNKNOWN_POLICY: &str = "retry: unknown policy; write none(), immediate(attempts = 3), \
    interval(attempts = 3, every = \"500ms\") or exponential(attempts = 3, first = \"100ms\", max = \"5s\")";
const POSITIONAL: &str =
    "retry: the arguments are named, e.g. interval(attempts = 3, every = \"500ms\") \
    or exponential(attempts = 4, first = \"100ms\", max = \"5s\"); `attempts` counts the first \
    invocation too (the old `interval(2, 500)` is `interval(attempts = 3, every = \"500ms\")`)";
const SYNTAX: &str = "retry: malformed policy; expected name(key = value, ...), e.g. \
    interval(attempts = 3, every = \"500ms\")";
const UNKNOWN_KEY: &str = "retry: unknown argument; the arguments are attempts, every (interval), \
    first and max (exponential)";
const TWICE: &str = "retry: an argument is given twice";
const ATTEMPTS: &str =
    "retry: attempts must be a whole number from 1 (it counts the first invocation too)";
const DURATION: &str = "retry: a duration is a whole number and a unit (ms, s, m or h), e.g. \
    \"500ms\" or \"5s\"";
const NONE_ARGS: &str = "retry: none() takes no arguments";
const IMMEDIATE_ARGS: &str = "retry: immediate takes attempts only: immediate(attempts = 3)";
const INTERVAL_ARGS: &str =
    "retry: interval takes attempts and every: interval(attempts = 3, every = \"500ms\")";
const EXPONENTIAL_ARGS: &str = "retry: exponential takes attempts, first and max: \
    exponential(attempts = 3, first = \"100ms\", max = \"5s\")";
const FIRST_OVER_MAX: &str = "retry: exponential's first wait must not exceed its max";

const ATTEMPTS_KEY: u8 = 1;
const EVERY_KEY: u8 = 2;
const FIRST_KEY: u8 = 4;
const MAX_KEY: u8 = 8;

/// `Err(message)` out of a const fn, since `?` is not available there.
macro_rules! fail {
    ($m:expr) => {
        return Err(RetrySyntaxError { message: $m })
    };
}

/// What the arguments said, before the policy checks it has the ones it needs.
struct Args {
    seen: u8,
    attempts: u32,
    every: Duration,
    first: Duration,
    max: Duration,
}

pub(super) const fn parse(b: &[u8]) -> Result<RetryPolicy, RetrySyntaxError> {
    let start = skip_ws(b, 0);
    let name_end = ident_end(b, start);
    let policy = policy_of(b, start, name_end);
    if policy == 0 {
        fail!(UNKNOWN_POLICY);
    }
    let mut i = skip_ws(b, name_end);
    if i == b.len() && policy == NONE {
        return Ok(RetryPolicy::None);
    }
    if i == b.len() || b[i] != b'(' {
        fail!(SYNTAX);
    }
    i += 1;
    let mut args = Args {
        seen: 0,
        attempts: 0,
        every: Duration::ZERO,
        first: Duration::ZERO,
        max: Duration::ZERO,
    };
    loop {
        i = skip_ws(b, i);
        if i < b.len() && b[i] == b')' {
            break;
        }
        i = match argument(b, i, &mut args) {
            Ok(next) => skip_ws(b, next),
            Err(e) => return Err(e),
        };
        if i < b.len() && b[i] == b',' {
            i += 1;
        } else if !(i < b.len() && b[i] == b')') {
            fail!(SYNTAX);
        }
    }
    if skip_ws(b, i + 1) != b.len() {
        fail!(SYNTAX);
    }
    policy_from(policy, &args)
}

const NONE: u8 = 1;
const IMMEDIATE: u8 = 2;
const INTERVAL: u8 = 3;
const EXPONENTIAL: u8 = 4;

const fn policy_of(b: &[u8], start: usize, end: usize) -> u8 {
    if word_is(b, start, end, b"none") {
        NONE
    } else if word_is(b, start, end, b"immediate") {
        IMMEDIATE
    } else if word_is(b, start, end, b"interval") {
        INTERVAL
    } else if word_is(b, start, end, b"exponential") {
        EXPONENTIAL
    } else {
        0
    }
}

/// The policy, once its arguments are exactly the ones it takes.
const fn policy_from(policy: u8, a: &Args) -> Result<RetryPolicy, RetrySyntaxError> {
    match policy {
        NONE if a.seen == 0 => Ok(RetryPolicy::None),
        NONE => fail!(NONE_ARGS),
        IMMEDIATE if a.seen == ATTEMPTS_KEY => Ok(RetryPolicy::Immediate {
            attempts: a.attempts,
        }),
        IMMEDIATE => fail!(IMMEDIATE_ARGS),
        INTERVAL if a.seen == ATTEMPTS_KEY | EVERY_KEY => Ok(RetryPolicy::Interval {
            attempts: a.attempts,
            every: a.every,
        }),
        INTERVAL => fail!(INTERVAL_ARGS),
        EXPONENTIAL if a.seen == ATTEMPTS_KEY | FIRST_KEY | MAX_KEY => {
            if a.first.as_millis() > a.max.as_millis() {
                fail!(FIRST_OVER_MAX);
            }
            Ok(RetryPolicy::Exponential {
                attempts: a.attempts,
                first: a.first,
                max: a.max,
            })
        }
        _ => fail!(EXPONENTIAL_ARGS),
    }
}

/// One `key = value` from `i`; returns where it ends.
const fn argument(b: &[u8], i: usize, args: &mut Args) -> Result<usize, RetrySyntaxError> {
    let key_end = ident_end(b, i);
    if key_end == i {
        if i < b.len() && b[i].is_ascii_digit() {
            fail!(POSITIONAL);
        }
        fail!(SYNTAX);
    }
    let key = if word_is(b, i, key_end, b"attempts") {
        ATTEMPTS_KEY
    } else if word_is(b, i, key_end, b"every") {
        EVERY_KEY
    } else if word_is(b, i, key_end, b"first") {
        FIRST_KEY
    } else if word_is(b, i, key_end, b"max") {
        MAX_KEY
    } else {
        fail!(UNKNOWN_KEY)
    };
    if args.seen & key != 0 {
        fail!(TWICE);
    }
    args.seen |= key;
    let eq = skip_ws(b, key_end);
    if eq == b.len() || b[eq] != b'=' {
        fail!(SYNTAX);
    }
    let (v_start, v_end, next) = match value(b, skip_ws(b, eq + 1)) {
        Ok(v) => v,
        Err(e) => return Err(e),
    };
    if key == ATTEMPTS_KEY {
        match number(b, v_start, v_end) {
            Some(n) if n >= 1 && n <= u32::MAX as u64 => args.attempts = n as u32,
            _ => fail!(ATTEMPTS),
        }
        return Ok(next);
    }
    let d = match duration(b, v_start, v_end) {
        Some(d) => d,
        None => fail!(DURATION),
    };
    match key {
        EVERY_KEY => args.every = d,
        FIRST_KEY => args.first = d,
        _ => args.max = d,
    }
    Ok(next)
}

/// A value from `i`: `"quoted"` or bare up to `,`, `)` or a space. Returns the
/// value's bounds and where it ends.
const fn value(b: &[u8], i: usize) -> Result<(usize, usize, usize), RetrySyntaxError> {
    if i < b.len() && b[i] == b'"' {
        let mut j = i + 1;
        while j < b.len() && b[j] != b'"' {
            j += 1;
        }
        if j == b.len() {
            fail!(SYNTAX);
        }
        return Ok((i + 1, j, j + 1));
    }
    let mut j = i;
    while j < b.len() && !matches!(b[j], b',' | b')') && !b[j].is_ascii_whitespace() {
        j += 1;
    }
    Ok((i, j, j))
}

/// A whole number spanning exactly `start..end`.
const fn number(b: &[u8], start: usize, end: usize) -> Option<u64> {
    let digits = digits_end(b, start, end);
    if digits == start || digits != end {
        return None;
    }
    digits_value(b, start, end)
}

/// `500ms`, `5s`, `2m` or `1h`, spanning exactly `start..end`.
const fn duration(b: &[u8], start: usize, end: usize) -> Option<Duration> {
    let digits = digits_end(b, start, end);
    if digits == start {
        return None;
    }
    let n = match digits_value(b, start, digits) {
        Some(n) => n,
        None => return None,
    };
    let secs_per_unit = if word_is(b, digits, end, b"ms") {
        return Some(Duration::from_millis(n));
    } else if word_is(b, digits, end, b"s") {
        1
    } else if word_is(b, digits, end, b"m") {
        60
    } else if word_is(b, digits, end, b"h") {
        3600
    } else {
        return None;
    };
    match n.checked_mul(secs_per_unit) {
        Some(secs) => Some(Duration::from_secs(secs)),
        None => None,
    }
}

const fn digits_end(b: &[u8], start: usize, end: usize) -> usize {
    let mut i = start;
    while i < end && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

const fn digits_value(b: &[u8], start: usize, end: usize) -> Option<u64> {
    let mut n: u64 = 0;
    let mut i = start;
    while i < end {
        n = match n.checked_mul(10) {
            Some(m) => match m.checked_add((b[i] - b'0') as u64) {
                Some(v) => v,
                None => return None,
            },
            None => return None,
        };
        i += 1;
    }
    Some(n)
}

const fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

const fn ident_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && (b[i].is_ascii_alphabetic() || b[i] == b'_') {
        i += 1;
    }
    i
}

/// Whether `b[start..end]` is `word`.
const fn word_is(b: &[u8], start: usize, end: usize, word: &[u8]) -> bool {
    if end - start != word.len() {
        return false;
    }
    let mut i = 0;
    while i < word.len() {
        if b[start + i] != word[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A policy for `#[consumer(retry = ...)]`: the macro calls this in a constant,
/// so a typo is a compile error with the parser's message.
pub const fn at_compile_time(text: &str) -> RetryPolicy {
    match parse(text.as_bytes()) {
        Ok(p) => p,
        Err(e) => panic!("{}", e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<RetryPolicy, &'static str> {
        parse(s.as_bytes()).map_err(|e| e.message)
    }

    #[test]
    fn named_forms_parse_with_or_without_quotes() {
        assert_eq!(parse_str("none"), Ok(RetryPolicy::None));
        assert_eq!(parse_str(" none() "), Ok(RetryPolicy::None));
        assert_eq!(
            parse_str("immediate(attempts = 2)"),
            Ok(RetryPolicy::Immediate { attempts: 2 })
        );
        assert_eq!(
            parse_str("interval(attempts=3,every=1m)"),
            Ok(RetryPolicy::Interval {
                attempts: 3,
                every: Duration::from_secs(60)
            })
        );
        assert_eq!(
            parse_str(r#"exponential(max = "5s", attempts = 3, first = "100ms",)"#),
            Ok(RetryPolicy::Exponential {
                attempts: 3,
                first: Duration::from_millis(100),
                max: Duration::from_secs(5)
            })
        );
    }

    #[test]
    fn mistakes_say_what_to_write() {
        assert_eq!(parse_str("sometimes(attempts = 3)"), Err(UNKNOWN_POLICY));
        assert_eq!(parse_str("interval(3, 500)"), Err(POSITIONAL));
        assert_eq!(
            parse_str("interval(attempts = 3, evry = \"1s\")"),
            Err(UNKNOWN_KEY)
        );
        assert_eq!(parse_str("interval(attempts = 3)"), Err(INTERVAL_ARGS));
        assert_eq!(
            parse_str("immediate(attempts = 3, every = 1s)"),
            Err(IMMEDIATE_ARGS)
        );
        assert_eq!(parse_str("none(attempts = 1)"), Err(NONE_ARGS));
        assert_eq!(parse_str("immediate(attempts = 0)"), Err(ATTEMPTS));
        assert_eq!(
            parse_str("immediate(attempts = 1, attempts = 2)"),
            Err(TWICE)
        );
        assert_eq!(
            parse_str("interval(attempts = 3, every = 500)"),
            Err(DURATION)
        );
        assert_eq!(
            parse_str("exponential(attempts = 3, first = 9s, max = 1s)"),
            Err(FIRST_OVER_MAX)
        );
        assert_eq!(parse_str("exponential(attempts = 3"), Err(SYNTAX));
        assert_eq!(parse_str("immediate(attempts = 3) x"), Err(SYNTAX));
        assert_eq!(parse_str("immediate"), Err(SYNTAX));
    }
}
