"""Session ops (PROTOCOL.md 9: hello, auth, ping, stats), the connection
limits of section 8 and stopping (6.5).

The token tests run against the target when it requires auth (with
JQ_CONFORMANCE_TOKEN), else against a private jqd started with
--token-file (self-start mode).  Limits and stopping need private servers.
"""

import os
import signal
import time

import harness
from harness import (TARGET, Bool, Case, Exact, NonNeg, Real, Str,
                     check_err, check_ok, start_server, wait_until)

HELLO = {"server": Exact("jqd"), "version": Str, "protocol": Exact(1),
         "auth_required": Bool}

STORE = {"backend": harness.Str, "epoch": NonNeg, "commits": NonNeg, "changes": NonNeg, "changes_per_commit": Real,
         "failures": NonNeg,
         "commit_latency_ms": {"last": Real, "avg": Real, "max": Real},
         "db_bytes": NonNeg, "wal_bytes": NonNeg}

V1_OPS = ("hello", "auth", "ping", "stats", "make", "send", "recv", "ack",
          "nack", "close", "drop", "stat", "chans", "select", "submit", "job",
          "jobs", "cancel", "wait", "group")

# 9.4: every member named there, exactly (a later version may add some:
# JQ_CONFORMANCE_ALLOW_EXTRA=1).
STATS = {"uptime_ms": NonNeg, "connections": NonNeg,
         "connections_total": NonNeg, "channels": NonNeg,
         "buffered_values": NonNeg, "buffered_bytes": NonNeg,
         "waiting": NonNeg,
         "jobs": {st: NonNeg for st in harness.JOB_STATES},
         "workers": {"busy": NonNeg, "total": NonNeg},
         "store": STORE, "ops": {op: NonNeg for op in V1_OPS}}

TOKEN = "cf-s3cret-token"


class HelloPingTest(Case):

    def test_hello(self):
        r = self.c.ok("hello", HELLO)
        self.assertRegex(r["version"], r"^\d+\.\d+\.\d+")
        self.assertIs(r["auth_required"], bool(TARGET.token))

    def test_ping(self):
        r = self.c.ok("ping", {})
        self.assertEqual(set(r), {"id", "ok"})
        self.c.write(b'{"op":"ping"}\n')
        self.assertEqual(self.c.line(), b'{"id":null,"ok":true}')
        self.c.write(b'{"id":"req-7","op":"ping","comment":"ignored"}\n')
        self.assertEqual(self.c.line(), b'{"id":"req-7","ok":true}')

    def test_auth_without_token_configured(self):
        if TARGET.token:
            self.skipTest("the target requires a token")
        self.c.ok("auth", {}, token="anything")
        self.c.ok("auth", {}, token="")
        self.c.err("auth", "bad_request")
        self.c.err("auth", "bad_request", token=5)
        self.c.err("auth", "bad_request", token=None)
        self.c.ok("ping")  # still open after bad_request


class StatsTest(Case):

    def test_shape(self):
        ch = self.make(cap=3)
        self.api.send(ch, "1234567")
        r = self.c.ok("stats", STATS)
        ops = r["ops"]
        for op in V1_OPS:
            self.assertIn(op, ops, "stats.ops lacks %s" % op)
        self.assertGreaterEqual(ops["make"], 1)
        self.assertGreaterEqual(ops["stats"], 1)
        self.assertGreaterEqual(r["connections"], 2)  # c and api
        self.assertGreaterEqual(r["connections_total"], r["connections"])
        self.assertGreaterEqual(r["channels"], 1)
        self.assertGreaterEqual(r["buffered_values"], 1)
        self.assertGreaterEqual(r["buffered_bytes"], 9)  # "1234567"

    def test_counters_move(self):
        before = self.c.ok("stats", STATS)
        self.c.ok("ping")
        self.c.err("frobnicate", "unknown_op")
        after = self.c.ok("stats", STATS)
        self.assertGreaterEqual(after["ops"]["ping"], before["ops"]["ping"] + 1)
        self.assertGreaterEqual(after["uptime_ms"], before["uptime_ms"])
        self.assertNotIn("frobnicate", after["ops"],
                         "unknown ops are not counted")

    def test_exact_figures_on_a_private_server(self):
        s = start_server()
        self.addCleanup(s.check)
        c = self.conn(addr=s.addr)
        c.ok("make", chan="a", cap=4)
        c.ok("send", chan="a", values=["12345", [1, 2]])
        c.frame({"id": 1, "op": "frobnicate"})
        check_err(c.reply(), "unknown_op")
        b = self.conn(addr=s.addr)
        b.request("recv", chan="q-missing")
        check_err(b.reply(), "not_found")
        c.ok("make", chan="q")
        b.request("recv", chan="q")
        polls = []

        def parked():
            polls.append(1)
            return c.ok("stat", chan="q")["receivers_waiting"] == 1
        wait_until(parked)
        r = c.ok("stats", STATS)
        self.assertEqual(r["connections"], 2)
        self.assertEqual(r["connections_total"], 2)
        self.assertEqual(r["channels"], 2)
        self.assertEqual(r["buffered_values"], 2)
        self.assertEqual(r["buffered_bytes"], len('"12345"') + len("[1,2]")
                         + 2 * harness.VALUE_OVERHEAD)
        self.assertEqual(r["waiting"], 1)
        want = {"make": 2, "send": 1, "recv": 2, "stat": len(polls),
                "stats": 1}
        for op in V1_OPS:
            self.assertEqual(r["ops"][op], want.get(op, 0), "ops.%s" % op)


class TokenCase(Case):
    """Against a server with a token."""

    @classmethod
    def token_server(cls):
        if TARGET.token:
            return TARGET.addr, TARGET.token
        if not hasattr(TokenCase, "_server"):
            path = os.path.join(TARGET.tmp, "token")
            with open(path, "w") as f:
                f.write("\t%s \n" % TOKEN)
            TokenCase._server = start_server("--token-file", path)
        return TokenCase._server.addr, TOKEN

    def setUp(self):
        super().setUp()
        self.addr, self.token = self.token_server()

    def unauth(self):
        return self.conn(addr=self.addr, auth=False)

    def test_hello_before_auth(self):
        c = self.unauth()
        r = c.ok("hello", HELLO)
        self.assertIs(r["auth_required"], True)

    def test_only_hello_and_auth_before_auth(self):
        c = self.unauth()
        for op, fields in (("ping", {}), ("stats", {}), ("chans", {}),
                           ("make", {"chan": "no spaces allowed"}),
                           ("stat", {}), ("submit", {"argv": ["true"]}),
                           ("jobs", {}), ("select", {"cases": []})):
            c.err(op, "unauthorized", **fields)
        c.err("nosuchop", "unknown_op")
        c.write(b"[1]\n")
        check_err(c.reply(), "bad_request")
        c.err("auth", "bad_request")
        c.err("auth", "bad_request", token=["x"])
        c.ok("auth", {}, token=self.token)
        c.ok("ping", {})
        c.ok("hello", HELLO)

    def test_whitespace_around_token(self):
        # The file's whitespace is not part of the token; the token sent
        # must match exactly.
        c = self.unauth()
        c.ok("auth", token=self.token)
        c = self.unauth()
        check_err(c.call("auth", token=" %s" % self.token), "unauthorized")
        c.assert_eof("after a wrong token")

    def test_wrong_token_closes(self):
        c = self.unauth()
        check_err(c.call("auth", token="guess"), "unauthorized")
        c.assert_eof("after a wrong token")

    def test_wrong_token_after_success_closes(self):
        c = self.unauth()
        c.ok("auth", token=self.token)
        check_err(c.call("auth", token="guess"), "unauthorized")
        c.assert_eof("after a wrong token")

    def test_client_module_authenticates(self):
        with harness.client(addr=self.addr, token=self.token) as c:
            c.ping()

    def test_auth_timeout(self):
        path = os.path.join(TARGET.tmp, "token2")
        with open(path, "w") as f:
            f.write(TOKEN)
        s = start_server("--token-file", path, "--auth-timeout", "500ms")
        self.addCleanup(s.check)
        c = self.conn(addr=s.addr, auth=False)
        ok = self.conn(addr=s.addr, auth=False)
        ok.ok("auth", token=TOKEN)
        t0 = time.monotonic()
        c.ok("hello", HELLO)
        # Unasked, after auth_timeout: one frame, then the close.
        self.assertEqual(c.line(), b'{"id":null,"ok":false,"error":{"code":'
                         b'"unauthorized","message":"not authenticated in '
                         b'time; closing"}}')
        self.assertGreater(time.monotonic() - t0, 0.2)
        c.assert_eof("after the auth_timeout frame")
        # Still sending requests does not help.
        c = self.conn(addr=s.addr, auth=False)
        for i in range(50):
            c.frame({"id": i, "op": "hello"})
            r = c.reply()
            if r["id"] is None:
                break
            check_ok(r, HELLO)
            time.sleep(0.05)
        check_err(r, "unauthorized", what="auth_timeout frame while busy")
        self.assertIsNone(r["id"])
        c.assert_eof("after the auth_timeout frame")
        time.sleep(0.6)
        ok.ok("ping")  # authenticated connections have no idle timeout


class ConnectionLimitTest(Case):

    def test_max_connections(self):
        s = start_server("--max-connections", 2)
        self.addCleanup(s.check)
        a = self.conn(addr=s.addr)
        b = self.conn(addr=s.addr)
        a.ok("ping")
        b.ok("ping")
        c = self.conn(addr=s.addr)
        line = c.line()
        self.assertEqual(line, b'{"id":null,"ok":false,"error":{"code":'
                         b'"limit","message":"max_connections reached"}}')
        harness.codes_seen.add("limit")
        c.assert_eof("refused connection")
        a.ok("ping")
        r = a.ok("stats", STATS)
        self.assertEqual(r["connections"], 2)
        self.assertEqual(r["connections_total"], 3,
                         "refused connections count in connections_total")
        b.close()
        wait_until(lambda: a.ok("stats")["connections"] == 1)
        self.conn(addr=s.addr).ok("ping")


class StoppingTest(Case):
    """6.5: SIGTERM.  A running job holds the server in its stopping state
    for shutdown_grace, so the requests of that time can be checked."""

    def test_sigterm(self):
        s = start_server("--shutdown-grace", "3s", "--workers", 1)
        c = self.conn(addr=s.addr)
        blocked = self.conn(addr=s.addr)
        c.ok("make", chan="q")
        c.ok("make", chan="b", cap=2)
        job = c.ok("submit", argv=["sleep", "30"])["job"]
        wait_until(lambda: c.ok("job", job=job)["state"] == "running")
        blocked.request("recv", chan="q")
        wait_until(lambda: c.ok("stat", chan="q")["receivers_waiting"] == 1)
        s.proc.send_signal(signal.SIGTERM)
        self.addCleanup(harness.reap, s)
        check_err(blocked.reply(), "shutting_down")
        # Every op is answered shutting_down, hello and ping included (a
        # running job keeps the server stopping for 3 s).
        for op, fields in (("hello", {}), ("auth", {"token": "x"}),
                           ("ping", {}), ("stats", {}),
                           ("make", {"chan": "new"}), ("stat", {"chan": "q"}),
                           ("send", {"chan": "b", "value": 1}),
                           ("recv", {"chan": "b", "timeout_ms": 0}),
                           ("chans", {}), ("job", {"job": job}),
                           ("submit", {"argv": ["true"]})):
            c.err(op, "shutting_down", **fields)
        # A frame error is still a frame error, an unknown op unknown.
        c.write(b"[]\n")
        check_err(c.reply(), "bad_request")
        c.err("nosuchop", "unknown_op")
        # The listeners are closed at once.
        with self.assertRaises(harness.jqclient.ConnectionError):
            harness.client(addr=s.addr, timeout=5)
        self.assertEqual(harness.reap(s), 0)
        c.assert_eof("stopped server", 5)
