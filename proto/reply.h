/*
 * Replies: {"id": <id or null>, "ok": true, ...} or
 * {"id": ..., "ok": false, "error": {"code": "...", "message": "...", ...}}.
 *
 * Replies are built as jansson objects.  Channel values travel as already
 * serialized JSON text, so they are spliced in as raw members when the
 * reply is serialized instead of being parsed again.
 */
#ifndef JQ_REPLY_H
#define JQ_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "errcode.h"

struct strbuf;

/* A member whose value is JSON text that is already valid and compact. */
struct reply_raw {
	const char	*key;
	const char	*json;
	size_t		 len;
};

/* {"id": id, "ok": true}.  id may be NULL (-> null).  New reference. */
json_t	*reply_ok(json_t *id);

/* {"id": id, "ok": false, "error": {"code", "message"}}.  New reference. */
json_t	*reply_error(json_t *id, enum errcode code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* Add a detail to the "error" object of an error reply (steals value). */
void	 reply_error_detail(json_t *reply, const char *key, json_t *value);

/*
 * Serialize reply compactly, then raw members in order, then "\n".  Returns
 * a malloc'd buffer the caller frees, with its length in *len.  Aborts on
 * OOM.
 */
char	*reply_serialize(const json_t *reply, const struct reply_raw *raw,
	    size_t nraw, size_t *len);

/*
 * reply_serialize() of reply_ok(id) and its raw members, without making
 * the reply object: what most replies are.
 */
char	*reply_ok_serialize(const json_t *id, const struct reply_raw *raw,
	    size_t nraw, size_t *len);

/*
 * True if the JSON string of these len bytes (valid UTF-8) is the bytes
 * themselves in quotes, as proto_json_dump() writes it: none is a quote, a
 * backslash or a control character, the only bytes it escapes.
 */
bool	 proto_json_plain(const char *s, size_t len);

/*
 * The start of an ok reply, {"id":<id>,"ok":true without the closing brace,
 * appended to sb, as reply_serialize() writes it: a reply written in
 * pieces goes on with ",<member>..." and ends with "}\n".
 */
void	 reply_ok_begin(struct strbuf *sb, const json_t *id);

/* Append value, serialized compactly (no newline), to sb. */
void	 proto_json_append(struct strbuf *sb, const json_t *value);

/*
 * Append the JSON string of s (len bytes of valid UTF-8) to sb, escaped
 * byte for byte as proto_json_dump() escapes it (\", \\, \b \f \n \r \t,
 * \u00XX for other control characters), without a tree: for long text.
 */
void	 proto_json_append_string(struct strbuf *sb, const char *s,
	    size_t len);

/* Serialize any JSON value compactly (no newline).  Caller frees. */
char	*proto_json_dump(const json_t *value, size_t *len);

#endif
