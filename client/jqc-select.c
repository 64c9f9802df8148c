/*
 * jqc-select: the typed call of "select", PROTOCOL.md 10.10 -- Go's
 * select over send and recv cases, as an array of struct jqc_select_case.
 *
 * The reply names the case done by its index; errors about one case
 * (closed, not_found, limit) carry that index in the error object, which
 * is handed back in the result too, so the caller knows which channel it
 * was without parsing the message.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jqclient.h"
#include "jqc-private.h"

/* One case as the wire wants it; NULL after recording why. */
static json_t *
case_object(struct jqc *c, const struct jqc_select_case *sc, size_t i)
{
	json_t	*co;
	char	 what[48];

	switch (sc->kind) {
	case JQC_CASE_RECV:
		return jqc__request(c, "{s:s}", "recv", sc->chan);
	case JQC_CASE_SEND:
		snprintf(what, sizeof(what), "the value of case %zu", i);
		co = jqc__request(c, "{s:s}", "send", sc->chan);
		jqc__set_text(c, &co, "value", sc->value_json,
		    sc->value_json != NULL ? strlen(sc->value_json) : 0, what);
		return co;
	}
	jqc__fail(c, JQC_E_INVAL, "case %zu: kind %d is neither "
	    "JQC_CASE_RECV nor JQC_CASE_SEND", i, (int)sc->kind);
	return NULL;
}

/* The "index" of an error reply, when the server gave one; else -1. */
static int
error_index(struct jqc *c)
{
	const json_t	*v;

	v = json_object_get(json_object_get(jqc_last_reply(c), "error"),
	    "index");
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > INT32_MAX)
		return -1;
	return (int)json_integer_value(v);
}

int
jqc_select(struct jqc *c, const struct jqc_select_case *cases, size_t ncases,
    int64_t timeout_ms, struct jqc_select_result *out)
{
	const json_t	*r, *v;
	json_t		*req, *arr, *co;
	int64_t		 index;
	size_t		 i;

	memset(out, 0, sizeof(*out));
	out->index = -1;
	jqc__begin(c);
	if (cases == NULL && ncases > 0)
		return jqc__fail(c, JQC_E_INVAL, "cases is NULL");
	/* No cases goes to the server, which refuses it (bad_request). */
	req = jqc__request(c, "{s:s, s:[]}", "op", "select", "cases");
	arr = json_object_get(req, "cases");
	for (i = 0; req != NULL && i < ncases; i++) {
		if ((co = case_object(c, &cases[i], i)) == NULL ||
		    json_array_append_new(arr, co) == -1) {
			if (co != NULL)
				jqc__fail(c, JQC_E_NOMEM, "out of memory");
			json_decref(req);
			return -1;
		}
	}
	jqc__set_timeout(c, &req, timeout_ms);
	if (jqc__call(c, req, &r) == -1) {
		out->index = error_index(c);
		return -1;
	}
	if (jqc__get_int(c, r, "index", &index) == -1)
		return -1;
	if (index < 0 || (uint64_t)index >= ncases)
		return jqc__fail(c, JQC_E_PROTO, "malformed reply: case "
		    "index %lld out of range", (long long)index);
	if ((v = json_object_get(r, "value")) != NULL) {
		if ((out->value_json = jqc_reply_value_text(c, r, "value",
		    JQC_MEMBER)) == NULL)
			return -1;
	} else if (cases[index].kind == JQC_CASE_RECV &&
	    jqc__get_bool_opt(c, r, "closed", &out->closed) == -1)
		return -1;
	out->index = (int)index;
	return 0;
}

void
jqc_select_result_free(struct jqc_select_result *r)
{
	free(r->value_json);
	memset(r, 0, sizeof(*r));
	r->index = -1;
}
