"""Jobs and channels for daily use (PROTOCOL.md 10.12, 11.2, 11.7,
11.24-11.26, 14): a job runs in its submitter's directory, a missing
directory is named as the reason it could not start, `job` and `jobs`
show what a job runs and when a delayed one starts, a group with no job
is an error for wait, cancel and group, and the ops peek, retry, purge
and pool, over the protocol and through jq-client, across a restart
where it matters.

Jobs that must stay running are blockers that end once the test creates
a file (test_cli_jobs.CliJobCase), so a test decides when each ends.
"""

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

from jqtest import Client, Server, ServerTestCase, main, wait_until
from test_cli_jobs import CLI_TIMEOUT_S, CliJobCase, cli_env, sh
from test_worker import AgentMixin, server_args as worker_server_args


class CwdTest(CliJobCase):
    server_args = ("--workers", "2")

    def cli_in(self, where, *args, code=0):
        """jq-client run with `where` as its working directory."""
        p = subprocess.run(self.argv(args), cwd=where,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=cli_env(),
                           timeout=CLI_TIMEOUT_S)
        self.assertEqual(p.returncode, code, p.stderr)
        return p.stdout.decode()

    def test_submit_runs_in_our_directory(self):
        data = os.path.realpath(self.path("data dir"))
        os.mkdir(data)
        for name, text in (("a.csv", "1\n2\n"), ("b c.csv", "1\n")):
            with open(os.path.join(data, name), "w") as f:
                f.write(text)
        ids = [int(self.cli_in(data, "submit", "wc", "-l", name))
               for name in sorted(os.listdir(data))]
        outs = [self.wait1(j) for j in ids]
        self.assertEqual([(r["state"], r["stdout"]) for r in outs],
                         [("succeeded", "2 a.csv\n"),
                          ("succeeded", "1 b c.csv\n")])
        self.assertEqual(self.cli_in(data, "submit", "--wait", "pwd"),
                         data + "\n")

    def test_cwd_option(self):
        other = os.path.realpath(self.path("other"))
        os.mkdir(other)
        self.assertEqual(self.cli_in(self.tmp, "submit", "--wait",
                                     "--cwd", other, "pwd"), other + "\n")
        # Relative: under the job directory, as the protocol says.
        job_dir = self.wait1(self.submit(["pwd"]))["stdout"]
        self.assertEqual(self.cli_in(self.tmp, "submit", "--wait", "--cwd",
                                     ".", "pwd"), job_dir)

    def test_missing_cwd_is_named(self):
        gone = self.path("gone")
        jid = int(self.cli_in(self.tmp, "submit", "--cwd", gone, "true"))
        r = self.wait1(jid)
        self.assertEqual((r["state"], r["error"]),
                         ("failed", "cannot start: cwd %s: No such file or "
                          "directory" % gone))
        # The same through a relative command path, and a file as cwd.
        jid = self.submit(["./x"], cwd=gone)
        self.assertEqual(self.wait1(jid)["error"],
                         "cannot start: cwd %s: No such file or directory"
                         % gone)
        self.touch("file")
        jid = self.submit(["true"], cwd=self.path("file"))
        self.assertEqual(self.wait1(jid)["error"],
                         "cannot start: cwd %s: Not a directory"
                         % self.path("file"))
        err = subprocess.run(self.argv(["submit", "--wait", "--cwd", gone,
                                        "true"]), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=cli_env(),
                             timeout=CLI_TIMEOUT_S)
        self.assertEqual(err.returncode, 127)
        self.assertIn(b"cannot start: cwd " + gone.encode(), err.stderr)


class ShowTest(CliJobCase):
    server_args = ("--workers", "2")

    def test_result_members(self):
        argv = ["sh", "-c", "exit 0", "it's", ""]
        jid = self.submit(argv, delay_ms=3600000)
        self.addCleanup(self.ctl.call, "cancel", job=jid)
        r = self.job(jid)
        self.assertEqual(r["argv"], argv)
        self.assertGreaterEqual(r["not_before_ms"],
                                r["submitted_ms"] + 3600000)
        self.assertIsNone(r["retry_of"])
        done = self.wait1(self.submit(["true"]))
        self.assertIsNone(done["not_before_ms"])

    def test_job_shows_command_and_start(self):
        argv = ["sh", "-c", "echo $1", "x", "it's a b", ""]
        jid = self.submit(argv, delay_ms=3600000)
        self.addCleanup(self.ctl.call, "cancel", job=jid)
        out = self.cli("job", jid, code=0).out
        cmd = re.search(r"^command: +(.*)$", out, re.M).group(1)
        self.assertEqual(shlex.split(cmd), argv)
        self.assertRegex(out, r"(?m)^starts: +\d{4}-\d\d-\d\dT.*\(in ")
        done = self.wait1(self.submit(["true"]))
        self.assertNotIn("starts:", self.cli("job", done["job"],
                                             code=0).out)

    def test_jobs_command_column(self):
        group = self.name("g")
        named = self.submit(["true"], group=group, name="nightly")
        long_arg = "x" * 100
        plain = self.submit(["echo", "a b", long_arg], group=group)
        self.wait1(named)
        self.wait1(plain)
        lines = self.cli("jobs", "--group", group, code=0).out.splitlines()
        self.assertEqual(lines[0].split()[-1], "COMMAND")
        rows = {int(line.split()[0]): line for line in lines[1:]}
        self.assertTrue(rows[named].endswith("  nightly"), rows[named])
        self.assertRegex(rows[plain], r"  echo 'a b' x+\.\.\.$")
        self.assertLessEqual(len(rows[plain].split("  echo ")[1]), 48 - 5)


class GroupTest(CliJobCase):
    server_args = ("--workers", "2")

    def test_unknown_group_fails(self):
        for args in (("wait", "--group", "typo"),
                     ("wait", "--progress", "--group", "typo"),
                     ("cancel", "--group", "typo"), ("group", "typo")):
            p = self.cli(*args, code=1)
            self.assertEqual(p.out, "")
            self.assertEqual(p.err, "jq-client: no jobs in group 'typo'\n")
        p = subprocess.run("%s && echo deployed" % " ".join(
            shlex.quote(a) for a in self.argv(["wait", "--group", "imprt"])),
            shell=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=cli_env(), timeout=CLI_TIMEOUT_S)
        self.assertNotIn(b"deployed", p.stdout)

    def test_known_group(self):
        group = self.name("g")
        jid = self.submit(["true"], group=group)
        self.wait1(jid)
        self.assertEqual(self.cli("cancel", "--group", group, code=0).out,
                         "0\n")
        self.assertIn("succeeded", self.cli("wait", "--group", group,
                                            code=0).out)
        self.blocker("rel", group=group)
        self.assertEqual(self.cli("group", group, code=0).out,
                         "%s: 2 jobs: 1 running, 1 succeeded\n" % group)


class PeekRetryPurgeTest(CliJobCase):
    server_args = ("--workers", "2", "--retry-delay", "50ms")

    def test_peek(self):
        ch = self.name("c")
        self.ctl.ok("make", chan=ch, cap=10)
        for v in (1, "two", {"a": [3]}):
            self.ctl.ok("send", chan=ch, value=v)
        self.assertEqual(self.cli("peek", ch, code=0).out, "1\n")
        self.assertEqual(self.cli("peek", ch, "-n", "5", code=0).out,
                         '1\ntwo\n{"a":[3]}\n')
        self.assertEqual(self.ctl.ok("stat", chan=ch)["len"], 3)
        r = self.cli_json("peek", ch, "-n", "2")
        self.assertEqual((r["len"], r["values"]), (3, [1, "two"]))
        self.cli("peek", ch, "-n", "101", code=2)
        self.assertIn("not_found", self.cli("peek", self.name("none"),
                                            code=1).err)

    def test_retry(self):
        group = self.name("g")
        failed = self.submit(sh("echo try; exit 3"), group=group,
                             name="n", key=self.name("k"), retries=1)
        self.assertEqual(self.wait1(failed)["attempt"], 2)
        out = self.cli("retry", failed, code=0).out
        new = int(out)
        r = self.wait1(new)
        self.assertEqual((r["retry_of"], r["name"], r["group"],
                          r["exit_code"], r["attempt"], r["stdout"]),
                         (failed, "n", group, 3, 2, "try\n"))
        self.assertIn("retry_of:  %d" % failed,
                      self.cli("job", new, code=0).out)
        running = self.blocker("rel")
        p = self.cli("retry", running, code=1)
        self.assertEqual(p.err, "jq-client: bad_request: job %d (running) "
                         "cannot be retried: only a failed, "
                         "deadline_exceeded or canceled job can\n"
                         % running)
        # One bad id does not stop the others.
        p = self.cli("retry", 999999, failed, code=1)
        self.assertRegex(p.out, r"\A\d+\n\Z")
        self.cli("retry", "x", code=2)

    def test_retry_keeps_settings(self):
        ch = self.name("results")
        self.ctl.ok("make", chan=ch, cap=4)
        jid = self.submit(sh('echo "$A"; exit 1'), env={"A": "envval"},
                          cwd=self.tmp, priority=7, timeout_ms=600000,
                          result_chan=ch)
        orig = self.wait1(jid)
        self.ctl.ok("recv", chan=ch)
        new = self.ctl.ok("retry", job=jid)["job"]
        r = self.wait1(new)
        self.assertEqual((r["stdout"], r["priority"], r["parent"]),
                         ("envval\n", 7, None))
        self.assertEqual(r["deadline_ms"] - r["submitted_ms"],
                         orig["deadline_ms"] - orig["submitted_ms"])
        self.assertEqual(self.ctl.ok("recv", chan=ch)["value"]["job"], new)
        self.ctl.ok("drop", chan=ch)
        self.ctl.error("retry", "not_found", job=jid)

    def test_purge(self):
        group = self.name("g")
        ok = self.submit(["true"], group=group)
        bad = self.submit(["false"], group=group)
        self.wait1(ok)
        self.wait1(bad)
        running = self.blocker("rel", group=group)
        self.cli("purge", "--state", "running", code=2)
        self.assertEqual(self.cli("purge", "--group", group, "--state",
                                  "failed", code=0).out, "1\n")
        self.ctl.error("job", "not_found", job=bad)
        self.assertEqual(self.cli("purge", "--group", group,
                                  "--older-than", "1h", code=0).out, "0\n")
        self.assertEqual(self.cli("purge", "--group", group, code=0).out,
                         "1\n")
        self.ctl.error("job", "not_found", job=ok)
        self.assertEqual(self.job(running)["state"], "running")
        self.assertEqual(self.ctl.ok("group", group=group)["total"], 1)


class PoolTest(CliJobCase):
    server_args = ("--workers", "1")

    def test_pause_resume(self):
        self.assertEqual(self.cli("pause", code=0).out,
                         "local paused (0 queued, 0 running)\n")
        self.addCleanup(self.ctl.call, "pool", pause=False)
        jid = self.submit(["true"])
        self.assertEqual(self.ctl.ok("stats")["paused_pools"], ["local"])
        # Paused: it stays queued while another pool's pause is harmless.
        self.cli("pause", "gpu", code=0)
        self.cli("resume", "gpu", code=0)
        self.assertEqual(self.job(jid)["state"], "queued")
        self.assertEqual(self.cli("resume", code=0).out,
                         "local resumed (1 queued, 0 running)\n")
        self.assertEqual(self.wait1(jid)["state"], "succeeded")
        self.assertNotIn("paused_pools", self.ctl.ok("stats"))

    def test_paused_pool_keeps_running_jobs(self):
        running = self.blocker("rel")
        self.ctl.ok("pool", pause=True)
        self.addCleanup(self.ctl.call, "pool", pause=False)
        self.assertEqual(self.job(running)["state"], "running")
        self.touch("rel")
        self.assertEqual(self.wait1(running)["state"], "succeeded")

    def test_workers(self):
        self.addCleanup(self.ctl.call, "pool", workers=1)
        out = self.cli("pool", "local", "--workers", "2", code=0).out
        self.assertIn("workers: 2", out)
        self.assertEqual(self.ctl.ok("stats")["workers"]["total"], 2)
        a = self.blocker("a")
        b = self.blocker("b")
        # Fewer slots: the two go on, a third waits for a free slot.
        self.cli("pool", "--workers", "1", code=0)
        c = self.submit(["true"])
        self.touch("a")
        self.wait1(a)
        self.assertEqual(self.job(c)["state"], "queued")
        self.touch("b")
        self.assertEqual(self.wait1(c)["state"], "succeeded")
        self.cli("pool", "gpu", "--workers", "2", code=2)
        self.ctl.error("pool", "bad_request", pool="gpu", workers=1)
        self.ctl.ok("pool", workers=0)
        d = self.submit(["true"])
        self.assertEqual(self.ctl.ok("pool")["queued"], 1)
        self.ctl.ok("pool", workers=1)
        self.assertEqual(self.wait1(d)["state"], "succeeded")
        self.assertEqual(self.job(b)["state"], "succeeded")


class AgentTest(AgentMixin, ServerTestCase):
    """The same on an agent (jq-worker): the cwd, and a paused pool."""
    server_args = worker_server_args()

    def test_cwd_on_agent(self):
        self.agent(slots=1)
        here = os.path.realpath(self.tmp)
        j = self.submit(argv=["pwd"], cwd=here)
        self.assertEqual(self.wait_state(j, "succeeded")["stdout"],
                         here + "\n")
        gone = self.path("gone")
        j = self.submit(argv=["true"], cwd=gone)
        r = self.wait_state(j, "failed")
        self.assertEqual(r["error"], "cannot start: cwd %s: No such file "
                         "or directory" % gone)

    def test_paused_pool_on_agent(self):
        self.ctl.ok("pool", pool=self.pool, pause=True)
        self.addCleanup(self.ctl.call, "pool", pool=self.pool, pause=False)
        self.agent(slots=1).registered()
        j = self.submit(argv=["true"])
        # Registered, a take parked, the job ready: still not taken.
        wait_until(lambda: self.ctl.ok("stats")["waiting"] >= 1,
                   what="the agent's parked take")
        self.assertEqual(self.job(j)["state"], "queued")
        self.ctl.ok("pool", pool=self.pool, pause=False)
        self.assertIsNotNone(self.wait_state(j, "succeeded")["worker"])


class RestartTest(unittest.TestCase):
    """What survives a restart: retry_of and purges; what does not: a
    pause and a changed worker count."""

    def start(self, state):
        s = Server("--workers", "1", state_dir=state)
        s.start()
        self.addCleanup(s.check)
        self.addCleanup(s.stop)
        c = Client(s)
        self.addCleanup(c.close)
        return s, c

    def test_restart(self):
        state = tempfile.mkdtemp(prefix="jqd-admin-restart-")
        self.addCleanup(shutil.rmtree, state, True)
        s, c = self.start(state)
        failed = c.ok("submit", argv=["false"])["job"]
        gone = c.ok("submit", argv=["false"], group="old")["job"]
        c.ok("wait", jobs=[failed, gone])
        new = c.ok("retry", job=failed)["job"]
        c.ok("wait", jobs=[new])
        self.assertEqual(c.ok("purge", group="old")["purged"], 1)
        c.ok("pool", pause=True, workers=3)
        s.stop()
        s, c = self.start(state)
        self.assertEqual(c.ok("job", job=new)["retry_of"], failed)
        c.error("job", "not_found", job=gone)
        self.assertNotIn("paused_pools", c.ok("stats"))
        r = c.ok("pool")
        self.assertEqual((r["paused"], r["workers"]), (False, 1))
        jid = c.ok("submit", argv=["true"])["job"]
        r = c.ok("wait", jobs=[jid], timeout_ms=60000)["results"][0]
        self.assertEqual(r["state"], "succeeded")
        wait_until(lambda: c.ok("stats")["workers"]["total"] == 1,
                   what="configured workers")


if __name__ == "__main__":
    main(need_client=True)
