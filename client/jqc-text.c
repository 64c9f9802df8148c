/*
 * jqc-text: channel values as text, both ways (jqclient.h, "Values as
 * text").  jansson holds a real as a double and writes it back with 17
 * digits (19.99 becomes 19.989999999999998, 1e2 becomes 100.0), so a
 * value that must keep its text never becomes a json_t number:
 *
 *   - going out, the text sits in the request as a string in a member of
 *     its own (JQC_TEXT_MEMBER), and the request line is written by a walk
 *     of the tree that puts the text in the value's place;
 *   - coming back, the line of a reply that carries values is kept beside
 *     it, and a value's text is cut from the line (proto/rawjson.c).
 *
 * Requests without text are written by jansson in one call, as before.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jqclient.h"
#include "jqc-private.h"
#include "rawjson.h"

/* Member names spliced in are written unescaped: keep them plain. */
static bool
key_plain(const char *key)
{
	const char	*p;

	for (p = key; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	}
	return p != key;
}

int
jqc__set_text(struct jqc *c, json_t **obj, const char *key,
    const char *text, size_t len, const char *what)
{
	json_error_t	 jerr;
	json_t		*v, *texts, *s;
	char		*min;
	size_t		 n;

	if (*obj == NULL)
		return -1;
	if (text == NULL) {
		if (c != NULL)
			jqc__fail(c, JQC_E_INVAL, "%s is NULL", what);
		goto fail;
	}
	if (!json_is_object(*obj) || !key_plain(key)) {
		if (c != NULL)
			jqc__fail(c, JQC_E_INVAL, "%s: not in an object, or "
			    "member name '%s' not made of letters, digits and "
			    "'_'", what, key);
		goto fail;
	}
	/* Any JSON value, "\u0000" included, as the server takes it. */
	if ((v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
	    &jerr)) == NULL) {
		if (c != NULL)
			jqc__fail(c, JQC_E_INVAL, "%s is not JSON: %s", what,
			    jerr.text);
		goto fail;
	}
	json_decref(v);
	if ((min = malloc(len + 1)) == NULL)
		goto nomem;
	n = rawjson_minify(min, text, len);
	s = json_stringn_nocheck(min, n);
	free(min);
	if ((texts = json_object_get(*obj, JQC_TEXT_MEMBER)) == NULL &&
	    ((texts = json_object()) == NULL || json_object_set_new_nocheck(
	    *obj, JQC_TEXT_MEMBER, texts) == -1))
		texts = NULL;
	if (s == NULL || texts == NULL ||
	    json_object_set_new(texts, key, s) == -1)
		goto nomem;
	(void)json_object_del(*obj, key);
	return 0;
nomem:
	if (c != NULL)
		jqc__fail(c, JQC_E_NOMEM, "out of memory");
fail:
	json_decref(*obj);
	*obj = NULL;
	return -1;
}

int
jqc_request_set_text(struct jqc *c, json_t *obj, const char *key,
    const char *text, size_t len)
{
	char	 what[80];
	json_t	*o;

	if (obj == NULL) {
		if (c != NULL)
			jqc__fail(c, JQC_E_INVAL, "the object is NULL");
		return -1;
	}
	snprintf(what, sizeof(what), "the text of member '%.32s'", key);
	/* jqc__set_text releases the object it fails on: a reference. */
	o = json_incref(obj);
	if (jqc__set_text(c, &o, key, text, len, what) == -1)
		return -1;
	json_decref(o);
	return 0;
}

bool
jqc__text_any(const json_t *v)
{
	const char	*key;
	json_t		*m;
	size_t		 i;

	if (json_is_object(v)) {
		if (json_object_get(v, JQC_TEXT_MEMBER) != NULL)
			return true;
		json_object_foreach((json_t *)v, key, m)
			if (jqc__text_any(m))
				return true;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			if (jqc__text_any(m))
				return true;
	}
	return false;
}

static int
put(jqc__text_cb *cb, void *arg, const char *s, size_t n)
{
	return cb(s, n, arg);
}

int
jqc__text_dump(const json_t *v, jqc__text_cb *cb, void *arg)
{
	const char	*key, *t;
	json_t		*m, *texts, *k;
	size_t		 i, n = 0;
	int		 rc;

	if (json_is_array(v)) {
		if (put(cb, arg, "[", 1) == -1)
			return -1;
		json_array_foreach(v, i, m)
			if ((i > 0 && put(cb, arg, ",", 1) == -1) ||
			    jqc__text_dump(m, cb, arg) == -1)
				return -1;
		return put(cb, arg, "]", 1);
	}
	if (!json_is_object(v))
		return json_dump_callback(v, cb, arg, JSON_COMPACT |
		    JSON_ENCODE_ANY);
	if (put(cb, arg, "{", 1) == -1)
		return -1;
	texts = json_object_get(v, JQC_TEXT_MEMBER);
	json_object_foreach((json_t *)v, key, m) {
		if (strcmp(key, JQC_TEXT_MEMBER) == 0 ||
		    json_object_get(texts, key) != NULL)
			continue;
		if ((k = json_string(key)) == NULL)
			return -1;
		rc = (n++ > 0 ? put(cb, arg, ",", 1) : 0) == -1 ||
		    json_dump_callback(k, cb, arg, JSON_ENCODE_ANY) == -1 ||
		    put(cb, arg, ":", 1) == -1 ||
		    jqc__text_dump(m, cb, arg) == -1 ? -1 : 0;
		json_decref(k);
		if (rc == -1)
			return -1;
	}
	json_object_foreach(texts, key, m) {
		t = json_string_value(m);
		/* Checked when set; a newline would end the frame. */
		if (t == NULL || !key_plain(key) || json_string_length(m) == 0 ||
		    memchr(t, '\n', json_string_length(m)) != NULL)
			return -1;
		if ((n++ > 0 && put(cb, arg, ",", 1) == -1) ||
		    put(cb, arg, "\"", 1) == -1 ||
		    put(cb, arg, key, strlen(key)) == -1 ||
		    put(cb, arg, "\":", 2) == -1 ||
		    put(cb, arg, t, json_string_length(m)) == -1)
			return -1;
	}
	return put(cb, arg, "}", 1);
}

/* -- replies ---------------------------------------------------------- */

void
jqc__texts_keep(struct jqc_texts *ts, json_t *reply, const char *line,
    size_t len)
{
	struct jqc_text	*t;

	if (json_object_get(reply, "value") == NULL &&
	    json_object_get(reply, "values") == NULL)
		return;
	t = &ts->t[ts->next];
	ts->next = (ts->next + 1) % JQC_TEXTS_KEPT;
	json_decref(t->reply);
	free(t->line);
	memset(t, 0, sizeof(*t));
	/* Out of memory: nothing kept, and values come from the tree. */
	if ((t->line = malloc(len + 1)) == NULL)
		return;
	memcpy(t->line, line, len);
	t->line[len] = '\0';
	t->len = len;
	/* A reference, so that no other reply can take its address. */
	t->reply = json_incref(reply);
}

void
jqc__texts_free(struct jqc_texts *ts)
{
	size_t	 i;

	for (i = 0; i < JQC_TEXTS_KEPT; i++) {
		json_decref(ts->t[i].reply);
		free(ts->t[i].line);
	}
	memset(ts, 0, sizeof(*ts));
}

const char *
jqc_reply_text(const struct jqc *c, const json_t *reply, size_t *len)
{
	const struct jqc_texts	*ts = jqc__texts(c);
	size_t			 i;

	for (i = 0; reply != NULL && i < JQC_TEXTS_KEPT; i++) {
		if (ts->t[i].reply == reply) {
			if (len != NULL)
				*len = ts->t[i].len;
			return ts->t[i].line;
		}
	}
	return NULL;
}

char *
jqc_reply_value_text(struct jqc *c, const json_t *reply, const char *key,
    size_t index)
{
	struct rawjson_span	 span;
	struct rawjson_iter	 it;
	const json_t		*v = json_object_get(reply, key);
	const char		*line;
	size_t			 len, i;
	char			*out;

	if (v != NULL && index != JQC_MEMBER)
		v = json_is_array(v) ? json_array_get(v, index) : NULL;
	if (v == NULL)
		return NULL;
	if ((line = jqc_reply_text(c, reply, &len)) == NULL ||
	    !rawjson_member(line, len, key, strlen(key), &span))
		return jqc__value_text(c, v);
	if (index != JQC_MEMBER) {
		if (!rawjson_array_begin(&it, span.p, span.len))
			return jqc__value_text(c, v);
		for (i = 0; i <= index; i++)
			if (!rawjson_array_next(&it, &span))
				return jqc__value_text(c, v);
	}
	if ((out = malloc(span.len + 1)) == NULL) {
		jqc__fail(c, JQC_E_NOMEM, "out of memory");
		return NULL;
	}
	/* A server before 1.3 wrote values compact already; so does jqd. */
	len = rawjson_minify(out, span.p, span.len);
	out[len] = '\0';
	return out;
}
