"""libjqclient-event (client/jqclient-event.h) on a libevent loop against a
real jqd, through tests/integration/jqc-event-driver: calls written before
the connection is up, replies out of order on one multiplexed connection,
abort, close with a call pending, a lost connection, a refused one."""

import os
import subprocess
import unittest

import jqtest
from jqtest import Client, Server, ServerTestCase, main

DRIVER = os.path.join(os.environ.get("ABS_TOP_BUILDDIR", ""), "tests",
                      "integration", "jqc-event-driver")


def driver(*args):
    return subprocess.Popen([DRIVER] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)


def lines(p):
    out, err = p.communicate(timeout=jqtest.WAIT_TIMEOUT_S)
    return p.returncode, out.splitlines(), err


@unittest.skipUnless(os.access(DRIVER, os.X_OK), "jqc-event-driver not built")
class JqcEventTest(ServerTestCase):

    def addr(self):
        return "unix:" + self.server.unix_path

    def test_scenario(self):
        chan = self.make(cap=0)
        rc, out, err = lines(driver(self.addr(), "scenario", chan))
        self.assertEqual(rc, 0, err)
        # The recv was written first, yet the ping answers first; the
        # send's and the recv's replies leave together, in either order.
        self.assertEqual(out[:2], ["connected multiplex", "ping ok"], out)
        self.assertEqual(sorted(out[2:4]), ["recv 42", "send ok"], out)
        self.assertEqual(out[4:], ["abort canceled", "close outcome_unknown",
                                   "done"], out)
        # The recv pending at the close was abandoned by the server.
        st = self.wait_stat(chan, receivers_waiting=0)
        self.assertEqual((st["len"], st["sent"], st["received"]), (0, 1, 1))

    def test_lost(self):
        # A jqd of its own, killed: the class's server lives on.
        server = Server()
        server.start()
        self.addCleanup(server.stop)
        c = Client(server, unix=True)
        c.ok("make", chan="lost", cap=1)
        p = driver("unix:" + server.unix_path, "lost", "lost")
        self.assertEqual(p.stdout.readline(), "connected multiplex\n")
        jqtest.wait_until(lambda: c.ok("stat", chan="lost")
                          ["receivers_waiting"] == 1)
        c.close()
        server.kill()
        rc, out, err = lines(p)
        self.assertEqual((rc, out), (0, ["recv outcome_unknown",
                                         "status io"]), err)
        self.assertIn("connection closed by server", err)

    def test_null_id_among_several(self):
        # test_jqc_shared.py's case of the same name, on the event loop:
        # 2 MiB refused unsent, then 100 KB over this jqd's 64K answered
        # with a null id while two calls are pending.
        server = Server("--max-frame", "64K", "--max-value", "32K")
        server.start()
        self.addCleanup(server.stop)
        c = Client(server, unix=True)
        c.ok("make", chan="n", cap=1)
        c.close()
        rc, out, err = lines(driver("unix:" + server.unix_path, "nullid",
                                    "n"))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out[:2], ["big frame_too_large",
                                   "connected multiplex"], out)
        self.assertEqual(sorted(out[2:4]), ["ping outcome_unknown",
                                            "recv outcome_unknown"], out)
        self.assertEqual(out[4:], ["status proto"], out)
        self.assertIn("null id (frame_too_large", err)

    def test_refused(self):
        path = os.path.join(self.server.dir, "nothing.sock")
        rc, out, err = lines(driver("unix:" + path, "refused"))
        self.assertEqual((rc, out), (0, ["status io"]), err)
        self.assertIn("cannot connect: unix:%s: " % path, err)


if __name__ == "__main__":
    main()
