#!/usr/bin/env python3
"""Soak and load test for jqd (Python standard library only).

Starts one jqd (through tests/integration/jqtest.py, so JQD_WRAPPER
applies) and runs, at the same time and for --duration seconds, over
--connections client connections:

  a  buffered channels: pipelined producers (single and batch sends, some
     with timeouts) and plain consumers; every acknowledged value is
     received exactly once, in per-producer order for each consumer;
  b  unbuffered channels: rendezvous senders and receivers; a send that
     succeeded was received exactly once, a send that failed never;
  c  leased consumers: recv with lease_ms, then ack, nack, let the lease
     expire, or disconnect; at the end a drain consumer acks the rest:
     every acknowledged value is acked (ok) exactly once;
  d  selects over several buffered and unbuffered channels, mixing send
     and recv cases: every value a select sent arrives once, in the
     channel of the chosen case;
  e  jobs: a stream of short `true` / `echo` / `sh` jobs with cancels,
     idempotency keys and waits (by ids or group): every job ends final
     and its result agrees with what was asked;
  -  idle holders: connections that ping, wait on empty channels and
     vanish mid-wait, so most connections are open and parked at once.

Connections churn: actors close and reconnect, and abandon blocked
requests by half-closing (PROTOCOL 4.4: the reply of a request that
completed still arrives; one that was still blocked is not applied), which
keeps every value's fate exact.

Every few seconds it samples jqd's VmRSS and open descriptors.  At the end,
with the load stopped and every connection closed, it checks: descriptors
back to the baseline (+ FD_SLACK), RSS flat (see rss_verdict), no value
unexplained, channel and server counters consistent with what the clients
did.  It prints a summary and exits 1 on any violation, 77 if JQD is unset.

  JQD=/path/to/jqd tests/soak/soak.py --mode short
  JQD=/path/to/jqd tests/soak/soak.py --mode long --connections 2000
"""

import argparse
import asyncio
import collections
import itertools
import json
import os
import random
import resource
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import jqtest  # noqa: E402

MIB = 1024 * 1024
# RSS "flat": after warm-up, the median of the last third of the samples
# may exceed the median of the first third by at most RSS_GROWTH_PCT
# percent or RSS_GROWTH_MIB MiB, whichever is larger (README.md says why).
RSS_GROWTH_PCT = 10.0
RSS_GROWTH_MIB = 8.0
# Descriptors jqd may hold at the end beyond its idle baseline.
FD_SLACK = 2
# A reply not seen this long after its request (plus the request's own
# timeout) is a violation: jqd stopped answering.
REPLY_BOUND_S = 60.0 * float(os.environ.get("JQTEST_TIMEOUT_SCALE", "1"))

MODES = {
    "short": {"duration": 60, "connections": 500, "sample": 2.0},
    "long": {"duration": 600, "connections": 4000, "sample": 5.0},
}


class Violation(Exception):
    pass


class ServerClosed(Exception):
    """jqd closed a connection we did not ask it to close."""


# ---------------------------------------------------------------------------
# Bookkeeping shared by every actor (one event loop: no locks needed).

class Soak:
    def __init__(self, args, server):
        self.args = args
        self.server = server
        self.running = True
        self.violations = []
        self.warnings = collections.Counter()
        self.written = collections.Counter()    # op -> requests written
        self.replied = collections.Counter()    # op -> replies read
        self.opened = 0                         # connections opened
        self.open_now = 0
        self.open_peak = 0
        self.refused = 0
        self.half_closes = 0
        self.abandoned = 0                      # blocked requests abandoned
        self.ids = itertools.count(1)
        self.samples = []                       # (t, rss_kib, fds, phase)
        self.stats_samples = []                 # (t, connections, waiting)
        self.t0 = time.monotonic()
        self.load_started = None
        self.load_stopped = None

    def violation(self, msg):
        self.violations.append(msg)
        if len(self.violations) <= 30:
            print("VIOLATION: %s" % msg, file=sys.stderr, flush=True)

    def warn(self, what):
        self.warnings[what] += 1

    def elapsed(self):
        return time.monotonic() - self.t0


class LineProtocol(asyncio.Protocol):
    """Reply lines of one connection.  Not asyncio's StreamReader: that one
    raises a connection reset before returning lines it already holds,
    and a reset may follow the last replies jqd wrote (PROTOCOL 4.4:
    "treat ECONNRESET like end of file")."""

    def __init__(self):
        self.transport = None
        self.buf = bytearray()
        self.lines = collections.deque()
        self.eof = False
        self.error = None
        self.waiter = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i < 0:
                break
            self.lines.append(bytes(self.buf[start:i]))
            start = i + 1
        if start:
            del self.buf[:start]
        self._wake()

    def eof_received(self):
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc):
        self.eof = True
        if exc is not None:
            self.error = exc
        self._wake()

    def _wake(self):
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def readline(self):
        """The next line, or b"" at end of file (or reset)."""
        while not self.lines:
            if self.eof:
                return b""
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.lines.popleft()


class Conn:
    """One protocol connection: requests are matched to replies by order
    (we also check the id echo)."""

    def __init__(self, soak):
        self.soak = soak
        self.proto = None
        self.transport = None
        self.pending = collections.deque()      # (id, op)
        self.open = False

    async def connect(self):
        s = self.soak
        loop = asyncio.get_running_loop()
        if s.server.unix_path and random.random() < 0.4:
            self.transport, self.proto = await loop.create_unix_connection(
                LineProtocol, s.server.unix_path)
        else:
            self.transport, self.proto = await loop.create_connection(
                LineProtocol, s.server.host, s.server.port)
        self.open = True
        s.opened += 1
        s.open_now += 1
        s.open_peak = max(s.open_peak, s.open_now)
        return self

    def send(self, op, **fields):
        rid = next(self.soak.ids)
        frame = {"id": rid, "op": op}
        frame.update(fields)
        self.transport.write(json.dumps(frame, separators=(",", ":"))
                             .encode() + b"\n")
        self.pending.append((rid, op))
        self.soak.written[op] += 1
        return rid

    def _parse(self, line):
        try:
            r = json.loads(line)
        except ValueError:
            raise Violation("reply is not JSON: %r" % line[:200])
        if not isinstance(r, dict) or "ok" not in r:
            raise Violation("bad reply: %r" % line[:200])
        if r.get("id") is None and not r["ok"]:
            code = r["error"]["code"]
            if code == "limit":
                self.soak.refused += 1
            raise ServerClosed("unsolicited %s frame: %s" % (code, line[:200]))
        if not self.pending:
            raise Violation("reply with no request pending: %r" % line[:200])
        rid, op = self.pending.popleft()
        if r.get("id") != rid:
            raise Violation("reply id %r, expected %r (%s): %r"
                            % (r.get("id"), rid, op, line[:200]))
        self.soak.replied[op] += 1
        return r

    def _closed(self):
        return ServerClosed("connection %s by jqd with %d requests pending"
                            % ("reset (%r)" % self.proto.error
                               if self.proto.error else "closed",
                               len(self.pending)))

    async def reply(self, timeout=0.0):
        """The next reply; Violation if none within REPLY_BOUND_S + timeout
        seconds, ServerClosed at end of file."""
        try:
            line = await asyncio.wait_for(self.proto.readline(),
                                          REPLY_BOUND_S + timeout)
        except asyncio.TimeoutError:
            raise Violation("no reply to %r within %.0f s"
                            % (self.pending[0] if self.pending else None,
                               REPLY_BOUND_S + timeout))
        if not line:
            raise self._closed()
        return self._parse(line)

    async def reply_within(self, patience):
        """The next reply if it comes within patience s, else None."""
        try:
            line = await asyncio.wait_for(self.proto.readline(), patience)
        except asyncio.TimeoutError:
            return None
        if not line:
            raise self._closed()
        return self._parse(line)

    async def call(self, op, timeout=0.0, **fields):
        self.send(op, **fields)
        return await self.reply(timeout)

    async def ok(self, op, **fields):
        r = await self.call(op, **fields)
        if not r["ok"]:
            raise Violation("%s %r failed: %r" % (op, fields, r))
        return r

    async def half_close(self):
        """shutdown(SHUT_WR) and read until jqd closes: the replies of the
        requests that completed, in order (PROTOCOL 4.4).  The requests
        left pending were abandoned or dropped, never applied."""
        s = self.soak
        s.half_closes += 1
        try:
            self.transport.write_eof()
        except OSError:
            pass
        got = []
        while True:
            try:
                line = await asyncio.wait_for(self.proto.readline(),
                                              REPLY_BOUND_S)
            except asyncio.TimeoutError:
                raise Violation("jqd did not close a half-closed connection "
                                "within %.0f s" % REPLY_BOUND_S)
            if not line:
                break
            got.append(self._parse(line))
        if self.proto.error is not None:
            # Counted, not failed: see README.md (known issue).
            s.warn("half-closed connection ended by a reset")
        if self.pending:
            s.abandoned += 1
        self.pending.clear()
        await self.close()
        return got

    async def close(self):
        if not self.open:
            return
        self.open = False
        self.soak.open_now -= 1
        self.transport.close()


# ---------------------------------------------------------------------------
# Ledgers: what the clients know about each value.

class Ledger:
    """Values sent through one family of channels.  A value is a dict with
    a unique key; acked: send acknowledged; failed: send refused or
    abandoned (never applied); unknown: outcome not observable."""

    def __init__(self, name):
        self.name = name
        self.acked = {}                 # key -> chan
        self.failed = {}                # key -> why we think so
        self.unknown = {}               # key -> chan
        self.received = collections.Counter()
        self.received_in = {}           # key -> chan it came out of

    def key(self, v):
        if not isinstance(v, dict) or "k" not in v:
            raise Violation("%s: value we never sent: %r" % (self.name, v))
        return v["k"]

    def got(self, v, chan):
        k = self.key(v)
        self.received[k] += 1
        self.received_in[k] = chan

    def verify(self, soak):
        for k, n in self.received.items():
            if n > 1:
                soak.violation("%s: value %s received %d times"
                               % (self.name, k, n))
            if k in self.acked:
                if self.received_in[k] != self.acked[k]:
                    soak.violation("%s: value %s sent to %s came out of %s"
                                   % (self.name, k, self.acked[k],
                                      self.received_in[k]))
            elif k in self.failed:
                soak.violation("%s: value %s of a failed or abandoned send "
                               "was received (%s)" % (self.name, k,
                                                      self.failed[k]))
            elif k not in self.unknown:
                soak.violation("%s: value %s was never sent" % (self.name, k))
        missing = [k for k in self.acked if k not in self.received]
        if missing:
            soak.violation("%s: %d acknowledged values never received "
                           "(e.g. %s)" % (self.name, len(missing),
                                          missing[:5]))


def value(key, pad_max=0):
    v = {"k": key}
    if pad_max and random.random() < 0.2:
        v["pad"] = "x" * random.randint(0, pad_max)
    return v


class OrderCheck:
    """Per consumer actor, values of one producer come out in send order."""

    def __init__(self, soak, name):
        self.soak, self.name = soak, name
        self.last = {}

    def see(self, v):
        p, n = v["k"].rsplit("/", 1)
        n = int(n)
        if n <= self.last.get(p, -1):
            self.soak.violation("%s: %s/%d after %s/%d (out of order)"
                                % (self.name, p, n, p, self.last[p]))
        self.last[p] = n


async def reconnect(conn):
    await conn.close()
    return await Conn(conn.soak).connect()


def churn(p=0.02):
    return random.random() < p


# ---------------------------------------------------------------------------
# a: buffered channels, pipelined producers, plain consumers.

class Buffered:
    def __init__(self, soak, i):
        self.soak = soak
        self.chan = "a-%d" % i
        self.cap = random.choice([1, 4, 16, 64, 256])
        self.ledger = Ledger(self.chan)
        self.producers_done = 0
        self.nproducers = 2

    async def producer(self, j):
        s, L = self.soak, self.ledger
        me = "%s.p%d" % (self.chan, j)
        seq = itertools.count()
        conn = await Conn(s).connect()
        try:
            while s.running:
                window = random.randint(1, 8)
                batch = []             # (op frames) each a list of keys
                for _ in range(window):
                    if self.cap > 1 and random.random() < 0.2:
                        n = random.randint(1, min(self.cap, 8))
                        vals = [value("%s/%d" % (me, next(seq)), 300)
                                for _ in range(n)]
                        fields = {"values": vals}
                    else:
                        vals = [value("%s/%d" % (me, next(seq)), 2000)]
                        fields = {"value": vals[0]}
                    if random.random() < 0.3:
                        fields["timeout_ms"] = random.choice([0, 20, 200])
                    conn.send("send", chan=self.chan, **fields)
                    batch.append(([v["k"] for v in vals], fields.get(
                        "timeout_ms"), conn.pending[-1][0]))
                half = False
                if random.random() < 0.03:
                    half = True
                    # Give up on whatever blocks: half-close, collect.
                    replies = await conn.half_close()
                    conn = await Conn(s).connect()
                else:
                    replies = []
                    for _ in batch:
                        replies.append(await conn.reply(1.0))
                for (keys, t, rid), r in itertools.zip_longest(batch,
                                                               replies):
                    if r is None:
                        for k in keys:
                            L.failed[k] = ("no reply after half-close: "
                                           "request %d (timeout_ms %r) of "
                                           "%d, %d answered"
                                           % (rid, t, len(batch),
                                              len(replies)))
                    elif r["ok"]:
                        for k in keys:
                            L.acked[k] = self.chan
                    elif r["error"]["code"] == "timeout":
                        for k in keys:
                            L.failed[k] = "request %d answered %r%s" % (
                                rid, r, " (half-closed)" if half else "")
                    else:
                        raise Violation("%s send: %r" % (me, r))
                if churn(0.01):
                    conn = await reconnect(conn)
        finally:
            self.producers_done += 1
            await conn.close()

    def drained(self):
        L = self.ledger
        return (self.producers_done == self.nproducers
                and sum(L.received.values()) >= len(L.acked))

    async def consumer(self, j):
        s, L = self.soak, self.ledger
        order = OrderCheck(s, "%s.c%d" % (self.chan, j))
        conn = await Conn(s).connect()
        drain_deadline = None
        try:
            while True:
                if not s.running:
                    if self.drained():
                        break
                    if drain_deadline is None:
                        drain_deadline = time.monotonic() + 60
                    elif time.monotonic() > drain_deadline:
                        raise Violation("%s: values still missing 60 s after "
                                        "the load stopped" % self.chan)
                fields = {"chan": self.chan,
                          "timeout_ms": random.choice([50, 200, 1000])}
                if random.random() < 0.3:
                    fields["max"] = random.randint(1, 32)
                conn.send("recv", **fields)
                if s.running and random.random() < 0.03:
                    r = await conn.reply_within(random.uniform(0, 0.05))
                    if r is None:
                        got = await conn.half_close()
                        conn = await Conn(s).connect()
                        if not got:
                            continue
                        r = got[0]
                else:
                    r = await conn.reply(fields["timeout_ms"] / 1000)
                if not r["ok"]:
                    if r["error"]["code"] != "timeout":
                        raise Violation("%s recv: %r" % (self.chan, r))
                    continue
                if r.get("closed"):
                    raise Violation("%s: closed?! %r" % (self.chan, r))
                vals = r["values"] if "max" in fields else [r["value"]]
                for v in vals:
                    L.got(v, self.chan)
                    order.see(v)
                if churn(0.01):
                    conn = await reconnect(conn)
        finally:
            await conn.close()

    def actors(self):
        return ([self.producer(j) for j in range(self.nproducers)]
                + [self.consumer(j) for j in range(2)])


# ---------------------------------------------------------------------------
# b: unbuffered channels, rendezvous.

class Unbuffered:
    def __init__(self, soak, i):
        self.soak = soak
        self.chan = "b-%d" % i
        self.ledger = Ledger(self.chan)
        self.senders_done = 0

    async def sender(self, j):
        s, L = self.soak, self.ledger
        me = "%s.s%d" % (self.chan, j)
        conn = await Conn(s).connect()
        try:
            for n in itertools.count():
                if not s.running:
                    break
                v = value("%s/%d" % (me, n), 500)
                k = v["k"]
                how = random.random()
                if how < 0.8:
                    t = random.choice([0, 10, 100, 1000])
                    r = await conn.call("send", timeout=t / 1000,
                                        chan=self.chan, value=v, timeout_ms=t)
                elif how < 0.95:
                    # No timeout; abandon by half-close if it blocks long.
                    conn.send("send", chan=self.chan, value=v)
                    r = await conn.reply_within(random.uniform(0.01, 0.5))
                    if r is None:
                        got = await conn.half_close()
                        conn = await Conn(s).connect()
                        r = got[0] if got else None
                else:
                    # Vanish while blocked: the outcome is not observable.
                    conn.send("send", chan=self.chan, value=v)
                    r = await conn.reply_within(random.uniform(0.01, 0.3))
                    if r is None:
                        L.unknown[k] = self.chan
                        conn.pending.clear()
                        s.abandoned += 1
                        conn = await reconnect(conn)
                        continue
                if r is None or (not r["ok"]
                                 and r["error"]["code"] == "timeout"):
                    L.failed[k] = ("no reply after half-close" if r is None
                                   else "answered %r" % r)
                elif r["ok"]:
                    L.acked[k] = self.chan
                else:
                    raise Violation("%s send: %r" % (me, r))
                if churn():
                    conn = await reconnect(conn)
        finally:
            self.senders_done += 1
            await conn.close()

    async def receiver(self, j):
        s, L = self.soak, self.ledger
        order = OrderCheck(s, "%s.r%d" % (self.chan, j))
        conn = await Conn(s).connect()
        try:
            while s.running or self.senders_done < 2:
                fields = {"chan": self.chan,
                          "timeout_ms": random.choice([0, 50, 500])}
                if random.random() < 0.3:
                    fields["max"] = random.randint(1, 4)
                conn.send("recv", **fields)
                if random.random() < 0.05:
                    r = await conn.reply_within(random.uniform(0, 0.05))
                    if r is None:
                        got = await conn.half_close()
                        conn = await Conn(s).connect()
                        if not got:
                            continue
                        r = got[0]
                else:
                    r = await conn.reply(fields["timeout_ms"] / 1000)
                if not r["ok"]:
                    if r["error"]["code"] != "timeout":
                        raise Violation("%s recv: %r" % (self.chan, r))
                    continue
                vals = r["values"] if "max" in fields else [r["value"]]
                for v in vals:
                    L.got(v, self.chan)
                    order.see(v)
                if churn():
                    conn = await reconnect(conn)
        finally:
            await conn.close()

    def actors(self):
        return ([self.sender(j) for j in range(2)]
                + [self.receiver(j) for j in range(2)])


# ---------------------------------------------------------------------------
# c: leased consumers.

class Leased:
    def __init__(self, soak, i):
        self.soak = soak
        self.chan = "c-%d" % i
        self.cap = random.choice([8, 32, 128])
        self.acked = {}                 # key -> True (send acknowledged)
        self.failed = set()
        self.ack_ok = collections.Counter()
        self.redelivered = collections.defaultdict(list)
        self.deliveries = 0
        self.actions = collections.Counter()

    async def producer(self):
        s = self.soak
        me = "%s.p" % self.chan
        seq = itertools.count()
        conn = await Conn(s).connect()
        try:
            while s.running:
                keys = []
                for _ in range(random.randint(1, 4)):
                    v = value("%s/%d" % (me, next(seq)), 1000)
                    conn.send("send", chan=self.chan, value=v, timeout_ms=500)
                    keys.append(v["k"])
                for k in keys:
                    r = await conn.reply(0.5)
                    if r["ok"]:
                        self.acked[k] = True
                    elif r["error"]["code"] == "timeout":
                        self.failed.add(k)
                    else:
                        raise Violation("%s send: %r" % (me, r))
                if churn(0.01):
                    conn = await reconnect(conn)
        finally:
            await conn.close()

    def delivered(self, v, redelivered):
        k = v["k"] if isinstance(v, dict) else None
        if k is None or (k not in self.acked and k not in self.failed
                         and not k.startswith(self.chan + ".")):
            raise Violation("%s: leased a value never sent: %r"
                            % (self.chan, v))
        if k in self.failed:
            self.soak.violation("%s: value %s of a failed send delivered"
                                % (self.chan, k))
        if self.ack_ok[k]:
            self.soak.violation("%s: value %s delivered again after its "
                                "ack succeeded" % (self.chan, k))
        self.deliveries += 1
        self.redelivered[k].append(redelivered or 0)
        return k

    async def ack(self, conn, lease, k, t_asked, lease_ms, op="ack"):
        r = await conn.call(op, chan=self.chan, lease=lease)
        if r["ok"]:
            if op == "ack":
                self.ack_ok[k] += 1
            return True
        if r["error"]["code"] != "not_found":
            raise Violation("%s %s: %r" % (self.chan, op, r))
        # The lease timer started after we asked and the ack ran before
        # its reply: if that span is under lease_ms the lease was live.
        if (time.monotonic() - t_asked) * 1000 < lease_ms:
            self.soak.violation("%s: %s of a live lease (%.0f ms < %d ms) "
                                "answered not_found" % (
                                    self.chan, op,
                                    (time.monotonic() - t_asked) * 1000,
                                    lease_ms))
        return False

    async def consumer(self, j):
        s = self.soak
        conn = await Conn(s).connect()
        try:
            while s.running:
                lease_ms = random.choice([200, 500, 2000])
                fields = {"chan": self.chan, "lease_ms": lease_ms,
                          "timeout_ms": 200}
                multi = random.random() < 0.3
                if multi:
                    fields["max"] = random.randint(1, 8)
                t_asked = time.monotonic()
                r = await conn.call("recv", timeout=0.2, **fields)
                if not r["ok"]:
                    if r["error"]["code"] != "timeout":
                        raise Violation("%s recv: %r" % (self.chan, r))
                    continue
                if multi:
                    rd = r.get("redelivered") or [0] * len(r["values"])
                    got = list(zip(r["values"], r["leases"], rd))
                else:
                    got = [(r["value"], r["lease"], r.get("redelivered"))]
                keys = [(self.delivered(v, n), lease) for v, lease, n in got]
                action = random.choices(
                    ["ack", "nack", "expire", "disconnect", "late"],
                    [60, 15, 10, 10, 5])[0]
                self.actions[action] += 1
                if action in ("ack", "nack"):
                    for k, lease in keys:
                        await self.ack(conn, lease, k, t_asked, lease_ms,
                                       action)
                elif action == "disconnect":
                    conn = await reconnect(conn)
                elif action == "late":
                    await asyncio.sleep(lease_ms / 1000 + 0.3)
                    for k, lease in keys:
                        r = await conn.call("ack", chan=self.chan,
                                            lease=lease)
                        if r["ok"]:
                            # Accepted after lease_ms: the expiry timer
                            # had not run yet.  Still counted.
                            s.warn("ack after lease_ms accepted")
                            self.ack_ok[k] += 1
                if churn():
                    conn = await reconnect(conn)
        finally:
            await conn.close()

    async def drain(self):
        """After the load: a consumer that acks everything, until the
        channel is empty and nothing is out on lease."""
        s = self.soak
        conn = await Conn(s).connect()
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                t_asked = time.monotonic()
                r = await conn.call("recv", timeout=0.5, chan=self.chan,
                                    lease_ms=60000, max=64, timeout_ms=500)
                if r["ok"]:
                    rd = r.get("redelivered") or [0] * len(r["values"])
                    for v, lease, n in zip(r["values"], r["leases"], rd):
                        k = self.delivered(v, n)
                        await self.ack(conn, lease, k, t_asked, 60000)
                    continue
                if r["error"]["code"] != "timeout":
                    raise Violation("%s drain: %r" % (self.chan, r))
                st = await conn.ok("stat", chan=self.chan)
                if st["len"] == 0 and st["leased"] == 0:
                    return
            s.violation("%s: not drained within 60 s" % self.chan)
        finally:
            await conn.close()

    def verify(self):
        s = self.soak
        for k, n in self.ack_ok.items():
            if n != 1:
                s.violation("%s: value %s acked %d times" % (self.chan, k, n))
            if k not in self.acked:
                s.violation("%s: acked value %s was never acknowledged as "
                            "sent" % (self.chan, k))
        missing = [k for k in self.acked if not self.ack_ok[k]]
        if missing:
            s.violation("%s: %d sent values never acked (e.g. %s)"
                        % (self.chan, len(missing), missing[:5]))
        for k, seen in self.redelivered.items():
            if sorted(seen) != list(range(len(seen))):
                s.violation("%s: value %s delivered with redelivered %r"
                            % (self.chan, k, seen))

    def actors(self):
        return [self.producer()] + [self.consumer(j) for j in range(3)]


# ---------------------------------------------------------------------------
# d: selects.

class Selects:
    def __init__(self, soak, i):
        self.soak = soak
        self.chans = ["d-%d-0" % i, "d-%d-1" % i, "d-%d-u" % i]
        self.caps = [4, 1, 0]
        self.ledger = Ledger("d-%d" % i)
        self.outcomes = collections.Counter()

    async def selector(self, j, mixed):
        s, L = self.soak, self.ledger
        me = "d.%s.x%d" % (self.chans[0], j)
        seq = itertools.count()
        conn = await Conn(s).connect()
        try:
            while s.running:
                cases = []
                for c in self.chans:
                    if mixed and random.random() < 0.6:
                        cases.append({"send": c,
                                      "value": value("%s/%d" % (me, next(seq)),
                                                     200)})
                    if random.random() < (0.3 if mixed else 0.8):
                        cases.append({"recv": c})
                if not cases:
                    cases.append({"recv": random.choice(self.chans)})
                random.shuffle(cases)
                t = random.choice([0, 20, 200, 1000])
                conn.send("select", cases=cases, timeout_ms=t)
                if random.random() < 0.03:
                    r = await conn.reply_within(random.uniform(0, 0.05))
                    if r is None:
                        got = await conn.half_close()
                        conn = await Conn(s).connect()
                        r = got[0] if got else None
                else:
                    r = await conn.reply(t / 1000)
                sends = [c for c in cases if "send" in c]
                if r is None or not r["ok"]:
                    if r is not None and r["error"]["code"] != "timeout":
                        raise Violation("%s select: %r" % (me, r))
                    self.outcomes["timeout" if r else "abandoned"] += 1
                    for c in sends:
                        L.failed[c["value"]["k"]] = (
                            "select answered %r" % r if r
                            else "select: no reply after half-close")
                    continue
                chosen = cases[r["index"]]
                for c in sends:
                    if c is chosen:
                        L.acked[c["value"]["k"]] = c["send"]
                    else:
                        L.failed[c["value"]["k"]] = "case not chosen: %r" % r
                if "recv" in chosen:
                    if r.get("closed") or "value" not in r:
                        raise Violation("%s select recv: %r" % (me, r))
                    L.got(r["value"], chosen["recv"])
                    self.outcomes["recv"] += 1
                else:
                    self.outcomes["send"] += 1
                if churn():
                    conn = await reconnect(conn)
        finally:
            await conn.close()

    async def drain(self):
        conn = await Conn(self.soak).connect()
        try:
            for c, cap in zip(self.chans, self.caps):
                if cap == 0:
                    continue
                while True:
                    r = await conn.call("recv", chan=c, max=100, timeout_ms=0)
                    if not r["ok"]:
                        if r["error"]["code"] != "timeout":
                            raise Violation("%s drain: %r" % (c, r))
                        break
                    for v in r["values"]:
                        self.ledger.got(v, c)
        finally:
            await conn.close()

    def actors(self):
        return ([self.selector(j, True) for j in range(2)]
                + [self.selector(j + 2, False) for j in range(2)])


# ---------------------------------------------------------------------------
# e: jobs.

FINAL = ("succeeded", "failed", "deadline_exceeded", "canceled")


class Jobs:
    def __init__(self, soak):
        self.soak = soak
        self.submitted = 0
        self.duplicates = 0
        self.finals = collections.Counter()
        self.cancels = collections.Counter()
        self.waits = collections.Counter()

    def check_result(self, res, want):
        s = self.soak
        jid = res["job"]
        kind, token, canceled = want
        st = res["state"]
        self.finals[st] += 1
        if st not in FINAL:
            s.violation("job %d: wait answered state %s" % (jid, st))
            return
        if canceled == 1:
            if st != "canceled":
                s.violation("job %d: cancel counted it but it ended %s"
                            % (jid, st))
            return
        if st != "succeeded" or res["exit_code"] != 0:
            s.violation("job %d (%s): ended %s exit %r error %r (cancel %r)"
                        % (jid, kind, st, res["exit_code"], res["error"],
                           canceled))
            return
        expect = {"true": "", "echo": token + "\n",
                  "id": "%d\n" % jid}[kind]
        if res.get("stdout") != expect:
            s.violation("job %d (%s): stdout %r, expected %r"
                        % (jid, kind, res.get("stdout"), expect))

    async def actor(self, a):
        s = self.soak
        conn = await Conn(s).connect()
        try:
            for batch in itertools.count():
                if not s.running:
                    break
                group = "j%d-%d" % (a, batch)
                want = {}
                order = []
                for i in range(random.randint(1, 6)):
                    kind = random.choice(["true", "echo", "echo", "id"])
                    token = "t%d.%d.%d" % (a, batch, i)
                    argv = {"true": ["true"], "echo": ["echo", token],
                            "id": ["sh", "-c", "echo $JQ_JOB_ID"]}[kind]
                    fields = {"argv": argv, "group": group}
                    if random.random() < 0.2:
                        fields["key"] = token
                    conn.send("submit", **fields)
                    order.append((kind, token, fields))
                ids = []
                for kind, token, fields in order:
                    r = await conn.reply()
                    if not r["ok"]:
                        raise Violation("submit: %r" % r)
                    self.submitted += 1
                    want[r["job"]] = [kind, token, None]
                    ids.append(r["job"])
                # Submitting a key again answers the first job's id.
                for (kind, token, fields), jid in zip(order, ids):
                    r = {"job": jid}
                    if "key" in fields:
                        d = await conn.ok("submit", **fields)
                        self.duplicates += 1
                        if (d.get("duplicate") is not True
                                or d["job"] != r["job"]):
                            s.violation("submit with key %s again: %r, first "
                                        "job %d" % (fields["key"], d,
                                                    r["job"]))
                for jid in ids:
                    if random.random() < 0.25:
                        c = await conn.ok("cancel", job=jid)
                        want[jid][2] = c["canceled"]
                        self.cancels[c["canceled"]] += 1
                        if c["canceled"] not in (0, 1):
                            s.violation("cancel job %d: %r" % (jid, c))
                by_group = random.random() < 0.3
                deadline = time.monotonic() + 120
                while True:
                    fields = ({"group": group} if by_group
                              else {"jobs": random.sample(ids, len(ids))})
                    r = await conn.call("wait", timeout=2, timeout_ms=2000,
                                        **fields)
                    if r["ok"]:
                        break
                    if r["error"]["code"] != "timeout":
                        raise Violation("wait %r: %r" % (fields, r))
                    self.waits["timeout"] += 1
                    if time.monotonic() > deadline:
                        raise Violation("jobs %r not final after 120 s" % ids)
                self.waits["group" if by_group else "ids"] += 1
                got = [res["job"] for res in r["results"]]
                if got != sorted(ids):
                    s.violation("wait %s: results for %r, expected %r"
                                % ("group" if by_group else "ids", got,
                                   sorted(ids)))
                for res in r["results"]:
                    if res["job"] in want:
                        self.check_result(res, want[res["job"]])
                if churn(0.05):
                    conn = await reconnect(conn)
        finally:
            await conn.close()


# ---------------------------------------------------------------------------
# Idle holders, monitor, sampler.

async def idle_holder(soak, i):
    """Hold a connection: hello, then pings and recvs that time out on an
    empty channel; now and then vanish mid-wait and come back."""
    conn = await Conn(soak).connect()
    chan = "idle-%d" % (i % 16)
    try:
        await conn.ok("hello")
        while soak.running:
            if random.random() < 0.5:
                await asyncio.sleep(random.uniform(0.5, 3))
                if not soak.running:
                    break
                await conn.ok("ping")
            else:
                t = random.choice([200, 1000, 3000])
                conn.send("recv", chan=chan, timeout_ms=t)
                if random.random() < 0.1:
                    await asyncio.sleep(random.uniform(0, t / 1000))
                    conn.pending.clear()
                    soak.abandoned += 1
                    conn = await reconnect(conn)
                    continue
                r = await conn.reply(t / 1000)
                if r["ok"] or r["error"]["code"] != "timeout":
                    raise Violation("recv on empty %s: %r" % (chan, r))
            if churn(0.05):
                conn = await reconnect(conn)
    finally:
        await conn.close()


async def monitor(soak):
    conn = await Conn(soak).connect()
    try:
        while soak.running:
            st = await conn.ok("stats")
            soak.stats_samples.append((soak.elapsed(), st["connections"],
                                       st["waiting"]))
            await asyncio.sleep(soak.args.sample)
    finally:
        await conn.close()


def proc_fds(pid):
    """fd number -> what it points to."""
    out = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            out[int(fd)] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            pass
    return out


def proc_sample(pid):
    with open("/proc/%d/status" % pid) as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    fds = len(os.listdir("/proc/%d/fd" % pid))
    return rss, fds


async def sampler(soak, stop):
    pid = soak.server.proc.pid
    while not stop.is_set():
        if soak.load_started is None:
            phase = "idle"
        elif soak.load_stopped is None:
            phase = "load"
        else:
            phase = "drain"
        try:
            rss, fds = proc_sample(pid)
        except (OSError, StopIteration):
            soak.violation("jqd (pid %d) is gone" % pid)
            soak.running = False
            return
        soak.samples.append((soak.elapsed(), rss, fds, phase))
        try:
            await asyncio.wait_for(stop.wait(), soak.args.sample)
        except asyncio.TimeoutError:
            pass


def rss_verdict(samples, warmup_s, t_load):
    """(ok, text): the load-phase samples after warm-up, in thirds."""
    rss = [r for t, r, _, phase in samples
           if phase == "load" and t >= t_load + warmup_s]
    if len(rss) < 6:
        return True, "too few samples after warm-up (%d) to judge" % len(rss)
    third = len(rss) // 3
    first = statistics.median(rss[:third])
    last = statistics.median(rss[-third:])
    allowed = max(first * RSS_GROWTH_PCT / 100, RSS_GROWTH_MIB * 1024)
    growth = last - first
    return growth <= allowed, (
        "first third median %.1f MiB, last third median %.1f MiB, growth "
        "%+.1f MiB (allowed %.1f MiB = max(%g%%, %g MiB))"
        % (first / 1024, last / 1024, growth / 1024, allowed / 1024,
           RSS_GROWTH_PCT, RSS_GROWTH_MIB))


# ---------------------------------------------------------------------------

async def guarded(soak, coro, name):
    try:
        await coro
    except Violation as e:
        soak.violation("%s: %s" % (name, e))
    except ServerClosed as e:
        soak.violation("%s: %s" % (name, e))
    except OSError as e:
        soak.violation("%s: %r" % (name, e))
    except Exception as e:  # a reply of an unexpected shape, a bug here
        import traceback
        soak.violation("%s: %r\n%s" % (name, e, traceback.format_exc()))


async def staggered(soak, coro, delay):
    await asyncio.sleep(delay)
    await coro


async def run(soak):
    args = soak.args
    n = args.connections
    stop_sampling = asyncio.Event()
    sampling = asyncio.create_task(sampler(soak, stop_sampling))
    await asyncio.sleep(min(args.sample * 1.5, 3))   # idle baseline samples
    base_rss, base_fds = proc_sample(soak.server.proc.pid)
    base_fd_map = proc_fds(soak.server.proc.pid)

    setup = await Conn(soak).connect()
    fam_a = [Buffered(soak, i) for i in range(max(1, int(n * 0.30) // 4))]
    fam_b = [Unbuffered(soak, i) for i in range(max(1, int(n * 0.12) // 4))]
    fam_c = [Leased(soak, i) for i in range(max(1, int(n * 0.12) // 4))]
    fam_d = [Selects(soak, i) for i in range(max(1, int(n * 0.08) // 4))]
    jobs = Jobs(soak)
    n_jobs = max(2, min(int(n * 0.02), 40))
    for f in fam_a + fam_c:
        await setup.ok("make", chan=f.chan, cap=f.cap)
    for f in fam_b:
        await setup.ok("make", chan=f.chan, cap=0)
    for f in fam_d:
        for c, cap in zip(f.chans, f.caps):
            await setup.ok("make", chan=c, cap=cap)
    for i in range(16):
        await setup.ok("make", chan="idle-%d" % i, cap=random.choice([0, 4]))
    await setup.close()

    actors = []
    for f in fam_a + fam_b + fam_c + fam_d:
        for a in f.actors():
            actors.append((f.__class__.__name__, a))
    for a in range(n_jobs):
        actors.append(("Jobs", jobs.actor(a)))
    actors.append(("monitor", monitor(soak)))
    n_idle = max(0, n - len(actors))
    for i in range(n_idle):
        actors.append(("idle", idle_holder(soak, i)))
    ramp = min(10.0, args.duration * 0.1)
    print("soak: %d connections: %d buffered channels, %d unbuffered, %d "
          "leased, %d select groups, %d job actors, %d idle holders; ramp "
          "%.0f s, load %d s" % (len(actors), len(fam_a), len(fam_b),
                                 len(fam_c), len(fam_d), n_jobs, n_idle,
                                 ramp, args.duration), flush=True)

    soak.load_started = soak.elapsed()
    tasks = [asyncio.create_task(guarded(
        soak, staggered(soak, coro, random.uniform(0, ramp)), name))
        for name, coro in actors]
    t_end = time.monotonic() + args.duration
    while time.monotonic() < t_end:
        await asyncio.sleep(min(5, max(0, t_end - time.monotonic())))
        print("  t=%4.0fs open=%d peak=%d rss=%.1fMiB fds=%d violations=%d"
              % (soak.elapsed() - soak.load_started, soak.open_now,
                 soak.open_peak, soak.samples[-1][1] / 1024,
                 soak.samples[-1][2], len(soak.violations)), flush=True)
    soak.running = False
    soak.load_stopped = soak.elapsed()
    print("soak: load stopped; draining", flush=True)
    names = {t: name for t, (name, _) in zip(tasks, actors)}
    pending = set(tasks)
    t_stop = time.monotonic()
    while pending and time.monotonic() - t_stop < 180:
        done, pending = await asyncio.wait(pending, timeout=5)
        if pending:
            print("  %.0f s after the stop, still running: %s" % (
                time.monotonic() - t_stop,
                dict(collections.Counter(names[t] for t in pending))),
                flush=True)
    if pending:
        soak.violation("%d actors still running 180 s after the load "
                       "stopped" % len(pending))
        for t in pending:
            t.cancel()
    t_drain = time.monotonic()
    await asyncio.gather(
        *[guarded(soak, f.drain(), f.chan + " drain") for f in fam_c],
        *[guarded(soak, f.drain(), f.chans[0] + " drain") for f in fam_d])
    print("soak: actors done %.1f s after the stop, drains %.1f s more"
          % (t_drain - t_stop, time.monotonic() - t_drain), flush=True)

    # -- verification ------------------------------------------------------
    for f in fam_a + fam_b + fam_d:
        f.ledger.verify(soak)
    for f in fam_c:
        f.verify()
    checker = await Conn(soak).connect()
    chan_sent = {}
    for f in fam_a:
        chan_sent[f.chan] = (len(f.ledger.acked),
                             sum(f.ledger.received.values()))
    for f in fam_b:
        chan_sent[f.chan] = (len(f.ledger.acked) + sum(
            1 for k in f.ledger.unknown if k in f.ledger.received),
            sum(f.ledger.received.values()))
    for f in fam_c:
        chan_sent[f.chan] = (len(f.acked), f.deliveries)
    for c, (sent, received) in sorted(chan_sent.items()):
        st = await checker.ok("stat", chan=c)
        if (st["sent"], st["received"]) != (sent, received):
            soak.violation("stat %s: sent/received %d/%d, clients saw %d/%d"
                           % (c, st["sent"], st["received"], sent, received))
        if st["len"] or st["leased"] or st["senders_waiting"] \
                or st["receivers_waiting"]:
            soak.violation("stat %s not idle at the end: %r" % (c, st))
    for f in fam_d:
        sent = collections.Counter(f.ledger.acked.values())
        got = collections.Counter(f.ledger.received_in.values())
        for c in f.chans:
            st = await checker.ok("stat", chan=c)
            if (st["sent"], st["received"]) != (sent[c], got[c]):
                soak.violation("stat %s: sent/received %d/%d, clients saw "
                               "%d/%d" % (c, st["sent"], st["received"],
                                          sent[c], got[c]))
    # Every other connection closed: jqd sees it soon.
    deadline = time.monotonic() + 30
    while True:
        st = await checker.ok("stats")
        if st["connections"] == 1 and st["waiting"] == 0 \
                and st["jobs"]["queued"] == 0 and st["jobs"]["running"] == 0:
            break
        if time.monotonic() > deadline:
            soak.violation("stats not idle 30 s after the end: %r" % st)
            break
        await asyncio.sleep(0.2)
    final_stats = st
    if st["buffered_values"] != 0 or st["buffered_bytes"] != 0:
        soak.violation("stats: %d values (%d bytes) still buffered"
                       % (st["buffered_values"], st["buffered_bytes"]))
    if st["workers"]["busy"] != 0:
        soak.violation("stats: workers busy at the end: %r" % st["workers"])
    for op in sorted(set(soak.written) | set(st["ops"])):
        got = st["ops"].get(op, 0)
        lo, hi = soak.replied[op], soak.written[op]
        if not lo <= got <= hi:
            soak.violation("stats ops.%s = %d, clients had %d replies of %d "
                           "requests" % (op, got, lo, hi))
    if st["connections_total"] != soak.opened:
        soak.violation("stats connections_total %d, clients opened %d"
                       % (st["connections_total"], soak.opened))
    if st["store"]["failures"]:
        soak.violation("store failures: %r" % st["store"])
    await checker.close()

    # Descriptors back to the baseline once jqd has seen the last close.
    deadline = time.monotonic() + 30
    while True:
        end_rss, end_fds = proc_sample(soak.server.proc.pid)
        if end_fds <= base_fds or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    end_fd_map = proc_fds(soak.server.proc.pid)
    stop_sampling.set()
    await sampling
    soak.samples.append((soak.elapsed(), end_rss, end_fds, "end"))
    if end_fds > base_fds + FD_SLACK:
        soak.violation("jqd holds %d descriptors at the end, %d at the "
                       "start (slack %d)" % (end_fds, base_fds, FD_SLACK))
    warmup = max(ramp + 5, args.duration * 0.2)
    if jqtest.under_tsan(soak.server.proc.pid):
        # ThreadSanitizer's shadow memory multiplies each heap byte: the
        # plateau of 5000 finished jobs is four times higher (67 MiB) and,
        # with jqd that much slower, reached later, so the first third of
        # the samples may still be climbing.  The plain and ASan runs of
        # this test judge RSS; a TSan run looks for races.
        rss_ok, rss_text = True, "not judged under ThreadSanitizer"
    else:
        rss_ok, rss_text = rss_verdict(soak.samples, warmup,
                                       soak.load_started)
    if not rss_ok:
        soak.violation("RSS not flat: " + rss_text)

    # -- summary ------------------------------------------------------------
    moved = {
        "a buffered": sum(sum(f.ledger.received.values()) for f in fam_a),
        "b unbuffered": sum(sum(f.ledger.received.values()) for f in fam_b),
        "c leased (acked)": sum(sum(f.ack_ok.values()) for f in fam_c),
        "d select": sum(sum(f.ledger.received.values()) for f in fam_d),
    }
    lease_actions = collections.Counter()
    for f in fam_c:
        lease_actions.update(f.actions)
    sel = collections.Counter()
    for f in fam_d:
        sel.update(f.outcomes)
    print()
    print("=== soak summary (%s mode, %d s load, %d connections asked) ==="
          % (args.mode, args.duration, args.connections))
    print("connections: peak held %d (jqd stats peak %d), opened %d in all, "
          "half-closes %d, blocked requests abandoned %d, refused %d"
          % (soak.open_peak, max([c for _, c, _ in soak.stats_samples] or [0]),
             soak.opened, soak.half_closes, soak.abandoned, soak.refused))
    print("peak parked requests (stats.waiting): %d"
          % max([w for _, _, w in soak.stats_samples] or [0]))
    total = sum(moved.values())
    print("values moved: %d (%s)" % (total, ", ".join(
        "%s %d" % kv for kv in moved.items())))
    print("lease actions: %s; late acks accepted: %d" % (
        dict(lease_actions), soak.warnings["ack after lease_ms accepted"]))
    print("select outcomes: %s" % dict(sel))
    print("jobs: %d submitted (+%d duplicate submits), finals %s, cancels "
          "%s, waits %s" % (jobs.submitted, jobs.duplicates,
                            dict(jobs.finals), dict(jobs.cancels),
                            dict(jobs.waits)))
    print("requests: %d written, %d answered; jqd ops %s"
          % (sum(soak.written.values()), sum(soak.replied.values()),
             json.dumps(final_stats["ops"], sort_keys=True)))
    print("store: %s" % json.dumps(final_stats["store"], sort_keys=True))
    print("fds: baseline %d, end %d, peak %d; RSS: baseline %.1f MiB, end "
          "%.1f MiB, peak %.1f MiB" % (
              base_fds, end_fds, max(f for _, _, f, _ in soak.samples),
              base_rss / 1024, end_rss / 1024,
              max(r for _, r, _, _ in soak.samples) / 1024))
    print("RSS flat: %s: %s" % ("yes" if rss_ok else "NO", rss_text))
    print("samples (t s, phase, RSS MiB, fds):")
    for t, rss, fds, phase in soak.samples:
        print("  %7.1f %-5s %7.1f %5d" % (t, phase, rss / 1024, fds))
    extra = {fd: t for fd, t in end_fd_map.items()
             if base_fd_map.get(fd) != t}
    if extra:
        print("descriptors at the end not in the baseline: %s" % extra)
    if soak.warnings:
        print("warnings: %s" % dict(soak.warnings))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=sorted(MODES), default="short")
    p.add_argument("--duration", type=float)
    p.add_argument("--connections", type=int)
    p.add_argument("--sample", type=float, help="seconds between samples")
    p.add_argument("--seed", type=int)
    p.add_argument("--jqd-arg", action="append", default=[],
                   help="extra jqd argument (repeatable)")
    args = p.parse_args()
    for k, v in MODES[args.mode].items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if not os.environ.get("JQD"):
        print("JQD is not set; skipping", file=sys.stderr)
        return 77
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    random.seed(seed)
    # Descriptors: ours (one per connection) and jqd's, which inherits the
    # raised limit.
    want = args.connections * 2 + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < args.connections + 256:
            print("RLIMIT_NOFILE hard limit %d is too low for %d connections"
                  % (hard, args.connections), file=sys.stderr)
            return 1
    maxconn = args.connections + max(256, args.connections // 5)
    # At most 5000 finished jobs (about 6 MiB): RSS flat however fast the
    # machine runs jobs (README.md, RSS "flat").
    server = jqtest.Server("--max-connections", maxconn,
                           "--job-retention", "30s",
                           "--max-retained-jobs", "5000", *args.jqd_arg)
    server.start()
    print("soak: seed %d, jqd pid %d, max-connections %d"
          % (seed, server.proc.pid, maxconn), flush=True)
    soak = Soak(args, server)
    try:
        asyncio.run(run(soak))
    finally:
        server.stop()
    for problem in server.problems():
        soak.violation("jqd: " + problem)
    if soak.violations:
        print("\nFAIL: %d violations" % len(soak.violations))
        for v in soak.violations[:50]:
            print("  " + v)
        return 1
    print("\nPASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
