"""Faults: a full disk, a reader that never reads, clients that vanish in
the middle of every blocking op.  jqd must answer `internal` for what it
cannot store, keep serving reads, never acknowledge what it did not
commit, recover when space returns, and keep its memory bounded.

The full-disk test mounts a small tmpfs, so it needs root (it is skipped
otherwise)."""

import os
import socket
import subprocess
import tempfile
import time
import unittest

import jqtest
from jqtest import (Client, Server, ServerTestCase, rss_kib, under_asan,
                    under_tsan, wait_until)


def can_mount():
    if os.geteuid() != 0:
        return False
    d = tempfile.mkdtemp(prefix="jqd-mnt-")
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k",
                            "tmpfs", d], capture_output=True)
        if r.returncode != 0:
            return False
        subprocess.run(["umount", d])
        return True
    finally:
        os.rmdir(d)


@unittest.skipUnless(can_mount(), "needs root and tmpfs mounts")
class DiskFullTest(unittest.TestCase):
    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="jqd-full-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs",
                        self.mnt], check=True)
        self.addCleanup(os.rmdir, self.mnt)
        self.addCleanup(subprocess.run, ["umount", "-l", self.mnt])

    def resize(self, size):
        subprocess.run(["mount", "-o", "remount,size=%s" % size, self.mnt],
                       check=True)

    def test_full_disk_refuses_changes_keeps_reads_and_recovers(self):
        self.check_full_disk()

    def test_full_disk_sync_normal(self):
        # The loop commits itself with sync normal (store-commit.c).
        self.check_full_disk("--sync", "normal")

    def check_full_disk(self, *args):
        server = Server("--max-value", "64K", *args, state_dir=self.mnt)
        server.start()
        self.addCleanup(server.stop)
        c = Client(server)
        self.addCleanup(c.close)
        c.ok("make", chan="q", cap=1000000)
        value = "x" * 30000
        acked = 0
        failed = None
        # Fill the disk: sends are acknowledged until a commit fails.
        sender = Client(server)
        self.addCleanup(sender.close)
        for i in range(200):
            rid = sender.request("send", chan="q",
                                 value={"i": i, "pad": value})
            r = sender.poll_reply(5)
            if r is None:
                # Held: its commit failed and is being retried.
                failed = i
                break
            self.assertEqual(r["id"], rid)
            if not r["ok"]:
                self.assertEqual(r["error"]["code"], "internal", r)
                failed = i
                break
            acked += 1
        self.assertIsNotNone(failed, "the 1 MiB disk never filled up")
        self.assertGreater(acked, 0)
        # Reads are served; changes are refused with internal.
        wait_until(lambda: c.call("stats")["store"]["failures"] > 0,
                   what="a failed commit")
        st = c.ok("stat", chan="q")
        self.assertGreaterEqual(st["len"], acked)
        e = c.error("send", "internal", chan="q", value=1)
        self.assertIn("storage", e["message"])
        c.error("make", "internal", chan="other", cap=1)
        # Space comes back: the held commit goes through, the held reply
        # arrives, and changes are accepted again.
        self.resize("64m")
        if failed is not None and sender.poll_reply(0) is None:
            r = sender.read_reply(60)
            self.assertTrue(r["ok"], r)
            acked += 1
        wait_until(lambda: c.call("make", chan="other", cap=1)["ok"],
                   what="changes accepted again")
        server.stop()
        self.assertEqual(server.problems(), [])
        # Everything acknowledged is on disk.
        server = Server(*args, state_dir=self.mnt)
        server.start()
        self.addCleanup(server.stop)
        c2 = Client(server)
        self.addCleanup(c2.close)
        got = []
        while True:
            r = c2.call("recv", chan="q", timeout_ms=0)
            if not r["ok"]:
                break
            got.append(r["value"]["i"])
        self.assertEqual(got[:acked], list(range(acked)))
        self.assertEqual(got, list(range(len(got))))


class SlowReaderTest(ServerTestCase):
    server_args = ("--max-conn-buffer", "64K")

    def test_reader_that_never_reads_is_paused(self):
        pid = self.server.proc.pid
        base = rss_kib(pid)
        s = socket.create_connection((self.server.host, self.server.port))
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        frame = b'{"op":"stats"}\n' * 1000
        sent = 0
        s.setblocking(False)
        deadline = time.monotonic() + 30
        # Write until the server stops reading us (our sends block).
        stalled = 0
        while time.monotonic() < deadline and sent < 2000 * len(frame):
            try:
                sent += s.send(frame)
                stalled = 0
            except BlockingIOError:
                stalled += 1
                if stalled > 50:
                    break
                time.sleep(0.02)
        self.assertLess(sent, 2000 * len(frame),
                        "the server kept reading a client that never reads")
        grown = rss_kib(pid) - base
        # Replies waiting for us stay near max_conn_buffer, not megabytes.
        if not under_asan(pid) and not under_tsan(pid):
            self.assertLess(grown, 16 * 1024, "RSS grew by %d KiB" % grown)
        # Everyone else is still served.
        self.assertTrue(self.ctl.call("ping")["ok"])


class VanishTest(ServerTestCase):
    """A client vanishing mid-op leaves no trace: sends not applied,
    nothing taken for a receiver that is gone, no waiter left behind."""

    def vanish(self, op, **fields):
        c = Client(self.server)
        c.request(op, **fields)
        wait_until(lambda: self.ctl.call("stats")["waiting"] >= 1,
                   what="the request to block")
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()      # RST: the peer is simply gone
        wait_until(lambda: self.ctl.call("stats")["waiting"] == 0,
                   what="the blocked request to be dropped")

    def test_every_blocking_op(self):
        full = self.make(cap=1)
        self.ctl.ok("send", chan=full, value="keep")
        empty = self.make(cap=1)
        unbuf = self.make(cap=0)
        self.vanish("send", chan=full, value="lost")
        self.vanish("send", chan=full, values=["lost"])
        self.vanish("send", chan=unbuf, value="lost")
        self.vanish("recv", chan=empty)
        self.vanish("recv", chan=empty, max=5)
        self.vanish("recv", chan=empty, lease_ms=60000)
        self.vanish("recv", chan=unbuf)
        self.vanish("select", cases=[{"recv": empty},
                                     {"send": full, "value": "lost"}])
        blocker = self.ctl.ok("submit", argv=["sleep", "30"])["job"]
        self.vanish("wait", jobs=[blocker])
        self.ctl.ok("cancel", job=blocker)
        # Nothing was applied, nothing was taken.
        self.assertEqual(self.ctl.ok("recv", chan=full)["value"], "keep")
        self.ctl.error("recv", "timeout", chan=full, timeout_ms=0)
        self.ctl.ok("send", chan=empty, value="v")
        self.assertEqual(self.ctl.ok("recv", chan=empty)["value"], "v")
        for ch in (full, empty, unbuf):
            st = self.stat(ch)
            self.assertEqual((st["senders_waiting"], st["receivers_waiting"],
                              st["leased"]), (0, 0, 0), ch)


if __name__ == "__main__":
    jqtest.main()
