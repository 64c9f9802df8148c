"""The ops of protocol 1.3 (PROTOCOL.md 10.12, 11.24-11.26): peek, retry,
purge and pool, and the result object's argv, not_before_ms and retry_of
(11.2).

A test is skipped when the server's hello does not list its feature.
Everything stays under the run's prefix: purge filters by a group of the
test, pool pauses a pool of the test (never "local", which other clients
of a shared server use).
"""

from harness import (Any, Bool, Case, NonNeg, Opt, Pos, Str, RESULT,
                     RESULT_LISTED, TARGET, wait_until)

LONG_MS = 60000
POOL = {"pool": Str, "paused": Bool, "queued": NonNeg, "running": NonNeg,
        "workers": Opt(NonNeg)}
RESULT_1_3 = dict(RESULT, argv=[Str], not_before_ms=Opt(NonNeg),
                  retry_of=Opt(Pos))
LISTED_1_3 = dict(RESULT_LISTED, argv=[Str], not_before_ms=Opt(NonNeg),
                  retry_of=Opt(Pos))


class AdminCase(Case):
    feature = None

    def setUp(self):
        super().setUp()
        if TARGET.minor() < 3 or self.feature not in TARGET.features():
            self.skipTest("the server does not list %r (hello)" %
                          self.feature)

    def finished(self, job):
        return self.api.wait(jobs=[job], timeout_ms=LONG_MS)[0]


class ResultTest(AdminCase):
    feature = "retry"

    def test_argv_and_not_before(self):
        g = self.group()
        argv = ["sh", "-c", "exit 0", "it's", ""]
        j = self.c.ok("submit", argv=argv, group=g, delay_ms=LONG_MS)["job"]
        r = self.c.ok("job", RESULT_1_3, job=j)
        self.assertEqual(r["argv"], argv)
        self.assertGreaterEqual(r["not_before_ms"],
                                r["submitted_ms"] + LONG_MS)
        self.assertIsNone(r["retry_of"])
        listed = self.c.ok("jobs", {"jobs": [LISTED_1_3]}, group=g)
        self.assertEqual(listed["jobs"][0]["argv"], argv)
        self.c.ok("cancel", group=g)
        self.assertIsNone(self.finished(j)["not_before_ms"])


class CwdTest(AdminCase):
    feature = "retry"       # any 1.3 feature: the message is of 1.3

    def test_missing_cwd_named(self):
        g = self.group()
        cwd = "/cf-no-such-dir-7f3a"
        j = self.c.ok("submit", argv=["true"], cwd=cwd, group=g)["job"]
        r = self.finished(j)
        self.assertEqual((r["state"], r["exit_code"]), ("failed", None))
        self.assertTrue(r["error"].startswith("cannot start: cwd %s: "
                                              % cwd), r["error"])


class PeekTest(AdminCase):
    feature = "peek"

    def test_peek_takes_nothing(self):
        ch = self.make(cap=5)
        for v in (1, "two", {"three": [3]}):
            self.c.ok("send", chan=ch, value=v)
        self.c.ok("peek", {"len": NonNeg, "values": [Any]}, chan=ch)
        r = self.c.ok("peek", chan=ch, n=2)
        self.assertEqual((r["len"], r["values"]), (3, [1, "two"]))
        r = self.c.ok("peek", chan=ch, n=100)
        self.assertEqual(r["values"], [1, "two", {"three": [3]}])
        self.c.ok("stat", chan=ch)
        self.assertEqual(self.c.ok("recv", chan=ch)["value"], 1)
        self.assertEqual(self.c.ok("peek", chan=ch)["values"], ["two"])

    def test_peek_empty_and_leased(self):
        ch = self.make(cap=2)
        self.assertEqual(self.c.ok("peek", chan=ch)["values"], [])
        self.c.ok("send", chan=ch, value="x")
        self.c.ok("recv", chan=ch, lease_ms=LONG_MS)
        r = self.c.ok("peek", chan=ch)
        self.assertEqual((r["len"], r["values"]), (0, []))

    def test_peek_errors(self):
        ch = self.make(cap=1)
        self.c.err("peek", "bad_request")
        self.c.err("peek", "bad_request", chan="a b")
        for n in (0, 101, "1", 1.5):
            self.c.err("peek", "bad_request", chan=ch, n=n)
        self.c.err("peek", "not_found", chan=self.name("none"))


class RetryTest(AdminCase):
    feature = "retry"

    def test_retry_failed(self):
        g = self.group()
        j = self.c.ok("submit", argv=["sh", "-c", "echo $X; exit 3"],
                      env={"X": "x"}, group=g, name="n", key=self.name("k"),
                      priority=5, retries=0, run_timeout_ms=LONG_MS)["job"]
        self.assertEqual(self.finished(j)["state"], "failed")
        nj = self.c.ok("retry", {"job": Pos}, job=j)["job"]
        self.assertGreater(nj, j)
        r = self.finished(nj)
        self.assertEqual((r["state"], r["exit_code"], r["stdout"],
                          r["retry_of"], r["group"], r["name"],
                          r["priority"], r["argv"]),
                         ("failed", 3, "x\n", j, g, "n", 5,
                          ["sh", "-c", "echo $X; exit 3"]))
        self.assertIsNone(self.finished(j)["retry_of"])

    def test_retry_canceled_and_refused(self):
        g = self.group()
        j = self.c.ok("submit", argv=["sleep", "60"], group=g)["job"]
        e = self.c.err("retry", "bad_request", job=j)
        self.assertIn("cannot be retried", e["error"]["message"])
        self.c.ok("cancel", job=j)
        self.assertEqual(self.finished(j)["state"], "canceled")
        nj = self.c.ok("retry", job=j)["job"]
        self.c.ok("cancel", job=nj)
        ok = self.c.ok("submit", argv=["true"], group=g)["job"]
        self.assertEqual(self.finished(ok)["state"], "succeeded")
        self.c.err("retry", "bad_request", job=ok)
        self.c.err("retry", "bad_request")
        self.c.err("retry", "bad_request", job=0)
        self.c.err("retry", "not_found", job=2 ** 53 - 1)


class PurgeTest(AdminCase):
    feature = "purge"

    def test_purge_group(self):
        g = self.group()
        done = [self.c.ok("submit", argv=argv, group=g)["job"]
                for argv in (["true"], ["false"])]
        for j in done:
            self.finished(j)
        running = self.c.ok("submit", argv=["sleep", "60"], group=g)["job"]
        r = self.c.ok("purge", {"purged": NonNeg}, group=g, state="failed")
        self.assertEqual(r["purged"], 1)
        self.c.err("job", "not_found", job=done[1])
        self.c.ok("job", job=done[0])
        self.assertEqual(self.c.ok("purge", group=g)["purged"], 1)
        self.c.err("job", "not_found", job=done[0])
        self.assertEqual(self.c.ok("job", job=running)["state"] in
                         ("queued", "running"), True)
        self.assertEqual(self.c.ok("purge", group=g)["purged"], 0)

    def test_purge_cutoffs(self):
        g = self.group()
        j = self.c.ok("submit", argv=["true"], group=g)["job"]
        fin = self.finished(j)["finished_ms"]
        self.assertEqual(self.c.ok("purge", group=g,
                                   before_ms=fin)["purged"], 0)
        self.assertEqual(self.c.ok("purge", group=g,
                                   older_than_ms=LONG_MS)["purged"], 0)
        # Older than the epoch: nothing, not everything.
        self.assertEqual(self.c.ok("purge", group=g,
                                   older_than_ms=2 ** 53 - 1)["purged"], 0)
        self.assertEqual(self.c.ok("purge", group=g, before_ms=fin + 1,
                                   older_than_ms=0)["purged"], 1)

    def test_purge_errors(self):
        for fields in ({"state": "running"}, {"state": "queued"},
                       {"state": "done"}, {"state": 1}, {"group": "a b"},
                       {"before_ms": -1}, {"older_than_ms": "1s"}):
            self.c.err("purge", "bad_request", **fields)


class PoolTest(AdminCase):
    feature = "pool_control"

    def test_pause_resume(self):
        pool = self.name("p")[:64]
        g = self.group()
        r = self.c.ok("pool", POOL, pool=pool)
        self.assertEqual((r["paused"], r["queued"], r["workers"]),
                         (False, 0, None))
        r = self.c.ok("pool", POOL, pool=pool, pause=True)
        self.assertTrue(r["paused"])
        self.assertIn(pool, self.c.ok("stats")["paused_pools"])
        self.c.ok("submit", argv=["true"], pool=pool, group=g)
        self.assertEqual(self.c.ok("pool", pool=pool)["queued"], 1)
        r = self.c.ok("pool", POOL, pool=pool, pause=False)
        self.assertFalse(r["paused"])
        self.assertNotIn(pool, self.c.ok("stats").get("paused_pools", []))

    def test_local_workers(self):
        r = self.c.ok("pool", POOL)
        self.assertEqual(r["pool"], "local")
        self.assertIsInstance(r["workers"], int)
        if not TARGET.exclusive:
            return
        w = r["workers"]
        self.addCleanup(self.c.ok, "pool", workers=w)
        self.assertEqual(self.c.ok("pool", workers=w + 1)["workers"], w + 1)
        wait_until(lambda: self.c.ok("stats")["workers"]["total"] == w + 1,
                   what="stats' workers.total")

    def test_pool_errors(self):
        for fields in ({"pool": ""}, {"pool": "a b"}, {"pool": "p" * 65},
                       {"pause": "yes"}, {"workers": -1},
                       {"workers": 1025},
                       {"pool": self.name("p")[:64], "workers": 1}):
            self.c.err("pool", "bad_request", **fields)
