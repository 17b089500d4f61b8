#!/usr/bin/env sh
# Deletes the queues and exchanges the AMQP tests left on the local RabbitMQ
# (names starting with the test prefix "t-"). The behaviour-suite tests cannot
# clean up after themselves (the shared suite has no teardown hook).
# Usage: scripts/amqp-clean-test-objects.sh [prefix]     (default "t-")
# Broker URL from ISOQUBE_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/%2f);
# names are listed with rabbitmqctl (default vhost), deleted over AMQP with pika.
set -eu
cd "$(dirname "$0")/.."
PREFIX="${1:-t-}"
scripts/interop-venv.sh >/dev/null
{
  rabbitmqctl list_queues -q name | grep "^$PREFIX" | sed 's/^/queue /' || true
  rabbitmqctl list_exchanges -q name | grep "^$PREFIX" | sed 's/^/exchange /' || true
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
