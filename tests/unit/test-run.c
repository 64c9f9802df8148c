/*
 * Unit tests for the process runner (daemon/run.c), linked alone: no job
 * code, as jq-worker links it.
 *
 * Real processes (sh) on a real event base: output captured and cut at
 * max_output, progress lines, stdin, exit status, kills with and without
 * the grace, the group's leftovers killed at exit, pipes held open from
 * outside the group given up after RUN_DRAIN_MS, a run freed early, the
 * child's descriptor limit, starts that fail; then the environment and
 * working directory helpers and the crash clean-up's decision.  Every
 * wait is on an event, bounded by WAIT_S.
 */
#include <sys/resource.h>
#include <sys/wait.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "run.h"
#include "strbuf.h"
#include "tap.h"

#define WAIT_S	30

struct rec {
	struct run	*run;
	struct strbuf	 out[RUN_NSTREAMS];
	bool		 truncated[RUN_NSTREAMS];
	size_t		 reported[RUN_NSTREAMS];	/* through output() */
	int		 ends[RUN_NSTREAMS];
	bool		 ends_first;	/* output(end) before exited */
	bool		 bad_from;	/* from was not what was held */
	int		 nprogress;
	int64_t		 done, total;
	int		 exited;
	int		 status;
};

static struct event_base	*base;
static struct runner		*runner;

static int64_t
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
rec_output(void *arg, int stream, const char *buf, size_t from, size_t len,
    bool end)
{
	struct rec	*rc = arg;

	if (from != rc->reported[stream] || buf != rc->out[stream].data ||
	    len != rc->out[stream].len)
		rc->bad_from = true;
	rc->reported[stream] = len;
	if (end) {
		rc->ends[stream]++;
		if (from != len)
			rc->bad_from = true;
	}
}

static void
rec_progress(void *arg, int64_t done, int64_t total)
{
	struct rec	*rc = arg;

	rc->nprogress++;
	rc->done = done;
	rc->total = total;
}

static void
rec_exited(void *arg, int status)
{
	struct rec	*rc = arg;

	rc->ends_first = rc->ends[0] == 1 && rc->ends[1] == 1;
	rc->exited++;
	rc->status = status;
	run_free(rc->run);
	rc->run = NULL;
}

static const struct run_cbs rec_cbs = {
	.output = rec_output,
	.progress = rec_progress,
	.exited = rec_exited,
};

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Run the loop until done(rc, n); false if that took over WAIT_S. */
static bool
loop_until_cond(bool (*done)(const struct rec *, size_t), const struct rec *rc,
    size_t n)
{
	int64_t		 end = mono_ms() + WAIT_S * 1000;
	struct timeval	 tv = { 0, 20 * 1000 };
	struct event	*tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);

	event_add(tick, &tv);
	while (!done(rc, n) && mono_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(tick);
	return done(rc, n);
}

static bool
rec_has_exited(const struct rec *rc, size_t n)
{
	return rc->exited != 0;
}

static bool
rec_has_output(const struct rec *rc, size_t n)
{
	return rc->out[RUN_STDOUT].len >= n;
}

/* The run exited. */
static bool
loop_until_exited(struct rec *rc)
{
	return loop_until_cond(rec_has_exited, rc, 0);
}

/* Its stdout reached n bytes. */
static bool
loop_until_output(struct rec *rc, size_t n)
{
	return loop_until_cond(rec_has_output, rc, n);
}

static void
rec_fini(struct rec *rc)
{
	int	 i;

	run_free(rc->run);
	for (i = 0; i < RUN_NSTREAMS; i++)
		strbuf_fini(&rc->out[i]);
}

/* Start sh -c script; the run is in rc->run, NULL (err set) if not. */
static struct run *
start_full(struct rec *rc, char *const *argv, const char *cwd,
    const char *in, uint64_t max_output, int64_t grace_ms, uint64_t nofile,
    char *err, size_t errlen)
{
	static char *const env[] = { "PATH=/usr/bin:/bin", NULL };
	struct run_spec	 spec;
	int		 i;

	memset(rc, 0, sizeof(*rc));
	memset(&spec, 0, sizeof(spec));
	spec.argv = argv;
	spec.env = env;
	spec.cwd = cwd;
	spec.stdin_data = in;
	spec.stdin_len = in != NULL ? strlen(in) : 0;
	spec.max_output = max_output;
	spec.kill_grace_ms = grace_ms;
	spec.nofile = nofile;
	for (i = 0; i < RUN_NSTREAMS; i++) {
		spec.out[i] = &rc->out[i];
		spec.truncated[i] = &rc->truncated[i];
	}
	rc->run = run_start(runner, &spec, &rec_cbs, rc, err, errlen);
	return rc->run;
}

static struct run *
start_sh(struct rec *rc, const char *script, const char *in,
    uint64_t max_output, int64_t grace_ms)
{
	char	*argv[] = { "sh", "-c", (char *)script, NULL };
	char	 err[256];

	if (start_full(rc, argv, "/", in, max_output, grace_ms, 0, err,
	    sizeof(err)) == NULL)
		tap_bail(err);
	return rc->run;
}

static void
test_output(void)
{
	struct rec	 rc;

	start_sh(&rc, "printf out; printf err >&2; exit 3", NULL, 1024, 1000);
	ok(run_pid(rc.run) > 0, "started: a pid");
	ok(loop_until_exited(&rc), "exited");
	ok(WIFEXITED(rc.status) && WEXITSTATUS(rc.status) == 3,
	    "exit status 3");
	is_str(rc.out[0].data, "out", "stdout captured");
	is_str(rc.out[1].data, "err", "stderr captured");
	ok(!rc.truncated[0] && !rc.truncated[1], "not truncated");
	ok(rc.ends_first, "output(end) once per stream, before exited");
	ok(!rc.bad_from, "output() reports the new bytes of the buffer");
	is_int(rc.reported[0], 3, "stdout: 3 bytes reported");
	is_int(rc.nprogress, 0, "no progress");
	is_int(rc.exited, 1, "exited once");
	is_int(runner_count(runner), 0, "the run is freed");
	rec_fini(&rc);
}

static void
test_truncation(void)
{
	struct rec	 rc;

	/* 1 MiB: more than a pipe holds, so it only ends if we read on. */
	start_sh(&rc, "head -c 1048576 /dev/zero | tr '\\0' a; echo x >&2",
	    NULL, 1000, 1000);
	ok(loop_until_exited(&rc), "a large output: exited");
	ok(WIFEXITED(rc.status) && WEXITSTATUS(rc.status) == 0,
	    "... status 0 (never blocked on a full pipe)");
	is_int(rc.out[0].len, 1000, "... stdout cut at max_output");
	ok(rc.truncated[0], "... stdout_truncated");
	ok(!rc.truncated[1], "... stderr not truncated");
	is_int(rc.reported[0], 1000, "... only captured bytes reported");
	is_str(rc.out[1].data, "x\n", "... stderr intact");
	rec_fini(&rc);
}

static void
test_utf8_repair(void)
{
	struct rec	 rc;

	/* "é" cut after its first byte at the end of the stream. */
	start_sh(&rc, "printf 'ab\\303'", NULL, 1024, 1000);
	ok(loop_until_exited(&rc), "a cut sequence: exited");
	is_str(rc.out[0].data, "ab\357\277\275", "... repaired to U+FFFD");
	rec_fini(&rc);
}

static void
test_stdin(void)
{
	struct rec	 rc;

	start_sh(&rc, "cat", "line one\nline two\n", 1024, 1000);
	ok(loop_until_exited(&rc), "stdin: exited");
	is_str(rc.out[0].data, "line one\nline two\n", "... cat echoes it");
	rec_fini(&rc);
	start_sh(&rc, "cat; echo eof", NULL, 1024, 1000);
	ok(loop_until_exited(&rc), "no stdin: exited");
	is_str(rc.out[0].data, "eof\n", "... /dev/null");
	rec_fini(&rc);
}

static void
test_progress(void)
{
	struct rec	 rc;

	start_sh(&rc, "printf '1 10\\n2 10\\n' >&3", NULL, 1024, 1000);
	ok(loop_until_exited(&rc), "progress: exited");
	ok(rc.nprogress >= 1, "... reported");
	ok(rc.done == 2 && rc.total == 10, "... the latest line wins (2 10)");
	rec_fini(&rc);
	start_sh(&rc, "printf '3 10\\n5\\n' >&3", NULL, 1024, 1000);
	ok(loop_until_exited(&rc), "done alone: exited");
	ok(rc.done == 5 && rc.total == -1, "... total unknown (-1)");
	rec_fini(&rc);
	start_sh(&rc, "printf '4 9\\nx\\n-1 3\\n7 8 9\\n' >&3; "
	    "printf '%0200d\\n' 1 >&3; printf '6' >&3", NULL, 1024, 1000);
	ok(loop_until_exited(&rc), "bad lines: exited");
	ok(rc.done == 4 && rc.total == 9, "... junk, negative, three "
	    "numbers, an overlong line and an unended one are ignored");
	rec_fini(&rc);
	start_sh(&rc, "echo $JQ_PROGRESS_FD", NULL, 1024, 1000);
	ok(loop_until_exited(&rc), "environment as given: exited");
	is_str(rc.out[0].data, "\n", "... nothing added to it");
	rec_fini(&rc);
}

static void
test_kill(void)
{
	struct rec	 rc;
	int64_t		 t0;

	start_sh(&rc, "echo ready; exec sleep 60", NULL, 1024, 60000);
	ok(loop_until_output(&rc, 6), "kill: the process runs");
	run_kill(rc.run, false);
	ok(loop_until_exited(&rc), "... SIGTERM ends it");
	ok(WIFSIGNALED(rc.status) && WTERMSIG(rc.status) == SIGTERM,
	    "... by SIGTERM");
	rec_fini(&rc);

	start_sh(&rc, "echo ready; exec sleep 60", NULL, 1024, 60000);
	ok(loop_until_output(&rc, 6), "kill now: the process runs");
	run_kill(rc.run, true);
	ok(loop_until_exited(&rc), "... ends");
	ok(WIFSIGNALED(rc.status) && WTERMSIG(rc.status) == SIGKILL,
	    "... by SIGKILL");
	rec_fini(&rc);

	/* The child ignores SIGTERM (and its sleep inherits that). */
	start_sh(&rc, "trap '' TERM; echo ready; while :; do sleep 1; done",
	    NULL, 1024, 300);
	ok(loop_until_output(&rc, 6), "grace: the process runs");
	t0 = mono_ms();
	run_kill(rc.run, false);
	ok(loop_until_exited(&rc), "... SIGKILL after the grace ends it");
	ok(WIFSIGNALED(rc.status) && WTERMSIG(rc.status) == SIGKILL,
	    "... by SIGKILL");
	/* libevent's timers count from the time it cached at its last
	 * wake-up, a little before t0: a margin of 50 ms. */
	ok(mono_ms() - t0 >= 250, "... not before kill_grace_ms (%lld ms)",
	    (long long)(mono_ms() - t0));
	rec_fini(&rc);

	start_sh(&rc, "trap '' TERM; echo ready; while :; do sleep 1; done",
	    NULL, 1024, 60000);
	ok(loop_until_output(&rc, 6), "second kill: the process runs");
	run_kill(rc.run, false);
	run_kill(rc.run, false);
	ok(loop_until_exited(&rc), "... a second SIGTERM is a SIGKILL");
	ok(WIFSIGNALED(rc.status) && WTERMSIG(rc.status) == SIGKILL,
	    "... by SIGKILL");
	rec_fini(&rc);
}

/* Whether pid (not our child) is dead: no /proc entry, or a zombie. */
static bool
dead(pid_t pid)
{
	char	 path[64], buf[512], *p = NULL;
	FILE	*f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return true;
	if (fgets(buf, sizeof(buf), f) != NULL)
		p = strrchr(buf, ')');
	fclose(f);
	return p == NULL || p[1] == '\0' || p[2] == 'Z';
}

/* pid dies within WAIT_S. */
static bool
gone(pid_t pid)
{
	struct timespec	 nap = { 0, 10 * 1000 * 1000 };
	int64_t		 end = mono_ms() + WAIT_S * 1000;

	while (!dead(pid)) {
		if (mono_ms() > end)
			return false;
		nanosleep(&nap, NULL);
	}
	return true;
}

static void
test_leftovers(void)
{
	struct rec	 rc;
	pid_t		 bg;
	int64_t		 t0;

	/* A background process in the group, holding stdout open. */
	start_sh(&rc, "sleep 60 & echo $!; exit 0", NULL, 1024, 1000);
	ok(loop_until_exited(&rc), "leftover: the run ends when its main "
	    "process exits");
	ok(WIFEXITED(rc.status) && WEXITSTATUS(rc.status) == 0, "... status 0");
	bg = (pid_t)atoi(rc.out[0].data != NULL ? rc.out[0].data : "0");
	ok(bg > 0 && gone(bg), "... and what it left in its group is killed");
	rec_fini(&rc);

	/*
	 * Outside the group (setsid): it holds the pipes; we stop reading.
	 * The main process exits once the outsider has left the group, else
	 * the group's kill could take it first.
	 */
	start_sh(&rc, "f=$(mktemp); rm $f; "
	    "setsid sh -c \"echo \\$\\$ >$f.t; mv $f.t $f; exec sleep 60\" & "
	    "while ! [ -s $f ]; do sleep 0.01; done; cat $f; rm $f", NULL,
	    1024, 1000);
	t0 = mono_ms();
	ok(loop_until_exited(&rc), "pipes held outside the group: the run "
	    "ends anyway");
	ok(mono_ms() - t0 >= RUN_DRAIN_MS - 50, "... after RUN_DRAIN_MS "
	    "(%lld ms)", (long long)(mono_ms() - t0));
	bg = (pid_t)atoi(rc.out[0].data != NULL ? rc.out[0].data : "0");
	ok(bg > 0 && kill(bg, SIGKILL) == 0, "... the outsider lived on");
	rec_fini(&rc);
}

static void
test_free_early(void)
{
	struct rec	 rc, rc2;

	start_sh(&rc, "exec sleep 60", NULL, 1024, 1000);
	run_kill(rc.run, true);
	run_free(rc.run);
	rc.run = NULL;
	is_int(runner_count(runner), 0, "freed early: forgotten");
	/* Its reaping must not disturb the next run. */
	start_sh(&rc2, "exit 4", NULL, 1024, 1000);
	ok(loop_until_exited(&rc2), "... the next run ends");
	ok(WIFEXITED(rc2.status) && WEXITSTATUS(rc2.status) == 4,
	    "... with its own status");
	is_int(rc.exited, 0, "... no callback for the freed run");
	rec_fini(&rc2);
	rec_fini(&rc);
}

static void
test_nofile(void)
{
	struct rec	 rc;
	struct rlimit	 before, after;
	char		*argv[] = { "sh", "-c", "ulimit -n", NULL };
	char		 err[256];

	getrlimit(RLIMIT_NOFILE, &before);
	if (before.rlim_cur <= 100) {
		ok(1, "# SKIP soft RLIMIT_NOFILE already <= 100");
		return;
	}
	if (start_full(&rc, argv, "/", NULL, 1024, 1000, 100, err,
	    sizeof(err)) == NULL)
		tap_bail(err);
	getrlimit(RLIMIT_NOFILE, &after);
	ok(before.rlim_cur == after.rlim_cur, "nofile: ours is restored");
	ok(loop_until_exited(&rc), "... exited");
	is_str(rc.out[0].data, "100\n", "... the child's soft limit is 100");
	rec_fini(&rc);
}

static void
test_cannot_start(void)
{
	struct rec	 rc;
	char		*missing[] = { "no-such-command-jqd", NULL };
	char		*sh[] = { "sh", "-c", "true", NULL };
	char		*notexec[] = { "./notexec", NULL };
	char		 err[256], dir[] = "/tmp/test-run.XXXXXX", path[128];
	FILE		*f;

	ok(start_full(&rc, missing, "/", NULL, 1024, 1000, 0, err,
	    sizeof(err)) == NULL, "a missing command does not start");
	is_str(err, "cannot start: no-such-command-jqd: command not found",
	    "... and says why");
	ok(start_full(&rc, sh, "/no/such/dir", NULL, 1024, 1000, 0, err,
	    sizeof(err)) == NULL, "a missing cwd: does not start");
	is_str(err, "cannot start: cwd /no/such/dir: No such file or "
	    "directory", "... and says it is the directory");
	ok(start_full(&rc, sh, "/dev/null", NULL, 1024, 1000, 0, err,
	    sizeof(err)) == NULL, "a cwd that is a file: does not start");
	is_str(err, "cannot start: cwd /dev/null: Not a directory",
	    "... and says why");
	if (mkdtemp(dir) == NULL)
		tap_bail("mkdtemp");
	snprintf(path, sizeof(path), "%s/notexec", dir);
	if ((f = fopen(path, "w")) == NULL)
		tap_bail("fopen");
	fputs("#!/bin/sh\n", f);
	fclose(f);
	ok(start_full(&rc, notexec, dir, NULL, 1024, 1000, 0, err,
	    sizeof(err)) == NULL, "a file not executable: does not start");
	is_str(err, "cannot start: ./notexec: Permission denied",
	    "... and says why");
	unlink(path);
	rmdir(dir);
	is_int(runner_count(runner), 0, "... nothing left in the runner");
	rec_fini(&rc);
}

static void
test_env(void)
{
	char	*in[] = { "A=1", "JQ_JOB_ID=99", "JQ_GROUP=x",
		    "JQ_DEADLINE_MS=1", "JQ_PROGRESS_FD=9", NULL };
	char	*in2[] = { "PATH=/opt/bin", NULL };
	char	**env;

	env = run_env(in, 7, "g", 1234);
	is_str(env[0], "A=1", "run_env: the caller's variables first");
	is_str(env[1], "PATH=" RUN_DEFAULT_PATH, "... PATH by default");
	is_str(env[2], "JQ_JOB_ID=7", "... JQ_JOB_ID");
	is_str(env[3], "JQ_GROUP=g", "... JQ_GROUP");
	is_str(env[4], "JQ_DEADLINE_MS=1234", "... JQ_DEADLINE_MS");
	is_str(env[5], "JQ_PROGRESS_FD=3", "... JQ_PROGRESS_FD");
	ok(env[6] == NULL, "... and no reserved name given twice");
	run_strv_free(env);
	env = run_env(in2, 8, NULL, -1);
	is_str(env[0], "PATH=/opt/bin", "... a PATH given is kept");
	is_str(env[1], "JQ_JOB_ID=8", "... no group, no deadline");
	is_str(env[2], "JQ_PROGRESS_FD=3", "... JQ_PROGRESS_FD");
	ok(env[3] == NULL, "... nothing more");
	run_strv_free(env);
	env = run_env(NULL, 9, NULL, -1);
	is_str(env[0], "PATH=" RUN_DEFAULT_PATH, "... no env: PATH");
	run_strv_free(env);
}

static void
test_cwd(void)
{
	char	*s;

	is_str((s = run_cwd("/var/jobs", NULL)), "/var/jobs",
	    "run_cwd: none is the job directory");
	free(s);
	is_str((s = run_cwd("/var/jobs", "/tmp")), "/tmp",
	    "... an absolute one is itself");
	free(s);
	is_str((s = run_cwd("/var/jobs", "a/b")), "/var/jobs/a/b",
	    "... a relative one is under the job directory");
	free(s);
}

static void
test_leftover_decision(void)
{
	char	 boot[RUN_BOOT_ID_MAX];
	int	 i;

	for (i = 0; i < 16; i++) {
		bool	 same_boot = i & 1, has_members = i & 2;
		bool	 alive = i & 4, same = i & 8;
		bool	 want = same_boot && has_members && (!alive || same);

		ok(run_leftover_is_ours(same_boot, has_members, alive, same) ==
		    want, "same_boot %d, members %d, leader alive %d, same "
		    "start %d: %s", same_boot, has_members, alive, same,
		    want ? "kill" : "leave");
	}
	is_int(run_start_time(0), -1, "no start time for pid 0");
	ok(run_start_time(getpid()) > 0, "a start time for us");
	is_int(run_kill_leftover(0, -1, "x", "x"), RUN_LEFTOVER_NONE,
	    "no pid: nothing to do");
	if (run_boot_id(boot, sizeof(boot)) == 0)
		is_int(strlen(boot), 36, "the boot id is a UUID");
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL)
		tap_bail("event_base_new");
	runner = runner_new(base);
	test_output();
	test_truncation();
	test_utf8_repair();
	test_stdin();
	test_progress();
	test_kill();
	test_leftovers();
	test_free_early();
	test_nofile();
	test_cannot_start();
	test_env();
	test_cwd();
	test_leftover_decision();
	runner_free(runner);
	event_base_free(base);
	return done_testing();
}
