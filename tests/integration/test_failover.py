#!/usr/bin/env python3
"""Active/standby jqd on one PostgreSQL schema (issue 16; README "High
availability"): two nodes on fixed ports with the same --store, clients
on the address list of both, and a checker that counts (failover.py).

  KillTest        kill -9 of the active node at a random moment under
                  load, JQTEST_FAILOVER_CYCLES times (20): the standby
                  serves (connect + ping) within 2 s; the killed node
                  comes back as the standby; at the end every
                  acknowledged send and submit is there exactly once.
  CutTest         the active node's database connection goes through a
                  proxy that resets it and refuses new ones: the standby
                  takes over within 2 s; the cut node acknowledges no
                  change written to it after the cut, and once the proxy
                  heals it steps down (exit 3) without committing -- or,
                  left cut (the last cycle), 8 s after its last commit;
                  cuts at a random moment, just before a COMMIT reaches
                  the server, and just after the server committed.
  CommitNoTest    the same cuts at a COMMIT with no standby to take over:
                  the node reconnects, learns from commit_no whether the
                  batch committed, and applies it once.
  StandbyTest     a standby refuses connections, says
                  jqd_store_active 0, exits 0 on SIGTERM; stats and
                  metrics show backend and epoch; each takeover, after
                  a kill or a clean stop, bumps the epoch.
  WorkerTest      a remote worker (jq-worker -H both nodes) keeps running
                  its job across kill -9 of the active node: the new one
                  re-adopts it, and it ends succeeded, run once.

The database: JQTEST_PG (tests/pg.sh) else a cluster of our own; a
fresh schema per test.  Skipped (77) without PostgreSQL.
"""

import json
import os
import random
import shutil
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import jqtest
import pgcluster
from failover import (Database, Node, PGProxy, Workload, log, refused,
                      seconds, summary_line, wait_serves)
from jqtest import Client, ConnectionClosed, ReplyTimeout, wait_until
from test_worker import pid_alive

CYCLES = int(os.environ.get("JQTEST_FAILOVER_CYCLES") or 20)
CUT_CYCLES = int(os.environ.get("JQTEST_FAILOVER_CUTS") or 6)
SEED = int(os.environ.get("JQTEST_SEED") or random.randrange(1 << 30))
# The bound: the standby serves within 2 s of the lock freeing.
TAKEOVER_S = 2.0

db = None


def setUpModule():
    global db
    db = Database()


def tearDownModule():
    if db is not None:
        db.close()


class NodesCase(unittest.TestCase):
    """A schema, a work directory, and nodes on them, stopped (then the
    schema dropped) at the end; a sanitizer line in any node's log
    fails the test."""

    node_args = ("--retry-delay", "100ms")

    def setUp(self):
        self.rng = random.Random(SEED)
        self.work = tempfile.mkdtemp(prefix="jqd-fo-")
        os.chmod(self.work, 0o755)
        self.addCleanup(shutil.rmtree, self.work, True)
        self.schema = db.new_schema(self._testMethodName[5:12])
        self.addCleanup(db.drop_schema, self.schema)
        self.nodes = []
        self.proxies = []
        self.addCleanup(self.stop_nodes)

    def stop_nodes(self):
        for n in self.nodes:
            n.stop()
        # After the nodes: a proxy closing under one is a cut.
        for p in self.proxies:
            p.close()
        for n in self.nodes:
            self.assertEqual(n.problems(), [], n.name)
        if os.environ.get("JQTEST_ECHO") is None and \
                self._outcome_failed():
            for n in self.nodes:
                log("--- %s ---\n%s" % (n.name, "\n".join(n.history[-60:])))

    def _outcome_failed(self):
        o = getattr(self, "_outcome", None)
        res = getattr(o, "result", None)
        return res is not None and not res.wasSuccessful()

    def node(self, name, store=None, args=()):
        n = Node(name, store or db.store(self.schema), self.work,
                 tuple(self.node_args) + tuple(args))
        self.nodes.append(n)
        return n

    def proxied(self, name):
        """A node whose database connection goes through a PGProxy of its
        own; (node, proxy).  Skips the test without TCP to the server."""
        endpoint, why = db.tcp_endpoint()
        if endpoint is None:
            self.skipTest(why)
        p = PGProxy(endpoint)
        self.proxies.append(p)
        return self.node(name, store=db.store(
            self.schema, db.via("127.0.0.1", p.port))), p

    def two_nodes(self, **kw):
        a, b = self.node("a", **kw), self.node("b", **kw)
        self.assertEqual(a.start(), "active")
        self.assertEqual(b.start(), "standby")
        return a, b

    def make_chan(self, node, cap=1000000):
        chan = jqtest.unique_name("fo")
        with Client(node.addr) as c:
            c.ok("make", chan=chan, cap=cap)
        return chan

    def epoch_of(self, node, start=0):
        line = node.wait_log(r"postgres: active on schema \S+, epoch \d+",
                             start=start)
        return int(line.split("epoch ")[1].split()[0])

    def takeover(self, old, new, since):
        """new serves after old went (at since): the seconds it took."""
        took = wait_serves(new.addr, since)
        new.wait_log(r"active: the previous jqd is gone; serving$")
        return took

    def finish(self, wl, active, what, extra=""):
        errors = wl.stop()
        self.assertEqual(errors, [], "client threads failed")
        out, problems = wl.ledger.check(active.addr)
        line = summary_line(what, out, wl.ledger, extra)
        log(line)
        self.assertEqual(problems, [], line)
        self.assertGreater(out["acked_send_values"], 0)
        return out


class KillTest(NodesCase):
    def test_kill_cycles(self):
        a, b = self.two_nodes()
        epoch = self.epoch_of(a)
        chan = self.make_chan(a)
        wl = Workload([a.addr, b.addr], chan, self.rng.random())
        wl.start()
        active, standby = a, b
        times = []
        t0 = time.monotonic()
        for i in range(CYCLES):
            wl.wait_progress(wl.progress(), what="on %s, cycle %d"
                             % (active.name, i))
            # A random moment of the load.
            time.sleep(self.rng.uniform(0.2, 1.0))
            idx = standby.log_index()
            t = active.kill()
            times.append(self.takeover(active, standby, t))
            epoch += 1
            self.assertEqual(self.epoch_of(standby, idx), epoch)
            self.assertEqual(active.start(), "standby")
            active, standby = standby, active
        wl.wait_progress(wl.progress(), what="after the last cycle")
        took = time.monotonic() - t0
        out = self.finish(wl, active, "kill -9, %d cycles in %.1f s"
                          % (CYCLES, took),
                          "; takeover (kill to ping answered) %s; seed %d"
                          % (seconds(times), SEED))
        self.assertLessEqual(max(times), TAKEOVER_S, times)
        self.assertGreater(out["jobs"], 0)
        # A clean stop of both: the standby, then the active.
        standby.sigterm()
        self.assertEqual(standby.wait(10), 0, standby.text())
        active.sigterm()
        self.assertEqual(active.wait(10), 0, active.text())


def probe(node, chan, tag):
    """Changes written to node (cut from its database): a keyed and an
    unkeyed send, a make.  Returns (values sent, channel, replies that
    were not `internal` or missing)."""
    vals = ["fo:probe-%s-k" % tag, "fo:probe-%s-u" % tag]
    pchan = "probe-" + tag
    bad = []
    try:
        c = Client(node.addr, timeout=5)
    except OSError as e:
        return vals, pchan, ["connect: %s" % e]
    try:
        frames = [{"id": 1, "op": "send", "chan": chan, "value": vals[0],
                   "key": "k:" + vals[0]},
                  {"id": 2, "op": "send", "chan": chan, "value": vals[1]},
                  {"id": 3, "op": "make", "chan": pchan, "cap": 1}]
        for f in frames:
            c.send_frame(f)
        for f in frames:
            try:
                r = c.read_reply(3)
            except (ReplyTimeout, ConnectionClosed):
                break
            if r["ok"] or r["error"]["code"] != "internal":
                bad.append((f, r))
    finally:
        c.close()
    return vals, pchan, bad


class CutTest(NodesCase):
    """Each node reaches the database through a proxy of its own; only
    the active node's is cut (the standby's stays as a direct line)."""

    modes = ("now", "after-commit", "before-commit")

    def test_cut_cycles(self):
        (a, pa), (b, pb) = self.proxied("a"), self.proxied("b")
        proxies = {a: pa, b: pb}
        self.assertEqual(a.start(), "active")
        self.assertEqual(b.start(), "standby")
        epoch = self.epoch_of(a)
        chan = self.make_chan(a)
        wl = Workload([a.addr, b.addr], chan, self.rng.random())
        wl.start()
        active, standby = a, b
        takeovers, stepdowns, probes = [], [], []
        in_commit = 0
        for i in range(CUT_CYCLES):
            mode = self.modes[i % len(self.modes)]
            p = proxies[active]
            wl.wait_progress(wl.progress(), what="on %s, cycle %d"
                             % (active.name, i))
            idx, sidx = active.log_index(), standby.log_index()
            p.cut(mode)
            self.assertTrue(p.cut_done.wait(30), "no %s cut" % mode)
            cut_at = p.cut_at
            if mode != "now":
                self.assertTrue(p.cut_values, "cut at a COMMIT without "
                                "values")
                in_commit += len(p.cut_values)
            takeovers.append(self.takeover(active, standby, cut_at))
            epoch += 1
            self.assertEqual(self.epoch_of(standby, sidx), epoch)
            # Nothing written to the cut node from now on is acknowledged.
            vals, pchan, bad = probe(active, chan, "%d" % i)
            self.assertEqual(bad, [], "the cut node answered a change")
            probes.append(pchan)
            with wl.ledger.lock:
                for v in vals:
                    wl.ledger.sends[v] = "refused"
                    wl.ledger.must_be_absent.add(v)
            # The new node serves the load; then the proxy heals and the
            # cut node learns it was replaced -- but in the last cycle it
            # stays cut, and steps down by itself once no commit went
            # through for 8 s (server.c's SERVER_FENCE_MS).
            wl.wait_progress(wl.progress(), what="on %s after the cut"
                             % standby.name)
            last = i == CUT_CYCLES - 1
            if not last:
                healed = time.monotonic()
                p.heal()
            rc = active.wait(30)
            self.assertEqual(rc, 3, "the cut node did not step down:\n"
                             + active.text())
            if last:
                fenced = time.monotonic() - cut_at
                active.wait_log(r"error: stepping down: no commit for \d+ "
                                r"ms", start=idx)
                self.assertLess(fenced, 8 + 3)
                p.heal()
            else:
                stepdowns.append(time.monotonic() - healed)
                active.wait_log(r"error: stepping down: ", start=idx)
            last_ok = wl.last_change_ok.get(active.addr, 0)
            self.assertLess(last_ok, cut_at, "the cut node acknowledged a "
                            "change written %.3f s after the cut"
                            % (last_ok - cut_at))
            self.assertFalse(active.has_log(r"store: commits succeed again"
                                            r"|postgres: connected again"),
                             active.text())
            self.assertEqual(active.start(), "standby")
            active, standby = standby, active
        wl.wait_progress(wl.progress(), what="after the last cut")
        self.finish(wl, active, "cut from the database, %d cycles"
                    % CUT_CYCLES,
                    "; takeover (cut to ping answered) %s; heal to exit 3 "
                    "%s; never healed: cut to exit 3 %.2f s; %d values in "
                    "the transactions cut at COMMIT; seed %d"
                    % (seconds(takeovers), seconds(stepdowns), fenced,
                       in_commit, SEED))
        self.assertLessEqual(max(takeovers), TAKEOVER_S, takeovers)
        with Client(active.addr) as c:
            for pchan in probes:
                c.error("stat", "not_found", chan=pchan)


class CommitNoTest(NodesCase):
    """One node, through a proxy: cut at a COMMIT, heal; the batch whose
    COMMIT the server did (or did not) get is applied exactly once."""

    def test_commit_in_flight(self):
        a, p = self.proxied("a")
        self.assertEqual(a.start(), "active")
        epoch = self.epoch_of(a)
        chan = self.make_chan(a)
        wl = Workload([a.addr], chan, self.rng.random())
        wl.start()
        cut = []
        for i, mode in enumerate(("after-commit", "before-commit") * 2):
            wl.wait_progress(wl.progress(), what="cycle %d" % i)
            idx = a.log_index()
            p.cut(mode)
            self.assertTrue(p.cut_done.wait(30), "no %s cut" % mode)
            self.assertTrue(p.cut_values)
            cut.append((mode, list(p.cut_values)))
            a.wait_log(r"error: store: commit failed: ", start=idx)
            # Failing: a change is refused at once.
            with Client(a.addr) as c:
                c.error("send", "internal", chan=chan,
                        value="fo:refused-%d" % i)
            with wl.ledger.lock:
                wl.ledger.sends["fo:refused-%d" % i] = "refused"
            p.heal()
            a.wait_log(r"info: postgres: connected again \(epoch %d\)$"
                       % epoch, start=idx)
            a.wait_log(r"info: store: commits succeed again$", start=idx)
        # The COMMIT got through, and the connection is lost again as
        # jqd connects anew, once it has read commit_no: the next try
        # must still know the batch committed.
        wl.wait_progress(wl.progress(), what="before the double cut")
        idx = a.log_index()
        p.cut("after-commit")
        self.assertTrue(p.cut_done.wait(30), "no after-commit cut")
        cut.append(("after-commit, then at-prepare", list(p.cut_values)))
        a.wait_log(r"error: store: commit failed: ", start=idx)
        p.heal(then="at-prepare")
        self.assertTrue(p.cut_done.wait(30), "no cut at the prepare")
        p.heal()
        a.wait_log(r"info: postgres: connected again \(epoch %d\)$"
                   % epoch, start=idx)
        a.wait_log(r"info: store: commits succeed again$", start=idx)
        wl.wait_progress(wl.progress(), what="after the last cut")
        self.finish(wl, a, "cut at a COMMIT, no standby, %d cuts"
                    % len(cut), "; values in the cut transactions: %s"
                    % ", ".join("%s %d" % (m, len(v)) for m, v in cut))
        # Each transaction cut at its COMMIT: acknowledged once healed
        # (the checker found each value once, or acked once).
        L = wl.ledger
        for mode, vals in cut:
            for v in vals:
                self.assertIn(L.sends.get(v), ("ok", "dup"), (mode, v))
        self.assertTrue(a.alive())
        self.assertFalse(a.has_log("stepping down"))


class StandbyTest(NodesCase):
    def test_standby_basics(self):
        a, b = self.two_nodes()
        epoch = self.epoch_of(a)
        # A standby opens no protocol listener.
        self.assertTrue(refused(b.port))
        self.assertFalse(os.path.exists(b.unix_path))
        m = b.metrics()
        self.assertEqual((m["jqd_store_active"], m["jqd_store_epoch"]),
                         (0, 0))
        m = a.metrics()
        self.assertEqual((m["jqd_store_active"], m["jqd_store_epoch"]),
                         (1, epoch))
        with Client(a.addr) as c:
            st = c.ok("stats")["store"]
        self.assertEqual((st["backend"], st["epoch"]), ("postgres", epoch))
        # The dashboard's API: the active node's runs ops, a standby's
        # none (its state is not the active one's; it may not commit).
        for node, want in ((a, 200), (b, 503)):
            try:
                with urllib.request.urlopen(
                        "http://127.0.0.1:%d/api/stats" % node.metrics_port,
                        timeout=10) as f:
                    status, r = f.status, json.load(f)
            except urllib.error.HTTPError as e:
                status, r = e.code, json.load(e)
            self.assertEqual(status, want, r)
            if want == 503:
                self.assertEqual(r["error"]["code"], "standby")
            else:
                self.assertEqual(r["store"]["epoch"], epoch)

        # SIGTERM on a standby: exit 0, promptly.
        c3 = self.node("c")
        self.assertEqual(c3.start(), "standby")
        t = time.monotonic()
        c3.sigterm()
        self.assertEqual(c3.wait(10), 0, c3.text())
        took_term = time.monotonic() - t
        self.assertLess(took_term, 5)

        # kill -9 of the active while a job of its own runs: the job's
        # process (in its own group, left running) holds nothing of a's,
        # so b takes over at once and a gets its port back; b ends the
        # job (interrupted, no retries) and kills what is left of it.
        pidfile = os.path.join(self.work, "job.pid")
        with Client(a.addr) as c:
            j = c.ok("submit", argv=["sh", "-c", "echo $$ > %s.tmp && mv "
                                     "%s.tmp %s && exec sleep 300"
                                     % (pidfile, pidfile, pidfile)])["job"]
        wait_until(lambda: os.path.exists(pidfile), what="the job runs")
        with open(pidfile) as f:
            job_pid = int(f.read())
        idx = b.log_index()
        t = a.kill()
        took_kill = self.takeover(a, b, t)
        self.assertEqual(self.epoch_of(b, idx), epoch + 1)
        with Client(b.addr) as c:
            r = c.ok("job", job=j)
        self.assertEqual((r["state"], r["error"]), ("failed", "interrupted"))
        wait_until(lambda: not pid_alive(job_pid), what="the job killed")
        with Client(b.addr) as c:
            st = c.ok("stats")["store"]
        self.assertEqual((st["backend"], st["epoch"]), ("postgres",
                                                        epoch + 1))
        m = b.metrics()
        self.assertEqual((m["jqd_store_active"], m["jqd_store_epoch"]),
                         (1, epoch + 1))

        # A clean stop of the active: a takes over, epoch + 2.
        self.assertEqual(a.start(), "standby")
        idx = a.log_index()
        t = time.monotonic()
        b.sigterm()
        took_term_active = self.takeover(b, a, t)
        self.assertEqual(b.wait(10), 0, b.text())
        self.assertEqual(self.epoch_of(a, idx), epoch + 2)
        with Client(a.addr) as c:
            self.assertEqual(c.ok("stats")["store"]["epoch"], epoch + 2)
        self.assertTrue(refused(b.port))
        log("standby: SIGTERM to exit %.3f s; takeover after kill -9 "
            "%.3f s, after SIGTERM of the active %.3f s"
            % (took_term, took_kill, took_term_active))
        self.assertLessEqual(max(took_kill, took_term_active), TAKEOVER_S)


@unittest.skipUnless(os.access(os.environ.get("JQ_WORKER", ""), os.X_OK),
                     "JQ_WORKER is not set to an executable")
class FirstStartTest(NodesCase):
    def test_two_nodes_start_at_once_on_a_new_schema(self):
        """Both find the schema empty at once: the creation is serialized
        (it once failed one of them on a duplicate catalog row), one comes
        up active and the other a standby, every time."""
        for i in range(5):
            schema = db.new_schema("first%d" % i)
            self.addCleanup(db.drop_schema, schema)
            pair = [self.node("f%d%s" % (i, x), store=db.store(schema))
                    for x in "ab"]
            for n in pair:
                n.spawn()
            roles = sorted(n.role() for n in pair)
            self.assertEqual(roles, ["active", "standby"],
                             "\n".join(pair[0].lines + pair[1].lines))
            for n in pair:
                n.stop()


class WorkerTest(NodesCase):
    # The lease is long enough that the new node waits for the agent
    # rather than running the job again elsewhere.
    node_args = ("--workers", "0", "--worker-heartbeat", "200ms",
                 "--worker-lease", "10s", "--kill-grace", "2s")

    def test_worker_readopts_across_kill(self):
        from test_worker import Agent, read
        a, b = self.two_nodes()
        pool = "fo-pool"
        w = Agent(["-H", "%s,%s" % (a.addr, b.addr)], "fo-w1", [pool],
                  os.path.join(self.work, "agent"), self.work)
        self.addCleanup(w.check, self)
        self.addCleanup(w.close)
        w.registered()
        w.wait_log(r"connected to %s$" % a.addr)
        p = lambda n: os.path.join(self.work, n)
        script = ('echo run >> %s; echo $$ > %s.tmp && mv %s.tmp %s; '
                  'while [ ! -e %s ]; do sleep 0.05; done; echo done'
                  % (p("runs"), p("pid"), p("pid"), p("pid"), p("go")))
        with Client(a.addr) as c:
            j = c.ok("submit", argv=["sh", "-c", script], pool=pool,
                     retries=3)["job"]
        wait_until(lambda: os.path.exists(p("pid")), what="the job runs")
        pid = int(read(p("pid")))

        idx = b.log_index()
        t = a.kill()
        took = self.takeover(a, b, t)
        w.registered(2)
        w.wait_log(r"connected to %s$" % b.addr)
        w.wait_log(r"registered as .*, 1 attempt held")
        with Client(b.addr) as c:
            r = c.ok("job", job=j)
            self.assertEqual((r["state"], r["worker"], r["attempt"]),
                             ("running", w.worker, 1))
            os.kill(pid, 0)     # still the same process
            open(p("go"), "w").close()
            r = wait_until(lambda: c.ok("job", job=j)["state"] !=
                           "running" and c.ok("job", job=j),
                           what="job %d ends" % j)
        self.assertEqual((r["state"], r["attempt"], r["stdout"]),
                         ("succeeded", 1, "done\n"), r)
        self.assertEqual(read(p("runs")), "run\n")
        self.assertGreater(self.epoch_of(b, idx), 0)
        log("worker: takeover %.3f s; the job re-adopted, run once" % took)


if __name__ == "__main__":
    if not os.environ.get("JQD") or not os.access(os.environ["JQD"],
                                                   os.X_OK):
        print("JQD is not set to an executable; skipping")
        sys.exit(77)
    try:
        if os.environ.get("JQTEST_PG"):
            pgcluster.psql_path()
        else:
            pgcluster.bindir()
    except pgcluster.NotInstalled as e:
        print("skipping: %s" % e)
        sys.exit(77)
    log("test_failover: seed %d (JQTEST_SEED to repeat)" % SEED)
    jqtest.main()
