/*
 * `chans`: the stat objects of the channels whose name starts with a
 * prefix, sorted by name, in a reply written in pieces (conn.h,
 * call_reply_stream) so that a hundred thousand channels neither hold the
 * loop nor sit in memory as one reply.
 *
 * The request takes a snapshot of the matching names (bounded by
 * max_channels) rather than a cursor: the channel table is a hash, with
 * no order to resume from.  Sorting them all at once would hold the loop
 * too (tens of ms for 10^5 names), so the names go into a binary heap,
 * built on the first piece, and each piece takes the next few hundred off
 * it: the sort is spread over the pieces.  Each channel shows as it is
 * when its piece is made; one dropped meanwhile is left out, one made
 * meanwhile is not listed.
 *
 * Paging (1.4): `after` keeps only the names byte-wise greater; with
 * `limit`, a page of that many names is chosen at once (namepage.h: one
 * pass, memory in the page, no copy of the other names), and the reply
 * says whether names were left out ("more").  Sorted, the page is already
 * a heap for the pieces to take names from.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chan.h"
#include "chanmap.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "namepage.h"
#include "op-chan.h"
#include "server.h"
#include "strbuf.h"

#define CHANS_LIMIT_MAX	10000

struct chans_stream {
	struct server	*server;
	json_t		*id;		/* the request's, a reference */
	struct strbuf	 names;		/* the names, each ending in NUL */
	size_t		*heap;		/* offsets into names */
	size_t		 n;		/* names left on the heap */
	bool		 paged;		/* limit given: say "more" */
	bool		 more;		/* names were left out for it */
	bool		 heaped;
	bool		 started;	/* the head is written */
	bool		 any;		/* and an item after it */
};

static bool
chans_less(const struct chans_stream *cs, size_t a, size_t b)
{
	return strcmp(cs->names.data + cs->heap[a],
	    cs->names.data + cs->heap[b]) < 0;
}

static void
chans_sift_down(struct chans_stream *cs, size_t i)
{
	size_t	 child, tmp;

	while ((child = 2 * i + 1) < cs->n) {
		if (child + 1 < cs->n && chans_less(cs, child + 1, child))
			child++;
		if (!chans_less(cs, child, i))
			break;
		tmp = cs->heap[i];
		cs->heap[i] = cs->heap[child];
		cs->heap[child] = tmp;
		i = child;
	}
}

/* The smallest name left, taken off the heap (borrowed from cs->names). */
static const char *
chans_pop(struct chans_stream *cs)
{
	const char	*name = cs->names.data + cs->heap[0];

	cs->heap[0] = cs->heap[--cs->n];
	chans_sift_down(cs, 0);
	return name;
}

static enum stream_status
chans_produce_cb(struct strbuf *out, void *arg)
{
	struct chans_stream	*cs = arg;
	struct chan		*ch;
	const char		*name;
	json_t			*stat;
	size_t			 i;

	if (!cs->started) {
		reply_ok_begin(out, cs->id);
		strbuf_append(out, ",\"chans\":[", 10);
		cs->started = true;
	}
	if (!cs->heaped) {
		for (i = cs->n / 2; i-- > 0;)
			chans_sift_down(cs, i);
		cs->heaped = true;
		return STREAM_MORE;
	}
	while (cs->n > 0 && out->len < STREAM_PIECE_BYTES) {
		name = chans_pop(cs);
		if ((ch = chanmap_find(&cs->server->chans, name,
		    strlen(name))) == NULL)
			continue;
		if (cs->any)
			strbuf_appendc(out, ',');
		cs->any = true;
		stat = op_chan_stat(ch);
		proto_json_append(out, stat);
		json_decref(stat);
	}
	if (cs->n > 0)
		return STREAM_MORE;
	strbuf_appendc(out, ']');
	if (cs->paged)
		strbuf_appendf(out, ",\"more\":%s", cs->more ? "true" :
		    "false");
	strbuf_append(out, "}\n", 2);
	return STREAM_DONE;
}

/* Copy name (len bytes) onto the heap of names to list. */
static void
chans_add(struct chans_stream *cs, const char *name, size_t len)
{
	cs->heap[cs->n++] = cs->names.len;
	strbuf_append(&cs->names, name, len + 1);
}

/* The first limit names after `after`, sorted, onto the heap. */
static void
chans_add_page(struct chans_stream *cs, struct chan **list, size_t n,
    const char *after, size_t limit)
{
	struct namepage	 p;
	struct chan	*ch;
	size_t		 i;

	namepage_init(&p, limit);
	for (i = 0; i < n; i++) {
		if (after == NULL || strcmp(list[i]->name, after) > 0)
			namepage_offer(&p, list[i]->name, list[i]);
	}
	namepage_sort(&p);
	for (i = 0; i < p.n; i++) {
		ch = p.items[i].obj;
		chans_add(cs, ch->name, ch->name_len);
	}
	cs->more = p.more;
	namepage_fini(&p);
}

static void
chans_free_cb(void *arg)
{
	struct chans_stream	*cs = arg;

	json_decref(cs->id);
	strbuf_fini(&cs->names);
	free(cs->heap);
	free(cs);
}

enum op_status
op_chans(struct call *call)
{
	struct proto_error	 err;
	struct chans_stream	*cs;
	const char		*prefix = "", *after = NULL;
	int64_t			 limit = -1;
	struct chan		**list;
	size_t			 n, i;

	if (request_get_string(&call->req, "prefix", &prefix, &err) == -1 ||
	    request_get_string(&call->req, "after", &after, &err) == -1 ||
	    request_get_int(&call->req, "limit", 1, CHANS_LIMIT_MAX, &limit,
	    &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	list = chanmap_collect(&call_server(call)->chans, prefix, &n);
	cs = calloc(1, sizeof(*cs));
	if (cs == NULL)
		fatal("out of memory");
	cs->paged = limit > 0;
	/* Held while the reply is written: a page's, not every name's. */
	if ((cs->heap = calloc((cs->paged && (size_t)limit < n ?
	    (size_t)limit : n) + 1, sizeof(size_t))) == NULL)
		fatal("out of memory");
	cs->server = call_server(call);
	cs->id = json_incref(call_id(call));
	if (cs->paged)
		chans_add_page(cs, list, n, after, (size_t)limit);
	else {
		for (i = 0; i < n; i++) {
			if (after == NULL || strcmp(list[i]->name, after) > 0)
				chans_add(cs, list[i]->name,
				    list[i]->name_len);
		}
	}
	free(list);
	call_reply_stream(call, chans_produce_cb, chans_free_cb, cs);
	return OP_DONE;
}
