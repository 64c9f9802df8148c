/*
 * jq-client: the command-line client of jqd, built on libjqclient.
 *
 * A run is: global options, then one command from the command table with
 * its own options and arguments.  This file holds the run itself: main,
 * the global options, the command table with each command's help, the
 * connection, and the two server-wide commands (ping, stats).  Argument
 * parsing is in cli-args.c; the handlers of the channel and job families
 * are in cmd-chan.c, cmd-job.c and cmd-submit.c (see cli.h).  Each handler
 * first checks every argument and builds its requests, and only then
 * talks to the server: the connection is opened lazily by the first
 * cli_call(), so a usage error (exit 2) is always reported before any
 * connection is tried.
 *
 * Output has two modes.  With --json every reply is printed as it arrives,
 * compact, one per line, errors included; handlers print nothing else on
 * stdout.  Otherwise handlers print a human form of the reply (see the help
 * text for each command's format).  Errors always go to stderr as
 * "jq-client: <code>: <message>".  Exit status (SPEC sections 7, 8): 0 ok,
 * 1 error reply, 2 usage, 3 cannot connect or connection lost, 124
 * timeout, 128 + N a blocking request canceled on signal N (cli-cancel.c);
 * submit --wait exits as its job did.
 *
 * A new command is a handler plus a line in cmds[]; option parsing, usage
 * and help come from the table.
 */

#include <errno.h>
#include <pwd.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "cli-output.h"
#include "request.h"

/* The CLI may exit on out-of-memory; the library never does. */
void *
must(void *p)
{
	if (p == NULL) {
		fputs("jq-client: out of memory\n", stderr);
		exit(EXIT_REPLY);
	}
	return p;
}

json_t *
req_new(const char *op)
{
	return must(json_pack("{s:s}", "op", op));
}

/* Set key of req to value (stolen). */
void
req_set(json_t *req, const char *key, json_t *value)
{
	if (json_object_set_new(req, key, must(value)) == -1)
		must(NULL);
}

/* Print a usage error for the current command and return EXIT_USAGE. */
int
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
	return EXIT_USAGE;
}

/*
 * Talking to the server.
 */

int
cli_exit_for_code(const char *code)
{
	return strcmp(code, "timeout") == 0 ? EXIT_TIMEOUT : EXIT_REPLY;
}

/* One reply as one line of JSON on stdout (--json). */
void
cli_print_json(const json_t *reply)
{
	json_dumpf(reply, stdout, JSON_COMPACT);
	fputc('\n', stdout);
}

/*
 * A reply of the main connection (--json): a reply with values as the
 * server wrote it (19.99 stays 19.99), others as jansson writes them.
 */
static void
cli_print_reply(struct cli *cli, const json_t *reply)
{
	const char	*line;
	size_t		 len;

	if ((line = jqc_reply_text(cli->conn, reply, &len)) == NULL) {
		cli_print_json(reply);
		return;
	}
	fwrite(line, 1, len, stdout);
	fputc('\n', stdout);
}

/* Report an error reply (printed too with --json); its exit status. */
int
cli_report_reply_error(struct cli *cli, const json_t *reply)
{
	const char	*code, *msg;

	if (cli->json)
		cli_print_json(reply);
	code = jqc_reply_error_code(reply);
	msg = jqc_reply_error_message(reply);
	fprintf(stderr, "jq-client: %s: %s\n", code,
	    msg != NULL ? msg : "(no message)");
	/* Aborted on a signal: exit as if killed by it (cli-cancel.c). */
	if (strcmp(code, "canceled") == 0 && cli_interrupted(cli) != 0)
		return EXIT_SIGNAL + cli_interrupted(cli);
	return cli_exit_for_code(code);
}

/*
 * Open and authenticate a connection.  Returns it, or NULL with the reason
 * in errbuf; *refused is set when the server refused the token (its reply
 * is then in *reply, a new reference).
 */
static struct jqc *
connect_auth(struct cli *cli, char *errbuf, size_t errlen, json_t **reply)
{
	struct jqc	*c;

	*reply = NULL;
	if ((c = jqc_connect_tls(cli->server.addr, conn_opts_tls(&cli->server),
	    errbuf, errlen)) == NULL)
		return NULL;
	if (cli->server.token == NULL || jqc_auth(c, cli->server.token) == 0)
		return c;
	snprintf(errbuf, errlen, "%s", jqc_error(c));
	if (jqc_error_code(c) != NULL)
		*reply = json_incref(jqc_last_reply(c));
	jqc_close(c);
	return NULL;
}

/* Connect and authenticate the main connection, once. */
int
cli_connect(struct cli *cli)
{
	char	 errbuf[512];
	json_t	*refusal;
	int	 rc;

	if (cli->conn != NULL)
		return 0;
	cli->conn = connect_auth(cli, errbuf, sizeof(errbuf), &refusal);
	if (cli->conn != NULL)
		return 0;
	if (refusal != NULL) {
		rc = cli_report_reply_error(cli, refusal);
		json_decref(refusal);
		return rc;
	}
	fprintf(stderr, "jq-client: %s\n", errbuf);
	return EXIT_CONNECT;
}

int
cli_hello(struct cli *cli)
{
	struct jqc_hello	h;
	int			rc;

	if ((rc = cli_connect(cli)) != 0 || cli->hello_said)
		return rc;
	cli->hello_said = true;
	/* A 1.0 server ignores "multiplex" (PROTOCOL.md 12). */
	if (cli->cmd != NULL && (cli->cmd->flags & CMD_MAY_BLOCK))
		rc = jqc_hello_mux(cli->conn, &h);
	else
		rc = jqc_hello(cli->conn, &h);
	/* An error reply, or an odd one: a server that lists nothing. */
	if (rc == -1 && jqc_errcode(cli->conn) == JQC_E_IO) {
		fprintf(stderr, "jq-client: %s\n", jqc_error(cli->conn));
		return EXIT_CONNECT;
	}
	return 0;
}

bool
cli_has_feature(struct cli *cli, const char *feature, int *rc)
{
	if ((*rc = cli_hello(cli)) != 0)
		return false;
	return jqc_has_feature(cli->conn, feature);
}

const char *
cli_consumer(struct cli *cli, int *rc)
{
	/* An old server does not list it, and would ignore it. */
	return cli_has_feature(cli, "consumer", rc) ? cli->consumer : NULL;
}

struct jqc *
cli_connect_extra(struct cli *cli, char *errbuf, size_t errlen)
{
	struct jqc	*c;
	json_t		*refusal;

	c = connect_auth(cli, errbuf, errlen, &refusal);
	json_decref(refusal);
	return c;
}

/* cli_call() through call: jqc_call or jqc_call_keyed. */
static int
cli_call_with(struct cli *cli, json_t *req, json_t **reply,
    int (*call)(struct jqc *, json_t *, json_t **))
{
	int	rc;

	*reply = NULL;
	if (cli_interrupted(cli) != 0) {
		/* A signal came after the last request: send no more. */
		json_decref(req);
		fputs("jq-client: interrupted\n", stderr);
		return EXIT_SIGNAL + cli_interrupted(cli);
	}
	/* A blocking request may be aborted: hello says whether. */
	if ((rc = cli_connect(cli)) != 0 || (cli_op_may_block(req) &&
	    (rc = cli_hello(cli)) != 0)) {
		json_decref(req);
		return rc;
	}
	if (cli_op_may_block(req))
		rc = cli_call_blocking(cli, req, reply, call);
	else
		rc = call(cli->conn, req, reply);
	json_decref(req);
	if (rc == -1) {
		fprintf(stderr, "jq-client: %s\n", jqc_error(cli->conn));
		return EXIT_CONNECT;
	}
	if (!jqc_reply_ok(*reply))
		return cli_report_reply_error(cli, *reply);
	if (cli->json)
		cli_print_reply(cli, *reply);
	return EXIT_OK;
}

int
cli_call(struct cli *cli, json_t *req, json_t **reply)
{
	return cli_call_with(cli, req, reply, jqc_call);
}

int
cli_call_keyed(struct cli *cli, json_t *req, json_t **reply)
{
	return cli_call_with(cli, req, reply, jqc_call_keyed);
}

/*
 * The server-wide commands; the channel and job families have files of
 * their own.
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
	return rc;
}

static int
cmd_stats(struct cli *cli, struct args *a)
{
	struct kv_list	 kv = KV_LIST_INIT;
	json_t		*reply;
	int		 rc;

	(void)a;	/* no arguments */
	rc = cli_call(cli, req_new("stats"), &reply);
	if (rc == EXIT_OK && !cli->json) {
		kv_add_object(&kv, reply, "", NULL);
		kv_print_free(&kv, "");
	}
	json_decref(reply);
	return rc;
}

/*
 * The command table.  Options are listed per command; "-h"/"--help" work
 * everywhere.
 */
static const struct opt opts_none[] = {
	{ NULL, 0, false },
};
static const struct opt opts_make[] = {
	{ "max-deliveries", 0, true },
	{ "dead-letter", 0, true },
	{ NULL, 0, false },
};
static const struct opt opts_send[] = {
	{ "batch", 0, false },
	{ "key", 0, true },
	{ "raw", 0, false },
	{ "strict", 0, false },
	{ "timeout", 0, true },
	{ NULL, 0, false },
};
static const struct opt opts_recv[] = {
	{ "max", 'n', true },
	{ "timeout", 0, true },
	{ "lease", 0, true },
	{ NULL, 0, false },
};
static const struct opt opts_nack[] = {
	{ "delay", 0, true },
	{ "reason", 0, true },
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

static const struct opt opts_submit[] = {
	{ "name", 0, true },
	{ "group", 0, true },
	{ "timeout", 0, true },
	{ "deadline", 0, true },
	{ "run-timeout", 0, true },
	{ "delay", 0, true },
	{ "key", 0, true },
	{ "parent", 0, true },
	{ "no-parent", 0, false },
	{ "env", 0, true },
	{ "cwd", 0, true },
	{ "stdin-file", 0, true },
	{ "priority", 0, true },
	{ "retries", 0, true },
	{ "result-chan", 0, true },
	{ "pool", 0, true },
	{ "wait", 0, false },
	{ NULL, 0, false },
};
static const struct opt opts_worker[] = {
	{ "now", 0, false },
	{ NULL, 0, false },
};
static const struct opt opts_logs[] = {
	{ "follow", 'f', false },
	{ NULL, 0, false },
};
static const struct opt opts_jobs[] = {
	{ "state", 0, true },
	{ "group", 0, true },
	{ "limit", 0, true },
	{ "before", 0, true },
	{ NULL, 0, false },
};
static const struct opt opts_group[] = {
	{ "group", 0, true },
	{ NULL, 0, false },
};
static const struct opt opts_wait[] = {
	{ "group", 0, true },
	{ "timeout", 0, true },
	{ "progress", 0, false },
	{ "units", 0, true },
	{ NULL, 0, false },
};

static const struct cmd cmds[] = {
	{ "ping", cmd_ping, opts_none, 0, 0, 0, "ping",
	    "check that the server answers; prints \"pong\"",
	    NULL },
	{ "stats", cmd_stats, opts_none, 0, 0, 0, "stats",
	    "server-wide figures, one \"key value\" line each;\n"
	    "nested figures get dotted keys (ops.send)",
	    NULL },
	{ "make", cmd_make, opts_make, 1, 2, 0,
	    "make [--max-deliveries N [--dead-letter DLQ]] CHAN [CAP]",
	    "create a channel holding up to CAP values\n"
	    "(default 0: unbuffered); prints \"created\", or\n"
	    "\"exists\" if it already exists with that CAP;\n"
	    "--max-deliveries: a leased value delivered N times\n"
	    "without an ack goes to the buffered channel DLQ\n"
	    "(which must exist) wrapped in an envelope, or is\n"
	    "deleted without --dead-letter",
	    NULL },
	{ "send", cmd_send, opts_send, 2, -1, CMD_MAY_BLOCK,
	    "send [--batch] [--timeout D] [--key KEY] [--raw | --strict] "
	    "CHAN VALUE...",
	    "send each VALUE in order, waiting while the channel\n"
	    "is full (unbuffered: until a receiver takes it);\n"
	    "a VALUE that is JSON is sent as written (19.99 stays\n"
	    "19.99), other text as a string; text that starts\n"
	    "like JSON ({ [ \") or is made of a number's characters\n"
	    "but is not JSON ('{\"a\":1', '1.2.3') is an error (exit\n"
	    "2); --raw: every VALUE is a string, as is; --strict:\n"
	    "every VALUE must be JSON;\n"
	    "--batch: all as one all-or-nothing batch\n"
	    "(buffered channels only); --key: an idempotent send\n"
	    "(one VALUE or --batch): a KEY the channel has seen\n"
	    "sends nothing and prints \"duplicate\"; without\n"
	    "--key each value (or batch) gets a random key when\n"
	    "the server supports keys; keyed sends are retried\n"
	    "after a lost connection",
	    NULL },
	{ "recv", cmd_recv, opts_recv, 1, 1, CMD_MAY_BLOCK,
	    "recv CHAN [-n N] [--timeout D] [--lease D]",
	    "receive a value, waiting for one (-n, --max: 1 to\n"
	    "N values); prints each value on its own line;\n"
	    "--lease: prints \"LEASE<TAB>VALUE\" lines, the value\n"
	    "comes back unless acked within D (by any later\n"
	    "jq-client run of the same consumer, see --consumer);\n"
	    "on a closed, drained channel prints nothing and\n"
	    "exits 1",
	    NULL },
	{ "ack", cmd_lease, opts_none, 2, 2, 0, "ack CHAN LEASE",
	    "remove a leased value for good",
	    NULL },
	{ "nack", cmd_lease, opts_nack, 2, 2, 0,
	    "nack [--delay D] [--reason TEXT] CHAN LEASE",
	    "return a leased value to the channel now, or\n"
	    "only after D (out of everyone's reach meanwhile);\n"
	    "--reason: kept with the value (at most 1 KiB),\n"
	    "shown in its dead-letter envelope",
	    NULL },
	{ "touch", cmd_touch, opts_none, 3, 3, 0,
	    "touch CHAN LEASE D",
	    "the lease now ends D from now (not from its old\n"
	    "deadline); prints the new deadline (unix ms)",
	    NULL },
	{ "close", cmd_chan_op, opts_none, 1, 1, 0, "close CHAN",
	    "allow no more sends; buffered values still drain",
	    NULL },
	{ "drop", cmd_chan_op, opts_none, 1, 1, 0, "drop CHAN",
	    "delete a channel and its contents",
	    NULL },
	{ "stat", cmd_stat, opts_none, 1, 1, 0, "stat CHAN",
	    "a channel's figures, aligned \"key: value\" lines",
	    NULL },
	{ "chans", cmd_chans, opts_chans, 0, 0, 0, "chans [--prefix P]",
	    "a table of the channels (names starting with P)",
	    NULL },
	{ "select", cmd_select, opts_timeout, 1, -1, CMD_MAY_BLOCK,
	    "select [--timeout D] recv:CHAN... send:CHAN=VALUE...",
	    "wait until one case can proceed and do that one;\n"
	    "prints \"INDEX<TAB>VALUE\" for a recv case, \"INDEX\"\n"
	    "for a send case (cases count from 0); a recv case\n"
	    "on a closed, drained channel prints \"INDEX\" and\n"
	    "exits 1",
	    NULL },
	{ "submit", cmd_submit, opts_submit, 1, -1,
	    CMD_OPTS_FIRST | CMD_MAY_BLOCK,
	    "submit [OPTIONS] [--] CMD [ARG...]",
	    "run CMD on the server's worker pool; prints the\n"
	    "job id; --wait: waits, prints the job's stdout and\n"
	    "stderr, and exits with its exit code (128+N: killed\n"
	    "by signal N, 124 deadline, 125 canceled, 127 could\n"
	    "not be started); options end at CMD",
	    "\n"
	    "Options:\n"
	    "  --name N          a label for listings\n"
	    "  --group G         put the job in group G\n"
	    "  --timeout D       deadline D after submission\n"
	    "  --deadline T      deadline at T: unix milliseconds, or\n"
	    "                    UTC like 2026-11-27T21:00:00Z\n"
	    "  --run-timeout D   run for at most D once started\n"
	    "  --delay D         start no sooner than D from now\n"
	    "  --key K           idempotency key: a retained job with\n"
	    "                    key K is not run again, its id is\n"
	    "                    printed\n"
	    "  --parent ID       cancel with, and end no later than,\n"
	    "                    job ID (default: $JQ_JOB_ID, set\n"
	    "                    inside a job)\n"
	    "  --no-parent       ignore $JQ_JOB_ID\n"
	    "  --env K=V         add K=V to the job's clean environment\n"
	    "                    (repeatable)\n"
	    "  --cwd DIR         working directory on the server\n"
	    "  --stdin-file F    feed file F (-: our stdin, UTF-8) to\n"
	    "                    the job\n"
	    "  --priority P      higher starts first (-1000000 to\n"
	    "                    1000000, default 0)\n"
	    "  --retries N       run a failed job again up to N times\n"
	    "  --result-chan C   send the result object to channel C\n"
	    "  --pool P          run it on an agent serving pool P\n"
	    "                    (default local: jqd's own workers, or\n"
	    "                    an agent serving local)\n"
	    "  --wait            wait for the job (see above)" },
	{ "job", cmd_job, opts_none, 1, 1, 0, "job ID",
	    "a job's state and result as aligned \"key: value\"\n"
	    "lines; its stdout and stderr follow when short\n"
	    "(4 KiB, 40 lines), else see \"logs\"",
	    NULL },
	{ "jobs", cmd_jobs, opts_jobs, 0, 0, 0,
	    "jobs [--state S] [--group G] [--limit N] [--before ID]",
	    "a table of jobs, newest first (default 100, at\n"
	    "most 1000; --before: ids below ID): ID STATE EXIT\n"
	    "ATTEMPT AGE DURATION GROUP NAME",
	    NULL },
	{ "logs", cmd_logs, opts_logs, 1, 1, 0, "logs [--follow] ID",
	    "the job's output so far: its stdout on stdout,\n"
	    "its stderr on stderr; --follow (-f): as it comes,\n"
	    "until the job is finished, then exits 0 if it\n"
	    "succeeded, 1 otherwise",
	    NULL },
	{ "cancel", cmd_cancel, opts_group, 0, -1, 0,
	    "cancel ID... | --group G",
	    "cancel queued and running jobs (and their child\n"
	    "jobs); prints how many were canceled",
	    NULL },
	{ "wait", cmd_wait, opts_wait, 0, -1, CMD_MAY_BLOCK,
	    "wait [--timeout D] [--progress] ID... | --group G",
	    "wait until the jobs are finished; prints a line\n"
	    "per job: ID STATE EXIT DURATION NAME; exits 0 when\n"
	    "all succeeded, 1 otherwise; --progress: a live\n"
	    "bar on stderr, updated as the server reports\n"
	    "changes (--units plain: amounts as numbers,\n"
	    "not bytes)",
	    NULL },
	{ "workers", cmd_workers, opts_none, 0, 0, 0, "workers",
	    "a table of the agents (jq-worker) jqd knows:\n"
	    "WORKER HOST POOLS SLOTS BUSY HEARTBEAT (age of\n"
	    "the last one) STATE (active, draining,\n"
	    "disconnected)",
	    NULL },
	{ "worker", cmd_worker, opts_worker, 2, 2, 0,
	    "worker drain ID [--now]",
	    "stop giving jobs to agent ID; its jobs finish\n"
	    "(--now: stopped and queued again, the attempt not\n"
	    "counted); prints how many still run",
	    NULL },
};

static const struct cmd *
cmd_find(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
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
	if (cmd->details != NULL)
		print_lines(stdout, cmd->details, 0);
}

static void
help(void)
{
	size_t	i;
	int	w = 26;

	fputs("usage: jq-client [OPTIONS] COMMAND [ARGS...]\n"
	    "\n"
	    "Talk to a jqd server over TCP or a Unix socket: named channels "
	    "that work\nlike Go's, and jobs run by the server's worker pool.\n"
	    "\n"
	    "Options (before the command):\n"
	    "  -H HOST:PORT        TCP server address (IPv6: [ADDR]:PORT); "
	    "tls:HOST:PORT\n"
	    "                      for TLS; a list A,B,... for the nodes of "
	    "a cluster:\n"
	    "                      the first that accepts, 2 s each\n"
	    "  -S PATH             Unix socket of the server (or a list)\n"
	    "  --json              print each reply as one line of JSON "
	    "instead of the\n"
	    "                      human form (error replies too)\n"
	    "  --token-file FILE   authenticate with the token in FILE\n"
	    "  --tls               TLS to a HOST:PORT address; the server's "
	    "certificate\n"
	    "                      must be signed by --tls-ca (default: the "
	    "system's\n"
	    "                      CAs) and name HOST\n"
	    "  --tls-ca FILE       CA certificates (PEM) to verify the server "
	    "with\n"
	    "  --tls-cert FILE     client certificate (PEM), for a jqd with "
	    "tls-ca\n"
	    "  --tls-key FILE      its private key (PEM; default: in "
	    "--tls-cert)\n"
	    "  --consumer NAME     the consumer that owns our leases "
	    "(default:\n"
	    "                      $JQ_CONSUMER, else USER:HOST)\n"
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
	    "Job ids ID are the numbers submit prints; groups G are named "
	    "like channels.\n"
	    "\n"
	    "Environment:\n"
	    "  JQ_ADDR    server address when neither -H nor -S is given: "
	    "HOST:PORT,\n"
	    "             tls:HOST:PORT, unix:PATH, or a socket path "
	    "containing '/',\n"
	    "             or a list of them separated by commas\n"
	    "             (default: the socket of this user's jqd if it "
	    "exists, else\n"
	    "             " JQC_SYSTEM_SOCKET "; see jq-client(1))\n"
	    "  JQ_TOKEN   auth token when --token-file is not given (over "
	    "TCP without\n"
	    "             either: ~/.config/jqd/token, if it exists)\n"
	    "  JQ_TLS     1: as --tls\n"
	    "  JQ_TLS_CA, JQ_TLS_CERT, JQ_TLS_KEY\n"
	    "             files when --tls-ca, --tls-cert, --tls-key are not "
	    "given (used\n"
	    "             only when TLS is on)\n"
	    "  JQ_JOB_ID  set inside a job: the default --parent of submit\n"
	    "  JQ_CONSUMER  consumer name when --consumer is not given\n"
	    "\n"
	    "Ctrl-C (SIGINT) or SIGTERM while send, recv, select or wait "
	    "blocks: when the\nserver has \"abort\", the request is called "
	    "off and what it returned is\nprinted: a value already taken is "
	    "printed, never lost; canceled, the exit\nstatus is 130 "
	    "(SIGINT) or 143 (SIGTERM).\n"
	    "\n"
	    "Exit status: 0 success; 1 error reply, or nothing to receive "
	    "from a closed\n"
	    "channel; 2 usage error (nothing was sent); 3 cannot connect, or "
	    "the\n"
	    "connection was lost; 124 timeout; 130, 143 a blocking request "
	    "canceled on\nSIGINT, SIGTERM.  wait: 1 when a job did not "
	    "succeed.\n"
	    "submit --wait: the job's exit code, 128+N when killed by signal "
	    "N, 124 past\n"
	    "its deadline, 125 canceled, 127 when it could not be "
	    "started.\n", stdout);
}

/* Trim surrounding whitespace in place; returns the trimmed start. */
/*
 * Our default consumer name: USER:HOST, every byte a channel name may not
 * hold made '_', cut to fit.  One per user and host, so that the leases
 * of one jq-client run can be acked by a later one.
 */
static char *
default_consumer(void)
{
	const struct passwd	*pw;
	const char		*user = getenv("USER");
	char			 host[256], name[JQC_NAME_MAX + 1];
	size_t			 i;

	if ((user == NULL || *user == '\0') &&
	    (pw = getpwuid(getuid())) != NULL)
		user = pw->pw_name;
	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	/* Cut to fit: a longer name would be refused. */
	if (snprintf(name, sizeof(name), "%s:%s", user != NULL &&
	    *user != '\0' ? user : "user", host) >= (int)sizeof(name))
		name[sizeof(name) - 1] = '\0';
	for (i = 0; name[i] != '\0'; i++) {
		if (!proto_chan_name_valid(name + i, 1))
			name[i] = '_';
	}
	return must(strdup(name));
}

/*
 * Global options, up to the command name.  Returns the index of the command
 * in argv, or -(exit status) when the run ends here.
 */
static int
parse_global(struct cli *cli, int argc, char **argv)
{
	const char	*consumer = NULL;
	const char	*arg, *env;
	char		 errbuf[512];
	int		 i, rc;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		arg = argv[i];
		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		} else if (strcmp(arg, "-h") == 0 ||
		    strcmp(arg, "--help") == 0) {
			help();
			return -EXIT_OK;
		} else if (strcmp(arg, "--version") == 0) {
			printf("jq-client %s\n", PACKAGE_VERSION);
			return -EXIT_OK;
		} else if (strcmp(arg, "--json") == 0)
			cli->json = true;
		else if ((rc = conn_opts_arg(&cli->server, argc, argv, &i,
		    errbuf, sizeof(errbuf))) != 0) {
			if (rc == -1)
				return -usage_error(cli, "%s", errbuf);
		} else if (strncmp(arg, "--consumer=", 11) == 0)
			consumer = arg + 11;
		else if (strcmp(arg, "--consumer") == 0) {
			if (i + 1 == argc)
				return -usage_error(cli, "option '%s' needs "
				    "a value", arg);
			consumer = argv[++i];
		} else
			return -usage_error(cli, "unknown option '%s'", arg);
	}
	if (conn_opts_settle(&cli->server, errbuf, sizeof(errbuf)) == -1)
		return -usage_error(cli, "%s", errbuf);

	if (consumer == NULL && (env = getenv("JQ_CONSUMER")) != NULL &&
	    *env != '\0')
		consumer = env;
	if (consumer != NULL && (rc = check_name(cli, "consumer",
	    consumer)) != 0)
		return -rc;
	cli->consumer = consumer != NULL ? must(strdup(consumer)) :
	    default_consumer();

	if (i == argc)
		return -usage_error(cli, "missing command");
	return i;
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
	args_free(&a);
out:
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "jq-client: cannot write output: %s\n",
		    strerror(errno));
		if (rc == EXIT_OK)
			rc = EXIT_REPLY;
	}
	jqc_close(cli.conn);
	conn_opts_fini(&cli.server);
	free(cli.consumer);
	return rc;
}
