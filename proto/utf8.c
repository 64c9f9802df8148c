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
