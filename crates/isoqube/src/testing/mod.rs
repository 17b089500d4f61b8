//! Support for tests that need the real services (this workspace's own and those
//! of services built on Isoqube): where RabbitMQ and the MongoDB-wire test
//! server are, and a RabbitMQ node of a test's own for tests that stop the
//! broker; a store that loses answers ([`FaultyStore`]). A missing server fails the test with a message that says what to
//! start; nothing here skips.

mod broker;
mod faulty;

pub use broker::{free_port, OwnBroker};
pub use faulty::FaultyStore;

use std::path::PathBuf;
#[cfg(feature = "mongo")]
use std::process::Command;
#[cfg(feature = "mongo")]
use std::sync::OnceLock;

/// The broker the tests use: `ISOQUBE_AMQP_URL`, else the local default.
///
/// ```
/// assert!(isoqube::testing::amqp_url().starts_with("amqp"));
/// ```
pub fn amqp_url() -> String {
    std::env::var(crate::transport::amqp::URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| crate::transport::amqp::DEFAULT_URL.to_string())
}

/// Whether this runs in CI (`CI=true` or `CI=1`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

#[cfg(feature = "mongo")]
/// The MongoDB-wire test server's URL: `ISOQUBE_MONGO_URL` (exported by
/// `scripts/test.sh`). Outside CI an unset URL starts SecantusDB through
/// `scripts/mongo-test-server.sh` (or reuses the one it started).
///
/// # Panics
/// When the URL is unset in CI, or the server cannot be started: the calling
/// test fails with the reason.
pub fn mongo_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Some(url) = std::env::var(crate::store::mongo::URL_ENV)
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            return url;
        }
        assert!(
            !in_ci(),
            "ISOQUBE_MONGO_URL is not set and CI=true: run the tests through scripts/test.sh"
        );
        let out = Command::new("bash")
            .arg(mongo_script())
            .arg("start")
            .output()
            .unwrap_or_else(|e| panic!("cannot run scripts/mongo-test-server.sh: {e}"));
        assert!(
            out.status.success(),
            "scripts/mongo-test-server.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    })
    .clone()
}

/// `scripts/mongo-test-server.sh` of this workspace.
pub fn mongo_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/mongo-test-server.sh")
}

/// A name no other test uses: `<tag>-<12 hex digits>`.
///
/// ```
/// let a = isoqube::testing::unique("t");
/// assert!(a.starts_with("t-") && a != isoqube::testing::unique("t"));
/// ```
pub fn unique(tag: &str) -> String {
    format!("{tag}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}
