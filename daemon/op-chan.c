/*
 * Channel ops: make, send, recv, ack, nack, touch, close, drop, stat
 * (select is in op-select.c, chans in op-chans.c; what they share is
 * declared in op-chan.h).  A receiver may name a consumer (its
 * connection's default from hello, or a "consumer" member): then its
 * leases belong to that consumer, not to the connection, and are stored
 * (PROTOCOL.md 6.3.1).
 *
 * Each handler checks every field first (bad_request names the field),
 * then looks channels up (not_found), then acts through chan.c.  A request
 * that cannot proceed and may wait parks on a waiter whose callback below
 * answers it.  Values are carried as the JSON text their sender wrote,
 * whitespace outside strings removed (so 19.99 stays 19.99, where a tree
 * would print 19.989999999999998), and spliced into replies unparsed.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chan.h"
#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "op-chan.h"
#include "op-dedup.h"
#include "rawjson.h"
#include "server.h"
#include "store.h"
#include "strbuf.h"
#include "value.h"
#include "units.h"

#define CAP_MAX		2147483647
#define RECV_MAX	2147483647
/* Room left in a recv reply for everything but the values. */
#define REPLY_OVERHEAD	256

/* The channel named by field "chan"; answers the call and returns NULL
 * when the name is bad or the channel does not exist. */
static struct chan *
op_find_chan(struct call *call, const char *name)
{
	struct chan	*ch;

	ch = chanmap_find(&call_server(call)->chans, name, strlen(name));
	if (ch == NULL)
		call_error(call, ERRCODE_NOT_FOUND, "no channel '%s'", name);
	return ch;
}

/*
 * The channel named by field "chan" of a request that has no other field:
 * NULL after answering (bad name, no such channel).
 */
static struct chan *
op_chan_arg(struct call *call)
{
	struct proto_error	 err;
	const char		*name;

	if (request_need_chan(&call->req, "chan", &name, &err) == -1) {
		call_fail(call, &err);
		return NULL;
	}
	return op_find_chan(call, name);
}

/* True (after answering the call) if a value of len bytes is too large. */
static bool
op_value_too_large(struct call *call, size_t len, const char *what)
{
	uint64_t	 max = call_server(call)->cfg->max_value;

	if (len <= max)
		return false;
	call_error(call, ERRCODE_TOO_LARGE, "%s is %zu bytes, over max_value "
	    "(%llu bytes)", what, len, (unsigned long long)max);
	return true;
}

/*
 * A new value holding the JSON string of s, a string the fast reader took
 * (it had no escape): the text its sender wrote.
 */
static struct value *
op_quoted_value(struct call *call, const char *s, size_t n, const char *what)
{
	struct value	*v;

	if (op_value_too_large(call, n + 2, what))
		return NULL;
	v = value_alloc(n + 2);
	v->data[0] = '"';
	memcpy(v->data + 1, s, n);
	v->data[n + 1] = '"';
	v->transient = true;
	return v;
}

struct value *
op_text_value(struct call *call, const char *text, size_t len,
    const char *what)
{
	struct value	*v;
	size_t		 n = rawjson_minify(NULL, text, len);

	if (op_value_too_large(call, n, what))
		return NULL;
	v = value_alloc(n);
	(void)rawjson_minify(v->data, text, len);
	v->transient = true;
	return v;
}

size_t
op_recv_max_bytes(const struct call *call)
{
	return call_server(call)->cfg->max_frame - REPLY_OVERHEAD;
}

/*
 * A reply carrying values received from ch: "value" alone, or a "values"
 * array.  Values sent by clients that never reached the disk (handed
 * over by their senders, or taken before their insert was committed) make
 * a reply that rests on nothing but the channel itself (PROTOCOL.md 6.1.1);
 * the senders of values taken before their insert was committed are
 * acknowledged with it.
 */
uint64_t
op_reply_values(struct call *call, const struct chan *ch, json_t *r,
    struct value_list *values, bool multi)
{
	struct strbuf		 sb = STRBUF_INIT;
	struct reply_raw	 raw;
	struct value		*v;
	uint64_t		 seq;
	bool			 unstored = true;

	TAILQ_FOREACH(v, values, entry)
		unstored &= v->store_id == 0 && v->transient &&
		    v->lease_id == 0;
	if (unstored)
		call_depend(call, ch->seq);
	if (!multi) {
		v = TAILQ_FIRST(values);
		raw = (struct reply_raw){ "value", v->data, v->len };
		seq = r != NULL ? call_reply(call, r, &raw, 1) :
		    call_reply_ok(call, &raw, 1);
	} else {
		strbuf_appendc(&sb, '[');
		TAILQ_FOREACH(v, values, entry) {
			if (v != TAILQ_FIRST(values))
				strbuf_appendc(&sb, ',');
			strbuf_append(&sb, v->data, v->len);
		}
		strbuf_appendc(&sb, ']');
		raw = (struct reply_raw){ "values", sb.data, sb.len };
		seq = r != NULL ? call_reply(call, r, &raw, 1) :
		    call_reply_ok(call, &raw, 1);
		strbuf_fini(&sb);
	}
	/* Senders still waiting for inserts that will never be written. */
	TAILQ_FOREACH(v, values, entry) {
		if (v->store_id == 0)
			call_sent_delivered(v, seq);
	}
	return seq;
}

static void
op_reply_closed(struct call *call, bool multi)
{
	json_t	*r = reply_ok(call_id(call));

	if (multi)
		json_object_set_new(r, "values", json_array());
	json_object_set_new(r, "closed", json_true());
	call_reply(call, r, NULL, 0);
}

/* Answer the outcomes every blocking op shares; false if not one. */
bool
op_reply_wake_error(struct call *call, enum wake_result result,
    const char *chan)
{
	switch (result) {
	case WAKE_DROPPED:
		call_error(call, ERRCODE_NOT_FOUND,
		    "channel '%s' was dropped", chan);
		return true;
	case WAKE_TIMEOUT:
		call_error(call, ERRCODE_TIMEOUT, "timed out after %lld ms",
		    (long long)request_int(&call->req, "timeout_ms", 0));
		return true;
	case WAKE_SHUTDOWN:
		call_error(call, ERRCODE_SHUTTING_DOWN,
		    "the server is shutting down");
		return true;
	case WAKE_ABORTED:
		call_canceled(call);
		return true;
	case WAKE_READY:
		call_error(call, ERRCODE_INTERNAL, "unexpected wake-up");
		return true;
	case WAKE_SENT:
	case WAKE_RECEIVED:
	case WAKE_CLOSED:
		break;
	}
	return false;
}

/* A make's redelivery settings (PROTOCOL.md 10.1, 6.7). */
struct op_make_dead {
	int64_t		 max_deliveries;	/* 0: none */
	const char	*dead_letter;		/* NULL: none */
};

/* Read max_deliveries and dead_letter; -1 with err set. */
static int
op_make_dead_read(struct call *call, const char *name, int64_t cap,
    struct op_make_dead *d, struct proto_error *err)
{
	*d = (struct op_make_dead){ 0, NULL };
	if (request_get_int(&call->req, "max_deliveries", 1, CAP_MAX,
	    &d->max_deliveries, err) == -1 ||
	    (request_has(&call->req, "dead_letter") &&
	    request_need_chan(&call->req, "dead_letter", &d->dead_letter,
	    err) == -1))
		return -1;
	if (d->dead_letter != NULL && d->max_deliveries == 0) {
		proto_error_set(err, ERRCODE_BAD_REQUEST, "field "
		    "'dead_letter' needs field 'max_deliveries'");
		return -1;
	}
	if (d->dead_letter != NULL && strcmp(d->dead_letter, name) == 0) {
		proto_error_set(err, ERRCODE_BAD_REQUEST, "field "
		    "'dead_letter' must name another channel");
		return -1;
	}
	if (d->max_deliveries > 0 && cap == 0) {
		proto_error_set(err, ERRCODE_BAD_REQUEST, "field "
		    "'max_deliveries': leases need a buffered channel");
		return -1;
	}
	return 0;
}

/* True (after answering) if ch's settings differ from the request's. */
static bool
op_make_differs(struct call *call, const struct chan *ch, uint32_t cap,
    const struct op_make_dead *d)
{
	if (ch->cap != cap) {
		call_error(call, ERRCODE_EXISTS,
		    "channel '%s' exists with cap %u", ch->name, ch->cap);
		return true;
	}
	if (ch->max_deliveries != (uint32_t)d->max_deliveries) {
		call_error(call, ERRCODE_EXISTS, ch->max_deliveries > 0 ?
		    "channel '%s' exists with max_deliveries %u" :
		    "channel '%s' exists without max_deliveries", ch->name,
		    ch->max_deliveries);
		return true;
	}
	if ((ch->dead_letter == NULL) != (d->dead_letter == NULL) ||
	    (ch->dead_letter != NULL &&
	    strcmp(ch->dead_letter, d->dead_letter) != 0)) {
		if (ch->dead_letter != NULL)
			call_error(call, ERRCODE_EXISTS, "channel '%s' exists "
			    "with dead_letter '%s'", ch->name,
			    ch->dead_letter);
		else
			call_error(call, ERRCODE_EXISTS, "channel '%s' exists "
			    "without dead_letter", ch->name);
		return true;
	}
	return false;
}

/*
 * True (after answering) if the dead-letter channel d names does not
 * exist or cannot hold values.
 */
static bool
op_make_dead_missing(struct call *call, const struct op_make_dead *d)
{
	struct chan	*dl;

	if (d->dead_letter == NULL)
		return false;
	if ((dl = op_find_chan(call, d->dead_letter)) == NULL)
		return true;
	if (dl->cap == 0) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'dead_letter': "
		    "channel '%s' is unbuffered (cap 0)", d->dead_letter);
		return true;
	}
	return false;
}

enum op_status
op_make(struct call *call)
{
	struct server		*s = call_server(call);
	struct proto_error	 err;
	struct op_dedup_opts	 dd;
	struct op_make_dead	 dead;
	const char		*name;
	int64_t			 cap = 0;
	struct chan		*ch;
	bool			 created = false;
	json_t			*r;

	if (request_need_chan(&call->req, "chan", &name, &err) == -1 ||
	    request_get_int(&call->req, "cap", 0, CAP_MAX, &cap, &err) == -1 ||
	    op_dedup_make_opts(call, &dd, &err) == -1 ||
	    op_make_dead_read(call, name, cap, &dead, &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	ch = chanmap_find(&s->chans, name, strlen(name));
	if (ch != NULL && op_make_differs(call, ch, (uint32_t)cap, &dead))
		return OP_DONE;
	if (ch != NULL && op_dedup_make_conflict(call, ch, &dd))
		return OP_DONE;
	if (op_make_dead_missing(call, &dead))
		return OP_DONE;
	if (ch == NULL && server_refuse_writes(s, call))
		return OP_DONE;
	if (ch == NULL && chanmap_count(&s->chans) >= s->cfg->max_channels) {
		call_error(call, ERRCODE_LIMIT, "max_channels (%llu) reached",
		    (unsigned long long)s->cfg->max_channels);
		return OP_DONE;
	}
	if (ch == NULL) {
		ch = chan_new(name, strlen(name), (uint32_t)cap, &s->totals);
		ch->store_id = store_chan_make(s->store, name, (uint32_t)cap);
		op_dedup_make(call, ch, &dd);
		if (dead.max_deliveries > 0) {
			chan_set_dead_letter(ch, (uint32_t)dead.max_deliveries,
			    dead.dead_letter);
			store_chan_dead(s->store, ch->store_id,
			    ch->max_deliveries, ch->dead_letter);
		}
		ch->seq = store_barrier(s->store);
		chanmap_insert(&s->chans, ch);
		created = true;
	}
	r = reply_ok(call_id(call));
	json_object_set_new(r, "created", json_boolean(created));
	call_reply(call, r, NULL, 0);
	return OP_DONE;
}

static uint64_t
op_send_wake_cb(struct waiter *w, int index, enum wake_result result,
    struct value_list *values, void *arg)
{
	struct call	*call = arg;
	const char	*chan = request_string(&call->req, "chan");

	/* Unpark first: once answered, the call may be written and freed. */
	call_unpark(call);
	if (!op_reply_wake_error(call, result, chan)) {
		if (result == WAKE_CLOSED)
			call_error(call, ERRCODE_CLOSED,
			    "channel '%s' is closed", chan);
		else
			call_ok(call);
	}
	return 0;
}

/*
 * Receivers took a value from ch during the open batch or the one before:
 * they are working through what it holds.  A send stored meanwhile is
 * acknowledged one commit after its insert (PROTOCOL.md 6.1.2), so that
 * its producer cannot keep pace with them: with both sides waiting one
 * commit per step, a stored backlog would never drain, and every message
 * would go on being written and deleted instead of passing through.
 */
static bool
op_chan_draining(const struct server *s, const struct chan *ch)
{
	return s->store != NULL && ch->take_seq != 0 &&
	    ch->take_seq + 1 >= store_open_seq(s->store);
}

/*
 * A send whose value went straight to a waiting receiver (chan_handoff)
 * changed nothing on disk: it is acknowledged with the receiver's reply,
 * made inside the hand-off and stamped with receiver_seq (after that
 * receiver's earlier replies), and after the channel's own make or close.
 */
uint64_t
op_handoff_seq(const struct chan *ch, uint64_t receiver_seq)
{
	return receiver_seq > ch->seq ? receiver_seq : ch->seq;
}

/*
 * The values of field "values" (checked: a non-empty array of n) from its
 * text into vals; answers the call on error.
 */
static int
op_send_batch(struct call *call, struct value_list *vals, size_t n)
{
	struct rawjson_iter	 it;
	struct rawjson_span	 e;
	struct value		*v;
	const char		*text;
	size_t			 len, i;
	char			 what[48];

	if (!request_text(&call->req, "values", &text, &len) ||
	    !rawjson_array_begin(&it, text, len)) {
		call_error(call, ERRCODE_INTERNAL, "field 'values' not found "
		    "in the frame");
		return -1;
	}
	for (i = 0; i < n; i++) {
		snprintf(what, sizeof(what), "values[%zu]", i);
		if (!rawjson_array_next(&it, &e)) {
			call_error(call, ERRCODE_INTERNAL, "%s not found in "
			    "the frame", what);
			v = NULL;
		} else
			v = op_text_value(call, e.p, e.len, what);
		if (v == NULL) {
			value_list_free(vals);
			return -1;
		}
		TAILQ_INSERT_TAIL(vals, v, entry);
	}
	return 0;
}

/* Read "value" or "values" into vals; answers the call on error. */
static int
op_send_values(struct call *call, struct value_list *vals, size_t *n)
{
	const char	*text;
	size_t		 len;
	bool		 has_text = request_text(&call->req, "value", &text,
			    &len);
	bool		 is_plain = !has_text && request_plain_string(
			    &call->req, "value", &text, &len);
	json_t		*many;
	struct value	*v;

	if ((has_text || is_plain) && request_has(&call->req, "values")) {
		call_error(call, ERRCODE_BAD_REQUEST,
		    "give either field 'value' or field 'values', not both");
		return -1;
	}
	if (has_text || is_plain) {
		v = has_text ? op_text_value(call, text, len,
		    "field 'value'") : op_quoted_value(call, text, len,
		    "field 'value'");
		if (v == NULL)
			return -1;
		TAILQ_INSERT_TAIL(vals, v, entry);
		*n = 1;
		return 0;
	}
	if ((many = request_field(&call->req, "values")) == NULL ||
	    json_is_null(many)) {
		call_error(call, ERRCODE_BAD_REQUEST,
		    "field 'value' (or 'values') is required");
		return -1;
	}
	if (!json_is_array(many) || json_array_size(many) == 0) {
		call_error(call, ERRCODE_BAD_REQUEST,
		    "field 'values' must be a non-empty array");
		return -1;
	}
	*n = json_array_size(many);
	return op_send_batch(call, vals, *n);
}

enum op_status
op_send(struct call *call)
{
	struct server		*s = call_server(call);
	struct value_list	 vals = TAILQ_HEAD_INITIALIZER(vals);
	struct proto_error	 err;
	const char		*name, *key;
	int64_t			 timeout_ms;
	struct chan		*ch;
	struct value		*v;
	struct waiter		*w;
	size_t			 n;
	uint64_t		 bytes = 0, receiver_seq;
	bool			 batch;

	if (request_need_chan(&call->req, "chan", &name, &err) == -1 ||
	    request_get_timeout(&call->req, "timeout_ms", &timeout_ms,
	    &err) == -1 || op_dedup_key(call, &key, &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	if (op_send_values(call, &vals, &n) == -1)
		return OP_DONE;
	batch = request_has(&call->req, "values");
	if ((ch = op_find_chan(call, name)) == NULL)
		goto done;
	if (batch && ch->cap == 0) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'values': a "
		    "batch needs a buffered channel ('%s' has cap 0)", name);
		goto done;
	}
	if (n > ch->cap && ch->cap > 0) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'values': %zu "
		    "values exceed the cap of '%s' (%u)", n, name, ch->cap);
		goto done;
	}
	if (key != NULL && !op_dedup_check(call, ch, key))
		goto done;
	if ((ch->cap > 0 || key != NULL) && server_refuse_writes(s, call))
		goto done;
	TAILQ_FOREACH(v, &vals, entry)
		bytes += value_cost(v);
	if (ch->cap > 0 && !ch->closed &&
	    s->totals.bytes + bytes > s->cfg->max_buffered_bytes) {
		call_error(call, ERRCODE_LIMIT, "max_buffered_bytes (%llu) "
		    "reached", (unsigned long long)s->cfg->max_buffered_bytes);
		goto done;
	}
	if (key != NULL) {
		op_dedup_values(&vals);
		/* Recorded before any receiver's reply is stamped. */
		if (!ch->closed && ((n == 1 && chan_handoff_ready(ch)) ||
		    chan_send_ready(ch, n)))
			op_dedup_sent(call, ch, key);
	}
	if (n == 1 && chan_handoff(ch, &vals, &receiver_seq)) {
		call_depend(call, op_handoff_seq(ch, receiver_seq));
		call_ok(call);
		goto done;
	}
	v = TAILQ_FIRST(&vals);
	switch (chan_send(ch, &vals, n)) {
	case CHAN_OK:
		/* v is in the buffer, or out on a lease: it stays valid. */
		if (n == 1 && v->store_id != 0) {
			call_sent_track(call, v);
			if (op_chan_draining(s, ch))
				call_depend(call, store_barrier_next(s->store));
		}
		call_ok(call);
		goto done;
	case CHAN_CLOSED:
		call_error(call, ERRCODE_CLOSED, "channel '%s' is closed",
		    name);
		goto done;
	case CHAN_BLOCKED:
		break;
	}
	if (timeout_ms == 0) {
		call_error(call, ERRCODE_TIMEOUT, ch->cap == 0 ?
		    "timed out after 0 ms: no receiver is waiting on '%s'" :
		    "timed out after 0 ms: channel '%s' is full", name);
		goto done;
	}
	w = waiter_new(1, op_send_wake_cb, call);
	w->cases[0].chan = ch;
	w->cases[0].is_send = true;
	w->cases[0].nvalues = n;
	TAILQ_CONCAT(&w->cases[0].values, &vals, entry);
	if (key != NULL)
		op_dedup_park(call, ch, key, w);
	call_park(call, w, timeout_ms);
	return OP_PARKED;
done:
	value_list_free(&vals);
	return OP_DONE;
}

int
op_get_consumer(struct call *call, const char **name)
{
	struct proto_error	 err;

	*name = conn_consumer(call->conn);
	if (request_has(&call->req, "consumer") &&
	    request_need_chan(&call->req, "consumer", name, &err) == -1) {
		call_fail(call, &err);
		return -1;
	}
	return 0;
}

static bool
op_recv_multi(const struct call *call)
{
	return request_has(&call->req, "max");
}

/*
 * A recv reply: the value(s), and for leased values the lease(s) and, when
 * any value was delivered before, "redelivered".  Returns the commit
 * sequence it was stamped with.
 */
static uint64_t
op_reply_recv(struct call *call, const struct chan *ch,
    struct value_list *got)
{
	struct server	*s = call_server(call);
	bool		 multi = op_recv_multi(call);
	struct value	*v = TAILQ_FIRST(got);
	json_t		*r = NULL, *leases, *redel;
	char		 lease[40];
	bool		 any_redelivered = false;

	if (v->lease_id != 0) {
		r = reply_ok(call_id(call));
		leases = json_array();
		redel = json_array();
		TAILQ_FOREACH(v, got, entry) {
			snprintf(lease, sizeof(lease), "%08x.%llu",
			    s->lease_boot, (unsigned long long)v->lease_id);
			json_array_append_new(leases, json_string(lease));
			json_array_append_new(redel,
			    json_integer(v->redelivered));
			any_redelivered |= v->redelivered > 0;
		}
		if (multi) {
			json_object_set_new(r, "leases", leases);
			if (any_redelivered)
				json_object_set(r, "redelivered", redel);
		} else {
			json_object_set(r, "lease", json_array_get(leases, 0));
			if (any_redelivered)
				json_object_set(r, "redelivered",
				    json_array_get(redel, 0));
			json_decref(leases);
		}
		json_decref(redel);
	}
	return op_reply_values(call, ch, r, got, multi);
}

static uint64_t
op_recv_wake_cb(struct waiter *w, int index, enum wake_result result,
    struct value_list *values, void *arg)
{
	struct call	*call = arg;
	const char	*chan = request_string(&call->req, "chan");

	call_unpark(call);
	if (op_reply_wake_error(call, result, chan))
		return 0;
	if (result == WAKE_CLOSED) {
		op_reply_closed(call, op_recv_multi(call));
		return 0;
	}
	return op_reply_recv(call, w->cases[index].chan, values);
}

/* A parked recv's own copy of its consumer's name goes with its waiter. */
static void
op_recv_free_cb(struct waiter *w, void *arg)
{
	free((char *)w->cases[0].recv.consumer);
}

enum op_status
op_recv(struct call *call)
{
	struct value_list	 got = TAILQ_HEAD_INITIALIZER(got);
	struct chan_recv_opts	 o;
	struct proto_error	 err;
	const char		*name;
	int64_t			 timeout_ms, max = 1, lease_ms = 0;
	const char		*consumer;
	struct chan		*ch;
	struct waiter		*w;
	size_t			 n;

	if (request_need_chan(&call->req, "chan", &name, &err) == -1 ||
	    request_get_int(&call->req, "max", 1, RECV_MAX, &max, &err) ==
	    -1 ||
	    request_get_timeout(&call->req, "timeout_ms", &timeout_ms,
	    &err) == -1 ||
	    request_get_int(&call->req, "lease_ms", 1, PROTO_INT_MAX,
	    &lease_ms, &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	if (op_get_consumer(call, &consumer) == -1)
		return OP_DONE;
	if ((ch = op_find_chan(call, name)) == NULL)
		return OP_DONE;
	if (lease_ms > 0 && ch->cap == 0) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'lease_ms': "
		    "leases need a buffered channel ('%s' has cap 0)", name);
		return OP_DONE;
	}
	if (ch->cap > 0 && server_refuse_writes(call_server(call), call))
		return OP_DONE;
	o = (struct chan_recv_opts){ .max = (size_t)max,
	    .max_bytes = op_recv_max_bytes(call), .lease_ms = lease_ms,
	    .owner = conn_leases(call->conn) };
	/* Only leases belong to a consumer; a plain recv takes for good. */
	if (lease_ms > 0 && consumer != NULL) {
		o.consumer = consumer;
		o.consumer_len = strlen(consumer);
	}
	switch (chan_recv(ch, &o, &got, &n)) {
	case CHAN_OK:
		op_reply_recv(call, ch, &got);
		value_list_free(&got);
		return OP_DONE;
	case CHAN_CLOSED:
		op_reply_closed(call, op_recv_multi(call));
		return OP_DONE;
	case CHAN_BLOCKED:
		break;
	}
	if (timeout_ms == 0) {
		call_error(call, ERRCODE_TIMEOUT,
		    "timed out after 0 ms: channel '%s' is empty", name);
		return OP_DONE;
	}
	w = waiter_new(1, op_recv_wake_cb, call);
	w->cases[0].chan = ch;
	/*
	 * The connection's default consumer may change (a hello on a
	 * multiplexed connection) while this waits: the waiter keeps a copy.
	 */
	if (o.consumer != NULL) {
		if ((o.consumer = strdup(o.consumer)) == NULL)
			fatal("out of memory");
		w->free_cb = op_recv_free_cb;
	}
	w->cases[0].recv = o;
	call_park(call, w, timeout_ms);
	return OP_PARKED;
}

/* The lease named by "lease" on the channel named by "chan", or NULL
 * after answering. */
static struct lease *
op_find_lease(struct call *call)
{
	struct server		*s = call_server(call);
	struct proto_error	 err;
	const char		*name, *text;
	struct lease		*l = NULL;
	unsigned long long	 id;
	unsigned int		 boot;
	struct chan		*ch;
	int			 used = 0;

	if (request_need_chan(&call->req, "chan", &name, &err) == -1 ||
	    request_need_string(&call->req, "lease", &text, &err) == -1) {
		call_fail(call, &err);
		return NULL;
	}
	if ((ch = op_find_chan(call, name)) == NULL)
		return NULL;
	if (sscanf(text, "%8x.%llu%n", &boot, &id, &used) == 2 &&
	    text[used] == '\0' && boot == s->lease_boot)
		l = chan_lease_find(&s->totals, id);
	if (l == NULL || l->chan != ch) {
		call_error(call, ERRCODE_NOT_FOUND, "no lease '%.64s' on "
		    "channel '%s' (acked, returned or expired)", text, name);
		return NULL;
	}
	if (server_refuse_writes(s, call))
		return NULL;
	return l;
}

enum op_status
op_ack(struct call *call)
{
	struct lease	*l;

	if ((l = op_find_lease(call)) != NULL) {
		chan_lease_ack(l);
		call_ok(call);
	}
	return OP_DONE;
}

/* The longest nack reason, in bytes (PROTOCOL.md 10.5). */
#define NACK_REASON_MAX	1024

/*
 * A nack's "reason" as JSON text into sb (left empty: none): its text as
 * the frame wrote it, as for values (PROTOCOL.md 2).  -1 after answering
 * the call.
 */
static int
op_nack_reason(struct call *call, struct strbuf *sb)
{
	struct proto_error	 err;
	const char		*text, *raw;
	size_t			 rawlen;
	int			 rc;

	if ((rc = request_get_string(&call->req, "reason", &text, &err)) ==
	    -1) {
		call_fail(call, &err);
		return -1;
	}
	if (rc == 1)
		return 0;
	if (strlen(text) > NACK_REASON_MAX) {
		call_error(call, ERRCODE_BAD_REQUEST, "field 'reason' must be "
		    "at most %d bytes", NACK_REASON_MAX);
		return -1;
	}
	/* At most 6 bytes of text per byte ("\u0041"): VALUE_REASON_MAX. */
	if (request_text(&call->req, "reason", &raw, &rawlen))
		strbuf_append(sb, raw, rawlen);
	else
		proto_json_append_string(sb, text, strlen(text));
	return 0;
}

enum op_status
op_nack(struct call *call)
{
	struct proto_error	 err;
	struct strbuf		 reason = STRBUF_INIT;
	struct lease		*l;
	int64_t			 delay_ms = 0;

	if (request_get_int(&call->req, "delay_ms", 0, PROTO_INT_MAX,
	    &delay_ms, &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	if (op_nack_reason(call, &reason) == -1)
		return OP_DONE;
	if ((l = op_find_lease(call)) != NULL) {
		chan_lease_set_reason(l, reason.data, reason.len);
		chan_lease_return(l, delay_ms);
		call_ok(call);
	}
	strbuf_fini(&reason);
	return OP_DONE;
}

enum op_status
op_touch(struct call *call)
{
	struct proto_error	 err;
	struct lease		*l;
	int64_t			 lease_ms, deadline_ms;
	json_t			*r;

	if (request_need_int(&call->req, "lease_ms", 1, PROTO_INT_MAX,
	    &lease_ms, &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	if ((l = op_find_lease(call)) == NULL)
		return OP_DONE;
	deadline_ms = chan_lease_touch(l, lease_ms);
	r = reply_ok(call_id(call));
	json_object_set_new(r, "deadline_ms", json_integer(deadline_ms));
	call_reply(call, r, NULL, 0);
	return OP_DONE;
}

enum op_status
op_close(struct call *call)
{
	struct chan	*ch;

	if ((ch = op_chan_arg(call)) == NULL ||
	    server_refuse_writes(call_server(call), call))
		return OP_DONE;
	if (ch->closed) {
		call_error(call, ERRCODE_CLOSED,
		    "channel '%s' is already closed", ch->name);
		return OP_DONE;
	}
	/* Recorded first: the receivers it wakes must wait for it too. */
	store_chan_close(call_server(call)->store, ch->store_id);
	ch->seq = store_barrier(call_server(call)->store);
	(void)chan_close(ch);
	call_ok(call);
	return OP_DONE;
}

enum op_status
op_drop(struct call *call)
{
	struct chan	*ch;

	if ((ch = op_chan_arg(call)) == NULL ||
	    server_refuse_writes(call_server(call), call))
		return OP_DONE;
	store_chan_drop(call_server(call)->store, ch->store_id);
	server_drop_chan(call_server(call), ch);
	call_ok(call);
	return OP_DONE;
}

json_t *
op_chan_stat(const struct chan *ch)
{
	json_t	*r;

	/* A delayed return (nack delay_ms) counts as leased: out of reach. */
	r = json_pack("{s:s, s:I, s:I, s:b, s:I, s:I, s:I, s:I, s:I}",
	    "chan", ch->name,
	    "cap", (json_int_t)ch->cap,
	    "len", (json_int_t)ch->len,
	    "closed", ch->closed,
	    "leased", (json_int_t)(ch->leased + ch->ndelayed),
	    "senders_waiting", (json_int_t)ch->nsend,
	    "receivers_waiting", (json_int_t)ch->nrecv,
	    "sent", (json_int_t)ch->sent,
	    "received", (json_int_t)ch->received);
	/* Only when set: a version 1 client sees the stat it knows. */
	if (ch->max_deliveries > 0) {
		json_object_set_new(r, "max_deliveries",
		    json_integer(ch->max_deliveries));
		if (ch->dead_letter != NULL)
			json_object_set_new(r, "dead_letter",
			    json_string(ch->dead_letter));
		json_object_set_new(r, "dead_lettered",
		    json_integer((json_int_t)ch->dead_lettered));
	}
	return r;
}

enum op_status
op_stat(struct call *call)
{
	struct chan	*ch;
	json_t		*r, *stat;

	if ((ch = op_chan_arg(call)) == NULL)
		return OP_DONE;
	r = reply_ok(call_id(call));
	stat = op_chan_stat(ch);
	json_object_update(r, stat);
	json_decref(stat);
	op_dedup_stat(call, ch, r);
	call_reply(call, r, NULL, 0);
	return OP_DONE;
}
