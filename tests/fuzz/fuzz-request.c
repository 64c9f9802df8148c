/*
 * Fuzz target: request parsing and reply building (proto/request.c,
 * proto/reply.c, proto/errcode.c).
 *
 * The input is one frame.  After request_parse(), every getter runs on a
 * fixed set of field names, and its result must follow the convention of
 * request.h (0: *out set and valid; 1: absent or null, *out untouched; -1:
 * bad_request naming the field), and no getter may change the request.
 * Then replies are built from what the frame held: an error reply echoing
 * the id with the input as its message (cut and repaired to UTF-8 as
 * reply.c does), and an ok reply carrying the frame's "value" and "values"
 * as raw members.  Each must serialize to one line, end in '\n', contain
 * no raw control byte, parse back as JSON with "id" then "ok" first, and
 * give back the id and values it was built from.  Whichever of request.c's
 * two readers took the frame, the request must be what jansson alone makes
 * of it (check_like_jansson), and a field's text (request_text) must read
 * as that field.
 */
#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "errcode.h"
#include "fuzz.h"
#include "reply.h"
#include "request.h"

#define NCODES		(ERRCODE_INTERNAL + 1)
/* reply.c cuts messages to this many bytes, less the NUL. */
#define MESSAGE_MAX	511
#define SENTINEL_INT	INT64_C(0x5a5a5a5a5a5a5a5a)

static const char *const fields[] = {
	"id", "op", "chan", "value", "values", "cap", "max", "timeout_ms",
	"lease", "lease_ms", "token", "prefix", "cases", "job", "jobs",
	"group", "state", "limit", "before", "argv", "x", "",
};

static const struct {
	int64_t	 min, max;
} ranges[] = {
	{ INT64_MIN, INT64_MAX },
	{ 0, INT64_MAX },
	{ 1, 2147483647 },
	{ INT64_MIN, 0 },
	{ -5, 5 },
	{ 7, 7 },
};

static const char	 sentinel_str[] = "untouched";

/* A -1 from a getter: bad_request, and the message names the field. */
static void
check_error(const struct proto_error *err, const char *field)
{
	char	 quoted[64];

	FUZZ_CHECK(err->code == ERRCODE_BAD_REQUEST);
	FUZZ_CHECK(memchr(err->message, '\0', sizeof(err->message)) != NULL);
	snprintf(quoted, sizeof(quoted), "'%s'", field);
	FUZZ_CHECK(strstr(err->message, quoted) != NULL);
}

static bool
absent(const json_t *v)
{
	return v == NULL || json_is_null(v);
}

static void
check_string_getters(const struct request *req, const char *f,
    const json_t *v)
{
	struct proto_error	 err;
	const char		*s = sentinel_str;
	int			 rc, rc2;
	size_t			 i, n;

	rc = request_get_string(req, f, &s, &err);
	if (rc == 1) {
		FUZZ_CHECK(absent(v) && s == sentinel_str);
	} else if (rc == 0) {
		FUZZ_CHECK(json_is_string(v) &&
		    strlen(s) == json_string_length(v) &&
		    memcmp(s, json_string_value(v), strlen(s)) == 0);
		FUZZ_CHECK(s == request_string(req, f));
	} else {
		FUZZ_CHECK(rc == -1 && !absent(v));
		check_error(&err, f);
	}

	s = sentinel_str;
	rc2 = request_need_string(req, f, &s, &err);
	FUZZ_CHECK(rc2 == (rc == 0 ? 0 : -1));
	if (rc2 == -1)
		check_error(&err, f);

	s = sentinel_str;
	rc2 = request_need_chan(req, f, &s, &err);
	if (rc2 == 0) {
		FUZZ_CHECK(rc == 0);
		n = strlen(s);
		FUZZ_CHECK(n >= 1 && n <= CHAN_NAME_MAX);
		for (i = 0; i < n; i++)
			FUZZ_CHECK(strchr("abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-", s[i])
			    != NULL);
	} else {
		FUZZ_CHECK(rc2 == -1);
		check_error(&err, f);
	}
}

static void
check_int_getters(const struct request *req, const char *f, const json_t *v)
{
	struct proto_error	 err;
	int64_t			 out, min, max;
	size_t			 i;
	int			 rc, rc2;

	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		min = ranges[i].min;
		max = ranges[i].max;
		out = SENTINEL_INT;
		rc = request_get_int(req, f, min, max, &out, &err);
		if (rc == 1)
			FUZZ_CHECK(absent(v) && out == SENTINEL_INT);
		else if (rc == 0) {
			FUZZ_CHECK(json_is_integer(v));
			FUZZ_CHECK(out == json_integer_value(v));
			FUZZ_CHECK(out >= min && out <= max);
		} else {
			FUZZ_CHECK(rc == -1 && !absent(v));
			FUZZ_CHECK(!json_is_integer(v) ||
			    json_integer_value(v) < min ||
			    json_integer_value(v) > max);
			check_error(&err, f);
		}
		rc2 = request_need_int(req, f, min, max, &out, &err);
		FUZZ_CHECK(rc2 == (rc == 0 ? 0 : -1));
		if (rc2 == -1)
			check_error(&err, f);
	}

	out = SENTINEL_INT;
	rc = request_get_timeout(req, f, &out, &err);
	if (rc == 0) {
		if (absent(v))
			FUZZ_CHECK(out == -1);
		else
			FUZZ_CHECK(json_is_integer(v) &&
			    out == json_integer_value(v) && out >= 0 &&
			    out <= INT64_C(9007199254740991));
	} else {
		FUZZ_CHECK(rc == -1 && !absent(v));
		check_error(&err, f);
	}
}

static void
check_bool_getter(const struct request *req, const char *f, const json_t *v)
{
	struct proto_error	 err;
	bool			 b = false, b2 = true;
	int			 rc, rc2;

	/* Two runs with opposite starting values show *out untouched. */
	rc = request_get_bool(req, f, &b, &err);
	rc2 = request_get_bool(req, f, &b2, &err);
	FUZZ_CHECK(rc == rc2);
	if (rc == 1)
		FUZZ_CHECK(absent(v) && !b && b2);
	else if (rc == 0)
		FUZZ_CHECK(json_is_boolean(v) && b == json_is_true(v) &&
		    b2 == b);
	else {
		FUZZ_CHECK(rc == -1 && !absent(v) && !json_is_boolean(v));
		check_error(&err, f);
	}
}

/* One serialized reply: one line, '\n' last, JSON, "id" then "ok". */
static json_t *
check_serialized(const char *text, size_t len, const json_t *id)
{
	json_error_t	 jerr;
	json_t		*reply, *got;
	void		*it;
	size_t		 i;

	FUZZ_CHECK(len >= 2 && text[len - 1] == '\n');
	for (i = 0; i < len - 1; i++)
		FUZZ_CHECK((unsigned char)text[i] >= 0x20);
	FUZZ_CHECK(strncmp(text, "{\"id\":", 6) == 0);
	/* The id may be a string holding "\u0000". */
	reply = json_loadb(text, len - 1, JSON_ALLOW_NUL, &jerr);
	if (reply == NULL) {
		fprintf(stderr, "reply is not JSON (%s): %.*s", jerr.text,
		    (int)len, text);
		abort();
	}
	FUZZ_CHECK(json_is_object(reply));
	it = json_object_iter(reply);
	FUZZ_CHECK(it != NULL && strcmp(json_object_iter_key(it), "id") == 0);
	it = json_object_iter_next(reply, it);
	FUZZ_CHECK(it != NULL && strcmp(json_object_iter_key(it), "ok") == 0);
	FUZZ_CHECK(json_is_boolean(json_object_iter_value(it)));
	got = json_object_get(reply, "id");
	if (id == NULL)
		FUZZ_CHECK(json_is_null(got));
	else
		FUZZ_CHECK(json_equal(got, (json_t *)id));
	return reply;
}

static void
check_error_reply(const struct request *req, const uint8_t *data,
    size_t size)
{
	enum errcode	 code;
	char		 msg[MESSAGE_MAX + 64];
	const char	*got;
	size_t		 n, i, len;
	json_t		*r, *error, *parsed;
	char		*text;

	code = (enum errcode)(size > 0 ? data[0] % NCODES : 0);
	/* The input as the message: any bytes, often cut mid-character. */
	n = size < sizeof(msg) - 1 ? size : sizeof(msg) - 1;
	memcpy(msg, data, n);
	msg[n] = '\0';
	n = strlen(msg);

	r = reply_error(req->id, code, "%s", msg);
	reply_error_detail(r, "index", json_integer(3));
	text = reply_serialize(r, NULL, 0, &len);
	parsed = check_serialized(text, len, req->id);
	FUZZ_CHECK(json_is_false(json_object_get(parsed, "ok")));
	error = json_object_get(parsed, "error");
	FUZZ_CHECK(json_is_object(error));
	FUZZ_CHECK(json_is_string(json_object_get(error, "code")));
	FUZZ_CHECK(strcmp(json_string_value(json_object_get(error, "code")),
	    errcode_name(code)) == 0);
	FUZZ_CHECK(json_integer_value(json_object_get(error, "index")) == 3);
	/* The message is the input, cut, with bad bytes turned into '?'. */
	got = json_string_value(json_object_get(error, "message"));
	FUZZ_CHECK(got != NULL);
	FUZZ_CHECK(strlen(got) == (n < MESSAGE_MAX ? n : MESSAGE_MAX));
	for (i = 0; got[i] != '\0'; i++)
		FUZZ_CHECK(got[i] == msg[i] || got[i] == '?');
	json_decref(parsed);
	json_decref(r);
	free(text);
}

static void
check_ok_reply(const struct request *req)
{
	static const char *const keys[] = { "value", "values" };
	struct reply_raw	 raw[2];
	char			*dumped[2], *text;
	size_t			 nraw = 0, len, i;
	json_t			*v, *r, *parsed;

	for (i = 0; i < 2; i++) {
		if ((v = request_field(req, keys[i])) == NULL)
			continue;
		dumped[nraw] = proto_json_dump(v, &len);
		FUZZ_CHECK(len > 0 && strlen(dumped[nraw]) == len);
		raw[nraw].key = keys[i];
		raw[nraw].json = dumped[nraw];
		raw[nraw].len = len;
		nraw++;
	}
	r = reply_ok(req->id);
	text = reply_serialize(r, raw, nraw, &len);
	parsed = check_serialized(text, len, req->id);
	FUZZ_CHECK(json_is_true(json_object_get(parsed, "ok")));
	FUZZ_CHECK(json_object_size(parsed) == 2 + nraw);
	for (i = 0; i < nraw; i++)
		FUZZ_CHECK(json_equal(json_object_get(parsed, raw[i].key),
		    request_field(req, raw[i].key)));
	for (i = 0; i < nraw; i++)
		free(dumped[i]);
	json_decref(parsed);
	json_decref(r);
	free(text);
}

static void
check_errcodes(void)
{
	enum errcode	 code;
	int		 i;

	for (i = 0; i < NCODES; i++) {
		FUZZ_CHECK(errcode_parse(errcode_name((enum errcode)i),
		    &code) == 0);
		FUZZ_CHECK(code == (enum errcode)i);
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	check_errcodes();
	return 0;
}

/*
 * request.c has two readers: its scanner for flat objects, and jansson for
 * everything else.  Whichever read the frame, the request must be what
 * jansson alone makes of it: refused exactly when jansson refuses it (or
 * its id or op are wrong), and the same fields when accepted.
 */
static void
check_like_jansson(struct request *req, int rc, const uint8_t *data,
    size_t size)
{
	json_error_t	 jerr;
	json_t		*ref, *id, *op, *v, *t;
	const char	*plain, *text;
	size_t		 i, len;

	ref = json_loadb((const char *)data, size, JSON_ALLOW_NUL |
	    JSON_DECODE_ANY, &jerr);
	if (ref == NULL || !json_is_object(ref)) {
		FUZZ_CHECK(rc == -1 && req->scan == NULL);
		json_decref(ref);
		return;
	}
	id = json_object_get(ref, "id");
	op = json_object_get(ref, "op");
	if (json_is_array(id) || json_is_object(id) || !json_is_string(op) ||
	    strlen(json_string_value(op)) != json_string_length(op)) {
		FUZZ_CHECK(rc == -1);
	} else {
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(json_equal(request_root(req), ref));
	}
	if (json_is_array(id) || json_is_object(id))
		FUZZ_CHECK(req->id == NULL);
	else
		FUZZ_CHECK(req->id == NULL ? id == NULL :
		    json_equal(req->id, id));
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		v = json_object_get(ref, fields[i]);
		FUZZ_CHECK(v == NULL ? request_field(req, fields[i]) == NULL :
		    json_equal(request_field(req, fields[i]), v));
		FUZZ_CHECK(request_has(req, fields[i]) ==
		    (v != NULL && !json_is_null(v)));
		if (request_plain_string(req, fields[i], &plain, &len)) {
			FUZZ_CHECK(json_is_string(v) &&
			    len == json_string_length(v) &&
			    memcmp(plain, json_string_value(v), len) == 0 &&
			    plain[len] == '\0' &&
			    proto_json_plain(plain, len));
		} else {
			FUZZ_CHECK(!json_is_string(v) || !proto_json_plain(
			    json_string_value(v), json_string_length(v)));
		}
		/* The field's text is there, and reads as the field. */
		if (request_text(req, fields[i], &text, &len)) {
			t = json_loadb(text, len, JSON_DECODE_ANY |
			    JSON_ALLOW_NUL, NULL);
			FUZZ_CHECK(v != NULL && t != NULL && json_equal(t, v));
			json_decref(t);
		} else
			FUZZ_CHECK(v == NULL || (json_is_string(v) &&
			    req->scan != NULL));
	}
	json_decref(ref);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request		 req;
	struct proto_error	 err;
	char			*before, *after;
	size_t			 i, blen, alen;
	json_t			*v;
	int			 rc;

	rc = request_parse(&req, (const char *)data, size, &err);
	if (rc == -1) {
		FUZZ_CHECK(err.code == ERRCODE_BAD_REQUEST);
		FUZZ_CHECK(req.op == NULL);
	} else {
		FUZZ_CHECK(rc == 0 && (req.scan != NULL ||
		    json_is_object(req.root)));
		FUZZ_CHECK(req.op != NULL &&
		    req.op == request_string(&req, "op"));
	}
	if (req.id != NULL)
		FUZZ_CHECK(!json_is_object(req.id) && !json_is_array(req.id) &&
		    req.id == request_field(&req, "id"));

	if (rc == 0) {
		before = proto_json_dump(request_root(&req), &blen);
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			v = request_field(&req, fields[i]);
			check_string_getters(&req, fields[i], v);
			check_int_getters(&req, fields[i], v);
			check_bool_getter(&req, fields[i], v);
		}
		after = proto_json_dump(request_root(&req), &alen);
		FUZZ_CHECK(blen == alen && memcmp(before, after, blen) == 0);
		free(before);
		free(after);
		check_ok_reply(&req);
	}
	check_like_jansson(&req, rc, data, size);
	check_error_reply(&req, data, size);
	request_fini(&req);
	return 0;
}
