#!/usr/bin/env python3
"""A non-Rust AMQP client (pika) talking MassTransit envelopes with Isoqube.

The broker URL comes from the ISOQUBE_AMQP_URL environment variable (never from
the command line, so credentials stay out of process listings).

    mt_client.py publish --exchange EX --message-type URN --text TEXT
            [--raw] [--content-type CT] [--redelivery-count N] [--null-text]
            [--request-id ID --response-address ADDR]
        Publishes a MassTransit envelope built from fixtures/envelope.json
        (or, with --raw, the bare message as application/json, as
        MassTransit's raw JSON serializer sends it); prints its messageId.
    mt_client.py read --queue Q --expect EXPECT_JSON
        Takes one message off Q (waiting up to 10 s) and checks every envelope
        field and AMQP property against EXPECT_JSON; exit 0 when all match.
    mt_client.py check-error --queue Q --expect EXPECT_JSON
        Takes one message off a `_error` queue and checks MassTransit's whole
        header set and the original AMQP properties.
    mt_client.py check-skipped --queue Q --message-id ID
        Takes one message off a `_skipped` queue: MT-Reason dead-letter.
    mt_client.py read-fault --queue Q --expect EXPECT_JSON
        Takes one Fault<T> off Q and checks its envelope and payload.
    mt_client.py read-response --queue Q --expect EXPECT_JSON
        Takes one response off Q (a request client's endpoint) and checks its
        requestId, type and message.
    mt_client.py respond --queue Q --response-type URN
        Plays a MassTransit consumer answering a request client: takes one
        request off Q (waiting up to 20 s), checks its requestId and
        responseAddress as MassTransit's request client writes them, and sends
        the response (requestId copied, payload {"text": "re: " + text}) to the
        endpoint of the responseAddress, as RespondAsync does. Prints the request.
    mt_client.py publish-fault --exchange EX --fault-type URN --message-type URN
            --text TEXT --faulted-message-id ID
        Publishes a Fault<T> as MassTransit does when a consumer of T fails
        (payload from fixtures/fault.json); prints its messageId.
"""
import argparse
import datetime
import json
import os
import sys
import time
import uuid

import pika

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")

CONTENT_TYPE = "application/vnd.masstransit+json"
HOST_KEYS = [
    "machineName", "processName", "processId", "assembly", "assemblyVersion",
    "frameworkVersion", "massTransitVersion", "operatingSystemVersion",
]


def connect():
    url = os.environ.get("ISOQUBE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
    return pika.BlockingConnection(pika.URLParameters(url))


def take(queue, timeout=10):
    """One message off `queue` (acknowledged), waiting up to `timeout` s."""
    conn = connect()
    ch = conn.channel()
    deadline = time.time() + timeout
    got = (None, None, None)
    while time.time() < deadline:
        got = ch.basic_get(queue=queue, auto_ack=True)
        if got[0] is not None:
            break
        time.sleep(0.1)
    conn.close()
    return got


def publish(args):
    message_id = str(uuid.uuid4())
    with open(os.path.join(FIXTURES, "envelope.json")) as f:
        envelope = json.load(f)
    message = {"text": None if args.null_text else args.text, "n": 42}
    envelope.update({
        "messageId": message_id,
        "correlationId": args.correlation_id,
        "conversationId": str(uuid.uuid4()),
        "destinationAddress": "rabbitmq://localhost/" + args.exchange,
        "messageType": args.message_type or [],
        "message": message,
        "sentTime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "headers": {"X-From": "python"},
        "requestId": args.request_id,
        "responseAddress": args.response_address,
    })
    envelope["host"]["processId"] = os.getpid()
    headers = {"X-From": "python"}
    if args.redelivery_count is not None:
        headers["MT-Redelivery-Count"] = args.redelivery_count
    body = message if args.raw else envelope
    content_type = args.content_type or ("application/json" if args.raw else CONTENT_TYPE)
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish(
        exchange=args.exchange,
        routing_key="",
        body=json.dumps(body).encode(),
        properties=pika.BasicProperties(
            content_type=content_type,
            delivery_mode=2,
            message_id=message_id,
            correlation_id=args.correlation_id,
            app_id="mt-client",
            headers=headers,
        ),
        mandatory=True,
    )
    conn.close()
    print(message_id)
    return 0


FAULT_HEADERS = [
    "MT-Fault-ExceptionType", "MT-Fault-Message", "MT-Fault-Timestamp",
    "MT-Fault-StackTrace", "MT-Fault-ConsumerType", "MT-Fault-MessageType",
    "MT-Fault-InputAddress",
]
HOST_HEADERS = [
    "MT-Host-MachineName", "MT-Host-ProcessName", "MT-Host-ProcessId",
    "MT-Host-Assembly", "MT-Host-AssemblyVersion", "MT-Host-FrameworkVersion",
    "MT-Host-MassTransitVersion", "MT-Host-OperatingSystemVersion",
]


def text(v):
    return v.decode() if isinstance(v, bytes) else v


def report(problems, out):
    if problems:
        for p in problems:
            print("MISMATCH " + p, file=sys.stderr)
        return 1
    print(json.dumps(out))
    return 0


def check_error(args):
    expect = json.loads(args.expect)
    method, props, body = take(args.queue)
    if method is None:
        print(f"no message in {args.queue}", file=sys.stderr)
        return 1
    h = {k: text(v) for k, v in (props.headers or {}).items()}
    problems = []
    if h.get("MT-Reason") != "fault":
        problems.append(f"MT-Reason: {h.get('MT-Reason')!r}")
    for k in FAULT_HEADERS + HOST_HEADERS:
        if k not in h:
            problems.append(f"{k} missing")
    retries = expect.get("retryCount")
    if retries:
        if h.get("MT-Fault-RetryCount") != retries:
            problems.append(f"MT-Fault-RetryCount: {h.get('MT-Fault-RetryCount')!r}, want {retries}")
    elif "MT-Fault-RetryCount" in h:
        problems.append("MT-Fault-RetryCount written for a consumer never retried")
    redelivered = expect.get("redeliveryCount")
    if redelivered and h.get("MT-Fault-RedeliveryCount") != redelivered:
        problems.append(f"MT-Fault-RedeliveryCount: {h.get('MT-Fault-RedeliveryCount')!r}, want {redelivered}")
    for k in ["MT-Fault-Message", "MT-Fault-InputAddress", "MT-Fault-MessageType"]:
        if k in expect and h.get(k) != expect[k]:
            problems.append(f"{k}: {h.get(k)!r}, want {expect[k]!r}")
    if not str(h.get("MT-Fault-InputAddress", "")).startswith("rabbitmq://"):
        problems.append(f"MT-Fault-InputAddress not a rabbitmq:// address: {h.get('MT-Fault-InputAddress')!r}")
    # the original AMQP properties, kept when moving
    if props.message_id != expect["messageId"]:
        problems.append(f"message_id: {props.message_id!r}")
    if props.content_type != expect.get("contentType", CONTENT_TYPE):
        problems.append(f"content_type: {props.content_type!r}")
    if props.app_id != "mt-client":
        problems.append(f"app_id: {props.app_id!r}")
    if h.get("X-From") != "python":
        problems.append("the message's own header X-From is gone")
    return report(problems, {"ok": True, "headers": {k: h[k] for k in sorted(h) if isinstance(h[k], (str, int))}})


def check_skipped(args):
    method, props, body = take(args.queue)
    if method is None:
        print(f"no message in {args.queue}", file=sys.stderr)
        return 1
    h = {k: text(v) for k, v in (props.headers or {}).items()}
    problems = []
    if h.get("MT-Reason") != "dead-letter":
        problems.append(f"MT-Reason: {h.get('MT-Reason')!r}")
    if props.message_id != args.message_id:
        problems.append(f"message_id: {props.message_id!r}")
    if props.app_id != "mt-client":
        problems.append(f"app_id: {props.app_id!r}")
    return report(problems, {"ok": True})


def read_fault(args):
    expect = json.loads(args.expect)
    method, props, body = take(args.queue)
    if method is None:
        print(f"no message in {args.queue}", file=sys.stderr)
        return 1
    problems = []
    env = json.loads(body)
    if props.content_type != CONTENT_TYPE:
        problems.append(f"content_type: {props.content_type!r}")
    types = env.get("messageType") or []
    if not types or types[0] != expect["faultType"]:
        problems.append(f"messageType: {types!r}, want {expect['faultType']!r} first")
    if env.get("initiatorId") != expect["faultedMessageId"]:
        problems.append(f"initiatorId: {env.get('initiatorId')!r}")
    m = env.get("message") or {}
    try:
        uuid.UUID(m.get("faultId", ""))
    except (ValueError, TypeError, AttributeError):
        problems.append(f"faultId is not a GUID: {m.get('faultId')!r}")
    if m.get("faultedMessageId") != expect["faultedMessageId"]:
        problems.append(f"faultedMessageId: {m.get('faultedMessageId')!r}")
    try:
        datetime.datetime.fromisoformat(m["timestamp"].replace("Z", "+00:00"))
    except (KeyError, ValueError, AttributeError) as e:
        problems.append(f"timestamp: {m.get('timestamp')!r} ({e})")
    exceptions = m.get("exceptions") or [{}]
    for k in ["exceptionType", "message", "stackTrace"]:
        if k not in exceptions[0]:
            problems.append(f"exceptions[0].{k} missing")
    if exceptions[0].get("message") != expect["exceptionMessage"]:
        problems.append(f"exceptions[0].message: {exceptions[0].get('message')!r}")
    host = m.get("host") or {}
    for k in HOST_KEYS:
        if k not in host:
            problems.append(f"host.{k} missing")
    if m.get("faultMessageTypes") != expect["faultMessageTypes"]:
        problems.append(f"faultMessageTypes: {m.get('faultMessageTypes')!r}")
    if m.get("message") != expect["message"]:
        problems.append(f"message: {m.get('message')!r}")
    return report(problems, {"ok": True, "faultId": m.get("faultId")})


def read_response(args):
    expect = json.loads(args.expect)
    method, props, body = take(args.queue)
    if method is None:
        print(f"no message in {args.queue}", file=sys.stderr)
        return 1
    env = json.loads(body)
    problems = []
    for k in ["requestId", "messageType", "message"]:
        if env.get(k) != expect[k]:
            problems.append(f"{k}: {env.get(k)!r}, want {expect[k]!r}")
    if props.content_type != CONTENT_TYPE:
        problems.append(f"content_type: {props.content_type!r}")
    return report(problems, {"ok": True})


def endpoint_of(address):
    """The endpoint name of a MassTransit address: the last path segment of
    rabbitmq://host[:port]/[vhost/]name[?options] (or queue:/exchange:name)."""
    for short in ("queue:", "exchange:"):
        if address.startswith(short):
            return address[len(short):].split("?")[0]
    path = address.split("://", 1)[1].split("?")[0]
    return path.rsplit("/", 1)[1]


def respond(args):
    method, props, body = take(args.queue, timeout=20)
    if method is None:
        print(f"no request in {args.queue}", file=sys.stderr)
        return 1
    request = json.loads(body)
    problems = []
    try:
        uuid.UUID(request.get("requestId") or "")
    except ValueError:
        problems.append(f"requestId is not a GUID: {request.get('requestId')!r}")
    address = request.get("responseAddress") or ""
    if not address.startswith("rabbitmq://") or "temporary=true" not in address:
        problems.append(f"responseAddress is not a temporary rabbitmq:// endpoint: {address!r}")
    if props.content_type != CONTENT_TYPE:
        problems.append(f"content_type: {props.content_type!r}")
    if problems:
        return report(problems, {})
    with open(os.path.join(FIXTURES, "envelope.json")) as f:
        response = json.load(f)
    response.update({
        "messageId": str(uuid.uuid4()),
        "requestId": request["requestId"],
        "correlationId": request.get("correlationId"),
        "conversationId": request.get("conversationId") or str(uuid.uuid4()),
        "initiatorId": request["messageId"],
        "sourceAddress": "rabbitmq://localhost/" + args.queue,
        "destinationAddress": address,
        "messageType": [args.response_type],
        "message": {"text": "re: " + request["message"]["text"]},
        "sentTime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "headers": {},
    })
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish(
        exchange=endpoint_of(address),
        routing_key="",
        body=json.dumps(response).encode(),
        properties=pika.BasicProperties(
            content_type=CONTENT_TYPE, delivery_mode=2,
            message_id=response["messageId"], correlation_id=response["correlationId"],
        ),
        mandatory=True,
    )
    conn.close()
    return report([], {"ok": True, "request": request})


def publish_fault(args):
    with open(os.path.join(FIXTURES, "envelope.json")) as f:
        envelope = json.load(f)
    with open(os.path.join(FIXTURES, "fault.json")) as f:
        fault = json.load(f)
    message_id = str(uuid.uuid4())
    fault.update({
        "faultId": str(uuid.uuid4()),
        "faultedMessageId": args.faulted_message_id,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "faultMessageTypes": [args.message_type],
        "message": {"text": args.text, "n": 42},
    })
    fault["exceptions"][0]["message"] = "python consumer failed"
    envelope.update({
        "messageId": message_id,
        "conversationId": str(uuid.uuid4()),
        "initiatorId": args.faulted_message_id,
        "destinationAddress": "rabbitmq://localhost/" + args.exchange,
        # MassTransit lists the closed generic first, then the open one.
        "messageType": [args.fault_type, "urn:message:MassTransit:Fault"],
        "message": fault,
        "sentTime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    })
    conn = connect()
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish(
        exchange=args.exchange, routing_key="", body=json.dumps(envelope).encode(),
        properties=pika.BasicProperties(
            content_type=CONTENT_TYPE, delivery_mode=2, message_id=message_id,
        ),
        mandatory=True,
    )
    conn.close()
    print(message_id)
    return 0


def read(args):
    expect = json.loads(args.expect)
    method, props, body = take(args.queue)
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
    p.add_argument("--message-type", action="append")
    p.add_argument("--text", required=True)
    p.add_argument("--correlation-id", default=None)
    p.add_argument("--raw", action="store_true")
    p.add_argument("--content-type", default=None)
    p.add_argument("--redelivery-count", type=int, default=None)
    p.add_argument("--null-text", action="store_true")
    p.add_argument("--request-id", default=None)
    p.add_argument("--response-address", default=None)
    r = sub.add_parser("read")
    r.add_argument("--queue", required=True)
    r.add_argument("--expect", required=True)
    e = sub.add_parser("check-error")
    e.add_argument("--queue", required=True)
    e.add_argument("--expect", required=True)
    k = sub.add_parser("check-skipped")
    k.add_argument("--queue", required=True)
    k.add_argument("--message-id", required=True)
    f = sub.add_parser("read-fault")
    f.add_argument("--queue", required=True)
    f.add_argument("--expect", required=True)
    q = sub.add_parser("read-response")
    q.add_argument("--queue", required=True)
    q.add_argument("--expect", required=True)
    a = sub.add_parser("respond")
    a.add_argument("--queue", required=True)
    a.add_argument("--response-type", required=True)
    pf = sub.add_parser("publish-fault")
    pf.add_argument("--exchange", required=True)
    pf.add_argument("--fault-type", required=True)
    pf.add_argument("--message-type", required=True)
    pf.add_argument("--text", required=True)
    pf.add_argument("--faulted-message-id", required=True)
    args = parser.parse_args()
    commands = {
        "respond": respond, "publish-fault": publish_fault,
        "publish": publish, "read": read, "check-error": check_error,
        "check-skipped": check_skipped, "read-fault": read_fault,
        "read-response": read_response,
    }
    try:
        return commands[args.cmd](args)
    except pika.exceptions.AMQPError as e:
        print(f"AMQP error: {e!r}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
