/*
 * Shell quoting for display (see shquote.h).
 */
#include <string.h>

#include "shquote.h"
#include "strbuf.h"

/* Characters that mean nothing special to a POSIX shell anywhere. */
#define SHQUOTE_SAFE	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
			"0123456789%+,-./:=@_"

static int
shquote_has_control(const char *w)
{
	for (; *w != '\0'; w++)
		if ((unsigned char)*w < 0x20 || *w == 0x7f)
			return 1;
	return 0;
}

void
shquote_append(struct strbuf *sb, const char *word)
{
	const char	*p;

	if (*word != '\0' && word[strspn(word, SHQUOTE_SAFE)] == '\0') {
		strbuf_append(sb, word, strlen(word));
		return;
	}
	if (shquote_has_control(word)) {
		/* $'...': control bytes as \xNN keep the text one line. */
		strbuf_append(sb, "$'", 2);
		for (p = word; *p != '\0'; p++) {
			if (*p == '\'' || *p == '\\')
				strbuf_appendf(sb, "\\%c", *p);
			else if ((unsigned char)*p < 0x20 || *p == 0x7f)
				strbuf_appendf(sb, "\\x%02x",
				    (unsigned char)*p);
			else
				strbuf_appendc(sb, *p);
		}
		strbuf_appendc(sb, '\'');
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
