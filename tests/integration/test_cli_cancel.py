"""jq-client and Ctrl-C (PROTOCOL.md 14): SIGINT or SIGTERM during a
blocking command sends `abort` for the blocked request and prints what
that request returned; canceled, jq-client exits 130 (SIGINT) or 143
(SIGTERM).  A value recv had already taken is printed, never lost (a
deterministic case with a commit held in flight, and a race of recv, send
and SIGINT repeated many times).  Against a server without "abort" a
signal ends jq-client as it always did."""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import jqtest
from jqtest import Server, ServerTestCase, main, wait_until

CLI_TIMEOUT_S = 60 * jqtest.TIMEOUT_SCALE
RACE_ROUNDS = 60


def cli_env():
    return {k: v for k, v in os.environ.items()
            if k not in ("JQ_ADDR", "JQ_TOKEN")}


def start_cli(addr, *args):
    """jq-client -H addr ARGS..., running; its pipes are text."""
    return subprocess.Popen(
        [os.environ["JQ_CLIENT"], "-H", addr] + [str(a) for a in args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=cli_env(), text=True)


def finish(p):
    """Wait for jq-client; (exit status, stdout, stderr)."""
    out, err = p.communicate(timeout=CLI_TIMEOUT_S)
    return p.returncode, out, err


class CancelTest(ServerTestCase):

    def cli(self, *args):
        p = start_cli(self.server.addr, *args)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p

    def interrupt(self, p, sig=signal.SIGINT):
        p.send_signal(sig)
        return finish(p)

    def test_recv_sigint(self):
        chan = self.make(cap=4)
        p = self.cli("recv", chan)
        self.wait_stat(chan, receivers_waiting=1)
        code, out, err = self.interrupt(p)
        self.assertEqual((code, out), (130, ""), err)
        self.assertIn("canceled", err)
        # The receive took nothing: a value sent now stays in the channel.
        self.ctl.ok("send", chan=chan, value="after")
        self.wait_stat(chan, len=1, receivers_waiting=0)
        self.assertEqual(self.ctl.ok("recv", chan=chan,
                                     timeout_ms=0)["value"], "after")

    def test_recv_sigterm(self):
        chan = self.make(cap=4)
        p = self.cli("recv", chan)
        self.wait_stat(chan, receivers_waiting=1)
        code, out, err = self.interrupt(p, signal.SIGTERM)
        self.assertEqual((code, out), (143, ""), err)

    def test_recv_json(self):
        chan = self.make(cap=4)
        p = self.cli("--json", "recv", chan)
        self.wait_stat(chan, receivers_waiting=1)
        code, out, err = self.interrupt(p)
        self.assertEqual(code, 130, err)
        reply = json.loads(out)
        self.assertEqual((reply["ok"], reply["error"]["code"]),
                         (False, "canceled"), out)

    def test_send_blocked(self):
        chan = self.make(cap=1)
        self.ctl.ok("send", chan=chan, value="first")
        p = self.cli("send", chan, "second", "third")
        self.wait_stat(chan, senders_waiting=1)
        code, out, err = self.interrupt(p)
        self.assertEqual(code, 130, err)
        self.assertIn("sent 0 of 2 values", err)
        # Not applied: only the first value is there.
        s = self.wait_stat(chan, senders_waiting=0)
        self.assertEqual(s["len"], 1)
        self.assertEqual(self.ctl.ok("recv", chan=chan, max=4,
                                     timeout_ms=0)["values"], ["first"])

    def test_select_blocked(self):
        a, b = self.make(cap=1), self.make(cap=1)
        p = self.cli("select", "recv:" + a, "recv:" + b)
        self.wait_stat(b, receivers_waiting=1)
        code, out, err = self.interrupt(p)
        self.assertEqual((code, out), (130, ""), err)
        self.wait_stat(a, receivers_waiting=0)

    def test_wait_blocked(self):
        job = self.ctl.ok("submit", argv=["sleep", "300"])["job"]
        self.addCleanup(self.ctl.ok, "cancel", job=job)
        waiting = self.ctl.ok("stats")["waiting"]
        p = self.cli("wait", job)
        self.wait_stats(waiting=waiting + 1)
        code, out, err = self.interrupt(p)
        self.assertEqual((code, out), (130, ""), err)
        # The job goes on: only the wait was called off.
        self.assertEqual(self.ctl.ok("job", job=job)["state"], "running")

    def test_submit_wait_blocked(self):
        waiting = self.ctl.ok("stats")["waiting"]
        name = self.name()
        p = self.cli("submit", "--name", name, "--wait", "--",
                     "sleep", "300")
        self.wait_stats(waiting=waiting + 1)
        code, out, err = self.interrupt(p)
        self.assertEqual(code, 130, err)
        # Ctrl-C on submit --wait cancels the job it started (it is final
        # before jq-client exits).
        jobs = [j for j in self.ctl.ok("jobs")["jobs"]
                if j.get("name") == name]
        self.assertEqual([j["state"] for j in jobs], ["canceled"])

    def test_race_never_loses_a_value(self):
        """recv, a send and SIGINT at nearly the same time: every value is
        printed by jq-client or still in the channel, never both, never
        neither."""
        chan = self.make(cap=1)
        rng = random.Random(14)
        outcomes = {"printed": 0, "left": 0}
        aborts = self.ctl.ok("stats")["ops"].get("abort", 0)
        for i in range(RACE_ROUNDS):
            value = "v%d" % i
            p = self.cli("recv", chan)
            self.wait_stat(chan, receivers_waiting=1)
            send_first = rng.random() < 0.5
            if send_first:
                self.ctl.request("send", chan=chan, value=value)
            # Jitter, not a wait: it spreads the rounds over the window
            # in which the abort and the value cross.
            time.sleep(rng.random() * 0.002)
            p.send_signal(signal.SIGINT)
            time.sleep(rng.random() * 0.002)
            if not send_first:
                self.ctl.request("send", chan=chan, value=value)
            self.assertIs(self.ctl.read_reply()["ok"], True)
            code, out, err = finish(p)
            left = self.ctl.ok("recv", chan=chan, max=2, timeout_ms=0) \
                if self.stat(chan)["len"] else {"values": []}
            if code == 0:
                self.assertEqual(out, value + "\n", err)
                self.assertEqual(left["values"], [], "printed and left")
                outcomes["printed"] += 1
            else:
                self.assertEqual((code, out), (130, ""), err)
                self.assertEqual(left["values"], [value], "lost")
                outcomes["left"] += 1
        outcomes["aborts"] = self.ctl.ok("stats")["ops"]["abort"] - aborts
        # Every canceled recv was aborted; the aborts beyond those found
        # the recv completed, and its value was printed.
        self.assertGreaterEqual(outcomes["aborts"], outcomes["left"])
        print("race: %(printed)d printed, %(left)d left in the channel, "
              "%(aborts)d aborts sent" % outcomes)


@unittest.skipUnless(os.path.exists(jqtest.SLOWSYNC), "slowsync.so not built")
class TakenValueTest(unittest.TestCase):
    """A recv that took a value whose removal is still being committed
    (its reply held, PROTOCOL.md 6.1) when SIGINT comes: the abort finds
    it completed, and jq-client prints the value and exits 0."""

    SLOW_MS = int(3000 * jqtest.TIMEOUT_SCALE)

    def test_value_taken_is_printed(self):
        slow_dir = tempfile.mkdtemp(prefix="jqd-slow-")
        self.addCleanup(shutil.rmtree, slow_dir, True)
        slow_file = os.path.join(slow_dir, "sync-ms")
        server = Server(env=jqtest.slow_sync_env(slow_file))
        server.start()
        self.addCleanup(server.stop)
        ctl = jqtest.Client(server)
        self.addCleanup(ctl.close)
        ctl.ok("make", chan="taken", cap=4)
        ctl.ok("send", chan="taken", value="kept")
        with open(slow_file, "w") as f:
            f.write("%d\n" % self.SLOW_MS)
        p = start_cli(server.addr, "recv", "taken")
        self.addCleanup(lambda: p.poll() is None and p.kill())
        # The recv took the value; the commit of its removal is in flight.
        wait_until(lambda: os.path.exists(slow_file + ".entered"),
                   what="the commit of the removal in flight")
        p.send_signal(signal.SIGINT)
        os.unlink(slow_file)
        code, out, err = finish(p)
        self.assertEqual((code, out), (0, "kept\n"), err)
        self.assertEqual(ctl.ok("stat", chan="taken")["len"], 0)


class OldServerTest(unittest.TestCase):
    """A server without "abort" (a 1.0 hello, here a fake one): jq-client
    catches nothing, and SIGINT ends it as it always did."""

    def test_sigint_kills(self):
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        self.addCleanup(lsock.close)
        got_recv = threading.Event()
        requests = []

        def serve():
            conn, _ = lsock.accept()
            with conn, conn.makefile("rwb") as f:
                for line in f:
                    req = json.loads(line)
                    requests.append(req)
                    if req["op"] == "recv":
                        got_recv.set()
                        continue        # blocks forever
                    reply = {"id": req["id"], "ok": True}
                    if req["op"] == "hello":
                        reply.update(server="jqd", version="0.0.9",
                                     protocol=1, auth_required=False)
                    f.write(json.dumps(reply).encode() + b"\n")
                    f.flush()

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        p = start_cli("127.0.0.1:%d" % lsock.getsockname()[1],
                      "recv", "c")
        self.addCleanup(lambda: p.poll() is None and p.kill())
        self.assertTrue(got_recv.wait(jqtest.WAIT_TIMEOUT_S),
                        "jq-client sent no recv")
        p.send_signal(signal.SIGINT)
        code, out, err = finish(p)
        self.assertEqual(code, -signal.SIGINT, err)
        self.assertNotIn("abort", [r["op"] for r in requests])
        t.join(jqtest.WAIT_TIMEOUT_S)


if __name__ == "__main__":
    main(need_client=True)
