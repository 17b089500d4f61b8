//! The TUI's help (`?`): its sections, made from the key tables of every view
//! (`key_table`, and `run_keys` for the keys that act on a run), so the help
//! lists exactly the keys the handler knows.
//!
//! May use: the key tables.

use super::key_table::{
    help_of, DEFINITIONS_KEYS, ERRORS_KEYS, FORM_HELP, GLOBAL_KEYS, MOVE_KEYS, RUNS_KEYS,
    RUN_DETAIL_KEYS, SERVICES_KEYS,
};
use super::run_keys::{RunKey, RUN_KEYS};

/// One section of the help: its title and its lines (key, what it does).
pub type HelpSection = (&'static str, Vec<(&'static str, &'static str)>);

/// The help's sections, from the tables above (and the form's own lines).
pub fn help_sections() -> Vec<HelpSection> {
    let everywhere = help_of(GLOBAL_KEYS).chain(help_of(MOVE_KEYS)).collect();
    let definitions = help_of(&DEFINITIONS_KEYS[..1])
        .chain(FORM_HELP.iter().copied())
        .chain(help_of(&DEFINITIONS_KEYS[1..]))
        .collect();
    let runs = help_of(RUNS_KEYS)
        .chain(help_of(RUN_DETAIL_KEYS))
        .chain(help_of::<RunKey>(RUN_KEYS))
        .collect();
    vec![
        ("Everywhere", everywhere),
        ("Services & events", help_of(SERVICES_KEYS).collect()),
        ("Definitions", definitions),
        ("Runs", runs),
        ("Error queue", help_of(ERRORS_KEYS).collect()),
    ]
}
