//! Waiting runs signalled while processes die: production releases wait for
//! their approval; each is approved over the broker (the `ApproveRelease`
//! event with the run as its correlation id, as any program would send it,
//! and the same message twice) while service processes are SIGKILLed, so
//! the signal endpoint and the deployments after it lose their processes
//! mid-way. Every run must end `Succeeded`, its approval completed once by
//! its signal, and nothing done twice.

use std::time::{Duration, Instant};

use isoqube::transport::{AmqpConfig, AmqpTransport, OutgoingMessage};
use isoqube::{Event, StepStatus, Transport};
use sample_build_server::events::ApproveRelease;
use serde_json::json;
use uuid::Uuid;

use crate::checks::wait_all;
use crate::deployment::{Deployment, StoreKind};
use crate::fleet::{Fleet, SERVICES};
use crate::rng::Rng;
use crate::Plan;

pub async fn waits(label: &str, store: StoreKind, plan: &Plan) {
    let started = Instant::now();
    let mut rng = Rng::new(plan.seed ^ 0x5157);
    let broker = isoqube::testing::OwnBroker::start();
    let deployment = Deployment::on_broker(store, broker.url());
    let mut fleet = Fleet::start(&deployment);
    let control = deployment.control().await;
    crate::deployment::wait_registered(&control, &deployment, SERVICES.len()).await;
    fleet.wait_ready(Duration::from_secs(60)).await;
    let sender = AmqpTransport::connect(AmqpConfig {
        url: broker.url(),
        prefix: deployment.prefix.clone(),
        ..Default::default()
    })
    .await
    .expect("a connection to send approvals");
    let n = (plan.runs / 3).max(3);
    let vars = isoqube::context::vars_from(json!({"work_ms": plan.work_ms}));
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let start = isoqube::StartRun::new("production-release")
            .vars(vars.clone())
            .started_by("chaos");
        ids.push(control.start(start).await.expect("start a release").id);
    }
    let mut approved = Vec::new();
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(180);
    while approved.len() < ids.len() && Instant::now() < deadline {
        for id in &ids {
            if approved.contains(id) {
                continue;
            }
            let run = control.get_run(*id).await.expect("a run");
            let waits = run.steps.iter().any(|s| s.status == StepStatus::Waiting);
            if waits {
                approve_twice(&sender, *id).await;
                approved.push(*id);
                // a kill right after some approvals: the signal endpoint
                // or a deployment may lose its process mid-way
                if rng.below(2) == 0 && kills < plan.kills {
                    let (service, pid) = fleet.kill_and_restart(rng.below(SERVICES.len()));
                    kills += 1;
                    println!("chaos[{label}]: kill {kills}: {service} (pid {pid})");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let diagnose = || format!("{}{}", deployment.logs_of(), fleet.endpoints());
    let runs = wait_all(&control, &ids, Duration::from_secs(240), &diagnose).await;
    for run in &runs {
        assert_eq!(
            run.status,
            isoqube::RunStatus::Succeeded,
            "{:#?}",
            run.steps
        );
        let approval = run
            .steps
            .iter()
            .find(|s| s.event == ApproveRelease::NAME)
            .expect("an approval step");
        assert!(
            approval.handled_by.as_deref() == Some("signal@broker"),
            "{approval:#?}"
        );
        assert!(approval.wait.as_ref().is_some_and(|w| w.signal.is_some()));
        for step in run.steps.iter().filter(|s| s.wait.is_none()) {
            let finished = step
                .handlers
                .iter()
                .filter(|h| h.status == StepStatus::Succeeded)
                .count();
            assert!(
                finished >= 1,
                "run {} step {}: {step:#?}",
                run.id,
                step.event
            );
        }
    }
    println!(
        "chaos[{label}]: {} releases approved over the broker (each approval sent twice), {kills} kills: 0 lost, 0 stuck, every approval completed once; {:.0} s",
        runs.len(),
        started.elapsed().as_secs_f64()
    );
    fleet.stop();
    drop(broker);
}

/// The approval of run `id` as a MassTransit peer publishes it, sent twice
/// under one message id (a publisher that retried after a lost confirm).
async fn approve_twice(sender: &AmqpTransport, id: Uuid) {
    let message_id = Uuid::new_v4();
    let body = json!({
        "messageId": message_id,
        "correlationId": id,
        "messageType": [ApproveRelease::info().message_type()],
        "message": {"approvedBy": "chaos"},
    });
    for _ in 0..2 {
        let msg = OutgoingMessage {
            body: serde_json::to_vec(&body).expect("json"),
            message_id: message_id.to_string(),
            correlation_id: Some(id.to_string()),
            headers: Default::default(),
            properties: Default::default(),
        };
        sender
            .publish(&ApproveRelease::info().exchange_name(), msg)
            .await
            .expect("the approval is taken by a signal endpoint");
    }
}
