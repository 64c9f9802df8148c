"""Redelivery limit and dead letters (protocol 1.1): PROTOCOL.md 6.7,
make's max_deliveries and dead_letter (10.1), nack's reason (10.5), the
stat members (10.8).  Skipped on a server that does not offer them (its
hello does not list "dead_letter" and make ignores the fields)."""

import time

from harness import (STAT, Any, Case, Exact, Int, NonEmptyStr, Null, Pos,
                     Str)

LEASED = {"value": Any, "lease": NonEmptyStr}
LEASED_AGAIN = dict(LEASED, redelivered=Pos)
DL_STAT = dict(STAT, max_deliveries=Pos, dead_letter=Str, dead_lettered=Int)
LIMIT_STAT = dict(STAT, max_deliveries=Pos, dead_lettered=Int)
ENVELOPE = {"chan": Str, "value": Any, "deliveries": Pos,
            "reason": Any, "dead_ms": Pos}

_supported = None


def supported(case):
    """Whether the target offers dead letters (asked once per run): its
    hello lists the feature, or make keeps the setting (stat shows it)."""
    global _supported
    if _supported is None:
        features = case.c.ok("hello").get("features")
        if isinstance(features, list) and "dead_letter" in features:
            _supported = True
        else:
            probe = case.track(case.name("probe"))
            case.c.call("make", chan=probe, cap=1, max_deliveries=1)
            _supported = "max_deliveries" in case.c.ok("stat", chan=probe)
    return _supported


class DeadLetterCase(Case):
    def setUp(self):
        super().setUp()
        if not supported(self):
            self.skipTest("the server does not offer dead letters")

    def make_pair(self, max_deliveries, cap=10, dl_cap=10):
        dl = self.make(cap=dl_cap, tag="dlq")
        src = self.track(self.name())
        self.c.ok("make", {"created": Exact(True)}, chan=src, cap=cap,
                  max_deliveries=max_deliveries, dead_letter=dl)
        return src, dl

    def lease(self, ch, lease_ms=600000):
        return self.c.ok("recv", None, chan=ch, lease_ms=lease_ms)


class MakeTest(DeadLetterCase):

    def test_fields_and_stat(self):
        src, dl = self.make_pair(3)
        r = self.c.ok("stat", DL_STAT, chan=src)
        self.assertEqual((r["max_deliveries"], r["dead_letter"],
                          r["dead_lettered"]), (3, dl, 0))
        # Channels without the settings keep the version 1 stat object.
        self.c.ok("stat", STAT, chan=dl)
        lim = self.track(self.name())
        self.c.ok("make", {"created": Exact(True)}, chan=lim, cap=2,
                  max_deliveries=5)
        self.c.ok("stat", LIMIT_STAT, chan=lim)
        r = self.c.ok("chans", None, prefix=src)
        self.assertEqual(r["chans"][0]["dead_letter"], dl)

    def test_same_settings_not_created_different_exists(self):
        src, dl = self.make_pair(3)
        self.c.ok("make", {"created": Exact(False)}, chan=src, cap=10,
                  max_deliveries=3, dead_letter=dl)
        self.c.err("make", "exists", chan=src, cap=10, max_deliveries=4,
                   dead_letter=dl)
        self.c.err("make", "exists", chan=src, cap=10)
        self.c.err("make", "exists", chan=src, cap=10, max_deliveries=3)
        other = self.make(cap=1)
        self.c.err("make", "exists", chan=src, cap=10, max_deliveries=3,
                   dead_letter=other)
        plain = self.make(cap=2)
        self.c.err("make", "exists", chan=plain, cap=2, max_deliveries=1)

    def test_bad_requests(self):
        dl = self.make(cap=2)
        unbuffered = self.make()
        ch = self.name()
        for fields in ({"max_deliveries": 0}, {"max_deliveries": -1},
                       {"max_deliveries": "3"}, {"max_deliveries": 1.5},
                       {"max_deliveries": 2 ** 31},
                       {"max_deliveries": 1, "dead_letter": "no spaces"},
                       {"max_deliveries": 1, "dead_letter": 7},
                       {"dead_letter": dl},
                       {"max_deliveries": 1, "dead_letter": ch}):
            r = self.c.err("make", "bad_request", chan=ch, cap=2, **fields)
            self.assertIn("'", r["error"]["message"])
        # Leases need a buffered channel; so do dead letters.
        self.c.err("make", "bad_request", chan=ch, max_deliveries=1)
        self.c.err("make", "bad_request", chan=ch, cap=2, max_deliveries=1,
                   dead_letter=unbuffered)
        self.c.err("make", "not_found", chan=ch, cap=2, max_deliveries=1,
                   dead_letter=self.name("missing"))
        self.c.err("stat", "not_found", chan=ch)


class NackReasonTest(DeadLetterCase):

    def test_reason_checked(self):
        ch = self.make(cap=2)
        self.c.ok("send", {}, chan=ch, value="v")
        r = self.lease(ch)
        self.c.err("nack", "bad_request", chan=ch, lease=r["lease"],
                   reason=5)
        self.c.err("nack", "bad_request", chan=ch, lease=r["lease"],
                   reason="x" * 1025)
        self.c.err("nack", "bad_request", chan=ch, lease=r["lease"],
                   reason="nul\u0000byte")
        # Nothing changed: the lease is still live.
        self.c.ok("nack", {}, chan=ch, lease=r["lease"], reason="x" * 1024)
        self.c.ok("recv", dict(LEASED_AGAIN, redelivered=Exact(1)),
                  chan=ch, lease_ms=600000)

    def test_reason_on_a_channel_without_limit(self):
        ch = self.make(cap=2)
        self.c.ok("send", {}, chan=ch, value=1)
        r = self.lease(ch)
        self.c.ok("nack", {}, chan=ch, lease=r["lease"], reason="later")
        self.c.ok("recv", {"value": Exact(1)}, chan=ch)


class MoveTest(DeadLetterCase):

    def test_nacks_move_value_in_envelope(self):
        src, dl = self.make_pair(2)
        self.c.ok("send", {}, chan=src, values=[{"k": [1, None]}, "next"])
        before = int(time.time() * 1000)
        r = self.c.ok("recv", LEASED, chan=src, lease_ms=600000)
        self.c.ok("nack", {}, chan=src, lease=r["lease"], reason="one")
        r = self.c.ok("recv", dict(LEASED_AGAIN, redelivered=Exact(1)),
                      chan=src, lease_ms=600000)
        self.c.ok("nack", {}, chan=src, lease=r["lease"], reason="two")
        s = self.stat(src)
        self.assertEqual((s["len"], s["leased"], s["dead_lettered"]),
                         (1, 0, 1))
        r = self.c.ok("recv", {"value": ENVELOPE}, chan=dl, timeout_ms=0)
        env = r["value"]
        self.assertEqual((env["chan"], env["value"], env["deliveries"],
                          env["reason"]), (src, {"k": [1, None]}, 2, "two"))
        # The server's clock; allow some skew against ours.
        self.assertLess(abs(env["dead_ms"] - before), 600000)
        self.c.ok("recv", {"value": Exact("next")}, chan=src)

    def test_expiry_moves_value_with_null_reason(self):
        src, dl = self.make_pair(1)
        self.c.ok("send", {}, chan=src, value="late")
        self.lease(src, lease_ms=50)
        r = self.c.ok("recv", {"value": dict(ENVELOPE, reason=Null)},
                      chan=dl, timeout_ms=30000)
        self.assertEqual((r["value"]["value"], r["value"]["deliveries"]),
                         ("late", 1))

    def test_connection_close_moves_value(self):
        src, dl = self.make_pair(1)
        self.c.ok("send", {}, chan=src, value="held")
        other = self.conn()
        other.ok("recv", LEASED, chan=src, lease_ms=600000)
        other.close()
        r = self.c.ok("recv", {"value": ENVELOPE}, chan=dl,
                      timeout_ms=30000)
        self.assertEqual(r["value"]["value"], "held")

    def test_move_ignores_cap_and_closed(self):
        src, dl = self.make_pair(1, dl_cap=1)
        self.c.ok("send", {}, chan=dl, value="first")
        self.c.ok("close", {}, chan=dl)
        self.c.ok("send", {}, chan=src, value="p")
        r = self.lease(src)
        self.c.ok("nack", {}, chan=src, lease=r["lease"])
        s = self.stat(dl)
        self.assertEqual((s["len"], s["closed"]), (2, True))
        self.c.ok("recv", {"value": Exact("first")}, chan=dl)
        self.c.ok("recv", {"value": ENVELOPE}, chan=dl)
        self.c.ok("recv", {"closed": Exact(True)}, chan=dl)

    def test_dropped_dead_letter_channel_keeps_value(self):
        src, dl = self.make_pair(1)
        self.c.ok("send", {}, chan=src, value="safe")
        self.c.ok("drop", {}, chan=dl)
        r = self.lease(src)
        self.c.ok("nack", {}, chan=src, lease=r["lease"])
        s = self.stat(src)
        self.assertEqual((s["len"], s["dead_lettered"]), (1, 0))
        self.c.ok("recv", dict(LEASED_AGAIN, value=Exact("safe"),
                               redelivered=Exact(1)),
                  chan=src, lease_ms=600000)


class StatsTest(DeadLetterCase):
    """stats' dead_lettered and dead_letter_missing (9.4): present once
    non-zero; other clients may add to them on a shared server."""

    def test_counts(self):
        src, dl = self.make_pair(1)
        self.c.ok("send", {}, chan=src, values=["moved", "kept"])
        r = self.lease(src)
        self.c.ok("nack", {}, chan=src, lease=r["lease"])
        self.assertGreaterEqual(self.c.call("stats")["dead_lettered"], 1)
        self.c.ok("drop", {}, chan=dl)
        r = self.lease(src)
        self.c.ok("nack", {}, chan=src, lease=r["lease"])
        self.assertGreaterEqual(
            self.c.call("stats")["dead_letter_missing"], 1)
        self.assertEqual(self.stat(src)["len"], 1)
