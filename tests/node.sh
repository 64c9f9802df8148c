#!/bin/sh
# make check hook for the Node.js client (client/node): runs its node:test
# suite against the jqd under test.  Exit 77 (skip) when node is not
# installed or JQD (path to the jqd binary, set by make check) is unset.
if ! command -v node >/dev/null 2>&1; then
  echo "node not found: skipping the Node.js client tests"
  exit 77
fi
if test -z "$JQD"; then
  echo "JQD is not set: skipping the Node.js client tests"
  exit 77
fi
case $JQD in
  /*) ;;
  *) JQD=$(pwd)/$JQD; export JQD ;;
esac
top=${srcdir:-$(dirname "$0")/..}
cd "$top/client/node" || exit 1
# A test stuck in a synchronous loop never reaches node:test's own
# per-test timeouts: bound the whole suite (it takes well under a minute).
exec timeout -k 10 600 node --test
