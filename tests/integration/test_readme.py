#!/usr/bin/env python3
"""README.md's examples run as pasted and print what README.md shows.

The test follows README.md from top to bottom the way a new user would,
in one shell session, in a scratch copy of a built tree: the binaries
under test ($JQD, $JQ_CLIENT, $JQ_WORKER), examples/ and the Python and
Node clients, as files of their own.  So that `./jqd`'s defaults (the
socket /run/jqd/jqd.sock as root, port 7411, paths under /tmp) clash with
nothing on the machine, it runs in namespaces of its own: a private
/run, /tmp and network (loopback only), and a PID namespace that takes
every process the examples leave running with it at the end.  The TLS
section's two machines are one: there jobs.example.org (/etc/hosts, bound
over the system's) is 192.0.2.10, an address of that loopback.  As root
that is plain `unshare`; otherwise a user namespace in which the test
is root (skipped, exit 77, where neither can be made).

What runs, decided in README.md's source so the choice is visible there:

  - An indented code block whose first line starts with "$ " is a
    transcript: each "$ " line (with its "\\" continuation lines) is
    typed into the shell, and the lines up to the next "$ " are what it
    must print, stdout and stderr together as a terminal shows them.
    It must exit 0, or N when its comment says "exit N" or "exit code N".
    A command ending in "&" runs in the background; its output is not
    compared (it would be interleaved anywhere), and when it starts jqd
    (its stderr not redirected) the next command waits until jqd logs
    "ready", as a user would see it.  Expected output that starts with "^C" means: interrupt the
    command (SIGINT) once it waits on the local jqd (its stats count a
    waiting request); "^C" is the terminal's echo, not output.
  - Any other code block needs a marker, an HTML comment on the line
    before it (a blank line between):
        <!-- readme-test: sh -->              run each line in the shell;
                                               they must exit 0 and print
                                               nothing, unless the next
                                               block is marked output
        <!-- readme-test: output -->          what the sh block before
                                               prints
        <!-- readme-test: file NAME -->       write the block to NAME
                                               (a later transcript runs it)
        <!-- readme-test: skip (REASON) -->   not run; the reason says why
    An unmarked block fails the test: every example is a decision.

Output is compared line by line after the few normalisations README
output really varies by (PLACEHOLDERS below, applied to both sides):
durations and ages (513ms, 1.2s), this machine's host name (written
HOST in README.md) and the pid after it (HOST:PID), and runs of spaces
(table columns widen with their values).  Everything else is literal:
job ids and channel contents are the same on every run of a fresh tree.
To change what an example prints, edit README.md only.

Also here: every key of etc/jqd.conf.example against `jqd --help`: a
commented-out key shows its built-in default unless the comment above it
says what the default is ("Default: ...").
"""

import ctypes
import fcntl
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import unittest

import jqtest

SRCDIR = os.path.normpath(os.path.join(os.path.dirname(
    os.path.abspath(__file__)), "..", ".."))
README = os.path.join(SRCDIR, "README.md")
CONF_EXAMPLE = os.path.join(SRCDIR, "etc", "jqd.conf.example")
# Source files the README runs, copied into the scratch tree.
TREE_SOURCES = ("examples", "client/python/jqclient",
                "client/node/jqclient.js", "client/node/lib",
                "client/node/package.json")
IN_NS = "JQTEST_README_NS"
TREE = "/tmp/jqd"            # the built tree, in the private /tmp
SANITIZER_OPTIONS = ("ASAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS",
                     "UBSAN_OPTIONS")
CTL = "/run/readme-test"     # the harness's files, out of the tree
TLS_SERVER = ("jobs.example.org", "192.0.2.10")
COMMAND_TIMEOUT_S = 180
READY_TIMEOUT_S = 30
MARKER = re.compile(r"^\s*<!--\s*readme-test:\s*(.*?)\s*-->\s*$")

# (pattern, replacement), applied in order to README's and the actual
# output alike; HOST first replaces this machine's name in the actual.
PLACEHOLDERS = (
    (re.compile(r"\b\d+(?:\.\d+)?(?:ms|s|m|h|d)\b"), "<duration>"),
    (re.compile(r"\bHOST:\d+\b"), "HOST:PID"),
    (re.compile(r"[ \t]+"), " "),
)


# --- README.md into blocks ----------------------------------------------

class Block:
    def __init__(self, lineno, text, marker):
        self.lineno = lineno    # 1-based line of the block's first line
        self.text = text        # dedented, ends with "\n"
        self.marker = marker    # the readme-test comment's text, or None

    def kind(self):
        if self.marker is None:
            return "transcript" if self.text.startswith("$ ") else None
        return self.marker.split()[0]


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _content_indent(line):
    """Where the text of a paragraph line starts: after a list marker."""
    m = re.match(r"( *)([-*+]|\d+[.)]) +", line)
    return len(m.group(0)) if m else _indent(line)


def parse_blocks(text):
    """The indented code blocks of Markdown text, with their markers."""
    lines = text.split("\n")
    blocks = []
    para = 0            # content indent of the paragraph we are in
    prev_blank = True
    marker = None       # a marker seen since the last paragraph
    i = 0
    in_fence = False
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            i += 1
            continue
        if in_fence:
            i += 1
            continue
        if line.strip() == "":
            prev_blank = True
            i += 1
            continue
        m = MARKER.match(line)
        if m:
            marker = m.group(1)
            prev_blank = False
            i += 1
            continue
        ind = _indent(line)
        if prev_blank and ind >= para + 4:
            start = i
            body = []
            while i < len(lines) and (lines[i].strip() == "" or
                                      _indent(lines[i]) >= ind):
                body.append(lines[i][ind:])
                i += 1
            while body and body[-1].strip() == "":
                body.pop()
            blocks.append(Block(start + 1, "\n".join(body) + "\n", marker))
            marker = None
            prev_blank = True
            continue
        # A paragraph line: a list item sets the indent of what follows.
        if prev_blank or re.match(r" *([-*+]|\d+[.)]) ", line):
            para = _content_indent(line)
        marker = None
        prev_blank = False
        i += 1
    return blocks


def logical_lines(text):
    """Shell command lines of a script: "\\" continuations joined with the
    next line, here-documents kept with the command that opens them."""
    out = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        cmd = lines[i]
        i += 1
        while cmd.endswith("\\") and i < len(lines):
            cmd += "\n" + lines[i]
            i += 1
        m = re.search(r"<<-?\s*'?\"?(\w+)'?\"?", cmd)
        if m:
            while i < len(lines):
                cmd += "\n" + lines[i]
                i += 1
                if lines[i - 1].strip() == m.group(1):
                    break
        if cmd.strip() and not cmd.lstrip().startswith("#"):
            out.append(cmd)
    return out


def parse_transcript(text):
    """[(command, expected output lines)] of a "$ " transcript."""
    steps = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            raise ValueError("transcript line is neither a command nor "
                             "output of one: %r" % lines[i])
        cmd = lines[i][2:]
        i += 1
        while cmd.endswith("\\") and i < len(lines):
            cmd += "\n" + lines[i]
            i += 1
        expected = []
        while i < len(lines) and not lines[i].startswith("$ "):
            expected.append(lines[i])
            i += 1
        while expected and expected[-1] == "":
            expected.pop()
        steps.append((cmd, expected))
    return steps


def expected_status(cmd):
    m = re.search(r"#.*\bexit(?: code)? (\d+)", cmd)
    return int(m.group(1)) if m else 0


def is_background(cmd):
    code = re.sub(r"\s#.*$", "", cmd.split("\n")[-1])
    return re.search(r"(?<![&>|])&\s*(\w+=\$!\s*)?$", code) is not None


def starts_jqd(cmd):
    word = cmd.split()[0].strip("\"'")
    return os.path.basename(word) == "jqd"


def normalise(lines):
    out = []
    host = socket.gethostname()
    for line in lines:
        if host:
            line = re.sub(r"\b%s\b" % re.escape(host), "HOST", line)
        for pat, rep in PLACEHOLDERS:
            line = pat.sub(rep, line)
        out.append(line.rstrip())
    return out


# --- the namespaces ------------------------------------------------------

def _loopback_up():
    """ip link set lo up, without iproute2 (SIOCGIFFLAGS/SIOCSIFFLAGS)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = struct.pack("16sh22x", b"lo", 0)
        flags = struct.unpack("16sh22x", fcntl.ioctl(s, 0x8913, ifr))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sh22x", b"lo", flags | 1))
    finally:
        s.close()


def _add_address(ifname, addr):
    """ifconfig IFNAME ADDR up (SIOCSIFADDR, SIOCSIFFLAGS)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        fcntl.ioctl(s, 0x8916, struct.pack(
            "16sH2s4s8x", ifname.encode(), socket.AF_INET, b"\0\0",
            socket.inet_aton(addr)))
    finally:
        s.close()


def _bind_file(src, dst):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(src.encode(), dst.encode(), None, 4096, None) != 0:
        err = ctypes.get_errno()     # 4096: MS_BIND
        raise OSError(err, "bind %s on %s: %s" % (src, dst,
                                                 os.strerror(err)))


def _mount_tmpfs(path):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"tmpfs", path.encode(), b"tmpfs", 0, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "mount tmpfs on %s: %s" % (path, os.strerror(err)))


def enter_namespaces():
    """Re-run this file in namespaces of its own (see the top); returns
    only inside them, else exits 77 when they cannot be made."""
    if os.environ.get(IN_NS) == "1":
        return
    unshare = shutil.which("unshare")
    if unshare is None:
        sys.stderr.write("no unshare (util-linux): skipping\n")
        sys.exit(77)
    opts = ["--mount", "--net", "--pid", "--fork", "--mount-proc",
            "--propagation", "private"]
    if os.geteuid() != 0:
        opts.insert(0, "--map-root-user")
    probe = subprocess.run([unshare] + opts + ["true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        sys.stderr.write("cannot make namespaces (%s): skipping\n"
                         % probe.stderr.strip())
        sys.exit(77)
    env = dict(os.environ, **{IN_NS: "1"})
    os.execve(unshare, [unshare] + opts + [sys.executable,
                                           os.path.abspath(__file__)]
              + sys.argv[1:], env)


def make_tree():
    """The scratch built tree at TREE, in a private /run and /tmp."""
    files = {}
    for name, var in (("jqd", "JQD"), ("jq-client", "JQ_CLIENT"),
                      ("jq-worker", "JQ_WORKER")):
        files[name] = os.environ[var]
    for rel in TREE_SOURCES:
        src = os.path.join(SRCDIR, rel)
        if os.path.isdir(src):
            for f in sorted(os.listdir(src)):
                if os.path.isfile(os.path.join(src, f)):
                    files[os.path.join(rel, f)] = os.path.join(src, f)
        else:
            files[rel] = src
    # Read before the mounts hide them (the build may be under /tmp).
    content = {}
    for rel, src in files.items():
        with open(src, "rb") as f:
            content[rel] = (f.read(), os.stat(src).st_mode & 0o7777)
    # A sanitizer build's options may name a file (the suppressions of
    # make check's TSAN_OPTIONS): the copy in the tree is named instead.
    for var in SANITIZER_OPTIONS:
        opts = os.environ.get(var, "").split(":")
        for i, opt in enumerate(opts):
            if opt.startswith("suppressions="):
                src = opt[len("suppressions="):]
                rel = os.path.join("sanitizer", var + ".supp")
                with open(src, "rb") as f:
                    content[rel] = (f.read(), 0o644)
                opts[i] = "suppressions=" + os.path.join(TREE, rel)
        if var in os.environ:
            os.environ[var] = ":".join(opts)
    _mount_tmpfs("/run")
    _mount_tmpfs("/tmp")
    os.chmod("/tmp", 0o1777)
    _loopback_up()
    # The TLS section's server, jobs.example.org at 192.0.2.10, is here.
    _add_address("lo:1", TLS_SERVER[1])
    os.makedirs(CTL)
    hosts = os.path.join(CTL, "hosts")
    with open(hosts, "w") as f:
        f.write("127.0.0.1 localhost\n::1 localhost\n%s %s\n"
                % (TLS_SERVER[1], TLS_SERVER[0]))
    _bind_file(hosts, "/etc/hosts")
    for rel, (data, mode) in content.items():
        path = os.path.join(TREE, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
    os.makedirs("/tmp/home", mode=0o700)


# --- the shell -----------------------------------------------------------

class Shell:
    """One bash session, fed command by command as a user types them.
    Each command's output (its background children's too) goes to a file
    of its own; bash reports the status on a pipe."""

    def __init__(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("JQ") and k not in
               ("XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "PYTHONPATH",
                "PYTHONDONTWRITEBYTECODE", IN_NS)}
        env["HOME"] = "/tmp/home"
        ctl_r, ctl_w = os.pipe()
        self.log = open(os.path.join(CTL, "shell.log"), "wb")
        self.proc = subprocess.Popen(
            ["bash", "--norc", "--noprofile"], cwd=TREE, env=env,
            stdin=subprocess.PIPE, stdout=self.log, stderr=self.log,
            pass_fds=(ctl_w,), preexec_fn=lambda: os.dup2(ctl_w, 9))
        os.close(ctl_w)
        self.ctl = os.fdopen(ctl_r, "r")
        self.n = 0

    def _children(self):
        pid = self.proc.pid
        try:
            with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                return set(int(p) for p in f.read().split())
        except OSError:
            return set()

    def run(self, cmd, interrupt=False):
        """(status, output) of one command line."""
        self.n += 1
        out = os.path.join(CTL, "out.%d" % self.n)
        before = self._children()
        script = "{ %s\n} >%s 2>&1 </dev/null\necho \"$?\" >&9\n" % (cmd, out)
        self.proc.stdin.write(script.encode())
        self.proc.stdin.flush()
        if interrupt:
            self._interrupt(before)
        status = self._status()
        with open(out, "rb") as f:
            return status, f.read().decode("utf-8", "replace")

    def _status(self):
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        while True:
            r = select.select([self.ctl], [], [], 1.0)[0]
            if r:
                line = self.ctl.readline()
                if not line:
                    raise AssertionError("the shell exited")
                return int(line)
            if time.monotonic() > deadline:
                raise AssertionError("command still running after %d s"
                                     % COMMAND_TIMEOUT_S)

    def _interrupt(self, before):
        """SIGINT to the foreground command once the jqd of the default
        socket counts a waiting request (as Ctrl-C at a terminal)."""
        def blocked():
            return self._children() - before and waiting_requests() > 0
        jqtest.wait_until(blocked, timeout=READY_TIMEOUT_S,
                          what="the command to block")
        for pid in self._children() - before:
            os.kill(pid, signal.SIGINT)

    def background_output(self, n):
        with open(os.path.join(CTL, "out.%d" % n), "rb") as f:
            return f.read().decode("utf-8", "replace")


def waiting_requests():
    """The stats figure "waiting" of the jqd on the default socket."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(10)
        s.connect("/run/jqd/jqd.sock")
        s.sendall(b'{"id":1,"op":"stats"}\n')
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                return 0
            buf += chunk
        return json.loads(buf).get("waiting", 0)
    except OSError:
        return 0
    finally:
        s.close()


# --- the test ------------------------------------------------------------

class ReadmeTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        with open(README) as f:
            self.blocks = parse_blocks(f.read())

    def test_blocks_are_marked(self):
        """Every code block is a transcript or says what it is."""
        kinds = ("transcript", "sh", "output", "file", "skip")
        for b in self.blocks:
            k = b.kind()
            self.assertIn(k, kinds, "README.md:%d: a code block that is no "
                          "transcript needs a readme-test marker"
                          % b.lineno)
            if k == "skip":
                self.assertRegex(b.marker, r"^skip \(.+\)$", "README.md:%d:"
                                 " skip needs a (reason)" % b.lineno)
            if k == "file":
                self.assertRegex(b.marker, r"^file [\w.-]+$")
            if k in ("sh", "output"):
                self.assertEqual(b.marker, k)

    def test_readme_runs(self):
        make_tree()
        sh = Shell()
        try:
            self._follow(sh)
        finally:
            sh.proc.stdin.close()
            sh.ctl.close()
            sh.log.close()
            # We are PID 1 of the namespace: this ends everything the
            # examples left running (and our exit would, with SIGKILL).
            try:
                os.kill(-1, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                sh.proc.wait(10)
            except subprocess.TimeoutExpired:
                sh.proc.kill()
                sh.proc.wait()

    def _follow(self, sh):
        ran = 0
        printed = None      # what the last sh block printed
        for b in self.blocks:
            k = b.kind()
            where = "README.md:%d" % b.lineno
            if k == "transcript":
                for cmd, expected in parse_transcript(b.text):
                    self._step(sh, where, cmd, expected)
                    ran += 1
            elif k == "sh":
                printed = []
                for cmd in logical_lines(b.text):
                    printed += self._step(sh, where, cmd, None)
                    ran += 1
                if not self._next_is_output(b):
                    self.assertEqual(normalise(printed), [], "%s printed "
                                     "what README.md does not show" % where)
            elif k == "output":
                self.assertIsNotNone(printed, "%s: the output of no sh "
                                     "block" % where)
                self.assertEqual(normalise(printed),
                                 normalise(b.text.rstrip("\n").split("\n")),
                                 "%s: what the block above printed" % where)
                printed = None
            elif k == "file":
                name = b.marker.split()[1]
                with open(os.path.join(TREE, name), "w") as f:
                    f.write(b.text)
        self.assertGreater(ran, 20)

    def _next_is_output(self, block):
        i = self.blocks.index(block)
        return (i + 1 < len(self.blocks) and
                self.blocks[i + 1].kind() == "output")

    def _step(self, sh, where, cmd, expected):
        """Run one command; compare with expected lines (None: a script
        line, whose output the caller collects).  Returns its output lines
        (empty for a background command)."""
        interrupt = bool(expected) and expected[0].startswith("^C")
        if interrupt:
            expected = [expected[0][2:]] + expected[1:]
        n = sh.n + 1
        sys.stderr.write("%s: $ %s\n" % (where, cmd))
        t0 = time.monotonic()
        status, out = sh.run(cmd, interrupt)
        sys.stderr.write("%s(exit %d, %.1f s)\n" % (out, status,
                                                   time.monotonic() - t0))
        lines = out.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        what = "%s: $ %s\n--- printed ---\n%s" % (where, cmd, out)
        self.assertEqual(status, expected_status(cmd), what)
        if is_background(cmd):
            if starts_jqd(cmd) and not re.search(r"\s2>", cmd):
                jqtest.wait_until(
                    lambda: "info: ready" in sh.background_output(n) or
                    "error:" in sh.background_output(n).lower(),
                    timeout=READY_TIMEOUT_S, what="jqd ready")
                self.assertIn("info: ready", sh.background_output(n), what)
            lines = []
        if expected is not None:
            self.assertEqual(normalise(lines), normalise(expected), what)
        return lines


class ConfExampleTest(unittest.TestCase):
    def test_defaults(self):
        """Each key of jqd.conf.example, with jqd --help's default."""
        r = subprocess.run([os.environ["JQD"], "--help"],
                           capture_output=True, text=True)
        helptext = r.stdout + r.stderr
        # "  -x, --name METAVAR   text" (the text maybe on the next lines)
        options = {}
        for entry in re.split(r"\n(?=\s+(?:-\w, )?--)", helptext)[1:]:
            if not entry.strip():
                continue
            m = re.match(r"\s+(?:-\w, )?--([a-z-]+)( [^ ]+)?", entry)
            d = re.search(r"\(default:? ([^)]*)\)", entry)
            # A flag without a value is off unless given.
            options[m.group(1)] = (d.group(1) if d else
                                   None if m.group(2) else "no")
        for name in ("config", "help", "version"):
            options.pop(name, None)
        with open(CONF_EXAMPLE) as f:
            lines = f.read().split("\n")
        seen = set()
        comment = []
        for line in lines:
            if line.startswith("#") and " = " not in line or line == "#":
                comment.append(line)
                continue
            m = re.match(r"#?([a-z-]+) = (.*)$", line)
            if not m:
                comment = []
                continue
            key, value = m.groups()
            self.assertIn(key, options, "jqd.conf.example: %r is no option"
                          % key)
            seen.add(key)
            said = " ".join(comment)
            if line.startswith("#") and not re.search(r"[Dd]efault", said):
                self.assertEqual(value, options[key],
                                 "jqd.conf.example: %s's default" % key)
        self.assertEqual(sorted(set(options) - seen), [],
                         "options missing from jqd.conf.example")


if __name__ == "__main__":
    # As tests/node.sh: .ci/deps installs node; without it, say so.
    for tool in ("bash", "node", "nc", "openssl"):
        if shutil.which(tool) is None:
            sys.stderr.write("%s is not installed (.ci/deps installs it): "
                             "skipping\n" % tool)
            sys.exit(77)
    enter_namespaces()
    jqtest.main(need_client=True)
