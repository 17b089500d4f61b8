//! The store going away under a running API: a 503 that names it in one
//! line, through a TCP forwarder that can be cut.

use super::*;

/// A TCP forwarder to the MongoDB-wire test server that can be cut: then new
/// connections are refused and open ones closed, as when the server goes away.
pub(super) struct CutProxy {
    pub(super) port: u16,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl CutProxy {
    pub(super) async fn to(upstream: String) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let spawned = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                spawned.lock().expect("tasks").push(conn);
            }
        });
        tasks.lock().expect("tasks").push(accept);
        CutProxy { port, tasks }
    }

    pub(super) fn cut(&self) {
        for t in self.tasks.lock().expect("tasks").drain(..) {
            t.abort();
        }
    }
}

/// The API over the MongoDB test server through a [`CutProxy`], the store
/// waiting `wait` for a server before it gives up.
pub(super) async fn behind_proxy(wait: Duration) -> (Env, CutProxy) {
    let upstream = isoqube::redact::url_hosts(&mongo_url());
    let proxy = CutProxy::to(upstream).await;
    let url = format!("mongodb://127.0.0.1:{}/?directConnection=true", proxy.port);
    let db = format!(
        "isoqube_api_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let opts = isoqube::store::mongo::MongoOptions {
        server_selection_timeout: wait,
        ..Default::default()
    };
    let store: Arc<dyn RunStore> = Arc::new(
        MongoStore::connect_with(&url, &db, opts)
            .await
            .unwrap_or_else(|e| panic!("MongoDB test server unreachable: {e}")),
    );
    let transport: Arc<dyn Transport> = Arc::new(InProcessTransport::new());
    let env = Env::start(
        store,
        StoreAt::Mongo { url, db },
        transport.clone(),
        transport,
        BODY_LIMIT,
    )
    .await;
    (env, proxy)
}

/// The store goes away under a running API: its 503 says in one line which
/// store (by address, no driver dump) does not answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_store_is_one_line_on_mongodb() {
    let (env, proxy) = behind_proxy(Duration::from_secs(1)).await;
    assert_eq!(env.get("/api/v1/runs").await.status, 200);
    proxy.cut();
    for path in ["/api/v1/runs", "/api/v1/definitions"] {
        let r = env.get(path).await;
        let message = r.error();
        assert_eq!(r.status, 503, "{message}");
        let want = format!("MongoDB at 127.0.0.1:{} is unreachable", proxy.port);
        assert!(message.contains(&want), "{want:?} in {message}");
        assert!(!message.contains("Topology"), "{message}");
        assert_eq!(message.lines().count(), 1, "{message}");
    }
    env.stop().await;
}
