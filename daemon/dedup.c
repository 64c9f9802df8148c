/*
 * Dedup tables (see dedup.h for the contract).
 *
 * A table lives while its channel has keys or settings of its own; an
 * empty table with default settings is freed at once, so idle channels
 * cost nothing.  Recorded keys are in their table's age list in the order
 * they were recorded, which is the order they expire in (one window per
 * table) and the order the count evicts them in.  A wall clock that steps
 * back only delays expiry; a key's age is never taken as negative.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "dedup.h"
#include "log.h"
#include "units.h"

_Static_assert(sizeof(struct dedup_key) + 1 + 16 + sizeof(void *) <=
    DEDUP_KEY_OVERHEAD, "DEDUP_KEY_OVERHEAD must cover a key's overhead");

static bool
dedup_key_equal(const struct map_entry *e, const char *key, size_t len)
{
	const struct dedup_key	*k = MAP_ELEM(e, struct dedup_key, entry);

	return k->len == len && memcmp(k->key, key, len) == 0;
}

static int64_t
dedup_wall_ms(void)
{
	return units_clock_ms(CLOCK_REALTIME);
}

void
dedup_init(struct dedup *d, struct event_base *base, int64_t window_ms,
    uint64_t max, uint64_t max_bytes)
{
	memset(d, 0, sizeof(*d));
	map_init(&d->tables);
	d->base = base;
	d->now_ms = dedup_wall_ms;
	d->default_window_ms = window_ms;
	d->default_max = max;
	d->max_bytes = max_bytes;
}

struct dedup_table *
dedup_table_find(const struct dedup *d, int64_t chan_id)
{
	return MAP_ELEM(map_find_u64(&d->tables, (uint64_t)chan_id),
	    struct dedup_table, entry);
}

static void	dedup_timer_cb(evutil_socket_t fd, short what, void *arg);

static struct dedup_table *
dedup_table_get(struct dedup *d, int64_t chan_id)
{
	struct dedup_table	*t = dedup_table_find(d, chan_id);

	if (t != NULL)
		return t;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		fatal("out of memory");
	t->dedup = d;
	t->chan_id = chan_id;
	map_init_str(&t->keys, dedup_key_equal);
	TAILQ_INIT(&t->age);
	if (d->base != NULL &&
	    (t->timer = evtimer_new(d->base, dedup_timer_cb, t)) == NULL)
		fatal("out of memory");
	map_insert_u64(&d->tables, &t->entry, (uint64_t)chan_id);
	return t;
}

/* Free t and every key it holds (no hooks). */
static void
dedup_table_free(struct dedup_table *t)
{
	struct dedup		*d = t->dedup;
	struct map_iter		 it;
	struct map_entry	*e;
	struct dedup_key	*k;

	MAP_FOREACH(e, &it, &t->keys) {
		k = MAP_ELEM(e, struct dedup_key, entry);
		map_remove(&t->keys, e);
		d->keys--;
		d->bytes -= dedup_key_cost(k->len);
		free(k);
	}
	map_fini(&t->keys);
	map_remove(&d->tables, &t->entry);
	if (t->timer != NULL)
		event_free(t->timer);
	free(t);
}

/* Free t if it holds nothing worth keeping. */
static void
dedup_table_trim(struct dedup_table *t)
{
	if (map_count(&t->keys) == 0 && t->window_ms == 0 && t->max == 0)
		dedup_table_free(t);
}

void
dedup_fini(struct dedup *d)
{
	struct map_iter		 it;
	struct map_entry	*e;

	MAP_FOREACH(e, &it, &d->tables)
		dedup_table_free(MAP_ELEM(e, struct dedup_table, entry));
	map_fini(&d->tables);
}

static int64_t
dedup_window(const struct dedup_table *t)
{
	return t->window_ms > 0 ? t->window_ms : t->dedup->default_window_ms;
}

static uint64_t
dedup_max(const struct dedup_table *t)
{
	return t->max > 0 ? t->max : t->dedup->default_max;
}

void
dedup_configure(struct dedup *d, int64_t chan_id, int64_t window_ms,
    uint64_t max)
{
	struct dedup_table	*t = dedup_table_get(d, chan_id);

	t->window_ms = window_ms;
	t->max = max;
	dedup_table_trim(t);
}

void
dedup_own(const struct dedup *d, int64_t chan_id, int64_t *window_ms,
    uint64_t *max)
{
	const struct dedup_table *t = dedup_table_find(d, chan_id);

	*window_ms = t != NULL ? t->window_ms : 0;
	*max = t != NULL ? t->max : 0;
}

void
dedup_settings(const struct dedup *d, int64_t chan_id, int64_t *window_ms,
    uint64_t *max)
{
	const struct dedup_table *t = dedup_table_find(d, chan_id);

	*window_ms = t != NULL ? dedup_window(t) : d->default_window_ms;
	*max = t != NULL ? dedup_max(t) : d->default_max;
}

size_t
dedup_count(const struct dedup *d, int64_t chan_id)
{
	const struct dedup_table *t = dedup_table_find(d, chan_id);

	return t != NULL ? map_count(&t->keys) : 0;
}

/* Unlink and free k; a recorded key is deleted from the store too. */
static void
dedup_key_forget(struct dedup_key *k, bool hooks)
{
	struct dedup_table	*t = k->table;
	struct dedup		*d = t->dedup;

	if (!k->pending) {
		TAILQ_REMOVE(&t->age, k, age_entry);
		t->nrecorded--;
		if (hooks && d->hooks != NULL && d->hooks->del != NULL)
			d->hooks->del(d->hooks_arg, k);
	} else
		t->npending--;
	map_remove(&t->keys, &k->entry);
	d->keys--;
	d->bytes -= dedup_key_cost(k->len);
	free(k);
}

static bool
dedup_key_expired(const struct dedup_key *k, int64_t now)
{
	return !k->pending && now - k->at_ms >= dedup_window(k->table);
}

/* Arm t's timer for its oldest key, or drop t if it is empty. */
static void
dedup_table_arm(struct dedup_table *t)
{
	struct dedup_key	*k = TAILQ_FIRST(&t->age);
	struct timeval		 tv;
	int64_t			 due;

	if (k == NULL) {
		if (t->timer != NULL)
			evtimer_del(t->timer);
		dedup_table_trim(t);
		return;
	}
	if (t->timer == NULL)
		return;
	due = k->at_ms + dedup_window(t) - t->dedup->now_ms();
	if (due < 0)
		due = 0;
	/* A clock stepped back must not hold memory for ever. */
	if (due > dedup_window(t))
		due = dedup_window(t);
	tv = units_ms_timeval(due);
	evtimer_add(t->timer, &tv);
}

size_t
dedup_expire(struct dedup_table *t)
{
	struct dedup_key	*k;
	int64_t			 now = t->dedup->now_ms();
	size_t			 n = 0;

	while (n < DEDUP_EXPIRE_BATCH && (k = TAILQ_FIRST(&t->age)) != NULL &&
	    dedup_key_expired(k, now)) {
		dedup_key_forget(k, true);
		t->dedup->expired++;
		n++;
	}
	return n;
}

static void
dedup_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dedup_table	*t = arg;

	(void)dedup_expire(t);
	/* More due: the next turn (arm computes 0), after other work. */
	dedup_table_arm(t);
}

enum dedup_status
dedup_check(struct dedup *d, int64_t chan_id, const char *key, size_t len)
{
	struct dedup_table	*t = dedup_table_find(d, chan_id);
	struct dedup_key	*k = NULL;

	if (t != NULL)
		k = MAP_ELEM(map_find_str(&t->keys, key, len),
		    struct dedup_key, entry);
	if (k != NULL && k->pending)
		return DEDUP_PENDING;
	if (k != NULL && !dedup_key_expired(k, d->now_ms())) {
		d->duplicates++;
		return DEDUP_SEEN;
	}
	if (k != NULL) {
		/* Past the window; the timer has not come round to it. */
		dedup_key_forget(k, true);
		d->expired++;
		dedup_table_arm(t);
	}
	if (d->bytes + dedup_key_cost(len) > d->max_bytes)
		return DEDUP_FULL;
	return DEDUP_NEW;
}

struct dedup_key *
dedup_hold(struct dedup *d, int64_t chan_id, const char *key, size_t len)
{
	struct dedup_table	*t = dedup_table_get(d, chan_id);
	struct dedup_key	*k;

	assert(len <= DEDUP_KEY_MAX);
	if ((k = calloc(1, sizeof(*k) + len + 1)) == NULL)
		fatal("out of memory");
	k->table = t;
	k->pending = true;
	k->len = len;
	memcpy(k->key, key, len);
	map_insert_str(&t->keys, &k->entry, k->key, len);
	t->npending++;
	d->keys++;
	d->bytes += dedup_key_cost(len);
	return k;
}

/* Link recorded k as the newest of its table; evict beyond the count. */
static void
dedup_link(struct dedup_key *k)
{
	struct dedup_table	*t = k->table;
	struct dedup_key	*old;
	bool			 was_empty = TAILQ_EMPTY(&t->age);

	TAILQ_INSERT_TAIL(&t->age, k, age_entry);
	t->nrecorded++;
	/* One key in, at most one out: bounded work per send. */
	while (t->nrecorded > dedup_max(t) &&
	    (old = TAILQ_FIRST(&t->age)) != k) {
		dedup_key_forget(old, true);
		t->dedup->evicted++;
		was_empty = true;	/* the head changed: re-arm */
	}
	if (was_empty)
		dedup_table_arm(t);
}

void
dedup_record(struct dedup_key *k)
{
	struct dedup	*d = k->table->dedup;

	if (!k->pending)
		return;
	k->pending = false;
	k->table->npending--;
	k->at_ms = d->now_ms();
	if (d->hooks != NULL && d->hooks->add != NULL)
		d->hooks->add(d->hooks_arg, k->table->chan_id, k);
	dedup_link(k);
}

void
dedup_release(struct dedup_key *k)
{
	struct dedup_table	*t = k->table;

	if (!k->pending)
		return;
	dedup_key_forget(k, false);
	dedup_table_trim(t);
}

void
dedup_add(struct dedup *d, int64_t chan_id, const char *key, size_t len)
{
	dedup_record(dedup_hold(d, chan_id, key, len));
}

void
dedup_restore(struct dedup *d, int64_t chan_id, int64_t store_id,
    const char *key, size_t len, int64_t at_ms)
{
	struct dedup_key	*k = dedup_hold(d, chan_id, key, len);

	k->pending = false;
	k->table->npending--;
	k->store_id = store_id;
	k->at_ms = at_ms;
	dedup_link(k);
}

void
dedup_drop(struct dedup *d, int64_t chan_id)
{
	struct dedup_table	*t = dedup_table_find(d, chan_id);

	if (t == NULL)
		return;
	assert(t->npending == 0);
	dedup_table_free(t);
}
