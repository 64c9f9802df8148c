"""Idempotent sends: send's `key`, the dedup window (time and count),
keys across restarts, drops, blocked sends with one key, the memory bound.
PROTOCOL.md 6.6."""

import json
import os
import shutil
import subprocess
import tempfile
import threading
import unittest

import jqtest
from jqtest import Client, Server, ServerTestCase, wait_until


class DedupTest(ServerTestCase):
    def keys(self, ch):
        # Absent while the channel has no key nor settings of its own.
        return self.stat(ch).get("dedup_keys", 0)

    def recv_all(self, ch):
        got = []
        while True:
            r = self.ctl.call("recv", chan=ch, max=1000, timeout_ms=0)
            if not r["ok"]:
                self.assertEqual(r["error"]["code"], "timeout", r)
                return got
            got.extend(r["values"])

    def test_duplicate_within_window(self):
        ch = self.make(cap=10)
        r = self.ctl.ok("send", chan=ch, value="a", key="k1")
        self.assertNotIn("duplicate", r)
        r = self.ctl.ok("send", chan=ch, value="a2", key="k1")
        self.assertIs(r.get("duplicate"), True)
        r = self.ctl.ok("send", chan=ch, value="b", key="k2")
        self.assertNotIn("duplicate", r)
        st = self.stat(ch)
        self.assertEqual((st["len"], st["dedup_keys"]), (2, 2))
        self.assertEqual(st["dedup_window_ms"], 600000)
        self.assertEqual(st["dedup_max"], 100000)
        self.assertEqual(self.recv_all(ch), ["a", "b"])
        # Received and gone: still a duplicate.
        r = self.ctl.ok("send", chan=ch, value="a", key="k1")
        self.assertIs(r.get("duplicate"), True)
        self.assertEqual(self.recv_all(ch), [])
        # Keys are per channel.
        ch2 = self.make(cap=10)
        r = self.ctl.ok("send", chan=ch2, value="a", key="k1")
        self.assertNotIn("duplicate", r)

    def test_batch_is_one_send(self):
        ch = self.make(cap=10)
        self.ctl.ok("send", chan=ch, values=[1, 2, 3], key="batch")
        r = self.ctl.ok("send", chan=ch, values=[1, 2, 3], key="batch")
        self.assertIs(r.get("duplicate"), True)
        r = self.ctl.ok("send", chan=ch, value=9, key="batch")
        self.assertIs(r.get("duplicate"), True)
        self.assertEqual(self.recv_all(ch), [1, 2, 3])
        self.assertEqual(self.stat(ch)["dedup_keys"], 1)

    def test_key_checks(self):
        ch = self.make(cap=1)
        self.ctl.error("send", "bad_request", chan=ch, value=1, key="")
        self.ctl.error("send", "bad_request", chan=ch, value=1, key=7)
        self.ctl.error("send", "bad_request", chan=ch, value=1,
                       key="x" * 257)
        self.ctl.ok("send", chan=ch, value=1, key="x" * 256)
        self.ctl.error("make", "bad_request", chan=self.name(),
                       dedup_window_ms=0)
        self.ctl.error("make", "bad_request", chan=self.name(),
                       dedup_max="3")
        self.ctl.error("make", "bad_request", chan=self.name(), dedup_max=0)

    def test_make_settings_and_conflict(self):
        ch = self.name()
        self.ctl.ok("make", chan=ch, cap=4, dedup_window_ms=1234,
                    dedup_max=7)
        st = self.stat(ch)
        self.assertEqual((st["dedup_window_ms"], st["dedup_max"]),
                         (1234, 7))
        r = self.ctl.ok("make", chan=ch, cap=4)
        self.assertIs(r["created"], False)
        r = self.ctl.ok("make", chan=ch, cap=4, dedup_max=7)
        self.assertIs(r["created"], False)
        self.ctl.error("make", "exists", chan=ch, cap=4, dedup_max=8)
        self.ctl.error("make", "exists", chan=ch, cap=4,
                       dedup_window_ms=99)

    def test_after_window(self):
        ch = self.name()
        self.ctl.ok("make", chan=ch, cap=10, dedup_window_ms=200)
        self.ctl.ok("send", chan=ch, value=1, key="k")
        self.assertIs(self.ctl.ok("send", chan=ch, value=1,
                                  key="k").get("duplicate"), True)
        # Forgotten by the expiry timer, in memory (and on disk).
        wait_until(lambda: self.keys(ch) == 0)
        r = self.ctl.ok("send", chan=ch, value=2, key="k")
        self.assertNotIn("duplicate", r)
        self.assertEqual(self.recv_all(ch), [1, 2])

    def test_count_evicts_oldest(self):
        ch = self.name()
        self.ctl.ok("make", chan=ch, cap=10, dedup_max=2)
        for k in ("a", "b", "c"):
            self.ctl.ok("send", chan=ch, value=k, key=k)
        self.assertEqual(self.stat(ch)["dedup_keys"], 2)
        self.assertIs(self.ctl.ok("send", chan=ch, value="c",
                                  key="c").get("duplicate"), True)
        self.assertIs(self.ctl.ok("send", chan=ch, value="b",
                                  key="b").get("duplicate"), True)
        r = self.ctl.ok("send", chan=ch, value="a2", key="a")
        self.assertNotIn("duplicate", r)
        self.assertEqual(self.recv_all(ch), ["a", "b", "c", "a2"])
        st = self.ctl.ok("stats")["dedup"]
        self.assertGreaterEqual(st["evicted"], 2)

    def test_unbuffered_handoff_records_key(self):
        ch = self.make(cap=0)
        rc = self.connect()
        rid = rc.request("recv", chan=ch, timeout_ms=30000)
        self.wait_stat(ch, receivers_waiting=1)
        self.ctl.ok("send", chan=ch, value="v", key="h")
        self.assertEqual(rc.reply_to(rid)["value"], "v")
        # No receiver now: a new send would time out; the retry does not.
        r = self.ctl.ok("send", chan=ch, value="v", key="h", timeout_ms=0)
        self.assertIs(r.get("duplicate"), True)
        self.assertEqual(self.stat(ch)["dedup_keys"], 1)

    def test_buffered_handoff_records_key(self):
        ch = self.make(cap=4)
        rc = self.connect()
        rid = rc.request("recv", chan=ch, timeout_ms=30000)
        self.wait_stat(ch, receivers_waiting=1)
        self.ctl.ok("send", chan=ch, value="v", key="h")
        self.assertEqual(rc.reply_to(rid)["value"], "v")
        r = self.ctl.ok("send", chan=ch, value="v", key="h")
        self.assertIs(r.get("duplicate"), True)
        self.assertEqual(self.recv_all(ch), [])

    def test_blocked_send_holds_its_key(self):
        ch = self.make(cap=0)
        a = self.connect()
        rid = a.request("send", chan=ch, value="first", key="p",
                        timeout_ms=30000)
        self.wait_stat(ch, senders_waiting=1)
        # While the first is blocked a second with its key is refused.
        self.ctl.error("send", "exists", chan=ch, value="second", key="p",
                       timeout_ms=0)
        self.assertEqual(self.stat(ch)["dedup_keys"], 1)
        self.assertEqual(self.ctl.ok("recv", chan=ch)["value"], "first")
        a.reply_to(rid)
        r = self.ctl.ok("send", chan=ch, value="again", key="p",
                        timeout_ms=0)
        self.assertIs(r.get("duplicate"), True)

    def test_blocked_send_that_fails_releases_its_key(self):
        ch = self.make(cap=1)
        self.ctl.ok("send", chan=ch, value="fill")
        a = self.connect()
        # Timed out: never sent, key forgotten.
        a.error("send", "timeout", chan=ch, value="x", key="t",
                timeout_ms=50)
        self.assertEqual(self.keys(ch), 0)
        # Connection closed while blocked: never sent, key forgotten.
        b = Client(self.server)
        b.request("send", chan=ch, value="y", key="t", timeout_ms=30000)
        self.wait_stat(ch, senders_waiting=1, dedup_keys=1)
        b.close()
        self.wait_stat(ch, senders_waiting=0)
        self.assertEqual(self.keys(ch), 0)
        self.assertEqual(self.recv_all(ch), ["fill"])
        r = self.ctl.ok("send", chan=ch, value="z", key="t")
        self.assertNotIn("duplicate", r)
        self.assertEqual(self.recv_all(ch), ["z"])

    def test_blocked_buffered_send_records_when_it_lands(self):
        ch = self.make(cap=1)
        self.ctl.ok("send", chan=ch, value="fill")
        a = self.connect()
        rid = a.request("send", chan=ch, value="late", key="L",
                        timeout_ms=30000)
        self.wait_stat(ch, senders_waiting=1)
        self.assertEqual(self.ctl.ok("recv", chan=ch)["value"], "fill")
        self.assertTrue(a.reply_to(rid)["ok"])
        self.assertIs(self.ctl.ok("send", chan=ch, value="late",
                                  key="L").get("duplicate"), True)
        self.assertEqual(self.recv_all(ch), ["late"])

    def test_concurrent_same_key_sends_store_once(self):
        ch = self.make(cap=1)
        self.ctl.ok("send", chan=ch, value="fill")
        clients = [self.connect() for _ in range(16)]
        results = [None] * len(clients)

        def send(i):
            results[i] = clients[i].call("send", chan=ch, value="dup",
                                         key="same", timeout_ms=3000)

        threads = [threading.Thread(target=send, args=(i,))
                   for i in range(len(clients))]
        for t in threads:
            t.start()
        # One of them blocks holding the key; the others are refused.
        self.wait_stat(ch, senders_waiting=1)
        self.assertEqual(self.ctl.ok("recv", chan=ch)["value"], "fill")
        for t in threads:
            t.join(60)
        oks = [r for r in results if r["ok"]]
        errs = [r["error"]["code"] for r in results if not r["ok"]]
        self.assertEqual(set(errs) - {"exists"}, set(), results)
        self.assertTrue(oks, results)
        self.assertEqual(sum(1 for r in oks if not r.get("duplicate")), 1)
        self.assertEqual(self.recv_all(ch), ["dup"])
        # Everybody retrying now is told duplicate.
        for c in clients[:4]:
            self.assertIs(c.ok("send", chan=ch, value="dup",
                               key="same").get("duplicate"), True)
        self.assertEqual(self.recv_all(ch), [])

    def test_closed_channel_still_answers_duplicate(self):
        ch = self.make(cap=2)
        self.ctl.ok("send", chan=ch, value=1, key="c")
        self.ctl.ok("close", chan=ch)
        self.assertIs(self.ctl.ok("send", chan=ch, value=1,
                                  key="c").get("duplicate"), True)
        self.ctl.error("send", "closed", chan=ch, value=1, key="d")

    def test_stats_count_keys(self):
        ch0 = self.make(cap=10)
        self.ctl.ok("send", chan=ch0, value=1, key="s0")
        before = self.ctl.ok("stats")["dedup"]
        ch = self.make(cap=10)
        self.ctl.ok("send", chan=ch, value=1, key="s1")
        self.ctl.ok("send", chan=ch, value=1, key="s1")
        after = self.ctl.ok("stats")["dedup"]
        self.assertEqual(after["keys"], before["keys"] + 1)
        self.assertGreater(after["bytes"], before["bytes"])
        self.assertEqual(after["duplicates"], before["duplicates"] + 1)
        self.ctl.ok("drop", chan=ch)
        self.assertEqual(self.ctl.ok("stats")["dedup"]["keys"],
                         before["keys"])


class DedupLimitTest(ServerTestCase):
    server_args = ("--max-dedup-bytes", "4K")

    def test_memory_bound(self):
        ch = self.make(cap=1000)
        n = 0
        while True:
            r = self.ctl.call("send", chan=ch, value=n, key="key-%04d" % n)
            if not r["ok"]:
                break
            n += 1
            self.assertLess(n, 1000)
        self.assertEqual(r["error"]["code"], "limit", r)
        self.assertIn("max_dedup_bytes", r["error"]["message"])
        st = self.ctl.ok("stats")["dedup"]
        self.assertLessEqual(st["bytes"], 4096)
        self.assertEqual(st["keys"], n)
        self.assertEqual(self.stat(ch)["len"], n)
        # Unkeyed sends are not affected.
        self.ctl.ok("send", chan=ch, value="plain")
        # Dropping the channel gives the memory back.
        self.ctl.ok("drop", chan=ch)
        ch = self.make(cap=10)
        self.ctl.ok("send", chan=ch, value=1, key="again")


class DedupRestartTest(jqtest.RestartTestCase):
    def check_restart(self, how):
        s, c = self.start()
        c.ok("make", chan="q", cap=100, dedup_max=3, dedup_window_ms=3600000)
        c.ok("make", chan="u", cap=0)
        c.ok("send", chan="q", value=1, key="one")
        c.ok("send", chan="q", values=[2, 3], key="two")
        # A key whose value was received before its commit: kept.
        rc = Client(s)
        rid = rc.request("recv", chan="u", timeout_ms=30000)
        wait_until(lambda: c.ok("stat", chan="u")["receivers_waiting"] == 1)
        c.ok("send", chan="u", value="h", key="handed")
        self.assertEqual(rc.reply_to(rid)["value"], "h")
        rc.close()
        how(s)
        s, c = self.start()
        st = c.ok("stat", chan="q")
        self.assertEqual((st["dedup_max"], st["dedup_window_ms"],
                          st["dedup_keys"], st["len"]),
                         (3, 3600000, 2, 3))
        for key in ("one", "two"):
            self.assertIs(c.ok("send", chan="q", value=0,
                               key=key).get("duplicate"), True)
        self.assertIs(c.ok("send", chan="u", value="h", key="handed",
                           timeout_ms=0).get("duplicate"), True)
        # Eviction by count after the restart reaches the disk too.
        for key in ("three", "four"):
            c.ok("send", chan="q", value=key, key=key)
        self.assertEqual(c.ok("stat", chan="q")["dedup_keys"], 3)
        s.stop()
        s, c = self.start()
        self.assertEqual(c.ok("stat", chan="q")["dedup_keys"], 3)
        self.assertNotIn("duplicate", c.ok("send", chan="q", value=1,
                                           key="one"))
        # Dropping forgets the keys, on disk too.
        c.ok("drop", chan="q")
        c.ok("make", chan="q", cap=100)
        self.assertNotIn("duplicate", c.ok("send", chan="q", value=1,
                                           key="two"))
        s.stop()
        s, c = self.start()
        self.assertEqual(c.ok("stat", chan="q")["dedup_keys"], 1)
        self.assertEqual(c.ok("stats")["dedup"]["keys"], 2)

    def test_kill9(self):
        self.check_restart(lambda s: s.kill())

    def test_sigterm(self):
        self.check_restart(lambda s: s.stop())

    def test_window_expires_across_restart(self):
        s, c = self.start()
        c.ok("make", chan="w", cap=10, dedup_window_ms=300)
        c.ok("send", chan="w", value=1, key="k")
        s.kill()
        s, c = self.start()
        # Loaded, then forgotten once its window has passed.
        wait_until(lambda: c.ok("stat", chan="w")["dedup_keys"] == 0)
        self.assertNotIn("duplicate", c.ok("send", chan="w", value=2,
                                           key="k"))

    def test_server_window_option(self):
        s, c = self.start("--dedup-window", "250ms", "--dedup-max", "5")
        c.ok("make", chan="o", cap=10)
        st = c.ok("stat", chan="o")
        self.assertNotIn("dedup_keys", st, "a 1.0 channel shows no dedup")
        c.ok("send", chan="o", value=1, key="k")
        st = c.ok("stat", chan="o")
        self.assertEqual((st["dedup_window_ms"], st["dedup_max"],
                          st["dedup_keys"]), (250, 5, 1))
        # Forgotten: the channel shows no dedup members again.
        wait_until(lambda: "dedup_keys" not in c.ok("stat", chan="o"))
        self.assertNotIn("dedup", c.ok("stats"))


class ClientRetryTest(ServerTestCase):
    def jq_client(self, addr, *args):
        return subprocess.run([os.environ["JQ_CLIENT"], "-H", addr] +
                              list(args), capture_output=True, text=True,
                              timeout=60)

    def test_lost_reply_is_retried_as_duplicate(self):
        ch = self.make(cap=10)
        proxy = jqtest.RecordingProxy((self.server.host, self.server.port),
                                      drop_send=True)
        self.addCleanup(proxy.close)
        p = self.jq_client(proxy.addr, "--json", "send", "--key", "K1",
                           ch, "v1")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(proxy.dropped.is_set())
        self.assertGreaterEqual(len(proxy.requests()), 2)
        self.assertEqual(json.loads(p.stdout)["results"][0].get(
            "duplicate"), True, p.stdout)
        self.assertEqual(self.ctl.ok("recv", chan=ch, max=10)["values"],
                         ["v1"])

    def test_key_once_then_duplicate(self):
        ch = self.make(cap=10)
        p = self.jq_client(self.server.addr, "send", "--key", "K", ch, "x")
        self.assertEqual((p.returncode, p.stdout), (0, ""), p.stderr)
        p = self.jq_client(self.server.addr, "send", "--key", "K", ch, "x")
        self.assertEqual((p.returncode, p.stdout), (0, "duplicate\n"))
        p = self.jq_client(self.server.addr, "send", "--key", "K", ch,
                           "x", "y")
        self.assertEqual(p.returncode, 2, p.stderr)
        p = self.jq_client(self.server.addr, "send", "--batch", "--key",
                           "B", ch, "x", "y")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.ctl.ok("recv", chan=ch, max=10)["values"],
                         ["x", "x", "y"])

    def test_restart_mid_send_is_retried(self):
        # A blocked keyed send whose server is killed: the client comes
        # back to the restarted server (same socket) and sends again.
        d = tempfile.mkdtemp(prefix="jqd-retry-")
        self.addCleanup(shutil.rmtree, d, True)
        sock = os.path.join(d, "jqd.sock")
        s = Server(state_dir=d, listen_args=["--unix", sock])
        s.start()
        self.addCleanup(s.stop)
        c = Client(s, unix=True)
        c.ok("make", chan="r", cap=1)
        c.ok("send", chan="r", value="fill")
        p = subprocess.Popen([os.environ["JQ_CLIENT"], "-S", sock, "send",
                              "--key", "R", "r", "mine"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        wait_until(lambda: c.ok("stat", chan="r")["senders_waiting"] == 1)
        c.close()
        s.kill()
        s = Server(state_dir=d, listen_args=["--unix", sock])
        s.start()
        self.addCleanup(s.stop)
        c = Client(s, unix=True)
        wait_until(lambda: c.ok("stat", chan="r")["senders_waiting"] == 1)
        self.assertEqual(c.ok("recv", chan="r")["value"], "fill")
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(c.ok("recv", chan="r", max=10)["values"], ["mine"])
        c.close()


if __name__ == "__main__":
    unittest.main()
