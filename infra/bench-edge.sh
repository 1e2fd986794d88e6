#!/usr/bin/env bash
# Edge benchmarks (not tests: no timing is asserted). Builds release binaries, starts an
# embedded tether-state and one tether-edge on free loopback ports, and runs
# `tether-edge-bench`:
#   1. fan-out: one stream to EDGE_BENCH_CLIENTS (10000) WebSocket clients on one edge;
#   2. fan-out: 1000 streams x 10 clients;
#   3. idle memory: edge RSS per idle connection at 10k connections;
#   4. resume: reconnect-to-first-chunk, hot (state in memory/Redis) and, with BENCH_REDIS=1,
#      from S3 after the archive was written and Redis flushed (needs redis-server and moto,
#      which `bash infra/test.sh` installs).
# Env: EDGE_BENCH_CLIENTS (10000), EDGE_BENCH_CHUNKS (200), EDGE_BENCH_RATE (50 per second).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CLIENTS=${EDGE_BENCH_CLIENTS:-10000}
CHUNKS=${EDGE_BENCH_CHUNKS:-200}
RATE=${EDGE_BENCH_RATE:-50}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tether-edge-bench.XXXXXX")
PIDFILE="$WORK/pids"
: >"$PIDFILE"
cleanup() {
  while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$PIDFILE"
  for pid in $(cat "$PIDFILE"); do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# start NAME CMD...: runs a server, prints the URL it announces.
start() {
  local name=$1; shift
  "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" &
  local pid=$!
  echo "$pid" >>"$PIDFILE"
  echo "$pid" >"$WORK/$name.pid"
  for _ in $(seq 1 300); do
    local url
    url=$(sed -n 's/.*\(listening\|Running\) on \(http:[^ ]*\).*/\2/p' "$WORK/$name.out" "$WORK/$name.log" 2>/dev/null | head -1)
    if [ -n "$url" ]; then echo "$url"; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$name did not start" >&2; cat "$WORK/$name.log" >&2; return 1
}

cargo build --release --locked -p tether-state -p tether-edge -p tether-tests -p tether-cli --bins
BIN=$ROOT/target/release
SECRET=bench-secret-0123456789abcdef0123456789
TOKEN=$(TETHER_JWT_SECRET=$SECRET "$BIN/tether" token --sub bench --ttl 2h)
STATE=$(start state "$BIN/tether-state" --listen 127.0.0.1:0 --data-dir "$WORK/state" --fsync false)
EDGE=$(start edge env TETHER_JWT_SECRET=$SECRET "$BIN/tether-edge" --listen 127.0.0.1:0 --state-url "$STATE" \
  --max-connections-per-ip 100000 --max-subscriptions 16)
WS="${EDGE/http:/ws:}/v1/ws"
EDGE_PID=$(cat "$WORK/edge.pid")
echo "state $STATE, edge $EDGE"

echo; echo "== idle connections"
"$BIN/tether-edge-bench" idle --ws "$WS" --token "$TOKEN" --clients "$CLIENTS" --edge-pid "$EDGE_PID"
echo; echo "== fan-out: 1 stream x $CLIENTS clients"
"$BIN/tether-edge-bench" fanout --ws "$WS" --state "$STATE" --token "$TOKEN" --streams 1 --clients "$CLIENTS" --chunks "$CHUNKS" --rate "$RATE"
# 1000 streams x 10 clients at 2 appends/s per stream (20k deliveries/s), then at 5/s (50k/s,
# which saturates this 2-core machine together with the load generator).
for R in 2 5; do
  echo; echo "== fan-out: 1000 streams x 10 clients, $R appends/s per stream"
  "$BIN/tether-edge-bench" fanout --ws "$WS" --state "$STATE" --token "$TOKEN" --streams 1000 --clients 10 --chunks $((R * 20)) --rate "$R"
done

echo; echo "== resume (hot)"
STREAMS=""; OFFSETS=""
for i in $(seq 1 50); do
  curl -sf -X PUT -H 'content-type: text/plain' "$STATE/v1/stream/resume/hot$i" >/dev/null
  for j in $(seq 1 20); do
    NEXT=$(curl -sf -o /dev/null -D - -X POST -H 'content-type: text/plain' --data "chunk-$j" "$STATE/v1/stream/resume/hot$i" | sed -n 's/^stream-next-offset: *//Ip' | tr -d '\r')
    [ "$j" = 10 ] && { STREAMS+="resume/hot$i,"; OFFSETS+="$NEXT,"; }
  done
done
"$BIN/tether-edge-bench" resume --ws "$WS" --token "$TOKEN" --label "resume hot" --streams "${STREAMS%,}" --offsets "${OFFSETS%,}"

if [ "${BENCH_REDIS:-0}" = 1 ]; then
  echo; echo "== resume from S3 (archived, Redis flushed)"
  MOTO="${XDG_CACHE_HOME:-$HOME/.cache}/tether/moto-venv/bin/moto_server"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
  REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$WORK/redis.log" 2>&1 &
  echo $! >>"$PIDFILE"
  S3=$(start moto "$MOTO" -H 127.0.0.1 -p 0)
  for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf -X PUT "$S3/bench-archive" >/dev/null
  RSTATE=$(start rstate "$BIN/tether-state" --listen 127.0.0.1:0 --data-dir "$WORK/rstate" --redis-url "redis://127.0.0.1:$REDIS_PORT" \
    --s3-bucket bench-archive --s3-endpoint "$S3" --s3-region us-east-1 --s3-force-path-style --archive-interval 100ms \
    --cache-memory-bytes 1048576)
  STREAMS=""; OFFSETS=""
  for i in $(seq 1 50); do
    curl -sf -X PUT -H 'content-type: text/plain' "$RSTATE/v1/stream/resume/cold$i" >/dev/null
    for j in $(seq 1 20); do
      NEXT=$(curl -sf -o /dev/null -D - -X POST -H 'content-type: text/plain' --data "chunk-$j" "$RSTATE/v1/stream/resume/cold$i" | sed -n 's/^stream-next-offset: *//Ip' | tr -d '\r')
      [ "$j" = 10 ] && { STREAMS+="resume/cold$i,"; OFFSETS+="$NEXT,"; }
    done
    curl -sf -X POST -H 'stream-closed: true' "$RSTATE/v1/stream/resume/cold$i" >/dev/null
  done
  for _ in $(seq 1 600); do
    curl -sf "$RSTATE/metrics" | grep -q '^tether_state_archive_backlog_chunks 0$' && break; sleep 0.1
  done
  redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null
  # A fresh state process: its segment cache is empty, so every resume reads from S3.
  kill "$(cat "$WORK/rstate.pid")"
  RSTATE=$(start rstate2 "$BIN/tether-state" --listen 127.0.0.1:0 --data-dir "$WORK/rstate2" --redis-url "redis://127.0.0.1:$REDIS_PORT" \
    --s3-bucket bench-archive --s3-endpoint "$S3" --s3-region us-east-1 --s3-force-path-style --cache-memory-bytes 1048576)
  REDGE=$(start redge env TETHER_JWT_SECRET=$SECRET "$BIN/tether-edge" --listen 127.0.0.1:0 --state-url "$RSTATE")
  "$BIN/tether-edge-bench" resume --ws "${REDGE/http:/ws:}/v1/ws" --token "$TOKEN" --label "resume from S3" --streams "${STREAMS%,}" --offsets "${OFFSETS%,}"
fi
