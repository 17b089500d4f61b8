//! schemathesis (a property-based API tester, from PyPI) against the served
//! OpenAPI document with every check, on both pairs: it generates valid and
//! invalid requests for every operation, and fails on a 5xx, an answer whose
//! status is not declared or whose body does not fit the schema, a valid
//! request refused, an invalid one accepted, an endpoint that ignores the
//! token, and the like.
//!
//! The test provisions its own virtualenv (`target/schemathesis-venv`, the
//! pinned [`VERSION`]) when it is missing: that needs `python3` with `venv`
//! and PyPI the first time; a failure to provision fails the test. It seeds a
//! definition of the test's events (with a webhook and a schedule) and a few
//! finished runs, and hands their names and ids to schemathesis as
//! dictionaries, so generated requests reach existing resources, not only
//! 404s. The examples per operation are bounded ([`MAX_EXAMPLES`]) and the
//! seed fixed, so a run takes seconds and a failure replays.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::json;

use super::{Env, HOOK_SECRET, TOKEN};

/// The schemathesis release the suite pins.
const VERSION: &str = "4.32.5";
/// Generated test cases per operation and phase (`ISOQUBE_SCHEMATHESIS_EXAMPLES`
/// overrides it, for a longer run by hand).
const MAX_EXAMPLES: u32 = 25;
/// Fixed, so a failure found in CI replays by hand (`ISOQUBE_SCHEMATHESIS_SEED`
/// overrides it, to explore further).
const SEED: u32 = 1717;

fn knob(var: &str, default: u32) -> u32 {
    match std::env::var(var) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{var}={v} is not a whole number")),
        Err(_) => default,
    }
}

/// The default body limit (`[api] max_body_bytes`): the scenario tests' small
/// one would answer generated bodies with 413 before their data is looked at.
pub(super) fn body_limit() -> usize {
    controlcenter::config::ApiSection::default().max_body_bytes
}

const HOOK_ID: &str = "st-hook-0001";
/// Generated requests may replace or delete it.
const DEFINITION: &str = "st-flow";
/// Not offered for replacing or deleting, so its webhook stays for the hook calls.
const HOOKED: &str = "st-hooked";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// The venv's `schemathesis`, installed on first use (one test at a time:
/// both pairs' tests run in this binary).
fn schemathesis() -> PathBuf {
    static PROVISION: Mutex<()> = Mutex::new(());
    let _one = PROVISION.lock().unwrap_or_else(|e| e.into_inner());
    let venv = target_dir().join("schemathesis-venv");
    let bin = venv.join("bin/schemathesis");
    let installed = |bin: &Path| {
        Command::new(bin).arg("--version").output().is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains(VERSION)
        })
    };
    if !installed(&bin) {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .output()
            .expect("python3 must be installed for the schemathesis test");
        assert!(
            made.status.success(),
            "python3 -m venv {} failed: {}",
            venv.display(),
            String::from_utf8_lossy(&made.stderr)
        );
        let pip = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", &format!("schemathesis=={VERSION}")])
            .output()
            .expect("pip runs");
        assert!(
            pip.status.success(),
            "pip install schemathesis=={VERSION} failed: {}",
            String::from_utf8_lossy(&pip.stderr)
        );
        assert!(
            installed(&bin),
            "schemathesis {VERSION} still not installed"
        );
    }
    bin
}

/// What the seeding made: run ids.
struct Seeded {
    runs: Vec<String>,
}

/// A definition of the test's events with a webhook and a schedule, and
/// finished runs: one succeeded, one failed, one cancelled or finished.
async fn seed(env: &Env) -> Seeded {
    let defs = [
        json!({
            "name": DEFINITION,
            "description": "seeded for schemathesis",
            "steps": ["ApiPrepare", "ApiShip"],
            "variables": { "branch": "main" },
            // Disabled: nothing starts by itself meanwhile.
            "schedules": [
                { "id": "nightly", "when": { "kind": "cron", "expr": "0 2 * * *" }, "enabled": false },
                { "id": "often", "when": { "kind": "interval", "every_secs": 60 }, "enabled": false },
            ],
        }),
        json!({
            "name": HOOKED,
            "steps": ["ApiPrepare"],
            "webhook": { "id": HOOK_ID, "secret": HOOK_SECRET },
        }),
    ];
    for def in &defs {
        let r = env.post("/api/v1/definitions", def).await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let mut runs = Vec::new();
    for vars in [
        json!({}),
        json!({ "fail": true }),
        json!({ "fail_first": true }),
    ] {
        let id = env.start_run(DEFINITION, vars).await;
        env.wait(&id).await;
        runs.push(id);
    }
    Seeded { runs }
}

fn toml_list(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// The configuration: the token, the seeded values as dictionaries, and the
/// one narrowed check (see the comment in it).
fn config(seeded: &Seeded) -> String {
    let runs: Vec<&str> = seeded.runs.iter().map(String::as_str).collect();
    format!(
        r#"
headers = {{ Authorization = "Bearer {TOKEN}" }}

[generation]
database = "none"

[dictionaries.events]
values = ["ApiPrepare", "ApiShip"]
[dictionaries.definitions]
values = ["{DEFINITION}"]
[dictionaries.startable]
values = ["{DEFINITION}", "{HOOKED}"]
[dictionaries.runs]
values = {runs}
[dictionaries.hooks]
values = ["{HOOK_ID}"]
[dictionaries.secrets]
values = ["{HOOK_SECRET}"]

[parameters]
"body.steps[*]" = {{ dictionary = "events", probability = 0.8 }}
"body.definition" = {{ dictionary = "startable", probability = 0.7 }}
"body.event" = {{ dictionary = "events", probability = 0.5 }}
"body.name" = {{ dictionary = "definitions", probability = 0.3 }}
"path.name" = {{ dictionary = "definitions", probability = 0.6 }}
"query.definition" = {{ dictionary = "startable", probability = 0.5 }}
"query.before_id" = {{ dictionary = "runs", probability = 0.5 }}

# A run route takes any start of a run id; a start that several runs share is
# a 400 naming them, which no schema can tell from a unique one.
[[operations]]
include-path-regex = "^/api/v1/runs/"
parameters = {{ "path.id" = {{ dictionary = "runs", probability = 0.7 }} }}
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]

# A signal to no waiting run is the documented 409 (nothing waits for it), and a
# blank event (which the schema cannot refuse) a 400.
[[operations]]
include-name = "POST /api/v1/signals"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "409", "429", "5xx"]

[[operations]]
include-path = "/hooks/{{id}}"
parameters = {{ "path.id" = {{ dictionary = "hooks", probability = 0.7 }}, "header.X-Isoqube-Secret" = {{ dictionary = "secrets", probability = 0.7 }} }}

# Writing a definition: a schema-valid body may still break a rule no JSON
# Schema can state (each step names a registered event, the cron expression
# and time zone parse, a replace keeps the path's name), which the API answers
# with its documented 422. So 422 counts as an accepted answer to valid data
# here, and nowhere else; every other check stays as it is.
[[operations]]
include-name = "POST /api/v1/definitions"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

[[operations]]
include-name = "PUT /api/v1/definitions/{{name}}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

[[operations]]
include-name = "PATCH /api/v1/definitions/{{name}}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
"#,
        runs = toml_list(&runs),
    )
}

/// Runs schemathesis with every check against `env`; panics with its output
/// unless it passes.
pub(super) async fn check(env: &Env) {
    let bin = tokio::task::spawn_blocking(schemathesis)
        .await
        .expect("provisioning task");
    let seeded = seed(env).await;
    let dir = std::env::temp_dir()
        .join("isoqube-api-tests")
        .join(format!("schemathesis-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("work dir");
    let config_file = dir.join("schemathesis.toml");
    std::fs::write(&config_file, config(&seeded)).expect("write config");
    let url = format!("http://{}/api/v1/openapi.json", env.addr);
    let mut cmd = Command::new(bin);
    cmd.current_dir(&dir)
        .arg("--config-file")
        .arg(&config_file)
        .args(["--no-color", "run", &url, "--checks", "all"])
        .args([
            "--max-examples",
            &knob("ISOQUBE_SCHEMATHESIS_EXAMPLES", MAX_EXAMPLES).to_string(),
        ])
        .args([
            "--seed",
            &knob("ISOQUBE_SCHEMATHESIS_SEED", SEED).to_string(),
        ])
        // A stream of a run ends when the run does; these are finished.
        .args(["--request-timeout", "20"])
        .env("NO_COLOR", "1");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("schemathesis task")
        .expect("schemathesis runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Shown with --nocapture, or with the failure below.
    println!("{text}");
    assert!(
        out.status.success(),
        "schemathesis found mismatches (exit {:?}; config in {}):\n{text}",
        out.status.code(),
        config_file.display()
    );
    // It really tested every operation of the document but the document's
    // own (schemathesis leaves out the endpoint it loaded the schema from;
    // the scenario tests check that one).
    let operations = super::documented(&controlcenter::api::openapi_document()).len() - 1;
    assert!(
        text.contains(&format!("Tested: {operations}\n")),
        "not all {operations} operations were tested:\n{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
