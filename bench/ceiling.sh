#!/usr/bin/env bash
# Ceiling: how many POSTs per second the sink itself takes on this machine, so every other figure can be read as a
# fraction of it.  Same nginx config as the scenarios; wrk runs on the same CPUs, as the database does there (with
# PIN_SINK=1, on the CPUs the database gets).
set -eu
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT; trap 'exit 143' TERM INT
sink_start
cat > "$BENCH_DIR/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
LUA
(ulimit -n "$NOFILE"; $CLIENT_TASKSET wrk -t2 -c200 -d"${CEILING_D:-10}"s --latency -s "$BENCH_DIR/post.lua" "http://127.0.0.1:$SINK_PORT/c") \
  > "$OUT/wrk.txt"
rate=$(awk '/^Requests\/sec:/ { printf "%d", $2 }' "$OUT/wrk.txt")
p99=$(awk '$1 == "99%" { print $2 }' "$OUT/wrk.txt")
log "ceiling: $rate requests/s, p99 latency $p99"
result scenario=ceiling rate="$rate" p99="$p99"
