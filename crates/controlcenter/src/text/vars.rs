//! Variables as operators type them: `KEY=VALUE` (the CLI's `--var`, the
//! TUI's form and prompt, lists and lines of them) and values shown back the
//! way they are typed.

use std::fmt;

use isoqube::Variables;
use serde_json::Value;

/// Why a `KEY=VALUE` was refused; each surface words it around what it was
/// given (see [`VarError::describe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarError {
    /// There is no `=`.
    NotKeyValue,
    /// Nothing (or only blanks) before the `=`.
    EmptyKey,
}

impl VarError {
    /// `'{what}' is not KEY=VALUE` or `'{what}' has an empty key`, with `what`
    /// as the caller quotes it.
    pub fn describe(self, what: &str) -> String {
        match self {
            VarError::NotKeyValue => format!("{what} is not KEY=VALUE"),
            VarError::EmptyKey => format!("{what} has an empty key"),
        }
    }
}

impl fmt::Display for VarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VarError::NotKeyValue => "not KEY=VALUE",
            VarError::EmptyKey => "empty key",
        })
    }
}

impl std::error::Error for VarError {}

/// Splits `KEY=VALUE` at the first `=`: the key trimmed (and not empty), the
/// value exactly as given (a value may hold `=`).
///
/// ```
/// use controlcenter::text::{split_var, VarError};
/// assert_eq!(split_var(" env =a=b"), Ok(("env", "a=b")));
/// assert_eq!(split_var("novalue"), Err(VarError::NotKeyValue));
/// assert_eq!(split_var(" =3"), Err(VarError::EmptyKey));
/// ```
pub fn split_var(s: &str) -> Result<(&str, &str), VarError> {
    let (key, value) = s.split_once('=').ok_or(VarError::NotKeyValue)?;
    let key = key.trim();
    if key.is_empty() {
        return Err(VarError::EmptyKey);
    }
    Ok((key, value))
}

/// A variable's value as typed: JSON when it parses as JSON, the text itself
/// otherwise (so `3` is a number, `[1,2]` a list and `prod` a string).
///
/// ```
/// use controlcenter::text::var_value;
/// assert_eq!(var_value("3"), serde_json::json!(3));
/// assert_eq!(var_value("prod"), serde_json::json!("prod"));
/// ```
pub fn var_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// Parses `KEY=VALUE` ([`split_var`], then [`var_value`] on the value as given).
///
/// ```
/// let (k, v) = controlcenter::text::parse_var("retries=3").unwrap();
/// assert_eq!((k.as_str(), v), ("retries", serde_json::json!(3)));
/// assert!(controlcenter::text::parse_var("=3").is_err());
/// ```
pub fn parse_var(s: &str) -> Result<(String, Value), VarError> {
    let (key, value) = split_var(s)?;
    Ok((key.to_string(), var_value(value)))
}

/// `--var`'s parser: [`parse_var`] with the message the CLI prints.
///
/// ```
/// let e = controlcenter::text::parse_flag_var("oops").unwrap_err();
/// assert_eq!(e, "--var 'oops' is not KEY=VALUE");
/// ```
pub fn parse_flag_var(s: &str) -> Result<(String, Value), String> {
    parse_var(s).map_err(|e| e.describe(&format!("--var '{s}'")))
}

/// Parses one typed `KEY=VALUE` (the TUI's form and prompt): like
/// [`parse_var`], but the value is trimmed first.
///
/// ```
/// use controlcenter::text::parse_assignment;
/// assert_eq!(parse_assignment("n=3").unwrap().1, serde_json::json!(3));
/// assert_eq!(parse_assignment("env = prod").unwrap().1, serde_json::json!("prod"));
/// assert!(parse_assignment("=x").is_err());
/// ```
pub fn parse_assignment(s: &str) -> Result<(String, Value), String> {
    let (key, value) = split_var(s).map_err(|e| e.describe(&format!("'{}'", s.trim())))?;
    Ok((key.to_string(), var_value(value.trim())))
}

/// A variable value as the operator types it back: strings bare unless they
/// would read as another JSON value (the inverse of [`var_value`]).
///
/// ```
/// use controlcenter::text::show_value;
/// assert_eq!(show_value(&serde_json::json!("prod")), "prod");
/// assert_eq!(show_value(&serde_json::json!("3")), "\"3\"");
/// assert_eq!(show_value(&serde_json::json!(3)), "3");
/// ```
pub fn show_value(v: &Value) -> String {
    match v {
        Value::String(s) if serde_json::from_str::<Value>(s).is_err() => s.clone(),
        other => other.to_string(),
    }
}

/// Parses `KEY=VALUE` lines (blank lines ignored) into variables.
///
/// ```
/// use controlcenter::text::parse_lines;
/// let vars = parse_lines("a=1\n\nb=two").unwrap();
/// assert_eq!(vars.len(), 2);
/// assert!(parse_lines("a=1\nnope").unwrap_err().contains("line 2"));
/// ```
pub fn parse_lines(text: &str) -> Result<Variables, String> {
    let mut out = Variables::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (k, v) =
            parse_assignment(line).map_err(|e| format!("variables line {}: {e}", i + 1))?;
        out.insert(k, v);
    }
    Ok(out)
}

/// Parses `KEY=VALUE,KEY=VALUE` (a piece without `=` continues the previous
/// value, so `tags=[1,2]` works).
///
/// ```
/// use controlcenter::text::parse_list;
/// let vars = parse_list("a=1, tags=[1,2] ,b=x").unwrap();
/// assert_eq!(vars["tags"], serde_json::json!([1, 2]));
/// assert!(parse_list("").unwrap().is_empty());
/// assert!(parse_list("oops").is_err());
/// ```
pub fn parse_list(text: &str) -> Result<Variables, String> {
    let mut pieces: Vec<String> = Vec::new();
    for piece in text.split(',') {
        match pieces.last_mut() {
            Some(last) if !piece.contains('=') => {
                last.push(',');
                last.push_str(piece);
            }
            _ => pieces.push(piece.to_string()),
        }
    }
    let mut out = Variables::new();
    for piece in pieces {
        if piece.trim().is_empty() {
            continue;
        }
        let (k, v) = parse_assignment(&piece)?;
        out.insert(k, v);
    }
    Ok(out)
}
