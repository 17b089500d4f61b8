//! Checkpoints of the embedded store's write-ahead log, mostly off the store
//! thread.
//!
//! A checkpoint copies the pages written to the WAL back into the database
//! file, syncing the WAL before and the file after. Left to SQLite
//! (`wal_autocheckpoint`), it runs inside the commit of whichever group
//! crosses the threshold, and every caller waits for it: on the machine the
//! chain bench runs on, syncing the ~40 MB log took 110-155 ms, which the
//! slowest runs of the in-process bench carried (p99 ~110-190 ms; ~40-70 ms
//! with this module).
//!
//! Here a thread with a connection of its own does the bulk of it. A
//! `PASSIVE` checkpoint neither waits for nor blocks the writer, so the store
//! thread goes on committing meanwhile; the checkpoint thread repeats it until
//! a pass finds little new to copy. Then the store thread copies the small
//! rest itself, between two groups, so the log is wholly in the file and its
//! next transaction starts the log over from the beginning (SQLite restarts a
//! log only when every frame is copied; a writer that never paused for that
//! would make it grow without end).
//!
//! ```text
//! store thread:  commit .. commit (log past START_PAGES) -> wake .. commit .. commit -> copy the rest
//! checkpoint:                                               pass, pass, .. small pass -> "tail"
//! ```

use std::cell::Cell;
use std::os::raw::c_int;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use rusqlite::hooks::Wal;
use rusqlite::Connection;
use tracing::warn;

/// Pages in the log at which a checkpoint starts (SQLite's default is 1000).
/// Fewer, larger checkpoints copy a page rewritten at every step once instead
/// of many times (~15 % less CPU per step in the chain bench than at 1000).
pub(super) const START_PAGES: c_int = 10_000;

/// A background pass that found fewer new pages than this hands the rest to
/// the store thread: the pages written during such a short pass are few.
const TAIL_PAGES: c_int = 1_000;

/// Background passes per checkpoint, at most (the writer may outrun them).
const MAX_PASSES: usize = 8;

const IDLE: u8 = 0;
const RUNNING: u8 = 1;
/// The checkpoint thread is done; the rest is the store thread's to copy.
const TAIL: u8 = 2;

thread_local! {
    /// Pages in the log after the last commit of the connection on this
    /// thread (SQLite's WAL hook reports it; each store thread has its own).
    static LOG_PAGES: Cell<c_int> = const { Cell::new(0) };
}

fn note_log_pages(_: &Wal, pages: c_int) -> rusqlite::Result<()> {
    LOG_PAGES.with(|p| p.set(pages));
    Ok(())
}

/// The store thread's side of the checkpoints of one database file.
///
/// The store thread calls [`Checkpoints::after_group`] after each group it
/// committed and answered; everything else happens on the checkpoint thread.
pub(super) struct Checkpoints {
    /// The checkpoint thread and how to wake it; `None` when it could not be
    /// started or has ended, in which case the store thread checkpoints by
    /// itself when the log is long, as SQLite would.
    worker: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
    state: Arc<AtomicU8>,
    /// [`START_PAGES`], but for tests.
    start_pages: c_int,
}

impl Checkpoints {
    /// Takes the checkpoints of `conn` (the store thread's connection to
    /// `path`) away from SQLite and starts the checkpoint thread on a
    /// connection of its own.
    pub(super) fn start(conn: &Connection, path: &Path) -> rusqlite::Result<Self> {
        Self::start_at(conn, path, START_PAGES)
    }

    fn start_at(conn: &Connection, path: &Path, start_pages: c_int) -> rusqlite::Result<Self> {
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.wal_hook(Some(note_log_pages));
        let state = Arc::new(AtomicU8::new(IDLE));
        let worker = match spawn_worker(path, state.clone()) {
            Ok(worker) => Some(worker),
            Err(e) => {
                warn!(
                    "sqlite: no checkpoint thread for {} ({e}); the store thread checkpoints by itself",
                    path.display()
                );
                None
            }
        };
        Ok(Checkpoints {
            worker,
            state,
            start_pages,
        })
    }

    /// Starts a checkpoint when the log is long, or finishes one the
    /// checkpoint thread has brought near its end.
    pub(super) fn after_group(&mut self, conn: &Connection) {
        match self.state.load(Ordering::Acquire) {
            TAIL => self.finish(conn),
            IDLE if LOG_PAGES.with(Cell::get) >= self.start_pages => {
                let woken = self
                    .worker
                    .as_ref()
                    .is_some_and(|(wake, _)| wake.send(()).is_ok());
                if woken {
                    self.state.store(RUNNING, Ordering::Release);
                } else {
                    self.worker = None;
                    self.finish(conn);
                }
            }
            RUNNING if self.worker.as_ref().is_none_or(|(_, t)| t.is_finished()) => {
                // The checkpoint thread ended mid-checkpoint (it cannot panic
                // by design, but a log that grows without end is worse than
                // a stall): carry on alone.
                warn!(
                    "sqlite: the checkpoint thread ended; the store thread checkpoints by itself"
                );
                self.worker = None;
                self.finish(conn);
            }
            _ => {}
        }
    }

    /// Copies what is left of the log into the file, here, now.
    fn finish(&mut self, conn: &Connection) {
        if let Err(e) = passive(conn) {
            warn!("sqlite: checkpoint failed: {e}");
        }
        self.state.store(IDLE, Ordering::Release);
    }
}

/// One `PASSIVE` checkpoint: the pages in the log, and those of them in the
/// database file now.
fn passive(conn: &Connection) -> rusqlite::Result<(c_int, c_int)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}

fn spawn_worker(
    path: &Path,
    state: Arc<AtomicU8>,
) -> std::io::Result<(mpsc::Sender<()>, JoinHandle<()>)> {
    let conn = Connection::open(path).map_err(std::io::Error::other)?;
    // Opening a view of the log can meet another connection recovering it.
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(std::io::Error::other)?;
    let (wake, woken) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("isoqube-ckpt".into()) // 15 bytes at most on Linux
        .spawn(move || {
            // Ends when the store thread does (it holds the sender).
            while woken.recv().is_ok() {
                copy_most(&conn);
                state.store(TAIL, Ordering::Release);
            }
        })?;
    Ok((wake, thread))
}

/// Passes until one finds fewer than [`TAIL_PAGES`] new pages, or cannot copy
/// everything it found (another connection still reads old pages), or fails.
fn copy_most(conn: &Connection) {
    let mut seen = 0;
    for _ in 0..MAX_PASSES {
        match passive(conn) {
            Ok((log, copied)) => {
                let new = log - seen;
                seen = log;
                if copied < log || new < TAIL_PAGES {
                    return;
                }
            }
            Err(e) => {
                warn!("sqlite: background checkpoint failed: {e}");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// A fresh database file in WAL mode, with a table to fill.
    fn database(name: &str) -> (Connection, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "isoqube-checkpoint-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("t.db");
        let conn = Connection::open(&path).expect("open");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("wal");
        conn.pragma_update(None, "synchronous", "NORMAL")
            .expect("sync");
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            .expect("table");
        (conn, path)
    }

    /// One group: a transaction writing `rows` rows of ~4 KB.
    fn commit_rows(conn: &Connection, rows: usize) {
        conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
        for _ in 0..rows {
            conn.execute("INSERT INTO t (v) VALUES (zeroblob(4000))", [])
                .expect("insert");
        }
        conn.execute_batch("COMMIT").expect("commit");
    }

    /// Commits groups until the log holds `pages` pages.
    fn fill_to(conn: &Connection, pages: c_int) {
        for _ in 0..1_000 {
            if log_pages() >= pages {
                return;
            }
            commit_rows(conn, 10);
        }
        panic!("the log never reached {pages} pages: {}", log_pages());
    }

    fn assert_next_commit_starts_the_log_over(conn: &Connection) {
        commit_rows(conn, 1);
        let pages = log_pages();
        assert!(pages < 20, "the log started over: {pages} pages");
    }

    fn remove(conn: Connection, path: &Path) {
        drop(conn);
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    fn log_pages() -> c_int {
        LOG_PAGES.with(Cell::get)
    }

    fn wait_for(state: &AtomicU8, want: u8) {
        let patience = Instant::now() + Duration::from_secs(30);
        while state.load(Ordering::Acquire) != want {
            assert!(Instant::now() < patience, "state never became {want}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn the_checkpoint_thread_copies_the_log_and_the_writer_starts_it_over() {
        let (conn, path) = database("worker");
        let mut checkpoints = Checkpoints::start_at(&conn, &path, 200).expect("start");
        assert!(checkpoints.worker.is_some());
        commit_rows(&conn, 10);
        checkpoints.after_group(&conn);
        assert_eq!(checkpoints.state.load(Ordering::Acquire), IDLE);
        let before = log_pages();
        assert!(before > 0 && before < 200, "a short log: {before} pages");
        // SQLite would have checkpointed by itself at 1000 pages (and the
        // log would have started over); it must not.
        fill_to(&conn, 1_200);
        let file = std::fs::metadata(&path).expect("db file").len();
        // Past 200 pages: the checkpoint thread is woken...
        checkpoints.after_group(&conn);
        assert_eq!(checkpoints.state.load(Ordering::Acquire), RUNNING);
        // ...copies the log into the file by itself while this thread is
        // elsewhere, and hands the rest over.
        wait_for(&checkpoints.state, TAIL);
        let copied = std::fs::metadata(&path).expect("db file").len();
        assert!(
            copied > file + 1_000 * 4_096,
            "the file grew from {file} to {copied} bytes without the writer"
        );
        // The writer copies the rest and its next commit starts the log over.
        commit_rows(&conn, 1);
        checkpoints.after_group(&conn);
        assert_eq!(checkpoints.state.load(Ordering::Acquire), IDLE);
        assert_next_commit_starts_the_log_over(&conn);
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert!(rows > 120, "nothing lost: {rows} rows");
        drop(checkpoints);
        remove(conn, &path);
    }

    #[test]
    fn without_its_thread_the_writer_checkpoints_by_itself() {
        let (conn, path) = database("alone");
        let mut checkpoints = Checkpoints::start_at(&conn, &path, 200).expect("start");
        // The thread ends (its sender dropped), as if it had failed.
        if let Some((wake, thread)) = checkpoints.worker.take() {
            drop(wake);
            thread.join().expect("thread ends");
        }
        fill_to(&conn, 200);
        checkpoints.after_group(&conn);
        assert_eq!(checkpoints.state.load(Ordering::Acquire), IDLE);
        assert_next_commit_starts_the_log_over(&conn);
        drop(checkpoints);
        remove(conn, &path);
    }
}
