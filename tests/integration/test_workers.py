#!/usr/bin/env python3
"""Pools and remote workers (PROTOCOL.md 11.16-11.23), driven by a fake
agent (jqtest.FakeAgent) speaking the protocol directly: nothing runs, the
test says how each attempt ends.

Each test uses its own pool and worker ids, so the tests of a class share
one jqd without taking each other's jobs."""

import http.client
import os
import subprocess
import time

from jqtest import (FakeAgent, RestartTestCase, ServerTestCase, Client,
                    main, wait_until)


class AgentMixin:
    def agent(self, pools=None, worker=None, slots=4, register=True,
              **extra):
        a = FakeAgent(self.server, worker=worker or self.name("w"),
                      pools=pools or [self.name("p")], slots=slots)
        self.addCleanup(a.close)
        if register:
            a.register(**extra)
        return a

    def submit(self, pool, **fields):
        fields.setdefault("argv", ["true"])
        return self.ctl.ok("submit", pool=pool, **fields)["job"]

    def job(self, j):
        return self.ctl.ok("job", job=j)

    def wait_state(self, j, state):
        return wait_until(lambda: self.job(j)["state"] == state and
                          self.job(j), what="job %d %s" % (j, state))


class PoolTest(AgentMixin, ServerTestCase):
    server_args = ("--workers", "1")

    def test_hello_1_2(self):
        r = self.ctl.ok("hello")
        self.assertEqual(r["minor"], 4)
        self.assertIn("pools", r["features"])
        self.assertIn("workers", r["features"])

    def test_pool_field_checked(self):
        for bad in ("", "a b", "x" * 65, 7, ["local"]):
            e = self.ctl.error("submit", "bad_request", argv=["true"],
                               pool=bad)
            self.assertIn("pool", e["message"])
        j = self.ctl.ok("submit", argv=["true"], pool="x" * 64)["job"]
        self.ctl.ok("cancel", job=j)

    def test_default_pool_is_local_and_runs_here(self):
        j = self.ctl.ok("submit", argv=["true"])["job"]
        r = self.wait_state(j, "succeeded")
        self.assertEqual((r["pool"], r["worker"]), ("local", None))

    def test_other_pool_not_run_by_jqd(self):
        pool = self.name("gpu")
        j = self.submit(pool)
        done = self.ctl.ok("submit", argv=["true"])["job"]
        self.wait_state(done, "succeeded")
        self.assertEqual(self.job(j)["state"], "queued")
        st = self.ctl.ok("stats")
        self.assertEqual(st["pools"][pool], {"queued": 1, "running": 0})
        # An agent of another pool gets nothing of it.
        other = self.agent()
        r = other.reply(other.take(timeout_ms=200))
        self.assertEqual(r["jobs"], [])
        a = self.agent(pools=[pool])
        (got,) = a.take_jobs(1)
        self.assertEqual((got["job"], got["pool"]), (j, pool))
        self.assertEqual(a.result(j, 1, exit_code=0)["ok"], True)
        r = self.wait_state(j, "succeeded")
        self.assertEqual((r["pool"], r["worker"]), (pool, a.worker))

    def test_priority_across_pools(self):
        p1, p2 = self.name("p"), self.name("p")
        low = self.submit(p1, priority=1)
        high = self.submit(p2, priority=5)
        same = self.submit(p1, priority=5)
        a = self.agent(pools=[p1, p2], slots=3)
        got = [x["job"] for x in a.take_jobs(3)]
        self.assertEqual(got, [high, same, low])
        for j in got:
            a.result(j, 1, exit_code=0)


class WorkerOpsTest(AgentMixin, ServerTestCase):
    server_args = ("--workers", "0")

    def test_register_take_result(self):
        a = self.agent(slots=2)
        pool = a.pools[0]
        rid = a.take(max=2)
        self.assertIsNone(a.poll(rid), "a take with nothing to say parks")
        j = self.submit(pool, argv=["echo", "hi"], env={"A": "1"},
                        stdin="in", name="n", run_timeout_ms=60000,
                        timeout_ms=60000)
        r = a.reply(rid)
        self.assertEqual((r["stop"], r["drop"], r["drain"]), ([], [], False))
        (asg,) = r["jobs"]
        self.assertEqual(
            {k: asg[k] for k in ("job", "attempt", "argv", "env", "cwd",
                                 "stdin", "name", "group", "run_timeout_ms",
                                 "priority", "pool")},
            {"job": j, "attempt": 1, "argv": ["echo", "hi"],
             "env": {"A": "1"}, "cwd": None, "stdin": "in", "name": "n",
             "group": None, "run_timeout_ms": 60000, "priority": 0,
             "pool": pool})
        self.assertTrue(0 < asg["deadline_in_ms"] <= 60000, asg)
        running = self.job(j)
        self.assertEqual((running["state"], running["worker"]),
                         ("running", a.worker))
        a.ok("worker_output", job=j, attempt=1, stream="stdout", offset=0,
             data="h")
        # A resend from 0 after a reconnect: nothing doubled.
        a.ok("worker_output", job=j, attempt=1, stream="stdout", offset=0,
             data="hi\n")
        e = a.call("worker_output", job=j, attempt=1, stream="stderr",
                   offset=5, data="x")
        self.assertEqual(e["error"]["code"], "bad_request")
        self.assertEqual(self.job(j)["stdout"], "hi\n")
        a.heartbeat([(j, 1)])
        r = a.result(j, 1, exit_code=3)
        self.assertEqual(r, {"id": r["id"], "ok": True})
        r = self.job(j)
        self.assertEqual((r["state"], r["exit_code"], r["stdout"],
                          r["worker"], r["pool"]),
                         ("failed", 3, "hi\n", a.worker, pool))
        # Resent after a lost reply: the same answer, nothing changes.
        r = a.result(j, 1, exit_code=3)
        self.assertIs(r.get("duplicate"), True, r)
        e = a.result(j, 2, exit_code=0)
        self.assertEqual(e["error"]["code"], "not_found")
        self.assertIn("is not running on worker", e["error"]["message"])

    def test_cannot_start_and_retry(self):
        a = self.agent()
        j = self.submit(a.pools[0], retries=1)
        (asg,) = a.take_jobs(1)
        a.result(j, 1, error="cannot start: x: command not found")
        r = self.job(j)
        self.assertEqual((r["state"], r["attempt"]), ("queued", 2))
        (asg,) = a.take_jobs(1)
        self.assertEqual(asg["attempt"], 2)
        a.result(j, 2, error="cannot start: x: command not found")
        r = self.wait_state(j, "failed")
        self.assertEqual(r["error"], "cannot start: x: command not found")

    def test_signal_and_progress(self):
        a = self.agent()
        j = self.submit(a.pools[0])
        a.take_jobs(1)
        a.ok("worker_heartbeat", running=[
            {"job": j, "attempt": 1, "progress": {"done": 3, "total": 10}}])
        self.assertEqual(self.job(j)["progress"], {"done": 3, "total": 10})
        a.result(j, 1, signal=9, progress={"done": 4, "total": None})
        r = self.job(j)
        self.assertEqual((r["state"], r["signal"], r["progress"]),
                         ("failed", 9, {"done": 4, "total": None}))

    def test_cancel_reaches_parked_take(self):
        a = self.agent()
        j = self.submit(a.pools[0])
        a.take_jobs(1)
        rid = a.take()
        self.assertIsNone(a.poll(rid))
        t0 = time.monotonic()
        self.assertEqual(self.ctl.ok("cancel", job=j)["canceled"], 1)
        r = a.reply(rid, timeout=5)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(r["stop"], [{"job": j, "attempt": 1,
                                      "reason": "cancel", "now": False}])
        self.assertEqual(self.job(j)["state"], "running")
        # Repeated in heartbeats until the result comes.
        hb = a.heartbeat([(j, 1)])
        self.assertEqual([s["job"] for s in hb["stop"]], [j])
        a.result(j, 1, signal=15, stopped="cancel")
        self.assertEqual(self.job(j)["state"], "canceled")
        self.assertEqual(a.heartbeat([])["stop"], [])

    def test_deadline_stop(self):
        a = self.agent()
        j = self.submit(a.pools[0], timeout_ms=300)
        a.take_jobs(1)
        r = a.reply(a.take())
        self.assertEqual(r["stop"], [{"job": j, "attempt": 1,
                                      "reason": "deadline", "now": False}])
        # The agent says it exited 0 at the same time: jqd's stop wins.
        a.result(j, 1, exit_code=0)
        r = self.job(j)
        self.assertEqual((r["state"], r["error"]),
                         ("deadline_exceeded", "deadline exceeded"))

    def test_run_timeout_enforced_by_agent(self):
        a = self.agent()
        j = self.submit(a.pools[0], run_timeout_ms=3600000)
        a.take_jobs(1)
        a.result(j, 1, signal=9, stopped="run_timeout")
        r = self.job(j)
        self.assertEqual((r["state"], r["error"]),
                         ("deadline_exceeded", "run_timeout"))

    def test_drain(self):
        a = self.agent(slots=2)
        pool = a.pools[0]
        j1 = self.submit(pool)
        a.take_jobs(1)
        rid = a.take()
        r = self.ctl.ok("worker_drain", worker=a.worker)
        self.assertEqual((r["worker"], r["running"]), (a.worker, 1))
        r = a.reply(rid)
        self.assertEqual((r["jobs"], r["drain"]), ([], True))
        j2 = self.submit(pool)
        r = a.reply(a.take(timeout_ms=200))
        self.assertEqual(r["jobs"], [])
        st = [w for w in self.ctl.ok("workers")["workers"]
              if w["worker"] == a.worker][0]
        self.assertEqual(st["state"], "draining")
        a.result(j1, 1, exit_code=0)
        self.assertEqual(self.job(j1)["state"], "succeeded")
        self.assertEqual(self.job(j2)["state"], "queued")
        self.ctl.ok("cancel", job=j2)
        e = self.ctl.error("worker_drain", "not_found", worker="nobody")
        self.assertIn("nobody", e["message"])

    def test_watch_names_each_attempts_worker(self):
        # Attempt 1 fails on agent a, attempt 2 succeeds on agent b: the
        # watch's state frames say where each attempt ran, and the output
        # sent with worker_output reaches the watch as a local job's.
        a = self.agent()
        pool = a.pools[0]
        j = self.submit(pool, retries=1)
        c = Client(self.server)
        self.addCleanup(c.close)
        rid = c.request("watch", job=j)
        self.assertEqual(c.read_reply()["state"], "queued")
        a.take_jobs(1)
        a.ok("worker_output", job=j, attempt=1, stream="stdout", offset=0,
             data="first\n")
        a.result(j, 1, exit_code=3)
        a.close()
        b = self.agent(pools=[pool])
        b.take_jobs(1)
        b.ok("worker_output", job=j, attempt=2, stream="stdout", offset=0,
             data="second\n")
        b.result(j, 2, exit_code=0)
        frames = []
        while True:
            r = c.read_reply()
            self.assertEqual(r["id"], rid)
            if "event" not in r:
                break
            frames.append(r)
        running = [(f["result"]["attempt"], f["result"]["worker"])
                   for f in frames
                   if f["event"] == "state" and f["state"] == "running"]
        self.assertEqual(running, [(1, a.worker), (2, b.worker)])
        out = [f["data"] for f in frames if f["event"] == "output"]
        self.assertEqual(out, ["first\n", "second\n"])
        self.assertEqual(r["results"][0]["worker"], b.worker)

    def test_drain_belongs_to_the_agent_process(self):
        # A disconnected worker is remembered while it holds an attempt.
        a = self.agent()
        pool = a.pools[0]
        j = self.submit(pool)
        a.take_jobs(1)
        self.ctl.ok("worker_drain", worker=a.worker)
        a.close()
        # The same process reconnecting (same host and pid) still drains.
        b = self.agent(pools=[pool], worker=a.worker, register=False)
        b.register(attempts=[(j, 1)])
        r = b.reply(b.take(timeout_ms=5000))
        self.assertIs(r["drain"], True)
        b.close()
        # A new process under that id (redeployed) takes jobs again.
        c = self.agent(pools=[pool], worker=a.worker, register=False)
        c.register(attempts=[(j, 1)], pid=os.getpid() + 1)
        st = [w for w in self.ctl.ok("workers")["workers"]
              if w["worker"] == a.worker][0]
        self.assertEqual(st["state"], "active")
        j2 = self.submit(pool)
        (asg,) = c.take_jobs(1)
        self.assertEqual(asg["job"], j2)
        c.result(j, 1, exit_code=0)
        c.result(j2, 1, exit_code=0)

    def test_drain_follows_the_instance_not_the_pid(self):
        # Agents in containers are all pid 1: `instance` names the
        # process.  The same instance reconnecting still drains, another
        # one (a restarted container, same host and pid) does not.
        a = self.agent(register=False)
        a.register(pid=1, instance="run-1")
        pool = a.pools[0]
        self.ctl.ok("worker_drain", worker=a.worker)
        a.close()
        b = self.agent(pools=[pool], worker=a.worker, register=False)
        b.register(pid=1, instance="run-1")
        self.assertIs(b.reply(b.take(timeout_ms=5000))["drain"], True)
        b.close()
        c = self.agent(pools=[pool], worker=a.worker, register=False)
        c.register(pid=1, instance="run-2")
        j = self.submit(pool)
        (asg,) = c.take_jobs(1)
        self.assertEqual(asg["job"], j)
        c.result(j, 1, exit_code=0)
        e = self.ctl.call("worker_register", worker=self.name("w"),
                          host="h", slots=1, pools=[pool],
                          instance="x" * 257)
        self.assertEqual(e["error"]["code"], "bad_request")
        self.assertIn("'instance'", e["error"]["message"])

    def test_drain_outlives_a_reconnection_without_attempts(self):
        # Drained, then its connection drops with nothing running: the
        # worker is kept (a lease), so the agent reconnecting still drains.
        a = self.agent()
        self.ctl.ok("worker_drain", worker=a.worker)
        a.close()
        b = self.agent(pools=a.pools, worker=a.worker)
        r = b.reply(b.take(timeout_ms=5000))
        self.assertIs(r["drain"], True)

    def test_drain_now_requeues_uncounted(self):
        a = self.agent()
        pool = a.pools[0]
        j = self.submit(pool, retries=0)
        a.take_jobs(1)
        rid = a.take()
        self.ctl.ok("worker_drain", worker=a.worker, now=True)
        r = a.reply(rid)
        self.assertEqual(r["stop"], [{"job": j, "attempt": 1,
                                      "reason": "drain", "now": False}])
        a.ok("worker_output", job=j, attempt=1, stream="stdout", offset=0,
             data="partial")
        a.result(j, 1, signal=15, stopped="drain")
        r = self.job(j)
        self.assertEqual((r["state"], r["attempt"], r["started_ms"],
                          r["stdout"]), ("queued", 1, None, ""))
        b = self.agent(pools=[pool])
        (asg,) = b.take_jobs(1)
        self.assertEqual((asg["job"], asg["attempt"]), (j, 1))
        b.result(j, 1, exit_code=0)
        self.assertEqual(self.job(j)["state"], "succeeded")

    def test_prefetch_limit(self):
        a = self.agent(slots=2, prefetch=2)
        pool = a.pools[0]
        e = a.call("worker_register", worker=a.worker, host="h", slots=2,
                   pools=[pool], prefetch=4097)
        self.assertEqual(e["error"]["code"], "bad_request")
        self.assertIn("'prefetch'", e["error"]["message"])
        e = a.call("worker_take", max=4, prefetch=-1)
        self.assertEqual(e["error"]["code"], "bad_request")
        self.assertIn("'prefetch'", e["error"]["message"])
        jobs = [self.submit(pool) for _ in range(6)]
        # slots + prefetch - busy: 2 to run, 2 to hold.
        r = a.reply(a.take(max=8))
        self.assertEqual([x["job"] for x in r["jobs"]], jobs[:4])
        self.assertEqual({self.job(j)["state"] for j in jobs[:4]},
                         {"running"})
        rid = a.take(max=8)
        self.assertIsNone(a.poll(rid), "at slots + prefetch a take parks")
        a.result(jobs[0], 1, exit_code=0)
        self.assertEqual([x["job"] for x in a.reply(rid)["jobs"]],
                         [jobs[4]])
        for j in jobs[1:5]:
            a.result(j, 1, exit_code=0)
        # A take asking to hold none: the free slots only.
        more = [self.submit(pool) for _ in range(2)]
        r = a.reply(a.send("worker_take", max=8, prefetch=0))
        self.assertEqual([x["job"] for x in r["jobs"]], [jobs[5]] + more[:1])
        rid = a.send("worker_take", max=8, prefetch=0)
        self.assertIsNone(a.poll(rid))
        a.result(jobs[5], 1, exit_code=0)
        self.assertEqual([x["job"] for x in a.reply(rid)["jobs"]], more[1:])
        # Beyond the free slots no job with a run_timeout (its timer here
        # runs from the assignment), and none behind it either.
        rt = self.submit(pool, run_timeout_ms=60000)
        plain = self.submit(pool)
        rid = a.take(max=8)
        self.assertIsNone(a.poll(rid))
        a.result(more[0], 1, exit_code=0)
        r = a.reply(rid)
        self.assertEqual([x["job"] for x in r["jobs"]], [rt, plain])

    def test_returned_requeues_uncounted(self):
        a = self.agent(slots=1, prefetch=1)
        pool = a.pools[0]
        j1 = self.submit(pool, retries=0)
        j2 = self.submit(pool, retries=0)
        r = a.reply(a.take(max=2))
        self.assertEqual([x["job"] for x in r["jobs"]], [j1, j2])
        rid = a.take(max=2)
        e = a.result(j2, 1, returned=True, exit_code=0)
        self.assertEqual(e["error"]["code"], "bad_request")
        self.assertIn("'returned'", e["error"]["message"])
        r = a.result(j2, 1, returned=True)
        self.assertEqual(r, {"id": r["id"], "ok": True})
        r = self.job(j2)
        self.assertEqual((r["state"], r["attempt"], r["started_ms"],
                          r["stdout"]), ("queued", 1, None, ""))
        # Not given back to the agent that returned it: its slot is busy.
        self.assertIsNone(a.poll(rid))
        b = self.agent(pools=[pool])
        (asg,) = b.take_jobs(1)
        self.assertEqual((asg["job"], asg["attempt"]), (j2, 1))
        b.result(j2, 1, exit_code=0)
        r = self.job(j2)
        self.assertEqual((r["state"], r["attempt"], r["worker"]),
                         ("succeeded", 1, b.worker))
        # A resend of the return after it ran elsewhere: not_found.
        e = a.result(j2, 1, returned=True)
        self.assertEqual(e["error"]["code"], "not_found")
        # A held job canceled, then handed back: canceled, as jqd said.
        self.ctl.ok("cancel", job=j1)
        self.assertEqual(a.reply(rid)["stop"],
                         [{"job": j1, "attempt": 1, "reason": "cancel",
                           "now": False}])
        a.result(j1, 1, returned=True)
        self.assertEqual(self.job(j1)["state"], "canceled")

    def test_reregister_readopts(self):
        a = self.agent(slots=3)
        pool = a.pools[0]
        j1, j2 = self.submit(pool), self.submit(pool)
        a.take_jobs(2)
        rid = a.take()
        # The agent reconnects (a new session of the same id) holding j1.
        b = FakeAgent(self.server, worker=a.worker, pools=[pool], slots=3)
        self.addCleanup(b.close)
        r = b.register(attempts=[(j1, 1), (999999, 1)])
        self.assertEqual(r["adopted"], [{"job": j1, "attempt": 1}])
        self.assertEqual(r["drop"], [{"job": 999999, "attempt": 1}])
        self.assertEqual(a.reply(rid)["error"]["code"], "canceled")
        e = a.call("worker_heartbeat", running=[])
        self.assertEqual(e["error"]["code"], "not_found")
        # j2 was not held: it ended as an interrupted attempt (no retries).
        r = self.job(j2)
        self.assertEqual((r["state"], r["error"]), ("failed", "interrupted"))
        self.assertEqual(self.job(j1)["state"], "running")
        b.result(j1, 1, exit_code=0)
        self.assertEqual(self.job(j1)["state"], "succeeded")

    def test_worker_ops_need_register(self):
        c = self.connect()
        for op, f in (("worker_take", {}), ("worker_heartbeat", {}),
                      ("worker_result", {"job": 1, "attempt": 1,
                                         "exit_code": 0}),
                      ("worker_output", {"job": 1, "attempt": 1,
                                         "stream": "stdout", "offset": 0,
                                         "data": ""})):
            e = c.error(op, "bad_request", **f)
            self.assertIn("worker_register", e["message"])

    def test_one_connection_one_worker(self):
        a = self.agent()
        e = a.call("worker_register", worker=self.name("other"), host="h",
                   slots=1, pools=["local"])
        self.assertEqual(e["error"]["code"], "bad_request")
        rid = a.take()
        e = a.call("worker_take")
        self.assertEqual(e["error"]["code"], "bad_request")
        self.assertIn("parked already", e["error"]["message"])
        self.assertEqual(a.reply(a.send("abort", ref=rid))["aborted"], True)

    def test_workers_and_stats(self):
        a = self.agent(slots=3, labels={"gpu": "a100"}, version="1.0")
        j = self.submit(a.pools[0])
        a.take_jobs(1)
        ws = {w["worker"]: w for w in self.ctl.ok("workers")["workers"]}
        w = ws[a.worker]
        self.assertEqual(
            {k: w[k] for k in ("host", "pools", "labels", "slots", "busy",
                               "state", "version", "attempts")},
            {"host": "fake-host", "pools": a.pools,
             "labels": {"gpu": "a100"}, "slots": 3, "busy": 1,
             "state": "active", "version": "1.0",
             "attempts": [{"job": j, "attempt": 1}]})
        self.assertIsInstance(w["last_heartbeat_ms"], int)
        self.assertEqual(list(ws), sorted(ws))
        st = self.ctl.ok("stats")
        self.assertGreaterEqual(st["workers"]["active"], 1)
        self.assertGreaterEqual(st["remote_running"], 1)
        self.assertEqual(st["pools"][a.pools[0]],
                         {"queued": 0, "running": 1})
        a.result(j, 1, exit_code=0)

    def test_output_bounded(self):
        a = self.agent()
        j = self.submit(a.pools[0])
        a.take_jobs(1)
        e = a.call("worker_output", job=j, attempt=1, stream="stdout",
                   offset=0, data="x" * (64 * 1024 + 1))
        self.assertEqual(e["error"]["code"], "bad_request")
        a.ok("worker_output", job=j, attempt=1, stream="stdout", offset=0,
             data="x" * (64 * 1024))
        a.result(j, 1, exit_code=0)
        self.assertEqual(len(self.job(j)["stdout"]), 64 * 1024)

    def test_disconnected_until_lease(self):
        a = self.agent()
        a.close()
        # No attempt: forgotten at once.
        wait_until(lambda: a.worker not in
                   [w["worker"] for w in self.ctl.ok("workers")["workers"]])

    def test_local_pool_with_no_local_slots(self):
        j = self.ctl.ok("submit", argv=["true"])["job"]
        b = self.agent(pools=[self.name("p")])
        r = b.reply(b.take(timeout_ms=200))
        self.assertEqual(r["jobs"], [])
        self.assertEqual(self.job(j)["state"], "queued")
        a = self.agent(pools=["local"])
        got = a.take_jobs(1)
        self.assertEqual(got[0]["job"], j)
        a.result(j, 1, exit_code=0)
        self.assertEqual(self.job(j)["state"], "succeeded")


class CliTest(AgentMixin, ServerTestCase):
    server_args = ("--workers", "0")

    def jq(self, *args):
        p = subprocess.run([os.environ["JQ_CLIENT"], "-H", self.server.addr]
                           + list(args), capture_output=True, text=True,
                           timeout=60)
        return p.returncode, p.stdout, p.stderr

    def test_submit_pool_workers_drain(self):
        a = self.agent(slots=2)
        rc, out, err = self.jq("submit", "--pool", a.pools[0], "--", "true")
        self.assertEqual(rc, 0, err)
        j = int(out)
        self.assertEqual(self.job(j)["pool"], a.pools[0])
        a.take_jobs(1)
        rc, out, err = self.jq("workers")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["WORKER", "HOST", "POOLS",
                                            "SLOTS", "BUSY", "HEARTBEAT",
                                            "STATE"])
        row = [l.split() for l in lines[1:] if l.split()[0] == a.worker][0]
        self.assertEqual(row[1:5], ["fake-host", a.pools[0], "2", "1"])
        self.assertEqual(row[6], "active")
        rc, out, err = self.jq("worker", "drain", a.worker, "--now")
        self.assertEqual((rc, out), (0, "%s draining, 1 running\n" %
                                     a.worker), err)
        rc, out, err = self.jq("worker", "drain", "nobody")
        self.assertEqual(rc, 1)
        self.assertIn("not_found", err)
        rc, out, err = self.jq("worker", "undrain", a.worker)
        self.assertEqual(rc, 2)
        rc, out, err = self.jq("submit", "--pool", "bad pool", "--", "true")
        self.assertEqual(rc, 2)
        a.result(j, 1, signal=15, stopped="drain")


class MaxWorkersTest(AgentMixin, ServerTestCase):
    server_args = ("--workers", "0", "--max-workers", "1",
                   "--max-output", "8")

    def test_max_workers(self):
        # The other test's agent is gone once its connection closed.
        wait_until(lambda: self.ctl.ok("workers")["workers"] == [])
        a = self.agent()
        b = self.agent(register=False)
        e = b.call("worker_register", worker=b.worker, host="h", slots=1,
                   pools=b.pools)
        self.assertEqual(e["error"]["code"], "limit")
        self.assertIn("max_workers (1)", e["error"]["message"])
        # The same id again is no new worker.
        c = self.agent(register=False, worker=a.worker)
        c.register()
        a.close()
        c.close()
        wait_until(lambda: self.ctl.ok("workers")["workers"] == [])
        b.register()

    def test_max_output_on_the_server_too(self):
        a = self.agent(register=False)
        self.assertEqual(a.register()["max_output"], 8)
        j = self.submit(a.pools[0])
        a.take_jobs(1)
        a.ok("worker_output", job=j, attempt=1, stream="stdout", offset=0,
             data="0123456789")
        # The agent, capping at 8 too, may say it holds more.
        a.ok("worker_output", job=j, attempt=1, stream="stdout", offset=10,
             data="ab")
        a.result(j, 1, exit_code=0, stdout_truncated=True)
        r = self.job(j)
        self.assertEqual((r["stdout"], r["stdout_truncated"]),
                         ("01234567", True))


class LeaseTest(AgentMixin, ServerTestCase):
    server_args = ("--workers", "0", "--worker-heartbeat", "100ms",
                   "--worker-lease", "300ms")

    def test_lease_expiry_retries_then_interrupted(self):
        a = self.agent()
        j = self.submit(a.pools[0], retries=1)
        a.take_jobs(1)
        # No heartbeat: the lease runs out, attempt 2 is queued.
        wait_until(lambda: self.job(j)["attempt"] == 2)
        self.assertEqual(self.job(j)["state"], "queued")
        # The late result of attempt 1 is refused.
        e = a.result(j, 1, exit_code=0)
        self.assertEqual(e["error"]["code"], "not_found")
        # Silent for a lease, it gets jobs again once it heartbeats.
        a.heartbeat()
        (asg,) = a.take_jobs(1)
        self.assertEqual(asg["attempt"], 2)
        r = self.wait_state(j, "failed")
        self.assertEqual((r["error"], r["attempt"]), ("interrupted", 2))
        self.assertGreaterEqual(
            self.ctl.ok("stats")["workers"]["active"], 1)

    def test_silent_worker_gets_no_job(self):
        # A partition leaves the connection open: a worker whose lease
        # ran out for want of heartbeats gets no retry (nor other job)
        # on its parked take until it heartbeats again.
        pool = self.name("p")
        a = self.agent(pools=[pool])
        j = self.submit(pool, retries=3)
        a.take_jobs(1)
        # Its take says to drop attempt 1, and nothing else.
        r = a.reply(a.take())
        self.assertEqual((r["jobs"], r["drop"]),
                         ([], [{"job": j, "attempt": 1}]))
        rid = a.take()
        self.assertIsNone(a.poll(rid, 0.2))
        self.assertEqual(self.job(j)["state"], "queued")
        b = self.agent(pools=[pool])
        (asg,) = b.take_jobs(1)
        self.assertEqual((asg["job"], asg["attempt"]), (j, 2))
        self.assertTrue(b.result(j, 2, exit_code=0)["ok"])
        # Back: a heartbeat, and its parked take gets the next job.
        hb = a.heartbeat()
        self.assertEqual(hb["drop"], [])
        j2 = self.submit(pool)
        r = a.reply(rid)
        self.assertEqual([(x["job"], x["attempt"]) for x in r["jobs"]],
                         [(j2, 1)])

    def test_heartbeats_keep_the_lease(self):
        a = self.agent()
        j = self.submit(a.pools[0])
        a.take_jobs(1)
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            hb = a.heartbeat([(j, 1)])
            self.assertEqual(hb["drop"], [])
            time.sleep(0.05)
        self.assertEqual(self.job(j)["state"], "running")
        a.result(j, 1, exit_code=0)
        self.assertEqual(self.job(j)["state"], "succeeded")

    def test_canceled_attempt_lease_ends_canceled(self):
        a = self.agent()
        j = self.submit(a.pools[0], retries=3)
        a.take_jobs(1)
        self.ctl.ok("cancel", job=j)
        r = self.wait_state(j, "canceled")
        self.assertEqual(r["attempt"], 1)

    def test_drained_worker_forgotten_a_lease_after_disconnecting(self):
        a = self.agent()
        self.ctl.ok("worker_drain", worker=a.worker)
        a.close()
        wait_until(lambda: a.worker not in
                   [w["worker"] for w in self.ctl.ok("workers")["workers"]])

    def test_disconnected_worker_forgotten_after_lease(self):
        a = self.agent()
        j = self.submit(a.pools[0])
        a.take_jobs(1)
        a.close()

        def state():
            ws = {w["worker"]: w for w in self.ctl.ok("workers")["workers"]}
            return ws.get(a.worker, {}).get("state")
        self.assertIn(state(), ("disconnected", None))
        wait_until(lambda: state() is None)
        self.assertEqual(self.job(j)["state"], "failed")


class MetricsTest(AgentMixin, ServerTestCase):
    server_args = ("--workers", "0", "--metrics", "127.0.0.1:0")

    def scrape(self):
        port = int(self.server.wait_log(
            r"metrics on http://127\.0\.0\.1:(\d+)/metrics").group(1))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
        conn.close()
        return body

    def test_remote_metrics(self):
        a = self.agent()
        pool = a.pools[0]
        j = self.submit(pool)
        self.submit(pool)
        a.take_jobs(1)
        body = self.scrape()
        self.assertIn('jqd_remote_workers{state="active"} 1\n', body)
        self.assertIn("jqd_remote_jobs_running 1\n", body)
        self.assertIn('jqd_pool_jobs{pool="%s",state="queued"} 1\n' % pool,
                      body)
        self.assertIn('jqd_pool_jobs{pool="%s",state="running"} 1\n' % pool,
                      body)
        self.assertRegex(body, r"jqd_worker_leases_expired_total \d+\n")
        a.result(j, 1, exit_code=0)


class RestartTest(RestartTestCase):
    def test_remote_job_readopted_after_restart(self):
        args = ("--workers", "0")
        s, c = self.start(*args)
        a = FakeAgent(s, worker="wr", pools=["rp"])
        a.register()
        j = c.ok("submit", argv=["sleep", "1"], pool="rp", retries=2)["job"]
        a.take_jobs(1)
        a.close()
        c.close()
        s.kill()
        s, c = self.start(*args)
        r = c.ok("job", job=j)
        self.assertEqual((r["state"], r["attempt"], r["worker"]),
                         ("running", 1, "wr"))
        ws = c.ok("workers")["workers"]
        self.assertEqual([(w["worker"], w["state"], w["attempts"])
                          for w in ws],
                         [("wr", "disconnected",
                           [{"job": j, "attempt": 1}])])
        b = FakeAgent(s, worker="wr", pools=["rp"])
        self.addCleanup(b.close)
        r = b.register(attempts=[(j, 1)])
        self.assertEqual(r["adopted"], [{"job": j, "attempt": 1}])
        b.ok("worker_output", job=j, attempt=1, stream="stdout", offset=0,
             data="after\n")
        b.result(j, 1, exit_code=0)
        r = c.ok("job", job=j)
        self.assertEqual((r["state"], r["attempt"], r["stdout"]),
                         ("succeeded", 1, "after\n"))


if __name__ == "__main__":
    main()
