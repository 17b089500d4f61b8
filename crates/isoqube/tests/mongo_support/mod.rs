//! Finding the MongoDB-wire test server for the Mongo test binaries.
//!
//! The URL comes from `ISOQUBE_MONGO_URL` (the test entry script exports it after
//! `scripts/mongo-test-server.sh start`). When it is unset and `CI=true`, the
//! tests fail. Locally, an unset URL starts SecantusDB through the script (or
//! reuses the one it started). An unreachable server always fails the tests:
//! they never silently pass.
#![allow(dead_code)]

/// The test server's URL (see [`isoqube::testing::mongo_url`]).
pub fn url() -> String {
    isoqube::testing::mongo_url()
}

/// The script that starts and stops the test server.
pub fn script() -> std::path::PathBuf {
    isoqube::testing::mongo_script()
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
