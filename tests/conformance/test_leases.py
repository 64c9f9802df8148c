"""At-least-once delivery: PROTOCOL.md 6.3, 6.4 (restart, on a private
server) and 10.5 (ack, nack), and the lease forms of recv (10.4)."""

from harness import (TARGET, Any, Case, Exact, NonEmptyStr, Pos, True_,
                     check_ok, start_server, wait_until)

LEASED = {"value": Any, "lease": NonEmptyStr}
LEASED_AGAIN = dict(LEASED, redelivered=Pos)


class LeaseTest(Case):

    def test_transcript(self):
        work = self.make(cap=10)
        sync = self.make()
        self.c.ok("send", {}, chan=work, values=["a", "b", "c"])
        r3 = self.c.ok("recv", dict(LEASED, value=Exact("a")), chan=work,
                       lease_ms=30000)
        r4 = self.c.ok("recv", dict(LEASED, value=Exact("b")), chan=work,
                       lease_ms=30000)
        s = self.stat(work)
        self.assertEqual((s["len"], s["leased"], s["sent"], s["received"]),
                         (1, 2, 3, 2))
        self.c.ok("ack", {}, chan=work, lease=r3["lease"])
        r = self.c.err("ack", "not_found", chan=work, lease=r3["lease"])
        self.c.ok("nack", {}, chan=work, lease=r4["lease"])
        r9 = self.c.ok("recv", {"values": Exact(["b", "c"]),
                                "leases": [NonEmptyStr],
                                "redelivered": Exact([1, 0])},
                       chan=work, max=5, lease_ms=200)
        self.assertEqual(len(r9["leases"]), 2)
        self.assertEqual(len(set(r9["leases"] + [r3["lease"], r4["lease"]])),
                         4, "lease strings are reused")
        self.wait_stat(work, leased=0, len=2)
        # Each expired value went back to the front, one at a time.
        self.c.ok("recv", {"values": Exact(["c", "b"])}, chan=work, max=5)
        self.c.err("recv", "bad_request", chan=sync, lease_ms=1000)

    def test_single_form_shows_redelivered_only_when_positive(self):
        ch = self.make(cap=2)
        self.api.send(ch, "v")
        r = self.c.ok("recv", LEASED, chan=ch, lease_ms=600000)
        self.c.ok("nack", {}, chan=ch, lease=r["lease"])
        r = self.c.ok("recv", dict(LEASED_AGAIN, redelivered=Exact(1)),
                      chan=ch, lease_ms=600000)
        self.c.ok("nack", {}, chan=ch, lease=r["lease"])
        r = self.c.ok("recv", dict(LEASED_AGAIN, redelivered=Exact(2)),
                      chan=ch, lease_ms=600000)
        self.c.ok("nack", {}, chan=ch, lease=r["lease"])
        # A plain recv never shows it.
        self.c.ok("recv", {"value": Exact("v")}, chan=ch)

    def test_multi_form_without_redelivery_has_no_redelivered(self):
        ch = self.make(cap=3)
        self.api.send_batch(ch, [1, 2])
        r = self.c.ok("recv", {"values": Exact([1, 2]),
                               "leases": [NonEmptyStr]},
                      chan=ch, max=3, lease_ms=600000)
        self.assertEqual(len(r["leases"]), 2)
        for l in r["leases"]:
            self.c.ok("ack", {}, chan=ch, lease=l)

    def test_leased_value_holds_its_slot(self):
        ch = self.make(cap=1)
        self.api.send(ch, "only")
        r = self.c.ok("recv", LEASED, chan=ch, lease_ms=600000)
        s = self.stat(ch)
        self.assertEqual((s["len"], s["leased"]), (0, 1))
        self.c.err("send", "timeout", chan=ch, value="more", timeout_ms=0)
        b = self.conn()
        rid = b.request("send", chan=ch, value="more")
        self.wait_stat(ch, senders_waiting=1)
        self.assertBlocked(b)
        self.c.ok("ack", {}, chan=ch, lease=r["lease"])
        check_ok(b.expect(rid), {})
        self.assertEqual(self.stat(ch)["len"], 1)

    def test_ack_and_nack_from_another_connection(self):
        ch = self.make(cap=2)
        self.api.send_batch(ch, ["x", "y"])
        a = self.conn()
        l1 = a.ok("recv", LEASED, chan=ch, lease_ms=600000)["lease"]
        l2 = a.ok("recv", LEASED, chan=ch, lease_ms=600000)["lease"]
        self.c.ok("nack", {}, chan=ch, lease=l2)
        self.c.ok("ack", {}, chan=ch, lease=l1)
        a.close()
        self.wait_stat(ch, leased=0)
        self.assertEqual(self.api.recv_many(ch, 5), ["y"])

    def test_connection_close_returns_leases_in_reverse(self):
        ch = self.make(cap=4)
        self.api.send_batch(ch, [1, 2, 3])
        a = self.conn()
        a.ok("recv", chan=ch, max=2, lease_ms=600000)
        self.assertEqual(self.stat(ch)["leased"], 2)
        a.close()
        self.wait_stat(ch, leased=0, len=3)
        r = self.c.ok("recv", {"values": Any, "leases": Any,
                               "redelivered": Exact([1, 1, 0])},
                      chan=ch, max=3, lease_ms=600000)
        self.assertEqual(r["values"], [2, 1, 3])
        for l in r["leases"]:
            self.c.ok("ack", {}, chan=ch, lease=l)

    def test_expiry(self):
        ch = self.make(cap=2)
        self.api.send_batch(ch, ["x", "y"])
        r = self.c.ok("recv", LEASED, chan=ch, lease_ms=50)
        self.wait_stat(ch, leased=0, len=2)
        self.c.err("ack", "not_found", chan=ch, lease=r["lease"])
        self.c.err("nack", "not_found", chan=ch, lease=r["lease"])
        self.c.ok("recv", dict(LEASED_AGAIN, value=Exact("x"),
                               redelivered=Exact(1)), chan=ch, lease_ms=60000)

    def test_lease_belongs_to_its_channel(self):
        a, b = self.make(cap=1), self.make(cap=1)
        self.api.send(a, 1)
        lease = self.api.recv_lease(a, 600000)
        self.c.err("ack", "not_found", chan=b, lease=lease.lease)
        self.c.err("nack", "not_found", chan=b, lease=lease.lease)
        self.c.err("ack", "not_found", chan=self.name("missing"),
                   lease=lease.lease)
        self.c.err("ack", "not_found", chan=a, lease="no-such-lease")
        self.c.ok("ack", {}, chan=a, lease=lease.lease)

    def test_ack_nack_fields(self):
        a = self.make(cap=1)
        for fields in ({}, {"chan": a}, {"lease": "x"},
                       {"chan": a, "lease": 5}, {"chan": a, "lease": None},
                       {"chan": "bad name", "lease": "x"},
                       {"chan": a, "lease": ["x"]}):
            for op in ("ack", "nack"):
                self.c.err(op, "bad_request", **fields)

    def test_lease_ms_range(self):
        ch = self.make(cap=1)
        self.api.send(ch, 1)
        self.c.err("recv", "bad_request", chan=ch, lease_ms=0)
        self.c.err("recv", "bad_request", chan=ch, lease_ms=9007199254740992)
        self.c.err("recv", "bad_request", chan=ch, lease_ms=1.5)
        r = self.c.ok("recv", LEASED, chan=ch, lease_ms=9007199254740991)
        self.c.ok("ack", {}, chan=ch, lease=r["lease"])

    def test_lease_on_unbuffered_after_not_found(self):
        self.c.err("recv", "not_found", chan=self.name("missing"),
                   lease_ms=1000)
        u = self.make()
        r = self.c.err("recv", "bad_request", chan=u, lease_ms=1000)
        self.assertIn("lease_ms", r["error"]["message"])

    def test_closed_channel_waits_for_outstanding_leases(self):
        for settle, then in (("nack", {"value": Exact("v"), "lease": Any,
                                       "redelivered": Exact(1)}),
                             ("ack", {"closed": True_})):
            ch = self.make(cap=2)
            self.api.send(ch, "v")
            lease = self.api.recv_lease(ch, 600000)
            self.api.close(ch)
            self.c.err("recv", "timeout", chan=ch, timeout_ms=0)
            b = self.conn()
            rid = b.request("recv", chan=ch, lease_ms=600000)
            self.wait_stat(ch, receivers_waiting=1)
            self.assertBlocked(b, "recv on a closed channel with a lease out")
            getattr(lease, settle)()
            check_ok(b.expect(rid), then)

    def test_drop_ends_leases(self):
        ch = self.make(cap=1)
        self.api.send(ch, 1)
        lease = self.api.recv_lease(ch, 600000)
        self.api.drop(ch)
        self.api.make(ch, 1)
        self.c.err("ack", "not_found", chan=ch, lease=lease.lease)
        self.assertEqual(self.stat(ch)["len"], 0)


class RestartTest(Case):
    """6.4, on a private server restarted on the same database."""

    def start(self, state):
        s = start_server(state_dir=state)
        self.addCleanup(s.check)
        return s

    def test_crash_and_clean_stop(self):
        import tempfile
        state = tempfile.mkdtemp(dir=TARGET.tmp)
        s = self.start(state)
        c = self.conn(addr=s.addr)
        c.ok("make", chan="w", cap=5)
        c.ok("make", chan="x", cap=1)
        c.ok("close", chan="x")
        c.ok("send", chan="w", values=["a", "b", "c"])
        la = c.ok("recv", chan="w", lease_ms=600000)["lease"]
        c.close()  # returns "a" to the front, redelivered 1
        c = self.conn(addr=s.addr)
        wait_until(lambda: c.ok("stat", chan="w")["leased"] == 0)
        lb = c.ok("recv", chan="w", max=2, lease_ms=600000)["leases"]
        s.kill()  # a crash with "a" and "b" out on lease
        s = self.start(state)
        c = self.conn(addr=s.addr)
        st = c.ok("stat", chan="w")
        self.assertEqual((st["cap"], st["len"], st["leased"], st["sent"],
                          st["received"], st["closed"]),
                         (5, 3, 0, 0, 0, False))
        self.assertIs(c.ok("stat", chan="x")["closed"], True)
        for lease in [la] + lb:
            c.err("ack", "not_found", chan="w", lease=lease)
        # After a crash the redelivered counts are not incremented: "a" was
        # returned once before.
        r = c.ok("recv", chan="w", max=5, lease_ms=600000)
        self.assertEqual(r["values"], ["a", "b", "c"])
        self.assertEqual(r.get("redelivered", [0, 0, 0]), [1, 0, 0])
        s.stop()  # a clean stop returns the leases: redelivered + 1
        self.assertEqual(s.returncode, 0)
        s = self.start(state)
        c = self.conn(addr=s.addr)
        r = c.ok("recv", chan="w", max=5, lease_ms=600000)
        # Returned one by one to the front, in the order they were taken:
        # the value leased last is received first.
        self.assertEqual(r["values"], ["c", "b", "a"])
        self.assertEqual(r["redelivered"], [1, 1, 2])
