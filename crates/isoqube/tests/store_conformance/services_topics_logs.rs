//! The records beside the runs: services and their heartbeats, topics and
//! their consumers, and a run's log lines.

use chrono::{TimeZone, Utc};
use isoqube::{Error, LogRecord, ServiceRecord, TopicRecord};
use uuid::Uuid;

use super::fixture::*;

pub(crate) fn service(id: &str, consumers: &[&str]) -> ServiceRecord {
    let t = Utc.with_ymd_and_hms(2030, 5, 6, 7, 8, 9).unwrap();
    ServiceRecord {
        id: id.into(),
        name: id.split('@').next().unwrap_or(id).into(),
        host: "h".into(),
        pid: 42,
        events: vec!["A".into()],
        consumers: consumers.iter().map(|c| c.to_string()).collect(),
        transport: "in-process".into(),
        started_at: t,
        last_seen: t,
    }
}

pub async fn services(f: Fixture) {
    let s = f.store;
    assert!(s.list_services().await.unwrap().is_empty());
    let b = service("builder@h:2", &["build"]);
    let a = service("agent@h:1", &["fetch"]);
    s.register_service(&b).await.unwrap();
    s.register_service(&a).await.unwrap();
    assert_eq!(s.list_services().await.unwrap(), vec![a.clone(), b.clone()]);
    let later = Utc::now();
    s.heartbeat(&b.id, later).await.unwrap();
    let listed = s.list_services().await.unwrap();
    assert_eq!(listed[1].last_seen, later);
    assert_eq!(listed[1].consumers, b.consumers);
    assert!(matches!(
        s.heartbeat("ghost@h:9", later).await,
        Err(Error::NotFound {
            kind: "service",
            ..
        })
    ));
    let b2 = service("builder@h:2", &["build", "test"]);
    s.register_service(&b2).await.unwrap();
    assert_eq!(s.list_services().await.unwrap()[1], b2);
    s.remove_service(&a.id).await.unwrap();
    s.remove_service("ghost@h:9").await.unwrap();
    assert_eq!(s.list_services().await.unwrap(), vec![b2]);
}

pub(crate) fn topic(name: &str, consumers: &[&str]) -> TopicRecord {
    TopicRecord {
        name: name.into(),
        description: format!("{name} event"),
        exchange: format!("Suite:{name}"),
        message_type: format!("urn:message:Suite:{name}"),
        schema: vec!["commit: String".into()],
        consumers: consumers.iter().map(|c| c.to_string()).collect(),
        updated_at: Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap(),
    }
}

pub async fn topics(f: Fixture) {
    let s = f.store;
    assert!(s.list_topics().await.unwrap().is_empty());
    s.upsert_topics(&[topic("Build", &["linux"])])
        .await
        .unwrap();
    let mut newer = topic("Build", &["windows", "linux"]);
    newer.description = "builds".into();
    s.upsert_topics(&[newer, topic("Alpha", &["a"])])
        .await
        .unwrap();
    let listed = s.list_topics().await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["Alpha", "Build"]
    );
    assert_eq!(listed[1].consumers, ["linux", "windows"]);
    assert_eq!(listed[1].description, "builds");
    assert_eq!(listed[0], topic("Alpha", &["a"]));
}

pub(crate) fn line(run: Uuid, i: usize) -> LogRecord {
    LogRecord {
        run_id: run,
        step: Some(i % 3),
        event: Some("A".into()),
        level: "INFO".into(),
        message: format!("line {i}"),
        service: "svc".into(),
        host: "h".into(),
        // Deliberately out of time order: the order is the order of appending.
        timestamp: Utc::now() - chrono::Duration::seconds((i % 2) as i64),
    }
}

pub async fn logs(f: Fixture) {
    let s = f.store;
    let (r1, r2) = (Uuid::new_v4(), Uuid::new_v4());
    assert!(s.run_logs(r1, 0).await.unwrap().is_empty());
    s.append_logs(&[]).await.unwrap();
    let batch: Vec<_> = (0..5)
        .map(|i| line(r1, i))
        .chain((0..2).map(|i| line(r2, 100 + i)))
        .collect();
    s.append_logs(&batch).await.unwrap();
    s.append_logs(&[line(r1, 5), line(r1, 6)]).await.unwrap();
    let all = s.run_logs(r1, 0).await.unwrap();
    assert_eq!(
        all.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
        (0..7).map(|i| format!("line {i}")).collect::<Vec<_>>()
    );
    assert_eq!(all[0], batch[0]);
    let tail = s.run_logs(r1, 5).await.unwrap();
    assert_eq!(
        tail.iter().map(|l| l.message.as_str()).collect::<Vec<_>>(),
        ["line 5", "line 6"]
    );
    assert!(s.run_logs(r1, 7).await.unwrap().is_empty());
    assert!(s.run_logs(r1, 100).await.unwrap().is_empty());
    assert_eq!(s.run_logs(r2, 0).await.unwrap().len(), 2);
}
