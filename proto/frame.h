/*
 * Line framing: bytes in, whole lines out.
 *
 * A frame is one line ended by "\n" ("\r\n" accepted).  The reader holds at
 * most max_frame + 2 bytes, so memory per connection stays bounded however
 * much a peer sends.  A line longer than max_frame (not counting its "\r\n")
 * is reported once as FRAME_TOO_LARGE, as soon as it is known to be too long;
 * the reader then drops bytes up to and including the next "\n" and carries
 * on with the line after it (resynchronisation).
 *
 * Callers feed only while frame_reader_next() says FRAME_NONE: the reader
 * never buffers beyond the line it is assembling plus what one feed brought,
 * which is how a caller applies back-pressure (stop feeding, stop reading).
 */
#ifndef JQ_FRAME_H
#define JQ_FRAME_H

#include <stdbool.h>
#include <stddef.h>

struct frame_reader {
	char	*buf;		/* owned; grows up to max_frame + 2 bytes */
	size_t	 cap;		/* allocated size of buf */
	size_t	 start;		/* first byte not yet returned */
	size_t	 len;		/* end of valid bytes */
	size_t	 scanned;	/* bytes from start known to hold no '\n' */
	size_t	 max_frame;
	bool	 discarding;	/* inside an oversized line */
};

enum frame_status {
	FRAME_NONE,		/* no whole line yet: feed more */
	FRAME_LINE,		/* *line, *len: one line without "\n"/"\r\n" */
	FRAME_TOO_LARGE,	/* a line over max_frame was dropped */
};

void	 frame_reader_init(struct frame_reader *fr, size_t max_frame);
void	 frame_reader_fini(struct frame_reader *fr);
/* Let lines from now on be up to max_frame bytes (never lowers it). */
void	 frame_reader_raise_max(struct frame_reader *fr, size_t max_frame);

/*
 * Offer len bytes.  Returns how many were taken (possibly fewer than len
 * when the buffer is full; 0 only when len is 0 or the buffer is full).
 * Bytes of an oversized line are taken and dropped.  Aborts on OOM.
 */
size_t	 frame_reader_feed(struct frame_reader *fr, const void *data,
	    size_t len);

/*
 * Take the next event.  A FRAME_LINE's bytes are borrowed: valid until the
 * next call to feed or next.  Empty lines are returned like any other.
 */
enum frame_status frame_reader_next(struct frame_reader *fr,
	    const char **line, size_t *len);

/* Bytes buffered and not yet returned. */
size_t	 frame_reader_pending(const struct frame_reader *fr);

#endif
