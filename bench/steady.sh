#!/usr/bin/env bash
# Steady: K jobs, each firing every second, for D seconds.  Delivered per second against the K asked, and lateness
# of each arrival at the sink.  Usage: steady.sh jobsched|pg_cron K D [http|h1|h2]
#   The fourth argument is the sink's server (lib.sh, sink_url): plain HTTP (the default), HTTPS with HTTP/1.1 only,
#   or HTTPS offering HTTP/2 (jobsched only).  SCENARIO names the result (steady; https_steady.sh: https_steady).
set -eu
stack=$1; K=$2; D=$3; target=${4:-http}
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT; trap 'exit 143' TERM INT
SCENARIO=${SCENARIO:-steady}
[ "$target" = http ] || [ "$stack" = jobsched ] || { log "steady over HTTPS: jobsched only"; exit 2; }
url="'$(sink_url "$target")/s' || i"
sink_start

if [ "$stack" = jobsched ]; then
  jobsched_start
  q "select count(jobsched.create_job('* * * * * *', $url, max_retries => 0)) from generate_series(1, $K) i" >/dev/null
  pid=$(jobsched_worker_pid); c0=$(cpu_seconds "$pid"); t0=$(now)
  sleep "$D"
  c1=$(cpu_seconds "$pid"); t1=$(now)
  stats=$(q "select round(lateness_p50_ms::numeric, 1), round(lateness_p99_ms::numeric, 1) from jobsched.stats")
  q "update jobsched.jobs set active = false" >/dev/null
  t_stop=$(now)
  sleep 3
  sink_flush
  m=$(python3 "$BENCH_HOME/analyze.py" steady "$SINK_LOG" /s "$K" "$t_stop" key)
  # cross-check: jobsched's own lateness (send time - scheduled time) over the runs of the same nominal seconds
  w0=$(sed -n 's/.*window_from=\([0-9]*\).*/\1/p' <<<"$m"); ws=$(sed -n 's/.*window_s=\([0-9]*\).*/\1/p' <<<"$m")
  col=$(q "select round(1000 * extract(epoch from percentile_cont(0.5) within group (order by lateness))::numeric, 1),
                  round(1000 * extract(epoch from percentile_cont(0.99) within group (order by lateness))::numeric, 1),
                  round(1000 * extract(epoch from max(lateness))::numeric, 1),
                  count(*) filter (where status <> 'succeeded')
           from jobsched.executions
           where scheduled_for >= to_timestamp(${w0:-0}) and scheduled_for < to_timestamp(${w0:-0} + ${ws:-0})")
  IFS='|' read -r cp50 cp99 cmax failed <<<"$col"
  IFS='|' read -r sp50 sp99 <<<"$stats"
  cpu=$(python3 -c "print(round(($c1 - $c0) / ($t1 - $t0), 4))")
  extra="col_p50=$cp50 col_p99=$cp99 col_max=$cmax failed=$failed stats_p50=$sp50 stats_p99=$sp99 cpu_per_s=$cpu"
  [ "$target" = http ] || extra="$extra trust=$TLS_TRUST"
else
  # The anchor's pg_cron + pg_net setup: one background worker per running job, up to cron.max_running_jobs
  # (capped by pg_cron at max_worker_processes - 1, hence the headroom)
  CRON_MAX=${CRON_MAX:-200}
  cluster_start "pg_cron,pg_net" "max_worker_processes = $((CRON_MAX + 8))
cron.database_name = 'postgres'
cron.use_background_workers = on
cron.max_running_jobs = $CRON_MAX
pg_net.batch_size = ${PGNET_BATCH:-1000}
cron.log_run = on"
  q "create extension pg_cron; create extension pg_net" >/dev/null
  q "select count(cron.schedule('j' || i, '1 seconds',
       format(\$q\$select net.http_post(url := %s, body := '{}'::jsonb)\$q\$, quote_literal($url))))
     from generate_series(1, $K) i" >/dev/null
  sleep "$D"
  q "select count(cron.unschedule(jobid)) from cron.job" >/dev/null
  t_stop=$(now)
  sleep 3
  sink_flush
  m=$(python3 "$BENCH_HOME/analyze.py" steady "$SINK_LOG" /s "$K" "$t_stop" second)
  q "select status, count(*) from cron.job_run_details group by 1" >&2 || true
  extra=""
fi
log "$SCENARIO $stack $target K=$K D=$D $m $extra"
result scenario="$SCENARIO" stack="$stack" target="$target" k="$K" d="$D" $m $extra
