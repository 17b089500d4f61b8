//! The control center's own configuration: the `[api]` and `[controlcenter]`
//! sections of the one configuration file every Isoqube binary reads (the
//! runtime's sections are `isoqube::Config`'s), their `ISOQUBE_*` overrides,
//! and how `config show` prints them. Uses only the runtime's `Config` (which
//! keeps the sections, unread, for us) and its stuck rule.
//!
//! ```toml
//! [api]                         # controlcenter serve
//! listen = "127.0.0.1:8090"
//! token = "change-me-16-chars-min" # bearer token, 16+ characters (or ISOQUBE_API_TOKEN)
//! max_body_bytes = 65536
//!
//! [controlcenter]               # every command
//! stuck_after_secs = 300        # a step with no live handler this long is stuck
//!                               # (or ISOQUBE_STUCK_AFTER_SECS, or --stuck-after)
//! ```

use std::path::Path;

use isoqube::{model::StuckRule, Config, Error, Result};
use serde::{Deserialize, Serialize};

/// The sections of the configuration file the control center reads itself.
pub const SECTIONS: &[&str] = &[API_SECTION, CONTROL_CENTER_SECTION];

/// The name of the HTTP API's section.
pub const API_SECTION: &str = "api";

/// The name of the section every command reads.
pub const CONTROL_CENTER_SECTION: &str = "controlcenter";

/// The runtime configuration (file, then `ISOQUBE_*` variables), accepting the
/// control center's sections in the same file.
pub fn load(explicit: Option<&Path>) -> Result<Config> {
    Config::load_with_sections(explicit, SECTIONS)
}

/// `[api]`: the control center's HTTP API (`controlcenter serve`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSection {
    /// Address to listen on.
    pub listen: String,
    /// Bearer token every endpoint but health requires; the API refuses to
    /// start without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            listen: "127.0.0.1:8090".into(),
            token: None,
            max_body_bytes: 64 * 1024,
        }
    }
}

impl ApiSection {
    /// The `[api]` section of `config` (defaults when absent), then the
    /// `ISOQUBE_API_*` variables of this process.
    pub fn from_config(config: &Config) -> Result<Self> {
        Self::from_config_with(config, |k| std::env::var(k).ok())
    }

    /// [`ApiSection::from_config`] with the environment given as a function.
    ///
    /// ```
    /// use controlcenter::config::ApiSection;
    /// let text = "[api]\nlisten = \"0.0.0.0:80\"\n";
    /// let cfg = isoqube::Config::from_toml_str_with(text, "inline", controlcenter::config::SECTIONS).unwrap();
    /// let env = |k: &str| (k == "ISOQUBE_API_TOKEN").then(|| "t0ken".to_string());
    /// let api = ApiSection::from_config_with(&cfg, env).unwrap();
    /// assert_eq!((api.listen.as_str(), api.token.as_deref()), ("0.0.0.0:80", Some("t0ken")));
    /// let typo = isoqube::Config::from_toml_str_with("[api]\nlisen = 1\n", "f.toml", controlcenter::config::SECTIONS).unwrap();
    /// assert!(ApiSection::from_config_with(&typo, |_| None).unwrap_err().to_string().contains("lisen"));
    /// ```
    pub fn from_config_with(config: &Config, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let origin = config
            .source
            .as_ref()
            .map_or_else(|| "configuration".to_string(), |p| p.display().to_string());
        let mut api = match config.sections.get(API_SECTION) {
            Some(v) => v.clone().try_into::<ApiSection>().map_err(|e| {
                Error::Config(format!(
                    "{origin}: [{API_SECTION}]: {}",
                    e.to_string().trim_end()
                ))
            })?,
            None => ApiSection::default(),
        };
        let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("ISOQUBE_API_LISTEN") {
            api.listen = v;
        }
        if let Some(v) = get("ISOQUBE_API_TOKEN") {
            api.token = Some(v);
        }
        if let Some(v) = get("ISOQUBE_API_MAX_BODY_BYTES") {
            api.max_body_bytes = v.trim().parse().map_err(|_| {
                Error::Config(format!("ISOQUBE_API_MAX_BODY_BYTES: '{v}' is not a number"))
            })?;
        }
        Ok(api)
    }

    /// The section as TOML for `config show`, the token hidden.
    ///
    /// ```
    /// let mut api = controlcenter::config::ApiSection::default();
    /// api.token = Some("s3cret".into());
    /// let shown = api.to_toml_redacted();
    /// assert!(shown.starts_with("[api]") && shown.contains("***") && !shown.contains("s3cret"));
    /// ```
    pub fn to_toml_redacted(&self) -> String {
        let mut shown = self.clone();
        if shown.token.is_some() {
            shown.token = Some("***".into());
        }
        let body = toml::to_string_pretty(&shown)
            .unwrap_or_else(|e| format!("# cannot print the section: {e}\n"));
        format!("[{API_SECTION}]\n{body}")
    }
}

/// `[controlcenter]`: what every command of the control center reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlCenterSection {
    /// Seconds a step may stay `Invoked` with no live handler before runs
    /// list it as stuck (see [`isoqube::model::StuckRule`]); at least 1.
    pub stuck_after_secs: u64,
}

impl Default for ControlCenterSection {
    fn default() -> Self {
        ControlCenterSection {
            stuck_after_secs: StuckRule::DEFAULT_AFTER.as_secs(),
        }
    }
}

impl ControlCenterSection {
    /// The `[controlcenter]` section of `config` (defaults when absent), then
    /// `ISOQUBE_STUCK_AFTER_SECS` of this process.
    pub fn from_config(config: &Config) -> Result<Self> {
        Self::from_config_with(config, |k| std::env::var(k).ok())
    }

    /// [`ControlCenterSection::from_config`] with the environment given as a function.
    ///
    /// ```
    /// use controlcenter::config::{ControlCenterSection, SECTIONS};
    /// let cfg = isoqube::Config::from_toml_str_with("[controlcenter]\nstuck_after_secs = 60\n", "f.toml", SECTIONS).unwrap();
    /// assert_eq!(ControlCenterSection::from_config_with(&cfg, |_| None).unwrap().stuck_after_secs, 60);
    /// let env = |k: &str| (k == "ISOQUBE_STUCK_AFTER_SECS").then(|| "90".to_string());
    /// assert_eq!(ControlCenterSection::from_config_with(&cfg, env).unwrap().stuck_after_secs, 90);
    /// let zero = isoqube::Config::from_toml_str_with("[controlcenter]\nstuck_after_secs = 0\n", "f.toml", SECTIONS).unwrap();
    /// assert!(ControlCenterSection::from_config_with(&zero, |_| None).unwrap_err().to_string().contains("stuck_after_secs"));
    /// ```
    pub fn from_config_with(config: &Config, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let origin = config
            .source
            .as_ref()
            .map_or_else(|| "configuration".to_string(), |p| p.display().to_string());
        let mut section = match config.sections.get(CONTROL_CENTER_SECTION) {
            Some(v) => v.clone().try_into::<ControlCenterSection>().map_err(|e| {
                Error::Config(format!(
                    "{origin}: [{CONTROL_CENTER_SECTION}]: {}",
                    e.to_string().trim_end()
                ))
            })?,
            None => ControlCenterSection::default(),
        };
        let mut from = format!("{origin}: [{CONTROL_CENTER_SECTION}] stuck_after_secs");
        if let Some(v) = env("ISOQUBE_STUCK_AFTER_SECS").filter(|v| !v.trim().is_empty()) {
            section.stuck_after_secs = v.trim().parse().map_err(|_| {
                Error::Config(format!("ISOQUBE_STUCK_AFTER_SECS: '{v}' is not a number"))
            })?;
            from = "ISOQUBE_STUCK_AFTER_SECS".into();
        }
        if section.stuck_after_secs == 0 {
            return Err(Error::Config(format!("{from}: must be at least 1 second")));
        }
        Ok(section)
    }

    /// The stuck rule these settings give.
    pub fn stuck_rule(&self) -> StuckRule {
        StuckRule::after(std::time::Duration::from_secs(self.stuck_after_secs))
    }

    /// The section as TOML for `config show`.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# cannot print the section: {e}\n"));
        format!("[{CONTROL_CENTER_SECTION}]\n{body}")
    }
}
