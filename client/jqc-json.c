/*
 * jqc-json: the JSON side of the typed calls, so that callers see only C
 * types and JSON text.
 *
 * Going out: requests are built with jansson's pack syntax and members
 * added one by one; a step that fails records why and releases the
 * request, so the typed call just goes on to jqc__call(c, NULL), which
 * fails.  Channel values arrive as JSON text and are checked here, so text
 * that is not JSON never reaches the wire (and cannot break the framing);
 * they go out as that text (jqc-text.c).
 *
 * Coming back: reply members are read with their protocol types; a
 * member of the wrong type, or a required one missing, is a malformed
 * reply (JQC_E_PROTO) but leaves the connection usable.  Received values
 * are cut from the reply's line as the server wrote them (jqc-text.c), in
 * buffers from malloc() so the caller frees them with free() whatever
 * allocator jansson was given.
 */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jqclient.h"
#include "jqc-private.h"

json_t *
jqc__request(struct jqc *c, const char *fmt, ...)
{
	json_error_t	 jerr;
	json_t		*req;
	va_list		 ap;

	va_start(ap, fmt);
	req = json_vpack_ex(&jerr, 0, fmt, ap);
	va_end(ap);
	if (req == NULL)
		jqc__fail(c, strstr(jerr.text, "memory") != NULL ?
		    JQC_E_NOMEM : JQC_E_INVAL, "cannot build the request: %s "
		    "(a NULL or non-UTF-8 string?)", jerr.text);
	return req;
}

void
jqc__set(struct jqc *c, json_t **request, const char *key, json_t *value)
{
	if (*request == NULL) {
		json_decref(value);
		return;
	}
	if (value == NULL) {
		jqc__fail(c, JQC_E_INVAL, "field '%s': not a UTF-8 string, or "
		    "out of memory", key);
	} else if (json_object_set_new(*request, key, value) == 0)
		return;
	else
		jqc__fail(c, JQC_E_NOMEM, "out of memory");
	json_decref(*request);
	*request = NULL;
}

void
jqc__set_timeout(struct jqc *c, json_t **request, int64_t timeout_ms)
{
	if (timeout_ms >= 0)
		jqc__set(c, request, "timeout_ms", json_integer(timeout_ms));
}

void
jqc__set_str(struct jqc *c, json_t **request, const char *key,
    const char *s)
{
	if (s != NULL)
		jqc__set(c, request, key, json_string(s));
}

json_t *
jqc__value_parse(struct jqc *c, const char *text, const char *what)
{
	json_error_t	 jerr;
	json_t		*v;

	if (text == NULL) {
		jqc__fail(c, JQC_E_INVAL, "%s is NULL", what);
		return NULL;
	}
	/* Any JSON value, "\u0000" included, as the server takes it. */
	v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (v == NULL)
		jqc__fail(c, JQC_E_INVAL, "%s is not JSON: %s", what,
		    jerr.text);
	return v;
}

/* A growing malloc'd buffer for json_dump_callback(). */
struct text_buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

static int
text_append_cb(const char *data, size_t len, void *arg)
{
	struct text_buf	*b = arg;
	size_t		 ncap;
	char		*np;

	if (len >= b->cap - b->len) {
		ncap = b->cap == 0 ? 64 : b->cap;
		while (len >= ncap - b->len) {
			if (ncap > SIZE_MAX / 2)
				return -1;
			ncap *= 2;
		}
		if ((np = realloc(b->p, ncap)) == NULL)
			return -1;
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return 0;
}

char *
jqc__value_text(struct jqc *c, const json_t *value)
{
	struct text_buf	b = { NULL, 0, 0 };

	/* Compact, as the server prints values (PROTOCOL.md section 2). */
	if (json_dump_callback(value, text_append_cb, &b,
	    JSON_COMPACT | JSON_ENCODE_ANY) == -1 || b.p == NULL) {
		free(b.p);
		jqc__fail(c, JQC_E_NOMEM, "out of memory");
		return NULL;
	}
	return b.p;
}

char *
jqc__strdup(struct jqc *c, const char *s)
{
	char	*d;

	if ((d = strdup(s)) == NULL)
		jqc__fail(c, JQC_E_NOMEM, "out of memory");
	return d;
}

static int
bad_member(struct jqc *c, const char *key, const char *type)
{
	return jqc__fail(c, JQC_E_PROTO, "malformed reply: member '%s' "
	    "is not %s", key, type);
}

int
jqc__get_int(struct jqc *c, const json_t *obj, const char *key,
    int64_t *out)
{
	const json_t	*v = json_object_get(obj, key);

	if (!json_is_integer(v))
		return bad_member(c, key, "an integer");
	*out = (int64_t)json_integer_value(v);
	return 0;
}

int
jqc__get_int_opt(struct jqc *c, const json_t *obj, const char *key,
    int64_t dflt, int64_t *out)
{
	const json_t	*v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v)) {
		*out = dflt;
		return 0;
	}
	return jqc__get_int(c, obj, key, out);
}

int
jqc__get_bool_opt(struct jqc *c, const json_t *obj, const char *key,
    bool *out)
{
	const json_t	*v = json_object_get(obj, key);

	*out = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return bad_member(c, key, "a boolean");
	*out = json_is_true(v);
	return 0;
}

int
jqc__get_str_opt(struct jqc *c, const json_t *obj, const char *key,
    char **out, size_t *len)
{
	const json_t	*v = json_object_get(obj, key);
	size_t		 n;

	*out = NULL;
	if (len != NULL)
		*len = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return bad_member(c, key, "a string");
	/* memcpy, not strdup: job output may hold NUL bytes. */
	n = json_string_length(v);
	if ((*out = malloc(n + 1)) == NULL)
		return jqc__fail(c, JQC_E_NOMEM, "out of memory");
	memcpy(*out, json_string_value(v), n);
	(*out)[n] = '\0';
	if (len != NULL)
		*len = n;
	return 0;
}

int
jqc__get_str_buf(struct jqc *c, const json_t *obj, const char *key,
    char *buf, size_t size, bool cut)
{
	const json_t	*v = json_object_get(obj, key);
	size_t		 n;

	if (!json_is_string(v))
		return bad_member(c, key, "a string");
	n = json_string_length(v);
	if (n >= size && !cut)
		return bad_member(c, key, "a string that fits");
	if (n >= size)
		n = size - 1;
	memcpy(buf, json_string_value(v), n);
	buf[n] = '\0';
	return 0;
}

int
jqc__get_array(struct jqc *c, const json_t *obj, const char *key,
    const json_t **out, size_t *n)
{
	const json_t	*v = json_object_get(obj, key);

	*out = NULL;
	*n = 0;
	if (!json_is_array(v))
		return bad_member(c, key, "an array");
	*out = v;
	*n = json_array_size(v);
	return 0;
}
