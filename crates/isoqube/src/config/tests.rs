//! The configuration: files, environment, errors, vhosts, retry strings.
use std::path::{Path, PathBuf};

use super::build::with_vhost;
use super::*;
use crate::retry::RetryPolicy;
use std::collections::HashMap;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

fn file(text: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("isoqube-cfg-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn defaults_are_the_embedded_pair() {
    let c = Config::load_with(None, env(&[])).expect("defaults");
    assert_eq!(c.transport.kind, TransportKind::InProcess);
    assert_eq!(c.store.kind, StoreKind::Sqlite);
    assert_eq!(c.default_retry(), RetryPolicy::None);
    assert_eq!(c.service.default_step_timeout_secs, 3600, "an hour");
}

#[test]
fn file_then_environment() {
    let p = file(
        "[transport]\nkind = \"amqp\"\nurl = \"amqp://a:pw@rabbit:5672/%2f\"\nprefix = \"x.\"\n\
         [store]\nkind = \"mongodb\"\nurl = \"mongodb://m:27017\"\n\
         [service]\nconcurrency = 8\nretry = 'interval(attempts = 3, every = \"100ms\")'\nhealth_port = 9000\n\
         default_step_timeout_secs = 600\n",
    );
    let c = Config::load_with(
        Some(&p),
        env(&[("ISOQUBE_MONGO_DB", "prod"), ("ISOQUBE_CONCURRENCY", "4")]),
    )
    .expect("load");
    assert_eq!(c.service.default_step_timeout_secs, 600);
    let zero = Config::load_with(Some(&p), env(&[("ISOQUBE_DEFAULT_STEP_TIMEOUT_SECS", "0")]))
        .expect("load");
    assert_eq!(zero.service.default_step_timeout_secs, 0, "no limit");
    assert_eq!(c.transport.kind, TransportKind::Amqp);
    assert_eq!(c.transport.prefix, "x.");
    assert_eq!(c.store.database, "prod");
    assert_eq!(c.service.concurrency, 4);
    assert_eq!(c.service.health_port, Some(9000));
    assert_eq!(
        c.default_retry(),
        RetryPolicy::Interval {
            attempts: 3,
            every: std::time::Duration::from_millis(100)
        }
    );
    let shown = c.to_toml_redacted();
    assert!(!shown.contains("pw@"), "{shown}");
    assert!(shown.contains(&p.display().to_string()), "{shown}");
    // what is printed reads back as the same configuration
    let again = Config::from_toml_str(&shown, "shown").expect("round trip");
    assert_eq!(again.service, c.service);
}

#[test]
fn errors_name_the_key_and_the_file() {
    let p = file("[transport]\nkind = \"kafka\"\n");
    let e = Config::load_with(Some(&p), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&p.display().to_string()) && e.contains("kafka"),
        "{e}"
    );

    let p = file("[store]\npaht = \"x.db\"\n");
    let e = Config::load_with(Some(&p), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("paht"), "{e}");

    let p = file("[service]\nretry = \"often\"\n");
    let e = Config::load_with(Some(&p), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("service.retry") && e.contains(&p.display().to_string()),
        "{e}"
    );

    let e = Config::load_with(Some(Path::new("/no/such/isoqube.toml")), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("/no/such/isoqube.toml") && e.contains("does not exist"),
        "{e}"
    );

    let e = Config::load_with(None, env(&[("ISOQUBE_CONCURRENCY", "many")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("ISOQUBE_CONCURRENCY"), "{e}");

    let e = Config::load_with(None, env(&[("ISOQUBE_AMQP_URL", "http://x")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("transport.url"), "{e}");

    let p = file("[transport]\ntls_ca_file = \"/no/such/ca.pem\"\n");
    let e = Config::load_with(Some(&p), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("transport.tls_ca_file")
            && e.contains("/no/such/ca.pem")
            && e.contains(&p.display().to_string()),
        "{e}"
    );
    let e = Config::load_with(None, env(&[("ISOQUBE_AMQP_TLS_CA_FILE", "/no/ca.pem")]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ISOQUBE_AMQP_TLS_CA_FILE") && e.contains("/no/ca.pem"),
        "{e}"
    );
    // A client certificate without its key.
    let cert = file("not checked for PEM here");
    let cert = cert.display().to_string();
    let e = Config::load_with(None, env(&[("ISOQUBE_AMQP_TLS_CERT_FILE", &cert)]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tls_key_file") && e.contains("both or neither"),
        "{e}"
    );

    let e = Config::load_with(None, env(&[("ISOQUBE_CONFIG", "/missing.toml")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/missing.toml"), "{e}");
}

#[test]
fn vhost_replaces_the_url_path() {
    assert_eq!(
        with_vhost("amqp://u:p@h:5672/%2f", "builds"),
        "amqp://u:p@h:5672/builds"
    );
    assert_eq!(with_vhost("amqp://h", "/"), "amqp://h/%2f");
    assert_eq!(
        with_vhost("amqps://h:5671/old?heartbeat=10", "new"),
        "amqps://h:5671/new?heartbeat=10"
    );
}

#[test]
fn the_health_server_address_is_configurable() {
    let c = Config::load_with(None, env(&[("ISOQUBE_HEALTH_PORT", "9000")])).expect("defaults");
    assert_eq!(
        c.service.health_addr(),
        Some(std::net::SocketAddr::from(([0, 0, 0, 0], 9000))),
        "every interface by default"
    );
    let p = file("[service]\nhealth_port = 9001\nhealth_listen = \"127.0.0.1\"\n");
    let c = Config::load_with(Some(&p), env(&[])).expect("load");
    assert_eq!(
        c.service.health_addr(),
        Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9001)))
    );
    let c = Config::load_with(Some(&p), env(&[("ISOQUBE_HEALTH_LISTEN", "::1")])).expect("env");
    assert_eq!(
        c.service.health_addr().map(|a| a.to_string()).as_deref(),
        Some("[::1]:9001")
    );
    let e = Config::load_with(None, env(&[("ISOQUBE_HEALTH_LISTEN", "localhost")]))
        .expect_err("a name is no address");
    assert!(e.to_string().contains("ISOQUBE_HEALTH_LISTEN"), "{e}");
    assert_eq!(
        Config::load_with(None, env(&[]))
            .expect("no port")
            .service
            .health_addr(),
        None
    );
}

#[test]
fn the_retry_setting_uses_the_attributes_words_and_refuses_a_typo() {
    let p =
        file("[service]\nretry = 'exponential(attempts = 4, first = \"100ms\", max = \"5s\")'\n");
    let c = Config::load_with(Some(&p), env(&[])).expect("named retry");
    assert_eq!(c.default_retry().max_attempts(), 4);

    let p = file("[service]\nretry = \"interval(attempts = 3, evry = 1s)\"\n");
    let e = Config::load_with(Some(&p), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("service.retry") && e.contains("unknown argument"),
        "{e}"
    );

    let e = Config::load_with(None, env(&[("ISOQUBE_RETRY", "interval(2, 500)")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("ISOQUBE_RETRY") && e.contains("named"), "{e}");
}
