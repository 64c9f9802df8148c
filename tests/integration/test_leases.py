"""At-least-once delivery: recv with lease_ms, ack, nack, expiry, and
leases returned when their connection closes.  SPEC section 3 and 8."""


import jqtest
from jqtest import ServerTestCase


class LeaseTest(ServerTestCase):
    def test_lease_ack_removes_for_good(self):
        ch = self.make(cap=4)
        self.ctl.ok("send", chan=ch, value={"task": 1})
        r = self.ctl.ok("recv", chan=ch, lease_ms=60000)
        self.assertEqual(r["value"], {"task": 1})
        self.assertIsInstance(r["lease"], str)
        self.assertNotIn("redelivered", r)
        st = self.stat(ch)
        self.assertEqual((st["len"], st["leased"]), (0, 1))
        self.ctl.ok("ack", chan=ch, lease=r["lease"])
        st = self.stat(ch)
        self.assertEqual((st["len"], st["leased"]), (0, 0))
        self.ctl.error("ack", "not_found", chan=ch, lease=r["lease"])
        self.ctl.error("recv", "timeout", chan=ch, timeout_ms=0)

    def test_nack_returns_to_front_and_counts(self):
        ch = self.make(cap=4)
        self.ctl.ok("send", chan=ch, values=["a", "b"])
        r = self.ctl.ok("recv", chan=ch, lease_ms=60000)
        self.ctl.ok("nack", chan=ch, lease=r["lease"])
        r = self.ctl.ok("recv", chan=ch, lease_ms=60000)
        self.assertEqual((r["value"], r["redelivered"]), ("a", 1))
        self.ctl.ok("nack", chan=ch, lease=r["lease"])
        r = self.ctl.ok("recv", chan=ch, max=5)
        self.assertEqual(r["values"], ["a", "b"])

    def test_expiry_returns_value(self):
        ch = self.make(cap=4)
        self.ctl.ok("send", chan=ch, values=["x", "y"])
        r = self.ctl.ok("recv", chan=ch, lease_ms=50)
        self.assertEqual(r["value"], "x")
        self.wait_stat(ch, leased=0, len=2)
        self.ctl.error("ack", "not_found", chan=ch, lease=r["lease"])
        r2 = self.ctl.ok("recv", chan=ch, lease_ms=60000)
        self.assertEqual((r2["value"], r2["redelivered"]), ("x", 1))
        self.assertNotEqual(r2["lease"], r["lease"])

    def test_connection_close_returns_leases(self):
        ch = self.make(cap=4)
        self.ctl.ok("send", chan=ch, values=[1, 2, 3])
        c = self.connect()
        r = c.ok("recv", chan=ch, lease_ms=600000, max=2)
        self.assertEqual(r["values"], [1, 2])
        self.assertEqual(len(r["leases"]), 2)
        self.assertEqual(self.stat(ch)["leased"], 2)
        c.close()
        self.wait_stat(ch, leased=0, len=3)
        r = self.ctl.ok("recv", chan=ch, max=3)
        self.assertEqual(sorted(r["values"][:2]), [1, 2])
        self.assertEqual(r["values"][2], 3)

    def test_leased_value_holds_its_slot(self):
        ch = self.make(cap=1)
        self.ctl.ok("send", chan=ch, value="only")
        r = self.ctl.ok("recv", chan=ch, lease_ms=600000)
        # The slot is still taken: a send cannot proceed...
        self.ctl.error("send", "timeout", chan=ch, value="more", timeout_ms=0)
        sender = self.connect()
        rid = sender.request("send", chan=ch, value="more")
        self.wait_stat(ch, senders_waiting=1)
        self.assertNoReply(sender)
        # ...until the lease is acked.
        self.ctl.ok("ack", chan=ch, lease=r["lease"])
        self.assertTrue(sender.reply_to(rid)["ok"])
        self.assertEqual(self.stat(ch)["len"], 1)

    def test_closed_channel_waits_for_outstanding_leases(self):
        ch = self.make(cap=2)
        self.ctl.ok("send", chan=ch, value="v")
        r = self.ctl.ok("recv", chan=ch, lease_ms=600000)
        self.ctl.ok("close", chan=ch)
        waiter = self.connect()
        rid = waiter.request("recv", chan=ch)
        self.wait_stat(ch, receivers_waiting=1)
        self.assertNoReply(waiter)
        # The value comes back (nack): the waiting receiver gets it.
        self.ctl.ok("nack", chan=ch, lease=r["lease"])
        got = waiter.reply_to(rid)
        self.assertEqual(got["value"], "v")
        # Drained and no lease out: closed.
        self.assertIs(self.ctl.ok("recv", chan=ch).get("closed"), True)

    def test_closed_channel_ack_of_last_lease_wakes_receivers(self):
        ch = self.make(cap=2)
        self.ctl.ok("send", chan=ch, value="v")
        r = self.ctl.ok("recv", chan=ch, lease_ms=600000)
        self.ctl.ok("close", chan=ch)
        waiter = self.connect()
        rid = waiter.request("recv", chan=ch)
        self.wait_stat(ch, receivers_waiting=1)
        self.ctl.ok("ack", chan=ch, lease=r["lease"])
        self.assertIs(waiter.reply_to(rid).get("closed"), True)

    def test_blocked_lease_receiver_gets_lease(self):
        ch = self.make(cap=2)
        c = self.connect()
        rid = c.request("recv", chan=ch, lease_ms=600000)
        self.wait_stat(ch, receivers_waiting=1)
        self.ctl.ok("send", chan=ch, value=7)
        r = c.reply_to(rid)
        self.assertEqual(r["value"], 7)
        self.assertEqual(self.stat(ch)["leased"], 1)
        c.ok("ack", chan=ch, lease=r["lease"])
        self.assertEqual(self.stat(ch)["leased"], 0)

    def test_errors(self):
        ch = self.make(cap=0)
        self.ctl.error("recv", "bad_request", chan=ch, lease_ms=1000)
        b = self.make(cap=2)
        for bad in (0, -1, 1.5, "10"):
            self.ctl.error("recv", "bad_request", chan=b, lease_ms=bad)
        self.ctl.error("ack", "not_found", chan=b, lease="nonsense")
        self.ctl.error("ack", "bad_request", chan=b)
        self.ctl.error("nack", "not_found", chan=b, lease="00000000.1")
        self.ctl.error("ack", "not_found", chan="no-such-chan", lease="x")
        # A lease names its channel: acking it on another fails.
        self.ctl.ok("send", chan=b, value=1)
        r = self.ctl.ok("recv", chan=b, lease_ms=600000)
        other = self.make(cap=2)
        self.ctl.error("ack", "not_found", chan=other, lease=r["lease"])
        self.ctl.ok("ack", chan=b, lease=r["lease"])


if __name__ == "__main__":
    jqtest.main()
