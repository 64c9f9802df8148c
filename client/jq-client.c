/*
 * jq-client: the command-line client of jqd, built on libjqclient.
 *
 * A run is one command from the command table with its own options and
 * arguments, and global options anywhere before "--" (and before submit's
 * CMD), as with git, docker or kubectl.  This file holds the run itself:
 * main, the global options, the command table with each command's help
 * and example, the connection, and the server-wide commands (ping, stats,
 * version).  Argument parsing is in cli-args.c, help in cli-help.c; the
 * handlers of the channel and job families are in cmd-chan.c, cmd-job.c
 * and cmd-submit.c (see cli.h).  Each handler
 * first checks every argument and builds its requests, and only then
 * talks to the server: the connection is opened lazily by the first
 * cli_call(), so a usage error (exit 2) is always reported before any
 * connection is tried.
 *
 * Output has two modes.  With --json the run prints one JSON document at
 * its end, errors included (cli-doc.c); handlers print nothing else on
 * stdout.  Otherwise handlers print a human form of the reply (see the help
 * text for each command's format).  Errors always go to stderr as
 * "jq-client: <code>: <message>".  Exit status (SPEC sections 7, 8): 0 ok,
 * 1 error reply, 2 usage, 3 cannot connect or connection lost, 124
 * timeout, 128 + N a blocking request canceled on signal N (cli-cancel.c);
 * submit --wait exits as its job did, 255 for its own failures
 * (cmd-submit-wait.c).
 *
 * A new command is a handler plus a line in cmds[]; option parsing, usage,
 * help, the man page's check and the completions' come from the table.
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
#include "cli-color.h"
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
	char	msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cli_fail(cli, EXIT_USAGE, "usage", "%s", msg);
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

/*
 * What to do about an "unauthorized": no token was given, or the one
 * given was refused -- say which, and where it came from.
 */
static void
unauthorized_hint(struct cli *cli)
{
	if (cli->server.token == NULL)
		fputs(" (give the token with --token-file FILE or JQ_TOKEN)",
		    stderr);
	else
		fprintf(stderr, " (the token of %s was refused; give the "
		    "server's with --token-file FILE or JQ_TOKEN)",
		    cli->server.token_source != NULL ?
		    cli->server.token_source : "the command line");
}

/*
 * Send req (stolen) and print an ok reply as aligned "key<suffix> value"
 * lines, nested members with dotted keys (stats, stat, pool).
 */
int
cli_call_print_kv(struct cli *cli, json_t *req, const char *suffix)
{
	struct kv_list	 kv = KV_LIST_INIT;
	json_t		*reply;
	int		 rc;

	rc = cli_call(cli, req, &reply);
	if (rc == EXIT_OK && !cli->json) {
		kv_add_object(&kv, reply, "", NULL);
		kv_print_free(&kv, suffix);
	}
	json_decref(reply);
	return rc;
}

/* Report an error reply (the document too with --json); its exit status. */
int
cli_report_reply_error(struct cli *cli, const json_t *reply)
{
	const char	*code, *msg;

	cli_doc_reply(cli, reply);
	code = jqc_reply_error_code(reply);
	msg = jqc_reply_error_message(reply);
	fprintf(stderr, "jq-client: %s: %s", code,
	    msg != NULL ? msg : "(no message)");
	if (strcmp(code, "unauthorized") == 0)
		unauthorized_hint(cli);
	fputc('\n', stderr);
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
	return cli_fail(cli, EXIT_CONNECT, "connection", "%s", errbuf);
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
	if (rc == -1 && jqc_errcode(cli->conn) == JQC_E_IO)
		return cli_fail(cli, EXIT_CONNECT, "connection", "%s",
		    jqc_error(cli->conn));
	return 0;
}

bool
cli_has_feature(struct cli *cli, const char *feature, int *rc)
{
	if ((*rc = cli_hello(cli)) != 0)
		return false;
	return jqc_has_feature(cli->conn, feature);
}

int
cli_need_feature(struct cli *cli, const char *feature, const char *what)
{
	int	 rc;

	if (cli_has_feature(cli, feature, &rc) || rc != 0)
		return rc;
	/* An older server would ignore the field, or not know the op. */
	return cli_fail(cli, EXIT_REPLY, "unsupported", "%s needs a newer "
	    "jqd (its hello does not list '%s')", what, feature);
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
		return cli_fail(cli, EXIT_SIGNAL + cli_interrupted(cli),
		    "interrupted", "interrupted");
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
	if (rc == -1)
		return cli_fail(cli, EXIT_CONNECT, "connection", "%s",
		    jqc_error(cli->conn));
	if (!jqc_reply_ok(*reply))
		return cli_report_reply_error(cli, *reply);
	cli_doc_reply(cli, *reply);
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

/* One "stats" request and its lines (arg unused). */
static int
stats_snapshot(struct cli *cli, void *arg)
{
	return cli_call_print_kv(cli, req_new("stats"), "");
}

static int
cmd_stats(struct cli *cli, struct args *a)
{
	return cli_watch(cli, a, stats_snapshot, NULL);
}

/*
 * version: ours, then the server's as its hello says (version, protocol,
 * minor, features).  Ours comes first, so it shows when the server
 * cannot be reached.  --version is ours alone, with no connection.
 */
static int
cmd_version(struct cli *cli, struct args *a)
{
	json_t		*reply, *server, *f, *doc;
	size_t		 i;
	int		 rc;

	(void)a;	/* no arguments */
	if (!cli->json)
		printf("client: jq-client %s\n", PACKAGE_VERSION);
	rc = cli_call(cli, req_new("hello"), &reply);
	doc = cli_doc_take(cli);
	if (doc == NULL)
		doc = must(json_pack("{s:b}", "ok", 0));
	if (rc == EXIT_OK) {
		server = must(json_deep_copy(reply));
		json_object_del(server, "id");
		json_object_del(server, "ok");
		json_decref(doc);
		doc = must(json_pack("{s:b, s:o}", "ok", 1, "server", server));
	}
	req_set(doc, "client", json_pack("{s:s}", "version",
	    PACKAGE_VERSION));
	cli_doc_set(cli, doc);
	if (rc == EXIT_OK && !cli->json) {
		/* No "minor": a 1.0 server, which lists no features. */
		printf("server: %s %s (protocol %" JSON_INTEGER_FORMAT ".%"
		    JSON_INTEGER_FORMAT ")\n",
		    member_str(reply, "server") != NULL ?
		    member_str(reply, "server") : "jqd",
		    member_str(reply, "version") != NULL ?
		    member_str(reply, "version") : "(unknown version)",
		    json_integer_value(json_object_get(reply, "protocol")),
		    json_integer_value(json_object_get(reply, "minor")));
		fputs("features:", stdout);
		json_array_foreach(json_object_get(reply, "features"), i, f)
			printf(" %s", json_string_value(f));
		if (json_array_size(json_object_get(reply, "features")) == 0)
			fputs(" (none)", stdout);
		fputc('\n', stdout);
	}
	json_decref(reply);
	return rc;
}

/*
 * The command table.  Options are listed per command, each with a line
 * of help; "-h"/"--help" and the global options work everywhere.
 */
static const struct opt opts_none[] = {
	{ NULL, 0, false, NULL, NULL },
};
static const struct opt opts_make[] = {
	{ "max-deliveries", 0, true, "N",
	    "after N deliveries without an ack, a value leaves" },
	{ "dead-letter", 0, true, "DLQ",
	    "... for the buffered channel DLQ (else: deleted)" },
	{ NULL, 0, false, NULL, NULL },
};
static const struct opt opts_send[] = {
	{ "batch", 0, false, NULL,
	    "send all values as one all-or-nothing batch" },
	{ "key", 0, true, "KEY",
	    "idempotency key: a KEY the channel saw sends nothing" },
	{ "raw", 0, false, NULL,
	    "send every VALUE as a string, as written" },
	{ "strict", 0, false, NULL,
	    "every VALUE must be JSON (no plain strings)" },
	{ "timeout", 0, true, "D",
	    "give up after D when the channel stays full" },
	{ NULL, 0, false, NULL, NULL },
};
static const struct opt opts_recv[] = {
	{ "max", 'n', true, "N", "receive 1 to N values that are there" },
	{ "timeout", 0, true, "D", "give up after D with nothing received" },
	{ "lease", 0, true, "D",
	    "lease, not take: back unless acked within D" },
	{ NULL, 0, false, NULL, NULL },
};
static const struct opt opts_nack[] = {
	{ "delay", 0, true, "D", "return the value only after D" },
	{ "reason", 0, true, "TEXT",
	    "why (at most 1 KiB), kept for the dead-letter envelope" },
	{ NULL, 0, false, NULL, NULL },
};
static const struct opt opts_chans[] = {
	{ "prefix", 0, true, "P", "only channels whose names start with P" },
	{ "limit", 0, true, "N", "at most N channels (1 to 10000), the first "
	    "by name" },
	{ "after", 0, true, "NAME",
	    "only channels whose names sort after NAME (next page)" },
	{ "watch", 0, OPT_ARG_OPTIONAL, "D",
	    "show it again every D (default 2s) until Ctrl-C" },
	{ NULL, 0, false, NULL, NULL },
};
static const struct opt opts_watch[] = {
	{ "watch", 0, OPT_ARG_OPTIONAL, "D",
	    "show it again every D (default 2s) until Ctrl-C" },
	{ NULL, 0, false, NULL, NULL },
};
static const struct opt opts_select[] = {
	{ "timeout", 0, true, "D", "give up after D when no case can proceed" },
	{ NULL, 0, false, NULL, NULL },
};

static const struct opt opts_submit[] = {
	{ "name", 0, true, "N", "a label for listings" },
	{ "group", 0, true, "G", "put the job in group G" },
	{ "timeout", 0, true, "D", "deadline D after submission" },
	{ "deadline", 0, true, "T",
	    "deadline at T: unix ms, or UTC like 2026-11-27T21:00:00Z" },
	{ "run-timeout", 0, true, "D", "run for at most D once started" },
	{ "delay", 0, true, "D", "start no sooner than D from now" },
	{ "key", 0, true, "K",
	    "a retained job with key K is not run again" },
	{ "parent", 0, true, "ID",
	    "cancel with, end by job ID (default $JQ_JOB_ID)" },
	{ "no-parent", 0, false, NULL, "ignore $JQ_JOB_ID" },
	{ "env", 0, true, "K=V",
	    "add K=V to the job's clean environment (repeatable)" },
	{ "cwd", 0, true, "DIR",
	    "run it in DIR (default: ours; .: jqd's job directory)" },
	{ "stdin-file", 0, true, "F",
	    "feed file F (-: our stdin, UTF-8) to the job" },
	{ "priority", 0, true, "P",
	    "higher starts first (-1000000 to 1000000, default 0)" },
	{ "retries", 0, true, "N", "run a failed job again up to N times" },
	{ "result-chan", 0, true, "C", "send the result object to channel C" },
	{ "pool", 0, true, "P",
	    "run it on an agent serving pool P (default local)" },
	{ "wait", 0, false, NULL,
	    "wait; print its output; exit with its exit code" },
	{ "detach", 0, false, NULL,
	    "with --wait: Ctrl-C leaves the job running" },
	{ "no-exit-status", 0, false, NULL,
	    "with --wait: exit 0 once the job's end is shown" },
	{ "exit-status", 0, false, NULL,
	    "with --wait: exit as the job did (the default)" },
	{ NULL, 0, false, NULL, NULL },
};
static const struct opt opts_worker[] = {
	{ "now", 0, false, NULL,
	    "stop its jobs now and queue them again" },
	{ NULL, 0, false, NULL, NULL },
};
static const struct opt opts_logs[] = {
	{ "follow", 'f', false, NULL,
	    "print output as it comes, until the job is finished" },
	{ NULL, 0, false, NULL, NULL },
};
static const struct opt opts_jobs[] = {
	{ "state", 0, true, "S",
	    "only jobs in state S (queued, running, succeeded, ...)" },
	{ "group", 0, true, "G", "only jobs of group G" },
	{ "limit", 0, true, "N", "at most N jobs (default 100, at most 1000)" },
	{ "before", 0, true, "ID", "only jobs with ids below ID (next page)" },
	{ "pool", 0, true, "P", "only jobs of pool P (local: jqd's own)" },
	{ "name", 0, true, "N", "only jobs named N (exactly)" },
	{ "text", 0, true, "T",
	    "only jobs with T in their name, group or command, any case" },
	{ "watch", 0, OPT_ARG_OPTIONAL, "D",
	    "show it again every D (default 2s) until Ctrl-C" },
	{ NULL, 0, false, NULL, NULL },
};
static const struct opt opts_groups[] = {
	{ "limit", 0, true, "N",
	    "at most N groups (default 100, at most 1000)" },
	{ "after", 0, true, "G", "only groups whose names sort after G "
	    "(next page)" },
	{ "watch", 0, OPT_ARG_OPTIONAL, "D",
	    "show it again every D (default 2s) until Ctrl-C" },
	{ NULL, 0, false, NULL, NULL },
};
static const struct opt opts_cancel[] = {
	{ "group", 0, true, "G", "cancel every job of group G" },
	{ NULL, 0, false, NULL, NULL },
};
static const struct opt opts_peek[] = {
	{ "max", 'n', true, "N", "up to N values (default 1, at most 100)" },
	{ NULL, 0, false, NULL, NULL },
};
static const struct opt opts_purge[] = {
	{ "state", 0, true, "S", "only finished jobs in state S" },
	{ "group", 0, true, "G", "only jobs of group G" },
	{ "older-than", 0, true, "D", "only jobs finished more than D ago" },
	{ NULL, 0, false, NULL, NULL },
};
static const struct opt opts_pool[] = {
	{ "workers", 0, true, "N",
	    "jqd's own slots from now on (pool local only)" },
	{ NULL, 0, false, NULL, NULL },
};
static const struct opt opts_wait[] = {
	{ "group", 0, true, "G", "wait for every job of group G" },
	{ "timeout", 0, true, "D", "give up after D (exit 124)" },
	{ "progress", 0, false, NULL, "a live progress bar on stderr" },
	{ "units", 0, true, "U",
	    "bytes (default): amounts as sizes; plain: numbers" },
	{ NULL, 0, false, NULL, NULL },
};

/*
 * The global options, for help, suggestions and completions; parsed by
 * global_opt() and conn_opts_arg().  Their help may take several lines.
 */
static const struct opt global_opts[] = {
	{ "host", 'H', true, "HOST[:PORT]",
	    "TCP server address (IPv6: [ADDR]:PORT; no PORT:\n"
	    "7411); tls:HOST[:PORT] for TLS; a list A,B,... for\n"
	    "the nodes of a cluster: the first that accepts,\n"
	    "2 s each" },
	{ "socket", 'S', true, "PATH",
	    "Unix socket of the server (or a list)" },
	{ "json", 0, false, NULL,
	    "print one JSON document instead of the human\n"
	    "form (errors too: {\"ok\":false,\"error\":{...}})" },
	{ "color", 0, false, "[=WHEN]",
	    "colour job states: auto (default: on a terminal,\n"
	    "unless NO_COLOR is set), always, never" },
	{ "no-color", 0, false, NULL, "as --color=never" },
	{ "token-file", 0, true, "FILE",
	    "authenticate with the token in FILE" },
	{ "tls", 0, false, NULL,
	    "TLS to a HOST:PORT address; the server's\n"
	    "certificate must be signed by --tls-ca (default:\n"
	    "the system's CAs) and name HOST" },
	{ "tls-ca", 0, true, "FILE",
	    "CA certificates (PEM) to verify the server with" },
	{ "tls-cert", 0, true, "FILE",
	    "client certificate (PEM), for a jqd with tls-ca" },
	{ "tls-key", 0, true, "FILE",
	    "its private key (PEM; default: in --tls-cert)" },
	{ "consumer", 0, true, "NAME",
	    "the consumer that owns our leases (default:\n"
	    "$JQ_CONSUMER, else USER:HOST)" },
	{ "help", 'h', false, NULL,
	    "show this help (COMMAND --help: that command's)" },
	{ "version", 0, false, NULL,
	    "show jq-client's version (the version command:\n"
	    "the server's too)" },
	{ NULL, 0, false, NULL, NULL },
};

static const struct cmd cmds[] = {
	{ "ping", cmd_ping, opts_none, 0, 0, 0, "ping",
	    "check that the server answers; prints \"pong\"",
	    NULL,
	    "jq-client -H db1 ping" },
	{ "stats", cmd_stats, opts_watch, 0, 0, 0, "stats [--watch[=D]]",
	    "server-wide figures, one \"key value\" line each;\n"
	    "nested figures get dotted keys (ops.send);\n"
	    "--watch: again every D (default 2s)",
	    NULL,
	    "jq-client stats | grep ^jobs" },
	{ "version", cmd_version, opts_none, 0, 0, 0, "version",
	    "jq-client's version, and the server's: version,\n"
	    "protocol and features",
	    NULL,
	    "jq-client version" },
	{ "help", cmd_help, opts_none, 0, 1, CMD_LOCAL, "help [COMMAND]",
	    "this summary, or a command's help (as COMMAND\n"
	    "--help)",
	    NULL,
	    "jq-client help submit" },
	{ "make", cmd_make, opts_make, 1, 2, 0,
	    "make [--max-deliveries N [--dead-letter DLQ]] CHAN [CAP]",
	    "create a channel holding up to CAP values\n"
	    "(default 0: unbuffered); prints \"created\", or\n"
	    "\"exists\" if it already exists with that CAP;\n"
	    "--max-deliveries: a leased value delivered N times\n"
	    "without an ack goes to the buffered channel DLQ\n"
	    "(which must exist) wrapped in an envelope, or is\n"
	    "deleted without --dead-letter",
	    NULL,
	    "jq-client make tasks 100\n"
	    "jq-client make --max-deliveries 5 --dead-letter dlq tasks 100" },
	{ "send", cmd_send, opts_send, 2, -1, CMD_MAY_BLOCK,
	    "send [--batch] [--timeout D] [--key KEY] [--raw | --strict] "
	    "CHAN VALUE...",
	    "send each VALUE in order, waiting while the channel\n"
	    "is full (unbuffered: until a receiver takes it);\n"
	    "a VALUE that is JSON is sent as written (19.99\n"
	    "stays 19.99), other text as a string (--raw: all\n"
	    "as strings; --strict: JSON only); --batch: all as\n"
	    "one all-or-nothing batch (buffered channels only);\n"
	    "--key: an idempotent send (one VALUE or --batch)",
	    "Text that starts like JSON ({ [ \") or is made of a number's\n"
	    "characters but is not JSON ('{\"a\":1', '1.2.3') is an error\n"
	    "(exit 2), not a string.  A KEY the channel has seen sends\n"
	    "nothing and prints \"duplicate\"; without --key each value (or\n"
	    "batch) gets a random key when the server supports keys; keyed\n"
	    "sends are retried after a lost connection.",
	    "jq-client send tasks '{\"file\":\"a.csv\"}' 42 hello\n"
	    "jq-client send --batch tasks 1 2 3" },
	{ "recv", cmd_recv, opts_recv, 1, 1, CMD_MAY_BLOCK,
	    "recv CHAN [-n N] [--timeout D] [--lease D]",
	    "receive a value, waiting for one (-n, --max: 1 to\n"
	    "N values); prints each value on its own line;\n"
	    "--lease: prints \"LEASE<TAB>VALUE\" lines, the value\n"
	    "comes back unless acked within D (by any later\n"
	    "jq-client run of the same consumer, see --consumer);\n"
	    "on a closed, drained channel prints nothing and\n"
	    "exits 1",
	    NULL,
	    "jq-client recv tasks -n 10 --timeout 5s\n"
	    "jq-client recv --lease 30s tasks" },
	{ "ack", cmd_lease, opts_none, 2, 2, 0, "ack CHAN LEASE",
	    "remove a leased value for good",
	    NULL,
	    "jq-client ack tasks 7f3a9c" },
	{ "nack", cmd_lease, opts_nack, 2, 2, 0,
	    "nack [--delay D] [--reason TEXT] CHAN LEASE",
	    "return a leased value to the channel now, or\n"
	    "only after D (out of everyone's reach meanwhile);\n"
	    "--reason: kept with the value (at most 1 KiB),\n"
	    "shown in its dead-letter envelope",
	    NULL,
	    "jq-client nack --delay 1m --reason 'disk full' tasks 7f3a9c" },
	{ "touch", cmd_touch, opts_none, 3, 3, 0,
	    "touch CHAN LEASE D",
	    "the lease now ends D from now (not from its old\n"
	    "deadline); prints the new deadline (unix ms)",
	    NULL,
	    "jq-client touch tasks 7f3a9c 5m" },
	{ "close", cmd_chan_op, opts_none, 1, 1, 0, "close CHAN",
	    "allow no more sends; buffered values still drain",
	    NULL,
	    "jq-client close tasks" },
	{ "drop", cmd_chan_op, opts_none, 1, 1, 0, "drop CHAN",
	    "delete a channel and its contents",
	    NULL,
	    "jq-client drop tasks" },
	{ "stat", cmd_stat, opts_none, 1, 1, 0, "stat CHAN",
	    "a channel's figures, aligned \"key: value\" lines",
	    NULL,
	    "jq-client stat tasks" },
	{ "chans", cmd_chans, opts_chans, 0, 0, 0,
	    "chans [--prefix P] [--limit N] [--after NAME] [--watch[=D]]",
	    "a table of the channels (names starting with P);\n"
	    "--limit: the first N by name, and where the next\n"
	    "page starts (--after) on stderr; --watch: again\n"
	    "every D (default 2s)",
	    NULL,
	    "jq-client chans --prefix build.\n"
	    "jq-client chans --limit 50 --after img-0042\n"
	    "jq-client chans --watch 5s" },
	{ "select", cmd_select, opts_select, 1, -1, CMD_MAY_BLOCK,
	    "select [--timeout D] recv:CHAN... send:CHAN=VALUE...",
	    "wait until one case can proceed and do that one;\n"
	    "prints \"INDEX<TAB>VALUE\" for a recv case, \"INDEX\"\n"
	    "for a send case (cases count from 0); a recv case\n"
	    "on a closed, drained channel prints \"INDEX\" and\n"
	    "exits 1",
	    NULL,
	    "jq-client select --timeout 10s recv:urgent recv:normal" },
	{ "submit", cmd_submit, opts_submit, 1, -1, CMD_OPTS_FIRST,
	    "submit [OPTIONS] [--] CMD [ARG...]",
	    "run CMD on the server's worker pool; prints the\n"
	    "job id; --wait: waits, prints the job's stdout and\n"
	    "stderr, and exits as the job did (see submit\n"
	    "--help); Ctrl-C then cancels the job; options end\n"
	    "at CMD",
	    "With --wait, \"jq-client: job N submitted\" goes to stderr once\n"
	    "the job is accepted; when it ends, its stdout and stderr are\n"
	    "replayed and jq-client exits:\n"
	    "  0-255   the job's exit code\n"
	    "  124     the job passed its deadline or run timeout\n"
	    "  125     the job was canceled (jq-client cancel, its parent)\n"
	    "  127     the job could not be started\n"
	    "  128+N   the job was killed by signal N (137: SIGKILL)\n"
	    "  130     Ctrl-C (143: SIGTERM, 129: SIGHUP): jq-client\n"
	    "          canceled the job, waited up to 10s for it to end\n"
	    "          and said \"jq-client: job N canceled\"; with --detach\n"
	    "          the job runs on (jq-client logs -f N follows it).\n"
	    "          A job that ended first is reported as it ended.\n"
	    "          A second Ctrl-C leaves at once.\n"
	    "  255     jq-client itself failed: a usage error, cannot\n"
	    "          connect, connection lost, an error reply; the job's\n"
	    "          end is not known (it may run: see its id above)\n"
	    "A job that exits 124, 125, 127, 130 or 255 itself reads the\n"
	    "same; the messages on stderr tell them apart.",
	    "jq-client submit --group nightly -- make -C /src test\n"
	    "jq-client submit --wait --timeout 5m -- ./backup.sh --full" },
	{ "job", cmd_job, opts_none, 1, 1, 0, "job ID",
	    "a job's state and result as aligned \"key: value\"\n"
	    "lines (env: the names of its environment, not\n"
	    "the values); its stdout and stderr follow when\n"
	    "short (4 KiB, 40 lines), else see \"logs\"",
	    NULL,
	    "jq-client job 17" },
	{ "jobs", cmd_jobs, opts_jobs, 0, 0, 0,
	    "jobs [--state S] [--group G] [--pool P] [--name N] [--text T] "
	    "[--limit N] [--before ID] [--watch[=D]]",
	    "a table of jobs, newest first (default 100, at\n"
	    "most 1000; --before: ids below ID): ID STATE EXIT\n"
	    "ATTEMPT AGE DURATION GROUP COMMAND (the name,\n"
	    "else the command); --text: T anywhere in the\n"
	    "name, group or an argument, any case; --watch:\n"
	    "again every D (default 2s)",
	    NULL,
	    "jq-client jobs --state failed --limit 20\n"
	    "jq-client jobs --text thumbnail --pool gpu\n"
	    "jq-client jobs --watch" },
	{ "logs", cmd_logs, opts_logs, 1, 1, 0, "logs [--follow] ID",
	    "the job's output so far: its stdout on stdout,\n"
	    "its stderr on stderr; --follow (-f): as it comes,\n"
	    "until the job is finished, then exits 0 if it\n"
	    "succeeded, 1 otherwise",
	    NULL,
	    "jq-client logs -f 17" },
	{ "cancel", cmd_cancel, opts_cancel, 0, -1, 0,
	    "cancel ID... | --group G",
	    "cancel queued and running jobs (and their child\n"
	    "jobs); prints how many were canceled; a group\n"
	    "with no job is an error (exit 1)",
	    NULL,
	    "jq-client cancel 17 18\n"
	    "jq-client cancel --group nightly" },
	{ "wait", cmd_wait, opts_wait, 0, -1, CMD_MAY_BLOCK,
	    "wait [--timeout D] [--progress] ID... | --group G",
	    "wait until the jobs are finished; prints a line\n"
	    "per job: ID STATE EXIT DURATION NAME; exits 0 when\n"
	    "all succeeded, 1 otherwise; --progress: a live\n"
	    "bar on stderr, updated as the server reports\n"
	    "changes (--units plain: amounts as numbers,\n"
	    "not bytes); a group with no job is an error",
	    NULL,
	    "jq-client wait --group nightly --progress && echo all passed" },
	{ "group", cmd_group, opts_none, 1, 1, 0, "group G",
	    "a summary of group G: its jobs per state and\n"
	    "their progress; exits 1 when it has no job",
	    NULL,
	    "jq-client group nightly" },
	{ "groups", cmd_groups, opts_groups, 0, 1, 0,
	    "groups [PREFIX] [--limit N] [--after G] [--watch[=D]]",
	    "a table of the groups (names starting with\n"
	    "PREFIX), sorted by name: their jobs per state,\n"
	    "progress, and the waits blocked on each; --limit:\n"
	    "the first N (default 100), and where the next\n"
	    "page starts (--after) on stderr; --watch: again\n"
	    "every D (default 2s)",
	    NULL,
	    "jq-client groups nightly-\n"
	    "jq-client groups --watch" },
	{ "retry", cmd_retry, opts_none, 1, -1, 0, "retry ID...",
	    "submit each failed, deadline_exceeded or canceled\n"
	    "job again as a new job, same command and settings;\n"
	    "prints the new ids",
	    NULL,
	    "jq-client retry 17 18" },
	{ "purge", cmd_purge, opts_purge, 0, 0, 0,
	    "purge [--state S] [--group G] [--older-than D]",
	    "delete finished jobs now (all, or those that\n"
	    "match); prints how many",
	    NULL,
	    "jq-client purge --state succeeded --older-than 1d" },
	{ "peek", cmd_peek, opts_peek, 1, 1, 0, "peek CHAN [-n N]",
	    "the values at the head of CHAN (-n, --max: up to\n"
	    "N, at most 100), printed as recv prints them,\n"
	    "without taking or leasing them",
	    NULL,
	    "jq-client peek tasks -n 5" },
	{ "pause", cmd_pause, opts_none, 0, 1, 0, "pause [POOL]",
	    "start no more jobs of POOL (default local); running\n"
	    "ones go on; until resume, or jqd restarts",
	    NULL,
	    "jq-client pause" },
	{ "resume", cmd_pause, opts_none, 0, 1, 0, "resume [POOL]",
	    "start POOL's jobs again (default local)",
	    NULL,
	    "jq-client resume" },
	{ "pool", cmd_pool, opts_pool, 0, 1, 0, "pool [POOL] [--workers N]",
	    "a pool's state (default local); --workers: jqd's\n"
	    "own slots from now (fewer: running jobs finish),\n"
	    "until jqd restarts",
	    NULL,
	    "jq-client pool --workers 8" },
	{ "workers", cmd_workers, opts_none, 0, 0, 0, "workers",
	    "a table of the agents (jq-worker) jqd knows:\n"
	    "WORKER HOST POOLS SLOTS BUSY HEARTBEAT (age of\n"
	    "the last one) STATE (active, draining,\n"
	    "disconnected)",
	    NULL,
	    "jq-client workers" },
	{ "worker", cmd_worker, opts_worker, 2, 2, 0,
	    "worker drain ID [--now]",
	    "stop giving jobs to agent ID; its jobs finish\n"
	    "(--now: stopped and queued again, the attempt not\n"
	    "counted); prints how many still run",
	    NULL,
	    "jq-client worker drain w1 --now" },
};

const struct cmd *
cli_cmds(size_t *n)
{
	*n = sizeof(cmds) / sizeof(cmds[0]);
	return cmds;
}

const struct opt *
cli_global_opts(void)
{
	return global_opts;
}

const struct cmd *
cli_cmd_find(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

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

/* What the command line says besides the command's own arguments. */
struct run_opts {
	const char	*name;		/* the command's name as given */
	const struct cmd *cmd;		/* its entry, NULL: unknown */
	char		**rest;		/* its arguments; owned array */
	int		 nrest;
	bool		 help;		/* -h, --help */
	bool		 version;	/* --version */
	const char	*color;		/* --color's WHEN, or NULL */
	const char	*consumer;	/* --consumer, or NULL */
	const char	*bad;		/* an unknown option before the
					   command */
	char		 err[512];	/* the first other usage error, or "" */
};

/*
 * A global option at argv[*i]: 1 taken (*i moved past its value), 0 not
 * one, -1 with the reason in errbuf.
 */
static int
global_opt(struct cli *cli, struct run_opts *ro, int argc, char **argv,
    int *i, char *errbuf, size_t errlen)
{
	const char	*arg = argv[*i];

	if (strcmp(arg, "--json") == 0)
		cli->json = true;
	else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0)
		ro->help = true;
	else if (strcmp(arg, "--version") == 0)
		ro->version = true;
	else if (strcmp(arg, "--color") == 0)
		ro->color = "always";		/* as git, ls: --color alone */
	else if (strncmp(arg, "--color=", 8) == 0)
		ro->color = arg + 8;
	else if (strcmp(arg, "--no-color") == 0)
		ro->color = "never";
	else if (strncmp(arg, "--consumer=", 11) == 0)
		ro->consumer = arg + 11;
	else if (strcmp(arg, "--consumer") == 0) {
		if (*i + 1 == argc) {
			snprintf(errbuf, errlen, "option '%s' needs a value",
			    arg);
			return -1;
		}
		ro->consumer = argv[++*i];
	} else
		return conn_opts_arg(&cli->server, argc, argv, i, errbuf,
		    errlen);
	return 1;
}

/*
 * Split the command line: global options are taken wherever they are
 * before "--" (and before the CMD of a CMD_OPTS_FIRST command: submit's
 * own options follow it); the command's name and its own arguments, in
 * their order, go to ro for args_parse().  A command's option comes
 * before a global one of the same spelling (none today).  Usage errors
 * are kept for later, so that a --json after them still counts.
 */
static void
split_args(struct cli *cli, struct run_opts *ro, int argc, char **argv)
{
	const struct opt	*o;
	const char		*arg, *value;
	char			 errbuf[512];
	bool			 only_pos = false, name_next = false;
	int			 i, rc;

	ro->rest = must(calloc(argc + 1, sizeof(char *)));
	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (only_pos) {
			ro->rest[ro->nrest++] = argv[i];
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			/* Before the command: "jq-client -- CMD". */
			if (ro->name == NULL)
				name_next = true;
			else {
				ro->rest[ro->nrest++] = argv[i];
				only_pos = true;
			}
			continue;
		}
		if (name_next || !arg_is_option(arg)) {
			name_next = false;
			if (ro->name == NULL) {
				ro->name = arg;
				ro->cmd = cli_cmd_find(arg);
				continue;
			}
			ro->rest[ro->nrest++] = argv[i];
			only_pos = ro->cmd != NULL &&
			    (ro->cmd->flags & CMD_OPTS_FIRST);
			continue;
		}
		if (ro->cmd != NULL &&
		    (o = opt_lookup(ro->cmd->opts, arg, &value)) != NULL) {
			ro->rest[ro->nrest++] = argv[i];
			if (o->has_arg && value == NULL && i + 1 < argc)
				ro->rest[ro->nrest++] = argv[++i];
			continue;
		}
		rc = global_opt(cli, ro, argc, argv, &i, errbuf,
		    sizeof(errbuf));
		if (rc == -1 && ro->err[0] == '\0')
			snprintf(ro->err, sizeof(ro->err), "%s", errbuf);
		if (rc != 0)
			continue;
		if (ro->name == NULL) {
			if (ro->bad == NULL)
				ro->bad = arg;
		} else
			ro->rest[ro->nrest++] = argv[i]; /* args_parse says */
	}
}

/*
 * After the command line: the server's address, TLS and token, and our
 * consumer name.  0 or the exit status of a usage error.
 */
static int
settle_server(struct cli *cli, const char *consumer)
{
	const char	*env;
	char		 errbuf[512];
	int		 rc;

	if (conn_opts_settle(&cli->server, errbuf, sizeof(errbuf)) == -1)
		return usage_error(cli, "%s", errbuf);
	if (consumer == NULL && (env = getenv("JQ_CONSUMER")) != NULL &&
	    *env != '\0')
		consumer = env;
	if (consumer != NULL && (rc = check_name(cli, "consumer",
	    consumer)) != 0)
		return rc;
	cli->consumer = consumer != NULL ? must(strdup(consumer)) :
	    default_consumer();
	return 0;
}

/* The run after split_args(): the exit status. */
static int
run(struct cli *cli, struct run_opts *ro)
{
	enum cli_color	 color = CLI_COLOR_AUTO;
	struct args	 a;
	int		 rc;

	/* Before the command, only global options were possible. */
	if (ro->bad != NULL)
		return unknown_option(cli, ro->bad);
	cli->cmd = ro->cmd;
	if (ro->err[0] != '\0')
		return usage_error(cli, "%s", ro->err);
	if (ro->color != NULL && cli_color_parse(ro->color, &color) == -1)
		return usage_error(cli, "invalid --color '%s' (auto, always or "
		    "never)", ro->color);
	cli_color_setup(color);
	if (ro->version) {
		if (cli->json)
			cli_doc_set(cli, must(json_pack("{s:b, s:{s:s}}", "ok",
			    1, "client", "version", PACKAGE_VERSION)));
		else
			printf("jq-client %s\n", PACKAGE_VERSION);
		return EXIT_OK;
	}
	if (ro->name == NULL && ro->help) {
		help_show(cli, NULL);
		return EXIT_OK;
	}
	if (ro->name == NULL)
		return usage_error(cli, "missing command");
	if (ro->cmd == NULL)
		return unknown_command(cli, ro->name);
	if (ro->help) {
		help_show(cli, cli->cmd);
		return EXIT_OK;
	}
	rc = args_parse(cli, ro->nrest, ro->rest, &a);
	if (rc == -1) {
		help_show(cli, cli->cmd);
		rc = EXIT_OK;
	} else if (rc == 0 && ((cli->cmd->flags & CMD_LOCAL) != 0 ||
	    (rc = settle_server(cli, ro->consumer)) == 0))
		rc = cli->cmd->run(cli, &a);
	else if (cli->cmd->run == cmd_submit)
		rc = submit_wait_usage(&a, rc);	/* --wait: 255 */
	args_free(&a);
	return rc;
}

int
main(int argc, char *argv[])
{
	struct cli	 cli;
	struct run_opts	 ro;
	int		 rc;

	memset(&cli, 0, sizeof(cli));
	memset(&ro, 0, sizeof(ro));
	/* Line by line: a script reading our output sees each line now. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	split_args(&cli, &ro, argc, argv);
	rc = run(&cli, &ro);
	if (cli.json)
		cli_doc_print(&cli, rc);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "jq-client: cannot write output: %s\n",
		    strerror(errno));
		if (rc == EXIT_OK)
			rc = EXIT_REPLY;
	}
	free(ro.rest);
	json_decref(cli.doc);
	jqc_close(cli.conn);
	conn_opts_fini(&cli.server);
	free(cli.consumer);
	return rc;
}
