//! What an operator asks [`Control`](super::control::Control) for when work
//! starts: [`StartRun`], [`Rerun`] and [`Resume`], each one value with its
//! options (variables, priority, who asked), so there is one way to start,
//! re-run or resume a run whatever the options.
//!
//! May use: the model's [`Variables`] only (plain data, no I/O).

use uuid::Uuid;

use crate::model::Variables;

/// Who started a run when the request does not say.
pub const DEFAULT_STARTED_BY: &str = "isoqube";

/// A run to start: its definition, and optionally variables over the
/// definition's defaults, a priority instead of the definition's, who starts
/// it, and a run id that makes it start at most once.
///
/// ```
/// use isoqube::control::StartRun;
/// let start = StartRun::new("linux-release").var("version", "1.2").priority(7).started_by("ci");
/// assert_eq!(start.definition, "linux-release");
/// assert_eq!(start.priority, Some(7));
/// assert_eq!(start.started_by.as_deref(), Some("ci"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StartRun {
    /// The definition's name.
    pub definition: String,
    /// Variables over the definition's defaults.
    pub vars: Variables,
    /// 0-9 instead of the definition's priority (`None`: the definition's).
    /// Over priority queues its steps overtake the waiting steps of runs of a
    /// lower priority; above 9 is refused, nothing written.
    pub priority: Option<u8>,
    /// Who starts it (`None`: [`DEFAULT_STARTED_BY`], or the caller's own
    /// default, e.g. the control center's `controlcenter:USER@HOST`).
    pub started_by: Option<String>,
    /// When its first steps are published (`None`, or a time past: now).
    /// The run is stored at once, `Pending`; the store's timer starts it
    /// ([`crate::model::Run::delay_start`]), whichever service is up then.
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// For this run, the timeout of the wait steps named (by step name or
    /// awaited event) instead of their definition's; naming no wait step of
    /// the definition is refused, nothing written.
    pub wait_timeouts: Vec<(String, std::time::Duration)>,
}

impl StartRun {
    /// A run of `definition` with its defaults.
    pub fn new(definition: impl Into<String>) -> Self {
        StartRun {
            definition: definition.into(),
            ..StartRun::default()
        }
    }

    /// With `vars` over the definition's defaults (replacing any set before).
    pub fn vars(mut self, vars: Variables) -> Self {
        self.vars = vars;
        self
    }

    /// With the variable `name` set to `value`.
    pub fn var(mut self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// At `priority` (0-9) instead of the definition's.
    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = Some(priority);
        self
    }

    /// At `priority` when given, else the definition's.
    pub fn priority_opt(mut self, priority: Option<u8>) -> Self {
        self.priority = priority;
        self
    }

    /// Recording `who` as who started it.
    pub fn started_by(mut self, who: impl Into<String>) -> Self {
        self.started_by = Some(who.into());
        self
    }

    /// Started at `at` rather than now (a delayed start).
    pub fn at(mut self, at: chrono::DateTime<chrono::Utc>) -> Self {
        self.at = Some(at);
        self
    }

    /// With the wait step `step` (its name, or the event it waits for)
    /// timing out after `timeout` in this run, not its definition's.
    pub fn wait_timeout(mut self, step: impl Into<String>, timeout: std::time::Duration) -> Self {
        self.wait_timeouts.push((step.into(), timeout));
        self
    }

    /// Started `delay` from now.
    pub fn after(mut self, delay: std::time::Duration) -> Self {
        self.at = chrono::Duration::from_std(delay)
            .ok()
            .and_then(|d| chrono::Utc::now().checked_add_signed(d));
        self
    }

    /// Who started it, `default` when the request does not say.
    pub fn started_by_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.started_by.as_deref().unwrap_or(default)
    }
}

/// A new run of an old run's definition with its parameters, `vars` merged
/// over them, at the priority the old run ran at.
///
/// ```
/// use isoqube::control::Rerun;
/// let again = Rerun::new().var("n", "2").started_by("ops");
/// assert_eq!(again.vars["n"], "2");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rerun {
    /// Merged over the old run's parameters (the new run's parameters).
    pub vars: Variables,
    /// Who starts the new run (`None`: [`DEFAULT_STARTED_BY`] or the caller's default).
    pub started_by: Option<String>,
}

impl Rerun {
    /// The same parameters again.
    pub fn new() -> Self {
        Rerun::default()
    }

    /// With `vars` merged over the old run's parameters.
    pub fn vars(mut self, vars: Variables) -> Self {
        self.vars = vars;
        self
    }

    /// With the variable `name` set to `value`.
    pub fn var(mut self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// Recording `who` as who started the new run.
    pub fn started_by(mut self, who: impl Into<String>) -> Self {
        self.started_by = Some(who.into());
        self
    }
}

/// A failed or cancelled run continued from its failed steps, `vars` merged
/// over its variables first (e.g. a corrected value the failed step needs).
///
/// ```
/// use isoqube::control::Resume;
/// assert!(Resume::new().var("n", "3").vars.contains_key("n"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resume {
    /// Merged over the run's variables.
    pub vars: Variables,
}

impl Resume {
    /// As it is.
    pub fn new() -> Self {
        Resume::default()
    }

    /// With `vars` merged over the run's variables.
    pub fn vars(mut self, vars: Variables) -> Self {
        self.vars = vars;
        self
    }

    /// With the variable `name` set to `value`.
    pub fn var(mut self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }
}

/// The run id a request's own id (a webhook delivery id) names: fixed
/// namespace, so every process derives the same id for the same request.
///
/// ```
/// use isoqube::control::request_run_id;
/// assert_eq!(request_run_id("delivery-1"), request_run_id("delivery-1"));
/// assert_ne!(request_run_id("delivery-1"), request_run_id("delivery-2"));
/// ```
pub fn request_run_id(request: &str) -> Uuid {
    const REQUEST_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_3c2e_8d4b_4f0a_9e57_2b6c_d1a0_7e93);
    Uuid::new_v5(&REQUEST_NAMESPACE, request.as_bytes())
}
