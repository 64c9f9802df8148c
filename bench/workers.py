#!/usr/bin/env python3
"""Remote workers benchmark: jq-worker agents against jqd's own pool.

    bench/workers.py [--jqd PATH] [--worker PATH] [--jobs 5000]
                     [--slots 4] [--runs 3] [--samples 200]

Throughput: N trivial jobs (/bin/true), submitted pipelined on one
connection into one group, then one `wait` on the group, through
(a) `jqd --workers S` (the local pool) and (b) `jqd --workers 0` with two
`jq-worker --slots S/2` agents on the same machine (same total slots);
every submit, assignment and result committed to SQLite (sync full).
Runs alternate (local, remote, local, ...), medians are reported, and
the ratio remote/local (the issue's bar: at least 0.80).  `xargs -P S`
running the same command is printed for scale.

Latency, on idle slots, one job at a time:
- submit-to-start: from writing `submit` to the job's process running,
  measured by the job itself (`date +%s%N`; one machine, one clock),
  local pool and remote agent, p50 and p99;
- cancel-to-killed: a remote `sleep` that has started (it touched a
  file); from writing `cancel` to `wait` answering `canceled` (the
  process was signalled, reaped by the agent, its result committed).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jobs import Conn, run_xargs, start_jqd, submit_and_wait  # noqa: E402


class Setup:
    """jqd with `slots` local workers, or none and two agents."""

    def __init__(self, jqd, worker, slots, remote):
        self.tmp = tempfile.mkdtemp(prefix="jqd-bench-")
        self.proc, self.port = start_jqd(jqd, 0 if remote else slots,
                                         self.tmp)
        self.agents = []
        if remote:
            for i, n in enumerate((slots - slots // 2, slots // 2)):
                self.agents.append(subprocess.Popen(
                    [worker, "-H", "127.0.0.1:%d" % self.port,
                     "--id", "bench-%d" % i, "--slots", str(n),
                     "--pool", "local", "--job-dir", self.tmp,
                     "--state-dir", os.path.join(self.tmp, "state-%d" % i)],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL))
        self.c = Conn(self.port)
        if remote:
            deadline = time.monotonic() + 30
            while len([w for w in self.c.call(op="workers")["workers"]
                       if w["state"] == "active"]) < 2:
                if time.monotonic() > deadline:
                    raise RuntimeError("agents did not register")
                time.sleep(0.01)

    def close(self):
        for a in self.agents:
            a.terminate()
        for a in self.agents:
            a.wait()
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def throughput(s, n):
    return n / submit_and_wait(s.c, n)


def start_latency(s, samples):
    out = []
    for _ in range(samples):
        t0 = time.time_ns()
        jid = s.c.call(op="submit", argv=["/bin/date", "+%s%N"])["job"]
        r = s.c.call(op="wait", jobs=[jid])["results"][0]
        assert r["state"] == "succeeded", r
        out.append((int(r["stdout"]) - t0) / 1e6)
    return out


def cancel_latency(s, samples):
    out = []
    for i in range(samples):
        mark = os.path.join(s.tmp, "started-%d" % i)
        jid = s.c.call(op="submit", argv=[
            "sh", "-c", 'touch "$0"; exec sleep 1000', mark])["job"]
        deadline = time.monotonic() + 30
        while not os.path.exists(mark):
            if time.monotonic() > deadline:
                raise RuntimeError("job %d did not start" % jid)
            time.sleep(0.001)
        t0 = time.monotonic()
        s.c.send_all([{"op": "cancel", "job": jid},
                      {"op": "wait", "jobs": [jid]}])
        assert s.c.reply()["ok"]
        r = s.c.reply()
        out.append((time.monotonic() - t0) * 1e3)
        assert r["results"][0]["state"] == "canceled", r
    return out


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jqd", default=os.environ.get("JQD", "./jqd"))
    ap.add_argument("--worker",
                    default=os.environ.get("JQ_WORKER", "./jq-worker"))
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--samples", type=int, default=200)
    a = ap.parse_args()
    local, remote, xargs = [], [], []
    for i in range(a.runs):
        for kind in ("local", "remote"):
            s = Setup(a.jqd, a.worker, a.slots, kind == "remote")
            try:
                rate = throughput(s, a.jobs)
            finally:
                s.close()
            (local if kind == "local" else remote).append(rate)
        xargs.append(a.jobs / run_xargs(a.jobs, a.slots))
        print("run %d: local %.0f jobs/s, two agents %.0f jobs/s, "
              "xargs -P %d %.0f jobs/s" % (i + 1, local[-1], remote[-1],
                                          a.slots, xargs[-1]), flush=True)
    lat = {}
    for kind in ("local", "remote"):
        s = Setup(a.jqd, a.worker, a.slots, kind == "remote")
        try:
            lat[kind] = start_latency(s, a.samples)
            if kind == "remote":
                lat["cancel"] = cancel_latency(s, max(20, a.samples // 4))
        finally:
            s.close()
    ml, mr = statistics.median(local), statistics.median(remote)
    print()
    print("| %d x /bin/true, %d slots in all | median jobs/s (%d runs) |"
          % (a.jobs, a.slots, a.runs))
    print("|---|---|")
    print("| jqd --workers %d (local pool) | %.0f |" % (a.slots, ml))
    print("| jqd --workers 0 + 2 jq-worker agents | %.0f |" % mr)
    print("| agents / local | %.2f |" % (mr / ml))
    print("| xargs -P %d (for scale) | %.0f |"
          % (a.slots, statistics.median(xargs)))
    print()
    print("| latency on idle slots (ms) | samples | p50 | p99 |")
    print("|---|---|---|---|")
    for kind, label in (("local", "submit-to-start, local pool"),
                        ("remote", "submit-to-start, remote agent"),
                        ("cancel", "cancel-to-killed, remote agent")):
        print("| %s | %d | %.2f | %.2f |" % (label, len(lat[kind]),
                                             statistics.median(lat[kind]),
                                             pct(lat[kind], 0.99)))


if __name__ == "__main__":
    sys.exit(main())
