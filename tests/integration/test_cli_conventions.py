"""jq-client's conventions (PROTOCOL.md 14, jq-client(1) CONVENTIONS):
global options before or after the command, --json as one JSON document
per run (errors too), "did you mean", CMD --help / help / version, colour
for job states on a terminal only, the shell completions and the man
page kept whole against the command table (`help --json`), -H without a
port, and what an "unauthorized" error says."""

import json
import os
import pty
import re
import shutil
import subprocess
import tempfile

from jqtest import (Client, Server, ServerTestCase, main, refused_port,
                    unique_name)

CLI_TIMEOUT_S = 60
SRCDIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


class ConventionsTest(ServerTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dead_addr = "127.0.0.1:%d" % refused_port()
        cls.table = json.loads(cls.run_cli(["help", "--json"]).stdout)

    @staticmethod
    def env(extra=None):
        e = {k: v for k, v in os.environ.items()
             if k not in ("JQ_ADDR", "JQ_TOKEN", "JQ_TOKEN_FILE",
                          "NO_COLOR", "JQ_JOB_ID")}
        e.update(extra or {})
        return e

    @classmethod
    def run_cli(cls, args, env=None, stdout=subprocess.PIPE):
        return subprocess.run([os.environ["JQ_CLIENT"]] + [str(a) for a in args],
                              stdin=subprocess.DEVNULL, stdout=stdout,
                              stderr=subprocess.PIPE, env=cls.env(env),
                              timeout=CLI_TIMEOUT_S, text=True)

    def cli(self, *args, code=None, env=None):
        """jq-client -H (the test server) args."""
        p = self.run_cli(["-H", self.server.addr] + list(args), env=env)
        if code is not None:
            self.assertEqual(p.returncode, code,
                             "%s exited %d, expected %d\nstdout: %s\n"
                             "stderr: %s" % (args, p.returncode, code,
                                             p.stdout, p.stderr))
        return p

    def doc(self, *args, code=0, env=None):
        """--json's output: exactly one JSON document, an object with
        "ok" that agrees with the exit status."""
        p = self.cli("--json", *args, code=code, env=env)
        try:
            d = json.loads(p.stdout)
        except ValueError as e:
            self.fail("%s: stdout is not one JSON document (%s): %r"
                      % (args, e, p.stdout))
        self.assertIsInstance(d, dict, p.stdout)
        self.assertNotIn("id", d, p.stdout)
        if code == 0:
            self.assertIs(d["ok"], True, p.stdout)
        elif d["ok"] is False:
            self.assertIsInstance(d["error"]["code"], str, p.stdout)
            self.assertIsInstance(d["error"]["message"], str, p.stdout)
            self.assertNotEqual(p.stderr, "")
        return d

    def command_names(self):
        return [c["name"] for c in self.table["commands"]]

    # -- 1. options before or after the command --------------------------

    def test_global_options_anywhere(self):
        sock = self.server.unix_path
        for args in (["--json", "jobs", "-S", sock],
                     ["jobs", "--json", "-S", sock],
                     ["-S", sock, "jobs", "--json"],
                     ["jobs", "-S", sock, "--json"],
                     ["--json", "jobs", "--limit", "1", "--socket=" + sock],
                     ["--json", "-H", self.server.addr, "jobs"]):
            with self.subTest(args=args):
                p = self.run_cli(args)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertIn("jobs", json.loads(p.stdout))

    def test_submit_cmd_ends_options(self):
        p = self.cli("submit", "--wait", "--", "echo", "--json", "-S", "x",
                     code=0)
        self.assertEqual(p.stdout, "--json -S x\n")
        p = self.cli("submit", "--wait", "echo", "--json", code=0)
        self.assertEqual(p.stdout, "--json\n")

    def test_command_option_before_command_is_an_error(self):
        p = self.cli("--batch", "send", "c", "1", code=2)
        self.assertIn("unknown option '--batch'", p.stderr)

    # -- 2. --json: one document --------------------------------------------

    def test_json_every_command_success(self):
        chan, other = self.make(cap=10), self.make(cap=10)
        self.ctl.ok("send", chan=chan, values=[1, 2, 3, 4, 5])
        leases = self.ctl.ok("recv", chan=chan, max=3,
                             lease_ms=60000)["leases"]
        group = self.name("g")
        job = self.ctl.ok("submit", argv=["true"], group=group)["job"]
        failed = self.ctl.ok("submit", argv=["false"])["job"]
        self.ctl.ok("wait", jobs=[job, failed])
        new = self.name()
        # A worker to drain: registered on a connection of its own.
        agent = Client(self.server)
        self.addCleanup(agent.close)
        worker = self.name("w")
        agent.ok("worker_register", worker=worker, host="h", slots=1,
                 pools=[self.name("pool")])
        runs = [
            ("ping",), ("stats",), ("version",), ("help",),
            ("help", "send"), ("make", new, "3"),
            ("send", chan, "x", '{"a":1}'), ("send", "--batch", chan, "7"),
            ("recv", chan, "-n", "2"), ("recv", chan),
            ("ack", chan, leases[0]), ("nack", chan, leases[1]),
            ("touch", chan, leases[2], "30s"), ("stat", chan), ("chans",),
            ("select", "--timeout", "5s", "recv:" + chan),
            ("close", other), ("drop", new),
            ("submit", "--", "true"), ("submit", "--wait", "--", "true"),
            ("job", job), ("jobs",), ("logs", job), ("logs", "-f", job),
            ("cancel", job), ("wait", job), ("workers",),
            ("worker", "drain", worker),
            ("group", group), ("groups", group), ("retry", str(failed)),
            ("peek", chan),
            ("pause",), ("resume",), ("pool",),
            ("purge", "--state", "canceled"),
        ]
        seen = set()
        for args in runs:
            with self.subTest(args=args):
                d = self.doc(*args)
                seen.add(args[0])
        self.assertEqual(set(self.command_names()) - seen, set())

        d = self.doc("send", chan, "a", "b")
        self.assertEqual((d["sent"], len(d["results"])), (2, 2), d)
        d = self.doc("recv", chan, "-n", "3")
        self.assertIsInstance(d["values"], list, d)
        d = self.doc("jobs")
        self.assertIn(job, [j["job"] for j in d["jobs"]])
        d = self.doc("submit", "--wait", "--", "sh", "-c", "exit 3", code=3)
        self.assertEqual((d["ok"], d["result"]["exit_code"]), (True, 3), d)
        d = self.doc("version")
        self.assertEqual(d["server"]["protocol"], 1, d)
        self.assertIn("version", d["client"])

    def test_json_every_command_error(self):
        for name in self.command_names():
            with self.subTest(command=name):
                d = self.doc(name, "--no-such-option", code=2)
                self.assertEqual(d["error"]["code"], "usage", d)
        chan, missing = self.make(cap=2), self.name()
        self.ctl.ok("close", chan=chan)
        for args, code, err in (
                (("stat", missing), 1, "not_found"),
                (("send", missing, "1", "2"), 1, "not_found"),
                (("recv", chan), 1, "closed"),
                (("select", "recv:" + chan), 1, "closed"),
                (("cancel", "999999999"), 1, "not_found"),
                (("worker", "drain", "nobody"), 1, "not_found"),
                (("sned", chan), 2, "usage"),
                (("recv", chan, "--timeout", "x"), 2, "usage")):
            with self.subTest(args=args):
                d = self.doc(*args, code=code)
                self.assertEqual((d["ok"], d["error"]["code"]),
                                 (False, err), d)
        d = self.doc("send", missing, "1", "2", code=1)
        self.assertEqual(d["sent"], 0, d)
        p = self.run_cli(["--json", "-H", self.dead_addr, "ping"])
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(json.loads(p.stdout)["error"]["code"], "connection")

    # -- 3. did you mean ---------------------------------------------------

    def test_did_you_mean(self):
        for args, want in (
                (["sned"], "unknown command 'sned'; did you mean 'send'?"),
                (["jbos"], "unknown command 'jbos'; did you mean 'jobs'?"),
                (["jobs", "--stat", "failed"],
                 "unknown option '--stat'; did you mean '--state'?"),
                (["--jsno", "ping"],
                 "unknown option '--jsno'; did you mean '--json'?"),
                (["recv", "c", "--timout", "1s"],
                 "unknown option '--timout'; did you mean '--timeout'?")):
            with self.subTest(args=args):
                p = self.run_cli(args)
                self.assertEqual(p.returncode, 2)
                self.assertIn("jq-client: " + want + "\n", p.stderr)
        p = self.run_cli(["qqqqqq"])
        self.assertEqual(p.returncode, 2)
        self.assertNotIn("did you mean", p.stderr)

    # -- 4. help and version -------------------------------------------------

    def test_command_help(self):
        for c in self.table["commands"]:
            with self.subTest(command=c["name"]):
                p = self.run_cli([c["name"], "--help"])
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertTrue(p.stdout.startswith(
                    "usage: jq-client [OPTIONS] " + c["synopsis"] + "\n"))
                for o in c["options"]:
                    self.assertRegex(p.stdout, r"(?m)^  (-., )?--%s\b.* \S"
                                     % re.escape(o["name"]))
                self.assertTrue(c["examples"], "no example")
                self.assertIn("Example", p.stdout)
                for line in c["examples"]:
                    self.assertTrue(line.startswith("jq-client "), line)
                    self.assertIn(line, p.stdout)
                self.assertEqual(self.run_cli(["help", c["name"]]).stdout,
                                 p.stdout)
        self.assertEqual(self.run_cli(["help"]).stdout,
                         self.run_cli(["--help"]).stdout)

    def test_help_names_every_live_view(self):
        # The commands with --watch, from the table, are those --help and
        # the man page's LIVE VIEWS name.
        live = sorted(c["name"] for c in self.table["commands"]
                      if any(o["name"] == "watch" for o in c["options"]))
        text = " ".join(self.run_cli(["--help"]).stdout.split())
        named = re.search(r"Live views: (.*?) --watch", text).group(1)
        self.assertEqual(sorted(re.split(r", | and ", named)), live)
        for c in self.table["commands"]:
            if c["name"] in live:
                self.assertIn("--watch: again every D (default 2s)",
                              " ".join(c["help"]), c["name"])
        with open(os.path.join(SRCDIR, "doc", "jq-client.1.in"),
                  encoding="utf-8") as f:
            page = f.read()
        section = page[page.index(".SH LIVE VIEWS"):].split("\ntake\n")[0]
        self.assertEqual(sorted(re.findall(r"(?m)^\.BR? (\w+)", section)),
                         live)

    def test_version(self):
        p = self.run_cli(["-H", self.dead_addr, "--version"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"\Ajq-client \S+\n\Z")
        p = self.cli("version", code=0)
        self.assertRegex(p.stdout, r"(?m)^client: jq-client \S+$")
        self.assertRegex(p.stdout, r"(?m)^server: jqd \S+ \(protocol 1\.\d+\)$")
        self.assertRegex(p.stdout, r"(?m)^features: .*\bmultiplex\b")
        p = self.run_cli(["-H", self.dead_addr, "version"])
        self.assertEqual(p.returncode, 3)
        self.assertRegex(p.stdout, r"\Aclient: jq-client \S+\n\Z")

    # -- 5. colour -------------------------------------------------------------

    def run_pty(self, args, env=None):
        """stdout on a terminal: what it showed (CR LF as LF)."""
        master, slave = pty.openpty()
        try:
            p = subprocess.Popen(
                [os.environ["JQ_CLIENT"], "-H", self.server.addr] + args,
                stdin=subprocess.DEVNULL, stdout=slave,
                stderr=subprocess.DEVNULL, env=self.env(env))
        finally:
            os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:             # EIO: the other side closed
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        self.assertEqual(p.wait(timeout=CLI_TIMEOUT_S), 0)
        return out.decode().replace("\r\n", "\n")

    def test_colour_on_a_terminal_only(self):
        group = self.name("g")
        ok = self.ctl.ok("submit", argv=["true"], group=group)["job"]
        bad = self.ctl.ok("submit", argv=["false"], group=group)["job"]
        self.ctl.ok("wait", group=group)
        green, red = "\x1b[32msucceeded\x1b[0m", "\x1b[31mfailed\x1b[0m"
        tty = self.run_pty(["jobs", "--group", group])
        self.assertIn(green, tty)
        self.assertIn(red, tty)
        self.assertIn(green, self.run_pty(["job", str(ok)]))
        for env, args in (({"NO_COLOR": "1"}, []), ({}, ["--color=never"]),
                          ({}, ["--no-color"])):
            with self.subTest(env=env, args=args):
                self.assertNotIn("\x1b[", self.run_pty(
                    ["jobs", "--group", group] + args, env=env))
        # Not a terminal: none, unless asked for.
        p = self.cli("wait", str(ok), str(bad), code=1)
        self.assertNotIn("\x1b[", p.stdout)
        self.assertIn(green, self.run_pty(["jobs", "--group", group,
                                           "--color=always"],
                                          env={"NO_COLOR": "1"}))
        # Padding is decided before colouring: without the codes, the
        # same text as without colours.
        plain = self.cli("wait", str(ok), str(bad), code=1).stdout
        coloured = self.cli("wait", "--color=always", str(ok), str(bad),
                            code=1).stdout
        self.assertIn(red, coloured)
        self.assertEqual(ESCAPE.sub("", coloured), plain)
        self.cli("jobs", "--color=sometimes", code=2)

    # -- 6. completions --------------------------------------------------------

    def completion_file(self, shell):
        return os.path.join(SRCDIR, "completions", shell,
                            "jq-client" if shell == "bash" else "_jq-client")

    def test_completions_know_every_command_and_option(self):
        for shell in ("bash", "zsh"):
            with open(self.completion_file(shell), encoding="utf-8") as f:
                text = f.read()
            for c in self.table["commands"]:
                self.assertRegex(text, r"(?<![\w-])%s(?![\w-])"
                                 % re.escape(c["name"]),
                                 "%s completion lacks %s" % (shell, c["name"]))
                for o in c["options"] + self.table["options"]:
                    self.assertRegex(text, r"--%s(?![\w-])"
                                     % re.escape(o["name"]),
                                     "%s completion lacks --%s (%s)"
                                     % (shell, o["name"], c["name"]))

    def bash_complete(self, *words):
        script = ('source "$1"; shift; complete -p jq-client; '
                  'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _jq_client; '
                  'printf "%s\\n" "${COMPREPLY[@]}"')
        p = subprocess.run(["bash", "-c", script, "bash",
                            self.completion_file("bash")] + list(words),
                           capture_output=True, text=True,
                           env=self.env({"PATH": os.path.dirname(
                               os.environ["JQ_CLIENT"]) + ":" +
                               os.environ.get("PATH", "")}),
                           timeout=CLI_TIMEOUT_S)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], "complete -F _jq_client jq-client")
        return sorted(set(lines[1:]))

    def test_bash_completion(self):
        self.assertEqual(self.bash_complete("jq-client", "se"),
                         ["select", "send"])
        self.assertEqual(self.bash_complete("jq-client", "jobs", "--st"),
                         ["--state"])
        self.assertEqual(self.bash_complete("jq-client", "--js"), ["--json"])
        self.assertEqual(self.bash_complete("jq-client", "jobs", "--state",
                                            "f"), ["failed"])
        # "--state=f": bash has split the word at '='.
        self.assertEqual(self.bash_complete("jq-client", "jobs", "--state",
                                            "=", "f"), ["failed"])
        # Channel names from the server the command line names.
        chan = self.make(cap=1)
        self.assertIn(chan, self.bash_complete(
            "jq-client", "-H", self.server.addr, "stat", chan[:-1]))
        self.assertIn(chan, self.bash_complete(
            "jq-client", "-H", self.server.addr, "chans", "--after",
            chan[:-1]))
        # Group names (1.4: from `groups`), for a group and --after.
        group = unique_name("compl")
        self.ctl.ok("wait", jobs=[self.ctl.ok("submit", argv=["true"],
                                              group=group)["job"]])
        for words in (("group",), ("groups", "--after"),
                      ("jobs", "--group")):
            self.assertEqual(self.bash_complete(
                "jq-client", "-H", self.server.addr, *words, group[:-1]),
                [group], words)

    def test_zsh_completion_parses(self):
        zsh = shutil.which("zsh")
        if zsh is None:
            self.skipTest("zsh is not installed")
        p = subprocess.run([zsh, "-n", self.completion_file("zsh")],
                           capture_output=True, text=True,
                           timeout=CLI_TIMEOUT_S)
        self.assertEqual(p.returncode, 0, p.stderr)

    # -- the man page ------------------------------------------------------------

    def test_man_page_lists_every_command_and_option(self):
        with open(os.path.join(SRCDIR, "doc", "jq-client.1.in"),
                  encoding="utf-8") as f:
            page = f.read().replace("\\-", "-")
        for c in self.table["commands"]:
            self.assertRegex(page, r"(?m)^\.(TP|B|BI|BR)?\s*(\\fB)?%s\b"
                             % re.escape(c["name"]),
                             "jq-client(1) lacks an entry for " + c["name"])
            for o in c["options"] + self.table["options"]:
                self.assertTrue("--" + o["name"] in page,
                                "jq-client(1) lacks --%s" % o["name"])

    # -- 7. -H without a port ----------------------------------------------------

    def test_host_without_port_is_7411(self):
        for host, shown in (("127.0.0.1", "127.0.0.1:7411"),
                            ("[::1]", "[::1]:7411"),
                            ("tls:127.0.0.1", "127.0.0.1:7411")):
            with self.subTest(host=host):
                p = self.run_cli(["-H", host, "ping"])
                self.assertNotEqual(p.returncode, 2, p.stderr)
                if p.returncode == 3:   # nothing listens there (usual)
                    self.assertIn(shown, p.stderr)

    # -- 8. unauthorized ---------------------------------------------------------

    def test_unauthorized_says_what_to_do(self):
        tmp = tempfile.mkdtemp(prefix="jqd-conv-")
        self.addCleanup(shutil.rmtree, tmp, True)
        token = os.path.join(tmp, "token")
        with open(token, "w") as f:
            f.write("s3cret\n")
        empty_home = os.path.join(tmp, "config")
        os.mkdir(empty_home)
        with Server("--token-file", token) as server:
            base = {"XDG_CONFIG_HOME": empty_home}
            args = ["-H", server.addr, "ping"]
            p = self.run_cli(args, env=base)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertRegex(p.stderr, r"\Ajq-client: unauthorized: .*\(give "
                             r"the token with --token-file FILE or "
                             r"JQ_TOKEN\)\n\Z")
            p = self.run_cli(args, env=dict(base, JQ_TOKEN="wrong"))
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("(the token of JQ_TOKEN was refused;", p.stderr)
            p = self.run_cli(args, env=dict(base, JQ_TOKEN_FILE=token))
            self.assertEqual((p.returncode, p.stdout), (0, "pong\n"), p.stderr)
            p = self.run_cli(args + ["--token-file", token],
                             env=dict(base, JQ_TOKEN_FILE="/nonexistent"))
            self.assertEqual((p.returncode, p.stdout), (0, "pong\n"), p.stderr)
            p = self.run_cli(args, env=dict(base, JQ_TOKEN="s3cret",
                                            JQ_TOKEN_FILE="/nonexistent"))
            self.assertEqual(p.returncode, 0, p.stderr)
            p = self.run_cli(["--json"] + args, env=base)
            self.assertEqual(json.loads(p.stdout)["error"]["code"],
                             "unauthorized")


if __name__ == "__main__":
    main()
