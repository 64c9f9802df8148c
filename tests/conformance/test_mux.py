"""Protocol 1.1: hello's new members (9.1), multiplexed connections (4.7),
abort (9.5) and the error code canceled (7).  Skipped against a server
whose hello does not list the feature."""

import harness
from harness import (Bool, Case, Exact, NonNeg, Str, TARGET, check_err,
                     check_ok, wait_until)

HELLO_1_1 = {"server": Exact("jqd"), "version": Str, "protocol": Exact(1),
             "auth_required": Bool, "minor": NonNeg, "features": [Str],
             "time_ms": NonNeg, "build": Str, "multiplex": Bool}


class Mux1_1Test(Case):

    def setUp(self):
        super().setUp()
        if TARGET.minor() < 1:
            self.skipTest("the target speaks protocol 1.0")
        self.features = TARGET.features()

    def need(self, *features):
        for f in features:
            if f not in self.features:
                self.skipTest("the target lacks feature %r" % f)

    def mux(self):
        c = self.conn()
        check_ok(c.call("hello", multiplex=True), dict(
            HELLO_1_1, multiplex=Exact(True)))
        return c

    def replies(self, c, n):
        got = {}
        for _ in range(n):
            r = c.reply()
            self.assertNotIn(r["id"], got)
            got[r["id"]] = r
        return got

    def parked(self, chan, n):
        wait_until(lambda: self.api.stat(chan)["receivers_waiting"] == n,
                   what="%d receivers on %s" % (n, chan))

    def test_hello_members(self):
        r = self.c.ok("hello", HELLO_1_1)
        self.assertGreaterEqual(r["minor"], 1)
        self.assertIs(r["multiplex"], False)
        self.assertEqual(len(set(r["features"])), len(r["features"]))

    def test_out_of_order_by_id(self):
        self.need("multiplex")
        chan = self.make()
        c = self.mux()
        c.frame({"id": "r", "op": "recv", "chan": chan})
        self.parked(chan, 1)
        c.frame({"id": "p", "op": "ping"})
        self.assertEqual(c.reply(), {"id": "p", "ok": True})
        c.frame({"id": "s", "op": "send", "chan": chan, "value": [1]})
        got = self.replies(c, 2)
        check_ok(got["r"], {"value": Exact([1])})
        check_ok(got["s"], {})

    def test_ids_required_and_unique(self):
        self.need("multiplex")
        chan = self.make()
        c = self.mux()
        c.frame({"op": "ping"})
        check_err(c.reply(), "bad_request")
        c.frame({"id": 1, "op": "recv", "chan": chan})
        self.parked(chan, 1)
        c.frame({"id": 1, "op": "ping"})
        r = c.reply()
        self.assertEqual(r["id"], 1)
        check_err(r, "bad_request")
        c.frame({"id": "x", "op": "abort", "ref": 1})
        check_err(c.reply(), "canceled")

    def test_abort_parked_recv(self):
        self.need("multiplex", "abort")
        chan = self.make(cap=1)
        c = self.mux()
        c.frame({"id": "r", "op": "recv", "chan": chan})
        self.parked(chan, 1)
        c.frame({"id": "a", "op": "abort", "ref": "r"})
        r = c.reply()
        self.assertEqual(r["id"], "r")
        check_err(r, "canceled")
        r = c.reply()
        self.assertEqual(r["id"], "a")
        check_ok(r, {"aborted": Exact(True)})
        self.assertEqual(self.api.stat(chan)["receivers_waiting"], 0)

    def test_abort_of_completed_or_unknown(self):
        self.need("abort")
        chan = self.make(cap=1)
        self.api.send(chan, 5)
        c = self.mux() if "multiplex" in self.features else self.c
        c.frame({"id": "r", "op": "recv", "chan": chan})
        check_ok(c.reply(), {"value": Exact(5)})
        c.frame({"id": "a", "op": "abort", "ref": "r"})
        check_ok(c.reply(), {"aborted": Exact(False)})
        c.frame({"id": "b", "op": "abort", "ref": "never-sent"})
        check_ok(c.reply(), {"aborted": Exact(False)})
        c.frame({"id": "c", "op": "abort"})
        check_err(c.reply(), "bad_request")

    def test_abort_on_serial_connection(self):
        self.need("abort")
        r = self.c.ok("abort", {"aborted": Exact(False)}, ref=12345)
        self.assertIs(r["aborted"], False)

    def test_serial_stays_in_order(self):
        # Without hello multiplex, a blocked request holds those behind it.
        chan = self.make()
        c = self.conn()
        c.frame({"id": 1, "op": "recv", "chan": chan})
        c.frame({"id": 2, "op": "ping"})
        self.assertTrue(c.blocked())
        self.api.send(chan, 1)
        self.assertEqual(c.reply()["id"], 1)
        self.assertEqual(c.reply()["id"], 2)

    # -- hello's multiplex (9.1) ------------------------------------------

    def test_hello_multiplex_errors(self):
        self.need("multiplex")
        c = self.conn()
        for bad in (1, "yes", [True]):
            c.err("hello", "bad_request", multiplex=bad)
        check_ok(c.call("hello", multiplex=False),
                 dict(HELLO_1_1, multiplex=Exact(False)))
        c.frame({"id": "h", "op": "hello", "multiplex": True})
        check_ok(c.reply(), dict(HELLO_1_1, multiplex=Exact(True)))
        c.frame({"id": "f", "op": "hello", "multiplex": False})
        r = c.reply()
        self.assertEqual(r["id"], "f")
        check_err(r, "bad_request")
        # Still multiplexed: a request without an id is refused.
        c.frame({"op": "ping"})
        check_err(c.reply(), "bad_request")
        c.frame({"id": "h2", "op": "hello"})
        check_ok(c.reply(), dict(HELLO_1_1, multiplex=Exact(True)))

    def test_failed_hello_changes_nothing(self):
        self.need("multiplex", "consumer")
        c = self.conn()
        c.err("hello", "bad_request", multiplex=True, consumer="not a name")
        r = c.ok("hello", HELLO_1_1)
        self.assertIs(r["multiplex"], False)
        self.assertNotIn("consumer", r)

    def test_hello_time_ms(self):
        if not harness.TARGET.self_started:
            self.skipTest("the target's clock may not be ours")
        import time
        before = int(time.time() * 1000)
        r = self.c.ok("hello", HELLO_1_1)
        after = int(time.time() * 1000)
        self.assertTrue(before - 1000 <= r["time_ms"] <= after + 1000,
                        (before, r["time_ms"], after))

    # -- abort (9.5) of each op that blocks -------------------------------

    def abort(self, c, ref, rid="ab"):
        c.frame({"id": rid, "op": "abort", "ref": ref})
        r = c.reply()
        self.assertEqual(r["id"], ref, r)
        check_err(r, "canceled")
        r = c.reply()
        self.assertEqual(r["id"], rid, r)
        check_ok(r, {"aborted": Exact(True)})

    def test_abort_parked_send_is_not_applied(self):
        self.need("multiplex", "abort")
        chan = self.make(cap=1)
        self.api.send(chan, "full")
        c = self.mux()
        c.frame({"id": "s", "op": "send", "chan": chan, "value": "late"})
        wait_until(lambda: self.api.stat(chan)["senders_waiting"] == 1,
                   what="a sender on %s" % chan)
        self.abort(c, "s")
        s = self.api.stat(chan)
        self.assertEqual((s["len"], s["senders_waiting"], s["sent"]),
                         (1, 0, 1))
        self.c.ok("recv", {"value": Exact("full")}, chan=chan)
        self.c.err("recv", "timeout", chan=chan, timeout_ms=0)

    def test_abort_parked_keyed_send_then_retry(self):
        self.need("multiplex", "abort", "send_key")
        chan = self.make(cap=0)
        c = self.mux()
        c.frame({"id": "s", "op": "send", "chan": chan, "value": "v",
                 "key": "k-abort"})
        wait_until(lambda: self.api.stat(chan)["senders_waiting"] == 1,
                   what="a sender on %s" % chan)
        self.abort(c, "s")
        # It did not take effect: the same key goes ahead, not duplicate.
        rx = self.conn()
        rid = rx.request("recv", chan=chan, timeout_ms=30000)
        self.parked(chan, 1)
        self.c.ok("send", {}, chan=chan, value="v", key="k-abort")
        check_ok(rx.expect(rid), {"value": Exact("v")})

    def test_abort_parked_select(self):
        self.need("multiplex", "abort")
        a, b = self.make(cap=1), self.make(cap=0)
        c = self.mux()
        c.frame({"id": "sel", "op": "select",
                 "cases": [{"recv": a}, {"send": b, "value": 1}]})
        wait_until(lambda: self.api.stat(a)["receivers_waiting"] == 1,
                   what="the select parked")
        self.abort(c, "sel")
        self.assertEqual(self.api.stat(a)["receivers_waiting"], 0)
        self.assertEqual(self.api.stat(b)["senders_waiting"], 0)
        self.api.send(a, "kept")
        self.c.ok("recv", {"value": Exact("kept")}, chan=a)

    def test_abort_parked_wait(self):
        self.need("multiplex", "abort")
        c = self.mux()
        job = self.c.ok("submit", argv=["sleep", "60"],
                        group=self.name("g"))["job"]
        self.addCleanup(lambda: self.c.call("cancel", job=job))
        c.frame({"id": "w", "op": "wait", "jobs": [job]})
        self.assertTrue(c.blocked())
        self.abort(c, "w")
        # The job is not affected.
        self.assertIn(self.c.ok("job", job=job)["state"],
                      ("queued", "running"))

    def test_abort_watch(self):
        self.need("multiplex", "abort", "watch")
        c = self.mux()
        job = self.c.ok("submit", argv=["sleep", "60"],
                        group=self.name("g"))["job"]
        self.addCleanup(lambda: self.c.call("cancel", job=job))
        c.frame({"id": "w", "op": "watch", "job": job})
        while True:
            r = c.reply()
            self.assertEqual(r["id"], "w", r)
            self.assertIn("event", r, r)
            if r["event"] == "synced":
                break
        self.abort(c, "w")
        c.frame({"id": "p", "op": "ping"})
        self.assertEqual(c.reply(), {"id": "p", "ok": True})

    def test_abort_ref_errors(self):
        self.need("abort")
        for bad in (None, [1], {"id": 1}):
            self.c.err("abort", "bad_request", ref=bad)

    def test_abort_matches_ids_as_json(self):
        self.need("multiplex", "abort")
        chan = self.make(cap=1)
        c = self.mux()
        c.frame({"id": 7, "op": "recv", "chan": chan})
        self.parked(chan, 1)
        c.frame({"id": "a", "op": "abort", "ref": "7"})
        check_ok(c.reply(), {"aborted": Exact(False)})
        self.abort(c, 7)

    # -- max_pending and end of input (4.7) -------------------------------

    def test_max_pending(self):
        self.need("multiplex")
        s = harness.start_server("--max-pending", 2)
        c = self.conn(addr=s.addr)
        check_ok(c.call("make", chan="q", cap=1), {"created": Exact(True)})
        c.frame({"id": "h", "op": "hello", "multiplex": True})
        check_ok(c.reply(), dict(HELLO_1_1, multiplex=Exact(True)))
        c.frame({"id": "m1", "op": "recv", "chan": "q"})
        c.frame({"id": "m2", "op": "recv", "chan": "q",
                 "timeout_ms": 60000})
        wait_until(lambda: c.call("stat", chan="q")["receivers_waiting"]
                   == 2, what="two receivers")
        c.frame({"id": "m3", "op": "recv", "chan": "q"})
        r = c.reply()
        self.assertEqual(r["id"], "m3")
        check_err(r, "limit")
        # Refused even when it would not have had to wait; a watch too.
        c.frame({"id": "m4", "op": "wait", "group": "nobody"})
        r = c.reply()
        self.assertEqual(r["id"], "m4")
        check_err(r, "limit")
        if "watch" in self.features:
            c.frame({"id": "m5", "op": "watch", "group": "nobody"})
            r = c.reply()
            self.assertEqual(r["id"], "m5")
            check_err(r, "limit")
        # Requests that do not block still run, abort among them.
        c.frame({"id": "m6", "op": "ping"})
        self.assertEqual(c.reply(), {"id": "m6", "ok": True})
        if "abort" in self.features:
            self.abort(c, "m1")
            c.frame({"id": "m7", "op": "recv", "chan": "q"})
            self.assertTrue(c.blocked())

    def test_end_of_input_abandons_blocked(self):
        self.need("multiplex")
        chan = self.make(cap=1)
        c = self.mux()
        c.frame({"id": "r", "op": "recv", "chan": chan})
        self.parked(chan, 1)
        c.frame({"id": "p", "op": "ping"})
        self.assertEqual(c.reply(), {"id": "p", "ok": True})
        c.c.shutdown_write()
        c.assert_eof("half-closed multiplexed connection")
        self.parked(chan, 0)
        self.api.send(chan, "after")
        self.c.ok("recv", {"value": Exact("after")}, chan=chan)
