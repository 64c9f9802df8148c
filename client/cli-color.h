/*
 * cli-color: job states in colour on a terminal (jobs, job, wait).
 *
 * Decided once per run for stdout: --color=always, never, or auto (the
 * default): colour when stdout is a terminal, NO_COLOR is unset or empty
 * (no-color.org) and TERM is not "dumb".  A command-line choice beats
 * NO_COLOR, as no-color.org asks.  Colours: succeeded green, failed and
 * deadline_exceeded red, canceled yellow, running cyan, queued (and any
 * other state) the terminal's own.  Only whole cells are coloured, after
 * padding is decided, so columns stay aligned.
 */
#ifndef JQ_CLI_COLOR_H
#define JQ_CLI_COLOR_H

#include <stdbool.h>

enum cli_color {
	CLI_COLOR_AUTO = 0,
	CLI_COLOR_ALWAYS,
	CLI_COLOR_NEVER,
};

/* "auto", "always", "never" into *out: 0, or -1 for anything else. */
int		 cli_color_parse(const char *when, enum cli_color *out);
/* Decide for this run (looks at stdout and the environment). */
void		 cli_color_setup(enum cli_color);
/* The escape sequence that starts state's colour, or NULL: none. */
const char	*cli_color_state(const char *state);
/* Ends a colour. */
#define CLI_COLOR_RESET	"\033[0m"
/* state, coloured when colours are on, as a new string. */
char		*cli_color_state_text(const char *state);

#endif
