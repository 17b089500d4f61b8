//! The TLS settings of an `amqps://` connection: the CA file and the client
//! certificate named in [`AmqpConfig`], read and checked once at connect.
//!
//! May use: [`super::config`], the ground layer (`crate::error`) and lapin's
//! TLS types.

use std::path::Path;

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};

use super::config::{AmqpConfig, TLS_CA_ENV, TLS_CERT_ENV, TLS_KEY_ENV};
use crate::error::{Error, Result};

/// The TLS settings of `config`, its files read and checked now: a wrong file
/// is an error naming it, not a baffling handshake failure later.
pub(super) fn tls_config(config: &AmqpConfig) -> Result<OwnedTLSConfig> {
    let cert_chain = match &config.tls_ca_file {
        Some(path) => Some(read_pem(path, "tls_ca_file", TLS_CA_ENV, "CERTIFICATE")?),
        None => None,
    };
    let identity = match (&config.tls_cert_file, &config.tls_key_file) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(OwnedIdentity::PKCS8 {
            pem: read_pem(cert, "tls_cert_file", TLS_CERT_ENV, "CERTIFICATE")?.into_bytes(),
            key: read_pem(key, "tls_key_file", TLS_KEY_ENV, "PRIVATE KEY")?.into_bytes(),
        }),
        _ => {
            return Err(Error::Config(format!(
                "a TLS client certificate needs both tls_cert_file ({TLS_CERT_ENV}) and \
                 tls_key_file ({TLS_KEY_ENV}); only one is set"
            )))
        }
    };
    Ok(OwnedTLSConfig {
        identity,
        cert_chain,
    })
}

/// A PEM file's text, checked to hold a `-----BEGIN ...<label>-----` block.
fn read_pem(path: &Path, key: &str, var: &str, label: &str) -> Result<String> {
    let pem = std::fs::read_to_string(path).map_err(|e| {
        Error::Config(format!(
            "cannot read the TLS file {} ({key} / {var}): {e}",
            path.display()
        ))
    })?;
    let end = format!("{label}-----");
    let holds_label = pem
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with(&end));
    if !holds_label {
        return Err(Error::Config(format!(
            "the TLS file {} ({key} / {var}) holds no PEM {label}",
            path.display()
        )));
    }
    Ok(pem)
}
