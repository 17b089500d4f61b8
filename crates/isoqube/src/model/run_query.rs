//! The run search grammar: the words an operator types (the TUI's `/`, the
//! CLI's `runs list --query`, the HTTP API's `q=`) read into one
//! [`RunFilter`], which the store executes over all runs. One parser, so the
//! same query finds the same runs everywhere.
//!
//! A query is words that must all hold (case does not matter in the keys):
//!
//! | word | finds the runs |
//! |---|---|
//! | `status:failed` (`s:`) | with that status; `status:failed,cancelled` or two `status:` words: either; `status:waiting`: with a step waiting for a signal (the run is `Running`) |
//! | `def:NAME` (`d:`) | of that definition (its exact name) |
//! | `id:PREFIX` | whose id starts so (hex digits and `-`) |
//! | `KEY=VALUE` | whose variable `KEY` is `VALUE` (as `--var`: the text, or the text read as JSON) |
//! | `log:TEXT` | with a log line containing `TEXT` |
//! | any other word | whose id starts with it, or whose definition, status, starter, error, a variable's name or value, or a step's name, event or error contains it |
//!
//! `"two words"` in double quotes is one word (`log:"disk full"` too).
//!
//! Pure: it uses only the model's records and statuses.

use super::{Run, RunFilter, RunStatus, StepStatus};
use crate::error::{Error, Result};

/// The word of `status:` (and of the surfaces' status options) that finds
/// runs with a waiting step ([`RunFilter::waiting`]).
pub const WAITING: &str = "waiting";

impl Run {
    /// Whether a step of this pending or running run waits for a signal
    /// (`status:waiting` finds it; its own status stays `Running`).
    ///
    /// ```
    /// use isoqube::{model::WaitDef, Definition, Run, StepDef, Variables};
    /// let wait = StepDef::new("Approval").waiting(WaitDef { correlate: None, timeout: None });
    /// let mut run = Run::new(&Definition::new("d", [wait]), Variables::new(), "doc");
    /// run.status = isoqube::RunStatus::Running;
    /// assert!(run.is_waiting());
    /// assert!(!Run::new(&Definition::new("d", ["A"]), Variables::new(), "doc").is_waiting());
    /// ```
    pub fn is_waiting(&self) -> bool {
        matches!(self.status, RunStatus::Pending | RunStatus::Running)
            && self.steps.iter().any(|s| s.status == StepStatus::Waiting)
    }
}

impl RunFilter {
    /// `self` narrowed by every word of `query` (see the module's table);
    /// bad input (an unknown status, two different definitions, a quote
    /// left open) is refused, naming the word.
    ///
    /// ```
    /// use isoqube::{RunFilter, RunStatus};
    /// let f = RunFilter::default()
    ///     .with_query(r#"status:failed,cancelled def:release branch=main log:"disk full" e65a"#)
    ///     .unwrap();
    /// assert_eq!(f.statuses, [RunStatus::Failed, RunStatus::Cancelled]);
    /// assert_eq!(f.definition.as_deref(), Some("release"));
    /// assert_eq!(f.variables, [("branch".to_string(), "main".to_string())]);
    /// assert_eq!(f.log_text.as_deref(), Some("disk full"));
    /// assert_eq!(f.text, ["e65a"]);
    /// assert!(RunFilter::default().with_query("status:bogus").is_err());
    /// ```
    pub fn with_query(mut self, query: &str) -> Result<RunFilter> {
        for word in words(query)?.iter().filter(|w| !w.is_empty()) {
            self.add_word(word)?;
        }
        Ok(self)
    }

    /// Adds one status a `status:` word names (`waiting` too): a run with
    /// any of them passes.
    ///
    /// ```
    /// let mut f = isoqube::RunFilter::default();
    /// f.add_status("Waiting").unwrap();
    /// f.add_status("failed").unwrap();
    /// assert!(f.waiting);
    /// assert_eq!(f.statuses, [isoqube::RunStatus::Failed]);
    /// assert!(f.add_status("bogus").is_err());
    /// ```
    pub fn add_status(&mut self, text: &str) -> Result<()> {
        let text = text.trim();
        if text.eq_ignore_ascii_case(WAITING) {
            self.waiting = true;
            return Ok(());
        }
        let status = RunStatus::parse(text).map_err(|e| {
            Error::InvalidState(format!("{e} (or {WAITING}: a step waits for a signal)"))
        })?;
        if !self.statuses.contains(&status) {
            self.statuses.push(status);
        }
        Ok(())
    }

    fn add_word(&mut self, word: &str) -> Result<()> {
        let bad = |why: String| Error::InvalidState(format!("search word '{word}': {why}"));
        let (key, value) = match word.split_once(':') {
            Some((k, v)) if is_key(k) => (k.to_ascii_lowercase(), v),
            _ => (String::new(), word),
        };
        match key.as_str() {
            "status" | "s" => {
                for s in value.split(',').filter(|s| !s.trim().is_empty()) {
                    self.add_status(s).map_err(|e| bad(e.to_string()))?;
                }
            }
            "def" | "d" => set_once(&mut self.definition, value, "definition").map_err(bad)?,
            "id" => {
                let prefix = value.trim().to_ascii_lowercase();
                if !is_id_prefix(&prefix) {
                    return Err(bad("a run id starts with hex digits and '-'".into()));
                }
                set_once(&mut self.id_prefix, &prefix, "id").map_err(bad)?
            }
            "log" => set_once(&mut self.log_text, value, "log text").map_err(bad)?,
            _ => match value.split_once('=') {
                Some((k, v)) if !k.is_empty() => self.variables.push((k.into(), v.into())),
                _ => self.text.push(value.to_lowercase()),
            },
        }
        Ok(())
    }
}

/// Whether `p` can start a run id (hyphenated, lower case).
fn is_id_prefix(p: &str) -> bool {
    !p.is_empty() && p.len() <= 36 && p.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// The keys a word may start with (`key:`); any other `a:b` is a plain word.
fn is_key(key: &str) -> bool {
    ["status", "s", "def", "d", "id", "log"]
        .iter()
        .any(|k| key.eq_ignore_ascii_case(k))
}

/// Sets a one-value test, refusing a second, different value.
fn set_once(slot: &mut Option<String>, value: &str, what: &str) -> std::result::Result<(), String> {
    if value.is_empty() {
        return Err(format!("no {what} after the ':'"));
    }
    match slot {
        Some(old) if old != value => Err(format!("a second {what} ('{old}' already)")),
        _ => {
            *slot = Some(value.to_string());
            Ok(())
        }
    }
}

/// The words of `query`: split on white space, `"..."` kept whole (the
/// quotes dropped).
fn words(query: &str) -> Result<Vec<String>> {
    let (mut out, mut cur, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for c in query.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err(Error::InvalidState(format!(
            "search '{query}': a '\"' is not closed"
        )));
    }
    if any && !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// Whether `run` holds the plain word `word` (lower case): see the module.
pub(super) fn run_has_word(run: &super::Run, word: &str) -> bool {
    let has = |text: &str| text.to_lowercase().contains(word);
    let shown = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => has(s),
        other => has(&other.to_string()),
    };
    run.id.to_string().starts_with(word)
        || has(&run.definition)
        || has(run.status.as_str())
        || has(&run.started_by)
        || run.error.as_deref().is_some_and(has)
        || run
            .variables
            .iter()
            .chain(run.params.iter())
            .any(|(k, v)| has(k) || shown(v))
        || run
            .steps
            .iter()
            .any(|s| has(s.name()) || has(&s.event) || s.last_error.as_deref().is_some_and(has))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Definition, Run};

    fn parse(q: &str) -> Result<RunFilter> {
        RunFilter::default().with_query(q)
    }

    #[test]
    fn bad_words_are_refused_naming_them() {
        for (q, named) in [
            ("status:nope", "status:nope"),
            ("def:a def:b", "def:b"),
            ("id:xyz", "id:xyz"),
            ("log:", "log:"),
            ("log:\"disk full", "not closed"),
        ] {
            let e = parse(q).expect_err(q).to_string();
            assert!(e.contains(named), "{q}: {e}");
        }
        // The same one-value test twice is one test.
        assert_eq!(
            parse("def:a d:a").expect("parses").definition.as_deref(),
            Some("a")
        );
    }

    #[test]
    fn plain_words_match_the_run_in_any_case() {
        let def = Definition::new("Nightly", ["Build"]);
        let mut vars = crate::model::Variables::new();
        vars.insert("Branch".into(), "Hotfix-42".into());
        let mut run = Run::new(&def, vars, "ops");
        run.steps[0].last_error = Some("Registry refused".into());
        let id = run.id.to_string();
        for hit in [
            "night",
            "BRANCH",
            "hotfix",
            "\"registry refused\"",
            &id[..6],
            "pending",
        ] {
            assert!(parse(hit).expect(hit).matches(&run), "{hit}");
        }
        for miss in [
            "weekly",
            "registry accepted",
            "Branch=Hotfix",
            "status:failed,cancelled",
        ] {
            assert!(!parse(miss).expect(miss).matches(&run), "{miss}");
        }
        assert!(parse("Branch=Hotfix-42 s:pending,failed")
            .expect("parses")
            .matches(&run));
    }
}
