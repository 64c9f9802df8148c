/*
 * attempt: one assignment run by jq-worker (see attempt.h).
 *
 * The assignment's fields were checked by the server when the job was
 * submitted; they are checked again here only as far as running needs
 * (argv a non-empty array of strings, and so on): a malformed one ends
 * as "cannot start", which the server records like any start failure.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "attempt.h"
#include "log.h"
#include "units.h"
#include "utf8.h"

static const char *const attempt_stop_names[] = {
	[ATTEMPT_STOP_NONE] = NULL,
	[ATTEMPT_STOP_CANCEL] = "cancel",
	[ATTEMPT_STOP_DEADLINE] = "deadline",
	[ATTEMPT_STOP_RUN_TIMEOUT] = "run_timeout",
	[ATTEMPT_STOP_DRAIN] = "drain",
};

const char *
attempt_stop_name(enum attempt_stop s)
{
	return attempt_stop_names[s];
}

int
attempt_stop_parse(const char *s, enum attempt_stop *out)
{
	size_t	i;

	for (i = 1; i < sizeof(attempt_stop_names) /
	    sizeof(attempt_stop_names[0]); i++) {
		if (strcmp(s, attempt_stop_names[i]) == 0) {
			*out = (enum attempt_stop)i;
			return 0;
		}
	}
	return -1;
}

static char *
attempt_strdup(const char *s)
{
	char	*p = strdup(s);

	if (p == NULL)
		fatal("out of memory");
	return p;
}

/* -- the state records ------------------------------------------------------ */

/*
 * One file, "running" in the state directory, of fixed-width lines: a
 * line per running attempt ("PID START BOOT", padded with spaces), a line
 * of spaces for a free one, each written in place with one pwrite.  A
 * file per attempt cost an inode made and removed per job, the largest
 * part of the agent's own time on short jobs.
 */
#define ATTEMPT_RECORD_LEN	96	/* bytes a line, '\n' included */

struct attempt_records {
	char	*path;
	int	 fd;
	bool	*used;		/* by line */
	size_t	 n;
};

struct attempt_records *
attempt_records_open(const char *dir)
{
	struct attempt_records	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    asprintf(&r->path, "%s/running", dir) == -1)
		fatal("out of memory");
	r->fd = open(r->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (r->fd == -1) {
		log_warn("state record %s: %s", r->path, strerror(errno));
		free(r->path);
		free(r);
		return NULL;
	}
	return r;
}

void
attempt_records_close(struct attempt_records *r)
{
	if (r == NULL)
		return;
	close(r->fd);
	if (unlink(r->path) == -1)
		log_warn("state record %s: %s", r->path, strerror(errno));
	free(r->path);
	free(r->used);
	free(r);
}

/* Line i of the file: text, padded (NULL: free). */
static int
attempt_record_put(struct attempt_records *r, size_t i, const char *text)
{
	char	line[ATTEMPT_RECORD_LEN];
	size_t	len = text != NULL ? strlen(text) : 0;

	memset(line, ' ', sizeof(line));
	memcpy(line, text != NULL ? text : "", len);
	line[sizeof(line) - 1] = '\n';
	if (pwrite(r->fd, line, sizeof(line), (off_t)(i *
	    ATTEMPT_RECORD_LEN)) != (ssize_t)sizeof(line)) {
		log_warn("state record %s: %s", r->path, strerror(errno));
		return -1;
	}
	return 0;
}

static void
attempt_record_write(struct attempt *a)
{
	struct attempt_records	*r = a->env->records;
	char			 text[ATTEMPT_RECORD_LEN];
	size_t			 i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n && r->used[i]; i++)
		;
	if (i == r->n) {
		r->n = r->n == 0 ? 8 : 2 * r->n;
		if ((r->used = reallocarray(r->used, r->n,
		    sizeof(*r->used))) == NULL)
			fatal("out of memory");
		memset(r->used + i, 0, (r->n - i) * sizeof(*r->used));
	}
	/* No fsync: it only has to outlive this process. */
	snprintf(text, sizeof(text), "%d %lld %s", (int)a->pid,
	    (long long)run_start_time(a->pid), a->env->boot_id[0] != '\0' ?
	    a->env->boot_id : "-");
	if (attempt_record_put(r, i, text) == 0) {
		r->used[i] = true;
		a->record = (ssize_t)i;
	}
}

static void
attempt_record_remove(struct attempt *a)
{
	struct attempt_records	*r = a->env->records;

	if (a->record < 0)
		return;
	attempt_record_put(r, (size_t)a->record, NULL);
	r->used[a->record] = false;
	a->record = -1;
}

/*
 * The groups a crashed agent left, from the records in path (a file of
 * lines: this version's "running" file, or an earlier version's file per
 * attempt).  Returns how many were killed.
 */
static int
attempt_kill_file(const char *path, const char *name, const char *boot_id)
{
	FILE		*f;
	char		 line[256], boot[RUN_BOOT_ID_MAX + 1];
	long long	 start;
	int		 pid, killed = 0;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%d %lld %40s", &pid, &start, boot) != 3 ||
		    pid <= 1)
			continue;
		switch (run_kill_leftover(pid, start, strcmp(boot, "-") == 0 ?
		    NULL : boot, boot_id)) {
		case RUN_LEFTOVER_KILLED:
		case RUN_LEFTOVER_KILLED_ORPHANS:
			log_info("state record %s: killed the process group "
			    "%d it left", name, pid);
			killed++;
			break;
		case RUN_LEFTOVER_NONE:
		case RUN_LEFTOVER_OTHER:
			break;
		}
	}
	fclose(f);
	return killed;
}

int
attempt_kill_leftovers(const char *dir, const char *boot_id)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[4096];
	int		 killed = 0;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		killed += attempt_kill_file(path, de->d_name, boot_id);
		if (unlink(path) == -1)
			log_warn("state record %s: %s", path, strerror(errno));
	}
	closedir(d);
	return killed;
}

/* -- output, progress, end -------------------------------------------------- */

static void
attempt_output_cb(void *arg, int stream, const char *buf, size_t from,
    size_t len, bool end)
{
	struct attempt	*a = arg;
	struct strbuf	 piece = STRBUF_INIT;
	size_t		 done = a->raw_done[stream], n;

	(void)from;
	n = end ? len - done : utf8_complete_len(buf + done, len - done);
	if (n == 0)
		return;
	/* Piece by piece repairs as the whole would (utf8.h). */
	strbuf_append(&piece, buf + done, n);
	utf8_repair(&piece);
	strbuf_append(&a->wire[stream], piece.data, piece.len);
	strbuf_fini(&piece);
	a->raw_done[stream] = done + n;
	a->env->hooks->output(a->env->arg, a, stream);
}

static void
attempt_progress_cb(void *arg, int64_t done, int64_t total)
{
	struct attempt	*a = arg;

	a->progress_done = done;
	a->progress_total = total;
	a->progress_told = false;
	a->env->hooks->progress(a->env->arg, a);
}

static void
attempt_log_end(const struct attempt *a)
{
	char		 how[64];
	const char	*stop = attempt_stop_name(a->stopped);

	if (a->error != NULL)
		snprintf(how, sizeof(how), "not started");
	else if (WIFEXITED(a->status))
		snprintf(how, sizeof(how), "exited %d",
		    WEXITSTATUS(a->status));
	else
		snprintf(how, sizeof(how), "killed by signal %d",
		    WTERMSIG(a->status));
	log_info("job %lld attempt %lld: %s after %lld ms%s%s",
	    (long long)a->job, (long long)a->attempt, how,
	    (long long)(units_clock_ms(CLOCK_MONOTONIC) - a->started_ms),
	    stop != NULL ? ", stopped: " : "", stop != NULL ? stop : "");
}

static void
attempt_exited_cb(void *arg, int status)
{
	struct attempt	*a = arg;
	int		 i;

	a->status = status;
	a->ended = true;
	run_free(a->run);
	a->run = NULL;
	attempt_record_remove(a);
	for (i = 0; i < RUN_NSTREAMS; i++)
		strbuf_fini(&a->raw[i]);
	if (a->ev_deadline != NULL)
		event_del(a->ev_deadline);
	if (a->ev_timeout != NULL)
		event_del(a->ev_timeout);
	attempt_log_end(a);
	a->env->hooks->ended(a->env->arg, a);
}

static const struct run_cbs attempt_run_cbs = {
	.output = attempt_output_cb,
	.progress = attempt_progress_cb,
	.exited = attempt_exited_cb,
};

static void
attempt_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	attempt_stop(arg, ATTEMPT_STOP_DEADLINE, false);
}

static void
attempt_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	attempt_stop(arg, ATTEMPT_STOP_RUN_TIMEOUT, false);
}

/* -- start ------------------------------------------------------------------- */

static struct attempt *
attempt_new(const struct attempt_env *env, int64_t job, int64_t attempt)
{
	struct attempt	*a = calloc(1, sizeof(*a));

	if (a == NULL)
		fatal("out of memory");
	a->env = env;
	a->job = job;
	a->attempt = attempt;
	a->progress_done = a->progress_total = -1;
	a->progress_told = true;
	a->record = -1;
	a->received_ms = units_clock_ms(CLOCK_MONOTONIC);
	return a;
}

/* A NULL-terminated copy of array's strings; NULL if it is not one. */
static char **
attempt_strv(const json_t *array, bool need_one)
{
	char	**v;
	size_t	  i, n = json_array_size(array);

	if (!json_is_array(array) || (need_one && n == 0))
		return NULL;
	if ((v = calloc(n + 1, sizeof(*v))) == NULL)
		fatal("out of memory");
	for (i = 0; i < n; i++) {
		const json_t	*s = json_array_get(array, i);

		if (!json_is_string(s) || strlen(json_string_value(s)) !=
		    json_string_length(s)) {
			run_strv_free(v);
			return NULL;
		}
		v[i] = attempt_strdup(json_string_value(s));
	}
	return v;
}

/* The assignment's env object as "K=V" strings (NULL: bad). */
static char **
attempt_env_strv(const json_t *env)
{
	const char	*k;
	json_t		*v, *list;
	char		*kv, **out;

	if (env == NULL || json_is_null(env))
		return attempt_strv(json_array(), false);
	if (!json_is_object(env))
		return NULL;
	list = json_array();
	json_object_foreach((json_t *)env, k, v) {
		if (!json_is_string(v) || asprintf(&kv, "%s=%s", k,
		    json_string_value(v)) == -1) {
			json_decref(list);
			return NULL;
		}
		json_array_append_new(list, json_string(kv));
		free(kv);
	}
	out = attempt_strv(list, false);
	json_decref(list);
	return out;
}

/* A timer for cb after ms (none: not an integer), less late_ms. */
static void
attempt_timer(struct attempt *a, struct event **ev, const json_t *ms,
    int64_t late_ms, event_callback_fn cb)
{
	struct timeval	tv;
	int64_t		left;

	if (!json_is_integer(ms))
		return;
	if (*ev == NULL && (*ev = evtimer_new(a->env->base, cb, a)) == NULL)
		fatal("out of memory");
	left = json_integer_value(ms) - late_ms;
	tv = units_ms_timeval(left < 0 ? 0 : left);
	evtimer_add(*ev, &tv);
}

/*
 * Run it; 0, or -1 with a->error set.  late_ms: since it was received (a
 * held attempt), taken from its deadline_in_ms.
 */
static int
attempt_spawn(struct attempt *a, const json_t *as, int64_t late_ms)
{
	const json_t	*in = json_object_get(as, "stdin");
	const json_t	*dl = json_object_get(as, "deadline_in_ms");
	const json_t	*cwdv = json_object_get(as, "cwd");
	const json_t	*group = json_object_get(as, "group");
	struct run_spec	 rs;
	char		**argv, **env = NULL, **full = NULL, *cwd = NULL;
	char		 err[512];
	int64_t		 deadline_ms = -1;
	int		 i, rc = -1;

	argv = attempt_strv(json_object_get(as, "argv"), true);
	env = attempt_env_strv(json_object_get(as, "env"));
	if (argv == NULL || env == NULL || (in != NULL && !json_is_null(in) &&
	    !json_is_string(in)) || (cwdv != NULL && !json_is_null(cwdv) &&
	    !json_is_string(cwdv))) {
		a->error = attempt_strdup("cannot start: a malformed "
		    "assignment");
		goto out;
	}
	/* The deadline on our clock: the wall time it is due. */
	if (json_is_integer(dl))
		deadline_ms = units_clock_ms(CLOCK_REALTIME) +
		    json_integer_value(dl) - late_ms;
	full = run_env(env, a->job, json_is_string(group) ?
	    json_string_value(group) : NULL, deadline_ms);
	cwd = run_cwd(a->env->job_dir, json_is_string(cwdv) ?
	    json_string_value(cwdv) : NULL);
	memset(&rs, 0, sizeof(rs));
	rs.argv = argv;
	rs.env = full;
	rs.cwd = cwd;
	if (json_is_string(in)) {
		rs.stdin_data = json_string_value(in);
		rs.stdin_len = json_string_length(in);
	}
	rs.max_output = a->env->max_output;
	rs.kill_grace_ms = a->env->kill_grace_ms;
	for (i = 0; i < RUN_NSTREAMS; i++) {
		rs.out[i] = &a->raw[i];
		rs.truncated[i] = &a->truncated[i];
	}
	a->run = run_start(a->env->runner, &rs, &attempt_run_cbs, a, err,
	    sizeof(err));
	if (a->run == NULL) {
		a->error = attempt_strdup(err);
		goto out;
	}
	a->pid = run_pid(a->run);
	attempt_record_write(a);
	attempt_timer(a, &a->ev_deadline, dl, late_ms, attempt_deadline_cb);
	attempt_timer(a, &a->ev_timeout, json_object_get(as,
	    "run_timeout_ms"), 0, attempt_timeout_cb);
	log_info("job %lld attempt %lld: started pid %d: %s",
	    (long long)a->job, (long long)a->attempt, (int)a->pid, argv[0]);
	rc = 0;
out:
	run_strv_free(argv);
	run_strv_free(env);
	run_strv_free(full);
	free(cwd);
	return rc;
}

static void
attempt_hold_cb(evutil_socket_t fd, short what, void *arg)
{
	struct attempt	*a = arg;

	(void)fd;
	(void)what;
	log_info("job %lld attempt %lld: not started within %lld ms: "
	    "handed back", (long long)a->job, (long long)a->attempt,
	    (long long)(units_clock_ms(CLOCK_MONOTONIC) - a->received_ms));
	attempt_return(a);
	a->env->hooks->ended(a->env->arg, a);
}

struct attempt *
attempt_hold(const struct attempt_env *env, const json_t *as,
    int64_t hold_ms)
{
	struct attempt	*a = attempt_new(env,
			    json_integer_value(json_object_get(as, "job")),
			    json_integer_value(json_object_get(as, "attempt")));
	struct timeval	 tv = units_ms_timeval(hold_ms);

	a->held = json_incref((json_t *)as);
	if ((a->ev_hold = evtimer_new(env->base, attempt_hold_cb, a)) == NULL)
		fatal("out of memory");
	evtimer_add(a->ev_hold, &tv);
	return a;
}

void
attempt_begin(struct attempt *a)
{
	json_t	*as = a->held;

	if (as == NULL)
		return;
	a->held = NULL;
	event_del(a->ev_hold);
	a->started_ms = units_clock_ms(CLOCK_MONOTONIC);
	if (attempt_spawn(a, as, a->started_ms - a->received_ms) == -1) {
		a->ended = true;
		log_info("job %lld attempt %lld: %s", (long long)a->job,
		    (long long)a->attempt, a->error);
	}
	json_decref(as);
}

struct attempt *
attempt_start(const struct attempt_env *env, const json_t *as)
{
	struct attempt	*a = attempt_hold(env, as, 0);

	attempt_begin(a);
	return a;
}

void
attempt_return(struct attempt *a)
{
	if (a->held == NULL)
		return;
	json_decref(a->held);
	a->held = NULL;
	event_del(a->ev_hold);
	a->ended = true;
	a->returned = true;
}

void
attempt_stop(struct attempt *a, enum attempt_stop why, bool now)
{
	if (a->run == NULL)
		return;
	if (a->stopped == ATTEMPT_STOP_NONE)
		a->stopped = why;
	run_kill(a->run, now);
}

void
attempt_free(struct attempt *a)
{
	int	i;

	if (a == NULL)
		return;
	if (a->run != NULL) {
		run_kill(a->run, true);
		run_free(a->run);
	}
	attempt_record_remove(a);
	if (a->ev_deadline != NULL)
		event_free(a->ev_deadline);
	if (a->ev_timeout != NULL)
		event_free(a->ev_timeout);
	if (a->ev_hold != NULL)
		event_free(a->ev_hold);
	json_decref(a->held);
	for (i = 0; i < RUN_NSTREAMS; i++) {
		strbuf_fini(&a->raw[i]);
		strbuf_fini(&a->wire[i]);
	}
	free(a->error);
	free(a);
}

json_t *
attempt_result(const struct attempt *a)
{
	json_t	*r = json_pack("{s:s, s:I, s:I, s:b, s:b}", "op",
		    "worker_result", "job", (json_int_t)a->job, "attempt",
		    (json_int_t)a->attempt, "stdout_truncated",
		    a->truncated[RUN_STDOUT], "stderr_truncated",
		    a->truncated[RUN_STDERR]);

	if (r == NULL)
		fatal("out of memory");
	if (a->returned)
		json_object_set_new(r, "returned", json_true());
	else if (a->error != NULL)
		json_object_set_new(r, "error", json_string(a->error));
	else if (WIFEXITED(a->status))
		json_object_set_new(r, "exit_code",
		    json_integer(WEXITSTATUS(a->status)));
	else
		json_object_set_new(r, "signal",
		    json_integer(WTERMSIG(a->status)));
	json_object_set_new(r, "stopped", a->stopped != ATTEMPT_STOP_NONE ?
	    json_string(attempt_stop_name(a->stopped)) : json_null());
	if (a->progress_done >= 0)
		json_object_set_new(r, "progress", json_pack("{s:I, s:o}",
		    "done", (json_int_t)a->progress_done, "total",
		    a->progress_total >= 0 ?
		    json_integer(a->progress_total) : json_null()));
	return r;
}
