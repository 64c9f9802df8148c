/*
 * The history ring (dash-history.h).  Each second the timer reads the
 * server's running totals -- values sent and received by every channel,
 * jobs that reached a final state, store commits and their summed
 * latency -- and keeps the differences from the second before: a fixed
 * ring of DASH_HISTORY_SAMPLES, nothing else held.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <event2/event.h>

#include "dash-history.h"
#include "job.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "units.h"

/* The running totals; a sample is the difference of two. */
struct dash_totals {
	uint64_t	 sent;
	uint64_t	 received;
	uint64_t	 finished;
	uint64_t	 commits;
	double		 commit_s;	/* summed commit latency */
};

struct dash_sample {
	int64_t			 t_ms;	/* wall clock, the second's end */
	struct dash_totals	 d;	/* what the second added */
};

struct dash_history {
	struct server		*server;
	struct event		*ev_tick;
	struct dash_totals	 last;
	struct dash_sample	 ring[DASH_HISTORY_SAMPLES];
	size_t			 next;		/* where the next one goes */
	size_t			 n;
};

static void
dash_history_totals(struct server *s, struct dash_totals *t)
{
	size_t	 i;

	t->sent = s->totals.sent;
	t->received = s->totals.received;
	t->finished = 0;
	for (i = 0; i < JOB_NSTATES; i++) {
		if (job_state_final((enum job_state)i))
			t->finished += s->jobs.finished_total[i];
	}
	t->commits = s->commit_hist.count;
	t->commit_s = s->commit_hist.sum;
}

static void
dash_history_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dash_history	*h = arg;
	struct dash_sample	*x = &h->ring[h->next];
	struct dash_totals	 now;

	dash_history_totals(h->server, &now);
	x->t_ms = units_clock_ms(CLOCK_REALTIME);
	x->d.sent = now.sent - h->last.sent;
	x->d.received = now.received - h->last.received;
	x->d.finished = now.finished - h->last.finished;
	x->d.commits = now.commits - h->last.commits;
	x->d.commit_s = now.commit_s - h->last.commit_s;
	h->last = now;
	h->next = (h->next + 1) % DASH_HISTORY_SAMPLES;
	if (h->n < DASH_HISTORY_SAMPLES)
		h->n++;
}

struct dash_history *
dash_history_new(struct server *s)
{
	struct dash_history	*h;
	struct timeval		 tv = units_ms_timeval(DASH_HISTORY_MS);

	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->ev_tick = event_new(s->base, -1, EV_PERSIST,
	    dash_history_tick_cb, h)) == NULL)
		fatal("out of memory");
	h->server = s;
	dash_history_totals(s, &h->last);
	evtimer_add(h->ev_tick, &tv);
	return h;
}

void
dash_history_free(struct dash_history *h)
{
	if (h == NULL)
		return;
	event_free(h->ev_tick);
	free(h);
}

char *
dash_history_dump(const struct dash_history *h, size_t *len)
{
	const struct dash_sample	*x;
	json_t				*a, *ms, *v;
	size_t				 i;
	char				*s;

	if ((a = json_array()) == NULL)
		fatal("out of memory");
	for (i = 0; i < h->n; i++) {
		x = &h->ring[(h->next + DASH_HISTORY_SAMPLES - h->n + i) %
		    DASH_HISTORY_SAMPLES];
		ms = x->d.commits > 0 ? json_real(x->d.commit_s * 1e3 /
		    (double)x->d.commits) : json_null();
		if (json_array_append_new(a, json_pack("{s:I, s:I, s:I, s:I, "
		    "s:I, s:o}", "t", (json_int_t)x->t_ms, "sent",
		    (json_int_t)x->d.sent, "received",
		    (json_int_t)x->d.received, "finished",
		    (json_int_t)x->d.finished, "commits",
		    (json_int_t)x->d.commits, "commit_ms", ms)) == -1)
			fatal("out of memory");
	}
	v = json_pack("{s:b, s:i, s:o}", "ok", 1, "interval_ms",
	    DASH_HISTORY_MS, "samples", a);
	/* Microseconds are plenty: 0.608, not 0.60825000000000007. */
	if (v == NULL || (s = json_dumps(v, JSON_COMPACT |
	    JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6))) == NULL)
		fatal("out of memory");
	json_decref(v);
	*len = strlen(s);
	return s;
}
