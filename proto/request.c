/*
 * Requests: one frame parsed into a JSON object, and typed field getters.
 *
 * request_parse() checks only what every request needs: a JSON object with
 * a scalar "id" (echoed in the reply) and a string "op".  Everything else
 * is read by the op's handler through the getters below, whose failures
 * carry a bad_request message naming the field and what it must be; the
 * handler sends that message back as is.  Getters never modify the request
 * and hand out borrowed pointers valid until request_fini().
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
#include <string.h>

#include "request.h"

/* SPEC: timeouts are integers up to 2^53 - 1, exact in every JSON client. */
#define TIMEOUT_MS_MAX	INT64_C(9007199254740991)

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

int
request_parse(struct request *req, const char *line, size_t len,
    struct proto_error *err)
{
	json_error_t	 jerr;
	json_t		*id;
	const char	*op;

	memset(req, 0, sizeof(*req));
	/*
	 * JSON_DECODE_ANY lets a scalar frame parse, so that "42" is
	 * reported as "not a JSON object" rather than as a syntax error.
	 */
	req->root = json_loadb(line, len, JSON_ALLOW_NUL | JSON_DECODE_ANY,
	    &jerr);
	if (req->root == NULL) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "frame is not valid JSON: %s at column %d", jerr.text,
		    jerr.column);
		return (-1);
	}
	if (!json_is_object(req->root)) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "frame is not a JSON object");
		return (-1);
	}
	if ((id = json_object_get(req->root, "id")) != NULL) {
		if (json_is_array(id) || json_is_object(id)) {
			proto_error_set(err, ERRCODE_BAD_REQUEST,
			    "field 'id' must be a scalar "
			    "(string, number, boolean or null)");
			return (-1);
		}
		req->id = id;
	}
	if (request_need_string(req, "op", &op, err) == -1)
		return (-1);
	req->op = op;
	return (0);
}

void
request_fini(struct request *req)
{
	json_decref(req->root);
	memset(req, 0, sizeof(*req));
}

json_t *
request_field(const struct request *req, const char *field)
{
	assert(json_is_object(req->root));
	return (json_object_get(req->root, field));
}

/* The field, or NULL when it is absent or JSON null. */
static json_t *
request_field_nonnull(const struct request *req, const char *field)
{
	json_t	*v = request_field(req, field);

	return (json_is_null(v) ? NULL : v);
}

int
request_get_string(const struct request *req, const char *field,
    const char **out, struct proto_error *err)
{
	json_t		*v;
	const char	*s;

	if ((v = request_field_nonnull(req, field)) == NULL)
		return (1);
	if (!json_is_string(v)) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' must be a string", field);
		return (-1);
	}
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v)) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' must be a string without NUL bytes", field);
		return (-1);
	}
	*out = s;
	return (0);
}

int
request_need_string(const struct request *req, const char *field,
    const char **out, struct proto_error *err)
{
	int	 rc;

	if ((rc = request_get_string(req, field, out, err)) == 1) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' is required", field);
		return (-1);
	}
	return (rc);
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
	json_t		*v;
	json_int_t	 n;

	assert(min <= max);
	if ((v = request_field_nonnull(req, field)) == NULL)
		return (1);
	/* A real such as 1.0 is refused: the field's type is integer. */
	if (!json_is_integer(v) || (n = json_integer_value(v)) < min ||
	    n > max) {
		request_int_error(err, field, min, max);
		return (-1);
	}
	*out = n;
	return (0);
}

int
request_need_int(const struct request *req, const char *field, int64_t min,
    int64_t max, int64_t *out, struct proto_error *err)
{
	int	 rc;

	if ((rc = request_get_int(req, field, min, max, out, err)) == 1) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' is required", field);
		return (-1);
	}
	return (rc);
}

int
request_get_bool(const struct request *req, const char *field, bool *out,
    struct proto_error *err)
{
	json_t	*v;

	if ((v = request_field_nonnull(req, field)) == NULL)
		return (1);
	/* Only true and false: 0, 1 and "true" are other types. */
	if (!json_is_boolean(v)) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' must be a boolean (true or false)", field);
		return (-1);
	}
	*out = json_is_true(v);
	return (0);
}

int
request_get_timeout(const struct request *req, const char *field,
    int64_t *out_ms, struct proto_error *err)
{
	json_t		*v;
	json_int_t	 n;

	if ((v = request_field_nonnull(req, field)) == NULL) {
		*out_ms = -1;
		return (0);
	}
	if (!json_is_integer(v) || (n = json_integer_value(v)) < 0 ||
	    n > TIMEOUT_MS_MAX) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' must be null or an integer in [0, %" PRId64 "]",
		    field, TIMEOUT_MS_MAX);
		return (-1);
	}
	*out_ms = n;
	return (0);
}

int
request_need_chan(const struct request *req, const char *field,
    const char **out, struct proto_error *err)
{
	const char	*name;

	if (request_need_string(req, field, &name, err) == -1)
		return (-1);
	if (!proto_chan_name_valid(name, strlen(name))) {
		proto_error_set(err, ERRCODE_BAD_REQUEST,
		    "field '%s' must be 1-%d bytes of [A-Za-z0-9._:-]", field,
		    CHAN_NAME_MAX);
		return (-1);
	}
	*out = name;
	return (0);
}

bool
proto_chan_name_valid(const char *name, size_t len)
{
	size_t	 i;
	char	 c;

	if (len < 1 || len > CHAN_NAME_MAX)
		return (false);
	for (i = 0; i < len; i++) {
		/* Spelled out: isalnum() would follow the locale. */
		c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == ':' || c == '-'))
			return (false);
	}
	return (true);
}
