#!/usr/bin/env bash
# Benchmarks (not tests: no timing is asserted). Builds the release binaries, starts every server
# on a free loopback port with its own data directory, runs `tether-bench run` against all of them
# in the same run, and stops them by pid on exit.
#
# The workload (default 200k chunks x 256 B, 32 concurrent producers, one chunk per POST, then one
# catch-up reader from offset -1) runs against:
#   tether    tether-state, embedded storage, fsync on (BENCH_FSYNC=false: --fsync false)
#   node      the Durable Streams Node reference server (@durable-streams/server), in memory
#   electric  Electric's Rust server (crate durable-streams, binary durable-streams-server),
#             --durability wal (group-commit fdatasync; BENCH_FSYNC=false: --durability memory)
# and prints chunks/s for appends and reads, append latency percentiles, and tether's ratios.
# The peers are installed on first use into ${XDG_CACHE_HOME:-~/.cache}/tether (never into the
# repository); a peer that cannot be installed or started is skipped with a loud warning.
#
# Env: BENCH_CHUNKS (200000), BENCH_SIZE (256), BENCH_PRODUCERS (32), BENCH_FSYNC (true),
#      BENCH_PEERS (1; 0: tether only), BENCH_NODE_VERSION (0.3.7), BENCH_ELECTRIC_VERSION (0.1.5),
#      BENCH_REDIS (0; 1: also tether-state on Redis + S3 (moto) as a target, then the Redis tier
#      reads; needs redis-server and moto, which `bash infra/test.sh` installs).
# Extra arguments are passed to tether-bench (e.g. --producer-headers).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
T0=$SECONDS
CHUNKS=${BENCH_CHUNKS:-200000}
SIZE=${BENCH_SIZE:-256}
PRODUCERS=${BENCH_PRODUCERS:-32}
FSYNC=${BENCH_FSYNC:-true}
NODE_VERSION=${BENCH_NODE_VERSION:-0.3.7}
ELECTRIC_VERSION=${BENCH_ELECTRIC_VERSION:-0.1.5}
case "$FSYNC" in true | false) ;; *) echo "BENCH_FSYNC must be true or false" >&2; exit 2 ;; esac
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/tether"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tether-bench.XXXXXX")
PIDFILE="$WORK/pids"
: >"$PIDFILE"
cleanup() {
  while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$PIDFILE"
  for pid in $(cat "$PIDFILE"); do
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
warn() { printf '\n!!! %s\n\n' "$*" >&2; }

free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
  fi
}
# launch NAME CMD...: runs a server in the background, logging to $WORK/NAME.log.
launch() {
  local name=$1; shift
  "$@" >"$WORK/$name.log" 2>&1 &
  local pid=$!
  echo "$pid" >>"$PIDFILE"
  echo "$pid" >"$WORK/$name.pid"
}
# ready NAME URL: polls URL (any HTTP answer counts) for up to 60 s while NAME's process lives.
ready() {
  local pid; pid=$(cat "$WORK/$1.pid")
  for _ in $(seq 1 600); do
    curl -s -o /dev/null --max-time 2 "$2" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$1 did not become ready at $2; its log:" >&2
  tail -20 "$WORK/$1.log" >&2
  return 1
}
# announced NAME: the http:// URL a server printed ("listening on URL" / "Running on URL").
announced() {
  local pid; pid=$(cat "$WORK/$1.pid")
  for _ in $(seq 1 600); do
    local url
    url=$(sed -n 's/.*\(listening\|Running\) on \(http:[^ ]*\).*/\2/p' "$WORK/$1.log" | head -1)
    if [ -n "$url" ]; then echo "$url"; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$1 did not start; its log:" >&2
  tail -20 "$WORK/$1.log" >&2
  return 1
}
stop() {
  local pid; pid=$(cat "$WORK/$1.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

echo "==> building release binaries"
cargo build --release --locked -p tether-state -p tether-tests --bin tether-state --bin tether-bench
STATE="$ROOT/target/release/tether-state"
BENCH="$ROOT/target/release/tether-bench"
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }

TARGETS=()
VERSIONS=("tether-state $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?') (fsync $FSYNC)")

echo "==> starting tether-state (embedded, fsync $FSYNC)"
PORT=$(free_port)
launch tether "$STATE" --listen "127.0.0.1:$PORT" --data-dir "$WORK/tether" --fsync "$FSYNC"
ready tether "http://127.0.0.1:$PORT/healthz"
TARGETS+=(--target "tether=http://127.0.0.1:$PORT")

if [ "${BENCH_PEERS:-1}" = 1 ]; then
  # --- the Durable Streams Node reference server, in memory --------------------------------
  NODE_DIR="$CACHE/bench-node"
  NODE_PKG="$NODE_DIR/node_modules/@durable-streams/server/package.json"
  node_installed() { [ -f "$NODE_PKG" ] && grep -q "\"version\": \"$NODE_VERSION\"" "$NODE_PKG"; }
  if ! node_installed; then
    echo "==> installing @durable-streams/server@$NODE_VERSION into $NODE_DIR"
    if command -v npm >/dev/null; then
      mkdir -p "$NODE_DIR"
      (cd "$NODE_DIR" && { [ -f package.json ] || echo '{"name":"tether-bench-node","private":true,"type":"module"}' >package.json; } \
        && npm install --no-audit --no-fund --loglevel=error "@durable-streams/server@$NODE_VERSION") || true
    fi
  fi
  if node_installed && command -v node >/dev/null; then
    # The package exports DurableStreamTestServer; without dataDir it keeps streams in memory.
    cat >"$NODE_DIR/bench-server.mjs" <<'EOF'
import { DurableStreamTestServer } from "@durable-streams/server"
const server = new DurableStreamTestServer({ host: "127.0.0.1", port: Number(process.env.PORT) })
const url = await server.start()
console.log(`node reference server listening on ${url}`)
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => server.stop().finally(() => process.exit(0)))
EOF
    PORT=$(free_port)
    launch node env PORT="$PORT" node "$NODE_DIR/bench-server.mjs"
    if ready node "http://127.0.0.1:$PORT/v1/stream/bench-ready"; then
      TARGETS+=(--target "node=http://127.0.0.1:$PORT")
      VERSIONS+=("@durable-streams/server $NODE_VERSION on node $(node --version) (in memory)")
    else
      warn "the Node reference server did not start: skipping it"
    fi
  else
    warn "could not install @durable-streams/server@$NODE_VERSION (npm/node missing or install failed): skipping the Node reference server"
  fi

  # --- Electric's Rust server ----------------------------------------------------------------
  ELECTRIC_ROOT="$CACHE/bench-electric"
  ELECTRIC="$ELECTRIC_ROOT/bin/durable-streams-server"
  electric_installed() { [ -x "$ELECTRIC" ] && grep -q "durable-streams $ELECTRIC_VERSION " "$ELECTRIC_ROOT/.crates.toml" 2>/dev/null; }
  if ! electric_installed; then
    echo "==> building durable-streams $ELECTRIC_VERSION into $ELECTRIC_ROOT (a few minutes, once)"
    cargo install --locked --force durable-streams --version "$ELECTRIC_VERSION" --root "$ELECTRIC_ROOT" || true
  fi
  if electric_installed; then
    if [ "$FSYNC" = true ]; then DURABILITY=wal; else DURABILITY=memory; fi
    PORT=$(free_port)
    launch electric "$ELECTRIC" --host 127.0.0.1 --port "$PORT" --data-dir "$WORK/electric" --durability "$DURABILITY"
    if ready electric "http://127.0.0.1:$PORT/v1/stream/bench-ready"; then
      TARGETS+=(--target "electric=http://127.0.0.1:$PORT")
      VERSIONS+=("durable-streams $ELECTRIC_VERSION (--durability $DURABILITY)")
    else
      warn "Electric's durable-streams-server did not start: skipping it"
    fi
  else
    warn "could not install durable-streams $ELECTRIC_VERSION (cargo install failed): skipping Electric's server"
  fi
fi

REDIS=${BENCH_REDIS:-0}
if [ "$REDIS" = 1 ]; then
  MOTO="$CACHE/moto-venv/bin/moto_server"
  if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null || [ ! -x "$MOTO" ]; then
    warn "BENCH_REDIS=1 needs redis-server, redis-benchmark and moto (run infra/test.sh once): skipping the Redis runs"
    REDIS=0
  fi
fi
if [ "$REDIS" = 1 ]; then
  echo "==> starting redis-server, moto and tether-state on Redis + S3"
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
  REDIS_PORT=$(free_port)
  launch redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no
  for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  launch moto "$MOTO" -H 127.0.0.1 -p 0
  S3=$(announced moto)
  curl -sf -X PUT "$S3/tether-bench" >/dev/null
  REDIS_ARGS=(--redis-url "redis://127.0.0.1:$REDIS_PORT" --s3-bucket tether-bench --s3-endpoint "$S3" --s3-region us-east-1 --s3-force-path-style)
  launch tether-redis "$STATE" --listen 127.0.0.1:0 --data-dir "$WORK/tether-redis" "${REDIS_ARGS[@]}"
  TARGETS+=(--target "tether-redis=$(announced tether-redis)")
  VERSIONS+=("$(redis-server --version | cut -d' ' -f1-3), moto $("$CACHE/moto-venv/bin/pip" show moto 2>/dev/null | sed -n 's/^Version: //p')")
fi

echo
echo "==> ${CHUNKS} x ${SIZE} B appends, ${PRODUCERS} producers, then one catch-up reader"
printf '    %s\n' "${VERSIONS[@]}"
echo "    data directories on $(df -T "$WORK" | awk 'NR==2 {print $2}') ($WORK); $(nproc) cores"
STATUS=0
"$BENCH" run --chunks "$CHUNKS" --size "$SIZE" --producers "$PRODUCERS" "${TARGETS[@]}" "$@" || STATUS=$?

if [ "$REDIS" = 1 ]; then
  echo
  echo "==> Redis tiers"
  stop tether
  PAYLOAD=$(head -c "$SIZE" /dev/zero | tr '\0' 'x')
  XADD=$(redis-benchmark -p "$REDIS_PORT" -q -n "$CHUNKS" -c "$PRODUCERS" XADD benchxadd '*' d "$PAYLOAD" | tr '\r' '\n' | grep -Eo '[0-9.]+ requests per second' | tail -1 | cut -d' ' -f1)
  echo "redis-benchmark XADD (${SIZE} B, ${PRODUCERS} clients, no pipelining): ${XADD} ops/s"
  stop tether-redis
  # Segments of 4096 chunks, no idle sealing (a closed stream seals its tail); 4 MiB per GET.
  # Redis database 1: the hot log of the run above (its unsealed tail stays in database 0) does
  # not count in the archive backlog waited on below.
  REDIS_ARGS[1]="redis://127.0.0.1:$REDIS_PORT/1"
  TIER_ARGS=(--seal-max-chunks 4096 --seal-idle 1h --read-max-bytes 4194304)
  launch tether-redis2 "$STATE" --listen 127.0.0.1:0 --data-dir "$WORK/tiers" --cache-memory-bytes 268435456 "${REDIS_ARGS[@]}" "${TIER_ARGS[@]}"
  URL=$(announced tether-redis2)
  BENCH_IO=(--chunks "$CHUNKS" --size "$SIZE" --producers "$PRODUCERS")
  FILL=$("$BENCH" fill --url "$URL" --stream tiers-hot "${BENCH_IO[@]}")
  echo "$FILL"
  RATE=$(echo "$FILL" | sed -n 's/fill: \([0-9]*\) chunks.*/\1/p')
  awk -v a="$RATE" -v b="$XADD" 'BEGIN { if (b > 0) printf "tether append on Redis / raw XADD: %.2f\n", a / b }'
  "$BENCH" read --url "$URL" --stream tiers-hot "${BENCH_IO[@]}"
  "$BENCH" fill --url "$URL" --stream tiers-sealed --close "${BENCH_IO[@]}" >/dev/null
  # Wait (bounded) until only tiers-hot's unsealed tail is left in the hot log: segments hold
  # 4096 chunks (fewer if 8 MiB is reached first).
  SEG=$((8388608 / SIZE < 4096 ? 8388608 / SIZE : 4096))
  LEFT=$((CHUNKS % SEG))
  for i in $(seq 1 600); do
    curl -s "$URL/metrics" | grep -q "^tether_state_archive_backlog_chunks $LEFT\$" && break
    [ "$i" = 600 ] && warn "the archive backlog did not drain to $LEFT chunks in 120 s"
    sleep 0.2
  done
  # Archived: served from Redis until trimmed, else the write-through foyer memory tier.
  "$BENCH" read --url "$URL" --stream tiers-sealed "${BENCH_IO[@]}"
  stop tether-redis2
  # Same cache directory, 1 MiB of memory: the segments come from foyer's disk tier.
  launch tether-redis3 "$STATE" --listen 127.0.0.1:0 --data-dir "$WORK/tiers" --cache-memory-bytes 1048576 "${REDIS_ARGS[@]}" "${TIER_ARGS[@]}"
  "$BENCH" read --url "$(announced tether-redis3)" --stream tiers-sealed "${BENCH_IO[@]}"
  stop tether-redis3
  # A fresh cache directory: every segment is fetched from S3.
  launch tether-redis4 "$STATE" --listen 127.0.0.1:0 --data-dir "$WORK/tiers" --cache-dir "$WORK/cold-cache" --cache-memory-bytes 1048576 "${REDIS_ARGS[@]}" "${TIER_ARGS[@]}"
  "$BENCH" read --url "$(announced tether-redis4)" --stream tiers-sealed "${BENCH_IO[@]}" || STATUS=$?
fi

echo
echo "==> done in $((SECONDS - T0)) s (exit $STATUS)"
exit "$STATUS"
