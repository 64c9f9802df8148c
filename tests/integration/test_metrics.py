"""The bounds of the metrics endpoint (`--metrics`, jqd(8)): what a
request may carry, how many connections and for how long, what happens
when descriptors run out, and the bearer token compared whole.  Issue 21,
items 2, 3 and 11.

Every jqd here requires a token, on the protocol port and on /metrics, so
the tests hold whichever way the default for plain TCP goes.  Each test
starts its own jqd: the memory and CPU figures must be that test's alone.
"""

import http.client
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import jqtest
from jqtest import Server, wait_until

BOUND_S = 30 * jqtest.TIMEOUT_SCALE   # anything that must happen
TOKEN = "metrics-token"
MiB = 1 << 20

# The limits daemon/metrics.c sets (documented in jqd(8), --metrics).
MAX_HEAD = 8192
MAX_CONNECTIONS = 64
CONN_LIFETIME_S = 10

# Runs the rest of argv with RLIMIT_NOFILE at argv[1] (soft and hard, so
# that jqd cannot raise it), keeping the pid: jqd's descriptors run out.
NOFILE = r"""
import os, resource, sys
n = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
os.execvp(sys.argv[2], sys.argv[2:])
"""


def proc_status(pid, field):
    """A kB figure of /proc/PID/status (VmRSS, VmHWM), in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def cpu_seconds(pid):
    """User + system CPU time jqd has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rpartition(")")[2].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request_head(method="GET", path="/metrics", token=TOKEN, extra=""):
    auth = "Authorization: Bearer %s\r\n" % token if token is not None else ""
    return ("%s %s HTTP/1.1\r\nHost: localhost\r\n%s%s\r\n"
            % (method, path, auth, extra)).encode()


def read_all(sock, timeout=BOUND_S):
    """Bytes until the server closes (a reset counts as a close)."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no close within %s s; got %r"
                                 % (timeout, data[:200]))
        if not select.select([sock], [], [], left)[0]:
            continue
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def token_dir(data):
    """A temporary directory with a token file holding data (bytes):
    (directory, path of the file).  The caller removes the directory."""
    tmp = tempfile.mkdtemp(prefix="jqd-metrics-")
    path = os.path.join(tmp, "token")
    with open(path, "wb") as f:
        f.write(data)
    return tmp, path


class MetricsServer:
    """A jqd with a token and --metrics 127.0.0.1:0 (plus args)."""

    def __init__(self, *args, exec_prefix=(), token=TOKEN):
        self.token = token
        self.tmp, self.token_path = token_dir(token.encode() + b"\n")
        self.server = Server("--token-file", self.token_path,
                             "--metrics", "127.0.0.1:0", *args,
                             exec_prefix=exec_prefix)

    def __enter__(self):
        try:
            self.server.start()
            m = self.server.wait_log(
                r"metrics on http://127\.0\.0\.1:(\d+)/metrics")
        except BaseException:
            self.server.stop()
            shutil.rmtree(self.tmp, True)
            raise
        self.port = int(m.group(1))
        self.pid = self.server.proc.pid
        return self

    def __exit__(self, *exc):
        try:
            return self.server.__exit__(*exc)
        finally:
            shutil.rmtree(self.tmp, True)

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.port),
                                     timeout=BOUND_S)
        return s

    def scrape(self, method="GET", path="/metrics", token=""):
        """(status, headers, body) of one request through http.client;
        token None sends none, "" (the default) jqd's."""
        if token == "":
            token = self.token
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=BOUND_S)
        try:
            headers = {}
            if token is not None:
                headers["Authorization"] = "Bearer " + token
            conn.request(method, path, headers=headers)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def push(self, head, chunk, total):
        """Send head, then chunk until total bytes of it went out.
        Returns how many went out before jqd hung up (total if it never
        did).  A stall fails the test: jqd must read or hang up."""
        s = self.connect()
        try:
            s.sendall(head)
            sent = 0
            while sent < total:
                try:
                    s.sendall(chunk)
                except socket.timeout:
                    raise AssertionError("jqd neither read nor hung up "
                                         "within %s s" % BOUND_S)
                except OSError:  # EPIPE, ECONNRESET: it hung up
                    return sent
                sent += len(chunk)
            return sent
        finally:
            s.close()


class MetricsBoundsTest(unittest.TestCase):

    def assertScrapes(self, ms):
        status, headers, body = ms.scrape()
        self.assertEqual(status, 200, body[:300])
        self.assertIn(b"jqd_uptime_seconds", body)
        return headers, body

    # -- item 2: request size and methods ----------------------------------

    def test_body_is_refused_unread(self):
        """No request body is read: not a POST's, not a GET's, not a
        chunked one's, and not an endless chunk-size line.  jqd hangs up
        (after a 413 where it can) and its peak RSS stays put."""
        chunk = b"x" * MiB
        total = 64 * MiB
        cases = {
            "POST": request_head("POST", extra="Content-Length: %d\r\n"
                                 % total),
            "GET with a body": request_head(
                extra="Content-Length: %d\r\n" % total),
            "POST without a token": request_head(
                "POST", token=None, extra="Content-Length: %d\r\n" % total),
            "chunked": request_head(
                "POST", extra="Transfer-Encoding: chunked\r\n")
            + b"%x\r\n" % total,
            "endless chunk size": request_head(
                extra="Transfer-Encoding: chunked\r\n"),
        }
        for what, head in cases.items():
            # A jqd each: a peak reached once hides a second one.
            with self.subTest(what), MetricsServer() as ms:
                self.assertScrapes(ms)
                body = chunk if what != "endless chunk size" else b"f" * MiB
                before = proc_status(ms.pid, "VmHWM")
                sent = ms.push(head, body, total)
                grown = proc_status(ms.pid, "VmHWM") - before
                self.assertLess(grown, 32 * MiB,
                                "peak RSS grew by %d bytes" % grown)
                self.assertLess(sent, total,
                                "jqd read the whole %d-byte body" % total)
                self.assertScrapes(ms)

    def test_endless_header_line_is_cut_off(self):
        """A header line (or request line) without end is refused once it
        passes the head limit; it costs jqd next to no CPU."""
        total = 16 * MiB
        heads = {
            "request line": b"GET /",
            "header line": b"GET /metrics HTTP/1.1\r\nX-Long: ",
        }
        with MetricsServer() as ms:
            for what, head in heads.items():
                with self.subTest(what):
                    cpu = cpu_seconds(ms.pid)
                    sent = ms.push(head, b"a" * 65536, total)
                    used = cpu_seconds(ms.pid) - cpu
                    self.assertLess(sent, total, "jqd read all %d bytes of "
                                    "one line" % total)
                    self.assertLess(used, 2.0, "jqd used %.2f s of CPU" % used)
                    self.assertScrapes(ms)

    def test_head_is_answered_other_methods_are_not(self):
        with MetricsServer() as ms:
            _, body = self.assertScrapes(ms)
            status, headers, head_body = ms.scrape("HEAD")
            self.assertEqual(status, 200)
            self.assertEqual(head_body, b"")
            for method in ("POST", "PUT", "DELETE", "OPTIONS"):
                with self.subTest(method=method):
                    status, _, _ = ms.scrape(method)
                    self.assertIn(status, (405, 501))
            status, _, body = ms.scrape(token="wrong")
            self.assertEqual(status, 401)
            self.assertNotIn(b"jqd_", body)

    def test_long_token_fits_the_head(self):
        """The head limit leaves room for the longest token a token file
        holds (4095 bytes, PROTOCOL.md 8) and ordinary headers; a prefix
        of the token, or the token and more, is refused."""
        with MetricsServer(token="t" * 4095) as ms:
            self.assertScrapes(ms)
            for wrong in ("t" * 4094, "t" * 4096):
                status, _, _ = ms.scrape(token=wrong)
                self.assertEqual(status, 401)

    # -- item 3: connections --------------------------------------------------

    def test_connections_over_the_bound_are_refused(self):
        """With MAX_CONNECTIONS connections open, more are turned away at
        once (a 503, or closed unanswered), with a log line a second at
        most; once they go, scraping works again."""
        with MetricsServer() as ms:
            def refused():
                s = ms.connect()
                try:
                    s.sendall(request_head())
                except OSError:
                    pass  # refused before we wrote: as good
                reply = read_all(s)
                s.close()
                self.assertFalse(reply.startswith(b"HTTP/1.1 200"),
                                 reply[:200])
                if reply:
                    self.assertTrue(reply.startswith(b"HTTP/1.1 503"),
                                    reply[:200])

            def lines(pattern):
                return [l for l in ms.server.log_lines if re.search(pattern, l)]
            held = []
            try:
                for _ in range(MAX_CONNECTIONS):
                    s = ms.connect()
                    s.sendall(b"GET /metrics HTTP/1.1\r\n")  # never ends
                    held.append(s)
                for _ in range(50):
                    refused()
                ms.server.wait_log(r"metrics: refusing a connection")
                self.assertLess(len(lines(r"refusing a connection")), 10)
                # The next line let through counts the ones dropped.
                wait_until(lambda: refused() or lines(r"refusing a connection"
                                                      r".*\(\d+ more like it "
                                                      r"not logged\)"),
                           what="a line counting the dropped ones")
            finally:
                for s in held:
                    s.close()
            wait_until(lambda: ms.scrape()[0] == 200,
                       what="a scrape once the held connections are gone")

    def test_slow_head_is_cut_off(self):
        """One byte every 0.2 s never trips an idle timeout; the whole
        connection still ends CONN_LIFETIME_S after it began."""
        with MetricsServer() as ms:
            s = ms.connect()
            start = time.monotonic()
            s.sendall(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
            closed = False
            sent = 0
            while time.monotonic() - start < BOUND_S:
                r, _, _ = select.select([s], [], [], 0.2)
                if r:
                    try:
                        closed = s.recv(65536) == b"" or closed
                    except ConnectionResetError:
                        closed = True
                    if closed:
                        break
                    continue
                try:
                    s.send(b"a")
                    sent += 1
                except OSError:
                    closed = True
                    break
            took = time.monotonic() - start
            s.close()
            self.assertTrue(closed, "a trickled head kept its connection "
                            "for %.0f s" % took)
            self.assertLess(sent, MAX_HEAD)
            self.assertGreaterEqual(took, CONN_LIFETIME_S * 0.9)
            self.assertScrapes(ms)

    def test_out_of_descriptors_backs_off(self):
        """With RLIMIT_NOFILE used up by metrics and protocol connections,
        jqd neither spins on accept nor floods its log: over 2 s it uses
        little CPU and writes a few lines; once the connections go, it
        serves again."""
        prefix = (sys.executable, "-c", NOFILE, "48")
        with MetricsServer("--max-connections", "4",
                           exec_prefix=prefix) as ms:
            conns = []
            try:
                # Fewer than MAX_CONNECTIONS: the descriptors run out first.
                for _ in range(60):
                    conns.append(ms.connect())
                for _ in range(8):
                    conns.append(socket.create_connection(
                        (ms.server.host, ms.server.port), timeout=BOUND_S))
                ms.server.wait_log(r"accept.*Too many open files")
                lines = len(ms.server.log_lines)
                cpu = cpu_seconds(ms.pid)
                start = time.monotonic()
                time.sleep(2)  # a measurement window, not a wait for an event
                took = time.monotonic() - start
                used = cpu_seconds(ms.pid) - cpu
                new = ms.server.log_lines[lines:]
                self.assertLess(len(new), 20, "%d log lines in %.1f s: %r"
                                % (len(new), took, new[:5]))
                self.assertLess(used, 0.2 * took, "jqd used %.2f s of CPU in "
                                "%.2f s" % (used, took))
            finally:
                for s in conns:
                    s.close()
            wait_until(lambda: ms.scrape()[0] == 200,
                       what="a scrape once descriptors are free again")

    # -- item 11: the token compared whole; addresses as written -------------

    def test_token_with_a_nul_byte_is_compared_whole(self):
        """Metrics built "Bearer %s" from the token, so "abc" matched the
        token "abc\\0def".  The token loader now refuses such a token; if
        it ever takes one, /metrics and auth must still compare it whole."""
        tmp, path = token_dir(b"abc\0def\n")
        self.addCleanup(shutil.rmtree, tmp, True)
        server = Server("--token-file", path, "--metrics", "127.0.0.1:0")
        try:
            server.start()
        except jqtest.ServerError as e:
            # A loader that refuses such a token is as good.
            self.assertIn(path, str(e))
            self.assertIn("NUL", str(e))
            return
        self.addCleanup(server.check)
        port = int(server.wait_log(
            r"metrics on http://127\.0\.0\.1:(\d+)/metrics").group(1))
        for guess in ("abc", "abc\\0def", "abcdef", "abc def"):
            with self.subTest(guess=guess):
                conn = http.client.HTTPConnection("127.0.0.1", port,
                                                  timeout=BOUND_S)
                conn.request("GET", "/metrics", headers={
                    "Authorization": "Bearer " + guess})
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                self.assertEqual(resp.status, 401, body[:200])
        with jqtest.Client(server) as c:
            self.assertEqual(c.call("auth", token="abc")["error"]["code"],
                             "unauthorized")

    def run_refused(self, *args):
        """Run a jqd that must refuse to start; its stderr."""
        tmp, token = token_dir(TOKEN.encode() + b"\n")
        self.addCleanup(shutil.rmtree, tmp, True)
        p = subprocess.run(
            [os.environ["JQD"], "--unix", os.path.join(tmp, "s"),
             "--db", os.path.join(tmp, "db"), "--token-file", token] +
            list(args), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, timeout=BOUND_S, cwd=tmp)
        err = p.stderr.decode("utf-8", "replace")
        self.assertNotEqual(p.returncode, 0, err)
        return err

    def test_bracketed_address_in_messages(self):
        """An error names the address as written, brackets and all."""
        addr = "[2001:db8::1]:0"  # documentation prefix: never local
        for option, word in (("--metrics", "metrics"), ("--listen", "listen")):
            with self.subTest(option=option):
                err = self.run_refused(option, addr)
                self.assertIn("%s %s: " % (word, addr), err)

    def test_ipv6_url_in_log(self):
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback")
        tmp, token = token_dir(TOKEN.encode() + b"\n")
        self.addCleanup(shutil.rmtree, tmp, True)
        with Server("--token-file", token, "--metrics", "[::1]:0") as server:
            m = server.wait_log(r"metrics on (http://\S+)")
            self.assertRegex(m.group(1), r"^http://\[::1\]:\d+/metrics$")


if __name__ == "__main__":
    jqtest.main()
