/*
 * cli-term: what jq-client knows about terminals: the few ANSI (ECMA-48,
 * xterm) sequences its live views use, the size of the window, and
 * cutting a line to its width.  Every terminal emulator in use today
 * (xterm, VTE, kitty, tmux, screen, the Linux console, Windows Terminal)
 * knows these; jq-client reads no terminfo.
 */
#ifndef JQ_CLI_TERM_H
#define JQ_CLI_TERM_H

#include <stddef.h>

#define TERM_ALT_SCREEN_ENTER	"\033[?1049h"	/* smcup */
#define TERM_ALT_SCREEN_LEAVE	"\033[?1049l"	/* rmcup */
#define TERM_CURSOR_HIDE	"\033[?25l"	/* civis */
#define TERM_CURSOR_SHOW	"\033[?25h"	/* cnorm */
#define TERM_HOME		"\033[H"	/* cursor to the top left */
#define TERM_CLEAR_EOL		"\033[K"	/* clear to the end of line */
#define TERM_CLEAR_EOS		"\033[J"	/* ... of the screen */
#define TERM_SGR_RESET		"\033[0m"	/* colours off */

/* Lines and columns of the terminal on fd; 24 and 80 when it does not
   say (not a terminal, or a terminal of size 0). */
void	 term_size(int fd, int *rows, int *cols);

/*
 * How many bytes of s (len bytes of UTF-8 text, no newline) fit in cols
 * columns, counting each character as one column and never cutting one
 * in two; control sequences (ESC [ ... final byte: colours) take none.
 */
size_t	 term_fit(const char *s, size_t len, int cols);

/* Write all of buf to fd, going on after EINTR.  0, or -1 (errno). */
int	 term_write(int fd, const void *buf, size_t len);

#endif
