/*
 * Supervision of job processes, all from the event loop.
 *
 * A job runs through posix_spawn (vfork+exec: cheap even for a large
 * daemon) in a process group of its own, with a clean environment, stdin
 * from a memfd holding the request's stdin (or /dev/null), stdout and
 * stderr to pipes, and its progress fd (3) to a third pipe.  The loop
 * reads the pipes as they fill (capturing up to max_output, then reading
 * and discarding so the job never blocks on a full pipe) and reaps on
 * SIGCHLD with waitpid(WNOHANG): nothing here ever waits.
 *
 * When the job's process exits, whatever it left in its group is killed
 * (no orphans); the job is over once its pipes are drained, or a moment
 * later if something outside the group still holds them.
 *
 * The job's pid, its start time and the boot id are stored with the job,
 * so that after a crash the restarted jqd can kill the group the job
 * left, even when its main process has died since (spawn_kill_leftover).
 */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "pool.h"
#include "spawn-job.h"
#include "units.h"
#include "utf8.h"

#define SPAWN_DEFAULT_PATH	"/usr/local/bin:/usr/bin:/bin"
#define SPAWN_PROGRESS_FD	3
#define SPAWN_DRAIN_MS		1000
#define SPAWN_READS_PER_CB	16
#define SPAWN_PROGRESS_LINE	128

enum { OUT, ERR, PROG, NPIPES };

struct job_proc {
	TAILQ_ENTRY(job_proc)	 entry;		/* jobs->procs */
	struct job		*job;
	pid_t			 pid;
	int			 fd[NPIPES];
	struct event		*ev[NPIPES];
	char			 progline[SPAWN_PROGRESS_LINE];
	size_t			 proglen;
	bool			 progskip;	/* inside an overlong line */
	bool			 exited;
	int			 status;
	bool			 term_sent;
	struct event		*ev_kill;	/* SIGKILL after the grace */
	struct event		*ev_drain;	/* give up on held pipes */
};

/* -- environment and command --------------------------------------------- */

static const char *
spawn_env_get(char **env, const char *name)
{
	size_t	 n = strlen(name), i;

	for (i = 0; env != NULL && env[i] != NULL; i++) {
		if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
			return env[i] + n + 1;
	}
	return NULL;
}

static char *
spawn_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
spawn_fmt(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		fatal("out of memory");
	va_end(ap);
	return s;
}

static bool
spawn_reserved(const char *kv)
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

/* The job's environment: its own variables plus ours; nothing of jqd's. */
static char **
spawn_env(const struct job *j)
{
	char	**env;
	size_t	  n = 0, i, k = 0;

	while (j->spec.env != NULL && j->spec.env[n] != NULL)
		n++;
	env = calloc(n + 6, sizeof(*env));
	if (env == NULL)
		fatal("out of memory");
	for (i = 0; i < n; i++) {
		if (!spawn_reserved(j->spec.env[i]))
			env[k++] = strdup(j->spec.env[i]);
	}
	if (spawn_env_get(j->spec.env, "PATH") == NULL)
		env[k++] = strdup("PATH=" SPAWN_DEFAULT_PATH);
	env[k++] = spawn_fmt("JQ_JOB_ID=%lld", (long long)j->id);
	if (j->spec.group != NULL)
		env[k++] = spawn_fmt("JQ_GROUP=%s", j->spec.group);
	if (j->deadline_ms >= 0)
		env[k++] = spawn_fmt("JQ_DEADLINE_MS=%lld",
		    (long long)j->deadline_ms);
	env[k++] = spawn_fmt("JQ_PROGRESS_FD=%d", SPAWN_PROGRESS_FD);
	return env;
}

/* The job's working directory: relative paths are under the job dir. */
static char *
spawn_cwd(const struct jobs *js, const struct job *j)
{
	if (j->spec.cwd == NULL)
		return strdup(js->cfg.job_dir);
	if (j->spec.cwd[0] == '/')
		return strdup(j->spec.cwd);
	return spawn_fmt("%s/%s", js->cfg.job_dir, j->spec.cwd);
}

/* argv[0] looked up in the job's PATH; NULL with errno if not found. */
static char *
spawn_resolve(const char *cmd, const char *path, const char *cwd)
{
	const char	*p = path, *colon;
	struct stat	 sb;
	char		*full;
	int		 saved = ENOENT;

	if (strchr(cmd, '/') != NULL)
		return cmd[0] == '/' ? strdup(cmd) :
		    spawn_fmt("%s/%s", cwd, cmd);
	for (;;) {
		colon = strchr(p, ':');
		if (colon == p || *p == '\0')
			full = spawn_fmt("%s/%s", cwd, cmd);
		else
			full = spawn_fmt("%.*s/%s", (int)(colon != NULL ?
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

static void	spawn_done(struct job_proc *p);

static void
spawn_close_pipe(struct job_proc *p, int i)
{
	if (p->ev[i] != NULL) {
		event_free(p->ev[i]);
		p->ev[i] = NULL;
	}
	if (p->fd[i] != -1) {
		close(p->fd[i]);
		p->fd[i] = -1;
	}
}

static bool
spawn_pipes_open(const struct job_proc *p)
{
	return p->fd[OUT] != -1 || p->fd[ERR] != -1 || p->fd[PROG] != -1;
}

static void
spawn_capture(struct job *j, int i, const char *buf, size_t n)
{
	struct strbuf	*sb = i == OUT ? &j->out : &j->err;
	bool		*trunc = i == OUT ? &j->out_truncated :
			    &j->err_truncated;
	const struct job_hooks	*h = j->jobs->hooks;
	uint64_t	 max = j->jobs->cfg.max_output;
	size_t		 room = sb->len >= max ? 0 : (size_t)(max - sb->len);
	size_t		 from = sb->len;

	if (n > room)
		*trunc = true;
	if (room == 0)
		return;
	strbuf_append(sb, buf, n < room ? n : room);
	if (h->output != NULL)
		h->output(j->jobs->hooks_arg, j, i == OUT ? 0 : 1, sb->data,
		    from, sb->len, false);
}

/* Progress lines: "DONE TOTAL" or "DONE"; the latest wins. */
static void
spawn_progress(struct job_proc *p, const char *buf, size_t n)
{
	const struct job_hooks	*h = p->job->jobs->hooks;
	long long	 done, total;
	int		 used = 0;
	size_t		 i;
	bool		 changed = false;

	for (i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (p->proglen + 1 < sizeof(p->progline))
				p->progline[p->proglen++] = buf[i];
			else
				p->progskip = true;
			continue;
		}
		p->progline[p->proglen] = '\0';
		if (!p->progskip && sscanf(p->progline, "%lld %lld %n", &done,
		    &total, &used) == 2 && p->progline[used] == '\0' &&
		    done >= 0 && total >= 0) {
			p->job->progress_done = done;
			p->job->progress_total = total;
			changed = true;
		} else if (!p->progskip && sscanf(p->progline, "%lld %n",
		    &done, &used) == 1 && p->progline[used] == '\0' &&
		    done >= 0) {
			p->job->progress_done = done;
			p->job->progress_total = -1;
			changed = true;
		}
		p->proglen = 0;
		p->progskip = false;
	}
	/* Once a read, with the latest figures: watchers need no more. */
	if (changed && h->progress != NULL)
		h->progress(p->job->jobs->hooks_arg, p->job,
		    p->job->progress_done, p->job->progress_total);
}

static void
spawn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job_proc	*p = arg;
	char		 buf[65536];
	ssize_t		 n;
	int		 i, reads;

	for (i = 0; i < NPIPES && p->fd[i] != fd; i++)
		;
	if (i == NPIPES)
		return;
	for (reads = 0; reads < SPAWN_READS_PER_CB; reads++) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			if (i == PROG)
				spawn_progress(p, buf, (size_t)n);
			else
				spawn_capture(p->job, i, buf, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* EOF (or a broken pipe): this stream is over. */
		spawn_close_pipe(p, i);
		if (p->exited && !spawn_pipes_open(p))
			spawn_done(p);
		return;
	}
}

/* -- start ------------------------------------------------------------------ */

/* Field 22 of /proc/PID/stat: start time in clock ticks since boot. */
int64_t
spawn_start_time(int pid)
{
	char		 path[64], buf[1024], *p;
	long long	 t = -1;
	ssize_t		 n;
	int		 fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
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
spawn_boot_id(char *buf, size_t len)
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
 * the job's pid and that still has members is the job's group, unless
 * that pid now names another process (the whole group died, then the pid
 * was reused): that is the one case left alone.
 */
bool
spawn_leftover_is_job(bool same_boot, bool has_members, bool leader_alive,
    bool leader_same)
{
	if (!same_boot || !has_members)
		return false;
	return !leader_alive || leader_same;
}

void
spawn_kill_leftover(struct job *j)
{
	const char	*boot = j->jobs->boot_id;
	int64_t		 start;
	bool		 same_boot, has_members;

	if (j->pid <= 0)
		return;
	same_boot = j->pid_boot != NULL && boot[0] != '\0' &&
	    strcmp(j->pid_boot, boot) == 0;
	has_members = same_boot && kill(-j->pid, 0) == 0;
	start = has_members ? spawn_start_time(j->pid) : -1;
	if (!spawn_leftover_is_job(same_boot, has_members, start != -1,
	    start != -1 && start == j->pid_start)) {
		if (has_members)
			log_info("job %lld: process group %d left alone: pid "
			    "%d is alive but not the process jqd started",
			    (long long)j->id, j->pid, j->pid);
		return;
	}
	log_warn("job %lld: killing process group %d left running by the "
	    "previous jqd%s", (long long)j->id, j->pid, start == -1 ?
	    " (its main process had exited)" : "");
	kill(-j->pid, SIGKILL);
}

static int
spawn_stdin_fd(const struct job *j)
{
	int	 fd;

	if (j->spec.stdin_data == NULL)
		return open("/dev/null", O_RDONLY | O_CLOEXEC);
	if ((fd = memfd_create("jqd-stdin", MFD_CLOEXEC)) == -1)
		return -1;
	if (write(fd, j->spec.stdin_data, j->spec.stdin_len) !=
	    (ssize_t)j->spec.stdin_len || lseek(fd, 0, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Jobs start with the soft descriptor limit jqd started with (nofile), not
 * the one fdlimit.c raised for the connections.  posix_spawn has no rlimit
 * attribute, and the child takes the limit from us when it is cloned, so
 * our own soft limit is lowered for the moment of the spawn and *saved
 * restored after it.  Safe: descriptors already open stay valid above a
 * lower limit, this thread opens nothing meanwhile, and the store thread
 * opens nothing once the database is open (its files stay open).  True
 * if it lowered the limit.
 */
static bool
spawn_nofile_lower(rlim_t nofile, struct rlimit *saved)
{
	struct rlimit	 rl;

	if (nofile == 0 || getrlimit(RLIMIT_NOFILE, saved) == -1 ||
	    saved->rlim_cur <= nofile)
		return false;
	rl = *saved;
	rl.rlim_cur = nofile;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

/* Start j's process.  On failure j ends through job_exited(j, -1). */
static int
spawn_process(struct jobs *js, struct job *j, struct job_proc *p, char *err,
    size_t errlen)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 attr;
	sigset_t			 none, all;
	struct rlimit			 nofile;
	bool				 lowered;
	char				**env = NULL, *cwd = NULL, *path = NULL;
	const char			*pathvar;
	int				 child[NPIPES], in = -1, i, rc = -1;
	int				 pfd[2];

	for (i = 0; i < NPIPES; i++)
		child[i] = -1;
	env = spawn_env(j);
	cwd = spawn_cwd(js, j);
	pathvar = spawn_env_get(env, "PATH");
	if ((path = spawn_resolve(j->spec.argv[0], pathvar, cwd)) == NULL) {
		snprintf(err, errlen, "cannot start: %s: %s", j->spec.argv[0],
		    errno == EACCES ? "permission denied" :
		    "command not found");
		goto out;
	}
	if ((in = spawn_stdin_fd(j)) == -1) {
		snprintf(err, errlen, "cannot start: stdin: %s",
		    strerror(errno));
		goto out;
	}
	for (i = 0; i < NPIPES; i++) {
		if (pipe2(pfd, O_CLOEXEC) == -1) {
			snprintf(err, errlen, "cannot start: pipe: %s",
			    strerror(errno));
			goto out;
		}
		/* Only our end is non-blocking; the job's stays ordinary. */
		fcntl(pfd[0], F_SETFL, O_NONBLOCK);
		p->fd[i] = pfd[0];
		child[i] = pfd[1];
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, child[OUT], 1);
	posix_spawn_file_actions_adddup2(&fa, child[ERR], 2);
	posix_spawn_file_actions_adddup2(&fa, child[PROG], SPAWN_PROGRESS_FD);
	posix_spawn_file_actions_addchdir_np(&fa, cwd);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	lowered = spawn_nofile_lower(js->cfg.nofile, &nofile);
	rc = posix_spawn(&p->pid, path, &fa, &attr, j->spec.argv, env);
	if (lowered && setrlimit(RLIMIT_NOFILE, &nofile) == -1)
		fatal("cannot restore the descriptor limit: %s",
		    strerror(errno));
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start: %s: %s", j->spec.argv[0],
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
	job_strv_free(env);
	free(cwd);
	free(path);
	return rc;
}

int
spawn_job(struct jobs *js, struct job *j)
{
	struct job_proc	*p;
	char		 err[512];
	int		 i;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		fatal("out of memory");
	p->job = j;
	for (i = 0; i < NPIPES; i++)
		p->fd[i] = -1;
	/* A fresh attempt. */
	j->exit_code = -1;
	j->signal = 0;
	free(j->error);
	j->error = NULL;
	strbuf_reset(&j->out);
	strbuf_reset(&j->err);
	j->out_truncated = j->err_truncated = false;
	j->progress_done = j->progress_total = -1;
	j->stop = JOB_STOP_NONE;
	j->started_ms = job_now_ms();
	job_set_state(j, JOB_RUNNING);
	if (spawn_process(js, j, p, err, sizeof(err)) == -1) {
		for (i = 0; i < NPIPES; i++)
			spawn_close_pipe(p, i);
		free(p);
		j->error = strdup(err);
		log_info("job %lld: %s", (long long)j->id, err);
		job_exited(j, -1);
		return -1;
	}
	for (i = 0; i < NPIPES; i++) {
		p->ev[i] = event_new(js->base, p->fd[i], EV_READ | EV_PERSIST,
		    spawn_read_cb, p);
		if (p->ev[i] == NULL)
			fatal("out of memory");
		event_add(p->ev[i], NULL);
	}
	j->proc = p;
	j->pid = p->pid;
	j->pid_start = spawn_start_time(p->pid);
	free(j->pid_boot);
	j->pid_boot = js->boot_id[0] != '\0' ? spawn_fmt("%s", js->boot_id) :
	    NULL;
	TAILQ_INSERT_TAIL(&js->procs, p, entry);
	js->running++;
	js->started_total++;
	js->hooks->save(js->hooks_arg, j);
	if (js->hooks->state != NULL)
		js->hooks->state(js->hooks_arg, j);
	job_started(j);
	log_debug("job %lld: started pid %d", (long long)j->id, (int)p->pid);
	return 0;
}

/* -- stop and reap ------------------------------------------------------- */

static void
spawn_kill_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job_proc	*p = arg;

	if (!p->exited)
		kill(-p->pid, SIGKILL);
}

void
spawn_kill(struct jobs *js, struct job *j, bool now)
{
	struct job_proc	*p = j->proc;
	struct timeval	 tv;

	if (p == NULL || p->exited)
		return;
	if (now || p->term_sent) {
		kill(-p->pid, SIGKILL);
		return;
	}
	kill(-p->pid, SIGTERM);
	p->term_sent = true;
	p->ev_kill = evtimer_new(js->base, spawn_kill_cb, p);
	if (p->ev_kill == NULL)
		fatal("out of memory");
	tv = units_ms_timeval(js->cfg.kill_grace_ms);
	evtimer_add(p->ev_kill, &tv);
}

static void
spawn_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	spawn_done(arg);
}

void
spawn_reap(struct jobs *js)
{
	struct job_proc	*p;
	struct timeval	 tv = { 0, SPAWN_DRAIN_MS * 1000 };
	pid_t		 pid;
	int		 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		TAILQ_FOREACH(p, &js->procs, entry) {
			if (p->pid == pid)
				break;
		}
		if (p == NULL || p->exited)
			continue;
		p->exited = true;
		p->status = status;
		/* No orphans: whatever the job left in its group goes too. */
		kill(-pid, SIGKILL);
		if (!spawn_pipes_open(p)) {
			spawn_done(p);
			continue;
		}
		p->ev_drain = evtimer_new(js->base, spawn_drain_cb, p);
		if (p->ev_drain == NULL)
			fatal("out of memory");
		evtimer_add(p->ev_drain, &tv);
	}
}

void
spawn_free(struct job *j)
{
	struct job_proc	*p = j->proc;
	int		 i;

	if (p == NULL)
		return;
	for (i = 0; i < NPIPES; i++)
		spawn_close_pipe(p, i);
	if (p->ev_kill != NULL)
		event_free(p->ev_kill);
	if (p->ev_drain != NULL)
		event_free(p->ev_drain);
	TAILQ_REMOVE(&j->jobs->procs, p, entry);
	free(p);
	j->proc = NULL;
}

/* The process exited and its output is in: the job decides what it was. */
static void
spawn_done(struct job_proc *p)
{
	struct job	*j = p->job;
	struct jobs	*js = j->jobs;
	int		 status = p->status;

	spawn_free(j);
	js->running--;
	j->pid = 0;
	free(j->pid_boot);
	j->pid_boot = NULL;
	if (js->hooks->output != NULL) {
		/* The streams are over: a sequence cut short at the end stays
		 * so (repaired below); watchers get their last bytes. */
		js->hooks->output(js->hooks_arg, j, 0, j->out.data, j->out.len,
		    j->out.len, true);
		js->hooks->output(js->hooks_arg, j, 1, j->err.data, j->err.len,
		    j->err.len, true);
	}
	utf8_repair(&j->out);
	utf8_repair(&j->err);
	job_exited(j, status);
	pool_schedule(js);
}
