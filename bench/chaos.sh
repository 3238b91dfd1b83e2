#!/usr/bin/env bash
# Long chaos run: test/chaos.py for half an hour (by default) against the installed jobsched, then its figures.
#
#     sudo bench/chaos.sh                                    # 1800 s, 30 jobs, 3 sessions, seed from the clock
#     sudo bench/chaos.sh --seconds 600 --jobs 100 --sessions 4 --seed 7
#     python3 test/chaos_check.py /tmp/jobsched-chaos-long   # re-check the kept run
#
# Why a long run: the short one in test/run-tests sees a few faults and a few hundred calls; coincidences that
# are rare per call (a change committed in the last milliseconds before a claim, a crash while a call commits)
# need thousands of calls and a hundred faults to show up.
#
# Options: --seconds S (1800)  --jobs N (30)  --sessions K (3)  --seed N  --keep DIR (/tmp/jobsched-chaos-long;
# a previous chaos run there is replaced).  Environment: PG_CONFIG (pg_config), TEST_USER (postgres).
# Run as root, it runs the test as TEST_USER (PostgreSQL refuses root) on a copy of the three scripts it needs,
# as test/run-all does; run as another user, it runs it directly.  The exit status is test/chaos.py's: 0 when
# the checker found no violation.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-pg_config}
TEST_USER=${TEST_USER:-postgres}
seconds=1800
jobs=30
sessions=3
seed=
keep=/tmp/jobsched-chaos-long

while [ $# -gt 0 ]; do
	case $1 in
		--seconds) seconds=$2; shift 2 ;;
		--jobs) jobs=$2; shift 2 ;;
		--sessions) sessions=$2; shift 2 ;;
		--seed) seed=$2; shift 2 ;;
		--keep) keep=$2; shift 2 ;;
		*) echo "usage: $0 [--seconds S] [--jobs N] [--sessions K] [--seed N] [--keep DIR]" >&2; exit 2 ;;
	esac
done

# the Debian python3 has psycopg2; one earlier in PATH (pyenv, a venv) may not
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3

# chaos.py wants an empty work dir; replace only what is recognisably an earlier chaos run
if [ -e "$keep" ] && [ -n "$(ls -A "$keep")" ]; then
	if [ -e "$keep/history.jsonl" ] || [ -e "$keep/meta.json" ]; then
		rm -rf "$keep"
	else
		echo "$keep exists and is not a chaos work dir; give another --keep" >&2
		exit 2
	fi
fi

work=$(mktemp -d /tmp/jobsched-chaos-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
report=$work/report.txt
args=(--seconds "$seconds" --jobs "$jobs" --sessions "$sessions" --keep "$keep" --pg-config "$PG_CONFIG"
	--report "$report")
[ -n "$seed" ] && args+=(--seed "$seed")

status=0
if [ "$(id -u)" = 0 ]; then
	id "$TEST_USER" >/dev/null 2>&1 || useradd --system --create-home "$TEST_USER"
	cp test/chaos.py test/chaos_check.py test/sink.py "$work/"
	chown -R "$TEST_USER" "$work"
	chmod 755 "$work"
	(cd /tmp && runuser -u "$TEST_USER" -- env PATH="$PATH" "$python" "$work/chaos.py" "${args[@]}") || status=$?
else
	"$python" test/chaos.py "${args[@]}" || status=$?
fi

echo "=== chaos figures ($seconds s, $jobs jobs, $sessions sessions; work dir $keep)"
if [ -s "$report" ]; then
	grep -E '^(chaos: seed|chaos: WARNING|figures:)' "$report"
else
	echo "no report: the run did not get as far as the checker (see above)"
fi
exit $status
