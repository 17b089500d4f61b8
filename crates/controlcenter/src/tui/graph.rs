//! A run's steps laid out as its graph for the run detail: each step's level
//! (the longest way to it from a step that waits for nothing), the levels
//! left to right, and the rows of the step table in level order, parallel
//! steps of one level grouped with branch lines (`┬ ├ └`).
//!
//! A row is a [`GraphRow`]: a forward step, or beneath it its compensation
//! once the run needed it (its run failed, or was cancelled to be undone).
//!
//! Pure: it reads only `isoqube`'s run types.

use isoqube::{model::Step, StepStatus};

/// What one row of the step table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// A forward step.
    Forward,
    /// The compensation of the forward step above it.
    Compensation,
}

/// One row of the step table, in graph order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphRow {
    /// The step's position in the run (from 0).
    pub step: usize,
    /// Its level (from 0): every step it waits for is on an earlier level.
    pub level: usize,
    /// The branch line before its number: `●` alone on its level, else `┬`
    /// for the first of the level's parallel steps, `├` between, `└` last.
    pub branch: char,
    /// What the row is.
    pub kind: RowKind,
}

/// A run's steps as a graph.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphLayout {
    /// The steps of each level, by position, levels in order.
    pub levels: Vec<Vec<usize>>,
    /// The table's rows: level by level, each level in step order.
    pub rows: Vec<GraphRow>,
}

impl GraphLayout {
    /// The layout of `steps` (a cycle, which validation refuses, is broken
    /// where it is met rather than looped over).
    pub fn of(steps: &[Step]) -> Self {
        let n = steps.len();
        let mut level: Vec<Option<usize>> = vec![None; n];
        for start in 0..n {
            level_of(steps, start, &mut level, &mut vec![false; n]);
        }
        let depth = level.iter().flatten().max().map_or(0, |d| d + 1);
        let mut levels: Vec<Vec<usize>> = vec![Vec::new(); depth];
        for (i, l) in level.iter().enumerate() {
            levels[l.unwrap_or(0)].push(i);
        }
        let mut rows = Vec::with_capacity(n);
        for (l, members) in levels.iter().enumerate() {
            for (k, &step) in members.iter().enumerate() {
                let branch = match (members.len(), k) {
                    (1, _) => '●',
                    (_, 0) => '┬',
                    (m, k) if k + 1 == m => '└',
                    _ => '├',
                };
                rows.push(GraphRow {
                    step,
                    level: l,
                    branch,
                    kind: RowKind::Forward,
                });
                let undo = steps[step].compensation.as_ref();
                if undo
                    .is_some_and(|c| !matches!(c.status, StepStatus::Pending | StepStatus::Skipped))
                {
                    rows.push(GraphRow {
                        step,
                        level: l,
                        branch: '↩',
                        kind: RowKind::Compensation,
                    });
                }
            }
        }
        GraphLayout { levels, rows }
    }

    /// The row showing step `step`.
    pub fn row_of(&self, step: usize) -> Option<usize> {
        self.rows
            .iter()
            .position(|r| r.step == step && r.kind == RowKind::Forward)
    }
}

/// The level of step `i`: one more than the deepest step it waits for.
fn level_of(steps: &[Step], i: usize, level: &mut [Option<usize>], on_path: &mut [bool]) -> usize {
    if let Some(l) = level[i] {
        return l;
    }
    on_path[i] = true;
    let mut l = 0;
    for d in steps[i].deps() {
        if d < steps.len() && !on_path[d] {
            l = l.max(level_of(steps, d, level, on_path) + 1);
        }
    }
    on_path[i] = false;
    level[i] = Some(l);
    l
}
