"""Durable named consumers (PROTOCOL.md 6.3, 6.4): leases of a named
consumer outlive their connection and jqd itself (kill -9 and SIGTERM),
with their remaining time; touch; nack with delay_ms; unnamed leases
keep the version 1 behaviour."""

import time
import unittest

import jqtest
from jqtest import Client, ServerTestCase, wait_until


class ConsumerTest(ServerTestCase):
    def test_named_lease_survives_its_connection(self):
        ch = self.make(cap=4)
        self.ctl.ok("send", chan=ch, values=["a", "b"])
        c = self.connect()
        self.assertEqual(c.ok("hello", consumer="w1")["consumer"], "w1")
        r = c.ok("recv", chan=ch, lease_ms=600000)
        # A member on recv overrides the connection's default.
        r2 = c.ok("recv", chan=ch, lease_ms=600000, consumer="w2")
        c.close()
        # Closing returns nothing: both leases belong to consumers.
        self.ctl.ok("ping")
        st = self.stat(ch)
        self.assertEqual((st["len"], st["leased"]), (0, 2))
        # Any connection may end them.
        self.ctl.ok("ack", chan=ch, lease=r["lease"])
        self.ctl.ok("nack", chan=ch, lease=r2["lease"])
        r = self.ctl.ok("recv", chan=ch, lease_ms=600000)
        self.assertEqual((r["value"], r["redelivered"]), ("b", 1))

    def test_unnamed_lease_returns_at_close(self):
        ch = self.make(cap=4)
        self.ctl.ok("send", chan=ch, value="v")
        c = self.connect()
        c.ok("hello")
        c.ok("recv", chan=ch, lease_ms=600000)
        c.close()
        self.wait_stat(ch, leased=0, len=1)

    def test_plain_recv_of_a_named_connection_takes_for_good(self):
        ch = self.make(cap=4)
        self.ctl.ok("send", chan=ch, value="v")
        c = self.connect()
        c.ok("hello", consumer="w")
        r = c.ok("recv", chan=ch)
        self.assertEqual(sorted(r), ["id", "ok", "value"])
        st = self.stat(ch)
        self.assertEqual((st["len"], st["leased"]), (0, 0))

    def test_consumer_names_are_checked(self):
        ch = self.make(cap=4)
        for bad in ("", "a b", "x" * 129, 7, "w@host"):
            self.ctl.error("hello", "bad_request", consumer=bad)
            self.ctl.error("recv", "bad_request", chan=ch, lease_ms=10,
                           consumer=bad)
            self.ctl.error("select", "bad_request", cases=[{"recv": ch}],
                           consumer=bad)

    def test_touch_extends_and_shortens(self):
        ch = self.make(cap=4)
        self.ctl.ok("send", chan=ch, value="v")
        r = self.ctl.ok("recv", chan=ch, lease_ms=300, consumer="t")
        before = int(time.time() * 1000)
        t = self.ctl.ok("touch", chan=ch, lease=r["lease"], lease_ms=60000)
        after = int(time.time() * 1000)
        self.assertGreaterEqual(t["deadline_ms"], before + 60000 - 5)
        self.assertLessEqual(t["deadline_ms"], after + 60000 + 5)
        # Past the first deadline (the server's own timer measures it).
        self.ctl.error("recv", "timeout", chan=ch, timeout_ms=600)
        self.assertEqual(self.stat(ch)["leased"], 1)
        # From now, not from the old deadline: a short touch shortens it.
        self.ctl.ok("touch", chan=ch, lease=r["lease"], lease_ms=50)
        self.wait_stat(ch, leased=0, len=1)
        self.ctl.error("touch", "not_found", chan=ch, lease=r["lease"],
                       lease_ms=1000)

    def test_touch_unnamed_in_memory(self):
        ch = self.make(cap=4)
        self.ctl.ok("send", chan=ch, value="v")
        c = self.connect()
        r = c.ok("recv", chan=ch, lease_ms=300)
        self.ctl.ok("touch", chan=ch, lease=r["lease"], lease_ms=60000)
        self.ctl.error("recv", "timeout", chan=ch, timeout_ms=600)
        self.assertEqual(self.stat(ch)["leased"], 1)
        c.close()
        self.wait_stat(ch, leased=0, len=1)

    def test_touch_errors(self):
        ch = self.make(cap=4)
        self.ctl.error("touch", "bad_request", chan=ch, lease="x")
        self.ctl.error("touch", "bad_request", chan=ch, lease="x",
                       lease_ms=0)
        self.ctl.error("touch", "bad_request", chan=ch, lease_ms=10)
        self.ctl.error("touch", "not_found", chan=ch, lease="00000000.1",
                       lease_ms=10)
        self.ctl.error("touch", "not_found", chan=self.name("none"),
                       lease="x", lease_ms=10)

    def test_nack_delay(self):
        ch = self.make(cap=2)
        self.ctl.ok("send", chan=ch, values=["a", "b"])
        r = self.ctl.ok("recv", chan=ch, lease_ms=600000, consumer="d")
        self.ctl.ok("nack", chan=ch, lease=r["lease"], delay_ms=400)
        # Out of reach, owned by nobody, still holding its slot.
        st = self.stat(ch)
        self.assertEqual((st["len"], st["leased"]), (1, 1))
        self.ctl.error("send", "timeout", chan=ch, value="c", timeout_ms=0)
        for op in ("ack", "nack"):
            self.ctl.error(op, "not_found", chan=ch, lease=r["lease"])
        self.ctl.error("touch", "not_found", chan=ch, lease=r["lease"],
                       lease_ms=10)
        self.assertEqual(self.ctl.ok("recv", chan=ch)["value"], "b")
        t0 = time.monotonic()
        r = self.ctl.ok("recv", chan=ch, lease_ms=600000)
        self.assertGreaterEqual(time.monotonic() - t0, 0.2)
        self.assertEqual((r["value"], r["redelivered"]), ("a", 1))
        self.ctl.error("nack", "bad_request", chan=ch, lease=r["lease"],
                       delay_ms=-1)
        self.ctl.error("nack", "bad_request", chan=ch, lease=r["lease"],
                       delay_ms="1s")
        self.ctl.ok("nack", chan=ch, lease=r["lease"], delay_ms=0)
        self.wait_stat(ch, leased=0, len=1)

    def test_parked_recv_keeps_its_consumer_across_hello(self):
        # A multiplexed connection may say hello again while a leased
        # recv of its default consumer is parked: the parked recv still
        # leases for the consumer it was sent for (the old name's memory
        # was freed under it: ASan's heap-use-after-free).
        ch = self.make(cap=4)
        c = self.connect()
        c.send_frame({"id": "h1", "op": "hello", "multiplex": True,
                      "consumer": "before"})
        self.assertEqual(c.reply_to("h1")["consumer"], "before")
        c.send_frame({"id": "r", "op": "recv", "chan": ch,
                      "lease_ms": 600000})
        wait_until(lambda: self.stat(ch)["receivers_waiting"] == 1,
                   what="a parked recv")
        c.send_frame({"id": "h2", "op": "hello", "consumer": "after-" +
                      "x" * 100})
        self.assertEqual(c.reply_to("h2")["consumer"], "after-" + "x" * 100)
        self.ctl.ok("send", chan=ch, value="v")
        r = c.reply_to("r")
        c.close()
        # Named: closing returned nothing.
        self.ctl.ok("ping")
        self.assertEqual(self.stat(ch)["leased"], 1)
        self.ctl.ok("ack", chan=ch, lease=r["lease"])

    def test_closed_channel_waits_for_delayed_values(self):
        ch = self.make(cap=2)
        self.ctl.ok("send", chan=ch, value="a")
        r = self.ctl.ok("recv", chan=ch, lease_ms=600000)
        self.ctl.ok("nack", chan=ch, lease=r["lease"], delay_ms=300)
        self.ctl.ok("close", chan=ch)
        r = self.ctl.ok("recv", chan=ch, timeout_ms=30000)
        self.assertEqual(r["value"], "a")
        self.assertEqual(self.ctl.ok("recv", chan=ch).get("closed"), True)


class ConsumerRestartTest(jqtest.RestartTestCase):
    def restart(self, server, crash):
        if crash:
            server.kill()
        else:
            server.stop()
            self.assertEqual(server.problems(), [])
        return self.start()

    def stat(self, c, ch="q"):
        st = c.ok("stat", chan=ch)
        return st["len"], st["leased"]

    def check_survives(self, crash):
        s, c = self.start()
        c.ok("make", chan="q", cap=10)
        c.ok("send", chan="q", values=["n1", "n2", "u", "rest"])
        c.ok("hello", consumer="me")
        named = c.ok("recv", chan="q", lease_ms=600000)
        soon = c.ok("recv", chan="q", lease_ms=2500)
        t_soon = time.monotonic() + 2.5
        v1 = Client(s)
        unnamed = v1.ok("recv", chan="q", lease_ms=600000)
        self.assertEqual(self.stat(c), (1, 3))
        s, c = self.restart(s, crash)
        # The named leases are out still, with the same strings.
        self.assertEqual(self.stat(c), (2, 2))
        self.assertGreater(t_soon - time.monotonic(), 0.2,
                           "restart too slow to tell")
        c.error("ack", "not_found", chan="q", lease=unnamed["lease"])
        fresh = c.ok("recv", chan="q", lease_ms=600000)
        self.assertNotIn(fresh["lease"], (named["lease"], soon["lease"],
                                          unnamed["lease"]))
        # v1: the unnamed lease came back, +1 only for a clean stop.
        self.assertEqual(fresh["value"], "u")
        self.assertEqual(fresh.get("redelivered", 0), 0 if crash else 1)
        c.ok("nack", chan="q", lease=fresh["lease"])
        # The short one expires after its remaining time, not before.
        wait_until(lambda: self.stat(c) == (3, 1), what="expiry")
        self.assertGreater(time.monotonic(), t_soon - 0.05)
        r = c.ok("recv", chan="q", lease_ms=600000)
        self.assertEqual((r["value"], r["redelivered"]), ("n2", 1))
        c.ok("ack", chan="q", lease=named["lease"])
        c.ok("ack", chan="q", lease=r["lease"])
        self.assertEqual(self.stat(c), (2, 0))
        return s, c

    def test_survives_kill_9(self):
        self.check_survives(crash=True)

    def test_survives_clean_stop(self):
        self.check_survives(crash=False)

    def test_past_deadline_returned_at_start(self):
        s, c = self.start()
        c.ok("make", chan="q", cap=10)
        c.ok("send", chan="q", value="v")
        c.ok("recv", chan="q", lease_ms=200, consumer="me")
        t_end = time.monotonic() + 0.2
        s.kill()
        wait_until(lambda: time.monotonic() > t_end + 0.1, what="deadline")
        s, c = self.start()
        wait_until(lambda: self.stat(c) == (1, 0), what="returned at start")
        r = c.ok("recv", chan="q", lease_ms=1000)
        self.assertEqual(r["redelivered"], 1)

    def test_nack_delay_survives_restart(self):
        for crash in (True, False):
            s, c = self.start()
            c.ok("make", chan="q", cap=10)
            c.ok("send", chan="q", value="d")
            r = c.ok("recv", chan="q", lease_ms=600000)
            c.ok("nack", chan="q", lease=r["lease"], delay_ms=2000)
            t_end = time.monotonic() + 2.0
            s, c = self.restart(s, crash)
            self.assertEqual(self.stat(c), (0, 1))
            r = c.ok("recv", chan="q", timeout_ms=30000)
            self.assertGreater(time.monotonic(), t_end - 0.05)
            self.assertEqual(r["value"], "d")
            c.ok("drop", chan="q")
            s.stop()

    def test_lease_ids_never_reused(self):
        s, c = self.start()
        c.ok("make", chan="q", cap=10)
        c.ok("send", chan="q", values=[1, 2, 3])
        old = [c.ok("recv", chan="q", lease_ms=600000)["lease"]
               for _ in range(3)]
        s, c = self.restart(s, crash=True)
        new = c.ok("recv", chan="q", max=3, lease_ms=600000)["leases"]
        self.assertFalse(set(old) & set(new), (old, new))
        for l in old:
            c.error("ack", "not_found", chan="q", lease=l)


if __name__ == "__main__":
    unittest.main()
