//! The store file: its tables (JSON documents by key, with the columns the
//! queries need), the upgrade of a file made by an older version, and how a
//! connection to it is set up (write-ahead log, sync level, busy timeout).
//!
//! May use: the crate's errors and `rusqlite`.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::db::db_err;
use crate::error::{Error, Result};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS definitions (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL, status TEXT NOT NULL,
    definition TEXT NOT NULL, doc TEXT NOT NULL, rev INTEGER NOT NULL DEFAULT -1,
    wake_ms INTEGER);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs(created_at DESC);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status, created_at DESC);
CREATE INDEX IF NOT EXISTS runs_by_definition ON runs(definition, created_at DESC);
CREATE TABLE IF NOT EXISTS services (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS topics (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS logs_by_run ON logs(run_id, seq);
CREATE TABLE IF NOT EXISTS schedule_ticks (key TEXT PRIMARY KEY, due_ms INTEGER NOT NULL);
";

/// Added to a `runs` table made before the `rev` column (an older file): its
/// rows get -1, which no cached run matches.
const ADD_REV: &str = "ALTER TABLE runs ADD COLUMN rev INTEGER NOT NULL DEFAULT -1";

/// Added to a `runs` table made before waits (an older file): when a timer
/// looks at the run again ([`crate::model::Run::wake_at`], in ms since the
/// epoch), indexed for the runs whose time has come.
const ADD_WAKE: &str = "ALTER TABLE runs ADD COLUMN wake_ms INTEGER";
const WAKE_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS runs_by_wake ON runs(wake_ms) WHERE wake_ms IS NOT NULL";

/// Opens (creating it and its directory if needed) the file at `p`, set up
/// for the store thread, with the tables in place. Blocking.
pub(super) fn open_connection(p: &Path) -> Result<Connection> {
    if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Store(format!("cannot create directory {}: {e}", dir.display())))?;
    }
    let conn = Connection::open(p)
        .map_err(|e| Error::Store(format!("cannot open {}: {e}", p.display())))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(db_err)?;
    // Switching a new file to WAL takes an exclusive lock without waiting on
    // the busy handler, so processes opening one new file at once can be
    // refused here: that refusal is retried, anything else is an error.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match set_up(&conn) {
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(Error::Store(format!("cannot prepare {}: {e}", p.display()))),
            Ok(()) => return Ok(conn),
        }
    }
}

/// The file's settings and tables, made idempotently.
fn set_up(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Statement journals (the undo of a savepoint inside the group's
    // transaction) in memory rather than in a temporary file created
    // and deleted per savepoint; they are never needed after a crash.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Checkpoints are `checkpoint`'s. The WAL file is truncated back
    // to 64 MB when it ever grew past that.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.execute_batch(SCHEMA)?;
    let has = |column: &str| {
        conn.prepare("SELECT 1 FROM pragma_table_info('runs') WHERE name = ?1")
            .and_then(|mut st| st.exists([column]))
    };
    if !has("rev")? {
        conn.execute_batch(ADD_REV)?;
    }
    if !has("wake_ms")? {
        conn.execute_batch(ADD_WAKE)?;
    }
    conn.execute_batch(WAKE_INDEX)?;
    Ok(())
}

/// Whether SQLite refused for another connection's lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
