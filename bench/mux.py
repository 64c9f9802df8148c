#!/usr/bin/env python3
"""Multiplexed connections: memory per blocked request and ping latency
behind them (issue 14; PROTOCOL.md 4.7).

    JQD=./jqd python3 bench/mux.py [--blocked 10000] [--pings 5000]

Starts a private jqd (tests/integration/jqtest.Server, --max-pending above
--blocked), parks --blocked recvs on one multiplexed connection, and
reports jqd's RSS before and after (per blocked request), then the
round-trip time of --pings pings, one at a time, on that connection and,
for comparison, on the same connection with nothing blocked.  The RTT is
seen by the client; the server's own share is the difference to the
baseline (the ping's server work does not touch the parked calls)."""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from jqtest import Client, Server, rss_kib, wait_until  # noqa: E402


def pings(c, n):
    out = []
    for i in range(n):
        t = time.perf_counter()
        c.send_frame({"id": "p%d" % i, "op": "ping"})
        r = c.read_reply()
        out.append(time.perf_counter() - t)
        assert r == {"id": "p%d" % i, "ok": True}, r
    out.sort()
    return out


def report(what, rtt):
    print("%-32s median %7.1f us   p99 %7.1f us   (n=%d)" % (
        what, statistics.median(rtt) * 1e6,
        rtt[int(len(rtt) * 0.99) - 1] * 1e6, len(rtt)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocked", type=int, default=10000)
    ap.add_argument("--pings", type=int, default=5000)
    args = ap.parse_args()
    with Server("--max-pending", str(args.blocked + 10)) as srv:
        ctl = Client(srv)
        ctl.ok("make", chan="idle")
        c = Client(srv)
        c.send_frame({"id": "h", "op": "hello", "multiplex": True})
        assert c.read_reply()["multiplex"] is True
        base = pings(c, args.pings)
        before = rss_kib(srv.proc.pid)
        c.send_raw(b"".join(c.encode({"id": i, "op": "recv", "chan": "idle"})
                            for i in range(args.blocked)))
        wait_until(lambda: ctl.ok("stats")["waiting"] == args.blocked,
                   timeout=120)
        after = rss_kib(srv.proc.pid)
        print("jqd RSS: %d KiB before, %d KiB with %d blocked recvs: "
              "%.0f bytes per blocked request" % (
                  before, after, args.blocked,
                  (after - before) * 1024.0 / args.blocked))
        behind = pings(c, args.pings)
        report("ping, nothing blocked", base)
        report("ping behind %d blocked" % args.blocked, behind)
        print("server share (median difference): %.1f us" % (
            (statistics.median(behind) - statistics.median(base)) * 1e6))
        c.close()
        ctl.close()


if __name__ == "__main__":
    main()
