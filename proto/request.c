/*
 * Requests: one frame, read into its fields, and typed field getters.
 *
 * Two readers produce the same request.  The scanner below reads the frames
 * a busy server sees most -- one flat object whose members are strings
 * without escapes, integers, true, false or null -- in one pass, into a
 * table of fields held in a single allocation, with no JSON tree: on a
 * pipelined load, building jansson's tree for every request (an object,
 * its hash table, and a string buffer and a copy per key and string) was
 * over a third of the server's CPU.  Anything else -- an escape, a real, a
 * nested array or object, a duplicate key, more than REQ_FIELDS_MAX
 * members, and every syntax error -- goes to jansson, which stays the one
 * authority on what is JSON and on every parse error message.  The scanner
 * accepts only frames that jansson accepts, and reads the same fields from
 * them (tests/fuzz/fuzz-request.c checks both, frame by frame).  A tree is
 * built from the table only when a handler asks for one (request_field() of
 * a field, request_root()).
 *
 * request_parse() checks only what every request needs: a JSON object with
 * a scalar "id" (echoed in the reply) and a string "op".  Everything else
 * is read by the op's handler through the getters below, whose failures
 * carry a bad_request message naming the field and what it must be; the
 * handler sends that message back as is.  Getters never change what the
 * request holds and hand out borrowed pointers valid until request_fini().
 *
 * Parsing accepts "\u0000" inside values (JSON_ALLOW_NUL), since channel
 * values are arbitrary JSON; string fields that must be text (op, channel
 * names, ...) reject NUL bytes in request_get_string().  jansson itself
 * rejects invalid UTF-8, lone surrogate escapes and integers beyond 64 bits,
 * and keeps the last of duplicate keys.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rawjson.h"
#include "reply.h"
#include "request.h"
#include "units.h"
#include "utf8.h"


/* Members the scanner reads; a request with more goes to jansson. */
#define REQ_FIELDS_MAX	16

enum req_kind {
	REQ_ABSENT,
	REQ_NULL,
	REQ_STRING,
	REQ_INT,
	REQ_BOOL,
	REQ_OTHER,	/* a real, an array or an object: only as json_t */
};

/* One member the scanner read; offsets are into the block's text. */
struct req_field {
	uint32_t	 key, keylen;
	uint32_t	 str, len;	/* REQ_STRING: NUL-terminated in text;
					   REQ_INT: its digits in text */
	int64_t		 n;		/* REQ_INT; REQ_BOOL: 0 or 1 */
	enum req_kind	 kind;
	json_t		*json;		/* made on demand; owned */
};

/* What the scanner read: one allocation, freed by request_fini(). */
struct req_scan {
	size_t		 nfields;
	char		*text;		/* a copy of the frame, strings cut */
	struct req_field f[];
};

/* A field as the getters see it, from either reader. */
struct req_view {
	enum req_kind	 kind;
	const char	*s;		/* REQ_STRING: NUL-terminated */
	size_t		 len;
	int64_t		 n;		/* REQ_INT; REQ_BOOL: 0 or 1 */
};

void
proto_error_set(struct proto_error *err, enum errcode code, const char *fmt,
    ...)
{
	va_list	 ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

static const char *
scan_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' ||
	    *p == '\n'))
		p++;
	return p;
}

/*
 * A string at p (past its opening quote) holding no escape and no control
 * byte: its closing quote, or NULL for anything else.  Bytes above 0x7f
 * must be valid UTF-8, as jansson requires.
 */
static const char *
scan_string(const char *p, const char *end)
{
	const char	*s = p;
	bool		 ascii = true;
	unsigned char	 c;

	for (; p < end; p++) {
		c = (unsigned char)*p;
		if (c == '"')
			break;
		if (c < 0x20 || c == '\\')
			return NULL;
		if (c >= 0x80)
			ascii = false;
	}
	if (p == end || (!ascii && !utf8_valid(s, (size_t)(p - s))))
		return NULL;
	return p;
}

/* An integer that fits in 64 bits (no fraction, no exponent), or NULL. */
static const char *
scan_int(const char *p, const char *end, int64_t *out)
{
	bool		 neg = *p == '-';
	uint64_t	 n = 0, limit;
	unsigned	 d;

	if (neg && ++p == end)
		return NULL;
	if (*p < '0' || *p > '9')
		return NULL;
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (*p == '0') {
		p++;
	} else {
		for (; p < end && *p >= '0' && *p <= '9'; p++) {
			d = (unsigned)(*p - '0');
			if (n > (limit - d) / 10)
				return NULL;
			n = n * 10 + d;
		}
	}
	/* "01", "1.5" and "1e3" are jansson's to accept or refuse. */
	if (p < end && (*p == '.' || *p == 'e' || *p == 'E' ||
	    (*p >= '0' && *p <= '9')))
		return NULL;
	*out = neg ? (int64_t)(0 - n) : (int64_t)n;
	return p;
}

static const char *
scan_word(const char *p, const char *end, const char *word, size_t len)
{
	if ((size_t)(end - p) < len || memcmp(p, word, len) != 0)
		return NULL;
	return p + len;
}

/*
 * Read line as one flat object into a new req_scan, or return NULL when
 * it is not one the scanner reads (jansson will).
 */
static struct req_scan *
scan_request(const char *line, size_t len)
{
	struct req_field	 f[REQ_FIELDS_MAX];
	const char		*p = line, *end = line + len, *q;
	struct req_scan		*scan;
	size_t			 n = 0, i;

	if (len > UINT32_MAX)
		return NULL;
	p = scan_ws(p, end);
	if (p == end || *p++ != '{' || (p = scan_ws(p, end)) == end)
		return NULL;
	while (*p != '}') {
		if (n == REQ_FIELDS_MAX || *p++ != '"' ||
		    (q = scan_string(p, end)) == NULL)
			return NULL;
		memset(&f[n], 0, sizeof(f[n]));
		f[n].key = (uint32_t)(p - line);
		f[n].keylen = (uint32_t)(q - p);
		for (i = 0; i < n; i++) {
			if (f[i].keylen == f[n].keylen && memcmp(line +
			    f[i].key, p, f[n].keylen) == 0)
				return NULL;
		}
		p = scan_ws(q + 1, end);
		if (p == end || *p++ != ':' || (p = scan_ws(p, end)) == end)
			return NULL;
		switch (*p) {
		case '"':
			if ((q = scan_string(p + 1, end)) == NULL)
				return NULL;
			f[n].kind = REQ_STRING;
			f[n].str = (uint32_t)(p + 1 - line);
			f[n].len = (uint32_t)(q - p - 1);
			p = q + 1;
			break;
		case 't':
			f[n].kind = REQ_BOOL;
			f[n].n = 1;
			p = scan_word(p, end, "true", 4);
			break;
		case 'f':
			f[n].kind = REQ_BOOL;
			f[n].n = 0;
			p = scan_word(p, end, "false", 5);
			break;
		case 'n':
			f[n].kind = REQ_NULL;
			p = scan_word(p, end, "null", 4);
			break;
		default:
			f[n].kind = REQ_INT;
			f[n].str = (uint32_t)(p - line);
			if ((q = scan_int(p, end, &f[n].n)) != NULL)
				f[n].len = (uint32_t)(q - p);
			p = q;
			break;
		}
		n++;
		/* After a member: '}', or ',' and the next member's key. */
		if (p == NULL || (p = scan_ws(p, end)) == end)
			return NULL;
		if (*p == '}')
			break;
		if (*p != ',' || (p = scan_ws(p + 1, end)) == end ||
		    *p != '"')
			return NULL;
	}
	p++;
	if (scan_ws(p, end) != end)
		return NULL;

	if ((scan = malloc(sizeof(*scan) + n * sizeof(f[0]) + len + 1)) ==
	    NULL)
		abort();
	scan->nfields = n;
	scan->text = (char *)&scan->f[n];
	memcpy(scan->f, f, n * sizeof(f[0]));
	memcpy(scan->text, line, len);
	scan->text[len] = '\0';
	for (i = 0; i < n; i++) {
		scan->text[f[i].key + f[i].keylen] = '\0';
		if (f[i].kind == REQ_STRING)
			scan->text[f[i].str + f[i].len] = '\0';
	}
	return scan;
}

static struct req_field *
scan_find(const struct req_scan *scan, const char *field)
{
	size_t	 i, len = strlen(field);

	for (i = 0; i < scan->nfields; i++) {
		if (scan->f[i].keylen == len && memcmp(scan->text +
		    scan->f[i].key, field, len) == 0)
			return (struct req_field *)&scan->f[i];
	}
	return NULL;
}

/* The field's value as jansson would have read it.  New reference. */
static json_t *
scan_json(const struct req_scan *scan, const struct req_field *f)
{
	json_t	*v = NULL;

	switch (f->kind) {
	case REQ_STRING:
		v = json_stringn_nocheck(scan->text + f->str, f->len);
		break;
	case REQ_INT:
		v = json_integer(f->n);
		break;
	case REQ_BOOL:
		v = json_boolean(f->n);
		break;
	case REQ_NULL:
		v = json_null();
		break;
	case REQ_ABSENT:
	case REQ_OTHER:
		break;
	}
	if (v == NULL)
		abort();
	return v;
}

static void
request_view(const struct request *req, const char *field,
    struct req_view *out)
{
	const struct req_field	*f;
	json_t			*v;

	memset(out, 0, sizeof(*out));
	if (req->scan != NULL) {
		if ((f = scan_find(req->scan, field)) == NULL)
			return;
		out->kind = f->kind;
		out->n = f->n;
		out->s = req->scan->text + f->str;
		out->len = f->len;
		return;
	}
	if ((v = json_object_get(req->root, field)) == NULL)
		return;
	switch (json_typeof(v)) {
	case JSON_NULL:
		out->kind = REQ_NULL;
		break;
	case JSON_STRING:
		out->kind = REQ_STRING;
		out->s = json_string_value(v);
		out->len = json_string_length(v);
		break;
	case JSON_INTEGER:
		out->kind = REQ_INT;
		out->n = json_integer_value(v);
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		out->kind = REQ_BOOL;
		out->n = json_is_true(v);
		break;
	default:
		out->kind = REQ_OTHER;
		break;
	}
}

int
request_parse(struct request *req, const char *line, size_t len,
    struct proto_error *err)
{
	json_error_t	 jerr;
	json_t		*id;
	const char	*op;

	memset(req, 0, sizeof(*req));
	if ((req->scan = scan_request(line, len)) != NULL) {
		id = request_field(req, "id");
		goto parsed;
	}
	/*
	 * JSON_DECODE_ANY lets a scalar frame parse, so that "42" is
	 * reported as "not a JSON object" rather than as a syntax error.
	 */
	req->root = json_loadb(line, len, JSON_ALLOW_NUL | JSON_DECODE_ANY,
	    &jerr);
	if (req->root != NULL && json_is_object(req->root)) {
		/* Kept for request_text(): line is gone after dispatch. */
		if ((req->text = malloc(len + 1)) == NULL)
			abort();
		memcpy(req->text, line, len);
		req->text[len] = '\0';
		req->textlen = len;
	}
	if (req->root == NULL) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "frame is not valid JSON: %s at column %d", jerr.text,
		    jerr.column);
		return -1;
	}
	if (!json_is_object(req->root)) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "frame is not a JSON object");
		return -1;
	}
	id = json_object_get(req->root, "id");
parsed:
	if (id != NULL) {
		if (json_is_array(id) || json_is_object(id)) {
			proto_error_set(err, ERRCODE_BAD_REQUEST,
			    "field 'id' must be a scalar "
			    "(string, number, boolean or null)");
			return -1;
		}
		req->id = id;
	}
	if (request_need_string(req, "op", &op, err) == -1)
		return -1;
	req->op = op;
	return 0;
}

void
request_fini(struct request *req)
{
	size_t	 i;

	if (req->scan != NULL) {
		for (i = 0; i < req->scan->nfields; i++)
			json_decref(req->scan->f[i].json);
		free(req->scan);
	}
	json_decref(req->root);
	free(req->text);
	memset(req, 0, sizeof(*req));
}

json_t *
request_field(const struct request *req, const char *field)
{
	struct req_field	*f;

	if (req->scan == NULL) {
		assert(json_is_object(req->root));
		return json_object_get(req->root, field);
	}
	if ((f = scan_find(req->scan, field)) == NULL)
		return NULL;
	if (f->json == NULL)
		f->json = scan_json(req->scan, f);
	return f->json;
}

json_t *
request_root(struct request *req)
{
	const struct req_field	*f;
	size_t			 i;

	if (req->root != NULL)
		return req->root;
	assert(req->scan != NULL);
	if ((req->root = json_object()) == NULL)
		abort();
	for (i = 0; i < req->scan->nfields; i++) {
		f = &req->scan->f[i];
		if (json_object_set_new_nocheck(req->root, req->scan->text +
		    f->key, json_incref(request_field(req,
		    req->scan->text + f->key))) == -1)
			abort();
	}
	return req->root;
}

bool
request_has(const struct request *req, const char *field)
{
	struct req_view	 v;

	request_view(req, field, &v);
	return v.kind != REQ_ABSENT && v.kind != REQ_NULL;
}

const char *
request_string(const struct request *req, const char *field)
{
	struct req_view	 v;

	request_view(req, field, &v);
	return v.kind == REQ_STRING ? v.s : NULL;
}

int64_t
request_int(const struct request *req, const char *field, int64_t dflt)
{
	struct req_view	 v;

	request_view(req, field, &v);
	return v.kind == REQ_INT ? v.n : dflt;
}

bool
request_plain_string(const struct request *req, const char *field,
    const char **out, size_t *len)
{
	struct req_view	 v;

	request_view(req, field, &v);
	if (v.kind != REQ_STRING)
		return false;
	/* The scanner's strings had no escapes; jansson's may need some. */
	if (req->scan == NULL && !proto_json_plain(v.s, v.len))
		return false;
	*out = v.s;
	*len = v.len;
	return true;
}

bool
request_text(const struct request *req, const char *field,
    const char **out, size_t *len)
{
	struct rawjson_span	 span;
	const struct req_field	*f;

	if (req->scan == NULL) {
		if (req->text == NULL || !rawjson_member(req->text,
		    req->textlen, field, strlen(field), &span))
			return false;
		*out = span.p;
		*len = span.len;
		return true;
	}
	if ((f = scan_find(req->scan, field)) == NULL)
		return false;
	switch (f->kind) {
	case REQ_INT:
		*out = req->scan->text + f->str;
		*len = f->len;
		return true;
	case REQ_BOOL:
		*out = f->n ? "true" : "false";
		*len = f->n ? 4 : 5;
		return true;
	case REQ_NULL:
		*out = "null";
		*len = 4;
		return true;
	default:
		return false;
	}
}

int
request_get_string(const struct request *req, const char *field,
    const char **out, struct proto_error *err)
{
	struct req_view	 v;

	request_view(req, field, &v);
	if (v.kind == REQ_ABSENT || v.kind == REQ_NULL)
		return 1;
	if (v.kind != REQ_STRING) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' must be a string", field);
		return -1;
	}
	if (strlen(v.s) != v.len) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' must be a string without NUL bytes", field);
		return -1;
	}
	*out = v.s;
	return 0;
}

int
request_need_string(const struct request *req, const char *field,
    const char **out, struct proto_error *err)
{
	int	 rc;

	if ((rc = request_get_string(req, field, out, err)) == 1) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' is required", field);
		return -1;
	}
	return rc;
}

/* "must be an integer in [0, 10]", or a one-sided or unbounded form. */
static void
request_int_error(struct proto_error *err, const char *field, int64_t min,
    int64_t max)
{
	if (min == INT64_MIN && max == INT64_MAX)
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' must be an integer", field);
	else if (max == INT64_MAX)
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' must be an integer >= %" PRId64, field, min);
	else if (min == INT64_MIN)
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' must be an integer <= %" PRId64, field, max);
	else
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' must be an integer in [%" PRId64 ", %" PRId64
		    "]", field, min, max);
}

int
request_get_int(const struct request *req, const char *field, int64_t min,
    int64_t max, int64_t *out, struct proto_error *err)
{
	struct req_view	 v;

	assert(min <= max);
	request_view(req, field, &v);
	if (v.kind == REQ_ABSENT || v.kind == REQ_NULL)
		return 1;
	/* A real such as 1.0 is refused: the field's type is integer. */
	if (v.kind != REQ_INT || v.n < min || v.n > max) {
		request_int_error(err, field, min, max);
		return -1;
	}
	*out = v.n;
	return 0;
}

int
request_need_int(const struct request *req, const char *field, int64_t min,
    int64_t max, int64_t *out, struct proto_error *err)
{
	int	 rc;

	if ((rc = request_get_int(req, field, min, max, out, err)) == 1) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' is required", field);
		return -1;
	}
	return rc;
}

int
request_get_bool(const struct request *req, const char *field, bool *out,
    struct proto_error *err)
{
	struct req_view	 v;

	request_view(req, field, &v);
	if (v.kind == REQ_ABSENT || v.kind == REQ_NULL)
		return 1;
	/* Only true and false: 0, 1 and "true" are other types. */
	if (v.kind != REQ_BOOL) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' must be a boolean (true or false)", field);
		return -1;
	}
	*out = v.n != 0;
	return 0;
}

int
request_get_timeout(const struct request *req, const char *field,
    int64_t *out_ms, struct proto_error *err)
{
	struct req_view	 v;

	request_view(req, field, &v);
	if (v.kind == REQ_ABSENT || v.kind == REQ_NULL) {
		*out_ms = -1;
		return 0;
	}
	if (v.kind != REQ_INT || v.n < 0 || v.n > PROTO_INT_MAX) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' must be null or an integer in [0, %" PRId64 "]",
		    field, PROTO_INT_MAX);
		return -1;
	}
	*out_ms = v.n;
	return 0;
}

int
request_need_chan(const struct request *req, const char *field,
    const char **out, struct proto_error *err)
{
	const char	*name;

	if (request_need_string(req, field, &name, err) == -1)
		return -1;
	if (!proto_chan_name_valid(name, strlen(name))) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' must be 1-%d bytes of [A-Za-z0-9._:-]", field,
		    CHAN_NAME_MAX);
		return -1;
	}
	*out = name;
	return 0;
}

bool
proto_chan_name_valid(const char *name, size_t len)
{
	size_t	 i;
	char	 c;

	if (len < 1 || len > CHAN_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		/* Spelled out: isalnum() would follow the locale. */
		c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == ':' || c == '-'))
			return false;
	}
	return true;
}
