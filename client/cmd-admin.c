/*
 * cmd-admin: jq-client's commands for running a jqd day to day
 * (PROTOCOL.md 10.12, 11.14, 11.24-11.26, 14): peek at a channel, retry
 * and purge jobs, a group's summary, pause and resume pools, and jqd's
 * own slots.
 *
 * Human output, with --json replaced by the replies:
 *   peek       each value on its own line, as recv prints it
 *   retry      the new job's id, a line per ID given
 *   purge      how many jobs were deleted
 *   group      one line: "G: N jobs: 3 queued, 1 running, ...; progress
 *              D/T (P%)" (states with no job left out)
 *   groups     a table: GROUP TOTAL QUEUED RUNNING SUCCEEDED FAILED
 *              DEADLINE CANCELED PROGRESS WAITERS, sorted by name; when
 *              the page is full, where the next starts (stderr)
 *   pause, resume
 *              "POOL paused (N queued, M running)" / "POOL resumed (...)"
 *   pool       aligned "key: value" lines, as stat prints them
 * A group with no retained job is an error for `group`, and for `wait
 * --group` and `cancel --group` (cmd-job.c, through group_known()), so
 * that a misspelt group never reads as success.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cli-output.h"

#define PEEK_MAX	100LL	/* the server's bound (PROTOCOL.md 10.12) */
#define WORKERS_MAX	1024LL	/* as jqd's --workers */
#define GROUPS_LIMIT_MAX 1000LL	/* the server's bound (PROTOCOL.md 11.27) */

int
group_missing(struct cli *cli, const char *group)
{
	return cli_fail(cli, EXIT_REPLY, "not_found",
	    "no jobs in group '%s'", group);
}

int
group_known(struct cli *cli, const char *group)
{
	struct jqc_group_stat	 st;
	int			 rc;

	/* The typed call: its reply is a check, not the command's output. */
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	if (jqc_group(cli->conn, group, &st) == -1) {
		if (jqc_last_reply(cli->conn) != NULL &&
		    !jqc_reply_ok(jqc_last_reply(cli->conn)))
			return cli_report_reply_error(cli,
			    jqc_last_reply(cli->conn));
		return cli_fail(cli, EXIT_CONNECT, "connection", "%s",
		    jqc_error(cli->conn));
	}
	return st.total > 0 ? EXIT_OK : group_missing(cli, group);
}

int
cmd_peek(struct cli *cli, struct args *a)
{
	json_t		*req, *reply;
	const char	*s;
	long long	 n;
	size_t		 i;
	int		 rc;

	if ((rc = check_name(cli, "channel", a->pos[0])) != 0)
		return rc;
	req = req_new("peek");
	req_set(req, "chan", json_string(a->pos[0]));
	if ((s = args_opt(a, "max")) != NULL) {
		if (parse_int(s, 1, PEEK_MAX, &n) == -1) {
			json_decref(req);
			return usage_error(cli, "invalid -n '%s' (1 to %lld)",
			    s, PEEK_MAX);
		}
		req_set(req, "n", json_integer(n));
	}
	rc = cli_call(cli, req, &reply);
	if (rc == EXIT_OK && !cli->json)
		/* As the server wrote them: 19.99 stays 19.99. */
		for (i = 0; i < json_array_size(json_object_get(reply,
		    "values")); i++) {
			print_reply_value(cli->conn, reply, "values", i);
			fputc('\n', stdout);
		}
	json_decref(reply);
	return rc;
}

int
cmd_retry(struct cli *cli, struct args *a)
{
	json_t		*req, *reply, *jobs, *results, *first_err = NULL;
	json_t		*doc;
	long long	 id, nid;
	int		 i, rc, first_rc = EXIT_OK;

	for (i = 0; i < a->npos; i++)
		if ((rc = job_id_arg(cli, a->pos[i], &id)) != 0)
			return rc;
	jobs = must(json_array());
	results = must(json_array());
	/* One request per job; a job that fails does not stop the rest. */
	for (i = 0; i < a->npos; i++) {
		(void)job_id_arg(cli, a->pos[i], &id);
		req = req_new("retry");
		req_set(req, "job", json_integer(id));
		rc = cli_call(cli, req, &reply);
		if (rc == EXIT_OK && member_int(reply, "job", &nid)) {
			if (!cli->json)
				printf("%lld\n", nid);
			json_array_append_new(jobs, json_integer(nid));
		}
		/* --json: one document, every job's reply in it. */
		if ((doc = cli_doc_take(cli)) != NULL) {
			if (rc != EXIT_OK && first_err == NULL)
				first_err = json_incref(json_object_get(doc,
				    "error"));
			json_array_append_new(results, doc);
		}
		json_decref(reply);
		if (first_rc == EXIT_OK)
			first_rc = rc;
		if (rc == EXIT_CONNECT)
			break;
	}
	doc = must(json_pack("{s:b, s:o, s:o}", "ok", first_rc == EXIT_OK,
	    "jobs", jobs, "results", results));
	if (first_err != NULL)
		req_set(doc, "error", first_err);
	cli_doc_set(cli, doc);
	return first_rc;
}

int
cmd_purge(struct cli *cli, struct args *a)
{
	json_t		*req, *reply;
	const char	*s;
	const char *const *final = job_states + JOB_STATES_FINAL;
	long long	 n = 0;
	int		 i, rc;

	req = req_new("purge");
	if ((s = args_opt(a, "state")) != NULL) {
		for (i = 0; final[i] != NULL; i++)
			if (strcmp(final[i], s) == 0)
				break;
		if (final[i] == NULL) {
			json_decref(req);
			return usage_error(cli, "invalid state '%s' (succeeded, "
			    "failed, deadline_exceeded, canceled: only "
			    "finished jobs are purged)", s);
		}
		req_set(req, "state", json_string(s));
	}
	if ((s = args_opt(a, "group")) != NULL) {
		if ((rc = check_name(cli, "group", s)) != 0) {
			json_decref(req);
			return rc;
		}
		req_set(req, "group", json_string(s));
	}
	if ((rc = opt_duration(cli, a, "older-than", req, "older_than_ms",
	    0)) != 0) {
		json_decref(req);
		return rc;
	}
	rc = cli_call(cli, req, &reply);
	if (rc == EXIT_OK && !cli->json && member_int(reply, "purged", &n))
		printf("%lld\n", n);
	json_decref(reply);
	return rc;
}

int
cmd_group(struct cli *cli, struct args *a)
{
	const json_t	*p;
	json_t		*req, *reply;
	long long	 total = 0, n, done, of;
	int		 i, rc, shown = 0;

	if ((rc = check_name(cli, "group", a->pos[0])) != 0)
		return rc;
	req = req_new("group");
	req_set(req, "group", json_string(a->pos[0]));
	if ((rc = cli_call(cli, req, &reply)) != EXIT_OK)
		goto out;
	if (!member_int(reply, "total", &total) || total == 0) {
		rc = group_missing(cli, a->pos[0]);
		goto out;
	}
	if (cli->json)
		goto out;
	printf("%s: %lld job%s:", a->pos[0], total, total == 1 ? "" : "s");
	for (i = 0; job_states[i] != NULL; i++) {
		if (member_int(reply, job_states[i], &n) && n > 0)
			printf("%s %lld %s", shown++ > 0 ? "," : "", n,
			    job_states[i]);
	}
	p = json_object_get(reply, "progress");
	if (member_int(p, "done", &done) && member_int(p, "total", &of) &&
	    of > 0)
		printf("; progress %lld/%lld (%.0f%%)", done, of,
		    100.0 * (double)done / (double)of);
	putchar('\n');
out:
	json_decref(reply);
	return rc;
}

/* pause [POOL], resume [POOL]: "POOL paused (N queued, M running)". */
int
cmd_pause(struct cli *cli, struct args *a)
{
	const char	*pool = a->npos > 0 ? a->pos[0] : "local";
	bool		 pause = strcmp(cli->cmd->name, "pause") == 0;
	json_t		*req, *reply;
	long long	 queued = 0, running = 0;
	int		 rc;

	if ((rc = check_name(cli, "pool", pool)) != 0)
		return rc;
	req = req_new("pool");
	req_set(req, "pool", json_string(pool));
	req_set(req, "pause", json_boolean(pause));
	rc = cli_call(cli, req, &reply);
	if (rc == EXIT_OK && !cli->json) {
		(void)member_int(reply, "queued", &queued);
		(void)member_int(reply, "running", &running);
		printf("%s %s (%lld queued, %lld running)\n", pool,
		    pause ? "paused" : "resumed", queued, running);
	}
	json_decref(reply);
	return rc;
}

/* pool [POOL] [--workers N]: the pool's state, after the change. */
int
cmd_pool(struct cli *cli, struct args *a)
{
	const char	*pool = a->npos > 0 ? a->pos[0] : "local";
	const char	*s;
	json_t		*req;
	long long	 n;
	int		 rc;

	if ((rc = check_name(cli, "pool", pool)) != 0)
		return rc;
	req = req_new("pool");
	req_set(req, "pool", json_string(pool));
	if ((s = args_opt(a, "workers")) != NULL) {
		if (strcmp(pool, "local") != 0) {
			json_decref(req);
			return usage_error(cli, "--workers is for pool local "
			    "(jqd's own slots)");
		}
		if (parse_int(s, 0, WORKERS_MAX, &n) == -1) {
			json_decref(req);
			return usage_error(cli, "invalid --workers '%s' (0 to "
			    "%lld)", s, WORKERS_MAX);
		}
		req_set(req, "workers", json_integer(n));
	}
	return cli_call_print_kv(cli, req, ":");
}

/*
 * groups
 */

/* "D/T (P%)", "D" with no total, "" with no progress; malloc'd. */
static char *
progress_cell(const json_t *group)
{
	const json_t	*p = json_object_get(group, "progress");
	long long	 done, total;
	char		*s;

	if (!member_int(p, "done", &done) || !member_int(p, "total", &total) ||
	    (done == 0 && total == 0))
		return NULL;
	if (total > 0) {
		if (asprintf(&s, "%lld/%lld (%.0f%%)", done, total,
		    100.0 * (double)done / (double)total) == -1)
			s = NULL;
	} else if (asprintf(&s, "%lld", done) == -1)
		s = NULL;
	return must(s);
}

static void
print_groups(const json_t *groups)
{
	static const char *const titles[] = { "GROUP", "TOTAL", "QUEUED",
	    "RUNNING", "SUCCEEDED", "FAILED", "DEADLINE", "CANCELED",
	    "PROGRESS", "WAITERS" };
	static const char *const members[] = { "group", "total", "queued",
	    "running", "succeeded", "failed", "deadline_exceeded",
	    "canceled", NULL, "waiters" };
	static const bool right[] = { false, true, true, true, true, true,
	    true, true, true, true };
	struct table	 t;
	const json_t	*g;
	size_t		 i, c;

	table_init(&t, sizeof(titles) / sizeof(titles[0]));
	json_array_foreach(groups, i, g) {
		for (c = 0; c < sizeof(members) / sizeof(members[0]); c++)
			table_add(&t, members[c] != NULL ?
			    value_text(json_object_get(g, members[c])) :
			    progress_cell(g));
	}
	table_print_free(&t, titles, right);
}

/* One "groups" request (req: a copy is sent) and its table. */
static int
groups_snapshot(struct cli *cli, void *req)
{
	const json_t	*list;
	json_t		*reply;
	int		 rc;

	rc = cli_call(cli, must(json_deep_copy(req)), &reply);
	if (rc == EXIT_OK && !cli->json) {
		list = json_object_get(reply, "groups");
		print_groups(list);
		more_hint(req, reply, list, "group");
	}
	json_decref(reply);
	return rc;
}

int
cmd_groups(struct cli *cli, struct args *a)
{
	json_t	*req, *v;
	int	 rc = 0;

	req = req_new("groups");
	if (a->npos > 0) {
		if ((v = string_arg(cli, "prefix", a->pos[0], &rc)) == NULL)
			goto out;
		req_set(req, "prefix", v);
	}
	if ((rc = opt_string(cli, a, "after", req)) != 0 ||
	    (rc = opt_limit(cli, a, GROUPS_LIMIT_MAX, req)) != 0)
		goto out;
	/* An older server answers unknown_op: say why instead. */
	if ((rc = cli_need_feature(cli, "groups", "groups")) != 0)
		goto out;
	rc = cli_watch(cli, a, groups_snapshot, req);
out:
	json_decref(req);
	return rc;
}
