"""jq-client at a terminal and under signals, against a real jqd:

- submit --wait: the job id on stderr; Ctrl-C (SIGINT; SIGTERM, SIGHUP)
  cancels the job on the server and exits 128 + the signal; --detach
  leaves it running; the exit-status table, row by row, with and without
  --no-exit-status;
- --watch of jobs, chans and stats: on a pseudo-terminal, frames redrawn
  in place on the alternate screen, cut to the window, the terminal put
  back (cursor shown, alternate screen left) on Ctrl-C and on an error;
  on a pipe, one snapshot per interval, a blank line between two;
- wait --progress on a pseudo-terminal: rate and ETA, the bar erased and
  the cursor shown again on Ctrl-C; a group's denominator that does not
  move while totals come in;
- logs --follow across a retry, and ended by Ctrl-C.

Signals are sent with kill (what Ctrl-C at a terminal does to the
foreground process).  Every wait is on an event (a job's state, a
request blocked on the server, bytes on the terminal), bounded.
"""

import fcntl
import json
import re
import signal
import socket
import struct
import subprocess
import termios
import threading

from jqtest import main, wait_until
from test_cli_jobs import (BLOCK, CLI_TIMEOUT_S, CliJobCase, PipeReader,
                           PtyReader, cli_env, sh)

ENTER = b"\x1b[?1049h\x1b[?25l"         # alternate screen, cursor hidden
LEAVE = b"\x1b[?25h\x1b[?1049l"         # cursor shown, screen left


def set_size(pty, rows, cols):
    fcntl.ioctl(pty.slave, termios.TIOCSWINSZ,
                struct.pack("HHHH", rows, cols, 0, 0))


class TtyCase(CliJobCase):
    server_args = ("--workers", "4", "--kill-grace", "300ms",
                   "--retry-delay", "50ms")

    def jobs_named(self, name):
        return [j for j in self.ctl.ok("jobs")["jobs"]
                if j.get("name") == name]

    def running_named(self, name):
        """Until the job called name runs; its id."""
        def running():
            jobs = self.jobs_named(name)
            return jobs[0]["job"] if jobs and \
                jobs[0]["state"] == "running" else None
        return wait_until(running, what="job %s running" % name)

    def spawn_pty(self, args, pty, stdout_tty=True, addr=None):
        """jq-client with the terminal on stdout (or on stderr), the other
        stream piped; killed on cleanup if still running."""
        proc = self.popen(
            *args, addr=addr,
            stdout=pty.slave if stdout_tty else subprocess.PIPE,
            stderr=subprocess.PIPE if stdout_tty else pty.slave)
        pty.start()
        return proc


class RaceServer:
    """Stands in for jqd: job 7 accepted; its wait held until a cancel
    comes (on another connection), answered \"canceled\": 0, after which
    the wait answers that the job succeeded."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.ops = []
        self.waiting = threading.Event()
        self.wait_f = None
        self.wait_id = None
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    def _serve(self, conn):
        with conn, conn.makefile("rwb") as f:
            for line in f:
                req = json.loads(line)
                if req["op"] != "auth":     # a token in the environment
                    self.ops.append(req["op"])
                if req["op"] == "wait":
                    self.wait_f, self.wait_id = f, req.get("id")
                    self.waiting.set()
                    continue
                reply = {"id": req.get("id"), "ok": True}
                if req["op"] == "submit":
                    reply["job"] = 7
                elif req["op"] == "cancel":
                    reply["canceled"] = 0
                f.write(json.dumps(reply).encode() + b"\n")
                f.flush()
                if req["op"] == "cancel":
                    res = {"job": 7, "state": "succeeded", "exit_code": 0,
                           "stdout": "done\n", "stderr": ""}
                    self.wait_f.write(json.dumps(
                        {"id": self.wait_id, "ok": True,
                         "results": [res]}).encode() + b"\n")
                    self.wait_f.flush()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class SubmitWaitTest(TtyCase):

    def interrupted(self, sig, code, detach=False):
        name = self.name()
        args = ["submit", "--name", name, "--wait"]
        if detach:
            args.append("--detach")
        proc = self.popen(*args + ["--", "sleep", "300"])
        jid = self.running_named(name)
        self.addCleanup(self.ctl.call, "cancel", job=jid)
        # The wait is blocked on the server: the id was printed by now.
        wait_until(lambda: self.ctl.ok("stats")["waiting"] >= 1,
                   what="the CLI's wait blocked")
        proc.send_signal(sig)
        out, err = self.finish(proc, code)
        self.assertEqual(out, "")
        self.assertIn("jq-client: job %d submitted\n" % jid, err)
        return jid, err

    def test_ctrl_c_cancels_the_job(self):
        jid, err = self.interrupted(signal.SIGINT, 130)
        self.assertTrue(err.endswith("jq-client: job %d canceled\n" % jid),
                        err)
        # Final before jq-client left: no waiting on the state here.
        self.assertEqual(self.job(jid)["state"], "canceled")

    def test_sigterm_and_sighup_cancel_too(self):
        for sig, code in ((signal.SIGTERM, 143), (signal.SIGHUP, 129)):
            with self.subTest(sig=sig):
                jid, err = self.interrupted(sig, code)
                self.assertIn("job %d canceled" % jid, err)
                self.assertEqual(self.job(jid)["state"], "canceled")

    def test_detach_leaves_the_job_running(self):
        jid, err = self.interrupted(signal.SIGINT, 130, detach=True)
        self.assertIn("jq-client logs -f %d" % jid, err)
        self.assertNotIn("canceled", err)
        self.assertEqual(self.job(jid)["state"], "running")

    def test_id_on_stderr(self):
        p = self.cli("submit", "--wait", "--", "echo", "fine", code=0)
        jid = self.newest_job()
        self.assertEqual((p.out, p.err),
                         ("fine\n", "jq-client: job %d submitted\n" % jid))
        # Before the job's own stderr.
        p = self.cli("submit", "--wait", "--", "sh", "-c",
                     "echo e >&2; exit 3", code=3)
        self.assertEqual(p.err, "jq-client: job %d submitted\ne\n"
                         % self.newest_job())

    # -- the exit-status table (submit --help, jq-client(1), PROTOCOL 14) --

    def test_exit_status_table(self):
        # The job's own end, mirrored.
        rows = [
            (["sh", "-c", "exit 0"], [], 0),
            (["sh", "-c", "exit 1"], [], 1),
            (["sh", "-c", "exit 2"], [], 2),
            (["sh", "-c", "exit 3"], [], 3),
            (["sh", "-c", "exit 200"], [], 200),
            (["sh", "-c", "kill -9 $$"], [], 137),
            (["sleep", "30"], ["--timeout", "300ms"], 124),
            (["no-such-command-jqd-test"], [], 127),
        ]
        for argv, opts, code in rows:
            with self.subTest(argv=argv, opts=opts):
                self.cli("submit", "--wait", *opts, "--", *argv, code=code)
                # --no-exit-status: 0 once the end is reported.
                self.cli("submit", "--wait", "--no-exit-status", *opts,
                         "--", *argv, code=0)
                # The last of the two counts.
                self.cli("submit", "--wait", "--no-exit-status",
                         "--exit-status", *opts, "--", *argv, code=code)

    def test_exit_status_canceled_by_another_125(self):
        name = self.name()
        proc = self.popen("submit", "--name", name, "--wait", "--",
                          "sleep", "300")
        jid = self.running_named(name)
        self.cli("cancel", jid, code=0)
        out, err = self.finish(proc, 125)
        self.assertIn("canceled", err)

    def test_exit_status_own_failures_255(self):
        # Usage errors, read after --wait or found by submit itself.
        for args in (["--wait", "--bogus", "--", "true"],
                     ["--wait", "--timeout", "xyz", "--", "true"],
                     ["--wait"],
                     ["--wait", "--env", "NOEQUALS", "--", "true"]):
            with self.subTest(args=args):
                p = self.cli("submit", *args, addr=self.dead_addr, code=255)
                self.assertIn("jq-client: ", p.err)
        # Cannot connect.
        p = self.cli("submit", "--wait", "--", "true", addr=self.dead_addr,
                     code=255)
        self.assertIn("jq-client: ", p.err)
        # An error reply: a parent that does not exist.
        p = self.cli("submit", "--wait", "--parent", "987654321", "--",
                     "true", code=255)
        self.assertIn("jq-client: ", p.err)

    def test_job_that_ended_first_is_reported_as_it_ended(self):
        """Ctrl-C, but the job ended before the cancel reached it (a fake
        server answers the cancel with 0 canceled, then the wait with a
        success): its output and its own status, no "canceled"."""
        fake = RaceServer()
        self.addCleanup(fake.close)
        proc = self.popen("submit", "--wait", "--", "true", addr=fake.addr)
        self.assertTrue(fake.waiting.wait(CLI_TIMEOUT_S), "no wait came")
        proc.send_signal(signal.SIGINT)
        out, err = self.finish(proc, 0)
        self.assertEqual(out, "done\n")
        self.assertEqual(err, "jq-client: job 7 submitted\n")
        self.assertEqual(fake.ops, ["submit", "wait", "cancel"])

    def test_exit_status_connection_lost_255(self):
        # A server that accepts the submit and drops the connection at
        # the wait.
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(srv.close)
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)

        def serve():
            conn, _ = srv.accept()
            with conn, conn.makefile("rwb") as f:
                for line in f:
                    req = json.loads(line)
                    if req["op"] == "wait":
                        return          # no answer: the connection closes
                    f.write(json.dumps({"id": req.get("id"), "ok": True,
                                        "job": 7}).encode() + b"\n")
                    f.flush()
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        p = self.cli("submit", "--wait", "--", "true", code=255,
                     addr="127.0.0.1:%d" % srv.getsockname()[1])
        t.join(CLI_TIMEOUT_S)
        self.assertIn("jq-client: job 7 submitted\n", p.err)
        self.assertIn("job 7 may still run", p.err)

    def test_own_failures_keep_their_codes_without_exit_status(self):
        self.cli("submit", "--wait", "--no-exit-status", "--timeout", "xyz",
                 "--", "true", addr=self.dead_addr, code=2)
        self.cli("submit", "--wait", "--no-exit-status", "--", "true",
                 addr=self.dead_addr, code=3)
        self.cli("submit", "--wait", "--no-exit-status", "--parent",
                 "987654321", "--", "true", code=1)
        # Without --wait nothing changes, and these need it.
        self.cli("submit", "--", "true", addr=self.dead_addr, code=3)
        for opt in ("--detach", "--exit-status", "--no-exit-status"):
            self.cli("submit", opt, "--", "true", addr=self.dead_addr,
                     code=2)


class FollowTest(TtyCase):

    def test_follow_across_a_retry(self):
        # The first attempt prints "first" and fails once "retry" exists;
        # the second prints "second" and succeeds once "release" does.
        script = ('if [ ! -e "$0" ]; then : > "$0"; echo first; '
                  'while [ ! -e "$1" ]; do sleep 0.05; done; exit 1; fi; '
                  'echo second; while [ ! -e "$2" ]; do sleep 0.05; done')
        jid = self.submit(sh(script, self.path("tried"), self.path("retry"),
                             self.path("release")), retries=1)
        self.release_on_cleanup("retry", jid)
        self.release_on_cleanup("release", jid)
        proc = self.popen("logs", "--follow", jid)
        out = PipeReader(proc.stdout)
        wait_until(lambda: out.text() == b"first\n", what="first shown")
        self.touch("retry")
        wait_until(lambda: out.text() == b"first\nsecond\n",
                   what="second shown (so far %r)" % out.text())
        self.assertEqual(self.job(jid)["attempt"], 2)
        self.touch("release")
        proc.wait(timeout=CLI_TIMEOUT_S)
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(out.wait_eof(), b"first\nsecond\n")
        self.assertIn(b"jq-client: attempt 2", proc.stderr.read())

    def test_follow_ends_on_ctrl_c(self):
        jid = self.long_job()
        self.wait_state(jid, "running")
        watches = self.ctl.ok("stats")["ops"].get("watch", 0)
        proc = self.popen("logs", "--follow", jid)
        wait_until(lambda: self.ctl.ok("stats")["ops"].get("watch", 0) >
                   watches, what="logs --follow watching")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=CLI_TIMEOUT_S)
        self.assertIn(proc.returncode, (130, -signal.SIGINT))
        # Following changes nothing.
        self.assertEqual(self.job(jid)["state"], "running")


FRAME = re.compile(rb"\x1b\[H(.*?)\x1b\[J", re.S)


class WatchTest(TtyCase):

    def test_watch_redraws_and_restores_the_terminal(self):
        group = self.name("g")
        jid = self.submit(["true"], group=group)
        self.wait1(jid)
        pty = PtyReader(cols=100)
        self.addCleanup(pty.close)
        proc = self.spawn_pty(["jobs", "--group", group, "--watch=100ms"],
                              pty)
        wait_until(lambda: len(FRAME.findall(pty.text())) >= 3,
                   what="three frames (so far %r)" % pty.text()[-300:])
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=CLI_TIMEOUT_S)
        self.assertEqual(proc.returncode, 130, err)
        shown = pty.wait_eof()
        self.assertTrue(shown.startswith(ENTER), shown[:40])
        self.assertTrue(shown.endswith(LEAVE), shown[-40:])
        frames = FRAME.findall(shown)
        for f in frames:
            lines = f.split(b"\n")
            self.assertTrue(lines[0].startswith(
                b"Every 100ms: jq-client jobs --group " + group.encode()),
                lines[0])
            self.assertEqual(lines[1], b"\x1b[K")
            self.assertTrue(lines[2].startswith(b"ID  STATE"), lines[2])
            # The state is coloured on a terminal (ESC [ ... m).
            row = re.sub(rb"\x1b\[[0-9;]*m", b"", lines[3])
            self.assertTrue(row.lstrip().startswith(
                b"%d  succeeded" % jid), lines[3])
        self.assertEqual(err, b"")

    def test_watch_cut_to_the_window(self):
        group = self.name("g")
        for _ in range(12):
            self.wait1(self.submit(["true"], group=group))
        pty = PtyReader()
        set_size(pty, 8, 40)
        self.addCleanup(pty.close)
        proc = self.spawn_pty(["jobs", "--group", group, "--watch", "100ms"],
                              pty)
        wait_until(lambda: FRAME.search(pty.text()),
                   what="a frame (so far %r)" % pty.text()[-300:])
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=CLI_TIMEOUT_S)
        self.assertEqual(proc.returncode, 130)
        frame = FRAME.search(pty.wait_eof()).group(1)
        lines = frame.split(b"\n")
        # Header, blank, 5 rows, the note: 8 lines, none wider than 39.
        self.assertEqual(len(lines), 8, lines)
        self.assertTrue(lines[-1].startswith(b"... 8 more lines"),
                        lines[-1])
        # Control sequences (clear to the end, a state's colour, and its
        # end where a line was cut inside one) take no column.
        for line in lines:
            shown = re.sub(rb"\x1b\[[0-9;]*[A-Za-z]", b"", line)
            self.assertLessEqual(len(shown), 39, line)
            if b"\x1b[3" in line:
                self.assertIn(b"\x1b[0m", line)

    def test_watch_error_restores_then_reports(self):
        pty = PtyReader()
        self.addCleanup(pty.close)
        proc = self.spawn_pty(["chans", "--watch"], pty,
                              addr=self.dead_addr)
        _, err = proc.communicate(timeout=CLI_TIMEOUT_S)
        self.assertEqual(proc.returncode, 3)
        self.assertEqual(pty.wait_eof(), ENTER + LEAVE)
        self.assertIn(b"jq-client: ", err)

    def test_watch_on_a_pipe(self):
        proc = subprocess.Popen(self.argv(["stats", "--watch", "100ms"]),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=cli_env())
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        reader = PipeReader(proc.stdout)
        wait_until(lambda: reader.text().count(b"\n\n") >= 2,
                   what="three snapshots")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=CLI_TIMEOUT_S)
        self.assertEqual(proc.returncode, 130)
        out = reader.wait_eof()
        proc.stdout.close()
        self.assertNotIn(b"\x1b", out)
        snaps = out.rstrip(b"\n").split(b"\n\n")
        self.assertGreaterEqual(len(snaps), 3)
        for snap in snaps:
            self.assertTrue(snap.startswith(b"uptime_ms "), snap[:40])
        proc.stderr.close()

    def test_watch_usage(self):
        for args in (["jobs", "--watch=0"], ["jobs", "--watch=abc"],
                     ["chans", "--watch=50ms"], ["stats", "--watch", "x1"],
                     ["stats", "--watch=1s", "--watch=x"]):
            with self.subTest(args=args):
                self.cli(*args, addr=self.dead_addr, code=2)
        self.cli("stats", "--watch", addr=self.dead_addr, json_out=True,
                 code=2)


class ProgressTtyTest(TtyCase):

    def test_rate_eta_and_ctrl_c_cleanup(self):
        script = ('i=0; while [ $i -lt 1000 ]; do i=$((i+1)); '
                  'echo $i 1000 >&$JQ_PROGRESS_FD; sleep 0.05; done')
        jid = self.submit(sh(script))
        self.addCleanup(self.ctl.call, "cancel", job=jid)
        pty = PtyReader()
        self.addCleanup(pty.close)
        proc = self.spawn_pty(["wait", "--progress", "--units", "plain",
                               jid], pty, stdout_tty=False)
        rx = re.compile(rb"0/1 jobs  1 running  0 failed  \d+/1000  "
                        rb"[0-9.]+/s  ETA [0-9.hms]+\x1b\[K")
        wait_until(lambda: rx.search(pty.text()),
                   what="rate and ETA (so far %r)" % pty.text()[-200:])
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=CLI_TIMEOUT_S)
        self.assertEqual(proc.returncode, -signal.SIGINT)
        shown = pty.wait_eof()
        self.assertTrue(shown.startswith(b"\x1b[?25l\r["), shown[:40])
        self.assertTrue(shown.endswith(b"\r\x1b[K\x1b[?25h"), shown[-60:])
        # The wait is over; the job runs on.
        self.assertEqual(self.job(jid)["state"], "running")

    def test_group_total_waits_for_every_job(self):
        group = self.name("g")
        a = self.submit(sh('echo 5 10 >&$JQ_PROGRESS_FD; ' + BLOCK,
                           self.path("relA")), group=group)
        self.release_on_cleanup("relA", a)
        b = self.submit(sh(BLOCK, self.path("relB")), group=group)
        self.release_on_cleanup("relB", b)
        wait_until(lambda: self.job(a).get("progress") and
                   self.job(b)["state"] == "running",
                   what="both running, one with a total")
        proc = subprocess.Popen(self.argv(["wait", "--group", group,
                                           "--progress", "--units",
                                           "plain"]),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=cli_env())
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        reader = PipeReader(proc.stderr)
        wait_until(lambda: b"0/2 jobs" in reader.text(), what="0/2 shown")
        self.touch("relB")
        wait_until(lambda: b"1/2 jobs" in reader.text(), what="1/2 shown")
        self.touch("relA")
        proc.stdout.read()
        proc.wait(timeout=CLI_TIMEOUT_S)
        lines = reader.wait_eof().decode().splitlines()
        proc.stdout.close()
        proc.stderr.close()
        # b's total is not known while it runs: the amount alone.
        first = [l for l in lines if l.startswith("0/2 jobs")]
        self.assertTrue(first)
        for l in first:
            self.assertRegex(l, r"^0/2 jobs  2 running  0 failed  5(  |$)")
        # b finished without a total: what it did (0) is its total.
        later = [l for l in lines if not l.startswith("0/2 jobs")]
        for l in later:
            self.assertRegex(l, r"  (5|10)/10(  |$)")


if __name__ == "__main__":
    main(need_client=True)
