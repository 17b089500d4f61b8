//! Records the control center's tests put in a store by hand: a run document
//! that does not parse (written past the store, as disk rot or another
//! program would leave it), and runs whose first step is `Invoked` on a
//! service instance that is gone, one that is silent, and one that is alive.
#![allow(dead_code)]

use std::path::PathBuf;

use chrono::{Duration, Utc};
use isoqube::{model::ServiceRecord, model::StepKey, Definition, Run, RunStore, Variables};
use uuid::Uuid;

/// Where a test's store is, to write past it.
#[derive(Debug, Clone)]
pub enum StoreAt {
    /// The SQLite file.
    Sqlite(PathBuf),
    /// The MongoDB server and database.
    Mongo { url: String, db: String },
}

impl StoreAt {
    /// Writes a run document that does not parse under `id`, created in 2001
    /// (the oldest record of the store).
    pub async fn write_corrupt_run(&self, id: Uuid) {
        match self {
            StoreAt::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("open sqlite file");
                conn.execute(
                    "INSERT INTO runs (id, created_at, status, definition, doc) \
                     VALUES (?1, ?2, 'Running', 'broken', ?3)",
                    rusqlite::params![
                        id.to_string(),
                        "2001-01-01T00:00:00.000000Z",
                        r#"{"status": 42}"#
                    ],
                )
                .expect("write a broken run");
            }
            StoreAt::Mongo { url, db } => {
                let client = mongodb::Client::with_uri_str(url).await.expect("client");
                client
                    .database(db)
                    .collection::<mongodb::bson::Document>("runs")
                    .insert_one(mongodb::bson::doc! {
                        "_id": id.to_string(),
                        "id": id.to_string(),
                        "status": "Running",
                        "steps": 42,
                        "created_key": "2001-01-01T00:00:00.000000Z",
                    })
                    .await
                    .expect("write a broken run");
            }
        }
    }
}

/// The runs [`stuck_runs`] wrote.
#[derive(Debug, Clone)]
pub struct StuckRuns {
    /// Step 1 on an instance that has no service record: stuck (gone).
    pub gone: Run,
    /// Step 1 on an instance whose last heartbeat was 15 minutes ago: stuck (silent).
    pub silent: Run,
    /// Step 1 on the live test service for 20 minutes: slow, not stuck.
    pub live: Run,
    /// The instance id of `gone`'s handler.
    pub gone_instance: String,
    /// The instance id of `silent`'s handler.
    pub silent_instance: String,
    /// When the silent instance was last seen.
    pub silent_since: chrono::DateTime<Utc>,
}

/// A run of `definition` (steps `steps`) created 30 minutes ago whose first
/// step `endpoint` claimed on `instance` `started` minutes ago.
fn claimed(
    definition: &str,
    steps: [&str; 2],
    endpoint: &str,
    instance: &str,
    started: i64,
) -> Run {
    let mut run = Run::new(
        &Definition::new(definition, steps),
        Variables::new(),
        "test",
    );
    let created = Utc::now() - Duration::minutes(30);
    run.created_at = created;
    run.modified_at = created;
    run.claim(
        &StepKey::new(run.id, 0, endpoint, instance),
        false,
        Utc::now() - Duration::minutes(started),
    )
    .expect("claim");
    run
}

/// Writes the three runs of [`StuckRuns`] (and the silent instance's record)
/// through the store; `live_instance` is a running service's instance id.
pub async fn stuck_runs(
    store: &dyn RunStore,
    definition: &str,
    steps: [&str; 2],
    endpoint: &str,
    live_instance: &str,
) -> StuckRuns {
    let gone_instance = format!(
        "ghost@nowhere:1:{}",
        &Uuid::new_v4().simple().to_string()[..8]
    );
    let silent_instance = format!(
        "quiet@somewhere:2:{}",
        &Uuid::new_v4().simple().to_string()[..8]
    );
    let silent_since = Utc::now() - Duration::minutes(15);
    store
        .register_service(&ServiceRecord {
            id: silent_instance.clone(),
            name: "quiet".into(),
            host: "somewhere".into(),
            pid: 2,
            events: Vec::new(),
            consumers: vec![endpoint.to_string()],
            transport: "amqp".into(),
            started_at: silent_since - Duration::minutes(60),
            last_seen: silent_since,
        })
        .await
        .expect("silent service record");
    let gone = claimed(definition, steps, endpoint, &gone_instance, 20);
    let silent = claimed(definition, steps, endpoint, &silent_instance, 25);
    let live = claimed(definition, steps, endpoint, live_instance, 20);
    for run in [&gone, &silent, &live] {
        store.insert_run(run).await.expect("insert run");
    }
    StuckRuns {
        gone,
        silent,
        live,
        gone_instance,
        silent_instance,
        silent_since,
    }
}
