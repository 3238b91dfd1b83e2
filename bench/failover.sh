#!/usr/bin/env bash
# Failover figures: test/failover.py (two PostgreSQL nodes under Patroni with etcd, issue 14) with more rounds, then
# the figures as markdown in bench/out/failover.md (also printed).
#
#     sudo bench/failover.sh                              # 3 rounds of switchover + crash, 100+100 jobs every second
#     sudo bench/failover.sh --rounds 5 --jobs 100 --seed 7
#     sudo PG_CONFIG=/tmp/tree/usr/lib/postgresql/15/bin/pg_config bench/failover.sh   # another build
#
# Figures, per scenario (a: `patronictl switchover`; b: WAL sender frozen 3 s, then kill -9 of the primary):
# the event (switchover command, kill) -> promotion (the new primary's server log: "database system is ready to
# accept connections" after "received promote request"), promotion -> first request at the sink (p50 and max over
# the rounds), the time without any request, the time until the old primary is a synchronous standby again; and over
# the whole run: ATMOST_ONCE runs that arrived twice, ATLEAST_ONCE runs lost, the runs accounted for.
#
# Options: --rounds N (3)  --jobs N per type (100, so 200 runs/s)  --seed N  --keep DIR (the test's work dir, kept;
# must be empty or absent)  --out DIR (bench/out).  Environment: PG_CONFIG (pg_config), TEST_USER (postgres).
# Run as root, it runs the test as TEST_USER (PostgreSQL refuses root) on a copy of the two scripts it needs, as
# bench/chaos.sh does; run as another user, it runs it directly.  The exit status is test/failover.py's: 0 when every
# check passed.  Needs patroni, etcd (Debian: patroni, etcd-server) and python3-psycopg2.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-pg_config}
TEST_USER=${TEST_USER:-postgres}
rounds=3
jobs=100
seed=
keep=
out=bench/out

while [ $# -gt 0 ]; do
	case $1 in
		--rounds) rounds=$2; shift 2 ;;
		--jobs) jobs=$2; shift 2 ;;
		--seed) seed=$2; shift 2 ;;
		--keep) keep=$2; shift 2 ;;
		--out) out=$2; shift 2 ;;
		*) echo "usage: $0 [--rounds N] [--jobs N] [--seed N] [--keep DIR] [--out DIR]" >&2; exit 2 ;;
	esac
done
for t in patroni patronictl etcd; do
	command -v "$t" >/dev/null || { echo "$t is not installed (Debian: apt-get install patroni etcd-server)" >&2; exit 2; }
done

# the Debian python3 has psycopg2; one earlier in PATH (pyenv, a venv) may not
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3

mkdir -p "$out"
work=$(mktemp -d /tmp/jobsched-failover-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
report=$work/report.json
args=(--rounds "$rounds" --jobs "$jobs" --pg-config "$PG_CONFIG" --report "$report")
[ -n "$seed" ] && args+=(--seed "$seed")
[ -n "$keep" ] && args+=(--keep "$keep")

status=0
if [ "$(id -u)" = 0 ]; then
	id "$TEST_USER" >/dev/null 2>&1 || useradd --system --create-home "$TEST_USER"
	cp test/failover.py test/sink.py "$work/"
	chown -R "$TEST_USER" "$work"
	chmod 755 "$work"
	if [ -n "$keep" ]; then mkdir -p "$keep"; chown "$TEST_USER" "$keep"; fi
	(cd /tmp && runuser -u "$TEST_USER" -- env PATH="$PATH" "$python" "$work/failover.py" "${args[@]}") || status=$?
else
	"$python" test/failover.py "${args[@]}" || status=$?
fi

if [ ! -s "$report" ]; then
	echo "no report: test/failover.py did not get as far as writing one (see above)" >&2
	exit $(( status ? status : 1 ))
fi

so=$("$PG_CONFIG" --pkglibdir)/jobsched.so
"$python" - "$report" "$out/failover.md" "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
	"$(md5sum "$so" 2>/dev/null | cut -c1-12 || echo '?')" "$(patroni --version 2>/dev/null)" \
	"$(etcd --version 2>/dev/null | head -1)" <<'PY'
import json, statistics, sys, time
report, md, head, so_md5, patroni, etcd = sys.argv[1:7]
r = json.load(open(report))
sc = r.get("scenarios", [])

def fmt(v):
    return "n/a" if v is None else "%.3f" % v

def p50_max(kind, key):
    v = [f[key] for f in sc if f["scenario"] == kind and f.get(key) is not None]
    if not v:
        return "n/a", "n/a", 0
    return "%.3f" % statistics.median(v), "%.3f" % max(v), len(v)

L = ["# Failover figures (test/failover.py, Patroni + etcd)", "",
     "%s; tree %s, jobsched %s (jobsched.so md5 %s), PostgreSQL %s; %s, %s; seed %s, %d round(s), %d ATMOST_ONCE + "
     "%d ATLEAST_ONCE jobs every second; %s s in all; %s." % (
         time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), head, r.get("extversion"), so_md5, r.get("bindir"),
         patroni, etcd, r.get("seed"), r.get("rounds", 0), r.get("jobs_per_type", 0), r.get("jobs_per_type", 0),
         r.get("seconds"), "every check passed" if r.get("ok") else "**FAILED**"),
     "", "Promotion: the new primary's server log (\"database system is ready to accept connections\" after "
     "\"received promote request\"). First request: the first arrival at the sink after it (the old primary's "
     "processes are all gone by then).", "",
     "| scenario | promotion -> first request p50 (s) | max (s) | event -> promotion p50 (s) | max (s) | "
     "no request p50 (s) | max (s) | rounds |",
     "|---|---|---|---|---|---|---|---|"]
for kind, label in (("switchover", "(a) patronictl switchover"), ("crash", "(b) walsender frozen 3 s, kill -9")):
    a, b, n = p50_max(kind, "promote_to_first_s")
    c, d, _ = p50_max(kind, "event_to_promotion_s")
    e, f, _ = p50_max(kind, "outage_s")
    L.append("| %s | %s | %s | %s | %s | %s | %s | %d |" % (label, a, b, c, d, e, f, n))
L += ["", "| round | scenario | old -> new | event -> promotion (s) | promotion -> first request (s) | "
      "no request (s) | standby back after (s) | ATMOST_ONCE sent in the freeze | of them sent twice |",
      "|---|---|---|---|---|---|---|---|---|"]
for f in sc:
    L.append("| %d | %s | %s -> %s | %s | %s | %s | %s | %s | %s |" % (
        f["round"], f["scenario"], f["old"], f["new"], fmt(f.get("event_to_promotion_s")),
        fmt(f.get("promote_to_first_s")), fmt(f.get("outage_s")), fmt(f.get("rejoin_s")),
        f.get("freeze_arrivals_atmost", "-"), f.get("atmost_sent_twice_freeze_window", "-")))
L += ["", "| whole run | |", "|---|---|",
      "| requests at the sink | %s |" % r.get("sink_requests", "n/a"),
      "| runs arrived (ATMOST_ONCE / ATLEAST_ONCE) | %s (%s / %s) |" % (
          r.get("runs_arrived", "n/a"), r.get("atmost_runs_arrived", "n/a"), r.get("atleast_runs_arrived", "n/a")),
      "| ATLEAST_ONCE re-sends (same Idempotency-Key) | %s |" % r.get("atleast_resends", "n/a"),
      "| ATMOST_ONCE runs that arrived twice | %s %s |" % (
          r.get("atmost_duplicates", "n/a"), json.dumps(r.get("atmost_duplicates_by_scenario") or {})),
      "| ATLEAST_ONCE runs expected / lost | %s / %s |" % (r.get("atleast_runs_expected", "n/a"),
                                                        r.get("atleast_lost", "n/a")),
      "| final primary's executions by status | %s |" % json.dumps(r.get("executions_by_status") or {},
                                                                 sort_keys=True),
      "| runs arrived but unknown to the final primary | %s |" % r.get("runs_arrived_not_recorded", "n/a")]
failed = [c for c in r.get("checks", []) if not c["ok"]]
L += ["", "Checks: %d, failed: %d." % (len(r.get("checks", [])), len(failed))]
for c in failed:
    L.append("- FAILED %s -- %s" % (c["name"], c["detail"]))
if r.get("error"):
    L.append("- ERROR %s" % r["error"])
text = "\n".join(L) + "\n"
open(md, "w").write(text)
print(text)
PY
echo "written: $out/failover.md" >&2
exit $status
