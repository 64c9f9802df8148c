/*
 * Unit tests for proto/utf8.c's repair of output that arrives in pieces:
 * cut every piece at utf8_complete_len(), carry the rest over, repair each
 * piece alone, and the pieces together are what utf8_repair() makes of the
 * whole (what a `watch` streams is what the job's result holds).
 */
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "tap.h"
#include "utf8.h"

/* Bytes that matter to UTF-8: ASCII, continuations, every kind of lead. */
static const unsigned char alphabet[] = {
	'a', '\n', 0x80, 0x8f, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf,
	0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff,
};

/* Repair s in pieces cut at cuts[] (sorted), as a watch does. */
static void
repair_in_pieces(const char *s, size_t len, const size_t *cuts, size_t ncuts,
    struct strbuf *out)
{
	struct strbuf	 piece = STRBUF_INIT;
	size_t		 sent = 0, end, i;

	for (i = 0; i <= ncuts; i++) {
		end = i < ncuts ? utf8_complete_len(s, cuts[i]) : len;
		if (end <= sent)
			continue;
		strbuf_reset(&piece);
		strbuf_append(&piece, s + sent, end - sent);
		utf8_repair(&piece);
		strbuf_append(out, piece.data, piece.len);
		sent = end;
	}
	strbuf_fini(&piece);
}

static void
test_examples(void)
{
	is_int(utf8_complete_len("ab", 2), 2, "ASCII is complete");
	is_int(utf8_complete_len("a\xe2\x82", 3), 1,
	    "a 3-byte sequence missing its last byte waits");
	is_int(utf8_complete_len("a\xe2\x82\xac", 4), 4, "the euro sign is whole");
	is_int(utf8_complete_len("\xf0\x9f\x98", 3), 0, "3 of 4 bytes wait");
	is_int(utf8_complete_len("\xc0", 1), 1, "0xc0 never starts a sequence");
	is_int(utf8_complete_len("\x80\x80", 2), 2, "lone continuations go");
	is_int(utf8_complete_len("\xf0\xc2", 2), 1,
	    "only the last lead waits");
	is_int(utf8_complete_len("", 0), 0, "empty");
}

static void
test_random(void)
{
	char		 s[64];
	size_t		 cuts[8], len, n, i, j, bad = 0;
	struct strbuf	 whole = STRBUF_INIT, pieces = STRBUF_INIT;

	srand(14);
	for (n = 0; n < 20000; n++) {
		len = (size_t)rand() % sizeof(s);
		for (i = 0; i < len; i++)
			s[i] = (char)alphabet[(size_t)rand() %
			    sizeof(alphabet)];
		for (i = 0; i < 8; i++)
			cuts[i] = len == 0 ? 0 : (size_t)rand() % (len + 1);
		for (i = 1; i < 8; i++)		/* sort the cuts */
			for (j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
				size_t t = cuts[j];
				cuts[j] = cuts[j - 1];
				cuts[j - 1] = t;
			}
		strbuf_reset(&whole);
		strbuf_append(&whole, s, len);
		utf8_repair(&whole);
		strbuf_reset(&pieces);
		repair_in_pieces(s, len, cuts, 8, &pieces);
		if (whole.len != pieces.len || (whole.len > 0 &&
		    memcmp(whole.data, pieces.data, whole.len) != 0))
			bad++;
	}
	is_int(bad, 0, "20000 random strings: pieces repair as the whole");
	strbuf_fini(&whole);
	strbuf_fini(&pieces);
}

int
main(void)
{
	test_examples();
	test_random();
	return done_testing();
}
