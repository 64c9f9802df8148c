/*
 * Unit tests for daemon/chan.c, waitq.c and select.c, driven directly with
 * a real event base for timers.  A waiter's callback records who was woken,
 * on which case, with what result and which values (and in which order
 * among all wakes), so each test states exactly who moved where:
 * buffered FIFO, parked senders (single and batch) and receivers, recv max
 * and its byte cut, unbuffered rendezvous, close, drop, abandoned waiters,
 * select waiters on several channels, timeouts, counters and totals, and
 * select_choose's readiness and uniform choice.  The last test checks
 * that senders held back by a batch at the head of the queue move in
 * when that batch leaves without sending (abandoned or timed out).
 */
#include <sys/queue.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "chan.h"
#include "chanmap.h"
#include "select.h"
#include "tap.h"
#include "value.h"
#include "waitq.h"

#define BIG	((size_t)1 << 20)	/* max_bytes that never cuts */

/* What one waiter's callback saw. */
struct rec {
	struct waiter		*w;	/* parked; NULL once woken */
	int			 nwakes;
	int			 index;
	enum wake_result	 result;
	int			 seq;	/* order among all wakes */
	int			 nvalues;
	char			 text[256]; /* values, space-separated */
	uint64_t		 returned; /* by the callback: see rec_cb */
};

/* One case of a waiter to park; send is NULL for a recv case. */
struct case_spec {
	struct chan	*ch;
	const char	*send;		/* values, space-separated */
	size_t		 max;		/* recv: 0 means 1 */
	size_t		 max_bytes;	/* recv: 0 means BIG */
};

static struct chan_totals	 totals;
static struct event_base	*base;
static int			 wake_seq;

/* What the last trecv() took. */
static char			 got[256];
static size_t			 got_n;

static void
append_text(char *buf, size_t size, const char *s)
{
	size_t	 len = strlen(buf);

	snprintf(buf + len, size - len, "%s%s", len > 0 ? " " : "", s);
}

/*
 * Records the wake-up.  A receiver returns a number of its own, as the
 * daemon's callbacks return the sequence of their reply, for chan_handoff
 * to pass on to the sender.
 */
static uint64_t
rec_cb(struct waiter *w, int index, enum wake_result result,
    struct value_list *values, void *arg)
{
	struct rec	*r = arg;
	struct value	*v;

	if (r->w != w)
		ok(0, "callback called with the waiter it was parked as");
	r->w = NULL;
	r->nwakes++;
	r->index = index;
	r->result = result;
	r->seq = ++wake_seq;
	r->nvalues = 0;
	r->text[0] = '\0';
	TAILQ_FOREACH(v, values, entry) {
		append_text(r->text, sizeof(r->text), v->data);
		r->nvalues++;
	}
	r->returned = result == WAKE_RECEIVED ? 1000 + (uint64_t)r->seq : 0;
	return r->returned;
}

/* Free a waiter that is still parked (the connection went away). */
static void
rec_release(struct rec *r)
{
	if (r->w != NULL) {
		waiter_free(r->w);
		r->w = NULL;
	}
}

/* Append the space-separated words of s to l; returns how many. */
static size_t
list_push_words(struct value_list *l, const char *s)
{
	const char	*p = s, *end;
	struct value	*v;
	size_t		 n = 0;

	while (*p != '\0') {
		end = strchr(p, ' ');
		if (end == NULL)
			end = p + strlen(p);
		v = value_new(p, (size_t)(end - p));
		TAILQ_INSERT_TAIL(l, v, entry);
		n++;
		p = *end == ' ' ? end + 1 : end;
	}
	return n;
}

static size_t
list_count(const struct value_list *l)
{
	const struct value	*v;
	size_t			 n = 0;

	TAILQ_FOREACH(v, l, entry)
		n++;
	return n;
}

/*
 * chan_send of the space-separated values of s as one send (a batch when
 * there are several).  Checks the contract on *values: emptied on
 * CHAN_OK, untouched otherwise.
 */
static enum chan_status
tsend(struct chan *ch, const char *s)
{
	struct value_list	 l = TAILQ_HEAD_INITIALIZER(l);
	enum chan_status	 st;
	size_t			 n;

	n = list_push_words(&l, s);
	st = chan_send(ch, &l, n);
	if (list_count(&l) != (st == CHAN_OK ? 0 : n))
		ok(0, "chan_send('%s') left %zu of %zu values (status %d)",
		    s, list_count(&l), n, st);
	value_list_free(&l);
	return st;
}

/* chan_recv; what it took goes to got/got_n. */
static enum chan_status
trecv(struct chan *ch, size_t max, size_t max_bytes)
{
	struct chan_recv_opts	 o = { .max = max,
				     .max_bytes = max_bytes };
	struct value_list	 l = TAILQ_HEAD_INITIALIZER(l);
	struct value		*v;
	enum chan_status	 st;

	got[0] = '\0';
	st = chan_recv(ch, &o, &l, &got_n);
	TAILQ_FOREACH(v, &l, entry)
		append_text(got, sizeof(got), v->data);
	if (list_count(&l) != got_n)
		ok(0, "chan_recv: *nout %zu but %zu values appended", got_n,
		    list_count(&l));
	value_list_free(&l);
	return st;
}

/* Check a recv of one value gets expect. */
static void
recv_is(struct chan *ch, const char *expect, const char *name)
{
	int	 st = trecv(ch, 1, BIG);

	if (!ok(st == CHAN_OK && strcmp(got, expect) == 0, "%s", name))
		printf("#   status %d, got '%s', expected '%s'\n", st, got,
		    expect);
}

/* Park one waiter with n cases, recording into r. */
static void
park(struct rec *r, int64_t timeout_ms, const struct case_spec *cs, int n)
{
	struct waiter	*w;
	struct waitcase	*wc;
	int		 i;

	memset(r, 0, sizeof(*r));
	r->index = -2;
	w = waiter_new(n, rec_cb, r);
	for (i = 0; i < n; i++) {
		wc = &w->cases[i];
		wc->chan = cs[i].ch;
		if (cs[i].send != NULL) {
			wc->is_send = true;
			wc->nvalues = list_push_words(&wc->values,
			    cs[i].send);
		} else {
			wc->recv.max = cs[i].max != 0 ? cs[i].max : 1;
			wc->recv.max_bytes = cs[i].max_bytes != 0 ?
			    cs[i].max_bytes : BIG;
		}
	}
	r->w = w;
	waiter_park(w, base, timeout_ms);
}

static void
park_send(struct rec *r, struct chan *ch, const char *values,
    int64_t timeout_ms)
{
	struct case_spec	 cs = { ch, values, 0, 0 };

	park(r, timeout_ms, &cs, 1);
}

static void
park_recv(struct rec *r, struct chan *ch, size_t max, size_t max_bytes,
    int64_t timeout_ms)
{
	struct case_spec	 cs = { ch, NULL, max, max_bytes };

	park(r, timeout_ms, &cs, 1);
}

/* Check r was woken exactly once with result on index, holding text. */
static void
woken(const struct rec *r, enum wake_result result, int index,
    const char *text, const char *name)
{
	if (!ok(r->nwakes == 1 && r->result == result && r->index == index &&
	    strcmp(r->text, text) == 0, "%s", name))
		printf("#   wakes %d, result %d, index %d, text '%s'; "
		    "expected 1, %d, %d, '%s'\n", r->nwakes, r->result,
		    r->index, r->text, result, index, text);
}

static void
not_woken(const struct rec *r, const char *name)
{
	if (!ok(r->nwakes == 0 && r->w != NULL, "%s", name))
		printf("#   woken %d times, result %d, index %d\n",
		    r->nwakes, r->result, r->index);
}

static int
timers_pending(void)
{
	return event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED);
}

static struct chan *
chan_make(const char *name, uint32_t cap)
{
	return chan_new(name, strlen(name), cap, &totals);
}

static void
totals_zero(const char *name)
{
	if (!ok(totals.values == 0 && totals.bytes == 0, "%s", name))
		printf("#   totals: %llu values, %llu bytes\n",
		    (unsigned long long)totals.values,
		    (unsigned long long)totals.bytes);
}

static void
test_buffered_fifo(void)
{
	struct chan	*ch, *other;

	ch = chan_make("buf", 3);
	is_str(ch->name, "buf", "name copied");
	is_int(ch->cap, 3, "cap");
	ok(chan_send_ready(ch, 1) && !chan_recv_ready(ch),
	    "empty: send ready, recv not");
	is_int(trecv(ch, 1, BIG), CHAN_BLOCKED, "recv on empty: blocked");
	is_int(tsend(ch, "1"), CHAN_OK, "send 1");
	is_int(tsend(ch, "22"), CHAN_OK, "send 2");
	is_int(tsend(ch, "333"), CHAN_OK, "send 3");
	ok(!chan_send_ready(ch, 1) && chan_recv_ready(ch),
	    "full: send not ready, recv ready");
	is_int(tsend(ch, "4"), CHAN_BLOCKED, "send to a full channel: blocked");
	is_int(ch->len, 3, "len 3");
	is_int(ch->bytes, 6, "bytes 6");
	ok(totals.values == 3 && totals.bytes == 6 + 3 * VALUE_OVERHEAD,
	    "totals 3 values, 6 bytes + 3 overheads");
	is_int(ch->sent, 3, "sent counts 3 (the blocked one not)");
	recv_is(ch, "1", "FIFO: 1 first");
	recv_is(ch, "22", "FIFO: then 22");
	recv_is(ch, "333", "FIFO: then 333");
	is_int(trecv(ch, 1, BIG), CHAN_BLOCKED, "drained: blocked");
	is_int(ch->received, 3, "received 3");
	is_int(ch->len, 0, "len 0");
	totals_zero("totals back to 0 when drained");

	/* Batches: all or nothing, counted per value. */
	is_int(tsend(ch, "a b"), CHAN_OK, "batch of 2 into cap 3");
	ok(chan_send_ready(ch, 1) && !chan_send_ready(ch, 2),
	    "room 1: ready for 1, not for 2");
	is_int(tsend(ch, "c d"), CHAN_BLOCKED, "batch of 2, room 1: blocked");
	is_int(ch->len, 2, "nothing of the blocked batch applied");
	is_int(ch->sent, 5, "sent counts values: 5");
	is_int(trecv(ch, 5, BIG), CHAN_OK, "recv max 5");
	is_str(got, "a b", "gets both batch values in order");
	is_int(got_n, 2, "nout 2");
	is_int(ch->received, 5, "received counts values: 5");

	/* Totals are shared by channels and released by chan_free. */
	other = chan_make("other", 2);
	is_int(tsend(ch, "xy"), CHAN_OK, "buf holds xy");
	is_int(tsend(other, "z"), CHAN_OK, "other holds z");
	ok(totals.values == 2 && totals.bytes == 3 + 2 * VALUE_OVERHEAD,
	    "totals sum both channels");
	chan_free(ch);
	ok(totals.values == 1 && totals.bytes == 1 + VALUE_OVERHEAD,
	    "chan_free releases its values from the totals");
	chan_free(other);
	totals_zero("totals 0 after both freed");
}

static void
test_buffered_recv_max(void)
{
	struct chan	*ch;
	struct rec	 r;

	ch = chan_make("max", 8);
	is_int(tsend(ch, "1 22 333 4444 5"), CHAN_OK, "batch of 5");
	is_int(trecv(ch, 10, 3), CHAN_OK, "recv max 10, max_bytes 3");
	is_str(got, "1 22", "  stops before passing 3 bytes");
	is_int(trecv(ch, 10, 2), CHAN_OK, "recv max 10, max_bytes 2");
	is_str(got, "333", "  one value even when larger than max_bytes");
	is_int(got_n, 1, "  nout 1");
	is_int(trecv(ch, 10, 0), CHAN_OK, "recv max_bytes 0");
	is_str(got, "4444", "  still exactly one value");
	is_int(tsend(ch, "6 7"), CHAN_OK, "two more");
	is_int(trecv(ch, 2, BIG), CHAN_OK, "recv max 2 of 3");
	is_str(got, "5 6", "  the first two");
	is_int(ch->len, 1, "  one left");
	is_int(trecv(ch, 10, BIG), CHAN_OK, "recv max 10 of 1");
	is_str(got, "7", "  the last one");
	is_int(got_n, 1, "  nout 1");
	is_int(ch->received, 7, "received counts 7 values");

	/* A parked receiver's max and max_bytes apply when values arrive. */
	park_recv(&r, ch, 3, 4, -1);
	is_int(tsend(ch, "aa bb cc"), CHAN_OK, "batch to a parked recv max 3");
	woken(&r, WAKE_RECEIVED, 0, "aa bb", "parked recv cut at 4 bytes");
	is_int(r.nvalues, 2, "  2 values");
	is_int(ch->len, 1, "the third stays buffered");
	recv_is(ch, "cc", "and is received next");
	park_recv(&r, ch, 3, 1, -1);
	is_int(tsend(ch, "long"), CHAN_OK, "send a value over max_bytes");
	woken(&r, WAKE_RECEIVED, 0, "long", "parked recv still gets it");
	chan_free(ch);
	totals_zero("recv max: totals 0");
}

static void
test_buffered_parked_senders(void)
{
	struct chan	*ch;
	struct rec	 s3, s4;

	ch = chan_make("ps", 2);
	tsend(ch, "1");
	tsend(ch, "2");
	is_int(tsend(ch, "3"), CHAN_BLOCKED, "full: send 3 blocks");
	park_send(&s3, ch, "3", -1);
	is_int(tsend(ch, "4"), CHAN_BLOCKED, "send 4 blocks");
	park_send(&s4, ch, "4", -1);
	is_int(ch->nsend, 2, "two senders waiting");
	ok(!chan_send_ready(ch, 1), "send not ready while senders wait");
	recv_is(ch, "1", "recv 1");
	woken(&s3, WAKE_SENT, 0, "", "first parked sender moved in");
	not_woken(&s4, "second still waits");
	is_int(ch->len, 2, "buffer full again");
	is_int(ch->nsend, 1, "one sender waiting");
	recv_is(ch, "2", "recv 2");
	woken(&s4, WAKE_SENT, 0, "", "second parked sender moved in");
	ok(s3.seq < s4.seq, "senders woken in FIFO order");
	recv_is(ch, "3", "recv 3 (first parked)");
	recv_is(ch, "4", "recv 4 (second parked)");
	ok(ch->sent == 4 && ch->received == 4, "sent 4, received 4");
	is_int(ch->nsend, 0, "no senders waiting");
	totals_zero("parked senders: totals 0");
	chan_free(ch);
}

static void
test_buffered_batch_sender(void)
{
	struct chan	*ch;
	struct rec	 b, s;

	ch = chan_make("batch", 3);
	tsend(ch, "a");
	ok(chan_send_ready(ch, 2) && !chan_send_ready(ch, 3),
	    "room 2: ready for 2, not 3");
	is_int(tsend(ch, "b1 b2 b3"), CHAN_BLOCKED, "batch of 3 into room 2");
	park_send(&b, ch, "b1 b2 b3", -1);
	ok(!chan_send_ready(ch, 1), "single send not ready behind the batch");
	is_int(tsend(ch, "c"), CHAN_BLOCKED, "single send blocks behind it");
	is_int(ch->len, 1, "  though there is room");
	park_send(&s, ch, "c", -1);
	recv_is(ch, "a", "recv a frees the third slot");
	woken(&b, WAKE_SENT, 0, "", "batch moved in whole");
	not_woken(&s, "single sender still waits (no room left)");
	is_int(ch->len, 3, "buffer holds the batch");
	recv_is(ch, "b1", "recv b1");
	woken(&s, WAKE_SENT, 0, "", "then the single sender moves in");
	recv_is(ch, "b2", "recv b2");
	recv_is(ch, "b3", "recv b3");
	recv_is(ch, "c", "recv c");
	ok(ch->sent == 5 && ch->received == 5, "sent 5, received 5");
	totals_zero("batch sender: totals 0");
	chan_free(ch);
}

static void
test_buffered_parked_receivers(void)
{
	struct chan	*ch;
	struct rec	 r1, r2, r3;

	ch = chan_make("pr", 2);
	park_recv(&r1, ch, 1, BIG, -1);
	park_recv(&r2, ch, 1, BIG, -1);
	park_recv(&r3, ch, 1, BIG, -1);
	is_int(ch->nrecv, 3, "three receivers waiting");
	ok(!chan_recv_ready(ch) && chan_send_ready(ch, 2),
	    "recv not ready, send ready");
	is_int(tsend(ch, "p q"), CHAN_OK, "batch p q");
	woken(&r1, WAKE_RECEIVED, 0, "p", "first receiver gets p");
	woken(&r2, WAKE_RECEIVED, 0, "q", "second receiver gets q");
	not_woken(&r3, "third still waits");
	ok(r1.seq < r2.seq, "receivers woken in FIFO order");
	is_int(ch->len, 0, "nothing left in the buffer");
	is_int(ch->nrecv, 1, "one receiver waiting");
	is_int(tsend(ch, "r"), CHAN_OK, "send r");
	woken(&r3, WAKE_RECEIVED, 0, "r", "third receiver gets r");
	ok(ch->sent == 3 && ch->received == 3, "sent 3, received 3");
	totals_zero("parked receivers: totals 0");
	chan_free(ch);
}

/* Persistence hooks that count their calls (test_handoff). */
static int	 hook_pushes, hook_takes;

static void
count_push(void *arg, struct chan *ch, struct value *v)
{
	hook_pushes++;
}

static void
count_take(void *arg, struct chan *ch, struct value *v)
{
	hook_takes++;
}

/* What the receiver of the last hand-off returned (thandoff). */
static uint64_t	 handoff_seq;

/* chan_handoff of one value s; on false, checks *values was untouched. */
static bool
thandoff(struct chan *ch, const char *s)
{
	struct value_list	 l = TAILQ_HEAD_INITIALIZER(l);
	bool			 handed;

	list_push_words(&l, s);
	handoff_seq = 0;
	handed = chan_handoff(ch, &l, &handoff_seq);
	if (list_count(&l) != (handed ? 0 : 1))
		ok(0, "chan_handoff('%s') left %zu values", s,
		    list_count(&l));
	value_list_free(&l);
	return handed;
}

static void
test_handoff(void)
{
	static const struct chan_hooks counting = {
		.push = count_push, .take = count_take,
	};
	struct chan	*ch;
	struct rec	 r1, r2;

	totals.hooks = &counting;
	ch = chan_make("ho", 4);
	ok(!thandoff(ch, "a"), "hand-off: nobody waits");
	is_int(ch->len + ch->sent, 0, "... and nothing was sent");

	park_recv(&r1, ch, 1, BIG, -1);
	ok(thandoff(ch, "b"), "hand-off to a waiting receiver");
	woken(&r1, WAKE_RECEIVED, 0, "b", "the receiver has b");
	ok(handoff_seq != 0 && handoff_seq == r1.returned,
	    "the sender learns what the receiver's callback returned");
	ok(hook_pushes == 0 && hook_takes == 0,
	    "a hand-off runs no persistence hook");
	ok(ch->sent == 1 && ch->received == 1 && ch->len == 0,
	    "sent 1, received 1, buffer empty");

	/* Not while values are buffered: they go first. */
	is_int(tsend(ch, "c"), CHAN_OK, "send c (buffered)");
	is_int(hook_pushes, 1, "buffered send: push hook");
	park_recv(&r2, ch, 1, BIG, -1);
	ok(!thandoff(ch, "x"), "no hand-off while values are buffered");
	rec_release(&r2);
	recv_is(ch, "c", "recv takes c");
	is_int(hook_takes, 1, "buffered recv: take hook");

	/* Not to a receiver that leases: its value must be stored. */
	park_recv(&r1, ch, 1, BIG, -1);
	r1.w->cases[0].recv.lease_ms = 1000;
	ok(!thandoff(ch, "d"), "no hand-off to a leasing receiver");
	not_woken(&r1, "the leasing receiver still waits");
	rec_release(&r1);

	/* Not on a closed channel. */
	park_recv(&r1, ch, 1, BIG, -1);
	rec_release(&r1);
	ch->closed = true;
	ok(!thandoff(ch, "e"), "no hand-off on a closed channel");
	ch->closed = false;
	totals_zero("hand-off: totals 0");
	chan_free(ch);
	totals.hooks = NULL;
}

static void
test_unbuffered(void)
{
	struct chan	*ch;
	struct rec	 r, r2, s1, s2, s3, s4, s5;

	ch = chan_make("u", 0);
	ok(!chan_send_ready(ch, 1) && !chan_recv_ready(ch),
	    "nobody waiting: neither ready");
	is_int(tsend(ch, "v"), CHAN_BLOCKED, "send with no receiver: blocked");
	is_int(trecv(ch, 1, BIG), CHAN_BLOCKED, "recv with no sender: blocked");
	is_int(ch->sent, 0, "sent 0");

	park_recv(&r, ch, 3, BIG, -1);
	ok(chan_send_ready(ch, 1) && !chan_recv_ready(ch),
	    "receiver waiting: send ready, recv not");
	is_int(tsend(ch, "v"), CHAN_OK, "send to a waiting receiver: ok");
	woken(&r, WAKE_RECEIVED, 0, "v", "receiver woken with the value");
	is_int(r.nvalues, 1, "  one value though max is 3");
	ok(ch->len == 0 && ch->nrecv == 0, "buffer empty, nobody waiting");
	ok(ch->sent == 1 && ch->received == 1, "sent 1, received 1");
	totals_zero("rendezvous leaves totals at 0");

	park_recv(&r, ch, 1, BIG, -1);
	park_recv(&r2, ch, 1, BIG, -1);
	tsend(ch, "1");
	tsend(ch, "2");
	woken(&r, WAKE_RECEIVED, 0, "1", "first receiver gets 1");
	woken(&r2, WAKE_RECEIVED, 0, "2", "second receiver gets 2");

	park_send(&s1, ch, "x", -1);
	park_send(&s2, ch, "y", -1);
	ok(chan_recv_ready(ch) && !chan_send_ready(ch, 1),
	    "senders waiting: recv ready, send not");
	recv_is(ch, "x", "recv takes from the first sender");
	woken(&s1, WAKE_SENT, 0, "", "first sender woken SENT");
	not_woken(&s2, "second sender still waits");
	recv_is(ch, "y", "recv takes from the second");
	woken(&s2, WAKE_SENT, 0, "", "second sender woken SENT");

	park_send(&s1, ch, "a", -1);
	park_send(&s2, ch, "bb", -1);
	park_send(&s3, ch, "ccc", -1);
	park_send(&s4, ch, "d", -1);
	park_send(&s5, ch, "e", -1);
	is_int(trecv(ch, 2, BIG), CHAN_OK, "recv max 2 of 5 senders");
	is_str(got, "a bb", "  first two senders, in order");
	woken(&s1, WAKE_SENT, 0, "", "  sender a woken");
	woken(&s2, WAKE_SENT, 0, "", "  sender bb woken");
	not_woken(&s3, "  sender ccc waits");
	is_int(trecv(ch, 5, 2), CHAN_OK, "recv max 5, max_bytes 2");
	is_str(got, "ccc", "  one value even when larger");
	woken(&s3, WAKE_SENT, 0, "", "  sender ccc woken");
	not_woken(&s4, "  sender d waits");
	is_int(trecv(ch, 5, BIG), CHAN_OK, "recv max 5 of 2 senders");
	is_str(got, "d e", "  both, in order");
	is_int(got_n, 2, "  nout 2");
	woken(&s5, WAKE_SENT, 0, "", "  sender e woken");
	ok(ch->nsend == 0 && ch->len == 0, "nobody waits, buffer empty");
	ok(ch->sent == 10 && ch->received == 10, "sent 10, received 10");
	totals_zero("unbuffered: totals 0");
	chan_free(ch);
}

static void
test_close(void)
{
	struct chan		*ch, *other;
	struct rec		 s1, s2, r1, r2;
	struct case_spec	 cs[2];

	ch = chan_make("cl", 2);
	tsend(ch, "1");
	tsend(ch, "2");
	park_send(&s1, ch, "3", -1);
	park_send(&s2, ch, "4", -1);
	is_int(chan_close(ch), CHAN_OK, "close");
	woken(&s1, WAKE_CLOSED, 0, "", "first waiting sender: CLOSED");
	woken(&s2, WAKE_CLOSED, 0, "", "second waiting sender: CLOSED");
	ok(s1.seq < s2.seq, "  in FIFO order");
	is_int(ch->nsend, 0, "no senders waiting");
	is_int(chan_close(ch), CHAN_CLOSED, "second close: CLOSED");
	is_int(tsend(ch, "5"), CHAN_CLOSED, "send after close: CLOSED");
	ok(chan_send_ready(ch, 1), "send case on a closed channel is ready");
	ok(chan_recv_ready(ch), "recv ready (values left)");
	recv_is(ch, "1", "buffered 1 still received");
	recv_is(ch, "2", "buffered 2 still received");
	is_int(trecv(ch, 1, BIG), CHAN_CLOSED, "then recv: CLOSED");
	is_int(got_n, 0, "  with no values");
	ok(chan_recv_ready(ch), "recv ready on a closed, drained channel");
	ok(ch->sent == 2 && ch->received == 2,
	    "sent 2, received 2 (parked values not counted)");
	totals_zero("close: totals 0 (parked values never buffered)");
	chan_free(ch);

	/* Waiting receivers learn it at once when the buffer is empty. */
	ch = chan_make("cl2", 2);
	other = chan_make("cl2-other", 2);
	park_recv(&r1, ch, 1, BIG, -1);
	cs[0] = (struct case_spec){ other, NULL, 1, 0 };
	cs[1] = (struct case_spec){ ch, NULL, 1, 0 };
	park(&r2, -1, cs, 2);
	is_int(chan_close(ch), CHAN_OK, "close with receivers waiting");
	woken(&r1, WAKE_CLOSED, 0, "", "first receiver: CLOSED, no values");
	woken(&r2, WAKE_CLOSED, 1, "", "select receiver: CLOSED on case 1");
	ok(r1.seq < r2.seq, "  in FIFO order");
	ok(ch->nrecv == 0 && other->nrecv == 0,
	    "both channels have no receivers left");
	chan_free(ch);
	chan_free(other);

	/* Unbuffered. */
	ch = chan_make("cl3", 0);
	park_send(&s1, ch, "x", -1);
	is_int(chan_close(ch), CHAN_OK, "close unbuffered with a sender");
	woken(&s1, WAKE_CLOSED, 0, "", "sender: CLOSED");
	is_int(trecv(ch, 1, BIG), CHAN_CLOSED, "recv: CLOSED, x not delivered");
	chan_free(ch);
	ch = chan_make("cl4", 0);
	park_recv(&r1, ch, 1, BIG, -1);
	is_int(chan_close(ch), CHAN_OK, "close unbuffered with a receiver");
	woken(&r1, WAKE_CLOSED, 0, "", "receiver: CLOSED");
	is_int(tsend(ch, "y"), CHAN_CLOSED, "send: CLOSED");
	chan_free(ch);
	totals_zero("close: totals 0 at the end");
}

static void
test_drop(void)
{
	struct chan		*a, *b, *u;
	struct rec		 s1, s2, w1, r1, r2, w2;
	struct case_spec	 cs[2];

	a = chan_make("a", 1);
	b = chan_make("b", 1);
	u = chan_make("u", 0);
	tsend(a, "v");
	park_send(&s1, a, "x", -1);
	park_send(&s2, a, "y", -1);
	cs[0] = (struct case_spec){ a, "z", 0, 0 };
	cs[1] = (struct case_spec){ b, NULL, 1, 0 };
	park(&w1, -1, cs, 2);
	park_recv(&r1, u, 1, BIG, -1);
	park_recv(&r2, u, 1, BIG, -1);
	cs[0] = (struct case_spec){ b, NULL, 1, 0 };
	cs[1] = (struct case_spec){ u, NULL, 1, 0 };
	park(&w2, -1, cs, 2);
	is_int(b->nrecv, 2, "b: two select receivers");

	chan_drop(a);
	woken(&s1, WAKE_DROPPED, 0, "", "drop a: sender 1 DROPPED");
	woken(&s2, WAKE_DROPPED, 0, "", "drop a: sender 2 DROPPED");
	woken(&w1, WAKE_DROPPED, 0, "", "drop a: select DROPPED on case 0");
	ok(s1.seq < s2.seq && s2.seq < w1.seq, "  in FIFO order");
	ok(a->nsend == 0 && a->nrecv == 0, "a: no waiters left");
	is_int(b->nrecv, 1, "b: the dropped select's case unlinked");
	not_woken(&w2, "select on b and u not woken by dropping a");
	chan_free(a);
	totals_zero("a's buffered value released by chan_free");

	chan_drop(u);
	woken(&r1, WAKE_DROPPED, 0, "", "drop u: receiver 1 DROPPED");
	woken(&r2, WAKE_DROPPED, 0, "", "drop u: receiver 2 DROPPED");
	woken(&w2, WAKE_DROPPED, 1, "", "drop u: select DROPPED on case 1");
	ok(u->nrecv == 0 && b->nrecv == 0, "u and b: no waiters left");
	chan_free(u);
	is_int(tsend(b, "q"), CHAN_OK, "b still works");
	is_int(b->len, 1, "  and buffers the value");
	chan_free(b);
	totals_zero("drop: totals 0");
}

static void
test_abandon(void)
{
	struct chan	*ch;
	struct rec	 s1, s2, r1, r2;

	/* A parked sender's value is never delivered. */
	ch = chan_make("ab", 1);
	tsend(ch, "v");
	park_send(&s1, ch, "x", -1);
	park_send(&s2, ch, "y", -1);
	rec_release(&s1);
	is_int(ch->nsend, 1, "freed sender unlinked");
	recv_is(ch, "v", "recv v");
	is_int(s1.nwakes, 0, "freed sender never called back");
	woken(&s2, WAKE_SENT, 0, "", "the next sender moves in");
	recv_is(ch, "y", "recv y, not x");
	is_int(trecv(ch, 1, BIG), CHAN_BLOCKED, "then empty: x was dropped");
	ok(ch->sent == 2 && ch->received == 2, "sent 2, received 2");
	totals_zero("abandoned sender: totals 0");

	/* A parked receiver that is freed takes nothing. */
	park_recv(&r1, ch, 1, BIG, -1);
	park_recv(&r2, ch, 1, BIG, -1);
	rec_release(&r1);
	is_int(ch->nrecv, 1, "freed receiver unlinked");
	tsend(ch, "a");
	is_int(r1.nwakes, 0, "freed receiver never called back");
	woken(&r2, WAKE_RECEIVED, 0, "a", "the next receiver gets a");
	park_recv(&r1, ch, 1, BIG, -1);
	rec_release(&r1);
	is_int(tsend(ch, "b"), CHAN_OK, "send with only a freed receiver");
	is_int(ch->len, 1, "  goes to the buffer");
	recv_is(ch, "b", "  and is received later");
	chan_free(ch);

	/* Unbuffered. */
	ch = chan_make("ab-u", 0);
	park_send(&s1, ch, "x", -1);
	rec_release(&s1);
	ok(ch->nsend == 0 && !chan_recv_ready(ch),
	    "unbuffered: freed sender gone, recv not ready");
	is_int(trecv(ch, 1, BIG), CHAN_BLOCKED, "  recv blocks");
	park_recv(&r1, ch, 1, BIG, -1);
	rec_release(&r1);
	ok(ch->nrecv == 0 && !chan_send_ready(ch, 1),
	    "unbuffered: freed receiver gone, send not ready");
	is_int(tsend(ch, "y"), CHAN_BLOCKED, "  send blocks");
	is_int(ch->sent, 0, "  nothing sent");
	chan_free(ch);
	totals_zero("abandon: totals 0");
}

/*
 * A batch sender at the head of the queue blocks single senders behind it
 * even when they would fit.  When the batch goes away without moving in
 * (connection closed, or its timeout), the next sender fits and must move
 * in at once, as after any other change that frees room.
 */
static void
test_batch_head_leaves(void)
{
	struct chan	*ch;
	struct rec	 b, s;

	ch = chan_make("hol", 3);
	tsend(ch, "a");
	park_send(&b, ch, "b1 b2 b3", -1);
	park_send(&s, ch, "c", -1);
	rec_release(&b);
	woken(&s, WAKE_SENT, 0, "",
	    "batch at the head abandoned: the sender behind moves in");
	is_int(ch->len, 2, "  buffer holds a c");
	ok(chan_send_ready(ch, 1), "  and a new send is ready (room 1)");
	is_int(tsend(ch, "d"), CHAN_OK, "  and proceeds");
	rec_release(&s);
	chan_free(ch);

	ch = chan_make("hol-t", 3);
	tsend(ch, "a");
	park_send(&b, ch, "b1 b2 b3", 20);
	park_send(&s, ch, "c", -1);
	event_base_loop(base, EVLOOP_ONCE);
	woken(&b, WAKE_TIMEOUT, -1, "", "batch at the head times out");
	woken(&s, WAKE_SENT, 0, "",
	    "batch at the head timed out: the sender behind moves in");
	is_int(ch->len, 2, "  buffer holds a c");
	ok(chan_send_ready(ch, 1), "  and a new send is ready (room 1)");
	rec_release(&s);
	chan_free(ch);
	totals_zero("head-of-line: totals 0");
}

static void
test_select_waiter(void)
{
	struct chan		*a, *b, *u;
	struct rec		 w, w2;
	struct case_spec	 cs[2];

	a = chan_make("sa", 1);
	b = chan_make("sb", 1);
	u = chan_make("su", 0);

	/* Two recv cases on two channels. */
	cs[0] = (struct case_spec){ a, NULL, 1, 0 };
	cs[1] = (struct case_spec){ b, NULL, 1, 0 };
	park(&w, 1000, cs, 2);
	ok(a->nrecv == 1 && b->nrecv == 1, "select linked on a and b");
	is_int(timers_pending(), 1, "its timer armed");
	is_int(tsend(b, "x"), CHAN_OK, "send to b");
	woken(&w, WAKE_RECEIVED, 1, "x", "woken once by case 1 with x");
	ok(a->nrecv == 0 && b->nrecv == 0, "both cases unlinked");
	is_int(timers_pending(), 0, "timer stopped");
	is_int(tsend(a, "y"), CHAN_OK, "send to a afterwards");
	is_int(a->len, 1, "  is buffered, not delivered to the select");
	is_int(w.nwakes, 1, "select still woken once");
	recv_is(a, "y", "a's value still there");

	/* Two recv cases on the same channel. */
	park(&w, -1, (struct case_spec[]){ { a, NULL, 1, 0 },
	    { a, NULL, 1, 0 } }, 2);
	is_int(a->nrecv, 2, "two cases waiting on a");
	tsend(a, "z");
	woken(&w, WAKE_RECEIVED, 0, "z", "woken once, by the first case");
	ok(a->nrecv == 0 && a->len == 0, "both unlinked, z not duplicated");

	/* A send case and a recv case: the send moves in first. */
	tsend(a, "full");
	cs[0] = (struct case_spec){ a, "s", 0, 0 };
	cs[1] = (struct case_spec){ b, NULL, 1, 0 };
	park(&w, 1000, cs, 2);
	ok(a->nsend == 1 && b->nrecv == 1, "send on a, recv on b linked");
	recv_is(a, "full", "recv from a frees room");
	woken(&w, WAKE_SENT, 0, "", "select woken SENT on case 0");
	ok(a->nsend == 0 && b->nrecv == 0, "both unlinked");
	is_int(timers_pending(), 0, "timer stopped");
	is_int(tsend(b, "q"), CHAN_OK, "send to b afterwards is buffered");
	is_int(b->len, 1, "  b holds it");
	recv_is(a, "s", "the select's value moved into a");
	recv_is(b, "q", "b gives q");

	/* Two send cases on one unbuffered channel: only one is taken. */
	park(&w, -1, (struct case_spec[]){ { u, "u0", 0, 0 },
	    { u, "u1", 0, 0 } }, 2);
	is_int(u->nsend, 2, "two send cases on u");
	is_int(trecv(u, 5, BIG), CHAN_OK, "recv max 5 on u");
	is_str(got, "u0", "  takes the first case's value only");
	woken(&w, WAKE_SENT, 0, "", "select woken SENT on case 0");
	is_int(u->nsend, 0, "second case unlinked, its value dropped");

	/* Send and recv cases on the same unbuffered channel. */
	park(&w, -1, (struct case_spec[]){ { u, "mine", 0, 0 },
	    { u, NULL, 1, 0 } }, 2);
	ok(chan_send_ready(u, 1) && chan_recv_ready(u),
	    "u: both ready for others");
	recv_is(u, "mine", "a recv takes the select's send case");
	woken(&w, WAKE_SENT, 0, "", "  select woken SENT on case 0");
	ok(u->nsend == 0 && u->nrecv == 0, "  both cases unlinked");
	park(&w2, -1, (struct case_spec[]){ { u, "theirs", 0, 0 },
	    { u, NULL, 1, 0 } }, 2);
	is_int(tsend(u, "hello"), CHAN_OK, "a send goes to the recv case");
	woken(&w2, WAKE_RECEIVED, 1, "hello", "  select woken on case 1");
	ok(u->nsend == 0 && u->nrecv == 0, "  both cases unlinked");

	/* The timer of a woken waiter never fires. */
	park(&w, 10, (struct case_spec[]){ { a, NULL, 1, 0 },
	    { b, NULL, 1, 0 } }, 2);
	tsend(a, "fast");
	woken(&w, WAKE_RECEIVED, 0, "fast", "woken before its 10 ms timeout");
	{
		struct timeval	 tv = { 0, 30000 };

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	is_int(w.nwakes, 1, "30 ms later: still woken once");
	chan_free(a);
	chan_free(b);
	chan_free(u);
	totals_zero("select waiter: totals 0");
}

static double
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
test_timeout(void)
{
	struct chan	*a, *b;
	struct rec	 w, r1, r2, s;
	double		 t0, ms;

	a = chan_make("ta", 1);
	b = chan_make("tb", 0);
	park(&w, 20, (struct case_spec[]){ { a, NULL, 1, 0 },
	    { b, NULL, 1, 0 } }, 2);
	t0 = now_ms();
	event_base_loop(base, EVLOOP_ONCE);
	ms = now_ms() - t0;
	woken(&w, WAKE_TIMEOUT, -1, "", "timeout 20: woken TIMEOUT, index -1");
	is_int(w.nvalues, 0, "  with no values");
	if (!ok(ms >= 15 && ms < 1000, "  after about 20 ms"))
		printf("#   after %.1f ms\n", ms);
	ok(a->nrecv == 0 && b->nrecv == 0, "  all cases unlinked");
	is_int(timers_pending(), 0, "  no timer left");
	is_int(tsend(a, "v"), CHAN_OK, "a send afterwards is buffered");
	is_int(a->len, 1, "  not taken by the timed-out waiter");
	is_int(tsend(b, "v"), CHAN_BLOCKED, "unbuffered send: nobody waits");

	/* A timed-out sender's value is not applied. */
	park_send(&s, a, "late", 20);
	event_base_loop(base, EVLOOP_ONCE);
	woken(&s, WAKE_TIMEOUT, -1, "", "parked sender times out");
	is_int(a->nsend, 0, "  unlinked");
	recv_is(a, "v", "recv gets the old value");
	is_int(trecv(a, 1, BIG), CHAN_BLOCKED, "  and then nothing");
	is_int(a->sent, 1, "  sent 1");

	/* Only the waiter whose time came is woken. */
	park_recv(&r1, a, 1, BIG, 20);
	park_recv(&r2, a, 1, BIG, 200);
	event_base_loop(base, EVLOOP_ONCE);
	woken(&r1, WAKE_TIMEOUT, -1, "", "first receiver times out at 20");
	not_woken(&r2, "second (200 ms) still waits");
	is_int(a->nrecv, 1, "  one receiver linked");
	tsend(a, "w");
	woken(&r2, WAKE_RECEIVED, 0, "w", "second receives w");
	is_int(timers_pending(), 0, "  its timer stopped");
	chan_free(a);
	chan_free(b);
	totals_zero("timeout: totals 0");
}

static void
test_select_choose(void)
{
	struct chan		*a, *b, *c, *full, *u, *cl;
	struct select_case	 sc[3];
	struct rec		 r, s;
	int			 i, count[3] = { 0, 0, 0 }, k;

	a = chan_make("ca", 1);
	b = chan_make("cb", 1);
	c = chan_make("cc", 1);
	full = chan_make("cfull", 1);
	u = chan_make("cu", 0);
	cl = chan_make("ccl", 1);
	tsend(full, "x");

	sc[0] = (struct select_case){ a, false };
	sc[1] = (struct select_case){ full, true };
	sc[2] = (struct select_case){ u, true };
	is_int(select_choose(sc, 3), -1, "none ready: -1");
	is_int(select_choose(sc, 0), -1, "no cases: -1");

	/* Exactly one ready: always that one. */
	sc[1] = (struct select_case){ b, true };
	for (i = 0, k = 0; i < 200; i++)
		k += select_choose(sc, 3) == 1;
	is_int(k, 200, "one ready: chosen every time");

	/* Two of three ready, the unready one in the middle. */
	tsend(a, "v");
	sc[0] = (struct select_case){ a, false };
	sc[1] = (struct select_case){ c, false };
	sc[2] = (struct select_case){ b, true };
	for (i = 0; i < 4000; i++) {
		k = select_choose(sc, 3);
		if (k >= 0 && k < 3)
			count[k]++;
	}
	if (!ok(count[0] >= 1600 && count[0] <= 2400 &&
	    count[2] >= 1600 && count[2] <= 2400 && count[1] == 0 &&
	    count[0] + count[2] == 4000,
	    "2 ready of 3: each 40-60%% of 4000, the unready never"))
		printf("#   counts %d %d %d\n", count[0], count[1], count[2]);

	/* Readiness as select sees it. */
	park_recv(&r, u, 1, BIG, -1);
	sc[0] = (struct select_case){ u, true };
	is_int(select_choose(sc, 1), 0,
	    "unbuffered send with a waiting receiver: ready");
	rec_release(&r);
	park_send(&s, u, "p", -1);
	sc[0] = (struct select_case){ u, false };
	is_int(select_choose(sc, 1), 0,
	    "unbuffered recv with a waiting sender: ready");
	rec_release(&s);
	park_send(&s, full, "y", -1);
	sc[0] = (struct select_case){ full, true };
	is_int(select_choose(sc, 1), -1, "buffered send, full: not ready");
	recv_is(full, "x", "recv from full");
	woken(&s, WAKE_SENT, 0, "", "  its waiting sender moves in");
	chan_close(cl);
	sc[0] = (struct select_case){ cl, true };
	sc[1] = (struct select_case){ cl, false };
	ok(select_choose(sc, 1) == 0 && select_choose(sc + 1, 1) == 0,
	    "closed, drained: send and recv cases ready");
	chan_free(a);
	chan_free(b);
	chan_free(c);
	chan_free(full);
	chan_free(u);
	chan_free(cl);
	totals_zero("select_choose: totals 0");
}

/* Lease one value of ch for consumer (NULL: owner); its lease. */
static struct lease *
tlease(struct chan *ch, const char *consumer, struct lease_list *owner,
    int64_t lease_ms)
{
	struct chan_recv_opts	 o = { .max = 1, .max_bytes = BIG,
	    .lease_ms = lease_ms, .owner = owner, .consumer = consumer,
	    .consumer_len = consumer != NULL ? strlen(consumer) : 0 };
	struct value_list	 out = TAILQ_HEAD_INITIALIZER(out);
	struct lease		*l;
	size_t			 n;

	if (chan_recv(ch, &o, &out, &n) != CHAN_OK || n != 1)
		return NULL;
	l = chan_lease_find(&totals, TAILQ_FIRST(&out)->lease_id);
	value_list_free(&out);
	return l;
}

static void
test_named_leases(void)
{
	struct lease_list	 conn = TAILQ_HEAD_INITIALIZER(conn);
	struct chan		*ch;
	struct lease		*a, *b, *u;
	int			 i;

	ch = chan_make("leases", 4);
	tsend(ch, "1");
	tsend(ch, "2");
	tsend(ch, "3");
	a = tlease(ch, "w", &conn, 60000);
	b = tlease(ch, "w", &conn, 60000);
	u = tlease(ch, NULL, &conn, 60000);
	ok(a != NULL && b != NULL && u != NULL, "three leases");
	is_int(map_count(&totals.consumers), 1, "one record for consumer w");
	ok(a->consumer != NULL && a->consumer->nleases == 2 &&
	    u->consumer == NULL, "w holds two, the third is unnamed");
	chan_lease_return_all(&conn);
	ok(ch->len == 1 && ch->leased == 2,
	    "the connection's list returns only the unnamed lease");
	ok(chan_lease_touch(a, 120000) > b->deadline_ms, "touch: later");
	chan_lease_ack(a);
	is_int(map_count(&totals.consumers), 1, "record kept with a lease");
	chan_lease_return(b, 30);
	is_int(map_count(&totals.consumers), 0, "record freed with the last");
	ok(ch->leased == 0 && ch->ndelayed == 1 && ch->len == 1,
	    "delayed: out of reach, still in its slot");
	ok(chan_lease_find(&totals, b->id) == NULL && b->id == 0,
	    "delayed: no lease any more");
	ok(chan_send_ready(ch, 2) && !chan_send_ready(ch, 3),
	    "delayed value holds its slot");
	for (i = 0; i < 1000 && ch->ndelayed > 0; i++)
		event_base_loop(base, EVLOOP_ONCE);
	ok(ch->ndelayed == 0 && ch->len == 2, "delay over: back");
	recv_is(ch, "2", "at the front");
	u = tlease(ch, NULL, NULL, 60000);
	chan_close(ch);
	ok(!chan_recv_ready(ch), "closed, a lease out: not drained");
	chan_lease_return(u, 0);
	chan_lease_ack(tlease(ch, "x", NULL, 1));
	is_int(map_count(&totals.consumers), 0, "no record left");
	chan_free(ch);
	totals_zero("named leases: totals 0");
}

/*
 * Redelivery limit: a value returned max_deliveries times (nack with a
 * reason, owner gone) leaves its channel in an envelope for the
 * dead-letter channel, whatever that channel's cap and closed flag, and
 * wakes its receiver; with the dead-letter channel missing it goes back
 * to the front; without one it is deleted.  Totals balance throughout.
 */
static void
test_dead_letter(void)
{
	struct chanmap		 names;
	struct lease_list	 owner = TAILQ_HEAD_INITIALIZER(owner);
	struct chan		*src, *dl, *lim;
	struct lease		*l;
	struct rec		 r;
	struct case_spec	 cs;
	char			 want[256];

	chanmap_init(&names);
	totals.chans = &names;
	src = chan_make("src", 4);
	dl = chan_make("dlq", 1);
	chanmap_insert(&names, src);
	chanmap_insert(&names, dl);
	chan_set_dead_letter(src, 2, "dlq");
	tsend(src, "p q");
	tsend(dl, "full");
	chan_close(dl);

	l = tlease(src, NULL, NULL, 600000);
	chan_lease_set_reason(l, "\"r1\"", 4);
	chan_lease_return(l, 0);
	ok(src->len == 2 && src->dead_lettered == 0,
	    "first return: back at the front");
	l = tlease(src, NULL, &owner, 600000);
	ok(l != NULL && l->value->redelivered == 1 && l->value->reason_len == 4,
	    "  redelivered 1, the reason kept");
	chan_lease_return_all(&owner);
	ok(src->len == 1 && src->leased == 0 && src->dead_lettered == 1 &&
	    totals.dead_lettered == 1, "second return (owner gone): moved");
	ok(dl->len == 2 && dl->sent == 2,
	    "  into the full, closed dead-letter channel");
	recv_is(dl, "full", "  after what it held");
	trecv(dl, 1, BIG);
	snprintf(want, sizeof(want), "{\"chan\":\"src\",\"value\":p,"
	    "\"deliveries\":2,\"reason\":\"r1\",\"dead_ms\":");
	ok(strncmp(got, want, strlen(want)) == 0 && got[strlen(got) - 1] == '}',
	    "  the envelope: source, value, deliveries, reason, time");
	if (strncmp(got, want, strlen(want)) != 0)
		printf("#   got '%s'\n", got);
	is_int(totals.values, 1, "  totals: only q is held");

	/* A receiver waiting on the dead-letter channel is served. */
	chanmap_remove(&names, dl);
	chan_free(dl);
	dl = chan_make("dlq", 2);
	chanmap_insert(&names, dl);
	cs = (struct case_spec){ dl, NULL, 1, 0 };
	park(&r, -1, &cs, 1);
	chan_lease_return(tlease(src, NULL, NULL, 600000), 0);
	not_woken(&r, "one return of q: its receiver still waits");
	chan_lease_return(tlease(src, NULL, NULL, 600000), 0);
	ok(r.nwakes == 1 && strstr(r.text, "\"value\":q,") != NULL &&
	    strstr(r.text, "\"reason\":null") != NULL,
	    "second: the waiting receiver gets q's envelope, reason null");
	rec_release(&r);

	/* Dead-letter channel dropped: back to the front, counted. */
	chanmap_remove(&names, dl);
	tsend(src, "z");
	chan_lease_return(tlease(src, NULL, NULL, 600000), 0);
	chan_lease_return(tlease(src, NULL, NULL, 600000), 0);
	ok(src->len == 1 && totals.dead_letter_missing == 1 &&
	    src->dead_lettered == 2, "dead-letter channel gone: z kept");
	l = tlease(src, NULL, NULL, 600000);
	ok(l != NULL && l->value->redelivered == 2, "  at the front, "
	    "redelivered 2");
	chanmap_insert(&names, dl);
	chan_lease_return(l, 0);
	ok(src->len == 0 && dl->len == 1, "  made again: moved at the next "
	    "return");

	/* A limit without a dead-letter channel deletes. */
	lim = chan_make("lim", 2);
	chan_set_dead_letter(lim, 1, NULL);
	tsend(lim, "gone");
	chan_lease_return(tlease(lim, NULL, NULL, 600000), 0);
	ok(lim->len == 0 && lim->leased == 0 && lim->dead_lettered == 1,
	    "max_deliveries alone: the value is deleted");

	chan_free(lim);
	chanmap_remove(&names, src);
	chanmap_remove(&names, dl);
	chan_free(src);
	chan_free(dl);
	totals.chans = NULL;
	chanmap_fini(&names);
	totals_zero("dead letters: totals 0");
}

int
main(void)
{
	if ((base = event_base_new()) == NULL)
		tap_bail("event_base_new failed");
	chan_totals_init(&totals, base);
	test_buffered_fifo();
	test_buffered_recv_max();
	test_buffered_parked_senders();
	test_buffered_batch_sender();
	test_buffered_parked_receivers();
	test_handoff();
	test_unbuffered();
	test_close();
	test_drop();
	test_abandon();
	test_select_waiter();
	test_timeout();
	test_select_choose();
	test_batch_head_leaves();
	test_named_leases();
	test_dead_letter();
	is_int(timers_pending(), 0, "no timer left at the end");
	chan_totals_fini(&totals);
	event_base_free(base);
	return done_testing();
}
