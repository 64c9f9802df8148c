#!/usr/bin/env python3
"""The randomized fault loop of remote workers (issue 15; RELIABILITY.md
"Remote workers' faults").

jqd runs nothing itself (--workers 0), with a short lease, on a database
that outlives it; three jq-worker agents run its jobs: two on the Unix
socket, one in a network namespace over a veth pair (netns.py; a third
on the socket where namespaces cannot be made).  Each agent is PID 1 of
a PID namespace of its own (unshare --pid --fork), so that killing it
kills its jobs, as systemd does with the unit's cgroup (jq-worker.service:
KillMode=mixed, whatever is left of the cgroup gets SIGKILL when the
agent is gone).  A stream of faultjob.py jobs (short, long, with a
run_timeout, to be canceled; all with retries) runs while each cycle
picks one or two faults at random:

  kill9-agent    kill -9 an agent, start it again (same id and state dir)
  stop-agent     SIGSTOP an agent (not its jobs) past its fencing point,
                 less than the lease; SIGCONT
  partition      cut the namespace's link for longer than the lease; heal
  kill9-jqd      kill -9 jqd, start it again on the same database
  stop-jqd       SIGSTOP jqd for longer than the lease; SIGCONT
  cancel         cancel a running job
  drain          worker_drain now of an agent; start it again once it
                 has exited

At the end everything is healed, the jobs that wait to be canceled are,
every job is waited for, and the checker counts: every job is final
once, in a state its kind allows; no two runs of a job held its lock at
once (flock) and no job was left running; every succeeded job's output
is the one its last run printed, that run ended, and it was the attempt
and worker the result names; jqd logged no error.

    test_worker_faultloop.py [--cycles N] [--seed S]

make check runs 30 cycles with a fresh seed (printed: replay with
--seed); needs root (PID namespaces), else skipped.
"""

import argparse
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time

import faultjob
import netns
from jqtest import Client, Server, SANITIZER_MARKERS, wait_until
from test_worker import Agent

HEARTBEAT_MS = 150
LEASE_MS = 1500
KINDS = ("short", "short", "short", "long", "timeout", "cancel")
FAULTS = ("kill9-agent", "stop-agent", "partition", "kill9-jqd",
          "stop-jqd", "cancel", "drain")
# Final (state, error) a job of each kind may end in; any job may also
# end ("failed", "interrupted") (its retries spent on faults), and a job
# the cancel fault chose ("canceled", None).
ALLOWED = {
    "short": {("succeeded", None)},
    "long": {("succeeded", None)},
    "timeout": {("deadline_exceeded", "run_timeout")},
    "cancel": {("canceled", None), ("succeeded", None)},
}


def log(msg):
    print(msg, flush=True)


class Loop:
    def __init__(self, seed, cycles):
        self.rng = random.Random(seed)
        self.seed = seed
        self.cycles = cycles
        self.tmp = tempfile.mkdtemp(prefix="jq-faultloop-")
        self.rec = os.path.join(self.tmp, "records")
        os.mkdir(self.rec)
        self.link = None
        self.server = None
        self.servers = []       # every jqd run, for the log check
        self.port = 0
        self.agents = {}        # id -> the live Agent
        self.incarnations = {}  # job dir name -> Agent
        self.jobs = {}          # id -> kind
        self.canceled = set()   # chosen by the cancel fault
        self.counts = {f: 0 for f in FAULTS}

    # -- processes ------------------------------------------------------------

    def start_jqd(self):
        listen = ["--unix", os.path.join(self.tmp, "jqd.sock")]
        if self.link is not None:
            listen += ["--listen", "%s:%d" % (self.link.host_ip, self.port)]
        s = Server("--workers", "0", "--worker-heartbeat",
                   "%dms" % HEARTBEAT_MS, "--worker-lease", "%dms" % LEASE_MS,
                   "--kill-grace", "500ms", "--token-file", self.token,
                   state_dir=self.tmp, listen_args=listen)
        s.start()
        if self.link is not None:
            self.port = s.port
        self.server = s
        self.servers.append(s)
        self.ctl = Client(s, unix=True)

    def start_agent(self, worker):
        n = sum(1 for a in self.incarnations.values()
                if a.worker == worker)
        jobs = "%s.%d" % (worker, n)
        os.mkdir(os.path.join(self.tmp, jobs))
        prefix = ["unshare", "--pid", "--fork", "--kill-child",
                  "--mount-proc"]
        if worker == "w-netns":
            args = ["-H", "%s:%d" % (self.link.host_ip, self.port),
                    "--token-file", self.token]
            prefix = ["ip", "netns", "exec", self.link.ns] + prefix
        else:
            args = ["-S", os.path.join(self.tmp, "jqd.sock")]
        a = Agent(args, worker, ["local"],
                  os.path.join(self.tmp, "state-" + worker),
                  os.path.join(self.tmp, jobs), slots=3, prefix=prefix)
        self.agents[worker] = a
        self.incarnations[jobs] = a

    def agent_pid(self, a):
        """The agent's own pid: unshare's child."""
        def child():
            try:
                with open("/proc/%d/task/%d/children"
                          % (a.proc.pid, a.proc.pid)) as f:
                    return f.read().split()
            except FileNotFoundError:
                return None
        return int(wait_until(child, what="the agent under unshare")[0])

    def settle(self):
        """Until every agent is active and heard from since now: a
        partition leaves jqd a connection that looks open (and a worker
        that looks active) until TCP gives up; only a live session
        heartbeats."""
        want = set(self.agents)
        since = int(time.time() * 1000)

        def active():
            ws = self.ctl.ok("workers")["workers"]
            return want <= {w["worker"] for w in ws
                            if w["state"] == "active" and
                            (w["last_heartbeat_ms"] or 0) > since}
        wait_until(active, what="agents %s active" % sorted(want))

    # -- jobs ---------------------------------------------------------------

    def submit(self):
        kind = self.rng.choice(KINDS)
        fields = {"retries": 20}
        if kind == "short":
            how = "%.2f" % self.rng.uniform(0.05, 0.5)
        elif kind == "long":
            how = "%.2f" % self.rng.uniform(1.5, 4)
        elif kind == "timeout":
            how, fields["run_timeout_ms"] = "30", 600
        else:
            how = "8"           # canceled at the end of its cycle
        j = self.ctl.ok("submit", argv=faultjob.argv(self.rec, how),
                        **fields)["job"]
        self.jobs[j] = kind

    def running(self, kind=None):
        return [r["job"] for r in
                self.ctl.ok("jobs", state="running", limit=1000)["jobs"]
                if kind is None or self.jobs[r["job"]] == kind]

    def cancel(self, jobs):
        for j in jobs:
            self.ctl.ok("cancel", job=j)

    # -- faults -------------------------------------------------------------

    def fault(self, name):
        self.counts[name] += 1
        rng = self.rng
        if name in ("kill9-agent", "stop-agent", "drain"):
            worker = rng.choice(sorted(self.agents))
            a = self.agents[worker]
        if name == "kill9-agent":
            os.kill(self.agent_pid(a), signal.SIGKILL)
            a.wait()
            self.start_agent(worker)
        elif name == "stop-agent":
            # Past the point where it fences (lease - margin: 1.2 s),
            # short of the lease.
            pid = self.agent_pid(a)
            os.kill(pid, signal.SIGSTOP)
            time.sleep(rng.uniform(0.3, 0.7) * LEASE_MS / 1000)
            os.kill(pid, signal.SIGCONT)
        elif name == "partition":
            self.link.cut()
            time.sleep(rng.uniform(1.2, 2) * LEASE_MS / 1000)
            self.link.heal()
        elif name == "kill9-jqd":
            self.ctl.close()
            self.server.kill()
            time.sleep(rng.uniform(0, 0.8) * LEASE_MS / 1000)
            self.start_jqd()
        elif name == "stop-jqd":
            os.kill(self.server.proc.pid, signal.SIGSTOP)
            time.sleep(rng.uniform(1.1, 1.6) * LEASE_MS / 1000)
            os.kill(self.server.proc.pid, signal.SIGCONT)
        elif name == "cancel":
            running = self.running()
            if running:
                j = rng.choice(running)
                self.canceled.add(j)
                self.cancel([j])
        elif name == "drain":
            # On a live session: a draining worker without attempts is
            # kept only a lease after it was last heard from, so a drain
            # of one cut off for longer (jqd has not seen the old
            # connection close yet) is forgotten with it when that
            # connection closes, and the agent, registered again, would
            # never exit.
            # An agent may also be between sessions right after settling
            # (it ended one: fenced, or a heartbeat went unanswered):
            # jqd then knows no such worker; settle and ask again.
            for _ in range(10):
                self.settle()
                r = self.ctl.call("worker_drain", worker=worker, now=True)
                if r["ok"]:
                    break
                assert r["error"]["code"] == "not_found", r
            else:
                raise AssertionError("worker_drain %s: %r" % (worker, r))
            a.wait()
            self.start_agent(worker)

    # -- the run -----------------------------------------------------------

    def run(self):
        reason = netns.unavailable()
        if reason is None:
            self.link = netns.Link().open()
        else:
            log("faultloop: no network namespace (%s): three agents on "
                "the Unix socket, no partition" % reason)
        faults = [f for f in FAULTS
                  if f != "partition" or self.link is not None]
        self.token = os.path.join(self.tmp, "token")
        with open(self.token, "w") as f:
            f.write("fault-loop-token\n")
        os.chmod(self.token, 0o600)
        self.start_jqd()
        for w in ("w-a", "w-b", "w-netns" if self.link else "w-c"):
            self.start_agent(w)
        self.settle()
        started = time.monotonic()
        for cycle in range(1, self.cycles + 1):
            for _ in range(self.rng.randint(3, 6)):
                self.submit()
            # Let some of them start on the agents.
            wait_until(lambda: self.running(), what="a job running")
            chosen = self.rng.sample(faults, self.rng.randint(1, 2))
            t = time.monotonic()
            for f in chosen:
                self.fault(f)
            self.settle()
            self.cancel(self.running("cancel"))
            log("cycle %d: %s (%.1f s), %d jobs so far"
                % (cycle, " + ".join(chosen), time.monotonic() - t,
                   len(self.jobs)))
        # The end: cancel what waits to be, wait for every job.
        self.cancel(j for j, kind in self.jobs.items() if kind == "cancel")
        r = self.ctl.ok("wait", jobs=sorted(self.jobs), timeout_ms=120000,
                        reply_timeout=150)
        log("all %d jobs final after %.1f s" % (len(r["results"]),
                                                time.monotonic() - started))
        return self.check(r["results"])

    # -- the checker ---------------------------------------------------------

    def started(self):
        """(job dir, pid) -> (job, attempt, worker), from the agents'
        logs."""
        out = {}
        for d, a in self.incarnations.items():
            for line in a.text().splitlines():
                m = re.search(r"job (\d+) attempt (\d+): started pid (\d+)",
                              line)
                if m:
                    out[(d, int(m.group(3)))] = (int(m.group(1)),
                                                 int(m.group(2)), a.worker)
        return out

    def check(self, results):
        bad = []
        runs = faultjob.Runs(self.rec)
        started = self.started()
        states = {}
        by_id = {r["job"]: r for r in results}
        if sorted(by_id) != sorted(self.jobs):
            bad.append("wait answered %d jobs of %d" % (len(by_id),
                                                         len(self.jobs)))
        left = self.ctl.ok("jobs", state="queued")["jobs"] + \
            self.ctl.ok("jobs", state="running")["jobs"]
        if left:
            bad.append("jobs left queued or running: %r" % left)
        for j, kind in sorted(self.jobs.items()):
            r = by_id.get(j)
            if r is None:
                continue
            st = r["state"]
            states[st] = states.get(st, 0) + 1
            outcome = (st, r["error"] if st in ("failed", "deadline_exceeded")
                       else None)
            allowed = ALLOWED[kind] | {("failed", "interrupted")}
            if j in self.canceled:
                allowed.add(("canceled", None))
            if outcome not in allowed:
                bad.append("job %d (%s): %s %r" % (j, kind, st, r["error"]))
            of = runs.of(j)
            if st != "succeeded":
                continue
            m = re.fullmatch(r"out (\d+) (\S+) (\d+)\n", r["stdout"])
            if m is None or int(m.group(1)) != j:
                bad.append("job %d: stdout %r" % (j, r["stdout"]))
                continue
            key = (j, m.group(2), int(m.group(3)))
            if key not in runs.runs or runs.runs[key]["end"] is None:
                bad.append("job %d: its result's run %r did not end" %
                           (j, key))
            elif of[-1][0] != key:
                bad.append("job %d: a run started after the one recorded: "
                           "%r" % (j, of))
            who = started.get((m.group(2), int(m.group(3))))
            if who != (j, r["attempt"], r["worker"]):
                bad.append("job %d: result of attempt %d on %s, the run "
                           "was %r" % (j, r["attempt"], r["worker"], who))
        for o in runs.overlaps:
            bad.append("overlap: %s" % " ".join(o))
        for s in self.servers:
            for line in s.log_lines:
                if re.search(r"\b(error|fatal)\b", line) or \
                        any(m in line for m in SANITIZER_MARKERS):
                    bad.append("jqd: " + line)
        for a in self.incarnations.values():
            for line in a.text().splitlines():
                if any(m in line for m in SANITIZER_MARKERS):
                    bad.append("%s: %s" % (a.worker, line))
        killed = sum(1 for r in runs.runs.values() if r["end"] is None)
        fenced = sum(a.text().count(": fenced: killed")
                     for a in self.incarnations.values())
        log("totals: seed %d, %d cycles, %d jobs: %s; %d runs (%d ended "
            "early, %d fenced), %d overlaps; faults: %s"
            % (self.seed, self.cycles, len(self.jobs),
               ", ".join("%d %s" % (n, s) for s, n in sorted(states.items())),
               len(runs.runs), killed, fenced, len(runs.overlaps),
               ", ".join("%s %d" % kv for kv in self.counts.items())))
        for b in bad:
            log("FAIL: " + b)
        return not bad

    def close(self):
        for a in self.incarnations.values():
            a.close()
        if self.server is not None:
            try:
                os.kill(self.server.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self.server.stop()
        if self.link is not None:
            self.link.close()
        shutil.rmtree(self.tmp, True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cycles", type=int, default=30)
    p.add_argument("--seed", type=int, default=None)
    args = p.parse_args()
    for var in ("JQD", "JQ_WORKER"):
        if not os.access(os.environ.get(var, ""), os.X_OK):
            print("%s is not set to an executable; skipping" % var)
            return 77
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        print("faultloop: skipped: each agent runs in a PID namespace of "
              "its own (unshare --pid), which needs root")
        return 77
    seed = args.seed if args.seed is not None else \
        random.SystemRandom().randrange(1 << 32)
    log("faultloop: seed %d (replay: %s --seed %d --cycles %d)"
        % (seed, sys.argv[0], seed, args.cycles))
    loop = Loop(seed, args.cycles)
    try:
        ok = loop.run()
    finally:
        loop.close()
    if not ok:
        log("faultloop: FAILED, seed %d" % seed)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
