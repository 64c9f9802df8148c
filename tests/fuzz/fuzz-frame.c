/*
 * Fuzz target: the frame reader (proto/frame.c).
 *
 * Input: byte 0 picks max_frame (0-7 for the degenerate sizes, else
 * 16..4096), byte 1 seeds the generator of chunk sizes, the rest is the
 * stream.  The stream is fed the way conn.c feeds it: in chunks, draining
 * every event before feeding again, re-offering what a feed did not take.
 *
 * Each event is compared with a model computed from the whole stream: the
 * next line is the bytes up to the next '\n' less one '\r' before it; it
 * is FRAME_LINE with exactly those bytes if it fits in max_frame, else one
 * FRAME_TOO_LARGE, after which the reader resumes after that '\n'
 * (resynchronisation).  An unterminated last line is reported only if it
 * is already too long.  Besides: lines are never longer than max_frame and
 * hold no '\n'; at most max_frame + 2 bytes are pending; a feed after
 * FRAME_NONE always makes progress; at the end, exactly the unterminated
 * tail is pending.
 */
#include <stdbool.h>
#include <string.h>

#include "frame.h"
#include "fuzz.h"

struct model {
	const uint8_t	*data;
	size_t		 len;
	size_t		 next;		/* where the next line starts */
	size_t		 max_frame;
};

/* Where the line at m->next ends (exclusive) and where the one after
   starts; *terminated tells whether a '\n' ends it. */
static void
model_line(const struct model *m, size_t *end, size_t *after,
    bool *terminated)
{
	const uint8_t	*nl;

	nl = memchr(m->data + m->next, '\n', m->len - m->next);
	if (nl != NULL) {
		*after = (size_t)(nl - m->data) + 1;
		*end = *after - 1;
		*terminated = true;
	} else {
		*after = *end = m->len;
		*terminated = false;
	}
	/* One '\r' is not part of the line (or does not yet prove it long). */
	if (*end > m->next && m->data[*end - 1] == '\r')
		(*end)--;
}

static void
model_check(struct model *m, enum frame_status st, const char *line,
    size_t len)
{
	size_t	 end, after;
	bool	 terminated;

	FUZZ_CHECK(m->next < m->len);
	model_line(m, &end, &after, &terminated);
	if (st == FRAME_LINE) {
		FUZZ_CHECK(terminated);
		FUZZ_CHECK(len <= m->max_frame);
		FUZZ_CHECK(memchr(line, '\n', len) == NULL);
		FUZZ_CHECK(len == end - m->next);
		FUZZ_CHECK(memcmp(line, m->data + m->next, len) == 0);
	} else {
		FUZZ_CHECK(st == FRAME_TOO_LARGE);
		FUZZ_CHECK(end - m->next > m->max_frame);
	}
	m->next = after;
}

/* xorshift32: chunk sizes that vary with the input, reproducibly. */
static uint32_t
next_rand(uint32_t *state)
{
	uint32_t	 x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

static size_t
chunk_size(uint32_t *state, size_t max_frame)
{
	uint32_t	 r = next_rand(state);

	switch (r % 4) {
	case 0:
		return 1 + (r >> 8) % 4;		/* byte by byte */
	case 1:
		return 1 + (r >> 8) % 64;
	case 2:
		return 1 + (r >> 8) % (2 * max_frame + 8);
	default:
		return (size_t)-1;			/* all the rest */
	}
}

/* Take every event now available; returns how many there were. */
static size_t
drain(struct frame_reader *fr, struct model *m)
{
	enum frame_status	 st;
	const char		*line;
	size_t			 len, n = 0;

	while ((st = frame_reader_next(fr, &line, &len)) != FRAME_NONE) {
		model_check(m, st, line, len);
		n++;
	}
	FUZZ_CHECK(frame_reader_pending(fr) <= m->max_frame + 2);
	return n;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader	 fr;
	struct model		 m;
	uint32_t		 state;
	size_t			 pos = 0, chunk, took, end, after;
	bool			 terminated;

	if (size < 2)
		return 0;
	memset(&m, 0, sizeof(m));
	m.max_frame = data[0] < 8 ? data[0] :
	    16 + (size_t)(data[0] - 8) * (4096 - 16) / (255 - 8);
	state = 0x9e3779b9u ^ ((uint32_t)data[1] * 0x01000193u);
	m.data = data + 2;
	m.len = size - 2;
	frame_reader_init(&fr, m.max_frame);

	while (pos < m.len) {
		chunk = chunk_size(&state, m.max_frame);
		if (chunk > m.len - pos)
			chunk = m.len - pos;
		while (chunk > 0) {
			/* drain() left FRAME_NONE: there must be room. */
			took = frame_reader_feed(&fr, m.data + pos, chunk);
			FUZZ_CHECK(took > 0 && took <= chunk);
			FUZZ_CHECK(frame_reader_pending(&fr) <=
			    m.max_frame + 2);
			pos += took;
			chunk -= took;
			drain(&fr, &m);
		}
	}
	FUZZ_CHECK(frame_reader_feed(&fr, "", 0) == 0);
	drain(&fr, &m);

	/* Everything but an unterminated tail that fits has been reported. */
	if (m.next < m.len) {
		model_line(&m, &end, &after, &terminated);
		FUZZ_CHECK(!terminated);
		FUZZ_CHECK(end - m.next <= m.max_frame);
		FUZZ_CHECK(frame_reader_pending(&fr) == m.len - m.next);
	} else
		FUZZ_CHECK(frame_reader_pending(&fr) == 0);
	frame_reader_fini(&fr);
	return 0;
}
