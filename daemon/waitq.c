/*
 * Waiters: one parked request, its cases on channel queues, its timer.
 * The channel side (who is first, who may proceed) lives in chan.c; this
 * file only links, unlinks and ends waiters.  See waitq.h.
 */
#include <assert.h>
#include <stdlib.h>

#include <event2/event.h>

#include "chan.h"
#include "log.h"
#include "waitq.h"
#include "units.h"

struct waiter *
waiter_new(int ncases, waiter_cb *cb, void *arg)
{
	struct waiter	*w;
	int		 i;

	assert(ncases >= 0);
	w = calloc(1, sizeof(*w) + (size_t)ncases * sizeof(w->cases[0]));
	if (w == NULL)
		fatal("out of memory");
	w->cb = cb;
	w->arg = arg;
	w->ncases = ncases;
	for (i = 0; i < ncases; i++) {
		w->cases[i].waiter = w;
		w->cases[i].index = i;
		TAILQ_INIT(&w->cases[i].values);
	}
	return w;
}

static void
waiter_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct waiter	*w = arg;

	waiter_wake(w, NULL, WAKE_TIMEOUT, NULL);
}

void
waiter_park(struct waiter *w, struct event_base *base, int64_t timeout_ms)
{
	struct timeval	 tv;
	int		 i;

	for (i = 0; i < w->ncases; i++)
		chan_enqueue(w->cases[i].chan, &w->cases[i]);
	if (timeout_ms < 0)
		return;
	w->timer = evtimer_new(base, waiter_timeout_cb, w);
	if (w->timer == NULL)
		fatal("out of memory");
	tv = units_ms_timeval(timeout_ms);
	/* From now, not from the loop's last wake-up: never early. */
	event_base_update_cache_time(base);
	evtimer_add(w->timer, &tv);
}

/*
 * Take every case off its channel.  With serve, a channel where one of our
 * cases was the first waiting sender is served again: a batch at the head
 * holds back the senders behind it, and when it leaves without sending
 * (timeout, abandon) they may fit.  Two passes, so that serving cannot
 * wake this waiter through a case still linked.
 */
static void
waiter_unlink(struct waiter *w, bool serve)
{
	int	 i;

	for (i = 0; i < w->ncases; i++) {
		w->cases[i].was_head = false;
		if (w->cases[i].linked)
			w->cases[i].was_head = chan_dequeue(w->cases[i].chan,
			    &w->cases[i]);
	}
	if (w->timer != NULL) {
		event_free(w->timer);
		w->timer = NULL;
	}
	for (i = 0; serve && i < w->ncases; i++) {
		if (w->cases[i].was_head)
			chan_serve(w->cases[i].chan);
	}
}

uint64_t
waiter_wake(struct waiter *w, struct waitcase *wc, enum wake_result result,
    struct value_list *values)
{
	struct value_list	 empty = TAILQ_HEAD_INITIALIZER(empty);
	uint64_t		 seq;

	/* A wake from a channel operation is already serving the channel. */
	waiter_unlink(w, wc == NULL);
	if (values == NULL)
		values = &empty;
	seq = w->cb(w, wc != NULL ? wc->index : -1, result, values, w->arg);
	value_list_free(values);
	waiter_free(w);
	return seq;
}

void
waiter_free(struct waiter *w)
{
	int	 i;

	if (w == NULL)
		return;
	waiter_unlink(w, true);
	for (i = 0; i < w->ncases; i++)
		value_list_free(&w->cases[i].values);
	if (w->free_cb != NULL)
		w->free_cb(w, w->arg);
	free(w);
}
