#!/usr/bin/env python3
"""The server ends jqd's session under load (issue 16): what a fast
shutdown (`pg_ctl restart -m fast`) or an administrator's
pg_terminate_backend does to the active jqd's connection, TERMINATIONS
times (JQTEST_PG_TERMINATIONS, 20) at random moments, one jqd, the
clients and checker of failover.py.

Each time the backend answers what it finished and sends FATAL
"terminating connection due to administrator command" in place of the
rest -- also after a COMMIT it did: the batch is then committed, and
jqd must count it so (the outcome of a COMMIT whose session ends is
decided by commit_no once reconnected), not as rolled back: otherwise
it finds commit_no one ahead of its own count and steps down ("another
writer"), or applies the batch twice.  Here jqd must reconnect every
time, never step down, and lose or duplicate nothing acknowledged.

A cluster of its own, fsync on (JQTEST_PG is not used): the race is
a termination during a COMMIT's WAL flush, which fsync off makes too
short to hit.  Skipped (77) without PostgreSQL.
"""

import os
import random
import shutil
import sys
import tempfile
import threading
import time
import unittest

import jqtest
import pgcluster
from failover import Node, Workload, log, summary_line

TERMINATIONS = int(os.environ.get("JQTEST_PG_TERMINATIONS") or 20)
SEED = int(os.environ.get("JQTEST_SEED") or random.randrange(1 << 30))

cluster = None
tmp = None


class Writer(threading.Thread):
    """Pipelined sends that stay in a channel of their own, so that most
    of the backend's time goes to COMMITs (each writes and flushes):
    that is where a termination must land to end a session between a
    COMMIT done and its batch's last answer.  Errors are expected (the
    session ends, changes are refused meanwhile): it goes on."""

    def __init__(self, addr, chan):
        super().__init__(daemon=True)
        self.addr = addr
        self.chan = chan
        self.stopping = threading.Event()
        self.acked = 0

    def run(self):
        c = None
        while not self.stopping.is_set():
            try:
                if c is None:
                    c = jqtest.Client(self.addr)
                for i in range(16):
                    c.send_frame({"id": i + 1, "op": "send",
                                  "chan": self.chan, "value": i})
                for i in range(16):
                    if c.read_reply().get("ok"):
                        self.acked += 1
            except Exception:
                if c is not None:
                    c.close()
                c = None
        if c is not None:
            c.close()


def setUpModule():
    global cluster, tmp
    tmp = tempfile.mkdtemp(prefix="jqd-pgt-")
    os.chmod(tmp, 0o755)
    cluster = pgcluster.Cluster(os.path.join(tmp, "pg"), fsync=True)
    cluster.start()


def tearDownModule():
    if cluster is not None:
        cluster.stop()
    if tmp is not None:
        shutil.rmtree(tmp, True)


class TerminateTest(unittest.TestCase):
    def setUp(self):
        self.rng = random.Random(SEED)
        self.dir = tempfile.mkdtemp(prefix="jqd-pgt-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.schema = "jqterm"
        pgcluster.create_schema(cluster.conninfo(), self.schema)
        self.node = None
        self.addCleanup(self.stop_node)

    def stop_node(self):
        if self.node is None:
            return
        self.node.stop()
        o = getattr(self, "_outcome", None)
        res = getattr(o, "result", None)
        if res is not None and not res.wasSuccessful() and \
                not os.environ.get("JQTEST_ECHO"):
            log("--- %s ---\n%s" % (self.node.name,
                                    "\n".join(self.node.history[-60:])))

    def backends(self, app):
        """Pids of the sessions whose application_name is app."""
        return [int(r[0]) for r in cluster.sql(
            "SELECT pid FROM pg_stat_activity WHERE application_name = "
            "'%s'" % app)]

    def test_terminated_sessions(self):
        # Our own application_name: the sessions to end are this jqd's.
        app = "jqd_%s" % self.schema
        store = jqtest.pg_store(cluster.conninfo(application_name=app),
                                self.schema)
        a = self.node = Node("a", store, self.dir, ("--retry-delay",
                                                    "100ms"))
        self.assertEqual(a.start(), "active")
        chan = jqtest.unique_name("pgt")
        with jqtest.Client(a.addr) as c:
            c.ok("make", chan=chan, cap=1000000)
            c.ok("make", chan=chan + "-w", cap=1000000)
        wl = Workload([a.addr], chan, self.rng.random())
        wl.start()
        writer = Writer(a.addr, chan + "-w")
        writer.start()
        self.addCleanup(writer.stopping.set)
        wl.wait_progress(wl.progress(), what="before the first")
        for i in range(TERMINATIONS):
            # A random moment of the load: the session ends in the
            # middle of a batch, before, at or after its COMMIT.
            time.sleep(self.rng.uniform(0, 0.05))
            [pid] = self.backends(app)
            idx = a.log_index()
            cluster.sql("SELECT pg_terminate_backend(%d)" % pid)
            # Its next commit or heartbeat finds the session gone, then
            # a retry reconnects; stepping down would show first.
            a.wait_log(r"info: postgres: connected again|"
                       r"error: stepping down: ", start=idx)
            self.assertFalse(a.has_log(r"error: stepping down: "),
                             "termination %d: stepped down" % (i + 1))
            wl.wait_progress(wl.progress(),
                             what="after termination %d" % (i + 1))
        writer.stopping.set()
        writer.join(30)
        errors = wl.stop()
        self.assertTrue(a.alive(), "jqd exited:\n%s" % a.text())
        self.assertEqual(errors, [], "client threads failed")
        out, problems = wl.ledger.check(a.addr)
        line = summary_line("%d sessions ended by the server"
                            % TERMINATIONS, out, wl.ledger,
                            "; seed %d" % SEED)
        log(line)
        self.assertEqual(problems, [], line)
        self.assertGreater(out["acked_send_values"], 0)


if __name__ == "__main__":
    if not os.environ.get("JQD") or not os.access(os.environ["JQD"],
                                                   os.X_OK):
        print("JQD is not set to an executable; skipping")
        sys.exit(77)
    try:
        pgcluster.bindir()
    except pgcluster.NotInstalled as e:
        print("skipping: %s" % e)
        sys.exit(77)
    log("test_pg_terminate: seed %d (JQTEST_SEED to repeat)" % SEED)
    jqtest.main()
