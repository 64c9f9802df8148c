"""One scenario across the four clients (issue 18): a Python producer,
leasing workers in Node and Go, a job submitted and waited from C, and
jqd killed (-9) and later stopped (SIGTERM) in the middle, each time
restarted on the same database and socket.  Afterwards every task is in
the results channel exactly once and the job succeeded: nothing lost,
nothing doubled.

The roles are small programs of each client's (tests/integration/xclient/,
client/go/cmd/xcworker, tests/integration/xc-submit.c); they find jqd
through JQ_ADDR and reconnect on their own.  The test counts: a role
that exits early, a task missing or delivered twice, or a job that did
not succeed fails it.  Skipped when node or go is not installed.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import unittest

import jqtest
from jqtest import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
TOP_SRC = os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("ABS_TOP_BUILDDIR", TOP_SRC)
XC_SUBMIT = os.path.join(BUILD, "tests", "integration", "xc-submit")
TASKS = 5000
ROLE_TIMEOUT_S = 240


def go_build(out_dir):
    """Build client/go/cmd/xcworker into out_dir, offline, with caches in
    out_dir (never $HOME); the path of the binary."""
    env = dict(os.environ, GOPROXY="off", GOTOOLCHAIN="local", GOENV="off",
               GOCACHE=os.path.join(out_dir, "gocache"),
               GOPATH=os.path.join(out_dir, "gopath"), CGO_ENABLED="0")
    exe = os.path.join(out_dir, "xcworker")
    subprocess.run(["go", "build", "-o", exe, "./cmd/xcworker"],
                   cwd=os.path.join(TOP_SRC, "client", "go"), env=env,
                   check=True)
    return exe


@unittest.skipUnless(shutil.which("node"), "node is not installed")
@unittest.skipUnless(shutil.which("go"), "go is not installed")
@unittest.skipUnless(os.access(XC_SUBMIT, os.X_OK), "xc-submit not built")
class CrossClient(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="jqd-xc-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.sock = os.path.join(self.dir, "jqd.sock")
        self.server = None
        self.procs = {}

    def start_jqd(self):
        self.server = jqtest.Server(state_dir=self.dir,
                                    listen_args=["--unix", self.sock])
        self.server.start()
        return self.server

    def role(self, name, argv):
        env = dict(os.environ, JQ_ADDR="unix:" + self.sock,
                   PYTHONPATH=os.path.join(TOP_SRC, "client", "python"))
        env.pop("JQ_TOKEN", None)
        log = open(os.path.join(self.dir, name + ".log"), "w+")
        p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                             stderr=log, text=True)
        self.procs[name] = (p, log)
        return p

    def finish(self, name):
        p, log = self.procs[name]
        try:
            out, _ = p.communicate(timeout=ROLE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        log.seek(0)
        err = log.read()
        log.close()
        self.assertEqual(p.returncode, 0, "%s exited %s; stdout %r; "
                         "stderr:\n%s" % (name, p.returncode, out, err))
        return out.strip()

    def alive(self, *names):
        for name in names:
            self.assertIsNone(self.procs[name][0].poll(),
                              "%s still at work when jqd goes" % name)

    def done_len(self):
        with jqtest.Client(self.sock, unix=True) as c:
            return c.ok("stat", chan="xc.done")["len"]

    def job_running(self):
        with jqtest.Client(self.sock, unix=True) as c:
            return any(j["state"] == "running"
                       for j in c.ok("jobs")["jobs"])

    def test_roles_across_restarts(self):
        go_worker = go_build(self.dir)
        self.start_jqd()
        with jqtest.Client(self.sock, unix=True) as c:
            c.ok("make", chan="xc.tasks", cap=100)
            c.ok("make", chan="xc.done", cap=2 * TASKS)
        self.role("python-producer",
                  ["python3", os.path.join(HERE, "xclient", "producer.py"),
                   "xc.tasks", str(TASKS)])
        self.role("node-worker",
                  ["node", os.path.join(HERE, "xclient", "worker.js"),
                   "xc.tasks", "xc.done", "node-1"])
        self.role("go-worker", [go_worker, "xc.tasks", "xc.done", "go-1"])
        # The job waits for a file the test makes after the crash: the
        # crash interrupts its first attempt, the second one succeeds.
        gate = os.path.join(self.dir, "gate")
        self.role("c-submit", [XC_SUBMIT, "xc-job-1",
                               'while [ ! -e "%s" ]; do sleep 0.05; done; '
                               'echo xc' % gate])

        # A crash while the job runs and the first tasks are done (the
        # job runs again: it was submitted with a retry), a clean stop at
        # two thirds of the tasks.
        wait_until(lambda: self.job_running() and self.done_len() >= 50,
                   timeout=120, interval=0.05,
                   what="the job running and 50 tasks done")
        self.alive("python-producer", "node-worker", "go-worker", "c-submit")
        self.server.kill()
        self.start_jqd()
        open(gate, "w").close()
        wait_until(lambda: self.done_len() >= 2 * TASKS // 3, timeout=120,
                   interval=0.2, what="two thirds of the tasks done")
        self.alive("node-worker", "go-worker")
        self.server.sigterm(signal.SIGTERM)
        self.server.check()
        self.start_jqd()

        self.assertEqual(self.finish("python-producer"), "sent %d" % TASKS)
        processed = 0
        for name in ("node-worker", "go-worker"):
            out = self.finish(name)
            self.assertRegex(out, r"^processed \d+$", name)
            processed += int(out.split()[1])
        self.assertEqual(self.finish("c-submit"), "succeeded xc")

        with jqtest.Client(self.sock, unix=True) as c:
            got = c.ok("recv", chan="xc.done", max=2 * TASKS,
                       timeout_ms=0).get("values", [])
            [job] = c.ok("jobs")["jobs"]
        # The attempt the crash interrupted, then the one that succeeded.
        self.assertEqual((job["state"], job["attempt"]), ("succeeded", 2))
        ns = [v["n"] for v in got]
        by = {v["by"] for v in got}
        self.assertEqual(sorted(ns), list(range(TASKS)),
                         "missing %s, doubled %s" % (
                             sorted(set(range(TASKS)) - set(ns))[:20],
                             sorted(n for n in set(ns) if ns.count(n) > 1)[:20]))
        self.assertEqual(by, {"node-1", "go-1"},
                         "both workers took tasks")
        # Each worker counts its handler's successes (not its acks: an ack
        # whose reply the crash lost answers not_found when sent again), so
        # every task counts at least once; a task may be handled twice (a
        # lease whose reply the crash lost expires and comes back), its
        # keyed result landing once.
        self.assertGreaterEqual(processed, TASKS)
        self.server.check()


if __name__ == "__main__":
    unittest.main()
