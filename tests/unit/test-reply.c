/*
 * Unit tests for proto/reply.c and proto/errcode.c: the exact bytes of ok
 * and error replies, error details, raw members spliced in at
 * serialization (with and without a reply object), the final newline,
 * compact dumps of any JSON value, which strings are written as their
 * bytes, and the wire names of every error code in both directions.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errcode.h"
#include "reply.h"
#include "tap.h"

/* Serialize reply (consuming it) and compare with the expected line. */
static void
serializes(json_t *reply, const struct reply_raw *raw, size_t nraw,
    const char *expect, const char *name)
{
	char	*s;
	size_t	 len;

	s = reply_serialize(reply, raw, nraw, &len);
	is_str(s, expect, name);
	is_int(len, strlen(expect), "  length");
	free(s);
	/* A plain ok reply is written alike without its object. */
	if (json_object_size(reply) == 2 &&
	    json_is_true(json_object_get(reply, "ok"))) {
		s = reply_ok_serialize(json_object_get(reply, "id"), raw, nraw,
		    &len);
		is_str(s, expect, "  the same from reply_ok_serialize");
		is_int(len, strlen(expect), "  length");
		free(s);
	}
	json_decref(reply);
}

static void
dumps(json_t *value, const char *expect, const char *name)
{
	char	*s;
	size_t	 len;

	s = proto_json_dump(value, &len);
	is_str(s, expect, name);
	is_int(len, strlen(expect), "  length");
	json_decref(value);
	free(s);
}

static void
test_ok(void)
{
	json_t	*id, *reply;
	char	*s;
	size_t	 len;

	serializes(reply_ok(NULL), NULL, 0, "{\"id\":null,\"ok\":true}\n",
	    "ok, id absent -> null");
	serializes(reply_ok(json_null()), NULL, 0,
	    "{\"id\":null,\"ok\":true}\n", "ok, id null");

	id = json_string("req-1");
	reply = reply_ok(id);
	is_int(id->refcount, 2, "reply holds its own reference to id");
	serializes(reply, NULL, 0, "{\"id\":\"req-1\",\"ok\":true}\n",
	    "ok, id string");
	is_int(id->refcount, 1, "id reference dropped with the reply");
	json_decref(id);

	id = json_integer(INT64_C(9223372036854775807));
	serializes(reply_ok(id), NULL, 0,
	    "{\"id\":9223372036854775807,\"ok\":true}\n", "ok, id 2^63 - 1");
	json_decref(id);
	id = json_real(2.5);
	serializes(reply_ok(id), NULL, 0, "{\"id\":2.5,\"ok\":true}\n",
	    "ok, id real");
	json_decref(id);
	serializes(reply_ok(json_true()), NULL, 0,
	    "{\"id\":true,\"ok\":true}\n", "ok, id true");
	id = json_string("a\"b\n");
	serializes(reply_ok(id), NULL, 0,
	    "{\"id\":\"a\\\"b\\n\",\"ok\":true}\n", "ok, id needing escapes");
	json_decref(id);
	s = reply_ok_serialize(NULL, NULL, 0, &len);
	is_str(s, "{\"id\":null,\"ok\":true}\n", "reply_ok_serialize, no id");
	free(s);

	reply = reply_ok(NULL);
	json_object_set_new(reply, "created", json_false());
	json_object_set_new(reply, "chan", json_string("jobs"));
	serializes(reply, NULL, 0,
	    "{\"id\":null,\"ok\":true,\"created\":false,\"chan\":\"jobs\"}\n",
	    "ok, members after id and ok in insertion order");
}

static void
test_error(void)
{
	json_t	*id, *reply;

	serializes(reply_error(NULL, ERRCODE_NOT_FOUND, "no channel '%s'",
	    "jobs"), NULL, 0,
	    "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"not_found\","
	    "\"message\":\"no channel 'jobs'\"}}\n", "error, id null");

	id = json_integer(7);
	reply = reply_error(id, ERRCODE_CLOSED, "channel '%s' is closed",
	    "b");
	reply_error_detail(reply, "index", json_integer(2));
	serializes(reply, NULL, 0,
	    "{\"id\":7,\"ok\":false,\"error\":{\"code\":\"closed\","
	    "\"message\":\"channel 'b' is closed\",\"index\":2}}\n",
	    "error with a detail");
	json_decref(id);

	id = json_string("w");
	reply = reply_error(id, ERRCODE_TIMEOUT,
	    "timed out after %d ms", 50);
	reply_error_detail(reply, "pending", json_integer(3));
	reply_error_detail(reply, "of", json_integer(4));
	serializes(reply, NULL, 0,
	    "{\"id\":\"w\",\"ok\":false,\"error\":{\"code\":\"timeout\","
	    "\"message\":\"timed out after 50 ms\",\"pending\":3,\"of\":4}}\n",
	    "error with two details, in order");
	json_decref(id);

	serializes(reply_error(NULL, ERRCODE_BAD_REQUEST, "a \"q\" \\ %s",
	    "\n\t\x01/"), NULL, 0,
	    "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"bad_request\","
	    "\"message\":\"a \\\"q\\\" \\\\ \\n\\t\\u0001/\"}}\n",
	    "message escaped");

	serializes(reply_error(NULL, ERRCODE_UNKNOWN_OP, "unknown op '%s'",
	    "\xff\xc3\xa9\xed\xa0\x80"), NULL, 0,
	    "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"unknown_op\","
	    "\"message\":\"unknown op '?\xc3\xa9?\?\?'\"}}\n",
	    "invalid UTF-8 in a message replaced, valid kept");
}

static void
test_error_truncated(void)
{
	json_t		*reply, *message;
	char		 arg[600];
	const char	*s;
	size_t		 len;

	/* 510 ASCII bytes then "é": the cut falls inside the "é". */
	memset(arg, 'a', 510);
	memcpy(arg + 510, "\xc3\xa9", 3);
	reply = reply_error(NULL, ERRCODE_BAD_REQUEST, "%s", arg);
	message = json_object_get(json_object_get(reply, "error"), "message");
	ok(json_is_string(message), "long message still a string");
	s = json_string_value(message);
	len = json_string_length(message);
	is_int(len, 511, "long message cut to 511 bytes");
	ok(len == 511 && s[509] == 'a' && s[510] == '?',
	    "cut UTF-8 sequence replaced");
	json_decref(reply);
}

static void
test_raw(void)
{
	struct reply_raw	 one[] = {
		{ "value", "{\"a\":[1,2]}", 11 },
	};
	struct reply_raw	 prefix[] = {
		{ "value", "123456", 3 },
	};
	struct reply_raw	 several[] = {
		{ "values", "[1,\"two\",null]", 14 },
		{ "leases", "[\"l1\",\"l2\",\"l3\"]", 16 },
		{ "value_2", "3", 1 },
	};
	json_t			*reply, *parsed;
	char			*s;
	size_t			 len;

	serializes(reply_ok(NULL), one, 1,
	    "{\"id\":null,\"ok\":true,\"value\":{\"a\":[1,2]}}\n",
	    "one raw member");

	reply = reply_ok(NULL);
	json_object_set_new(reply, "closed", json_false());
	serializes(reply, several, 3,
	    "{\"id\":null,\"ok\":true,\"closed\":false,"
	    "\"values\":[1,\"two\",null],\"leases\":[\"l1\",\"l2\",\"l3\"],"
	    "\"value_2\":3}\n", "several raw members, in order");

	serializes(json_object(), one, 1, "{\"value\":{\"a\":[1,2]}}\n",
	    "raw member into an empty object: no comma");
	serializes(json_object(), NULL, 0, "{}\n", "empty object, no raw");

	/* Only len bytes of the raw text are used. */
	serializes(reply_ok(NULL), prefix, 1,
	    "{\"id\":null,\"ok\":true,\"value\":123}\n",
	    "raw member of len bytes");

	reply = reply_ok(NULL);
	s = reply_serialize(reply, several, 3, &len);
	ok(len > 0 && s[len - 1] == '\n' && s[len] == '\0',
	    "serialize ends with a newline, NUL after it");
	ok(memchr(s, '\n', len - 1) == NULL, "only one newline");
	parsed = json_loadb(s, len, 0, NULL);
	ok(json_is_object(parsed) && json_object_size(parsed) == 5,
	    "spliced reply parses back as one object");
	is_int(json_integer_value(json_object_get(parsed, "value_2")), 3,
	    "spliced member readable");
	json_decref(parsed);
	json_decref(reply);
	free(s);
}

static void
test_plain(void)
{
	ok(proto_json_plain("", 0), "plain: empty");
	ok(proto_json_plain("a b/\x7f\xc3\xa9", 7),
	    "plain: ASCII, slash, DEL, UTF-8");
	ok(!proto_json_plain("a\"", 2), "not plain: a quote");
	ok(!proto_json_plain("a\\", 2), "not plain: a backslash");
	ok(!proto_json_plain("a\tb", 3), "not plain: a control character");
	ok(!proto_json_plain("a\0b", 3), "not plain: NUL");
	ok(proto_json_plain("a\"", 1), "only len bytes are looked at");
}

static void
test_dump(void)
{
	json_t	*v;

	dumps(json_integer(-42), "-42", "dump integer");
	dumps(json_integer(INT64_C(-9223372036854775807) - 1),
	    "-9223372036854775808", "dump -2^63");
	dumps(json_real(1.5), "1.5", "dump real");
	dumps(json_real(100), "100.0", "dump integral real keeps .0");
	dumps(json_real(0.1), "0.10000000000000001",
	    "dump real with 17 significant digits (jansson default)");
	dumps(json_true(), "true", "dump true");
	dumps(json_false(), "false", "dump false");
	dumps(json_null(), "null", "dump null");
	dumps(json_string(""), "\"\"", "dump empty string");
	dumps(json_string("a/b \"c\" \xc3\xa9"), "\"a/b \\\"c\\\" \xc3\xa9\"",
	    "dump string: quotes escaped, / and UTF-8 kept");
	dumps(json_stringn("a\0b", 3), "\"a\\u0000b\"", "dump string with NUL");
	dumps(json_array(), "[]", "dump empty array");
	dumps(json_object(), "{}", "dump empty object");

	v = json_pack("{s:[i,{s:n}],s:s,s:{}}", "a", 1, "b", "c", "d", "e");
	dumps(v, "{\"a\":[1,{\"b\":null}],\"c\":\"d\",\"e\":{}}",
	    "dump nested, compact, in insertion order");
	v = json_pack("[[[]],{s:[b,b]}]", "k", 1, 0);
	dumps(v, "[[[]],{\"k\":[true,false]}]", "dump nested arrays");
}

static void
test_errcode(void)
{
	static const char	*names[] = {
		"bad_request", "unknown_op", "frame_too_large", "unauthorized",
		"not_found", "exists", "closed", "timeout", "too_large",
		"limit", "shutting_down", "internal",
	};
	enum errcode		 code;
	size_t			 i;
	int			 all = 1;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		all &= strcmp(errcode_name((enum errcode)i), names[i]) == 0;
		all &= errcode_parse(names[i], &code) == 0 &&
		    code == (enum errcode)i;
	}
	ok(all, "every code named and parsed back (%zu codes)", i);
	code = ERRCODE_LIMIT;
	is_int(errcode_parse("nope", &code), -1, "unknown name: -1");
	is_int(code, ERRCODE_LIMIT, "  code untouched");
	is_int(errcode_parse("", &code), -1, "empty name: -1");
	is_int(errcode_parse("Closed", &code), -1, "names are case-sensitive");
}

int
main(void)
{
	test_ok();
	test_error();
	test_error_truncated();
	test_raw();
	test_plain();
	test_dump();
	test_errcode();
	return done_testing();
}
