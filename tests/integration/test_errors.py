"""Every error code reachable without jobs/leases/auth, and every kind of bad
input; after each, the same connection and another one still work
(SPEC 1, 3, 8; PROTOCOL.md)."""

from jqtest import VALUE_OVERHEAD, Client, ServerTestCase, compact, main

MAX_FRAME = 1024
MAX_VALUE = 512


class BadInputTest(ServerTestCase):
    server_args = ("--max-frame", MAX_FRAME, "--max-value", MAX_VALUE)

    @classmethod
    def setUpServer(cls):
        cls.other = Client(cls.server)
        # A buffered channel with values and room: if a bad request were
        # wrongly accepted, it would complete at once (no hang) and show.
        cls.buf = unique = "bad-input-buf"
        cls.ctl.ok("make", chan=unique, cap=100)
        for i in range(50):
            cls.ctl.ok("send", chan=unique, value=i)

    @classmethod
    def tearDownServer(cls):
        cls.other.close()

    def setUp(self):
        super().setUp()
        self.c = self.connect()

    def assert_usable(self, c):
        self.assertEqual(c.call("ping")["ok"], True, "same connection broken")
        self.assertEqual(self.other.call("ping")["ok"], True,
                         "other connection broken")

    def check_error(self, r, code, rid, mentions):
        self.assertIs(r["ok"], False, r)
        self.assertEqual(r["error"]["code"], code, r)
        if rid is not ...:
            self.assertEqual(r["id"], rid, r)
            self.assertIs(type(r["id"]), type(rid), r)
        self.assertTrue(r["error"]["message"], r)
        if mentions:
            self.assertRegex(r["error"]["message"], mentions,
                             "message does not name the field")

    def bad_raw(self, raw, code="bad_request", rid=None, mentions=None):
        """Send raw bytes (one line), expect one error reply, then check the
        connection and another one still work."""
        with self.subTest(raw=raw[:80]):
            self.c.send_raw(raw)
            r = self.c.read_reply()
            self.check_error(r, code, rid, mentions)
            self.assert_usable(self.c)

    def bad(self, frame, code="bad_request", mentions=None):
        """Send a frame dict with id "bad"; the reply must echo it."""
        frame = dict(frame, id="bad")
        self.bad_raw(Client.encode(frame), code, "bad", mentions)

    def assert_buf_untouched(self):
        s = self.stat(self.buf)
        self.assertEqual((s["len"], s["sent"], s["received"]), (50, 50, 0), s)

    # -- malformed frames ------------------------------------------------------

    def test_not_json(self):
        for raw in (b"hello\n", b"{\"op\":\n", b'{"id":5,"op":"ping"\n',
                    b"{'op':'ping'}\n", b'{"op":"ping",}\n',
                    b'{"op":"ping"} x\n', b'{"op":"ping"}{"op":"ping"}\n',
                    b'{"op":"ping","x":NaN}\n', b'{"op":"ping","x":01}\n',
                    b'{"id":1,"op":"ping"\x00}\n', b'{"op":"pi\x00ng"}\n',
                    b'{"op":"ping","x":"a\tb"}\n', b"}\n", b"\x00\n"):
            self.bad_raw(raw, rid=None)

    def test_not_object(self):
        for raw in (b"[1,2]\n", b'[{"op":"ping"}]\n', b"42\n", b'"ping"\n',
                    b"null\n", b"true\n"):
            self.bad_raw(raw, rid=None)

    def test_invalid_utf8(self):
        for bad in (b"\xff", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80",
                    b"\xf4\x90\x80\x80", b"\x80abc", b"\xe2\x82"):
            self.bad_raw(b'{"id":7,"op":"ping","x":"' + bad + b'"}\n', rid=...)
            self.bad_raw(b'{"id":7,"op":"ping","' + bad + b'":1}\n', rid=...)
        self.bad_raw(b'{"id":7,"op":"send","chan":"bad-input-buf","value":"\xff"}\n',
                     rid=...)
        self.assert_buf_untouched()

    def test_lone_surrogate(self):
        for esc in (b"\\ud800", b"\\udfff", b"a\\ud83dz", b"\\ude00\\ud83d"):
            self.bad_raw(b'{"id":8,"op":"ping","x":"' + esc + b'"}\n', rid=...)
        self.bad_raw(b'{"id":8,"op":"send","chan":"bad-input-buf","value":'
                     b'"\\udc00"}\n', rid=...)
        self.bad_raw(b'{"id":8,"op":"send","chan":"bad-input-buf","value":'
                     b'{"\\ud800":1}}\n', rid=...)
        self.assert_buf_untouched()
        # A proper pair is fine.
        self.c.send_raw(b'{"id":9,"op":"ping","x":"\\ud83d\\ude00"}\n')
        self.assertEqual(self.c.read_reply(), {"id": 9, "ok": True})

    def test_integer_out_of_range(self):
        self.bad_raw(b'{"id":1,"op":"ping","x":9223372036854775808}\n', rid=...)
        self.bad_raw(b'{"id":1,"op":"ping","x":-9223372036854775809}\n', rid=...)
        self.bad_raw(b'{"id":99999999999999999999,"op":"ping"}\n', rid=None)
        self.bad_raw(b'{"id":1,"op":"send","chan":"bad-input-buf",'
                     b'"value":123456789012345678901234567890}\n', rid=...)
        self.assert_buf_untouched()

    def test_id_not_scalar(self):
        for raw in (b'{"id":[1],"op":"ping"}\n', b'{"id":{"a":1},"op":"ping"}\n',
                    b'{"id":[],"op":"ping"}\n', b'{"op":"ping","id":{}}\n'):
            self.bad_raw(raw, rid=None, mentions=r"\bid\b")

    def test_op_missing_or_not_string(self):
        self.bad_raw(b'{"id":9}\n', rid=9, mentions=r"\bop\b")
        self.bad_raw(b'{"id":9,"chan":"x"}\n', rid=9, mentions=r"\bop\b")
        self.bad_raw(b'{}\n', rid=None, mentions=r"\bop\b")
        for op in (b"5", b"null", b"true", b"[]", b'{"a":"ping"}', b'["ping"]'):
            self.bad_raw(b'{"id":10,"op":' + op + b'}\n', rid=10,
                         mentions=r"\bop\b")
        # A NUL in op is bad_request, not unknown_op (PROTOCOL.md).
        self.bad_raw(b'{"id":11,"op":"ping\\u0000"}\n', rid=11,
                     mentions=r"\bop\b")

    # -- wrong field types ---------------------------------------------------

    def test_make_fields(self):
        name = self.name()
        self.bad({"op": "make"}, mentions=r"\bchan\b")
        self.bad({"op": "make", "chan": None}, mentions=r"\bchan\b")
        for chan in (5, True, ["a"], {"a": 1}):
            self.bad({"op": "make", "chan": chan}, mentions=r"\bchan\b")
        for cap in ("3", -1, 1.5, 1.0, True, [], {}, 2**31, 2**40):
            self.bad({"op": "make", "chan": name, "cap": cap},
                     mentions=r"\bcap\b")
        self.ctl.error("stat", "not_found", chan=name)
        # Largest documented cap is accepted.
        self.assertTrue(self.c.ok("make", chan=name, cap=2**31 - 1)["created"])
        self.assertEqual(self.stat(name)["cap"], 2**31 - 1)

    def test_send_fields(self):
        b = self.buf
        self.bad({"op": "send", "chan": b}, mentions=r"\bvalues?\b")
        self.bad({"op": "send"}, mentions=r"\bchan\b")
        self.bad({"op": "send", "chan": 5, "value": 1}, mentions=r"\bchan\b")
        self.bad({"op": "send", "chan": b, "value": 1, "values": [2]},
                 mentions=r"\bvalues?\b")
        self.bad({"op": "send", "chan": b, "values": []},
                 mentions=r"\bvalues\b")
        for vs in ("x", 1, {"a": 1}, True):
            self.bad({"op": "send", "chan": b, "values": vs},
                     mentions=r"\bvalues\b")
        self.bad({"op": "send", "chan": b, "values": list(range(101))},
                 mentions=r"\b(values|cap)\b")
        unbuf = self.make(cap=0)
        self.bad({"op": "send", "chan": unbuf, "values": [1]},
                 mentions=r"\b(values|unbuffered|cap)\b")
        self.assert_buf_untouched()
        self.assertEqual(self.stat(unbuf)["senders_waiting"], 0)

    def test_recv_fields(self):
        b = self.buf
        self.bad({"op": "recv"}, mentions=r"\bchan\b")
        for chan in (5, None, [b]):
            self.bad({"op": "recv", "chan": chan}, mentions=r"\bchan\b")
        for mx in (0, -1, 1.5, "2", True, [1], 2**63 - 1 + 0.5):
            self.bad({"op": "recv", "chan": b, "max": mx},
                     mentions=r"\bmax\b")
        self.assert_buf_untouched()

    def test_other_ops_fields(self):
        for op in ("stat", "close", "drop"):
            self.bad({"op": op}, mentions=r"\bchan\b")
            self.bad({"op": op, "chan": 7}, mentions=r"\bchan\b")
        for prefix in (5, True, ["a"], {"a": 1}):
            self.bad({"op": "chans", "prefix": prefix}, mentions=r"\bprefix\b")
        self.assertFalse(self.stat(self.buf)["closed"])

    def test_select_fields(self):
        b = self.buf
        case_re = r"\b(cases?|recv|send|values?)\b"
        self.bad({"op": "select"}, mentions=r"\bcases\b")
        for cases in ("x", 1, {"recv": b}, None, []):
            self.bad({"op": "select", "cases": cases}, mentions=r"\bcases?\b")
        for case in (5, "recv", [b], {}, {"bogus": b}, {"recv": 5},
                     {"recv": None}, {"send": 5, "value": 1},
                     {"send": b}, {"recv": b, "send": b, "value": 1}):
            self.bad({"op": "select", "cases": [{"recv": b}, case],
                      "timeout_ms": 0}, mentions=case_re)
        for t in (-1, 1.5, "0", True):
            self.bad({"op": "select", "cases": [{"recv": b}], "timeout_ms": t},
                     mentions=r"\btimeout_ms\b")
        self.assert_buf_untouched()

    def test_bad_channel_names(self):
        names = ["", "a" * 129, "a b", "a/b", "é", "a\u0000b", "a*",
                 "tab\there", "new\nline", "a\"b", "ünï"]
        for name in names:
            for op, extra in (("make", {"cap": 1}), ("send", {"value": 1}),
                              ("recv", {"timeout_ms": 0}), ("stat", {}),
                              ("close", {}), ("drop", {})):
                self.bad(dict({"op": op, "chan": name}, **extra),
                         mentions=r"\bchan\b")
            self.bad({"op": "select", "cases": [{"recv": name}],
                      "timeout_ms": 0}, mentions=r"\b(cases?|recv|chan)\b")
            self.bad({"op": "select", "cases": [{"send": name, "value": 1}],
                      "timeout_ms": 0}, mentions=r"\b(cases?|send|chan)\b")
        names = [s["chan"] for s in self.ctl.ok("chans")["chans"]]
        self.assertEqual(names, sorted(names))
        for n in names:
            self.assertRegex(n, r"^[A-Za-z0-9._:-]{1,128}$")

    def test_valid_channel_name_edges(self):
        for name in ("a" * 128, "A", "0", ".", "-", ":", "aZ09._:-"):
            with self.subTest(name=name):
                self.assertTrue(self.c.ok("make", chan=name, cap=1)["created"])
                self.c.ok("send", chan=name, value=name)
                self.assertEqual(self.c.ok("recv", chan=name)["value"], name)
                self.c.ok("drop", chan=name)

    def test_bad_timeout_values(self):
        b = self.buf
        for t in (-1, -2**53, 1.5, 1.0, 0.0, "100", "", True, False, [], {},
                  [100], 2**53, 2**63 - 1):
            for op, extra in (("recv", {}), ("send", {"value": "bad"}),
                              ("recv", {"max": 2}),
                              ("send", {"values": ["bad"]})):
                self.bad(dict({"op": op, "chan": b, "timeout_ms": t}, **extra),
                         mentions=r"\btimeout_ms\b")
        self.assert_buf_untouched()

    def test_good_timeout_values(self):
        chan = self.make(cap=10)
        for t in (None, 0, 1, 2**53 - 1):
            with self.subTest(timeout_ms=t):
                self.c.ok("send", chan=chan, value=t, timeout_ms=t)
                self.assertEqual(
                    self.c.ok("recv", chan=chan, timeout_ms=t)["value"], t)

    def test_max_zero_and_value_forms(self):
        b = self.buf
        self.bad({"op": "recv", "chan": b, "max": 0}, mentions=r"\bmax\b")
        self.bad({"op": "send", "chan": b, "value": 1, "values": [1]},
                 mentions=r"\bvalues?\b")
        self.bad({"op": "send", "chan": b, "values": []},
                 mentions=r"\bvalues\b")
        self.assert_buf_untouched()


class ErrorCodeTest(ServerTestCase):
    server_args = ("--max-frame", MAX_FRAME, "--max-value", MAX_VALUE)

    def assert_usable(self, c):
        self.assertEqual(c.call("ping")["ok"], True)
        self.assertEqual(self.ctl.call("ping")["ok"], True)

    def test_unknown_op(self):
        c = self.connect()
        for op in ("frobnicate", "PING", "", "recv "):
            with self.subTest(op=op):
                e = c.error(op, "unknown_op")
                if op.strip():
                    self.assertIn(op, e["message"])
                self.assert_usable(c)

    def test_not_found(self):
        c = self.connect()
        missing = self.name()
        for op, fields in (("send", {"value": 1}), ("send", {"values": [1]}),
                           ("recv", {}), ("recv", {"max": 3}),
                           ("recv", {"timeout_ms": 0}), ("stat", {}),
                           ("close", {}), ("drop", {})):
            with self.subTest(op=op, fields=fields):
                e = c.error(op, "not_found", chan=missing, **fields)
                self.assertTrue(e["message"])
        c.error("select", "not_found", cases=[{"recv": missing}])
        c.error("select", "not_found", cases=[{"send": missing, "value": 1}])
        self.ctl.error("stat", "not_found", chan=missing)
        self.assert_usable(c)

    def test_exists(self):
        c = self.connect()
        chan = self.make(cap=2)
        e = c.error("make", "exists", chan=chan, cap=3)
        self.assertTrue(e["message"])
        c.error("make", "exists", chan=chan, cap=0)
        c.error("make", "exists", chan=chan)  # default cap is 0
        self.assertIs(c.ok("make", chan=chan, cap=2)["created"], False)
        self.assertEqual(self.stat(chan)["cap"], 2)
        self.assert_usable(c)

    def test_closed(self):
        c = self.connect()
        chan = self.make(cap=2)
        c.ok("close", chan=chan)
        c.error("send", "closed", chan=chan, value=1)
        c.error("send", "closed", chan=chan, values=[1, 2])
        c.error("send", "closed", chan=chan, value=1, timeout_ms=0)
        c.error("close", "closed", chan=chan)
        self.assertEqual(self.stat(chan)["len"], 0)
        self.assert_usable(c)

    def test_timeout(self):
        # PROTOCOL.md: {"code":"timeout","message":"timed out after N ms"}.
        c = self.connect()
        empty, full, unbuf = self.make(cap=1), self.make(cap=1), self.make(cap=0)
        c.ok("send", chan=full, value=1)
        for n in (0, 50):
            for op, fields in (("recv", {"chan": empty}),
                               ("recv", {"chan": empty, "max": 5}),
                               ("recv", {"chan": unbuf}),
                               ("send", {"chan": full, "value": 2}),
                               ("send", {"chan": full, "values": [2]}),
                               ("send", {"chan": unbuf, "value": 2}),
                               ("select", {"cases": [{"recv": empty},
                                                     {"send": full, "value": 2}]})):
                with self.subTest(op=op, fields=fields, timeout_ms=n):
                    e = c.error(op, "timeout", timeout_ms=n, **fields)
                    self.assertIn("timed out after %d ms" % n, e["message"])
        self.assertEqual(self.stat(full)["len"], 1)
        self.assert_usable(c)

    def test_too_large(self):
        c = self.connect()
        chan = self.make(cap=10)
        ok_value = "x" * (MAX_VALUE - 2)           # compact: 512 bytes
        big_value = "x" * (MAX_VALUE - 1)          # compact: 513 bytes
        self.assertEqual(len(compact(ok_value)), MAX_VALUE)
        c.ok("send", chan=chan, value=ok_value)
        e = c.error("send", "too_large", chan=chan, value=big_value)
        self.assertRegex(e["message"], r"value|512|513")
        c.error("send", "too_large", chan=chan, values=[1, big_value])
        c.error("send", "too_large", chan=chan, value={"k": "y" * 600})
        c.error("select", "too_large",
                cases=[{"send": chan, "value": big_value}], timeout_ms=0)
        self.assertEqual(self.stat(chan)["len"], 1)
        self.assertEqual(c.ok("recv", chan=chan)["value"], ok_value)
        self.assertEqual(self.stat(chan)["len"], 0)
        self.assert_usable(c)

    def test_too_large_counts_compact_form(self):
        # 255 ones with ", " separators: 766 bytes on the wire, 511 compact.
        c = self.connect()
        chan = self.make(cap=1)
        spaced = "[" + ", ".join(["1"] * 255) + "]"
        self.assertGreater(len(spaced), MAX_VALUE)
        c.send_raw(('{"id":1,"op":"send","chan":"%s","value":%s}\n'
                    % (chan, spaced)).encode())
        r = c.read_reply()
        self.assertIs(r["ok"], True, r)
        c.request("recv", chan=chan)
        line, r = c.read_reply_raw()
        self.assertEqual(r["value"], [1] * 255)
        self.assertIn(("[" + ",".join(["1"] * 255) + "]").encode(), line)

    def test_frame_too_large(self):
        c = self.connect()
        head = b'{"id":1,"op":"ping","pad":"'
        tail = b'"}'
        exact = head + b"p" * (MAX_FRAME - len(head) - len(tail)) + tail
        self.assertEqual(len(exact), MAX_FRAME)
        c.send_raw(exact + b"\n")
        self.assertEqual(c.read_reply(), {"id": 1, "ok": True})
        c.send_raw(exact + b"\r\n")
        self.assertEqual(c.read_reply(), {"id": 1, "ok": True})

        over = head + b"p" * (MAX_FRAME + 1 - len(head) - len(tail)) + tail
        self.assertEqual(len(over), MAX_FRAME + 1)
        for ending in (b"\n", b"\r\n"):
            c.send_raw(over + ending + b'{"id":2,"op":"ping"}\n')
            r = c.read_reply()
            self.assertEqual(r["error"]["code"], "frame_too_large", r)
            self.assertIsNone(r["id"])
            self.assertEqual(c.read_reply(), {"id": 2, "ok": True})
        self.assert_usable(c)

    def test_frame_too_large_huge_line_one_error(self):
        c = self.connect()
        chunk = b"z" * 1000
        for _ in range(200):
            c.send_raw(chunk)
        c.send_raw(b'\n{"id":3,"op":"ping"}\n')
        r = c.read_reply()
        self.assertEqual(r["error"]["code"], "frame_too_large")
        self.assertEqual(c.read_reply(), {"id": 3, "ok": True},
                         "exactly one error per oversized line")
        self.assert_usable(c)

    def test_frame_too_large_reported_before_newline(self):
        c = self.connect()
        c.send_raw(b'{"id":4,"op":"ping","pad":"' + b"q" * (3 * MAX_FRAME))
        r = c.read_reply()
        self.assertEqual(r["error"]["code"], "frame_too_large")
        self.assertIsNone(r["id"])
        # The rest of the line, with more JSON-looking text, is discarded.
        c.send_raw(b'q"}{"id":5,"op":"ping"} more junk \n{"id":6,"op":"ping"}\n')
        self.assertEqual(c.read_reply(), {"id": 6, "ok": True})
        self.assert_usable(c)

    def test_frame_too_large_then_pipelined(self):
        c = self.connect()
        over = b"[" + b"1," * MAX_FRAME + b"1]"
        c.send_raw(b'{"id":"a","op":"ping"}\n' + over + b'\n{"id":"b","op":"ping"}\n'
                   + over + b"\r\n" + b'{"id":"c","op":"hello"}\n')
        self.assertEqual(c.read_reply()["id"], "a")
        self.assertEqual(c.read_reply()["error"]["code"], "frame_too_large")
        self.assertEqual(c.read_reply()["id"], "b")
        self.assertEqual(c.read_reply()["error"]["code"], "frame_too_large")
        self.assertEqual(c.read_reply()["id"], "c")

    def test_reply_may_exceed_max_frame(self):
        # PROTOCOL.md: replies can be longer than max_frame (chans).
        prefix = "wide-" + "w" * 100 + "-"
        for i in range(20):
            self.ctl.ok("make", chan="%s%02d" % (prefix, i), cap=i)
        c = self.connect()
        rid = c.request("chans", prefix=prefix)
        line, r = c.read_reply_raw()
        self.assertEqual(r["id"], rid)
        self.assertGreater(len(line), MAX_FRAME)
        self.assertEqual(len(r["chans"]), 20)
        self.assertEqual([s["cap"] for s in r["chans"]], list(range(20)))

    def test_recv_max_stops_before_max_frame(self):
        chan = self.make(cap=20)
        values = [("%02d" % i) * 150 for i in range(10)]   # 302 bytes each
        for v in values:
            self.ctl.ok("send", chan=chan, value=v)
        c = self.connect()
        got = []
        while len(got) < 10:
            c.request("recv", chan=chan, max=10, timeout_ms=0)
            line, r = c.read_reply_raw()
            self.assertTrue(r["ok"], r)
            self.assertGreaterEqual(len(r["values"]), 1)
            if len(r["values"]) > 1:
                self.assertLessEqual(len(line), MAX_FRAME,
                                     "recv max reply over max_frame")
            got += r["values"]
        self.assertEqual(got, values)
        self.assertEqual(self.stat(chan)["received"], 10)

    def test_recv_max_two_big_values_do_not_fit(self):
        # Two 512-byte values make a reply over 1024 bytes: one at a time.
        chan = self.make(cap=5)
        v = "v" * (MAX_VALUE - 2)
        for _ in range(3):
            self.ctl.ok("send", chan=chan, value=v)
        r = self.ctl.ok("recv", chan=chan, max=3)
        self.assertEqual(r["values"], [v])
        r = self.ctl.ok("recv", chan=chan, max=1)
        self.assertEqual(r["values"], [v])


# Values of 300, 300, 300 and 100 compact bytes fill max-buffered-bytes
# exactly, since each also counts VALUE_OVERHEAD (PROTOCOL.md 8).
O = VALUE_OVERHEAD


class LimitTest(ServerTestCase):
    server_args = ("--max-channels", 3, "--max-select-cases", 4,
                   "--max-buffered-bytes", 1000 + 4 * O)

    def test_limits(self):
        # One test, because the channel limit is server-wide; sub-tests so
        # one failing check does not hide the others.
        for check in (self.check_max_channels, self.check_buffered_bytes,
                      self.check_select_cases,
                      self.check_buffered_bytes_select):
            with self.subTest(check=check.__name__):
                check()

    def check_max_channels(self):
        c = self.connect()
        names = [self.name("lim") for _ in range(4)]
        for n in names[:3]:
            self.assertTrue(c.ok("make", chan=n, cap=100)["created"])
        e = c.error("make", "limit", chan=names[3], cap=1)
        self.assertRegex(e["message"], r"(?i)chan")
        self.assertEqual(c.error("stat", "not_found", chan=names[3])["code"],
                         "not_found")
        # Existing channel: still ok, created false.
        self.assertIs(c.ok("make", chan=names[0], cap=100)["created"], False)
        self.assertEqual(self.ctl.ok("stats")["channels"], 3)
        c.ok("drop", chan=names[2])
        self.assertTrue(c.ok("make", chan=names[3], cap=100)["created"])
        c.error("make", "limit", chan=names[2], cap=100)
        c.ok("ping")
        self.chans = [names[0], names[1], names[3]]

    def check_buffered_bytes(self):
        c = self.connect()
        a, b, _ = self.chans
        v = "b" * 298                     # compact: 300 bytes
        for i in range(3):
            c.ok("send", chan=a if i < 2 else b, value=v)
        self.assertEqual(self.ctl.ok("stats")["buffered_bytes"], 900 + 3 * O)
        # No timeout_ms: must answer limit at once instead of waiting.
        e = c.error("send", "limit", chan=a, value=v)
        self.assertRegex(e["message"], r"(?i)buffer|bytes")
        c.error("send", "limit", chan=b, values=["x", v])
        s = self.ctl.ok("stats")
        self.assertEqual((s["buffered_values"], s["buffered_bytes"]),
                         (3, 900 + 3 * O))
        self.assertEqual(self.stat(a)["len"], 2)
        self.assertEqual(self.stat(b)["len"], 1)
        c.ok("send", chan=b, value="x" * 98)        # 100 bytes: exactly full
        c.error("send", "limit", chan=b, value=1)
        self.assertEqual(c.ok("recv", chan=a)["value"], v)
        c.ok("send", chan=a, value=v)
        self.assertEqual(self.ctl.ok("stats")["buffered_bytes"], 1000 + 4 * O)
        for ch, n in ((a, 2), (b, 2)):
            self.assertEqual(len(c.ok("recv", chan=ch, max=10)["values"]), n)
        self.assertEqual(self.ctl.ok("stats")["buffered_bytes"], 0)

    def check_buffered_bytes_select(self):
        # A select send case is a send: it cannot bypass the limit either.
        c = self.connect()
        a, b, _ = self.chans
        v = "b" * 298
        c.ok("send", chan=a, values=[v, v, v])
        e = c.error("select", "limit", cases=[{"send": b, "value": v}])
        self.assertRegex(e["message"], r"(?i)buffer|bytes")
        self.assertEqual(self.ctl.ok("stats")["buffered_bytes"], 900 + 3 * O)
        self.assertEqual(self.stat(b)["len"], 0)
        c.ok("recv", chan=a, max=3)

    def check_select_cases(self):
        c = self.connect()
        a = self.chans[0]
        four = [{"recv": a}] * 4
        c.error("select", "timeout", cases=four, timeout_ms=0)
        e = c.error("select", "limit", cases=four + [{"recv": a}], timeout_ms=0)
        self.assertRegex(e["message"], r"(?i)case")
        c.error("select", "limit", cases=[{"recv": a}] * 65)
        c.ok("send", chan=a, value=7)
        r = c.ok("select", cases=four, timeout_ms=0)
        self.assertIn(r["index"], range(4))
        self.assertEqual(r["value"], 7)


class ConnectionLimitTest(ServerTestCase):
    server_args = ("--max-connections", 5)

    def test_max_connections(self):
        # ctl is connection 1; open 4 more.
        extra = [self.connect() for _ in range(4)]
        for c in extra:
            c.ok("ping")
        self.assertEqual(self.ctl.ok("stats")["connections"], 5)
        sixth = Client(self.server)
        self.addCleanup(sixth.close)
        lines = sixth.expect_eof()
        self.assertEqual(len(lines), 1, lines)
        r = Client.parse_reply(lines[0])
        self.assertIs(r["ok"], False)
        self.assertIsNone(r["id"])
        self.assertEqual(r["error"]["code"], "limit")
        self.assertRegex(r["error"]["message"], r"(?i)conn")
        # Unix connections count too.
        seventh = Client(self.server, unix=True)
        self.addCleanup(seventh.close)
        lines = seventh.expect_eof()
        self.assertEqual(len(lines), 1, lines)
        self.assertEqual(Client.parse_reply(lines[0])["error"]["code"], "limit")
        # The five still work.
        for c in extra + [self.ctl]:
            c.ok("ping")
        extra[0].close()
        self.wait_stats(connections=4)
        fresh = self.connect()
        self.assertEqual(fresh.ok("hello")["server"], "jqd")
        self.assertEqual(self.ctl.ok("stats")["connections"], 5)


if __name__ == "__main__":
    main()
