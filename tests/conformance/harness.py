"""Shared machinery of the protocol conformance suite (see README.md).

The suite talks to one *target* server, given by JQ_CONFORMANCE_ADDR or
started here from $JQD.  It uses the Python client module
(jqclient.Connection of client/python/jqclient/, found relative to this file) for transport and
setup, and its raw layer to write exact frames and read exact replies.

  TARGET        what we know about the target: address, token, limits
  Conn          one connection: request() / reply() with our own ids,
                call() checking the id echo, ok() / err() checking shapes
  shapes        Int, Bool, Str, Real, Any, Null, Opt(x), Maybe(x), Exact(v),
                [x] (list of), {name: spec} (object with exactly those
                members), Open({...}) (more members allowed)
  Case          unittest.TestCase base: unique names under the run's
                random prefix, and cleanup (drop channels, cancel jobs)
                so a shared server is left as it was found
  aux servers   start_server(*args): a private jqd with special options,
                only when the suite started its own (self-start mode)

Bounds are generous: a reply that must come gets REPLY_S; a request that
must stay blocked is watched for BLOCKED_S only.
"""

import itertools
import json
import os
import random
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
# Appended, not prepended: tests/integration has modules named like ours.
sys.path.append(os.path.join(HERE, "..", "..", "client", "python"))
sys.path.append(os.path.join(HERE, "..", "integration"))

import jqclient  # noqa: E402

REPLY_S = 60
BLOCKED_S = 0.3
WAIT_S = 60

# What a value held in a channel counts toward max_buffered_bytes and
# stats.buffered_bytes beyond its compact size, and what a lease adds
# (PROTOCOL.md 8).
VALUE_OVERHEAD = 96
LEASE_OVERHEAD = 256

# Error codes of PROTOCOL.md section 7.
CODES = ("bad_request", "unknown_op", "frame_too_large", "unauthorized",
         "not_found", "exists", "closed", "timeout", "too_large", "limit",
         "shutting_down", "internal")
# Protocol 1.1 (section 12.1) adds codes; a 1.0 server never sends them.
CODES_1_1 = ("canceled",)

# Members protocol 1.1 adds to the replies of 1.0 ops (section 12.1).  The
# 1.0 tests check exact shapes; against a server whose hello says minor >= 1
# these names are accepted beside them (and checked by the 1.1 tests).
MEMBERS_1_1 = {"minor", "features", "time_ms", "build", "multiplex",
               "abort", "consumer", "touch", "watch", "max_deliveries",
               "dead_letter", "dead_lettered", "dead_letter_missing",
               "dedup", "dedup_window_ms", "dedup_max", "dedup_keys"}

# Members protocol 1.2 adds to replies of earlier ops (section 12.2): the
# result object's pool and worker, stats' worker figures, pools and op
# counters.
MEMBERS_1_2 = {"pool", "worker", "active", "draining", "disconnected",
               "remote_running", "pools",
               # stats' op counters
               "worker_register", "worker_take", "worker_heartbeat",
               "worker_output", "worker_result", "worker_drain", "workers"}

# Members protocol 1.3 adds to replies of earlier ops (section 12.3): the
# result object's argv, not_before_ms and retry_of, stats' paused_pools and
# op counters.
MEMBERS_1_3 = {"argv", "not_before_ms", "retry_of", "paused_pools",
               # stats' op counters
               "peek", "retry", "purge", "pool"}

# Members protocol 1.4 adds to replies of earlier ops (section 12.4): the
# `job` reply's env_keys, stats' op counter.  Not `chans`' more: it comes
# only with limit, which the tests that send it list in their shape, so a
# `more` in a reply without limit is an error (not the reply of 1.3).
MEMBERS_1_4 = {"env_keys", "groups"}

# Exercised error codes, for the summary printed by run.py.
codes_seen = set()


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v else default


class Target:
    """The server under test and what the suite may assume about it."""

    def __init__(self):
        self.addr = None
        self.unix_path = None
        self.token = None
        self.server = None          # jqtest.Server in self-start mode
        self.self_started = False
        self.exclusive = False      # no other clients: pool tests allowed
        self.allow_extra = bool(os.environ.get("JQ_CONFORMANCE_ALLOW_EXTRA"))
        self.max_frame = env_int("JQ_CONFORMANCE_MAX_FRAME", 1 << 20)
        self.max_value = env_int("JQ_CONFORMANCE_MAX_VALUE", 256 << 10)
        self.max_select_cases = env_int("JQ_CONFORMANCE_MAX_SELECT_CASES", 64)
        self.max_output = env_int("JQ_CONFORMANCE_MAX_OUTPUT", 1 << 20)
        self.prefix = "cf-%08x" % random.getrandbits(32)
        self.aux = []               # servers started by start_server()
        self.tmp = None
        self._minor = None

    def minor(self):
        """The target's protocol minor version (hello "minor"; 0 when
        absent), asked once."""
        if self._minor is None:
            with client() as c:
                self._minor = c.call("hello").get("minor", 0)
        return self._minor

    def features(self):
        """The 1.1 features the target lists in hello (a set)."""
        with client() as c:
            return set(c.call("hello").get("features", ()))


TARGET = Target()


def setup():
    """Find or start the target.  Returns None, or a reason to skip (77)."""
    import tempfile
    addr = os.environ.get("JQ_CONFORMANCE_ADDR")
    TARGET.tmp = tempfile.mkdtemp(prefix="jq-conformance-")
    if addr:
        TARGET.addr = addr
        TARGET.token = (os.environ.get("JQ_CONFORMANCE_TOKEN")
                        or os.environ.get("JQ_TOKEN") or None)
        TARGET.exclusive = bool(os.environ.get("JQ_CONFORMANCE_EXCLUSIVE"))
        if addr.startswith("unix:") or "/" in addr:
            TARGET.unix_path = addr[5:] if addr.startswith("unix:") else addr
        return None
    jqd = os.environ.get("JQD")
    if not jqd or not os.access(jqd, os.X_OK):
        return "neither JQ_CONFORMANCE_ADDR nor JQD (an executable jqd) is set"
    import jqtest
    # A marker in jqd's environment: jobs must not see it (11.7).
    os.environ["JQ_CONFORMANCE_LEAK"] = "leaked"
    TARGET.server = jqtest.Server().start()
    TARGET.addr = TARGET.server.addr
    TARGET.unix_path = TARGET.server.unix_path
    TARGET.self_started = True
    TARGET.exclusive = True
    return None


def sqlite_only(reason):
    """jqtest.sqlite_only: for a test of a private jqd that reaches into
    its SQLite file, skipped when the suite runs jqd on PostgreSQL."""
    import jqtest
    return jqtest.sqlite_only(reason)


def start_server(*args, **kw):
    """A private jqd with extra options (self-start mode only; the test is
    skipped otherwise).  Stopped and checked by teardown(), or earlier by
    the caller (server.check())."""
    if not TARGET.self_started:
        raise unittest.SkipTest("needs a private jqd (self-start mode)")
    import jqtest
    s = jqtest.Server(*args, **kw)
    TARGET.aux.append(s)
    return s.start()


def reap(server, timeout=30):
    """Wait for a private jqd that we told to stop (SIGTERM) to exit, and
    record that as a clean stop; returns its exit status."""
    try:
        server.proc.wait(timeout)
    except Exception:
        return None  # still running: teardown() stops it and complains
    server._stopped = True
    server.returncode = server.proc.returncode
    server._finish()
    return server.returncode


def teardown():
    """Remove what the run left on the target, stop our servers.  Returns
    a list of problems (jqd crashes, sanitizer reports, leftovers)."""
    import shutil
    problems = []
    try:
        with client() as c:
            left = c.chans(TARGET.prefix)
            for s in left:
                c.drop(s["chan"])
            if left:
                problems.append("channels left behind by tests (dropped "
                                "now): %s" % [s["chan"] for s in left])
    except jqclient.Error as e:
        problems.append("cleanup failed: %s" % e)
    servers = list(TARGET.aux)
    if TARGET.server is not None:
        servers.append(TARGET.server)
    for s in servers:
        s.stop()
        problems += ["%s: %s" % (" ".join(s.cmd), p) for p in s.problems()]
        if s.problems():
            problems.append("--- jqd stderr ---\n" + s.stderr_text())
    if TARGET.tmp:
        shutil.rmtree(TARGET.tmp, ignore_errors=True)
    return problems


def client(addr=None, token=None, timeout=REPLY_S):
    """A jqclient.Connection to the target (authenticated if it has a token)."""
    return jqclient.Connection(addr or TARGET.addr,
                           token=token if token is not None else TARGET.token
                           or "", timeout=timeout)


def wait_until(predicate, timeout=WAIT_S, what=None):
    """Poll predicate() until truthy (returned); fail after timeout s."""
    deadline = time.monotonic() + timeout
    interval = 0.005
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %s s waiting for %s"
                                 % (timeout, what or predicate))
        time.sleep(interval)
        interval = min(interval * 1.5, 0.1)


# -- shapes -------------------------------------------------------------------

class Spec:
    def check(self, v, path, out):
        raise NotImplementedError


class _Type(Spec):
    def __init__(self, name, test):
        self.name, self.test = name, test

    def check(self, v, path, out):
        if not self.test(v):
            out.append("%s: expected %s, got %r" % (path, self.name, v))

    def __repr__(self):
        return self.name


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


Int = _Type("integer", _is_int)
NonNeg = _Type("integer >= 0", lambda v: _is_int(v) and v >= 0)
Pos = _Type("integer >= 1", lambda v: _is_int(v) and v >= 1)
Bool = _Type("boolean", lambda v: isinstance(v, bool))
Str = _Type("string", lambda v: isinstance(v, str))
NonEmptyStr = _Type("non-empty string", lambda v: isinstance(v, str) and v)
Real = _Type("number", lambda v: isinstance(v, (int, float))
             and not isinstance(v, bool))
Any = _Type("any JSON value", lambda v: True)
Null = _Type("null", lambda v: v is None)
True_ = _Type("true", lambda v: v is True)


class Exact(Spec):
    def __init__(self, value):
        self.value = value

    def check(self, v, path, out):
        if v != self.value or type(v) is not type(self.value):
            out.append("%s: expected %r, got %r" % (path, self.value, v))


class Opt(Spec):
    """The spec, or null."""

    def __init__(self, spec):
        self.spec = spec

    def check(self, v, path, out):
        if v is not None:
            check_shape(v, self.spec, path, out)


class Maybe:
    """An object member that may be absent (if present: the spec)."""

    def __init__(self, spec):
        self.spec = spec


class Open:
    """An object spec that allows members it does not name."""

    def __init__(self, members):
        self.members = members


class Pred(Spec):
    def __init__(self, name, test):
        self.name, self.test = name, test

    def check(self, v, path, out):
        if not self.test(v):
            out.append("%s: expected %s, got %r" % (path, self.name, v))


def check_shape(v, spec, path, out):
    """Append to out a line per way v does not match spec."""
    if isinstance(spec, Spec):
        spec.check(v, path, out)
    elif isinstance(spec, list):
        if not isinstance(v, list):
            out.append("%s: expected an array, got %r" % (path, v))
            return
        for i, x in enumerate(v):
            check_shape(x, spec[0], "%s[%d]" % (path, i), out)
    elif isinstance(spec, (dict, Open)):
        members = spec.members if isinstance(spec, Open) else spec
        if not isinstance(v, dict):
            out.append("%s: expected an object, got %r" % (path, v))
            return
        for k, s in members.items():
            if k not in v:
                if not isinstance(s, Maybe):
                    out.append("%s: member '%s' missing" % (path, k))
                continue
            check_shape(v[k], s.spec if isinstance(s, Maybe) else s,
                        "%s.%s" % (path, k), out)
        if not isinstance(spec, Open) and not TARGET.allow_extra:
            extra = set(v) - set(members)
            if extra & MEMBERS_1_1 and TARGET.minor() >= 1:
                extra -= MEMBERS_1_1
            if extra & MEMBERS_1_2 and TARGET.minor() >= 2:
                extra -= MEMBERS_1_2
            if extra & MEMBERS_1_3 and TARGET.minor() >= 3:
                extra -= MEMBERS_1_3
            if extra & MEMBERS_1_4 and TARGET.minor() >= 4:
                extra -= MEMBERS_1_4
            extra = sorted(extra)
            if extra:
                out.append("%s: members not in PROTOCOL.md: %s"
                           % (path, extra))
    else:
        raise TypeError("bad spec %r" % (spec,))


def shape_problems(v, spec, path="reply"):
    out = []
    check_shape(v, spec, path, out)
    return out


# Shapes of PROTOCOL.md, shared by the modules.

STAT = {"chan": Str, "cap": NonNeg, "len": NonNeg, "closed": Bool,
        "leased": NonNeg, "senders_waiting": NonNeg,
        "receivers_waiting": NonNeg, "sent": NonNeg, "received": NonNeg}

JOB_STATES = ("queued", "running", "succeeded", "failed",
              "deadline_exceeded", "canceled")
State = Pred("a job state", lambda v: v in JOB_STATES)
PROGRESS = Opt({"done": NonNeg, "total": Opt(NonNeg)})

# The result object (11.2).
RESULT_LISTED = {
    "job": Pos, "name": Opt(Str), "group": Opt(Str), "state": State,
    "exit_code": Opt(Int), "signal": Opt(Pos), "error": Opt(Str),
    "stdout_truncated": Bool, "stderr_truncated": Bool,
    "progress": PROGRESS, "attempt": Pos, "submitted_ms": NonNeg,
    "started_ms": Opt(NonNeg), "finished_ms": Opt(NonNeg),
    "deadline_ms": Opt(NonNeg), "parent": Opt(Pos), "priority": Int,
}
RESULT = dict(RESULT_LISTED, stdout=Str, stderr=Str)

GROUP = {"group": Str, "total": NonNeg, "queued": NonNeg, "running": NonNeg,
         "succeeded": NonNeg, "failed": NonNeg, "deadline_exceeded": NonNeg,
         "canceled": NonNeg, "progress": {"done": NonNeg, "total": NonNeg}}


# -- connections ----------------------------------------------------------------

class Conn:
    """One connection with exact control of frames and ids.

    request(op, **fields) writes one frame with a fresh id (an integer, or a
    string with id_kind="str") and returns the id; reply() reads the next
    reply; call() does both and checks the id echo.  ok()/err() also check
    the reply's shape; they return the reply.
    """

    _ids = itertools.count(1)

    def __init__(self, test, addr=None, token=None, auth=True):
        self.test = test
        self.c = jqclient.Connection(addr or TARGET.addr, token="",
                                 timeout=REPLY_S)
        tok = token if token is not None else TARGET.token
        if auth and tok:
            self.ok("auth", token=tok)

    # raw
    def write(self, data):
        self.c.write_raw(data)

    def frame(self, obj):
        self.c.write_raw(jqclient.encode_frame(obj))

    def line(self, timeout=REPLY_S):
        return self.c.read_line(timeout)

    def reply(self, timeout=REPLY_S):
        r = self.c.read_reply(timeout)
        problems = []
        if list(r)[:2] != ["id", "ok"]:
            problems.append("reply members do not start with id, ok: %r"
                            % list(r))
        if problems:
            raise AssertionError("; ".join(problems))
        return r

    def blocked(self, timeout=BLOCKED_S):
        """True if no reply arrives within timeout s."""
        return not self.c.poll(timeout)

    def eof(self, timeout=REPLY_S):
        """True once the server closed the connection within timeout s
        with no further reply; else False (self.unexpected: the line that
        came instead, if any)."""
        self.unexpected = None
        if not self.c.poll(timeout):
            return False
        if self.c.at_eof():
            return True
        self.unexpected = self.c.read_line(0)
        return False

    def assert_eof(self, what, timeout=REPLY_S):
        if not self.eof(timeout):
            raise AssertionError("%s: connection not closed%s" % (
                what, "; instead the server sent %r" % self.unexpected
                if self.unexpected else " within %s s" % timeout))

    def close(self):
        self.c.close()

    # requests
    def request(self, op, **fields):
        rid = next(Conn._ids)
        frame = {"id": rid, "op": op}
        frame.update(fields)
        self.frame(frame)
        return rid

    def expect(self, rid, timeout=REPLY_S):
        r = self.reply(timeout)
        if r["id"] != rid or type(r["id"]) is not type(rid):
            raise AssertionError("reply id %r does not echo request id %r: "
                                 "%r" % (r["id"], rid, r))
        return r

    def call(self, op, **fields):
        return self.expect(self.request(op, **fields))

    def ok(self, op, spec=None, **fields):
        """A request that must succeed; spec: the result members."""
        return check_ok(self.call(op, **fields), spec,
                        "%s %s" % (op, _short(fields)))

    def err(self, op, code, details=None, **fields):
        """A request that must fail with code; details: the error object's
        members besides code and message."""
        return check_err(self.call(op, **fields), code, details,
                         "%s %s" % (op, _short(fields)))


def _short(obj, n=200):
    s = json.dumps(obj, ensure_ascii=False)
    return s if len(s) <= n else s[:n] + "..."


def check_ok(r, spec=None, what="request"):
    """r must be {"id", "ok": true} plus exactly spec's members (spec
    None: any members; Open(...): at least those)."""
    if r.get("ok") is not True:
        raise AssertionError("%s: expected ok, got %s" % (what, _short(r, 600)))
    members = {"id": Any, "ok": True_}
    if spec is None:
        spec = Open({})
    if isinstance(spec, Open):
        members = Open(dict(members, **spec.members))
    else:
        members.update(spec or {})
    problems = shape_problems(r, members)
    if problems:
        raise AssertionError("%s: reply %s does not match PROTOCOL.md:\n  %s"
                             % (what, _short(r, 600), "\n  ".join(problems)))
    return r


def check_err(r, code, details=None, what="request"):
    """r must be an error reply with this code, a message, and exactly the
    detail members given."""
    codes_seen.add(code)
    if r.get("ok") is not False or not isinstance(r.get("error"), dict) \
            or r["error"].get("code") != code:
        raise AssertionError("%s: expected error %s, got %s"
                             % (what, code, _short(r, 600)))
    spec = {"id": Any, "ok": Exact(False),
            "error": dict({"code": Exact(code), "message": NonEmptyStr},
                          **(details or {}))}
    problems = shape_problems(r, spec)
    if problems:
        raise AssertionError("%s: reply %s does not match PROTOCOL.md:\n  %s"
                             % (what, _short(r, 600), "\n  ".join(problems)))
    return r


# -- test cases -----------------------------------------------------------------

class Case(unittest.TestCase):
    """Base of the suite's tests: a connection `c` and a client `api` to
    the target, unique names, cleanup."""

    _names = itertools.count(1)

    def setUp(self):
        t = TARGET
        if t.self_started and not t.server.alive():
            # It died during an earlier test (which failed in tearDown and
            # is reported again by teardown()); go on with a fresh one so
            # one crash does not hide the rest.
            t.aux.append(t.server)
            import jqtest
            t.server = jqtest.Server().start()
            t.addr, t.unix_path = t.server.addr, t.server.unix_path
        self.c = self.conn()
        self.api = self.client()

    def tearDown(self):
        t = TARGET
        if t.self_started and not t.server.alive():
            self.fail("jqd died during this test:\n" + t.server.stderr_text())

    def conn(self, addr=None, token=None, auth=True):
        c = Conn(self, addr, token, auth)
        self.addCleanup(c.close)
        return c

    def client(self, **kw):
        c = client(**kw)
        self.addCleanup(c.close)
        return c

    def name(self, tag=None):
        """A fresh channel (or group) name under the run's prefix."""
        tag = tag or self._testMethodName.replace("test_", "")
        return "%s-%s-%d" % (TARGET.prefix, tag[:60].replace("_", "-"),
                             next(Case._names))

    def make(self, cap=0, tag=None):
        """A new channel, dropped at cleanup."""
        name = self.name(tag)
        check_ok(self.c.call("make", chan=name, cap=cap), {"created": True_})
        self.addCleanup(self.drop_quietly, name)
        return name

    def track(self, name):
        """Drop channel `name` at cleanup (if it exists then)."""
        self.addCleanup(self.drop_quietly, name)
        return name

    def drop_quietly(self, name):
        try:
            with client() as c:
                c.drop(name)
        except jqclient.NotFound:
            pass
        except jqclient.ConnectionError:
            if not TARGET.self_started or TARGET.server.alive():
                raise  # else the crash is reported by tearDown

    def group(self, tag=None):
        """A fresh job group name; its jobs are canceled at cleanup."""
        g = self.name(tag or "g")
        self.addCleanup(self.cancel_quietly, g)
        return g

    def cancel_quietly(self, group):
        try:
            with client() as c:
                c.cancel(group=group)
        except jqclient.ConnectionError:
            if not TARGET.self_started or TARGET.server.alive():
                raise

    def stat(self, chan):
        return self.api.stat(chan)

    def wait_stat(self, chan, **want):
        last = {}

        def match():
            last["s"] = s = self.api.stat(chan)
            return all(s[k] == v for k, v in want.items())
        try:
            wait_until(match, what="stat %s %r" % (chan, want))
        except AssertionError:
            raise AssertionError("stat %s never matched %r; last %r"
                                 % (chan, want, last.get("s")))
        return last["s"]

    def in_thread(self, fn, *args, **kw):
        """Run fn in a thread; returns join() giving its result."""
        box = {}

        def run():
            try:
                box["r"] = fn(*args, **kw)
            except BaseException as e:
                box["e"] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()

        def join(timeout=REPLY_S):
            t.join(timeout)
            if t.is_alive():
                raise AssertionError("thread still running")
            if "e" in box:
                raise box["e"]
            return box["r"]
        return join

    def assertBlocked(self, conn, what="request"):
        self.assertTrue(conn.blocked(), "%s answered while it should block"
                        % what)

    def needs_exclusive(self):
        if not TARGET.exclusive:
            self.skipTest("needs a server no one else uses "
                          "(JQ_CONFORMANCE_EXCLUSIVE=1)")
