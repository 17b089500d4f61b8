//! The terminal UI's state: which view is shown, the data loaded for it, the
//! selection, the open dialog and the status line ([`App`]), with the small
//! reads the views and the key handling share.
//!
//! It may use the operator's read models ([`crate::ops`]), the form's state
//! ([`crate::tui::form`]) and the messages ([`super::messages`]).

use chrono::{DateTime, Utc};
use isoqube::{
    model::CorruptRun, model::LogRecord, model::StuckStep, Definition, Run, RunStatus, Variables,
};
use uuid::Uuid;

use super::messages::Action;
use crate::ops::{EndpointQueues, ErrorQueueView, EventView, FaultView, ServiceView};
use crate::tui::form::{DefinitionForm, TextInput};
use crate::tui::graph::GraphLayout;

/// The views, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tab {
    /// Events, their consumers and the service instances.
    Services,
    /// Run definitions.
    Definitions,
    /// Runs and a run's detail.
    Runs,
    /// Error queues.
    Errors,
    /// The keys of every view.
    Help,
}

impl Tab {
    /// The tabs shown in the header, in order.
    pub const ALL: [Tab; 4] = [Tab::Services, Tab::Definitions, Tab::Runs, Tab::Errors];

    /// The header title.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Services => "1 Services & events",
            Tab::Definitions => "2 Definitions",
            Tab::Runs => "3 Runs",
            Tab::Errors => "4 Error queue",
            Tab::Help => "? Help",
        }
    }

    pub(super) fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// Data loaded from the store or the broker for one view.
#[derive(Debug, Clone, PartialEq)]
pub struct Data<T> {
    /// The items of the last successful load.
    pub items: Vec<T>,
    /// Why the last load failed (the items are then from an earlier load).
    pub error: Option<String>,
    /// At least one load finished.
    pub loaded: bool,
}

impl<T> Default for Data<T> {
    fn default() -> Self {
        Data {
            items: Vec::new(),
            error: None,
            loaded: false,
        }
    }
}

impl<T> Data<T> {
    /// Records a load result.
    pub fn set(&mut self, result: Result<Vec<T>, String>) {
        match result {
            Ok(items) => {
                self.items = items;
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
        self.loaded = true;
    }
}

/// The open run's detail.
#[derive(Debug, Clone, PartialEq)]
pub struct RunDetail {
    /// Which run.
    pub id: Uuid,
    /// The run, once loaded.
    pub run: Option<Run>,
    /// Its log lines so far.
    pub logs: Vec<LogRecord>,
    /// Why the last load failed.
    pub error: Option<String>,
    /// Log lines scrolled back from the newest (0 follows the tail).
    pub log_scroll: usize,
    /// The step the operator selected; `None` follows the run's current step.
    pub step_selected: Option<usize>,
    /// Log lines wrap at the pane's width (else each is one row, cut).
    pub log_wrap: bool,
    /// The run shown whole (parameters, variables, every step's error in
    /// full), scrolled this many lines; `None` shows the detail.
    pub whole: Option<u16>,
    /// Its stuck steps, as last looked at (see [`isoqube::model::StuckRule`]).
    pub stuck: Vec<StuckStep>,
}

impl RunDetail {
    /// A detail waiting for its first load.
    pub fn new(id: Uuid) -> Self {
        RunDetail {
            id,
            run: None,
            logs: Vec::new(),
            error: None,
            log_scroll: 0,
            step_selected: None,
            log_wrap: false,
            whole: None,
            stuck: Vec::new(),
        }
    }

    /// The run's steps as a graph (rows in level order).
    pub fn graph(&self) -> GraphLayout {
        GraphLayout::of(self.run.as_ref().map_or(&[][..], |r| &r.steps[..]))
    }

    /// The highlighted step (its position in the run): the selected one,
    /// else the first in graph order not succeeded (where the run is, or
    /// stopped), else the last row's.
    pub fn current_step(&self) -> usize {
        let steps = self.run.as_ref().map_or(&[][..], |r| &r.steps[..]);
        let last = steps.len().saturating_sub(1);
        if let Some(i) = self.step_selected {
            return i.min(last);
        }
        let graph = GraphLayout::of(steps);
        graph
            .rows
            .iter()
            .find(|r| steps[r.step].status != isoqube::StepStatus::Succeeded)
            .or(graph.rows.last())
            .map_or(0, |r| r.step)
    }

    /// Moves the step selection `by` rows of the graph's table (up when
    /// negative).
    pub fn move_step(&mut self, by: isize) {
        let graph = self.graph();
        // Steps are selected; their compensation rows come along.
        let steps: Vec<usize> = graph
            .rows
            .iter()
            .filter(|r| r.kind == crate::tui::graph::RowKind::Forward)
            .map(|r| r.step)
            .collect();
        let n = steps.len();
        if n == 0 {
            return;
        }
        let current = self.current_step();
        let row = steps.iter().position(|&s| s == current).unwrap_or(0);
        let at = row.saturating_add_signed(by).min(n - 1);
        self.step_selected = Some(steps[at]);
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    /// The question.
    pub message: String,
    /// What `y` does.
    pub action: Action,
}

/// The start-a-run prompt: variables as `KEY=VALUE,...` and the run's
/// priority (Tab moves between them).
#[derive(Debug, Clone, PartialEq)]
pub struct StartPrompt {
    /// The definition to start.
    pub definition: String,
    /// Its default variables, shown as a hint.
    pub defaults: Variables,
    /// The typed variables.
    pub input: TextInput,
    /// The run's priority, 0-9, filled in with the definition's.
    pub priority: TextInput,
    /// The definition's priority (an emptied priority means it).
    pub default_priority: u8,
    /// The priority has the keyboard (else the variables).
    pub on_priority: bool,
    /// Why the input was refused.
    pub error: Option<String>,
}

impl StartPrompt {
    /// The prompt for `def`: no variables typed, its priority filled in.
    pub fn of(def: &Definition) -> Self {
        StartPrompt {
            definition: def.name.clone(),
            defaults: def.variables.clone(),
            input: TextInput::new(""),
            priority: TextInput::new(def.priority.to_string()),
            default_priority: def.priority,
            on_priority: false,
            error: None,
        }
    }

    /// The typed priority, or why it is none (empty: the definition's).
    pub fn chosen_priority(&self) -> Result<u8, String> {
        let text = self.priority.text.trim();
        if text.is_empty() {
            return Ok(self.default_priority);
        }
        let p = text
            .parse::<u8>()
            .map_err(|_| format!("priority '{text}' is not a whole number from 0 to 9"))?;
        isoqube::model::check_priority(p)?;
        Ok(p)
    }
}

/// The dialog on top of the view, if any.
#[derive(Debug, Clone, PartialEq)]
pub enum Modal {
    /// A y/n confirmation.
    Confirm(Confirm),
    /// The start-a-run prompt.
    Start(StartPrompt),
    /// The prompt signalling a waiting step.
    Signal(super::signal_prompt::SignalPrompt),
    /// The definition form.
    Form(Box<DefinitionForm>),
}

/// How the status line shows a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    /// Something worked.
    Info,
    /// Something failed.
    Error,
}

/// The status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Info or error.
    pub kind: StatusKind,
    /// The text.
    pub text: String,
    /// When it was shown ([`App::now`] then).
    pub at: DateTime<Utc>,
}

impl StatusKind {
    /// How long a message of this kind stays (the next key clears it
    /// sooner): an error longer, as it may need reading twice.
    pub fn shown_for(self) -> chrono::Duration {
        match self {
            StatusKind::Info => chrono::Duration::seconds(5),
            StatusKind::Error => chrono::Duration::seconds(15),
        }
    }
}

/// A filter typed as the list narrows (`/` starts it, Enter keeps it, Esc
/// clears it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    /// What was typed.
    pub input: TextInput,
    /// Keys go to the input.
    pub editing: bool,
}

impl Search {
    /// Whether it filters anything.
    pub fn is_active(&self) -> bool {
        !self.input.text.trim().is_empty()
    }
}

/// The whole UI's state.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    /// The shown view.
    pub tab: Tab,
    /// The view `?` came from.
    pub previous_tab: Tab,
    /// Events with consumers.
    pub events: Data<EventView>,
    /// Service instances.
    pub services: Data<ServiceView>,
    /// Every endpoint's queues, with net rates since the look before.
    pub queues: Data<EndpointQueues>,
    /// When the queues were last looked at (for the rates).
    pub queues_at: Option<DateTime<Utc>>,
    /// Definitions.
    pub definitions: Data<Definition>,
    /// Runs, newest first.
    pub runs: Data<Run>,
    /// The stuck steps of the loaded runs.
    pub runs_stuck: Vec<StuckStep>,
    /// The records the last runs load skipped (they do not parse).
    pub runs_corrupt: Vec<CorruptRun>,
    /// Error queues.
    pub errors: Data<ErrorQueueView>,
    /// Selected event.
    pub event_selected: usize,
    /// Selected definition.
    pub definition_selected: usize,
    /// Selected run.
    pub run_selected: usize,
    /// Service instances scrolled past at the top of their pane.
    pub service_offset: usize,
    /// Selected error-queue message (over all endpoints).
    pub fault_selected: usize,
    /// The selected message opened whole, scrolled this many lines; `None`
    /// shows the list.
    pub fault_open: Option<u16>,
    /// Only runs with this status (asked of the store).
    pub run_filter: Option<RunStatus>,
    /// The runs search typed after `/` (the run search grammar: the store
    /// searches all runs with it, and the loaded list narrows with it at
    /// once; see `search.rs`).
    pub run_search: Search,
    /// The error-queue filter typed after `/` (see [`FaultView::matches`]).
    pub fault_search: Search,
    /// Help lines scrolled past.
    pub help_scroll: u16,
    /// The open run.
    pub detail: Option<RunDetail>,
    /// The open dialog.
    pub modal: Option<Modal>,
    /// The status line.
    pub status: Option<Status>,
    /// The action in flight.
    pub busy: Option<String>,
    /// The time ages are computed against.
    pub now: DateTime<Utc>,
    /// The operator asked to leave.
    pub quit: bool,
}

impl Default for App {
    fn default() -> Self {
        Self::new()
    }
}

impl App {
    /// A state with nothing loaded, on the services view.
    pub fn new() -> Self {
        App {
            tab: Tab::Services,
            previous_tab: Tab::Services,
            events: Data::default(),
            services: Data::default(),
            queues: Data::default(),
            queues_at: None,
            definitions: Data::default(),
            runs: Data::default(),
            runs_stuck: Vec::new(),
            runs_corrupt: Vec::new(),
            errors: Data::default(),
            event_selected: 0,
            definition_selected: 0,
            run_selected: 0,
            service_offset: 0,
            fault_selected: 0,
            fault_open: None,
            run_filter: None,
            run_search: Search::default(),
            fault_search: Search::default(),
            help_scroll: 0,
            detail: None,
            modal: None,
            status: None,
            busy: None,
            now: Utc::now(),
            quit: false,
        }
    }

    /// Shows an info message.
    pub fn info(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            kind: StatusKind::Info,
            text: text.into(),
            at: self.now,
        });
    }

    /// Shows an error message.
    pub fn error(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            kind: StatusKind::Error,
            text: text.into(),
            at: self.now,
        });
    }

    /// Moves the clock to `now` (before each draw): a status message shown
    /// longer than its kind's [`StatusKind::shown_for`] goes.
    pub fn tick(&mut self, now: DateTime<Utc>) {
        self.now = now;
        if self
            .status
            .as_ref()
            .is_some_and(|s| now - s.at >= s.kind.shown_for())
        {
            self.status = None;
        }
    }

    /// The error-queue messages the filter lets through, endpoint by endpoint.
    pub fn faults(&self) -> Vec<&FaultView> {
        let query = self.fault_search.input.text.as_str();
        self.errors
            .items
            .iter()
            .flat_map(|q| q.messages.iter())
            .filter(|f| f.matches(query))
            .collect()
    }

    /// The loaded runs the search lets through, newest first (the store's
    /// test, so what it will load once the search is sent).
    pub fn visible_runs(&self) -> Vec<&Run> {
        let filter = super::search::search_filter(&self.run_search.input.text);
        self.runs
            .items
            .iter()
            .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r)))
            .collect()
    }

    /// The selected definition.
    pub fn selected_definition(&self) -> Option<&Definition> {
        self.definitions.items.get(self.definition_selected)
    }

    /// Whether the loaded run `id` has a stuck step.
    pub fn is_stuck(&self, id: Uuid) -> bool {
        self.runs_stuck.iter().any(|s| s.run_id == id)
    }

    /// The selected run (the open one when a detail is shown).
    pub fn selected_run(&self) -> Option<&Run> {
        match &self.detail {
            Some(d) => d.run.as_ref(),
            None => self.visible_runs().get(self.run_selected).copied(),
        }
    }
}
