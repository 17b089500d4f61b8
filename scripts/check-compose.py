#!/usr/bin/env python3
"""Checks docker-compose.yml and the Dockerfile without a container engine.

Parses the compose file (PyYAML, anchors and merge keys resolved) and checks what
the deployment promises: RabbitMQ with management and MongoDB with health checks;
the four sample services built from this repository, each `serve --service NAME`
against the broker and the database, with a readiness health check on its
/health/ready endpoint and waiting for healthy dependencies; two `linux-pool`
instances; the control center as a separate, interactive service; `api`, the
control center's `serve` (HTTP API + scheduler) with its readiness health check and
a required token; RabbitMQ's data in a volume under a fixed host name; every
published host port a `${ISOQUBE_..._PORT:-N}` variable (checked with the defaults
interpolated as compose does). Prints what is wrong and exits 1, or prints "ok".

Usage: check-compose.py [REPO_ROOT]
"""
import pathlib
import re
import sys

import yaml

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
problems = []


def need(cond, what):
    if not cond:
        problems.append(what)


try:
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
except (OSError, yaml.YAMLError) as e:
    print(f"docker-compose.yml does not parse: {e}")
    sys.exit(1)

VAR = re.compile(r"\$\{(\w+)(?::-([^}]*)|:\?[^}]*)?\}")


def interpolated(text):
    """`text` with `${VAR:-default}` as compose reads it with VAR unset."""
    return VAR.sub(lambda m: m.group(2) or "", str(text))


def ports(svc):
    return [interpolated(p) for p in svc.get("ports", [])]


services = compose.get("services") or {}
for name, svc in services.items():
    for p in svc.get("ports", []):
        host = str(p).rsplit(":", 1)[0]
        need(re.fullmatch(r"\$\{ISOQUBE_\w+_PORT:-\d+\}", host) is not None,
             f"{name}: host port of '{p}' must be a variable with a default (${{ISOQUBE_..._PORT:-N}})")
for name in ["rabbitmq", "mongodb", "default", "linux-pool", "windows-pool", "deployment", "controlcenter", "api"]:
    need(name in services, f"service '{name}' is missing")

rabbit = services.get("rabbitmq", {})
need("management" in str(rabbit.get("image", "")), "rabbitmq must use a management image")
need("healthcheck" in rabbit, "rabbitmq needs a healthcheck")
need("5672:5672" in ports(rabbit), "rabbitmq must publish 5672")
need(any(str(v).endswith(":/var/lib/rabbitmq") for v in rabbit.get("volumes", [])),
     "rabbitmq must keep /var/lib/rabbitmq in a volume")
need(rabbit.get("hostname"), "rabbitmq needs a fixed hostname (its data directory is named after it)")
for v in rabbit.get("volumes", []):
    vol = str(v).split(":")[0]
    need(vol in (compose.get("volumes") or {}), f"volume '{vol}' must be declared")
mongo = services.get("mongodb", {})
need(str(mongo.get("image", "")).startswith("mongo:"), "mongodb must use the mongo image")
need("healthcheck" in mongo, "mongodb needs a healthcheck")

for name in ["default", "linux-pool", "windows-pool", "deployment"]:
    svc = services.get(name, {})
    cmd = svc.get("command", [])
    need(cmd[:2] == ["sample-build-server", "serve"] and cmd[2:] == ["--service", name],
         f"{name}: command must be sample-build-server serve --service {name}, got {cmd}")
    need(svc.get("build") in (".", {"context": "."}), f"{name}: must build from the repository root")
    env = svc.get("environment", {})
    need(str(env.get("ISOQUBE_AMQP_URL", "")).startswith("amqp://") and "rabbitmq" in env.get("ISOQUBE_AMQP_URL", ""),
         f"{name}: ISOQUBE_AMQP_URL must point at the rabbitmq service")
    need("mongodb:27017" in str(env.get("ISOQUBE_MONGO_URL", "")), f"{name}: ISOQUBE_MONGO_URL must point at mongodb")
    port = str(env.get("ISOQUBE_HEALTH_PORT", ""))
    need(port.isdigit(), f"{name}: ISOQUBE_HEALTH_PORT must be set")
    test = " ".join(svc.get("healthcheck", {}).get("test", []))
    need(f":{port}/health/ready" in test, f"{name}: healthcheck must probe /health/ready on port {port}")
    deps = svc.get("depends_on", {})
    for dep in ["rabbitmq", "mongodb"]:
        need(isinstance(deps, dict) and deps.get(dep, {}).get("condition") == "service_healthy",
             f"{name}: must wait for {dep} to be healthy")

need((services.get("linux-pool", {}).get("deploy") or {}).get("replicas") == 2, "linux-pool must run 2 instances")
cc = services.get("controlcenter", {})
need(cc.get("entrypoint") == ["controlcenter"], "controlcenter: entrypoint must be the controlcenter binary")
need(cc.get("stdin_open") and cc.get("tty"), "controlcenter: needs stdin_open and tty for the TUI")
need("tools" in (cc.get("profiles") or []), "controlcenter: should not start with `up` (profile tools)")
api = services.get("api", {})
need(api.get("entrypoint") == ["controlcenter"] and api.get("command") == ["serve"],
     "api: must run controlcenter serve")
api_env = api.get("environment", {})
need(str(api_env.get("ISOQUBE_API_LISTEN", "")).endswith(":8080"), "api: must listen on 8080 (ISOQUBE_API_LISTEN)")
need(":?" in str(api_env.get("ISOQUBE_API_TOKEN", "")), "api: ISOQUBE_API_TOKEN must be required (${ISOQUBE_API_TOKEN:?...}), never a default")
need("8080:8080" in ports(api), "api: must publish 8080 (by default)")
need("127.0.0.1:8080/health/ready" in " ".join(api.get("healthcheck", {}).get("test", [])),
     "api: healthcheck must probe /health/ready on 8080")
for dep in ["rabbitmq", "mongodb"]:
    need((api.get("depends_on") or {}).get(dep, {}).get("condition") == "service_healthy",
         f"api: must wait for {dep} to be healthy")

dockerfile = (root / "Dockerfile").read_text() if (root / "Dockerfile").exists() else ""
stages = [l for l in dockerfile.splitlines() if l.upper().startswith("FROM ")]
need(len(stages) >= 2, "Dockerfile must be multi-stage")
need("sample-build-server" in dockerfile and "controlcenter" in dockerfile, "Dockerfile must build both binaries")
need("COPY --from=" in dockerfile, "Dockerfile must copy the binaries from the build stage")
for line in dockerfile.splitlines():
    if line.startswith("COPY ") and "--from" not in line:
        for src in line.split()[1:-1]:
            need((root / src).exists(), f"Dockerfile copies {src}, which does not exist")

if problems:
    for p in problems:
        print(f"- {p}")
    sys.exit(1)
print("ok")
