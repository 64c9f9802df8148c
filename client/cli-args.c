/*
 * cli-args: a command's arguments, from argv to checked values.
 *
 * args_parse() splits a command's argv into options (from the command's
 * table in jq-client.c) and positionals; the rest of the file turns option
 * strings into request fields: integers, durations ("1.5s"), absolute
 * times (unix ms or RFC 3339), names and strings.  Nothing here talks to
 * the server, so every usage error is found before a connection is tried.
 */

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "request.h"

/* Is arg an option?  "-" alone and negative numbers ("-5", "-.5") are
   not, so values need no quoting. */
bool
arg_is_option(const char *arg)
{
	return arg[0] == '-' && arg[1] != '\0' &&
	    !isdigit((unsigned char)arg[1]) && arg[1] != '.';
}

/*
 * The option of opts (NULL-name ended) that arg -- "--name", "--name=V",
 * "-c" or "-cV" -- names, or NULL; *value: the value written in arg
 * itself, or NULL.  "-cV" is only an option that takes a value.
 */
const struct opt *
opt_lookup(const struct opt *opts, const char *arg, const char **value)
{
	const struct opt	*o;
	const char		*name, *eq;
	size_t			 namelen;
	bool			 is_long = arg[1] == '-';

	*value = NULL;
	name = arg + (is_long ? 2 : 1);
	eq = is_long ? strchr(name, '=') : NULL;
	namelen = eq != NULL ? (size_t)(eq - name) : strlen(name);
	for (o = opts; o->name != NULL; o++) {
		if (is_long ? strlen(o->name) == namelen &&
		    strncmp(o->name, name, namelen) == 0 :
		    o->shortc != 0 && o->shortc == name[0])
			break;
	}
	if (o->name == NULL)
		return NULL;
	if (eq != NULL)
		*value = eq + 1;
	else if (!is_long && name[1] != '\0') {
		if (!o->has_arg)
			return NULL;
		*value = name + 1;	/* -n5 */
	}
	return o;
}

/*
 * Options may come anywhere before "--" (or, for a command with
 * CMD_OPTS_FIRST, before the first positional); the global ones were
 * taken out before (jq-client.c).
 */
int
args_parse(struct cli *cli, int argc, char **argv, struct args *a)
{
	const struct cmd	*cmd = cli->cmd;
	const struct opt	*o;
	const char		*arg, *value;
	bool			 only_pos = false;
	int			 i, k;

	memset(a, 0, sizeof(*a));
	a->opts = cmd->opts;
	a->pos = must(calloc(argc + 1, sizeof(char *)));
	a->given = must(calloc(argc + 1, sizeof(a->given[0])));
	for (i = 0; i < argc; i++) {
		arg = argv[i];
		if (only_pos || !arg_is_option(arg)) {
			a->pos[a->npos++] = argv[i];
			only_pos = only_pos ||
			    (cmd->flags & CMD_OPTS_FIRST);
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
			return -1;
		if ((o = opt_lookup(cmd->opts, arg, &value)) == NULL)
			return unknown_option(cli, arg);
		k = o - cmd->opts;
		assert(k < OPTS_MAX);
		if (!o->has_arg) {
			if (value != NULL)
				return usage_error(cli, "option '--%s' takes "
				    "no value", o->name);
			value = "";
		} else if (o->has_arg == OPT_ARG_OPTIONAL && value == NULL) {
			value = "";
			if (cmd->max_pos == 0 && i + 1 < argc &&
			    isdigit((unsigned char)argv[i + 1][0]))
				value = argv[++i];
		} else if (value == NULL && i + 1 < argc)
			value = argv[++i];
		else if (value == NULL)
			return usage_error(cli, "option '%s' needs a value",
			    arg);
		a->val[k] = value;
		a->given[a->ngiven].opt = k;
		a->given[a->ngiven].val = value;
		a->ngiven++;
	}
	if (a->npos < cmd->min_pos)
		return usage_error(cli, "missing arguments");
	if (cmd->max_pos >= 0 && a->npos > cmd->max_pos)
		return usage_error(cli, "too many arguments");
	return 0;
}

void
args_free(struct args *a)
{
	free(a->pos);
	free(a->given);
	a->pos = NULL;
	a->given = NULL;
}

static int
opt_index(const struct args *a, const char *name)
{
	int	i;

	for (i = 0; a->opts != NULL && a->opts[i].name != NULL; i++)
		if (strcmp(a->opts[i].name, name) == 0)
			return i;
	return -1;
}

/* The value of option name (see struct args), or NULL. */
const char *
args_opt(const struct args *a, const char *name)
{
	int	i;

	return (i = opt_index(a, name)) >= 0 ? a->val[i] : NULL;
}

/*
 * The values of a repeatable option in order: start with *iter = 0 and
 * call until NULL.
 */
const char *
args_opt_next(const struct args *a, const char *name, int *iter)
{
	int	k = opt_index(a, name);

	for (; *iter < a->ngiven; (*iter)++) {
		if (a->given[*iter].opt == k)
			return a->given[(*iter)++].val;
	}
	return NULL;
}

/* A decimal integer in [min, max], nothing else around it. */
int
parse_int(const char *s, long long min, long long max, long long *out)
{
	char		*end;
	long long	 v;
	const char	*d = s[0] == '-' && min < 0 ? s + 1 : s;

	if (!isdigit((unsigned char)d[0]))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Exactly n digits at *p, advancing it; -1 when they are not there. */
static int
take_digits(const char **p, int n)
{
	int	v = 0;

	for (; n > 0; n--, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
	}
	return v;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static long long
days_from_civil(long long y, int m, int d)
{
	long long	era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/*
 * An absolute time in unix milliseconds: either that number itself, or an
 * RFC 3339 time "YYYY-MM-DDTHH:MM[:SS[.frac]]" with "Z" or a "+HH:MM" /
 * "-HH:MM" offset ("T" may be "t" or a space).  A zone is required: an
 * ISO 8601 time without one means local time, which is a guess we do not
 * make.  Fractions beyond milliseconds are cut.  Times before 1970 fail.
 */
int
parse_time_ms(const char *s, long long *out)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	const char	*p = s;
	long long	 ms, scale = 100;
	int		 y, mo, d, h, mi, sec = 0, frac = 0, off = 0, sign;
	int		 oh, om;
	bool		 leap;

	if (parse_int(s, 0, PROTO_INT_MAX, out) == 0)
		return 0;
	if ((y = take_digits(&p, 4)) < 0 || *p++ != '-' ||
	    (mo = take_digits(&p, 2)) < 0 || *p++ != '-' ||
	    (d = take_digits(&p, 2)) < 0 ||
	    (*p != 'T' && *p != 't' && *p != ' ') || *++p == '\0' ||
	    (h = take_digits(&p, 2)) < 0 || *p++ != ':' ||
	    (mi = take_digits(&p, 2)) < 0)
		return -1;
	if (*p == ':') {
		p++;
		if ((sec = take_digits(&p, 2)) < 0)
			return -1;
		if (*p == '.') {
			if (!isdigit((unsigned char)*++p))
				return -1;
			for (; isdigit((unsigned char)*p); p++, scale /= 10)
				frac += (*p - '0') * scale;
		}
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if ((oh = take_digits(&p, 2)) < 0 || *p++ != ':' ||
		    (om = take_digits(&p, 2)) < 0 || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 60 + om);
	} else
		return -1;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || sec > 60)
		return -1;
	ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi - off) * 60000LL +
	    sec * 1000LL + frac;
	if (ms < 0 || ms > PROTO_INT_MAX)
		return -1;
	*out = ms;
	return 0;
}

/*
 * If option name was given, parse it as a duration of at least min_ms into
 * field of req.
 */
int
opt_duration(struct cli *cli, const struct args *a, const char *name,
    json_t *req, const char *field, long long min_ms)
{
	const char	*s;
	int64_t		 ms;

	if ((s = args_opt(a, name)) == NULL)
		return 0;
	if (units_parse_duration(s, &ms) == -1)
		return usage_error(cli, "invalid duration '%s' for --%s "
		    "(e.g. 250ms, 5s, 1.5s, 2m, 1h, 1d)", s, name);
	if (ms < min_ms)
		return usage_error(cli, "--%s must be at least %lldms", name,
		    min_ms);
	req_set(req, field, json_integer(ms));
	return 0;
}

/* A channel or group name: 1-128 bytes of [A-Za-z0-9._:-]. */
int
check_name(struct cli *cli, const char *what, const char *name)
{
	if (!proto_chan_name_valid(name, strlen(name)))
		return usage_error(cli, "invalid %s name '%s' (1-%d "
		    "characters of A-Z a-z 0-9 . _ : -)", what, name,
		    CHAN_NAME_MAX);
	return 0;
}

/*
 * A string argument sent as is; UTF-8 is all the wire can carry.  NULL
 * with *rc set after a usage error.
 */
json_t *
string_arg(struct cli *cli, const char *what, const char *s, int *rc)
{
	json_t	*v;

	if ((v = json_string(s)) == NULL)
		*rc = usage_error(cli, "%s '%s' is not valid UTF-8", what, s);
	return v;
}

int
opt_limit(struct cli *cli, const struct args *a, long long max, json_t *req)
{
	const char	*s;
	long long	 v;

	if ((s = args_opt(a, "limit")) == NULL)
		return 0;
	if (parse_int(s, 1, max, &v) == -1)
		return usage_error(cli, "invalid --limit '%s' (1 to %lld)", s,
		    max);
	req_set(req, "limit", json_integer(v));
	return 0;
}

int
opt_string(struct cli *cli, const struct args *a, const char *name,
    json_t *req)
{
	const char	*s;
	json_t		*v;
	int		 rc = 0;

	if ((s = args_opt(a, name)) == NULL)
		return 0;
	if ((v = string_arg(cli, name, s, &rc)) != NULL)
		req_set(req, name, v);
	return rc;
}
