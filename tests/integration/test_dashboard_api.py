"""The dashboard's HTTP side (PROTOCOL.md 16): the compiled-in files and
the headers of every response, login, sessions and their cookie, CSRF,
read-only mode, the no-token rule, the API through jqd's own ops (checked
with a protocol client), the event streams (live, watch), their bounds, a
peer leaving mid-watch, a token reload, and stats.ops counting it all.

Plain http.client over a real jqd (--metrics 127.0.0.1:0), one jqd per
test class where the tests can share it; waits are on events.
"""

import http.client
import json
import os
import re
import shutil
import signal
import ssl
import tempfile
import time
import unittest

import jqtest
from jqtest import Client, Server, wait_until

BOUND_S = 30 * jqtest.TIMEOUT_SCALE
TOKEN = "dash-token-0123456789"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_STREAMS = 48        # dash-api.c: API_MAX_STREAMS

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; "
    "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def token_file(token):
    d = tempfile.mkdtemp(prefix="jqd-dash-")
    path = os.path.join(d, "token")
    with open(path, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return d, path


class Dash:
    """A jqd with --metrics (the dashboard's listener) and, by default,
    a token file."""

    def __init__(self, *args, token=TOKEN, listen_args=None, tls=None):
        self.token = token
        self.tmp = None
        extra = list(args)
        if token is not None:
            self.tmp, self.token_path = token_file(token)
            extra += ["--token-file", self.token_path]
        self.tls = tls
        if tls is not None:
            extra += ["--tls-cert", tls["server_cert"], "--tls-key",
                      tls["server_key"], "--metrics", "tls:127.0.0.1:0"]
        else:
            extra += ["--metrics", "127.0.0.1:0"]
        self.server = Server(*extra, listen_args=listen_args)

    def __enter__(self):
        try:
            self.server.start()
            m = self.server.wait_log(r"metrics on https?://127\.0\.0\.1:"
                                     r"(\d+)/metrics")
        except BaseException:
            self.server.stop()
            self._rm()
            raise
        self.port = int(m.group(1))
        return self

    def __exit__(self, *exc):
        try:
            return self.server.__exit__(*exc)
        finally:
            self._rm()

    def _rm(self):
        if self.tmp is not None:
            shutil.rmtree(self.tmp, True)

    def connect(self):
        if self.tls is None:
            return http.client.HTTPConnection("127.0.0.1", self.port,
                                              timeout=BOUND_S)
        ctx = ssl.create_default_context(cafile=self.tls["ca"])
        return http.client.HTTPSConnection("127.0.0.1", self.port,
                                           timeout=BOUND_S, context=ctx)

    def request(self, method, path, body=None, headers=None, bearer=False,
                cookie=None, csrf=None, json_body=True):
        """(status, headers (dict), body bytes)."""
        h = dict(headers or {})
        if bearer:
            h["Authorization"] = "Bearer " + (
                bearer if isinstance(bearer, str) else self.token)
        if cookie is not None:
            h["Cookie"] = cookie
        if csrf is not None:
            h["X-CSRF-Token"] = csrf
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        if body is not None and json_body:
            h.setdefault("Content-Type", "application/json")
        conn = self.connect()
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def api(self, method, path, body=None, **kw):
        """(status, reply object) of an /api/ call."""
        status, headers, data = self.request(method, path, body, **kw)
        assert headers.get("Cache-Control") == "no-store", headers
        return status, json.loads(data)

    def login(self, token=None):
        """(cookie header value, csrf) of a new session."""
        status, headers, data = self.request(
            "POST", "/api/login", {"token": token or self.token})
        assert status == 200, (status, data)
        cookie = headers["Set-Cookie"].split(";")[0]
        _, s = self.api("GET", "/api/session", cookie=cookie)
        return cookie, s["csrf"]

    def stream(self, path, **kw):
        return Sse(self, path, **kw)

    def client(self):
        return Client(self.server, unix=True)


class Sse:
    """An event stream (text/event-stream) read event by event."""

    def __init__(self, dash, path, bearer=True, cookie=None):
        self.conn = dash.connect()
        h = {}
        if bearer:
            h["Authorization"] = "Bearer " + dash.token
        if cookie is not None:
            h["Cookie"] = cookie
        self.conn.request("GET", path, headers=h)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = dict(self.resp.getheaders())

    def event(self):
        """(name, data object) of the next event, None at the end."""
        name, data = None, []
        while True:
            line = self.resp.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if line == "":
                if name is None and not data:
                    continue
                return name, json.loads("\n".join(data))
            if line.startswith(":"):
                continue
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)

    def close(self):
        # The response holds the socket too: both, or it stays open.
        self.resp.close()
        self.conn.close()


def stats(client):
    return client.ok("stats")


class SharedDashTest(unittest.TestCase):
    """One jqd (Dash()) for all the tests of the class."""

    @classmethod
    def setUpClass(cls):
        cls.d = Dash().__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)


class StaticTest(SharedDashTest):

    def assertSecure(self, headers):
        for k, v in SECURITY_HEADERS.items():
            self.assertEqual(headers.get(k), v, k)

    def test_assets_etag_and_headers(self):
        types = {"/": "text/html", "/index.html": "text/html",
                 "/assets/app.js": "text/javascript",
                 "/assets/app.css": "text/css",
                 "/assets/favicon.svg": "image/svg+xml"}
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "..", "..", "daemon", "dashboard")
        for path, ctype in types.items():
            with self.subTest(path):
                status, h, body = self.d.request("GET", path)
                self.assertEqual(status, 200)
                self.assertTrue(h["Content-Type"].startswith(ctype), h)
                self.assertEqual(h["Cache-Control"], "no-cache")
                self.assertSecure(h)
                name = "index.html" if path in ("/", "/index.html") \
                    else path.rpartition("/")[2]
                with open(os.path.join(src, name), "rb") as f:
                    self.assertEqual(body, f.read())
                etag = h["ETag"]
                status, h2, body = self.d.request(
                    "GET", path, headers={"If-None-Match": etag})
                self.assertEqual((status, body), (304, b""))
                self.assertEqual(h2["ETag"], etag)
                status, _, body = self.d.request(
                    "GET", path, headers={"If-None-Match": '"other"'})
                self.assertEqual(status, 200)
                status, _, body = self.d.request("HEAD", path)
                self.assertEqual((status, body), (200, b""))

    def test_other_paths(self):
        for path in ("/nope", "/assets/", "/assets/nope.js", "/index.htm",
                     "/assets/../index.html"):
            with self.subTest(path):
                status, h, _ = self.d.request("GET", path)
                self.assertEqual(status, 404)
                self.assertSecure(h)
        status, h, _ = self.d.request("POST", "/", b"{}")
        self.assertEqual(status, 405)
        status, h, _ = self.d.request("POST", "/metrics", b"{}",
                                      bearer=True)
        self.assertEqual(status, 405)
        status, h, body = self.d.request("GET", "/healthz")
        self.assertEqual((status, body), (200, b"ok\n"))
        self.assertSecure(h)
        status, h, body = self.d.request("GET", "/api/nope", bearer=True)
        self.assertEqual(status, 404)
        self.assertSecure(h)


class SessionTest(SharedDashTest):

    def test_session_before_login(self):
        status, s = self.d.api("GET", "/api/session")
        self.assertEqual(status, 200)
        self.assertEqual((s["auth"], s["authenticated"], s["csrf"],
                          s["readonly"], s["tls"], s["protocol"]),
                         ("token", False, None, False, False, 1))
        self.assertGreaterEqual(s["minor"], 3)
        for k in ("version", "host", "started_ms"):
            self.assertIn(k, s)
        status, r = self.d.api("GET", "/api/stats")
        self.assertEqual((status, r["error"]["code"]), (401, "unauthorized"))
        status, r = self.d.api("GET", "/api/stats", bearer="wrong")
        self.assertEqual(status, 401)
        status, r = self.d.api("GET", "/api/stats",
                               cookie="jqd_session=" + "0" * 64)
        self.assertEqual(status, 401)

    def test_login(self):
        status, r = self.d.api("POST", "/api/login", {"token": "wrong"})
        self.assertEqual((status, r["error"]),
                         (401, {"code": "unauthorized",
                                "message": "wrong token"}))
        status, r = self.d.api("POST", "/api/login", {"token": TOKEN},
                               json_body=False)
        self.assertEqual(status, 415)
        status, r = self.d.api("POST", "/api/login", b"not json")
        self.assertEqual(status, 400)
        status, h, _ = self.d.request("POST", "/api/login",
                                      {"token": TOKEN})
        self.assertEqual(status, 200)
        parts = [p.strip() for p in h["Set-Cookie"].split(";")]
        name, _, sid = parts[0].partition("=")
        self.assertEqual(name, "jqd_session")
        self.assertRegex(sid, HEX64)
        self.assertEqual(sorted(parts[1:]), sorted(
            ["Path=/", "HttpOnly", "SameSite=Strict", "Max-Age=43200"]))
        cookie = parts[0]
        status, s = self.d.api("GET", "/api/session", cookie=cookie)
        self.assertTrue(s["authenticated"])
        self.assertRegex(s["csrf"], HEX64)
        status, r = self.d.api("GET", "/api/stats", cookie=cookie)
        self.assertEqual((status, r["ok"]), (200, True))
        # Logout: CSRF first, then the cookie is cleared and dead.
        status, r = self.d.api("POST", "/api/logout", {}, cookie=cookie)
        self.assertEqual((status, r["error"]["code"]), (403, "forbidden"))
        status, h, _ = self.d.request("POST", "/api/logout", {},
                                      cookie=cookie, csrf=s["csrf"])
        self.assertEqual(status, 200)
        self.assertIn("Max-Age=0", h["Set-Cookie"])
        status, r = self.d.api("GET", "/api/stats", cookie=cookie)
        self.assertEqual(status, 401)

    def test_bearer(self):
        status, r = self.d.api("GET", "/api/stats", bearer=True)
        self.assertEqual((status, r["ok"]), (200, True))
        status, s = self.d.api("GET", "/api/session", bearer=True)
        self.assertTrue(s["authenticated"])


class SessionBoundTest(unittest.TestCase):

    def test_session_bound(self):
        """At most 256 sessions: one more login ends the oldest, and its
        streams with it; the others live on.  Its own jqd: no session
        of another test among them."""
        with Dash() as d:
            self._session_bound(d)

    def _session_bound(self, d):
        with d.client() as c:
            c.ok("make", chan="sb")
        first, _ = d.login()
        second, _ = d.login()
        # stat of a channel nobody touches: one reply, then keepalives.
        s = d.stream("/api/live?op=stat&chan=sb", bearer=False,
                     cookie=first)
        try:
            self.assertEqual(s.event()[0], "reply")
            for _ in range(255):
                status, _, _ = d.request("POST", "/api/login",
                                         {"token": TOKEN})
                self.assertEqual(status, 200)
            # Ended before the last login was answered: at its end now
            # (but for a keepalive comment every 15 s if it were not).
            deadline = time.monotonic() + BOUND_S
            while s.resp.readline():
                self.assertLess(time.monotonic(), deadline,
                                "the oldest session's stream goes on")
        finally:
            s.close()
        status, _ = d.api("GET", "/api/stats", cookie=first)
        self.assertEqual(status, 401)
        status, _ = d.api("GET", "/api/stats", cookie=second)
        self.assertEqual(status, 200)

class ApiTest(SharedDashTest):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cookie, cls.csrf = cls.d.login()

    def post(self, op, body, csrf=True, **kw):
        kw.setdefault("cookie", self.cookie)
        return self.d.api("POST", "/api/" + op, body,
                          csrf=self.csrf if csrf is True else csrf, **kw)

    def test_csrf(self):
        with self.d.client() as c:
            c.ok("make", chan="csrf")
            for csrf in (None, "0" * 64, self.csrf[:-1], self.csrf + "0"):
                with self.subTest(csrf=csrf):
                    status, r = self.post("drop", {"chan": "csrf"},
                                          csrf=csrf)
                    self.assertEqual(r["error"], {
                        "code": "forbidden",
                        "message": "missing or wrong CSRF token"})
                    self.assertEqual(status, 403)
                    c.ok("stat", chan="csrf")
            status, r = self.post("drop", {"chan": "csrf"})
            self.assertEqual((status, r["ok"]), (200, True))
            c.error("stat", "not_found", chan="csrf")
            # Bearer: no CSRF token needed (a browser never sends one).
            c.ok("make", chan="csrf2")
            status, r = self.post("drop", {"chan": "csrf2"}, csrf=None,
                                  cookie=None, bearer=True)
            self.assertEqual((status, r["ok"]), (200, True))
            c.error("stat", "not_found", chan="csrf2")
            status, r = self.post("drop", {"chan": "x"}, json_body=False)
            self.assertEqual(status, 415)

    def test_reads(self):
        with self.d.client() as c:
            c.ok("make", chan="r1", cap=5)
            c.ok("send", chan="r1", value={"a": 1})
            status, r = self.d.api("GET", "/api/stat?chan=r1",
                                   cookie=self.cookie)
            self.assertEqual((status, r["len"], r["cap"]), (200, 1, 5))
            # The reply as jqd wrote it, less the id HTTP has no use for.
            self.assertEqual(list(r)[:2], ["ok", "chan"])
            status, r = self.d.api("GET", "/api/peek?chan=r1&n=10",
                                   cookie=self.cookie)
            self.assertEqual(status, 200, r)
            self.assertEqual(r["values"], [{"a": 1}])
            # A quoted value is a string; a bare number a number.
            c.ok("make", chan="123")
            status, r = self.d.api("GET", "/api/stat?chan=%22123%22",
                                   cookie=self.cookie)
            self.assertEqual(status, 200, r)
            status, r = self.d.api("GET", "/api/stat?chan=123",
                                   cookie=self.cookie)
            self.assertEqual((status, r["error"]["code"]),
                             (400, "bad_request"))
            status, r = self.d.api("GET", "/api/stat?chan=nope",
                                   cookie=self.cookie)
            self.assertEqual((status, r["error"]["code"]), (404, "not_found"))
            self.assertNotIn("id", r)
            status, r = self.d.api("GET", "/api/stat", cookie=self.cookie)
            self.assertEqual(status, 400)

    def test_query_decoding(self):
        with self.d.client() as c:
            c.ok("make", chan="q", cap=3)
            c.ok("make", chan="q:r", cap=4)
            # Names are decoded as values are: %61 is "a".
            for q in ("ch%61n=q", "chan=q", "%63han=%71"):
                with self.subTest(q):
                    status, r = self.d.api("GET", "/api/stat?" + q,
                                           cookie=self.cookie)
                    self.assertEqual((status, r.get("cap")), (200, 3), r)
            status, r = self.d.api("GET", "/api/stat?chan=q%3Ar",
                                   cookie=self.cookie)
            self.assertEqual((status, r.get("cap")), (200, 4), r)
            # Decoded, a name given twice is still twice.
            status, r = self.d.api("GET", "/api/stat?chan=q&ch%61n=q",
                                   cookie=self.cookie)
            self.assertEqual((status, r["error"]["message"]),
                             (400, "a field is given twice"))
            # A NUL would cut the value short: "q%00x" is not "q".
            for path in ("/api/stat?chan=q%00x", "/api/stat?chan%00x=q",
                         "/api/live?op=stat%00x&chan=q"):
                with self.subTest(path):
                    status, r = self.d.api("GET", path, cookie=self.cookie)
                    self.assertEqual((status, r["error"]["message"]), (
                        400, "a field holds a NUL byte (%00)"))

    def test_bad_calls(self):
        cases = [
            ("GET", "/api/nope", None, 404),
            ("GET", "/api/send?chan=x&value=1", None, 404),   # not exposed
            ("POST", "/api/stats", {}, 405),
            ("GET", "/api/cancel?job=1", None, 405),
            ("GET", "/api/stat?chan=a&chan=b", None, 400),
            ("GET", "/api/stat?chan=a&id=3", None, 400),
            ("GET", "/api/stats?op=send", None, 400),
            ("POST", "/api/cancel", {"job": 1, "op": "submit"}, 400),
            ("POST", "/api/cancel", {"job": 1, "id": 7}, 400),
            ("POST", "/api/cancel", [1], 400),
            ("POST", "/api/cancel", b"{", 400),
            ("POST", "/api/login", b"x" * (65 * 1024), 413),
            ("POST", "/api/cancel", b" " * (65 * 1024), 413),
        ]
        for method, path, body, want in cases:
            with self.subTest(method=method, path=path):
                status, h, data = self.d.request(
                    method, path, body, cookie=self.cookie,
                    csrf=self.csrf if method == "POST" else None)
                self.assertEqual(status, want, data[:200])

    def test_cancel_takes_effect(self):
        with self.d.client() as c:
            job = c.ok("submit", argv=["sleep", "60"])["job"]
            wait_until(lambda: c.ok("job", job=job)["state"] == "running",
                       what="the job running")
            status, r = self.post("cancel", {"job": job})
            self.assertEqual((status, r["ok"]), (200, True), r)
            wait_until(lambda: c.ok("job", job=job)["state"] == "canceled",
                       what="the job canceled")
            status, r = self.d.api("GET", "/api/job?job=%d" % job,
                                   cookie=self.cookie)
            self.assertEqual(r["state"], "canceled")
            status, r = self.post("cancel", {"job": 99999})
            self.assertEqual((status, r["error"]["code"]), (404, "not_found"))

    def test_ops_counted(self):
        with self.d.client() as c:
            before = stats(c)["ops"]
            for _ in range(3):
                status, _ = self.d.api("GET", "/api/workers",
                                       cookie=self.cookie)
                self.assertEqual(status, 200)
            self.assertEqual(stats(c)["ops"]["workers"],
                             before["workers"] + 3)
            # Their in-process connections are gone once answered.
            wait_until(lambda: stats(c)["connections"] == 1,
                       what="only the test's connection left")

    def test_history(self):
        with self.d.client() as c:
            c.ok("make", chan="h", cap=5)
            c.ok("send", chan="h", value=1)
            c.ok("recv", chan="h")

            def seen():
                status, r = self.d.api("GET", "/api/history",
                                       cookie=self.cookie)
                self.assertEqual((status, r["interval_ms"]), (200, 1000))
                self.assertLessEqual(len(r["samples"]), 300)
                return (sum(x["sent"] for x in r["samples"]) >= 1 and
                        sum(x["received"] for x in r["samples"]) >= 1 and
                        sum(x["commits"] for x in r["samples"]) >= 1 and
                        r)
            r = wait_until(seen, what="the send in the history")
            x = r["samples"][-1]
            self.assertEqual(sorted(x), sorted(
                ["t", "sent", "received", "finished", "commits",
                 "commit_ms"]))
            ts = [x["t"] for x in r["samples"]]
            self.assertEqual(ts, sorted(ts))

    def test_live_sends_only_changes(self):
        with self.d.client() as c:
            c.ok("make", chan="live", cap=5)
            s = self.d.stream("/api/live?op=stat&chan=live", bearer=False,
                              cookie=self.cookie)
            try:
                self.assertEqual(s.status, 200)
                self.assertEqual(s.headers["Content-Type"],
                                 "text/event-stream")
                for k, v in SECURITY_HEADERS.items():
                    self.assertEqual(s.headers.get(k), v)
                name, r = s.event()
                self.assertEqual((name, r["len"]), ("reply", 0))
                # Two more runs of the op: nothing changed, nothing sent.
                n = stats(c)["ops"]["stat"]
                wait_until(lambda: stats(c)["ops"]["stat"] >= n + 2,
                           what="two more runs of the live op")
                c.ok("send", chan="live", value=1)
                name, r = s.event()
                self.assertEqual((name, r["len"]), ("reply", 1))
                c.ok("drop", chan="live")
                name, r = s.event()
                self.assertEqual((name, r["error"]["code"]),
                                 ("error", "not_found"))
                self.assertIsNone(s.event())
            finally:
                s.close()

    def test_live_history_and_bad_ops(self):
        s = self.d.stream("/api/live?op=history")
        try:
            name, r = s.event()
            self.assertEqual((name, r["interval_ms"]), ("reply", 1000))
            # The stats of the second come with it (no other request).
            self.assertIn("jobs", r["stats"])
            self.assertNotIn("ok", r["stats"])
            # A new sample each second: the reply changes.
            name, r2 = s.event()
            self.assertEqual(name, "reply")
            self.assertNotEqual(r, r2)
            self.assertGreater(r2["stats"]["ops"]["stats"],
                               r["stats"]["ops"]["stats"])
        finally:
            s.close()
        for q in ("op=cancel&job=1", "op=nope", "chan=x", "op=stats&op=x"):
            with self.subTest(q):
                status, r = self.d.api("GET", "/api/live?" + q, bearer=True)
                self.assertIn(status, (400, 404), r)

    def test_watch(self):
        with self.d.client() as c, tempfile.TemporaryDirectory() as tmp:
            go = os.path.join(tmp, "go")
            job = c.ok("submit", argv=[
                "sh", "-c", "echo hello; while [ ! -e %s ]; do sleep 0.05;"
                " done; echo bye" % go])["job"]
            s = self.d.stream("/api/watch?job=%d" % job)
            try:
                seen = []
                while True:
                    name, r = s.event()
                    seen.append(name)
                    self.assertNotIn("id", r)
                    if name == "output" and r["data"] == "hello\n":
                        break
                self.assertIn("state", seen)
                open(go, "w").close()
                while True:
                    ev = s.event()
                    self.assertIsNotNone(ev, "the stream ended before end")
                    name, r = ev
                    if name == "end":
                        break
                self.assertEqual(r["results"][0]["state"], "succeeded")
                self.assertIsNone(s.event())
            finally:
                s.close()
        s = self.d.stream("/api/watch?job=99999")
        try:
            name, r = s.event()
            self.assertEqual((name, r["error"]["code"]),
                             ("error", "not_found"))
        finally:
            s.close()

    def test_peer_leaves_mid_watch(self):
        with self.d.client() as c:
            job = c.ok("submit", argv=["sleep", "60"])["job"]
            s = self.d.stream("/api/watch?job=%d&output=false" % job)
            try:
                name, _ = s.event()
                self.assertEqual(name, "state")
                self.assertEqual(stats(c)["waiting"], 1)
            finally:
                s.close()
            wait_until(lambda: stats(c)["waiting"] == 0 and
                       stats(c)["connections"] == 1,
                       what="the watch abandoned, its connection closed")
            c.ok("cancel", job=job)

    def test_stream_bound(self):
        streams = []
        try:
            for _ in range(MAX_STREAMS):
                s = self.d.stream("/api/live?op=history")
                streams.append(s)
                self.assertEqual(s.event()[0], "reply")
            status, r = self.d.api("GET", "/api/live?op=history",
                                   bearer=True)
            self.assertEqual((status, r["error"]["code"]), (503, "limit"))
            # The listener still takes short requests and scrapes.
            status, r = self.d.api("GET", "/api/stats", bearer=True)
            self.assertEqual(status, 200)
            status, _, _ = self.d.request("GET", "/metrics", bearer=True)
            self.assertEqual(status, 200)
        finally:
            for s in streams:
                s.close()
        def one_more():
            s = self.d.stream("/api/live?op=history")
            s.close()
            return s.status == 200
        wait_until(one_more, what="a stream once the others are gone")


class ReadonlyTest(unittest.TestCase):

    def test_actions_refused(self):
        with Dash("--http-readonly") as d, d.client() as c:
            cookie, csrf = d.login()
            _, s = d.api("GET", "/api/session", cookie=cookie)
            self.assertTrue(s["readonly"])
            c.ok("make", chan="ro")
            for bearer in (False, True):
                status, r = d.api("POST", "/api/drop", {"chan": "ro"},
                                  cookie=None if bearer else cookie,
                                  csrf=None if bearer else csrf,
                                  bearer=bearer)
                self.assertEqual((status, r["error"]), (403, {
                    "code": "forbidden", "message":
                    "the dashboard is read-only (http-readonly)"}))
            c.ok("stat", chan="ro")
            status, r = d.api("GET", "/api/stat?chan=ro", cookie=cookie)
            self.assertEqual(status, 200)


class NoTokenTest(unittest.TestCase):

    def test_insecure_tcp_serves_without_login(self):
        # jqtest adds --insecure-tcp when there is no --token-file.
        with Dash(token=None) as d, d.client() as c:
            status, s = d.api("GET", "/api/session")
            self.assertEqual((s["auth"], s["authenticated"]), ("none", True))
            self.assertRegex(s["csrf"], HEX64)
            status, r = d.api("GET", "/api/stats")
            self.assertEqual(status, 200)
            c.ok("make", chan="nt")
            status, r = d.api("POST", "/api/drop", {"chan": "nt"})
            self.assertEqual(status, 403)
            status, r = d.api("POST", "/api/drop", {"chan": "nt"},
                              csrf=s["csrf"])
            self.assertEqual(status, 200)
            c.error("stat", "not_found", chan="nt")

    def test_insecure_tcp_loopback_names_only(self):
        """Without a token nothing but the Host guards the API: a page
        whose name an attacker's DNS points at 127.0.0.1 (DNS rebinding)
        must not read the CSRF secret or the replies."""
        with Dash(token=None) as d, d.client() as c:
            c.ok("make", chan="rb")
            for host in ("evil.example:%d" % d.port, "evil.example",
                         "127.0.0.1.evil.example", "10.0.0.1", "[::2]"):
                with self.subTest(host):
                    for method, path, body in (
                            ("GET", "/api/session", None),
                            ("GET", "/api/stat?chan=rb", None),
                            ("POST", "/api/drop", {"chan": "rb"})):
                        status, r = d.api(method, path, body,
                                          headers={"Host": host})
                        self.assertEqual((status, r["error"]["code"]),
                                         (403, "forbidden"), r)
                    c.ok("stat", chan="rb")
            for host in ("localhost:%d" % d.port, "LOCALHOST",
                         "127.0.0.1:%d" % d.port, "127.1.2.3",
                         "[::1]:%d" % d.port):
                with self.subTest(host):
                    status, s = d.api("GET", "/api/session",
                                      headers={"Host": host})
                    self.assertEqual((status, s["auth"]), (200, "none"))
                    status, r = d.api("GET", "/api/stat?chan=rb",
                                      headers={"Host": host})
                    self.assertEqual(status, 200, r)
        # With a token, the cookie and the token guard it, whatever Host.
        with Dash() as d:
            status, r = d.api("GET", "/api/stats", bearer=True,
                              headers={"Host": "evil.example"})
            self.assertEqual(status, 200, r)

    def test_no_token_no_api(self):
        tmp = tempfile.mkdtemp(prefix="jqd-dash-")
        try:
            with Dash(token=None, listen_args=[
                    "--unix", os.path.join(tmp, "s")]) as d:
                status, s = d.api("GET", "/api/session")
                self.assertEqual((status, s["auth"], s["authenticated"]),
                                 (200, "unavailable", False))
                for method, path in (("GET", "/api/stats"),
                                     ("POST", "/api/login")):
                    status, r = d.api(method, path, {"token": "x"})
                    self.assertEqual((status, r["error"]), (403, {
                        "code": "unauthorized", "message":
                        "this jqd has no token: the dashboard needs one "
                        "(token-file, PROTOCOL.md 16)"}))
                status, _, _ = d.request("GET", "/")
                self.assertEqual(status, 200)
        finally:
            shutil.rmtree(tmp, True)


class TokenReloadTest(unittest.TestCase):

    def test_reload_ends_sessions_and_streams(self):
        with Dash() as d:
            cookie, _ = d.login()
            s = d.stream("/api/live?op=stats", bearer=False, cookie=cookie)
            b = d.stream("/api/live?op=chans")
            try:
                self.assertEqual(s.event()[0], "reply")
                self.assertEqual(b.event()[0], "reply")
                with open(d.token_path, "w") as f:
                    f.write("another-token-456\n")
                d.server.proc.send_signal(signal.SIGHUP)
                # The session's stream says so, then ends (the page goes
                # to its login).
                name, r = s.event()
                self.assertEqual((name, r["error"]["code"]),
                                 ("error", "unauthorized"))
                self.assertIsNone(s.event())
                # A Bearer stream's connection was made with the old
                # token: it ends the same way.
                ev = b.event()
                while ev is not None and ev[0] == "reply":
                    ev = b.event()
                self.assertEqual((ev[0], ev[1]["error"]["code"]),
                                 ("error", "unauthorized"))
                self.assertIsNone(b.event())
            finally:
                s.close()
                b.close()
            status, _ = d.api("GET", "/api/stats", cookie=cookie)
            self.assertEqual(status, 401)
            status, _ = d.api("GET", "/api/stats", bearer=True)
            self.assertEqual(status, 401)
            status, _ = d.api("GET", "/api/stats",
                              bearer="another-token-456")
            self.assertEqual(status, 200)


class BigWatchTest(unittest.TestCase):

    def test_watch_of_much_output(self):
        """A watch whose snapshot is megabytes (a running job that wrote
        3 MB, --max-output 4M) comes out whole to a peer that reads, as
        the socket protocol's watch does: the bridge stops reading the
        snapshot while its peer is behind instead of piling it up past
        the stream's bound (which closed the stream with nothing sent)."""
        size = 3 * 1000 * 1000
        with Dash("--max-output", "4M") as d, d.client() as c, \
                tempfile.TemporaryDirectory() as tmp:
            go = os.path.join(tmp, "go")
            job = c.ok("submit", argv=[
                "sh", "-c", "head -c %d /dev/zero | tr '\\0' a; "
                "while [ ! -e %s ]; do sleep 0.05; done" % (size, go)])["job"]
            wait_until(lambda: len(c.ok("job", job=job)["stdout"]) == size,
                       what="the job's output written")
            s = d.stream("/api/watch?job=%d" % job)
            try:
                got = 0
                while True:
                    ev = s.event()
                    self.assertIsNotNone(ev, "the stream ended early")
                    name, r = ev
                    if name == "output":
                        got += len(r["data"])
                    if name == "synced":
                        break
                self.assertEqual(got, size)
                open(go, "w").close()
                while name != "end":
                    ev = s.event()
                    self.assertIsNotNone(ev, "the stream ended before end")
                    name, r = ev
                self.assertEqual(len(r["results"][0]["stdout"]), size)
            finally:
                s.close()
                # Whatever failed: the job ends (it would outlive jqd).
                open(go, "w").close()


class StopTest(unittest.TestCase):

    def test_streams_end_when_jqd_stops(self):
        """SIGTERM with streams open: each ends (an error event
        shutting_down if it gets one out), and jqd exits cleanly (the
        Server's check: status, sanitizers)."""
        with Dash() as d:
            streams = [d.stream("/api/live?op=" + op)
                       for op in ("stats", "history")]
            try:
                for s in streams:
                    self.assertEqual(s.event()[0], "reply")
                d.server.sigterm()

                def event(s):
                    # A stream may be cut as jqd exits: that ends it too.
                    try:
                        return s.event()
                    except (http.client.IncompleteRead, ConnectionError):
                        return None
                for s in streams:
                    last = ev = event(s)
                    while ev is not None:
                        last, ev = ev, event(s)
                    if last is not None and last[0] != "reply":
                        self.assertEqual(
                            (last[0], last[1]["error"]["code"]),
                            ("error", "shutting_down"))
            finally:
                for s in streams:
                    s.close()


class TlsTest(unittest.TestCase):

    def test_secure_cookie(self):
        with Dash(tls=jqtest.tls_files()) as d:
            status, h, _ = d.request("POST", "/api/login", {"token": TOKEN})
            self.assertEqual(status, 200)
            self.assertIn("; Secure", h["Set-Cookie"])
            cookie = h["Set-Cookie"].split(";")[0]
            _, s = d.api("GET", "/api/session", cookie=cookie)
            self.assertEqual((s["tls"], s["authenticated"]), (True, True))
            w = d.stream("/api/live?op=stats")
            try:
                self.assertEqual(w.event()[0], "reply")
            finally:
                w.close()


if __name__ == "__main__":
    jqtest.main()
