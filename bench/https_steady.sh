#!/usr/bin/env bash
# HTTPS steady: steady.sh's K jobsched jobs firing every second for D seconds, to the sink's plain HTTP server and to
# its two HTTPS servers (HTTP/1.1 only; HTTP/2 offered by ALPN), one after another in this one run, each on a fresh
# cluster and sink.  Lateness at the sink p50/p99/max as for plain HTTP (analyze.py steady), plus the connections
# the window's requests came over.  Results: scenario=https_steady, target=http|h1|h2.
# Usage: https_steady.sh [K [D]]   (K = 1,000, D = 30 by default)
set -u
K=${1:-1000}; D=${2:-30}
. "$(dirname "$0")/lib.sh"
trap 'exit 143' TERM INT
rc=0
for t in http h1 h2; do
  SCENARIO=https_steady "$BENCH_HOME/steady.sh" jobsched "$K" "$D" "$t" || { log "https steady $t: exit status $?"; rc=1; }
done
exit $rc
