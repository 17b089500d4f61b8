#!/usr/bin/env bash
# The whole test suite, with the services it needs (the README's set-up commands):
#   - RabbitMQ on 127.0.0.1:5672 (guest/guest): started when it is down, installed
#     with apt-get when it is missing;
#   - socat and openssl for the amqps test (installed with apt-get when missing);
#   - SecantusDB, the MongoDB-wire test server (pinned, own venv, free port),
#     started here and stopped at the end; its URL is exported as ISOQUBE_MONGO_URL.
# Then `cargo test --workspace`. A service that cannot be provisioned fails the run;
# nothing is skipped. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "test.sh: $*" >&2; }

apt_install() {
    if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@"
}

rabbit_ready() { timeout 30 rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1; }

# Queues and exchanges the tests created (their names carry a test prefix). A local
# broker only: with ISOQUBE_AMQP_URL set, the broker is someone else's.
clean_broker() {
    if [[ -z "${ISOQUBE_AMQP_URL:-}" ]]; then
        bash scripts/amqp-clean-test-objects.sh >&2 || say "could not delete leftover test queues (continuing)"
    fi
}

ensure_rabbitmq() {
    if [[ -n "${ISOQUBE_AMQP_URL:-}" ]]; then
        say "using the broker at ISOQUBE_AMQP_URL"
        return
    fi
    if ! command -v rabbitmq-server >/dev/null 2>&1; then
        say "RabbitMQ is not installed: installing it (apt-get install -y rabbitmq-server)"
        apt_install rabbitmq-server
    fi
    if rabbit_ready; then return; fi
    say "RabbitMQ is down: starting it (rabbitmq-server -detached)"
    rabbitmq-server -detached >/dev/null 2>&1 || true
    for _ in $(seq 1 180); do
        if rabbit_ready; then say "RabbitMQ is ready"; return; fi
        sleep 1
    done
    say "RabbitMQ did not become ready on 127.0.0.1:5672 within 180 s"
    exit 1
}

ensure_rabbitmq
clean_broker

# The amqps test puts socat (TLS, certificates made with openssl) in front of the broker.
for tool in socat openssl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        say "$tool is not installed: installing it (apt-get install -y $tool)"
        apt_install "$tool"
    fi
done

# The compose-file check parses YAML with PyYAML.
if ! python3 -c "import yaml" >/dev/null 2>&1; then
    say "installing PyYAML for the compose-file check"
    python3 -m pip install --quiet --user pyyaml || python3 -m pip install --quiet pyyaml
fi

MONGO_STARTED=""
if [[ -z "${ISOQUBE_MONGO_URL:-}" ]]; then
    ISOQUBE_MONGO_URL="$(bash scripts/mongo-test-server.sh start)"
    export ISOQUBE_MONGO_URL
    MONGO_STARTED=1
    say "MongoDB-wire test server at $ISOQUBE_MONGO_URL"
fi
cleanup() {
    clean_broker
    if [[ -n "$MONGO_STARTED" ]]; then bash scripts/mongo-test-server.sh stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# Test binaries run one after another (tests inside one binary run in parallel), so
# the broker-restart test never overlaps another broker test.
cargo test --workspace "$@"
