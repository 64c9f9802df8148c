#!/usr/bin/env python3
"""Run the jqd protocol conformance suite; see README.md.

    python3 tests/conformance/run.py [-v] [-k PATTERN] [MODULE...]

Exit status: 0 all passed, 1 a test failed (or the server misbehaved), 77
skipped (no server to test: neither JQ_CONFORMANCE_ADDR nor JQD set).
"""

import argparse
import faulthandler
import importlib.util
import os
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

MODULES = ("test_framing", "test_session", "test_channels", "test_select",
           "test_leases", "test_dead_letters", "test_jobs", "test_mux",
           "test_consumers", "test_dedup", "test_watch", "test_workers",
           "test_admin", "test_browse")

WATCHDOG_S = float(os.environ.get("JQ_CONFORMANCE_WATCHDOG", "600"))


def watchdog():
    sys.stderr.write("conformance: watchdog fired after %s s\n" % WATCHDOG_S)
    faulthandler.dump_traceback(all_threads=True)
    for s in harness.TARGET.aux + [harness.TARGET.server]:
        if s is not None and s.proc is not None:
            s.proc.kill()
    os._exit(1)


def load(name):
    """Import one of our modules by path: tests/integration, which may be
    on PYTHONPATH, has modules of the same names."""
    spec = importlib.util.spec_from_file_location(
        "conformance_" + name, os.path.join(HERE, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("-k", dest="patterns", action="append", default=[],
                    help="only tests whose name contains PATTERN")
    ap.add_argument("modules", nargs="*", metavar="MODULE",
                    help="areas to run (%s)" % ", ".join(
                        m[5:] for m in MODULES))
    args = ap.parse_args()

    mods = [m if m.startswith("test_") else "test_" + m
            for m in args.modules] or list(MODULES)
    for m in mods:
        if m not in MODULES:
            ap.error("no module %s" % m)

    skip = harness.setup()
    if skip:
        sys.stderr.write("conformance: skipped: %s\n" % skip)
        return 77
    timer = threading.Timer(WATCHDOG_S, watchdog)
    timer.daemon = True
    timer.start()

    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = ["*%s*" % p for p in args.patterns]
    suite = unittest.TestSuite()
    for m in mods:
        suite.addTests(loader.loadTestsFromModule(load(m)))

    t = harness.TARGET
    sys.stderr.write("conformance: target %s (%s), prefix %s\n" % (
        t.addr, "started here" if t.self_started else "external", t.prefix))
    start = time.monotonic()
    result = unittest.TextTestRunner(verbosity=2 if args.verbose else 1,
                                     stream=sys.stderr).run(suite)
    codes = harness.CODES
    if harness.TARGET.minor() >= 1:
        codes += harness.CODES_1_1
    problems = harness.teardown()
    timer.cancel()
    for p in problems:
        sys.stderr.write("conformance: %s\n" % p)
    missing = [c for c in codes if c not in harness.codes_seen]
    sys.stderr.write("conformance: %d tests, %d failures, %d errors, "
                     "%d skipped in %.1f s; error codes exercised %d/%d%s\n"
                     % (result.testsRun, len(result.failures),
                        len(result.errors), len(result.skipped),
                        time.monotonic() - start,
                        len(codes) - len(missing), len(codes),
                        " (not: %s)" % ", ".join(missing) if missing else ""))
    return 0 if result.wasSuccessful() and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
