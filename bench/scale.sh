#!/usr/bin/env bash
# Scale: does the scheduler's cost per tick depend on how many jobs are registered, or only on how many are due?
# R jobs registered, of which DUE fire every second and the rest fire yearly (active, so they sit in the
# next_run_at index the scheduler reads).  Usage: scale.sh R DUE [window seconds]
#        scale.sh pg_cron N   -- pg_cron's bulk cron.schedule rate, for comparison with the create_job rate
set -eu
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT; trap 'exit 143' TERM INT

if [ "$1" = pg_cron ]; then
  N=$2
  cluster_start pg_cron "cron.database_name = 'postgres'"
  q "create extension pg_cron" >/dev/null
  t0=$(now)
  q "select count(cron.schedule('y' || i, '0 0 1 1 *', 'select 1')) from generate_series(1, $N) i" >/dev/null
  secs=$(since "$t0")
  rate=$(python3 -c "print(round($N / $secs))")
  log "pg_cron bulk schedule: $N jobs in ${secs}s = $rate/s"
  result scenario=cron_bulk n="$N" seconds="$secs" rate="$rate"
  exit 0
fi

R=$1; DUE=$2; W=${3:-20}
sink_start
jobsched_start
# the not-due jobs first, in one statement: this is the bulk creation rate reported
rest=$((R - DUE))
t0=$(now)
q "select count(jobsched.create_job('0 0 0 1 1 *', 'http://127.0.0.1:$SINK_PORT/y' || i, max_retries => 0))
   from generate_series(1, $rest) i" >/dev/null
create_s=$(since "$t0")
create_rate=$(python3 -c "print(round($rest / $create_s))")
log "scale R=$R: created $rest in ${create_s}s ($create_rate/s)"
# so autovacuum does not wake up on the new rows in the middle of the measurement, for either size
q "vacuum analyze jobsched.jobs" >/dev/null
q "select count(jobsched.create_job('* * * * * *', 'http://127.0.0.1:$SINK_PORT/s' || i, max_retries => 0))
   from generate_series(1, $DUE) i" >/dev/null
sleep 5   # let the first ticks go by
pid=$(jobsched_worker_pid); c0=$(cpu_seconds "$pid"); t1=$(now)
sleep "$W"
c1=$(cpu_seconds "$pid"); t2=$(now)
# stop the due jobs only: pausing all R in one UPDATE takes tens of seconds at R = 1,000,000, and the due jobs would
# go on firing behind it (row locks, WAL) inside the window the lateness is read over
q "update jobsched.jobs set active = false where schedule = '* * * * * *'" >/dev/null
t_stop=$(now)
sleep 2
sink_flush
m=$(python3 "$BENCH_HOME/analyze.py" steady "$SINK_LOG" /s "$DUE" "$t_stop" key)
cpu=$(python3 -c "print(round(($c1 - $c0) / ($t2 - $t1), 5))")
log "scale R=$R DUE=$DUE: worker CPU ${cpu}s per s, $m"
result scenario=scale registered="$R" due="$DUE" created="$rest" create_s="$create_s" create_rate="$create_rate" \
  cpu_per_s="$cpu" $m
