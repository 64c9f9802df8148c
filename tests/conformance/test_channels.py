"""Channel ops: PROTOCOL.md section 10.1-10.4 and 10.6-10.9 (make, send,
batch send, recv, close, drop, stat, chans), channel semantics, the
channel limits of section 8 and storage failures (6.1, `internal`)."""

import os
import resource

from harness import (LEASE_OVERHEAD, STAT, TARGET, VALUE_OVERHEAD, Any, Case,
                     Exact, True_, check_err, check_ok, sqlite_only,
                     start_server, wait_until)


class MakeTest(Case):

    def test_transcript(self):
        name = self.track(self.name())
        r = self.c.ok("make", {"created": Exact(True)}, chan=name, cap=100)
        r = self.c.ok("make", {"created": Exact(False)}, chan=name, cap=100)
        r = self.c.err("make", "exists", chan=name, cap=5)
        self.assertIn("100", r["error"]["message"], "the message gives the cap")
        self.assertEqual(self.stat(name)["cap"], 100)

    def test_default_cap_is_zero(self):
        name = self.track(self.name())
        self.c.ok("make", {"created": Exact(True)}, chan=name)
        self.assertEqual(self.stat(name)["cap"], 0)
        self.c.ok("make", {"created": Exact(False)}, chan=name, cap=0)
        self.c.ok("make", {"created": Exact(False)}, chan=name, cap=None)
        self.c.err("make", "exists", chan=name, cap=1)

    def test_closed_channel_stays_closed(self):
        ch = self.make(cap=2)
        self.api.close(ch)
        self.c.ok("make", {"created": Exact(False)}, chan=ch, cap=2)
        self.assertIs(self.stat(ch)["closed"], True)

    def test_names(self):
        p = TARGET.prefix + "-"
        for name in (p + "A", (p + "a" * 128)[:128], p + "azAZ09._:-"):
            self.track(name)
            self.c.ok("make", {"created": Exact(True)}, chan=name)
        # Case-sensitive.
        self.track(p + "CASE")
        self.track(p + "case")
        self.c.ok("make", {"created": Exact(True)}, chan=p + "CASE", cap=1)
        self.c.ok("make", {"created": Exact(True)}, chan=p + "case", cap=2)
        for bad in ("", "x" * 129, "no spaces", "sl/ash", "\u00e9", "a\nb",
                    "star*", "q?", 5, None, ["a"], {"a": 1}, True):
            r = self.c.err("make", "bad_request", chan=bad)
            self.assertIn("chan", r["error"]["message"])
        self.c.err("make", "bad_request")

    def test_cap_range(self):
        name = self.name()
        for cap in (-1, 2147483648, 1.5, "1", True, [], {}):
            r = self.c.err("make", "bad_request", chan=name, cap=cap)
            self.assertIn("cap", r["error"]["message"])
        self.c.err("stat", "not_found", chan=name)
        self.track(name)
        self.c.ok("make", {"created": Exact(True)}, chan=name, cap=2147483647)


class SendTest(Case):

    def test_transcript(self):
        small = self.make(cap=2)
        sync = self.make()
        self.c.ok("send", {}, chan=small, value={"task": "resize", "w": 640})
        self.c.ok("send", {}, chan=small, value="second")
        self.c.err("send", "timeout", chan=small, value="third", timeout_ms=0)
        self.c.err("send", "timeout", chan=small, value="third", timeout_ms=50)
        missing = self.name("missing")
        self.c.err("send", "not_found", chan=missing, value=1)
        self.c.err("send", "timeout", chan=sync, value=1, timeout_ms=0)
        s = self.stat(small)
        self.assertEqual((s["len"], s["sent"]), (2, 2))

    def test_null_value_and_value_shapes(self):
        ch = self.make(cap=4)
        self.c.ok("send", {}, chan=ch, value=None)
        self.c.ok("send", {}, chan=ch, value=1, values=None)
        r = self.c.err("send", "bad_request", chan=ch)
        self.assertIn("value", r["error"]["message"])
        self.c.err("send", "bad_request", chan=ch, value=0, values=[1])
        self.c.err("send", "bad_request", chan=ch, value=None, values=[1])
        self.c.err("send", "bad_request", chan=ch, values=[])
        self.c.err("send", "bad_request", chan=ch, values=5)
        self.c.err("send", "bad_request", chan=ch, values={"a": 1})
        self.c.err("send", "bad_request", value=1)
        self.c.err("send", "bad_request", chan="bad name", value=1)
        self.assertEqual(self.api.recv_many(ch, 5), [None, 1])

    def test_too_large_boundary(self):
        ch = self.make(cap=3)
        mv = TARGET.max_value
        r = self.c.err("send", "too_large", chan=ch, value="x" * (mv - 1))
        self.assertIn("value", r["error"]["message"])
        r = self.c.err("send", "too_large", chan=ch, values=[1, "x" * (mv - 1)])
        self.assertIn("values[1]", r["error"]["message"])
        self.c.ok("send", {}, chan=ch, value="x" * (mv - 2))
        # The size is that of the text kept (whitespace outside strings
        # removed), not of the frame's text.
        self.c.write(b'{"id":1,"op":"send","chan":"%s","value":[ "%s" ]}\n'
                     % (ch.encode(), b"y" * (mv - 4)))
        check_ok(self.c.expect(1))
        self.c.write(b'{"id":2,"op":"send","chan":"%s","value":[ "%s" ]}\n'
                     % (ch.encode(), b"y" * (mv - 3)))
        check_err(self.c.expect(2), "too_large")
        s = self.stat(ch)
        self.assertEqual((s["len"], s["sent"]), (2, 2))

    def test_too_large_before_not_found(self):
        self.c.err("send", "too_large", chan=self.name("missing"),
                   value="x" * TARGET.max_value)

    def test_send_to_closed(self):
        ch = self.make(cap=2)
        self.api.close(ch)
        self.c.err("send", "closed", chan=ch, value=1)
        self.c.err("send", "closed", chan=ch, value=1, timeout_ms=0)
        self.c.err("send", "closed", chan=ch, values=[1])
        u = self.make()
        self.api.close(u)
        self.c.err("send", "closed", chan=u, value=1, timeout_ms=0)

    def test_blocked_sender_fails_on_close_and_drop(self):
        for how, code in (("close", "closed"), ("drop", "not_found")):
            ch = self.make(cap=1)
            self.api.send(ch, "full")
            b = self.conn()
            b.request("send", chan=ch, value="waits")
            self.wait_stat(ch, senders_waiting=1)
            self.assertBlocked(b)
            getattr(self.api, how)(ch)
            check_err(b.reply(), code, what="send blocked, then " + how)

    def test_unbuffered_send_with_waiting_receiver(self):
        ch = self.make()
        b = self.conn()
        rid = b.request("recv", chan=ch, timeout_ms=30000)
        self.wait_stat(ch, receivers_waiting=1)
        self.c.ok("send", {}, chan=ch, value={"n": 1}, timeout_ms=0)
        self.assertEqual(check_ok(b.expect(rid), {"value": Any})["value"],
                         {"n": 1})
        s = self.stat(ch)
        self.assertEqual((s["len"], s["sent"], s["received"]), (0, 1, 1))

    def test_unbuffered_send_waits_for_receiver(self):
        ch = self.make()
        b = self.conn()
        rid = b.request("send", chan=ch, value={"n": 2})
        self.wait_stat(ch, senders_waiting=1)
        self.assertBlocked(b)
        self.assertEqual(self.stat(ch)["len"], 0)
        r = self.c.ok("recv", {"value": Any}, chan=ch)
        self.assertEqual(r["value"], {"n": 2})
        check_ok(b.expect(rid), {})

    def test_blocked_senders_are_fifo(self):
        ch = self.make(cap=1)
        self.api.send(ch, 0)
        senders = []
        for i in (1, 2, 3):
            b = self.conn()
            b.request("send", chan=ch, value=i)
            self.wait_stat(ch, senders_waiting=i)
            senders.append(b)
        got = [self.api.recv(ch, timeout_ms=30000) for _ in range(4)]
        self.assertEqual(got, [0, 1, 2, 3])
        for b in senders:
            check_ok(b.reply(), {})

    def test_send_never_overtakes_a_blocked_one(self):
        ch = self.make(cap=2)
        self.api.send_batch(ch, ["a", "b"])
        b = self.conn()
        b.request("send", chan=ch, values=["c", "d"])  # needs 2 slots
        self.wait_stat(ch, senders_waiting=1)
        self.assertEqual(self.api.recv(ch), "a")  # 1 slot free now
        r = self.c.err("send", "timeout", chan=ch, value="e", timeout_ms=0)
        self.assertEqual(self.stat(ch)["len"], 1)
        self.assertEqual(self.api.recv(ch), "b")
        check_ok(b.reply(), {})
        self.assertEqual(self.api.recv_many(ch, 5), ["c", "d"])

    def test_send_timeout_changes_nothing(self):
        ch = self.make(cap=1)
        self.api.send(ch, 1)
        self.c.err("send", "timeout", chan=ch, value=2, timeout_ms=30)
        s = self.stat(ch)
        self.assertEqual((s["len"], s["sent"], s["senders_waiting"]),
                         (1, 1, 0))


class BatchTest(Case):

    def test_transcript(self):
        ch = self.make(cap=3)
        sync = self.make()
        r = self.c.err("send", "bad_request", chan=ch, values=[1, 2, 3, 4])
        self.assertIn("values", r["error"]["message"])
        self.c.ok("send", {}, chan=ch, values=[1, 2])
        self.c.err("send", "timeout", chan=ch, values=[3, 4], timeout_ms=0)
        self.c.err("send", "bad_request", chan=sync, values=[1])
        self.c.err("send", "bad_request", chan=ch, value=0, values=[1])
        s = self.stat(ch)
        self.assertEqual((s["len"], s["sent"]), (2, 2))

    def test_batch_rules_checked_after_not_found(self):
        missing = self.name("missing")
        self.c.err("send", "not_found", chan=missing, values=list(range(10)))

    def test_all_or_nothing_in_order(self):
        ch = self.make(cap=2)
        self.api.send_batch(ch, [0, 1])
        b = self.conn()
        b.request("send", chan=ch, values=["x", "y"])
        self.wait_stat(ch, senders_waiting=1, len=2)
        self.assertEqual(self.api.recv(ch), 0)
        self.assertBlocked(b, "batch with room for 1 of 2")
        self.assertEqual(self.stat(ch)["len"], 1)
        self.assertEqual(self.api.recv(ch), 1)
        check_ok(b.reply(), {})
        self.assertEqual(self.api.recv_many(ch, 3), ["x", "y"])
        self.assertEqual(self.stat(ch)["sent"], 4, "each batch value counts")


class RecvTest(Case):

    def test_transcript(self):
        small = self.make(cap=2)
        batch = self.make(cap=3)
        self.api.send(small, {"task": "resize", "w": 640})
        self.api.send(small, "second")
        self.api.send_batch(batch, [1, 2])
        r = self.c.ok("recv", {"value": Any}, chan=small)
        self.assertEqual(r["value"], {"task": "resize", "w": 640})
        r = self.c.ok("recv", {"values": [Any]}, chan=batch, max=10)
        self.assertEqual(r["values"], [1, 2])
        r = self.c.ok("recv", {"values": [Any]}, chan=small, max=10)
        self.assertEqual(r["values"], ["second"])
        self.c.err("recv", "timeout", chan=small, timeout_ms=0)
        self.c.err("recv", "timeout", chan=small, timeout_ms=50)

    def test_null_value(self):
        ch = self.make(cap=1)
        self.api.send(ch, None)
        r = self.c.ok("recv", {"value": Exact(None)}, chan=ch)
        self.assertIn("value", r)

    def test_max_one_is_multi_form(self):
        ch = self.make(cap=2)
        self.api.send_batch(ch, [7, 8])
        r = self.c.ok("recv", {"values": [Any]}, chan=ch, max=1)
        self.assertEqual(r["values"], [7])

    def test_fields(self):
        ch = self.make(cap=1)
        for fields in ({"max": 0}, {"max": -1}, {"max": "10"}, {"max": 1.0},
                       {"max": 2147483648}, {"lease_ms": 0},
                       {"lease_ms": -5}, {"lease_ms": 9007199254740992},
                       {"lease_ms": "1"}, {"timeout_ms": -1}):
            r = self.c.err("recv", "bad_request", chan=ch, **fields)
            self.assertIn(list(fields)[0], r["error"]["message"])
        self.c.err("recv", "bad_request")
        self.c.err("recv", "bad_request", chan="")
        self.c.err("recv", "not_found", chan=self.name("missing"))

    def test_multi_waits_for_first_then_takes_what_is_there(self):
        ch = self.make(cap=5)
        b = self.conn()
        rid = b.request("recv", chan=ch, max=5)
        self.wait_stat(ch, receivers_waiting=1)
        self.assertBlocked(b)
        self.api.send(ch, "first")
        r = check_ok(b.expect(rid), {"values": [Any]})
        self.assertEqual(r["values"], ["first"])

    def test_multi_from_unbuffered_takes_waiting_senders(self):
        ch = self.make()
        senders = []
        for i in range(3):
            b = self.conn()
            b.request("send", chan=ch, value=i)
            self.wait_stat(ch, senders_waiting=i + 1)
            senders.append(b)
        r = self.c.ok("recv", {"values": [Any]}, chan=ch, max=2)
        self.assertEqual(r["values"], [0, 1])
        for b in senders[:2]:
            check_ok(b.reply(), {})
        self.assertBlocked(senders[2])
        self.assertEqual(self.c.ok("recv", {"value": Any}, chan=ch)["value"], 2)
        check_ok(senders[2].reply(), {})

    def test_multi_stops_before_max_frame(self):
        # Values of max_value bytes: a reply stops before their total
        # exceeds max_frame - 256 bytes, and always carries one.
        size = TARGET.max_value
        fit = max(1, (TARGET.max_frame - 256) // size)
        ch = self.make(cap=fit + 2)
        v = "z" * (size - 2)
        for _ in range(fit + 1):
            self.api.send(ch, v)
        r = self.c.ok("recv", {"values": [Any]}, chan=ch, max=fit + 2)
        self.assertEqual(len(r["values"]), fit)
        r = self.c.ok("recv", {"values": [Any]}, chan=ch, max=fit + 2)
        self.assertEqual(len(r["values"]), 1)

    def test_closed_forms(self):
        ch = self.make(cap=2)
        self.api.send_batch(ch, ["x", "y"])
        self.api.close(ch)
        self.c.ok("recv", {"value": Exact("x")}, chan=ch)
        self.c.ok("recv", {"values": Exact(["y"])}, chan=ch, max=5)
        self.c.ok("recv", {"closed": True_}, chan=ch)
        self.c.ok("recv", {"values": Exact([]), "closed": True_}, chan=ch, max=5)
        self.c.ok("recv", {"closed": True_}, chan=ch, timeout_ms=0)
        u = self.make()
        self.api.close(u)
        self.c.ok("recv", {"closed": True_}, chan=u)
        self.c.ok("recv", {"values": Exact([]), "closed": True_}, chan=u,
                  max=1)

    def test_blocked_receivers_fifo_and_closed(self):
        ch = self.make(cap=3)
        rs = []
        for i in range(3):
            b = self.conn()
            rs.append((b, b.request("recv", chan=ch, max=3 if i == 2
                                    else None)))
            self.wait_stat(ch, receivers_waiting=i + 1)
        self.api.send(ch, "one")
        self.api.send(ch, "two")
        self.assertEqual(check_ok(rs[0][0].expect(rs[0][1]))["value"], "one")
        self.assertEqual(check_ok(rs[1][0].expect(rs[1][1]))["value"], "two")
        self.api.close(ch)
        check_ok(rs[2][0].expect(rs[2][1]), {"values": Exact([]),
                                             "closed": True_})

    def test_recv_blocked_then_dropped(self):
        ch = self.make()
        b = self.conn()
        rid = b.request("recv", chan=ch)
        self.wait_stat(ch, receivers_waiting=1)
        self.api.drop(ch)
        check_err(b.expect(rid), "not_found")

    def test_order_kept(self):
        ch = self.make(cap=100)
        self.api.pipeline([{"op": "send", "chan": ch, "value": i}
                           for i in range(100)])
        got = self.api.recv_many(ch, 30) + [self.api.recv(ch)
                                            for _ in range(70)]
        self.assertEqual(got, list(range(100)))


class CloseDropTest(Case):

    def test_close_transcript(self):
        ch = self.make(cap=2)
        self.api.send_batch(ch, ["x", "y"])
        a = self.conn()
        rid = a.request("send", chan=ch, value="z")
        self.wait_stat(ch, senders_waiting=1)
        self.c.ok("close", {}, chan=ch)
        check_err(a.expect(rid), "closed")
        self.c.err("send", "closed", chan=ch, value="late")
        self.c.ok("recv", {"value": Exact("x")}, chan=ch)
        self.c.ok("recv", {"values": Exact(["y"])}, chan=ch, max=5)
        self.c.ok("recv", {"closed": True_}, chan=ch)
        self.c.ok("recv", {"values": Exact([]), "closed": True_}, chan=ch,
                  max=5)
        self.c.err("close", "closed", chan=ch)

    def test_close_errors(self):
        self.c.err("close", "not_found", chan=self.name("missing"))
        self.c.err("close", "bad_request")
        self.c.err("close", "bad_request", chan="a b")

    def test_drop_transcript(self):
        ch = self.make()
        a = self.conn()
        rid = a.request("recv", chan=ch)
        self.wait_stat(ch, receivers_waiting=1)
        self.c.ok("drop", {}, chan=ch)
        check_err(a.expect(rid), "not_found")
        self.c.err("drop", "not_found", chan=ch)
        self.c.err("stat", "not_found", chan=ch)
        self.c.err("drop", "bad_request")

    def test_drop_deletes_values(self):
        ch = self.make(cap=3)
        self.api.send_batch(ch, [1, 2, 3])
        self.c.ok("drop", {}, chan=ch)
        self.c.ok("make", {"created": Exact(True)}, chan=ch, cap=3)
        self.assertEqual(self.stat(ch)["len"], 0)
        self.c.err("recv", "timeout", chan=ch, timeout_ms=0)


class StatChansTest(Case):

    def test_stat_object(self):
        ch = self.make(cap=100)
        r = self.c.ok("stat", STAT, chan=ch)
        self.assertEqual(
            {k: r[k] for k in STAT},
            {"chan": ch, "cap": 100, "len": 0, "closed": False, "leased": 0,
             "senders_waiting": 0, "receivers_waiting": 0, "sent": 0,
             "received": 0})
        self.c.err("stat", "not_found", chan=self.name("nope"))
        self.c.err("stat", "bad_request")

    def test_counts(self):
        ch = self.make(cap=3)
        self.api.send_batch(ch, [1, 2, 3])
        lease = self.api.recv_lease(ch, 600000)
        lease.nack()
        self.api.recv_lease(ch, 600000)
        s = self.c.ok("stat", STAT, chan=ch)
        self.assertEqual((s["len"], s["leased"], s["sent"], s["received"]),
                         (2, 1, 3, 2),
                         "sent counts values; received re-deliveries")

    def test_waiting_counts(self):
        ch = self.make()
        b = self.conn()
        b.request("send", chan=ch, value=1)
        c = self.conn()
        c.request("select", cases=[{"send": ch, "value": 2}])
        s = self.wait_stat(ch, senders_waiting=2)
        self.assertEqual(s["receivers_waiting"], 0)
        self.assertEqual(self.api.recv_many(ch, 2), [1, 2])

    def test_chans(self):
        prefix = self.name("chans") + "-"
        names = [prefix + s for s in ("b", "a", "B", "a.1", "c")]
        for i, n in enumerate(names):
            self.track(n)
            self.api.make(n, i)
        r = self.c.ok("chans", {"chans": [STAT]}, prefix=prefix)
        self.assertEqual([s["chan"] for s in r["chans"]], sorted(names))
        self.assertEqual(r["chans"][0], self.stat(prefix + "B"))
        self.c.ok("chans", {"chans": Exact([])}, prefix=prefix + "zzz")
        r = self.c.ok("chans", {"chans": [STAT]}, prefix=prefix + "a")
        self.assertEqual([s["chan"] for s in r["chans"]],
                         [prefix + "a", prefix + "a.1"])
        r = self.c.ok("chans", {"chans": [STAT]})
        ours = [s["chan"] for s in r["chans"] if s["chan"].startswith(prefix)]
        self.assertEqual(ours, sorted(names))
        allnames = [s["chan"] for s in r["chans"]]
        self.assertEqual(allnames, sorted(allnames, key=lambda s: s.encode()))
        r2 = self.c.ok("chans", {"chans": [STAT]}, prefix="")
        self.assertGreaterEqual(len(r2["chans"]), len(names))
        for bad in (5, ["x"], {}, True):
            r = self.c.err("chans", "bad_request", prefix=bad)
            self.assertIn("prefix", r["error"]["message"])


class ChannelLimitTest(Case):
    """Section 8, on a private server with small limits."""

    def test_max_channels(self):
        s = start_server("--max-channels", 2)
        self.addCleanup(s.check)
        c = self.conn(addr=s.addr)
        c.ok("make", chan="a", cap=1)
        c.ok("make", chan="b")
        c.err("make", "limit", chan="c")
        c.ok("make", {"created": Exact(False)}, chan="a", cap=1)
        c.err("make", "exists", chan="a", cap=2)  # exists before limit
        c.ok("drop", chan="b")
        c.ok("make", {"created": Exact(True)}, chan="c")

    def test_max_buffered_bytes(self):
        # Room for 100 bytes of values in two values: each value also
        # counts VALUE_OVERHEAD.
        s = start_server("--max-buffered-bytes", 100 + 2 * VALUE_OVERHEAD)
        self.addCleanup(s.check)
        c = self.conn(addr=s.addr)
        c.ok("make", chan="a", cap=10)
        c.ok("make", chan="u")
        c.ok("send", chan="a", value="x" * 58)  # 60 bytes
        c.err("send", "limit", chan="a", value="y" * 48)  # 50: over 100
        c.err("send", "limit", chan="a", values=[1, "y" * 46])
        self.assertEqual(c.ok("stats")["buffered_bytes"], 60 + VALUE_OVERHEAD)
        c.ok("send", chan="a", value="y" * 38)  # 40: exactly 100
        c.err("send", "limit", chan="a", value=1, timeout_ms=None)
        # Leased values still count, and so does the lease.
        lease = c.ok("recv", chan="a", lease_ms=600000)["lease"]
        self.assertEqual(c.ok("stats")["buffered_bytes"],
                         100 + 2 * VALUE_OVERHEAD + LEASE_OVERHEAD)
        c.err("send", "limit", chan="a", value=1)
        c.ok("ack", chan="a", lease=lease)
        self.assertEqual(c.ok("stats")["buffered_bytes"], 40 + VALUE_OVERHEAD)
        # Unbuffered channels hold nothing: no limit.
        b = self.conn(addr=s.addr)
        rid = b.request("recv", chan="u")
        wait_until(lambda: c.ok("stat", chan="u")["receivers_waiting"] == 1)
        c.ok("send", chan="u", value="z" * 200)
        check_ok(b.expect(rid))
        # Closed channels say closed.
        c.ok("send", chan="a", value="w" * 58)
        c.ok("close", chan="a")
        c.err("send", "closed", chan="a", value="v" * 100)


class StorageFailureTest(Case):
    """6.1 and `internal`: a database that cannot be written.  The private
    jqd's file size limit (RLIMIT_FSIZE, with SIGXFSZ ignored) is lowered
    until commits fail, then raised again."""

    @sqlite_only("the file size limit is set from SQLite's WAL file; on "
                 "PostgreSQL jqd writes no file of its own")
    def test_internal(self):
        if not TARGET.self_started:
            self.skipTest("needs a private jqd (self-start mode)")
        if not hasattr(resource, "prlimit"):
            self.skipTest("needs resource.prlimit (Linux)")
        # subprocess resets SIGXFSZ in children: a shell ignores it and
        # execs jqd (an ignored signal stays ignored across exec).
        wrapper = os.path.join(TARGET.tmp, "jqd-no-sigxfsz")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\ntrap '' XFSZ\nexec \"$JQ_CONFORMANCE_JQD\" "
                    "\"$@\"\n")
        os.chmod(wrapper, 0o755)
        real = os.environ["JQD"]
        os.environ["JQ_CONFORMANCE_JQD"] = real
        os.environ["JQD"] = wrapper
        try:
            s = start_server()
        finally:
            os.environ["JQD"] = real
        self.addCleanup(s.check)
        unlimit = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        self.addCleanup(lambda: s.alive() and resource.prlimit(
            s.proc.pid, resource.RLIMIT_FSIZE, unlimit))
        c = self.conn(addr=s.addr)
        c.ok("make", chan="a", cap=100)
        c.ok("send", chan="a", value="seed")
        wal = os.path.getsize(s.db_path + "-wal")
        resource.prlimit(s.proc.pid, resource.RLIMIT_FSIZE,
                         (wal + 65536, resource.RLIM_INFINITY))
        filler = self.conn(addr=s.addr)
        v = "f" * 8000
        for i in range(40):
            filler.request("send", chan="a", value=v)
        wait_until(lambda: any("commit failed" in l for l in s.log_lines),
                   what="a failed commit in jqd's log")
        # While the disk fails, new changes are refused with internal, and
        # the refusals and the ops that change nothing are answered at once.
        b = self.conn(addr=s.addr)
        for op, fields, code in (("make", {"chan": "new", "cap": 1}, "internal"),
                                 ("send", {"chan": "a", "value": "refused"},
                                  "internal"),
                                 ("ping", {}, None), ("stat", {"chan": "a"}, None),
                                 ("stats", {}, None), ("chans", {}, None),
                                 ("hello", {}, None)):
            rid = b.request(op, **fields)
            self.assertTrue(b.c.poll(10), "6.1: %s not answered at once while "
                            "the disk fails" % op)
            r = b.expect(rid)
            if code:
                check_err(r, code, what="%s while failing" % op)
            else:
                check_ok(r, what="%s while failing" % op)
        # A wait still waits for the commit.
        w = self.conn(addr=s.addr)
        wid = w.request("wait", group="nobody")
        # The replies of changes made before the failure stay held.
        acked = 1
        answered = 0
        while filler.c.poll(0.3):
            acked += filler.reply()["ok"] is True
            answered += 1
        self.assertLess(answered, 40, "no send waited for the failed commit")
        self.assertBlocked(w, "wait while the disk fails")
        resource.prlimit(s.proc.pid, resource.RLIMIT_FSIZE, unlimit)
        check_ok(w.expect(wid), {"results": Exact([])})
        # Everything acknowledged is there; the refused changes are not.
        for _ in range(40 - answered):
            acked += filler.reply()["ok"] is True
        b.err("stat", "not_found", chan="new")
        vals = []
        while True:
            r = b.call("recv", chan="a", max=100, timeout_ms=0)
            if not r["ok"]:
                break
            vals += r["values"]
        self.assertEqual(len(vals), acked)
        self.assertNotIn("refused", vals)
        self.assertGreaterEqual(b.ok("stats")["store"]["failures"], 1)
