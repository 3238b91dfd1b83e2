#!/usr/bin/env python3
"""Randomized chaos test of jobsched: concurrent API sessions and faults, then an account of every run.

    python3 test/chaos.py [--seed N] [--seconds S] [--jobs N] [--sessions K] [--keep DIR]
                          [--pg-config PATH] [--report FILE]

Why.  The TAP tests check one behaviour at a time; the defects that hurt a scheduler come from several at
once: a job changed inside the 200 ms in which its next run is already claimed, a long transaction whose
now() lies seconds in the past, a crash while a call is committing.  This script makes those coincidences
happen by the hundred and then asks test/chaos_check.py whether every request that reached the target was
one the job's schedule asked for, at most once where it had to be, and none missing.

What it does, as an unprivileged user (PostgreSQL refuses root; run it as postgres):
  - a private cluster in a temp dir (initdb of `pg_config --bindir`, a free port, its unix socket in the
    temp dir, jobsched preloaded, restart_after_crash on), CREATE EXTENSION jobsched (default version), and
    test/sink.py on a free loopback port;
  - N jobs `chaos-<n>` of both types (fixed per job) firing on second-level schedules, most to /ok?j=<n>,
    some to /fail?j=<n> (ATLEAST_ONCE, 1-2 retries) or /slow/300?j=<n>;
  - K sessions, each its own connection in a thread, calling create_job, modify_job (schedule, timezone,
    active, misfire; url query, timeout, max_retries), pause_job, resume_job, trigger_job and delete_job on
    random jobs: a third inside explicit transactions kept open 0.5-3 s (sleeping before and/or after the
    call, on the server or in the client), a quarter of those rolled back; the others in autocommit, half
    of them timed to land 10-150 ms before one of the job's fire seconds (inside the claim lookahead);
  - with jobsched.send() (1.1), the sessions also call send() and cancel(): a send to the sink tagged
    /ok?s=<n> (unique in the run; 15% /fail?s=<n> with max_retries 1), ATLEAST_ONCE or ATMOST_ONCE, with
    run_at NULL (sent at commit), an absolute time 0.3-6 s ahead fixed just before the call, or now() +
    0.3-6 s (now(): the transaction's start, which a transaction held open may leave in the past at commit);
    cancel() of a committed send, mostly one whose run_at is still ahead (now and then one gone out, which
    must be refused), in a transaction mostly sleeping after the call, so its run_at may come while the
    cancel is uncommitted.  40% of both inside transactions held open 0.5-3 s like the others, a third of
    those rolled back; an unknown outcome is resolved after reconnecting (the send by its unique URL, or the
    cancelled send's attempts);
  - a fault every 10-25 s: pg_terminate_backend or pg_cancel_backend of the worker, pg_ctl restart -m fast,
    kill -9 of the postmaster (then waiting for its children to exit, and pg_ctl start) or of the worker
    alone, or a session holding one job's row FOR UPDATE for 2-3 s; after each, the time the worker runs
    again (jobsched.stats: worker_pid set, worker_state 'running');
  - the API history as JSON lines (history.jsonl): every call with its arguments, t_begin (start of its
    transaction), t_call (when the call itself was sent), t_end (after COMMIT/ROLLBACK returned), its
    outcome (committed, rolled_back, error with its SQLSTATE, unknown when the connection broke), and the
    job's state read inside the same transaction just before COMMIT (with the server's clock_timestamp(),
    which orders the commits of one job) or, for an unknown outcome, re-read after reconnecting; for send
    and cancel, what the call returned (the send's id, the attempts cancelled) and the re-read; and every
    fault;
  - after --seconds: the sessions and faults stop, the last runs and retries (and every send still running
    or waiting) are waited for, every scheduled job is paused (recorded like the other calls), jobs and
    executions are dumped as JSON, the server and the sink stop, and the checker runs on the work dir.

Prints the seed first, and on failure again with the command that reproduces the run (the seed fixes every
choice; the timing of threads and of the server is not reproducible, so a rare interleaving may need a few
tries).  Exits 0 if the checker found no violation, 1 otherwise.  The work dir is removed after a clean run
unless --keep DIR is given; after a failure it is kept and printed, for `python3 test/chaos_check.py DIR`.
"""

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

try:
    import psycopg2
except ImportError:
    # A python3 earlier in PATH (pyenv, a venv) may lack the Debian package; the system one has it.
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") \
            and not os.environ.get("CHAOS_REEXEC"):
        os.environ["CHAOS_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("chaos: psycopg2 is required (Debian: apt-get install python3-psycopg2)")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import chaos_check  # noqa: E402

SINK = os.path.join(HERE, "sink.py")
SCHEDULES = ["* * * * * *", "*/2 * * * * *", "*/3 * * * * *", "1-59/2 * * * * *", "5,20,35,50 * * * * *",
             "*/5 * * * * *", "10/20 * * * * *", "0-30/10 * * * * *"]
TIMEZONES = ["UTC", "Etc/UTC", "Europe/Berlin", "Asia/Kolkata"]
TIMEOUTS = ["3 s", "4 s", "5 s"]
FAULT_KINDS = ["terminate", "restart_fast", "kill9_postmaster", "kill9_worker", "cancel", "row_lock"]
LOCK_TIMEOUT = "2s"        # an API call waits this long at most for a row another session holds
WORKER_BACK_TIMEOUT = 60   # seconds to wait for the worker after a fault
RECONNECT_GRACE = 60       # sessions keep reconnecting this long after the end of the API phase
SEND_DELAY = (0.3, 6.0)    # a send's run_at, when given, this far in the future (seconds)
SEND_TIMEOUT = "5 s"

STATE_COLUMNS = ("extract(epoch FROM clock_timestamp())::float8, j.id, j.schedule, j.timezone, j.active, "
                 "j.misfire, j.type, j.url, j.overlap")
STATE_BY_ID = "SELECT %s FROM (SELECT 1) one LEFT JOIN jobsched.jobs j ON j.id = %%(job)s" % STATE_COLUMNS
STATE_BY_NAME = "SELECT %s FROM (SELECT 1) one LEFT JOIN jobsched.jobs j ON j.name = %%(name)s" % STATE_COLUMNS

T_START = time.time()


def say(msg):
    print("chaos: [%6.1f s] %s" % (time.time() - T_START, msg), flush=True)


def state_from_row(row):
    t_read, jid, schedule, tz, active, misfire, typ, url, overlap = row
    if jid is None:
        return {"exists": False, "t_read": t_read}
    return {"exists": True, "id": jid, "schedule": schedule, "timezone": tz, "active": active, "misfire": misfire,
            "type": typ, "url": url, "overlap": overlap, "t_read": t_read}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def md5_of(path):
    try:
        with open(path, "rb") as f:
            return hashlib.md5(f.read()).hexdigest()
    except OSError:
        return None


class History:
    """The JSON-lines history; written by every thread, one whole line at a time."""

    def __init__(self, path):
        self.f = open(path, "a")
        self.lock = threading.Lock()

    def write(self, rec):
        line = json.dumps(rec, sort_keys=True) + "\n"
        with self.lock:
            self.f.write(line)
            self.f.flush()

    def close(self):
        self.f.close()


# --------------------------------------------------------------------------
# The server and the sink
# --------------------------------------------------------------------------

class Cluster:
    def __init__(self, bindir, workdir, port):
        self.bindir = bindir
        self.workdir = workdir
        self.data = os.path.join(workdir, "data")
        self.logfile = os.path.join(workdir, "postgresql.log")
        self.port = port
        self.lock = threading.Lock()     # one start/stop at a time

    def tool(self, name):
        return os.path.join(self.bindir, name)

    def run(self, *argv, check=True, timeout=120):
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), p.returncode, p.stdout[-2000:]))
        return p

    def init(self):
        self.run(self.tool("initdb"), "-D", self.data, "-A", "trust", "-E", "UTF8", "--no-sync", "-N")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# test/chaos.py\n"
                    "listen_addresses = ''\n"
                    "port = %d\n"
                    "unix_socket_directories = '%s'\n"
                    "shared_preload_libraries = 'jobsched'\n"
                    "jobsched.database_name = 'postgres'\n"
                    "restart_after_crash = on\n"
                    "log_min_messages = log\n"
                    "fsync = on\n"
                    "max_connections = 50\n"
                    "log_line_prefix = '%%m [%%p] %%a '\n" % (self.port, self.workdir))

    def pg_ctl(self, *argv, check=True):
        with self.lock:
            return self.run(self.tool("pg_ctl"), "-D", self.data, "-l", self.logfile, "-w", "-t", "90", *argv,
                            check=check)

    def start(self, tries=5):
        """pg_ctl start, tried again a few times: after a kill -9 the old lock file may still look in use."""
        for attempt in range(1, tries + 1):
            try:
                self.pg_ctl("start")
                return
            except RuntimeError:
                if attempt == tries:
                    raise
                time.sleep(2)

    def stop(self, mode="fast"):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.pg_ctl("-m", mode, "stop", check=False)

    def restart_fast(self):
        self.pg_ctl("-m", "fast", "restart")

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def kill9_postmaster(self):
        """kill -9 the postmaster, wait for its children to exit (they hold its shared memory), start again."""
        pm = self.postmaster_pid()
        pids = [pm] + children_of(pm)
        t_kill = time.time()
        os.kill(pm, signal.SIGKILL)
        deadline = time.time() + 60
        while any(alive(p) for p in pids):
            if time.time() > deadline:
                raise RuntimeError("server processes did not exit after the postmaster died")
            time.sleep(0.05)
        self.start()
        return t_kill

    def connect(self, app, deadline):
        """A connection (autocommit), retrying until deadline; raises the last error after it."""
        while True:
            try:
                conn = psycopg2.connect(host=self.workdir, port=self.port, dbname="postgres",
                                        connect_timeout=3, application_name=app)
                conn.autocommit = True
                return conn
            except psycopg2.Error:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    kids.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def alive(pid):
    """Whether the process still exists.  A zombie counts: until it is reaped, a new postmaster sees its pid
    in postmaster.pid as running (kill 0 succeeds) and refuses to start."""
    return os.path.exists("/proc/%d" % pid)


class Sink:
    def __init__(self, workdir):
        self.log = os.path.join(workdir, "sink.log")
        self.ready = os.path.join(workdir, "sink.port")
        self.out = open(os.path.join(workdir, "sink.out"), "w")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([sys.executable, SINK, "--port", "0", "--log", self.log,
                                      "--ready-file", self.ready], stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while not (os.path.exists(self.ready) and os.path.getsize(self.ready)):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("the sink did not start (see sink.out)")
            time.sleep(0.05)
        self.port = int(open(self.ready).read())
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


# --------------------------------------------------------------------------
# What the sessions know about the jobs
# --------------------------------------------------------------------------

class Job:
    def __init__(self, n, typ, target, url_base):
        self.n, self.type, self.target, self.url_base = n, typ, target, url_base
        self.name = "chaos-%d" % n
        self.id = None
        self.schedule = SCHEDULES[0]
        self.active = True


class Registry:
    """The jobs the sessions pick from: those known to exist, as last seen by any session."""

    def __init__(self):
        self.lock = threading.Lock()
        self.jobs = {}              # id -> Job
        self.next_n = 1

    def new_job(self, rng, sink_url):
        with self.lock:
            n = self.next_n
            self.next_n += 1
        typ = rng.choice(["ATLEAST_ONCE", "ATMOST_ONCE"])
        if typ == "ATLEAST_ONCE":
            target = rng.choices(["ok", "fail", "slow"], [60, 20, 20])[0]
        else:
            target = rng.choices(["ok", "slow"], [75, 25])[0]
        path = {"ok": "ok", "fail": "fail", "slow": "slow/300"}[target]
        return Job(n, typ, target, "%s/%s?j=%d" % (sink_url, path, n))

    def learn(self, job, state):
        """Take in a state read; forget the job if it is gone."""
        with self.lock:
            if state is None:
                return
            if not state["exists"]:
                if job.id is not None:
                    self.jobs.pop(job.id, None)
                return
            job.id = state["id"]
            job.schedule = state["schedule"]
            job.active = state["active"]
            self.jobs[job.id] = job

    def pick(self, rng, want_active=None):
        with self.lock:
            jobs = list(self.jobs.values())
        if want_active is not None:
            preferred = [j for j in jobs if j.active == want_active]
            jobs = preferred or jobs
        return rng.choice(jobs) if jobs else None

    def live(self):
        with self.lock:
            return len(self.jobs)

    def ids(self):
        with self.lock:
            return sorted(self.jobs)


class Call:
    """One API call: what the history records, and the SQL."""

    def __init__(self, kind, job, args, sql, params):
        self.kind, self.job, self.args, self.sql, self.params = kind, job, args, sql, params


def create_call(rng, job, active=True):
    args = {"schedule": rng.choice(SCHEDULES), "url": job.url_base, "type": job.type, "name": job.name,
            "timezone": rng.choice(TIMEZONES), "max_retries": rng.randint(1, 2), "retry_backoff": "1 second",
            "timeout": rng.choice(TIMEOUTS), "misfire": rng.choice(["run_once", "skip"]), "active": active}
    sql = ("SELECT jobsched.create_job(%(schedule)s, %(url)s, %(type)s, name => %(name)s, timezone => %(timezone)s, "
           "max_retries => %(max_retries)s, retry_backoff => %(retry_backoff)s::interval, "
           "timeout => %(timeout)s::interval, misfire => %(misfire)s, active => %(active)s)")
    job.schedule = args["schedule"]
    return Call("create", job, args, sql, dict(args))


def modify_call(job, args):
    named = ", ".join("%s => %%(%s)s%s" % (k, k, "::interval" if k == "timeout" else "") for k in sorted(args))
    params = dict(args, job=job.id)
    return Call("modify", job, args, "SELECT jobsched.modify_job(%%(job)s, %s)" % named, params)


def simple_call(kind, job):
    return Call(kind, job, {}, "SELECT jobsched.%s_job(%%(job)s)" % kind, {"job": job.id})


RUN_AT_SQL = {
    "none": "NULL::timestamptz",
    # an absolute time, fixed by the client just before the call (exact to the microsecond)
    "abs": "'epoch'::timestamptz + %(run_at_us)s * interval '1 microsecond'",
    # from the transaction's start: inside a transaction held open, it may be past at commit
    "rel": "now() + %(delay_us)s * interval '1 microsecond'",
}


def send_call(rng, book, sink_url):
    """jobsched.send() to the sink, tagged s=<n> (unique in the run); the returned id is the send's."""
    n = book.next_tag()
    fail = rng.random() < 0.15
    mode = rng.choices(["none", "abs", "rel"], [40, 30, 30])[0]
    args = {"tag": n, "url": "%s/%s?s=%d" % (sink_url, "fail" if fail else "ok", n),
            "type": rng.choice(["ATLEAST_ONCE", "ATMOST_ONCE"]), "max_retries": 1 if fail else rng.randint(0, 2),
            "run_at_mode": mode, "body": '{"s": %d}' % n}
    if mode != "none":
        args["delay"] = round(rng.uniform(*SEND_DELAY), 3)
    sql = ("SELECT jobsched.send(%%(url)s, body => %%(body)s, run_at => %s, type => %%(type)s, "
           "max_retries => %%(max_retries)s, retry_backoff => '1 second'::interval, timeout => '%s'::interval)"
           % (RUN_AT_SQL[mode], SEND_TIMEOUT))
    params = dict(args, delay_us=int(round(args.get("delay", 0) * 1e6)))
    return Call("send", None, args, sql, params)


def cancel_call(send):
    return Call("cancel", None, {"send_id": send["id"]}, "SELECT jobsched.cancel(%(send_id)s)",
                {"send_id": send["id"]})


class SendBook:
    """The sends' tags, and the committed sends a cancel may pick (with their expected send time)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.tag = 0
        self.sends = []             # {"id", "t_sched", "type"}

    def next_tag(self):
        with self.lock:
            self.tag += 1
            return self.tag

    def add(self, sid, t_sched, typ):
        with self.lock:
            self.sends.append({"id": sid, "t_sched": t_sched, "type": typ})
            del self.sends[:-200]

    def pick(self, rng):
        """Mostly a send still waiting for its run_at; now and then one gone out (the cancel must fail);
        None (send instead) mostly, when none is waiting."""
        now = time.time()
        with self.lock:
            waiting = [s for s in self.sends if s["t_sched"] > now + 0.2]
            recent = self.sends[-20:]
        if not waiting and rng.random() < 0.75:
            return None             # the session sends instead
        pool = waiting if waiting and rng.random() < 0.85 else recent
        return rng.choice(pool) if pool else None


# --------------------------------------------------------------------------
# API sessions
# --------------------------------------------------------------------------

class Context:
    def __init__(self, args, cluster, sink, history, registry):
        self.args, self.cluster, self.sink, self.history, self.registry = args, cluster, sink, history, registry
        self.stop = threading.Event()
        self.deadline = None
        self.errors = []            # exceptions that ended a thread
        self.has_send = False       # jobsched.send() exists (1.1)
        self.book = SendBook()


def broken(conn, e):
    """Whether an error means the connection is gone (so the outcome of the call is unknown)."""
    code = getattr(e, "pgcode", None)
    return conn.closed != 0 or code is None or code.startswith(("57P", "08"))


class Session(threading.Thread):
    def __init__(self, name, ctx, rng):
        super().__init__(name=name, daemon=True)
        self.ctx, self.rng = ctx, rng
        self.conn = None
        self.calls = 0

    # --- connection ---
    def hard_deadline(self):
        return (self.ctx.deadline or time.time()) + RECONNECT_GRACE

    def connect(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except psycopg2.Error:
                pass
        while True:
            # the server may go away again between connecting and the SET: start over then
            self.conn = self.ctx.cluster.connect("chaos-" + self.name, self.hard_deadline())
            try:
                with self.conn.cursor() as cur:
                    cur.execute("SET lock_timeout = %s", (LOCK_TIMEOUT,))
                return
            except psycopg2.Error:
                self.conn.close()
                if time.time() > self.hard_deadline():
                    raise
                time.sleep(0.2)

    def run(self):
        try:
            self.connect()
            while not self.ctx.stop.is_set() and time.time() < self.ctx.deadline:
                call = self.choose()
                if call is not None:
                    self.perform(call)
                    self.calls += 1
                self.ctx.stop.wait(self.rng.uniform(0.05, 0.5))
        except Exception as e:
            self.ctx.errors.append("session %s: %s" % (self.name, traceback.format_exc()))
            say("session %s ended by %r" % (self.name, e))
        finally:
            if self.conn is not None:
                self.conn.close()

    # --- choosing ---
    def choose(self):
        rng, reg, n = self.rng, self.ctx.registry, self.ctx.args.jobs
        live = reg.live()
        weights = {
            "create": 6 if live < n else 0.5,
            "delete": 3 if live > 0.7 * n else 0.3,
            "schedule": 14, "timezone": 12, "active": 4, "misfire": 5, "both": 3,
            "url": 4, "timeout": 3, "max_retries": 3,
            "pause": 8, "resume": 8, "trigger": 10,
        }
        if self.ctx.has_send:
            weights.update(send=25, cancel=8)
        what = rng.choices(list(weights), list(weights.values()))[0]
        if what == "cancel":
            send = self.ctx.book.pick(rng)
            what = "send" if send is None else what
            if send is not None:
                return cancel_call(send)
        if what == "send":
            return send_call(rng, self.ctx.book, self.ctx.sink.url)
        if what == "create" or live == 0:
            return create_call(rng, reg.new_job(rng, self.ctx.sink.url), active=rng.random() < 0.9)
        job = reg.pick(rng, want_active={"pause": True, "resume": False}.get(what))
        if job is None:
            return None
        if what in ("pause", "resume", "trigger", "delete"):
            return simple_call(what, job)
        args = {
            "schedule": lambda: {"schedule": rng.choice(SCHEDULES)},
            "timezone": lambda: {"timezone": rng.choice(TIMEZONES)},
            "active": lambda: {"active": rng.random() < 0.5},
            "misfire": lambda: {"misfire": rng.choice(["run_once", "skip"])},
            "both": lambda: {"schedule": rng.choice(SCHEDULES), "timezone": rng.choice(TIMEZONES)},
            "url": lambda: {"url": "%s&v=%d" % (job.url_base, rng.randrange(1000))},
            "timeout": lambda: {"timeout": rng.choice(TIMEOUTS)},
            "max_retries": lambda: {"max_retries": rng.randint(1, 2)},
        }[what]()
        return modify_call(job, args)

    # --- performing ---
    def pause(self, cur, seconds, how):
        if seconds <= 0:
            return
        if how == "pg_sleep":
            cur.execute("SELECT pg_sleep(%s)", (seconds,))
        else:
            time.sleep(seconds)

    def sleep_until_near_fire(self, job):
        """Sleep until 10-150 ms before one of the job's next fire seconds (within 3 s): inside the lookahead."""
        now = time.time()
        seconds = chaos_check.second_set(job.schedule)
        fire = next((t for t in range(math.ceil(now + 0.2), math.ceil(now + 0.2) + 3) if t % 60 in seconds),
                    math.ceil(now + 0.2))
        lead = self.rng.uniform(0.01, 0.15)
        time.sleep(max(0.0, fire - lead - time.time()))
        return round(lead, 3)

    def perform(self, call):
        if call.kind in ("send", "cancel"):
            return self.perform_adhoc(call)
        rng, job = self.rng, call.job
        rec = {"ev": "call", "session": self.name, "kind": call.kind, "job": job.id, "name": job.name,
               "args": call.args}
        state_sql = STATE_BY_NAME if call.kind == "create" else STATE_BY_ID
        params = dict(call.params, job=job.id, name=job.name)
        in_txn = rng.random() < 1 / 3
        rec["mode"] = "txn" if in_txn else "autocommit"
        state = None
        cur = self.conn.cursor()
        try:
            if in_txn:
                state = self.in_transaction(cur, call, rec, state_sql, params)
            else:
                if rng.random() < 0.5:
                    rec["near_fire"] = self.sleep_until_near_fire(job)
                rec["t_begin"] = rec["t_call"] = time.time()
                # one query string: one implicit transaction, the state read just before its commit
                cur.execute(call.sql + "; " + state_sql, params)
                state = state_from_row(cur.fetchone())
                rec["t_end"] = time.time()
                rec["outcome"] = "committed"
                rec["state"] = state
        except psycopg2.Error as e:
            self.record_failure(cur, rec, e, in_txn, lambda: self.reread(state_sql, params))
            state = rec["reread"]["state"] if rec.get("reread") else None
        if call.kind == "create" and state is not None and state.get("exists"):
            rec["job"] = state["id"]
        self.ctx.history.write(rec)
        if rec["outcome"] in ("committed", "unknown"):
            self.ctx.registry.learn(job, state)

    def in_transaction(self, cur, call, rec, state_sql, params):
        rng = self.rng
        total = rng.uniform(0.5, 3.0)
        place = rng.choice(["before", "after", "split"])
        before = {"before": total, "after": 0.0}.get(place, total * rng.uniform(0.2, 0.8))
        how = rng.choice(["pg_sleep", "client"])
        end = "rollback" if rng.random() < 0.25 else "commit"
        rec["sleep"] = {"before": round(before, 3), "after": round(total - before, 3), "how": how}
        rec["end"] = end
        rec["t_begin"] = time.time()
        cur.execute("BEGIN")
        self.pause(cur, before, how)
        rec["t_call"] = time.time()
        cur.execute(call.sql, params)
        result = cur.fetchone()
        if call.kind == "create" and result:
            rec["job"] = result[0]
        self.pause(cur, total - before, how)
        if end == "rollback":
            cur.execute("ROLLBACK")
            rec["t_end"] = time.time()
            rec["outcome"] = "rolled_back"
            return None
        cur.execute(state_sql, params)
        state = state_from_row(cur.fetchone())
        cur.execute("COMMIT")
        rec["t_end"] = time.time()
        rec["outcome"] = "committed"
        rec["state"] = state
        return state

    def perform_adhoc(self, call):
        """A send() or cancel(): in autocommit, or in a transaction held open 0.5-3 s (a third rolled back)."""
        rng = self.rng
        rec = {"ev": "call", "session": self.name, "kind": call.kind, "args": call.args}
        if call.kind == "cancel":
            rec["send"] = call.args["send_id"]
        params = dict(call.params)
        in_txn = rng.random() < 0.4
        rec["mode"] = "txn" if in_txn else "autocommit"
        cur = self.conn.cursor()

        def the_call():
            if call.args.get("run_at_mode") == "abs":
                params["run_at_us"] = call.args["run_at_us"] = int(round((time.time() + call.args["delay"]) * 1e6))
            rec["t_call"] = time.time()
            cur.execute(call.sql, params)
            result = cur.fetchone()[0]
            rec["result"] = result
            if call.kind == "send":
                rec["send"] = result
        try:
            if in_txn:
                total = rng.uniform(0.5, 3.0)
                # a cancel mostly sleeps after its call: its run_at comes while the cancel is uncommitted
                place = rng.choices(["before", "after", "split"], [1, 3, 1] if call.kind == "cancel" else [1, 1, 1])[0]
                before = {"before": total, "after": 0.0}.get(place, total * rng.uniform(0.2, 0.8))
                how = rng.choice(["pg_sleep", "client"])
                end = "rollback" if rng.random() < 1 / 3 else "commit"
                rec["sleep"] = {"before": round(before, 3), "after": round(total - before, 3), "how": how}
                rec["end"] = end
                rec["t_begin"] = time.time()
                cur.execute("BEGIN")
                self.pause(cur, before, how)
                the_call()
                self.pause(cur, total - before, how)
                cur.execute(end.upper())
                rec["t_end"] = time.time()
                rec["outcome"] = "rolled_back" if end == "rollback" else "committed"
            else:
                rec["t_begin"] = time.time()
                the_call()
                rec["t_end"] = time.time()
                rec["outcome"] = "committed"
        except psycopg2.Error as e:
            self.record_failure(cur, rec, e, in_txn, lambda: self.reread_adhoc(call))
        self.ctx.history.write(rec)
        sid = rec.get("send") if rec["outcome"] == "committed" else (rec.get("reread") or {}).get("send")
        if call.kind == "send" and sid is not None and rec["outcome"] in ("committed", "unknown"):
            a = call.args
            t_sched = a["run_at_us"] / 1e6 if "run_at_us" in a else \
                rec["t_begin"] + a["delay"] if "delay" in a else rec["t_call"]
            self.ctx.book.add(sid, t_sched, a["type"])

    def record_failure(self, cur, rec, e, in_txn, reread):
        """A call that raised: an error the server answered (its transaction rolled back), or a broken
        connection, whose outcome is unknown until reread() after reconnecting tells what committed."""
        rec["t_end"] = time.time()
        rec.setdefault("t_begin", rec["t_end"])
        rec["error"] = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        if broken(self.conn, e):
            rec["outcome"] = "unknown"
            try:
                self.connect()
                rec["reread"] = reread()
            except psycopg2.Error:
                rec["reread"] = None        # the server never came back: recorded, then the session ends
                self.ctx.history.write(rec)
                raise
        else:
            rec["outcome"] = "error"
            rec["sqlstate"] = e.pgcode
            if in_txn:
                self.roll_back(cur)

    def reread_adhoc(self, call):
        """After an unknown outcome: the send by its unique URL (its id, or None: it never committed), or
        the statuses of the cancelled send's attempts."""
        while time.time() < self.hard_deadline():
            try:
                with self.conn.cursor() as cur:
                    if call.kind == "send":
                        cur.execute("SELECT id FROM jobsched.jobs WHERE kind = 'send' AND url = %s",
                                    (call.args["url"],))
                        row = cur.fetchone()
                        return {"send": row[0] if row else None, "t_done": time.time()}
                    cur.execute("SELECT array_agg(status ORDER BY attempt) FROM jobsched.executions "
                                "WHERE job_id = %s", (call.args["send_id"],))
                    return {"statuses": cur.fetchone()[0] or [], "t_done": time.time()}
            except psycopg2.Error:
                time.sleep(0.2)
                self.connect()
        return None

    def roll_back(self, cur):
        try:
            cur.execute("ROLLBACK")
        except psycopg2.Error:
            self.connect()

    def reread(self, state_sql, params):
        """The job's state after a call whose outcome is unknown; None if the server never came back."""
        while time.time() < self.hard_deadline():
            try:
                with self.conn.cursor() as cur:
                    cur.execute(state_sql, params)
                    state = state_from_row(cur.fetchone())
                return {"state": state, "t_done": time.time()}
            except psycopg2.Error:
                time.sleep(0.2)
                self.connect()
        return None


# --------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------

class Faults(threading.Thread):
    def __init__(self, ctx, rng):
        super().__init__(name="faults", daemon=True)
        self.ctx, self.rng = ctx, rng
        self.conn = None
        self.count = 0

    def query(self, sql, args=None):
        """One statement on the fault thread's own connection, reconnecting once if it broke."""
        for attempt in (1, 2):
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = self.ctx.cluster.connect("chaos-faults", time.time() + 5)
                with self.conn.cursor() as cur:
                    cur.execute(sql, args)
                    return cur.fetchall()
            except psycopg2.Error:
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise

    def worker(self):
        try:
            return self.query("SELECT worker_pid, worker_state FROM jobsched.stats")[0]
        except psycopg2.Error:
            return None, None

    def wait_worker_back(self, old_pid, need_new):
        """The time the worker runs again (a new process if need_new), or None after WORKER_BACK_TIMEOUT."""
        deadline = time.time() + WORKER_BACK_TIMEOUT
        while time.time() < deadline:
            pid, state = self.worker()
            if pid and state == "running" and (not need_new or pid != old_pid):
                return time.time(), pid
            time.sleep(0.1)
        return None, None

    def run(self):
        kinds = []
        next_at = time.time() + self.rng.uniform(6, 12)
        try:
            while not self.ctx.stop.wait(max(0.0, next_at - time.time())):
                if time.time() > self.ctx.deadline - 3:
                    break
                if not kinds:
                    kinds = FAULT_KINDS[:]
                    self.rng.shuffle(kinds)     # every kind comes round, in a seeded order
                self.fault(kinds.pop())
                next_at = time.time() + self.rng.uniform(10, 25)
        except Exception as e:
            self.ctx.errors.append("faults: %s" % traceback.format_exc())
            say("fault thread ended by %r" % e)

    def fault(self, kind):
        rec = {"ev": "fault", "kind": kind}
        old_pid, _ = self.worker()
        rec["worker_pid_before"] = old_pid
        rec["t_begin"] = time.time()
        need_new = True
        try:
            if kind == "terminate":
                self.query("SELECT pg_terminate_backend(%s)", (old_pid,))
            elif kind == "cancel":
                self.query("SELECT pg_cancel_backend(%s)", (old_pid,))
                need_new = self.worker_went_away(old_pid)
                rec["worker_exited"] = need_new
            elif kind == "restart_fast":
                self.ctx.cluster.restart_fast()
            elif kind == "kill9_postmaster":
                rec["t_kill"] = self.ctx.cluster.kill9_postmaster()
            elif kind == "kill9_worker":
                rec["t_kill"] = time.time()
                os.kill(old_pid, signal.SIGKILL)
            elif kind == "row_lock":
                self.row_lock(rec)
                need_new = False
        except Exception as e:
            rec["error"] = repr(e)
        if kind == "row_lock":
            rec["t_worker_back"], rec["worker_pid_after"] = rec.get("t_unlock"), old_pid
        else:
            rec["t_worker_back"], rec["worker_pid_after"] = self.wait_worker_back(old_pid, need_new)
        self.ctx.history.write(rec)
        self.count += 1
        back = rec["t_worker_back"]
        say("fault %-16s %s%s" % (kind, "job %s locked %.1f s" % (rec.get("job"), rec["t_unlock"] - rec["t_locked"])
                                  if kind == "row_lock" and rec.get("t_locked") else
                                  "worker back after %.1f s" % (back - rec["t_begin"]) if back else
                                  "WORKER NOT BACK", " (%s)" % rec["error"] if "error" in rec else ""))

    def worker_went_away(self, old_pid):
        """After a cancel: whether the worker exits (then a new one must come) or carries on."""
        deadline = time.time() + 2
        while time.time() < deadline:
            pid, _ = self.worker()
            if pid != old_pid:
                return True
            time.sleep(0.1)
        return False

    def row_lock(self, rec):
        job = self.ctx.registry.pick(self.rng)
        if job is None:
            return
        rec["job"] = job.id
        conn = None
        try:
            conn = self.ctx.cluster.connect("chaos-rowlock", time.time() + 5)
            with conn.cursor() as cur:
                cur.execute("SET lock_timeout = %s", (LOCK_TIMEOUT,))
                cur.execute("BEGIN")
                cur.execute("SELECT id FROM jobsched.jobs WHERE id = %s FOR UPDATE", (job.id,))
                rec["t_locked"] = time.time()
                rec["locked_rows"] = len(cur.fetchall())
                time.sleep(self.rng.uniform(2, 3))
                cur.execute("COMMIT")
                rec["t_unlock"] = time.time()
        finally:
            rec.setdefault("t_unlock", time.time())
            if conn is not None:
                conn.close()


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------

def setup_jobs(ctx, rng, meta):
    """The first N jobs, created one by one in autocommit and recorded like any other call."""
    s = Session("setup", ctx, rng)
    s.connect()
    for _ in range(ctx.args.jobs):
        job = ctx.registry.new_job(rng, ctx.sink.url)
        call = create_call(rng, job)
        t0 = time.time()
        with s.conn.cursor() as cur:
            cur.execute(call.sql + "; " + STATE_BY_NAME, dict(call.params, name=job.name))
            state = state_from_row(cur.fetchone())
        rec = {"ev": "call", "session": "setup", "kind": "create", "job": state["id"], "name": job.name,
               "args": call.args, "mode": "autocommit", "t_begin": t0, "t_call": t0, "t_end": time.time(),
               "outcome": "committed", "state": state}
        meta.setdefault("t_first_create", rec["t_end"])
        ctx.history.write(rec)
        ctx.registry.learn(job, state)
    s.conn.close()


def wait_worker(cluster, deadline):
    conn = cluster.connect("chaos-main", deadline)
    try:
        while time.time() < deadline:
            with conn.cursor() as cur:
                cur.execute("SELECT worker_pid, worker_state FROM jobsched.stats")
                pid, state = cur.fetchone()
            if pid and state == "running":
                return
            time.sleep(0.1)
    finally:
        conn.close()
    raise RuntimeError("the jobsched worker did not start")


def wait_quiet(conn, t_api_end, least=3.0, most=15.0, sends=False):
    """Let the last runs and retries finish: nothing running/retrying for a time <= t_api_end, nor (with
    sends) of a send, whatever its time (a run_at is at most SEND_DELAY ahead of its call)."""
    t0 = time.time()
    of_sends = " OR job_id IN (SELECT id FROM jobsched.jobs WHERE kind = 'send')" if sends else ""
    while True:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM jobsched.executions WHERE status IN ('running', 'retrying') "
                        "AND (scheduled_for <= to_timestamp(%%s)%s)" % of_sends, (t_api_end,))
            open_ = cur.fetchone()[0]
        if (open_ == 0 and time.time() >= t0 + least) or time.time() >= t0 + most:
            return open_
        time.sleep(0.5)


def pause_all(conn, history, sends=False):
    """Pause every job in one transaction, each recorded as a call (its runs claimed before may still come).
    Sends (kind 'send') are no scheduled jobs: left alone."""
    recs = []
    with conn.cursor() as cur:
        t_begin = time.time()
        cur.execute("BEGIN")
        cur.execute("SELECT id FROM jobsched.jobs %sORDER BY id" % ("WHERE kind = 'scheduled' " if sends else ""))
        for (jid,) in cur.fetchall():
            t_call = time.time()
            cur.execute("SELECT jobsched.pause_job(%s)", (jid,))
            recs.append({"ev": "call", "session": "final", "kind": "pause", "job": jid, "args": {},
                         "mode": "txn", "t_begin": t_begin, "t_call": t_call})
        states = {}
        for jid in [r["job"] for r in recs]:
            cur.execute(STATE_BY_ID, {"job": jid})
            states[jid] = state_from_row(cur.fetchone())
        cur.execute("COMMIT")
        t_end = time.time()
    for r in recs:
        r.update(t_end=t_end, outcome="committed", state=states[r["job"]])
        history.write(r)
    return len(recs)


def dump(conn, workdir, sends=False):
    with conn.cursor() as cur:
        cur.execute("SELECT id, job_id, (extract(epoch FROM scheduled_for) * 1000000)::int8, attempt, status, sends, "
                    "extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8, http_status, "
                    "extract(epoch FROM retry_at)::float8 FROM jobsched.executions ORDER BY id")
        cols = ("id", "job_id", "scheduled_us", "attempt", "status", "sends", "started_at", "finished_at",
                "http_status", "retry_at")
        executions = [dict(zip(cols, r)) for r in cur.fetchall()]
        cur.execute("SELECT id, name, schedule, timezone, active, misfire, type, url, overlap, max_retries, "
                    "extract(epoch FROM created_at)::float8, extract(epoch FROM next_run_at)::float8, %s "
                    "FROM jobsched.jobs ORDER BY id" % ("kind" if sends else "'scheduled'"))
        cols = ("id", "name", "schedule", "timezone", "active", "misfire", "type", "url", "overlap", "max_retries",
                "created_at", "next_run_at", "kind")
        jobs = [dict(zip(cols, r)) for r in cur.fetchall()]
    json.dump(executions, open(os.path.join(workdir, "executions.json"), "w"))
    json.dump(jobs, open(os.path.join(workdir, "jobs.json"), "w"), indent=1)
    return len(executions), len(jobs)


def has_send(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT to_regprocedure('jobsched.send(text, text, text, jsonb, timestamptz, text, integer, "
                    "interval, interval, boolean, text)') IS NOT NULL")
        return cur.fetchone()[0]


def extversion(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'jobsched'")
        return cur.fetchone()[0]


def pg_config_value(pg_config, flag):
    return subprocess.run([pg_config, flag], stdout=subprocess.PIPE, text=True, check=True).stdout.strip()


def chaos(args, workdir, meta):
    """Everything from initdb to the dump; the caller tears down and checks."""
    bindir = pg_config_value(args.pg_config, "--bindir")
    so = os.path.join(pg_config_value(args.pg_config, "--pkglibdir"), "jobsched.so")
    meta["so_md5_start"] = md5_of(so)
    cluster = Cluster(bindir, workdir, free_port())
    sink = Sink(workdir)
    history = History(os.path.join(workdir, "history.jsonl"))
    registry = Registry()
    ctx = Context(args, cluster, sink, history, registry)
    meta["_teardown"] = (cluster, sink, history, ctx)

    cluster.init()
    cluster.start()
    sink.start()
    conn = cluster.connect("chaos-main", time.time() + 30)
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION jobsched")
    meta["extversion"] = extversion(conn)
    ctx.has_send = meta["has_send"] = has_send(conn)
    conn.close()
    # the worker looks for the extension only every 5 s; a restart has it start at once
    cluster.restart_fast()
    wait_worker(cluster, time.time() + 30)
    say("cluster on port %d (%s), jobsched %s, sink on %s, work dir %s"
        % (cluster.port, bindir, meta["extversion"], sink.url, workdir))

    rng = random.Random(args.seed)
    setup_jobs(ctx, random.Random(rng.random()), meta)
    meta["t_api_begin"] = time.time()
    ctx.deadline = meta["t_api_begin"] + args.seconds
    threads = [Session("s%d" % i, ctx, random.Random(rng.random())) for i in range(1, args.sessions + 1)]
    threads.append(Faults(ctx, random.Random(rng.random())))
    for t in threads:
        t.start()
    say("%d jobs created; %d sessions and the faults run for %d s" % (args.jobs, args.sessions, args.seconds))
    while time.time() < ctx.deadline and all(t.is_alive() for t in threads):
        time.sleep(0.2)
    ctx.stop.set()
    for t in threads:
        t.join(max(1.0, ctx.deadline + RECONNECT_GRACE + 30 - time.time()))
    meta["t_api_end"] = max(ctx.deadline, time.time())
    meta["calls"] = sum(t.calls for t in threads if isinstance(t, Session))
    meta["faults"] = threads[-1].count
    if any(t.is_alive() for t in threads):
        ctx.errors.append("a session or the fault thread did not stop")
    say("API phase over: %d calls, %d faults; waiting for the last runs" % (meta["calls"], meta["faults"]))

    conn = cluster.connect("chaos-main", time.time() + 60)
    meta["open_at_end"] = wait_quiet(conn, meta["t_api_end"], sends=ctx.has_send)
    meta["t_final_pause"] = time.time()
    meta["paused"] = pause_all(conn, history, sends=ctx.has_send)
    time.sleep(1.5)     # runs claimed before the pause still go out; let them arrive
    meta["t_dump"] = time.time()
    meta["rows"], meta["jobs_at_end"] = dump(conn, workdir, sends=ctx.has_send)
    meta["extversion_end"] = extversion(conn)
    conn.close()
    meta["so_md5_end"] = md5_of(so)
    return ctx


def teardown(meta):
    parts = meta.pop("_teardown", None)
    if not parts:
        return
    cluster, sink, history, ctx = parts
    ctx.stop.set()
    try:
        cluster.stop("fast")
    except Exception as e:
        say("could not stop the server: %r" % e)
        cluster.stop("immediate")
    sink.stop()
    history.close()


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, help="random seed (default: from the clock, printed)")
    ap.add_argument("--seconds", type=int, default=90, help="length of the API phase (90)")
    ap.add_argument("--jobs", type=int, default=30, help="jobs kept alive (30)")
    ap.add_argument("--sessions", type=int, default=3, help="concurrent API sessions (3)")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep it")
    ap.add_argument("--pg-config", default=os.environ.get("PG_CONFIG", "pg_config"))
    ap.add_argument("--report", metavar="FILE", help="also write the checker's summary to FILE")
    args = ap.parse_args(argv)
    if args.seed is None:
        args.seed = int(time.time() * 1000) % 1000000007
    return args


def reproduce_command(args):
    cmd = "python3 test/chaos.py --seed %d --seconds %d --jobs %d --sessions %d" % (
        args.seed, args.seconds, args.jobs, args.sessions)
    if args.pg_config != "pg_config":
        cmd += " --pg-config %s" % args.pg_config
    return cmd


def main(argv=None):
    args = parse_args(argv)
    say("seed %d (%s)" % (args.seed, reproduce_command(args)))
    if os.geteuid() == 0:
        say("PostgreSQL refuses to run as root: run this as another user, e.g. "
            "runuser -u postgres -- python3 test/chaos.py ...")
        return 1
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        if os.listdir(args.keep):
            say("--keep %s: the directory must be empty" % args.keep)
            return 1
        workdir = os.path.abspath(args.keep)
    else:
        workdir = tempfile.mkdtemp(prefix="jobsched-chaos.", dir="/tmp")
    meta = {"seed": args.seed, "seconds": args.seconds, "jobs": args.jobs, "sessions": args.sessions,
            "workdir": workdir}
    ok = False
    try:
        ctx = chaos(args, workdir, meta)
        teardown(meta)
        json.dump(meta, open(os.path.join(workdir, "meta.json"), "w"), indent=1)
        d = chaos_check.load(workdir)
        r = chaos_check.check(d)
        text = summary_text(meta, d, r)
        print(text, flush=True)
        if args.report:
            with open(args.report, "w") as f:
                f.write(text + "\n")
        for e in ctx.errors:
            say("ERROR " + e)
        ok = not r.violations and not ctx.errors
    except KeyboardInterrupt:
        say("interrupted")
    except Exception:
        say("ERROR " + traceback.format_exc())
    finally:
        teardown(meta)
    if ok:
        say("PASS (seed %d, jobsched %s)" % (args.seed, meta.get("extversion")))
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return 0
    say("FAIL with seed %d; reproduce with: %s" % (args.seed, reproduce_command(args)))
    say("work dir kept: %s (re-check: python3 test/chaos_check.py %s)" % (workdir, workdir))
    return 1


def summary_text(meta, d, r):
    lines = ["chaos: seed %d, jobsched %s (at the end %s), %d s, %d jobs, %d sessions, work dir %s" % (
        meta["seed"], meta.get("extversion"), meta.get("extversion_end"), meta["seconds"], meta["jobs"],
        meta["sessions"], meta["workdir"])]
    if meta.get("so_md5_start") != meta.get("so_md5_end"):
        lines.append("chaos: WARNING: jobsched.so was reinstalled during the run (md5 %s -> %s); the server loaded "
                     "the new one at its next restart" % (meta.get("so_md5_start"), meta.get("so_md5_end")))
    if meta.get("open_at_end"):
        lines.append("chaos: %d executions still running/retrying for times before the end" % meta["open_at_end"])
    lines.append(chaos_check.summary(d, r))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
