//! The Dockerfile and docker-compose.yml, checked without a container engine
//! (there is none on CI): `scripts/check-compose.py` parses them and checks the
//! promised deployment; a broken copy must be refused, so the check can fail.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn check(dir: &Path) -> (bool, String) {
    let out = Command::new("python3")
        .arg(root().join("scripts/check-compose.py"))
        .arg(dir)
        .output()
        .expect("python3 runs (PyYAML is needed: pip install pyyaml)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn compose_file_and_dockerfile_describe_the_deployment() {
    let (ok, text) = check(&root());
    assert!(ok, "{text}");
    assert_eq!(text.trim(), "ok");
}

#[test]
fn a_broken_compose_file_is_refused() {
    let dir = std::env::temp_dir().join(format!("isoqube-compose-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let compose = std::fs::read_to_string(root().join("docker-compose.yml")).expect("compose");
    let broken = compose
        .replace("replicas: 2", "replicas: 1")
        .replace("/health/ready", "/health/live")
        .replace("${ISOQUBE_API_PORT:-8080}:8080", "8080:8080")
        .replace(
            "rabbitmq-data:/var/lib/rabbitmq",
            "/tmp/rabbit:/var/lib/rabbitmq",
        );
    std::fs::write(dir.join("docker-compose.yml"), broken).expect("write");
    std::fs::copy(root().join("Dockerfile"), dir.join("Dockerfile")).expect("copy");
    let (ok, text) = check(&dir);
    assert!(!ok, "{text}");
    assert!(text.contains("linux-pool must run 2 instances"), "{text}");
    assert!(text.contains("/health/ready"), "{text}");
    assert!(
        text.contains("api: host port of '8080:8080' must be a variable"),
        "{text}"
    );
    assert!(
        text.contains("volume '/tmp/rabbit' must be declared"),
        "{text}"
    );
}

#[test]
fn the_commands_compose_runs_exist() {
    let out = Command::new(env!("CARGO_BIN_EXE_sample-build-server"))
        .args(["serve", "--help"])
        .output()
        .expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && help.contains("--service"), "{help}");
}
