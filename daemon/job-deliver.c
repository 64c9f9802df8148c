/*
 * Result delivery: a final job's result object, with its output, goes to
 * the job's result_chan as one value.  The pool never waits for this: if
 * the channel has no room, a sender parks on it like any client's, and
 * the job is marked delivered (and saved) in the same commit as the value
 * it sent.  A result that cannot be delivered (no such channel, closed,
 * dropped) is logged, and the job is marked delivered all the same.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "job-deliver.h"
#include "job.h"
#include "log.h"
#include "op-job.h"
#include "server.h"
#include "strbuf.h"
#include "value.h"
#include "waitq.h"

/* Mark job id delivered; why (logged) says why it was not, or NULL. */
static void
job_deliver_done(struct server *s, int64_t id, const char *why)
{
	struct job	*j = jobs_find(&s->jobs, id);

	if (j == NULL)
		return;
	if (why != NULL)
		log_warn("job %lld: result not delivered to '%s': %s",
		    (long long)id, j->spec.result_chan, why);
	j->delivered = true;
	op_job_save(s, j);
}

static uint64_t
job_deliver_wake_cb(struct waiter *w, int index, enum wake_result result,
    struct value_list *values, void *arg)
{
	struct delivery	*d = arg;

	/* No request owns this waiter: abort never reaches it. */
	assert(result != WAKE_ABORTED);
	job_deliver_done(d->server, d->job, result == WAKE_SENT ? NULL :
	    result == WAKE_CLOSED ? "channel closed" : "channel dropped");
	return 0;
}

static void
job_deliver_free_cb(struct waiter *w, void *arg)
{
	struct delivery	*d = arg;

	TAILQ_REMOVE(&d->server->deliveries, d, entry);
	free(d);
}

void
job_deliver(struct server *s, struct job *j)
{
	struct value_list	 list = TAILQ_HEAD_INITIALIZER(list);
	struct strbuf		 text = STRBUF_INIT;
	struct delivery		*d;
	struct value		*v;
	struct chan		*ch;

	if (j->spec.result_chan == NULL || j->delivered)
		return;
	ch = chanmap_find(&s->chans, j->spec.result_chan,
	    strlen(j->spec.result_chan));
	if (ch == NULL) {
		job_deliver_done(s, j->id, "no such channel");
		return;
	}
	/*
	 * A result is sent when its job ends, its output still in memory;
	 * only at start-up is it read from the store (and the loop waits).
	 */
	if (op_job_result_append(s, j, true, true, &text) == -1) {
		strbuf_fini(&text);
		return;
	}
	v = value_new(text.data, text.len);
	strbuf_fini(&text);
	TAILQ_INSERT_TAIL(&list, v, entry);
	switch (chan_send(ch, &list, 1)) {
	case CHAN_OK:
		job_deliver_done(s, j->id, NULL);
		return;
	case CHAN_CLOSED:
		value_list_free(&list);
		job_deliver_done(s, j->id, "channel closed");
		return;
	case CHAN_BLOCKED:
		break;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		fatal("out of memory");
	d->server = s;
	d->job = j->id;
	d->w = waiter_new(1, job_deliver_wake_cb, d);
	d->w->free_cb = job_deliver_free_cb;
	d->w->cases[0].chan = ch;
	d->w->cases[0].is_send = true;
	d->w->cases[0].nvalues = 1;
	TAILQ_CONCAT(&d->w->cases[0].values, &list, entry);
	TAILQ_INSERT_TAIL(&s->deliveries, d, entry);
	waiter_park(d->w, s->base, -1);
}
