//! The key tables' own checks: each key once per view, the help complete.

use super::*;
use crate::tui::app::{help_sections, RUN_KEYS};

/// The codes of `tables` together, each once: a code twice would be
/// handled by the first entry only, whatever the second one says.
fn assert_each_once(view: &str, tables: &[Vec<KeyCode>]) {
    let all: Vec<KeyCode> = tables.iter().flatten().copied().collect();
    for (i, code) in all.iter().enumerate() {
        assert!(
            !all[i + 1..].contains(code),
            "{view}: {code:?} is defined twice"
        );
    }
}

fn codes<T: Copy>(table: &[KeyDef<T>]) -> Vec<KeyCode> {
    table.iter().flat_map(|k| k.codes.iter().copied()).collect()
}

#[test]
fn every_view_defines_each_key_once() {
    assert_each_once("global", &[codes(GLOBAL_KEYS)]);
    assert_each_once("moves", &[codes(MOVE_KEYS)]);
    assert_each_once("services", &[codes(SERVICES_KEYS)]);
    assert_each_once("definitions", &[codes(DEFINITIONS_KEYS), codes(MOVE_KEYS)]);
    assert_each_once(
        "runs",
        &[codes(RUNS_KEYS), codes(MOVE_KEYS), codes(RUN_KEYS)],
    );
    assert_each_once("run detail", &[codes(RUN_DETAIL_KEYS), codes(RUN_KEYS)]);
    assert_each_once("run whole", &[codes(RUN_WHOLE_KEYS)]);
    assert_each_once("errors", &[codes(ERRORS_KEYS)]);
    assert_each_once("open message", &[codes(FAULT_OPEN_KEYS)]);
    assert_each_once("help", &[codes(HELP_KEYS)]);
    assert_each_once("confirm", &[codes(CONFIRM_KEYS)]);
    assert_each_once("start", &[codes(START_KEYS)]);
    assert_each_once("signal", &[codes(crate::tui::app::SIGNAL_KEYS)]);
}

#[test]
fn the_help_lists_every_explained_key_and_no_empty_section() {
    let help = help_sections();
    for (section, lines) in &help {
        assert!(!lines.is_empty(), "{section} has no line");
    }
    let lines: Vec<_> = help.iter().flat_map(|(_, l)| l.iter().copied()).collect();
    for (key, what) in help_of(RUN_KEYS).chain(help_of(ERRORS_KEYS)) {
        assert!(lines.contains(&(key, what)), "{key} not in the help");
    }
    assert_eq!(find(RUNS_KEYS, KeyCode::Char('/')), Some(RunsKey::Search));
    assert_eq!(find(RUNS_KEYS, KeyCode::Char('x')), None);
}
