//! How fresh data and finished actions change the state: what the shown view
//! needs loaded ([`App::needs`]), recording a load ([`App::apply`]) and an
//! action's outcome ([`App::apply_outcome`]), keeping the selection on the same
//! item when it can.
//!
//! It may use the state and the messages.

use super::messages::{Loaded, Need, Outcome};
use super::state::{App, Modal, RunDetail, Tab};

impl App {
    /// What the current view needs loaded.
    pub fn needs(&self) -> Vec<Need> {
        if matches!(self.modal, Some(Modal::Form(_))) {
            return vec![Need::Events];
        }
        match self.tab {
            Tab::Services => vec![Need::Events, Need::Services, Need::Queues],
            Tab::Definitions => vec![Need::Definitions, Need::Events],
            Tab::Runs => match &self.detail {
                Some(d) => vec![
                    Need::Detail {
                        id: d.id,
                        skip: d.logs.len(),
                    },
                    Need::DetailStuck(d.id),
                ],
                None => vec![Need::Runs(
                    self.run_filter,
                    self.run_search.input.text.trim().to_string(),
                )],
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
            Loaded::Queues(r) => {
                let now = chrono::Utc::now();
                let r = r.map(|mut items| {
                    if let Some(at) = self.queues_at {
                        let secs = (now - at).num_milliseconds() as f64 / 1000.0;
                        crate::ops::rates_between(&self.queues.items, &mut items, secs);
                    }
                    items
                });
                if r.is_ok() {
                    self.queues_at = Some(now);
                }
                self.queues.set(r);
            }
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
                let keep = self.visible_runs().get(self.run_selected).map(|r| r.id);
                let result = result.map(|loaded| {
                    self.runs_stuck = loaded.stuck;
                    self.runs_corrupt = loaded.corrupt;
                    loaded.runs
                });
                self.runs.set(result);
                let shown = self.visible_runs();
                self.run_selected = keep
                    .and_then(|k| shown.iter().position(|r| r.id == k))
                    .unwrap_or(self.run_selected)
                    .min(shown.len().saturating_sub(1));
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
            Loaded::DetailStuck { id, result } => {
                if let Some(d) = self.detail.as_mut().filter(|d| d.id == id) {
                    // A failed look keeps the last answer: the detail's own
                    // load reports the store's trouble.
                    if let Ok(stuck) = result {
                        d.stuck = stuck;
                    }
                }
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
}
