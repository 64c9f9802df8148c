/*
 * Shell quoting for display (see shquote.h).
 */
#include <string.h>

#include "shquote.h"
#include "strbuf.h"

/* Characters that mean nothing special to a POSIX shell anywhere. */
#define SHQUOTE_SAFE	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
			"0123456789%+,-./:=@_"

void
shquote_append(struct strbuf *sb, const char *word)
{
	const char	*p;

	if (*word != '\0' && word[strspn(word, SHQUOTE_SAFE)] == '\0') {
		strbuf_append(sb, word, strlen(word));
		return;
	}
	strbuf_appendc(sb, '\'');
	for (p = word; *p != '\0'; p++) {
		if (*p == '\'')
			strbuf_append(sb, "'\\''", 4);
		else
			strbuf_appendc(sb, *p);
	}
	strbuf_appendc(sb, '\'');
}
