//! Unit tests of the MongoDB store that need no server: URL and name checks,
//! documents round-tripping through the codec.

use super::codec::{from_doc, run_doc, RUNS};
use super::*;
use crate::error::Error;

#[tokio::test]
async fn bad_urls_and_names_are_config_errors_without_secrets() {
    let e = MongoStore::connect("mongodb://u:topsecret@db:notaport/", "isoqube")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e}");
    assert!(!e.to_string().contains("topsecret"), "{e}");
    let e = MongoStore::connect("mongodb://db/", "a/b")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e}");
}

#[test]
fn documents_round_trip_with_their_serde_shape() {
    let def = Definition::new("release", ["Build", "Deploy"]);
    let run = Run::new(&def, Variables::new(), "test");
    let d = run_doc(&run).unwrap();
    assert_eq!(d.get_str("_id").unwrap(), run.id.to_string());
    assert_eq!(d.get_str("id").unwrap(), run.id.to_string());
    let back: Run = from_doc(RUNS, d, &["created_key"]).unwrap();
    assert_eq!(back, run);
    let bad = doc! {"_id": "x1", "status": 42};
    let e = from_doc::<Run>(RUNS, bad, &[]).unwrap_err().to_string();
    assert!(
        e.contains("runs record 'x1' is corrupt: does not parse"),
        "{e}"
    );
}
