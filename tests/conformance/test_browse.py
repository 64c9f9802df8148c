"""Protocol 1.4 (PROTOCOL.md 12.4), browsing a large server: `chans`
paging (10.9), `jobs`' pool, name and text filters (11.11), the op
`groups` (11.27) and the `job` reply's `env_keys` (11.10).

A test is skipped when the server's hello does not list its feature.
Everything stays under the run's prefix; jobs are submitted with a long
delay so they stay queued (no worker needed) and are canceled at cleanup.
"""

from harness import (Bool, GROUP, NonNeg, STAT, TARGET, Case, Exact,
                     wait_until)

LONG_MS = 60000
GROUP_1_4 = dict(GROUP, waiters=NonNeg)


class BrowseCase(Case):
    feature = None

    def setUp(self):
        super().setUp()
        if TARGET.minor() < 4 or self.feature not in TARGET.features():
            self.skipTest("the server does not list %r (hello)" %
                          self.feature)

    def submit(self, argv, **fields):
        return self.c.ok("submit", argv=argv, delay_ms=LONG_MS,
                         **fields)["job"]


class ChansPageTest(BrowseCase):
    feature = "chans_page"

    def test_pages_and_more(self):
        prefix = self.name() + "-"
        names = [prefix + n for n in ("d", "a", "c", "b", "e")]
        for n in names:
            self.c.ok("make", chan=n, cap=1)
            self.track(n)
        names.sort()
        r = self.c.ok("chans", {"chans": [STAT], "more": Exact(True)},
                      prefix=prefix, limit=2)
        self.assertEqual([s["chan"] for s in r["chans"]], names[:2])
        r = self.c.ok("chans", {"chans": [STAT], "more": Exact(True)},
                      prefix=prefix, limit=2, after=names[1])
        self.assertEqual([s["chan"] for s in r["chans"]], names[2:4])
        r = self.c.ok("chans", {"chans": [STAT], "more": Exact(False)},
                      prefix=prefix, limit=2, after=names[3])
        self.assertEqual([s["chan"] for s in r["chans"]], names[4:])
        r = self.c.ok("chans", {"chans": [STAT], "more": Exact(False)},
                      prefix=prefix, limit=5)
        self.assertEqual([s["chan"] for s in r["chans"]], names)
        # after alone narrows the reply of 1.3: no "more"
        r = self.c.ok("chans", {"chans": [STAT]}, prefix=prefix,
                      after=prefix + "bb")
        self.assertNotIn("more", r)
        self.assertEqual([s["chan"] for s in r["chans"]], names[2:])

    def test_errors(self):
        for fields in ({"limit": 0}, {"limit": 10001}, {"limit": "1"},
                       {"after": 1}):
            self.c.err("chans", "bad_request", **fields)


class JobsFilterTest(BrowseCase):
    feature = "jobs_filter"

    def test_pool_name_text(self):
        g = self.group()
        a = self.submit(["echo", "Hello", "World"], group=g, name="Nightly")
        b = self.submit(["true"], group=g, pool=self.name("pool"),
                        name="other")

        def ids(**fields):
            r = self.c.ok("jobs", None, group=g, **fields)
            for job in r["jobs"]:
                self.assertNotIn("env_keys", job)
            return [j["job"] for j in r["jobs"]]
        self.assertEqual(ids(), [b, a])
        self.assertEqual(ids(pool="local"), [a])
        self.assertEqual(ids(pool=self.name("nopool")), [])
        self.assertEqual(ids(name="Nightly"), [a])
        self.assertEqual(ids(name="nightly"), [])
        self.assertEqual(ids(text="wORLD"), [a])
        self.assertEqual(ids(text="IGHTL"), [a])
        self.assertEqual(ids(text=g.upper()), [b, a])
        self.assertEqual(ids(text="no such text"), [])
        self.assertEqual(ids(text="hello", state="running"), [])

    def test_errors(self):
        for fields in ({"pool": ""}, {"pool": "a b"}, {"pool": 1},
                       {"name": ""}, {"name": "n" * 257}, {"text": ""},
                       {"text": "t" * 257}, {"text": 1}):
            self.c.err("jobs", "bad_request", **fields)


class GroupsTest(BrowseCase):
    feature = "groups"

    def test_shape_paging_and_waiters(self):
        prefix = self.name() + "-"
        gs = [prefix + n for n in ("b", "a", "c")]
        for g in gs:
            self.addCleanup(self.cancel_quietly, g)
        for n, g in enumerate(gs):
            for _ in range(n + 1):
                self.submit(["true"], group=g)
        gs.sort()
        spec = {"groups": [GROUP_1_4], "more": Bool}
        r = self.c.ok("groups", spec, prefix=prefix)
        self.assertEqual([x["group"] for x in r["groups"]], gs)
        self.assertIs(r["more"], False)
        one = self.c.ok("group", GROUP, group=gs[0])
        del one["id"], one["ok"]
        self.assertEqual(dict(r["groups"][0], waiters=0),
                         dict(one, waiters=0))
        r = self.c.ok("groups", spec, prefix=prefix, limit=2)
        self.assertEqual(([x["group"] for x in r["groups"]], r["more"]),
                         (gs[:2], True))
        r = self.c.ok("groups", spec, prefix=prefix, limit=2, after=gs[1])
        self.assertEqual(([x["group"] for x in r["groups"]], r["more"]),
                         (gs[2:], False))
        # a wait parked on a group counts there, and stops counting
        w = self.conn()
        rid = w.request("wait", group=gs[1], timeout_ms=LONG_MS)

        def waiters():
            r = self.c.ok("groups", spec, prefix=prefix)
            return [x["waiters"] for x in r["groups"]]
        wait_until(lambda: waiters() == [0, 1, 0], what="the wait counted")
        self.c.ok("cancel", group=gs[1])
        self.assertIs(w.expect(rid)["ok"], True)
        self.assertEqual(waiters(), [0, 0, 0])

    def test_errors(self):
        for fields in ({"limit": 0}, {"limit": 1001}, {"prefix": 1},
                       {"after": []}):
            self.c.err("groups", "bad_request", **fields)


class EnvKeysTest(BrowseCase):
    feature = "env_keys"

    def test_names_sorted_never_values(self):
        g = self.group()
        secret = "cf-secret-value-41d2"
        j = self.submit(["env"], group=g,
                        env={"ZZ": "1", "API_KEY": secret, "a": ""})
        r = self.c.ok("job", None, job=j)
        self.assertEqual(r["env_keys"], ["API_KEY", "ZZ", "a"])
        self.assertNotIn(secret, repr(r))
        k = self.submit(["true"], group=g)
        self.assertEqual(self.c.ok("job", None, job=k)["env_keys"], [])
