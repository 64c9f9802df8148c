/*
 * Unit tests for proto/request.c: every bad_request that request_parse()
 * owns (SPEC sections 1 and 8), the echo of each kind of scalar id, and
 * every return path of the typed getters, timeouts and channel names.
 * Messages are compared exactly where they are ours, and by their stable
 * part where they quote jansson.  Both of request.c's readers are covered:
 * test_scanner() compares them frame by frame.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"
#include "request.h"
#include "tap.h"

#define CAP_MAX		INT64_C(2147483647)
#define TIMEOUT_MAX	INT64_C(9007199254740991)

/* Parse a line that must be a valid request; the test stops if not. */
static void
parse(struct request *req, const char *line)
{
	struct proto_error	 err;

	if (!ok(request_parse(req, line, strlen(line), &err) == 0,
	    "parses: %s", line)) {
		printf("#   %s\n", err.message);
		exit(1);
	}
}

/* A parse failure whose message starts with prefix and contains part. */
static void
parse_fails(const char *line, size_t len, const char *prefix,
    const char *part, const char *name)
{
	struct request		 req;
	struct proto_error	 err;
	int			 rc;

	memset(&err, 0, sizeof(err));
	rc = request_parse(&req, line, len, &err);
	if (!ok(rc == -1 && err.code == ERRCODE_BAD_REQUEST &&
	    strncmp(err.message, prefix, strlen(prefix)) == 0 &&
	    (part == NULL || strstr(err.message, part) != NULL), "%s", name))
		printf("#   rc %d, message '%s'\n", rc, err.message);
	request_fini(&req);
}

#define FAILS(line, prefix, part, name)					\
	parse_fails(line, sizeof(line) - 1, prefix, part, name)

static const char *NOT_JSON = "frame is not valid JSON: ";
static const char *NOT_OBJECT = "frame is not a JSON object";

static void
test_parse_errors(void)
{
	FAILS("", NOT_JSON, " at column 0", "empty frame");
	FAILS("not json", NOT_JSON, "invalid token near 'not' at column 3",
	    "not JSON");
	FAILS("{\"op\":\"ping\"", NOT_JSON, " at column ", "unterminated");
	FAILS("{\"op\":\"ping\",}", NOT_JSON, NULL, "trailing comma");
	FAILS("{\"op\":\"ping\"} x", NOT_JSON, "end of file expected",
	    "trailing garbage");
	FAILS("{\"op\":\"ping\"}{\"op\":\"ping\"}", NOT_JSON, NULL,
	    "two objects on one line");
	FAILS("{'op':'ping'}", NOT_JSON, NULL, "single quotes");
	FAILS("{\"op\":NaN}", NOT_JSON, NULL, "NaN");
	FAILS("{\"op\":\"ping\",\"id\":01}", NOT_JSON, NULL, "leading zero");
	FAILS("{\"op\":\"ping\",\"id\":9223372036854775808}", NOT_JSON,
	    "too big integer", "integer over 2^63 - 1");
	FAILS("{\"op\":\"ping\",\"id\":-9223372036854775809}", NOT_JSON,
	    "too big negative integer", "integer under -2^63");
	FAILS("{\"op\":\"ping\",\"id\":1e400}", NOT_JSON,
	    "real number overflow", "real overflow");
	FAILS("{\"op\":\"a\tb\"}", NOT_JSON, "control character 0x9",
	    "raw control character in a string");
	FAILS("{\"op\":\"a\0b\"}", NOT_JSON, "control character 0x0",
	    "raw NUL byte in a string");
	FAILS("{\"op\":\"ping\"}\0", NOT_JSON, NULL,
	    "raw NUL byte after the object");
	FAILS("{\"op\\u0000\":\"ping\"}", NOT_JSON, "NUL byte in object key",
	    "\\u0000 in a key");

	FAILS("42", NOT_OBJECT, NULL, "number frame");
	FAILS("\"ping\"", NOT_OBJECT, NULL, "string frame");
	FAILS("null", NOT_OBJECT, NULL, "null frame");
	FAILS("true", NOT_OBJECT, NULL, "boolean frame");
	FAILS("[{\"op\":\"ping\"}]", NOT_OBJECT, NULL, "array frame");

	FAILS("{\"op\":\"\xff\"}", NOT_JSON, "unable to decode byte 0xff",
	    "invalid UTF-8 byte 0xff");
	FAILS("{\"op\":\"ping\",\"v\":\"\xc3\"}", NOT_JSON,
	    "unable to decode byte 0xc3", "truncated UTF-8 sequence");
	FAILS("{\"op\":\"\xc0\x80\"}", NOT_JSON, "unable to decode",
	    "overlong UTF-8");
	FAILS("{\"op\":\"\xed\xa0\x80\"}", NOT_JSON, "unable to decode",
	    "UTF-8 encoded surrogate");
	FAILS("{\"op\":\"\xf4\x90\x80\x80\"}", NOT_JSON, "unable to decode",
	    "UTF-8 past U+10FFFF");
	FAILS("\xef\xbb\xbf{\"op\":\"ping\"}", NOT_JSON, "invalid token",
	    "byte order mark");
	FAILS("{\"op\":\"\\ud800\"}", NOT_JSON, "invalid Unicode '\\uD800'",
	    "lone high surrogate");
	FAILS("{\"op\":\"\\udc00\"}", NOT_JSON, "invalid Unicode '\\uDC00'",
	    "lone low surrogate");
	FAILS("{\"op\":\"ping\",\"value\":\"\\ud800x\"}", NOT_JSON,
	    "invalid Unicode", "lone surrogate inside a value");
	FAILS("{\"op\":\"ping\",\"value\":\"\\ud800\\u0041\"}", NOT_JSON,
	    "invalid Unicode", "high surrogate then not a low one");
}

/* A parse failure after which req.id is set and dumps as expect. */
static void
fails_with_id(const char *line, const char *message, const char *expect_id,
    const char *name)
{
	struct request		 req;
	struct proto_error	 err;
	char			*id;

	is_int(request_parse(&req, line, strlen(line), &err), -1, name);
	is_int(err.code, ERRCODE_BAD_REQUEST, "  code bad_request");
	is_str(err.message, message, "  message");
	if (expect_id == NULL)
		ok(req.id == NULL, "  no id to echo");
	else {
		id = req.id != NULL ? proto_json_dump(req.id, NULL) : NULL;
		is_str(id, expect_id, "  id kept for the error reply");
		free(id);
	}
	request_fini(&req);
}

static void
test_id_and_op(void)
{
	const char	*scalar = "field 'id' must be a scalar "
			    "(string, number, boolean or null)";

	fails_with_id("{\"id\":[1],\"op\":\"ping\"}", scalar, NULL,
	    "id array");
	fails_with_id("{\"id\":{\"a\":1},\"op\":\"ping\"}", scalar, NULL,
	    "id object");
	fails_with_id("{\"id\":[],\"op\":5}", scalar, NULL,
	    "id checked before op");
	fails_with_id("{\"id\":7}", "field 'op' is required", "7",
	    "op missing");
	fails_with_id("{\"id\":\"x\",\"op\":null}", "field 'op' is required",
	    "\"x\"", "op null");
	fails_with_id("{\"op\":5,\"id\":true}", "field 'op' must be a string",
	    "true", "op a number");
	fails_with_id("{\"op\":[\"ping\"]}", "field 'op' must be a string",
	    NULL, "op an array");
	fails_with_id("{\"op\":\"pi\\u0000ng\",\"id\":null}",
	    "field 'op' must be a string without NUL bytes", "null",
	    "op with NUL");
	fails_with_id("{}", "field 'op' is required", NULL, "empty object");
}

/* Parse {"id": <id>, "op": "ping"} and dump the id back. */
static void
id_echoes(const char *id_json, const char *expect, const char *name)
{
	struct request	 req;
	char		 line[256], *dump;

	snprintf(line, sizeof(line), "{\"id\":%s,\"op\":\"ping\"}", id_json);
	parse(&req, line);
	dump = req.id != NULL ? proto_json_dump(req.id, NULL) : NULL;
	is_str(dump, expect, name);
	free(dump);
	request_fini(&req);
}

static void
test_id_echo(void)
{
	struct request	 req;

	id_echoes("\"abc\"", "\"abc\"", "id string");
	id_echoes("\"a\\u0000b\"", "\"a\\u0000b\"", "id string with NUL");
	id_echoes("\"\\u00e9\\ud83d\\ude00\"", "\"\xc3\xa9\xf0\x9f\x98\x80\"",
	    "id with escapes and a surrogate pair");
	id_echoes("9223372036854775807", "9223372036854775807",
	    "id 2^63 - 1 exact");
	id_echoes("-9223372036854775808", "-9223372036854775808",
	    "id -2^63 exact");
	id_echoes("0", "0", "id 0");
	id_echoes("-0", "0", "id -0 is the integer 0");
	id_echoes("1.5", "1.5", "id real");
	id_echoes("1e2", "100.0", "id real in exponent form");
	id_echoes("true", "true", "id true");
	id_echoes("false", "false", "id false");
	id_echoes("null", "null", "id null");

	parse(&req, "{\"op\":\"ping\"}");
	ok(req.id == NULL, "id absent -> NULL");
	is_str(req.op, "ping", "op borrowed from the request");
	request_fini(&req);
	ok(req.root == NULL && req.id == NULL && req.op == NULL,
	    "fini clears the request");
	request_fini(&req);
	ok(1, "fini twice is harmless");

	parse(&req, " {\"op\":\"a\",\"op\":\"b\"} ");
	is_str(req.op, "b", "duplicate key: last wins; spaces around ok");
	request_fini(&req);
}

static void
test_field(void)
{
	struct request	 req;

	parse(&req, "{\"op\":\"x\",\"n\":null,\"v\":\"a\\u0000b\"}");
	ok(request_field(&req, "absent") == NULL, "field absent -> NULL");
	ok(json_is_null(request_field(&req, "n")), "field null -> json null");
	ok(json_is_string(request_field(&req, "v")) &&
	    json_string_length(request_field(&req, "v")) == 3 &&
	    memcmp(json_string_value(request_field(&req, "v")), "a\0b", 3)
	    == 0, "\\u0000 inside a value accepted, 3 bytes");
	request_fini(&req);
}

/*
 * The scanner (flat objects of plain strings, integers, true, false and
 * null) and jansson (everything else) must read every frame alike: each
 * frame below is compared with what jansson alone makes of it, and the
 * reader it took is checked, so that a change moving frames between them
 * is seen.
 */
static void
same_as_jansson(const char *line, bool scanned, const char *name)
{
	struct request		 req;
	struct proto_error	 err;
	json_error_t		 jerr;
	json_t			*ref;
	int			 rc;

	ref = json_loads(line, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
	rc = request_parse(&req, line, strlen(line), &err);
	if (!ok(rc == 0 && ref != NULL && json_equal(request_root(&req), ref)
	    && (req.scan != NULL) == scanned, "%s", name))
		printf("#   rc %d, scanned %d, %s\n", rc, req.scan != NULL,
		    rc == 0 ? "" : err.message);
	json_decref(ref);
	request_fini(&req);
}

static void
test_scanner(void)
{
	/* Frames the scanner stops at that jansson refuses. */
	static const struct {
		const char	*line, *name;
	} not_json[] = {
		{ "{\"op\":\"x\" \"a\":1}", "no comma between members" },
		{ "{\"op\":\"x\",\"a\":1,,\"b\":2}", "two commas" },
		{ "{\"op\":\"x\",\"a\":tru}", "tru" },
		{ "{\"op\":\"x\",\"a\":truex}", "truex" },
		{ "{\"op\":\"x\",\"a\":-}", "a lone minus" },
		{ "{\"op\":\"x\",\"a\":1.}", "1." },
		{ "{\"op\":\"x\",\"a\":\"\xc3\"}", "a cut UTF-8 sequence" },
		{ "{\"op\":\"x\",\"a\":\"\xed\xa0\x80\"}",
		    "a UTF-16 surrogate in UTF-8" },
		{ "{\"op\":\"x\",\"a\"}", "a key without value" },
		{ "{\"op\":\"x\",\"a\":\"b", "no closing quote" },
	};
	struct request		 req;
	struct proto_error	 err;
	const char		*s;
	size_t			 len, i;
	int64_t			 n;
	bool			 b;

	same_as_jansson("{\"op\":\"send\",\"chan\":\"c\",\"value\":\"x\","
	    "\"id\":7}", true, "scanner: a send");
	same_as_jansson(" \t{ \"op\" : \"recv\" ,\r\"chan\":\"c\" } \r\n",
	    true, "scanner: whitespace everywhere");
	same_as_jansson("{\"op\":\"x\",\"t\":true,\"f\":false,\"n\":null,"
	    "\"z\":0,\"m\":-0,\"big\":9223372036854775807,"
	    "\"small\":-9223372036854775808}", true,
	    "scanner: literals and 64-bit limits");
	same_as_jansson("{\"op\":\"x\",\"\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f"
	    "\x98\x80\",\"\":\"\"}", true, "scanner: UTF-8, empty key");
	same_as_jansson("{\"op\":\"x\",\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,"
	    "\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"j\":10,\"k\":11,\"l\":12,"
	    "\"m\":13,\"n\":14,\"o\":15}", true, "scanner: 16 members");

	same_as_jansson("{\"op\":\"x\",\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,"
	    "\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"j\":10,\"k\":11,\"l\":12,"
	    "\"m\":13,\"n\":14,\"o\":15,\"p\":16}", false,
	    "jansson: 17 members");
	same_as_jansson("{\"op\":\"x\",\"v\":\"a\\\"b\"}", false,
	    "jansson: an escape in a value");
	same_as_jansson("{\"o\\u0070\":\"x\"}", false,
	    "jansson: an escape in a key");
	same_as_jansson("{\"op\":\"x\",\"v\":1.5}", false, "jansson: a real");
	same_as_jansson("{\"op\":\"x\",\"v\":1e3}", false,
	    "jansson: an exponent");
	same_as_jansson("{\"op\":\"x\",\"v\":[1,{\"a\":null}]}", false,
	    "jansson: nested");
	same_as_jansson("{\"op\":\"x\",\"op\":\"y\"}", false,
	    "jansson: a duplicate key");

	/*
	 * Whatever the scanner stops at, jansson's message is the answer
	 * (more such frames are in test_parse_errors).
	 */
	for (i = 0; i < sizeof(not_json) / sizeof(not_json[0]); i++)
		parse_fails(not_json[i].line, strlen(not_json[i].line),
		    NOT_JSON, NULL, not_json[i].name);
	FAILS("{\"op\":7}", "field 'op' must be a string", NULL,
	    "scanned, op not a string");
	FAILS("{\"id\":1}", "field 'op' is required", NULL,
	    "scanned, op missing");

	/* The getters on the scanner's reading. */
	parse(&req, "{\"op\":\"x\",\"s\":\"text\",\"e\":\"\",\"n\":null,"
	    "\"i\":5,\"t\":true,\"f\":false,\"neg\":-3,\"u\":\"\xc3\xa9\"}");
	ok(req.scan != NULL && req.root == NULL,
	    "a flat frame is scanned, no tree made");
	is_int(request_get_string(&req, "s", &s, &err), 0, "scanned string");
	is_str(s, "text", "scanned string value");
	is_int(request_get_string(&req, "e", &s, &err), 0, "scanned empty");
	is_str(s, "", "scanned empty value");
	is_int(request_get_string(&req, "n", &s, &err), 1, "scanned null: 1");
	is_int(request_get_string(&req, "i", &s, &err), -1,
	    "scanned integer as string: -1");
	is_int(request_get_int(&req, "neg", -5, 5, &n, &err), 0,
	    "scanned integer");
	is_int(n, -3, "scanned integer value");
	is_int(request_get_int(&req, "i", 0, 4, &n, &err), -1,
	    "scanned integer out of range");
	is_int(request_get_int(&req, "s", 0, 4, &n, &err), -1,
	    "scanned string as integer");
	is_int(request_get_bool(&req, "f", &b, &err), 0, "scanned false");
	ok(!b, "scanned false value");
	is_int(request_get_bool(&req, "t", &b, &err), 0, "scanned true");
	ok(b, "scanned true value");
	is_int(request_get_bool(&req, "i", &b, &err), -1,
	    "scanned integer as bool");
	ok(request_has(&req, "s") && !request_has(&req, "n") &&
	    !request_has(&req, "absent"), "request_has");
	is_str(request_string(&req, "s"), "text", "request_string");
	ok(request_string(&req, "i") == NULL, "request_string of an integer");
	is_int(request_int(&req, "i", 9), 5, "request_int");
	is_int(request_int(&req, "s", 9), 9, "request_int of a string");
	ok(request_plain_string(&req, "u", &s, &len) && len == 2 &&
	    memcmp(s, "\xc3\xa9", 3) == 0, "scanned plain string");
	ok(!request_plain_string(&req, "i", &s, &len),
	    "an integer is not a plain string");
	ok(req.root == NULL, "getters made no tree");
	ok(json_integer_value(request_field(&req, "i")) == 5 &&
	    json_is_true(request_field(&req, "t")),
	    "request_field makes the field's JSON");
	ok(json_object_size(request_root(&req)) == 9, "request_root");
	request_fini(&req);

	parse(&req, "{\"op\":\"x\",\"q\":\"a\\\"b\",\"p\":\"a\\/b\"}");
	ok(!request_plain_string(&req, "q", &s, &len),
	    "jansson's string needing an escape is not plain");
	ok(request_plain_string(&req, "p", &s, &len) && len == 3 &&
	    memcmp(s, "a/b", 3) == 0,
	    "jansson's string needing none is plain");
	request_fini(&req);
}

static const char *FIELDS = "{\"op\":\"x\",\"s\":\"text\",\"e\":\"\","
    "\"n\":null,\"i\":5,\"r\":1.0,\"t\":true,\"f\":false,\"z\":\"a\\u0000\","
    "\"big\":9223372036854775807,\"neg\":-3,\"a\":[],\"o\":{}}";

static void
test_get_string(void)
{
	struct request		 req;
	struct proto_error	 err;
	const char		*s;

	parse(&req, FIELDS);
	is_int(request_get_string(&req, "s", &s, &err), 0, "string: 0");
	is_str(s, "text", "string: value");
	is_int(request_get_string(&req, "e", &s, &err), 0, "empty string: 0");
	is_str(s, "", "empty string: value");
	s = "untouched";
	is_int(request_get_string(&req, "absent", &s, &err), 1,
	    "string absent: 1");
	is_int(request_get_string(&req, "n", &s, &err), 1, "string null: 1");
	is_str(s, "untouched", "out untouched when absent or null");
	is_int(request_get_string(&req, "i", &s, &err), -1,
	    "string given a number: -1");
	is_str(err.message, "field 'i' must be a string", "  message");
	is_int(err.code, ERRCODE_BAD_REQUEST, "  code bad_request");
	is_int(request_get_string(&req, "t", &s, &err), -1,
	    "string given true: -1");
	is_int(request_get_string(&req, "a", &s, &err), -1,
	    "string given an array: -1");
	is_int(request_get_string(&req, "z", &s, &err), -1,
	    "string with NUL: -1");
	is_str(err.message, "field 'z' must be a string without NUL bytes",
	    "  message");

	is_int(request_need_string(&req, "s", &s, &err), 0, "need: 0");
	is_str(s, "text", "need: value");
	is_int(request_need_string(&req, "absent", &s, &err), -1,
	    "need absent: -1");
	is_str(err.message, "field 'absent' is required", "  message");
	is_int(request_need_string(&req, "n", &s, &err), -1,
	    "need null: -1");
	is_str(err.message, "field 'n' is required", "  message");
	is_int(request_need_string(&req, "o", &s, &err), -1,
	    "need given an object: -1");
	is_str(err.message, "field 'o' must be a string", "  message");
	request_fini(&req);
}

static void
test_get_int(void)
{
	struct request		 req;
	struct proto_error	 err;
	int64_t			 n;

	parse(&req, FIELDS);
	is_int(request_get_int(&req, "i", 0, CAP_MAX, &n, &err), 0, "int: 0");
	is_int(n, 5, "int: value");
	is_int(request_get_int(&req, "i", 5, 5, &n, &err), 0,
	    "int at both bounds: 0");
	is_int(request_get_int(&req, "big", 0, INT64_MAX, &n, &err), 0,
	    "int 2^63 - 1: 0");
	ok(n == INT64_MAX, "int 2^63 - 1: exact");
	is_int(request_get_int(&req, "neg", INT64_MIN, INT64_MAX, &n, &err),
	    0, "negative int, unbounded: 0");
	is_int(n, -3, "negative int: value");
	n = 42;
	is_int(request_get_int(&req, "absent", 0, 10, &n, &err), 1,
	    "int absent: 1");
	is_int(request_get_int(&req, "n", 0, 10, &n, &err), 1, "int null: 1");
	is_int(n, 42, "out untouched when absent or null");

	is_int(request_get_int(&req, "i", 0, 4, &n, &err), -1,
	    "int above max: -1");
	is_str(err.message, "field 'i' must be an integer in [0, 4]",
	    "  message names the range");
	is_int(request_get_int(&req, "i", 6, 10, &n, &err), -1,
	    "int below min: -1");
	is_int(request_get_int(&req, "neg", 0, CAP_MAX, &n, &err), -1,
	    "negative int with min 0: -1");
	is_str(err.message, "field 'neg' must be an integer in "
	    "[0, 2147483647]", "  message");
	is_int(request_get_int(&req, "big", 0, CAP_MAX, &n, &err), -1,
	    "2^63 - 1 over 2^31 - 1: -1");
	is_int(n, 42, "out untouched on error");
	is_int(request_get_int(&req, "r", 0, CAP_MAX, &n, &err), -1,
	    "real 1.0 is not an integer: -1");
	is_str(err.message, "field 'r' must be an integer in [0, 2147483647]",
	    "  message");
	is_int(request_get_int(&req, "s", 0, CAP_MAX, &n, &err), -1,
	    "string is not an integer: -1");
	is_int(request_get_int(&req, "t", 0, CAP_MAX, &n, &err), -1,
	    "true is not an integer: -1");
	is_int(err.code, ERRCODE_BAD_REQUEST, "  code bad_request");
	is_int(request_get_int(&req, "i", 1, INT64_MAX, &n, &err), 0,
	    "int >= 1: 0");
	is_int(request_get_int(&req, "neg", 1, INT64_MAX, &n, &err), -1,
	    "int >= 1 given -3: -1");
	is_str(err.message, "field 'neg' must be an integer >= 1",
	    "  one-sided message");
	is_int(request_get_int(&req, "i", INT64_MIN, 4, &n, &err), -1,
	    "int <= 4 given 5: -1");
	is_str(err.message, "field 'i' must be an integer <= 4",
	    "  other one-sided message");
	is_int(request_get_int(&req, "r", INT64_MIN, INT64_MAX, &n, &err),
	    -1, "any integer given a real: -1");
	is_str(err.message, "field 'r' must be an integer",
	    "  unbounded message");

	is_int(request_need_int(&req, "i", 0, CAP_MAX, &n, &err), 0,
	    "need int: 0");
	is_int(n, 5, "need int: value");
	is_int(request_need_int(&req, "absent", 0, CAP_MAX, &n, &err), -1,
	    "need int absent: -1");
	is_str(err.message, "field 'absent' is required", "  message");
	is_int(request_need_int(&req, "n", 0, CAP_MAX, &n, &err), -1,
	    "need int null: -1");
	is_int(request_need_int(&req, "i", 0, 1, &n, &err), -1,
	    "need int out of range: -1");
	is_str(err.message, "field 'i' must be an integer in [0, 1]",
	    "  message");
	request_fini(&req);

	parse(&req, "{\"op\":\"make\",\"cap\":2147483648}");
	is_int(request_get_int(&req, "cap", 0, CAP_MAX, &n, &err), -1,
	    "cap 2^31: -1");
	is_str(err.message, "field 'cap' must be an integer in "
	    "[0, 2147483647]", "  message");
	request_fini(&req);
}

static void
test_get_bool(void)
{
	struct request		 req;
	struct proto_error	 err;
	bool			 b;

	parse(&req, FIELDS);
	is_int(request_get_bool(&req, "t", &b, &err), 0, "bool true: 0");
	ok(b, "bool true: value");
	is_int(request_get_bool(&req, "f", &b, &err), 0, "bool false: 0");
	ok(!b, "bool false: value");
	b = true;
	is_int(request_get_bool(&req, "absent", &b, &err), 1,
	    "bool absent: 1");
	is_int(request_get_bool(&req, "n", &b, &err), 1, "bool null: 1");
	ok(b, "out untouched when absent or null");
	is_int(request_get_bool(&req, "i", &b, &err), -1,
	    "bool given 5: -1");
	is_str(err.message, "field 'i' must be a boolean (true or false)",
	    "  message");
	is_int(request_get_bool(&req, "s", &b, &err), -1,
	    "bool given a string: -1");
	request_fini(&req);

	parse(&req, "{\"op\":\"x\",\"one\":1,\"zero\":0,\"str\":\"true\"}");
	is_int(request_get_bool(&req, "one", &b, &err), -1, "bool given 1");
	is_int(request_get_bool(&req, "zero", &b, &err), -1, "bool given 0");
	is_int(request_get_bool(&req, "str", &b, &err), -1,
	    "bool given \"true\"");
	request_fini(&req);
}

/* request_get_timeout on {"op":"recv","timeout_ms":<json>}. */
static void
timeout_is(const char *json, int rc, int64_t expect, const char *name)
{
	struct request		 req;
	struct proto_error	 err;
	char			 line[256];
	int64_t			 ms = -42;

	if (json != NULL)
		snprintf(line, sizeof(line),
		    "{\"op\":\"recv\",\"timeout_ms\":%s}", json);
	else
		snprintf(line, sizeof(line), "{\"op\":\"recv\"}");
	parse(&req, line);
	is_int(request_get_timeout(&req, "timeout_ms", &ms, &err), rc, name);
	if (rc == 0)
		ok(ms == expect, "  value %" PRId64, expect);
	else {
		is_int(ms, -42, "  out untouched");
		is_str(err.message, "field 'timeout_ms' must be null or an "
		    "integer in [0, 9007199254740991]", "  message");
		is_int(err.code, ERRCODE_BAD_REQUEST, "  code bad_request");
	}
	request_fini(&req);
}

static void
test_timeout(void)
{
	timeout_is(NULL, 0, -1, "timeout absent: forever");
	timeout_is("null", 0, -1, "timeout null: forever");
	timeout_is("0", 0, 0, "timeout 0: never wait");
	timeout_is("250", 0, 250, "timeout 250");
	timeout_is("9007199254740991", 0, TIMEOUT_MAX, "timeout 2^53 - 1");
	timeout_is("9007199254740992", -1, 0, "timeout 2^53");
	timeout_is("9223372036854775807", -1, 0, "timeout 2^63 - 1");
	timeout_is("-1", -1, 0, "timeout negative");
	timeout_is("1.5", -1, 0, "timeout 1.5");
	timeout_is("1.0", -1, 0, "timeout 1.0");
	timeout_is("\"5\"", -1, 0, "timeout string");
	timeout_is("true", -1, 0, "timeout true");
	timeout_is("[5]", -1, 0, "timeout array");
}

/* request_need_chan on {"op":"stat","chan":<json>}. */
static void
chan_is(const char *json, const char *expect, const char *message,
    const char *name)
{
	struct request		 req;
	struct proto_error	 err;
	char			 line[512];
	const char		*chan = NULL;

	if (json != NULL)
		snprintf(line, sizeof(line), "{\"op\":\"stat\",\"chan\":%s}",
		    json);
	else
		snprintf(line, sizeof(line), "{\"op\":\"stat\"}");
	parse(&req, line);
	if (expect != NULL) {
		is_int(request_need_chan(&req, "chan", &chan, &err), 0, name);
		is_str(chan, expect, "  name");
	} else {
		is_int(request_need_chan(&req, "chan", &chan, &err), -1, name);
		is_str(err.message, message, "  message");
		ok(chan == NULL, "  out untouched");
	}
	request_fini(&req);
}

static void
test_chan(void)
{
	const char	*bad = "field 'chan' must be 1-128 bytes of "
			    "[A-Za-z0-9._:-]";
	char		 name[140], json[150];

	chan_is("\"jobs\"", "jobs", NULL, "chan simple");
	chan_is("\"AZaz09._:-\"", "AZaz09._:-", NULL, "chan every class");
	chan_is("\"x\"", "x", NULL, "chan one byte");
	memset(name, 'c', 128);
	name[128] = '\0';
	snprintf(json, sizeof(json), "\"%s\"", name);
	chan_is(json, name, NULL, "chan 128 bytes");
	snprintf(json, sizeof(json), "\"%sc\"", name);
	chan_is(json, NULL, bad, "chan 129 bytes");
	chan_is("\"\"", NULL, bad, "chan empty");
	chan_is("\"a b\"", NULL, bad, "chan with space");
	chan_is("\"a/b\"", NULL, bad, "chan with slash");
	chan_is("\"a*\"", NULL, bad, "chan with star");
	chan_is("\"caf\\u00e9\"", NULL, bad, "chan non-ASCII");
	chan_is("\"a\\nb\"", NULL, bad, "chan with newline");
	chan_is("\"a\\u0000b\"", NULL,
	    "field 'chan' must be a string without NUL bytes",
	    "chan with NUL inside");
	chan_is(NULL, NULL, "field 'chan' is required", "chan absent");
	chan_is("null", NULL, "field 'chan' is required", "chan null");
	chan_is("5", NULL, "field 'chan' must be a string", "chan number");
	chan_is("[\"a\"]", NULL, "field 'chan' must be a string",
	    "chan array");

	ok(proto_chan_name_valid("a", 1), "valid: a");
	ok(!proto_chan_name_valid("a", 0), "invalid: length 0");
	ok(!proto_chan_name_valid("a\0b", 3), "invalid: NUL within len");
	ok(proto_chan_name_valid("ab!", 2), "only len bytes are looked at");
	memset(name, 'c', 129);
	ok(proto_chan_name_valid(name, 128), "valid: 128 bytes");
	ok(!proto_chan_name_valid(name, 129), "invalid: 129 bytes");
}

static void
test_error_set(void)
{
	struct proto_error	 err;
	char			 longname[400];

	proto_error_set(&err, ERRCODE_NOT_FOUND, "no channel '%s'", "x");
	is_int(err.code, ERRCODE_NOT_FOUND, "error_set: code");
	is_str(err.message, "no channel 'x'", "error_set: message");
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	proto_error_set(&err, ERRCODE_LIMIT, "%s", longname);
	is_int(strlen(err.message), sizeof(err.message) - 1,
	    "error_set: long message truncated, terminated");
}

int
main(void)
{
	test_parse_errors();
	test_id_and_op();
	test_id_echo();
	test_field();
	test_scanner();
	test_get_string();
	test_get_int();
	test_get_bool();
	test_timeout();
	test_chan();
	test_error_set();
	return done_testing();
}
