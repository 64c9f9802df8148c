/*
 * UTF-8 repair: job output is arbitrary bytes, but JSON strings are UTF-8.
 * Invalid sequences (and truncated ones at the end) become U+FFFD.
 */
#ifndef JQ_UTF8_H
#define JQ_UTF8_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

/*
 * Length of the valid UTF-8 sequence at s (at most len bytes), or 0 if
 * the bytes there are not one: overlong forms, surrogates and code points
 * past U+10FFFF are refused, as jansson refuses them.
 */
size_t	 utf8_seq_len(const char *s, size_t len);
/* True if the len bytes at s are valid UTF-8 (no surrogates, <= U+10FFFF). */
bool	 utf8_valid(const char *s, size_t len);
/*
 * For bytes that arrive in pieces: the length of the longest prefix of s
 * (len bytes) that does not end inside a multibyte sequence that more
 * bytes could still complete.  Repairing s piece by piece, each piece
 * cut at this length and the rest carried over (the last piece whole),
 * gives what utf8_repair() gives for all of s at once.
 */
size_t	 utf8_complete_len(const char *s, size_t len);
/* Replace sb's contents by their repaired form (in place when valid). */
void	 utf8_repair(struct strbuf *sb);

#endif
