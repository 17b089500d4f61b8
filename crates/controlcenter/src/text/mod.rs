//! The operator's text formats, shared by the CLI and the terminal UI (and the
//! sample build server's `--var`): `KEY=VALUE` variables, schedule specs
//! (`nightly=cron:0 2 * * *@Europe/Paris`, `often=every:300`, `once=at:TIME`)
//! parsed and printed back, and the short forms screens show (ages, log lines,
//! stuck steps).
//!
//! It may use only `isoqube`'s model types, `serde_json` and `chrono`: no store,
//! no transport, no terminal, so each surface can phrase its own errors around
//! these parsers.
//!
//! By responsibility: variables (`vars`), schedule specs (`schedules`),
//! durations, ages and typed times (`times`), run ids (`ids`), and the
//! one-line forms of steps, undos, stuck steps and log lines (`lines`).

mod ids;
mod lines;
mod schedules;
mod times;
mod vars;

pub use ids::{run_id_prefix, short_id};
pub use lines::{
    finished_step_line, finished_undo_line, log_line, step_text, steps_line, stuck_line, wait_line,
};
pub use schedules::{parse_schedule, parse_schedule_lines, schedule_lines, schedule_spec};
pub use times::{age, duration_text, parse_time};
pub use vars::{
    parse_assignment, parse_flag_var, parse_lines, parse_list, parse_var, show_value, split_var,
    var_value, VarError,
};
