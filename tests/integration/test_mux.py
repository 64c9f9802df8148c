"""Multiplexed connections and abort (PROTOCOL.md 4.7, 9.5): hello's 1.1
members, replies out of order matched by id, ids required and unique,
max-pending, abort of every blocking op, abort racing completion (never a
lost value), and EOF, close and stop with many parked calls."""

import os
import shutil
import tempfile
import threading
import time
import unittest

import jqtest
from jqtest import Client, Server, ServerTestCase, main, wait_until


def mux(server):
    """A Client on a multiplexed connection."""
    c = Client(server)
    c.send_frame({"id": "h", "op": "hello", "multiplex": True})
    r = c.read_reply()
    assert r["ok"] and r["multiplex"] is True, r
    return c


def replies(c, n):
    """The next n replies, by id."""
    got = {}
    for _ in range(n):
        r = c.read_reply()
        assert r["id"] not in got, ("two replies for one id", r)
        got[r["id"]] = r
    return got


class MuxTest(ServerTestCase):

    server_args = ("--max-pending", "4")

    def mux(self):
        c = mux(self.server)
        self.addCleanup(c.close)
        return c

    def waiting(self, n):
        wait_until(lambda: self.ctl.ok("stats")["waiting"] == n,
                   what="%d parked calls" % n)

    def test_hello_members(self):
        before = int(time.time() * 1000)
        r = self.ctl.ok("hello")
        after = int(time.time() * 1000)
        self.assertEqual(r["protocol"], 1)
        self.assertEqual(r["minor"], 4)
        self.assertIn("multiplex", r["features"])
        self.assertIn("abort", r["features"])
        self.assertTrue(all(isinstance(f, str) for f in r["features"]))
        self.assertLessEqual(before - 1000, r["time_ms"])
        self.assertLessEqual(r["time_ms"], after + 1000)
        self.assertTrue(r["build"].startswith(r["version"]), r["build"])
        self.assertIs(r["multiplex"], False)

    def test_hello_multiplex_stays(self):
        c = self.mux()
        c.send_frame({"id": 1, "op": "hello"})
        self.assertIs(c.read_reply()["multiplex"], True)
        c.send_frame({"id": 2, "op": "hello", "multiplex": False})
        r = c.read_reply()
        self.assertEqual(r["error"]["code"], "bad_request")
        c.send_frame({"id": 3, "op": "hello", "multiplex": "yes"})
        self.assertEqual(c.read_reply()["error"]["code"], "bad_request")

    def test_out_of_order_replies(self):
        chan = self.make()
        c = self.mux()
        c.send_frame({"id": "r", "op": "recv", "chan": chan})
        c.send_frame({"id": "p", "op": "ping"})
        self.assertEqual(c.read_reply(), {"id": "p", "ok": True})
        c.send_frame({"id": "s", "op": "send", "chan": chan, "value": 7})
        got = replies(c, 2)
        self.assertEqual(got["r"]["value"], 7)
        self.assertIs(got["s"]["ok"], True)

    def test_id_required(self):
        c = self.mux()
        c.send_frame({"op": "ping"})
        r = c.read_reply()
        self.assertIsNone(r["id"])
        self.assertEqual(r["error"]["code"], "bad_request")
        self.assertIn("'id'", r["error"]["message"])
        c.send_frame({"id": None, "op": "ping"})
        self.assertEqual(c.read_reply()["error"]["code"], "bad_request")

    def test_id_unique_among_pending(self):
        chan = self.make()
        c = self.mux()
        c.send_frame({"id": 5, "op": "recv", "chan": chan})
        self.waiting(1)
        c.send_frame({"id": 5, "op": "ping"})
        r = c.read_reply()
        self.assertEqual(r["id"], 5)
        self.assertEqual(r["error"]["code"], "bad_request")
        # A string "5" is another id; the recv is still there.
        c.send_frame({"id": "5", "op": "ping"})
        self.assertEqual(c.read_reply(), {"id": "5", "ok": True})
        self.ctl.ok("send", chan=chan, value="x")
        self.assertEqual(c.read_reply()["value"], "x")
        # Answered and written: the id is free again.
        c.send_frame({"id": 5, "op": "ping"})
        self.assertEqual(c.read_reply(), {"id": 5, "ok": True})

    def test_serial_connection_unchanged(self):
        # v1: a parked call holds the requests behind it, ids optional.
        chan = self.make()
        c = self.connect()
        c.send_frame({"id": 1, "op": "recv", "chan": chan})
        c.send_frame({"op": "ping"})
        self.assertNoReply(c)
        self.ctl.ok("send", chan=chan, value=1)
        self.assertEqual(c.read_reply()["id"], 1)
        self.assertEqual(c.read_reply(), {"id": None, "ok": True})
        # abort on a serial connection finds nothing pending.
        r = c.ok("abort", ref=1)
        self.assertIs(r["aborted"], False)

    def test_abort_recv(self):
        chan = self.make(cap=1)
        c = self.mux()
        c.send_frame({"id": "r", "op": "recv", "chan": chan})
        self.waiting(1)
        c.send_frame({"id": "a", "op": "abort", "ref": "r"})
        first, second = c.read_reply(), c.read_reply()
        self.assertEqual(first["id"], "r")
        self.assertEqual(first["error"]["code"], "canceled")
        self.assertEqual(second, {"id": "a", "ok": True, "aborted": True})
        self.assertEqual(self.stat(chan)["receivers_waiting"], 0)
        # Nothing was taken: a value sent now stays in the channel.
        self.ctl.ok("send", chan=chan, value=1)
        self.assertEqual(self.stat(chan)["len"], 1)

    def test_abort_send_not_applied(self):
        chan = self.make()
        c = self.mux()
        c.send_frame({"id": "s", "op": "send", "chan": chan, "value": 1})
        self.waiting(1)
        c.send_frame({"id": "a", "op": "abort", "ref": "s"})
        self.assertEqual(c.read_reply()["error"]["code"], "canceled")
        self.assertIs(c.read_reply()["aborted"], True)
        self.ctl.error("recv", "timeout", chan=chan, timeout_ms=0)
        self.assertEqual(self.stat(chan)["senders_waiting"], 0)

    def test_abort_select_and_wait(self):
        a, b = self.make(), self.make()
        c = self.mux()
        c.send_frame({"id": "sel", "op": "select",
                      "cases": [{"recv": a}, {"send": b, "value": 1}]})
        job = self.ctl.ok("submit", argv=["sleep", "30"])["job"]
        c.send_frame({"id": "w", "op": "wait", "jobs": [job]})
        self.waiting(2)
        c.send_frame({"id": "a1", "op": "abort", "ref": "sel"})
        c.send_frame({"id": "a2", "op": "abort", "ref": "w"})
        got = [c.read_reply() for _ in range(4)]
        self.assertEqual([r["id"] for r in got], ["sel", "a1", "w", "a2"])
        self.assertEqual(got[0]["error"]["code"], "canceled")
        self.assertEqual(got[2]["error"]["code"], "canceled")
        self.assertTrue(got[1]["aborted"] and got[3]["aborted"])
        self.assertEqual(self.stat(a)["receivers_waiting"], 0)
        self.assertEqual(self.stat(b)["senders_waiting"], 0)
        self.ctl.ok("cancel", job=job)

    def test_abort_unknown_or_done(self):
        chan = self.make(cap=1)
        c = self.mux()
        self.assertIs(c.ok("abort", ref="nothing")["aborted"], False)
        self.ctl.ok("send", chan=chan, value=3)
        c.send_frame({"id": "r", "op": "recv", "chan": chan})
        self.assertEqual(c.read_reply()["value"], 3)
        self.assertIs(c.ok("abort", ref="r")["aborted"], False)
        c.send_frame({"id": "bad", "op": "abort"})
        self.assertEqual(c.read_reply()["error"]["code"], "bad_request")
        c.send_frame({"id": "bad2", "op": "abort", "ref": [1]})
        self.assertEqual(c.read_reply()["error"]["code"], "bad_request")

    def test_abort_racing_sends_loses_nothing(self):
        # Receivers are aborted while a producer sends: every value sent is
        # either in a recv reply or still in the channel, exactly once.
        chan = self.make(cap=1000)
        c = self.mux()
        n = 400
        prod = self.connect()

        def produce():
            for i in range(n):
                prod.ok("send", chan=chan, value=i)

        t = threading.Thread(target=produce)
        t.start()
        frames = []
        for i in range(n):
            frames.append({"id": "r%d" % i, "op": "recv", "chan": chan})
            frames.append({"id": "a%d" % i, "op": "abort", "ref": "r%d" % i})
        c.send_raw(b"".join(c.encode(f) for f in frames))
        got = replies(c, 2 * n)
        t.join()
        received = []
        for i in range(n):
            r, a = got["r%d" % i], got["a%d" % i]
            if r["ok"]:
                received.append(r["value"])
                self.assertIs(a["aborted"], False)
            else:
                self.assertEqual(r["error"]["code"], "canceled")
                self.assertIs(a["aborted"], True)
        rest = []
        while True:
            r = self.ctl.call("recv", chan=chan, timeout_ms=0)
            if not r["ok"]:
                break
            rest.append(r["value"])
        self.assertEqual(sorted(received + rest), list(range(n)))

    def test_max_pending(self):
        chan = self.make()
        c = self.mux()
        c.send_raw(b"".join(c.encode({"id": "r%d" % i, "op": "recv",
                                      "chan": chan}) for i in range(4)))
        self.waiting(4)
        # The class's jqd runs with --max-pending 4.
        c.send_frame({"id": "over", "op": "recv", "chan": chan})
        r = c.read_reply()
        self.assertEqual(r["id"], "over")
        self.assertEqual(r["error"]["code"], "limit")
        self.assertIn("max_pending", r["error"]["message"])
        # Requests that do not block still run, abort too.
        self.assertIs(c.ok("ping")["ok"], True)
        c.send_frame({"id": "a", "op": "abort", "ref": "r0"})
        self.assertEqual(c.read_reply()["error"]["code"], "canceled")
        self.assertIs(c.read_reply()["aborted"], True)
        c.send_frame({"id": "again", "op": "recv", "chan": chan})
        self.waiting(4)
        for i in range(4):
            self.ctl.ok("send", chan=chan, value=i)
        self.assertEqual(len(replies(c, 4)), 4)


class MuxManyTest(ServerTestCase):
    """Many parked calls on one connection: the ping, EOF, close, stop."""

    server_args = ("--max-pending", "5000")

    def waiting(self, n):
        wait_until(lambda: self.ctl.ok("stats")["waiting"] == n,
                   what="%d parked calls" % n)

    def park(self, c, chan, n, prefix=""):
        c.send_raw(b"".join(c.encode({"id": "%s%d" % (prefix, i), "op": "recv",
                                      "chan": chan}) for i in range(n)))

    def test_ping_behind_1000_blocked_recvs(self):
        chan = self.make()
        c = mux(self.server)
        self.addCleanup(c.close)
        self.park(c, chan, 1000)
        self.waiting(1000)
        c.send_frame({"id": "ping", "op": "ping"})
        self.assertEqual(c.read_reply(), {"id": "ping", "ok": True})
        self.assertEqual(self.ctl.ok("stats")["waiting"], 1000)
        for i in range(1000):
            self.ctl.ok("send", chan=chan, value=i)
        got = replies(c, 1000)
        self.assertEqual(sorted(r["value"] for r in got.values()),
                         list(range(1000)))

    def test_eof_abandons_parked_and_writes_due(self):
        chan, full = self.make(), self.make(cap=1)
        self.ctl.ok("send", chan=full, value="x")
        c = mux(self.server)
        self.park(c, chan, 500)
        c.send_frame({"id": "s", "op": "send", "chan": full, "value": "y"})
        c.send_frame({"id": "p", "op": "ping"})
        self.assertEqual(c.read_reply(), {"id": "p", "ok": True})
        self.waiting(501)
        c.send_frame({"id": "last", "op": "ping"})
        c.sock.shutdown(1)  # half-close: the server sees EOF
        lines = c.expect_eof()
        self.assertEqual([c.parse_reply(x) for x in lines],
                         [{"id": "last", "ok": True}])
        self.waiting(0)
        # Nothing taken, nothing applied.
        self.assertEqual(self.stat(full)["len"], 1)
        self.assertEqual(self.stat(chan)["receivers_waiting"], 0)
        c.close()

    def test_eof_runs_lines_behind_a_streamed_reply(self):
        # A parked request keeps the connection reading, so the EOF can
        # arrive while a long `chans` reply is being written in pieces
        # and lines wait behind it: every one of them still runs.
        for i in range(40):
            self.make(tag="eof-stream-%02d-%s" % (i, "x" * 40))
        c = mux(self.server)
        self.park(c, self.make(), 1)
        self.waiting(1)
        c.send_raw(b"".join(c.encode({"id": i, "op": "chans"})
                            for i in range(30)))
        c.sock.shutdown(1)
        lines = c.expect_eof()
        self.assertEqual(sorted(c.parse_reply(x)["id"] for x in lines),
                         list(range(30)))
        self.waiting(0)
        c.close()

    def test_close_with_many_parked(self):
        chan = self.make(cap=10)
        c = mux(self.server)
        self.park(c, chan, 2000)
        self.waiting(2000)
        c.close()
        self.waiting(0)
        self.ctl.ok("send", chan=chan, value=1)
        self.assertEqual(self.stat(chan)["len"], 1)


class MuxStopTest(unittest.TestCase):

    def test_stop_answers_every_parked_call(self):
        with Server("--max-pending", "5000") as srv:
            ctl = Client(srv)
            c = mux(srv)
            ctl.ok("make", chan="stop")
            c.send_raw(b"".join(c.encode({"id": i, "op": "recv",
                                          "chan": "stop"})
                                for i in range(1500)))
            wait_until(lambda: ctl.ok("stats")["waiting"] == 1500)
            srv.sigterm()
            got = replies(c, 1500)
            self.assertEqual(sorted(got), list(range(1500)))
            self.assertTrue(all(r["error"]["code"] == "shutting_down"
                                for r in got.values()))
            c.expect_eof()
            c.close()
            ctl.close()


class MuxSwitchTest(unittest.TestCase):

    def test_ids_of_unwritten_replies_held_across_the_switch(self):
        """A send pipelined before hello {"multiplex"} whose reply waits
        for its commit keeps its id: a request reusing it is refused."""
        slow_dir = tempfile.mkdtemp(prefix="jqd-slow-")
        self.addCleanup(shutil.rmtree, slow_dir, True)
        slow_file = os.path.join(slow_dir, "sync-ms")
        with Server(env=jqtest.slow_sync_env(slow_file)) as srv:
            ctl = Client(srv)
            self.addCleanup(ctl.close)
            ctl.ok("make", chan="sw", cap=4)
            c = Client(srv)
            self.addCleanup(c.close)
            with open(slow_file, "w") as f:
                f.write("%d\n" % int(3000 * jqtest.TIMEOUT_SCALE))
            c.send_frame({"id": 7, "op": "send", "chan": "sw", "value": 1})
            wait_until(lambda: os.path.exists(slow_file + ".entered"),
                       what="the send's commit in flight")
            c.send_frame({"id": 8, "op": "hello", "multiplex": True})
            c.send_frame({"id": 7, "op": "ping"})
            os.unlink(slow_file)
            # Every reply rests on the send's commit; they come together.
            got = [c.read_reply() for _ in range(3)]
            hello = [r for r in got if r["id"] == 8]
            self.assertEqual(len(hello), 1)
            self.assertIs(hello[0]["multiplex"], True)
            self.assertIn({"id": 7, "ok": True}, got)
            err = [r for r in got if r["id"] == 7 and not r["ok"]]
            self.assertEqual(len(err), 1, got)
            self.assertEqual(err[0]["error"]["code"], "bad_request")
            self.assertIn("already pending", err[0]["error"]["message"])


if __name__ == "__main__":
    main()
