//! Definitions and runs written and read back whole: create, update, list
//! and delete definitions; insert, get and list runs; graph definitions and
//! runs in every earlier shape; priorities added to records stored before them.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use isoqube::model::{ClaimOutcome, CompleteOutcome};
use isoqube::{Definition, Error, Run, RunFilter, RunPage, RunStatus, StepKey, Variables};
use serde_json::json;
use uuid::Uuid;

use super::fixture::*;

pub async fn definitions_crud(f: Fixture) {
    let s = f.store;
    assert!(s.list_definitions().await.unwrap().is_empty());
    assert!(s.get_definition("nightly").await.unwrap().is_none());
    let nightly = def3("nightly");
    s.create_definition(&nightly).await.unwrap();
    s.create_definition(&Definition::new("alpha", ["A"]))
        .await
        .unwrap();
    match s.create_definition(&def3("nightly")).await {
        Err(Error::Conflict { kind, name }) => {
            assert_eq!((kind, name.as_str()), ("definition", "nightly"))
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        s.get_definition("nightly").await.unwrap(),
        Some(nightly.clone())
    );
    let mut changed = nightly.clone().with_description("changed");
    changed.steps.push("D".into());
    s.update_definition(&changed).await.unwrap();
    assert_eq!(s.get_definition("nightly").await.unwrap(), Some(changed));
    match s.update_definition(&Definition::new("ghost", ["A"])).await {
        Err(Error::NotFound { kind, name }) => {
            assert_eq!((kind, name.as_str()), ("definition", "ghost"))
        }
        other => panic!("expected not found, got {other:?}"),
    }
    let names: Vec<_> = s
        .list_definitions()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["alpha", "nightly"]);
    assert!(s.delete_definition("alpha").await.unwrap());
    assert!(!s.delete_definition("alpha").await.unwrap());
    assert!(s.get_definition("alpha").await.unwrap().is_none());
    assert_eq!(s.list_definitions().await.unwrap().len(), 1);
}

// ---------------------------------------------------------------- runs

pub async fn runs_insert_get_list(f: Fixture) {
    let s = f.store;
    let base = Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap();
    let mut runs = Vec::new();
    for i in 0..6u32 {
        let mut run = new_run(if i % 2 == 0 { "even" } else { "odd" });
        // Sub-millisecond spacing: ordering must not depend on millisecond clocks.
        run.created_at = base
            + chrono::Duration::microseconds(i64::from(i) * 7 + 1)
            + chrono::Duration::nanoseconds(123);
        run.modified_at = run.created_at;
        s.insert_run(&run).await.unwrap();
        runs.push(run);
    }
    // Round trip keeps every field.
    for r in &runs {
        assert_eq!(s.get_run(r.id).await.unwrap().as_ref(), Some(r));
    }
    assert!(s.get_run(Uuid::new_v4()).await.unwrap().is_none());
    match s.insert_run(&runs[0]).await {
        Err(Error::Conflict { kind: "run", .. }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    let ids = |p: RunPage| {
        assert!(
            p.corrupt.is_empty(),
            "no corrupt record here: {:?}",
            p.corrupt
        );
        p.runs.into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    let newest_first: Vec<Uuid> = runs.iter().rev().map(|r| r.id).collect();
    assert_eq!(
        ids(s.list_runs(&RunFilter::default()).await.unwrap()),
        newest_first
    );
    // Paging with `before`.
    let page1 = s
        .list_runs(&RunFilter {
            limit: 4,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page1.runs.len(), 4);
    assert!(page1.next.is_some(), "a full page has a cursor");
    let before = page1.runs.last().map(|r| r.created_at);
    let page2 = s
        .list_runs(&RunFilter {
            limit: 4,
            before,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut all = ids(page1);
    all.extend(ids(page2));
    assert_eq!(all, newest_first);
    // Runs created in the same instant: paging by (time, id) neither skips nor
    // repeats them, whatever the page size.
    let same = base - chrono::Duration::seconds(1);
    let mut twins = Vec::new();
    for _ in 0..5 {
        let mut run = new_run("twins");
        run.created_at = same;
        run.modified_at = same;
        s.insert_run(&run).await.unwrap();
        twins.push(run.id);
    }
    twins.sort_by_key(|id| std::cmp::Reverse(id.to_string()));
    for limit in [1, 2, 3] {
        let mut filter = RunFilter {
            definition: Some("twins".into()),
            limit,
            ..Default::default()
        };
        let (mut seen, mut by_cursor) = (Vec::new(), Vec::new());
        let mut cursor_filter = filter.clone();
        loop {
            let page = s.list_runs(&filter).await.unwrap();
            assert!(page.runs.len() <= limit);
            let Some(last) = page.runs.last() else { break };
            filter = filter.after(last);
            seen.extend(ids(page));
        }
        assert_eq!(seen, twins, "page size {limit}");
        // The same through the page's own cursor, which is `None` on the last page.
        loop {
            let page = s.list_runs(&cursor_filter).await.unwrap();
            let next = page.next;
            assert_eq!(
                next.is_some(),
                page.runs.len() == limit,
                "page size {limit}"
            );
            by_cursor.extend(ids(page));
            match next {
                Some(c) => cursor_filter = cursor_filter.at(&c),
                None => break,
            }
        }
        assert_eq!(by_cursor, twins, "page size {limit}, by cursor");
    }
    // `before` alone keeps its meaning: strictly earlier than that time.
    let earlier = s
        .list_runs(&RunFilter {
            before: Some(same + chrono::Duration::microseconds(1)),
            definition: Some("twins".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(earlier), twins);
    let none = s
        .list_runs(&RunFilter {
            before: Some(same),
            definition: Some("twins".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.runs.is_empty() && none.next.is_none());
    // Status and definition filters.
    for run in [&runs[1], &runs[4]] {
        let first = run.start_steps().remove(0);
        s.fail_unpublished(run.id, &first, "stopped").await.unwrap();
    }
    let failed = s
        .list_runs(&RunFilter {
            status: Some(RunStatus::Failed),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(failed), [runs[4].id, runs[1].id]);
    let pending = s
        .list_runs(&RunFilter {
            status: Some(RunStatus::Pending),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(pending), [runs[5].id, runs[3].id]);
    let odd = s
        .list_runs(&RunFilter {
            definition: Some("odd".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(odd), [runs[5].id, runs[3].id, runs[1].id]);
    let odd_failed = s
        .list_runs(&RunFilter {
            definition: Some("odd".into()),
            status: Some(RunStatus::Failed),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(odd_failed), [runs[1].id]);
}

/// Graph definitions and runs are kept whole; a plain definition is stored in
/// the shape of every earlier version (a list of event names), and a run
/// stored without `after` (every run before graphs) is a chain.
pub async fn graph_records_round_trip(f: Fixture) {
    let s = f.store.clone();
    let mut def = diamond_def(&format!("diamond-{}", Uuid::new_v4().simple()));
    def.steps[1].optional = true;
    def.steps[2].timeout = Some(Duration::from_millis(1500));
    def.steps[3].name = Some("ship".into());
    s.create_definition(&def).await.unwrap();
    let got = s.get_definition(&def.name).await.unwrap().unwrap();
    assert_eq!(got.steps, def.steps);
    let run = Run::new(&got, Variables::new(), "test");
    assert_eq!(run.steps[3].after, Some(vec![1, 2]));
    s.insert_run(&run).await.unwrap();
    assert_eq!(s.get_run(run.id).await.unwrap().unwrap().steps, run.steps);
    let plain = Definition::new(format!("plain-{}", Uuid::new_v4().simple()), ["A", "B"]);
    assert_eq!(
        serde_json::to_value(&plain.steps).unwrap(),
        json!(["A", "B"]),
        "the shape of earlier versions"
    );
    s.create_definition(&plain).await.unwrap();
    let chain = Run::new(&plain, Variables::new(), "test");
    assert!(chain.steps.iter().all(|st| st.after.is_none()));
    s.insert_run(&chain).await.unwrap();
    let stored = s.get_run(chain.id).await.unwrap().unwrap();
    assert_eq!(stored.steps[1].deps(), vec![0]);
}

/// Definitions and runs stored before priorities (no `priority` field)
/// load at priority 0 and run on; a priority is kept through the store.
pub async fn priority_is_additive(f: Fixture) {
    let s = f.store.clone();
    let def =
        Definition::new(format!("prio-{}", Uuid::new_v4().simple()), ["A", "B"]).with_priority(6);
    s.create_definition(&def).await.unwrap();
    let run = Run::new(&def, Variables::new(), "test");
    assert_eq!(run.priority, 6);
    s.insert_run(&run).await.unwrap();
    let reader = f.handle(1);
    assert_eq!(
        reader
            .get_definition(&def.name)
            .await
            .unwrap()
            .unwrap()
            .priority,
        6
    );
    assert_eq!(reader.get_run(run.id).await.unwrap().unwrap().priority, 6);

    // Today's documents, as every earlier version wrote them.
    let old_def = Definition::new(format!("old-{}", Uuid::new_v4().simple()), ["A", "B"]);
    s.create_definition(&old_def).await.unwrap();
    let old_run = Run::new(&old_def, Variables::new(), "test");
    s.insert_run(&old_run).await.unwrap();
    (f.unset_field)("definitions", old_def.name.clone(), "priority").await;
    (f.unset_field)("runs", old_run.id.to_string(), "priority").await;
    let reader = f.handle(2);
    let got = reader.get_definition(&old_def.name).await.unwrap().unwrap();
    assert_eq!((got.priority, got.steps.len()), (0, 2));
    let got = reader.get_run(old_run.id).await.unwrap().unwrap();
    assert_eq!((got.priority, got.steps.len()), (0, 2));
    // ... and it runs on: step 1 completes and step 2 is next.
    let key = StepKey::new(old_run.id, 0, "a", "h");
    assert!(matches!(
        reader.claim_step(&key, false).await.unwrap(),
        ClaimOutcome::Claimed { .. }
    ));
    match reader
        .complete_step(&key, Variables::new(), 1)
        .await
        .unwrap()
    {
        CompleteOutcome::Advanced { next } => assert_eq!(next[0].index, 1),
        other => panic!("expected Advanced, got {other:?}"),
    }
    let listed = reader
        .list_runs(&isoqube::RunFilter {
            definition: Some(old_def.name.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.runs.len(), 1);
    assert!(listed.corrupt.is_empty());
    assert_eq!(listed.runs[0].priority, 0);
}
