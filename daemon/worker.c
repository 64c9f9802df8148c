/*
 * Remote workers: the worker table, assignment, leases, results (see
 * worker.h; the wire side is op-worker.c).
 *
 * Invariants: a worker's attempts are exactly the running jobs whose
 * j->worker is it (w->busy of them, ws->remote_running in all); each has
 * a lease on the monotonic clock and w->ev_lease is armed for the
 * earliest while there is one.  A worker with no connection and no
 * attempt is forgotten at once.  Attempts end here (result, lease,
 * re-registration without it) by leaving the worker first, then through
 * job.c (job_exited, job_interrupted), which decides the job's state for
 * every executor alike.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "log.h"
#include "pool.h"
#include "units.h"
#include "worker.h"

static const char *const worker_state_names[WORKER_NSTATES] = {
	[WORKER_ACTIVE] = "active",
	[WORKER_DRAINING] = "draining",
	[WORKER_DISCONNECTED] = "disconnected",
};

/* The stops an agent carries out, as the wire names them. */
static const struct {
	enum job_stop	 stop;
	const char	*name;
} worker_stop_names[] = {
	{ JOB_STOP_CANCEL, "cancel" },
	{ JOB_STOP_DEADLINE, "deadline" },
	{ JOB_STOP_RUN_TIMEOUT, "run_timeout" },
	{ JOB_STOP_DRAIN, "drain" },
};

#define NSTOPS	(sizeof(worker_stop_names) / sizeof(worker_stop_names[0]))

static int64_t
worker_now_ms(void)
{
	return units_clock_ms(CLOCK_MONOTONIC);
}

static char *
worker_xstrdup(const char *s)
{
	char	*p;

	if (s == NULL)
		return NULL;
	if ((p = strdup(s)) == NULL)
		fatal("out of memory");
	return p;
}

const char *
worker_state_name(enum worker_state s)
{
	return worker_state_names[s];
}

enum worker_state
worker_state(const struct worker *w)
{
	if (w->conn == NULL)
		return WORKER_DISCONNECTED;
	return w->draining ? WORKER_DRAINING : WORKER_ACTIVE;
}

const char *
worker_stop_name(enum job_stop stop)
{
	size_t	 i;

	for (i = 0; i < NSTOPS; i++) {
		if (worker_stop_names[i].stop == stop)
			return worker_stop_names[i].name;
	}
	return NULL;
}

int
worker_stop_parse(const char *name, enum job_stop *stop)
{
	size_t	 i;

	for (i = 0; i < NSTOPS; i++) {
		if (strcmp(worker_stop_names[i].name, name) == 0) {
			*stop = worker_stop_names[i].stop;
			return 0;
		}
	}
	return -1;
}

void
worker_refs_add(struct worker_refs *r, int64_t job, int64_t attempt)
{
	if (r->n == r->cap) {
		r->cap = r->cap == 0 ? 8 : r->cap * 2;
		if ((r->v = reallocarray(r->v, r->cap, sizeof(*r->v))) ==
		    NULL)
			fatal("out of memory");
	}
	r->v[r->n].job = job;
	r->v[r->n].attempt = attempt;
	r->n++;
}

void
worker_refs_free(struct worker_refs *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* -- the table ----------------------------------------------------------- */

static bool
worker_id_equal(const struct map_entry *e, const char *id, size_t len)
{
	const struct worker	*w = MAP_ELEM(e, struct worker, id_entry);

	return strlen(w->id) == len && memcmp(w->id, id, len) == 0;
}

void
workers_init(struct workers *ws, struct jobs *js, struct event_base *base,
    int64_t heartbeat_ms, int64_t lease_ms, size_t max,
    const struct worker_hooks *hooks, void *arg)
{
	memset(ws, 0, sizeof(*ws));
	ws->js = js;
	ws->base = base;
	ws->heartbeat_ms = heartbeat_ms;
	ws->lease_ms = lease_ms;
	ws->max = max;
	ws->hooks = hooks;
	ws->hooks_arg = arg;
	map_init_str(&ws->by_id, worker_id_equal);
	TAILQ_INIT(&ws->takes);
}

struct worker *
workers_find(struct workers *ws, const char *id)
{
	return MAP_ELEM(map_find_str(&ws->by_id, id, strlen(id)),
	    struct worker, id_entry);
}

size_t
workers_count(const struct workers *ws)
{
	return map_count(&ws->by_id);
}

void
workers_count_states(const struct workers *ws, size_t *count)
{
	struct map_iter		 it;
	struct map_entry	*e;
	size_t			 i;

	for (i = 0; i < WORKER_NSTATES; i++)
		count[i] = 0;
	MAP_FOREACH(e, &it, &ws->by_id)
		count[worker_state(MAP_ELEM(e, struct worker, id_entry))]++;
}

static void	worker_lease_cb(evutil_socket_t fd, short what, void *arg);

static struct worker *
worker_new(struct workers *ws, const char *id)
{
	struct worker	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("out of memory");
	w->ws = ws;
	w->id = worker_xstrdup(id);
	w->pid = -1;
	w->registered_ms = -1;
	w->last_heartbeat_ms = -1;
	TAILQ_INIT(&w->attempts);
	if ((w->ev_lease = evtimer_new(ws->base, worker_lease_cb, w)) ==
	    NULL)
		fatal("out of memory");
	map_insert_str(&ws->by_id, &w->id_entry, w->id, strlen(w->id));
	return w;
}

/* Its description (not the id, the attempts, the binding). */
static void
worker_clear(struct worker *w)
{
	free(w->host);
	free(w->version);
	free(w->instance);
	job_strv_free(w->pools);
	job_strv_free(w->labels);
	w->host = w->version = w->instance = NULL;
	w->pools = w->labels = NULL;
	w->npools = w->nlabels = 0;
}

static void
worker_free(struct worker *w)
{
	struct job	*j;

	assert(w->take == NULL);
	while ((j = TAILQ_FIRST(&w->attempts)) != NULL) {
		TAILQ_REMOVE(&w->attempts, j, worker_entry);
		j->worker = NULL;
	}
	map_remove(&w->ws->by_id, &w->id_entry);
	event_free(w->ev_lease);
	worker_clear(w);
	worker_refs_free(&w->drops);
	free(w->id);
	free(w);
}

/*
 * When a disconnected draining worker with no attempt is forgotten: a
 * lease after it was last heard from, so that its agent reconnecting
 * meanwhile is still draining (worker_register); -1: not such a worker.
 */
static int64_t
worker_drain_kept_until(const struct worker *w)
{
	if (w->conn != NULL || w->busy > 0 || !w->draining)
		return -1;
	return w->heard_ms + w->ws->lease_ms;
}

static void	worker_lease_arm(struct worker *w);

/* Forget w if nothing ties it any more (no connection, no attempt). */
static void
worker_gc(struct worker *w)
{
	if (w->conn != NULL || w->busy > 0)
		return;
	if (worker_drain_kept_until(w) > worker_now_ms()) {
		worker_lease_arm(w);
		return;
	}
	log_info("worker %s forgotten: disconnected, no job left", w->id);
	worker_free(w);
}

void
workers_fini(struct workers *ws)
{
	struct map_iter		 it;
	struct map_entry	*e;
	struct worker		*w;

	MAP_FOREACH(e, &it, &ws->by_id) {
		w = MAP_ELEM(e, struct worker, id_entry);
		w->take = NULL;
		worker_free(w);
	}
	map_fini(&ws->by_id);
}

/* -- attempts and leases --------------------------------------------------- */

/* Arm w's timer for its earliest lease (or stop it: none). */
static void
worker_lease_arm(struct worker *w)
{
	struct job	*j;
	struct timeval	 tv;
	int64_t		 first = -1, delay;

	TAILQ_FOREACH(j, &w->attempts, worker_entry) {
		if (first < 0 || j->lease_until_ms < first)
			first = j->lease_until_ms;
	}
	if (first < 0)
		first = worker_drain_kept_until(w);
	if (first < 0) {
		evtimer_del(w->ev_lease);
		return;
	}
	/* Never early: from now, not the loop's cached time, rounded up. */
	delay = first - worker_now_ms() + 1;
	tv = units_ms_timeval(delay < 0 ? 0 : delay);
	evtimer_add(w->ev_lease, &tv);
}

static void
worker_attach(struct worker *w, struct job *j)
{
	j->worker = w;
	j->lease_until_ms = worker_now_ms() + w->ws->lease_ms;
	j->stop_sent = j->stop_now = false;
	TAILQ_INSERT_TAIL(&w->attempts, j, worker_entry);
	w->busy++;
	w->ws->remote_running++;
}

static void
worker_detach(struct job *j)
{
	struct worker	*w = j->worker;

	TAILQ_REMOVE(&w->attempts, j, worker_entry);
	w->busy--;
	w->ws->remote_running--;
	j->worker = NULL;
}

/*
 * j's attempt ended without a result: as its stop says (canceled,
 * deadline_exceeded, queued again after a drain), else interrupted.  A
 * connected agent is told to drop it.  Then the free slot is filled.
 */
static void
worker_attempt_lost(struct job *j, const char *why)
{
	struct worker	*w = j->worker;
	struct jobs	*js = w->ws->js;

	log_info("job %lld attempt %lld on worker %s: %s",
	    (long long)j->id, (long long)j->attempt, w->id, why);
	worker_detach(j);
	if (w->conn != NULL) {
		worker_refs_add(&w->drops, j->id, j->attempt);
		w->news = true;
	}
	if (j->stop != JOB_STOP_NONE) {
		job_output_end(j);
		job_exited(j, -1);
	} else
		job_interrupted(j);
	pool_schedule(js);
}

static void
worker_lease_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	struct job	*j, *next;
	int64_t		 now = worker_now_ms();

	for (j = TAILQ_FIRST(&w->attempts); j != NULL; j = next) {
		next = TAILQ_NEXT(j, worker_entry);
		if (j->lease_until_ms > now)
			continue;
		w->ws->leases_expired_total++;
		worker_attempt_lost(j, "lease ran out");
	}
	worker_lease_arm(w);
	worker_gc(w);
}

struct job *
worker_attempt(struct worker *w, int64_t job, int64_t attempt)
{
	struct job	*j = jobs_find(w->ws->js, job);

	if (j == NULL || j->worker != w || j->attempt != attempt)
		return NULL;
	return j;
}

/* -- the remote executor (job.c, pool.c) ------------------------------------ */

static void
worker_remote_stop(void *arg, struct job *j, bool now)
{
	struct worker	*w = j->worker;

	/* A second stop kills at once, as spawn_kill after SIGTERM. */
	j->stop_now = now || j->stop_sent || j->stop_now;
	j->stop_sent = false;
	w->news = true;
	pool_schedule(w->ws->js);
}

static void
worker_remote_pump(void *arg)
{
	struct workers	*ws = arg;
	struct worker	*w, *next;

	/* Answering unparks: the take leaves the list. */
	for (w = TAILQ_FIRST(&ws->takes); w != NULL; w = next) {
		next = TAILQ_NEXT(w, take_entry);
		if (worker_take_due(w))
			ws->hooks->answer(ws->hooks_arg, w);
	}
}

/*
 * A job restored running on a worker: it stays running there, with a
 * fresh lease, under a worker that is disconnected until its agent
 * registers again (and re-adopts it) or the lease runs out.
 */
static void
worker_remote_restore(void *arg, struct job *j)
{
	struct workers	*ws = arg;
	struct worker	*w;

	if ((w = workers_find(ws, j->worker_id)) == NULL)
		w = worker_new(ws, j->worker_id);
	worker_attach(w, j);
	worker_lease_arm(w);
}

const struct job_remote worker_remote = {
	.pump = worker_remote_pump,
	.stop = worker_remote_stop,
	.restore = worker_remote_restore,
};

/* -- the ops ------------------------------------------------------------- */

static bool
worker_ref_listed(const struct worker_ref *held, size_t nheld,
    const struct job *j)
{
	size_t	 i;

	for (i = 0; i < nheld; i++) {
		if (held[i].job == j->id && held[i].attempt == j->attempt)
			return true;
	}
	return false;
}

/*
 * Whether reg comes from the agent process that registered w last: the
 * same `instance` when both give one (a pid is no identity: an agent in
 * a container is always pid 1), else the same host and pid.
 */
static bool
worker_same_process(const struct worker *w, const struct worker_reg *reg)
{
	if (w->host == NULL)
		return false;
	if (w->instance != NULL || reg->instance != NULL)
		return w->instance != NULL && reg->instance != NULL &&
		    strcmp(w->instance, reg->instance) == 0;
	return w->pid == reg->pid && strcmp(w->host, reg->host) == 0;
}

struct worker *
worker_register(struct workers *ws, struct worker_reg *reg,
    const struct worker_ref *held, size_t nheld, struct worker_refs *adopted,
    struct worker_refs *drop)
{
	struct worker	*w;
	struct job	*j, *next;
	size_t		 i;

	if ((w = workers_find(ws, reg->id)) == NULL) {
		if (workers_count(ws) >= ws->max)
			return NULL;
		w = worker_new(ws, reg->id);
	}
	/*
	 * A drain is the agent process's: one that reconnects stays
	 * draining, a new one under the same id (restarted, redeployed)
	 * starts afresh.
	 */
	if (w->draining && !worker_same_process(w, reg)) {
		log_info("worker %s: a new agent process; no longer draining",
		    w->id);
		w->draining = false;
	}
	worker_clear(w);
	w->host = worker_xstrdup(reg->host);
	w->version = worker_xstrdup(reg->version);
	w->instance = worker_xstrdup(reg->instance);
	w->pid = reg->pid;
	w->slots = reg->slots;
	w->prefetch = reg->prefetch;
	w->take_prefetch = 0;
	w->pools = reg->pools;
	w->npools = reg->npools;
	w->labels = reg->labels;
	w->nlabels = reg->nlabels;
	reg->pools = reg->labels = NULL;
	w->registered_ms = job_now_ms();
	w->last_heartbeat_ms = w->registered_ms;
	w->heard_ms = worker_now_ms();
	/* The agent was told nothing on this session yet. */
	w->drain_told = false;
	w->news = w->draining;
	worker_refs_free(&w->drops);
	for (i = 0; i < nheld; i++) {
		j = worker_attempt(w, held[i].job, held[i].attempt);
		if (j == NULL || j->state != JOB_RUNNING)
			worker_refs_add(drop, held[i].job, held[i].attempt);
		else {
			j->lease_until_ms = worker_now_ms() + ws->lease_ms;
			/* Stops asked before go out again. */
			j->stop_sent = false;
			if (j->stop != JOB_STOP_NONE)
				w->news = true;
			worker_refs_add(adopted, j->id, j->attempt);
			log_info("job %lld attempt %lld re-adopted by worker %s",
			    (long long)j->id, (long long)j->attempt, w->id);
		}
	}
	for (j = TAILQ_FIRST(&w->attempts); j != NULL; j = next) {
		next = TAILQ_NEXT(j, worker_entry);
		if (!worker_ref_listed(held, nheld, j)) {
			ws->leases_expired_total++;
			worker_attempt_lost(j, "not held by the agent any more");
		}
	}
	/* It may have dropped news about attempts it no longer has. */
	worker_refs_free(&w->drops);
	worker_lease_arm(w);
	pool_schedule(ws->js);
	return w;
}

void
worker_bind(struct worker *w, struct conn *c)
{
	w->conn = c;
	if (c == NULL) {
		log_info("worker %s disconnected (%zu job%s on lease)", w->id,
		    w->busy, log_plural(w->busy));
		worker_gc(w);
	}
}

void
worker_take_park(struct worker *w, struct worker_take *t)
{
	assert(w->take == NULL);
	w->take = t;
	TAILQ_INSERT_TAIL(&w->ws->takes, w, take_entry);
}

void
worker_take_unpark(struct worker *w)
{
	if (w->take == NULL)
		return;
	w->take = NULL;
	TAILQ_REMOVE(&w->ws->takes, w, take_entry);
}

/*
 * Not heard from for a lease: its connection may still be open (a
 * partition leaves it so until TCP gives up), but it is as good as gone
 * -- its attempts' leases run out now.  It gets no job until its next
 * heartbeat, or every retry would go into the same silence.
 */
static bool
worker_silent(const struct worker *w)
{
	return worker_now_ms() - w->heard_ms >= w->ws->lease_ms;
}

void
worker_take_begin(struct worker *w, size_t prefetch)
{
	w->take_prefetch = prefetch < w->prefetch ? prefetch : w->prefetch;
}

/*
 * Whether w's take may get j now: not draining nor silent, within slots
 * + prefetch - busy, and beyond the free slots (an assignment the agent
 * may hold before starting it, PROTOCOL.md 11.18) only a job without
 * run_timeout_ms, whose timer here runs from the assignment.
 */
static bool
worker_room(const struct worker *w, const struct job *j)
{
	if (w->draining || j == NULL || worker_silent(w))
		return false;
	if (w->busy < w->slots)
		return true;
	return w->busy < w->slots + w->take_prefetch &&
	    j->spec.run_timeout_ms < 0;
}

bool
worker_take_due(struct worker *w)
{
	if (w->news || w->draining != w->drain_told)
		return true;
	return worker_room(w, pool_peek(w->ws->js, w->pools, w->npools));
}

size_t
worker_assign(struct worker *w, size_t max, struct job **jobs)
{
	struct jobs	*js = w->ws->js;
	struct job	*j;
	size_t		 n = 0;

	while (n < max && !js->paused &&
	    worker_room(w, j = pool_peek(js, w->pools, w->npools))) {
		pool_dequeue(js, j);
		job_attempt_begin(j);
		free(j->worker_id);
		j->worker_id = worker_xstrdup(w->id);
		worker_attach(w, j);
		js->started_total++;
		w->ws->assigned_total++;
		job_attempt_started(j);
		log_info("job %lld attempt %lld on worker %s",
		    (long long)j->id, (long long)j->attempt, w->id);
		jobs[n++] = j;
	}
	if (n > 0)
		worker_lease_arm(w);
	return n;
}

size_t
worker_stops(struct worker *w, bool unsent_only, struct worker_stop *stops)
{
	struct job	*j;
	size_t		 n = 0;

	TAILQ_FOREACH(j, &w->attempts, worker_entry) {
		if (j->stop == JOB_STOP_NONE || j->stop == JOB_STOP_SHUTDOWN ||
		    (unsent_only && j->stop_sent))
			continue;
		stops[n].job = j->id;
		stops[n].attempt = j->attempt;
		stops[n].reason = j->stop;
		stops[n].now = j->stop_now;
		n++;
		j->stop_sent = true;
	}
	return n;
}

void
worker_take_drops(struct worker *w, struct worker_refs *drop)
{
	size_t	 i;

	for (i = 0; i < w->drops.n; i++)
		worker_refs_add(drop, w->drops.v[i].job, w->drops.v[i].attempt);
	w->drops.n = 0;
}

void
worker_told(struct worker *w)
{
	w->news = false;
	w->drain_told = w->draining;
}

void
worker_heartbeat(struct worker *w, const struct worker_ref *held,
    size_t nheld, struct worker_refs *drop)
{
	struct job	*j;
	int64_t		 until = worker_now_ms() + w->ws->lease_ms;
	size_t		 i;

	w->last_heartbeat_ms = job_now_ms();
	/* Back from silence: it may take jobs again. */
	if (worker_silent(w))
		pool_schedule(w->ws->js);
	w->heard_ms = worker_now_ms();
	TAILQ_FOREACH(j, &w->attempts, worker_entry)
		j->lease_until_ms = until;
	for (i = 0; i < nheld; i++) {
		if (worker_attempt(w, held[i].job, held[i].attempt) == NULL)
			worker_refs_add(drop, held[i].job, held[i].attempt);
	}
	worker_take_drops(w, drop);
	worker_lease_arm(w);
}

void
worker_progress(struct job *j, int64_t done, int64_t total)
{
	const struct job_hooks	*h = j->jobs->hooks;

	if (j->progress_done == done && j->progress_total == total)
		return;
	j->progress_done = done;
	j->progress_total = total;
	if (h->progress != NULL)
		h->progress(j->jobs->hooks_arg, j, done, total);
}

int
worker_output(struct job *j, int stream, uint64_t offset, const char *data,
    size_t len)
{
	const struct strbuf	*sb = stream == 0 ? &j->out : &j->err;
	bool			 trunc = stream == 0 ? j->out_truncated :
				    j->err_truncated;
	size_t			 skip;

	if (offset > sb->len) {
		/* Past our cap the agent may hold more than we kept. */
		if (trunc)
			return 0;
		return -1;
	}
	/* What we hold already is what the agent resends. */
	skip = sb->len - (size_t)offset;
	if (skip < len)
		job_output_append(j, stream, data + skip, len - skip);
	return 0;
}

/*
 * The wait status a local process ending as r says would have had
 * (Linux's encoding, which job_exited reads with WIFEXITED...), or -1
 * when it could not start.
 */
static int
worker_wait_status(const struct worker_result *r)
{
	if (r->error != NULL)
		return -1;
	if (r->signal > 0)
		return r->signal & 0x7f;
	return (r->exit_code & 0xff) << 8;
}

enum worker_result_status
worker_result(struct worker *w, int64_t job, int64_t attempt,
    const struct worker_result *r)
{
	struct job	*j = jobs_find(w->ws->js, job);

	if (j == NULL)
		return WORKER_RESULT_NOT_CURRENT;
	if (j->worker != w || j->attempt != attempt) {
		if (j->worker_id != NULL && strcmp(j->worker_id, w->id) == 0 &&
		    j->result_attempt == attempt)
			return WORKER_RESULT_DUPLICATE;
		return WORKER_RESULT_NOT_CURRENT;
	}
	worker_detach(j);
	worker_lease_arm(w);
	if (r->error != NULL) {
		free(j->error);
		j->error = worker_xstrdup(r->error);
	}
	/*
	 * Handed back unstarted: queued again with the same attempt, as a
	 * drain-now stop ends (unless jqd stopped it: cancel wins...).  Its
	 * agent's slots are busy: its parked take gets no more held ones.
	 */
	if (r->returned) {
		if (j->stop == JOB_STOP_NONE)
			j->stop = JOB_STOP_DRAIN;
		w->take_prefetch = 0;
	}
	j->out_truncated |= r->out_truncated;
	j->err_truncated |= r->err_truncated;
	if (r->progress_done >= 0)
		worker_progress(j, r->progress_done, r->progress_total);
	/* jqd's own reason wins; else the agent's (it enforced a deadline). */
	if (j->stop == JOB_STOP_NONE)
		j->stop = r->stopped;
	j->result_attempt = attempt;
	log_debug("job %lld attempt %lld on worker %s: result", (long long)job,
	    (long long)attempt, w->id);
	job_output_end(j);
	job_exited(j, worker_wait_status(r));
	pool_schedule(w->ws->js);
	return WORKER_RESULT_RECORDED;
}

size_t
worker_drain(struct worker *w, bool now)
{
	struct job	*j;

	if (!w->draining)
		log_info("worker %s draining%s", w->id, now ? " now" : "");
	w->draining = true;
	if (now) {
		TAILQ_FOREACH(j, &w->attempts, worker_entry) {
			if (j->stop != JOB_STOP_NONE)
				continue;
			j->stop = JOB_STOP_DRAIN;
			worker_remote_stop(w->ws, j, false);
		}
	}
	pool_schedule(w->ws->js);
	return w->busy;
}
