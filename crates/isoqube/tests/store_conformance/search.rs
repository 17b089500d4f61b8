//! Finding runs: by the start of their id, and searched by id prefix,
//! variable value and log text with status and definition, paged without
//! skipping or repeating a run.

use chrono::Utc;
use isoqube::{model::LogRecord, Run, RunFilter, RunStatus};
use serde_json::json;
use uuid::Uuid;

use super::fixture::*;

/// Runs found by the start of their id: sorted, at most the limit, none for
/// what no id can start with (nor for pattern characters).
pub async fn run_ids_by_prefix(f: Fixture) {
    let s = &f.store;
    let ids: Vec<Uuid> = [
        "abc10000-0000-4000-8000-000000000001",
        "abc10000-0000-4000-8000-000000000002",
        "abc20000-0000-4000-8000-000000000003",
    ]
    .iter()
    .map(|t| Uuid::parse_str(t).unwrap())
    .collect();
    for id in ids.iter().rev() {
        let mut run = new_run("prefixed");
        run.id = *id;
        s.insert_run(&run).await.unwrap();
    }
    assert_eq!(s.run_ids_with_prefix("abc1", 10).await.unwrap(), ids[..2]);
    assert_eq!(
        s.run_ids_with_prefix("abc10000-0000-4000-8000-000000000002", 10)
            .await
            .unwrap(),
        ids[1..2]
    );
    assert_eq!(s.run_ids_with_prefix("abc", 2).await.unwrap(), ids[..2]);
    assert_eq!(s.run_ids_with_prefix("abc", 10).await.unwrap(), ids);
    for nothing in ["abd", "ABC", "%", "_bc", ".*", "^a"] {
        assert_eq!(
            s.run_ids_with_prefix(nothing, 10).await.unwrap(),
            Vec::<Uuid>::new(),
            "{nothing}"
        );
    }
}

/// Runs searched by id prefix, variable value and log text, alone, together
/// and with status and definition, and paged one by one through a filter: the
/// same runs on every store, none skipped or repeated.
pub async fn runs_search(f: Fixture) {
    let s = &f.store;
    let mk = |id: &str, def: &str, v: serde_json::Value| {
        let mut run = Run::new(&def3(def), vars(v), "test");
        run.id = Uuid::parse_str(id).unwrap();
        run.variables = run.params.clone();
        run
    };
    let runs = [
        mk(
            "5ea10000-0000-4000-8000-000000000001",
            "alpha",
            json!({"who": "ann", "v": "1.10", "n": 2}),
        ),
        mk(
            "5ea10000-0000-4000-8000-000000000002",
            "alpha",
            json!({"who": "bob", "v": 1.5, "tags": ["x"]}),
        ),
        mk(
            "5ea20000-0000-4000-8000-000000000003",
            "beta",
            json!({"who": "ann", "ok": true, "o": {"a": 1}}),
        ),
        mk(
            "5ea30000-0000-4000-8000-000000000004",
            "beta",
            json!({"who.dot": "z", "n": "2"}),
        ),
    ];
    for r in &runs {
        s.insert_run(r).await.unwrap();
    }
    s.cancel_run(runs[2].id).await.unwrap();
    let log = |run: Uuid, message: &str| LogRecord {
        run_id: run,
        step: Some(0),
        event: Some("A".into()),
        level: "INFO".into(),
        message: message.into(),
        service: "svc".into(),
        host: "h".into(),
        timestamp: Utc::now(),
    };
    s.append_logs(&[
        log(runs[0].id, "Uploaded artefact to S3 (bucket=Blue)"),
        log(runs[1].id, "nothing to see"),
        log(runs[3].id, "retrying: connection reset [50%]"),
    ])
    .await
    .unwrap();
    let find = |f: RunFilter| {
        let s = s.clone();
        async move {
            let mut ids: Vec<Uuid> = s
                .list_runs(&f)
                .await
                .unwrap()
                .runs
                .iter()
                .map(|r| r.id)
                .collect();
            ids.sort();
            ids
        }
    };
    let ids = |ix: &[usize]| ix.iter().map(|&i| runs[i].id).collect::<Vec<_>>();
    let var = |k: &str, v: &str| RunFilter {
        variables: vec![(k.into(), v.into())],
        ..RunFilter::default()
    };
    let prefix = |p: &str| RunFilter {
        id_prefix: Some(p.into()),
        ..RunFilter::default()
    };
    let text = |t: &str| RunFilter {
        log_text: Some(t.into()),
        ..RunFilter::default()
    };
    assert_eq!(find(prefix("5ea1")).await, ids(&[0, 1]));
    assert_eq!(find(prefix("5EA2")).await, ids(&[2]), "any case");
    assert_eq!(
        find(prefix("5ea10000-0000-4000-8000-000000000002")).await,
        ids(&[1])
    );
    for nothing in ["5eb", "%", "_ea", ".*", "^5"] {
        assert_eq!(find(prefix(nothing)).await, ids(&[]), "{nothing}");
    }
    assert_eq!(find(var("who", "ann")).await, ids(&[0, 2]));
    assert_eq!(find(var("who", "an")).await, ids(&[]), "whole values only");
    assert_eq!(
        find(var("v", "1.10")).await,
        ids(&[0]),
        "1.10 finds \"1.10\""
    );
    assert_eq!(find(var("v", "1.5")).await, ids(&[1]));
    assert_eq!(
        find(var("n", "2")).await,
        ids(&[0, 3]),
        "2 finds 2 and \"2\""
    );
    assert_eq!(
        find(var("n", "\"2\"")).await,
        ids(&[3]),
        "\"2\" (JSON) finds the string only"
    );
    assert_eq!(find(var("ok", "true")).await, ids(&[2]));
    assert_eq!(find(var("o", r#"{"a": 1}"#)).await, ids(&[2]));
    assert_eq!(
        find(var("tags", "x")).await,
        ids(&[]),
        "no array element match"
    );
    assert_eq!(
        find(var("who.dot", "z")).await,
        ids(&[3]),
        "a name with a dot"
    );
    assert_eq!(find(var("nobody", "ann")).await, ids(&[]));
    assert_eq!(
        find(text("s3 (BUCKET=blue)")).await,
        ids(&[0]),
        "any case, literal"
    );
    assert_eq!(find(text("[50%]")).await, ids(&[3]));
    assert_eq!(find(text(".*")).await, ids(&[]), "not a pattern");
    assert_eq!(find(text("o")).await, ids(&[0, 1, 3]));
    let both = RunFilter {
        definition: Some("alpha".into()),
        log_text: Some("o".into()),
        variables: vec![("who".into(), "bob".into())],
        ..RunFilter::default()
    };
    assert_eq!(find(both).await, ids(&[1]));
    let cancelled = RunFilter {
        status: Some(RunStatus::Cancelled),
        variables: vec![("who".into(), "ann".into())],
        ..RunFilter::default()
    };
    assert_eq!(find(cancelled).await, ids(&[2]));
    // Paged one by one through a filter: every match once, in list order.
    let one = RunFilter {
        limit: 1,
        ..var("who", "ann")
    };
    let (mut seen, mut filter) = (Vec::new(), one.clone());
    for _ in 0..10 {
        let page = s.list_runs(&filter).await.unwrap();
        seen.extend(page.runs.iter().map(|r| r.id));
        match page.next {
            Some(next) => filter = one.at(&next),
            None => break,
        }
    }
    assert_eq!(
        seen,
        vec![runs[2].id, runs[0].id],
        "newest first, none twice"
    );
}

/// `status:waiting` ([`RunFilter::waiting`]): the pending and running runs
/// with a step waiting for a signal, alone or with other statuses (either
/// holds) and the search's other words; the same runs as the model keeps,
/// a page full of them.
pub async fn runs_waiting(f: Fixture) {
    use isoqube::{model::WaitDef, Definition, StepDef, StepStatus};
    let s = &f.store;
    let wait = || {
        StepDef::new("Approval").waiting(WaitDef {
            correlate: None,
            timeout: None,
        })
    };
    let waits_first = Definition::new("gate", [wait(), StepDef::new("B")]);
    let waits_later = Definition::new("gate", [StepDef::new("A"), wait()]);
    let mut runs = [
        Run::new(&waits_first, vars(json!({"who": "ann"})), "test"),
        Run::new(&waits_first, vars(json!({"who": "bob"})), "test"),
        Run::new(&waits_later, vars(json!({"who": "ann"})), "test"),
        new_run("plain"),
        Run::new(&waits_first, vars(json!({"who": "cy"})), "test"),
    ];
    runs[1].status = RunStatus::Running;
    for (i, r) in runs.iter().enumerate() {
        let waits = r.steps.iter().any(|s| s.status == StepStatus::Waiting);
        assert_eq!(waits, ![2, 3].contains(&i), "the fixture: run {i}");
        s.insert_run(r).await.unwrap();
    }
    s.cancel_run(runs[4].id).await.unwrap();
    runs[4] = s.get_run(runs[4].id).await.unwrap().unwrap();
    let find = |f: RunFilter| {
        let s = s.clone();
        async move {
            let mut ids: Vec<Uuid> = s
                .list_runs(&f)
                .await
                .unwrap()
                .runs
                .iter()
                .map(|r| r.id)
                .collect();
            ids.sort();
            ids
        }
    };
    let ids = |ix: &[usize]| {
        let mut v: Vec<Uuid> = ix.iter().map(|&i| runs[i].id).collect();
        v.sort();
        v
    };
    let query = |q: &str| RunFilter::default().with_query(q).unwrap();
    let waiting = query("status:waiting");
    assert!(waiting.waiting);
    assert_eq!(find(waiting.clone()).await, ids(&[0, 1]));
    for (i, r) in runs.iter().enumerate() {
        assert_eq!(
            waiting.matches(r),
            [0, 1].contains(&i),
            "the model: run {i}"
        );
    }
    assert_eq!(
        find(query("status:waiting,cancelled")).await,
        ids(&[0, 1, 4]),
        "either"
    );
    assert_eq!(find(query("status:waiting who=ann")).await, ids(&[0]));
    assert_eq!(find(query("s:Waiting def:plain")).await, ids(&[]));
    // A page of one holds a waiting run: the store found it, not only kept it.
    let one = RunFilter {
        limit: 1,
        ..waiting.clone()
    };
    let page = s.list_runs(&one).await.unwrap();
    assert_eq!(page.runs.len(), 1, "{page:?}");
    assert!(page.runs[0].is_waiting());
}
