"""Pools and remote workers (PROTOCOL.md 11.16-11.23, protocol 1.2): the
checks of submit's pool and of the worker ops, which need no agent, and a
register / take / result round trip in a pool of its own (so no job of
another client is taken).

A server whose hello does not list "workers" skips these tests.
"""

from harness import Any, Case, Exact, NonNeg, Pos, Str, check_ok

REGISTER = {"worker": Str, "heartbeat_ms": Pos, "lease_ms": Pos,
            "adopted": [{"job": Pos, "attempt": Pos}],
            "drop": [{"job": Pos, "attempt": Pos}], "max_output": NonNeg,
            "kill_grace_ms": NonNeg}


class WorkersCase(Case):

    def setUp(self):
        super().setUp()
        features = self.c.ok("hello").get("features") or []
        if "workers" not in features or "pools" not in features:
            self.skipTest("the server has no pools and workers (hello)")

    def register(self, c, worker, pool, **extra):
        fields = dict(worker=worker, host="conformance", slots=1,
                      pools=[pool])
        fields.update(extra)
        return c.ok("worker_register", REGISTER, **fields)


class WorkersTest(WorkersCase):

    def test_submit_pool_checked(self):
        for bad in ("", "a b", "p" * 65, 1, ["x"]):
            self.c.err("submit", "bad_request", argv=["true"], pool=bad)

    def test_register_checked(self):
        ok = dict(worker="w", host="h", slots=1, pools=["p"])
        cases = [("worker", None), ("worker", "a b"), ("worker", "x" * 129),
                 ("host", None), ("host", 7), ("host", "h" * 257),
                 ("slots", None), ("slots", 0), ("slots", 4097),
                 ("pools", None), ("pools", []), ("pools", ["a b"]),
                 ("pools", ["p" * 65]), ("pools", ["p"] * 65),
                 ("labels", []), ("labels", {"k": 1}),
                 ("attempts", [{"job": 0, "attempt": 1}]),
                 ("attempts", {"job": 1}), ("pid", 0), ("version", 3)]
        for field, value in cases:
            f = dict(ok)
            f["worker"] = self.name("w")
            if value is None:
                del f[field]
            else:
                f[field] = value
            self.c.err("worker_register", "bad_request", **f)

    def test_ops_need_register(self):
        self.c.err("worker_take", "bad_request")
        self.c.err("worker_heartbeat", "bad_request", running=[])
        self.c.err("worker_output", "bad_request", job=1, attempt=1,
                   stream="stdout", offset=0, data="")
        self.c.err("worker_result", "bad_request", job=1, attempt=1,
                   exit_code=0)

    def test_drain_checked(self):
        self.c.err("worker_drain", "bad_request")
        self.c.err("worker_drain", "not_found", worker=self.name("nobody"))
        self.c.ok("workers", {"workers": Any})

    def test_round_trip(self):
        pool, worker = self.name("pool")[:64], self.name("w")
        a = self.conn()
        a.ok("hello", multiplex=True)
        r = self.register(a, worker, pool)
        self.assertEqual((r["worker"], r["adopted"], r["drop"]),
                         (worker, [], []))
        self.c.err("worker_register", "bad_request", worker=worker,
                   host="h", slots=1, pools=[pool], attempts=7)
        job = self.c.ok("submit", argv=["true"], pool=pool)["job"]
        r = a.ok("worker_take", max=1)
        (asg,) = r["jobs"]
        self.assertEqual((asg["job"], asg["attempt"], asg["pool"]),
                         (job, 1, pool))
        a.err("worker_result", "bad_request", job=job, attempt=1)
        a.err("worker_result", "bad_request", job=job, attempt=1,
              exit_code=0, error="x")
        a.err("worker_result", "bad_request", job=job, attempt=1,
              exit_code=0, stopped="later")
        a.err("worker_output", "bad_request", job=job, attempt=1,
              stream="stdin", offset=0, data="")
        a.err("worker_output", "bad_request", job=job, attempt=1,
              stream="stdout", offset=1, data="")
        a.err("worker_output", "not_found", job=job, attempt=2,
              stream="stdout", offset=0, data="")
        a.err("worker_heartbeat", "bad_request",
              running=[{"job": job, "attempt": 1,
                        "progress": {"done": -1}}])
        a.ok("worker_result", job=job, attempt=1, exit_code=0)
        check_ok(a.call("worker_result", job=job, attempt=1, exit_code=0),
                 {"duplicate": Exact(True)})
        a.err("worker_result", "not_found", job=job, attempt=2,
              exit_code=0)
        r = self.c.ok("job", job=job)
        self.assertEqual((r["state"], r["pool"], r["worker"]),
                         ("succeeded", pool, worker))
