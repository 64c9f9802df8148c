/*
 * UTF-8 validation and repair (RFC 3629: shortest form only, no UTF-16
 * surrogates, nothing above U+10FFFF).  See utf8.h.
 */
#include <stdint.h>
#include <string.h>

#include "utf8.h"

size_t
utf8_seq_len(const char *str, size_t len)
{
	const unsigned char	*s = (const unsigned char *)str;
	uint32_t		 cp;
	size_t		 n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool
utf8_valid(const char *s, size_t len)
{
	size_t	 i = 0, n;

	while (i < len) {
		if ((n = utf8_seq_len(s + i, len - i)) == 0)
			return false;
		i += n;
	}
	return true;
}

size_t
utf8_complete_len(const char *str, size_t len)
{
	const unsigned char	*s = (const unsigned char *)str;
	size_t			 k, need;

	/*
	 * Repair reads a byte outside 0x80-0xbf as the start of a sequence
	 * (a continuation byte never is), so the last such byte is where
	 * the final sequence starts.  A sequence before it cannot take it
	 * as a continuation: it ends invalid whatever follows.  Only a
	 * lead byte with too few bytes after it waits for more.
	 */
	for (k = len; k > 0 && len - k < 4; k--) {
		if ((s[k - 1] & 0xc0) != 0x80)
			break;
	}
	if (k == 0 || len - k >= 4)
		return len;
	k--;
	if (s[k] >= 0xc2 && s[k] <= 0xdf)
		need = 2;
	else if (s[k] >= 0xe0 && s[k] <= 0xef)
		need = 3;
	else if (s[k] >= 0xf0 && s[k] <= 0xf4)
		need = 4;
	else
		return len;
	return len - k < need ? k : len;
}

void
utf8_repair(struct strbuf *sb)
{
	static const char	 fffd[] = "\xef\xbf\xbd";
	struct strbuf		 out = STRBUF_INIT;
	const char		*p = sb->data;
	size_t			 i = 0, n, start;

	if (sb->len == 0 || utf8_valid(sb->data, sb->len))
		return;
	while (i < sb->len) {
		start = i;
		while (i < sb->len &&
		    (n = utf8_seq_len(p + i, sb->len - i)) > 0)
			i += n;
		strbuf_append(&out, p + start, i - start);
		if (i < sb->len) {
			/* One U+FFFD per invalid byte. */
			strbuf_append(&out, fffd, 3);
			i++;
		}
	}
	strbuf_fini(sb);
	*sb = out;
}
