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

Sends (jobsched.send(), each a job of kind 'send' with one run; chaos.py tags each URL ?s=<n>, unique in the
run, and records the id send() returned).  Their runs count for rules a, d, e and f like any other; rules b
and c judge scheduled jobs only (a request with a send's tag or id is not theirs).  A send is applied if
its call committed, or its outcome was unknown and the re-read after reconnecting found a send with its URL
(a re-read that found none: it never committed).  Cancelled: a committed cancel() of it returned >= 1.
  s1 a send that was not applied (rolled back, error, or unknown and not found) never reached the sink and
     left no execution row and no job row; and no request carries a tag no send call made.
  s2 an applied ATLEAST_ONCE send reached the sink at least once, unless cancelled or due less than 2 s
     before the dump (the final drain waits for every send still running or waiting).
  s3 a committed ATMOST_ONCE send reached the sink at most once; and an applied one at least once, unless
     cancelled, due at the end, or its attempt is 'lost' with a kill -9 between max(its call, its time - 1 s)
     and that attempt's finished_at.
  s4 every request of a send carries Idempotency-Key jobsched-<the id send() returned>-<its run's time>,
     the time of its execution rows (one for all its attempts); no other request carries its key; an applied
     send has execution rows; and the run's time is the one asked for: run_at to the microsecond (an
     absolute time), now() + delay (now(): its transaction's start), or clock_timestamp() inside the call
     (run_at NULL), within 50 ms of the client's clock.
  s5 a send with an unknown outcome (the connection broke during the call or the commit) reached the sink
     at most once if ATMOST_ONCE, whether or not the re-read found it.
  s6 a cancelled send's latest attempt is 'cancelled' and nothing of it reached the sink after the cancel
     committed; an attempt is 'cancelled' only if a cancel() of its send committed (or its outcome is unknown).

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
import re
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
SEND_DRAIN = 2.0         # a send due later than this before the dump may still be on its way (rules s2, s3)
SEND_CLOCK_SLACK = 0.05  # client and server clocks, and the send's clock_timestamp() inside its call (rule s4)
RULES = "abcdefw"         # rules on scheduled runs (a, d, e, f on sends' runs too)
SEND_RULES = ("s1", "s2", "s3", "s4", "s5", "s6")
SEND_TAG = re.compile(r"[?&]s=(\d+)(?:&|$)")
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

    def __init__(self, meta, history, arrivals, executions, jobs, send_hits=None):
        self.meta = meta                # t_first_create, t_api_end, ...
        self.calls = [h for h in history if h.get("ev") == "call"]
        self.faults = [h for h in history if h.get("ev") == "fault"]
        self.arrivals = arrivals        # [(t_arrival, job_id, scheduled_us, path)]
        self.executions = executions    # [dict(job_id, scheduled_us, attempt, status, sends, finished_at, ...)]
        self.jobs = jobs                # [dict(id, type, ...)] of the final dump
        self.stray = 0                  # requests without a parseable Idempotency-Key
        self.send_hits = send_hits or []  # [(t_arrival, tag, Idempotency-Key as sent or None, path)]: send tags


def parse_key(key):
    """(job id, scheduled time in us) of an Idempotency-Key, or None."""
    try:
        prefix, job, us = key.split("-")
        if prefix != "jobsched":
            return None
        return int(job), int(us)
    except (AttributeError, ValueError):
        return None


def send_tag(path):
    """The s=<n> of a send's URL (chaos.py tags each send uniquely), or None."""
    m = SEND_TAG.search(path or "")
    return int(m.group(1)) if m else None


def read_sink_log(path, send_hits=None):
    arrivals, stray = [], 0
    with open(path) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue            # a line cut by a crash of the sink, if any
            tag = send_tag(r.get("path"))
            if tag is not None and send_hits is not None:
                send_hits.append((r["t"], tag, r.get("idempotency_key"), r.get("path")))
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
    send_hits = []
    arrivals, stray = read_sink_log(path("sink.log"), send_hits)
    executions = json.load(open(path("executions.json"))) if os.path.exists(path("executions.json")) else []
    jobs = json.load(open(path("jobs.json"))) if os.path.exists(path("jobs.json")) else []
    d = Data(meta, history, arrivals, executions, jobs, send_hits)
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
    # sends are runs like any other for rules a, d, e, f; rules b and c judge scheduled jobs only
    send_ids = send_ids_of(d)
    send_paths = {(job, us) for _t, job, us, path in d.arrivals if send_tag(path) is not None}
    scheduled_arrivals = {k: v for k, v in arrivals_of.items() if k[0] not in send_ids and k not in send_paths}
    scheduled_rows = {k: v for k, v in rows_of.items() if k[0] not in send_ids}

    rule_a(r, types, arrivals_of, rows_of)
    rule_b(r, tl, scheduled_arrivals, scheduled_rows)
    rule_c(r, tl, faults, arrivals_of, w0, w1)
    rule_d(r, types, faults, arrivals_of, rows_of, w1)
    rule_e(r, types, rows_of, w1, {j["id"] for j in d.jobs})
    rule_f(r, faults, d.executions)
    rule_w(r, d.faults)
    rule_sends(r, d, faults, send_ids, t_stop)

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
# Sends (jobsched.send, cancel)
# --------------------------------------------------------------------------

def send_ids_of(d):
    """Every id known to be a send's: the dump's kind 'send', and the ids the send calls saw (whatever
    their outcome: a rolled-back send's id was returned inside its transaction)."""
    ids = {j["id"] for j in d.jobs if j.get("kind") == "send"}
    for c in d.calls:
        if c["kind"] == "send":
            for sid in (c.get("send"), (c.get("reread") or {}).get("send")):
                if sid is not None:
                    ids.add(sid)
    return ids


def resolved_send(c):
    """(applied, id) of a send call: applied True (committed), False (rolled back, error, or an unknown
    outcome whose re-read found no send with its URL) or None (unknown, never re-read)."""
    if c["outcome"] == "committed":
        return True, c.get("send")
    if c["outcome"] == "unknown":
        rr = c.get("reread")
        if rr is None:
            return None, c.get("send")
        return (rr.get("send") is not None), rr.get("send") or c.get("send")
    return False, c.get("send")


def rule_sends(r, d, faults, send_ids, t_stop):
    """Rules s1-s6: each send call against the sink's requests with its tag and the send's executions."""
    fig = r.fig
    hits_of = defaultdict(list)             # tag -> [(t, key, path)]
    for t, tag, key, path in d.send_hits:
        hits_of[tag].append((t, key, path))
    by_id = defaultdict(list)               # send id -> arrivals by key (t, us, path)
    for t, job, us, path in d.arrivals:
        if job in send_ids:
            by_id[job].append((t, us, path))
    rows_by = defaultdict(list)
    for e in d.executions:
        if e["job_id"] in send_ids:
            rows_by[e["job_id"]].append(e)
    cancels = defaultdict(list)
    for c in d.calls:
        if c["kind"] == "cancel":
            cancels[c["send"]].append(c)
    dumped = {j["id"] for j in d.jobs}
    sends = [c for c in d.calls if c["kind"] == "send"]
    cnt = Counter()

    def add(rule, sid, t, what):
        r.add(rule, sid, t, what)

    def show(rows):
        return "attempts %s" % ["%d:%s" % (e["attempt"], e["status"]) for e in sorted(rows, key=lambda e: e["attempt"])]

    for c in sends:
        a = c["args"]
        tag, typ = a["tag"], a["type"]
        hits = sorted(hits_of.get(tag, ()))
        applied, sid = resolved_send(c)
        rows = sorted(rows_by.get(sid, ()), key=lambda e: (e["attempt"], e["id"])) if sid is not None else []
        sched = rows[0]["scheduled_us"] / 1e6 if rows else None
        t_ref = sched if sched is not None else c["t_begin"]
        cnt["sends"] += 1
        cnt["hits"] += len(hits)
        cnt["%s %s" % (c["outcome"], typ)] += 1
        name = "send s=%d (%s%s, %s)" % (tag, typ, ", id %s" % sid if sid is not None else "", c["outcome"])
        # s5: an unknown outcome (the connection broke while committing) is still at most once
        if c["outcome"] == "unknown":
            cnt["unknown resolved %s" % {True: "committed", False: "absent", None: "never re-read"}[applied]] += 1
            if typ == "ATMOST_ONCE" and len(hits) > 1:
                add("s5", sid, t_ref, "%s: reached the sink %d times (at %s); expected at most once"
                    % (name, len(hits), ", ".join(iso(h[0]) for h in hits)))
        # s1: never committed, never sent
        if applied is False:
            if hits:
                add("s1", sid, t_ref, "%s: reached the sink %d time(s) (at %s); a send whose transaction did not "
                    "commit never goes out" % (name, len(hits), ", ".join(iso(h[0]) for h in hits)))
            if rows or (sid is not None and (sid in dumped or by_id.get(sid))):
                add("s1", sid, t_ref, "%s: %s%s left of a send that never committed" % (
                    name, show(rows) if rows else "", " job row" if sid in dumped else ""))
            continue
        # s4: every arrival carries jobsched-<its id>-<its run's time>, and the run's time is the one asked for
        for t, key, path in hits:
            k = parse_key(key)
            if k is None:
                add("s4", sid, t_ref, "%s: arrival at %s with Idempotency-Key %r" % (name, iso(t), key))
            elif sid is not None and k[0] != sid:
                add("s4", sid, t_ref, "%s: arrival at %s with Idempotency-Key %r, not of send %d" % (name, iso(t), key, sid))
            elif sched is not None and k[1] != rows[0]["scheduled_us"]:
                add("s4", sid, t_ref, "%s: arrival at %s with Idempotency-Key %r; its run is scheduled for %d us"
                    % (name, iso(t), key, rows[0]["scheduled_us"]))
        if sid is not None:
            mine = {h[2] for h in hits}
            for t, us, path in by_id.get(sid, ()):
                if path not in mine:
                    add("s4", sid, us / 1e6, "%s: a request at %s to %s carries its Idempotency-Key" % (name, iso(t), path))
            if applied and not rows:
                add("s4", sid, t_ref, "%s: committed but no execution row" % name)
            if len({e["scheduled_us"] for e in rows}) > 1:
                add("s4", sid, t_ref, "%s: attempts of several scheduled times %s" % (
                    name, sorted({e["scheduled_us"] for e in rows})))
        if applied and sched is not None and c.get("t_call") is not None:
            mode = a.get("run_at_mode", "none")
            if mode == "abs":
                lo = hi = a["run_at_us"] / 1e6
            elif mode == "rel":          # now(): the transaction's start (BEGIN .. the call), or the statement's
                lo = c["t_begin"] + a["delay"]
                hi = (c["t_call"] if c.get("mode") == "txn" else c["t_end"]) + a["delay"]
            else:                        # clock_timestamp() inside the call
                lo, hi = c["t_call"], c["t_end"]
            if mode == "abs" and rows[0]["scheduled_us"] != a["run_at_us"] or \
                    not lo - SEND_CLOCK_SLACK <= sched <= hi + SEND_CLOCK_SLACK:
                add("s4", sid, sched, "%s: run_at %s (%s) but its run is scheduled for %s" % (
                    name, mode, iso(lo) if lo == hi else "%s .. %s" % (iso(lo), iso(hi)), iso(sched)))
        # s6: a cancel that returned n >= 1 stopped it; nothing else cancels
        done = [x for x in cancels.get(sid, ()) if x["outcome"] == "committed" and (x.get("result") or 0) >= 1]
        maybe = [x for x in cancels.get(sid, ()) if x["outcome"] == "unknown"]
        cancelled_rows = [e for e in rows if e["status"] == "cancelled"]
        for x in done:
            cnt["cancelled"] += 1
            if not cancelled_rows:
                add("s6", sid, t_ref, "%s: cancel at %s returned %s but no attempt is cancelled (%s)"
                    % (name, iso(x["t_end"]), x.get("result"), show(rows)))
            elif rows[-1]["status"] != "cancelled":
                add("s6", sid, t_ref, "%s: cancelled at %s, yet a later attempt exists (%s)" % (name, iso(x["t_end"]), show(rows)))
            late = [h for h in hits if h[0] > x["t_end"]]
            if late:
                add("s6", sid, t_ref, "%s: cancelled (committed at %s, returned %s) but reached the sink at %s"
                    % (name, iso(x["t_end"]), x.get("result"), ", ".join(iso(h[0]) for h in late)))
        if cancelled_rows and not done and not maybe:
            add("s6", sid, t_ref, "%s: %s, with no committed cancel() of it" % (name, show(rows)))
        cancelled = bool(done) or (bool(maybe) and bool(cancelled_rows))
        if not applied:
            continue
        late_due = sched is not None and sched > t_stop - SEND_DRAIN
        final = rows[-1] if rows else None
        # s3 (at most once): a committed ATMOST_ONCE send
        if typ == "ATMOST_ONCE" and c["outcome"] == "committed" and len(hits) > 1:
            add("s3", sid, t_ref, "%s: reached the sink %d times (at %s); expected at most once"
                % (name, len(hits), ", ".join(iso(h[0]) for h in hits)))
        if hits or cancelled:
            continue
        if late_due:
            cnt["due at the end"] += 1
            continue
        if typ == "ATLEAST_ONCE":
            add("s2", sid, t_ref, "%s: never reached the sink (%s); expected at least once" % (
                name, show(rows) if rows else "no execution row"))
            continue
        # s3 (at least once): unless lost to a kill -9 between its call and that attempt's end
        if final is not None and final["status"] == "lost":
            lo = max(c["t_call"], t_ref - 1.0)
            hi = final.get("finished_at") or float("inf")
            if any(lo <= k <= hi for k in faults.kills):
                cnt["lost"] += 1
                continue
            add("s3", sid, t_ref, "%s: lost with no kill -9 between %s and %s" % (name, iso(lo), iso(hi)))
            continue
        add("s3", sid, t_ref, "%s: never reached the sink (%s); expected once (or lost in a crash)" % (
            name, show(rows) if rows else "no execution row"))
    # requests with a tag no send call made
    made = {c["args"]["tag"] for c in sends}
    for tag, hits in sorted(hits_of.items()):
        if tag not in made:
            add("s1", None, hits[0][0], "requests to %s (tag s=%d) no send call made" % (hits[0][2], tag))
    cnt["cancel calls"] = sum(len(v) for v in cancels.values())
    cnt["cancel errors"] = sum(1 for v in cancels.values() for x in v if x["outcome"] == "error")
    cnt["cancel rolled back"] = sum(1 for v in cancels.values() for x in v if x["outcome"] == "rolled_back")
    fig["sends"] = cnt


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
    sc = fig.get("sends") or Counter()
    if sc.get("sends"):
        committed = sum(n for k, n in sc.items() if k.startswith("committed "))
        lines.append("figures: sends %d: committed %d (ATLEAST_ONCE %d, ATMOST_ONCE %d), rolled back %d, error %d, "
                     "unknown %d (re-read: %d committed, %d absent, %d never); cancelled %d (cancel calls %d: %d "
                     "refused, %d rolled back); arrivals %d; ATMOST_ONCE lost in a crash %d; due at the end %d" % (
                         sc["sends"], committed, sc.get("committed ATLEAST_ONCE", 0),
                         sc.get("committed ATMOST_ONCE", 0),
                         sum(n for k, n in sc.items() if k.startswith("rolled_back ")),
                         sum(n for k, n in sc.items() if k.startswith("error ")),
                         sum(n for k, n in sc.items() if k.startswith("unknown A")),
                         sc.get("unknown resolved committed", 0), sc.get("unknown resolved absent", 0),
                         sc.get("unknown resolved never re-read", 0), sc.get("cancelled", 0),
                         sc.get("cancel calls", 0), sc.get("cancel errors", 0), sc.get("cancel rolled back", 0),
                         sc.get("hits", 0), sc.get("lost", 0), sc.get("due at the end", 0)))
    lines.append("figures: violations %d: %s" % (len(r.violations),
                                                  " ".join("%s=%d" % (k, r.by_rule.get(k, 0))
                                                           for k in list(RULES) + list(SEND_RULES))))
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
    d = Data(meta, hist, arrivals, rows, jobs)
    synthetic_sends(d)
    return d


def send_hit(d, tag, key, t, path=None):
    """A request of the send tagged `tag` reaching the sink at t with Idempotency-Key `key`."""
    path = path or "/ok?s=%d" % tag
    d.send_hits.append((t, tag, key, path))
    k = parse_key(key)
    if k is not None:
        d.arrivals.append((t, k[0], k[1], path))


def skey(sid, t):
    return "jobsched-%d-%d" % (sid, us(t))


def synthetic_sends(d):
    """Sends in the clean run (ids 101-107, tags s=1..7; the kill -9 at +40.3, worker back at +42):

    s=1  id 101 ATLEAST_ONCE, autocommit at +5.0, run_at NULL: scheduled +5.005, one arrival
    s=2  id 102 in a transaction rolled back: nothing
    s=3  id 103 ATMOST_ONCE, run_at +12.5 (absolute) sent at +10: one arrival at +12.501
    s=4  id 104 ATLEAST_ONCE, run_at now() + 5 s in a transaction begun at +30 (call +31, commit +31.5):
         scheduled +35.3; cancelled at +32 (returned 1): its attempt cancelled, no arrival
    s=5  id 105 ATMOST_ONCE at +40.1: lost in the kill -9, no arrival
    s=6  id 106 ATMOST_ONCE at +40.25, outcome unknown (re-read at +42.1 found it): one arrival at +42.2
    s=7  id 107 ATLEAST_ONCE /fail, max_retries 1, at +50: two failed attempts, two arrivals
    """
    rid = [5000]

    def send(tag, sid, typ, t_call, t_end, outcome="committed", t_begin=None, mode="none", delay=None, **kw):
        args = {"tag": tag, "url": "http://127.0.0.1:1/%s?s=%d" % ("fail" if tag == 7 else "ok", tag), "type": typ,
                "max_retries": 1, "run_at_mode": mode}
        if delay is not None:
            args["delay"] = delay
        args.update(kw)
        c = {"ev": "call", "session": "s", "kind": "send", "args": args, "send": sid, "result": sid,
             "t_begin": t_call if t_begin is None else t_begin, "t_call": t_call, "t_end": t_end, "outcome": outcome,
             "mode": "autocommit" if t_begin is None else "txn"}
        d.calls.append(c)
        if outcome in ("committed", "unknown"):
            d.jobs.append({"id": sid, "type": typ, "kind": "send"})
        return c

    def row(sid, t, attempt=1, status="succeeded", sends=1, finished=None):
        rid[0] += 1
        d.executions.append({"id": rid[0], "job_id": sid, "scheduled_us": us(t), "attempt": attempt,
                             "status": status, "sends": sends, "started_at": t, "finished_at": finished or t + 0.003})

    send(1, 101, "ATLEAST_ONCE", T0 + 5.0, T0 + 5.01)
    row(101, T0 + 5.005)
    send_hit(d, 1, skey(101, T0 + 5.005), T0 + 5.007)
    send(2, 102, "ATMOST_ONCE", T0 + 6.5, T0 + 7.0, outcome="rolled_back", t_begin=T0 + 6.0)
    send(3, 103, "ATMOST_ONCE", T0 + 10.0, T0 + 10.02, mode="abs", delay=2.5, run_at_us=us(T0 + 12.5))
    row(103, T0 + 12.5)
    send_hit(d, 3, skey(103, T0 + 12.5), T0 + 12.501)
    send(4, 104, "ATLEAST_ONCE", T0 + 31.0, T0 + 31.5, t_begin=T0 + 30.0, mode="rel", delay=5.0)
    d.calls.append({"ev": "call", "session": "s", "kind": "cancel", "args": {"send_id": 104}, "send": 104,
                    "result": 1, "t_begin": T0 + 32.0, "t_call": T0 + 32.0, "t_end": T0 + 32.01,
                    "outcome": "committed", "mode": "autocommit"})
    row(104, T0 + 35.3, status="cancelled", sends=0, finished=T0 + 32.005)
    send(5, 105, "ATMOST_ONCE", T0 + 40.1, T0 + 40.11)
    row(105, T0 + 40.105, status="lost", finished=T0 + 42.5)
    c = send(6, 106, "ATMOST_ONCE", T0 + 40.25, T0 + 40.35, outcome="unknown")
    c["reread"] = {"send": 106, "t_done": T0 + 42.1}
    row(106, T0 + 40.26, finished=T0 + 42.21)
    send_hit(d, 6, skey(106, T0 + 40.26), T0 + 42.2)
    send(7, 107, "ATLEAST_ONCE", T0 + 50.0, T0 + 50.01)
    row(107, T0 + 50.005, status="failed", finished=T0 + 50.01)
    row(107, T0 + 50.005, attempt=2, status="failed", finished=T0 + 51.11)
    send_hit(d, 7, skey(107, T0 + 50.005), T0 + 50.006, "/fail?s=7")
    send_hit(d, 7, skey(107, T0 + 50.005), T0 + 51.1, "/fail?s=7")


def send_call_of(d, tag):
    return next(c for c in d.calls if c["kind"] == "send" and c["args"]["tag"] == tag)


def drop_send_hits(tag):
    def f(d):
        gone = {(h[0], h[3]) for h in d.send_hits if h[1] == tag}
        d.send_hits = [h for h in d.send_hits if h[1] != tag]
        d.arrivals = [a for a in d.arrivals if (a[0], a[3]) not in gone]
    return f


def send_rows(d, sid):
    return [e for e in d.executions if e["job_id"] == sid]


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

    def due_at_the_end(d):
        d.calls.remove(next(c for c in d.calls if c["kind"] == "cancel"))
        send_call_of(d, 4).update(t_begin=T_END - 6.0, t_call=T_END - 5.5, t_end=T_END - 5.4)
        send_rows(d, 104)[0].update(scheduled_us=us(T_END - 1.0), status="retrying", sends=0, finished_at=None)

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
        # sends (synthetic_sends)
        ("sends: an ATMOST_ONCE send lost in the kill -9 (s=5), one with an unknown outcome sent once: fine",
         None, lambda d: None),
        ("a rolled-back send (s=2) reaching the sink", "s1",
         lambda d: send_hit(d, 2, skey(102, T0 + 6.5), T0 + 7.1)),
        ("an execution row of the rolled-back send", "s1",
         lambda d: d.executions.append({"id": 9001, "job_id": 102, "scheduled_us": us(T0 + 6.5), "attempt": 1,
                                        "status": "succeeded", "sends": 1, "finished_at": T0 + 7.2})),
        ("a send with an unknown outcome the re-read did not find, reaching the sink", "s1",
         lambda d: send_call_of(d, 6)["reread"].update(send=None)),
        ("a request tagged s=99, which no send call made", "s1",
         lambda d: send_hit(d, 99, skey(199, T0 + 20), T0 + 20.1)),
        ("a committed ATLEAST_ONCE send (s=1) never arriving", "s2", drop_send_hits(1)),
        ("the cancel of s=4 rolled back, s=4 never arriving", "s2",
         lambda d: next(c for c in d.calls if c["kind"] == "cancel").update(outcome="rolled_back")),
        ("... s=4 not cancelled, due 1 s before the dump, not arrived yet: fine", None, due_at_the_end),
        ("a committed ATMOST_ONCE send (s=3) arriving twice", "s3",
         lambda d: send_hit(d, 3, skey(103, T0 + 12.5), T0 + 12.6)),
        ("a committed ATMOST_ONCE send (s=3) never arriving, recorded succeeded", "s3", drop_send_hits(3)),
        ("the ATMOST_ONCE send s=5 lost with no kill -9", "s3", lambda d: d.faults[0].update(kind="restart_fast")),
        ("s=3 arriving with the Idempotency-Key of another send", "s4",
         both(drop_send_hits(3), lambda d: send_hit(d, 3, skey(101, T0 + 12.5), T0 + 12.501))),
        ("s=3 arriving with a key of another time", "s4",
         both(drop_send_hits(3), lambda d: send_hit(d, 3, skey(103, T0 + 12.0), T0 + 12.501))),
        ("s=1 arriving without an Idempotency-Key", "s4",
         both(drop_send_hits(1), lambda d: send_hit(d, 1, None, T0 + 5.007))),
        ("s=3's run scheduled 1 s off the run_at it asked for", "s4",
         both(drop_send_hits(3), lambda d: send_rows(d, 103)[0].update(scheduled_us=us(T0 + 13.5)),
              lambda d: send_hit(d, 3, skey(103, T0 + 13.5), T0 + 13.501))),
        ("s=4's run (now() + 5 s) scheduled from its call's time, not its transaction's start", "s4",
         lambda d: send_rows(d, 104)[0].update(scheduled_us=us(T0 + 36.5))),
        ("a request to another URL with s=1's Idempotency-Key", "s4",
         lambda d: d.arrivals.append((T0 + 8.0, 101, us(T0 + 5.005), "/ok?j=1"))),
        ("the ATMOST_ONCE send with an unknown outcome (s=6) arriving twice", "s5",
         lambda d: send_hit(d, 6, skey(106, T0 + 40.26), T0 + 42.3)),
        ("... the same, never re-read", "s5",
         both(lambda d: send_call_of(d, 6).update(reread=None),
              lambda d: send_hit(d, 6, skey(106, T0 + 40.26), T0 + 42.3))),
        ("the cancelled send s=4 arriving after its cancel", "s6",
         lambda d: send_hit(d, 4, skey(104, T0 + 35.3), T0 + 35.31)),
        ("s=4's attempt cancelled with no cancel() call", "s6",
         lambda d: d.calls.remove(next(c for c in d.calls if c["kind"] == "cancel"))),
        ("a cancel that returned 1 but s=4's attempt succeeded", "s6",
         lambda d: send_rows(d, 104)[0].update(status="succeeded", sends=1)),
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
