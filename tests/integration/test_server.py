"""Session ops and framing: hello, ping, stats, id echo, pipelining, both
transports, split and CRLF frames, empty lines (SPEC 1-2, PROTOCOL.md)."""

from jqtest import VALUE_OVERHEAD, ServerTestCase, compact, main


class SessionTest(ServerTestCase):

    def test_hello_fields(self):
        r = self.ctl.ok("hello")
        self.assertEqual(r["server"], "jqd")
        self.assertRegex(r["version"], r"^\d+\.\d+\.\d+$")
        self.assertInt(r["protocol"])
        self.assertEqual(r["protocol"], 1)
        self.assertIs(r["auth_required"], False)

    def test_ping_is_bare_ok(self):
        c = self.connect()
        rid = c.request("ping")
        self.assertEqual(c.read_reply(), {"id": rid, "ok": True})

    def test_reply_starts_with_id(self):
        # PROTOCOL.md: every reply has "id" first, then "ok".
        c = self.connect()
        c.send_raw(b'{"op":"ping","id":"first"}\n')
        line, r = c.read_reply_raw()
        self.assertTrue(line.startswith(b'{"id":"first","ok":true'), line)
        c.send_raw(b'{"op":"nope"}\n')
        line, r = c.read_reply_raw()
        self.assertTrue(line.startswith(b'{"id":null,"ok":false'), line)

    def test_unknown_fields_ignored(self):
        r = self.ctl.ok("ping", extra=[1, {"x": None}], another="field")
        self.assertTrue(r["ok"])
        chan = self.make(cap=2)
        self.ctl.ok("send", chan=chan, value=1, bogus=True)
        self.assertEqual(self.ctl.ok("recv", chan=chan, nonsense={})["value"], 1)

    def test_duplicate_keys_last_wins(self):
        c = self.connect()
        c.send_raw(b'{"id":1,"op":"frobnicate","op":"ping"}\n')
        self.assertEqual(c.read_reply(), {"id": 1, "ok": True})
        c.send_raw(b'{"id":2,"op":"ping","op":"frobnicate"}\n')
        r = c.read_reply()
        self.assertEqual(r["id"], 2)
        self.assertEqual(r["error"]["code"], "unknown_op")
        c.send_raw(b'{"id":3,"op":"ping","id":4}\n')
        self.assertEqual(c.read_reply()["id"], 4)


class StatsTest(ServerTestCase):

    FIELDS = ("uptime_ms", "connections", "connections_total", "channels",
              "buffered_values", "buffered_bytes", "waiting")

    def test_stats_shape(self):
        s = self.ctl.ok("stats")
        for f in self.FIELDS:
            self.assertIn(f, s)
            self.assertInt(s[f], "stats.%s = %r" % (f, s[f]))
            self.assertGreaterEqual(s[f], 0, f)
        self.assertIsInstance(s["ops"], dict)
        for op, n in s["ops"].items():
            self.assertIsInstance(op, str)
            self.assertInt(n)
        # The stats request itself is served on a connection that exists.
        self.assertGreaterEqual(s["connections"], 1)
        self.assertGreaterEqual(s["connections_total"], s["connections"])

    def test_stats_counters_move(self):
        before = self.ctl.ok("stats")
        chan = self.make(cap=10)
        values = ["ab", 12345, {"a": [1, 2]}]
        for v in values:
            self.ctl.ok("send", chan=chan, value=v)
        extra = self.connect()
        extra.ok("ping")
        mid = self.ctl.ok("stats")
        self.assertEqual(mid["channels"], before["channels"] + 1)
        self.assertEqual(mid["buffered_values"], before["buffered_values"] + 3)
        # Each value counts its compact size and a fixed overhead.
        self.assertEqual(mid["buffered_bytes"], before["buffered_bytes"]
                         + sum(len(compact(v).encode()) + VALUE_OVERHEAD
                               for v in values))
        self.assertEqual(mid["connections"], before["connections"] + 1)
        self.assertGreaterEqual(mid["connections_total"],
                                before["connections_total"] + 1)
        self.assertGreaterEqual(mid["uptime_ms"], before["uptime_ms"])
        ops0, ops1 = before["ops"], mid["ops"]
        self.assertEqual(ops1.get("send", 0) - ops0.get("send", 0), 3)
        self.assertEqual(ops1.get("make", 0) - ops0.get("make", 0), 1)
        self.assertGreaterEqual(ops1.get("stats", 0) - ops0.get("stats", 0), 1)

        # A parked request shows in "waiting"; it leaves when abandoned.
        empty = self.make(cap=1)
        waiter = self.connect()
        waiter.request("recv", chan=empty)
        self.wait_stats(waiting=before["waiting"] + 1)
        waiter.close()
        self.wait_stats(waiting=before["waiting"])
        extra.close()
        self.wait_stats(connections=before["connections"])

        for v in values:
            self.assertEqual(self.ctl.ok("recv", chan=chan)["value"], v)
        after = self.ctl.ok("stats")
        self.assertEqual(after["buffered_values"], before["buffered_values"])
        self.assertEqual(after["buffered_bytes"], before["buffered_bytes"])
        self.ctl.ok("drop", chan=chan)
        self.ctl.ok("drop", chan=empty)
        self.assertEqual(self.ctl.ok("stats")["channels"], before["channels"])


class IdEchoTest(ServerTestCase):

    CASES = [
        "abc", "", "ünïcødé ✓", 0, 1, -1, 2**63 - 1, -2**63, 1.5, -0.25,
        True, False, None,
    ]

    def test_id_echo(self):
        c = self.connect()
        for rid in self.CASES:
            with self.subTest(id=rid):
                c.send_frame({"id": rid, "op": "ping"})
                r = c.read_reply()
                self.assertEqual(r["id"], rid)
                self.assertIs(type(r["id"]), type(rid))

    def test_id_echo_exact_text(self):
        c = self.connect()
        c.send_raw(b'{"id":9223372036854775807,"op":"ping"}\n')
        line, _ = c.read_reply_raw()
        self.assertIn(b'"id":9223372036854775807', line)
        c.send_raw(b'{"id":-9223372036854775808,"op":"ping"}\n')
        line, _ = c.read_reply_raw()
        self.assertIn(b'"id":-9223372036854775808', line)

    def test_id_absent_is_null(self):
        c = self.connect()
        c.send_raw(b'{"op":"ping"}\n')
        self.assertEqual(c.read_reply(), {"id": None, "ok": True})

    def test_id_echoed_on_errors(self):
        c = self.connect()
        for rid in ("e1", 2**63 - 1, 2.5, True, None):
            with self.subTest(id=rid):
                c.send_frame({"id": rid, "op": "frobnicate"})
                r = c.read_reply()
                self.assertIs(r["ok"], False)
                self.assertEqual(r["id"], rid)
                self.assertIs(type(r["id"]), type(rid))
                c.send_frame({"id": rid, "op": "recv", "chan": "no-such-chan-x"})
                r = c.read_reply()
                self.assertEqual(r["error"]["code"], "not_found")
                self.assertEqual(r["id"], rid)


class PipelineTest(ServerTestCase):

    def test_pipeline_1000_in_order(self):
        chan = self.make(cap=500)
        c = self.connect()
        frames = []
        for i in range(500):
            frames.append({"id": i, "op": "send", "chan": chan, "value": i})
        for i in range(500, 1000):
            frames.append({"id": i, "op": "recv", "chan": chan,
                           "timeout_ms": 0})
        replies = c.pipeline(frames)
        self.assertEqual([r["id"] for r in replies], list(range(1000)))
        self.assertTrue(all(r["ok"] for r in replies),
                        [r for r in replies if not r["ok"]][:3])
        self.assertEqual([r["value"] for r in replies[500:]], list(range(500)))
        self.assertEqual(self.stat(chan)["len"], 0)

    def test_pipeline_mixed_ops_in_order(self):
        c = self.connect()
        chan = self.name()
        frames = [
            {"id": "a", "op": "ping"},
            {"id": "b", "op": "make", "chan": chan, "cap": 3},
            {"id": "c", "op": "send", "chan": chan, "value": "x"},
            {"id": "d", "op": "frobnicate"},
            {"id": "e", "op": "stat", "chan": chan},
            {"id": "f", "op": "recv", "chan": chan},
            {"id": "g", "op": "recv", "chan": chan, "timeout_ms": 0},
            {"id": "h", "op": "hello"},
        ]
        replies = c.pipeline(frames)
        self.assertEqual([r["id"] for r in replies], list("abcdefgh"))
        self.assertEqual([r["ok"] for r in replies],
                         [True, True, True, False, True, True, False, True])
        self.assertEqual(replies[4]["len"], 1)
        self.assertEqual(replies[5]["value"], "x")
        self.assertEqual(replies[6]["error"]["code"], "timeout")


class HalfCloseTest(ServerTestCase):
    """A client that sends its requests and shuts down its writing side
    (`nc -N`) still gets every reply that was due; a request that would
    block is abandoned and the connection then ends."""

    def test_half_close_keeps_due_replies(self):
        import socket
        chan = self.make(cap=10)
        empty = self.make(cap=1)
        c = self.connect()
        frames = [{"id": i, "op": "send", "chan": chan, "value": i}
                  for i in range(1, 6)]
        frames.append({"id": 6, "op": "recv", "chan": empty})
        frames.append({"id": 7, "op": "ping"})
        c.send_raw(b"".join(c.encode(f) for f in frames))
        c.sock.shutdown(socket.SHUT_WR)
        got = [c.read_reply()["id"] for _ in range(5)]
        self.assertEqual(got, [1, 2, 3, 4, 5])
        c.expect_eof()
        # The sends were applied; the blocked recv took nothing.
        self.assertEqual(self.stat(chan)["len"], 5)
        self.assertEqual(self.stat(empty)["receivers_waiting"], 0)

    def test_half_close_idle_answers_everything(self):
        import socket
        c = self.connect()
        c.send_raw(b'{"id":1,"op":"ping"}\n{"id":2,"op":"ping"}\n')
        c.sock.shutdown(socket.SHUT_WR)
        self.assertEqual([c.read_reply()["id"] for _ in range(2)], [1, 2])
        c.expect_eof()


class TransportTest(ServerTestCase):

    def test_unix_socket(self):
        c = self.connect(unix=True)
        self.assertEqual(c.ok("hello")["server"], "jqd")
        c.ok("ping")

    def test_unix_path_is_the_requested_one(self):
        self.assertEqual(self.server.unix_path, self.server.sock_arg)

    def test_tcp_and_unix_share_channels(self):
        u = self.connect(unix=True)
        t = self.connect()
        chan = self.name()
        u.ok("make", chan=chan, cap=0)
        t.request("recv", chan=chan)
        self.wait_stat(chan, receivers_waiting=1)
        u.ok("send", chan=chan, value={"via": "unix"})
        self.assertEqual(t.read_reply()["value"], {"via": "unix"})

    def test_split_request_tiny_writes(self):
        c = self.connect()
        data = b'{"id":"split","op":"hello","pad":"\xc3\xa9\xe2\x9c\x93"}\n'
        for i in range(len(data)):
            c.send_raw(data[i:i + 1])   # TCP_NODELAY: one segment each
        r = c.read_reply()
        self.assertEqual(r["id"], "split")
        self.assertEqual(r["server"], "jqd")

    def test_frames_across_write_boundaries(self):
        c = self.connect()
        data = (b'{"id":1,"op":"ping"}\n{"id":2,"op":"ping"}\n{"id":3,'
                b'"op":"ping"}\n')
        cut = data.index(b'{"id":3') + 4
        c.send_raw(data[:cut])
        self.assertEqual(c.read_reply()["id"], 1)
        self.assertEqual(c.read_reply()["id"], 2)
        self.assertNoReply(c)
        c.send_raw(data[cut:])
        self.assertEqual(c.read_reply()["id"], 3)

    def test_crlf_endings(self):
        c = self.connect()
        c.send_raw(b'{"id":1,"op":"ping"}\r\n{"id":2,"op":"hello"}\r\n'
                   b'{"id":3,"op":"ping"}\n')
        self.assertEqual(c.read_reply(), {"id": 1, "ok": True})
        self.assertEqual(c.read_reply()["server"], "jqd")
        self.assertEqual(c.read_reply(), {"id": 3, "ok": True})
        # "\r\n" split between two writes.
        c.send_raw(b'{"id":4,"op":"ping"}\r')
        c.send_raw(b'\n')
        self.assertEqual(c.read_reply(), {"id": 4, "ok": True})

    def test_crlf_value_keeps_no_cr(self):
        chan = self.make(cap=1)
        c = self.connect()
        c.send_raw(('{"id":1,"op":"send","chan":"%s","value":"v"}\r\n'
                    % chan).encode())
        self.assertTrue(c.read_reply()["ok"])
        self.assertEqual(c.ok("recv", chan=chan)["value"], "v")

    def test_empty_lines_ignored(self):
        c = self.connect()
        c.send_raw(b'\n\r\n\n\r\n{"id":1,"op":"ping"}\n\n\n{"id":2,"op":"ping"}\n')
        self.assertEqual(c.read_reply(), {"id": 1, "ok": True})
        self.assertEqual(c.read_reply(), {"id": 2, "ok": True})
        c.send_raw(b'\n\n\r\n')
        self.assertNoReply(c)
        self.assertEqual(c.call("ping")["ok"], True)

    def test_long_reply_lines(self):
        # 200 channels with long names: a chans reply of ~30 KB on one line.
        prefix = "long-reply-" + "x" * 90 + "-"
        for i in range(200):
            self.ctl.ok("make", chan="%s%03d" % (prefix, i), cap=1)
        r = self.ctl.ok("chans", prefix=prefix)
        self.assertEqual([s["chan"] for s in r["chans"]],
                         ["%s%03d" % (prefix, i) for i in range(200)])

    def test_many_connections_each_served(self):
        clients = [self.connect(unix=(i % 2 == 1)) for i in range(20)]
        for i, c in enumerate(clients):
            c.request("ping")
        for c in clients:
            self.assertIs(c.read_reply()["ok"], True)


if __name__ == "__main__":
    main()
