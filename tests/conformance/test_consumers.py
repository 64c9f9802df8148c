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

    def test_hello_keeps_the_consumer(self):
        self.need("consumer")
        c = self.conn()
        self.assertNotIn("consumer", c.call("hello"))
        c.call("hello", consumer="cf-a")
        self.assertEqual(c.call("hello").get("consumer"), "cf-a")
        self.assertEqual(c.call("hello", consumer="cf-b").get("consumer"),
                         "cf-b")
        # A failed hello leaves it as it was.
        c.err("hello", "bad_request", consumer="a b")
        self.assertEqual(c.call("hello").get("consumer"), "cf-b")

    def test_plain_recv_of_a_named_connection_takes_for_good(self):
        self.need("consumer")
        ch = self.make(cap=2)
        self.api.send(ch, "p")
        c = self.conn()
        c.call("hello", consumer="cf-plain")
        c.ok("recv", {"value": Exact("p")}, chan=ch)
        c.close()
        s = self.stat(ch)
        self.assertEqual((s["len"], s["leased"]), (0, 0))

    def test_unnamed_lease_returns_when_its_connection_closes(self):
        self.need("touch")
        ch = self.make(cap=2)
        self.api.send(ch, "u")
        c = self.conn()
        r = c.ok("recv", LEASED, chan=ch, lease_ms=600000)
        # Any connection may touch a live lease, named or not.
        self.c.ok("touch", {"deadline_ms": Pos}, chan=ch, lease=r["lease"],
                  lease_ms=600000)
        c.close()
        self.wait_stat(ch, leased=0, len=1)
        self.c.err("touch", "not_found", chan=ch, lease=r["lease"],
                   lease_ms=1000)

    def test_touch_more_errors(self):
        self.need("touch")
        ch = self.make(cap=2)
        self.api.send(ch, "t")
        r = self.c.ok("recv", LEASED, chan=ch, lease_ms=600000)
        for bad in ("1s", 1.5, -1, None):
            self.c.err("touch", "bad_request", chan=ch, lease=r["lease"],
                       lease_ms=bad)
        self.c.err("touch", "bad_request", chan=ch, lease=7, lease_ms=10)
        other = self.make(cap=2)
        self.c.err("touch", "not_found", chan=other, lease=r["lease"],
                   lease_ms=10)
        # None of these touched it: it is live, its deadline far off.
        self.c.ok("ack", {}, chan=ch, lease=r["lease"])

    def test_touch_of_a_delayed_return_is_not_found(self):
        self.need("touch")
        self.need("nack_delay")
        ch = self.make(cap=2)
        self.api.send(ch, "d")
        r = self.c.ok("recv", LEASED, chan=ch, lease_ms=600000)
        self.c.ok("nack", {}, chan=ch, lease=r["lease"], delay_ms=600000)
        self.c.err("touch", "not_found", chan=ch, lease=r["lease"],
                   lease_ms=10)
        self.c.err("nack", "not_found", chan=ch, lease=r["lease"])

    def test_nack_delay_zero_is_a_plain_nack(self):
        self.need("nack_delay")
        ch = self.make(cap=2)
        self.api.send(ch, "z")
        r = self.c.ok("recv", LEASED, chan=ch, lease_ms=600000)
        self.c.ok("nack", {}, chan=ch, lease=r["lease"], delay_ms=0)
        self.c.ok("recv", dict(LEASED, value=Exact("z"),
                               redelivered=Exact(1)),
                  chan=ch, lease_ms=600000, timeout_ms=0)

    def test_nack_delay_with_reason(self):
        self.need("nack_delay")
        self.need("dead_letter")
        dl = self.make(cap=4)
        ch = self.track(self.name())
        self.c.ok("make", {"created": Exact(True)}, chan=ch, cap=4,
                  max_deliveries=2, dead_letter=dl)
        self.api.send(ch, "dr")
        r = self.c.ok("recv", LEASED, chan=ch, lease_ms=600000)
        self.c.ok("nack", {}, chan=ch, lease=r["lease"], delay_ms=200,
                  reason="first")
        self.assertEqual(self.stat(ch)["leased"], 1)
        r = self.c.ok("recv", dict(LEASED, redelivered=Exact(1)), chan=ch,
                      lease_ms=600000, timeout_ms=30000)
        # At its limit: the nack moves it at once, the delay does not apply.
        self.c.ok("nack", {}, chan=ch, lease=r["lease"], delay_ms=600000,
                  reason="second")
        s = self.stat(ch)
        self.assertEqual((s["len"], s["leased"], s["dead_lettered"]),
                         (0, 0, 1))
        env = self.c.ok("recv", None, chan=dl, timeout_ms=0)["value"]
        self.assertEqual((env["value"], env["deliveries"], env["reason"]),
                         ("dr", 2, "second"))
