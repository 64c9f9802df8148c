#!/bin/sh
# make check hook for the dashboard's pure JavaScript helpers
# (daemon/dashboard/fmt.js, api.js): node:test, no browser.  Exit 77
# (skipped) when node is not installed.  The page itself is tested in a
# browser (tests/browser/).
if ! command -v node >/dev/null 2>&1; then
  echo "node not found: skipping the dashboard helper tests"
  exit 77
fi
top=${srcdir:-$(dirname "$0")/..}
exec timeout -k 10 120 node --test "$top"/tests/dashboard/*.test.mjs
