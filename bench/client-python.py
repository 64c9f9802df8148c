#!/usr/bin/env python3
"""Round trips per second of the Python client on ONE connection shared by
N concurrent callers (issue 18's "Done when").

    JQ_ADDR=unix:/path/jqd.sock python3 bench/client-python.py \
        --callers 8 --seconds 5 --mode mux|v1|aio

mux: jqclient.Client (one multiplexed connection, its event-loop thread)
shared by N threads.  v1: the single-connection client of d41f24a
(client/python/jqclient.py then, taken with `git show` into a temporary
directory) shared by N threads: its lock serialises them, a request and
its reply at a time.  aio: jqclient.aio.Client shared by N asyncio tasks.
Each caller does `ping` round trips until the time is up.  Prints one
line: client=python mode=M callers=N ops=TOTAL rps=OPS_PER_S
"""

import argparse
import asyncio
import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.join(HERE, "..")
V1_COMMIT = "d41f24a"


def load_v1():
    """The v1 module of V1_COMMIT, from git, as its own module."""
    text = subprocess.run(
        ["git", "-C", TOP, "show", V1_COMMIT + ":client/python/jqclient.py"],
        check=True, capture_output=True).stdout
    d = tempfile.mkdtemp(prefix="jqclient-v1-")
    path = os.path.join(d, "jqclient_v1.py")
    with open(path, "wb") as f:
        f.write(text)
    spec = importlib.util.spec_from_file_location("jqclient_v1", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def threads(client, callers, seconds):
    counts = [0] * callers
    start = threading.Barrier(callers + 1)
    end = [0.0]

    def caller(i):
        start.wait()
        n = 0
        while time.monotonic() < end[0]:
            client.ping()
            n += 1
        counts[i] = n
    ts = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for t in ts:
        t.start()
    end[0] = time.monotonic() + seconds
    t0 = time.monotonic()
    start.wait()
    for t in ts:
        t.join()
    return sum(counts), time.monotonic() - t0


async def tasks(addr, callers, seconds):
    sys.path.insert(0, os.path.join(TOP, "client", "python"))
    import jqclient.aio
    async with jqclient.aio.Client(addr) as c:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds

        async def caller():
            n = 0
            while loop.time() < end:
                await c.ping()
                n += 1
            return n
        t0 = loop.time()
        counts = await asyncio.gather(*(caller() for _ in range(callers)))
        return sum(counts), loop.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--callers", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--mode", choices=("mux", "v1", "aio"), default="mux")
    a = ap.parse_args()
    addr = os.environ.get("JQ_ADDR")
    if a.mode == "aio":
        ops, took = asyncio.run(tasks(addr, a.callers, a.seconds))
    else:
        if a.mode == "v1":
            client = load_v1().Client(addr)
        else:
            sys.path.insert(0, os.path.join(TOP, "client", "python"))
            import jqclient
            client = jqclient.Client(addr)
        try:
            ops, took = threads(client, a.callers, a.seconds)
        finally:
            client.close()
    print("client=python mode=%s callers=%d ops=%d rps=%.0f"
          % (a.mode, a.callers, ops, ops / took))


if __name__ == "__main__":
    main()
