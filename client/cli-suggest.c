/*
 * cli-suggest: "did you mean" for a mistyped command or option, as git
 * and docker say it.
 *
 * A word's likely intent is the candidate at the smallest edit distance:
 * insertions, deletions, substitutions and swaps of two neighbours
 * ("sned" is one swap from "send"), letter case ignored.  Only a close
 * one is offered -- at most 1 edit for a word of up to 4 letters, 2 up to
 * 8, 3 beyond -- or one the word begins (at least 3 letters: "canc" for
 * "cancel"), so a word unlike every candidate gets no suggestion.
 */

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

#define SUGGEST_WORD_MAX	64	/* longer words are no typos */

struct suggest {
	const char	*word;
	const char	*best;
	size_t		 best_d;
};

/* s in lower case into buf (SUGGEST_WORD_MAX + 1 bytes): 0, or -1. */
static int
lower(const char *s, char *buf)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i == SUGGEST_WORD_MAX)
			return -1;
		buf[i] = (char)tolower((unsigned char)s[i]);
	}
	buf[i] = '\0';
	return 0;
}

/* Optimal string alignment distance of a and b, case ignored. */
static size_t
edit_distance(const char *word_a, const char *word_b)
{
	char	a[SUGGEST_WORD_MAX + 1], b[SUGGEST_WORD_MAX + 1];
	size_t	row[3][SUGGEST_WORD_MAX + 1];	/* rows i-2, i-1, i */
	size_t	*prev2 = row[0], *prev = row[1], *cur = row[2], *t;
	size_t	la, lb, i, j, d;

	if (lower(word_a, a) == -1 || lower(word_b, b) == -1)
		return SIZE_MAX;
	la = strlen(a);
	lb = strlen(b);
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		cur[0] = i;
		for (j = 1; j <= lb; j++) {
			d = prev[j - 1] + (a[i - 1] != b[j - 1]);
			if (prev[j] + 1 < d)
				d = prev[j] + 1;
			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			/* Two neighbours swapped: "sned". */
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < d)
				d = prev2[j - 2] + 1;
			cur[j] = d;
		}
		t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	return prev[lb];
}

static void
suggest_init(struct suggest *s, const char *word)
{
	s->word = word;
	s->best = NULL;
	s->best_d = SIZE_MAX;
}

static void
suggest_add(struct suggest *s, const char *cand)
{
	size_t	len = strlen(s->word), d, max;

	if (len == 0 || strlen(cand) < 2)
		return;
	max = len <= 4 ? 1 : len <= 8 ? 2 : 3;
	d = edit_distance(s->word, cand);
	if (d > max && len >= 3 && strncasecmp(cand, s->word, len) == 0)
		d = max;		/* a beginning: "canc" */
	if (d <= max && d < s->best_d) {
		s->best = cand;
		s->best_d = d;
	}
}

int
unknown_command(struct cli *cli, const char *name)
{
	const struct cmd	*cmds;
	struct suggest		 s;
	size_t			 i, n;

	cmds = cli_cmds(&n);
	suggest_init(&s, name);
	for (i = 0; i < n; i++)
		suggest_add(&s, cmds[i].name);
	if (s.best != NULL)
		return usage_error(cli, "unknown command '%s'; did you mean "
		    "'%s'?", name, s.best);
	return usage_error(cli, "unknown command '%s' (see jq-client help)",
	    name);
}

/* Offer each option of opts to s; *found: the best so far. */
static void
suggest_opts(struct suggest *s, const struct opt *opts,
    const struct opt **found)
{
	for (; opts != NULL && opts->name != NULL; opts++) {
		suggest_add(s, opts->name);
		if (s->best == opts->name)
			*found = opts;
	}
}

int
unknown_option(struct cli *cli, const char *arg)
{
	const struct opt	*found = NULL;
	struct suggest		 s;
	char			 word[SUGGEST_WORD_MAX + 1];
	const char		*p = arg + strspn(arg, "-");
	size_t			 len = strcspn(p, "=");

	/* "-x" is one letter: too short to guess from. */
	if (arg[1] == '-' && len > 0 && len <= SUGGEST_WORD_MAX) {
		memcpy(word, p, len);
		word[len] = '\0';
		suggest_init(&s, word);
		if (cli->cmd != NULL)
			suggest_opts(&s, cli->cmd->opts, &found);
		suggest_opts(&s, cli_global_opts(), &found);
		if (found != NULL)
			return usage_error(cli, "unknown option '%s'; did you "
			    "mean '--%s'?", arg, found->name);
	}
	return usage_error(cli, "unknown option '%s'", arg);
}
