/*
 * select: check every case, look every channel up, then proceed with one
 * ready case chosen uniformly (select.c) or park on all of them.
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
#include "rawjson.h"
#include "select.h"
#include "server.h"
#include "store.h"
#include "value.h"

/* An error reply for select case index (the index goes in the error). */
static void
op_select_error(struct call *call, int index, enum errcode code,
    const char *fmt, const char *chan)
{
	json_t	*r;

	r = reply_error(call_id(call), code, fmt, chan);
	reply_error_detail(r, "index", json_integer(index));
	call_reply(call, r, NULL, 0);
}

static json_t *
op_select_reply(struct call *call, int index)
{
	json_t	*r = reply_ok(call_id(call));

	json_object_set_new(r, "index", json_integer(index));
	return r;
}

static uint64_t
op_select_wake_cb(struct waiter *w, int index, enum wake_result result,
    struct value_list *values, void *arg)
{
	struct call	*call = arg;
	const char	*chan = index >= 0 ? w->cases[index].chan->name : "";

	call_unpark(call);
	switch (result) {
	case WAKE_SENT:
		call_reply(call, op_select_reply(call, index), NULL, 0);
		break;
	case WAKE_RECEIVED:
		return op_reply_values(call, w->cases[index].chan,
		    op_select_reply(call, index), values, false);
	case WAKE_CLOSED:
		if (w->cases[index].is_send)
			op_select_error(call, index, ERRCODE_CLOSED,
			    "channel '%s' is closed", chan);
		else {
			json_t *r = op_select_reply(call, index);

			json_object_set_new(r, "closed", json_true());
			call_reply(call, r, NULL, 0);
		}
		break;
	case WAKE_DROPPED:
		op_select_error(call, index, ERRCODE_NOT_FOUND,
		    "channel '%s' was dropped", chan);
		break;
	case WAKE_TIMEOUT:
	case WAKE_SHUTDOWN:
	case WAKE_READY:
	case WAKE_ABORTED:
		(void)op_reply_wake_error(call, result, chan);
		break;
	}
	return 0;
}

/*
 * Check case i ({"recv": name} or {"send": name, "value": V}); fills sc
 * (without the channel) and, for a send, *value, made from the case's
 * text ctext (as the frame wrote it).  Answers on error.
 */
static int
op_select_parse_case(struct call *call, size_t i, const json_t *c,
    const struct rawjson_span *ctext, const char **name,
    struct select_case *sc, struct value **value, bool make_value)
{
	struct rawjson_span	 vtext;
	const json_t	*recv, *send, *which;
	char		 what[48];

	recv = json_object_get(c, "recv");
	send = json_object_get(c, "send");
	if (!json_is_object(c) || (recv == NULL) == (send == NULL)) {
		call_error(call, ERRCODE_BAD_REQUEST, "cases[%zu] must be "
		    "{\"recv\": CHAN} or {\"send\": CHAN, \"value\": V}", i);
		return -1;
	}
	which = recv != NULL ? recv : send;
	if (!json_is_string(which) || !proto_chan_name_valid(
	    json_string_value(which), json_string_length(which))) {
		call_error(call, ERRCODE_BAD_REQUEST, "cases[%zu].%s must be "
		    "a channel name: 1-128 bytes of [A-Za-z0-9._:-]", i,
		    recv != NULL ? "recv" : "send");
		return -1;
	}
	*name = json_string_value(which);
	sc->is_send = send != NULL;
	*value = NULL;
	if (!sc->is_send)
		return 0;
	if (json_object_get(c, "value") == NULL) {
		call_error(call, ERRCODE_BAD_REQUEST,
		    "cases[%zu].value is required for a send case", i);
		return -1;
	}
	if (!make_value)
		return 0;
	snprintf(what, sizeof(what), "cases[%zu].value", i);
	if (ctext == NULL || !rawjson_member(ctext->p, ctext->len, "value", 5,
	    &vtext)) {
		call_error(call, ERRCODE_INTERNAL, "%s not found in the frame",
		    what);
		return -1;
	}
	*value = op_text_value(call, vtext.p, vtext.len, what);
	return *value == NULL ? -1 : 0;
}

/* Run the ready case index now (it was found ready by select_choose). */
static void
op_select_proceed(struct call *call, struct select_case *sc, int index,
    struct value **values)
{
	struct value_list	 list = TAILQ_HEAD_INITIALIZER(list);
	struct chan		*ch = sc[index].chan;
	struct chan_recv_opts	 o;
	size_t			 n;
	uint64_t		 receiver_seq;
	json_t			*r;

	if (sc[index].is_send) {
		TAILQ_INSERT_TAIL(&list, values[index], entry);
		values[index] = NULL;
		if (chan_handoff(ch, &list, &receiver_seq)) {
			call_depend(call, op_handoff_seq(ch, receiver_seq));
			call_reply(call, op_select_reply(call, index), NULL,
			    0);
		} else if (chan_send(ch, &list, 1) == CHAN_OK)
			call_reply(call, op_select_reply(call, index), NULL,
			    0);
		else
			op_select_error(call, index, ERRCODE_CLOSED,
			    "channel '%s' is closed", ch->name);
		value_list_free(&list);
		return;
	}
	o = (struct chan_recv_opts){ .max = 1,
	    .max_bytes = op_recv_max_bytes(call) };
	if (chan_recv(ch, &o, &list, &n) == CHAN_OK) {
		op_reply_values(call, ch, op_select_reply(call, index),
		    &list, false);
		value_list_free(&list);
		return;
	}
	r = op_select_reply(call, index);
	json_object_set_new(r, "closed", json_true());
	call_reply(call, r, NULL, 0);
}

enum op_status
op_select(struct call *call)
{
	struct server		*s = call_server(call);
	struct proto_error	 err;
	struct select_case	*sc = NULL;
	struct value		**values = NULL;
	struct rawjson_iter	 it;
	struct rawjson_span	 ctext;
	const char		*name, *text;
	json_t			*cases;
	size_t			 len;
	int64_t			 timeout_ms;
	const char		*consumer;
	struct waiter		*w;
	enum op_status		 status = OP_DONE;
	size_t			 n, i;
	int			 index;

	cases = request_field(&call->req, "cases");
	if (cases == NULL || !json_is_array(cases)) {
		call_error(call, ERRCODE_BAD_REQUEST, cases == NULL ?
		    "field 'cases' is required" :
		    "field 'cases' must be an array");
		return OP_DONE;
	}
	n = json_array_size(cases);
	if (n == 0) {
		call_error(call, ERRCODE_BAD_REQUEST,
		    "field 'cases' must not be empty");
		return OP_DONE;
	}
	if (n > s->cfg->max_select_cases) {
		call_error(call, ERRCODE_LIMIT, "%zu cases, over "
		    "max_select_cases (%llu)", n,
		    (unsigned long long)s->cfg->max_select_cases);
		return OP_DONE;
	}
	if (request_get_timeout(&call->req, "timeout_ms", &timeout_ms,
	    &err) == -1) {
		call_fail(call, &err);
		return OP_DONE;
	}
	/* Checked like recv's; select takes no lease, so it changes nothing. */
	if (op_get_consumer(call, &consumer) == -1)
		return OP_DONE;
	sc = calloc(n, sizeof(*sc));
	values = calloc(n, sizeof(*values));
	if (sc == NULL || values == NULL)
		fatal("out of memory");
	/* Every malformed case (bad_request) before any size (too_large). */
	for (i = 0; i < n; i++) {
		if (op_select_parse_case(call, i, json_array_get(cases, i),
		    NULL, &name, &sc[i], &values[i], false) == -1)
			goto done;
	}
	/* The values from the cases' text, which jansson has read. */
	if (!request_text(&call->req, "cases", &text, &len) ||
	    !rawjson_array_begin(&it, text, len))
		memset(&it, 0, sizeof(it));
	for (i = 0; i < n; i++) {
		if (!rawjson_array_next(&it, &ctext))
			memset(&ctext, 0, sizeof(ctext));
		if (op_select_parse_case(call, i, json_array_get(cases, i),
		    ctext.p != NULL ? &ctext : NULL, &name, &sc[i],
		    &values[i], true) == -1)
			goto done;
	}
	for (i = 0; i < n; i++) {
		json_t *c = json_array_get(cases, i);

		name = json_string_value(json_object_get(c,
		    sc[i].is_send ? "send" : "recv"));
		sc[i].chan = chanmap_find(&s->chans, name, strlen(name));
		if (sc[i].chan == NULL) {
			op_select_error(call, (int)i, ERRCODE_NOT_FOUND,
			    "no channel '%s'", name);
			goto done;
		}
	}
	for (i = 0; i < n; i++) {
		if (sc[i].chan->cap > 0 && server_refuse_writes(s, call))
			goto done;
		if (sc[i].is_send && sc[i].chan->cap > 0 &&
		    !sc[i].chan->closed && s->totals.bytes +
		    value_cost(values[i]) > s->cfg->max_buffered_bytes) {
			op_select_error(call, (int)i, ERRCODE_LIMIT,
			    "max_buffered_bytes reached (case send '%s')",
			    sc[i].chan->name);
			goto done;
		}
	}
	if ((index = select_choose(sc, n)) >= 0) {
		op_select_proceed(call, sc, index, values);
		goto done;
	}
	if (timeout_ms == 0) {
		call_error(call, ERRCODE_TIMEOUT,
		    "timed out after 0 ms: no case is ready");
		goto done;
	}
	w = waiter_new((int)n, op_select_wake_cb, call);
	for (i = 0; i < n; i++) {
		w->cases[i].chan = sc[i].chan;
		w->cases[i].is_send = sc[i].is_send;
		w->cases[i].recv = (struct chan_recv_opts){ .max = 1,
		    .max_bytes = op_recv_max_bytes(call) };
		if (values[i] != NULL) {
			TAILQ_INSERT_TAIL(&w->cases[i].values, values[i],
			    entry);
			w->cases[i].nvalues = 1;
			values[i] = NULL;
		}
	}
	call_park(call, w, timeout_ms);
	status = OP_PARKED;
done:
	for (i = 0; i < n; i++)
		value_free(values[i]);
	free(values);
	free(sc);
	return status;
}
