/*
 * Line framing: bytes in, whole lines out, memory bounded per connection.
 *
 * The buffer holds the unreturned bytes [start, len).  Its size never
 * exceeds max_frame + 2, the longest acceptable line with its "\r\n", so a
 * peer that never sends a newline costs at most that much.  Invariants:
 *
 *   - start <= len <= cap <= max_frame + 2;
 *   - [start, start + scanned) holds no '\n', so each byte is searched for
 *     a newline once however the input is split into feeds;
 *   - while discarding (inside an oversized line), nothing is buffered:
 *     feed() drops bytes up to and including the next '\n' without
 *     copying them.
 *
 * An oversized line is reported as soon as the buffered part proves it too
 * long, so the peer learns of its mistake before sending the rest.  A final
 * '\r' might still be half of "\r\n", so it alone does not prove that.
 *
 * Compaction is lazy: bytes are moved to the front of the buffer only when
 * a feed does not fit behind them.  Callers drain every line before feeding
 * again (see frame.h), so what is moved is one partial line, which is then
 * at the front and is not moved again.  The buffer grows geometrically up
 * to the cap and is given back once it is large and empty, so a connection
 * that once sent a big frame does not keep the memory for its lifetime.
 *
 * Used by the daemon's connections (the client library reads replies
 * with a reader of its own: they may be far longer than max_frame);
 * neither the socket nor the event loop is visible here.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

#define FRAME_INITIAL_CAP	4096
/* An empty buffer larger than this is freed rather than kept. */
#define FRAME_KEEP_CAP		(64 * 1024)

static size_t
frame_reader_limit(const struct frame_reader *fr)
{
	return fr->max_frame + 2;
}

void
frame_reader_init(struct frame_reader *fr, size_t max_frame)
{
	assert(max_frame <= SIZE_MAX - 2);
	memset(fr, 0, sizeof(*fr));
	fr->max_frame = max_frame;
}

void
frame_reader_fini(struct frame_reader *fr)
{
	free(fr->buf);
	memset(fr, 0, sizeof(*fr));
}

void
frame_reader_raise_max(struct frame_reader *fr, size_t max_frame)
{
	assert(max_frame <= SIZE_MAX - 2);
	if (max_frame > fr->max_frame)
		fr->max_frame = max_frame;
}

/* Make room for n more bytes behind len; n fits within the limit. */
static void
frame_reader_make_room(struct frame_reader *fr, size_t n)
{
	size_t	 pending = fr->len - fr->start;
	size_t	 limit = frame_reader_limit(fr);
	size_t	 cap;
	char	*buf;

	assert(pending + n <= limit);
	if (fr->len + n <= fr->cap)
		return;
	if (fr->start > 0) {
		memmove(fr->buf, fr->buf + fr->start, pending);
		fr->start = 0;
		fr->len = pending;
		if (fr->len + n <= fr->cap)
			return;
	}
	cap = fr->cap > 0 ? fr->cap : FRAME_INITIAL_CAP;
	while (cap < fr->len + n && cap < limit / 2)
		cap *= 2;
	if (cap < fr->len + n || cap > limit)
		cap = limit;
	if ((buf = realloc(fr->buf, cap)) == NULL)
		abort();
	fr->buf = buf;
	fr->cap = cap;
}

size_t
frame_reader_feed(struct frame_reader *fr, const void *data, size_t len)
{
	const char	*p = data, *nl;
	size_t		 taken = 0, room, n;

	if (len == 0)
		return 0;
	if (fr->discarding) {
		assert(fr->start == fr->len);
		if ((nl = memchr(p, '\n', len)) == NULL)
			return len;
		taken = (size_t)(nl - p) + 1;
		fr->discarding = false;
		p += taken;
		len -= taken;
	}
	if (fr->start == fr->len) {
		/* Nothing pending: rewinding is free. */
		fr->start = fr->len = 0;
		fr->scanned = 0;
		if (fr->cap > FRAME_KEEP_CAP) {
			free(fr->buf);
			fr->buf = NULL;
			fr->cap = 0;
		}
	}
	room = frame_reader_limit(fr) - (fr->len - fr->start);
	n = len < room ? len : room;
	if (n == 0)
		return taken;
	frame_reader_make_room(fr, n);
	memcpy(fr->buf + fr->len, p, n);
	fr->len += n;
	return taken + n;
}

/*
 * True if the buffered part of the current line, which holds no '\n',
 * already proves the line longer than max_frame.
 */
static bool
frame_reader_too_long(const struct frame_reader *fr)
{
	size_t	 pending = fr->len - fr->start;

	if (pending == 0)
		return false;
	if (fr->buf[fr->len - 1] == '\r')
		pending--;
	return pending > fr->max_frame;
}

enum frame_status
frame_reader_next(struct frame_reader *fr, const char **line, size_t *len)
{
	size_t	 pending = fr->len - fr->start;
	size_t	 linelen;
	char	*begin, *nl;

	if (pending > fr->scanned) {
		begin = fr->buf + fr->start;
		nl = memchr(begin + fr->scanned, '\n', pending - fr->scanned);
		if (nl != NULL) {
			linelen = (size_t)(nl - begin);
			fr->start += linelen + 1;
			fr->scanned = 0;
			if (linelen > 0 && begin[linelen - 1] == '\r')
				linelen--;
			/*
			 * A whole line can still be too long: one byte
			 * over, or a lone '\r' that turned out to be data.
			 */
			if (linelen > fr->max_frame)
				return FRAME_TOO_LARGE;
			*line = begin;
			*len = linelen;
			return FRAME_LINE;
		}
		fr->scanned = pending;
	}
	if (frame_reader_too_long(fr)) {
		fr->start = fr->len = 0;
		fr->scanned = 0;
		fr->discarding = true;
		return FRAME_TOO_LARGE;
	}
	return FRAME_NONE;
}

size_t
frame_reader_pending(const struct frame_reader *fr)
{
	return fr->len - fr->start;
}
