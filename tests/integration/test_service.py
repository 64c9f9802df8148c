"""jqd as a service: systemd readiness (NOTIFY_SOCKET) and socket
activation (LISTEN_FDS), the non-loopback rule, token authentication and
its reload on SIGHUP, Unix socket permissions, the configuration file and
command line, Prometheus metrics, and SIGTERM with jobs running and queued.
SPEC sections 2, 6 and 8; PROTOCOL.md 1, 6.5, 7, 8 and 9.

Most tests need a jqd of their own (a token, a config file, a wrapper), so
they start it themselves; runs that must fail go through run_jqd(), which
also fails the test, instead of hanging, if jqd starts after all.
"""

import grp
import http.client
import json
import math
import os
import pwd
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest

import jqtest
from jqtest import Client, Server, ServerTestCase, wait_until

BOUND_S = 30          # anything that must happen gets this long
WAIT_MS = 60000       # a blocking wait that must not time out

TOKEN = "s3cret-token"

# Places listening sockets at fds 3, 4, ... and sets LISTEN_FDS and
# LISTEN_PID to its own pid, which jqd keeps across exec: what systemd does.
# (Python rather than sh: dash's "exec 3<&N" takes only a one-digit N.)
ACTIVATE = r"""
import fcntl, os, sys
fds = [int(x) for x in sys.argv[1].split(",")]
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
for fd in fds:
    os.close(fd)
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)
    os.close(fd)
os.environ["LISTEN_FDS"] = str(len(fds))
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ.pop("LISTEN_FDNAMES", None)
os.execv(sys.argv[2], sys.argv[2:])
"""

NO_ACTIVATION_ENV = {"LISTEN_FDS": None, "LISTEN_PID": None,
                     "LISTEN_FDNAMES": None, "NOTIFY_SOCKET": None}

# Every option config.c's table has, as --help must list them.
OPTIONS = (
    "listen", "unix", "unix-mode", "unix-group", "metrics", "db", "job-dir",
    "workers", "sync", "commit-delay", "token-file", "log-level", "max-connections",
    "max-frame", "max-value", "max-channels", "max-select-cases",
    "max-buffered-bytes", "max-queued-jobs", "max-output",
    "max-conn-buffer", "max-pipeline", "kill-grace", "shutdown-grace",
    "job-retention", "retry-delay", "default-timeout", "auth-timeout",
    "allow-user", "allow-group", "max-unauthenticated", "max-pending",
    "tls-cert", "tls-key", "tls-ca",
)

def activation(*socks):
    """(exec_prefix, pass_fds) handing socks to jqd as fds 3, 4, ..."""
    fds = [s.fileno() for s in socks]
    prefix = [sys.executable, "-c", ACTIVATE, ",".join(map(str, fds))]
    return prefix, tuple(fds)


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except FileNotFoundError:
        return False
    return st[st.rindex(")") + 2] != "Z"


def write_file(path, text):
    # Rename into place, as an administrator's editor would: jqd never
    # sees half a file.
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def ping_frame(length):
    """A ping request line of exactly `length` bytes (without the \\n)."""
    head = b'{"id":1,"op":"ping","pad":"'
    tail = b'"}'
    pad = length - len(head) - len(tail)
    assert pad >= 0
    line = head + b"x" * pad + tail
    assert len(line) == length
    return line


def http_get(url, path="/metrics", headers=None, method="GET"):
    """(status, content type, body bytes) of one request to url's host."""
    m = re.match(r"http://([^/]+)", url)
    host, _, port = m.group(1).rpartition(":")
    if host in ("0.0.0.0", "[::]", "::"):
        host = "127.0.0.1"
    conn = http.client.HTTPConnection(host.strip("[]"), int(port),
                                      timeout=BOUND_S)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type"), resp.read()
    finally:
        conn.close()


# -- Prometheus text exposition (format 0.0.4), parsed strictly ------------

_METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
_SAMPLE_RE = re.compile(r"^(%s)(\{.*\})?[ \t]+(\S+)(?:[ \t]+(-?\d+))?$"
                        % _METRIC_NAME)
_LABEL_RE = re.compile(r'(%s)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"' % _LABEL_NAME)
_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class PromError(AssertionError):
    pass


def _prom_float(text, lineno):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.match(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$", text):
        raise PromError("line %d: value %r is not a float" % (lineno, text))
    return float(text)


def _prom_labels(text, lineno):
    labels = {}
    if not text:
        return labels
    inner = text[1:-1]
    pos = 0
    while pos < len(inner):
        m = _LABEL_RE.match(inner, pos)
        if not m:
            raise PromError("line %d: bad labels %r" % (lineno, text))
        name, value = m.group(1), m.group(2)
        if name in labels:
            raise PromError("line %d: label %s twice" % (lineno, name))
        labels[name] = (value.replace("\\n", "\n").replace('\\"', '"')
                        .replace("\\\\", "\\"))
        pos = m.end()
        if pos < len(inner):
            if inner[pos] != ",":
                raise PromError("line %d: bad labels %r" % (lineno, text))
            pos += 1
    return labels


def parse_prometheus(body):
    """Parse a whole /metrics page; raise PromError on any deviation.

    Returns {family: {"type", "help", "samples": [(name, labels, value)]}}.
    Checks: UTF-8, newline-terminated lines; HELP and TYPE at most once per
    family and TYPE before the family's samples; every sample belongs to a
    family declared by TYPE (histogram: _bucket/_sum/_count); a family's
    samples are contiguous; no series twice; counters non-negative;
    histogram buckets with increasing le, cumulative counts, a +Inf bucket
    equal to _count, and a _sum.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PromError("body is not UTF-8: %s" % e)
    if not text.endswith("\n"):
        raise PromError("body does not end with a newline")
    families = {}
    order = []          # families in the order their samples appeared
    seen = set()

    def family_of(name, lineno):
        if name in families and families[name]["type"] not in (
                "histogram", "summary"):
            return name
        for suffix, kinds in (("_bucket", ("histogram",)),
                              ("_sum", ("histogram", "summary")),
                              ("_count", ("histogram", "summary"))):
            base = name[:-len(suffix)]
            if (name.endswith(suffix) and base in families
                    and families[base]["type"] in kinds):
                return base
        if name in families and families[name]["type"] == "summary":
            return name
        raise PromError("line %d: sample %s has no TYPE line" % (lineno, name))

    for lineno, line in enumerate(text.split("\n")[:-1], 1):
        if line == "":
            continue
        if line.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) (%s)(?: (.*))?$" % _METRIC_NAME, line)
            if not m:
                if re.match(r"^#\s*(HELP|TYPE)\b", line):
                    raise PromError("line %d: malformed %r" % (lineno, line))
                continue            # a plain comment
            kind, name, rest = m.group(1), m.group(2), m.group(3) or ""
            fam = families.setdefault(name, {"type": None, "help": None,
                                             "samples": []})
            if kind == "HELP":
                if fam["help"] is not None:
                    raise PromError("line %d: second HELP for %s"
                                    % (lineno, name))
                if re.search(r"\\[^\\n]", rest.replace("\\\\", "")):
                    raise PromError("line %d: bad escape in HELP" % lineno)
                fam["help"] = rest
            else:
                if fam["type"] is not None:
                    raise PromError("line %d: second TYPE for %s"
                                    % (lineno, name))
                if fam["samples"]:
                    raise PromError("line %d: TYPE for %s after its samples"
                                    % (lineno, name))
                if rest not in _TYPES:
                    raise PromError("line %d: unknown type %r" % (lineno, rest))
                fam["type"] = rest
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            raise PromError("line %d: not a sample: %r" % (lineno, line))
        name, labels = m.group(1), _prom_labels(m.group(2), lineno)
        value = _prom_float(m.group(3), lineno)
        fam_name = family_of(name, lineno)
        fam = families[fam_name]
        if order and order[-1] != fam_name and fam_name in order:
            raise PromError("line %d: samples of %s are not contiguous"
                            % (lineno, fam_name))
        if not order or order[-1] != fam_name:
            order.append(fam_name)
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise PromError("line %d: series %s%s twice" % (lineno, name, labels))
        seen.add(key)
        if fam["type"] == "counter" and not value >= 0:
            raise PromError("line %d: counter %s = %r" % (lineno, name, value))
        fam["samples"].append((name, labels, value))

    for fam_name, fam in families.items():
        if fam["type"] is None:
            raise PromError("%s has HELP but no TYPE" % fam_name)
        if fam["type"] == "histogram":
            _check_histogram(fam_name, fam["samples"])
    return families


def _check_histogram(name, samples):
    series = {}
    for sname, labels, value in samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        s = series.setdefault(rest, {"buckets": [], "sum": None,
                                     "count": None})
        if sname == name + "_bucket":
            if "le" not in labels:
                raise PromError("%s bucket without le" % name)
            s["buckets"].append((_prom_float(labels["le"], 0), value))
        elif sname == name + "_sum":
            s["sum"] = value
        elif sname == name + "_count":
            s["count"] = value
        else:
            raise PromError("%s: stray sample %s" % (name, sname))
    for rest, s in series.items():
        b = s["buckets"]
        if not b or b[-1][0] != math.inf:
            raise PromError("%s%s: no +Inf bucket last" % (name, rest))
        for (le1, c1), (le2, c2) in zip(b, b[1:]):
            if not le2 > le1:
                raise PromError("%s: le %r after %r" % (name, le2, le1))
            if not c2 >= c1:
                raise PromError("%s: buckets not cumulative (%r at le %r, "
                                "%r at le %r)" % (name, c1, le1, c2, le2))
        if s["count"] is None or s["sum"] is None:
            raise PromError("%s%s: _count or _sum missing" % (name, rest))
        if b[-1][1] != s["count"]:
            raise PromError("%s: +Inf bucket %r != count %r"
                            % (name, b[-1][1], s["count"]))


def sample(families, family, name=None, **labels):
    """The value of one series; fails if it is absent."""
    for sname, slabels, value in families[family]["samples"]:
        if sname == (name or family) and slabels == labels:
            return value
    raise AssertionError("no series %s%r in %s" % (name or family, labels,
                                                   families[family]))


# -- test bases -------------------------------------------------------------


class ServiceCase(unittest.TestCase):
    """Helpers for tests that start their own jqd."""

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="jqd-svc-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def serve(self, *args, **kw):
        s = Server(*args, **kw)
        s.start()
        self.addCleanup(s.check)
        return s

    def client(self, target, unix=False):
        c = Client(target, unix=unix)
        self.addCleanup(c.close)
        return c

    def spawn_jqd(self, *args, env=None, prefix=(), pass_fds=()):
        """Start a jqd that is expected to exit by itself; finish_jqd()
        collects it.  Several can run at once (the machines are slow to
        start sanitized processes, not busy running them)."""
        d = self.tmpdir()
        run = {"out": os.path.join(d, "out"), "err": os.path.join(d, "err")}
        full_env = None
        if env is not None:
            full_env = dict(os.environ)
            for k, v in env.items():
                if v is None:
                    full_env.pop(k, None)
                else:
                    full_env[k] = v
        run["cmd"] = (list(prefix) + [os.environ["JQD"]]
                      + [str(a) for a in args])
        with open(run["out"], "wb") as out, open(run["err"], "wb") as err:
            run["proc"] = subprocess.Popen(
                run["cmd"], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                env=full_env, pass_fds=pass_fds, cwd=d,
                preexec_fn=jqtest._child_setup)

        def cleanup():
            if run["proc"].poll() is None:
                run["proc"].kill()
                run["proc"].wait()
        self.addCleanup(cleanup)
        return run

    def finish_jqd(self, run):
        """(exit status, stdout, stderr) of a spawn_jqd() run.  If jqd
        logs "ready" instead of exiting, it is stopped and the test fails."""
        proc = run["proc"]

        def read(path):
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")

        def settled():
            return (proc.poll() is not None
                    or re.search(r"(?m)^(\S+ )?info: ready$",
                                  read(run["err"])))
        wait_until(settled, timeout=BOUND_S, what="jqd to exit")
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(BOUND_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self.fail("jqd %s started instead of exiting:\n%s"
                      % (" ".join(run["cmd"]), read(run["err"])))
        err = read(run["err"])
        for marker in jqtest.SANITIZER_MARKERS:
            self.assertNotIn(marker, err)
        return proc.returncode, read(run["out"]), err

    def run_jqd(self, *args, **kw):
        """spawn_jqd() + finish_jqd()."""
        return self.finish_jqd(self.spawn_jqd(*args, **kw))

    def assertRefused(self, args, needle, status=1, **kw):
        rc, out, err = self.run_jqd(*args, **kw)
        self.assertEqual(rc, status, "jqd %s: status %r\n%s" % (args, rc, err))
        self.assertIn(needle, err)
        return err

    def submit_and_wait(self, c, argv, **fields):
        job = c.ok("submit", argv=argv, **fields)["job"]
        r = c.ok("wait", jobs=[job], timeout_ms=WAIT_MS,
                 reply_timeout=WAIT_MS / 1000 + 30)
        self.assertEqual(len(r["results"]), 1, r)
        return r["results"][0]


class TokenServerCase(ServerTestCase):
    """A ServerTestCase whose jqd requires TOKEN (file with a newline)."""

    extra_args = ()

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="jqd-svc-")
        cls.token_path = write_file(os.path.join(cls.tmp, "token"),
                                    TOKEN + "\n")
        cls.server_args = ("--token-file", cls.token_path) + cls.extra_args
        try:
            super().setUpClass()
        except Exception:
            shutil.rmtree(cls.tmp, True)
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.tmp, True)

    @classmethod
    def setUpServer(cls):
        cls.ctl.ok("auth", token=TOKEN)

    def fresh(self, unix=False):
        """A new, unauthenticated connection."""
        return self.connect(unix=unix)


# -- readiness ------------------------------------------------------------


class Notifications:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []

    def receive(self, timeout):
        """One datagram's lines, or None after timeout s."""
        r, _, _ = select.select([self.sock], [], [], max(0, timeout))
        if not r:
            return None
        data = self.sock.recv(65536)
        lines = data.decode("utf-8").split("\n")
        self.messages.append(lines)
        return lines

    def wait_for(self, line, proc, timeout=BOUND_S):
        """Receive until a datagram holds `line`; return that datagram."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r notification within %s s; got %r"
                                     % (line, timeout, self.messages))
            lines = self.receive(min(left, 0.1))
            if lines is not None and line in lines:
                return lines
            if lines is None and proc.poll() is not None:
                # Anything sent before exiting is already queued.
                lines = self.receive(0)
                if lines is not None and line in lines:
                    return lines
                raise AssertionError("jqd exited (%r) without sending %r; got "
                                     "%r" % (proc.returncode, line,
                                             self.messages))

    def close(self):
        self.sock.close()


class ReadinessTest(ServiceCase):

    def start_notified(self, d, *args):
        notify = Notifications(os.path.join(d, "notify"))
        self.addCleanup(notify.close)
        log_path = os.path.join(d, "jqd.log")
        env = dict(os.environ)
        for k in NO_ACTIVATION_ENV:
            env.pop(k, None)
        env["NOTIFY_SOCKET"] = notify.path
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [os.environ["JQD"]] + [str(a) for a in args],
                stdin=subprocess.DEVNULL, stderr=log, env=env, cwd=d,
                preexec_fn=jqtest._child_setup)

        def cleanup():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.addCleanup(cleanup)
        return notify, proc, log_path

    def test_ready_after_listening_and_restore_then_stopping(self):
        d = self.tmpdir()
        # Something to restore, so READY=1 can be checked to follow it.
        with Server(state_dir=d) as first:
            c = Client(first)
            c.ok("make", chan="kept", cap=5)
            c.ok("send", chan="kept", value="v")
            c.close()
        sock_path = os.path.join(d, "ready.sock")
        notify, proc, log_path = self.start_notified(
            d, "--listen", "127.0.0.1:0", "--insecure-tcp", "--unix",
            sock_path, "--db", os.path.join(d, "jqd.db"))

        ready = notify.wait_for("READY=1", proc)
        # At once, with no other signal: the Unix listener must accept and
        # the store must be restored.
        try:
            c = self.client(sock_path)
        except OSError as e:
            self.fail("READY=1 came before the Unix listener accepted: %s"
                      % e)
        c.ok("ping")
        s = c.ok("stat", chan="kept")
        self.assertEqual((s["cap"], s["len"]), (5, 1), s)
        status = [l for l in ready if l.startswith("STATUS=")]
        self.assertEqual(len(status), 1, ready)
        self.assertGreater(len(status[0]), len("STATUS="), ready)
        # The TCP port is logged before READY=1, and serves too.
        with open(log_path) as f:
            log = f.read()
        m = re.search(r"listening on tcp 127\.0\.0\.1:(\d+)", log)
        self.assertTrue(m, log)
        t = self.client("127.0.0.1:%s" % m.group(1))
        t.ok("ping")
        # NOTIFY_SOCKET is jqd's, not its jobs'.
        res = self.submit_and_wait(c, ["env"])
        self.assertEqual(res["state"], "succeeded", res)
        self.assertIn("JQ_JOB_ID=", res["stdout"])
        self.assertNotIn("NOTIFY_SOCKET", res["stdout"])

        proc.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING=1", proc)
        self.assertEqual(proc.wait(BOUND_S), 0)
        after = []
        while True:
            lines = notify.receive(0)
            if lines is None:
                break
            after.append(lines)
        self.assertFalse([m for m in after if "READY=1" in m], after)
        ready_at = [i for i, m in enumerate(notify.messages) if "READY=1" in m]
        stopping_at = [i for i, m in enumerate(notify.messages)
                       if "STOPPING=1" in m]
        self.assertEqual(len(ready_at), 1, notify.messages)
        self.assertEqual(len(stopping_at), 1, notify.messages)
        self.assertLess(ready_at[0], stopping_at[0], notify.messages)
        with open(log_path) as f:
            log = f.read()
        for marker in jqtest.SANITIZER_MARKERS:
            self.assertNotIn(marker, log)

    def test_failed_start_sends_no_ready(self):
        d = self.tmpdir()
        notify, proc, log_path = self.start_notified(
            d, "--listen", "0.0.0.0:0", "--insecure-tcp", "--db",
            os.path.join(d, "jqd.db"))
        rc = proc.wait(BOUND_S)
        self.assertNotEqual(rc, 0)
        while notify.receive(0) is not None:
            pass
        self.assertFalse(any("READY=1" in m for m in notify.messages),
                         notify.messages)


# -- socket activation ------------------------------------------------------


class ActivationTest(ServiceCase):

    def listening_tcp(self, host="127.0.0.1"):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind((host, 0))
        s.listen(16)
        return s

    def listening_unix(self, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind(path)
        s.listen(16)
        return s

    def test_serves_activated_sockets_only(self):
        d = self.tmpdir()
        tcp = self.listening_tcp()
        port = tcp.getsockname()[1]
        path = os.path.join(d, "activated.sock")
        ux = self.listening_unix(path)
        prefix, fds = activation(tcp, ux)
        server = self.serve("--insecure-tcp", listen_args=[],
                            exec_prefix=prefix, pass_fds=fds,
                            env=NO_ACTIVATION_ENV)
        # jqd has its own copies now; ours would keep the kernel accepting
        # even if jqd did not serve.
        tcp.close()
        ux.close()

        listening = [l for l in server.log_lines if "listening on" in l]
        self.assertEqual(len(listening), 2, server.stderr_text())
        self.assertTrue(all("(socket activation)" in l for l in listening),
                        listening)
        self.assertNotIn("listening on unix /run/jqd",
                         server.stderr_text())
        self.assertEqual((server.port, server.unix_path), (port, path))
        t = self.client(("127.0.0.1", port))
        t.ok("ping")
        u = self.client(path)
        u.ok("ping")

        res = self.submit_and_wait(t, ["env"])
        self.assertEqual(res["state"], "succeeded", res)
        self.assertIn("JQ_JOB_ID=", res["stdout"])
        for var in ("LISTEN_FDS", "LISTEN_PID"):
            self.assertNotIn(var, res["stdout"])
        # Nor do jobs inherit the activated sockets.
        res = self.submit_and_wait(u, ["sh", "-c", "ls -l /proc/$$/fd"])
        self.assertEqual(res["state"], "succeeded", res)
        self.assertIn("->", res["stdout"])
        self.assertNotIn("socket:", res["stdout"])

        server.check()
        # The socket belongs to systemd (jqd.socket): jqd must not remove it.
        self.assertTrue(os.path.exists(path), "jqd removed %s" % path)

    def test_activated_and_explicit_listen(self):
        tcp = self.listening_tcp()
        port = tcp.getsockname()[1]
        prefix, fds = activation(tcp)
        server = self.serve(listen_args=["--listen", "127.0.0.1:0",
                                         "--insecure-tcp"],
                            exec_prefix=prefix, pass_fds=fds,
                            env=NO_ACTIVATION_ENV)
        tcp.close()
        ports = set()
        for line in server.log_lines:
            m = re.search(r"listening on tcp 127\.0\.0\.1:(\d+)", line)
            if m:
                ports.add(int(m.group(1)))
        self.assertIn(port, ports)
        self.assertEqual(len(ports), 2, server.stderr_text())
        for p in ports:
            self.client(("127.0.0.1", p)).ok("ping")

    def test_activated_non_loopback_needs_token(self):
        d = self.tmpdir()
        tcp = self.listening_tcp("0.0.0.0")
        port = tcp.getsockname()[1]
        prefix, fds = activation(tcp)
        self.assertRefused(["--db", os.path.join(d, "a.db"),
                            "--insecure-tcp"], "loopback addresses only",
                           prefix=prefix, pass_fds=fds,
                           env=NO_ACTIVATION_ENV)
        token = write_file(os.path.join(d, "token"), TOKEN + "\n")
        server = self.serve("--token-file", token, listen_args=[],
                            exec_prefix=prefix, pass_fds=fds,
                            env=NO_ACTIVATION_ENV)
        tcp.close()
        self.assertEqual(server.port, port)
        c = self.client(("127.0.0.1", port))
        c.error("ping", "unauthorized")
        c.ok("auth", token=TOKEN)
        c.ok("ping")


# -- the non-loopback rule ---------------------------------------------------


class NonLoopbackTest(ServiceCase):

    def test_listen_needs_token(self):
        d = self.tmpdir()
        err = self.assertRefused(["--listen", "0.0.0.0:0", "--insecure-tcp",
                                  "--db", os.path.join(d, "a.db")],
                                 "loopback addresses only")
        self.assertIn("0.0.0.0", err)
        token = write_file(os.path.join(d, "token"), TOKEN + "\n")
        server = self.serve("--listen", "0.0.0.0:0", "--token-file", token)
        m = server.wait_log(r"listening on tcp 0\.0\.0\.0:(\d+)")
        c = self.client(("127.0.0.1", int(m.group(1))))
        self.assertIs(c.ok("hello")["auth_required"], True)
        c.error("ping", "unauthorized")
        c.ok("auth", token=TOKEN)
        c.ok("ping")

    def test_metrics_needs_token(self):
        d = self.tmpdir()
        err = self.assertRefused(["--listen", "127.0.0.1:0", "--insecure-tcp",
                                  "--metrics", "0.0.0.0:0", "--db",
                                  os.path.join(d, "a.db")], "non-loopback")
        self.assertIn("metrics", err)
        token = write_file(os.path.join(d, "token"), TOKEN + "\n")
        server = self.serve("--metrics", "0.0.0.0:0", "--token-file", token)
        url = server.wait_log(r"metrics on (http://0\.0\.0\.0:\d+/metrics)"
                              ).group(1)
        status, _, _ = http_get(url)
        self.assertEqual(status, 401)
        status, _, body = http_get(url, headers={
            "Authorization": "Bearer " + TOKEN})
        self.assertEqual(status, 200)
        parse_prometheus(body)


# -- token authentication -----------------------------------------------------


class AuthTest(TokenServerCase):

    def test_hello_before_auth(self):
        c = self.fresh()
        r = c.ok("hello")
        self.assertIs(r["auth_required"], True)
        self.assertEqual(r["server"], "jqd")

    def test_other_ops_unauthorized_connection_stays(self):
        refused = []
        for c in (self.fresh(), self.fresh()):
            refused.append(self.name())
            for op, fields in (("ping", {}), ("stats", {}),
                               ("make", {"chan": refused[-1]}),
                               ("submit", {"argv": ["true"]}),
                               ("chans", {})):
                err = c.error(op, "unauthorized", **fields)
                self.assertTrue(err["message"], err)
            # Framing and unknown ops come first (PROTOCOL.md 7).
            c.error("frobnicate", "unknown_op")
            c.send_raw(b"not json\n")
            self.assertEqual(c.read_reply()["error"]["code"], "bad_request")
            self.assertIs(c.ok("hello")["auth_required"], True)
            c.ok("auth", token=TOKEN)
            c.ok("ping")
        # Nothing the refused requests asked for happened.
        for chan in refused:
            self.ctl.error("stat", "not_found", chan=chan)
        self.assertEqual(self.ctl.ok("jobs")["jobs"], [])

    def test_wrong_tokens_close_connection(self):
        for wrong in ("guess", TOKEN[:-1], TOKEN + "x", TOKEN + TOKEN,
                      TOKEN.upper(), "", TOKEN + "\n", " " + TOKEN):
            with self.subTest(token=wrong):
                c = self.fresh()
                err = c.error("auth", "unauthorized", token=wrong)
                self.assertTrue(err["message"], err)
                self.assertEqual(c.expect_eof(), [],
                                 "lines after a wrong auth")

    def test_wrong_token_after_auth_closes(self):
        c = self.fresh()
        c.ok("auth", token=TOKEN)
        c.ok("ping")
        c.error("auth", "unauthorized", token="guess")
        self.assertEqual(c.expect_eof(), [])

    def test_auth_without_token_field(self):
        c = self.fresh()
        self.assertIn("token", c.error("auth", "bad_request")["message"])
        c.error("auth", "bad_request", token=12345)
        c.ok("auth", token=TOKEN)
        c.ok("ping")

    def test_unix_peer_of_jqd_user_needs_no_token(self):
        # The kernel vouches for it (SO_PEERCRED): same uid as jqd.
        c = self.fresh(unix=True)
        self.assertIs(c.ok("hello")["auth_required"], False)
        c.ok("ping")
        c.ok("auth", token=TOKEN)
        c.ok("ping")
        c.error("auth", "unauthorized", token="guess")
        self.assertEqual(c.expect_eof(), [])

    def test_right_token_ops_work(self):
        for unix in (False, True):
            c = self.fresh(unix=unix)
            c.ok("auth", token=TOKEN)
            chan = self.name()
            c.ok("make", chan=chan, cap=1)
            c.ok("send", chan=chan, value={"n": 1})
            self.assertEqual(c.ok("recv", chan=chan)["value"], {"n": 1})
            self.assertGreaterEqual(c.ok("stats")["connections"], 2)


class NoTokenAuthTest(ServerTestCase):

    def test_any_token_accepted_without_token_file(self):
        c = self.connect()
        self.assertIs(c.ok("hello")["auth_required"], False)
        c.ok("ping")
        c.ok("auth", token="anything")
        c.ok("ping")


class AuthTimeoutTest(TokenServerCase):

    extra_args = ("--auth-timeout", "300ms")

    def test_idle_unauthenticated_connection_closed(self):
        authed = self.fresh()
        authed.ok("auth", token=TOKEN)
        t0 = time.monotonic()
        idle = self.fresh()
        talker = self.fresh()
        talker.ok("hello")
        talker.error("ping", "unauthorized")

        for c in (idle, talker):
            line = c.read_line(BOUND_S)
            r = json.loads(line)
            self.assertIsNone(r["id"], r)
            self.assertIs(r["ok"], False, r)
            self.assertEqual(r["error"]["code"], "unauthorized", r)
            self.assertEqual(c.expect_eof(), [])
        self.assertGreaterEqual(time.monotonic() - t0, 0.25,
                                "closed before auth-timeout")
        # Older than both, and authenticated: still served.
        authed.ok("ping")


class ReloadTest(ServiceCase):

    def test_sighup_reloads_token_and_log_level(self):
        d = self.tmpdir()
        token = write_file(os.path.join(d, "token"), TOKEN + "\n")
        conf = write_file(os.path.join(d, "jqd.conf"), "log-level = info\n")
        server = self.serve("-c", conf, "--token-file", token,
                            "--metrics", "127.0.0.1:0")
        url = server.wait_log(r"metrics on (http://\S+)").group(1)
        c = self.client(server)
        c.ok("auth", token=TOKEN)
        c.ok("ping")
        self.assertEqual(http_get(url, headers={
            "Authorization": "Bearer " + TOKEN})[0], 200)
        self.assertFalse([l for l in server.log_lines
                          if l.startswith("debug:")], server.stderr_text())

        new = "n3w-t0ken"
        write_file(token, "\n  %s  \n" % new)
        write_file(conf, "log-level = debug\n")
        mark = len(server.log_lines)
        server.proc.send_signal(signal.SIGHUP)
        server.wait_log(r"token reloaded", start=mark)

        # The connection that authenticated with the old token is ended.
        r = json.loads(c.read_line(BOUND_S))
        self.assertEqual((r["id"], r["error"]["code"]),
                         (None, "unauthorized"), r)
        self.assertIn("token changed", r["error"]["message"])
        self.assertEqual(c.expect_eof(), [])
        old = self.client(server)
        old.error("auth", "unauthorized", token=TOKEN)
        self.assertEqual(old.expect_eof(), [])
        fresh = self.client(server)
        fresh.error("ping", "unauthorized")
        fresh.ok("auth", token=new)
        fresh.ok("ping")
        server.wait_log(r"^debug: ", start=mark)
        self.assertEqual(http_get(url, headers={
            "Authorization": "Bearer " + TOKEN})[0], 401)
        self.assertEqual(http_get(url, headers={
            "Authorization": "Bearer " + new})[0], 200)

        # An unreadable token file on reload keeps the token in force.
        os.unlink(token)
        mark = len(server.log_lines)
        server.proc.send_signal(signal.SIGHUP)
        server.wait_log(r"keeping the previous token", start=mark)
        again = self.client(server)
        again.ok("auth", token=new)
        again.ok("ping")
        self.assertTrue(server.alive())


# -- Unix sockets -------------------------------------------------------------


class UnixSocketTest(ServiceCase):

    def mode(self, path):
        st = os.stat(path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode), path)
        return stat.S_IMODE(st.st_mode)

    def test_default_mode_0660(self):
        server = self.serve()
        self.assertEqual(oct(self.mode(server.unix_path)), oct(0o660))
        self.client(server, unix=True).ok("ping")
        path = server.unix_path
        server.check()
        self.assertFalse(os.path.exists(path), "socket left after stop")

    def test_unix_mode_honoured(self):
        server = self.serve("--unix-mode", "0600")
        self.assertEqual(oct(self.mode(server.unix_path)), oct(0o600))
        self.client(server, unix=True).ok("ping")

    def test_unix_group(self):
        mine = os.getegid()
        others = [g for g in os.getgroups() if g != mine]
        if os.geteuid() == 0:
            others += [g.gr_gid for g in grp.getgrall() if g.gr_gid != mine]
        gid = others[0] if others else mine
        name = grp.getgrgid(gid).gr_name
        server = self.serve("--unix-group", name)
        self.assertEqual(os.stat(server.unix_path).st_gid, gid)
        d = self.tmpdir()
        self.assertRefused(["--unix", os.path.join(d, "s"), "--db",
                            os.path.join(d, "a.db"), "--unix-group",
                            "no-such-group-jqd"], "no-such-group-jqd")

    def test_stale_socket_replaced_live_one_refused(self):
        d = self.tmpdir()
        path = os.path.join(d, "jqd.sock")
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(path)         # bound, never listening: a crash leftover
        stale.close()
        server = self.serve(listen_args=["--unix", path])
        self.client(path).ok("ping")
        err = self.assertRefused(["--unix", path, "--db",
                                  os.path.join(d, "b.db")], path)
        self.assertIn("listening", err)
        # The refused second server did not take the first one's socket.
        self.client(path).ok("ping")
        self.assertTrue(server.alive())


# -- configuration -----------------------------------------------------------


class ConfigTest(ServiceCase):

    def conf(self, text):
        d = self.tmpdir()
        return write_file(os.path.join(d, "jqd.conf"), text), d

    def assertFrameLimit(self, server, limit):
        c = self.client(server)
        c.send_raw(ping_frame(limit) + b"\n")
        self.assertEqual(c.read_reply(), {"id": 1, "ok": True})
        c.send_raw(ping_frame(limit + 1) + b"\n")
        r = c.read_reply()
        self.assertEqual(r["error"]["code"], "frame_too_large", r)
        c.ok("ping")

    def test_file_then_command_line(self):
        conf, _ = self.conf("# jqd test configuration\n"
                            "\n"
                            "max_frame = 4096\n"
                            "max-value = 1K\n"
                            "log-level = debug\n")
        by_file = self.serve("-c", conf)
        self.assertFrameLimit(by_file, 4096)
        by_file.wait_log(r"^debug: ")

        both = self.serve("--config", conf, "--max-frame", "8192")
        self.assertFrameLimit(both, 8192)
        both.wait_log(r"^debug: ")      # the file's other keys still apply
        # And the file's max-value too: a 1025-byte value is too large.
        c = self.client(both)
        c.ok("make", chan="v", cap=1)
        c.error("send", "too_large", chan="v", value="x" * 1023)
        c.ok("send", chan="v", value="x" * 1022)

        # The command line wins in the other direction as well.
        quiet = self.serve("-c", conf, "--log-level", "info")
        Client(quiet).close()
        self.assertFalse([l for l in quiet.log_lines
                          if l.startswith("debug:")], quiet.stderr_text())

    def test_listen_from_file(self):
        d = self.tmpdir()
        path1, path2 = os.path.join(d, "one.sock"), os.path.join(d, "two.sock")
        conf = write_file(os.path.join(d, "jqd.conf"),
                          "listen = 127.0.0.1:0\nunix = %s\n"
                          "insecure-tcp = yes\n" % path1)
        server = self.serve("-c", conf, listen_args=[])
        self.assertEqual(server.unix_path, path1)
        self.assertIsNotNone(server.port)
        self.assertNotIn(":7411", server.stderr_text())
        self.client(server).ok("ping")
        self.client(path1).ok("ping")
        # Addresses on the command line replace the file's.
        other = self.serve("-c", conf, listen_args=["--unix", path2])
        self.assertEqual(other.unix_path, path2)
        self.assertFalse([l for l in other.log_lines
                          if "listening on tcp" in l], other.stderr_text())
        self.client(path2).ok("ping")

    def spawn_config(self, text):
        conf, d = self.conf(text)
        db = os.path.join(d, "never.db")
        return (conf, db, self.spawn_jqd("-c", conf, "--listen",
                                         "127.0.0.1:0", "--db", db))

    def checkConfigError(self, spawned, line, *needles):
        conf, db, run = spawned
        rc, out, err = self.finish_jqd(run)
        self.assertEqual(rc, 2, err)
        self.assertIn("%s:%d" % (conf, line), err)
        for n in needles:
            self.assertIn(n, err)
        self.assertFalse(os.path.exists(db), "database created anyway")
        return err

    def assertConfigError(self, text, line, *needles):
        return self.checkConfigError(self.spawn_config(text), line, *needles)

    def test_unknown_key(self):
        self.assertConfigError("# comment\nworkers = 2\nfrobnicate = 1\n",
                               3, "frobnicate")

    def test_bad_values(self):
        # workers = 0 is allowed since protocol 1.2 (agents run the jobs).
        cases = (("workers = lots", "workers"), ("workers = 1025", "workers"),
                 ("max-frame = huge", "max-frame"),
                 ("max_frame = 100", "max-frame"),
                 ("sync = sometimes", "sync"),
                 ("commit-delay = 100001", "commit-delay"),
                 ("log-level = loud", "log-level"),
                 ("auth-timeout = soon", "auth-timeout"),
                 ("unix-mode = 0999", "unix-mode"),
                 ("listen = nowhere", "listen"),
                 ("metrics = 127.0.0.1", "metrics"),
                 ("db =", "db"))
        runs = [self.spawn_config("workers = 2\n%s\n" % text)
                for text, _ in cases]
        for (text, key), spawned in zip(cases, runs):
            with self.subTest(line=text):
                self.checkConfigError(spawned, 2, key)

    def test_syntax_error(self):
        self.assertConfigError("workers = 2\nthis line has no equals sign\n",
                               2)

    def test_section_header_names_its_line(self):
        err = self.assertConfigError("workers = 2\n[jqd]\nlog-level = info\n",
                                     2, "[jqd]")
        self.assertIn("section", err)

    def test_trailing_section_header_refused(self):
        # A header with no key after it is still not this file's syntax.
        self.assertConfigError("workers = 2\n[jqd]\n", 2, "[jqd]")

    def test_missing_config_file(self):
        d = self.tmpdir()
        missing = os.path.join(d, "missing.conf")
        rc, out, err = self.run_jqd("-c", missing, "--listen", "127.0.0.1:0",
                                    "--db", os.path.join(d, "x.db"))
        self.assertEqual(rc, 2, err)
        self.assertIn(missing, err)

    def test_help_lists_every_option(self):
        rc, out, err = self.run_jqd("--help")
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, "")
        self.assertRegex(out, r"(?m)^\s*-c, --config FILE\b")
        self.assertRegex(out, r"(?m)^\s*-h, --help\b")
        self.assertRegex(out, r"(?m)^\s*-V, --version\b")
        listed = dict(re.findall(r"(?m)^\s+--([a-z][a-z-]*) (\S+)", out))
        # The one flag, which takes no value on the command line.
        self.assertRegex(out, r"(?m)^\s+--insecure-tcp\s+\S")
        for opt in OPTIONS:
            self.assertIn(opt, listed, out)

        # Every option --help shows is one jqd takes, with a value of the
        # kind --help names, in the config file (keys with '_' for '-')
        # and on the command line.
        d = self.tmpdir()
        token = write_file(os.path.join(d, "token"), TOKEN + "\n")
        group = grp.getgrgid(os.getegid()).gr_name
        by_name = {"listen": "127.0.0.1:0", "metrics": "127.0.0.1:0",
                   "allow-user": pwd.getpwuid(65534).pw_name,
                   "allow-group": "65534",
                   "token-file": token, "job-dir": d, "unix-group": group,
                   "db": os.path.join(d, "jqd.db"), "log-level": "info",
                   "max-value": "16K", "max-frame": "1M",
                   "sync": "normal", "unix-mode": "0600",
                   # worker-lease must be at least 3 worker-heartbeats
                   "worker-heartbeat": "1s", "worker-lease": "5s"}
        tls = jqtest.tls_files()
        by_name.update({"tls-cert": tls["server_cert"],
                        "tls-key": tls["server_key"], "tls-ca": tls["ca"]})
        by_arg = {"N": "8", "SIZE": "1M", "DURATION": "5s", "USEC": "100"}
        values = {}
        for opt, arg in listed.items():
            if opt == "store":
                # db and store name the same thing: one at a time
                # (test_store_option).
                continue
            values[opt] = by_name.get(opt, by_arg.get(arg))
            if opt == "unix":
                values[opt] = None
            elif values[opt] is None:
                self.fail("no sample value for --%s %s" % (opt, arg))

        def check(server, path):
            self.assertEqual(server.unix_path, path)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            server.wait_log(r"metrics on http://")
            c = self.client(path)
            self.assertIs(c.ok("hello")["auth_required"], False)
            c.ok("ping")
            t = self.client(server)
            self.assertIs(t.ok("hello")["auth_required"], True)
            t.ok("auth", token=TOKEN)
            t.ok("ping")

        path = os.path.join(d, "file.sock")
        text = "".join("%s = %s\n" % (opt.replace("-", "_"), v or path)
                       for opt, v in sorted(values.items()))
        conf = write_file(os.path.join(d, "all.conf"), text)
        check(self.serve("-c", conf, listen_args=[]), path)
        path = os.path.join(d, "cli.sock")
        argv = []
        for opt, v in sorted(values.items()):
            argv += ["--" + opt, v or path]
        check(self.serve(listen_args=argv), path)

    def test_store_option(self):
        d = self.tmpdir()
        db = os.path.join(d, "jqd.db")
        sock = os.path.join(d, "s")
        # sqlite:PATH is --db PATH.
        run = self.spawn_jqd("--unix", sock, "--store", "sqlite:" + db)

        def ready():
            with open(run["err"]) as f:
                return re.search(r"(?m)^(\S+ )?info: ready$", f.read())
        wait_until(ready, timeout=BOUND_S, what="jqd --store sqlite:")
        c = Client(sock, unix=True)
        c.ok("make", chan="kept", cap=1)
        c.close()
        run["proc"].terminate()
        self.assertEqual(run["proc"].wait(BOUND_S), 0)
        server = self.serve(state_dir=d)
        self.client(server.unix_path, unix=True).ok("stat", chan="kept")
        server.stop()
        # Not both.
        rc, out, err = self.run_jqd("--listen", "127.0.0.1:0", "--db", db,
                                    "--store", "sqlite:" + db)
        self.assertEqual(rc, 2, err)
        self.assertIn("db and store both name a database", err)
        # A password on the command line shows in ps: refused before any
        # connection is tried.
        for store in ("postgres://u:secret@127.0.0.1:1/x",
                      "postgres:host=127.0.0.1 port=1 password=secret"):
            rc, out, err = self.run_jqd("--unix", os.path.join(d, "p"),
                                        "--store", store)
            self.assertEqual(rc, 1, err)
            self.assertIn("password on the command line", err)
        # In the config file it is not refused for that (the connection
        # then fails: nothing listens on port 1).
        conf = write_file(os.path.join(d, "pg.conf"),
                          "store = postgres:host=127.0.0.1 port=1 "
                          "password=secret connect_timeout=2\n")
        rc, out, err = self.run_jqd("-c", conf, "--unix",
                                    os.path.join(d, "p"))
        self.assertEqual(rc, 1, err)
        self.assertNotIn("password on the command line", err)
        self.assertIn("postgres: cannot connect", err)

    def test_version(self):
        long_run, short_run = self.spawn_jqd("--version"), self.spawn_jqd("-V")
        rc, out, err = self.finish_jqd(long_run)
        self.assertEqual(rc, 0, err)
        m = re.match(r"^jqd (\d+\.\d+\.\d+)\n$", out)
        self.assertTrue(m, out)
        self.assertEqual(self.finish_jqd(short_run)[:2], (0, m.group(0)))
        server = self.serve()
        self.assertEqual(self.client(server).ok("hello")["version"],
                         m.group(1))

    def test_bad_command_line(self):
        d = self.tmpdir()
        db = os.path.join(d, "x.db")
        base = ["--listen", "127.0.0.1:0", "--db", db]
        cases = ((["--bogus"], "--bogus"),
                 (["--workers"], "--workers"),
                 (["--workers", "zero"], "workers"),
                 (["--max-frame", "1M", "--max-value", "1M"], "max-value"),
                 (["--sync", "maybe"], "sync"),
                 (["stray"], "stray"),
                 (["-x"], "-x"))
        runs = [self.spawn_jqd(*(base + args)) for args, _ in cases]
        for (args, needle), run in zip(cases, runs):
            with self.subTest(args=args):
                rc, out, err = self.finish_jqd(run)
                self.assertEqual(rc, 2, err)
                self.assertIn(needle, err)
                self.assertTrue(err.startswith("jqd: "), err)
                self.assertEqual(out, "")
                self.assertFalse(os.path.exists(db))


# -- metrics ----------------------------------------------------------------


class MetricsTest(ServerTestCase):

    server_args = ("--metrics", "127.0.0.1:0", "--workers", "2")

    @classmethod
    def setUpServer(cls):
        m = cls.server.wait_log(r"metrics on (http://127\.0\.0\.1:\d+)/metrics")
        cls.url = m.group(1)

    def scrape(self, path="/metrics", **kw):
        return http_get(self.url, path, **kw)

    def test_page_after_activity(self):
        c = self.ctl
        c.ok("make", chan="x", cap=10)
        c.ok("make", chan="y", cap=0)
        c.ok("send", chan="x", value="a")
        c.ok("send", chan="x", value={"k": [1, 2]})
        job = c.ok("submit", argv=["true"])["job"]
        r = c.ok("wait", jobs=[job], timeout_ms=WAIT_MS,
                 reply_timeout=WAIT_MS / 1000 + 30)
        self.assertEqual(r["results"][0]["state"], "succeeded", r)
        stats = c.ok("stats")

        status, ctype, body = self.scrape()
        self.assertEqual(status, 200, body)
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        self.assertIn("version=0.0.4", ctype)
        fam = parse_prometheus(body)

        self.assertEqual(sample(fam, "jqd_channels"), 2)
        self.assertEqual(sample(fam, "jqd_channel_len", chan="x"), 2)
        self.assertEqual(sample(fam, "jqd_channel_len", chan="y"), 0)
        self.assertEqual(sample(fam, "jqd_channel_cap", chan="x"), 10)
        self.assertEqual(sample(fam, "jqd_channel_sent_total", chan="x"), 2)
        self.assertEqual(sample(fam, "jqd_buffered_values"),
                         stats["buffered_values"])
        self.assertEqual(sample(fam, "jqd_buffered_bytes"),
                         stats["buffered_bytes"])
        self.assertEqual(sample(fam, "jqd_jobs", state="succeeded"), 1)
        for state in ("queued", "running", "failed", "deadline_exceeded",
                      "canceled"):
            self.assertEqual(sample(fam, "jqd_jobs", state=state), 0, state)
        self.assertEqual(sample(fam, "jqd_jobs_started_total"), 1)
        self.assertEqual(sample(fam, "jqd_workers"), 2)
        self.assertEqual(sample(fam, "jqd_workers_busy"), 0)
        self.assertEqual(sample(fam, "jqd_connections"), stats["connections"])
        self.assertEqual(sample(fam, "jqd_requests_total", op="send"), 2)
        self.assertEqual(sample(fam, "jqd_requests_total", op="make"), 2)
        # Scraping is not a request: every counter matches stats' ops,
        # whose own request is counted in it.
        self.assertEqual(set(stats["ops"]),
                         {l["op"] for _, l, _ in
                          fam["jqd_requests_total"]["samples"]})
        for op, n in stats["ops"].items():
            self.assertEqual(sample(fam, "jqd_requests_total", op=op), n, op)
        self.assertEqual(fam["jqd_job_duration_seconds"]["type"], "histogram")
        self.assertEqual(sample(fam, "jqd_job_duration_seconds",
                                "jqd_job_duration_seconds_count"), 1)
        self.assertGreaterEqual(sample(fam, "jqd_store_commit_seconds",
                                       "jqd_store_commit_seconds_count"), 1)
        self.assertGreater(sample(fam, "jqd_uptime_seconds"), 0)
        for name in fam:
            self.assertTrue(name.startswith("jqd_"), name)

    def test_other_paths_not_found(self):
        # "/" is the dashboard's (PROTOCOL.md 16, test_dashboard_api.py).
        for path in ("/nothing", "/metric", "/metrics/x", "/stats"):
            with self.subTest(path=path):
                self.assertEqual(self.scrape(path)[0], 404)
        status, _, _ = self.scrape(method="POST")
        self.assertIn(status, (405, 501))
        self.assertEqual(self.scrape()[0], 200)


class MetricsTokenTest(TokenServerCase):

    extra_args = ("--metrics", "127.0.0.1:0")

    @classmethod
    def setUpServer(cls):
        super().setUpServer()
        m = cls.server.wait_log(r"metrics on (http://127\.0\.0\.1:\d+)/metrics")
        cls.url = m.group(1)

    def test_bearer_token_required(self):
        for headers in ({}, {"Authorization": "Bearer guess"},
                        {"Authorization": "Bearer " + TOKEN + "x"},
                        {"Authorization": "Basic " + TOKEN},
                        {"Authorization": TOKEN}):
            with self.subTest(headers=headers):
                status, _, body = http_get(self.url, headers=headers)
                self.assertEqual(status, 401)
                self.assertNotIn(b"jqd_", body)
        status, _, body = http_get(self.url, headers={
            "Authorization": "Bearer " + TOKEN})
        self.assertEqual(status, 200)
        parse_prometheus(body)
        status, _, _ = http_get(self.url, "/other", headers={
            "Authorization": "Bearer " + TOKEN})
        self.assertEqual(status, 404)


class PrometheusParserTest(unittest.TestCase):
    """The parser above must reject what it claims to reject."""

    GOOD = ("# HELP a_total A.\n# TYPE a_total counter\na_total 1\n"
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
            "h_sum 3.5\nh_count 2\n")

    def test_good(self):
        fam = parse_prometheus(self.GOOD.encode())
        self.assertEqual(sample(fam, "h", "h_count"), 2)

    def test_bad(self):
        for bad in ("a 1\n",                                    # no TYPE
                    "# TYPE a gauge\na one\n",                  # value
                    "# TYPE a gauge\na 1",                      # no newline
                    "# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n",
                    "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"2\"} 1\n",
                    "# TYPE a counter\na -1\n",
                    "# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                    "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
                    "# TYPE h histogram\nh_bucket{le=\"1\"} 1\n"
                    "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
                    "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\n"
                    "h_count 1\n",
                    "# TYPE a gauge\na{x=1} 1\n",
                    "a 1\n# TYPE a gauge\n"):
            with self.subTest(text=bad):
                with self.assertRaises(PromError):
                    parse_prometheus(bad.encode())


# -- stopping -----------------------------------------------------------------


class ShutdownTest(ServiceCase):

    def job(self, c, job):
        return c.ok("job", job=job)

    def test_sigterm_requeues_running_keeps_queued(self):
        d = self.tmpdir()
        args = ("--workers", "1", "--shutdown-grace", "300ms",
                "--kill-grace", "300ms")
        pidfile = os.path.join(d, "pid")
        first = self.serve(*args, state_dir=d)
        c = Client(first)
        long_job = c.ok("submit", argv=["sh", "-c",
                                        'echo $$ > "$0"; exec sleep 60',
                                        pidfile])["job"]
        def read_pid():
            try:
                with open(pidfile) as f:
                    return f.read().strip()
            except FileNotFoundError:
                return None
        wait_until(lambda: self.job(c, long_job)["state"] == "running"
                   and read_pid(), what="the long job to run")
        pid = int(read_pid())
        queued = [c.ok("submit", argv=["sh", "-c", "echo %s" % n])["job"]
                  for n in ("b", "c")]
        for j in queued:
            self.assertEqual(self.job(c, j)["state"], "queued")
        c.close()

        t0 = time.monotonic()
        first.stop()
        elapsed = time.monotonic() - t0
        self.assertEqual(first.returncode, 0, first.stderr_text())
        self.assertFalse(first.problems(), first.problems())
        self.assertGreaterEqual(elapsed, 0.25,
                                "the running job had no shutdown grace")
        self.assertFalse(pid_alive(pid), "the job outlived jqd")
        first.check()

        second = self.serve(*args, state_dir=d)
        c = self.client(second)
        r = self.job(c, long_job)
        self.assertIn(r["state"], ("queued", "running"), r)
        self.assertEqual(r["attempt"], 1, r)
        self.assertEqual(c.ok("cancel", job=long_job)["canceled"], 1)
        res = c.ok("wait", jobs=queued, timeout_ms=WAIT_MS,
                   reply_timeout=WAIT_MS / 1000 + 30)["results"]
        self.assertEqual([x["job"] for x in res], queued)
        for x, out in zip(res, ("b\n", "c\n")):
            self.assertEqual((x["state"], x["stdout"], x["attempt"]),
                             ("succeeded", out, 1), x)
        r = c.ok("wait", jobs=[long_job], timeout_ms=WAIT_MS,
                 reply_timeout=WAIT_MS / 1000 + 30)["results"][0]
        self.assertEqual((r["state"], r["attempt"]), ("canceled", 1), r)

    def stop_with_blocker(self, d):
        """A jqd (workers 1, grace 60 s) running a job that waits for the
        file "release", one job queued behind it, a recv parked on channel
        p; SIGTERM sent, the recv answered shutting_down, listeners closed.
        """
        t = {"release": os.path.join(d, "release"),
             "marker": os.path.join(d, "queued-ran"),
             "args": ("--workers", "1", "--shutdown-grace", "60s")}
        first = t["server"] = self.serve(*t["args"], state_dir=d)
        # Runs before the server's check, so a failure does not leave jqd
        # waiting out its grace for the blocker.
        self.addCleanup(lambda: open(t["release"], "a").close())
        ctl = t["ctl"] = self.client(first)
        t["blocker"] = ctl.ok("submit", argv=[
            "sh", "-c", 'while [ ! -e "$0" ]; do sleep 0.05; done; echo done',
            t["release"]])["job"]
        wait_until(lambda: self.job(ctl, t["blocker"])["state"] == "running",
                   what="the blocker to run")
        t["later"] = ctl.ok("submit", argv=["sh", "-c", 'echo x >> "$0"',
                                            t["marker"]])["job"]
        ctl.ok("make", chan="p", cap=1)
        parked = self.client(first)
        rid = parked.request("recv", chan="p")
        wait_until(lambda: ctl.ok("stats")["waiting"] == 1,
                   what="the recv to park")

        first.sigterm()
        r = parked.reply_to(rid)
        self.assertEqual(r["error"]["code"], "shutting_down", r)
        # Listeners are closed at once.
        with self.assertRaises(OSError):
            socket.create_connection((first.host, first.port), timeout=5)
        self.assertFalse(os.path.exists(first.unix_path))
        return t

    def test_stopping_server_answers_shutting_down(self):
        t = self.stop_with_blocker(self.tmpdir())
        # SPEC 6 and PROTOCOL.md: a stopping server answers every new
        # request shutting_down, session ops included.
        replies = t["ctl"].pipeline([{"id": 1, "op": "hello"},
                                     {"id": 2, "op": "ping"},
                                     {"id": 3, "op": "stats"},
                                     {"id": 4, "op": "auth", "token": "x"},
                                     {"id": 5, "op": "make", "chan": "q"},
                                     {"id": 6, "op": "job",
                                      "job": t["blocker"]}])
        self.assertTrue(t["server"].alive(), "jqd did not wait for its job")
        for x in replies:
            self.assertEqual(x["error"]["code"], "shutting_down", x)
        self.assertEqual([x["id"] for x in replies], [1, 2, 3, 4, 5, 6])

    def test_running_job_finishes_within_grace(self):
        d = self.tmpdir()
        t = self.stop_with_blocker(d)
        first = t["server"]
        t["ctl"].error("make", "shutting_down", chan="q")
        self.assertTrue(first.alive(), "jqd did not wait for its job")

        with open(t["release"], "w"):
            pass
        self.assertEqual(first.proc.wait(BOUND_S), 0, first.stderr_text())
        first.check()
        self.assertFalse(os.path.exists(t["marker"]),
                         "a queued job started while stopping")

        second = self.serve(*t["args"], state_dir=d)
        c = self.client(second)
        r = self.job(c, t["blocker"])
        self.assertEqual((r["state"], r["stdout"], r["attempt"]),
                         ("succeeded", "done\n", 1), r)
        r = c.ok("wait", jobs=[t["later"]], timeout_ms=WAIT_MS,
                 reply_timeout=WAIT_MS / 1000 + 30)["results"][0]
        self.assertEqual((r["state"], r["attempt"]), ("succeeded", 1), r)
        with open(t["marker"]) as f:
            self.assertEqual(f.read(), "x\n")
        self.assertEqual(c.ok("stat", chan="p")["cap"], 1)


if __name__ == "__main__":
    jqtest.main()
