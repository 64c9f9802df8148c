/*
 * jqc-session: the typed calls of the session ops, PROTOCOL.md section 9:
 * hello (plain, or making the connection multiplexed), auth, ping, stats.
 * What hello says about the connection is kept by jqc-mux.c.
 */

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jqclient.h"
#include "jqc-private.h"

/* The features of protocol 1.1 this library knows, by name. */
static const struct {
	const char	*name;
	unsigned	 bit;
} hello_features[] = {
	{ "consumer",	JQC_FEATURE_CONSUMER },
	{ "touch",	JQC_FEATURE_TOUCH },
	{ "nack_delay",	JQC_FEATURE_NACK_DELAY },
	{ "multiplex",	JQC_FEATURE_MULTIPLEX },
	{ "abort",	JQC_FEATURE_ABORT },
};

/* The bits of the "features" names we know; others are ignored. */
static unsigned
hello_feature_bits(const json_t *r)
{
	const json_t	*f;
	unsigned	 bits = 0;
	size_t		 i, j;

	json_array_foreach(json_object_get(r, "features"), i, f) {
		for (j = 0; j < sizeof(hello_features) /
		    sizeof(hello_features[0]); j++) {
			if (json_is_string(f) && strcmp(json_string_value(f),
			    hello_features[j].name) == 0)
				bits |= hello_features[j].bit;
		}
	}
	return bits;
}

/*
 * "hello", with "multiplex": true when multiplex: fill *out and let c
 * record the features (and the multiplexed mode) the reply gives.
 */
static int
hello(struct jqc *c, bool multiplex, struct jqc_hello *out)
{
	const json_t	*r;
	json_t		*req;

	memset(out, 0, sizeof(*out));
	jqc__begin(c);
	req = jqc__request(c, "{s:s}", "op", "hello");
	if (multiplex)
		jqc__set(c, &req, "multiplex", json_true());
	if (jqc__call(c, req, &r) == -1)
		return -1;
	/* Names are cut to fit: they are for display. */
	if (jqc__get_str_buf(c, r, "server", out->server,
	    sizeof(out->server), true) == -1 ||
	    jqc__get_str_buf(c, r, "version", out->version,
	    sizeof(out->version), true) == -1 ||
	    jqc__get_int(c, r, "protocol", &out->protocol) == -1 ||
	    jqc__get_bool_opt(c, r, "auth_required",
	    &out->auth_required) == -1 ||
	    jqc__get_int_opt(c, r, "minor", 0, &out->minor) == -1 ||
	    jqc__get_int_opt(c, r, "time_ms", -1, &out->time_ms) == -1 ||
	    (json_object_get(r, "build") != NULL &&
	    jqc__get_str_buf(c, r, "build", out->build,
	    sizeof(out->build), true) == -1) ||
	    jqc__get_bool_opt(c, r, "multiplex", &out->multiplex) == -1)
		goto fail;
	out->features = hello_feature_bits(r);
	if (jqc__mux_hello(c, r, out) == -1)
		goto fail;
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return -1;
}

int
jqc_hello(struct jqc *c, struct jqc_hello *out)
{
	return hello(c, false, out);
}

int
jqc_hello_mux(struct jqc *c, struct jqc_hello *out)
{
	return hello(c, true, out);
}

int
jqc_auth(struct jqc *c, const char *token)
{
	jqc__begin(c);
	if (jqc__call(c, jqc__request(c, "{s:s, s:s}", "op", "auth",
	    "token", token), NULL) == -1)
		return -1;
	/* For reconnecting (keyed sends, jqc-keyed.c). */
	return jqc__remember_token(c, token);
}

int
jqc_ping(struct jqc *c)
{
	jqc__begin(c);
	return jqc__call(c, jqc__request(c, "{s:s}", "op", "ping"), NULL);
}

/* The figures of struct jqc_stats: where each is in the reply. */
static const struct {
	const char	*object;	/* NULL: top level */
	const char	*key;
	size_t		 offset;
} stats_figures[] = {
	{ NULL, "uptime_ms", offsetof(struct jqc_stats, uptime_ms) },
	{ NULL, "connections", offsetof(struct jqc_stats, connections) },
	{ NULL, "connections_total",
	    offsetof(struct jqc_stats, connections_total) },
	{ NULL, "channels", offsetof(struct jqc_stats, channels) },
	{ NULL, "buffered_values",
	    offsetof(struct jqc_stats, buffered_values) },
	{ NULL, "buffered_bytes", offsetof(struct jqc_stats, buffered_bytes) },
	{ NULL, "waiting", offsetof(struct jqc_stats, waiting) },
	{ "jobs", "queued", offsetof(struct jqc_stats, jobs_queued) },
	{ "jobs", "running", offsetof(struct jqc_stats, jobs_running) },
	{ "jobs", "succeeded", offsetof(struct jqc_stats, jobs_succeeded) },
	{ "jobs", "failed", offsetof(struct jqc_stats, jobs_failed) },
	{ "jobs", "deadline_exceeded",
	    offsetof(struct jqc_stats, jobs_deadline_exceeded) },
	{ "jobs", "canceled", offsetof(struct jqc_stats, jobs_canceled) },
	{ "workers", "busy", offsetof(struct jqc_stats, workers_busy) },
	{ "workers", "total", offsetof(struct jqc_stats, workers_total) },
};

/* The whole reply minus "id" and "ok", as JSON text. */
static char *
stats_text(struct jqc *c, const json_t *reply)
{
	json_t	*copy;
	char	*text;

	if ((copy = json_copy((json_t *)reply)) == NULL) {
		jqc__fail(c, JQC_E_NOMEM, "out of memory");
		return NULL;
	}
	json_object_del(copy, "id");
	json_object_del(copy, "ok");
	text = jqc__value_text(c, copy);
	json_decref(copy);
	return text;
}

int
jqc_stats(struct jqc *c, struct jqc_stats *out, char **json)
{
	const json_t	*r, *obj;
	size_t		 i;

	memset(out, 0, sizeof(*out));
	if (json != NULL)
		*json = NULL;
	jqc__begin(c);
	if (jqc__call(c, jqc__request(c, "{s:s}", "op", "stats"), &r) == -1)
		return -1;
	for (i = 0; i < sizeof(stats_figures) / sizeof(stats_figures[0]);
	    i++) {
		obj = stats_figures[i].object == NULL ? r :
		    json_object_get(r, stats_figures[i].object);
		if (jqc__get_int(c, obj, stats_figures[i].key,
		    (int64_t *)((char *)out + stats_figures[i].offset)) == -1)
			goto fail;
	}
	if (json != NULL && (*json = stats_text(c, r)) == NULL)
		goto fail;
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return -1;
}
