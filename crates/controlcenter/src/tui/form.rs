//! The definition form (name, description, steps picked from
//! the recorded events and edited one by one, default variables, schedules).
//! Everything here is plain state changed by key events; nothing touches the
//! terminal or the store. The picker and the step editor are in
//! [`super::step_editor`].
//!
//! It may use the operator's read models ([`crate::ops`]) and the text formats
//! ([`crate::text`], whose `KEY=VALUE` and schedule parsers are re-exported
//! here for the form's callers).

use isoqube::Definition;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::ops::EventView;
use crate::text::schedule_spec;
pub use crate::text::{
    parse_assignment, parse_lines, parse_list, parse_schedule_lines, show_value,
};
use crate::tui::step_editor::{EventPicker, PickerKey, StepEditor, StepKey};
pub use crate::tui::text_input::TextInput;

/// Which part of the definition form has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The name (fixed when editing).
    Name,
    /// The description.
    Description,
    /// The ordered steps.
    Steps,
    /// Default variables, one `KEY=VALUE` per line.
    Variables,
    /// Schedules, one spec per line (`ID=every:SECS`, `ID=cron:EXPR@TZ`, ...).
    Schedules,
}

impl Field {
    fn next(self) -> Field {
        match self {
            Field::Name => Field::Description,
            Field::Description => Field::Steps,
            Field::Steps => Field::Variables,
            Field::Variables => Field::Schedules,
            Field::Schedules => Field::Name,
        }
    }

    fn prev(self) -> Field {
        match self {
            Field::Name => Field::Schedules,
            Field::Description => Field::Name,
            Field::Steps => Field::Description,
            Field::Variables => Field::Steps,
            Field::Schedules => Field::Variables,
        }
    }
}

/// What a key did to the form.
#[derive(Debug, Clone, PartialEq)]
pub enum FormResult {
    /// Keep editing.
    Editing,
    /// Close the form without saving.
    Cancel,
    /// Save this definition (it passed the local checks).
    Save(Box<Definition>),
}

/// The create/edit form of a definition.
#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionForm {
    /// The definition being edited (`None` when creating one).
    pub original: Option<Definition>,
    /// Name input.
    pub name: TextInput,
    /// Description input.
    pub description: TextInput,
    /// Event names in order.
    pub steps: Vec<isoqube::StepDef>,
    /// Selected step.
    pub step_selected: usize,
    /// Default variables, one `KEY=VALUE` per line.
    pub variables: TextInput,
    /// Schedules, one spec per line (see [`parse_schedule_lines`]).
    pub schedules: TextInput,
    /// The focused field.
    pub focus: Field,
    /// The event picker, when open.
    pub picker: Option<EventPicker>,
    /// The editor of the selected step, when open.
    pub step_edit: Option<StepEditor>,
    /// Why the last save was refused (local check or the Operator's validation).
    pub error: Option<String>,
    /// A save is in flight.
    pub saving: bool,
    /// Esc was pressed with edits made: the form asks whether to drop them
    /// (`y` drops them, any other key keeps editing).
    pub discard_asked: bool,
}

impl Default for DefinitionForm {
    fn default() -> Self {
        Self::create()
    }
}

impl DefinitionForm {
    /// An empty form for a new definition.
    pub fn create() -> Self {
        DefinitionForm {
            original: None,
            name: TextInput::new(""),
            description: TextInput::new(""),
            steps: Vec::new(),
            step_selected: 0,
            variables: TextInput::multiline(""),
            schedules: TextInput::multiline(""),
            focus: Field::Name,
            picker: None,
            step_edit: None,
            error: None,
            saving: false,
            discard_asked: false,
        }
    }

    /// A form editing `def` (its name stays fixed; its webhook is kept as it is).
    pub fn edit(def: &Definition) -> Self {
        let vars: Vec<String> = def
            .variables
            .iter()
            .map(|(k, v)| format!("{k}={}", show_value(v)))
            .collect();
        let specs: Vec<String> = def.schedules.iter().map(schedule_spec).collect();
        DefinitionForm {
            original: Some(def.clone()),
            name: TextInput::new(def.name.clone()),
            description: TextInput::new(def.description.clone()),
            steps: def.steps.clone(),
            step_selected: 0,
            variables: TextInput::multiline(vars.join("\n")),
            schedules: TextInput::multiline(specs.join("\n")),
            focus: Field::Description,
            picker: None,
            step_edit: None,
            error: None,
            saving: false,
            discard_asked: false,
        }
    }

    /// Whether this form creates a new definition.
    pub fn is_new(&self) -> bool {
        self.original.is_none()
    }

    /// Whether anything was changed since the form opened (Esc then asks
    /// before dropping it).
    pub fn has_edits(&self) -> bool {
        let opened = match &self.original {
            Some(def) => Self::edit(def),
            None => Self::create(),
        };
        self.name != opened.name
            || self.description != opened.description
            || self.steps != opened.steps
            || self.variables != opened.variables
            || self.schedules != opened.schedules
    }

    /// The definition the form describes, or why it cannot be saved yet.
    pub fn to_definition(&self) -> Result<Definition, String> {
        let variables = parse_lines(&self.variables.text)?;
        let schedules = parse_schedule_lines(&self.schedules.text)?;
        let mut def = match &self.original {
            Some(orig) => orig.clone(),
            None => Definition::new(self.name.text.clone(), Vec::<String>::new()),
        };
        def.description = self.description.text.trim().to_string();
        def.steps = self.steps.clone();
        def.variables = variables;
        def.schedules = schedules;
        Ok(def)
    }

    /// Applies a key; `events` are those the picker offers.
    pub fn handle_key(&mut self, key: KeyEvent, events: &[EventView]) -> FormResult {
        if self.saving {
            return FormResult::Editing;
        }
        if self.discard_asked {
            self.discard_asked = false;
            return match key.code {
                KeyCode::Char('y' | 'Y') => FormResult::Cancel,
                _ => FormResult::Editing,
            };
        }
        if let Some(mut picker) = self.picker.take() {
            match picker.handle(key, events) {
                PickerKey::Close => {}
                PickerKey::Stay => self.picker = Some(picker),
                PickerKey::Add(event) => {
                    self.add_step(event);
                    self.picker = Some(picker);
                }
            }
            return FormResult::Editing;
        }
        if let Some(mut editor) = self.step_edit.take() {
            match editor.handle(key) {
                StepKey::Editing => self.step_edit = Some(editor),
                StepKey::Cancel => {}
                StepKey::Apply(step) => {
                    if let Some(slot) = self.steps.get_mut(editor.index) {
                        *slot = step;
                    }
                    self.error = None;
                }
            }
            return FormResult::Editing;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('s') if ctrl => return self.save(),
            KeyCode::F(2) => return self.save(),
            KeyCode::Esc if self.has_edits() => {
                self.discard_asked = true;
                return FormResult::Editing;
            }
            KeyCode::Esc => return FormResult::Cancel,
            KeyCode::Tab => {
                self.focus = self.focus.next();
                return FormResult::Editing;
            }
            KeyCode::BackTab => {
                self.focus = self.focus.prev();
                return FormResult::Editing;
            }
            _ => {}
        }
        match self.focus {
            Field::Name => {
                if key.code == KeyCode::Enter {
                    self.focus = Field::Description;
                } else if self.is_new() {
                    self.name.handle(key);
                }
            }
            Field::Description => {
                if key.code == KeyCode::Enter {
                    self.focus = Field::Steps;
                } else {
                    self.description.handle(key);
                }
            }
            Field::Steps => self.steps_key(key, events),
            Field::Variables => {
                self.variables.handle(key);
            }
            Field::Schedules => {
                self.schedules.handle(key);
            }
        }
        FormResult::Editing
    }

    fn save(&mut self) -> FormResult {
        match self.to_definition() {
            Ok(def) => {
                self.error = None;
                FormResult::Save(Box::new(def))
            }
            Err(e) => {
                self.error = Some(e);
                FormResult::Editing
            }
        }
    }

    fn steps_key(&mut self, key: KeyEvent, events: &[EventView]) {
        let shift = key.modifiers.contains(KeyModifiers::SHIFT);
        let last = self.steps.len().saturating_sub(1);
        match key.code {
            KeyCode::Up if shift => self.move_step(true),
            KeyCode::Down if shift => self.move_step(false),
            KeyCode::Char('K') => self.move_step(true),
            KeyCode::Char('J') => self.move_step(false),
            KeyCode::Up | KeyCode::Char('k') => {
                self.step_selected = self.step_selected.saturating_sub(1)
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.step_selected = (self.step_selected + 1).min(last)
            }
            KeyCode::Char('e') | KeyCode::Enter => {
                if let Some(step) = self.steps.get(self.step_selected) {
                    self.step_edit = Some(StepEditor::of(self.step_selected, step));
                } else {
                    self.open_picker(events);
                }
            }
            KeyCode::Char('o') => {
                if let Some(step) = self.steps.get_mut(self.step_selected) {
                    step.optional = !step.optional;
                }
            }
            KeyCode::Char('a') | KeyCode::Char('+') | KeyCode::Insert => self.open_picker(events),
            KeyCode::Char('x') | KeyCode::Char('-') | KeyCode::Delete | KeyCode::Backspace
                if self.step_selected < self.steps.len() =>
            {
                self.steps.remove(self.step_selected);
                self.step_selected = self.step_selected.min(self.steps.len().saturating_sub(1));
            }
            _ => {}
        }
    }

    fn open_picker(&mut self, events: &[EventView]) {
        if events.is_empty() {
            self.error =
                Some("no events are recorded yet: start a service so it records its events".into());
            return;
        }
        let current = self
            .steps
            .get(self.step_selected)
            .and_then(|s| events.iter().position(|e| e.name == s.event))
            .unwrap_or(0);
        self.picker = Some(EventPicker::at(current));
    }

    /// Adds a step for `event` after the selected one, and selects it.
    fn add_step(&mut self, event: String) {
        let at = if self.steps.is_empty() {
            0
        } else {
            (self.step_selected + 1).min(self.steps.len())
        };
        self.steps.insert(at, isoqube::StepDef::new(event));
        self.step_selected = at;
        self.error = None;
    }

    fn move_step(&mut self, up: bool) {
        let i = self.step_selected;
        if up && i > 0 && i < self.steps.len() {
            self.steps.swap(i, i - 1);
            self.step_selected = i - 1;
        } else if !up && i + 1 < self.steps.len() {
            self.steps.swap(i, i + 1);
            self.step_selected = i + 1;
        }
    }
}
