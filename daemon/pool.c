/*
 * The worker pool: queued jobs that may start wait on one ready queue,
 * ordered by priority (higher first), then by id (FIFO); at most `workers`
 * run at once.  Starting happens from a deferred event, never inside the
 * caller that freed a worker or queued a job, so state changes don't nest.
 */
#include <event2/event.h>

#include "log.h"
#include "pool.h"
#include "spawn-job.h"

void
pool_enqueue(struct jobs *js, struct job *j)
{
	struct job	*at;

	if (j->queued)
		return;
	/* Most jobs arrive in id order at one priority: scan from the tail. */
	TAILQ_FOREACH_REVERSE(at, &js->ready, job_list, queue_entry) {
		if (at->spec.priority > j->spec.priority ||
		    (at->spec.priority == j->spec.priority && at->id < j->id))
			break;
	}
	if (at == NULL)
		TAILQ_INSERT_HEAD(&js->ready, j, queue_entry);
	else
		TAILQ_INSERT_AFTER(&js->ready, at, j, queue_entry);
	j->queued = true;
}

void
pool_dequeue(struct jobs *js, struct job *j)
{
	if (!j->queued)
		return;
	TAILQ_REMOVE(&js->ready, j, queue_entry);
	j->queued = false;
}

static void
pool_pump_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jobs	*js = arg;
	struct job	*j;

	while (!js->paused && js->running < (size_t)js->cfg.workers &&
	    (j = TAILQ_FIRST(&js->ready)) != NULL) {
		pool_dequeue(js, j);
		(void)spawn_job(js, j);
	}
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
