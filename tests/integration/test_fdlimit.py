"""max-connections and the descriptor limit (PROTOCOL.md 8, RELIABILITY.md
Bounds): jqd raises its soft RLIMIT_NOFILE as far as max-connections needs
(up to the hard limit) and, when the hard limit is too low, lowers
max-connections to what fits, so a client past the limit gets the `limit`
frame instead of hanging in the backlog.  Jobs keep the soft limit jqd
started with.

jqd runs under prlimit(1) (util-linux); skipped without it."""

import os
import resource
import shutil
import unittest

import jqtest
from jqtest import Client, Server

CLIENTS = 300
HARD = 8192


def prlimit(soft, hard):
    return ("prlimit", "--nofile=%d:%d" % (soft, hard), "--")


def may_set_hard(n):
    """Can prlimit give jqd a hard limit of n?  Lowering always works;
    raising needs root (CAP_SYS_RESOURCE)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return (hard == resource.RLIM_INFINITY or hard >= n
            or os.geteuid() == 0)


@unittest.skipUnless(shutil.which("prlimit"), "prlimit not installed")
class DescriptorLimitTest(unittest.TestCase):

    def start(self, soft, hard):
        server = Server(exec_prefix=prlimit(soft, hard))
        server.start()
        self.addCleanup(server.check)
        return server

    def connect(self, server, n):
        clients = []
        for _ in range(n):
            c = Client(server)
            self.addCleanup(c.close)
            clients.append(c)
        return clients

    def job_nofile(self, c):
        """The soft descriptor limit a job started through c gets."""
        jid = c.ok("submit", argv=["sh", "-c", "ulimit -Sn"])["job"]
        (res,) = c.ok("wait", jobs=[jid], timeout_ms=60000,
                      reply_timeout=90)["results"]
        self.assertEqual(res["state"], "succeeded", res)
        return int(res["stdout"])

    def test_hard_limit_too_low_lowers_max_connections(self):
        server = self.start(256, 256)
        m = server.wait_log(r"warn: max-connections 4096 does not fit in "
                            r"the descriptor limit 256 .*lowered to (\d+)")
        fit = int(m.group(1))
        server.wait_log(r"info: descriptor limit 256 \(hard limit 256; "
                        r"\d+ kept beside the connections\): "
                        r"max-connections %d$" % fit)
        self.assertTrue(150 < fit < 250, fit)
        # ctl below is one of the `fit` connections.
        ctl = Client(server)
        self.addCleanup(ctl.close)
        held = self.connect(server, fit - 1)
        for c in held + [ctl]:
            c.ok("ping")
        # Every connection past the limit, up to the 300th, is told so and
        # closed -- none hangs unanswered.
        for i in range(fit + 1, CLIENTS + 1):
            (c,) = self.connect(server, 1)
            line = c.read_line()
            self.assertEqual(
                line, b'{"id":null,"ok":false,"error":{"code":"limit",'
                b'"message":"max_connections reached"}}', "connection %d" % i)
            c.expect_eof()
            c.close()
        # The budget left room for a job's pipes.
        self.assertEqual(self.job_nofile(ctl), 256)
        self.assertEqual(ctl.ok("stats")["connections"], fit)

    @unittest.skipUnless(may_set_hard(HARD), "hard descriptor limit below "
                         "%d and not root" % HARD)
    def test_soft_limit_raised_to_fit(self):
        server = self.start(256, HARD)
        m = server.wait_log(r"info: descriptor limit (\d+) \(raised from "
                            r"256, which jobs keep; hard limit %d; (\d+) "
                            r"kept beside the connections\): "
                            r"max-connections 4096$" % HARD)
        self.assertEqual(int(m.group(1)), 4096 + int(m.group(2)))
        self.assertFalse([l for l in server.log_lines
                          if "warn: max-connections" in l],
                         server.stderr_text())
        clients = self.connect(server, CLIENTS)
        for c in clients:
            c.ok("ping")
        self.assertEqual(clients[0].ok("stats")["connections"], CLIENTS)
        # Jobs start with the limit jqd started with, not the raised one.
        self.assertEqual(self.job_nofile(clients[0]), 256)


if __name__ == "__main__":
    jqtest.main()
