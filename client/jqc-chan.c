/*
 * jqc-chan: the typed calls of the channel ops, PROTOCOL.md section 10:
 * make, send (one value or a batch), recv (one value, with a lease, or
 * many; leases for a named consumer), ack, nack (with a delay), touch,
 * close, drop, stat, chans.  select has its own file.
 *
 * Values cross this file as JSON text: parsed on the way out (text that is
 * not JSON fails here with JQC_E_INVAL) and printed compactly on the way
 * back.  Every call zeroes its outputs first and again on failure, so the
 * caller's cleanup is the same whatever happened.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jqclient.h"
#include "jqc-private.h"

/* {"op": op, "chan": chan}, the start of every request here. */
static json_t *
chan_request(struct jqc *c, const char *op, const char *chan)
{
	return jqc__request(c, "{s:s, s:s}", "op", op, "chan", chan);
}

int
jqc_make(struct jqc *c, const char *chan, uint32_t cap, bool *created)
{
	const struct jqc_make_opts	 o = { .cap = cap };

	return jqc_make_with(c, chan, &o, created);
}

int
jqc_make_with(struct jqc *c, const char *chan, const struct jqc_make_opts *o,
    bool *created)
{
	const json_t	*r;
	json_t		*req;
	bool		 b;

	if (created != NULL)
		*created = false;
	jqc__begin(c);
	req = chan_request(c, "make", chan);
	jqc__set(c, &req, "cap", json_integer(o->cap));
	if (o->max_deliveries > 0)
		jqc__set(c, &req, "max_deliveries",
		    json_integer(o->max_deliveries));
	jqc__set_str(c, &req, "dead_letter", o->dead_letter);
	if (jqc__call(c, req, &r) == -1 ||
	    jqc__get_bool_opt(c, r, "created", &b) == -1)
		return -1;
	if (created != NULL)
		*created = b;
	return 0;
}

/* "send" of value (stolen). */
static int
send_value(struct jqc *c, const char *chan, json_t *value,
    int64_t timeout_ms)
{
	json_t	*req;

	req = chan_request(c, "send", chan);
	jqc__set(c, &req, "value", value);
	jqc__set_timeout(c, &req, timeout_ms);
	return jqc__call(c, req, NULL);
}

int
jqc_send(struct jqc *c, const char *chan, const char *value_json,
    int64_t timeout_ms)
{
	json_t	*req;

	jqc__begin(c);
	req = chan_request(c, "send", chan);
	/* As given: 19.99 stays 19.99 (jqclient.h, "Values as text"). */
	jqc__set_text(c, &req, "value", value_json, value_json != NULL ?
	    strlen(value_json) : 0, "the value");
	jqc__set_timeout(c, &req, timeout_ms);
	return jqc__call(c, req, NULL);
}

int
jqc_send_string(struct jqc *c, const char *chan, const char *s,
    int64_t timeout_ms)
{
	json_t	*v;

	jqc__begin(c);
	if (s == NULL || (v = json_string(s)) == NULL)
		return jqc__fail(c, JQC_E_INVAL, "the string to send is NULL "
		    "or not UTF-8");
	return send_value(c, chan, v, timeout_ms);
}

int
jqc__set_batch(struct jqc *c, json_t **req, const char *const *values_json,
    size_t n)
{
	json_t	*v;
	char	 what[48], *text, *p;
	size_t	 i, len = 2;
	int	 rc;

	if (*req == NULL)
		return -1;
	if (n == 0 || values_json == NULL) {
		jqc__fail(c, JQC_E_INVAL, "a batch needs at least one value");
		goto fail;
	}
	/* Each checked alone, for a message that names it. */
	for (i = 0; i < n; i++) {
		snprintf(what, sizeof(what), "value %zu of the batch", i);
		if ((v = jqc__value_parse(c, values_json[i], what)) == NULL)
			goto fail;
		json_decref(v);
		len += strlen(values_json[i]) + 1;
	}
	if ((text = p = malloc(len)) == NULL) {
		jqc__fail(c, JQC_E_NOMEM, "out of memory");
		goto fail;
	}
	*p++ = '[';
	for (i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		memcpy(p, values_json[i], strlen(values_json[i]));
		p += strlen(values_json[i]);
	}
	*p++ = ']';
	rc = jqc__set_text(c, req, "values", text, (size_t)(p - text),
	    "the batch");
	free(text);
	return rc;
fail:
	json_decref(*req);
	*req = NULL;
	return -1;
}

int
jqc_send_batch(struct jqc *c, const char *chan,
    const char *const *values_json, size_t n, int64_t timeout_ms)
{
	json_t	*req;

	jqc__begin(c);
	req = chan_request(c, "send", chan);
	if (jqc__set_batch(c, &req, values_json, n) == -1)
		return -1;
	jqc__set_timeout(c, &req, timeout_ms);
	return jqc__call(c, req, NULL);
}

/*
 * "recv" of one value, leased when lease_ms > 0.  *r (borrowed) is the ok
 * reply; *closed says it is the closed, drained form (no value).
 */
static int
recv_one(struct jqc *c, const char *chan, const char *consumer,
    int64_t lease_ms, int64_t timeout_ms, const json_t **r,
    char **value_json, bool *closed)
{
	const json_t	*v;
	json_t		*req;

	*value_json = NULL;
	*closed = false;
	req = chan_request(c, "recv", chan);
	if (lease_ms > 0)
		jqc__set(c, &req, "lease_ms", json_integer(lease_ms));
	if (consumer != NULL)
		jqc__set(c, &req, "consumer", json_string(consumer));
	jqc__set_timeout(c, &req, timeout_ms);
	if (jqc__call(c, req, r) == -1)
		return -1;
	/* Test "value" first: null is a value (PROTOCOL.md 10.4). */
	if ((v = json_object_get(*r, "value")) != NULL)
		return (*value_json = jqc_reply_value_text(c, *r, "value",
		    JQC_MEMBER)) == NULL ? -1 : 0;
	if (json_is_true(json_object_get(*r, "closed"))) {
		*closed = true;
		return 0;
	}
	return jqc__fail(c, JQC_E_PROTO, "malformed reply: recv without "
	    "'value' or 'closed'");
}

int
jqc_recv(struct jqc *c, const char *chan, int64_t timeout_ms,
    char **value_json, bool *closed)
{
	const json_t	*r;
	bool		 cl;

	jqc__begin(c);
	if (recv_one(c, chan, NULL, 0, timeout_ms, &r, value_json, &cl) == -1)
		return -1;
	if (closed != NULL)
		*closed = cl;
	return 0;
}

int
jqc_recv_lease(struct jqc *c, const char *chan, int64_t lease_ms,
    int64_t timeout_ms, struct jqc_lease *out)
{
	return jqc_recv_lease_consumer(c, chan, NULL, lease_ms, timeout_ms,
	    out);
}

int
jqc_recv_lease_consumer(struct jqc *c, const char *chan, const char *consumer,
    int64_t lease_ms, int64_t timeout_ms, struct jqc_lease *out)
{
	const json_t	*r;

	memset(out, 0, sizeof(*out));
	jqc__begin(c);
	if (lease_ms <= 0)
		return jqc__fail(c, JQC_E_INVAL, "lease_ms must be at least "
		    "1");
	if (recv_one(c, chan, consumer, lease_ms, timeout_ms, &r,
	    &out->value_json, &out->closed) == -1)
		goto fail;
	if (out->closed)
		return 0;
	if (jqc__get_str_opt(c, r, "lease", &out->lease, NULL) == -1 ||
	    jqc__get_int_opt(c, r, "redelivered", 0, &out->redelivered) == -1)
		goto fail;
	if (out->lease == NULL) {
		jqc__fail(c, JQC_E_PROTO, "malformed reply: leased recv "
		    "without 'lease'");
		goto fail;
	}
	return 0;
fail:
	jqc_lease_free(out);
	return -1;
}

void
jqc_lease_free(struct jqc_lease *l)
{
	free(l->lease);
	free(l->value_json);
	memset(l, 0, sizeof(*l));
}

static int
lease_op(struct jqc *c, const char *op, const char *chan, const char *lease)
{
	jqc__begin(c);
	return jqc__call(c, jqc__request(c, "{s:s, s:s, s:s}", "op", op,
	    "chan", chan, "lease", lease), NULL);
}

int
jqc_ack(struct jqc *c, const char *chan, const char *lease)
{
	return lease_op(c, "ack", chan, lease);
}

int
jqc_nack(struct jqc *c, const char *chan, const char *lease)
{
	return lease_op(c, "nack", chan, lease);
}

int
jqc_nack_delay(struct jqc *c, const char *chan, const char *lease,
    int64_t delay_ms)
{
	jqc__begin(c);
	if (delay_ms < 0)
		return jqc__fail(c, JQC_E_INVAL, "delay_ms must be at least 0");
	return jqc__call(c, jqc__request(c, "{s:s, s:s, s:s, s:I}", "op",
	    "nack", "chan", chan, "lease", lease, "delay_ms",
	    (json_int_t)delay_ms), NULL);
}

int
jqc_touch(struct jqc *c, const char *chan, const char *lease,
    int64_t lease_ms, int64_t *deadline_ms)
{
	const json_t	*r;
	int64_t		 d;

	if (deadline_ms != NULL)
		*deadline_ms = 0;
	jqc__begin(c);
	if (lease_ms <= 0)
		return jqc__fail(c, JQC_E_INVAL, "lease_ms must be at least "
		    "1");
	if (jqc__call(c, jqc__request(c, "{s:s, s:s, s:s, s:I}", "op",
	    "touch", "chan", chan, "lease", lease, "lease_ms",
	    (json_int_t)lease_ms), &r) == -1 ||
	    jqc__get_int(c, r, "deadline_ms", &d) == -1)
		return -1;
	if (deadline_ms != NULL)
		*deadline_ms = d;
	return 0;
}

int
jqc_nack_reason(struct jqc *c, const char *chan, const char *lease,
    const char *reason)
{
	json_t	*req;

	jqc__begin(c);
	req = jqc__request(c, "{s:s, s:s, s:s}", "op", "nack", "chan", chan,
	    "lease", lease);
	jqc__set_str(c, &req, "reason", reason);
	return jqc__call(c, req, NULL);
}

/* The values, leases and redelivery counts of a multi-form reply. */
static int
values_read(struct jqc *c, const json_t *r, bool leased,
    struct jqc_values *out)
{
	const json_t	*values, *leases = NULL, *redelivered, *v;
	size_t		 n, nl = 0, i;

	if (jqc__get_array(c, r, "values", &values, &n) == -1 ||
	    (leased && n > 0 &&
	    jqc__get_array(c, r, "leases", &leases, &nl) == -1))
		return -1;
	if (leased && n > 0 && nl != n)
		return jqc__fail(c, JQC_E_PROTO, "malformed reply: %zu "
		    "values but %zu leases", n, nl);
	if (n == 0)
		return jqc__get_bool_opt(c, r, "closed", &out->closed);
	/* Absent when every value is new (PROTOCOL.md 10.4). */
	redelivered = json_object_get(r, "redelivered");
	if ((out->values = calloc(n, sizeof(*out->values))) == NULL ||
	    (leased && ((out->leases = calloc(n, sizeof(*out->leases))) ==
	    NULL || (out->redelivered = calloc(n,
	    sizeof(*out->redelivered))) == NULL)))
		return jqc__fail(c, JQC_E_NOMEM, "out of memory");
	/* From here on jqc_values_free() frees whatever was filled in. */
	out->n = n;
	for (i = 0; i < n; i++) {
		if ((out->values[i] = jqc_reply_value_text(c, r, "values",
		    i)) == NULL)
			return -1;
		if (!leased)
			continue;
		if (!json_is_string(v = json_array_get(leases, i)))
			return jqc__fail(c, JQC_E_PROTO, "malformed reply: "
			    "leases[%zu] is not a string", i);
		if ((out->leases[i] = jqc__strdup(c,
		    json_string_value(v))) == NULL)
			return -1;
		v = json_array_get(redelivered, i);
		out->redelivered[i] = json_is_integer(v) ?
		    (int64_t)json_integer_value(v) : 0;
	}
	return 0;
}

int
jqc_recv_many(struct jqc *c, const char *chan, uint32_t max,
    int64_t lease_ms, int64_t timeout_ms, struct jqc_values *out)
{
	return jqc_recv_many_consumer(c, chan, NULL, max, lease_ms,
	    timeout_ms, out);
}

int
jqc_recv_many_consumer(struct jqc *c, const char *chan, const char *consumer,
    uint32_t max, int64_t lease_ms, int64_t timeout_ms,
    struct jqc_values *out)
{
	const json_t	*r;
	json_t		*req;

	memset(out, 0, sizeof(*out));
	jqc__begin(c);
	req = chan_request(c, "recv", chan);
	jqc__set(c, &req, "max", json_integer(max));
	if (lease_ms > 0)
		jqc__set(c, &req, "lease_ms", json_integer(lease_ms));
	if (consumer != NULL)
		jqc__set(c, &req, "consumer", json_string(consumer));
	jqc__set_timeout(c, &req, timeout_ms);
	if (jqc__call(c, req, &r) == -1 ||
	    values_read(c, r, lease_ms > 0, out) == -1) {
		jqc_values_free(out);
		return -1;
	}
	return 0;
}

void
jqc_values_free(struct jqc_values *v)
{
	size_t	i;

	for (i = 0; i < v->n; i++) {
		free(v->values[i]);
		if (v->leases != NULL)
			free(v->leases[i]);
	}
	free(v->values);
	free(v->leases);
	free(v->redelivered);
	memset(v, 0, sizeof(*v));
}

int
jqc_chan_close(struct jqc *c, const char *chan)
{
	jqc__begin(c);
	return jqc__call(c, chan_request(c, "close", chan), NULL);
}

int
jqc_chan_drop(struct jqc *c, const char *chan)
{
	jqc__begin(c);
	return jqc__call(c, chan_request(c, "drop", chan), NULL);
}

/* A stat object (PROTOCOL.md 10.8). */
static int
stat_read(struct jqc *c, const json_t *obj, struct jqc_chan_stat *out)
{
	int64_t	cap, max_deliveries;

	memset(out, 0, sizeof(*out));
	if (jqc__get_str_buf(c, obj, "chan", out->chan, sizeof(out->chan),
	    false) == -1 ||
	    jqc__get_int(c, obj, "cap", &cap) == -1 ||
	    jqc__get_bool_opt(c, obj, "closed", &out->closed) == -1 ||
	    jqc__get_int(c, obj, "len", &out->len) == -1 ||
	    jqc__get_int(c, obj, "leased", &out->leased) == -1 ||
	    jqc__get_int(c, obj, "senders_waiting",
	    &out->senders_waiting) == -1 ||
	    jqc__get_int(c, obj, "receivers_waiting",
	    &out->receivers_waiting) == -1 ||
	    jqc__get_int(c, obj, "sent", &out->sent) == -1 ||
	    jqc__get_int(c, obj, "received", &out->received) == -1 ||
	    jqc__get_int_opt(c, obj, "max_deliveries", 0,
	    &max_deliveries) == -1 ||
	    (json_object_get(obj, "dead_letter") != NULL &&
	    jqc__get_str_buf(c, obj, "dead_letter", out->dead_letter,
	    sizeof(out->dead_letter), false) == -1) ||
	    jqc__get_int_opt(c, obj, "dead_lettered", 0,
	    &out->dead_lettered) == -1)
		return -1;
	if (cap < 0 || cap > UINT32_MAX || max_deliveries < 0 ||
	    max_deliveries > UINT32_MAX)
		return jqc__fail(c, JQC_E_PROTO, "malformed reply: cap "
		    "%lld, max_deliveries %lld", (long long)cap,
		    (long long)max_deliveries);
	out->cap = (uint32_t)cap;
	out->max_deliveries = (uint32_t)max_deliveries;
	return 0;
}

int
jqc_stat(struct jqc *c, const char *chan, struct jqc_chan_stat *out)
{
	const json_t	*r;

	memset(out, 0, sizeof(*out));
	jqc__begin(c);
	if (jqc__call(c, chan_request(c, "stat", chan), &r) == -1 ||
	    stat_read(c, r, out) == -1) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

int
jqc_chans(struct jqc *c, const char *prefix, struct jqc_chan_stat **out,
    size_t *n)
{
	const json_t	*r, *chans;
	json_t		*req;
	size_t		 count, i;

	*out = NULL;
	*n = 0;
	jqc__begin(c);
	req = jqc__request(c, "{s:s}", "op", "chans");
	jqc__set_str(c, &req, "prefix", prefix);
	if (jqc__call(c, req, &r) == -1 ||
	    jqc__get_array(c, r, "chans", &chans, &count) == -1)
		return -1;
	if (count == 0)
		return 0;
	if ((*out = calloc(count, sizeof(**out))) == NULL)
		return jqc__fail(c, JQC_E_NOMEM, "out of memory");
	for (i = 0; i < count; i++) {
		if (stat_read(c, json_array_get(chans, i), &(*out)[i]) == -1) {
			free(*out);
			*out = NULL;
			return -1;
		}
	}
	*n = count;
	return 0;
}
