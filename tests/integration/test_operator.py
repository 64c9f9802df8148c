"""jqd as an operator sees it (jqd(8) DIAGNOSTICS, SIGNALS, --db,
--metrics): the line each finished job leaves in the log, the time at the
start of each line unless stderr is journald's, a second SIGINT that stops
now, one jqd per SQLite file, no database left by a failed start, and
/metrics' build info, finished-job counters, per-channel cap and
/healthz.
"""

import os
import re
import signal
import socket
import subprocess
import time

import jqtest
from jqtest import Client, ServerTestCase, wait_until
from test_service import ServiceCase, http_get, parse_prometheus, sample

BOUND_S = 30 * jqtest.TIMEOUT_SCALE
WAIT_MS = int(BOUND_S * 1000)

# What follows "job N (" in a final line: the job, the outcome, the
# time, the attempt (job-log.c).
DURATION_RE = r"(\d+ms|\d+\.\ds|\d+m\d\ds|\d+h\d\dm|\d+d\d\dh)"


def job_line(job, what, outcome, attempt, ran=True):
    return (r"^info: job %d \(%s\) %s %s%s%s, attempt %s$"
            % (job, what, outcome, "in " if ran else "", DURATION_RE,
               "" if ran else " after submission", attempt))


def wait_job(c, job):
    r = c.ok("wait", jobs=[job], timeout_ms=WAIT_MS,
             reply_timeout=WAIT_MS / 1000 + 30)
    return r["results"][0]


class JobLogTest(ServerTestCase):
    """One info line per job that reaches a final state."""

    server_args = ("--workers", "2", "--retry-delay", "10ms")

    def finish(self, argv, **fields):
        c = self.ctl
        job = c.ok("submit", argv=argv, **fields)["job"]
        return job, wait_job(c, job)

    def lines_of(self, job):
        rx = re.compile(r"^info: job %d \(" % job)
        return [l for l in self.server.log_lines if rx.search(l)]

    def test_succeeded_with_a_name(self):
        job, r = self.finish(["true"], name='re"size')
        self.assertEqual(r["state"], "succeeded", r)
        self.server.wait_log(job_line(job, r'name "re\\"size"', "succeeded",
                                      1))

    def test_failed_with_retries_logs_the_last_attempt_only(self):
        job, r = self.finish(["sh", "-c", "exit 3"], retries=2)
        self.assertEqual((r["state"], r["attempt"]), ("failed", 3), r)
        self.server.wait_log(job_line(job, re.escape("sh -c 'exit 3'"),
                                      "failed: exit 3", "3 of 3"))
        self.assertEqual(len(self.lines_of(job)), 1, self.lines_of(job))

    def test_signal_error_and_run_timeout(self):
        job, r = self.finish(["sh", "-c", "kill -9 $$"])
        self.server.wait_log(job_line(job, re.escape("sh -c 'kill -9 $$'"),
                                      "failed: signal 9", 1))
        job, r = self.finish(["/nonexistent/prog", "a b"])
        self.assertEqual(r["state"], "failed", r)
        self.server.wait_log(job_line(
            job, re.escape("/nonexistent/prog 'a b'"),
            re.escape("failed: " + r["error"]), 1))
        job, r = self.finish(["sleep", "60"], run_timeout_ms=50)
        self.assertEqual(r["state"], "deadline_exceeded", r)
        self.server.wait_log(job_line(job, "sleep 60",
                                      "deadline_exceeded: run_timeout", 1))

    def test_canceled_before_it_started(self):
        c = self.ctl
        job = c.ok("submit", argv=["true"], delay_ms=600000)["job"]
        self.assertEqual(c.ok("cancel", job=job)["canceled"], 1)
        self.server.wait_log(job_line(job, "true", "canceled", 1, ran=False))

    def test_long_and_odd_argv_stays_one_short_line(self):
        argv = ["printf", "%s\n", "it's", "a\tb\nc"] + ["x" * 30] * 5
        job, r = self.finish(argv)
        self.assertEqual(r["state"], "succeeded", r)
        m = self.server.wait_log(r"^info: job %d \((.*)\) succeeded in "
                                 % job)
        what = m.group(1)
        self.assertTrue(what.startswith(
            r"""printf $'%s\x0a' 'it'\''s' $'a\x09b\x0ac' xxx"""), what)
        self.assertTrue(what.endswith("..."), what)
        self.assertLessEqual(len(what.encode()), 80 + 3, what)
        self.assertEqual(len(self.lines_of(job)), 1)

    def test_lines_start_with_the_local_time(self):
        raw = self.server.raw_log_lines
        self.assertTrue(raw)
        for line in raw:
            self.assertRegex(line, jqtest.LOG_TIME_RE, line)


class LogFormatTest(ServiceCase):
    """Under journald (JOURNAL_STREAM names stderr) lines have no time."""

    def failed_start_stderr(self, env):
        d = self.tmpdir()
        err_path = os.path.join(d, "err")
        with open(err_path, "wb") as err:
            st = os.fstat(err.fileno())
            full = dict(os.environ)
            full.update({k: v % {"dev": st.st_dev, "ino": st.st_ino}
                         for k, v in env.items()})
            # A non-loopback metrics address without a token: refused.
            r = subprocess.run(
                [os.environ["JQD"], "--db", os.path.join(d, "j.db"),
                 "--unix", os.path.join(d, "s"),
                 "--metrics", "192.0.2.1:9"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err, env=full, timeout=BOUND_S)
        self.assertEqual(r.returncode, 1)
        with open(err_path) as f:
            return f.read().splitlines()

    def test_journald_stream_gets_no_time(self):
        lines = self.failed_start_stderr(
            {"JOURNAL_STREAM": "%(dev)d:%(ino)d"})
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, r"^(info|warn|error): ", line)

    def test_other_stream_gets_local_time(self):
        lines = self.failed_start_stderr(
            {"JOURNAL_STREAM": "%(dev)d:1", "TZ": "UTC-5:30"})
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, jqtest.LOG_TIME_RE, line)
            self.assertRegex(line, r"^\S+\+05:30 (info|warn|error): ", line)


class SecondSignalTest(ServiceCase):

    def test_second_sigint_stops_now_and_requeues(self):
        d = self.tmpdir()
        args = ("--workers", "2", "--shutdown-grace", "10m",
                "--kill-grace", "10m")
        first = self.serve(*args, state_dir=d)
        c = Client(first)
        job = c.ok("submit", argv=["sleep", "600"])["job"]
        wait_until(lambda: c.ok("job", job=job)["state"] == "running",
                   what="the job to run")
        c.close()

        mark = len(first.log_lines)
        t0 = time.monotonic()
        first.sigterm(signal.SIGINT)
        first.wait_log(r"^info: SIGINT: stopping; waiting up to 10m00s for "
                       r"1 running job; send SIGINT again to stop now$",
                       start=mark)
        self.assertTrue(first.alive(), "jqd did not wait for its job")
        first.sigterm(signal.SIGINT)
        first.wait_log(r"^info: SIGINT again: not waiting any longer$",
                       start=mark)
        first.wait_log(r"^info: stopping 1 running job; they will run "
                       r"again$", start=mark)
        # sleep dies of SIGTERM at once; the 10 minute kill-grace is moot.
        self.assertEqual(first.proc.wait(BOUND_S), 0, first.stderr_text())
        self.assertLess(time.monotonic() - t0, BOUND_S)
        first.check()
        self.assertFalse([l for l in first.log_lines
                          if re.search(r"info: job %d \(" % job, l)],
                         "a job stopped by the signal is not final")

        second = self.serve(*args, state_dir=d)
        c = self.client(second)
        r = c.ok("job", job=job)
        self.assertIn(r["state"], ("queued", "running"), r)
        self.assertEqual(r["attempt"], 1, r)
        c.ok("cancel", job=job)

    def test_third_signal_kills_a_job_that_ignores_sigterm(self):
        d = self.tmpdir()
        started = os.path.join(d, "started")
        first = self.serve("--workers", "1", "--shutdown-grace", "10m",
                           "--kill-grace", "10m", state_dir=d)
        c = Client(first)
        job = c.ok("submit", argv=["sh", "-c",
                                   'trap "" TERM; : > "$0"; '
                                   'while :; do sleep 0.05; done',
                                   started])["job"]
        wait_until(lambda: os.path.exists(started), what="the job to run")
        c.close()
        mark = len(first.log_lines)
        first.sigterm()
        first.wait_log(r"^info: SIGTERM: stopping; waiting up to", start=mark)
        first.sigterm()
        first.wait_log(r"^info: stopping 1 running job", start=mark)
        first.sigterm()
        first.wait_log(r"^info: SIGTERM again: killing 1 running job now "
                       r"\(SIGKILL\); they will run again$", start=mark)
        self.assertEqual(first.proc.wait(BOUND_S), 0, first.stderr_text())
        first.check()
        second = self.serve(state_dir=d)
        c = self.client(second)
        self.assertEqual(c.ok("job", job=job)["attempt"], 1)
        c.ok("cancel", job=job)


@jqtest.sqlite_only("the lock and the file are SQLite's")
class DatabaseFileTest(ServiceCase):

    def busy_port(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        self.addCleanup(s.close)
        return s.getsockname()[1]

    def leftovers(self, db):
        return [p for p in (db, db + "-wal", db + "-shm", db + "-journal",
                            db + ".lock") if os.path.exists(p)]

    def test_second_jqd_on_the_same_file_is_refused(self):
        d = self.tmpdir()
        first = self.serve(state_dir=d)
        db = first.db_path
        self.assertTrue(os.path.exists(db + ".lock"))
        err = self.assertRefused(
            ("--db", db, "--unix", os.path.join(self.tmpdir(), "s")),
            "another jqd (pid %d) holds %s" % (first.proc.pid, db))
        self.assertNotIn("database is locked", err)
        self.client(first).ok("ping")
        first.check()
        self.assertFalse(os.path.exists(db + ".lock"))

    def test_lock_left_by_a_crash_is_taken_over(self):
        d = self.tmpdir()
        first = self.serve(state_dir=d)
        c = Client(first)
        c.ok("make", chan="kept", cap=1)
        c.close()
        first.kill()
        self.assertTrue(os.path.exists(first.db_path + ".lock"))
        second = self.serve(state_dir=d)
        self.assertEqual(self.client(second).ok("stat", chan="kept")["cap"],
                         1)

    def test_failed_start_leaves_no_new_database(self):
        d = self.tmpdir()
        db = os.path.join(d, "new.db")
        self.assertRefused(("--db", db, "--insecure-tcp", "--unix",
                            os.path.join(d, "s"), "--listen",
                            "127.0.0.1:%d" % self.busy_port()),
                           "Address already in use")
        self.assertEqual(self.leftovers(db), [])
        self.assertEqual(sorted(os.listdir(d)), [])

    def test_failed_start_keeps_an_existing_database(self):
        d = self.tmpdir()
        first = self.serve(state_dir=d)
        self.client(first).ok("make", chan="kept", cap=1)
        first.check()
        db = first.db_path
        self.assertRefused(("--db", db, "--insecure-tcp", "--unix",
                            os.path.join(self.tmpdir(), "s"), "--listen",
                            "127.0.0.1:%d" % self.busy_port()),
                           "Address already in use")
        self.assertTrue(os.path.exists(db))
        self.assertFalse(os.path.exists(db + ".lock"))
        second = self.serve(state_dir=d)
        self.assertEqual(self.client(second).ok("stat", chan="kept")["cap"],
                         1)


class MetricsPageTest(ServerTestCase):

    server_args = ("--metrics", "127.0.0.1:0", "--metrics-channels", "3",
                   "--workers", "2")

    @classmethod
    def setUpServer(cls):
        m = cls.server.wait_log(r"metrics on (http://127\.0\.0\.1:\d+)/metrics")
        cls.url = m.group(1)

    def page(self):
        status, _, body = http_get(self.url)
        self.assertEqual(status, 200, body)
        return parse_prometheus(body)

    def test_build_info(self):
        hello = self.ctl.ok("hello")
        fam = self.page()
        self.assertEqual(fam["jqd_build_info"]["type"], "gauge")
        self.assertEqual(sample(fam, "jqd_build_info",
                                version=hello["version"],
                                protocol="%d.%d" % (hello["protocol"],
                                                    hello["minor"])), 1)

    def test_finished_jobs_counted_by_state(self):
        before = self.page()

        def finished(fam, state):
            return sample(fam, "jqd_jobs_finished_total", state=state)
        c = self.ctl
        ok = c.ok("submit", argv=["true"])["job"]
        bad = c.ok("submit", argv=["false"])["job"]
        late = c.ok("submit", argv=["true"], delay_ms=600000)["job"]
        c.ok("cancel", job=late)
        for j in (ok, bad):
            wait_job(c, j)
        fam = self.page()
        self.assertEqual(fam["jqd_jobs_finished_total"]["type"], "counter")
        for state, n in (("succeeded", 1), ("failed", 1), ("canceled", 1),
                         ("deadline_exceeded", 0)):
            self.assertEqual(finished(fam, state) - finished(before, state),
                             n, state)
        self.assertEqual(
            {l["state"] for _, l, _ in
             fam["jqd_jobs_finished_total"]["samples"]},
            {"succeeded", "failed", "deadline_exceeded", "canceled"})

    def test_channel_series_capped(self):
        c = self.ctl
        names = ["cap-%s" % x for x in ("e", "a", "d", "b", "c")]
        for n in names:
            c.ok("make", chan=n, cap=2)
        fam = self.page()
        total = int(sample(fam, "jqd_channels"))
        self.assertGreaterEqual(total, 5)
        shown = sorted({l["chan"] for _, l, _ in
                        fam["jqd_channel_len"]["samples"]})
        self.assertEqual(len(shown), 3, shown)
        # The first by name: the same set scrape after scrape.
        every = sorted(x["chan"] for x in c.ok("chans")["chans"])
        self.assertEqual(shown, every[:3])
        for family in ("jqd_channel_cap", "jqd_channel_sent_total"):
            self.assertEqual(sorted({l["chan"] for _, l, _ in
                                     fam[family]["samples"]}), shown)
        self.assertEqual(sample(fam, "jqd_metrics_channels_omitted"),
                         total - 3)

    def test_healthz_ok_without_token(self):
        status, ctype, body = http_get(self.url, "/healthz")
        self.assertEqual((status, body), (200, b"ok\n"))
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        status, _, body = http_get(self.url, "/healthz", method="HEAD")
        self.assertEqual((status, body), (200, b""))


class MetricsOptionsTest(ServiceCase):

    def metrics_url(self, server):
        return server.wait_log(
            r"metrics on (http://127\.0\.0\.1:\d+)/metrics").group(1)

    def test_no_channel_series(self):
        s = self.serve("--metrics", "127.0.0.1:0", "--metrics-channels", "0")
        c = self.client(s)
        for n in ("z1", "z2"):
            c.ok("make", chan=n)
        status, _, body = http_get(self.metrics_url(s))
        fam = parse_prometheus(body)
        self.assertFalse([f for f in fam if f.startswith("jqd_channel_")],
                         sorted(fam))
        self.assertEqual(sample(fam, "jqd_metrics_channels_omitted"), 2)
        self.assertEqual(sample(fam, "jqd_channels"), 2)

    def test_healthz_needs_no_token_and_says_stopping(self):
        d = self.tmpdir()
        token = os.path.join(d, "token")
        with open(token, "w") as f:
            f.write("t0ken\n")
        release = os.path.join(d, "release")
        s = self.serve("--metrics", "127.0.0.1:0", "--token-file", token,
                       "--shutdown-grace", "10m")
        self.addCleanup(lambda: open(release, "a").close())
        url = self.metrics_url(s)
        self.assertEqual(http_get(url)[0], 401)
        self.assertEqual(http_get(url, "/healthz")[:3:2], (200, b"ok\n"))
        c = self.client(s.unix_path, unix=True)
        job = c.ok("submit", argv=["sh", "-c",
                                   'while [ ! -e "$0" ]; do sleep 0.05; '
                                   'done', release])["job"]
        wait_until(lambda: c.ok("job", job=job)["state"] == "running",
                   what="the job to run")
        s.sigterm()
        s.wait_log(r"^info: SIGTERM: stopping; waiting up to 10m00s for 1 "
                   r"running job")
        status, _, body = http_get(url, "/healthz")
        self.assertEqual((status, body), (503, b"stopping\n"))
        open(release, "a").close()
        self.assertEqual(s.proc.wait(BOUND_S), 0, s.stderr_text())


class DurationOptionTest(ServiceCase):

    def test_cli_takes_compound_durations(self):
        s = self.serve()
        c = self.client(s.unix_path, unix=True)

        def cli(*args):
            return subprocess.run(
                [os.environ["JQ_CLIENT"], "-S", s.unix_path] + list(args),
                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=BOUND_S)
        r = cli("submit", "--delay", "1h", "--timeout", "1h2m3.5s", "--",
                "true")
        self.assertEqual(r.returncode, 0, r.stderr)
        job = int(r.stdout.split()[-1])
        j = c.ok("job", job=job)
        self.assertEqual(j["deadline_ms"] - j["submitted_ms"], 3723500, j)
        c.ok("cancel", job=job)
        r = cli("submit", "--timeout", "1m30", "--", "true")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("invalid duration '1m30' for --timeout", r.stderr)

    def test_compound_durations_and_garbage(self):
        s = self.serve("--shutdown-grace", "1m30s", "--kill-grace", "2.5s",
                       "--retry-delay", "1s500ms")
        self.assertTrue(s.alive())
        for bad in ("1m30", "1 m", "1x", "-1s", "1h1"):
            with self.subTest(value=bad):
                self.assertRefused(("--shutdown-grace", bad),
                                   "shutdown-grace: '%s' is not a duration "
                                   "from 0ms to 1d00h (e.g. 250ms, 5s, "
                                   "1m30s, 1h, 7d)" % bad, status=2)


if __name__ == "__main__":
    jqtest.main()
