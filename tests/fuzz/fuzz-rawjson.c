/*
 * Fuzz target: proto/rawjson.c.
 *
 * The input is any bytes.  On every input each function stays within the
 * text (ASan sees any read past it: the input is copied into a buffer of
 * its own size) and minifying counts what it writes.  On input jansson
 * accepts as JSON, the spans are what jansson reads: the minified text
 * parses to an equal value; for an object, the span of each of its keys
 * parses to that member's value; for an array, the elements' spans are as
 * many as its elements and parse to them, in order.  Numbers compare
 * equal because both sides parse the same digits.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "rawjson.h"

static json_t *
parse(const char *p, size_t len)
{
	return json_loadb(p, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

/* Does the span parse to a value equal to want? */
static bool
span_is(const struct rawjson_span *s, const json_t *want)
{
	json_t	*got = parse(s->p, s->len);
	bool	 same = got != NULL && json_equal(got, want);

	json_decref(got);
	return same;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rawjson_span	 s;
	struct rawjson_iter	 it;
	json_t			*root, *v, *min;
	const char		*key;
	char			*text, *out;
	size_t			 n, keylen, i;

	if ((text = malloc(size + 1)) == NULL ||
	    (out = malloc(size + 1)) == NULL)
		abort();
	memcpy(text, data, size);

	/* Any input: within bounds, and the count is what is written. */
	n = rawjson_minify(out, text, size);
	FUZZ_CHECK(n <= size && rawjson_minify(NULL, text, size) == n);
	(void)rawjson_member(text, size, "value", 5, &s);
	if (rawjson_array_begin(&it, text, size))
		while (rawjson_array_next(&it, &s))
			FUZZ_CHECK(s.p >= text && s.p + s.len <= text + size);

	if ((root = parse(text, size)) == NULL)
		goto out;
	FUZZ_CHECK((min = parse(out, n)) != NULL && json_equal(min, root));
	json_decref(min);
	/* In place gives the same. */
	FUZZ_CHECK(rawjson_minify(text, text, size) == n &&
	    memcmp(text, out, n) == 0);
	memcpy(text, data, size);

	if (json_is_object(root)) {
		json_object_keylen_foreach(root, key, keylen, v) {
			FUZZ_CHECK(rawjson_member(text, size, key, keylen,
			    &s) && span_is(&s, v));
		}
		FUZZ_CHECK(!rawjson_array_begin(&it, text, size));
	} else if (json_is_array(root)) {
		FUZZ_CHECK(rawjson_array_begin(&it, text, size));
		for (i = 0; rawjson_array_next(&it, &s); i++)
			FUZZ_CHECK(i < json_array_size(root) &&
			    span_is(&s, json_array_get(root, i)));
		FUZZ_CHECK(i == json_array_size(root));
		FUZZ_CHECK(!rawjson_member(text, size, "value", 5, &s));
	}
	json_decref(root);
out:
	free(text);
	free(out);
	return 0;
}
