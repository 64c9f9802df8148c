/*
 * cmd-job: the job commands of jq-client other than submit (job, jobs,
 * logs, cancel, wait), SPEC sections 4 and 7; submit is in cmd-submit.c.
 *
 * Each handler checks all of its arguments, then calls the server through
 * cli_call(); their entries (options, synopsis, help) are in the command
 * table in jq-client.c.  Human output, with --json replaced by one document
 * (the reply; cancel: the total and each reply; logs --follow: the final
 * result, the frames unprinted):
 *   job        aligned "key: value" lines, null fields left out, times as
 *              RFC 3339 UTC with "(5m ago)"; then the job's stdout and
 *              stderr under "--- stdout ---" / "--- stderr ---" headers
 *              when each is short (SHOW_OUTPUT_MAX_*), else only their
 *              sizes and a pointer to "logs"
 *   jobs       a table: ID STATE EXIT ATTEMPT AGE DURATION GROUP COMMAND
 *              (the job's name, else its command, cut to COMMAND_MAX)
 *   logs       stdout to stdout, stderr to stderr, raw
 *   cancel     the number of jobs canceled
 *   wait       one line per job, no header: ID STATE EXIT DURATION NAME;
 *              --progress draws on stderr (cli-progress.h) while the main
 *              connection blocks in "wait" and a second one polls
 */

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "cli-color.h"
#include "cli-output.h"
#include "cli-progress.h"
#include "shquote.h"
#include "strbuf.h"

#define LIMIT_MAX		1000LL
#define SHOW_OUTPUT_MAX_BYTES	4096	/* "job" shows output up to this */
#define SHOW_OUTPUT_MAX_LINES	40
#define POLL_INTERVAL_MS	200	/* --progress figures refresh */
#define COMMAND_MAX		48	/* a command in a table, in bytes */
#define JOBS_FILTER_MAX		256	/* jobs --name, --text (11.11) */

const char *const job_states[] = {
	"queued", "running", "succeeded", "failed", "deadline_exceeded",
	"canceled", NULL,
};

/* Signal names for exit columns; numbers are this machine's. */
static const struct {
	int		 sig;
	const char	*name;
} signames[] = {
	{ SIGHUP, "SIGHUP" }, { SIGINT, "SIGINT" }, { SIGQUIT, "SIGQUIT" },
	{ SIGILL, "SIGILL" }, { SIGABRT, "SIGABRT" }, { SIGFPE, "SIGFPE" },
	{ SIGKILL, "SIGKILL" }, { SIGSEGV, "SIGSEGV" }, { SIGPIPE, "SIGPIPE" },
	{ SIGALRM, "SIGALRM" }, { SIGTERM, "SIGTERM" }, { SIGUSR1, "SIGUSR1" },
	{ SIGUSR2, "SIGUSR2" }, { SIGBUS, "SIGBUS" }, { SIGXCPU, "SIGXCPU" },
};

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An integer member into *out: true when there is one. */
bool
member_int(const json_t *obj, const char *key, long long *out)
{
	const json_t	*v = json_object_get(obj, key);

	if (!json_is_integer(v))
		return false;
	*out = (long long)json_integer_value(v);
	return true;
}

/* A string member, or NULL. */
const char *
member_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* A job id argument: 0, or a usage error. */
int
job_id_arg(struct cli *cli, const char *s, long long *id)
{
	if (parse_int(s, 1, LLONG_MAX, id) == -1)
		return usage_error(cli, "invalid job id '%s' (an integer >= "
		    "1)", s);
	return 0;
}

/* EXIT column: the exit code (after prefix), a signal name, or "-". */
static char *
exit_cell(const json_t *job, const char *prefix)
{
	long long	 v;
	size_t		 i;
	char		*s;

	if (member_int(job, "exit_code", &v)) {
		if (asprintf(&s, "%s%lld", prefix, v) == -1)
			must(NULL);
		return s;
	}
	if (!member_int(job, "signal", &v))
		return NULL;
	for (i = 0; i < sizeof(signames) / sizeof(signames[0]); i++)
		if (signames[i].sig == v)
			return must(strdup(signames[i].name));
	if (asprintf(&s, "signal %lld", v) == -1)
		must(NULL);
	return s;
}

/* How long a job ran (until now when still running); -1: not started. */
static long long
run_ms(const json_t *job, long long now)
{
	long long	started, finished;

	if (!member_int(job, "started_ms", &started))
		return -1;
	if (!member_int(job, "finished_ms", &finished))
		finished = now;
	return finished > started ? finished - started : 0;
}

/*
 * The job's argv as a shell command line (NULL: the server sent none),
 * cut to max bytes with "..." when max > 0.
 */
static char *
command_text(const json_t *job, size_t max)
{
	const json_t	*argv = json_object_get(job, "argv"), *v;
	struct strbuf	 sb = STRBUF_INIT;
	size_t		 i;

	if (!json_is_array(argv))
		return NULL;
	json_array_foreach(argv, i, v) {
		if (i > 0)
			strbuf_appendc(&sb, ' ');
		shquote_append(&sb, json_is_string(v) ? json_string_value(v) :
		    "?");
		if (max > 0 && sb.len > max)
			break;
	}
	if (max > 0 && sb.len > max) {
		/* Not inside a UTF-8 sequence. */
		for (sb.len = max - 3; sb.len > 0 &&
		    (sb.data[sb.len] & 0xc0) == 0x80; sb.len--)
			;
		strbuf_append(&sb, "...", 3);
	}
	return strbuf_detach(&sb, NULL);
}

/* NAME or COMMAND column: the name, else the command, cut short. */
static char *
name_cell(const json_t *job)
{
	if (member_str(job, "name") != NULL)
		return must(strdup(member_str(job, "name")));
	return command_text(job, COMMAND_MAX);
}

/* A job's stdout or stderr (a string member), raw. */
void
write_output(FILE *f, const json_t *s)
{
	if (json_is_string(s))
		fwrite(json_string_value(s), 1, json_string_length(s), f);
}

/*
 * job, logs
 */

/* A one-job request: {"op": op, "job": ID}. */
static json_t *
job_request(struct cli *cli, const char *op, const char *arg, int *rc)
{
	json_t		*req;
	long long	 id;

	if ((*rc = job_id_arg(cli, arg, &id)) != 0)
		return NULL;
	req = req_new(op);
	req_set(req, "job", json_integer(id));
	return req;
}

static void
kv_member(struct kv_list *kv, const char *key, const json_t *job,
    const char *member)
{
	const json_t	*v = json_object_get(job, member);

	if (v != NULL && !json_is_null(v))
		kv_add(kv, must(strdup(key)), value_text(v));
}

/* A time member as "RFC 3339 (5m ago)" or "(in 5m)". */
static void
kv_time(struct kv_list *kv, const char *key, const json_t *job,
    const char *member, long long now)
{
	char		t[40], d[32];
	long long	ms;

	if (!member_int(job, member, &ms))
		return;
	fmt_time(t, sizeof(t), ms);
	if (ms <= now)
		kv_addf(kv, key, "%s (%s ago)", t,
		    fmt_duration(d, sizeof(d), now - ms));
	else
		kv_addf(kv, key, "%s (in %s)", t,
		    fmt_duration(d, sizeof(d), ms - now));
}

/* Short enough for "job" to show in full. */
static bool
output_fits(const json_t *s)
{
	const char	*p = json_string_value(s);
	size_t		 len = json_string_length(s), lines = 0, i;

	if (len > SHOW_OUTPUT_MAX_BYTES)
		return false;
	for (i = 0; i < len; i++)
		lines += p[i] == '\n';
	return lines <= SHOW_OUTPUT_MAX_LINES;
}

static void
kv_output(struct kv_list *kv, const char *name, const json_t *job,
    long long id)
{
	const json_t	*s = json_object_get(job, name);
	char		 trunc[32];

	if (!json_is_string(s))
		return;
	snprintf(trunc, sizeof(trunc), "%s_truncated", name);
	if (output_fits(s))
		kv_addf(kv, name, "%zu bytes%s", json_string_length(s),
		    json_is_true(json_object_get(job, trunc)) ?
		    ", truncated" : "");
	else
		kv_addf(kv, name, "%zu bytes%s, not shown (jq-client logs "
		    "%lld)", json_string_length(s),
		    json_is_true(json_object_get(job, trunc)) ?
		    ", truncated" : "", id);
}

/*
 * "env: NAME NAME ..." (1.4): the names of the job's environment,
 * shell-quoted; the server never sends the values.
 */
static void
kv_env_keys(struct kv_list *kv, const json_t *job)
{
	struct strbuf	 sb = STRBUF_INIT;
	const json_t	*keys = json_object_get(job, "env_keys"), *k;
	size_t		 i;

	if (json_array_size(keys) == 0)
		return;
	json_array_foreach(keys, i, k) {
		if (!json_is_string(k))
			continue;
		if (sb.len > 0)
			strbuf_appendc(&sb, ' ');
		shquote_append(&sb, json_string_value(k));
	}
	kv_addf(kv, "env", "%s (values not shown)", sb.data != NULL ?
	    sb.data : "");
	strbuf_fini(&sb);
}

static void
print_job(const json_t *job)
{
	static const char *const as_is[] = {
		"job", "name", "state", "exit_code", "signal", "error",
		"group", "parent", "retry_of", "priority", "attempt", NULL,
	};
	static const char *const shown[] = {
		"job", "name", "state", "exit_code", "signal", "error",
		"group", "parent", "retry_of", "priority", "attempt",
		"progress", "submitted_ms", "started_ms", "finished_ms",
		"deadline_ms", "stdout", "stderr", "stdout_truncated",
		"stderr_truncated", "argv", "not_before_ms", "env_keys",
		NULL,
	};
	struct kv_list	 kv = KV_LIST_INIT;
	const json_t	*s;
	const char	*stream;
	char		*cmdline;
	long long	 id = 0, now = now_ms(), done, total, ms;
	char		 d[32];
	int		 i;

	member_int(job, "job", &id);
	for (i = 0; as_is[i] != NULL; i++) {
		if (strcmp(as_is[i], "state") == 0 &&
		    member_str(job, "state") != NULL)
			kv_add(&kv, must(strdup("state")),
			    cli_color_state_text(member_str(job, "state")));
		else
			kv_member(&kv, as_is[i], job, as_is[i]);
		/* What it runs, after its name: the argv, shell-quoted. */
		if (strcmp(as_is[i], "name") == 0 &&
		    (cmdline = command_text(job, 0)) != NULL)
			kv_add(&kv, must(strdup("command")), cmdline);
	}
	s = json_object_get(job, "progress");
	if (member_int(s, "done", &done)) {
		if (member_int(s, "total", &total) && total > 0)
			kv_addf(&kv, "progress", "%lld/%lld (%.0f%%)", done,
			    total, 100.0 * (double)done / (double)total);
		else
			kv_addf(&kv, "progress", "%lld", done);
	}
	kv_time(&kv, "submitted", job, "submitted_ms", now);
	kv_time(&kv, "starts", job, "not_before_ms", now);
	kv_time(&kv, "started", job, "started_ms", now);
	kv_time(&kv, "finished", job, "finished_ms", now);
	if ((ms = run_ms(job, now)) >= 0)
		kv_addf(&kv, member_int(job, "finished_ms", &done) ?
		    "duration" : "running for", "%s",
		    fmt_duration(d, sizeof(d), ms));
	kv_time(&kv, "deadline", job, "deadline_ms", now);
	kv_env_keys(&kv, job);
	kv_output(&kv, "stdout", job, id);
	kv_output(&kv, "stderr", job, id);
	kv_add_object(&kv, job, "", shown);	/* fields added later */
	kv_print_free(&kv, ":");

	for (i = 0; i < 2; i++) {
		stream = i == 0 ? "stdout" : "stderr";
		s = json_object_get(job, stream);
		if (json_string_length(s) == 0 || !output_fits(s))
			continue;
		printf("\n--- %s ---\n", stream);
		write_output(stdout, s);
		if (json_string_value(s)[json_string_length(s) - 1] != '\n')
			putchar('\n');
	}
}

int
cmd_job(struct cli *cli, struct args *a)
{
	json_t	*req, *reply;
	int	 rc = 0;

	if ((req = job_request(cli, "job", a->pos[0], &rc)) == NULL)
		return rc;
	rc = cli_call(cli, req, &reply);
	if (rc == EXIT_OK && !cli->json)
		print_job(reply);
	json_decref(reply);
	return rc;
}

/*
 * Has the server the "watch" op?  1 yes, 0 no, -1 cannot tell (a hello
 * without "features": a server of protocol 1.0, or an error reply to
 * hello; try the op and take unknown_op as no).
 */
static int
server_has_watch(struct cli *cli)
{
	const struct jqc_hello	*h = jqc_last_hello(cli->conn);

	if (h == NULL || h->minor < 1)
		return -1;
	return jqc_has_feature(cli->conn, "watch");
}

/*
 * Run a watch (job, or group) on the main connection, frames to cb.
 * Returns EXIT_OK with *reply its last line; or -1: the server has no
 * watch (fall back); else an exit status (reported).
 */
static int
watch_run(struct cli *cli, long long job, const char *group, unsigned flags,
    jqc_watch_cb *cb, void *arg, json_t **reply)
{
	int	 rc;

	*reply = NULL;
	if ((rc = cli_hello(cli)) != 0)
		return rc;
	if (server_has_watch(cli) == 0)
		return -1;
	if (jqc_watch(cli->conn, job, group, flags, cb, arg, reply) == 0)
		return EXIT_OK;
	if (jqc_errcode(cli->conn) == JQC_E_UNKNOWN_OP)
		return -1;
	if (jqc_last_reply(cli->conn) != NULL &&
	    !jqc_reply_ok(jqc_last_reply(cli->conn)))
		return cli_report_reply_error(cli, jqc_last_reply(cli->conn));
	return cli_fail(cli, EXIT_CONNECT, "connection", "%s",
	    jqc_error(cli->conn));
}

/* logs --follow: what is printed of each stream so far. */
struct follow {
	struct cli	*cli;
	size_t		 printed[2];	/* stdout, stderr bytes */
	int64_t		 attempt;
	bool		 lagged;
};

static void
follow_cb(const json_t *f, void *arg)
{
	struct follow	*fl = arg;
	const char	*event = member_str(f, "event"), *st;
	const json_t	*data = json_object_get(f, "data");
	long long	 attempt = 0, dropped = 0;
	int		 i;

	/* --json: one document at the end, the final result. */
	if (fl->cli->json || event == NULL)
		return;
	if (strcmp(event, "output") == 0 && json_is_string(data)) {
		i = (st = member_str(f, "stream")) != NULL &&
		    strcmp(st, "stderr") == 0;
		write_output(i ? stderr : stdout, data);
		fflush(i ? stderr : stdout);
		fl->printed[i] += json_string_length(data);
	} else if (strcmp(event, "state") == 0 &&
	    member_int(json_object_get(f, "result"), "attempt",
	    &attempt) && attempt != fl->attempt) {
		/* A new attempt's output starts over. */
		if (fl->attempt != 0 && (fl->printed[0] || fl->printed[1]))
			fprintf(stderr, "jq-client: attempt %lld\n", attempt);
		fl->attempt = attempt;
		fl->printed[0] = fl->printed[1] = 0;
	} else if (strcmp(event, "lagged") == 0) {
		(void)member_int(f, "dropped_bytes", &dropped);
		fprintf(stderr, "jq-client: %lld bytes of output not shown "
		    "(read too slowly)\n", dropped);
		fl->lagged = true;
	}
}

/* The rest of s past the first skip bytes. */
static void
write_output_from(FILE *f, const json_t *s, size_t skip)
{
	if (json_is_string(s) && json_string_length(s) > skip)
		fwrite(json_string_value(s) + skip, 1,
		    json_string_length(s) - skip, f);
}

/* Poll "job" until the job is final (a server without watch). */
static int
logs_poll(struct cli *cli, const char *arg, json_t **reply)
{
	struct timespec	 ts = { 0, POLL_INTERVAL_MS * 1000000L };
	const char	*st;
	json_t		*req;
	int		 rc;

	for (;;) {
		if ((req = job_request(cli, "job", arg, &rc)) == NULL)
			return rc;
		if ((rc = cli_call(cli, req, reply)) != EXIT_OK)
			return rc;
		st = member_str(*reply, "state");
		if (st == NULL || (strcmp(st, "queued") != 0 &&
		    strcmp(st, "running") != 0))
			return EXIT_OK;
		json_decref(*reply);
		*reply = NULL;
		nanosleep(&ts, NULL);
	}
}

/*
 * logs --follow: the output as it comes, until the job is final; then
 * what the frames did not carry (all of it for a job already final).
 * Exits as wait does: 0 if the job succeeded.
 */
static int
logs_follow(struct cli *cli, const char *arg)
{
	struct follow	 fl = { cli, { 0, 0 }, 0, false };
	json_t		*reply, *doc;
	const json_t	*res;
	const char	*st;
	long long	 id;
	int		 rc;

	if ((rc = job_id_arg(cli, arg, &id)) != 0)
		return rc;
	rc = watch_run(cli, id, NULL, 0, follow_cb, &fl, &reply);
	if (rc == -1) {
		if ((rc = logs_poll(cli, arg, &reply)) != EXIT_OK)
			return rc;
		res = reply;
	} else if (rc != EXIT_OK)
		return rc;
	else
		res = json_array_get(json_object_get(reply, "results"), 0);
	if (cli->json) {
		/* The result object as "logs" prints it: a "job" reply. */
		doc = must(json_pack("{s:b}", "ok", 1));
		if (json_object_update(doc, (json_t *)res) == -1)
			must(NULL);
		json_object_del(doc, "id");
		cli_doc_set(cli, doc);
	} else if (!fl.lagged) {
		/* The frames were the start of the output; the rest. */
		write_output_from(stdout, json_object_get(res, "stdout"),
		    fl.printed[0]);
		fflush(stdout);
		write_output_from(stderr, json_object_get(res, "stderr"),
		    fl.printed[1]);
	}
	st = member_str(res, "state");
	rc = st != NULL && strcmp(st, "succeeded") == 0 ? EXIT_OK :
	    EXIT_REPLY;
	json_decref(reply);
	return rc;
}

int
cmd_logs(struct cli *cli, struct args *a)
{
	json_t	*req, *reply;
	int	 rc = 0;

	if (args_opt(a, "follow") != NULL)
		return logs_follow(cli, a->pos[0]);
	if ((req = job_request(cli, "job", a->pos[0], &rc)) == NULL)
		return rc;
	rc = cli_call(cli, req, &reply);
	if (rc == EXIT_OK && !cli->json) {
		write_output(stdout, json_object_get(reply, "stdout"));
		fflush(stdout);
		write_output(stderr, json_object_get(reply, "stderr"));
		if (json_is_true(json_object_get(reply, "stdout_truncated")))
			fprintf(stderr, "jq-client: job %s: stdout "
			    "truncated\n", a->pos[0]);
		if (json_is_true(json_object_get(reply, "stderr_truncated")))
			fprintf(stderr, "jq-client: job %s: stderr "
			    "truncated\n", a->pos[0]);
	}
	json_decref(reply);
	return rc;
}

/*
 * jobs
 */

static void
print_jobs(const json_t *jobs)
{
	static const char *const titles[] = { "ID", "STATE", "EXIT",
	    "ATTEMPT", "AGE", "DURATION", "GROUP", "COMMAND" };
	static const bool right[] = { true, false, false, true, true, true,
	    false, false };
	struct table	 t;
	const json_t	*job;
	long long	 now = now_ms(), v;
	size_t		 i;
	char		 d[32];

	table_init(&t, sizeof(titles) / sizeof(titles[0]));
	table_color_states(&t, 1);
	json_array_foreach(jobs, i, job) {
		table_add(&t, value_text(json_object_get(job, "job")));
		table_add(&t, value_text(json_object_get(job, "state")));
		table_add(&t, exit_cell(job, ""));
		table_add(&t, value_text(json_object_get(job, "attempt")));
		table_add(&t, member_int(job, "submitted_ms", &v) ?
		    must(strdup(fmt_duration(d, sizeof(d), now - v))) : NULL);
		table_add(&t, (v = run_ms(job, now)) >= 0 ?
		    must(strdup(fmt_duration(d, sizeof(d), v))) : NULL);
		table_add(&t, member_str(job, "group") != NULL ?
		    must(strdup(member_str(job, "group"))) : NULL);
		table_add(&t, name_cell(job));
	}
	table_print_free(&t, titles, right);
}

/* One "jobs" request (req: a copy is sent) and its table. */
static int
jobs_snapshot(struct cli *cli, void *req)
{
	json_t	*reply;
	int	 rc;

	rc = cli_call(cli, must(json_deep_copy(req)), &reply);
	if (rc == EXIT_OK && !cli->json)
		print_jobs(json_object_get(reply, "jobs"));
	json_decref(reply);
	return rc;
}

/*
 * --pool, --name, --text (protocol 1.4) into req: 0, or the exit status
 * after reporting.  An older server would ignore them and list every job,
 * so they need its feature.
 */
static int
jobs_filter_args(struct cli *cli, const struct args *a, json_t *req)
{
	static const char *const opts[] = { "pool", "name", "text" };
	const char	*s;
	size_t		 i;
	bool		 any = false;
	int		 rc = 0;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if ((s = args_opt(a, opts[i])) == NULL)
			continue;
		if (i == 0 && (rc = check_name(cli, "pool", s)) != 0)
			return rc;
		if (*s == '\0' || strlen(s) > JOBS_FILTER_MAX)
			return usage_error(cli, "invalid --%s '%s' (1 to %d "
			    "bytes)", opts[i], s, JOBS_FILTER_MAX);
		if ((rc = opt_string(cli, a, opts[i], req)) != 0)
			return rc;
		any = true;
	}
	return any ? cli_need_feature(cli, "jobs_filter",
	    "--pool, --name and --text") : 0;
}

int
cmd_jobs(struct cli *cli, struct args *a)
{
	json_t		*req;
	const char	*s;
	long long	 v;
	int		 i, rc;

	req = req_new("jobs");
	if ((s = args_opt(a, "state")) != NULL) {
		for (i = 0; job_states[i] != NULL; i++)
			if (strcmp(job_states[i], s) == 0)
				break;
		if (job_states[i] == NULL) {
			json_decref(req);
			return usage_error(cli, "invalid state '%s' (queued, "
			    "running, succeeded, failed, deadline_exceeded, "
			    "canceled)", s);
		}
		req_set(req, "state", json_string(s));
	}
	if ((s = args_opt(a, "group")) != NULL &&
	    (rc = check_name(cli, "group", s)) != 0)
		goto fail;
	if (s != NULL)
		req_set(req, "group", json_string(s));
	if ((rc = opt_limit(cli, a, LIMIT_MAX, req)) != 0)
		goto fail;
	if ((s = args_opt(a, "before")) != NULL) {
		if ((rc = job_id_arg(cli, s, &v)) != 0)
			goto fail;
		req_set(req, "before", json_integer(v));
	}
	if ((rc = jobs_filter_args(cli, a, req)) != 0)
		goto fail;
	rc = cli_watch(cli, a, jobs_snapshot, req);
fail:
	json_decref(req);
	return rc;
}

/*
 * cancel, wait: "ID..." or "--group G", never both.
 */

/* The job ids of the positionals as a new array, or a group name. */
static int
ids_or_group(struct cli *cli, const struct args *a, json_t **ids,
    const char **group)
{
	long long	 id;
	int		 i, rc;

	*ids = NULL;
	*group = args_opt(a, "group");
	if (*group != NULL && a->npos > 0)
		return usage_error(cli, "give job ids or --group, not both");
	if (*group != NULL)
		return check_name(cli, "group", *group);
	if (a->npos == 0)
		return usage_error(cli, "missing job ids (or --group G)");
	*ids = must(json_array());
	for (i = 0; i < a->npos; i++) {
		if ((rc = job_id_arg(cli, a->pos[i], &id)) != 0) {
			json_decref(*ids);
			*ids = NULL;
			return rc;
		}
		json_array_append_new(*ids, must(json_integer(id)));
	}
	return 0;
}

/*
 * cancel: one request per job.  --json: {"ok", "canceled": the total,
 * "results": each reply (or error) in order}, with the first error as
 * "error" when one failed.
 */
int
cmd_cancel(struct cli *cli, struct args *a)
{
	json_t		*ids, *id, *req, *reply, *results, *first_err = NULL;
	json_t		*doc;
	const char	*group;
	long long	 canceled = 0, n;
	size_t		 i;
	int		 rc, first_rc = EXIT_OK;
	bool		 answered = false;

	if ((rc = ids_or_group(cli, a, &ids, &group)) != 0)
		return rc;
	results = must(json_array());
	/* One request per job; a job that fails does not stop the rest. */
	for (i = 0; group != NULL ? i == 0 : i < json_array_size(ids); i++) {
		req = req_new("cancel");
		if (group != NULL)
			req_set(req, "group", json_string(group));
		else {
			id = json_array_get(ids, i);
			req_set(req, "job", json_incref(id));
		}
		rc = cli_call(cli, req, &reply);
		if (rc == EXIT_OK && member_int(reply, "canceled", &n))
			canceled += n;
		answered = answered || rc == EXIT_OK;
		json_decref(reply);
		if ((doc = cli_doc_take(cli)) != NULL) {
			if (rc != EXIT_OK && first_err == NULL)
				first_err = json_incref(json_object_get(doc,
				    "error"));
			json_array_append_new(results, doc);
		}
		if (first_rc == EXIT_OK)
			first_rc = rc;
		if (rc == EXIT_CONNECT)
			break;
	}
	json_decref(ids);
	/* Nothing canceled in a group it has never heard of: say so. */
	if (group != NULL && answered && canceled == 0 &&
	    (rc = group_known(cli, group)) != EXIT_OK) {
		json_decref(results);
		json_decref(first_err);
		return rc;
	}
	if (answered && !cli->json)
		printf("%lld\n", canceled);
	doc = must(json_pack("{s:b, s:I, s:o}", "ok", first_rc == EXIT_OK,
	    "canceled", (json_int_t)canceled, "results", results));
	if (first_err != NULL)
		req_set(doc, "error", first_err);
	cli_doc_set(cli, doc);
	return first_rc;
}

/*
 * One poll for the progress bar on connection c: "group" for a group,
 * else "job" for each id (pipelined; a job's reply carries its output,
 * so this costs more than "group" when outputs are large).  Returns 0
 * with p filled, or -1 with the reason in errbuf: stop polling.
 */
static int
poll_figures(struct jqc *c, const json_t *wait_req, struct progress *p,
    char *errbuf, size_t errlen)
{
	const json_t	*group = json_object_get(wait_req, "group"), *id;
	json_t		*req, *reply = NULL;
	size_t		 i;
	int		 rc = -1;

	progress_init(p);
	if (group != NULL) {
		req = req_new("group");
		req_set(req, "group", json_incref((json_t *)group));
		if (jqc_call(c, req, &reply) == 0 && jqc_reply_ok(reply) &&
		    progress_from_group(p, reply) == 0)
			rc = 0;
		json_decref(req);
	} else {
		json_array_foreach(json_object_get(wait_req, "jobs"), i, id) {
			req = req_new("job");
			req_set(req, "job", json_incref((json_t *)id));
			rc = jqc_send_request(c, req, NULL);
			json_decref(req);
			if (rc == -1)
				break;
		}
		while (rc == 0 && jqc_pending(c) > 0) {
			if ((rc = jqc_read_reply(c, &reply)) == 0)
				progress_add_job(p, jqc_reply_ok(reply) ?
				    reply : NULL);
			json_decref(reply);
			reply = NULL;
		}
	}
	if (rc == -1 && reply != NULL && !jqc_reply_ok(reply))
		snprintf(errbuf, errlen, "%s: %s",
		    jqc_reply_error_code(reply),
		    jqc_reply_error_message(reply) != NULL ?
		    jqc_reply_error_message(reply) : "(no message)");
	else if (rc == -1 && reply != NULL)
		snprintf(errbuf, errlen, "unexpected reply to group");
	else if (rc == -1)
		snprintf(errbuf, errlen, "%s", jqc_error(c));
	json_decref(reply);
	return rc;
}

/*
 * A signal while the bar is on a terminal erases it and shows the cursor
 * before it ends jq-client (the wait itself cannot be called off: a watch
 * holds the connection); on: from the first draw, off: after the end.
 */
static void
progress_signals(const struct progress_display *d, bool on)
{
	if (!d->tty)
		return;
	if (on && cli_catch_signals() == -1)
		return;
	cli_signal_restore(fileno(d->f), on ? PROGRESS_RESTORE : NULL, true);
}

/*
 * wait --progress: send req (borrowed) on the main connection and, until
 * its reply is in, poll the figures on a second one every
 * POLL_INTERVAL_MS and show them.  Same contract as cli_call().
 */
static int
wait_progress(struct cli *cli, json_t *req, enum progress_units units,
    json_t **reply)
{
	struct progress_display	 d;
	struct progress		 p;
	struct jqc		*poller;
	const json_t		*job;
	char			 errbuf[512];
	size_t			 i;
	int			 n, rc;

	*reply = NULL;
	if ((rc = cli_connect(cli)) != 0)
		return rc;
	if (jqc_send_request(cli->conn, req, NULL) == -1)
		goto lost;
	progress_display_init(&d, stderr, units);
	progress_signals(&d, true);
	if ((poller = cli_connect_extra(cli, errbuf, sizeof(errbuf))) == NULL)
		fprintf(stderr, "jq-client: no progress: %s\n", errbuf);
	for (;;) {
		if (poller != NULL &&
		    poll_figures(poller, req, &p, errbuf, sizeof(errbuf)) == 0)
			progress_display_show(&d, &p);
		else if (poller != NULL) {
			progress_display_end(&d);
			fprintf(stderr, "jq-client: no progress: %s\n", errbuf);
			jqc_close(poller);
			poller = NULL;
		}
		n = jqc_poll_reply(cli->conn, poller != NULL ?
		    POLL_INTERVAL_MS : -1);
		if (n != 0)
			break;
	}
	jqc_close(poller);
	if (n == -1 || jqc_read_reply(cli->conn, reply) == -1) {
		progress_display_end(&d);
		progress_signals(&d, false);
		goto lost;
	}
	if (!jqc_reply_ok(*reply)) {
		progress_display_end(&d);
		progress_signals(&d, false);
		return cli_report_reply_error(cli, *reply);
	}
	/* The last figures come from the results themselves. */
	progress_init(&p);
	json_array_foreach(json_object_get(*reply, "results"), i, job)
		progress_add_job(&p, job);
	progress_display_show(&d, &p);
	progress_display_end(&d);
	progress_signals(&d, false);
	cli_doc_reply(cli, *reply);
	return EXIT_OK;
lost:
	return cli_fail(cli, EXIT_CONNECT, "connection", "%s",
	    jqc_error(cli->conn));
}

/* wait --progress over a watch: the latest result object of each job. */
struct watch_bar {
	struct progress_display	 d;
	json_t			*jobs;		/* id text -> result */
	long long		 shown_ms;
	bool			 synced;	/* the snapshot is in */
};

static void
watch_bar_show(struct watch_bar *wb)
{
	struct progress	 p;
	const char	*key;
	json_t		*job;

	progress_init(&p);
	json_object_foreach(wb->jobs, key, job)
		progress_add_job(&p, job);
	progress_display_show(&wb->d, &p);
	wb->shown_ms = now_ms();
}

static void
watch_bar_cb(const json_t *f, void *arg)
{
	struct watch_bar	*wb = arg;
	const char		*event = member_str(f, "event");
	json_t			*job;
	char			 key[32];
	long long		 id;

	if (event != NULL && strcmp(event, "synced") == 0) {
		/* Drawn once the snapshot is whole, not job by job. */
		wb->synced = true;
		watch_bar_show(wb);
		return;
	}
	if (event == NULL || !member_int(f, "job", &id))
		return;
	snprintf(key, sizeof(key), "%lld", id);
	if (strcmp(event, "state") == 0)
		json_object_set(wb->jobs, key, json_object_get(f, "result"));
	else if (strcmp(event, "progress") == 0 &&
	    (job = json_object_get(wb->jobs, key)) != NULL)
		json_object_set(job, "progress", json_object_get(f,
		    "progress"));
	else
		return;
	/* A state at once; progress at most every POLL_INTERVAL_MS. */
	if (wb->synced && (strcmp(event, "state") == 0 ||
	    now_ms() - wb->shown_ms >= POLL_INTERVAL_MS))
		watch_bar_show(wb);
}

/*
 * wait --progress for one job or a group, with a watch: the bar moves as
 * frames come.  Same contract as cli_call(), or -1: no watch (poll).
 */
static int
wait_watch(struct cli *cli, json_t *req, enum progress_units units,
    json_t **reply)
{
	struct watch_bar	 wb;
	const json_t		*jobs = json_object_get(req, "jobs");
	const char		*group = member_str(req, "group");
	long long		 id = 0;
	int			 rc;

	if (group == NULL && json_array_size(jobs) != 1)
		return -1;
	if (group == NULL)
		id = json_integer_value(json_array_get(jobs, 0));
	memset(&wb, 0, sizeof(wb));
	progress_display_init(&wb.d, stderr, units);
	if ((wb.jobs = json_object()) == NULL)
		return -1;
	progress_signals(&wb.d, true);
	rc = watch_run(cli, id, group, json_is_false(json_object_get(req,
	    "output")) ? JQC_WATCH_NO_OUTPUT : 0, watch_bar_cb, &wb, reply);
	/* No result: a group with no job, which the caller reports. */
	if (rc == EXIT_OK && json_array_size(json_object_get(*reply,
	    "results")) > 0)
		watch_bar_show(&wb);
	if (rc != -1)
		progress_display_end(&wb.d);
	progress_signals(&wb.d, false);
	json_decref(wb.jobs);
	if (rc == EXIT_OK)
		cli_doc_reply(cli, *reply);
	return rc;
}

/* One line per job: ID STATE EXIT DURATION NAME (error). */
static void
print_wait_results(const json_t *results)
{
	static const bool right[] = { true, false, false, true, false };
	struct table	 t;
	const json_t	*job;
	const char	*error;
	long long	 now = now_ms(), v;
	size_t		 i;
	char		 d[32], *name;

	table_init(&t, 5);
	table_color_states(&t, 1);
	json_array_foreach(results, i, job) {
		table_add(&t, value_text(json_object_get(job, "job")));
		table_add(&t, value_text(json_object_get(job, "state")));
		table_add(&t, exit_cell(job, "exit "));
		table_add(&t, (v = run_ms(job, now)) >= 0 ?
		    must(strdup(fmt_duration(d, sizeof(d), v))) : NULL);
		name = name_cell(job);
		if ((error = member_str(job, "error")) != NULL)
			table_addf(&t, "%s%s(%s)", name != NULL ? name : "",
			    name != NULL ? " " : "", error);
		else
			table_add(&t, name);
		if (error != NULL)
			free(name);
	}
	table_print_free(&t, NULL, right);
}

int
cmd_wait(struct cli *cli, struct args *a)
{
	json_t		*ids, *req, *reply, *job;
	const char	*group, *units_s;
	enum progress_units units = PROGRESS_BYTES;
	size_t		 i;
	int		 rc;

	if ((rc = ids_or_group(cli, a, &ids, &group)) != 0)
		return rc;
	req = req_new("wait");
	if (group != NULL)
		req_set(req, "group", json_string(group));
	else
		req_set(req, "jobs", ids);
	/* The table shows no output: do not have it sent (--json does). */
	if (!cli->json)
		req_set(req, "output", json_false());
	if ((rc = opt_duration(cli, a, "timeout", req, "timeout_ms", 0)) != 0)
		goto fail;
	if ((units_s = args_opt(a, "units")) != NULL) {
		if (strcmp(units_s, "plain") == 0)
			units = PROGRESS_PLAIN;
		else if (strcmp(units_s, "bytes") != 0) {
			rc = usage_error(cli, "invalid --units '%s' (bytes or "
			    "plain)", units_s);
			goto fail;
		}
	}

	if (args_opt(a, "progress") != NULL) {
		if ((rc = wait_watch(cli, req, units, &reply)) == -1)
			rc = wait_progress(cli, req, units, &reply);
		json_decref(req);
	} else
		rc = cli_call(cli, req, &reply);
	/* A group with no job answers at once: not a success. */
	if (rc == EXIT_OK && group != NULL &&
	    json_array_size(json_object_get(reply, "results")) == 0) {
		rc = group_missing(cli, group);
	} else if (rc == EXIT_OK) {
		if (!cli->json)
			print_wait_results(json_object_get(reply, "results"));
		json_array_foreach(json_object_get(reply, "results"), i, job)
			if (member_str(job, "state") == NULL ||
			    strcmp(member_str(job, "state"), "succeeded") != 0)
				rc = EXIT_REPLY;
	}
	json_decref(reply);
	return rc;
fail:
	json_decref(req);
	return rc;
}
