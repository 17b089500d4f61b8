//! The parts of the definition form that work on one step: the event picker
//! ([`EventPicker`]: filters as you type, stays open to add several steps)
//! and the step editor ([`StepEditor`]: a step's name, `after`, `compensate`,
//! `timeout`, `optional`, and whether it waits for its event, matched by what). Plain state changed by key events.
//!
//! It may use the operator's read models ([`crate::ops`]), the text input of
//! [`super::form`] and `isoqube`'s definition types.

use std::time::Duration;

use isoqube::{model::WaitDef, StepDef};
use ratatui::crossterm::event::{KeyCode, KeyEvent};

use crate::ops::EventView;
use crate::tui::text_input::TextInput;

/// The event picker: the events whose name or description holds what was
/// typed, one selected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventPicker {
    /// What was typed.
    pub filter: TextInput,
    /// The selected event, among those the filter lets through.
    pub selected: usize,
    /// Steps added since it opened (named in its title).
    pub added: Vec<String>,
}

/// What a key did to the picker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickerKey {
    /// Keep it open.
    Stay,
    /// Add a step for this event (and keep it open).
    Add(String),
    /// Close it.
    Close,
}

impl EventPicker {
    /// A picker with `selected` chosen.
    pub fn at(selected: usize) -> Self {
        EventPicker {
            selected,
            ..Default::default()
        }
    }

    /// The events the filter lets through, in their order.
    pub fn shown<'a>(&self, events: &'a [EventView]) -> Vec<&'a EventView> {
        let words: Vec<String> = self
            .filter
            .text
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        events
            .iter()
            .filter(|e| {
                let text = format!("{} {}", e.name, e.description).to_lowercase();
                words.iter().all(|w| text.contains(w))
            })
            .collect()
    }

    /// Applies a key: arrows choose, Enter adds, Esc closes, the rest types.
    pub fn handle(&mut self, key: KeyEvent, events: &[EventView]) -> PickerKey {
        let shown = self.shown(events);
        let last = shown.len().saturating_sub(1);
        match key.code {
            KeyCode::Esc => return PickerKey::Close,
            KeyCode::Up => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down => self.selected = (self.selected + 1).min(last),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(10),
            KeyCode::PageDown => self.selected = (self.selected + 10).min(last),
            KeyCode::Home => self.selected = 0,
            KeyCode::End => self.selected = last,
            KeyCode::Enter => {
                if let Some(e) = shown.get(self.selected.min(last)) {
                    self.added.push(e.name.clone());
                    return PickerKey::Add(e.name.clone());
                }
            }
            _ => {
                if self.filter.handle(key) {
                    self.selected = 0;
                }
            }
        }
        PickerKey::Stay
    }
}

/// A field of the step editor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepField {
    /// The step's name (blank: its event's).
    Name,
    /// The steps it runs after.
    After,
    /// The event that undoes it.
    Compensate,
    /// The longest one attempt may run.
    Timeout,
    /// Its failure does not fail the run.
    Optional,
    /// It waits for its event (a signal) instead of publishing it.
    Wait,
    /// For a wait: the run variable a signal without the run's id is matched by.
    Correlate,
}

impl StepField {
    /// The fields, in order.
    pub const ALL: [StepField; 7] = [
        StepField::Name,
        StepField::After,
        StepField::Compensate,
        StepField::Timeout,
        StepField::Optional,
        StepField::Wait,
        StepField::Correlate,
    ];

    /// A field toggled by space, not typed in.
    pub fn is_toggle(self) -> bool {
        matches!(self, StepField::Optional | StepField::Wait)
    }
}

/// The editor of one step of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepEditor {
    /// The step's position in the form.
    pub index: usize,
    /// Its event (not edited here: remove and add to change it).
    pub event: String,
    /// Name input.
    pub name: TextInput,
    /// `after` input: names separated by commas; blank: the step before;
    /// `start`: at the start.
    pub after: TextInput,
    /// `compensate` input: an event name, or blank.
    pub compensate: TextInput,
    /// `timeout` input: `30`, `30s`, `5m`, `1h`, `48h`, or blank; for a
    /// wait, required (`never` for no deadline).
    pub timeout: TextInput,
    /// `optional`.
    pub optional: bool,
    /// Whether the step waits for its event.
    pub wait: bool,
    /// `correlate` input (a wait's): a run variable's name, or blank.
    pub correlate: TextInput,
    /// The step's `delay` / `not_before`, kept as they were (edited in the
    /// definition's TOML or JSON).
    pub hold: Option<isoqube::model::HoldDef>,
    /// The focused field.
    pub focus: StepField,
    /// Why the last Enter was refused.
    pub error: Option<String>,
}

/// What a key did to the step editor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKey {
    /// Keep editing.
    Editing,
    /// Put this step in place of the edited one.
    Apply(StepDef),
    /// Close without a change.
    Cancel,
}

impl StepEditor {
    /// An editor of `step`, the form's step `index`.
    pub fn of(index: usize, step: &StepDef) -> Self {
        StepEditor {
            index,
            event: step.event.clone(),
            name: TextInput::new(step.name.clone().unwrap_or_default()),
            after: TextInput::new(match &step.after {
                None => String::new(),
                Some(a) if a.is_empty() => "start".into(),
                Some(a) => a.join(", "),
            }),
            compensate: TextInput::new(step.compensate.clone().unwrap_or_default()),
            timeout: TextInput::new(match &step.wait {
                Some(w) => w
                    .timeout
                    .map_or_else(|| "never".into(), isoqube::model::span_text),
                None => step.timeout.map(seconds_text).unwrap_or_default(),
            }),
            optional: step.optional,
            hold: step.hold.clone(),
            wait: step.wait.is_some(),
            correlate: TextInput::new(
                step.wait
                    .as_ref()
                    .and_then(|w| w.correlate.clone())
                    .unwrap_or_default(),
            ),
            focus: StepField::After,
            error: None,
        }
    }

    /// Applies a key: Tab and the arrows move between fields, space toggles
    /// `optional`, Enter applies, Esc cancels, the rest types.
    pub fn handle(&mut self, key: KeyEvent) -> StepKey {
        let at = StepField::ALL
            .iter()
            .position(|f| *f == self.focus)
            .unwrap_or(0);
        let n = StepField::ALL.len();
        match key.code {
            KeyCode::Esc => return StepKey::Cancel,
            KeyCode::Enter => {
                return match self.to_step() {
                    Ok(step) => StepKey::Apply(step),
                    Err(e) => {
                        self.error = Some(e);
                        StepKey::Editing
                    }
                }
            }
            KeyCode::Tab | KeyCode::Down => self.focus = StepField::ALL[(at + 1) % n],
            KeyCode::BackTab | KeyCode::Up => self.focus = StepField::ALL[(at + n - 1) % n],
            _ => {
                let input = match self.focus {
                    StepField::Name => &mut self.name,
                    StepField::After => &mut self.after,
                    StepField::Compensate => &mut self.compensate,
                    StepField::Timeout => &mut self.timeout,
                    StepField::Correlate => &mut self.correlate,
                    StepField::Optional | StepField::Wait => {
                        let flag = match self.focus {
                            StepField::Optional => &mut self.optional,
                            _ => &mut self.wait,
                        };
                        if matches!(key.code, KeyCode::Char(' ' | 'x' | 'y' | 'n')) {
                            *flag = match key.code {
                                KeyCode::Char('y') => true,
                                KeyCode::Char('n') => false,
                                _ => !*flag,
                            };
                        }
                        return StepKey::Editing;
                    }
                };
                if input.handle(key) {
                    self.error = None;
                }
            }
        }
        StepKey::Editing
    }

    /// The step the fields describe, or why they do not (the model checks the
    /// rest, such as unknown names, on save).
    pub fn to_step(&self) -> Result<StepDef, String> {
        let text = |i: &TextInput| {
            let t = i.text.trim();
            (!t.is_empty()).then(|| t.to_string())
        };
        let after = match self.after.text.trim() {
            "" => None,
            "start" | "[]" | "-" => Some(Vec::new()),
            list => {
                let names: Vec<String> = list
                    .split(',')
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty())
                    .collect();
                Some(names)
            }
        };
        let timeout = text(&self.timeout);
        let wait = match (self.wait, timeout.as_deref()) {
            (false, _) => None,
            (true, None) => {
                return Err("a wait needs a timeout (such as 48h), or never".into());
            }
            (true, Some("never")) => Some(WaitDef {
                correlate: text(&self.correlate),
                timeout: None,
            }),
            (true, Some(t)) => Some(WaitDef {
                correlate: text(&self.correlate),
                timeout: Some(parse_timeout(t)?),
            }),
        };
        if wait.is_none() && text(&self.correlate).is_some() {
            return Err("correlate is for a wait: turn Wait on, or clear it".into());
        }
        Ok(StepDef {
            name: text(&self.name),
            event: self.event.clone(),
            after,
            compensate: text(&self.compensate),
            timeout: match (&wait, timeout) {
                (None, Some(t)) => Some(parse_timeout(&t)?),
                _ => None,
            },
            optional: self.optional,
            wait,
            hold: self.hold.clone(),
        })
    }
}

/// A timeout as typed: seconds (`30`, `2.5`), or with `s`, `m` or `h`.
///
/// ```
/// use controlcenter::tui::step_editor::parse_timeout;
/// assert_eq!(parse_timeout("90").unwrap().as_secs(), 90);
/// assert_eq!(parse_timeout("5m").unwrap().as_secs(), 300);
/// assert!(parse_timeout("soon").is_err());
/// assert!(parse_timeout("0").is_err());
/// ```
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(span) = isoqube::model::parse_span(t) {
        if !span.is_zero() {
            return Ok(span);
        }
    }
    let (num, unit) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1.0),
        Some((i, 'm')) => (&t[..i], 60.0),
        Some((i, 'h')) => (&t[..i], 3600.0),
        _ => (t, 1.0),
    };
    let secs = num
        .trim()
        .parse::<f64>()
        .ok()
        .map(|n| n * unit)
        .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .ok_or_else(|| {
            format!("timeout '{t}' is not a positive duration (seconds, or with s, m or h)")
        })?;
    Ok(Duration::from_secs_f64(secs))
}

/// A duration as the timeout field shows it: `30s`, `2.5s`.
fn seconds_text(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}
