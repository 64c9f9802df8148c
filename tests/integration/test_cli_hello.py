"""jq-client says hello at most once per run (PROTOCOL.md 14): on its main
connection, before the first request whose form depends on the answer,
with "multiplex": true for a command that may block; every question about
the server is answered from that one reply.  Counted per command with the
server's ops.hello figure.  A reconnection of a keyed send says the same
hello again on its new connection.  Against a 1.0 server (a fake one:
hello without "minor" or "features") the commands work as before, and no
request carries a 1.1 member."""

import os
import subprocess
import unittest

import jqtest
from jqtest import ServerTestCase, main

CLI_TIMEOUT_S = 60 * jqtest.TIMEOUT_SCALE


def cli_env():
    return {k: v for k, v in os.environ.items()
            if k not in ("JQ_ADDR", "JQ_TOKEN", "JQ_CONSUMER")}


def run_cli(addr, *args):
    """jq-client -H addr ARGS...; the CompletedProcess (text)."""
    return subprocess.run([os.environ["JQ_CLIENT"], "-H", addr] +
                          [str(a) for a in args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, env=cli_env(),
                          timeout=CLI_TIMEOUT_S)


class HelloCountTest(ServerTestCase):
    """How many hellos each command sends: 1 where it needs the answer,
    0 where it does not."""

    def hellos(self):
        return self.ctl.ok("stats")["ops"].get("hello", 0)

    def run_counted(self, *args, code=0):
        """Run jq-client ARGS: (hellos it sent, its stdout)."""
        before = self.hellos()
        p = run_cli(self.server.addr, *args)
        self.assertEqual(p.returncode, code,
                         "%r: %s%s" % (args, p.stdout, p.stderr))
        return self.hellos() - before, p.stdout

    def assertHellos(self, want, *args, code=0):
        n, out = self.run_counted(*args, code=code)
        self.assertEqual(n, want, "jq-client %s sent %d hellos"
                         % (" ".join(map(str, args)), n))
        return out

    def finished_job(self):
        job = self.ctl.ok("submit", argv=["echo", "hi"])["job"]
        self.ctl.ok("wait", jobs=[job])
        return job

    def test_channel_commands(self):
        ch = self.make(cap=16)
        self.assertHellos(1, "send", ch, "a", "b", "c")
        self.assertHellos(1, "send", "--key", "k1", ch, "d")
        self.assertHellos(1, "send", "--batch", ch, "e", "f")
        self.assertEqual(self.assertHellos(1, "recv", ch), "a\n")
        out = self.assertHellos(1, "recv", "--lease", "30s", "-n", "3", ch)
        leases = [line.split("\t")[0] for line in out.splitlines()]
        self.assertEqual(len(leases), 3, out)
        self.assertHellos(0, "ack", ch, leases[0])
        self.assertHellos(0, "nack", "--delay", "1ms", ch, leases[1])
        self.assertHellos(0, "touch", ch, leases[2], "30s")
        self.assertHellos(1, "select", "recv:" + ch)
        self.assertHellos(1, "select", "send:%s=x" % ch)
        for args in (["ping"], ["stats"], ["stat", ch], ["chans"],
                     ["make", ch, 16]):
            self.assertHellos(0, *args)

    def test_job_commands(self):
        job = self.finished_job()
        self.assertHellos(1, "wait", job)
        self.assertEqual(self.assertHellos(1, "logs", "--follow", job),
                         "hi\n")
        self.assertHellos(1, "wait", "--progress", job)
        # submit --wait polls its plain wait and a signal: no hello.
        self.assertEqual(self.assertHellos(0, "submit", "--wait", "--",
                                           "echo", "ho"), "ho\n")
        for args in (["submit", "--", "true"], ["job", job], ["jobs"],
                     ["logs", job], ["cancel", job]):
            self.assertHellos(0, *args)

    def test_group_wait(self):
        group = self.name("g")
        self.ctl.ok("submit", argv=["true"], group=group)
        self.assertHellos(1, "wait", "--group", group)
        self.assertHellos(1, "wait", "--progress", "--group", group)


class ReconnectTest(ServerTestCase):

    def test_keyed_retry_says_hello_again(self):
        ch = self.make(cap=10)
        proxy = jqtest.RecordingProxy((self.server.host, self.server.port),
                                      drop_send=True)
        self.addCleanup(proxy.close)
        p = run_cli(proxy.addr, "send", "--key", "K1", ch, "v1")
        self.assertEqual(p.returncode, 0, p.stderr)
        conns = proxy.requests()
        self.assertEqual(len(conns), 2, conns)
        for reqs in conns:
            # A new connection says the hello of the first one, then the
            # very same keyed send.
            self.assertEqual([r["op"] for r in reqs], ["hello", "send"],
                             reqs)
            self.assertIs(reqs[0].get("multiplex"), True, reqs)
            self.assertEqual(reqs[1]["key"], "K1")
        self.assertEqual(self.ctl.ok("recv", chan=ch, max=10)["values"],
                         ["v1"])

    def test_hello_members(self):
        # A blocking command asks for multiplex; the others do not.
        ch = self.make(cap=4)
        proxy = jqtest.RecordingProxy((self.server.host, self.server.port))
        self.addCleanup(proxy.close)
        self.assertEqual(run_cli(proxy.addr, "send", ch, "x").returncode, 0)
        job = self.ctl.ok("submit", argv=["true"])["job"]
        self.ctl.ok("wait", jobs=[job])
        self.assertEqual(run_cli(proxy.addr, "logs", "-f", job).returncode,
                         0)
        (send, logs) = proxy.requests()
        self.assertEqual(send[0], {"id": send[0]["id"], "op": "hello",
                                   "multiplex": True})
        self.assertEqual(logs[0], {"id": logs[0]["id"], "op": "hello"})
        self.assertEqual([r["op"] for r in logs], ["hello", "watch"])


class OldServer(jqtest.FakeServer):
    """A fake jqd of protocol 1.0: hello without minor and features,
    unknown_op for the ops of 1.1."""

    OPS_1_0 = {"hello", "auth", "ping", "stats", "make", "send", "recv",
               "ack", "nack", "close", "drop", "stat", "chans", "select",
               "submit", "job", "jobs", "cancel", "wait", "group"}
    JOB = {"job": 7, "state": "succeeded", "exit_code": 0, "attempt": 1,
           "stdout": "out\n", "stderr": "", "stdout_len": 4,
           "stderr_len": 0}

    def answer(self, req):
        op = req.get("op")
        reply = super().answer(req)
        if op not in self.OPS_1_0:
            reply.update(ok=False, error={"code": "unknown_op",
                                          "message": "unknown op"})
        elif op == "hello":
            reply.update(server="jqd", version="0.0.9", protocol=1,
                         auth_required=False)
        elif op == "recv" and "lease_ms" in req:
            reply.update(value="v", lease="L1", redelivered=0)
        elif op == "recv":
            reply.update(value="v")
        elif op == "job":
            reply.update(self.JOB)
        return reply


class OldServerTest(unittest.TestCase):
    """recv, send, ack and logs against a 1.0 server: as before 1.1, with
    one hello at most and only the members of 1.0."""

    # The members of 1.0 each request may carry; hello's "multiplex" is
    # asked blind by a command that may block, and a 1.0 server ignores
    # it (PROTOCOL.md 12).
    MEMBERS_1_0 = {
        "hello": {"multiplex"},
        "send": {"chan", "value", "values", "timeout_ms"},
        "recv": {"chan", "max", "timeout_ms", "lease_ms"},
        "ack": {"chan", "lease"},
        "job": {"job"},
    }

    def setUp(self):
        self.server = OldServer()
        self.addCleanup(self.server.close)

    def check(self, args, want_out, want_ops):
        p = run_cli(self.server.addr, *args)
        self.assertEqual((p.returncode, p.stdout), (0, want_out),
                         "%r: %s" % (args, p.stderr))
        reqs = self.server.take()
        self.assertEqual([r["op"] for r in reqs], want_ops, reqs)
        for r in reqs:
            extra = set(r) - {"id", "op"} - self.MEMBERS_1_0[r["op"]]
            self.assertEqual(extra, set(), "%r: 1.1 members in %r"
                             % (args, r))

    def test_commands(self):
        self.check(["recv", "c"], "v\n", ["hello", "recv"])
        self.check(["recv", "--lease", "30s", "c"], "L1\tv\n",
                   ["hello", "recv"])
        self.check(["send", "c", "a", "b"], "", ["hello", "send", "send"])
        self.check(["send", "--batch", "c", "a", "b"], "",
                   ["hello", "send"])
        self.check(["ack", "c", "L1"], "", ["ack"])
        self.check(["logs", "7"], "out\n", ["job"])


if __name__ == "__main__":
    main(need_client=True)
