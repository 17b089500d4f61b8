#!/usr/bin/env bash
# Deletes the queues and exchanges the tests and benchmarks left on the local
# RabbitMQ. Every test names its objects "<kind>-<hex id>.<name>" (kinds: t, r, p,
# h, cc, api, tui, bench, and bench-raw and bench-floor for the raw lapin sides of the chain
# benchmark); nothing else on the broker is touched. The shared
# behaviour suite has no teardown hook, so scripts/test.sh runs this before and
# after the suite: durable queues left over from many runs make a broker restart
# recover thousands of queues and stall (seen: 3419 queues, start_app hung).
# Usage: scripts/amqp-clean-test-objects.sh [extended regex]
# Broker URL from ISOQUBE_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/%2f);
# names are listed with rabbitmqctl (default vhost), deleted over AMQP with pika.
set -euo pipefail
cd "$(dirname "$0")/.."
PATTERN="${1:-^(t|r|p|h|cc|api|tui|bench|bench-raw|bench-floor)-[0-9a-f]+\.}"
scripts/interop-venv.sh >/dev/null
{
  timeout 120 rabbitmqctl list_queues -q --no-table-headers name | grep -E "$PATTERN" | sed 's/^/queue /' || true
  timeout 120 rabbitmqctl list_exchanges -q --no-table-headers name | grep -E "$PATTERN" | sed 's/^/exchange /' || true
} | target/pyenv/bin/python -c '
import os, sys, pika
url = os.environ.get("ISOQUBE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
conn = pika.BlockingConnection(pika.URLParameters(url))
ch = conn.channel()
n = 0
for line in sys.stdin:
    kind, _, name = line.strip().partition(" ")
    if not name:
        continue
    try:
        (ch.queue_delete if kind == "queue" else ch.exchange_delete)(name)
        n += 1
    except pika.exceptions.ChannelClosedByBroker:
        ch = conn.channel()
conn.close()
print(f"deleted {n} test queues/exchanges")
'
