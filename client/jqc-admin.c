/*
 * jqc-admin: the typed calls of the ops of protocol 1.3 (PROTOCOL.md
 * 10.12, 11.24-11.26): peek at a channel, retry and purge jobs, pause,
 * resume and resize a pool.  A server without them answers
 * JQC_E_UNKNOWN_OP; hello lists "peek", "retry", "purge" and
 * "pool_control" when it has them.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jqclient.h"
#include "jqc-private.h"

int
jqc_peek(struct jqc *c, const char *chan, uint32_t n, struct jqc_values *out,
    int64_t *len)
{
	const json_t	*r, *values;
	size_t		 nv, i;
	json_t		*req;

	memset(out, 0, sizeof(*out));
	if (len != NULL)
		*len = 0;
	jqc__begin(c);
	req = jqc__request(c, "{s:s, s:s}", "op", "peek", "chan", chan);
	if (n > 0)
		jqc__set(c, &req, "n", json_integer(n));
	if (jqc__call(c, req, &r) == -1 ||
	    jqc__get_array(c, r, "values", &values, &nv) == -1 ||
	    (len != NULL && jqc__get_int(c, r, "len", len) == -1))
		return -1;
	if (nv == 0)
		return 0;
	if ((out->values = calloc(nv, sizeof(*out->values))) == NULL)
		return jqc__fail(c, JQC_E_NOMEM, "out of memory");
	out->n = nv;
	for (i = 0; i < nv; i++) {
		if ((out->values[i] = jqc__value_text(c,
		    json_array_get(values, i))) == NULL) {
			jqc_values_free(out);
			return -1;
		}
	}
	return 0;
}

int
jqc_retry(struct jqc *c, int64_t job, int64_t *new_job)
{
	const json_t	*r;

	*new_job = 0;
	jqc__begin(c);
	if (jqc__call(c, jqc__request(c, "{s:s, s:I}", "op", "retry", "job",
	    (json_int_t)job), &r) == -1 ||
	    jqc__get_int(c, r, "job", new_job) == -1) {
		*new_job = 0;
		return -1;
	}
	return 0;
}

int
jqc_purge(struct jqc *c, const struct jqc_purge_opts *o, int64_t *purged)
{
	const json_t	*r;
	json_t		*req;

	*purged = 0;
	jqc__begin(c);
	req = jqc__request(c, "{s:s}", "op", "purge");
	if (o != NULL && o->state != JQC_JOB_UNKNOWN)
		jqc__set_str(c, &req, "state", jqc_job_state_name(o->state));
	if (o != NULL)
		jqc__set_str(c, &req, "group", o->group);
	if (o != NULL && o->before_ms > 0)
		jqc__set(c, &req, "before_ms", json_integer(o->before_ms));
	if (o != NULL && o->older_than_ms > 0)
		jqc__set(c, &req, "older_than_ms",
		    json_integer(o->older_than_ms));
	if (jqc__call(c, req, &r) == -1 ||
	    jqc__get_int(c, r, "purged", purged) == -1) {
		*purged = 0;
		return -1;
	}
	return 0;
}

int
jqc_pool(struct jqc *c, const char *pool, int pause, int workers,
    struct jqc_pool_state *out)
{
	const json_t	*r;
	json_t		*req;
	int64_t		 w;

	memset(out, 0, sizeof(*out));
	out->workers = -1;
	jqc__begin(c);
	req = jqc__request(c, "{s:s}", "op", "pool");
	jqc__set_str(c, &req, "pool", pool);
	if (pause >= 0)
		jqc__set(c, &req, "pause", json_boolean(pause));
	if (workers >= 0)
		jqc__set(c, &req, "workers", json_integer(workers));
	if (jqc__call(c, req, &r) == -1 ||
	    jqc__get_str_buf(c, r, "pool", out->pool, sizeof(out->pool),
	    false) == -1 ||
	    jqc__get_bool_opt(c, r, "paused", &out->paused) == -1 ||
	    jqc__get_int(c, r, "queued", &out->queued) == -1 ||
	    jqc__get_int(c, r, "running", &out->running) == -1 ||
	    jqc__get_int_opt(c, r, "workers", -1, &w) == -1) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	out->workers = w >= 0 && w <= 1024 * 1024 ? (int)w : -1;
	return 0;
}
