#!/usr/bin/env python3
"""What a dashboard's browsing costs jqd (protocol 1.4, PROTOCOL.md 12.4).

    JQD=./jqd python3 bench/browse.py [JOBS [CHANNELS]]

Starts `$JQD --workers 0` (every job stays queued, no process runs) on a
Unix socket in a temporary directory, submits JOBS jobs (default 10000)
pipelined -- argv `convert --resize 50% img-NNNNNN.png`, 97 names, groups
of 10 -- and makes CHANNELS channels (default 0), then times each request
below 20 times on one connection and prints the medians: `jobs` with and
without the 1.4 filters (a text that matches nothing reads every job),
`groups`, and `chans` pages.  Build jqd without sanitizers for numbers
worth quoting (./configure && make jqd).
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 20


class Conn:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.f = self.sock.makefile("rwb")

    def pipeline(self, reqs):
        self.f.write(b"".join(json.dumps(r).encode() + b"\n" for r in reqs))
        self.f.flush()
        for _ in reqs:
            r = json.loads(self.f.readline())
            if not r["ok"]:
                raise SystemExit("error reply: %r" % r)

    def timed(self, req):
        """The median time of RUNS requests, in ms, and the last reply."""
        times = []
        for _ in range(RUNS):
            t = time.perf_counter()
            self.f.write(json.dumps(req).encode() + b"\n")
            self.f.flush()
            r = json.loads(self.f.readline())
            times.append((time.perf_counter() - t) * 1000)
            if not r["ok"]:
                raise SystemExit("error reply: %r" % r)
        return statistics.median(times), r


def fill(c, njobs, nchans):
    for base in range(0, njobs, 1000):
        c.pipeline([{"op": "submit", "argv": [
            "convert", "--resize", "50%", "img-%06d.png" % i],
            "name": "thumb-%d" % (i % 97), "group": "batch-%d" % (i // 10)}
            for i in range(base, min(njobs, base + 1000))])
    for base in range(0, nchans, 1000):
        c.pipeline([{"op": "make", "chan": "ch-%06d" % i, "cap": 1}
                    for i in range(base, min(nchans, base + 1000))])


def main():
    njobs = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    nchans = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    jqd = os.environ.get("JQD", "./jqd")
    tmp = tempfile.mkdtemp(prefix="jqd-browse-")
    path = os.path.join(tmp, "jqd.sock")
    proc = subprocess.Popen(
        [jqd, "--unix", path, "--db", os.path.join(tmp, "b.db"),
         "--job-dir", tmp, "--workers", "0",
         "--max-queued-jobs", "10000000", "--max-retained-jobs", "10000000"],
        env=dict(os.environ, XDG_CONFIG_HOME=tmp),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(path):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("jqd did not start")
            time.sleep(0.05)
        c = Conn(path)
        fill(c, njobs, nchans)
        cases = [
            ("jobs (no filter)", {"op": "jobs"}),
            ("jobs text matching nothing", {"op": "jobs",
                                            "text": "NoSuchText"}),
            ("jobs text matching the oldest 1000", {"op": "jobs",
                                                    "text": "IMG-000"}),
            ("jobs text matching every job", {"op": "jobs", "text": "PNG"}),
            ("jobs name matching nothing", {"op": "jobs", "name": "nosuch"}),
            ("jobs pool matching nothing", {"op": "jobs", "pool": "gpu"}),
            ("groups (limit 100)", {"op": "groups"}),
        ]
        if nchans:
            cases += [
                ("chans limit 100", {"op": "chans", "limit": 100}),
                ("chans limit 100 after the middle", {
                    "op": "chans", "limit": 100,
                    "after": "ch-%06d" % (nchans // 2)}),
                ("chans prefix matching 1/1000, limit 100", {
                    "op": "chans", "prefix": "ch-%04d" % (nchans // 1000 - 1
                                                          if nchans >= 1000
                                                          else 0),
                    "limit": 100}),
            ]
        print("%d jobs, %d channels; median of %d requests" %
              (njobs, nchans, RUNS))
        for label, req in cases:
            ms, r = c.timed(req)
            listed = len(r.get("jobs", r.get("groups", r.get("chans", []))))
            print("%-42s %8.2f ms  (%d listed)" % (label, ms, listed))
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main()
