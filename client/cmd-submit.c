/*
 * cmd-submit: "jq-client submit", the job command with the most options
 * (SPEC sections 4, 7 and 8); the other job commands are in cmd-job.c.
 *
 * Every option is checked and the whole request built before anything is
 * sent (a usage error exits 2 with nothing submitted).  Most options map
 * to one request field each through submit_fields[]; --env, --stdin-file,
 * --parent (which defaults to $JQ_JOB_ID, so a job's sub-jobs form Go's
 * context tree) and the job's directory (--cwd, default ours, so that
 * `cd /data && jq-client submit wc -l a.csv` works) have functions of
 * their own.
 *
 * Output: the job id on a line.  With --json: the submit reply.  --wait
 * (waiting, Ctrl-C, the exit status; with --json {"ok", "job", "result":
 * its result object}) is cmd-submit-wait.c's.
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

#define PRIORITY_MAX		1000000LL	/* decisions: -1e6..1e6 */
#define RETRIES_MAX		1000LL
#define STDIN_FILE_MAX		(64 * 1024 * 1024)

enum submit_kind {
	SUBMIT_STRING,		/* sent as is (UTF-8) */
	SUBMIT_GROUP,		/* a group name */
	SUBMIT_POOL,		/* a pool name */
	SUBMIT_CHAN,		/* a channel name */
	SUBMIT_DURATION,	/* a duration of at least min ms */
	SUBMIT_TIME,		/* unix ms or RFC 3339 */
	SUBMIT_INT,		/* an integer in [min, max] */
};

/* The options of submit that become one request field each. */
static const struct {
	const char		*opt;
	const char		*field;
	enum submit_kind	 kind;
	long long		 min;
	long long		 max;
} submit_fields[] = {
	{ "name", "name", SUBMIT_STRING, 0, 0 },
	{ "group", "group", SUBMIT_GROUP, 0, 0 },
	{ "timeout", "timeout_ms", SUBMIT_DURATION, 1, 0 },
	{ "deadline", "deadline_ms", SUBMIT_TIME, 0, 0 },
	{ "run-timeout", "run_timeout_ms", SUBMIT_DURATION, 1, 0 },
	{ "delay", "delay_ms", SUBMIT_DURATION, 0, 0 },
	{ "key", "key", SUBMIT_STRING, 0, 0 },
	{ "priority", "priority", SUBMIT_INT, -PRIORITY_MAX, PRIORITY_MAX },
	{ "retries", "retries", SUBMIT_INT, 0, RETRIES_MAX },
	{ "result-chan", "result_chan", SUBMIT_CHAN, 0, 0 },
	{ "pool", "pool", SUBMIT_POOL, 0, 0 },
};

static int
submit_field(struct cli *cli, const struct args *a, size_t i, json_t *req)
{
	const char	*s = args_opt(a, submit_fields[i].opt);
	const char	*opt = submit_fields[i].opt;
	long long	 v;
	json_t		*str;
	int		 rc = 0;

	if (s == NULL)
		return 0;
	switch (submit_fields[i].kind) {
	case SUBMIT_STRING:
		if ((str = string_arg(cli, opt, s, &rc)) != NULL)
			req_set(req, submit_fields[i].field, str);
		return rc;
	case SUBMIT_GROUP:
	case SUBMIT_POOL:
	case SUBMIT_CHAN:
		if ((rc = check_name(cli, submit_fields[i].kind ==
		    SUBMIT_GROUP ? "group" : submit_fields[i].kind ==
		    SUBMIT_POOL ? "pool" : "channel", s)) == 0)
			req_set(req, submit_fields[i].field, json_string(s));
		return rc;
	case SUBMIT_DURATION:
		return opt_duration(cli, a, opt, req, submit_fields[i].field,
		    submit_fields[i].min);
	case SUBMIT_TIME:
		if (parse_time_ms(s, &v) == -1)
			return usage_error(cli, "invalid time '%s' for --%s "
			    "(unix milliseconds, or UTC like "
			    "2026-11-27T21:00:00Z)", s, opt);
		break;
	case SUBMIT_INT:
		if (parse_int(s, submit_fields[i].min, submit_fields[i].max,
		    &v) == -1)
			return usage_error(cli, "invalid --%s '%s' (an "
			    "integer %lld to %lld)", opt, s,
			    submit_fields[i].min, submit_fields[i].max);
		break;
	}
	req_set(req, submit_fields[i].field, json_integer(v));
	return 0;
}

/* --env K=V..., into an "env" object. */
static int
submit_env(struct cli *cli, const struct args *a, json_t *req)
{
	const char	*s, *eq;
	json_t		*env = NULL, *str;
	char		*key;
	int		 iter = 0, rc = 0;

	while ((s = args_opt_next(a, "env", &iter)) != NULL) {
		if ((eq = strchr(s, '=')) == NULL || eq == s)
			return usage_error(cli, "invalid --env '%s' "
			    "(NAME=VALUE)", s);
		/* All of it UTF-8, so both halves are. */
		if ((str = string_arg(cli, "--env", s, &rc)) == NULL)
			return rc;
		json_decref(str);
		if (env == NULL) {
			env = must(json_object());
			req_set(req, "env", env);
		}
		key = must(strndup(s, eq - s));
		req_set(env, key, json_string(eq + 1));
		free(key);
	}
	return 0;
}

/* --stdin-file F ("-": our stdin) into "stdin", a string. */
static int
submit_stdin(struct cli *cli, const struct args *a, json_t *req)
{
	const char	*path = args_opt(a, "stdin-file");
	FILE		*f;
	char		*buf;
	size_t		 n;
	json_t		*str;
	bool		 big;

	if (path == NULL)
		return 0;
	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL)
		return usage_error(cli, "cannot open %s: %s", path,
		    strerror(errno));
	buf = must(malloc(STDIN_FILE_MAX + 1));
	n = fread(buf, 1, STDIN_FILE_MAX + 1, f);
	big = n > STDIN_FILE_MAX;
	if (ferror(f) || big) {
		if (f != stdin)
			fclose(f);
		free(buf);
		return usage_error(cli, "cannot read %s: %s", path,
		    big ? "too large" : strerror(errno));
	}
	if (f != stdin)
		fclose(f);
	str = json_stringn(buf, n);
	free(buf);
	if (str == NULL)
		return usage_error(cli, "%s is not UTF-8 text (a job's stdin "
		    "travels as a JSON string)", path);
	req_set(req, "stdin", str);
	return 0;
}

/* --parent, else $JQ_JOB_ID unless --no-parent (SPEC section 4). */
static int
submit_parent(struct cli *cli, const struct args *a, json_t *req)
{
	const char	*s = args_opt(a, "parent");
	long long	 id;
	int		 rc;

	if (s != NULL && args_opt(a, "no-parent") != NULL)
		return usage_error(cli, "--parent and --no-parent exclude "
		    "each other");
	if (s != NULL) {
		if ((rc = job_id_arg(cli, s, &id)) != 0)
			return rc;
	} else if (args_opt(a, "no-parent") != NULL ||
	    (s = getenv("JQ_JOB_ID")) == NULL ||
	    parse_int(s, 1, LLONG_MAX, &id) == -1)
		return 0;	/* not in a job (or a JQ_JOB_ID not ours) */
	req_set(req, "parent", json_integer(id));
	return 0;
}

/*
 * --cwd, else the directory we run in: a job runs where its submitter is,
 * as a command typed there would (on the server's host, or an agent's:
 * the directory must exist there).
 */
static int
submit_cwd(struct cli *cli, const struct args *a, json_t *req)
{
	const char	*dir = args_opt(a, "cwd");
	char		*here = NULL;
	json_t		*str;
	int		 rc = 0;

	if (dir == NULL && (dir = here = getcwd(NULL, 0)) == NULL)
		return usage_error(cli, "cannot tell the current directory "
		    "(%s): give --cwd", strerror(errno));
	if (here != NULL && (str = json_string(here)) == NULL)
		rc = usage_error(cli, "the current directory '%s' is not "
		    "UTF-8, which the wire cannot carry: give --cwd", here);
	else if (here != NULL)
		req_set(req, "cwd", str);
	else if ((str = string_arg(cli, "--cwd", dir, &rc)) != NULL)
		req_set(req, "cwd", str);
	free(here);
	return rc;
}

static json_t *
submit_request(struct cli *cli, const struct args *a, int *rc)
{
	json_t	*req, *argv, *s;
	size_t	 i;
	int	 k;

	req = req_new("submit");
	argv = must(json_array());
	req_set(req, "argv", argv);
	for (k = 0; k < a->npos; k++) {
		if ((s = string_arg(cli, "argument", a->pos[k], rc)) == NULL)
			goto fail;
		json_array_append_new(argv, s);
	}
	for (i = 0; i < sizeof(submit_fields) / sizeof(submit_fields[0]); i++)
		if ((*rc = submit_field(cli, a, i, req)) != 0)
			goto fail;
	if ((*rc = submit_env(cli, a, req)) != 0 ||
	    (*rc = submit_stdin(cli, a, req)) != 0 ||
	    (*rc = submit_cwd(cli, a, req)) != 0 ||
	    (*rc = submit_parent(cli, a, req)) != 0)
		goto fail;
	return req;
fail:
	json_decref(req);
	return NULL;
}

int
cmd_submit(struct cli *cli, struct args *a)
{
	struct submit_wait	 w;
	json_t			*req, *reply;
	long long		 id = 0;
	int			 rc = 0;

	if ((rc = submit_wait_opts(cli, a, &w)) != 0 ||
	    (req = submit_request(cli, a, &rc)) == NULL)
		return submit_wait_failed(&w, rc);
	if (w.wait)
		return submit_wait_run(cli, &w, req);
	if ((rc = cli_call(cli, req, &reply)) != EXIT_OK)
		goto out;
	if (!member_int(reply, "job", &id)) {
		fputs("jq-client: submit reply without a job id\n", stderr);
		rc = EXIT_REPLY;
	} else if (!cli->json)
		printf("%lld\n", id);
out:
	json_decref(reply);
	return rc;
}
