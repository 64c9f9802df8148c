"""Redelivery limit and dead letters (PROTOCOL.md 6.7, 10.1, 10.5, 10.8):
make with max_deliveries and dead_letter, nack with a reason, a value
delivered max_deliveries times without an ack moving to the dead-letter
channel in an envelope (after nacks, lease expiries and connection
closes), the settings and the reason across restarts and a crash, and a
dropped dead-letter channel never losing the value."""

import json
import time

import jqtest
from jqtest import Client, ServerTestCase


class DeadLetterTest(ServerTestCase):
    def make_pair(self, max_deliveries=2, dl_cap=10, cap=10):
        dl = self.make(cap=dl_cap, tag=self._testMethodName + "-dlq")
        src = self.name()
        r = self.ctl.ok("make", chan=src, cap=cap,
                        max_deliveries=max_deliveries, dead_letter=dl)
        self.assertIs(r["created"], True)
        return src, dl

    def lease(self, ch, client=None, lease_ms=600000):
        return (client or self.ctl).ok("recv", chan=ch, lease_ms=lease_ms,
                                       timeout_ms=30000)

    def test_nacks_move_poison_value_with_envelope(self):
        src, dl = self.make_pair(max_deliveries=3)
        poison = {"task": "boom", "n": [1, 2.5, None], "s": "\u00e9\n"}
        self.ctl.ok("send", chan=src, values=[poison, "fine"])
        before = int(time.time() * 1000)
        for i in range(3):
            r = self.lease(src)
            self.assertEqual(r["value"], poison)
            self.assertEqual(r.get("redelivered", 0), i)
            self.ctl.ok("nack", chan=src, lease=r["lease"],
                        reason="attempt %d failed" % (i + 1))
        after = int(time.time() * 1000)
        st = self.stat(src)
        self.assertEqual((st["len"], st["leased"], st["dead_lettered"]),
                         (1, 0, 1))
        self.assertEqual(self.ctl.ok("recv", chan=src)["value"], "fine")
        env = self.ctl.ok("recv", chan=dl, timeout_ms=0)["value"]
        self.assertEqual(set(env), {"chan", "value", "deliveries", "reason",
                                    "dead_ms"})
        self.assertEqual(env["chan"], src)
        self.assertEqual(env["value"], poison)
        self.assertEqual(env["deliveries"], 3)
        self.assertEqual(env["reason"], "attempt 3 failed")
        self.assertTrue(before <= env["dead_ms"] <= after + 1000, env)
        self.assertEqual(self.stat(dl)["sent"], 1)

    def test_value_spliced_unchanged(self):
        src, dl = self.make_pair(max_deliveries=1)
        c = self.connect()
        c.ok("send", chan=src, value={"z": 1, "a": [0.5, "\u00e9"]})
        c.send_frame({"id": 1, "op": "recv", "chan": src,
                      "lease_ms": 600000})
        line = c.read_line().decode()
        raw = line[line.index('"value":') + len('"value":'):-1]
        lease = json.loads(line)["lease"]
        c.ok("nack", chan=src, lease=lease)
        c.send_frame({"id": 2, "op": "recv", "chan": dl})
        line = c.read_line().decode()
        self.assertIn('"value":{"chan":"%s","value":%s,"deliveries":1,'
                      '"reason":null,"dead_ms":' % (src, raw), line)

    def test_expiries_move_value(self):
        src, dl = self.make_pair(max_deliveries=2)
        self.ctl.ok("send", chan=src, value="slow")
        r = self.lease(src, lease_ms=50)
        self.wait_stat(src, leased=0, len=1)
        r = self.lease(src, lease_ms=50)
        self.assertEqual(r["redelivered"], 1)
        self.wait_stat(src, leased=0, len=0, dead_lettered=1)
        env = self.ctl.ok("recv", chan=dl, timeout_ms=0)["value"]
        self.assertEqual((env["value"], env["deliveries"], env["reason"]),
                         ("slow", 2, None))

    def test_connection_closes_move_value_and_keep_reason(self):
        src, dl = self.make_pair(max_deliveries=3)
        self.ctl.ok("send", chan=src, value=7)
        r = self.lease(src)
        self.ctl.ok("nack", chan=src, lease=r["lease"], reason="bad input")
        for _ in range(2):
            c = Client(self.server)
            self.lease(src, client=c)
            c.close()
            self.wait_stat(src, leased=0)
        self.wait_stat(src, len=0, dead_lettered=1)
        env = self.ctl.ok("recv", chan=dl, timeout_ms=0)["value"]
        # Returns without a nack keep the last nack's reason.
        self.assertEqual((env["value"], env["deliveries"], env["reason"]),
                         (7, 3, "bad input"))

    def test_nack_without_reason_clears_it(self):
        src, dl = self.make_pair(max_deliveries=2)
        self.ctl.ok("send", chan=src, value="v")
        r = self.lease(src)
        self.ctl.ok("nack", chan=src, lease=r["lease"], reason="first")
        r = self.lease(src)
        self.ctl.ok("nack", chan=src, lease=r["lease"])
        env = self.ctl.ok("recv", chan=dl, timeout_ms=0)["value"]
        self.assertIsNone(env["reason"])

    def test_dead_letter_wakes_waiting_receiver_ignores_cap_and_closed(self):
        src, dl = self.make_pair(max_deliveries=1, dl_cap=1)
        self.ctl.ok("send", chan=dl, value="occupant")
        self.ctl.ok("close", chan=dl)
        self.ctl.ok("send", chan=src, values=["p", "q"])
        for _ in range(2):
            r = self.lease(src)
            self.ctl.ok("nack", chan=src, lease=r["lease"])
        st = self.stat(dl)
        self.assertEqual((st["len"], st["cap"], st["closed"]), (3, 1, True))
        got = self.ctl.ok("recv", chan=dl, max=10)["values"]
        self.assertEqual(got[0], "occupant")
        self.assertEqual([e["value"] for e in got[1:]], ["p", "q"])
        self.assertIs(self.ctl.ok("recv", chan=dl)["closed"], True)

        src2, dl2 = self.make_pair(max_deliveries=1)
        waiter = self.connect()
        waiter.send_frame({"id": 1, "op": "recv", "chan": dl2,
                           "timeout_ms": 30000})
        self.wait_stat(dl2, receivers_waiting=1)
        self.ctl.ok("send", chan=src2, value="w")
        r = self.lease(src2)
        self.ctl.ok("nack", chan=src2, lease=r["lease"], reason="x")
        got = waiter.read_reply()
        self.assertEqual(got["value"]["value"], "w")
        self.assertEqual(got["value"]["reason"], "x")

    def test_dropped_dead_letter_channel_never_loses_value(self):
        src, dl = self.make_pair(max_deliveries=1)
        self.ctl.ok("send", chan=src, value="keep")
        self.ctl.ok("drop", chan=dl)
        start = len(self.server.log_lines)
        before = self.ctl.ok("stats").get("dead_letter_missing", 0)
        r = self.lease(src)
        self.ctl.ok("nack", chan=src, lease=r["lease"])
        st = self.stat(src)
        self.assertEqual((st["len"], st["dead_lettered"]), (1, 0))
        self.assertEqual(self.ctl.ok("stats")["dead_letter_missing"],
                         before + 1)
        self.server.wait_log(r"dead-letter channel '%s' does not exist"
                             % dl, start=start)
        r = self.lease(src)
        self.assertEqual((r["value"], r["redelivered"]), ("keep", 1))
        # Made again: the next return moves it there.
        self.ctl.ok("make", chan=dl, cap=5)
        self.ctl.ok("nack", chan=src, lease=r["lease"])
        env = self.ctl.ok("recv", chan=dl, timeout_ms=0)["value"]
        self.assertEqual((env["value"], env["deliveries"]), ("keep", 2))

    def test_dropped_dead_letter_channel_keeps_nack_delay(self):
        """At the limit with its dead-letter channel gone, a delayed nack
        returns the value as below the limit: after its delay."""
        src, dl = self.make_pair(max_deliveries=1)
        self.ctl.ok("send", chan=src, value="later")
        self.ctl.ok("drop", chan=dl)
        r = self.lease(src)
        self.ctl.ok("nack", chan=src, lease=r["lease"], delay_ms=600000)
        st = self.stat(src)
        self.assertEqual((st["len"], st["leased"], st["dead_lettered"]),
                         (0, 1, 0))
        self.ctl.error("recv", "timeout", chan=src, timeout_ms=0)

    def test_max_deliveries_without_dead_letter_deletes(self):
        src = self.name()
        self.ctl.ok("make", chan=src, cap=3, max_deliveries=1)
        self.ctl.ok("send", chan=src, value="gone")
        r = self.lease(src)
        self.ctl.ok("nack", chan=src, lease=r["lease"])
        st = self.stat(src)
        self.assertEqual((st["len"], st["leased"], st["dead_lettered"]),
                         (0, 0, 1))
        self.assertNotIn("dead_letter", st)

    def test_ack_and_plain_recv_never_dead_letter(self):
        src, dl = self.make_pair(max_deliveries=1)
        self.ctl.ok("send", chan=src, values=["a", "b"])
        r = self.lease(src)
        self.ctl.ok("ack", chan=src, lease=r["lease"])
        self.assertEqual(self.ctl.ok("recv", chan=src)["value"], "b")
        self.assertEqual(self.stat(dl)["len"], 0)
        self.assertEqual(self.stat(src)["dead_lettered"], 0)

    def test_stat_and_chans_show_settings(self):
        src, dl = self.make_pair(max_deliveries=4)
        st = self.stat(src)
        self.assertEqual((st["max_deliveries"], st["dead_letter"],
                          st["dead_lettered"]), (4, dl, 0))
        st = self.stat(dl)
        for k in ("max_deliveries", "dead_letter", "dead_lettered"):
            self.assertNotIn(k, st)
        listed = self.ctl.ok("chans", prefix=src)["chans"]
        self.assertEqual(listed[0]["max_deliveries"], 4)
        self.assertEqual(listed[0]["dead_letter"], dl)

    def test_memory_accounting_balances(self):
        src, dl = self.make_pair(max_deliveries=1)
        base = self.ctl.ok("stats")["buffered_values"]
        self.ctl.ok("send", chan=src, value="m" * 100)
        r = self.lease(src)
        self.ctl.ok("nack", chan=src, lease=r["lease"], reason="r" * 1024)
        s = self.ctl.ok("stats")
        self.assertEqual(s["buffered_values"], base + 1)
        self.ctl.ok("recv", chan=dl)
        self.ctl.ok("drop", chan=src)
        self.ctl.ok("drop", chan=dl)
        self.assertEqual(self.ctl.ok("stats")["buffered_values"], base)


class DeadLetterRestartTest(jqtest.RestartTestCase):
    def make_pair(self, c, max_deliveries):
        c.ok("make", chan="dlq", cap=5)
        c.ok("make", chan="src", cap=5, max_deliveries=max_deliveries,
             dead_letter="dlq")

    def assert_both_empty(self):
        """After a restart: the move left nothing in either channel."""
        server, c = self.start()
        self.assertEqual(c.ok("stat", chan="src")["len"], 0)
        self.assertEqual(c.ok("stat", chan="dlq")["len"], 0)

    def test_restart_keeps_settings_and_reason(self):
        server, c = self.start()
        c.ok("make", chan="dlq", cap=5)
        c.ok("make", chan="src", cap=5, max_deliveries=2, dead_letter="dlq")
        c.ok("make", chan="lim", cap=5, max_deliveries=7)
        c.ok("send", chan="src", value={"v": 1})
        r = c.ok("recv", chan="src", lease_ms=600000)
        c.ok("nack", chan="src", lease=r["lease"], reason="before restart")
        c.close()
        server.stop()
        self.assertEqual(server.problems(), [])

        server, c = self.start()
        st = c.ok("stat", chan="src")
        self.assertEqual((st["max_deliveries"], st["dead_letter"], st["len"]),
                         (2, "dlq", 1))
        st = c.ok("stat", chan="lim")
        self.assertEqual(st["max_deliveries"], 7)
        self.assertNotIn("dead_letter", st)
        self.assertEqual(c.ok("make", chan="src", cap=5, max_deliveries=2,
                              dead_letter="dlq")["created"], False)
        # The lease expires: the second delivery; the reason survived.
        r = c.ok("recv", chan="src", lease_ms=50)
        self.assertEqual(r["redelivered"], 1)
        env = c.ok("recv", chan="dlq", timeout_ms=30000)["value"]
        self.assertEqual(env, {"chan": "src", "value": {"v": 1},
                               "deliveries": 2, "reason": "before restart",
                               "dead_ms": env["dead_ms"]})
        c.close()
        server.stop()
        self.assertEqual(server.problems(), [])

        # The envelope's receipt and the move are durable.
        self.assert_both_empty()

    def test_delayed_nack_keeps_reason_across_crash(self):
        # A nack with delay_ms is stored (6.4) with its reason (6.7's
        # "each value keeps ... its last nack reason").
        server, c = self.start()
        self.make_pair(c, 2)
        c.ok("send", chan="src", value="d")
        r = c.ok("recv", chan="src", lease_ms=600000)
        c.ok("nack", chan="src", lease=r["lease"], delay_ms=300,
             reason="delayed before crash")
        server.kill()
        server, c = self.start()
        r = c.ok("recv", chan="src", lease_ms=50, timeout_ms=30000)
        self.assertEqual((r["value"], r["redelivered"]), ("d", 1))
        # The lease expires: the second delivery moves it, last reason.
        env = c.ok("recv", chan="dlq", timeout_ms=30000)["value"]
        self.assertEqual(env["reason"], "delayed before crash")
        self.assertEqual(env["deliveries"], 2)

    def test_crash_does_not_count_a_delivery(self):
        server, c = self.start()
        self.make_pair(c, 2)
        c.ok("send", chan="src", value="x")
        r = c.ok("recv", chan="src", lease_ms=600000)
        c.ok("nack", chan="src", lease=r["lease"], reason="kept")
        r = c.ok("recv", chan="src", lease_ms=600000)
        self.assertEqual(r["redelivered"], 1)
        server.kill()
        c.close()

        server, c = self.start()
        st = c.ok("stat", chan="src")
        self.assertEqual((st["len"], st["max_deliveries"]), (1, 2))
        # The delivery the crash interrupted is not counted: one more.
        r = c.ok("recv", chan="src", lease_ms=600000)
        self.assertEqual(r["redelivered"], 1)
        c.ok("nack", chan="src", lease=r["lease"])
        env = c.ok("recv", chan="dlq", timeout_ms=0)["value"]
        self.assertEqual((env["value"], env["deliveries"], env["reason"]),
                         ("x", 2, None))
        server.kill()
        c.close()
        # The move was committed before its effects were shown.
        self.assert_both_empty()

    def test_clean_stop_return_counts(self):
        server, c = self.start()
        self.make_pair(c, 1)
        c.ok("send", chan="src", value="s")
        c.ok("recv", chan="src", lease_ms=600000)
        server.stop()
        c.close()
        self.assertEqual(server.problems(), [])
        server, c = self.start()
        self.assertEqual(c.ok("stat", chan="src")["len"], 0)
        env = c.ok("recv", chan="dlq", timeout_ms=0)["value"]
        self.assertEqual((env["value"], env["deliveries"]), ("s", 1))


if __name__ == "__main__":
    jqtest.main()
