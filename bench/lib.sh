# Shared functions for the jobsched benchmarks: a throwaway PostgreSQL 15 cluster on a unix socket and an nginx sink
# on loopback that logs the arrival time ($msec) of every request.  Sourced by the scenario scripts.
# Everything lives under $BENCH_DIR and is thrown away; results go to $OUT (bench/out, ignored by git).
BENCH_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/jobsched-bench}
OUT=${OUT:-$BENCH_HOME/out}
# Ports of our own, away from the defaults, so a developer's cluster or another bench is never touched.  The sink's
# is below the ephemeral range (32768-60999 here): with tens of thousands of client connections on loopback, a port in
# that range is sometimes taken as the local end of one, and nginx cannot bind it.
PGPORT=${PGPORT:-55632}
SINK_PORT=${SINK_PORT:-28280}
# The sink's HTTPS servers (README.md, "HTTPS"): one offering HTTP/2 by ALPN, one HTTP/1.1 only; same reason for ports
# below the ephemeral range.  Their certificates (a private CA and a server certificate for 127.0.0.1) are in $TLS_DIR.
TLS_H2_PORT=${TLS_H2_PORT:-28443}
TLS_H1_PORT=${TLS_H1_PORT:-28444}
TLS_DIR=$BENCH_DIR/tls
# The servers run from a private copy of the PostgreSQL installation, with jobsched, pg_net and pg_cron installed into
# it (make install DESTDIR=...): the system's library directory is shared with everyone working on this machine, and
# another jobsched build installed there in the middle of a run would change what is measured.  PostgreSQL finds its
# lib and share directories relative to its binaries, so the copy works as is.
PGROOT=${PGROOT:-/tmp/jobsched-bench-pg}
PGBIN=$PGROOT$(pg_config --bindir)
PKGLIB=$PGROOT$(pg_config --pkglibdir)
PGSHARE=$PGROOT$(pg_config --sharedir)
# pg_net and jobsched hold one socket per request in flight; su resets the soft limit to 1024.  Ask for 65536, or
# the hard limit if lower (an unprivileged `ulimit -n` cannot go past it)
hard=$(ulimit -Hn); [ "$hard" = unlimited ] && hard=65536
NOFILE=${NOFILE:-$(( hard < 65536 ? hard : 65536 ))}
export PGHOST=$BENCH_DIR PGPORT PGUSER=postgres PGDATABASE=postgres
# PIN_SINK=1: the sink gets the last CPU to itself and the database (or wrk) the others, nearer to a sink on another
# machine (but the rest of PostgreSQL then shares the worker's CPU: README.md).  Unpinned, the kernel tends to run nginx on the CPU of the process that just wrote to it (a loopback
# wake-up), so the sender and nginx take turns on one CPU while the other idles.
PIN_SINK=${PIN_SINK:-0}
SINK_TASKSET=""; CLIENT_TASKSET=""
if [ "$PIN_SINK" = 1 ] && [ "$(nproc)" -ge 2 ]; then
  SINK_TASKSET="taskset -c $(( $(nproc) - 1 ))"; CLIENT_TASKSET="taskset -c 0-$(( $(nproc) - 2 ))"
fi
SINK_LOG=$BENCH_DIR/nginx/logs/access.log
mkdir -p "$OUT"

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
q() { psql -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
now() { date +%s.%N; }
# seconds elapsed since $1 (a `now` value), printed with millisecond precision
since() { python3 -c "import sys,time; print(f'{time.time()-float(sys.argv[1]):.3f}')" "$1"; }

# Append one result as a JSON object to $OUT/results.jsonl: result key=value ...  (values that look numeric stay numbers)
result() {
  python3 - "$@" ${SINK_TASKSET:+pinned=1} >> "$OUT/results.jsonl" <<'PY'
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
  [ -x "$PGBIN/postgres" ] || { log "no private PostgreSQL installation in $PGROOT: bench/run makes it"; return 1; }
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
  $CLIENT_TASKSET ${CLUSTER_WRAP:-} su postgres -c "ulimit -n $NOFILE; $PGBIN/pg_ctl -D $BENCH_DIR/pg -l $BENCH_DIR/pg.log -w -t 60 start" >/dev/null
}

cluster_stop() {
  [ -f "$BENCH_DIR/pg/postmaster.pid" ] || return 0
  su postgres -c "$PGBIN/pg_ctl -D $BENCH_DIR/pg -m immediate -w -t 30 stop" >/dev/null 2>&1 || true
}

# tls_setup: a private CA and a server certificate for 127.0.0.1 signed by it (RSA 2048, SHA-256, as
# test/t/013_https.pl makes them), in $TLS_DIR; made once and kept while valid for another day.  Also bundle.crt: the
# system's CA bundle (libcurl's default, `curl-config --ca`) with the CA appended, the store system_trust_ca gives a
# server.
tls_setup() {
  local d=$TLS_DIR sys
  if ! { [ -f "$d/server.crt" ] && openssl x509 -checkend 86400 -noout -in "$d/server.crt" >/dev/null 2>&1; }; then
    tls_make_certs
  fi
  sys=$(curl-config --ca 2>/dev/null || true)
  if [ -n "$sys" ] && [ -f "$sys" ]; then cat "$sys" "$d/ca.crt" > "$d/bundle.crt"; else cp "$d/ca.crt" "$d/bundle.crt"; fi
  chmod 644 "$d/bundle.crt"
}
tls_make_certs() {
  local d=$TLS_DIR
  rm -rf "$d"; mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj '/CN=jobsched bench CA' \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  openssl req -new -newkey rsa:2048 -nodes -subj '/CN=127.0.0.1' \
    -addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$d/ext.cnf"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 7 -sha256 \
    -extfile "$d/ext.cnf" -out "$d/server.crt" 2>/dev/null
  chmod 644 "$d/ca.crt" "$d/server.crt"; chmod 600 "$d/ca.key" "$d/server.key"
}

# sink_url TARGET: where a scenario sends its requests: http (the plain sink), h1 (HTTPS, HTTP/1.1 only), h2 (HTTPS
# offering HTTP/2)
sink_url() {
  case ${1:-http} in
    http) echo "http://127.0.0.1:$SINK_PORT" ;;
    h1) echo "https://127.0.0.1:$TLS_H1_PORT" ;;
    h2) echo "https://127.0.0.1:$TLS_H2_PORT" ;;
    *) log "unknown target $1 (http, h1 or h2)"; return 1 ;;
  esac
}

# The sink: one nginx worker answering 200 to everything, logging arrival time, URI, status, the Idempotency-Key
# (jobsched puts the run's scheduled time in it), the request's rank on its connection (1 = a new connection), the
# connection's serial number (an HTTP/2 connection's streams share it) and the protocol.  Three servers in that one
# worker: plain HTTP on $SINK_PORT, and HTTPS on $TLS_H2_PORT (HTTP/2 offered by ALPN) and $TLS_H1_PORT (HTTP/1.1
# only) with nginx's TLS defaults (TLS 1.2 and 1.3, session tickets on).  Same config for every stack and for the
# ceiling measurement; idle servers cost nothing.
sink_start() {
  sink_stop
  tls_setup
  rm -rf "$BENCH_DIR/nginx"; mkdir -p "$BENCH_DIR/nginx/logs"
  cat > "$BENCH_DIR/nginx/nginx.conf" <<CONF
worker_processes 1;
worker_rlimit_nofile $NOFILE;
pid $BENCH_DIR/nginx/nginx.pid;
error_log $BENCH_DIR/nginx/logs/error.log;
events { worker_connections 16384; }
http {
  log_format ts '\$msec \$request_uri \$status \$http_idempotency_key \$connection_requests \$connection \$server_protocol';
  access_log $SINK_LOG ts buffer=256k flush=1s;
  client_body_temp_path $BENCH_DIR/nginx;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$SINK_PORT;
    location / { return 200 "ok\n"; }
  }
  server {
    listen 127.0.0.1:$TLS_H2_PORT ssl http2;
    ssl_certificate $TLS_DIR/server.crt;
    ssl_certificate_key $TLS_DIR/server.key;
    location / { return 200 "ok\n"; }
  }
  server {
    listen 127.0.0.1:$TLS_H1_PORT ssl;
    ssl_certificate $TLS_DIR/server.crt;
    ssl_certificate_key $TLS_DIR/server.key;
    location / { return 200 "ok\n"; }
  }
}
CONF
  (ulimit -n "$NOFILE"; $SINK_TASKSET nginx -c "$BENCH_DIR/nginx/nginx.conf" -p "$BENCH_DIR/nginx")
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

# system_trust_ca: make the next cluster_start's server trust the sink's CA through the system store: for pg_net,
# which has no CA setting of its own and verifies against libcurl's default store, the system bundle compiled into
# libcurl (`curl-config --ca`, /etc/ssl/certs/ca-certificates.crt on Debian), and for jobsched with TLS_TRUST=system
# (no jobsched.ssl_ca_file: what a target with a public certificate needs).  The system's store is not changed
# (update-ca-certificates would change it for everyone on the machine, and leave it changed if the run is killed):
# the server is started in a mount namespace of its own (unshare -m, so root only) in which a copy of that bundle
# with the CA appended is bind-mounted over it.  Only the server's processes see the copy, and it goes away with
# them: nothing to undo in cleanup.  Returns 1, saying why, when that cannot be done.
system_trust_ca() {
  local sys
  sys=$(curl-config --ca 2>/dev/null || true)
  [ "$(id -u)" = 0 ] || { log "trusting the CA through the system store needs root (a mount namespace)"; return 1; }
  [ -n "$sys" ] && [ -f "$sys" ] || { log "libcurl's default CA bundle not found (curl-config --ca: '$sys')"; return 1; }
  command -v unshare >/dev/null || { log "unshare (util-linux) not found"; return 1; }
  tls_setup
  cat > "$TLS_DIR/with-ca" <<SH
#!/bin/sh
# runs its arguments with $sys holding the bench CA too (in the mount namespace unshare made for it)
set -e
mount --bind "$TLS_DIR/bundle.crt" "$sys"
exec "\$@"
SH
  chmod 755 "$TLS_DIR/with-ca"
  CLUSTER_WRAP="unshare --mount --propagation private $TLS_DIR/with-ca"
  # inside, the system bundle verifies the sink's certificate; outside, it still does not
  $CLUSTER_WRAP openssl verify -CAfile "$sys" "$TLS_DIR/server.crt" >/dev/null 2>&1 \
    || { log "could not give the server a trust store with the CA (unshare/mount failed)"; CLUSTER_WRAP=""; return 1; }
  if openssl verify -CAfile "$sys" "$TLS_DIR/server.crt" >/dev/null 2>&1; then
    log "note: the system CA bundle already trusts the bench CA"
  fi
}

# A fresh private installation: the system's binaries, libraries and share files (with whatever extensions are
# installed there), ready for our own builds on top
pg_tree_create() {
  rm -rf "$PGROOT"
  mkdir -p "$(dirname "$PGBIN")" "$(dirname "$PGSHARE")"
  cp -a "$(dirname "$(pg_config --bindir)")/." "$(dirname "$PGBIN")/"
  cp -a "$(pg_config --sharedir)/." "$PGSHARE/"
  chmod 755 "$PGROOT"
}
# make_install DIR LOG: build an extension with PGXS and install it into the private installation
make_install() {
  make -C "$1" -s >"$2" 2>&1 && make -C "$1" -s install DESTDIR="$PGROOT" >>"$2" 2>&1
}

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

# jobsched trusts the sink's private CA: TLS_TRUST=ca (the default) through jobsched.ssl_ca_file naming the CA alone
# (plain HTTP never reads it); TLS_TRUST=system without jobsched.ssl_ca_file, through the system store, as pg_net
# does (system_trust_ca): then each new TLS connection verifies against the ~150 certificates of the system bundle,
# as it would for a target with a public certificate
TLS_TRUST=${TLS_TRUST:-ca}
jobsched_start() {
  local ca=""
  tls_setup
  case $TLS_TRUST in
    ca) ca="jobsched.ssl_ca_file = '$TLS_DIR/ca.crt'" ;;
    system) system_trust_ca || return 1 ;;
    *) log "TLS_TRUST: ca or system, not $TLS_TRUST"; return 1 ;;
  esac
  cluster_start jobsched "jobsched.database_name = 'postgres'
$ca
${JOBSCHED_CONF:-}"
  q "create extension jobsched" >/dev/null
  wait_for "select worker_pid > 0 from jobsched.stats" 30 || { log "jobsched worker did not start"; return 1; }
}

jobsched_worker_pid() { q "select worker_pid from jobsched.stats"; }

ext_version() { sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$PGSHARE/extension/$1.control" 2>/dev/null; }
pg_net_installed() { [ -n "$(ext_version pg_net)" ] && [ -f "$PKGLIB/pg_net.so" ]; }
# Schedules of "N seconds" came with pg_cron 1.5; Debian 12 ships 1.4.2, which only fires once a minute
pg_cron_installed() {
  local v; v=$(ext_version pg_cron)
  [ -n "$v" ] && [ "$(printf '%s\n' 1.5 "$v" | sort -V | head -1)" = 1.5 ]
}

# ensure_built NAME SRC_DIR: build an extension from a source directory given at bench time and install it into the
# private installation; without one, use what the system has if it will do.  Nothing of pg_net or pg_cron is kept in
# this repository.
ensure_built() {
  local name=$1 src=$2
  if [ -n "$src" ] && [ -f "$src/Makefile" ]; then
    log "$name: building from $src"
    make_install "$src" "$OUT/build-$name.log" || { log "$name: build failed, see $OUT/build-$name.log"; return 1; }
  fi
  "${name}_installed" || { log "$name: not available (no usable installed one, no source directory given)"; return 1; }
}

# other_cpu ROOT_PID [SNAPSHOT]: CPU time of the processes that are not the benchmark's -- not under ROOT_PID (bench/run),
# not a server of $BENCH_DIR (PostgreSQL backends have the data directory as cwd; nginx has it on its command line).
# Without SNAPSHOT it prints a snapshot (one "pid:start ticks" per process); with one, the CPUs those processes kept
# busy since then (a test suite, a fuzzer beside the benchmark: above ~0.1 the figures are pessimistic).  A process
# that came and went in between is missed, so this is a lower bound.
other_cpu() {
  python3 - "$1" "$BENCH_DIR" "${2:-}" <<'PY'
import os, sys, time
root, bench, snap = sys.argv[1:4]
hz = os.sysconf('SC_CLK_TCK')
procs = {}
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        stat = open(f'/proc/{pid}/stat').read()
        f = stat[stat.rindex(')') + 2:].split()
        try: cwd = os.readlink(f'/proc/{pid}/cwd')
        except OSError: cwd = ''
        cmd = open(f'/proc/{pid}/cmdline').read()
    except (OSError, ValueError):
        continue
    procs[pid] = (f[1], f[19], int(f[11]) + int(f[12]), cwd.startswith(bench) or bench in cmd)
def ours(pid):
    for _ in range(64):
        if pid == root: return True
        if pid not in procs or procs[pid][3]: return pid in procs
        pid = procs[pid][0]
    return False
now = {f'{pid}:{p[1]}': p[2] for pid, p in procs.items() if not ours(pid)}
if not snap:
    print(time.time(), ' '.join(f'{k}={v}' for k, v in now.items()))
else:
    t0, *rest = snap.split()
    before = dict(kv.split('=') for kv in rest)
    print(round(sum(v - int(before.get(k, 0)) for k, v in now.items()) / hz / (time.time() - float(t0)), 2))
PY
}
