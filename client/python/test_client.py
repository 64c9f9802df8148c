"""Tests of jqclient.Client (threads) and jqclient.aio.Client (asyncio):
one multiplexed connection shared by callers, per-call timeouts and task
cancellation mapped to abort without losing a value or a lease, reconnect
across jqd restarts (SIGTERM and kill -9) with nothing lost, the 1.1-1.3
ops, and the Worker helpers.

    JQD=/path/to/jqd python3 client/python/test_client.py [-v] [Test.test_x]

Without JQD it exits 77 (skip).  Each test starts its jqd through the
integration harness (tests/integration/jqtest.py) in a private directory,
on a Unix socket.
"""

import asyncio
import inspect
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.join(HERE, "..", "..", "tests", "integration"))

import jqclient  # noqa: E402
import jqclient.aio  # noqa: E402
from jqtest import Server, in_thread, unique_name, wait_until  # noqa: E402

WAIT_S = 60          # a reply that must come gets this long (noisy cores)
RACE_ROUNDS = 200


class JqdCase(unittest.TestCase):
    """A jqd on a Unix socket in a directory that outlives its restarts."""

    server_args = ("--workers", 2, "--max-pending", 64)

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="jqclient-test-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.sock = os.path.join(self.dir, "jqd.sock")
        self.addr = "unix:" + self.sock
        self.server = None
        self.start()

    def start(self):
        self.server = Server(*self.server_args, state_dir=self.dir,
                             listen_args=["--unix", self.sock]).start()
        self.addCleanup(self.server.check)
        return self.server

    def restart(self, crash):
        """kill -9 (crash) or SIGTERM, then start again on the same
        database and socket."""
        if crash:
            self.server.kill()
        else:
            self.server.stop()
            self.assertEqual(self.server.problems(), [])
        return self.start()

    def client(self, **kw):
        kw.setdefault("timeout", WAIT_S)
        c = jqclient.Client(self.addr, **kw)
        self.addCleanup(c.close)
        return c

    def chan(self, c, cap=0, **kw):
        name = unique_name("py-" + self._testMethodName[5:])
        self.assertIs(c.make(name, cap, **kw), True)
        return name

    def in_thread(self, fn, *args, **kw):
        return in_thread(fn, *args, **kw)

    def run_async(self, coro):
        return asyncio.run(asyncio.wait_for(coro, WAIT_S * 2))


class SyncClientTest(JqdCase):

    def test_multiplexed_and_ops(self):
        c = self.client()
        self.assertIn("multiplex", c.features)
        ch = self.chan(c, 10)
        self.assertIs(c.make(ch, 10), False)
        with self.assertRaises(jqclient.Exists):
            c.make(ch, 11)
        self.assertIs(c.send(ch, {"price": 19.99}), True)
        self.assertEqual(c.peek(ch), [{"price": 19.99}])
        c.send_batch(ch, [1, None, "x"])
        self.assertEqual(c.recv(ch), {"price": 19.99})
        self.assertEqual(c.recv_many(ch, 10), [1, None, "x"])
        self.assertEqual(c.stat(ch)["len"], 0)
        self.assertIn(ch, [s["chan"] for s in c.chans(ch)])
        with self.assertRaises(jqclient.Timeout):
            c.recv(ch, timeout_ms=0)
        r = c.select([jqclient.RecvCase(ch), jqclient.SendCase(ch, 7)])
        self.assertEqual(r.index, 1)
        c.close_chan(ch)
        self.assertEqual(c.recv(ch), 7)
        with self.assertRaises(jqclient.Closed):
            c.recv(ch)
        c.drop(ch)
        with self.assertRaises(jqclient.NotFound):
            c.stat(ch)
        self.assertIsInstance(c.stats()["uptime_ms"], int)

    def test_blocked_recv_holds_no_ping(self):
        c = self.client()
        ch = self.chan(c)
        joins = [self.in_thread(c.recv, ch) for _ in range(8)]
        wait_until(lambda: c.stat(ch)["receivers_waiting"] == 8)
        t0 = time.monotonic()
        c.ping()
        self.assertLess(time.monotonic() - t0, 1.0)
        for i in range(8):
            c.send(ch, i)
        self.assertEqual(sorted(j() for j in joins), list(range(8)))

    def leader_of(self, c):
        """The thread reading c's connection (None: nobody)."""
        return c._engine._conn.leader

    def test_threads_share_the_client_while_the_leader_is_blocked(self):
        # The first caller, a recv that blocks, reads for every thread:
        # 16 threads' pings and sends are answered through it.
        c = self.client()
        ch = self.chan(c, 1000)
        other = self.client()
        join_recv = self.in_thread(c.recv, ch)
        wait_until(lambda: other.stat(ch)["receivers_waiting"] == 1)
        blocked = wait_until(lambda: self.leader_of(c))

        def work(k):
            for i in range(50):
                c.ping()
                self.assertEqual(c.stat(ch)["receivers_waiting"], 1)
            return k
        joins = [self.in_thread(work, k) for k in range(16)]
        self.assertEqual(sorted(j() for j in joins), list(range(16)))
        self.assertEqual(self.leader_of(c), blocked)    # it led throughout
        other.send(ch, "late")
        self.assertEqual(join_recv(), "late")
        self.assertEqual(c.reconnects, 0)

    def test_leader_hands_off_when_its_own_reply_comes_first(self):
        # A leads (first blocked), B and C wait; A's reply comes first:
        # A wakes one of them to read, and B's and C's replies arrive.
        c = self.client()
        other = self.client()
        a, b, d = (self.chan(c) for _ in range(3))
        join_a = self.in_thread(c.recv, a)
        wait_until(lambda: other.stat(a)["receivers_waiting"] == 1)
        leader_a = wait_until(lambda: self.leader_of(c))
        join_b = self.in_thread(c.recv, b)
        join_d = self.in_thread(c.recv, d)
        wait_until(lambda: other.stat(b)["receivers_waiting"] == 1
                   and other.stat(d)["receivers_waiting"] == 1)
        wait_until(lambda: len(c._engine._conn.waiting) == 2)
        self.assertEqual(self.leader_of(c), leader_a)
        other.send(a, "a")
        self.assertEqual(join_a(), "a")
        # One of the waiters reads now.
        wait_until(lambda: self.leader_of(c) not in (None, leader_a))
        other.send(b, "b")
        self.assertEqual(join_b(), "b")
        other.send(d, "d")
        self.assertEqual(join_d(), "d")
        c.ping()
        self.assertEqual(c.reconnects, 0)

    def test_leader_times_out_while_others_wait(self):
        # The leader's own deadline passes: it aborts (CallTimeout) and
        # hands off; the caller waiting behind it is still answered.
        c = self.client()
        other = self.client()
        a, b = self.chan(c), self.chan(c)
        t0 = time.monotonic()
        join_a = self.in_thread(c.recv, a, timeout=1.0)
        wait_until(lambda: other.stat(a)["receivers_waiting"] == 1)
        join_b = self.in_thread(c.recv, b)
        wait_until(lambda: other.stat(b)["receivers_waiting"] == 1)
        with self.assertRaises(jqclient.CallTimeout):
            join_a()
        self.assertGreaterEqual(time.monotonic() - t0, 1.0)
        wait_until(lambda: other.stat(a)["receivers_waiting"] == 0)
        other.send(b, "b")
        self.assertEqual(join_b(), "b")
        self.assertEqual(c.reconnects, 0)

    def test_a_reconnect_holds_no_other_caller_past_its_timeout(self):
        # One caller redials (for up to reconnect_timeout) while jqd is
        # down; another, with a timeout of its own, gets CallTimeout at
        # that timeout, not when the first gives up.
        c = self.client(timeout=None, reconnect_timeout=WAIT_S)
        self.server.stop()
        join_a = self.in_thread(c.ping)
        wait_until(lambda: c._engine._dial_lock.locked())
        t0 = time.monotonic()
        with self.assertRaises(jqclient.CallTimeout):
            c.ping(timeout=0.5)
        self.assertLess(time.monotonic() - t0, WAIT_S / 4)
        self.start()
        join_a()
        self.assertEqual(c.reconnects, 1)

    def test_a_reply_too_long_is_not_sent_again(self):
        # A reply over the client's longest line breaks the connection
        # (ProtocolError); a request safe to resend would get the same
        # reply again: it fails, with no endless reconnect loop.
        with mock.patch.object(jqclient._sync, "MAX_LINE", 1 << 16):
            c = self.client()
            ch = self.chan(c, 1)
            c.send(ch, "x" * 200000)
            join = self.in_thread(c.peek, ch)
            with self.assertRaises(jqclient.ProtocolError):
                join(WAIT_S / 2)
        self.assertEqual(self.client().peek(ch), ["x" * 200000])

    def test_many_threads_one_connection(self):
        c = self.client()
        ch = self.chan(c, 100)
        n, per = 16, 50

        def produce(k):
            for i in range(per):
                c.send(ch, [k, i])

        def consume():
            return [c.recv(ch) for _ in range(per)]
        cons = [self.in_thread(consume) for _ in range(n)]
        prods = [self.in_thread(produce, k) for k in range(n)]
        for p in prods:
            p()
        got = sorted(tuple(v) for j in cons for v in j())
        self.assertEqual(got, sorted((k, i) for k in range(n)
                                     for i in range(per)))
        self.assertEqual(c.reconnects, 0)

    def test_max_pending(self):
        # jqd allows 64 blocked requests per connection (server_args).  By
        # default the 65th is refused (Limit: nothing done); with
        # max_pending the client keeps it waiting in the client instead.
        c = self.client()
        ch = self.chan(c)
        joins = [self.in_thread(c.recv, ch) for _ in range(64)]
        wait_until(lambda: c.stat(ch)["receivers_waiting"] == 64)
        with self.assertRaises(jqclient.Limit):
            c.recv(ch)
        queued = self.client(max_pending=64)
        joins += [self.in_thread(queued.recv, ch) for _ in range(100)]
        wait_until(lambda: c.stat(ch)["receivers_waiting"] == 128)
        sender = self.client()      # c has no room for a send either
        for i in range(164):
            sender.send(ch, i)
        self.assertEqual(sorted(j() for j in joins), list(range(164)))

    def test_call_timeout_aborts(self):
        c = self.client()
        ch = self.chan(c)
        t0 = time.monotonic()
        with self.assertRaises(jqclient.CallTimeout):
            c.recv(ch, timeout=0.2)
        self.assertLess(time.monotonic() - t0, WAIT_S / 2)
        wait_until(lambda: c.stat(ch)["receivers_waiting"] == 0)
        c.ping()        # the same connection serves on
        self.assertEqual(c.reconnects, 0)

    def test_timeout_race_never_loses_a_value(self):
        # A value sent as the caller's deadline passes is either received
        # (returned) or still in the channel: counted at the end.
        c = self.client()
        other = self.client()
        ch = self.chan(c, 1000)
        got, timeouts = [], 0
        for i in range(RACE_ROUNDS):
            sender = threading.Timer(0.005 * (i % 5), other.send, (ch, i))
            sender.start()
            try:
                got.append(c.recv(ch, timeout=0.005 * (i % 7)))
            except jqclient.CallTimeout:
                timeouts += 1
            sender.join()
        rest = c.recv_many(ch, 1000, timeout_ms=0) if c.stat(ch)["len"] \
            else []
        self.assertEqual(sorted(got + rest), list(range(RACE_ROUNDS)))
        self.assertEqual(c.orphans, [])

    def test_unkeyed_send_outcome_unknown_keyed_retried(self):
        c = self.client()
        ch = self.chan(c)          # unbuffered: the send blocks
        join = self.in_thread(c.send, ch, "plain")
        wait_until(lambda: c.stat(ch)["senders_waiting"] == 1)
        self.restart(crash=True)
        with self.assertRaises(jqclient.OutcomeUnknown):
            join()
        self.assertIsInstance(jqclient.OutcomeUnknown("x"),
                              jqclient.ConnectionError)

    def test_idle_connection_lost_is_no_lost_request(self):
        # Nothing reads an idle connection; the next call sees that the
        # server closed it and reconnects before sending, so even a send
        # without key (not safe to resend) goes through.
        c = self.client()
        ch = self.chan(c, 10)
        self.restart(crash=True)
        self.assertIs(c.send(ch, "plain"), True)
        self.assertEqual(c.reconnects, 1)
        self.assertEqual(c.recv(ch), "plain")

    def check_restart_nothing_lost(self, crash):
        c = self.client()
        ch = self.chan(c, 1000)
        n = 200
        done = threading.Event()

        def produce():
            for i in range(n):
                c.send(ch, i, key="k-%d" % i)
            done.set()
        join = self.in_thread(produce)
        wait_until(lambda: c.stat(ch)["len"] >= 20)
        self.restart(crash)
        join()
        self.assertTrue(done.is_set())
        self.assertGreaterEqual(c.reconnects, 1)
        values = c.recv_many(ch, 1000, timeout_ms=0)
        self.assertEqual(sorted(values), list(range(n)))

    def test_restart_kill9_keyed_sends(self):
        self.check_restart_nothing_lost(crash=True)

    def test_restart_sigterm_keyed_sends(self):
        self.check_restart_nothing_lost(crash=False)

    def test_blocked_recv_survives_sigterm(self):
        # A recv blocked when jqd stops is answered shutting_down (it took
        # nothing), so the client sends it again to the new jqd.
        c = self.client()
        ch = self.chan(c, 10)
        join = self.in_thread(c.recv, ch)
        wait_until(lambda: c.stat(ch)["receivers_waiting"] == 1)
        self.restart(crash=False)
        other = self.client()
        wait_until(lambda: other.stat(ch)["receivers_waiting"] == 1)
        other.send(ch, "after restart")
        self.assertEqual(join(), "after restart")

    def test_named_consumer_lease_across_restart(self):
        c = self.client(consumer="w-1")
        ch = self.chan(c, 10)
        c.send(ch, "job")
        lease = c.recv_lease(ch, 60000)
        self.assertEqual(lease.consumer, "w-1")
        self.restart(crash=True)
        deadline = lease.touch(60000)
        self.assertIsInstance(deadline, int)
        lease.ack()
        self.assertEqual(c.stat(ch)["leased"], 0)

    def test_dead_letters_and_nack_reason(self):
        c = self.client()
        dead = self.chan(c, 10)
        ch = self.chan(c, 10, max_deliveries=1, dead_letter=dead)
        c.send(ch, "poison")
        lease = c.recv_lease(ch, 60000)
        lease.nack(reason="bad input")
        env = c.recv(dead)
        self.assertEqual(env["value"], "poison")
        self.assertEqual(env["reason"], "bad input")

    def test_jobs(self):
        c = self.client()
        g = unique_name("g")
        j = c.submit(["sh", "-c", "echo hi"], group=g, key="job-" + g)
        self.assertIs(c.submit(["true"], key="job-" + g).duplicate, True)
        [res] = c.wait(jobs=[j])
        self.assertEqual((res["state"], res["stdout"]), ("succeeded", "hi\n"))
        self.assertEqual(c.job(j)["state"], "succeeded")
        self.assertEqual(c.group(g)["succeeded"], 1)
        self.assertEqual([x["job"] for x in c.jobs(group=g)], [j])
        f = c.submit(["sh", "-c", "echo out; exit 3"], group=g)
        events = list(c.watch(job=f))
        self.assertNotIn("event", events[-1])
        self.assertEqual(events[-1]["results"][0]["state"], "failed")
        r = c.retry(f)
        self.assertEqual(c.wait(jobs=[r])[0]["state"], "failed")
        s = c.submit(["sleep", "60"], group=g)
        self.assertEqual(c.cancel(job=s), 1)
        self.assertEqual(c.wait(jobs=[s])[0]["state"], "canceled")
        self.assertGreaterEqual(c.purge(group=g), 3)
        self.assertEqual(c.pool(pause=True)["paused"], True)
        self.assertEqual(c.pool(pause=False)["paused"], False)
        self.assertEqual(c.workers(), [])

    def test_watch_output(self):
        c = self.client()
        j = c.submit(["sh", "-c", "echo one; sleep 0.3; echo two"])
        out = "".join(e.get("data", "") for e in c.watch(job=j)
                      if e.get("event") == "output")
        self.assertEqual(out, "one\ntwo\n")

    def test_watch_frames_not_taken_are_bounded(self):
        # The watch's caller takes no frame while another call reads them
        # all: past WATCH_FRAMES_MAX the output frames are dropped and one
        # lagged frame counts them, as jqd does for a slow reader.
        # (Not a wait on the watch's own connection: at the job's end jqd
        # then asserts c->stream == NULL in call_reply_stream and aborts.)
        c, other = self.client(), self.client()
        ch = self.chan(c)
        j = c.submit(["sh", "-c", "for i in $(seq 40); do echo line; "
                      "sleep 0.01; done"])
        with mock.patch.object(jqclient._api, "WATCH_FRAMES_MAX", 3):
            frames = c.watch(job=j)
            got = [next(frames)]
            join = self.in_thread(c.recv, ch)       # reads for the watch
            self.assertEqual(other.wait(jobs=[j])[0]["state"], "succeeded")
            wait_until(lambda: len(c._engine._conn.pending) == 1)
            other.send(ch, "done")
            self.assertEqual(join(), "done")
            got += list(frames)
        events = [f.get("event") for f in got[:-1]]
        self.assertLessEqual(events.count("output"), 3)
        lagged = [f for f in got if f.get("event") == "lagged"]
        self.assertEqual(len(lagged), 1)
        shown = "".join(f.get("data", "") for f in got
                        if f.get("event") == "output")
        self.assertEqual(len(shown) + lagged[0]["dropped_bytes"],
                         len("line\n" * 40))
        self.assertEqual(got[-1]["results"][0]["stdout"], "line\n" * 40)

    def interrupt_recv(self, c, ch):
        """A recv on ch in this (the main) thread, ended by a SIGINT once
        jqd sees it waiting: KeyboardInterrupt, and the receive is gone
        from the server (aborted)."""
        def interrupt():
            wait_until(lambda: c.stat(ch)["receivers_waiting"] == 1)
            os.kill(os.getpid(), signal.SIGINT)
        t = threading.Thread(target=interrupt)
        t.start()
        with self.assertRaises(KeyboardInterrupt):
            c.recv(ch)
        t.join()
        wait_until(lambda: c.stat(ch)["receivers_waiting"] == 0)

    def test_interrupt_aborts_and_keeps_the_connection(self):
        # Ctrl-C (SIGINT) in the main thread while a call waits: the
        # request is aborted on the server, the connection serves on.
        c = self.client()
        ch = self.chan(c)
        self.interrupt_recv(c, ch)
        self.assertEqual(c.reconnects, 0)
        self.assertEqual(c.orphans, [])

    def test_interrupt_of_a_follower(self):
        # Ctrl-C while the main thread waits behind another caller that
        # reads (the main thread does not lead): the same as above.
        c = self.client()
        ch, lead = self.chan(c), self.chan(c)
        join = self.in_thread(c.recv, lead)
        wait_until(lambda: c.stat(lead)["receivers_waiting"] == 1)
        leader = wait_until(lambda: c._engine._conn.leader)
        self.assertNotEqual(leader, threading.get_ident())
        self.interrupt_recv(c, ch)
        c.send(lead, "still led")
        self.assertEqual(join(), "still led")
        self.assertEqual((c.reconnects, c.orphans), (0, []))

    def check_interrupt_while_handing_a_reply_out(self, code, needle):
        # Ctrl-C lands in the leader (the main thread) at the line of code
        # with needle, as it hands the reply of the last of two followers
        # out: that follower is woken all the same.
        c = self.client()
        other = self.client()
        a, b, d = self.chan(c), self.chan(c), self.chan(c)
        lines, first = inspect.getsourcelines(code)
        at = first + next(i for i, line in enumerate(lines) if needle in line)
        armed = threading.Event()
        fired = []

        def tracer(frame, event, arg):
            if event == "line" and frame.f_lineno == at \
                    and armed.is_set() and not fired:
                fired.append(frame.f_lineno)
                raise KeyboardInterrupt
            return tracer

        def follower(ch, n):
            leader = wait_until(lambda: c._engine._conn.leader)
            self.assertEqual(leader, main)
            wait_until(lambda: len(c._engine._conn.waiting) == n)
            return c.recv(ch)

        def sender():
            wait_until(lambda: other.stat(b)["receivers_waiting"] == 1
                       and len(c._engine._conn.waiting) == 2)
            armed.set()
            other.send(b, "b")
        main = threading.get_ident()
        join_d = self.in_thread(follower, d, 0)
        join_b = self.in_thread(follower, b, 1)
        join_s = self.in_thread(sender)
        sys.settrace(lambda f, e, a: tracer if f.f_code is code.__code__
                     else None)
        try:
            with self.assertRaises(KeyboardInterrupt):
                c.recv(a)
        finally:
            sys.settrace(None)
        join_s()
        self.assertEqual(fired, [at])
        self.assertEqual(join_b(WAIT_S / 4), "b")
        other.send(d, "d")
        self.assertEqual(join_d(), "d")
        wait_until(lambda: other.stat(a)["receivers_waiting"] == 0)
        self.assertEqual((c.reconnects, c.orphans), (0, []))

    def test_interrupt_between_marking_a_wake_and_giving_it(self):
        self.check_interrupt_while_handing_a_reply_out(
            jqclient._sync._Conn._signal, "slot.wake.release()")

    def test_closing_the_watch_aborts_it(self):
        c = self.client()
        j = c.submit(["sleep", "60"])
        it = c.watch(job=j)
        self.assertEqual(next(it)["event"], "state")
        it.close()
        self.assertEqual(c.cancel(job=j), 1)


class TlsSyncClientTest(unittest.TestCase):
    """jqclient.Client over TLS: one thread reads (a blocked recv) while
    the others write, on one TLS connection."""

    def test_threads_over_tls(self):
        import jqtest
        f = jqtest.tls_files()
        d = tempfile.mkdtemp(prefix="jqclient-tls-")
        self.addCleanup(shutil.rmtree, d, True)
        server = Server("--insecure-tcp", "--tls-cert", f["server_cert"],
                        "--tls-key", f["server_key"], state_dir=d,
                        listen_args=["--listen", "tls:127.0.0.1:0", "--unix",
                                     os.path.join(d, "jqd.sock")]).start()
        self.addCleanup(server.stop)
        c = jqclient.Client("tls:127.0.0.1:%d" % server.tls_port,
                            cafile=f["ca"], timeout=WAIT_S)
        self.addCleanup(c.close)
        ch = unique_name("tls")
        c.make(ch, 1000)
        join_recv = in_thread(c.recv, ch)
        wait_until(lambda: c.stat(ch)["receivers_waiting"] == 1)

        def work(k):
            for i in range(30):
                c.ping()
                self.assertEqual(c.peek(ch), [])
            return k
        joins = [in_thread(work, k) for k in range(8)]
        self.assertEqual(sorted(j() for j in joins), list(range(8)))
        c.send(ch, "x" * 100000)        # several TLS records
        self.assertEqual(join_recv(), "x" * 100000)
        self.assertEqual(c.reconnects, 0)


class CrossClientRoleTest(JqdCase):
    """tests/integration/xclient/producer.py, the Python role of the
    cross-client test, across a kill -9 and a SIGTERM restart."""

    PRODUCER = os.path.join(HERE, "..", "..", "tests", "integration",
                            "xclient", "producer.py")

    def check_producer(self, crash):
        c = self.client()
        ch = self.chan(c, 100)
        n = 400
        p = subprocess.Popen([sys.executable, self.PRODUCER, ch, str(n)],
                             stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, JQ_ADDR=self.addr))
        self.addCleanup(p.kill)
        got = []
        while len(got) < 150:
            got += c.recv_many(ch, 50)
        self.restart(crash)
        while True:
            try:
                got += c.recv_many(ch, 100)
            except jqclient.Closed:
                break
        out, _ = p.communicate(WAIT_S)
        self.assertEqual((p.returncode, out), (0, "sent %d\n" % n))
        self.assertEqual(sorted(v["n"] for v in got), list(range(n)))

    def test_producer_survives_kill9(self):
        self.check_producer(crash=True)

    def test_producer_survives_sigterm(self):
        self.check_producer(crash=False)


class WatchOutputTest(unittest.TestCase):
    """A watch sent again after a reconnect repeats its snapshot: output
    already yielded is skipped, a new attempt's is not."""

    def test_restart_skips_output_shown(self):
        from jqclient._api import WatchOutput
        w = WatchOutput()

        def state(attempt):
            return {"event": "state", "job": 1, "result": {"attempt": attempt}}

        def out(data):
            return {"event": "output", "job": 1, "stream": "stdout",
                    "data": data}
        shown = [w.filter(f) for f in (state(1), out("ab"), out("c"))]
        self.assertEqual([f.get("data") for f in shown], [None, "ab", "c"])
        w.restart()
        again = [w.filter(f) for f in (state(1), out("abcd"), out("e"))]
        self.assertEqual([f and f.get("data") for f in again],
                         [None, "d", "e"])
        self.assertEqual(w.filter(state(2))["event"], "state")
        self.assertEqual(w.filter(out("ab"))["data"], "ab")   # new attempt


class AsyncClientTest(JqdCase):

    def aclient(self, **kw):
        return jqclient.aio.Client(self.addr, **kw)

    def test_ops_and_concurrency(self):
        async def main():
            async with self.aclient() as c:
                ch = unique_name("a")
                self.assertTrue(await c.make(ch, 0))
                recvs = [asyncio.ensure_future(c.recv(ch))
                         for _ in range(50)]
                await c.ping()
                await asyncio.gather(*(c.send(ch, i) for i in range(50)))
                self.assertEqual(sorted(await asyncio.gather(*recvs)),
                                 list(range(50)))
        self.run_async(main())

    def test_a_reply_too_long_is_not_sent_again(self):
        async def main():
            async with self.aclient() as c:
                ch = unique_name("a")
                await c.make(ch, 1)
                await c.send(ch, "x" * 200000)
                with mock.patch.object(jqclient.aio, "MAX_LINE", 1 << 16):
                    async with self.aclient() as small:
                        with self.assertRaises(jqclient.ProtocolError):
                            await asyncio.wait_for(small.peek(ch),
                                                   WAIT_S / 2)
        self.run_async(main())

    def test_watch_frames_not_taken_are_bounded(self):
        async def main():
            async with self.aclient() as c, self.aclient() as other:
                j = await c.submit(["sh", "-c", "for i in $(seq 40); do "
                                    "echo line; sleep 0.01; done"])
                frames = c.watch(job=j)
                got = [await frames.__anext__()]
                self.assertEqual((await other.wait(jobs=[j]))[0]["state"],
                                 "succeeded")
                while c._conn.pending:      # the watch's reply is read
                    await asyncio.sleep(0.01)
                async for f in frames:
                    got.append(f)
                return got
        with mock.patch.object(jqclient._api, "WATCH_FRAMES_MAX", 3):
            got = self.run_async(main())
        events = [f.get("event") for f in got[:-1]]
        self.assertLessEqual(events.count("output"), 3)
        self.assertEqual(events.count("lagged"), 1)
        self.assertEqual(got[-1]["results"][0]["stdout"], "line\n" * 40)

    def test_cancel_race_never_loses_a_value(self):
        # Cancel a blocked recv while a send arrives, many times: each
        # value is returned, in client.orphans, or still in the channel.
        async def main():
            async with self.aclient() as c, self.aclient() as other:
                ch = unique_name("race")
                await c.make(ch, 1000)
                got = []
                for i in range(RACE_ROUNDS):
                    t = asyncio.ensure_future(c.recv(ch))
                    await asyncio.sleep(0.001 * (i % 4))
                    s = asyncio.ensure_future(other.send(ch, i))
                    if i % 2:
                        await asyncio.sleep(0)
                    t.cancel()
                    try:
                        got.append(await t)
                    except asyncio.CancelledError:
                        pass
                    await s
                sys.stderr.write("race: %d returned, %d orphans "
                                 "of %d\n" % (len(got), len(c.orphans),
                                               RACE_ROUNDS))
                got += [o["value"] for o in c.orphans]
                st = await c.stat(ch)
                if st["len"]:
                    got += await c.recv_many(ch, 1000, timeout_ms=0)
                self.assertEqual(sorted(got), list(range(RACE_ROUNDS)))
                self.assertEqual((await c.stat(ch))["receivers_waiting"], 0)
        self.run_async(main())

    def test_cancel_race_never_loses_a_lease(self):
        async def main():
            async with self.aclient() as c, self.aclient() as other:
                ch = unique_name("lease")
                await c.make(ch, 1000)
                acked = []
                for i in range(RACE_ROUNDS // 2):
                    t = asyncio.ensure_future(c.recv_lease(ch, 60000))
                    await asyncio.sleep(0.001 * (i % 3))
                    s = asyncio.ensure_future(other.send(ch, i))
                    for _ in range(i % 4):
                        await asyncio.sleep(0)
                    t.cancel()
                    try:
                        lease = await t
                        await lease.ack()
                        acked.append(lease.value)
                    except asyncio.CancelledError:
                        pass
                    await s
                sys.stderr.write("race: %d leases acked of %d\n"
                                 % (len(acked), RACE_ROUNDS // 2))
                # Every value not acked went back (nacked), none is leased.
                async def settled():
                    st = await c.stat(ch)
                    return st["leased"] == 0
                for _ in range(WAIT_S * 20):
                    if await settled():
                        break
                    await asyncio.sleep(0.05)
                st = await c.stat(ch)
                self.assertEqual(st["leased"], 0)
                rest = await c.recv_many(ch, 1000, timeout_ms=0) \
                    if st["len"] else []
                self.assertEqual(sorted(acked + rest),
                                 list(range(RACE_ROUNDS // 2)))
        self.run_async(main())

    def test_reconnect_kill9(self):
        async def main():
            async with self.aclient() as c:
                ch = unique_name("k")
                await c.make(ch, 100)
                await c.send(ch, 1, key="one")
                self.restart(crash=True)
                self.assertFalse(await c.send(ch, 1, key="one"))  # duplicate
                self.assertEqual(await c.recv(ch), 1)
                self.assertEqual(c.reconnects, 1)
        self.run_async(main())

    def test_auto_key(self):
        async def main():
            async with self.aclient(auto_key=True) as c:
                ch = unique_name("auto")
                await c.make(ch, 10)
                await c.send(ch, "v")
                self.assertEqual((await c.stat(ch))["dedup_keys"], 1)
        self.run_async(main())


class WorkerTest(JqdCase):

    def test_sync_worker_acks_nacks_and_ends_on_close(self):
        c = self.client()
        dead = self.chan(c, 100)
        ch = self.chan(c, 100, max_deliveries=1, dead_letter=dead)
        c.send_batch(ch, list(range(20)))
        c.close_chan(ch)
        seen = []
        lock = threading.Lock()

        def handler(v):
            if v == 13:
                raise ValueError("unlucky")
            with lock:
                seen.append(v)
        w = jqclient.Worker(ch, handler, client=c, concurrency=4,
                            lease_ms=5000)
        self.assertEqual(w.run(), 19)
        self.assertEqual(sorted(seen), [v for v in range(20) if v != 13])
        env = c.recv(dead)
        self.assertEqual(env["value"], 13)
        self.assertIn("ValueError: unlucky", env["reason"])

    def test_worker_touches_long_work(self):
        c = self.client()
        ch = self.chan(c, 10)
        c.send(ch, "slow")
        c.close_chan(ch)
        w = jqclient.Worker(ch, lambda v: time.sleep(1.5), client=c,
                            lease_ms=600)
        self.assertEqual(w.run(), 1)        # acked: touched in time
        self.assertEqual(c.stat(ch)["received"], 1)

    def test_worker_stops_on_sigterm_finishing_running(self):
        c = self.client()
        ch = self.chan(c, 10)
        c.send_batch(ch, ["a", "b"])
        marker = os.path.join(self.dir, "started")
        prog = (
            "import os, sys, time\n"
            "sys.path.insert(0, %r)\n"
            "import jqclient\n"
            "def h(v):\n"
            "    open(%r, 'a').write(v)\n"
            "    time.sleep(1)\n"
            "w = jqclient.Worker(%r, h, client=jqclient.Client(%r))\n"
            "print(w.run(), flush=True)\n" % (HERE, marker, ch, self.addr))
        p = subprocess.Popen([sys.executable, "-c", prog],
                             stdout=subprocess.PIPE, text=True)
        wait_until(lambda: os.path.exists(marker))
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(WAIT_S)
        self.assertEqual((p.returncode, out.strip()), (0, "1"))
        self.assertEqual(c.recv(ch), "b")       # not taken
        self.assertEqual(c.stat(ch)["leased"], 0)

    def test_async_worker_grace_nacks(self):
        async def main():
            async with jqclient.aio.Client(self.addr) as c:
                ch = unique_name("aw")
                await c.make(ch, 10)
                await c.send(ch, "stuck")
                started = asyncio.Event()

                async def handler(v):
                    started.set()
                    await asyncio.sleep(3600)
                w = jqclient.aio.Worker(ch, handler, client=c, grace=0.2)
                run = asyncio.ensure_future(w.run())
                await started.wait()
                w.stop()
                self.assertEqual(await run, 0)
                self.assertEqual(await c.recv(ch), "stuck")   # nacked
        self.run_async(main())


if __name__ == "__main__":
    if not os.environ.get("JQD"):
        print("JQD is not set: skipping the jqclient tests")
        sys.exit(77)
    unittest.main()
