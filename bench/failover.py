#!/usr/bin/env python3
"""Failover time of active/standby jqd on PostgreSQL (issue 16).

    bench/failover.py [--jqd PATH] [--runs 10] [--restarts 5]
                      [--backlog N] [--dir DIR] [--out FILE]

Two jqd nodes (A, B) on one schema of a throwaway PostgreSQL cluster
(tests/integration/pgcluster.py; fsync on, jqd --sync full, over
loopback TCP as between machines).  One client thread does request/
response changes against the address list "A,B" (the Python client,
jqclient.Connection of client/python/jqclient/): a send, then a recv of a value, each
acknowledged only once committed, so the channel stays near empty; on a
broken connection it opens a new client on the list, which tries the
node that served last first, then the other, and again every REDIAL_S
while both refuse.

A run: the client is going (at least WARM_OPS acknowledged changes on
the active node), the other node stands by; the active node is killed
with SIGKILL.  Measured, from the kill:
  (a) kill -> the standby serves: a prober connects to the standby's
      port every PROBE_S and counts the first ping answered;
  (b) the client's gap: its last acknowledged change before the kill ->
      its first after (the failover as a client sees it, redial
      included);
and, from the standby's log lines (timestamped as they arrive): when it
held the lock and its new epoch ("postgres: active"), had loaded the
state ("restored"), and listened ("active: ... serving").  The killed
node is started again as the new standby, and the next run kills the
other: medians of --runs runs.

Then the database restart, with one jqd (the standby is stopped first):
`pg_ctl restart -m fast` under it, the client going; measured from the
command: until pg_ctl returns (the server is up again), the jqd's "commits
succeed again" line, and the client's first acknowledged change (and its
gap, last before -> first after); medians of --restarts restarts.

--backlog N: N values left in a channel of their own before the runs, so
that each takeover loads them (what the state's size costs).  The report
goes to stdout (and --out FILE); progress to stderr.  Standard library
only; as root PostgreSQL runs as nobody (pgcluster.py), so --dir must be
searchable by others (the default, under /tmp, is).
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, os.path.join(TOP, "client", "python"))
import jqclient  # noqa: E402
import pgcluster  # noqa: E402

SCHEMA = "failover"
CHAN = "failover"
BACKLOG_CHAN = "backlog"
# The client's pause while every address refuses, and the prober's: the
# resolution of the times measured.
REDIAL_S = 0.002
PROBE_S = 0.001
# Acknowledged changes on a node before it is killed (or restarted under).
WARM_OPS = 200
# Bounds on what should take well under a second; generous for two
# shared cores.
WAIT_S = 60


def say(*args):
    print(*args, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, what, timeout=WAIT_S):
    """cond() polled until true (returned); RuntimeError after timeout.
    The events waited for have no notification to block on: a process's
    log line, a port that starts to listen."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError("timed out after %d s waiting for %s"
                               % (timeout, what))
        time.sleep(0.005)


class Node:
    """One jqd; its stderr read by a thread that notes when each line
    came."""

    def __init__(self, name, jqd, store, port, tmp):
        self.name = name
        self.jqd = jqd
        self.store = store
        self.port = port
        self.tmp = tmp
        self.proc = None
        self.lines = []         # (monotonic time, line)
        self.lock = threading.Lock()

    def start(self):
        self.lines = []
        self.proc = subprocess.Popen(
            [self.jqd, "--listen", "127.0.0.1:%d" % self.port,
             "--insecure-tcp", "--store", self.store, "--sync", "full",
             "--job-dir", self.tmp],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, cwd=self.tmp)
        t = threading.Thread(target=self._read, args=(self.proc,),
                             daemon=True)
        t.start()
        return self

    def _read(self, proc):
        log = open(os.path.join(self.tmp, "%s.log" % self.name), "a")
        for raw in proc.stderr:
            now = time.monotonic()
            line = raw.decode("utf-8", "replace").rstrip("\n")
            log.write("%.6f %s\n" % (now, line))
            log.flush()
            with self.lock:
                self.lines.append((now, line))
        log.close()

    def when(self, text, after=0.0):
        """The time of the first line containing text (after a time),
        or None."""
        with self.lock:
            for t, line in self.lines:
                if t >= after and text in line:
                    return t
        return None

    def wait_line(self, text, after=0.0):
        def seen():
            if self.proc.poll() is not None and \
                    self.when(text, after) is None:
                raise RuntimeError("%s exited (%s) before logging %r:\n%s"
                                   % (self.name, self.proc.returncode, text,
                                      self.log_tail()))
            return self.when(text, after)
        return wait_for(seen, "%s to log %r" % (self.name, text))

    def log_tail(self, n=15):
        with self.lock:
            return "\n".join(line for _, line in self.lines[-n:])

    def kill(self):
        t = time.monotonic()
        self.proc.send_signal(signal.SIGKILL)
        return t

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(WAIT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def addr(self):
        return "127.0.0.1:%d" % self.port


class Driver(threading.Thread):
    """The client: send, recv, over and over; the time of every
    acknowledged change."""

    def __init__(self, addrs):
        super().__init__(daemon=True)
        self.addrs = addrs
        self.oks = []           # (monotonic time, node address), in order
        self.errors = []        # (time, text)
        self.redials = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def _client(self):
        while not self.stopping.is_set():
            try:
                c = jqclient.Connection(self.addrs, token="", timeout=WAIT_S)
                c.make(CHAN, cap=1 << 30)
                return c
            except (jqclient.ConnectionError, jqclient.Internal) as e:
                self._error(e)
                time.sleep(REDIAL_S)
        return None

    def _error(self, e):
        with self.lock:
            self.errors.append((time.monotonic(), str(e)))

    def _ok(self, c):
        with self.lock:
            self.oks.append((time.monotonic(), c.addr))

    def run(self):
        c = self._client()
        n = 0
        while c is not None and not self.stopping.is_set():
            try:
                c.send(CHAN, n)
                self._ok(c)
                try:
                    c.recv(CHAN, timeout_ms=0)
                    self._ok(c)
                except jqclient.Timeout:
                    pass        # its send was lost with a node: nothing to take
                n += 1
            except jqclient.ConnectionError as e:
                self._error(e)
                c.disconnect()
                self.redials += 1
                c = self._client()
            except jqclient.JqError as e:
                # internal while the database is away: refused, retried.
                self._error(e)
                time.sleep(REDIAL_S)
        if c is not None:
            c.disconnect()

    def count_after(self, t, addr=None):
        with self.lock:
            return sum(1 for x, a in self.oks
                       if x > t and (addr is None or a == addr))

    def failover_gap(self, old, new, t):
        """(the last ok from node old before the first from node new
        after t, that first ok).  By node, not by the time of the kill:
        a reply the old node wrote just before it died may be read
        after."""
        with self.lock:
            first = next(x for x, a in self.oks if a == new and x > t)
            last = max(x for x, a in self.oks if a == old and x < first)
        return last, first

    def outage_gap(self, t0, t1):
        """The longest time without an ok from the last before t0 to the
        first after t1: (its start, its end)."""
        with self.lock:
            ts = [x for x, _ in self.oks]
        i = max(k for k, x in enumerate(ts) if x <= t0)
        j = min(k for k, x in enumerate(ts) if x > t1)
        return max(((ts[k], ts[k + 1]) for k in range(i, j)),
                   key=lambda g: g[1] - g[0])

    def wait_ops_after(self, t, n=WARM_OPS, addr=None):
        wait_for(lambda: self.count_after(t, addr) >= n,
                 "%d acknowledged changes" % n)


def first_ping(port, since, stop):
    """Poll port until a ping is answered; its time."""
    while not stop.is_set():
        try:
            with jqclient.Connection("127.0.0.1:%d" % port, token="",
                                 timeout=WAIT_S) as c:
                c.ping()
                return time.monotonic()
        except jqclient.ConnectionError:
            if time.monotonic() - since > WAIT_S:
                raise RuntimeError("port %d never served" % port)
            time.sleep(PROBE_S)
    return None


def ms(x):
    return "%.0f" % (x * 1000) if x is not None else "-"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fill_backlog(addrs, n):
    with jqclient.Connection(addrs, token="", timeout=WAIT_S) as c:
        c.make(BACKLOG_CHAN, cap=1 << 30)
        i = 0
        while i < n:
            k = min(1000, n - i)
            c.send_batch(BACKLOG_CHAN, list(range(i, i + k)))
            i += k


def failovers(nodes, driver, runs):
    """runs kill -9 failovers, alternating; the rows."""
    rows = []
    active, standby = nodes
    for i in range(runs):
        t0 = time.monotonic()
        driver.wait_ops_after(t0)
        stop = threading.Event()
        result = {}

        def probe():
            result["ping"] = first_ping(standby.port, time.monotonic(), stop)
        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        t_kill = active.kill()
        active.proc.wait()
        prober.join(WAIT_S)
        stop.set()
        if "ping" not in result:
            raise RuntimeError("the standby did not serve:\n%s"
                               % standby.log_tail())
        t_ping = result["ping"]
        t_lock = standby.wait_line("postgres: active on schema", t_kill)
        t_load = standby.wait_line("restored ", t_kill)
        t_listen = standby.wait_line("active: the previous jqd is gone",
                                     t_kill)
        driver.wait_ops_after(t_kill, 1, standby.addr())
        last, first = driver.failover_gap(active.addr(), standby.addr(),
                                          t_kill)
        row = {"lock": t_lock - t_kill, "load": t_load - t_lock,
               "listen": t_listen - t_load, "serve": t_ping - t_kill,
               "gap": first - last, "after_kill": first - t_kill}
        rows.append(row)
        say("  failover %d: %s -> %s: lock+epoch %s ms, load %s ms, "
            "listen %s ms, first ping %s ms after the kill; client gap %s ms"
            % (i + 1, active.name, standby.name, ms(row["lock"]),
               ms(row["load"]), ms(row["listen"]), ms(row["serve"]),
               ms(row["gap"])))
        # The killed node comes back as the standby.
        t_start = time.monotonic()
        active.start()
        active.wait_line("standby: another jqd is active", t_start)
        active, standby = standby, active
    return rows, active, standby


def restarts(cluster, node, driver, n):
    rows = []
    pg_ctl = os.path.join(cluster.bindir, "pg_ctl")
    for i in range(n):
        t0 = time.monotonic()
        driver.wait_ops_after(t0)
        t_cmd = time.monotonic()
        p = subprocess.run(
            [pg_ctl, "restart", "-D", cluster.data, "-m", "fast", "-w",
             "-t", str(WAIT_S), "-l", cluster.log_path],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, cwd=cluster.dir,
            env=pgcluster._clean_env(), timeout=WAIT_S * 2,
            **pgcluster._server_user())
        t_up = time.monotonic()
        if p.returncode != 0:
            raise RuntimeError("pg_ctl restart failed: %s"
                               % p.stdout.decode("utf-8", "replace"))
        t_again = node.wait_line("commits succeed again", t_cmd)
        driver.wait_ops_after(t_up, 1)
        last, first = driver.outage_gap(t_cmd, t_up)
        row = {"up": t_up - t_cmd, "again": t_again - t_cmd,
               "first": first - t_cmd, "gap": first - last}
        rows.append(row)
        say("  restart %d: postgres up %s ms, commits again %s ms, client's "
            "first ok %s ms after pg_ctl; client gap %s ms"
            % (i + 1, ms(row["up"]), ms(row["again"]), ms(row["first"]),
               ms(row["gap"])))
    return rows


def report(args, rows, rrows, driver, load0, load1, version):
    out = []
    w = out.append

    def line(title, xs):
        xs = [x for x in xs if x is not None]
        w("| %s | %s | %s | %s |" % (title, ms(med(xs)), ms(min(xs)),
                                     ms(max(xs))))
    w("### Failover time (bench/failover.py)")
    w("")
    w("- jqd %s, PostgreSQL %s (fsync on), jqd --sync full over loopback "
      "TCP; backlog %d values; load average before / after: %s / %s"
      % (version, args.pg_version, args.backlog, load0, load1))
    w("- The client redials every %.0f ms while both refuse; the prober "
      "tries the standby every %.0f ms." % (REDIAL_S * 1000, PROBE_S * 1000))
    if rows:
        w("")
        w("### Failover: kill -9 of the active jqd (median of %d)"
          % len(rows))
        w("")
        w("| from the kill to | median ms | min | max |")
        w("|---|--:|--:|--:|")
        line("standby holds the lock, new epoch, statements prepared",
             [r["lock"] for r in rows])
        line("... + state loaded (from the lock)",
             [r["load"] for r in rows])
        line("... + listening (from the load)",
             [r["listen"] for r in rows])
        line("(a) standby answers a ping", [r["serve"] for r in rows])
        line("client's first acknowledged change",
             [r["after_kill"] for r in rows])
        line("(b) client gap: last ok before -> first ok after",
             [r["gap"] for r in rows])
    if rrows:
        w("")
        w("### Database restart: `pg_ctl restart -m fast` under one jqd "
          "(median of %d)" % len(rrows))
        w("")
        w("| from the command to | median ms | min | max |")
        w("|---|--:|--:|--:|")
        line("pg_ctl returns (server up)", [r["up"] for r in rrows])
        line("jqd: commits succeed again", [r["again"] for r in rrows])
        line("client's first acknowledged change",
             [r["first"] for r in rrows])
        line("client gap: last ok before -> first ok after",
             [r["gap"] for r in rrows])
    w("")
    w("Client: %d acknowledged changes, %d redials, %d errors seen."
      % (len(driver.oks), driver.redials, len(driver.errors)))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jqd", default=os.environ.get(
        "JQD", os.path.join(TOP, "jqd")))
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--restarts", type=int, default=5)
    ap.add_argument("--backlog", type=int, default=0)
    ap.add_argument("--dir", default=None,
                    help="where the cluster and logs go (default: a new "
                    "directory under $TMPDIR or /tmp)")
    ap.add_argument("--out")
    ap.add_argument("--keep", action="store_true",
                    help="keep the directory (logs) at the end")
    args = ap.parse_args()
    jqd = os.path.abspath(args.jqd)
    if not os.access(jqd, os.X_OK):
        sys.exit("failover.py: no jqd at %s (--jqd)" % jqd)
    try:
        pgcluster.bindir()
    except pgcluster.NotInstalled as e:
        sys.exit("failover.py: %s" % e)

    tmp = tempfile.mkdtemp(prefix="jqd-failover-", dir=args.dir)
    os.chmod(tmp, 0o755)
    cluster = pgcluster.Cluster(os.path.join(tmp, "pg"), fsync=True)
    nodes = []
    driver = None
    try:
        load0 = " ".join(open("/proc/loadavg").read().split()[:3])
        say("starting PostgreSQL in %s" % cluster.dir)
        cluster.start()
        args.pg_version = cluster.sql("SHOW server_version")[0][0].split()[0]
        cluster.create_schema(SCHEMA)
        store = "postgres:" + cluster.tcp_conninfo(
            options="-c search_path=%s" % SCHEMA)
        version = jqd
        if jqd == os.path.join(TOP, "jqd"):
            version = subprocess.run(
                ["git", "-C", TOP, "describe", "--always", "--dirty"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) \
                .stdout.decode().strip() or jqd
        a = Node("A", jqd, store, free_port(), tmp).start()
        a.wait_line("info: ready")
        b = Node("B", jqd, store, free_port(), tmp).start()
        b.wait_line("standby: another jqd is active")
        nodes = [a, b]
        addrs = "%s,%s" % (a.addr(), b.addr())
        if args.backlog:
            say("sending %d values to stay" % args.backlog)
            fill_backlog(addrs, args.backlog)
        driver = Driver(addrs)
        driver.start()
        say("%d failovers" % args.runs)
        rows, active, standby = failovers(nodes, driver, args.runs)
        rrows = []
        if args.restarts:
            standby.stop()
            say("%d database restarts under %s" % (args.restarts,
                                                   active.name))
            rrows = restarts(cluster, active, driver, args.restarts)
        load1 = " ".join(open("/proc/loadavg").read().split()[:3])
        text = report(args, rows, rrows, driver, load0, load1, version)
        sys.stdout.write(text)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text)
    finally:
        if driver is not None:
            driver.stopping.set()
            driver.join(WAIT_S)
        for n in nodes:
            n.stop()
        cluster.stop()
        if args.keep:
            say("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
