//! Run ids as lists show them (their first 8 characters) and as operators
//! type them back (whole or any start).

/// The first 8 characters of a run id, as lists and messages show it.
///
/// ```
/// let id = uuid::Uuid::parse_str("0192f0c4-5d3e-7a10-9b2c-3d4e5f607182").unwrap();
/// assert_eq!(controlcenter::text::short_id(&id), "0192f0c4");
/// ```
pub fn short_id(id: &uuid::Uuid) -> String {
    let mut s = id.simple().to_string();
    s.truncate(8);
    s
}

/// A run id as typed, whole or its start (`e65a9fbc`, as lists show it, or
/// longer, with or without hyphens), as the start of a hyphenated lower-case
/// id; `None` when no run id could start so.
///
/// ```
/// use controlcenter::text::run_id_prefix;
/// assert_eq!(run_id_prefix(" E65A9FBC ").as_deref(), Some("e65a9fbc"));
/// assert_eq!(run_id_prefix("e65a9fbc5d3e7a").as_deref(), Some("e65a9fbc-5d3e-7a"));
/// assert_eq!(run_id_prefix("e65a9fbc-5d3e-7a").as_deref(), Some("e65a9fbc-5d3e-7a"));
/// assert_eq!(run_id_prefix("not-hex"), None);
/// assert_eq!(run_id_prefix(""), None);
/// ```
pub fn run_id_prefix(text: &str) -> Option<String> {
    let hex: String = text.trim().chars().filter(|c| *c != '-').collect();
    if hex.is_empty() || hex.len() > 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = String::with_capacity(36);
    for (i, c) in hex.chars().enumerate() {
        if matches!(i, 8 | 12 | 16 | 20) {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    Some(out)
}
