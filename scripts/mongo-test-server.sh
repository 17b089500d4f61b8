#!/usr/bin/env bash
# Starts/stops SecantusDB, the MongoDB-wire-compatible test server (DESIGN.md §6).
#
#   scripts/mongo-test-server.sh start [STORAGE]  provision the pinned version in its own
#                                                 venv (target/secantus-venv), start it on a
#                                                 free port, wait until it accepts
#                                                 connections, write the URL to
#                                                 target/secantus.url and print it.
#                                                 STORAGE defaults to :memory:.
#   scripts/mongo-test-server.sh stop             kill the server started by `start`.
#   scripts/mongo-test-server.sh url              print the URL of the running server.
#
# Environment: SECANTUS_PORT (fixed port instead of a free one), SECANTUS_STATE_DIR
# (where the pid/url/log files go; default target/), SECANTUS_VENV (default
# target/secantus-venv). Typical use in a test entry script:
#
#   export ISOQUBE_MONGO_URL="$(scripts/mongo-test-server.sh start)"
#   cargo test ...; scripts/mongo-test-server.sh stop
set -euo pipefail

VERSION="0.7.0b3"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="${SECANTUS_VENV:-$TARGET/secantus-venv}"
STATE="${SECANTUS_STATE_DIR:-$TARGET}"
PIDFILE="$STATE/secantus.pid"
URLFILE="$STATE/secantus.url"
LOGFILE="$STATE/secantus.log"
PY="${PYTHON:-python3}"

die() { echo "mongo-test-server: $*" >&2; exit 1; }

provision() {
    if [[ -x "$VENV/bin/secantusd-py" ]] &&
        "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('secantusdb') != '$VERSION')" 2>/dev/null; then
        return
    fi
    mkdir -p "$(dirname "$VENV")"
    [[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV" >&2 || die "cannot create venv $VENV"
    "$VENV/bin/pip" install -q "secantusdb==$VERSION" >&2 || die "cannot install secantusdb==$VERSION"
}

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

# Sends an OP_MSG {hello: 1} and checks a reply comes back: the server speaks the wire
# protocol, not merely listens.
probe() { # port
    "$VENV/bin/python" - "$1" <<'PYEOF'
import socket, struct, sys
port = int(sys.argv[1])
def cstr(s): return s.encode() + b"\0"
doc = b"\x10" + cstr("hello") + struct.pack("<i", 1) + b"\x02" + cstr("$db") + struct.pack("<i", 6) + cstr("admin")
doc = struct.pack("<i", len(doc) + 5) + doc + b"\0"
body = struct.pack("<I", 0) + b"\0" + doc
msg = struct.pack("<iiii", 16 + len(body), 1, 0, 2013) + body
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.settimeout(5)
    s.sendall(msg)
    head = s.recv(16)
    sys.exit(0 if len(head) == 16 else 1)
except OSError:
    sys.exit(1)
PYEOF
}

start() {
    local storage="${1:-:memory:}"
    mkdir -p "$STATE"
    # Several test binaries may ask at once: one starts the server, the others reuse it.
    exec 9>"$STATE/secantus.lock"
    flock 9
    if running && [[ -f "$URLFILE" ]]; then cat "$URLFILE"; return; fi
    provision
    local port="${SECANTUS_PORT:-$(free_port)}"
    nohup "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$port" --storage-path "$storage" \
        --log-level WARNING >"$LOGFILE" 2>&1 </dev/null 9>&- &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 300); do
        if probe "$port"; then
            echo "mongodb://127.0.0.1:$port/?directConnection=true" >"$URLFILE"
            cat "$URLFILE"
            return
        fi
        kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { cat "$LOGFILE" >&2; die "server exited during start-up"; }
        sleep 0.1
    done
    stop
    die "server did not accept connections on port $port within 30 s (log: $LOGFILE)"
}

stop() {
    if [[ -f "$PIDFILE" ]]; then
        local pid; pid="$(cat "$PIDFILE")"
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$PIDFILE" "$URLFILE"
    fi
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) stop ;;
    url) running && [[ -f "$URLFILE" ]] && cat "$URLFILE" || die "not running" ;;
    *) die "usage: $0 start [STORAGE]|stop|url" ;;
esac
