//! Surface layer: the `ISOQUBE_*` environment overrides of the configuration.

use std::path::PathBuf;

use crate::error::{Error, Result};

use super::*;

impl Config {
    /// Applies the `ISOQUBE_*` overrides. Setting a URL also selects that kind
    /// (`ISOQUBE_AMQP_URL` means RabbitMQ, `ISOQUBE_MONGO_URL` MongoDB).
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<()> {
        let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("ISOQUBE_TRANSPORT") {
            self.transport.kind = parse_kind(
                &v,
                "ISOQUBE_TRANSPORT",
                &[
                    ("amqp", TransportKind::Amqp),
                    ("in-process", TransportKind::InProcess),
                ],
            )?;
        }
        if let Some(v) = get("ISOQUBE_AMQP_URL") {
            self.transport.url = v;
            self.transport.kind = TransportKind::Amqp;
        }
        if let Some(v) = get("ISOQUBE_AMQP_VHOST") {
            self.transport.vhost = Some(v);
        }
        if let Some(v) = env("ISOQUBE_AMQP_PREFIX") {
            self.transport.prefix = v;
        }
        if let Some(v) = get("ISOQUBE_AMQP_QUORUM") {
            self.transport.quorum = parse_bool(&v, "ISOQUBE_AMQP_QUORUM")?;
        }
        if let Some(v) = get(crate::transport::amqp::TLS_CA_ENV) {
            self.transport.tls_ca_file = Some(PathBuf::from(v));
        }
        if let Some(v) = get(crate::transport::amqp::TLS_CERT_ENV) {
            self.transport.tls_cert_file = Some(PathBuf::from(v));
        }
        if let Some(v) = get(crate::transport::amqp::TLS_KEY_ENV) {
            self.transport.tls_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = get("ISOQUBE_STORE") {
            self.store.kind = parse_kind(
                &v,
                "ISOQUBE_STORE",
                &[
                    ("mongodb", StoreKind::Mongodb),
                    ("sqlite", StoreKind::Sqlite),
                ],
            )?;
        }
        if let Some(v) = get("ISOQUBE_MONGO_URL") {
            self.store.url = v;
            self.store.kind = StoreKind::Mongodb;
        }
        if let Some(v) = get("ISOQUBE_MONGO_DB") {
            self.store.database = v;
        }
        if let Some(v) = get("ISOQUBE_STORE_PATH") {
            self.store.path = PathBuf::from(v);
        }
        if let Some(v) = get("ISOQUBE_RUN_RETENTION_DAYS") {
            self.store.run_retention_days = parse_num(&v, "ISOQUBE_RUN_RETENTION_DAYS")?;
        }
        if let Some(v) = get("ISOQUBE_LOG_RETENTION_DAYS") {
            self.store.log_retention_days = parse_num(&v, "ISOQUBE_LOG_RETENTION_DAYS")?;
        }
        if let Some(v) = get("ISOQUBE_MONGO_WRITE_CONCERN") {
            self.store.write_concern = parse_kind(
                &v,
                "ISOQUBE_MONGO_WRITE_CONCERN",
                &[
                    ("majority", crate::store::WriteDurability::Majority),
                    ("acknowledged", crate::store::WriteDurability::Acknowledged),
                ],
            )?;
        }
        if let Some(v) = get("ISOQUBE_CONCURRENCY") {
            self.service.concurrency = parse_num(&v, "ISOQUBE_CONCURRENCY")?;
        }
        if let Some(v) = get("ISOQUBE_RETRY") {
            crate::RetryPolicy::parse(&v)
                .map_err(|m| Error::Config(format!("ISOQUBE_RETRY = {v:?}: {m}")))?;
            self.service.retry = v;
        }
        if let Some(v) = get("ISOQUBE_HEARTBEAT_SECS") {
            self.service.heartbeat_secs = parse_num(&v, "ISOQUBE_HEARTBEAT_SECS")?;
        }
        if let Some(v) = get("ISOQUBE_SHUTDOWN_GRACE_SECS") {
            self.service.shutdown_grace_secs = parse_num(&v, "ISOQUBE_SHUTDOWN_GRACE_SECS")?;
        }
        if let Some(v) = get("ISOQUBE_RECORD_START_AFTER_MS") {
            self.service.record_start_after_ms = parse_num(&v, "ISOQUBE_RECORD_START_AFTER_MS")?;
        }
        if let Some(v) = get("ISOQUBE_DEFAULT_STEP_TIMEOUT_SECS") {
            self.service.default_step_timeout_secs =
                parse_num(&v, "ISOQUBE_DEFAULT_STEP_TIMEOUT_SECS")?;
        }
        if let Some(v) = get("ISOQUBE_PRIORITIES") {
            self.service.priorities = parse_bool(&v, "ISOQUBE_PRIORITIES")?;
        }
        if let Some(v) = get("ISOQUBE_HEALTH_PORT") {
            self.service.health_port = Some(parse_num(&v, "ISOQUBE_HEALTH_PORT")?);
        }
        if let Some(v) = get("ISOQUBE_HEALTH_LISTEN") {
            self.service.health_listen = v.trim().parse().map_err(|_| {
                Error::Config(format!(
                    "ISOQUBE_HEALTH_LISTEN='{v}' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::)"
                ))
            })?;
        }
        if let Some(v) = get("ISOQUBE_LOG").or_else(|| get("RUST_LOG")) {
            self.log.level = v;
        }
        if let Some(v) = get("ISOQUBE_LOG_FORMAT") {
            self.log.format = parse_kind(
                &v,
                "ISOQUBE_LOG_FORMAT",
                &[("text", LogFormat::Text), ("json", LogFormat::Json)],
            )?;
        }
        Ok(())
    }
}

fn parse_bool(v: &str, key: &str) -> Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::Config(format!("{key}='{v}' is not true or false"))),
    }
}

fn parse_num<T: std::str::FromStr>(v: &str, key: &str) -> Result<T> {
    v.trim().parse().map_err(|_| {
        Error::Config(format!(
            "{key}='{v}' is not a valid number ({})",
            std::any::type_name::<T>()
        ))
    })
}

fn parse_kind<T: Copy>(v: &str, key: &str, options: &[(&str, T)]) -> Result<T> {
    let wanted = v.trim().to_ascii_lowercase();
    options
        .iter()
        .find(|(name, _)| *name == wanted)
        .map(|(_, kind)| *kind)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            Error::Config(format!("{key}='{v}' is not one of {}", names.join(", ")))
        })
}
