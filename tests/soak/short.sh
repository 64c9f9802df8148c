#!/bin/sh
# The short soak and crash loop of `make check` (tests/soak/README.md):
# 45 s of mixed load over 300 connections, then 10 kill -9 cycles.
# JQD comes from AM_TESTS_ENVIRONMENT; without it the test is skipped.
if test -z "$JQD"; then
	echo "JQD is not set; skipping" >&2
	exit 77
fi
py=${PYTHON:-python3}
if ! command -v "$py" >/dev/null 2>&1; then
	echo "$py not found; skipping" >&2
	exit 77
fi
here=$(cd "$(dirname "$0")" && pwd) || exit 99
"$py" "$here/soak.py" --mode short --duration 45 --connections 300 || exit 1
"$py" "$here/crashloop.py" --cycles 10 || exit 1
