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

#include <event2/event.h>

#include "chan.h"
#include "chanmap.h"
#include "deadletter.h"
#include "log.h"
#include "units.h"

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
	TAILQ_INIT(&ch->leases);
	TAILQ_INIT(&ch->delayed);
	TAILQ_INIT(&ch->recvq);
	TAILQ_INIT(&ch->sendq);
	ch->name_len = name_len;
	memcpy(ch->name, name, name_len);
	ch->name[name_len] = '\0';
	return ch;
}

static void	chan_lease_free(struct lease *l);

/* Free the leases (or delayed returns) of list and their values. */
static void
chan_free_leases(struct chan *ch, struct lease_list *list)
{
	struct value	*v;
	struct lease	*l;

	while ((l = TAILQ_FIRST(list)) != NULL) {
		v = l->value;
		l->value = NULL;
		chan_lease_free(l);
		ch->totals->values--;
		ch->totals->bytes -= value_cost(v);
		value_free(v);
	}
}

void
chan_free(struct chan *ch)
{
	struct value	*v;

	if (ch == NULL)
		return;
	assert(ch->nrecv == 0 && ch->nsend == 0);
	chan_free_leases(ch, &ch->leases);
	chan_free_leases(ch, &ch->delayed);
	while ((v = TAILQ_FIRST(&ch->buf)) != NULL) {
		TAILQ_REMOVE(&ch->buf, v, entry);
		ch->totals->values--;
		ch->totals->bytes -= value_cost(v);
		value_free(v);
	}
	free(ch->dead_letter);
	free(ch);
}

void
chan_set_dead_letter(struct chan *ch, uint32_t max_deliveries,
    const char *dead_letter)
{
	assert(dead_letter == NULL || max_deliveries > 0);
	free(ch->dead_letter);
	ch->dead_letter = NULL;
	ch->max_deliveries = max_deliveries;
	if (dead_letter != NULL && (ch->dead_letter = strdup(dead_letter)) ==
	    NULL)
		fatal("out of memory");
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

bool
chan_dequeue(struct chan *ch, struct waitcase *wc)
{
	bool	 head = wc->is_send && TAILQ_FIRST(&ch->sendq) == wc;

	assert(wc->linked && wc->chan == ch);
	if (wc->is_send) {
		TAILQ_REMOVE(&ch->sendq, wc, entry);
		ch->nsend--;
	} else {
		TAILQ_REMOVE(&ch->recvq, wc, entry);
		ch->nrecv--;
	}
	wc->linked = false;
	return head;
}

/* Free slots: capacity minus buffered, leased and delayed values. */
static size_t
chan_room(const struct chan *ch)
{
	size_t	 used = ch->len + ch->leased + ch->ndelayed;

	return used >= ch->cap ? 0 : ch->cap - used;
}

static bool
chan_drained(const struct chan *ch)
{
	return ch->closed && ch->len == 0 && ch->leased == 0 &&
	    ch->ndelayed == 0;
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
	ch->totals->bytes += value_cost(v);
}

static void
chan_buffer_push(struct chan *ch, struct value *v)
{
	chan_buffer_link(ch, v);
	ch->sent++;
	ch->totals->sent++;
	CHAN_HOOK(ch, push, v);
}

void
chan_restore(struct chan *ch, struct value *v)
{
	chan_buffer_link(ch, v);
}

static struct lease *chan_lease_new(struct chan *ch, struct value *v,
		    const struct chan_recv_opts *o);

/*
 * Move values from the front of the buffer to out, or lease them and put
 * copies in out; see chan_recv().
 */
static size_t
chan_buffer_take(struct chan *ch, const struct chan_recv_opts *o,
    struct value_list *out)
{
	struct value	*v, *copy;
	struct lease	*l;
	size_t		 n = 0, bytes = 0;

	while (n < o->max && (v = TAILQ_FIRST(&ch->buf)) != NULL) {
		if (n > 0 && bytes + v->len > o->max_bytes)
			break;
		TAILQ_REMOVE(&ch->buf, v, entry);
		ch->len--;
		ch->bytes -= v->len;
		ch->received++;
		ch->totals->received++;
		bytes += v->len;
		n++;
		if (o->lease_ms > 0) {
			/* Still held (in memory and on disk) by the lease. */
			l = chan_lease_new(ch, v, o);
			copy = value_new(v->data, v->len);
			copy->lease_id = l->id;
			copy->redelivered = v->redelivered;
			TAILQ_INSERT_TAIL(out, copy, entry);
			continue;
		}
		ch->totals->values--;
		ch->totals->bytes -= value_cost(v);
		TAILQ_INSERT_TAIL(out, v, entry);
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
			chan_buffer_take(ch, &wc->recv, &got);
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

void
chan_serve(struct chan *ch)
{
	chan_pump(ch);
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

bool
chan_handoff_ready(const struct chan *ch)
{
	const struct waitcase	*wc = TAILQ_FIRST(&ch->recvq);

	return !ch->closed && wc != NULL && ch->len == 0 &&
	    wc->recv.lease_ms <= 0;
}

bool
chan_handoff(struct chan *ch, struct value_list *values,
    uint64_t *receiver_seq)
{
	struct waitcase		*wc = TAILQ_FIRST(&ch->recvq);
	struct value_list	 got = TAILQ_HEAD_INITIALIZER(got);
	struct value		*v = TAILQ_FIRST(values);
	uint64_t		 seq;

	assert(v != NULL && TAILQ_NEXT(v, entry) == NULL);
	if (!chan_handoff_ready(ch))
		return false;
	TAILQ_REMOVE(values, v, entry);
	TAILQ_INSERT_TAIL(&got, v, entry);
	ch->sent++;
	ch->totals->sent++;
	ch->received++;
	ch->totals->received++;
	seq = waiter_wake(wc->waiter, wc, WAKE_RECEIVED, &got);
	if (receiver_seq != NULL)
		*receiver_seq = seq;
	return true;
}

enum chan_status
chan_send(struct chan *ch, struct value_list *values, size_t n)
{
	struct value		*v;

	assert(n >= 1 && (n == 1 || n <= ch->cap));
	if (ch->closed)
		return CHAN_CLOSED;
	if (!chan_send_ready(ch, n))
		return CHAN_BLOCKED;
	if (ch->cap == 0) {
		/* Rendezvous: ready means a receiver waits. */
		(void)chan_handoff(ch, values, NULL);
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
chan_recv(struct chan *ch, const struct chan_recv_opts *o,
    struct value_list *out, size_t *nout)
{
	struct waitcase	*wc;
	struct value	*v;
	size_t		 n = 0, bytes = 0;

	assert(o->max >= 1 && (o->lease_ms <= 0 || ch->cap > 0));
	assert(o->consumer == NULL || o->lease_ms > 0);
	*nout = 0;
	if (ch->len > 0) {
		*nout = chan_buffer_take(ch, o, out);
		chan_pump(ch);
		return CHAN_OK;
	}
	if (ch->cap == 0 && ch->nsend > 0) {
		/* Rendezvous: take from waiting senders, first come first. */
		while (n < o->max && (wc = TAILQ_FIRST(&ch->sendq)) != NULL) {
			v = TAILQ_FIRST(&wc->values);
			if (n > 0 && bytes + v->len > o->max_bytes)
				break;
			TAILQ_REMOVE(&wc->values, v, entry);
			TAILQ_INSERT_TAIL(out, v, entry);
			ch->sent++;
			ch->totals->sent++;
			ch->received++;
			ch->totals->received++;
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

/*
 * Leases.  The table maps lease ids to live leases for ack, nack and
 * touch; ids are never reused, within a run or across runs (lease_ids
 * hook).  A named consumer's record lives while it holds a lease.
 */
static bool
chan_consumer_name_equal(const struct map_entry *e, const char *name,
    size_t len)
{
	const struct consumer	*c = MAP_ELEM(e, struct consumer, name_entry);

	return c->name_len == len && memcmp(c->name, name, len) == 0;
}

void
chan_totals_init(struct chan_totals *t, struct event_base *base)
{
	memset(t, 0, sizeof(*t));
	t->base = base;
	map_init(&t->leases);
	map_init_str(&t->consumers, chan_consumer_name_equal);
}

struct lease *
chan_lease_find(struct chan_totals *t, uint64_t id)
{
	return MAP_ELEM(map_find_u64(&t->leases, id), struct lease, id_entry);
}

#define CHAN_HOOK_LEASE(ch, l) do {					\
	const struct chan_hooks *_h = (ch)->totals->hooks;		\
	if (_h != NULL && _h->lease != NULL)				\
		_h->lease((ch)->totals->hooks_arg, (ch), (l));		\
} while (0)

/* The record of consumer name, made if it has none. */
static struct consumer *
chan_consumer_get(struct chan_totals *t, const char *name, size_t len)
{
	struct consumer	*c;

	c = MAP_ELEM(map_find_str(&t->consumers, name, len), struct consumer,
	    name_entry);
	if (c != NULL)
		return c;
	if ((c = calloc(1, sizeof(*c) + len + 1)) == NULL)
		fatal("out of memory");
	TAILQ_INIT(&c->leases);
	c->name_len = len;
	memcpy(c->name, name, len);
	map_insert_str(&t->consumers, &c->name_entry, c->name, len);
	t->bytes += CHAN_CONSUMER_OVERHEAD + len;
	return c;
}

/* l belongs to nobody any more; a consumer left without leases goes. */
static void
chan_lease_disown(struct lease *l)
{
	struct chan_totals	*t = l->chan->totals;
	struct consumer		*c = l->consumer;

	if (l->owner != NULL)
		TAILQ_REMOVE(l->owner, l, owner_entry);
	l->owner = NULL;
	l->consumer = NULL;
	if (c != NULL && --c->nleases == 0) {
		map_remove(&t->consumers, &c->name_entry);
		t->bytes -= CHAN_CONSUMER_OVERHEAD + c->name_len;
		free(c);
	}
}

/* Give l to consumer name (len > 0), or to the list owner (may be NULL). */
static void
chan_lease_own(struct lease *l, const char *name, size_t len,
    struct lease_list *owner)
{
	if (name != NULL) {
		l->consumer = chan_consumer_get(l->chan->totals, name, len);
		l->consumer->nleases++;
		owner = &l->consumer->leases;
	}
	if (owner != NULL) {
		l->owner = owner;
		TAILQ_INSERT_TAIL(owner, l, owner_entry);
	}
}

/* A new lease id, reserving more on disk before the reserve runs out. */
static uint64_t
chan_lease_id_next(struct chan_totals *t)
{
	const struct chan_hooks	*h = t->hooks;

	if (++t->next_lease_id > t->lease_id_limit) {
		t->lease_id_limit = t->next_lease_id + CHAN_LEASE_ID_CHUNK;
		if (h != NULL && h->lease_ids != NULL)
			h->lease_ids(t->hooks_arg, t->lease_id_limit);
	}
	return t->next_lease_id;
}

static void	chan_lease_requeue(struct lease *l);

static void
chan_lease_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lease	*l = arg;

	/* A delayed return's time is up: redelivered counted at the nack. */
	if (l->delayed)
		chan_lease_requeue(l);
	else
		chan_lease_return(l, 0);
}

/* (Re)start l's timer: it fires ms from now, the deadline on the wall. */
static void
chan_lease_arm(struct lease *l, int64_t ms)
{
	struct timeval	 tv = units_ms_timeval(ms < 0 ? 0 : ms);

	l->deadline_ms = units_clock_ms(CLOCK_REALTIME) + ms;
	event_base_update_cache_time(l->chan->totals->base);
	evtimer_add(l->timer, &tv);
}

/* A lease (id > 0) or delayed return (id 0) of v, linked, not armed. */
static struct lease *
chan_lease_alloc(struct chan *ch, struct value *v, uint64_t id)
{
	struct chan_totals	*t = ch->totals;
	struct lease		*l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("out of memory");
	l->id = id;
	l->chan = ch;
	l->value = v;
	if (id != 0) {
		map_insert_u64(&t->leases, &l->id_entry, l->id);
		TAILQ_INSERT_TAIL(&ch->leases, l, chan_entry);
		ch->leased++;
	} else {
		l->delayed = true;
		TAILQ_INSERT_TAIL(&ch->delayed, l, chan_entry);
		ch->ndelayed++;
	}
	l->timer = evtimer_new(t->base, chan_lease_timeout_cb, l);
	if (l->timer == NULL)
		fatal("out of memory");
	t->bytes += CHAN_LEASE_OVERHEAD;
	return l;
}

static struct lease *
chan_lease_new(struct chan *ch, struct value *v,
    const struct chan_recv_opts *o)
{
	struct lease	*l;

	l = chan_lease_alloc(ch, v, chan_lease_id_next(ch->totals));
	chan_lease_own(l, o->consumer, o->consumer_len, o->owner);
	chan_lease_arm(l, o->lease_ms);
	if (l->consumer != NULL)
		CHAN_HOOK_LEASE(ch, l);
	return l;
}

void
chan_restore_lease(struct chan *ch, struct value *v, uint64_t id,
    const char *consumer, size_t consumer_len, int64_t deadline_ms)
{
	struct chan_totals	*t = ch->totals;
	struct lease		*l;

	assert((id == 0) == (consumer == NULL));
	ch->totals->values++;
	ch->totals->bytes += value_cost(v);
	l = chan_lease_alloc(ch, v, id);
	chan_lease_own(l, consumer, consumer_len, NULL);
	chan_lease_arm(l, deadline_ms - units_clock_ms(CLOCK_REALTIME));
	l->deadline_ms = deadline_ms;
	if (id > t->next_lease_id)
		t->next_lease_id = t->lease_id_limit = id;
}

/* Unlink and free l (not its value, which the caller has taken). */
static void
chan_lease_free(struct lease *l)
{
	struct chan_totals	*t = l->chan->totals;

	chan_lease_disown(l);
	if (!l->delayed) {
		map_remove(&t->leases, &l->id_entry);
		TAILQ_REMOVE(&l->chan->leases, l, chan_entry);
		l->chan->leased--;
	} else {
		TAILQ_REMOVE(&l->chan->delayed, l, chan_entry);
		l->chan->ndelayed--;
	}
	event_free(l->timer);
	free(l);
	t->bytes -= CHAN_LEASE_OVERHEAD;
}

void
chan_lease_ack(struct lease *l)
{
	struct chan	*ch = l->chan;
	struct value	*v = l->value;

	chan_lease_free(l);
	ch->totals->values--;
	ch->totals->bytes -= value_cost(v);
	CHAN_HOOK(ch, take, v);
	value_free(v);
	chan_pump(ch);
}

static bool	chan_dead_letter_target(struct chan *ch,
		    const struct value *v, struct chan **dl);
static void	chan_dead_letter(struct chan *ch, struct value *v,
		    struct chan *dl);

/* v, no longer leased, goes back to the front of ch. */
static void
chan_value_requeue(struct chan *ch, struct value *v)
{
	TAILQ_INSERT_HEAD(&ch->buf, v, entry);
	ch->len++;
	ch->bytes += v->len;
	CHAN_HOOK(ch, requeue, v);
	chan_pump(ch);
}

/* l's value goes back to the front of its channel (l is freed). */
static void
chan_lease_requeue(struct lease *l)
{
	struct chan	*ch = l->chan;
	struct value	*v = l->value;

	chan_lease_free(l);
	chan_value_requeue(ch, v);
}

/* Has v, leased from ch and now returned, used up ch's max_deliveries? */
static bool
chan_deliveries_used(const struct chan *ch, const struct value *v)
{
	return ch->max_deliveries != 0 &&
	    (uint64_t)v->redelivered + 1 >= ch->max_deliveries;
}

/* The live lease l becomes a delayed return ending delay_ms from now. */
static void
chan_lease_delay(struct lease *l, int64_t delay_ms)
{
	struct chan	*ch = l->chan;

	chan_lease_disown(l);
	map_remove(&ch->totals->leases, &l->id_entry);
	TAILQ_REMOVE(&ch->leases, l, chan_entry);
	ch->leased--;
	l->id = 0;
	l->delayed = true;
	TAILQ_INSERT_TAIL(&ch->delayed, l, chan_entry);
	ch->ndelayed++;
	chan_lease_arm(l, delay_ms);
	CHAN_HOOK_LEASE(ch, l);
}

void
chan_lease_return(struct lease *l, int64_t delay_ms)
{
	struct chan	*ch = l->chan;
	struct value	*v = l->value;
	struct chan	*dl;

	assert(!l->delayed);
	/* The last delivery: no delay, to the dead-letter channel now. */
	if (chan_dead_letter_target(ch, v, &dl)) {
		chan_lease_free(l);
		chan_dead_letter(ch, v, dl);
		return;
	}
	v->redelivered++;
	if (delay_ms > 0)
		chan_lease_delay(l, delay_ms);
	else
		chan_lease_requeue(l);
}

int64_t
chan_lease_touch(struct lease *l, int64_t lease_ms)
{
	assert(!l->delayed);
	chan_lease_arm(l, lease_ms);
	if (l->consumer != NULL)
		CHAN_HOOK_LEASE(l->chan, l);
	return l->deadline_ms;
}

void
chan_lease_set_reason(struct lease *l, const char *json, size_t len)
{
	struct chan_totals	*t = l->chan->totals;

	t->bytes -= value_cost(l->value);
	l->value = value_set_reason(l->value, json, len);
	t->bytes += value_cost(l->value);
}

/*
 * The dead-letter decision, for a leased value v of ch being returned
 * (nack, expiry, its owner's connection closing).  Its deliveries (leased
 * receives) are redelivered + 1.  Below ch's max_deliveries, or with no
 * limit, it returns false: v goes back as any return does.  At the limit
 * it returns true, with *dl the dead-letter channel (NULL: none, v is to
 * be deleted), and chan_dead_letter() moves v.
 * A dead-letter channel that no longer exists (dropped since) or cannot
 * hold values (made again unbuffered) loses nothing: false, v goes back
 * as below the limit (after nack's delay_ms, if any), with a rate-limited
 * warning, counted in dead_letter_missing, and tries again at its next
 * return.
 */
static bool
chan_dead_letter_target(struct chan *ch, const struct value *v,
    struct chan **dl)
{
	struct chan_totals	*t = ch->totals;

	*dl = NULL;
	if (!chan_deliveries_used(ch, v))
		return false;
	if (ch->dead_letter == NULL)
		return true;
	if (t->chans != NULL)
		*dl = chanmap_find(t->chans, ch->dead_letter,
		    strlen(ch->dead_letter));
	if (*dl != NULL && (*dl)->cap != 0)
		return true;
	t->dead_letter_missing++;
	log_warn_limited("channel '%s': a value delivered %llu time%s goes "
	    "back: dead-letter channel '%s' %s", ch->name,
	    (unsigned long long)v->redelivered + 1,
	    log_plural((unsigned long long)v->redelivered + 1), ch->dead_letter,
	    *dl == NULL ? "does not exist" : "is unbuffered");
	return false;
}

/*
 * v, at its limit and no longer leased, leaves ch for good: with dl, its
 * envelope (deadletter.h) is appended there whatever dl's cap and closed
 * flag (a sink: v's memory was counted already), and its receivers are
 * served; the take from ch and the push are recorded in the same store
 * batch, so the move is one commit.  Without dl, v is deleted.
 */
static void
chan_dead_letter(struct chan *ch, struct value *v, struct chan *dl)
{
	struct chan_totals	*t = ch->totals;
	struct value		*env = NULL;

	if (dl != NULL)
		env = deadletter_envelope(ch->name, ch->name_len, v,
		    (uint64_t)v->redelivered + 1,
		    units_clock_ms(CLOCK_REALTIME));
	t->values--;
	t->bytes -= value_cost(v);
	CHAN_HOOK(ch, take, v);
	value_free(v);
	ch->dead_lettered++;
	t->dead_lettered++;
	if (dl != NULL) {
		chan_buffer_push(dl, env);
		chan_pump(dl);
	}
	chan_pump(ch);
}

void
chan_lease_return_all(struct lease_list *owner)
{
	struct lease	*l;

	while ((l = TAILQ_FIRST(owner)) != NULL)
		chan_lease_return(l, 0);
}

void
chan_totals_fini(struct chan_totals *t)
{
	assert(map_count(&t->leases) == 0);
	assert(map_count(&t->consumers) == 0);
	map_fini(&t->leases);
	map_fini(&t->consumers);
}
