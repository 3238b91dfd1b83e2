#!/usr/bin/env bash
# jobsched demo: builds and installs the extension, starts a private
# PostgreSQL cluster with jobsched preloaded and a local HTTP sink, creates a
# job that fires every second and one that fails, and prints their history,
# the alerts and a NOTIFY received by a listener.  Everything stays on
# loopback and stops at the end (--keep leaves it running).
#
#   sudo ./demo.sh          (root: installs missing packages, runs the
#                            server as user postgres)
#   ./demo.sh               (a user who can `make install`)
set -euo pipefail
cd "$(dirname "$0")"
KEEP=${1:-}
WORK=${DEMO_DIR:-/tmp/jobsched-demo}
PORT=${DEMO_PORT:-55499}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PYTHON=$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3 )

if ! [ -x "$PG_CONFIG" ] || ! command -v curl-config >/dev/null || ! [ -x /usr/lib/postgresql/15/bin/postgres ]; then
	[ "$(id -u)" = 0 ] || { echo "run as root once to install packages (see README)"; exit 1; }
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		gcc make libc6-dev postgresql-15 postgresql-server-dev-15 libcurl4-openssl-dev python3 >/dev/null
fi
BINDIR=$("$PG_CONFIG" --bindir)

echo "== building and installing jobsched"
make -s PG_CONFIG="$PG_CONFIG"
make -s install PG_CONFIG="$PG_CONFIG" >/dev/null

as_owner() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_all() {
	[ -f "$WORK/pg/postmaster.pid" ] && as_owner "$BINDIR/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1 || true
	[ -n "${SINK_PID:-}" ] && kill "$SINK_PID" 2>/dev/null || true
}
[ "$KEEP" = --keep ] || trap stop_all EXIT

echo "== private cluster in $WORK (port $PORT, jobsched preloaded)"
stop_all
rm -rf "$WORK"
mkdir -p "$WORK"
[ "$(id -u)" = 0 ] && chown postgres "$WORK"
as_owner "$BINDIR/initdb" -D "$WORK/pg" -U postgres -A trust >/dev/null
cat >> "$WORK/pg/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$WORK'
port = $PORT
shared_preload_libraries = 'jobsched'
jobsched.database_name = 'postgres'
CONF
as_owner "$BINDIR/pg_ctl" -D "$WORK/pg" -l "$WORK/server.log" -w start >/dev/null

echo "== HTTP sink on 127.0.0.1 (test/sink.py)"
"$PYTHON" test/sink.py --port 0 --log "$WORK/sink.log" --ready-file "$WORK/sink.port" >/dev/null 2>&1 &
SINK_PID=$!
for _ in $(seq 100); do [ -s "$WORK/sink.port" ] && break; sleep 0.1; done
SINK="http://127.0.0.1:$(cat "$WORK/sink.port")"

psql() { command "$BINDIR/psql" -X -h "$WORK" -p "$PORT" -U postgres -d postgres "$@"; }

psql -q <<SQL
CREATE EXTENSION jobsched;
SELECT jobsched.create_job('* * * * * *', '$SINK/hello', name => 'every second',
                           body => '{"greeting": "hello"}') AS every_second;
SELECT jobsched.create_job('*/2 * * * * *', '$SINK/fail', name => 'always fails',
                           max_retries => 1, retry_backoff => '500 ms') AS failing;
SQL
echo "== the next runs of a schedule, before using it"
psql -c "SELECT * FROM jobsched.next_runs('31 10-15 1 * * MON-FRI', 3, tz => 'Europe/Berlin')"

echo "== listening on jobsched_alerts while the jobs fire for 6 seconds"
printf 'LISTEN jobsched_alerts;\nSELECT pg_sleep(6);\n' > "$WORK/listen.sql"
psql -q -A -t -f "$WORK/listen.sql" > "$WORK/listen.out" 2>&1

echo "== jobs"
psql -c "SELECT id, name, schedule, next_run_at, last_status, last_http_status FROM jobsched.job_status"
echo "== last executions of job 1"
psql -c "SELECT id, scheduled_for, status, http_status, duration, lateness FROM jobsched.job_executions(1)"
echo "== last executions of job 2 (retried, then alerted)"
psql -c "SELECT id, scheduled_for, attempt, status, http_status, error FROM jobsched.job_executions(2)"
echo "== alerts"
psql -c "SELECT id, job_id, execution_id, kind, message FROM jobsched.alerts ORDER BY id LIMIT 3"
echo "== a NOTIFY received by the listener"
grep -m1 'Asynchronous notification' "$WORK/listen.out" || echo "(none received)"
echo "== jobsched.stats"
psql -x -c "SELECT * FROM jobsched.stats"
echo "== the sink received $(wc -l < "$WORK/sink.log") requests; the first:"
head -1 "$WORK/sink.log"
if [ "$KEEP" = --keep ]; then
	echo "== left running: psql -h $WORK -p $PORT -U postgres"
fi
