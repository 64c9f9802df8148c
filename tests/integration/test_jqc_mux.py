"""libjqclient's multiplexed calls against a real jqd (jqclient.h, the
end; PROTOCOL.md 4.7, 9.1, 9.5), through tests/integration/jqc-mux-driver:
hello's 1.1 members and features, requests by id with replies out of
order, abort by ref, jqc_call_cancelable woken while blocked and left to
complete, and serial calls on a multiplexed connection."""

import json
import os
import subprocess
import time
import unittest

import jqtest
from jqtest import ServerTestCase, main

DRIVER = os.path.join(os.environ.get("ABS_TOP_BUILDDIR", ""), "tests",
                      "integration", "jqc-mux-driver")


class Driver:
    """The driver process on one connection: a command in, a line out."""

    def __init__(self, addr):
        self.proc = subprocess.Popen([DRIVER, addr], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True,
                                     bufsize=1)

    def write(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def read(self):
        # A line is printed for every command; the reply of a blocked
        # call comes when it ends.  jqtest's watchdog guards a hang.
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("driver exited: %s" % self.proc.wait())
        return json.loads(line)

    def do(self, line):
        self.write(line)
        return self.read()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(jqtest.WAIT_TIMEOUT_S)
        self.proc.stdout.close()


@unittest.skipUnless(os.access(DRIVER, os.X_OK), "jqc-mux-driver not built")
class JqcMuxTest(ServerTestCase):

    def driver(self, hello=True):
        d = Driver(self.server.addr)
        self.addCleanup(d.close)
        if hello:
            self.assertIs(d.do("hello")["multiplex"], True)
        return d

    def test_hello(self):
        d = self.driver(hello=False)
        before = int(time.time() * 1000)
        h = d.do("hello")
        after = int(time.time() * 1000)
        self.assertEqual((h["multiplex"], h["minor"], h["abort"],
                          h["nonesuch"]), (True, 4, True, False))
        self.assertLessEqual(before - 1000, h["time_ms"])
        self.assertLessEqual(h["time_ms"], after + 1000)
        version = self.ctl.ok("hello")["version"]
        self.assertTrue(h["build"].startswith(version), h["build"])

    def test_out_of_order(self):
        chan = self.make(cap=2)
        d = self.driver()
        self.assertEqual(d.do('send 1 {"op":"recv","chan":"%s"}' % chan),
                         {"sent": 1})
        self.assertEqual(d.do('send 2 {"op":"ping"}'), {"sent": 2})
        self.assertEqual(d.do('send 2 {"op":"ping"}')["error"], "inval")
        self.assertEqual(d.do("read"), {"id": 2, "reply": {"id": 2,
                                                           "ok": True}})
        self.wait_stat(chan, receivers_waiting=1)
        self.ctl.ok("send", chan=chan, value={"n": 1})
        r = d.do("read")
        self.assertEqual((r["id"], r["reply"]["value"]), (1, {"n": 1}))
        self.assertEqual(d.do("read")["error"], "inval")

    def test_abort(self):
        chan = self.make(cap=2)
        d = self.driver()
        d.do('send 5 {"op":"recv","chan":"%s"}' % chan)
        self.wait_stat(chan, receivers_waiting=1)
        self.assertEqual(d.do("ping")["error"], "inval",
                         "serial calls wait for multiplexed ones")
        d.do("abort 6 5")
        first, second = d.do("read"), d.do("read")
        self.assertEqual((first["id"], first["reply"]["error"]["code"]),
                         (5, "canceled"))
        self.assertEqual((second["id"], second["reply"]["aborted"]),
                         (6, True))
        self.wait_stat(chan, receivers_waiting=0)
        self.assertEqual(d.do("ping"), {"ok": True})

    def test_call_woken(self):
        chan = self.make(cap=2)
        d = self.driver()
        d.write('call {"op":"recv","chan":"%s"}' % chan)
        self.wait_stat(chan, receivers_waiting=1)
        d.write("wake")
        r = d.read()
        self.assertIs(r["aborted"], True)
        self.assertEqual(r["reply"]["error"]["code"], "canceled")
        self.ctl.ok("send", chan=chan, value="stays")
        self.assertEqual(self.wait_stat(chan, receivers_waiting=0)["len"],
                         1)

    def test_call_completes(self):
        chan = self.make(cap=2)
        d = self.driver()
        d.write('call {"op":"recv","chan":"%s"}' % chan)
        self.wait_stat(chan, receivers_waiting=1)
        self.ctl.ok("send", chan=chan, value="taken")
        r = d.read()
        self.assertEqual((r["aborted"], r["reply"]["value"]),
                         (False, "taken"))
        # The connection is ready for the next call.
        self.assertEqual(d.do("ping"), {"ok": True})


if __name__ == "__main__":
    main()
