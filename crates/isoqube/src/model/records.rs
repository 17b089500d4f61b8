//! Model layer: what the control center lists besides runs: service instances,
//! registered topics, log lines, run filters, and a page of listed runs (with
//! the stored runs that did not parse, named, instead of failing the list).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::wire::time as timestamp;

use super::*;

/// A running service instance, as the control center sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceRecord {
    /// Unique instance id: `name@host:pid`.
    pub id: String,
    /// Service name.
    pub name: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// Event names it can publish or consume.
    pub events: Vec<String>,
    /// Consumer endpoints it hosts.
    pub consumers: Vec<String>,
    /// Transport kind (`in-process`, `amqp`).
    #[serde(default)]
    pub transport: String,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// Last heartbeat.
    pub last_seen: DateTime<Utc>,
}

/// A registered event, as the control center sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TopicRecord {
    /// Event name.
    pub name: String,
    /// What it means.
    pub description: String,
    /// Exchange it is published to.
    pub exchange: String,
    /// MassTransit message type URN.
    pub message_type: String,
    /// Payload fields as `name: type`, for people writing variables.
    #[serde(default)]
    pub schema: Vec<String>,
    /// Endpoints consuming it.
    #[serde(default)]
    pub consumers: Vec<String>,
    /// Last registered.
    pub updated_at: DateTime<Utc>,
}

/// One log line of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogRecord {
    /// The run.
    pub run_id: Uuid,
    /// The step index.
    pub step: Option<usize>,
    /// The event of the step.
    pub event: Option<String>,
    /// TRACE, DEBUG, INFO, WARN or ERROR.
    pub level: String,
    /// The message with its fields.
    pub message: String,
    /// Service name.
    pub service: String,
    /// Host name.
    pub host: String,
    /// When.
    #[serde(serialize_with = "timestamp::one")]
    pub timestamp: DateTime<Utc>,
}

/// Which runs to list, newest first.
///
/// ```
/// let f = isoqube::RunFilter { limit: 20, ..Default::default() };
/// assert!(f.status.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFilter {
    /// Only runs with this status.
    pub status: Option<RunStatus>,
    /// Only runs of this definition.
    pub definition: Option<String>,
    /// Only runs created strictly before this time (for paging).
    pub before: Option<DateTime<Utc>>,
    /// With `before`, the id of the last run of the previous page: then also
    /// the runs created at exactly `before` whose id sorts below it. Runs are
    /// listed by (creation time, id), newest first, so paging with both never
    /// skips nor repeats runs created in the same instant. Ignored without
    /// `before`.
    pub before_id: Option<Uuid>,
    /// At most this many (0 means 50).
    pub limit: usize,
    /// Only runs whose id (hyphenated, lower case) starts with this (the
    /// short ids lists show).
    pub id_prefix: Option<String>,
    /// Only runs whose variables hold every one of these (name, value as
    /// typed): the variable is a string equal to the text, or equals the text
    /// read as JSON (so `1.10` finds `"1.10"` and `1.1`, `true` finds `true`
    /// and `"true"`, `{"a":1}` finds that object).
    pub variables: Vec<(String, String)>,
    /// Only runs with a log line whose message contains this text (any case of ASCII letters).
    pub log_text: Option<String>,
    /// Only runs with one of these statuses (none: any), beside `status`.
    pub statuses: Vec<RunStatus>,
    /// Only runs holding every one of these words (lower case): the id
    /// starts with it, or the definition, status, who started it, the
    /// error, a variable's name or value, a step's name, event or error
    /// contains it. The search grammar's plain words
    /// ([`RunFilter::with_query`]).
    pub text: Vec<String>,
    /// Only runs with a step `Waiting` for a signal ([`Run::is_waiting`]:
    /// their own status stays `Pending` or `Running`): the search's
    /// `status:waiting`. With `statuses`, either holds.
    pub waiting: bool,
}

impl RunFilter {
    /// Whether `run` passes the filter's tests on the run itself (statuses,
    /// definition, id prefix, variables, words; not `log_text` nor the paging
    /// bounds). The stores ask their queries first and this after, so every
    /// store keeps exactly the runs the model keeps.
    ///
    /// ```
    /// let run = isoqube::Run::new(&isoqube::Definition::new("d", ["A"]),
    ///     serde_json::from_str(r#"{"v": "1.10", "n": 2}"#).unwrap(), "doc");
    /// let f = |k: &str, v: &str| isoqube::RunFilter {
    ///     variables: vec![(k.into(), v.into())], ..Default::default() };
    /// assert!(f("v", "1.10").matches(&run));
    /// assert!(f("n", "2").matches(&run));
    /// assert!(!f("n", "3").matches(&run));
    /// ```
    pub fn matches(&self, run: &Run) -> bool {
        self.status.is_none_or(|s| run.status == s)
            && self.statuses_hold(run)
            && self
                .text
                .iter()
                .all(|w| super::run_query::run_has_word(run, w))
            && self
                .definition
                .as_ref()
                .is_none_or(|d| run.definition == *d)
            && self
                .id_prefix
                .as_ref()
                .is_none_or(|p| run.id.to_string().starts_with(&p.to_ascii_lowercase()))
            && self.variables.iter().all(|(k, want)| {
                run.variables
                    .get(k)
                    .is_some_and(|got| var_matches(got, want))
            })
    }

    /// `statuses` and `waiting`, the search's `status:` words: one of them
    /// holds (or none is asked for).
    fn statuses_hold(&self, run: &Run) -> bool {
        (self.statuses.is_empty() && !self.waiting)
            || self.statuses.contains(&run.status)
            || (self.waiting && run.is_waiting())
    }

    /// The effective page size.
    pub fn page_size(&self) -> usize {
        if self.limit == 0 {
            50
        } else {
            self.limit.min(1000)
        }
    }

    /// The filter for the page after `last` (the last run of this page).
    ///
    /// ```
    /// let run = isoqube::Run::new(&isoqube::Definition::new("d", ["A"]), Default::default(), "doc");
    /// let next = isoqube::RunFilter { limit: 2, ..Default::default() }.after(&run);
    /// assert_eq!((next.before, next.before_id, next.limit), (Some(run.created_at), Some(run.id), 2));
    /// ```
    pub fn after(&self, last: &Run) -> RunFilter {
        self.at(&RunCursor::of(last))
    }

    /// The filter for the page that starts after `cursor` (a page's
    /// [`RunPage::next`]).
    ///
    /// ```
    /// use isoqube::{model::RunCursor, RunFilter};
    /// let cursor = RunCursor { created_at: chrono::Utc::now(), id: uuid::Uuid::new_v4() };
    /// let next = RunFilter { limit: 2, ..Default::default() }.at(&cursor);
    /// assert_eq!((next.before, next.before_id), (Some(cursor.created_at), Some(cursor.id)));
    /// ```
    pub fn at(&self, cursor: &RunCursor) -> RunFilter {
        RunFilter {
            before: Some(cursor.created_at),
            before_id: Some(cursor.id),
            ..self.clone()
        }
    }
}

/// Where a listing of runs stands: the creation time and id of the last
/// record read (runs are listed by both, newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunCursor {
    /// The record's creation time.
    pub created_at: DateTime<Utc>,
    /// The record's id.
    pub id: Uuid,
}

impl RunCursor {
    /// The cursor just past `run`.
    pub fn of(run: &Run) -> RunCursor {
        RunCursor {
            created_at: run.created_at,
            id: run.id,
        }
    }
}

/// A stored run that does not parse: a list skips it and names it here, so
/// one bad document neither hides the others nor goes unnoticed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CorruptRun {
    /// The record's id as stored (normally the run's UUID).
    pub id: String,
    /// What does not parse.
    pub reason: String,
}

/// What [`crate::store::RunStore::list_runs`] returns: the runs that parsed,
/// newest first, and the records in the same range that did not.
///
/// ```
/// let page = isoqube::model::RunPage::default();
/// assert!(page.runs.is_empty() && page.corrupt.is_empty() && page.next.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunPage {
    /// The runs, newest first.
    pub runs: Vec<Run>,
    /// The records of this page that do not parse, in list order.
    pub corrupt: Vec<CorruptRun>,
    /// Where the next page starts, when this one was full (as many records
    /// read, good or corrupt, as the filter's page size); `None` on the last
    /// page. A corrupt record counts: a page is not cut short by one.
    pub next: Option<RunCursor>,
}

impl RunPage {
    /// Records the cursor of the next page, given how many records were read
    /// and the key of the last one whose creation time and id could be read
    /// (a corrupt record's may not be; then the last good key is used, so the
    /// next page repeats records rather than skip any).
    pub fn finish(mut self, read: usize, last: Option<RunCursor>, filter: &RunFilter) -> Self {
        self.next = (read >= filter.page_size()).then_some(last).flatten();
        self
    }
}

/// A searched-for variable value read as JSON, when it is JSON.
pub fn var_json(text: &str) -> Option<serde_json::Value> {
    serde_json::from_str(text.trim()).ok()
}

/// See [`RunFilter::variables`].
fn var_matches(got: &serde_json::Value, text: &str) -> bool {
    got.as_str() == Some(text) || var_json(text).is_some_and(|v| v == *got)
}
