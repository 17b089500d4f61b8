//! The TUI's keys, defined once: one table per view (and dialog) of
//! [`KeyDef`]s, each naming the key codes, how the help and the footer show
//! it, and what it does (an enum per view). [`App::handle_key`](super::App::handle_key)
//! looks keys up here, the help view lists [`help_sections`](super::help_sections) and the footer
//! ([`crate::tui::draw::footer_keys`]) reads the same tables, so a key cannot
//! be handled under one letter and explained under another.
//!
//! Pure data; it may use only the terminal's key codes.

use ratatui::crossterm::event::KeyCode;

/// A key as its handler, the help and the footer know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDef<T: 'static> {
    /// The key codes that press it.
    pub codes: &'static [KeyCode],
    /// The key as the help names it.
    pub key: &'static str,
    /// What it does, in the footer (empty: not in the footer).
    pub footer: &'static str,
    /// The key as the footer names it (empty: as [`KeyDef::key`]).
    pub footer_key: &'static str,
    /// Its line in the help (empty: not in the help).
    pub help: &'static str,
    /// What it does.
    pub does: T,
}

impl<T: Copy> KeyDef<T> {
    /// Whether `code` is this key.
    pub fn is(&self, code: KeyCode) -> bool {
        self.codes.contains(&code)
    }

    /// Its (key, word) pair in the footer, if it has one.
    pub fn in_footer(&self) -> Option<(&'static str, &'static str)> {
        let key = if self.footer_key.is_empty() {
            self.key
        } else {
            self.footer_key
        };
        (!self.footer.is_empty()).then_some((key, self.footer))
    }
}

/// What `code` does in `table`, if it is one of its keys.
pub fn find<T: Copy>(table: &[KeyDef<T>], code: KeyCode) -> Option<T> {
    table.iter().find(|k| k.is(code)).map(|k| k.does)
}

/// The footer pairs of `table`, in its order.
pub fn footer_of<T: Copy>(
    table: &[KeyDef<T>],
) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
    table.iter().filter_map(KeyDef::in_footer)
}

/// The help lines of `table`, in its order.
pub fn help_of<T: Copy>(
    table: &[KeyDef<T>],
) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
    table
        .iter()
        .filter(|k| !k.help.is_empty())
        .map(|k| (k.key, k.help))
}

/// A key shown in the footer as `footer` and in the help as `help`.
pub(super) const fn def<T>(
    codes: &'static [KeyCode],
    key: &'static str,
    footer: &'static str,
    help: &'static str,
    does: T,
) -> KeyDef<T> {
    KeyDef {
        codes,
        key,
        footer,
        footer_key: "",
        help,
        does,
    }
}

/// [`def`] with the footer naming the key `footer_key`.
const fn def_as<T>(
    codes: &'static [KeyCode],
    key: &'static str,
    footer_key: &'static str,
    footer: &'static str,
    help: &'static str,
    does: T,
) -> KeyDef<T> {
    KeyDef {
        codes,
        key,
        footer,
        footer_key,
        help,
        does,
    }
}

use KeyCode::{
    BackTab, Backspace, Char, Delete, Down, End, Enter, Esc, Home, Insert, Left, PageDown, PageUp,
    Right, Tab, Up, F,
};

/// The keys every view shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalKey {
    /// Quit.
    Quit,
    /// The help, or back from it.
    Help,
    /// The view of the digit pressed.
    View,
    /// The next view.
    NextView,
    /// The previous view.
    PreviousView,
    /// Reload now.
    Refresh,
}

/// The keys every view shares (Ctrl-C quits in every dialog too).
pub const GLOBAL_KEYS: &[KeyDef<GlobalKey>] = &[
    def_as(
        &[Char('1'), Char('2'), Char('3'), Char('4')],
        "1 2 3 4 / Tab",
        "1-4",
        "views",
        "Services & events, Definitions, Runs, Error queue",
        GlobalKey::View,
    ),
    def(&[Tab], "Tab", "", "", GlobalKey::NextView),
    def(&[BackTab], "Shift-Tab", "", "", GlobalKey::PreviousView),
    def_as(
        &[Char('?'), F(1)],
        "? / F1",
        "?",
        "help",
        "this help (Esc goes back)",
        GlobalKey::Help,
    ),
    def(
        &[F(5)],
        "F5",
        "",
        "reload now (views also refresh every second)",
        GlobalKey::Refresh,
    ),
    def_as(
        &[Char('q')],
        "q / Ctrl-C",
        "q",
        "quit",
        "quit",
        GlobalKey::Quit,
    ),
];

/// A movement in a list or a scrolled text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// One up.
    Up,
    /// One down.
    Down,
    /// Ten up.
    PageUp,
    /// Ten down.
    PageDown,
    /// To the first.
    First,
    /// To the last.
    Last,
}

/// The keys that move a selection (lists) or scroll (texts).
pub const MOVE_KEYS: &[KeyDef<Move>] = &[
    def(
        &[Up, Char('k')],
        "↑↓ j k PgUp PgDn",
        "",
        "move the selection (Home g / End G: first / last)",
        Move::Up,
    ),
    def(&[Down, Char('j')], "↓ j", "", "", Move::Down),
    def(&[PageUp], "PgUp", "", "", Move::PageUp),
    def(&[PageDown], "PgDn", "", "", Move::PageDown),
    def(&[Home, Char('g')], "Home g", "", "", Move::First),
    def(&[End, Char('G')], "End G", "", "", Move::Last),
];

/// The keys of the services view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServicesKey {
    /// Move through the events.
    Select(Move),
    /// Scroll the instances pane down.
    InstancesDown,
    /// Scroll the instances pane up.
    InstancesUp,
}

/// The services view (the arrows move through the events list).
pub const SERVICES_KEYS: &[KeyDef<ServicesKey>] = &[
    def(
        &[Up, Char('k')],
        "↑↓",
        "select",
        "",
        ServicesKey::Select(Move::Up),
    ),
    def(
        &[Down, Char('j')],
        "↓",
        "",
        "",
        ServicesKey::Select(Move::Down),
    ),
    def(&[PageUp], "PgUp", "", "", ServicesKey::Select(Move::PageUp)),
    def(
        &[PageDown],
        "PgDn",
        "",
        "",
        ServicesKey::Select(Move::PageDown),
    ),
    def(
        &[Home, Char('g')],
        "Home",
        "",
        "",
        ServicesKey::Select(Move::First),
    ),
    def(
        &[End, Char('G')],
        "End",
        "",
        "",
        ServicesKey::Select(Move::Last),
    ),
    def_as(
        &[Char(']')],
        "[ ]",
        "[ ]",
        "scroll instances",
        "scroll the instances pane (the arrows move through the events)",
        ServicesKey::InstancesDown,
    ),
    def(&[Char('[')], "[", "", "", ServicesKey::InstancesUp),
];

/// The keys of the definitions view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinitionsKey {
    /// A new definition.
    New,
    /// Edit the selected one.
    Edit,
    /// Delete the selected one (asks y/n).
    Delete,
    /// Start a run of the selected one.
    Start,
}

/// The definitions view (the movement keys select).
pub const DEFINITIONS_KEYS: &[KeyDef<DefinitionsKey>] = &[
    def_as(
        &[Char('n'), Insert],
        "n / e",
        "n",
        "new",
        "new / edit (Tab: next field, Ctrl-S saves, Esc asks first if edited)",
        DefinitionsKey::New,
    ),
    def(&[Char('e'), Enter], "e", "edit", "", DefinitionsKey::Edit),
    def(
        &[Char('d'), Delete],
        "d",
        "delete",
        "delete (asks y/n)",
        DefinitionsKey::Delete,
    ),
    def(
        &[Char('s')],
        "s",
        "start run",
        "start a run (variables KEY=VALUE,...; Tab: its priority)",
        DefinitionsKey::Start,
    ),
];

/// The definition form's keys, handled by the form itself (help only).
pub const FORM_HELP: &[(&str, &str)] = &[
    (
        "steps: a x K J",
        "add (picker: type to filter, Enter adds, stays open), remove, move",
    ),
    (
        "steps: Enter o",
        "edit the step (name, after, compensate, timeout, optional) / optional",
    ),
    ("variables", "one KEY=VALUE per line (JSON values or text)"),
    (
        "schedules",
        "ID=every:SECS / cron:EXPR@TZ / at:TIME (+;missed=run-once)",
    ),
];

/// The keys of the runs list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunsKey {
    /// Open the selected run.
    Open,
    /// Type a search.
    Search,
    /// Clear the search (when there is one).
    ClearSearch,
    /// The next status filter.
    Status,
}

/// The runs list (the movement keys select; `RUN_KEYS` act on the run).
pub const RUNS_KEYS: &[KeyDef<RunsKey>] = &[
    def_as(
        &[Enter, Right],
        "Enter / Esc",
        "Enter",
        "open",
        "open a run (↑↓ its steps, PgUp PgDn End its log) / back",
        RunsKey::Open,
    ),
    def(
        &[Char('/')],
        "/",
        "search",
        "search all runs: status:failed,cancelled def:NAME id:PREFIX KEY=VALUE log:TEXT \"quoted words\" words (README: Searching runs)",
        RunsKey::Search,
    ),
    def(&[Esc], "Esc", "", "", RunsKey::ClearSearch),
    def(
        &[Char('f')],
        "f",
        "status",
        "filter by status (all, Pending, Running, ...)",
        RunsKey::Status,
    ),
];

/// The keys of an open run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunDetailKey {
    /// Back to the list.
    Back,
    /// The previous step.
    StepUp,
    /// The next step.
    StepDown,
    /// The log ten lines older.
    LogUp,
    /// The log ten lines newer.
    LogDown,
    /// The log's oldest line.
    LogFirst,
    /// The log's newest line.
    LogLast,
    /// Wrap the log lines, or not.
    Wrap,
    /// The run whole.
    Whole,
}

/// An open run (`RUN_KEYS` act on it).
pub const RUN_DETAIL_KEYS: &[KeyDef<RunDetailKey>] = &[
    def(
        &[Esc, Backspace, Left],
        "Esc",
        "back",
        "",
        RunDetailKey::Back,
    ),
    def(&[Up, Char('k')], "↑↓", "steps", "", RunDetailKey::StepUp),
    def(&[Down, Char('j')], "↓", "", "", RunDetailKey::StepDown),
    def(&[PageUp], "PgUp/PgDn", "logs", "", RunDetailKey::LogUp),
    def(&[PageDown], "PgDn", "", "", RunDetailKey::LogDown),
    def(&[Home, Char('g')], "Home", "", "", RunDetailKey::LogFirst),
    def(&[End, Char('G')], "End", "", "", RunDetailKey::LogLast),
    def_as(
        &[Char('w')],
        "in a run: w v",
        "w",
        "wrap logs",
        "wrap the log lines / the run whole (variables, errors)",
        RunDetailKey::Wrap,
    ),
    def_as(&[Char('v')], "v", "v", "whole run", "", RunDetailKey::Whole),
];

/// The keys of a scrolled text (a run whole, an open message, the help).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKey {
    /// Back to where it was opened.
    Back,
    /// Scroll.
    Scroll(Move),
}

/// A run shown whole.
pub const RUN_WHOLE_KEYS: &[KeyDef<TextKey>] = &[
    def(
        &[Esc, Backspace, Left, Char('v')],
        "Esc/v",
        "back",
        "",
        TextKey::Back,
    ),
    def(
        &[Up, Char('k')],
        "↑↓ PgUp PgDn",
        "scroll",
        "",
        TextKey::Scroll(Move::Up),
    ),
    def(&[Down, Char('j')], "↓", "", "", TextKey::Scroll(Move::Down)),
    def(&[PageUp], "PgUp", "", "", TextKey::Scroll(Move::PageUp)),
    def(&[PageDown], "PgDn", "", "", TextKey::Scroll(Move::PageDown)),
    def(
        &[Home, Char('g')],
        "Home",
        "",
        "",
        TextKey::Scroll(Move::First),
    ),
];

/// The help view.
pub const HELP_KEYS: &[KeyDef<TextKey>] = &[
    def(&[Esc, Backspace], "Esc", "back", "", TextKey::Back),
    def(&[Up, Char('k')], "↑", "", "", TextKey::Scroll(Move::Up)),
    def(&[Down, Char('j')], "↓", "", "", TextKey::Scroll(Move::Down)),
];

/// The keys of the error queue view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorsKey {
    /// Move through the messages.
    Select(Move),
    /// Open the selected message whole.
    Open,
    /// Type a filter.
    Search,
    /// Clear the filter (when there is one).
    ClearSearch,
    /// Requeue the selected message (asks y/n).
    Requeue,
    /// Discard the selected message (asks y/n).
    Discard,
    /// Requeue every shown message (asks y/n).
    RequeueAll,
    /// Discard every shown message (asks y/n).
    DiscardAll,
}

/// The error queue's list.
pub const ERRORS_KEYS: &[KeyDef<ErrorsKey>] = &[
    def(
        &[Up, Char('k')],
        "↑↓",
        "select",
        "",
        ErrorsKey::Select(Move::Up),
    ),
    def(
        &[Down, Char('j')],
        "↓",
        "",
        "",
        ErrorsKey::Select(Move::Down),
    ),
    def(&[PageUp], "PgUp", "", "", ErrorsKey::Select(Move::PageUp)),
    def(
        &[PageDown],
        "PgDn",
        "",
        "",
        ErrorsKey::Select(Move::PageDown),
    ),
    def(
        &[Home, Char('g')],
        "Home",
        "",
        "",
        ErrorsKey::Select(Move::First),
    ),
    def(
        &[End, Char('G')],
        "End",
        "",
        "",
        ErrorsKey::Select(Move::Last),
    ),
    def_as(
        &[Enter, Right],
        "Enter r d",
        "Enter",
        "open",
        "open the message whole / requeue it / discard it",
        ErrorsKey::Open,
    ),
    def_as(
        &[Char('/')],
        "/ R D",
        "/",
        "filter",
        "filter / requeue every shown / discard every shown (y/n)",
        ErrorsKey::Search,
    ),
    def(&[Esc], "Esc", "", "", ErrorsKey::ClearSearch),
    def(&[Char('r')], "r", "requeue", "", ErrorsKey::Requeue),
    def(&[Char('d'), Delete], "d", "discard", "", ErrorsKey::Discard),
    def_as(
        &[Char('R')],
        "R",
        "R/D",
        "all shown",
        "",
        ErrorsKey::RequeueAll,
    ),
    def(&[Char('D')], "D", "", "", ErrorsKey::DiscardAll),
];

/// A message of the error queue, open whole.
pub const FAULT_OPEN_KEYS: &[KeyDef<ErrorsKey>] = &[
    def(
        &[Esc, Backspace, Left, Enter],
        "Esc",
        "back",
        "",
        ErrorsKey::Open,
    ),
    def(
        &[Up, Char('k')],
        "↑↓ PgUp PgDn",
        "scroll",
        "",
        ErrorsKey::Select(Move::Up),
    ),
    def(
        &[Down, Char('j')],
        "↓",
        "",
        "",
        ErrorsKey::Select(Move::Down),
    ),
    def(&[PageUp], "PgUp", "", "", ErrorsKey::Select(Move::PageUp)),
    def(
        &[PageDown],
        "PgDn",
        "",
        "",
        ErrorsKey::Select(Move::PageDown),
    ),
    def(&[Home], "Home", "", "", ErrorsKey::Select(Move::First)),
    def(&[Char('r')], "r", "requeue", "", ErrorsKey::Requeue),
    def(&[Char('d'), Delete], "d", "discard", "", ErrorsKey::Discard),
];

/// The keys while a search is typed (every other key types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchKey {
    /// Keep the search and leave typing.
    Keep,
    /// Clear it.
    Clear,
}

/// A runs search being typed.
pub const RUN_SEARCH_KEYS: &[KeyDef<SearchKey>] = &[
    def(&[], "type", "search", "", SearchKey::Keep),
    def(&[Enter], "Enter", "keep", "", SearchKey::Keep),
    def(&[Esc], "Esc", "clear", "", SearchKey::Clear),
];

/// An error queue filter being typed.
pub const FAULT_SEARCH_KEYS: &[KeyDef<SearchKey>] = &[
    def(&[], "type", "filter", "", SearchKey::Keep),
    def(&[Enter], "Enter", "keep", "", SearchKey::Keep),
    def(&[Esc], "Esc", "clear", "", SearchKey::Clear),
];

/// A yes/no question's answers.
pub const CONFIRM_KEYS: &[KeyDef<bool>] = &[
    def(&[Char('y'), Char('Y'), Enter], "y", "yes", "", true),
    def(&[Char('n'), Char('N'), Esc], "n/Esc", "no", "", false),
];

/// The keys of the start dialog (every other key types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartKey {
    /// Start the run.
    Start,
    /// Switch between the variables and the priority.
    Switch,
    /// Close it.
    Cancel,
}

/// The start dialog.
pub const START_KEYS: &[KeyDef<StartKey>] = &[
    def(&[Enter], "Enter", "start", "", StartKey::Start),
    def(
        &[Tab, BackTab, Up, Down],
        "Tab",
        "priority",
        "",
        StartKey::Switch,
    ),
    def(&[Esc], "Esc", "cancel", "", StartKey::Cancel),
];

#[cfg(test)]
#[path = "key_table_tests.rs"]
mod tests;
