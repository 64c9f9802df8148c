/*
 * Idempotent sends on the wire (see op-dedup.h; PROTOCOL.md 6.6).
 *
 * A keyed send is checked before it acts: a key its channel remembers is
 * answered {"ok":true,"duplicate":true} and nothing is sent; a key whose
 * send is still blocked is refused (exists), so two sends with one key
 * never both act.  A send that acts at once records its key first, in the
 * open batch, so that the replies of the receivers it reaches (and its
 * own ok) wait for the key's commit; a send that parks holds its key
 * until it is delivered (recorded in the batch of its insert) or ends
 * otherwise (released).
 */
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "conn.h"
#include "dedup.h"
#include "log.h"
#include "op-dedup.h"
#include "reply.h"
#include "request.h"
#include "server.h"
#include "store.h"
#include "waitq.h"

int
op_dedup_key(struct call *call, const char **key, struct proto_error *err)
{
	size_t	 len;
	int	 rc;

	*key = NULL;
	if ((rc = request_get_string(&call->req, "key", key, err)) != 0)
		return rc == 1 ? 0 : -1;
	len = strlen(*key);
	if (len == 0 || len > DEDUP_KEY_MAX) {
		proto_error_set(err, ERRCODE_BAD_REQUEST, "field 'key' must "
		    "be 1 to %d bytes (it is %zu)", DEDUP_KEY_MAX, len);
		return -1;
	}
	return 0;
}

bool
op_dedup_check(struct call *call, const struct chan *ch, const char *key)
{
	struct server	*s = call_server(call);
	json_t		*r;

	switch (dedup_check(&s->dedup, ch->store_id, key, strlen(key))) {
	case DEDUP_NEW:
		return true;
	case DEDUP_SEEN:
		/* It waits for the key's commit like the first send's ok. */
		r = reply_ok(call_id(call));
		json_object_set_new(r, "duplicate", json_true());
		call_reply(call, r, NULL, 0);
		return false;
	case DEDUP_PENDING:
		call_error(call, ERRCODE_EXISTS, "a send with key '%.64s' to "
		    "'%s' is still blocked; retry once it has ended", key,
		    ch->name);
		return false;
	case DEDUP_FULL:
		call_error(call, ERRCODE_LIMIT, "max_dedup_bytes (%llu) "
		    "reached: no room to remember key '%.64s'",
		    (unsigned long long)s->cfg->max_dedup_bytes, key);
		return false;
	}
	return true;
}

void
op_dedup_values(struct value_list *values)
{
	struct value	*v;

	TAILQ_FOREACH(v, values, entry)
		v->transient = false;
}

void
op_dedup_sent(struct call *call, const struct chan *ch, const char *key)
{
	dedup_add(&call_server(call)->dedup, ch->store_id, key, strlen(key));
}

/* A parked keyed send: its waiter's own callback, and the held key. */
struct op_dedup_hold {
	waiter_cb		*cb;
	void			*arg;
	struct dedup_key	*key;		/* NULL once settled */
};

static uint64_t
op_dedup_wake_cb(struct waiter *w, int index, enum wake_result result,
    struct value_list *values, void *arg)
{
	struct op_dedup_hold	*h = arg;

	/* Recorded in the batch of its insert, before the ok is stamped. */
	if (result == WAKE_SENT)
		dedup_record(h->key);
	else
		dedup_release(h->key);
	h->key = NULL;
	return h->cb(w, index, result, values, h->arg);
}

static void
op_dedup_free_cb(struct waiter *w, void *arg)
{
	struct op_dedup_hold	*h = arg;

	/* Ended unwoken (its connection closed): it never acted. */
	if (h->key != NULL)
		dedup_release(h->key);
	free(h);
}

void
op_dedup_park(struct call *call, const struct chan *ch, const char *key,
    struct waiter *w)
{
	struct op_dedup_hold	*h;

	if ((h = malloc(sizeof(*h))) == NULL)
		fatal("out of memory");
	h->cb = w->cb;
	h->arg = w->arg;
	h->key = dedup_hold(&call_server(call)->dedup, ch->store_id, key,
	    strlen(key));
	w->cb = op_dedup_wake_cb;
	w->arg = h;
	w->free_cb = op_dedup_free_cb;
}

int
op_dedup_make_opts(struct call *call, struct op_dedup_opts *o,
    struct proto_error *err)
{
	o->window_ms = 0;
	o->max = 0;
	if (request_get_int(&call->req, "dedup_window_ms", 1,
	    DEDUP_WINDOW_MAX_MS, &o->window_ms, err) == -1 ||
	    request_get_int(&call->req, "dedup_max", 1, DEDUP_MAX_MAX,
	    &o->max, err) == -1)
		return -1;
	return 0;
}

bool
op_dedup_make_conflict(struct call *call, const struct chan *ch,
    const struct op_dedup_opts *o)
{
	struct server	*s = call_server(call);
	int64_t		 window_ms;
	uint64_t	 max;

	dedup_own(&s->dedup, ch->store_id, &window_ms, &max);
	if (o->window_ms != 0 && o->window_ms != window_ms) {
		call_error(call, ERRCODE_EXISTS, "channel '%s' exists with "
		    "another dedup_window_ms", ch->name);
		return true;
	}
	if (o->max != 0 && (uint64_t)o->max != max) {
		call_error(call, ERRCODE_EXISTS, "channel '%s' exists with "
		    "another dedup_max", ch->name);
		return true;
	}
	return false;
}

void
op_dedup_make(struct call *call, const struct chan *ch,
    const struct op_dedup_opts *o)
{
	struct server	*s = call_server(call);

	if (o->window_ms == 0 && o->max == 0)
		return;
	dedup_configure(&s->dedup, ch->store_id, o->window_ms,
	    (uint64_t)o->max);
	store_chan_dedup(s->store, ch->store_id, o->window_ms,
	    (uint64_t)o->max);
}

void
op_dedup_stat(struct call *call, const struct chan *ch, json_t *r)
{
	const struct dedup	*d = &call_server(call)->dedup;
	int64_t			 window_ms;
	uint64_t		 max;

	/* A channel that never saw a key nor got settings: as in 1.0. */
	if (dedup_table_find(d, ch->store_id) == NULL)
		return;
	dedup_settings(d, ch->store_id, &window_ms, &max);
	json_object_set_new(r, "dedup_window_ms", json_integer(window_ms));
	json_object_set_new(r, "dedup_max", json_integer((json_int_t)max));
	json_object_set_new(r, "dedup_keys", json_integer((json_int_t)
	    dedup_count(d, ch->store_id)));
}

json_t *
op_dedup_stats(const struct server *s)
{
	const struct dedup	*d = &s->dedup;

	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
	    "keys", (json_int_t)d->keys,
	    "bytes", (json_int_t)d->bytes,
	    "max_bytes", (json_int_t)d->max_bytes,
	    "duplicates", (json_int_t)d->duplicates,
	    "expired", (json_int_t)d->expired,
	    "evicted", (json_int_t)d->evicted);
}
