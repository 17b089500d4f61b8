//! Surface layer: reading the configuration: the file (named, from
//! `ISOQUBE_CONFIG`, or `./isoqube.toml`), a binary's own sections kept aside,
//! the checks the types alone do not make, and printing it with secrets hidden.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use super::*;

/// The file looked for in the working directory when none is named.
pub const DEFAULT_FILE: &str = "isoqube.toml";
/// The variable naming the configuration file.
pub const FILE_ENV: &str = "ISOQUBE_CONFIG";

/// The whole configuration.
///
/// ```
/// let cfg = isoqube::Config::from_toml_str("[service]\nconcurrency = 4\n", "inline").unwrap();
/// assert_eq!(cfg.service.concurrency, 4);
/// let err = isoqube::Config::from_toml_str("[service]\nconcurency = 4\n", "inline").unwrap_err();
/// assert!(err.to_string().contains("concurency"));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[transport]`.
    pub transport: TransportSection,
    /// `[store]`.
    pub store: StoreSection,
    /// `[service]`.
    pub service: ServiceSection,
    /// `[log]`.
    pub log: LogSection,
    /// The sections a binary named to [`Config::load_with_sections`], as
    /// written (the runtime does not read them).
    #[serde(skip)]
    pub sections: toml::Table,
    /// The file it was read from, if any.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl Config {
    /// Reads the file (`explicit`, else [`FILE_ENV`], else [`DEFAULT_FILE`] when it
    /// exists) and applies the `ISOQUBE_*` variables of this process.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        Self::load_with(explicit, |k| std::env::var(k).ok())
    }

    /// [`Config::load`] for a binary with sections of its own (`names`), kept
    /// in [`Config::sections`] for it to read.
    pub fn load_with_sections(explicit: Option<&Path>, names: &[&str]) -> Result<Config> {
        Self::load_from(explicit, |k| std::env::var(k).ok(), names)
    }

    /// [`Config::load`] with the environment given as a function (for tests).
    pub fn load_with(
        explicit: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config> {
        Self::load_from(explicit, env, &[])
    }

    fn load_from(
        explicit: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        names: &[&str],
    ) -> Result<Config> {
        let named = explicit.map(Path::to_path_buf).or_else(|| {
            env(FILE_ENV)
                .filter(|p| !p.trim().is_empty())
                .map(PathBuf::from)
        });
        let path = match named {
            Some(p) => {
                if !p.is_file() {
                    return Err(Error::Config(format!(
                        "configuration file {} does not exist",
                        p.display()
                    )));
                }
                Some(p)
            }
            None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.is_file()),
        };
        let mut config = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| Error::Config(format!("cannot read {}: {e}", p.display())))?;
                let mut c = Self::from_toml_str_with(&text, &p.display().to_string(), names)?;
                c.source = Some(p.clone());
                c
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML; `origin` names it in errors (a file name).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config> {
        Self::from_toml_str_with(text, origin, &[])
    }

    /// [`Config::from_toml_str`], keeping the sections `names` aside.
    ///
    /// ```
    /// let text = "[service]\nconcurrency = 4\n[api]\nlisten = \"0.0.0.0:80\"\n";
    /// let cfg = isoqube::Config::from_toml_str_with(text, "inline", &["api"]).unwrap();
    /// assert_eq!(cfg.sections["api"]["listen"].as_str(), Some("0.0.0.0:80"));
    /// assert!(isoqube::Config::from_toml_str(text, "inline").is_err());
    /// ```
    pub fn from_toml_str_with(text: &str, origin: &str, names: &[&str]) -> Result<Config> {
        let bad = |e: &dyn std::fmt::Display| {
            Error::Config(format!("{origin}: {}", e.to_string().trim_end()))
        };
        let config: Config = if names.is_empty() {
            toml::from_str(text).map_err(|e| bad(&e))?
        } else {
            // Parsed once as a table (which checks the syntax, with line
            // numbers), the binary's sections taken out, the rest read strictly.
            let mut table: toml::Table = toml::from_str(text).map_err(|e| bad(&e))?;
            let mut sections = toml::Table::new();
            for name in names {
                if let Some(v) = table.remove(*name) {
                    sections.insert((*name).to_string(), v);
                }
            }
            let mut config: Config = toml::Value::Table(table).try_into().map_err(|e| bad(&e))?;
            config.sections = sections;
            config
        };
        config.validate().map_err(|e| match e {
            Error::Config(m) => Error::Config(format!("{origin}: {m}")),
            other => other,
        })?;
        Ok(config)
    }

    /// Checks values the types alone do not.
    pub fn validate(&self) -> Result<()> {
        crate::RetryPolicy::parse(&self.service.retry)
            .map_err(|m| Error::Config(format!("service.retry = {:?}: {m}", self.service.retry)))?;
        if self.service.heartbeat_secs == 0 {
            return Err(Error::Config(
                "service.heartbeat_secs must be at least 1".into(),
            ));
        }
        if self.transport.kind == TransportKind::Amqp
            && !(self.transport.url.starts_with("amqp://")
                || self.transport.url.starts_with("amqps://"))
        {
            return Err(Error::Config(format!(
                "transport.url must start with amqp:// or amqps:// (got {})",
                crate::redact::redact_url(&self.transport.url)
            )));
        }
        use crate::transport::amqp::{TLS_CA_ENV, TLS_CERT_ENV, TLS_KEY_ENV};
        let t = &self.transport;
        for (key, var, path) in [
            ("tls_ca_file", TLS_CA_ENV, &t.tls_ca_file),
            ("tls_cert_file", TLS_CERT_ENV, &t.tls_cert_file),
            ("tls_key_file", TLS_KEY_ENV, &t.tls_key_file),
        ] {
            if let Some(path) = path.as_ref().filter(|p| !p.is_file()) {
                return Err(Error::Config(format!(
                    "transport.{key} ({var}): {} is not a readable file",
                    path.display()
                )));
            }
        }
        if t.tls_cert_file.is_some() != t.tls_key_file.is_some() {
            return Err(Error::Config(format!(
                "transport.tls_cert_file ({TLS_CERT_ENV}) and transport.tls_key_file \
                 ({TLS_KEY_ENV}) go together: set both or neither"
            )));
        }
        if self.store.kind == StoreKind::Mongodb
            && !(self.store.url.starts_with("mongodb://")
                || self.store.url.starts_with("mongodb+srv://"))
        {
            return Err(Error::Config(format!(
                "store.url must start with mongodb:// or mongodb+srv:// (got {})",
                crate::redact::redact_url(&self.store.url)
            )));
        }
        if self.store.log_retention_days == 0 {
            return Err(Error::Config(
                "store.log_retention_days must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The effective configuration as TOML, URLs with their passwords hidden.
    ///
    /// ```
    /// let mut cfg = isoqube::Config::default();
    /// cfg.transport.url = "amqp://app:s3cret@rabbit:5672/%2f".into();
    /// let shown = cfg.to_toml_redacted();
    /// assert!(shown.contains("app:***@rabbit") && !shown.contains("s3cret"));
    /// ```
    pub fn to_toml_redacted(&self) -> String {
        let mut shown = self.clone();
        shown.transport.url = crate::redact::redact_url(&shown.transport.url);
        shown.store.url = crate::redact::redact_url(&shown.store.url);
        let body = toml::to_string_pretty(&shown)
            .unwrap_or_else(|e| format!("# cannot print the configuration: {e}\n"));
        let source = match &self.source {
            Some(p) => format!("# from {} and ISOQUBE_* variables\n", p.display()),
            None => "# defaults and ISOQUBE_* variables (no file)\n".to_string(),
        };
        source + &body
    }
}
