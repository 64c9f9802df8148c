"""TLS (jqd(8) tls-cert, tls-key, tls-ca; jqclient.h "TLS"; PROTOCOL.md
section 1): jq-client and libjqclient over a tls: listener, verification
failures (wrong CA, name mismatch), mutual TLS, a plain client on a TLS
port, a stalled handshake, /metrics over HTTPS, bad files at start-up,
a keyed send retried over TLS after a restart, certificates reloaded on
SIGHUP, a TLS client over max-connections."""

import os
import shutil
import signal
import socket
import ssl
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


def der(pem_file):
    with open(pem_file) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def tls_conn(port, ca):
    """A TLS connection to 127.0.0.1:port, verified against ca, that has
    answered a ping."""
    ctx = ssl.create_default_context(cafile=ca)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port),
                                                 timeout=30),
                        server_hostname="127.0.0.1")
    ping(s)
    return s


def read_until_eof(s):
    """Everything s receives until the peer closes (an unexpected EOF or
    a reset counts as the close)."""
    data = b""
    while True:
        try:
            chunk = s.recv(4096)
        except (ssl.SSLEOFError, ConnectionResetError):
            return data
        if not chunk:
            return data
        data += chunk


def ping(s):
    s.sendall(b'{"id":1,"op":"ping"}\n')
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            raise AssertionError("closed after %r" % data)
        data += chunk
    assert jqtest.json.loads(data) == {"id": 1, "ok": True}, data


class TlsReloadTest(unittest.TestCase):
    """SIGHUP loads tls-cert and tls-key again (jqd(8) --tls-cert)."""

    def test_sighup_reloads_certificate(self):
        f = jqtest.tls_files()
        d = tempfile.mkdtemp(prefix="jqd-tls-reload-")
        self.addCleanup(shutil.rmtree, d, True)
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        shutil.copy(f["server_cert"], cert)
        shutil.copy(f["server_key"], key)
        s = tls_server(files={"server_cert": cert, "server_key": key})
        self.addCleanup(s.stop)
        old = tls_conn(s.tls_port, f["ca"])
        self.addCleanup(old.close)
        self.assertEqual(old.getpeercert(binary_form=True),
                         der(f["server_cert"]))

        def sighup(what):
            start = len(s.log_lines)
            s.proc.send_signal(signal.SIGHUP)
            return s.wait_log(what, start=start)

        # Renewed: new connections get the new certificate, the open one
        # keeps its session.
        shutil.copy(f["server2_cert"], cert)
        shutil.copy(f["server2_key"], key)
        sighup(r"info: SIGHUP: TLS certificate reloaded from " + cert)
        new = tls_conn(s.tls_port, f["ca"])
        self.addCleanup(new.close)
        self.assertEqual(new.getpeercert(binary_form=True),
                         der(f["server2_cert"]))
        ping(old)

        # A file that does not load: an error naming it, and the
        # certificate loaded last stays in use.  So does a key that does
        # not match the certificate.
        with open(cert, "w") as out:
            out.write("not a certificate\n")
        sighup(r"error: SIGHUP: tls-cert " + cert + ": .+")
        s.wait_log(r"error: SIGHUP: keeping the previous certificate")
        shutil.copy(f["server_cert"], cert)     # key.pem is server2's
        start = len(s.log_lines)
        s.proc.send_signal(signal.SIGHUP)
        s.wait_log(r"error: SIGHUP: tls-key " + key + ": .+", start=start)
        s.wait_log(r"error: SIGHUP: keeping the previous certificate",
                   start=start)
        for _ in range(2):
            c = tls_conn(s.tls_port, f["ca"])
            self.assertEqual(c.getpeercert(binary_form=True),
                             der(f["server2_cert"]))
            c.close()
        ping(old)
        ping(new)


class TlsLimitTest(unittest.TestCase):
    """max-connections counts TLS connections; the one over it gets the
    limit notice inside TLS, after the handshake (PROTOCOL.md 1)."""

    def test_over_max_connections(self):
        f = jqtest.tls_files()
        s = tls_server("--max-connections", "3")
        self.addCleanup(s.stop)
        held = [tls_conn(s.tls_port, f["ca"]) for _ in range(3)]
        for c in held:
            self.addCleanup(c.close)
        ctx = ssl.create_default_context(cafile=f["ca"])
        with ctx.wrap_socket(socket.create_connection(
                ("127.0.0.1", s.tls_port), timeout=30),
                server_hostname="127.0.0.1") as c:
            data = read_until_eof(c)
        self.assertEqual(jqtest.json.loads(data), {
            "id": None, "ok": False, "error": {
                "code": "limit", "message": "max_connections reached"}})
        addr = "tls:127.0.0.1:%d" % s.tls_port
        p = jq(addr, "--tls-ca", f["ca"], "stats")
        # The notice answers no request (PROTOCOL.md 13 item 2): jq-client
        # could not connect, and says what the server said.
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("jq-client: limit: max_connections reached", p.stderr)
        for c in held:
            ping(c)
        # A freed slot is served again.
        held.pop().close()

        def served():
            try:
                c = tls_conn(s.tls_port, f["ca"])
            except (AssertionError, OSError):
                return False
            self.addCleanup(c.close)
            held.append(c)
            return True
        wait_until(served)
        p = jq(addr, "--tls-ca", f["ca"], "stats")
        # The notice answers no request (PROTOCOL.md 13 item 2): jq-client
        # could not connect, and says what the server said.
        self.assertEqual(p.returncode, 3, p.stderr)


if __name__ == "__main__":
    main(need_client=True)
