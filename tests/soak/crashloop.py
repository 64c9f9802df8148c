#!/usr/bin/env python3
"""Crash loop for jqd: kill -9 at random moments, restart, check.

Each cycle starts jqd on the same database, checks what the previous jqd
acknowledged before it was killed, runs a mixed workload for a random
0.2-2 s, and kills jqd with SIGKILL in the middle of it:

  - pipelined senders (single values and batches) on two buffered
    channels, one large and one small enough that senders block;
  - a leased consumer per channel, acking (and sometimes nacking or
    leaving) what it gets;
  - submits of short jobs (`true`, `echo`), each with an idempotency key;
  - channel metadata: a new channel per cycle, closed in some cycles,
    an older one dropped in others;
  - protocol 1.1 (channels cl-named, cl-dl-src, cl-dl, tracked apart):
    keyed sends (a key per send or batch) to cl-named, consumed by two
    named consumers (recv lease 1.5-3 s, then per value: ack, nack with
    delay_ms, touch to 60 s, touch short, or let it expire); sends to
    cl-dl-src (max_deliveries 3, dead_letter cl-dl), whose consumer
    nacks everything with a reason.

The check after each restart (check_channel, check_jobs, check_meta):

  - every acknowledged send is present exactly once: still in its channel,
    or acked (ack answered ok) and then absent; a value whose ack was
    answered ok never comes back;
  - nothing present that was never sent; no value twice;
  - per-sender order among what remains: values never delivered to anyone
    are in send order, and the sends applied of those whose reply was lost
    form a prefix of them (a connection's sends apply in order);
  - leased values' `redelivered` never decreases;
  - every acknowledged submit is a job with its name (queued, running or
    final; `failed` only as `interrupted`; an echo's output right); a final
    job stays as it was; submits whose reply was lost, retried with their
    key, never make a second job;
  - acknowledged make/close/drop are kept: cap, closed flag, absence;
  - keyed sends whose reply was lost are sent again with their key: one
    whose first attempt was committed (a value seen) is answered
    duplicate, none is stored twice (check_named);
  - named leases come back as leases: not in the buffer before their
    deadline (recv's lease_ms, or touch's deadline_ms; the server's clock
    from hello's time_ms, MARGIN_MS either way), back after it, `stat`'s
    leased count exact, and about half of them acked by their string
    from a new connection (must be ok); values under a nack delay neither
    lost nor delivered before it ends; values on leases of recv replies
    the kill lost (unknown strings) counted until those leases end;
  - every acknowledged send to cl-dl-src in exactly one place: cl-dl-src,
    or cl-dl as an envelope of it (chan, value, deliveries >= 3, the
    reason of its last acknowledged nack or a later one) (check_dead).

The checker reads a channel without consuming it: it leases every value
and then closes its connection, which returns them (PROTOCOL 6.3); they
count as delivered from then on.  Values therefore live across many
crashes.  After the last cycle everything is drained with acks and every
job waited for; the named leases are acked by their string, the delays
and lost leases waited out, and every keyed value acked exactly once.

  JQD=/path/to/jqd tests/soak/crashloop.py [--cycles 50] [--seed S]

Prints per-cycle figures and a total; exits 1 on any violation, 77 if JQD
is not set.
"""

import argparse
import collections
import itertools
import os
import random
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import jqtest  # noqa: E402
from jqtest import Client, ConnectionClosed, ReplyTimeout, Server  # noqa: E402

CHANS = {"cl-big": 1000000, "cl-small": 64}
WINDOW = 16
SENDERS_PER_CHAN = 2
JOB_WINDOW = 4
FINAL = ("succeeded", "failed", "deadline_exceeded", "canceled")


class Violations:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, msg):
        with self.lock:
            self.items.append(msg)
            if len(self.items) <= 30:
                print("VIOLATION: %s" % msg, file=sys.stderr, flush=True)


V = Violations()


class Ledger:
    """What the clients know about every value and job, across cycles.
    Threads of a cycle update it under one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        # key -> [chan, sender, n, acked]
        self.sent = {}
        self.by_sender = collections.defaultdict(list)   # sender -> [n...]
        self.delivered = set()          # ever leased (consumer or checker)
        self.ack_ok = collections.Counter()
        self.ack_unknown = set()        # ack written, reply lost
        self.redelivered = {}           # key -> highest seen
        self.jobs = {}                  # id -> (name, kind, token)
        self.jobs_final = {}            # id -> state seen final
        self.jobs_stdout_ok = set()
        self.unknown_submits = []       # submits whose reply was lost
        self.names = {}                 # name -> id
        self.meta = {}                  # chan -> [cap, closed, dropped]
        self.totals = collections.Counter()

    def written(self, chan, sender, n, key):
        with self.lock:
            self.sent[key] = [chan, sender, n, False]
            self.by_sender[sender].append(n)

    def acked(self, keys):
        with self.lock:
            for k in keys:
                self.sent[k][3] = True
            self.totals["sends acked"] += len(keys)

    def deliver(self, key, redelivered, who):
        with self.lock:
            if key not in self.sent:
                V.add("%s: leased a value never sent: %r" % (who, key))
                return
            if self.ack_ok[key]:
                V.add("%s: %s delivered again after its ack was answered "
                      "ok" % (who, key))
            last = self.redelivered.get(key, 0)
            if (redelivered or 0) < last:
                V.add("%s: %s redelivered went down: %d after %d"
                      % (who, key, redelivered or 0, last))
            self.redelivered[key] = max(last, redelivered or 0)
            self.delivered.add(key)


L = Ledger()


def value_key(v):
    if not isinstance(v, dict) or not isinstance(v.get("k"), str):
        return None
    return v["k"]


# ---------------------------------------------------------------------------
# Workload threads; each ends when jqd is killed under it.

class Worker(threading.Thread):
    def __init__(self, server, name):
        super().__init__(daemon=True, name=name)
        self.client = Client(server)
        self.err = None

    def run(self):
        try:
            self.work()
        except (ConnectionClosed, OSError, ReplyTimeout):
            pass
        except Exception as e:  # reported by the cycle
            import traceback
            self.err = "%s: %r\n%s" % (self.name, e, traceback.format_exc())
        finally:
            self.client.close()


class Sender(Worker):
    def __init__(self, server, chan, sender):
        super().__init__(server, sender)
        self.chan, self.sender, self.n = chan, sender, 0

    def work(self):
        inflight = collections.deque()
        while True:
            while len(inflight) < WINDOW:
                count = (random.randint(2, 8) if random.random() < 0.15
                         else 1)
                keys = []
                for _ in range(count):
                    key = "%s/%d" % (self.sender, self.n)
                    L.written(self.chan, self.sender, self.n, key)
                    keys.append(key)
                    self.n += 1
                vals = [{"k": k} for k in keys]
                if count == 1:
                    self.client.request("send", chan=self.chan, value=vals[0])
                else:
                    self.client.request("send", chan=self.chan, values=vals)
                inflight.append(keys)
            r = self.client.read_reply(60)
            keys = inflight.popleft()
            if r["ok"] is not True:
                V.add("%s: send answered %r" % (self.sender, r))
                return
            L.acked(keys)


class Consumer(Worker):
    """Leases values and acks most of them (pipelined), nacks some and
    leaves a few on lease."""

    most, leases_ms = 50, (300, 30000, 30000, 30000)

    def __init__(self, server, chan, i, name=None):
        super().__init__(server, name or "consumer%d-%s" % (i, chan))
        self.chan = chan

    def take(self):
        """A leased recv: (reply, redelivered, lease_ms, monotonic time
        asked); the reply None after a timeout, False after an error."""
        lease_ms = random.choice(self.leases_ms)
        t_asked = time.monotonic()
        r = self.client.call("recv", chan=self.chan,
                             max=random.randint(1, self.most),
                             lease_ms=lease_ms, timeout_ms=200,
                             reply_timeout=60)
        if not r["ok"]:
            if r["error"]["code"] != "timeout":
                V.add("%s: recv answered %r" % (self.name, r))
                return False, None, lease_ms, t_asked
            return None, None, lease_ms, t_asked
        rd = r.get("redelivered") or [0] * len(r["values"])
        return r, rd, lease_ms, t_asked

    def work(self):
        while True:
            r, rd, lease_ms, t_asked = self.take()
            if r is False:
                return
            if r is not None:
                self.handle(r, rd, lease_ms, t_asked)

    def handle(self, r, rd, lease_ms, t_asked):
        c = self.client
        todo = []
        for v, lease, n in zip(r["values"], r["leases"], rd):
            k = value_key(v)
            L.deliver(k, n, self.name)
            x = random.random()
            if x < 0.85:
                todo.append(("ack", k, lease))
            elif x < 0.95:
                todo.append(("nack", k, lease))
        for op, k, lease in todo:
            c.request(op, chan=self.chan, lease=lease)
            if op == "ack":
                with L.lock:
                    L.ack_unknown.add(k)
        for op, k, lease in todo:
            r = c.read_reply(60)
            with L.lock:
                if op == "ack":
                    L.ack_unknown.discard(k)
                if r["ok"]:
                    if op == "ack":
                        L.ack_ok[k] += 1
                        L.totals["acks"] += 1
                        if L.ack_ok[k] > 1:
                            V.add("%s acked (ok) twice" % k)
                    continue
            if r["error"]["code"] != "not_found" or \
                    (time.monotonic() - t_asked) * 1000 < lease_ms:
                V.add("%s: %s of a live lease answered %r"
                      % (self.name, op, r))


class Submitter(Worker):
    def __init__(self, server, cycle):
        super().__init__(server, "submitter")
        self.cycle = cycle

    def work(self):
        inflight = collections.deque()
        n = 0
        while True:
            while len(inflight) < JOB_WINDOW:
                name = "c%d-%d" % (self.cycle, n)
                n += 1
                kind = random.choice(["true", "echo"])
                fields = {"argv": ["true"] if kind == "true"
                          else ["echo", name], "name": name, "key": name}
                with L.lock:
                    L.unknown_submits.append((kind, fields))
                self.client.request("submit", **fields)
                inflight.append((kind, fields))
            r = self.client.read_reply(60)
            kind, fields = inflight.popleft()
            if r["ok"] is not True or r.get("duplicate"):
                V.add("submit %s answered %r" % (fields["name"], r))
                return
            with L.lock:
                L.unknown_submits.remove((kind, fields))
                record_job(r["job"], fields["name"], kind)
                L.totals["submits acked"] += 1
            time.sleep(0.005)


def record_job(jid, name, kind):
    """Under L.lock."""
    if jid in L.jobs and L.jobs[jid][0] != name:
        V.add("job id %d given to %s and to %s" % (jid, L.jobs[jid][0], name))
    if name in L.names and L.names[name] != jid:
        V.add("job %s has ids %d and %d" % (name, L.names[name], jid))
    L.jobs[jid] = (name, kind)
    L.names[name] = jid


class Meta(Worker):
    """make meta-<cycle>; maybe close it; maybe drop an older one."""

    def __init__(self, server, cycle):
        super().__init__(server, "meta")
        self.cycle = cycle

    def work(self):
        c = self.client
        name = "meta-%d" % self.cycle
        cap = random.randint(0, 5)
        with L.lock:
            L.meta[name] = [cap, None, None, "make"]   # unknown yet
        r = c.ok("make", chan=name, cap=cap)
        with L.lock:
            L.meta[name] = [cap, False, False, None]
        time.sleep(random.uniform(0, 1.5))
        if random.random() < 0.5:
            with L.lock:
                L.meta[name][3] = "close"
            c.ok("close", chan=name)
            with L.lock:
                L.meta[name][1] = True
                L.meta[name][3] = None
        with L.lock:
            older = [m for m, st in L.meta.items()
                     if st[2] is False and st[3] is None and m != name]
        if older and random.random() < 0.3:
            victim = random.choice(older)
            with L.lock:
                L.meta[victim][3] = "drop"
            c.ok("drop", chan=victim)
            with L.lock:
                L.meta[victim][2] = True
                L.meta[victim][3] = None


# ---------------------------------------------------------------------------
# Protocol 1.1 workload: keyed sends and named consumers on NAMED, dead
# letters from DL_SRC to DL_CHAN.  Their values are tracked by K and D
# (below), apart from L, so the checks above are as they were.

NAMED = "cl-named"              # keyed sends; named consumers lease it
NAMED_CAP = 100000
CONSUMER_NAMES = ("nc-0", "nc-1")
KEYED_SENDERS = 2
KEYED_WINDOW = 8
DL_SRC, DL_CHAN, DL_MAX = "cl-dl-src", "cl-dl", 3
DL_SRC_CAP, DL_CHAN_CAP = 10000, 1000000
MARGIN_MS = 2000                # allowed error of a deadline, both ways
LONG_LEASE_MS = 60000
FEATURES = ("consumer", "touch", "nack_delay", "send_key", "dead_letter")

CLOCK = {"offset_ms": 0.0}


def now_ms():
    """The server's clock, estimated from hello's time_ms."""
    return time.time() * 1000 + CLOCK["offset_ms"]


def sync_clock(server):
    """Check the 1.1 features; take the server's clock offset."""
    c = Client(server)
    try:
        t0 = time.time() * 1000
        r = c.ok("hello")
        t1 = time.time() * 1000
        missing = [f for f in FEATURES if f not in r.get("features", [])]
        if missing:
            V.add("hello lists no %s: %r" % (missing, r))
        CLOCK["offset_ms"] = r["time_ms"] - (t0 + t1) / 2
    finally:
        c.close()


class NamedRec:
    """What the clients know of one value sent to NAMED.  st: buf (in
    the buffer, or under a recv lease whose reply was lost), lease (a
    named lease whose string we hold; out until a deadline in [lo, hi]),
    delay (nacked with delay_ms: back in [lo, hi]), out (a lease or a
    delay: a nack whose reply was lost), ackq (an ack whose reply was
    lost), ackmaybe (that ack re-sent after the restart found no lease),
    acked."""

    __slots__ = ("skey", "st", "lease", "lo", "hi", "pend", "rd",
                 "delivered", "acks")

    def __init__(self, skey):
        self.skey = skey
        self.st = "buf"
        self.lease = None
        self.lo = self.hi = 0
        self.pend = None        # (op, lease, t_sent, ms) written, no reply
        self.rd = 0
        self.delivered = False
        self.acks = 0


class Keyed:
    """Ledger of NAMED (under L.lock)."""

    def __init__(self):
        self.vals = {}                  # value key -> NamedRec
        self.sends = {}                 # send key -> [sender, keys, acked]
        self.unacked = []               # send keys written, no reply yet
        self.recvs = {}                 # token -> (lease_ms, max), pending
        self.tokens = itertools.count()
        self.unknown = []               # lost recv replies: (ends, max)
        self.unknown_until = 0          # when the last of them ends
        self.totals = collections.Counter()


K = Keyed()


def named_deliver(rec, k, lease, rd, lo, hi, who):
    """A recv (consumer or checker) got k under lease; under L.lock."""
    t = now_ms()
    if rec.st == "acked":
        V.add("%s: %s delivered again after its ack was answered ok"
              % (who, k))
    elif rec.st in ("lease", "delay", "out") and rec.lo > t + MARGIN_MS:
        V.add("%s: %s delivered while its %s had %.0f ms to run"
              % (who, k, rec.st, rec.lo - t))
    if rd < rec.rd:
        V.add("%s: %s redelivered went down: %d after %d"
              % (who, k, rd, rec.rd))
    rec.rd = max(rec.rd, rd)
    rec.delivered = True
    if lease is not None:
        rec.st, rec.lease, rec.lo, rec.hi, rec.pend = \
            "lease", lease, lo, hi, None


class WindowSender(Worker):
    """Keeps `window` sends in flight, a pause after each reply: write()
    writes one and returns what answered() gets with its reply."""

    window, pause = 4, 0.005

    def __init__(self, server, sender):
        super().__init__(server, sender)
        self.sender, self.n = sender, 0

    def work(self):
        inflight = collections.deque()
        while True:
            while len(inflight) < self.window:
                inflight.append(self.write())
            if not self.answered(inflight.popleft(),
                                 self.client.read_reply(60)):
                return
            time.sleep(self.pause)


class KeyedSender(WindowSender):
    """Pipelined keyed sends (single values and batches) to NAMED."""

    window, pause = KEYED_WINDOW, 0.004

    def write(self):
        count = random.randint(2, 5) if random.random() < 0.2 else 1
        keys = ["%s/%d" % (self.sender, self.n + i) for i in range(count)]
        self.n += count
        skey = "sk:" + keys[0]
        with L.lock:
            K.sends[skey] = [self.sender, keys, False]
            K.unacked.append(skey)
            for k in keys:
                K.vals[k] = NamedRec(skey)
        vals = [{"n": k} for k in keys]
        if count == 1:
            self.client.request("send", chan=NAMED, value=vals[0], key=skey)
        else:
            self.client.request("send", chan=NAMED, values=vals, key=skey)
        return skey

    def answered(self, skey, r):
        if r["ok"] is not True or r.get("duplicate"):
            V.add("%s: first keyed send %s answered %r"
                  % (self.sender, skey, r))
            return False
        with L.lock:
            K.sends[skey][2] = True
            K.unacked.remove(skey)
            K.totals["keyed sends acked"] += 1
            K.totals["keyed values acked"] += len(K.sends[skey][1])
        return True


class NamedConsumer(Worker):
    """A named consumer on NAMED: recv with a short lease (1.5-3 s), then
    per value ack, nack with delay_ms, touch to 60 s, touch short, or
    leave it to expire.  Reconnects now and then (its leases stay)."""

    def __init__(self, server, cname):
        super().__init__(server, "named-" + cname)
        self.server, self.cname = server, cname

    def connect(self):
        self.explicit = random.random() < 0.5
        if not self.explicit:
            r = self.client.ok("hello", consumer=self.cname)
            if r.get("consumer") != self.cname:
                V.add("%s: hello answered %r" % (self.name, r))

    def work(self):
        self.connect()
        while True:
            if random.random() < 0.1:
                self.client.close()
                self.client = Client(self.server)
                self.connect()
            self.round()

    def round(self):
        c = self.client
        lease_ms = random.randint(1500, 3000)
        f = {"chan": NAMED, "max": random.randint(1, 10),
             "lease_ms": lease_ms, "timeout_ms": 200}
        if self.explicit:
            f["consumer"] = self.cname
        with L.lock:
            tok = next(K.tokens)
            K.recvs[tok] = (lease_ms, f["max"])
        t0 = now_ms()
        r = c.call("recv", reply_timeout=60, **f)
        t1 = now_ms()
        with L.lock:
            del K.recvs[tok]
        if not r["ok"]:
            if r["error"]["code"] != "timeout":
                V.add("%s: recv answered %r" % (self.name, r))
            return
        rd = r.get("redelivered") or [0] * len(r["values"])
        ops = []
        with L.lock:
            K.totals["named leases taken"] += len(r["values"])
            for v, lease, n in zip(r["values"], r["leases"], rd):
                k = v.get("n") if isinstance(v, dict) else None
                rec = K.vals.get(k)
                if rec is None:
                    V.add("%s: leased a value never sent: %r"
                          % (self.name, v))
                    continue
                named_deliver(rec, k, lease, n, t0 + lease_ms,
                              t1 + lease_ms, self.name)
                x = random.random()
                if x < 0.4:
                    ops.append(("ack", k, lease, None))
                elif x < 0.55:
                    ops.append(("nack", k, lease, random.randint(300, 3000)))
                elif x < 0.8:
                    ops.append(("touch", k, lease, LONG_LEASE_MS))
                elif x < 0.9:
                    ops.append(("touch", k, lease, random.randint(300, 2000)))
        t_sent = now_ms()
        with L.lock:
            for op, k, lease, ms in ops:
                K.vals[k].pend = (op, lease, t_sent, ms)
        for op, k, lease, ms in ops:
            f = {"chan": NAMED, "lease": lease}
            if op == "nack":
                f["delay_ms"] = ms
            elif op == "touch":
                f["lease_ms"] = ms
            c.request(op, **f)
        for op, k, lease, ms in ops:
            r = c.read_reply(60)
            t_r = now_ms()
            with L.lock:
                self.done(op, k, lease, ms, t_sent, t_r, r)

    def done(self, op, k, lease, ms, t_sent, t_r, r):
        """Under L.lock."""
        rec = K.vals[k]
        mine = rec.lease == lease and rec.st == "lease"
        if mine:
            rec.pend = None
        if not r["ok"]:
            if r["error"]["code"] != "not_found" or \
                    (mine and t_sent < rec.lo - MARGIN_MS):
                V.add("%s: %s of a live lease of %s answered %r"
                      % (self.name, op, k, r))
            elif mine:
                rec.st = "buf"          # expired: back in the channel
            return
        if not mine:
            V.add("%s: %s of %s answered ok after the value moved on (%s)"
                  % (self.name, op, k, rec.st))
            return
        if op == "ack":
            rec.st = "acked"
            rec.acks += 1
            K.totals["named acks"] += 1
        elif op == "nack":
            rec.st, rec.lo, rec.hi = "delay", t_sent + ms, t_r + ms
            K.totals["nacks with delay_ms"] += 1
        else:
            d = r.get("deadline_ms")
            if not isinstance(d, int) or d < t_sent + ms - MARGIN_MS or \
                    d > t_r + ms + MARGIN_MS:
                V.add("%s: touch %d ms answered deadline_ms %r (%.0f ms "
                      "from now)" % (self.name, ms, d,
                                     (d or 0) - now_ms()))
                d = t_r + ms
            rec.lo = rec.hi = d
            K.totals["touches (deadline_ms recorded)"] += 1


def named_after_kill(kill_ms):
    """Requests whose replies the kill lost: widen what we know."""
    with L.lock:
        for lease_ms, most in K.recvs.values():
            K.unknown.append((kill_ms + lease_ms, most))
            K.unknown_until = max(K.unknown_until, kill_ms + lease_ms)
            K.totals["named recv replies lost"] += 1
        K.recvs.clear()
        for rec in K.vals.values():
            if rec.pend is None:
                continue
            op, lease, t_sent, ms = rec.pend
            rec.pend = None
            if rec.st != "lease" or rec.lease != lease:
                continue
            K.totals["named %s replies lost" % op] += 1
            if op == "ack":
                rec.st = "ackq"
            elif op == "nack":
                rec.st = "out"
                rec.lo = min(rec.lo, t_sent + ms)
                rec.hi = max(rec.hi, kill_ms + ms)
            else:
                rec.lo = min(rec.lo, t_sent + ms)
                rec.hi = max(rec.hi, kill_ms + ms)


class DeadRec:
    __slots__ = ("acked", "rd", "reasons", "reason_ok", "where")

    def __init__(self):
        self.acked = False      # the send was answered ok
        self.rd = 0             # highest redelivered seen
        self.reasons = {}       # reason of a nack written -> its n
        self.reason_ok = -1     # n of the last nack answered ok
        self.where = None       # None, "src" or "dl", as last checked


class Dead:
    """Ledger of DL_SRC and DL_CHAN (under L.lock)."""

    def __init__(self):
        self.vals = {}
        self.totals = collections.Counter()


D = Dead()


class DeadSender(WindowSender):
    """Plain pipelined sends to DL_SRC, a few hundred a second."""

    def write(self):
        k = "%s/%d" % (self.sender, self.n)
        self.n += 1
        with L.lock:
            D.vals[k] = DeadRec()
        self.client.request("send", chan=DL_SRC, value={"d": k})
        return k

    def answered(self, k, r):
        if r["ok"] is not True:
            V.add("%s: send answered %r" % (self.sender, r))
            return False
        with L.lock:
            D.vals[k].acked = True
            D.totals["sends acked"] += 1
        return True


def dead_reason(k, n):
    return "failed %s on delivery %d" % (k, n + 1)


class DeadConsumer(Consumer):
    """Leases DL_SRC and nacks everything, with a reason."""

    most, leases_ms = 10, (300, 20000, 20000)

    def __init__(self, server):
        super().__init__(server, DL_SRC, 0, "dead-consumer")

    def handle(self, r, rd, lease_ms, t_asked):
        c = self.client
        todo = []
        with L.lock:
            for v, lease, n in zip(r["values"], r["leases"], rd):
                k = dead_deliver(v, n, self.name)
                if k is not None:
                    todo.append((k, lease, dead_reason(k, n), n))
                    D.vals[k].reasons[dead_reason(k, n)] = n
        for k, lease, reason, n in todo:
            c.request("nack", chan=DL_SRC, lease=lease, reason=reason)
        for k, lease, reason, n in todo:
            r = c.read_reply(60)
            if r["ok"]:
                with L.lock:
                    rec = D.vals[k]
                    rec.reason_ok = max(rec.reason_ok, n)
                    D.totals["nacks with a reason"] += 1
            elif r["error"]["code"] != "not_found" or \
                    (time.monotonic() - t_asked) * 1000 < lease_ms:
                V.add("%s: nack of a live lease answered %r"
                      % (self.name, r))


def dead_deliver(v, rd, who):
    """A value leased from DL_SRC; its key, or None.  Under L.lock."""
    k = v.get("d") if isinstance(v, dict) else None
    rec = D.vals.get(k)
    if rec is None:
        V.add("%s: leased a value never sent: %r" % (who, v))
        return None
    if rec.where == "dl":
        V.add("%s: %s delivered from %s after it was seen dead-lettered"
              % (who, k, DL_SRC))
    if rd < rec.rd:
        V.add("%s: %s redelivered went down: %d after %d"
              % (who, k, rd, rec.rd))
    rec.rd = max(rec.rd, rd)
    return k


# ---------------------------------------------------------------------------
# Checks after a restart.

def read_channel(server, chan):
    """Every value of chan in channel order, without consuming it: lease
    them all, then close the connection so they are returned."""
    c = Client(server)
    out = []
    try:
        while True:
            r = c.call("recv", chan=chan, max=1000, lease_ms=600000,
                       timeout_ms=0, reply_timeout=120)
            if not r["ok"]:
                if r["error"]["code"] != "timeout":
                    V.add("checker recv %s: %r" % (chan, r))
                break
            rd = r.get("redelivered") or [0] * len(r["values"])
            out.extend(zip(r["values"], rd))
        st = c.ok("stat", chan=chan)
        if st["len"] != 0 or st["leased"] != len(out):
            V.add("checker: stat %s after leasing all: %r (leased %d)"
                  % (chan, st, len(out)))
    finally:
        c.close()
    return out


def check_channel(server, chan, cycle):
    content = read_channel(server, chan)
    seen = set()
    present = []
    for v, rd in content:
        k = value_key(v)
        if k is None or k not in L.sent:
            V.add("cycle %d %s: value never sent: %r" % (cycle, chan, v))
            continue
        if k in seen:
            V.add("cycle %d %s: %s present twice" % (cycle, chan, k))
            continue
        seen.add(k)
        if L.sent[k][0] != chan:
            V.add("cycle %d: %s sent to %s found in %s"
                  % (cycle, k, L.sent[k][0], chan))
        if L.ack_ok[k]:
            V.add("cycle %d %s: %s present after its ack was answered ok"
                  % (cycle, chan, k))
        present.append((k, rd))
    # Acks whose reply was lost: applied iff the value is gone.
    for k in [k for k in L.ack_unknown if L.sent[k][0] == chan]:
        L.ack_unknown.discard(k)
        if k not in seen:
            L.ack_ok[k] += 1
    # Every acknowledged send: present, or acked.
    missing = [k for k, (ch, _, _, acked) in L.sent.items()
               if ch == chan and acked and k not in seen
               and not L.ack_ok[k]]
    if missing:
        V.add("cycle %d %s: %d acknowledged values lost (e.g. %s)"
              % (cycle, chan, len(missing), sorted(missing)[:5]))
    # Order among values never delivered, per sender; sends with lost
    # replies applied as a prefix.
    last = {}
    for k, _ in present:
        _, sender, n, _ = L.sent[k]
        if k in L.delivered:
            continue
        if n <= last.get(sender, -1):
            V.add("cycle %d %s: %s after %s/%d (order)"
                  % (cycle, chan, k, sender, last[sender]))
        last[sender] = n
    applied = {k for k in seen} | L.delivered
    for sender, ns in L.by_sender.items():
        if L.sent["%s/%d" % (sender, ns[0])][0] != chan:
            continue
        gap = None
        for n in ns:
            k = "%s/%d" % (sender, n)
            if L.sent[k][3]:
                continue
            if k in applied:
                if gap is not None:
                    V.add("cycle %d %s: unacknowledged %s applied but %s "
                          "before it was not" % (cycle, chan, k, gap))
                    break
            elif gap is None:
                gap = k
    for k, rd in present:
        L.deliver(k, rd, "checker")
    return len(present)


def check_meta(server, cycle):
    c = Client(server)
    try:
        for name, (cap, closed, dropped, pending) in sorted(L.meta.items()):
            r = c.call("stat", chan=name)
            if not r["ok"]:
                if r["error"]["code"] != "not_found":
                    V.add("stat %s: %r" % (name, r))
                elif pending == "make":
                    del L.meta[name]        # the make was not committed
                elif dropped or pending == "drop":
                    L.meta[name][2] = True
                    L.meta[name][3] = None
                else:
                    V.add("cycle %d: acknowledged channel %s is gone"
                          % (cycle, name))
                continue
            if dropped:
                V.add("cycle %d: channel %s dropped (acknowledged) is back"
                      % (cycle, name))
            if r["cap"] != cap:
                V.add("cycle %d: %s cap %d, made with %d"
                      % (cycle, name, r["cap"], cap))
            if closed is True and not r["closed"]:
                V.add("cycle %d: %s closed (acknowledged) is open again"
                      % (cycle, name))
            if closed is False and r["closed"] and pending != "close":
                V.add("cycle %d: %s never closed is closed" % (cycle, name))
            L.meta[name][1] = r["closed"]
            L.meta[name][2] = False
            L.meta[name][3] = None
        return len(L.meta)
    finally:
        c.close()


def list_jobs(c):
    out = {}
    before = None
    while True:
        f = {"limit": 1000}
        if before:
            f["before"] = before
        r = c.ok("jobs", **f)
        if not r["jobs"]:
            return out
        for j in r["jobs"]:
            out[j["job"]] = j
        before = r["jobs"][-1]["job"]


def check_jobs(server, cycle):
    c = Client(server)
    try:
        # Submits whose reply was lost: the same key again.
        retry, L.unknown_submits = L.unknown_submits, []
        for kind, fields in retry:
            r = c.ok("submit", **fields)
            record_job(r["job"], fields["name"], kind)
            L.totals["submits retried"] += 1
            if r.get("duplicate"):
                L.totals["retries found committed"] += 1
        listed = list_jobs(c)
        names = collections.Counter(j["name"] for j in listed.values())
        for name, n in names.items():
            if n > 1:
                V.add("cycle %d: %d jobs named %s" % (cycle, n, name))
            if name not in L.names:
                V.add("cycle %d: job %s was never submitted" % (cycle, name))
        fresh = []
        for jid, (name, kind) in L.jobs.items():
            j = listed.get(jid)
            if j is None:
                V.add("cycle %d: acknowledged job %d (%s) is missing"
                      % (cycle, jid, name))
                continue
            if j["name"] != name:
                V.add("cycle %d: job %d is %s, submitted as %s"
                      % (cycle, jid, j["name"], name))
            st = j["state"]
            if st in ("canceled", "deadline_exceeded") or (
                    st == "failed" and j["error"] != "interrupted"):
                V.add("cycle %d: job %d (%s) ended %s error %r"
                      % (cycle, jid, kind, st, j["error"]))
            if jid in L.jobs_final and L.jobs_final[jid] != st:
                V.add("cycle %d: final job %d went from %s to %s"
                      % (cycle, jid, L.jobs_final[jid], st))
            if st in FINAL:
                L.jobs_final[jid] = st
                if st == "succeeded" and jid not in L.jobs_stdout_ok:
                    fresh.append(jid)
        # Output of jobs newly seen succeeded.
        for jid in fresh:
            name, kind = L.jobs[jid]
            r = c.ok("job", job=jid)
            want = "" if kind == "true" else name + "\n"
            if r["stdout"] != want:
                V.add("job %d (%s): stdout %r, expected %r"
                      % (jid, name, r["stdout"], want))
            L.jobs_stdout_ok.add(jid)
        return len(L.jobs), len(listed)
    finally:
        c.close()


# ---------------------------------------------------------------------------
# Checks of the 1.1 channels after a restart.

def lease_all(server, chan):
    """Lease every buffered value of chan (unnamed, 600 s) until `stat`
    shows none buffered (a lease expiring meanwhile brings one back).
    Returns the open client (closing it returns the values), the values
    as [(value, redelivered)] and the last stat."""
    c = Client(server)
    out = []
    for _ in range(100):
        r = c.call("recv", chan=chan, max=1000, lease_ms=600000,
                   timeout_ms=0, reply_timeout=120)
        if r["ok"]:
            rd = r.get("redelivered") or [0] * len(r["values"])
            out.extend(zip(r["values"], rd))
            continue
        if r["error"]["code"] != "timeout":
            V.add("checker recv %s: %r" % (chan, r))
        st = c.ok("stat", chan=chan)
        if st["len"] == 0:
            break
    return c, out, st


def named_ack(c, rec, k):
    """ack rec's lease from the checker; the reply's ok."""
    r = c.call("ack", chan=NAMED, lease=rec.lease)
    if r["ok"]:
        rec.st = "acked"
        rec.acks += 1
        if rec.acks > 1:
            V.add("%s acked (ok) twice" % k)
    elif r["error"]["code"] != "not_found":
        V.add("checker: ack of %s answered %r" % (k, r))
    return r["ok"]


def check_named(server, cycle):
    """NAMED after a restart: keyed retries, named leases, nack delays.
    Returns (values buffered, named leases out, values on leases whose
    recv reply was lost)."""
    c = Client(server)
    reader = None
    try:
        # Acks whose reply was lost: ack again.  ok: it had not been
        # applied; not_found: it had, or the lease expired (then the value
        # is back, which the read below shows).
        for k, rec in K.vals.items():
            if rec.st == "ackq":
                if named_ack(c, rec, k):
                    K.totals["named acks re-sent after a lost reply: ok"] += 1
                else:
                    rec.st = "ackmaybe"
        reader, out, st = lease_all(server, NAMED)
        t = now_ms()
        unknown_live = t < K.unknown_until + MARGIN_MS
        # At most this many values can be on leases of lost recv replies.
        K.unknown = [(end, n) for end, n in K.unknown
                     if t < end + MARGIN_MS]
        unknown_cap = sum(n for _, n in K.unknown)
        overdue = 0
        seen = {}
        for v, rd in out:
            k = v.get("n") if isinstance(v, dict) else None
            rec = K.vals.get(k)
            if rec is None:
                V.add("cycle %d %s: value never sent: %r" % (cycle, NAMED, v))
                continue
            if k in seen:
                V.add("cycle %d %s: %s present twice" % (cycle, NAMED, k))
                continue
            seen[k] = rd
            if rec.st in ("lease", "delay", "out"):
                K.totals["named leases and delays found ended"] += 1
            named_deliver(rec, k, None, rd, 0, 0, "checker cycle %d" % cycle)
            rec.st = "buf"
        out_known = out_unknown = 0
        for k, rec in K.vals.items():
            if k in seen or rec.st == "acked":
                continue
            if rec.st == "ackmaybe":
                rec.st = "acked"
                rec.acks += 1
                K.totals["named acks re-sent after a lost reply: "
                         "had been applied"] += 1
                continue
            if rec.st in ("lease", "delay", "out"):
                if rec.hi < t - MARGIN_MS:
                    # Back, and leased by a recv whose reply was lost?
                    if not unknown_live:
                        V.add("cycle %d %s: %s not back %.0f ms after its "
                              "%s ended" % (cycle, NAMED, k, t - rec.hi,
                                            rec.st))
                    overdue += 1
                out_known += 1
                if rec.st == "lease":
                    K.totals["named leases found still out after a "
                             "restart"] += 1
            elif K.sends[rec.skey][2] or rec.delivered:
                if unknown_live:
                    out_unknown += 1
                else:
                    V.add("cycle %d %s: acknowledged %s lost"
                          % (cycle, NAMED, k))
        # Keyed sends whose reply was lost: the same key again, while the
        # checker still holds the buffer.  One whose first attempt was
        # committed (a value seen) must be a duplicate; a connection's
        # sends apply in order, so no duplicate after an ok.
        appended = 0
        retry, K.unacked = K.unacked, []
        first_ok = {}
        for skey in retry:
            sender, keys, _ = K.sends[skey]
            vals = [{"n": k} for k in keys]
            f = {"value": vals[0]} if len(keys) == 1 else {"values": vals}
            r = c.call("send", chan=NAMED, key=skey, timeout_ms=30000, **f)
            if not r["ok"]:
                V.add("cycle %d: keyed retry %s answered %r"
                      % (cycle, skey, r))
                continue
            K.sends[skey][2] = True
            K.totals["keyed values acked"] += len(keys)
            committed = [k for k in keys
                         if k in seen or K.vals[k].delivered]
            if r.get("duplicate"):
                K.totals["keyed retries answered duplicate"] += 1
                if sender in first_ok:
                    V.add("cycle %d: retry %s answered duplicate after %s "
                          "of the same connection was answered ok"
                          % (cycle, skey, first_ok[sender]))
                for k in keys:
                    if k in committed:
                        continue
                    if unknown_live:
                        out_unknown += 1
                    else:
                        V.add("cycle %d: retry %s answered duplicate but "
                              "%s is nowhere" % (cycle, skey, k))
            else:
                K.totals["keyed retries answered ok"] += 1
                first_ok.setdefault(sender, skey)
                appended += len(keys)
                if committed:
                    V.add("cycle %d: retry %s answered ok (stored again) "
                          "but its first attempt had been committed: %s "
                          "seen" % (cycle, skey, committed))
        if overdue + out_unknown > unknown_cap:
            V.add("cycle %d %s: %d values overdue and %d missing, more than "
                  "the %d that recvs with lost replies may hold"
                  % (cycle, NAMED, overdue, out_unknown, unknown_cap))
        # st, taken when the checker held the whole buffer, counts every
        # value out; since then the retries stored some, and leases or
        # delays may have ended (leased -> len).
        want = len(out) + out_known + out_unknown
        if st["leased"] != want:
            V.add("cycle %d: stat %s leased %d; expected %d = %d checker + "
                  "%d named leases or delays + %d of lost recv replies"
                  % (cycle, NAMED, st["leased"], want, len(out), out_known,
                     out_unknown))
        st2 = c.ok("stat", chan=NAMED)
        if st2["len"] < appended or \
                st2["len"] + st2["leased"] != st["leased"] + appended:
            V.add("cycle %d: stat %s after %d values stored by retries: "
                  "len %d leased %d, before: leased %d"
                  % (cycle, NAMED, appended, st2["len"], st2["leased"],
                     st["leased"]))
        reader.close()
        reader = None
        # Leases survive as leases: ack about half of those surely live
        # with their string, from this new connection.
        for k, rec in K.vals.items():
            if rec.st == "lease" and rec.lo > now_ms() + MARGIN_MS and \
                    random.random() < 0.5:
                if named_ack(c, rec, k):
                    K.totals["named leases acked by their string after "
                             "a restart"] += 1
                else:
                    V.add("cycle %d: lease %s of %s (%.0f ms left) gone "
                          "after the restart" % (cycle, rec.lease, k,
                                                 rec.lo - now_ms()))
                    rec.st = "buf"
        return len(out), out_known, out_unknown
    finally:
        c.close()
        if reader is not None:
            reader.close()


def final_named(server):
    """Ack every named lease by its string, wait out the delays and the
    leases of lost recv replies, drain the rest with acks; every
    acknowledged keyed send acked exactly once."""
    c = Client(server)
    drained = 0
    try:
        for k, rec in K.vals.items():
            if rec.st in ("lease", "out"):
                if named_ack(c, rec, k):
                    K.totals["named leases acked by their string at the "
                             "end"] += 1
                elif rec.st == "lease" and rec.lo > now_ms() + MARGIN_MS:
                    V.add("final: lease of %s gone with %.0f ms left"
                          % (k, rec.lo - now_ms()))
        until = max([K.unknown_until] + [rec.hi for rec in K.vals.values()
                                         if rec.st in ("delay", "out")])
        until += MARGIN_MS + 10000     # and slack for a slow timer
        while True:
            for v, n, a in drain_with_acks(c, NAMED):
                k = v.get("n") if isinstance(v, dict) else None
                rec = K.vals.get(k)
                if rec is None:
                    V.add("final: value never sent: %r" % (v,))
                    continue
                named_deliver(rec, k, None, n, 0, 0, "final")
                if a["ok"] is not True:
                    V.add("final ack of %s: %r" % (k, a))
                rec.st = "acked"
                rec.acks += 1
                drained += 1
            left = [k for k, rec in K.vals.items() if rec.st != "acked"]
            if not left or now_ms() > until:
                break
            time.sleep(0.1)
        for k, rec in K.vals.items():
            if rec.acks != 1:
                V.add("%s (keyed send %s, acknowledged) acked %d times in "
                      "all" % (k, rec.skey, rec.acks))
        st = c.ok("stat", chan=NAMED)
        if st["len"] or st["leased"]:
            V.add("final: %s not empty: %r" % (NAMED, st))
    finally:
        c.close()
    return drained


def check_dead(server, cycle):
    """DL_SRC and DL_CHAN: every acknowledged send in exactly one of them,
    an envelope right.  Returns (values in DL_SRC, envelopes)."""
    c1 = c2 = None
    try:
        c1, src, st1 = lease_all(server, DL_SRC)
        c2, dl, st2 = lease_all(server, DL_CHAN)
        for chan, st, n in ((DL_SRC, st1, len(src)), (DL_CHAN, st2, len(dl))):
            if st["len"] != 0 or st["leased"] != n:
                V.add("cycle %s: stat %s after leasing all: %r (leased %d)"
                      % (cycle, chan, st, n))
        t = now_ms()
        in_src, in_dl = set(), set()
        for v, rd in src:
            k = dead_deliver(v, rd, "checker")
            if k is None:
                continue
            if k in in_src:
                V.add("cycle %s %s: %s present twice" % (cycle, DL_SRC, k))
            in_src.add(k)
        for env, _ in dl:
            val = env.get("value") if isinstance(env, dict) else None
            k = val.get("d") if isinstance(val, dict) else None
            rec = D.vals.get(k)
            if rec is None or env.get("chan") != DL_SRC or \
                    set(env) != {"chan", "value", "deliveries", "reason",
                                 "dead_ms"}:
                V.add("cycle %s %s: not an envelope of a value sent to %s: "
                      "%r" % (cycle, DL_CHAN, DL_SRC, env))
                continue
            if k in in_dl:
                V.add("cycle %s %s: %s dead-lettered twice"
                      % (cycle, DL_CHAN, k))
            in_dl.add(k)
            n = env["deliveries"]
            if not isinstance(n, int) or n < DL_MAX or n < rec.rd + 1:
                V.add("cycle %s: envelope of %s: deliveries %r (max %d, "
                      "redelivered %d seen)" % (cycle, k, n, DL_MAX, rec.rd))
            if not isinstance(env["dead_ms"], int) or \
                    env["dead_ms"] > t + MARGIN_MS:
                V.add("cycle %s: envelope of %s: dead_ms %r"
                      % (cycle, k, env["dead_ms"]))
            reason = env["reason"]
            if reason is None:
                if rec.reason_ok >= 0:
                    V.add("cycle %s: envelope of %s has no reason; a nack "
                          "with one was answered ok" % (cycle, k))
            elif reason not in rec.reasons or \
                    rec.reasons[reason] < rec.reason_ok:
                V.add("cycle %s: envelope of %s: reason %r, not the last "
                      "nack's (%r)" % (cycle, k, reason,
                                      dead_reason(k, rec.reason_ok)))
        for k, rec in D.vals.items():
            where = "src" if k in in_src else "dl" if k in in_dl else None
            if k in in_src and k in in_dl:
                V.add("cycle %s: %s both in %s and dead-lettered"
                      % (cycle, k, DL_SRC))
            elif where is None and (rec.acked or rec.where):
                V.add("cycle %s: %s (%s) neither in %s nor dead-lettered"
                      % (cycle, k, "acknowledged" if rec.acked
                         else "seen before", DL_SRC))
            elif rec.where == "dl" and where != "dl":
                V.add("cycle %s: dead-lettered %s is back in %s"
                      % (cycle, k, DL_SRC))
            rec.where = where
        D.totals["envelopes"] = len(in_dl)
        D.totals["envelopes with a reason"] = sum(
            1 for env, _ in dl if isinstance(env, dict) and env.get("reason"))
        return len(in_src), len(in_dl)
    finally:
        for c in (c1, c2):
            if c is not None:
                c.close()


# ---------------------------------------------------------------------------

def restart(state_dir):
    t = time.monotonic()
    s = Server(state_dir=state_dir)
    s.start()
    restored = ""
    for line in s.log_lines:
        if "restored" in line:
            restored = line.split("info: ", 1)[-1]
    return s, time.monotonic() - t, restored


def cycle_workload(server, cycle):
    workers = [Meta(server, cycle), Submitter(server, cycle)]
    for chan in CHANS:
        for i in range(SENDERS_PER_CHAN):
            workers.append(Sender(server, chan, "c%d.%s.s%d"
                                  % (cycle, chan, i)))
        workers.append(Consumer(server, chan, 0))
        workers.append(Consumer(server, chan, 1))
    for i in range(KEYED_SENDERS):
        workers.append(KeyedSender(server, "c%d.k%d" % (cycle, i)))
    for name in CONSUMER_NAMES:
        workers.append(NamedConsumer(server, name))
    workers.append(DeadSender(server, "c%d.d" % cycle))
    workers.append(DeadConsumer(server))
    for w in workers:
        w.start()
    run_s = random.uniform(0.2, 2.0)
    time.sleep(run_s)
    server.kill()
    kill_ms = now_ms()
    t = time.monotonic()
    for w in workers:
        w.join(60)
        if w.is_alive():
            V.add("cycle %d: %s still running 60 s after kill -9"
                  % (cycle, w.name))
        if w.err:
            V.add("cycle %d: %s" % (cycle, w.err))
    named_after_kill(kill_ms)
    if os.environ.get("CRASHLOOP_TIMING"):
        print("   join after kill: %.2fs" % (time.monotonic() - t))
    return run_s


def check_all(server, cycle):
    t = time.monotonic()
    present = {chan: check_channel(server, chan, cycle) for chan in CHANS}
    t1 = time.monotonic()
    metas = check_meta(server, cycle)
    jobs = check_jobs(server, cycle)
    t2 = time.monotonic()
    named = check_named(server, cycle)
    dead = check_dead(server, cycle)
    t3 = time.monotonic()
    if os.environ.get("CRASHLOOP_TIMING"):
        print("   check: channels %.2fs, meta+jobs %.2fs, 1.1 channels %.2fs"
              % (t1 - t, t2 - t1, t3 - t2))
    return present, metas, jobs, named, dead


def drain_with_acks(c, chan):
    """Lease chan's buffered values 500 at a time and ack them (pipelined)
    until none is left; yields (value, redelivered, the ack's reply)."""
    while True:
        r = c.call("recv", chan=chan, max=500, lease_ms=600000, timeout_ms=0)
        if not r["ok"]:
            return
        rd = r.get("redelivered") or [0] * len(r["values"])
        acks = c.pipeline([{"id": i, "op": "ack", "chan": chan,
                            "lease": lease}
                           for i, lease in enumerate(r["leases"])])
        yield from zip(r["values"], rd, acks)


def final_drain(server):
    """Ack everything left; wait for every job."""
    c = Client(server)
    drained = 0
    try:
        for chan in CHANS:
            for v, n, a in drain_with_acks(c, chan):
                k = value_key(v)
                L.deliver(k, n, "final")
                if a["ok"] is not True:
                    V.add("final ack of %s: %r" % (k, a))
                L.ack_ok[k] += 1
                drained += 1
        for k, (chan, _, _, acked) in L.sent.items():
            if L.ack_ok[k] > 1:
                V.add("%s acked %d times in all" % (k, L.ack_ok[k]))
            if acked and not L.ack_ok[k]:
                V.add("acknowledged %s (%s) never acked" % (k, chan))
        ids = sorted(L.jobs)
        for i in range(0, len(ids), 1000):
            chunk = ids[i:i + 1000]
            while True:
                r = c.call("wait", jobs=chunk, timeout_ms=10000,
                           reply_timeout=120)
                if r["ok"]:
                    break
                if r["error"]["code"] != "timeout":
                    V.add("final wait: %r" % r)
                    break
            for res in r.get("results", []):
                if res["state"] == "failed" and res["error"] == "interrupted":
                    L.totals["jobs interrupted"] += 1
                elif res["state"] != "succeeded":
                    V.add("job %d ended %s" % (res["job"], res["state"]))
                else:
                    L.totals["jobs succeeded"] += 1
    finally:
        c.close()
    return drained


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cycles", type=int, default=50)
    p.add_argument("--seed", type=int)
    p.add_argument("--keep", action="store_true",
                   help="keep the state directory")
    args = p.parse_args()
    if not os.environ.get("JQD"):
        print("JQD is not set; skipping", file=sys.stderr)
        return 77
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    random.seed(seed)
    state_dir = tempfile.mkdtemp(prefix="jqd-crashloop-")
    print("crashloop: seed %d, %d cycles, state %s, store %s"
          % (seed, args.cycles, state_dir,
             jqtest.STORE if jqtest.STORE == "sqlite"
             else "postgres schema " + jqtest.pg_schema(state_dir)),
          flush=True)
    t_start = time.monotonic()
    server = None
    verified = 0
    try:
        server, _, _ = restart(state_dir)
        sync_clock(server)
        c = Client(server)
        for chan, cap in CHANS.items():
            c.ok("make", chan=chan, cap=cap)
        c.ok("make", chan=NAMED, cap=NAMED_CAP)
        c.ok("make", chan=DL_CHAN, cap=DL_CHAN_CAP)
        c.ok("make", chan=DL_SRC, cap=DL_SRC_CAP, max_deliveries=DL_MAX,
             dead_letter=DL_CHAN)
        c.close()
        print("%5s %6s %7s %6s %6s %7s %8s %8s %5s %6s %5s %5s %4s %5s %5s"
              "  %s" % (
                  "cycle", "run_s", "sends", "acks", "jobs", "restart",
                  "big", "small", "metas", "jobs", "named", "out", "unkn",
                  "dlsrc", "dead", "restored"), flush=True)
        for cycle in range(args.cycles):
            before = L.totals.copy()
            run_s = cycle_workload(server, cycle)
            server, restart_s, restored = restart(state_dir)
            sync_clock(server)
            present, metas, (njobs, _), named, dead = \
                check_all(server, cycle)
            verified += sum(present.values())
            d = L.totals - before
            print("%5d %6.2f %7d %6d %6d %6.2fs %8d %8d %5d %6d %5d %5d %4d "
                  "%5d %5d  %s" % (
                      cycle, run_s, d["sends acked"], d["acks"],
                      d["submits acked"], restart_s, present["cl-big"],
                      present["cl-small"], metas, njobs, named[0], named[1],
                      named[2], dead[0], dead[1], restored), flush=True)
            for line in server.log_lines:
                if any(m in line for m in jqtest.SANITIZER_MARKERS):
                    V.add("cycle %d: sanitizer: %s" % (cycle, line))
            if len(V.items) > 50:
                break
        drained = final_drain(server)
        named_drained = final_named(server)
        dead = check_dead(server, "final")
        server.stop()
        for problem in server.problems():
            V.add("final stop: %s" % problem)
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(state_dir, True)
    t = L.totals
    print()
    print("=== crashloop summary ===")
    print("cycles survived: %d of %d in %.0f s (seed %d)"
          % (cycle + 1, args.cycles, time.monotonic() - t_start, seed))
    print("sends acknowledged: %d values (%d written); acks answered ok: %d"
          % (t["sends acked"], len(L.sent), t["acks"]))
    print("values found in place after restarts: %d (sum over cycles); "
          "drained at the end: %d" % (verified, drained))
    print("every acknowledged value accounted for: %d (acked exactly once "
          "by the end)" % sum(1 for v in L.sent.values() if v[3]))
    print("jobs: %d acknowledged submits, %d retried after a lost reply (%d "
          "had been committed); at the end %d succeeded, %d failed "
          "'interrupted'" % (t["submits acked"], t["submits retried"],
                             t["retries found committed"],
                             t["jobs succeeded"], t["jobs interrupted"]))
    print("channels made by the cycles and still tracked: %d, checked at each "
          "restart" % len(L.meta))
    k = K.totals
    print("keyed sends (%s): %d acknowledged sends, %d values; %d retried "
          "after a lost reply: %d answered duplicate, %d answered ok; "
          "drained at the end: %d, each acked exactly once"
          % (NAMED, k["keyed sends acked"], k["keyed values acked"],
             k["keyed retries answered duplicate"]
             + k["keyed retries answered ok"],
             k["keyed retries answered duplicate"],
             k["keyed retries answered ok"], named_drained))
    for name in sorted(k):
        if name.startswith("named ") or name.startswith("nacks ") or \
                name.startswith("touches "):
            print("  %s: %d" % (name, k[name]))
    dt = D.totals
    print("dead letters (%s, max_deliveries %d -> %s): %d acknowledged "
          "sends, %d nacks with a reason answered ok; at the end %d "
          "values in %s, %d envelopes (%d with a reason), every one in "
          "exactly one place" % (DL_SRC, DL_MAX, DL_CHAN, dt["sends acked"],
                                 dt["nacks with a reason"], dead[0], DL_SRC,
                                 dt["envelopes"],
                                 dt["envelopes with a reason"]))
    if V.items:
        print("\nFAIL: %d violations" % len(V.items))
        for v in V.items[:50]:
            print("  " + v)
        return 1
    print("\nPASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
