#!/usr/bin/env python3
"""Checks docker-compose.yml and the Dockerfile without a container engine.

Parses the compose file (PyYAML, anchors and merge keys resolved) and checks what
the deployment promises: RabbitMQ with management and MongoDB with health checks;
the four sample services built from this repository, each `serve --service NAME`
against the broker and the database, with a readiness health check on its
/health/ready endpoint and waiting for healthy dependencies; two `linux-pool`
instances; the control center as a separate, interactive service. Prints what is
wrong and exits 1, or prints "ok".

Usage: check-compose.py [REPO_ROOT]
"""
import pathlib
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

services = compose.get("services") or {}
for name in ["rabbitmq", "mongodb", "default", "linux-pool", "windows-pool", "deployment", "controlcenter"]:
    need(name in services, f"service '{name}' is missing")

rabbit = services.get("rabbitmq", {})
need("management" in str(rabbit.get("image", "")), "rabbitmq must use a management image")
need("healthcheck" in rabbit, "rabbitmq needs a healthcheck")
need("5672:5672" in [str(p) for p in rabbit.get("ports", [])], "rabbitmq must publish 5672")
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
