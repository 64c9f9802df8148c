/*
 * cli-help: jq-client's help, from the command table (jq-client.c).
 *
 * One description per concept: each command's synopsis, help lines,
 * options (each with one line) and examples live in the table, and drive
 * "jq-client --help", "jq-client CMD --help", "jq-client help [CMD]",
 * and, through "help --json", the checks that keep the man page and the
 * shell completions whole (tests/integration/test_cli_conventions.py).
 */

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

#define HELP_OPT_WIDTH	22	/* the option column of a command's help */

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

/* "-n, --max N", "--color[=WHEN]": an option as help shows it. */
static void
opt_label(const struct opt *o, char *buf, size_t len)
{
	char	shortc[8] = "";

	if (o->shortc != 0)
		snprintf(shortc, sizeof(shortc), "-%c, ", o->shortc);
	snprintf(buf, len, "%s--%s%s%s", shortc, o->name,
	    o->meta == NULL || o->meta[0] == '[' ? "" : " ",
	    o->meta != NULL ? o->meta : "");
}

/* A list of options, help aligned after the labels. */
static void
print_opts(const struct opt *opts, int width)
{
	char	label[64];

	for (; opts->name != NULL; opts++) {
		opt_label(opts, label, sizeof(label));
		if ((int)strlen(label) > width - 1)
			printf("  %s\n%*s", label, width + 2, "");
		else
			printf("  %-*s", width, label);
		print_lines(stdout, opts->help, width + 2);
	}
}

static void
help_summary(void)
{
	const struct cmd	*cmds;
	size_t			 i, n;
	int			 w = 26;

	fputs("usage: jq-client [OPTIONS] COMMAND [ARGS...]\n"
	    "\n"
	    "Talk to a jqd server over TCP or a Unix socket: named channels "
	    "that work\nlike Go's, and jobs run by the server's worker pool.\n"
	    "\n"
	    "Options (before or after the command, up to \"--\"):\n", stdout);
	print_opts(cli_global_opts(), w - 2);
	fputs("\nCommands (COMMAND --help, or help COMMAND: its options and "
	    "an example):\n", stdout);
	cmds = cli_cmds(&n);
	for (i = 0; i < n; i++) {
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
	    "Durations D: 250ms, 5s, 1.5s, 2m, 1h, 1d, and sums as Go writes "
	    "them (1m30s);\n"
	    "a bare number is seconds; 0 means do not wait.  Without "
	    "--timeout, blocking\n"
	    "commands wait as long as it takes.\n"
	    "Job ids ID are the numbers submit prints; groups G are named "
	    "like channels.\n"
	    "\n"
	    "Environment:\n"
	    "  JQ_ADDR    server address when neither -H nor -S is given: "
	    "HOST[:PORT],\n"
	    "             tls:HOST[:PORT], unix:PATH, or a socket path "
	    "containing '/',\n"
	    "             or a list of them separated by commas\n"
	    "             (default: the socket of this user's jqd if it "
	    "exists, else\n"
	    "             " JQC_SYSTEM_SOCKET "; see jq-client(1))\n"
	    "  JQ_TOKEN   the auth token itself, when --token-file is not "
	    "given\n"
	    "  JQ_TOKEN_FILE\n"
	    "             a file holding it, when neither is given (over "
	    "TCP without\n"
	    "             any: ~/.config/jqd/token, if it exists)\n"
	    "  JQ_TLS     1: as --tls\n"
	    "  JQ_TLS_CA, JQ_TLS_CERT, JQ_TLS_KEY\n"
	    "             files when --tls-ca, --tls-cert, --tls-key are not "
	    "given (used\n"
	    "             only when TLS is on)\n"
	    "  JQ_JOB_ID  set inside a job: the default --parent of submit\n"
	    "  JQ_CONSUMER  consumer name when --consumer is not given\n"
	    "  NO_COLOR   set (not empty): no colours, unless --color says "
	    "otherwise\n"
	    "\n"
	    "Ctrl-C (SIGINT), SIGTERM or SIGHUP while send, recv, select or "
	    "wait blocks:\nwhen the server has \"abort\", the request is "
	    "called off and what it returned\nis printed: a value already "
	    "taken is printed, never lost; canceled, the exit\nstatus is "
	    "130 (SIGINT), 143 (SIGTERM) or 129 (SIGHUP).  On submit --wait "
	    "it\ncancels the job (see submit --help); on wait --progress it "
	    "erases the bar\nfirst.\n"
	    "\n"
	    "Live views: jobs, chans, groups and stats --watch[=D] show "
	    "the view again\nevery D (default 2s, at least 100ms; also "
	    "--watch D) until Ctrl-C (exit\n130).  On a terminal it is "
	    "redrawn in place on the alternate screen, cut\nto the window, "
	    "and the screen is put back on the way out; elsewhere each\n"
	    "snapshot is printed whole, a blank line between two.  Not with "
	    "--json.\n"
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
	    "started; 130 (143,\n"
	    "129) Ctrl-C (SIGTERM, SIGHUP) canceled it; 255 jq-client itself "
	    "failed\n"
	    "(usage, connection, error reply; see jq-client submit "
	    "--help).\n", stdout);
}

static void
help_command(const struct cmd *cmd)
{
	static const struct opt help_opt[] = {
		{ "help", 'h', false, NULL, "show this help" },
		{ NULL, 0, false, NULL, NULL },
	};

	printf("usage: jq-client [OPTIONS] %s\n\n", cmd->synopsis);
	print_lines(stdout, cmd->help, 0);
	if (cmd->details != NULL) {
		putchar('\n');
		print_lines(stdout, cmd->details, 0);
	}
	fputs("\nOptions:\n", stdout);
	print_opts(cmd->opts, HELP_OPT_WIDTH);
	print_opts(help_opt, HELP_OPT_WIDTH);
	fputs("  (and the global options of jq-client --help, before or after "
	    "the command)\n", stdout);
	if (cmd->example != NULL) {
		printf("\nExample%s:\n  ", strchr(cmd->example, '\n') != NULL ?
		    "s" : "");
		print_lines(stdout, cmd->example, 2);
	}
}

/* Options as JSON: [{"name", "short", "arg", "help"}]. */
static json_t *
opts_json(const struct opt *opts)
{
	json_t	*a = must(json_array()), *o;
	char	 shortc[2] = "";

	for (; opts->name != NULL; opts++) {
		shortc[0] = (char)opts->shortc;
		o = must(json_pack("{s:s, s:s?, s:s?, s:b, s:s}", "name",
		    opts->name, "short", opts->shortc != 0 ? shortc : NULL,
		    "arg", opts->meta, "takes_value", opts->has_arg, "help",
		    opts->help));
		json_array_append_new(a, o);
	}
	return a;
}

/* Lines of text as a JSON array of strings. */
static json_t *
lines_json(const char *text)
{
	json_t		*a = must(json_array());
	const char	*nl;

	while (text != NULL) {
		nl = strchr(text, '\n');
		json_array_append_new(a, must(json_stringn(text, nl != NULL ?
		    (size_t)(nl - text) : strlen(text))));
		text = nl != NULL ? nl + 1 : NULL;
	}
	return a;
}

static json_t *
cmd_json(const struct cmd *cmd)
{
	return must(json_pack("{s:s, s:s, s:o, s:o, s:o}", "name", cmd->name,
	    "synopsis", cmd->synopsis, "help", lines_json(cmd->help),
	    "options", opts_json(cmd->opts), "examples",
	    cmd->example != NULL ? lines_json(cmd->example) :
	    must(json_array())));
}

void
help_show(struct cli *cli, const struct cmd *cmd)
{
	const struct cmd	*cmds;
	json_t			*list;
	size_t			 i, n;

	if (!cli->json) {
		if (cmd != NULL)
			help_command(cmd);
		else
			help_summary();
		return;
	}
	if (cmd != NULL) {
		cli_doc_set(cli, must(json_pack("{s:b, s:o}", "ok", 1,
		    "command", cmd_json(cmd))));
		return;
	}
	list = must(json_array());
	cmds = cli_cmds(&n);
	for (i = 0; i < n; i++)
		json_array_append_new(list, cmd_json(&cmds[i]));
	cli_doc_set(cli, must(json_pack("{s:b, s:o, s:o}", "ok", 1,
	    "options", opts_json(cli_global_opts()), "commands", list)));
}

int
cmd_help(struct cli *cli, struct args *a)
{
	const struct cmd	*cmd = NULL;

	if (a->npos == 1 && (cmd = cli_cmd_find(a->pos[0])) == NULL) {
		cli->cmd = NULL;	/* the usage line of the whole */
		return unknown_command(cli, a->pos[0]);
	}
	help_show(cli, cmd);
	return EXIT_OK;
}
