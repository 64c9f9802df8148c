"""select (SPEC 3 "select", 8; PROTOCOL.md): ready cases, timeouts, waking,
closed channels, missing channels, fairness, clean-up on disconnect."""

from collections import Counter

from jqtest import Client, ServerTestCase, main


class SelectTest(ServerTestCase):

    def test_recv_case_ready(self):
        a, b = self.make(cap=2), self.make(cap=2)
        self.ctl.ok("send", chan=b, value={"from": "b"})
        r = self.ctl.ok("select", cases=[{"recv": a}, {"recv": b}], timeout_ms=0)
        self.assertEqual(r["index"], 1)
        self.assertEqual(r["value"], {"from": "b"})
        self.assertNotIn("closed", r)
        s = self.stat(b)
        self.assertEqual((s["len"], s["received"]), (0, 1))
        # Without timeout_ms, a ready case completes at once too.
        self.ctl.ok("send", chan=a, value=None)
        r = self.ctl.ok("select", cases=[{"recv": a}, {"recv": b}])
        self.assertEqual(r["index"], 0)
        self.assertIn("value", r)
        self.assertIsNone(r["value"])

    def test_send_case_ready(self):
        full, room = self.make(cap=1), self.make(cap=1)
        self.ctl.ok("send", chan=full, value="x")
        r = self.ctl.ok("select", cases=[{"send": full, "value": 1},
                                         {"send": room, "value": [2]}],
                        timeout_ms=0)
        self.assertEqual(r["index"], 1)
        self.assertNotIn("value", r)
        self.assertNotIn("closed", r)
        s = self.stat(room)
        self.assertEqual((s["len"], s["sent"]), (1, 1))
        self.assertEqual(self.stat(full)["len"], 1)
        self.assertEqual(self.ctl.ok("recv", chan=room)["value"], [2])
        self.assertEqual(self.ctl.ok("recv", chan=full)["value"], "x")

    def test_nothing_ready_timeout_zero(self):
        empty, full, unbuf = self.make(cap=1), self.make(cap=1), self.make(cap=0)
        self.ctl.ok("send", chan=full, value="keep")
        cases = [{"recv": empty}, {"send": full, "value": "no"},
                 {"send": unbuf, "value": "no"}, {"recv": unbuf}]
        e = self.ctl.error("select", "timeout", cases=cases, timeout_ms=0)
        self.assertTrue(e["message"])
        self.ctl.error("select", "timeout", cases=cases, timeout_ms=100)
        for ch in (empty, full, unbuf):
            s = self.stat(ch)
            self.assertEqual((s["senders_waiting"], s["receivers_waiting"]), (0, 0))
        s = self.stat(full)
        self.assertEqual((s["len"], s["sent"]), (1, 1))
        self.assertEqual(self.ctl.ok("recv", chan=full)["value"], "keep")
        self.ctl.error("recv", "timeout", chan=unbuf, timeout_ms=0)

    def test_blocking_select_woken_by_one_send(self):
        a, b, c = self.make(cap=2), self.make(cap=2), self.make(cap=0)
        sel = self.connect()
        sel.request("select", cases=[{"recv": a}, {"recv": b}, {"recv": c}])
        for ch in (a, b, c):
            self.wait_stat(ch, receivers_waiting=1)
        self.assertNoReply(sel)
        self.ctl.ok("send", chan=b, value="wake")
        r = sel.read_reply()
        self.assertEqual((r["index"], r["value"]), (1, "wake"))
        # Exactly one case proceeded: no leftover waiter on the others.
        for ch in (a, b, c):
            self.wait_stat(ch, receivers_waiting=0)
        self.ctl.ok("send", chan=a, value="stays")
        self.assertEqual(self.stat(a)["len"], 1)
        self.ctl.error("send", "timeout", chan=c, value="none", timeout_ms=0)
        self.assertEqual(self.stat(b)["len"], 0)

    def test_blocking_select_with_timeout_woken(self):
        a = self.make(cap=0)
        sel = self.connect()
        sel.request("select", cases=[{"recv": a}], timeout_ms=60000)
        self.wait_stat(a, receivers_waiting=1)
        self.ctl.ok("send", chan=a, value=5)
        self.assertEqual(sel.read_reply()["value"], 5)

    def test_send_case_completes_waiting_receiver(self):
        empty, u = self.make(cap=1), self.make(cap=0)
        rcv = self.connect()
        rcv.request("recv", chan=u)
        self.wait_stat(u, receivers_waiting=1)
        r = self.ctl.ok("select", cases=[{"recv": empty},
                                         {"send": u, "value": {"v": 1}}],
                        timeout_ms=0)
        self.assertEqual(r["index"], 1)
        self.assertEqual(rcv.read_reply()["value"], {"v": 1})
        self.assertEqual(self.stat(u)["sent"], 1)

    def test_blocked_send_case_completes_on_recv(self):
        empty, u = self.make(cap=1), self.make(cap=0)
        sel = self.connect()
        sel.request("select", cases=[{"recv": empty},
                                     {"send": u, "value": "handoff"}])
        self.wait_stat(u, senders_waiting=1)
        self.wait_stat(empty, receivers_waiting=1)
        self.assertNoReply(sel)
        self.assertEqual(self.ctl.ok("recv", chan=u)["value"], "handoff")
        r = sel.read_reply()
        self.assertEqual(r["index"], 1)
        self.assertNotIn("value", r)
        self.wait_stat(empty, receivers_waiting=0)
        self.ctl.ok("send", chan=empty, value="not taken")
        self.assertEqual(self.stat(empty)["len"], 1)

    def test_blocked_send_case_on_full_buffer(self):
        full = self.make(cap=1)
        self.ctl.ok("send", chan=full, value="old")
        sel = self.connect()
        sel.request("select", cases=[{"send": full, "value": "new"}])
        self.wait_stat(full, senders_waiting=1)
        self.assertEqual(self.ctl.ok("recv", chan=full)["value"], "old")
        self.assertEqual(sel.read_reply()["index"], 0)
        self.assertEqual(self.ctl.ok("recv", chan=full)["value"], "new")

    def test_recv_case_with_waiting_unbuffered_sender(self):
        u = self.make(cap=0)
        snd = self.connect()
        snd.request("send", chan=u, value="pending")
        self.wait_stat(u, senders_waiting=1)
        r = self.ctl.ok("select", cases=[{"recv": u}], timeout_ms=0)
        self.assertEqual((r["index"], r["value"]), (0, "pending"))
        self.assertIs(snd.read_reply()["ok"], True)

    def test_closed_recv_case(self):
        empty, closed = self.make(cap=1), self.make(cap=1)
        self.ctl.ok("send", chan=closed, value="last")
        self.ctl.ok("close", chan=closed)
        r = self.ctl.ok("select", cases=[{"recv": empty}, {"recv": closed}],
                        timeout_ms=0)
        self.assertEqual((r["index"], r["value"]), (1, "last"))
        r = self.ctl.ok("select", cases=[{"recv": empty}, {"recv": closed}],
                        timeout_ms=0)
        self.assertEqual(r["index"], 1)
        self.assertIs(r["closed"], True)
        self.assertNotIn("value", r)

    def test_close_wakes_blocked_select(self):
        a, b = self.make(cap=1), self.make(cap=0)
        sel = self.connect()
        sel.request("select", cases=[{"recv": a}, {"recv": b}])
        self.wait_stat(b, receivers_waiting=1)
        self.ctl.ok("close", chan=b)
        r = sel.read_reply()
        self.assertEqual(r["index"], 1)
        self.assertIs(r["closed"], True)
        self.wait_stat(a, receivers_waiting=0)

    def test_send_case_on_closed_channel(self):
        empty, closed = self.make(cap=1), self.make(cap=1)
        self.ctl.ok("close", chan=closed)
        e = self.ctl.error("select", "closed",
                           cases=[{"recv": empty}, {"send": closed, "value": 1}],
                           timeout_ms=0)
        self.assertEqual(e["index"], 1)
        self.assertInt(e["index"])
        # Ready even without timeout_ms (it must not wait).
        e = self.ctl.error("select", "closed",
                           cases=[{"send": closed, "value": 1}, {"recv": empty}])
        self.assertEqual(e["index"], 0)

    def test_close_fails_blocked_send_case(self):
        full = self.make(cap=1)
        self.ctl.ok("send", chan=full, value=0)
        other = self.make(cap=1)
        sel = self.connect()
        sel.request("select", cases=[{"recv": other},
                                     {"send": full, "value": 1}])
        self.wait_stat(full, senders_waiting=1)
        self.ctl.ok("close", chan=full)
        r = sel.read_reply()
        self.assertIs(r["ok"], False)
        self.assertEqual(r["error"]["code"], "closed")
        self.assertEqual(r["error"]["index"], 1)
        self.assertEqual(self.ctl.ok("recv", chan=full)["value"], 0)

    def test_missing_channel_not_found_before_waiting(self):
        ready = self.make(cap=1)
        self.ctl.ok("send", chan=ready, value="untouched")
        missing = self.name("missing")
        for cases in ([{"recv": ready}, {"recv": missing}],
                      [{"recv": missing}, {"recv": ready}],
                      [{"recv": ready}, {"send": missing, "value": 1}]):
            with self.subTest(cases=cases):
                self.ctl.error("select", "not_found", cases=cases)
                self.ctl.error("select", "not_found", cases=cases, timeout_ms=0)
        s = self.stat(ready)
        self.assertEqual((s["len"], s["received"], s["receivers_waiting"]),
                         (1, 0, 0))

    def test_drop_fails_blocked_select(self):
        a, b = self.make(cap=1), self.make(cap=1)
        sel = self.connect()
        sel.request("select", cases=[{"recv": a}, {"recv": b}])
        self.wait_stat(a, receivers_waiting=1)
        self.ctl.ok("drop", chan=a)
        r = sel.read_reply()
        self.assertEqual(r["error"]["code"], "not_found")
        self.wait_stat(b, receivers_waiting=0)

    def test_same_channel_in_several_cases(self):
        a = self.make(cap=3)
        self.ctl.ok("send", chan=a, values=["x", "y"])
        r = self.ctl.ok("select", cases=[{"recv": a}, {"recv": a}], timeout_ms=0)
        self.assertIn(r["index"], (0, 1))
        self.assertEqual(r["value"], "x")
        self.assertEqual(self.stat(a)["len"], 1)
        r = self.ctl.ok("select", cases=[{"send": a, "value": "z"}, {"recv": a}],
                        timeout_ms=0)
        self.assertIn(r["index"], (0, 1))
        self.assertEqual(self.stat(a)["len"], 2 if r["index"] == 0 else 0)

    def test_select_64_cases(self):
        chans = [self.make(cap=1) for _ in range(4)]
        cases = [{"recv": chans[i % 4]} for i in range(64)]
        self.ctl.error("select", "timeout", cases=cases, timeout_ms=0)
        self.ctl.error("select", "limit", cases=cases + [{"recv": chans[0]}],
                       timeout_ms=0)
        self.ctl.ok("send", chan=chans[3], value="last")
        r = self.ctl.ok("select", cases=cases, timeout_ms=0)
        self.assertEqual(r["index"] % 4, 3)
        self.assertEqual(r["value"], "last")

    def test_blocked_select_cleaned_up_on_close(self):
        a, b, full = self.make(cap=2), self.make(cap=0), self.make(cap=1)
        self.ctl.ok("send", chan=full, value="orig")
        c = Client(self.server)
        c.request("select", cases=[{"recv": a}, {"recv": b},
                                   {"send": full, "value": "abandoned"}])
        self.wait_stat(a, receivers_waiting=1)
        self.wait_stat(b, receivers_waiting=1)
        self.wait_stat(full, senders_waiting=1)
        c.close()
        self.wait_stat(a, receivers_waiting=0)
        self.wait_stat(b, receivers_waiting=0)
        self.wait_stat(full, senders_waiting=0)
        self.ctl.ok("send", chan=a, value="kept")
        self.assertEqual(self.stat(a)["len"], 1)
        self.ctl.error("send", "timeout", chan=b, value=1, timeout_ms=0)
        self.assertEqual(self.ctl.ok("recv", chan=full)["value"], "orig")
        self.ctl.error("recv", "timeout", chan=full, timeout_ms=0)

    def test_waiting_select_and_recv_fifo(self):
        # A select and a plain recv waiting on the same channel are served
        # in arrival order.
        a = self.make(cap=1)
        sel, rcv = self.connect(), self.connect()
        sel.request("select", cases=[{"recv": a}])
        self.wait_stat(a, receivers_waiting=1)
        rcv.request("recv", chan=a)
        self.wait_stat(a, receivers_waiting=2)
        self.ctl.ok("send", chan=a, value=1)
        self.assertEqual(sel.read_reply()["value"], 1)
        self.assertNoReply(rcv)
        self.ctl.ok("send", chan=a, value=2)
        self.assertEqual(rcv.read_reply()["value"], 2)


class FairnessTest(ServerTestCase):

    N = 2000

    def run_selects(self, cases):
        c = self.connect()
        frames = [{"id": i, "op": "select", "cases": cases, "timeout_ms": 0}
                  for i in range(self.N)]
        replies = c.pipeline(frames)
        self.assertEqual([r["id"] for r in replies], list(range(self.N)))
        for r in replies:
            self.assertIs(r["ok"], True, r)
        return replies

    def preload(self, k):
        chans = [self.make(cap=self.N, tag="fair") for _ in range(k)]
        for ch in chans:
            self.ctl.ok("send", chan=ch, values=list(range(self.N)))
        return chans

    def test_two_ready_recv_cases(self):
        chans = self.preload(2)
        replies = self.run_selects([{"recv": ch} for ch in chans])
        counts = Counter(r["index"] for r in replies)
        self.assertEqual(set(counts), {0, 1})
        for i in (0, 1):
            self.assertGreaterEqual(counts[i], 0.35 * self.N, counts)
            self.assertLessEqual(counts[i], 0.65 * self.N, counts)
        # Values from each channel still come out in order.
        for i in (0, 1):
            got = [r["value"] for r in replies if r["index"] == i]
            self.assertEqual(got, list(range(len(got))))

    def test_four_ready_recv_cases(self):
        chans = self.preload(4)
        replies = self.run_selects([{"recv": ch} for ch in chans])
        counts = Counter(r["index"] for r in replies)
        for i in range(4):
            self.assertGreaterEqual(counts[i], 0.15 * self.N, counts)
            self.assertLessEqual(counts[i], 0.35 * self.N, counts)

    def test_ready_send_and_recv_cases(self):
        src, = self.preload(1)
        dst = self.make(cap=self.N, tag="fair")
        replies = self.run_selects([{"recv": src}, {"send": dst, "value": "s"}])
        counts = Counter(r["index"] for r in replies)
        for i in (0, 1):
            self.assertGreaterEqual(counts[i], 0.35 * self.N, counts)
            self.assertLessEqual(counts[i], 0.65 * self.N, counts)
        self.assertEqual(self.stat(dst)["len"], counts[1])
        self.assertEqual(self.stat(src)["len"], self.N - counts[0])

    def test_not_first_ready_always(self):
        # Case 0 empty, cases 1 and 2 ready: both ready ones get chosen.
        empty = self.make(cap=1)
        chans = self.preload(2)
        replies = self.run_selects([{"recv": empty}] + [{"recv": c} for c in chans])
        counts = Counter(r["index"] for r in replies)
        self.assertEqual(counts[0], 0)
        self.assertGreaterEqual(counts[1], 0.35 * self.N, counts)
        self.assertGreaterEqual(counts[2], 0.35 * self.N, counts)


if __name__ == "__main__":
    main()
