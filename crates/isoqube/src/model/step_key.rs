//! Model layer: the key of one endpoint's handling of one step (or of its
//! compensation), as the engine hands it to the store transitions. Plain
//! data.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Identifies one endpoint's handling of one step, for the store transitions.
///
/// ```
/// let key = isoqube::model::StepKey::new(uuid::Uuid::nil(), 0, "build", "host-1");
/// assert_eq!(key.endpoint, "build");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepKey {
    /// The run.
    pub run_id: Uuid,
    /// The step index.
    pub step: usize,
    /// The endpoint handling it.
    pub endpoint: String,
    /// The host handling it.
    pub host: String,
    /// When this handling started, if known. A step whose start was not
    /// recorded by [`Run::claim`](crate::Run::claim) gets it from here when its outcome is
    /// recorded, so its duration stays right.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// Names this handling of one delivery. A store call is retried when its
    /// answer is lost, and its first try may have landed: the transitions
    /// recognise their own earlier write by this id (kept in the handler's
    /// record) and answer as that write did, instead of applying it twice
    /// (which would say "already advanced" and never publish the next step,
    /// or count the attempts twice).
    #[serde(default)]
    pub handling: Option<Uuid>,
    /// The handling is of the step's compensation, not of the step.
    #[serde(default)]
    pub compensation: bool,
    /// The time its service allows this handling, from which its claim
    /// reckons the handler's deadline (see
    /// [`StepHandler::deadline`](crate::model::StepHandler::deadline)).
    #[serde(default)]
    pub budget: Option<Budget>,
}

/// The time a service allows one handling of a step: each attempt runs at
/// most the step's `timeout` (else `default_timeout_ms`), and `attempts`
/// attempts with `delays_ms` between them in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// An attempt's limit when the step names no `timeout` (none: no limit).
    pub default_timeout_ms: Option<u64>,
    /// The most attempts its retry policy makes.
    pub attempts: u32,
    /// The retry policy's delays between them, summed.
    pub delays_ms: u64,
}

impl Budget {
    /// When a handling started at `start` has used all its time, for a step
    /// whose own timeout is `step_timeout_ms`; none when no timeout applies.
    ///
    /// ```
    /// use isoqube::model::Budget;
    /// let b = Budget { default_timeout_ms: Some(60_000), attempts: 3, delays_ms: 1_500 };
    /// let start = chrono::Utc::now();
    /// let end = b.deadline(start, Some(1_000)).unwrap();
    /// assert_eq!((end - start).num_milliseconds(), 4_500);
    /// assert_eq!((b.deadline(start, None).unwrap() - start).num_milliseconds(), 181_500);
    /// let none = Budget { default_timeout_ms: None, ..b };
    /// assert_eq!(none.deadline(start, None), None);
    /// ```
    pub fn deadline(
        &self,
        start: DateTime<Utc>,
        step_timeout_ms: Option<u64>,
    ) -> Option<DateTime<Utc>> {
        let each = step_timeout_ms.or(self.default_timeout_ms)?;
        let total = each
            .saturating_mul(u64::from(self.attempts.max(1)))
            .saturating_add(self.delays_ms);
        let total = chrono::Duration::milliseconds(i64::try_from(total).unwrap_or(i64::MAX / 2));
        start.checked_add_signed(total)
    }
}

impl StepKey {
    /// Builds a key.
    pub fn new(
        run_id: Uuid,
        step: usize,
        endpoint: impl Into<String>,
        host: impl Into<String>,
    ) -> Self {
        StepKey {
            run_id,
            step,
            endpoint: endpoint.into(),
            host: host.into(),
            started_at: None,
            handling: None,
            compensation: false,
            budget: None,
        }
    }

    /// The same key, for the step's compensation.
    ///
    /// ```
    /// let key = isoqube::model::StepKey::new(uuid::Uuid::nil(), 0, "undo", "host-1").compensating();
    /// assert!(key.compensation);
    /// ```
    pub fn compensating(mut self) -> Self {
        self.compensation = true;
        self
    }

    /// The same key, with the moment this handling started.
    ///
    /// ```
    /// let now = chrono::Utc::now();
    /// let key = isoqube::model::StepKey::new(uuid::Uuid::nil(), 0, "build", "host-1").started(now);
    /// assert_eq!(key.started_at, Some(now));
    /// ```
    pub fn started(mut self, at: DateTime<Utc>) -> Self {
        self.started_at = Some(at);
        self
    }

    /// The same key, naming the handling it belongs to (see [`Self::handling`]).
    ///
    /// ```
    /// let id = uuid::Uuid::new_v4();
    /// let key = isoqube::model::StepKey::new(uuid::Uuid::nil(), 0, "build", "host-1").handled(id);
    /// assert_eq!(key.handling, Some(id));
    /// ```
    pub fn handled(mut self, handling: Uuid) -> Self {
        self.handling = Some(handling);
        self
    }

    /// The same key, with the time its service allows the handling.
    pub fn within(mut self, budget: Budget) -> Self {
        self.budget = Some(budget);
        self
    }
}
