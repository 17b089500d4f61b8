//! A run's live detail: its head (status, the graph's levels left to right,
//! the running steps' attempt and elapsed time, the stuck steps, the
//! parameters and variables), the steps in graph order with branch lines,
//! the last errors and the log tail (cut or wrapped, `w`). `v` shows the run whole
//! (`run_whole`).
//!
//! It may use the state ([`crate::tui::app`], [`crate::tui::graph`]), the text
//! formats and the shared widgets.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, TableState};
use ratatui::Frame;

use super::run_whole::draw_run_whole;
use super::widgets::{
    ellipsize, inner, paragraph_lines, progress, run_status_color, short_duration,
    step_status_color, table, time, width, DIM,
};
use crate::text::{age, show_value};
use crate::tui::app::{App, RunDetail};
use crate::tui::graph::{GraphLayout, RowKind};
use isoqube::StepStatus;

/// A run's detail; the log pane shows the tail unless scrolled back.
pub(super) fn draw_detail(frame: &mut Frame, app: &App, d: &RunDetail, area: Rect) {
    let Some(run) = &d.run else {
        draw_not_loaded(frame, d, area);
        return;
    };
    if let Some(scroll) = d.whole {
        draw_run_whole(frame, run, scroll, area);
        return;
    }
    let graph = GraphLayout::of(&run.steps);
    let errors = step_errors(run);
    let head_lines = head_lines(app, d, run, &graph, usize::from(inner(area).width));
    let head_h = head_lines.len() as u16 + 2;
    let (steps_h, errors_h) = pane_heights(
        area.height.saturating_sub(head_h),
        graph.rows.len(),
        errors.len(),
    );
    let [head, steps, errs, logs] = Layout::vertical([
        Constraint::Length(head_h),
        Constraint::Length(steps_h),
        Constraint::Length(errors_h),
        Constraint::Fill(1),
    ])
    .areas(area);
    draw_head(frame, run, head_lines, head);
    draw_steps(frame, app, d, run, &graph, steps);
    if errors_h > 0 {
        draw_last_errors(frame, &errors, errs);
    }
    draw_logs(frame, d, logs);
}

/// The detail of a run not loaded yet, or that could not be.
fn draw_not_loaded(frame: &mut Frame, d: &RunDetail, area: Rect) {
    let block = Block::bordered().title(format!(" Run {} ", d.id));
    let inside = inner(area);
    frame.render_widget(block, area);
    let line = match &d.error {
        Some(e) => Line::from(Span::styled(format!("✗ {e}"), Color::Red)),
        None => Line::from("Loading…"),
    };
    frame.render_widget(paragraph_lines(vec![line]), inside);
}

/// Each step's last error, named by its number and event, in step order.
fn step_errors(run: &isoqube::Run) -> Vec<String> {
    run.steps
        .iter()
        .filter_map(|s| {
            s.last_error
                .as_ref()
                .map(|e| format!("step {} {}: {e}", s.index + 1, s.event))
        })
        .collect()
}

/// The head's lines: status and progress, when and by whom, the graph's
/// levels, the running and stuck steps, the variables and the errors.
fn head_lines(
    app: &App,
    d: &RunDetail,
    run: &isoqube::Run,
    graph: &GraphLayout,
    head_w: usize,
) -> Vec<Line<'static>> {
    let mut lines = vec![status_line(run), created_line(app, run)];
    lines.extend(graph_lines(run, graph, head_w));
    lines.extend(running_line(app, run));
    lines.extend(waiting_lines(app, run));
    // Stuck steps, each with why first (the line may be cut), its handler
    // and since when.
    lines.extend(d.stuck.iter().map(|st| {
        Line::from(Span::styled(
            format!(
                "STUCK ({}): {}",
                st.reason.as_str(),
                crate::text::stuck_line(st, app.now)
            ),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ))
    }));
    lines.push(variables_line(run));
    if let Some(e) = &run.error {
        lines.push(Line::from(Span::styled(format!("✗ {e}"), Color::Red)));
    }
    if let Some(e) = &d.error {
        lines.push(Line::from(Span::styled(
            format!("✗ could not refresh: {e}"),
            Color::Red,
        )));
    }
    lines
}

/// `Running  2/3 steps done  definition build  priority 0`.
fn status_line(run: &isoqube::Run) -> Line<'static> {
    Line::from(vec![
        Span::styled(
            run.status.as_str(),
            Style::new()
                .fg(run_status_color(run.status))
                .add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            "  {} steps done  definition {}  priority {}",
            progress(run),
            run.definition,
            run.priority
        )),
    ])
}

/// When the run was created and finished, and who started it.
fn created_line(app: &App, run: &isoqube::Run) -> Line<'static> {
    Line::from(Span::styled(
        format!(
            "created {} ({} ago)  finished {}  by {}",
            time(Some(run.created_at)),
            age(app.now - run.created_at),
            time(run.finished_at),
            if run.started_by.is_empty() {
                "?"
            } else {
                &run.started_by
            }
        ),
        DIM,
    ))
}

/// The head pane; a line wider than the pane is cut with an ellipsis, in
/// the style of its first span.
fn draw_head(frame: &mut Frame, run: &isoqube::Run, lines: Vec<Line<'static>>, area: Rect) {
    let block = Block::bordered().title(format!(" Run {} ", run.id));
    let inside = inner(area);
    frame.render_widget(block, area);
    let w = usize::from(inside.width);
    let lines: Vec<Line> = lines
        .into_iter()
        .map(|l| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            if width(&text) > w {
                Line::from(Span::styled(
                    ellipsize(&text, w),
                    l.spans.first().map(|s| s.style).unwrap_or_default(),
                ))
            } else {
                l
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inside);
}

/// The steps table in graph order, the selected step kept in view.
fn draw_steps(
    frame: &mut Frame,
    app: &App,
    d: &RunDetail,
    run: &isoqube::Run,
    graph: &GraphLayout,
    area: Rect,
) {
    let inside = inner(area);
    // Rows under the table's header; the selected step is kept in view.
    let visible = usize::from(inside.height.saturating_sub(1)).max(1);
    let selected = graph.row_of(d.current_step()).unwrap_or(0);
    let offset = (selected + 1).saturating_sub(visible);
    frame.render_widget(
        Block::bordered().title(steps_title(run, graph, offset, visible)),
        area,
    );
    let constraints = [
        Constraint::Length(4),
        Constraint::Fill(3),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(3),
        Constraint::Fill(2),
    ];
    let rows = graph
        .rows
        .iter()
        .map(|row| {
            let s = &run.steps[row.step];
            match (row.kind, s.compensation.as_ref()) {
                (RowKind::Compensation, Some(c)) => compensation_row(app, c),
                _ => step_row(app, s, row.branch),
            }
        })
        .collect();
    let t = table(
        inside,
        &constraints,
        &[
            "  #", "Step", "Status", "Invoked", "Done", "Took", "Att", "Handler",
        ],
        rows,
    );
    let mut state = TableState::default()
        .with_offset(offset)
        .with_selected(Some(selected));
    frame.render_stateful_widget(t, inside, &mut state);
}

/// ` Steps `, or which rows show when not all fit.
fn steps_title(run: &isoqube::Run, graph: &GraphLayout, offset: usize, visible: usize) -> String {
    let n_rows = graph.rows.len();
    if n_rows <= visible {
        return " Steps ".to_string();
    }
    // Rows, not steps, once compensations sit beneath their steps.
    let what = if n_rows == run.steps.len() {
        "Steps"
    } else {
        "Rows"
    };
    format!(
        " {what} {}-{} of {} (↑↓) ",
        offset + 1,
        (offset + visible).min(n_rows),
        n_rows
    )
}

/// A step's row: branch and number, label, status, times, attempts, handler.
fn step_row(app: &App, s: &isoqube::model::Step, branch: char) -> (Vec<String>, Style) {
    let done = s.completed_at.or(s.failed_at).or(s.cancelled_at);
    let handler = s
        .handled_by
        .clone()
        .or_else(|| {
            s.handlers
                .last()
                .map(|h| format!("{}@{}", h.endpoint, h.host))
        })
        .unwrap_or_else(|| "-".into());
    // A waiting step has no handler: what it waits for takes its place.
    let handler = crate::text::wait_line(s, app.now).unwrap_or(handler);
    (
        vec![
            // The branch line: parallel steps of one level are
            // bracketed `┬ ├ └`.
            format!("{branch}{:>3}", s.index + 1),
            // Graph steps show what they wait for: `Ship (after 4, 5)`.
            step_label(s),
            s.status.as_str().to_string(),
            time(s.invoked_at),
            time(done),
            took(app, s),
            s.attempts.to_string(),
            handler,
        ],
        Style::new().fg(step_status_color(s.status)),
    )
}

/// The last errors that fit, newest at the bottom.
fn draw_last_errors(frame: &mut Frame, errors: &[String], area: Rect) {
    let block = Block::bordered().title(" Last errors ");
    let inside = inner(area);
    frame.render_widget(block, area);
    let w = usize::from(inside.width);
    let lines: Vec<Line> = errors
        .iter()
        .rev()
        .take(usize::from(area.height.saturating_sub(2)))
        .rev()
        .map(|e| Line::from(Span::styled(ellipsize(e, w), Color::Red)))
        .collect();
    frame.render_widget(Paragraph::new(lines), inside);
}

/// The log pane: the tail, or as far back as scrolled, cut or wrapped.
fn draw_logs(frame: &mut Frame, d: &RunDetail, area: Rect) {
    let follow = if d.log_scroll == 0 {
        "following".to_string()
    } else {
        format!("{} lines back, End follows", d.log_scroll)
    };
    let block = Block::bordered().title(format!(" Logs ({}; {follow}) ", d.logs.len()));
    let inside = inner(area);
    frame.render_widget(block, area);
    if d.logs.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled("No log lines yet.", DIM)),
            inside,
        );
        return;
    }
    let h = usize::from(inside.height);
    let end = d.logs.len().saturating_sub(d.log_scroll);
    let w = usize::from(inside.width);
    // From the newest shown line back, as many rows as fit (a wrapped line
    // takes several).
    let mut rows: Vec<Line> = Vec::new();
    for l in d.logs[..end].iter().rev() {
        let color = match l.level.as_str() {
            "ERROR" => Color::Red,
            "WARN" => Color::Yellow,
            "DEBUG" | "TRACE" => Color::DarkGray,
            _ => Color::Reset,
        };
        let text = crate::text::log_line(l);
        let pieces = if d.log_wrap {
            wrap_text(&text, w)
        } else {
            vec![ellipsize(&text, w)]
        };
        for piece in pieces.into_iter().rev() {
            rows.push(Line::from(Span::styled(piece, color)));
        }
        if rows.len() >= h {
            break;
        }
    }
    rows.truncate(h);
    rows.reverse();
    frame.render_widget(Paragraph::new(rows), inside);
}

/// A step's name, with where it sits when it is not simply after the step
/// before it, and `optional`.
fn step_label(s: &isoqube::model::Step) -> String {
    let mut text = s.name().to_string();
    let mut notes: Vec<String> = s.place().into_iter().collect();
    if s.optional {
        notes.push("optional".into());
    }
    if !notes.is_empty() {
        text.push_str(&format!(" ({})", notes.join(", ")));
    }
    text
}

/// The row of a step's compensation, beneath the step: `↩ undo Event`.
fn compensation_row(app: &App, c: &isoqube::model::Compensation) -> (Vec<String>, Style) {
    let took = if c.status == StepStatus::Invoked {
        c.invoked_at
            .map(|at| format!("{}…", short_duration(app.now - at)))
            .unwrap_or_else(|| "…".into())
    } else {
        c.duration()
            .map(short_duration)
            .unwrap_or_else(|| "-".into())
    };
    (
        vec![
            "   ↩".into(),
            format!("undo: {}", c.event),
            c.status.as_str().to_string(),
            time(c.invoked_at),
            time(c.completed_at.or(c.failed_at)),
            took,
            c.attempts.to_string(),
            c.handled_by.clone().unwrap_or_else(|| "-".into()),
        ],
        Style::new()
            .fg(step_status_color(c.status))
            .add_modifier(Modifier::ITALIC),
    )
}

/// How long the step took, or, while it runs, how long its attempt has been
/// running (`12.3s…`, live: it grows at every redraw).
fn took(app: &App, s: &isoqube::model::Step) -> String {
    if s.status == StepStatus::Invoked {
        return match attempt_started(s) {
            Some(at) => format!("{}…", short_duration(app.now - at)),
            None => "…".into(),
        };
    }
    s.duration()
        .map(short_duration)
        .unwrap_or_else(|| "-".into())
}

/// When the running attempt started: its handler's last pick-up, else the
/// step's first.
fn attempt_started(s: &isoqube::model::Step) -> Option<chrono::DateTime<chrono::Utc>> {
    s.handlers
        .iter()
        .filter(|h| h.status == StepStatus::Invoked)
        .filter_map(|h| h.started_at)
        .max()
        .or(s.invoked_at)
}

/// The graph's levels left to right, each step by its number in its status
/// colour, parallel ones side by side in brackets: `Graph: 1 → 2 → [3|4|5] →
/// 6`, wrapped at `w` columns between levels.
fn graph_lines(run: &isoqube::Run, graph: &GraphLayout, w: usize) -> Vec<Line<'static>> {
    let mut groups: Vec<Vec<Span<'static>>> = Vec::new();
    for members in &graph.levels {
        let mut g = Vec::new();
        let several = members.len() > 1;
        if several {
            g.push(Span::styled("[", DIM));
        }
        for (k, &i) in members.iter().enumerate() {
            if k > 0 {
                g.push(Span::styled("|", DIM));
            }
            let st = run.steps[i].status;
            g.push(Span::styled(
                (i + 1).to_string(),
                Style::new().fg(step_status_color(st)),
            ));
        }
        if several {
            g.push(Span::styled("]", DIM));
        }
        groups.push(g);
    }
    let mut lines = Vec::new();
    let mut line: Vec<Span<'static>> = vec![Span::styled("Graph: ", DIM)];
    let mut used = 7;
    for (n, g) in groups.into_iter().enumerate() {
        let gw: usize = g.iter().map(|s| s.width()).sum();
        let arrow = if n == 0 { 0 } else { 3 };
        if used + arrow + gw > w && used > 7 {
            line.push(Span::styled(" →", DIM));
            lines.push(Line::from(std::mem::take(&mut line)));
            line.push(Span::raw("       "));
            used = 7;
        } else if n > 0 {
            line.push(Span::styled(" → ", DIM));
            used += 3;
        }
        used += gw;
        line.extend(g);
    }
    lines.push(Line::from(line));
    lines
}

/// The running steps, each with its attempt and how long it has run.
fn running_line(app: &App, run: &isoqube::Run) -> Option<Line<'static>> {
    let running: Vec<String> = run
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Invoked)
        .map(|s| {
            let elapsed = attempt_started(s)
                .map(|at| format!(", {}", short_duration(app.now - at)))
                .unwrap_or_default();
            format!(
                "{} {} (attempt {}{elapsed})",
                s.index + 1,
                s.name(),
                s.attempts.max(1)
            )
        })
        .collect();
    (!running.is_empty()).then(|| {
        Line::from(Span::styled(
            format!("▶ running: {}", running.join("; ")),
            Color::Cyan,
        ))
    })
}

/// The waiting steps, each with what it waits for and until when (`s`
/// signals the selected one).
fn waiting_lines(app: &App, run: &isoqube::Run) -> Vec<Line<'static>> {
    run.steps
        .iter()
        .filter_map(|s| {
            let wait = crate::text::wait_line(s, app.now)?;
            Some(Line::from(Span::styled(
                format!("⏸ {} {} {wait}", s.index + 1, s.name()),
                step_status_color(StepStatus::Waiting),
            )))
        })
        .collect()
}

/// The run's parameters and the variables consumers added (`v` shows them
/// whole).
fn variables_line(run: &isoqube::Run) -> Line<'static> {
    let show = |(k, v): (&String, &serde_json::Value)| format!("{k}={}", show_value(v));
    let params: Vec<String> = run.params.iter().map(show).collect();
    let added: Vec<String> = run
        .variables
        .iter()
        .filter(|(k, v)| run.params.get(*k) != Some(*v))
        .map(show)
        .collect();
    let or_none = |v: Vec<String>| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(" ")
        }
    };
    Line::from(vec![
        Span::styled("params ", DIM),
        Span::raw(or_none(params)),
        Span::styled("  vars ", DIM),
        Span::raw(or_none(added)),
        Span::styled("  (v: all)", DIM),
    ])
}

/// `text` cut into pieces of at most `w` columns (at least one piece).
pub(super) fn wrap_text(text: &str, w: usize) -> Vec<String> {
    let text = text.replace(['\n', '\r', '\t'], " ");
    let w = w.max(1);
    let mut out = Vec::new();
    let mut piece = String::new();
    let mut used = 0;
    let mut buf = [0u8; 4];
    for c in text.chars() {
        let cw = width(c.encode_utf8(&mut buf));
        if used + cw > w && !piece.is_empty() {
            out.push(std::mem::take(&mut piece));
            used = 0;
        }
        piece.push(c);
        used += cw;
    }
    out.push(piece);
    out
}

/// The log pane's rows at least (and its borders): a run's detail always shows
/// some of its log, at 80x24 too.
const LOG_ROWS_MIN: u16 = 3;

/// The heights of the steps and errors panes in `avail` rows (the log gets
/// the rest): every step when they fit beside the log's minimum, else as many
/// as fit (the table scrolls); the last errors only when they fit beside all
/// of that.
fn pane_heights(avail: u16, steps: usize, errors: usize) -> (u16, u16) {
    let log_min = LOG_ROWS_MIN + 2;
    let steps_want = u16::try_from(steps).unwrap_or(u16::MAX).saturating_add(3);
    // Borders and header plus at least two steps, whatever the terminal.
    let steps_min = steps_want.min(5);
    let errors_want = if errors == 0 {
        0
    } else {
        u16::try_from(errors.min(3)).unwrap_or(3) + 2
    };
    // Every step before the errors (they are in the head's error line and
    // in the whole run, `v`).
    let errors_h = if avail >= steps_want + log_min + errors_want {
        errors_want
    } else {
        0
    };
    let steps_h = steps_want
        .min(avail.saturating_sub(log_min + errors_h))
        .max(steps_min);
    (steps_h, errors_h)
}
