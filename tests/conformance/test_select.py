"""select: PROTOCOL.md section 10.10."""

from harness import (TARGET, VALUE_OVERHEAD, Any, Case, Exact, NonNeg, True_,
                     check_err, check_ok, start_server)


class SelectTest(Case):

    def test_transcript(self):
        hi, lo, quit = self.make(cap=1), self.make(cap=1), self.make()
        self.api.send(lo, "job-1")
        r = self.c.ok("select", {"index": Exact(1), "value": Exact("job-1")},
                      cases=[{"recv": hi}, {"recv": lo}])
        self.c.err("select", "timeout", cases=[{"recv": hi}, {"recv": lo}],
                   timeout_ms=0)
        self.c.ok("select", {"index": Exact(0)},
                  cases=[{"send": hi, "value": "job-2"}, {"recv": lo}])
        self.assertEqual(self.api.recv(hi), "job-2")
        b = self.conn()
        rid = b.request("select", cases=[{"recv": lo}, {"recv": quit}],
                        timeout_ms=30000)
        self.wait_stat(quit, receivers_waiting=1)
        self.c.ok("send", {}, chan=quit, value=True)
        check_ok(b.expect(rid), {"index": Exact(1), "value": Exact(True)})
        self.c.err("select", "timeout", cases=[{"recv": lo}, {"recv": quit}],
                   timeout_ms=100)
        missing = self.name("nosuch")
        self.c.err("select", "not_found", {"index": Exact(1)},
                   cases=[{"recv": lo}, {"recv": missing}])
        self.api.close(lo)
        self.c.ok("select", {"index": Exact(1), "closed": True_},
                  cases=[{"recv": quit}, {"recv": lo}])
        self.c.err("select", "closed", {"index": Exact(1)},
                   cases=[{"recv": quit}, {"send": lo, "value": 1}])

    def test_send_case_null_value_and_unknown_members(self):
        a = self.make(cap=2)
        self.c.ok("select", {"index": Exact(0)},
                  cases=[{"send": a, "value": None, "extra": 1}])
        self.c.ok("select", {"index": Exact(0), "value": Exact(None)},
                  cases=[{"recv": a, "note": "x"}])

    def test_case_shapes(self):
        a = self.make(cap=1)
        bad_cases = [
            None, 5, "x", [], {"cases": 1},
            [5], [[a]], [{}], [{"recv": a, "send": a, "value": 1}],
            [{"recv": 5}], [{"recv": "bad name"}], [{"send": a}],
            [{"send": "bad name", "value": 1}], [{"recv": None}],
            [{"recv": a}, {"send": a}],
        ]
        for cases in bad_cases:
            r = self.c.err("select", "bad_request", cases=cases)
            self.assertIn("cases", r["error"]["message"], cases)
        self.c.err("select", "bad_request")
        self.assertEqual(self.stat(a)["len"], 0)

    def test_max_select_cases(self):
        a = self.make(cap=1)
        self.api.send(a, 1)
        n = TARGET.max_select_cases
        self.c.ok("select", {"index": NonNeg, "value": Exact(1)},
                  cases=[{"recv": a}] * n)
        self.c.err("select", "limit", cases=[{"recv": a}] * (n + 1))
        # limit is checked before the other fields.
        self.c.err("select", "limit", cases=[{"recv": a}] * (n + 1),
                   timeout_ms=-1)
        self.c.err("select", "limit", cases=[{"bogus": 1}] * (n + 1))

    def test_check_order(self):
        a = self.make(cap=1)
        missing = self.name("missing")
        big = "x" * TARGET.max_value
        self.c.err("select", "bad_request",
                   cases=[{"recv": missing}, {"send": a, "value": big}],
                   timeout_ms="x")
        r = self.c.err("select", "too_large",
                       cases=[{"recv": missing}, {"send": a, "value": big}])
        self.assertIn("cases[1]", r["error"]["message"])
        self.c.err("select", "not_found", {"index": Exact(1)},
                   cases=[{"recv": a}, {"recv": missing},
                          {"send": missing + "x", "value": 1}])
        # not_found comes before any waiting and even when a case is ready.
        self.api.send(a, 1)
        self.c.err("select", "not_found", {"index": Exact(1)},
                   cases=[{"recv": a}, {"recv": missing}], timeout_ms=0)
        self.assertEqual(self.stat(a)["len"], 1)

    def test_check_order_bad_case_before_too_large(self):
        # 10.10: every bad_request of the cases comes before too_large,
        # whichever case is first.
        a = self.make(cap=1)
        big = "x" * TARGET.max_value
        self.c.err("select", "bad_request",
                   cases=[{"send": a, "value": big}, {"recv": "bad name"}])

    def test_uniform_choice_among_ready(self):
        a, b = self.make(cap=200), self.make(cap=200)
        self.api.send_batch(a, list(range(150)))
        self.api.send_batch(b, list(range(150)))
        picks = [0, 0]
        for _ in range(200):
            r = self.c.ok("select", {"index": NonNeg, "value": Any},
                          cases=[{"recv": a}, {"recv": b}])
            picks[r["index"]] += 1
        # Binomial(200, 0.5): below 60 has probability about 1e-8.
        self.assertGreater(min(picks), 60, "choice not uniform: %r" % picks)

    def test_blocks_until_one_proceeds(self):
        a, b = self.make(), self.make(cap=1)
        self.api.send(b, "fill")
        w = self.conn()
        rid = w.request("select", cases=[{"recv": a},
                                         {"send": b, "value": 9}])
        self.wait_stat(a, receivers_waiting=1)
        self.assertEqual(self.stat(b)["senders_waiting"], 1)
        self.assertBlocked(w)
        self.assertEqual(self.api.recv(b), "fill")  # room: the send proceeds
        check_ok(w.expect(rid), {"index": Exact(1)})
        self.assertEqual(self.api.recv(b, timeout_ms=0), 9)
        self.wait_stat(a, receivers_waiting=0)

    def test_waiting_select_counts_and_exactly_one_proceeds(self):
        a, b = self.make(), self.make()
        w = self.conn()
        rid = w.request("select", cases=[{"recv": a}, {"recv": b},
                                         {"send": b, "value": "s"}])
        self.wait_stat(a, receivers_waiting=1)
        s = self.stat(b)
        self.assertEqual((s["receivers_waiting"], s["senders_waiting"]),
                         (1, 1))
        self.assertEqual(self.api.recv(b, timeout_ms=30000), "s")
        check_ok(w.expect(rid), {"index": Exact(2)})
        self.wait_stat(a, receivers_waiting=0)
        self.wait_stat(b, receivers_waiting=0, senders_waiting=0)
        self.c.err("send", "timeout", chan=a, value=1, timeout_ms=0)

    def test_never_pairs_with_itself(self):
        u = self.make()
        self.c.err("select", "timeout",
                   cases=[{"send": u, "value": 1}, {"recv": u}],
                   timeout_ms=100)

    def test_send_case_on_closed_channel_is_ready(self):
        a, b = self.make(), self.make(cap=1)
        self.api.close(b)
        self.c.err("select", "closed", {"index": Exact(1)},
                   cases=[{"recv": a}, {"send": b, "value": 1}],
                   timeout_ms=0)

    def test_closed_while_waiting(self):
        a, b = self.make(), self.make()
        w = self.conn()
        rid = w.request("select", cases=[{"recv": a}, {"send": b, "value": 1}])
        self.wait_stat(b, senders_waiting=1)
        self.api.close(b)
        check_err(w.expect(rid), "closed", {"index": Exact(1)})
        w2 = self.conn()
        rid = w2.request("select", cases=[{"recv": a}, {"recv": a}])
        self.wait_stat(a, receivers_waiting=2)
        self.api.close(a)
        r = check_ok(w2.expect(rid), {"index": NonNeg, "closed": True_})
        self.assertIn(r["index"], (0, 1))

    def test_dropped_while_waiting(self):
        a, b = self.make(), self.make()
        w = self.conn()
        rid = w.request("select", cases=[{"recv": a}, {"recv": b}])
        self.wait_stat(b, receivers_waiting=1)
        self.api.drop(b)
        check_err(w.expect(rid), "not_found", {"index": Exact(1)})
        self.wait_stat(a, receivers_waiting=0)

    def test_unbuffered_rendezvous(self):
        u = self.make()
        w = self.conn()
        rid = w.request("select", cases=[{"send": u, "value": {"k": 1}}])
        self.wait_stat(u, senders_waiting=1)
        self.c.ok("select", {"index": Exact(0), "value": Exact({"k": 1})},
                  cases=[{"recv": u}])
        check_ok(w.expect(rid), {"index": Exact(0)})
        s = self.stat(u)
        self.assertEqual((s["sent"], s["received"]), (1, 1))

    def test_timeout_field(self):
        a = self.make()
        for tmo in (-1, 1.5, "5", 9007199254740992):
            r = self.c.err("select", "bad_request", cases=[{"recv": a}],
                           timeout_ms=tmo)
            self.assertIn("timeout_ms", r["error"]["message"])

    def test_recv_case_waits_for_leases_on_closed_channel(self):
        a = self.make(cap=1)
        self.api.send(a, "v")
        lease = self.api.recv_lease(a, 600000)
        self.api.close(a)
        self.c.err("select", "timeout", cases=[{"recv": a}], timeout_ms=0)
        lease.ack()
        self.c.ok("select", {"index": Exact(0), "closed": True_},
                  cases=[{"recv": a}])

    def test_max_buffered_bytes_fails_the_whole_select(self):
        # Room for 100 bytes in two values (each counts VALUE_OVERHEAD).
        s = start_server("--max-buffered-bytes", 100 + 2 * VALUE_OVERHEAD)
        self.addCleanup(s.check)
        c = self.conn(addr=s.addr)
        c.ok("make", chan="big", cap=4)
        c.ok("make", chan="ready", cap=4)
        c.ok("send", chan="ready", value="x" * 50)  # 52 bytes buffered
        # Case 1 would go over the limit: limit with its index, although
        # case 0 is ready, and nothing is taken.
        c.err("select", "limit", {"index": Exact(1)},
              cases=[{"recv": "ready"}, {"send": "big", "value": "y" * 50}])
        self.assertEqual(c.ok("stat", chan="ready")["len"], 1)
        c.ok("select", {"index": Exact(0)},
             cases=[{"send": "big", "value": "y" * 40}])
