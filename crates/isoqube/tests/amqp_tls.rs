//! `amqps://`: the transport speaks TLS, trusts a private CA given as a PEM file
//! (`AmqpConfig::tls_ca_file` / `ISOQUBE_AMQP_TLS_CA_FILE`) and presents a
//! client certificate to a broker that requires one (`tls_cert_file`,
//! `tls_key_file`).
//!
//! The local broker listens in plain AMQP only, so each test puts a TLS
//! terminator in front of it: `socat` with a server certificate that a CA made
//! here with `openssl` signed (both tools must be installed; `scripts/test.sh`
//! installs them when missing). The tests fail, not skip, without them.

mod suite;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use isoqube::transport::{AmqpConfig, AmqpTransport};
use isoqube::Error;
use lapin::uri::AMQPUri;

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, and signed by it a server certificate for `localhost` / 127.0.0.1 and
/// a client certificate.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn make() -> Certs {
        let dir = std::env::temp_dir().join(format!("isoqube-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run(Command::new("openssl")
            .current_dir(&dir)
            .args(["req", "-x509"])
            .args(ec)
            .args(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"])
            .args(["-subj", "/CN=isoqube test CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]));
        let sign = |name: &str, subject: &str, extensions: &str| {
            run(Command::new("openssl")
                .current_dir(&dir)
                .arg("req")
                .args(ec)
                .args([
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                ])
                .args(["-subj", subject]));
            std::fs::write(dir.join(format!("{name}.ext")), extensions).expect("extensions");
            run(Command::new("openssl")
                .current_dir(&dir)
                .args([
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    "ca.pem",
                ])
                .args(["-CAkey", "ca.key", "-CAcreateserial", "-days", "2"])
                .args(["-out", &format!("{name}.pem")])
                .args(["-extfile", &format!("{name}.ext")]));
        };
        sign(
            "server",
            "/CN=localhost",
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        );
        sign(
            "client",
            "/CN=isoqube-service",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=clientAuth\n",
        );
        Certs { dir }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `socat` terminating TLS on a free local port and forwarding to the broker.
struct TlsFront {
    child: Child,
    port: u16,
}

impl TlsFront {
    /// `verify_clients`: refuse clients without a certificate the CA signed.
    fn start(certs: &Certs, broker: SocketAddr, verify_clients: bool) -> TlsFront {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = certs.dir.display();
        let verify = if verify_clients {
            format!("verify=1,cafile={dir}/ca.pem")
        } else {
            "verify=0".to_string()
        };
        let child = Command::new("socat")
            .arg(format!(
                "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,\
                 cert={dir}/server.pem,key={dir}/server.key,{verify}"
            ))
            .arg(format!("TCP:{broker}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start socat (is it installed?): {e}"));
        let front = TlsFront { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "socat did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        front
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The plain broker of the other AMQP tests, and an `amqps://` URL with its
/// credentials and vhost pointing at `front_port` on `localhost`.
fn broker_and_tls_url(front_port: Option<u16>) -> (SocketAddr, String) {
    let plain = AmqpConfig::default().url;
    let uri = AMQPUri::from_str(&plain).expect("the broker URL parses");
    let host = match uri.authority.host.as_str() {
        "localhost" => "127.0.0.1".to_string(),
        h => h.to_string(),
    };
    let broker = format!("{host}:{}", uri.authority.port)
        .parse()
        .expect("the broker address is an IP address and a port");
    let vhost = if uri.vhost == "/" {
        "%2f".to_string()
    } else {
        uri.vhost.clone()
    };
    let url = format!(
        "amqps://{}:{}@localhost:{}/{vhost}",
        uri.authority.userinfo.username,
        uri.authority.userinfo.password,
        front_port.unwrap_or(5671)
    );
    (broker, url)
}

fn tls_config(url: String, ca: Option<&Path>) -> AmqpConfig {
    AmqpConfig {
        url,
        prefix: format!("t-{}.", &uuid::Uuid::new_v4().simple().to_string()[..8]),
        tls_ca_file: ca.map(Path::to_path_buf),
        connect_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

/// The suite's chain-rule scenario over `transport` and a fresh SQLite file.
async fn chain_over(transport: AmqpTransport) {
    let path = std::env::temp_dir()
        .join("isoqube-tests")
        .join(format!("{}.db", uuid::Uuid::new_v4()));
    let store = isoqube::SqliteStore::open(&path).await.expect("sqlite");
    let pair = suite::Pair {
        transport: Arc::new(transport),
        store: Arc::new(store),
    };
    suite::chain_rule(suite::Harness::new(pair)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_completes_over_amqps_with_a_private_ca() {
    let certs = Certs::make();
    let (broker, _) = broker_and_tls_url(None);
    let front = TlsFront::start(&certs, broker, false);
    let (_, url) = broker_and_tls_url(Some(front.port));
    let transport = AmqpTransport::connect(tls_config(url, Some(&certs.file("ca.pem"))))
        .await
        .unwrap_or_else(|e| panic!("amqps with the test CA must connect: {e}"));
    chain_over(transport).await;
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_without_leaking_the_password() {
    let certs = Certs::make();
    let (broker, _) = broker_and_tls_url(None);
    let front = TlsFront::start(&certs, broker, false);
    let (_, url) = broker_and_tls_url(Some(front.port));
    let url = url.replacen("://guest:guest@", "://guest:pa55word@", 1);
    let err = AmqpTransport::connect(tls_config(url, None))
        .await
        .expect_err("a certificate no trusted CA signed must be refused");
    let msg = err.to_string();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert!(
        msg.to_lowercase().contains("certificate") || msg.contains("UnknownIssuer"),
        "the error says why: {msg}"
    );
    assert!(!msg.contains("pa55word"), "password leaked: {msg}");
    eprintln!("refused as expected: {msg}");
}

/// A broker that verifies clients: refused without a client certificate,
/// a run completes with one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_is_presented_when_configured() {
    let certs = Certs::make();
    let (broker, _) = broker_and_tls_url(None);
    let front = TlsFront::start(&certs, broker, true);
    let (_, url) = broker_and_tls_url(Some(front.port));
    let err = AmqpTransport::connect(tls_config(url.clone(), Some(&certs.file("ca.pem"))))
        .await
        .expect_err("no client certificate: the terminator must refuse the handshake");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    let config = AmqpConfig {
        tls_cert_file: Some(certs.file("client.pem")),
        tls_key_file: Some(certs.file("client.key")),
        ..tls_config(url, Some(&certs.file("ca.pem")))
    };
    let transport = AmqpTransport::connect(config)
        .await
        .unwrap_or_else(|e| panic!("with the client certificate it must connect: {e}"));
    chain_over(transport).await;
}

#[tokio::test]
async fn a_ca_file_that_is_missing_or_not_pem_is_a_config_error_naming_it() {
    let (_, url) = broker_and_tls_url(Some(5671));
    let missing = Path::new("/no/such/isoqube-ca.pem");
    match AmqpTransport::connect(tls_config(url.clone(), Some(missing))).await {
        Err(Error::Config(m)) => assert!(m.contains("/no/such/isoqube-ca.pem"), "{m}"),
        other => panic!("expected a config error, got {other:?}"),
    }
    let not_pem = std::env::temp_dir().join(format!("isoqube-not-pem-{}", uuid::Uuid::new_v4()));
    std::fs::write(&not_pem, "hello").expect("write");
    match AmqpTransport::connect(tls_config(url.clone(), Some(&not_pem))).await {
        Err(Error::Config(m)) => {
            assert!(
                m.contains(&not_pem.display().to_string()) && m.contains("no PEM CERTIFICATE"),
                "{m}"
            )
        }
        other => panic!("expected a config error, got {other:?}"),
    }
    // A client certificate without its key.
    let config = AmqpConfig {
        tls_cert_file: Some(not_pem.clone()),
        ..tls_config(url, None)
    };
    match AmqpTransport::connect(config).await {
        Err(Error::Config(m)) => assert!(m.contains("only one is set"), "{m}"),
        other => panic!("expected a config error, got {other:?}"),
    }
    let _ = std::fs::remove_file(&not_pem);
}
