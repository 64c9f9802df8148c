"""Jobs across a restart: queued jobs, interrupted jobs, finished results
and pending result_chan deliveries survive kill -9; SIGTERM lets running
jobs finish within shutdown_grace, then stops them and queues them again.
SPEC section 4, 5 and 6.

Each test keeps its database in a temporary directory and starts a second
jqd on it.  A job that was running when jqd was killed -9 keeps running
(it is in its own process group): it writes its pid to a file, and the
test kills that group itself.
"""

import ctypes
import os
import shutil
import signal
import tempfile
import threading
import time

import jqtest
from jqtest import wait_until

WAIT_MS = 60000
REPLY_S = 90
PR_SET_CHILD_SUBREAPER = 36
BLOCK = ('echo $$ >> "$1"; echo run >> "$2"; '
         'while [ ! -e "$0" ]; do sleep 0.05; done')


def gone(pid):
    """pid no longer runs: it does not exist, or is a zombie (its parent
    reaps it later)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def become_subreaper(test):
    """Orphans of the test's descendants become the test's children, for
    the rest of the test: the test reaps them itself (init may not)."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    if prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        test.skipTest("prctl(PR_SET_CHILD_SUBREAPER) failed")
    test.addCleanup(prctl, PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def reap(pid):
    """Reap pid if it is a child of ours that exited: (pid, wait status),
    or None while it runs."""
    try:
        found = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return found if found[0] == pid else None


def bury(pid):
    """Kill pid if it still runs, and reap it if it is a child of ours."""
    try:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def sh(script, *args):
    return ["sh", "-c", script] + [str(a) for a in (args or ("sh",))]


class RestartTest(jqtest.RestartTestCase):
    def setUp(self):
        super().setUp()
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
                    name="done", group="g1", env={"KEPT": "x"})["job"]
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
        # `job` is wait's result plus the env's names (1.4), restored too.
        restored = self.job(c, done)
        self.assertEqual(restored.pop("env_keys"), ["KEPT"])
        self.assertEqual(restored, before)
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
        wait_until(lambda: all(map(gone, procs)),
                   what="the crashed job's processes killed")
        self.assertIn("left running by the previous jqd",
                      server.stderr_text())
        r = self.job(c, jid)
        self.assertEqual((r["state"], r["error"]), ("failed", "interrupted"))

    def test_kill9_kills_group_its_dead_leader_left(self):
        # When jqd dies, a job's main process (the leader of its process
        # group) often dies too, of SIGPIPE at its next write to stdout,
        # while what it forked lives on in its group.  The restarted jqd
        # kills that group although the leader is gone: a pid is not
        # reused while a process group of that id has members, so on the
        # same boot they are the job's.  Attempt 2 then runs alone.
        #
        # The test reaps the dead leader itself (as init does on a real
        # host): a zombie leader would still look alive to jqd.
        become_subreaper(self)
        server, c = self.start("--workers", "1")
        fifo = self.path("go")
        os.mkfifo(fifo)
        script = (
            'if [ -e "$1" ]; then echo second; exit 0; fi\n'
            # A group member that ignores what a dying parent brings.
            'sh -c \'trap "" PIPE HUP TERM; echo $$ > "$0"; '
            'exec sleep 1000\' "$1" &\n'
            'echo $$ > "$2"\n'
            # Once jqd is gone: write to stdout, die of SIGPIPE.
            'read line < "$3"\n'
            'while echo x; do :; done\n')
        jid = c.ok("submit", argv=sh(script, "sh", self.path("child.pid"),
                                     self.path("leader.pids"), fifo),
                   retries=1)["job"]
        wait_until(lambda: c.ok("job", job=jid)["state"] == "running"
                   and self.read("child.pid").strip()
                   and self.read("leader.pids").strip(),
                   what="the job and its child running")
        leader = int(self.read("leader.pids"))
        child = int(self.read("child.pid"))
        self.addCleanup(bury, child)
        server.kill()
        c.close()

        def release():
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:     # ENXIO: the leader is not reading yet
                return False
            os.write(fd, b"go\n")
            os.close(fd)
            return True
        wait_until(release, what="the leader reading its fifo")
        _, status = wait_until(lambda: reap(leader),
                               what="the leader's end")
        self.assertTrue(os.WIFSIGNALED(status)
                        and os.WTERMSIG(status) == signal.SIGPIPE, status)
        self.assertFalse(gone(child))   # alive, in the leader's group

        server, c = self.start("--workers", "1")
        wait_until(lambda: gone(child),
                   what="the dead leader's group member killed")
        self.assertIn("left running by the previous jqd (its main "
                      "process had exited)", server.stderr_text())
        (r,) = self.wait(c, jid)
        self.assertEqual((r["state"], r["attempt"], r["stdout"]),
                         ("succeeded", 2, "second\n"), r)
        server.stop()
        self.assertEqual(server.problems(), [])

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
