"""Who may use jqd (doc/jqd.8 ACCESS, PROTOCOL.md 8 and 9.2).

Whoever can submit a job runs commands as jqd's user, so: TCP clients
always need the token (loopback is no identity), the token is made at
first start where jq-client finds it, Unix peers are let in by their
credentials (SO_PEERCRED) only, and connections that have not
authenticated are few and small.

The tests that act as another user run a client as uid 65534 (nobody) and
need root; they are skipped otherwise."""

import json
import os
import pwd
import grp
import shutil
import stat
import subprocess
import tempfile
import unittest

import jqtest
from jqtest import (Client, Server, rss_kib, under_asan, under_tsan,
                    wait_until)

NOBODY = 65534
# A client as another user: the interpreter under /usr, which every user
# may run (a per-user Python may live in root's home).
PEER = r"""
import json, socket, sys
kind, addr, frames = sys.argv[1], sys.argv[2], sys.argv[3:]
if kind == "tcp":
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=60)
else:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(addr)
try:
    s.sendall("".join(f + "\n" for f in frames).encode())
except BrokenPipeError:
    pass                # refused at once: the notice is still to be read
f = s.makefile("rb")
out = []
for _ in frames:
    line = f.readline()
    if not line:
        out.append("EOF")
        break
    out.append(line.decode().strip())
    if json.loads(line).get("id") is None:   # a notice: then EOF
        out.append("EOF" if not f.readline() else "MORE")
        break
print(json.dumps(out))
"""
SYSTEM_PYTHON = "/usr/bin/python3"


def tmpdir(case, mode=0o700):
    d = tempfile.mkdtemp(prefix="jqd-access-")
    os.chmod(d, mode)
    case.addCleanup(shutil.rmtree, d, True)
    return d


def as_other_user(case, *frames, tcp=None, unix=None, groups=()):
    """Replies (decoded; "EOF" once the server closed) to frames sent by
    a client running as nobody."""
    addr = tcp if tcp is not None else unix
    p = subprocess.run(
        [SYSTEM_PYTHON, "-c", PEER, "tcp" if tcp else "unix", addr]
        + [json.dumps(f) for f in frames],
        user=NOBODY, group=NOBODY, extra_groups=list(groups),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    case.assertEqual(p.returncode, 0, p.stderr.decode())
    return [l if l in ("EOF", "MORE") else json.loads(l)
            for l in json.loads(p.stdout)]


SUBMIT_ID = {"id": 1, "op": "submit", "argv": ["id"]}


@unittest.skipUnless(os.geteuid() == 0, "acts as another user: needs root")
@unittest.skipUnless(os.access(SYSTEM_PYTHON, os.X_OK), SYSTEM_PYTHON)
class OtherUserTest(unittest.TestCase):
    """The escalation of issue 21: another account submits a job."""

    def serve(self, *args, sock_mode=0o666, unix_group=None):
        d = tmpdir(self, 0o755)          # others may reach the socket...
        path = os.path.join(d, "jqd.sock")
        extra = ["--unix-group", unix_group] if unix_group else []
        server = Server(*(list(args) + extra), listen_args=[
            "--listen", "127.0.0.1:0", "--unix", path],
            env={"XDG_CONFIG_HOME": d})
        server.start()
        self.addCleanup(server.check)
        os.chmod(path, sock_mode)        # ...and, as a mistake, connect
        return server

    def assertNoJobs(self, server):
        with Client(server, unix=True) as c:
            self.assertEqual(c.ok("jobs")["jobs"], [])

    def test_tcp_submit_as_other_user_refused(self):
        server = self.serve()
        replies = as_other_user(self, {"id": 0, "op": "hello"}, SUBMIT_ID,
                                tcp="127.0.0.1:%d" % server.port)
        self.assertIs(replies[0]["auth_required"], True, replies)
        self.assertEqual(replies[1]["error"]["code"], "unauthorized",
                         replies)
        # A guess closes the connection; nothing ran.
        replies = as_other_user(self, {"id": 1, "op": "auth",
                                       "token": "guess"}, SUBMIT_ID,
                                tcp="127.0.0.1:%d" % server.port)
        self.assertEqual(replies[0]["error"]["code"], "unauthorized")
        self.assertEqual(replies[1:], ["EOF"], replies)
        self.assertNoJobs(server)

    def test_unix_socket_open_to_all_still_checks_the_peer(self):
        # With a token, another uid must authenticate like a TCP client.
        server = self.serve()
        replies = as_other_user(self, {"id": 0, "op": "hello"}, SUBMIT_ID,
                                unix=server.unix_path)
        self.assertIs(replies[0]["auth_required"], True, replies)
        self.assertEqual(replies[1]["error"]["code"], "unauthorized")
        self.assertNoJobs(server)

    def test_unix_peer_refused_at_once_without_token(self):
        d = tmpdir(self, 0o755)
        path = os.path.join(d, "jqd.sock")
        server = Server(listen_args=["--unix", path])
        server.start()
        self.addCleanup(server.check)
        os.chmod(path, 0o666)
        replies = as_other_user(self, SUBMIT_ID, unix=path)
        self.assertIsNone(replies[0]["id"], replies)
        self.assertEqual(replies[0]["error"]["code"], "unauthorized")
        self.assertIn("uid %d" % NOBODY, replies[0]["error"]["message"])
        self.assertEqual(replies[1:], ["EOF"], replies)
        server.wait_log(r"refusing a connection: uid %d" % NOBODY)
        self.assertNoJobs(server)

    def test_allow_user_and_allow_group(self):
        for args in (("--allow-user", pwd.getpwuid(NOBODY).pw_name),
                     ("--allow-user", str(NOBODY)),
                     ("--allow-group", grp.getgrgid(NOBODY).gr_name)):
            with self.subTest(args=args):
                server = self.serve(*args)
                replies = as_other_user(self, {"id": 0, "op": "hello"},
                                        {"id": 1, "op": "ping"},
                                        unix=server.unix_path)
                self.assertIs(replies[0]["auth_required"], False)
                self.assertEqual(replies[1], {"id": 1, "ok": True})
                # Still a token for TCP.
                replies = as_other_user(self, {"id": 1, "op": "ping"},
                                        tcp="127.0.0.1:%d" % server.port)
                self.assertEqual(replies[0]["error"]["code"],
                                 "unauthorized")
                server.check()

    def test_socket_group_admits_its_members(self):
        group = grp.getgrgid(NOBODY).gr_name
        # Mode 0660, group nogroup: nobody's primary group.
        server = self.serve(sock_mode=0o660, unix_group=group)
        replies = as_other_user(self, {"id": 1, "op": "ping"},
                                unix=server.unix_path)
        self.assertEqual(replies[0], {"id": 1, "ok": True})
        # A supplementary group counts too (SO_PEERGROUPS).
        other = [g for g in grp.getgrall()
                 if g.gr_gid not in (0, NOBODY)][0]
        server = self.serve(sock_mode=0o660, unix_group=other.gr_name)
        replies = as_other_user(self, {"id": 1, "op": "ping"},
                                unix=server.unix_path,
                                groups=[other.gr_gid])
        self.assertEqual(replies[0], {"id": 1, "ok": True})
        # Also past the 64 groups jqd reads without allocating (and the
        # 256 it used to read, ignoring the rest).
        many = [g for g in range(60000, 60300) if g != other.gr_gid]
        replies = as_other_user(self, {"id": 1, "op": "ping"},
                                unix=server.unix_path,
                                groups=many + [other.gr_gid])
        self.assertEqual(replies[0], {"id": 1, "ok": True})
        self.assertNoJobs(server)

    def jqd_as(self, env, *args):
        """Run jqd as nobody; its log and process."""
        jqd = os.environ["JQD"]
        log = os.path.join(env["XDG_RUNTIME_DIR"], "log")
        full = dict(os.environ, **env)
        full.pop("NOTIFY_SOCKET", None)
        with open(log, "wb") as f:
            try:
                proc = subprocess.Popen(
                    [jqd] + list(args), stdin=subprocess.DEVNULL, stderr=f,
                    cwd=env["XDG_RUNTIME_DIR"], env=full, user=NOBODY,
                    group=NOBODY, extra_groups=[],
                    preexec_fn=jqtest._child_setup)
            except PermissionError:
                self.skipTest("%s is not executable by uid %d" % (jqd,
                                                                   NOBODY))

        def cleanup():
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.addCleanup(cleanup)
        return proc, log

    def test_default_listener_is_the_users_socket(self):
        run = tmpdir(self)
        os.chown(run, NOBODY, NOBODY)
        proc, log = self.jqd_as({"XDG_RUNTIME_DIR": run}, "--db",
                                os.path.join(run, "jqd.db"))

        def text():
            with open(log) as f:
                return f.read()
        wait_until(lambda: "info: ready" in text() or proc.poll() is not None,
                   what="jqd as nobody to start")
        if proc.poll() is not None and "Permission denied" in text():
            self.skipTest("jqd cannot run as uid %d here" % NOBODY)
        self.assertIn("listening on unix %s/jqd/jqd.sock" % run, text())
        self.assertNotIn("listening on tcp", text())
        st = os.stat(os.path.join(run, "jqd"))
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)),
                         (NOBODY, 0o700))
        replies = as_other_user(self, {"id": 1, "op": "ping"},
                                unix=os.path.join(run, "jqd", "jqd.sock"))
        self.assertEqual(replies, [{"id": 1, "ok": True}])
        proc.terminate()
        self.assertEqual(proc.wait(60), 0, text())

    def test_socket_directory_of_someone_else_refused(self):
        run = tmpdir(self)
        os.chown(run, NOBODY, NOBODY)
        os.mkdir(os.path.join(run, "jqd"), 0o755)    # root's, not nobody's
        proc, log = self.jqd_as({"XDG_RUNTIME_DIR": run}, "--db",
                                os.path.join(run, "jqd.db"))
        self.assertEqual(proc.wait(60), 1)
        with open(log) as f:
            self.assertIn("mode 0700", f.read())


class TokenTest(unittest.TestCase):
    """The token: made at first start, found by jq-client, bounded."""

    def test_tcp_listener_makes_a_token_jq_client_finds(self):
        home = tmpdir(self)
        env = {"XDG_CONFIG_HOME": home}
        path = os.path.join(home, "jqd", "token")
        with Server(listen_args=["--listen", "127.0.0.1:0"],
                    env=env) as server:
            server.wait_log(r"made it with a new token")
            st = os.stat(path)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
            self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(path))
                                          .st_mode), 0o700)
            with open(path) as f:
                token = f.read()
            self.assertRegex(token, r"^[0-9a-f]{64}\n$")
            with Client(server) as c:
                self.assertIs(c.ok("hello")["auth_required"], True)
                c.error("ping", "unauthorized")
                c.ok("auth", token=token.strip())
                c.ok("ping")
            cli = os.environ.get("JQ_CLIENT")
            if cli:
                addr = "127.0.0.1:%d" % server.port
                ok = subprocess.run([cli, "-H", addr, "ping"],
                                    env=dict(os.environ, **env),
                                    capture_output=True, timeout=60)
                self.assertEqual(ok.returncode, 0, ok.stderr)
                other = tmpdir(self)
                no = subprocess.run([cli, "-H", addr, "ping"],
                                    env=dict(os.environ,
                                             XDG_CONFIG_HOME=other),
                                    capture_output=True, timeout=60)
                self.assertEqual(no.returncode, 1, no.stderr)
                self.assertIn(b"unauthorized", no.stderr)
        # A restart keeps the token.
        with Server(listen_args=["--listen", "127.0.0.1:0"],
                    env=env) as server:
            with open(path) as f:
                self.assertEqual(f.read(), token)
            self.assertFalse([l for l in server.log_lines
                              if "new token" in l])

    def start_with_token(self, content, mode=0o600):
        d = tmpdir(self)
        path = os.path.join(d, "token")
        with open(path, "wb") as f:
            f.write(content)
        os.chmod(path, mode)
        return Server("--token-file", path)

    def test_longest_token_with_newline_accepted(self):
        token = "t" * 4095
        with self.start_with_token(token.encode() + b"\n") as server:
            with Client(server) as c:
                c.ok("auth", token=token)
                c.ok("ping")

    def test_bad_token_files_refused(self):
        for content, needle in ((b"t" * 4096 + b"\n", "longer than 4095"),
                                (b"abc\0def\n", "NUL"),
                                (b" \n", "empty")):
            with self.subTest(needle=needle):
                server = self.start_with_token(content)
                with self.assertRaises(jqtest.ServerError):
                    server.start()
                self.assertIn(needle, server.stderr_text())

    def test_token_readable_by_all_warned(self):
        with self.start_with_token(b"s3cret\n", mode=0o644) as server:
            server.wait_log(r"warn: token file .* every user")


def token_server(test, *args):
    """A jqd whose TCP clients must send the token "tok"."""
    d = tmpdir(test)
    path = os.path.join(d, "token")
    with open(path, "w") as f:
        f.write("tok\n")
    server = Server("--token-file", path, *args)
    server.start()
    test.addCleanup(server.check)
    return server


class PreAuthTest(unittest.TestCase):
    """Connections before auth: few, and small (issue 21, item 7)."""

    def connect(self, server, unix=False):
        c = Client(server, unix=unix)
        self.addCleanup(c.close)
        return c

    def test_small_frames_until_auth(self):
        server = token_server(self)
        c = self.connect(server)
        pad = "x" * (40 * 1024)
        c.send_raw(json.dumps({"id": 1, "op": "ping", "pad": pad}).encode()
                   + b"\n")
        r = c.read_reply()
        self.assertEqual(r["error"]["code"], "frame_too_large", r)
        self.assertIn("before auth", r["error"]["message"])
        c.ok("auth", token="tok")
        c.send_raw(json.dumps({"id": 2, "op": "ping",
                               "pad": pad * 10}).encode() + b"\n")
        self.assertEqual(c.read_reply(), {"id": 2, "ok": True})

    def test_unauthenticated_connections_bounded(self):
        server = token_server(self, "--max-unauthenticated", "3")
        waiting = [self.connect(server) for _ in range(3)]
        for c in waiting:
            c.ok("hello")                       # accepted, not authenticated
        extra = self.connect(server)
        r = json.loads(extra.read_line())
        self.assertEqual((r["id"], r["error"]["code"]), (None, "limit"), r)
        self.assertIn("max_unauthenticated", r["error"]["message"])
        self.assertEqual(extra.expect_eof(), [])
        # Peers let in by their credentials are not counted, nor kept out.
        self.connect(server, unix=True).ok("ping")
        # One authenticates: room for one more.
        waiting[0].ok("auth", token="tok")
        late = self.connect(server)
        late.ok("hello")
        late.ok("auth", token="tok")
        late.ok("ping")

    def test_unauthenticated_peers_hold_little_memory(self):
        # 120 peers each send nearly max_frame (1 MiB) without a newline:
        # before auth jqd keeps 32 KiB of each and says frame_too_large
        # at once, where it used to hold the whole megabyte.
        server = token_server(self)
        before = rss_kib(server.proc.pid)
        conns = [self.connect(server) for _ in range(120)]
        for c in conns:
            c.send_raw(b"x" * (1024 * 1024 - 16))
        for c in conns:
            r = c.read_reply()
            self.assertEqual(r["error"]["code"], "frame_too_large", r)
        pid = server.proc.pid
        grown = rss_kib(pid) - before
        if not under_asan(pid) and not under_tsan(pid):
            self.assertLess(grown, 40 * 1024, "RSS grew by %d KiB" % grown)


if __name__ == "__main__":
    jqtest.main(need_client=False)
