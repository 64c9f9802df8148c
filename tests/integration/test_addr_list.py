#!/usr/bin/env python3
"""Address lists (jqclient.h "Addresses"; jq-client(1) ADDRESS LISTS;
jq-worker(8) FAILOVER): -H, -S and JQ_ADDR name several jqd nodes, of
which one serves; the others refuse (standing by, or down), hang at
connect (a host that is gone) or never answer a TLS handshake.

jq-client must reach the node that serves, whatever fails before it in
the list, and name every address when none serves.  jq-worker must
follow a failover: two jqd run one after the other on one database (the
second on the address the list names after the first, refusing until
then), and the agent re-registers with the second, which re-adopts the
job it runs, and takes that node's new jobs."""

import os
import subprocess
import time
import unittest

import jqtest
from jqtest import (Blackhole, Client, RestartTestCase, Server, Silent,
                    main, refused_port, unique_name)
from test_worker import Agent, AgentMixin, read, server_args

JQ_CLIENT = os.environ.get("JQ_CLIENT", "jq-client")
# A list gives each address 2 s (JQC_DIAL_TIMEOUT_MS).
DIAL_TIMEOUT_S = 2.0


def jq(*args, env=None, timeout=60):
    """Run jq-client with args; the caller's JQ_* settings left out."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("JQ_")}
    e["JQ_TOKEN"] = ""
    e.update(env or {})
    return subprocess.run([JQ_CLIENT] + list(args), env=e,
                          capture_output=True, text=True, timeout=timeout)


def has_chan(server, chan):
    with Client(server) as c:
        return c.call("stat", chan=chan)["ok"]


def tcp(port):
    return "127.0.0.1:%d" % port


class CliListTest(unittest.TestCase):
    """jq-client against two jqd (A, B) and addresses that do not serve."""

    @classmethod
    def setUpClass(cls):
        cls.a = Server().start()
        cls.b = Server().start()

    @classmethod
    def tearDownClass(cls):
        for s in (cls.a, cls.b):
            s.stop()
            s.check()

    def make_on(self, *args, env=None):
        """make a fresh channel through args; its name, the result, and
        how long it took."""
        ch = unique_name("list")
        t0 = time.monotonic()
        p = jq(*(list(args) + ["make", ch]), env=env)
        return ch, p, time.monotonic() - t0

    def assertOnlyOn(self, server, other, ch):
        self.assertTrue(has_chan(server, ch), "not on the serving node")
        self.assertFalse(has_chan(other, ch), "on the other node too")

    def test_refused_first(self):
        r = refused_port()
        ch, p, _ = self.make_on("-H", "%s, %s,%s" % (tcp(r), tcp(self.a.port),
                                                    tcp(self.b.port)))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertOnlyOn(self.a, self.b, ch)

    def test_hanging_first(self):
        h = Blackhole()
        self.addCleanup(h.close)
        ch, p, took = self.make_on("-H", "%s,%s" % (tcp(h.port),
                                                    tcp(self.b.port)))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertOnlyOn(self.b, self.a, ch)
        # It waited for the hanging one, and not much longer.
        self.assertGreaterEqual(took, DIAL_TIMEOUT_S - 0.1)
        self.assertLess(took, 30)

    def test_env_and_unix_lists(self):
        r = refused_port()
        ch, p, _ = self.make_on(env={"JQ_ADDR": "%s,%s" % (
            tcp(r), tcp(self.b.port))})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertOnlyOn(self.b, self.a, ch)
        missing = os.path.join(os.path.dirname(self.a.unix_path), "none")
        ch, p, _ = self.make_on("-S", "%s,%s" % (missing, self.a.unix_path))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertOnlyOn(self.a, self.b, ch)

    def test_none_serves(self):
        r = refused_port()
        h = Blackhole()
        self.addCleanup(h.close)
        p = jq("-H", "%s,%s" % (tcp(r), tcp(h.port)), "ping")
        self.assertEqual(p.returncode, 3, p.stderr)
        err = p.stderr.strip()
        self.assertTrue(err.startswith(
            "jq-client: cannot connect to any of the 2 addresses: "), err)
        self.assertIn("%s: Connection refused; " % tcp(r), err)
        self.assertIn("%s: Connection timed out" % tcp(h.port), err)

    def test_bad_lists_are_usage_errors(self):
        p = jq("-H", "%s,,%s" % (tcp(self.a.port), tcp(self.b.port)),
               "ping")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("-H: address 2 of 3: empty address", p.stderr)
        p = jq("-H", "tls:%s,%s" % (tcp(self.a.port), self.a.unix_path),
               "ping")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("TLS is for TCP addresses, not '%s'"
                      % self.a.unix_path, p.stderr)


class CliTlsListTest(unittest.TestCase):
    """A list over TLS: a peer that never answers the handshake is given
    up after its 2 s, and one tls: address makes the whole list TLS."""

    @classmethod
    def setUpClass(cls):
        cls.f = jqtest.tls_files()
        d = os.path.dirname(cls.f["ca"])
        cls.t = Server("--insecure-tcp", "--tls-cert", cls.f["server_cert"],
                       "--tls-key", cls.f["server_key"],
                       listen_args=["--listen", "tls:127.0.0.1:0", "--unix",
                                    os.path.join(d, "list-jqd.sock")])
        cls.t.start()

    @classmethod
    def tearDownClass(cls):
        cls.t.stop()
        cls.t.check()

    def test_silent_then_tls(self):
        s = Silent()
        self.addCleanup(s.close)
        r = refused_port()
        t0 = time.monotonic()
        p = jq("-H", "tls:%s,tls:%s,tls:%s" % (tcp(s.port), tcp(r),
                                              tcp(self.t.tls_port)),
               "--tls-ca", self.f["ca"], "ping")
        took = time.monotonic() - t0
        self.assertEqual((p.returncode, p.stdout), (0, "pong\n"), p.stderr)
        self.assertGreaterEqual(took, DIAL_TIMEOUT_S - 0.1)
        self.assertLess(took, 30)

    def test_one_tls_address_is_tls_for_all(self):
        # The serving node written without tls: still gets TLS.
        r = refused_port()
        p = jq("-H", "tls:%s,%s" % (tcp(r), tcp(self.t.tls_port)),
               "--tls-ca", self.f["ca"], "ping")
        self.assertEqual((p.returncode, p.stdout), (0, "pong\n"), p.stderr)


class WorkerFailoverTest(AgentMixin, RestartTestCase):
    """One database, two jqd one after the other: A on a port of its
    own, then B on the port the list names second."""

    def node(self, port):
        s = Server(*server_args(), state_dir=self.dir,
                   listen_args=["--listen", tcp(port), "--insecure-tcp"])
        s.start()
        self.addCleanup(s.stop)
        c = Client(s)
        self.addCleanup(c.close)
        return s, c

    def test_agent_follows_failover_and_readopts(self):
        port_b = refused_port()
        a, ca = self.node(0)
        w = Agent(["-H", "%s,%s" % (tcp(a.port), tcp(port_b))],
                  unique_name("w")[:100], [self.pool], self.state_dir,
                  self.tmp)
        self.addCleanup(w.check, self)
        self.addCleanup(w.close)
        w.registered()
        w.wait_log(r"connected to %s$" % tcp(a.port))
        count = self.path("count")
        script = ('echo $$ > %s.tmp && mv %s.tmp %s; '
                  'while [ ! -e %s ]; do sleep 0.05; done; echo run >> %s'
                  % (self.path("r.pid"), self.path("r.pid"),
                     self.path("r.pid"), self.path("r.go"), count))
        j = self.submit(ctl=ca, argv=["sh", "-c", script], retries=3)
        self.marker_pid("r.pid")
        self.assertEqual(self.job(j, ca)["worker"], w.worker)

        # A goes; until B takes over, both addresses refuse.
        a.stop()
        ca.close()
        b, cb = self.node(port_b)
        w.registered(2)
        w.wait_log(r"connected to %s$" % tcp(port_b))
        w.wait_log(r"registered as .*, 1 attempt held")
        self.assertEqual(self.job(j, cb)["state"], "running")
        self.go("r")
        r = self.wait_state(j, "succeeded", ctl=cb)
        self.assertEqual((r["attempt"], r["worker"]), (1, w.worker))
        self.assertEqual(read(count), "run\n")

        # And B's new jobs run on it.
        j2 = self.submit(ctl=cb, argv=["echo", "on b"])
        r = self.wait_state(j2, "succeeded", ctl=cb)
        self.assertEqual((r["stdout"], r["worker"]), ("on b\n", w.worker))


if __name__ == "__main__":
    if not os.access(os.environ.get("JQ_WORKER", ""), os.X_OK):
        print("JQ_WORKER is not set to an executable; skipping")
        raise SystemExit(77)
    main(need_client=True)
