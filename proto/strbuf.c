/*
 * A growable byte buffer, always NUL-terminated once it holds anything.
 *
 * Used to assemble replies and dumped JSON in one allocation that is then
 * handed to the caller with strbuf_detach().  Growth is geometric so a run
 * of small appends costs amortised constant time.  Allocation failure
 * aborts: the daemon treats out-of-memory as fatal because everything it
 * has acknowledged is already on disk.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

#define STRBUF_MIN_CAP	64

/* Make room for extra more bytes plus the terminating NUL. */
void
strbuf_reserve(struct strbuf *sb, size_t extra)
{
	size_t	 need, cap;
	char	*data;

	if (extra > SIZE_MAX - sb->len - 1)
		abort();
	need = sb->len + extra + 1;
	if (need <= sb->cap)
		return;
	cap = sb->cap < STRBUF_MIN_CAP ? STRBUF_MIN_CAP : sb->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if ((data = realloc(sb->data, cap)) == NULL)
		abort();
	sb->data = data;
	sb->cap = cap;
}

void
strbuf_append(struct strbuf *sb, const void *data, size_t len)
{
	strbuf_reserve(sb, len);
	/* len may be 0 with data NULL; memcpy must not see that. */
	if (len > 0)
		memcpy(sb->data + sb->len, data, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
}

bool
strbuf_append_max(struct strbuf *sb, const void *data, size_t len,
    size_t max, bool *truncated)
{
	size_t	 room = sb->len >= max ? 0 : max - sb->len;

	if (len > room)
		*truncated = true;
	if (room == 0)
		return false;
	strbuf_append(sb, data, len < room ? len : room);
	return true;
}

void
strbuf_appendc(struct strbuf *sb, char c)
{
	strbuf_append(sb, &c, 1);
}

void
strbuf_appendf(struct strbuf *sb, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	strbuf_reserve(sb, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void
strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->data != NULL)
		sb->data[0] = '\0';
}

char *
strbuf_detach(struct strbuf *sb, size_t *len)
{
	char	*data;

	/* An empty buffer still hands over a real, empty string. */
	strbuf_reserve(sb, 0);
	sb->data[sb->len] = '\0';
	data = sb->data;
	if (len != NULL)
		*len = sb->len;
	sb->data = NULL;
	sb->len = sb->cap = 0;
	return data;
}

void
strbuf_fini(struct strbuf *sb)
{
	free(sb->data);
	sb->data = NULL;
	sb->len = sb->cap = 0;
}
