/*
 * Job lifecycle (see job.h): the job table, deadlines, cancellation down
 * the context tree, retries, retention.  Starting and supervising the
 * processes is pool.c's and spawn.c's; attempts run by agents are
 * worker.c's (js->remote), and end here through the same job_exited().
 * A running job has a process (j->proc) or a worker (j->worker): job_kill
 * stops either.
 *
 * Every state change goes through job_set_state(), which keeps the counts
 * by state (server-wide and per group) right, and is followed by the save
 * hook so the store sees it before any reply that depends on it.
 */
#include <sys/wait.h>
#include <assert.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "job.h"
#include "log.h"
#include "pool.h"
#include "spawn-job.h"
#include "units.h"
#include "utf8.h"

#define JOBS_PURGE_MS	60000

static const char *const job_state_names[JOB_NSTATES] = {
	[JOB_QUEUED] = "queued",
	[JOB_RUNNING] = "running",
	[JOB_SUCCEEDED] = "succeeded",
	[JOB_FAILED] = "failed",
	[JOB_DEADLINE_EXCEEDED] = "deadline_exceeded",
	[JOB_CANCELED] = "canceled",
};

const char *
job_state_name(enum job_state s)
{
	return job_state_names[s];
}

int
job_state_parse(const char *name, enum job_state *s)
{
	int	 i;

	for (i = 0; i < JOB_NSTATES; i++) {
		if (strcmp(name, job_state_names[i]) == 0) {
			*s = (enum job_state)i;
			return 0;
		}
	}
	return -1;
}

bool
job_state_final(enum job_state s)
{
	return s >= JOB_SUCCEEDED;
}

const char *
job_pool_name(const struct job *j)
{
	return j->spec.pool != NULL ? j->spec.pool : JOB_POOL_LOCAL;
}

int64_t
job_now_ms(void)
{
	return units_clock_ms(CLOCK_REALTIME);
}

static void *
job_xcalloc(size_t n, size_t size)
{
	void	*p = calloc(n, size);

	if (p == NULL)
		fatal("out of memory");
	return p;
}

/* -- lookup (ids, keys, groups) ------------------------------------------ */

static bool
job_key_equal(const struct map_entry *e, const char *key, size_t len)
{
	const struct job	*j = MAP_ELEM(e, struct job, key_entry);

	return strlen(j->spec.key) == len && memcmp(j->spec.key, key, len) == 0;
}

static bool
jgroup_name_equal(const struct map_entry *e, const char *name, size_t len)
{
	const struct jgroup	*g = MAP_ELEM(e, struct jgroup, name_entry);

	return strlen(g->name) == len && memcmp(g->name, name, len) == 0;
}

struct job *
jobs_find(struct jobs *js, int64_t id)
{
	return MAP_ELEM(map_find_u64(&js->by_id, (uint64_t)id), struct job,
	    id_entry);
}

struct job *
jobs_find_key(struct jobs *js, const char *key)
{
	return MAP_ELEM(map_find_str(&js->by_key, key, strlen(key)),
	    struct job, key_entry);
}

struct jgroup *
jobs_find_group(struct jobs *js, const char *name)
{
	return MAP_ELEM(map_find_str(&js->groups, name, strlen(name)),
	    struct jgroup, name_entry);
}

static struct jgroup *
jobs_group(struct jobs *js, const char *name)
{
	struct jgroup	*g;
	size_t		 len = strlen(name);

	if ((g = jobs_find_group(js, name)) != NULL)
		return g;
	g = job_xcalloc(1, sizeof(*g) + len + 1);
	memcpy(g->name, name, len + 1);
	TAILQ_INIT(&g->jobs);
	map_insert_str(&js->groups, &g->name_entry, g->name, len);
	return g;
}

static void
jobs_group_release(struct jobs *js, struct jgroup *g)
{
	if (g->total > 0)
		return;
	map_remove(&js->groups, &g->name_entry);
	free(g);
}

/* -- life cycle --------------------------------------------------------- */

struct job *
job_alloc(void)
{
	struct job	*j = job_xcalloc(1, sizeof(*j));

	TAILQ_INIT(&j->children);
	j->deadline_ms = -1;
	j->started_ms = -1;
	j->finished_ms = -1;
	j->exit_code = -1;
	j->progress_done = -1;
	j->progress_total = -1;
	j->attempt = 1;
	j->pid_start = -1;
	j->spec.run_timeout_ms = -1;
	return j;
}

void
job_strv_free(char **v)
{
	run_strv_free(v);
}

void
job_spec_free(struct job_spec *spec)
{
	job_strv_free(spec->argv);
	job_strv_free(spec->env);
	free(spec->cwd);
	free(spec->stdin_data);
	free(spec->name);
	free(spec->group);
	free(spec->key);
	free(spec->result_chan);
	free(spec->pool);
	free(spec->text);
	memset(spec, 0, sizeof(*spec));
}

static void
job_free(struct job *j)
{
	spawn_free(j);
	if (j->timer != NULL)
		event_free(j->timer);
	if (j->wake != NULL)
		event_free(j->wake);
	job_spec_free(&j->spec);
	free(j->error);
	free(j->pid_boot);
	free(j->worker_id);
	strbuf_fini(&j->out);
	strbuf_fini(&j->err);
	free(j);
}

/*
 * j became final (or was restored final): it joins the finished jobs,
 * which max_retained_jobs and max_retained_output bound, oldest first,
 * and its output waits in memory for the commit of its final save.
 */
static void
jobs_finished_add(struct jobs *js, struct job *j)
{
	if (!j->out_stored) {
		j->out_bytes = j->out.len + j->err.len;
		TAILQ_INSERT_TAIL(&js->out_held, j, held_entry);
		j->out_held = true;
	}
	/* Restored jobs come by id: jobs_start() sorts them. */
	TAILQ_INSERT_TAIL(&js->finished, j, final_entry);
	js->nfinished++;
	js->finished_out_bytes += j->out_bytes;
	if (js->nfinished > js->cfg.max_retained_jobs ||
	    js->finished_out_bytes > js->cfg.max_retained_output)
		event_active(js->ev_trim, EV_TIMEOUT, 0);
}

void
job_set_state(struct job *j, enum job_state s)
{
	struct jobs	*js = j->jobs;
	enum job_state	 from = j->state;

	js->count[j->state]--;
	js->count[s]++;
	if (j->group != NULL) {
		j->group->count[j->state]--;
		j->group->count[s]++;
	}
	j->state = s;
	pool_count(j, from);
	if (!job_state_final(from) && job_state_final(s))
		jobs_finished_add(js, j);
}

void
jobs_output_committed(struct jobs *js, uint64_t seq)
{
	struct job	*j, *next;

	for (j = TAILQ_FIRST(&js->out_held); j != NULL; j = next) {
		next = TAILQ_NEXT(j, held_entry);
		if (j->store_seq > seq)
			continue;
		TAILQ_REMOVE(&js->out_held, j, held_entry);
		j->out_held = false;
		j->out_stored = true;
		strbuf_fini(&j->out);
		strbuf_fini(&j->err);
	}
}

static void
job_save(struct job *j)
{
	j->jobs->hooks->save(j->jobs->hooks_arg, j);
}

/* j's state changed: save it, then tell the watchers. */
static void
job_save_state(struct job *j)
{
	const struct job_hooks	*h = j->jobs->hooks;

	h->save(j->jobs->hooks_arg, j);
	if (h->state != NULL)
		h->state(j->jobs->hooks_arg, j);
}

static void
job_timer_set(struct event **ev, struct event_base *base,
    event_callback_fn cb, void *arg, int64_t delay_ms)
{
	struct timeval	 tv;

	if (*ev == NULL && (*ev = evtimer_new(base, cb, arg)) == NULL)
		fatal("out of memory");
	if (delay_ms < 0)
		delay_ms = 0;
	/*
	 * Count from now, not from when the loop last woke (libevent's
	 * cached time), and round up: a timer must never fire early.
	 */
	delay_ms++;
	event_base_update_cache_time(base);
	tv = units_ms_timeval(delay_ms);
	evtimer_add(*ev, &tv);
}

static size_t	job_cancel_children(struct job *j);

/* Stop j's running attempt, wherever it runs (see spawn_kill). */
static void
job_kill(struct job *j, bool now)
{
	struct jobs	*js = j->jobs;

	if (j->worker != NULL)
		js->remote->stop(js->remote_arg, j, now);
	else
		spawn_kill(js, j, now);
}

/* j reached its final state in this run of jqd: count it, log it. */
static void
job_finished(struct job *j)
{
	j->jobs->finished_total[j->state]++;
	job_log_final(j);
}

/*
 * Reach a final state (j is not running any more).  Returns how many of
 * its descendants that ended (canceled, or their kill sent): a context
 * that is done ends its descendants' contexts too.
 */
static size_t
job_finish(struct job *j, enum job_state s, const char *error)
{
	struct jobs	*js = j->jobs;

	assert(!job_state_final(j->state) && job_state_final(s));
	if (j->queued)
		pool_dequeue(js, j);
	if (j->timer != NULL)
		evtimer_del(j->timer);
	if (j->wake != NULL)
		evtimer_del(j->wake);
	if (error != NULL) {
		free(j->error);
		j->error = strdup(error);
	}
	j->finished_ms = job_now_ms();
	job_set_state(j, s);
	job_finished(j);
	job_save_state(j);
	js->hooks->final(js->hooks_arg, j);
	if (s == JOB_CANCELED || s == JOB_DEADLINE_EXCEEDED)
		return job_cancel_children(j);
	return 0;
}

static void
job_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job	*j = arg;
	int64_t		 now;

	/* Early by the clocks' difference (job_wake_cb): wait the rest. */
	if (j->deadline_ms >= 0 && (now = job_now_ms()) < j->deadline_ms) {
		job_timer_set(&j->timer, j->jobs->base, job_deadline_cb, j,
		    j->deadline_ms - now);
		return;
	}
	if (j->state == JOB_QUEUED)
		job_finish(j, JOB_DEADLINE_EXCEEDED, "deadline exceeded");
	else if (j->state == JOB_RUNNING && j->stop == JOB_STOP_NONE) {
		j->stop = JOB_STOP_DEADLINE;
		job_kill(j, false);
	}
}

static void
job_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct job	*j = arg;
	int64_t		 now;

	if (j->state == JOB_QUEUED) {
		/*
		 * The timer runs on the monotonic clock, not_before on the
		 * wall clock: a timer that fired a little early (a coarse
		 * clock, the wall clock slewed) waits out the rest.
		 */
		if ((now = job_now_ms()) < j->not_before_ms) {
			job_timer_set(&j->wake, j->jobs->base, job_wake_cb, j,
			    j->not_before_ms - now);
			return;
		}
		pool_enqueue(j->jobs, j);
		pool_schedule(j->jobs);
	} else if (j->state == JOB_RUNNING && j->stop == JOB_STOP_NONE) {
		/* While running, the wake timer is the run timeout. */
		j->stop = JOB_STOP_RUN_TIMEOUT;
		job_kill(j, false);
	}
}

/* Arm the timers of a queued job and queue it when it may start. */
static void
job_arm(struct job *j)
{
	struct jobs	*js = j->jobs;
	int64_t		 now = job_now_ms();

	if (j->deadline_ms >= 0 && j->deadline_ms <= now) {
		job_finish(j, JOB_DEADLINE_EXCEEDED, "deadline exceeded");
		return;
	}
	if (j->deadline_ms >= 0)
		job_timer_set(&j->timer, js->base, job_deadline_cb, j,
		    j->deadline_ms - now);
	if (j->not_before_ms > now)
		job_timer_set(&j->wake, js->base, job_wake_cb, j,
		    j->not_before_ms - now);
	else {
		pool_enqueue(js, j);
		pool_schedule(js);
	}
}

void
job_started(struct job *j)
{
	if (j->spec.run_timeout_ms >= 0)
		job_timer_set(&j->wake, j->jobs->base, job_wake_cb, j,
		    j->spec.run_timeout_ms);
}

static void
jobs_link(struct jobs *js, struct job *j)
{
	struct job	*p;

	j->jobs = js;
	pool_link(js, j);
	TAILQ_INSERT_TAIL(&js->all, j, all_entry);
	map_insert_u64(&js->by_id, &j->id_entry, (uint64_t)j->id);
	if (j->spec.key != NULL)
		map_insert_str(&js->by_key, &j->key_entry, j->spec.key,
		    strlen(j->spec.key));
	js->njobs++;
	js->count[j->state]++;
	if (j->spec.group != NULL) {
		j->group = jobs_group(js, j->spec.group);
		TAILQ_INSERT_TAIL(&j->group->jobs, j, group_entry);
		j->group->total++;
		j->group->count[j->state]++;
	}
	if (job_state_final(j->state))
		jobs_finished_add(js, j);
	if (j->spec.parent != 0 && (p = jobs_find(js, j->spec.parent)) !=
	    NULL) {
		j->parent = p;
		TAILQ_INSERT_TAIL(&p->children, j, sibling_entry);
	}
	if (j->id >= js->next_id)
		js->next_id = j->id + 1;
}

struct job *
jobs_submit(struct jobs *js, struct job_spec *spec, int64_t timeout_ms,
    int64_t deadline_ms, int64_t delay_ms, int64_t default_timeout_ms)
{
	struct job	*j = job_alloc();
	int64_t		 now = job_now_ms();

	j->spec = *spec;
	memset(spec, 0, sizeof(*spec));
	j->id = js->next_id;
	j->submitted_ms = now;
	j->not_before_ms = now + delay_ms;
	if (timeout_ms < 0 && deadline_ms < 0 && default_timeout_ms >= 0)
		timeout_ms = default_timeout_ms;
	if (timeout_ms >= 0)
		j->deadline_ms = now + timeout_ms;
	if (deadline_ms >= 0 && (j->deadline_ms < 0 ||
	    deadline_ms < j->deadline_ms))
		j->deadline_ms = deadline_ms;
	jobs_link(js, j);
	/* The context tree: never later than the parent's deadline. */
	if (j->parent != NULL && j->parent->deadline_ms >= 0 &&
	    (j->deadline_ms < 0 || j->parent->deadline_ms < j->deadline_ms))
		j->deadline_ms = j->parent->deadline_ms;
	job_save_state(j);
	if (j->parent != NULL && (j->parent->state == JOB_CANCELED ||
	    j->parent->state == JOB_DEADLINE_EXCEEDED)) {
		job_finish(j, JOB_CANCELED, "parent is done");
		return j;
	}
	job_arm(j);
	return j;
}

/*
 * j's running attempt ended without a result (jqd went away, a lease ran
 * out): queued again as attempt + 1 if it has retries left (returns
 * true), else nothing is changed (returns false; it fails "interrupted").
 * PROTOCOL.md 11.9.
 */
static bool
job_interrupt_requeue(struct job *j)
{
	j->started_ms = -1;
	strbuf_reset(&j->out);
	strbuf_reset(&j->err);
	if (j->attempt > j->spec.retries)
		return false;
	j->attempt++;
	job_set_state(j, JOB_QUEUED);
	return true;
}

struct job *
jobs_restore(struct jobs *js, struct job *j)
{
	jobs_link(js, j);
	if (job_state_final(j->state) && j->worker_id != NULL)
		j->result_attempt = j->attempt;
	if (j->state != JOB_RUNNING)
		return j;
	if (j->worker_id != NULL && js->remote != NULL) {
		/* Its process may still run on its agent: wait for it. */
		js->remote->restore(js->remote_arg, j);
		return j;
	}
	/* It was running when jqd went away, and may still be. */
	spawn_kill_leftover(j);
	j->pid = 0;
	free(j->pid_boot);
	j->pid_boot = NULL;
	if (job_interrupt_requeue(j)) {
		job_save(j);
		return j;
	}
	j->finished_ms = job_now_ms();
	free(j->error);
	j->error = strdup("interrupted");
	job_set_state(j, JOB_FAILED);
	job_finished(j);
	job_save(j);
	return j;
}

void
job_interrupted(struct job *j)
{
	assert(j->state == JOB_RUNNING && j->worker == NULL &&
	    j->proc == NULL);
	if (j->wake != NULL)
		evtimer_del(j->wake);
	j->stop = JOB_STOP_NONE;
	if (!job_interrupt_requeue(j)) {
		job_finish(j, JOB_FAILED, "interrupted");
		return;
	}
	job_save_state(j);
	pool_enqueue(j->jobs, j);
	pool_schedule(j->jobs);
}

void
job_attempt_begin(struct job *j)
{
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
}

void
job_attempt_started(struct job *j)
{
	job_save_state(j);
	job_started(j);
}

void
job_output_append(struct job *j, int stream, const char *buf, size_t n)
{
	struct strbuf		*sb = stream == 0 ? &j->out : &j->err;
	bool			*trunc = stream == 0 ? &j->out_truncated :
				    &j->err_truncated;
	const struct job_hooks	*h = j->jobs->hooks;
	size_t			 from = sb->len;

	if (strbuf_append_max(sb, buf, n, j->jobs->cfg.max_output, trunc) &&
	    h->output != NULL)
		h->output(j->jobs->hooks_arg, j, stream, sb->data, from,
		    sb->len, false);
}

void
job_output_end(struct job *j)
{
	const struct job_hooks	*h = j->jobs->hooks;

	if (h->output != NULL) {
		/* The streams are over: a sequence cut short at the end stays
		 * so (repaired below); watchers get their last bytes. */
		h->output(j->jobs->hooks_arg, j, 0, j->out.data, j->out.len,
		    j->out.len, true);
		h->output(j->jobs->hooks_arg, j, 1, j->err.data, j->err.len,
		    j->err.len, true);
	}
	utf8_repair(&j->out);
	utf8_repair(&j->err);
}

/* Forget a final job: from the store, the tables and the tree. */
static void
jobs_forget(struct jobs *js, struct job *j)
{
	struct job	*c;

	js->hooks->forget(js->hooks_arg, j);
	while ((c = TAILQ_FIRST(&j->children)) != NULL) {
		TAILQ_REMOVE(&j->children, c, sibling_entry);
		c->parent = NULL;
	}
	if (j->parent != NULL)
		TAILQ_REMOVE(&j->parent->children, j, sibling_entry);
	TAILQ_REMOVE(&js->all, j, all_entry);
	TAILQ_REMOVE(&js->finished, j, final_entry);
	js->nfinished--;
	js->finished_out_bytes -= j->out_bytes;
	if (j->out_held)
		TAILQ_REMOVE(&js->out_held, j, held_entry);
	map_remove(&js->by_id, &j->id_entry);
	if (j->spec.key != NULL)
		map_remove(&js->by_key, &j->key_entry);
	js->njobs--;
	js->count[j->state]--;
	if (j->group != NULL) {
		TAILQ_REMOVE(&j->group->jobs, j, group_entry);
		j->group->count[j->state]--;
		j->group->total--;
		jobs_group_release(js, j->group);
	}
	job_free(j);
}

/* A result still waiting for its result_chan keeps its job. */
static bool
jobs_may_forget(const struct job *j)
{
	return j->spec.result_chan == NULL || j->delivered;
}

static void
jobs_purge_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobs	*js = arg;
	struct job	*j, *next;
	int64_t		 cutoff = job_now_ms() - js->cfg.retention_ms;
	struct timeval	 tv = { JOBS_PURGE_MS / 1000, 0 };

	for (j = TAILQ_FIRST(&js->all); j != NULL; j = next) {
		next = TAILQ_NEXT(j, all_entry);
		if (!job_state_final(j->state) || j->finished_ms > cutoff ||
		    !jobs_may_forget(j))
			continue;
		jobs_forget(js, j);
	}
	pool_release_empty(js);
	evtimer_add(js->ev_purge, &tv);
}

size_t
jobs_purge(struct jobs *js, const struct jobs_purge_filter *f)
{
	struct job	*j, *next;
	size_t		 n = 0;

	for (j = TAILQ_FIRST(&js->finished); j != NULL; j = next) {
		next = TAILQ_NEXT(j, final_entry);
		if ((f->state >= 0 && j->state != (enum job_state)f->state) ||
		    (f->group != NULL && (j->spec.group == NULL ||
		    strcmp(j->spec.group, f->group) != 0)) ||
		    (f->before_ms >= 0 && j->finished_ms >= f->before_ms) ||
		    !jobs_may_forget(j))
			continue;
		jobs_forget(js, j);
		n++;
	}
	pool_release_empty(js);
	return n;
}

/*
 * Past max_retained_jobs or max_retained_output: forget the jobs that
 * finished first, as retention would later.  Run from the loop (not from
 * job_set_state, whose callers may be walking the lists it changes).
 */
static void
jobs_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobs	*js = arg;
	struct job	*j, *next;
	size_t		 n = 0;
	uint64_t	 bytes = 0;

	for (j = TAILQ_FIRST(&js->finished); j != NULL &&
	    (js->nfinished > js->cfg.max_retained_jobs ||
	    js->finished_out_bytes > js->cfg.max_retained_output); j = next) {
		next = TAILQ_NEXT(j, final_entry);
		if (!jobs_may_forget(j))
			continue;
		n++;
		bytes += j->out_bytes;
		jobs_forget(js, j);
	}
	if (n > 0)
		log_info("purged %zu finished job%s early (%llu bytes of "
		    "output): max_retained_jobs %llu, max_retained_output "
		    "%llu; %zu kept", n, log_plural(n),
		    (unsigned long long)bytes,
		    (unsigned long long)js->cfg.max_retained_jobs,
		    (unsigned long long)js->cfg.max_retained_output,
		    js->nfinished);
}

void
jobs_init(struct jobs *js, struct event_base *base,
    const struct jobs_config *cfg, const struct job_hooks *hooks, void *arg)
{
	memset(js, 0, sizeof(*js));
	js->base = base;
	js->cfg = *cfg;
	js->hooks = hooks;
	js->hooks_arg = arg;
	TAILQ_INIT(&js->all);
	pool_init(js);
	TAILQ_INIT(&js->finished);
	TAILQ_INIT(&js->out_held);
	map_init(&js->by_id);
	map_init_str(&js->by_key, job_key_equal);
	map_init_str(&js->groups, jgroup_name_equal);
	js->next_id = 1;
	js->ev_purge = evtimer_new(base, jobs_purge_cb, js);
	js->ev_trim = evtimer_new(base, jobs_trim_cb, js);
	if (js->ev_purge == NULL || js->ev_trim == NULL)
		fatal("out of memory");
	spawn_init(js);
}

static int
jobs_cmp_finished(const void *a, const void *b)
{
	const struct job	*x = *(struct job *const *)a;
	const struct job	*y = *(struct job *const *)b;

	if (x->finished_ms != y->finished_ms)
		return x->finished_ms < y->finished_ms ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Put the restored finished jobs in the order they finished. */
static void
jobs_sort_finished(struct jobs *js)
{
	struct job	**v, *j;
	size_t		  n = 0, i;

	v = job_xcalloc(js->nfinished + 1, sizeof(*v));
	TAILQ_FOREACH(j, &js->finished, final_entry)
		v[n++] = j;
	qsort(v, n, sizeof(*v), jobs_cmp_finished);
	TAILQ_INIT(&js->finished);
	for (i = 0; i < n; i++)
		TAILQ_INSERT_TAIL(&js->finished, v[i], final_entry);
	free(v);
}

void
jobs_set_remote(struct jobs *js, const struct job_remote *r, void *arg)
{
	js->remote = r;
	js->remote_arg = arg;
}

/*
 * The timers of a job restored running (on a worker): its deadline, and
 * what is left of its run timeout.
 */
static void
job_arm_running(struct job *j)
{
	struct jobs	*js = j->jobs;
	int64_t		 now = job_now_ms();

	if (j->deadline_ms >= 0)
		job_timer_set(&j->timer, js->base, job_deadline_cb, j,
		    j->deadline_ms - now);
	if (j->spec.run_timeout_ms >= 0 && j->started_ms >= 0)
		job_timer_set(&j->wake, js->base, job_wake_cb, j,
		    j->started_ms + j->spec.run_timeout_ms - now);
}

void
jobs_start(struct jobs *js)
{
	struct job	*j, *next;

	for (j = TAILQ_FIRST(&js->all); j != NULL; j = next) {
		next = TAILQ_NEXT(j, all_entry);
		if (j->state == JOB_QUEUED)
			job_arm(j);
		else if (j->state == JOB_RUNNING)
			job_arm_running(j);
	}
	jobs_sort_finished(js);
	jobs_purge_cb(-1, 0, js);
	jobs_trim_cb(-1, 0, js);
}

void
jobs_fini(struct jobs *js)
{
	struct job		*j;
	struct map_iter		 it;
	struct map_entry	*e;

	while ((j = TAILQ_FIRST(&js->all)) != NULL) {
		TAILQ_REMOVE(&js->all, j, all_entry);
		if (j->proc != NULL)
			spawn_kill(js, j, true);
		job_free(j);
	}
	MAP_FOREACH(e, &it, &js->groups) {
		map_remove(&js->groups, e);
		free(MAP_ELEM(e, struct jgroup, name_entry));
	}
	map_fini(&js->groups);
	map_fini(&js->by_id);
	map_fini(&js->by_key);
	pool_fini(js);
	spawn_fini(js);
	if (js->ev_purge != NULL)
		event_free(js->ev_purge);
	if (js->ev_trim != NULL)
		event_free(js->ev_trim);
	if (js->ev_pump != NULL)
		event_free(js->ev_pump);
}

size_t
jobs_queued(const struct jobs *js)
{
	return js->count[JOB_QUEUED];
}

/* -- cancellation ------------------------------------------------------- */

/* Cancel j; how many jobs that ended, j's descendants included. */
static size_t
job_cancel_one(struct job *j)
{
	if (j->state == JOB_QUEUED)
		return 1 + job_finish(j, JOB_CANCELED, NULL);
	if (j->state == JOB_RUNNING && j->stop != JOB_STOP_CANCEL) {
		/* A drain would run it again elsewhere: cancel wins. */
		if (j->stop == JOB_STOP_NONE || j->stop == JOB_STOP_DRAIN)
			j->stop = JOB_STOP_CANCEL;
		job_kill(j, false);
		return 1;
	}
	return 0;
}

/* Cancel every descendant of j that is not final. */
static size_t
job_cancel_children(struct job *j)
{
	struct job	*c;
	size_t		 n = 0;

	TAILQ_FOREACH(c, &j->children, sibling_entry) {
		n += job_cancel_one(c);
		n += job_cancel_children(c);
	}
	return n;
}

size_t
jobs_cancel(struct jobs *js, struct job *j)
{
	return job_cancel_one(j) + job_cancel_children(j);
}

size_t
jobs_cancel_group(struct jobs *js, struct jgroup *g)
{
	struct job	*j;
	size_t		 n = 0;

	TAILQ_FOREACH(j, &g->jobs, group_entry)
		n += jobs_cancel(js, j);
	return n;
}

/* -- process end ----------------------------------------------------------- */

void
job_exited(struct job *j, int status)
{
	struct jobs	*js = j->jobs;
	int64_t		 backoff;

	if (j->wake != NULL)
		evtimer_del(j->wake);
	switch (j->stop) {
	case JOB_STOP_SHUTDOWN:
	case JOB_STOP_DRAIN:
		/*
		 * Run again as the same attempt: after the restart, or at
		 * once elsewhere when its worker drained.
		 */
		j->started_ms = -1;
		strbuf_reset(&j->out);
		strbuf_reset(&j->err);
		job_set_state(j, JOB_QUEUED);
		job_save_state(j);
		if (j->stop == JOB_STOP_DRAIN) {
			pool_enqueue(js, j);
			pool_schedule(js);
		}
		j->stop = JOB_STOP_NONE;
		return;
	case JOB_STOP_CANCEL:
		job_finish(j, JOB_CANCELED, NULL);
		return;
	case JOB_STOP_DEADLINE:
		job_finish(j, JOB_DEADLINE_EXCEEDED, "deadline exceeded");
		return;
	case JOB_STOP_RUN_TIMEOUT:
		job_finish(j, JOB_DEADLINE_EXCEEDED, "run_timeout");
		return;
	case JOB_STOP_NONE:
		break;
	}
	if (status >= 0 && WIFEXITED(status)) {
		j->exit_code = WEXITSTATUS(status);
		if (j->exit_code == 0) {
			job_finish(j, JOB_SUCCEEDED, NULL);
			return;
		}
	} else if (status >= 0 && WIFSIGNALED(status))
		j->signal = WTERMSIG(status);
	if (j->attempt > j->spec.retries) {
		job_finish(j, JOB_FAILED, NULL);
		return;
	}
	/*
	 * Retry: retry_delay doubled each attempt (at most 2^20 times),
	 * deadline still on.  retry-delay is at most a day (config.c), so
	 * this stays below 2^47 ms.
	 */
	backoff = js->cfg.retry_delay_ms * ((int64_t)1 << (j->attempt - 1 <
	    20 ? j->attempt - 1 : 20));
	j->attempt++;
	j->not_before_ms = job_now_ms() + backoff;
	job_set_state(j, JOB_QUEUED);
	job_save_state(j);
	job_timer_set(&j->wake, js->base, job_wake_cb, j, backoff);
}

/* -- jqd's own slots ---------------------------------------------------- */

void
jobs_set_workers(struct jobs *js, int workers)
{
	js->cfg.workers = workers;
	/* More slots start jobs now; fewer wait for running ones to end. */
	pool_schedule(js);
}

/* -- shutdown ----------------------------------------------------------- */

void
jobs_pause(struct jobs *js)
{
	js->paused = true;
}

void
jobs_kill_running(struct jobs *js)
{
	struct job	*j;

	TAILQ_FOREACH(j, &js->all, all_entry) {
		if (j->state == JOB_RUNNING && j->proc != NULL)
			spawn_kill(js, j, true);
	}
}

void
jobs_stop_running(struct jobs *js)
{
	struct job	*j;

	TAILQ_FOREACH(j, &js->all, all_entry) {
		if (j->state == JOB_RUNNING && j->proc != NULL &&
		    j->stop == JOB_STOP_NONE) {
			j->stop = JOB_STOP_SHUTDOWN;
			spawn_kill(js, j, false);
		}
	}
}
