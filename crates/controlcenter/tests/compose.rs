//! `docker-compose.yml` (issue 19): the control center's API + scheduler is a
//! service with a health check, RabbitMQ keeps its data in a volume, and
//! every host port is a variable with a default. Read as text (no YAML
//! parser in the kept dependencies); when `docker compose` is installed the
//! file is also checked by it.

use std::path::Path;

fn compose() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docker-compose.yml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines of the top-level service `name` (indented by two spaces).
fn service(text: &str, name: &str) -> Vec<String> {
    let head = format!("  {name}:");
    let mut lines = text.lines().skip_while(|l| l.trim_end() != head);
    let Some(_) = lines.next() else {
        panic!("no service {name} in docker-compose.yml");
    };
    lines
        .take_while(|l| l.is_empty() || l.starts_with("    ") || l.trim_start().starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_api_is_a_service_with_a_health_check() {
    let text = compose();
    let api = service(&text, "api").join("\n");
    assert!(api.contains("entrypoint: [\"controlcenter\"]"), "{api}");
    assert!(api.contains("command: [\"serve\"]"), "{api}");
    assert!(api.contains("healthcheck:"), "{api}");
    assert!(api.contains("http://127.0.0.1:8080/health/ready"), "{api}");
    assert!(api.contains("ISOQUBE_API_LISTEN: 0.0.0.0:8080"), "{api}");
    assert!(
        api.contains("${ISOQUBE_API_TOKEN:?"),
        "the token is required, never a default: {api}"
    );
    assert!(api.contains("\"${ISOQUBE_API_PORT:-8080}:8080\""), "{api}");
}

#[test]
fn rabbitmq_keeps_its_data_in_a_volume() {
    let text = compose();
    let rabbit = service(&text, "rabbitmq").join("\n");
    assert!(
        rabbit.contains("rabbitmq-data:/var/lib/rabbitmq"),
        "{rabbit}"
    );
    assert!(
        rabbit.contains("hostname: rabbitmq"),
        "a fixed node name: {rabbit}"
    );
    let volumes: Vec<&str> = text.lines().skip_while(|l| *l != "volumes:").collect();
    assert!(volumes.contains(&"  rabbitmq-data:"), "{volumes:?}");
}

#[test]
fn every_host_port_is_a_variable() {
    let text = compose();
    let ports: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with("- \"") && l.contains(':') && l.chars().any(|c| c.is_ascii_digit())
        })
        .filter(|l| !l.contains('/'))
        .collect();
    assert!(ports.len() >= 5, "{ports:?}");
    for p in ports {
        let inner = p.trim_start_matches("- \"").trim_end_matches('"');
        let (host, container) = inner.rsplit_once(':').expect("host:container");
        assert!(
            host.starts_with("${ISOQUBE_") && host.contains("_PORT:-") && host.ends_with('}'),
            "{p}: the host port is a variable with a default"
        );
        assert!(container.parse::<u16>().is_ok(), "{p}");
    }
}

/// `docker compose config` accepts the file (when docker compose is there).
#[test]
fn docker_compose_accepts_the_file() {
    let has_compose = std::process::Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_compose {
        eprintln!("docker compose is not installed: only the text checks ran");
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new("docker")
        .args(["compose", "config", "--quiet"])
        .current_dir(&dir)
        .env("ISOQUBE_API_TOKEN", "compose-test-token-0123")
        .output()
        .expect("docker runs");
    assert!(
        out.status.success(),
        "docker compose config refused the file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
