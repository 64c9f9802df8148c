"""Jobs: submit, job, jobs, cancel, wait, group (PROTOCOL.md section 11),
with the job side of stats (9.4), the job limits (8) and restarts (11.9).

Jobs are small commands of a POSIX system (sh, sleep, cat, env, ...) run
on the server's host.  Every job belongs to a group under the run's prefix
and is canceled at cleanup.  Tests of the pool (priority order, the worker
count) need a server no one else submits to: self-start mode or
JQ_CONFORMANCE_EXCLUSIVE=1; restarts and process checks need a private
server (self-start mode).
"""

import time

import harness
from harness import (GROUP, RESULT, RESULT_LISTED, TARGET, Case, Exact,
                     NonNeg, Open, Pos, True_, check_ok, start_server,
                     wait_until)

LONG_MS = 60000
SUBMITTED = {"job": Pos}


def sh(script):
    return ["sh", "-c", script]


class JobCase(Case):

    def setUp(self):
        super().setUp()
        self.g = self.group()

    def submit(self, argv, spec=SUBMITTED, **fields):
        """Submit in this test's group (unless given); returns the id."""
        fields.setdefault("group", self.g)
        if fields["group"] is None:
            del fields["group"]
        return self.c.ok("submit", spec, argv=argv, **fields)["job"]

    def result(self, job):
        """Wait for the job to be final; its result object."""
        return self.api.wait(jobs=[job], timeout_ms=LONG_MS)[0]

    def run_job(self, argv, **fields):
        return self.result(self.submit(argv, **fields))

    def job(self, job):
        return self.c.ok("job", RESULT, job=job)

    def wait_state(self, job, state):
        return wait_until(lambda: self.api.job(job)["state"] == state,
                          what="job %d %s" % (job, state))

    def server_now_ms(self):
        """The server's clock: submitted_ms of a fresh job."""
        return self.api.job(self.submit(["true"]))["submitted_ms"]


class SubmitTest(JobCase):

    def test_reply_and_result_shape(self):
        j = self.submit(sh("echo hi"), name="n-1")
        r = self.result(j)
        full = self.job(j)
        self.assertEqual(full["job"], j)
        self.assertEqual({k: full[k] for k in ("name", "group", "state",
                                               "exit_code", "signal", "error",
                                               "stdout", "stderr", "attempt",
                                               "parent", "priority",
                                               "stdout_truncated",
                                               "stderr_truncated",
                                               "progress")},
                         {"name": "n-1", "group": self.g,
                          "state": "succeeded", "exit_code": 0,
                          "signal": None, "error": None, "stdout": "hi\n",
                          "stderr": "", "attempt": 1, "parent": None,
                          "priority": 0, "stdout_truncated": False,
                          "stderr_truncated": False, "progress": None})
        self.assertLessEqual(full["submitted_ms"], full["started_ms"])
        self.assertLessEqual(full["started_ms"], full["finished_ms"])
        if TARGET.self_started:
            self.assertIsNone(full["deadline_ms"], "no deadline configured")
        # The result object of `wait` is `job`'s reply but for env_keys
        # (1.4), which only `job` has (11.10).
        self.assertNotIn("env_keys", r)
        self.assertEqual(r, {k: full[k] for k in full
                             if k not in ("id", "ok", "env_keys")})

    def test_ids_increase(self):
        a = self.submit(["true"])
        b = self.submit(["true"])
        self.assertGreater(b, a)

    def test_duplicate_key(self):
        key = self.name("key")
        j = self.submit(sh("echo first"), key=key)
        self.c.ok("submit", {"job": Exact(j), "duplicate": True_},
                  argv=sh("echo second"), key=key, group=self.g)
        self.assertEqual(self.result(j)["stdout"], "first\n")
        self.assertEqual(len(self.api.jobs(group=self.g)), 1,
                         "a duplicate submit ran something")
        # Another key is another job.
        self.submit(["true"], key=key + "-2")

    def test_field_validation(self):
        bad = [
            {}, {"argv": []}, {"argv": "true"}, {"argv": [1]},
            {"argv": [""]}, {"argv": ["true", 5]}, {"argv": ["a\x00b"]},
            {"env": ["X=1"]}, {"env": {"X": 1}}, {"env": {"": "v"}},
            {"env": {"A=B": "v"}}, {"env": {"X": "a\x00b"}},
            {"cwd": 5}, {"cwd": ""}, {"stdin": 5},
            {"timeout_ms": 0}, {"timeout_ms": -1}, {"timeout_ms": 1.5},
            {"timeout_ms": 9007199254740992}, {"deadline_ms": -1},
            {"deadline_ms": "soon"}, {"run_timeout_ms": 0},
            {"delay_ms": -1}, {"delay_ms": 9007199254740992},
            {"group": ""}, {"group": "bad name"}, {"group": "x" * 129},
            {"parent": 0}, {"parent": "1"}, {"key": ""}, {"key": "k" * 257},
            {"name": "n" * 257}, {"name": 5}, {"result_chan": "bad name"},
            {"priority": 1000001}, {"priority": -1000001},
            {"priority": 1.5}, {"retries": -1}, {"retries": 1001},
            {"name": ""}, {"cwd": "c" * 4097}, {"cwd": "a\x00"},
            {"name": "n\x00"}, {"key": "k\x00"}, {"group": "g\x00"},
        ]
        for fields in bad:
            req = dict({"argv": ["true"]}, **fields)
            if fields == {}:
                req = {}
            r = self.c.err("submit", "bad_request", **req)
            name = list(fields)[0] if fields else "argv"
            self.assertIn(name, r["error"]["message"], fields)
        # The edges that are allowed.
        self.submit(["true"], priority=1000000, retries=0, delay_ms=0,
                    key="k" * 256, name="n" * 256, timeout_ms=LONG_MS,
                    env={"EMPTY": ""}, stdin="",
                    deadline_ms=9007199254740991)
        self.submit(["true"], priority=-1000000, retries=1000,
                    group=("g" * 128), run_timeout_ms=9007199254740991)
        self.cancel_quietly("g" * 128)
        self.assertEqual(len(self.api.jobs(group=self.g)), 1,
                         "a refused submit queued a job")
        self.c.err("jobs", "bad_request", state="queued\x00")

    def test_check_order(self):
        # 11.3: fields in order argv, env, cwd, name, group, key, ...;
        # the fields are checked before a duplicate key is looked up.
        key = self.name("key")
        j = self.submit(["true"], key=key)
        r = self.c.err("submit", "bad_request", argv=["true"], key=key,
                       priority=10 ** 7, group=self.g)
        self.assertIn("priority", r["error"]["message"])
        r = self.c.err("submit", "bad_request", argv=[], env=5, name="")
        self.assertIn("argv", r["error"]["message"])
        r = self.c.err("submit", "bad_request", argv=["true"], env=5, name="")
        self.assertIn("env", r["error"]["message"])
        r = self.c.err("submit", "bad_request", argv=["true"], retries=-1,
                       timeout_ms=0, delay_ms=-1)
        self.assertIn("retries", r["error"]["message"])
        r = self.c.err("submit", "bad_request", argv=["true"], timeout_ms=0,
                       delay_ms=-1)
        self.assertIn("timeout_ms", r["error"]["message"])
        # A duplicate wins over not_found.
        self.c.ok("submit", {"job": Exact(j), "duplicate": True_},
                  argv=["true"], key=key, parent=9007199254740991,
                  result_chan=self.name("missing"))

    def test_not_found(self):
        self.c.err("submit", "not_found", argv=["true"],
                   result_chan=self.name("missing"), group=self.g)
        self.c.err("submit", "not_found", argv=["true"],
                   parent=9007199254740991, group=self.g)
        self.assertEqual(self.api.jobs(group=self.g), [])


class OutcomeTest(JobCase):

    def test_failed_with_exit_code(self):
        r = self.run_job(sh("echo out; echo err >&2; exit 3"))
        self.assertEqual((r["state"], r["exit_code"], r["signal"], r["error"],
                          r["stdout"], r["stderr"]),
                         ("failed", 3, None, None, "out\n", "err\n"))

    def test_cannot_start(self):
        r = self.run_job(["cf-no-such-command-7f3a"])
        self.assertEqual((r["state"], r["exit_code"], r["signal"], r["error"]),
                         ("failed", None, None, "cannot start: "
                          "cf-no-such-command-7f3a: command not found"))
        self.assertIsNotNone(r["started_ms"])
        self.assertIsNotNone(r["finished_ms"])
        r = self.run_job(["./cf-no-such-file-7f3a"], cwd="/")
        self.assertEqual(r["state"], "failed")
        self.assertTrue(r["error"].startswith("cannot start: "), r["error"])

    def test_killed_by_a_signal_jqd_did_not_send(self):
        r = self.run_job(sh("kill -KILL $$"))
        self.assertEqual((r["state"], r["signal"], r["exit_code"]),
                         ("failed", 9, None))

    def test_stdin(self):
        self.assertEqual(self.run_job(["cat"], stdin="abc\ndef")["stdout"],
                         "abc\ndef")
        r = self.run_job(["cat"])  # /dev/null by default
        self.assertEqual((r["state"], r["stdout"]), ("succeeded", ""))

    def test_cwd(self):
        self.assertEqual(self.run_job(["pwd"], cwd="/")["stdout"], "/\n")
        r = self.run_job(["pwd"], cwd="/cf-no-such-dir-7f3a")
        self.assertEqual(r["state"], "failed")
        self.assertIsInstance(r["error"], str)

    def test_not_utf8_output(self):
        r = self.run_job(sh(r"printf 'a\377b'; printf '\300' >&2"))
        self.assertEqual((r["stdout"], r["stderr"]), ("a\ufffdb", "\ufffd"))

    def test_nul_bytes(self):
        r = self.run_job(sh(r"printf 'a\000b'; cat >&2"), stdin="x\x00y")
        self.assertEqual((r["stdout"], r["stderr"]), ("a\x00b", "x\x00y"))

    def test_output_truncated(self):
        n = TARGET.max_output
        r = self.run_job(sh("head -c %d /dev/zero | tr '\\0' x; "
                            "echo done >&2" % (n + 5000)))
        self.assertEqual(r["state"], "succeeded", "job broken by the cap")
        self.assertIs(r["stdout_truncated"], True)
        self.assertIs(r["stderr_truncated"], False)
        self.assertEqual(r["stdout"], "x" * n)
        self.assertEqual(r["stderr"], "done\n")

    def test_progress(self):
        r = self.run_job(sh('echo "2 10" >&"$JQ_PROGRESS_FD"; '
                            'echo "7 10" >&"$JQ_PROGRESS_FD"'))
        self.assertEqual(r["progress"], {"done": 7, "total": 10})
        r = self.run_job(sh('echo "2 10" >&"$JQ_PROGRESS_FD"; '
                            'echo 5 >&"$JQ_PROGRESS_FD"'))
        self.assertEqual(r["progress"], {"done": 5, "total": None})
        r = self.run_job(sh('p=$JQ_PROGRESS_FD; printf "  4 \\t 9  \\n" >&$p; '
                            'echo "not progress" >&$p; echo "-1 3" >&$p'))
        self.assertEqual(r["progress"], {"done": 4, "total": 9})

    def test_environment(self):
        r = self.run_job(["env"], env={"CF_A": "1", "CF_B": "x=y"},
                         timeout_ms=LONG_MS)
        env = dict(l.split("=", 1) for l in r["stdout"].splitlines())
        self.assertEqual(env.get("CF_A"), "1")
        self.assertEqual(env.get("CF_B"), "x=y")
        self.assertEqual(env.get("JQ_JOB_ID"), str(r["job"]))
        self.assertEqual(env.get("JQ_GROUP"), self.g)
        self.assertEqual(env.get("JQ_PROGRESS_FD"), "3")
        self.assertEqual(env.get("JQ_DEADLINE_MS"), str(r["deadline_ms"]))
        self.assertIn("PATH", env)
        allowed = {"CF_A", "CF_B", "JQ_JOB_ID", "JQ_GROUP", "JQ_PROGRESS_FD",
                   "JQ_DEADLINE_MS", "PATH", "PWD", "SHLVL", "_", "OLDPWD"}
        self.assertEqual(sorted(set(env) - allowed), [],
                         "the daemon's environment leaks into jobs")
        r = self.run_job(["env"], group=None)
        env = dict(l.split("=", 1) for l in r["stdout"].splitlines())
        self.assertNotIn("JQ_GROUP", env, "JQ_GROUP without a group")
        if TARGET.self_started:
            self.assertNotIn("JQ_DEADLINE_MS", env, "no deadline applies")
            self.assertNotIn("JQ_CONFORMANCE_LEAK", env)
        self.assertEqual(self.run_job(["env"], env={"PATH": "/cf"})["state"],
                         "failed", "env's PATH is where argv[0] is looked up")
        # The reserved names cannot be set.
        r = self.run_job(["env"], env={"JQ_JOB_ID": "x", "JQ_GROUP": "y",
                                       "JQ_DEADLINE_MS": "1",
                                       "JQ_PROGRESS_FD": "9"})
        env = dict(l.split("=", 1) for l in r["stdout"].splitlines())
        self.assertEqual((env.get("JQ_JOB_ID"), env.get("JQ_GROUP"),
                          env.get("JQ_PROGRESS_FD")),
                         (str(r["job"]), self.g, "3"))
        if r["deadline_ms"] is None:
            self.assertNotIn("JQ_DEADLINE_MS", env)


class DeadlineTest(JobCase):

    def test_deadline_while_running(self):
        t0 = time.monotonic()
        r = self.run_job(["sleep", "30"], timeout_ms=300)
        self.assertEqual((r["state"], r["error"], r["exit_code"], r["signal"]),
                         ("deadline_exceeded", "deadline exceeded", None,
                          None))
        self.assertLess(time.monotonic() - t0, 20)
        self.assertEqual(r["deadline_ms"], r["submitted_ms"] + 300)
        self.assertIsNotNone(r["started_ms"])

    def test_deadline_while_queued(self):
        # Many jobs, to catch a timer that fires a little early.
        tmos = list(range(100, 400, 10))
        ids = [self.submit(["true"], delay_ms=LONG_MS, timeout_ms=t)
               for t in tmos]
        res = self.api.wait(jobs=ids, timeout_ms=LONG_MS)
        for r in res:
            self.assertEqual((r["state"], r["started_ms"]),
                             ("deadline_exceeded", None),
                             "ran past its deadline")
            self.assertLess(r["finished_ms"], r["deadline_ms"] + 5000,
                            "ended well after its deadline")
        early = [(r["job"], r["finished_ms"] - r["deadline_ms"])
                 for r in res if r["finished_ms"] < r["deadline_ms"]]
        self.assertEqual(early, [], "ended before its deadline "
                         "(job, finished_ms - deadline_ms)")

    def test_absolute_deadline_and_earlier_wins(self):
        now = self.server_now_ms()
        r = self.run_job(["sleep", "30"], deadline_ms=now + 400,
                         timeout_ms=LONG_MS)
        self.assertEqual(r["state"], "deadline_exceeded")
        self.assertEqual(r["deadline_ms"], now + 400)
        j = self.submit(["true"], deadline_ms=now + 10 * LONG_MS,
                        timeout_ms=LONG_MS, delay_ms=LONG_MS)
        d = self.api.job(j)
        self.assertEqual(d["deadline_ms"], d["submitted_ms"] + LONG_MS)
        for past in (now - 1000, 0):
            r = self.run_job(["true"], deadline_ms=past)
            self.assertEqual((r["state"], r["started_ms"], r["error"],
                              r["deadline_ms"]),
                             ("deadline_exceeded", None, "deadline exceeded",
                              past))

    def test_run_timeout(self):
        r = self.run_job(["sleep", "30"], run_timeout_ms=300)
        self.assertEqual((r["state"], r["error"]),
                         ("deadline_exceeded", "run_timeout"))
        self.assertGreaterEqual(r["finished_ms"] - r["started_ms"], 300)

    def test_delay(self):
        # Many jobs, to catch a timer that fires a little early.
        delays = list(range(100, 400, 5))
        ids = [self.submit(["true"], delay_ms=d) for d in delays]
        res = self.api.wait(jobs=ids, timeout_ms=LONG_MS)
        early = [(r["job"], d, r["started_ms"] - r["submitted_ms"])
                 for r, d in zip(res, delays)
                 if r["started_ms"] - r["submitted_ms"] < d]
        self.assertEqual([r["state"] for r in res],
                         ["succeeded"] * len(delays))
        self.assertEqual(early, [], "started before delay_ms had passed "
                         "(job, delay_ms, started_ms - submitted_ms)")

    def test_parent_bounds_child_deadline(self):
        p = self.submit(["sleep", "30"], timeout_ms=LONG_MS)
        c = self.submit(["sleep", "30"], parent=p, timeout_ms=10 * LONG_MS)
        gc = self.submit(["sleep", "30"], parent=c)
        pd = self.api.job(p)["deadline_ms"]
        for j in (c, gc):
            d = self.job(j)
            self.assertIsNotNone(d["deadline_ms"])
            self.assertLessEqual(d["deadline_ms"], pd)
        self.assertEqual(self.api.job(c)["parent"], p)
        self.assertEqual(self.api.job(gc)["parent"], c)
        # Cancelling the parent cancels its children and theirs.
        self.c.ok("cancel", {"canceled": Exact(3)}, job=p)
        res = self.api.wait(jobs=[p, c, gc], timeout_ms=LONG_MS)
        self.assertEqual([(r["state"], r["error"]) for r in res],
                         [("canceled", None)] * 3)
        self.c.ok("cancel", {"canceled": Exact(0)}, job=p)
        # A child of a canceled parent is canceled at once.
        late = self.submit(["true"], parent=p)
        r = self.api.job(late)
        self.assertEqual((r["state"], r["error"], r["started_ms"], r["parent"]),
                         ("canceled", "parent is done", None, p))
        # A parent that succeeded does not affect its children.
        ok = self.result(self.submit(["true"]))["job"]
        self.assertEqual(self.run_job(["true"], parent=ok)["state"],
                         "succeeded")

    def test_retries(self):
        r = self.run_job(sh("exit 1"), retries=1)
        self.assertEqual((r["state"], r["attempt"]), ("failed", 2))
        r = self.run_job(sh("exit 0"), retries=3)
        self.assertEqual((r["state"], r["attempt"]), ("succeeded", 1))


class CancelTest(JobCase):

    def test_cancel_running_queued_finished(self):
        run = self.submit(["sleep", "30"])
        queued = self.submit(["true"], delay_ms=LONG_MS)
        done = self.submit(["true"])
        self.result(done)
        self.wait_state(run, "running")
        self.c.ok("cancel", {"canceled": Exact(1)}, job=run)
        self.c.ok("cancel", {"canceled": Exact(1)}, job=queued)
        self.c.ok("cancel", {"canceled": Exact(0)}, job=done)
        self.c.ok("cancel", {"canceled": Exact(0)}, job=run)
        res = self.api.wait(jobs=[run, queued, done], timeout_ms=LONG_MS)
        self.assertEqual([r["state"] for r in res],
                         ["canceled", "canceled", "succeeded"])
        for r in res[:2]:
            self.assertEqual((r["error"], r["exit_code"], r["signal"]),
                             (None, None, None))
        self.assertIsNone(res[1]["started_ms"])

    def test_cancel_group(self):
        for _ in range(3):
            self.submit(["true"], delay_ms=LONG_MS)
        self.result(self.submit(["true"]))
        self.c.ok("cancel", {"canceled": Exact(3)}, group=self.g)
        self.c.ok("cancel", {"canceled": Exact(0)}, group=self.g)
        self.c.ok("cancel", {"canceled": Exact(0)},
                  group=self.name("nobody"))

    def test_errors(self):
        self.c.err("cancel", "bad_request")
        self.c.err("cancel", "bad_request", job=1, group=self.g)
        self.c.err("cancel", "bad_request", job="1")
        self.c.err("cancel", "bad_request", job=0)
        self.c.err("cancel", "bad_request", group="bad name")
        self.c.err("cancel", "not_found", job=9007199254740991)


class QueryTest(JobCase):

    def test_job(self):
        j = self.submit(["true"], delay_ms=LONG_MS, priority=-3)
        r = self.job(j)
        self.assertEqual((r["state"], r["started_ms"], r["finished_ms"],
                          r["exit_code"], r["priority"], r["attempt"]),
                         ("queued", None, None, None, -3, 1))
        self.c.err("job", "not_found", job=9007199254740991)
        for bad in (None, 0, -1, "1", 1.5, [1]):
            self.c.err("job", "bad_request", job=bad)

    def test_jobs(self):
        ids = [self.submit(["true"], delay_ms=LONG_MS) for _ in range(4)]
        done = self.submit(["true"])
        self.result(done)
        r = self.c.ok("jobs", {"jobs": [RESULT_LISTED]}, group=self.g)
        self.assertEqual([j["job"] for j in r["jobs"]],
                         [done] + ids[::-1], "newest first")
        r = self.c.ok("jobs", {"jobs": [RESULT_LISTED]}, group=self.g,
                      state="queued", limit=2)
        self.assertEqual([j["job"] for j in r["jobs"]], [ids[3], ids[2]])
        r = self.c.ok("jobs", {"jobs": [RESULT_LISTED]}, group=self.g,
                      state="queued", limit=2, before=ids[2])
        self.assertEqual([j["job"] for j in r["jobs"]], [ids[1], ids[0]])
        r = self.c.ok("jobs", {"jobs": [RESULT_LISTED]}, group=self.g,
                      state="succeeded")
        self.assertEqual([j["job"] for j in r["jobs"]], [done])
        self.c.ok("jobs", {"jobs": Exact([])}, group=self.name("nobody"))
        r = self.c.ok("jobs", {"jobs": [RESULT_LISTED]}, limit=1000)
        self.assertLessEqual(len(r["jobs"]), 1000)
        got = [j["job"] for j in r["jobs"]]
        self.assertEqual(got, sorted(got, reverse=True))
        r = self.c.ok("jobs", {"jobs": [RESULT_LISTED]})
        self.assertLessEqual(len(r["jobs"]), 100, "default limit is 100")
        for bad in ({"state": "done"}, {"state": 1}, {"limit": 0},
                    {"limit": 1001}, {"limit": "5"}, {"before": 0},
                    {"group": 5}):
            r = self.c.err("jobs", "bad_request", **bad)
            self.assertIn(list(bad)[0], r["error"]["message"])

    def test_group(self):
        self.submit(["true"], delay_ms=LONG_MS)
        a = self.submit(sh('echo "3 10" >&"$JQ_PROGRESS_FD"'))
        b = self.submit(sh('echo 4 >&"$JQ_PROGRESS_FD"; exit 1'))
        self.api.wait(jobs=[a, b], timeout_ms=LONG_MS)
        r = self.c.ok("group", GROUP, group=self.g)
        self.assertEqual({k: v for k, v in r.items() if k not in ("id", "ok")},
                         {"group": self.g, "total": 3, "queued": 1,
                          "running": 0, "succeeded": 1, "failed": 1,
                          "deadline_exceeded": 0, "canceled": 0,
                          "progress": {"done": 7, "total": 10}})
        nobody = self.name("nobody")
        r = self.c.ok("group", GROUP, group=nobody)
        self.assertEqual((r["group"], r["total"], r["progress"]),
                         (nobody, 0, {"done": 0, "total": 0}))
        self.c.err("group", "bad_request")
        self.c.err("group", "bad_request", group=5)

    def test_group_names_checked(self):
        # A group name is 1-128 bytes of [A-Za-z0-9._:-] (as in submit;
        # cancel checks it too).
        for op in ("group", "jobs", "cancel", "wait"):
            for bad in ("bad name", "", "x" * 129):
                with self.subTest(op=op, group=bad):
                    self.c.err(op, "bad_request", group=bad)


class WaitTest(JobCase):

    def test_wait_jobs(self):
        a = self.submit(sh("echo a"))
        b = self.submit(sh("echo b"))
        r = self.c.ok("wait", {"results": [RESULT]}, jobs=[b, a, b],
                      timeout_ms=LONG_MS)
        self.assertEqual([x["job"] for x in r["results"]], [a, b],
                         "ordered by job id, each once")
        self.assertEqual(r["results"][0]["stdout"], "a\n")

    def test_wait_blocks_until_final(self):
        j = self.submit(["sleep", "30"])
        w = self.conn()
        rid = w.request("wait", jobs=[j])
        self.assertBlocked(w, "wait on a running job")
        self.api.cancel(job=j)
        r = check_ok(w.expect(rid), {"results": [RESULT]})
        self.assertEqual(r["results"][0]["state"], "canceled")

    def test_wait_group(self):
        ids = [self.submit(["true"]) for _ in range(3)]
        r = self.c.ok("wait", {"results": [RESULT]}, group=self.g,
                      timeout_ms=LONG_MS)
        self.assertEqual([x["job"] for x in r["results"]], ids)
        self.c.ok("wait", {"results": Exact([])}, group=self.name("nobody"),
                  timeout_ms=0)

    def test_timeout_has_pending(self):
        a = self.submit(["true"], delay_ms=LONG_MS)
        b = self.submit(["true"], delay_ms=LONG_MS)
        done = self.submit(["true"])
        self.result(done)
        self.c.err("wait", "timeout", {"pending": Exact(2)},
                   jobs=[a, b, done], timeout_ms=0)
        t0 = time.monotonic()
        self.c.err("wait", "timeout", {"pending": Exact(2)}, group=self.g,
                   timeout_ms=150)
        self.assertGreaterEqual(time.monotonic() - t0, 0.14)

    def test_errors(self):
        j = self.submit(["true"])
        self.c.err("wait", "bad_request")
        self.c.err("wait", "bad_request", jobs=[], timeout_ms=0)
        self.c.err("wait", "bad_request", jobs=j)
        self.c.err("wait", "bad_request", jobs=["1"])
        self.c.err("wait", "bad_request", jobs=[j], group=self.g)
        self.c.err("wait", "bad_request", jobs=[j], timeout_ms=-1)
        self.c.err("wait", "not_found", jobs=[j, 9007199254740991])


class ResultChanTest(JobCase):

    def test_result_delivered(self):
        ch = self.make(cap=4)
        j = self.submit(sh("echo out"), result_chan=ch, name="rc")
        r = self.result(j)
        got = self.api.recv(ch, timeout_ms=LONG_MS)
        self.assertEqual(got, r)
        self.assertEqual(harness.shape_problems(got, RESULT, "delivered"),
                         [])

    def test_full_channel_does_not_block_the_pool(self):
        ch = self.make(cap=1)
        self.api.send(ch, "occupied")
        j1 = self.submit(["true"], result_chan=ch)
        j2 = self.submit(["true"], result_chan=ch)
        self.api.wait(jobs=[j1, j2], timeout_ms=LONG_MS)
        self.assertEqual(self.run_job(["true"])["state"], "succeeded")
        # The waiting results count as blocked senders.
        self.wait_stat(ch, senders_waiting=2, len=1)
        got = [self.api.recv(ch, timeout_ms=LONG_MS) for _ in range(3)]
        self.assertEqual(got[0], "occupied")
        self.assertEqual(sorted(r["job"] for r in got[1:]), [j1, j2])


    def test_closed_result_chan_drops_the_result(self):
        ch = self.make(cap=1)
        j = self.submit(["true"], result_chan=ch, delay_ms=300)
        self.api.close(ch)
        self.assertEqual(self.result(j)["state"], "succeeded")
        self.c.ok("recv", {"closed": True_}, chan=ch)

    def test_result_larger_than_max_value(self):
        ch = self.make(cap=1)
        n = TARGET.max_value + 1000
        if n > TARGET.max_output:
            self.skipTest("max_output below max_value")
        j = self.submit(sh("head -c %d /dev/zero | tr '\\0' x" % n),
                        result_chan=ch)
        got = self.api.recv(ch, timeout_ms=LONG_MS)
        self.assertEqual((got["job"], len(got["stdout"])), (j, n))


class PoolTest(JobCase):

    def workers(self):
        s = self.api.stats()
        self.assertIn("workers", s, "9.4: stats has workers busy/total")
        return s["workers"]["total"]

    def test_stats_jobs_and_workers(self):
        s = self.c.ok("stats", Open({
            "jobs": {st: NonNeg for st in harness.JOB_STATES},
            "workers": {"busy": NonNeg, "total": Pos}}))
        self.assertLessEqual(s["workers"]["busy"], s["workers"]["total"])

    def test_priority_then_fifo(self):
        self.needs_exclusive()
        n = self.workers()
        blockers = [self.submit(["sleep", "30"]) for _ in range(n)]
        for b in blockers:
            self.wait_state(b, "running")
        low1 = self.submit(sh("sleep 0.1"))
        low2 = self.submit(sh("sleep 0.1"))
        high = self.submit(sh("sleep 0.1"), priority=5)
        s = self.api.stats()
        self.assertEqual(s["workers"]["busy"], n)
        self.assertEqual(self.api.job(high)["state"], "queued",
                         "more jobs running than workers")
        self.api.cancel(job=blockers[0])  # one worker frees up
        res = {r["job"]: r for r in self.api.wait(jobs=[low1, low2, high],
                                                  timeout_ms=LONG_MS)}
        starts = [res[j]["started_ms"] for j in (high, low1, low2)]
        self.assertEqual(starts, sorted(starts),
                         "not started by priority, then FIFO")
        self.assertLess(starts[0], starts[2])
        for b in blockers[1:]:
            self.api.cancel(job=b)

    def test_max_queued_jobs(self):
        s = start_server("--max-queued-jobs", 2, "--workers", 1)
        self.addCleanup(s.check)
        c = self.conn(addr=s.addr)
        for _ in range(2):
            c.ok("submit", argv=["true"], delay_ms=LONG_MS, group="q")
        c.err("submit", "limit", argv=["true"])
        c.ok("cancel", group="q")
        c.ok("submit", argv=["true"])


class ProcessTest(JobCase):

    def test_background_processes_are_killed(self):
        if not TARGET.self_started:
            self.skipTest("needs the server on this host (self-start mode)")
        r = self.run_job(sh("sleep 60 & echo $!"))
        pid = int(r["stdout"])

        def gone():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    stat = f.read()
            except FileNotFoundError:
                return True
            return stat[stat.rindex(")") + 2] == "Z"
        wait_until(gone, what="the job's background process to die")


class JobRestartTest(Case):
    """11.9 on a private server restarted on the same database."""

    def test_crash_and_clean_stop(self):
        import tempfile
        state = tempfile.mkdtemp(dir=TARGET.tmp)
        s = start_server("--workers", 3, "--shutdown-grace", "100ms",
                         state_dir=state)
        self.addCleanup(s.check)
        c = self.conn(addr=s.addr)
        once = c.ok("submit", argv=["sleep", "60"])["job"]
        again = c.ok("submit", argv=["sleep", "60"], retries=1)["job"]
        queued = c.ok("submit", argv=["true"], delay_ms=1500, priority=3,
                      key="k1")["job"]
        done = c.ok("submit", argv=["echo", "hi"])["job"]
        c.ok("wait", jobs=[done], timeout_ms=LONG_MS)
        wait_until(lambda: all(c.ok("job", job=j)["state"] == "running"
                               for j in (once, again)))
        s.kill()
        s = start_server("--workers", 3, "--shutdown-grace", "100ms",
                         state_dir=state)
        self.addCleanup(s.check)
        c = self.conn(addr=s.addr)
        r = c.ok("job", RESULT, job=once)
        self.assertEqual((r["state"], r["error"], r["started_ms"]),
                         ("failed", "interrupted", None))
        r = c.ok("job", RESULT, job=again)
        self.assertEqual(r["attempt"], 2)
        self.assertIn(r["state"], ("queued", "running"))
        r = c.ok("job", RESULT, job=done)
        self.assertEqual((r["state"], r["stdout"]), ("succeeded", "hi\n"))
        c.ok("submit", {"job": Exact(queued), "duplicate": True_},
             argv=["true"], key="k1")
        r = c.ok("wait", jobs=[queued], timeout_ms=LONG_MS)["results"][0]
        self.assertEqual((r["state"], r["priority"]), ("succeeded", 3))
        self.assertGreaterEqual(r["started_ms"] - r["submitted_ms"], 1500)
        self.assertGreater(c.ok("submit", argv=["true"])["job"], done,
                           "ids continue after the highest")
        # A clean stop re-queues a running job with the same attempt.
        wait_until(lambda: c.ok("job", job=again)["state"] == "running")
        s.stop()
        self.assertEqual(s.returncode, 0)
        s = start_server("--workers", 3, state_dir=state)
        self.addCleanup(s.check)
        c = self.conn(addr=s.addr)
        r = c.ok("job", RESULT, job=again)
        self.assertEqual(r["attempt"], 2)
        self.assertIn(r["state"], ("queued", "running"))
        c.ok("cancel", {"canceled": Exact(1)}, job=again)
