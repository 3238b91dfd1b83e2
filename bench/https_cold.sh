#!/usr/bin/env bash
# HTTPS cold start: K jobs firing every second to the sink's HTTP/2 server (or TARGET: h1, http), and a worker that
# has just started: no connection, no TLS session.  The jobs run WARM seconds (connections and sessions are made),
# are paused, the server is restarted (-m fast: a new worker process, every connection of the old one closed), and
# once the new worker is up they are resumed just after a whole second, so that their first run is due almost a
# second later, beyond the claim lookahead.  Paused across the restart because a run missed during the downtime
# would fire late at start (misfire_grace) and measure the downtime instead of the connection set-up.
# Measured from the sink log (analyze.py cold): lateness p50/p99/max of the first second's K runs, the connections
# they came over (distinct nginx $connection) and how many were new; the same for the next second, for comparison;
# and before_n, requests that reached the sink between the restart and that first second (0: the worker was cold).
# Usage: https_cold.sh [K [TARGET]]   (K = 1,000, TARGET = h2 by default; TLS_TRUST=system: lib.sh)
set -eu
K=${1:-1000}; target=${2:-h2}
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT; trap 'exit 143' TERM INT
WARM=${COLD_WARM:-3}
url="'$(sink_url "$target")/s' || i"
sink_start
jobsched_start
q "select count(jobsched.create_job('* * * * * *', $url, max_retries => 0)) from generate_series(1, $K) i" >/dev/null
sleep "$WARM"
# paused just after a whole second, when no run is claimed ahead (a claimed run would be put back at the stop and
# sent by the new worker before the measured second, opening its connection early)
python3 -c "import time; time.sleep(1.05 - time.time() % 1)"
q "select count(jobsched.pause_job(id)) from jobsched.jobs" >/dev/null
old=$(jobsched_worker_pid)
t0=$(now)
$CLIENT_TASKSET ${CLUSTER_WRAP:-} su postgres -c "ulimit -n $NOFILE; $PGBIN/pg_ctl -D $BENCH_DIR/pg -l $BENCH_DIR/pg.log -w -t 60 -m fast restart" >/dev/null
wait_for "select worker_pid > 0 and worker_pid <> $old from jobsched.stats" 30 || { log "the worker did not come back"; exit 1; }
restart_s=$(since "$t0")
sleep 0.5
# resume just after a whole second: the first run is then due ~0.9 s later, more than jobsched.lookahead ahead
python3 -c "import time; time.sleep(1.05 - time.time() % 1)"
t_resume=$(now)
q "select count(jobsched.resume_job(id)) from jobsched.jobs" >/dev/null
resume_s=$(since "$t_resume")
python3 -c "import sys; sys.exit(float(sys.argv[1]) > 0.7)" "$resume_s" \
  || log "the resume took ${resume_s}s: some jobs may first fire a second later (first_pct < 100)"
sleep 3.5
q "select count(jobsched.pause_job(id)) from jobsched.jobs" >/dev/null
sink_flush
m=$(python3 "$BENCH_HOME/analyze.py" cold "$SINK_LOG" /s "$K" "$t_resume" "$t0")
log "https_cold $target K=$K restart=${restart_s}s resume=${resume_s}s $m"
result scenario=https_cold stack=jobsched target="$target" k="$K" trust="$TLS_TRUST" restart_s="$restart_s" \
  resume_s="$resume_s" $m
