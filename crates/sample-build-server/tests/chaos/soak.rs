//! The soak: runs started throughout, service processes SIGKILLed at random
//! intervals and restarted, the broker (a node of the suite's own) stopped
//! and started once in the middle. Every 4th run fails at its last step and
//! is compensated meanwhile.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use isoqube::testing::OwnBroker;
use isoqube::Variables;
use serde_json::json;

use crate::checks::{check_runs, check_spy, wait_all, Window};
use crate::deployment::{Deployment, StoreKind};
use crate::fleet::{Fleet, SERVICES};
use crate::rng::Rng;
use crate::spy::Spy;
use crate::Plan;
use crate::{unbound, undo};

pub async fn soak(label: &str, store: StoreKind, plan: &Plan) {
    let started = Instant::now();
    let mut rng = Rng::new(plan.seed);
    let broker = OwnBroker::start();
    let deployment = Deployment::on_broker(store, broker.url());
    let mut fleet = Fleet::start(&deployment);
    let control = deployment.control().await;
    crate::deployment::wait_registered(&control, &deployment, SERVICES.len()).await;
    fleet.wait_ready(Duration::from_secs(60)).await;
    let spy = Spy::start(
        &broker.url(),
        &deployment.prefix,
        control.store(),
        &[unbound::UNBOUND],
    )
    .await;
    unbound::define(&control).await;

    let params = || -> Variables { isoqube::context::vars_from(json!({"work_ms": plan.work_ms})) };
    let mut ids = Vec::with_capacity(plan.runs);
    let mut compensated = BTreeSet::new();
    let mut unbound_ids = Vec::new();
    let mut outages: Vec<Window> = Vec::new();
    let per_kill = plan.runs.div_ceil(plan.kills.max(1) + 1);
    let restart_at = plan.kills / 3;
    for k in 0..=plan.kills {
        // Runs start throughout the soak, so kills land on every kind of step.
        for _ in 0..per_kill {
            let started = ids.len() + unbound_ids.len();
            if started < plan.runs && plan.unbound(started) {
                let run = control
                    .start(
                        isoqube::StartRun::new(unbound::NAME)
                            .vars(params())
                            .started_by("chaos"),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("start a run: {e}"));
                unbound_ids.push(run.id);
            } else if started < plan.runs {
                let undo = plan.compensates(ids.len());
                let vars = if undo {
                    undo::failing_vars(plan.work_ms)
                } else {
                    params()
                };
                let start = isoqube::StartRun::new("linux-release")
                    .vars(vars)
                    .started_by("chaos");
                let run = start_when_connected(&control, start).await;
                if undo {
                    compensated.insert(run.id);
                }
                ids.push(run.id);
            }
        }
        if k == plan.kills {
            break;
        }
        tokio::time::sleep(Duration::from_millis(
            rng.between(plan.gap_ms.0, plan.gap_ms.1),
        ))
        .await;
        if k == restart_at {
            let from = chrono::Utc::now() - chrono::Duration::seconds(2);
            tokio::task::block_in_place(|| broker.stop_app());
            tokio::time::sleep(Duration::from_secs(2)).await;
            tokio::task::block_in_place(|| broker.start_app());
            outages.push((from, chrono::Utc::now() + chrono::Duration::seconds(10)));
            println!("chaos[{label}]: broker restarted");
        }
        let (service, pid) = fleet.kill_and_restart(rng.below(SERVICES.len()));
        println!(
            "chaos[{label}]: kill {} of {}: {service} (pid {pid})",
            k + 1,
            plan.kills
        );
    }

    let logs = || deployment.logs_of();
    let diagnose = || format!("{}{}", logs(), fleet.endpoints());
    let runs = wait_all(&control, &ids, Duration::from_secs(240), &diagnose).await;
    let unbound_runs = wait_all(&control, &unbound_ids, Duration::from_secs(60), &diagnose).await;
    assert_eq!(runs.len() + unbound_runs.len(), plan.runs, "runs lost");
    check_runs(&runs, &compensated, &logs());
    unbound::check(&unbound_runs, &logs());
    let copies = check_spy(&runs, &compensated, &spy.seen, &fleet.killed, &outages).await;
    let undone: BTreeSet<_> = compensated.iter().chain(&unbound_ids).copied().collect();
    let all: Vec<_> = runs.iter().chain(&unbound_runs).cloned().collect();
    let repeats = undo::check_side_effects(
        &all,
        &undone,
        &deployment.console_logs(),
        &fleet.killed_logs,
        &outages,
    );
    let steps: usize = runs.iter().map(|r| r.steps.len()).sum();
    let attempts: u32 = runs.iter().flat_map(|r| &r.steps).map(|s| s.attempts).sum();
    let comps = compensated.len() * undo::COMPENSATIONS;
    let comp_attempts: u32 = runs
        .iter()
        .flat_map(|r| &r.steps)
        .filter_map(|s| s.compensation.as_ref())
        .map(|c| c.attempts)
        .sum();
    println!(
        "chaos[{label}]: {} runs ({} compensated) and {} with a step no consumer takes (each \
         compensated), {steps} steps ({attempts} attempts), {comps} \
         compensations ({comp_attempts} attempts), {} kills, 1 broker restart: 0 lost, 0 stuck, \
         0 failed, every step and compensation recorded succeeded once, undos in order; \
         published again by a killed publisher or across the broker restart: {} step and {} \
         compensation messages; undos repeated after a kill mid-undo or across the restart: \
         {repeats}; {:.0} s (seed {})",
        runs.len(),
        compensated.len(),
        unbound_runs.len(),
        fleet.killed.len(),
        copies.steps,
        copies.compensations,
        started.elapsed().as_secs_f64(),
        plan.seed
    );
    fleet.stop();
    spy.stop().await;
    drop(broker);
}

/// Starts a run as an operator would while the broker restarts: `Control`
/// refuses to start one over a transport not connected now (nothing written),
/// so the start is tried again, under one run id (`start_once`), so a retry
/// after a lost answer cannot start it twice.
async fn start_when_connected(
    control: &isoqube::Control,
    start: isoqube::StartRun,
) -> isoqube::Run {
    let id = uuid::Uuid::new_v4();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match control.start_once(id, start.clone()).await {
            Ok((run, _)) => return run,
            Err(e) if e.is_transient() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("start a run: {e}"),
        }
    }
}
