//! A run document that does not parse, and stuck runs, over the API on both
//! pairs: `GET /runs` skips the corrupt record and names it in `corrupt`
//! (its pages are not cut short by it), `GET /runs/{id}` of it is a 500
//! naming it, and `/metrics` counts the stuck runs when scraped.

use super::*;

async fn corrupt_and_stuck(env: &Env) {
    let corrupt = uuid::Uuid::new_v4();
    env.at.write_corrupt_run(corrupt).await;
    let instance = env
        .service
        .as_ref()
        .map(|s| s.instance_id().to_string())
        .expect("service");
    let runs = records::stuck_runs(
        env.store.as_ref(),
        "flow",
        ["ApiPrepare", "ApiShip"],
        "api-prepare",
        &instance,
    )
    .await;
    let good: HashSet<String> = [&runs.gone, &runs.silent, &runs.live]
        .iter()
        .map(|r| r.id.to_string())
        .collect();

    // One page: the good runs, and the corrupt record named.
    let r = env.get("/api/v1/runs").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.json();
    let listed: HashSet<String> = page["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(listed, good, "{page}");
    assert_eq!(page["corrupt"][0]["id"], corrupt.to_string(), "{page}");
    assert!(
        page["corrupt"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("does not parse")),
        "{page}"
    );
    assert_eq!(page["corrupt"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["next_before"], Value::Null, "{page}");

    // Page by page: the corrupt record has a page of its own, with a cursor,
    // and the end comes after it.
    let (mut seen, mut corrupt_seen, mut pages) = (HashSet::new(), Vec::new(), 0);
    let mut path = "/api/v1/runs?limit=1".to_string();
    loop {
        pages += 1;
        assert!(pages <= 10, "paging ends");
        let page = env.get(&path).await.json();
        for r in page["runs"].as_array().expect("runs") {
            assert!(seen.insert(r["id"].as_str().expect("id").to_string()));
        }
        for c in page["corrupt"].as_array().expect("corrupt") {
            assert_eq!(page["runs"], json!([]), "{page}");
            corrupt_seen.push(c["id"].as_str().expect("id").to_string());
        }
        let (Some(before), Some(id)) = (
            page["next_before"].as_str(),
            page["next_before_id"].as_str(),
        ) else {
            break;
        };
        path = format!("/api/v1/runs?limit=1&before={before}&before_id={id}");
    }
    assert_eq!(seen, good);
    assert_eq!(corrupt_seen, vec![corrupt.to_string()]);
    assert_eq!(pages, 5, "3 runs, the corrupt record, the empty end");

    // Reading it alone: 500 (not 503: retrying will not help), naming it.
    for suffix in ["", "/status"] {
        env.get(&format!("/api/v1/runs/{corrupt}{suffix}"))
            .await
            .expect_error(500, &format!("runs record '{corrupt}' is corrupt"));
    }

    // The metrics count the stuck runs when scraped, without a token.
    let r = http(env.addr, "GET", "/metrics", &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        r.headers
    );
    let text = r.text();
    for line in [
        "# TYPE isoqube_runs_stuck gauge\nisoqube_runs_stuck 2\n",
        "isoqube_runs_stuck_steps 2\n",
        "isoqube_runs_corrupt 1\n",
        "isoqube_runs_stuck_after_seconds 300\n",
        "isoqube_controlcenter_store_up 1\n",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    // A stuck run that is cancelled is no longer stuck.
    let r = env
        .call(
            "POST",
            &format!("/api/v1/runs/{}/cancel", runs.gone.id),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = http(env.addr, "GET", "/metrics", &[], None).await.text();
    assert!(text.contains("isoqube_runs_stuck 1\n"), "{text}");
    answers_are_documented(env.addr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_and_stuck_runs_on_the_embedded_pair() {
    let env = Env::embedded(BODY_LIMIT).await;
    corrupt_and_stuck(&env).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_and_stuck_runs_on_rabbitmq_and_mongodb() {
    let env = Env::real(BODY_LIMIT).await;
    corrupt_and_stuck(&env).await;
    env.stop().await;
}
