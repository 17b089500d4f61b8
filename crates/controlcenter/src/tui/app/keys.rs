//! Key handling: [`App::handle_key`] changes the state and returns the
//! [`Action`] the event loop must carry out (asking y/n first for anything that
//! changes a run, a definition or a queue).
//!
//! It may use the state, the messages, the form and the text formats.

use isoqube::RunStatus;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

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

/// The selection after a movement key (`None` for any other key).
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
        match key.code {
            KeyCode::Char('q') => {
                self.quit = true;
                return Some(Action::Quit);
            }
            KeyCode::Char('?') | KeyCode::F(1) => {
                if self.tab == Tab::Help {
                    self.tab = self.previous_tab;
                } else {
                    self.previous_tab = self.tab;
                    self.tab = Tab::Help;
                }
                return Some(Action::Refresh);
            }
            KeyCode::Char(c @ '1'..='4') => {
                let i = usize::from(c as u8 - b'1');
                return Some(self.switch(Tab::ALL[i]));
            }
            KeyCode::Tab => {
                let i = if self.tab == Tab::Help {
                    self.previous_tab.index()
                } else {
                    (self.tab.index() + 1) % Tab::ALL.len()
                };
                return Some(self.switch(Tab::ALL[i]));
            }
            KeyCode::BackTab => {
                let i = if self.tab == Tab::Help {
                    self.previous_tab.index()
                } else {
                    (self.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()
                };
                return Some(self.switch(Tab::ALL[i]));
            }
            KeyCode::F(5) => return Some(Action::Refresh),
            _ => {}
        }
        None
    }

    fn services_key(&mut self, key: KeyEvent) -> Action {
        match key.code {
            // The instances pane scrolls on its own keys; the
            // arrows belong to the events list.
            KeyCode::Char(']') => {
                let last = self.services.items.len().saturating_sub(1);
                self.service_offset = (self.service_offset + 1).min(last);
            }
            KeyCode::Char('[') => {
                self.service_offset = self.service_offset.saturating_sub(1);
            }
            code => {
                if let Some(i) = step_index(self.event_selected, self.events.items.len(), code) {
                    self.event_selected = i;
                }
            }
        }
        Action::None
    }

    fn help_key(&mut self, key: KeyEvent) -> Action {
        match key.code {
            KeyCode::Esc | KeyCode::Backspace => {
                self.tab = self.previous_tab;
                return Action::Refresh;
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.help_scroll = self.help_scroll.saturating_sub(1)
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.help_scroll = self.help_scroll.saturating_add(1).min(40)
            }
            _ => {}
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
                KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down => {
                    p.on_priority = !p.on_priority;
                    self.modal = Some(Modal::Start(p));
                    Action::None
                }
                KeyCode::Enter => {
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
                _ => {
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
                    self.modal = Some(Modal::Start(StartPrompt::of(def)));
                }
                Action::None
            }
            _ => Action::None,
        }
    }

    fn runs_key(&mut self, key: KeyEvent) -> Action {
        if let Some(d) = &mut self.detail {
            if let Some(scroll) = &mut d.whole {
                // The run shown whole scrolls; Esc or v goes back.
                match key.code {
                    KeyCode::Esc | KeyCode::Backspace | KeyCode::Left | KeyCode::Char('v') => {
                        d.whole = None
                    }
                    KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
                    KeyCode::Down | KeyCode::Char('j') => *scroll = scroll.saturating_add(1),
                    KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
                    KeyCode::PageDown => *scroll = scroll.saturating_add(10),
                    KeyCode::Home | KeyCode::Char('g') => *scroll = 0,
                    _ => {}
                }
                return Action::None;
            }
            match key.code {
                KeyCode::Char('v') => {
                    d.whole = Some(0);
                    return Action::None;
                }
                KeyCode::Char('w') => {
                    d.log_wrap = !d.log_wrap;
                    return Action::None;
                }
                KeyCode::Esc | KeyCode::Backspace | KeyCode::Left => {
                    self.detail = None;
                    return Action::Refresh;
                }
                // The arrows move through the steps (the table scrolls with
                // them); the page keys scroll the log.
                KeyCode::Up | KeyCode::Char('k') => {
                    d.move_step(-1);
                    return Action::None;
                }
                KeyCode::Down | KeyCode::Char('j') => {
                    d.move_step(1);
                    return Action::None;
                }
                KeyCode::Home | KeyCode::Char('g') => {
                    d.log_scroll = d.logs.len().saturating_sub(1);
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
            match key.code {
                KeyCode::Char('/') => {
                    self.run_search.editing = true;
                    return Action::None;
                }
                KeyCode::Esc if self.run_search.is_active() => {
                    self.run_search = Default::default();
                    self.run_selected = 0;
                    return Action::None;
                }
                KeyCode::Enter | KeyCode::Right => {
                    if let Some(run) = self.visible_runs().get(self.run_selected) {
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
        self.run_key(key.code).unwrap_or(Action::None)
    }

    /// A key while a search is typed (`tab` says which): `None` when the
    /// key is not the search's (the arrows still move the selection).
    fn search_key(&mut self, key: KeyEvent, tab: Tab) -> Option<Action> {
        let (search, selected) = match tab {
            Tab::Runs => (&mut self.run_search, &mut self.run_selected),
            _ => (&mut self.fault_search, &mut self.fault_selected),
        };
        match key.code {
            KeyCode::Enter => search.editing = false,
            KeyCode::Esc => {
                *search = Default::default();
                *selected = 0;
            }
            _ => {
                if !search.input.handle(key) {
                    return None;
                }
                *selected = 0;
            }
        }
        Some(Action::None)
    }

    fn errors_key(&mut self, key: KeyEvent) -> Action {
        if self.fault_open.is_none() {
            if self.fault_search.editing {
                if let Some(action) = self.search_key(key, Tab::Errors) {
                    return action;
                }
            }
            match key.code {
                KeyCode::Char('/') => {
                    self.fault_search.editing = true;
                    return Action::None;
                }
                KeyCode::Esc if self.fault_search.is_active() => {
                    self.fault_search = Default::default();
                    self.fault_selected = 0;
                    return Action::None;
                }
                KeyCode::Char('R') => return self.bulk_confirm(true),
                KeyCode::Char('D') => return self.bulk_confirm(false),
                _ => {}
            }
        }
        if let Some(scroll) = &mut self.fault_open {
            // An open message scrolls; r and d act on it as in the list.
            match key.code {
                KeyCode::Esc | KeyCode::Backspace | KeyCode::Left | KeyCode::Enter => {
                    self.fault_open = None;
                    return Action::None;
                }
                KeyCode::Up | KeyCode::Char('k') => *scroll = scroll.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => *scroll = scroll.saturating_add(1),
                KeyCode::PageUp => *scroll = scroll.saturating_sub(10),
                KeyCode::PageDown => *scroll = scroll.saturating_add(10),
                KeyCode::Home => *scroll = 0,
                _ => {}
            }
        }
        let faults = self.faults();
        if self.fault_open.is_none() {
            if let Some(i) = step_index(self.fault_selected, faults.len(), key.code) {
                self.fault_selected = i;
                return Action::None;
            }
        }
        let Some(f) = faults.get(self.fault_selected) else {
            return Action::None;
        };
        if matches!(key.code, KeyCode::Enter | KeyCode::Right) && self.fault_open.is_none() {
            self.fault_open = Some(0);
            return Action::None;
        }
        let (endpoint, message_id) = (f.endpoint.clone(), f.message_id.clone());
        if matches!(key.code, KeyCode::Char('r' | 'd') | KeyCode::Delete) {
            // After the action the list changes under the selection: back to it.
            self.fault_open = None;
        }
        match key.code {
            KeyCode::Char('r') => self.confirm(
                format!(
                    "Requeue message {message_id} to '{endpoint}'? \
                     (A failed run's message resumes the run from its step.)"
                ),
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
