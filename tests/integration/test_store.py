"""Durability: what jqd acknowledged survives kill -9, exactly once and in
order; a database that is corrupt or from a newer jqd is refused and left
untouched.  SPEC section 5.

JQTEST_CRASH_CYCLES (default 3) sets how many kill -9 cycles the crash
test runs; the issue's acceptance run used 20.
"""

import hashlib
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest

import jqtest
from jqtest import Client, ConnectionClosed, Server, wait_until

CYCLES = int(os.environ.get("JQTEST_CRASH_CYCLES", "3"))
SENDERS = 4
WINDOW = 16
BATCH = 40


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def drain(client, chan):
    """Every value left in chan, in channel order (nothing waits)."""
    out = []
    while True:
        r = client.call("recv", chan=chan, max=1000, timeout_ms=0)
        if not r["ok"]:
            if r["error"]["code"] != "timeout":
                raise AssertionError("drain %s: %r" % (chan, r))
            return out
        if r.get("closed"):
            return out
        out.extend(r["values"])


class Sender(threading.Thread):
    """Pipelines sends of {"s": k, "n": 0, 1, ...} until the connection
    breaks (jqd killed); records how many were acknowledged."""

    def __init__(self, server, chan, k, start_n):
        super().__init__(daemon=True)
        self.client = Client(server)
        self.chan, self.k, self.n = chan, k, start_n
        self.acked = start_n      # replies received: all ok, in order
        self.error = None

    def run(self):
        inflight = 0
        try:
            while True:
                while inflight < WINDOW:
                    self.client.request("send", chan=self.chan,
                                        value={"s": self.k, "n": self.n})
                    self.n += 1
                    inflight += 1
                r = self.client.read_reply(60)
                if r["ok"] is not True:
                    self.error = "send failed: %r" % (r,)
                    return
                self.acked += 1
                inflight -= 1
        except (ConnectionClosed, OSError):
            return
        except Exception as e:  # reported by the test
            self.error = repr(e)


class Receiver(threading.Thread):
    """Pipelines plain blocking recvs until the connection breaks;
    records every value received."""

    def __init__(self, server, chan):
        super().__init__(daemon=True)
        self.client = Client(server)
        self.chan = chan
        self.got = []
        self.inflight = 0         # recvs sent whose reply never came
        self.error = None

    def run(self):
        try:
            while True:
                while self.inflight < WINDOW:
                    self.client.request("recv", chan=self.chan)
                    self.inflight += 1
                r = self.client.read_reply(60)
                if r["ok"] is not True:
                    self.error = "recv failed: %r" % (r,)
                    return
                self.got.append(r["value"])
                self.inflight -= 1
        except (ConnectionClosed, OSError):
            return
        except Exception as e:  # reported by the test
            self.error = repr(e)


class CrashTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="jqd-crash-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def start(self, *args):
        s = Server(*args, state_dir=self.dir)
        s.start()
        self.addCleanup(s.stop)
        return s

    def crash_and_restart(self, server, ctl, clients, *args):
        """kill -9 server, collect the client threads, restart on the
        same file with args: the new server and a control connection."""
        server.kill()
        for t in clients:
            t.join(60)
            self.assertIsNone(t.error)
            t.client.close()
        ctl.close()
        server = self.start(*args)
        return server, Client(server)

    def test_kill9_keeps_every_acknowledged_send_once_in_order(self):
        self.check_kill9_senders()

    def test_kill9_sync_normal(self):
        # sync normal survives a crash of jqd (not of the machine).  Its
        # loop commits small batches itself, the store thread busy ones
        # (store-commit.c): the senders' traffic and each cycle's batch
        # of BATCH values take both paths.
        self.check_kill9_senders("--sync", "normal")

    def check_kill9_senders(self, *args):
        closed = {}               # channel -> (closed, cap) acknowledged
        batches = []              # channels holding range(BATCH)
        for cycle in range(CYCLES):
            server = self.start(*args)
            ctl = Client(server)
            chan = "crash-%d" % cycle
            ctl.ok("make", chan=chan, cap=10000000)
            # Channel metadata changes acknowledged before the crash.
            name = "meta-%d" % cycle
            ctl.ok("make", chan=name, cap=cycle + 1)
            if cycle % 2 == 0:
                ctl.ok("close", chan=name)
            closed[name] = (cycle % 2 == 0, cycle + 1)
            # One request, one commit of more than STORE_BUSY_COMMIT
            # records.
            batch = "batch-%d" % cycle
            ctl.ok("make", chan=batch, cap=BATCH)
            ctl.ok("send", chan=batch, values=list(range(BATCH)))
            batches.append(batch)
            senders = [Sender(server, chan, k, 0) for k in range(SENDERS)]
            for t in senders:
                t.start()
            # Let traffic flow until every sender has had acks, then kill
            # while they keep sending.
            target = random.randint(100, 3000)
            wait_until(lambda: all(t.acked >= target for t in senders),
                       timeout=120, what="sends acknowledged")
            # Restart on the same file and look at everything.
            server, ctl = self.crash_and_restart(server, ctl, senders,
                                                 *args)
            for meta, (is_closed, cap) in closed.items():
                st = ctl.ok("stat", chan=meta)
                self.assertEqual(st["closed"], is_closed, meta)
                self.assertEqual(st["cap"], cap, meta)
            for b in batches:
                self.assertEqual(drain(ctl, b), list(range(BATCH)), b)
                ctl.ok("send", chan=b, values=list(range(BATCH)))
            seen = [[] for _ in range(SENDERS)]
            for v in drain(ctl, chan):
                self.assertIsInstance(v, dict, v)
                self.assertIn(v["s"], range(SENDERS), v)
                seen[v["s"]].append(v["n"])
            for t in senders:
                got = seen[t.k]
                # A prefix 0..m-1 of what was sent: nothing twice, nothing
                # missing, nothing never sent; and m covers every ack.
                self.assertEqual(got, list(range(len(got))),
                                 "cycle %d sender %d" % (cycle, t.k))
                self.assertGreaterEqual(len(got), t.acked,
                                        "cycle %d sender %d lost "
                                        "acknowledged values" % (cycle, t.k))
                self.assertLessEqual(len(got), t.n)
            ctl.close()
            server.stop()
            self.assertEqual(server.problems(), [])

    def test_kill9_with_receivers_loses_and_repeats_nothing(self):
        self.check_kill9_receivers()

    def test_kill9_with_receivers_sync_normal(self):
        self.check_kill9_receivers("--sync", "normal")

    def check_kill9_receivers(self, *args):
        # Receivers keep up with the senders, so most values pass through
        # without reaching the disk (PROTOCOL.md 6.1.1): handed to a
        # waiting receiver, or taken before their insert was committed.
        # No value may show up twice, or out of order; whatever jqd
        # acknowledged must be received or still be in the channel after
        # kill -9 -- except values taken by a plain recv whose reply the
        # kill cut off, which are gone (at most once, 6.2): at most one
        # per recv left without a reply.
        for cycle in range(CYCLES):
            server = self.start(*args)
            ctl = Client(server)
            chan = "through-%d" % cycle
            ctl.ok("make", chan=chan, cap=10000000)
            receivers = [Receiver(server, chan) for _ in range(SENDERS)]
            senders = [Sender(server, chan, k, 0) for k in range(SENDERS)]
            # Even cycles: receivers wait first (mostly hand-offs).  Odd
            # cycles: a backlog first (mostly stored values taken).
            first, then = ((receivers, senders) if cycle % 2 == 0
                           else (senders, receivers))
            for t in first:
                t.start()
            if cycle % 2 == 1:
                wait_until(lambda: all(t.acked >= 500 for t in senders),
                           timeout=120, what="a backlog")
            for t in then:
                t.start()
            target = random.randint(100, 3000)
            wait_until(lambda: all(t.acked >= 500 + target
                                   for t in senders) and
                       sum(len(t.got) for t in receivers) >= 100,
                       timeout=120, what="sends acknowledged")
            server, ctl = self.crash_and_restart(server, ctl,
                                                 senders + receivers, *args)
            left = drain(ctl, chan)
            received = [v for t in receivers for v in t.got]
            self.assertGreater(len(received), 0, "nothing passed through")
            cut_off = sum(t.inflight for t in receivers)
            lost = 0
            for t in senders:
                mine_left = [v["n"] for v in left if v["s"] == t.k]
                mine_got = [v["n"] for v in received if v["s"] == t.k]
                both = mine_left + mine_got
                self.assertEqual(len(both), len(set(both)),
                                 "cycle %d sender %d: a value twice"
                                 % (cycle, t.k))
                self.assertEqual(mine_left, sorted(mine_left),
                                 "cycle %d sender %d: order"
                                 % (cycle, t.k))
                lost += len(set(range(t.acked)) - set(both))
                self.assertTrue(all(0 <= n < t.n for n in both),
                                "cycle %d sender %d: never sent"
                                % (cycle, t.k))
            self.assertLessEqual(lost, cut_off,
                                 "cycle %d: %d acknowledged values lost, "
                                 "only %d recvs were cut off"
                                 % (cycle, lost, cut_off))
            # Each receiver got each sender's values in sending order.
            for t in receivers:
                for k in range(SENDERS):
                    ns = [v["n"] for v in t.got if v["s"] == k]
                    self.assertEqual(ns, sorted(ns))
            ctl.close()
            server.stop()
            self.assertEqual(server.problems(), [])

    def test_kill9_with_leases_and_acks(self):
        server = self.start()
        c = Client(server)
        c.ok("make", chan="work", cap=100)
        c.ok("send", chan="work", values=list(range(10)))
        acked = c.ok("recv", chan="work", lease_ms=600000)
        self.assertEqual(acked["value"], 0)
        c.ok("ack", chan="work", lease=acked["lease"])
        leased = c.ok("recv", chan="work", lease_ms=600000, max=2)
        self.assertEqual(leased["values"], [1, 2])
        taken = c.ok("recv", chan="work")          # at-most-once recv
        self.assertEqual(taken["value"], 3)
        server.kill()
        c.close()

        server = self.start()
        c = Client(server)
        self.addCleanup(c.close)
        st = c.ok("stat", chan="work")
        self.assertEqual((st["len"], st["leased"]), (8, 0))
        # Leased values are back at the front, the rest follow in order.
        self.assertEqual(drain(c, "work"), [1, 2, 4, 5, 6, 7, 8, 9])
        server.stop()
        self.assertEqual(server.problems(), [])

    def test_clean_restart_restores_channels(self):
        server = self.start()
        c = Client(server)
        c.ok("make", chan="a", cap=5)
        c.ok("make", chan="u", cap=0)
        c.ok("make", chan="gone", cap=1)
        c.ok("send", chan="a", values=["x", {"y": [1, None]}, 3.5])
        c.ok("close", chan="a")
        c.ok("drop", chan="gone")
        r = c.ok("recv", chan="a", lease_ms=600000)
        c.ok("nack", chan="a", lease=r["lease"])
        c.close()
        server.stop()
        self.assertEqual(server.problems(), [])
        server = self.start()
        c = Client(server)
        self.addCleanup(c.close)
        names = [x["chan"] for x in c.ok("chans")["chans"]]
        self.assertEqual(names, ["a", "u"])
        st = c.ok("stat", chan="a")
        self.assertEqual((st["cap"], st["len"], st["closed"]), (5, 3, True))
        r = c.ok("recv", chan="a", max=10)
        self.assertEqual(r["values"], ["x", {"y": [1, None]}, 3.5])
        self.assertEqual(c.ok("recv", chan="a").get("closed"), True)
        self.assertEqual(c.ok("stat", chan="u")["cap"], 0)
        server.stop()


@jqtest.sqlite_only("corrupts and rewrites jqd's SQLite file")
class RefusalTest(unittest.TestCase):
    """A database jqd must not touch: it exits non-zero, says why, and the
    file's bytes are unchanged."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="jqd-refuse-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.db = os.path.join(self.dir, "jqd.db")

    def make_db(self):
        server = Server(state_dir=self.dir)
        server.start()
        c = Client(server)
        c.ok("make", chan="q", cap=1000)
        c.ok("send", chan="q", values=["v%d" % i for i in range(500)])
        c.close()
        server.stop()
        self.assertEqual(server.problems(), [])

    def assertRefused(self, *words):
        before = file_digest(self.db)
        p = subprocess.run([os.environ["JQD"], "--listen", "127.0.0.1:0",
                            "--db", self.db], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        err = p.stderr.decode("utf-8", "replace")
        self.assertNotEqual(p.returncode, 0, err)
        self.assertNotIn("info: ready", err)
        for w in words:
            self.assertIn(w, err)
        self.assertEqual(file_digest(self.db), before,
                         "jqd modified a database it refused")

    def test_corrupt_pages(self):
        self.make_db()
        size = os.path.getsize(self.db)
        self.assertGreater(size, 8192)
        with open(self.db, "r+b") as f:
            # Keep the header, wreck the b-tree pages after it.
            f.seek(4096 + 16)
            f.write(os.urandom(4096 - 16))
            f.seek(size - 4096)
            f.write(b"\xff" * 4096)
        self.assertRefused("corrupt")

    def test_not_a_database(self):
        with open(self.db, "wb") as f:
            f.write(b"this is not an SQLite file\n" * 500)
        self.assertRefused(self.db)

    def test_newer_schema(self):
        self.make_db()
        db = sqlite3.connect(self.db)
        db.execute("PRAGMA user_version = 999")
        db.commit()
        db.close()
        self.assertRefused("999", "newer")

    def test_other_application(self):
        db = sqlite3.connect(self.db)
        db.execute("CREATE TABLE t (x)")
        db.execute("PRAGMA application_id = 42")
        db.commit()
        db.close()
        self.assertRefused("not a jqd database")


@unittest.skipUnless(os.path.exists(jqtest.SLOWSYNC), "slowsync.so not built")
@jqtest.sqlite_only("slows the fsyncs of jqd's SQLite file; on PostgreSQL "
                    "the server syncs, in its own process")
class SlowCommitTest(unittest.TestCase):
    """With every fsync slowed down (slowsync.so), a commit stays in flight
    for seconds: replies that rest on it wait, replies carrying values
    that never reach the disk do not (PROTOCOL.md 6.1.1), and sends while
    receivers drain a channel wait one commit more (6.1.2)."""

    SLOW_MS = int(3000 * jqtest.TIMEOUT_SCALE)

    def start_slow_server(self):
        """A server whose fsyncs sleep SLOW_MS while slow_file exists."""
        slow_file = os.path.join(tempfile.mkdtemp(prefix="jqd-slow-"),
                                 "sync-ms")
        self.addCleanup(shutil.rmtree, os.path.dirname(slow_file), True)
        server = Server(env=jqtest.slow_sync_env(slow_file))
        server.start()
        self.addCleanup(server.stop)
        return server, slow_file

    def test_notice_waits_behind_a_held_reply(self):
        # The auth-timeout notice used to be written straight to the
        # socket, ahead of a reply still held for its commit (issue 13).
        d = tempfile.mkdtemp(prefix="jqd-slow-")
        self.addCleanup(shutil.rmtree, d, True)
        token, slow_file = os.path.join(d, "token"), os.path.join(d, "ms")
        with open(token, "w") as f:
            f.write("tok\n")
        server = Server("--token-file", token, "--auth-timeout", "300ms",
                        env=jqtest.slow_sync_env(slow_file))
        server.start()
        self.addCleanup(server.stop)
        trusted = Client(server)
        self.addCleanup(trusted.close)
        trusted.ok("auth", token="tok")
        with open(slow_file, "w") as f:
            f.write("%d\n" % self.SLOW_MS)
        trusted.request("make", chan="held", cap=1)
        wait_until(lambda: os.path.exists(slow_file + ".entered"),
                   what="the commit in flight")
        # hello rests on that change: its reply waits for the commit,
        # longer than auth-timeout.
        late = Client(server)
        self.addCleanup(late.close)
        late.request("hello")
        self.assertIsNone(late.poll_reply(0.1), "hello answered too soon")
        os.unlink(slow_file)
        first = late.read_reply(3 * self.SLOW_MS / 1000)
        self.assertEqual((first["id"], first["ok"]), (1, True), first)
        notice = late.read_reply(3 * self.SLOW_MS / 1000)
        self.assertEqual((notice["id"], notice["error"]["code"]),
                         (None, "unauthorized"), notice)
        self.assertEqual(late.expect_eof(), [])
        self.assertIs(trusted.read_reply(3 * self.SLOW_MS / 1000)["ok"], True)

    def clients(self, server, n):
        clients = [Client(server) for _ in range(n)]
        for x in clients:
            self.addCleanup(x.close)
        return clients

    def test_values_that_never_reach_the_disk_do_not_wait(self):
        server, slow_file = self.start_slow_server()
        c, stored, a, b, r1, r2, r3 = self.clients(server, 7)
        slow = self.SLOW_MS / 1000
        c.ok("make", chan="ch", cap=100)
        c.ok("make", chan="old", cap=100)
        stored.ok("send", chan="old", value="old")
        r1.request("recv", chan="ch")
        wait_until(lambda: c.ok("stat", chan="ch")["receivers_waiting"] == 1,
                   what="r1 waiting")
        with open(slow_file, "w") as f:
            f.write("%d\n" % self.SLOW_MS)

        # An unrelated change: its commit is in flight for SLOW_MS.
        c.request("make", chan="other", cap=1)
        wait_until(lambda: os.path.exists(slow_file + ".entered"),
                   what="the commit in flight")
        # A value for a waiting receiver: handed over, nothing to wait for.
        b.request("send", chan="ch", value="handed")
        self.assertEqual(r1.read_reply(slow / 2)["value"], "handed")
        self.assertIs(b.read_reply(slow / 2)["ok"], True)
        # A value buffered while that commit is in flight (its insert waits
        # in the next batch) and received before it is written: neither
        # the receiver nor the sender waits.  (Should r2's recv arrive
        # first, it is a hand-off, which must not wait either.)
        a.request("send", chan="ch", value="quick")
        time.sleep(0.1)
        r2.request("recv", chan="ch")
        self.assertEqual(r2.read_reply(slow / 2)["value"], "quick")
        self.assertIs(a.read_reply(slow / 2)["ok"], True)
        # A value that is on disk: taking it is a change, which waits for
        # the commit after the one in flight; so does the unrelated make.
        r3.request("recv", chan="old")
        self.assertIsNone(c.poll_reply(0.1), "make answered before commit")
        self.assertIsNone(r3.poll_reply(0.1), "recv of a stored value "
                          "answered before its removal was committed")
        os.unlink(slow_file)
        self.assertIs(c.read_reply(3 * slow)["ok"], True)
        self.assertEqual(r3.read_reply(3 * slow)["value"], "old")
        st = c.ok("stat", chan="ch")
        self.assertEqual((st["len"], st["sent"], st["received"]), (0, 2, 2))
        server.stop()
        self.assertEqual(server.problems(), [])

    def test_sends_wait_one_more_commit_while_receivers_drain(self):
        """PROTOCOL.md 6.1.2: while receivers take values from a channel,
        a send stored in it is acknowledged one commit after its insert;
        a send to a channel nobody takes from is not held."""
        server, slow_file = self.start_slow_server()
        entered = slow_file + ".entered"
        c, r, p, calm, q, z = self.clients(server, 6)
        slow = self.SLOW_MS / 1000
        c.ok("make", chan="ch", cap=100)
        c.ok("make", chan="calm", cap=100)
        c.ok("send", chan="ch", value="s1")
        c.ok("send", chan="ch", value="s2")

        def commit_in_flight(what):
            wait_until(lambda: os.path.exists(entered), what=what)
            os.unlink(entered)

        with open(slow_file, "w") as f:
            f.write("%d\n" % self.SLOW_MS)
        # Batch 1: r takes a stored value; its delete's commit is held.
        r.request("recv", chan="ch")
        commit_in_flight("batch 1 in flight")
        # Batch 2: a send to ch, which r is draining; a send to a channel
        # nobody takes from; an unrelated change.
        p.request("send", chan="ch", value="v")
        calm.request("send", chan="calm", value="c")
        q.request("make", chan="q", cap=1)
        self.assertEqual(r.read_reply(3 * slow)["value"], "s1")
        commit_in_flight("batch 2 in flight")
        # Batch 3: another change, its commit held in turn.
        z.request("make", chan="z", cap=1)
        self.assertIs(q.read_reply(3 * slow)["ok"], True)
        self.assertIs(calm.read_reply(slow / 2)["ok"], True)
        self.assertIsNone(p.poll_reply(0.2), "send acknowledged with the "
                          "commit of its insert while a receiver drains")
        os.unlink(slow_file)
        self.assertIs(p.read_reply(3 * slow)["ok"], True)
        self.assertIs(z.read_reply(3 * slow)["ok"], True)
        # With nothing else to commit, the commit after the insert is
        # empty and counts as done at once: the ack is not held.
        self.assertEqual(r.ok("recv", chan="ch")["value"], "s2")
        p.ok("send", chan="ch", value="w")
        self.assertEqual([r.ok("recv", chan="ch")["value"]
                          for _ in range(2)], ["v", "w"])
        server.stop()
        self.assertEqual(server.problems(), [])


if __name__ == "__main__":
    jqtest.main()
