"""Harness for the jqd integration tests (Python standard library only).

Each test_*.py file is run by `python3` with JQD and JQ_CLIENT set to the
binaries under test and PYTHONPATH pointing here; exit 0 passes, 77 skips,
anything else fails.  The pieces:

  Server        a real jqd on 127.0.0.1:0 and a Unix socket in a temp dir;
                its stderr is collected by a thread for the whole run, and at
                stop we check it exited 0 (or by our SIGTERM) and that no
                sanitizer report appeared.
  Client        a raw protocol client over TCP or Unix: call(), pipelining,
                raw bytes for bad input.
  wait_until    poll an observable condition; tests never sleep to "let
                things happen" because the machines are small and noisy.
  ServerTestCase  one Server per TestCase class, a control connection, and
                helpers for unique channel names and stat polling.
  FakeServer    a stand-in for jqd recording what a client sends.
  RecordingProxy  a proxy in front of jqd recording the requests per
                connection, which can lose a send's reply.
  refused_port, Blackhole, Silent  addresses that refuse, hang at
                connect, or never answer a TLS handshake (address lists).
  main()        runs unittest under a watchdog and exits with its status.

Bounds are generous on purpose: an operation that must NOT time out gets
30 s or more; an operation that must time out uses a small timeout_ms and we
only assert that it did time out.

The store: jqd keeps its state in SQLite (--db <dir>/jqd.db) unless
JQTEST_STORE=postgres, when it is given --store with the PostgreSQL
connection in JQTEST_PG (a libpq keyword string or URI; tests/pg.sh starts
a throwaway cluster for it) and a schema of its own per state directory
(pg_schema()), created before jqd starts.  STORE says which; tests that
open the SQLite file themselves are marked sqlite_only(reason).

Slow runs: JQD_WRAPPER (words, split like a shell would) goes in front of
the jqd command, e.g. JQD_WRAPPER='valgrind --error-exitcode=99
--leak-check=full'; JQTEST_TIMEOUT_SCALE (a number, default 1) multiplies
the harness's bounds (start, reply, stop, wait_until, watchdog).  Bounds a
test passes explicitly are not scaled.
"""

import atexit
import faulthandler
import hashlib
import itertools
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

import pgcluster

START_TIMEOUT_S = 30
REPLY_TIMEOUT_S = 30
STOP_TIMEOUT_S = 10
WAIT_TIMEOUT_S = 30
WATCHDOG_S = float(os.environ.get("JQTEST_WATCHDOG", "300"))

# The store jqd runs on: "sqlite" (the default) or "postgres", the
# connection then in JQTEST_PG.  Anything else is a mistake, not SQLite.
STORE = os.environ.get("JQTEST_STORE") or "sqlite"
if STORE not in ("sqlite", "postgres"):
    raise SystemExit("JQTEST_STORE=%r: want sqlite or postgres" % STORE)
PG_CONNINFO = os.environ.get("JQTEST_PG") or None

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer",
                     "runtime error")

# Under JQD_WRAPPER=valgrind: reports that fail a run even when jqd was
# killed (no exit status to look at).  Leak records print at exit only.
VALGRIND_MARKERS = ("Invalid read of size", "Invalid write of size",
                    "Invalid free()", "Mismatched free()",
                    "depends on uninitialised value",
                    "Use of uninitialised value", "Syscall param",
                    "Source and destination overlap",
                    "are definitely lost in loss record")

TIMEOUT_SCALE = float(os.environ.get("JQTEST_TIMEOUT_SCALE") or 1)

# The local time jqd starts its log lines with when stderr is not
# journald's (jqd(8) LOGGING).  Server.log_lines are without it, so that
# a pattern can say "^info: "; Server.raw_log_lines keep it.
LOG_TIME_RE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d ")


def strip_log_time(line):
    """line without the time jqd put before it, if any."""
    return LOG_TIME_RE.sub("", line, count=1)
START_TIMEOUT_S *= TIMEOUT_SCALE
REPLY_TIMEOUT_S *= TIMEOUT_SCALE
STOP_TIMEOUT_S *= TIMEOUT_SCALE
WAIT_TIMEOUT_S *= TIMEOUT_SCALE
WATCHDOG_S *= TIMEOUT_SCALE

_live_servers = set()
_live_lock = threading.Lock()

try:
    import ctypes

    _libc = ctypes.CDLL(None, use_errno=True)
    _prctl = _libc.prctl
except Exception:  # not Linux, or no ctypes: no parent-death signal
    _prctl = None


def _child_setup():
    # jqd dies with us (SIGKILL when the forking thread exits), so a killed
    # test run never leaves daemons behind.  PR_SET_PDEATHSIG is 1.
    if _prctl is not None:
        _prctl(1, signal.SIGKILL)


def rss_kib(pid):
    """Resident memory of process pid, in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def under_asan(pid):
    """ASan keeps freed memory in quarantine: RSS says nothing there."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def under_tsan(pid):
    """ThreadSanitizer's shadow memory multiplies every heap byte (4-5x):
    an RSS bound made for a plain heap says nothing there either."""
    with open("/proc/%d/maps" % pid) as f:
        return "libtsan" in f.read()


# What each value held in a channel counts toward max_buffered_bytes and
# stats.buffered_bytes beyond its compact size, and what a lease adds
# (PROTOCOL.md 8).
VALUE_OVERHEAD = 96
LEASE_OVERHEAD = 256


class ServerError(AssertionError):
    """jqd failed to start or misbehaved at exit."""


class ReplyTimeout(AssertionError):
    """No reply within the bound."""


class ConnectionClosed(AssertionError):
    """The server closed the connection while we expected a reply."""


def compact(value):
    """The compact JSON text of a value, as PROTOCOL.md measures sizes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# slowsync.so (slowsync.c): an LD_PRELOAD library whose fsyncs sleep.
SLOWSYNC = os.path.join(os.environ.get("ABS_TOP_BUILDDIR", ""),
                        "tests", "integration", "slowsync.so")


def slow_sync_env(slow_file):
    """Server(env=...) for a jqd whose fsyncs sleep as many milliseconds
    as slow_file holds, while it exists (slowsync.so)."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {"LD_PRELOAD": SLOWSYNC, "JQTEST_SLOW_SYNC_FILE": slow_file,
            # It is loaded ahead of the sanitizers' runtime.
            "ASAN_OPTIONS": asan + ":verify_asan_link_order=0"}


def wait_until(predicate, timeout=WAIT_TIMEOUT_S, interval=0.01, what=None):
    """Poll predicate() until it returns a truthy value, which is returned.

    Fails with an AssertionError naming `what` (or the predicate) and the
    last value seen if the bound passes.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(
                "timed out after %s s waiting for %s (last value: %r)"
                % (timeout, what or getattr(predicate, "__name__", "condition"), last))
        time.sleep(interval)
        interval = min(interval * 1.5, 0.1)


def in_thread(fn, *args, **kw):
    """Run fn(*args, **kw) in a daemon thread; returns join(timeout), which
    waits for it and gives its result or raises its exception (an
    AssertionError if it has not finished within timeout seconds)."""
    box = {}

    def run():
        try:
            box["result"] = fn(*args, **kw)
        except BaseException as e:  # handed to join()
            box["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()

    def join(timeout=WAIT_TIMEOUT_S):
        t.join(timeout)
        if t.is_alive():
            raise AssertionError("%s did not finish within %s s"
                                 % (getattr(fn, "__name__", fn), timeout))
        if "error" in box:
            raise box["error"]
        return box.get("result")
    return join


def sqlite_only(reason):
    """Decorator for a test (method or class) that opens jqd's SQLite file
    itself, or needs what only the SQLite store does: skipped, saying
    reason, when the store under test is PostgreSQL."""
    return unittest.skipUnless(STORE == "sqlite",
                               "SQLite store only: " + reason)


def pg_schema(state_dir):
    """The PostgreSQL schema of a jqd on state_dir.  jqd keeps everything
    per schema, so one per directory isolates Servers as their files do,
    and a Server restarted on the same state_dir finds the same data."""
    digest = hashlib.sha256(os.path.realpath(state_dir).encode())
    return "jqtest_" + digest.hexdigest()[:20]


def pg_store(conninfo, schema):
    """jqd's --store for the connection conninfo (libpq keywords or a
    URI) with its tables in schema, the first of the session's
    search_path.  The option's space is quoted for libpq: in single
    quotes among keywords, percent-encoded in a URI."""
    option = "-c search_path=" + schema
    if re.match(r"postgres(ql)?://", conninfo):
        return "%s%soptions=%s" % (conninfo, "&" if "?" in conninfo else "?",
                                   urllib.parse.quote(option, safe=""))
    return "postgres:%s options=%s" % (conninfo,
                                       pgcluster.conninfo_value(option))


def pg_conninfo():
    if not PG_CONNINFO:
        raise ServerError("JQTEST_STORE=postgres but JQTEST_PG (the "
                          "connection to test on) is not set; tests/pg.sh "
                          "sets both")
    return PG_CONNINFO


# Schemas of Servers with a state_dir, which outlive the Server: dropped
# at exit when their directory is gone (JQTEST_KEEP keeps them).
_pg_state_schemas = {}


def _pg_drop(schema):
    try:
        pgcluster.drop_schema(pg_conninfo(), schema)
    except (pgcluster.PGError, subprocess.SubprocessError) as e:
        sys.stderr.write("jqtest: schema %s left behind: %s\n" % (schema, e))


@atexit.register
def _pg_drop_state_schemas():
    if os.environ.get("JQTEST_KEEP"):
        return
    for schema, state_dir in _pg_state_schemas.items():
        if not os.path.exists(state_dir):
            _pg_drop(schema)


class Server:
    """A jqd process with temporary state.

    Server(*extra_args) starts `$JQD --listen 127.0.0.1:0 --insecure-tcp
    --unix <tmp>/jqd.sock --db <tmp>/jqd.db *extra_args` (--store
    postgres:... under JQTEST_STORE=postgres, see the module; without
    --insecure-tcp when extra_args give a --token-file: then TCP clients
    must authenticate, as on every real server).  Use as a context manager, or call
    start() and later stop() + check().  Keyword arguments (see __init__)
    change the environment, the listeners, or wrap the command (socket
    activation); wait_log() waits for a log line.
    """

    def __init__(self, *extra_args, state_dir=None, env=None,
                 listen_args=None, exec_prefix=(), pass_fds=()):
        # state_dir: keep the database there (and leave it behind), so a
        # later Server on the same dir restarts on the same file (on
        # PostgreSQL, the same schema).
        # env: variables added to (or, with value None, removed from) jqd's
        # environment.  listen_args: replaces the default "--listen
        # 127.0.0.1:0 --unix <tmp>/jqd.sock" (then at least one listener
        # must be logged, not both).  exec_prefix: a wrapper command that
        # ends by exec'ing the rest (jqd keeps the wrapper's pid).
        # pass_fds: descriptors the wrapper or jqd inherits.
        self.extra_args = [str(a) for a in extra_args]
        self.state_dir = state_dir
        self.env = env
        self.listen_args = (None if listen_args is None
                            else [str(a) for a in listen_args])
        self.exec_prefix = [str(a) for a in exec_prefix]
        self.pass_fds = tuple(pass_fds)
        self.proc = None
        self.dir = None
        self.db_path = None         # the SQLite file; None on PostgreSQL
        self.schema = None          # the PostgreSQL schema, or None
        self.store = None           # what jqd was given, as --store says it
        self._schema_dropped = False
        self.host = None
        self.port = None
        self.tls_port = None        # the first "listening on tls"
        self.unix_path = None
        self.returncode = None
        self._lines = []
        self._raw_lines = []
        self._cond = threading.Condition()
        self._eof = False
        self._reader = None
        self._died_early = False
        self._killed = False
        self._stopped = False
        self._term_sent = False

    # -- life cycle ---------------------------------------------------------

    def start(self):
        jqd = os.environ.get("JQD")
        if not jqd:
            raise ServerError("JQD is not set")
        self.dir = tempfile.mkdtemp(prefix="jqd-test-")
        self.sock_arg = os.path.join(self.dir, "jqd.sock")
        listen = (["--listen", "127.0.0.1:0", "--unix", self.sock_arg]
                  if self.listen_args is None else self.listen_args)
        if self.listen_args is None and \
                "--token-file" not in self.extra_args:
            listen.append("--insecure-tcp")
        cmd = self.exec_prefix + [jqd] + listen + self._store_args() \
            + self.extra_args
        wrapper = shlex.split(os.environ.get("JQD_WRAPPER", ""))
        if wrapper:
            cmd[len(self.exec_prefix):len(self.exec_prefix)] = wrapper
        self.cmd = cmd
        env = None
        if self.env is not None:
            env = dict(os.environ)
            for k, v in self.env.items():
                if v is None:
                    env.pop(k, None)
                else:
                    env[k] = str(v)
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
            cwd=self.dir, preexec_fn=_child_setup, env=env,
            pass_fds=self.pass_fds)
        with _live_lock:
            _live_servers.add(self)
        self._reader = threading.Thread(target=self._read_stderr,
                                        name="jqd-stderr", daemon=True)
        self._reader.start()
        with self._cond:
            self._cond.wait_for(lambda: self._eof or self._ready_seen(),
                                timeout=START_TIMEOUT_S)
            ready = self._ready_seen()
        if not ready:
            self._abort()
            raise ServerError("jqd did not become ready within %s s: %s\n"
                              "--- jqd stderr ---\n%s"
                              % (START_TIMEOUT_S, " ".join(cmd),
                                 self.stderr_text()))
        for line in self.log_lines:
            m = re.search(r"info: listening on tcp (\S+)", line)
            if m and self.port is None:
                host, _, port = m.group(1).rpartition(":")
                self.host = host.strip("[]")
                self.port = int(port)
            m = re.search(r"info: listening on tls \S+:(\d+)$", line)
            if m and self.tls_port is None:
                self.tls_port = int(m.group(1))
            m = re.search(r"info: listening on unix (\S+)", line)
            if m and self.unix_path is None:
                self.unix_path = m.group(1)
        if self.listen_args is not None:
            missing = self.port is None and self.unix_path is None \
                and self.tls_port is None
        else:
            missing = self.port is None or self.unix_path is None
        if missing:
            self._abort()
            raise ServerError("jqd said ready without logging both "
                              "'info: listening on tcp HOST:PORT' and "
                              "'info: listening on unix PATH'\n"
                              "--- jqd stderr ---\n%s" % self.stderr_text())
        if self.port == 0:
            self._abort()
            raise ServerError("jqd logged port 0 instead of the bound port")
        return self

    def _store_args(self):
        if STORE == "sqlite":
            self.db_path = os.path.join(self.state_dir or self.dir, "jqd.db")
            self.store = "sqlite:" + self.db_path
            return ["--db", self.db_path]
        try:
            conninfo = pg_conninfo()
            schema = pg_schema(self.state_dir or self.dir)
            pgcluster.create_schema(conninfo, schema)
        except (pgcluster.PGError, subprocess.SubprocessError) as e:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise ServerError("cannot make jqd's schema: %s" % e)
        except ServerError:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        self.schema = schema
        self.store = pg_store(conninfo, schema)
        if self.state_dir:
            _pg_state_schemas[self.schema] = self.state_dir
        return ["--store", self.store]

    def _ready_seen(self):
        # "ready", or, on PostgreSQL, a start as a standby that took over
        # at once: after a kill -9 the database may not yet have seen the
        # old session go, so its lock holds a few milliseconds more.
        return any(re.search(r"\binfo: (ready\b|active: the previous jqd "
                             r"is gone; serving)", l) for l in self._lines)

    def _read_stderr(self):
        # Runs for the whole life of jqd so its stderr pipe never fills.
        echo = os.environ.get("JQTEST_ECHO")
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if echo:
                sys.stderr.write("jqd| %s\n" % line)
            with self._cond:
                self._raw_lines.append(line)
                self._lines.append(strip_log_time(line))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _abort(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.proc.wait()
        self._finish()

    def _finish(self):
        if self._reader:
            self._reader.join(10)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
        with _live_lock:
            _live_servers.discard(self)
        if self.dir and not os.environ.get("JQTEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
            # The schema of a temporary dir ends with it (jqd has exited).
            if self.schema and not self.state_dir \
                    and not self._schema_dropped:
                self._schema_dropped = True
                _pg_drop(self.schema)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL now (a crash), and wait for it.  Counts as a clean stop
        for problems(), which still reports sanitizer output."""
        if self._stopped or self.proc is None:
            return
        self._stopped = True
        self.proc.kill()
        self.proc.wait()
        self.returncode = 0
        self._finish()

    def stop(self):
        """SIGTERM, wait up to 10 s, then SIGKILL.  Idempotent."""
        if self._stopped or self.proc is None:
            return
        self._stopped = True
        if self.proc.poll() is not None:
            self._died_early = not self._term_sent
        else:
            if not self._term_sent:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._killed = True
                self.proc.kill()
                self.proc.wait()
        self.returncode = self.proc.returncode
        self._finish()

    def sigterm(self, sig=signal.SIGTERM):
        """Send SIGTERM (or sig: SIGINT stops jqd alike) and return at once;
        a later stop() or check() waits for the exit and judges it as after
        its own SIGTERM."""
        self._term_sent = True
        self.proc.send_signal(sig)

    def problems(self):
        """What went wrong with this jqd run, as a list of strings."""
        out = []
        if self._died_early:
            out.append("jqd exited by itself before we stopped it "
                       "(status %r)" % self.returncode)
        elif self._killed:
            out.append("jqd did not exit within %s s of SIGTERM" % STOP_TIMEOUT_S)
        elif self.returncode not in (0, -signal.SIGTERM):
            out.append("jqd exited with status %r after SIGTERM"
                       % self.returncode)
        for line in self.log_lines:
            if any(m in line for m in SANITIZER_MARKERS):
                out.append("sanitizer: " + line)
            if any(m in line for m in VALGRIND_MARKERS):
                out.append("valgrind: " + line)
        return out

    def check(self):
        """Stop if needed, then raise ServerError if the run was not clean."""
        self.stop()
        problems = self.problems()
        if problems:
            raise ServerError("\n".join(problems) + "\n--- jqd stderr ---\n"
                              + self.stderr_text())

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.check()
        else:
            self.stop()
            problems = self.problems()
            if problems:
                sys.stderr.write("jqd problems: %s\n" % "\n".join(problems))
        return False

    # -- observation --------------------------------------------------------

    @property
    def addr(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def log_lines(self):
        with self._cond:
            return list(self._lines)

    @property
    def raw_log_lines(self):
        """The lines as jqd wrote them, times included."""
        with self._cond:
            return list(self._raw_lines)

    def stderr_text(self):
        return "\n".join(self.raw_log_lines)

    def wait_log(self, pattern, timeout=WAIT_TIMEOUT_S, start=0):
        """Wait until a log line (from index start on) matches the regex
        pattern; return the match.  Fails if jqd's stderr ends first."""
        rx = re.compile(pattern)
        found = []

        def seen():
            for line in self._lines[start:]:
                m = rx.search(line)
                if m:
                    found.append(m)
                    return True
            return self._eof
        with self._cond:
            self._cond.wait_for(seen, timeout=timeout)
        if not found:
            raise AssertionError("no log line matching %r within %s s%s\n"
                                 "--- jqd stderr ---\n%s"
                                 % (pattern, timeout,
                                    " (jqd exited)" if self._eof else "",
                                    self.stderr_text()))
        return found[0]


class Client:
    """A raw protocol client.

    Client(server) connects over TCP, Client(server, unix=True) over the
    Unix socket; a "host:port" string or a socket path also work.
    """

    def __init__(self, target, unix=False, timeout=REPLY_TIMEOUT_S):
        if isinstance(target, Server):
            target = target.unix_path if unix else (target.host, target.port)
        elif isinstance(target, str) and "/" not in target:
            host, _, port = target.rpartition(":")
            target = (host, int(port))
        if isinstance(target, tuple):
            self.sock = socket.create_connection(target, timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(target)
        self.sock.settimeout(60)  # bounds sendall() only; reads use poll
        self._buf = bytearray()
        self._eof = False
        self._ids = itertools.count(1)
        self.closed = False

    # -- writing ------------------------------------------------------------

    def send_raw(self, data):
        self.sock.sendall(data)

    @staticmethod
    def encode(obj):
        return (json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
                .encode("utf-8") + b"\n")

    def send_frame(self, obj):
        self.send_raw(self.encode(obj))

    def next_id(self):
        return next(self._ids)

    def request(self, op, **fields):
        """Send one request with a fresh integer id; return the id."""
        rid = self.next_id()
        frame = {"id": rid, "op": op}
        frame.update(fields)
        self.send_frame(frame)
        return rid

    # -- reading ------------------------------------------------------------

    def _fill(self, timeout):
        """Wait up to timeout s for bytes; False on timeout."""
        if self._eof:
            return True
        p = select.poll()
        p.register(self.sock.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
        if not p.poll(max(0, timeout) * 1000):
            return False
        try:
            chunk = self.sock.recv(1 << 16)
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        except (BlockingIOError, socket.timeout):
            return True
        if chunk:
            self._buf += chunk
        else:
            self._eof = True
        return True

    def read_line(self, timeout=REPLY_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                line = bytes(self._buf[:i])
                del self._buf[:i + 1]
                return line
            if self._eof:
                raise ConnectionClosed("connection closed by server (pending "
                                       "bytes: %r)" % bytes(self._buf[:200]))
            if not self._fill(deadline - time.monotonic()):
                raise ReplyTimeout("no reply within %s s" % timeout)

    @staticmethod
    def parse_reply(line):
        def bad_constant(name):
            raise ValueError("non-JSON constant %s in reply" % name)
        try:
            reply = json.loads(line.decode("utf-8"), parse_constant=bad_constant)
        except (UnicodeDecodeError, ValueError) as e:
            raise AssertionError("reply is not UTF-8 JSON (%s): %r" % (e, line[:300]))
        if not isinstance(reply, dict):
            raise AssertionError("reply is not an object: %r" % line[:300])
        if "id" not in reply or "ok" not in reply or not isinstance(reply["ok"], bool):
            raise AssertionError("reply lacks id or boolean ok: %r" % line[:300])
        if not reply["ok"]:
            err = reply.get("error")
            if (not isinstance(err, dict) or not isinstance(err.get("code"), str)
                    or not isinstance(err.get("message"), str)):
                raise AssertionError("error reply without error.code/message: %r"
                                     % line[:300])
        return reply

    def read_reply(self, timeout=REPLY_TIMEOUT_S):
        return self.parse_reply(self.read_line(timeout))

    def read_reply_raw(self, timeout=REPLY_TIMEOUT_S):
        """(raw line bytes, parsed reply)."""
        line = self.read_line(timeout)
        return line, self.parse_reply(line)

    def poll_reply(self, timeout=0.05):
        """A reply if one arrives within timeout s, else None."""
        try:
            return self.read_reply(timeout)
        except ReplyTimeout:
            return None

    def expect_eof(self, timeout=REPLY_TIMEOUT_S):
        """Read until the server closes; returns the lines read before EOF."""
        lines = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                lines.append(self.read_line(deadline - time.monotonic()))
            except ConnectionClosed:
                return lines

    def reply_to(self, rid, timeout=REPLY_TIMEOUT_S):
        r = self.read_reply(timeout)
        if r["id"] != rid or isinstance(r["id"], bool) != isinstance(rid, bool):
            raise AssertionError("reply id %r, expected %r: %r" % (r["id"], rid, r))
        return r

    # -- calls --------------------------------------------------------------

    def call(self, op, reply_timeout=REPLY_TIMEOUT_S, **fields):
        """One request and its reply (any ok)."""
        return self.reply_to(self.request(op, **fields), reply_timeout)

    def ok(self, op, reply_timeout=REPLY_TIMEOUT_S, **fields):
        """A call that must succeed; returns the reply."""
        r = self.call(op, reply_timeout, **fields)
        if r["ok"] is not True:
            raise AssertionError("%s %r failed: %r" % (op, fields, r))
        return r

    def error(self, op, code, reply_timeout=REPLY_TIMEOUT_S, **fields):
        """A call that must fail with `code`; returns the error object."""
        r = self.call(op, reply_timeout, **fields)
        if r["ok"] is not False or r["error"]["code"] != code:
            raise AssertionError("%s %r: expected error %s, got %r"
                                 % (op, fields, code, r))
        return r["error"]

    def pipeline(self, frames, timeout=60):
        """Write all frames (from a thread, so neither side's buffers can
        deadlock us) and read as many replies, returned in order."""
        data = b"".join(self.encode(f) for f in frames)
        failure = []

        def writer():
            try:
                self.send_raw(data)
            except Exception as e:  # reported below
                failure.append(e)
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        deadline = time.monotonic() + timeout
        replies = [self.read_reply(deadline - time.monotonic()) for _ in frames]
        t.join(timeout)
        if failure:
            raise failure[0]
        return replies

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class FakeServer:
    """A TCP server standing in for jqd, for what jq-client puts on the
    wire: records every request and answers it with answer(req) (override
    it; the default is a bare ok).  One connection at a time: jq-client's
    runs are sequential."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.requests = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def answer(self, req):
        return {"id": req.get("id"), "ok": True}

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as f:
                for line in f:
                    req = json.loads(line)
                    with self.lock:
                        self.requests.append(req)
                    f.write(json.dumps(self.answer(req)).encode() + b"\n")
                    f.flush()

    def take(self):
        """The requests recorded since the last take."""
        with self.lock:
            reqs, self.requests = self.requests, []
        return reqs

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)    # wakes accept()
        except OSError:
            pass
        self.sock.close()
        self.thread.join(10)


class RecordingProxy:
    """A TCP proxy in front of jqd recording, per connection, the requests
    jq-client sends.  With drop_send, the reply to the first send is
    swallowed and that connection closed: a reply lost after the send
    landed, which a keyed send retries on a new connection."""

    def __init__(self, target, drop_send=False):
        self.target = target
        self.drop_send = drop_send
        self.dropped = threading.Event()    # a reply was swallowed
        self.conns = []          # per connection: its requests, parsed
        self.lock = threading.Lock()
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.addr = "127.0.0.1:%d" % self.lsock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            s = socket.create_connection(self.target)
            with self.lock:
                reqs = []
                self.conns.append(reqs)
            drop = threading.Event()
            threading.Thread(target=self.requests_in,
                             args=(c, s, reqs, drop), daemon=True).start()
            threading.Thread(target=self.replies_out, args=(c, s, drop),
                             daemon=True).start()

    def requests_in(self, c, s, reqs, drop):
        try:
            for line in c.makefile("rb"):
                req = json.loads(line)
                with self.lock:
                    reqs.append(req)
                    if self.drop_send and req["op"] == "send":
                        self.drop_send = False
                        drop.set()
                s.sendall(line)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def replies_out(self, c, s, drop):
        # jq-client sends one request at a time: the line after a send
        # is its reply.
        try:
            for line in s.makefile("rb"):
                if drop.is_set():
                    self.dropped.set()
                    break
                c.sendall(line)
        except OSError:
            pass
        finally:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
            s.close()

    def requests(self):
        """Per connection so far, the requests it carried."""
        with self.lock:
            return [list(r) for r in self.conns]

    def close(self):
        self.lsock.close()


_names = itertools.count(1)


_tls_dir = None


# -- addresses that do not serve (address lists, jqclient.h) ----------------

def refused_port():
    """A port on 127.0.0.1 that refuses connections: bound, then closed
    (a jqd node standing by, or down)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Blackhole:
    """A listener on 127.0.0.1 whose accept queue is full (backlog 0 and
    one connection never accepted): Linux then drops the SYNs of further
    connects, which hang as towards a host that is gone -- without a
    network namespace.  .port; close() when done."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.filler = socket.create_connection(("127.0.0.1", self.port))

    def close(self):
        self.filler.close()
        self.sock.close()


class Silent:
    """A listener on 127.0.0.1 that never accepts: the kernel completes
    TCP connections, nobody answers (a TLS handshake hangs).  .port;
    close() when done."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


def tls_files():
    """A private CA and certificates made with the openssl CLI, once a run
    (removed at exit): a dict of paths -- ca, server_cert, server_key (for
    127.0.0.1 and localhost, as IP and DNS subjectAltNames), client_cert,
    client_key (signed by ca), server2_cert, server2_key (another server
    certificate, for the same names, signed by ca), other_ca (signs
    nothing here: the wrong CA).  Raises unittest.SkipTest without the
    openssl command."""
    global _tls_dir
    if shutil.which("openssl") is None:
        raise unittest.SkipTest("the openssl command is not installed")
    if _tls_dir is None:
        d = tempfile.mkdtemp(prefix="jqd-tls-")
        import atexit
        atexit.register(shutil.rmtree, d, True)

        def run(*args):
            subprocess.run(["openssl"] + list(args), cwd=d, check=True,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)

        key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes"]
        for ca in ("ca", "other_ca"):
            run("req", "-x509", *key, "-keyout", ca + ".key", "-out",
                ca + ".pem", "-days", "30", "-subj", "/CN=jqd test " + ca)
        with open(os.path.join(d, "server.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        shutil.copy(os.path.join(d, "server.ext"),
                    os.path.join(d, "server2.ext"))
        with open(os.path.join(d, "client.ext"), "w") as f:
            f.write("extendedKeyUsage=clientAuth\n")
        for who in ("server", "server2", "client"):
            run("req", *key, "-keyout", who + ".key", "-out", who + ".csr",
                "-subj", "/CN=jqd test " + who)
            run("x509", "-req", "-in", who + ".csr", "-CA", "ca.pem",
                "-CAkey", "ca.key", "-CAcreateserial", "-out",
                who + ".pem", "-days", "30", "-extfile", who + ".ext")
        _tls_dir = d
    p = lambda n: os.path.join(_tls_dir, n)
    return {"ca": p("ca.pem"), "other_ca": p("other_ca.pem"),
            "server_cert": p("server.pem"), "server_key": p("server.key"),
            "server2_cert": p("server2.pem"),
            "server2_key": p("server2.key"),
            "client_cert": p("client.pem"), "client_key": p("client.key")}


class FakeAgent:
    """A remote worker (PROTOCOL.md 11.16) driven by hand: one multiplexed
    connection, replies matched by id.  register() binds it; take() sends
    a worker_take and returns its id, reply(rid) waits for that reply
    (keeping the others); heartbeat(), output(), result() are calls.
    Nothing runs: the test decides what each attempt does."""

    def __init__(self, server, worker="w1", pools=("local",), slots=4,
                 host="fake-host"):
        self.c = Client(server)
        self.worker = worker
        self.pools = list(pools)
        self.slots = slots
        self.host = host
        self.replies = {}
        r = self.call("hello", multiplex=True)
        assert r["ok"] and r["multiplex"] is True, r

    def send(self, op, **fields):
        return self.c.request(op, **fields)

    def reply(self, rid, timeout=REPLY_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while rid not in self.replies:
            r = self.c.read_reply(max(0, deadline - time.monotonic()))
            self.replies[r["id"]] = r
        return self.replies.pop(rid)

    def poll(self, rid, timeout=0.2):
        """The reply to rid if it arrives within timeout s, else None."""
        try:
            return self.reply(rid, timeout)
        except ReplyTimeout:
            return None

    def call(self, op, **fields):
        return self.reply(self.send(op, **fields))

    def ok(self, op, **fields):
        r = self.call(op, **fields)
        if r["ok"] is not True:
            raise AssertionError("%s %r failed: %r" % (op, fields, r))
        return r

    def register(self, attempts=(), **extra):
        fields = dict(worker=self.worker, host=self.host, pid=os.getpid(),
                      slots=self.slots, pools=self.pools,
                      attempts=[{"job": j, "attempt": a}
                                for j, a in attempts])
        fields.update(extra)
        return self.ok("worker_register", **fields)

    def take(self, max=1, timeout_ms=None):
        fields = {"max": max}
        if timeout_ms is not None:
            fields["timeout_ms"] = timeout_ms
        return self.send("worker_take", **fields)

    def take_jobs(self, n=1, timeout=WAIT_TIMEOUT_S):
        """Take until n assignments came; returns them."""
        jobs = []
        deadline = time.monotonic() + timeout
        while len(jobs) < n:
            r = self.reply(self.take(max=n - len(jobs)),
                           max(0, deadline - time.monotonic()))
            assert r["ok"], r
            jobs += r["jobs"]
        return jobs

    def heartbeat(self, running=()):
        return self.ok("worker_heartbeat",
                       running=[{"job": j, "attempt": a} for j, a in running])

    def result(self, job, attempt, **fields):
        return self.call("worker_result", job=job, attempt=attempt, **fields)

    def close(self):
        self.c.close()


def unique_name(tag="c"):
    """A fresh valid channel name ([A-Za-z0-9._:-], <= 128 bytes)."""
    tag = re.sub(r"[^A-Za-z0-9.:-]", "-", tag)[:100]
    return "%s-%d" % (tag, next(_names))


class RestartTestCase(unittest.TestCase):
    """Tests that stop (or kill) jqd and start it again on one state
    directory: self.dir, removed at the end, and start()."""

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="jqd-restart-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def start(self, *args):
        """A jqd on self.dir with args, and a connection to it; both
        closed at cleanup."""
        s = Server(*args, state_dir=self.dir)
        s.start()
        self.addCleanup(s.stop)
        c = Client(s)
        self.addCleanup(c.close)
        return s, c


class ServerTestCase(unittest.TestCase):
    """One jqd per class (tests use distinct channel names), a control
    connection `ctl`, and helpers.

    If jqd dies, the test during which it died fails (tearDown), and the
    next test gets a fresh jqd so one crash does not hide the rest; every
    jqd of the class is checked in tearDownClass.  Subclasses put fixtures
    that live in a server into setUpServer()."""

    server_args = ()
    server = None
    ctl = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.servers = []
        cls._start_server()

    @classmethod
    def _start_server(cls):
        cls.server = Server(*cls.server_args)
        cls.servers.append(cls.server)
        cls.server.start()
        try:
            cls.ctl = Client(cls.server)
            cls.setUpServer()
        except Exception:
            cls.server.stop()
            raise

    @classmethod
    def setUpServer(cls):
        """Per-server fixtures (after start and ctl); override."""

    @classmethod
    def tearDownServer(cls):
        """Undo setUpServer's client-side state; override."""

    @classmethod
    def tearDownClass(cls):
        failures = []
        try:
            cls.tearDownServer()
            if cls.ctl:
                cls.ctl.close()
        finally:
            for server in cls.servers:
                try:
                    server.check()
                except ServerError as e:
                    failures.append(str(e))
            super().tearDownClass()
        if failures:
            raise ServerError("\n\n".join(failures))

    def setUp(self):
        if not self.server.alive():
            cls = type(self)
            cls.tearDownServer()
            cls.ctl.close()
            cls._start_server()

    def tearDown(self):
        self.assertTrue(self.server.alive(),
                        "jqd died during this test:\n" + self.server.stderr_text())

    def connect(self, unix=False):
        c = Client(self.server, unix=unix)
        self.addCleanup(c.close)
        return c

    def name(self, tag=None):
        return unique_name(tag or self._testMethodName.replace("test_", ""))

    def make(self, cap=0, tag=None):
        chan = self.name(tag)
        r = self.ctl.ok("make", chan=chan, cap=cap)
        self.assertIs(r.get("created"), True, r)
        return chan

    def stat(self, chan):
        return self.ctl.ok("stat", chan=chan)

    def wait_stat(self, chan, **want):
        """Poll stat until every given field has the given value."""
        def matches():
            s = self.stat(chan)
            return s if all(s.get(k) == v for k, v in want.items()) else None
        return wait_until(matches, what="stat %s %r (now %r)"
                          % (chan, want, self.stat(chan)))

    def wait_stats(self, **want):
        def matches():
            s = self.ctl.ok("stats")
            return s if all(s.get(k) == v for k, v in want.items()) else None
        return wait_until(matches, what="stats %r" % (want,))

    def assertNoReply(self, client, timeout=0.2):
        """The client's blocked request has not been answered (yet)."""
        r = client.poll_reply(timeout)
        self.assertIsNone(r, "unexpected reply while the request should block")

    def assertInt(self, x, msg=None):
        self.assertTrue(isinstance(x, int) and not isinstance(x, bool),
                        msg or "%r is not an integer" % (x,))


def _watchdog():
    sys.stderr.write("jqtest: watchdog fired after %s s; dumping threads\n"
                     % WATCHDOG_S)
    faulthandler.dump_traceback(all_threads=True)
    with _live_lock:
        servers = list(_live_servers)
    for s in servers:
        try:
            s.proc.kill()
            sys.stderr.write("--- jqd stderr ---\n%s\n" % s.stderr_text())
        except Exception:
            pass
    sys.stderr.flush()
    os._exit(1)


def main(need_client=False):
    """Run the calling module's tests; exit 0, 1, or 77 (skip)."""
    for var in ("JQD",) + (("JQ_CLIENT",) if need_client else ()):
        path = os.environ.get(var)
        if not path or not os.access(path, os.X_OK):
            sys.stderr.write("%s is not set to an executable; skipping\n" % var)
            sys.exit(77)
    timer = threading.Timer(WATCHDOG_S, _watchdog)
    timer.daemon = True
    timer.start()
    prog = unittest.main(module="__main__", exit=False)
    timer.cancel()
    sys.exit(0 if prog.result.wasSuccessful() else 1)
