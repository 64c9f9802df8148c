/*
 * Unit tests for proto/frame.c, the line splitter: lines split and joined
 * across feeds, "\r\n", empty lines, the max_frame boundary on both sides,
 * one FRAME_TOO_LARGE per oversized line and resynchronisation after it,
 * back-pressure when the buffer is full, and a randomised comparison with
 * a model that knows where each line ends.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "tap.h"

/* Feed a whole C string; the caller knows it fits. */
static size_t
feed_str(struct frame_reader *fr, const char *s)
{
	return frame_reader_feed(fr, s, strlen(s));
}

/* Take the next event and check it is the line expected. */
static void
is_line(struct frame_reader *fr, const char *expect, const char *name)
{
	const char		*line = NULL;
	size_t			 len = 0;
	enum frame_status	 st;

	st = frame_reader_next(fr, &line, &len);
	if (!ok(st == FRAME_LINE && len == strlen(expect) &&
	    memcmp(line, expect, len) == 0, "%s", name)) {
		printf("#   status %d, got '%.*s', expected '%s'\n", st,
		    st == FRAME_LINE ? (int)len : 0,
		    st == FRAME_LINE ? line : "", expect);
	}
}

static void
is_status(struct frame_reader *fr, enum frame_status expect,
    const char *name)
{
	const char	*line;
	size_t		 len;

	is_int(frame_reader_next(fr, &line, &len), expect, name);
}

static void
test_single_and_multiple(void)
{
	struct frame_reader	 fr;

	frame_reader_init(&fr, 64);
	is_status(&fr, FRAME_NONE, "nothing fed: none");
	is_int(feed_str(&fr, "hello\n"), 6, "feed takes a whole line");
	is_line(&fr, "hello", "one line per feed");
	is_status(&fr, FRAME_NONE, "then none");
	is_int(frame_reader_pending(&fr), 0, "nothing pending");

	is_int(feed_str(&fr, "a\nbb\nccc\n"), 9, "feed three lines");
	is_line(&fr, "a", "first of three");
	is_int(frame_reader_pending(&fr), 7, "pending counts later lines");
	is_line(&fr, "bb", "second of three");
	is_line(&fr, "ccc", "third of three");
	is_status(&fr, FRAME_NONE, "then none");

	feed_str(&fr, "{\"op\":");
	is_status(&fr, FRAME_NONE, "partial line: none");
	is_int(frame_reader_pending(&fr), 6, "partial line pending");
	feed_str(&fr, "\"ping\"}\n{\"op\"");
	is_line(&fr, "{\"op\":\"ping\"}", "line joined across feeds");
	is_status(&fr, FRAME_NONE, "next partial: none");
	is_int(frame_reader_pending(&fr), 5, "next partial pending");
	is_int(frame_reader_feed(&fr, "", 0), 0, "empty feed takes 0");
	frame_reader_fini(&fr);
}

static void
test_byte_feeds(void)
{
	struct frame_reader	 fr;
	const char		*s = "{\"op\":\"recv\",\"chan\":\"jobs\"}\n";
	const char		*line;
	size_t			 i, n = strlen(s), len;
	int			 none = 0, scanned = 1, taken = 1;

	frame_reader_init(&fr, 64);
	for (i = 0; i + 1 < n; i++) {
		taken &= frame_reader_feed(&fr, s + i, 1) == 1;
		none += frame_reader_next(&fr, &line, &len) == FRAME_NONE;
		/* Every byte fed so far was searched once, not again. */
		scanned &= fr.scanned == i + 1;
	}
	ok(taken, "each 1-byte feed taken");
	is_int(none, n - 1, "no line before the newline");
	ok(scanned, "scanned tracks the bytes already searched");
	frame_reader_feed(&fr, s + n - 1, 1);
	is_line(&fr, "{\"op\":\"recv\",\"chan\":\"jobs\"}",
	    "line assembled from 1-byte feeds");
	is_int(fr.scanned, 0, "scanned reset after a line");
	frame_reader_fini(&fr);
}

static void
test_crlf_and_empty(void)
{
	struct frame_reader	 fr;

	frame_reader_init(&fr, 64);
	feed_str(&fr, "abc\r\n");
	is_line(&fr, "abc", "\\r\\n stripped");
	feed_str(&fr, "abc\r");
	is_status(&fr, FRAME_NONE, "\\r alone waits");
	feed_str(&fr, "\n");
	is_line(&fr, "abc", "\\r\\n split across feeds");
	feed_str(&fr, "a\rb\n");
	is_line(&fr, "a\rb", "\\r inside a line kept");
	feed_str(&fr, "ab\r\r\n");
	is_line(&fr, "ab\r", "only one \\r stripped");
	feed_str(&fr, "\n\r\n\n");
	is_line(&fr, "", "empty line");
	is_line(&fr, "", "empty \\r\\n line");
	is_line(&fr, "", "another empty line");
	is_status(&fr, FRAME_NONE, "then none");
	feed_str(&fr, "\r");
	is_status(&fr, FRAME_NONE, "lone \\r waits");
	feed_str(&fr, "\nx\n");
	is_line(&fr, "", "lone \\r then \\n is an empty line");
	is_line(&fr, "x", "line after it");
	frame_reader_fini(&fr);
}

static void
test_max_frame_boundary(void)
{
	struct frame_reader	 fr;

	frame_reader_init(&fr, 8);
	is_int(feed_str(&fr, "12345678\n"), 9, "max_frame line taken");
	is_line(&fr, "12345678", "exactly max_frame accepted");
	is_int(feed_str(&fr, "12345678\r\n"), 10, "max_frame + \\r\\n taken");
	is_line(&fr, "12345678", "exactly max_frame with \\r\\n accepted");

	feed_str(&fr, "12345678");
	is_status(&fr, FRAME_NONE, "max_frame bytes, no newline: waits");
	feed_str(&fr, "\r");
	is_status(&fr, FRAME_NONE, "then \\r: still waits (may be \\r\\n)");
	feed_str(&fr, "\n");
	is_line(&fr, "12345678", "max_frame split before \\r\\n accepted");

	is_int(feed_str(&fr, "123456789\nok\n"), 10,
	    "feed stops at max_frame + 2 bytes");
	is_status(&fr, FRAME_TOO_LARGE, "max_frame + 1 rejected");
	feed_str(&fr, "ok\n");
	is_line(&fr, "ok", "next line after a whole oversized line");
	is_status(&fr, FRAME_NONE, "reported once");

	feed_str(&fr, "123456789\r");
	is_status(&fr, FRAME_TOO_LARGE,
	    "max_frame + 1 then \\r: rejected before the \\n");
	feed_str(&fr, "\n");
	is_status(&fr, FRAME_NONE, "its \\n dropped");
	is_int(frame_reader_pending(&fr), 0, "nothing pending");
	is_int(feed_str(&fr, "12345678\r\r\n"), 10, "cap taken");
	is_status(&fr, FRAME_TOO_LARGE, "max_frame + \\r\\r\\n rejected");
	feed_str(&fr, "\n");
	is_status(&fr, FRAME_NONE, "then none");

	feed_str(&fr, "12345678\r");
	is_status(&fr, FRAME_NONE, "\\r after max_frame bytes waits");
	feed_str(&fr, "X");
	is_status(&fr, FRAME_TOO_LARGE, "\\r that is data: too large at once");
	feed_str(&fr, "\nok\n");
	is_line(&fr, "ok", "resync after it");
	frame_reader_fini(&fr);

	frame_reader_init(&fr, 0);
	feed_str(&fr, "\n");
	is_line(&fr, "", "max_frame 0: empty line");
	feed_str(&fr, "\r\n");
	is_line(&fr, "", "max_frame 0: empty \\r\\n line");
	feed_str(&fr, "a");
	is_status(&fr, FRAME_TOO_LARGE, "max_frame 0: one byte too large");
	feed_str(&fr, "\n\n");
	is_line(&fr, "", "max_frame 0: resync");
	frame_reader_fini(&fr);
}

static void
test_oversized_early(void)
{
	struct frame_reader	 fr;

	frame_reader_init(&fr, 8);
	feed_str(&fr, "12345");
	is_status(&fr, FRAME_NONE, "short so far");
	feed_str(&fr, "6789");
	is_status(&fr, FRAME_TOO_LARGE, "too large before its newline");
	is_status(&fr, FRAME_NONE, "reported once");
	is_int(frame_reader_pending(&fr), 0, "nothing kept of it");
	is_int(feed_str(&fr, "more bytes of it"), 16, "rest taken");
	is_status(&fr, FRAME_NONE, "and dropped silently");
	is_int(frame_reader_pending(&fr), 0, "still nothing kept");
	is_int(feed_str(&fr, "tail\nnext\n"), 10,
	    "newline and next line in one feed taken");
	is_line(&fr, "next", "resync: line after the oversized one");
	is_status(&fr, FRAME_NONE, "then none");

	is_int(feed_str(&fr, "0123456789abc\n"), 10, "cap taken at once");
	is_status(&fr, FRAME_TOO_LARGE, "too large at once");
	is_int(feed_str(&fr, "abc\n3\n"), 6, "rest and next line taken");
	is_line(&fr, "3", "resync");
	frame_reader_fini(&fr);
}

static void
test_oversized_byte_feeds(void)
{
	struct frame_reader	 fr;
	char			 input[128];
	const char		*line;
	size_t			 i, len;
	int			 too_large = 0, lines = 0, taken = 1;
	enum frame_status	 st;

	memset(input, 'x', 100);
	memcpy(input + 100, "\nok\n", 5);
	frame_reader_init(&fr, 8);
	for (i = 0; i < strlen(input); i++) {
		taken &= frame_reader_feed(&fr, input + i, 1) == 1;
		while ((st = frame_reader_next(&fr, &line, &len)) !=
		    FRAME_NONE) {
			if (st == FRAME_TOO_LARGE)
				too_large++;
			else if (len == 2 && memcmp(line, "ok", 2) == 0)
				lines++;
		}
		ok(fr.len - fr.start <= 10, "never more than max_frame + 2");
	}
	ok(taken, "every byte taken");
	is_int(too_large, 1, "oversized line in 1-byte feeds reported once");
	is_int(lines, 1, "line after it returned");
	frame_reader_fini(&fr);
}

static void
test_buffer_full(void)
{
	struct frame_reader	 fr;

	frame_reader_init(&fr, 4);
	is_int(feed_str(&fr, "a\nb\nc\nd\n"), 6,
	    "feed takes only max_frame + 2 bytes");
	is_int(frame_reader_pending(&fr), 6, "pending is the cap");
	is_int(feed_str(&fr, "d\n"), 0, "full buffer takes nothing");
	is_line(&fr, "a", "first");
	is_int(feed_str(&fr, "d\n"), 2, "room again after a line");
	is_line(&fr, "b", "second");
	is_line(&fr, "c", "third");
	is_line(&fr, "d", "fourth, fed after the buffer was full");
	is_status(&fr, FRAME_NONE, "then none");

	is_int(feed_str(&fr, "xxxxxxxxxx"), 6, "no newline: cap taken");
	is_status(&fr, FRAME_TOO_LARGE, "and reported too large");
	is_int(feed_str(&fr, "xxxx"), 4, "rest taken while discarding");
	is_int(feed_str(&fr, "\nabcd\r\nz"), 7,
	    "resync feed: dropped part plus max_frame + 2 taken");
	is_line(&fr, "abcd", "line after it");
	is_status(&fr, FRAME_NONE, "then none");
	is_int(feed_str(&fr, "z"), 1, "partial next line");
	is_int(frame_reader_pending(&fr), 1, "one byte pending");
	frame_reader_fini(&fr);
}

/* Lines longer than the first allocation: growth and compaction. */
static void
test_growth(void)
{
	struct frame_reader	 fr;
	size_t			 max = 1024 * 1024, i, n, off, total;
	char			*big, chunk[1000];
	const char		*line = NULL;
	size_t			 len = 0;
	enum frame_status	 st = FRAME_NONE;

	big = malloc(max);
	memset(big, 'v', max);
	frame_reader_init(&fr, max);
	/* A short line first leaves start > 0, so growth compacts first. */
	feed_str(&fr, "hi\npre");
	is_line(&fr, "hi", "short line before a big one");
	total = max - 3;
	for (off = 0; off < total; off += n) {
		n = total - off < 1000 ? total - off : 1000;
		if (frame_reader_feed(&fr, big + off, n) != n ||
		    (st = frame_reader_next(&fr, &line, &len)) != FRAME_NONE)
			break;
	}
	is_int(off, total, "1 MiB line taken in 1000-byte feeds");
	feed_str(&fr, "\n");
	st = frame_reader_next(&fr, &line, &len);
	ok(st == FRAME_LINE && len == max && memcmp(line, "pre", 3) == 0 &&
	    memcmp(line + 3, big, max - 3) == 0,
	    "line of exactly max_frame = 1 MiB accepted");
	ok(fr.cap <= max + 2, "buffer within max_frame + 2");
	feed_str(&fr, "after\n");
	is_line(&fr, "after", "small line after a big one");
	ok(fr.cap <= 64 * 1024, "big buffer given back once empty");

	memset(chunk, 'w', sizeof(chunk));
	for (i = 0; i < 1100; i++) {
		frame_reader_feed(&fr, chunk, sizeof(chunk));
		if ((st = frame_reader_next(&fr, &line, &len)) != FRAME_NONE)
			break;
	}
	is_int(st, FRAME_TOO_LARGE, "1.1 MB without newline too large");
	is_int(i, 1048, "reported once max_frame + 2 bytes arrived");
	frame_reader_fini(&fr);
	free(big);
}

/*
 * A model that knows each line: feed random lines (some oversized, some
 * with "\r\n", some with '\r' inside) in random chunks, draining after
 * each feed as callers must, and compare every event.
 */
static uint32_t rng_state = 12345;

static uint32_t
rng(uint32_t n)
{
	rng_state = rng_state * 1103515245 + 12345;
	return (rng_state >> 8) % n;
}

static void
test_random(void)
{
	enum { NLINES = 3000, MAX = 20 };
	struct frame_reader	 fr;
	char			 input[NLINES * 40], *expect[NLINES];
	size_t			 elen[NLINES], ilen = 0, off, n, k, got = 0;
	size_t			 i, j, clen;
	const char		*line;
	size_t			 len;
	enum frame_status	 st;
	int			 mismatch = 0, bounded = 1;

	for (i = 0; i < NLINES; i++) {
		clen = rng(3) == 0 ? rng(30) : rng(MAX + 2);
		expect[i] = input + ilen;
		for (j = 0; j < clen; j++)
			input[ilen++] = "ab\r{}"[rng(5)];
		elen[i] = clen;
		if (clen > 0 && input[ilen - 1] == '\r')
			elen[i]--;
		if (rng(2) == 0) {
			input[ilen++] = '\r';
			/* A line ending "\r\r\n" keeps one '\r'. */
			elen[i] = clen;
		}
		input[ilen++] = '\n';
	}
	frame_reader_init(&fr, MAX);
	for (off = 0; off < ilen; off += k) {
		n = 1 + rng(rng(4) == 0 ? 100 : 8);
		if (n > ilen - off)
			n = ilen - off;
		k = frame_reader_feed(&fr, input + off, n);
		bounded &= k > 0 && fr.len - fr.start <= MAX + 2;
		if (k == 0)
			break;	/* stuck: a full buffer that next() left */
		while ((st = frame_reader_next(&fr, &line, &len)) !=
		    FRAME_NONE) {
			if (got >= NLINES) {
				mismatch++;
				break;
			}
			if (elen[got] > MAX)
				mismatch += st != FRAME_TOO_LARGE;
			else
				mismatch += st != FRAME_LINE ||
				    len != elen[got] ||
				    memcmp(line, expect[got], len) != 0;
			got++;
		}
	}
	ok(bounded, "random: every feed progresses within the cap");
	is_int(got, NLINES, "random: one event per line");
	is_int(mismatch, 0, "random: events match the model");
	frame_reader_fini(&fr);
}

int
main(void)
{
	test_single_and_multiple();
	test_byte_feeds();
	test_crlf_and_empty();
	test_max_frame_boundary();
	test_oversized_early();
	test_oversized_byte_feeds();
	test_buffer_full();
	test_growth();
	test_random();
	return done_testing();
}
