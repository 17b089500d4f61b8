//! Ground layer: timestamps as the wire and the stores write them.
//!
//! Timestamps written as chrono writes them (RFC 3339, UTC, `Z`, as many
//! fraction digits as needed), several times faster: a run document carries up
//! to four per step and is written at every step.
//! Uses chrono and serde only.
// The hand-written JSON is the embedded store's (and the publisher's) fast path.
#![cfg_attr(not(feature = "sqlite"), allow(dead_code))]

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

pub fn one<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; 30];
    match fast(t, None, &mut buf) {
        Some(text) => s.serialize_str(text),
        None => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

/// `t` as chrono's `to_rfc3339_opts(SecondsFormat::Micros, true)` writes it
/// (an envelope's `sentTime`), without its formatter.
pub fn micros(t: &DateTime<Utc>) -> String {
    let mut buf = [0u8; 30];
    match fast(t, Some(6), &mut buf) {
        Some(text) => text.to_string(),
        None => t.to_rfc3339_opts(SecondsFormat::Micros, true),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z` into `buf` for years
/// 0-9999 without a leap second (else `None`: chrono writes it); the
/// fraction has `digits` (0, 3, 6 or 9, truncated) digits, or by default as
/// few of those as show it exactly.
fn fast<'a>(t: &DateTime<Utc>, digits: Option<u32>, buf: &'a mut [u8; 30]) -> Option<&'a str> {
    use chrono::{Datelike, Timelike};
    // Once: every field accessor of a DateTime converts it to local time.
    let t = t.naive_utc();
    let nanos = t.nanosecond();
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    if nanos >= 1_000_000_000 {
        return None;
    }
    let mut put = |at: usize, v: u32, digits: usize| {
        let mut v = v;
        for i in (0..digits).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year, 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second(), 2);
    let digits = digits.unwrap_or(match nanos {
        0 => 0,
        n if n % 1_000_000 == 0 => 3,
        n if n % 1_000 == 0 => 6,
        _ => 9,
    });
    let end = match digits {
        0 => 19,
        3 => {
            put(20, nanos / 1_000_000, 3);
            23
        }
        6 => {
            put(20, nanos / 1_000, 6);
            26
        }
        9 => {
            put(20, nanos, 9);
            29
        }
        _ => return None,
    };
    buf[4] = b'-';
    buf[7] = b'-';
    buf[10] = b'T';
    buf[13] = b':';
    buf[16] = b':';
    buf[19] = b'.';
    buf[end] = b'Z';
    std::str::from_utf8(&buf[..=end]).ok()
}

/// `t` quoted, as [`one`] serialises it.
pub fn write(out: &mut String, t: &DateTime<Utc>) {
    let mut buf = [0u8; 30];
    out.push('"');
    match fast(t, None, &mut buf) {
        Some(text) => out.push_str(text),
        // Digits, signs, separators: nothing to escape.
        None => out.push_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
    out.push('"');
}

/// `t` as [`option`] serialises it.
pub fn write_opt(out: &mut String, t: Option<&DateTime<Utc>>) {
    match t {
        Some(t) => write(out, t),
        None => out.push_str("null"),
    }
}

pub fn option<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => one(t, s),
        None => s.serialize_none(),
    }
}
