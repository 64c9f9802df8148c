/*
 * cli-color: job states in colour on a terminal (see cli-color.h).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli-color.h"

static bool	color_on;

static const struct {
	const char	*state;
	const char	*sgr;
} state_colors[] = {
	{ "succeeded", "\033[32m" },		/* green */
	{ "failed", "\033[31m" },		/* red */
	{ "deadline_exceeded", "\033[31m" },
	{ "canceled", "\033[33m" },		/* yellow */
	{ "running", "\033[36m" },		/* cyan */
};

int
cli_color_parse(const char *when, enum cli_color *out)
{
	if (strcmp(when, "auto") == 0)
		*out = CLI_COLOR_AUTO;
	else if (strcmp(when, "always") == 0)
		*out = CLI_COLOR_ALWAYS;
	else if (strcmp(when, "never") == 0)
		*out = CLI_COLOR_NEVER;
	else
		return -1;
	return 0;
}

void
cli_color_setup(enum cli_color mode)
{
	const char	*no_color = getenv("NO_COLOR");
	const char	*term = getenv("TERM");

	if (mode != CLI_COLOR_AUTO)
		color_on = mode == CLI_COLOR_ALWAYS;
	else
		color_on = isatty(STDOUT_FILENO) &&
		    (no_color == NULL || *no_color == '\0') &&
		    (term == NULL || strcmp(term, "dumb") != 0);
}

const char *
cli_color_state(const char *state)
{
	size_t	i;

	if (!color_on || state == NULL)
		return NULL;
	for (i = 0; i < sizeof(state_colors) / sizeof(state_colors[0]); i++)
		if (strcmp(state_colors[i].state, state) == 0)
			return state_colors[i].sgr;
	return NULL;
}

char *
cli_color_state_text(const char *state)
{
	const char	*sgr = cli_color_state(state);
	char		*s;

	if (sgr == NULL)
		return must(strdup(state));
	if (asprintf(&s, "%s%s%s", sgr, state, CLI_COLOR_RESET) == -1)
		must(NULL);
	return s;
}
