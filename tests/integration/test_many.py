"""Many concurrent connections: 200 clients exchanging values through
unbuffered and buffered channels (plain recv and select), every value
received exactly once; connections sending bad input or vanishing mid-request
run at the same time and disturb nobody (SPEC 1, 3)."""

import socket
import struct
import threading
import time
from collections import Counter

from jqtest import Client, ServerTestCase, main, wait_until

PER_CLIENT = 5
JOIN_TIMEOUT_S = 120


class Crew:
    """Threads that start together and report failures."""

    def __init__(self):
        self.threads = []
        self.errors = []
        self.lock = threading.Lock()

    def add(self, fn, *args):
        def run():
            try:
                fn(*args)
            except BaseException as e:  # reported by join()
                with self.lock:
                    self.errors.append("%s%r: %r" % (fn.__name__, args[:1], e))
        self.threads.append(threading.Thread(target=run, daemon=True))

    def run(self):
        for t in self.threads:
            t.start()
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for t in self.threads:
            t.join(max(0, deadline - time.monotonic()))
        stuck = sum(t.is_alive() for t in self.threads)
        return stuck


class ManyTest(ServerTestCase):
    server_args = ("--max-frame", 65536, "--max-value", 32768)

    def setUp(self):
        super().setUp()
        self.received = []
        self.sent = []
        self.lock = threading.Lock()

    def connect_all(self, n, unix_every=3):
        # Connected up front, so all of them are open at once.
        clients = [Client(self.server, unix=(i % unix_every == 0))
                   for i in range(n)]
        for c in clients:
            self.addCleanup(c.close)
        return clients

    def sender(self, client, barrier, chan, tag):
        barrier.wait(60)
        for k in range(PER_CLIENT):
            value = {"from": tag, "k": k}
            r = client.call("send", reply_timeout=60, chan=chan, value=value,
                            timeout_ms=50000)
            if not r["ok"]:
                raise AssertionError("send failed: %r" % r)
            with self.lock:
                self.sent.append((tag, k))

    def receiver(self, client, barrier, chan):
        barrier.wait(60)
        for _ in range(PER_CLIENT):
            r = client.call("recv", reply_timeout=60, chan=chan,
                            timeout_ms=50000)
            if not r["ok"]:
                raise AssertionError("recv failed: %r" % r)
            with self.lock:
                self.received.append((r["value"]["from"], r["value"]["k"]))

    def selector(self, client, barrier, chans):
        barrier.wait(60)
        for _ in range(PER_CLIENT):
            r = client.call("select", reply_timeout=60,
                            cases=[{"recv": ch} for ch in chans],
                            timeout_ms=50000)
            if not r["ok"]:
                raise AssertionError("select failed: %r" % r)
            v = r["value"]
            if v["chan"] != chans[r["index"]]:
                raise AssertionError("select index %d but value from %s"
                                     % (r["index"], v["chan"]))
            with self.lock:
                self.received.append((v["from"], v["k"]))

    def select_sender(self, client, barrier, chan, tag):
        barrier.wait(60)
        for k in range(PER_CLIENT):
            r = client.call("send", reply_timeout=60, chan=chan,
                            value={"from": tag, "k": k, "chan": chan},
                            timeout_ms=50000)
            if not r["ok"]:
                raise AssertionError("send failed: %r" % r)
            with self.lock:
                self.sent.append((tag, k))

    def vandal(self, barrier, idx, sink):
        """Bad input, abrupt closes, abandoned waits; checks its replies.
        `sink` is this vandal's own unbuffered channel."""
        barrier.wait(60)
        kind = idx % 5
        if kind == 0:
            with Client(self.server) as c:
                for raw in (b"garbage\n", b"\xff\xfe\n", b"[1]\n",
                            b'{"id":[1],"op":"ping"}\n', b'{"op":"nope"}\n',
                            b"x" * 70000 + b"\n",
                            b'{"op":"recv","chan":"bad name"}\n'):
                    c.send_raw(raw)
                    r = c.read_reply(60)
                    if r["ok"] or r["error"]["code"] not in (
                            "bad_request", "unknown_op", "frame_too_large"):
                        raise AssertionError("unexpected reply %r" % r)
                if c.call("ping", 60)["ok"] is not True:
                    raise AssertionError("ping failed after bad input")
        elif kind == 1:
            # Half a frame, then gone.
            s = socket.create_connection((self.server.host, self.server.port))
            s.sendall(b'{"id":1,"op":"send","chan":"' + sink.encode() + b'","val')
            s.close()
        elif kind == 2:
            # Many pipelined requests, then close without reading: RST.
            s = socket.create_connection((self.server.host, self.server.port))
            s.sendall(b'{"op":"ping"}\n' * 2000)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
            s.close()
        elif kind == 3:
            # A receiver that vanishes while blocked.
            with Client(self.server) as probe, \
                    Client(self.server, unix=True) as c:
                c.request("recv", chan=sink)
                wait_until(lambda: probe.ok("stat", chan=sink)
                           ["receivers_waiting"] == 1, 60)
                c.close()
        else:
            # Deep nesting: answered (ok or bad_request), never a crash.
            with Client(self.server) as c:
                c.send_raw(b'{"id":1,"op":"ping","x":' + b"[" * 30000
                           + b"]" * 30000 + b"}\n")
                r = c.read_reply(60)
                if not (r["ok"] or r["error"]["code"] == "bad_request"):
                    raise AssertionError("deep nesting: %r" % r)
                if c.call("ping", 60)["ok"] is not True:
                    raise AssertionError("ping failed after deep nesting")

    def test_200_connections_exchange_exactly_once(self):
        before = self.ctl.ok("stats")
        unbuf = self.make(cap=0, tag="many-u")
        buf = self.make(cap=5, tag="many-b")
        sx = self.make(cap=2, tag="many-sx")
        sy = self.make(cap=0, tag="many-sy")

        # 30+30 on unbuffered, 30+30 on buffered, 40 senders (20 to each of
        # sx, sy) + 40 selectors over {sx, sy}: 200 connections.
        clients = self.connect_all(200)
        vandals = 20
        sinks = [self.make(cap=0, tag="many-sink") for _ in range(vandals)]
        barrier = threading.Barrier(200 + vandals)
        crew = Crew()
        it = iter(clients)
        for i in range(30):
            crew.add(self.sender, next(it), barrier, unbuf, "u%d" % i)
            crew.add(self.receiver, next(it), barrier, unbuf)
            crew.add(self.sender, next(it), barrier, buf, "b%d" % i)
            crew.add(self.receiver, next(it), barrier, buf)
        for i in range(40):
            crew.add(self.select_sender, next(it), barrier,
                     sx if i % 2 else sy, "s%d" % i)
            crew.add(self.selector, next(it), barrier, [sx, sy])
        for i in range(vandals):
            crew.add(self.vandal, barrier, i, sinks[i])
        self.wait_stats(connections=before["connections"] + 200)
        stuck = crew.run()
        self.assertFalse(crew.errors, "%d thread(s) failed, first ones:\n%s"
                         % (len(crew.errors), "\n".join(crew.errors[:5])))
        self.assertEqual(stuck, 0, "threads still running")

        expected = Counter((t, k) for t in
                           ["u%d" % i for i in range(30)] +
                           ["b%d" % i for i in range(30)] +
                           ["s%d" % i for i in range(40)]
                           for k in range(PER_CLIENT))
        self.assertEqual(Counter(self.sent), expected)
        self.assertEqual(Counter(self.received), expected,
                         "a value was lost or delivered twice")
        for ch, n in ((unbuf, 150), (buf, 150)):
            s = self.stat(ch)
            self.assertEqual((s["len"], s["sent"], s["received"],
                              s["senders_waiting"], s["receivers_waiting"]),
                             (0, n, n, 0, 0), ch)
        total = sum(self.stat(ch)["received"] for ch in (sx, sy))
        self.assertEqual(total, 200)
        for c in clients:
            c.close()
        self.wait_stats(connections=before["connections"])
        for sink in sinks:
            self.wait_stat(sink, receivers_waiting=0)
            self.ctl.error("send", "timeout", chan=sink, value=1, timeout_ms=0)
        self.wait_stats(waiting=0)

    def test_connection_churn(self):
        # Connect, do one exchange, disconnect; 300 times over 10 threads,
        # through one buffered channel; the count must come out exact.
        chan = self.make(cap=1000, tag="churn")
        crew = Crew()
        barrier = threading.Barrier(10)

        def churn(idx):
            barrier.wait(60)
            for k in range(30):
                with Client(self.server, unix=(k % 2 == 0)) as c:
                    c.ok("send", chan=chan, value=[idx, k])
        for i in range(10):
            crew.add(churn, i)
        self.assertEqual(crew.run(), 0)
        self.assertFalse(crew.errors, "\n".join(crew.errors[:5]))
        got = []
        while len(got) < 300:
            got += self.ctl.ok("recv", chan=chan, max=1000, timeout_ms=0)["values"]
        self.assertEqual(sorted(map(tuple, got)),
                         sorted((i, k) for i in range(10) for k in range(30)))
        for i in range(10):
            mine = [k for (j, k) in got if j == i]
            self.assertEqual(mine, sorted(mine), "one sender's values reordered")


if __name__ == "__main__":
    main()
