//! What the floor side adds to a raw lapin hop (the topology difference lives
//! with the rest of the raw side's declarations in [`crate::raw`]): the run
//! headers Isoqube puts on a step message, and the least a framework can do to
//! record a step, one small SQLite row written by a thread of its own in group
//! commits. Uses rusqlite and lapin's types only; nothing of Isoqube.

use chrono::Utc;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use tokio::sync::oneshot;

/// The three AMQP headers Isoqube puts on a step message, for hop `hop` of run
/// `run` of definition `definition`.
pub fn run_headers(run: &str, hop: usize, definition: &str) -> FieldTable {
    let mut headers = FieldTable::default();
    headers.insert(
        ShortString::from("Isoqube-Run-Id"),
        AMQPValue::LongString(run.to_string().into()),
    );
    headers.insert(
        ShortString::from("Isoqube-Step"),
        AMQPValue::LongLongInt(hop as i64),
    );
    headers.insert(
        ShortString::from("Isoqube-Definition"),
        AMQPValue::LongString(definition.to_string().into()),
    );
    headers
}

/// The floor's store: one thread, one connection, each wake-up writes every
/// queued step row in one transaction (the same group commit Isoqube's SQLite
/// store does), then answers them.
pub struct StepRecorder {
    jobs: std::sync::mpsc::Sender<(String, usize, oneshot::Sender<()>)>,
    /// Where its database lives (removed at clean-up).
    pub dir: std::path::PathBuf,
}

impl StepRecorder {
    /// Creates the database in `dir` and starts its thread.
    pub fn start(dir: std::path::PathBuf) -> StepRecorder {
        std::fs::create_dir_all(&dir).expect("floor dir");
        let conn = rusqlite::Connection::open(dir.join("floor.db")).expect("floor db");
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             CREATE TABLE steps (run TEXT NOT NULL, hop INTEGER NOT NULL, at INTEGER NOT NULL);",
        )
        .expect("floor schema");
        let (jobs, rx) = std::sync::mpsc::channel::<(String, usize, oneshot::Sender<()>)>();
        std::thread::Builder::new()
            .name("floor-sqlite".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut group = vec![first];
                    group.extend(rx.try_iter());
                    conn.execute_batch("BEGIN").expect("begin");
                    {
                        let mut insert = conn
                            .prepare_cached("INSERT INTO steps (run, hop, at) VALUES (?1, ?2, ?3)")
                            .expect("prepare");
                        let at = Utc::now().timestamp_micros();
                        for (run, hop, _) in &group {
                            insert
                                .execute(rusqlite::params![run, *hop as i64, at])
                                .expect("insert");
                        }
                    }
                    conn.execute_batch("COMMIT").expect("commit");
                    for (_, _, done) in group {
                        let _ = done.send(());
                    }
                }
            })
            .expect("floor thread");
        StepRecorder { jobs, dir }
    }

    /// Records hop `hop` of run `run`; returns once it is committed.
    pub async fn record(&self, run: &str, hop: usize) {
        let (done, wait) = oneshot::channel();
        self.jobs
            .send((run.to_string(), hop, done))
            .expect("floor thread alive");
        wait.await.expect("floor step recorded");
    }
}
