"""Values come back as they were sent (PROTOCOL.md 6): the value's own text
from the frame, whitespace outside strings removed -- 19.99 stays 19.99,
1e2 stays 1e2, "\\u00e9" keeps its escape -- through send and recv, batches,
select, leases and dead letters, keyed sends, and a restart from the store
(also on PostgreSQL: tests/pg.sh runs this file with
JQTEST_STORE=postgres).

Frames are written and replies read as bytes: parsing either side with a
JSON library would hide what this checks."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from jqtest import Client, Server, ServerTestCase, main

# (as sent, as it must come back)
CASES = [
    (b'19.99', b'19.99'),
    (b'1e2', b'1e2'),
    (b'1E+2', b'1E+2'),
    (b'-0', b'-0'),
    (b'-0.0', b'-0.0'),
    (b'0.1', b'0.1'),
    (b'1.10', b'1.10'),
    (b'9007199254740993', b'9007199254740993'),
    (b'[1.10, {"a" : 2}]', b'[1.10,{"a":2}]'),
    (b'{ "b" : 1 ,\t"a" : [ ] }', b'{"b":1,"a":[]}'),
    (b'"\\u00e9 \\/ x"', b'"\\u00e9 \\/ x"'),
    (b'"caf\xc3\xa9"', b'"caf\xc3\xa9"'),
    (b'"a  b"', b'"a  b"'),
    (b'{"s":" { [ \\" "}', b'{"s":" { [ \\" "}'),
    (b'null', b'null'),
    (b'true', b'true'),
    (b'42', b'42'),
]


def member(line, key):
    """The text of a top-level member of a reply line written by jqd
    (compact: the member's value runs to the next top-level ',' or the
    closing brace)."""
    tag = b'"' + key + b'":'
    i = line.index(tag) + len(tag)
    depth, j, in_str = 0, i, False
    while j < len(line):
        c = line[j:j + 1]
        if in_str:
            if c == b'\\':
                j += 1
            elif c == b'"':
                in_str = False
        elif c == b'"':
            in_str = True
        elif c in b'[{':
            depth += 1
        elif c in b']}':
            if depth == 0:
                break
            depth -= 1
        elif c == b',' and depth == 0:
            break
        j += 1
    return line[i:j]


class ValuesTest(ServerTestCase):

    def frame(self, c, text):
        """Send one frame (bytes, without its id) and return the reply line."""
        rid = c.next_id()
        c.send_raw(b'{"id":%d,' % rid + text + b'}\n')
        line = c.read_line()
        self.assertTrue(json.loads(line)["ok"], line)
        return line

    def send(self, c, chan, value):
        return self.frame(c, b'"op":"send","chan":"%s","value":%s'
                          % (chan.encode(), value))

    def recv(self, c, chan, extra=b''):
        return self.frame(c, b'"op":"recv","chan":"%s"%s'
                          % (chan.encode(), extra))

    def test_send_recv_as_sent(self):
        ch = self.make(cap=100)
        c = self.connect()
        for sent, want in CASES:
            self.send(c, ch, sent)
            self.assertEqual(member(self.recv(c, ch), b"value"), want, sent)

    def test_handoff_as_sent(self):
        """A value handed straight to a waiting receiver (cap 0)."""
        ch = self.make(cap=0)
        rx = self.connect()
        tx = self.connect()
        rx.send_raw(b'{"id":1,"op":"recv","chan":"%s"}\n' % ch.encode())
        self.wait_stat(ch, receivers_waiting=1)
        self.send(tx, ch, b'[19.99, 1e2]')
        self.assertEqual(member(rx.read_line(), b"value"), b'[19.99,1e2]')

    def test_fast_reader_values(self):
        """Frames the fast reader takes: flat, with strings, integers,
        booleans and null."""
        ch = self.make(cap=10)
        c = self.connect()
        for v in (b'"plain"', b'-0', b'12', b'false', b'null'):
            c.send_raw(b'{"id":1,"op":"send","chan":"%s","value":%s}\n'
                       % (ch.encode(), v))
            self.assertTrue(json.loads(c.read_line())["ok"])
            self.assertEqual(member(self.recv(c, ch), b"value"), v)

    def test_batch_and_recv_many(self):
        ch = self.make(cap=100)
        c = self.connect()
        sent = b', '.join(s for s, _ in CASES)
        self.frame(c, b'"op":"send","chan":"%s","values":[ %s ]'
                   % (ch.encode(), sent))
        line = self.recv(c, ch, b',"max":100')
        self.assertEqual(member(line, b"values"),
                         b'[' + b','.join(w for _, w in CASES) + b']')

    def test_select_send_case(self):
        ch = self.make(cap=10)
        other = self.make(cap=0, tag="other")
        c = self.connect()
        line = self.frame(c, b'"op":"select","timeout_ms":0,"cases":['
                          b'{"recv":"%s"},{"value": 1.50e1 ,"send":"%s"}]'
                          % (other.encode(), ch.encode()))
        self.assertEqual(json.loads(line)["index"], 1)
        self.assertEqual(member(self.recv(c, ch), b"value"), b'1.50e1')
        # and a select's recv case gives the text back
        self.send(c, ch, b'{"x": 0.30}')
        line = self.frame(c, b'"op":"select","cases":[{"recv":"%s"}]'
                          % ch.encode())
        self.assertEqual(member(line, b"value"), b'{"x":0.30}')

    def test_duplicate_and_escaped_keys(self):
        """The last "value" counts, whichever way its key is written."""
        ch = self.make(cap=10)
        c = self.connect()
        self.frame(c, b'"op":"send","chan":"%s","value":1.5,"v\\u0061lue":2.50'
                   % ch.encode())
        self.assertEqual(member(self.recv(c, ch), b"value"), b'2.50')

    def test_lease_nack_dead_letter(self):
        dl = self.make(cap=10, tag="dl")
        src = self.name("src")
        self.ctl.ok("make", chan=src, cap=10, max_deliveries=1,
                    dead_letter=dl)
        c = self.connect()
        self.send(c, src, b'{"p": 19.99, "e": "\\u00e9"}')
        line = self.recv(c, src, b',"lease_ms":600000')
        self.assertEqual(member(line, b"value"), b'{"p":19.99,"e":"\\u00e9"}')
        lease = json.loads(line)["lease"].encode()
        self.frame(c, b'"op":"nack","chan":"%s","lease":"%s",'
                   b'"reason":"caf\\u00e9 \\/ 1.10"' % (src.encode(), lease))
        env = member(self.recv(c, dl), b"value")
        self.assertEqual(member(env, b"value"), b'{"p":19.99,"e":"\\u00e9"}')
        self.assertEqual(member(env, b"reason"), b'"caf\\u00e9 \\/ 1.10"')

    def test_keyed_send(self):
        ch = self.make(cap=10)
        c = self.connect()
        for _ in range(2):
            self.frame(c, b'"op":"send","chan":"%s","key":"k1","value":1e2'
                       % ch.encode())
        self.assertEqual(member(self.recv(c, ch), b"value"), b'1e2')
        self.assertEqual(self.stat(ch)["len"], 0)

    def test_max_value_counts_the_text_as_sent(self):
        """max_value measures the stored text, minified: 16 bytes of
        1.10000000000000 fit in 16 (a tree would print 1.1000000000000001),
        20 of "\u00e9\u00e9\u00e9" do not (a tree would print 8)."""
        server = Server("--max-value", "16")
        server.start()
        self.addCleanup(server.stop)
        c = Client(server)
        self.addCleanup(c.close)
        c.ok("make", chan="m", cap=10)
        self.send(c, "m", b' 1.10000000000000 ')
        self.assertEqual(member(self.recv(c, "m"), b"value"),
                         b'1.10000000000000')
        c.send_raw(b'{"id":9,"op":"send","chan":"m",'
                   b'"value":"\\u00e9\\u00e9\\u00e9"}\n')
        r = json.loads(c.read_line())
        self.assertEqual(r["error"]["code"], "too_large", r)


class ValuesRestartTest(unittest.TestCase):
    """Values read back from the store after a restart are byte for byte
    the values sent."""

    def test_restart_keeps_text(self):
        d = tempfile.mkdtemp(prefix="jqd-values-")
        self.addCleanup(shutil.rmtree, d, True)
        s = Server(state_dir=d)
        s.start()
        c = Client(s)
        c.ok("make", chan="keep", cap=100)
        for sent, _ in CASES:
            c.send_raw(b'{"id":1,"op":"send","chan":"keep","value":%s}\n'
                       % sent)
            self.assertTrue(json.loads(c.read_line())["ok"])
        c.close()
        s.stop()
        s = Server(state_dir=d)
        s.start()
        self.addCleanup(s.stop)
        c = Client(s)
        self.addCleanup(c.close)
        for _, want in CASES:
            c.send_raw(b'{"id":2,"op":"recv","chan":"keep","timeout_ms":0}\n')
            self.assertEqual(member(c.read_line(), b"value"), want)


@unittest.skipUnless(os.environ.get("JQ_CLIENT"), "JQ_CLIENT is not set")
class CliValuesTest(ServerTestCase):
    """jq-client sends a VALUE as written and prints what it receives as
    the server wrote it; text that looks like JSON and is not is an
    error, not a string; --raw and --strict."""

    def cli(self, *args, code=0):
        p = subprocess.run([os.environ["JQ_CLIENT"], "-H", self.server.addr]
                           + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        self.assertEqual(p.returncode, code, "%r: %r" % (args, p))
        return p.stdout.decode(), p.stderr.decode()

    def test_send_recv_as_written(self):
        ch = self.make(cap=20)
        sent = ["19.99", "1e2", "-0.0", "1E+2", "0.1", "[1.10, {\"a\" : 2}]",
                "9007199254740993", '"\\u00e9"', "hello"]
        self.cli("send", ch, *sent)
        out, _ = self.cli("recv", ch, "-n", "20")
        self.assertEqual(out.splitlines(),
                         ["19.99", "1e2", "-0.0", "1E+2", "0.1",
                          '[1.10,{"a":2}]', "9007199254740993",
                          "\u00e9", "hello"])

    def test_json_output_keeps_text(self):
        ch = self.make(cap=5)
        self.cli("send", "--batch", ch, "19.99", "1e2")
        out, _ = self.cli("--json", "recv", ch, "-n", "2")
        self.assertIn('"values":[19.99,1e2]', out)
        self.cli("send", ch, "0.30")
        out, _ = self.cli("--json", "recv", ch)
        self.assertIn('"value":0.30}', out)

    def test_peek_as_written(self):
        ch = self.make(cap=5)
        self.cli("send", ch, "19.99", '{"qty" : 1e2}')
        out, _ = self.cli("peek", ch, "-n", "2")
        self.assertEqual(out.splitlines(), ["19.99", '{"qty":1e2}'])
        # One document, the reply without its id, the values' text kept.
        out, _ = self.cli("--json", "peek", ch, "-n", "2")
        self.assertEqual(json.loads(out)["len"], 2, out)
        self.assertEqual(out, '{"ok":true,"len":2,'
                         '"values":[19.99,{"qty":1e2}]}\n')

    def test_wire_text(self):
        """What jq-client sends is the argument's text, minified."""
        ch = self.make(cap=5)
        self.cli("send", "--key", "k", ch, " { \"p\" : 19.99 } ")
        r = self.ctl.call("recv", chan=ch)
        self.assertTrue(r["ok"], r)
        self.ctl.send_raw(b'{"id":7,"op":"send","chan":"%s","value":1.50}\n'
                          % ch.encode())
        self.ctl.read_line()
        c = Client(self.server)
        self.addCleanup(c.close)
        self.cli("send", ch, "[ 2.50 ]")
        c.send_raw(b'{"id":1,"op":"recv","chan":"%s","max":2}\n'
                   % ch.encode())
        self.assertEqual(member(c.read_line(), b"values"), b'[1.50,[2.50]]')

    def test_select_as_written(self):
        ch = self.make(cap=5)
        out, _ = self.cli("select", "send:%s=19.990" % ch)
        self.assertEqual(out, "0\n")
        out, _ = self.cli("select", "recv:%s" % ch)
        self.assertEqual(out, "0\t19.990\n")

    def test_broken_json_is_an_error(self):
        ch = self.make(cap=10)
        for arg in ('{"a":1', "[1,2", '"abc', "1.2.3", "-1.5.2", "1e", "2024-01-02",
                    "12345678901234567890"):
            _, err = self.cli("send", ch, arg, code=2)
            self.assertIn("'%s' is not valid JSON (col " % arg, err)
            self.assertIn("; use --raw to send it as a string", err)
        _, err = self.cli("select", "send:%s=[1" % ch, code=2)
        self.assertIn("is not valid JSON", err)
        self.assertEqual(self.stat(ch)["len"], 0, "nothing was sent")
        # Text that does not look like JSON is still a string.
        self.cli("send", ch, "hello world", "abc]")
        out, _ = self.cli("--json", "recv", ch, "-n", "2")
        self.assertIn('"values":["hello world","abc]"]', out)

    def test_raw_and_strict(self):
        ch = self.make(cap=10)
        self.cli("send", "--raw", ch, '{"a":1', "19.99", "[1,2]")
        out, _ = self.cli("--json", "recv", ch, "-n", "3")
        self.assertIn(r'"values":["{\"a\":1","19.99","[1,2]"]', out)
        _, err = self.cli("send", "--strict", ch, "19.99", "abc", code=2)
        self.assertIn("'abc' is not valid JSON", err)
        self.assertEqual(self.stat(ch)["len"], 0, "nothing was sent")
        self.cli("send", "--raw", "--strict", ch, "1", code=2)

    def test_stats_short_decimals(self):
        ch = self.make(cap=10)
        self.cli("send", ch, "1")
        out, _ = self.cli("stats")
        reals = [v for v in (line.split()[-1] for line in out.splitlines())
                 if re.fullmatch(r"-?[0-9]+\.[0-9]+", v)]
        self.assertTrue(reals, out)
        for v in reals:
            self.assertLessEqual(len(v.split(".")[1]), 3, out)


if __name__ == "__main__":
    main()
