#!/usr/bin/env python3
"""jq-worker, the agent (PROTOCOL.md 11.16; jq-worker(8)): real agents on
loopback against a jqd that runs nothing itself (--workers 0).

Each test serves its own pool (or has its own jqd), so the tests of a
class share one jqd without taking each other's jobs.  Jobs that must be
seen running write a marker (their pid) and wait for a file the test
creates; times are checked only as generous bounds from the test's side."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from jqtest import (RestartTestCase, Server, ServerTestCase, Client,
                    SANITIZER_MARKERS, STOP_TIMEOUT_S, WAIT_TIMEOUT_S, main,
                    unique_name, wait_until)

HEARTBEAT = "200ms"
LEASE = "2s"


def read(path):
    with open(path) as f:
        return f.read()


def pid_alive(pid):
    """Is pid a live process (a zombie counts as dead)?"""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Agent:
    """A jq-worker process; its stderr is kept (and echoed with
    JQTEST_ECHO).  check() fails on a sanitizer report."""

    def __init__(self, server_args, worker, pools, state_dir, job_dir,
                 slots=2, extra=(), prefix=()):
        # prefix: a command that ends by exec'ing the agent (or forking
        # it), e.g. ip netns exec NS, unshare --pid --fork.
        self.worker = worker
        cmd = list(prefix) + [os.environ["JQ_WORKER"]] + \
            list(server_args) + [
            "--id", worker, "--slots", str(slots),
            "--state-dir", state_dir, "--job-dir", job_dir,
            "--log-level", "debug"] + list(extra)
        for p in pools:
            cmd += ["--pool", p]
        env = dict(os.environ, JQ_TOKEN="")
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, env=env)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        echo = os.environ.get("JQTEST_ECHO")
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if echo:
                print("[%s] %s" % (self.worker, line), flush=True)
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def text(self):
        with self.cond:
            return "\n".join(self.lines)

    def wait_log(self, pattern, timeout=WAIT_TIMEOUT_S, start=0):
        """Wait for a line matching pattern (a regex) among the lines
        from index start; returns its index."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    if re.search(pattern, self.lines[i]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("jq-worker %s never logged %r:\n%s"
                                         % (self.worker, pattern,
                                            "\n".join(self.lines)))
                self.cond.wait(min(left, 0.5))

    def registered(self, nth=1):
        """Wait until it registered nth times."""
        wait_until(lambda: len([l for l in self.text().splitlines()
                                if "registered as" in l]) >= nth,
                   what="%s registered %d times:\n%s"
                   % (self.worker, nth, self.text()))
        return self

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=WAIT_TIMEOUT_S):
        return self.proc.wait(timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(STOP_TIMEOUT_S)
        self.proc.stderr.close()

    def check(self, case):
        for line in self.text().splitlines():
            if any(m in line for m in SANITIZER_MARKERS):
                case.fail("jq-worker %s: %s\n%s" % (self.worker, line,
                                                    self.text()))


class AgentMixin:
    """Agents, jobs and files of one test."""

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="jq-worker-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.state_dir = os.path.join(self.tmp, "state")
        self.pool = unique_name(self.id().rsplit(".", 1)[-1])[:60]

    def agent(self, worker=None, pools=None, server=None, tcp=False,
              **kw):
        server = server or self.server
        args = (["-H", "127.0.0.1:%d" % server.port] if tcp
                else ["-S", server.unix_path])
        a = Agent(args, worker or unique_name("w")[:100],
                  pools or [self.pool], self.state_dir, self.tmp, **kw)
        self.addCleanup(a.check, self)
        self.addCleanup(a.close)
        return a

    def path(self, name):
        return os.path.join(self.tmp, name)

    def submit(self, ctl=None, **fields):
        fields.setdefault("pool", self.pool)
        return (ctl or self.ctl).ok("submit", **fields)["job"]

    def job(self, j, ctl=None):
        return (ctl or self.ctl).ok("job", job=j)

    def wait_state(self, j, *states, ctl=None):
        return wait_until(lambda: self.job(j, ctl)["state"] in states and
                          self.job(j, ctl),
                          what="job %d in %s: %r" % (j, states,
                                                      self.job(j, ctl)))

    def marker_pid(self, name):
        """The pid a job wrote to file name, once it is there."""
        p = self.path(name)
        wait_until(lambda: os.path.exists(p) and
                   read(p).endswith("\n"), what="marker " + name)
        return int(read(p).split()[0])

    def blocking_job(self, tag, **fields):
        """A job that writes its pid to tag.pid, then waits for tag.go
        (created by the test), then prints and exits 0."""
        script = ('echo $$ > %s.pid.tmp && mv %s.pid.tmp %s.pid; '
                  'while [ ! -e %s.go ]; do sleep 0.05; done; echo done'
                  % ((self.path(tag),) * 4))
        return self.submit(argv=["sh", "-c", script], **fields)

    def go(self, tag):
        open(self.path(tag + ".go"), "w").close()


def server_args(lease=LEASE, heartbeat=HEARTBEAT):
    return ("--workers", "0", "--worker-heartbeat", heartbeat,
            "--worker-lease", lease, "--kill-grace", "2s")


class RunTest(AgentMixin, ServerTestCase):
    server_args = server_args()

    def test_two_agents_run_jobs(self):
        a1 = self.agent(slots=1)
        a2 = self.agent(slots=1, tcp=True)
        # Both slots busy at once: one job on each agent.
        j1 = self.blocking_job("b1")
        j2 = self.blocking_job("b2")
        self.marker_pid("b1.pid")
        self.marker_pid("b2.pid")
        workers = {self.job(j1)["worker"], self.job(j2)["worker"]}
        self.assertEqual(workers, {a1.worker, a2.worker})
        self.go("b1")
        self.go("b2")
        for j in (j1, j2):
            r = self.wait_state(j, "succeeded")
            self.assertEqual((r["stdout"], r["exit_code"], r["pool"]),
                             ("done\n", 0, self.pool))

        # Exit codes, stderr, signals, stdin, environment, cwd.
        j = self.submit(argv=["sh", "-c", "echo out; echo err >&2; exit 7"])
        r = self.wait_state(j, "failed")
        self.assertEqual((r["exit_code"], r["stdout"], r["stderr"]),
                         (7, "out\n", "err\n"))
        j = self.submit(argv=["sh", "-c", "kill -9 $$"])
        r = self.wait_state(j, "failed")
        self.assertEqual((r["exit_code"], r["signal"]), (None, 9))
        j = self.submit(argv=["cat"], stdin="line 1\nline 2\n")
        self.assertEqual(self.wait_state(j, "succeeded")["stdout"],
                         "line 1\nline 2\n")
        j = self.submit(argv=["sh", "-c", 'echo "$JQ_JOB_ID $JQ_GROUP $X '
                              '$JQ_DEADLINE_MS"; pwd'],
                        env={"X": "y z"}, group="g-" + self.pool,
                        timeout_ms=600000)
        r = self.wait_state(j, "succeeded")
        line, cwd = r["stdout"].splitlines()
        jid, group, x1, x2, deadline = line.split(" ")
        self.assertEqual((int(jid), group, x1 + " " + x2),
                         (j, "g-" + self.pool, "y z"))
        # The deadline on the agent's clock: about now + 10 min.
        self.assertLess(abs(int(deadline) - (r["submitted_ms"] + 600000)),
                        60000)
        self.assertEqual(cwd, os.path.realpath(self.tmp))
        os.mkdir(self.path("sub"))
        j = self.submit(argv=["pwd"], cwd="sub")
        self.assertEqual(self.wait_state(j, "succeeded")["stdout"],
                         os.path.realpath(self.path("sub")) + "\n")
        j = self.submit(argv=["no-such-command-here"])
        r = self.wait_state(j, "failed")
        self.assertIn("cannot start", r["error"])

        # Output past one frame (64 KiB) and not UTF-8, and progress.
        j = self.submit(argv=["sh", "-c", "head -c 200000 /dev/zero | "
                              "tr '\\0' a; printf '\\377\\n'"])
        r = self.wait_state(j, "succeeded")
        self.assertEqual(r["stdout"], "a" * 200000 + "\ufffd\n")
        j = self.submit(argv=["sh", "-c", "echo '3 10' >&3; "
                              "while [ ! -e %s ]; do sleep 0.05; done; "
                              "echo '10 10' >&3" % self.path("p.go")])
        wait_until(lambda: self.job(j)["progress"] ==
                   {"done": 3, "total": 10}, what="progress 3/10")
        self.go("p")
        r = self.wait_state(j, "succeeded")
        self.assertEqual(r["progress"], {"done": 10, "total": 10})

        # Listed by `workers`.
        ws = {w["worker"]: w for w in self.ctl.ok("workers")["workers"]}
        self.assertEqual(ws[a1.worker]["pools"], [self.pool])
        self.assertEqual(ws[a1.worker]["slots"], 1)
        self.assertEqual(ws[a1.worker]["state"], "active")

    def test_remote_cancel(self):
        self.agent()
        j = self.submit(argv=["sh", "-c", "trap 'echo term > %s; exit 1' "
                              "TERM; echo $$ > %s; while :; do sleep 0.05; "
                              "done" % (self.path("t"), self.path("pid"))])
        pid = self.marker_pid("pid")
        start = time.monotonic()
        self.ctl.ok("cancel", job=j)
        r = self.wait_state(j, "canceled")
        self.assertLess(time.monotonic() - start, WAIT_TIMEOUT_S)
        self.assertFalse(pid_alive(pid))
        self.assertEqual(read(self.path("t")), "term\n")
        self.assertEqual(r["attempt"], 1)

    def test_deadline_and_run_timeout(self):
        a = self.agent()
        j1 = self.submit(argv=["sleep", "600"], run_timeout_ms=300)
        j2 = self.submit(argv=["sleep", "600"], timeout_ms=300)
        r1 = self.wait_state(j1, "deadline_exceeded")
        r2 = self.wait_state(j2, "deadline_exceeded")
        self.assertEqual((r1["error"], r2["error"]),
                         ("run_timeout", "deadline exceeded"))
        a.wait_log(r"job %d attempt 1: killed by signal 15 .*stopped: "
                   r"run_timeout" % j1)
        a.wait_log(r"job %d attempt 1: killed by signal 15 .*stopped: "
                   r"deadline" % j2)

    def test_sigterm_drains_now(self):
        a = self.agent().registered()
        j = self.blocking_job("d", retries=0)
        self.marker_pid("d.pid")
        a.signal(signal.SIGTERM)
        self.assertEqual(a.wait(), 0)
        a.wait_log(r"stopped: every attempt's result is acknowledged")
        # Queued again without spending its retry (it has none).
        r = self.wait_state(j, "queued")
        self.assertEqual(r["attempt"], 1)
        self.agent()
        self.go("d")
        r = self.wait_state(j, "succeeded")
        self.assertEqual(r["attempt"], 1)

    def test_server_drain_exits_when_idle(self):
        a = self.agent().registered()
        j = self.blocking_job("s")
        self.marker_pid("s.pid")
        r = self.ctl.ok("worker_drain", worker=a.worker)
        self.assertEqual(r["running"], 1)
        a.wait_log(r"draining by the server")
        self.assertIsNone(a.proc.poll())
        self.go("s")
        self.assertEqual(self.wait_state(j, "succeeded")["worker"], a.worker)
        self.assertEqual(a.wait(), 0)

    def test_held_job_handed_back_to_another_agent(self):
        a = self.agent(slots=1, extra=["--prefetch", "1"]).registered()
        # It holds jobs beyond its slot only once it saw short ones.
        for _ in range(3):
            self.wait_state(self.submit(argv=["true"]), "succeeded")
        long = self.blocking_job("h")
        short = self.submit(argv=["sh", "-c", "echo short"])
        # Its one slot stays busy: the held job goes back unstarted...
        a.wait_log(r"job %d attempt 1: not started within \d+ ms: "
                   r"handed back" % short)
        self.assertEqual(self.job(long)["state"], "running")
        # ... and another agent runs it, as the same attempt.
        b = self.agent()
        r = self.wait_state(short, "succeeded")
        self.assertEqual((r["worker"], r["attempt"], r["stdout"]),
                         (b.worker, 1, "short\n"))
        self.go("h")
        r = self.wait_state(long, "succeeded")
        self.assertEqual(r["worker"], a.worker)
        self.assertNotIn("job %d attempt 1: started" % short, a.text())

    def test_kill9_agent_lease_then_retry_and_leftover_killed(self):
        a = self.agent(worker="k9-" + self.pool[:60]).registered()
        j = self.blocking_job("k", retries=1)
        pid = self.marker_pid("k.pid")
        a.proc.kill()
        a.proc.wait()
        # The process outlived its agent; after the lease the job is
        # queued again (attempt 2).
        self.assertTrue(pid_alive(pid))
        r = self.wait_state(j, "queued", "running")
        wait_until(lambda: self.job(j)["attempt"] == 2, what="attempt 2")
        # The same agent again (same id, same state directory) kills the
        # group it left, then runs attempt 2.
        os.unlink(self.path("k.pid"))
        b = self.agent(worker=a.worker)
        b.wait_log(r"killed the process group %d it left" % pid)
        wait_until(lambda: not pid_alive(pid), what="leftover killed")
        self.marker_pid("k.pid")
        self.go("k")
        r = self.wait_state(j, "succeeded")
        self.assertEqual((r["attempt"], r["worker"]), (2, b.worker))


class FreezeTest(AgentMixin, unittest.TestCase):
    """Tests that SIGSTOP their own jqd."""

    def start(self, lease, heartbeat):
        s = Server(*server_args(lease, heartbeat))
        s.start()
        self.addCleanup(s.stop)
        self.addCleanup(self.cont, s)
        c = Client(s)
        self.addCleanup(c.close)
        return s, c

    def cont(self, s):
        if s.alive():
            os.kill(s.proc.pid, signal.SIGCONT)

    def test_fencing_kills_before_the_lease_ends(self):
        # lease 5 s, heartbeat 250 ms: the agent fences 1 s before.
        s, c = self.start("5s", "250ms")
        a = self.agent(server=s).registered()
        script = ('if [ -e %s ]; then echo again; exit 0; fi; '
                  'echo $$ > %s.tmp && mv %s.tmp %s; sleep 600'
                  % ((self.path("f.pid"),) * 4))
        j = self.submit(ctl=c, argv=["sh", "-c", script], retries=1)
        pid = self.marker_pid("f.pid")
        n = len(a.lines)
        stopped_at = time.monotonic()
        os.kill(s.proc.pid, signal.SIGSTOP)
        wait_until(lambda: not pid_alive(pid), what="fenced")
        dead_after = time.monotonic() - stopped_at
        # The server's lease runs 5 s from the last heartbeat it got,
        # within one interval (250 ms) before the stop; the agent fences
        # 1 s before it ends, so the process was dead before.
        self.assertLess(dead_after, 5.0 - 0.25, a.text())
        a.wait_log(r"job %d attempt 1: fenced" % j, start=n)
        os.kill(s.proc.pid, signal.SIGCONT)
        r = self.wait_state(j, "succeeded", ctl=c)
        self.assertEqual((r["attempt"], r["stdout"]), (2, "again\n"))

    def test_agent_enforces_run_timeout_while_server_frozen(self):
        s, c = self.start("30s", "1s")
        self.agent(server=s).registered()
        j = self.submit(ctl=c, argv=["sh", "-c", "echo $$ > %s.tmp && "
                                     "mv %s.tmp %s; sleep 600"
                                     % ((self.path("r.pid"),) * 3)],
                        run_timeout_ms=1500)
        pid = self.marker_pid("r.pid")
        os.kill(s.proc.pid, signal.SIGSTOP)
        wait_until(lambda: not pid_alive(pid), what="killed on time")
        os.kill(s.proc.pid, signal.SIGCONT)
        r = self.wait_state(j, "deadline_exceeded", ctl=c)
        self.assertEqual(r["error"], "run_timeout")


class RestartTest(AgentMixin, RestartTestCase):

    def start_jqd(self):
        s = Server(*server_args(), state_dir=self.dir,
                   listen_args=["--unix", os.path.join(self.dir, "s.sock")])
        s.start()
        self.addCleanup(s.stop)
        c = Client(s, unix=True)
        self.addCleanup(c.close)
        return s, c

    def test_agent_readopts_after_jqd_restart(self):
        s, c = self.start_jqd()
        a = self.agent(server=s).registered()
        count = self.path("count")
        script = ('echo $$ > %s.tmp && mv %s.tmp %s; '
                  'while [ ! -e %s ]; do sleep 0.05; done; echo run >> %s'
                  % (self.path("r.pid"), self.path("r.pid"),
                     self.path("r.pid"), self.path("r.go"), count))
        j = self.submit(ctl=c, argv=["sh", "-c", script], retries=3)
        pid = self.marker_pid("r.pid")
        s.stop()
        c.close()
        s, c = self.start_jqd()
        a.registered(2)
        a.wait_log(r"registered as .*, 1 attempt held")
        self.assertEqual(self.job(j, c)["state"], "running")
        self.go("r")
        r = self.wait_state(j, "succeeded", ctl=c)
        self.assertEqual(r["attempt"], 1)
        self.assertEqual(read(count), "run\n")
        self.assertFalse(pid_alive(pid))


if __name__ == "__main__":
    if not os.access(os.environ.get("JQ_WORKER", ""), os.X_OK):
        print("JQ_WORKER is not set to an executable; skipping")
        raise SystemExit(77)
    main(need_client=False)
