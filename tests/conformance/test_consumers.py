"""Protocol 1.1: named consumers (PROTOCOL.md 6.3.1, 9.1 `consumer`, 10.4),
`touch` (10.11) and nack's `delay_ms` (10.5).  Skipped on a server whose
hello does not list the feature."""

import time
import unittest

from harness import Any, Exact, NonEmptyStr, Pos, Case

LEASED = {"value": Any, "lease": NonEmptyStr}


class ConsumerTest(Case):

    def setUp(self):
        super().setUp()
        r = self.c.call("hello")
        self.features = set(r.get("features", []))

    def need(self, feature):
        if feature not in self.features:
            raise unittest.SkipTest("the server does not list '%s'"
                                    % feature)

    def test_hello_names_the_connection(self):
        self.need("consumer")
        c = self.conn()
        r = c.call("hello", consumer="cf-w1")
        self.assertEqual(r.get("consumer"), "cf-w1")
        for bad in ("", "a b", "x" * 129, 1, "w@h"):
            c.err("hello", "bad_request", consumer=bad)

    def test_named_lease_outlives_its_connection(self):
        self.need("consumer")
        ch = self.make(cap=4)
        self.api.send_batch(ch, ["a", "b"])
        c = self.conn()
        r1 = c.ok("recv", LEASED, chan=ch, lease_ms=600000,
                  consumer="cf-w1")
        c.call("hello", consumer="cf-w2")
        r2 = c.ok("recv", LEASED, chan=ch, lease_ms=600000)
        c.close()
        self.c.ok("ping", {})
        s = self.stat(ch)
        self.assertEqual((s["len"], s["leased"]), (0, 2))
        self.c.ok("ack", {}, chan=ch, lease=r1["lease"])
        self.c.ok("nack", {}, chan=ch, lease=r2["lease"])
        self.c.ok("recv", dict(LEASED, value=Exact("b"),
                               redelivered=Exact(1)),
                  chan=ch, lease_ms=600000, consumer="cf-w1")

    def test_consumer_errors(self):
        self.need("consumer")
        ch = self.make(cap=4)
        for bad in ("", "a b", 7):
            self.c.err("recv", "bad_request", chan=ch, lease_ms=10,
                       consumer=bad)
            self.c.err("select", "bad_request", cases=[{"recv": ch}],
                       consumer=bad, timeout_ms=0)

    def test_touch(self):
        self.need("touch")
        ch = self.make(cap=4)
        self.api.send(ch, "v")
        r = self.c.ok("recv", LEASED, chan=ch, lease_ms=200)
        t0 = int(time.time() * 1000)
        t = self.c.ok("touch", {"deadline_ms": Pos}, chan=ch,
                      lease=r["lease"], lease_ms=600000)
        self.assertGreater(t["deadline_ms"], t0 + 500000)
        self.c.err("recv", "timeout", chan=ch, timeout_ms=400)
        self.assertEqual(self.stat(ch)["leased"], 1)
        self.c.ok("touch", {"deadline_ms": Pos}, chan=ch,
                  lease=r["lease"], lease_ms=1)
        self.wait_stat(ch, leased=0, len=1)
        self.c.err("touch", "not_found", chan=ch, lease=r["lease"],
                   lease_ms=1000)

    def test_touch_errors(self):
        self.need("touch")
        ch = self.make(cap=4)
        self.c.err("touch", "bad_request", chan=ch, lease="x")
        self.c.err("touch", "bad_request", chan=ch, lease="x", lease_ms=0)
        self.c.err("touch", "bad_request", chan=ch, lease_ms=10)
        self.c.err("touch", "bad_request", lease="x", lease_ms=10)
        self.c.err("touch", "not_found", chan=ch, lease="x", lease_ms=10)
        self.c.err("touch", "not_found", chan=self.name("none"), lease="x",
                   lease_ms=10)

    def test_nack_delay(self):
        self.need("nack_delay")
        ch = self.make(cap=2)
        self.api.send_batch(ch, ["a", "b"])
        r = self.c.ok("recv", LEASED, chan=ch, lease_ms=600000)
        self.c.err("nack", "bad_request", chan=ch, lease=r["lease"],
                   delay_ms=-1)
        self.c.err("nack", "bad_request", chan=ch, lease=r["lease"],
                   delay_ms=1.5)
        self.c.ok("nack", {}, chan=ch, lease=r["lease"], delay_ms=300)
        s = self.stat(ch)
        self.assertEqual((s["len"], s["leased"]), (1, 1))
        self.c.err("ack", "not_found", chan=ch, lease=r["lease"])
        self.c.ok("recv", {"value": Exact("b")}, chan=ch)
        self.c.ok("recv", dict(LEASED, value=Exact("a"),
                               redelivered=Exact(1)),
                  chan=ch, lease_ms=600000, timeout_ms=30000)
