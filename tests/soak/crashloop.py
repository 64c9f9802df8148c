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
    an older one dropped in others.

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
  - acknowledged make/close/drop are kept: cap, closed flag, absence.

The checker reads a channel without consuming it: it leases every value
and then closes its connection, which returns them (PROTOCOL 6.3); they
count as delivered from then on.  Values therefore live across many
crashes.  After the last cycle everything is drained with acks and every
job waited for.

  JQD=/path/to/jqd tests/soak/crashloop.py [--cycles 50] [--seed S]

Prints per-cycle figures and a total; exits 1 on any violation, 77 if JQD
is not set.
"""

import argparse
import collections
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

    def __init__(self, server, chan, i):
        super().__init__(server, "consumer%d-%s" % (i, chan))
        self.chan = chan

    def work(self):
        c = self.client
        while True:
            lease_ms = random.choice([300, 30000, 30000, 30000])
            t_asked = time.monotonic()
            r = c.call("recv", chan=self.chan, max=random.randint(1, 50),
                       lease_ms=lease_ms, timeout_ms=200, reply_timeout=60)
            if not r["ok"]:
                if r["error"]["code"] != "timeout":
                    V.add("%s: recv answered %r" % (self.name, r))
                    return
                continue
            rd = r.get("redelivered") or [0] * len(r["values"])
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
    for w in workers:
        w.start()
    run_s = random.uniform(0.2, 2.0)
    time.sleep(run_s)
    server.kill()
    t = time.monotonic()
    for w in workers:
        w.join(60)
        if w.is_alive():
            V.add("cycle %d: %s still running 60 s after kill -9"
                  % (cycle, w.name))
        if w.err:
            V.add("cycle %d: %s" % (cycle, w.err))
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
    if os.environ.get("CRASHLOOP_TIMING"):
        print("   check: channels %.2fs, meta+jobs %.2fs" % (t1 - t, t2 - t1))
    return present, metas, jobs


def final_drain(server):
    """Ack everything left; wait for every job."""
    c = Client(server)
    drained = 0
    try:
        for chan in CHANS:
            while True:
                r = c.call("recv", chan=chan, max=500, lease_ms=600000,
                           timeout_ms=0)
                if not r["ok"]:
                    break
                rd = r.get("redelivered") or [0] * len(r["values"])
                keys = []
                for v, n in zip(r["values"], rd):
                    keys.append(value_key(v))
                    L.deliver(keys[-1], n, "final")
                acks = c.pipeline([{"id": i, "op": "ack", "chan": chan,
                                    "lease": lease}
                                   for i, lease in enumerate(r["leases"])])
                for k, a in zip(keys, acks):
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
    print("crashloop: seed %d, %d cycles, state %s"
          % (seed, args.cycles, state_dir), flush=True)
    t_start = time.monotonic()
    server = None
    verified = 0
    try:
        server, _, _ = restart(state_dir)
        c = Client(server)
        for chan, cap in CHANS.items():
            c.ok("make", chan=chan, cap=cap)
        c.close()
        print("%5s %6s %7s %6s %6s %7s %8s %8s %5s %6s  %s" % (
            "cycle", "run_s", "sends", "acks", "jobs", "restart",
            "big", "small", "metas", "jobs", "restored"), flush=True)
        for cycle in range(args.cycles):
            before = L.totals.copy()
            run_s = cycle_workload(server, cycle)
            server, restart_s, restored = restart(state_dir)
            present, metas, (njobs, _) = check_all(server, cycle)
            verified += sum(present.values())
            d = L.totals - before
            print("%5d %6.2f %7d %6d %6d %6.2fs %8d %8d %5d %6d  %s" % (
                cycle, run_s, d["sends acked"], d["acks"],
                d["submits acked"], restart_s, present["cl-big"],
                present["cl-small"], metas, njobs, restored), flush=True)
            for line in server.log_lines:
                if any(m in line for m in jqtest.SANITIZER_MARKERS):
                    V.add("cycle %d: sanitizer: %s" % (cycle, line))
            if len(V.items) > 50:
                break
        drained = final_drain(server)
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
    if V.items:
        print("\nFAIL: %d violations" % len(V.items))
        for v in V.items[:50]:
            print("  " + v)
        return 1
    print("\nPASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
