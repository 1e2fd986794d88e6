#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what is missing, checks
# formatting and lints, runs the Rust tests (unit, property, storage conformance, black-box
# tests of the real binaries), then the Durable Streams conformance suite against
# `tether-state` (embedded, and on Redis + S3) and through `tether-edge`, then the Terraform checks.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tether-test.XXXXXX")
# Servers started by this script, one pid per line (written from subshells too).
PIDFILE="$WORK/pids"
: >"$PIDFILE"
cleanup() {
  while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$PIDFILE"
  while read -r pid; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done <"$PIDFILE"
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n==> %s\n' "$*"; }

# --- prerequisites -----------------------------------------------------------------------
APT_UPDATED=0
apt_install() {
  if ! command -v apt-get >/dev/null; then echo "missing $* and no apt-get to install it" >&2; exit 1; fi
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if [ "$APT_UPDATED" = 0 ]; then $sudo apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}
step "prerequisites"
command -v cargo >/dev/null || { echo "cargo (Rust toolchain) is required" >&2; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
command -v curl >/dev/null || apt_install curl
command -v redis-server >/dev/null || apt_install redis-server
command -v python3 >/dev/null || apt_install python3 python3-venv
# The S3 API server for tests: moto, in its own virtualenv under the user's cache.
MOTO_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/tether/moto-venv"
if [ ! -x "$MOTO_VENV/bin/moto_server" ]; then
  python3 -m venv "$MOTO_VENV" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$MOTO_VENV"; }
  "$MOTO_VENV/bin/pip" install -q 'moto[server]'
fi
export TETHER_MOTO_SERVER="$MOTO_VENV/bin/moto_server"
export TETHER_REDIS_SERVER="$(command -v redis-server)"
# Any credentials satisfy moto; the S3 client reads the standard AWS variables.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
# C toolchain and make: aws-lc-sys, and librdkafka (built from source by rdkafka-sys).
command -v cc >/dev/null && command -v make >/dev/null || apt_install build-essential
# OpenSSL headers and pkg-config: librdkafka is built with TLS (SASL_SSL / SCRAM for MSK).
{ command -v pkg-config >/dev/null && pkg-config --exists openssl; } || apt_install pkg-config libssl-dev
echo "cargo $(cargo --version | cut -d' ' -f2), node $(node --version), npm $(npm --version), $(redis-server --version | cut -d' ' -f1-3), moto $("$MOTO_VENV/bin/pip" show moto 2>/dev/null | sed -n 's/^Version: //p')"

# --- Rust ----------------------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all --check
step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "cargo build"
cargo build --workspace --all-targets --locked
step "Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

# --- Durable Streams conformance ------------------------------------------------------------
# Starts a server in the background and prints the http:// URL it announces ("listening on
# URL" from tether-state, "Running on URL" from moto) on stdout or stderr.
start_server() {
  local name=$1; shift
  "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" &
  local pid=$!
  echo "$pid" >>"$PIDFILE"
  for _ in $(seq 1 300); do
    local url
    url=$(sed -n 's/.*\(listening\|Running\) on \(http:[^ ]*\).*/\2/p' "$WORK/$name.out" "$WORK/$name.log" 2>/dev/null | head -1)
    if [ -n "$url" ]; then echo "$url"; return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "$name did not start; log:" >&2; cat "$WORK/$name.log" >&2; return 1
}

# Runs the suite against URL; vitest exits non-zero on any failure, and the grep guards
# against a run that executed nothing.
conformance() {
  local label=$1 url=$2
  echo "conformance: $label at $url"
  (cd tests/conformance && NO_COLOR=1 FORCE_COLOR=0 CONFORMANCE_TEST_URL="$url" npx vitest run --reporter=default 2>&1) \
    | grep -Ev '^ +(✓|↓) ' | tee "$WORK/conformance-$label.txt"
  grep -Eq 'Tests +[0-9]+ passed' "$WORK/conformance-$label.txt" || { echo "the conformance suite ran no test" >&2; exit 1; }
}

step "Durable Streams conformance suite"
(cd tests/conformance && npm ci --no-audit --no-fund --loglevel=error)
URL=$(start_server tether-state-embedded "$ROOT/target/debug/tether-state" --listen 127.0.0.1:0 --data-dir "$WORK/conformance-embedded")
conformance embedded "$URL"

# The same suite with Redis + S3: a real redis-server and moto on free ports.
REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$WORK/redis.log" 2>&1 &
echo $! >>"$PIDFILE"
S3_URL=$(start_server moto "$TETHER_MOTO_SERVER" -H 127.0.0.1 -p 0)
for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf -X PUT "$S3_URL/tether-conformance" >/dev/null
URL=$(start_server tether-state-redis "$ROOT/target/debug/tether-state" --listen 127.0.0.1:0 \
  --data-dir "$WORK/conformance-redis" --redis-url "redis://127.0.0.1:$REDIS_PORT" \
  --s3-bucket tether-conformance --s3-endpoint "$S3_URL" --s3-region us-east-1 --s3-force-path-style)
conformance redis-s3 "$URL"

# And through an edge in front of that state service. The dev anonymous policy grants
# token-less requests read/write for this run only (it is off by default).
EDGE_URL=$(start_server tether-edge "$ROOT/target/debug/tether-edge" --listen 127.0.0.1:0 --state-url "$URL" --dev-anonymous)
conformance through-edge "$EDGE_URL"

# --- Terraform -----------------------------------------------------------------------------
if [ -f infra/terraform-check.sh ]; then
  step "Terraform checks"
  bash infra/terraform-check.sh
fi

# --- Containers ------------------------------------------------------------------------------
step "container checks (hadolint, compose schema, Dockerfile contract)"
bash infra/container-check.sh

step "all tests passed"
