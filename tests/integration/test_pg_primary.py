#!/usr/bin/env python3
"""The PostgreSQL primary dies under load (issue 16): a primary and a
synchronous standby (pgcluster.py), two jqd nodes on the multi-host
string (target_session_attrs=read-write), clients on both, the checker
of failover.py.

The primary is killed (kill -9 of every server process) while the load
runs: the active jqd's commits fail, it refuses changes and holds the
replies of those not committed.  The standby is promoted; the active jqd
reconnects (libpq finds the new primary), checks that its epoch still
holds and, by commit_no, whether the commit in flight at the crash is on
the new primary, and goes on -- or the standby jqd reached the new
primary first, took over, and the other steps down.  Either way no
acknowledged value or job is lost: the synchronous standby had every
commit the old primary acknowledged.

Its own clusters (JQTEST_PG is not used: this kills the server);
skipped (77) without PostgreSQL.
"""

import os
import random
import shutil
import sys
import tempfile
import time
import unittest

import jqtest
import pgcluster
from failover import Node, Workload, log, summary_line
from jqtest import Client, ConnectionClosed, ReplyTimeout

SEED = int(os.environ.get("JQTEST_SEED") or random.randrange(1 << 30))


class PrimaryTest(unittest.TestCase):
    def setUp(self):
        self.rng = random.Random(SEED)
        self.dir = tempfile.mkdtemp(prefix="jqd-pgp-")
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.primary = pgcluster.Cluster(os.path.join(self.dir, "p"))
        self.addCleanup(self.primary.stop)
        self.primary.start()
        self.standby = self.primary.standby(os.path.join(self.dir, "s"))
        self.addCleanup(self.standby.stop)
        self.nodes = []
        self.addCleanup(self.stop_nodes)

    def stop_nodes(self):
        for n in self.nodes:
            n.stop()
        for n in self.nodes:
            self.assertEqual(n.problems(), [], n.name)
        o = getattr(self, "_outcome", None)
        res = getattr(o, "result", None)
        if res is not None and not res.wasSuccessful() and \
                not os.environ.get("JQTEST_ECHO"):
            for n in self.nodes:
                log("--- %s ---\n%s" % (n.name, "\n".join(n.history[-60:])))

    def test_primary_killed_standby_promoted(self):
        conninfo = pgcluster.multihost_conninfo(
            [self.primary, self.standby], target_session_attrs="read-write")
        schema = "jqpg"
        pgcluster.create_schema(self.primary.conninfo(), schema)
        work = os.path.join(self.dir, "work")
        os.mkdir(work)
        store = jqtest.pg_store(conninfo, schema)
        a = Node("a", store, work, ("--retry-delay", "100ms"))
        b = Node("b", store, work, ("--retry-delay", "100ms"))
        self.nodes += [a, b]
        self.assertEqual(a.start(), "active")
        self.assertEqual(b.start(), "standby")
        chan = jqtest.unique_name("pgp")
        with Client(a.addr) as c:
            c.ok("make", chan=chan, cap=1000000)
        wl = Workload([a.addr, b.addr], chan, self.rng.random())
        wl.start()
        for _ in range(3):
            wl.wait_progress(wl.progress(), what="before the crash")
        time.sleep(self.rng.uniform(0.2, 1.0))

        idx = a.log_index()
        t0 = time.monotonic()
        self.primary.kill()
        killed = time.monotonic() - t0
        a.wait_log(r"error: store: commit failed: ", start=idx)
        # Meanwhile a change is refused (or held), never acknowledged.
        v = "fo:during-outage"
        with Client(a.addr) as c:
            c.send_frame({"id": 1, "op": "send", "chan": chan, "value": v})
            try:
                r = c.read_reply(2)
                self.assertFalse(r["ok"], r)
                self.assertEqual(r["error"]["code"], "internal", r)
                state = "refused"
            except (ReplyTimeout, ConnectionClosed):
                state = "unknown"       # held: committed once reconnected
        with wl.ledger.lock:
            wl.ledger.sends[v] = state
        before = wl.progress()
        t1 = time.monotonic()
        self.standby.promote()
        promoted = time.monotonic() - t1

        # Whichever node gets to the new primary first serves.
        def who():
            if a.has_log(r"info: store: commits succeed again$"):
                return "a"
            if b.has_log(r"active: the previous jqd is gone; serving$"):
                return "b"
            return None
        winner = jqtest.wait_until(who, what="a jqd on the new primary")
        resumed = time.monotonic() - t1
        active = a if winner == "a" else b
        if winner == "b":
            self.assertEqual(a.wait(30), 3, a.text())
            a.wait_log(r"error: stepping down: ")
        wl.wait_progress(before, what="on the new primary")
        wl.wait_progress(wl.progress(), what="on the new primary")
        errors = wl.stop()
        self.assertEqual(errors, [], "client threads failed")
        out, problems = wl.ledger.check(active.addr)
        line = summary_line(
            "primary killed, standby promoted", out, wl.ledger,
            "; kill %.2f s, promote %.2f s, commits again %.2f s after the "
            "promote began, on %s (%s); seed %d"
            % (killed, promoted, resumed, active.name,
               "reconnected" if winner == "a" else "the standby jqd took "
               "over", SEED))
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
    log("test_pg_primary: seed %d (JQTEST_SEED to repeat)" % SEED)
    jqtest.main()
