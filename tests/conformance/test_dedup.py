"""Idempotent sends (protocol 1.1): PROTOCOL.md 6.6, send's `key` (10.2,
10.3), make's `dedup_window_ms` and `dedup_max` (10.1), stat's dedup
members (10.8).  Skipped on a server without the "send_key" feature."""

import harness
from harness import Case, Exact, check_ok, wait_until

DUP = {"duplicate": Exact(True)}


class DedupCase(Case):
    _supported = None

    def setUp(self):
        super().setUp()
        if DedupCase._supported is None:
            DedupCase._supported = self.probe()
        if not DedupCase._supported:
            self.skipTest("the server does not offer send_key")

    def probe(self):
        """hello's features when it lists them, else what a key does."""
        r = self.c.ok("hello")
        if isinstance(r.get("features"), list):
            return "send_key" in r["features"]
        ch = self.make(cap=2)
        self.c.ok("send", chan=ch, value=1, key="probe")
        r = self.c.call("send", chan=ch, value=1, key="probe")
        return r.get("ok") is True and r.get("duplicate") is True


class SendKeyTest(DedupCase):

    def test_transcript(self):
        ch = self.make(cap=10)
        self.c.ok("send", {}, chan=ch, value={"order": 17}, key="order-17")
        self.c.ok("send", DUP, chan=ch, value={"order": 17}, key="order-17")
        self.c.ok("send", {}, chan=ch, values=[1, 2], key="batch-1")
        self.c.ok("send", DUP, chan=ch, values=[1, 2], key="batch-1")
        s = self.c.ok("stat", None, chan=ch)
        self.assertEqual((s["len"], s["dedup_keys"]), (3, 2))
        self.assertIsInstance(s["dedup_window_ms"], int)
        self.assertIsInstance(s["dedup_max"], int)
        self.c.ok("recv", {"values": Exact([{"order": 17}, 1, 2])},
                  chan=ch, max=10)

    def test_duplicate_after_receive_and_close(self):
        ch = self.make(cap=2)
        self.c.ok("send", {}, chan=ch, value="a", key="k")
        self.c.ok("recv", {"value": Exact("a")}, chan=ch)
        self.c.ok("close", {}, chan=ch)
        self.c.ok("send", DUP, chan=ch, value="a", key="k")
        self.c.err("send", "closed", chan=ch, value="a", key="other")

    def test_unbuffered_duplicate_needs_no_receiver(self):
        ch = self.make(cap=0)
        rx = self.conn()
        rid = rx.request("recv", chan=ch, timeout_ms=30000)
        self.wait_stat(ch, receivers_waiting=1)
        self.c.ok("send", {}, chan=ch, value="v", key="h")
        check_ok(rx.expect(rid), {"value": Exact("v")})
        self.c.ok("send", DUP, chan=ch, value="v", key="h", timeout_ms=0)

    def test_key_errors(self):
        ch = self.make(cap=1)
        self.c.err("send", "bad_request", chan=ch, value=1, key="")
        self.c.err("send", "bad_request", chan=ch, value=1, key=1)
        self.c.err("send", "bad_request", chan=ch, value=1, key="k" * 257)
        self.c.ok("send", {}, chan=ch, value=1, key="k" * 256)

    def test_blocked_key_is_refused_with_exists(self):
        ch = self.make(cap=0)
        tx = self.conn()
        rid = tx.request("send", chan=ch, value="first", key="p",
                         timeout_ms=30000)
        self.wait_stat(ch, senders_waiting=1)
        self.c.err("send", "exists", chan=ch, value="second", key="p",
                   timeout_ms=0)
        self.c.ok("recv", {"value": Exact("first")}, chan=ch)
        check_ok(tx.expect(rid), {})
        self.c.ok("send", DUP, chan=ch, value="x", key="p", timeout_ms=0)

    def test_blocked_send_that_times_out_forgets_its_key(self):
        ch = self.make(cap=1)
        self.c.ok("send", {}, chan=ch, value="fill")
        self.c.err("send", "timeout", chan=ch, value="x", key="t",
                   timeout_ms=50)
        self.c.ok("recv", {"value": Exact("fill")}, chan=ch)
        self.c.ok("send", {}, chan=ch, value="x", key="t")

    def test_concurrent_same_key_never_twice(self):
        ch = self.make(cap=1)
        self.c.ok("send", {}, chan=ch, value="fill")
        conns = [self.conn() for _ in range(8)]
        rids = [c.request("send", chan=ch, value="d", key="same",
                          timeout_ms=5000) for c in conns]
        self.wait_stat(ch, senders_waiting=1)
        self.c.ok("recv", {"value": Exact("fill")}, chan=ch)
        replies = [c.expect(r) for c, r in zip(conns, rids)]
        fresh = [r for r in replies if r["ok"] and not r.get("duplicate")]
        self.assertEqual(len(fresh), 1, replies)
        for r in replies:
            if not r["ok"]:
                self.assertEqual(r["error"]["code"], "exists", r)
        self.c.ok("recv", {"values": Exact(["d"])}, chan=ch, max=10)


class MakeDedupTest(DedupCase):

    def test_settings(self):
        ch = self.track(self.name())
        self.c.ok("make", {"created": Exact(True)}, chan=ch, cap=5,
                  dedup_window_ms=60000, dedup_max=2)
        s = self.c.ok("stat", None, chan=ch)
        self.assertEqual((s["dedup_window_ms"], s["dedup_max"],
                          s["dedup_keys"]), (60000, 2, 0))
        self.c.ok("make", {"created": Exact(False)}, chan=ch, cap=5)
        self.c.ok("make", {"created": Exact(False)}, chan=ch, cap=5,
                  dedup_max=2)
        self.c.err("make", "exists", chan=ch, cap=5, dedup_max=3)
        self.c.err("make", "bad_request", chan=self.name(), dedup_max=0)
        self.c.err("make", "bad_request", chan=self.name(),
                   dedup_window_ms="1s")
        # The count: the oldest key goes first.
        for k in ("a", "b", "c"):
            self.c.ok("send", {}, chan=ch, value=k, key=k)
        self.assertEqual(self.c.ok("stat", None, chan=ch)["dedup_keys"], 2)
        self.c.ok("send", DUP, chan=ch, value="c", key="c")
        self.c.ok("send", {}, chan=ch, value="a2", key="a")

    def test_window(self):
        ch = self.track(self.name())
        self.c.ok("make", {"created": Exact(True)}, chan=ch, cap=5,
                  dedup_window_ms=200)
        self.c.ok("send", {}, chan=ch, value=1, key="w")
        self.c.ok("send", DUP, chan=ch, value=1, key="w")
        wait_until(lambda: self.c.ok("stat", None, chan=ch)[
            "dedup_keys"] == 0, what="the key to expire")
        self.c.ok("send", {}, chan=ch, value=2, key="w")
        self.c.ok("recv", {"values": Exact([1, 2])}, chan=ch, max=5)


class DedupLimitTest(DedupCase):

    def test_stats_member(self):
        ch = self.make(cap=2)
        self.c.ok("send", {}, chan=ch, value=1, key="s")
        self.c.ok("send", DUP, chan=ch, value=1, key="s")
        d = self.c.call("stats")["dedup"]
        for k in ("keys", "bytes", "max_bytes", "duplicates", "expired",
                  "evicted"):
            self.assertIsInstance(d[k], int, k)
        self.assertGreaterEqual(d["keys"], 1)
        self.assertGreaterEqual(d["duplicates"], 1)
        self.assertGreaterEqual(d["bytes"], len("s") + 104)

    def test_max_dedup_bytes(self):
        s = harness.start_server("--max-dedup-bytes", "4K")
        c = self.conn(addr=s.addr)
        c.ok("make", {"created": Exact(True)}, chan="k", cap=1000)
        sent = 0
        while True:
            r = c.call("send", chan="k", value=sent, key="key-%04d" % sent)
            if not r["ok"]:
                break
            sent += 1
            self.assertLess(sent, 4096 // 104 + 1)
        harness.check_err(r, "limit")
        # Nothing was sent; unkeyed sends and known keys still work.
        self.assertEqual(c.call("stat", chan="k")["len"], sent)
        c.ok("send", {}, chan="k", value="plain")
        c.ok("send", DUP, chan="k", value=0, key="key-0000")
        # Dropping the channel frees its keys.
        c.ok("drop", {}, chan="k")
        c.ok("make", {"created": Exact(True)}, chan="k", cap=10)
        c.ok("send", {}, chan="k", value=1, key="key-%04d" % sent)
