#!/usr/bin/env python3
"""The clients' benchmark (issue 18): ping round trips per second on ONE
connection shared by 1, 8 and 64 concurrent callers, through each
language's client (multiplexed) and through the v1 single-connection
client it replaces, side by side against one private jqd.

    JQD=./jqd python3 bench/clients.py [--runs 3] [--seconds 5]
        [--callers 1,8,64] [--lang python,node,go,c]

Each (language, mode, callers) is run --runs times, the runs of the
different cells interleaved so that a noisy minute spreads over all of
them; the table gives the median round trips per second and the ratio
multiplexed / v1.  The per-language programs are bench/client-python.py,
bench/client-node.js, bench/client-go (built here with go build, offline)
and bench/client-c (`make bench/client-c`); each prints
"client=L mode=M callers=N ops=T rps=R".  A language whose toolchain or
program is missing is left out with a note.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

from jqtest import Server  # noqa: E402

# Per language: the modes it has (the first is the multiplexed client,
# "v1" the old one) and how to run it, given the build directory.
LANGS = {
    "python": (("mux", "aio", "v1"),
               lambda tmp: ["python3", os.path.join(HERE, "client-python.py")]),
    "node": (("mux", "v1"),
             lambda tmp: ["node", os.path.join(HERE, "client-node.js")]),
    "go": (("mux", "v1"), lambda tmp: [build_go(tmp)]),
    "c": (("mux", "v1"),
          lambda tmp: [os.path.join(os.environ.get("ABS_TOP_BUILDDIR", TOP),
                                    "bench", "client-c")]),
}


def build_go(tmp):
    if not shutil.which("go"):
        raise FileNotFoundError("go is not installed")
    exe = os.path.join(tmp, "client-go")
    env = dict(os.environ, GOPROXY="off", GOTOOLCHAIN="local", GOENV="off",
               GOCACHE=os.path.join(tmp, "gocache"),
               GOPATH=os.path.join(tmp, "gopath"), CGO_ENABLED="0")
    subprocess.run(["go", "build", "-o", exe, "."],
                   cwd=os.path.join(HERE, "client-go"), env=env, check=True)
    return exe


def run_one(argv, addr, mode, callers, seconds):
    out = subprocess.run(
        argv + ["--callers", str(callers), "--seconds", str(seconds),
                "--mode", mode],
        env=dict(os.environ, JQ_ADDR=addr), check=True,
        capture_output=True, text=True).stdout
    fields = dict(kv.split("=", 1) for kv in out.split())
    return float(fields["rps"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--callers", default="1,8,64")
    ap.add_argument("--lang", default=",".join(LANGS))
    args = ap.parse_args()
    callers = [int(n) for n in args.callers.split(",")]
    if not os.environ.get("JQD"):
        sys.exit("JQD is not set: JQD=./jqd python3 bench/clients.py")
    os.environ["JQD"] = os.path.abspath(os.environ["JQD"])
    tmp = tempfile.mkdtemp(prefix="jqd-bench-clients-")
    runners = {}
    for lang in args.lang.split(","):
        modes, make_argv = LANGS[lang]
        try:
            argv = make_argv(tmp)
            if not shutil.which(argv[0]) and not os.access(argv[0], os.X_OK):
                raise FileNotFoundError(argv[0] + " not found")
        except (FileNotFoundError, subprocess.CalledProcessError) as e:
            print("# %s left out: %s" % (lang, e))
            continue
        runners[lang] = (modes, argv)
    cells = [(lang, mode, n) for lang, (modes, _) in runners.items()
             for mode in modes for n in callers]
    results = {cell: [] for cell in cells}
    with Server() as server:
        addr = "unix:" + server.unix_path
        for _ in range(args.runs):
            for lang, mode, n in cells:
                results[(lang, mode, n)].append(
                    run_one(runners[lang][1], addr, mode, n, args.seconds))
    shutil.rmtree(tmp, ignore_errors=True)
    print("%-7s %-5s %8s %12s %10s" % ("client", "mode", "callers",
                                       "rps(median)", "vs v1"))
    for lang, mode, n in cells:
        med = statistics.median(results[(lang, mode, n)])
        v1 = statistics.median(results[(lang, "v1", n)])
        print("%-7s %-5s %8d %12.0f %9.2fx   runs %s" % (
            lang, mode, n, med, med / v1,
            " ".join("%.0f" % r for r in results[(lang, mode, n)])))


if __name__ == "__main__":
    main()
