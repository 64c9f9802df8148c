#!/usr/bin/env bash
#
# Channels benchmark: jqd against beanstalkd and Redis, each doing durable
# queueing on this machine's disk.  See bench/README.md.
#
#   bench/run.sh [--quick] [--seconds S] [--messages M] [--reps N]
#                [--dir DIR] [--port-base P] [--out FILE] [--rev REV]
#                [--keyed] [--servers NAME,...]
#
# Servers (each started fresh, on its own loopback port, with a new data
# directory under --dir, for every scenario):
#   jqd-full        jqd --sync full (default: fsync per commit)
#   jqd-normal      jqd --sync normal (no fsync)
#   redis-always    redis-server --appendonly yes --appendfsync always
#   redis-everysec  redis-server --appendonly yes --appendfsync everysec
#   beanstalkd      beanstalkd -b DIR -f 0 (fsync on every binlog write)
#   jqd-pg-full     jqd --store postgres:... --sync full (synchronous_commit
#                   on: the commit waits for PostgreSQL's WAL flush)
#   jqd-pg-normal   jqd --store postgres:... --sync normal (synchronous_commit
#                   off)
# The two jqd-pg share one PostgreSQL cluster that this script starts in
# the work directory under --dir (fsync on; the same disk as SQLite's
# database) and stops at the end; each start gets a schema of its own,
# dropped when it stops.  --servers picks some of the seven (a comma-
# separated list; default all).
#
# Scenarios (producers x consumers, requests in flight per connection):
#   1x1   1 producer, 1 consumer, request/response
#   4x4   4 producers, 4 consumers, request/response
#   4x4p  4 producers, 4 consumers, pipeline 32 (32 requests in flight on
#         each connection: 256 at once, far below every server's limits,
#         enough to keep a 2-core machine busy)
#
# Each (server, scenario) is first probed with growing message counts (a
# warm-up) to pick a count that takes about --seconds, then run --reps
# times; the table gives the median msgs/s.  --messages fixes the count
# instead.  --keyed: jqd's sends carry a unique "key" each (idempotent
# sends, PROTOCOL.md 6.6), to measure what deduplication costs.  jqd is
# built from the working tree, or from commit REV with --rev (exported
# with git archive).  Environment: JQD=path uses an
# existing jqd binary instead; CC, CFLAGS for jqbench.
#
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)

target_s=3
fixed_messages=
reps=3
base_dir=${TMPDIR:-/tmp}
port_base=27411
out=
rev=
quick=0
keyed=
all_servers=(jqd-full jqd-normal redis-always redis-everysec beanstalkd
    jqd-pg-full jqd-pg-normal)
servers=("${all_servers[@]}")

usage() {
	sed -n '5,8p' "$0" | sed 's/^# *//' >&2
	exit 2
}

# has NAME: NAME is among the servers compared.
has() {
	local s
	for s in "${servers[@]}"; do
		[ "$s" = "$1" ] && return 0
	done
	return 1
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--keyed) keyed=--keyed ;;
	--seconds) target_s=$2; shift ;;
	--messages) fixed_messages=$2; shift ;;
	--reps) reps=$2; shift ;;
	--dir) base_dir=$2; shift ;;
	--port-base) port_base=$2; shift ;;
	--out) out=$2; shift ;;
	--rev) rev=$2; shift ;;
	--servers) IFS=, read -r -a servers <<<"$2"; shift ;;
	*) usage ;;
	esac
	shift
done
if [ "$quick" = 1 ]; then
	target_s=0.5
	reps=1
fi
for s in "${servers[@]}"; do
	case " ${all_servers[*]} " in
	*" $s "*) ;;
	*) printf 'run.sh: unknown server %s (known: %s)\n' "$s" \
	    "${all_servers[*]}" >&2; exit 2 ;;
	esac
done
[ "${#servers[@]}" -gt 0 ] || usage

pids=()
work=$(mktemp -d "$base_dir/jqbench.XXXXXX")
log=$work/run.log

pg_started=
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ -n "$pg_started" ]; then
		python3 "$pgcluster" stop "$work/pg" >&2 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*" >&2; }
die() { say "run.sh: $*"; exit 1; }

# --- peers -----------------------------------------------------------------

if { has beanstalkd && ! command -v beanstalkd >/dev/null; } ||
    { { has redis-always || has redis-everysec; } &&
    ! command -v redis-server >/dev/null; }
then
	[ "$(id -u)" = 0 ] || die "beanstalkd and redis-server are needed: " \
	    "apt-get install beanstalkd redis-server (as root)"
	say "installing beanstalkd and redis-server"
	DEBIAN_FRONTEND=noninteractive apt-get install -y beanstalkd \
	    redis-server >"$work/apt.log" 2>&1 || {
		apt-get update >>"$work/apt.log" 2>&1
		DEBIAN_FRONTEND=noninteractive apt-get install -y beanstalkd \
		    redis-server >>"$work/apt.log" 2>&1
	} || die "apt-get install failed, see $work/apt.log"
fi

# --- build -----------------------------------------------------------------

build_failed() {
	tail -n 30 "$work"/build/*.log >&2 || true
	die "building jqd failed"
}

if [ -n "${JQD:-}" ]; then
	jqd=$JQD
	jqd_version="$JQD"
else
	src=$top
	if [ -n "$rev" ]; then
		# A commit, exported: what is measured is exactly that commit.
		src=$work/src
		mkdir -p "$src"
		git -C "$top" archive "$rev" | tar -x -C "$src" ||
		    die "cannot export $rev"
		jqd_version=$(git -C "$top" rev-parse --short "$rev")
	else
		jqd_version=$(git -C "$top" describe --always --dirty \
		    2>/dev/null || echo '?')" (working tree)"
	fi
	say "building jqd ($jqd_version) in $work/build"
	mkdir -p "$work/build"
	if [ ! -x "$src/configure" ]; then
		(cd "$src" && autoreconf -fi) >"$work/build/autoreconf.log" \
		    2>&1 || build_failed
	fi
	(cd "$work/build" && "$src/configure" >configure.log 2>&1 &&
	    make -j"$(nproc)" jqd >make.log 2>&1) || build_failed
	jqd=$work/build/jqd
fi
[ -x "$jqd" ] || die "no jqd at $jqd"
${CC:-cc} ${CFLAGS:--O2} -pthread "$here/jqbench.c" -o "$work/jqbench" ||
    die "building jqbench failed"
jqbench=$work/jqbench

# --- PostgreSQL ------------------------------------------------------------

# One cluster for the jqd-pg servers, in the work directory (the disk
# SQLite's databases are on), fsync on.  pgcluster.py runs it as nobody
# when we are root: the work directory must let others through.
pgcluster=$top/tests/integration/pgcluster.py
pg_conninfo=
psql=
if has jqd-pg-full || has jqd-pg-normal; then
	pgbin=$(python3 "$pgcluster" bindir) ||
	    die "the jqd-pg servers need PostgreSQL (Debian: apt-get install" \
		"postgresql), or leave them out with --servers"
	psql=$pgbin/psql
	chmod go+x "$work"
	say "starting PostgreSQL in $work/pg"
	pg_started=1
	pg_conninfo=$(python3 "$pgcluster" start "$work/pg") ||
	    die "cannot start PostgreSQL (log: $work/pg/postgres.log)"
fi

# pg_sql SQL: run it on the cluster, print the rows (unaligned).
pg_sql() {
	"$psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$pg_conninfo" \
	    -c 'SET client_min_messages = warning' -c "$1"
}

# CPU time so far of the cluster's processes, the postmaster and its
# children (user + system, clock ticks).  Those that ended since are not
# counted: a jqd's backend lives as long as the jqd.
pg_ticks() {
	local pm
	pm=$(head -1 "$work/pg/data/postmaster.pid")
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v pm="$pm" \
	    '$1 == pm || $4 == pm { t += $14 + $15 } END { print t + 0 }'
}

# --- machine ---------------------------------------------------------------

fsync_ms() {
	# 1000 synchronous 4 KiB writes (O_DSYNC) in the data directory: the
	# seconds they take are the milliseconds one takes.
	local secs
	secs=$(dd if=/dev/zero of="$work/fsync.test" bs=4k count=1000 \
	    oflag=dsync 2>&1 | sed -n 's/.* copied, \([0-9.]*\) s.*/\1/p')
	rm -f "$work/fsync.test"
	awk -v s="$secs" 'BEGIN { printf "%.3f", s }'
}

pkgver() {
	pkg-config --modversion "$1" 2>/dev/null || echo '?'
}

machine() {
	local fs
	fs=$(df -T "$work" | awk 'NR == 2 { print $2 " (" $1 ")" }')
	echo "- CPU: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' \
	    /proc/cpuinfo | head -1)"
	echo "- Memory: $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' \
	    /proc/meminfo)"
	echo "- Kernel: $(uname -sr)"
	echo "- Data directory filesystem: $fs"
	echo "- Synchronous 4 KiB write (dd oflag=dsync, 1000 writes):" \
	    "$(fsync_ms) ms each"
	local alloc="the C library's malloc"
	if ldd "$jqd" 2>/dev/null | grep -q libjemalloc; then
		alloc=jemalloc
	fi
	local peers=
	if has redis-always || has redis-everysec; then
		peers+="; $(redis-server --version | cut -d' ' -f1-3)"
	fi
	if has beanstalkd; then
		peers+="; $(beanstalkd -v)"
	fi
	echo "- jqd $jqd_version ($alloc), SQLite $(pkgver sqlite3), libevent" \
	    "$(pkgver libevent)$peers"
	if [ -n "$pg_conninfo" ]; then
		echo "- PostgreSQL $(pg_sql 'SHOW server_version'), libpq" \
		    "$(pkgver libpq), over its Unix socket; fsync" \
		    "$(pg_sql 'SHOW fsync'), wal_sync_method" \
		    "$(pg_sql 'SHOW wal_sync_method'), shared_buffers" \
		    "$(pg_sql 'SHOW shared_buffers'), initdb's other defaults"
	fi
	echo "- Client: jqbench on the same machine (shares the cores)," \
	    "TCP over loopback, 100-byte messages"
}

# --- servers ---------------------------------------------------------------

# Each server has its port whichever are chosen.
port_of() {
	local i
	for i in "${!all_servers[@]}"; do
		if [ "${all_servers[$i]}" = "$1" ]; then
			echo $((port_base + i))
			return 0
		fi
	done
	return 1
}

proto_of() {
	case $1 in
	jqd-*) echo jqd ;;
	redis-*) echo redis ;;
	beanstalkd) echo beanstalkd ;;
	esac
}

port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

declare -A spid		# [server] = pid of the running server
declare -A sdir		# [server] = its data directory
declare -A sschema	# [server] = its PostgreSQL schema (jqd-pg)

# start_server NAME DIR: start it and wait until it serves.
start_server() {
	local name=$1 dir=$2 port pid i
	port=$(port_of "$name")
	port_open "$port" && die "port $port is already in use (--port-base)"
	mkdir -p "$dir"
	case $name in
	jqd-full | jqd-normal)
		"$jqd" --listen "127.0.0.1:$port" --insecure-tcp \
		    --db "$dir/jqd.db" \
		    --sync "${name#jqd-}" 2>"$dir/server.log" &
		;;
	jqd-pg-*)
		# A new schema, named after the directory (server and
		# scenario); application_name finds its backend.
		local schema store
		schema=$(basename "$dir" | tr -c 'a-z0-9\n' _)
		pg_sql "DROP SCHEMA IF EXISTS $schema CASCADE;
		    CREATE SCHEMA $schema" >/dev/null ||
		    die "cannot create schema $schema"
		sschema[$name]=$schema
		store="postgres:$pg_conninfo application_name=$schema"
		store+=" options='-c search_path=$schema'"
		"$jqd" --listen "127.0.0.1:$port" --insecure-tcp \
		    --store "$store" --sync "${name#jqd-pg-}" \
		    2>"$dir/server.log" &
		;;
	redis-always | redis-everysec)
		redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" \
		    --save '' --appendonly yes \
		    --appendfsync "${name#redis-}" --daemonize no \
		    >"$dir/server.log" 2>&1 &
		;;
	beanstalkd)
		beanstalkd -l 127.0.0.1 -p "$port" -b "$dir" -f 0 \
		    >"$dir/server.log" 2>&1 &
		;;
	esac
	pid=$!
	pids+=("$pid")
	spid[$name]=$pid
	sdir[$name]=$dir
	for i in $(seq 100); do
		if case $name in
		jqd-*) grep -q 'info: ready' "$dir/server.log" ;;
		*) port_open "$port" ;;
		esac
		then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$dir/server.log" >&2
	die "$name did not start"
}

stop_server() {
	local pid=${spid[$1]} p left=()
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for p in "${pids[@]}"; do
		[ "$p" = "$pid" ] || left+=("$p")
	done
	pids=("${left[@]}")
	rm -rf "${sdir[$1]}"
	if [ -n "${sschema[$1]:-}" ]; then
		pg_sql "DROP SCHEMA ${sschema[$1]} CASCADE" >/dev/null ||
		    say "run.sh: cannot drop schema ${sschema[$1]}"
		unset "sschema[$1]"
	fi
}

# Server CPU time so far (user + system, all threads), in clock ticks.
server_ticks() {
	awk '{ print $14 + $15 }' "/proc/${spid[$1]}/stat"
}

# jqd's stats reply (one JSON line).
jqd_stats() {
	local line
	exec 3<>"/dev/tcp/127.0.0.1/$1"
	printf '{"op":"stats"}\n' >&3
	IFS= read -r -t 10 line <&3 || line=
	exec 3<&-
	printf '%s\n' "$line"
}

# json_num JSON KEY: the first number after "KEY": (flat extraction).
json_num() {
	printf '%s\n' "$1" | grep -o "\"$2\":[0-9.eE+-]*" | head -1 |
	    cut -d: -f2
}

# --- runs ------------------------------------------------------------------

scenarios=(1x1 4x4 4x4p)
declare -A scen_args=(
	[1x1]="--producers 1 --consumers 1 --pipeline 1"
	[4x4]="--producers 4 --consumers 4 --pipeline 1"
	[4x4p]="--producers 4 --consumers 4 --pipeline 32"
)
declare -A scen_title=(
	[1x1]="1x1: 1 producer x 1 consumer, request/response"
	[4x4]="4x4: 4 producers x 4 consumers, request/response"
	[4x4p]="4x4p: 4 producers x 4 consumers, pipeline 32"
)
declare -A rates	# [server,scenario] = msgs/s of each run
declare -A cpus		# [server,scenario] = server CPU us/msg, each run
declare -A pcpus	# [server,scenario] = PostgreSQL's CPU us/msg, each run
declare -A result	# [server,scenario] = median msgs/s, or FAIL
declare -A cpu		# [server,scenario] = median server CPU us/msg
declare -A pcpu		# [server,scenario] = median PostgreSQL CPU us/msg
declare -A stats	# [server,scenario] = jqd stats line
declare -A count	# [server,scenario] = messages per timed run
hz=$(getconf CLK_TCK)

# bench NAME SCENARIO M: one jqbench run.  Sets secs, rate, cpu_us
# (server CPU per message) and pg_us (the PostgreSQL cluster's CPU per
# message, jqd-pg only); returns 1 if the run failed.
bench() {
	local line rc=0 t0 t1 p0=0 p1=0
	if [[ $1 == jqd-pg-* ]]; then
		p0=$(pg_ticks)
	fi
	t0=$(server_ticks "$1" 2>/dev/null || echo 0)
	line=$(timeout 300 "$jqbench" --proto "$(proto_of "$1")" \
	    ${keyed:+$([ "$(proto_of "$1")" = jqd ] && echo "$keyed")} \
	    --addr "127.0.0.1:$(port_of "$1")" ${scen_args[$2]} \
	    --messages "$3" --timeout 30 2>"$work/err") || rc=$?
	t1=$(server_ticks "$1" 2>/dev/null || echo "$t0")
	if [[ $1 == jqd-pg-* ]]; then
		p1=$(pg_ticks)
	fi
	cat "$work/err" >>"$log"
	echo "$1 $2 rc=$rc $line" >>"$log"
	if [ "$rc" != 0 ]; then
		say "  $1 $2 messages=$3: jqbench exit $rc: $(cat "$work/err")"
		say "  $1 server log (last lines):"
		tail -n 5 "${sdir[$1]}/server.log" | sed 's/^/    /' >&2
		tail -n 20 "${sdir[$1]}/server.log" >>"$log"
		return 1
	fi
	secs=$(printf '%s\n' "$line" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
	rate=$(printf '%s\n' "$line" | sed 's/.*msgs_per_sec=\([0-9]*\).*/\1/')
	cpu_us=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v m="$3" \
	    'BEGIN { printf "%.1f", t / hz * 1e6 / m }')
	pg_us=
	if [[ $1 == jqd-pg-* ]]; then
		pg_us=$(awk -v t=$((p1 - p0)) -v hz="$hz" -v m="$3" \
		    'BEGIN { printf "%.1f", t / hz * 1e6 / m }')
	fi
	say "  $1 $2: $line server_cpu_us_per_msg=$cpu_us${pg_us:+" postgres_cpu_us_per_msg=$pg_us"}"
}

# calibrate NAME SCENARIO: a message count taking about target_s.  Runs
# grow until one takes a second (the first ones warm the server up and
# grow SQLite's WAL and the AOF), then the count is scaled.
calibrate() {
	local m=1000
	[ "$quick" = 1 ] && m=300
	while :; do
		bench "$1" "$2" "$m" || return 1
		if awk -v s="$secs" -v q="$quick" \
		    'BEGIN { exit !(s < (q ? 0.2 : 1)) }' &&
		    [ "$m" -lt 5000000 ]; then
			m=$(awk -v m="$m" -v s="$secs" 'BEGIN {
				f = 1.5 / (s > 0 ? s : 0.001)
				f = f < 2 ? 2 : f > 10 ? 10 : f
				print int(m * f) }')
			continue
		fi
		count[$1,$2]=$(awk -v m="$m" -v s="$secs" -v t="$target_s" \
		    'BEGIN { n = m * t / s; n = int(n / 1000 + 0.5) * 1000
			print n < 1000 ? 1000 : n }')
		return 0
	done
}

median() {
	tr ' ' '\n' | grep . | sort -n |
	    awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# One scenario: every server started fresh, calibrated, then the timed
# runs interleaved (server after server, rep after rep) so that a slow
# spell of the machine hits all of them alike.
run_scenario() {
	local c=$1 s r
	say "scenario ${scen_title[$c]}"
	for s in "${servers[@]}"; do
		start_server "$s" "$work/data/$s-$c"
	done
	for s in "${servers[@]}"; do
		if [ -n "$fixed_messages" ]; then
			count[$s,$c]=$fixed_messages
		elif ! calibrate "$s" "$c"; then
			result[$s,$c]=FAIL
		fi
	done
	for r in $(seq "$reps"); do
		for s in "${servers[@]}"; do
			[ "${result[$s,$c]:-}" = FAIL ] && continue
			if ! bench "$s" "$c" "${count[$s,$c]}"; then
				result[$s,$c]=FAIL
				continue
			fi
			rates[$s,$c]+=" $rate"
			cpus[$s,$c]+=" $cpu_us"
			pcpus[$s,$c]+=" $pg_us"
		done
	done
	for s in "${servers[@]}"; do
		if [ "${result[$s,$c]:-}" != FAIL ]; then
			result[$s,$c]=$(median <<<"${rates[$s,$c]}")
			cpu[$s,$c]=$(median <<<"${cpus[$s,$c]}")
			if [[ $s == jqd-pg-* ]]; then
				pcpu[$s,$c]=$(median <<<"${pcpus[$s,$c]}")
			fi
		fi
		if [[ $s == jqd-* ]] && kill -0 "${spid[$s]}" 2>/dev/null; then
			stats[$s,$c]=$(jqd_stats "$(port_of "$s")" || true)
			echo "$s $c stats ${stats[$s,$c]}" >>"$log"
		fi
		stop_server "$s"
	done
}

ratio() {
	case "$1$2" in
	*FAIL* | *-*) echo "-" ;;
	*) awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' ;;
	esac
}

table_head() {
	printf '| scenario |'
	printf ' %s |' "${servers[@]}"
	printf '%s\n' "$1"
	printf '|---|'
	for s in "${servers[@]}"; do printf -- '--:|'; done
	printf '%s\n' "$2"
}

# The ratios of the throughput table, A/B, those whose A and B both ran.
all_ratios=(jqd-full/redis-always jqd-full/beanstalkd
    jqd-normal/redis-everysec jqd-pg-full/jqd-full jqd-pg-normal/jqd-normal)
ratios=()
for r in "${all_ratios[@]}"; do
	if has "${r%/*}" && has "${r#*/}"; then
		ratios+=("$r")
	fi
done

report() {
	local s n c r head=' ' rule=
	echo "### Machine"
	echo
	machine
	echo "- Load average before / after the runs: $load0 / $load1"
	echo
	echo "### Throughput (median msgs/s of $reps runs; a message is" \
	    "produced and consumed)"
	echo
	for r in "${ratios[@]}"; do
		head+="${r%/*} / ${r#*/} | "
		rule+='--:|'
	done
	table_head "${head% }" "$rule"
	for c in "${scenarios[@]}"; do
		printf '| %s |' "${scen_title[$c]}"
		for s in "${servers[@]}"; do
			printf ' %s |' "${result[$s,$c]:--}"
		done
		for r in "${ratios[@]}"; do
			printf ' %s |' "$(ratio "${result[${r%/*},$c]:--}" \
			    "${result[${r#*/},$c]:--}")"
		done
		echo
	done
	echo
	printf 'Messages per timed run:'
	for c in "${scenarios[@]}"; do
		printf ' %s:' "$c"
		for s in "${servers[@]}"; do
			printf ' %s %s,' "$s" "${count[$s,$c]:--}"
		done
	done | sed 's/,$//; s/, \([0-9a-z]*:\)/; \1/g'
	echo '.'
	echo
	echo "### Server CPU per message (median microseconds, user +" \
	    "system, all threads)"
	echo
	if has jqd-pg-full || has jqd-pg-normal; then
		echo "jqd-pg: jqd's + the PostgreSQL cluster's (the postmaster" \
		    "and all its processes: jqd's backend, WAL writer," \
		    "checkpointer...)."
		echo
	fi
	table_head '' ''
	for c in "${scenarios[@]}"; do
		printf '| %s |' "${scen_title[$c]}"
		for s in "${servers[@]}"; do
			printf ' %s%s |' "${cpu[$s,$c]:--}" \
			    "${pcpu[$s,$c]:+" + ${pcpu[$s,$c]}"}"
		done
		echo
	done
	echo
	echo "### jqd group commit (stats at the end of each scenario:" \
	    "calibration plus $reps runs)"
	echo
	echo "| jqd | scenario | commits | send+recv | acknowledged ops" \
	    "per commit | changes_per_commit | commit ms avg | commit ms max |"
	echo "|---|---|--:|--:|--:|--:|--:|--:|"
	for s in "${servers[@]}"; do
		[[ $s == jqd-* ]] || continue
		for c in "${scenarios[@]}"; do
			n=${stats[$s,$c]:-}
			[ -n "$n" ] || continue
			awk -v s="$s" -v c="$c" \
			    -v commits="$(json_num "$n" commits)" \
			    -v sends="$(json_num "$n" send)" \
			    -v recvs="$(json_num "$n" recv)" \
			    -v cpc="$(json_num "$n" changes_per_commit)" \
			    -v avg="$(json_num "$n" avg)" \
			    -v max="$(json_num "$n" max)" 'BEGIN {
				ops = sends + recvs
				printf "| %s | %s | %d | %d | %.1f | %.2f |" \
				    " %.3f | %.3f |\n", s, c, commits, ops,
				    commits ? ops / commits : 0, cpc, avg, max
			}'
		done
	done
}

say "work directory $work (data on $(df -T "$work" | awk 'NR == 2 {
    print $2 }'))"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for c in "${scenarios[@]}"; do
	run_scenario "$c"
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
say ""
if [ -n "$out" ]; then
	report | tee "$out"
	cp "$log" "$out.log"
else
	report
fi
failed=0
for c in "${scenarios[@]}"; do
	for s in "${servers[@]}"; do
		[ "${result[$s,$c]:-}" = FAIL ] && failed=1
	done
done
exit $failed
