#!/usr/bin/env python3
"""Jobs benchmark: jqd's worker pool against `xargs -P`, side by side.

    bench/jobs.py [--jqd PATH] [--jobs 5000] [--workers 2] [--runs 3]

Throughput: N trivial jobs (/bin/true) through `jqd --workers W` -- all
submitted pipelined on one connection into one group, then one `wait` on
the group; every submit and every result is committed to SQLite (sync
full) -- against `seq N | xargs -P W -n 1 /bin/true` running the same
command N times.  Runs alternate (jqd, xargs, jqd, ...) and medians are
reported.

Latency: on an idle pool, the time from writing `submit` to the job's
process running, measured by the job itself (`date +%s%N`), median of 50.
"""

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def start_jqd(jqd, workers, tmp):
    proc = subprocess.Popen(
        [jqd, "--listen", "127.0.0.1:0", "--insecure-tcp",
         "--db", os.path.join(tmp, "jqd.db"),
         "--workers", str(workers), "--job-dir", tmp,
         "--max-queued-jobs", "1000000"],
        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    port = None
    for raw in proc.stderr:
        line = raw.decode()
        m = re.search(r"listening on tcp 127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
        if "info: ready" in line:
            break
    threading.Thread(target=lambda: proc.stderr.read(), daemon=True).start()
    return proc, port


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile("rb")

    def send_all(self, frames):
        self.sock.sendall(b"".join(json.dumps(f).encode() + b"\n"
                                   for f in frames))

    def reply(self):
        return json.loads(self.f.readline())

    def call(self, **frame):
        self.send_all([frame])
        return self.reply()


def submit_and_wait(c, n):
    """n x /bin/true pipelined into one group, then one wait: seconds."""
    frames = [{"op": "submit", "argv": ["/bin/true"], "group": "b"}
              for _ in range(n)]
    t0 = time.monotonic()
    writer = threading.Thread(target=c.send_all, args=(frames,))
    writer.start()
    for _ in range(n):
        r = c.reply()
        assert r["ok"], r
    writer.join()
    r = c.call(op="wait", group="b")
    elapsed = time.monotonic() - t0
    assert r["ok"], r
    states = {x["state"] for x in r["results"]}
    assert len(r["results"]) == n and states == {"succeeded"}, states
    return elapsed


def run_jqd(jqd, n, workers):
    tmp = tempfile.mkdtemp(prefix="jqd-bench-")
    proc, port = start_jqd(jqd, workers, tmp)
    try:
        c = Conn(port)
        elapsed = submit_and_wait(c, n)
        stats = c.call(op="stats")["store"]
        return elapsed, stats
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def run_xargs(n, workers):
    t0 = time.monotonic()
    subprocess.run("seq %d | xargs -P %d -n 1 /bin/true" % (n, workers),
                   shell=True, check=True)
    return time.monotonic() - t0


def latency(jqd, samples):
    tmp = tempfile.mkdtemp(prefix="jqd-bench-")
    proc, port = start_jqd(jqd, 2, tmp)
    out = []
    try:
        c = Conn(port)
        for _ in range(samples):
            t0 = time.time_ns()
            jid = c.call(op="submit", argv=["/bin/date", "+%s%N"])["job"]
            r = c.call(op="wait", jobs=[jid])["results"][0]
            out.append((int(r["stdout"]) - t0) / 1e6)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jqd", default=os.environ.get("JQD", "./jqd"))
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    jq, xa, per_commit = [], [], []
    for i in range(a.runs):
        t, st = run_jqd(a.jqd, a.jobs, a.workers)
        jq.append(a.jobs / t)
        per_commit.append(st["changes_per_commit"])
        xa.append(a.jobs / run_xargs(a.jobs, a.workers))
        print("run %d: jqd %.0f jobs/s (%.1f changes/commit), "
              "xargs -P %d %.0f jobs/s" % (i + 1, jq[-1], per_commit[-1],
                                          a.workers, xa[-1]), flush=True)
    mj, mx = statistics.median(jq), statistics.median(xa)
    lat = latency(a.jqd, 50)
    print()
    print("| %d x /bin/true, %d workers | median jobs/s (%d runs) |"
          % (a.jobs, a.workers, a.runs))
    print("|---|---|")
    print("| jqd (sync full, results stored) | %.0f |" % mj)
    print("| xargs -P %d | %.0f |" % (a.workers, mx))
    print("| jqd / xargs | %.2f |" % (mj / mx))
    print()
    print("submit-to-start latency on an idle pool (50 jobs): median %.2f ms,"
          " p90 %.2f ms, max %.2f ms" % (statistics.median(lat),
                                          sorted(lat)[int(len(lat) * .9)],
                                          max(lat)))


if __name__ == "__main__":
    sys.exit(main())
