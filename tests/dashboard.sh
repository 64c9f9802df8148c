#!/bin/sh
# make check hook for the dashboard's pure JavaScript helpers
# (daemon/dashboard/fmt.js, api.js): node:test, no browser; and
# views.test.mjs, the views' lifecycle in Chromium against $JQD (its tests
# skip themselves without Chromium or puppeteer-core).  Exit 77 (skipped)
# when node is not installed.  The page as a whole is tested in a browser
# (tests/browser/).
if ! command -v node >/dev/null 2>&1; then
  echo "node not found: skipping the dashboard helper tests"
  exit 77
fi
top=${srcdir:-$(dirname "$0")/..}
exec timeout -k 10 120 node --test "$top"/tests/dashboard/*.test.mjs
