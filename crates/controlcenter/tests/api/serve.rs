//! The `controlcenter serve` subcommand as a process.

use super::*;

/// `controlcenter serve` (embedded store, no broker): health without a token,
/// a refused call logged without the token, the scheduler running, and exit 0
/// on SIGTERM; without a token it refuses to start (exit 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_subcommand_serves_until_sigterm() {
    let dir = std::env::temp_dir().join("isoqube-api-tests");
    let path = dir.join(format!("serve-{}.db", uuid::Uuid::new_v4().simple()));
    let store = SqliteStore::open(&path).await.expect("store");
    store
        .create_definition(&isoqube::Definition::new("d", ["ApiPrepare"]))
        .await
        .expect("definition");
    drop(store);
    let cmd = |token: Option<&str>, listen: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_controlcenter"));
        for var in [
            "ISOQUBE_AMQP_URL",
            "ISOQUBE_MONGO_URL",
            "ISOQUBE_API_TOKEN",
            "ISOQUBE_CONFIG",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("ISOQUBE_LOG", "info")
            .arg("--store")
            .arg(&path)
            .args(["serve", "--listen", listen]);
        if let Some(t) = token {
            cmd.env("ISOQUBE_API_TOKEN", t);
        }
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    };

    let out = cmd(None, "127.0.0.1:0").output().expect("run serve");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a bearer token"));

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let child = cmd(Some(TOKEN), &addr.to_string())
        .spawn()
        .expect("start serve");
    let pid = child.id();
    let mut up = false;
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "serve listens on {addr}");
    let r = http(addr, "GET", "/health", &[], None).await;
    assert_eq!(r.status, 200);
    // No broker: not ready.
    let r = http(addr, "GET", "/health/ready", &[], None).await;
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["transport"], "not connected");
    let wrong = "Bearer not-the-token-but-close";
    let r = http(
        addr,
        "GET",
        "/api/v1/runs",
        &[("Authorization", wrong)],
        None,
    )
    .await;
    r.expect_error(401, "wrong bearer token");
    let auth = format!("Bearer {TOKEN}");
    let r = http(
        addr,
        "GET",
        "/api/v1/runs",
        &[("Authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Without a broker runs cannot start: 503, nothing written.
    let r = http(
        addr,
        "POST",
        "/api/v1/runs",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        Some(br#"{"definition": "d"}"#),
    )
    .await;
    r.expect_error(503, "no broker");
    let r = http(
        addr,
        "GET",
        "/api/v1/runs",
        &[("Authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(r.json()["runs"], json!([]));
    answers_are_documented(addr);

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{logs}");
    assert!(
        logs.contains("API request refused: wrong bearer token"),
        "{logs}"
    );
    assert!(
        !logs.contains("not-the-token"),
        "the token is not logged: {logs}"
    );
    assert!(!logs.contains(TOKEN), "the token is not logged: {logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}
