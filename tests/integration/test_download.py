"""examples/parallel-download end to end: a local HTTP server, a real jqd,
the script with jq-client from PATH.

The HTTP server (127.0.0.1, port 0, a thread) serves files of random
bytes with Content-Length, one with chunked encoding (no length), and
"slow" files trickled at 1 KiB per 0.2 s so that a download outlives any
short deadline.  We check what lands in the output directory (sha256),
what jqd recorded for each job (state, progress), the script's exit
status, and that cancelling the group -- from outside, or by the script
itself on Ctrl-C -- stops every download, curl included, and leaves no
file behind.  Skipped (77) when neither curl nor wget is installed in
the PATH that jqd gives its jobs.
"""

import hashlib
import http.server
import os
import signal
import subprocess
import shutil
import sys
import tempfile
import threading

import jqtest
from jqtest import ServerTestCase, main, wait_until

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                      "examples", "parallel-download")
JOB_PATH = ("/usr/local/bin", "/usr/bin", "/bin")   # PATH of jqd's jobs
SCRIPT_TIMEOUT_S = 120 * getattr(jqtest, "TIMEOUT_SCALE", 1)
SLOW_SIZE = 200 * 1024      # 40 s at 1 KiB per 0.2 s
SLOW_STEP = 1024
SLOW_PAUSE_S = 0.2


def have_tool(name):
    return any(os.access(os.path.join(d, name), os.X_OK) for d in JOB_PATH)


# The download tool the jobs use: curl when there is one (the script's
# choice), else wget.
TOOL = "curl" if have_tool("curl") else "wget"


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def processes_of(program, word):
    """Pids of the processes running program (argv[0]'s base name) with
    an argument containing word."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        argv = [a.decode("utf-8", "replace") for a in argv]
        if (argv and os.path.basename(argv[0]) == program
                and any(word in a for a in argv[1:])):
            pids.append(int(d))
    return pids


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        srv = self.server
        if path.startswith("/slow/"):
            self.send_slow()
        elif path.startswith("/chunked/") and path in srv.files:
            self.send_chunked(srv.files[path])
        elif path in srv.files:
            body = srv.files[path]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def send_slow(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(SLOW_SIZE))
        self.end_headers()
        sent = 0
        try:
            while sent < SLOW_SIZE and not self.server.stopping.is_set():
                self.wfile.write(b"s" * SLOW_STEP)
                self.wfile.flush()
                sent += SLOW_STEP
                self.server.stopping.wait(SLOW_PAUSE_S)   # the trickle
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def send_chunked(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(0, len(body), 16384):
            chunk = body[i:i + 16384]
            self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")


class HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files = files
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.server_address[1], path)

    def stop(self):
        self.stopping.set()
        self.shutdown()
        self.server_close()


class DownloadTest(ServerTestCase):
    server_args = ("--workers", "8", "--kill-grace", "2s")

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="jqd-dl-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.outdir = os.path.join(self.tmp, "out")

    def http(self, files):
        srv = HttpServer(files)
        self.addCleanup(srv.stop)
        return srv

    def script_env(self):
        """jq-client found through PATH; the server through JQ_ADDR."""
        client = os.environ["JQ_CLIENT"]
        env = {k: v for k, v in os.environ.items()
               if k not in ("JQ_ADDR", "JQ_TOKEN", "JQ_JOB_ID", "JQ_CLIENT")}
        env["PATH"] = os.path.dirname(client) + os.pathsep + env.get(
            "PATH", os.defpath)
        if os.path.basename(client) != "jq-client":
            env["JQ_CLIENT"] = client
        env["JQ_ADDR"] = self.server.addr
        return env

    def script(self, *args):
        return ["sh", SCRIPT] + [str(a) for a in args]

    def group_jobs(self, group):
        return {j["name"]: j for j in
                self.ctl.ok("jobs", group=group)["jobs"]}

    def test_downloads_and_deadline(self):
        files = {"/f/alpha.bin": os.urandom(300 * 1024),
                 "/f/beta.dat": os.urandom(200 * 1024 + 17),
                 "/a/data.tar.gz": os.urandom(100 * 1024),
                 "/b/data.tar.gz": os.urandom(120 * 1024),
                 "/f/gamma.bin": os.urandom(64 * 1024),
                 "/f/with%20space.bin": os.urandom(10 * 1024),
                 "/chunked/delta.bin": os.urandom(256 * 1024 + 5)}
        srv = self.http(files)
        # name -> (URL, content); the slow one is expected nowhere.
        want = {"alpha.bin": (srv.url("/f/alpha.bin"), files["/f/alpha.bin"]),
                "beta.dat": (srv.url("/f/beta.dat"), files["/f/beta.dat"]),
                "data.tar.gz": (srv.url("/a/data.tar.gz"),
                                files["/a/data.tar.gz"]),
                "data-1.tar.gz": (srv.url("/b/data.tar.gz"),
                                  files["/b/data.tar.gz"]),
                "gamma.bin": (srv.url("/f/gamma.bin?x=1&y=2"),
                              files["/f/gamma.bin"]),
                "delta.bin": (srv.url("/chunked/delta.bin"),
                              files["/chunked/delta.bin"]),
                # Sent as %20; the name has "_" for the space.
                "with_space.bin": (srv.url("/f/with space.bin"),
                                   files["/f/with%20space.bin"])}
        slow_url = srv.url("/slow/slow.bin")
        urls = [want[n][0] for n in ("alpha.bin", "beta.dat", "data.tar.gz",
                                     "data-1.tar.gz", "gamma.bin",
                                     "with_space.bin")]
        url_file = os.path.join(self.tmp, "urls.txt")
        with open(url_file, "w") as f:
            f.write("# the list\n\n" + "\n".join("  %s  " % u for u in urls)
                    + "\n" + slow_url + "\n")
        group = self.name("dl")
        p = subprocess.run(self.script("-o", self.outdir, "--timeout", "8s",
                                       "--group", group, url_file,
                                       want["delta.bin"][0]),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=self.script_env(),
                           timeout=SCRIPT_TIMEOUT_S)
        out, err = p.stdout.decode(), p.stderr.decode()
        self.assertEqual(p.returncode, 1, "stdout: %s\nstderr: %s"
                         % (out, err))

        # Every fast file intact under its name; nothing else left over
        # (no slow.bin, no .part or .headers files).
        self.assertEqual(sorted(os.listdir(self.outdir)), sorted(want))
        for name, (url, body) in want.items():
            with open(os.path.join(self.outdir, name), "rb") as f:
                got = f.read()
            self.assertEqual(hashlib.sha256(got).hexdigest(),
                             hashlib.sha256(body).hexdigest(),
                             "%s (%d bytes, want %d)"
                             % (name, len(got), len(body)))

        # What jqd recorded: one job per URL, named by it.
        jobs = self.group_jobs(group)
        self.assertEqual(sorted(jobs), sorted([u for u, _ in want.values()]
                                              + [slow_url]))
        for name, (url, body) in want.items():
            j = jobs[url]
            self.assertEqual((j["state"], j["exit_code"]), ("succeeded", 0),
                             j)
            self.assertEqual(j["progress"], {"done": len(body),
                                             "total": len(body)}, j)
        slow = jobs[slow_url]
        self.assertEqual((slow["state"], slow["error"]),
                         ("deadline_exceeded", "deadline exceeded"), slow)
        self.assertEqual(slow["progress"]["total"], SLOW_SIZE, slow)
        self.assertLess(slow["progress"]["done"], SLOW_SIZE, slow)

        self.assertIn("8 downloads in group %s" % group, err)
        self.assertIn("8/8 jobs  0 running  1 failed", err)
        self.assertIn("not all downloaded", err)
        lines = {l.split()[0]: l for l in out.splitlines()}
        self.assertEqual(len(lines), 8, out)
        self.assertIn("deadline_exceeded", lines[str(slow["job"])])

    def start_slow_downloads(self, n):
        """Run the script on n slow URLs in the background until each job
        is receiving bytes.  Returns (proc, group, urls, tool pids, what
        the tool's URL argument contains)."""
        srv = self.http({})
        prefix = "127.0.0.1:%d/slow/" % srv.server_address[1]
        urls = [srv.url("/slow/s%d.bin" % i) for i in range(n)]
        group = self.name("dl")
        # A shell cannot trap a signal ignored when it started, and a
        # background job of a non-interactive shell (make check run with
        # `&`, as .ci/run does) starts with SIGINT ignored: give the script
        # the default back (a Python handler becomes SIG_DFL at exec).
        if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        proc = subprocess.Popen(self.script("-o", self.outdir, "--group",
                                            group, *urls),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=self.script_env())

        def reap():
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        self.addCleanup(reap)
        self.addCleanup(self.ctl.call, "cancel", group=group)

        def downloading():
            jobs = self.group_jobs(group)
            return len(jobs) == n and all(
                j["state"] == "running" and j["progress"] and
                j["progress"]["done"] > 0 for j in jobs.values())
        wait_until(downloading, timeout=60,
                   what="%d downloads receiving bytes" % n)
        pids = wait_until(
            lambda: (lambda p: p if len(p) >= n else None)(
                processes_of(TOOL, prefix)),
            what="%d %s processes" % (n, TOOL))
        self.assertEqual(len(pids), n, pids)
        return proc, group, urls, pids, prefix

    def assertStopped(self, group, urls, pids, prefix):
        """Every job canceled, no download process left, no file left."""
        results = self.ctl.ok("wait", group=group, timeout_ms=60000,
                              reply_timeout=90)["results"]
        self.assertEqual({r["name"]: r["state"] for r in results},
                         {u: "canceled" for u in urls})
        wait_until(lambda: not any(pid_alive(p) for p in pids), timeout=10,
                   what="%s processes %r gone" % (TOOL, pids))
        self.assertEqual(processes_of(TOOL, prefix), [])
        self.assertEqual(os.listdir(self.outdir), [])

    def test_cancel_group_stops_downloads(self):
        proc, group, urls, pids, prefix = self.start_slow_downloads(3)
        r = self.ctl.ok("cancel", group=group)
        self.assertEqual(r["canceled"], 3)
        out, err = proc.communicate(timeout=SCRIPT_TIMEOUT_S)
        self.assertEqual(proc.returncode, 1, "stdout: %s\nstderr: %s"
                         % (out.decode(), err.decode()))
        self.assertIn("3/3 jobs  0 running  3 failed", err.decode())
        self.assertStopped(group, urls, pids, prefix)

    def test_interrupt_cancels_group(self):
        # Ctrl-C (SIGINT) once the downloads run: the script cancels the
        # group, stops its own waiter and exits 130.
        proc, group, urls, pids, prefix = self.start_slow_downloads(2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=SCRIPT_TIMEOUT_S)
        self.assertEqual(proc.returncode, 130, "stdout: %s\nstderr: %s"
                         % (out.decode(), err.decode()))
        self.assertIn("canceled group %s" % group, err.decode())
        # The waiter was stopped before the cancel, so it never printed
        # the results (communicate() read until every writer was gone).
        self.assertEqual(out, b"")
        self.assertStopped(group, urls, pids, prefix)
        wait_until(lambda: not processes_of("jq-client", group), timeout=10,
                   what="no jq-client waiting for the group")


if __name__ == "__main__":
    if not (have_tool("curl") or have_tool("wget")):
        sys.stderr.write("neither curl nor wget in %s; skipping\n"
                         % ":".join(JOB_PATH))
        sys.exit(77)
    main(need_client=True)
