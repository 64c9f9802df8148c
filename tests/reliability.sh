#!/bin/sh
# Every reliability check of RELIABILITY.md from one command.
#
#   tests/reliability.sh --short   # what CI runs (.ci/run): ~6 minutes
#   tests/reliability.sh --long    # the figures of RELIABILITY.md: hours
#
# Both build jqd twice in temporary directories: once with clang and
# libFuzzer (--enable-fuzzing), once plain.  Then:
#   1. fuzzing: each libFuzzer target from its seed corpus
#      (short: 30 s each; long: 30 min each);
#   2. the fault tests (full disk, slow reader, vanishing clients);
#   3. the soak test (short: 45 s, 300 connections; long: 10 min, 4000);
#   4. the kill -9 crash loop (short: 10 cycles; long: 50);
#   5. the remote workers' fault loop (short: 60 cycles; long: 500;
#      root only: its agents run in PID and network namespaces);
#   6. long only: valgrind memcheck on integration tests.
# Needs root for the full-disk test (tmpfs) and clang + libclang-rt-14-dev
# for the fuzzers (.ci/deps installs them).  Exits non-zero on the first
# failure.
set -eu

mode=${1:---short}
case $mode in
--short)
	fuzz_s=30 soak="--mode short --duration 45 --connections 300"
	cycles=10 fault_cycles=60 ;;
--long)
	fuzz_s=1800 soak="--mode long --duration 600 --connections 4000"
	cycles=50 fault_cycles=500 ;;
*)
	echo "usage: $0 [--short|--long]" >&2
	exit 2 ;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/jqd-reliability.XXXXXX)
trap 'rm -rf "$work"' EXIT
# A copy of the tree of our own: the checkout may be configured in place,
# which rules out the out-of-tree builds below.
src=$work/src
if [ -d "$top/.git" ]; then
	git clone -q "$top" "$src"
else
	cp -a "$top" "$src" && (cd "$src" && make distclean >/dev/null 2>&1 || :)
fi
(cd "$src" && autoreconf -fi >/dev/null 2>&1)

step() { printf '\n== %s\n' "$*"; }

step "fuzzing: build with clang and libFuzzer"
mkdir "$work/fuzz"
(cd "$work/fuzz" && CC=clang "$src/configure" --enable-fuzzing >/dev/null &&
    make -j2 tests/fuzz/fuzz-frame tests/fuzz/fuzz-request \
    tests/fuzz/fuzz-dispatch >/dev/null)
for t in frame request dispatch; do
	step "fuzzing: fuzz-$t for $fuzz_s s"
	mkdir -p "$work/corpus-$t" "$work/art-$t"
	"$work/fuzz/tests/fuzz/fuzz-$t" -max_total_time="$fuzz_s" \
	    -max_len=4096 -timeout=30 -print_final_stats=1 \
	    -dict="$src/tests/fuzz/jqd.dict" \
	    -artifact_prefix="$work/art-$t/" \
	    "$work/corpus-$t" "$src/tests/fuzz/corpus-$t" 2>&1 |
	    grep -E '^(stat::|Done|==|SUMMARY|INFO: (Running|Loaded))' || true
	if ls "$work/art-$t"/* >/dev/null 2>&1; then
		echo "fuzz-$t found a failing input: $(ls "$work/art-$t")" >&2
		cp "$work/art-$t"/* "$top/tests/fuzz/regressions/$t/" || :
		exit 1
	fi
done

step "plain build"
mkdir "$work/build"
(cd "$work/build" && "$src/configure" >/dev/null && make -j2 >/dev/null)
JQD=$work/build/jqd JQ_CLIENT=$work/build/jq-client
JQ_WORKER=$work/build/jq-worker
PYTHONPATH=$src/tests/integration
export JQD JQ_CLIENT JQ_WORKER PYTHONPATH

step "faults"
python3 "$src/tests/integration/test_faults.py"

step "soak: $soak"
# shellcheck disable=SC2086
python3 "$src/tests/soak/soak.py" $soak

step "crash loop: $cycles kill -9 cycles"
python3 "$src/tests/soak/crashloop.py" --cycles "$cycles"

step "remote workers' fault loop: $fault_cycles cycles"
# Exit 77: skipped (not root); it says why.
python3 "$src/tests/integration/test_worker_faultloop.py" \
    --cycles "$fault_cycles" || [ $? -eq 77 ]

if [ "$mode" = --long ]; then
	step "valgrind memcheck on integration tests"
	for t in test_channels test_leases test_store; do
		JQD_WRAPPER='valgrind --error-exitcode=99 --leak-check=full' \
		JQTEST_TIMEOUT_SCALE=10 \
		    python3 "$src/tests/integration/$t.py"
	done
fi
step "all reliability checks passed ($mode)"
