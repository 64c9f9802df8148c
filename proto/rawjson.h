/*
 * rawjson: byte spans inside JSON text, and the text without its
 * insignificant whitespace, with no tree.
 *
 * Channel values go back out as the text they came in as (PROTOCOL.md 6):
 * a tree would print 19.99 as 19.989999999999998 and 1e2 as 100.0.  The
 * frame is still parsed by jansson, which alone decides what is JSON;
 * these functions then find where a member's or an element's text lies
 * in it.  They are meant for text jansson accepted: on other text they
 * give some span or none, but never read outside [text, text + len).
 */
#ifndef JQ_RAWJSON_H
#define JQ_RAWJSON_H

#include <stdbool.h>
#include <stddef.h>

/* A value's text: len bytes at p, no whitespace before or after. */
struct rawjson_span {
	const char	*p;
	size_t		 len;
};

/*
 * The value of member key (keylen bytes) of the object that text holds
 * (whitespace around it allowed).  Keys are compared as jansson reads
 * them, escapes decoded ("\u0076alue" is "value"); of duplicate keys the
 * last one counts, as in jansson's tree.  False when text is not an
 * object or has no such member.
 */
bool	 rawjson_member(const char *text, size_t len, const char *key,
	    size_t keylen, struct rawjson_span *out);

/* The elements of the array text holds, in order. */
struct rawjson_iter {
	const char	*p;
	const char	*end;
};

/* Start on the array that text holds; false when it is not an array. */
bool	 rawjson_array_begin(struct rawjson_iter *it, const char *text,
	    size_t len);
/* The next element into *out; false after the last. */
bool	 rawjson_array_next(struct rawjson_iter *it, struct rawjson_span *out);

/*
 * Copy len bytes of JSON text to dst without the whitespace outside
 * strings (strings, escapes and numbers stay as they are); returns the
 * length written.  dst NULL: only count.  dst may be src.
 */
size_t	 rawjson_minify(char *dst, const char *src, size_t len);

#endif
