"""Tests of jqclient.Connection, the serial client, against a real jqd.

Run by `make check` (the .py test driver) or by hand:

    JQD=/path/to/jqd python3 client/python/test_jqclient.py [-v] [Test.test_x]

Without JQD it exits 77 (skip).  Each test class starts its own jqd on
127.0.0.1:0 with a Unix socket in a temporary directory, through the
integration tests' harness (tests/integration/jqtest.py, found relative to
this file), which also checks that jqd exits cleanly and prints no
sanitizer report.  A few tests use a fake server thread to produce replies
no correct jqd sends (wrong ids, garbage, silence).
"""

import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.join(HERE, "..", "..", "tests", "integration"))

import jqclient  # noqa: E402
from jqclient import (Closed, JqError, Lease, NotFound,  # noqa: E402
                      RecvCase, SendCase, Timeout)
from jqclient import Connection as Client  # noqa: E402
import jqtest  # noqa: E402
from jqtest import Server, unique_name, wait_until  # noqa: E402

# A reply that must come (a job that must finish) gets this long.
LONG_MS = 60000
CLIENT_TIMEOUT_S = 60

MAX_FRAME = 65536
MAX_VALUE = 16384
MAX_SELECT_CASES = 8


class ServerCase(unittest.TestCase):
    """One jqd per class, and a client `c` per test."""

    server_args = ("--max-frame", MAX_FRAME, "--max-value", MAX_VALUE,
                   "--max-select-cases", MAX_SELECT_CASES, "--workers", 2)

    @classmethod
    def setUpClass(cls):
        cls.servers = []
        cls._start_server()

    @classmethod
    def _start_server(cls):
        cls.server = Server(*cls.server_args).start()
        cls.servers.append(cls.server)

    @classmethod
    def tearDownClass(cls):
        failures = []
        for server in cls.servers:
            try:
                server.check()
            except jqtest.ServerError as e:
                failures.append(str(e))
        if failures:
            raise jqtest.ServerError("\n\n".join(failures))

    def setUp(self):
        if not self.server.alive():
            # The test that killed it failed in tearDown; give the next
            # ones a fresh jqd so one crash does not hide the rest.
            type(self)._start_server()
        self.c = self.client()

    def tearDown(self):
        self.assertTrue(self.server.alive(),
                        "jqd died:\n" + self.server.stderr_text())

    def client(self, addr=None, **kw):
        kw.setdefault("timeout", CLIENT_TIMEOUT_S)
        c = Client(addr or self.server.addr, **kw)
        self.addCleanup(c.close)
        return c

    def chan(self, cap=0):
        name = unique_name("py-" + self._testMethodName[5:])
        self.assertIs(self.c.make(name, cap), True)
        return name

    def in_thread(self, fn, *args, **kw):
        """Run fn in a thread; returns a function giving its result (or
        raising its exception) once it finished."""
        join = jqtest.in_thread(fn, *args, **kw)
        return lambda timeout=CLIENT_TIMEOUT_S: join(timeout)

    def wait_stat(self, chan, **want):
        return wait_until(lambda: all(self.c.stat(chan)[k] == v
                                      for k, v in want.items()),
                          what="stat %s %r" % (chan, want))


class AddressTest(unittest.TestCase):
    """parse_addr and the environment defaults, without a server."""

    def test_parse_addr(self):
        cases = {
            "127.0.0.1:7411": (socket.AF_INET, ("127.0.0.1", 7411)),
            "localhost:1": (socket.AF_INET, ("localhost", 1)),
            "example.org": (socket.AF_INET, ("example.org", 7411)),
            "[::1]:9000": (socket.AF_INET, ("::1", 9000)),
            "[::1]": (socket.AF_INET, ("::1", 7411)),
            "::1": (socket.AF_INET, ("::1", 7411)),
            "unix:/run/jqd.sock": (socket.AF_UNIX, "/run/jqd.sock"),
            "unix:rel.sock": (socket.AF_UNIX, "rel.sock"),
            "/tmp/x.sock": (socket.AF_UNIX, "/tmp/x.sock"),
            "./x.sock": (socket.AF_UNIX, "./x.sock"),
        }
        for addr, want in cases.items():
            self.assertEqual(jqclient.parse_addr(addr), want, addr)
        for bad in ("host:port", "host:0", "host:65536", "[::1]:x"):
            with self.assertRaises(ValueError, msg=bad):
                jqclient.parse_addr(bad)

    def test_connect_refused_is_connection_error(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        with self.assertRaises(jqclient.ConnectionError) as cm:
            Client("127.0.0.1:%d" % port, timeout=5)
        self.assertIsInstance(cm.exception, ConnectionError)  # the built-in
        self.assertIsInstance(cm.exception, jqclient.Error)
        with self.assertRaises(jqclient.ConnectionError):
            Client("unix:/nonexistent/jqd.sock", timeout=5)

    def test_error_from_reply_maps_every_code(self):
        for code, cls in jqclient.ERRORS.items():
            e = jqclient.error_from_reply(
                {"id": 1, "ok": False,
                 "error": {"code": code, "message": "m", "index": 3}})
            self.assertIs(type(e), cls, code)
            self.assertIsInstance(e, JqError)
            self.assertEqual((e.code, e.message, e.details, e.index),
                             (code, "m", {"index": 3}, 3))
        self.assertEqual(len(jqclient.ERRORS), 13)
        e = jqclient.error_from_reply(
            {"id": 1, "ok": False, "error": {"code": "brand_new",
                                             "message": "x"}})
        self.assertIs(type(e), jqclient.Internal)
        self.assertEqual(e.code, "brand_new")
        self.assertEqual(jqclient.check({"id": 1, "ok": True}),
                         {"id": 1, "ok": True})
        with self.assertRaises(jqclient.Exists):
            jqclient.check({"id": 1, "ok": False,
                            "error": {"code": "exists", "message": "m"}})

    def test_job_id(self):
        j = jqclient.JobId(7, True)
        self.assertEqual(j, 7)
        self.assertTrue(j.duplicate)
        self.assertFalse(jqclient.JobId(8).duplicate)
        self.assertEqual(json.dumps([j]), "[7]")


class AddressListTest(unittest.TestCase):
    """Address lists (the module doc, "Addresses"): two jqd, A and B, and
    addresses that refuse or hang (jqtest.refused_port, Blackhole)."""

    @classmethod
    def setUpClass(cls):
        cls.a = Server().start()
        cls.b = Server().start()

    @classmethod
    def tearDownClass(cls):
        for s in (cls.a, cls.b):
            s.stop()
            s.check()

    def setUp(self):
        # Each test starts with no memory of which address served.
        with jqclient._addr._served_lock:
            jqclient._addr._served.clear()

    def client(self, addr, **kw):
        kw.setdefault("timeout", CLIENT_TIMEOUT_S)
        c = Client(addr, **kw)
        self.addCleanup(c.close)
        return c

    def on(self, server, c):
        """Is c connected to server?  (A channel made on c shows.)"""
        ch = unique_name("pylist")
        c.make(ch)
        with Client(server.addr, timeout=CLIENT_TIMEOUT_S) as probe:
            return probe.call("stat", chan=ch)["ok"]

    def test_split_addrs(self):
        self.assertEqual(jqclient.split_addrs("a:1, tls:b:2 ,/c"),
                         ["a:1", "tls:b:2", "/c"])
        self.assertEqual(jqclient.split_addrs(["a:1", " b:2"]),
                         ["a:1", "b:2"])
        self.assertEqual(jqclient.split_addrs("a:1"), ["a:1"])
        for bad in ("a:1,,b:2", "a:1,", "", []):
            with self.assertRaises(ValueError, msg=repr(bad)):
                Client(bad)

    def test_refused_then_serving(self):
        r = "127.0.0.1:%d" % jqtest.refused_port()
        c = self.client("%s,%s" % (r, self.a.addr))
        self.assertEqual(c.addr, self.a.addr)
        self.assertTrue(self.on(self.a, c))
        self.assertFalse(self.on(self.b, self.client(
            [r, self.a.addr])))

    def test_hanging_address_costs_dial_timeout(self):
        h = jqtest.Blackhole()
        self.addCleanup(h.close)
        t0 = time.monotonic()
        c = self.client(["127.0.0.1:%d" % h.port, self.b.addr])
        took = time.monotonic() - t0
        self.assertEqual(c.addr, self.b.addr)
        self.assertGreaterEqual(took, jqclient.DIAL_TIMEOUT - 0.1)
        self.assertLess(took, CLIENT_TIMEOUT_S)
        # A smaller client timeout bounds each address instead.
        t0 = time.monotonic()
        c = self.client(["127.0.0.1:%d" % h.port, self.a.addr], timeout=0.5)
        self.assertEqual(c.addr, self.a.addr)
        self.assertLess(time.monotonic() - t0, jqclient.DIAL_TIMEOUT)

    def test_none_serves(self):
        r = "127.0.0.1:%d" % jqtest.refused_port()
        h = jqtest.Blackhole()
        self.addCleanup(h.close)
        hang = "127.0.0.1:%d" % h.port
        with self.assertRaises(jqclient.ConnectionError) as cm:
            Client([r, hang])
        msg = str(cm.exception)
        self.assertTrue(msg.startswith("cannot connect to any of the 2 "
                                       "addresses: cannot connect to %s: "
                                       % r), msg)
        self.assertIn("; cannot connect to %s: " % hang, msg)

    def test_served_last_first(self):
        self.client(self.b.addr)        # B served last in this process
        c = self.client([self.a.addr, self.b.addr])
        self.assertEqual(c.addr, self.b.addr)
        self.client(self.a.addr)
        c = self.client([self.a.addr, self.b.addr])
        self.assertEqual(c.addr, self.a.addr)

    def test_env_list_and_tls_rules(self):
        r = "127.0.0.1:%d" % jqtest.refused_port()
        old = os.environ.get("JQ_ADDR")
        os.environ["JQ_ADDR"] = "%s,%s" % (r, self.b.addr)
        try:
            c = self.client(None)
        finally:
            if old is None:
                del os.environ["JQ_ADDR"]
            else:
                os.environ["JQ_ADDR"] = old
        self.assertEqual(c.addr, self.b.addr)
        with self.assertRaisesRegex(ValueError, "TLS is for TCP"):
            Client("tls:%s,%s" % (r, self.a.unix_path))


class FakeServer:
    """A one-connection TCP server answering each request line with
    reply(request_dict) -> bytes (None: say nothing)."""

    def __init__(self, reply):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.reply = reply
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.sock.accept()
        f = conn.makefile("rb")
        for line in f:
            out = self.reply(json.loads(line))
            if out is None:
                continue
            if out == b"CLOSE":
                break
            conn.sendall(out)
        time.sleep(0.1)
        conn.close()
        self.sock.close()


class BadServerTest(unittest.TestCase):
    """Replies no correct server sends: the client must notice, close, and
    raise ConnectionError subclasses."""

    def fake(self, reply):
        return Client(FakeServer(reply).addr, timeout=5)

    def test_reply_id_checked(self):
        c = self.fake(lambda r: b'{"id":%d,"ok":true}\n' % (r["id"] + 1))
        with self.assertRaises(jqclient.ProtocolError):
            c.ping()
        self.assertFalse(c.is_open())
        with self.assertRaises(jqclient.ConnectionError):
            c.ping()

    def test_bool_id_is_not_an_int(self):
        c = self.fake(lambda r: b'{"id":true,"ok":true}\n')
        with self.assertRaises(jqclient.ProtocolError):
            c.ping()  # our first id is 1, and true is not 1

    def test_ids_increment(self):
        seen = []

        def reply(r):
            seen.append(r["id"])
            return b'{"id":%d,"ok":true}\n' % r["id"]
        c = self.fake(reply)
        c.ping()
        c.ping()
        c.pipeline([{"op": "ping"}] * 3)
        self.assertEqual(seen, [1, 2, 3, 4, 5])

    def test_null_id_accepted_only_on_errors(self):
        c = self.fake(lambda r: b'{"id":null,"ok":false,"error":{"code":'
                      b'"frame_too_large","message":"m"}}\n')
        with self.assertRaises(jqclient.FrameTooLarge):
            c.ping()
        self.assertTrue(c.is_open())
        c = self.fake(lambda r: b'{"id":null,"ok":true}\n')
        with self.assertRaises(jqclient.ProtocolError):
            c.ping()

    def test_unsolicited_frames_close(self):
        for code, cls in (("limit", jqclient.Limit),
                          ("unauthorized", jqclient.Unauthorized)):
            c = self.fake(lambda r, code=code: b'{"id":null,"ok":false,'
                          b'"error":{"code":"%s","message":"m"}}\n'
                          % code.encode())
            with self.assertRaises(cls):
                c.ping()
            self.assertFalse(c.is_open(), code)

    def test_garbage_reply(self):
        for junk in (b"hello\n", b"[1]\n", b'{"id":1}\n', b'{"ok":true}\n',
                     b'{"id":1,"ok":false}\n', b'{"id":1,"ok":true,"x":NaN}\n',
                     b'{"id":1,"ok":"yes"}\n', b'\xff\n'):
            c = self.fake(lambda r, junk=junk: junk)
            with self.assertRaises(jqclient.ProtocolError, msg=junk):
                c.ping()
            self.assertFalse(c.is_open())

    def test_eof_before_reply(self):
        c = self.fake(lambda r: b"CLOSE")
        with self.assertRaises(jqclient.ConnectionError) as cm:
            c.ping()
        self.assertNotIsInstance(cm.exception, jqclient.ProtocolError)
        self.assertFalse(c.is_open())

    def test_reply_timeout(self):
        c = Client(FakeServer(lambda r: None).addr, timeout=0.2)
        t0 = time.monotonic()
        with self.assertRaises(jqclient.ReplyTimeout):
            c.ping()
        self.assertLess(time.monotonic() - t0, 10)
        self.assertFalse(c.is_open())

    def test_blocking_op_budget_adds_timeout_ms(self):
        # The fake answers a recv after 0.5 s; the client allows 0.2 s plus
        # the recv's timeout_ms of 1000, so the reply is in time.
        def reply(r):
            time.sleep(0.5)
            return b'{"id":%d,"ok":true,"value":1}\n' % r["id"]
        c = Client(FakeServer(reply).addr, timeout=0.2)
        self.assertEqual(c.recv("x", timeout_ms=1000), 1)

    def test_long_reply_lines(self):
        big = "x" * (3 << 20)
        c = self.fake(lambda r: b'{"id":%d,"ok":true,"value":"%s"}\n'
                      % (r["id"], big.encode()))
        self.assertEqual(c.recv("x"), big)

    def test_reply_split_and_batched(self):
        # Two replies in one segment and one reply split in pieces.
        def reply(r):
            if r["id"] == 1:
                return None  # answer 1 and 2 together below
            return b'{"id":1,"ok":true}\n{"id":2,"ok":true}\n'
        c = self.fake(reply)
        self.assertEqual([r["id"] for r in c.pipeline([{"op": "ping"}] * 2)],
                         [1, 2])


class SessionTest(ServerCase):

    def test_hello(self):
        h = self.c.hello()
        self.assertEqual(h["server"], "jqd")
        self.assertEqual(h["protocol"], jqclient.PROTOCOL_VERSION)
        self.assertIs(h["auth_required"], False)
        self.assertRegex(h["version"], r"^\d+\.\d+\.\d+")
        self.assertNotIn("id", h)
        self.assertNotIn("ok", h)

    def test_ping_and_stats(self):
        self.assertIsNone(self.c.ping())
        s = self.c.stats()
        for k in ("uptime_ms", "connections", "channels", "buffered_values",
                  "buffered_bytes", "waiting", "store", "ops"):
            self.assertIn(k, s)
        self.assertGreaterEqual(s["ops"]["ping"], 1)
        self.assertGreaterEqual(s["connections"], 1)

    def test_auth_without_token_configured(self):
        self.assertIsNone(self.c.auth("anything"))
        self.c.ping()

    def test_context_manager(self):
        with Client(self.server.addr, timeout=CLIENT_TIMEOUT_S) as c:
            self.assertTrue(c.is_open())
            c.ping()
        self.assertFalse(c.is_open())
        with self.assertRaises(jqclient.ConnectionError):
            c.ping()
        c.close()  # idempotent
        # The connection is really gone: leases taken inside come back.
        ch = self.chan(cap=2)
        self.c.send(ch, "v")
        with Client(self.server.addr, timeout=CLIENT_TIMEOUT_S) as c:
            c.recv_lease(ch, lease_ms=600000)
            self.assertEqual(self.c.stat(ch)["leased"], 1)
        self.wait_stat(ch, leased=0, len=1)
        # An exception inside still closes, and propagates.
        with self.assertRaises(KeyError):
            with Client(self.server.addr) as c:
                raise KeyError("x")
        self.assertFalse(c.is_open())

    def test_unix_socket(self):
        path = self.server.unix_path
        for addr in ("unix:" + path, path):
            c = self.client(addr)
            ch = self.chan(cap=1)
            c.send(ch, {"via": addr})
            self.assertEqual(self.c.recv(ch), {"via": addr})
            self.assertEqual(c.hello()["server"], "jqd")

    def test_env_defaults(self):
        old = {k: os.environ.get(k) for k in ("JQ_ADDR", "JQ_TOKEN")}

        def restore():
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.addCleanup(restore)
        os.environ["JQ_ADDR"] = self.server.addr
        os.environ["JQ_TOKEN"] = ""
        with Client() as c:
            self.assertEqual(c.addr, self.server.addr)
            c.ping()
        os.environ["JQ_ADDR"] = "unix:" + self.server.unix_path
        with Client() as c:
            c.ping()
        # An explicit address wins over JQ_ADDR.
        os.environ["JQ_ADDR"] = "127.0.0.1:1"
        with Client(self.server.addr) as c:
            c.ping()

    def test_raw_call_and_check(self):
        r = self.c.call("ping")
        self.assertEqual(set(r), {"id", "ok"})
        self.assertIs(r["ok"], True)
        r = self.c.call("stat", chan="no-such-chan-xyz")
        self.assertIs(r["ok"], False)
        self.assertEqual(r["error"]["code"], "not_found")
        with self.assertRaises(NotFound):
            jqclient.check(r)
        r = self.c.call("frobnicate")
        self.assertEqual(r["error"]["code"], "unknown_op")
        with self.assertRaises(jqclient.UnknownOp):
            jqclient.check(r)
        with self.assertRaises(TypeError):
            self.c.call("ping", id=5)  # ids are the client's
        self.c.ping()

    def test_raw_layer(self):
        self.c.write_raw(b'{"id":"mine","op":"ping"}\n\n[1]\n')
        self.assertEqual(self.c.read_reply(), {"id": "mine", "ok": True})
        r = self.c.read_reply()
        self.assertEqual((r["id"], r["error"]["code"]), (None, "bad_request"))
        self.c.ping()  # the client's own ids are still in step
        self.c.write_raw(b'{"id":9223372036854775807,"op":"ping"}\n')
        self.assertEqual(self.c.read_line(), b'{"id":9223372036854775807,'
                         b'"ok":true}')

    def test_values_that_cannot_be_encoded(self):
        ch = self.chan(cap=4)
        for bad in (float("nan"), float("inf"), "\udc00", {1j: 2}):
            with self.assertRaises((ValueError, TypeError)):
                self.c.send(ch, bad)
        with self.assertRaises(TypeError):
            self.c.send(ch, object())
        self.assertEqual(self.c.stat(ch)["len"], 0)
        self.c.ping()  # nothing half-sent

    def test_close_from_another_thread_aborts_a_blocked_call(self):
        ch = self.chan()
        c = self.client()
        join = self.in_thread(c.recv, ch)
        self.wait_stat(ch, receivers_waiting=1)
        c.close()
        with self.assertRaises(jqclient.ConnectionError):
            join(10)
        self.wait_stat(ch, receivers_waiting=0)

    def test_threads_share_a_client(self):
        ch = self.chan(cap=1000)
        threads = [threading.Thread(target=lambda i=i: [
            self.c.send(ch, [i, k]) for k in range(50)]) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        vals = self.c.recv_many(ch, 1000)
        self.assertEqual(len(vals), 200)
        for i in range(4):
            self.assertEqual([v[1] for v in vals if v[0] == i],
                             list(range(50)))


class ChannelTest(ServerCase):

    def test_make(self):
        name = unique_name("py-make")
        self.assertIs(self.c.make(name, 5), True)
        self.addCleanup(self.c.drop, name)
        self.assertIs(self.c.make(name, 5), False)
        with self.assertRaises(jqclient.Exists) as cm:
            self.c.make(name, 6)
        self.assertEqual(cm.exception.code, "exists")
        self.assertIs(self.c.make(unique_name("py-make0")), True)
        with self.assertRaises(jqclient.BadRequest) as cm:
            self.c.make("no spaces")
        self.assertIn("chan", cm.exception.message)
        with self.assertRaises(jqclient.BadRequest):
            self.c.make(name + "x", -1)

    def test_values_round_trip_exactly(self):
        ch = self.chan(cap=64)
        values = [None, True, False, 0, -1, 2**63 - 1, -2**63, 2**53 + 1,
                  1.5, 0.1, -0.0, 1e300, "", "text", "é中😀\n\t\"\\",
                  "\u0000", [], {}, [1, [2, [3]]], {"a": {"b": None}},
                  "x" * 1000]
        for v in values:
            self.c.send(ch, v)
        got = [self.c.recv(ch) for _ in values]
        self.assertEqual(got, values)
        for v, g in zip(values, got):
            self.assertIs(type(v), type(g), (v, g))

    def test_send_batch_and_recv_many(self):
        ch = self.chan(cap=5)
        self.assertIsNone(self.c.send_batch(ch, (i for i in range(3))))
        self.c.send_batch(ch, [3, 4])
        with self.assertRaises(Timeout):
            self.c.send_batch(ch, [5], timeout_ms=0)
        self.assertEqual(self.c.recv_many(ch, 2), [0, 1])
        self.assertEqual(self.c.recv_many(ch, 10), [2, 3, 4])
        with self.assertRaises(jqclient.BadRequest):
            self.c.send_batch(ch, list(range(6)))  # more than cap
        with self.assertRaises(jqclient.BadRequest):
            self.c.send_batch(ch, [])
        with self.assertRaises(jqclient.BadRequest):
            self.c.send_batch(self.chan(), [1])  # unbuffered
        with self.assertRaises(Timeout):
            self.c.recv_many(ch, 3, timeout_ms=0)

    def test_recv_null_value_is_not_closed(self):
        ch = self.chan(cap=2)
        self.c.send(ch, None)
        self.c.close(ch)
        self.assertIsNone(self.c.recv(ch))
        with self.assertRaises(Closed) as cm:
            self.c.recv(ch)
        self.assertEqual((cm.exception.code, cm.exception.details),
                         ("closed", {}))
        with self.assertRaises(Closed):
            self.c.recv_many(ch, 5)
        with self.assertRaises(Closed):
            self.c.recv_lease(ch, 1000)
        with self.assertRaises(Closed):
            self.c.recv_leases(ch, 5, 1000)

    def test_close_and_errors(self):
        ch = self.chan(cap=2)
        self.c.send(ch, 1)
        self.assertIsNone(self.c.close(ch))
        self.assertTrue(self.c.is_open())  # close(chan) is not close()
        with self.assertRaises(Closed):
            self.c.send(ch, 2)
        with self.assertRaises(Closed):
            self.c.close_chan(ch)
        self.assertEqual(self.c.recv(ch), 1)
        st = self.c.stat(ch)
        self.assertIs(st["closed"], True)

    def test_timeouts(self):
        ch = self.chan(cap=1)
        with self.assertRaises(Timeout) as cm:
            self.c.recv(ch, timeout_ms=0)
        self.assertIsInstance(cm.exception, JqError)
        t0 = time.monotonic()
        with self.assertRaises(Timeout):
            self.c.recv(ch, timeout_ms=50)
        self.assertGreaterEqual(time.monotonic() - t0, 0.045)
        self.c.send(ch, 1)
        with self.assertRaises(Timeout):
            self.c.send(ch, 2, timeout_ms=0)
        with self.assertRaises(Timeout):
            self.c.send(self.chan(), 2, timeout_ms=20)
        with self.assertRaises(jqclient.BadRequest):
            self.c.recv(ch, timeout_ms=-1)

    def test_client_timeout_does_not_cut_server_timeout(self):
        c = self.client(timeout=0.2)
        ch = self.chan(cap=1)
        with self.assertRaises(Timeout):  # the server's, not ReplyTimeout
            c.recv(ch, timeout_ms=600)
        self.assertTrue(c.is_open())

    def test_blocking_recv_completed_by_other_client(self):
        ch = self.chan()
        other = self.client()
        join = self.in_thread(other.recv, ch, timeout_ms=LONG_MS)
        self.wait_stat(ch, receivers_waiting=1)
        self.c.send(ch, {"hand": "off"}, timeout_ms=0)
        self.assertEqual(join(), {"hand": "off"})

    def test_drop_stat_chans(self):
        prefix = unique_name("py-chans") + "-"
        for suffix, cap in (("b", 2), ("a", 0)):
            self.c.make(prefix + suffix, cap)
        listing = self.c.chans(prefix)
        self.assertEqual([s["chan"] for s in listing],
                         [prefix + "a", prefix + "b"])
        self.assertEqual(listing[1], self.c.stat(prefix + "b"))
        st = self.c.stat(prefix + "b")
        self.assertEqual(set(st), {"chan", "cap", "len", "closed", "leased",
                                   "senders_waiting", "receivers_waiting",
                                   "sent", "received"})
        self.assertGreaterEqual(len(self.c.chans()), 2)
        self.assertIsNone(self.c.drop(prefix + "a"))
        self.c.drop(prefix + "b")
        self.assertEqual(self.c.chans(prefix), [])
        with self.assertRaises(NotFound):
            self.c.drop(prefix + "a")
        with self.assertRaises(NotFound):
            self.c.stat(prefix + "a")
        with self.assertRaises(NotFound):
            self.c.send(prefix + "a", 1)
        with self.assertRaises(NotFound):
            self.c.recv(prefix + "a")

    def test_drop_fails_blocked_receiver(self):
        ch = self.chan()
        other = self.client()
        join = self.in_thread(other.recv, ch)
        self.wait_stat(ch, receivers_waiting=1)
        self.c.drop(ch)
        with self.assertRaises(NotFound):
            join()

    def test_too_large(self):
        ch = self.chan(cap=2)
        with self.assertRaises(jqclient.TooLarge):
            self.c.send(ch, "x" * MAX_VALUE)
        self.c.send(ch, "x" * (MAX_VALUE - 2))  # exactly max_value as JSON

    def test_frame_too_large(self):
        ch = self.chan(cap=2)
        with self.assertRaises(jqclient.FrameTooLarge):
            self.c.send(ch, "x" * MAX_FRAME)
        self.assertTrue(self.c.is_open())
        self.c.ping()
        self.assertEqual(self.c.stat(ch)["len"], 0)


class LeaseTest(ServerCase):

    def test_recv_lease_ack_nack(self):
        ch = self.chan(cap=4)
        self.c.send_batch(ch, ["a", "b"])
        l1 = self.c.recv_lease(ch, lease_ms=600000)
        self.assertIsInstance(l1, Lease)
        self.assertEqual((l1.chan, l1.value, l1.redelivered), (ch, "a", 0))
        self.assertIsInstance(l1.lease, str)
        l1.nack()
        l2 = self.c.recv_lease(ch, lease_ms=600000)
        self.assertEqual((l2.value, l2.redelivered), ("a", 1))
        self.assertNotEqual(l2.lease, l1.lease)
        self.assertIsNone(self.c.ack(ch, l2.lease))
        with self.assertRaises(NotFound):
            l2.ack()
        with self.assertRaises(NotFound):
            self.c.nack(ch, l1)
        l3 = self.c.recv_lease(ch, lease_ms=600000)
        self.assertEqual(l3.value, "b")
        self.c.ack(ch, l3)  # a Lease object works as well
        self.assertEqual(self.c.stat(ch)["leased"], 0)
        with self.assertRaises(jqclient.BadRequest):
            self.c.recv_lease(self.chan(), lease_ms=1000)

    def test_lease_context_manager(self):
        ch = self.chan(cap=4)
        self.c.send_batch(ch, [1, 2])
        with self.c.recv_lease(ch, lease_ms=600000) as l:
            self.assertEqual(l.value, 1)
        self.assertTrue(l.done)
        with self.assertRaises(RuntimeError):
            with self.c.recv_lease(ch, lease_ms=600000) as l:
                raise RuntimeError("work failed")
        st = self.c.stat(ch)
        self.assertEqual((st["len"], st["leased"]), (1, 0))
        l = self.c.recv_lease(ch, lease_ms=600000)
        self.assertEqual((l.value, l.redelivered), (2, 1))
        with l:
            l.nack()  # handled inside: __exit__ does nothing more
        self.assertEqual(self.c.recv(ch), 2)

    def test_recv_leases(self):
        ch = self.chan(cap=4)
        self.c.send_batch(ch, ["x", "y", "z"])
        ls = self.c.recv_leases(ch, 2, lease_ms=600000)
        self.assertEqual([l.value for l in ls], ["x", "y"])
        self.assertEqual([l.redelivered for l in ls], [0, 0])
        ls[0].nack()
        ls = self.c.recv_leases(ch, 5, lease_ms=600000) + ls[1:]
        self.assertEqual([(l.value, l.redelivered) for l in ls],
                         [("x", 1), ("z", 0), ("y", 0)])
        for l in ls:
            l.ack()
        self.assertEqual(self.c.stat(ch)["leased"], 0)

    def test_lease_expiry(self):
        ch = self.chan(cap=2)
        self.c.send(ch, "v")
        l = self.c.recv_lease(ch, lease_ms=50)
        self.wait_stat(ch, leased=0, len=1)
        with self.assertRaises(NotFound):
            l.ack()
        self.assertEqual(self.c.recv_lease(ch, 60000).redelivered, 1)


class SelectTest(ServerCase):

    def test_select(self):
        a, b = self.chan(cap=1), self.chan(cap=1)
        self.c.send(b, "in-b")
        r = self.c.select([RecvCase(a), RecvCase(b)])
        self.assertEqual(r, (1, "in-b", False))
        self.assertEqual((r.index, r.value, r.closed), (1, "in-b", False))
        r = self.c.select([SendCase(a, {"v": 1}), {"recv": b}])
        self.assertEqual(r, (0, None, False))
        self.assertEqual(self.c.recv(a), {"v": 1})
        with self.assertRaises(Timeout):
            self.c.select([RecvCase(a), RecvCase(b)], timeout_ms=0)
        with self.assertRaises(Timeout):
            self.c.select([RecvCase(a)], timeout_ms=30)
        self.c.close(b)
        index, value, closed = self.c.select([RecvCase(a), RecvCase(b)])
        self.assertEqual((index, value, closed), (1, None, True))
        with self.assertRaises(Closed) as cm:
            self.c.select([RecvCase(a), SendCase(b, 1)])
        self.assertEqual(cm.exception.index, 1)
        with self.assertRaises(NotFound) as cm:
            self.c.select([RecvCase(a), RecvCase("py-missing-xyz")])
        self.assertEqual(cm.exception.index, 1)
        with self.assertRaises(jqclient.Limit):
            self.c.select([RecvCase(a)] * (MAX_SELECT_CASES + 1))
        with self.assertRaises(jqclient.BadRequest):
            self.c.select([])

    def test_select_null_value(self):
        a = self.chan(cap=1)
        self.c.send(a, None)
        self.assertEqual(self.c.select([RecvCase(a)]), (0, None, False))

    def test_select_woken_by_other_client(self):
        a, b = self.chan(), self.chan()
        other = self.client()
        join = self.in_thread(other.select, [RecvCase(a), RecvCase(b)],
                              timeout_ms=LONG_MS)
        self.wait_stat(b, receivers_waiting=1)
        self.c.send(b, 7)
        self.assertEqual(join(), (1, 7, False))


class PipelineTest(ServerCase):

    def test_pipeline_order_and_errors(self):
        ch = self.chan(cap=2000)
        reqs = [{"op": "send", "chan": ch, "value": i} for i in range(1500)]
        reqs.append(("recv", {"chan": ch, "max": 2000}))
        reqs.append(("stat", {"chan": "py-no-such"}))
        reqs.append(("ping",))
        replies = self.c.pipeline(reqs)
        self.assertEqual(len(replies), len(reqs))
        ids = [r["id"] for r in replies]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), len(ids))
        self.assertTrue(all(r["ok"] for r in replies[:1500]))
        self.assertEqual(replies[1500]["values"], list(range(1500)))
        self.assertEqual(replies[1501]["error"]["code"], "not_found")
        self.assertIs(replies[1502]["ok"], True)
        self.assertEqual(self.c.pipeline([]), [])
        with self.assertRaises(TypeError):
            self.c.pipeline([{"op": "ping", "id": 3}])

    def test_pipeline_big_values_both_ways(self):
        # Far more than socket buffers hold in each direction at once.
        ch = self.chan(cap=100)
        v = "y" * (MAX_VALUE - 100)
        reqs = []
        for _ in range(10):
            reqs += [{"op": "send", "chan": ch, "value": v}] * 50
            reqs += [{"op": "recv", "chan": ch}] * 50
        replies = self.c.pipeline(reqs)
        self.assertEqual(sum(1 for r in replies if r.get("value") == v), 500)

    def test_pipeline_with_blocking_request(self):
        ch = self.chan()
        other = self.client()
        join = self.in_thread(other.pipeline, [
            {"op": "recv", "chan": ch}, {"op": "ping"}])
        self.wait_stat(ch, receivers_waiting=1)
        self.c.send(ch, "go")
        r1, r2 = join()
        self.assertEqual((r1["value"], r2["ok"]), ("go", True))


class JobTest(ServerCase):

    def test_submit_wait_job(self):
        group = unique_name("py-grp")
        rc = self.chan(cap=4)
        j = self.c.submit(["sh", "-c", 'echo "$X:$JQ_GROUP"; cat; '
                           'echo 2 4 >&3; echo err >&2; exit 3'],
                          env={"X": "y"}, stdin="in\n", group=group,
                          name="n1", result_chan=rc, priority=5,
                          timeout_ms=LONG_MS)
        self.assertIsInstance(j, jqclient.JobId)
        self.assertFalse(j.duplicate)
        [res] = self.c.wait(jobs=[j], timeout_ms=LONG_MS)
        self.assertEqual((res["job"], res["state"], res["exit_code"]),
                         (j, "failed", 3))
        self.assertEqual(res["stdout"], "y:%s\nin\n" % group)
        self.assertEqual(res["stderr"], "err\n")
        self.assertEqual(res["progress"], {"done": 2, "total": 4})
        self.assertEqual((res["name"], res["group"]), ("n1", group))
        # `job` adds the names of the env (protocol 1.4), never values.
        job = self.c.job(j)
        self.assertEqual(job.pop("env_keys", ["X"]), ["X"])
        self.assertEqual(job, res)
        self.assertEqual(self.c.recv(rc, timeout_ms=LONG_MS), res)
        with self.assertRaises(NotFound):
            self.c.job(2**53 - 1)

    def test_duplicate_key(self):
        key = unique_name("py-key")
        j1 = self.c.submit(["true"], key=key)
        j2 = self.c.submit(["false"], key=key)
        self.assertEqual(j1, j2)
        self.assertTrue(j2.duplicate)
        self.assertFalse(j1.duplicate)

    def test_jobs_group_cancel(self):
        group = unique_name("py-grp")
        ids = [self.c.submit(["sleep", "30"], group=group, delay_ms=600000)
               for _ in range(3)]
        listed = self.c.jobs(group=group)
        self.assertEqual([r["job"] for r in listed], sorted(ids, reverse=True))
        self.assertNotIn("stdout", listed[0])
        self.assertEqual([r["job"] for r in self.c.jobs(group=group,
                                                        limit=1)], [ids[2]])
        self.assertEqual([r["job"] for r in self.c.jobs(group=group,
                                                        before=ids[2])],
                         [ids[1], ids[0]])
        self.assertEqual(len(self.c.jobs(group=group, state="queued")), 3)
        g = self.c.group(group)
        self.assertEqual((g["group"], g["total"], g["queued"]), (group, 3, 3))
        with self.assertRaises(Timeout) as cm:
            self.c.wait(group=group, timeout_ms=0)
        self.assertEqual(cm.exception.pending, 3)
        self.assertEqual(self.c.cancel(job=ids[0]), 1)
        self.assertEqual(self.c.cancel(job=ids[0]), 0)
        self.assertEqual(self.c.cancel(group=group), 2)
        res = self.c.wait(group=group, timeout_ms=LONG_MS)
        self.assertEqual([r["job"] for r in res], ids)
        self.assertEqual({r["state"] for r in res}, {"canceled"})
        self.assertEqual(self.c.group(group)["canceled"], 3)
        with self.assertRaises(jqclient.BadRequest):
            self.c.cancel()
        with self.assertRaises(jqclient.BadRequest):
            self.c.wait()
        with self.assertRaises(NotFound):
            self.c.cancel(job=2**53 - 1)
        with self.assertRaises(jqclient.BadRequest):
            self.c.jobs(state="nope")

    def test_submit_errors(self):
        with self.assertRaises(jqclient.BadRequest):
            self.c.submit([])
        with self.assertRaises(NotFound):
            self.c.submit(["true"], result_chan="py-no-such-chan")
        with self.assertRaises(NotFound):
            self.c.submit(["true"], parent=2**53 - 1)
        # extra fields are passed through (and ignored by this server)
        j = self.c.submit(["true"], some_future_field=1)
        self.assertEqual(self.c.wait(jobs=[j], timeout_ms=LONG_MS)[0]["state"],
                         "succeeded")


class TokenTest(unittest.TestCase):
    """A second jqd with --token-file."""

    TOKEN = "py-s3cret-token"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="jqclient-token-")
        cls.token_file = os.path.join(cls.tmp, "token")
        with open(cls.token_file, "w") as f:
            f.write("  %s\n" % cls.TOKEN)
        cls.server = Server("--token-file", cls.token_file).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.check()
        import shutil
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_token_authenticates(self):
        with Client(self.server.addr, token=self.TOKEN, timeout=30) as c:
            self.assertIs(c.hello()["auth_required"], True)
            c.ping()
        # Surrounding whitespace of the token is not part of it.
        with Client("unix:" + self.server.unix_path, token=" %s\n" % self.TOKEN,
                    timeout=30) as c:
            c.ping()

    def test_no_token(self):
        old = os.environ.pop("JQ_TOKEN", None)
        try:
            with Client(self.server.addr, timeout=30) as c:
                self.assertIs(c.hello()["auth_required"], True)
                with self.assertRaises(jqclient.Unauthorized) as cm:
                    c.ping()
                self.assertEqual(cm.exception.code, "unauthorized")
                self.assertTrue(c.is_open())  # only a wrong auth closes
                c.auth(self.TOKEN)
                c.ping()
        finally:
            if old is not None:
                os.environ["JQ_TOKEN"] = old

    def test_wrong_token(self):
        with self.assertRaises(jqclient.Unauthorized):
            Client(self.server.addr, token="guess", timeout=30)
        with Client(self.server.addr, timeout=30) as c:
            with self.assertRaises(jqclient.Unauthorized):
                c.auth("guess")
            self.assertFalse(c.is_open())

    def test_env_token(self):
        old = os.environ.get("JQ_TOKEN")
        os.environ["JQ_TOKEN"] = self.TOKEN + "\n"
        try:
            with Client(self.server.addr, timeout=30) as c:
                c.ping()
        finally:
            if old is None:
                del os.environ["JQ_TOKEN"]
            else:
                os.environ["JQ_TOKEN"] = old


class DefaultsTest(unittest.TestCase):
    """Where a client looks without an address or token (jqd(8) ACCESS)."""

    def setUp(self):
        saved = {k: os.environ.get(k) for k in
                 ("JQ_ADDR", "JQ_TOKEN", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR")}

        def restore():
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.addCleanup(restore)
        for k in saved:
            os.environ.pop(k, None)
        self.tmp = tempfile.mkdtemp(prefix="jqclient-defaults-")
        self.addCleanup(__import__("shutil").rmtree, self.tmp, True)

    def test_default_addr(self):
        if os.geteuid() == 0:
            self.assertEqual(jqclient.user_socket_path(), "/run/jqd/jqd.sock")
        else:
            os.environ["XDG_RUNTIME_DIR"] = self.tmp
            path = os.path.join(self.tmp, "jqd", "jqd.sock")
            self.assertEqual(jqclient.user_socket_path(), path)
            self.assertEqual(jqclient.default_addr(), "unix:/run/jqd/jqd.sock")
            os.mkdir(os.path.dirname(path))
            with Server(listen_args=["--unix", path]):
                self.assertEqual(jqclient.default_addr(), "unix:" + path)
                with Client() as c:
                    c.ping()

    def test_default_token_file_read_over_tcp_only(self):
        os.environ["XDG_CONFIG_HOME"] = self.tmp
        path = os.path.join(self.tmp, "jqd", "token")
        self.assertEqual(jqclient.default_token_file(), path)
        # The jqd makes the file; a client of the same user finds it.
        with Server(listen_args=["--listen", "127.0.0.1:0", "--unix",
                                 os.path.join(self.tmp, "s")]) as server:
            with Client(server.addr, timeout=30) as c:
                self.assertIs(c.hello()["auth_required"], True)
                c.ping()
            # Not sent over a Unix socket, where no token is needed.
            with open(path, "w") as f:
                f.write("another jqd's token\n")
            with Client("unix:" + server.unix_path, timeout=30) as c:
                c.ping()
            # JQ_TOKEN, even empty, wins over the file.
            os.environ["JQ_TOKEN"] = ""
            with Client(server.addr, timeout=30) as c:
                with self.assertRaises(jqclient.Unauthorized):
                    c.ping()


class ServerClosesTest(unittest.TestCase):
    """The frames a server sends before closing a connection by itself."""

    def test_max_connections(self):
        with Server("--max-connections", 1) as server:
            with Client(server.addr, timeout=30) as a:
                a.ping()
                b = Client(server.addr, timeout=30)
                with self.assertRaises(jqclient.Limit):
                    b.ping()
                self.assertFalse(b.is_open())
                a.ping()

    def test_auth_timeout(self):
        tmp = tempfile.mkdtemp(prefix="jqclient-auth-")
        self.addCleanup(__import__("shutil").rmtree, tmp, True)
        path = os.path.join(tmp, "token")
        with open(path, "w") as f:
            f.write("t")
        with Server("--token-file", path, "--auth-timeout", "300ms") as server:
            c = Client(server.addr, timeout=30)
            c.hello()
            self.assertTrue(c.poll(10), "no frame after auth_timeout")
            with self.assertRaises(jqclient.Unauthorized):
                c.hello()  # reads the frame that came meanwhile
            self.assertFalse(c.is_open())


class ShutdownTest(unittest.TestCase):

    def test_shutting_down(self):
        server = Server().start()
        try:
            with Client(server.addr, timeout=30) as c, \
                    Client(server.addr, timeout=30) as waiter:
                c.make("py-sd", 0)
                box = {}

                def blocked():
                    try:
                        waiter.recv("py-sd")
                    except jqclient.Error as e:
                        box["e"] = e
                t = threading.Thread(target=blocked, daemon=True)
                t.start()
                wait_until(lambda: c.stat("py-sd")["receivers_waiting"] == 1)
                server.proc.send_signal(signal.SIGTERM)
                t.join(30)
                self.assertIsInstance(box.get("e"), jqclient.ShuttingDown,
                                      box)
        finally:
            server.check()


class TlsTest(unittest.TestCase):
    """TLS (Client's tls, cafile, certfile, keyfile): verification on by
    default, a blocked recv woken by a reply decrypted with another."""

    @classmethod
    def setUpClass(cls):
        cls.f = jqtest.tls_files()
        cls.dir = tempfile.mkdtemp(prefix="jqclient-tls-")
        cls.server = Server(
            "--insecure-tcp", "--tls-cert", cls.f["server_cert"],
            "--tls-key", cls.f["server_key"],
            listen_args=["--listen", "tls:127.0.0.1:0", "--unix",
                         os.path.join(cls.dir, "jqd.sock")]).start()
        cls.addr = "tls:127.0.0.1:%d" % cls.server.tls_port

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_send_recv(self):
        ch = unique_name("pytls")
        with Client(self.addr, cafile=self.f["ca"],
                    timeout=CLIENT_TIMEOUT_S) as c:
            c.make(ch, cap=100)
            for i in range(100):
                c.send(ch, {"i": i, "pad": "x" * 100})
            got = [c.recv(ch)["i"] for _ in range(100)]
            self.assertEqual(got, list(range(100)))
        # The name "localhost", with a context of our own.
        ctx = jqclient.tls_context(cafile=self.f["ca"])
        with Client("localhost:%d" % self.server.tls_port, tls=ctx,
                    timeout=CLIENT_TIMEOUT_S) as c:
            self.assertIn("connections", c.stats())

    def test_address_list(self):
        # A peer that never answers the handshake costs its 2 s; a plain
        # HOST:PORT in a list with a tls: one is TLS too.
        s = jqtest.Silent()
        self.addCleanup(s.close)
        t0 = time.monotonic()
        with Client(["tls:127.0.0.1:%d" % s.port,
                     "127.0.0.1:%d" % self.server.tls_port],
                    cafile=self.f["ca"], timeout=CLIENT_TIMEOUT_S) as c:
            self.assertEqual(c.ping(), None)
            self.assertEqual(c.addr, "127.0.0.1:%d" % self.server.tls_port)
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, jqclient.DIAL_TIMEOUT - 0.1)
        self.assertLess(took, CLIENT_TIMEOUT_S)

    def test_verification_is_on(self):
        with self.assertRaisesRegex(jqclient.ConnectionError,
                                    "certificate verify failed"):
            Client(self.addr, cafile=self.f["other_ca"], timeout=10)
        with self.assertRaisesRegex(jqclient.ConnectionError,
                                    "certificate verify failed"):
            Client(self.addr, timeout=10)   # the system's CAs


if __name__ == "__main__":
    jqtest.main()
