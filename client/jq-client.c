/*
 * jq-client: the command-line client of jqd, built on libjqclient.
 *
 * A run is: global options, then one command from the command table with
 * its own options and arguments.  Each handler first checks every argument
 * and builds its requests, and only then talks to the server: the
 * connection is opened lazily by the first cli_call(), so a usage error
 * (exit 2) is always reported before any connection is tried.
 *
 * Output has two modes.  With --json every reply is printed as it arrives,
 * compact, one per line, errors included; handlers print nothing else on
 * stdout.  Otherwise handlers print a human form of the reply (see the help
 * text for each command's format).  Errors always go to stderr as
 * "jq-client: <code>: <message>".  Exit status (SPEC section 7): 0 ok,
 * 1 error reply, 2 usage, 3 cannot connect or connection lost, 124 timeout.
 *
 * New commands (the job family: submit, job, jobs, logs, cancel, wait) are a
 * handler plus a line in cmds[]; option parsing, usage and help come from
 * the table.
 */

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jqclient.h"
#include "request.h"

#define EXIT_OK		0
#define EXIT_REPLY	1	/* error reply, or recv on a closed channel */
#define EXIT_USAGE	2
#define EXIT_CONNECT	3	/* cannot connect, or connection lost */
#define EXIT_TIMEOUT	124	/* error code "timeout", as timeout(1) */

#define OPTS_MAX	8	/* options of one command */
#define TOKEN_FILE_MAX	65536
#define TIMEOUT_MS_MAX	9007199254740991LL	/* 2^53-1, PROTOCOL.md */
#define CAP_MAX		2147483647LL

/* One option of a command: "--name VALUE", "-c VALUE" or a flag. */
struct opt {
	const char	*name;		/* long name, without "--" */
	int		 shortc;	/* short letter, or 0 */
	bool		 has_arg;
};

struct cmd;

/* A command line after option parsing. */
struct args {
	const struct opt *opts;		/* the command's, NULL-name ended */
	const char	*val[OPTS_MAX];	/* per option: value, "" for a flag
					   given, NULL when absent; the last
					   of repeated options counts */
	char		**pos;		/* positional arguments; owned array */
	int		 npos;
};

struct cli {
	char		*addr;		/* owned */
	char		*token;		/* owned; NULL: no auth */
	bool		 json;
	struct jqc	*conn;		/* NULL until the first call */
	const struct cmd *cmd;		/* the command being run */
};

struct cmd {
	const char	*name;
	int		(*run)(struct cli *, struct args *);
	const struct opt *opts;
	int		 min_pos;
	int		 max_pos;	/* -1: no limit */
	const char	*synopsis;
	const char	*help;		/* lines of the --help text */
};

static int	 usage_error(struct cli *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* The CLI may exit on out-of-memory; the library never does. */
static void *
must(void *p)
{
	if (p == NULL) {
		fputs("jq-client: out of memory\n", stderr);
		exit(EXIT_REPLY);
	}
	return (p);
}

static json_t *
req_new(const char *op)
{
	return (must(json_pack("{s:s}", "op", op)));
}

static void
req_set(json_t *req, const char *key, json_t *value)
{
	if (json_object_set_new(req, key, must(value)) == -1)
		must(NULL);
}

/* Print a usage error for the current command and return EXIT_USAGE. */
static int
usage_error(struct cli *cli, const char *fmt, ...)
{
	va_list	ap;

	fputs("jq-client: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cli->cmd != NULL)
		fprintf(stderr, "usage: jq-client %s\n", cli->cmd->synopsis);
	else
		fputs("usage: jq-client [OPTIONS] COMMAND [ARGS...]  "
		    "(see jq-client --help)\n", stderr);
	return (EXIT_USAGE);
}

/*
 * Argument checking.  Each returns 0, or EXIT_USAGE after printing why.
 */

static int
check_chan(struct cli *cli, const char *chan)
{
	if (!proto_chan_name_valid(chan, strlen(chan)))
		return (usage_error(cli, "invalid channel name '%s' (1-%d "
		    "characters of A-Z a-z 0-9 . _ : -)", chan,
		    CHAN_NAME_MAX));
	return (0);
}

/* A decimal integer in [min, max], nothing else around it. */
static int
parse_int(const char *s, long long min, long long max, long long *out)
{
	char		*end;
	long long	 v;

	if (!isdigit((unsigned char)s[0]))
		return (-1);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return (-1);
	*out = v;
	return (0);
}

/*
 * A duration: a decimal number with an optional fraction and a unit of ms,
 * s, m, h or d (none: seconds).  Computed in integers so "1.5s" is exactly
 * 1500; a fraction of a millisecond rounds up, so a duration that is not
 * zero never becomes 0 ("do not wait").
 */
static int
parse_duration_ms(const char *s, long long *out)
{
	static const struct {
		const char	*unit;
		long long	 ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	const char	*p = s;
	long long	 whole = 0, frac = 0, scale = 1, mult = 0, ms;
	int		 digits = 0;
	size_t		 i;

	for (; isdigit((unsigned char)*p); p++, digits++) {
		if (whole > TIMEOUT_MS_MAX)
			return (-1);
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.') {
		/* Digits past nanoseconds cannot matter to a timeout. */
		for (p++; isdigit((unsigned char)*p); p++, digits++) {
			if (scale < 1000000000LL) {
				frac = frac * 10 + (*p - '0');
				scale *= 10;
			}
		}
	}
	if (digits == 0)
		return (-1);
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(p, units[i].unit) == 0)
			mult = units[i].ms;
	if (mult == 0 || whole > TIMEOUT_MS_MAX / mult)
		return (-1);
	ms = whole * mult + (frac * mult + scale - 1) / scale;
	if (ms > TIMEOUT_MS_MAX)
		return (-1);
	*out = ms;
	return (0);
}

/* The value of option name (see struct args), or NULL. */
static const char *
args_opt(const struct args *a, const char *name)
{
	int	i;

	for (i = 0; a->opts != NULL && a->opts[i].name != NULL; i++)
		if (strcmp(a->opts[i].name, name) == 0)
			return (a->val[i]);
	return (NULL);
}

/* If option name was given, parse it as a duration into field of req. */
static int
opt_duration(struct cli *cli, const struct args *a, const char *name,
    json_t *req, const char *field)
{
	const char	*s;
	long long	 ms;

	if ((s = args_opt(a, name)) == NULL)
		return (0);
	if (parse_duration_ms(s, &ms) == -1)
		return (usage_error(cli, "invalid duration '%s' for --%s "
		    "(e.g. 250ms, 5s, 1.5s, 2m, 1h, 1d)", s, name));
	req_set(req, field, json_integer(ms));
	return (0);
}

/*
 * A VALUE argument: JSON when it parses as JSON (any JSON value, "\u0000"
 * allowed), else the argument itself as a string.  NULL when it is neither
 * JSON nor valid UTF-8.
 */
static json_t *
parse_value(const char *s)
{
	json_t	*v;

	v = json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (v == NULL)
		v = json_string(s);
	return (v);
}

static json_t *
value_arg(struct cli *cli, const char *s, int *rc)
{
	json_t	*v;

	if ((v = parse_value(s)) == NULL)
		*rc = usage_error(cli, "value '%s' is neither JSON nor UTF-8 "
		    "text", s);
	return (v);
}

/* A string argument sent as is; UTF-8 is all the wire can carry. */
static json_t *
string_arg(struct cli *cli, const char *what, const char *s, int *rc)
{
	json_t	*v;

	if ((v = json_string(s)) == NULL)
		*rc = usage_error(cli, "%s '%s' is not valid UTF-8", what, s);
	return (v);
}

/*
 * Output.
 */

/* A value as the human output shows it: strings raw, the rest JSON. */
static void
print_value(const json_t *v)
{
	if (json_is_string(v))
		fwrite(json_string_value(v), 1, json_string_length(v), stdout);
	else
		json_dumpf(v, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* The same as a string for tables and key/value lines.  Caller frees. */
static char *
value_text(const json_t *v)
{
	if (v == NULL)
		return (must(strdup("-")));
	if (json_is_string(v))
		return (must(strdup(json_string_value(v))));
	return (must(json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)));
}

/* Ordered "key value" pairs printed with the values in one column. */
struct kv_list {
	char	**keys;
	char	**vals;
	size_t	  n;
	size_t	  cap;
};

static void
kv_add(struct kv_list *kv, char *key, char *val)
{
	if (kv->n == kv->cap) {
		kv->cap = kv->cap == 0 ? 32 : kv->cap * 2;
		kv->keys = must(reallocarray(kv->keys, kv->cap,
		    sizeof(kv->keys[0])));
		kv->vals = must(reallocarray(kv->vals, kv->cap,
		    sizeof(kv->vals[0])));
	}
	kv->keys[kv->n] = key;
	kv->vals[kv->n] = val;
	kv->n++;
}

/* Print "key<suffix> value" lines, values aligned; frees the list. */
static void
kv_print_free(struct kv_list *kv, const char *suffix)
{
	size_t	i, w = 0;

	for (i = 0; i < kv->n; i++)
		if (strlen(kv->keys[i]) > w)
			w = strlen(kv->keys[i]);
	w += strlen(suffix);
	for (i = 0; i < kv->n; i++) {
		printf("%s%s%*s %s\n", kv->keys[i], suffix,
		    (int)(w - strlen(kv->keys[i]) - strlen(suffix)), "",
		    kv->vals[i]);
		free(kv->keys[i]);
		free(kv->vals[i]);
	}
	free(kv->keys);
	free(kv->vals);
}

/* Reply members other than the envelope ("id", "ok"), in reply order. */
static void
kv_add_object(struct kv_list *kv, const json_t *obj, const char *prefix)
{
	const char	*key;
	json_t		*v;
	char		*full;

	json_object_foreach((json_t *)obj, key, v) {
		if (*prefix == '\0' && (strcmp(key, "id") == 0 ||
		    strcmp(key, "ok") == 0))
			continue;
		if (asprintf(&full, "%s%s%s", prefix, *prefix ? "." : "",
		    key) == -1)
			must(NULL);
		if (json_is_object(v) && json_object_size(v) > 0) {
			kv_add_object(kv, v, full);
			free(full);
		} else
			kv_add(kv, full, value_text(v));
	}
}

/* A column of a table: a title over one member of each row object. */
struct column {
	const char	*title;
	const char	*key;
	bool		 right;		/* numbers: right-aligned */
};

/*
 * Print rows (an array of objects) as a table, each column as wide as its
 * widest cell, two spaces apart.  The header is printed even with no rows.
 */
static void
print_table(const struct column *cols, size_t ncols, const json_t *rows)
{
	const char	 *s;
	size_t		  nrows, r, c, w[16], len;
	char		**cell;
	bool		  last;

	assert(ncols <= sizeof(w) / sizeof(w[0]));
	nrows = json_array_size(rows);
	cell = must(calloc(nrows * ncols + 1, sizeof(char *)));
	for (c = 0; c < ncols; c++)
		w[c] = strlen(cols[c].title);
	for (r = 0; r < nrows; r++) {
		for (c = 0; c < ncols; c++) {
			cell[r * ncols + c] = value_text(json_object_get(
			    json_array_get(rows, r), cols[c].key));
			if ((len = strlen(cell[r * ncols + c])) > w[c])
				w[c] = len;
		}
	}
	for (r = 0; r <= nrows; r++) {
		for (c = 0; c < ncols; c++) {
			s = r == 0 ? cols[c].title : cell[(r - 1) * ncols + c];
			last = c + 1 == ncols;
			if (cols[c].right)
				printf("%*s", (int)w[c], s);
			else
				printf("%-*s", last ? 0 : (int)w[c], s);
			fputs(last ? "\n" : "  ", stdout);
		}
	}
	for (r = 0; r < nrows * ncols; r++)
		free(cell[r]);
	free(cell);
}

/*
 * Talking to the server.
 */

static int
exit_for_code(const char *code)
{
	return (strcmp(code, "timeout") == 0 ? EXIT_TIMEOUT : EXIT_REPLY);
}

static int
report_error_reply(struct cli *cli, const json_t *reply)
{
	const char	*code, *msg;

	if (cli->json) {
		json_dumpf(reply, stdout, JSON_COMPACT);
		fputc('\n', stdout);
	}
	code = jqc_reply_error_code(reply);
	msg = jqc_reply_error_message(reply);
	fprintf(stderr, "jq-client: %s: %s\n", code,
	    msg != NULL ? msg : "(no message)");
	return (exit_for_code(code));
}

/* Connect and authenticate, once. */
static int
cli_connect(struct cli *cli)
{
	char	errbuf[512];

	if (cli->conn != NULL)
		return (0);
	cli->conn = jqc_connect(cli->addr, errbuf, sizeof(errbuf));
	if (cli->conn == NULL) {
		fprintf(stderr, "jq-client: %s\n", errbuf);
		return (EXIT_CONNECT);
	}
	if (cli->token == NULL || jqc_auth(cli->conn, cli->token) == 0)
		return (0);
	if (jqc_error_code(cli->conn) != NULL)
		return (report_error_reply(cli, jqc_last_reply(cli->conn)));
	fprintf(stderr, "jq-client: %s\n", jqc_error(cli->conn));
	return (EXIT_CONNECT);
}

/*
 * Send req (stolen) and wait for its reply.  Returns EXIT_OK with *reply an
 * ok reply, or the exit status after reporting the failure (*reply may then
 * be an error reply or NULL).  The caller releases *reply either way.  With
 * --json the reply is printed here.
 */
static int
cli_call(struct cli *cli, json_t *req, json_t **reply)
{
	int	rc;

	*reply = NULL;
	if ((rc = cli_connect(cli)) != 0) {
		json_decref(req);
		return (rc);
	}
	rc = jqc_call(cli->conn, req, reply);
	json_decref(req);
	if (rc == -1) {
		fprintf(stderr, "jq-client: %s\n", jqc_error(cli->conn));
		return (EXIT_CONNECT);
	}
	if (!jqc_reply_ok(*reply))
		return (report_error_reply(cli, *reply));
	if (cli->json) {
		json_dumpf(*reply, stdout, JSON_COMPACT);
		fputc('\n', stdout);
	}
	return (EXIT_OK);
}

static int
report_closed(const char *chan)
{
	fprintf(stderr, "jq-client: channel '%s' is closed\n", chan);
	return (EXIT_REPLY);
}

/*
 * Command handlers.  Each checks all of its arguments, then calls.
 */

static int
cmd_ping(struct cli *cli, struct args *a)
{
	json_t	*reply;
	int	 rc;

	(void)a;	/* no arguments */
	rc = cli_call(cli, req_new("ping"), &reply);
	if (rc == EXIT_OK && !cli->json)
		puts("pong");
	json_decref(reply);
	return (rc);
}

static int
cmd_stats(struct cli *cli, struct args *a)
{
	struct kv_list	 kv = { NULL, NULL, 0, 0 };
	json_t		*reply;
	int		 rc;

	(void)a;	/* no arguments */
	rc = cli_call(cli, req_new("stats"), &reply);
	if (rc == EXIT_OK && !cli->json) {
		kv_add_object(&kv, reply, "");
		kv_print_free(&kv, "");
	}
	json_decref(reply);
	return (rc);
}

static int
cmd_make(struct cli *cli, struct args *a)
{
	json_t		*req, *reply;
	long long	 cap = 0;
	int		 rc;

	if ((rc = check_chan(cli, a->pos[0])) != 0)
		return (rc);
	if (a->npos > 1 && parse_int(a->pos[1], 0, CAP_MAX, &cap) == -1)
		return (usage_error(cli, "invalid capacity '%s' (an integer "
		    "0-%lld)", a->pos[1], CAP_MAX));
	req = req_new("make");
	req_set(req, "chan", json_string(a->pos[0]));
	req_set(req, "cap", json_integer(cap));
	rc = cli_call(cli, req, &reply);
	if (rc == EXIT_OK && !cli->json)
		puts(json_is_false(json_object_get(reply, "created")) ?
		    "exists" : "created");
	json_decref(reply);
	return (rc);
}

static int
cmd_send(struct cli *cli, struct args *a)
{
	json_t	*values, *v, *req, *reply, *tmpl;
	size_t	 i;
	int	 rc = 0;

	if ((rc = check_chan(cli, a->pos[0])) != 0)
		return (rc);
	tmpl = req_new("send");
	req_set(tmpl, "chan", json_string(a->pos[0]));
	if ((rc = opt_duration(cli, a, "timeout", tmpl, "timeout_ms")) != 0)
		goto out;
	values = must(json_array());
	for (i = 1; i < (size_t)a->npos; i++) {
		if ((v = value_arg(cli, a->pos[i], &rc)) == NULL) {
			json_decref(values);
			goto out;
		}
		json_array_append_new(values, v);
	}

	if (args_opt(a, "batch") != NULL) {
		req_set(tmpl, "values", values);
		rc = cli_call(cli, json_incref(tmpl), &reply);
		json_decref(reply);
		goto out;
	}
	/* One by one, in order; the first failure stops the rest. */
	json_array_foreach(values, i, v) {
		req = must(json_copy(tmpl));
		req_set(req, "value", json_incref(v));
		rc = cli_call(cli, req, &reply);
		json_decref(reply);
		if (rc != EXIT_OK) {
			if (json_array_size(values) > 1)
				fprintf(stderr, "jq-client: sent %zu of %zu "
				    "values\n", i, json_array_size(values));
			break;
		}
	}
	json_decref(values);
out:
	json_decref(tmpl);
	return (rc);
}

/* One received value: "VALUE", or "LEASE<TAB>VALUE" when leased. */
static void
print_received(const json_t *value, const json_t *lease)
{
	if (json_is_string(lease))
		printf("%s\t", json_string_value(lease));
	print_value(value);
	fputc('\n', stdout);
}

static int
cmd_recv(struct cli *cli, struct args *a)
{
	json_t		*req, *reply, *values, *leases, *v;
	const char	*s;
	long long	 max;
	size_t		 i;
	int		 rc;

	if ((rc = check_chan(cli, a->pos[0])) != 0)
		return (rc);
	req = req_new("recv");
	req_set(req, "chan", json_string(a->pos[0]));
	if ((s = args_opt(a, "max")) != NULL) {
		if (parse_int(s, 1, INT32_MAX, &max) == -1) {
			json_decref(req);
			return (usage_error(cli, "invalid count '%s' for -n "
			    "(an integer >= 1)", s));
		}
		req_set(req, "max", json_integer(max));
	}
	if ((rc = opt_duration(cli, a, "timeout", req, "timeout_ms")) != 0 ||
	    (rc = opt_duration(cli, a, "lease", req, "lease_ms")) != 0) {
		json_decref(req);
		return (rc);
	}

	if ((rc = cli_call(cli, req, &reply)) != EXIT_OK)
		goto out;
	values = json_object_get(reply, "values");
	leases = json_object_get(reply, "leases");
	if (json_is_true(json_object_get(reply, "closed")) &&
	    json_object_get(reply, "value") == NULL &&
	    json_array_size(values) == 0) {
		/* Go's v, ok := <-ch with ok == false. */
		rc = report_closed(a->pos[0]);
		goto out;
	}
	if (cli->json)
		goto out;
	if (values != NULL) {
		json_array_foreach(values, i, v)
			print_received(v, json_array_get(leases, i));
	} else
		print_received(json_object_get(reply, "value"),
		    json_object_get(reply, "lease"));
out:
	json_decref(reply);
	return (rc);
}

/* ack, nack: CHAN LEASE; the command's name is the op. */
static int
cmd_lease(struct cli *cli, struct args *a)
{
	json_t	*req, *reply, *lease;
	int	 rc = 0;

	if ((rc = check_chan(cli, a->pos[0])) != 0)
		return (rc);
	if ((lease = string_arg(cli, "lease", a->pos[1], &rc)) == NULL)
		return (rc);
	req = req_new(cli->cmd->name);
	req_set(req, "chan", json_string(a->pos[0]));
	req_set(req, "lease", lease);
	rc = cli_call(cli, req, &reply);
	json_decref(reply);
	return (rc);
}

/* close, drop: CHAN and nothing printed; the command's name is the op. */
static int
cmd_chan_op(struct cli *cli, struct args *a)
{
	json_t	*req, *reply;
	int	 rc;

	if ((rc = check_chan(cli, a->pos[0])) != 0)
		return (rc);
	req = req_new(cli->cmd->name);
	req_set(req, "chan", json_string(a->pos[0]));
	rc = cli_call(cli, req, &reply);
	json_decref(reply);
	return (rc);
}

static int
cmd_stat(struct cli *cli, struct args *a)
{
	struct kv_list	 kv = { NULL, NULL, 0, 0 };
	json_t		*req, *reply;
	int		 rc;

	if ((rc = check_chan(cli, a->pos[0])) != 0)
		return (rc);
	req = req_new("stat");
	req_set(req, "chan", json_string(a->pos[0]));
	rc = cli_call(cli, req, &reply);
	if (rc == EXIT_OK && !cli->json) {
		kv_add_object(&kv, reply, "");
		kv_print_free(&kv, ":");
	}
	json_decref(reply);
	return (rc);
}

static int
cmd_chans(struct cli *cli, struct args *a)
{
	static const struct column cols[] = {
		{ "NAME", "chan", false },
		{ "CAP", "cap", true },
		{ "LEN", "len", true },
		{ "LEASED", "leased", true },
		{ "CLOSED", "closed", false },
		{ "SENDERS", "senders_waiting", true },
		{ "RECEIVERS", "receivers_waiting", true },
		{ "SENT", "sent", true },
		{ "RECEIVED", "received", true },
	};
	json_t		*req, *reply, *prefix;
	const char	*s;
	int		 rc = 0;

	req = req_new("chans");
	if ((s = args_opt(a, "prefix")) != NULL) {
		if ((prefix = string_arg(cli, "prefix", s, &rc)) == NULL) {
			json_decref(req);
			return (rc);
		}
		req_set(req, "prefix", prefix);
	}
	rc = cli_call(cli, req, &reply);
	if (rc == EXIT_OK && !cli->json)
		print_table(cols, sizeof(cols) / sizeof(cols[0]),
		    json_object_get(reply, "chans"));
	json_decref(reply);
	return (rc);
}

/*
 * One select case from "recv:CHAN" or "send:CHAN=VALUE".  Channel names
 * cannot hold '=', so the first one ends the name.
 */
static json_t *
select_case(struct cli *cli, const char *arg, int *rc)
{
	json_t	*c, *v;
	char	*chan;
	size_t	 len;

	if (strncmp(arg, "recv:", 5) == 0) {
		if ((*rc = check_chan(cli, arg + 5)) != 0)
			return (NULL);
		return (must(json_pack("{s:s}", "recv", arg + 5)));
	}
	if (strncmp(arg, "send:", 5) != 0 || strchr(arg, '=') == NULL) {
		*rc = usage_error(cli, "invalid case '%s' (recv:CHAN or "
		    "send:CHAN=VALUE)", arg);
		return (NULL);
	}
	len = strchr(arg, '=') - (arg + 5);
	chan = must(strndup(arg + 5, len));
	c = NULL;
	if ((*rc = check_chan(cli, chan)) == 0 &&
	    (v = value_arg(cli, arg + 5 + len + 1, rc)) != NULL)
		c = must(json_pack("{s:s, s:o}", "send", chan, "value", v));
	free(chan);
	return (c);
}

static int
cmd_select(struct cli *cli, struct args *a)
{
	json_t		*req, *cases, *c, *reply, *chosen, *value;
	const char	*name;
	json_int_t	 index;
	int		 i, rc = 0;

	req = req_new("select");
	if ((rc = opt_duration(cli, a, "timeout", req, "timeout_ms")) != 0) {
		json_decref(req);
		return (rc);
	}
	cases = must(json_array());
	req_set(req, "cases", cases);
	for (i = 0; i < a->npos; i++) {
		if ((c = select_case(cli, a->pos[i], &rc)) == NULL) {
			json_decref(req);
			return (rc);
		}
		json_array_append_new(cases, c);
	}
	json_incref(cases);	/* outlives req, which cli_call takes */

	if ((rc = cli_call(cli, req, &reply)) != EXIT_OK)
		goto out;
	index = json_integer_value(json_object_get(reply, "index"));
	chosen = json_array_get(cases, index);
	value = json_object_get(reply, "value");
	if (!cli->json) {
		printf("%" JSON_INTEGER_FORMAT, index);
		if (value != NULL) {
			fputc('\t', stdout);
			print_value(value);
		}
		fputc('\n', stdout);
	}
	if (value == NULL && json_is_true(json_object_get(reply, "closed"))) {
		name = json_string_value(json_object_get(chosen, "recv"));
		rc = report_closed(name != NULL ? name : "?");
	}
out:
	json_decref(cases);
	json_decref(reply);
	return (rc);
}

/*
 * The command table.  Options are listed per command; "-h"/"--help" work
 * everywhere.
 */
static const struct opt opts_none[] = {
	{ NULL, 0, false },
};
static const struct opt opts_send[] = {
	{ "batch", 0, false },
	{ "timeout", 0, true },
	{ NULL, 0, false },
};
static const struct opt opts_recv[] = {
	{ "max", 'n', true },
	{ "timeout", 0, true },
	{ "lease", 0, true },
	{ NULL, 0, false },
};
static const struct opt opts_chans[] = {
	{ "prefix", 0, true },
	{ NULL, 0, false },
};
static const struct opt opts_timeout[] = {
	{ "timeout", 0, true },
	{ NULL, 0, false },
};

static const struct cmd cmds[] = {
	{ "ping", cmd_ping, opts_none, 0, 0, "ping",
	    "check that the server answers; prints \"pong\"" },
	{ "stats", cmd_stats, opts_none, 0, 0, "stats",
	    "server-wide figures, one \"key value\" line each;\n"
	    "nested figures get dotted keys (ops.send)" },
	{ "make", cmd_make, opts_none, 1, 2, "make CHAN [CAP]",
	    "create a channel holding up to CAP values\n"
	    "(default 0: unbuffered); prints \"created\", or\n"
	    "\"exists\" if it already exists with that CAP" },
	{ "send", cmd_send, opts_send, 2, -1,
	    "send [--batch] [--timeout D] CHAN VALUE...",
	    "send each VALUE in order, waiting while the channel\n"
	    "is full (unbuffered: until a receiver takes it);\n"
	    "--batch: all as one all-or-nothing batch\n"
	    "(buffered channels only)" },
	{ "recv", cmd_recv, opts_recv, 1, 1,
	    "recv CHAN [-n N] [--timeout D] [--lease D]",
	    "receive a value, waiting for one (-n, --max: 1 to\n"
	    "N values); prints each value on its own line;\n"
	    "--lease: prints \"LEASE<TAB>VALUE\" lines, the value\n"
	    "comes back unless acked within D; on a closed,\n"
	    "drained channel prints nothing and exits 1" },
	{ "ack", cmd_lease, opts_none, 2, 2, "ack CHAN LEASE",
	    "remove a leased value for good" },
	{ "nack", cmd_lease, opts_none, 2, 2, "nack CHAN LEASE",
	    "return a leased value to the channel now" },
	{ "close", cmd_chan_op, opts_none, 1, 1, "close CHAN",
	    "allow no more sends; buffered values still drain" },
	{ "drop", cmd_chan_op, opts_none, 1, 1, "drop CHAN",
	    "delete a channel and its contents" },
	{ "stat", cmd_stat, opts_none, 1, 1, "stat CHAN",
	    "a channel's figures, aligned \"key: value\" lines" },
	{ "chans", cmd_chans, opts_chans, 0, 0, "chans [--prefix P]",
	    "a table of the channels (names starting with P)" },
	{ "select", cmd_select, opts_timeout, 1, -1,
	    "select [--timeout D] recv:CHAN... send:CHAN=VALUE...",
	    "wait until one case can proceed and do that one;\n"
	    "prints \"INDEX<TAB>VALUE\" for a recv case, \"INDEX\"\n"
	    "for a send case (cases count from 0); a recv case\n"
	    "on a closed, drained channel prints \"INDEX\" and\n"
	    "exits 1" },
	/* Job commands (submit, job, jobs, logs, cancel, wait) go here. */
};

static const struct cmd *
cmd_find(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].name, name) == 0)
			return (&cmds[i]);
	return (NULL);
}

/* Print help lines, each indented by indent columns after the first. */
static void
print_lines(FILE *f, const char *text, int indent)
{
	const char	*nl;

	while ((nl = strchr(text, '\n')) != NULL) {
		fprintf(f, "%.*s\n%*s", (int)(nl - text), text, indent, "");
		text = nl + 1;
	}
	fprintf(f, "%s\n", text);
}

static void
help_command(const struct cmd *cmd)
{
	printf("usage: jq-client [OPTIONS] %s\n\n", cmd->synopsis);
	print_lines(stdout, cmd->help, 0);
}

static void
help(void)
{
	size_t	i;
	int	w = 26;

	fputs("usage: jq-client [OPTIONS] COMMAND [ARGS...]\n"
	    "\n"
	    "Talk to a jqd server: named channels that work like Go's, over "
	    "TCP or a\nUnix socket.\n"
	    "\n"
	    "Options (before the command):\n"
	    "  -H HOST:PORT        TCP server address (IPv6: [ADDR]:PORT)\n"
	    "  -S PATH             Unix socket of the server\n"
	    "  --json              print each reply as one line of JSON "
	    "instead of the\n"
	    "                      human form (error replies too)\n"
	    "  --token-file FILE   authenticate with the token in FILE\n"
	    "  -h, --help          show this help (COMMAND --help: that "
	    "command's)\n"
	    "  --version           show the version\n"
	    "\n"
	    "Commands:\n", stdout);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if ((int)strlen(cmds[i].synopsis) > w - 2)
			printf("  %s\n%*s", cmds[i].synopsis, w + 2, "");
		else
			printf("  %-*s", w, cmds[i].synopsis);
		print_lines(stdout, cmds[i].help, w + 2);
	}
	fputs("\n"
	    "A VALUE that parses as JSON is sent as that JSON value (42, "
	    "true, null,\n"
	    "'\"text\"', '{\"a\":1}'); anything else is sent as a plain "
	    "string.  Put values\n"
	    "that start with '-' (other than numbers) after \"--\".  Human "
	    "output prints\n"
	    "a received string as raw text and any other value as compact "
	    "JSON.\n"
	    "\n"
	    "Durations D: 250ms, 5s, 1.5s, 2m, 1h, 1d; a bare number is "
	    "seconds; 0 means\n"
	    "do not wait.  Without --timeout, blocking commands wait as long "
	    "as it takes.\n"
	    "\n"
	    "Environment:\n"
	    "  JQ_ADDR    server address when neither -H nor -S is given: "
	    "HOST:PORT,\n"
	    "             unix:PATH, or a socket path containing '/'\n"
	    "             (default " JQC_DEFAULT_ADDR ")\n"
	    "  JQ_TOKEN   auth token when --token-file is not given\n"
	    "\n"
	    "Exit status: 0 success; 1 error reply, or nothing to receive "
	    "from a closed\n"
	    "channel; 2 usage error (nothing was sent); 3 cannot connect, or "
	    "the\n"
	    "connection was lost; 124 timeout.\n", stdout);
}

/*
 * Split a command's arguments into options and positionals.  Options may
 * come anywhere before "--"; "-" alone and negative numbers ("-5", "-.5")
 * are positionals, so values need no quoting.  Returns 0, EXIT_USAGE after
 * printing why, or -1 when help was asked for.
 */
static int
args_parse(struct cli *cli, int argc, char **argv, struct args *a)
{
	const struct cmd	*cmd = cli->cmd;
	const struct opt	*o;
	const char		*arg, *name, *eq, *value;
	size_t			 namelen;
	bool			 only_pos = false;
	int			 i, k;

	memset(a, 0, sizeof(*a));
	a->opts = cmd->opts;
	a->pos = must(calloc(argc + 1, sizeof(char *)));
	for (i = 0; i < argc; i++) {
		arg = argv[i];
		if (only_pos || arg[0] != '-' || arg[1] == '\0' ||
		    isdigit((unsigned char)arg[1]) || arg[1] == '.') {
			a->pos[a->npos++] = argv[i];
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
			return (-1);
		name = arg + (arg[1] == '-' ? 2 : 1);
		eq = arg[1] == '-' ? strchr(name, '=') : NULL;
		namelen = eq != NULL ? (size_t)(eq - name) : strlen(name);
		for (k = 0; (o = &cmd->opts[k])->name != NULL; k++) {
			if (arg[1] == '-' ? strlen(o->name) == namelen &&
			    strncmp(o->name, name, namelen) == 0 :
			    o->shortc != 0 && o->shortc == name[0])
				break;
		}
		assert(k < OPTS_MAX);
		if (o->name == NULL || (arg[1] != '-' && !o->has_arg &&
		    name[1] != '\0'))
			return (usage_error(cli, "unknown option '%s'", arg));
		if (!o->has_arg) {
			if (eq != NULL)
				return (usage_error(cli, "option '--%s' takes "
				    "no value", o->name));
			value = "";
		} else if (eq != NULL)
			value = eq + 1;
		else if (arg[1] != '-' && name[1] != '\0')
			value = name + 1;	/* -n5 */
		else if (i + 1 < argc)
			value = argv[++i];
		else
			return (usage_error(cli, "option '%s' needs a value",
			    arg));
		a->val[k] = value;
	}
	if (a->npos < cmd->min_pos)
		return (usage_error(cli, "missing arguments"));
	if (cmd->max_pos >= 0 && a->npos > cmd->max_pos)
		return (usage_error(cli, "too many arguments"));
	return (0);
}

/* Trim surrounding whitespace in place; returns the trimmed start. */
static char *
trim(char *s)
{
	char	*end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return (s);
}

/* Read the token of --token-file.  Returns 0 or EXIT_USAGE. */
static int
read_token_file(struct cli *cli, const char *path)
{
	FILE	*f;
	char	*buf, *tok;
	size_t	 n;

	if ((f = fopen(path, "r")) == NULL)
		return (usage_error(cli, "cannot open token file %s: %s", path,
		    strerror(errno)));
	buf = must(malloc(TOKEN_FILE_MAX + 1));
	n = fread(buf, 1, TOKEN_FILE_MAX + 1, f);
	if (ferror(f) || n > TOKEN_FILE_MAX) {
		fclose(f);
		free(buf);
		return (usage_error(cli, "cannot read token file %s: %s", path,
		    n > TOKEN_FILE_MAX ? "too large" : strerror(errno)));
	}
	fclose(f);
	buf[n] = '\0';
	if (memchr(buf, '\0', n) != NULL) {
		free(buf);
		return (usage_error(cli, "token file %s holds a NUL byte",
		    path));
	}
	tok = trim(buf);
	if (*tok == '\0') {
		free(buf);
		return (usage_error(cli, "token file %s is empty", path));
	}
	cli->token = must(strdup(tok));
	free(buf);
	return (0);
}

/*
 * Global options, up to the command name.  Returns the index of the command
 * in argv, or -(exit status) when the run ends here.
 */
static int
parse_global(struct cli *cli, int argc, char **argv)
{
	const char	*host = NULL, *sock = NULL, *token_file = NULL;
	const char	*arg, *env, *from;
	char		 errbuf[512], *dup;
	json_t		*tok;
	int		 i, rc;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		arg = argv[i];
		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		} else if (strcmp(arg, "-h") == 0 ||
		    strcmp(arg, "--help") == 0) {
			help();
			return (-EXIT_OK);
		} else if (strcmp(arg, "--version") == 0) {
			printf("jq-client %s\n", PACKAGE_VERSION);
			return (-EXIT_OK);
		} else if (strcmp(arg, "--json") == 0)
			cli->json = true;
		else if (strncmp(arg, "--token-file=", 13) == 0)
			token_file = arg + 13;
		else if (strcmp(arg, "--token-file") == 0 ||
		    strcmp(arg, "-H") == 0 || strcmp(arg, "-S") == 0) {
			if (i + 1 == argc)
				return (-usage_error(cli, "option '%s' needs "
				    "a value", arg));
			if (arg[1] == 'H')
				host = argv[++i];
			else if (arg[1] == 'S')
				sock = argv[++i];
			else
				token_file = argv[++i];
		} else if (strncmp(arg, "-H", 2) == 0)
			host = arg + 2;
		else if (strncmp(arg, "-S", 2) == 0)
			sock = arg + 2;
		else
			return (-usage_error(cli, "unknown option '%s'", arg));
	}

	if (host != NULL && sock != NULL)
		return (-usage_error(cli, "-H and -S are mutually exclusive"));
	from = "-H";
	if (sock != NULL) {
		if (asprintf(&cli->addr, "unix:%s", sock) == -1)
			must(NULL);
		from = "-S";
	} else if (host != NULL)
		cli->addr = must(strdup(host));
	else if ((env = getenv("JQ_ADDR")) != NULL && *env != '\0') {
		cli->addr = must(strdup(env));
		from = "JQ_ADDR";
	} else
		cli->addr = must(strdup(JQC_DEFAULT_ADDR));
	if (jqc_check_addr(cli->addr, errbuf, sizeof(errbuf)) == -1)
		return (-usage_error(cli, "%s: %s", from, errbuf));

	if (token_file != NULL) {
		if ((rc = read_token_file(cli, token_file)) != 0)
			return (-rc);
	} else if ((env = getenv("JQ_TOKEN")) != NULL) {
		/* Empty (JQ_TOKEN= in a script) means no token. */
		dup = must(strdup(env));
		if (*trim(dup) != '\0')
			cli->token = must(strdup(trim(dup)));
		free(dup);
	}
	if (cli->token != NULL) {
		/* Checked now so a bad token is a usage error, not exit 3. */
		if ((tok = json_string(cli->token)) == NULL)
			return (-usage_error(cli, "the token is not valid "
			    "UTF-8"));
		json_decref(tok);
	}

	if (i == argc)
		return (-usage_error(cli, "missing command"));
	return (i);
}

int
main(int argc, char *argv[])
{
	struct cli	 cli;
	struct args	 a;
	int		 first, rc;

	memset(&cli, 0, sizeof(cli));
	/* Line by line: a script reading our output sees each reply now. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	first = parse_global(&cli, argc, argv);
	if (first <= 0) {
		rc = -first;
		goto out;
	}
	if ((cli.cmd = cmd_find(argv[first])) == NULL) {
		rc = usage_error(&cli, "unknown command '%s'", argv[first]);
		goto out;
	}
	rc = args_parse(&cli, argc - first - 1, argv + first + 1, &a);
	if (rc == -1) {
		help_command(cli.cmd);
		rc = EXIT_OK;
	} else if (rc == 0)
		rc = cli.cmd->run(&cli, &a);
	free(a.pos);
out:
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "jq-client: cannot write output: %s\n",
		    strerror(errno));
		if (rc == EXIT_OK)
			rc = EXIT_REPLY;
	}
	jqc_close(cli.conn);
	free(cli.addr);
	free(cli.token);
	return (rc);
}
