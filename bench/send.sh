#!/usr/bin/env bash
# jobsched.send() (issue 16) against pg_net and graphile-worker, in one run, on this machine, against the same sink.
# As root (servers run as user postgres):
#
#     PG_NET_SRC=/path/to/pg_net bench/send.sh [--burst N] [--latency N] [--only LIST] [--worktree | --no-build]
#
#   --burst N    requests in the burst statement (20,000); 0 skips the burst
#   --latency N  sequential single requests per stack in the latency test (1,000); 0 skips it
#   --only LIST  run only these parts: burst, latency (scenarios) and/or jobsched, pg_net, graphile-worker (stacks),
#                comma- or space-separated, repeatable: "--only latency,graphile-worker" is graphile-worker's latency
#   --gap MS     sleep between two latency requests (10); --warmup N unmeasured requests first (20)
#   --worktree   build jobsched from the working tree (uncommitted changes included) instead of HEAD's `git archive`;
#   --no-build   use what the private installation holds
#   PG_NET_SRC   pg_net source tree, built with PGXS into the private installation (PG_NET_COMMIT names its version
#                when it is not a git work tree); without it the pg_net lines say n/a
#   GW_VERSION   graphile-worker version from npm (0.17.3: the last whose engines accept Node 20; 0.18 needs 22.18),
#                installed with npm into GW_DIR (/tmp/jobsched-send-bench-gw) when not there yet
#   GW_CONCURRENCY  graphile-worker's concurrency (nproc)
#
# BURST.  On a fresh cluster (lib.sh cluster_start: initdb, fsync and synchronous_commit on) and a fresh sink, one
#   autocommit statement `SELECT count(jobsched.send('<sink>/b' || i, '{"i":1}')) FROM generate_series(1, N) i`
#   (send()'s defaults otherwise: POST, ATLEAST_ONCE, max_retries 3, timeout 30 s), timed from just before the
#   statement until a poll (every 50 ms) sees every request recorded: no run of jobsched.runs left (each finished
#   attempt has moved to the history) -- then the N executions must be `succeeded`.  The same for pg_net:
#   `SELECT count(net.http_post(url := '<sink>/b' || i, body := '{"i":1}'::jsonb)) FROM generate_series(1, N) i`,
#   until N rows are in net._http_response (status 200 counted as ok), with pg_net's default batch_size 200 (the
#   reference, as in bench/run) and once with 2,000 (its better case, for information; PGNET_2000=0 skips it).
#   runs/s = requests recorded ok / (all recorded - statement start).  Also recorded: the statement's own duration,
#   commit -> first and last arrival at the sink, the share of new connections.
# LATENCY.  For each stack, on a fresh cluster and sink: send_client.py (psycopg2, one connection) makes N single
#   requests one after another, each its own transaction (autocommit), GAP ms apart, after WARMUP unmeasured ones;
#   request i goes to <sink>/l<i>.  Commit time = time.time() right after the statement returns; arrival = the sink
#   log's $msec for that URI; latency = arrival - commit: p50 / p90 / p99 / max (send_analyze.py latency).
#     jobsched:         SELECT jobsched.send(url, body => '{"i":1}')
#     pg_net:           SELECT net.http_post(url := url, body := '{"i":1}'::jsonb)   (default settings)
#     graphile-worker:  SELECT graphile_worker.add_job('post', json_build_object('url', url, 'body', '{"i":1}'))
#   graphile-worker's schema (graphile_worker, made by its own migrations when the worker starts) lives in database
#   postgres of a fresh cluster of its own started from the same private installation (no preloaded library), as
#   each stack gets one.  Its worker (send_gw_worker.js, Node.js, `run()` with GW_CONCURRENCY, pollInterval at its
#   default 2,000 ms) runs a task `post` doing a keep-alive fetch() POST of the payload to the sink.  It is woken by
#   LISTEN "jobs:insert" (add_job NOTIFYs it at commit): the script waits for the listening connection in
#   pg_stat_activity before measuring, and the worker counts the notifications it got (pool:listen:notification),
#   reported beside the jobs it ran.
#
# Everything lives in /tmp/jobsched-send-bench (BENCH_DIR) with ports of its own (PostgreSQL 55932, sink 28380,
# 28553, 28554), jobsched and pg_net are installed into a private PostgreSQL installation, /tmp/jobsched-send-bench-pg
# (lib.sh's PGROOT; kept between runs for the same jobsched commit and pg_net tree), so bench/run, history.sh or a
# test suite beside it is not touched, and nothing goes into the system's PostgreSQL.
#
# RESULTS: one JSON line per measurement in bench/out/results.jsonl (scenario send_*; "run" tells one run from
# another), and bench/out/send.md (send_analyze.py report): jobsched, pg_net, graphile-worker, ratio, target, met?
# Each step records the CPUs other processes kept busy meanwhile (lib.sh other_cpu).
set -euo pipefail

BURST_N=20000 LAT_N=1000 ONLY="" BUILD=head GAP_MS=${GAP_MS:-10} WARMUP=${WARMUP:-20}
usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --burst) BURST_N=${2:?}; shift ;;
    --latency) LAT_N=${2:?}; shift ;;
    --only) ONLY="$ONLY ${2:?}"; shift ;;
    --gap) GAP_MS=${2:?}; shift ;;
    --warmup) WARMUP=${2:?}; shift ;;
    --worktree) BUILD=worktree ;;
    --no-build) BUILD=none ;;
    -h|--help) usage ;;
    *) echo "unknown argument $1" >&2; usage ;;
  esac
  shift
done
ONLY=${ONLY//,/ }
for o in $ONLY; do
  case $o in burst|latency|jobsched|pg_net|graphile-worker) ;; *) echo "--only: unknown part $o" >&2; usage ;; esac
done

# our own directory, ports and private installation: nothing of another bench or of a developer's cluster is touched
export BENCH_DIR=${BENCH_DIR:-/tmp/jobsched-send-bench}
export PGROOT=${PGROOT:-/tmp/jobsched-send-bench-pg}
export PGPORT=${PGPORT:-55932} SINK_PORT=${SINK_PORT:-28380} TLS_H2_PORT=${TLS_H2_PORT:-28553} TLS_H1_PORT=${TLS_H1_PORT:-28554}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
. "$HERE/lib.sh"
[ "$(id -u)" = 0 ] || { log "run as root (servers are started as user postgres)"; exit 2; }
GW_VERSION=${GW_VERSION:-0.17.3}
GW_DIR=${GW_DIR:-/tmp/jobsched-send-bench-gw}
GW_CONCURRENCY=${GW_CONCURRENCY:-$(nproc)}
RUN=$(date -u +%Y%m%dT%H%M%SZ)
T_ALL=$(now)
mkdir -p "$BENCH_DIR"

# want SCENARIO STACK: is this part selected by --only?
want() {
  local s=$1 k=$2 o sc=0 st=0 s_ok=0 k_ok=0
  for o in $ONLY; do
    case $o in
      burst|latency) sc=1; [ "$o" = "$s" ] && s_ok=1 ;;
      *) st=1; [ "$o" = "$k" ] && k_ok=1 ;;
    esac
  done
  { [ $sc = 0 ] || [ $s_ok = 1 ]; } && { [ $st = 0 ] || [ $k_ok = 1 ]; }
}

# a Python that has psycopg2 (the latency client): the one on PATH, or the system's (python3-psycopg2)
PY=""
for p in python3 /usr/bin/python3; do
  if "$p" -c 'import psycopg2' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || { log "no python3 with psycopg2 (Debian: python3-psycopg2)"; exit 2; }

GW_PID=""
gw_stop() {
  [ -n "$GW_PID" ] || return 0
  kill -TERM "$GW_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$GW_PID" 2>/dev/null || true
  wait "$GW_PID" 2>/dev/null || true
  GW_PID=""
}
STEP_PID=""
trap '[ -z "$STEP_PID" ] || kill "$STEP_PID" 2>/dev/null || true; gw_stop; cleanup' EXIT; trap 'exit 143' TERM INT

# --- builds ----------------------------------------------------------------------------------------------------
js_desc=$(git -C "$REPO" rev-parse --short HEAD)
have_net=0
if [ "$BUILD" != none ]; then
  case $BUILD in
    head)
      stamp="commit:$(git -C "$REPO" rev-parse HEAD)" ;;
    worktree)
      stamp="dir:$REPO:$(date +%s)"   # always built afresh
      [ -n "$(git -C "$REPO" status --porcelain -- src sql Makefile jobsched.control)" ] && js_desc="$js_desc + uncommitted changes" ;;
  esac
  net_stamp=none
  if [ -n "${PG_NET_SRC:-}" ] && [ -f "$PG_NET_SRC/Makefile" ]; then
    net_stamp="$(cd "$PG_NET_SRC" && pwd):$(find "$PG_NET_SRC" -name '*.c' -o -name '*.sql' -o -name Makefile | xargs cat | md5sum | cut -c1-12)"
  fi
  stamp="$stamp pg_net:$net_stamp"
  if [ -f "$PGROOT/.send-bench-build" ] && [ "$(cat "$PGROOT/.send-bench-build")" = "$stamp" ] && [ -f "$PKGLIB/jobsched.so" ]; then
    log "jobsched $js_desc and pg_net already built in $PGROOT"
  else
    src=$BENCH_DIR-src; rm -rf "$src"; mkdir -p "$src"
    if [ $BUILD = head ]; then
      git -C "$REPO" archive HEAD | tar -x -C "$src"
    else
      (cd "$REPO" && tar -c --exclude=.git --exclude='*.o' --exclude='*.bc' --exclude='*.so' --exclude=tmp_check \
         --exclude='tmp_check_*' --exclude=bench/out .) | tar -x -C "$src"
    fi
    log "building jobsched $js_desc into $PGROOT"
    pg_tree_create
    make_install "$src" "$OUT/send-build-jobsched.log" || { log "jobsched build failed, see $OUT/send-build-jobsched.log"; exit 1; }
    if [ "$net_stamp" != none ]; then
      nsrc=$BENCH_DIR-pgnet-src; rm -rf "$nsrc"; mkdir -p "$nsrc"
      (cd "$PG_NET_SRC" && tar -c --exclude=.git --exclude='*.o' --exclude='*.bc' --exclude='*.so' .) | tar -x -C "$nsrc"
      log "building pg_net from $PG_NET_SRC"
      make_install "$nsrc" "$OUT/send-build-pg_net.log" || { log "pg_net build failed, see $OUT/send-build-pg_net.log"; exit 1; }
    fi
    echo "$stamp" > "$PGROOT/.send-bench-build"
  fi
else
  js_desc="installed build in $PGROOT (tree at $js_desc)"
fi
pg_net_installed && have_net=1
net_desc=n/a
if [ $have_net = 1 ]; then
  net_desc="$(ext_version pg_net) ($(git -c safe.directory='*' -C "${PG_NET_SRC:-/nonexistent}" rev-parse --short HEAD 2>/dev/null || echo "${PG_NET_COMMIT:-commit unknown}"))"
fi

# graphile-worker from npm, pinned, in a private directory
have_gw=0
gw_installed() { [ "$(node -p "require('$GW_DIR/node_modules/graphile-worker/package.json').version" 2>/dev/null)" = "$GW_VERSION" ]; }
if want latency graphile-worker && [ "$LAT_N" -gt 0 ]; then
  if ! command -v node >/dev/null; then
    log "no node: graphile-worker n/a"
  else
    if ! gw_installed; then
      log "installing graphile-worker@$GW_VERSION with npm into $GW_DIR"
      mkdir -p "$GW_DIR"
      [ -f "$GW_DIR/package.json" ] || echo '{"name":"jobsched-send-bench-gw","private":true}' > "$GW_DIR/package.json"
      (cd "$GW_DIR" && npm install --no-audit --no-fund --save-exact "graphile-worker@$GW_VERSION") >"$OUT/send-npm.log" 2>&1 \
        || log "npm install failed, see $OUT/send-npm.log"
    fi
    gw_installed && have_gw=1
  fi
fi

# --- steps -----------------------------------------------------------------------------------------------------
# step NAME FUNCTION ARGS...: one measurement in a subshell (set -e holds inside it), its duration and the CPU other
# processes took meanwhile recorded; a failure is logged, not fatal
step() {
  local name=$1 t0 o0 rc=0; shift
  log "== $name"
  t0=$(now); o0=$(other_cpu $$)
  # in a background subshell: set -e would be ignored inside one whose status is tested; its own EXIT trap stops a
  # graphile-worker it started
  ( set -e; trap gw_stop EXIT; trap 'exit 143' TERM; "$@" ) &
  STEP_PID=$!
  wait "$STEP_PID" || rc=$?
  STEP_PID=""
  [ $rc = 0 ] || log "$name: exit status $rc"
  cleanup
  result scenario=send_timing run="$RUN" name="$name" seconds="$(since "$t0")" rc=$rc others_cpu="$(other_cpu $$ "$o0")"
}

burst() {   # burst jobsched|pg_net N [BATCH]
  local stack=$1 N=$2 batch=${3:-200} base t0 tc td timed_out=0 ok o0 done_sql ok_sql
  base=$(sink_url http)
  sink_start
  if [ "$stack" = jobsched ]; then
    jobsched_start
    done_sql="select not exists (select 1 from jobsched.runs)"
    ok_sql="select count(*) from jobsched.executions where status = 'succeeded'"
    stmt="select count(jobsched.send('$base/b' || i, '{\"i\":1}')) from generate_series(1, $N) i"
  else
    cluster_start pg_net "pg_net.batch_size = $batch"
    q "create extension pg_net" >/dev/null
    done_sql="select count(*) >= $N from net._http_response"
    ok_sql="select count(*) from net._http_response where status_code = 200"
    stmt="select count(net.http_post(url := '$base/b' || i, body := '{\"i\":1}'::jsonb)) from generate_series(1, $N) i"
  fi
  sleep 1
  o0=$(other_cpu $$)
  t0=$(now)
  q "$stmt" >/dev/null
  tc=$(now)
  wait_for "$done_sql" "${BURST_TIMEOUT:-300}" || timed_out=1
  td=$(now)
  ok=$(q "$ok_sql")
  if [ "$stack" = jobsched ]; then
    q "select status, count(*) from jobsched.executions group by 1" >&2
  else
    q "select coalesce(status_code::text, error_msg), count(*) from net._http_response group by 1" >&2
  fi
  local others; others=$(other_cpu $$ "$o0")
  sink_flush
  local wire; wire=$(python3 "$HERE/analyze.py" burst "$SINK_LOG" /b "$tc")
  local secs rate stmt_s
  secs=$(python3 -c "print(round($td - $t0, 3))")
  stmt_s=$(python3 -c "print(round($tc - $t0, 3))")
  rate=$(python3 -c "print(round($ok / ($td - $t0)))")
  log "burst $stack N=$N ok=$ok statement=${stmt_s}s start->all recorded=${secs}s rate=$rate/s $wire timed_out=$timed_out others=$others"
  result scenario=send_burst run="$RUN" stack="$stack" n="$N" ok="$ok" failed=$((N - ok)) stmt_s="$stmt_s" \
    seconds="$secs" commit_to_done_s="$(python3 -c "print(round($td - $tc, 3))")" rate="$rate" timed_out=$timed_out \
    $([ "$stack" = pg_net ] && echo "pgnet_batch=$batch") others_cpu="$others" $wire
}

latency() {   # latency jobsched|pg_net|graphile-worker N [GAP_MS [VARIANT]]
  local stack=$1 N=$2 gap=${3:-$GAP_MS} variant=${4:-} warm=${LAT_WARMUP:-$WARMUP} base commits=$BENCH_DIR/latency-$1.txt done_sql o0 notes=""
  base=$(sink_url http)
  sink_start
  case $stack in
    jobsched)
      jobsched_start
      done_sql="select not exists (select 1 from jobsched.runs)" ;;
    pg_net)
      cluster_start pg_net ""
      q "create extension pg_net" >/dev/null
      done_sql="select count(*) >= $((N + warm)) from net._http_response" ;;
    graphile-worker)
      cluster_start "" ""
      rm -f "$BENCH_DIR/gw-stats.json"
      (cd "$BENCH_DIR" && NODE_PATH=$GW_DIR/node_modules NO_LOG_SUCCESS=1 exec node "$HERE/send_gw_worker.js" \
         "$GW_CONCURRENCY" "$BENCH_DIR/gw-stats.json") >"$OUT/send-gw-worker.log" 2>&1 &
      GW_PID=$!
      # its migrations made the schema, and its run loop holds LISTEN "jobs:insert" on a connection of its own
      wait_for "select exists (select 1 from pg_stat_activity where query like 'LISTEN \"jobs:insert\"%')
                and to_regproc('graphile_worker.add_job') is not null" 60 \
        || { log "graphile-worker did not start listening, see $OUT/send-gw-worker.log"; return 1; }
      done_sql="select count(*) = 0 from graphile_worker._private_jobs" ;;
  esac
  sleep 1
  o0=$(other_cpu $$)
  "$PY" "$HERE/send_client.py" "$stack" "$N" "$base" "$commits" "$gap" "$warm"
  wait_for "$done_sql" 120 || notes="not all done after 120 s; "
  local others; others=$(other_cpu $$ "$o0")
  if [ "$stack" = jobsched ]; then
    q "select status, count(*) from jobsched.executions group by 1" >&2
    local bad; bad=$(q "select count(*) from jobsched.executions where status <> 'succeeded'")
    [ "$bad" = 0 ] || notes="$notes$bad executions not succeeded; "
  elif [ "$stack" = pg_net ]; then
    q "select coalesce(status_code::text, error_msg), count(*) from net._http_response group by 1" >&2
  else
    local listening; listening=$(q "select count(*) from pg_stat_activity where query like 'LISTEN \"jobs:insert\"%'")
    gw_stop
    local st; st=$(cat "$BENCH_DIR/gw-stats.json" 2>/dev/null || echo '{}')
    log "graphile-worker: $st"
    notes="$notes$(python3 - "$st" "$((N + warm))" "$GW_CONCURRENCY" "$listening" <<'PY'
import json, sys
s, jobs, conc, listening = json.loads(sys.argv[1] or '{}'), int(sys.argv[2]), sys.argv[3], sys.argv[4]
print(f"concurrency {conc}; LISTEN connection {'held' if listening != '0' else 'NOT seen'} at the end; "
      f"{s.get('notifications', '?')} NOTIFYs received for {jobs} jobs added; "
      f"{s.get('completed', '?')} completed, {s.get('failed', '?')} failed; pollInterval 2,000 ms (default)")
PY
)"
  fi
  sink_flush
  local stats; stats=$(python3 "$HERE/send_analyze.py" latency "$commits" "$SINK_LOG" /l)
  log "latency $stack${variant:+ $variant}: $stats ${notes:+($notes)} others=$others"
  result scenario=send_latency run="$RUN" stack="$stack" ${variant:+variant=$variant} gap_ms="$gap" warmup="$warm" others_cpu="$others" \
    notes="${notes%; }" $stats
}

skip() { result scenario="$1" run="$RUN" stack="$2" ${3:+pgnet_batch=$3} skipped="${4:-n/a}"; }

# --- the run ---------------------------------------------------------------------------------------------------
if [ "$BURST_N" -gt 0 ]; then
  want burst jobsched && step "burst jobsched" burst jobsched "$BURST_N"
  if want burst pg_net; then
    if [ $have_net = 1 ]; then
      step "burst pg_net" burst pg_net "$BURST_N" 200
      [ "${PGNET_2000:-1}" = 1 ] && step "burst pg_net batch 2000" burst pg_net "$BURST_N" 2000
    else
      skip send_burst pg_net 200 "n/a (no pg_net: give PG_NET_SRC)"
    fi
  fi
fi
if [ "$LAT_N" -gt 0 ]; then
  want latency jobsched && step "latency jobsched" latency jobsched "$LAT_N"
  if want latency pg_net; then
    if [ $have_net = 1 ]; then
      step "latency pg_net" latency pg_net "$LAT_N"
      # for information: pg_net when each request finds its worker idle.  After a batch its worker sleeps up to 1 s
      # ("slow down queue processing") and a commit wakes it only if none did since the batch began, so at one
      # request every GAP ms most requests wait for that second; one request every 1.1 s does not.
      [ "${PGNET_IDLE_N:-50}" -gt 0 ] && LAT_WARMUP=3 step "latency pg_net idle" latency pg_net "${PGNET_IDLE_N:-50}" 1100 idle
    else skip send_latency pg_net "" "n/a (no pg_net: give PG_NET_SRC)"; fi
  fi
  if want latency graphile-worker; then
    if [ $have_gw = 1 ]; then step "latency graphile-worker" latency graphile-worker "$LAT_N"
    else skip send_latency graphile-worker "" "n/a (graphile-worker@$GW_VERSION not installed)"; fi
  fi
fi

gw_desc=n/a
[ $have_gw = 1 ] && gw_desc="$GW_VERSION (npm, in $GW_DIR; pg $(node -p "require('$GW_DIR/node_modules/pg/package.json').version"))"
result scenario=send_env run="$RUN" date="$(date -u '+%Y-%m-%d %H:%M UTC')" total_s="$(since "$T_ALL")" \
  machine="$(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r), load average at the end $(cut -d' ' -f1-3 /proc/loadavg)" \
  postgres="$("$PGBIN/postgres" --version)" libcurl="$(curl-config --version)" \
  nginx="$(nginx -v 2>&1 | sed 's/^nginx version: //')" pg_net="$net_desc" graphile_worker="$gw_desc" \
  node="$(node --version 2>/dev/null || echo n/a)" psycopg2="psycopg2 $("$PY" -c 'import psycopg2; print(psycopg2.__version__.split()[0])') ($PY)" \
  jobsched="$js_desc" gap_ms="$GAP_MS" warmup="$WARMUP" \
  settings="fsync and synchronous_commit on, otherwise defaults (jobsched; pg_net: batch_size 200 unless said); one nginx worker as the sink on loopback; a fresh cluster and sink per measurement; graphile-worker concurrency $GW_CONCURRENCY, its schema in database postgres of its own cluster (same private installation)"
python3 "$HERE/send_analyze.py" report "$OUT/results.jsonl" "$OUT/send.md" "$RUN"
log "done in $(since "$T_ALL") s: $OUT/send.md"
