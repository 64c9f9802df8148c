/*
 * The pools: queued jobs that may start wait on their pool's ready queue,
 * ordered by priority (higher first), then by id (FIFO).  jqd's own slots
 * take jobs of pool "local", at most `workers` at once (none with
 * --workers 0); the agents take jobs of theirs through worker.c
 * (pool_peek).  Starting happens from a deferred event, never inside the
 * caller that freed a slot or queued a job, so state changes don't nest.
 *
 * A pool exists while it has jobs not final or is paused (and the local
 * one always): released by the retention purge, never while a caller may
 * hold it.  A paused pool starts nothing; its place in the agents' choice
 * (pool_peek) is skipped, so they take from their other pools.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "pool.h"
#include "spawn-job.h"

static bool
pool_name_equal(const struct map_entry *e, const char *name, size_t len)
{
	const struct pool_queue	*p = MAP_ELEM(e, struct pool_queue,
				    name_entry);

	return strlen(p->name) == len && memcmp(p->name, name, len) == 0;
}

struct pool_queue *
pool_find(struct jobs *js, const char *name)
{
	return MAP_ELEM(map_find_str(&js->pools, name, strlen(name)),
	    struct pool_queue, name_entry);
}

static struct pool_queue *
pool_get(struct jobs *js, const char *name)
{
	struct pool_queue	*p;
	size_t			 len = strlen(name);

	if ((p = pool_find(js, name)) != NULL)
		return p;
	if ((p = calloc(1, sizeof(*p) + len + 1)) == NULL)
		fatal("out of memory");
	memcpy(p->name, name, len + 1);
	TAILQ_INIT(&p->ready);
	map_insert_str(&js->pools, &p->name_entry, p->name, len);
	return p;
}

void
pool_init(struct jobs *js)
{
	map_init_str(&js->pools, pool_name_equal);
	js->local = pool_get(js, JOB_POOL_LOCAL);
}

void
pool_fini(struct jobs *js)
{
	struct map_iter		 it;
	struct map_entry	*e;

	MAP_FOREACH(e, &it, &js->pools) {
		map_remove(&js->pools, e);
		free(MAP_ELEM(e, struct pool_queue, name_entry));
	}
	map_fini(&js->pools);
	js->local = NULL;
}

void
pool_link(struct jobs *js, struct job *j)
{
	if (job_state_final(j->state))
		return;
	j->pool = pool_get(js, job_pool_name(j));
	if (j->state == JOB_QUEUED)
		j->pool->queued++;
	else
		j->pool->running++;
}

void
pool_count(struct job *j, enum job_state from)
{
	struct pool_queue	*p = j->pool;

	if (p == NULL)
		return;
	if (from == JOB_QUEUED)
		p->queued--;
	else if (from == JOB_RUNNING)
		p->running--;
	if (j->state == JOB_QUEUED)
		p->queued++;
	else if (j->state == JOB_RUNNING)
		p->running++;
	else
		j->pool = NULL;
}

void
pool_release_empty(struct jobs *js)
{
	struct map_iter		 it;
	struct map_entry	*e;
	struct pool_queue	*p;

	MAP_FOREACH(e, &it, &js->pools) {
		p = MAP_ELEM(e, struct pool_queue, name_entry);
		if (p == js->local || p->queued > 0 || p->running > 0 ||
		    p->paused)
			continue;
		map_remove(&js->pools, e);
		free(p);
	}
}

void
pool_enqueue(struct jobs *js, struct job *j)
{
	struct job	*at;
	struct job_list	*ready = &j->pool->ready;

	if (j->queued)
		return;
	/* Most jobs arrive in id order at one priority: scan from the tail. */
	TAILQ_FOREACH_REVERSE(at, ready, job_list, queue_entry) {
		if (at->spec.priority > j->spec.priority ||
		    (at->spec.priority == j->spec.priority && at->id < j->id))
			break;
	}
	if (at == NULL)
		TAILQ_INSERT_HEAD(ready, j, queue_entry);
	else
		TAILQ_INSERT_AFTER(ready, at, j, queue_entry);
	j->queued = true;
}

void
pool_dequeue(struct jobs *js, struct job *j)
{
	if (!j->queued)
		return;
	TAILQ_REMOVE(&j->pool->ready, j, queue_entry);
	j->queued = false;
}

struct job *
pool_peek(struct jobs *js, char *const *pools, size_t n)
{
	struct pool_queue	*p;
	struct job		*j, *best = NULL;
	size_t			 i;

	for (i = 0; i < n; i++) {
		if ((p = pool_find(js, pools[i])) == NULL || p->paused ||
		    (j = TAILQ_FIRST(&p->ready)) == NULL)
			continue;
		if (best == NULL || j->spec.priority > best->spec.priority ||
		    (j->spec.priority == best->spec.priority &&
		    j->id < best->id))
			best = j;
	}
	return best;
}

int
pool_pause(struct jobs *js, const char *name, bool pause, size_t max)
{
	struct pool_queue	*p = pool_find(js, name);

	if (p == NULL && !pause)
		return 0;		/* never paused: nothing to do */
	if (pause && (p == NULL || !p->paused) && js->npaused >= max)
		return -1;
	if (p == NULL)
		p = pool_get(js, name);
	if (p->paused != pause) {
		p->paused = pause;
		if (pause)
			js->npaused++;
		else
			js->npaused--;
	}
	/* Resumed: its ready jobs start now, here or on the agents. */
	if (!pause)
		pool_schedule(js);
	return 0;
}

static int
pool_cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **
pool_paused_names(struct jobs *js, size_t *n)
{
	struct map_iter		 it;
	struct map_entry	*e;
	struct pool_queue	*p;
	const char		**v;

	if ((v = calloc(js->npaused + 1, sizeof(*v))) == NULL)
		fatal("out of memory");
	*n = 0;
	MAP_FOREACH(e, &it, &js->pools) {
		p = MAP_ELEM(e, struct pool_queue, name_entry);
		if (p->paused)
			v[(*n)++] = p->name;
	}
	qsort(v, *n, sizeof(*v), pool_cmp_name);
	return v;
}

static void
pool_pump_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobs	*js = arg;
	struct job	*j;

	while (!js->paused && !js->local->paused &&
	    js->running < (size_t)js->cfg.workers &&
	    (j = TAILQ_FIRST(&js->local->ready)) != NULL) {
		pool_dequeue(js, j);
		(void)spawn_job(js, j);
	}
	if (!js->paused && js->remote != NULL)
		js->remote->pump(js->remote_arg);
}

void
pool_schedule(struct jobs *js)
{
	if (js->ev_pump == NULL &&
	    (js->ev_pump = event_new(js->base, -1, 0, pool_pump_cb, js)) ==
	    NULL)
		fatal("out of memory");
	event_active(js->ev_pump, EV_WRITE, 0);
}
