/*
 * The process runner: one command run the way jqd runs a job, all from
 * the event loop, with no knowledge of jobs (run.h has the contract).
 * spawn.c ties it to jqd's jobs; the jq-worker agent uses it as is.
 *
 * A run starts through posix_spawn (vfork+exec: cheap even for a large
 * daemon) in a process group of its own, with the environment it is
 * given, stdin from a memfd holding its stdin bytes (or /dev/null),
 * stdout and stderr to pipes, and its progress fd (3) to a third pipe.
 * The loop reads the pipes as they fill (capturing up to max_output, then
 * reading and discarding so the process never blocks on a full pipe) and
 * the runner reaps on SIGCHLD with waitpid(WNOHANG): nothing here ever
 * waits.
 *
 * When the main process exits, whatever it left in its group is killed
 * (no orphans); the run is over once its pipes are drained, or a moment
 * later if something outside the group still holds them.
 */
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "run.h"
#include "strbuf.h"
#include "units.h"
#include "utf8.h"

#define RUN_READS_PER_CB	16
#define RUN_PROGRESS_LINE	128

enum { OUT = RUN_STDOUT, ERR = RUN_STDERR, PROG, NPIPES };

struct run {
	TAILQ_ENTRY(run)	 entry;		/* runner->runs */
	struct runner		*runner;
	struct run_cbs		 cbs;
	void			*arg;
	pid_t			 pid;
	int			 fd[NPIPES];
	struct event		*ev[NPIPES];
	struct strbuf		*out[RUN_NSTREAMS];	/* the caller's */
	bool			*truncated[RUN_NSTREAMS];	/* the caller's */
	uint64_t		 max_output;
	int64_t			 kill_grace_ms;
	char			 progline[RUN_PROGRESS_LINE];
	size_t			 proglen;
	bool			 progskip;	/* inside an overlong line */
	bool			 exited;
	int			 status;
	bool			 term_sent;
	struct event		*ev_kill;	/* SIGKILL after the grace */
	struct event		*ev_drain;	/* give up on held pipes */
};

TAILQ_HEAD(run_list, run);

struct runner {
	struct event_base	*base;
	struct event		*ev_sigchld;
	struct run_list		 runs;
	size_t			 nruns;
};

static char *
run_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
run_fmt(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		fatal("out of memory");
	va_end(ap);
	return s;
}

static char *
run_strdup(const char *s)
{
	char	*d = strdup(s);

	if (d == NULL)
		fatal("out of memory");
	return d;
}

/* -- environment and command --------------------------------------------- */

static const char *
run_env_get(char *const *env, const char *name)
{
	size_t	 n = strlen(name), i;

	for (i = 0; env != NULL && env[i] != NULL; i++) {
		if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
			return env[i] + n + 1;
	}
	return NULL;
}

static bool
run_env_reserved(const char *kv)
{
	static const char *const names[] = { "JQ_JOB_ID=", "JQ_GROUP=",
	    "JQ_DEADLINE_MS=", "JQ_PROGRESS_FD=" };
	size_t	 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strncmp(kv, names[i], strlen(names[i])) == 0)
			return true;
	}
	return false;
}

char **
run_env(char *const *env, int64_t job_id, const char *group,
    int64_t deadline_ms)
{
	char	**v;
	size_t	  n = 0, i, k = 0;

	while (env != NULL && env[n] != NULL)
		n++;
	v = calloc(n + 6, sizeof(*v));
	if (v == NULL)
		fatal("out of memory");
	for (i = 0; i < n; i++) {
		if (!run_env_reserved(env[i]))
			v[k++] = run_strdup(env[i]);
	}
	if (run_env_get(env, "PATH") == NULL)
		v[k++] = run_strdup("PATH=" RUN_DEFAULT_PATH);
	v[k++] = run_fmt("JQ_JOB_ID=%lld", (long long)job_id);
	if (group != NULL)
		v[k++] = run_fmt("JQ_GROUP=%s", group);
	if (deadline_ms >= 0)
		v[k++] = run_fmt("JQ_DEADLINE_MS=%lld", (long long)deadline_ms);
	v[k++] = run_fmt("JQ_PROGRESS_FD=%d", RUN_PROGRESS_FD);
	return v;
}

void
run_strv_free(char **v)
{
	size_t	 i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

char *
run_cwd(const char *dir, const char *cwd)
{
	if (cwd == NULL)
		return run_strdup(dir);
	if (cwd[0] == '/')
		return run_strdup(cwd);
	return run_fmt("%s/%s", dir, cwd);
}

/*
 * Can a process work in directory cwd?  0, or -1 with "cannot start: cwd
 * DIR: REASON" in err.  Search permission is checked as our user (jqd's,
 * or the agent's), which the job runs as.
 */
static int
run_cwd_check(const char *cwd, char *err, size_t errlen)
{
	struct stat	 sb;
	int		 e = 0;

	if (stat(cwd, &sb) == -1)
		e = errno;
	else if (!S_ISDIR(sb.st_mode))
		e = ENOTDIR;
	else if (access(cwd, X_OK) == -1)
		e = errno;
	if (e == 0)
		return 0;
	snprintf(err, errlen, "cannot start: cwd %s: %s", cwd, strerror(e));
	return -1;
}

/* argv[0] looked up in PATH; NULL with errno if not found. */
static char *
run_resolve(const char *cmd, const char *path, const char *cwd)
{
	const char	*p = path, *colon;
	struct stat	 sb;
	char		*full;
	int		 saved = ENOENT;

	if (strchr(cmd, '/') != NULL)
		return cmd[0] == '/' ? run_strdup(cmd) :
		    run_fmt("%s/%s", cwd, cmd);
	if (p == NULL)
		p = RUN_DEFAULT_PATH;
	for (;;) {
		colon = strchr(p, ':');
		if (colon == p || *p == '\0')
			full = run_fmt("%s/%s", cwd, cmd);
		else
			full = run_fmt("%.*s/%s", (int)(colon != NULL ?
			    colon - p : (ptrdiff_t)strlen(p)), p, cmd);
		if (stat(full, &sb) == 0 && S_ISREG(sb.st_mode)) {
			if (access(full, X_OK) == 0)
				return full;
			saved = EACCES;
		}
		free(full);
		if (colon == NULL)
			break;
		p = colon + 1;
	}
	errno = saved;
	return NULL;
}

/* -- output ---------------------------------------------------------------- */

static void	run_done(struct run *r);

static void
run_close_pipe(struct run *r, int i)
{
	if (r->ev[i] != NULL) {
		event_free(r->ev[i]);
		r->ev[i] = NULL;
	}
	if (r->fd[i] != -1) {
		close(r->fd[i]);
		r->fd[i] = -1;
	}
}

static bool
run_pipes_open(const struct run *r)
{
	return r->fd[OUT] != -1 || r->fd[ERR] != -1 || r->fd[PROG] != -1;
}

static void
run_capture(struct run *r, int i, const char *buf, size_t n)
{
	struct strbuf	*sb = r->out[i];
	size_t		 from = sb->len;

	if (strbuf_append_max(sb, buf, n, r->max_output, r->truncated[i]) &&
	    r->cbs.output != NULL)
		r->cbs.output(r->arg, i, sb->data, from, sb->len, false);
}

/* Progress lines: "DONE TOTAL" or "DONE"; the latest wins. */
static void
run_progress(struct run *r, const char *buf, size_t n)
{
	long long	 done, total, last_done = -1, last_total = -1;
	int		 used = 0;
	size_t		 i;
	bool		 changed = false;

	for (i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (r->proglen + 1 < sizeof(r->progline))
				r->progline[r->proglen++] = buf[i];
			else
				r->progskip = true;
			continue;
		}
		r->progline[r->proglen] = '\0';
		if (!r->progskip && sscanf(r->progline, "%lld %lld %n", &done,
		    &total, &used) == 2 && r->progline[used] == '\0' &&
		    done >= 0 && total >= 0) {
			last_done = done;
			last_total = total;
			changed = true;
		} else if (!r->progskip && sscanf(r->progline, "%lld %n",
		    &done, &used) == 1 && r->progline[used] == '\0' &&
		    done >= 0) {
			last_done = done;
			last_total = -1;
			changed = true;
		}
		r->proglen = 0;
		r->progskip = false;
	}
	/* Once a read, with the latest figures: watchers need no more. */
	if (changed && r->cbs.progress != NULL)
		r->cbs.progress(r->arg, last_done, last_total);
}

static void
run_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run	*r = arg;
	char		 buf[65536];
	ssize_t		 n;
	int		 i, reads;

	for (i = 0; i < NPIPES && r->fd[i] != fd; i++)
		;
	if (i == NPIPES)
		return;
	for (reads = 0; reads < RUN_READS_PER_CB; reads++) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			if (i == PROG)
				run_progress(r, buf, (size_t)n);
			else
				run_capture(r, i, buf, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* EOF (or a broken pipe): this stream is over. */
		run_close_pipe(r, i);
		if (r->exited && !run_pipes_open(r))
			run_done(r);
		return;
	}
}

/* -- start ------------------------------------------------------------------ */

static int
run_stdin_fd(const struct run_spec *spec)
{
	int	 fd;

	if (spec->stdin_data == NULL)
		return open("/dev/null", O_RDONLY | O_CLOEXEC);
	if ((fd = memfd_create("jqd-stdin", MFD_CLOEXEC)) == -1)
		return -1;
	if (write(fd, spec->stdin_data, spec->stdin_len) !=
	    (ssize_t)spec->stdin_len || lseek(fd, 0, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * posix_spawn has no rlimit attribute, and the child takes the limit from
 * us when it is cloned, so our own soft limit is lowered for the moment of
 * the spawn and *saved restored after it.  Safe: descriptors already open
 * stay valid above a lower limit, and this thread opens nothing
 * meanwhile (jqd's store thread opens nothing once the database is open).
 * True if it lowered the limit.
 */
static bool
run_nofile_lower(rlim_t nofile, struct rlimit *saved)
{
	struct rlimit	 rl;

	if (nofile == 0 || getrlimit(RLIMIT_NOFILE, saved) == -1 ||
	    saved->rlim_cur <= nofile)
		return false;
	rl = *saved;
	rl.rlim_cur = nofile;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

/* The pipes: our ends non-blocking in r->fd, the child's into child. */
static int
run_pipes(struct run *r, int child[NPIPES], char *err, size_t errlen)
{
	int	 pfd[2], i;

	for (i = 0; i < NPIPES; i++) {
		if (pipe2(pfd, O_CLOEXEC) == -1) {
			snprintf(err, errlen, "cannot start: pipe: %s",
			    strerror(errno));
			return -1;
		}
		/* Only our end is non-blocking; the child's stays ordinary. */
		fcntl(pfd[0], F_SETFL, O_NONBLOCK);
		r->fd[i] = pfd[0];
		child[i] = pfd[1];
	}
	return 0;
}

/* Spawn spec's process into r->pid.  Returns 0, or -1 with err. */
static int
run_spawn(struct run *r, const struct run_spec *spec, char *err,
    size_t errlen)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 attr;
	sigset_t			 none, all;
	struct rlimit			 nofile;
	bool				 lowered;
	char				*path = NULL;
	int				 child[NPIPES], in = -1, i, rc = -1;

	for (i = 0; i < NPIPES; i++)
		child[i] = -1;
	/*
	 * The directory first: a missing one would otherwise surface as the
	 * command's failure (a relative argv[0] not found, or posix_spawn's
	 * ENOENT from its chdir), naming the wrong culprit.
	 */
	if (run_cwd_check(spec->cwd, err, errlen) == -1)
		goto out;
	path = run_resolve(spec->argv[0], run_env_get(spec->env, "PATH"),
	    spec->cwd);
	if (path == NULL) {
		snprintf(err, errlen, "cannot start: %s: %s", spec->argv[0],
		    errno == EACCES ? "permission denied" :
		    "command not found");
		goto out;
	}
	if ((in = run_stdin_fd(spec)) == -1) {
		snprintf(err, errlen, "cannot start: stdin: %s",
		    strerror(errno));
		goto out;
	}
	if (run_pipes(r, child, err, errlen) == -1)
		goto out;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, child[OUT], 1);
	posix_spawn_file_actions_adddup2(&fa, child[ERR], 2);
	posix_spawn_file_actions_adddup2(&fa, child[PROG], RUN_PROGRESS_FD);
	posix_spawn_file_actions_addchdir_np(&fa, spec->cwd);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	lowered = run_nofile_lower(spec->nofile, &nofile);
	rc = posix_spawn(&r->pid, path, &fa, &attr, spec->argv, spec->env);
	if (lowered && setrlimit(RLIMIT_NOFILE, &nofile) == -1)
		fatal("cannot restore the descriptor limit: %s",
		    strerror(errno));
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start: %s: %s", spec->argv[0],
		    strerror(rc));
		rc = -1;
	}
out:
	for (i = 0; i < NPIPES; i++) {
		if (child[i] != -1)
			close(child[i]);
	}
	if (in != -1)
		close(in);
	free(path);
	return rc;
}

struct run *
run_start(struct runner *rn, const struct run_spec *spec,
    const struct run_cbs *cbs, void *arg, char *err, size_t errlen)
{
	struct run	*r;
	int		 i;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		fatal("out of memory");
	r->runner = rn;
	r->cbs = *cbs;
	r->arg = arg;
	r->max_output = spec->max_output;
	r->kill_grace_ms = spec->kill_grace_ms;
	for (i = 0; i < RUN_NSTREAMS; i++) {
		r->out[i] = spec->out[i];
		r->truncated[i] = spec->truncated[i];
	}
	for (i = 0; i < NPIPES; i++)
		r->fd[i] = -1;
	if (run_spawn(r, spec, err, errlen) == -1) {
		for (i = 0; i < NPIPES; i++)
			run_close_pipe(r, i);
		free(r);
		return NULL;
	}
	for (i = 0; i < NPIPES; i++) {
		r->ev[i] = event_new(rn->base, r->fd[i], EV_READ | EV_PERSIST,
		    run_read_cb, r);
		if (r->ev[i] == NULL)
			fatal("out of memory");
		event_add(r->ev[i], NULL);
	}
	TAILQ_INSERT_TAIL(&rn->runs, r, entry);
	rn->nruns++;
	return r;
}

pid_t
run_pid(const struct run *r)
{
	return r->pid;
}

bool
run_exited(const struct run *r)
{
	return r->exited;
}

/* -- stop, reap, free ------------------------------------------------------ */

static void
run_kill_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run	*r = arg;

	if (!r->exited)
		kill(-r->pid, SIGKILL);
}

void
run_kill(struct run *r, bool now)
{
	struct timeval	 tv;

	if (r->exited)
		return;
	if (now || r->term_sent) {
		kill(-r->pid, SIGKILL);
		return;
	}
	kill(-r->pid, SIGTERM);
	r->term_sent = true;
	r->ev_kill = evtimer_new(r->runner->base, run_kill_cb, r);
	if (r->ev_kill == NULL)
		fatal("out of memory");
	tv = units_ms_timeval(r->kill_grace_ms);
	evtimer_add(r->ev_kill, &tv);
}

static void
run_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	run_done(arg);
}

void
runner_reap(struct runner *rn)
{
	struct run	*r;
	struct timeval	 tv = { 0, RUN_DRAIN_MS * 1000 };
	pid_t		 pid;
	int		 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		TAILQ_FOREACH(r, &rn->runs, entry) {
			if (r->pid == pid)
				break;
		}
		if (r == NULL || r->exited)
			continue;
		r->exited = true;
		r->status = status;
		/* No orphans: whatever the process left in its group goes. */
		kill(-pid, SIGKILL);
		if (!run_pipes_open(r)) {
			run_done(r);
			continue;
		}
		r->ev_drain = evtimer_new(rn->base, run_drain_cb, r);
		if (r->ev_drain == NULL)
			fatal("out of memory");
		evtimer_add(r->ev_drain, &tv);
	}
}

/* Close r's pipes and drop its timers: nothing of r fires any more. */
static void
run_quiesce(struct run *r)
{
	int	 i;

	for (i = 0; i < NPIPES; i++)
		run_close_pipe(r, i);
	if (r->ev_kill != NULL) {
		event_free(r->ev_kill);
		r->ev_kill = NULL;
	}
	if (r->ev_drain != NULL) {
		event_free(r->ev_drain);
		r->ev_drain = NULL;
	}
}

/* The process exited and its output is in: the caller hears it. */
static void
run_done(struct run *r)
{
	int	 i;

	run_quiesce(r);
	/* The streams are over: a sequence cut short at the end stays so
	 * (repaired below); watchers get their last bytes. */
	for (i = 0; i < RUN_NSTREAMS && r->cbs.output != NULL; i++)
		r->cbs.output(r->arg, i, r->out[i]->data, r->out[i]->len,
		    r->out[i]->len, true);
	for (i = 0; i < RUN_NSTREAMS; i++)
		utf8_repair(r->out[i]);
	/* Last: the callback may free r. */
	r->cbs.exited(r->arg, r->status);
}

void
run_free(struct run *r)
{
	if (r == NULL)
		return;
	run_quiesce(r);
	TAILQ_REMOVE(&r->runner->runs, r, entry);
	r->runner->nruns--;
	free(r);
}

static void
runner_sigchld_cb(evutil_socket_t fd, short what, void *arg)
{
	runner_reap(arg);
}

struct runner *
runner_new(struct event_base *base)
{
	struct runner	*rn;

	rn = calloc(1, sizeof(*rn));
	if (rn == NULL)
		fatal("out of memory");
	rn->base = base;
	TAILQ_INIT(&rn->runs);
	rn->ev_sigchld = evsignal_new(base, SIGCHLD, runner_sigchld_cb, rn);
	if (rn->ev_sigchld == NULL)
		fatal("out of memory");
	evsignal_add(rn->ev_sigchld, NULL);
	return rn;
}

void
runner_free(struct runner *rn)
{
	if (rn == NULL)
		return;
	if (rn->nruns != 0)
		fatal("runner_free: %zu runs not freed", rn->nruns);
	event_free(rn->ev_sigchld);
	free(rn);
}

size_t
runner_count(const struct runner *rn)
{
	return rn->nruns;
}

/* -- after a crash --------------------------------------------------------- */

/* Field 22 of /proc/PID/stat: start time in clock ticks since boot. */
int64_t
run_start_time(pid_t pid)
{
	char		 path[64], buf[1024], *p;
	long long	 t = -1;
	ssize_t		 n;
	int		 fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* The command name may hold spaces: count fields after its ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	for (field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%lld", &t) != 1)
		return -1;
	return t;
}

int
run_boot_id(char *buf, size_t len)
{
	ssize_t	 n;
	int	 fd;

	if ((fd = open("/proc/sys/kernel/random/boot_id",
	    O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return buf[0] != '\0' ? 0 : -1;
}

/*
 * Linux never hands out a pid while it is a process group id (or session
 * id) still in use.  So on the boot that recorded it, a group whose id is
 * the run's pid and that still has members is the run's group, unless
 * that pid now names another process (the whole group died, then the pid
 * was reused): that is the one case left alone.
 */
bool
run_leftover_is_ours(bool same_boot, bool has_members, bool leader_alive,
    bool leader_same)
{
	if (!same_boot || !has_members)
		return false;
	return !leader_alive || leader_same;
}

enum run_leftover
run_kill_leftover(pid_t pid, int64_t start, const char *pid_boot,
    const char *boot)
{
	int64_t		 now_start;
	bool		 same_boot, has_members;

	if (pid <= 0)
		return RUN_LEFTOVER_NONE;
	same_boot = pid_boot != NULL && boot != NULL && boot[0] != '\0' &&
	    strcmp(pid_boot, boot) == 0;
	has_members = same_boot && kill(-pid, 0) == 0;
	now_start = has_members ? run_start_time(pid) : -1;
	if (!run_leftover_is_ours(same_boot, has_members, now_start != -1,
	    now_start != -1 && now_start == start))
		return has_members ? RUN_LEFTOVER_OTHER : RUN_LEFTOVER_NONE;
	kill(-pid, SIGKILL);
	return now_start == -1 ? RUN_LEFTOVER_KILLED_ORPHANS :
	    RUN_LEFTOVER_KILLED;
}
