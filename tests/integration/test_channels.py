"""Channel ops (SPEC 3, 8; PROTOCOL.md): make, send/recv buffered and
unbuffered, batches, recv max, close, drop, stat, chans, abandoned waits,
value round-trips.  Blocking is observed through stat's senders_waiting /
receivers_waiting, never through sleeps."""

import json

from jqtest import Client, ServerTestCase, main


class MakeTest(ServerTestCase):

    def test_make_created_then_not(self):
        chan = self.name()
        r = self.ctl.ok("make", chan=chan, cap=4)
        self.assertIs(r["created"], True)
        r = self.ctl.ok("make", chan=chan, cap=4)
        self.assertIs(r["created"], False)
        e = self.ctl.error("make", "exists", chan=chan, cap=5)
        self.assertEqual(self.stat(chan)["cap"], 4)
        self.assertTrue(e["message"])

    def test_make_default_cap_is_unbuffered(self):
        chan = self.name()
        self.assertIs(self.ctl.ok("make", chan=chan)["created"], True)
        s = self.stat(chan)
        self.assertEqual(s["cap"], 0)
        self.assertIs(self.ctl.ok("make", chan=chan, cap=0)["created"], False)
        self.ctl.error("make", "exists", chan=chan, cap=1)

    def test_make_existing_keeps_contents(self):
        chan = self.make(cap=3)
        self.ctl.ok("send", chan=chan, value="kept")
        self.assertIs(self.ctl.ok("make", chan=chan, cap=3)["created"], False)
        self.assertEqual(self.stat(chan)["len"], 1)
        self.assertEqual(self.ctl.ok("recv", chan=chan)["value"], "kept")


class BufferedTest(ServerTestCase):

    def test_fifo_order(self):
        chan = self.make(cap=10)
        for i in range(10):
            self.ctl.ok("send", chan=chan, value=i)
            self.assertEqual(self.stat(chan)["len"], i + 1)
        got = [self.ctl.ok("recv", chan=chan)["value"] for _ in range(10)]
        self.assertEqual(got, list(range(10)))
        self.assertEqual(self.stat(chan)["len"], 0)

    def test_handoff_to_waiting_receiver_writes_nothing(self):
        # PROTOCOL.md 6.1.1: a value handed to a receiver that is already
        # waiting never reaches the disk; one that stays is stored.
        chan = self.make(cap=10)
        r = self.connect()
        before = self.ctl.ok("stats")["store"]["changes"]
        for i in range(20):
            r.request("recv", chan=chan)
            self.wait_stat(chan, receivers_waiting=1)
            self.ctl.ok("send", chan=chan, value=i)
            self.assertEqual(r.read_reply()["value"], i)
        self.assertEqual(self.ctl.ok("stats")["store"]["changes"], before)
        s = self.stat(chan)
        self.assertEqual((s["len"], s["sent"], s["received"]), (0, 20, 20))
        # A leasing receiver does not take the hand-off: the value is
        # stored until it is acked.
        r.request("recv", chan=chan, lease_ms=60000)
        self.wait_stat(chan, receivers_waiting=1)
        self.ctl.ok("send", chan=chan, value="kept")
        got = r.read_reply()
        self.assertEqual(got["value"], "kept")
        self.assertGreater(self.ctl.ok("stats")["store"]["changes"], before)
        r.ok("ack", chan=chan, lease=got["lease"])

    def test_send_full_times_out_and_is_not_applied(self):
        chan = self.make(cap=1)
        self.ctl.ok("send", chan=chan, value="first")
        self.ctl.error("send", "timeout", chan=chan, value="late", timeout_ms=0)
        self.ctl.error("send", "timeout", chan=chan, value="late", timeout_ms=100)
        s = self.stat(chan)
        self.assertEqual((s["len"], s["sent"], s["senders_waiting"]), (1, 1, 0))
        self.assertEqual(self.ctl.ok("recv", chan=chan)["value"], "first")
        self.ctl.error("recv", "timeout", chan=chan, timeout_ms=0)

    def test_send_blocks_when_full_fifo_senders(self):
        chan = self.make(cap=1)
        self.ctl.ok("send", chan=chan, value="v0")
        a, b = self.connect(), self.connect()
        a.request("send", chan=chan, value="v1")
        self.wait_stat(chan, senders_waiting=1)
        b.request("send", chan=chan, value="v2")
        self.wait_stat(chan, senders_waiting=2)
        self.assertNoReply(a)
        self.assertNoReply(b)
        self.assertEqual(self.stat(chan)["len"], 1)

        self.assertEqual(self.ctl.ok("recv", chan=chan)["value"], "v0")
        self.assertIs(a.read_reply()["ok"], True)      # a was first
        self.wait_stat(chan, senders_waiting=1, len=1)
        self.assertNoReply(b)
        self.assertEqual(self.ctl.ok("recv", chan=chan)["value"], "v1")
        self.assertIs(b.read_reply()["ok"], True)
        self.assertEqual(self.ctl.ok("recv", chan=chan)["value"], "v2")
        s = self.wait_stat(chan, senders_waiting=0, len=0)
        self.assertEqual((s["sent"], s["received"]), (3, 3))

    def test_many_waiting_senders_fifo(self):
        chan = self.make(cap=2)
        self.ctl.ok("send", chan=chan, values=["p0", "p1"])
        senders = []
        for i in range(6):
            c = self.connect()
            c.request("send", chan=chan, value="w%d" % i)
            self.wait_stat(chan, senders_waiting=i + 1)
            senders.append(c)
        got = [self.ctl.ok("recv", chan=chan)["value"] for _ in range(8)]
        self.assertEqual(got, ["p0", "p1"] + ["w%d" % i for i in range(6)])
        for c in senders:
            self.assertIs(c.read_reply()["ok"], True)

    def test_recv_blocks_until_send_fifo_receivers(self):
        chan = self.make(cap=5)
        a, b = self.connect(), self.connect()
        a.request("recv", chan=chan)
        self.wait_stat(chan, receivers_waiting=1)
        b.request("recv", chan=chan)
        self.wait_stat(chan, receivers_waiting=2)
        self.assertNoReply(a)
        self.assertNoReply(b)
        self.ctl.ok("send", chan=chan, value="x")
        self.assertEqual(a.read_reply()["value"], "x")
        self.wait_stat(chan, receivers_waiting=1)
        self.assertNoReply(b)
        self.ctl.ok("send", chan=chan, value="y")
        self.assertEqual(b.read_reply()["value"], "y")
        s = self.wait_stat(chan, receivers_waiting=0)
        self.assertEqual((s["len"], s["sent"], s["received"]), (0, 2, 2))

    def test_recv_timeout(self):
        chan = self.make(cap=3)
        self.ctl.error("recv", "timeout", chan=chan, timeout_ms=0)
        self.ctl.error("recv", "timeout", chan=chan, timeout_ms=80)
        self.assertEqual(self.stat(chan)["receivers_waiting"], 0)
        # A timed-out receiver does not take a later value.
        self.ctl.ok("send", chan=chan, value=1)
        self.assertEqual(self.stat(chan)["len"], 1)

    def test_recv_with_timeout_gets_value_sent_while_waiting(self):
        chan = self.make(cap=3)
        a = self.connect()
        a.request("recv", chan=chan, timeout_ms=60000)
        self.wait_stat(chan, receivers_waiting=1)
        self.ctl.ok("send", chan=chan, value="in time")
        self.assertEqual(a.read_reply()["value"], "in time")

    def test_large_value_roundtrip(self):
        chan = self.make(cap=2)
        big = {"blob": "é" * 60000 + "x" * 60000, "n": list(range(1000))}
        self.ctl.ok("send", chan=chan, value=big)
        self.assertEqual(self.ctl.ok("recv", chan=chan)["value"], big)


class UnbufferedTest(ServerTestCase):

    def test_rendezvous_sender_first(self):
        chan = self.make(cap=0)
        a, b = self.connect(), self.connect()
        a.request("send", chan=chan, value={"k": "v"})
        self.wait_stat(chan, senders_waiting=1)
        self.assertNoReply(a)
        self.assertEqual(self.stat(chan)["len"], 0)
        self.assertEqual(b.ok("recv", chan=chan)["value"], {"k": "v"})
        self.assertIs(a.read_reply()["ok"], True)
        s = self.wait_stat(chan, senders_waiting=0)
        self.assertEqual((s["sent"], s["received"], s["len"]), (1, 1, 0))

    def test_rendezvous_receiver_first(self):
        chan = self.make(cap=0)
        a, b = self.connect(), self.connect()
        b.request("recv", chan=chan)
        self.wait_stat(chan, receivers_waiting=1)
        self.assertNoReply(b)
        a.ok("send", chan=chan, value=[1, 2, 3])
        self.assertEqual(b.read_reply()["value"], [1, 2, 3])

    def test_send_timeout_zero_without_receiver(self):
        chan = self.make(cap=0)
        self.ctl.error("send", "timeout", chan=chan, value=1, timeout_ms=0)
        self.ctl.error("send", "timeout", chan=chan, value=2, timeout_ms=100)
        s = self.stat(chan)
        self.assertEqual((s["senders_waiting"], s["sent"]), (0, 0))
        self.ctl.error("recv", "timeout", chan=chan, timeout_ms=0)

    def test_send_timeout_zero_with_waiting_receiver(self):
        chan = self.make(cap=0)
        b = self.connect()
        b.request("recv", chan=chan)
        self.wait_stat(chan, receivers_waiting=1)
        self.ctl.ok("send", chan=chan, value="now", timeout_ms=0)
        self.assertEqual(b.read_reply()["value"], "now")

    def test_recv_timeout_zero_with_waiting_sender(self):
        chan = self.make(cap=0)
        a = self.connect()
        a.request("send", chan=chan, value="ready")
        self.wait_stat(chan, senders_waiting=1)
        self.assertEqual(self.ctl.ok("recv", chan=chan, timeout_ms=0)["value"],
                         "ready")
        self.assertIs(a.read_reply()["ok"], True)

    def test_unbuffered_fifo_both_sides(self):
        chan = self.make(cap=0)
        senders = []
        for i in range(4):
            c = self.connect()
            c.request("send", chan=chan, value=i)
            self.wait_stat(chan, senders_waiting=i + 1)
            senders.append(c)
        got = [self.ctl.ok("recv", chan=chan)["value"] for _ in range(4)]
        self.assertEqual(got, [0, 1, 2, 3])
        for c in senders:
            self.assertIs(c.read_reply()["ok"], True)
        receivers = []
        for i in range(4):
            c = self.connect()
            c.request("recv", chan=chan)
            self.wait_stat(chan, receivers_waiting=i + 1)
            receivers.append(c)
        for i in range(4):
            self.ctl.ok("send", chan=chan, value=i)
        self.assertEqual([c.read_reply()["value"] for c in receivers],
                         [0, 1, 2, 3])

    def test_recv_max_unbuffered(self):
        chan = self.make(cap=0)
        a = self.connect()
        a.request("send", chan=chan, value="only")
        self.wait_stat(chan, senders_waiting=1)
        self.assertEqual(self.ctl.ok("recv", chan=chan, max=5)["values"], ["only"])
        self.assertIs(a.read_reply()["ok"], True)
        b = self.connect()
        b.request("recv", chan=chan, max=3)
        self.wait_stat(chan, receivers_waiting=1)
        self.ctl.ok("send", chan=chan, value="w")
        self.assertEqual(b.read_reply()["values"], ["w"])


class BatchTest(ServerTestCase):

    def test_batch_all_or_nothing(self):
        chan = self.make(cap=5)
        self.ctl.ok("send", chan=chan, values=[1, 2, 3])
        s = self.stat(chan)
        self.assertEqual((s["len"], s["sent"]), (3, 3))
        self.ctl.error("send", "timeout", chan=chan, values=[4, 5, 6],
                       timeout_ms=0)
        self.ctl.error("send", "timeout", chan=chan, values=[4, 5, 6],
                       timeout_ms=50)
        s = self.stat(chan)
        self.assertEqual((s["len"], s["sent"]), (3, 3))

        a = self.connect()
        a.request("send", chan=chan, values=[4, 5, 6])
        self.wait_stat(chan, senders_waiting=1)
        self.assertNoReply(a)
        self.assertEqual(self.stat(chan)["len"], 3, "batch partly applied")
        self.assertEqual(self.ctl.ok("recv", chan=chan)["value"], 1)
        self.assertIs(a.read_reply()["ok"], True)
        s = self.wait_stat(chan, senders_waiting=0)
        self.assertEqual((s["len"], s["sent"]), (5, 6))
        got = self.ctl.ok("recv", chan=chan, max=10)["values"]
        self.assertEqual(got, [2, 3, 4, 5, 6])

    def test_batch_full_cap(self):
        chan = self.make(cap=4)
        self.ctl.ok("send", chan=chan, values=["a", "b", "c", "d"])
        self.assertEqual(self.stat(chan)["len"], 4)
        self.ctl.error("send", "bad_request", chan=chan, values=list("abcde"))
        self.assertEqual(self.ctl.ok("recv", chan=chan, max=4)["values"],
                         ["a", "b", "c", "d"])

    def test_batch_to_waiting_receivers(self):
        chan = self.make(cap=3)
        rs = []
        for i in range(2):
            c = self.connect()
            c.request("recv", chan=chan)
            self.wait_stat(chan, receivers_waiting=i + 1)
            rs.append(c)
        self.ctl.ok("send", chan=chan, values=["x", "y", "z"])
        self.assertEqual([c.read_reply()["value"] for c in rs], ["x", "y"])
        s = self.wait_stat(chan, receivers_waiting=0)
        self.assertEqual(s["len"], 1)
        self.assertEqual(self.ctl.ok("recv", chan=chan)["value"], "z")

    def test_waiting_senders_fifo_batch_before_single(self):
        # FIFO: a single send queued behind a waiting batch does not
        # overtake it, even when its one value would fit first.
        chan = self.make(cap=3)
        self.ctl.ok("send", chan=chan, values=["a", "b", "c"])
        a, b = self.connect(), self.connect()
        a.request("send", chan=chan, values=["d", "e"])
        self.wait_stat(chan, senders_waiting=1)
        b.request("send", chan=chan, value="f")
        self.wait_stat(chan, senders_waiting=2)
        got = []
        while len(got) < 6:
            got.append(self.ctl.ok("recv", chan=chan)["value"])
        self.assertEqual(got, list("abcdef"))
        self.assertIs(a.read_reply()["ok"], True)
        self.assertIs(b.read_reply()["ok"], True)


class RecvMaxTest(ServerTestCase):

    def test_recv_max_returns_1_to_n(self):
        chan = self.make(cap=10)
        self.ctl.ok("send", chan=chan, values=[0, 1, 2, 3, 4])
        self.assertEqual(self.ctl.ok("recv", chan=chan, max=3)["values"], [0, 1, 2])
        self.assertEqual(self.ctl.ok("recv", chan=chan, max=10)["values"], [3, 4])
        self.ctl.error("recv", "timeout", chan=chan, max=2, timeout_ms=0)
        self.ctl.error("recv", "timeout", chan=chan, max=2, timeout_ms=50)
        self.ctl.ok("send", chan=chan, value="one")
        self.assertEqual(self.ctl.ok("recv", chan=chan, max=1)["values"], ["one"])
        s = self.stat(chan)
        self.assertEqual((s["sent"], s["received"], s["len"]), (6, 6, 0))

    def test_recv_max_waits_for_first(self):
        chan = self.make(cap=10)
        a = self.connect()
        a.request("recv", chan=chan, max=5)
        self.wait_stat(chan, receivers_waiting=1)
        self.assertNoReply(a)
        self.ctl.ok("send", chan=chan, values=[1, 2])
        vals = a.read_reply()["values"]
        self.assertIn(vals, ([1], [1, 2]))
        rest = [] if len(vals) == 2 else self.ctl.ok("recv", chan=chan, max=5)["values"]
        self.assertEqual(vals + rest, [1, 2])
        self.assertEqual(self.stat(chan)["len"], 0)

    def test_recv_max_on_closed(self):
        chan = self.make(cap=4)
        self.ctl.ok("send", chan=chan, values=["p", "q"])
        self.ctl.ok("close", chan=chan)
        r = self.ctl.ok("recv", chan=chan, max=5)
        self.assertEqual(r["values"], ["p", "q"])
        self.assertIsNot(r.get("closed"), True, "closed with values: %r" % r)
        r = self.ctl.ok("recv", chan=chan, max=5)
        self.assertEqual(r["values"], [])
        self.assertIs(r["closed"], True)


class CloseTest(ServerTestCase):

    def test_close_drains_then_closed(self):
        chan = self.make(cap=5)
        self.ctl.ok("send", chan=chan, values=[1, 2])
        r = self.ctl.ok("close", chan=chan)
        self.assertEqual(set(r), {"id", "ok"}, r)
        self.assertIs(self.stat(chan)["closed"], True)
        self.ctl.error("send", "closed", chan=chan, value=3)
        self.ctl.error("send", "closed", chan=chan, values=[3])
        self.ctl.error("send", "closed", chan=chan, value=3, timeout_ms=0)
        self.assertEqual(self.ctl.ok("recv", chan=chan)["value"], 1)
        self.assertEqual(self.ctl.ok("recv", chan=chan)["value"], 2)
        for fields in ({}, {"timeout_ms": 0}, {"timeout_ms": 10}, {}):
            r = self.ctl.ok("recv", chan=chan, **fields)
            self.assertIs(r.get("closed"), True, r)
            self.assertNotIn("value", r)
        self.ctl.error("close", "closed", chan=chan)
        s = self.stat(chan)
        self.assertEqual((s["len"], s["sent"], s["received"], s["closed"]),
                         (0, 2, 2, True))

    def test_close_fails_waiting_senders(self):
        chan = self.make(cap=1)
        self.ctl.ok("send", chan=chan, value="in")
        a, b = self.connect(), self.connect()
        a.request("send", chan=chan, value="out")
        b.request("send", chan=chan, values=["out2"])
        self.wait_stat(chan, senders_waiting=2)
        self.ctl.ok("close", chan=chan)
        for c in (a, b):
            r = c.read_reply()
            self.assertIs(r["ok"], False)
            self.assertEqual(r["error"]["code"], "closed")
        self.wait_stat(chan, senders_waiting=0)
        self.assertEqual(self.ctl.ok("recv", chan=chan)["value"], "in")
        self.assertIs(self.ctl.ok("recv", chan=chan)["closed"], True)

    def test_close_unbuffered_waiting_sender(self):
        chan = self.make(cap=0)
        a = self.connect()
        a.request("send", chan=chan, value="never")
        self.wait_stat(chan, senders_waiting=1)
        self.ctl.ok("close", chan=chan)
        self.assertEqual(a.read_reply()["error"]["code"], "closed")
        self.assertIs(self.ctl.ok("recv", chan=chan, timeout_ms=0)["closed"], True)

    def test_close_wakes_waiting_receivers(self):
        for cap in (0, 3):
            with self.subTest(cap=cap):
                chan = self.make(cap=cap)
                a, b = self.connect(), self.connect()
                a.request("recv", chan=chan)
                self.wait_stat(chan, receivers_waiting=1)
                b.request("recv", chan=chan, max=4)
                self.wait_stat(chan, receivers_waiting=2)
                self.ctl.ok("close", chan=chan)
                r = a.read_reply()
                self.assertIs(r["ok"], True)
                self.assertIs(r["closed"], True)
                self.assertNotIn("value", r)
                r = b.read_reply()
                self.assertEqual(r["values"], [])
                self.assertIs(r["closed"], True)
                self.wait_stat(chan, receivers_waiting=0)


class DropTest(ServerTestCase):

    def test_drop_fails_waiters_and_removes(self):
        full = self.make(cap=1)
        empty = self.make(cap=1)
        unbuf = self.make(cap=0)
        self.ctl.ok("send", chan=full, value="gone")
        a, b, c = self.connect(), self.connect(), self.connect()
        a.request("send", chan=full, value="x")
        b.request("recv", chan=empty)
        c.request("send", chan=unbuf, value="y")
        self.wait_stat(full, senders_waiting=1)
        self.wait_stat(empty, receivers_waiting=1)
        self.wait_stat(unbuf, senders_waiting=1)
        before = self.ctl.ok("stats")
        for ch in (full, empty, unbuf):
            self.ctl.ok("drop", chan=ch)
        for cl in (a, b, c):
            r = cl.read_reply()
            self.assertIs(r["ok"], False)
            self.assertEqual(r["error"]["code"], "not_found")
        after = self.ctl.ok("stats")
        self.assertEqual(after["channels"], before["channels"] - 3)
        self.assertEqual(after["buffered_values"], before["buffered_values"] - 1)
        for ch in (full, empty, unbuf):
            self.ctl.error("stat", "not_found", chan=ch)
            self.ctl.error("drop", "not_found", chan=ch)
            self.ctl.error("recv", "not_found", chan=ch, timeout_ms=0)
        names = [s["chan"] for s in self.ctl.ok("chans")["chans"]]
        self.assertNotIn(full, names)
        # Made again: a new, empty channel.
        self.assertIs(self.ctl.ok("make", chan=full, cap=2)["created"], True)
        s = self.stat(full)
        self.assertEqual((s["cap"], s["len"], s["sent"], s["closed"]),
                         (2, 0, 0, False))
        self.ctl.error("recv", "timeout", chan=full, timeout_ms=0)

    def test_drop_closed_channel(self):
        chan = self.make(cap=2)
        self.ctl.ok("send", chan=chan, value=1)
        self.ctl.ok("close", chan=chan)
        self.ctl.ok("drop", chan=chan)
        self.ctl.error("stat", "not_found", chan=chan)


class StatTest(ServerTestCase):
    FIELDS = ("chan", "cap", "len", "closed", "leased", "senders_waiting",
              "receivers_waiting", "sent", "received")

    def test_stat_fields(self):
        chan = self.make(cap=7)
        s = self.stat(chan)
        for f in self.FIELDS:
            self.assertIn(f, s)
        self.assertEqual(s["chan"], chan)
        self.assertEqual({f: s[f] for f in self.FIELDS[1:]},
                         {"cap": 7, "len": 0, "closed": False, "leased": 0,
                          "senders_waiting": 0, "receivers_waiting": 0,
                          "sent": 0, "received": 0})
        for f in self.FIELDS[1:]:
            if f != "closed":
                self.assertInt(s[f], f)

    def test_sent_received_count_values(self):
        chan = self.make(cap=10)
        self.ctl.ok("send", chan=chan, values=[1, 2, 3])
        self.ctl.ok("send", chan=chan, value=4)
        self.ctl.error("send", "bad_request", chan=chan, values=[])
        s = self.stat(chan)
        self.assertEqual((s["sent"], s["received"], s["len"]), (4, 0, 4))
        self.ctl.ok("recv", chan=chan, max=3)
        s = self.stat(chan)
        self.assertEqual((s["sent"], s["received"], s["len"]), (4, 3, 1))
        self.ctl.ok("recv", chan=chan)
        self.ctl.error("recv", "timeout", chan=chan, timeout_ms=0)
        s = self.stat(chan)
        self.assertEqual((s["sent"], s["received"], s["len"]), (4, 4, 0))

    def test_chans_prefix_sorted(self):
        base = self.name("pfx") + "."
        for suffix in ("b", "a", "c", "a.z", "B"):
            self.ctl.ok("make", chan=base + suffix, cap=len(suffix))
        self.ctl.ok("make", chan=base[:-1] + "x", cap=0)   # not under prefix
        r = self.ctl.ok("chans", prefix=base)
        names = [s["chan"] for s in r["chans"]]
        self.assertEqual(names, sorted(base + s for s in ("b", "a", "c", "a.z", "B")))
        for s in r["chans"]:
            for f in self.FIELDS:
                self.assertIn(f, s)
            self.assertEqual(s["cap"], len(s["chan"]) - len(base))
        self.ctl.ok("send", chan=base + "a", value=1)
        r = self.ctl.ok("chans", prefix=base + "a")
        self.assertEqual([(s["chan"], s["len"]) for s in r["chans"]],
                         [(base + "a", 1), (base + "a.z", 0)])
        self.assertEqual(self.ctl.ok("chans", prefix="no-such-prefix-")["chans"], [])
        everything = [s["chan"] for s in self.ctl.ok("chans")["chans"]]
        self.assertEqual(everything, sorted(everything))
        self.assertIn(base[:-1] + "x", everything)
        self.assertTrue(set(names) <= set(everything))
        self.assertEqual(
            [s["chan"] for s in self.ctl.ok("chans", prefix="")["chans"]],
            everything)


class AbandonTest(ServerTestCase):

    def test_abandoned_buffered_send_not_applied(self):
        chan = self.make(cap=1)
        self.ctl.ok("send", chan=chan, value="a")
        c = Client(self.server)
        c.request("send", chan=chan, value="b")
        self.wait_stat(chan, senders_waiting=1)
        c.close()
        self.wait_stat(chan, senders_waiting=0)
        self.assertEqual(self.ctl.ok("recv", chan=chan)["value"], "a")
        self.ctl.error("recv", "timeout", chan=chan, timeout_ms=0)
        self.assertEqual(self.stat(chan)["sent"], 1)

    def test_abandoned_unbuffered_send_not_applied(self):
        chan = self.make(cap=0)
        c = Client(self.server, unix=True)
        c.request("send", chan=chan, value="b")
        self.wait_stat(chan, senders_waiting=1)
        c.close()
        self.wait_stat(chan, senders_waiting=0)
        self.ctl.error("recv", "timeout", chan=chan, timeout_ms=0)
        self.assertEqual(self.stat(chan)["sent"], 0)

    def test_abandoned_batch_send_not_applied(self):
        chan = self.make(cap=2)
        self.ctl.ok("send", chan=chan, value=0)
        c = Client(self.server)
        c.request("send", chan=chan, values=[1, 2])
        self.wait_stat(chan, senders_waiting=1)
        c.close()
        self.wait_stat(chan, senders_waiting=0)
        self.assertEqual(self.ctl.ok("recv", chan=chan, max=5)["values"], [0])
        self.ctl.error("recv", "timeout", chan=chan, timeout_ms=0)

    def test_abandoned_buffered_recv_loses_nothing(self):
        chan = self.make(cap=3)
        c = Client(self.server)
        c.request("recv", chan=chan)
        self.wait_stat(chan, receivers_waiting=1)
        c.close()
        self.wait_stat(chan, receivers_waiting=0)
        self.ctl.ok("send", chan=chan, value="kept")
        s = self.stat(chan)
        self.assertEqual((s["len"], s["received"]), (1, 0))
        self.assertEqual(self.ctl.ok("recv", chan=chan)["value"], "kept")

    def test_abandoned_unbuffered_recv_next_receiver_gets_value(self):
        chan = self.make(cap=0)
        gone = Client(self.server)
        gone.request("recv", chan=chan)
        self.wait_stat(chan, receivers_waiting=1)
        stays = self.connect()
        stays.request("recv", chan=chan)
        self.wait_stat(chan, receivers_waiting=2)
        gone.close()
        self.wait_stat(chan, receivers_waiting=1)
        self.ctl.ok("send", chan=chan, value="for the living")
        self.assertEqual(stays.read_reply()["value"], "for the living")
        # And with nobody left, an unbuffered send has no taker.
        self.wait_stat(chan, receivers_waiting=0)
        self.ctl.error("send", "timeout", chan=chan, value="x", timeout_ms=0)

    def test_pipelined_requests_held_behind_blocked_one(self):
        blocker = self.make(cap=1)
        other = self.make(cap=5)
        c = self.connect()
        c.send_frame({"id": 1, "op": "recv", "chan": blocker})
        c.send_frame({"id": 2, "op": "send", "chan": other, "value": "later"})
        c.send_frame({"id": 3, "op": "ping"})
        self.wait_stat(blocker, receivers_waiting=1)
        self.assertNoReply(c)
        self.assertEqual(self.stat(other)["len"], 0, "request ran out of order")
        self.ctl.ok("send", chan=blocker, value="go")
        self.assertEqual(c.read_reply()["value"], "go")
        self.assertEqual(c.read_reply(), {"id": 2, "ok": True})
        self.assertEqual(c.read_reply(), {"id": 3, "ok": True})
        self.assertEqual(self.stat(other)["len"], 1)

    def test_abandoned_connection_backlog_not_run(self):
        blocker = self.make(cap=1)
        other = self.make(cap=5)
        c = Client(self.server)
        c.send_frame({"id": 1, "op": "recv", "chan": blocker})
        c.send_frame({"id": 2, "op": "send", "chan": other, "value": "never"})
        self.wait_stat(blocker, receivers_waiting=1)
        c.close()
        self.wait_stat(blocker, receivers_waiting=0)
        self.ctl.ok("send", chan=blocker, value="still here")
        self.assertEqual(self.stat(blocker)["len"], 1)
        self.assertEqual(self.stat(other)["len"], 0)


class ValueTest(ServerTestCase):

    VALUES = [
        "", "plain", "héllo wörld ✓ 😀 中文", "a\u0000b", "\u0000",
        "quote\" backslash\\ slash/ tab\t nl\n cr\r \u0001\u001f\u007f",
        "\u2028\u2029\ufeff\uffff", "\U0010ffff",
        0, 1, -1, 2**63 - 1, -2**63, 2**53 + 1, 1.5, -0.25, 1e300, -1e-300,
        3.141592653589793, 0.1,
        True, False, None,
        [], {}, [[[]]], {"a": {"b": {"c": [1, "2", None, True]}}},
        [1, "two", 3.5, None, False, {"k": []}],
        {"": "empty key", "ü": "unicode key"},
    ]

    def assertSameJSON(self, got, want):
        self.assertEqual(got, want)
        self.assertEqual(json.dumps(got, sort_keys=True),
                         json.dumps(want, sort_keys=True))  # 1 vs 1.0, True vs 1

    def test_roundtrip_buffered(self):
        chan = self.make(cap=len(self.VALUES))
        for v in self.VALUES:
            with self.subTest(value=v):
                self.ctl.ok("send", chan=chan, value=v)
        for v in self.VALUES:
            with self.subTest(value=v):
                self.assertSameJSON(self.ctl.ok("recv", chan=chan)["value"], v)

    def test_roundtrip_batch_and_max(self):
        chan = self.make(cap=len(self.VALUES))
        self.ctl.ok("send", chan=chan, values=self.VALUES)
        got = []
        while len(got) < len(self.VALUES):
            got += self.ctl.ok("recv", chan=chan, max=len(self.VALUES))["values"]
        self.assertSameJSON(got, self.VALUES)

    def test_roundtrip_unbuffered(self):
        chan = self.make(cap=0)
        r = self.connect()
        for v in self.VALUES:
            with self.subTest(value=v):
                r.request("recv", chan=chan)
                self.wait_stat(chan, receivers_waiting=1)
                self.ctl.ok("send", chan=chan, value=v)
                self.assertSameJSON(r.read_reply()["value"], v)

    def test_value_stored_compact(self):
        chan = self.make(cap=2)
        c = self.connect()
        c.send_raw(('{"id":1, "op" : "send", "chan":"%s", "value" :  { "a" : '
                    '[ 1 , 2 ] }  }\n' % chan).encode())
        self.assertIs(c.read_reply()["ok"], True)
        c.request("recv", chan=chan)
        line, r = c.read_reply_raw()
        self.assertIn(b'"value":{"a":[1,2]}', line)

    def test_strings_stored_as_sent(self):
        # A string is stored as its sender wrote it (PROTOCOL.md 6): its
        # escapes are kept, none is decoded or added.
        chan = self.make(cap=4)
        c = self.connect()
        cases = [
            r'"plain \u00e9\/ \u2713 \u007f"',
            '"raw é ✓"',
            r'"q\" b\\ nl\n \u0001"',
        ]
        for i, sent in enumerate(cases):
            c.send_raw(('{"id":%d,"op":"send","chan":"%s","value":%s}\n'
                        % (i, chan, sent)).encode())
            self.assertIs(c.read_reply()["ok"], True)
        for sent in cases:
            c.request("recv", chan=chan)
            line, r = c.read_reply_raw()
            self.assertIn(b'"value":' + sent.encode() + b'}', line)

    def test_nul_in_object_key(self):
        # PROTOCOL.md: "\u0000" is accepted in strings but not in object
        # keys (the JSON library cannot represent it): bad_request, and
        # nothing is sent.
        chan = self.make(cap=1)
        v = {"a\u0000b": "nul in key"}
        # The frame cannot be parsed, so the reply's id is null.
        self.ctl.send_frame({"id": 1, "op": "send", "chan": chan, "value": v})
        r = self.ctl.read_reply()
        self.assertEqual((r["id"], r["ok"], r["error"]["code"]),
                         (None, False, "bad_request"))
        self.assertEqual(self.stat(chan)["len"], 0)
        self.ctl.ok("send", chan=chan, value={"k": "a\u0000b"})
        self.assertEqual(self.ctl.ok("recv", chan=chan)["value"],
                         {"k": "a\u0000b"})

    def test_null_value_is_a_value(self):
        chan = self.make(cap=1)
        self.ctl.ok("send", chan=chan, value=None)
        self.assertEqual(self.stat(chan)["len"], 1)
        r = self.ctl.ok("recv", chan=chan)
        self.assertIn("value", r)
        self.assertIsNone(r["value"])
        self.assertNotIn("closed", r)


if __name__ == "__main__":
    main()
