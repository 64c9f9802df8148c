"""Jobs across a restart: queued jobs, interrupted jobs, finished results
and pending result_chan deliveries survive kill -9; SIGTERM lets running
jobs finish within shutdown_grace, then stops them and queues them again.
SPEC section 4, 5 and 6.

Each test keeps its database in a temporary directory and starts a second
jqd on it.  A job that was running when jqd was killed -9 keeps running
(it is in its own process group): it writes its pid to a file, and the
test kills that group itself.
"""

import os
import shutil
import signal
import tempfile
import threading
import time
import unittest

import jqtest
from jqtest import Client, Server, wait_until

WAIT_MS = 60000
REPLY_S = 90
BLOCK = ('echo $$ >> "$1"; echo run >> "$2"; '
         'while [ ! -e "$0" ]; do sleep 0.05; done')


def sh(script, *args):
    return ["sh", "-c", script] + [str(a) for a in (args or ("sh",))]


class RestartTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="jqd-jobs-restart-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.files = tempfile.mkdtemp(prefix="jqd-jobs-files-")
        self.addCleanup(shutil.rmtree, self.files, True)
        # Last cleanup to run first: no job process outlives the test.
        self.addCleanup(self.kill_strays)

    def path(self, name):
        return os.path.join(self.files, name)

    def read(self, name):
        try:
            with open(self.path(name)) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def touch(self, name):
        with open(self.path(name), "a"):
            pass

    def kill_strays(self):
        """SIGKILL the process groups of every blocker that ran."""
        for name in os.listdir(self.files):
            if not name.endswith(".pids"):
                continue
            for pid in self.read(name).split():
                try:
                    os.killpg(int(pid), signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def start(self, *args):
        s = Server(*args, state_dir=self.dir)
        s.start()
        self.addCleanup(s.stop)
        c = Client(s)
        self.addCleanup(c.close)
        return s, c

    def blocker_argv(self, tag):
        """Runs until file `tag`.go exists; logs pids and runs."""
        return sh(BLOCK, self.path(tag + ".go"), self.path(tag + ".pids"),
                  self.path(tag + ".runs"))

    def job(self, c, jid):
        r = c.ok("job", job=jid)
        del r["id"], r["ok"]
        return r

    def wait(self, c, *ids):
        return c.ok("wait", reply_timeout=REPLY_S, jobs=list(ids),
                    timeout_ms=WAIT_MS)["results"]

    def wait_running(self, c, jid, tag):
        """Running, and its process has started (it logged its pid)."""
        wait_until(lambda: c.ok("job", job=jid)["state"] == "running"
                   and self.read(tag + ".pids").strip(),
                   what="job %d running" % jid)

    def test_kill9_restores_queued_interrupted_and_finished(self):
        s, c = self.start("--workers", "2")
        # A finished job whose result must survive as it is.
        done = c.ok("submit", argv=sh('echo 4 9 >&"$JQ_PROGRESS_FD"; '
                                      'echo out; echo err >&2; exit 3'),
                    name="done", group="g1")["job"]
        (before,) = self.wait(c, done)
        self.assertEqual(before["state"], "failed")
        # Both workers held: one job with a retry left, one without.  The
        # first outranks the queued jobs, so after the restart it takes a
        # worker again and they run one by one on the other.
        again = c.ok("submit", argv=self.blocker_argv("again"),
                     retries=1, priority=10)["job"]
        lost = c.ok("submit", argv=self.blocker_argv("lost"))["job"]
        self.wait_running(c, again, "again")
        self.wait_running(c, lost, "lost")
        order = self.path("order")
        queued = []
        for name, prio in (("q1", 0), ("q2", 5), ("q3", 0), ("q4", 5),
                           ("q5", -1)):
            queued.append(c.ok("submit", argv=sh('echo "$1" >> "$0"',
                                                 order, name),
                               priority=prio, name=name)["job"])
        for jid in queued:
            self.assertEqual(c.ok("job", job=jid)["state"], "queued")
        s.kill()
        c.close()
        # The old job processes are orphans now; they must not be the
        # ones that finish after the restart.
        self.kill_strays()

        s, c = self.start("--workers", "2")
        self.assertEqual(self.job(c, done), before)
        r = self.job(c, lost)
        self.assertEqual((r["state"], r["error"], r["attempt"]),
                         ("failed", "interrupted", 1), r)
        self.assertIsNone(r["exit_code"])
        # The one with a retry left runs again, as attempt 2.
        self.wait_running(c, again, "again")
        wait_until(lambda: self.read("again.runs") == "run\nrun\n",
                   what="second run of the interrupted job")
        self.assertEqual(c.ok("job", job=again)["attempt"], 2)
        # The queued ones run on the other worker, one by one, in
        # priority order then submission order.
        for res in self.wait(c, *queued):
            self.assertEqual((res["state"], res["attempt"]),
                             ("succeeded", 1), res)
        self.assertEqual(self.read("order").split(),
                         ["q2", "q4", "q1", "q3", "q5"])
        self.assertEqual(c.ok("job", job=again)["state"], "running")
        self.touch("again.go")
        (r,) = self.wait(c, again)
        self.assertEqual((r["state"], r["attempt"]), ("succeeded", 2), r)
        self.assertEqual(self.read("lost.runs"), "run\n")
        # Ids go on after the restored ones.
        nxt = c.ok("submit", argv=["true"])["job"]
        self.assertGreater(nxt, max(queued))
        s.stop()
        self.assertEqual(s.problems(), [])

    def test_kill9_leaves_no_orphans(self):
        # A job (and a child it forked) still running when jqd is killed
        # are killed when jqd comes back: no orphan survives a crash.
        server, c = self.start("--workers", "1")
        pids = self.path("orphan.pids")
        jid = c.ok("submit", argv=["sh", "-c", 'sleep 300 & echo $$ $! > '
                                   '"$1"; wait', "sh", pids])["job"]
        wait_until(lambda: c.ok("job", job=jid)["state"] == "running"
                   and len(self.read("orphan.pids").split()) == 2,
                   what="the job and its child running")
        procs = [int(p) for p in self.read("orphan.pids").split()]
        server.kill()
        for p in procs:
            os.kill(p, 0)          # still alive, unsupervised
        server, c = self.start("--workers", "1")

        def gone():
            for p in procs:
                try:
                    os.kill(p, 0)
                except ProcessLookupError:
                    continue
                # A zombie is dead too (its parent reaps it later).
                with open("/proc/%d/stat" % p) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        return False
            return True
        wait_until(gone, what="the crashed job's processes killed")
        self.assertIn("left running by the previous jqd",
                      server.stderr_text())
        r = self.job(c, jid)
        self.assertEqual((r["state"], r["error"]), ("failed", "interrupted"))

    def test_kill9_keeps_pending_result_delivery(self):
        s, c = self.start("--workers", "1")
        c.ok("make", chan="results", cap=1)
        c.ok("send", chan="results", value="filler")
        jid = c.ok("submit", argv=sh("echo delivered"), name="r",
                   result_chan="results")["job"]
        (res,) = self.wait(c, jid)
        self.assertEqual(res["state"], "succeeded")
        self.assertEqual(c.ok("stat", chan="results")["len"], 1)
        s.kill()
        c.close()

        s, c = self.start("--workers", "1")
        self.assertEqual(c.ok("stat", chan="results")["len"], 1)
        self.assertEqual(c.ok("recv", chan="results", timeout_ms=0)["value"],
                         "filler")
        v = c.ok("recv", chan="results", timeout_ms=WAIT_MS,
                 reply_timeout=REPLY_S)["value"]
        self.assertIsInstance(v, dict)
        self.assertEqual((v["job"], v["state"], v["exit_code"], v["stdout"],
                          v["name"]), (jid, "succeeded", 0, "delivered\n", "r"))
        # Exactly once, also after one more restart.
        c.error("recv", "timeout", chan="results", timeout_ms=200)
        s.kill()
        c.close()
        s, c = self.start("--workers", "1")
        c.error("recv", "timeout", chan="results", timeout_ms=200)
        s.stop()
        self.assertEqual(s.problems(), [])

    def test_sigterm_requeues_running_job(self):
        args = ("--workers", "1", "--shutdown-grace", "300ms",
                "--kill-grace", "300ms")
        s, c = self.start(*args)
        jid = c.ok("submit", argv=self.blocker_argv("b"), retries=0)["job"]
        self.wait_running(c, jid, "b")
        after = c.ok("submit", argv=sh('echo ran >> "$0"',
                                       self.path("after")))["job"]
        c.close()
        t0 = time.monotonic()
        s.stop()
        self.assertLess(time.monotonic() - t0, 8)
        self.assertEqual(s.returncode, 0, s.stderr_text())
        self.assertEqual(s.problems(), [])
        self.assertEqual(self.read("after"), "")

        restarted_ms = int(time.time() * 1000)
        s, c = self.start(*args)
        # Queued again, as the same attempt (not a failure, not a retry).
        self.wait_running(c, jid, "b")
        wait_until(lambda: self.read("b.runs") == "run\nrun\n",
                   what="the stopped job runs again")
        r = self.job(c, jid)
        self.assertEqual((r["state"], r["attempt"]), ("running", 1), r)
        self.touch("b.go")
        rj, ra = self.wait(c, jid, after)
        self.assertEqual((rj["state"], rj["attempt"], rj["exit_code"]),
                         ("succeeded", 1, 0), rj)
        self.assertEqual(ra["state"], "succeeded", ra)
        self.assertGreaterEqual(rj["started_ms"], restarted_ms - 1000)
        self.assertEqual(self.read("after"), "ran\n")
        s.stop()
        self.assertEqual(s.returncode, 0)
        self.assertEqual(s.problems(), [])

    def test_sigterm_lets_running_job_finish_within_grace(self):
        args = ("--workers", "1", "--shutdown-grace", "20s")
        s, c = self.start(*args)
        jid = c.ok("submit", argv=self.blocker_argv("b"))["job"]
        self.wait_running(c, jid, "b")
        queued = c.ok("submit", argv=sh('echo ran >> "$0"',
                                        self.path("queued")))["job"]
        stopper = threading.Thread(target=s.stop)    # SIGTERM, then wait
        stopper.start()
        wait_until(lambda: any("SIGTERM" in l for l in s.log_lines),
                   what="jqd logs that it is stopping")
        # It waits for the job (still running: its pid is alive); new
        # requests are refused meanwhile.
        c.error("submit", "shutting_down", argv=["true"])
        c.error("job", "shutting_down", job=jid)
        self.assertTrue(s.alive())
        os.kill(int(self.read("b.pids").split()[0]), 0)
        self.touch("b.go")
        stopper.join(30)
        self.assertFalse(stopper.is_alive())
        self.assertEqual(s.returncode, 0, s.stderr_text())
        self.assertEqual(s.problems(), [])
        # The queued job did not start during the grace.
        self.assertEqual(self.read("queued"), "")

        restarted_ms = int(time.time() * 1000)
        s, c = self.start(*args)
        r = self.job(c, jid)
        self.assertEqual((r["state"], r["attempt"]), ("succeeded", 1), r)
        self.assertEqual(self.read("b.runs"), "run\n")
        (rq,) = self.wait(c, queued)
        self.assertEqual(rq["state"], "succeeded")
        self.assertGreaterEqual(rq["started_ms"], restarted_ms - 1000)
        self.assertEqual(self.read("queued"), "ran\n")
        s.stop()
        self.assertEqual(s.problems(), [])

    def test_retention_applies_on_start(self):
        s, c = self.start("--workers", "2")
        c.ok("make", chan="full", cap=1)
        c.ok("send", chan="full", value="filler")
        parent = c.ok("submit", argv=["true"], key="k1", group="old")["job"]
        child = c.ok("submit", argv=["true"], parent=parent,
                     group="old")["job"]
        undelivered = c.ok("submit", argv=["true"],
                           result_chan="full")["job"]
        self.wait(c, parent, child, undelivered)
        s.stop()
        self.assertEqual(s.problems(), [])

        s, c = self.start("--workers", "2", "--job-retention", "1ms")
        c.error("job", "not_found", job=parent)
        c.error("job", "not_found", job=child)
        self.assertEqual(c.ok("group", group="old")["total"], 0)
        r = c.ok("submit", argv=["true"], key="k1")
        self.assertNotIn("duplicate", r)
        self.assertGreater(r["job"], undelivered)
        # A result still on its way is kept until delivered.
        self.assertEqual(c.ok("job", job=undelivered)["state"], "succeeded")
        self.assertEqual(c.ok("recv", chan="full")["value"], "filler")
        v = c.ok("recv", chan="full", timeout_ms=WAIT_MS,
                 reply_timeout=REPLY_S)["value"]
        self.assertEqual(v["job"], undelivered)
        self.wait(c, r["job"])
        s.stop()
        self.assertEqual(s.problems(), [])


if __name__ == "__main__":
    jqtest.main()
