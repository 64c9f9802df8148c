/*
 * Unit tests for proto/rawjson.c: the spans of members and elements, as
 * jansson reads them (escaped keys, the last duplicate), and minified text
 * that keeps numbers and escapes as written.
 */
#include <stdlib.h>
#include <string.h>

#include "rawjson.h"
#include "tap.h"

/* The member's text, or "(none)"; a static buffer. */
static const char *
member(const char *text, const char *key)
{
	static char		 buf[256];
	struct rawjson_span	 s;

	if (!rawjson_member(text, strlen(text), key, strlen(key), &s))
		return "(none)";
	snprintf(buf, sizeof(buf), "%.*s", (int)s.len, s.p);
	return buf;
}

/* The elements' texts joined by '|', or "(not an array)". */
static const char *
elements(const char *text)
{
	static char		 buf[256];
	struct rawjson_iter	 it;
	struct rawjson_span	 s;
	size_t			 n = 0;

	if (!rawjson_array_begin(&it, text, strlen(text)))
		return "(not an array)";
	buf[0] = '\0';
	while (rawjson_array_next(&it, &s))
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%.*s",
		    n > 0 ? "|" : "", (int)s.len, s.p);
	return buf;
}

static const char *
minify(const char *text)
{
	static char	 buf[256];
	size_t		 n, counted;

	counted = rawjson_minify(NULL, text, strlen(text));
	n = rawjson_minify(buf, text, strlen(text));
	buf[n] = '\0';
	return counted == n ? buf : "(count differs)";
}

int
main(void)
{
	char	 inplace[] = " [ 1 , \"a b\" ] ";

	/* Members: numbers as written, nesting, whitespace around. */
	is_str(member("{\"op\":\"send\",\"value\":19.99}", "value"), "19.99",
	    "a real as written");
	is_str(member(" { \"value\" : 1e2 } ", "value"), "1e2",
	    "an exponent as written, whitespace around");
	is_str(member("{\"value\":[1.10, {\"a\" : 2}],\"x\":1}", "value"),
	    "[1.10, {\"a\" : 2}]", "an array, inner whitespace kept");
	is_str(member("{\"value\":{\"}\":\"]\\\"\"},\"x\":1}", "value"),
	    "{\"}\":\"]\\\"\"}", "brackets and quotes inside strings");
	is_str(member("{\"value\":\"\\u00e9\"}", "value"), "\"\\u00e9\"",
	    "a string keeps its escapes");
	is_str(member("{\"value\":-0}", "value"), "-0", "minus zero");
	is_str(member("{\"value\":null}", "value"), "null", "null");
	is_str(member("{\"values\":[1],\"value\":2}", "value"), "2",
	    "a key that is a prefix of another is not it");
	is_str(member("{\"a\":{\"value\":1}}", "value"), "(none)",
	    "a nested member is not a member");
	is_str(member("{}", "value"), "(none)", "empty object");
	is_str(member("[1]", "value"), "(none)", "not an object");
	is_str(member("{\"value\":1,\"value\":[2]}", "value"), "[2]",
	    "the last of duplicate keys, as jansson");
	is_str(member("{\"v\\u0061lue\":3}", "value"), "3",
	    "an escaped key is decoded");
	is_str(member("{\"\\u00e9\":4}", "\xc3\xa9"), "4",
	    "an escaped non-ASCII key");
	is_str(member("{\"\\ud83d\\ude00\":5}", "\xf0\x9f\x98\x80"), "5",
	    "a surrogate pair in a key");
	is_str(member("{\"valu\\\"e\":6,\"value\":7}", "value"), "7",
	    "an escaped quote in another key");
	is_str(member("{\"value\":1", "value"), "1",
	    "cut text: a span, within bounds");
	is_str(member("{\"value\"", "value"), "(none)",
	    "cut after the key: none");

	/* Elements. */
	is_str(elements("[1.10, {\"a\" : 2}, \"x,y\", [3,[4]], null]"),
	    "1.10|{\"a\" : 2}|\"x,y\"|[3,[4]]|null", "elements as written");
	is_str(elements(" [ ] "), "", "an empty array");
	is_str(elements("{}"), "(not an array)", "not an array");
	is_str(elements("[1,"), "1", "cut text: within bounds");

	/* Minified. */
	is_str(minify(" [1.10, {\"a\" : 2}] "), "[1.10,{\"a\":2}]",
	    "whitespace outside strings goes");
	is_str(minify("{ \"a b\" :\t\"c\\\" d\" }"), "{\"a b\":\"c\\\" d\"}",
	    "whitespace inside strings stays");
	is_str(minify("1E+2"), "1E+2", "a number stays as written");
	is_str(minify("\"\\u00e9\""), "\"\\u00e9\"", "escapes stay");
	is_int((long long)rawjson_minify(inplace, inplace, strlen(inplace)),
	    9, "in place: length");
	inplace[9] = '\0';
	is_str(inplace, "[1,\"a b\"]", "in place: text");
	return done_testing();
}
