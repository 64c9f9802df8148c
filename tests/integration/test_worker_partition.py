#!/usr/bin/env python3
"""A real jq-worker in its own network namespace, joined to jqd by a veth
pair (netns.py), and the link cut (PROTOCOL.md 11.16, failure semantics):

- a cut longer than the lease: the agent fences itself (its job's
  process dies before jqd can end the attempt), jqd ends the attempt at
  the lease and the job runs again on another agent (or fails
  `interrupted` without retries); after the heal the agent registers
  again and nothing of the old attempts is recorded;
- a cut shorter than the lease: nothing is lost, nothing runs twice.

The jobs are faultjob.py's: each run holds flock on a per-job lock file
for its whole life and the next run takes it with `flock -n`, so two
runs of one job alive at once leave an `overlaps` record.  Skipped where
network namespaces cannot be made (not root, no iproute2)."""

import os
import shutil
import tempfile
import time
import unittest

import faultjob
import netns
from jqtest import Client, Server, main, wait_until
from test_worker import Agent, pid_alive, read

REASON = netns.unavailable()
HEARTBEAT_MS = 200


class PartitionMixin:
    """jqd listening on the host's end of a veth pair, with a token."""
    lease_ms = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="jq-partition-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.rec = os.path.join(self.tmp, "records")
        os.mkdir(self.rec)
        self.link = netns.Link().open()
        self.addCleanup(self.link.close)
        # Not loopback: jqd wants a token, the agent gives it.
        self.token = os.path.join(self.tmp, "token")
        with open(self.token, "w") as f:
            f.write("partition-test-token\n")
        os.chmod(self.token, 0o600)
        self.server = Server(
            "--workers", "0", "--worker-heartbeat", "%dms" % HEARTBEAT_MS,
            "--worker-lease", "%dms" % self.lease_ms, "--kill-grace", "1s",
            "--token-file", self.token,
            listen_args=["--listen", self.link.host_ip + ":0",
                         "--unix", os.path.join(self.tmp, "jqd.sock")])
        self.server.start()
        self.addCleanup(self.server.check)
        self.ctl = Client(self.server, unix=True)
        self.addCleanup(self.ctl.close)

    def agent(self, worker, netns_side):
        """An agent in the namespace (over the veth, with the token) or
        on this side (the Unix socket); each in its own job directory,
        named after it."""
        jobs = os.path.join(self.tmp, worker)
        os.mkdir(jobs)
        if netns_side:
            args = ["-H", "%s:%d" % (self.link.host_ip, self.server.port),
                    "--token-file", self.token]
            prefix = ["ip", "netns", "exec", self.link.ns]
        else:
            args, prefix = ["-S", self.server.unix_path], []
        a = Agent(args, worker, ["p"], os.path.join(self.tmp, "state"),
                  jobs, slots=4, prefix=prefix)
        self.addCleanup(a.check, self)
        self.addCleanup(a.close)
        return a.registered()

    def submit(self, how, **fields):
        return self.ctl.ok("submit", pool="p", argv=faultjob.argv(self.rec, how),
                           **fields)["job"]

    def job(self, j):
        return self.ctl.ok("job", job=j)

    def wait_job(self, j, pred, what):
        return wait_until(lambda: pred(self.job(j)) and self.job(j),
                          what="job %d %s: %r" % (j, what, self.job(j)))

    def pid(self, j):
        p = os.path.join(self.rec, "pid.%d" % j)
        wait_until(lambda: os.path.exists(p), what="job %d started" % j)
        return int(read(p))

    def go(self, j):
        open(os.path.join(self.rec, "go.%d" % j), "w").close()

    def wait_end(self, j):
        """Until a run of job j has ended."""
        wait_until(lambda: any(r["end"] is not None for _, r in
                               faultjob.Runs(self.rec).of(j)),
                   what="a run of job %d ended" % j)


@unittest.skipIf(REASON is not None, "partition tests: %s" % REASON)
class LongCutTest(PartitionMixin, unittest.TestCase):
    lease_ms = 3000

    def test_cut_longer_than_the_lease(self):
        a = self.agent("inside", netns_side=True)
        j_retry = self.submit("wait", retries=1)
        j_last = self.submit("wait", retries=0)
        # Ends during the cut: its result cannot reach jqd.
        j_done = self.submit("wait", retries=1)
        pids = {j: self.pid(j) for j in (j_retry, j_last, j_done)}
        for j in pids:
            self.assertEqual(self.job(j)["worker"], "inside")
        os.unlink(os.path.join(self.rec, "pid.%d" % j_retry))
        os.unlink(os.path.join(self.rec, "pid.%d" % j_done))
        self.agent("outside", netns_side=False)
        n = len(a.lines)
        cut_at = time.monotonic()
        self.link.cut()
        self.go(j_done)
        self.wait_end(j_done)
        wait_until(lambda: not pid_alive(pids[j_retry]) and
                   not pid_alive(pids[j_last]), what="fenced")
        dead_after = time.monotonic() - cut_at
        dead_wall_ns = time.time_ns()
        # jqd renewed the lease at the last heartbeat it got, at most one
        # interval before the cut: the processes were dead before it can
        # have run out.
        self.assertLess(dead_after, (self.lease_ms - HEARTBEAT_MS) / 1000,
                        a.text())
        for j in pids:
            a.wait_log(r"job %d attempt 1: fenced: killed" % j, start=n)
        self.assertEqual(self.job(j_retry)["state"], "running")

        # At the lease jqd ends the attempts: again on the other agent,
        # or failed without retries.
        for j in (j_retry, j_done):
            self.wait_job(j, lambda r: r["attempt"] == 2 and
                          r["worker"] == "outside", "on attempt 2 outside")
        self.pid(j_retry)
        r = self.wait_job(j_last, lambda r: r["state"] == "failed",
                          "failed")
        self.assertEqual((r["error"], r["attempt"], r["worker"]),
                         ("interrupted", 1, "inside"))
        self.server.wait_log(r"job %d attempt 1 on worker inside: " % j_retry)

        # Heal: the agent registers again, holding nothing.
        self.link.heal()
        a.wait_log(r"registered as inside .*, 0 attempts held", start=n)
        self.go(j_retry)
        for j in (j_retry, j_done):
            r = self.wait_job(j, lambda r: r["state"] == "succeeded",
                              "succeeded")
            self.assertEqual((r["attempt"], r["worker"]), (2, "outside"))
            runs = faultjob.Runs(self.rec).of(j)
            self.assertEqual([k[1] for k, _ in runs], ["inside", "outside"])
            # The first run was dead (seen so by us) before the second
            # started; the result is the second's.
            self.assertLess(dead_wall_ns, runs[1][1]["start"])
            self.assertEqual(r["stdout"], "out %d outside %d\n"
                             % (j, runs[1][0][2]))
        self.assertEqual(faultjob.Runs(self.rec).overlaps, [])
        # The inside run of j_done ended; its result was dropped by the
        # fence, so jqd never heard of it.
        self.assertIsNotNone(faultjob.Runs(self.rec).of(j_done)[0][1]["end"])
        self.assertNotIn("job %d attempt 1: exited" % j_done,
                         self.server.stderr_text())
        self.assertIsNone(a.proc.poll())
        self.assertEqual(self.ctl.ok("workers")["workers"][0]["state"],
                         "active")


@unittest.skipIf(REASON is not None, "partition tests: %s" % REASON)
class ShortCutTest(PartitionMixin, unittest.TestCase):
    """A lease long enough that TCP's retransmission backoff after the
    heal stays well inside it."""
    lease_ms = 6000

    def test_cut_shorter_than_the_lease(self):
        a = self.agent("inside", netns_side=True)
        j_run = self.submit("wait", retries=3)
        j_fin = self.submit("wait", retries=3)
        pid = self.pid(j_run)
        self.pid(j_fin)
        cut_at = time.monotonic()
        self.link.cut()
        # Ends during the cut: its result goes out once the link is back
        # (the same connection: TCP retransmits it).
        self.go(j_fin)
        self.wait_end(j_fin)
        # The cut lasts a quarter of the lease: a fault's length, not a
        # wait for an event.
        time.sleep(max(0, self.lease_ms / 4000 -
                       (time.monotonic() - cut_at)))
        self.link.heal()
        self.go(j_run)
        for j in (j_run, j_fin):
            r = self.wait_job(j, lambda r: r["state"] == "succeeded",
                              "succeeded")
            self.assertEqual((r["attempt"], r["worker"]), (1, "inside"))
            runs = faultjob.Runs(self.rec).of(j)
            self.assertEqual(len(runs), 1, runs)
            self.assertEqual(r["stdout"], "out %d inside %d\n"
                             % (j, runs[0][0][2]))
        self.assertFalse(pid_alive(pid))
        self.assertNotIn("fenced", a.text())
        self.assertNotIn("registered as inside", a.text()[
            a.text().index("registered as inside") + 1:])
        self.assertEqual(faultjob.Runs(self.rec).overlaps, [])


if __name__ == "__main__":
    if not os.access(os.environ.get("JQ_WORKER", ""), os.X_OK):
        print("JQ_WORKER is not set to an executable; skipping")
        raise SystemExit(77)
    main(need_client=False)
