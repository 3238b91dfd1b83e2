#!/usr/bin/env bash
# Burst: N requests due at the same moment.  Time from the commit that makes them due until every response is
# recorded in the database.  Usage: burst.sh jobsched|pg_net N
set -eu
stack=$1; N=$2
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT; trap 'exit 143' TERM INT
LIMIT=${BURST_TIMEOUT:-300}   # seconds to wait for the last response before giving up
sink_start

if [ "$stack" = jobsched ]; then
  jobsched_start
  # '0 0 0 1 1 *' fires on 1 January only: the jobs are registered but not due until triggered
  q "select count(jobsched.create_job('0 0 0 1 1 *', 'http://127.0.0.1:$SINK_PORT/b' || i, max_retries => 0))
     from generate_series(1, $N) i" >/dev/null
  sleep 1
  t0=$(now)
  q "select count(jobsched.trigger_job(id)) from jobsched.jobs" >/dev/null
  tc=$(now)
  done_sql="select count(*) >= $N from jobsched.executions where status in ('succeeded', 'failed', 'timed_out')"
  ok_sql="select count(*) from jobsched.executions where status = 'succeeded'"
else
  # pg_net.batch_size 200 (its default) as in the anchor's burst run; PGNET_BATCH changes it
  PGNET_BATCH=${PGNET_BATCH:-200}
  cluster_start pg_net "pg_net.batch_size = $PGNET_BATCH"
  q "create extension pg_net" >/dev/null
  sleep 1
  t0=$(now)
  q "select count(net.http_post(url := 'http://127.0.0.1:$SINK_PORT/b' || i, body := '{\"i\":1}'::jsonb))
     from generate_series(1, $N) i" >/dev/null
  tc=$(now)
  done_sql="select count(*) >= $N from net._http_response"
  ok_sql="select count(*) from net._http_response where status_code = 200"
fi

timed_out=0
wait_for "$done_sql" "$LIMIT" || timed_out=1
secs=$(since "$tc")
ok=$(q "$ok_sql")
[ "$stack" = jobsched ] && q "select status, count(*) from jobsched.executions group by 1" >&2 \
  || q "select coalesce(status_code::text, error_msg), count(*) from net._http_response group by 1" >&2
sink_flush
wire=$(python3 "$BENCH_HOME/analyze.py" burst "$SINK_LOG" /b "$tc")
rate=$(python3 -c "print(round($ok / $secs))")
enq=$(python3 -c "print(round($tc - $t0, 3))")
log "burst $stack N=$N ok=$ok enqueue=${enq}s commit->done=${secs}s rate=$rate/s $wire timed_out=$timed_out"
result scenario=burst stack="$stack" n="$N" ok="$ok" failed=$((N - ok)) enqueue_s="$enq" seconds="$secs" \
  rate="$rate" timed_out=$timed_out ${PGNET_BATCH:+pgnet_batch=$PGNET_BATCH} $wire
