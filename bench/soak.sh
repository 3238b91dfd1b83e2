#!/usr/bin/env bash
# Soak: many jobs firing continuously for minutes, a kill -9 of the postmaster in the middle, then an account of
# every run.  Run as root (servers run as user postgres):
#
#     bench/soak.sh                                        # 10,000 jobs every 5 s (2,000 runs/s), 180 s, ~5 min
#     bench/soak.sh --jobs 1000 --every 2 --duration 60    # a quick one
#     bench/soak.sh --every 1                              # 10,000 runs/s: more than a 2-core machine sustains
#     python3 bench/soak_check.py /tmp/jobsched-soak/out [--self-test]   # re-check a finished run's data
#
# Options: --jobs N (10000)  --every S (5: each job fires every S seconds, '*/S * * * * *'; S from 1 to 30 and
# dividing 60, 1 is '* * * * * *'; runs asked: N/S a second)  --duration S (180, the crash is at S/2)  --down S (8:
# seconds the server stays down after its last process exited, so that the downtime exceeds
# jobsched.misfire_grace and the misfire rule is exercised; 0 restarts at once)  --retention MIN (1:
# jobsched.history_retention)  --sample S (3)  --max-rss-ratio R (1.5)  --port P (55732).  Everything lives in
# /tmp/jobsched-soak (wiped at the start, left after the run for re-checking); the exit status is 0 only if every
# check passed.
#
# SET-UP.  A copy of the system's PostgreSQL installation (with the jobsched installed there) in
# /tmp/jobsched-soak-pg, so a `make install` by someone else during the soak does not change what runs after the
# restart; a fresh cluster on a unix socket only, shared_preload_libraries = jobsched, history_retention short.
# Jobs are '*/S * * * * *' ('* * * * * *' for S = 1), i = 1..N:  i%10 < 8 good (nginx, 200), i%10 = 8 failing
# (python sink /status/500, max_retries 1), i%10 = 9 slow (python sink /slow/1500, timeout 10 s); (i/10)%2 picks
# ATLEAST_ONCE or ATMOST_ONCE, so each kind is half and half.  Each kind has its own sink (its own host:port: the
# worker caps requests in flight per host, jobsched.max_host_connections, which is raised to what the slow target
# needs).  The jobs are created paused and resumed in one statement (one now(), T_START), so all start on the same
# second F0, the first multiple of S after floor(T_START), and every job fires on the seconds s with s % S == 0
# (S divides 60, so the minute boundaries are fire seconds too): with S > 1 the N runs come in one burst every S
# seconds.  The kill is then timed 0.7 s after a fire second, while that burst's slow requests (1.5 s) are in
# flight, so that the crash always interrupts requests.
#
# HOW RUNS ARE ACCOUNTED FOR.  Executions older than the retention are purged during the soak, so the table alone
# cannot account for the whole run.  Three sources, each complete for what it covers:
#  - The sink logs (nginx $msec log; test/sink.py JSON lines) hold every request that arrived, with its
#    Idempotency-Key jobsched-<job>-<scheduled us>: the whole run.
#  - The crash window, scheduled seconds [kill - 8 s (or the oldest run in flight at the kill - 3 s), worker up +
#    11 s): exported from executions as soon as the worker is up again (before the retention purges what finished
#    before the kill), then every 20 s while some of its runs are not final, and at the end; the checker merges
#    the exports by id, the later version of a row winning (a row purged by then keeps an earlier export's).
#  - The end window, the last 40 s before the pause: exported once the jobs are paused and nothing is running or
#    retrying any more.
# The checks (bench/soak_check.py), for every job and every fire second s (s % S == 0) from F0 to the last one at
# least 2 s before the pause (an arrival or an execution for any other second fails sink_count or db_outcome):
#  - lost: s has an attempt-1 execution (where exported) or an arrival (elsewhere), or lies in a misfire gap.
#    Each maximal run of consecutive missing fire seconds [a, b] must be what misfire => 'run_once' (the default)
#    with jobsched.misfire_grace produces: the run a - S fired more than grace late, at T (its started_at, or first
#    arrival), and the job went on from the first fire second after floor(claim time - grace), the claim coming
#    before T: b <= floor(T - grace).  The crash's gap is the one after the job's first run claimed after the
#    restart (a fresh row: sends 1, started after the restart), the claim coming after the worker was up again
#    (seen by polling jobsched.stats.worker_pid, 1 s allowed for that): also b >= the last fire second <=
#    floor(worker up - 1 - grace).  Every job then
#    fires its overdue runs of the grace window at once: gaps while the worker catches up with that burst (in
#    the crash window, after the restart) are counted apart and accepted.  Any other misfire gap means the
#    worker fell more than grace behind: counted apart, and fails keeps_up (as do runs due before the pause
#    but not yet claimed then, the worker being behind).
#    misfire_rule: a job without a gap after the restart although its first run then was more than grace late.
#  - sink_count: outside the crash window exactly 1 arrival per run (2 for a failing ATLEAST_ONCE job: the
#    attempt and its retry); inside it, between the number of attempts answered and the sum of their sends;
#    none for a skipped run.
#  - db_dup: no (job_id, scheduled_for, attempt) twice, in the exports and in the whole table at the end.
#  - db_outcome: good and slow runs succeeded (200), failing ones failed (500) with attempts 1 and 2
#    (ATLEAST_ONCE) or 1 (ATMOST_ONCE); 'lost' only for ATMOST_ONCE in the crash window; sends 2 only for
#    ATLEAST_ONCE re-sent after the crash; nothing left running or retrying.
#  - atmost_once: no ATMOST_ONCE key arrived twice (whole run), no ATMOST_ONCE execution with sends > 1.
#  - resend: some ATLEAST_ONCE executions were re-sent after the crash, and each of them arrived after the restart.
#  - retry_delay: retries and re-sends went out at most 10 s after their retry_at (or the restart, if it was due
#    while the server was down).
#  - keeps_up: >= 99% of the runs of the steady parts (F0 + 10 s to the kill, worker up + 15 s to the pause, each
#    cut to whole periods of S seconds) arrived, first-arrival lateness p99 <= grace, no misfire gap outside the
#    crash.  Reported with the delivered rate (arrivals/s, runs/s, against N/S asked) and the CPU used by the
#    worker and the whole machine.
#  - rss: VmRSS and RssAnon of the worker every few seconds; judged on RssAnon (private memory, where a leak
#    shows) from 30 s after each start (or a third of the phase) to the phase's last sample, before and after
#    the crash separately.  VmRSS also counts the shared buffers the worker has touched (up to
#    shared_buffers), so it is reported, not judged.
#  - mem_leak: the worker's memory contexts (pg_log_backend_memory_contexts every 15 s, "Grand total ... used")
#    must not grow after warm-up by more than 4 MB and 16 bytes per request sent: a leak of palloc'd memory
#    shows there long before it reaches 1.5 x RSS.
#  - rows_bounded: max sampled count(*) of executions <= jobs / S x 1.1 x (retention + 30 s), and the oldest
#    finished execution at the end no older than retention + 30 s.
set -euo pipefail

JOBS=10000 EVERY=5 DURATION=180 DOWN=8 RETENTION=1 SAMPLE=3 MAX_RSS_RATIO=1.5 PGPORT=55732
while [ $# -gt 0 ]; do
  case $1 in
    --jobs) JOBS=$2; shift 2 ;;
    --every) EVERY=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --down) DOWN=$2; shift 2 ;;
    --retention) RETENTION=$2; shift 2 ;;
    --sample) SAMPLE=$2; shift 2 ;;
    --max-rss-ratio) MAX_RSS_RATIO=$2; shift 2 ;;
    --port) PGPORT=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "run as root (servers are started as user postgres)" >&2; exit 2; }
(( JOBS >= 20 && DURATION >= 40 )) || { echo "--jobs >= 20 and --duration >= 40" >&2; exit 2; }
[[ $EVERY =~ ^[0-9]+$ ]] && (( EVERY >= 1 && EVERY <= 30 && 60 % EVERY == 0 )) ||
  { echo "--every: 1 to 30 seconds, dividing 60 (1 2 3 4 5 6 10 12 15 20 30)" >&2; exit 2; }
if (( EVERY == 1 )); then SCHEDULE='* * * * * *'; else SCHEDULE="*/$EVERY * * * * *"; fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SINK_PY=$HERE/../test/sink.py
D=/tmp/jobsched-soak
OUT=$D/out
PGROOT=/tmp/jobsched-soak-pg
PGBIN=$PGROOT$(pg_config --bindir)
hard=$(ulimit -Hn); [ "$hard" = unlimited ] && hard=1048576
NOFILE=$hard
GRACE=5                     # jobsched.misfire_grace, left at its default
HZ=$(getconf CLK_TCK)
SLOW_MS=1500
PIDS_SINK=()

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
q() { psql -h "$D" -p "$PGPORT" -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
now() { date +%s.%N; }
as_pg() { runuser -u postgres -- bash -c "ulimit -n $NOFILE; $1"; }
pg_start() { as_pg "$PGBIN/pg_ctl -D $D/pg -l $D/pg.log -w -t 300 start" >>"$D/pg_ctl.out" 2>&1; }
pm_pid() { head -1 "$D/pg/postmaster.pid" 2>/dev/null || true; }

cleanup() {
  set +e
  if [ -f "$D/pg/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl -D $D/pg -m immediate -w -t 30 stop" >/dev/null 2>&1
  fi
  if [ -f "$D/nginx/nginx.pid" ]; then
    local p; p=$(cat "$D/nginx/nginx.pid")
    kill -QUIT "$p" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  fi
  for p in "${PIDS_SINK[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS_SINK[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  PIDS_SINK=()
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# a free port below the ephemeral range (32768-60999 here): a port in that range may be taken, between our check
# and nginx's bind, as the local end of one of the many client connections
free_port() {
  python3 - "$1" <<'PY'
import socket, sys
for p in range(int(sys.argv[1]), int(sys.argv[1]) + 500):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
PY
}

# --- 1. installation copy and cluster ------------------------------------------------------------------------
# stop what a previous soak may have left running (only our own data directory and pid files)
if [ -f "$D/pg/postmaster.pid" ] && [ -x "$PGBIN/pg_ctl" ]; then
  as_pg "$PGBIN/pg_ctl -D $D/pg -m immediate -w -t 30 stop" >/dev/null 2>&1 || true
fi
if [ -f "$D/nginx/nginx.pid" ] && grep -qs nginx "/proc/$(cat "$D/nginx/nginx.pid")/cmdline"; then
  kill -QUIT "$(cat "$D/nginx/nginx.pid")" 2>/dev/null || true; sleep 1
fi
for f in "$D"/sink-*.pid; do   # only if that pid is still one of our sinks
  [ -f "$f" ] && grep -qs "sink.py" "/proc/$(cat "$f")/cmdline" && { kill -TERM "$(cat "$f")" 2>/dev/null || true; }
done
rm -rf "$D" "$PGROOT"
mkdir -p "$D" "$OUT" "$D/nginx/logs"
mkdir -p "$(dirname "$PGBIN")" "$PGROOT$(pg_config --sharedir)"
cp -a "$(dirname "$(pg_config --bindir)")/." "$(dirname "$PGBIN")/"
cp -a "$(pg_config --sharedir)/." "$PGROOT$(pg_config --sharedir)/"
chmod 755 "$PGROOT"
SO=$PGROOT$(pg_config --pkglibdir)/jobsched.so
[ -f "$SO" ] || { log "jobsched is not installed in the system PostgreSQL: make install first"; exit 2; }
so_md5=$(md5sum "$SO" | cut -c1-12)
chown -R postgres "$D"

GOOD_PORT=$(free_port 28380)
FAIL_PORT=$(free_port $((GOOD_PORT + 1)))
SLOW_PORT=$(free_port $((FAIL_PORT + 1)))
SLOW_JOBS=$(( (JOBS + 0) / 10 ))
# The slow target holds each request 1.5 s: jobs/10 requests a second need jobs/10 x 1.5 connections at once (S = 1),
# jobs/10 requests at once every S s need jobs/10 of them to go out on time (S > 1); and after the restart every job
# fires its overdue runs of the grace window at once (up to grace/S + 1 runs each), a backlog the slow target
# drains only with the headroom above that: allow jobs/10 x 4 (2.7 times the need at S = 1, 4 times at S > 1).
HOST_CONN=$(( SLOW_JOBS * 4 > 64 ? SLOW_JOBS * 4 : 64 ))
IN_FLIGHT=$(( HOST_CONN + 2000 ))
log "soak: $JOBS jobs '$SCHEDULE' ($(python3 -c "print($JOBS / $EVERY)") runs/s), ${DURATION}s, crash at $((DURATION / 2))s (+${DOWN}s down), retention ${RETENTION}min; pg port $PGPORT, sinks $GOOD_PORT (good) $FAIL_PORT (fail) $SLOW_PORT (slow); jobsched.so $so_md5"

as_pg "$PGBIN/initdb -D $D/pg -U postgres -A trust" >/dev/null
cat >> "$D/pg/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$D'
port = $PGPORT
shared_preload_libraries = 'jobsched'
jobsched.database_name = 'postgres'
jobsched.history_retention = '${RETENTION}min'
jobsched.max_in_flight = $IN_FLIGHT
jobsched.max_host_connections = $HOST_CONN
max_connections = 50
shared_buffers = 256MB
max_wal_size = 2GB
log_min_messages = log
CONF
pg_start
q "CREATE EXTENSION jobsched" >/dev/null
for _ in $(seq 300); do [ "$(q "SELECT worker_pid > 0 FROM jobsched.stats")" = t ] && break; sleep 0.1; done

# --- 2. sinks ------------------------------------------------------------------------------------------------
cat > "$D/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile $NOFILE;
pid $D/nginx/nginx.pid;
error_log $D/nginx/logs/error.log;
events { worker_connections 16384; }
http {
  log_format ts '\$msec \$request_uri \$status \$http_idempotency_key \$connection_requests';
  access_log $D/nginx/logs/access.log ts buffer=256k flush=1s;
  client_body_temp_path $D/nginx;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:$GOOD_PORT;
    location / { return 200 "ok\n"; }
  }
}
CONF
(ulimit -n "$NOFILE"; nginx -c "$D/nginx/nginx.conf" -p "$D/nginx")
for kind in fail slow; do
  port=$FAIL_PORT; [ $kind = slow ] && port=$SLOW_PORT
  (ulimit -n "$NOFILE"; exec python3 "$SINK_PY" --port "$port" --log "$D/sink-$kind.log" \
     --ready-file "$D/sink-$kind.port") > "$D/sink-$kind.out" 2>&1 &
  PIDS_SINK+=($!); echo $! > "$D/sink-$kind.pid"
done
for kind in fail slow; do
  for _ in $(seq 100); do [ -s "$D/sink-$kind.port" ] && break; sleep 0.1; done
  [ -s "$D/sink-$kind.port" ] || { log "sink $kind did not start: $(cat "$D/sink-$kind.out")"; exit 1; }
done

# --- 3. jobs -------------------------------------------------------------------------------------------------
t=$(now)
q "SELECT count(jobsched.create_job('$SCHEDULE',
       CASE WHEN i % 10 < 8 THEN 'http://127.0.0.1:$GOOD_PORT/g'
            WHEN i % 10 = 8 THEN 'http://127.0.0.1:$FAIL_PORT/status/500'
            ELSE 'http://127.0.0.1:$SLOW_PORT/slow/$SLOW_MS' END,
       CASE WHEN (i / 10) % 2 = 0 THEN 'ATLEAST_ONCE' ELSE 'ATMOST_ONCE' END,
       max_retries => CASE WHEN i % 10 = 8 THEN 1 ELSE 3 END,
       timeout => CASE WHEN i % 10 = 9 THEN interval '10 s' ELSE interval '5 s' END,
       active => false))
     FROM generate_series(1, $JOBS) i" >/dev/null
create_s=$(python3 -c "import time; print(round(time.time() - $t, 2))")
T_START=$(psql -h "$D" -p "$PGPORT" -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1 <<SQL
BEGIN;
SELECT count(jobsched.resume_job(id)) FROM jobsched.jobs \\g /dev/null
SELECT extract(epoch FROM now());
COMMIT;
SQL
)
log "created $JOBS jobs in ${create_s}s, resumed at $T_START"

# --- 4./5. run, sample, crash --------------------------------------------------------------------------------
T0=$(now)
CRASH_AT=$(python3 -c "print($T0 + $DURATION / 2)")
END_AT=$(python3 -c "print($T0 + $DURATION)")
SAMPLES=$OUT/samples.tsv
printf 't\tphase\tpid\tvmrss_kb\trssanon_kb\trows\ttable_bytes\tin_flight\tqueued\tlateness_p99_ms\tsent_total\tworker_cpu_s\tcpu_busy_s\tcpu_total_s\tours_cpu_s\n' > "$SAMPLES"
nsample=0 nexport=0 last_export=0 phase=pre RUN_MIN=0 T_KILL= T_PM_START= T_UP= crashed=0 snap_done=0 down_s=
sample() {
  local pid vm an row
  row=$(q "SELECT worker_pid, (SELECT count(*) FROM jobsched.executions),
                  pg_total_relation_size('jobsched.executions'), in_flight, queued,
                  round(coalesce(lateness_p99_ms, 0)::numeric, 1), sent_total FROM jobsched.stats" 2>/dev/null) || return 0
  IFS='|' read -r pid rows bytes infl queued p99 sent <<<"$row"
  [ -n "$pid" ] && [ "$pid" != 0 ] || return 0
  vm=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo "")
  an=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo "")
  [ -n "$vm" ] || return 0
  # the worker's CPU seconds (utime + stime), and the machine's busy and total CPU seconds (all CPUs, /proc/stat)
  wcpu=$(awk -v hz="$HZ" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$pid/stat" 2>/dev/null || echo 0)
  mcpu=$(awk -v hz="$HZ" '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print (t - $5 - $6) / hz "\t" t / hz }' /proc/stat)
  # CPU seconds of the soak's own server processes (the cluster, nginx, the sinks: their cwd or command line is
  # under $D), to tell how much other work shared the machine
  ours=$(python3 - "$D" "$HZ" <<'PY'
import os, sys
d, hz, total = sys.argv[1], int(sys.argv[2]), 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        cwd = os.readlink("/proc/%s/cwd" % pid)
    except OSError:
        cwd = ""
    try:
        cmd = open("/proc/%s/cmdline" % pid).read()
        if not (cwd.startswith(d) or d in cmd):
            continue
        st = open("/proc/%s/stat" % pid).read()
        f = st[st.rindex(")") + 2:].split()
        total += int(f[11]) + int(f[12])
    except (OSError, ValueError):
        pass
print(total / hz)
PY
)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(now)" "$phase" "$pid" "$vm" "$an" "$rows" "$bytes" \
    "$infl" "$queued" "$p99" "$sent" "$wcpu" "$mcpu" "$ours" >> "$SAMPLES"
  nsample=$((nsample + 1))
  # every 5th sample: the worker's memory contexts to the server log (their "Grand total", beside RssAnon, tells
  # palloc'd memory from memory allocated outside PostgreSQL, by libcurl for instance)
  (( nsample % 5 == 1 )) && { q "SELECT pg_log_backend_memory_contexts($pid)" >/dev/null 2>&1 || true; }
  (( nsample % 10 == 1 )) && log "$phase-crash: worker $pid VmRSS ${vm} kB RssAnon ${an} kB; executions $rows rows; in flight $infl, queued $queued, lateness p99 ${p99} ms; sent $sent"
  return 0
}
export_rows() {   # export_rows FILE LO_EPOCH HI_EPOCH: executions with scheduled_for in [LO, HI)
  q "COPY (SELECT id, job_id, extract(epoch FROM scheduled_for), attempt, status, sends,
                 extract(epoch FROM started_at), extract(epoch FROM finished_at), http_status,
                 extract(epoch FROM retry_at)
          FROM jobsched.executions
          WHERE scheduled_for >= to_timestamp($2) AND scheduled_for < to_timestamp($3)) TO STDOUT WITH CSV" > "$1"
}
crash() {
  local pm children
  # 0.7 s after a fire second: that second's slow requests (held 1.5 s) are in flight
  sleep "$(python3 -c "import time; t = time.time(); print(round((t - 0.7) // $EVERY * $EVERY + $EVERY + 0.7 - t, 3))")"
  pm=$(pm_pid)
  children=$(pgrep -P "$pm" || true)
  # the oldest run in flight (or claimed ahead): the crash window starts before it
  RUN_MIN=$(q "SELECT coalesce(floor(extract(epoch FROM min(scheduled_for))), floor(extract(epoch FROM now())))
               FROM jobsched.executions WHERE status = 'running'")
  log "kill -9 of the postmaster $pm ($(wc -w <<<"$children") children; in flight $(q "SELECT in_flight FROM jobsched.stats"))"
  T_KILL=$(now)
  kill -9 "$pm"
  for _ in $(seq 600); do
    local alive=0
    for c in $pm $children; do kill -0 "$c" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for c in $pm $children; do kill -0 "$c" 2>/dev/null && { log "process $c still alive after 60 s"; exit 1; }; done
  log "all server processes gone after $(python3 -c "print(round($(now) - $T_KILL, 2))")s; down ${DOWN}s more"
  sleep "$DOWN"
  T_PM_START=$(now)
  pg_start
  for _ in $(seq 600); do [ "$(q "SELECT worker_pid > 0 FROM jobsched.stats" 2>/dev/null)" = t ] && break; sleep 0.1; done
  T_UP=$(now)
  down_s=$(python3 -c "print(round($T_UP - $T_KILL, 2))")
  CW_LO=$(python3 -c "import math; print(min(math.floor($T_KILL) - 8, int($RUN_MIN) - 3))")
  CW_HI=$(python3 -c "import math; print(math.floor($T_UP) + 11)")
  log "restarted: postmaster up after $(python3 -c "print(round($(now) - $T_PM_START, 2))")s of recovery, worker up ${down_s}s after the kill"
  phase=post
}
while :; do
  tn=$(now)
  python3 -c "import sys; sys.exit(0 if $tn < $END_AT else 1)" || break
  if [ $crashed = 0 ] && python3 -c "import sys; sys.exit(0 if $tn >= $CRASH_AT else 1)"; then
    crash; crashed=1
  fi
  sample
  # The crash window: exported at once (before the retention purges what finished before the kill), then every
  # 20 s while some of its runs are not final (a retry or re-send still waiting: each export catches what became
  # final since, before the retention purges it), and once more at the end.  The checker merges them by id.
  if [ $crashed = 1 ] && [ $snap_done = 0 ]; then
    tn=$(now)
    if [ $nexport = 0 ] || python3 -c "import sys; sys.exit(0 if $tn >= $CW_HI + 3 and $tn >= $last_export + 20 else 1)"; then
      open=$(q "SELECT count(*) FROM jobsched.executions WHERE status IN ('running', 'retrying')
                AND scheduled_for >= to_timestamp($CW_LO) AND scheduled_for < to_timestamp($CW_HI)")
      export_rows "$OUT/crash-$nexport.csv" "$CW_LO" "$CW_HI"
      log "crash window [$CW_LO, $CW_HI) export $nexport: $(wc -l < "$OUT/crash-$nexport.csv") rows ($open not final)"
      last_export=$tn nexport=$((nexport + 1))
      if [ "$open" = 0 ] && python3 -c "import sys; sys.exit(0 if $tn >= $CW_HI + 3 else 1)"; then snap_done=1; fi
    fi
  fi
  sleep "$SAMPLE"
done
[ $nexport -gt 0 ] || { log "the crash window was never exported (duration too short?)"; exit 1; }

# --- 6. stop, settle, export, check --------------------------------------------------------------------------
T_PAUSE=$(now)
q "SELECT count(jobsched.pause_job(id)) FROM jobsched.jobs" >/dev/null
log "paused all jobs; waiting for running and retrying executions to finish"
for _ in $(seq 900); do
  [ "$(q "SELECT count(*) FROM jobsched.executions WHERE status IN ('running', 'retrying')")" = 0 ] && break
  sleep 0.1
done
T_SETTLED=$(now)
EW_HI=$(python3 -c "import math; print(math.floor($T_PAUSE) - 1)")
EW_LO=$((EW_HI - 40))
export_rows "$OUT/end.csv" "$EW_LO" "$((EW_HI + 5))"
# the crash window again: runs that were not final at the first export (a retry or re-send still waiting) are now;
# the checker takes the newer version of each row, and the first export's for rows purged since
export_rows "$OUT/crash-end.csv" "$CW_LO" "$CW_HI"
oldest_age=$(q "SELECT coalesce(round(extract(epoch FROM now() - min(finished_at))), 0) FROM jobsched.executions
                WHERE status NOT IN ('running', 'retrying')")
q "COPY (SELECT id, url, type, max_retries, extract(epoch FROM created_at) FROM jobsched.jobs) TO STDOUT WITH CSV" > "$OUT/jobs.csv"
dup_all=$(q "SELECT count(*) - count(DISTINCT (job_id, scheduled_for, attempt)) FROM jobsched.executions")
open_end=$(q "SELECT count(*) FROM jobsched.executions WHERE status IN ('running', 'retrying')")
rows_end=$(q "SELECT count(*) FROM jobsched.executions")
by_status=$(q "SELECT string_agg(status || '=' || n, ' ' ORDER BY status) FROM (SELECT status, count(*) n FROM jobsched.executions GROUP BY 1) s")
alerts=$(q "SELECT coalesce(string_agg(kind || '=' || n, ' ' ORDER BY kind), '') FROM (SELECT kind, count(*) n FROM jobsched.alerts GROUP BY 1) s")
recovered=$(grep -o 'jobsched: recovered interrupted executions.*' "$D/pg.log" | tail -1 || true)
grep -E '\] LOG:  (Grand total|jobsched)' "$D/pg.log" > "$OUT/pg-log-excerpt.txt" || true
log "settled after $(python3 -c "print(round($T_SETTLED - $T_PAUSE, 1))")s; stopping servers"
sleep 2   # nginx writes its log every second
cleanup
load=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$OUT/meta.json" <<PY
import json, sys
json.dump(dict(jobs=$JOBS, every=$EVERY, schedule="$SCHEDULE", duration=$DURATION, down=$DOWN, retention_s=$RETENTION * 60, grace_s=$GRACE,
               sample_s=$SAMPLE, max_rss_ratio=$MAX_RSS_RATIO, slow_ms=$SLOW_MS,
               good_port=$GOOD_PORT, fail_port=$FAIL_PORT, slow_port=$SLOW_PORT,
               t_start=$T_START, t0=$T0, t_kill=$T_KILL, t_pm_start=$T_PM_START, t_up=$T_UP,
               t_pause=$T_PAUSE, t_settled=$T_SETTLED, cw_lo=$CW_LO, cw_hi=$CW_HI, ew_lo=$EW_LO, ew_hi=$EW_HI,
               create_s=$create_s, dup_all=$dup_all, oldest_finished_age_s=$oldest_age, open_end=$open_end, rows_end=$rows_end,
               by_status="$by_status", alerts="$alerts", recovered="""$recovered""", load="$load",
               so_md5="$so_md5", max_in_flight=$IN_FLIGHT, max_host_connections=$HOST_CONN,
               nginx_log="$D/nginx/logs/access.log", fail_log="$D/sink-fail.log", slow_log="$D/sink-slow.log"),
          open(sys.argv[1], "w"), indent=1)
PY
python3 "$HERE/soak_check.py" "$OUT" | tee "$OUT/summary.txt"
exit "${PIPESTATUS[0]}"
