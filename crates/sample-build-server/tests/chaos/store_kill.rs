//! The store-kill case: a MongoDB-wire server of the scenario's own, on disk,
//! SIGKILLed right after the services recorded a step, then started again on
//! the same port and data. With the default durable write concern
//! (`w: "majority", journal: true`; SecantusDB fsyncs its journal for a write
//! that asks `j: true`), no acknowledged step may be lost: every run still
//! ends Succeeded with every step done, none stuck. Every 4th run fails at its
//! last step; the last kill lands right after a compensation was recorded,
//! and those runs must still end Compensated with every undo done once.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use isoqube::{Control, StepStatus, Variables};
use serde_json::json;
use uuid::Uuid;

use crate::checks::{check_runs, wait_all, Window};
use crate::deployment::{wait_registered, Deployment, StoreKind};
use crate::fleet::Fleet;
use crate::undo;
use crate::Plan;

/// How many times the store server is killed.
const STORE_KILLS: usize = 3;

/// A SecantusDB of the scenario's own, started by `scripts/mongo-test-server.sh`
/// with its own state directory, port and on-disk storage.
struct OwnMongo {
    state: PathBuf,
    storage: PathBuf,
    port: u16,
}

impl OwnMongo {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(isoqube::testing::unique("isoqube-chaos-mongo"));
        let server = OwnMongo {
            state: dir.join("state"),
            storage: dir.join("data"),
            port: isoqube::testing::free_port(),
        };
        server.launch();
        server
    }

    fn launch(&self) {
        std::fs::create_dir_all(&self.state).expect("state dir");
        let out = Command::new("bash")
            .arg(isoqube::testing::mongo_script())
            .arg("start")
            .arg(&self.storage)
            .env("SECANTUS_STATE_DIR", &self.state)
            .env("SECANTUS_PORT", self.port.to_string())
            // durable on-disk storage: never the test-fast mode
            .env_remove("SECANTUS_TEST_FAST_STORAGE")
            .output()
            .expect("run scripts/mongo-test-server.sh");
        assert!(
            out.status.success(),
            "the scenario's own MongoDB-wire server did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn url(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    fn sigkill(&self) {
        let pid = std::fs::read_to_string(self.state.join("secantus.pid")).expect("pid file");
        let ok = Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -KILL {pid}");
        // the script's `start` looks at the pid file: the server is gone
        let _ = std::fs::remove_file(self.state.join("secantus.pid"));
    }
}

impl Drop for OwnMongo {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(isoqube::testing::mongo_script())
            .arg("stop")
            .env("SECANTUS_STATE_DIR", &self.state)
            .status();
        if let Some(dir) = self.state.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Steps and compensations recorded succeeded so far, over `ids` (`None`
/// while the store is away).
async fn succeeded(control: &Control, ids: &[Uuid]) -> Option<(usize, usize)> {
    let (mut steps, mut undos) = (0, 0);
    for id in ids {
        let run = control.get_run(*id).await.ok()?;
        for s in &run.steps {
            steps += usize::from(s.status == StepStatus::Succeeded);
            undos += usize::from(
                s.compensation
                    .as_ref()
                    .is_some_and(|c| c.status == StepStatus::Succeeded),
            );
        }
    }
    Some((steps, undos))
}

pub async fn store_kill(plan: &Plan) {
    let started = Instant::now();
    let server = OwnMongo::start();
    let deployment = Deployment::new(StoreKind::Mongo {
        url: server.url(),
        db: "isoqube_chaos_store_kill".into(),
    });
    let fleet = Fleet::start(&deployment);
    let control = deployment.control().await;
    wait_registered(&control, &deployment, crate::fleet::SERVICES.len()).await;
    fleet.wait_ready(Duration::from_secs(60)).await;

    let runs = (plan.runs / 4).max(4);
    let mut ids = Vec::with_capacity(runs);
    let mut compensated = BTreeSet::new();
    for i in 0..runs {
        let undo = plan.compensates(i);
        let params: Variables = if undo {
            undo::failing_vars(plan.work_ms)
        } else {
            isoqube::context::vars_from(json!({"work_ms": plan.work_ms}))
        };
        let run = control
            .start(
                isoqube::StartRun::new("linux-release")
                    .vars(params)
                    .started_by("chaos"),
            )
            .await
            .unwrap_or_else(|e| panic!("start a run: {e}"));
        if undo {
            compensated.insert(run.id);
        }
        ids.push(run.id);
    }
    let all_undos = compensated.len() * undo::COMPENSATIONS;
    let mut outages: Vec<Window> = Vec::new();
    for kill in 1..=STORE_KILLS {
        // Right after the services record a step (the last time: a
        // compensation): the moment the count moves.
        let on_undo = kill == STORE_KILLS && all_undos > 0;
        let moved = |before: (usize, usize), now: (usize, usize)| {
            if on_undo {
                now.1 > before.1
            } else {
                now.0 > before.0
            }
        };
        let before = loop {
            if let Some(n) = succeeded(&control, &ids).await {
                break n;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            !on_undo || before.1 < all_undos,
            "every compensation was done before the last store kill: the scenario no longer \
             kills the store mid-compensation"
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if succeeded(&control, &ids)
                .await
                .is_some_and(|n| moved(before, n))
            {
                break;
            }
            assert!(Instant::now() < deadline, "nothing was recorded for 60 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let from = chrono::Utc::now() - chrono::Duration::seconds(2);
        server.sigkill();
        let after = if on_undo { "a compensation" } else { "a step" };
        println!(
            "chaos[store-kill]: MongoDB-wire server SIGKILLed right after {after} was recorded \
             ({kill} of {STORE_KILLS})"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        tokio::task::block_in_place(|| server.launch());
        outages.push((from, chrono::Utc::now() + chrono::Duration::seconds(10)));
    }
    let diagnose = || format!("{}{}", deployment.logs_of(), fleet.endpoints());
    let done = wait_all(&control, &ids, Duration::from_secs(240), &diagnose).await;
    check_runs(&done, &compensated, &deployment.logs_of());
    // No process is killed here; an undo runs again only when its outcome
    // could not be recorded while the store was away (the message is
    // requeued and its redelivery takes the unfinished handler over).
    let repeats = undo::check_side_effects(
        &done,
        &compensated,
        &deployment.console_logs(),
        &BTreeSet::new(),
        &outages,
    );
    println!(
        "chaos[store-kill]: {} runs ({} compensated), {STORE_KILLS} store SIGKILLs right after a \
         step write (the last after a compensation's): 0 lost, 0 stuck, every run Succeeded or \
         Compensated with every step and undo done; undos repeated across a store outage: \
         {repeats}; {:.0} s",
        done.len(),
        compensated.len(),
        started.elapsed().as_secs_f64()
    );
    fleet.stop();
    drop(server);
}
