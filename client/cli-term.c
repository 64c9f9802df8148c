/*
 * cli-term: terminal size, cutting lines to it, writing to it (see
 * cli-term.h).
 */

#include <sys/ioctl.h>

#include <errno.h>
#include <unistd.h>

#include "cli-term.h"

void
term_size(int fd, int *rows, int *cols)
{
	struct winsize	ws;

	*rows = 24;
	*cols = 80;
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0) {
		if (ws.ws_row > 0)
			*rows = ws.ws_row;
		if (ws.ws_col > 0)
			*cols = ws.ws_col;
	}
}

size_t
term_fit(const char *s, size_t len, int cols)
{
	size_t	i;
	int	used = 0;

	for (i = 0; i < len; i++) {
		/* A continuation byte belongs to the character before. */
		if (((unsigned char)s[i] & 0xc0) == 0x80)
			continue;
		/* A control sequence (a state's colour) takes no column. */
		if (s[i] == '\033' && i + 1 < len && s[i + 1] == '[') {
			for (i += 2; i < len && ((unsigned char)s[i] < 0x40 ||
			    (unsigned char)s[i] > 0x7e); i++)
				;
			continue;
		}
		if (used == cols)
			return i;
		used++;
	}
	return len;
}

int
term_write(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
