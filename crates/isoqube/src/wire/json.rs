//! JSON written by hand, for what is written at every step: a run's document
//! (and its steps) and the next step's message.
//!
//! serde_json's serializer escapes every key and every string byte by byte and
//! goes through its formatter for each token; at one run document per step
//! that was a fifth of the store thread's work. These helpers copy a string that
//! needs no escaping in one piece, and callers write their keys as literals.
//! What they write is byte for byte what serde_json writes for the same value
//! (strings that need escaping are handed to serde_json itself); the callers'
//! tests compare the two.
// The hand-written JSON is the embedded store's (and the publisher's) fast path.
#![cfg_attr(not(feature = "sqlite"), allow(dead_code))]

use serde::Serialize;
use uuid::Uuid;

/// `s` as a JSON string, quoted and escaped exactly as serde_json does.
pub(crate) fn str(out: &mut String, s: &str) {
    str_parts(out, &[s]);
}

/// The concatenation of `parts` as one JSON string, as [`str`] writes it (no
/// copy of the whole is made).
pub(crate) fn str_parts(out: &mut String, parts: &[&str]) {
    out.push('"');
    // Escaping works character by character, so each part can be escaped alone.
    for part in parts {
        escaped(out, part);
    }
    out.push('"');
}

/// The inside of `s` as a JSON string (escaped, not quoted).
fn escaped(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    // No early exit, so the compiler can check many bytes at a time.
    let escape = bytes.iter().fold(false, |acc, &b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if !escape {
        out.push_str(s);
        return;
    }
    // serde_json's own escaping, for identical output.
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(quoted.get(1..quoted.len() - 1).unwrap_or_default()),
        Err(_) => out.push_str(s),
    }
}

/// `s` as a JSON string, or `null`.
pub(crate) fn opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => str(out, s),
        None => out.push_str("null"),
    }
}

/// `n` in decimal.
pub(crate) fn u64(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// `id` hyphenated, lower case, quoted (uuid's serde form).
pub(crate) fn uuid(out: &mut String, id: &Uuid) {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    out.push('"');
    out.push_str(id.hyphenated().encode_lower(&mut text));
    out.push('"');
}

/// `id` as [`uuid`] writes it, or `null`.
pub(crate) fn opt_uuid(out: &mut String, id: Option<&Uuid>) {
    match id {
        Some(id) => uuid(out, id),
        None => out.push_str("null"),
    }
}

/// Anything else, through serde_json.
pub(crate) fn value<T: Serialize + ?Sized>(out: &mut String, v: &T) {
    // What is written here (strings, JSON maps with string keys) serialises;
    // `null` keeps the document JSON anyway.
    match serde_json::to_string(v) {
        Ok(json) => out.push_str(&json),
        Err(_) => out.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut String)) -> String {
        let mut out = String::new();
        f(&mut out);
        out
    }

    #[test]
    fn strings_are_serde_jsons() {
        let mut odd: Vec<String> = [
            "",
            "plain",
            "quote \" and \\ backslash",
            "tab\tnew\nline\r",
            "\u{0}\u{1}\u{1f}\u{7f}",
            "é ü ☃ 😀",
            "</script>",
            "a long one that is longer than any vector width of the machine, with a \" near the end",
        ]
        .map(String::from)
        .to_vec();
        odd.extend((0u8..=127).map(|b| format!("x{}y", b as char)));
        for s in &odd {
            assert_eq!(
                written(|o| str(o, s)),
                serde_json::to_string(s).unwrap(),
                "{s:?}"
            );
            assert_eq!(
                written(|o| opt_str(o, Some(s))),
                serde_json::to_string(&Some(s)).unwrap()
            );
        }
        assert_eq!(written(|o| opt_str(o, None)), "null");
        for (a, b) in odd.iter().zip(odd.iter().rev()) {
            let whole = format!("{a}/{b}");
            assert_eq!(
                written(|o| str_parts(o, &[a, "/", b])),
                serde_json::to_string(&whole).unwrap()
            );
        }
    }

    #[test]
    fn numbers_and_ids_are_serde_jsons() {
        for n in [0, 1, 9, 10, 99, 100, 12345, u32::MAX as u64, u64::MAX] {
            assert_eq!(written(|o| u64(o, n)), serde_json::to_string(&n).unwrap());
        }
        let id = Uuid::new_v4();
        assert_eq!(
            written(|o| uuid(o, &id)),
            serde_json::to_string(&id).unwrap()
        );
        assert_eq!(
            written(|o| opt_uuid(o, Some(&id))),
            serde_json::to_string(&Some(id)).unwrap()
        );
        assert_eq!(written(|o| opt_uuid(o, None)), "null");
    }
}
