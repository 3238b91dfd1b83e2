#!/usr/bin/env bash
# Burst: N requests due at the same moment.  Time from the commit that makes them due until every response is
# recorded in the database.  Usage: burst.sh jobsched|pg_net N [http|h1|h2]
#   The third argument is the sink's server (lib.sh, sink_url): plain HTTP (the default), HTTPS with HTTP/1.1 only, or
#   HTTPS offering HTTP/2.  pg_net over HTTPS is given the sink's CA by system_trust_ca (lib.sh).  SCENARIO names the
#   result (burst; https_burst.sh runs it as https_burst).
set -eu
stack=$1; N=$2; target=${3:-http}
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT; trap 'exit 143' TERM INT
LIMIT=${BURST_TIMEOUT:-300}   # seconds to wait for the last response before giving up
SCENARIO=${SCENARIO:-burst}
base=$(sink_url "$target")
sink_start

if [ "$stack" = jobsched ]; then
  jobsched_start
  # '0 0 0 1 1 *' fires on 1 January only: the jobs are registered but not due until triggered
  q "select count(jobsched.create_job('0 0 0 1 1 *', '$base/b' || i, max_retries => 0))
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
  [ "$target" = http ] || system_trust_ca
  cluster_start pg_net "pg_net.batch_size = $PGNET_BATCH"
  # PGNET_TIMEOUT_MS: http_post's timeout_milliseconds instead of its default (5,000)
  topt=${PGNET_TIMEOUT_MS:+, timeout_milliseconds := $PGNET_TIMEOUT_MS}
  q "create extension pg_net" >/dev/null
  sleep 1
  t0=$(now)
  q "select count(net.http_post(url := '$base/b' || i, body := '{\"i\":1}'::jsonb$topt))
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
log "$SCENARIO $stack $target N=$N ok=$ok enqueue=${enq}s commit->done=${secs}s rate=$rate/s $wire timed_out=$timed_out"
result scenario="$SCENARIO" stack="$stack" target="$target" n="$N" ok="$ok" failed=$((N - ok)) enqueue_s="$enq" seconds="$secs" \
  rate="$rate" timed_out=$timed_out ${PGNET_BATCH:+pgnet_batch=$PGNET_BATCH} ${PGNET_TIMEOUT_MS:+pgnet_timeout_ms=$PGNET_TIMEOUT_MS} \
  $([ "$stack" = jobsched ] && [ "$target" != http ] && echo "trust=$TLS_TRUST") $wire
