//! The pairs the API is served on: the test's events and consumers, and
//! [`Env`], the API on a free port over a store and a transport with the
//! consumers running on the same pair.

use super::*;

/// First test step.
#[event]
#[derive(Serialize, Deserialize)]
pub struct ApiPrepare {}

/// Second test step.
#[event]
#[derive(Serialize, Deserialize)]
pub struct ApiShip {}

pub(crate) fn seen() -> &'static Mutex<HashSet<String>> {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    SEEN.get_or_init(Default::default)
}

/// Knobs from the run variables: `sleep_ms`; `fail` (every attempt fails);
/// `fail_first` (the first attempt of each run fails, a resume succeeds);
/// `fail_on` (an endpoint whose every attempt fails).
pub(crate) async fn behave(ctx: &StepContext) -> anyhow::Result<()> {
    if ctx.var_opt::<String>("fail_on").as_deref() == Some(ctx.endpoint()) {
        anyhow::bail!("{} fails on purpose", ctx.endpoint());
    }
    if let Some(ms) = ctx.var_opt::<u64>("sleep_ms") {
        tokio::time::sleep(Duration::from_millis(ms.min(10_000))).await;
    }
    if ctx.var_opt::<bool>("fail") == Some(true) {
        anyhow::bail!("failing on purpose");
    }
    if ctx.var_opt::<bool>("fail_first") == Some(true) {
        let key = format!("{:?}", ctx.run_id());
        let first = seen().lock().map(|mut s| s.insert(key)).unwrap_or(false);
        if first {
            anyhow::bail!("first attempt fails on purpose");
        }
    }
    Ok(())
}

#[consumer(service = "api-test")]
async fn api_prepare(_ev: ApiPrepare, ctx: StepContext) -> anyhow::Result<()> {
    behave(&ctx).await
}

#[consumer(service = "api-test")]
async fn api_ship(_ev: ApiShip, ctx: StepContext) -> anyhow::Result<()> {
    behave(&ctx).await
}

pub(crate) const TOKEN: &str = "test-token-0123456789";
pub(crate) const HOOK_SECRET: &str = "hook-secret-abcdefghij";
/// Small, so a too-large body is still read whole by the server (no reset).
pub(crate) const BODY_LIMIT: usize = 4096;

// ------------------------------------------------------------------ the pairs

/// The API served on a free port over a store and a transport, with the test
/// consumers running on the same pair.
pub(crate) struct Env {
    pub(crate) addr: SocketAddr,
    /// The store, for records written by hand.
    pub(crate) store: Arc<dyn RunStore>,
    /// Where it is, to write past it.
    pub(crate) at: StoreAt,
    pub(crate) service: Option<Service>,
    pub(crate) stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub(crate) server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Env {
    pub(crate) async fn embedded(body_limit: usize) -> Env {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let path = std::env::temp_dir()
            .join("isoqube-api-tests")
            .join(format!("{id}.db"));
        let store: Arc<dyn RunStore> = Arc::new(SqliteStore::open(&path).await.expect("store"));
        let transport: Arc<dyn Transport> = Arc::new(InProcessTransport::new());
        Env::start(
            store,
            StoreAt::Sqlite(path),
            transport.clone(),
            transport,
            body_limit,
        )
        .await
    }

    pub(crate) async fn real(body_limit: usize) -> Env {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("api-{}.", &id[..8]);
        let db = format!("isoqube_api_{}", &id[..12]);
        let at = StoreAt::Mongo {
            url: mongo_url(),
            db: db.clone(),
        };
        let store: Arc<dyn RunStore> = Arc::new(
            MongoStore::connect(&mongo_url(), &db)
                .await
                .unwrap_or_else(|e| panic!("MongoDB test server unreachable: {e}")),
        );
        let connect = || async {
            AmqpTransport::connect(AmqpConfig {
                url: amqp_url(),
                prefix: prefix.clone(),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("RabbitMQ must be reachable for these tests: {e}"))
        };
        // The control center has its own connection, as a separate process would.
        let service_transport: Arc<dyn Transport> = Arc::new(connect().await);
        let op_transport: Arc<dyn Transport> = Arc::new(connect().await);
        Env::start(store, at, service_transport, op_transport, body_limit).await
    }

    pub(crate) async fn start(
        store: Arc<dyn RunStore>,
        at: StoreAt,
        service_transport: Arc<dyn Transport>,
        op_transport: Arc<dyn Transport>,
        body_limit: usize,
    ) -> Env {
        let service = Service::builder("api-test")
            .transport_arc(service_transport)
            .store_arc(store.clone())
            .services(["api-test"])
            .start()
            .await
            .expect("service");
        let op = Operator::new(store.clone(), op_transport).expect("operator");
        let settings = ApiSettings::new(TOKEN)
            .expect("settings")
            .with_max_body_bytes(body_limit);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(api::serve_on(listener, op, settings, async move {
            let _ = stopped.await;
        }));
        Env {
            addr,
            store,
            at,
            service: Some(service),
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let served = tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("the server stops")
                .expect("server task");
            served.expect("server ends cleanly");
        }
        if let Some(s) = self.service.take() {
            s.shutdown().await.expect("shutdown");
        }
    }

    /// A request with the bearer token (and a JSON body when given).
    pub(crate) async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let auth = format!("Bearer {TOKEN}");
        let body = body.map(|b| b.to_string());
        let mut headers = vec![("Authorization", auth.as_str())];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        http(
            self.addr,
            method,
            path,
            &headers,
            body.as_deref().map(str::as_bytes),
        )
        .await
    }

    pub(crate) async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Resp {
        self.call("POST", path, Some(body)).await
    }

    /// A raw body with the token and a JSON content type.
    pub(crate) async fn post_raw(&self, path: &str, body: &[u8]) -> Resp {
        let auth = format!("Bearer {TOKEN}");
        http(
            self.addr,
            "POST",
            path,
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/json"),
            ],
            Some(body),
        )
        .await
    }

    /// Polls the status endpoint until the run is finished; returns (code, run).
    pub(crate) async fn wait(&self, id: &str) -> (u16, Value) {
        for _ in 0..600 {
            let r = self.get(&format!("/api/v1/runs/{id}/status")).await;
            if r.status != 202 {
                return (r.status, r.json());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("run {id} did not finish within 30 s");
    }

    /// This environment with the `flow` definition created.
    pub(crate) async fn with_flow(self) -> Env {
        let r = self.post("/api/v1/definitions", &flow_def()).await;
        assert_eq!(r.status, 201, "{}", r.text());
        self
    }

    pub(crate) async fn start_run(&self, definition: &str, vars: Value) -> String {
        let r = self
            .post(
                "/api/v1/runs",
                &json!({ "definition": definition, "variables": vars }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text());
        let id = r.json()["id"].as_str().expect("run id").to_string();
        assert_eq!(r.header("location"), Some(format!("/api/v1/runs/{id}")));
        id
    }
}
