#!/bin/sh
# make check hook for the dashboard's browser tests (tests/browser/): the
# page jqd serves (PROTOCOL.md 16), loaded in Debian's headless Chromium
# driven by puppeteer-core, against a live jqd (the JQD under test) with
# data made through the protocol.  Screenshots of every view go to
# tests/browser/screenshots/ in the build tree.
#
# Needs node, Chromium (JQTEST_CHROMIUM, default /usr/bin/chromium;
# Debian: apt install chromium) and puppeteer-core, found in
# JQTEST_NODE_MODULES or else $(srcdir)/tests/browser/node_modules
# (`npm ci` in tests/browser: package-lock.json pins it; it never
# downloads a browser).  Without one of them the tests are skipped (exit
# 77, saying why) unless JQTEST_REQUIRE_BROWSER=1, which makes that a
# failure (CI sets it).
skip() {
  if test "$JQTEST_REQUIRE_BROWSER" = 1; then
    echo "$1 (JQTEST_REQUIRE_BROWSER=1: failing instead of skipping)"
    exit 1
  fi
  echo "$1: skipping the browser tests"
  exit 77
}
top=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd)
command -v node >/dev/null 2>&1 || skip "node not found (Debian: apt install nodejs)"
test -n "$JQD" || skip "JQD is not set"
case $JQD in
  /*) ;;
  *) JQD=$(pwd)/$JQD; export JQD ;;
esac
case $JQ_WORKER in
  /*|'') ;;
  *) JQ_WORKER=$(pwd)/$JQ_WORKER; export JQ_WORKER ;;
esac
JQTEST_CHROMIUM=${JQTEST_CHROMIUM:-/usr/bin/chromium}
test -x "$JQTEST_CHROMIUM" ||
    skip "no Chromium at $JQTEST_CHROMIUM (Debian: apt install chromium; or set JQTEST_CHROMIUM)"
JQTEST_NODE_MODULES=${JQTEST_NODE_MODULES:-$top/tests/browser/node_modules}
test -f "$JQTEST_NODE_MODULES/puppeteer-core/package.json" ||
    skip "puppeteer-core is not in $JQTEST_NODE_MODULES (cd tests/browser && npm ci; or set JQTEST_NODE_MODULES)"
JQTEST_SCREENSHOTS=${JQTEST_SCREENSHOTS:-${ABS_TOP_BUILDDIR:-$(pwd)}/tests/browser/screenshots}
export JQTEST_CHROMIUM JQTEST_NODE_MODULES JQTEST_SCREENSHOTS
# Each file starts its own jqd and Chromium, in a process of its own
# (node:test runs as many at once as there are cores less one: one here).
# A page stuck in a loop escapes node:test's per-test timeouts: the whole
# run is bounded too (it takes under a minute; two under a sanitizer).
cd "$top/tests/browser" || exit 1
exec timeout -k 10 300 node --test \
    views.test.mjs live.test.mjs actions.test.mjs security.test.mjs \
    readonly.test.mjs
