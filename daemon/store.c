/*
 * The store's common layer: opening a backend, loading what it holds,
 * and the state the loop keeps between commits (see store.h for the
 * contract, store-commit.c for group commit, store-int.h for the
 * backends).  Every SQL text here is the same on every backend.
 *
 * A channel's values are its vals rows ordered by (pos, id).  New values
 * take pos = id (ids only grow); a value sent back to the front takes a pos
 * below every pos ever used (next_front_pos counts down from -1), so the
 * latest returned value is first, as in memory.  Values leased without a
 * consumer keep their row untouched until acked, so after a restart they
 * are simply back in the channel at the front.  A named consumer's lease
 * sets lease_id, consumer and lease_until_ms, a delayed return (nack
 * with delay_ms) lease_until_ms alone: after a restart both are out again
 * until then.  Going back to the front clears the three.
 *
 * Threads: the loop owns `open` (the batch being recorded) and everything
 * but the fields under `mu`; the store thread owns the backend's
 * connection once started, and trades one batch at a time through
 * `todo`/`done`.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "store-int.h"
#include "strbuf.h"
#include "value.h"

/* The backends, by the prefix of --store naming them. */
static const struct {
	const char			*prefix;
	bool				 keep_prefix;	/* part of target */
	const struct store_backend	*be;
} store_backends[] = {
	{ "sqlite:", false, &store_sqlite_backend },
	{ "postgres://", true, &store_pg_backend },
	{ "postgresql://", true, &store_pg_backend },
	{ "postgres:", false, &store_pg_backend },
};

void
store_batch_clear(struct store_batch *b)
{
	size_t	 i;

	for (i = 0; i < b->n; i++) {
		free(b->recs[i].text);
		free(b->recs[i].job);
		free(b->recs[i].consumer);
		free(b->recs[i].reason);
	}
	b->n = 0;
}

void
store_batch_fini(struct store_batch *b)
{
	store_batch_clear(b);
	free(b->recs);
	b->recs = NULL;
	b->cap = 0;
}

/* The backend target names, and what of it the backend is given. */
static const struct store_backend *
store_backend_of(const char *target, const char **rest)
{
	size_t	 i, len;

	for (i = 0; i < sizeof(store_backends) / sizeof(store_backends[0]);
	    i++) {
		len = strlen(store_backends[i].prefix);
		if (strncmp(target, store_backends[i].prefix, len) == 0) {
			*rest = store_backends[i].keep_prefix ? target :
			    target + len;
			return store_backends[i].be;
		}
	}
	*rest = target;
	return &store_sqlite_backend;
}

bool
store_target_has_password(const char *target)
{
	const char			*rest;
	const struct store_backend	*be = store_backend_of(target, &rest);

	return be->has_password != NULL && be->has_password(rest);
}

void
store_free(struct store *st)
{
	if (st->waiting) {
		st->be->cancel_wait(st);
		pthread_join(st->waiter, NULL);
		st->waiting = false;
	}
	if (st->ev_active != NULL)
		event_free(st->ev_active);
	if (st->ev_heartbeat != NULL)
		event_free(st->ev_heartbeat);
	if (st->bd != NULL)
		st->be->close(st);
	store_job_reads_free(st);
	store_batch_fini(&st->open);
	store_batch_fini(&st->flight);
	if (st->ev_kick != NULL)
		event_free(st->ev_kick);
	if (st->ev_delay != NULL)
		event_free(st->ev_delay);
	if (st->ev_done != NULL)
		event_free(st->ev_done);
	if (st->ev_retry != NULL)
		event_free(st->ev_retry);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cond);
	free(st->job_sql[0]);
	free(st->job_sql[1]);
	free(st->target);
	free(st);
}

struct store *
store_open(const char *target, enum sync_mode sync, char *err, size_t errlen)
{
	const char			*rest;
	const struct store_backend	*be = store_backend_of(target, &rest);
	struct store			*st;
	size_t				 i;

	st = calloc(1, sizeof(*st));
	if (st == NULL || (st->target = strdup(be == &store_sqlite_backend ?
	    rest : be->name)) == NULL)
		fatal("out of memory");
	st->be = be;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cond, NULL);
	st->open.seq = 1;
	for (i = 0; i < STMT_COUNT; i++)
		st->sql[i] = store_sql[i];
	store_job_sql(st);
	if (be->open(st, rest, sync, err, errlen) == -1) {
		store_free(st);
		return NULL;
	}
	return st;
}

void
store_discard_new(struct store *st)
{
	st->discard_new = true;
}

const char *
store_backend_name(const struct store *st)
{
	return st->be->name;
}

bool
store_standby(const struct store *st)
{
	return st->standby;
}

static void
store_active_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store	*st = arg;

	st->active_cb(st->active_arg);
}

static void *
store_waiter_main(void *arg)
{
	struct store	*st = arg;
	char		 err[256];
	int		 rc;

	/* The backend retries what can be retried; -1 is final. */
	if ((rc = st->be->wait_active(st, err, sizeof(err))) == 0)
		event_active(st->ev_active, EV_READ, 0);
	else if (rc == -1)
		fatal("store: waiting to become active: %s", err);
	return NULL;
}

int
store_wait_active(struct store *st, struct event_base *base,
    void (*cb)(void *), void *arg, char *err, size_t errlen)
{
	int	 rc;

	st->active_cb = cb;
	st->active_arg = arg;
	if ((st->ev_active = event_new(base, -1, 0, store_active_cb,
	    st)) == NULL)
		fatal("out of memory");
	if ((rc = pthread_create(&st->waiter, NULL, store_waiter_main,
	    st)) != 0) {
		snprintf(err, errlen, "store: waiting thread: %s",
		    strerror(rc));
		return -1;
	}
	st->waiting = true;
	return 0;
}

int
store_activate(struct store *st, char *err, size_t errlen)
{
	if (st->waiting) {
		pthread_join(st->waiter, NULL);
		st->waiting = false;
	}
	if (st->be->activate(st, err, errlen) == -1)
		return -1;
	st->standby = false;
	return 0;
}

void
store_on_deposed(struct store *st, store_deposed_cb *cb, void *arg)
{
	st->deposed_cb = cb;
	st->deposed_arg = arg;
}

const char *
store_describe(const struct store *st)
{
	return st->target;
}

static int
store_int_row(void *arg, const struct store_val *cols, size_t ncols,
    char *err, size_t errlen)
{
	*(int64_t *)arg = store_val_i64(&cols[0]);
	return 0;
}

int
store_query_int(struct store *st, const char *sql, int64_t *out, char *err,
    size_t errlen)
{
	*out = 0;
	return st->be->query(st, sql, NULL, 0, store_int_row, out, err,
	    errlen);
}

struct store_chan_ref {
	int64_t	 id;
	void	*obj;
};

/* What store_load keeps between rows. */
struct store_loading {
	struct store			*st;
	const struct store_loader	*ld;
	struct store_chan_ref		*refs;
	size_t				 nrefs;
	size_t				 cap;
};

static int
store_chan_ref_cmp(const void *a, const void *b)
{
	const struct store_chan_ref *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* id, name, cap, closed, max_deliveries, dead_letter */
static int
store_load_chan(void *arg, const struct store_val *c, size_t n, char *err,
    size_t errlen)
{
	struct store_loading	*l = arg;
	struct store_chan_ref	*ref;
	int64_t			 id = store_val_i64(&c[0]);

	if (l->nrefs == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->refs = realloc(l->refs, l->cap * sizeof(*l->refs));
		if (l->refs == NULL)
			fatal("out of memory");
	}
	ref = &l->refs[l->nrefs++];
	ref->id = id;
	ref->obj = l->ld->chan(l->ld->arg, id, c[1].kind == SV_BYTES ?
	    c[1].p : "", (uint32_t)store_val_i64(&c[2]),
	    store_val_i64(&c[3]) != 0);
	if (c[4].kind != SV_NULL)
		l->ld->chan_dead(l->ld->arg, ref->obj,
		    (uint32_t)store_val_i64(&c[4]), c[5].kind == SV_BYTES ?
		    c[5].p : NULL);
	if (id >= l->st->next_chan_id)
		l->st->next_chan_id = id + 1;
	return 0;
}

/*
 * id, chan, pos, redelivered, data, lease_id, consumer, lease_until_ms,
 * reason
 */
static int
store_load_value(void *arg, const struct store_val *c, size_t n, char *err,
    size_t errlen)
{
	struct store_loading	*l = arg;
	struct store		*st = l->st;
	struct store_chan_ref	 key, *ref;
	struct store_lease	 lease;
	struct value		*v;
	int64_t			 id, pos;

	id = store_val_i64(&c[0]);
	pos = store_val_i64(&c[2]);
	if (id >= st->next_value_id)
		st->next_value_id = id + 1;
	if (pos <= st->next_front_pos)
		st->next_front_pos = pos - 1;
	key.id = store_val_i64(&c[1]);
	ref = bsearch(&key, l->refs, l->nrefs, sizeof(*l->refs),
	    store_chan_ref_cmp);
	if (ref == NULL) {
		snprintf(err, errlen, "value %lld belongs to no channel; the "
		    "database is inconsistent", (long long)id);
		return -1;
	}
	if (c[4].kind != SV_BYTES) {
		snprintf(err, errlen, "value %lld has no data",
		    (long long)id);
		return -1;
	}
	v = value_new(c[4].p, c[4].len);
	v->store_id = id;
	v->redelivered = (uint32_t)store_val_i64(&c[3]);
	if (c[8].kind == SV_BYTES && c[8].len <= VALUE_REASON_MAX)
		v = value_set_reason(v, c[8].p, c[8].len);
	lease.id = (uint64_t)store_val_i64(&c[5]);
	lease.consumer = c[6].kind == SV_BYTES ? c[6].p : NULL;
	lease.consumer_len = c[6].kind == SV_BYTES ? c[6].len : 0;
	lease.until_ms = store_val_i64(&c[7]);
	if ((lease.id != 0) != (lease.consumer != NULL)) {
		snprintf(err, errlen, "value %lld has a lease without a "
		    "consumer or the other way round", (long long)id);
		value_free(v);
		return -1;
	}
	l->ld->value(l->ld->arg, ref->obj, v, c[7].kind != SV_NULL ? &lease :
	    NULL);
	return 0;
}

int
store_load(struct store *st, const struct store_loader *ld, char *err,
    size_t errlen)
{
	struct store_loading	 l = { .st = st, .ld = ld };
	char			 msg[256];

	st->next_chan_id = 1;
	st->next_value_id = 1;
	st->next_front_pos = -1;
	if (st->be->query(st, "SELECT id, name, cap, closed, max_deliveries, "
	    "dead_letter FROM chans ORDER BY id", NULL, 0, store_load_chan,
	    &l, msg, sizeof(msg)) == -1 ||
	    store_query_int(st, "SELECT coalesce(max(value), 0) FROM meta "
	    "WHERE key = 'lease_boot'", &st->lease_boot, msg,
	    sizeof(msg)) == -1 ||
	    store_query_int(st, "SELECT coalesce(max(value), 0) FROM meta "
	    "WHERE key = 'lease_id_floor'", &st->lease_id_floor, msg,
	    sizeof(msg)) == -1 ||
	    st->be->query(st, "SELECT id, chan, pos, redelivered, data, "
	    "lease_id, consumer, lease_until_ms, reason FROM vals ORDER BY "
	    "chan, pos, id", NULL, 0, store_load_value, &l, msg,
	    sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s: cannot load: %s", st->target, msg);
		free(l.refs);
		return -1;
	}
	free(l.refs);
	return store_job_load(st, ld, err, errlen);
}

bool
store_idle(const struct store *st)
{
	return !st->in_flight && st->open.n == 0;
}

bool
store_failing(const struct store *st)
{
	return st->failing;
}

void
store_lease_ids(const struct store *st, uint32_t *boot, uint64_t *floor)
{
	*boot = (uint32_t)st->lease_boot;
	*floor = (uint64_t)st->lease_id_floor;
}

uint64_t
store_barrier(const struct store *st)
{
	return st->last_change_seq;
}

uint64_t
store_barrier_next(struct store *st)
{
	st->want_seq = st->open.seq + 1;
	return st->want_seq;
}

uint64_t
store_open_seq(const struct store *st)
{
	return st->open.seq;
}

void
store_get_stats(struct store *st, struct store_stats *out)
{
	*out = st->stats;
	out->backend = st->be->name;
	out->active = !st->standby;
	out->epoch = st->be->epoch != NULL && !st->standby ?
	    st->be->epoch(st) : 0;
	if (!st->standby)
		st->be->sizes(st, &out->db_bytes, &out->wal_bytes);
}

