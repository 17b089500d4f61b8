//! The runs search: which loaded runs a typed query lets through. The store
//! filters by status and definition only, so the search runs here, over the
//! page the view loaded ([`crate::tui::RUNS_PAGE`] runs); log lines are not
//! loaded with the list and are not searched.
//!
//! A query is words that must all match (case does not matter):
//! - `status:failed` (or `s:`): the status starts so;
//! - `def:release` (or `d:`): the definition contains it;
//! - `id:e65a` : the run id starts so;
//! - `KEY=VALUE`: the variable (or parameter) `KEY` shows a value containing
//!   `VALUE`;
//! - any other word: the run id starts with it, or it is in the definition,
//!   the status, a variable's name or value, a step's name or event, the
//!   run's or a step's error, or who started the run.
//!
//! Pure: it reads only `isoqube`'s run types and the text formats.

use isoqube::Run;

use crate::text::show_value;

/// Whether `run` matches every word of `query` (an empty query matches all).
///
/// ```
/// use controlcenter::tui::app::run_matches;
/// let def = isoqube::Definition::new("release", ["Build"]);
/// let mut vars = isoqube::Variables::new();
/// vars.insert("branch".into(), serde_json::json!("main"));
/// let run = isoqube::Run::new(&def, vars, "ops");
/// assert!(run_matches(&run, "rel status:pend branch=ma"));
/// assert!(run_matches(&run, &run.id.to_string()[..6]));
/// assert!(!run_matches(&run, "status:failed"));
/// ```
pub fn run_matches(run: &Run, query: &str) -> bool {
    query
        .split_whitespace()
        .all(|word| word_matches(run, &word.to_lowercase()))
}

fn word_matches(run: &Run, word: &str) -> bool {
    let has = |text: &str| text.to_lowercase().contains(word);
    let id = run.id.to_string();
    let id_starts = |p: &str| {
        let p: String = p.chars().filter(|c| *c != '-').collect();
        !p.is_empty() && id.replace('-', "").starts_with(&p)
    };
    if let Some(s) = word
        .strip_prefix("status:")
        .or_else(|| word.strip_prefix("s:"))
    {
        return run.status.as_str().to_lowercase().starts_with(s);
    }
    if let Some(d) = word
        .strip_prefix("def:")
        .or_else(|| word.strip_prefix("d:"))
    {
        return run.definition.to_lowercase().contains(d);
    }
    if let Some(p) = word.strip_prefix("id:") {
        return id_starts(p);
    }
    let vars = || run.variables.iter().chain(run.params.iter());
    if let Some((k, v)) = word.split_once('=') {
        return vars().any(|(name, value)| {
            name.to_lowercase() == k && show_value(value).to_lowercase().contains(v)
        });
    }
    id_starts(word)
        || has(&run.definition)
        || has(run.status.as_str())
        || has(&run.started_by)
        || run.error.as_deref().is_some_and(has)
        || vars().any(|(k, v)| has(k) || has(&show_value(v)))
        || run
            .steps
            .iter()
            .any(|s| has(s.name()) || has(&s.event) || s.last_error.as_deref().is_some_and(has))
}
