//! The store conformance suite on MongoDB (SecantusDB in tests): each test on
//! its own database. See `mongo_support` for how the server is found.

mod mongo_support;
mod store_conformance;

use std::sync::{Arc, Mutex};

use isoqube::model::{ClaimOutcome, CompleteOutcome, RunStatus, StepStatus};
use isoqube::store::mongo::MongoOptions;
use isoqube::{model::StepKey, Definition, MongoStore, Run, RunStore, Variables};
use mongodb::bson::{doc, Document};
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use store_conformance::Fixture;

async fn mongo_fixture() -> Fixture {
    let store = mongo_support::store("isoqube_conf").await;
    let url = mongo_support::url();
    let db = store.database_name().to_string();
    let mut peers: Vec<Arc<dyn RunStore>> = Vec::new();
    for _ in 0..3 {
        // Own clients and pools, as other service processes would have.
        peers.push(Arc::new(
            isoqube::MongoStore::connect(&url, &db)
                .await
                .expect("mongo peer"),
        ));
    }
    let (unset_url, unset_db) = (url.clone(), db.clone());
    Fixture {
        store: Arc::new(store),
        peers,
        unset_field: Box::new(move |collection, key, field| {
            let (url, db) = (unset_url.clone(), unset_db.clone());
            Box::pin(async move {
                let client = mongodb::Client::with_uri_str(&url).await.expect("client");
                let filter = match collection {
                    "runs" => doc! { "id": &key },
                    "definitions" => doc! { "name": &key },
                    other => panic!("no collection {other}"),
                };
                let done = client
                    .database(&db)
                    .collection::<Document>(collection)
                    .update_one(filter, doc! { "$unset": { field: "" } })
                    .await
                    .expect("unset a field");
                assert_eq!(done.modified_count, 1, "{collection} {key} not changed");
            })
        }),
        corrupt_run: Box::new(move |id| {
            let (url, db) = (url.clone(), db.clone());
            Box::pin(async move {
                let client = mongodb::Client::with_uri_str(&url).await.expect("client");
                client
                    .database(&db)
                    .collection::<Document>("runs")
                    .insert_one(doc! {
                        "_id": id.to_string(),
                        "id": id.to_string(),
                        "status": 42,
                        "created_key": "2001-01-01T00:00:00.000000Z",
                    })
                    .await
                    .expect("write a broken run");
            })
        }),
    }
}

conformance_tests!(mongo_fixture);

/// Start-up is idempotent: connecting again to a prepared database (indexes
/// exist) works, and with another log retention too.
#[tokio::test]
async fn connect_twice_is_idempotent() {
    let first = mongo_support::store("isoqube_idem").await;
    let db = first.database_name().to_string();
    let url = mongo_support::url();
    let again = isoqube::MongoStore::connect(&url, &db).await.unwrap();
    again.ping().await.unwrap();
    let opts = isoqube::store::mongo::MongoOptions {
        log_retention: std::time::Duration::from_secs(3600),
        ..Default::default()
    };
    isoqube::MongoStore::connect_with(&url, &db, opts)
        .await
        .unwrap();
    first.drop_database().await.unwrap();
}

/// An unreachable server fails in bounded time with a transient store error.
#[tokio::test]
async fn unreachable_server_is_a_transient_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let opts = isoqube::store::mongo::MongoOptions {
        server_selection_timeout: std::time::Duration::from_millis(500),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let e = isoqube::MongoStore::connect_with(
        &format!("mongodb://app:hunter22@127.0.0.1:{port}/?directConnection=true"),
        "isoqube",
        opts,
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(e.is_transient(), "{e}");
    assert!(!e.to_string().contains("hunter22"), "{e}");
    // One line naming the server by its address, not the driver's dump.
    let want = format!("MongoDB at 127.0.0.1:{port} is unreachable");
    assert!(e.to_string().contains(&want), "{e}");
    assert!(!e.to_string().contains("Topology"), "{e}");
}

/// The commands one client sends to the server, as its command monitoring sees
/// them: `(command name, collection)` for every command started, e.g.
/// `("find", "runs")` for a read or `("update", "runs")` for a `replace_one`.
#[derive(Clone, Default)]
struct CommandLog(Arc<Mutex<Vec<(String, String)>>>);

impl CommandLog {
    fn handler(&self) -> EventHandler<CommandEvent> {
        let log = self.0.clone();
        EventHandler::callback(move |ev: CommandEvent| {
            if let CommandEvent::Started(started) = ev {
                let collection = started
                    .command
                    .get_str(&started.command_name)
                    .unwrap_or("")
                    .to_string();
                log.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((started.command_name, collection));
            }
        })
    }

    /// Takes the commands logged so far.
    fn take(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A store ("process") whose every command is logged, on database `db`.
async fn counted_store(db: &str) -> (MongoStore, CommandLog) {
    let log = CommandLog::default();
    let store = MongoStore::connect_with_command_events(
        &mongo_support::url(),
        db,
        MongoOptions::default(),
        log.handler(),
    )
    .await
    .expect("mongo store with command monitoring");
    log.take(); // start-up (index creation) is not on the hot path
    (store, log)
}

fn five_step_run() -> Run {
    let def = Definition::new("five", ["A", "B", "C", "D", "E"]);
    Run::new(&def, Variables::new(), "test")
}

fn key(run: &Run, step: usize) -> StepKey {
    StepKey::new(run.id, step, format!("ep{step}"), "host-1")
}

fn assert_advanced(out: CompleteOutcome, step: usize, steps: usize) {
    match out {
        CompleteOutcome::Advanced { next } if step + 1 < steps => {
            assert_eq!(next.iter().map(|n| n.index).collect::<Vec<_>>(), [step + 1])
        }
        CompleteOutcome::Finished if step + 1 == steps => {}
        other => panic!("step {step}: expected Advanced, got {other:?}"),
    }
}

/// Round trips on the hot path, counted by the driver's command monitoring:
/// every command the client starts between the run's insertion and its end
/// (`find`, `update` — which is what `replace_one` sends —, `findAndModify`,
/// anything else) is counted, on any collection. One process claims and
/// completes each of the 5 steps, as the service does: at most 2 commands per
/// step, all of them on `runs`.
#[tokio::test]
async fn hot_path_costs_at_most_two_round_trips_per_step() {
    let db = mongo_support::unique_db("isoqube_rt");
    let (store, log) = counted_store(&db).await;
    let run = five_step_run();
    store.insert_run(&run).await.unwrap();
    let insert = log.take();
    assert_eq!(insert.len(), 1, "insert_run: {insert:?}");

    let mut per_step = Vec::new();
    for step in 0..5 {
        let claimed = store.claim_step(&key(&run, step), false).await.unwrap();
        assert!(
            matches!(claimed, ClaimOutcome::Claimed { attempts: 0, .. }),
            "step {step}: {claimed:?}"
        );
        let done = store
            .complete_step(&key(&run, step), Variables::new(), 1)
            .await
            .unwrap();
        assert_advanced(done, step, 5);
        per_step.push(log.take());
    }
    let counts: Vec<usize> = per_step.iter().map(Vec::len).collect();
    let total: usize = counts.iter().sum();
    println!("round trips per step (claim + complete): {counts:?}, total {total} for 5 steps");
    for (step, cmds) in per_step.iter().enumerate() {
        assert!(
            cmds.iter().all(|(_, coll)| coll == "runs"),
            "step {step}: {cmds:?}"
        );
        assert!(
            cmds.len() <= 2,
            "step {step} cost {} round trips: {cmds:?}",
            cmds.len()
        );
    }
    assert!(total <= 10, "{total} round trips for 5 steps");

    let stored = store.get_run(run.id).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Succeeded);
    assert_eq!(stored.version, 10);
    assert_eq!(stored.steps_succeeded(), 5);
    store.drop_database().await.unwrap();
}

/// Two independent stores ("processes", each with its own client and cache)
/// alternate on one run, so each one's cached copy is stale every time: every
/// outcome is still right, and a stale copy costs at most one extra round trip.
/// Outcomes that write nothing (`InFlight`, `AlreadyDone`) are never taken from
/// a stale copy.
#[tokio::test]
async fn two_processes_alternating_on_one_run_stay_correct() {
    let db = mongo_support::unique_db("isoqube_rt2");
    let (a, log_a) = counted_store(&db).await;
    let (b, log_b) = counted_store(&db).await;
    let run = five_step_run();
    a.insert_run(&run).await.unwrap();
    log_a.take();

    // A claims step 0; B (which never saw the run) records its success.
    let claimed = a.claim_step(&key(&run, 0), false).await.unwrap();
    assert!(
        matches!(claimed, ClaimOutcome::Claimed { .. }),
        "{claimed:?}"
    );
    assert_advanced(
        b.complete_step(&key(&run, 0), Variables::new(), 1)
            .await
            .unwrap(),
        0,
        5,
    );
    // A's copy still shows step 0 in flight: it must not answer InFlight from
    // it, but see that the step is done and its successor not yet picked up.
    match a.claim_step(&key(&run, 0), false).await.unwrap() {
        ClaimOutcome::AlreadyDone { republish } => {
            assert_eq!(republish.iter().map(|n| n.index).collect::<Vec<_>>(), [1])
        }
        other => panic!("stale copy answered: {other:?}"),
    }
    // B picks up step 1; A's copy (read just now) still shows it pending: a
    // redelivery of step 0 must not republish step 1.
    let claimed = b.claim_step(&key(&run, 1), false).await.unwrap();
    assert!(
        matches!(claimed, ClaimOutcome::Claimed { .. }),
        "{claimed:?}"
    );
    assert_eq!(
        a.claim_step(&key(&run, 0), true).await.unwrap(),
        ClaimOutcome::AlreadyDone { republish: vec![] }
    );
    assert_advanced(
        a.complete_step(&key(&run, 1), Variables::new(), 1)
            .await
            .unwrap(),
        1,
        5,
    );
    log_a.take();
    log_b.take();

    // Steps 2..5 alternate: one process claims, the other completes, so the
    // completer's copy is always stale (the claimer's is current when it made
    // the last change itself).
    let mut costs = Vec::new();
    for step in 2..5 {
        let (claimer, claimer_log, completer, completer_log) = if step % 2 == 0 {
            (&b, &log_b, &a, &log_a)
        } else {
            (&a, &log_a, &b, &log_b)
        };
        let mut patch = Variables::new();
        patch.insert(format!("out{step}"), serde_json::json!(step));
        let claimed = claimer.claim_step(&key(&run, step), false).await.unwrap();
        assert!(
            matches!(claimed, ClaimOutcome::Claimed { .. }),
            "{claimed:?}"
        );
        let claim_cost = claimer_log.take().len();
        assert_advanced(
            completer
                .complete_step(&key(&run, step), patch, 1)
                .await
                .unwrap(),
            step,
            5,
        );
        let complete_cost = completer_log.take().len();
        costs.push((claim_cost, complete_cost));
    }
    println!("stale-copy round trips per (claim, complete): {costs:?}");
    for (claim, complete) in &costs {
        assert!(*claim <= 3 && *complete <= 3, "{costs:?}");
    }

    // Both processes see the same, complete history.
    let stored = b.get_run(run.id).await.unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Succeeded);
    assert_eq!(stored.steps_succeeded(), 5);
    for (i, step) in stored.steps.iter().enumerate() {
        let endpoint = format!("ep{i}");
        assert_eq!(step.handlers.len(), 1, "step {i}: {:?}", step.handlers);
        assert_eq!(step.handlers[0].endpoint, endpoint);
        assert_eq!(step.handlers[0].status, StepStatus::Succeeded);
        assert_eq!(step.attempts, 1, "step {i}");
    }
    for step in 2..5 {
        assert_eq!(
            stored.variables.get(&format!("out{step}")),
            Some(&serde_json::json!(step))
        );
    }
    // A run that finished is not cached: a late redelivery reads it afresh.
    assert_eq!(
        a.claim_step(&key(&run, 4), true).await.unwrap(),
        ClaimOutcome::NotRunning(RunStatus::Succeeded)
    );
    a.drop_database().await.unwrap();
}

/// `w` and `j` of one write's concern.
type Concern = (String, Option<bool>);

/// The write concern each step transition goes out with, as the driver's
/// command monitoring sees it: `(w, j)` of every `update` on `runs`.
async fn transition_write_concerns(opts: MongoOptions) -> Vec<Concern> {
    let seen: Arc<Mutex<Vec<Concern>>> = Arc::default();
    let log = seen.clone();
    let handler = EventHandler::callback(move |ev: CommandEvent| {
        if let CommandEvent::Started(started) = ev {
            if started.command_name == "update" {
                let wc = started.command.get_document("writeConcern").ok();
                let w = wc
                    .and_then(|d| d.get("w"))
                    .map_or("<none>".into(), |w| w.to_string());
                let j = wc.and_then(|d| d.get_bool("j").ok());
                log.lock().unwrap_or_else(|p| p.into_inner()).push((w, j));
            }
        }
    });
    let db = mongo_support::unique_db("isoqube_wc");
    let store = MongoStore::connect_with_command_events(&mongo_support::url(), &db, opts, handler)
        .await
        .expect("mongo store with command monitoring");
    let run = five_step_run();
    store.insert_run(&run).await.unwrap();
    for step in 0..5 {
        store.claim_step(&key(&run, step), false).await.unwrap();
        store
            .complete_step(&key(&run, step), Variables::new(), 1)
            .await
            .unwrap();
    }
    assert_eq!(
        store.get_run(run.id).await.unwrap().unwrap().status,
        RunStatus::Succeeded
    );
    store.drop_database().await.ok();
    let out = seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(!out.is_empty(), "no transition was seen");
    out
}

/// Step transitions are written with `w: "majority", j: true` by default, and
/// with `w: 1` when `[store] write_concern = "acknowledged"` says so.
#[tokio::test]
async fn step_transitions_are_durable_by_default() {
    let durable = transition_write_concerns(MongoOptions::default()).await;
    assert!(
        durable
            .iter()
            .all(|(w, j)| w == "\"majority\"" && *j == Some(true)),
        "{durable:?}"
    );
    let quick = transition_write_concerns(MongoOptions {
        durability: isoqube::store::WriteDurability::Acknowledged,
        ..MongoOptions::default()
    })
    .await;
    assert!(quick.iter().all(|(w, _)| w == "1"), "{quick:?}");
}
