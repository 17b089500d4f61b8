#!/usr/bin/env python3
"""A non-Rust AMQP client (pika) talking MassTransit envelopes with Isoqube.

The broker URL comes from the ISOQUBE_AMQP_URL environment variable (never from
the command line, so credentials stay out of process listings).

    mt_client.py publish --exchange EX --message-type URN --text TEXT
        Publishes a hand-built MassTransit envelope; prints its messageId.
    mt_client.py read --queue Q --expect EXPECT_JSON
        Takes one message off Q (waiting up to 10 s) and checks every envelope
        field and AMQP property against EXPECT_JSON; exit 0 when all match.
"""
import argparse
import datetime
import json
import os
import sys
import time
import uuid

import pika

CONTENT_TYPE = "application/vnd.masstransit+json"
HOST_KEYS = [
    "machineName", "processName", "processId", "assembly", "assemblyVersion",
    "frameworkVersion", "massTransitVersion", "operatingSystemVersion",
]


def connect():
    url = os.environ.get("ISOQUBE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
    return pika.BlockingConnection(pika.URLParameters(url))


def publish(args):
    message_id = str(uuid.uuid4())
    envelope = {
        "messageId": message_id,
        "requestId": None,
        "correlationId": args.correlation_id,
        "conversationId": str(uuid.uuid4()),
        "initiatorId": None,
        "sourceAddress": "rabbitmq://localhost/python-interop",
        "destinationAddress": "rabbitmq://localhost/" + args.exchange,
        "responseAddress": None,
        "faultAddress": None,
        "messageType": [args.message_type],
        "message": {"text": args.text, "n": 42},
        "expirationTime": None,
        "sentTime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "headers": {"X-From": "python"},
        "host": {
            "machineName": "py-host",
            "processName": "python3",
            "processId": os.getpid(),
            "assembly": "interop",
            "assemblyVersion": "1.0.0",
            "frameworkVersion": sys.version.split()[0],
            "massTransitVersion": "8.0.0",
            "operatingSystemVersion": sys.platform,
        },
    }
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish(
        exchange=args.exchange,
        routing_key="",
        body=json.dumps(envelope).encode(),
        properties=pika.BasicProperties(
            content_type=CONTENT_TYPE,
            delivery_mode=2,
            message_id=message_id,
            correlation_id=args.correlation_id,
            headers={"X-From": "python"},
        ),
        mandatory=True,
    )
    conn.close()
    print(message_id)
    return 0


def read(args):
    expect = json.loads(args.expect)
    conn = connect()
    ch = conn.channel()
    deadline = time.time() + 10
    method = None
    while time.time() < deadline:
        method, props, body = ch.basic_get(queue=args.queue, auto_ack=True)
        if method is not None:
            break
        time.sleep(0.1)
    conn.close()
    if method is None:
        print(f"no message in {args.queue}", file=sys.stderr)
        return 1

    problems = []

    def check(what, got, want):
        if got != want:
            problems.append(f"{what}: got {got!r}, want {want!r}")

    # AMQP properties
    check("content_type", props.content_type, CONTENT_TYPE)
    check("delivery_mode", props.delivery_mode, 2)
    try:
        env = json.loads(body)
    except ValueError as e:
        print(f"body is not JSON: {e}", file=sys.stderr)
        return 1
    check("message_id property", props.message_id, env.get("messageId"))
    check("correlation_id property", props.correlation_id, env.get("correlationId"))

    # envelope fields
    try:
        uuid.UUID(env.get("messageId", ""))
    except ValueError:
        problems.append(f"messageId is not a GUID: {env.get('messageId')!r}")
    for key in ["correlationId", "conversationId", "initiatorId", "messageType", "message"]:
        check(key, env.get(key), expect[key])
    # Addresses as MassTransit writes them: rabbitmq://host[/vhost]/name.
    for key in ["sourceAddress", "destinationAddress"]:
        value = env.get(key)
        check(key, value, expect[key])
        if not isinstance(value, str) or not value.startswith("rabbitmq://"):
            problems.append(f"{key}: {value!r} is not a rabbitmq:// address")
    for key in ["requestId", "responseAddress", "faultAddress", "expirationTime"]:
        if env.get(key) is not None:
            problems.append(f"{key}: expected absent/null, got {env.get(key)!r}")
    try:
        sent = datetime.datetime.fromisoformat(env["sentTime"].replace("Z", "+00:00"))
        if abs((datetime.datetime.now(datetime.timezone.utc) - sent).total_seconds()) > 300:
            problems.append(f"sentTime is not recent: {env['sentTime']}")
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        problems.append(f"sentTime is not ISO-8601: {env.get('sentTime')!r} ({e})")
    if not isinstance(env.get("headers"), dict):
        problems.append(f"headers is not an object: {env.get('headers')!r}")
    host = env.get("host")
    if not isinstance(host, dict):
        problems.append(f"host is not an object: {host!r}")
    else:
        for key in HOST_KEYS:
            if host.get(key) in (None, ""):
                problems.append(f"host.{key} missing")
        check("host.processId type", type(host.get("processId")).__name__, "int")
    unknown = set(env) - {
        "messageId", "requestId", "correlationId", "conversationId", "initiatorId",
        "sourceAddress", "destinationAddress", "responseAddress", "faultAddress",
        "messageType", "message", "expirationTime", "sentTime", "headers", "host",
    }
    if unknown:
        problems.append(f"fields MassTransit does not know: {sorted(unknown)}")

    if problems:
        for p in problems:
            print("MISMATCH " + p, file=sys.stderr)
        return 1
    print(json.dumps({"ok": True, "messageId": env["messageId"]}))
    return 0


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("publish")
    p.add_argument("--exchange", required=True)
    p.add_argument("--message-type", required=True)
    p.add_argument("--text", required=True)
    p.add_argument("--correlation-id", default=None)
    r = sub.add_parser("read")
    r.add_argument("--queue", required=True)
    r.add_argument("--expect", required=True)
    args = parser.parse_args()
    try:
        return publish(args) if args.cmd == "publish" else read(args)
    except pika.exceptions.AMQPError as e:
        print(f"AMQP error: {e!r}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
