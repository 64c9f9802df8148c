/*
 * rawjson: spans and minified text of JSON that jansson has accepted (see
 * rawjson.h).  No validation here: every loop stops at the end of the
 * text, so text that is not JSON gives a wrong span, never a bad read.
 */
#include <stdint.h>
#include <string.h>

#include "rawjson.h"

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && is_ws(*p))
		p++;
	return p;
}

/* Past the closing quote of the string whose body starts at p. */
static const char *
skip_string(const char *p, const char *end)
{
	while (p < end) {
		if (*p == '\\')
			p += end - p >= 2 ? 2 : 1;
		else if (*p++ == '"')
			break;
	}
	return p;
}

/* Past the value starting at p (not whitespace). */
static const char *
skip_value(const char *p, const char *end)
{
	size_t	 depth = 0;

	do {
		if (p == end)
			break;
		switch (*p) {
		case '"':
			p = skip_string(p + 1, end);
			break;
		case '{':
		case '[':
			depth++;
			p++;
			break;
		case '}':
		case ']':
			if (depth == 0)	/* not JSON: stop at it */
				return p;
			depth--;
			p++;
			break;
		default:
			if (depth == 0) {
				/* A number or a literal: up to what ends it. */
				while (p < end && !is_ws(*p) && *p != ',' &&
				    *p != '}' && *p != ']')
					p++;
			} else
				p++;
			break;
		}
	} while (depth > 0);
	return p;
}

static int
hex4(const char *p, const char *end)
{
	int	 v = 0, i, d;

	if (end - p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			d = p[i] - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/*
 * One character of the string at *pp, decoded into buf (its UTF-8, 1-4
 * bytes); advances *pp.  0 at the closing quote, the end, or a bad escape.
 */
static size_t
next_char(const char **pp, const char *end, char *buf)
{
	const char	*p = *pp;
	int32_t		 cp;
	int		 lo;

	if (p == end || *p == '"')
		return 0;
	if (*p != '\\') {
		buf[0] = *p;
		*pp = p + 1;
		return 1;
	}
	if (++p == end)
		return 0;
	*pp = p + 1;
	switch (*p) {
	case 'b':	buf[0] = '\b'; return 1;
	case 'f':	buf[0] = '\f'; return 1;
	case 'n':	buf[0] = '\n'; return 1;
	case 'r':	buf[0] = '\r'; return 1;
	case 't':	buf[0] = '\t'; return 1;
	case 'u':	break;
	default:	buf[0] = *p; return 1;	/* \" \\ \/ */
	}
	if ((cp = hex4(p + 1, end)) == -1)
		return 0;
	p += 5;
	if (cp >= 0xd800 && cp <= 0xdbff && end - p >= 6 && p[0] == '\\' &&
	    p[1] == 'u' && (lo = hex4(p + 2, end)) >= 0xdc00 && lo <= 0xdfff) {
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		p += 6;
	}
	*pp = p;
	if (cp < 0x80) {
		buf[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		buf[0] = (char)(0xc0 | cp >> 6);
		buf[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		buf[0] = (char)(0xe0 | cp >> 12);
		buf[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		buf[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	buf[0] = (char)(0xf0 | cp >> 18);
	buf[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	buf[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	buf[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Is the string whose body starts at p the key?  *next: past its closing
 * quote.
 */
static bool
key_is(const char *p, const char *end, const char *key, size_t keylen,
    const char **next)
{
	const char	*q = p;
	char		 buf[4];
	size_t		 n, k = 0;
	bool		 same = true;

	/* The common case, a key without escapes, without decoding. */
	while (q < end && *q != '"' && *q != '\\')
		q++;
	if (q < end && *q == '"') {
		*next = q + 1;
		return (size_t)(q - p) == keylen && memcmp(p, key, keylen) == 0;
	}
	while ((n = next_char(&p, end, buf)) > 0) {
		if (same && (keylen - k < n || memcmp(key + k, buf, n) != 0))
			same = false;
		k += n;
	}
	*next = skip_string(p, end);
	return same && k == keylen;
}

bool
rawjson_member(const char *text, size_t len, const char *key, size_t keylen,
    struct rawjson_span *out)
{
	const char	*p = text, *end = text + len, *v;
	bool		 found = false, match;

	p = skip_ws(p, end);
	if (p == end || *p++ != '{')
		return false;
	for (;;) {
		p = skip_ws(p, end);
		if (p == end || *p != '"')
			break;		/* '}': the end of the object */
		match = key_is(p + 1, end, key, keylen, &p);
		p = skip_ws(p, end);
		if (p == end || *p++ != ':')
			break;
		v = skip_ws(p, end);
		p = skip_value(v, end);
		if (match) {
			out->p = v;
			out->len = (size_t)(p - v);
			found = true;
		}
		p = skip_ws(p, end);
		if (p == end || *p++ != ',')
			break;
	}
	return found;
}

bool
rawjson_array_begin(struct rawjson_iter *it, const char *text, size_t len)
{
	const char	*end = text + len, *p = skip_ws(text, end);

	if (p == end || *p != '[')
		return false;
	it->p = skip_ws(p + 1, end);
	it->end = end;
	return true;
}

bool
rawjson_array_next(struct rawjson_iter *it, struct rawjson_span *out)
{
	const char	*p = it->p, *end = it->end;

	if (p == end || *p == ']')
		return false;
	out->p = p;
	p = skip_value(p, end);
	out->len = (size_t)(p - out->p);
	p = skip_ws(p, end);
	if (p < end && *p == ',')
		p = skip_ws(p + 1, end);
	else
		p = end;	/* ']', or not JSON: no more elements */
	it->p = p;
	return out->len > 0;
}

size_t
rawjson_minify(char *dst, const char *src, size_t len)
{
	const char	*p = src, *end = src + len, *s;
	size_t		 n = 0;

	while (p < end) {
		if (is_ws(*p)) {
			p++;
			continue;
		}
		s = p;
		if (*p == '"')
			p = skip_string(p + 1, end);
		else
			while (++p < end && !is_ws(*p) && *p != '"')
				;
		/* Runs are copied whole: most values hold no whitespace. */
		if (dst != NULL && dst + n != s)
			memmove(dst + n, s, (size_t)(p - s));
		n += (size_t)(p - s);
	}
	return n;
}
