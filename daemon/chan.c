/*
 * Channel semantics (see chan.h for the invariants).
 *
 * Every change that may let a parked party proceed ends in chan_pump(),
 * which serves the queues in FIFO order until nobody else can move: waiting
 * receivers take buffered values, waiting senders move into freed room, and
 * on a drained closed channel receivers learn it is closed.  Waking a waiter
 * unlinks all of its cases, possibly from this very channel, so the loops
 * below always look at the queue heads again after a wake.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "log.h"

struct chan *
chan_new(const char *name, size_t name_len, uint32_t cap,
    struct chan_totals *totals)
{
	struct chan	*ch;

	ch = calloc(1, sizeof(*ch) + name_len + 1);
	if (ch == NULL)
		fatal("out of memory");
	ch->totals = totals;
	ch->cap = cap;
	TAILQ_INIT(&ch->buf);
	TAILQ_INIT(&ch->recvq);
	TAILQ_INIT(&ch->sendq);
	ch->name_len = name_len;
	memcpy(ch->name, name, name_len);
	ch->name[name_len] = '\0';
	return ch;
}

void
chan_free(struct chan *ch)
{
	struct value	*v;

	if (ch == NULL)
		return;
	assert(ch->nrecv == 0 && ch->nsend == 0);
	while ((v = TAILQ_FIRST(&ch->buf)) != NULL) {
		TAILQ_REMOVE(&ch->buf, v, entry);
		ch->totals->values--;
		ch->totals->bytes -= v->len;
		value_free(v);
	}
	free(ch);
}

void
chan_enqueue(struct chan *ch, struct waitcase *wc)
{
	assert(!wc->linked && wc->chan == ch);
	if (wc->is_send) {
		TAILQ_INSERT_TAIL(&ch->sendq, wc, entry);
		ch->nsend++;
	} else {
		TAILQ_INSERT_TAIL(&ch->recvq, wc, entry);
		ch->nrecv++;
	}
	wc->linked = true;
}

void
chan_dequeue(struct chan *ch, struct waitcase *wc)
{
	assert(wc->linked && wc->chan == ch);
	if (wc->is_send) {
		TAILQ_REMOVE(&ch->sendq, wc, entry);
		ch->nsend--;
	} else {
		TAILQ_REMOVE(&ch->recvq, wc, entry);
		ch->nrecv--;
	}
	wc->linked = false;
}

/* Free slots: capacity minus buffered and leased values. */
static size_t
chan_room(const struct chan *ch)
{
	size_t	 used = ch->len + ch->leased;

	return used >= ch->cap ? 0 : ch->cap - used;
}

static bool
chan_drained(const struct chan *ch)
{
	return ch->closed && ch->len == 0 && ch->leased == 0;
}

#define CHAN_HOOK(ch, name, v) do {					\
	const struct chan_hooks *_h = (ch)->totals->hooks;		\
	if (_h != NULL && _h->name != NULL)				\
		_h->name((ch)->totals->hooks_arg, (ch), (v));		\
} while (0)

static void
chan_buffer_link(struct chan *ch, struct value *v)
{
	TAILQ_INSERT_TAIL(&ch->buf, v, entry);
	ch->len++;
	ch->bytes += v->len;
	ch->totals->values++;
	ch->totals->bytes += v->len;
}

static void
chan_buffer_push(struct chan *ch, struct value *v)
{
	chan_buffer_link(ch, v);
	ch->sent++;
	CHAN_HOOK(ch, push, v);
}

void
chan_restore(struct chan *ch, struct value *v)
{
	chan_buffer_link(ch, v);
}

/* Move values from the front of the buffer to out; see chan_recv(). */
static size_t
chan_buffer_take(struct chan *ch, size_t max, size_t max_bytes,
    struct value_list *out)
{
	struct value	*v;
	size_t		 n = 0, bytes = 0;

	while (n < max && (v = TAILQ_FIRST(&ch->buf)) != NULL) {
		if (n > 0 && bytes + v->len > max_bytes)
			break;
		TAILQ_REMOVE(&ch->buf, v, entry);
		TAILQ_INSERT_TAIL(out, v, entry);
		ch->len--;
		ch->bytes -= v->len;
		ch->totals->values--;
		ch->totals->bytes -= v->len;
		ch->received++;
		bytes += v->len;
		n++;
		CHAN_HOOK(ch, take, v);
	}
	return n;
}

/* Let parked parties proceed until none can; see the file comment. */
static void
chan_pump(struct chan *ch)
{
	struct waitcase		*wc;
	struct value_list	 got;
	struct value		*v;

	for (;;) {
		if (ch->len > 0 && (wc = TAILQ_FIRST(&ch->recvq)) != NULL) {
			TAILQ_INIT(&got);
			chan_buffer_take(ch, wc->max, wc->max_bytes, &got);
			waiter_wake(wc->waiter, wc, WAKE_RECEIVED, &got);
			continue;
		}
		wc = TAILQ_FIRST(&ch->sendq);
		if (wc != NULL && ch->cap > 0 && chan_room(ch) >= wc->nvalues) {
			while ((v = TAILQ_FIRST(&wc->values)) != NULL) {
				TAILQ_REMOVE(&wc->values, v, entry);
				chan_buffer_push(ch, v);
			}
			waiter_wake(wc->waiter, wc, WAKE_SENT, NULL);
			continue;
		}
		if (chan_drained(ch) && (wc = TAILQ_FIRST(&ch->recvq)) != NULL) {
			waiter_wake(wc->waiter, wc, WAKE_CLOSED, NULL);
			continue;
		}
		break;
	}
}

bool
chan_send_ready(const struct chan *ch, size_t n)
{
	if (ch->closed)
		return true;
	if (ch->cap == 0)
		return ch->nrecv > 0;
	return ch->nsend == 0 && chan_room(ch) >= n;
}

bool
chan_recv_ready(const struct chan *ch)
{
	if (ch->len > 0)
		return true;
	if (ch->cap == 0 && ch->nsend > 0)
		return true;
	return chan_drained(ch);
}

enum chan_status
chan_send(struct chan *ch, struct value_list *values, size_t n)
{
	struct waitcase		*wc;
	struct value_list	 got;
	struct value		*v;

	assert(n >= 1 && (n == 1 || n <= ch->cap));
	if (ch->closed)
		return CHAN_CLOSED;
	if (!chan_send_ready(ch, n))
		return CHAN_BLOCKED;
	if (ch->cap == 0) {
		/* Rendezvous: hand the value to the first waiting receiver. */
		wc = TAILQ_FIRST(&ch->recvq);
		v = TAILQ_FIRST(values);
		TAILQ_REMOVE(values, v, entry);
		TAILQ_INIT(&got);
		TAILQ_INSERT_TAIL(&got, v, entry);
		ch->sent++;
		ch->received++;
		waiter_wake(wc->waiter, wc, WAKE_RECEIVED, &got);
		return CHAN_OK;
	}
	while ((v = TAILQ_FIRST(values)) != NULL) {
		TAILQ_REMOVE(values, v, entry);
		chan_buffer_push(ch, v);
	}
	chan_pump(ch);
	return CHAN_OK;
}

enum chan_status
chan_recv(struct chan *ch, size_t max, size_t max_bytes,
    struct value_list *out, size_t *nout)
{
	struct waitcase	*wc;
	struct value	*v;
	size_t		 n = 0, bytes = 0;

	assert(max >= 1);
	*nout = 0;
	if (ch->len > 0) {
		*nout = chan_buffer_take(ch, max, max_bytes, out);
		chan_pump(ch);
		return CHAN_OK;
	}
	if (ch->cap == 0 && ch->nsend > 0) {
		/* Rendezvous: take from waiting senders, first come first. */
		while (n < max && (wc = TAILQ_FIRST(&ch->sendq)) != NULL) {
			v = TAILQ_FIRST(&wc->values);
			if (n > 0 && bytes + v->len > max_bytes)
				break;
			TAILQ_REMOVE(&wc->values, v, entry);
			TAILQ_INSERT_TAIL(out, v, entry);
			ch->sent++;
			ch->received++;
			bytes += v->len;
			n++;
			waiter_wake(wc->waiter, wc, WAKE_SENT, NULL);
		}
		*nout = n;
		return CHAN_OK;
	}
	if (chan_drained(ch))
		return CHAN_CLOSED;
	return CHAN_BLOCKED;
}

enum chan_status
chan_close(struct chan *ch)
{
	struct waitcase	*wc;

	if (ch->closed)
		return CHAN_CLOSED;
	ch->closed = true;
	while ((wc = TAILQ_FIRST(&ch->sendq)) != NULL)
		waiter_wake(wc->waiter, wc, WAKE_CLOSED, NULL);
	chan_pump(ch);
	return CHAN_OK;
}

void
chan_drop(struct chan *ch)
{
	struct waitcase	*wc;

	while ((wc = TAILQ_FIRST(&ch->sendq)) != NULL)
		waiter_wake(wc->waiter, wc, WAKE_DROPPED, NULL);
	while ((wc = TAILQ_FIRST(&ch->recvq)) != NULL)
		waiter_wake(wc->waiter, wc, WAKE_DROPPED, NULL);
}
