"""Protocol 1.4 (PROTOCOL.md 12.4), what the dashboard reads: `chans`
paging (`after`, `limit`, `more`, 10.9), `jobs` filters (`pool`, `name`,
`text`, 11.11), the op `groups` with `waiters` (11.27), the `job` reply's
`env_keys` (11.10), hello's minor and features (9.1); and that a client of
1.3 sees the replies of 1.3.

jqd runs with --workers 0: jobs of pool local stay queued, so filters see
a fixed set of jobs and a group stays unfinished while a wait is parked on
it; each test cancels its groups at the end.  jq-client's commands for
them (groups, jobs --pool/--name/--text, chans --limit/--after, job's
env line) run against it and against a fake jqd of 1.3, which they must
not send fields it would ignore.
"""

import json
import time

import jqtest
from jqtest import Client, ServerTestCase, main, unique_name, wait_until
from test_cli_jobs import CliJobCase

FEATURES_1_4 = ("chans_page", "jobs_filter", "groups", "env_keys")
GROUP_MEMBERS = {"group", "total", "queued", "running", "succeeded",
                 "failed", "deadline_exceeded", "canceled", "progress",
                 "waiters"}


class Protocol14Case(ServerTestCase):
    server_args = ("--workers", "0")

    def group_name(self, tag):
        g = unique_name(tag)
        self.addCleanup(self.ctl.ok, "cancel", group=g)
        return g

    def submit(self, argv, **fields):
        return self.ctl.ok("submit", argv=argv, **fields)["job"]

    def pages(self, op, member, key, prefix, limit):
        """Page through `op` (chans, groups) by `limit`, `after` the last
        name while "more": the names of each page.  Every page but the
        last is full; none is empty unless nothing matches."""
        pages, after = [], None
        while True:
            fields = {"prefix": prefix, "limit": limit}
            if after is not None:
                fields["after"] = after
            r = self.ctl.ok(op, **fields)
            self.assertIs(type(r["more"]), bool)
            names = [x[key] for x in r[member]]
            self.assertLessEqual(len(names), limit)
            pages.append(names)
            if not r["more"]:
                return pages
            self.assertEqual(len(names), limit)
            after = names[-1]


class HelloTest(Protocol14Case):
    def test_minor_and_features(self):
        r = self.ctl.ok("hello")
        self.assertEqual((r["protocol"], r["minor"]), (1, 4))
        for f in FEATURES_1_4:
            self.assertIn(f, r["features"])
        # Every earlier feature is still listed.
        for f in ("multiplex", "watch", "pools", "peek", "pool_control",
                  "value_text"):
            self.assertIn(f, r["features"])

    def test_groups_counted_in_stats(self):
        before = self.ctl.ok("stats")["ops"]["groups"]
        self.ctl.ok("groups")
        self.assertEqual(self.ctl.ok("stats")["ops"]["groups"], before + 1)


class ChansPageTest(Protocol14Case):
    def setUp(self):
        super().setUp()
        self.prefix = unique_name("page") + "-"
        # Made out of order: the listing sorts them byte-wise.
        self.names = [self.prefix + n for n in
                      ("e", "B", "a", "c", "d", "b", "a.1", "Z")]
        for n in self.names:
            self.ctl.ok("make", chan=n, cap=1)
        self.names.sort(key=lambda n: n.encode())

        def drop_all():
            for n in self.names:
                self.ctl.call("drop", chan=n)
        self.addCleanup(drop_all)

    def listed(self, r):
        return [s["chan"] for s in r["chans"]]

    def test_no_paging_fields_is_the_reply_of_1_3(self):
        r = self.ctl.ok("chans", prefix=self.prefix)
        self.assertEqual(self.listed(r), self.names)
        self.assertNotIn("more", r)
        r = self.ctl.ok("chans", prefix=self.prefix, after=self.names[2])
        self.assertEqual(self.listed(r), self.names[3:])
        self.assertNotIn("more", r)

    def test_pages_to_the_end(self):
        for limit in (1, 3, 8, 10000):
            pages = self.pages("chans", "chans", "chan", self.prefix, limit)
            self.assertEqual(sum(pages, []), self.names, limit)
            # The last page says no more: none empty, none after it.
            self.assertEqual(len(pages), -(-len(self.names) // limit))

    def test_made_and_dropped_between_pages(self):
        # Neither skipped nor repeated: a page starts after the last name
        # listed, whatever was made or dropped since.
        p = self.prefix
        r = self.ctl.ok("chans", prefix=p, limit=3)
        self.assertEqual(self.listed(r), [p + x for x in ("B", "Z", "a")])
        self.ctl.ok("drop", chan=p + "Z")     # listed already
        self.ctl.ok("drop", chan=p + "b")     # not listed yet
        for x in ("A", "bb", "f"):            # before the cursor, after it
            self.ctl.ok("make", chan=p + x, cap=1)
            self.names.append(p + x)
        pages = []
        while r["more"]:
            r = self.ctl.ok("chans", prefix=p, after=r["chans"][-1]["chan"],
                            limit=3)
            pages.append(self.listed(r))
        self.assertEqual(pages, [[p + x for x in ("a.1", "bb", "c")],
                                 [p + x for x in ("d", "e", "f")]])

    def test_after_is_bytewise_and_need_not_exist(self):
        r = self.ctl.ok("chans", prefix=self.prefix,
                        after=self.prefix + "a", limit=2)
        self.assertEqual(self.listed(r), [self.prefix + "a.1",
                                          self.prefix + "b"])
        self.assertIs(r["more"], True)
        r = self.ctl.ok("chans", prefix=self.prefix,
                        after=self.prefix + "bb", limit=100)
        self.assertEqual(self.listed(r), [self.prefix + n for n in
                                          ("c", "d", "e")])
        self.assertIs(r["more"], False)
        r = self.ctl.ok("chans", prefix=self.prefix,
                        after=self.prefix + "z", limit=5)
        self.assertEqual((r["chans"], r["more"]), ([], False))
        # after below the prefix: the prefix alone decides.
        r = self.ctl.ok("chans", prefix=self.prefix, after="", limit=100)
        self.assertEqual(self.listed(r), self.names)

    def test_errors(self):
        for fields, msg in (
                ({"limit": 0}, "field 'limit' must be an integer in "
                 "[1, 10000]"),
                ({"limit": 10001}, "field 'limit' must be an integer in "
                 "[1, 10000]"),
                ({"limit": "5"}, "field 'limit' must be an integer in "
                 "[1, 10000]"),
                ({"after": 5}, "field 'after' must be a string"),
                ({"after": "a\u0000b"}, "field 'after' must be a string "
                 "without NUL bytes"),
                # prefix is read first
                ({"prefix": 1, "limit": 0}, "field 'prefix' must be a "
                 "string")):
            e = self.ctl.error("chans", "bad_request", **fields)
            self.assertEqual(e["message"], msg)


class JobsFilterTest(Protocol14Case):
    def setUp(self):
        super().setUp()
        self.g = self.group_name("flt")
        self.h = self.group_name("FLT-other")
        self.ids = {
            "plain": self.submit(["echo", "Hello", "World"], group=self.g),
            "named": self.submit(["true"], group=self.g, name="Nightly"),
            "gpu": self.submit(["render", "--scene=Castle"], group=self.g,
                               pool="gpu", name="nightly"),
            "other": self.submit(["sh", "-c", "echo castle"], group=self.h,
                                 name="Nightly"),
        }

    def listed(self, **fields):
        r = self.ctl.ok("jobs", **fields)
        for job in r["jobs"]:
            self.assertNotIn("env_keys", job)
            self.assertNotIn("stdout", job)
        return [j["job"] for j in r["jobs"]]

    def ids_of(self, *keys):
        return sorted((self.ids[k] for k in keys), reverse=True)

    def test_pool_and_name_exact(self):
        self.assertEqual(self.listed(group=self.g, pool="gpu"),
                         self.ids_of("gpu"))
        self.assertEqual(self.listed(group=self.g, pool="local"),
                         self.ids_of("plain", "named"))
        self.assertEqual(self.listed(group=self.g, pool="gp"), [])
        # name: exact, case and all
        self.assertEqual(self.listed(name="Nightly", group=self.g),
                         self.ids_of("named"))
        self.assertEqual(self.listed(name="Nightly", state="queued",
                                     before=self.ids["other"] + 1),
                         self.ids_of("named", "other"))
        self.assertEqual(self.listed(name="nightly", pool="gpu",
                                     group=self.g), self.ids_of("gpu"))
        self.assertEqual(self.listed(name="Night", group=self.g), [])

    def test_text_without_case_in_argv_name_group(self):
        # argv elements, any case
        self.assertEqual(self.listed(group=self.g, text="hello WORLD"), [])
        self.assertEqual(self.listed(group=self.g, text="wORLD"),
                         self.ids_of("plain"))
        ours = min(self.ids.values())
        self.assertEqual([j for j in self.listed(text="castle", limit=1000)
                          if j >= ours], self.ids_of("gpu", "other"))
        self.assertEqual(self.listed(text="=cAs", group=self.g),
                         self.ids_of("gpu"))
        # the name
        self.assertEqual(self.listed(text="IGHTL", group=self.g),
                         self.ids_of("named", "gpu"))
        # the group (each test's group name is unique)
        self.assertEqual(self.listed(text=self.g.upper()),
                         self.ids_of("plain", "named", "gpu"))
        self.assertEqual(self.listed(text=self.h.lower()),
                         self.ids_of("other"))
        # combined with every other filter
        self.assertEqual(self.listed(text="castle", pool="gpu",
                                     name="nightly", group=self.g,
                                     state="queued",
                                     before=self.ids["gpu"] + 1, limit=1),
                         self.ids_of("gpu"))
        self.assertEqual(self.listed(text="castle", state="running"), [])
        self.assertEqual([j for j in self.listed(text="castle",
                                                 before=self.ids["gpu"])
                          if j >= ours], [])

    def test_text_limit_pages(self):
        newest = self.listed(text=self.g, limit=2)
        self.assertEqual(newest, self.ids_of("gpu", "named"))
        self.assertEqual(self.listed(text=self.g, limit=2,
                                     before=newest[-1]),
                         self.ids_of("plain"))

    def test_text_is_bytes_not_a_pattern(self):
        j = self.submit(["printf", "100%% [done]"], group=self.g)
        self.assertEqual(self.listed(text="% [DONE", group=self.g), [j])
        self.assertEqual(self.listed(text="%.*", group=self.g), [])
        # 256 bytes is allowed, and non-ASCII is matched as bytes
        self.assertEqual(self.listed(text="x" * 256), [])
        k = self.submit(["echo", "Ärger"], group=self.g)
        self.assertEqual(self.listed(text="Ärg", group=self.g), [k])
        self.assertEqual(self.listed(text="ÄRG", group=self.g), [k])
        self.assertEqual(self.listed(text="ärg", group=self.g), [])

    def test_text_found_after_a_false_start(self):
        # A text whose start repeats in it, found after partial matches
        # (where a search that resumes wrongly misses it).
        j = self.submit(["x", "aaAb", "xAbAbAbAcx", "abcABCabd"],
                        group=self.g)
        for text in ("aab", "ababac", "ABABAC", "abcabd", "cabd", "aaab"):
            self.assertEqual(self.listed(group=self.g, text=text), [j],
                             text)
        for text in ("aaaab", "abababab", "abcabcabc", "bax"):
            self.assertEqual(self.listed(group=self.g, text=text), [],
                             text)

    def test_text_cost_is_linear_in_the_bytes_read(self):
        # Jobs with an argument of ~900 KB of "a", searched for a text
        # that matches nowhere: "aa...ab" (255 "a") must cost about what
        # "bb...b" costs, each byte read about once; a naive search
        # compares up to 256 bytes at each of them (~100x slower).
        for _ in range(3):
            self.submit(["x", "a" * 900000], group=self.g)

        def fastest(text):
            best = None
            for _ in range(3):
                t0 = time.monotonic()
                self.assertEqual(self.listed(group=self.g, text=text), [])
                t = time.monotonic() - t0
                best = t if best is None else min(best, t)
            return best
        plain = fastest("b" * 256)
        worst = fastest("a" * 255 + "b")
        self.assertLess(worst, 10 * plain + 0.05,
                        "plain %.4f s, worst %.4f s" % (plain, worst))

    def test_errors_in_check_order(self):
        msg = {
            "pool type": "field 'pool' must be a string",
            "name type": "field 'name' must be a string",
            "text type": "field 'text' must be a string",
            "pool": "field 'pool' must be 1-64 bytes of [A-Za-z0-9._:-]",
            "name": "field 'name' must be 1-256 bytes",
            "text": "field 'text' must be 1-256 bytes",
            "state": "field 'state' must be one of queued, running, "
                     "succeeded, failed, deadline_exceeded, canceled",
            "limit": "field 'limit' must be an integer in [1, 1000]",
        }
        for fields, want in (
                ({"pool": 1}, "pool type"),
                ({"name": ["x"]}, "name type"),
                ({"text": True}, "text type"),
                ({"text": "a\u0000"}, None),
                ({"pool": "no spaces"}, "pool"),
                ({"pool": "p" * 65}, "pool"),
                ({"pool": ""}, "pool"),
                ({"name": ""}, "name"),
                ({"name": "n" * 257}, "name"),
                ({"text": ""}, "text"),
                ({"text": "t" * 257}, "text"),
                # types first, then syntax: group, state, pool, name, text
                ({"limit": 0, "pool": 1}, "limit"),
                ({"pool": 1, "state": "done"}, "pool type"),
                ({"state": "done", "pool": ""}, "state"),
                ({"pool": "", "name": ""}, "pool"),
                ({"name": "", "text": ""}, "name")):
            e = self.ctl.error("jobs", "bad_request", **fields)
            if want is None:
                self.assertEqual(e["message"], "field 'text' must be a "
                                 "string without NUL bytes")
            else:
                self.assertEqual(e["message"], msg[want], fields)
        # name may hold any bytes but NUL, as submit's
        self.assertEqual(self.listed(name="n" * 256), [])


class GroupsTest(Protocol14Case):
    def setUp(self):
        super().setUp()
        self.prefix = unique_name("grp") + "-"
        self.groups = [self.prefix + n for n in ("c", "a", "b.2", "b", "B")]
        for n in self.groups:
            self.addCleanup(self.ctl.ok, "cancel", group=n)
        self.groups.sort(key=lambda n: n.encode())

    def test_members_match_group(self):
        g = self.groups[0]
        a = self.submit(["true"], group=g)
        self.submit(["true"], group=g)
        self.ctl.ok("cancel", job=a)
        r = self.ctl.ok("groups", prefix=g)
        self.assertEqual(r["more"], False)
        [item] = r["groups"]
        self.assertEqual(set(item), GROUP_MEMBERS)
        one = self.ctl.ok("group", group=g)
        del one["id"], one["ok"]
        self.assertEqual(dict(item, waiters=None), dict(one, waiters=None))
        self.assertEqual((item["total"], item["queued"], item["canceled"],
                          item["waiters"]), (2, 1, 1, 0))
        self.assertEqual(item["progress"], {"done": 0, "total": 0})

    def test_sorted_paged_to_the_end(self):
        for i, g in enumerate(self.groups):
            for _ in range(i + 1):
                self.submit(["true"], group=g)
        r = self.ctl.ok("groups", prefix=self.prefix)
        self.assertEqual([x["group"] for x in r["groups"]], self.groups)
        self.assertEqual([x["total"] for x in r["groups"]], [1, 2, 3, 4, 5])
        self.assertIs(r["more"], False)
        for limit in (1, 2, 5, 1000):
            pages = self.pages("groups", "groups", "group", self.prefix,
                               limit)
            self.assertEqual(sum(pages, []), self.groups, limit)
            self.assertEqual(len(pages), -(-len(self.groups) // limit))
        # after need not be a group; it is compared byte-wise
        r = self.ctl.ok("groups", prefix=self.prefix,
                        after=self.prefix + "b.", limit=2)
        self.assertEqual([x["group"] for x in r["groups"]],
                         [self.prefix + "b.2", self.prefix + "c"])
        self.assertIs(r["more"], False)
        r = self.ctl.ok("groups", prefix=self.prefix + "zz")
        self.assertEqual((r["groups"], r["more"]), ([], False))

    def test_default_limit_100(self):
        p = unique_name("many") + "-"
        names = ["%s%03d" % (p, i) for i in range(101)]
        for n in names:
            self.addCleanup(self.ctl.ok, "cancel", group=n)
            self.submit(["true"], group=n)
        r = self.ctl.ok("groups", prefix=p)
        self.assertEqual([x["group"] for x in r["groups"]], names[:100])
        self.assertIs(r["more"], True)
        r = self.ctl.ok("groups", prefix=p, after=names[99])
        self.assertEqual([x["group"] for x in r["groups"]], names[100:])
        self.assertIs(r["more"], False)

    def test_waiters_wait_and_watch(self):
        g, other = self.groups[0], self.groups[1]
        j = self.submit(["true"], group=g)
        self.submit(["true"], group=other)

        def waiters():
            r = self.ctl.ok("groups", prefix=self.prefix)
            return {x["group"]: x["waiters"] for x in r["groups"]}

        self.assertEqual(waiters(), {g: 0, other: 0})
        a, b, c = self.connect(), self.connect(), self.connect()
        a.request("wait", group=g, timeout_ms=60000)
        b.request("watch", group=g)
        c.request("wait", jobs=[j], timeout_ms=60000)   # not a group wait
        wait_until(lambda: self.ctl.ok("stats")["waiting"] >= 3,
                   what="three parked requests")
        self.assertEqual(waiters(), {g: 2, other: 0})
        # a timed-out wait leaves
        d = self.connect()
        d.request("wait", group=other, timeout_ms=300)
        wait_until(lambda: waiters()[other] == 1, what="d parked")
        self.assertEqual(d.read_reply()["error"]["code"], "timeout")
        self.assertEqual(waiters(), {g: 2, other: 0})
        # the group finishing ends them
        self.ctl.ok("cancel", group=g)
        self.assertTrue(a.read_reply()["ok"])
        while True:
            f = b.read_reply()
            if f.get("event") is None:
                break
        self.assertTrue(c.read_reply()["ok"])
        self.assertEqual(waiters(), {g: 0, other: 0})
        # an aborted wait or watch leaves (9.5)
        m = self.connect()
        m.ok("hello", multiplex=True)
        m.send_frame({"id": "w", "op": "wait", "group": other})
        m.send_frame({"id": "v", "op": "watch", "group": other,
                      "output": False})
        wait_until(lambda: waiters()[other] == 2, what="m's two parked")
        for ref in ("w", "v"):
            m.send_frame({"id": "a" + ref, "op": "abort", "ref": ref})
        ends = {}
        while len(ends) < 4:
            r = m.read_reply()
            if r.get("event") is None:
                ends[r["id"]] = r
        self.assertEqual((ends["w"]["error"]["code"],
                          ends["v"]["error"]["code"]),
                         ("canceled", "canceled"))
        self.assertEqual(waiters(), {g: 0, other: 0})
        # a closed connection's wait leaves too
        e = Client(self.server)
        e.request("wait", group=other)
        wait_until(lambda: waiters()[other] == 1, what="e parked")
        e.close()
        wait_until(lambda: waiters()[other] == 0, what="e gone")

    def test_errors(self):
        for fields, msg in (
                ({"limit": 0}, "field 'limit' must be an integer in "
                 "[1, 1000]"),
                ({"limit": 1001}, "field 'limit' must be an integer in "
                 "[1, 1000]"),
                ({"prefix": 7}, "field 'prefix' must be a string"),
                ({"after": None, "prefix": "a\u0000"},
                 "field 'prefix' must be a string without NUL bytes"),
                ({"after": {}}, "field 'after' must be a string"),
                ({"prefix": 1, "limit": 0},
                 "field 'prefix' must be a string"),
                ({"after": 1, "limit": 0},
                 "field 'after' must be a string")):
            e = self.ctl.error("groups", "bad_request", **fields)
            self.assertEqual(e["message"], msg, fields)


class EnvKeysTest(Protocol14Case):
    SECRET = "s3cr3t-value-never-shown"

    def test_job_shows_names_never_values(self):
        g = self.group_name("env")
        j = self.submit(["env"], group=g, env={
            "ZED": "1", "API_TOKEN": self.SECRET, "a_lower": "", "B": "x=y"})
        r = self.ctl.ok("job", job=j)
        self.assertEqual(r["env_keys"], ["API_TOKEN", "B", "ZED", "a_lower"])
        self.assertNotIn(self.SECRET, repr(r))
        # only in `job`: not in jobs, wait, watch
        r = self.ctl.ok("jobs", group=g)
        self.assertNotIn("env_keys", r["jobs"][0])
        self.ctl.ok("cancel", job=j)
        r = self.ctl.ok("wait", jobs=[j], timeout_ms=60000)
        self.assertNotIn("env_keys", r["results"][0])
        # and across the stored row: a job with no env has none
        k = self.submit(["true"], group=g)
        self.assertEqual(self.ctl.ok("job", job=k)["env_keys"], [])

    def test_not_in_watch_frames_nor_result_chan(self):
        g = self.group_name("envw")
        chan = unique_name("envres")
        self.ctl.ok("make", chan=chan, cap=10)
        self.addCleanup(self.ctl.call, "drop", chan=chan)
        j = self.submit(["env"], group=g, result_chan=chan,
                        env={"API_TOKEN": self.SECRET})
        w = self.connect()
        w.send_frame({"id": 1, "op": "watch", "job": j})
        lines = [w.read_line()]                 # the snapshot's state
        self.ctl.ok("cancel", job=j)
        while json.loads(lines[-1]).get("end") is not True:
            lines.append(w.read_line())
        self.assertIn("results", json.loads(lines[-1]))
        self.assertGreaterEqual(len(lines), 3)  # state, synced, ..., end
        lines.append(json.dumps(self.ctl.ok("recv", chan=chan)).encode())
        for line in lines:
            self.assertNotIn(self.SECRET.encode(), line)
            self.assertNotIn(b"env_keys", line)
        self.assertIn(b'"canceled"', lines[-1])

    def test_raw_reply_has_no_value(self):
        g = self.group_name("envraw")
        j = self.submit(["env"], group=g, env={"PASSWORD": self.SECRET})
        c = self.connect()
        c.send_frame({"id": 1, "op": "job", "job": j})
        line = c.read_line()
        self.assertIn(b'"env_keys":["PASSWORD"]}', line)
        self.assertNotIn(self.SECRET.encode(), line)


class Server13(jqtest.FakeServer):
    """A fake jqd of protocol 1.3: its hello lists none of 1.4."""

    def answer(self, req):
        reply = super().answer(req)
        if req.get("op") == "hello":
            reply.update(server="jqd", version="0.1.0", protocol=1, minor=3,
                         features=["multiplex", "watch", "peek"],
                         multiplex=False, auth_required=False)
        elif req.get("op") == "chans":
            reply.update(chans=[])
        elif req.get("op") == "jobs":
            reply.update(jobs=[])
        return reply


class Server14EmptyPage(jqtest.FakeServer):
    """A fake jqd of 1.4 whose `chans` page lost its channels."""

    def answer(self, req):
        reply = super().answer(req)
        if req.get("op") == "hello":
            reply.update(server="jqd", version="0.1.0", protocol=1, minor=4,
                         features=["multiplex", "chans_page"],
                         multiplex=False, auth_required=False)
        elif req.get("op") == "chans":
            reply.update(chans=[], more=True)
        return reply


class CliTest(CliJobCase):
    server_args = ("--workers", "0")

    def test_groups_table_pages_and_json(self):
        p = unique_name("cg") + "-"
        for n, g in enumerate(("b", "a", "c")):
            self.addCleanup(self.ctl.ok, "cancel", group=p + g)
            for _ in range(n + 1):
                self.submit(["true"], group=p + g)
        r = self.cli("groups", p, code=0)
        lines = r.out.splitlines()
        self.assertEqual(lines[0].split(), [
            "GROUP", "TOTAL", "QUEUED", "RUNNING", "SUCCEEDED", "FAILED",
            "DEADLINE", "CANCELED", "PROGRESS", "WAITERS"])
        self.assertEqual([l.split()[:3] for l in lines[1:]],
                         [[p + "a", "2", "2"], [p + "b", "1", "1"],
                          [p + "c", "3", "3"]])
        self.assertEqual(r.err, "")
        r = self.cli("groups", p, "--limit", "2", code=0)
        self.assertEqual([l.split()[0] for l in r.out.splitlines()[1:]],
                         [p + "a", p + "b"])
        self.assertEqual(r.err, "jq-client: more after %sb (--after %sb)\n"
                         % (p, p))
        r = self.cli("groups", p, "--after", p + "b", code=0)
        self.assertEqual([l.split()[0] for l in r.out.splitlines()[1:]],
                         [p + "c"])
        d = self.cli_json("groups", p, "--limit", "1")
        self.assertEqual((d["ok"], [g["group"] for g in d["groups"]],
                          d["more"]), (True, [p + "a"], True))
        for bad in ("0", "1001", "x"):
            r = self.cli("groups", "--limit", bad, code=2)
            self.assertIn("invalid --limit '%s' (1 to 1000)" % bad, r.err)

    def test_jobs_filters(self):
        g = unique_name("cj")
        self.addCleanup(self.ctl.ok, "cancel", group=g)
        a = self.submit(["echo", "Thumbnail", "x.png"], group=g)
        b = self.submit(["true"], group=g, name="nightly", pool="gpu")

        def ids(*args):
            r = self.cli("jobs", "--group", g, *args, code=0)
            return [int(l.split()[0]) for l in r.out.splitlines()[1:]]
        self.assertEqual(ids("--text", "THUMB"), [a])
        self.assertEqual(ids("--pool", "gpu"), [b])
        self.assertEqual(ids("--pool", "local"), [a])
        self.assertEqual(ids("--name", "nightly"), [b])
        self.assertEqual(ids("--name", "Nightly"), [])
        self.assertEqual(ids("--text", g[-6:].upper()), [b, a])
        for args, msg in ((("--text", ""), "invalid --text '' (1 to 256 "
                           "bytes)"),
                          (("--name", "n" * 257), "invalid --name"),
                          (("--pool", "a b"), "invalid pool name 'a b'")):
            r = self.cli("jobs", *args, code=2)
            self.assertIn(msg, r.err)

    def test_chans_limit_after(self):
        p = unique_name("cc") + "-"
        for n in ("b", "a", "c"):
            self.ctl.ok("make", chan=p + n, cap=1)
            self.addCleanup(self.ctl.ok, "drop", chan=p + n)
        r = self.cli("chans", "--prefix", p, "--limit", "2", code=0)
        self.assertEqual([l.split()[0] for l in r.out.splitlines()[1:]],
                         [p + "a", p + "b"])
        self.assertEqual(r.err, "jq-client: more after %sb (--after %sb)\n"
                         % (p, p))
        r = self.cli("chans", "--prefix", p, "--after", p + "a", code=0)
        self.assertEqual([l.split()[0] for l in r.out.splitlines()[1:]],
                         [p + "b", p + "c"])
        self.assertEqual(r.err, "")
        d = self.cli_json("chans", "--prefix", p, "--limit", "3")
        self.assertIs(d["more"], False)
        r = self.cli("chans", "--limit", "10001", code=2)
        self.assertIn("invalid --limit '10001' (1 to 10000)", r.err)

    def test_empty_page_with_more_says_where_to_go_on(self):
        # The channels of a page dropped before its reply was written: an
        # empty page that says more (10.9).  The next page starts where
        # this one did, not at the end.
        fake = Server14EmptyPage()
        self.addCleanup(fake.close)
        r = self.cli("chans", "--after", "img-1", "--limit", "2",
                     addr=fake.addr, code=0)
        self.assertEqual(r.err, "jq-client: more after img-1 "
                         "(--after img-1)\n")
        r = self.cli("chans", "--limit", "2", addr=fake.addr, code=0)
        self.assertEqual(r.err, "jq-client: more (the names of this page "
                         "were dropped meanwhile: run it again)\n")

    def test_job_shows_env_names_not_values(self):
        g = unique_name("ce")
        self.addCleanup(self.ctl.ok, "cancel", group=g)
        secret = "never-print-me-7f3a"
        j = self.cli_id("--group", g, "--env", "TOKEN=" + secret,
                        "--env", "A B=1", "--", "env")
        r = self.cli("job", j, code=0)
        self.assertIn("\nenv:       'A B' TOKEN (values not shown)\n",
                      r.out)
        self.assertNotIn(secret, r.out + r.err)
        d = self.cli_json("job", j)
        self.assertEqual(d["env_keys"], ["A B", "TOKEN"])
        self.assertNotIn(secret, json.dumps(d))
        # no env: no line
        k = self.cli_id("--group", g, "--", "true")
        self.assertNotIn("\nenv:", self.cli("job", k, code=0).out)

    def test_older_server_refused_not_misread(self):
        fake = Server13()
        self.addCleanup(fake.close)
        for args, what, feature in (
                (("jobs", "--text", "x"), "--pool, --name and --text",
                 "jobs_filter"),
                (("jobs", "--pool", "gpu"), "--pool, --name and --text",
                 "jobs_filter"),
                (("chans", "--limit", "5"), "--after and --limit",
                 "chans_page"),
                (("chans", "--after", "a"), "--after and --limit",
                 "chans_page"),
                (("groups",), "groups", "groups")):
            r = self.cli(*args, addr=fake.addr, code=1)
            self.assertEqual(r.err, "jq-client: %s needs a newer jqd (its "
                             "hello does not list '%s')\n"
                             % (what, feature))
            self.assertEqual([q["op"] for q in fake.take()], ["hello"])
        d = self.cli_json("groups", addr=fake.addr, code=1)
        self.assertEqual(d["error"]["code"], "unsupported")
        fake.take()
        # Without the new options the commands work as before.
        self.cli("jobs", "--state", "queued", addr=fake.addr, code=0)
        self.cli("chans", "--prefix", "a", addr=fake.addr, code=0)
        self.assertEqual([q["op"] for q in fake.take()], ["jobs", "chans"])


if __name__ == "__main__":
    main(need_client=True)
