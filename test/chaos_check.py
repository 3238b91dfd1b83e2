#!/usr/bin/env python3
"""Checker of a test/chaos.py run: replays the API history against the sink log and the final dump.

    python3 test/chaos_check.py DIR           # DIR: a work dir kept by chaos.py --keep (or left after a failure)
    python3 test/chaos_check.py --self-test   # each rule trips on a broken synthetic case, passes on a clean one

Why a replay.  chaos.py drives jobsched with concurrent API sessions and faults (crashes, clean stops, row
locks) and records what it did; the extension records what it did in jobsched.executions; the sink records
what reached it.  None of them alone says whether a request should have gone out.  The checker rebuilds, for
every job, the timeline of its states (schedule, active, ...) from the committed calls, and judges every
request against it.  It evaluates the cron expressions itself (second field only, the other fields must be
`*`), so a bug in the extension's next_fire cannot hide itself.

DIR holds: meta.json, history.jsonl (one JSON object per API call or fault), sink.log (test/sink.py's
JSON lines), jobs.json and executions.json (the dump after the run).

The rules (times are Unix seconds; a run is (job id, scheduled time), its key the Idempotency-Key
jobsched-<job id>-<scheduled time in Unix microseconds>):
  a  no ATMOST_ONCE run reached the sink twice, and none has more than one execution row.
  b  every run that reached the sink (or has an execution row) is a fire time of a schedule the job could
     have had at that moment, active and existing; or it is explained by a committed (or unknown-outcome)
     trigger_job of that job whose [t_begin - 0.05, t_end + 0.05] contains the scheduled time (one run per
     trigger; a rolled-back trigger explains nothing).
  c  every fire time of an active job inside the checked window [first creation + 2 s, end of API - 1 s]
     reached the sink, except inside an ambiguity window of that job, a fault window, a long-lock window
     of that job, or for a job with overlap 'skip'.
  d  an ATLEAST_ONCE run arrived at most sum(sends) times; with no fault window around it (from its time
     - 1 s to its last finished_at + 1 s), exactly once per attempt (execution row).
  e  a run's attempts are exactly 1..n; none is running or retrying at the end when its time is <= end of
     API - 1 s; every attempt but the last failed or timed out; only ATLEAST_ONCE runs have several; and no
     execution row is left of a job that no longer exists (delete_job removes the history).
  f  an execution is 'lost' only if a kill -9 (postmaster or worker) happened between its time - 1 s and
     its finished_at.
  w  (not a rule about runs) after each fault the worker came back.

Windows:
  ambiguity window of a change (create, modify, pause, resume, delete; committed or unknown outcome):
     [t_begin - 0.5, t_end + 0.5] (t_end of an unknown outcome: when its state was re-read).  Inside it the
     state before the change may still apply anywhere (runs claimed 200 ms ahead are sent anyway), and the
     new state from t_call - 0.5 on: the change exists only from its UPDATE (t_call: when the call was
     sent), which locks the row until commit, so a run scheduled before that can only follow the old one.
  fault window: [fault t_begin - 1, t_worker_back + 6] (5 s misfire grace and slack); for the row-lock
     fault only for the locked job: [lock begin - 0.5, lock end + 6].
  long-lock window of a job: where its row was locked without a break (by API calls of any outcome,
     from t_call to t_end, or the row-lock fault) for more than misfire_grace - 1 s = 4 s: runs held back
     that long may be misfires, which the misfire policy may drop.  [start - 0.5, end + 1].
State changes are ordered by the server's clock_timestamp() read inside each transaction just before its
COMMIT: the call holds the job's row lock there, so the order is the commit order.
Deleted jobs have no execution rows (delete removes history): rule d sees only surviving jobs, rule e flags
any row left of a deleted one.
"""

import argparse
import bisect
import json
import math
import os
import sys
import time
from collections import Counter, defaultdict

AMBIGUITY = 0.5          # half-width of a change's ambiguity window (200 ms lookahead + slack)
TRIGGER_SLACK = 0.05     # a triggered run's time is the trigger transaction's now(), inside its call
FAULT_BEFORE = 1.0       # a fault window opens this long before the fault ...
FAULT_AFTER = 6.0        # ... and closes this long after the worker is back (5 s misfire grace + 1 s)
LOCK_BEFORE = 0.5        # the row-lock fault's window, for the locked job only
MISFIRE_GRACE = 5.0
LONG_LOCK = MISFIRE_GRACE - 1.0
CHECK_START_AFTER = 2.0  # the checked window starts this long after the first job's creation ...
CHECK_END_BEFORE = 1.0   # ... and ends this long before the end of the API phase
KILL_KINDS = ("kill9_postmaster", "kill9_worker")
RULES = "abcdefw"
FINAL = ("succeeded", "failed", "timed_out", "lost")


# --------------------------------------------------------------------------
# Cron: the second field, evaluated independently of the extension
# --------------------------------------------------------------------------

def second_set(expr):
    """The seconds (0-59) of a six-field expression whose other five fields are '*'."""
    fields = expr.split()
    if len(fields) != 6 or any(f != "*" for f in fields[1:]):
        raise ValueError("only 'S * * * * *' expressions are supported: %r" % expr)
    seconds = set()
    for item in fields[0].split(","):
        base, slash, step = item.partition("/")
        step = int(step) if slash else 1
        if step < 1:
            raise ValueError("bad step in %r" % expr)
        if base == "*":
            lo, hi = 0, 59
        elif "-" in base:
            lo, hi = (int(x) for x in base.split("-", 1))
        else:
            lo = int(base)
            hi = 59 if slash else lo       # 'a/n' runs from a to the maximum
        if not 0 <= lo <= hi <= 59:
            raise ValueError("bad range in %r" % expr)
        seconds.update(range(lo, hi + 1, step))
    return frozenset(seconds)


_SECONDS_CACHE = {}


def fires_at(schedule, us):
    """Whether the schedule fires at Unix time `us` (microseconds).

    Every zone the test uses is a whole number of minutes off UTC, so the second of the minute is the
    same in UTC and in the job's zone, and with every other field '*' no DST rule can move a fire time.
    """
    if us % 1000000:
        return False
    s = _SECONDS_CACHE.get(schedule)
    if s is None:
        s = _SECONDS_CACHE[schedule] = second_set(schedule)
    return (us // 1000000) % 60 in s


def fire_seconds(schedule, lo, hi):
    """The whole seconds in [lo, hi] the schedule fires at."""
    s = second_set(schedule)
    return [t for t in range(math.ceil(lo), math.floor(hi) + 1) if t % 60 in s]


def iso(t):
    if t is None:
        return "-"
    return time.strftime("%H:%M:%S", time.gmtime(t)) + ("%.6f" % (t % 1))[1:] + "Z"


# --------------------------------------------------------------------------
# Loading a work dir
# --------------------------------------------------------------------------

class Data:
    """Everything the rules look at; built from a work dir by load() or by hand by the self-test."""

    def __init__(self, meta, history, arrivals, executions, jobs):
        self.meta = meta                # t_first_create, t_api_end, ...
        self.calls = [h for h in history if h.get("ev") == "call"]
        self.faults = [h for h in history if h.get("ev") == "fault"]
        self.arrivals = arrivals        # [(t_arrival, job_id, scheduled_us, path)]
        self.executions = executions    # [dict(job_id, scheduled_us, attempt, status, sends, finished_at, ...)]
        self.jobs = jobs                # [dict(id, type, ...)] of the final dump
        self.stray = 0                  # requests without a parseable Idempotency-Key


def parse_key(key):
    """(job id, scheduled time in us) of an Idempotency-Key, or None."""
    try:
        prefix, job, us = key.split("-")
        if prefix != "jobsched":
            return None
        return int(job), int(us)
    except (AttributeError, ValueError):
        return None


def read_sink_log(path):
    arrivals, stray = [], 0
    with open(path) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue            # a line cut by a crash of the sink, if any
            k = parse_key(r.get("idempotency_key"))
            if k is None:
                stray += 1
                continue
            arrivals.append((r["t"], k[0], k[1], r.get("path")))
    return arrivals, stray


def load(workdir):
    def path(name):
        return os.path.join(workdir, name)
    meta = json.load(open(path("meta.json")))
    history = [json.loads(l) for l in open(path("history.jsonl")) if l.strip()]
    arrivals, stray = read_sink_log(path("sink.log"))
    executions = json.load(open(path("executions.json"))) if os.path.exists(path("executions.json")) else []
    jobs = json.load(open(path("jobs.json"))) if os.path.exists(path("jobs.json")) else []
    d = Data(meta, history, arrivals, executions, jobs)
    d.stray = stray
    return d


# --------------------------------------------------------------------------
# What the history says about each job
# --------------------------------------------------------------------------

ANY = "any"     # a state we could not learn (a call's outcome unknown and never re-read): anything goes


class Change:
    __slots__ = ("t_read", "state", "lo", "hi", "new_from", "call")

    def __init__(self, t_read, state, lo, hi, new_from, call):
        self.t_read, self.state, self.lo, self.hi, self.new_from, self.call = t_read, state, lo, hi, new_from, call


CHANGE_KINDS = ("create", "modify", "pause", "resume", "delete")


def state_of(read):
    """A state read (dict from chaos.py) as the checker's state: None if the job does not exist."""
    if read is None:
        return ANY
    if not read.get("exists"):
        return None
    return {k: read.get(k) for k in ("schedule", "timezone", "active", "misfire", "type", "url", "overlap")}


class Timeline:
    """The states of one job over time, with the windows in which two of them may apply."""

    def __init__(self, job):
        self.job = job
        self.changes = []
        self.triggers = []          # [lo, hi, call, used]
        self.locks = []             # (t0, t1): its row was locked (calls of any outcome, row-lock faults)
        self.long_locks = []        # merged locks longer than LONG_LOCK, widened

    def finish(self):
        self.changes.sort(key=lambda c: c.t_read)
        self.reads = [c.t_read for c in self.changes]
        self.by_lo = sorted(range(len(self.changes)), key=lambda i: self.changes[i].lo)
        self.los = [self.changes[i].lo for i in self.by_lo]
        self.max_width = max((c.hi - c.lo for c in self.changes), default=0.0)
        self.triggers.sort(key=lambda tr: tr[1])
        self.long_locks = merge_long_locks(self.locks)

    def state_at(self, t):
        """The state in force at t by the commit order alone (None before creation)."""
        i = bisect.bisect_right(self.reads, t) - 1
        return self.changes[i].state if i >= 0 else None

    def windows_at(self, t):
        """Indexes (in commit order) of the changes whose ambiguity window contains t."""
        j = bisect.bisect_right(self.los, t)
        k = bisect.bisect_left(self.los, t - self.max_width)
        return [self.by_lo[x] for x in range(k, j) if self.changes[self.by_lo[x]].hi >= t]

    def admissible(self, t):
        """Every state that may have applied to a run scheduled at t."""
        states = [self.state_at(t)]
        for i in self.windows_at(t):
            c = self.changes[i]
            states.append(self.changes[i - 1].state if i > 0 else None)
            if t >= c.new_from:
                states.append(c.state)
        return states

    def ambiguous(self, t):
        return bool(self.windows_at(t))

    def in_long_lock(self, t):
        return any(lo <= t <= hi for lo, hi in self.long_locks)

    def job_type(self):
        for c in self.changes:
            if isinstance(c.state, dict) and c.state.get("type"):
                return c.state["type"]
        return None


def merge_long_locks(locks):
    """Stretches in which the row stayed locked for more than LONG_LOCK seconds, widened as the rule says."""
    out = []
    cur = None
    for t0, t1 in sorted(locks):
        if cur and t0 <= cur[1] + 0.2:     # a gap shorter than a claim round trip is no gap
            cur[1] = max(cur[1], t1)
        else:
            if cur and cur[1] - cur[0] > LONG_LOCK:
                out.append((cur[0] - 0.5, cur[1] + 1.0))
            cur = [t0, t1]
    if cur and cur[1] - cur[0] > LONG_LOCK:
        out.append((cur[0] - 0.5, cur[1] + 1.0))
    return out


def build_timelines(d):
    tl = {}

    def timeline(job):
        if job not in tl:
            tl[job] = Timeline(job)
        return tl[job]
    for c in d.calls:
        job = c.get("job")
        if job is None:
            continue
        t = timeline(job)
        if c.get("t_call") is not None:
            t.locks.append((c["t_call"], c["t_end"]))
        outcome = c["outcome"]
        if outcome not in ("committed", "unknown"):
            continue
        if outcome == "committed":
            read = c.get("state")
            t_read = read["t_read"] if read else c["t_end"]
            hi = c["t_end"] + AMBIGUITY
        else:
            rr = c.get("reread")
            read = rr.get("state") if rr else None
            t_read = read["t_read"] if read else c["t_end"]
            hi = (rr["t_done"] if rr else float("inf")) + AMBIGUITY
        lo = c["t_begin"] - AMBIGUITY
        new_from = (c["t_call"] if c.get("t_call") is not None else c["t_begin"]) - AMBIGUITY
        if c["kind"] == "trigger":
            t.triggers.append([c["t_begin"] - TRIGGER_SLACK, c["t_end"] + TRIGGER_SLACK, c, False])
            continue
        if c["kind"] in CHANGE_KINDS:
            t.changes.append(Change(t_read, state_of(read), lo, hi, new_from, c))
    for f in d.faults:
        if f["kind"] == "row_lock" and f.get("job") is not None and f.get("t_locked") is not None:
            timeline(f["job"]).locks.append((f["t_locked"], f["t_unlock"]))
    for t in tl.values():
        t.finish()
    return tl


class FaultWindows:
    def __init__(self, faults, t_stop):
        self.all = []                        # (lo, hi) for every job
        self.per_job = defaultdict(list)     # row-lock faults
        self.kills = []                      # times of kill -9
        for f in faults:
            back = f.get("t_worker_back")
            if f["kind"] == "row_lock":
                if f.get("job") is not None:
                    t0 = f.get("t_locked") or f["t_begin"]
                    self.per_job[f["job"]].append((t0 - LOCK_BEFORE, (f.get("t_unlock") or t_stop) + FAULT_AFTER))
                continue
            self.all.append((f["t_begin"] - FAULT_BEFORE, (back if back is not None else t_stop) + FAULT_AFTER))
            if f["kind"] in KILL_KINDS:
                self.kills.append(f.get("t_kill") or f["t_begin"])

    def covers(self, job, t):
        return any(lo <= t <= hi for lo, hi in self.all) or \
            any(lo <= t <= hi for lo, hi in self.per_job.get(job, ()))

    def overlaps(self, lo, hi):
        return any(a <= hi and lo <= b for a, b in self.all)


# --------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------

class Result:
    def __init__(self):
        self.violations = []
        self.by_rule = Counter()
        self.fig = {}

    def add(self, rule, job, t, what):
        self.by_rule[rule] += 1
        self.violations.append({"rule": rule, "job": job, "scheduled": t, "what": what})


def job_types(d, tl):
    types = {j["id"]: j["type"] for j in d.jobs}
    for job, t in tl.items():
        types.setdefault(job, t.job_type())
    return types


def check(d):
    """Applies every rule; returns a Result."""
    r = Result()
    tl = build_timelines(d)
    types = job_types(d, tl)
    t_api_end = d.meta["t_api_end"]
    t_stop = d.meta.get("t_dump", t_api_end + 60)
    faults = FaultWindows(d.faults, t_stop)
    w0 = d.meta["t_first_create"] + CHECK_START_AFTER
    w1 = t_api_end - CHECK_END_BEFORE

    arrivals_of = defaultdict(list)         # (job, us) -> [arrival time]
    for t, job, us, _path in d.arrivals:
        arrivals_of[(job, us)].append(t)
    rows_of = defaultdict(list)             # (job, us) -> [execution row]
    for e in d.executions:
        rows_of[(e["job_id"], e["scheduled_us"])].append(e)

    rule_a(r, types, arrivals_of, rows_of)
    rule_b(r, tl, arrivals_of, rows_of)
    rule_c(r, tl, faults, arrivals_of, w0, w1)
    rule_d(r, types, faults, arrivals_of, rows_of, w1)
    rule_e(r, types, rows_of, w1, {j["id"] for j in d.jobs})
    rule_f(r, faults, d.executions)
    rule_w(r, d.faults)

    r.fig["calls"] = Counter((c["kind"], c["outcome"]) for c in d.calls)
    r.fig["faults"] = Counter(f["kind"] for f in d.faults)
    r.fig["arrivals"] = len(d.arrivals)
    r.fig["stray"] = d.stray
    r.fig["keys"] = len(set(arrivals_of) | set(rows_of))
    r.fig["rows"] = len(d.executions)
    r.fig["runs_with_rows"] = len(rows_of)
    r.fig["jobs"] = len(tl)
    r.fig["window"] = (w0, w1)
    r.fig["triggers_used"] = sum(tr[3] for t in tl.values() for tr in t.triggers)
    r.fig["triggers"] = sum(len(t.triggers) for t in tl.values())
    return r


def rule_a(r, types, arrivals_of, rows_of):
    for (job, us), ts in sorted(arrivals_of.items()):
        if types.get(job) == "ATMOST_ONCE" and len(ts) > 1:
            r.add("a", job, us / 1e6, "ATMOST_ONCE run reached the sink %d times (at %s); expected at most once"
                  % (len(ts), ", ".join(iso(t) for t in sorted(ts))))
    for (job, us), rows in sorted(rows_of.items()):
        if types.get(job) == "ATMOST_ONCE" and len(rows) > 1:
            r.add("a", job, us / 1e6, "ATMOST_ONCE run has %d execution rows (attempts %s, statuses %s); "
                  "expected one" % (len(rows), [e["attempt"] for e in rows], [e["status"] for e in rows]))


def rule_b(r, tl, arrivals_of, rows_of):
    """Every run seen must come from a schedule in force (or a trigger); triggers explain one run each."""
    unexplained = []
    checked = 0
    for job, us in sorted(set(arrivals_of) | set(rows_of), key=lambda k: (k[1], k[0])):
        checked += 1
        t = us / 1e6
        timeline = tl.get(job)
        if timeline is None:
            r.add("b", job, t, "request for job %d, which no call of the history created" % job)
            continue
        states = timeline.admissible(t)
        if any(s == ANY or (s and s["active"] and fires_at(s["schedule"], us)) for s in states):
            continue
        unexplained.append((job, us, states))
    for job, us, states in unexplained:
        t = us / 1e6
        timeline = tl[job]
        trigger = next((tr for tr in timeline.triggers if not tr[3] and tr[0] <= t <= tr[1]), None)
        if trigger is not None:
            trigger[3] = True
            continue
        if all(s is None for s in states):
            what = "the job did not exist then"
        else:
            shown = sorted({"'%s'%s" % (s["schedule"], "" if s["active"] else " (paused)") for s in states if s})
            what = "not a fire time of " + " or ".join(shown)
            if any(s is None for s in states):
                what += " (or the job did not exist)"
        early = next((c for c in timeline.changes if c.lo <= t < c.new_from and isinstance(c.state, dict)
                      and c.state["active"] and fires_at(c.state["schedule"], us)), None)
        if early is not None:
            what += "; it is a fire time of the state the %s sent at %s committed, but from before that call " \
                    "(fired from its transaction's start, %s)" % (early.call["kind"], iso(early.call.get("t_call")),
                                                                   iso(early.call["t_begin"]))
        n = len(arrivals_of.get((job, us), ()))
        r.add("b", job, t, "%s%s; no trigger_job explains it" % (
            "run sent %d time%s: " % (n, "" if n == 1 else "s") if n else "execution row only: ", what))
    r.fig["b_checked"] = checked


def rule_c(r, tl, faults, arrivals_of, w0, w1):
    """Every fire time of an active job in the checked window, away from every window, reached the sink."""
    expected = exempt = 0
    for job, timeline in sorted(tl.items()):
        # the whole seconds at which this job, by its committed states, was active
        for i, c in enumerate(timeline.changes):
            s = c.state
            if not isinstance(s, dict) or not s["active"]:
                continue
            seg_end = timeline.changes[i + 1].t_read if i + 1 < len(timeline.changes) else float("inf")
            if s.get("overlap") == "skip":
                continue
            for t in fire_seconds(s["schedule"], max(w0, c.t_read), min(w1, seg_end)):
                if t >= seg_end:
                    continue        # the next state's
                if timeline.ambiguous(t) or faults.covers(job, t) or timeline.in_long_lock(t):
                    exempt += 1
                    continue
                expected += 1
                if (job, t * 1000000) not in arrivals_of:
                    r.add("c", job, t, "run of '%s' (%s, active) never reached the sink" % (s["schedule"], s["type"]))
    r.fig["c_expected"] = expected
    r.fig["c_exempt"] = exempt


def rule_d(r, types, faults, arrivals_of, rows_of, w1):
    checked = 0
    for (job, us), rows in sorted(rows_of.items()):
        if types.get(job) != "ATLEAST_ONCE":
            continue
        t = us / 1e6
        n = len(arrivals_of.get((job, us), ()))
        sends = sum(e["sends"] for e in rows)
        if n > sends:
            r.add("d", job, t, "reached the sink %d times, more than the %d sends of its %d execution rows"
                  % (n, sends, len(rows)))
            continue
        if t > w1 or any(e["status"] not in FINAL for e in rows):
            continue
        last = max((e.get("finished_at") or t) for e in rows)
        if faults.overlaps(t - 1, last + 1):
            continue
        checked += 1
        if n != len(rows):
            r.add("d", job, t, "reached the sink %d times for %d attempts with no fault around it; expected "
                  "exactly one arrival per attempt" % (n, len(rows)))
    r.fig["d_checked"] = checked


def rule_e(r, types, rows_of, w1, existing):
    checked = 0
    for (job, us), rows in sorted(rows_of.items()):
        checked += 1
        t = us / 1e6
        if job not in existing:
            # delete_job removes a job's history; a row that outlived it is never sent nor purged
            r.add("e", job, t, "%d execution row(s) (attempts %s, statuses %s) of job %d, which no longer exists; "
                  "expected none (delete_job removes the history)" % (
                      len(rows), [e["attempt"] for e in rows], [e["status"] for e in rows], job))
            continue
        rows = sorted(rows, key=lambda e: (e["attempt"], e["id"]))
        attempts = [e["attempt"] for e in rows]
        twice = sorted(a for a, k in Counter(attempts).items() if k > 1)
        if twice:
            # one finding per run: the rest (a succeeded attempt followed by another, ...) follows from it
            r.add("e", job, t, "attempt%s %s recorded more than once (attempts %s, statuses %s): the run was "
                  "claimed more than once; expected attempts 1..n once each" % (
                      "s" if len(twice) > 1 else "", twice, attempts, [e["status"] for e in rows]))
            continue
        if attempts != list(range(1, len(rows) + 1)):
            r.add("e", job, t, "attempts %s; expected exactly 1..%d" % (attempts, len(rows)))
        if t <= w1:
            open_ = [e["attempt"] for e in rows if e["status"] in ("running", "retrying")]
            if open_:
                r.add("e", job, t, "attempt(s) %s still running/retrying at the end; expected final" % open_)
        for e in rows[:-1]:
            if e["status"] not in ("failed", "timed_out"):
                r.add("e", job, t, "attempt %d is %s but a later attempt exists; expected failed or timed_out"
                      % (e["attempt"], e["status"]))
        if len(rows) > 1 and types.get(job) != "ATLEAST_ONCE":
            r.add("e", job, t, "%s run with %d attempts; only ATLEAST_ONCE runs are retried"
                  % (types.get(job), len(rows)))
    r.fig["e_checked"] = checked


def rule_f(r, faults, executions):
    for e in executions:
        if e["status"] != "lost":
            continue
        t = e["scheduled_us"] / 1e6
        end = e.get("finished_at") or float("inf")
        if not any(t - 1 <= k <= end for k in faults.kills):
            r.add("f", e["job_id"], t, "execution %d (attempt %d) is lost with no kill -9 between %s and %s"
                  % (e["id"], e["attempt"], iso(t - 1), iso(e.get("finished_at"))))


def rule_w(r, faults):
    for f in faults:
        if f["kind"] != "row_lock" and f.get("t_worker_back") is None:
            r.add("w", None, f["t_begin"], "the worker did not come back after %s" % f["kind"])


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def summary(d, r, detail=20):
    lines = []
    fig = r.fig
    calls = fig["calls"]
    applied = sum(n for (k, o), n in calls.items() if o in ("committed", "unknown"))
    own = Counter(c["session"] for c in d.calls)
    lines.append("figures: API calls %d, applied (committed or unknown outcome) %d; of all calls %d by the sessions, "
                 "%d setup creates, %d final pauses" % (sum(calls.values()), applied,
                                                      sum(n for s, n in own.items() if s not in ("setup", "final")),
                                                      own.get("setup", 0), own.get("final", 0)))
    kinds = sorted({k for k, _ in calls})
    outcomes = ("committed", "unknown", "rolled_back", "error")
    lines.append("  %-10s %s" % ("call", " ".join("%11s" % o for o in outcomes)))
    for k in kinds:
        lines.append("  %-10s %s" % (k, " ".join("%11d" % calls.get((k, o), 0) for o in outcomes)))
    faults = ", ".join("%s %d" % kv for kv in sorted(fig["faults"].items())) or "none"
    lines.append("figures: faults %d: %s" % (sum(fig["faults"].values()), faults))
    lines.append("figures: runs checked: %d expected runs (rule c; %d more inside windows), %d runs seen (rule b), "
                 "%d runs with execution rows (rule e), %d ATLEAST_ONCE runs away from faults (rule d)"
                 % (fig["c_expected"], fig["c_exempt"], fig["b_checked"], fig["e_checked"], fig["d_checked"]))
    lines.append("figures: arrivals %d (%d without an Idempotency-Key), execution rows %d, jobs %d, triggers %d "
                 "(%d explained a run); checked window %s .. %s"
                 % (fig["arrivals"], fig["stray"], fig["rows"], fig["jobs"], fig["triggers"], fig["triggers_used"],
                    iso(fig["window"][0]), iso(fig["window"][1])))
    lines.append("figures: violations %d: %s" % (len(r.violations),
                                                  " ".join("%s=%d" % (k, r.by_rule.get(k, 0)) for k in RULES)))
    for v in r.violations[:detail]:
        lines.append("  violation %s: job %s, scheduled %s: %s" % (
            v["rule"], v["job"], iso(v["scheduled"]), v["what"]))
    if len(r.violations) > detail:
        lines.append("  ... and %d more" % (len(r.violations) - detail))
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Self-test: synthetic histories, one broken thing at a time
# --------------------------------------------------------------------------

T0 = 1700000040.0          # a whole minute: T0 + s is second s of its minute


def us(t):
    return int(round(t * 1e6))
T_END = T0 + 60.0


def synthetic():
    """A clean little run: the rules must find nothing in it.

    job 1  ATMOST_ONCE '*/2 * * * * *' /ok; paused at +20, resumed at +30 (after the resume only the
           fire times after the call come out); one triggered run at +15.12; a kill -9 of the postmaster at
           +40.3 (worker back at +42), the run at +40 lost, the fire times up to +48 missing
    job 2  ATLEAST_ONCE '* * * * * *' /fail with max_retries 1: every run two failed attempts, two arrivals
    job 3  ATLEAST_ONCE '*/3 * * * * *' /ok, created paused; resumed in a transaction begun at +8.8 that
           slept before its call (+12.4) and committed at +13; the schedule changed to '*/5' at +24.7
           (autocommit): +24 old, +25 new (inside the change's window), then every 5 s
    job 4  ATMOST_ONCE '* * * * * *' /ok, deleted at +25 (autocommit)
    """
    hist, arrivals, rows = [], [], []
    rid = [0]

    def state(job, schedule, active, typ, t_read, exists=True):
        return {"exists": exists, "schedule": schedule, "timezone": "UTC", "active": active, "misfire": "run_once",
                "type": typ, "url": "http://127.0.0.1:1/ok?j=%d" % job, "overlap": "allow", "t_read": t_read}

    def call(kind, job, t_begin, t_end, st, outcome="committed", t_call=None, **kw):
        c = {"ev": "call", "session": "s", "kind": kind, "job": job, "args": kw, "t_begin": t_begin,
             "t_call": t_begin if t_call is None else t_call, "t_end": t_end, "outcome": outcome, "state": st}
        hist.append(c)
        return c

    def run(job, t, attempts=1, status="succeeded", arrive=None, sends=1):
        key = us(t)
        for a in range(1, attempts + 1):
            rid[0] += 1
            rows.append({"id": rid[0], "job_id": job, "scheduled_us": key, "attempt": a,
                         "status": status if a == attempts else "failed", "sends": sends,
                         "started_at": t + a - 1, "finished_at": t + a - 0.9})
            if arrive is None or arrive:
                arrivals.append((t + a - 1 + 0.001, job, key, "/"))
    for j, (sched, typ, active) in enumerate([("*/2 * * * * *", "ATMOST_ONCE", True),
                                              ("* * * * * *", "ATLEAST_ONCE", True),
                                              ("*/3 * * * * *", "ATLEAST_ONCE", False),
                                              ("* * * * * *", "ATMOST_ONCE", True)], 1):
        call("create", j, T0 - 0.1 + j * 0.01, T0 - 0.05 + j * 0.01,
             state(j, sched, active, typ, T0 - 0.07 + j * 0.01))
    # job 1
    call("pause", 1, T0 + 20.1, T0 + 20.15, state(1, "*/2 * * * * *", False, "ATMOST_ONCE", T0 + 20.12))
    call("resume", 1, T0 + 30.1, T0 + 30.15, state(1, "*/2 * * * * *", True, "ATMOST_ONCE", T0 + 30.12))
    call("trigger", 1, T0 + 15.1, T0 + 15.2, state(1, "*/2 * * * * *", True, "ATMOST_ONCE", T0 + 15.15))
    run(1, T0 + 15.123456)
    hist.append({"ev": "fault", "kind": "kill9_postmaster", "t_begin": T0 + 40.3, "t_kill": T0 + 40.3,
                 "t_worker_back": T0 + 42.0})
    for t in range(2, 59, 2):
        if 20 < t < 31 or 40 <= t <= 48:
            continue
        run(1, T0 + t)
    rid[0] += 1
    rows.append({"id": rid[0], "job_id": 1, "scheduled_us": us(T0 + 40), "attempt": 1, "status": "lost",
                 "sends": 1, "started_at": T0 + 40, "finished_at": T0 + 42.5})
    # job 2
    for t in range(1, 59):
        run(2, T0 + t, attempts=2, status="failed")
    # job 3
    call("resume", 3, T0 + 8.8, T0 + 13.0, state(3, "*/3 * * * * *", True, "ATLEAST_ONCE", T0 + 12.99),
         t_call=T0 + 12.4)
    call("modify", 3, T0 + 24.7, T0 + 24.75, state(3, "*/5 * * * * *", True, "ATLEAST_ONCE", T0 + 24.73),
         schedule="*/5 * * * * *")
    for t in (15, 18, 21, 24):
        run(3, T0 + t)
    for t in range(25, 59, 5):
        run(3, T0 + t)
    # job 4
    call("delete", 4, T0 + 25.05, T0 + 25.1, {"exists": False, "t_read": T0 + 25.08})
    for t in range(1, 26):
        arrivals.append((T0 + t + 0.001, 4, int((T0 + t) * 1e6), "/"))
    # the final pause
    for j, sched, typ in ((1, "*/2 * * * * *", "ATMOST_ONCE"), (2, "* * * * * *", "ATLEAST_ONCE"),
                          (3, "*/5 * * * * *", "ATLEAST_ONCE")):
        call("pause", j, T_END - 1.0, T_END - 0.9, state(j, sched, False, typ, T_END - 0.95))
    meta = {"t_first_create": T0 - 0.04, "t_api_end": T_END - 2.0, "t_dump": T_END}
    jobs = [{"id": 1, "type": "ATMOST_ONCE"}, {"id": 2, "type": "ATLEAST_ONCE"}, {"id": 3, "type": "ATLEAST_ONCE"}]
    return Data(meta, hist, arrivals, rows, jobs)


def drop_arrival(job, t):
    def f(d):
        d.arrivals = [a for a in d.arrivals if not (a[1] == job and a[2] == us(t))]
    return f


def drop_run(job, t):
    """The run never happened: no arrival and no execution row."""
    def f(d):
        drop_arrival(job, t)(d)
        d.executions = [e for e in d.executions if not (e["job_id"] == job and e["scheduled_us"] == us(t))]
    return f


def add_arrival(job, t, at=None):
    def f(d):
        d.arrivals.append(((at or t) + 0.002, job, us(t), "/"))
    return f


def rows_of(d, job, t):
    return [e for e in d.executions if e["job_id"] == job and e["scheduled_us"] == us(t)]


def find_call(d, kind, job):
    return next(c for c in d.calls if c["kind"] == kind and c["job"] == job)


def self_test_cases():
    """(name, rule expected to trip or None for a clean case, change to the clean data)."""

    def dup_row(job, t):
        def f(d):
            e = dict(rows_of(d, job, t)[0])
            e["id"] += 100000
            d.executions.append(e)
        return f

    def set_row(job, t, which, **kw):
        def f(d):
            next(e for e in rows_of(d, job, t) if e["attempt"] == which).update(kw)
        return f

    def roll_back_trigger(d):
        find_call(d, "trigger", 1)["outcome"] = "rolled_back"

    def no_fault(d):
        d.faults = []

    def both(*fs):
        def f(d):
            for g in fs:
                g(d)
        return f

    return [
        ("the clean run", None, lambda d: None),
        ("an ATMOST_ONCE run reaching the sink twice", "a", add_arrival(1, T0 + 10)),
        ("an ATMOST_ONCE run with two execution rows", "a", dup_row(1, T0 + 10)),
        ("a run at a second its schedule '*/2' does not fire (+11)", "b", add_arrival(1, T0 + 11)),
        ("a run while the job was paused (+24)", "b", add_arrival(1, T0 + 24)),
        ("a run of a job after its deletion (+27)", "b", add_arrival(4, T0 + 27)),
        ("a run of a job no call created", "b", add_arrival(9, T0 + 10)),
        ("a run fired from a transaction's start, before the resume's call (+9)", "b", add_arrival(3, T0 + 9)),
        ("a run fired inside the resume's window, after its call (+12): fine", None, add_arrival(3, T0 + 12)),
        ("the triggered run with its trigger rolled back", "b", roll_back_trigger),
        ("two triggered runs for one trigger", "b", add_arrival(1, T0 + 15.15)),
        ("a run missing inside the schedule change's window (+25): fine", None, drop_run(3, T0 + 25)),
        ("an old-schedule run after the schedule change's window (+27)", "b", add_arrival(3, T0 + 27)),
        ("a run of an active job missing (+8)", "c", drop_run(1, T0 + 8)),
        ("a run of an ATLEAST_ONCE job missing (+30)", "c", drop_run(3, T0 + 30)),
        ("a run missing inside a change's ambiguity window (+20, paused at +20.1): fine", None,
         drop_arrival(1, T0 + 20)),
        ("runs missing inside the fault window: fine (the clean data miss +42..+48)", None, lambda d: None),
        ("runs missing after the fault window (+50)", "c", drop_arrival(1, T0 + 50)),
        ("the same runs missing with no fault recorded", "c", no_fault),
        ("an ATLEAST_ONCE run arriving more often than it was sent", "d", add_arrival(2, T0 + 5)),
        ("an ATLEAST_ONCE run sent once per attempt but arriving once, no fault", "d",
         both(drop_arrival(2, T0 + 5), add_arrival(2, T0 + 5))),
        ("... the same inside the fault window (+41): fine", None,
         both(drop_arrival(2, T0 + 41), add_arrival(2, T0 + 41))),
        ("attempts 1 and 3", "e", set_row(2, T0 + 6, 2, attempt=3)),
        ("an attempt still running at the end", "e", set_row(2, T0 + 7, 2, status="running")),
        ("a succeeded attempt followed by another", "e", set_row(2, T0 + 9, 1, status="succeeded")),
        ("an ATMOST_ONCE run with a second attempt", "e",
         both(dup_row(1, T0 + 12), lambda d: d.executions[-1].update(attempt=2))),
        ("an execution row left of a deleted job (a trigger racing the delete)", "e",
         lambda d: d.executions.append({"id": 99999, "job_id": 4, "scheduled_us": us(T0 + 24), "attempt": 1,
                                        "status": "retrying", "sends": 0, "finished_at": None})),
        ("a lost run with no kill -9", "f", set_row(1, T0 + 50, 1, status="lost")),
        ("the lost run when the kill was a clean restart", "f",
         lambda d: d.faults[0].update(kind="restart_fast")),
        ("a fault after which the worker never came back", "w", lambda d: d.faults[0].update(t_worker_back=None)),
    ]


def self_test():
    bad = 0
    cases = self_test_cases()
    for name, rule, change in cases:
        d = synthetic()
        change(d)
        r = check(d)
        tripped = sorted(r.by_rule)
        good = (not tripped) if rule is None else (rule in tripped)
        bad += not good
        print("self-test: %-92s %-12s %s" % (name, "ok" if good else "WRONG",
                                              ("rules " + "".join(tripped)) if tripped else "no violation"))
        if not good:
            for v in r.violations[:5]:
                print("    %s job %s %s: %s" % (v["rule"], v["job"], iso(v["scheduled"]), v["what"]))
    print("self-test: %d cases, %s" % (len(cases), "each as expected" if not bad else "%d NOT as expected" % bad))
    return bad == 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", nargs="?", help="a chaos.py work dir")
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--detail", type=int, default=20, help="violations shown in detail (20)")
    args = ap.parse_args(argv)
    if args.self_test:
        return 0 if self_test() else 1
    if not args.dir:
        ap.error("DIR or --self-test is required")
    d = load(args.dir)
    r = check(d)
    print(summary(d, r, args.detail))
    return 0 if not r.violations else 1


if __name__ == "__main__":
    sys.exit(main())
