/*
 * The store's side of idempotent sends (dedup.h): the keys a channel has
 * seen and its own dedup settings, recorded into the open batch like any
 * change, so a key's insert commits with the value its send stored.
 *
 * Rows: dedup(id, chan, key, at_ms), ids handed out here (they only
 * grow, so id order is the order keys were recorded in); chans'
 * dedup_window_ms and dedup_max (NULL: the server's default).  A dropped
 * channel's keys go with it (REC_DEDUP_DROP, by the (chan, id) index).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "store-int.h"

void
store_dedup_step(const struct store_rec *r, struct store_step *s)
{
	struct store_val	*a = s->args;

	a[0] = (struct store_val){ .kind = SV_INT, .i = r->id };
	s->nargs = 1;
	switch (r->type) {
	case REC_DEDUP_ADD:
		s->stmt = STMT_DEDUP_ADD;
		a[1] = (struct store_val){ .kind = SV_INT, .i = r->chan };
		a[2] = (struct store_val){ .kind = SV_BYTES, .p = r->text,
		    .len = r->len };
		a[3] = (struct store_val){ .kind = SV_INT, .i = r->num };
		s->nargs = 4;
		break;
	case REC_DEDUP_DEL:
		s->stmt = STMT_DEDUP_DEL;
		break;
	case REC_DEDUP_DROP:
		s->stmt = STMT_DEDUP_DROP;
		break;
	case REC_CHAN_DEDUP:
		/* 0: NULL, the server's default. */
		s->stmt = STMT_CHAN_DEDUP;
		a[1] = (struct store_val){ .kind = r->pos > 0 ? SV_INT :
		    SV_NULL, .i = r->pos };
		a[2] = (struct store_val){ .kind = r->num > 0 ? SV_INT :
		    SV_NULL, .i = r->num };
		s->nargs = 3;
		break;
	default:
		abort();
	}
}

void
store_dedup_add(struct store *st, int64_t chan_id, struct dedup_key *k)
{
	struct store_rec	*r = store_record(st, REC_DEDUP_ADD);

	if (st->next_dedup_id == 0)
		st->next_dedup_id = 1;
	r->id = k->store_id = st->next_dedup_id++;
	r->chan = chan_id;
	r->num = k->at_ms;
	r->len = k->len;
	r->text = store_strndup(k->key, k->len);
}

void
store_dedup_del(struct store *st, const struct dedup_key *k)
{
	store_record(st, REC_DEDUP_DEL)->id = k->store_id;
}

void
store_dedup_drop(struct store *st, int64_t chan_id)
{
	store_record(st, REC_DEDUP_DROP)->id = chan_id;
}

void
store_chan_dedup(struct store *st, int64_t chan_id, int64_t window_ms,
    uint64_t max)
{
	struct store_rec	*r = store_record(st, REC_CHAN_DEDUP);

	r->id = chan_id;
	r->pos = window_ms;
	r->num = (int64_t)max;
}

static int
store_dedup_settings_row(void *arg, const struct store_val *c, size_t n,
    char *err, size_t errlen)
{
	const struct store_dedup_loader	*ld = arg;

	ld->settings(ld->arg, store_val_i64(&c[0]), store_val_i64(&c[1]), (uint64_t)store_val_i64(&c[2]));
	return 0;
}

struct store_dedup_load {
	struct store				*st;
	const struct store_dedup_loader		*ld;
};

static int
store_dedup_key_row(void *arg, const struct store_val *c, size_t n,
    char *err, size_t errlen)
{
	struct store_dedup_load	*dl = arg;
	int64_t			 id = store_val_i64(&c[0]);

	if (id >= dl->st->next_dedup_id)
		dl->st->next_dedup_id = id + 1;
	dl->ld->key(dl->ld->arg, store_val_i64(&c[1]), id, c[2].p != NULL ? c[2].p :
	    "", c[2].len, store_val_i64(&c[3]));
	return 0;
}

int
store_dedup_load(struct store *st, const struct store_dedup_loader *ld,
    char *err, size_t errlen)
{
	struct store_dedup_load	 dl = { st, ld };
	char			 msg[256];

	st->next_dedup_id = 1;
	if (st->be->query(st, "SELECT id, dedup_window_ms, dedup_max FROM "
	    "chans WHERE dedup_window_ms IS NOT NULL OR dedup_max IS NOT "
	    "NULL", NULL, 0, store_dedup_settings_row, (void *)ld, msg,
	    sizeof(msg)) == -1 ||
	    st->be->query(st, "SELECT id, chan, key, at_ms FROM dedup ORDER "
	    "BY chan, id", NULL, 0, store_dedup_key_row, &dl, msg,
	    sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s: cannot load dedup keys: %s",
		    st->target, msg);
		return -1;
	}
	return 0;
}
