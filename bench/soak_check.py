#!/usr/bin/env python3
"""Checks of a bench/soak.sh run; the method is described in soak.sh's header.

    python3 bench/soak_check.py OUT_DIR [--self-test] [--grace S] [--retention S] [--max-rss-ratio R] [--every S]

OUT_DIR is /tmp/jobsched-soak/out after a run (meta.json, jobs.csv, crash-N.csv, end.csv, crash-end.csv,
samples.tsv, pg-log-excerpt.txt; and the sink logs named in meta.json, in /tmp/jobsched-soak, so only the latest
run can be re-checked).  Prints the figures and one line per check; exits 1 if any check failed.

Every job fires on the seconds s with s % S == 0 (S = soak.sh --every, 1 in runs made before that option):
all the checks walk those fire seconds only, from F0 (the first fire second after the jobs were resumed) to the
last fire second at least 2 s before the pause; an arrival or execution for any other second fails.

--grace / --retention / --max-rss-ratio / --every override what the run used, to check the data against another
(a broken) expectation.  --self-test first checks the data as they are, then corrupts them in memory one way at a
time (an arrival dropped, an ATMOST_ONCE run delivered twice, a duplicate execution row, a missing execution
row, a resend that never arrived, the worker's memory doubled, its memory contexts grown, a retry sent late, a
run arriving on a second that is not a fire second, a wrong misfire grace, a wrong schedule period, a too small
row bound) and verifies that each corruption makes its check fail; exits 1 if one does not.
"""

import argparse
import array
import csv
import json
import math
import os
import re
import sys
from collections import Counter, defaultdict

FINAL_ANSWERED = ("succeeded", "failed")
RETRY_DELAY_MAX = 10           # seconds a retry or a crash re-send may go out after its time
LEAK_MIN_BYTES = 4 << 20       # mem_leak: palloc'd memory growing by more than this after warm-up ...
LEAK_PER_REQUEST = 16          # ... and by more than this many bytes per request sent


def fire_seconds(m, every):
    """(F0, HI): the first second every job fires and the last one it must have fired, both multiples of every.
    The jobs were created paused and resumed in one transaction, whose now() is t_start: each job's next_run_at
    became the first fire time strictly after floor(t_start) (next_fire truncates to the second)."""
    f0 = (math.floor(m["t_start"]) // every + 1) * every
    hi = (math.floor(m["t_pause"]) - 2) // every * every
    return f0, hi


def load(out):
    m = json.load(open(os.path.join(out, "meta.json")))
    d = argparse.Namespace(meta=m)
    d.every = m.get("every", 1)                  # each job fires on the seconds s with s % every == 0
    d.f0, d.hi = fire_seconds(m, d.every)
    d.base = math.floor(m["t_start"]) - 4        # second of index 0 in the per-second arrays
    d.nsec = math.floor(m["t_pause"]) + 120 - d.base   # room for runs claimed just before the pause
    # jobs
    d.kind, d.type = {}, {}
    for jid, url, typ, _retries, _created in csv.reader(open(os.path.join(out, "jobs.csv"))):
        jid = int(jid)
        d.kind[jid] = "good" if url.endswith("/g") else "fail" if "/status/" in url else "slow"
        d.type[jid] = typ
    d.base_count = {j: 2 if d.kind[j] == "fail" and d.type[j] == "ATLEAST_ONCE" else 1 for j in d.kind}
    # executions exported: the crash window (soon after the restart, and again at the end) and the end window,
    # merged by id, the later export winning
    d.db = defaultdict(list)                     # (job, s) -> [row]
    d.db_dups = 0                                # (job, s, attempt) seen twice within one export
    d.db_open = 0                                # rows still running/retrying in the last export that has them
    d.db_frac = 0                                # scheduled_for not on a whole second
    rows = {}
    crash = sorted((f for f in os.listdir(out) if re.fullmatch(r"crash-\d+\.csv", f)),
                   key=lambda f: int(f[6:-4]))
    for name in ["crash.csv"] + crash + ["end.csv", "crash-end.csv"]:
        path = os.path.join(out, name)
        if not os.path.exists(path):
            continue
        seen = set()
        for r in csv.reader(open(path)):
            rid, jid, sched, attempt, status, sends, started, finished, http = r[:9]
            retry_at = r[9] if len(r) > 9 else ""
            s = float(sched)
            if s != math.floor(s):
                d.db_frac += 1
            key = (int(jid), int(s), int(attempt))
            if key in seen:
                d.db_dups += 1
            seen.add(key)
            rows[int(rid)] = (int(jid), int(s), int(attempt), status, int(sends),
                              float(started) if started else None, float(finished) if finished else None,
                              int(http) if http else None, int(rid), float(retry_at) if retry_at else None)
    for row in rows.values():
        d.db[(row[0], row[1])].append(row)
        if row[3] in ("running", "retrying"):
            d.db_open += 1
    # sink logs
    d.cnt = {j: bytearray(d.nsec) for j in d.kind}     # arrivals per run
    d.late = {j: bytearray(d.nsec) for j in d.kind}    # ... of which after the restart began
    d.first = {j: array.array("d", bytes(8 * d.nsec)) for j in d.kind}
    d.per_wall_second = Counter()
    d.stray = 0
    d.arrivals = 0
    t_pm = m["t_pm_start"]

    def arrival(t, key):
        d.arrivals += 1
        d.per_wall_second[int(t)] += 1
        try:
            _, jid, us = key.split("-")
            jid, us = int(jid), int(us)
            i = us // 1000000 - d.base
            if jid not in d.cnt or us % 1000000 or not 0 <= i < d.nsec:
                raise ValueError
        except ValueError:
            d.stray += 1
            return
        d.cnt[jid][i] = min(255, d.cnt[jid][i] + 1)
        if t >= t_pm:
            d.late[jid][i] = min(255, d.late[jid][i] + 1)
        f = d.first[jid]
        if f[i] == 0 or t < f[i]:
            f[i] = t

    with open(m["nginx_log"]) as fh:
        for line in fh:
            p = line.split()
            if len(p) >= 4:
                arrival(float(p[0]), p[3])
    for name in ("fail_log", "slow_log"):
        with open(m[name]) as fh:
            for line in fh:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                arrival(r["t"], r.get("idempotency_key") or "-")
    # the worker's memory contexts, logged every 30 s: (time, pid, bytes used)
    d.mctx = []
    path = os.path.join(out, "pg-log-excerpt.txt")
    if os.path.exists(path):
        import datetime
        for line in open(path):
            g = re.match(r"(\S+ \S+) UTC \[(\d+)\] LOG:  Grand total: \d+ bytes in \d+ blocks; \d+ free "
                         r"\(\d+ chunks\); (\d+) used", line)
            if g:
                t = datetime.datetime.strptime(g.group(1), "%Y-%m-%d %H:%M:%S.%f").replace(
                    tzinfo=datetime.timezone.utc).timestamp()
                d.mctx.append((t, int(g.group(2)), int(g.group(3))))
    # samples
    d.samples = []
    with open(os.path.join(out, "samples.tsv")) as fh:
        head = fh.readline().rstrip("\n").split("\t")
        for line in fh:
            r = dict(zip(head, line.rstrip("\n").split("\t")))
            d.samples.append(dict(t=float(r["t"]), phase=r["phase"], pid=int(r["pid"]),
                                  vmrss=int(r["vmrss_kb"]), anon=int(r["rssanon_kb"] or 0),
                                  rows=int(r["rows"]), bytes=int(r["table_bytes"]),
                                  p99=float(r["lateness_p99_ms"] or 0), sent=int(r["sent_total"] or 0),
                                  wcpu=float(r.get("worker_cpu_s") or 0), busy=float(r.get("cpu_busy_s") or 0),
                                  total=float(r.get("cpu_total_s") or 0), ours=float(r.get("ours_cpu_s") or 0)))
    return d


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def check(d, grace=None, retention=None, max_rss_ratio=None, every=None):
    """Returns (figures, [(check, ok, detail)])."""
    m = d.meta
    grace = m["grace_s"] if grace is None else grace
    retention = m["retention_s"] if retention is None else retention
    max_rss_ratio = m["max_rss_ratio"] if max_rss_ratio is None else max_rss_ratio
    S = d.every if every is None else every               # the fire period: fire seconds are s % S == 0
    t_kill, t_pm, t_up = m["t_kill"], m["t_pm_start"], m["t_up"]
    cw_lo, cw_hi = m["cw_lo"], m["cw_hi"]                 # crash window [cw_lo, cw_hi)
    ew_lo = m["ew_lo"]                                     # end window [ew_lo, hi]
    f0, hi = fire_seconds(m, S)
    base = d.base

    def fires(lo, up):              # the fire seconds in [lo, up)
        return range(-(-lo // S) * S, up, S)

    def fire_floor(x):              # the last fire second <= x
        return x // S * S
    errors = defaultdict(list)      # check name -> examples
    counts = Counter()
    fig = {}

    def in_cw(s):
        return cw_lo <= s < cw_hi

    def covered(s):                 # seconds whose executions were exported
        return in_cw(s) or ew_lo <= s <= hi

    def err(name, what, n=1):
        counts[name] += n
        if len(errors[name]) < 5:
            errors[name].append(what)

    def attempt1(j, s):
        rows = d.db.get((j, s))
        if rows:
            for r in rows:
                if r[2] == 1:
                    return r
        return None

    def fresh_after_restart(r):     # a run first claimed after the restart (not a re-send, not lost)
        return r is not None and r[4] == 1 and r[5] is not None and r[5] >= t_pm and r[3] != "lost"

    # --- completeness: every fire second of every job executed, or skipped by the misfire rule ---
    # A fire second is missing when it has no attempt-1 execution (where executions were exported) or no arrival
    # (elsewhere).  Each maximal run of consecutive missing fire seconds [a, b] must be a misfire gap: the run
    # a - S fired more than grace late, at time T (started_at, or first arrival), and the job went on from the
    # first fire second after floor(T' - grace), T' <= T being when that run was claimed; so b <= floor(T - grace).
    # The gap of the crash is the one whose a - S is the job's first run claimed after the restart; the claim came
    # after the worker was up again, so every fire second up to floor(t_up - 1 - grace) was skipped too: b >= the
    # last fire second <= floor(t_up - 1 - grace).  Any other gap means the worker was more than grace behind.
    crash_gap, catchup_skipped, late_skipped, late_cut, lost_seconds, late_examples = {}, 0, 0, 0, 0, []
    gap_secs = {}                   # job -> set of fire seconds legitimately skipped
    up_floor = fire_floor(math.floor(t_up - 1 - grace))
    for j in d.kind:
        kind, typ, cnt, first = d.kind[j], d.type[j], d.cnt[j], d.first[j]
        missing = [s for s in range(f0, hi + 1, S)
                   if (attempt1(j, s) is None if covered(s) else cnt[s - base] == 0)]
        runs = []
        for s in missing:
            if runs and runs[-1][1] == s - S:
                runs[-1][1] = s
            else:
                runs.append([s, s])
        legit = set()
        for a, b in runs:
            p = a - S                   # the run before the gap
            prev = attempt1(j, p) if p >= f0 else None
            t_prev = prev[5] if prev is not None and prev[5] is not None else \
                (first[p - base] or None if p >= f0 else None)
            n = (b - a) // S + 1
            if (j not in crash_gap and in_cw(a) and fresh_after_restart(prev)
                    and up_floor <= b <= math.floor(prev[5] - grace)):
                crash_gap[j] = (a, b)
            elif (t_prev is not None and t_prev - p > grace and b <= math.floor(t_prev - grace)
                  and t_prev >= t_pm and a < cw_hi):
                # after the restart every job fires its overdue runs of the grace window at once; while the
                # worker catches up with that burst, runs can fall more than grace late
                catchup_skipped += n
            elif t_prev is not None and t_prev - p > grace and b <= math.floor(t_prev - grace):
                late_skipped += n
                late_examples.append("job %d: seconds %d..%d (%d runs) skipped by the misfire rule, run %d having "
                                     "fired %.1f s late" % (j, a, b, n, p, t_prev - p))
            elif t_prev is not None and b == hi and t_prev - p > 1:
                # the last fire seconds, not yet claimed when the jobs were paused: the worker was behind
                late_cut += n
                late_examples.append("job %d: seconds %d..%d (%d runs) not claimed before the pause, run %d having "
                                     "fired %.1f s late" % (j, a, b, n, p, t_prev - p))
            else:
                lost_seconds += n
                err("lost", "job %d (%s %s): seconds %d..%d (%d runs) neither executed nor skipped by the misfire "
                    "rule%s" % (j, kind, typ, a, b, n, "" if t_prev is None else
                                " (run %d fired %.2f s after its time)" % (p, t_prev - p)), n)
                continue
            legit.update(range(a, b + 1, S))
        gap_secs[j] = legit
        if j not in crash_gap:
            # no gap after the restart: then the first run claimed after it must have been within grace, i.e. the
            # next fire second after it not yet due grace before the worker was up
            n0 = next((s for s in fires(cw_lo, cw_hi) if fresh_after_restart(attempt1(j, s))), None)
            if n0 is not None and up_floor >= n0 + S:
                err("misfire_rule", "job %d: no misfire gap although run %d fired after the restart, more than "
                    "grace late" % (j, n0))
    fig["crash_skipped"] = sum((b - a) // S + 1 for a, b in crash_gap.values())
    fig["jobs_with_gap"] = len(crash_gap)
    gap_lens = Counter((b - a) // S + 1 for a, b in crash_gap.values())
    fig["gap_lengths"] = " ".join("%d runs x%d" % kv for kv in sorted(gap_lens.items()))
    fig["late_skipped"] = late_skipped
    fig["catchup_skipped"] = catchup_skipped
    fig["late_cut"] = late_cut
    fig["lost"] = lost_seconds
    fig["downtime_s"] = round(t_up - t_kill, 2)
    fig["f0"], fig["hi"], fig["every"] = f0, hi, S
    if late_skipped or late_cut:
        err("keeps_up", "%d runs skipped by the misfire rule outside the crash (the worker fell more than grace "
            "behind), %d not claimed before the pause" % (late_skipped, late_cut))
        for e in late_examples[:2]:
            err("keeps_up", e, 0)

    # --- outcome of every exported execution ---
    resent = lost_am = 0
    outcomes = Counter()
    delays = []                     # retries and re-sends: started_at - retry_at
    for (j, s), rows in d.db.items():
        if s < f0:
            err("db_outcome", "job %d second %d: execution before the first fire second %d" % (j, s, f0))
            continue
        if s % S:
            err("db_outcome", "job %d second %d: execution for a second that is not a fire second (every %d s)"
                % (j, s, S))
            continue
        kind, typ = d.kind.get(j, "?"), d.type.get(j, "?")
        attempts = sorted(r[2] for r in rows)
        want = [1, 2] if kind == "fail" and typ == "ATLEAST_ONCE" else [1]
        lost_here = any(r[3] == "lost" for r in rows)
        if attempts != want and not (lost_here and attempts == [1]) and s <= hi:
            err("db_outcome", "job %d (%s %s) second %d: attempts %s, want %s" % (j, kind, typ, s, attempts, want))
        for r in rows:
            status, sends, http = r[3], r[4], r[7]
            outcomes[(kind, typ, status, http)] += 1
            ok = (status == "succeeded" and http == 200) if kind != "fail" else (status == "failed" and http == 500)
            if status == "lost":
                if typ != "ATMOST_ONCE" or not in_cw(s):
                    err("db_outcome", "job %d (%s %s) second %d: lost" % (j, kind, typ, s))
                else:
                    lost_am += 1
            elif status in ("running", "retrying"):
                err("db_outcome", "job %d (%s %s) second %d attempt %d: still %s (sends %d) in the last export"
                    % (j, kind, typ, s, r[2], status, sends))
            elif not ok:
                err("db_outcome", "job %d (%s %s) second %d attempt %d: %s http %s"
                    % (j, kind, typ, s, r[2], status, http))
            if typ == "ATMOST_ONCE" and sends > 1:
                err("atmost_once", "job %d second %d: ATMOST_ONCE execution with sends %d" % (j, s, sends))
            if typ == "ATLEAST_ONCE" and sends >= 2:
                if not in_cw(s) or sends > 2 or r[5] is None or r[5] < t_pm:
                    err("db_outcome", "job %d second %d: sends %d outside a crash re-send" % (j, s, sends))
                else:
                    resent += 1
                    if status in FINAL_ANSWERED and d.late[j][s - base] == 0:
                        err("resend", "job %d second %d: re-sent after the crash, but nothing arrived after the restart"
                            % (j, s))
            if r[9] is not None and r[5] is not None and status in FINAL_ANSWERED:
                # due while the server was down: due when the worker is up again
                delays.append(r[5] - (max(r[9], t_up) if r[9] < t_up else r[9]))
    if d.db_dups or m.get("dup_all"):
        err("db_dup", "%d duplicate (job_id, scheduled_for, attempt) in the exports, %d in the whole table"
            % (d.db_dups, m.get("dup_all", 0)), d.db_dups + m.get("dup_all", 0))
    if m.get("open_end"):
        err("db_outcome", "%d executions still running or retrying at the end" % m["open_end"])
    if d.db_frac:
        err("db_outcome", "%d executions with a fractional scheduled_for" % d.db_frac)
    fig["resent_atleast"] = resent
    fig["lost_atmost"] = lost_am
    if resent == 0:
        err("resend", "no ATLEAST_ONCE execution was re-sent after the crash: the crash interrupted nothing?")
    fig["retry_delay"] = "%.1f / %.1f / %.1f s over %d" % (pct(delays, 50), pct(delays, 99), max(delays or [0]),
                                                          len(delays))
    late_retries = sum(1 for x in delays if x > RETRY_DELAY_MAX)
    if late_retries:
        err("retry_delay", "%d of %d retries and re-sends went out more than %d s after their time (max %.1f s)"
            % (late_retries, len(delays), RETRY_DELAY_MAX, max(delays)), late_retries)

    # --- the sink: arrivals per run ---
    runs = delivered = atmost_twice = off_grid = 0
    for j in d.kind:
        typ, want = d.type[j], d.base_count[j]
        cnt, legit = d.cnt[j], gap_secs[j]
        # a request for a second that is not a fire second of the job (or before its first one)
        bad = [d.base + i for i, c in enumerate(cnt) if c and (d.base + i < f0 or (d.base + i) % S)]
        if bad:
            off_grid += len(bad)
            err("sink_count", "job %d: arrivals for %d seconds that are not fire seconds (every %d s from %d), "
                "e.g. %d" % (j, len(bad), S, f0, bad[0]), len(bad))
        for s in range(f0, hi + 1, S):
            c = cnt[s - base]
            runs += 1
            delivered += c > 0
            if s in legit:
                if c:
                    err("sink_count", "job %d second %d: %d arrivals of a run skipped by the misfire rule" % (j, s, c))
            elif covered(s) and attempt1(j, s) is None:
                pass        # lost: counted above
            elif in_cw(s):
                rows = d.db[(j, s)]
                lb = sum(1 for r in rows if r[3] in FINAL_ANSWERED and r[7] is not None)
                ub = sum(r[4] for r in rows)
                if not lb <= c <= ub:
                    err("sink_count", "job %d (%s) second %d: %d arrivals, executions say %d..%d"
                        % (j, typ, s, c, lb, ub))
            elif c != want:
                err("sink_count", "job %d (%s %s) second %d: %d arrivals, want %d" % (j, d.kind[j], typ, s, c, want))
        if typ == "ATMOST_ONCE":
            n = sum(1 for c in cnt if c > 1)
            if n:
                atmost_twice += n
                err("atmost_once", "job %d: %d ATMOST_ONCE runs arrived more than once" % (j, n), n)
    if d.stray:
        err("sink_count", "%d arrivals without a known job's Idempotency-Key" % d.stray)
    fig["runs_accounted"] = runs
    fig["off_grid"] = off_grid
    fig["runs_delivered"] = delivered
    fig["atmost_twice"] = atmost_twice

    # --- delivered rate and lateness over the steady parts (runs asked: jobs / S a second) ---
    # Each window is a whole number of periods [lo, lo + k S), lo a fire second, so that the arrivals per second
    # and the runs per second are averages over whole periods.
    windows = [(f0 + 10, math.floor(t_kill) - 1), (math.floor(t_up) + 15, hi - 1)]
    secs = arrivals = runs_w = arrived_w = 0
    lat = []
    for lo, up in windows:
        lo = -(-lo // S) * S
        up = lo + (up - lo) // S * S
        if up <= lo:
            continue
        secs += up - lo
        arrivals += sum(d.per_wall_second[t] for t in range(lo, up))
        for j in d.kind:
            cnt, first = d.cnt[j], d.first[j]
            for s in fires(lo, up):
                runs_w += 1
                if cnt[s - base]:
                    arrived_w += 1
                    lat.append(first[s - base] - s)
    fig["steady_s"] = secs
    fig["arrivals_per_s"] = round(arrivals / secs) if secs else 0
    fig["runs_per_s"] = round(arrived_w / secs) if secs else 0
    fig["runs_arrived_pct"] = round(100 * arrived_w / runs_w, 3) if runs_w else 0
    fig["lateness_ms"] = "%.0f / %.0f / %.0f" % (1000 * pct(lat, 50), 1000 * pct(lat, 99), 1000 * max(lat or [0]))
    if runs_w and arrived_w < 0.99 * runs_w:
        err("keeps_up", "only %.2f%% of the runs of the steady parts arrived" % (100 * arrived_w / runs_w))
    if lat and pct(lat, 99) > grace:
        err("keeps_up", "lateness p99 %.1f s over the misfire grace" % pct(lat, 99))
    # CPU over the steady parts: the worker's share of one CPU, the machine's busy share of all its CPUs, and
    # the CPUs kept busy by processes other than the soak's
    cpu = []
    for phase, lo, up in (("pre", f0 + 10, t_kill - 1), ("post", t_up + 15, m["t_pause"])):
        ss = [x for x in d.samples if x["phase"] == phase and lo <= x["t"] <= up and x["total"]]
        if len(ss) >= 2 and ss[-1]["t"] > ss[0]["t"]:
            wall = ss[-1]["t"] - ss[0]["t"]
            ncpu = (ss[-1]["total"] - ss[0]["total"]) / wall
            busy = (ss[-1]["busy"] - ss[0]["busy"]) / wall
            ours = (ss[-1]["ours"] - ss[0]["ours"]) / wall
            cpu.append("%s: worker %.0f%% of a CPU, machine %.0f%% busy (of %.0f CPUs), other processes %.2f CPUs"
                       % (phase, 100 * (ss[-1]["wcpu"] - ss[0]["wcpu"]) / wall, 100 * busy / ncpu, ncpu,
                          max(0, busy - ours)))
    fig["cpu"] = "; ".join(cpu) or "n/a"

    # --- worker memory, per phase ---
    rss_fig = []
    for phase, start, end in (("pre", m["t_start"], t_kill), ("post", t_up, m["t_pause"])):
        ss = [x for x in d.samples if x["phase"] == phase and start <= x["t"] < end]
        if len(ss) < 3:
            err("rss", "%s-crash: only %d samples" % (phase, len(ss)))
            continue
        warm = start + min(30, (end - start) / 3)
        after = [x for x in ss if x["t"] >= warm]
        if len(after) < 2:
            err("rss", "%s-crash: no samples after warm-up" % phase)
            continue
        b, e = after[0], after[-1]
        ratio = e["anon"] / b["anon"] if b["anon"] else float("inf")
        mc = [x for x in d.mctx if x[1] == e["pid"] and x[0] >= warm - 3]
        mctx = "; memory contexts: too few logged after warm-up"
        if len(mc) >= 2:
            fig["mctx_checked"] = phase == "post"
            fig["mctx_phases"] = fig.get("mctx_phases", 0) + 1
            # palloc'd memory (the worker's memory contexts) against the requests sent meanwhile
            sent = [min(ss, key=lambda x: abs(x["t"] - t))["sent"] for t in (mc[0][0], mc[-1][0])]
            grew = mc[-1][2] - mc[0][2]
            per = grew / (sent[1] - sent[0]) if sent[1] > sent[0] else 0
            mctx = ("; memory contexts %d -> %d kB used (%+.0f..%+.0f s), %+.0f bytes per request sent"
                    % (mc[0][2] // 1024, mc[-1][2] // 1024, mc[0][0] - m["t_start"], mc[-1][0] - m["t_start"], per))
            if grew > LEAK_MIN_BYTES and per > LEAK_PER_REQUEST:
                err("mem_leak", "%s-crash: the worker's memory contexts grew by %d kB, %.0f bytes per request sent"
                    % (phase, grew // 1024, per))
        rss_fig.append("%s-crash (pid %d, %+.0f..%+.0f s): RssAnon %d -> %d kB (x%.2f, max %d), "
                       "VmRSS %d -> %d kB (x%.2f)%s"
                       % (phase, e["pid"], b["t"] - m["t_start"], e["t"] - m["t_start"], b["anon"], e["anon"], ratio,
                          max(x["anon"] for x in after), b["vmrss"], e["vmrss"], e["vmrss"] / b["vmrss"], mctx))
        fig["rss_" + phase] = (b["anon"], e["anon"], ratio, b["vmrss"], e["vmrss"])
        if ratio > max_rss_ratio:
            err("rss", "%s-crash: worker RssAnon grew x%.2f after warm-up (limit x%.2f)" % (phase, ratio, max_rss_ratio))
    fig["rss"] = rss_fig

    # --- the executions table stays bounded by the retention ---
    bound = int(m["jobs"] / S * 1.1 * (retention + 30))
    mx = max(d.samples, key=lambda x: x["rows"]) if d.samples else None
    fig["rows_max"] = mx["rows"] if mx else 0
    fig["rows_max_at"] = round(mx["t"] - m["t_start"]) if mx else 0
    fig["rows_bound"] = bound
    fig["table_mb_max"] = round(max((x["bytes"] for x in d.samples), default=0) / 2**20)
    if not mx or mx["rows"] > bound:
        err("rows_bounded", "max sampled executions rows %d > bound %d" % (fig["rows_max"], bound))
    age = m.get("oldest_finished_age_s")
    if age is not None and age > retention + 30:
        err("rows_bounded", "the oldest finished execution at the end is %d s old, retention %d s" % (age, retention))
    fig["outcomes"] = outcomes

    names = ["db_dup", "lost", "misfire_rule", "db_outcome", "atmost_once", "resend", "retry_delay",
             "sink_count", "keeps_up", "rss", "mem_leak", "rows_bounded"]
    results = [(n, counts[n] == 0 and not errors[n],
                "%d; e.g. %s" % (counts[n], " | ".join(errors[n][:3])) if errors[n] else "")
               for n in names]
    if not fig.get("mctx_phases"):
        results = [(n, ok, "(not evaluated: too few memory context dumps after warm-up, run longer)"
                    if n == "mem_leak" and ok else det) for n, ok, det in results]
    return fig, results


def report(d, fig, results):
    m = d.meta
    print()
    print("=" * 100)
    every = fig["every"]
    print("jobsched soak: %d jobs every %s ('%s * * * * *', %g runs/s) for %d s (jobsched.so %s); kill -9 of the "
          "postmaster at %+.0f s, worker up again %.1f s later (%d s held down)"
          % (m["jobs"], "second" if every == 1 else "%d s" % every, "*" if every == 1 else "*/%d" % every,
             m["jobs"] / every, m["duration"], m["so_md5"], m["t_kill"] - m["t_start"], fig["downtime_s"], m["down"]))
    print("  settings: history_retention %d s, misfire_grace %d s, max_in_flight %d, max_host_connections %d; "
          "jobs created in %.1f s; load average at the end %s"
          % (m["retention_s"], m["grace_s"], m["max_in_flight"], m["max_host_connections"], m["create_s"], m["load"]))
    print("  delivered: %d arrivals/s, %d runs/s of %g asked (%.3f%% of the runs of %d steady seconds arrived); "
          "first-arrival lateness p50/p99/max %s ms"
          % (fig["arrivals_per_s"], fig["runs_per_s"], m["jobs"] / every, fig["runs_arrived_pct"], fig["steady_s"],
             fig["lateness_ms"]))
    print("  CPU over the steady parts: %s" % fig["cpu"])
    print("  runs accounted (jobs x fire seconds %d..%d every %d s): %d; arrived %d; skipped by the misfire rule after "
          "the crash %d (%d jobs, gaps %s) and while catching up after the restart %d; because the worker fell "
          "behind %d, not claimed before the pause %d; lost %d; sink arrivals %d (%d for seconds that are not fire "
          "seconds)"
          % (fig["f0"], fig["hi"], every, fig["runs_accounted"], fig["runs_delivered"], fig["crash_skipped"],
             fig["jobs_with_gap"], fig["gap_lengths"] or "none", fig["catchup_skipped"], fig["late_skipped"],
             fig["late_cut"], fig["lost"], d.arrivals, fig["off_grid"]))
    print("  duplicates: %d ATMOST_ONCE runs arrived twice; duplicate executions (job, scheduled_for, attempt): "
          "%d in the exports, %d in the whole table at the end"
          % (fig["atmost_twice"], d.db_dups, m.get("dup_all", 0)))
    print("  crash: %d ATLEAST_ONCE executions re-sent, %d ATMOST_ONCE lost; retries and re-sends went out "
          "p50/p99/max %s after their time; %s"
          % (fig["resent_atleast"], fig["lost_atmost"], fig["retry_delay"],
             m.get("recovered") or "(no recovery line in the log)"))
    print("  worker memory (from warm-up to the phase's last sample):")
    for line in fig["rss"]:
        print("    " + line)
    print("  executions rows: max %d (at %+d s), bound %d; %d at the end, oldest finished %s s old; table up to %d MB;"
          " by status: %s" % (fig["rows_max"], fig["rows_max_at"], fig["rows_bound"], m["rows_end"],
                              m.get("oldest_finished_age_s", "?"), fig["table_mb_max"], m["by_status"]))
    print("  alerts at the end: %s" % (m["alerts"] or "none"))
    print("  exported executions by kind/type/status/http: " + ", ".join(
        "%s %s %s %s: %d" % (k + (v,)) for k, v in sorted(fig["outcomes"].items(), key=str)))
    print("  checks:")
    for name, ok, detail in results:
        print("    %-13s %s %s" % (name, "PASS" if ok else "FAIL", detail))
    failed = [n for n, ok, _ in results if not ok]
    print("RESULT: %s" % ("PASS" if not failed else "FAIL (%s)" % ", ".join(failed)))
    print("=" * 100)
    return not failed


def self_test(d, args):
    """Corrupt the data one way at a time; each corruption must fail its check."""
    m = d.meta
    fig, results = check(d)
    ok_before = {n for n, ok, _ in results if ok}
    print("self-test: the data as they are: %s" % ("all checks pass" if len(ok_before) == len(results)
                                                     else "failing already: %s" % sorted(set(n for n, _, _ in results) - ok_before)))
    good_al = next(j for j in d.kind if d.kind[j] == "good" and d.type[j] == "ATLEAST_ONCE")
    good_am = next(j for j in d.kind if d.kind[j] == "good" and d.type[j] == "ATMOST_ONCE")
    S = d.every
    s_out = d.f0 + 3 * S                        # a fire second outside the crash window
    i_out = s_out - d.base
    # a fire second inside the crash window, before the kill, with an execution of good_al
    s_cw = next(s for s in range(-(-(m["cw_lo"] + 1) // S) * S, m["cw_hi"], S) if (good_al, s) in d.db)
    # a second on which no job fires: after s_out, or before F0 if every job fires every second
    s_off = s_out + 1 if S > 1 else d.f0 - 1
    resent = [(j, s) for (j, s), rows in d.db.items()
              if any(r[4] >= 2 and r[3] in FINAL_ANSWERED for r in rows)]
    cases = []

    def case(name, target, do, undo, **kw):
        cases.append((name, target, do, undo, kw))

    def setc(j, i, v):
        old = d.cnt[j][i]
        d.cnt[j][i] = v
        return old
    saved = {}
    case("an arrival dropped (good ATLEAST_ONCE, second %d)" % s_out, "lost",
         lambda: saved.__setitem__("a", setc(good_al, i_out, 0)), lambda: setc(good_al, i_out, saved["a"]))
    case("an ATMOST_ONCE run delivered twice", "atmost_once",
         lambda: saved.__setitem__("b", setc(good_am, i_out, 2)), lambda: setc(good_am, i_out, saved["b"]))
    key_cw = (good_al, s_cw)

    def dup_row():
        saved["c"] = list(d.db[key_cw])
        d.db[key_cw] = d.db[key_cw] + [d.db[key_cw][0]]
        d.db_dups += 1

    def undup_row():
        d.db[key_cw] = saved["c"]
        d.db_dups -= 1
    case("a duplicate execution row", "db_dup", dup_row, undup_row)
    case("an execution row missing in the crash window (second %d)" % s_cw, "lost",
         lambda: saved.__setitem__("d", d.db.pop(key_cw)), lambda: d.db.__setitem__(key_cw, saved["d"]))
    case("a run arriving on a second that is not a fire second (%d)" % s_off, "sink_count",
         lambda: saved.__setitem__("i", setc(good_al, s_off - d.base, 1)),
         lambda: setc(good_al, s_off - d.base, saved["i"]))
    if S > 1:
        key_off = (good_al, s_cw + 1)

        def off_row():
            r = d.db[key_cw][0]
            d.db[key_off] = [(r[0], s_cw + 1) + r[2:]]
        case("an execution for a second that is not a fire second (%d)" % (s_cw + 1), "db_outcome",
             off_row, lambda: d.db.pop(key_off))
    if resent:
        rj, rs = resent[0]
        case("a re-sent run that never arrived after the restart", "resend",
             lambda: saved.__setitem__("e", (d.late[rj][rs - d.base], d.late[rj].__setitem__(rs - d.base, 0))),
             lambda: d.late[rj].__setitem__(rs - d.base, saved["e"][0]))
    post = [x for x in d.samples if x["phase"] == "post"]

    def fat():
        saved["f"] = post[-1]["anon"]
        post[-1]["anon"] *= 2
    case("the worker's memory doubled at the end", "rss", fat, lambda: post[-1].__setitem__("anon", saved["f"]))
    if fig.get("mctx_checked"):
        last = len(d.mctx) - 1

        def leak():
            saved["g"] = d.mctx[last]
            t, pid, used = d.mctx[last]
            d.mctx[last] = (t, pid, used + (64 << 20))
        case("the worker's memory contexts 64 MB bigger at the end", "mem_leak", leak,
             lambda: d.mctx.__setitem__(last, saved["g"]))
    retried = next((rows for rows in d.db.values() for r in rows if r[9] is not None and r[5] is not None
                    and r[3] in FINAL_ANSWERED), None)
    if retried:
        i = next(i for i, r in enumerate(retried) if r[9] is not None and r[5] is not None and r[3] in FINAL_ANSWERED)

        def slow_retry():
            saved["h"] = retried[i]
            r = retried[i]
            retried[i] = r[:5] + (r[5] + 60,) + r[6:]
        case("a retry sent 60 s late", "retry_delay", slow_retry, lambda: retried.__setitem__(i, saved["h"]))
    if fig["crash_skipped"]:
        case("a wrong misfire grace (10 s instead of %d s)" % m["grace_s"], "lost",
             lambda: None, lambda: None, grace=10)
    # checked as if the jobs fired every second (or every 2 s if they do): the seconds in between are missing
    # (or their arrivals are not for fire seconds)
    wrong = 1 if S > 1 else 2
    case("a wrong schedule period (every %d s instead of %d s)" % (wrong, S), "lost" if S > 1 else "sink_count",
         lambda: None, lambda: None, every=wrong)
    case("a too small row bound (retention 1 s)", "rows_bounded", lambda: None, lambda: None, retention=1)
    bad = 0
    for name, target, do, undo, kw in cases:
        do()
        try:
            _, res = check(d, **kw)
        finally:
            undo()
        tripped = [n for n, ok, _ in res if not ok and n in ok_before]
        good = target in tripped
        bad += not good
        print("self-test: %-62s -> %s %s" % (name, "tripped" if good else "NOT TRIPPED",
                                             ", ".join(tripped) or "(nothing)"))
    print("self-test: %s" % ("every corruption was caught" if not bad else "%d corruptions not caught" % bad))
    return bad == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--grace", type=int)
    ap.add_argument("--retention", type=int)
    ap.add_argument("--max-rss-ratio", type=float)
    ap.add_argument("--every", type=int, help="the fire period in seconds (default: what the run used)")
    args = ap.parse_args()
    d = load(args.out)
    if args.self_test:
        sys.exit(0 if self_test(d, args) else 1)
    fig, results = check(d, args.grace, args.retention, args.max_rss_ratio, args.every)
    sys.exit(0 if report(d, fig, results) else 1)


if __name__ == "__main__":
    main()
