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
