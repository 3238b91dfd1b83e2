#!/usr/bin/env bash
# History at scale (issue 15): the storage of two jobsched builds side by side, in one run, on this machine, against
# the same sink with the same settings.  As root (servers run as user postgres):
#
#     bench/history.sh [BEFORE=<commit|dir>] [AFTER=<commit|dir>] [--minutes N] [--quick]
#
#   BEFORE  default bb8454c (the last commit before the history work); AFTER default HEAD of this repository.  A
#           commit is built from a `git archive` snapshot of it; a directory from a copy of it (uncommitted changes
#           included).  Each build gets a private PostgreSQL installation of its own, $BENCH_DIR-pg-before and
#           -after (lib.sh's PGROOT), kept between runs for the same commit (a stamp file names it).
#   --minutes N  length of scenario 1 (10; --quick 2).  --quick: the short version of everything (~14 min; the whole
#           run ~50 min).  ONLY="1 3" runs those scenarios alone; K1, K2, K3, WARM, K2_D, K2_WARM, R_D, R_WARM and
#           PREFILL_24H change the figures of the header below.
#
# Scenarios, each run for BEFORE then AFTER before the next (so the two sides of a ratio are neighbours in time),
# each on a fresh cluster (lib.sh cluster_start: initdb, fsync and synchronous_commit on) and a fresh sink log:
#  1. K = 5,000 jobs '* * * * * *' (ATLEAST_ONCE, max_retries 0, to the plain sink) for N minutes,
#     jobsched.history_retention = 1 (minutes): every 30 s the WAL position, jobsched.stats sent_total and
#     completed_total, the worker's CPU (/proc/PID/stat utime + stime of the backend_type 'jobsched scheduler'), the
#     server's CPU (the postmaster's own and its reaped children's, cutime + cstime, plus its live children: the
#     autovacuum workers that came and went are counted), the size of every jobsched relation (tables, their
#     partitions wherever they live, indexes, TOAST) and n_dead_tup.  Figures over the steady part (from WARM s, 120;
#     --quick 60, to the end): WAL bytes / completed runs, worker and server CPU seconds / completed runs, checkpoints;
#     sink lateness p50 / p99 (arrival - the scheduled time in the Idempotency-Key, runs scheduled in that part);
#     `jobs` size in the transaction that created the jobs and at the end; bytes per retained run at the end
#     (jobsched relations but jobs and alerts) / (rows of jobsched.executions).
#  2. K = 10,000, same settings, 150 s (--quick 45 s): sink lateness p50 / p99 from 30 s (--quick 15 s) on.
#  3. K = 5,000 with jobsched.history_retention 1 hour, then 24 hours: worker CPU per completed run over D s (180;
#     --quick 45) after a warm-up, with the history pre-filled (below) so that the purge has the live rate's work
#     (5,000 rows a second reach the retention age during the measurement) and the history behind it is small (1 h)
#     or large (24 h).  The target: the two within 10%.
#
# PRE-FILL (scenario 3).  The jobs are created paused, with purging off (history_retention = 0), then finished runs
# are inserted as superuser, in time order (1.x purges the lowest ids first):
#   - a dense band at K runs a second (one run of each job every second, as the live load), scheduled from
#     R + 10 s ago to E s past R ago, E covering the rest of the set-up, the warm-up and D: the purge frontier
#     (now - R) moves through it during the measurement, so the purge deletes ~K rows a second in both cases;
#   - the bulk, younger than the band and never purged during the run: PREFILL_24H rows (6,000,000; --quick 600,000)
#     spread over the rest of the 24 hours, PREFILL_24H / 24 over the rest of the hour: the same density, so the
#     24-hour history is 24 times the 1-hour one.
#   Then VACUUM (ANALYZE) and CHECKPOINT, retention set to R (reload), the jobs resumed in one statement, the warm-up
#   (the purge catches up with the band's part that aged during the set-up: checked by the oldest finished row's age,
#   waiting up to 90 s more), the measurement.  Runs are inserted into the history relation found this way:
#   HISTORY_TABLE if set; else jobsched.executions if it is a table (or partitioned table); else jobsched.history.  Its
#   columns job_id, scheduled_for, attempt, status ('succeeded'), started_at, finished_at, http_status (200),
#   response_body ('ok\n'), sends (1), those of them it has; any other NOT NULL column without a default stops the
#   run with a message.  PREFILL_SQL=<file> replaces that INSERT: psql runs it with the variables :lo and :hi (Unix
#   seconds), :n and :jobs, and it must insert :n finished runs with scheduled times spread evenly over [lo, hi)
#   (whole seconds; row i at lo + floor(i * (hi - lo) / n), job 1 + i % jobs, i from 0), finished ~35 ms later, in
#   that order.
#
# SETTINGS, the same for both builds: lib.sh's (listen_addresses '', max_connections 300, max_worker_processes 200,
# fsync and synchronous_commit on, jobsched.ssl_ca_file), jobsched.database_name = 'postgres',
# jobsched.history_retention as above; everything else at PostgreSQL's and jobsched's defaults (full_page_writes on,
# checkpoint_timeout 5 min, max_wal_size 1 GB, shared_buffers 128 MB, autovacuum on).  EXTRA_CONF adds lines to both.
#
# RESULTS: one JSON line per run in bench/out/results.jsonl (scenario history_*), samples in
# bench/out/history/<scenario>-<build>.tsv, the table bench/out/history.md (bench/history_analyze.py).  The sink logs
# are deleted once analysed (KEEP_LOGS=1 keeps them in bench/out/history/).  Other work on the machine is recorded per
# run (others_cpu: CPUs kept busy by processes not ours, lib.sh other_cpu) and printed.
set -euo pipefail

BEFORE=bb8454c AFTER=HEAD MINUTES="" QUICK=0
for a in "$@"; do
  case $a in
    BEFORE=*) BEFORE=${a#BEFORE=} ;;
    AFTER=*) AFTER=${a#AFTER=} ;;
    --quick) QUICK=1 ;;
    --minutes) MINUTES=next ;;
    -h|--help) sed -n '2,60p' "$0"; exit 0 ;;
    *) if [ "$MINUTES" = next ]; then MINUTES=$a; else echo "unknown argument $a (see --help)" >&2; exit 2; fi ;;
  esac
done
[ "$MINUTES" != next ] || { echo "--minutes needs a number" >&2; exit 2; }

# our own directory, ports and sockets: nothing of another bench or of a developer's cluster is touched
export BENCH_DIR=${BENCH_DIR:-/tmp/jobsched-history-bench}
export PGPORT=${PGPORT:-55832} SINK_PORT=${SINK_PORT:-28290} TLS_H2_PORT=${TLS_H2_PORT:-28453} TLS_H1_PORT=${TLS_H1_PORT:-28454}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
. "$HERE/lib.sh"
HOUT=$OUT/history
mkdir -p "$HOUT"
[ "$(id -u)" = 0 ] || { log "run as root (servers are started as user postgres)"; exit 2; }

if [ $QUICK = 1 ]; then
  : "${MINUTES:=2}"; WARM=${WARM:-60}; K2_D=${K2_D:-45}; K2_WARM=${K2_WARM:-15}
  R_D=${R_D:-45}; R_WARM=${R_WARM:-30}; PREFILL_24H=${PREFILL_24H:-600000}
else
  : "${MINUTES:=10}"; WARM=${WARM:-120}; K2_D=${K2_D:-150}; K2_WARM=${K2_WARM:-30}
  R_D=${R_D:-180}; R_WARM=${R_WARM:-60}; PREFILL_24H=${PREFILL_24H:-6000000}
fi
K1=${K1:-5000}; K2=${K2:-10000}; K3=${K3:-5000}
S1_D=$(( MINUTES * 60 ))
(( S1_D > WARM + 30 )) || { log "--minutes: more than $(( (WARM + 30) / 60 )) (the steady part starts at ${WARM}s)"; exit 2; }
HZ=$(getconf CLK_TCK)

# the disk: the run needs ~2-4 GB under /tmp at a time (a cluster, its WAL, a sink log); stop if far less is free
avail_gb=$(df -P -BG /tmp | awk 'NR == 2 { sub(/G/, "", $4); print $4 }')
(( avail_gb >= 8 )) || { log "only ${avail_gb} GB free in /tmp: the run needs ~8"; exit 2; }

# a step runs in a background subshell (so that set -e holds inside it: see step); on a signal it is ended too
STEP_PID=""
trap '[ -z "$STEP_PID" ] || kill "$STEP_PID" 2>/dev/null || true; cleanup' EXIT; trap 'exit 143' TERM INT

# --- builds ----------------------------------------------------------------------------------------------------
use_build() {   # use_build before|after: lib.sh's private installation paths for that build
  PGROOT=$BENCH_DIR-pg-$1
  PGBIN=$PGROOT$(pg_config --bindir); PKGLIB=$PGROOT$(pg_config --pkglibdir); PGSHARE=$PGROOT$(pg_config --sharedir)
}
declare -A DESC
build() {   # build before|after <commit|dir>
  local label=$1 spec=$2 src=$BENCH_DIR-src-$1 stamp rev
  use_build "$label"
  if [ -d "$spec" ]; then
    rev=$(git -c safe.directory='*' -C "$spec" rev-parse --short HEAD 2>/dev/null || echo "?")
    DESC[$label]="dir $spec (at $rev$( [ -n "$(git -c safe.directory='*' -C "$spec" status --porcelain -- src sql Makefile jobsched.control 2>/dev/null)" ] && echo ", uncommitted changes"))"
    stamp="dir:$(cd "$spec" && pwd):$(date +%s)"   # a directory is always built afresh
    rm -rf "$src"; mkdir -p "$src"
    (cd "$spec" && tar -c --exclude=.git --exclude='*.o' --exclude='*.bc' --exclude='*.so' --exclude=tmp_check \
       --exclude='tmp_check_*' .) | tar -x -C "$src"
  else
    rev=$(git -C "$REPO" rev-parse --verify --short "$spec^{commit}") || { log "$label: no commit $spec"; exit 2; }
    DESC[$label]="$rev ($(git -C "$REPO" log -1 --format=%s "$rev" | cut -c1-70))"
    stamp="commit:$(git -C "$REPO" rev-parse "$rev")"
    if [ -f "$PGROOT/.jobsched-build" ] && [ "$(cat "$PGROOT/.jobsched-build")" = "$stamp" ] && [ -f "$PKGLIB/jobsched.so" ]; then
      log "$label: $rev already built in $PGROOT"; return 0
    fi
    rm -rf "$src"; mkdir -p "$src"
    git -C "$REPO" archive "$rev" | tar -x -C "$src"
  fi
  log "$label: building ${DESC[$label]} into $PGROOT"
  pg_tree_create
  make_install "$src" "$HOUT/build-$label.log" || { log "$label: build failed, see $HOUT/build-$label.log"; exit 1; }
  echo "$stamp" > "$PGROOT/.jobsched-build"
}
T_ALL=$(now)
build before "$BEFORE"
build after "$AFTER"

# --- measuring helpers -----------------------------------------------------------------------------------------
worker_pid() {
  local p
  p=$(q "select pid from pg_stat_activity where backend_type = 'jobsched scheduler' limit 1")
  [ -n "$p" ] || p=$(q "select worker_pid from jobsched.stats")
  echo "$p"
}
# CPU seconds of the whole server: the postmaster's own and its reaped children's (cutime + cstime: autovacuum
# workers, the backends that came and went), plus its live children's
server_cpu() {
  python3 - "$1" "$HZ" <<'PY'
import os, sys
pm, hz = sys.argv[1], int(sys.argv[2])
def stat(pid):
    s = open(f'/proc/{pid}/stat').read()
    return s[s.rindex(')') + 2:].split()
f = stat(pm)
total = sum(int(x) for x in f[11:15])
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        g = stat(pid)
        if g[1] == pm:
            total += int(g[11]) + int(g[12]) + int(g[13]) + int(g[14])
    except (OSError, ValueError):
        pass
print(total / hz)
PY
}
# every relation of jobsched's: tables and materialized views of the schema, and the partitions of its partitioned
# tables wherever they live; pg_total_relation_size counts their indexes and TOAST
REL_SQL="with recursive rels(oid) as (
    select c.oid from pg_class c where c.relnamespace = 'jobsched'::regnamespace and c.relkind in ('r', 'p', 'm')
    union select i.inhrelid from pg_inherits i join rels on i.inhparent = rels.oid)"
# one sample line (tab separated): see SAMPLE_HEAD
SAMPLE_HEAD="t	lsn_bytes	sent_total	completed_total	worker_cpu_s	server_cpu_s	jobs_table	jobs_total	jobsched_total	history_total	dead_total	dead_jobs	dead_history	live_history	n_tup_del	ckpt_timed	ckpt_req	others"
sample() {   # sample FILE
  local row wcpu scpu
  row=$(q "$REL_SQL
    select extract(epoch from clock_timestamp()), pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0'),
           (select sent_total from jobsched.stats), (select completed_total from jobsched.stats),
           pg_table_size('jobsched.jobs'), pg_total_relation_size('jobsched.jobs'),
           (select coalesce(sum(pg_total_relation_size(c.oid)), 0) from rels join pg_class c using (oid) where c.relkind in ('r', 'm')),
           (select coalesce(sum(pg_total_relation_size(c.oid)), 0) from rels join pg_class c using (oid)
             where c.relkind in ('r', 'm') and c.oid not in ('jobsched.jobs'::regclass, 'jobsched.alerts'::regclass)),
           (select coalesce(sum(n_dead_tup), 0) from pg_stat_all_tables where relid in (select oid from rels)),
           (select n_dead_tup from pg_stat_all_tables where relid = 'jobsched.jobs'::regclass),
           (select coalesce(sum(n_dead_tup), 0) from pg_stat_all_tables where relid in (select oid from rels)
             and relid not in ('jobsched.jobs'::regclass, 'jobsched.alerts'::regclass)),
           (select coalesce(sum(n_live_tup), 0) from pg_stat_all_tables where relid in (select oid from rels)
             and relid not in ('jobsched.jobs'::regclass, 'jobsched.alerts'::regclass)),
           (select coalesce(sum(n_tup_del), 0) from pg_stat_all_tables where relid in (select oid from rels)),
           checkpoints_timed, checkpoints_req
    from pg_stat_bgwriter" | tr '|' '\t')
  wcpu=$(cpu_seconds "$WPID" 2>/dev/null || echo nan)
  scpu=$(server_cpu "$PMPID" 2>/dev/null || echo nan)
  # columns: t lsn sent completed | worker server | the rest of the query
  awk -F'\t' -v w="$wcpu" -v s="$scpu" -v o="$(other_cpu $$ "$O0")" 'BEGIN { OFS = "\t" }
    { print $1, $2, $3, $4, w, s, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, o }' <<<"$row" >> "$1"
}
# sample_until FILE T0 END [EXTRA_TIMES]: a sample at T0 + 30 s, + 60 s ... up to END, and one at END; each of
# EXTRA_TIMES (absolute) is sampled too when it falls in between (the start of the steady part)
sample_until() {
  local f=$1 t0=$2 end=$3 ts
  for ts in $(python3 -c "
import sys
t0, end, extra = float(sys.argv[1]), float(sys.argv[2]), [float(x) for x in sys.argv[3:]]
ts = sorted(set([round(t0 + 30 * i, 3) for i in range(1, int((end - t0) // 30) + 1) if t0 + 30 * i < end - 1]
                + [x for x in extra if t0 < x < end - 1] + [end]))
print(' '.join(map(str, ts)))" "$t0" "$end" "${@:4}"); do
    python3 -c "import time, sys; d = float(sys.argv[1]) - time.time(); time.sleep(max(0, d))" "$ts"
    sample "$f"
  done
}
start_cluster() {   # start_cluster LABEL RETENTION_MIN: fresh cluster and sink of that build
  use_build "$1"
  JOBSCHED_CONF="jobsched.history_retention = $2
${EXTRA_CONF:-}" jobsched_start
  PMPID=$(head -1 "$BENCH_DIR/pg/postmaster.pid")
  WPID=$(worker_pid)
  so_md5=$(md5sum "$PKGLIB/jobsched.so" | cut -c1-12)
}
fresh_sink() { sink_stop; sink_start; }
URL="'$(sink_url http)/s' || i"

# --- scenarios 1 and 2: K jobs every second ----------------------------------------------------------------------
steady_run() {   # steady_run SCEN LABEL K DURATION WARM
  local scen=$1 label=$2 K=$3 D=$4 W=$5 f m row t_create jt jtot t0 t_w0 t_end rows_end
  f=$HOUT/$scen-$label.tsv
  log "== $scen $label (${DESC[$label]}): K=$K for ${D}s, steady part from ${W}s, retention 1 min"
  O0=$(other_cpu $$)
  fresh_sink
  start_cluster "$label" 1
  echo "$SAMPLE_HEAD" > "$f"
  # the jobs' size in the transaction that creates them: before the worker has claimed (updated) any of them
  row=$(psql -qAtX -v ON_ERROR_STOP=1 <<SQL
begin;
select count(jobsched.create_job('* * * * * *', $URL, max_retries => 0)) from generate_series(1, $K) i \\g /dev/null
select pg_table_size('jobsched.jobs'), pg_total_relation_size('jobsched.jobs');
commit;
select extract(epoch from clock_timestamp());
SQL
)
  jt=$(sed -n 1p <<<"$row" | cut -d'|' -f1); jtot=$(sed -n 1p <<<"$row" | cut -d'|' -f2); t_create=$(sed -n 2p <<<"$row")
  t0=$(python3 -c "import math; print(math.floor($t_create) + 1)")   # the jobs' first second
  t_w0=$((t0 + W)); t_end=$((t0 + D))
  sample "$f"
  sample_until "$f" "$t0" "$t_end" "$t_w0"
  rows_end=$(q "select count(*) from jobsched.executions")
  q "update jobsched.jobs set active = false" >/dev/null
  local t_stop; t_stop=$(now)
  sleep 3; sink_flush
  m=$(python3 "$HERE/history_analyze.py" run "$f" "$SINK_LOG" /s "$K" "$t_w0" "$t_end")
  local others; others=$(other_cpu $$ "$O0")
  log "$scen $label: $m rows_end=$rows_end others_cpu=$others"
  result scenario="history_$scen" build="$label" rev="${DESC[$label]}" so_md5="$so_md5" k="$K" d="$D" warm="$W" \
    retention_min=1 t0="$t0" t_w0="$t_w0" t_end="$t_end" jobs_table_created="$jt" jobs_total_created="$jtot" \
    rows_end="$rows_end" $m others_cpu="$others"
  cluster_stop
  if [ "${KEEP_LOGS:-0}" = 1 ]; then cp "$SINK_LOG" "$HOUT/sink-$scen-$label.log"; fi
  sink_stop; rm -f "$SINK_LOG"
}

# --- scenario 3: retention 1 hour against 24 hours, the history pre-filled ---------------------------------------
history_target() {   # the relation the pre-fill inserts into (see the header)
  local t
  if [ -n "${HISTORY_TABLE:-}" ]; then echo "$HISTORY_TABLE"; return; fi
  t=$(q "select relkind from pg_class where oid = to_regclass('jobsched.executions')")
  if [ "$t" = r ] || [ "$t" = p ]; then echo jobsched.executions; return; fi
  t=$(q "select relkind from pg_class where oid = to_regclass('jobsched.history')")
  if [ "$t" = r ] || [ "$t" = p ]; then echo jobsched.history; return; fi
  log "pre-fill: jobsched.executions is not a table (relkind '$(q "select relkind from pg_class where oid = to_regclass('jobsched.executions')")') and there is no table jobsched.history: set HISTORY_TABLE or PREFILL_SQL"
  return 1
}
PREFILL_COLS="job_id scheduled_for attempt status started_at finished_at http_status response_body sends"
prefill() {   # prefill LO HI N JOBS: N finished runs scheduled evenly over [LO, HI), in time order
  local lo=$1 hi=$2 n=$3 jobs=$4 rel cols="" vals="" c missing
  (( n > 0 )) || return 0
  if [ -n "${PREFILL_SQL:-}" ]; then
    # retention_min: the retention the run will have (retention_run's rmin), so that partitions fit it
    psql -qAtX -v ON_ERROR_STOP=1 -v lo="$lo" -v hi="$hi" -v n="$n" -v jobs="$jobs" \
      -v retention_min="${rmin:-0}" -f "$PREFILL_SQL" >/dev/null
    return
  fi
  rel=$(history_target) || return 1
  local have; have=" $(q "select string_agg(attname, ' ') from pg_attribute where attrelid = '$rel'::regclass and attnum > 0 and not attisdropped") "
  missing=$(q "select string_agg(attname, ' ') from pg_attribute a where attrelid = '$rel'::regclass and attnum > 0
               and not attisdropped and attnotnull and not atthasdef and attgenerated = '' and attidentity = ''
               and attname not in ($(sed "s/\([a-z_]*\)/'\1'/g; s/ /, /g" <<<"$PREFILL_COLS"))")
  [ -z "$missing" ] || { log "pre-fill: $rel has NOT NULL columns the pre-fill does not know: $missing (set PREFILL_SQL)"; return 1; }
  for c in $PREFILL_COLS; do
    [[ $have == *" $c "* ]] || continue
    cols="$cols, $c"
    case $c in
      job_id) vals="$vals, 1 + i % $jobs" ;;
      scheduled_for) vals="$vals, s" ;;
      attempt) vals="$vals, 1" ;;
      status) vals="$vals, 'succeeded'" ;;
      started_at) vals="$vals, s + interval '30 ms'" ;;
      finished_at) vals="$vals, s + interval '35 ms'" ;;
      http_status) vals="$vals, 200" ;;
      response_body) vals="$vals, E'ok\\n'" ;;
      sends) vals="$vals, 1" ;;
    esac
  done
  q "insert into $rel (${cols#, }) select ${vals#, } from (
       select i, to_timestamp($lo + floor(i * ($hi - $lo)::numeric / $n)) s from generate_series(0, $n - 1) i) g
     order by i" >/dev/null
}
retention_run() {   # retention_run LABEL RETENTION_MIN
  local label=$1 rmin=$2 scen f R=$(( $2 * 60 )) K=$K3 nbulk est E now0 band_lo band_hi bulk_lo bulk_hi t0 t_w0 t_end
  local age m others rows_end t_fill
  scen=retention_$(( rmin / 60 ))h; f=$HOUT/$scen-$label.tsv
  nbulk=$(python3 -c "print(int($PREFILL_24H * min(1, $R / 86400)))")
  log "== $scen $label (${DESC[$label]}): K=$K, retention ${rmin} min, pre-fill band + $nbulk rows, warm-up ${R_WARM}s, ${R_D}s"
  O0=$(other_cpu $$)
  fresh_sink
  start_cluster "$label" 0
  echo "$SAMPLE_HEAD" > "$f"
  q "select count(jobsched.create_job('* * * * * *', $URL, max_retries => 0, active => false)) from generate_series(1, $K) i" >/dev/null
  # E: how far past the frontier at the pre-fill the band goes: the set-up still to come (the bulk at ~40,000 rows/s,
  # VACUUM and CHECKPOINT), the warm-up (and 90 s it may be extended by), the measurement, a margin
  est=$(python3 -c "print(int($nbulk / 40000 + ($nbulk + ($R_WARM + $R_D + 200) * $K) / 150000))")
  E=$(( est + R_WARM + 90 + R_D + 60 ))
  t_fill=$(now)
  now0=$(q "select floor(extract(epoch from now()))")
  band_lo=$(( now0 - R - 10 )); band_hi=$(( now0 - R + E ))
  bulk_lo=$band_hi; bulk_hi=$(( now0 - 60 ))
  (( bulk_hi > bulk_lo )) || { log "$scen: retention too short for the band"; return 1; }
  prefill "$band_lo" "$band_hi" $(( (band_hi - band_lo) * K )) "$K" || { cluster_stop; return 1; }
  prefill "$bulk_lo" "$bulk_hi" "$nbulk" "$K" || { cluster_stop; return 1; }
  local filled; filled=$(q "select count(*) from jobsched.executions")
  log "$scen $label: pre-filled $filled rows in $(since "$t_fill")s (band $((band_hi - band_lo)) s x $K, bulk $nbulk over $((bulk_hi - bulk_lo)) s); vacuum, checkpoint"
  q "vacuum (analyze)" >/dev/null; q "checkpoint" >/dev/null
  local fill_s; fill_s=$(since "$t_fill")
  q "alter system set jobsched.history_retention = $rmin" >/dev/null; q "select pg_reload_conf()" >/dev/null
  t0=$(psql -qAtX -v ON_ERROR_STOP=1 <<SQL
begin;
select count(jobsched.resume_job(id)) from jobsched.jobs \\g /dev/null
commit;
select floor(extract(epoch from clock_timestamp())) + 1;
SQL
)
  sample "$f"
  t_w0=$(( t0 + R_WARM ))
  python3 -c "import time; time.sleep(max(0, $t_w0 - time.time()))"
  # the purge is at the frontier when nothing past the retention (+ its 10 s interval) is left: with partitions
  # (1.1), no partition ending before that; before them, no finished run older than that
  local partitioned; partitioned=$(q "select to_regproc('jobsched.history_partitions') is not null")
  for _ in $(seq 7); do
    if [ "$partitioned" = t ]; then
      age=$(q "select count(*) from jobsched.history_partitions() where to_time < now() - interval '$(( R + 15 )) s'" 2>/dev/null || echo "")
      [ -z "$age" ] && break
      (( age == 0 )) && break
      log "$scen $label: $age partitions wholly past the retention (${R}s) left: purge still catching up"
    else
      age=$(q "select coalesce(round(extract(epoch from now() - min(finished_at))), 0) from jobsched.executions
               where status not in ('running', 'retrying')" 2>/dev/null || echo "")
      [ -z "$age" ] && break
      (( age <= R + 15 )) && break
      log "$scen $label: the oldest finished run is ${age}s old (retention ${R}s): purge still catching up"
    fi
    sleep 15
  done
  t_w0=$(python3 -c "import math, time; print(math.floor(time.time()) + 1)")
  python3 -c "import time; time.sleep(max(0, $t_w0 - time.time()))"
  sample "$f"
  t_end=$(( t_w0 + R_D ))
  sample_until "$f" "$t_w0" "$t_end"
  rows_end=$(q "select count(*) from jobsched.executions")
  q "update jobsched.jobs set active = false" >/dev/null
  sleep 3; sink_flush
  m=$(python3 "$HERE/history_analyze.py" run "$f" "$SINK_LOG" /s "$K" "$t_w0" "$t_end")
  others=$(other_cpu $$ "$O0")
  log "$scen $label: $m rows_end=$rows_end band_left_s=$(( band_hi - (t_end - R) )) others_cpu=$others"
  result scenario="history_$scen" build="$label" rev="${DESC[$label]}" so_md5="$so_md5" k="$K" d="$R_D" \
    retention_min="$rmin" prefill_rows="$filled" prefill_bulk="$nbulk" prefill_s="$fill_s" \
    band_left_s=$(( band_hi - (t_end - R) )) t0="$t0" t_w0="$t_w0" t_end="$t_end" rows_end="$rows_end" $m \
    others_cpu="$others"
  cluster_stop
  sink_stop; rm -f "$SINK_LOG"
}

# --- the run -----------------------------------------------------------------------------------------------------
step() {   # step NAME COMMAND...: a failure is logged and the run goes on.  In a subshell of its own started in the
  # background and waited for: a function called on the left of || would run with set -e ignored
  local name=$1 t rc=0; shift
  t=$(now)
  ( trap - EXIT; "$@" ) &
  STEP_PID=$!
  wait "$STEP_PID" || rc=$?
  STEP_PID=""
  [ $rc = 0 ] || log "$name: failed (exit status $rc)"
  result scenario=history_timing name="$name" seconds="$(since "$t")" rc=$rc
}
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
result scenario=history_env run="$RUN_ID" quick=$QUICK date="$(date -u '+%Y-%m-%d %H:%M UTC')" \
  machine="$(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, load average at start $(cut -d' ' -f1-3 /proc/loadavg)" \
  postgres="$("$PGBIN/postgres" --version)" before="${DESC[before]}" after="${DESC[after]}" \
  minutes="$MINUTES" warm="$WARM" k2_d="$K2_D" r_d="$R_D" prefill_24h="$PREFILL_24H" extra_conf="${EXTRA_CONF:-}"
ONLY=" ${ONLY:-1 2 3} "   # ONLY="1 3": those scenarios alone (the report shows n/a for the others)
if [[ $ONLY == *" 1 "* ]]; then for b in before after; do step "1 $b" steady_run s1 "$b" "$K1" "$S1_D" "$WARM"; done; fi
if [[ $ONLY == *" 2 "* ]]; then for b in before after; do step "2 $b" steady_run s2 "$b" "$K2" "$K2_D" "$K2_WARM"; done; fi
if [[ $ONLY == *" 3 "* ]]; then
  for b in before after; do
    step "3 $b 1h" retention_run "$b" 60
    step "3 $b 24h" retention_run "$b" 1440
  done
fi
result scenario=history_end run="$RUN_ID" total_s="$(since "$T_ALL")"
python3 "$HERE/history_analyze.py" report "$OUT/results.jsonl" "$RUN_ID" "$OUT/history.md"
log "done in $(since "$T_ALL") s: $OUT/history.md"
cat "$OUT/history.md"
