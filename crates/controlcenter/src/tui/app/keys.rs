//! Key handling: [`App::handle_key`] changes the state and returns the
//! [`Action`] the event loop must carry out (asking y/n first for anything that
//! changes a run, a definition or a queue).
//!
//! Which key does what is looked up in the tables of [`super::key_table`]
//! (the help and the footer read them too); this file says what each does.
//!
//! It may use the state, the messages, the key tables, the form and the text
//! formats.

use isoqube::RunStatus;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::key_table::{
    find, DefinitionsKey, ErrorsKey, GlobalKey, Move, RunDetailKey, RunsKey, SearchKey,
    ServicesKey, StartKey, TextKey, CONFIRM_KEYS, DEFINITIONS_KEYS, ERRORS_KEYS, FAULT_OPEN_KEYS,
    FAULT_SEARCH_KEYS, GLOBAL_KEYS, HELP_KEYS, MOVE_KEYS, RUNS_KEYS, RUN_DETAIL_KEYS,
    RUN_SEARCH_KEYS, RUN_WHOLE_KEYS, SERVICES_KEYS, START_KEYS,
};
use super::messages::Action;
use super::state::{App, Confirm, Data, Modal, RunDetail, StartPrompt, Tab};
use crate::text::parse_list;
use crate::tui::form::{DefinitionForm, FormResult};

/// The run filters `f` cycles through.
const FILTERS: [Option<RunStatus>; 9] = [
    None,
    Some(RunStatus::Pending),
    Some(RunStatus::Running),
    Some(RunStatus::Succeeded),
    Some(RunStatus::Failed),
    Some(RunStatus::Cancelled),
    Some(RunStatus::Compensating),
    Some(RunStatus::Compensated),
    Some(RunStatus::CompensationFailed),
];

/// How far the help scrolls (past its last line it shows nothing more).
const HELP_SCROLL_MAX: u16 = 60;

/// The selection after a movement key (`None` for any other key).
fn step_index(selected: usize, len: usize, key: KeyCode) -> Option<usize> {
    find(MOVE_KEYS, key).map(|m| moved(selected, len, m))
}

/// The selection of a list of `len` after `m`.
fn moved(selected: usize, len: usize, m: Move) -> usize {
    let last = len.saturating_sub(1);
    match m {
        Move::Up => selected.saturating_sub(1),
        Move::Down => (selected + 1).min(last),
        Move::PageUp => selected.saturating_sub(10),
        Move::PageDown => (selected + 10).min(last),
        Move::First => 0,
        Move::Last => last,
    }
}

/// A text's scroll offset after `m` (no end: the view stops at its last line).
fn scrolled(offset: u16, m: Move) -> u16 {
    match m {
        Move::Up => offset.saturating_sub(1),
        Move::Down => offset.saturating_add(1),
        Move::PageUp => offset.saturating_sub(10),
        Move::PageDown => offset.saturating_add(10),
        Move::First | Move::Last => 0,
    }
}

impl App {
    /// Applies a key and says what the event loop must do.
    pub fn handle_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        // The last message was read, or is of no more use: the key clears
        // it (what the key does may say something new).
        self.status = None;
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return Action::Quit;
        }
        if self.modal.is_some() {
            return self.modal_key(key);
        }
        // A search being typed takes every key, the view's letters too.
        match self.tab {
            Tab::Runs if self.detail.is_none() && self.run_search.editing => {
                return self.runs_key(key)
            }
            Tab::Errors if self.fault_open.is_none() && self.fault_search.editing => {
                return self.errors_key(key)
            }
            _ => {}
        }
        if let Some(action) = self.global_key(key) {
            return action;
        }
        match self.tab {
            Tab::Services => self.services_key(key),
            Tab::Definitions => self.definitions_key(key),
            Tab::Runs => self.runs_key(key),
            Tab::Errors => self.errors_key(key),
            Tab::Help => self.help_key(key),
        }
    }

    /// The keys every view shares (quit, help, switching views, refresh).
    fn global_key(&mut self, key: KeyEvent) -> Option<Action> {
        let back_from_help = (self.tab == Tab::Help).then_some(self.previous_tab.index());
        let n = Tab::ALL.len();
        Some(match find(GLOBAL_KEYS, key.code)? {
            GlobalKey::Quit => {
                self.quit = true;
                Action::Quit
            }
            GlobalKey::Help => {
                if self.tab == Tab::Help {
                    self.tab = self.previous_tab;
                } else {
                    self.previous_tab = self.tab;
                    self.tab = Tab::Help;
                }
                Action::Refresh
            }
            GlobalKey::View => {
                let KeyCode::Char(c @ '1'..='4') = key.code else {
                    return None;
                };
                self.switch(Tab::ALL[usize::from(c as u8 - b'1')])
            }
            GlobalKey::NextView => {
                let i = back_from_help.unwrap_or((self.tab.index() + 1) % n);
                self.switch(Tab::ALL[i])
            }
            GlobalKey::PreviousView => {
                let i = back_from_help.unwrap_or((self.tab.index() + n - 1) % n);
                self.switch(Tab::ALL[i])
            }
            GlobalKey::Refresh => Action::Refresh,
        })
    }

    fn services_key(&mut self, key: KeyEvent) -> Action {
        match find(SERVICES_KEYS, key.code) {
            Some(ServicesKey::InstancesDown) => {
                let last = self.services.items.len().saturating_sub(1);
                self.service_offset = (self.service_offset + 1).min(last);
            }
            Some(ServicesKey::InstancesUp) => {
                self.service_offset = self.service_offset.saturating_sub(1);
            }
            Some(ServicesKey::Select(m)) => {
                self.event_selected = moved(self.event_selected, self.events.items.len(), m);
            }
            None => {}
        }
        Action::None
    }

    fn help_key(&mut self, key: KeyEvent) -> Action {
        match find(HELP_KEYS, key.code) {
            Some(TextKey::Back) => {
                self.tab = self.previous_tab;
                return Action::Refresh;
            }
            Some(TextKey::Scroll(Move::Down)) => {
                self.help_scroll = self.help_scroll.saturating_add(1).min(HELP_SCROLL_MAX)
            }
            Some(TextKey::Scroll(m)) => self.help_scroll = scrolled(self.help_scroll, m),
            None => {}
        }
        Action::None
    }

    fn switch(&mut self, tab: Tab) -> Action {
        if self.tab == tab {
            return Action::None;
        }
        self.tab = tab;
        Action::Refresh
    }

    pub(super) fn confirm(&mut self, message: String, action: Action) -> Action {
        self.modal = Some(Modal::Confirm(Confirm { message, action }));
        Action::None
    }

    fn modal_key(&mut self, key: KeyEvent) -> Action {
        let Some(modal) = self.modal.take() else {
            return Action::None;
        };
        match modal {
            Modal::Confirm(c) => match find(CONFIRM_KEYS, key.code) {
                Some(true) => {
                    self.busy = Some(c.action.busy_label());
                    self.status = None;
                    c.action
                }
                Some(false) => {
                    self.info("cancelled");
                    Action::None
                }
                None => {
                    self.modal = Some(Modal::Confirm(c));
                    Action::None
                }
            },
            Modal::Start(mut p) => match find(START_KEYS, key.code) {
                Some(StartKey::Cancel) => Action::None,
                Some(StartKey::Switch) => {
                    p.on_priority = !p.on_priority;
                    self.modal = Some(Modal::Start(p));
                    Action::None
                }
                Some(StartKey::Start) => {
                    match parse_list(&p.input.text).and_then(|v| Ok((v, p.chosen_priority()?))) {
                        Ok((variables, priority)) => {
                            let action = Action::Start {
                                definition: p.definition,
                                variables,
                                priority: Some(priority),
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
                    }
                }
                None => {
                    let input = if p.on_priority {
                        &mut p.priority
                    } else {
                        &mut p.input
                    };
                    if input.handle(key) {
                        p.error = None;
                    }
                    self.modal = Some(Modal::Start(p));
                    Action::None
                }
            },
            Modal::Signal(p) => self.signal_key(p, key),
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
        match find(DEFINITIONS_KEYS, key.code) {
            Some(DefinitionsKey::New) => {
                self.modal = Some(Modal::Form(Box::default()));
                Action::Refresh
            }
            Some(DefinitionsKey::Edit) => {
                if let Some(def) = self.selected_definition() {
                    self.modal = Some(Modal::Form(Box::new(DefinitionForm::edit(def))));
                    Action::Refresh
                } else {
                    Action::None
                }
            }
            Some(DefinitionsKey::Delete) => match self.selected_definition() {
                Some(def) => {
                    let name = def.name.clone();
                    self.confirm(
                        format!("Delete definition '{name}'? Its runs are kept."),
                        Action::DeleteDefinition(name),
                    )
                }
                None => Action::None,
            },
            Some(DefinitionsKey::Start) => {
                if let Some(def) = self.selected_definition() {
                    self.modal = Some(Modal::Start(StartPrompt::of(def)));
                }
                Action::None
            }
            None => Action::None,
        }
    }

    fn runs_key(&mut self, key: KeyEvent) -> Action {
        let Some(d) = &mut self.detail else {
            return self.runs_list_key(key);
        };
        if let Some(scroll) = &mut d.whole {
            // The run shown whole scrolls; Esc or v goes back.
            match find(RUN_WHOLE_KEYS, key.code) {
                Some(TextKey::Back) => d.whole = None,
                Some(TextKey::Scroll(m)) => *scroll = scrolled(*scroll, m),
                None => {}
            }
            return Action::None;
        }
        let last_log = d.logs.len().saturating_sub(1);
        // The arrows move through the steps (the table scrolls with them);
        // the page keys scroll the log.
        match find(RUN_DETAIL_KEYS, key.code) {
            Some(RunDetailKey::Whole) => d.whole = Some(0),
            Some(RunDetailKey::Wrap) => d.log_wrap = !d.log_wrap,
            Some(RunDetailKey::Back) => {
                self.detail = None;
                return Action::Refresh;
            }
            Some(RunDetailKey::StepUp) => d.move_step(-1),
            Some(RunDetailKey::StepDown) => d.move_step(1),
            Some(RunDetailKey::LogFirst) => d.log_scroll = last_log,
            Some(RunDetailKey::LogUp) => d.log_scroll = (d.log_scroll + 10).min(last_log),
            Some(RunDetailKey::LogDown) => d.log_scroll = d.log_scroll.saturating_sub(10),
            Some(RunDetailKey::LogLast) => d.log_scroll = 0,
            None => return self.run_key(key.code).unwrap_or(Action::None),
        }
        Action::None
    }

    /// A key in the runs list (no run open).
    fn runs_list_key(&mut self, key: KeyEvent) -> Action {
        if self.run_search.editing {
            if let Some(action) = self.search_key(key, Tab::Runs) {
                return action;
            }
        }
        let shown = self.visible_runs().len();
        if let Some(i) = step_index(self.run_selected, shown, key.code) {
            self.run_selected = i;
            return Action::None;
        }
        match find(RUNS_KEYS, key.code) {
            Some(RunsKey::Search) => {
                self.run_search.editing = true;
                Action::None
            }
            Some(RunsKey::ClearSearch) if self.run_search.is_active() => {
                self.run_search = Default::default();
                self.run_selected = 0;
                Action::None
            }
            Some(RunsKey::Open) => match self.visible_runs().get(self.run_selected) {
                Some(run) => {
                    self.detail = Some(RunDetail::new(run.id));
                    Action::Refresh
                }
                None => Action::None,
            },
            Some(RunsKey::Status) => {
                let i = FILTERS
                    .iter()
                    .position(|f| *f == self.run_filter)
                    .unwrap_or(0);
                self.run_filter = FILTERS[(i + 1) % FILTERS.len()];
                self.runs = Data::default();
                self.run_selected = 0;
                Action::Refresh
            }
            Some(RunsKey::ClearSearch) | None => self.run_key(key.code).unwrap_or(Action::None),
        }
    }

    /// A key while a search is typed (`tab` says which): `None` when the
    /// key is not the search's (the arrows still move the selection).
    fn search_key(&mut self, key: KeyEvent, tab: Tab) -> Option<Action> {
        let (search, selected, table) = match tab {
            Tab::Runs => (
                &mut self.run_search,
                &mut self.run_selected,
                RUN_SEARCH_KEYS,
            ),
            _ => (
                &mut self.fault_search,
                &mut self.fault_selected,
                FAULT_SEARCH_KEYS,
            ),
        };
        match find(table, key.code) {
            Some(SearchKey::Keep) => search.editing = false,
            Some(SearchKey::Clear) => {
                *search = Default::default();
                *selected = 0;
            }
            None => {
                if !search.input.handle(key) {
                    return None;
                }
                *selected = 0;
            }
        }
        Some(Action::None)
    }

    fn errors_key(&mut self, key: KeyEvent) -> Action {
        if self.fault_open.is_none() && self.fault_search.editing {
            if let Some(action) = self.search_key(key, Tab::Errors) {
                return action;
            }
        }
        let table = match self.fault_open {
            Some(_) => FAULT_OPEN_KEYS,
            None => ERRORS_KEYS,
        };
        let Some(does) = find(table, key.code) else {
            return Action::None;
        };
        match (does, &mut self.fault_open) {
            // An open message scrolls; r and d act on it as in the list.
            (ErrorsKey::Open, Some(_)) => {
                self.fault_open = None;
                return Action::None;
            }
            (ErrorsKey::Select(m), Some(scroll)) => {
                *scroll = scrolled(*scroll, m);
                return Action::None;
            }
            (ErrorsKey::Search, None) => {
                self.fault_search.editing = true;
                return Action::None;
            }
            (ErrorsKey::ClearSearch, None) if self.fault_search.is_active() => {
                self.fault_search = Default::default();
                self.fault_selected = 0;
                return Action::None;
            }
            (ErrorsKey::RequeueAll, None) => return self.bulk_confirm(true),
            (ErrorsKey::DiscardAll, None) => return self.bulk_confirm(false),
            _ => {}
        }
        self.fault_key(does)
    }

    /// A key acting on the selected (or open) message.
    fn fault_key(&mut self, does: ErrorsKey) -> Action {
        let faults = self.faults();
        if let ErrorsKey::Select(m) = does {
            self.fault_selected = moved(self.fault_selected, faults.len(), m);
            return Action::None;
        }
        let Some(f) = faults.get(self.fault_selected) else {
            return Action::None;
        };
        let (endpoint, message_id) = (f.endpoint.clone(), f.message_id.clone());
        match does {
            ErrorsKey::Open => {
                self.fault_open = Some(0);
                Action::None
            }
            ErrorsKey::Requeue => {
                // After the action the list changes under the selection: back to it.
                self.fault_open = None;
                self.confirm(
                    format!(
                        "Requeue message {message_id} to '{endpoint}'? \
                         (A failed run's message resumes the run from its step.)"
                    ),
                    Action::Requeue {
                        endpoint,
                        message_id,
                    },
                )
            }
            ErrorsKey::Discard => {
                self.fault_open = None;
                self.confirm(
                    format!("Discard message {message_id} from '{endpoint}_error' for good?"),
                    Action::Discard {
                        endpoint,
                        message_id,
                    },
                )
            }
            _ => Action::None,
        }
    }
}

impl App {
    /// Asks before requeueing (or discarding) every message the filter shows.
    fn bulk_confirm(&mut self, requeue: bool) -> Action {
        let faults: Vec<_> = self.faults().into_iter().cloned().collect();
        if faults.is_empty() {
            self.error("no message to act on (the filter shows none)");
            return Action::None;
        }
        let n = faults.len();
        let scope = if self.fault_search.is_active() {
            format!(" matching '{}'", self.fault_search.input.text.trim())
        } else {
            String::new()
        };
        let shown_all = self
            .errors
            .items
            .iter()
            .all(|q| q.count as usize <= q.messages.len());
        let more = if shown_all {
            ""
        } else {
            " (only those loaded: the first of each queue)"
        };
        if requeue {
            self.confirm(
                format!(
                    "Requeue all {n} message(s){scope}{more}? \
                     (A failed run's message resumes the run from its step.)"
                ),
                Action::RequeueAll(faults),
            )
        } else {
            self.confirm(
                format!("Discard all {n} message(s){scope}{more} for good?"),
                Action::DiscardAll(faults),
            )
        }
    }
}
