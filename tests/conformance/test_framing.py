"""Framing, requests and replies, ordering: PROTOCOL.md sections 2, 3, 4,
5 and the frame-level part of 7."""

import json
import time

import harness
from harness import (TARGET, Any, Case, Exact, check_err, check_ok)


def pad_frame(total, rid=1, op="ping"):
    """A frame of exactly `total` bytes (without newline)."""
    head = '{"id":%d,"op":"%s","pad":"' % (rid, op)
    tail = '"}'
    n = total - len(head) - len(tail)
    assert n >= 0
    return (head + "x" * n + tail).encode()


class LinesTest(Case):
    """Section 2: what a frame is."""

    def test_lf_and_crlf(self):
        self.c.write(b'{"id":1,"op":"ping"}\n{"id":2,"op":"ping"}\r\n')
        for rid in (1, 2):
            line = self.c.line()
            self.assertFalse(line.endswith(b"\r"), "reply ends with \\r\\n")
            self.assertEqual(json.loads(line), {"id": rid, "ok": True})

    def test_frame_split_across_writes(self):
        self.c.write(b'{"id":1,"o')
        self.assertTrue(self.c.blocked(0.1), "a partial frame was answered")
        self.c.write(b'p":"ping"}')
        self.assertTrue(self.c.blocked(0.1), "a frame without \\n was answered")
        self.c.write(b'\n')
        check_ok(self.c.expect(1))

    def test_last_line_without_newline_is_not_executed(self):
        ch = self.make(cap=2)
        self.c.write(b'{"id":1,"op":"ping"}\n{"id":2,"op":"send","chan":"%s",'
                     b'"value":1}' % ch.encode())
        self.c.c.shutdown_write()
        check_ok(self.c.expect(1))
        self.c.assert_eof("after end of input")
        self.assertEqual(self.stat(ch)["len"], 0, "unterminated line executed")

    def test_empty_lines_ignored(self):
        self.c.write(b'\n\r\n\n{"id":1,"op":"ping"}\n\r\n')
        check_ok(self.c.expect(1))
        self.assertTrue(self.c.blocked(0.1), "an empty line was answered")
        check_ok(self.c.call("ping"))

    def test_blank_line_is_bad_request(self):
        for raw in (b"   \n", b"\t\n", b" \r\n"):
            self.c.write(raw)
            check_err(self.c.reply(), "bad_request", what=repr(raw))
            check_ok(self.c.call("ping"))

    def test_whitespace_around_and_inside(self):
        self.c.write(b' \t{ "id" : 7 ,\t"op"  :  "ping" } \t\r\n')
        r = self.c.reply()
        check_ok(r)
        self.assertEqual(r["id"], 7)

    def test_one_object_per_line(self):
        for raw in (b'{"id":1,"op":"ping"} x\n',
                    b'{"id":1,"op":"ping"}{"id":2,"op":"ping"}\n',
                    b'{"id":1,"op":"ping"},\n'):
            self.c.write(raw)
            r = check_err(self.c.reply(), "bad_request", what=repr(raw))
            self.assertIsNone(r["id"], raw)
            check_ok(self.c.call("ping"))  # one reply only, conn usable

    def test_not_an_object(self):
        for raw in (b"[1,2]\n", b'"ping"\n', b"42\n", b"true\n", b"false\n",
                    b"null\n", b'[{"id":1,"op":"ping"}]\n'):
            self.c.write(raw)
            r = check_err(self.c.reply(), "bad_request", what=repr(raw))
            self.assertIsNone(r["id"])
            check_ok(self.c.call("ping"))

    def test_not_json(self):
        for raw in (b'{"id":1,"op":"ping"\n', b"hello\n", b"{'op':'ping'}\n",
                    b'{"op":"ping",}\n', b'{"op":"ping","x":NaN}\n',
                    b'{"op":"ping","x":01}\n', b"}\n"):
            self.c.write(raw)
            r = check_err(self.c.reply(), "bad_request", what=repr(raw))
            self.assertIsNone(r["id"], raw)
            check_ok(self.c.call("ping"))


class EncodingTest(Case):
    """Section 2: UTF-8, surrogates, control bytes, U+0000."""

    def test_invalid_utf8(self):
        for bad in (b"\xff", b"\xc3(", b"\xc0\xaf", b"\xed\xa0\x80",
                    b"\xf4\x90\x80\x80", b"\x80"):
            self.c.write(b'{"id":1,"op":"ping","x":"' + bad + b'"}\n')
            r = check_err(self.c.reply(), "bad_request", what=repr(bad))
            self.assertIsNone(r["id"], "id of an invalid UTF-8 frame")
            check_ok(self.c.call("ping"))

    def test_byte_order_mark(self):
        self.c.write(b'\xef\xbb\xbf{"id":1,"op":"ping"}\n')
        check_err(self.c.reply(), "bad_request", what="BOM")
        check_ok(self.c.call("ping"))

    def test_lone_surrogate(self):
        for esc in (b"\\udc00", b"\\ud800", b"a\\ud83dz", b"\\ude00\\ud83d"):
            self.c.write(b'{"id":1,"op":"ping","x":"' + esc + b'"}\n')
            check_err(self.c.reply(), "bad_request", what=repr(esc))
        ch = self.make(cap=1)
        self.c.write(b'{"id":2,"op":"send","chan":"%s","value":"\\udc00"}\n'
                     % ch.encode())
        check_err(self.c.reply(), "bad_request")
        self.assertEqual(self.stat(ch)["len"], 0)

    def test_surrogate_pair_is_fine(self):
        ch = self.make(cap=1)
        self.c.write(b'{"id":3,"op":"send","chan":"%s","value":"\\ud83d\\ude00"}\n'
                     % ch.encode())
        check_ok(self.c.expect(3))
        r = check_ok(self.c.call("recv", chan=ch), {"value": Any})
        self.assertEqual(r["value"], "\U0001F600")

    def test_raw_control_bytes(self):
        for raw in (b'{"id":1,"op":"ping","x":"a\tb"}\n',
                    b'{"id":1,"op":"ping","x":"a\x01b"}\n',
                    b'{"id":1,"op":"ping","x":"a\x00b"}\n',
                    b'{"id":1,"op":"ping"}\x00\n',
                    b'\x00{"id":1,"op":"ping"}\n'):
            self.c.write(raw)
            check_err(self.c.reply(), "bad_request", what=repr(raw))
            check_ok(self.c.call("ping"))

    def test_escaped_nul_in_values_and_ids(self):
        ch = self.make(cap=2)
        self.c.write(b'{"id":"a\\u0000b","op":"send","chan":"%s",'
                     b'"value":"x\\u0000y"}\n' % ch.encode())
        r = check_ok(self.c.reply())
        self.assertEqual(r["id"], "a\x00b")
        r = check_ok(self.c.call("recv", chan=ch), {"value": Any})
        self.assertEqual(r["value"], "x\x00y")

    def test_nul_in_text_fields(self):
        ch = self.make(cap=2)
        self.api.send(ch, 1)
        lease = self.api.recv_lease(ch, 600000)
        bad = [("ping\x00", {}),
               ("stat", {"chan": ch + "\x00"}),
               ("make", {"chan": "\x00"}),
               ("chans", {"prefix": TARGET.prefix + "\x00"}),
               ("auth", {"token": "a\x00b"}),
               ("ack", {"chan": ch, "lease": lease.lease + "\x00"})]
        for op, fields in bad:
            r = self.c.call(op, **fields)
            check_err(r, "bad_request", what="%s %r" % (op, fields))
            self.assertNotEqual(r["id"], None)
        lease.ack()


class NulKeyTest(Case):

    def test_nul_in_an_object_key(self):
        # Not representable by jqd's JSON library: the whole frame is
        # rejected as not valid JSON, even in a value or unknown field.
        ch = self.make(cap=1)
        for raw in (b'{"id":1,"op":"ping","x\\u0000":1}\n',
                    b'{"id":1,"op":"send","chan":"%s","value":{"k\\u0000":1}}\n'
                    % ch.encode()):
            self.c.write(raw)
            r = check_err(self.c.reply(), "bad_request", what=raw)
            self.assertIsNone(r["id"])
        self.assertEqual(self.stat(ch)["len"], 0)


class NumbersTest(Case):
    """Section 2: numbers and integer fields."""

    def test_integer_out_of_int64(self):
        for raw in (b'{"id":1,"op":"ping","x":9223372036854775808}\n',
                    b'{"id":1,"op":"ping","x":-9223372036854775809}\n',
                    b'{"id":1,"op":"ping","x":[123456789012345678901234]}\n'):
            self.c.write(raw)
            check_err(self.c.reply(), "bad_request", what=repr(raw))
        self.c.write(b'{"id":9223372036854775807,"op":"ping",'
                     b'"x":-9223372036854775808}\n')
        self.assertEqual(self.c.line(), b'{"id":9223372036854775807,"ok":true}')

    def test_real_overflow_and_underflow(self):
        self.c.write(b'{"id":1,"op":"ping","x":1e400}\n')
        check_err(self.c.reply(), "bad_request")
        ch = self.make(cap=1)
        self.c.write(b'{"id":2,"op":"send","chan":"%s","value":1e-400}\n'
                     % ch.encode())
        check_ok(self.c.expect(2))
        # With value_text the text is kept (section 2): the underflow is
        # the receiver's to read.
        self.assertIn(b'"value":1e-400' if "value_text" in TARGET.features()
                      else b'"value":0.0', self.raw_recv(ch))

    def raw_recv(self, ch):
        self.c.write(b'{"id":99,"op":"recv","chan":"%s"}\n' % ch.encode())
        return self.c.line()

    def test_integer_fields_take_only_integer_literals(self):
        name = self.name()
        for cap in (b"1.0", b"1e2", b'"1"', b"true", b"-1", b"2147483648"):
            self.c.write(b'{"id":1,"op":"make","chan":"%s","cap":%s}\n'
                         % (name.encode(), cap))
            r = check_err(self.c.reply(), "bad_request", what=cap)
            self.assertIn("cap", r["error"]["message"],
                          "SPEC 1: the message names the field")
        self.c.err("stat", "not_found", chan=name)
        self.track(name)
        self.c.ok("make", {"created": Exact(True)}, chan=name, cap=2147483647)


class ValueTextTest(Case):
    """Section 2: values come back as sent, less the whitespace outside
    strings (feature value_text, 12.3)."""

    CASES = [
        (b"0.1", b"0.1"), (b"1e2", b"1e2"), (b"1E+2", b"1E+2"),
        (b"2.50", b"2.50"), (b"-0", b"-0"), (b"-0.0", b"-0.0"),
        (b"19.99", b"19.99"),
        (b"12345678901234567", b"12345678901234567"),
        (b"-9223372036854775808", b"-9223372036854775808"),
        (b'[ 1 , { "b" : 2 , "a" : [ ] } ]', b'[1,{"b":2,"a":[]}]'),
        (b'{"a":1,"b":2,"a":3}', b'{"a":1,"b":2,"a":3}'),
        (b'"\\u00e9\\u4e2d"', b'"\\u00e9\\u4e2d"'),
        ('"\u00e9 \u4e2d"'.encode(), '"\u00e9 \u4e2d"'.encode()),
        (b'"\\ud83d\\ude00"', b'"\\ud83d\\ude00"'),
        (b'"\\b\\f\\n\\r\\t\\"\\\\"', b'"\\b\\f\\n\\r\\t\\"\\\\"'),
        (b'"\\u0001\\u001f\\u001F"', b'"\\u0001\\u001f\\u001F"'),
        (b'"\\/"', b'"\\/"'), (b'"\\u0000"', b'"\\u0000"'),
        (b'" a\\tb "', b'" a\\tb "'),
        (b"true", b"true"), (b"null", b"null"),
    ]

    def test_text_as_sent(self):
        if "value_text" not in TARGET.features():
            self.skipTest("the server does not list 'value_text'")
        ch = self.make(cap=len(self.CASES))
        for sent, _ in self.CASES:
            self.c.write(b'{"id":1,"op":"send","chan":"%s","value":%s}\n'
                         % (ch.encode(), sent))
            check_ok(self.c.reply(), what=sent)
        for sent, want in self.CASES:
            self.c.write(b'{"id":2,"op":"recv","chan":"%s"}\n' % ch.encode())
            line = self.c.line()
            self.assertIn(b'"value":' + want, line,
                          "value %r came back as %r" % (sent, line))
            self.assertNotIn(b"\n", line)


class IdTest(Case):
    """Section 3.3: id echo."""

    def test_echo_table(self):
        cases = [
            (b'"req-7"', b'"req-7"'), (b"true", b"true"),
            (b"false", b"false"), (b"0", b"0"), (b"-0", b"0"),
            (b"9223372036854775807", b"9223372036854775807"),
            (b"-9223372036854775808", b"-9223372036854775808"),
            (b"1.10", b"1.1000000000000001"), (b"1e2", b"100.0"),
            (b"0.1", b"0.10000000000000001"), (b"null", b"null"),
            (b'"\\u00e9"', '"\u00e9"'.encode()),
        ]
        for sent, want in cases:
            self.c.write(b'{"id":%s,"op":"ping"}\n' % sent)
            self.assertEqual(self.c.line(), b'{"id":' + want + b',"ok":true}',
                             "id %r" % sent)
        self.c.write(b'{"op":"ping"}\n')
        self.assertEqual(self.c.line(), b'{"id":null,"ok":true}')

    def test_non_scalar_id(self):
        for rid in (b"[1]", b'{"a":1}', b"[]", b"{}"):
            self.c.write(b'{"id":%s,"op":"ping"}\n' % rid)
            r = check_err(self.c.reply(), "bad_request", what=rid)
            self.assertIsNone(r["id"])

    def test_id_echoed_on_errors(self):
        for raw, code in ((b'{"id":"e1"}\n', "bad_request"),
                          (b'{"id":"e2","op":5}\n', "bad_request"),
                          (b'{"id":"e3","op":"frobnicate"}\n', "unknown_op"),
                          (b'{"id":"e4","op":"stat"}\n', "bad_request")):
            self.c.write(raw)
            r = check_err(self.c.reply(), code, what=raw)
            self.assertEqual(r["id"], json.loads(raw)["id"])

    def test_reply_starts_with_id_then_ok(self):
        self.c.write(b'{"op":"hello","id":"x"}\n')
        self.assertTrue(self.c.line().startswith(b'{"id":"x","ok":true,'))
        self.c.write(b'{"op":"nope","id":"y"}\n')
        self.assertTrue(self.c.line().startswith(b'{"id":"y","ok":false,'))
        self.c.write(b'[]\n')
        self.assertTrue(self.c.line().startswith(b'{"id":null,"ok":false,'))


class RequestTest(Case):
    """Section 3.1: op and unknown fields."""

    def test_unknown_op(self):
        for op in ("frobnicate", "PING", "Ping", "", "x" * 200):
            r = self.c.err(op, "unknown_op")
            self.assertIn(op[:64], r["error"]["message"])
            self.assertLessEqual(len(r["error"]["message"]), 64 + 40,
                                 "the op name is cut to 64 bytes")

    def test_op_missing_or_not_a_string(self):
        for raw in (b'{"id":1}\n', b'{"id":1,"op":null}\n',
                    b'{"id":1,"op":7}\n', b'{"id":1,"op":["ping"]}\n',
                    b'{"id":1,"op":{"x":1}}\n', b'{"id":1,"op":true}\n'):
            self.c.write(raw)
            r = check_err(self.c.reply(), "bad_request", what=raw)
            self.assertEqual(r["id"], 1)
            self.assertIn("op", r["error"]["message"])

    def test_unknown_fields_ignored(self):
        self.c.ok("ping", extra=[1, {"x": None}], more={"deep": True})
        ch = self.make(cap=1)
        self.c.ok("send", chan=ch, value=5, bogus=1)
        self.assertEqual(self.c.ok("recv", {"value": Any}, chan=ch,
                                   nonsense={})["value"], 5)

    def test_duplicate_keys_last_wins(self):
        self.c.write(b'{"id":1,"op":"frobnicate","op":"ping"}\n')
        check_ok(self.c.expect(1))
        self.c.write(b'{"id":1,"id":2,"op":"ping"}\n')
        check_ok(self.c.expect(2))

    def test_reply_longer_than_max_frame(self):
        # A long id comes back in a reply that is longer than the request.
        n = TARGET.max_frame - 40
        rid = "i" * n
        self.c.write(b'{"id":"%s","op":"nope"}\n' % rid.encode())
        r = check_err(self.c.reply(), "unknown_op")
        self.assertEqual(r["id"], rid)


class MaxFrameTest(Case):
    """Section 2: max_frame."""

    def test_exactly_max_frame_accepted(self):
        self.c.write(pad_frame(TARGET.max_frame, 1) + b"\n")
        check_ok(self.c.expect(1))
        self.c.write(pad_frame(TARGET.max_frame, 2) + b"\r\n")
        check_ok(self.c.expect(2))

    def test_one_byte_over(self):
        self.c.write(pad_frame(TARGET.max_frame + 1, 1) + b"\n")
        r = check_err(self.c.reply(), "frame_too_large")
        self.assertIsNone(r["id"])
        check_ok(self.c.call("ping"))

    def test_answered_before_the_line_ends(self):
        ch = self.make(cap=1)
        big = pad_frame(3 * TARGET.max_frame, 1, "send")
        self.c.write(big[:TARGET.max_frame + 100])
        r = check_err(self.c.reply(), "frame_too_large")
        self.assertIsNone(r["id"])
        # The rest of the line is discarded, newline included; one reply.
        self.c.write(big[TARGET.max_frame + 100:] + b"\n")
        self.assertTrue(self.c.blocked(0.2), "second reply to one line")
        self.c.write(b'{"id":5,"op":"send","chan":"%s","value":1}\n'
                     % ch.encode())
        check_ok(self.c.expect(5))
        self.assertEqual(self.stat(ch)["sent"], 1)


class OrderTest(Case):
    """Section 4: order, pipelining, blocking, closing."""

    def test_nth_reply_answers_nth_line(self):
        self.c.write(b'{"id":1,"op":"ping"}\n[]\n\n{"id":3,"op":"nope"}\n'
                     b'not json\n{"id":5,"op":"stat"}\n{"id":6,"op":"ping"}\n')
        check_ok(self.c.expect(1))
        check_err(self.c.expect(None), "bad_request")
        check_err(self.c.expect(3), "unknown_op")
        check_err(self.c.expect(None), "bad_request")
        check_err(self.c.expect(5), "bad_request")
        check_ok(self.c.expect(6))

    def test_pipelining_transcript(self):
        ch = self.make(cap=10)
        self.c.write(b"".join(
            b'{"id":%d,"op":"send","chan":"%s","value":"%s"}\n'
            % (i, ch.encode(), v) for i, v in ((2, b"one"), (3, b"two"))) +
            b'{"id":4,"op":"recv","chan":"%s","max":10}\n' % ch.encode())
        check_ok(self.c.expect(2))
        check_ok(self.c.expect(3))
        r = check_ok(self.c.expect(4), {"values": [Any]})
        self.assertEqual(r["values"], ["one", "two"])

    def test_deep_pipeline(self):
        n = 3000  # more than the default max_pipeline: back-pressure only
        self.c.write(b"".join(b'{"id":%d,"op":"ping"}\n' % i
                              for i in range(n)))
        for i in range(n):
            check_ok(self.c.expect(i))

    def test_blocked_request_holds_the_rest(self):
        ch = self.make(cap=10)
        self.c.write(b'{"id":5,"op":"recv","chan":"%s"}\n{"id":6,"op":"ping"}\n'
                     b'garbage\n' % ch.encode())
        self.wait_stat(ch, receivers_waiting=1)
        self.assertBlocked(self.c, "ping behind a blocked recv")
        s = self.stat(ch)
        self.assertEqual((s["len"], s["receivers_waiting"]), (0, 1))
        self.api.send(ch, "three")
        self.assertEqual(check_ok(self.c.expect(5), {"value": Any})["value"],
                         "three")
        check_ok(self.c.expect(6))
        check_err(self.c.expect(None), "bad_request")

    def test_timeout_clock_starts_at_head_of_queue(self):
        a, b = self.make(), self.make(cap=1)
        self.c.write(b'{"id":1,"op":"recv","chan":"%s"}\n'
                     b'{"id":2,"op":"recv","chan":"%s","timeout_ms":400}\n'
                     % (a.encode(), b.encode()))
        self.wait_stat(a, receivers_waiting=1)
        time.sleep(0.6)  # longer than the second request's timeout_ms
        self.api.send(a, 1, timeout_ms=0)
        check_ok(self.c.expect(1), {"value": Any})
        t0 = time.monotonic()
        check_err(self.c.expect(2), "timeout")
        self.assertGreater(time.monotonic() - t0, 0.3,
                           "timeout_ms counted before the request started")

    def test_close_abandons_blocked_send(self):
        ch = self.make()
        b = self.conn()
        b.request("send", chan=ch, value={"n": 3})
        self.wait_stat(ch, senders_waiting=1)
        b.close()
        self.wait_stat(ch, senders_waiting=0)
        self.c.err("recv", "timeout", chan=ch, timeout_ms=0)
        s = self.stat(ch)
        self.assertEqual((s["sent"], s["received"]), (0, 0))

    def test_close_abandons_blocked_recv(self):
        ch = self.make()
        b = self.conn()
        b.request("recv", chan=ch)
        self.wait_stat(ch, receivers_waiting=1)
        b.close()
        self.wait_stat(ch, receivers_waiting=0)
        self.c.err("send", "timeout", chan=ch, value=1, timeout_ms=0)

    def test_half_close_answers_what_was_received(self):
        ch = self.make(cap=2)
        self.c.write(b'{"id":1,"op":"send","chan":"%s","value":1}\n'
                     b'{"id":2,"op":"ping"}\n' % ch.encode())
        self.c.c.shutdown_write()
        check_ok(self.c.expect(1))
        check_ok(self.c.expect(2))
        self.c.assert_eof("after end of input")

    def test_half_close_transcript(self):
        # Replies before the request that would block are written, that
        # request is abandoned, the ones after it dropped.
        ch = self.make(cap=1)
        self.c.write(b'{"id":2,"op":"send","chan":"%s","value":"a"}\n'
                     b'{"id":3,"op":"send","chan":"%s","value":"b"}\n'
                     b'{"id":4,"op":"ping"}\n' % (ch.encode(), ch.encode()))
        self.c.c.shutdown_write()
        check_ok(self.c.expect(2))
        self.c.assert_eof("half-closed with a send that would block")
        self.assertEqual(self.api.recv_many(ch, 5), ["a"])
        s = self.stat(ch)
        self.assertEqual((s["len"], s["senders_waiting"], s["sent"]),
                         (0, 0, 1))

    def test_half_close_with_a_blocking_request(self):
        ch = self.make()
        self.c.write(b'{"id":1,"op":"recv","chan":"%s"}\n{"id":2,"op":"ping"}\n'
                     % ch.encode())
        self.c.c.shutdown_write()
        self.c.assert_eof("half-closed with a blocked request")
        self.wait_stat(ch, receivers_waiting=0)
        # The recv was abandoned: no receiver takes a value.
        self.assertRaises(harness.jqclient.Timeout, self.api.send, ch, 1,
                          timeout_ms=0)


class TimeoutFieldTest(Case):
    """Section 5: timeout_ms values."""

    def test_bad_values(self):
        ch = self.make(cap=1)
        for tmo in (-1, 1.5, "10", True, [], {}, 9007199254740992, 1.0):
            for op, fields in (("recv", {}), ("send", {"value": 1}),
                               ("select", {"cases": [{"recv": ch}]})):
                r = self.c.call(op, chan=ch, timeout_ms=tmo, **fields) \
                    if op != "select" else self.c.call(op, timeout_ms=tmo,
                                                       **fields)
                check_err(r, "bad_request", what="%s timeout_ms %r" % (op, tmo))
                self.assertIn("timeout_ms", r["error"]["message"])
        s = self.stat(ch)
        self.assertEqual((s["len"], s["sent"]), (0, 0))

    def test_largest_and_null(self):
        ch = self.make(cap=1)
        self.c.ok("send", chan=ch, value=1, timeout_ms=9007199254740991)
        self.c.ok("recv", {"value": Any}, chan=ch, timeout_ms=9007199254740991)
        self.c.ok("send", chan=ch, value=2, timeout_ms=None)
        self.c.ok("recv", {"value": Any}, chan=ch, timeout_ms=None)

    def test_positive_waits_then_times_out(self):
        ch = self.make(cap=1)
        t0 = time.monotonic()
        self.c.err("recv", "timeout", chan=ch, timeout_ms=150)
        self.assertGreaterEqual(time.monotonic() - t0, 0.14)
        self.api.send(ch, 1)
        t0 = time.monotonic()
        self.c.err("send", "timeout", chan=ch, value=2, timeout_ms=150)
        self.assertGreaterEqual(time.monotonic() - t0, 0.14)
        s = self.stat(ch)
        self.assertEqual((s["len"], s["sent"], s["senders_waiting"]),
                         (1, 1, 0), "a timed-out request changed something")
