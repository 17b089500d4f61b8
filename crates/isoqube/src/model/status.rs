//! Model layer: the statuses of a run and of its steps, and what each allows.
//! Uses only serde.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Overall status of a run.
///
/// ```
/// use isoqube::RunStatus;
/// assert!(RunStatus::Failed.is_finished());
/// assert_eq!(RunStatus::Running.as_str(), "Running");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(description = "Overall status of a run.")
)]
pub enum RunStatus {
    /// Created, first step not yet picked up.
    Pending,
    /// At least one step was picked up.
    Running,
    /// Every step succeeded.
    Succeeded,
    /// A step failed after its retries.
    Failed,
    /// An operator cancelled it.
    Cancelled,
    /// A step failed (or an operator cancelled it to be undone): the steps it
    /// completed are being compensated, in reverse dependency order.
    Compensating,
    /// Failed or cancelled, and every completed step that has a
    /// compensation was compensated.
    Compensated,
    /// A compensation failed after its retries; an operator can resume the
    /// compensation.
    CompensationFailed,
}

/// Every run status, in the order they are listed to people.
const RUN_STATUSES: [RunStatus; 8] = [
    RunStatus::Pending,
    RunStatus::Running,
    RunStatus::Succeeded,
    RunStatus::Failed,
    RunStatus::Cancelled,
    RunStatus::Compensating,
    RunStatus::Compensated,
    RunStatus::CompensationFailed,
];

impl RunStatus {
    /// No further step will run (unless resumed).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded
                | RunStatus::Failed
                | RunStatus::Cancelled
                | RunStatus::Compensated
                | RunStatus::CompensationFailed
        )
    }

    /// Every status.
    pub fn all() -> &'static [RunStatus] {
        &RUN_STATUSES
    }

    /// The name as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "Pending",
            RunStatus::Running => "Running",
            RunStatus::Succeeded => "Succeeded",
            RunStatus::Failed => "Failed",
            RunStatus::Cancelled => "Cancelled",
            RunStatus::Compensating => "Compensating",
            RunStatus::Compensated => "Compensated",
            RunStatus::CompensationFailed => "CompensationFailed",
        }
    }

    /// Parses a status name, case-insensitively.
    pub fn parse(s: &str) -> Result<Self> {
        RUN_STATUSES
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = RUN_STATUSES.iter().map(|st| st.as_str()).collect();
                Error::InvalidState(format!(
                    "unknown run status '{s}' (expected one of {})",
                    names.join(", ")
                ))
            })
    }
}

/// Status of one step of a run (and of one endpoint's handling of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum StepStatus {
    /// Not yet picked up.
    Pending,
    /// A consumer is working on it.
    Invoked,
    /// A consumer finished it.
    Succeeded,
    /// A consumer gave up on it after its retries.
    Failed,
    /// The run was cancelled while the step was in flight.
    Cancelled,
    /// The run ended before the step was reached.
    Skipped,
    /// A wait step that is due: it waits for its event (a signal), until its
    /// deadline.
    Waiting,
}

impl StepStatus {
    /// The name as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "Pending",
            StepStatus::Invoked => "Invoked",
            StepStatus::Succeeded => "Succeeded",
            StepStatus::Failed => "Failed",
            StepStatus::Cancelled => "Cancelled",
            StepStatus::Skipped => "Skipped",
            StepStatus::Waiting => "Waiting",
        }
    }
}
