//! Times as operators read and type them: durations, short ages, and a
//! point in time typed as RFC 3339 or a day.

/// A run's or step's duration, precise where it is short: `850ms`,
/// `4.2s`, `3m05s`, `2h10m`.
///
/// ```
/// use chrono::Duration;
/// use controlcenter::text::duration_text;
/// assert_eq!(duration_text(Duration::milliseconds(850)), "850ms");
/// assert_eq!(duration_text(Duration::milliseconds(4230)), "4.2s");
/// assert_eq!(duration_text(Duration::seconds(185)), "3m05s");
/// assert_eq!(duration_text(Duration::seconds(7800)), "2h10m");
/// ```
pub fn duration_text(d: chrono::Duration) -> String {
    let ms = d.num_milliseconds().max(0);
    let s = ms / 1000;
    match ms {
        0..=999 => format!("{ms}ms"),
        1000..=59_999 => format!("{}.{}s", s, (ms % 1000) / 100),
        60_000..=3_599_999 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A point in time as an operator types it: RFC 3339
/// (`2026-01-31T12:00:00Z`) or a day (`2026-01-31`, its start in UTC).
///
/// ```
/// let t = controlcenter::text::parse_time("2026-01-31").unwrap();
/// assert_eq!(t.to_rfc3339(), "2026-01-31T00:00:00+00:00");
/// assert!(controlcenter::text::parse_time("2026-01-31T12:00:00+02:00").is_ok());
/// assert!(controlcenter::text::parse_time("last week").is_err());
/// ```
pub fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            format!("'{s}' is not a date (2026-01-31) nor a time (2026-01-31T12:00:00Z)")
        })
}

/// A duration as a short age: `42s`, `5m`, `3h`, `2d`.
///
/// ```
/// assert_eq!(controlcenter::age(chrono::Duration::seconds(90)), "1m");
/// assert_eq!(controlcenter::age(chrono::Duration::seconds(-5)), "0s");
/// ```
pub fn age(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}
