/*
 * Requests: one frame parsed into a JSON object, with typed access to its
 * fields.  Every getter failure becomes a bad_request whose message names
 * the field and what it must be, e.g. "field 'cap' must be an integer >= 0".
 *
 * Getter convention: 0 when the field is present and valid (*out set);
 * 1 when it is absent or null (*out untouched) -- for optional fields;
 * -1 when it is present but invalid (err set).  The request_need_* forms
 * treat absent as an error ("field 'chan' is required") and return 0 or -1.
 */
#ifndef JQ_REQUEST_H
#define JQ_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "errcode.h"

#define CHAN_NAME_MAX	128

struct proto_error {
	enum errcode	 code;
	char		 message[256];
};

struct req_scan;

/*
 * A parsed frame, read by one of two readers (request.c): its fields are
 * for the getters below, and a JSON tree is made only when asked for.
 */
struct request {
	json_t		*root;	/* owned; see request_root() */
	struct req_scan	*scan;	/* owned; the scanner's fields, or NULL */
	char		*text;	/* owned; the frame when jansson read it */
	size_t		 textlen;
	json_t		*id;	/* borrowed; NULL when absent */
	const char	*op;	/* borrowed */
};

/* Fill err with code and a printf-style message. */
void	 proto_error_set(struct proto_error *err, enum errcode code,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Parse one frame.  Returns 0, or -1 with err set (bad_request: not JSON,
 * invalid UTF-8, a lone surrogate, not an object, "id" not a scalar, "op"
 * missing or not a string).  On -1, req->id is still set when the frame was
 * an object with a scalar id, so the error reply can carry it; the caller
 * calls request_fini() in both cases.  "\u0000" inside strings is allowed.
 */
int	 request_parse(struct request *req, const char *line, size_t len,
	    struct proto_error *err);
void	 request_fini(struct request *req);

/* The raw field, borrowed; NULL when absent.  JSON null is returned as is. */
json_t	*request_field(const struct request *req, const char *field);

/* The whole frame as a JSON object, borrowed (made on first use). */
json_t	*request_root(struct request *req);

/* True if the field is present and not null. */
bool	 request_has(const struct request *req, const char *field);

/*
 * Unchecked reads for fields a handler validated before (a call woken up
 * later, say): the string, or NULL when the field is not one; the
 * integer, or dflt.
 */
const char *request_string(const struct request *req, const char *field);
int64_t	 request_int(const struct request *req, const char *field,
	    int64_t dflt);

/*
 * True if the field is a string that JSON writes as its bytes in quotes
 * (no byte needs an escape); *out, len bytes and a NUL, is borrowed.
 * It lets a channel value be stored without a JSON tree.
 */
bool	 request_plain_string(const struct request *req, const char *field,
	    const char **out, size_t *len);

/*
 * The field's value as the frame wrote it (its JSON text, whitespace
 * inside included, none around), borrowed; false when absent.  This is
 * how a channel value keeps its digits and escapes (PROTOCOL.md 6).  A
 * string the fast reader took is false too: it held no escape, so its
 * text is request_plain_string()'s bytes in quotes.
 */
bool	 request_text(const struct request *req, const char *field,
	    const char **out, size_t *len);

/* A string without NUL bytes.  *out is borrowed from the request. */
int	 request_get_string(const struct request *req, const char *field,
	    const char **out, struct proto_error *err);
int	 request_need_string(const struct request *req, const char *field,
	    const char **out, struct proto_error *err);

/* An integer in [min, max] (a JSON integer; 1.0 is not an integer). */
int	 request_get_int(const struct request *req, const char *field,
	    int64_t min, int64_t max, int64_t *out, struct proto_error *err);
int	 request_need_int(const struct request *req, const char *field,
	    int64_t min, int64_t max, int64_t *out, struct proto_error *err);

int	 request_get_bool(const struct request *req, const char *field,
	    bool *out, struct proto_error *err);

/*
 * A timeout in milliseconds: absent or null -> *out_ms = -1 (wait forever),
 * 0 -> never wait, positive integer -> at most that long.  Anything else is
 * bad_request.  Returns 0 or -1 (never 1: absence has a meaning here).
 */
int	 request_get_timeout(const struct request *req, const char *field,
	    int64_t *out_ms, struct proto_error *err);

/*
 * A channel name: 1-128 bytes of [A-Za-z0-9._:-].  Same return convention
 * as request_need_string (required).
 */
int	 request_need_chan(const struct request *req, const char *field,
	    const char **out, struct proto_error *err);

/* True if name (len bytes) is a valid channel name. */
bool	 proto_chan_name_valid(const char *name, size_t len);

#endif
