/*
 * Replies: builders for the two reply shapes, and serialization.
 *
 * Every reply is a jansson object whose first members are "id" and "ok", in
 * that order (jansson keeps insertion order), followed by what the op adds.
 * Channel values are held as compact JSON text, so a reply carrying them
 * lists them as raw members: reply_serialize() dumps the object, removes its
 * closing brace and appends ,"key":<text> for each, which saves parsing a
 * value only to print it again.
 *
 * Out of memory aborts, as everywhere in the daemon.  Error messages may
 * quote what a client sent and may be cut short by formatting, so they are
 * repaired into valid UTF-8 here, the one place a message becomes JSON.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"
#include "utf8.h"
#include "strbuf.h"

#define REPLY_MESSAGE_MAX	512

/* json_object_set_new() that cannot fail: it fails only on OOM here. */
static void
reply_set(json_t *obj, const char *key, json_t *value)
{
	if (value == NULL || json_object_set_new(obj, key, value) == -1)
		abort();
}

static json_t *
reply_new(json_t *id, bool ok)
{
	json_t	*reply;

	if ((reply = json_object()) == NULL)
		abort();
	reply_set(reply, "id", id != NULL ? json_incref(id) : json_null());
	reply_set(reply, "ok", json_boolean(ok));
	return reply;
}

json_t *
reply_ok(json_t *id)
{
	return reply_new(id, true);
}

/* Replace each byte that is not part of valid UTF-8 with '?', in place. */
static void
reply_utf8_repair(char *s, size_t n)
{
	size_t		 i, len;

	for (i = 0; i < n; i += len) {
		if ((len = utf8_seq_len(s + i, n - i)) == 0) {
			s[i] = '?';
			len = 1;
		}
	}
}

json_t *
reply_error(json_t *id, enum errcode code, const char *fmt, ...)
{
	char	 message[REPLY_MESSAGE_MAX];
	json_t	*reply, *error;
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (n < 0)
		message[0] = '\0';
	reply_utf8_repair(message, strlen(message));

	reply = reply_new(id, false);
	if ((error = json_object()) == NULL)
		abort();
	reply_set(error, "code", json_string(errcode_name(code)));
	reply_set(error, "message", json_string(message));
	reply_set(reply, "error", error);
	return reply;
}

void
reply_error_detail(json_t *reply, const char *key, json_t *value)
{
	json_t	*error = json_object_get(reply, "error");

	assert(json_is_object(error));
	reply_set(error, key, value);
}

static int
reply_dump_cb(const char *buffer, size_t size, void *data)
{
	strbuf_append(data, buffer, size);
	return 0;
}

/* Raw member keys are fixed identifiers, so they need no escaping. */
static bool
reply_key_plain(const char *key)
{
	const char	*p;

	if (*key == '\0')
		return false;
	for (p = key; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	}
	return true;
}

/*
 * The start of {"id":<id>,"ok":true}, as jansson writes it, without the
 * closing brace: the commonest reply (sends, acks, and recv replies before
 * their raw value), written without a tree.
 */
void
reply_ok_begin(struct strbuf *sb, const json_t *id)
{
	char	*text, num[24];
	size_t	 len;

	strbuf_append(sb, "{\"id\":", 6);
	if (id == NULL || json_is_null(id)) {
		strbuf_append(sb, "null", 4);
	} else if (json_is_integer(id)) {
		len = (size_t)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(id));
		strbuf_append(sb, num, len);
	} else {
		text = proto_json_dump(id, &len);
		strbuf_append(sb, text, len);
		free(text);
	}
	strbuf_append(sb, ",\"ok\":true", 10);
}

/*
 * Append the raw members and the end of the reply to sb, which holds the
 * reply's members so far without the closing brace, and hand it over.
 */
static char *
reply_finish(struct strbuf *sb, const struct reply_raw *raw, size_t nraw,
    size_t *len)
{
	size_t	 i, klen;

	for (i = 0; i < nraw; i++) {
		assert(reply_key_plain(raw[i].key));
		assert(raw[i].json != NULL && raw[i].len > 0);
		klen = strlen(raw[i].key);
		strbuf_reserve(sb, klen + raw[i].len + 6);
		/* Only an empty object lacks a member before this. */
		if (sb->data[sb->len - 1] != '{')
			strbuf_appendc(sb, ',');
		strbuf_appendc(sb, '"');
		strbuf_append(sb, raw[i].key, klen);
		strbuf_append(sb, "\":", 2);
		strbuf_append(sb, raw[i].json, raw[i].len);
	}
	strbuf_append(sb, "}\n", 2);
	return strbuf_detach(sb, len);
}

char *
reply_serialize(const json_t *reply, const struct reply_raw *raw,
    size_t nraw, size_t *len)
{
	struct strbuf	 sb = STRBUF_INIT;
	size_t		 i;

	assert(json_is_object(reply));
	for (i = 0; i < nraw; i++)
		assert(json_object_get(reply, raw[i].key) == NULL);
	if (json_object_size(reply) == 2 &&
	    json_object_get(reply, "ok") == json_true()) {
		reply_ok_begin(&sb, json_object_get(reply, "id"));
	} else {
		if (json_dump_callback(reply, reply_dump_cb, &sb,
		    JSON_COMPACT) == -1)
			abort();
		assert(sb.len >= 2 && sb.data[sb.len - 1] == '}');
		sb.len--;
	}
	return reply_finish(&sb, raw, nraw, len);
}

char *
reply_ok_serialize(const json_t *id, const struct reply_raw *raw,
    size_t nraw, size_t *len)
{
	struct strbuf	 sb = STRBUF_INIT;
	size_t		 i, need = 64;

	/* One allocation: the head, then each member and its key. */
	for (i = 0; i < nraw; i++)
		need += strlen(raw[i].key) + raw[i].len + 6;
	strbuf_reserve(&sb, need);
	reply_ok_begin(&sb, id);
	return reply_finish(&sb, raw, nraw, len);
}

bool
proto_json_plain(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == '\\')
			return false;
	}
	return true;
}

void
proto_json_append(struct strbuf *sb, const json_t *value)
{
	if (json_dump_callback(value, reply_dump_cb, sb,
	    JSON_COMPACT | JSON_ENCODE_ANY) == -1)
		abort();
}

void
proto_json_append_string(struct strbuf *sb, const char *s, size_t len)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const char		*short_esc;
	char			 esc[7];
	size_t			 i, run = 0;
	unsigned char		 c;

	strbuf_reserve(sb, len + 2);
	strbuf_appendc(sb, '"');
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		strbuf_append(sb, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':	short_esc = "\\\""; break;
		case '\\':	short_esc = "\\\\"; break;
		case '\b':	short_esc = "\\b"; break;
		case '\f':	short_esc = "\\f"; break;
		case '\n':	short_esc = "\\n"; break;
		case '\r':	short_esc = "\\r"; break;
		case '\t':	short_esc = "\\t"; break;
		default:	short_esc = NULL; break;
		}
		if (short_esc != NULL) {
			strbuf_append(sb, short_esc, 2);
			continue;
		}
		memcpy(esc, "\\u00", 4);
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 0xf];
		strbuf_append(sb, esc, 6);
	}
	strbuf_append(sb, s + run, len - run);
	strbuf_appendc(sb, '"');
}

char *
proto_json_dump(const json_t *value, size_t *len)
{
	struct strbuf	 sb = STRBUF_INIT;

	proto_json_append(&sb, value);
	return strbuf_detach(&sb, len);
}
