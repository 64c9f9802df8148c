"""watch (PROTOCOL.md 11.15): frames of a job's or a group's state, progress
and output until it is final; the snapshot first, the bounded buffer and
its "lagged" frame, the end by a server stop, and a watch holding a serial
connection like wait.

Jobs are `sh -c` scripts; a "blocker" runs until the test creates a file.
"""

import os
import shutil
import tempfile
import time
import unittest

import jqtest
from jqtest import ServerTestCase, wait_until

BLOCK = 'while [ ! -e "$0" ]; do sleep 0.05; done'
FINAL = {"succeeded", "failed", "deadline_exceeded", "canceled"}
READ_S = 60


def sh(script, *args):
    return ["sh", "-c", script] + [str(a) for a in (args or ("sh",))]


def read_watch(client, rid, timeout=READ_S):
    """Every line answering rid up to the last: (frames, last)."""
    frames = []
    deadline = time.monotonic() + timeout
    while True:
        r = client.read_reply(deadline - time.monotonic())
        assert r["id"] == rid, r
        if "event" not in r:
            return frames, r
        assert r["ok"] is True, r
        frames.append(r)


def output_of(frames, job, stream, attempt=None):
    """The output frames' data of job's stream, joined (of the last
    attempt that started, unless attempt is given)."""
    parts, current = [], 0
    for f in frames:
        if f.get("job") != job:
            continue
        if f["event"] == "state" and f["state"] == "running":
            current = f["result"]["attempt"]
            if attempt is None:
                parts = []
        if f["event"] == "output" and f["stream"] == stream and (
                attempt is None or current == attempt):
            parts.append(f["data"])
    return "".join(parts)


class WatchBase(ServerTestCase):
    server_args = ("--workers", "4", "--retry-delay", "100ms")

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="jqd-watch-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.blockers = 0

    def blocker(self, **fields):
        self.blockers += 1
        path = os.path.join(self.tmp, "go-%d" % self.blockers)
        self.addCleanup(self.release, path)
        r = self.ctl.ok("submit", argv=sh(BLOCK, path), **fields)
        return r["job"], path

    @staticmethod
    def release(path):
        open(path, "a").close()


class WatchTest(WatchBase):

    def test_submit_to_final(self):
        # Attempt 1 fails, attempt 2 succeeds; a delay keeps it queued
        # until the watch is in.  The output splits a character across
        # two writes (U+00E9 as \303 then \251).
        marker = os.path.join(self.tmp, "tried")
        script = ('[ -e "$0" ] || { touch "$0"; echo first; exit 3; }; '
                  'echo "1 4" >&3; printf "caf\\303"; sleep 0.2; '
                  'printf "\\251\\n"; echo "4 4" >&3; echo oops >&2')
        c = self.connect()
        job = self.ctl.ok("submit", argv=sh(script, marker), retries=1,
                          delay_ms=500)["job"]
        rid = c.request("watch", job=job)
        frames, last = read_watch(c, rid)
        states = [f["state"] for f in frames if f["event"] == "state"]
        self.assertEqual(states, ["queued", "running", "queued", "running",
                                  "succeeded"])
        self.assertEqual(frames[0]["event"], "state")
        attempts = [f["result"]["attempt"] for f in frames
                    if f["event"] == "state"]
        self.assertEqual(attempts, [1, 1, 2, 2, 2])
        self.assertEqual(output_of(frames, job, "stdout", attempt=1),
                         "first\n")
        self.assertTrue(last["ok"])
        self.assertIs(last["end"], True)
        [res] = last["results"]
        self.assertEqual(res["state"], "succeeded")
        self.assertEqual(res["stdout"], "caf\u00e9\n")
        self.assertEqual(output_of(frames, job, "stdout"), res["stdout"])
        self.assertEqual(output_of(frames, job, "stderr"), "oops\n")
        progress = [f["progress"] for f in frames
                    if f["event"] == "progress"]
        self.assertIn({"done": 4, "total": 4}, progress)
        # Every frame of attempt 2 comes between its running and final
        # state frames.
        kinds = [f["event"] for f in frames]
        self.assertEqual(kinds[-1], "state")

    def test_output_and_progress_switches(self):
        c = self.connect()
        job = self.ctl.ok("submit", argv=sh('echo "1 2" >&3; echo hi'),
                          delay_ms=300)["job"]
        rid = c.request("watch", job=job, output=False, progress=False)
        frames, last = read_watch(c, rid)
        self.assertEqual({f["event"] for f in frames}, {"state", "synced"})
        self.assertNotIn("stdout", last["results"][0])
        self.assertEqual(last["results"][0]["state"], "succeeded")

    def test_snapshot_of_a_running_job(self):
        path = os.path.join(self.tmp, "go")
        self.addCleanup(self.release, path)
        job = self.ctl.ok("submit", argv=sh(
            'echo before; echo "2 9" >&3; ' + BLOCK, path))["job"]
        wait_until(lambda: self.ctl.ok("job", job=job)["stdout"] ==
                   "before\n" and self.ctl.ok("job", job=job)["progress"]
                   is not None)
        c = self.connect()
        rid = c.request("watch", job=job)
        first = [c.read_reply(READ_S) for _ in range(4)]
        self.assertEqual([f["event"] for f in first],
                         ["state", "progress", "output", "synced"])
        self.assertEqual(first[0]["state"], "running")
        self.assertEqual(first[1]["progress"], {"done": 2, "total": 9})
        self.assertEqual(first[2]["data"], "before\n")
        self.release(path)
        frames, last = read_watch(c, rid)
        self.assertEqual(frames[-1]["state"], "succeeded")
        self.assertEqual(last["results"][0]["stdout"], "before\n")

    def test_group(self):
        g = self.name("grp")
        jobs = [self.blocker(group=g) for _ in range(3)]
        c = self.connect()
        rid = c.request("watch", group=g, output=False)
        got = [c.read_reply(READ_S) for _ in range(4)]
        self.assertEqual(got.pop()["event"], "synced")
        self.assertEqual(sorted(f["job"] for f in got),
                         sorted(j for j, _ in jobs))
        for _, path in jobs:
            self.release(path)
        frames, last = read_watch(c, rid)
        finals = {f["job"]: f["state"] for f in frames
                  if f["event"] == "state" and f["state"] in FINAL}
        self.assertEqual(finals, {j: "succeeded" for j, _ in jobs})
        self.assertIs(last["end"], True)
        self.assertEqual(sorted(r["job"] for r in last["results"]),
                         sorted(j for j, _ in jobs))

    def test_unknown_group_ends_at_once(self):
        c = self.connect()
        rid = c.request("watch", group=self.name("none"))
        frames, last = read_watch(c, rid)
        self.assertEqual(frames, [])
        self.assertEqual(last["results"], [])

    def test_final_job_ends_at_once(self):
        job = self.ctl.ok("submit", argv=sh("echo done; exit 1"))["job"]
        wait_until(lambda: self.ctl.ok("job", job=job)["state"] in FINAL)
        c = self.connect()
        rid = c.request("watch", job=job)
        frames, last = read_watch(c, rid, timeout=10)
        self.assertEqual(len(frames), 1)
        self.assertEqual(frames[0]["state"], "failed")
        self.assertEqual(last["results"][0]["stdout"], "done\n")
        # The connection goes on.
        c.ok("ping")

    def test_blocks_a_serial_connection_like_wait(self):
        job, path = self.blocker()
        c = self.connect()
        rid = c.request("watch", job=job)
        ping = c.request("ping")
        frame = c.read_reply(READ_S)
        self.assertEqual((frame["id"], frame["event"]), (rid, "state"))
        self.assertEqual(c.read_reply(READ_S)["event"], "synced")
        # Nothing answers the ping while the watch holds the connection.
        self.assertIsNone(c.poll_reply(0.5))
        self.release(path)
        frames, last = read_watch(c, rid)
        self.assertEqual(frames[-1]["state"], "succeeded")
        self.assertEqual(c.read_reply(READ_S)["id"], ping)

    def test_peer_gone_while_watching(self):
        job, path = self.blocker()
        c = jqtest.Client(self.server)
        c.request("watch", job=job)
        c.read_reply(READ_S)
        c.close()
        wait_until(lambda: self.ctl.ok("stats")["connections"] == 1)
        self.release(path)
        wait_until(lambda: self.ctl.ok("job", job=job)["state"] in FINAL)
        self.ctl.ok("ping")

    def test_errors(self):
        c = self.connect()
        c.error("watch", "not_found", job=987654321)
        c.error("watch", "bad_request")
        c.error("watch", "bad_request", job="1")
        c.error("watch", "bad_request", job=1, group="g")
        c.error("watch", "bad_request", group="bad name")
        c.error("watch", "bad_request", job=1, output="yes")
        c.error("watch", "bad_request", job=1, progress=1)


class WatchMultiplexedTest(WatchBase):
    """A watch on a multiplexed connection (4.7) holds nothing behind it:
    two watches and a ping interleave, each watch's frames stay in order,
    and abort ends one with `canceled` (9.5)."""

    def mux(self):
        c = self.connect()
        c.send_frame({"id": "h", "op": "hello", "multiplex": True})
        r = c.read_reply()
        self.assertIs(r["multiplex"], True)
        return c

    def test_two_watches_a_ping_and_an_abort(self):
        c = self.mux()
        job_a, path_a = self.blocker()
        job_b, path_b = self.blocker()
        # job b writes before it blocks, so its frames carry output.
        c.send_frame({"id": "wa", "op": "watch", "job": job_a})
        c.send_frame({"id": "wb", "op": "watch", "job": job_b})
        c.send_frame({"id": "p", "op": "ping"})
        frames = {"wa": [], "wb": []}
        pinged = False
        # Both snapshots end with "synced"; the ping comes meanwhile.
        while not (pinged and all(any(f.get("event") == "synced"
                                      for f in fs)
                                  for fs in frames.values())):
            r = c.read_reply(READ_S)
            if r["id"] == "p":
                self.assertIs(r["ok"], True)
                pinged = True
            else:
                self.assertIn("event", r, r)
                frames[r["id"]].append(r)
        c.send_frame({"id": "x", "op": "abort", "ref": "wa"})
        r = c.read_reply(READ_S)
        self.assertEqual(r["id"], "wa")
        self.assertEqual(r["error"]["code"], "canceled")
        self.assertEqual(c.read_reply(READ_S),
                         {"id": "x", "ok": True, "aborted": True})
        # Watch b goes on to its end; the job a watch left runs on.
        self.release(path_b)
        while True:
            r = c.read_reply(READ_S)
            self.assertEqual(r["id"], "wb")
            if "event" not in r:
                break
            frames["wb"].append(r)
        self.assertIs(r["end"], True)
        states = [f["state"] for f in frames["wb"]
                  if f["event"] == "state"]
        self.assertEqual(states[-1], "succeeded")
        self.assertEqual(self.ctl.ok("job", job=job_a)["state"], "running")
        self.release(path_a)
        wait_until(lambda: self.ctl.ok("job", job=job_a)["state"] in FINAL,
                   what="job a ended")

    def test_watch_and_waits_of_one_job_end_together(self):
        # A watch and two waits of one job on one multiplexed connection
        # are all answered when the job ends: three streamed replies due
        # at once go out one after the other, each whole (jqd used to
        # assert that only one streamed reply could be due).
        c = self.mux()
        job, path = self.blocker()
        c.send_frame({"id": "w", "op": "watch", "job": job})
        while c.read_reply(READ_S).get("event") != "synced":
            pass
        c.send_frame({"id": "a", "op": "wait", "jobs": [job]})
        c.send_frame({"id": "b", "op": "wait", "jobs": [job],
                      "output": False})
        c.send_frame({"id": "p", "op": "ping"})
        self.assertEqual(c.read_reply(READ_S), {"id": "p", "ok": True})
        self.release(path)
        finals = {}
        while len(finals) < 3:
            r = c.read_reply(READ_S)
            self.assertIs(r["ok"], True, r)
            if "event" in r:
                self.assertEqual(r["id"], "w")
                self.assertNotIn("w", finals)
                continue
            self.assertNotIn(r["id"], finals)
            finals[r["id"]] = r
        self.assertEqual(sorted(finals), ["a", "b", "w"])
        for rid in finals:
            self.assertEqual(finals[rid]["results"][0]["state"],
                             "succeeded", rid)
        self.assertIn("stdout", finals["a"]["results"][0])
        self.assertNotIn("stdout", finals["b"]["results"][0])
        c.send_frame({"id": "q", "op": "ping"})
        self.assertEqual(c.read_reply(READ_S), {"id": "q", "ok": True})

    def test_output_frames_keep_their_order(self):
        # Many output frames and state frames of one job, on a
        # multiplexed connection: the stream reassembles exactly.
        c = self.mux()
        script = 'i=0; while [ $i -lt 300 ]; do echo "line $i"; ' \
                 'i=$((i+1)); done'
        job = self.ctl.ok("submit", argv=sh(script), delay_ms=300)["job"]
        rid = c.request("watch", job=job)
        frames, last = read_watch(c, rid)
        want = "".join("line %d\n" % i for i in range(300))
        self.assertEqual(output_of(frames, job, "stdout"), want)
        self.assertEqual(last["results"][0]["stdout"], want)
        states = [f["state"] for f in frames if f["event"] == "state"]
        self.assertEqual(states, ["queued", "running", "succeeded"])


class WatchStopTest(unittest.TestCase):
    """A watch ended by the server stopping: its last line is an error."""

    def test_server_stop(self):
        tmp = tempfile.mkdtemp(prefix="jqd-watch-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "go")
        with jqtest.Server() as server:
            ctl = jqtest.Client(server)
            job = ctl.ok("submit", argv=sh(BLOCK, path))["job"]
            c = jqtest.Client(server)
            rid = c.request("watch", job=job)
            self.assertEqual(c.read_reply(READ_S)["event"], "state")
            server.sigterm()
            frames, last = read_watch(c, rid)
            self.assertIs(last["ok"], False)
            self.assertEqual(last["error"]["code"], "shutting_down")
            open(path, "a").close()  # the job may end: jqd stops
            c.close()
            ctl.close()


MAX_OUTPUT = 32 * 1024 * 1024


class WatchLaggedTest(ServerTestCase):
    """A reader that does not read while a job writes a lot: jqd's memory
    stays bounded (max-conn-buffer), and once the reader reads, a lagged
    frame says what it missed."""

    server_args = ("--max-conn-buffer", "256KiB", "--max-output",
                   str(MAX_OUTPUT))

    def test_lagged(self):
        if jqtest.under_asan(self.server.proc.pid):
            self.skipTest("RSS is not comparable under ASan")
        tmp = tempfile.mkdtemp(prefix="jqd-watch-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "go")
        script = ('while [ ! -e "$0" ]; do sleep 0.05; done; '
                  'head -c %d /dev/zero | tr "\\0" a' % MAX_OUTPUT)
        job = self.ctl.ok("submit", argv=sh(script, path))["job"]
        c = self.connect()
        c.sock.setsockopt(jqtest.socket.SOL_SOCKET, jqtest.socket.SO_RCVBUF,
                          64 * 1024)
        rid = c.request("watch", job=job)
        wait_until(lambda: self.ctl.ok("job", job=job)["state"] ==
                   "running")
        before = jqtest.rss_kib(self.server.proc.pid)
        open(path, "a").close()
        wait_until(lambda: self.ctl.ok("job", job=job,
                                       reply_timeout=READ_S)["state"]
                   in FINAL, timeout=120)
        after = jqtest.rss_kib(self.server.proc.pid)
        # The job's own output is in memory (MAX_OUTPUT); the frames that
        # could not be written are not: without the bound they would be
        # as much again.
        grown_mib = (after - before) / 1024
        self.assertLess(grown_mib, MAX_OUTPUT / 2**20 + 16,
                        "jqd grew %.1f MiB" % grown_mib)
        frames, last = read_watch(c, rid, timeout=120)
        lagged = [f for f in frames if f["event"] == "lagged"]
        # The kernel's socket buffers take some frames meanwhile, so jqd
        # sees its buffer drain now and then: a lagged frame each time,
        # but never one per dropped frame.
        self.assertGreaterEqual(len(lagged), 1)
        self.assertLessEqual(len(lagged) * 2,
                             sum(f["dropped_frames"] for f in lagged),
                             lagged[:3])
        streamed = len(output_of(frames, job, "stdout"))
        dropped = sum(f["dropped_bytes"] for f in lagged)
        self.assertGreater(dropped, 0)
        self.assertGreater(sum(f["dropped_frames"] for f in lagged), 0)
        self.assertEqual(streamed + dropped, MAX_OUTPUT)
        states = [f["state"] for f in frames if f["event"] == "state"]
        self.assertEqual(states[-1], "succeeded")
        self.assertEqual(len(last["results"][0]["stdout"]), MAX_OUTPUT)


if __name__ == "__main__":
    unittest.main()
