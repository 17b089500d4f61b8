//! Finding the MongoDB-wire test server for the Mongo test binaries.
//!
//! The URL comes from `ISOQUBE_MONGO_URL` (the test entry script exports it after
//! `scripts/mongo-test-server.sh start`). When it is unset and `CI=true`, the
//! tests fail. Locally, an unset URL starts SecantusDB through the script (or
//! reuses the one it started). An unreachable server always fails the tests:
//! they never silently pass.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

pub fn script() -> PathBuf {
    repo_root().join("scripts/mongo-test-server.sh")
}

/// The test server's URL.
pub fn url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Some(url) = std::env::var("ISOQUBE_MONGO_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            return url;
        }
        let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        assert!(
            !ci,
            "ISOQUBE_MONGO_URL is not set and CI=true: start the test server with \
             `export ISOQUBE_MONGO_URL=$(scripts/mongo-test-server.sh start)`"
        );
        let out = std::process::Command::new("bash")
            .arg(script())
            .arg("start")
            .output()
            .expect("run scripts/mongo-test-server.sh");
        assert!(
            out.status.success(),
            "scripts/mongo-test-server.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    })
    .clone()
}

/// A database name no other test uses.
pub fn unique_db(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    )
}

/// A connected store on a fresh database; panics (fails the test) when the
/// server cannot be reached.
pub async fn store(prefix: &str) -> isoqube::MongoStore {
    let url = url();
    let db = unique_db(prefix);
    match isoqube::MongoStore::connect(&url, &db).await {
        Ok(s) => s,
        Err(e) => panic!(
            "MongoDB test server {} unreachable: {e}",
            isoqube::store::mongo::redact_url(&url)
        ),
    }
}
