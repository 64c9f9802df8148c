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
#include <string.h>

#include <sqlite3.h>

#include "dedup.h"
#include "store-int.h"

static const struct {
	enum store_stmt	 stmt;
	const char	*sql;
} store_dedup_sql[] = {
	{ STMT_DEDUP_ADD, "INSERT INTO dedup(id, chan, key, "
	    "at_ms) VALUES (?1, ?2, ?3, ?4)" },
	{ STMT_DEDUP_DEL, "DELETE FROM dedup WHERE id = ?1" },
	{ STMT_DEDUP_DROP, "DELETE FROM dedup WHERE chan = ?1" },
	{ STMT_CHAN_DEDUP, "UPDATE chans SET dedup_window_ms = "
	    "?2, dedup_max = ?3 WHERE id = ?1" },
};

int
store_dedup_prepare(struct store *st, char *err, size_t errlen)
{
	size_t	 i;

	for (i = 0; i < sizeof(store_dedup_sql) / sizeof(store_dedup_sql[0]);
	    i++) {
		if (store_prepare(st, store_dedup_sql[i].stmt,
		    store_dedup_sql[i].sql, err, errlen) == -1)
			return -1;
	}
	return 0;
}

sqlite3_stmt *
store_dedup_bind(struct store *st, const struct store_rec *r)
{
	sqlite3_stmt	*s = NULL;

	switch (r->type) {
	case REC_DEDUP_ADD:
		s = st->stmt[STMT_DEDUP_ADD];
		sqlite3_bind_int64(s, 2, r->chan);
		sqlite3_bind_text(s, 3, r->text, (int)r->len, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, r->num);
		break;
	case REC_DEDUP_DEL:
		s = st->stmt[STMT_DEDUP_DEL];
		break;
	case REC_DEDUP_DROP:
		s = st->stmt[STMT_DEDUP_DROP];
		break;
	case REC_CHAN_DEDUP:
		s = st->stmt[STMT_CHAN_DEDUP];
		if (r->pos > 0)
			sqlite3_bind_int64(s, 2, r->pos);
		else
			sqlite3_bind_null(s, 2);
		if (r->num > 0)
			sqlite3_bind_int64(s, 3, r->num);
		else
			sqlite3_bind_null(s, 3);
		break;
	default:
		return NULL;
	}
	sqlite3_bind_int64(s, 1, r->id);
	return s;
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

int
store_dedup_load(struct store *st, const struct store_dedup_loader *ld,
    char *err, size_t errlen)
{
	sqlite3_stmt	*q = NULL;
	int64_t		 id;
	int		 rc;

	st->next_dedup_id = 1;
	if (sqlite3_prepare_v2(st->db, "SELECT id, dedup_window_ms, "
	    "dedup_max FROM chans WHERE dedup_window_ms IS NOT NULL OR "
	    "dedup_max IS NOT NULL", -1, &q, NULL) != SQLITE_OK)
		goto sqlfail;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		ld->settings(ld->arg, sqlite3_column_int64(q, 0),
		    sqlite3_column_int64(q, 1),
		    (uint64_t)sqlite3_column_int64(q, 2));
	if (rc != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(q);
	if (sqlite3_prepare_v2(st->db, "SELECT id, chan, key, at_ms FROM "
	    "dedup ORDER BY chan, id", -1, &q, NULL) != SQLITE_OK)
		goto sqlfail;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		id = sqlite3_column_int64(q, 0);
		if (id >= st->next_dedup_id)
			st->next_dedup_id = id + 1;
		ld->key(ld->arg, sqlite3_column_int64(q, 1), id,
		    (const char *)sqlite3_column_text(q, 2),
		    (size_t)sqlite3_column_bytes(q, 2),
		    sqlite3_column_int64(q, 3));
	}
	if (rc != SQLITE_DONE)
		goto sqlfail;
	sqlite3_finalize(q);
	return 0;
sqlfail:
	snprintf(err, errlen, "%s: cannot load dedup keys: %s", st->path,
	    sqlite3_errmsg(st->db));
	sqlite3_finalize(q);
	return -1;
}
