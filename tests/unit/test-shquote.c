/*
 * Unit tests for proto/shquote.c: words come out as a POSIX shell reads
 * them back, plain words untouched, the rest in single quotes.
 */
#include <stdlib.h>
#include <string.h>

#include "shquote.h"
#include "strbuf.h"
#include "tap.h"

static char *
quoted(const char *word)
{
	struct strbuf	 sb = STRBUF_INIT;

	shquote_append(&sb, word);
	return strbuf_detach(&sb, NULL);
}

int
main(void)
{
	static const struct {
		const char	*word;
		const char	*want;
	} cases[] = {
		{ "wc", "wc" },
		{ "-l", "-l" },
		{ "a.csv", "a.csv" },
		{ "/usr/bin/env", "/usr/bin/env" },
		{ "--opt=x,y:z@h%1+2", "--opt=x,y:z@h%1+2" },
		{ "", "''" },
		{ "a b", "'a b'" },
		{ "it's", "'it'\\''s'" },
		{ "'", "''\\'''" },
		{ "$HOME", "'$HOME'" },
		{ "a*b?[c]", "'a*b?[c]'" },
		{ "x\ny", "$'x\\x0ay'" },
		{ "it's\t\\", "$'it\\'s\\x09\\\\'" },
		{ "\x1b[2J", "$'\\x1b[2J'" },
		{ "caf\xc3\xa9", "'caf\xc3\xa9'" },
		{ "echo \"$1\"; exit 2", "'echo \"$1\"; exit 2'" },
	};
	size_t	 i;
	char	*s;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = quoted(cases[i].word);
		is_str(s, cases[i].want, cases[i].want);
		free(s);
	}
	return done_testing();
}
