#!/usr/bin/env python3
"""Failover test of jobsched (issue 14): two PostgreSQL nodes under Patroni and etcd, a planned switchover and a
crash of the primary while its WAL sender is frozen, then an account of every run.

    python3 test/failover.py [--pg-config PATH] [--seed N] [--rounds N] [--jobs N] [--time-limit S]
                             [--keep DIR] [--report FILE]

Why.  jobsched keeps its promise across a crash of one server (test/t/002_crash.pl, test/chaos.py), but a failover
is another story: the server that takes over only has what was replicated to it.  A claim that commits on the
primary and is sent before the standby has it is unknown to the new primary, which sends the run again -- for an
ATMOST_ONCE job, the one thing it must never do.  The defect as filed (issue 14): 20 ATMOST_ONCE jobs every
second, the primary's WAL sender stopped for 3 s, the primary killed -9, the standby promoted: the 60 runs sent
while the standby confirmed nothing were all sent again.  With synchronous replication, an ATMOST_ONCE request must
only go out once its claim is confirmed by the synchronous standbys; ATLEAST_ONCE runs go on meanwhile, and every
ATLEAST_ONCE run the old primary claimed and did not finish is sent by the new one (same Idempotency-Key).  This is
tested against the real thing rather than a simulation of it: Patroni deciding, etcd holding the leader key,
pg_rewind bringing the old primary back.

What it does, as an unprivileged user (PostgreSQL refuses root; run it as postgres), everything on 127.0.0.1 and in
one temp dir:
  - etcd (v3 API) on two free loopback ports, and two Patroni nodes (`etcd3:` DCS; REST API on loopback ports;
    bin_dir from `pg_config --bindir`; ttl 10, loop_wait 1, retry_timeout 4; synchronous_mode: true;
    primary_start_timeout: 0, so a crashed primary fails over instead of being restarted; use_pg_rewind: true, so
    the old primary rejoins; maximum_lag_on_failover 1 GB, see below), PostgreSQL with jobsched preloaded,
    jobsched.misfire_grace = 60s (runs missed during an outage are fired late, so every scheduled second of an
    ATLEAST_ONCE job must arrive), hot_standby on, log_line_prefix with %m (milliseconds, log_timezone UTC); and
    test/sink.py as the HTTP target;
  - CREATE EXTENSION on the leader, --jobs (100) ATMOST_ONCE and as many ATLEAST_ONCE jobs firing every second
    (`* * * * * *`, 200 runs/s by default) to /ok?job=<id> at the sink, started in the same second;
  - on the replica: `SELECT * FROM jobsched.stats` and `jobsched.job_status` must answer (hot standby), and no
    process with backend_type 'jobsched scheduler' may run there;
  - --rounds (1) times, each scenario once the replica is a synchronous standby again (odd rounds (a) then (b), even
    rounds (b) then (a), so that each node gets crashed):
    (a) switchover: `patronictl switchover --leader OLD --candidate NEW --force`;
    (b) crash: the primary's WAL sender serving the synchronous standby (pg_stat_replication) is stopped with
        SIGSTOP for 3 s (from ~0.45 s into a second), while jobsched.stats and pg_stat_activity are sampled on the
        primary every ~0.1 s; then the old primary's executions of the last seconds are read (what it claimed and
        sent), and the walsender, the postmaster and every other server process are killed with SIGKILL (the
        walsender never resumes, so none of that WAL reaches the standby); Patroni sees its primary dead and fails
        over; the old node is brought back by Patroni (crash recovery in single-user mode, pg_rewind) as replica;
    for each: the promotion time, taken from the new primary's server log (the first "database system is ready to
    accept connections" after "received promote request"; Patroni's "promoted self to leader" line is recorded
    beside it), and the first request at the sink after it -- every server process of the old primary is gone by
    then (killed, or shut down by the switchover), so that request is the new primary's;
  - during the freeze: ATLEAST_ONCE requests keep arriving and ATMOST_ONCE ones stop (0.3 s after the freeze began,
    for runs confirmed before it); jobsched.stats shows claims_confirmed_by = 'synchronous standbys' and at some
    point awaiting_sync > 0, and pg_stat_activity a 'jobsched sync waiter' in wait_event SyncRep (columns and
    process missing from a build before the change: recorded as failed checks, not a crash);
  - the final account, from the sink's log (Idempotency-Key jobsched-<job id>-<scheduled time in Unix
    microseconds>) and the final primary's executions, plus the old primaries' executions read before each crash:
    (1) no ATMOST_ONCE (job, scheduled time) arrived twice; (2) every ATLEAST_ONCE job: every scheduled second from
    its first run to a cut-off 4 s before the end arrived at least once; (3) every execution the final primary
    records as succeeded arrived at the sink; (4) promotion -> first request at most 3 s (the figure is reported).

maximum_lag_on_failover: Patroni refuses to promote a replica that is more than this behind the leader's last
reported WAL position (1 MB by default); the frozen walsender leaves the standby a few MB behind, and with
synchronous_mode the synchronous standby is by definition the node to promote, so the bound is raised.

Prints a summary (counts, each check with PASS/FAIL, violations with examples) and exits 0 if every check passed,
1 otherwise (also on a harness error or when --time-limit is reached; the work dir is then kept).  --report FILE
writes the figures as JSON (bench/failover.sh).  The default run (one round) takes about 50-70 s, cluster set-up
included; --time-limit (175 s for one round, 100 s more per further round) bounds it whatever happens.  Every
process it starts is killed at the end, on failure too.
"""

import argparse
import calendar
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

try:
    import psycopg2
except ImportError:
    # A python3 earlier in PATH (pyenv, a venv) may lack the Debian package; the system one has it.
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") \
            and not os.environ.get("FAILOVER_REEXEC"):
        os.environ["FAILOVER_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("failover: psycopg2 is required (Debian: apt-get install python3-psycopg2)")

HERE = os.path.dirname(os.path.abspath(__file__))
SINK = os.path.join(HERE, "sink.py")
SCOPE = "jobsched-failover"

TTL, LOOP_WAIT, RETRY_TIMEOUT = 10, 1, 4          # Patroni: loop_wait + 2 * retry_timeout <= ttl
FREEZE_SECONDS = 3.0
FREEZE_GRACE = 0.3         # ATMOST_ONCE runs confirmed before the freeze may still go out this long after it begins
PROMOTE_TO_FIRST_MAX = 3.0  # seconds, asserted; the figure is reported
CUTOFF_BEFORE_END = 4.0     # ATLEAST_ONCE: every second up to this long before the end must have arrived
SYNC_WAIT = 60              # seconds for the replica to be a synchronous standby again (after a rejoin)
PROMOTE_WAIT = 45           # seconds for a new primary after a switchover or a crash
SAMPLE_EVERY = 0.1

T_START = time.time()


def say(msg):
    print("failover: [%6.1f s] %s" % (time.time() - T_START, msg), flush=True)


class HarnessError(Exception):
    """Something the harness needed did not happen (not a finding about jobsched)."""


class TimeLimit(HarnessError):
    pass


DEADLINE = [float("inf")]


def check_deadline():
    if time.time() > DEADLINE[0]:
        raise TimeLimit("the time limit was reached")


def sleep(seconds):
    end = time.time() + seconds
    while True:
        check_deadline()
        left = end - time.time()
        if left <= 0:
            return
        time.sleep(min(left, 0.1))


def wait_until(what, fn, timeout, interval=0.1):
    """Call fn until it returns something true (returned); HarnessError after timeout seconds."""
    end = time.time() + timeout
    last_error = None
    while True:
        check_deadline()
        try:
            r = fn()
            if r:
                return r
        except (OSError, psycopg2.Error, ValueError, KeyError, urllib.error.URLError) as e:
            last_error = e
        if time.time() > end:
            raise HarnessError("timed out after %d s waiting for %s%s" % (
                timeout, what, " (last error: %s)" % str(last_error).strip() if last_error else ""))
        time.sleep(interval)


def free_ports(n):
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def pg_config_value(pg_config, flag):
    return subprocess.run([pg_config, flag], stdout=subprocess.PIPE, text=True, check=True).stdout.strip()


# --------------------------------------------------------------------------
# Processes: everything started is remembered and killed at the end
# --------------------------------------------------------------------------

PROCS = []


def spawn(argv, logpath, env=None):
    out = open(logpath, "ab")
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                         start_new_session=True)
    out.close()
    PROCS.append(p)
    return p


def proc_stat(pid):
    """(ppid, state) of a process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[1]), fields[0]
    except (OSError, IndexError, ValueError):
        return None


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[0] == pid:
                kids.append(int(d))
    return kids


def alive(pid):
    """A zombie counts as alive until reaped (its pid may still be in postmaster.pid)."""
    return os.path.exists("/proc/%d" % pid)


def processes_of(workdir):
    """Our processes that belong to this run: command line or cwd under the work dir (PostgreSQL backends have the
    data directory as cwd; Patroni, etcd and the sink have the work dir on their command line)."""
    me, uid, found = os.getpid(), os.getuid(), []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            if os.stat("/proc/" + d).st_uid != uid:
                continue
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            try:
                cwd = os.readlink("/proc/%s/cwd" % d)
            except OSError:
                cwd = ""
        except OSError:
            continue
        if workdir in cmd or cwd == workdir or cwd.startswith(workdir + "/"):
            found.append(int(d))
    return found


def kill_everything(workdir):
    """SIGTERM Patroni, etcd and the sink (Patroni then stops its PostgreSQL), a few seconds' grace, then SIGKILL
    whatever of this run is left, stopped processes included."""
    for p in PROCS:
        if p.poll() is None:
            try:
                p.terminate()
            except OSError:
                pass
    end = time.time() + 15
    while time.time() < end and any(p.poll() is None for p in PROCS):
        time.sleep(0.1)
    for _ in range(3):
        pids = processes_of(workdir) + [p.pid for p in PROCS if p.poll() is None]
        if not pids:
            break
        for pid in pids:
            for sig in (signal.SIGKILL, signal.SIGCONT):
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        time.sleep(0.3)
    for p in PROCS:
        try:
            p.wait(2)
        except subprocess.TimeoutExpired:
            pass
    left = processes_of(workdir)
    if left:
        say("WARNING: processes still there after the clean-up: %s" % left)


# --------------------------------------------------------------------------
# etcd, the sink, the Patroni nodes
# --------------------------------------------------------------------------

def http_get(url, timeout=2.0):
    """(status, parsed JSON or text) of a GET; no proxy (loopback only)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as r:
            body, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        body, status = e.read(), e.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


class Etcd:
    def __init__(self, workdir, client_port, peer_port):
        self.dir = os.path.join(workdir, "etcd")
        self.client = "http://127.0.0.1:%d" % client_port
        self.peer = "http://127.0.0.1:%d" % peer_port
        self.log = os.path.join(workdir, "etcd.log")

    def start(self):
        os.makedirs(self.dir, mode=0o700)
        self.proc = spawn(["etcd", "--name", "fo", "--data-dir", os.path.join(self.dir, "data"),
                           "--listen-client-urls", self.client, "--advertise-client-urls", self.client,
                           "--listen-peer-urls", self.peer, "--initial-advertise-peer-urls", self.peer,
                           "--initial-cluster", "fo=" + self.peer, "--initial-cluster-state", "new",
                           "--initial-cluster-token", "jobsched-failover-%d" % os.getpid()], self.log)

        def healthy():
            if self.proc.poll() is not None:
                raise HarnessError("etcd exited (see %s)" % self.log)
            status, body = http_get(self.client + "/health")
            return status == 200 and isinstance(body, dict) and str(body.get("health")) == "true"
        wait_until("etcd to be healthy", healthy, 30)


class Sink:
    def __init__(self, workdir):
        self.log = os.path.join(workdir, "sink.log")
        self.ready = os.path.join(workdir, "sink.port")
        self.out = os.path.join(workdir, "sink.out")

    def start(self):
        self.proc = spawn([sys.executable, SINK, "--port", "0", "--log", self.log, "--ready-file", self.ready],
                          self.out)

        def ready():
            if self.proc.poll() is not None:
                raise HarnessError("the sink exited (see %s)" % self.out)
            return os.path.exists(self.ready) and os.path.getsize(self.ready)
        wait_until("the sink", ready, 30, 0.05)
        self.port = int(open(self.ready).read())
        self.url = "http://127.0.0.1:%d" % self.port

    def read(self):
        """Every request logged so far: (t, job id, scheduled time in microseconds, key).  Read on from where the
        last call stopped."""
        if not hasattr(self, "_seen"):
            self._seen, self._offset = [], 0
        if not os.path.exists(self.log):
            return list(self._seen)
        with open(self.log, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1        # a line being written waits for the next call
        self._offset += end
        for line in data[:end].splitlines():
            e = json.loads(line)
            key = e.get("idempotency_key") or ""
            m = re.fullmatch(r"jobsched-(\d+)-(-?\d+)", key)
            if m:
                self._seen.append((e["t"], int(m.group(1)), int(m.group(2)), key))
            else:
                self._seen.append((e["t"], None, None, key))
        return list(self._seen)


class Node:
    def __init__(self, name, workdir, bindir, pg_port, rest_port, etcd):
        self.name = name
        self.dir = os.path.join(workdir, name)
        self.data = os.path.join(self.dir, "data")
        self.logdir = os.path.join(self.dir, "log")
        self.server_log = os.path.join(self.logdir, "postgresql.log")
        self.patroni_log = os.path.join(self.dir, "patroni.log")
        self.config = os.path.join(self.dir, "patroni.yml")
        self.bindir = bindir
        self.pg_port = pg_port
        self.rest_port = rest_port
        self.rest = "http://127.0.0.1:%d" % rest_port
        self.etcd = etcd
        self.proc = None

    def write_config(self):
        os.makedirs(self.logdir, mode=0o700)
        params = {
            "unix_socket_directories": self.dir,
            "shared_preload_libraries": "jobsched",
            "jobsched.database_name": "postgres",
            "jobsched.misfire_grace": "60s",
            "hot_standby": "on",
            "logging_collector": "on",
            "log_directory": self.logdir,
            "log_filename": "postgresql.log",
            "log_rotation_age": "0",
            "log_rotation_size": "0",
            "log_truncate_on_rotation": "off",
            "log_timezone": "UTC",
            "log_line_prefix": "%m [%p] %b ",
            "log_min_messages": "log",
            "wal_keep_size": "512MB",
        }
        conf = {
            "scope": SCOPE,
            "namespace": "/service/",
            "name": self.name,
            "log": {"level": "INFO"},
            "restapi": {"listen": "127.0.0.1:%d" % self.rest_port,
                        "connect_address": "127.0.0.1:%d" % self.rest_port},
            "etcd3": {"hosts": [self.etcd.client.replace("http://", "")], "protocol": "http"},
            "bootstrap": {
                "dcs": {
                    "ttl": TTL, "loop_wait": LOOP_WAIT, "retry_timeout": RETRY_TIMEOUT,
                    "maximum_lag_on_failover": 1 << 30,
                    "synchronous_mode": True,
                    "primary_start_timeout": 0,
                    "postgresql": {"use_pg_rewind": True, "use_slots": True,
                                   "parameters": {"max_connections": 60, "max_wal_senders": 10,
                                                  "max_replication_slots": 10, "wal_log_hints": "on"}},
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, "no-sync"],
            },
            "postgresql": {
                "listen": "127.0.0.1:%d" % self.pg_port,
                "connect_address": "127.0.0.1:%d" % self.pg_port,
                "data_dir": self.data,
                "bin_dir": self.bindir,
                "pgpass": os.path.join(self.dir, "pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": "postgres"},
                    "replication": {"username": "replicator", "password": "replicator"},
                    "rewind": {"username": "postgres", "password": "postgres"},
                },
                "parameters": params,
                "pg_hba": ["local all all trust", "host all all 127.0.0.1/32 trust",
                           "host replication all 127.0.0.1/32 trust"],
                "use_pg_rewind": True,
                "remove_data_directory_on_rewind_failure": True,
                "remove_data_directory_on_diverged_timelines": True,
                "pg_ctl_timeout": 60,
                # a fast checkpoint for the base backup: the default spread one makes the replica wait ~20 s
                "basebackup": [{"checkpoint": "fast"}],
            },
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
        }
        with open(self.config, "w") as f:
            json.dump(conf, f, indent=1)     # JSON is YAML

    def start(self):
        env = dict(os.environ, NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "PGHOST", "PGPORT", "PGDATA"):
            env.pop(k, None)
        self.proc = spawn(["patroni", self.config], self.patroni_log, env)

    def patroni_alive(self):
        return self.proc is not None and self.proc.poll() is None

    def status(self):
        """Patroni's own view (/patroni), or None when its REST API does not answer."""
        try:
            code, body = http_get(self.rest + "/patroni", 1.5)
        except (OSError, urllib.error.URLError):
            return None
        return body if isinstance(body, dict) else None

    def connect(self, timeout=3):
        conn = psycopg2.connect(host="127.0.0.1", port=self.pg_port, dbname="postgres", user="postgres",
                                connect_timeout=timeout, application_name="failover-test",
                                options="-c statement_timeout=5000 -c lock_timeout=3000")
        conn.autocommit = True
        return conn

    def query(self, sql, args=None, timeout=3):
        conn = self.connect(timeout)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                pid = int(f.readline())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def log_size(self):
        try:
            return os.path.getsize(self.server_log)
        except OSError:
            return 0

    def server_log_since(self, offset):
        try:
            with open(self.server_log, errors="replace") as f:
                f.seek(offset)
                return f.read()
        except OSError:
            return ""

    def patroni_log_since(self, offset):
        try:
            with open(self.patroni_log, errors="replace") as f:
                f.seek(offset)
                return f.read()
        except OSError:
            return ""

    def patroni_log_size(self):
        try:
            return os.path.getsize(self.patroni_log)
        except OSError:
            return 0


LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3}) UTC ", re.M)


def log_time(line):
    m = LOG_TS.match(line)
    if not m:
        return None
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000.0


def promotion_time(text):
    """From a server log excerpt: the time of the first "ready to accept connections" after a promote request."""
    promoted = False
    for line in text.splitlines():
        if "received promote request" in line:
            promoted = True
        elif promoted and "database system is ready to accept connections" in line:
            return log_time(line)
    return None


PATRONI_TS = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")


def patroni_line_time(line):
    m = PATRONI_TS.match(line)
    if not m:
        return None
    # Patroni logs local time
    return time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000.0


def patroni_promotion_time(text):
    for line in text.splitlines():
        if "promoted self to leader" in line:
            return patroni_line_time(line)
    return None


# --------------------------------------------------------------------------
# The cluster as a whole
# --------------------------------------------------------------------------

class Cluster:
    def __init__(self, nodes):
        self.nodes = nodes

    def by_name(self, name):
        return next(n for n in self.nodes if n.name == name)

    def members(self):
        """Patroni's /cluster from whichever node answers: {name: member}."""
        for n in self.nodes:
            try:
                code, body = http_get(n.rest + "/cluster", 1.5)
            except (OSError, urllib.error.URLError):
                continue
            if code == 200 and isinstance(body, dict):
                return {m["name"]: m for m in body.get("members", [])}
        return {}

    def leader(self):
        """The node that is primary and answers writes: Patroni says leader/running and the server is not in
        recovery."""
        for name, m in self.members().items():
            if m.get("role") in ("leader", "master", "primary") and m.get("state") == "running":
                n = self.by_name(name)
                try:
                    if n.query("SELECT NOT pg_is_in_recovery()")[0][0]:
                        return n
                except psycopg2.Error:
                    return None
        return None

    def sync_pair(self):
        """(primary, sync standby) once the other node streams as synchronous standby; else None."""
        p = self.leader()
        if p is None:
            return None
        other = next(n for n in self.nodes if n is not p)
        rows = p.query("SELECT pid, sync_state, state FROM pg_stat_replication WHERE application_name = %s",
                       (other.name,))
        if not rows or rows[0][1] != "sync" or rows[0][2] != "streaming":
            return None
        m = self.members().get(other.name, {})
        if m.get("role") != "sync_standby":
            return None
        if not other.query("SELECT pg_is_in_recovery()")[0][0]:
            return None
        return p, other

    def wait_sync_pair(self, timeout=SYNC_WAIT):
        return wait_until("a primary with a streaming synchronous standby", self.sync_pair, timeout, 0.25)


# --------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------

def row_dicts(cur):
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, (v if isinstance(v, (int, float, str, bool, type(None))) else str(v) for v in r)))
            for r in cur.fetchall()]


class Test:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.rng = random.Random(args.seed)
        self.checks = []        # {"name", "ok", "detail"}
        self.scenarios = []     # figures per scenario
        self.old_primary_history = []   # executions read on an old primary just before it was killed
        self.report = {"seed": args.seed, "rounds": args.rounds, "jobs_per_type": args.jobs, "workdir": workdir}

    def check(self, name, ok, detail=""):
        self.checks.append({"name": name, "ok": bool(ok), "detail": detail})
        say("%s: %s%s" % ("PASS" if ok else "FAIL", name, " -- " + detail if detail else ""))

    # ---- set-up ----------------------------------------------------------

    def setup(self):
        a = self.args
        bindir = pg_config_value(a.pg_config, "--bindir")
        pkglib = pg_config_value(a.pg_config, "--pkglibdir")
        if not os.path.exists(os.path.join(pkglib, "jobsched.so")):
            raise HarnessError("no jobsched.so in %s (pg_config %s)" % (pkglib, a.pg_config))
        self.report["bindir"] = bindir
        ports = free_ports(6)
        self.etcd = Etcd(self.workdir, ports[0], ports[1])
        self.sink = Sink(self.workdir)
        nodes = [Node("node1", self.workdir, bindir, ports[2], ports[3], self.etcd),
                 Node("node2", self.workdir, bindir, ports[4], ports[5], self.etcd)]
        self.cluster = Cluster(nodes)
        self.etcd.start()
        self.sink.start()
        say("etcd on %s, sink on %s, PostgreSQL from %s" % (self.etcd.client, self.sink.url, bindir))
        for n in nodes:
            n.write_config()
        nodes[0].start()
        leader = wait_until("node1 to bootstrap and lead", self.cluster.leader, 60, 0.25)
        say("%s bootstrapped and leads (port %d)" % (leader.name, leader.pg_port))
        nodes[1].start()
        conn = leader.connect()
        with conn.cursor() as cur:
            cur.execute("CREATE EXTENSION jobsched")
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'jobsched'")
            self.report["extversion"] = cur.fetchone()[0]
        conn.close()
        primary, standby = self.cluster.wait_sync_pair(90)
        say("%s streams to %s as synchronous standby; jobsched %s" % (
            primary.name, standby.name, self.report["extversion"]))

        def worker_running():
            r = primary.query("SELECT worker_state, worker_pid FROM jobsched.stats")[0]
            return r[0] == "running" and r[1]
        # the worker looks for the extension every 5 s
        wait_until("the jobsched worker on %s" % primary.name, worker_running, 20, 0.2)
        self.create_jobs(primary)
        self.replica_checks(standby, "at the start")

    def create_jobs(self, primary):
        conn = primary.connect()
        conn.autocommit = False
        kinds = ["ATMOST_ONCE"] * self.args.jobs + ["ATLEAST_ONCE"] * self.args.jobs
        self.rng.shuffle(kinds)
        self.job_type = {}
        with conn.cursor() as cur:
            for i, kind in enumerate(kinds):
                cur.execute("SELECT jobsched.create_job('* * * * * *', %s, %s, name => %s, timeout => '5 s', "
                            "active => false)", (self.sink.url + "/ok", kind, "fo-%d" % i))
                jid = cur.fetchone()[0]
                cur.execute("SELECT jobsched.modify_job(%s, url => %s)", (jid, "%s/ok?job=%d" % (self.sink.url, jid)))
                self.job_type[jid] = kind
            conn.commit()
            # all at once, from the same second; the first run of each is read before the commit
            cur.execute("SELECT jobsched.resume_job(id) FROM jobsched.jobs WHERE name LIKE 'fo-%%'")
            cur.execute("SELECT id, (extract(epoch FROM next_run_at) * 1000000)::bigint FROM jobsched.jobs "
                        "WHERE name LIKE 'fo-%%'")
            self.first_run = dict(cur.fetchall())
            conn.commit()
        conn.close()
        self.t_jobs = time.time()
        say("%d ATMOST_ONCE and %d ATLEAST_ONCE jobs every second, first run %s" % (
            self.args.jobs, self.args.jobs, time.strftime("%H:%M:%S", time.gmtime(min(self.first_run.values()) / 1e6))))

    def replica_checks(self, standby, when):
        """On a hot standby: the views answer, and the worker is not running."""
        detail, ok = [], True
        try:
            conn = standby.connect()
            with conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery()")
                in_recovery = cur.fetchone()[0]
                detail.append("in recovery" if in_recovery else "NOT in recovery")
                ok = ok and in_recovery
                try:
                    cur.execute("SELECT * FROM jobsched.stats")
                    st = row_dicts(cur)[0]
                    detail.append("stats: worker_state %r, worker_pid %r" % (st.get("worker_state"), st.get("worker_pid")))
                    if st.get("worker_state") == "running" or st.get("worker_pid"):
                        ok = False
                    if "claims_confirmed_by" in st:
                        detail.append("claims_confirmed_by %r" % st["claims_confirmed_by"])
                except psycopg2.Error as e:
                    ok = False
                    detail.append("stats failed: %s" % str(e).strip())
                try:
                    cur.execute("SELECT count(*) FROM jobsched.job_status")
                    detail.append("job_status: %d rows" % cur.fetchone()[0])
                except psycopg2.Error as e:
                    ok = False
                    detail.append("job_status failed: %s" % str(e).strip())
                seen = 0
                for _ in range(5):      # over half a second
                    cur.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'jobsched scheduler'")
                    seen = max(seen, cur.fetchone()[0])
                    time.sleep(0.1)
                detail.append("jobsched scheduler processes: %d" % seen)
                ok = ok and seen == 0
            conn.close()
        except psycopg2.Error as e:
            ok = False
            detail.append("could not query the standby: %s" % str(e).strip())
        self.check("standby %s %s: stats and job_status readable, worker idle" % (standby.name, when), ok,
                   "; ".join(detail))

    # ---- scenarios -------------------------------------------------------

    def arrivals_after(self, t):
        return [r for r in self.sink.read() if r[0] > t]

    def first_request_after(self, t, timeout=15):
        def first():
            later = self.arrivals_after(t)
            return min(later) if later else None
        return wait_until("a request at the sink after %.3f" % t, first, timeout, 0.05)

    def promotion(self, new, log_offset, plog_offset, timeout=PROMOTE_WAIT):
        t = wait_until("the promotion of %s in its server log" % new.name,
                       lambda: promotion_time(new.server_log_since(log_offset)), timeout, 0.1)
        return t, patroni_promotion_time(new.patroni_log_since(plog_offset))

    def switchover(self, rnd):
        old, new = self.cluster.wait_sync_pair()
        sleep(1.0 + self.rng.random())
        fig = {"scenario": "switchover", "round": rnd, "old": old.name, "new": new.name}
        say("(a) switchover %s -> %s" % (old.name, new.name))
        off, poff = new.log_size(), new.patroni_log_size()
        fig["t_begin"] = time.time()
        for attempt in range(3):
            p = subprocess.run(["patronictl", "-c", old.config, "switchover", "--leader", old.name,
                                "--candidate", new.name, "--force"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=60)
            say("patronictl: %s" % " / ".join(l for l in p.stdout.strip().splitlines()[-3:]))
            if p.returncode == 0 and "failed" not in p.stdout.lower():
                break
            # e.g. the candidate not yet known as synchronous to Patroni: wait and retry
            if promotion_time(new.server_log_since(off)):
                break
            sleep(2)
            self.cluster.wait_sync_pair()
        else:
            raise HarnessError("patronictl switchover failed three times")
        t_prom, t_patroni = self.promotion(new, off, poff)
        self.finish_scenario(fig, old, new, t_prom, t_patroni)

    def crash(self, rnd):
        old, new = self.cluster.wait_sync_pair()
        fig = {"scenario": "crash", "round": rnd, "old": old.name, "new": new.name}
        rows = old.query("SELECT pid FROM pg_stat_replication WHERE application_name = %s AND sync_state = 'sync'",
                         (new.name,))
        walsender = rows[0][0]
        pm = old.postmaster_pid()
        if not pm or proc_stat(walsender) is None or proc_stat(walsender)[0] != pm:
            raise HarnessError("walsender %s is not a child of the postmaster %s" % (walsender, pm))
        sampler = old.connect()
        # from ~0.35-0.6 s into a second: after that second's sends, before the next claims
        sleep(1.0 + self.rng.random())
        phase = 0.35 + 0.25 * self.rng.random()
        now = time.time()
        sleep((phase - now % 1.0) % 1.0)
        say("(b) crash of %s: walsender %d (serving %s) stopped for %.0f s" % (old.name, walsender, new.name,
                                                                             FREEZE_SECONDS))
        off, poff, old_poff = new.log_size(), new.patroni_log_size(), old.patroni_log_size()
        os.kill(walsender, signal.SIGSTOP)
        t0 = time.time()
        fig["t_freeze"] = t0
        samples = []
        with sampler.cursor() as cur:
            while time.time() < t0 + FREEZE_SECONDS:
                s = {"t": time.time()}
                try:
                    cur.execute("SELECT * FROM jobsched.stats")
                    s["stats"] = row_dicts(cur)[0]
                    cur.execute("SELECT pid, backend_type, state, wait_event_type, wait_event, "
                                "left(query, 60) AS query FROM pg_stat_activity "
                                "WHERE backend_type LIKE 'jobsched%%' OR wait_event = 'SyncRep'")
                    s["activity"] = row_dicts(cur)
                except psycopg2.Error as e:
                    s["error"] = str(e).strip()
                samples.append(s)
                time.sleep(max(0.0, SAMPLE_EVERY - (time.time() - s["t"])))
            # what the old primary claimed and sent, read before it dies (the new one never sees it)
            try:
                cur.execute("SELECT job_id, (extract(epoch FROM scheduled_for) * 1000000)::bigint, attempt, status, "
                            "sends FROM jobsched.executions WHERE scheduled_for >= to_timestamp(%s)", (t0 - 2.0,))
                history = cur.fetchall()
            except psycopg2.Error as e:
                history = []
                say("could not read the old primary's executions: %s" % str(e).strip())
        pids = [walsender, pm] + [c for c in children_of(pm) if c != walsender]
        t_kill = time.time()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        fig["t_kill"] = t_kill
        # a child forked between the listing and the kill: server processes have the data directory as cwd
        for pid in processes_of(old.data):
            if pid not in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    pids.append(pid)
                except OSError:
                    pass
        try:
            sampler.close()
        except psycopg2.Error:
            pass
        wait_until("the old primary's processes to exit", lambda: not any(alive(p) for p in pids), 20, 0.05)
        say("%s killed (-9: postmaster %d, walsender %d and %d other processes); %d samples taken" % (
            old.name, pm, walsender, len(pids) - 2, len(samples)))
        self.old_primary_history.append({"node": old.name, "round": rnd, "t_freeze": t0, "t_kill": t_kill,
                                         "rows": [list(r) for r in history]})
        fig["samples"] = samples
        fig["old_history_rows"] = len(history)
        t_prom, t_patroni = self.promotion(new, off, poff)
        for line in old.patroni_log_since(old_poff).splitlines():
            if "Primary crashed. Failing over." in line:
                fig["t_patroni_crash_seen"] = patroni_line_time(line)
                break
        self.freeze_checks(fig, samples, t0, t_kill, history)
        self.finish_scenario(fig, old, new, t_prom, t_patroni)

    def freeze_checks(self, fig, samples, t0, t_kill, history):
        tag = "round %d crash, %s frozen" % (fig["round"], fig["old"])
        arr = [r for r in self.sink.read() if r[1] is not None and t0 + FREEZE_GRACE <= r[0] < t_kill]
        atmost = [r for r in arr if self.job_type.get(r[1]) == "ATMOST_ONCE"]
        atleast = [r for r in arr if self.job_type.get(r[1]) == "ATLEAST_ONCE"]
        fig["freeze_arrivals_atmost"] = len(atmost)
        fig["freeze_arrivals_atleast"] = len(atleast)
        self.check("%s: ATLEAST_ONCE requests go on during the freeze" % tag, len(atleast) > 0,
                   "%d ATLEAST_ONCE requests in the %.1f s from 0.3 s after the freeze to the kill"
                   % (len(atleast), t_kill - t0 - FREEZE_GRACE))
        self.check("%s: no ATMOST_ONCE request while the standby confirms nothing" % tag, len(atmost) == 0,
                   "%d ATMOST_ONCE requests sent in that window%s" % (
                       len(atmost), " (e.g. %s)" % ", ".join(r[3] for r in atmost[:3]) if atmost else ""))
        stats = [s["stats"] for s in samples if "stats" in s]
        errors = [s["error"] for s in samples if "error" in s]
        if errors:
            say("sampling errors during the freeze: %d (e.g. %s)" % (len(errors), errors[0]))
        ccb = sorted({str(s.get("claims_confirmed_by", "<no column claims_confirmed_by>")) for s in stats})
        self.check("%s: jobsched.stats claims_confirmed_by = 'synchronous standbys'" % tag,
                   bool(stats) and ccb == ["synchronous standbys"], "values seen: %s" % ", ".join(ccb))
        aw = [s.get("awaiting_sync") for s in stats]
        has_col = bool(stats) and all("awaiting_sync" in s for s in stats)
        peak = max((a for a in aw if isinstance(a, int)), default=None)
        fig["awaiting_sync_peak"] = peak
        self.check("%s: jobsched.stats awaiting_sync > 0 at some point" % tag, has_col and peak is not None and peak > 0,
                   "peak %s over %d samples" % (peak, len(stats)) if has_col else "no column awaiting_sync")
        waiting = [s for s in samples if any(a.get("backend_type") == "jobsched sync waiter"
                                             and a.get("wait_event") == "SyncRep" for a in s.get("activity", []))]
        types = sorted({"%s/%s" % (a.get("backend_type"), a.get("wait_event"))
                        for s in samples for a in s.get("activity", [])})
        self.check("%s: pg_stat_activity shows a 'jobsched sync waiter' in SyncRep" % tag, bool(waiting),
                   "in %d of %d samples; backend_type/wait_event seen: %s" % (len(waiting), len(samples),
                                                                             ", ".join(types) or "none"))
        # the old primary's own account of the freeze: ATMOST_ONCE runs it claimed, and sent
        # (claims of runs due after the freeze began; "sent": at the sink before the kill)
        claimed = {(r[0], r[1]) for r in history if self.job_type.get(r[0]) == "ATMOST_ONCE" and r[1] >= t0 * 1e6}
        before_kill = {(r[1], r[2]) for r in self.sink.read() if r[1] is not None and r[0] < t_kill}
        fig["old_atmost_claimed_in_freeze"] = len(claimed)
        fig["old_atmost_sent_in_freeze"] = len(claimed & before_kill)

    def finish_scenario(self, fig, old, new, t_prom, t_patroni):
        tag = "round %d %s %s -> %s" % (fig["round"], fig["scenario"], old.name, new.name)
        fig["t_promoted"] = t_prom
        fig["t_patroni_promoted"] = t_patroni
        begin = fig.get("t_kill", fig.get("t_begin"))
        first = self.first_request_after(t_prom)
        fig["t_first_request"] = first[0]
        fig["promote_to_first_s"] = round(first[0] - t_prom, 3)
        before = [r[0] for r in self.sink.read() if r[0] <= begin]
        fig["t_last_request_before"] = max(before) if before else None
        fig["outage_s"] = round(first[0] - max(before), 3) if before else None
        fig["event_to_promotion_s"] = round(t_prom - begin, 3)
        say("%s: promoted %.3f s after the %s (server log), first request %.3f s after the promotion "
            "(%s; no request for %.3f s)" % (tag, t_prom - begin, "kill" if "t_kill" in fig else "switchover command",
                                            first[0] - t_prom, first[3], fig["outage_s"] or -1))
        self.check("%s: promotion -> first request <= %.0f s" % (tag, PROMOTE_TO_FIRST_MAX),
                   first[0] - t_prom <= PROMOTE_TO_FIRST_MAX, "%.3f s" % (first[0] - t_prom))
        # recorded, not checked: what the new primary says about its claims before a standby is back
        try:
            r = new.query("SELECT current_setting('synchronous_standby_names'), "
                          "(SELECT to_jsonb(s) FROM jobsched.stats s)")[0]
            fig["new_primary_after_promotion"] = {"synchronous_standby_names": r[0],
                                                  "claims_confirmed_by": r[1].get("claims_confirmed_by"),
                                                  "awaiting_sync": r[1].get("awaiting_sync"),
                                                  "worker_state": r[1].get("worker_state")}
        except psycopg2.Error as e:
            fig["new_primary_after_promotion"] = {"error": str(e).strip()}
        primary, standby = self.cluster.wait_sync_pair()
        if primary is not new:
            raise HarnessError("%s leads after the %s, not %s" % (primary.name, fig["scenario"], new.name))
        fig["rejoin_s"] = round(time.time() - first[0], 3)
        say("%s is back as synchronous standby %.1f s after the first request" % (standby.name, fig["rejoin_s"]))
        self.replica_checks(standby, "after the %s (round %d)" % (fig["scenario"], fig["round"]))
        self.scenarios.append(fig)

    # ---- the account -----------------------------------------------------

    def account(self):
        primary, standby = self.cluster.wait_sync_pair()
        sleep(3.0)
        t_end = time.time()
        conn = primary.connect()
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = '30s'")
            cur.execute("SELECT jobsched.pause_job(id) FROM jobsched.jobs WHERE name LIKE 'fo-%%'")
        sleep(2.0)          # runs claimed before the pause still go out
        with conn.cursor() as cur:
            cur.execute("SELECT job_id, (extract(epoch FROM scheduled_for) * 1000000)::bigint, attempt, status, "
                        "sends FROM jobsched.executions")
            execs = cur.fetchall()
            cur.execute("SELECT id, type FROM jobsched.jobs")
            types = dict(cur.fetchall())
        conn.close()
        sleep(0.3)
        arrivals = self.sink.read()
        t_cut_us = int((t_end - CUTOFF_BEFORE_END) // 1) * 1000000
        rep = self.report
        rep["final_primary"] = primary.name
        unknown = [r for r in arrivals if r[1] is None or r[1] not in self.job_type]
        known = [r for r in arrivals if r[1] is not None and r[1] in self.job_type]
        by_key = {}
        for r in known:
            by_key.setdefault((r[1], r[2]), []).append(r[0])

        starts = sorted((f.get("t_freeze", f.get("t_begin")) - 2.0, "round %d %s" % (f["round"], f["scenario"]))
                        for f in self.scenarios)

        def scenario_of(sched_us):
            """The last scenario begun (less 2 s) before the scheduled time."""
            name = "before the scenarios"
            for lo, n in starts:
                if lo * 1e6 <= sched_us:
                    name = n
            return name

        # (1) ATMOST_ONCE at most once
        dups = sorted(k for k, ts in by_key.items() if self.job_type[k[0]] == "ATMOST_ONCE" and len(ts) > 1)
        dup_by = {}
        for k in dups:
            dup_by.setdefault(scenario_of(k[1]), []).append(k)
        rep["atmost_duplicates"] = len(dups)
        rep["atmost_duplicates_by_scenario"] = {s: len(v) for s, v in dup_by.items()}
        self.check("(1) no ATMOST_ONCE run arrived twice", not dups,
                   "%d runs arrived more than once%s" % (len(dups), "".join(
                       "; %s: %d, e.g. %s" % (s, len(v), ", ".join("jobsched-%d-%d x%d" % (k[0], k[1], len(by_key[k]))
                                                                  for k in v[:3])) for s, v in sorted(dup_by.items()))))
        for f in self.scenarios:
            if f["scenario"] == "crash":
                lo, hi = f["t_freeze"] * 1e6, f["t_kill"] * 1e6 + 1e6
                resent = [k for k in dups if lo <= k[1] <= hi]
                f["atmost_sent_twice_freeze_window"] = len(resent)
        # (2) ATLEAST_ONCE: every second from the first run to the cut-off
        lost = []
        atleast_runs = 0
        for jid, kind in self.job_type.items():
            if kind != "ATLEAST_ONCE":
                continue
            s = self.first_run[jid]
            while s <= t_cut_us:
                atleast_runs += 1
                if (jid, s) not in by_key:
                    lost.append((jid, s))
                s += 1000000
        lost_by = {}
        for k in lost:
            lost_by.setdefault(scenario_of(k[1]), []).append(k)
        rep["atleast_runs_expected"] = atleast_runs
        rep["atleast_lost"] = len(lost)
        rep["atleast_lost_by_scenario"] = {s: len(v) for s, v in lost_by.items()}
        self.check("(2) every ATLEAST_ONCE run up to %d s before the end arrived" % CUTOFF_BEFORE_END, not lost,
                   "%d of %d runs missing%s" % (len(lost), atleast_runs, "".join(
                       "; %s: %d, e.g. %s" % (s, len(v), ", ".join("jobsched-%d-%d" % k for k in v[:3]))
                       for s, v in sorted(lost_by.items()))))
        # (3) what the final primary records as succeeded arrived
        succeeded = [(r[0], r[1]) for r in execs if r[3] == "succeeded" and r[0] in self.job_type]
        missing = [k for k in succeeded if k not in by_key]
        rep["executions_final_primary"] = len(execs)
        status_count = {}
        for r in execs:
            if r[0] in self.job_type:
                key = "%s %s" % (self.job_type[r[0]], r[3])
                status_count[key] = status_count.get(key, 0) + 1
        rep["executions_by_status"] = status_count
        self.check("(3) every execution the final primary records as succeeded arrived at the sink", not missing,
                   "%d of %d succeeded executions not seen%s" % (len(missing), len(succeeded), (
                       " (e.g. %s)" % ", ".join("jobsched-%d-%d" % k for k in missing[:3])) if missing else ""))
        # sanity: requests the test does not know
        self.check("every request at the sink belongs to a job of the test", not unknown,
                   "%d unknown requests%s" % (len(unknown), " (e.g. %r)" % (unknown[0][3],) if unknown else ""))
        # accounting figures
        atmost_keys = [k for k in by_key if self.job_type[k[0]] == "ATMOST_ONCE"]
        atleast_keys = [k for k in by_key if self.job_type[k[0]] == "ATLEAST_ONCE"]
        rep["sink_requests"] = len(arrivals)
        rep["runs_arrived"] = len(by_key)
        rep["atmost_runs_arrived"] = len(atmost_keys)
        rep["atleast_runs_arrived"] = len(atleast_keys)
        rep["atleast_resends"] = sum(len(by_key[k]) - 1 for k in atleast_keys)
        exec_keys = {(r[0], r[1]) for r in execs}
        rep["runs_recorded"] = len(exec_keys)
        rep["runs_arrived_not_recorded"] = sum(1 for k in by_key if k not in exec_keys)
        atmost_lost_rows = {(r[0], r[1]) for r in execs if r[3] == "lost"}
        rep["atmost_recorded_lost"] = len(atmost_lost_rows)
        old_rows = {(r[0], r[1]) for h in self.old_primary_history for r in h["rows"]}
        rep["old_primary_runs_unknown_to_final"] = len(old_rows - exec_keys)
        rep["t_end"] = t_end
        rep["t_cut"] = t_cut_us / 1e6

    # ---- the whole run ---------------------------------------------------

    def run(self):
        self.setup()
        sleep(3.0)
        for rnd in range(1, self.args.rounds + 1):
            # odd rounds: (a) then (b), even rounds (b) then (a), so that with several rounds each node is crashed
            for scenario in ((self.switchover, self.crash) if rnd % 2 else (self.crash, self.switchover)):
                scenario(rnd)
                sleep(2.0)
        self.account()


def summary(test, error):
    rep = test.report
    lines = ["failover: seed %d, %d round(s), %d+%d jobs every second, jobsched %s, PostgreSQL %s" % (
        rep["seed"], rep["rounds"], rep["jobs_per_type"], rep["jobs_per_type"], rep.get("extversion"),
        rep.get("bindir"))]
    for f in test.scenarios:
        line = ("failover: round %d %-10s %s -> %s: promoted %.3f s after the %s, first request %.3f s after the "
                "promotion, no request for %s s, standby back after %s s" % (
                    f["round"], f["scenario"], f["old"], f["new"], f["event_to_promotion_s"],
                    "kill" if f["scenario"] == "crash" else "switchover command", f["promote_to_first_s"],
                    f["outage_s"], f["rejoin_s"]))
        if f.get("t_patroni_crash_seen"):
            line += "; Patroni saw the crash %.3f s after the kill" % (f["t_patroni_crash_seen"] - f["t_kill"])
        if f.get("t_patroni_promoted"):
            line += ", logged 'promoted self to leader' %+.3f s from the server's promotion" % (
                f["t_patroni_promoted"] - f["t_promoted"])
        if f["scenario"] == "crash":
            line += ("; freeze: %d ATMOST_ONCE / %d ATLEAST_ONCE requests, old primary had claimed %d ATMOST_ONCE "
                     "runs in it (%d sent), %s of them sent twice" % (
                         f["freeze_arrivals_atmost"], f["freeze_arrivals_atleast"],
                         f["old_atmost_claimed_in_freeze"], f["old_atmost_sent_in_freeze"],
                         f.get("atmost_sent_twice_freeze_window", "?")))
        lines.append(line)
    if "sink_requests" in rep:
        lines.append("failover: accounted: %d requests at the sink, %d runs (%d ATMOST_ONCE, %d ATLEAST_ONCE, "
                     "%d ATLEAST_ONCE re-sends); final primary %s records %d executions %s; %d ATLEAST_ONCE runs "
                     "expected up to the cut-off; ATMOST_ONCE twice: %d; ATLEAST_ONCE lost: %d" % (
                         rep["sink_requests"], rep["runs_arrived"], rep["atmost_runs_arrived"],
                         rep["atleast_runs_arrived"], rep["atleast_resends"], rep["final_primary"],
                         rep["executions_final_primary"], json.dumps(rep["executions_by_status"], sort_keys=True),
                         rep["atleast_runs_expected"], rep["atmost_duplicates"], rep["atleast_lost"]))
    failed = [c for c in test.checks if not c["ok"]]
    lines.append("failover: %d checks, %d failed" % (len(test.checks), len(failed)))
    for c in failed:
        lines.append("failover: FAILED %s -- %s" % (c["name"], c["detail"]))
    if error:
        lines.append("failover: ERROR %s" % error)
    return "\n".join(lines)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pg-config", default=os.environ.get("PG_CONFIG", "pg_config"))
    ap.add_argument("--seed", type=int, help="random seed (default: from the clock, printed)")
    ap.add_argument("--rounds", type=int, default=1, help="rounds of (a) switchover + (b) crash (1)")
    ap.add_argument("--jobs", type=int, default=100, help="jobs of each type, every second (100)")
    ap.add_argument("--time-limit", type=float, help="seconds for the whole run (175, +100 per further round)")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR (must be empty) and keep it")
    ap.add_argument("--report", metavar="FILE", help="write the figures and checks as JSON to FILE")
    args = ap.parse_args(argv)
    if args.seed is None:
        args.seed = int(time.time() * 1000) % 1000000007
    if args.time_limit is None:
        args.time_limit = 175.0 + 100.0 * (args.rounds - 1)
    if args.rounds < 1 or args.jobs < 1:
        ap.error("--rounds and --jobs must be at least 1")
    return args


def missing_tools():
    return [t for t in ("patroni", "patronictl", "etcd") if shutil.which(t) is None]


def main(argv=None):
    args = parse_args(argv)
    say("seed %d (python3 test/failover.py --seed %d --rounds %d --jobs %d --pg-config %s)" % (
        args.seed, args.seed, args.rounds, args.jobs, args.pg_config))
    if os.geteuid() == 0:
        say("PostgreSQL refuses to run as root: run this as another user, e.g. "
            "runuser -u postgres -- python3 test/failover.py ...")
        return 1
    missing = missing_tools()
    if missing:
        say("not installed: %s (Debian: apt-get install patroni etcd-server)" % ", ".join(missing))
        return 1
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        if os.listdir(args.keep):
            say("--keep %s: the directory must be empty" % args.keep)
            return 1
        workdir = os.path.abspath(args.keep)
    else:
        workdir = tempfile.mkdtemp(prefix="jobsched-failover.", dir="/tmp")
    os.chmod(workdir, 0o700)
    DEADLINE[0] = T_START + args.time_limit

    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    # a last resort if the main thread is stuck in a call that does not return: kill everything and exit
    def watchdog():
        while time.time() < DEADLINE[0] + 45:
            time.sleep(1)
        say("ERROR the run is stuck past its time limit; killing everything")
        kill_everything(workdir)
        os._exit(1)
    threading.Thread(target=watchdog, daemon=True).start()

    test = Test(args, workdir)
    error = None
    try:
        test.run()
    except KeyboardInterrupt as e:
        error = "interrupted (%s)" % e
    except HarnessError as e:
        error = "harness: %s" % e
        say("ERROR " + traceback.format_exc())
    except Exception:
        error = traceback.format_exc().strip().splitlines()[-1]
        say("ERROR " + traceback.format_exc())
    finally:
        kill_everything(workdir)
    text = summary(test, error)
    print(text, flush=True)
    ok = error is None and all(c["ok"] for c in test.checks) and test.checks
    test.report.update({"ok": bool(ok), "error": error, "checks": test.checks, "scenarios": test.scenarios,
                        "seconds": round(time.time() - T_START, 1)})
    try:
        with open(os.path.join(workdir, "report.json"), "w") as f:
            json.dump(test.report, f, indent=1, default=str)
            f.write("\n")
        with open(os.path.join(workdir, "old_primary_history.json"), "w") as f:
            json.dump(test.old_primary_history, f)
    except OSError:
        pass
    if args.report:
        with open(args.report, "w") as f:
            json.dump(test.report, f, indent=1, default=str)
            f.write("\n")
    if ok:
        say("PASS in %.0f s (seed %d)" % (time.time() - T_START, args.seed))
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return 0
    say("FAIL in %.0f s (seed %d); work dir kept: %s (node*/log/postgresql.log, node*/patroni.log, sink.log, "
        "report.json)" % (time.time() - T_START, args.seed, workdir))
    return 1


if __name__ == "__main__":
    sys.exit(main())
