"""Active/standby jqd on PostgreSQL, for test_failover.py and
test_pg_primary.py (Python standard library only).

  Database    where the nodes keep their state: the server JQTEST_PG
              names (tests/pg.sh), else a throwaway cluster of our own
              (pgcluster.py); a fresh schema per test.
  Node        one jqd on fixed ports (TCP, Unix socket, metrics) that
              survive restarts, so an address list stays valid: start()
              says whether it came up active or standing by.
  PGProxy     a loopback TCP proxy between a jqd and PostgreSQL that can
              cut (reset every proxied connection, refuse new ones) at
              once, or at the COMMIT of a transaction that writes values
              (before it reaches the server, or after the server answered
              it), and heal.
  Workload    client threads on an address list: senders (single values
              and batches, some keyed, pipelined), leasing consumers
              (ack, some nack), a submitter of small keyed jobs.  Every
              outcome goes to a Ledger.
  Ledger.check  the count after the load: the channel drained from the
              active node, every job listed; returns the summary and the
              violations (duplicates, lost, phantoms).

What the checker holds jqd to (PROTOCOL.md 6): an acknowledged send
(`ok`, or `duplicate` for a key sent before) is present exactly once at
the end, or was acked by a consumer whose ack was answered ok (then it
is absent), or its ack's reply was lost (present at most once); a value
leased and not acked may come back (at least once); a send answered
`internal` is never present, one whose reply was lost at most once; a
keyed send whose reply was lost is sent again with its key until it is
answered, and is then present exactly once.  Every submit carries a key
and is sent again until answered: each is then exactly one job, with
its name, that ends succeeded with the right output; no other job
exists.
"""

import collections
import os
import random
import re
import select
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

import jqtest
import pgcluster
from jqtest import Client, ConnectionClosed, ReplyTimeout

# The prefix of every value the workload sends: the proxy finds a
# transaction that writes values by it.
VALUE_PREFIX = "fo:"
# A client waits this long for a reply before it gives the connection up
# (a node cut from its database holds replies it cannot commit).
READ_TIMEOUT_S = 3.0
# Connecting and answering a ping, for "the node serves".
PING_TIMEOUT_S = 2.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg):
    sys.stderr.write("%s\n" % msg)
    sys.stderr.flush()


# -- the database -------------------------------------------------------------

def parse_conninfo(conninfo):
    """The keywords of a libpq keyword string (not a URI), as a dict."""
    out = {}
    for m in re.finditer(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", conninfo):
        v = m.group(2)
        if v.startswith("'"):
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        out[m.group(1)] = v
    return out


class Database:
    """JQTEST_PG, else a cluster of our own in a temporary directory
    (fsync off: the tests kill jqd, never the database).  Raises
    pgcluster.NotInstalled without PostgreSQL."""

    def __init__(self):
        self.dir = None
        self.cluster = None
        self.conninfo = os.environ.get("JQTEST_PG") or None
        if self.conninfo is None:
            pgcluster.bindir()
            self.dir = tempfile.mkdtemp(prefix="jqd-fo-")
            os.chmod(self.dir, 0o755)
            self.cluster = pgcluster.Cluster(os.path.join(self.dir, "pg"),
                                             fsync=False).start()
            self.conninfo = self.cluster.conninfo()
        else:
            pgcluster.psql_path()

    def close(self):
        if self.cluster is not None:
            self.cluster.stop()
        if self.dir is not None:
            shutil.rmtree(self.dir, True)

    def new_schema(self, tag):
        name = "jqfo_%s_%d_%06x" % (tag, os.getpid(),
                                    random.getrandbits(24))
        pgcluster.create_schema(self.conninfo, name)
        return name

    def drop_schema(self, name):
        try:
            pgcluster.drop_schema(self.conninfo, name)
        except (pgcluster.PGError, subprocess.SubprocessError) as e:
            log("failover: schema %s left behind: %s" % (name, e))

    def store(self, schema, conninfo=None):
        return jqtest.pg_store(conninfo or self.conninfo, schema)

    def tcp_endpoint(self):
        """(host, port) of the server over TCP, for a proxy; None (and
        why) when there is none to reach."""
        if re.match(r"postgres(ql)?://", self.conninfo):
            return None, "JQTEST_PG is a URI; the proxy needs keywords"
        kw = parse_conninfo(self.conninfo)
        host = kw.get("host", "")
        if "," in host:
            return None, "JQTEST_PG names several hosts"
        # A socket directory: pgcluster's clusters listen on 127.0.0.1
        # on the same port.
        if host == "" or host.startswith("/"):
            host = "127.0.0.1"
        port = int(kw.get("port", "5432"))
        try:
            socket.create_connection((host, port), 5).close()
        except OSError as e:
            return None, "no TCP to the database at %s:%d: %s" % (host,
                                                                   port, e)
        return (host, port), None

    def via(self, host, port):
        """self.conninfo, but over TCP to host:port (a proxy)."""
        return "%s host=%s port=%d" % (self.conninfo, host, port)


# -- a jqd node ---------------------------------------------------------------

class Node:
    """A jqd on fixed ports, started again on the same ones: --listen
    127.0.0.1:P --insecure-tcp, --unix, --metrics, --store, --job-dir.
    Its stderr is read for its whole life; lines of every run are kept."""

    def __init__(self, name, store, workdir, args=()):
        self.name = name
        self.store = store
        self.workdir = workdir
        self.args = [str(a) for a in args]
        self.port = free_port()
        self.metrics_port = free_port()
        self.unix_path = os.path.join(workdir, name + ".sock")
        self.proc = None
        self.runs = 0
        self.lines = []         # this run's
        self.history = []       # every run's, prefixed
        self.cond = threading.Condition()
        self.eof = True
        self.reader = None
        self.returncode = None

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def start(self, timeout=jqtest.START_TIMEOUT_S):
        """Start jqd; return "active" or "standby" once it says which."""
        self.spawn()
        return self.role(timeout)

    def spawn(self):
        """Start jqd and return at once (role() tells what it became)."""
        assert not self.alive(), "%s runs already" % self.name
        jqd = os.environ["JQD"]
        cmd = shlex.split(os.environ.get("JQD_WRAPPER", "")) + [
            jqd, "--listen", self.addr, "--insecure-tcp",
            "--unix", self.unix_path,
            "--metrics", "127.0.0.1:%d" % self.metrics_port,
            "--store", self.store, "--job-dir", self.workdir] + self.args
        self.runs += 1
        with self.cond:
            self.lines = []
            self.eof = False
        self.returncode = None
        # Started from the main thread: PR_SET_PDEATHSIG fires when the
        # forking thread ends.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE,
                                     cwd=self.workdir,
                                     preexec_fn=jqtest._child_setup)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def role(self, timeout=jqtest.START_TIMEOUT_S):
        """"active" or "standby", once this run of jqd says which."""
        rx = re.compile(r"info: ready$|standby: another jqd is active")
        with self.cond:
            self.cond.wait_for(lambda: self.eof or any(
                rx.search(l) for l in self.lines), timeout)
            lines = list(self.lines)
        for l in lines:
            if re.search(r"info: ready$", l):
                return "active"
            if "standby: another jqd is active" in l:
                return "standby"
        self.kill()
        raise AssertionError("%s did not come up within %s s:\n%s"
                             % (self.name, timeout, "\n".join(lines)))

    def _read(self):
        echo = os.environ.get("JQTEST_ECHO")
        run = self.runs
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if echo:
                log("%s.%d| %s" % (self.name, run, line))
            with self.cond:
                self.lines.append(line)
                self.history.append("%s.%d| %s" % (self.name, run, line))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_index(self):
        with self.cond:
            return len(self.lines)

    def wait_log(self, pattern, timeout=jqtest.WAIT_TIMEOUT_S, start=0):
        """The first line of this run from index start matching pattern;
        fails after timeout or when jqd's stderr ends first."""
        rx = re.compile(pattern)
        found = []

        def seen():
            for l in self.lines[start:]:
                if rx.search(l):
                    found.append(l)
                    return True
            return self.eof
        with self.cond:
            self.cond.wait_for(seen, timeout)
        if not found:
            raise AssertionError("%s: no log line matching %r within %s s%s"
                                 "\n%s" % (self.name, pattern, timeout,
                                           " (jqd exited)" if self.eof
                                           else "", self.text()))
        return found[0]

    def has_log(self, pattern):
        with self.cond:
            return any(re.search(pattern, l) for l in self.lines)

    def text(self):
        with self.cond:
            return "\n".join(self.lines)

    def _reap(self, timeout):
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.reader.join(10)
        self.proc.stderr.close()
        return self.returncode

    def kill(self):
        """SIGKILL and wait.  Returns the time of the kill (monotonic)."""
        t = time.monotonic()
        if self.alive():
            self.proc.kill()
        if self.proc is not None and self.returncode is None:
            self._reap(None)
        return t

    def sigterm(self):
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout):
        """The exit status, or None if it still runs after timeout s."""
        if self.returncode is not None:
            return self.returncode
        return self._reap(timeout)

    def metrics(self):
        """The metrics page as {name: value}, labels left out (the last
        series of a name wins)."""
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics"
                                    % self.metrics_port, timeout=10) as f:
            text = f.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name.split("{")[0]] = float(value)
        return out

    def problems(self):
        with self.cond:
            return [l for l in self.history
                    if any(m in l for m in jqtest.SANITIZER_MARKERS)]

    def stop(self):
        if self.alive():
            self.sigterm()
            if self.wait(jqtest.STOP_TIMEOUT_S) is None:
                self.kill()


def serves(addr, timeout=PING_TIMEOUT_S):
    """Does addr accept a connection and answer ping?"""
    try:
        c = Client(addr, timeout=timeout)
    except OSError:
        return False
    try:
        return c.call("ping", reply_timeout=timeout)["ok"] is True
    except (OSError, ConnectionClosed, ReplyTimeout):
        return False
    finally:
        c.close()


def wait_serves(addr, since, timeout=30):
    """Poll until addr serves; the seconds from since (monotonic) to the
    answered ping."""
    deadline = time.monotonic() + timeout
    while not serves(addr):
        if time.monotonic() > deadline:
            raise AssertionError("%s did not serve within %s s" % (addr,
                                                                   timeout))
        time.sleep(0.005)
    return time.monotonic() - since


def refused(port):
    """Is a connection to 127.0.0.1:port refused?"""
    try:
        socket.create_connection(("127.0.0.1", port), 2).close()
    except ConnectionRefusedError:
        return True
    return False


# -- a proxy that cuts --------------------------------------------------------

class PGProxy:
    """127.0.0.1:port -> target, one thread (select), so that a cut
    closes every socket at once with a reset (SO_LINGER 0), as when the
    server drops a session or the network resets it.

    cut(mode): "now"; "before-commit": at the next COMMIT of a
    transaction that writes a value, which is not passed on (the server
    rolls back); "after-commit": the COMMIT passes, the server's answer
    is held back and the cut follows it (committed, but jqd never hears
    so); "at-prepare": when jqd prepares its statements (the last step
    of connecting again), before the server sees them.  Until heal(),
    new connections are reset at accept; heal(then=mode) arms the next
    cut at once.  The values of the transaction cut at its COMMIT are in
    .cut_values; .cut_at is when the cut happened."""

    def __init__(self, target):
        self.target = target
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.wake_r, self.wake_w = socket.socketpair()
        self.lock = threading.Lock()
        self.cmds = collections.deque()
        self.pairs = {}             # sock -> Pair
        self.refusing = False
        self.armed = None
        self.cut_done = threading.Event()
        self.cut_values = []
        self.cut_at = None
        self.cuts = 0
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    class Pair:
        def __init__(self, client, server):
            self.client = client
            self.server = server
            self.writes_value = False   # the open transaction does
            self.held = None            # s2c bytes held: the commit's
            self.txn_values = []

    def _cmd(self, *cmd):
        with self.lock:
            self.cmds.append(cmd)
        self.wake_w.send(b"x")

    def cut(self, mode="now"):
        """Arm (or do) a cut; cut_done is set when it happened."""
        self.cut_done.clear()
        self._cmd("cut", mode)

    def heal(self, then=None):
        if then is not None:
            self.cut_done.clear()
        self._cmd("heal", then)

    def close(self):
        self._cmd("quit")
        self.thread.join(10)
        self.wake_w.close()

    @staticmethod
    def _reset(sock):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        except OSError:
            pass
        sock.close()

    def _cut_all(self):
        for p in set(self.pairs.values()):
            self._reset(p.client)
            self._reset(p.server)
        self.pairs.clear()
        self.refusing = True
        self.armed = None
        self.cuts += 1
        self.cut_at = time.monotonic()
        self.cut_done.set()

    def _close_pair(self, p):
        for s in (p.client, p.server):
            self.pairs.pop(s, None)
            s.close()

    def _accept(self):
        c, _ = self.lsock.accept()
        if self.refusing:
            self._reset(c)
            return
        try:
            s = socket.create_connection(self.target, 10)
        except OSError:
            self._reset(c)
            return
        p = self.Pair(c, s)
        self.pairs[c] = p
        self.pairs[s] = p

    def _forward(self, p, sock, data):
        if sock is p.client:
            # jqd -> server.  Bind messages carry the values as bytes.
            vals = re.findall(rb'"(' + re.escape(VALUE_PREFIX.encode()) +
                              rb'[^"]*)"', data)
            if vals:
                p.writes_value = True
                p.txn_values += [v.decode() for v in vals]
            # The Parse of statement s0 (store-int.h's first, STMT_CHAN_MAKE):
            # pg_prepare, the last step of store-pg.c's reconnect.
            if self.armed == "at-prepare" and \
                    b"s0\x00INSERT INTO chans" in data:
                self.cut_values = []
                self._cut_all()
                return
            commit = b"COMMIT\x00" in data
            if commit and p.writes_value and self.armed == "before-commit":
                self.cut_values = list(p.txn_values)
                self._cut_all()
                return
            p.server.sendall(data)
            if commit:
                if p.writes_value and self.armed == "after-commit":
                    p.held = b""
                    self.cut_values = list(p.txn_values)
                p.writes_value = False
                p.txn_values = []
            return
        # server -> jqd
        if p.held is not None:
            p.held += data
            # CommandComplete of the COMMIT: committed; jqd never hears.
            if b"COMMIT\x00" in p.held:
                self._cut_all()
            return
        p.client.sendall(data)

    def _loop(self):
        while self.running:
            socks = [self.lsock, self.wake_r] + list(self.pairs)
            r, _, _ = select.select(socks, [], [], 1.0)
            for sock in r:
                if sock is self.wake_r:
                    self.wake_r.recv(4096)
                    self._commands()
                elif sock is self.lsock:
                    self._accept()
                elif sock in self.pairs:
                    p = self.pairs[sock]
                    try:
                        data = sock.recv(1 << 16)
                    except OSError:
                        data = b""
                    if not data:
                        self._close_pair(p)
                        continue
                    try:
                        self._forward(p, sock, data)
                    except OSError:
                        self._close_pair(p)
        for p in set(self.pairs.values()):
            self._close_pair(p)
        self.lsock.close()
        self.wake_r.close()

    def _commands(self):
        while True:
            with self.lock:
                if not self.cmds:
                    return
                cmd = self.cmds.popleft()
            if cmd[0] == "cut":
                if cmd[1] == "now":
                    self.cut_values = []
                    self._cut_all()
                else:
                    self.armed = cmd[1]
            elif cmd[0] == "heal":
                self.refusing = False
                self.armed = cmd[1]
            elif cmd[0] == "quit":
                self.running = False


# -- the ledger ---------------------------------------------------------------

class Ledger:
    """What the clients were told, per value and per job."""

    def __init__(self, chan):
        self.chan = chan
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        # value -> 'pending' (keyed, not answered yet), 'ok', 'dup',
        # 'unknown' (reply lost), 'refused' (internal)
        self.sends = {}
        self.received = collections.Counter()
        self.acked = collections.Counter()      # ack answered ok
        self.ack_unknown = set()                # ack's reply lost
        self.jobs = {}          # name -> {"argv", "id" (None: pending)}
        self.violations = []
        self.c = collections.Counter()          # counters for the summary
        self.must_be_absent = set()             # probes a cut node held

    def violation(self, msg):
        with self.lock:
            self.violations.append(msg)
        log("failover: VIOLATION: %s" % msg)

    def count(self, name, n=1):
        with self.lock:
            self.c[name] += n
            self.cond.notify_all()

    def snapshot(self):
        with self.lock:
            return collections.Counter(self.c)

    def wait_backlog_below(self, n, timeout):
        with self.cond:
            return self.cond.wait_for(
                lambda: self.c["acked_sends_values"] - self.c["acks_ok"] < n,
                timeout)

    # sends
    def send_attempt(self, values):
        with self.lock:
            for v in values:
                self.sends.setdefault(v, "pending")

    def send_settled(self, values, state):
        with self.lock:
            for v in values:
                self.sends[v] = state
            if state in ("ok", "dup"):
                self.c["acked_sends"] += 1
                self.c["acked_sends_values"] += len(values)
            self.c["sends_" + state] += 1
            self.cond.notify_all()

    # consumers
    def got(self, values):
        bad = []
        with self.lock:
            for v in values:
                self.received[v] += 1
                if self.sends.get(v) in (None, "refused"):
                    bad.append(v)
            self.c["received"] += len(values)
        for v in bad:
            self.violation("received %r, which was never sent (%s)"
                           % (v, self.sends.get(v)))

    def ack_ok(self, v):
        with self.lock:
            self.acked[v] += 1
            n = self.acked[v]
            self.c["acks_ok"] += 1
            self.cond.notify_all()
        if n > 1:
            self.violation("value %r acked (ok) %d times" % (v, n))

    def ack_lost(self, v):
        with self.lock:
            self.ack_unknown.add(v)
            self.c["acks_unknown"] += 1

    # the final count
    def check(self, addr, job_timeout=60):
        """Drain the channel on addr and list every job: the summary
        (a Counter) and the violations (a list of strings)."""
        c = Client(addr)
        try:
            return self._check(c, job_timeout)
        finally:
            c.close()

    def _check(self, c, job_timeout):
        out = collections.Counter()
        problems = list(self.violations)
        # The consumers' connections are closed: their leases come back.
        jqtest.wait_until(lambda: c.ok("stat", chan=self.chan)["leased"]
                          == 0, what="leases of %s back" % self.chan)
        present = collections.Counter()
        while True:
            r = c.call("recv", chan=self.chan, max=1000, timeout_ms=0)
            if not r["ok"]:
                if r["error"]["code"] != "timeout":
                    problems.append("drain: %r" % r)
                break
            present.update(r["values"])
        out["drained"] = sum(present.values())
        acked_sends = [v for v, s in self.sends.items() if s in ("ok",
                                                                  "dup")]
        out["acked_send_values"] = len(acked_sends)
        dups = [v for v, n in present.items() if n > 1]
        dups += [v for v, n in self.acked.items() if n > 1]
        dups += [v for v in present if self.acked[v] > 0]
        lost = [v for v in acked_sends if present[v] == 0 and
                self.acked[v] == 0 and v not in self.ack_unknown]
        phantom = [v for v in present if self.sends.get(v) in (None,
                                                                "refused")]
        phantom += [v for v in present if v in self.must_be_absent]
        pending = [v for v, s in self.sends.items() if s == "pending"]
        out["duplicates"] = len(dups)
        out["lost"] = len(lost)
        out["phantom"] = len(phantom)
        for name, vs in (("duplicated", dups), ("lost", lost),
                         ("never sent, or held by a cut node, yet present",
                          phantom),
                         ("keyed sends never answered", pending)):
            if vs:
                problems.append("%d values %s: %s" % (len(vs), name,
                                                      sorted(vs)[:20]))
        out["unknown_sends_present"] = sum(
            1 for v, s in self.sends.items() if s == "unknown" and present[v])
        problems += self._check_jobs(c, out, job_timeout)
        return out, problems

    def _all_jobs(self, c):
        jobs, before = [], None
        while True:
            f = {"limit": 1000}
            if before is not None:
                f["before"] = before
            page = c.ok("jobs", **f)["jobs"]
            if not page:
                return jobs
            jobs += page
            before = page[-1]["job"]

    def _check_jobs(self, c, out, timeout):
        problems = []
        jqtest.wait_until(
            lambda: not c.ok("jobs", state="queued", limit=1)["jobs"] and
            not c.ok("jobs", state="running", limit=1)["jobs"],
            timeout=timeout, what="every job final")
        jobs = self._all_jobs(c)
        names = collections.Counter(j["name"] for j in jobs)
        out["jobs"] = len(jobs)
        twice = [n for n, k in names.items() if k > 1]
        unknown = [n for n in names if n not in self.jobs]
        pending = [n for n, j in self.jobs.items() if j["id"] is None]
        missing = [n for n, j in self.jobs.items()
                   if j["id"] is not None and names[n] == 0]
        byname = {j["name"]: j for j in jobs}
        wrong_id = [n for n, j in self.jobs.items() if j["id"] is not None
                    and n in byname and byname[n]["job"] != j["id"]]
        not_ok = ["%s: %s %s" % (n, j["state"], j.get("error"))
                  for n, j in byname.items() if j["state"] != "succeeded"]
        # Output: the echo jobs' (a long reply each, pipelined).
        echo = [byname[n] for n, j in self.jobs.items()
                if n in byname and j["argv"][0] == "echo"]
        bad_out = []
        for i in range(0, len(echo), 200):
            chunk = echo[i:i + 200]
            rs = c.pipeline([{"id": k + 1, "op": "job", "job": j["job"]}
                             for k, j in enumerate(chunk)])
            for j, r in zip(chunk, rs):
                if not r["ok"] or r["stdout"] != j["name"] + "\n":
                    bad_out.append((j["name"], r.get("stdout")))
        out["job_duplicates"] = len(twice)
        out["jobs_lost"] = len(missing)
        out["interrupted_reruns"] = sum(1 for j in jobs if j["attempt"] > 1)
        for what, xs in (("jobs with one name twice", twice),
                         ("jobs never submitted", unknown),
                         ("submits never answered", pending),
                         ("acknowledged submits without a job", missing),
                         ("jobs under another id than acknowledged",
                          wrong_id),
                         ("jobs not succeeded", not_ok),
                         ("echo jobs with wrong output", bad_out)):
            if xs:
                problems.append("%d %s: %s" % (len(xs), what,
                                               sorted(xs)[:20]))
        return problems


# -- clients ------------------------------------------------------------------

class Broken(Exception):
    """The connection failed: the requests without a reply are unknown.
    timeout: no reply came (the node may hold it for a commit it cannot
    make), a reason to try the next node."""

    def __init__(self, msg, timeout=False):
        super().__init__(msg)
        self.timeout = timeout


class Actor(threading.Thread):
    """A client thread on an address list: it keeps the index of the
    address that served last and starts there (the client libraries'
    rule); after an `internal`, or a reply that does not come within
    READ_TIMEOUT_S, it moves on to the next one: a node cut from its
    database refuses changes, and holds the replies that wait for a
    commit (a keyed send's retry included: its `duplicate` waits for the
    key's commit) until it can commit or learns it was replaced."""

    def __init__(self, wl, name):
        super().__init__(name=name, daemon=True)
        self.wl = wl
        self.ledger = wl.ledger
        self.rng = random.Random(wl.rng.random())
        self.idx = self.rng.randrange(len(wl.addrs))
        self.conn = None
        self.addr = None

    def connect(self):
        deadline = time.monotonic() + self.wl.dial_timeout
        addrs = self.wl.addrs
        while True:
            for k in range(len(addrs)):
                i = (self.idx + k) % len(addrs)
                try:
                    self.conn = Client(addrs[i], timeout=2)
                    self.idx = i
                    self.addr = addrs[i]
                    return self.conn
                except OSError:
                    pass
            if time.monotonic() > deadline:
                raise AssertionError("%s: no node of %s served for %s s"
                                     % (self.name, addrs,
                                        self.wl.dial_timeout))
            time.sleep(0.01)

    def drop(self, rotate=False):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if rotate:
            self.idx = (self.idx + 1) % len(self.wl.addrs)

    def read(self):
        try:
            return self.conn.read_reply(READ_TIMEOUT_S)
        except ReplyTimeout as e:
            raise Broken(str(e), timeout=True)
        except (ConnectionClosed, OSError) as e:
            raise Broken(str(e))

    def write(self, op, **fields):
        try:
            return self.conn.request(op, **fields)
        except OSError as e:
            raise Broken(str(e))

    def run(self):
        try:
            self.work()
        except Exception as e:  # reported by Workload.stop
            self.wl.errors.append("%s: %s\n%s" % (self.name, e,
                                                  traceback.format_exc()))
        finally:
            self.drop()


class Request:
    def __init__(self, op, fields, values=(), keyed=False):
        self.op = op
        self.fields = fields
        self.values = list(values)
        self.keyed = keyed
        self.tries = 0
        self.addr = None
        self.written_at = None


class Pipelined(Actor):
    """Requests pipelined up to `window`; keyed ones are sent again
    (first) until answered, the others settle as lost on a failure."""

    window = 8

    def __init__(self, wl, name):
        super().__init__(wl, name)
        self.retry = collections.deque()
        self.out = collections.deque()

    def next_request(self):
        raise NotImplementedError

    def settle(self, req, r):
        """Answered: returns True to retry it (keyed, refused)."""
        raise NotImplementedError

    def lost(self, req):
        """Its reply was lost; returns True to retry it."""
        raise NotImplementedError

    def fail_outstanding(self):
        while self.out:
            _, req = self.out.popleft()
            if self.lost(req):
                self.retry.append(req)

    def work(self):
        rotate_after = False
        while True:
            stopping = self.wl.stopping.is_set()
            if stopping and not self.out and not self.retry:
                return
            if self.conn is None:
                self.connect()
            try:
                while len(self.out) < self.window and not rotate_after:
                    if self.retry:
                        req = self.retry.popleft()
                    elif not self.wl.stopping.is_set():
                        req = self.next_request()
                        if req is None:
                            break
                    else:
                        break
                    req.tries += 1
                    req.addr = self.addr
                    req.written_at = time.monotonic()
                    try:
                        rid = self.write(req.op, **req.fields)
                    except Broken:
                        # Perhaps partly written: as good as sent.
                        self.out.append((None, req))
                        raise
                    self.out.append((rid, req))
                if not self.out:
                    if rotate_after:
                        rotate_after = False
                        self.drop(rotate=True)
                    continue
                r = self.read()
            except Broken as e:
                self.fail_outstanding()
                self.drop(rotate=rotate_after or e.timeout)
                rotate_after = False
                continue
            rid, req = self.out.popleft()
            if r["id"] != rid:
                raise AssertionError("reply %r to request %d" % (r, rid))
            if not r["ok"] and r["error"]["code"] == "internal":
                rotate_after = True
            if self.settle(req, r):
                self.retry.append(req)


class Sender(Pipelined):
    """Single values and batches of 2-4, half of each keyed; pauses while
    the backlog (acknowledged, not yet acked) exceeds wl.max_backlog."""

    def __init__(self, wl, name):
        super().__init__(wl, name)
        self.n = 0

    def next_request(self):
        if not self.ledger.wait_backlog_below(self.wl.max_backlog, 0.2):
            return None
        k = self.rng.random()
        nvals = 1 if k < 0.7 else self.rng.randint(2, 4)
        values = []
        for _ in range(nvals):
            self.n += 1
            values.append("%s%s-%d" % (VALUE_PREFIX, self.name, self.n))
        keyed = self.rng.random() < 0.5
        f = {"chan": self.wl.chan}
        if nvals == 1 and self.rng.random() < 0.7:
            f["value"] = values[0]
        else:
            f["values"] = values
        if keyed:
            f["key"] = "k:" + values[0]
        self.ledger.send_attempt(values)
        return Request("send", f, values, keyed)

    def settle(self, req, r):
        L = self.ledger
        if r["ok"]:
            if r.get("duplicate"):
                if req.tries == 1:
                    L.violation("first send of key %r answered duplicate"
                                % req.fields["key"])
                L.send_settled(req.values, "dup")
                L.count("keyed_retry_dup")
            else:
                if req.tries > 1:
                    L.count("keyed_retry_ok")
                L.send_settled(req.values, "ok")
                self.wl.change_ok(req.addr, req.written_at)
            return False
        code = r["error"]["code"]
        if code in ("internal", "exists"):
            L.count("send_" + code)
            if req.keyed:
                return True
            L.send_settled(req.values, "refused")
            return False
        L.violation("send %r answered %r" % (req.fields, r))
        L.send_settled(req.values, "refused")
        return False

    def lost(self, req):
        if req.keyed:
            self.ledger.count("keyed_lost_replies")
            return True
        self.ledger.send_settled(req.values, "unknown")
        return False


class Submitter(Pipelined):
    """Keyed submits of `true` and `echo NAME` (retries 10), paced at
    wl.job_rate a second."""

    window = 4

    def __init__(self, wl, name):
        super().__init__(wl, name)
        self.n = 0
        self.next_at = time.monotonic()

    def next_request(self):
        now = time.monotonic()
        if now < self.next_at:
            if self.out:
                return None
            time.sleep(min(0.2, self.next_at - now))
            return None
        self.next_at = max(now, self.next_at) + 1.0 / self.wl.job_rate
        self.n += 1
        name = "%s-%d" % (self.name, self.n)
        argv = ["echo", name] if self.n % 2 else ["true"]
        with self.ledger.lock:
            self.ledger.jobs[name] = {"argv": argv, "id": None}
        return Request("submit", {"argv": argv, "name": name, "key": name,
                                  "retries": 10}, keyed=True)

    def settle(self, req, r):
        L = self.ledger
        name = req.fields["name"]
        if r["ok"]:
            if r.get("duplicate"):
                if req.tries == 1:
                    L.violation("first submit of %r answered duplicate"
                                % name)
                L.count("submit_retry_dup")
            else:
                if req.tries > 1:
                    L.count("submit_retry_ok")
                self.wl.change_ok(req.addr, req.written_at)
            with L.lock:
                L.jobs[name]["id"] = r["job"]
            L.count("jobs_acked")
            return False
        if r["error"]["code"] == "internal":
            L.count("submit_internal")
            return True
        L.violation("submit %r answered %r" % (req.fields, r))
        return True

    def lost(self, req):
        self.ledger.count("submit_lost_replies")
        return True


class Consumer(Actor):
    """recv with a lease (max 16), then ack (90%) or nack each value."""

    def work(self):
        L = self.ledger
        while not self.wl.stopping.is_set():
            if self.conn is None:
                self.connect()
            try:
                rid = self.write("recv", chan=self.wl.chan, max=16,
                                 lease_ms=self.wl.lease_ms, timeout_ms=300)
                r = self.read()
            except Broken as e:
                self.drop(rotate=e.timeout)
                continue
            assert r["id"] == rid, r
            if not r["ok"]:
                code = r["error"]["code"]
                if code == "internal":
                    self.drop(rotate=True)
                elif code != "timeout":
                    L.violation("recv answered %r" % r)
                continue
            L.got(r["values"])
            ops = []
            written_at = time.monotonic()
            try:
                for v, lease in zip(r["values"], r["leases"]):
                    op = "ack" if self.rng.random() < 0.9 else "nack"
                    ops.append((op, v, self.write(op, chan=self.wl.chan,
                                                  lease=lease)))
            except Broken:
                # Some written, perhaps applied: each ack is unknown.
                for v in r["values"]:
                    L.ack_lost(v)
                self.drop()
                continue
            rotate = False
            for i, (op, v, rid) in enumerate(ops):
                try:
                    r = self.read()
                except Broken as e:
                    for op2, v2, _ in ops[i:]:
                        if op2 == "ack":
                            L.ack_lost(v2)
                    self.drop(rotate=e.timeout)
                    break
                assert r["id"] == rid, r
                if r["ok"]:
                    if op == "ack":
                        L.ack_ok(v)
                    self.wl.change_ok(self.addr, written_at)
                    continue
                code = r["error"]["code"]
                if code == "not_found":
                    L.count("lease_gone")       # expired, or an older node's
                elif code == "internal":
                    rotate = True               # refused: the lease stays
                else:
                    L.violation("%s answered %r" % (op, r))
            if rotate:
                self.drop(rotate=True)


class Workload:
    """Senders, consumers and a submitter on the address list addrs, all
    writing to ledger.  start(), then stop() (which waits until every
    keyed request is answered)."""

    def __init__(self, addrs, chan, seed, senders=2, consumers=2,
                 submitters=1, lease_ms=3000, max_backlog=3000,
                 job_rate=40, dial_timeout=60):
        self.addrs = list(addrs)
        self.chan = chan
        self.rng = random.Random(seed)
        self.ledger = Ledger(chan)
        self.lease_ms = lease_ms
        self.max_backlog = max_backlog
        self.job_rate = job_rate
        self.dial_timeout = dial_timeout
        self.stopping = threading.Event()
        self.errors = []
        # addr -> the latest write time of a change it answered ok (a
        # duplicate changes nothing and is not one)
        self.last_change_ok = {}
        self.lock = threading.Lock()
        self.actors = [Sender(self, "s%d" % i) for i in range(senders)]
        self.actors += [Consumer(self, "c%d" % i) for i in range(consumers)]
        self.actors += [Submitter(self, "j%d" % i)
                        for i in range(submitters)]

    def start(self):
        for a in self.actors:
            a.start()

    def change_ok(self, addr, written_at):
        with self.lock:
            if written_at > self.last_change_ok.get(addr, 0):
                self.last_change_ok[addr] = written_at

    def progress(self):
        """(acked sends, acks ok, jobs acked) so far."""
        s = self.ledger.snapshot()
        return (s["acked_sends"], s["acks_ok"], s["jobs_acked"])

    def wait_progress(self, since, timeout=30, what=""):
        """Until each count of progress() passed since's (or failed)."""
        def moved():
            if self.errors:
                raise AssertionError("client thread failed:\n%s"
                                     % "\n".join(self.errors))
            now = self.progress()
            return all(n > s for n, s in zip(now, since))
        try:
            jqtest.wait_until(moved, timeout=timeout, what="progress %s "
                              "(since %r)" % (what, since))
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.describe()))

    def describe(self):
        """Each client thread: where it is connected, what it waits for."""
        frames = sys._current_frames()
        out = ["counters: %r" % dict(self.ledger.snapshot())]
        for a in self.actors:
            f = frames.get(a.ident)
            where = ""
            while f is not None:
                where = "%s:%d %s" % (os.path.basename(f.f_code.co_filename),
                                      f.f_lineno, f.f_code.co_name)
                if f.f_code.co_filename.endswith("failover.py"):
                    break
                f = f.f_back
            out.append("%s: %s, %d out, %d to retry, at %s"
                       % (a.name, a.addr, len(getattr(a, "out", ())),
                          len(getattr(a, "retry", ())), where))
            if os.environ.get("JQTEST_FAILOVER_STACKS") and f is not None:
                out.append("".join(traceback.format_stack(
                    frames.get(a.ident))))
        return "\n".join(out)

    def stop(self, timeout=90):
        self.stopping.set()
        for a in self.actors:
            a.join(timeout)
            if a.is_alive():
                self.errors.append("%s did not end within %s s"
                                   % (a.name, timeout))
        return self.errors


def summary_line(what, out, ledger, extra=""):
    c = ledger.snapshot()
    return ("%s: acked sends %d (%d values; keyed sends sent again after "
            "internal or a lost reply: %d duplicate, %d ok; unkeyed: reply "
            "lost %d, refused %d), "
            "acked acks %d (lost replies %d, leases gone %d), jobs %d "
            "(retried submits: %d duplicate, %d ok; interrupted and run "
            "again %d), drained %d, duplicates=%d, lost=%d, phantom=%d%s"
            % (what, c["acked_sends"], out["acked_send_values"],
               c["keyed_retry_dup"], c["keyed_retry_ok"], c["sends_unknown"],
               c["sends_refused"], c["acks_ok"], c["acks_unknown"],
               c["lease_gone"], out["jobs"], c["submit_retry_dup"],
               c["submit_retry_ok"], out["interrupted_reruns"],
               out["drained"], out["duplicates"] + out["job_duplicates"],
               out["lost"] + out["jobs_lost"], out["phantom"], extra))


def seconds(xs):
    if not xs:
        return "none"
    return "max %.3f s, median %.3f s (%d)" % (max(xs), statistics.median(xs),
                                              len(xs))
