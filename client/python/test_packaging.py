"""`pip install client/python` works offline on Debian 12: in a venv of
/usr/bin/python3 (Debian's pip refuses system installs, PEP 668), with
pip's build isolation, no index reachable -- in a network namespace of its
own (`unshare -n`, as root) and with pip's index an address nothing
listens on.  The sdist the backend makes installs the same way.  The
installed package then talks to a real jqd.

    JQD=/path/to/jqd python3 client/python/test_packaging.py

Exits 77 (skip) without JQD or without a Python whose venv module has pip
(Debian: python3-venv).
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "integration"))

from jqtest import Server  # noqa: E402

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
    else sys.executable
UNREACHABLE_INDEX = "http://127.0.0.1:9/simple"
TIMEOUT_S = 300


def offline(cmd):
    """cmd in a network namespace without network when we can make one."""
    if os.geteuid() == 0 and shutil.which("unshare") and subprocess.run(
            ["unshare", "-n", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-n"] + cmd
    return cmd


def venv_ok():
    d = tempfile.mkdtemp(prefix="jqclient-venv-probe-")
    try:
        return subprocess.run([PYTHON, "-m", "venv", d], capture_output=True,
                              timeout=TIMEOUT_S).returncode == 0
    finally:
        shutil.rmtree(d, True)


class PackagingTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="jqclient-pkg-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.env = dict(os.environ, PIP_INDEX_URL=UNREACHABLE_INDEX,
                        PIP_DISABLE_PIP_VERSION_CHECK="1",
                        PIP_NO_CACHE_DIR="1")
        self.env.pop("PYTHONPATH", None)

    def venv(self, name):
        venv = os.path.join(self.dir, name)
        subprocess.run([PYTHON, "-m", "venv", venv], check=True,
                       timeout=TIMEOUT_S)
        return os.path.join(venv, "bin", "python")

    def pip_install(self, python, what):
        r = subprocess.run(offline([python, "-m", "pip", "install", what]),
                           env=self.env, capture_output=True, text=True,
                           timeout=TIMEOUT_S, cwd=self.dir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def use(self, python, server):
        prog = ("import jqclient, jqclient.aio, asyncio\n"
                "assert jqclient.__file__.startswith(%r), jqclient.__file__\n"
                "with jqclient.Client(%r) as c:\n"
                "    c.make('pkg', 1); c.send('pkg', 19.99)\n"
                "async def main():\n"
                "    async with jqclient.aio.Client(%r) as a:\n"
                "        return await a.recv('pkg')\n"
                "print(asyncio.run(main()))\n"
                % (os.path.dirname(os.path.dirname(python)),
                   "unix:" + server.unix_path, "unix:" + server.unix_path))
        r = subprocess.run([python, "-c", prog], env=self.env, cwd=self.dir,
                           capture_output=True, text=True, timeout=TIMEOUT_S)
        self.assertEqual((r.returncode, r.stdout), (0, "19.99\n"), r.stderr)

    def test_pip_install_directory_offline(self):
        python = self.venv("v1")
        self.pip_install(python, HERE)
        with Server() as server:
            self.use(python, server)
        typed = glob.glob(os.path.join(os.path.dirname(os.path.dirname(
            python)), "lib", "python3*", "site-packages", "jqclient",
            "py.typed"))
        self.assertEqual(len(typed), 1)

    def test_sdist_installs_offline(self):
        sys.path.insert(0, os.path.join(HERE, "build_backend"))
        import jqbuild
        sdist = jqbuild.build_sdist(self.dir)
        python = self.venv("v2")
        self.pip_install(python, os.path.join(self.dir, sdist))
        with Server() as server:
            self.use(python, server)


if __name__ == "__main__":
    if not os.environ.get("JQD"):
        print("JQD is not set: skipping the packaging tests")
        sys.exit(77)
    if not venv_ok():
        print("%s -m venv fails (Debian: apt-get install python3-venv): "
              "skipping the packaging tests" % PYTHON)
        sys.exit(77)
    unittest.main()
