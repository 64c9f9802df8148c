"""jq-client against a real jqd (SPEC 7, 8; PROTOCOL.md "jq-client"):
addresses (-H, -S, JQ_ADDR), channel commands, --json output, exit codes.

Human output formats are not settled, so besides `ping` exiting 0 the only
human format asserted is that `recv` of a string prints the raw string on a
line; everything else is checked through --json or through the protocol."""

import json
import os
import socket
import subprocess

from jqtest import ServerTestCase, main

CLI_TIMEOUT_S = 60


def dead_tcp_address():
    """A bound, non-listening socket: connecting to it is refused, and the
    port cannot be reused while we hold it.  Returns (socket, "host:port")."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    return s, "127.0.0.1:%d" % s.getsockname()[1]


class CliTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dead_sock, cls.dead_addr = dead_tcp_address()

    @classmethod
    def tearDownClass(cls):
        cls.dead_sock.close()
        super().tearDownClass()

    def env(self, extra=None):
        e = {k: v for k, v in os.environ.items()
             if k not in ("JQ_ADDR", "JQ_TOKEN")}
        e.update(extra or {})
        return e

    def argv(self, args, via, json_out):
        cmd = [os.environ["JQ_CLIENT"]]
        if via == "tcp":
            cmd += ["-H", self.server.addr]
        elif via == "unix":
            cmd += ["-S", self.server.unix_path]
        elif via == "dead":
            cmd += ["-H", self.dead_addr]
        if json_out:
            cmd.append("--json")
        return cmd + [str(a) for a in args]

    def cli(self, *args, via="tcp", json_out=False, env=None, code=None):
        """Run jq-client; check the exit code if given; return the result
        with .out/.err decoded."""
        cmd = self.argv(args, via, json_out)
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=self.env(env), timeout=CLI_TIMEOUT_S)
        p.out = p.stdout.decode("utf-8")
        p.err = p.stderr.decode("utf-8", "replace")
        if code is not None:
            self.assertEqual(p.returncode, code,
                             "%s exited %d, expected %d\nstdout: %s\nstderr: %s"
                             % (cmd[1:], p.returncode, code, p.out, p.err))
        return p

    def cli_json(self, *args, via="tcp", code=0, lines=1):
        """Run with --json; every stdout line is one JSON object."""
        p = self.cli(*args, via=via, json_out=True, code=code)
        out = p.out.splitlines()
        if lines is not None:
            self.assertEqual(len(out), lines, "stdout: %r" % p.out)
        objs = []
        for line in out:
            obj = json.loads(line)
            self.assertIsInstance(obj, dict, line)
            objs.append(obj)
        return objs[0] if lines == 1 else objs

    # -- addresses ------------------------------------------------------------

    def test_ping_tcp_unix_env(self):
        self.cli("ping", code=0)
        self.cli("ping", via="unix", code=0)
        for addr in (self.server.addr, self.server.unix_path,
                     "unix:" + self.server.unix_path):
            with self.subTest(JQ_ADDR=addr):
                self.cli("ping", via=None, env={"JQ_ADDR": addr}, code=0)

    def test_option_beats_env(self):
        self.cli("ping", env={"JQ_ADDR": self.dead_addr}, code=0)

    def test_ping_json(self):
        r = self.cli_json("ping")
        self.assertIs(r["ok"], True)

    def test_stats_json(self):
        r = self.cli_json("stats")
        self.assertIs(r["ok"], True)
        self.assertIn("uptime_ms", r)
        self.assertIn("channels", r)

    # -- channel commands -----------------------------------------------------

    def test_make_and_stat(self):
        chan = self.name()
        self.cli("make", chan, "5", code=0)
        s = self.stat(chan)
        self.assertEqual(s["cap"], 5)
        r = self.cli_json("make", chan, "5")
        self.assertIs(r["created"], False)
        self.cli("make", chan, "6", code=1)
        r = self.cli_json("stat", chan)
        self.assertEqual((r["chan"], r["cap"], r["len"], r["closed"]),
                         (chan, 5, 0, False))
        unbuf = self.name()
        r = self.cli_json("make", unbuf, via="unix")
        self.assertIs(r["created"], True)
        self.assertEqual(self.stat(unbuf)["cap"], 0)

    def test_make_dead_letter_and_nack_reason(self):
        dlq = self.make(cap=5)
        chan = self.name()
        self.cli("make", "--max-deliveries", "1", "--dead-letter", dlq,
                 chan, "5", code=0)
        s = self.cli("stat", chan, code=0).out
        self.assertRegex(s, r"max_deliveries: +1\n")
        self.assertRegex(s, r"dead_letter: +%s\n" % dlq)
        r = self.cli_json("make", "--max-deliveries", "1", "--dead-letter",
                          dlq, chan, "5")
        self.assertIs(r["created"], False)
        self.cli("make", "--max-deliveries", "2", "--dead-letter", dlq,
                 chan, "5", code=1)
        # Checked before connecting: a usage error.
        self.cli("make", "--dead-letter", dlq, self.name(), "5", code=2)
        self.cli("make", "--max-deliveries", "0", self.name(), "5", code=2)
        self.cli("send", chan, '{"n":1}', code=0)
        # A lease dies with its connection: take it on one that stays.
        lease = self.ctl.ok("recv", chan=chan, lease_ms=60000)["lease"]
        self.cli("nack", "--reason", "bad input", chan, lease, code=0)
        r = self.cli_json("recv", dlq)
        self.assertEqual((r["value"]["chan"], r["value"]["value"],
                          r["value"]["deliveries"], r["value"]["reason"]),
                         (chan, {"n": 1}, 1, "bad input"))

    def test_send_plain_string_and_json(self):
        chan = self.make(cap=20)
        self.cli("send", chan, "hello", code=0)
        self.cli("send", chan, "hello world", code=0)
        self.cli("send", chan, '{"a":[1,{"b":null}]}', "42", "[1,2]",
                 '"quoted"', "true", "null", "1.5", "-7", code=0)
        want = ["hello", "hello world", {"a": [1, {"b": None}]}, 42, [1, 2],
                "quoted", True, None, 1.5, -7]
        got = self.ctl.ok("recv", chan=chan, max=20)["values"]
        self.assertEqual(got, want)
        self.assertEqual([type(x) for x in got], [type(x) for x in want])

    def test_send_json_one_document_of_each_reply(self):
        chan = self.make(cap=5)
        doc = self.cli_json("send", chan, "1", "2", "3")
        self.assertEqual((doc["ok"], doc["sent"], len(doc["results"])),
                         (True, 3, 3), doc)
        self.assertTrue(all(o["ok"] is True for o in doc["results"]), doc)
        self.assertEqual(self.ctl.ok("recv", chan=chan, max=5)["values"], [1, 2, 3])

    def test_recv_prints_raw_string(self):
        chan = self.make(cap=3)
        self.ctl.ok("send", chan=chan, value="héllo wörld \"quoted\"")
        p = self.cli("recv", chan, code=0)
        self.assertEqual(p.out, "héllo wörld \"quoted\"\n")
        self.ctl.ok("send", chan=chan, value="via unix")
        p = self.cli("recv", chan, via="unix", code=0)
        self.assertEqual(p.out, "via unix\n")
        self.assertEqual(self.stat(chan)["len"], 0)

    def test_recv_json(self):
        chan = self.make(cap=3)
        self.ctl.ok("send", chan=chan, value={"a": [1, "x"]})
        r = self.cli_json("recv", chan)
        self.assertIs(r["ok"], True)
        self.assertEqual(r["value"], {"a": [1, "x"]})
        self.assertEqual(self.stat(chan)["received"], 1)

    def test_recv_n(self):
        chan = self.make(cap=10)
        self.ctl.ok("send", chan=chan, values=[1, "two", 3, 4, 5])
        r = self.cli_json("recv", chan, "-n", "3")
        self.assertEqual(r["values"], [1, "two", 3])
        r = self.cli_json("recv", chan, "-n", "10")
        self.assertEqual(r["values"], [4, 5])
        self.cli("recv", chan, "-n", "2", "--timeout", "100ms", code=124)

    def test_recv_blocks_until_send(self):
        chan = self.make(cap=0)
        proc = subprocess.Popen(self.argv(["recv", chan], "tcp", False),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=self.env())
        try:
            self.wait_stat(chan, receivers_waiting=1)
            self.ctl.ok("send", chan=chan, value="late")
            out, err = proc.communicate(timeout=CLI_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(out.decode(), "late\n")

    def test_recv_timeout_exit_124(self):
        chan = self.make(cap=1)
        self.cli("recv", chan, "--timeout", "100ms", code=124)
        self.cli("recv", chan, "--timeout", "0.1", code=124)   # bare: seconds
        self.assertEqual(self.stat(chan)["receivers_waiting"], 0)

    def test_durations_accepted(self):
        chan = self.make(cap=10)
        for d in ("250ms", "5s", "1.5s", "2m", "1h", "1d", "3", "0.5"):
            with self.subTest(duration=d):
                self.ctl.ok("send", chan=chan, value=d)
                p = self.cli("recv", chan, "--timeout", d, code=0)
                self.assertEqual(p.out, d + "\n")

    def test_chans_json(self):
        base = self.name("clichans") + "."
        for s in ("b", "a"):
            self.ctl.ok("make", chan=base + s, cap=1)
        r = self.cli_json("chans")
        names = [c["chan"] for c in r["chans"]]
        self.assertEqual(names, sorted(names))
        self.assertIn(base + "a", names)
        self.assertIn(base + "b", names)
        self.assertLess(names.index(base + "a"), names.index(base + "b"))

    def test_select(self):
        a, b, c = self.make(cap=1), self.make(cap=1), self.make(cap=2)
        self.ctl.ok("send", chan=b, value={"from": "b"})
        r = self.cli_json("select", "--timeout", "5s", "recv:" + a, "recv:" + b)
        self.assertEqual((r["index"], r["value"]), (1, {"from": "b"}))
        r = self.cli_json("select", "--timeout", "5s", "recv:" + a,
                          "send:%s=5" % c)
        self.assertEqual(r["index"], 1)
        self.cli("select", "--timeout", "5s", 'send:%s={"x":[1]}' % c, code=0)
        self.assertEqual(self.ctl.ok("recv", chan=c, max=5)["values"],
                         [5, {"x": [1]}])
        self.cli("select", "--timeout", "100ms", "recv:" + a, code=124)
        self.cli("select", "--timeout", "100ms", "recv:" + self.name("nx"),
                 code=1)

    def test_close_and_drop(self):
        chan = self.make(cap=2)
        self.ctl.ok("send", chan=chan, value="left")
        self.cli("close", chan, code=0)
        self.assertIs(self.stat(chan)["closed"], True)
        self.cli("close", chan, code=1)
        self.cli("send", chan, "more", code=1)
        self.assertEqual(self.cli("recv", chan, code=0).out, "left\n")
        p = self.cli("recv", chan, code=1)        # closed and drained
        self.assertEqual(p.out, "")
        self.assertTrue(p.err.strip())
        self.cli("drop", chan, code=0)
        self.ctl.error("stat", "not_found", chan=chan)
        self.cli("stat", chan, code=1)
        self.cli("drop", chan, code=1)

    # -- exit codes -------------------------------------------------------------

    def test_exit_1_error_reply(self):
        missing = self.name("missing")
        p = self.cli("recv", missing, code=1)
        self.assertTrue(p.err.strip(), "no message on stderr")
        self.assertEqual(p.out, "")
        self.cli("stat", missing, code=1)
        self.cli("send", missing, "x", code=1)

    def test_exit_2_usage_before_connecting(self):
        usage = [("frobnicate",), ("recv",), ("recv", "ch", "--timeout", "5parsecs"),
                 ("recv", "ch", "--timeout", "abc"), ("recv", "ch", "--timeout", ""),
                 ("recv", "ch", "--timeout", "-1s"), ("recv", "ch", "-n", "x"),
                 ("make",), ("send", "ch"), ("select", "bogus:ch"),
                 ("select", "--timeout", "1parsec", "recv:ch"), ()]
        for args in usage:
            with self.subTest(args=args):
                p = self.cli(*args, via="dead", code=2)
                self.assertTrue(p.err.strip(), "no usage message")
                self.cli(*args, via=None, env={"JQ_ADDR": self.dead_addr},
                         code=2)

    def test_exit_3_cannot_connect(self):
        self.cli("ping", via="dead", code=3)
        self.cli("ping", via=None, env={"JQ_ADDR": self.dead_addr}, code=3)
        nosock = os.path.join(self.server.dir, "no-such.sock")
        p = self.cli("-S", nosock, "ping", via=None, code=3)
        self.assertTrue(p.err.strip())
        self.cli("recv", "ch", via=None, env={"JQ_ADDR": "unix:" + nosock},
                 code=3)


if __name__ == "__main__":
    main(need_client=True)
