"""libjqclient's thread-safe connection (struct jqc_shared, jqclient.h)
against a real jqd, through tests/integration/jqc-shared-driver: many
threads on one multiplexed connection with a blocked recv among them,
cancelable recvs racing sends without a value lost or doubled, and
idempotent calls (pings, keyed sends) carried across kill -9 and SIGTERM
restarts with nothing lost, while a plain recv reports outcome_unknown;
requests larger than the socket's buffers from many threads at once."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

import jqtest
from jqtest import Client, Server, ServerTestCase, main

DRIVER = os.path.join(os.environ.get("ABS_TOP_BUILDDIR", ""), "tests",
                      "integration", "jqc-shared-driver")
XC_SUBMIT = os.path.join(os.environ.get("ABS_TOP_BUILDDIR", ""), "tests",
                         "integration", "xc-submit")


def driver(addr, *args):
    return subprocess.Popen([DRIVER, addr] + [str(a) for a in args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, bufsize=1)


def read_line(proc):
    line = proc.stdout.readline()
    if not line:
        raise AssertionError("driver exited: %s" % proc.wait())
    return line.split()


def finish(proc):
    try:
        out, _ = proc.communicate(timeout=jqtest.WAIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, out


@unittest.skipUnless(os.access(DRIVER, os.X_OK),
                     "jqc-shared-driver not built")
class JqcSharedTest(ServerTestCase):

    def test_concurrent_callers_and_a_blocked_recv(self):
        chan = self.make(cap=1)
        p = driver("unix:" + self.server.unix_path, "concurrent", chan, 16,
                   100)
        self.addCleanup(finish, p)
        # 1600 requests from 16 threads pass the blocked recv.
        self.assertEqual(read_line(p), ["pinged", "1600"])
        self.assertEqual(self.wait_stat(chan, receivers_waiting=1)
                         ["receivers_waiting"], 1)
        self.ctl.ok("send", chan=chan, value={"n": 7})
        self.assertEqual(read_line(p), ["received", '{"n":7}'])

    def test_abort_races_send(self):
        chan = self.make(cap=1)
        p = driver("unix:" + self.server.unix_path, "abort-race", chan, 300)
        self.addCleanup(finish, p)
        words = read_line(p)
        # Every value reached exactly one receiver (the driver checks);
        # the race went both ways: by design in two rounds of three (a
        # send before the wake-up, a send after the recv's end), and the
        # third races them.
        self.assertEqual(words[:2], ["ok", "300"], words)
        received, canceled = int(words[3]), int(words[5])
        self.assertEqual(received + canceled, 300)
        self.assertGreaterEqual(received, 100, words)
        self.assertGreaterEqual(canceled, 100, words)
        self.assertEqual(self.ctl.ok("stat", chan=chan)["len"], 0)


@unittest.skipUnless(os.access(DRIVER, os.X_OK),
                     "jqc-shared-driver not built")
class JqcSharedBigTest(unittest.TestCase):

    def test_null_id_among_several(self):
        # A jqd of its own that takes lines of 64K at most: a request
        # over the client's limit (JQC_MUX_FRAME_MAX, 1 MiB) is refused
        # before it is sent; one under it but over the server's gets a
        # frame_too_large with a null id, which names neither of the two
        # calls pending: the connection fails rather than leave one
        # waiting for ever, and the next call dials again.
        server = Server("--max-frame", "64K", "--max-value", "32K")
        server.start()
        self.addCleanup(server.stop)
        c = Client(server, unix=True)
        c.ok("make", chan="n", cap=1)
        p = subprocess.Popen([DRIVER, "unix:" + server.unix_path, "nullid",
                              "n"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, bufsize=1)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        self.assertEqual(read_line(p), ["ready"])
        jqtest.wait_until(lambda: c.ok("stat", chan="n")
                          ["receivers_waiting"] == 1)
        c.close()
        out, err = p.communicate("go\n", timeout=jqtest.WAIT_TIMEOUT_S)
        self.assertEqual((p.returncode, out.splitlines()),
                         (0, ["big frame_too_large",
                              "small outcome_unknown",
                              "recv: outcome_unknown", "ping ok"]), err)
        self.assertIn("null id (frame_too_large", err)

    def test_big_requests_while_replies_come(self):
        # A jqd of its own that takes values of 900 KB and pauses a
        # connection at 256 KB of unsent replies: a request the socket
        # cannot take at once is written while the replies of others
        # come, which the writer must read (PROTOCOL.md 4.5), or the
        # server and the writer wait for each other for ever.
        server = Server("--max-value", "1000K", "--max-conn-buffer",
                        "256K")
        server.start()
        self.addCleanup(server.stop)
        c = Client(server, unix=True)
        c.ok("make", chan="big", cap=1000)
        c.close()
        p = driver("unix:" + server.unix_path, "big", "big", 16, 3, 900000)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        out, _ = p.communicate(timeout=jqtest.WAIT_TIMEOUT_S)
        self.assertEqual((p.returncode, out), (0, "ok 48\n"))


class RestartCase(unittest.TestCase):
    """A jqd on a socket path of the test's, restarted on the same
    database."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="jqc-shared-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.sock = os.path.join(self.dir, "jqd.sock")
        self.server = None

    def start(self):
        self.server = Server(state_dir=self.dir,
                             listen_args=["--unix", self.sock])
        self.server.start()
        self.addCleanup(self.server.stop)
        return Client(self.server, unix=True)


@unittest.skipUnless(os.access(DRIVER, os.X_OK),
                     "jqc-shared-driver not built")
class JqcSharedRestartTest(RestartCase):

    def pings(self, p):
        p.stdin.write("count\n")
        p.stdin.flush()
        words = read_line(p)
        self.assertEqual(words[0], "pings")
        return int(words[1])

    def wait_pings_grow(self, p):
        before = self.pings(p)
        jqtest.wait_until(lambda: self.pings(p) > before,
                          what="pings after the restart")

    def test_cancel_while_jqd_is_down(self):
        self.start().close()
        p = driver("unix:" + self.sock, "down")
        self.addCleanup(lambda: p.poll() is None and p.kill())
        self.assertEqual(read_line(p), ["ready"])
        self.server.kill()
        p.stdin.write("go\n")
        p.stdin.flush()
        # The ping was written to the dead connection (it may have been
        # applied) and then tried again and again: the wake-up ends the
        # wait between attempts well before the 60 s of retry_ms.
        words = read_line(p)
        self.assertEqual(words[:2], ["canceled", "outcome_unknown"], words)
        self.assertLess(int(words[2]), 15000, words)
        # Nothing written: no connection could be made.
        self.assertEqual(read_line(p), ["retried", "io"])
        rc, _ = finish(p)
        self.assertEqual(rc, 0)

    def test_kill_and_sigterm(self):
        c = self.start()
        c.ok("make", chan="block", cap=1)
        c.ok("make", chan="keyed", cap=100000)
        c.close()
        p = driver("unix:" + self.sock, "restart", "block", "keyed", 4)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        self.assertEqual(read_line(p), ["ready"])
        self.server.kill()
        # The plain recv was written: its outcome is unknown.
        self.assertEqual(read_line(p), ["recv:", "outcome_unknown"])
        self.start().close()
        self.wait_pings_grow(p)
        self.server.sigterm()
        self.server.check()
        c = self.start()
        self.wait_pings_grow(p)
        rc, out = finish(p)
        words = out.split()
        self.assertEqual((rc, words[0], words[2], words[3]),
                         (0, "pings", "failures", "0"), out)
        sent = int(words[5])
        values = []
        while True:
            r = c.call("recv", chan="keyed", timeout_ms=0)
            if not r["ok"]:
                self.assertEqual(r["error"]["code"], "timeout")
                break
            values.append(r["value"])
        # Every keyed send once, across both restarts.
        self.assertEqual(sorted(values), list(range(sent)),
                         json.dumps(values[-20:]))
        c.close()


@unittest.skipUnless(os.access(XC_SUBMIT, os.X_OK), "xc-submit not built")
class XcSubmitTest(RestartCase):
    """The C role of the cross-client test: started before jqd, jqd
    killed while the job runs and started again."""

    def test_submit_wait_across_kill(self):
        env = dict(os.environ, JQ_ADDR="unix:" + self.sock)
        env.pop("JQ_TOKEN", None)
        p = subprocess.Popen([XC_SUBMIT, "xc-key"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        c = self.start()

        def running():
            jobs = c.ok("jobs")["jobs"]
            return jobs and jobs[0]["state"] == "running"
        jqtest.wait_until(running, what="the job running")
        c.close()
        self.server.kill()
        c = self.start()
        out, err = p.communicate(timeout=jqtest.WAIT_TIMEOUT_S)
        self.assertEqual((p.returncode, out), (0, "succeeded xc\n"), err)
        jobs = c.ok("jobs")["jobs"]
        self.assertEqual([(j["state"], j["attempt"]) for j in jobs],
                         [("succeeded", 2)])
        c.close()


if __name__ == "__main__":
    main()
