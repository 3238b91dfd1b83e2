#!/usr/bin/env bash
# HTTPS burst: burst.sh's N requests due at once, to the sink's plain HTTP server and to its two HTTPS servers
# (HTTP/1.1 only, and HTTP/2 offered by ALPN), one after another in this one run, each on a fresh cluster and sink.
# Then pg_net, when it is installed in the private tree and its server can be made to trust the sink's CA (lib.sh,
# system_trust_ca): over HTTPS/2 and HTTPS/1.1 as the anchor runs it (batch_size 200, http_post's default timeout of
# 5 s), over HTTPS/2 with a 60 s timeout (its better case: a batch of 200 new TLS connections at ~30 ms of CPU each
# can outlast 5 s, and those requests fail; README.md), and over plain HTTP beside them.  pg_net over HTTPS is slow (~30 ms of CPU per new connection), so its
# runs stop waiting after PGNET_HTTPS_TIMEOUT seconds (90): the rate is then the responses recorded by then per
# second, with timed_out=1.  Results: scenario=https_burst, target=http|h1|h2.
# Usage: https_burst.sh [N]   (N = 20,000 by default)
set -u
N=${1:-20000}
. "$(dirname "$0")/lib.sh"
trap 'exit 143' TERM INT
rc=0
run() { SCENARIO=https_burst "$BENCH_HOME/burst.sh" "$@" || { log "https burst $*: exit status $?"; rc=1; }; }
for t in http h1 h2; do
  run jobsched "$N" "$t"
done
if ! pg_net_installed; then
  log "pg_net is not installed in $PGROOT (bench/run builds it from PG_NET_SRC): no pg_net over HTTPS line"
  result scenario=https_burst stack=pg_net skipped="n/a (pg_net not available)"
elif ! (system_trust_ca) 2>"$OUT/pg_net-trust.log"; then
  why=$(tail -1 "$OUT/pg_net-trust.log" | cut -d' ' -f2-)
  log "pg_net over HTTPS skipped: $why"
  result scenario=https_burst stack=pg_net skipped="n/a ($why)"
else
  export PGNET_BATCH=200
  BURST_TIMEOUT=${PGNET_HTTPS_TIMEOUT:-90} run pg_net "$N" h2
  BURST_TIMEOUT=${PGNET_HTTPS_TIMEOUT:-90} PGNET_TIMEOUT_MS=60000 run pg_net "$N" h2
  BURST_TIMEOUT=${PGNET_HTTPS_TIMEOUT:-90} run pg_net "$N" h1
  run pg_net "$N" http
fi
exit $rc
