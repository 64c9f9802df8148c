#!/bin/sh
# make check's PostgreSQL part (issue 16): the store, channel, lease, job,
# conformance and crash tests again, with jqd on PostgreSQL
# (JQTEST_STORE=postgres; tests/integration/jqtest.py gives each jqd a
# schema of its own); then the failover tests: active/standby jqd on one
# schema (test_failover.py, on the same server), the PostgreSQL
# primary killed under load (test_pg_primary.py) and jqd's session ended
# by the server (test_pg_terminate.py), these two on clusters of their
# own.  They run on a throwaway cluster started here as an
# unprivileged user (tests/integration/pgcluster.py), or on the server
# JQTEST_PG names (a libpq keyword string or URI; a role that may create
# schemas).  Each file's result and time is printed, then a summary.
#
# Exit 77 (skipped) only when PostgreSQL is not installed (or, with
# JQTEST_PG, psql is missing) or JQD is unset; a cluster that does not
# start is a failure.
if test -z "$JQD"; then
	echo "JQD is not set: skipping the PostgreSQL tests"
	exit 77
fi
py=${PYTHON:-python3}
if ! command -v "$py" >/dev/null 2>&1; then
	echo "$py not found: skipping the PostgreSQL tests"
	exit 77
fi
top=$(cd "$(dirname "$0")/.." && pwd) || exit 99
pgc=$top/tests/integration/pgcluster.py
PYTHONPATH=$top/tests/integration${PYTHONPATH:+:$PYTHONPATH}
export PYTHONPATH

files="tests/integration/test_store.py
tests/integration/test_channels.py
tests/integration/test_leases.py
tests/integration/test_consumers.py
tests/integration/test_dead_letters.py
tests/integration/test_dedup.py
tests/integration/test_jobs.py
tests/integration/test_jobs_restart.py
tests/integration/test_select.py
tests/integration/test_values.py
tests/conformance/run.py
tests/soak/crashloop.py
tests/integration/test_failover.py
tests/integration/test_pg_primary.py
tests/integration/test_pg_terminate.py"

dir=
if test -n "$JQTEST_PG"; then
	if ! command -v psql >/dev/null 2>&1 &&
	    ! "$py" "$pgc" bindir >/dev/null 2>&1; then
		echo "JQTEST_PG is set but psql is not installed: skipping"
		exit 77
	fi
	echo "PostgreSQL: JQTEST_PG=$JQTEST_PG"
else
	"$py" "$pgc" bindir >/dev/null
	case $? in
	0) ;;
	77)
		echo "PostgreSQL is not installed: skipping the PostgreSQL tests"
		exit 77 ;;
	*) exit 99 ;;
	esac
	# The cluster runs as nobody when we are root: nobody must reach it.
	dir=$(mktemp -d "${TMPDIR:-/tmp}/jqd-pg.XXXXXX") || exit 99
	chmod 755 "$dir"
	cleanup() {
		"$py" "$pgc" stop "$dir/pg"
		rm -rf "$dir"
	}
	trap 'cleanup' EXIT
	trap 'exit 1' INT TERM HUP
	t0=$(date +%s)
	if ! JQTEST_PG=$("$py" "$pgc" start "$dir/pg"); then
		echo "FAIL: the PostgreSQL cluster in $dir/pg did not start"
		tail -n 50 "$dir/pg/postgres.log" 2>/dev/null
		exit 1
	fi
	echo "PostgreSQL: a cluster in $dir/pg ($(($(date +%s) - t0)) s)," \
	    "JQTEST_PG=$JQTEST_PG"
	# pgcluster.py's own tests: the clusters (their own) that this part
	# and the failover tests rest on.
	files="tests/integration/test_pgcluster.py
$files"
fi
JQTEST_STORE=postgres
export JQTEST_PG JQTEST_STORE

summary=
failed=0
ran=0
for f in $files; do
	args=
	case $f in
	*/crashloop.py) args="--cycles 5" ;;
	esac
	echo "== $f $args"
	t=$(date +%s)
	"$py" "$top/$f" $args
	rc=$?
	t=$(($(date +%s) - t))
	case $rc in
	0) res=PASS ran=$((ran + 1)) ;;
	77) res=SKIP ;;
	*) res="FAIL (exit $rc)" ran=$((ran + 1)) failed=$((failed + 1)) ;;
	esac
	echo "== $res: $f, $t s"
	summary="$summary
$res: $f, $t s"
done
echo
echo "== PostgreSQL tests, JQTEST_STORE=postgres:$summary"
if test "$failed" -gt 0; then
	echo "== $failed failed"
	exit 1
fi
test "$ran" -gt 0 || exit 77
exit 0
