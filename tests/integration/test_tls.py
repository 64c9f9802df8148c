"""TLS (jqd(8) tls-cert, tls-key, tls-ca; jqclient.h "TLS"; PROTOCOL.md
section 1): jq-client and libjqclient over a tls: listener, verification
failures (wrong CA, name mismatch), mutual TLS, a plain client on a TLS
port, a stalled handshake, /metrics over HTTPS, bad files at start-up,
a keyed send retried over TLS after a restart."""

import os
import shutil
import socket
import subprocess
import tempfile
import unittest

import jqtest
from jqtest import Server, wait_until, main

JQ_CLIENT = os.environ.get("JQ_CLIENT", "jq-client")
DRIVER = os.path.join(os.environ.get("ABS_TOP_BUILDDIR", ""), "tests",
                      "integration", "jqc-mux-driver")


def tls_server(*extra, host="127.0.0.1", state_dir=None, port=0,
               files=None):
    f = files or jqtest.tls_files()
    d = tempfile.mkdtemp(prefix="jqd-tls-sock-")
    s = Server("--insecure-tcp", "--tls-cert", f["server_cert"],
               "--tls-key", f["server_key"], *extra, state_dir=state_dir,
               listen_args=["--listen", "tls:%s:%d" % (host, port),
                            "--unix", os.path.join(d, "jqd.sock")])
    s.start()
    return s


def jq(addr, *args, env=None, timeout=60):
    e = dict(os.environ)
    for k in ("JQ_TLS", "JQ_TLS_CA", "JQ_TLS_CERT", "JQ_TLS_KEY",
              "JQ_TOKEN"):
        e.pop(k, None)
    e.update(env or {})
    return subprocess.run([JQ_CLIENT, "-H", addr] + list(args), env=e,
                          capture_output=True, text=True, timeout=timeout)


class TlsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.f = jqtest.tls_files()
        cls.server = tls_server()
        cls.addr = "tls:127.0.0.1:%d" % cls.server.tls_port

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_send_recv(self):
        ch = jqtest.unique_name("tls")
        p = jq(self.addr, "--tls-ca", self.f["ca"], "make", ch, "4")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = jq(self.addr, "--tls-ca", self.f["ca"], "send", ch, '"over tls"')
        self.assertEqual(p.returncode, 0, p.stderr)
        # --tls with a plain HOST:PORT, the CA from the environment, and
        # the name "localhost" (a DNS subjectAltName).
        p = jq("localhost:%d" % self.server.tls_port, "--tls", "recv", ch,
               env={"JQ_TLS_CA": self.f["ca"]})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "over tls")

    def test_wrong_ca(self):
        p = jq(self.addr, "--tls-ca", self.f["other_ca"], "stats")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("certificate verify failed: unable to get local "
                      "issuer certificate", p.stderr)

    def test_plain_client_closed_server_serves(self):
        with socket.create_connection(("127.0.0.1",
                                       self.server.tls_port)) as s:
            s.settimeout(30)
            s.sendall(b'{"op":"ping","id":1}\n')
            try:
                data = s.recv(4096)
                while data and b'"ok"' not in data:
                    data = s.recv(4096)
            except ConnectionResetError:
                data = b""
            self.assertNotIn(b'"ok"', data)
        p = jq(self.addr, "--tls-ca", self.f["ca"], "stats")
        self.assertEqual(p.returncode, 0, p.stderr)

    @unittest.skipUnless(os.access(DRIVER, os.X_OK), "driver not built")
    def test_mux_abort_blocked_recv(self):
        ch = jqtest.unique_name("tlsmux")
        self.assertEqual(jq(self.addr, "--tls-ca", self.f["ca"], "make",
                            ch).returncode, 0)
        d = subprocess.Popen([DRIVER, self.addr, self.f["ca"]],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, bufsize=1)
        self.addCleanup(d.wait, 30)
        self.addCleanup(d.stdout.close)
        self.addCleanup(d.stdin.close)

        def do(line):
            d.stdin.write(line + "\n")
            d.stdin.flush()
            return jqtest.json.loads(d.stdout.readline())

        self.assertIs(do("hello")["multiplex"], True)
        # Two requests in one write: their replies may come in one TLS
        # record, the second left in OpenSSL's buffer (SSL_pending).
        do('send 1 {"op":"recv","chan":"%s"}' % ch)
        do('send 2 {"op":"ping"}')
        r = do("read")
        self.assertEqual(r["id"], 2)
        do('send 3 {"op":"abort","ref":1}')
        ids = sorted(do("read")["id"] for _ in range(2))
        self.assertEqual(ids, [1, 3])


class TlsServerTest(unittest.TestCase):
    """Each test its own jqd."""

    @classmethod
    def setUpClass(cls):
        cls.f = jqtest.tls_files()

    def test_name_mismatch(self):
        # 127.0.0.2 is loopback, and not in the certificate.
        s = tls_server(host="127.0.0.2")
        self.addCleanup(s.stop)
        p = jq("tls:127.0.0.2:%d" % s.tls_port, "--tls-ca", self.f["ca"],
               "stats")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("certificate verify failed: "
                      "IP address mismatch", p.stderr)

    def test_mutual_tls(self):
        s = tls_server("--tls-ca", self.f["ca"])
        self.addCleanup(s.stop)
        addr = "tls:127.0.0.1:%d" % s.tls_port
        p = jq(addr, "--tls-ca", self.f["ca"], "stats")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("certificate required", p.stderr)
        p = jq(addr, "--tls-ca", self.f["ca"], "--tls-cert",
               self.f["client_cert"], "--tls-key", self.f["client_key"],
               "stats")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_stalled_handshake_is_closed(self):
        # Trusted (insecure-tcp), so no auth timer would run: the
        # handshake alone is bounded by auth-timeout.
        s = tls_server("--auth-timeout", "300ms")
        self.addCleanup(s.stop)
        with socket.create_connection(("127.0.0.1", s.tls_port)) as c:
            c.settimeout(30)
            self.assertEqual(c.recv(100), b"")

    def test_metrics_https(self):
        if shutil.which("curl") is None:
            self.skipTest("curl is not installed")
        s = tls_server("--metrics", "tls:127.0.0.1:0")
        self.addCleanup(s.stop)
        m = s.wait_log(r"metrics on https://127\.0\.0\.1:(\d+)/metrics")
        url = "https://127.0.0.1:%s/metrics" % m.group(1)
        p = subprocess.run(["curl", "-sS", "--cacert", self.f["ca"], url],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("jqd_connections", p.stdout)
        p = subprocess.run(["curl", "-sS", "--cacert", self.f["other_ca"],
                            url], capture_output=True, text=True,
                           timeout=60)
        self.assertNotEqual(p.returncode, 0)

    def test_bad_files_at_startup(self):
        d = tempfile.mkdtemp(prefix="jqd-tls-bad-")
        self.addCleanup(shutil.rmtree, d, True)
        junk = os.path.join(d, "junk.pem")
        with open(junk, "w") as f:
            f.write("not a certificate\n")
        jqd = os.environ["JQD"]
        base = [jqd, "--listen", "tls:127.0.0.1:0", "--insecure-tcp",
                "--db", os.path.join(d, "db"), "--unix",
                os.path.join(d, "s.sock")]
        cases = [
            (["--tls-cert", junk, "--tls-key", self.f["server_key"]],
             "tls-cert " + junk + ": "),
            (["--tls-cert", self.f["server_cert"], "--tls-key", junk],
             "tls-key " + junk + ": "),
            (["--tls-cert", self.f["server_cert"], "--tls-key",
              self.f["client_key"]], "tls-key " + self.f["client_key"]),
            (["--tls-cert", self.f["server_cert"], "--tls-key",
              self.f["server_key"], "--tls-ca", junk], "tls-ca " + junk),
            ([], "needs tls-cert and tls-key"),
        ]
        for args, want in cases:
            p = subprocess.run(base + args, capture_output=True, text=True,
                               timeout=60)
            self.assertNotEqual(p.returncode, 0, args)
            self.assertIn(want, p.stderr, args)

    def test_keyed_send_retried_after_restart(self):
        d = tempfile.mkdtemp(prefix="jqd-tls-retry-")
        self.addCleanup(shutil.rmtree, d, True)
        s = tls_server(state_dir=d)
        port = s.tls_port
        addr = "tls:127.0.0.1:%d" % port
        ca = ["--tls-ca", self.f["ca"]]
        self.assertEqual(jq(addr, *ca, "make", "r", "1").returncode, 0)
        self.assertEqual(jq(addr, *ca, "send", "r", "fill").returncode, 0)
        e = dict(os.environ, JQ_TLS_CA=self.f["ca"])
        p = subprocess.Popen([JQ_CLIENT, "-H", addr, "send", "--key", "R",
                              "r", "mine"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=e)
        self.addCleanup(p.kill)
        stat = lambda: jqtest.json.loads(jq(addr, *ca, "--json", "stat",
                                            "r").stdout or "{}")
        wait_until(lambda: stat().get("senders_waiting") == 1)
        s.kill()
        s = tls_server(state_dir=d, port=port)
        self.addCleanup(s.stop)
        wait_until(lambda: stat().get("senders_waiting") == 1)
        self.assertEqual(jq(addr, *ca, "recv", "r").stdout.strip(), "fill")
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(jq(addr, *ca, "recv", "r").stdout.strip(), "mine")


if __name__ == "__main__":
    main(need_client=True)
