#!/usr/bin/env sh
# Creates the Python virtualenv the AMQP interop test uses (target/pyenv, with pika).
# Idempotent; the test (crates/isoqube/tests/amqp_interop.rs) runs the same steps itself.
set -eu
cd "$(dirname "$0")/.."
VENV=target/pyenv
if ! "$VENV/bin/python" -c "import pika" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet pika==1.3.2
fi
"$VENV/bin/python" -c "import pika; print('pika', pika.__version__)"
