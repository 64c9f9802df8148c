/*
 * A growable byte buffer, always NUL-terminated.  Aborts on OOM (the daemon
 * treats out-of-memory as fatal; acknowledged state is on disk).
 */
#ifndef JQ_STRBUF_H
#define JQ_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char	*data;		/* owned; NULL until the first append */
	size_t	 len;
	size_t	 cap;
};

#define STRBUF_INIT { NULL, 0, 0 }

/* Make room for extra more bytes at once (appends grow it by doubling). */
void	 strbuf_reserve(struct strbuf *sb, size_t extra);
void	 strbuf_append(struct strbuf *sb, const void *data, size_t len);
/*
 * Append what fits below max bytes in all; *truncated is set when some of
 * data did not fit.  Returns whether anything was appended.
 */
bool	 strbuf_append_max(struct strbuf *sb, const void *data, size_t len,
	    size_t max, bool *truncated);
void	 strbuf_appendc(struct strbuf *sb, char c);
void	 strbuf_appendf(struct strbuf *sb, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 strbuf_reset(struct strbuf *sb);
/* Hand over the bytes (caller frees; never NULL) and reset the buffer. */
char	*strbuf_detach(struct strbuf *sb, size_t *len);
void	 strbuf_fini(struct strbuf *sb);

#endif
