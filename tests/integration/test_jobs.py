"""Jobs: submit, job, jobs, group, cancel and wait; the pool, deadlines,
the context tree, retries, output capture, the job environment and
result_chan delivery.  SPEC section 4 and 8.

Jobs are small `sh -c` scripts that talk to the test through files in a
per-test temporary directory.  A "blocker" is a job that runs until the
test creates a file, so a test can hold a worker for exactly as long as it
needs; every test releases its blockers and cancels its long jobs on
cleanup, so one failing test does not starve the next.
"""

import os
import shutil
import tempfile
import time
import unittest

import jqtest
from jqtest import ServerTestCase, wait_until

# Generous: a job that must finish gets this long (ms) in a blocking wait.
WAIT_MS = 60000
REPLY_S = 90


def sh(script, *args):
    """argv running script with /bin/sh; $0, $1... are args."""
    return ["sh", "-c", script] + [str(a) for a in (args or ("sh",))]


BLOCK = 'while [ ! -e "$0" ]; do sleep 0.05; done'


def now_ms():
    return int(time.time() * 1000)


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    # The state follows the parenthesised command name.
    return stat[stat.rindex(")") + 2] != "Z"


class JobTestCase(ServerTestCase):
    """Helpers shared by the job test classes."""

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="jqd-jobs-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def read(self, name):
        try:
            with open(self.path(name)) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def touch(self, name):
        with open(self.path(name), "a"):
            pass

    def submit(self, argv, **fields):
        r = self.ctl.ok("submit", argv=argv, **fields)
        self.assertInt(r["job"], r)
        self.assertNotIn("duplicate", r)
        return r["job"]

    def job(self, jid):
        return self.ctl.ok("job", job=jid)

    def wait(self, *ids):
        """Block until the jobs are final; their results in id order."""
        r = self.ctl.ok("wait", reply_timeout=REPLY_S, jobs=list(ids),
                        timeout_ms=WAIT_MS)
        return r["results"]

    def wait1(self, jid):
        (res,) = self.wait(jid)
        self.assertEqual(res["job"], jid)
        return res

    def wait_state(self, jid, state):
        def reached():
            r = self.job(jid)
            return r if r["state"] == state else None
        return wait_until(reached, what="job %d %s" % (jid, state))

    def long_job(self, **fields):
        """A job that runs until canceled (canceled on cleanup)."""
        jid = self.submit(["sleep", "300"], **fields)
        self.addCleanup(self.ctl.call, "cancel", job=jid)
        return jid

    def blocker(self, name="release", **fields):
        """A running job that ends once the file `name` exists; returns
        its id.  Released on cleanup."""
        jid = self.submit(sh(BLOCK, self.path(name)), **fields)
        self.addCleanup(self.release, jid, name)
        self.wait_state(jid, "running")
        return jid

    def release(self, jid, name):
        """Cleanup of a blocker: release it, and make sure it has ended
        before its directory goes (it might not see the file in time)."""
        self.touch(name)
        self.ctl.call("cancel", job=jid)
        self.ctl.call("wait", jobs=[jid], timeout_ms=WAIT_MS,
                      reply_timeout=REPLY_S)

    def assertFinal(self, res, state):
        self.assertEqual(res["state"], state, res)
        self.assertInt(res["finished_ms"], res)


class JobBasicsTest(JobTestCase):
    server_args = ("--workers", "4", "--kill-grace", "300ms",
                   "--retry-delay", "50ms", "--max-output", "1K")

    # -- result object ----------------------------------------------------

    def test_result_object_of_a_succeeded_job(self):
        before = now_ms()
        g = self.name("g")
        jid = self.submit(sh("echo out; echo err >&2"), name="hello",
                          group=g, priority=3)
        res = self.wait1(jid)
        after = now_ms()
        self.assertFinal(res, "succeeded")
        self.assertEqual(res["exit_code"], 0)
        self.assertIsNone(res["signal"])
        self.assertIsNone(res["error"])
        self.assertEqual((res["stdout"], res["stderr"]), ("out\n", "err\n"))
        self.assertEqual((res["stdout_truncated"], res["stderr_truncated"]),
                         (False, False))
        self.assertIsNone(res["progress"])
        self.assertEqual(res["attempt"], 1)
        self.assertEqual(res["name"], "hello")
        self.assertEqual(res["group"], g)
        self.assertEqual(res["priority"], 3)
        self.assertIsNone(res["parent"])
        self.assertIsNone(res["deadline_ms"])
        # Unix ms, in order.
        self.assertLessEqual(before - 1000, res["submitted_ms"])
        self.assertLessEqual(res["submitted_ms"], res["started_ms"])
        self.assertLessEqual(res["started_ms"], res["finished_ms"])
        self.assertLessEqual(res["finished_ms"], after + 1000)
        # `job` answers the same object, and the names of its env (1.4:
        # only `job` has env_keys, PROTOCOL.md 11.10).
        r = self.job(jid)
        del r["id"], r["ok"]
        self.assertNotIn("env_keys", res)
        self.assertEqual(r.pop("env_keys"), [])
        self.assertEqual(r, res)

    def test_exit_code_failed(self):
        res = self.wait1(self.submit(sh("echo no >&2; exit 3")))
        self.assertFinal(res, "failed")
        self.assertEqual((res["exit_code"], res["signal"]), (3, None))
        self.assertEqual(res["stderr"], "no\n")

    def test_job_unknown_and_bad_ids(self):
        self.ctl.error("job", "not_found", job=10 ** 12)
        for bad in (None, 0, -1, 1.5, "1", True, [1]):
            self.ctl.error("job", "bad_request", job=bad)
        self.ctl.error("job", "bad_request")

    # -- deadlines ----------------------------------------------------------

    def test_deadline_while_running(self):
        t0 = time.monotonic()
        jid = self.submit(["sleep", "30"], timeout_ms=300)
        res = self.wait1(jid)
        self.assertLess(time.monotonic() - t0, 20)
        self.assertFinal(res, "deadline_exceeded")
        self.assertIsNone(res["exit_code"])
        self.assertEqual(res["deadline_ms"], res["submitted_ms"] + 300)
        self.assertInt(res["started_ms"])
        self.assertLess(res["finished_ms"] - res["started_ms"], 20000)

    def test_deadline_ms_absolute_and_earlier_wins(self):
        # deadline_ms earlier than timeout_ms: deadline_ms wins.
        dl = now_ms() + 300
        a = self.submit(["sleep", "30"], timeout_ms=600000, deadline_ms=dl)
        # timeout_ms earlier than deadline_ms: timeout_ms wins.
        b = self.submit(["sleep", "30"], timeout_ms=300,
                        deadline_ms=now_ms() + 600000)
        # deadline_ms alone.
        c = self.submit(["sleep", "30"], deadline_ms=now_ms() + 300)
        ra, rb, rc = self.wait(a, b, c)
        self.assertEqual(ra["deadline_ms"], dl)
        self.assertEqual(rb["deadline_ms"], rb["submitted_ms"] + 300)
        for r in (ra, rb, rc):
            self.assertFinal(r, "deadline_exceeded")
            self.assertLess(r["finished_ms"] - r["submitted_ms"], 20000)

    def test_deadline_already_passed_never_runs(self):
        jid = self.submit(sh("echo ran >> \"$0\"", self.path("ran")),
                          deadline_ms=now_ms() - 1000)
        res = self.wait1(jid)
        self.assertFinal(res, "deadline_exceeded")
        self.assertIsNone(res["started_ms"])
        self.assertEqual(self.read("ran"), "")

    def test_run_timeout(self):
        res = self.wait1(self.submit(["sleep", "30"], run_timeout_ms=300))
        self.assertFinal(res, "deadline_exceeded")
        self.assertEqual(res["error"], "run_timeout")
        self.assertIsNone(res["exit_code"])
        self.assertIsNone(res["deadline_ms"])
        self.assertGreaterEqual(res["finished_ms"] - res["started_ms"], 250)
        self.assertLess(res["finished_ms"] - res["started_ms"], 20000)

    def test_run_timeout_counts_from_start(self):
        # Started after 700 ms of delay, it finishes well within its
        # 500 ms run timeout: the run timeout does not count the delay.
        res = self.wait1(self.submit(["true"], delay_ms=700,
                                     run_timeout_ms=500))
        self.assertFinal(res, "succeeded")
        self.assertGreaterEqual(res["started_ms"] - res["submitted_ms"], 700)

    def test_sigterm_ignored_then_sigkill_after_grace(self):
        # The job ignores SIGTERM (its sleep inherits the ignore): only the
        # SIGKILL that follows kill_grace (300 ms) ends it.
        jid = self.submit(sh("trap '' TERM; echo up; sleep 30"),
                          timeout_ms=1500)
        res = self.wait1(jid)
        self.assertFinal(res, "deadline_exceeded")
        self.assertEqual(res["stdout"], "up\n")
        self.assertGreaterEqual(res["finished_ms"] - res["deadline_ms"], 250)
        self.assertLess(res["finished_ms"] - res["deadline_ms"], 20000)

    def test_deadline_sends_sigterm_first(self):
        # A job that handles SIGTERM sees it before anything else.
        script = ("trap 'echo term; exit 0' TERM; echo up; "
                  "while :; do sleep 0.05; done")
        jid = self.submit(sh(script), timeout_ms=1500)
        res = self.wait1(jid)
        self.assertFinal(res, "deadline_exceeded")
        self.assertEqual(res["stdout"], "up\nterm\n")

    # -- cancel -------------------------------------------------------------

    def test_cancel_running_job(self):
        script = ("trap 'echo term; exit 0' TERM; echo up; "
                  "while :; do sleep 0.05; done")
        jid = self.submit(sh(script))
        wait_until(lambda: self.job(jid)["stdout"] == "up\n",
                   what="job running its trap")
        self.assertEqual(self.ctl.ok("cancel", job=jid)["canceled"], 1)
        res = self.wait1(jid)
        # It exited 0 on SIGTERM, but it was canceled.
        self.assertFinal(res, "canceled")
        self.assertEqual(res["stdout"], "up\nterm\n")

    def test_cancel_finished_job_leaves_it_alone(self):
        jid = self.submit(["true"])
        self.assertFinal(self.wait1(jid), "succeeded")
        self.assertEqual(self.ctl.ok("cancel", job=jid)["canceled"], 0)
        res = self.job(jid)
        self.assertEqual((res["state"], res["exit_code"]), ("succeeded", 0))

    def test_cancel_unknown_and_bad(self):
        self.ctl.error("cancel", "not_found", job=10 ** 12)
        self.assertEqual(self.ctl.ok("cancel", group=self.name("nog"))
                         ["canceled"], 0)
        self.ctl.error("cancel", "bad_request")
        self.ctl.error("cancel", "bad_request", job=1, group="g")
        self.ctl.error("cancel", "bad_request", job="1")
        self.ctl.error("cancel", "bad_request", group="bad group")
        self.ctl.error("cancel", "bad_request", group=5)

    def test_cancel_group(self):
        g = self.name("g")
        done = self.submit(["true"], group=g)
        self.assertFinal(self.wait1(done), "succeeded")
        a = self.long_job(group=g)
        b = self.long_job(group=g)
        self.wait_state(a, "running")
        other = self.long_job(group=self.name("other"))
        self.assertEqual(self.ctl.ok("cancel", group=g)["canceled"], 2)
        ra, rb = self.wait(a, b)
        self.assertFinal(ra, "canceled")
        self.assertFinal(rb, "canceled")
        self.assertEqual(self.job(done)["state"], "succeeded")
        self.assertIn(self.job(other)["state"], ("queued", "running"))
        gr = self.ctl.ok("group", group=g)
        self.assertEqual((gr["total"], gr["canceled"], gr["succeeded"]),
                         (3, 2, 1))

    def test_cancel_parent_cascades_to_grandchildren(self):
        parent = self.long_job()
        child = self.long_job(parent=parent)
        grandchild = self.long_job(parent=child)
        self.wait_state(parent, "running")
        unrelated = self.long_job()
        self.assertEqual(self.ctl.ok("cancel", job=parent)["canceled"], 3)
        for res in self.wait(parent, child, grandchild):
            self.assertFinal(res, "canceled")
        self.assertEqual(self.job(child)["parent"], parent)
        self.assertEqual(self.job(grandchild)["parent"], child)
        self.assertIn(self.job(unrelated)["state"], ("queued", "running"))

    def test_cancel_counts_every_job_it_ends(self):
        # Queued jobs whose cancellation cascades were left out of the
        # count (the cascade's own count was dropped).
        later = 600000
        for running in (False, True):
            with self.subTest(parent_running=running):
                parent = (self.long_job() if running
                          else self.long_job(delay_ms=later))
                if running:
                    self.wait_state(parent, "running")
                child = self.long_job(parent=parent, delay_ms=later)
                grandchild = self.long_job(parent=child, delay_ms=later)
                self.assertEqual(self.ctl.ok("cancel", job=parent)
                                 ["canceled"], 3)
                for res in self.wait(parent, child, grandchild):
                    self.assertFinal(res, "canceled")
        g = self.name("g")
        parent = self.long_job(group=g, delay_ms=later)
        self.long_job(group=g, parent=parent, delay_ms=later)
        self.assertEqual(self.ctl.ok("cancel", group=g)["canceled"], 2)

    def test_cancel_child_leaves_parent(self):
        parent = self.long_job()
        child = self.long_job(parent=parent)
        self.assertEqual(self.ctl.ok("cancel", job=child)["canceled"], 1)
        self.assertFinal(self.wait1(child), "canceled")
        self.assertIn(self.job(parent)["state"], ("queued", "running"))

    def test_child_deadline_capped_by_parent(self):
        parent = self.long_job(timeout_ms=600000)
        pdl = self.job(parent)["deadline_ms"]
        self.assertEqual(pdl, self.job(parent)["submitted_ms"] + 600000)
        later = self.long_job(parent=parent, deadline_ms=pdl + 3600000)
        self.assertEqual(self.job(later)["deadline_ms"], pdl)
        later2 = self.long_job(parent=parent, timeout_ms=3600000)
        self.assertEqual(self.job(later2)["deadline_ms"], pdl)
        unset = self.long_job(parent=parent)
        self.assertEqual(self.job(unset)["deadline_ms"], pdl)
        earlier = self.long_job(parent=parent, timeout_ms=300000)
        r = self.job(earlier)
        self.assertEqual(r["deadline_ms"], r["submitted_ms"] + 300000)
        self.assertLess(r["deadline_ms"], pdl)

    def test_child_of_short_parent_ends_with_it(self):
        parent = self.submit(["sleep", "30"], timeout_ms=400)
        child = self.long_job(parent=parent)
        self.assertEqual(self.job(child)["deadline_ms"],
                         self.job(parent)["deadline_ms"])
        rp, rc = self.wait(parent, child)
        self.assertFinal(rp, "deadline_exceeded")
        self.assertIn(rc["state"], ("deadline_exceeded", "canceled"))

    def test_unknown_parent(self):
        self.ctl.error("submit", "not_found", argv=["true"], parent=10 ** 12)

    # -- idempotency, delay -----------------------------------------------

    def test_idempotent_submit(self):
        key = self.name("key")
        argv = sh('echo run >> "$0"', self.path("runs"))
        r1 = self.ctl.ok("submit", argv=argv, key=key)
        self.assertNotIn("duplicate", r1)
        r2 = self.ctl.ok("submit", argv=argv, key=key)
        self.assertEqual(r2["job"], r1["job"])
        self.assertIs(r2.get("duplicate"), True)
        self.assertFinal(self.wait1(r1["job"]), "succeeded")
        # Still a duplicate once the job is final (it is retained).
        r3 = self.ctl.ok("submit", argv=["false"], key=key)
        self.assertEqual((r3["job"], r3.get("duplicate")), (r1["job"], True))
        self.assertEqual(self.job(r1["job"])["state"], "succeeded")
        # Another key is another job.
        r4 = self.ctl.ok("submit", argv=argv, key=key + "x")
        self.assertNotEqual(r4["job"], r1["job"])
        self.assertFinal(self.wait1(r4["job"]), "succeeded")
        self.assertEqual(self.read("runs"), "run\nrun\n")

    def test_delay(self):
        res = self.wait1(self.submit(["true"], delay_ms=500))
        self.assertFinal(res, "succeeded")
        self.assertGreaterEqual(res["started_ms"] - res["submitted_ms"], 500)

    def test_delay_and_deadline_count_from_submission_when_busy(self):
        # The submits are read in the same batch as slow requests (listing
        # thousands of channels): their delay and deadline still count from
        # the submission, not from when the server's loop last woke up.
        prefix = self.name("busy") + "-"
        names = [prefix + str(i) for i in range(1500)]
        for r in self.ctl.pipeline([{"op": "make", "chan": n, "cap": 1}
                                    for n in names]):
            self.assertTrue(r["ok"], r)
        self.addCleanup(self.ctl.pipeline, [{"op": "drop", "chan": n}
                                            for n in names])
        frames = [{"op": "chans", "prefix": prefix} for _ in range(3)]
        frames += [{"op": "submit", "argv": ["true"], "delay_ms": 300},
                   {"op": "submit", "argv": ["sleep", "30"],
                    "timeout_ms": 300}]
        replies = self.ctl.pipeline(frames, timeout=REPLY_S)
        for r in replies:
            self.assertTrue(r["ok"], r)
        delayed, deadlined = self.wait(replies[-2]["job"], replies[-1]["job"])
        self.assertFinal(delayed, "succeeded")
        self.assertGreaterEqual(
            delayed["started_ms"] - delayed["submitted_ms"], 300, delayed)
        self.assertFinal(deadlined, "deadline_exceeded")
        self.assertGreaterEqual(deadlined["finished_ms"],
                                deadlined["deadline_ms"], deadlined)

    def test_delay_then_deadline(self):
        # The deadline passes during the delay: the job never starts.
        res = self.wait1(self.submit(["true"], delay_ms=600000,
                                     timeout_ms=300))
        self.assertFinal(res, "deadline_exceeded")
        self.assertIsNone(res["started_ms"])

    # -- wait ---------------------------------------------------------------

    def test_wait_group_results_in_id_order(self):
        g = self.name("g")
        # Finishing order c, b, a: results still come by id.
        a = self.submit(sh('while [ ! -e "$0" ]; do sleep 0.05; done',
                           self.path("b-done")), group=g)
        b = self.submit(sh('while [ ! -e "$0" ]; do sleep 0.05; done; '
                           'touch "$1"', self.path("c-done"),
                           self.path("b-done")), group=g)
        c = self.submit(sh('touch "$0"', self.path("c-done")), group=g)
        r = self.ctl.ok("wait", reply_timeout=REPLY_S, group=g,
                        timeout_ms=WAIT_MS)
        self.assertEqual([x["job"] for x in r["results"]], [a, b, c])
        for x in r["results"]:
            self.assertFinal(x, "succeeded")
            self.assertIn("stdout", x)
        # finished c <= b <= a.
        fin = [x["finished_ms"] for x in r["results"]]
        self.assertEqual(fin, sorted(fin, reverse=True))
        # A list of ids in any order, duplicates too: id order, once each.
        r = self.ctl.ok("wait", jobs=[c, a, b, a], timeout_ms=0)
        self.assertEqual([x["job"] for x in r["results"]], [a, b, c])

    def test_wait_blocks_until_all_final(self):
        g = self.name("g")
        a = self.submit(["true"], group=g)
        b = self.blocker(group=g)
        waiter = self.connect()
        rid = waiter.request("wait", group=g)
        self.assertNoReply(waiter)
        self.assertFinal(self.wait1(a), "succeeded")
        self.assertNoReply(waiter)
        self.touch("release")
        r = waiter.reply_to(rid, REPLY_S)
        self.assertTrue(r["ok"], r)
        self.assertEqual([(x["job"], x["state"]) for x in r["results"]],
                         [(a, "succeeded"), (b, "succeeded")])

    def test_wait_unknown_group_answers_at_once(self):
        r = self.ctl.ok("wait", reply_timeout=10, group=self.name("none"))
        self.assertEqual(r["results"], [])

    def test_wait_timeout_reports_pending(self):
        done = self.submit(["true"])
        self.wait1(done)
        a = self.long_job()
        b = self.long_job()
        err = self.ctl.error("wait", "timeout", jobs=[done, a, b],
                             timeout_ms=200)
        self.assertEqual(err["pending"], 2)
        err = self.ctl.error("wait", "timeout", jobs=[a], timeout_ms=0)
        self.assertEqual(err["pending"], 1)
        g = self.name("g")
        self.long_job(group=g)
        self.submit(["true"], group=g)
        err = self.ctl.error("wait", "timeout", group=g, timeout_ms=100)
        self.assertIn(err["pending"], (1, 2))

    def test_wait_errors(self):
        done = self.submit(["true"])
        self.ctl.error("wait", "not_found", jobs=[done, 10 ** 12])
        self.ctl.error("wait", "bad_request", jobs=[])
        self.ctl.error("wait", "bad_request", jobs=done)
        self.ctl.error("wait", "bad_request", jobs=["1"])
        self.ctl.error("wait", "bad_request", jobs=[0])
        self.ctl.error("wait", "bad_request")
        self.ctl.error("wait", "bad_request", jobs=[done], group="g")
        self.ctl.error("wait", "bad_request", group="no spaces")
        for bad in (-1, 1.5, "10", True):
            self.ctl.error("wait", "bad_request", jobs=[done],
                           timeout_ms=bad)

    def test_wait_abandoned_by_closed_connection(self):
        jid = self.long_job()
        waiting = self.ctl.ok("stats")["waiting"]
        c = self.connect()
        c.request("wait", jobs=[jid])
        self.wait_stats(waiting=waiting + 1)
        c.close()
        self.wait_stats(waiting=waiting)
        # The job ends after the waiter is gone: nothing may touch it.
        self.assertEqual(self.ctl.ok("cancel", job=jid)["canceled"], 1)
        self.assertFinal(self.wait1(jid), "canceled")
        self.ctl.ok("ping")
        res = self.wait1(self.submit(["true"]))
        self.assertFinal(res, "succeeded")

    # -- progress -------------------------------------------------------------

    def test_progress(self):
        g = self.name("g")
        a = self.submit(sh('echo 3 10 >&"$JQ_PROGRESS_FD"; '
                           'echo 7 10 >&"$JQ_PROGRESS_FD"'), group=g)
        b = self.submit(sh('echo 5 >&"$JQ_PROGRESS_FD"'), group=g)
        c = self.submit(["true"], group=g)
        ra, rb, rc = self.wait(a, b, c)
        self.assertEqual(ra["progress"], {"done": 7, "total": 10})
        self.assertEqual(rb["progress"], {"done": 5, "total": None})
        self.assertIsNone(rc["progress"])
        gr = self.ctl.ok("group", group=g)
        self.assertEqual(gr["progress"], {"done": 12, "total": 10})
        self.assertEqual(gr["group"], g)
        self.assertEqual((gr["total"], gr["succeeded"]), (3, 3))

    def test_progress_while_running(self):
        g = self.name("g")
        jid = self.submit(sh('echo 3 10 >&"$JQ_PROGRESS_FD"; ' + BLOCK,
                             self.path("release")), group=g)
        self.addCleanup(self.release, jid, "release")
        wait_until(lambda: self.job(jid)["progress"] ==
                   {"done": 3, "total": 10}, what="live progress")
        gr = self.ctl.ok("group", group=g)
        self.assertEqual((gr["running"], gr["total"]), (1, 1))
        self.assertEqual(gr["progress"], {"done": 3, "total": 10})
        self.touch("release")
        self.assertEqual(self.wait1(jid)["progress"], {"done": 3, "total": 10})

    def test_group_counts(self):
        g = self.name("g")
        ok = self.submit(["true"], group=g)
        bad = self.submit(["false"], group=g)
        dl = self.submit(["sleep", "30"], group=g, timeout_ms=200)
        self.wait(ok, bad, dl)
        running = self.long_job(group=g)
        self.wait_state(running, "running")
        gr = self.ctl.ok("group", group=g)
        del gr["id"], gr["ok"]
        self.assertEqual(gr, {
            "group": g, "total": 4, "queued": 0, "running": 1,
            "succeeded": 1, "failed": 1, "deadline_exceeded": 1,
            "canceled": 0, "progress": {"done": 0, "total": 0}})
        empty = self.ctl.ok("group", group=self.name("none"))
        self.assertEqual((empty["total"], empty["queued"]), (0, 0))
        self.ctl.error("group", "bad_request")

    # -- retries --------------------------------------------------------------

    COUNTER = ('n=$(cat "$0" 2>/dev/null || echo 0); n=$((n+1)); '
               'echo $n > "$0"; echo "try $n"; [ $n -ge 3 ]')

    def test_retries_then_success(self):
        res = self.wait1(self.submit(sh(self.COUNTER, self.path("n")),
                                     retries=2))
        self.assertFinal(res, "succeeded")
        self.assertEqual((res["attempt"], res["exit_code"]), (3, 0))
        self.assertEqual(res["stdout"], "try 3\n")
        self.assertEqual(self.read("n"), "3\n")
        # Backoff 50 ms, then 100 ms.
        self.assertGreaterEqual(res["started_ms"] - res["submitted_ms"], 150)

    def test_retries_exhausted(self):
        res = self.wait1(self.submit(sh(self.COUNTER, self.path("n")),
                                     retries=1))
        self.assertFinal(res, "failed")
        self.assertEqual((res["attempt"], res["exit_code"]), (2, 1))
        self.assertEqual(self.read("n"), "2\n")

    def test_no_retries_by_default(self):
        res = self.wait1(self.submit(sh(self.COUNTER, self.path("n"))))
        self.assertFinal(res, "failed")
        self.assertEqual(res["attempt"], 1)
        self.assertEqual(self.read("n"), "1\n")

    # -- output -------------------------------------------------------------

    def test_output_truncated(self):
        script = "head -c 10000 /dev/zero | tr '\\0' x; echo err >&2"
        res = self.wait1(self.submit(sh(script)))
        self.assertFinal(res, "succeeded")
        self.assertEqual(res["stdout"], "x" * 1024)
        self.assertIs(res["stdout_truncated"], True)
        self.assertEqual(res["stderr"], "err\n")
        self.assertIs(res["stderr_truncated"], False)

    def test_large_output_is_drained(self):
        # Far more than a pipe holds: the writer must not block or get
        # SIGPIPE (the pipeline's status is tr's), and the job completes.
        script = ("head -c 3000000 /dev/zero | tr '\\0' y; "
                  "head -c 2000 /dev/zero | tr '\\0' z >&2; echo done")
        res = self.wait1(self.submit(sh(script)))
        self.assertFinal(res, "succeeded")
        self.assertEqual(res["exit_code"], 0)
        self.assertEqual(res["stdout"], "y" * 1024)
        self.assertEqual(res["stderr"], "z" * 1024)
        self.assertEqual((res["stdout_truncated"], res["stderr_truncated"]),
                         (True, True))

    def test_output_exactly_max_not_truncated(self):
        res = self.wait1(self.submit(sh("head -c 1024 /dev/zero | tr '\\0' a")))
        self.assertEqual(res["stdout"], "a" * 1024)
        self.assertIs(res["stdout_truncated"], False)

    def test_non_utf8_output_replaced(self):
        res = self.wait1(self.submit(sh("printf '\\377\\376ok'; "
                                        "printf 'caf\\303\\251\\n' >&2")))
        self.assertFinal(res, "succeeded")
        self.assertEqual(res["stdout"], "\ufffd\ufffdok")
        self.assertEqual(res["stderr"], "caf\u00e9\n")

    def test_truncation_inside_a_character(self):
        # 1023 bytes then a 2-byte character: the cut leaves half of it.
        script = "head -c 1023 /dev/zero | tr '\\0' a; printf '\\303\\251'"
        res = self.wait1(self.submit(sh(script)))
        self.assertEqual(res["stdout"], "a" * 1023 + "\ufffd")
        self.assertIs(res["stdout_truncated"], True)

    # -- processes ------------------------------------------------------------

    def test_no_orphans(self):
        res = self.wait1(self.submit(sh("sleep 300 & echo $!")))
        self.assertFinal(res, "succeeded")
        pid = int(res["stdout"])
        wait_until(lambda: not pid_alive(pid),
                   what="background sleep %d gone" % pid)

    def test_escaped_process_does_not_hold_the_job(self):
        # A process outside the job's group keeps its stdout open: the job
        # still ends soon after its own process exits.
        res = self.wait1(self.submit(sh("setsid sleep 30 & echo $!; "
                                        "echo bye >&2")))
        pid = int(res["stdout"])
        self.addCleanup(lambda: pid_alive(pid) and os.kill(pid, 9))
        self.assertFinal(res, "succeeded")
        self.assertEqual(res["stderr"], "bye\n")
        self.assertLess(res["finished_ms"] - res["started_ms"], 20000)

    def test_killed_by_foreign_signal(self):
        res = self.wait1(self.submit(sh("kill -9 $$")))
        self.assertFinal(res, "failed")
        self.assertEqual((res["signal"], res["exit_code"]), (9, None))
        res = self.wait1(self.submit(sh("kill -TERM $$")))
        self.assertFinal(res, "failed")
        self.assertEqual((res["signal"], res["exit_code"]), (15, None))

    def test_command_not_found(self):
        res = self.wait1(self.submit(["jqd-no-such-command-xyz", "a"]))
        self.assertFinal(res, "failed")
        self.assertIn("not found", res["error"])
        self.assertIsNone(res["exit_code"])
        self.assertIsNone(res["signal"])
        res = self.wait1(self.submit([self.path("missing/prog")]))
        self.assertFinal(res, "failed")
        self.assertIsInstance(res["error"], str)
        self.assertIsNone(res["exit_code"])

    # -- jobs list ------------------------------------------------------------

    def test_jobs_list(self):
        g = self.name("g")
        a = self.submit(["true"], group=g)
        b = self.submit(["false"], group=g)
        c = self.submit(["true"], group=g, name="c")
        self.wait(a, b, c)

        def ids(**q):
            return [x["job"] for x in self.ctl.ok("jobs", **q)["jobs"]]
        self.assertEqual(ids(group=g), [c, b, a])
        self.assertEqual(ids(group=g, state="failed"), [b])
        self.assertEqual(ids(group=g, state="succeeded"), [c, a])
        self.assertEqual(ids(group=g, state="queued"), [])
        self.assertEqual(ids(group=g, limit=2), [c, b])
        self.assertEqual(ids(group=g, before=c), [b, a])
        self.assertEqual(ids(group=g, before=b, limit=1), [a])
        self.assertEqual(ids(group=g, before=a), [])
        self.assertEqual(ids(limit=1), [c])
        everything = ids(limit=1000)
        self.assertEqual(everything, sorted(everything, reverse=True))
        self.assertIn(a, everything)
        entries = self.ctl.ok("jobs", group=g)["jobs"]
        for x in entries:
            self.assertNotIn("stdout", x)
            self.assertNotIn("stderr", x)
            self.assertEqual(x["group"], g)
            self.assertIn("state", x)
            self.assertIn("exit_code", x)
        self.assertEqual(entries[0]["name"], "c")
        self.assertEqual(entries[1]["state"], "failed")

    def test_jobs_bad_input(self):
        self.ctl.error("jobs", "bad_request", state="done")
        self.ctl.error("jobs", "bad_request", state=1)
        for bad in (0, 1001, -1, 1.5, "10"):
            self.ctl.error("jobs", "bad_request", limit=bad)
        for bad in (0, -1, "5"):
            self.ctl.error("jobs", "bad_request", before=bad)
        self.ctl.error("jobs", "bad_request", group=5)

    # -- bad submits ------------------------------------------------------------

    def test_bad_submits(self):
        newest = self.submit(["true"])
        bad = [
            {}, {"argv": []}, {"argv": "true"}, {"argv": [1]},
            {"argv": ["true", 2]}, {"argv": [""]}, {"argv": ["tr\u0000ue"]},
            {"argv": ["true", None]}, {"argv": None}, {"argv": {"0": "x"}},
            {"env": "A=1"}, {"env": ["A=1"]}, {"env": {"A": 1}},
            {"env": {"": "x"}}, {"env": {"A=B": "x"}}, {"env": {"A": None}},
            {"cwd": 5}, {"cwd": ""}, {"stdin": 5}, {"stdin": ["x"]},
            {"name": 5}, {"name": "n" * 257},
            {"group": ""}, {"group": "has space"}, {"group": "g" * 129},
            {"group": 5},
            {"key": ""}, {"key": 5}, {"key": "k" * 257},
            {"result_chan": "bad name"}, {"result_chan": 1},
        ]
        numeric = {
            "timeout_ms": (0, -1, 1.5, "10", True, 2 ** 53, [1]),
            "deadline_ms": (-1, 1.5, "10", True, 2 ** 53),
            "run_timeout_ms": (0, -1, 2.5, "10", False, 2 ** 53),
            "delay_ms": (-1, 0.5, "10", True, 2 ** 53),
            "priority": (1000001, -1000001, 1.5, "1", True),
            "retries": (-1, 1001, 0.5, "1", True),
            "parent": (0, -1, 1.5, "1", True, {"job": 1}),
        }
        for field, values in numeric.items():
            for v in values:
                bad.append({field: v})
        for fields in bad:
            req = {"argv": ["true"]}
            req.update(fields)
            if fields == {}:
                del req["argv"]
            with self.subTest(fields=fields):
                err = self.ctl.error("submit", "bad_request", **req)
                self.assertTrue(err["message"])
        # Nothing was created.
        self.assertEqual(self.ctl.ok("jobs", limit=1)["jobs"][0]["job"],
                         newest)
        # Boundaries that are fine.
        jid = self.submit(["true"], priority=1000000, retries=1000,
                          delay_ms=0, timeout_ms=2 ** 53 - 1,
                          name="n" * 256, group="g" * 128, key=self.name("k"),
                          env={}, stdin="")
        self.assertFinal(self.wait1(jid), "succeeded")
        jid = self.submit(["true"], priority=-1000000, deadline_ms=2 ** 53 - 1,
                          env=None, cwd=None, name=None)
        self.assertFinal(self.wait1(jid), "succeeded")

    def test_result_chan_unknown(self):
        self.ctl.error("submit", "not_found", argv=["true"],
                       result_chan=self.name("nochan"))


class PoolTest(JobTestCase):
    server_args = ("--workers", "2")

    def test_pool_bound_never_exceeded(self):
        log = self.path("log")
        script = ('echo "start $1 $(date +%s%N)" >> "$0"; sleep 0.2; '
                  'echo "end $1 $(date +%s%N)" >> "$0"')
        ids = [self.submit(sh(script, log, i)) for i in range(8)]
        for res in self.wait(*ids):
            self.assertFinal(res, "succeeded")
        events = []
        for line in open(log).read().splitlines():
            kind, n, t = line.split()
            events.append((int(t), 0 if kind == "end" else 1, kind, n))
        events.sort()
        running = peak = 0
        for _, _, kind, _ in events:
            running += 1 if kind == "start" else -1
            peak = max(peak, running)
        self.assertLessEqual(peak, 2, events)
        self.assertEqual(peak, 2, "the two workers never ran together")
        self.assertEqual(sorted(n for *_, kind, n in events if kind == "start"),
                         [str(i) for i in range(8)])
        self.assertEqual(sorted(n for *_, kind, n in events if kind == "end"),
                         [str(i) for i in range(8)])

    def test_stats_workers(self):
        a = self.blocker("ra")
        b = self.blocker("rb")
        c = self.submit(["true"])
        st = self.ctl.ok("stats")
        self.assertEqual(st["workers"], {"busy": 2, "total": 2})
        self.assertEqual(self.job(c)["state"], "queued")
        self.touch("ra")
        self.assertFinal(self.wait1(c), "succeeded")
        self.touch("rb")
        self.wait(a, b)


class SingleWorkerTest(JobTestCase):
    server_args = ("--workers", "1", "--kill-grace", "300ms")

    def test_priority_order(self):
        self.blocker()
        out = self.path("order")
        ids = [self.submit(sh('echo "$1" >> "$0"', out, name), priority=p)
               for name, p in (("p0", 0), ("p5a", 5), ("p5b", 5),
                               ("pm1", -1), ("p10", 10))]
        for jid in ids:
            self.assertEqual(self.job(jid)["state"], "queued")
        self.touch("release")
        for res in self.wait(*ids):
            self.assertFinal(res, "succeeded")
        self.assertEqual(self.read("order").split(),
                         ["p10", "p5a", "p5b", "p0", "pm1"])

    def test_deadline_while_queued(self):
        b = self.blocker()
        q = self.submit(sh('echo ran > "$0"', self.path("ran")),
                        timeout_ms=200)
        res = self.wait1(q)
        self.assertFinal(res, "deadline_exceeded")
        self.assertIsNone(res["started_ms"])
        self.assertIsNone(res["exit_code"])
        # It ended at its deadline, not when the worker came free.
        self.assertEqual(self.job(b)["state"], "running")
        self.touch("release")
        self.assertFinal(self.wait1(b), "succeeded")
        self.assertEqual(self.read("ran"), "")

    def test_cancel_queued(self):
        b = self.blocker()
        q = self.submit(sh('echo ran > "$0"', self.path("ran")))
        self.assertEqual(self.ctl.ok("cancel", job=q)["canceled"], 1)
        res = self.ctl.ok("wait", jobs=[q], timeout_ms=0)["results"][0]
        self.assertFinal(res, "canceled")
        self.assertIsNone(res["started_ms"])
        self.assertEqual(self.ctl.ok("cancel", job=q)["canceled"], 0)
        self.touch("release")
        self.assertFinal(self.wait1(b), "succeeded")
        self.assertEqual(self.read("ran"), "")
        self.assertEqual(self.job(q)["state"], "canceled")

    def test_cancel_group_mixed_queued_and_running(self):
        g = self.name("g")
        a = self.long_job(group=g)
        self.wait_state(a, "running")
        b = self.submit(["true"], group=g)
        c = self.submit(["true"], group=g)
        self.assertEqual(self.ctl.ok("cancel", group=g)["canceled"], 3)
        for res in self.wait(a, b, c):
            self.assertFinal(res, "canceled")

    def test_result_chan_waits_for_room_without_blocking_pool(self):
        ch = self.make(cap=1)
        self.ctl.ok("send", chan=ch, value="filler")
        a = self.submit(sh("echo hi; exit 4"), result_chan=ch, name="a")
        ra = self.wait1(a)
        self.assertFinal(ra, "failed")
        # The pool goes on while the result waits for room.
        others = [self.submit(["true"]) for _ in range(3)]
        for res in self.wait(*others):
            self.assertFinal(res, "succeeded")
        st = self.stat(ch)
        self.assertEqual(st["len"], 1)
        self.assertEqual(self.ctl.ok("recv", chan=ch, timeout_ms=0)["value"],
                         "filler")
        v = self.ctl.ok("recv", chan=ch, timeout_ms=WAIT_MS,
                        reply_timeout=REPLY_S)["value"]
        self.assertIsInstance(v, dict)
        self.assertEqual((v["job"], v["state"], v["exit_code"], v["stdout"],
                          v["name"]), (a, "failed", 4, "hi\n", "a"))
        self.assertEqual(v["finished_ms"], ra["finished_ms"])
        # Delivered once.
        self.ctl.error("recv", "timeout", chan=ch, timeout_ms=200)

    def test_result_chan_immediate_delivery(self):
        ch = self.make(cap=10)
        ids = [self.submit(sh("echo $JQ_JOB_ID"), result_chan=ch)
               for _ in range(3)]
        self.wait(*ids)
        r = self.ctl.ok("recv", chan=ch, max=10, timeout_ms=WAIT_MS,
                        reply_timeout=REPLY_S)
        got = list(r["values"])
        while len(got) < 3:
            got += self.ctl.ok("recv", chan=ch, max=10, timeout_ms=WAIT_MS,
                               reply_timeout=REPLY_S)["values"]
        self.assertEqual([v["job"] for v in got], ids)
        for v in got:
            self.assertEqual((v["state"], v["stdout"]),
                             ("succeeded", "%d\n" % v["job"]))

    def test_result_chan_unbuffered(self):
        ch = self.make(cap=0)
        # A receiver already waiting gets the result by rendezvous...
        rc = self.connect()
        rid = rc.request("recv", chan=ch)
        self.wait_stat(ch, receivers_waiting=1)
        a = self.submit(sh("echo one"), result_chan=ch)
        v = rc.reply_to(rid, REPLY_S)["value"]
        self.assertEqual((v["job"], v["stdout"]), (a, "one\n"))
        # ...and with none waiting, the result waits for one.
        b = self.submit(sh("echo two"), result_chan=ch)
        self.assertFinal(self.wait1(b), "succeeded")
        v = self.ctl.ok("recv", chan=ch, timeout_ms=WAIT_MS,
                        reply_timeout=REPLY_S)["value"]
        self.assertEqual((v["job"], v["stdout"]), (b, "two\n"))

    def test_result_chan_closed_or_dropped(self):
        closed = self.make(cap=1)
        self.ctl.ok("send", chan=closed, value="filler")
        a = self.submit(["true"], result_chan=closed)
        self.assertFinal(self.wait1(a), "succeeded")
        self.ctl.ok("close", chan=closed)
        dropped = self.make(cap=1)
        self.ctl.ok("send", chan=dropped, value="filler")
        b = self.submit(["true"], result_chan=dropped)
        self.assertFinal(self.wait1(b), "succeeded")
        self.ctl.ok("drop", chan=dropped)
        # Nothing more arrives on the closed channel; the server goes on.
        r = self.ctl.ok("recv", chan=closed, max=10)
        self.assertEqual(r["values"], ["filler"])
        self.assertIs(self.ctl.ok("recv", chan=closed).get("closed"), True)
        self.assertFinal(self.wait1(self.submit(["true"])), "succeeded")


class LimitTest(JobTestCase):
    server_args = ("--workers", "1", "--max-queued-jobs", "2")

    def test_max_queued_jobs(self):
        self.blocker()
        key = self.name("key")
        q1 = self.submit(["true"], key=key)
        q2 = self.submit(["true"])
        err = self.ctl.error("submit", "limit", argv=["true"])
        self.assertIn("max_queued_jobs", err["message"])
        # A retried submit (same key) still learns its job's id.
        r = self.ctl.ok("submit", argv=["true"], key=key)
        self.assertEqual((r["job"], r.get("duplicate")), (q1, True))
        # Room again after a cancel.
        self.assertEqual(self.ctl.ok("cancel", job=q2)["canceled"], 1)
        q3 = self.submit(["true"])
        self.ctl.error("submit", "limit", argv=["true"])
        self.touch("release")
        for res in self.wait(q1, q3):
            self.assertFinal(res, "succeeded")


class EnvironmentTest(JobTestCase):
    """The daemon's environment does not reach jobs."""

    server_args = ("--workers", "2")

    @classmethod
    def setUpClass(cls):
        old = os.environ.get("JQD_SECRET")
        os.environ["JQD_SECRET"] = "leaked"
        try:
            super().setUpClass()
        finally:
            if old is None:
                del os.environ["JQD_SECRET"]
            else:
                os.environ["JQD_SECRET"] = old

    def env_of(self, res):
        self.assertFinal(res, "succeeded")
        env = {}
        for line in res["stdout"].splitlines():
            k, _, v = line.partition("=")
            env[k] = v
        return env

    def test_clean_environment(self):
        # The server itself has the variable (else this proves nothing).
        with open("/proc/%d/environ" % self.server.proc.pid, "rb") as f:
            self.assertIn(b"JQD_SECRET=leaked", f.read().split(b"\0"))
        g = self.name("g")
        jid = self.submit(["env"], env={"FOO": "bar baz", "EMPTY": "",
                                        "JQ_JOB_ID": "spoofed"},
                          group=g, timeout_ms=600000)
        res = self.wait1(jid)
        env = self.env_of(res)
        self.assertNotIn("JQD_SECRET", env)
        self.assertEqual(env.get("FOO"), "bar baz")
        self.assertEqual(env.get("EMPTY"), "")
        self.assertEqual(env.get("JQ_JOB_ID"), str(jid))
        self.assertEqual(env.get("JQ_GROUP"), g)
        self.assertEqual(env.get("JQ_DEADLINE_MS"), str(res["deadline_ms"]))
        self.assertEqual(env.get("JQ_PROGRESS_FD"), "3")
        self.assertEqual(env.get("PATH"), "/usr/local/bin:/usr/bin:/bin")
        self.assertEqual(set(env), {"FOO", "EMPTY", "JQ_JOB_ID", "JQ_GROUP",
                                    "JQ_DEADLINE_MS", "JQ_PROGRESS_FD",
                                    "PATH"})

    def test_group_and_deadline_only_when_set(self):
        jid = self.submit(["env"])
        env = self.env_of(self.wait1(jid))
        self.assertEqual(set(env), {"JQ_JOB_ID", "JQ_PROGRESS_FD", "PATH"})
        self.assertEqual(env["JQ_JOB_ID"], str(jid))

    def test_deadline_from_parent_in_env(self):
        parent = self.submit(["sleep", "300"], timeout_ms=600000)
        self.addCleanup(self.ctl.call, "cancel", job=parent)
        res = self.wait1(self.submit(["env"], parent=parent))
        env = self.env_of(res)
        self.assertEqual(env.get("JQ_DEADLINE_MS"),
                         str(self.job(parent)["deadline_ms"]))

    def test_path_from_request(self):
        bindir = self.path("bin")
        os.mkdir(bindir)
        prog = os.path.join(bindir, "hello-jq")
        with open(prog, "w") as f:
            f.write("#!/bin/sh\necho hello from $0\n")
        os.chmod(prog, 0o755)
        res = self.wait1(self.submit(["hello-jq"],
                                     env={"PATH": bindir + ":/bin:/usr/bin"}))
        self.assertFinal(res, "succeeded")
        self.assertEqual(res["stdout"], "hello from %s\n" % prog)
        # Not in the default PATH.
        res = self.wait1(self.submit(["hello-jq"]))
        self.assertFinal(res, "failed")
        self.assertIn("not found", res["error"])

    def test_stdin(self):
        text = "line one\nsecond \u00e9\n" + "z" * 100000
        res = self.wait1(self.submit(["cat"], stdin=text))
        self.assertFinal(res, "succeeded")
        self.assertEqual(res["stdout"], text)
        # Bytes are bytes: a NUL goes through.
        res = self.wait1(self.submit(["wc", "-c"], stdin="a\u0000b"))
        self.assertEqual(res["stdout"].strip(), "3")
        # Default: /dev/null, so cat ends at once.
        res = self.wait1(self.submit(["cat"]))
        self.assertFinal(res, "succeeded")
        self.assertEqual(res["stdout"], "")

    def test_cwd(self):
        res = self.wait1(self.submit(["pwd"], cwd=self.tmp))
        self.assertEqual(res["stdout"].strip(), os.path.realpath(self.tmp))
        # Relative to the job directory (jqd's working directory).
        sub = os.path.join(self.server.dir, "sub-" + self.name("d"))
        os.mkdir(sub)
        res = self.wait1(self.submit(["pwd"], cwd=os.path.basename(sub)))
        self.assertEqual(res["stdout"].strip(), os.path.realpath(sub))
        res = self.wait1(self.submit(["pwd"]))
        self.assertEqual(res["stdout"].strip(),
                         os.path.realpath(self.server.dir))
        res = self.wait1(self.submit(["pwd"], cwd=self.path("nonexistent")))
        self.assertFinal(res, "failed")
        self.assertIsInstance(res["error"], str)

    def test_command_not_found_message(self):
        res = self.wait1(self.submit(["jqd-surely-missing"]))
        self.assertFinal(res, "failed")
        self.assertIn("not found", res["error"])
        self.assertIsNone(res["exit_code"])


NOCLOSE_RANGE = os.path.join(os.environ.get("ABS_TOP_BUILDDIR", "."),
                             "tests", "integration", "noclose_range.so")


class InheritedDescriptorTest(unittest.TestCase):
    """A descriptor jqd inherited never reaches a job, whether or not the
    kernel has close_range (issue 13: it used to be unchecked)."""

    def run_fds(self, env):
        r, w0 = os.pipe()
        self.addCleanup(os.close, r)
        # A number ls's own descriptors never take.
        w = os.dup2(w0, 100, inheritable=True)
        os.close(w0)
        self.addCleanup(os.close, w)
        with jqtest.Server(env=env, pass_fds=(w,)) as server:
            with open("/proc/%d/fdinfo/%d" % (server.proc.pid, w)):
                pass                    # jqd has it (else this proves nothing)
            c = jqtest.Client(server, unix=True)
            jid = c.ok("submit", argv=["ls", "/proc/self/fd"])["job"]
            res = c.ok("wait", jobs=[jid], timeout_ms=WAIT_MS,
                       reply_timeout=REPLY_S)["results"][0]
            c.close()
        self.assertEqual(res["state"], "succeeded", res)
        return {int(x) for x in res["stdout"].split()}, w

    def test_no_inherited_descriptor_in_jobs(self):
        fds, w = self.run_fds(None)
        self.assertNotIn(w, fds)

    @unittest.skipUnless(os.path.exists(NOCLOSE_RANGE),
                         "noclose_range.so not built")
    def test_without_close_range(self):
        asan = os.environ.get("ASAN_OPTIONS", "")
        fds, w = self.run_fds({
            "LD_PRELOAD": NOCLOSE_RANGE,
            "ASAN_OPTIONS": asan + ":verify_asan_link_order=0"})
        self.assertNotIn(w, fds)


if __name__ == "__main__":
    jqtest.main()
