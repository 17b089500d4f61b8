//! The terminal UI's state: which view is shown, the data loaded for it, the
//! selection, the open dialog and the status line. It changes only through
//! [`App::handle_key`] (which returns the [`Action`] the event loop must carry
//! out), [`App::apply`] (fresh data) and [`App::apply_outcome`] (the result of an
//! action), so every screen can be built and tested without a terminal or store.

use chrono::{DateTime, Utc};
use isoqube::{Definition, LogRecord, Run, RunStatus, Variables};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use uuid::Uuid;

use super::form::{parse_list, DefinitionForm, FormResult, TextInput};
use crate::ops::{ErrorQueueView, EventView, FaultView, ServiceView};

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

    fn index(self) -> usize {
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
        }
    }
}

/// What the event loop must do after a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Nothing.
    None,
    /// Leave the UI.
    Quit,
    /// Reload the current view now.
    Refresh,
    /// Save a definition (create or replace).
    SaveDefinition {
        /// What to save.
        definition: Definition,
        /// A new one (else an update).
        create: bool,
    },
    /// Delete a definition.
    DeleteDefinition(String),
    /// Start a run.
    Start {
        /// Definition name.
        definition: String,
        /// Run parameters.
        variables: Variables,
    },
    /// Re-run a run.
    Rerun(Uuid),
    /// Resume a failed or cancelled run.
    Resume(Uuid),
    /// Cancel a pending or running run.
    Cancel(Uuid),
    /// Send an error-queue message back to its endpoint.
    Requeue {
        /// The endpoint.
        endpoint: String,
        /// The message id.
        message_id: String,
    },
    /// Delete an error-queue message.
    Discard {
        /// The endpoint.
        endpoint: String,
        /// The message id.
        message_id: String,
    },
}

impl Action {
    /// What the status line says while the action runs.
    pub fn busy_label(&self) -> String {
        match self {
            Action::SaveDefinition { definition, .. } => format!("saving '{}'", definition.name),
            Action::DeleteDefinition(name) => format!("deleting '{name}'"),
            Action::Start { definition, .. } => format!("starting a run of '{definition}'"),
            Action::Rerun(id) => format!("re-running {}", short_id(id)),
            Action::Resume(id) => format!("resuming {}", short_id(id)),
            Action::Cancel(id) => format!("cancelling {}", short_id(id)),
            Action::Requeue { message_id, .. } => format!("requeuing {message_id}"),
            Action::Discard { message_id, .. } => format!("discarding {message_id}"),
            Action::None | Action::Quit | Action::Refresh => String::new(),
        }
    }
}

/// A yes/no question guarding an action.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    /// The question.
    pub message: String,
    /// What `y` does.
    pub action: Action,
}

/// The start-a-run prompt (variables as `KEY=VALUE,...`).
#[derive(Debug, Clone, PartialEq)]
pub struct StartPrompt {
    /// The definition to start.
    pub definition: String,
    /// Its default variables, shown as a hint.
    pub defaults: Variables,
    /// The typed variables.
    pub input: TextInput,
    /// Why the input was refused.
    pub error: Option<String>,
}

/// The dialog on top of the view, if any.
#[derive(Debug, Clone, PartialEq)]
pub enum Modal {
    /// A y/n confirmation.
    Confirm(Confirm),
    /// The start-a-run prompt.
    Start(StartPrompt),
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
}

/// Fresh data for the state, from the event loop's loads.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    /// Events with consumers.
    Events(Result<Vec<EventView>, String>),
    /// Service instances.
    Services(Result<Vec<ServiceView>, String>),
    /// Definitions.
    Definitions(Result<Vec<Definition>, String>),
    /// Runs under a filter.
    Runs {
        /// The filter the load used (stale loads are ignored).
        filter: Option<RunStatus>,
        /// The runs.
        result: Result<Vec<Run>, String>,
    },
    /// A run and its new log lines.
    Detail {
        /// The run.
        id: Uuid,
        /// The run itself.
        run: Result<Box<Run>, String>,
        /// Log lines from `skip` on.
        logs: Result<Vec<LogRecord>, String>,
        /// How many lines were skipped (stale loads are ignored).
        skip: usize,
    },
    /// Error queues.
    Errors(Result<Vec<ErrorQueueView>, String>),
}

/// What an action came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A definition save finished.
    Saved {
        /// The definition name.
        name: String,
        /// It was new.
        create: bool,
        /// Done, or why not.
        result: Result<(), String>,
    },
    /// Any other action finished.
    Done {
        /// What happened, or why it failed.
        result: Result<String, String>,
        /// A run to open (after a start or re-run).
        open_run: Option<Uuid>,
    },
}

/// What to load for the current view.
#[derive(Debug, Clone, PartialEq)]
pub enum Need {
    /// Events with consumers.
    Events,
    /// Service instances.
    Services,
    /// Definitions.
    Definitions,
    /// Runs under a filter.
    Runs(Option<RunStatus>),
    /// A run with its log lines from `skip` on.
    Detail {
        /// The run.
        id: Uuid,
        /// Lines already loaded.
        skip: usize,
    },
    /// Error queues.
    Errors,
}

/// The whole UI state.
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
    /// Definitions.
    pub definitions: Data<Definition>,
    /// Runs, newest first.
    pub runs: Data<Run>,
    /// Error queues.
    pub errors: Data<ErrorQueueView>,
    /// Selected event.
    pub event_selected: usize,
    /// Selected definition.
    pub definition_selected: usize,
    /// Selected run.
    pub run_selected: usize,
    /// Selected error-queue message (over all endpoints).
    pub fault_selected: usize,
    /// Only runs with this status.
    pub run_filter: Option<RunStatus>,
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

/// The first 8 characters of a run id.
pub fn short_id(id: &Uuid) -> String {
    id.simple().to_string()[..8].to_string()
}

const FILTERS: [Option<RunStatus>; 6] = [
    None,
    Some(RunStatus::Pending),
    Some(RunStatus::Running),
    Some(RunStatus::Succeeded),
    Some(RunStatus::Failed),
    Some(RunStatus::Cancelled),
];

fn step_index(selected: usize, len: usize, key: KeyCode) -> Option<usize> {
    let last = len.saturating_sub(1);
    Some(match key {
        KeyCode::Up | KeyCode::Char('k') => selected.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => (selected + 1).min(last),
        KeyCode::PageUp => selected.saturating_sub(10),
        KeyCode::PageDown => (selected + 10).min(last),
        KeyCode::Home | KeyCode::Char('g') => 0,
        KeyCode::End | KeyCode::Char('G') => last,
        _ => return None,
    })
}

impl App {
    /// A state with nothing loaded, on the services view.
    pub fn new() -> Self {
        App {
            tab: Tab::Services,
            previous_tab: Tab::Services,
            events: Data::default(),
            services: Data::default(),
            definitions: Data::default(),
            runs: Data::default(),
            errors: Data::default(),
            event_selected: 0,
            definition_selected: 0,
            run_selected: 0,
            fault_selected: 0,
            run_filter: None,
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
        });
    }

    /// Shows an error message.
    pub fn error(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            kind: StatusKind::Error,
            text: text.into(),
        });
    }

    /// Every error-queue message, endpoint by endpoint.
    pub fn faults(&self) -> Vec<&FaultView> {
        self.errors
            .items
            .iter()
            .flat_map(|q| q.messages.iter())
            .collect()
    }

    /// The selected definition.
    pub fn selected_definition(&self) -> Option<&Definition> {
        self.definitions.items.get(self.definition_selected)
    }

    /// The selected run (the open one when a detail is shown).
    pub fn selected_run(&self) -> Option<&Run> {
        match &self.detail {
            Some(d) => d.run.as_ref(),
            None => self.runs.items.get(self.run_selected),
        }
    }

    /// What the current view needs loaded.
    pub fn needs(&self) -> Vec<Need> {
        if matches!(self.modal, Some(Modal::Form(_))) {
            return vec![Need::Events];
        }
        match self.tab {
            Tab::Services => vec![Need::Events, Need::Services],
            Tab::Definitions => vec![Need::Definitions, Need::Events],
            Tab::Runs => match &self.detail {
                Some(d) => vec![Need::Detail {
                    id: d.id,
                    skip: d.logs.len(),
                }],
                None => vec![Need::Runs(self.run_filter)],
            },
            Tab::Errors => vec![Need::Errors],
            Tab::Help => Vec::new(),
        }
    }

    /// Records fresh data.
    pub fn apply(&mut self, loaded: Loaded) {
        match loaded {
            Loaded::Events(r) => {
                self.events.set(r);
                self.event_selected = self
                    .event_selected
                    .min(self.events.items.len().saturating_sub(1));
            }
            Loaded::Services(r) => self.services.set(r),
            Loaded::Definitions(r) => {
                let keep = self.selected_definition().map(|d| d.name.clone());
                self.definitions.set(r);
                let items = &self.definitions.items;
                self.definition_selected = keep
                    .and_then(|k| items.iter().position(|d| d.name == k))
                    .unwrap_or(self.definition_selected)
                    .min(items.len().saturating_sub(1));
            }
            Loaded::Runs { filter, result } => {
                if filter != self.run_filter {
                    return;
                }
                let keep = self.runs.items.get(self.run_selected).map(|r| r.id);
                self.runs.set(result);
                let items = &self.runs.items;
                self.run_selected = keep
                    .and_then(|k| items.iter().position(|r| r.id == k))
                    .unwrap_or(self.run_selected)
                    .min(items.len().saturating_sub(1));
            }
            Loaded::Detail {
                id,
                run,
                logs,
                skip,
            } => {
                let Some(d) = self.detail.as_mut().filter(|d| d.id == id) else {
                    return;
                };
                let mut errors = Vec::new();
                match run {
                    Ok(run) => d.run = Some(*run),
                    Err(e) => errors.push(e),
                }
                match logs {
                    Ok(lines) if skip == d.logs.len() => {
                        if d.log_scroll > 0 {
                            d.log_scroll += lines.len();
                        }
                        d.logs.extend(lines);
                    }
                    Ok(_) => {}
                    Err(e) => errors.push(format!("logs: {e}")),
                }
                d.error = (!errors.is_empty()).then(|| errors.join("; "));
            }
            Loaded::Errors(r) => {
                self.errors.set(r);
                self.fault_selected = self
                    .fault_selected
                    .min(self.faults().len().saturating_sub(1));
            }
        }
    }

    /// Records what an action came to.
    pub fn apply_outcome(&mut self, outcome: Outcome) {
        self.busy = None;
        match outcome {
            Outcome::Saved {
                name,
                create,
                result,
            } => match result {
                Ok(()) => {
                    if matches!(self.modal, Some(Modal::Form(_))) {
                        self.modal = None;
                    }
                    let verb = if create { "created" } else { "saved" };
                    self.info(format!("{verb} definition '{name}'"));
                    if let Some(i) = self.definitions.items.iter().position(|d| d.name == name) {
                        self.definition_selected = i;
                    } else if create {
                        let items = &self.definitions.items;
                        self.definition_selected = items.iter().filter(|d| d.name < name).count();
                    }
                }
                Err(e) => match &mut self.modal {
                    Some(Modal::Form(form)) => {
                        form.saving = false;
                        form.error = Some(e);
                    }
                    _ => self.error(format!("could not save '{name}': {e}")),
                },
            },
            Outcome::Done { result, open_run } => {
                match result {
                    Ok(text) => self.info(text),
                    Err(e) => self.error(e),
                }
                if let Some(id) = open_run {
                    self.tab = Tab::Runs;
                    self.detail = Some(RunDetail::new(id));
                }
            }
        }
    }

    /// Applies a key and says what the event loop must do.
    pub fn handle_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return Action::Quit;
        }
        if self.modal.is_some() {
            return self.modal_key(key);
        }
        match key.code {
            KeyCode::Char('q') => {
                self.quit = true;
                return Action::Quit;
            }
            KeyCode::Char('?') | KeyCode::F(1) => {
                if self.tab == Tab::Help {
                    self.tab = self.previous_tab;
                } else {
                    self.previous_tab = self.tab;
                    self.tab = Tab::Help;
                }
                return Action::Refresh;
            }
            KeyCode::Char(c @ '1'..='4') => {
                let i = usize::from(c as u8 - b'1');
                return self.switch(Tab::ALL[i]);
            }
            KeyCode::Tab => {
                let i = if self.tab == Tab::Help {
                    self.previous_tab.index()
                } else {
                    (self.tab.index() + 1) % Tab::ALL.len()
                };
                return self.switch(Tab::ALL[i]);
            }
            KeyCode::BackTab => {
                let i = if self.tab == Tab::Help {
                    self.previous_tab.index()
                } else {
                    (self.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()
                };
                return self.switch(Tab::ALL[i]);
            }
            KeyCode::F(5) => return Action::Refresh,
            _ => {}
        }
        match self.tab {
            Tab::Services => {
                if let Some(i) = step_index(self.event_selected, self.events.items.len(), key.code)
                {
                    self.event_selected = i;
                }
                Action::None
            }
            Tab::Definitions => self.definitions_key(key),
            Tab::Runs => self.runs_key(key),
            Tab::Errors => self.errors_key(key),
            Tab::Help => {
                if matches!(key.code, KeyCode::Esc | KeyCode::Backspace) {
                    self.tab = self.previous_tab;
                    return Action::Refresh;
                }
                Action::None
            }
        }
    }

    fn switch(&mut self, tab: Tab) -> Action {
        if self.tab == tab {
            return Action::None;
        }
        self.tab = tab;
        Action::Refresh
    }

    fn confirm(&mut self, message: String, action: Action) -> Action {
        self.modal = Some(Modal::Confirm(Confirm { message, action }));
        Action::None
    }

    fn modal_key(&mut self, key: KeyEvent) -> Action {
        let Some(modal) = self.modal.take() else {
            return Action::None;
        };
        match modal {
            Modal::Confirm(c) => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                    self.busy = Some(c.action.busy_label());
                    self.status = None;
                    c.action
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    self.info("cancelled");
                    Action::None
                }
                _ => {
                    self.modal = Some(Modal::Confirm(c));
                    Action::None
                }
            },
            Modal::Start(mut p) => match key.code {
                KeyCode::Esc => Action::None,
                KeyCode::Enter => match parse_list(&p.input.text) {
                    Ok(variables) => {
                        let action = Action::Start {
                            definition: p.definition,
                            variables,
                        };
                        self.busy = Some(action.busy_label());
                        self.status = None;
                        action
                    }
                    Err(e) => {
                        p.error = Some(e);
                        self.modal = Some(Modal::Start(p));
                        Action::None
                    }
                },
                _ => {
                    if p.input.handle(key) {
                        p.error = None;
                    }
                    self.modal = Some(Modal::Start(p));
                    Action::None
                }
            },
            Modal::Form(mut form) => match form.handle_key(key, &self.events.items) {
                FormResult::Editing => {
                    self.modal = Some(Modal::Form(form));
                    Action::None
                }
                FormResult::Cancel => Action::Refresh,
                FormResult::Save(definition) => {
                    form.saving = true;
                    let create = form.is_new();
                    self.modal = Some(Modal::Form(form));
                    Action::SaveDefinition {
                        definition: *definition,
                        create,
                    }
                }
            },
        }
    }

    fn definitions_key(&mut self, key: KeyEvent) -> Action {
        if let Some(i) = step_index(
            self.definition_selected,
            self.definitions.items.len(),
            key.code,
        ) {
            self.definition_selected = i;
            return Action::None;
        }
        match key.code {
            KeyCode::Char('n') | KeyCode::Insert => {
                self.modal = Some(Modal::Form(Box::default()));
                Action::Refresh
            }
            KeyCode::Char('e') | KeyCode::Enter => {
                if let Some(def) = self.selected_definition() {
                    self.modal = Some(Modal::Form(Box::new(DefinitionForm::edit(def))));
                    Action::Refresh
                } else {
                    Action::None
                }
            }
            KeyCode::Char('d') | KeyCode::Delete => match self.selected_definition() {
                Some(def) => {
                    let name = def.name.clone();
                    self.confirm(
                        format!("Delete definition '{name}'? Its runs are kept."),
                        Action::DeleteDefinition(name),
                    )
                }
                None => Action::None,
            },
            KeyCode::Char('s') => {
                if let Some(def) = self.selected_definition() {
                    self.modal = Some(Modal::Start(StartPrompt {
                        definition: def.name.clone(),
                        defaults: def.variables.clone(),
                        input: TextInput::new(""),
                        error: None,
                    }));
                }
                Action::None
            }
            _ => Action::None,
        }
    }

    fn runs_key(&mut self, key: KeyEvent) -> Action {
        if let Some(d) = &mut self.detail {
            match key.code {
                KeyCode::Esc | KeyCode::Backspace | KeyCode::Left => {
                    self.detail = None;
                    return Action::Refresh;
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    d.log_scroll = (d.log_scroll + 1).min(d.logs.len().saturating_sub(1));
                    return Action::None;
                }
                KeyCode::Down | KeyCode::Char('j') => {
                    d.log_scroll = d.log_scroll.saturating_sub(1);
                    return Action::None;
                }
                KeyCode::PageUp => {
                    d.log_scroll = (d.log_scroll + 10).min(d.logs.len().saturating_sub(1));
                    return Action::None;
                }
                KeyCode::PageDown => {
                    d.log_scroll = d.log_scroll.saturating_sub(10);
                    return Action::None;
                }
                KeyCode::End | KeyCode::Char('G') => {
                    d.log_scroll = 0;
                    return Action::None;
                }
                _ => {}
            }
        } else {
            if let Some(i) = step_index(self.run_selected, self.runs.items.len(), key.code) {
                self.run_selected = i;
                return Action::None;
            }
            match key.code {
                KeyCode::Enter | KeyCode::Right => {
                    if let Some(run) = self.runs.items.get(self.run_selected) {
                        self.detail = Some(RunDetail::new(run.id));
                        return Action::Refresh;
                    }
                    return Action::None;
                }
                KeyCode::Char('f') => {
                    let i = FILTERS
                        .iter()
                        .position(|f| *f == self.run_filter)
                        .unwrap_or(0);
                    self.run_filter = FILTERS[(i + 1) % FILTERS.len()];
                    self.runs = Data::default();
                    self.run_selected = 0;
                    return Action::Refresh;
                }
                _ => {}
            }
        }
        let Some(run) = self.selected_run() else {
            return Action::None;
        };
        let (id, label, status) = (
            run.id,
            format!("{} ({})", short_id(&run.id), run.definition),
            run.status,
        );
        match key.code {
            KeyCode::Char('r') => self.confirm(
                format!("Re-run {label} as a new run with the same variables?"),
                Action::Rerun(id),
            ),
            KeyCode::Char('u') => {
                if matches!(status, RunStatus::Failed | RunStatus::Cancelled) {
                    self.confirm(
                        format!("Resume {label} from its failed step?"),
                        Action::Resume(id),
                    )
                } else {
                    self.error(format!(
                        "run {label} is {}; only failed or cancelled runs can be resumed",
                        status.as_str()
                    ));
                    Action::None
                }
            }
            KeyCode::Char('c') => {
                if status.is_finished() {
                    self.error(format!(
                        "run {label} is {}; only pending or running runs can be cancelled",
                        status.as_str()
                    ));
                    Action::None
                } else {
                    self.confirm(format!("Cancel run {label}?"), Action::Cancel(id))
                }
            }
            _ => Action::None,
        }
    }

    fn errors_key(&mut self, key: KeyEvent) -> Action {
        let faults = self.faults();
        if let Some(i) = step_index(self.fault_selected, faults.len(), key.code) {
            self.fault_selected = i;
            return Action::None;
        }
        let Some(f) = faults.get(self.fault_selected) else {
            return Action::None;
        };
        let (endpoint, message_id) = (f.endpoint.clone(), f.message_id.clone());
        match key.code {
            KeyCode::Char('r') => self.confirm(
                format!("Requeue message {message_id} to '{endpoint}'?"),
                Action::Requeue {
                    endpoint,
                    message_id,
                },
            ),
            KeyCode::Char('d') | KeyCode::Delete => self.confirm(
                format!("Discard message {message_id} from '{endpoint}_error' for good?"),
                Action::Discard {
                    endpoint,
                    message_id,
                },
            ),
            _ => Action::None,
        }
    }
}
