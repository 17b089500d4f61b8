//! The runs search on the loaded runs: the store searches all runs with the
//! same query ([`isoqube::RunFilter::with_query`], the one run search
//! grammar), and the list narrows what it has loaded with it at once, as it
//! is typed, by the same test the store applies
//! ([`isoqube::RunFilter::matches`]); so what is shown is what the store
//! finds. `log:` words are the store's alone (log lines are not loaded with
//! the list).
//!
//! Pure: it reads only `isoqube`'s run types.

use isoqube::{Run, RunFilter};

/// Whether `run` matches every word of `query` (an empty query, or one that
/// does not parse yet while it is typed, matches all).
///
/// ```
/// use controlcenter::tui::app::run_matches;
/// let def = isoqube::Definition::new("release", ["Build"]);
/// let mut vars = isoqube::Variables::new();
/// vars.insert("branch".into(), serde_json::json!("main"));
/// let run = isoqube::Run::new(&def, vars, "ops");
/// assert!(run_matches(&run, "rel status:pending branch=main"));
/// assert!(run_matches(&run, &run.id.to_string()[..6]));
/// assert!(!run_matches(&run, "status:failed,cancelled"));
/// assert!(!run_matches(&run, "branch=ma"));
/// ```
pub fn run_matches(run: &Run, query: &str) -> bool {
    search_filter(query).is_none_or(|f| f.matches(run))
}

/// The filter `query` reads as; `None` while it does not parse.
pub(super) fn search_filter(query: &str) -> Option<RunFilter> {
    RunFilter::default().with_query(query).ok()
}
