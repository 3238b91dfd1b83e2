# Shared functions for the jobsched benchmarks: a throwaway PostgreSQL 15 cluster on a unix socket and an nginx sink
# on loopback that logs the arrival time ($msec) of every request.  Sourced by the scenario scripts.
# Everything lives under $BENCH_DIR and is thrown away; results go to $OUT (bench/out, ignored by git).
BENCH_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/jobsched-bench}
OUT=${OUT:-$BENCH_HOME/out}
# Ports of our own, away from the defaults, so a developer's cluster or another bench is never touched
PGPORT=${PGPORT:-55632}
SINK_PORT=${SINK_PORT:-58280}
PGBIN=${PGBIN:-$(pg_config --bindir)}
# pg_net and jobsched hold one socket per request in flight; su resets the soft limit to 1024.  Ask for 65536, or
# the hard limit if lower (an unprivileged `ulimit -n` cannot go past it)
hard=$(ulimit -Hn); [ "$hard" = unlimited ] && hard=65536
NOFILE=${NOFILE:-$(( hard < 65536 ? hard : 65536 ))}
export PGHOST=$BENCH_DIR PGPORT PGUSER=postgres PGDATABASE=postgres
SINK_LOG=$BENCH_DIR/nginx/logs/access.log
mkdir -p "$OUT"

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
q() { psql -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
now() { date +%s.%N; }
# seconds elapsed since $1 (a `now` value), printed with millisecond precision
since() { python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.3f}')" "$1"; }

# Append one result as a JSON object to $OUT/results.jsonl: result key=value ...  (values that look numeric stay numbers)
result() {
  python3 - "$@" >> "$OUT/results.jsonl" <<'PY'
import sys, json
d = {}
for kv in sys.argv[1:]:
    k, v = kv.split('=', 1)
    try: v = int(v)
    except ValueError:
        try: v = float(v)
        except ValueError: pass
    d[k] = v
print(json.dumps(d))
PY
}

# cluster_start "<shared_preload_libraries>" "<extra postgresql.conf lines>": fresh initdb each time so nothing
# (tables, bloat, stats, queued requests) leaks from one scenario into the next
cluster_start() {
  local preload=$1 extra=${2:-}
  cluster_stop
  rm -rf "$BENCH_DIR/pg" "$BENCH_DIR/pg.log"; mkdir -p "$BENCH_DIR"; chown postgres "$BENCH_DIR"
  su postgres -c "$PGBIN/initdb -D $BENCH_DIR/pg -U postgres -A trust" >/dev/null
  # fsync and synchronous_commit stay on, as in the anchors: the figures are for a durable setup
  cat >> "$BENCH_DIR/pg/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$BENCH_DIR'
port = $PGPORT
shared_preload_libraries = '$preload'
max_worker_processes = 200
max_connections = 300
fsync = on
synchronous_commit = on
$extra
CONF
  su postgres -c "ulimit -n $NOFILE; $PGBIN/pg_ctl -D $BENCH_DIR/pg -l $BENCH_DIR/pg.log -w -t 60 start" >/dev/null
}

cluster_stop() {
  [ -f "$BENCH_DIR/pg/postmaster.pid" ] || return 0
  su postgres -c "$PGBIN/pg_ctl -D $BENCH_DIR/pg -m immediate -w -t 30 stop" >/dev/null 2>&1 || true
}

# The sink: one nginx worker answering 200 to everything, logging arrival time, URI, status, the Idempotency-Key
# (jobsched puts the run's scheduled time in it) and the request's rank on its connection (1 = a new connection).  Same config for every stack and for the ceiling measurement.
sink_start() {
  sink_stop
  rm -rf "$BENCH_DIR/nginx"; mkdir -p "$BENCH_DIR/nginx/logs"
  cat > "$BENCH_DIR/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile $NOFILE;
pid $BENCH_DIR/nginx/nginx.pid;
error_log $BENCH_DIR/nginx/logs/error.log;
events { worker_connections 16384; }
http {
  log_format ts '\$msec \$request_uri \$status \$http_idempotency_key \$connection_requests';
  access_log $SINK_LOG ts buffer=256k flush=1s;
  client_body_temp_path $BENCH_DIR/nginx;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$SINK_PORT;
    location / { return 200 "ok\n"; }
  }
}
CONF
  (ulimit -n "$NOFILE"; nginx -c "$BENCH_DIR/nginx/nginx.conf" -p "$BENCH_DIR/nginx")
}

sink_stop() {
  local f=$BENCH_DIR/nginx/nginx.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$f"
}

# nginx writes its log in 256k buffers flushed every second: wait for the flush before reading it
sink_flush() { sleep 1.5; }

cleanup() { cluster_stop; sink_stop; }

# wait_for "<sql returning true when done>" <timeout seconds>: polls every 50 ms; returns 1 on timeout
wait_for() {
  local sql=$1 deadline=$(( $(date +%s%3N) + $2 * 1000 ))
  while :; do
    [ "$(q "$sql")" = t ] && return 0
    (( $(date +%s%3N) > deadline )) && return 1
    sleep 0.05
  done
}

# CPU seconds (user + system) used so far by a process, from /proc/PID/stat fields 14 and 15
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}

jobsched_start() {
  cluster_start jobsched "jobsched.database_name = 'postgres'
${JOBSCHED_CONF:-}"
  q "create extension jobsched" >/dev/null
  wait_for "select worker_pid > 0 from jobsched.stats" 30 || { log "jobsched worker did not start"; return 1; }
}

jobsched_worker_pid() { q "select worker_pid from jobsched.stats"; }

ext_version() { sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$(pg_config --sharedir)/extension/$1.control" 2>/dev/null; }
pg_net_installed() { [ -n "$(ext_version pg_net)" ] && [ -f "$(pg_config --pkglibdir)/pg_net.so" ]; }
# Schedules of "N seconds" came with pg_cron 1.5; Debian 12 ships 1.4.2, which only fires once a minute
pg_cron_installed() {
  local v; v=$(ext_version pg_cron)
  [ -n "$v" ] && [ "$(printf '%s\n' 1.5 "$v" | sort -V | head -1)" = 1.5 ]
}

# ensure_built NAME SRC_DIR: build and install an extension from a source directory with PGXS, unless a usable one
# is installed.  Nothing of pg_net or pg_cron is kept in this repository: the source is given at bench time.
ensure_built() {
  local name=$1 src=$2
  "${name}_installed" && return 0
  [ -n "$src" ] && [ -f "$src/Makefile" ] || { log "$name: not installed and no source directory given"; return 1; }
  log "$name: building from $src"
  make -C "$src" -s >"$OUT/build-$name.log" 2>&1 && make -C "$src" -s install >>"$OUT/build-$name.log" 2>&1 \
    || { log "$name: build failed, see $OUT/build-$name.log"; return 1; }
  "${name}_installed"
}

# CPU seconds used so far by processes that are not the benchmark's: not under process $1 (bench/run), not a server
# of $BENCH_DIR (PostgreSQL backends have the data directory as cwd; nginx has it on its command line).  A test suite
# or a fuzzer running beside the benchmark shows up here, and its figures are then pessimistic.
others_cpu_seconds() {
  python3 - "$1" "$BENCH_DIR" <<'PY'
import os, sys
root, bench = sys.argv[1], sys.argv[2]
hz = os.sysconf('SC_CLK_TCK')
procs = {}
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        stat = open(f'/proc/{pid}/stat').read()
        f = stat[stat.rindex(')') + 2:].split()
        cwd = os.readlink(f'/proc/{pid}/cwd') if os.access(f'/proc/{pid}/cwd', os.R_OK) else ''
        cmd = open(f'/proc/{pid}/cmdline').read()
    except (OSError, ValueError):
        continue
    procs[pid] = (f[1], int(f[11]) + int(f[12]), cwd, cmd)
def ours(pid):
    for _ in range(64):
        if pid == root: return True
        if pid not in procs: return False
        pid = procs[pid][0]
    return False
print(sum(t for pid, (_, t, cwd, cmd) in procs.items()
          if not (ours(pid) or cwd.startswith(bench) or bench in cmd)) / hz)
PY
}
