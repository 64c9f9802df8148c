"""`make install DESTDIR=...` from the build tree (SPEC 6, STYLE "Build"):
binaries, man pages, the example configuration and jqd.conf, the systemd
units and the sysusers.d entry land where configure said, expanded (no
@...@ left), and the shipped configuration parses with the real jqd.  A
second install keeps an edited jqd.conf; uninstall removes everything else.

If systemd-analyze is installed, `systemd-analyze verify` must be silent
on the installed units.  It works without systemd as PID 1, but it checks
that ExecStart's program exists, so it runs on copies whose ExecStart
points into DESTDIR (the installed path itself is checked textually
above), with MANPATH pointing at the installed man pages for the
Documentation= check.

Needs ABS_TOP_BUILDDIR (set by `make check`); skips (77) without it."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

from jqtest import main

MAKE_TIMEOUT_S = 300
TOOL_TIMEOUT_S = 60
PLACEHOLDER = re.compile(r"@[A-Za-z_]+@")

# Asked of the build's own Makefile, so the test knows exactly where
# configure (or distcheck) put things.
VARS = ("prefix", "bindir", "datadir", "sysconfdir", "mandir", "libdir",
        "includedir",
        "abs_top_srcdir",
        "systemdsystemunitdir", "sysusersdir", "PACKAGE_VERSION",
        "pythonsitedir", "PYTHON", "SANITIZER_CFLAGS")
# Built against the installed libjqclient: a name, and a connection that
# fails as it should.
PROGRAM = r"""
#include <stdio.h>
#include <jqclient.h>

int
main(void)
{
	char		 err[256];
	struct jqc	*c = jqc_connect("unix:/nonexistent/jqd.sock", err,
			    sizeof(err));

	printf("%s %s %s\n", jqc_err_name(JQC_E_TIMEOUT),
	    jqc_err_name(JQC_E_IO), c == NULL ? "cannot connect" : "?");
	return 0;
}
"""
PRINT_VARS_MAKEFILE = "jqd-test-print-vars:\n" + "".join(
    "\t@echo '%s=$(%s)'\n" % (v, v) for v in VARS)


def make_env():
    """The environment for a nested make: none of the outer make's flags
    (jobserver descriptors, -k, DESTDIR) leak in."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES",
              "DESTDIR"):
        env.pop(k, None)
    env["LC_ALL"] = "C"
    return env


def make_cmd():
    return os.environ.get("MAKE", "make").split()


class InstallTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.builddir = os.environ["ABS_TOP_BUILDDIR"]
        cls.vars = cls.query_vars()
        cls.destdir = tempfile.mkdtemp(prefix="jqd-install-")
        cls.install_output = cls.make("install")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.destdir, ignore_errors=True)

    @classmethod
    def query_vars(cls):
        r = subprocess.run(
            make_cmd() + ["-s", "-C", cls.builddir, "-f", "Makefile",
                          "-f", "-", "jqd-test-print-vars"],
            input=PRINT_VARS_MAKEFILE, capture_output=True, text=True,
            env=make_env(), timeout=MAKE_TIMEOUT_S)
        if r.returncode != 0:
            raise AssertionError("cannot read the Makefile's variables:\n"
                                 + r.stdout + r.stderr)
        out = {}
        for line in r.stdout.splitlines():
            k, sep, v = line.partition("=")
            if sep and k in VARS:
                out[k] = v
        missing = [v for v in VARS if v not in out]
        if missing:
            raise AssertionError("Makefile did not print %s:\n%s"
                                 % (missing, r.stdout))
        return out

    @classmethod
    def make(cls, target):
        r = subprocess.run(
            make_cmd() + ["-C", cls.builddir, target,
                          "DESTDIR=" + cls.destdir],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=make_env(), timeout=MAKE_TIMEOUT_S)
        if r.returncode != 0:
            raise AssertionError("make %s DESTDIR=%s failed (%d):\n%s"
                                 % (target, cls.destdir, r.returncode,
                                    r.stdout))
        return r.stdout

    # -- helpers --------------------------------------------------------

    def dest(self, path):
        """path (absolute, as configured) inside DESTDIR."""
        self.assertTrue(os.path.isabs(path), "%r is not absolute" % path)
        return os.path.join(self.destdir, path.lstrip("/"))

    def read(self, path):
        with open(self.dest(path), encoding="utf-8") as f:
            return f.read()

    def assertInstalled(self, path, executable=False):
        full = self.dest(path)
        self.assertTrue(os.path.isfile(full),
                        "%s was not installed (make install said:\n%s)"
                        % (path, self.install_output))
        if executable:
            self.assertTrue(os.access(full, os.X_OK),
                            "%s is not executable" % path)

    def assertExpanded(self, path):
        text = self.read(path)
        left = sorted(set(PLACEHOLDER.findall(text)))
        self.assertEqual(left, [], "%s still has %s" % (path, left))
        return text

    def conf_dir(self):
        return os.path.join(self.vars["sysconfdir"], "jqd")

    def unit_dir(self):
        d = self.vars["systemdsystemunitdir"]
        if not d:
            self.skipTest("configured without a systemd unit directory")
        return d

    def run_jqd(self, *args):
        return subprocess.run(
            [self.dest(os.path.join(self.vars["bindir"], "jqd"))] +
            list(args), capture_output=True, text=True,
            timeout=TOOL_TIMEOUT_S)

    # -- what is installed ------------------------------------------------

    def test_programs(self):
        for prog in ("jqd", "jq-client"):
            self.assertInstalled(os.path.join(self.vars["bindir"], prog),
                                 executable=True)
        r = self.run_jqd("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(self.vars["PACKAGE_VERSION"], r.stdout)

    def test_client_library(self):
        """libjqclient: the shared library with its soname, the static
        one, the header and the .pc; a program built with pkg-config
        against the installed copy runs linked dynamically."""
        libdir = self.vars["libdir"]
        for name in ("libjqclient.a", "libjqclient.so.1.0.0",
                     "libjqclient-event.a", "libjqclient-event.so.1.0.0",
                     "pkgconfig/libjqclient-event.pc"):
            self.assertInstalled(os.path.join(libdir, name))
        self.assertInstalled(os.path.join(self.vars["includedir"],
                                          "jqclient-event.h"))
        for link in ("libjqclient.so", "libjqclient.so.1"):
            self.assertEqual(os.readlink(self.dest(os.path.join(
                libdir, link))), "libjqclient.so.1.0.0")
        self.assertInstalled(os.path.join(self.vars["includedir"],
                                          "jqclient.h"))
        pc_dir = self.dest(os.path.join(libdir, "pkgconfig"))
        self.assertTrue(os.path.isfile(os.path.join(pc_dir,
                                                    "libjqclient.pc")))
        so = self.dest(os.path.join(libdir, "libjqclient.so.1.0.0"))
        r = subprocess.run(["readelf", "-d", so], capture_output=True,
                           text=True, timeout=TOOL_TIMEOUT_S)
        self.assertIn("Library soname: [libjqclient.so.1]", r.stdout)

        # pkg-config finds the copy in DESTDIR when told its directories.
        r = subprocess.run(
            ["pkg-config", "--define-variable=libdir=" + self.dest(libdir),
             "--define-variable=includedir=" +
             self.dest(self.vars["includedir"]), "--cflags", "--libs",
             "libjqclient"], capture_output=True, text=True,
            env=dict(os.environ, PKG_CONFIG_PATH=pc_dir),
            timeout=TOOL_TIMEOUT_S)
        self.assertEqual(r.returncode, 0, r.stderr)
        # A program that links a sanitizer build's library is built with
        # the same sanitizer (its runtime must come first).
        flags = r.stdout.split() + self.vars["SANITIZER_CFLAGS"].split()
        work = tempfile.mkdtemp(prefix="jqd-install-prog-")
        self.addCleanup(shutil.rmtree, work, True)
        src = os.path.join(work, "prog.c")
        prog = os.path.join(work, "prog")
        with open(src, "w", encoding="utf-8") as f:
            f.write(PROGRAM)
        r = subprocess.run(["cc", "-o", prog, src] + flags,
                           capture_output=True, text=True,
                           timeout=TOOL_TIMEOUT_S)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run(["readelf", "-d", prog], capture_output=True,
                           text=True, timeout=TOOL_TIMEOUT_S)
        self.assertIn("Shared library: [libjqclient.so.1]", r.stdout)
        r = subprocess.run([prog], capture_output=True, text=True,
                           env=dict(os.environ, LD_LIBRARY_PATH=self.dest(
                               libdir)), timeout=TOOL_TIMEOUT_S)
        self.assertEqual((r.returncode, r.stdout),
                         (0, "timeout io cannot connect\n"), r.stderr)

    def test_man_pages(self):
        for sect, page in (("1", "jq-client"), ("8", "jqd")):
            path = os.path.join(self.vars["mandir"], "man" + sect,
                                "%s.%s" % (page, sect))
            self.assertInstalled(path)
            text = self.assertExpanded(path)
            self.assertRegex(text, r"(?m)^\.TH ")
            self.assertIn(self.vars["PACKAGE_VERSION"], text)
        jqd8 = self.read(os.path.join(self.vars["mandir"], "man8", "jqd.8"))
        self.assertIn(self.conf_dir() + "/jqd.conf", jqd8)

    def test_completions(self):
        """jq-client's completions, where bash-completion and zsh look."""
        bash = os.path.join(self.vars["datadir"], "bash-completion",
                            "completions", "jq-client")
        zsh = os.path.join(self.vars["datadir"], "zsh", "vendor-completions",
                           "_jq-client")
        self.assertInstalled(bash)
        self.assertInstalled(zsh)
        self.assertIn("complete -F _jq_client jq-client", self.read(bash))
        self.assertTrue(self.read(zsh).startswith("#compdef jq-client\n"))

    def test_go_module(self):
        """The Go client's module source under $(datadir)/gocode/src, as
        Debian's golang-*-dev packages lay Go code out; where go is
        installed, a program builds against the installed copy offline
        through a replace directive, as client/go/README.md says."""
        moddir = os.path.join(self.vars["datadir"], "gocode", "src",
                              "jqd.invalid", "jqclient")
        for f in ("go.mod", "README.md", "client.go", "worker.go"):
            self.assertInstalled(os.path.join(moddir, f))
        self.assertEqual(self.read(os.path.join(moddir, "go.mod"))
                         .splitlines()[0], "module jqd.invalid/jqclient")
        installed = os.listdir(self.dest(moddir))
        self.assertFalse([f for f in installed if f.endswith("_test.go")],
                         "tests are not installed")
        if not shutil.which("go"):
            return
        work = tempfile.mkdtemp(prefix="jqd-gomod-")
        try:
            with open(os.path.join(work, "go.mod"), "w") as f:
                f.write("module example.com/use\n\ngo 1.19\n\n"
                        "require jqd.invalid/jqclient v0.0.0\n\n"
                        "replace jqd.invalid/jqclient => %s\n"
                        % self.dest(moddir))
            with open(os.path.join(work, "main.go"), "w") as f:
                f.write('package main\n\nimport "jqd.invalid/jqclient"\n\n'
                        "func main() { _ = jqclient.NewKey() }\n")
            env = dict(make_env(), GOPROXY="off", GOTOOLCHAIN="local",
                       GOFLAGS="",
                       GOCACHE=os.path.join(work, "cache"),
                       GOPATH=os.path.join(work, "path"))
            r = subprocess.run(["go", "build", "-o", "use", "."], cwd=work,
                               capture_output=True, text=True, env=env,
                               timeout=MAKE_TIMEOUT_S)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def test_man_page_lists_every_option(self):
        """Every option of `jqd --help` has an entry in jqd(8) and a key in
        the example configuration."""
        r = self.run_jqd("--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        opts = set(re.findall(r"--([a-z][a-z-]+)", r.stdout))
        opts -= {"config", "help", "version"}
        self.assertGreater(len(opts), 20, r.stdout)
        page = self.read(os.path.join(self.vars["mandir"], "man8", "jqd.8"))
        page = page.replace("\\-", "-")
        example = self.read(os.path.join(self.conf_dir(),
                                         "jqd.conf.example"))
        for opt in sorted(opts):
            self.assertIn("--" + opt, page, "jqd(8) lacks --" + opt)
            self.assertRegex(example, r"(?m)^#?%s = " % re.escape(opt),
                             "jqd.conf.example lacks " + opt)

    def test_config_files(self):
        example = os.path.join(self.conf_dir(), "jqd.conf.example")
        conf = os.path.join(self.conf_dir(), "jqd.conf")
        self.assertInstalled(example)
        self.assertInstalled(conf)
        src = os.path.join(self.vars["abs_top_srcdir"], "etc",
                           "jqd.conf.example")
        with open(src, encoding="utf-8") as f:
            shipped = f.read()
        self.assertEqual(self.read(example), shipped)
        self.assertEqual(self.read(conf), shipped)

    def test_config_parses(self):
        """The shipped file, and the file with every key uncommented (each
        default written out), pass jqd's own parser (--help parses the
        file first, then exits 0)."""
        conf = self.dest(os.path.join(self.conf_dir(), "jqd.conf"))
        r = self.run_jqd("-c", conf, "--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(conf, encoding="utf-8") as f:
            text = f.read()
        full = re.sub(r"(?m)^#([a-z-]+ = )", r"\1", text)
        self.assertGreater(full.count("\n"), 0)
        path = os.path.join(self.destdir, "all-keys.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(full)
        r = self.run_jqd("-c", path, "--help")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_units(self):
        units = self.unit_dir()
        for name in ("jqd.service", "jqd.socket"):
            self.assertInstalled(os.path.join(units, name))
        service = self.assertExpanded(os.path.join(units, "jqd.service"))
        socket = self.assertExpanded(os.path.join(units, "jqd.socket"))
        bindir, confdir = self.vars["bindir"], self.conf_dir()
        self.assertIn("\nExecStart=%s/jqd -c %s/jqd.conf\n"
                      % (bindir, confdir), service)
        for line in ("Type=notify", "KillMode=mixed", "User=jqd",
                     "StateDirectory=jqd jqd/jobs", "RuntimeDirectory=jqd",
                     "Requires=jqd.socket", "ProtectSystem=strict"):
            self.assertIn("\n" + line + "\n", service)
        for line in ("ListenStream=/run/jqd/jqd.sock", "SocketMode=0660",
                     "SocketGroup=jqd", "Service=jqd.service"):
            self.assertIn("\n" + line + "\n", socket)
        # No TCP by default: every local user could reach it (issue 21).
        self.assertEqual(re.findall(r"(?m)^ListenStream=.*:\d+$", socket), [])
        # An active/standby node: no socket (a standby must refuse), the
        # password file named, restarted after stepping down (exit 3).
        self.assertInstalled(os.path.join(units, "jqd-ha.service"))
        ha = self.assertExpanded(os.path.join(units, "jqd-ha.service"))
        self.assertIn("\nExecStart=%s/jqd -c %s/jqd.conf\n"
                      % (bindir, confdir), ha)
        for line in ("Type=notify", "Restart=on-failure",
                     "RestartPreventExitStatus=2",
                     "Environment=PGPASSFILE=%s/pgpass" % confdir,
                     "Conflicts=jqd.service jqd.socket"):
            self.assertIn("\n" + line + "\n", ha)
        self.assertNotIn("Requires=jqd.socket", ha)

    def test_python_package(self):
        """The jqclient package lands in pythonsitedir, byte-compiled, and
        imports from there; for a prefix the configured Python reads
        (Debian's python3: /usr/local -> /usr/local/lib/python3.X/
        dist-packages, /usr -> /usr/lib/python3/dist-packages) that
        directory is on its own sys.path, so `python3 -c 'import
        jqclient'` works with nothing set."""
        site = self.vars["pythonsitedir"]
        for name in ("__init__.py", "aio.py", "client.py", "worker.py",
                     "connection.py", "py.typed"):
            self.assertInstalled(os.path.join(site, "jqclient", name))
        env = dict(make_env(), PYTHONPATH=self.dest(site))
        r = subprocess.run(
            [self.vars["PYTHON"], "-c", "import jqclient, jqclient.aio; "
             "print(jqclient.__file__)"], env=env, cwd=self.destdir,
            capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), self.dest(os.path.join(
            site, "jqclient", "__init__.py")))
        r = subprocess.run(
            [self.vars["PYTHON"], os.path.join(
                self.vars["abs_top_srcdir"], "client", "python",
                "python-sitedir.py"), self.vars["prefix"]],
            capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
        if r.stdout.strip():
            r = subprocess.run(
                [self.vars["PYTHON"], "-c", "import sys; print(sys.path)"],
                capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
            self.assertIn(repr(site), r.stdout)

    def test_sysusers(self):
        d = self.vars["sysusersdir"]
        if not d:
            self.skipTest("configured without a sysusers.d directory")
        path = os.path.join(d, "jqd.conf")
        self.assertInstalled(path)
        text = self.assertExpanded(path)
        self.assertRegex(text, r"(?m)^u jqd - ")

    def test_systemd_analyze_verify(self):
        units = self.unit_dir()
        tool = shutil.which("systemd-analyze")
        if tool is None:
            self.skipTest("systemd-analyze not installed (Debian package "
                          "systemd)")
        work = tempfile.mkdtemp(prefix="verify-", dir=self.destdir)
        bindir = self.vars["bindir"]
        for name in ("jqd.service", "jqd.socket", "jqd-ha.service"):
            text = self.read(os.path.join(units, name))
            if name in ("jqd.service", "jqd-ha.service"):
                text = text.replace("\nExecStart=%s/" % bindir,
                                    "\nExecStart=%s/" % self.dest(bindir))
            with open(os.path.join(work, name), "w",
                      encoding="utf-8") as f:
                f.write(text)
        env = dict(os.environ)
        env["MANPATH"] = self.dest(self.vars["mandir"])
        r = subprocess.run(
            [tool, "verify", os.path.join(work, "jqd.service"),
             os.path.join(work, "jqd.socket"),
             os.path.join(work, "jqd-ha.service")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=env, timeout=TOOL_TIMEOUT_S)
        # verify exits 0 even for unknown keys or unparsable values; it
        # only prints them, so clean means exit 0 and nothing printed.
        self.assertEqual((r.returncode, r.stdout.strip()), (0, ""),
                         "systemd-analyze verify:\n" + r.stdout)

    def test_node_package(self):
        """The Node.js client, as a distribution installs a pure-JavaScript
        package: $(datadir)/nodejs/jqclient holds exactly the files of its
        package.json's "files"; node finds it by name on that path
        (Debian's node searches /usr/share/nodejs) from CommonJS, and ESM
        imports its jqclient.mjs."""
        pkgdir = os.path.join(self.vars["datadir"], "nodejs", "jqclient")
        src = os.path.join(self.vars["abs_top_srcdir"], "client", "node")
        with open(os.path.join(src, "package.json"), encoding="utf-8") as f:
            files = json.load(f)["files"]
        want = {"package.json"}
        for entry in files:
            if entry.endswith("/"):
                want |= {entry + n for n in os.listdir(os.path.join(src, entry))
                         if n.endswith(".js")}
            else:
                want.add(entry)
        got = set()
        for root, _, names in os.walk(self.dest(pkgdir)):
            rel = os.path.relpath(root, self.dest(pkgdir))
            got |= {n if rel == "." else rel + "/" + n for n in names}
        self.assertEqual(got, want)
        node = shutil.which("node")
        if not node:
            self.skipTest("node is not installed")
        env = dict(os.environ, NODE_PATH=os.path.dirname(self.dest(pkgdir)))
        r = subprocess.run(
            [node, "-e", "const j = require('jqclient');"
             "console.log(typeof j.Client, typeof j.Worker, "
             "require('jqclient/package.json').version)"],
            capture_output=True, text=True, env=env, timeout=TOOL_TIMEOUT_S)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "function function %s\n"
                         % self.vars["PACKAGE_VERSION"])
        mjs = self.dest(os.path.join(pkgdir, "jqclient.mjs"))
        r = subprocess.run(
            [node, "--input-type=module", "-e",
             "const m = await import(%s); console.log(typeof m.Client)"
             % json.dumps("file://" + mjs)],
            capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "function\n")

    # -- upgrade and uninstall (last: they change DESTDIR) ----------------

    def test_zz_reinstall_keeps_edited_config_and_uninstall(self):
        conf = self.dest(os.path.join(self.conf_dir(), "jqd.conf"))
        example = self.dest(os.path.join(self.conf_dir(),
                                         "jqd.conf.example"))
        with open(conf, "a", encoding="utf-8") as f:
            f.write("workers = 3\n")
        os.unlink(example)
        self.make("install")
        with open(conf, encoding="utf-8") as f:
            self.assertTrue(f.read().endswith("workers = 3\n"),
                            "make install replaced an edited jqd.conf")
        self.assertTrue(os.path.isfile(example),
                        "make install did not restore the example")

        self.make("uninstall")
        left = sorted(os.path.relpath(os.path.join(d, f), self.destdir)
                      for d, _, files in os.walk(self.destdir)
                      for f in files)
        # The test's own scratch files are not installed ones.
        left = [p for p in left
                if not p.startswith(("verify-", "all-keys.conf"))]
        self.assertEqual(left, [os.path.relpath(conf, self.destdir)],
                         "after make uninstall, only the edited jqd.conf "
                         "may remain")


if __name__ == "__main__":
    if not os.environ.get("ABS_TOP_BUILDDIR"):
        sys.stderr.write("ABS_TOP_BUILDDIR is not set; skipping\n")
        sys.exit(77)
    main()
