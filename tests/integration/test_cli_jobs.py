"""jq-client's job commands against a real jqd (SPEC sections 4, 7, 8):
submit (every option, --wait and its exit statuses, the default parent
inside a job), job, jobs, logs, cancel, wait, usage errors, and the live
progress bar of `wait --progress` on a pseudo-terminal and on a pipe.

What the CLI sends is checked on the wire too: a fake server records the
request of a `submit` with every option, so a flag that is parsed but
never sent fails even when the daemon would not show the field.

Jobs are small `sh -c` scripts; a "blocker" runs until the test creates
a file, so a test decides when each job ends.  Human formats that the
code documents (cmd-job.c, cli-progress.h) are asserted: the `job`
key/value lines, the `jobs` table, the one-line-per-job `wait` output and
the progress line.
"""

import calendar
import fcntl
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import termios
import threading
import time

import jqtest
from jqtest import ServerTestCase, main, wait_until

# Explicit bounds, scaled like the harness's own for slow runs.
SCALE = getattr(jqtest, "TIMEOUT_SCALE", 1)
CLI_TIMEOUT_S = 60 * SCALE
WAIT_MS = 60000
REPLY_S = 90

BLOCK = 'while [ ! -e "$0" ]; do sleep 0.05; done'


def sh(script, *args):
    """argv running script with /bin/sh; $0, $1... are args."""
    return ["sh", "-c", script] + [str(a) for a in (args or ("sh",))]


def dead_tcp_address():
    """A bound, non-listening socket: connecting to it is refused.
    Returns (socket, "host:port")."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s, "127.0.0.1:%d" % s.getsockname()[1]


def cli_env(extra=None):
    """Our environment without the variables that steer jq-client."""
    e = {k: v for k, v in os.environ.items()
         if k not in ("JQ_ADDR", "JQ_TOKEN", "JQ_JOB_ID")}
    e.update(extra or {})
    return e


def utc_ms(y, mo, d, h=0, mi=0, s=0, ms=0):
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1000 + ms


class FakeServer(jqtest.FakeServer):
    """Records every request line and answers ok (with "job": JOB to a
    submit)."""

    JOB = 41

    def answer(self, req):
        reply = super().answer(req)
        if req.get("op") == "submit":
            reply["job"] = self.JOB
        return reply


class CliJobCase(ServerTestCase):
    """Running jq-client, and job helpers over the control connection."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dead_sock, cls.dead_addr = dead_tcp_address()

    @classmethod
    def tearDownClass(cls):
        cls.dead_sock.close()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="jqd-clijobs-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    # -- running the CLI ------------------------------------------------------

    def argv(self, args, addr=None, json_out=False):
        cmd = [os.environ["JQ_CLIENT"], "-H", addr or self.server.addr]
        if json_out:
            cmd.append("--json")
        return cmd + [str(a) for a in args]

    def cli(self, *args, addr=None, json_out=False, code=None, env=None,
            input=None):
        """Run jq-client to the end; check the exit status if given.
        The result has .out and .err decoded."""
        cmd = self.argv(args, addr, json_out)
        stdin = None if input is not None else subprocess.DEVNULL
        p = subprocess.run(cmd, input=input, stdin=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=cli_env(env), timeout=CLI_TIMEOUT_S)
        p.out = p.stdout.decode("utf-8", "replace")
        p.err = p.stderr.decode("utf-8", "replace")
        if code is not None:
            self.assertEqual(p.returncode, code,
                             "%s exited %d, expected %d\nstdout: %s\n"
                             "stderr: %s" % (cmd[1:], p.returncode, code,
                                             p.out, p.err))
        return p

    def cli_json(self, *args, code=0, lines=1, **kw):
        p = self.cli(*args, json_out=True, code=code, **kw)
        objs = [json.loads(l) for l in p.out.splitlines()]
        self.assertEqual(len(objs), lines, "stdout: %r" % p.out)
        return objs[0] if lines == 1 else objs

    def cli_id(self, *args, **kw):
        """A submit that prints an id and nothing else; the id."""
        p = self.cli("submit", *args, code=0, **kw)
        self.assertRegex(p.out, r"\A[1-9][0-9]*\n\Z")
        return int(p.out)

    def popen(self, *args, addr=None, **kw):
        """jq-client in the background, stdout and stderr piped unless kw
        says otherwise; killed on cleanup if still running."""
        opts = dict(stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, env=cli_env())
        opts.update(kw)
        proc = subprocess.Popen(self.argv(args, addr), **opts)

        def reap():
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        self.addCleanup(reap)
        return proc

    def finish(self, proc, code):
        out, err = proc.communicate(timeout=CLI_TIMEOUT_S)
        self.assertEqual(proc.returncode, code,
                         "exit %d, expected %d\nstdout: %r\nstderr: %r"
                         % (proc.returncode, code, out, err))
        return out.decode(), err.decode()

    # -- jobs ---------------------------------------------------------------

    def path(self, name):
        return os.path.join(self.tmp, name)

    def touch(self, name):
        with open(self.path(name), "a"):
            pass

    def submit(self, argv, **fields):
        return self.ctl.ok("submit", argv=argv, **fields)["job"]

    def job(self, jid):
        return self.ctl.ok("job", job=jid)

    def wait1(self, jid):
        r = self.ctl.ok("wait", reply_timeout=REPLY_S, jobs=[jid],
                        timeout_ms=WAIT_MS)
        return r["results"][0]

    def wait_state(self, jid, state):
        def reached():
            r = self.job(jid)
            return r if r["state"] == state else None
        return wait_until(reached, what="job %d %s" % (jid, state))

    def release_on_cleanup(self, release, jid):
        """On cleanup, create file `release` and wait for job jid to end,
        before the temporary directory (and the file) goes away."""
        def release_and_wait():
            self.touch(release)
            self.ctl.call("wait", reply_timeout=REPLY_S, jobs=[jid],
                          timeout_ms=WAIT_MS)
        self.addCleanup(release_and_wait)

    def blocker(self, release, **fields):
        """A running job that ends (exit 0) once file `release` exists."""
        jid = self.submit(sh(BLOCK, self.path(release)), **fields)
        self.release_on_cleanup(release, jid)
        self.wait_state(jid, "running")
        return jid

    def long_job(self, **fields):
        jid = self.submit(["sleep", "300"], **fields)
        self.addCleanup(self.ctl.call, "cancel", job=jid)
        return jid

    def newest_job(self):
        return self.ctl.ok("jobs", limit=1)["jobs"][0]["job"]

    def wait_blocked(self, n=1):
        """Until n requests are blocked on the server (a CLI's wait)."""
        wait_until(lambda: self.ctl.ok("stats")["waiting"] >= n,
                   what="%d blocked request(s)" % n)


class SubmitTest(CliJobCase):
    server_args = ("--workers", "4", "--kill-grace", "300ms",
                   "--retry-delay", "50ms")

    # -- what submit prints ---------------------------------------------------

    def test_submit_prints_id(self):
        jid = self.cli_id("--", "sh", "-c", 'printf "%s|" "$@"', "sh",
                          "a b", "", "-x")
        self.assertEqual(self.newest_job(), jid)
        res = self.wait1(jid)
        self.assertEqual(res["state"], "succeeded", res)
        self.assertEqual(res["stdout"], "a b||-x|")
        # Without "--" the options end at the command.
        jid = self.cli_id("--name", "n1", "echo", "-n", "--name", "x")
        res = self.wait1(jid)
        self.assertEqual((res["name"], res["stdout"]), ("n1", "--name x"))
        r = self.cli_json("submit", "--", "true")
        self.assertIs(r["ok"], True)
        self.assertEqual(self.newest_job(), r["job"])

    def test_wait_output_streams_and_exit_code(self):
        p = self.cli("submit", "--wait", "--", "sh", "-c",
                     "echo out1; echo err1 >&2; printf out2; exit 3", code=3)
        self.assertEqual(p.out, "out1\nout2")
        # The job id first (stdout is the job's), then its stderr.
        self.assertTrue(p.err.startswith("jq-client: job %d submitted\n"
                                         "err1\n" % self.newest_job()),
                        p.err)
        self.assertNotIn("out", p.err)
        p = self.cli("submit", "--wait", "--", "echo", "fine", code=0)
        self.assertEqual((p.out, p.err), ("fine\n", "jq-client: job %d "
                                          "submitted\n" % self.newest_job()))
        p = self.cli("submit", "--wait", "--", "sh", "-c", "exit 200",
                     code=200)
        self.assertEqual(p.out, "")
        # --json: one document, the job and its result; same status.
        doc = self.cli_json("submit", "--wait", "--", "sh", "-c",
                            "echo j; exit 7", code=7)
        self.assertEqual(doc["result"]["job"], doc["job"])
        self.assertEqual(doc["result"]["stdout"], "j\n")

    def test_wait_signal_exit_128_plus_n(self):
        p = self.cli("submit", "--wait", "--", "sh", "-c",
                     "echo before; kill -TERM $$; echo after", code=143)
        self.assertEqual(p.out, "before\n")
        self.cli("submit", "--wait", "--", "sh", "-c", "kill -9 $$",
                 code=137)
        res = self.job(self.newest_job())
        self.assertEqual((res["state"], res["signal"]), ("failed", 9))

    def test_wait_deadline_124(self):
        start = time.monotonic()
        p = self.cli("submit", "--wait", "--timeout", "300ms", "--",
                     "sleep", "30", code=124)
        self.assertLess(time.monotonic() - start, 25)
        self.assertIn("deadline", p.err)
        res = self.job(self.newest_job())
        self.assertEqual((res["state"], res["error"]),
                         ("deadline_exceeded", "deadline exceeded"))
        doc = self.cli_json("submit", "--wait", "--run-timeout", "300ms",
                            "--", "sleep", "30", code=124)
        res = doc["result"]
        self.assertEqual((res["job"], res["state"], res["error"]),
                         (doc["job"], "deadline_exceeded", "run_timeout"))

    def test_wait_canceled_125(self):
        group = self.name("g")
        self.addCleanup(self.ctl.call, "cancel", group=group)
        proc = self.popen("submit", "--wait", "--group", group, "--",
                          "sleep", "300")

        def running():
            jobs = self.ctl.ok("jobs", group=group)["jobs"]
            return jobs[0]["job"] if jobs and jobs[0]["state"] == "running" \
                else None
        jid = wait_until(running, what="the job of submit --wait running")
        self.wait_blocked()             # the CLI waits for it
        self.assertIsNone(proc.poll())
        p = self.cli("cancel", jid, code=0)
        self.assertEqual(p.out, "1\n")
        out, err = self.finish(proc, 125)
        self.assertEqual(out, "")
        self.assertIn("canceled", err)
        self.assertEqual(self.job(jid)["state"], "canceled")

    def test_wait_cannot_start_127(self):
        p = self.cli("submit", "--wait", "--", "no-such-command-jqd-test",
                     code=127)
        self.assertIn("command not found", p.err)
        self.cli("submit", "--wait", "--cwd", self.path("missing-dir"), "--",
                 "true", code=127)

    # -- every option reaches the server --------------------------------------

    def test_options_on_the_wire(self):
        fake = FakeServer()
        self.addCleanup(fake.close)
        stdin_file = self.path("stdin.txt")
        with open(stdin_file, "w", encoding="utf-8") as f:
            f.write("line one\nzweite Zeile \u00fc\n")
        p = self.cli("submit", "--name", "the name", "--group", "grp.1",
                     "--timeout", "1.5s", "--deadline",
                     "2099-01-02T03:04:05.678Z", "--run-timeout", "2m",
                     "--delay", "250ms", "--key", "k/1", "--parent", "12",
                     "--env", "A=1", "--env", "B=two words", "--env", "C=",
                     "--env", "D=x=y", "--cwd", "/some/dir", "--stdin-file",
                     stdin_file, "--priority", "-3", "--retries", "4",
                     "--result-chan", "results.c", "--", "cmd",
                     "arg with space", "-x", "--flag", addr=fake.addr, code=0)
        self.assertEqual(p.out, "%d\n" % FakeServer.JOB)
        (req,) = fake.take()
        req.pop("id", None)
        self.assertEqual(req, {
            "op": "submit",
            "argv": ["cmd", "arg with space", "-x", "--flag"],
            "name": "the name", "group": "grp.1", "timeout_ms": 1500,
            "deadline_ms": utc_ms(2099, 1, 2, 3, 4, 5, 678),
            "run_timeout_ms": 120000, "delay_ms": 250, "key": "k/1",
            "parent": 12,
            "env": {"A": "1", "B": "two words", "C": "", "D": "x=y"},
            "cwd": "/some/dir", "stdin": "line one\nzweite Zeile \u00fc\n",
            "priority": -3, "retries": 4, "result_chan": "results.c"})

        # --deadline forms; --stdin-file -; --parent from JQ_JOB_ID.
        cases = [
            (["--deadline", "4102444800000"], None, None,
             {"deadline_ms": 4102444800000}),
            (["--deadline", "2030-06-01T12:00:00+02:00"], None, None,
             {"deadline_ms": utc_ms(2030, 6, 1, 10)}),
            (["--deadline", "2030-06-01 12:00:00.5-01:30"], None, None,
             {"deadline_ms": utc_ms(2030, 6, 1, 13, 30, 0, 500)}),
            (["--stdin-file", "-"], b"from stdin\n", None,
             {"stdin": "from stdin\n"}),
            ([], None, {"JQ_JOB_ID": "77"}, {"parent": 77}),
            (["--parent", "5"], None, {"JQ_JOB_ID": "77"}, {"parent": 5}),
            (["--no-parent"], None, {"JQ_JOB_ID": "77"}, {}),
            ([], None, {"JQ_JOB_ID": "not-a-job"}, {}),
            ([], None, None, {}),
        ]
        for opts, stdin, env, want in cases:
            with self.subTest(opts=opts, env=env):
                self.cli("submit", *(opts + ["--", "true"]), addr=fake.addr,
                         input=stdin, env=env, code=0)
                (req,) = fake.take()
                req.pop("id", None)
                # Without --cwd: our own directory (the test's).
                want = dict(want, op="submit", argv=["true"],
                            cwd=os.getcwd())
                self.assertEqual(req, want)

    def test_options_reach_the_daemon(self):
        parent = self.cli_id("--", "true")
        self.wait1(parent)
        group = self.name("g")
        stdin_file = self.path("in.txt")
        with open(stdin_file, "w", encoding="utf-8") as f:
            f.write("fed \u00e9\nsecond\n")
        deadline = utc_ms(2099, 1, 2, 3, 4, 5, 678)
        script = ('printf "%s|%s|%s|%s\\n" "$A" "$B" "${C-unset}" "$D"; '
                  'pwd -P; cat; echo "$JQ_GROUP $JQ_DEADLINE_MS"')
        jid = self.cli_id("--name", "all-opts", "--group", group,
                          "--deadline", "2099-01-02T03:04:05.678Z",
                          "--parent", parent, "--env", "A=1",
                          "--env", "B=two words", "--env", "C=",
                          "--env", "D=x=y", "--cwd", self.tmp,
                          "--stdin-file", stdin_file, "--priority", "-7",
                          "--", "sh", "-c", script)
        res = self.wait1(jid)
        self.assertEqual(res["state"], "succeeded", res)
        self.assertEqual((res["name"], res["group"], res["parent"],
                          res["priority"], res["deadline_ms"]),
                         ("all-opts", group, parent, -7, deadline))
        self.assertEqual(res["stdout"], "1|two words||x=y\n%s\nfed \u00e9\n"
                         "second\n%s %d\n" % (os.path.realpath(self.tmp),
                                              group, deadline))
        r = self.cli_json("job", jid)
        self.assertEqual((r["name"], r["group"], r["parent"], r["priority"]),
                         ("all-opts", group, parent, -7))

        # --deadline as unix ms; --timeout counts from submission.
        jid = self.cli_id("--deadline", "4102444800000", "--", "true")
        self.assertEqual(self.wait1(jid)["deadline_ms"], 4102444800000)
        jid = self.cli_id("--timeout", "1h", "--", "true")
        res = self.wait1(jid)
        self.assertEqual(res["deadline_ms"] - res["submitted_ms"], 3600000)

        # --delay: not started before.
        jid = self.cli_id("--delay", "800ms", "--", "true")
        res = self.wait1(jid)
        self.assertEqual(res["state"], "succeeded")
        self.assertGreaterEqual(res["started_ms"] - res["submitted_ms"], 800)

        # --retries: attempts 1 + 2.
        jid = self.cli_id("--retries", "2", "--", "sh", "-c", "exit 3")
        res = self.wait1(jid)
        self.assertEqual((res["state"], res["exit_code"], res["attempt"]),
                         ("failed", 3, 3))

        # --result-chan: the result arrives there.
        chan = self.make(cap=2)
        jid = self.cli_id("--result-chan", chan, "--", "echo", "res")
        v = self.ctl.ok("recv", chan=chan, timeout_ms=WAIT_MS,
                        reply_timeout=REPLY_S)["value"]
        self.assertEqual((v["job"], v["state"], v["stdout"]),
                         (jid, "succeeded", "res\n"))

        # --run-timeout: stopped, deadline_exceeded with error run_timeout.
        jid = self.cli_id("--run-timeout", "300ms", "--", "sleep", "30")
        res = self.wait1(jid)
        self.assertEqual((res["state"], res["error"]),
                         ("deadline_exceeded", "run_timeout"))

    def test_key_duplicate_prints_same_id(self):
        key = self.name("key")
        first = self.cli_id("--key", key, "--", "true")
        self.assertEqual(self.wait1(first)["state"], "succeeded")
        again = self.cli_id("--key", key, "--", "false")
        self.assertEqual(again, first)
        r = self.cli_json("submit", "--key", key, "--", "false")
        self.assertEqual((r["job"], r.get("duplicate")), (first, True))
        self.cli("submit", "--key", key, "--wait", "--", "false", code=0)
        self.assertEqual(self.newest_job(), first)   # nothing new ran
        self.assertEqual(self.job(first)["state"], "succeeded")

    def test_submit_inside_job_defaults_parent(self):
        script = ('"$JQ_CLIENT" -H "$ADDR" submit -- true && '
                  '"$JQ_CLIENT" -H "$ADDR" submit --no-parent -- true && '
                  '"$JQ_CLIENT" -H "$ADDR" submit --parent "$OTHER" -- true')
        other = self.cli_id("--", "true")
        jid = self.submit(sh(script), env={
            "JQ_CLIENT": os.environ["JQ_CLIENT"], "ADDR": self.server.addr,
            "OTHER": str(other)})
        res = self.wait1(jid)
        self.assertEqual(res["state"], "succeeded", res)
        ids = [int(x) for x in res["stdout"].split()]
        self.assertEqual(len(ids), 3, res)
        parents = [self.wait1(i)["parent"] for i in ids]
        self.assertEqual(parents, [jid, None, other])


class JobCommandsTest(CliJobCase):
    server_args = ("--workers", "4", "--kill-grace", "300ms")

    def test_job_human_and_json(self):
        group = self.name("g")
        jid = self.cli_id("--name", "human", "--group", group, "--", "sh",
                          "-c", "echo hello; echo oops >&2; exit 3")
        self.wait1(jid)
        out = self.cli("job", jid, code=0).out
        for rx in (r"^job:\s+%d$" % jid, r"^state:\s+failed$",
                   r"^exit_code:\s+3$", r"^name:\s+human$",
                   r"^group:\s+%s$" % re.escape(group)):
            self.assertRegex(out, re.compile(rx, re.M))
        self.assertIn("\n--- stdout ---\nhello\n", out)
        self.assertIn("\n--- stderr ---\noops\n", out)
        # --json: the protocol's reply, without its "id".
        r = self.cli_json("job", jid)
        want = self.job(jid)
        want.pop("id")
        self.assertNotIn("id", r)
        self.assertEqual(r, want)

        jid = self.cli_id("--", "sh", "-c", "kill -TERM $$")
        self.wait1(jid)
        out = self.cli("job", jid, code=0).out
        self.assertRegex(out, re.compile(r"^state:\s+failed$", re.M))
        self.assertRegex(out, re.compile(r"^signal:\s+15$", re.M))
        self.assertNotRegex(out, re.compile(r"^exit_code:", re.M))

        jid = self.blocker("rel")
        out = self.cli("job", jid, code=0).out
        self.assertRegex(out, re.compile(r"^state:\s+running$", re.M))

        p = self.cli("job", 999999, code=1)
        self.assertIn("not_found", p.err)

    def test_jobs_table(self):
        group = self.name("g")
        j1 = self.cli_id("--group", group, "--name", "one", "--", "true")
        j2 = self.cli_id("--group", group, "--name", "two", "--", "sh", "-c",
                         "exit 4")
        self.wait1(j1)
        self.wait1(j2)
        j3 = self.blocker("rel", group=group, name="three")

        def rows(*args):
            lines = self.cli("jobs", *args, code=0).out.splitlines()
            self.assertEqual(lines[0].split(), ["ID", "STATE", "EXIT",
                             "ATTEMPT", "AGE", "DURATION", "GROUP", "COMMAND"])
            return [l.split() for l in lines[1:]]

        got = rows("--group", group)
        self.assertEqual([r[0] for r in got], [str(j3), str(j2), str(j1)])
        self.assertEqual([r[1] for r in got], ["running", "failed",
                                               "succeeded"])
        self.assertEqual([r[2] for r in got], ["-", "4", "0"])
        self.assertEqual([r[6] for r in got], [group] * 3)
        self.assertEqual([r[7] for r in got], ["three", "two", "one"])

        self.assertEqual([r[0] for r in rows("--group", group, "--state",
                                             "failed")], [str(j2)])
        self.assertEqual([r[0] for r in rows("--state", "running", "--group",
                                             group)], [str(j3)])
        self.assertEqual([r[0] for r in rows("--group", group, "--limit",
                                             "2")], [str(j3), str(j2)])
        self.assertEqual([r[0] for r in rows("--group", group, "--before",
                                             j3)], [str(j2), str(j1)])
        self.assertEqual(rows("--group", self.name("nobody")), [])
        everything = rows()
        self.assertEqual(everything[0][0], str(j3))     # newest first
        ids = [int(r[0]) for r in everything]
        self.assertEqual(ids, sorted(ids, reverse=True))

        r = self.cli_json("jobs", "--group", group)
        self.assertEqual([j["job"] for j in r["jobs"]], [j3, j2, j1])
        self.assertNotIn("stdout", r["jobs"][0])

    def test_logs(self):
        jid = self.cli_id("--", "sh", "-c",
                          "printf 'a\\nb'; printf 'e1\\ne2\\n' >&2")
        self.wait1(jid)
        p = self.cli("logs", jid, code=0)
        self.assertEqual((p.out, p.err), ("a\nb", "e1\ne2\n"))
        # A running job: its output so far.
        jid = self.submit(sh("echo partial; echo perr >&2; " + BLOCK,
                             self.path("rel")))
        self.release_on_cleanup("rel", jid)
        wait_until(lambda: self.job(jid).get("stdout") == "partial\n" and
                   self.job(jid).get("stderr") == "perr\n",
                   what="partial output")
        p = self.cli("logs", jid, code=0)
        self.assertEqual((p.out, p.err), ("partial\n", "perr\n"))
        p = self.cli("logs", 999999, code=1)
        self.assertEqual(p.out, "")

    def test_cancel_ids_and_group(self):
        a, b = self.long_job(), self.long_job()
        p = self.cli("cancel", a, b, code=0)
        self.assertEqual(p.out, "2\n")
        self.assertEqual([self.wait1(j)["state"] for j in (a, b)],
                         ["canceled", "canceled"])
        self.assertEqual(self.cli("cancel", a, code=0).out, "0\n")

        group = self.name("g")
        ids = [self.long_job(group=group) for _ in range(6)]   # 4 workers
        other = self.long_job()
        p = self.cli("cancel", "--group", group, code=0)
        self.assertEqual(p.out, "6\n")
        self.assertEqual({self.wait1(j)["state"] for j in ids}, {"canceled"})
        self.assertIn(self.job(other)["state"], ("queued", "running"))
        self.assertEqual(self.cli("cancel", "--group", group, code=0).out,
                         "0\n")
        # A group with no job is an error (test_job_admin.py).
        self.assertEqual(self.cli("cancel", "--group", self.name("nobody"),
                                  code=1).out, "")
        r = self.cli_json("cancel", other)
        self.assertEqual(r["canceled"], 1)
        p = self.cli("cancel", 999999, code=1)
        self.assertIn("not_found", p.err)
        # An unknown id does not stop the rest; the count is still printed.
        c = self.long_job()
        p = self.cli("cancel", 999999, c, code=1)
        self.assertEqual(p.out, "1\n")
        self.assertEqual(self.wait1(c)["state"], "canceled")

    def test_wait_ids_and_group(self):
        group = self.name("g")
        a = self.cli_id("--group", group, "--", "true")
        b = self.cli_id("--group", group, "--", "echo", "x")
        p = self.cli("wait", a, b, code=0)
        lines = [l.split() for l in p.out.splitlines()]
        self.assertEqual([l[:2] for l in lines], [[str(a), "succeeded"],
                                                  [str(b), "succeeded"]])
        self.cli("wait", "--group", group, code=0)
        f = self.cli_id("--group", group, "--", "false")
        self.cli("wait", a, f, code=1)
        p = self.cli("wait", "--group", group, code=1)
        states = {int(l.split()[0]): l.split()[1] for l in p.out.splitlines()}
        self.assertEqual(states, {a: "succeeded", b: "succeeded",
                                  f: "failed"})
        self.cli("wait", "--group", self.name("nobody"), code=1)

        # Blocks until the jobs end; --timeout gives 124.
        group = self.name("g")
        blk = self.blocker("rel", group=group)
        p = self.cli("wait", "--timeout", "200ms", blk, code=124)
        self.assertIn("timeout", p.err)
        self.cli("wait", "--timeout", "200ms", "--group", group, code=124)
        proc = self.popen("wait", "--group", group)
        self.wait_blocked()
        self.assertIsNone(proc.poll())
        self.touch("rel")
        out, _ = self.finish(proc, 0)
        self.assertEqual(out.split()[:2], [str(blk), "succeeded"])
        p = self.cli("wait", 999999, code=1)
        self.assertIn("not_found", p.err)


class LogsFollowTest(CliJobCase):
    """logs --follow: output as it comes, over a watch; exits when the job
    is final, 0 if it succeeded, 1 otherwise."""

    def test_follow_streams_then_exits(self):
        jid = self.submit(sh('echo first; echo warn >&2; '
                             'while [ ! -e "$0" ]; do sleep 0.05; done; '
                             'echo second', self.path("go")))
        self.release_on_cleanup("go", jid)
        p = self.popen("logs", "--follow", str(jid))
        # "first" is printed while the job still runs.
        line = p.stdout.readline()
        self.assertEqual(line, b"first\n")
        self.assertEqual(self.job(jid)["state"], "running")
        self.touch("go")
        out, err = p.communicate(timeout=CLI_TIMEOUT_S)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(line + out, b"first\nsecond\n")
        self.assertEqual(err, b"warn\n")
        self.assertEqual(self.ctl.ok("stats")["ops"].get("watch", 0) >= 1,
                         True)

    def test_follow_failed_and_final_job(self):
        jid = self.submit(sh("printf 'x%.0s' $(seq 1 5000); exit 4"))
        self.wait1(jid)
        p = self.cli("logs", "-f", str(jid), code=1)
        self.assertEqual(p.out, "x" * 5000)
        self.assertEqual(p.err, "")

    def test_follow_unknown_job(self):
        p = self.cli("logs", "--follow", "987654", code=1)
        self.assertIn("not_found", p.err)


class UsageTest(CliJobCase):
    """Usage errors exit 2 before any connection is tried."""

    CASES = [
        ("submit", "--bogus", "--", "true"),
        ("submit", "--timeout", "5parsecs", "--", "true"),
        ("submit", "--timeout", "0", "--", "true"),
        ("submit", "--deadline", "tomorrow", "--", "true"),
        ("submit", "--deadline", "2030-06-01T12:00:00", "--", "true"),
        ("submit", "--priority", "2000000", "--", "true"),
        ("submit", "--retries", "-1", "--", "true"),
        ("submit", "--parent", "0", "--", "true"),
        ("submit", "--parent", "1", "--no-parent", "--", "true"),
        ("submit", "--env", "NOEQUALS", "--", "true"),
        ("submit", "--group", "bad group", "--", "true"),
        ("submit", "--result-chan", "bad/chan", "--", "true"),
        ("submit", "--stdin-file", "/nonexistent/jqd-test", "--", "true"),
        ("submit",),
        ("submit", "--"),
        ("job", "abc"), ("logs",),
        ("jobs", "--state", "done"), ("jobs", "--limit", "0"),
        ("cancel",), ("cancel", "1", "--group", "g"),
        ("wait",), ("wait", "--timeout", "xyz", "1"),
        ("wait", "--group", "g", "5"), ("wait", "--units", "furlongs", "1"),
        ("wait", "--progress=yes", "1"),
    ]

    def test_usage_exit_2_without_connecting(self):
        # Nothing listens at dead_addr: a client that tried to connect
        # first would exit 3 (cannot connect) instead.
        for args in self.CASES:
            with self.subTest(args=args):
                p = self.cli(*args, addr=self.dead_addr, code=2)
                self.assertTrue(p.err.strip(), "no usage message")
                self.assertEqual(p.out, "")


class PtyReader:
    """The master side of a pseudo-terminal, read by a thread."""

    def __init__(self, cols=120):
        self.master, self.slave = os.openpty()
        attrs = termios.tcgetattr(self.slave)
        attrs[1] &= ~termios.OPOST      # bytes as written: no "\n" -> "\r\n"
        termios.tcsetattr(self.slave, termios.TCSANOW, attrs)
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ,
                    struct.pack("HHHH", 24, cols, 0, 0))
        self.data = bytearray()
        self.cond = threading.Condition()
        self.eof = False
        self.thread = threading.Thread(target=self._read, daemon=True)

    def start(self):
        """After the child has the slave: close our copy, start reading."""
        os.close(self.slave)
        self.thread.start()

    def _read(self):
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:         # EIO: every slave fd is closed
                chunk = b""
            with self.cond:
                if not chunk:
                    self.eof = True
                    self.cond.notify_all()
                    return
                self.data += chunk
                self.cond.notify_all()

    def text(self):
        with self.cond:
            return bytes(self.data)

    def wait_eof(self, timeout=CLI_TIMEOUT_S):
        with self.cond:
            self.cond.wait_for(lambda: self.eof, timeout)
        self.thread.join(5)
        return self.text()

    def close(self):
        os.close(self.master)


class PipeReader:
    """A child's stderr pipe, read by a thread."""

    def __init__(self, f):
        self.f = f
        self.data = bytearray()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for chunk in iter(lambda: self.f.read1(4096), b""):
            with self.lock:
                self.data += chunk

    def text(self):
        with self.lock:
            return bytes(self.data)

    def wait_eof(self, timeout=CLI_TIMEOUT_S):
        self.thread.join(timeout)
        return self.text()


# The rate and ETA come once a second has passed (cli-progress.h).
LINE_RX = (r"(\d+)/(\d+) jobs  (\d+) running  (\d+) failed"
           r"(?:  (\d+)/(\d+))?(?:  [0-9.]+(?: jobs)?/s)?(?:  ETA \S+)?")
BAR_LINE = re.compile(r"\[([#.]{20})\] " + LINE_RX)
PLAIN_LINE = re.compile(LINE_RX)


class ProgressTest(CliJobCase):
    server_args = ("--workers", "3")

    PROGRESS_JOB = ('echo 5 10 >&$JQ_PROGRESS_FD; ' + BLOCK +
                    '; echo 10 10 >&$JQ_PROGRESS_FD')

    def ops_group(self):
        return self.ctl.ok("stats")["ops"]["group"]

    def scenario(self, spawn):
        """Three running jobs of a group at 5/10 each, then released one
        by one while `wait --group G --progress --units plain` runs.
        spawn(argv) starts it and returns (proc, reader).  Returns the
        bytes the progress display wrote and the command's stdout."""
        group = self.name("g")
        jobs = [self.submit(sh(self.PROGRESS_JOB, self.path("rel%d" % i)),
                            group=group) for i in range(3)]
        for i, jid in enumerate(jobs):
            self.release_on_cleanup("rel%d" % i, jid)
        wait_until(lambda: self.ctl.ok("group", group=group) if
                   self.ctl.ok("group", group=group)["running"] == 3 and
                   self.ctl.ok("group", group=group)["progress"] ==
                   {"done": 15, "total": 30} else None,
                   what="three jobs running at 5/10")
        proc, reader = spawn(self.argv(["wait", "--group", group,
                                        "--progress", "--units", "plain"]))
        self.addCleanup(lambda: proc.poll() is None and proc.kill())

        def shows(s):
            return lambda: s.encode() in reader.text()
        wait_until(shows("0/3 jobs"), what="0/3 shown")
        self.assertIn(b"15/30", reader.text())
        # With nothing changed, nothing more is shown; the figures come
        # from watch frames (PROTOCOL.md 11.15), not from polling `group`.
        polls = self.ops_group()
        self.assertEqual(reader.text().count(b"0/3 jobs"), 1, reader.text())
        for i in range(3):
            self.touch("rel%d" % i)
            wait_until(shows("%d/3 jobs" % (i + 1)),
                       what="%d/3 shown (so far %r)" % (i + 1, reader.text()))
        out, _ = proc.communicate(timeout=CLI_TIMEOUT_S)
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(self.ops_group(), polls, "wait --progress polled")
        shown = reader.wait_eof()
        # The result lines on stdout, one per job.
        self.assertEqual([l.split()[:2] for l in out.decode().splitlines()],
                         [[str(j), "succeeded"] for j in jobs])
        return shown

    def assertFiguresAdvance(self, figures):
        finished = [int(m[0]) for m in figures]
        self.assertEqual(finished, sorted(finished), figures)
        self.assertEqual(sorted(set(finished)), [0, 1, 2, 3], figures)
        self.assertEqual(figures[0], ("0", "3", "3", "0", "15", "30"))
        self.assertEqual(figures[-1], ("3", "3", "0", "0", "30", "30"))
        for a, b in zip(figures, figures[1:]):
            self.assertNotEqual(a, b, "a line repeated: %r" % (figures,))

    def test_progress_on_terminal(self):
        def spawn(argv):
            pty = PtyReader()
            self.addCleanup(pty.close)
            proc = subprocess.Popen(argv, stdin=pty.slave,
                                    stdout=subprocess.PIPE, stderr=pty.slave,
                                    env=cli_env())
            pty.start()
            return proc, pty
        shown = self.scenario(spawn).decode()
        self.assertIn("\r", shown)
        self.assertIn("\x1b[K", shown)
        # Redrawn in place: "\r" LINE "\033[K" each time, the cursor
        # hidden first and shown again before the one newline at the end.
        self.assertTrue(shown.startswith("\x1b[?25l\r"), repr(shown))
        self.assertTrue(shown.endswith("\x1b[K\x1b[?25h\n"), repr(shown))
        self.assertEqual(shown.count("\n"), 1, repr(shown))
        draws = shown[len("\x1b[?25l"):-len("\x1b[?25h\n")].split("\r")[1:]
        figures, bars = [], []
        for d in draws:
            self.assertTrue(d.endswith("\x1b[K"), repr(d))
            m = BAR_LINE.fullmatch(d[:-3])
            self.assertTrue(m, "not a progress line: %r" % d)
            bars.append(m.group(1))
            figures.append(m.groups()[1:])
        self.assertFiguresAdvance(figures)
        # No job queued and totals known: the bar shows the larger of the
        # finished share (0) and the amount share (15/30).
        self.assertEqual(bars[0], "#" * 10 + "." * 10)
        self.assertEqual(bars[-1], "#" * 20)

    def test_progress_on_pipe(self):
        def spawn(argv):
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=cli_env())
            return proc, PipeReader(proc.stderr)
        shown = self.scenario(spawn).decode()
        self.assertNotIn("\r", shown)
        self.assertNotIn("\x1b", shown)
        self.assertTrue(shown.endswith("\n"), repr(shown))
        figures = []
        for line in shown.splitlines():
            m = PLAIN_LINE.fullmatch(line)
            self.assertTrue(m, "not a plain progress line: %r" % line)
            figures.append(m.groups())
        self.assertFiguresAdvance(figures)

    def test_progress_cut_to_terminal_width(self):
        group = self.name("g")
        jobs = [self.submit(["true"], group=group) for _ in range(2)]
        for j in jobs:
            self.wait1(j)
        pty = PtyReader(cols=30)
        self.addCleanup(pty.close)
        proc = subprocess.Popen(self.argv(["wait", "--group", group,
                                           "--progress"]),
                                stdin=pty.slave, stdout=subprocess.PIPE,
                                stderr=pty.slave, env=cli_env())
        pty.start()
        proc.communicate(timeout=CLI_TIMEOUT_S)
        self.assertEqual(proc.returncode, 0)
        shown = pty.wait_eof().decode()
        self.assertEqual(shown, "\x1b[?25l\r" + "[" + "#" * 20 + "] 2/2 jo"
                         + "\x1b[K\x1b[?25h\n")

    def test_progress_by_ids_bytes_and_failures(self):
        a = self.submit(sh("echo 1536 4096 >&$JQ_PROGRESS_FD"))
        b = self.submit(sh("echo 512 >&$JQ_PROGRESS_FD; exit 2"))
        self.wait1(a)
        self.wait1(b)
        p = self.cli("wait", "--progress", a, b, code=1)
        # b reported no total: finished, what it did (512) is its total.
        self.assertEqual(p.err.splitlines()[-1],
                         "2/2 jobs  0 running  1 failed  2.0 KiB/4.5 KiB")
        self.assertNotIn("\r", p.err)
        p = self.cli("wait", "--progress", "--units", "plain", a, code=0)
        self.assertEqual(p.err, "1/1 jobs  0 running  0 failed  1536/4096\n")


if __name__ == "__main__":
    main(need_client=True)
